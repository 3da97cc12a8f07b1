#!/usr/bin/env bash
# A second control-plane node on the testbed's real v1.20.2 nodes (run as root after `testbed setup`):
#   - `kubestrap init --control-plane-endpoint --upload-certs` on node1; on node2, a control-plane
#     join without the certificate key, with a wrong one, or with the kubeadm-certs Secret deleted
#     is refused before anything is written; re-uploaded with `init phase upload-certs`, the
#     control-plane join command init printed (its --certificate-key) joins node2;
#   - etcd has two started voting members; both nodes are Ready with the control-plane label and
#     taint; node2's API endpoint is in kubeadm-config's ClusterStatus (v1.20); node2's API server answers kubectl with node2's admin.conf; with node1's kubelet and
#     kube-apiserver stopped, a write through node2's API server succeeds;
#   - `kubestrap reset -f` on node2 removes its etcd member and its ClusterStatus entry, node1 stays healthy and serving;
#   - a join made to fail after its etcd member was added removes that member again, and the
#     reset after it empties etcd's folder though the etcd manifest is gone;
#   - node2 joins again.
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
N2_IP=$KUBESTRAP_TESTBED_NODE2_IP
EP=$KUBESTRAP_TESTBED_API_ENDPOINT
# node2 has no default route: its address is given. The testbed's crictl and kubelet are on the
# PATH, not in the folders preflight searches; the CoreDNS image does not exist here.
NODE2=(--apiserver-advertise-address "$N2_IP" --cri-socket "unix://$KUBESTRAP_TESTBED_CRI_SOCKET"
	--ignore-preflight-errors=FileExisting-crictl,KubeletVersion,ImagePull)
PKI=/etc/kubernetes/pki

finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		k get pods -A -o wide >&2 || true
		members >&2 || true
	fi
	say "down"
	for n in node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
	done
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed control-plane join checks: 1 passed, 0 failed" ||
		echo "testbed control-plane join checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

# etcd's members as node1's etcd sees them: "name started|unstarted learner?" per line, sorted.
members() {
	ETCDCTL_API=3 etcdctl --endpoints "https://$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS:2379" --cacert $PKI/etcd/ca.crt \
		--cert $PKI/etcd/healthcheck-client.crt --key $PKI/etcd/healthcheck-client.key \
		--command-timeout 10s member list | awk -F', ' '{print $3, $2, $6}' | sort
}
node1_etcd_healthy() {
	ETCDCTL_API=3 etcdctl --endpoints "https://$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS:2379" --cacert $PKI/etcd/ca.crt \
		--cert $PKI/etcd/healthcheck-client.crt --key $PKI/etcd/healthcheck-client.key endpoint health 2>&1
}
ready_n2() { k get node "$N2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
# kubectl through node2's API server with node2's admin.conf.
k2() { kubectl --kubeconfig "$WORK/admin2.conf" --server "https://$N2_IP:6443" --cache-dir "$WORK/kubectl-cache2" "$@"; }
node2_files() { $TB exec node2 find /etc/kubernetes /var/lib/kubelet /var/lib/etcd -type f 2>/dev/null | sort; }
# node2 leaves: reset, and its Node goes.
reset_node2() {
	$TB exec node2 "$KS" reset -f >"$WORK/reset.log" 2>&1 || { cat "$WORK/reset.log" >&2; fail "reset of node2"; }
	k delete node "$N2" --ignore-not-found >/dev/null
}

say "kubestrap init --control-plane-endpoint --upload-certs on node1"
cfg=$(config init "controlPlaneEndpoint: $EP")
$TB up
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
$TB exec node1 "$KS" init --config "$cfg" --upload-certs -o json >"$WORK/init.json" 2>"$WORK/init.log" ||
	{ cat "$WORK/init.log" >&2; fail "kubestrap init"; }
join=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["controlPlaneJoinCommands"][0])' "$WORK/init.json")
read -r -a JOIN <<<"$join"
[ "${JOIN[0]} ${JOIN[1]} ${JOIN[2]}" = "kubestrap join $EP" ] && [[ "$join" == *"--control-plane --certificate-key "* ]] ||
	fail "unexpected control-plane join command: $join"
JOIN[0]=$KS
token=${JOIN[4]}
signed() { k -n kube-public get configmap cluster-info -o jsonpath="{.data.jws-kubeconfig-${token%%.*}}" | grep -q .; }
until_ok 60 signed || fail "the controller-manager did not sign cluster-info"

$TB join -- true
say "without the certificate key nor the shared certificates: refused, nothing written"
no_key=("${JOIN[@]}")
no_key=("${no_key[@]:0:${#no_key[@]}-2}")
out=$($TB exec node2 "${no_key[@]}" "${NODE2[@]}" 2>&1) && fail "a control-plane join without the shared certificates: $out"
grep -q "certificates shared among control-plane nodes are missing" <<<"$out" || fail "unexpected refusal: $out"
[ -z "$(node2_files)" ] || fail "the refused join wrote: $(node2_files)"

