#!/usr/bin/env bash
# `kubestrap cluster apply` of the testbed's three nodes over SSH (each node's own sshd on port
# 2222 of its testbed address; real v1.20.2 kubelets and control plane; run as root after
# `testbed setup`):
#   - an unknown host key: refused before anything runs (no file on any node);
#   - `--fix` with node1's forwarding off: without it, one table names the check and the way to
#     fix it; with it, node1's plan is shown under its name (and in the -o json events), a no at
#     the terminal's question or no terminal and no --yes changes nothing; with --yes the plan is
#     applied, node1 inits;
#   - node1 (control plane) and node2 (worker, labels and a taint) from one file: both Ready, the
#     admin kubeconfig written where asked, the record ConfigMap kube-system/kubestrap-cluster;
#   - a second apply changes nothing (no file on either node changes) and says so per host;
#   - node3, a worker, added to the file later: the apply joins only it (Ready, its label set; no
#     file on node1 or node2 changes, both said unchanged); it stays in the file from then on, an
#     unchanged host to every later apply;
#   - a label and the taint dropped from the file, another label's value changed: the Node
#     follows, a label set by hand and kubeadm's control-plane label and taint stay;
#   - `cluster status` shows all three; node2 removed from the file is listed, not touched, and with
#     `--prune` drained (a Deployment's pod on node2 evicted, kube-proxy's left; while a
#     PodDisruptionBudget refuses, the prune fails naming both and leaves node2 cordoned), reset,
#     its Node deleted and no longer recorded, node3 left as it is;
#   - killed during node2's join, applied again: finishes (node2 Ready);
#   - node2 in another cluster (another CA): refused, named, untouched;
#   - `cluster reset` leaves all three hosts clean (`reset --verify` on each).
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
N3=$KUBESTRAP_TESTBED_NODE3_NAME
N3_IP=$KUBESTRAP_TESTBED_NODE3_IP
N1_IP=$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS
PORT=$KUBESTRAP_TESTBED_SSH_PORT
BIN=/opt/kubestrap/bin/kubestrap

finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		for f in "$WORK"/logs/*.log; do
			[ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 40 "$f" >&2; }
		done
	fi
	say "down"
	# The fixes --fix made on node1 (this machine), if a failure left them.
	if [ -e /var/lib/kubestrap/fixes.json ]; then
		PATH="$WORK/bin:$PATH" $TB exec node1 "$KS" preflight --undo-fixes >/dev/null 2>&1 || true
	fi
	for n in node3 node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n "$KS" reset -f >/dev/null 2>&1 || true
	done
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed cluster checks: 1 passed, 0 failed" || echo "testbed cluster checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

# A stand-in modprobe that only records its calls, first in the PATH of node1's SSH sessions (`up`
# gives them its own): where this kernel lacks br_netfilter, --fix's plan loads it without the
# test changing the machine's modules.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\necho "$*" >>"%s/modprobe.calls"\n' "$WORK" >"$WORK/bin/modprobe"
chmod 755 "$WORK/bin/modprobe"
PATH="$WORK/bin:$PATH" $TB up
$TB join -- true
$TB join node3 -- true
KEY=$KUBESTRAP_TESTBED_SSH_KEY
ssh_known_hosts >"$WORK/known_hosts"
: >"$WORK/empty_known_hosts"
config kubeadm >/dev/null

# cluster_file NAME [without-node2|changed] [node3]: the cluster file; `changed` drops node2's
# zone label and its taint and gives its tier label another value; `node3` adds node3, a worker.
cluster_file() {
	{
		cat <<EOF
apiVersion: kubestrap.io/v1alpha1
kind: Cluster
binaryPath: $BIN
kubeadmConfigPath: kubeadm.yaml
hosts:
- address: $N1_IP
  port: $PORT
  keyPath: $KEY
  role: control-plane
  labels:
    e2e.kubestrap.test/tier: control
EOF
		case ${2:-} in
		without-node2) ;;
		changed) cat <<EOF ;;
- address: $N2_IP
  port: $PORT
  keyPath: $KEY
  role: worker
  labels:
    e2e.kubestrap.test/tier: batch
EOF
		*) cat <<EOF ;;
- address: $N2_IP
  port: $PORT
  keyPath: $KEY
  role: worker
  labels:
    e2e.kubestrap.test/tier: work
    e2e.kubestrap.test/zone: a
  taints:
  - key: e2e.kubestrap.test/dedicated
    value: batch
    effect: PreferNoSchedule
EOF
		esac
		[ "${3:-}" != node3 ] || cat <<EOF
- address: $N3_IP
  port: $PORT
  keyPath: $KEY
  role: worker
  labels:
    e2e.kubestrap.test/tier: work
EOF
	} >"$WORK/$1"
}
cluster_file cluster.yaml
cluster_file one-host.yaml without-node2
# node3 is added to cluster.yaml later (below); from then on it is in every file.
cluster_file changed.yaml changed node3
cluster_file without-node2.yaml without-node2 node3

kube_files() { $TB exec "$1" find /etc/kubernetes /var/lib/kubelet -type f 2>/dev/null | sort; }
ready() { k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }

say "an unknown host key is refused before anything runs"
"$KS" cluster apply -f "$WORK/cluster.yaml" --known-hosts "$WORK/empty_known_hosts" --logs "$WORK/logs" \
	>"$WORK/unknown-key.log" 2>&1 && fail "an unknown host key was accepted: $(cat "$WORK/unknown-key.log")"
grep -q "is not in $WORK/empty_known_hosts: refused before anything ran" "$WORK/unknown-key.log" ||
	fail "no refusal of the unknown host key: $(cat "$WORK/unknown-key.log")"
[ ! -s "$WORK/empty_known_hosts" ] || fail "the unknown key was added to known_hosts"
for n in node1 node2 node3; do
	[ -z "$(kube_files $n)" ] || fail "$n has files after the refusal: $(kube_files $n)"
	! $TB exec $n test -e "$BIN" || fail "kubestrap was copied to $n after the refusal"
done

say "--fix: node1's forwarding off; its plan shown, applied after a yes"
sysctl -qw net.ipv4.ip_forward=0 # node1 is this machine
cluster_apply nofix -f "$WORK/one-host.yaml"
[ $RC = 6 ] || fail "apply with a failing check exited $RC (want 6, nothing done): $(cat "$WORK/nofix.log")"
grep -Eq "^$N1_IP +FileContent--proc-sys-net-ipv4-ip_forward +.*\(fix: sysctl -w net.ipv4.ip_forward=1\)" "$WORK/nofix.log" ||
	fail "no table naming node1's check and its fix: $(cat "$WORK/nofix.log")"
grep -q -- "--fix\` to apply the fixes kubestrap knows" "$WORK/nofix.log" || fail "no word of --fix: $(cat "$WORK/nofix.log")"
# On a terminal (script's): the plan is shown, then the question; a no changes nothing.
RC=0
printf 'n\n' | script -qec "$KS cluster apply -f $WORK/one-host.yaml --known-hosts $WORK/known_hosts --logs $WORK/logs --fix" /dev/null \
	>"$WORK/fix-no.log" 2>&1 || RC=$?
[ $RC = 6 ] || fail "apply --fix answered no exited $RC (want 6, nothing done): $(cat "$WORK/fix-no.log")"
grep -q "fix: kubestrap preflight --fix would make" "$WORK/fix-no.log" && grep -q "net.ipv4.ip_forward .*: 0 → 1 " "$WORK/fix-no.log" ||
	fail "no plan on the terminal: $(cat "$WORK/fix-no.log")"
grep -q "Apply the fixes above on $N1_IP?.* \[y/N\]" "$WORK/fix-no.log" || fail "no question on the terminal: $(cat "$WORK/fix-no.log")"
grep -q "nothing was changed on any host: the fixes above were not applied" "$WORK/fix-no.log" || fail "no word of the no: $(cat "$WORK/fix-no.log")"
[ "$(sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "ip_forward was changed after a no"
# No terminal to ask and no --yes: the plan is shown (here in the -o json events), nothing changes.
cluster_apply fix-refused -f "$WORK/one-host.yaml" --fix -o json </dev/null
[ $RC = 6 ] || fail "apply --fix without a yes exited $RC (want 6, nothing done): $(cat "$WORK/fix-refused.log")"
python3 - "$WORK/fix-refused.log" "$N1_IP" <<'PY' || fail "apply --fix -o json: $(cat "$WORK/fix-refused.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
plans = [e for e in lines if e.get("step") == "fix" and e.get("plan")]
assert [e["host"] for e in plans] == [sys.argv[2]], plans
assert any("net.ipv4.ip_forward" in step and "0 → 1" in step for step in plans[0]["plan"]), plans
result = lines[-1]
assert result["result"] == "nothing-done", result
assert "the fixes above were not applied" in result["error"] and "--yes" in result["error"], result
PY
[ "$(sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "ip_forward was changed without a yes"
[ ! -e /var/lib/kubestrap/fixes.json ] || fail "fixes were journaled without a yes"
[ -z "$(kube_files node1)" ] || fail "node1 has files after the refused --fix: $(kube_files node1)"
cluster_apply fix -f "$WORK/one-host.yaml" --fix --yes
[ $RC = 0 ] || fail "apply --fix --yes exited $RC: $(cat "$WORK/fix.log")"
grep -Eq "^\[$N1_IP\] fix: kubestrap preflight --fix would make (this change|these [0-9]+ changes) here:" "$WORK/fix.log" ||
	fail "node1's plan was not shown under its name: $(cat "$WORK/fix.log")"
grep -Eq "^    [0-9]+\. net.ipv4.ip_forward .*: 0 → 1 " "$WORK/fix.log" || fail "the plan has no ip_forward step: $(cat "$WORK/fix.log")"
grep -q "Apply the fixes above on $N1_IP?.*: yes (--yes)" "$WORK/fix.log" || fail "no question answered by --yes: $(cat "$WORK/fix.log")"
[ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "--fix did not set ip_forward"
if grep -q "kernel module br_netfilter" "$WORK/fix.log"; then
	grep -qx "br_netfilter" "$WORK/modprobe.calls" || fail "--fix did not load br_netfilter"
fi
[ -s /var/lib/kubestrap/fixes.json ] || fail "--fix journaled nothing"
until_ok 180 ready "$node" || fail "node1 is not Ready after apply --fix"

say "cluster apply: node1 control plane, node2 worker"
t0=$(date +%s%N)
cluster_apply first -f "$WORK/cluster.yaml" --admin-kubeconfig "$WORK/admin.conf"
echo "cluster apply took $((($(date +%s%N) - t0) / 1000000)) ms" >&2
[ $RC = 0 ] || fail "cluster apply exited $RC: $(cat "$WORK/first.log")"
until_ok 180 ready "$node" || fail "node1 is not Ready"
until_ok 180 ready "$N2" || fail "node2 is not Ready"
kubectl --kubeconfig "$WORK/admin.conf" get nodes >/dev/null || fail "the fetched admin kubeconfig does not work"
[ "$(stat -c %a "$WORK/admin.conf")" = 600 ] || fail "admin kubeconfig is not 0600"
[ "$(k get node "$N2" -o jsonpath='{.metadata.labels.e2e\.kubestrap\.test/tier}')" = work ] || fail "node2's label"
[ "$(k get node "$node" -o jsonpath='{.metadata.labels.e2e\.kubestrap\.test/tier}')" = control ] || fail "node1's label"
k get node "$N2" -o jsonpath='{.spec.taints}' | grep -q '"key":"e2e.kubestrap.test/dedicated"' || fail "node2's taint"
k -n kube-system get configmap kubestrap-cluster -o jsonpath='{.data.hosts}' | grep -q "\"$N2_IP\"" ||
	fail "no record of the hosts"
grep -q "$N2" "$WORK/first.log" && grep -Eq "^$N2 +Ready" "$WORK/first.log" ||
	echo "(node list printed before node2 was Ready)" >&2
! $TB exec node2 sh -c 'ls /tmp/kubestrap-cluster-* 2>/dev/null' | grep -q . || fail "a config file with secrets was left on node2"
! grep -rq "$(k -n kube-system get secrets -o name | grep -m1 bootstrap-token- | sed 's|.*bootstrap-token-||')\.[a-z0-9]\{16\}" "$WORK/logs" ||
	fail "a token was logged"

say "a second apply changes nothing"
node_files node1 >"$WORK/node1.before"
node_files node2 >"$WORK/node2.before"
t0=$(date +%s%N)
cluster_apply second -f "$WORK/cluster.yaml" --admin-kubeconfig "$WORK/admin.conf"
echo "the second cluster apply took $((($(date +%s%N) - t0) / 1000000)) ms" >&2
[ $RC = 0 ] || fail "second apply exited $RC: $(cat "$WORK/second.log")"
node_files node1 >"$WORK/node1.after"
node_files node2 >"$WORK/node2.after"
diff "$WORK/node1.before" "$WORK/node1.after" >&2 || fail "the second apply changed files on node1"
diff "$WORK/node2.before" "$WORK/node2.after" >&2 || fail "the second apply changed files on node2"
grep -q "nothing to do" "$WORK/second.log" || fail "the second apply did not say so: $(cat "$WORK/second.log")"
for h in "$N1_IP" "$N2_IP"; do
	grep -Eq "^unchanged +$h: " "$WORK/second.log" || fail "no 'unchanged' for $h: $(cat "$WORK/second.log")"
done

say "-o json: one event per line, then the result"
cluster_apply json -f "$WORK/cluster.yaml" -o json
[ $RC = 0 ] || fail "apply -o json exited $RC: $(cat "$WORK/json.log")"
python3 - "$WORK/json.log" "$N1_IP" "$N2_IP" <<'PY' || fail "apply -o json: $(cat "$WORK/json.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
result = lines[-1]
assert result["result"] == "all-done" and result["changed"] is False, result
assert {h["host"]: h["result"] for h in result["hosts"]} == {sys.argv[2]: "unchanged", sys.argv[3]: "unchanged"}, result
assert len(result["nodes"]) == 2, result
events = lines[:-1]
assert all({"step", "state", "message"} <= e.keys() for e in events), events
assert any(e.get("host") == sys.argv[3] and e["step"] == "install" and e["state"] == "unchanged" for e in events), events
PY

say "node3 added to the file later: the apply joins only it"
node_files node1 >"$WORK/node1.before"
node_files node2 >"$WORK/node2.before"
cluster_file cluster.yaml "" node3
t0=$(date +%s%N)
cluster_apply node3 -f "$WORK/cluster.yaml"
echo "the apply that adds node3 took $((($(date +%s%N) - t0) / 1000000)) ms" >&2
[ $RC = 0 ] || fail "apply with node3 added exited $RC: $(cat "$WORK/node3.log")"
until_ok 180 ready "$N3" || fail "node3 is not Ready"
node_files node1 >"$WORK/node1.after"
node_files node2 >"$WORK/node2.after"
diff "$WORK/node1.before" "$WORK/node1.after" >&2 || fail "adding node3 changed files on node1"
diff "$WORK/node2.before" "$WORK/node2.after" >&2 || fail "adding node3 changed files on node2"
for h in "$N1_IP" "$N2_IP"; do
	grep -Eq "^unchanged +$h: " "$WORK/node3.log" || fail "no 'unchanged' for $h: $(cat "$WORK/node3.log")"
done
grep -Eq "^done +$N3_IP: joined as a worker" "$WORK/node3.log" || fail "no 'done' for node3: $(cat "$WORK/node3.log")"
! grep -Eq "^\[($N1_IP|$N2_IP)\] (preflight|init|join):" "$WORK/node3.log" ||
	fail "the apply ran preflight, init or join on node1 or node2: $(cat "$WORK/node3.log")"
[ "$(k get node "$N3" -o jsonpath='{.metadata.labels.e2e\.kubestrap\.test/tier}')" = work ] || fail "node3's label"
k -n kube-system get configmap kubestrap-cluster -o jsonpath='{.data.hosts}' | grep -q "\"$N3_IP\"" ||
	fail "node3 is not recorded"

say "labels and a taint dropped from the file go, a changed value follows, others stay"
label() { k get node "$1" -o jsonpath="{.metadata.labels.${2//./\\.}}"; }
[ "$(label "$N2" e2e.kubestrap.test/zone)" = a ] || fail "node2's zone label"
k label node "$N2" e2e.kubestrap.test/by-hand=yes >/dev/null
cluster_apply changed -f "$WORK/changed.yaml"
[ $RC = 0 ] || fail "apply of the changed file exited $RC: $(cat "$WORK/changed.log")"
grep -q "labels and taints of $N2 set" "$WORK/changed.log" || fail "no word of node2's labels: $(cat "$WORK/changed.log")"
k get node "$N2" --show-labels >&2
[ "$(label "$N2" e2e.kubestrap.test/tier)" = batch ] || fail "node2's changed label value"
[ -z "$(label "$N2" e2e.kubestrap.test/zone)" ] || fail "node2's dropped label is still there"
[ "$(label "$N2" e2e.kubestrap.test/by-hand)" = yes ] || fail "the label set by hand was removed"
! k get node "$N2" -o jsonpath='{.spec.taints}' | grep -q "e2e.kubestrap.test/dedicated" || fail "node2's dropped taint is still there"
k get node "$node" --show-labels | grep -q "node-role.kubernetes.io/master" || fail "kubeadm's control-plane label of node1 was removed"
k get node "$node" -o jsonpath='{.spec.taints}' | grep -q '"node-role.kubernetes.io/master"' || fail "node1's control-plane taint was removed"
[ "$(label "$node" e2e.kubestrap.test/tier)" = control ] || fail "node1's label"
cluster_apply changed-again -f "$WORK/changed.yaml"
[ $RC = 0 ] || fail "the changed file again exited $RC: $(cat "$WORK/changed-again.log")"
grep -q "nothing to do" "$WORK/changed-again.log" || fail "the changed file applied again changed something: $(cat "$WORK/changed-again.log")"

say "cluster status"
"$KS" cluster status -f "$WORK/cluster.yaml" --known-hosts "$WORK/known_hosts" --logs "$WORK/logs" >"$WORK/status.txt" 2>&1 ||
	fail "cluster status: $(cat "$WORK/status.txt")"
cat "$WORK/status.txt" >&2
grep -Eq "^$N1_IP +control-plane +yes +v1\.20\.2 +True +20" "$WORK/status.txt" || fail "status of node1"
grep -Eq "^$N2_IP +worker +yes +v1\.20\.2 +True +20" "$WORK/status.txt" || fail "status of node2"
grep -Eq "^$N3_IP +worker +yes +v1\.20\.2 +True +20" "$WORK/status.txt" || fail "status of node3"

say "a host removed from the file is listed, not touched"
node_files node2 >"$WORK/node2.before"
cluster_apply without-node2 -f "$WORK/without-node2.yaml"
[ $RC = 0 ] || fail "apply without node2 exited $RC: $(cat "$WORK/without-node2.log")"
grep -q "not in $WORK/without-node2.yaml: $N2_IP (node $N2" "$WORK/without-node2.log" ||
	fail "node2 not listed: $(cat "$WORK/without-node2.log")"
grep -Eq "^unchanged +$N3_IP: " "$WORK/without-node2.log" || fail "no 'unchanged' for node3: $(cat "$WORK/without-node2.log")"
node_files node2 >"$WORK/node2.after"
diff "$WORK/node2.before" "$WORK/node2.after" >&2 || fail "node2 was touched"
ready "$N2" || fail "node2 is no longer Ready"

say "--prune drains (a pod on node2 evicted) and resets a host the file no longer lists"
k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: e2e-drain, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: e2e-drain}}
  template:
    metadata: {labels: {app: e2e-drain}}
    spec:
      nodeSelector: {kubernetes.io/hostname: $N2}
      terminationGracePeriodSeconds: 5
      automountServiceAccountToken: false
      containers:
      - name: pause
        image: $KUBESTRAP_TESTBED_IMAGE_REPOSITORY/pause:3.2
        imagePullPolicy: Never
EOF
running() { [ "$(k get pods -l app=e2e-drain -o jsonpath='{.items[*].status.phase}')" = Running ]; }
until_ok 120 running || { k describe pods -l app=e2e-drain >&2; fail "the pod on node2 does not run"; }
pod=$(k get pods -l app=e2e-drain -o jsonpath='{.items[0].metadata.name}')
uid=$(k get pod "$pod" -o jsonpath='{.metadata.uid}')
# A PodDisruptionBudget that allows no eviction: the prune of node2 fails past --drain-timeout,
# naming the pod and the budget; node2 stays cordoned, not reset, recorded.
k apply -f - >/dev/null <<EOF
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: e2e-drain, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: e2e-drain}}
EOF
observed() { [ "$(k get pdb e2e-drain -o jsonpath='{.status.observedGeneration}')" = 1 ]; }
until_ok 60 observed || fail "the PodDisruptionBudget is not observed"
cluster_apply budget -f "$WORK/without-node2.yaml" --prune --drain-timeout 10s
[ $RC = 5 ] || fail "apply --prune with a PodDisruptionBudget exited $RC (want 5, partial): $(cat "$WORK/budget.log")"
grep -q "pod default/$pod was not evicted within 10s: PodDisruptionBudget default/e2e-drain refuses" "$WORK/budget.log" ||
	fail "the failed prune does not name the pod and its budget: $(cat "$WORK/budget.log")"
[ "$(k get node "$N2" -o jsonpath='{.spec.unschedulable}')" = true ] || fail "node2 is not cordoned"
[ "$(k get pod "$pod" -o jsonpath='{.metadata.uid}')" = "$uid" ] || fail "the pod the budget guards is gone"
[ -n "$(kube_files node2)" ] || fail "node2 was reset although its drain failed"
k -n kube-system get configmap kubestrap-cluster -o jsonpath='{.data.hosts}' | grep -q "\"$N2_IP\"" ||
	fail "node2 was forgotten although its prune failed"
k delete pdb e2e-drain >/dev/null
cluster_apply pruned -f "$WORK/without-node2.yaml" --prune
[ $RC = 0 ] || fail "apply --prune exited $RC: $(cat "$WORK/pruned.log")"
! k get node "$N2" >/dev/null 2>&1 || fail "node2's Node is still there after --prune"
[ -z "$(kube_files node2)" ] || fail "node2 was not reset by --prune: $(kube_files node2)"
! k -n kube-system get configmap kubestrap-cluster -o jsonpath='{.data.hosts}' | grep -q "\"$N2_IP\"" ||
	fail "node2 is still recorded after --prune"
grep -Eq "^done +$N2_IP: drained, reset and node $N2 deleted" "$WORK/pruned.log" || fail "no word of the prune: $(cat "$WORK/pruned.log")"
grep -Eq "^unchanged +$N3_IP: " "$WORK/pruned.log" || fail "node3, still in the file, was touched: $(cat "$WORK/pruned.log")"
ready "$N3" || fail "node3 is no longer Ready after node2's prune"
grep -q "prune: evicted pod default/$pod$" "$WORK/pruned.log" || fail "the pod on node2 was not evicted: $(cat "$WORK/pruned.log")"
! grep -q "evicted pod kube-system/kube-proxy" "$WORK/pruned.log" || fail "a DaemonSet's pod was evicted"
[ "$(k get pod "$pod" -o jsonpath='{.metadata.uid}' 2>/dev/null || true)" != "$uid" ] || fail "the evicted pod is still there"
k delete deployment e2e-drain >/dev/null

say "killed during node2's join, then applied again"
cluster_apply killed -f "$WORK/cluster.yaml" &
apply_pid=$!
killed=""
for _ in $(seq 600); do
	if $TB exec node2 test -f /var/lib/kubelet/config.yaml 2>/dev/null; then
		pid=$(pgrep -f "^$BIN join" | head -n1 || true)
		[ -n "$pid" ] && kill -9 "$pid" && killed=yes && break
	fi
	sleep 0.1
done
wait $apply_pid || true
[ -n "$killed" ] || fail "could not catch node2's join to kill it"
grep -q "FAILED $N2_IP" "$WORK/killed.log" || fail "the killed join was not reported: $(cat "$WORK/killed.log")"
grep -q "retry: " "$WORK/killed.log" || fail "no retry command"
cluster_apply resumed -f "$WORK/cluster.yaml"
[ $RC = 0 ] || fail "apply after the killed join exited $RC: $(cat "$WORK/resumed.log")"
until_ok 180 ready "$N2" || fail "node2 is not Ready after the apply again"
! $TB exec node2 test -e /etc/kubernetes/bootstrap-kubelet.conf || fail "node2's join did not finish"

say "node2 in another cluster: refused, named, untouched"
$TB exec node2 "$KS" reset -f >/dev/null 2>&1
k delete node "$N2" --ignore-not-found >/dev/null
$TB exec node2 "$KS" init phase certs ca --apiserver-advertise-address "$N2_IP" >/dev/null
$TB exec node2 "$KS" init phase kubeconfig kubelet --node-name "$N2" --apiserver-advertise-address "$N2_IP" >/dev/null
node_files node2 >"$WORK/node2.before"
cluster_apply other -f "$WORK/cluster.yaml"
[ $RC = 5 ] || fail "apply with node2 in another cluster exited $RC (want 5, partial): $(cat "$WORK/other.log")"
grep -q "refused .*$N2_IP: already a node of another cluster" "$WORK/other.log" || fail "not refused by name: $(cat "$WORK/other.log")"
node_files node2 >"$WORK/node2.after"
diff "$WORK/node2.before" "$WORK/node2.after" >&2 || fail "node2 of another cluster was touched"
$TB exec node2 "$KS" reset -f >/dev/null 2>&1
cluster_apply rejoin -f "$WORK/cluster.yaml"
[ $RC = 0 ] || fail "apply after node2 left the other cluster exited $RC: $(cat "$WORK/rejoin.log")"
until_ok 180 ready "$N2" || fail "node2 is not Ready after joining again"

say "cluster reset"
"$KS" cluster reset -f "$WORK/cluster.yaml" --yes --known-hosts "$WORK/known_hosts" --logs "$WORK/logs" >"$WORK/reset.log" 2>&1 ||
	fail "cluster reset: $(cat "$WORK/reset.log")"
for n in node1 node2 node3; do
	$TB exec $n "$KS" reset --verify -f >/dev/null 2>&1 || fail "$n is not clean after cluster reset"
	[ -z "$(kube_files $n)" ] || fail "$n has files after cluster reset: $(kube_files $n)"
done

say "what --fix changed on node1 is put back by --undo-fixes"
PATH="$WORK/bin:$PATH" $TB exec node1 "$KS" preflight --undo-fixes >"$WORK/undo.log" 2>&1 || fail "preflight --undo-fixes: $(cat "$WORK/undo.log")"
if grep -qx "br_netfilter" "$WORK/modprobe.calls"; then
	grep -qx -- "-r br_netfilter" "$WORK/modprobe.calls" || fail "--undo-fixes did not unload the module --fix loaded"
fi
[ ! -e /var/lib/kubestrap/fixes.json ] && [ ! -e /etc/sysctl.d/99-kubestrap.conf ] || fail "--fix's files are left after --undo-fixes"
# The hosts' kubestrap goes with the testbed: `down` removes /opt/kubestrap, which it made.
