#!/usr/bin/env bash
# `kubestrap cluster apply` of two control planes over SSH, node2 reached as a user who is not
# root, through `sudo -n` (the testbed's real v1.20.2 nodes; run as root after `testbed setup`):
#   - node2 as a user whose sudo asks for a password, or as a user other than root without
#     `sudo: true`: refused before anything runs, with the hint; nothing on either node;
#   - node1 (root) and node2 (the testbed's SSH user, `sudo: true`) both `role: control-plane`:
#     init on node1 with the certificates uploaded, node2 joins as a control plane through sudo
#     (the certificate key on no command line any process of the machine had, its config file
#     0600 and root's); both Ready, node2 with the control-plane label, etcd with two members,
#     node2's kube-apiserver answering on node2's address;
#   - a second apply changes nothing (no file on either node changes) and says so per host;
#   - `cluster status` shows both as control planes;
#   - `cluster reset` resets node2 (removing its etcd member) before node1, and leaves both
#     hosts clean (`reset --verify` on each).
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
N1_IP=$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS
EP=$KUBESTRAP_TESTBED_API_ENDPOINT
PORT=$KUBESTRAP_TESTBED_SSH_PORT
SUDO_USER_OK=$KUBESTRAP_TESTBED_SSH_SUDO_USER
SUDO_USER_PW=$KUBESTRAP_TESTBED_SSH_PASSWORD_SUDO_USER
BIN=/opt/kubestrap/bin/kubestrap
PKI=/etc/kubernetes/pki

