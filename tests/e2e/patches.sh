#!/usr/bin/env bash
# `kubestrap init --patches` on the testbed's real v1.20.2 node (run as root after `testbed setup`):
#   - a JSON patch adds `--event-ttl=2h` to the kube-apiserver and a merge patch annotates the
#     scheduler; the running kube-apiserver's command line (/proc) has the flag, the mirror pod
#     of the scheduler has the annotation;
#   - a patch that does not apply is refused before anything is written;
#   - first, `kubestrap config images list` names the testbed's images, and `config images pull`
#     through the node's containerd finds them present (and names the one that is missing), also
#     with --worker (a joining worker's three images).
# Everything it starts is torn down; `testbed down` fails when anything left the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/debug/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build), or set KUBESTRAP" >&2; exit 1; }
WORK=$(mktemp -d)
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh

finish() {
	local rc=$?
	say "down"
	$TB stop-kubelet node1 >/dev/null 2>&1 || true
	$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed patches checks: 1 passed, 0 failed" || echo "testbed patches checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

TOKEN=$("$KS" token generate)
cfg=$(config init)
$TB up
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true

say "config images list and pull through the testbed's containerd"
$TB exec node1 "$KS" config images list --config "$cfg" >"$WORK/images.txt" || fail "config images list"
[ "$(wc -l <"$WORK/images.txt")" = 7 ] || { cat "$WORK/images.txt" >&2; fail "config images list: expected 7 images"; }
for c in kube-apiserver kube-scheduler etcd; do
	grep -qx "$KUBESTRAP_TESTBED_IMAGE_REPOSITORY/$c:.*" "$WORK/images.txt" || fail "config images list lacks $c"
done
# Every image but CoreDNS's is in containerd (imported by `up`: checked before the kubelet runs,
# whose image garbage collection may remove unused ones on a full disk); CoreDNS's is not (its
# registry is loopback).
rc=0
$TB exec node1 "$KS" config images pull --config "$cfg" >"$WORK/pull.out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$WORK/pull.out" >&2; fail "config images pull: exit $rc, expected 1 (no CoreDNS image here)"; }
while read -r image; do
	case $image in
	*/coredns:*) grep -q "failed to pull $image" "$WORK/pull.out" || { cat "$WORK/pull.out" >&2; fail "pull did not name $image"; } ;;
	*) grep -qF "[config/images] Image $image is present" "$WORK/pull.out" || { cat "$WORK/pull.out" >&2; fail "pull did not find $image"; } ;;
	esac
done <"$WORK/images.txt"
grep -q "failed to pull 1 of 7 images" "$WORK/pull.out" || { cat "$WORK/pull.out" >&2; fail "pull's summary"; }
# A joining worker's share: kube-proxy and pause present, CoreDNS named, nothing of the control plane.
rc=0
$TB exec node1 "$KS" config images pull --worker --config "$cfg" >"$WORK/pull-worker.out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "failed to pull 1 of 3 images" "$WORK/pull-worker.out" &&
	! grep -q "kube-apiserver\|etcd" "$WORK/pull-worker.out" || { cat "$WORK/pull-worker.out" >&2; fail "config images pull --worker"; }

say "a patch that does not apply is refused before anything is written"
mkdir "$WORK/bad"
printf -- '- op: remove\n  path: /spec/nothing\n' >"$WORK/bad/kube-apiserver+json.yaml"
rc=0
$TB exec node1 "$KS" init --config "$cfg" --patches "$WORK/bad" >"$WORK/bad.out" 2>&1 || rc=$?
[ $rc = 3 ] || { cat "$WORK/bad.out" >&2; fail "a bad patch: exit $rc, expected 3"; }
grep -q 'kube-apiserver+json.yaml' "$WORK/bad.out" || { cat "$WORK/bad.out" >&2; fail "the bad patch file is not named"; }
[ -z "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ] || fail "a refused patch left manifests"
[ ! -e /etc/kubernetes/pki/ca.crt ] || fail "a refused patch left certificates"

say "kubestrap init --patches"
mkdir "$WORK/patches"
cat >"$WORK/patches/kube-apiserver+json.yaml" <<'YAML'
- op: add
  path: /spec/containers/0/command/-
  value: --event-ttl=2h
YAML
cat >"$WORK/patches/kube-scheduler+merge.yaml" <<'YAML'
metadata:
  annotations:
    e2e.kubestrap.test/patched: "true"
YAML
$TB exec node1 "$KS" init --config "$cfg" --patches "$WORK/patches" >"$WORK/init.out" 2>&1 ||
	{ tail -30 "$WORK/init.out" >&2; fail "kubestrap init --patches"; }
for line in '[patches] Applied patch of type "application/json-patch+json" to target "kube-apiserver"' \
	'[patches] Applied patch of type "application/merge-patch+json" to target "kube-scheduler"'; do
	grep -qF "$line" "$WORK/init.out" || { cat "$WORK/init.out" >&2; fail "no line: $line"; }
done

say "the running kube-apiserver has the patched flag"
apiserver_args() {
	python3 - <<'PY'
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        continue
    if argv and os.path.basename(argv[0].decode()) == "kube-apiserver":
        print("\n".join(a.decode() for a in argv if a))
PY
}
has_flag() { apiserver_args | grep -qx -- '--event-ttl=2h'; }
until_ok 120 has_flag || { apiserver_args >&2; fail "the kube-apiserver runs without --event-ttl=2h"; }
annotated() { k -n kube-system get pod "kube-scheduler-$node" -o jsonpath='{.metadata.annotations}' | grep -q 'e2e.kubestrap.test/patched'; }
until_ok 120 annotated || fail "the kube-scheduler mirror pod lacks the patched annotation"

