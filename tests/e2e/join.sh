#!/usr/bin/env bash
# `kubestrap join` of the testbed's node2 into a cluster that `kubestrap init` made on node1
# (real v1.20.2 kubelets and control plane; run as root after `testbed setup`):
#   - refusals, each with its message and node2 left without a file: wrong CA hash, a deleted
#     token, an expired token, an endpoint where nothing listens, a malformed token and hash, a
#     control-plane join into a cluster without controlPlaneEndpoint;
#   - the command `kubestrap token create --print-join-command` printed: node2's CSR is approved
#     and signed by the real kube-controller-manager, node2 is Ready, kube-proxy runs on it,
#     bootstrap-kubelet.conf is gone; joining again is refused while the node is Ready;
#   - `kubestrap reset -f` on node2 and the same join again; then a join with
#     --discovery-token-unsafe-skip-ca-verification (warns) and one by --discovery-file;
#   - kubeadm v1.20.2 works with the kubestrap-made cluster: `kubeadm token create
#     --print-join-command`, `kubeadm join` of node2, and `kubeadm reset` of node1.
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
EP=$KUBESTRAP_TESTBED_API_ENDPOINT
# The testbed's crictl and kubelet are on the PATH, not in the folders preflight searches.
IGNORE=--ignore-preflight-errors=FileExisting-crictl,KubeletVersion
SOCK=--cri-socket=unix://$KUBESTRAP_TESTBED_CRI_SOCKET

finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		k get csr >&2 || true
		k get pods -A -o wide >&2 || true
	fi
	say "down"
	for n in node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
	done
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed join checks: 1 passed, 0 failed" || echo "testbed join checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

say "kubestrap init on node1"
cfg=$(config init)
$TB up
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; fail "kubestrap init"; }
join=$("$KS" token create --print-join-command)
read -r -a JOIN <<<"$join"
[ "${JOIN[0]} ${JOIN[1]} ${JOIN[2]}" = "kubestrap join $EP" ] || fail "unexpected join command: $join"
JOIN[0]=$KS
token=${JOIN[4]}
hash=${JOIN[6]}
signed() { k -n kube-public get configmap cluster-info -o jsonpath="{.data.jws-kubeconfig-${token%%.*}}" | grep -q .; }
until_ok 60 signed || fail "the controller-manager did not sign cluster-info"

$TB join -- true
node2_files() { $TB exec node2 find /etc/kubernetes /var/lib/kubelet -type f 2>/dev/null | sort; }
# refused NAME EXPECTED CMD...: CMD fails within 30 s saying EXPECTED, and node2 has no files.
refused() {
	local name=$1 want=$2 out rc=0 t0
	shift 2
	t0=$(date +%s)
	out=$(timeout 60 $TB exec node2 "$@" 2>&1) || rc=$?
	[ $rc != 0 ] || fail "$name: the join was not refused: $out"
	[ $rc != 124 ] || fail "$name: no answer within 60 s"
	grep -qF -- "$want" <<<"$out" || fail "$name: expected \"$want\" in: $out"
	[ $(($(date +%s) - t0)) -le 30 ] || fail "$name: took more than 30 s"
	[ -z "$(node2_files)" ] || fail "$name: node2 has files: $(node2_files)"
	echo "refused ($name) in $(($(date +%s) - t0)) s: $(grep -m1 '^error' <<<"$out")" >&2
}

say "refusals, before anything is written"
refused "wrong CA hash" "does not match the pinned public key" \
	"${JOIN[@]:0:6}" sha256:"$(printf '0%.0s' {1..64})" "$IGNORE" "$SOCK"
refused "malformed token" "was not of the form" \
	"$KS" join "$EP" --token abcdef.0123 --discovery-token-ca-cert-hash "$hash" "$IGNORE" "$SOCK"
refused "malformed hash" "expected a 32 byte SHA-256 hash" \
	"$KS" join "$EP" --token "$token" --discovery-token-ca-cert-hash sha256:abcd "$IGNORE" "$SOCK"
refused "nothing listens" "nothing answers at https://${EP%:*}:6999" \
	"$KS" join "${EP%:*}:6999" --token "$token" --discovery-token-ca-cert-hash "$hash" "$IGNORE" "$SOCK"
gone=$("$KS" token create --ttl 1h)
"$KS" token delete "$gone" >/dev/null
refused "deleted token" "token \"${gone%%.*}\" is unknown to the cluster or has expired" \
	"$KS" join "$EP" --token "$gone" --discovery-token-ca-cert-hash "$hash" "$IGNORE" "$SOCK"
short=$("$KS" token create --ttl 1s)
sleep 2
refused "expired token" "token \"${short%%.*}\" is unknown to the cluster or has expired" \
	"$KS" join "$EP" --token "$short" --discovery-token-ca-cert-hash "$hash" "$IGNORE" "$SOCK"

refused "control-plane join without controlPlaneEndpoint" "doesn't have a stable controlPlaneEndpoint address" \
	"${JOIN[@]}" "$IGNORE" "$SOCK" --control-plane --apiserver-advertise-address "$KUBESTRAP_TESTBED_NODE2_IP" \
	--certificate-key "$("$KS" certs certificate-key)"

