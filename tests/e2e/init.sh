#!/usr/bin/env bash
# `kubestrap init` on the testbed's real v1.20.2 node (run as root after `testbed setup`),
# checked with kubectl, crictl, curl and openssl:
#   - the control plane comes up under the real kubelet; the node is Ready, labelled and tainted;
#     `kubestrap taint remove` removes the taint;
#   - the token Secret and RBAC; cluster-info readable anonymously, its jws-kubeconfig-<id>
#     signature appears and verifies with the token secret; token create/list/delete; -o json;
#   - the kube-proxy pod runs; the CoreDNS objects exist (its image does not exist here);
#   - --upload-certs with controlPlaneEndpoint: the kubeadm-certs Secret owned by a 2-hour token,
#     the control-plane join command with the key, `init phase upload-certs` replacing it,
#     `token create --certificate-key` checking the key, the garbage collector removing the
#     Secret with its token;
#   - each API phase run alone again changes nothing;
#   - `kubestrap reset` stops the kubelet, removes the pods and empties what init wrote, so that
#     init runs again;
#   - a crash-looping kube-controller-manager makes wait-control-plane fail naming it, with its log;
#   - the kubelet runs from the package's unit plus the drop-in kubelet-start wrote (reset removes
#     it); beside kubeadm's drop-in kubestrap writes none; without any unit it writes one.
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
		k get pods -A -o wide >&2 || true
		echo "----- the kubelet's log (errors) -----" >&2
		grep -E '^[EW][0-9]{4}|supervisor' "${KUBESTRAP_TESTBED_CACHE:-/var/cache/kubestrap-testbed}/logs/node1-kubelet-supervisor.log" | tail -n 40 >&2 || true
	fi
	say "down"
	$TB stop-kubelet node1 >/dev/null 2>&1 || true
	$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed init checks: 1 passed, 0 failed" || echo "testbed init checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

say "kubestrap init"
TOKEN=$("$KS" token generate)
cfg=$(config init "controlPlaneEndpoint: $KUBESTRAP_TESTBED_API_ENDPOINT")
$TB up
# What an earlier run may have left.
$TB stop-kubelet node1 >/dev/null 2>&1 || true
$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1 || true
$TB exec node1 "$KS" init --config "$cfg" --upload-certs -o json >"$WORK/init.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["tokens"] and d["caCertHashes"] and d["joinEndpoint"] and d["phases"], d' "$WORK/init.json" ||
	fail "init -o json"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"][0])' "$WORK/init.json")
