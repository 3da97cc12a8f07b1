#!/usr/bin/env bash
# An init killed at a phase boundary resumes, and reset leaves a clean host, on the testbed's
# real v1.20.2 node (run as root after `testbed setup`):
#   - for each boundary (after certs, kubeconfig, etcd, control-plane, kubelet-start,
#     wait-control-plane, upload-config, bootstrap-token; with RESUME_ALL_PHASES=1 every other
#     phase too, and half-way through writing ca.crt and kube-apiserver.yaml): init is killed
#     there (KUBESTRAP_TEST_CRASH, as kill -9), init again with the same config says "resuming
#     after", the node gets Ready, and `reset -f --verify` finds nothing left; the next boundary
#     starts with a fresh init on that host;
#   - after an interruption, init with another podSubnet is refused naming the field;
#   - `reset --cleanup-network` removes a CNI bridge and the KUBE-* chains and keeps a chain
#     and rule of the test's own; `preflight --fix` then `reset --undo-fixes` gives back
#     byte-identical files and the kernel setting;
#   - the quick start twice: init through `testbed up`, `testbed down` (which keeps
#     /etc/kubernetes when it was there before), init through `testbed up` again: Ready, resumed;
#   - each boundary's first init runs on the host the previous `reset -f --verify` left: init,
#     reset, init ... eight times in a row, each init a fresh one.
# Everything it starts is torn down; `testbed down` fails when anything left the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
START=$(date +%s)
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/debug/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build), or set KUBESTRAP" >&2; exit 1; }
WORK=$(mktemp -d)
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh

made_etc_kubernetes= made_state_dir=
[ -d /etc/kubernetes ] || made_etc_kubernetes=1
[ -d /var/lib/kubestrap ] || made_state_dir=1
finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		k get pods -A -o wide >&2 || true
	fi
	say "down"
	iptables -w -t nat -D PREROUTING -j E2E-KEEP 2>/dev/null || true
	iptables -w -t nat -F E2E-KEEP 2>/dev/null || true
	iptables -w -t nat -X E2E-KEEP 2>/dev/null || true
	ip link delete cni0 2>/dev/null || true
	$TB exec node1 "$KS" reset -f --undo-fixes >/dev/null 2>&1 || true
	$TB down || rc=1
	[ -z "$made_etc_kubernetes" ] || rm -rf --one-file-system /etc/kubernetes
	[ -z "$made_state_dir" ] || rm -rf --one-file-system /var/lib/kubestrap
	rm -rf "$WORK"
	echo "resume.sh took $(($(date +%s) - START)) s" >&2
	[ $rc = 0 ] && echo "testbed resume checks: 1 passed, 0 failed" || echo "testbed resume checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

init() { $TB exec node1 "$KS" init --config "$@"; }

# reset_clean [FLAGS]: reset --force --verify must succeed and find nothing left.
reset_clean() {
	$TB exec node1 "$KS" reset -f --verify "$@" >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "reset --verify found leftovers"; }
	grep -q "nothing is left" "$WORK/reset.out" || { cat "$WORK/reset.out" >&2; fail "reset --verify did not say the host is clean"; }
}

# killed_at CRASH: init dies there (exit 137, as kill -9).
killed_at() {
	local rc=0
	KUBESTRAP_TEST_CRASH=$1 init "$cfg" >"$WORK/killed.out" 2>&1 || rc=$?
	[ "$rc" = 137 ] || { cat "$WORK/killed.out" >&2; fail "init with KUBESTRAP_TEST_CRASH=$1 exited $rc, not 137"; }
	# After `reset -f --verify`, init starts afresh: nothing of the earlier cluster is taken up.
	! grep -q "resuming\|FileAvailable\|Port-\|DirAvailable" "$WORK/killed.out" || { cat "$WORK/killed.out" >&2; fail "init after a reset was not a fresh one"; }
}