finish() {
	local rc=$?
	[ -z "${watcher:-}" ] || kill "$watcher" 2>/dev/null || true
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		members >&2 || true
		for f in "$WORK"/*.log "$WORK"/logs/*.log; do
			[ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 40 "$f" >&2; }
		done
	fi
	say "down"
	for n in node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n "$KS" reset -f >/dev/null 2>&1 || true
	done
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed cluster control-plane checks: 1 passed, 0 failed" ||
		echo "testbed cluster control-plane checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

# etcd's members as node1's etcd sees them: "name started|unstarted learner?" per line, sorted.
members() {
	ETCDCTL_API=3 etcdctl --endpoints "https://$N1_IP:2379" --cacert $PKI/etcd/ca.crt \
		--cert $PKI/etcd/healthcheck-client.crt --key $PKI/etcd/healthcheck-client.key \
		--command-timeout 10s member list | awk -F', ' '{print $3, $2, $6}' | sort
}

$TB up
$TB join -- true
KEY=$KUBESTRAP_TESTBED_SSH_KEY
ssh_known_hosts >"$WORK/known_hosts"
# A second control plane needs the endpoint every control plane serves behind.
config kubeadm "controlPlaneEndpoint: $EP" >/dev/null

# cluster_file NAME NODE2_USER NODE2_SUDO: node1 (root) and node2, both control planes.
cluster_file() {
	cat >"$WORK/$1" <<EOF
apiVersion: kubestrap.io/v1alpha1
kind: Cluster
binaryPath: $BIN
kubeadmConfigPath: kubeadm.yaml
hosts:
- address: $N1_IP
  port: $PORT
  keyPath: $KEY
  role: control-plane
- address: $N2_IP
  port: $PORT
  user: $2
  sudo: $3
  keyPath: $KEY
  role: control-plane
EOF
}
cluster_file cluster.yaml "$SUDO_USER_OK" true
cluster_file password.yaml "$SUDO_USER_PW" true
cluster_file no-sudo.yaml "$SUDO_USER_OK" false

kube_files() { $TB exec "$1" find /etc/kubernetes /var/lib/kubelet /var/lib/etcd -type f 2>/dev/null | sort; }
ready() { k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
# kubectl through node2's API server with node2's admin.conf.
k2() { kubectl --kubeconfig "$WORK/admin2.conf" --server "https://$N2_IP:6443" --cache-dir "$WORK/kubectl-cache2" "$@"; }
# untouched NAME: the refused apply NAME changed nothing: no file of the cluster, no kubestrap on
# either node.
untouched() {
	for n in node1 node2; do
		[ -z "$(kube_files $n)" ] || fail "$n has files after the refusal ($1): $(kube_files $n)"
		! $TB exec $n test -e "$BIN" || fail "kubestrap was copied to $n after the refusal ($1)"
	done
}

say "node2's sudo asks for a password: refused before anything runs"
cluster_apply password -f "$WORK/password.yaml"
[ $RC = 6 ] || fail "apply with a password for sudo exited $RC (want 6, nothing done): $(cat "$WORK/password.log")"
grep -q "$N2_IP: \`sudo -n\` needs a password for $SUDO_USER_PW: refused before anything ran" "$WORK/password.log" &&
	grep -q "hint: \`sudo -n\` needs a password for $SUDO_USER_PW on $N2_IP: allow it without one" "$WORK/password.log" &&
	grep -q "nothing was changed on any host" "$WORK/password.log" ||
	fail "no refusal with the hint: $(cat "$WORK/password.log")"
untouched password

say "node2's user is not root and the file has no sudo: refused before anything runs"
cluster_apply no-sudo -f "$WORK/no-sudo.yaml"
[ $RC = 6 ] || fail "apply as a user without sudo exited $RC (want 6, nothing done): $(cat "$WORK/no-sudo.log")"
grep -q "$N2_IP: $SUDO_USER_OK is not root (uid [0-9]*) and the host has no \`sudo: true\`" "$WORK/no-sudo.log" ||
	fail "no refusal of the user without sudo: $(cat "$WORK/no-sudo.log")"
untouched no-sudo

say "cluster apply: node1 and node2 (as $SUDO_USER_OK through sudo) both control planes"
# Every process's arguments on the machine (node2 shares its process table), and the mode, owner
# and certificate key of every config file apply writes, sampled while it runs.
(
	while :; do
		ps -eo user=,args= >>"$WORK/ps.txt"
		for f in /tmp/kubestrap-cluster-*; do
			# (Removed between the listing and the look: not seen.)
			mode=$(stat -c '%a %U' "$f" 2>/dev/null) || continue
			echo "$mode $(grep -ho 'certificateKey: *[0-9a-f]*' "$f" 2>/dev/null)" >>"$WORK/configs.txt"
		done
		sleep 0.2
	done
) &
watcher=$!
t0=$(date +%s%N)
cluster_apply first -f "$WORK/cluster.yaml" --admin-kubeconfig "$WORK/admin.conf"
echo "cluster apply took $((($(date +%s%N) - t0) / 1000000)) ms" >&2
kill "$watcher" && wait "$watcher" 2>/dev/null || true
watcher=""
[ $RC = 0 ] || fail "cluster apply exited $RC: $(cat "$WORK/first.log")"
grep -q "^connected to $SUDO_USER_OK@$N2_IP:$PORT" "$WORK/logs/$N2_IP.log" || fail "node2 was not reached as $SUDO_USER_OK"
grep -Eq "^done +$N1_IP: initialised the cluster" "$WORK/first.log" &&
	grep -Eq "^done +$N2_IP: joined as a control plane" "$WORK/first.log" ||
	fail "not init on node1 and a control-plane join of node2: $(cat "$WORK/first.log")"
# node2's join runs, as root with its time limit, in the shell that read node2's facts: as node2's
# user is not root, that shell came through `sudo -n` (node1's login is root's, without sudo).
grep -Eq "^root +sudo -n -- timeout " "$WORK/ps.txt" ||
	fail "no command on node2 ran through sudo: $(grep "sudo" "$WORK/ps.txt" | sort -u)"
grep -Eq "^root +timeout --kill-after=[0-9]+s [0-9]+s $BIN join( |$)" "$WORK/ps.txt" ||
	fail "node2's join did not run as root with its time limit: $(grep " join " "$WORK/ps.txt" | sort -u)"
sort -u "$WORK/configs.txt" >"$WORK/configs.seen"
cat "$WORK/configs.seen" >&2
key=$(sed -n 's/.*certificateKey: *\([0-9a-f]\{64\}\)$/\1/p' "$WORK/configs.seen" | sort -u)
[ "$(wc -l <<<"$key")" = 1 ] && [ -n "$key" ] || fail "not one certificate key in the config files: $(cat "$WORK/configs.seen")"
! grep -v '^600 root ' "$WORK/configs.seen" | grep -q . || fail "a config file was not 0600 and root's"
! grep -q "$key" "$WORK/ps.txt" || fail "the certificate key was on a command line: $(grep "$key" "$WORK/ps.txt" | sort -u)"
! grep -rq "$key" "$WORK/logs" "$WORK/first.log" || fail "the certificate key was logged: $(grep -rl "$key" "$WORK/logs" "$WORK/first.log")"
! ls /tmp/kubestrap-cluster-* >/dev/null 2>&1 || fail "a config file with secrets was left in /tmp"
k -n kube-system get secret kubeadm-certs >/dev/null || fail "the control-plane certificates were not uploaded"
until_ok 180 ready "$node" || fail "node1 is not Ready"
until_ok 180 ready "$N2" || fail "node2 is not Ready"
for n in "$node" "$N2"; do
	k get node "$n" -o jsonpath='{.metadata.labels}' | grep -q 'node-role.kubernetes.io/control-plane' ||
		fail "$n has no control-plane label"
done
want="$N2 started false
$node started false"
[ "$(members)" = "$(sort <<<"$want")" ] || fail "etcd members: $(members)"
[ "$($TB exec node2 stat -c '%a %U' "$BIN")" = "755 root" ] || fail "node2's kubestrap is not 0755 and root's"
$TB exec node2 cat /etc/kubernetes/admin.conf >"$WORK/admin2.conf"
until_ok 60 k2 get --raw /readyz || fail "node2's API server does not answer on $N2_IP"
[ "$(k2 get nodes -o name | wc -l)" = 2 ] || fail "node2's API server does not list both nodes"
kubectl --kubeconfig "$WORK/admin.conf" get nodes >/dev/null || fail "the fetched admin kubeconfig does not work"

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
	grep -Eq "^unchanged +$h: a control plane of this cluster already" "$WORK/second.log" ||
		fail "no 'unchanged' for $h: $(cat "$WORK/second.log")"
done
[ "$(members)" = "$(sort <<<"$want")" ] || fail "etcd members after the second apply: $(members)"

say "cluster status"
"$KS" cluster status -f "$WORK/cluster.yaml" --known-hosts "$WORK/known_hosts" --logs "$WORK/logs" >"$WORK/status.txt" 2>&1 ||
	fail "cluster status: $(cat "$WORK/status.txt")"
cat "$WORK/status.txt" >&2
for h in "$N1_IP" "$N2_IP"; do
	grep -Eq "^$h +control-plane +yes +v1\.20\.2 +True +20" "$WORK/status.txt" || fail "status of $h"
done

say "cluster reset: node2, then node1"
"$KS" cluster reset -f "$WORK/cluster.yaml" --yes --known-hosts "$WORK/known_hosts" --logs "$WORK/logs" >"$WORK/reset.log" 2>&1 ||
	fail "cluster reset: $(cat "$WORK/reset.log")"
at() { grep -n "^\[$1\] reset: $2" "$WORK/reset.log" | head -n1 | cut -d: -f1; }
n2_done=$(at "$N2_IP" "reset; nothing of the cluster left")
n1_started=$(at "$N1_IP" "kubestrap reset -f --verify")
[ -n "$n2_done" ] && [ -n "$n1_started" ] && [ "$n2_done" -lt "$n1_started" ] ||
	fail "node1 was not reset after node2 was done: $(cat "$WORK/reset.log")"
grep -q "Removed this node's member" "$WORK/logs/$N2_IP.log" || fail "node2's reset did not remove its etcd member"
for n in node1 node2; do
	out=$($TB exec $n "$KS" reset --verify -f 2>&1) ||
		fail "$n is not clean after cluster reset: $out
$($TB exec $n find /var/lib/etcd -printf '%TT %p\n' 2>&1; ps -eo pid,lstart,args | grep '[e]tcd')"
	[ -z "$(kube_files $n)" ] || fail "$n has files after cluster reset: $(kube_files $n)"
done
# The hosts' kubestrap goes with the testbed: `down` removes /opt/kubestrap, which it made.