id=${token%%.*}
secret=${token#*.}

say "node Ready, control plane containers running (CRI)"
until_ok 180 node_ready || fail "node $node is not Ready"
running() { [ -n "$($TB exec node1 crictl ps --name "^$1\$" --state running -q)" ]; }
for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
	until_ok 60 running "$c" || { $TB exec node1 crictl ps -a >&2; fail "$c is not running"; }
done

say "the kubelet runs from the package's unit and kubestrap's drop-in"
DROP_IN=/etc/systemd/system/kubelet.service.d/10-kubestrap.conf
[ -f "$DROP_IN" ] || fail "init wrote no $DROP_IN"
$TB exec node1 systemctl is-enabled kubelet >/dev/null || fail "kubelet.service is not enabled"
# The running kubelet's command line is the unit's ExecStart with the drop-in's and the env files' flags.
kubelet_cmdline() { tr '\0' ' ' <"/proc/$(pgrep -xo kubelet)/cmdline"; }
for arg in /usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf \
	--container-runtime=remote "--node-ip=$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS"; do
	kubelet_cmdline | grep -q -- "$arg" || fail "the kubelet runs without $arg: $(kubelet_cmdline)"
done
out=$(systemd-analyze verify kubelet.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

say "labels and taint (v1.20: master and control-plane labels, master taint)"
k get node "$node" -o jsonpath='{.metadata.labels}' | grep -q '"node-role.kubernetes.io/master":""' || fail "master label"
k get node "$node" -o jsonpath='{.metadata.labels}' | grep -q '"node-role.kubernetes.io/control-plane":""' || fail "control-plane label"
k get node "$node" -o jsonpath='{.spec.taints[*].key}' | grep -q 'node-role.kubernetes.io/master' || fail "master taint"
k get node "$node" -o jsonpath='{.metadata.annotations}' | grep -q 'kubeadm.alpha.kubernetes.io/cri-socket' || fail "cri-socket annotation"

say "token Secret and RBAC"
sec() { k -n kube-system get secret "bootstrap-token-$id" -o jsonpath="{.data.$1}" | base64 -d; }
[ "$(k -n kube-system get secret "bootstrap-token-$id" -o jsonpath='{.type}')" = bootstrap.kubernetes.io/token ] || fail "secret type"
[ "$(sec token-id)" = "$id" ] || fail "secret token-id"
[ "$(sec token-secret)" = "$secret" ] || fail "secret token-secret"
[ "$(sec usage-bootstrap-signing)" = true ] || fail "secret usage signing"
[ "$(sec usage-bootstrap-authentication)" = true ] || fail "secret usage authentication"
[ "$(sec auth-extra-groups)" = system:bootstrappers:kubeadm:default-node-token ] || fail "secret groups"
sec expiration | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' || fail "secret expiration"
for crb in kubeadm:get-nodes kubeadm:kubelet-bootstrap kubeadm:node-autoapprove-bootstrap kubeadm:node-autoapprove-certificate-rotation kubeadm:node-proxier system:coredns; do
	k get clusterrolebinding "$crb" >/dev/null || fail "ClusterRoleBinding $crb"
done
k -n kube-system get role,rolebinding kubeadm:nodes-kubeadm-config kubeadm:kubelet-config-1.20 kube-proxy >/dev/null || fail "kube-system Roles"
k -n kube-system get configmap kubeadm-config kubelet-config-1.20 kube-proxy coredns >/dev/null || fail "ConfigMaps"

say "cluster-info anonymously, and its signature"
curl -sk "https://$KUBESTRAP_TESTBED_API_ENDPOINT/api/v1/namespaces/kube-public/configmaps/cluster-info" >"$WORK/ci.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "kubeconfig" in d["data"], d' "$WORK/ci.json" || fail "anonymous cluster-info"
signed() { k -n kube-public get configmap cluster-info -o jsonpath="{.data.jws-kubeconfig-$id}" | grep -q .; }
until_ok 60 signed || fail "no jws-kubeconfig-$id from the controller-manager"
k -n kube-public get configmap cluster-info -o jsonpath='{.data.kubeconfig}' >"$WORK/kubeconfig"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","kid":"%s"}' "$id" | b64url)
payload=$(b64url <"$WORK/kubeconfig")
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
[ "$(k -n kube-public get configmap cluster-info -o jsonpath="{.data.jws-kubeconfig-$id}")" = "$header..$sig" ] ||
	fail "jws-kubeconfig-$id does not verify with the token secret"

say "token create, list, delete, -o json"
new=$("$KS" token create --ttl 1h --description e2e)
"$KS" token list | grep -q "^$new " || fail "token list misses $new"
"$KS" token list -o json | python3 -c 'import json,sys; assert any(t["token"]==sys.argv[1] for t in json.load(sys.stdin))' "$new" ||
	fail "token list -o json"
"$KS" token create --print-join-command | grep -q "^kubestrap join $KUBESTRAP_TESTBED_API_ENDPOINT --token " || fail "print-join-command"
"$KS" token create -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["caCertHashes"][0].startswith("sha256:")' ||
	fail "token create -o json"
dup=$("$KS" token create "$new" 2>&1 || true)
grep -q "already exists" <<<"$dup" || fail "duplicate token accepted: $dup"
"$KS" token delete "$new" | grep -q "deleted" || fail "token delete"
! k -n kube-system get secret "bootstrap-token-${new%%.*}" >/dev/null 2>&1 || fail "token still there"

say "upload-certs: kubeadm-certs owned by a 2-hour token, uploaded again, deleted with its token"
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificateKey"])' "$WORK/init.json")
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["controlPlaneJoinCommands"][0].endswith("--control-plane --certificate-key "+sys.argv[2]), d' "$WORK/init.json" "$key" ||
	fail "init -o json has no control-plane join command with the key"
# The owner reference names the token Secret by name and uid; the token expires in 2 h.
certs_owner() { k -n kube-system get secret kubeadm-certs -o jsonpath='{.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].uid}'; }
read -r owner uid <<<"$(certs_owner)"
[ "$uid" = "$(k -n kube-system get secret "$owner" -o jsonpath='{.metadata.uid}')" ] || fail "kubeadm-certs owner $owner/$uid"
expiry=$(k -n kube-system get secret "$owner" -o jsonpath='{.data.expiration}' | base64 -d)
ttl=$(($(date -d "$expiry" +%s) - $(date +%s)))
[ "$ttl" -gt 7000 ] && [ "$ttl" -le 7200 ] || fail "the kubeadm-certs token lives $ttl s, not 2 h"
k -n kube-system get role,rolebinding kubeadm:kubeadm-certs >/dev/null || fail "kubeadm:kubeadm-certs RBAC"
# Again with a key of the user's (certificateKey in the file, as kubeadm takes it with --config).
key2=$("$KS" certs certificate-key)
sed "s/^kind: InitConfiguration\$/&\ncertificateKey: $key2/" "$cfg" >"$WORK/key.yaml"
"$KS" init phase upload-certs --upload-certs --config "$WORK/key.yaml" >"$WORK/upload.out" 2>&1 || { cat "$WORK/upload.out" >&2; fail "upload-certs again"; }
grep -qx "$key2" "$WORK/upload.out" || { cat "$WORK/upload.out" >&2; fail "upload-certs again did not use the key of the file"; }
read -r owner2 _ <<<"$(certs_owner)"
[ "$owner2" != "$owner" ] || fail "the second upload kept the first owner"
"$KS" token create --print-join-command --certificate-key "$key2" >"$WORK/cp-join" || fail "token create --certificate-key"
grep -q -- "--control-plane --certificate-key $key2\$" "$WORK/cp-join" || fail "token create --certificate-key: $(cat "$WORK/cp-join")"
! "$KS" token create --print-join-command --certificate-key "$key" >/dev/null 2>&1 || fail "a stale certificate key was accepted"
k -n kube-system delete secret "$owner2" >/dev/null
gone() { ! k -n kube-system get secret kubeadm-certs; }
until_ok 60 gone || fail "the garbage collector left kubeadm-certs after its token was deleted"

say "kube-proxy runs, CoreDNS objects exist"
proxy_running() { k -n kube-system get pods -l k8s-app=kube-proxy -o jsonpath='{.items[*].status.phase}' | grep -qx Running; }
until_ok 120 proxy_running || fail "kube-proxy pod not Running"
k -n kube-system get deployment coredns >/dev/null || fail "CoreDNS Deployment"
k -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}' | grep -qx 10.96.0.10 || fail "kube-dns Service"

say "each API phase alone again changes nothing"
# Only what kubestrap writes is compared: the kubelet and the controllers change the rest at any
# time (the node's not-ready taint and conditions, resourceVersions, status).
mark_node "$node" k
kubestrap_state "$node" k >"$WORK/before"
for phase in upload-config/kubeadm upload-config/kubelet mark-control-plane bootstrap-token addon/coredns addon/kube-proxy show-join-command; do
	# shellcheck disable=SC2086 # a phase path becomes subcommand words
	"$KS" init phase ${phase//\// } --config "$cfg" >/dev/null 2>"$WORK/phase.err" || { cat "$WORK/phase.err" >&2; fail "phase $phase again"; }
done
kubestrap_state "$node" k >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "running the API phases again changed objects"
unmark_node "$node" k

say "taint remove, taint add"
"$KS" taint remove --node "$node"
! k get node "$node" -o jsonpath='{.spec.taints[*].key}' | grep -q node-role.kubernetes.io || fail "taint still there"
"$KS" taint add --node "$node"
k get node "$node" -o jsonpath='{.spec.taints[*].key}' | grep -q node-role.kubernetes.io/master || fail "taint not back"

say "kubestrap reset puts the host back"
$TB exec node1 "$KS" reset --force >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "kubestrap reset"; }
grep -q "Removed [1-9][0-9]* pod sandboxes" "$WORK/reset.out" || { cat "$WORK/reset.out" >&2; fail "no pod sandboxes removed"; }
for d in /etc/kubernetes/manifests /etc/kubernetes/pki /var/lib/kubelet /var/lib/etcd; do
	[ -z "$(ls -A "$d" 2>/dev/null)" ] || fail "reset left $d: $(ls -A "$d")"
done
[ ! -e /etc/kubernetes/admin.conf ] || fail "reset left admin.conf"
[ -z "$($TB exec node1 crictl pods -q)" ] || fail "reset left pod sandboxes"
! grep -q " $(readlink -f /var/lib/kubelet)/" /proc/self/mounts || fail "reset left mounts under /var/lib/kubelet"
if grep -q "still present" "$WORK/reset.out"; then
	cat "$WORK/reset.out" >&2
	fail "reset reported leftovers"
fi
[ ! -e "$DROP_IN" ] || fail "reset left $DROP_IN"
[ -f /usr/lib/systemd/system/kubelet.service ] || fail "reset removed the package's kubelet.service"

say "a crash-looping kube-controller-manager fails wait-control-plane naming it"
# Also: init runs again on the host kubestrap reset (no FileAvailable or Port preflight errors).
bad=$(config bad "controllerManager:
  extraArgs:
    bogus-flag: \"1\"")
# A flag the component lacks is refused before anything is written...
if $TB exec node1 "$KS" init --config "$bad" 2>"$WORK/bad.err" >/dev/null; then
	fail "init with an unknown controller-manager flag succeeded"
fi
grep -q "kube-controller-manager $KUBESTRAP_TESTBED_KUBERNETES_VERSION has no flag \`--bogus-flag\`" "$WORK/bad.err" ||
	{ cat "$WORK/bad.err" >&2; fail "the unknown flag is not refused"; }
[ -z "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ] || fail "a refused config wrote manifests"
# ...unless named as a custom build's flag: then the component crash-loops, and init says which.
if $TB exec node1 env KUBESTRAP_ALLOW_UNKNOWN_FLAGS=bogus-flag "$KS" init --config "$bad" 2>"$WORK/bad.err" >/dev/null; then
	fail "init with a broken controller-manager succeeded"
fi
grep -q "failing: kube-controller-manager" "$WORK/bad.err" || { cat "$WORK/bad.err" >&2; fail "the failing component is not named"; }
grep -q "bogus-flag" "$WORK/bad.err" || { cat "$WORK/bad.err" >&2; fail "its log lines are not shown"; }
sed -n '/failing:/,$p' "$WORK/bad.err" | head -20 >&2
$TB exec node1 "$KS" reset --force >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "kubestrap reset after a failed init"; }
[ -z "$(ls -A /etc/kubernetes/manifests)" ] || fail "reset after a failed init left manifests"

say "with kubeadm's drop-in installed, kubestrap leaves it and the node comes up"
$TB kubeadm-package node1
$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init-kubeadm-dropin.out" 2>&1 ||
	{ cat "$WORK/init-kubeadm-dropin.out" >&2; fail "init beside kubeadm's drop-in"; }
grep -q 'reads kubestrap.s files through `/etc/systemd/system/kubelet.service.d/10-kubeadm.conf`' "$WORK/init-kubeadm-dropin.out" ||
	{ cat "$WORK/init-kubeadm-dropin.out" >&2; fail "kubeadm's drop-in is not reported"; }
[ ! -e "$DROP_IN" ] || fail "kubestrap wrote its drop-in beside kubeadm's"
until_ok 180 node_ready || fail "node $node is not Ready with kubeadm's drop-in"
$TB exec node1 "$KS" reset --force >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "kubestrap reset"; }
[ -f /etc/systemd/system/kubelet.service.d/10-kubeadm.conf ] || fail "reset removed kubeadm's drop-in"
$TB kubeadm-package node1 remove

say "a kubelet installed without a unit gets kubestrap's kubelet.service and drop-in"
mv /usr/lib/systemd/system/kubelet.service "$WORK/package-kubelet.service"
$TB exec node1 systemctl daemon-reload
$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init-no-unit.out" 2>&1 ||
	{ cat "$WORK/init-no-unit.out" >&2; fail "init without a kubelet unit"; }
grep -q "kubestrap (kubelet-start)" /etc/systemd/system/kubelet.service || fail "no kubelet.service written"
[ -f "$DROP_IN" ] || fail "no drop-in written beside the new unit"
until_ok 180 node_ready || fail "node $node is not Ready with kubestrap's unit"
$TB exec node1 "$KS" reset --force >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "kubestrap reset"; }
[ ! -e /etc/systemd/system/kubelet.service ] && [ ! -e "$DROP_IN" ] || fail "reset left kubestrap's unit files"
mv "$WORK/package-kubelet.service" /usr/lib/systemd/system/kubelet.service
$TB exec node1 systemctl daemon-reload
