#!/usr/bin/env bash
# `kubestrap upgrade` on the testbed's real nodes (run as root after `testbed setup`). The
# testbed's v1.20.3 is the same v1.20.2 source built again with another version stamped into
# the binaries and images: it proves the mechanics of a patch upgrade (files, waits, backups,
# rollback, ConfigMaps), not differences between releases.
#   - kubestrap init v1.20.2 on node1 (without CoreDNS, whose image the testbed lacks) and a
#     kubestrap join of node2; `upgrade plan v1.20.3` shows every component's row;
#   - refused with nothing changed: a version outside kubestrap's range, a version whose images
#     are missing (naming `config images pull`), a control plane with a manifest missing;
#   - KUBESTRAP_TEST_CRASH=break:kube-controller-manager: the controller-manager never comes
#     back, it, the kube-scheduler restarted with it and the kube-apiserver upgraded before them
#     are rolled back, the cluster serves v1.20.2 and the message names the component;
#   - killed with SIGKILL while it waits for kube-controller-manager, `upgrade apply` run again
#     finishes: the control-plane pods run the v1.20.3 images and are ready, the API server says
#     v1.20.3, kubeadm-config and kube-proxy say v1.20.3, the API server's certificate is new,
#     the backups exist, both nodes Ready;
#   - `upgrade node` on node2; both kubelets swapped to the v1.20.3 package and restarted:
#     both nodes Ready and reporting v1.20.3;
#   - `upgrade diff` and `upgrade apply` of v1.20.3 again with a changed apiServer.extraArgs
#     (a reconfiguration): the diff names the flag, the running API server has it; an apply with
#     nothing changed says so;
#   - etcd upgraded (the same image re-tagged, named by etcd.local.imageTag): a snapshot taken
#     through etcd's API that etcdctl reads, then the new manifest, etcd ready.
# Everything it starts is torn down; `testbed down` fails when anything left the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/debug/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build), or set KUBESTRAP" >&2; exit 1; }
WORK=$(mktemp -d)
chmod 755 "$WORK"
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh

N2=$KUBESTRAP_TESTBED_NODE2_NAME
CUR=$KUBESTRAP_TESTBED_KUBERNETES_VERSION
NEXT=$KUBESTRAP_TESTBED_NEXT_VERSION
REPO=$KUBESTRAP_TESTBED_IMAGE_REPOSITORY
# The testbed's crictl and kubelet are on the PATH, not in the folders preflight searches.
IGNORE=--ignore-preflight-errors=FileExisting-crictl,KubeletVersion
SOCK=--cri-socket=unix://$KUBESTRAP_TESTBED_CRI_SOCKET
PKI=/etc/kubernetes/pki
CP=(kube-apiserver kube-controller-manager kube-scheduler)
# What the API server of the :$NEXT image says it is: the version stamped into the testbed's build
# of it (its kubelet and kubeadm say $NEXT; its kube-apiserver may still say the source's version).
SERVED=$("$KUBESTRAP_TESTBED_NEXT_BIN_DIR/kube-apiserver" --version | cut -d' ' -f2)
[ "$SERVED" = "$NEXT" ] || echo "NOTE: the testbed's $NEXT kube-apiserver binary reports $SERVED" >&2
# A "newer" etcd: the testbed's etcd image under another tag.
ETCD_NEXT=3.4.13-1

finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		k get pods -A -o wide >&2 || true
	fi
	say "down"
	for n in node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
	done
	$TB exec node1 ctr -a "$KUBESTRAP_TESTBED_CRI_SOCKET" -n k8s.io images rm "$REPO/etcd:$ETCD_NEXT" >/dev/null 2>&1 || true
	$TB kubelet-package node1 "$CUR" >/dev/null 2>&1 || true
	$TB kubelet-package node2 "$CUR" >/dev/null 2>&1 || true
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed upgrade checks: 1 passed, 0 failed" || echo "testbed upgrade checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