say "a wrong certificate key: refused, nothing written"
key=${JOIN[${#JOIN[@]}-1]}
wrong_key=("${JOIN[@]}")
wrong_key[${#wrong_key[@]}-1]=$("$KS" certs certificate-key)
out=$($TB exec node2 "${wrong_key[@]}" "${NODE2[@]}" 2>&1) && fail "a control-plane join with a wrong key: $out"
grep -q "error decoding secret data with provided key" <<<"$out" || fail "unexpected refusal: $out"
[ -z "$(node2_files)" ] || fail "the join with a wrong key wrote: $(node2_files)"

say "kubeadm-certs deleted (as when it expires): refused, nothing written; re-uploaded, it opens again"
k -n kube-system delete secret kubeadm-certs >/dev/null
out=$($TB exec node2 "${JOIN[@]}" "${NODE2[@]}" 2>&1) && fail "a control-plane join without kubeadm-certs: $out"
grep -q 'Secret "kubeadm-certs" was not found' <<<"$out" && grep -q "init phase upload-certs --upload-certs" <<<"$out" ||
	fail "unexpected refusal: $out"
[ -z "$(node2_files)" ] || fail "the join without kubeadm-certs wrote: $(node2_files)"
$TB exec node1 "$KS" init phase upload-certs --upload-certs --certificate-key "$key" >"$WORK/reupload.log" 2>&1 ||
	{ cat "$WORK/reupload.log" >&2; fail "init phase upload-certs"; }

say "kubestrap join --control-plane of node2 with the printed command"
t0=$(date +%s%N)
$TB exec node2 "${JOIN[@]}" "${NODE2[@]}" >"$WORK/join.log" 2>&1 || { cat "$WORK/join.log" >&2; fail "control-plane join"; }
echo "kubestrap join --control-plane took $((($(date +%s%N) - t0) / 1000000)) ms" >&2
grep -q "a new control plane instance was created" "$WORK/join.log" || fail "no success text: $(cat "$WORK/join.log")"
want="$N2 started false
$node started false"
[ "$(members)" = "$(sort <<<"$want")" ] || fail "etcd members: $(members)"
until_ok 180 ready_n2 || fail "node2 is not Ready"
until_ok 60 node_ready || fail "node1 is not Ready"
for n in "$node" "$N2"; do
	k get node "$n" -o jsonpath='{.metadata.labels}' | grep -q 'node-role.kubernetes.io/control-plane' ||
		fail "$n has no control-plane label"
	k get node "$n" -o jsonpath='{.spec.taints[*].key}' | grep -q 'node-role.kubernetes.io/' ||
		fail "$n has no control-plane taint"
done
# v1.20 keeps every control-plane node's API endpoint in kubeadm-config's ClusterStatus.
k -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterStatus}' | grep -q "advertiseAddress: $N2_IP" ||
	fail "node2 is not in the ClusterStatus of kubeadm-config"
$TB exec node2 cat /etc/kubernetes/admin.conf >"$WORK/admin2.conf"
until_ok 60 k2 get --raw /readyz || fail "node2's API server is not ready"
k2 get nodes >/dev/null || fail "kubectl with node2's admin.conf against node2's API server"

say "node1's kube-apiserver stopped: node2's serves writes"
$TB stop-kubelet node1
api=$($TB exec node1 crictl -r "unix://$KUBESTRAP_TESTBED_CRI_SOCKET" ps -q --name kube-apiserver)
[ -n "$api" ] || fail "no kube-apiserver container on node1"
# shellcheck disable=SC2086 # one argument per container
$TB exec node1 crictl -r "unix://$KUBESTRAP_TESTBED_CRI_SOCKET" stop $api >/dev/null
! k get --raw /readyz >/dev/null 2>&1 || fail "node1's API server still answers"
k2 -n default create configmap e2e-cp-join --from-literal=written-by=node2 >/dev/null ||
	fail "a write through node2's API server with node1's stopped"
$TB exec node1 systemctl start kubelet
until_ok 120 k get --raw /readyz || fail "node1's API server did not come back"
[ "$(k -n default get configmap e2e-cp-join -o jsonpath='{.data.written-by}')" = node2 ] ||
	fail "node1 does not see node2's write"

say "kubestrap reset -f on node2 removes its etcd member; node1 stays healthy"
reset_node2
grep -q "Removed this node's member" "$WORK/reset.log" || fail "reset did not remove the member: $(cat "$WORK/reset.log")"
[ "$(members)" = "$node started false" ] || fail "etcd members after the reset: $(members)"
node1_etcd_healthy >/dev/null || fail "node1's etcd is not healthy"
k -n default delete configmap e2e-cp-join >/dev/null || fail "node1 does not serve writes alone"
! k -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterStatus}' | grep -q "advertiseAddress: $N2_IP" ||
	fail "node2 is still in the ClusterStatus of kubeadm-config after its reset"

say "a join made to fail after its etcd member was added removes the member again"
out=$($TB exec node2 env KUBESTRAP_TEST_CRASH=fail:control-plane-join/etcd "${JOIN[@]}" "${NODE2[@]}" 2>&1) &&
	fail "the join did not fail: $out"
grep -q "removing it again" <<<"$out" || fail "no removal after the failure: $out"
[ "$(members)" = "$node started false" ] || fail "etcd members after the failed join: $(members)"
node1_etcd_healthy >/dev/null || fail "node1's etcd is not healthy after the failed join"
# The kubelet may restart etcd into the folder the undo emptied before it drops the pod, whose
# manifest is gone: what etcd writes then is the reset's to remove (the join below checks it).
$TB exec node2 sh -c 'mkdir -p /var/lib/etcd/member/wal && echo restarted >/var/lib/etcd/member/wal/e2e.wal'
reset_node2

say "node2 joins again"
$TB exec node2 "${JOIN[@]}" "${NODE2[@]}" >"$WORK/join2.log" 2>&1 || { cat "$WORK/join2.log" >&2; fail "the second control-plane join"; }
[ "$(members)" = "$(sort <<<"$want")" ] || fail "etcd members after joining again: $(members)"
until_ok 180 ready_n2 || fail "node2 is not Ready after joining again"
