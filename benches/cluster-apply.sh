#!/usr/bin/env bash
# `kubestrap cluster apply` of the testbed's two nodes (node1 control plane, node2 worker, over
# each node's sshd) beside the same steps by hand (`kubestrap init` on node1, then `kubestrap
# token create` and `kubestrap join` on node2), in one run, and a no-op re-apply. Prints each wall
# time, apply's own overhead (apply minus the by-hand total: connect, install, facts, preflight,
# orchestration) and the re-apply's time. Goals: overhead <= 2 s, no-op re-apply <= 3 s. As the
# by-hand join's time varies by seconds from run to run, it also prints apply's time outside the
# init and join it ran (their times from the hosts' logs): the overhead without that noise.
# As root, after `tests/testbed/testbed setup`; `RUNS=N` repeats the pair (medians printed).
set -euo pipefail
cd "$(dirname "$0")/.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/debug/kubestrap}
RUNS=${RUNS:-1}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build), or set KUBESTRAP" >&2; exit 1; }
WORK=$(mktemp -d)
chmod 755 "$WORK"
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
N2=$KUBESTRAP_TESTBED_NODE2_NAME
PORT=$KUBESTRAP_TESTBED_SSH_PORT
BIN=/opt/kubestrap/bin/kubestrap
IGNORE=--ignore-preflight-errors=FileExisting-crictl,KubeletVersion
SOCK=--cri-socket=unix://$KUBESTRAP_TESTBED_CRI_SOCKET

clean() {
	for n in node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n "$KS" reset -f >/dev/null 2>&1 || true
	done
}
finish() {
	clean
	$TB down >/dev/null || true
	rm -rf "$WORK"
}
trap finish EXIT
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
# Each command of the last apply, from the hosts' logs: host, seconds, the command (its first
# 70 characters) and whether it started a shell ("own") or ran in one started before ("ahead"),
# tab-separated; an entry starts "$ COMMAND" and ends "[exit code 0 after 17.32 s]".
steps() {
	for log in "$WORK"/logs/*.log; do
		awk -v host="$(basename "$log" .log)" 'index($0, "$ ") == 1 { cmd = substr($0, 3, 70); shell = index($0, "(in the shell started ahead)") ? "ahead" : "own" }
			match($0, /after [0-9.]+ s\]$/) { printf "%s\t%s\t%s\t%s\n", host, substr($0, RSTART + 6, RLENGTH - 9), cmd, shell }' "$log"
	done
}
# How long the first command on host $1 that holds $2 took, in ms.
remote_ms() { awk -F'\t' -v host="$1" -v pat="$2" '$1 == host && index($3, pat) { printf "%d\n", $2 * 1000; exit }' "$WORK/steps"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

$TB up >/dev/null 2>&1
$TB join -- true >/dev/null 2>&1
for n in node1 node2; do
	[ $n = node1 ] && ip=$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS || ip=$KUBESTRAP_TESTBED_NODE2_IP
	echo "[$ip]:$PORT $(cut -d' ' -f1,2 "$KUBESTRAP_TESTBED_SSH_HOST_KEYS/$n-host-key.pub")"
done >"$WORK/known_hosts"
cfg=$(config kubeadm)
cat >"$WORK/cluster.yaml" <<EOF
apiVersion: kubestrap.io/v1alpha1
kind: Cluster
binaryPath: $BIN
kubeadmConfigPath: $cfg
hosts:
- {address: $KUBESTRAP_TESTBED_ADVERTISE_ADDRESS, port: $PORT, keyPath: $KUBESTRAP_TESTBED_SSH_KEY, role: control-plane}
- {address: $KUBESTRAP_TESTBED_NODE2_IP, port: $PORT, keyPath: $KUBESTRAP_TESTBED_SSH_KEY, role: worker}
EOF
apply() { "$KS" cluster apply -f "$WORK/cluster.yaml" --known-hosts "$WORK/known_hosts" --logs "$WORK/logs" >"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; exit 1; }; }

for run in $(seq "$RUNS"); do
	clean
	t0=$(date +%s%N)
	$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; exit 1; }
	init=$(ms "$t0")
	t0=$(date +%s%N)
	read -r -a JOIN <<<"$("$KS" token create --print-join-command)"
	JOIN[0]=$KS
	$TB exec node2 "${JOIN[@]}" "$IGNORE" "$SOCK" >"$WORK/join.log" 2>&1 || { cat "$WORK/join.log" >&2; exit 1; }
	join=$(ms "$t0")
	by_hand=$((init + join))
	clean
	# apply copies kubestrap to both nodes (node2's /opt/kubestrap is its own).
	rm -f "$BIN"
	$TB exec node2 rm -f "$BIN"
	rm -rf "$WORK/logs"
	t0=$(date +%s%N)
	apply
	applied=$(ms "$t0")
	steps >"$WORK/steps"
	# The init and the join as apply ran them, out of its own time.
	inner=$(($(remote_ms "$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS" "$BIN init ") +
		$(remote_ms "$KUBESTRAP_TESTBED_NODE2_IP" "$BIN join ")))
	t0=$(date +%s%N)
	apply
	noop=$(ms "$t0")
	grep -q "nothing to do" "$WORK/apply.log" || { cat "$WORK/apply.log" >&2; exit 1; }
	printf 'run %d: by hand %d ms (init %d + join %d), cluster apply %d ms, overhead %d ms; its init and join %d ms, the rest %d ms; no-op re-apply %d ms\n' \
		"$run" "$by_hand" "$init" "$join" "$applied" $((applied - by_hand)) "$inner" $((applied - inner)) "$noop"
	echo "$by_hand $applied $((applied - by_hand)) $noop $((applied - inner))" >>"$WORK/runs"
done
# Every command over SSH starts root's login shell on the host, and bash started by sshd reads
# ~/.bashrc: its start-up as sshd makes it, on node1 (this machine), and how many such starts
# lie on apply's path: node1's commands that start a shell but the labels' one (started during
# the joins), and node2's join when it starts one (node2's first command runs beside node1's).
shell=$(for _ in 1 2 3 4 5; do
	t0=$(date +%s%N)
	env -i HOME=/root PATH=/usr/bin:/bin SSH_CLIENT="127.0.0.1 1 2" SHLVL=0 "$(getent passwd root | cut -d: -f7)" -c true
	ms "$t0"
done | median)
on_path=$(awk -F'\t' -v host="$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS" '$4 == "own" && (($1 == host && !index($3, "cluster agent nodes")) || ($1 != host && index($3, " join ")))' "$WORK/steps" | wc -l)
echo "the last apply's commands, per host, with their times (+: in the shell started before it):"
awk -F'\t' '{ printf "  %-12s %6.2f s %s %s\n", $1, $2, ($4 == "ahead" ? "+" : " "), $3 }' "$WORK/steps"
col() { cut -d' ' -f"$1" "$WORK/runs" | median; }
printf 'median of %d: by hand %d ms, cluster apply %d ms, overhead %d ms (goal <= 2000; apply outside its own init and join: %d ms), no-op re-apply %d ms (goal <= 3000)\n' \
	"$RUNS" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 5)" "$(col 4)"
printf 'root login shell start-up here (bash reading ~/.bashrc, as sshd starts it): %d ms a command; %d commands on apply'"'"'s path: %d ms\n' \
	"$shell" "$on_path" $((shell * on_path))