ready_n2() { k get node "$N2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
# The image and readiness of a control-plane component's mirror pod on node1.
pod_image() { k -n kube-system get pod "$1-$node" -o jsonpath='{.spec.containers[0].image}'; }
pod_ready() { k -n kube-system get pod "$1-$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
server_version() { k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'; }
config_version() { k -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | sed -n 's/^kubernetesVersion: //p'; }
proxy_image() { k -n kube-system get ds kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}'; }
# Every control-plane pod of node1 runs VERSION's image and is ready.
control_plane_on() {
	local c
	for c in "${CP[@]}"; do
		[ "$(pod_image "$c")" = "$REPO/$c:$1" ] && pod_ready "$c" || return 1
	done
}
# What an upgrade may change on node1, as digests: a refused one must leave it as it was.
state() {
	sha256sum /etc/kubernetes/manifests/*.yaml $PKI/apiserver.crt /var/lib/kubelet/config.yaml
	config_version
	ls /etc/kubernetes/tmp 2>/dev/null || true
}
# refused NAME EXPECTED ARGS...: `upgrade apply ARGS` fails saying EXPECTED and changes nothing.
refused() {
	local name=$1 want=$2 out before
	shift 2
	before=$(state)
	out=$($TB exec node1 "$KS" upgrade apply "$@" -y 2>&1) && fail "$name: the upgrade was not refused: $out"
	grep -q -- "$want" <<<"$out" || fail "$name: unexpected refusal: $out"
	[ "$(state)" = "$before" ] || fail "$name: the refused upgrade changed node1"
	echo "refused as expected: $name" >&2
}

say "kubestrap init $CUR on node1, kubestrap join of node2"
cfg=$(config init)
$TB up
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
$TB kubelet-package node1 "$CUR"
$TB exec node1 "$KS" init --config "$cfg" --skip-phases=addon/coredns >"$WORK/init.log" 2>&1 ||
	{ cat "$WORK/init.log" >&2; fail "kubestrap init"; }
join=$("$KS" token create --print-join-command)
read -r -a JOIN <<<"$join"
JOIN[0]=$KS
token=${JOIN[4]}
signed() { k -n kube-public get configmap cluster-info -o jsonpath="{.data.jws-kubeconfig-${token%%.*}}" | grep -q .; }
until_ok 60 signed || fail "the controller-manager did not sign cluster-info"
$TB join -- true
$TB kubelet-package node2 "$CUR"
$TB exec node2 "${JOIN[@]}" "$IGNORE" "$SOCK" >"$WORK/join.log" 2>&1 || { cat "$WORK/join.log" >&2; fail "kubestrap join"; }
until_ok 180 node_ready || fail "node1 is not Ready"
until_ok 180 ready_n2 || fail "node2 is not Ready"
until_ok 120 control_plane_on "$CUR" || fail "the control plane of $CUR is not ready"

say "upgrade plan $NEXT"
"$KS" upgrade plan "$NEXT" >"$WORK/plan.txt" 2>"$WORK/plan.log" || { cat "$WORK/plan.log" "$WORK/plan.txt" >&2; fail "upgrade plan"; }
cat "$WORK/plan.txt" >&2
grep -Eq "^kubelet +2 x $CUR +$NEXT$" "$WORK/plan.txt" || fail "plan: no kubelet row"
for c in "${CP[@]}" kube-proxy; do
	grep -Eq "^$c +$CUR +$NEXT$" "$WORK/plan.txt" || fail "plan: no row $c $CUR -> $NEXT"
done
grep -Eq "^CoreDNS +not installed" "$WORK/plan.txt" || fail "plan: no CoreDNS row"
grep -Eq "^etcd +[0-9.]+-[0-9]+ +[0-9.]+-[0-9]+$" "$WORK/plan.txt" || fail "plan: no etcd row"
grep -q "kubestrap upgrade apply $NEXT" "$WORK/plan.txt" || fail "plan: no command"
"$KS" upgrade plan "$NEXT" -o json 2>/dev/null | python3 -c '
import json, sys
p = json.load(sys.stdin)
assert p["current"] == sys.argv[1] and p["target"] == sys.argv[2], p
assert [r["component"] for r in p["components"]] == ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "CoreDNS", "etcd"], p
' "$CUR" "$NEXT" || fail "plan -o json"

say "refused, nothing changed"
refused "two minors ahead" "minor versions above the API server's $CUR" v1.22.0
refused "outside kubestrap's range" "outside the versions kubestrap supports" v1.40.0
refused "a downgrade across minors" "outside the versions kubestrap supports" v1.19.16
refused "images missing" "kubestrap config images pull --kubernetes-version v1.20.99" v1.20.99
mv /etc/kubernetes/manifests/kube-scheduler.yaml "$WORK/"
refused "a manifest missing" "StaticPodManifest" "$NEXT"
mv "$WORK/kube-scheduler.yaml" /etc/kubernetes/manifests/
until_ok 120 pod_ready kube-scheduler || fail "kube-scheduler did not come back"

say "KUBESTRAP_TEST_CRASH=break:kube-controller-manager: rolled back with the kube-apiserver and kube-scheduler"
rc=0
$TB exec node1 env KUBESTRAP_TEST_CRASH=break:kube-controller-manager "$KS" upgrade apply "$NEXT" -y >"$WORK/break.log" 2>&1 || rc=$?
cat "$WORK/break.log" >&2
[ $rc != 0 ] || fail "the broken upgrade succeeded"
grep -q "the upgrade of kube-controller-manager to $NEXT failed; rolled back kube-apiserver, kube-controller-manager, kube-scheduler to the manifests of $CUR" "$WORK/break.log" ||
	fail "the failure does not name the component and the rollback"
grep -q "kube-controller-manager: last lines of its log" "$WORK/break.log" || fail "the failure shows no log lines"
grep -q "kubestrap-test-break" "$WORK/break.log" || fail "the log lines do not show the cause"
until_ok 120 control_plane_on "$CUR" || fail "not rolled back to $CUR: $(for c in "${CP[@]}"; do pod_image "$c"; done)"
[ "$(server_version)" = "$CUR" ] || fail "the API server says $(server_version) after the rollback"
[ "$(config_version)" = "$CUR" ] || fail "kubeadm-config says $(config_version) after the rollback"
[ ! -e /var/lib/kubestrap/upgrade.json ] || fail "the upgrade record was left after the rollback"

say "killed with SIGKILL while waiting for kube-controller-manager, then run again"
serial_before=$(openssl x509 -in $PKI/apiserver.crt -noout -serial)
"$KS" upgrade apply "$NEXT" -y >"$WORK/killed.log" 2>&1 &
pid=$!
waiting_kcm() { grep -q "kube-controller-manager: waiting for the kubelet to replace the pod" "$WORK/killed.log"; }
until_ok 300 waiting_kcm || { cat "$WORK/killed.log" >&2; fail "the upgrade never waited for kube-controller-manager"; }
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
cat "$WORK/killed.log" >&2
[ -s /var/lib/kubestrap/upgrade.json ] || fail "the killed upgrade left no record"
$TB exec node1 "$KS" upgrade apply "$NEXT" -y >"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; fail "upgrade apply after the kill"; }
cat "$WORK/apply.log" >&2
grep -q "Resuming the upgrade from $CUR to $NEXT" "$WORK/apply.log" || fail "the second run did not resume"
grep -q "SUCCESS! Your cluster was upgraded to \"$NEXT\"" "$WORK/apply.log" || fail "no success line"
grep -q "no CoreDNS" "$WORK/apply.log" || fail "the absent CoreDNS was not named"
grep -q "upgrade the kubelet package" "$WORK/apply.log" || fail "no reminder to upgrade the kubelet"
# The kubelet v1.20 may take a while to report a replaced static pod's readiness.
until_ok 180 control_plane_on "$NEXT" || fail "the control plane does not run $NEXT: $(for c in "${CP[@]}"; do pod_image "$c"; done)"
[ "$(server_version)" = "$SERVED" ] || fail "kubectl version says $(server_version), not $SERVED"
[ "$(config_version)" = "$NEXT" ] || fail "kubeadm-config says $(config_version)"
[ "$(proxy_image)" = "$REPO/kube-proxy:$NEXT" ] || fail "kube-proxy runs $(proxy_image)"
[ "$(openssl x509 -in $PKI/apiserver.crt -noout -serial)" != "$serial_before" ] || fail "apiserver.crt was not renewed"
for c in "${CP[@]}"; do
	ls /etc/kubernetes/tmp/kubeadm-backup-manifests-*/"$c.yaml" >/dev/null 2>&1 || fail "no backup of $c"
	grep -q "image: $REPO/$c:$CUR" /etc/kubernetes/tmp/kubeadm-backup-manifests-*/"$c.yaml" || fail "the backup of $c is not the $CUR manifest"
done
[ ! -e /var/lib/kubestrap/upgrade.json ] || fail "the upgrade record was left behind"
until_ok 120 node_ready || fail "node1 is not Ready after the upgrade"
until_ok 120 ready_n2 || fail "node2 is not Ready after the upgrade"

say "a second apply to $NEXT changes nothing"
before=$(state)
$TB exec node1 "$KS" upgrade apply "$NEXT" -y >"$WORK/again.log" 2>&1 || { cat "$WORK/again.log" >&2; fail "upgrade apply again"; }
grep -q "kube-apiserver: the manifest is already what $NEXT needs" "$WORK/again.log" || fail "the same-version apply did not say so: $(cat "$WORK/again.log")"
[ "$(sha256sum /etc/kubernetes/manifests/*.yaml)" = "$(grep ' /etc/kubernetes/manifests/' <<<"$before")" ] ||
	fail "a same-version apply rewrote manifests"

say "upgrade node on node2"
$TB exec node2 "$KS" upgrade node >"$WORK/node.log" 2>&1 || { cat "$WORK/node.log" >&2; fail "upgrade node"; }
cat "$WORK/node.log" >&2
grep -q "upgraded to $NEXT" "$WORK/node.log" || fail "upgrade node: no closing line"

say "the kubelets upgraded with the package and restarted"
for n in node1 node2; do
	$TB kubelet-package $n "$NEXT"
done
for n in node1 node2; do
	[ "$($TB exec $n kubelet --version)" = "Kubernetes $NEXT" ] || fail "$n's kubelet is $($TB exec $n kubelet --version)"
	$TB exec $n systemctl restart kubelet
done
kubelets_next() {
	[ "$(k get nodes -o jsonpath='{.items[*].status.nodeInfo.kubeletVersion}')" = "$NEXT $NEXT" ] &&
		node_ready && ready_n2
}
until_ok 180 kubelets_next || fail "the nodes do not report $NEXT and Ready: $(k get nodes -o wide)"
k get nodes -o wide >&2

say "upgrade diff, then a reconfiguration: $NEXT again with a changed apiServer.extraArgs"
recfg=$(config reconfigure "apiServer:
  extraArgs:
    event-ttl: 2h")
"$KS" upgrade diff "$NEXT" --config "$recfg" >"$WORK/diff.txt" 2>"$WORK/diff.log" || { cat "$WORK/diff.log" >&2; fail "upgrade diff"; }
cat "$WORK/diff.txt" >&2
grep -q '^+    - --event-ttl=2h' "$WORK/diff.txt" || fail "the diff does not add --event-ttl=2h"
grep -q '^--- /etc/kubernetes/manifests/kube-apiserver.yaml' "$WORK/diff.txt" || fail "the diff does not name kube-apiserver.yaml"
! grep -q 'kube-scheduler.yaml\|kube-controller-manager.yaml\|etcd.yaml' "$WORK/diff.txt" || fail "the diff names manifests that do not change"
apiserver_args() { k -n kube-system get pod "kube-apiserver-$node" -o jsonpath='{.spec.containers[0].command}'; }
$TB exec node1 "$KS" upgrade apply "$NEXT" --config "$recfg" -y >"$WORK/reconfigure.log" 2>&1 ||
	{ cat "$WORK/reconfigure.log" >&2; fail "the reconfiguration"; }
cat "$WORK/reconfigure.log" >&2
grep -q "kube-apiserver: the configuration changes its manifest" "$WORK/reconfigure.log" || fail "the reconfiguration did not show its diff"
grep -q "kube-scheduler: the manifest is already what $NEXT needs" "$WORK/reconfigure.log" || fail "the reconfiguration touched kube-scheduler"
apiserver_args | grep -q -- '--event-ttl=2h' || fail "the running kube-apiserver has no --event-ttl=2h: $(apiserver_args)"
until_ok 180 pod_ready kube-apiserver || fail "kube-apiserver is not ready after the reconfiguration"
k -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | grep -q 'event-ttl: 2h' ||
	fail "kubeadm-config does not keep the new extraArgs"
$TB exec node1 "$KS" upgrade apply "$NEXT" -y >"$WORK/noop.log" 2>&1 || { cat "$WORK/noop.log" >&2; fail "the apply after the reconfiguration"; }
grep -q "Nothing to change" "$WORK/noop.log" || fail "an apply with nothing changed did not say so: $(cat "$WORK/noop.log")"
apiserver_args | grep -q -- '--event-ttl=2h' || fail "an apply without --config dropped the reconfiguration"

say "etcd upgraded through a snapshot: the same image re-tagged $ETCD_NEXT, named by etcd.local.imageTag"
etcd_tag=$(pod_image etcd)
etcd_tag=${etcd_tag##*:}
$TB exec node1 ctr -a "$KUBESTRAP_TESTBED_CRI_SOCKET" -n k8s.io images tag --force "$REPO/etcd:$etcd_tag" "$REPO/etcd:$ETCD_NEXT" >/dev/null
etcfg=$(config etcd "apiServer:
  extraArgs:
    event-ttl: 2h
etcd:
  local:
    imageTag: $ETCD_NEXT")
$TB exec node1 "$KS" upgrade apply "$NEXT" --config "$etcfg" -y >"$WORK/etcd.log" 2>&1 || { cat "$WORK/etcd.log" >&2; fail "the etcd upgrade"; }
cat "$WORK/etcd.log" >&2
grep -q "Took a snapshot of etcd's database through its API" "$WORK/etcd.log" || fail "no etcd snapshot was taken"
snap=$(ls /etc/kubernetes/tmp/kubeadm-backup-etcd-*/etcd-snapshot.db | head -1)
ETCDCTL_API=3 etcdctl snapshot status "$snap" >&2 || fail "the etcd snapshot $snap is not one etcdctl reads"
etcd_next() { [ "$(pod_image etcd)" = "$REPO/etcd:$ETCD_NEXT" ] && pod_ready etcd; }
until_ok 180 etcd_next || fail "etcd runs $(pod_image etcd)"
k get nodes >/dev/null || fail "the cluster does not answer after the etcd upgrade"
ls /etc/kubernetes/tmp/kubeadm-backup-manifests-*/etcd.yaml >/dev/null || fail "no backup of etcd's manifest"