node1=$(hostname | tr '[:upper:]' '[:lower:]')
refused "name of a Ready node" "a Node with name \"$node1\" and status \"Ready\" already exists" \
	"${JOIN[@]}" "$IGNORE" "$SOCK" --node-name "$node1"

say "kubestrap join of node2 with the printed command"
t0=$(date +%s%N)
$TB exec node2 "${JOIN[@]}" "$IGNORE" "$SOCK" >"$WORK/join.log" 2>&1 || { cat "$WORK/join.log" >&2; fail "kubestrap join"; }
echo "kubestrap join took $((($(date +%s%N) - t0) / 1000000)) ms" >&2
grep -q "This node has joined the cluster" "$WORK/join.log" || fail "no success text: $(cat "$WORK/join.log")"
ready() { k get node "$N2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
until_ok 180 ready || fail "node2 is not Ready"
csr=$(k get csr -o jsonpath="{range .items[?(@.spec.username==\"system:bootstrap:${token%%.*}\")]}{.metadata.name} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}")
grep -Eq '^csr-[a-z0-9]+ Approved [A-Za-z0-9+/=]{100,}' <<<"$csr" || fail "node2's CSR is not approved and signed: $csr"
[ -z "$($TB exec node2 find /etc/kubernetes/bootstrap-kubelet.conf 2>/dev/null)" ] || fail "bootstrap-kubelet.conf left on node2"
$TB exec node2 test -f /etc/kubernetes/pki/ca.crt || fail "no CA on node2"
# node2's kubelet runs from the package's unit plus the drop-in join wrote in node2's own /etc.
DROP_IN=/etc/systemd/system/kubelet.service.d/10-kubestrap.conf
$TB exec node2 test -f "$DROP_IN" || fail "join wrote no $DROP_IN on node2"
k get node "$N2" -o jsonpath='{.metadata.annotations}' | grep -q 'kubeadm.alpha.kubernetes.io/cri-socket' || fail "cri-socket annotation"
proxy_on_node2() { k -n kube-system get pods -l k8s-app=kube-proxy --field-selector "spec.nodeName=$N2" -o jsonpath='{.items[*].status.phase}' | grep -qx Running; }
until_ok 120 proxy_on_node2 || fail "kube-proxy does not run on node2"
out=$($TB exec node2 "${JOIN[@]}" "$IGNORE" "$SOCK" 2>&1 || true)
grep -q "kubelet.conf already exists" <<<"$out" || fail "a second join on a joined node: $out"

# again NAME CMD...: reset node2 (kubestrap), remove its Node, then CMD must join it.
again() {
	local name=$1
	shift
	$TB exec node2 "$KS" reset -f >"$WORK/reset.log" 2>&1 || { cat "$WORK/reset.log" >&2; fail "reset of node2"; }
	[ -z "$(node2_files)" ] || fail "reset left files on node2: $(node2_files)"
	! $TB exec node2 test -e "$DROP_IN" || fail "reset left $DROP_IN on node2"
	k delete node "$N2" >/dev/null
	$TB exec node2 "$@" >"$WORK/$name.log" 2>&1 || { cat "$WORK/$name.log" >&2; fail "$name"; }
	k get node "$N2" >/dev/null || fail "$name: no Node $N2"
}

say "kubestrap reset on node2, then the same join again"
again "the same join" "${JOIN[@]}" "$IGNORE" "$SOCK"
until_ok 180 ready || fail "node2 is not Ready after joining again"

say "join without a CA hash (warns), and by a discovery file"
again "join without a CA hash" "$KS" join "$EP" --token "$token" --discovery-token-unsafe-skip-ca-verification "$IGNORE" "$SOCK"
grep -q "WARNING discovery.*not verified" "$WORK/join without a CA hash.log" || fail "no warning without a CA hash"
k -n kube-public get configmap cluster-info -o jsonpath='{.data.kubeconfig}' >"$WORK/cluster-info.yaml"
again "join by a discovery file" "$KS" join --discovery-file "$WORK/cluster-info.yaml" --tls-bootstrap-token "$token" "$IGNORE" "$SOCK"

say "kubeadm v1.20.2 on the kubestrap-made cluster"
$TB exec node2 "$KS" reset -f >/dev/null 2>&1
k delete node "$N2" >/dev/null
kjoin=$(PATH="$KUBESTRAP_TESTBED_BIN_DIR:$PATH" kubeadm token create --print-join-command --kubeconfig /etc/kubernetes/admin.conf) ||
	fail "kubeadm token create --print-join-command"
$TB kubeadm-package node2
# shellcheck disable=SC2086 # the printed command is split into words on purpose
$TB exec node2 $kjoin --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" --ignore-preflight-errors=ImagePull \
	>"$WORK/kubeadm-join.log" 2>&1 || { cat "$WORK/kubeadm-join.log" >&2; fail "kubeadm join of node2"; }
until_ok 180 ready || fail "node2 joined by kubeadm is not Ready"
$TB stop-kubelet node1
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >"$WORK/kubeadm-reset.log" 2>&1 ||
	{ cat "$WORK/kubeadm-reset.log" >&2; fail "kubeadm reset of node1"; }
! grep -q "ClusterStatus key value pair missing\|unable to" "$WORK/kubeadm-reset.log" ||
	fail "kubeadm reset complained: $(cat "$WORK/kubeadm-reset.log")"
