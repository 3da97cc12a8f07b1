#!/usr/bin/env bash
# Runs the test suites again and again to show whether a failure is a flake: each failing run's
# log is kept, and a summary counts the passed and failed runs of each suite. Not part of CI.
#
#   tests/stress.sh --cargo 5 --hog          # `cargo test --workspace` 5 times beside a CPU hog
#   tests/stress.sh --apiserver 5 --init 3   # the end-to-end scripts (need the testbed, as root)
#   tests/stress.sh -n 3                     # every suite 3 times
#
# Options:
#   --cargo N       `cargo test --workspace` N times
#   --apiserver N   tests/e2e/apiserver.sh N times
#   --init N        tests/e2e/init.sh N times (the testbed)
#   --join N        tests/e2e/join.sh N times (the testbed)
#   -n N            every suite N times
#   --hog           while the runs go on, build the workspace again and again into a target
#                   folder of its own (a busy machine, as in CI beside other builds)
#   --logs DIR      where the logs go (default: a new temporary folder)
# Exit status: 0 when every run passed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,19s/^# \{0,1\}//p' "$0" >&2; exit 2; }
cargo_runs=0 apiserver_runs=0 init_runs=0 join_runs=0 hog=false logs=""
while (($#)); do
	case $1 in
	--cargo) cargo_runs=${2:?}; shift ;;
	--apiserver) apiserver_runs=${2:?}; shift ;;
	--init) init_runs=${2:?}; shift ;;
	--join) join_runs=${2:?}; shift ;;
	-n) cargo_runs=${2:?} apiserver_runs=$2 init_runs=$2 join_runs=$2; shift ;;
	--hog) hog=true ;;
	--logs) logs=${2:?}; shift ;;
	*) usage ;;
	esac
	shift
done
for n in "$cargo_runs" "$apiserver_runs" "$init_runs" "$join_runs"; do [[ $n =~ ^[0-9]+$ ]] || usage; done
((cargo_runs + apiserver_runs + init_runs + join_runs > 0)) || usage
own_logs=false
if [ -n "$logs" ]; then mkdir -p "$logs"; else logs=$(mktemp -d -t kubestrap-stress.XXXXXX) own_logs=true; fi
logs=$(cd "$logs" && pwd)

hog_pid=""
stop_hog() {
	[ -n "$hog_pid" ] || return 0
	kill -- -"$hog_pid" 2>/dev/null || true
	wait "$hog_pid" 2>/dev/null || true
	hog_pid=""
	rm -rf "$logs/hog-target"
}
trap stop_hog EXIT
if $hog; then
	# Its own session, so that the whole build (cargo, rustc, linkers) stops with it.
	setsid bash -c 'while :; do
		cargo build --workspace --all-targets --target-dir "$1/hog-target" >>"$1/hog.log" 2>&1
		rm -rf "$1/hog-target"
	done' hog "$logs" &
	hog_pid=$!
	echo "CPU hog: a workspace build looping into $logs/hog-target (pid $hog_pid)"
fi

summary=()
failed_total=0
# suite NAME RUNS CMD...: runs CMD RUNS times; keeps the logs of the failed runs.
suite() {
	local name=$1 runs=$2 i passed=0 failed=0 log start rc
	shift 2
	((runs > 0)) || return 0
	for ((i = 1; i <= runs; i++)); do
		log="$logs/$name-$i.log"
		start=$(date +%s)
		rc=0
		"$@" >"$log" 2>&1 </dev/null || rc=$?
		if [ "$rc" = 0 ]; then
			passed=$((passed + 1))
			rm -f "$log"
			echo "$name run $i/$runs: passed ($(($(date +%s) - start)) s)"
		else
			failed=$((failed + 1))
			echo "$name run $i/$runs: FAILED, exit $rc ($(($(date +%s) - start)) s), log $log"
			tail -n 15 "$log" | sed 's/^/    /'
		fi
	done
	failed_total=$((failed_total + failed))
	summary+=("$(printf '%-11s %d passed, %d failed' "$name:" "$passed" "$failed")")
}

suite cargo-test "$cargo_runs" cargo test --workspace
if ((apiserver_runs + init_runs + join_runs > 0)); then
	cargo build --quiet
fi
suite apiserver "$apiserver_runs" bash tests/e2e/apiserver.sh
suite init "$init_runs" bash tests/e2e/init.sh
suite join "$join_runs" bash tests/e2e/join.sh
stop_hog

echo
echo "== summary$($hog && echo " (beside a CPU hog)")"
printf '%s\n' "${summary[@]}"
if ((failed_total > 0)); then
	echo "logs of the failed runs: $logs"
	exit 1
fi
if $own_logs; then rm -rf "$logs"; fi
