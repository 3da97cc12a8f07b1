#!/usr/bin/env bash
# Speed of `kubestrap init` against its peer `kubeadm init` (v1.20.2) on the testbed (as root,
# after `testbed setup`): three runs each, alternating, with a reset in between. For each run it
# prints the wall time and the tool's own time: the wall time minus the span from the first
# static Pod manifest written to the API server's first healthy /healthz (the kubelet's part).
set -euo pipefail
cd "$(dirname "$0")/.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/release/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build --release), or set KUBESTRAP" >&2; exit 1; }
RUNS=${RUNS:-3} # ONLY=kubestrap skips the kubeadm runs
WORK=$(mktemp -d)
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
trap '$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true; $TB down >/dev/null; rm -rf "$WORK"' EXIT

now() { date +%s.%N; }

# watch_healthz FILE: writes the time of the API server's first healthy /healthz to FILE. One
# Python process that only looks at the manifests folder until the first manifest appears, so
# the measuring takes no CPU from the tool while it works (curl processes 20 times a second did).
watch_healthz() {
	python3 - "$KUBESTRAP_TESTBED_API_ENDPOINT" "$1" <<'PY'
import glob, socket, ssl, sys, time
host, port = sys.argv[1].rsplit(":", 1)
tls = ssl.create_default_context()
tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
while not glob.glob("/etc/kubernetes/manifests/*.yaml"):
    time.sleep(0.01)
while True:
    try:
        with socket.create_connection((host, int(port)), timeout=1) as raw, tls.wrap_socket(raw) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        if b" 200 " in head.split(b"\r\n")[0] and body.strip() == b"ok":
            break
    except OSError:
        pass
    time.sleep(0.02)
open(sys.argv[2], "w").write(f"{time.time():.6f}")
PY
}

# run NAME CMD...: one timed init, then a reset. Prints NAME, wall and own time.
run() {
	local name=$1 t0 t1 first healthy
	shift
	rm -f "$WORK/healthy"
	watch_healthz "$WORK/healthy" &
	local watcher=$!
	sleep 0.5 # the watcher's start-up stays out of the measured time
	t0=$(now)
	$TB exec node1 "$@" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out" >&2; kill $watcher; return 1; }
	t1=$(now)
	wait $watcher || true
	first=$(stat -c %.9Y /etc/kubernetes/manifests/*.yaml | sort -n | head -1)
	healthy=$(cat "$WORK/healthy")
	python3 -c 'import sys; n,t0,t1,f,h=sys.argv[1],*map(float,sys.argv[2:]); print(f"{n:<12} wall {t1-t0:6.2f} s   own {t1-t0-(h-f):6.2f} s")' \
		"$name" "$t0" "$t1" "$first" "$healthy" | tee -a "$WORK/results"
	# kubestrap's -o json timings: where its own time goes.
	if [[ $name == kubestrap-* ]]; then
		sed -n '/^{/,$p' "$WORK/$name.out" | python3 -c 'import json, sys
phases = json.load(sys.stdin)["phases"]
names = [p["phase"] for p in phases]
wait = names.index("wait-control-plane")
before = sum(p["seconds"] for p in phases[:wait])
after = sum(p["seconds"] for p in phases[wait + 1:])
print(f"             phases before wait-control-plane {before:.2f} s, after it {after:.2f} s")'
	fi
	# One reset for both tools (kubeadm v1.20's hung for minutes in one run here).
	$TB exec node1 "$KS" reset --force >/dev/null 2>&1
	sleep 3 # containerd removes the reset containers' snapshots in the background
}

cfg=$(config init)
sed 's#kubeadm.k8s.io/v1beta3#kubeadm.k8s.io/v1beta2#' "$cfg" >"$WORK/kubeadm.yaml"
$TB up >/dev/null
for i in $(seq "$RUNS"); do
	[ "${ONLY:-}" = kubestrap ] || run "kubeadm-$i" kubeadm init --config "$WORK/kubeadm.yaml" --skip-phases=addon/coredns --ignore-preflight-errors=ImagePull
	run "kubestrap-$i" "$KS" init --config "$cfg" --skip-phases=addon/coredns -o json
done
echo "medians of $RUNS runs:"
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for tool in ("kubeadm", "kubestrap"):
    mine = [r for r in rows if r[0].startswith(tool + "-")]
    if not mine:
        continue
    wall = statistics.median(float(r[2]) for r in mine)
    own = statistics.median(float(r[5]) for r in mine)
    print(f"{tool:<12} wall {wall:6.2f} s   own {own:6.2f} s")
PY