# resumes AFTER: init with the same config resumes after that phase and the node gets Ready.
resumes() {
	init "$cfg" >"$WORK/resumed.out" 2>&1 || { cat "$WORK/resumed.out" >&2; fail "init after the kill failed"; }
	grep -q "resuming after \`$1" "$WORK/resumed.out" || { cat "$WORK/resumed.out" >&2; fail "init did not resume after $1"; }
	! grep -q "FileAvailable\|Port-\|DirAvailable" "$WORK/resumed.out" || { cat "$WORK/resumed.out" >&2; fail "its own files or ports were reported"; }
	until_ok 120 node_ready || fail "node not Ready after resuming after $1"
}

cfg=$(config init)
$TB up
$TB exec node1 "$KS" reset -f >/dev/null 2>&1 || true

# crash value, then the phase the output names as where the earlier run stopped.
boundaries=(
	"after:certs certs/sa"
	"after:kubeconfig kubeconfig/scheduler"
	"after:etcd etcd/local"
	"after:control-plane control-plane/scheduler"
	"after:kubelet-start kubelet-start"
	"after:wait-control-plane wait-control-plane"
	"after:upload-config upload-config/kubelet"
	"after:bootstrap-token bootstrap-token"
)
if [ -n "${RESUME_ALL_PHASES:-}" ]; then
	boundaries+=(
		"after:preflight preflight"
		"after:mark-control-plane mark-control-plane"
		"after:kubelet-finalize kubelet-finalize/experimental-cert-rotation"
		"after:addon addon/kube-proxy"
		"writing:/etc/kubernetes/pki/ca.crt preflight"
		"writing:/etc/kubernetes/manifests/kube-apiserver.yaml kubelet-start"
	)
