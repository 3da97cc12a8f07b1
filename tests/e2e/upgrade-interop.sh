#!/usr/bin/env bash
# `upgrade` between kubestrap and kubeadm on the testbed's node1 (run as root after `testbed
# setup`), both ways, from v1.20.2 to the testbed's v1.20.3 (the same source re-stamped):
#   - real kubeadm v1.20.3 (the testbed's build) runs `upgrade apply` on a cluster that
#     kubestrap init made: the control plane runs v1.20.3, and kubestrap's `upgrade plan` reads
#     what kubeadm left;
#   - kubestrap runs `upgrade apply` on a cluster that kubeadm v1.20.2 init made.
# Both clusters are made without CoreDNS, whose image the testbed lacks (kubeadm v1.20 would wait
# about 85 minutes for a ready CoreDNS); kubeadm is told to ignore the image pulls and the CoreDNS
# checks that fetch migration data. Everything it starts is torn down.
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

CUR=$KUBESTRAP_TESTBED_KUBERNETES_VERSION
NEXT=$KUBESTRAP_TESTBED_NEXT_VERSION
REPO=$KUBESTRAP_TESTBED_IMAGE_REPOSITORY
KUBEADM_NEXT=$KUBESTRAP_TESTBED_NEXT_BIN_DIR/kubeadm
CP=(kube-apiserver kube-controller-manager kube-scheduler)
# What the API server of the :$NEXT image says it is: the version stamped into the testbed's build
# of it (its kubelet and kubeadm say $NEXT; its kube-apiserver may still say the source's version).
SERVED=$("$KUBESTRAP_TESTBED_NEXT_BIN_DIR/kube-apiserver" --version | cut -d' ' -f2)
[ "$SERVED" = "$NEXT" ] || echo "NOTE: the testbed's $NEXT kube-apiserver binary reports $SERVED" >&2

finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		k get pods -A -o wide >&2 || true
	fi
	say "down"
	$TB stop-kubelet node1 >/dev/null 2>&1 || true
	$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
	$TB kubeadm-package node1 remove >/dev/null 2>&1 || true
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed upgrade interop checks: 1 passed, 0 failed" ||
		echo "testbed upgrade interop checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

pod_image() { k -n kube-system get pod "$1-$node" -o jsonpath='{.spec.containers[0].image}'; }
pod_ready() { k -n kube-system get pod "$1-$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
server_version() { k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'; }
config_version() { k -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | sed -n 's/^kubernetesVersion: //p'; }
proxy_image() { k -n kube-system get ds kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}'; }
control_plane_on() {
	local c
	for c in "${CP[@]}"; do
		[ "$(pod_image "$c")" = "$REPO/$c:$1" ] && pod_ready "$c" || return 1
	done
}
# upgraded WHO: the cluster runs NEXT everywhere an upgrade puts it.
upgraded() {
	until_ok 120 control_plane_on "$NEXT" || fail "$1: the control plane does not run $NEXT: $(for c in "${CP[@]}"; do pod_image "$c"; done)"
	[ "$(server_version)" = "$SERVED" ] || fail "$1: kubectl version says $(server_version), not $SERVED"
	[ "$(config_version)" = "$NEXT" ] || fail "$1: kubeadm-config says $(config_version)"
	[ "$(proxy_image)" = "$REPO/kube-proxy:$NEXT" ] || fail "$1: kube-proxy runs $(proxy_image)"
	until_ok 120 node_ready || fail "$1: node1 is not Ready after the upgrade"
}

say "kubeadm $NEXT upgrades a cluster kubestrap init made"
cfg=$(config init)
$TB up
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
$TB kubelet-package node1 "$CUR"
$TB exec node1 "$KS" init --config "$cfg" --skip-phases=addon/coredns >"$WORK/init.log" 2>&1 ||
	{ cat "$WORK/init.log" >&2; fail "kubestrap init"; }
until_ok 180 node_ready || fail "node1 is not Ready"
until_ok 120 control_plane_on "$CUR" || fail "the control plane of $CUR is not ready"
# The testbed's build of kubeadm may say the source's version, below the target: kubeadm then
# refuses the target unless forced (that check alone).
FORCE=()
[ "$("$KUBEADM_NEXT" version -o short)" = "$NEXT" ] || FORCE=(--force)
$TB exec node1 "$KUBEADM_NEXT" upgrade apply "$NEXT" -y "${FORCE[@]}" \
	--ignore-preflight-errors=ImagePull,CoreDNSUnsupportedPlugins,CoreDNSMigration >"$WORK/kubeadm-upgrade.log" 2>&1 ||
	{ cat "$WORK/kubeadm-upgrade.log" >&2; fail "kubeadm upgrade apply"; }
grep -q "SUCCESS! Your cluster was upgraded to \"$NEXT\"" "$WORK/kubeadm-upgrade.log" ||
	fail "kubeadm did not say it upgraded: $(tail -20 "$WORK/kubeadm-upgrade.log")"
upgraded "kubeadm after kubestrap"
"$KS" upgrade plan "$NEXT" >"$WORK/plan.txt" 2>&1 || { cat "$WORK/plan.txt" >&2; fail "upgrade plan after kubeadm's upgrade"; }
grep -Eq "^kube-apiserver +$NEXT +$NEXT$" "$WORK/plan.txt" || fail "kubestrap's plan after kubeadm's upgrade: $(cat "$WORK/plan.txt")"
$TB exec node1 "$KS" reset -f >"$WORK/reset.log" 2>&1 || { cat "$WORK/reset.log" >&2; fail "kubestrap reset"; }

say "kubestrap upgrades a cluster kubeadm $CUR init made"
sed -e "s|@ADVERTISE_IP@|$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS|" -e "s|@CRI_SOCKET@|$KUBESTRAP_TESTBED_CRI_SOCKET|" \
	-e "s|@K8S_VERSION@|$CUR|" -e "s|@REGISTRY@|$REPO|" -e "s|@POD_SUBNET@|$KUBESTRAP_TESTBED_POD_SUBNET|" \
	-e "s|@SERVICE_SUBNET@|$KUBESTRAP_TESTBED_SERVICE_SUBNET|" -e "s|@CGROUP_DRIVER@|$KUBESTRAP_TESTBED_CGROUP_DRIVER|" \
	tests/testbed/kubeadm-init.yaml.in >"$WORK/kubeadm-init.yaml"
$TB kubeadm-package node1
$TB exec node1 kubeadm init --config "$WORK/kubeadm-init.yaml" --skip-phases=addon/coredns \
	--ignore-preflight-errors=ImagePull >"$WORK/kubeadm-init.log" 2>&1 || { cat "$WORK/kubeadm-init.log" >&2; fail "kubeadm init"; }
until_ok 180 node_ready || fail "node1 (kubeadm init) is not Ready"
until_ok 120 control_plane_on "$CUR" || fail "the control plane kubeadm made is not ready"
$TB exec node1 "$KS" upgrade apply "$NEXT" -y >"$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log" >&2; fail "kubestrap upgrade apply"; }
cat "$WORK/upgrade.log" >&2
grep -q "SUCCESS! Your cluster was upgraded to \"$NEXT\"" "$WORK/upgrade.log" || fail "no success line"
upgraded "kubestrap after kubeadm"
