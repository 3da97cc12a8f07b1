#!/usr/bin/env bash
# The API phases of `kubestrap init` against a real etcd, kube-apiserver and
# kube-controller-manager (v1.20.2, built by `tests/testbed/testbed setup`) on 127.0.0.1, with
# every file made by kubestrap itself under a temporary --root. No kubelet: a Node object stands
# in for the one it would register. Checks the objects, the controller-manager's signature of
# cluster-info, that every API phase run again changes nothing, upload-certs without --config, and
# the token and taint commands.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
KS=${KUBESTRAP:-$PWD/target/debug/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build), or set KUBESTRAP" >&2; exit 1; }
if [ -z "${KUBESTRAP_TESTBED_BIN_DIR:-}" ]; then
	for d in /var/cache/kubestrap-testbed/bin/*/; do KUBESTRAP_TESTBED_BIN_DIR=$d; done
fi
BIN=${KUBESTRAP_TESTBED_BIN_DIR:-}
[ -x "$BIN/kube-apiserver" ] || { echo "no kube-apiserver: run tests/testbed/testbed setup first" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd is missing: apt-get install etcd-server" >&2; exit 1; }

WORK=$(mktemp -d)
R=$WORK/root
PIDS=()
finish() {
	local rc=$?
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ $rc != 0 ]; then tail -n 5 "$WORK"/*.log >&2 || true; fi
	rm -rf "$WORK"
	if [ $rc = 0 ]; then echo "apiserver checks: 1 passed, 0 failed"; else echo "apiserver checks: 0 passed, 1 failed"; fi
	exit $rc
}
trap finish EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

PORT=$(free_port)
TOKEN=abcdef.0123456789abcdef
A=(--root "$R" --node-name node1 --apiserver-advertise-address 127.0.0.1 --apiserver-bind-port "$PORT"
	--kubernetes-version v1.20.2 --pod-network-cidr 10.244.0.0/16 --token "$TOKEN")
"$KS" init phase certs "${A[@]}" >/dev/null 2>&1
"$KS" init phase kubeconfig "${A[@]}" >/dev/null 2>&1
"$KS" init phase kubelet-start "${A[@]}" >/dev/null 2>&1
P=$R/etc/kubernetes/pki
K=(kubectl --kubeconfig "$R/etc/kubernetes/admin.conf" --cache-dir "$WORK/kubectl-cache")

etcd_port=$(free_port)
etcd --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
	--advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$(free_port)" >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
"$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 \
	--advertise-address=127.0.0.1 --secure-port="$PORT" --insecure-port=0 --client-ca-file="$P/ca.crt" \
	--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
	--service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local --authorization-mode=Node,RBAC \
	--enable-bootstrap-token-auth=true --service-cluster-ip-range=10.96.0.0/12 --allow-privileged=true >"$WORK/apiserver.log" 2>&1 &
PIDS+=($!)
healthy() { [ "$(curl -sk -m 1 "https://127.0.0.1:$PORT/healthz")" = ok ]; }
for _ in $(seq 300); do healthy && break; sleep 0.2; done
healthy || fail "kube-apiserver did not become healthy"
"$BIN/kube-controller-manager" --kubeconfig="$R/etc/kubernetes/controller-manager.conf" \
	--authentication-kubeconfig="$R/etc/kubernetes/controller-manager.conf" \
	--authorization-kubeconfig="$R/etc/kubernetes/controller-manager.conf" \
	--controllers='*,bootstrapsigner,tokencleaner' --root-ca-file="$P/ca.crt" \
	--service-account-private-key-file="$P/sa.key" --use-service-account-credentials=true \
	--secure-port="$(free_port)" --port=0 --bind-address=127.0.0.1 --leader-elect=false >"$WORK/kcm.log" 2>&1 &
PIDS+=($!)
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node1\n' | "${K[@]}" apply -f - >/dev/null

echo "== the API phases" >&2
for p in upload-config mark-control-plane bootstrap-token addon show-join-command; do
	# shellcheck disable=SC2086 # a phase path becomes subcommand words
	"$KS" init phase $p "${A[@]}" >/dev/null 2>"$WORK/phase.err" || { cat "$WORK/phase.err" >&2; fail "phase $p"; }
done
"${K[@]}" -n kube-system get configmap kubeadm-config kubelet-config-1.20 kube-proxy coredns >/dev/null || fail "ConfigMaps"
"${K[@]}" -n kube-system get daemonset kube-proxy >/dev/null || fail "kube-proxy DaemonSet"
"${K[@]}" -n kube-system get deployment coredns >/dev/null || fail "CoreDNS Deployment"
"${K[@]}" get node node1 -o jsonpath='{.spec.taints[*].key}' | grep -q node-role.kubernetes.io/master || fail "taint"
# The controller-manager signs cluster-info for the token (joining nodes wait for that too).
signed() { "${K[@]}" -n kube-public get configmap cluster-info -o jsonpath='{.data}' | grep -q "jws-kubeconfig-abcdef"; }
for _ in $(seq 60); do signed && break; sleep 1; done
signed || fail "cluster-info not signed by kube-controller-manager"
curl -sk "https://127.0.0.1:$PORT/api/v1/namespaces/kube-public/configmaps/cluster-info" | grep -q '"kubeconfig"' ||
	fail "cluster-info not readable anonymously"

echo "== each API phase again changes nothing" >&2
# Only what kubestrap writes is compared: the controller-manager changes the rest at any time.
mark_node node1 "${K[@]}"
kubestrap_state node1 "${K[@]}" >"$WORK/before"
for p in "upload-config kubeadm" "upload-config kubelet" mark-control-plane bootstrap-token "addon coredns" "addon kube-proxy" show-join-command; do
	# shellcheck disable=SC2086
	"$KS" init phase $p "${A[@]}" >/dev/null 2>"$WORK/phase.err" || { cat "$WORK/phase.err" >&2; fail "phase $p again"; }
done
kubestrap_state node1 "${K[@]}" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the second run changed objects"
unmark_node node1 "${K[@]}"

echo "== upload-certs without --config: the cluster's kubeadm-config, the user's key" >&2
KEY=$("$KS" certs certificate-key)
"$KS" init phase upload-certs --upload-certs --certificate-key "$KEY" "${A[@]}" >"$WORK/upload.out" 2>&1 ||
	{ cat "$WORK/upload.out" >&2; fail "phase upload-certs"; }
grep -qx "$KEY" "$WORK/upload.out" || { cat "$WORK/upload.out" >&2; fail "upload-certs did not print the key"; }
grep -q "Error reading configuration from the cluster" "$WORK/upload.out" && fail "upload-certs did not read kubeadm-config"
"${K[@]}" -n kube-system get secret kubeadm-certs -o jsonpath='{.metadata.ownerReferences[0].name}' | grep -q '^bootstrap-token-' ||
	fail "kubeadm-certs has no owner token"
"$KS" token create --root "$R" --print-join-command --certificate-key "$KEY" | grep -q -- "--control-plane --certificate-key $KEY\$" ||
	fail "token create --certificate-key"

echo "== token and taint commands" >&2
T=(--root "$R")
new=$("$KS" token create "${T[@]}" --ttl 1h --description e2e)
"$KS" token list "${T[@]}" | grep -q "^$new " || fail "token list"
"$KS" token list "${T[@]}" -o json | python3 -c 'import json,sys; assert any(t["token"]==sys.argv[1] for t in json.load(sys.stdin))' "$new" ||
	fail "token list -o json"
dup=$("$KS" token create "$new" "${T[@]}" 2>&1 || true)
grep -q "already exists" <<<"$dup" || fail "a duplicate token was accepted: $dup"
"$KS" token delete "$new" "${T[@]}" | grep -q deleted || fail "token delete"
"$KS" taint remove "${T[@]}" --node node1 | grep -q untainted || fail "taint remove"
if "${K[@]}" get node node1 -o jsonpath='{.spec.taints[*].key}' | grep -q node-role.kubernetes.io; then fail "taint still there"; fi
"$KS" taint add "${T[@]}" --node node1 | grep -q tainted || fail "taint add"
