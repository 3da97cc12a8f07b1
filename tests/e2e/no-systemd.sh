#!/usr/bin/env bash
# `kubestrap init` on a host where systemd is not PID 1 (a container, WSL without systemd): the
# testbed's node1 with KUBESTRAP_TESTBED_SYSTEMD=off, whose `systemctl` answers "System has not
# been booted with systemd" and whose kubelet a supervisor runs from the start (run as root after
# `testbed setup`):
#   - init writes no systemd unit and calls no systemctl, warns with the kubelet's command line,
#     and waits for the kubelet the supervisor runs: the node gets Ready;
#   - that command line is exactly what the supervisor's kubelet runs with;
#   - reset says it cannot stop the kubelet; once the supervisor stopped it, reset --verify
#     finds the host clean.
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
RUN_DIR=$(readlink -m "${KUBESTRAP_TESTBED_RUN:-/run/kubestrap-testbed}")

finish() {
	local rc=$?
	if [ $rc != 0 ]; then
		k get nodes -o wide >&2 || true
		k get pods -A -o wide >&2 || true
		grep -E '^[EW][0-9]{4}|supervisor' "${KUBESTRAP_TESTBED_CACHE:-/var/cache/kubestrap-testbed}/logs/node1-kubelet-supervisor.log" | tail -n 40 >&2 || true
	fi
	say "down"
	$TB stop-kubelet node1 >/dev/null 2>&1 || true
	$TB exec node1 "$KS" reset -f >/dev/null 2>&1 || true
	$TB down || rc=1
	rm -rf "$WORK"
	[ $rc = 0 ] && echo "testbed no-systemd checks: 1 passed, 0 failed" || echo "testbed no-systemd checks: 0 passed, 1 failed"
	exit $rc
}
trap finish EXIT

say "a node whose systemctl cannot reach systemd"
KUBESTRAP_TESTBED_SYSTEMD=off $TB up
! $TB exec node1 systemctl daemon-reload 2>"$WORK/systemctl.err" || fail "the testbed's systemctl still answers"
grep -q "System has not been booted with systemd" "$WORK/systemctl.err" || fail "systemctl said: $(cat "$WORK/systemctl.err")"

say "kubestrap init"
cfg=$(config init)
units_before=$(find /etc/systemd/system -type f -o -type l | sort)
$TB exec node1 "$KS" init --config "$cfg" >"$WORK/init.out" 2>&1 || { cat "$WORK/init.out" >&2; fail "init failed"; }
grep -q "no service manager runs this host" "$WORK/init.out" || { cat "$WORK/init.out" >&2; fail "init did not warn"; }
! grep -qi "systemctl\|daemon-reload\|Writing the kubelet's systemd unit" "$WORK/init.out" || { cat "$WORK/init.out" >&2; fail "init used systemd"; }
[ "$(find /etc/systemd/system -type f -o -type l | sort)" = "$units_before" ] || fail "init wrote a systemd unit"
until_ok 120 node_ready || fail "node $node is not Ready"

say "the printed command line is what the supervisor's kubelet runs"
printed=$(grep -m1 '/kubelet --bootstrap-kubeconfig=' "$WORK/init.out" | sed 's/^[[:space:]]*//')
[ -n "$printed" ] || { cat "$WORK/init.out" >&2; fail "no kubelet command line in init's output"; }
pid=$(cat "$RUN_DIR/node1/kubelet.pid")
python3 - "$printed" "$pid" <<'PY' || fail "the kubelet runs with other arguments than init printed"
import shlex, sys
printed = shlex.split(sys.argv[1])
env = dict(w.split("=", 1) for w in printed if "=" in w and not w.startswith("-") and "/" not in w.split("=", 1)[0])
words = [w for w in printed if w.split("=", 1)[0] not in env]
running = open(f"/proc/{sys.argv[2]}/cmdline", "rb").read().split(b"\0")[:-1]
running = [a.decode() for a in running]
environ = dict(e.decode().split("=", 1) for e in open(f"/proc/{sys.argv[2]}/environ", "rb").read().split(b"\0") if b"=" in e)
# The program may be found under another folder of the PATH; its arguments must be the same.
assert words[0].endswith("/kubelet") and running[0].endswith("/kubelet"), (words, running)
assert words[1:] == running[1:], f"printed {words[1:]}\nrunning {running[1:]}"
assert all(environ.get(k) == v for k, v in env.items()), (env, environ)
print("same arguments:", len(running) - 1, "; same environment:", sorted(env))
PY

say "reset"
$TB exec node1 "$KS" reset -f >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "reset failed"; }
grep -q "no service manager runs here, so kubestrap cannot stop the kubelet" "$WORK/reset.out" || { cat "$WORK/reset.out" >&2; fail "reset did not say it cannot stop the kubelet"; }
$TB stop-kubelet node1
$TB exec node1 "$KS" reset -f --verify >"$WORK/reset.out" 2>&1 || { cat "$WORK/reset.out" >&2; fail "reset --verify found leftovers"; }
grep -q "nothing is left" "$WORK/reset.out" || { cat "$WORK/reset.out" >&2; fail "reset --verify did not say the host is clean"; }
