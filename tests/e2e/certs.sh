#!/usr/bin/env bash
# Certificate renewal that the running control plane picks up, on the testbed's real v1.20.2
# node (run as root after `testbed setup`, under the e2e lock):
#   - after `kubestrap init`, `check-expiration` reports nothing to renew (exit 0) and shows the
#     kubelet's client certificate with rotation on;
#   - `kubestrap certs renew all --restart` restarts etcd, kube-apiserver, kube-controller-manager
#     and kube-scheduler (each a new container, each healthy again); the API server serves the
#     new apiserver.crt (its serial, read with openssl s_client); kubectl works with the renewed
#     admin.conf; the node stays Ready;
#   - `kubestrap kubeconfig user` writes a kubeconfig that kubectl uses as that user: denied
#     before a RoleBinding, allowed (`kubectl auth can-i`) after it; a RoleBinding for its
#     second `--org` group allows it too.
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
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		$TB exec node1 crictl ps -a >&2 || true
	fi
	say "down"
	$TB stop-kubelet node1 >/dev/null 2>&1 || true
	$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed certs checks: 1 passed, 0 failed" || echo "testbed certs checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

PKI=/etc/kubernetes/pki
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler"
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
served_serial() {
	openssl s_client -connect "$KUBESTRAP_TESTBED_API_ENDPOINT" -CAfile "$PKI/ca.crt" </dev/null 2>/dev/null |
		openssl x509 -noout -serial | cut -d= -f2
}
admin_serial() {
	grep client-certificate-data /etc/kubernetes/admin.conf | awk '{print $2}' | base64 -d | openssl x509 -noout -serial | cut -d= -f2
}
container() { $TB exec node1 crictl ps --name "^$1\$" --state running -q | head -1; }

say "kubestrap init"
cfg=$(config certs)
$TB up
# What an earlier run may have left.
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init.out" 2>&1 || { cat "$WORK/init.out" >&2; fail "kubestrap init"; }
until_ok 180 node_ready || fail "node $node is not Ready after init"
for c in $COMPONENTS; do
	until_ok 60 container "$c" || fail "$c is not running after init"
done

say "check-expiration on a fresh cluster: nothing to renew"
until_ok 60 test -e /var/lib/kubelet/pki/kubelet-client-current.pem || fail "no kubelet client certificate"
"$KS" certs check-expiration --config "$cfg" >"$WORK/check.out" || { cat "$WORK/check.out" >&2; fail "check-expiration exit code on a fresh cluster"; }
cat "$WORK/check.out" >&2
grep -Eq '^apiserver +[A-Z][a-z]{2} [0-9]{2}, [0-9]{4} [0-9:]{5} UTC +36[45]d +ca +no +ok$' "$WORK/check.out" || fail "apiserver row"
grep -Eq '^kubelet-client-current.pem .* on +ok$' "$WORK/check.out" || fail "kubelet client certificate row (rotation on)"
"$KS" certs check-expiration >"$WORK/check-cluster.out" 2>&1 || { cat "$WORK/check-cluster.out" >&2; fail "check-expiration without --config"; }
! grep -q "falling back" "$WORK/check-cluster.out" || { cat "$WORK/check-cluster.out" >&2; fail "check-expiration without --config did not read the cluster's kubeadm-config"; }

say "certs renew all --restart"
old_served=$(served_serial)
[ "$old_served" = "$(serial_of $PKI/apiserver.crt)" ] || fail "the API server does not serve apiserver.crt before the renewal"
old_admin=$(admin_serial)
declare -A before
for c in $COMPONENTS; do before[$c]=$(container "$c"); done
$TB exec node1 "$KS" certs renew all --restart --config "$cfg" >"$WORK/renew.out" 2>&1 || { cat "$WORK/renew.out" >&2; fail "certs renew all --restart"; }
cat "$WORK/renew.out" >&2
[ "$(grep -c ' renewed$' "$WORK/renew.out")" = 10 ] || fail "not every certificate was renewed"
grep -q "serves the renewed certificate" "$WORK/renew.out" || fail "no served-certificate check"
# etcd first, then the others, one at a time.
grep -o 'waiting for the kubelet to stop [a-z-]*' "$WORK/renew.out" | awk '{print $NF}' | tr '\n' ' ' >"$WORK/order"
[ "$(cat "$WORK/order")" = "$COMPONENTS " ] || fail "restart order: $(cat "$WORK/order")"

say "every component restarted and healthy; the API server serves the new certificate"
for c in $COMPONENTS; do
	now=$(container "$c")
	[ -n "$now" ] || fail "$c is not running after the restart"
	[ "$now" != "${before[$c]}" ] || fail "$c was not restarted (same container $now)"
done
curl -sf http://127.0.0.1:2381/health | grep -q '"health":"true"' || fail "etcd health"
[ "$(curl -sk https://127.0.0.1:10257/healthz)" = ok ] || fail "kube-controller-manager healthz"
[ "$(curl -sk https://127.0.0.1:10259/healthz)" = ok ] || fail "kube-scheduler healthz"
new_served=$(served_serial)
[ "$new_served" != "$old_served" ] || fail "the API server still serves serial $old_served"
[ "$new_served" = "$(serial_of $PKI/apiserver.crt)" ] || fail "served serial $new_served is not apiserver.crt's"
openssl verify -CAfile $PKI/ca.crt $PKI/apiserver.crt | grep -q ': OK' || fail "apiserver.crt does not verify against ca.crt"
openssl verify -CAfile $PKI/etcd/ca.crt $PKI/etcd/server.crt | grep -q ': OK' || fail "etcd/server.crt does not verify against etcd/ca.crt"

say "kubectl with the renewed admin.conf; the node stays Ready"
[ "$(admin_serial)" != "$old_admin" ] || fail "admin.conf was not renewed"
k get nodes >/dev/null || fail "kubectl get nodes with the renewed admin.conf"
until_ok 60 node_ready || fail "node $node is not Ready after the restarts"
k -n kube-system get pods -o wide >&2

say "kubeconfig user: denied, then allowed by a RoleBinding"
"$KS" kubeconfig user --client-name e2e-user --org e2e-group --org e2e-ops --config "$cfg" >"$WORK/user.conf" || fail "kubeconfig user"
as_user() { kubectl --kubeconfig "$WORK/user.conf" --cache-dir "$WORK/kubectl-cache-user" "$@"; }
[ "$(as_user config view -o jsonpath='{.clusters[0].cluster.server}')" = "https://$KUBESTRAP_TESTBED_API_ENDPOINT" ] || fail "user kubeconfig server"
[ "$(as_user auth can-i list pods -n default || true)" = no ] || fail "e2e-user may list pods before any RoleBinding"
k -n default create rolebinding e2e-user-view --clusterrole=view --user=e2e-user >/dev/null
can_list() { [ "$(as_user auth can-i list pods -n default)" = yes ]; }
until_ok 30 can_list || fail "kubectl auth can-i as e2e-user after the RoleBinding"
as_user -n default get pods >/dev/null || fail "e2e-user cannot list pods"
[ "$(as_user auth can-i list pods -n kube-system || true)" = no ] || fail "e2e-user may list pods in kube-system"
say "kubeconfig user: the second --org is a group the API server grants by"
k -n kube-system create rolebinding e2e-ops-view --clusterrole=view --group=e2e-ops >/dev/null
can_list_system() { [ "$(as_user auth can-i list pods -n kube-system)" = yes ]; }
until_ok 30 can_list_system || fail "kubectl auth can-i as a member of group e2e-ops (the second --org)"
