#!/usr/bin/env bash
# Is an init resumed after a kill during wait-control-plane slower than a fresh one? On the
# testbed (as root, after `testbed setup`), RUNS times (default 3) each: a fresh `kubestrap init`,
# and an init killed right after kubelet-start (KUBESTRAP_TEST_CRASH, as `kill -9` would) then run
# again; both timed until the node is Ready, a reset between runs. Prints each run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/release/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build --release), or set KUBESTRAP" >&2; exit 1; }
RUNS=${RUNS:-3}
WORK=$(mktemp -d)
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
trap '$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true; $TB down >/dev/null; rm -rf "$WORK"' EXIT

cfg=$(config bench)
$TB up >/dev/null 2>&1
$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true
# timed_init NAME: ms from the start of `kubestrap init` to a Ready node.
timed_init() {
	local t0
	t0=$(date +%s%N)
	$TB exec node1 "$KS" init --config "$cfg" >"$WORK/$1.out" 2>&1 || { cat "$WORK/$1.out" >&2; exit 1; }
	until_ok 120 node_ready || { echo "$1: node not Ready" >&2; exit 1; }
	echo $((($(date +%s%N) - t0) / 1000000))
}
reset() {
	$TB exec node1 "$KS" reset --force >/dev/null 2>&1
	until_ok 30 python3 -c 'import socket; socket.socket().bind(("", 10250))' || { echo "the kubelet still listens" >&2; exit 1; }
}
fresh=() resumed=()
for i in $(seq "$RUNS"); do
	fresh+=("$(timed_init "fresh-$i")")
	reset
	if $TB exec node1 env KUBESTRAP_TEST_CRASH=after:kubelet-start "$KS" init --config "$cfg" >"$WORK/crash-$i.out" 2>&1; then
		echo "the injected crash did not happen" >&2
		exit 1
	fi
	resumed+=("$(timed_init "resumed-$i")")
	grep -q "resuming after" "$WORK/resumed-$i.out" || { cat "$WORK/resumed-$i.out" >&2; echo "run $i did not resume" >&2; exit 1; }
	reset
	printf 'run %d: fresh init %d ms, resumed init (killed during wait-control-plane) %d ms\n' "$i" "${fresh[-1]}" "${resumed[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf 'median of %d: fresh %d ms, resumed %d ms\n' "$RUNS" "$(median "${fresh[@]}")" "$(median "${resumed[@]}")"