fi
last=${boundaries[${#boundaries[@]} - 1]}
for b in "${boundaries[@]}"; do
	read -r crash after <<<"$b"
	say "killed at $crash, resumed, Ready, reset --verify clean"
	t0=$(date +%s%N)
	killed_at "$crash"
	if [ "$crash" = after:kubeconfig ]; then
		say "after an interruption, another podSubnet is refused naming the field"
		other=$(KUBESTRAP_TESTBED_POD_SUBNET=10.245.0.0/16 config other)
		rc=0
		init "$other" >"$WORK/other.out" 2>&1 || rc=$?
		[ "$rc" = 3 ] || { cat "$WORK/other.out" >&2; fail "init with another podSubnet exited $rc, not 3"; }
		grep -q "networking.podSubnet" "$WORK/other.out" || { cat "$WORK/other.out" >&2; fail "the field is not named"; }
		grep -q "kubestrap reset" "$WORK/other.out" || fail "kubestrap reset is not named"
	fi
	resumes "$after"
	# The last cluster is reset below, with --cleanup-network.
	[ "$b" = "$last" ] || reset_clean
	printf '%s: %d ms\n' "$crash" $((($(date +%s%N) - t0) / 1000000)) >&2
done

say "reset --cleanup-network removes the bridge and KUBE-* chains, keeps the test's own rule"
kube_chains() { iptables-save | grep -c '^:KUBE-' || true; }
until_ok 60 test "$(kube_chains)" -gt 0 || fail "kube-proxy made no KUBE-* chains"
ip link add cni0 type bridge
iptables -w -t nat -N E2E-KEEP
iptables -w -t nat -A E2E-KEEP -d 10.20.0.1/32 -j RETURN
iptables -w -t nat -A PREROUTING -j E2E-KEEP
mkdir -p "$WORK/cni" && cp -a /etc/cni/net.d/. "$WORK/cni/"
reset_clean --cleanup-network
! ip link show cni0 >/dev/null 2>&1 || fail "cni0 is still there"
[ "$(kube_chains)" = 0 ] || { iptables-save | grep KUBE- >&2; fail "KUBE-* chains are left"; }
iptables-save -t nat | grep -q -- '-A PREROUTING -j E2E-KEEP' || fail "the test's own jump was removed"
iptables-save -t nat | grep -q -- '-A E2E-KEEP -d 10.20.0.1/32 -j RETURN' || fail "the test's own rule was removed"
[ -z "$(ls -A /etc/cni/net.d)" ] || fail "CNI configuration left: $(ls -A /etc/cni/net.d)"
iptables -w -t nat -D PREROUTING -j E2E-KEEP && iptables -w -t nat -F E2E-KEEP && iptables -w -t nat -X E2E-KEEP
cp -a "$WORK/cni/." /etc/cni/net.d/ # the testbed's pod network, for the checks below

say "preflight --fix, then reset --undo-fixes gives back byte-identical files"
snapshot() {
	{
		sysctl -n net.ipv4.ip_forward
		find /etc/sysctl.d /etc/modules-load.d /etc/containerd -type f -exec sha256sum {} + 2>/dev/null | sort
		ls /var/lib/kubestrap 2>/dev/null || true
	} >"$1"
}
# This VM's kernel has no loadable modules: a stand-in modprobe that only records its calls
# lets the plan (br_netfilter first, where the kernel lacks it) go on to the sysctl and
# containerd's config.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\necho "$*" >>"%s/modprobe.calls"\n' "$WORK" >"$WORK/bin/modprobe"
chmod +x "$WORK/bin/modprobe"
# shellcheck disable=SC2016 # expanded by the node's shell
with_modprobe() { $TB exec node1 sh -c 'PATH="$0:$PATH" exec "$@"' "$WORK/bin" "$@"; }
sysctl -qw net.ipv4.ip_forward=0
snapshot "$WORK/before-fix"
with_modprobe "$KS" preflight --config "$cfg" --fix --yes >"$WORK/fix.out" 2>&1 || { cat "$WORK/fix.out" >&2; fail "preflight --fix"; }
[ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] || { cat "$WORK/fix.out" >&2; fail "--fix did not set ip_forward"; }
[ -s /var/lib/kubestrap/fixes.json ] || fail "--fix journaled nothing"
with_modprobe "$KS" reset -f --undo-fixes >"$WORK/undo.out" 2>&1 || { cat "$WORK/undo.out" >&2; fail "reset --undo-fixes"; }
# A kernel with br_netfilter built in (its sysctls present) has nothing to load or unload.
if grep -q "kernel module br_netfilter" "$WORK/fix.out"; then
	grep -qx "br_netfilter" "$WORK/modprobe.calls" || fail "--fix did not load br_netfilter"
	grep -qx -- "-r br_netfilter" "$WORK/modprobe.calls" || fail "--undo-fixes did not unload the module --fix loaded"
else
	$TB exec node1 test -e /proc/sys/net/bridge/bridge-nf-call-iptables || fail "--fix planned nothing for a missing br_netfilter"
	! grep -q br_netfilter "$WORK/modprobe.calls" 2>/dev/null || fail "modprobe ran for a br_netfilter the kernel has"
fi
[ ! -e /var/lib/kubestrap/fixes.json ] || fail "the journal is left after --undo-fixes"
snapshot "$WORK/after-undo"
diff "$WORK/before-fix" "$WORK/after-undo" >&2 || fail "reset --undo-fixes did not give back the files and settings"
sysctl -qw net.ipv4.ip_forward=1

say "the quick start twice: init, testbed down, init again resumes to a Ready node"
# As on a host where /etc/kubernetes was there, not empty, before the first `up`: `down` keeps
# the files init writes there (it removes the folders it created and empties those it found empty).
$TB down >/dev/null
mkdir -p /etc/kubernetes
touch /etc/kubernetes/.e2e-was-here
$TB up -- "$KS" init --config "$(config up)" >"$WORK/up1.out" 2>&1 || { cat "$WORK/up1.out" >&2; fail "first quick-start init"; }
until_ok 120 node_ready || fail "node not Ready after the first quick-start init"
$TB down >/dev/null
$TB up -- "$KS" init --config "$(config up)" >"$WORK/up2.out" 2>&1 || { cat "$WORK/up2.out" >&2; fail "second quick-start init"; }
grep -q "resuming after" "$WORK/up2.out" || { cat "$WORK/up2.out" >&2; fail "the second quick start did not resume"; }
until_ok 120 node_ready || fail "node not Ready after the second quick-start init"
reset_clean
