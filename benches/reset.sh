#!/usr/bin/env bash
# Speed of `kubestrap reset -f` right after `kubestrap init` on the testbed (as root, after
# `testbed setup`): RUNS times (default 3), init (until the node is Ready), then a timed reset.
# Prints each run's reset wall time, then the median (the target is 1 s).
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
times=()
for i in $(seq "$RUNS"); do
	$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init.out" 2>&1 || { cat "$WORK/init.out" >&2; exit 1; }
	until_ok 120 node_ready || { echo "node not Ready" >&2; exit 1; }
	t0=$(date +%s%N)
	$TB exec node1 "$KS" reset --force >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; exit 1; }
	ms=$((($(date +%s%N) - t0) / 1000000))
	times+=("$ms")
	printf 'run %d: kubestrap reset -f right after init: %d ms\n' "$i" "$ms"
	# The testbed's systemctl stand-in returns before the kubelet has exited (systemd waits).
	until_ok 30 python3 -c 'import socket; socket.socket().bind(("", 10250))' || { echo "the kubelet still listens" >&2; exit 1; }
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'kubestrap reset -f right after init, median of %d: %d ms\n' "$RUNS" "$median"
