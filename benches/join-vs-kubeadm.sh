#!/usr/bin/env bash
# Speed of `kubestrap join` against its peer `kubeadm join` (v1.20.2) on the testbed (as root,
# after `testbed setup`): node1 is initialised once by kubestrap, then node2 joins RUNS times
# with each tool, alternating, reset in between. For each run it prints the wall time from the
# start of the command to node2's kubelet.conf (the end of the TLS bootstrap), to the Node Ready,
# and to the command's exit; then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/release/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build --release), or set KUBESTRAP" >&2; exit 1; }
RUNS=${RUNS:-3} # ONLY=kubestrap skips the kubeadm runs
WORK=$(mktemp -d)
chmod 755 "$WORK"
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
cleanup() {
	for n in node2 node1; do $TB exec $n "$KS" reset --force >/dev/null 2>&1 || true; done
	$TB down >/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
N2=$KUBESTRAP_TESTBED_NODE2_NAME
RUN_DIR=${KUBESTRAP_TESTBED_RUN:-/run/kubestrap-testbed}
# node2's /etc/kubernetes as the host sees it.
N2_KUBECONF=$RUN_DIR/node2/root/etc/kubernetes/kubelet.conf

now() { date +%s.%N; }

# watch OUT: writes "<kubelet.conf time> <Ready time>" to OUT. One Python process: it stats the
# file every 10 ms, then asks the API server (admin credentials) for the Node every 50 ms, so the
# measuring takes little CPU from the tool.
watch() {
	python3 - "$KUBESTRAP_TESTBED_API_ENDPOINT" "$N2" "$N2_KUBECONF" "$WORK" "$1" <<'PY'
import base64, json, os, re, socket, ssl, sys, time
endpoint, node, conf, work, out = sys.argv[1:]
host, port = endpoint.rsplit(":", 1)
admin = open("/etc/kubernetes/admin.conf").read()
for key, name in (("client-certificate-data", "c.pem"), ("client-key-data", "k.pem")):
    value = re.search(rf"{key}: (\S+)", admin).group(1)
    open(os.path.join(work, name), "wb").write(base64.b64decode(value))
tls = ssl.create_default_context()
tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
tls.load_cert_chain(os.path.join(work, "c.pem"), os.path.join(work, "k.pem"))
deadline = time.time() + 300
while not os.path.exists(conf) and time.time() < deadline:
    time.sleep(0.01)
t_conf = time.time()
def ready():
    with socket.create_connection((host, int(port)), timeout=2) as raw, tls.wrap_socket(raw) as s:
        s.sendall(f"GET /api/v1/nodes/{node} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0]:
        return False
    if b"Transfer-Encoding: chunked" in head:
        raw, body = body, b""
        while raw:
            size, _, rest = raw.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            body, raw = body + rest[:n], rest[n + 2:]
    conds = json.loads(body).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
while time.time() < deadline:
    try:
        if ready():
            break
    except OSError:
        pass
    time.sleep(0.05)
open(out, "w").write(f"{t_conf:.6f} {time.time():.6f}\n")
PY
}

# run NAME CMD...: one timed join of node2, then its reset.
run() {
	local name=$1 t0 t1
	shift
	rm -f "$WORK/times"
	watch "$WORK/times" &
	local watcher=$!
	sleep 0.5 # the watcher's start-up stays out of the measured time
	t0=$(now)
	$TB exec node2 "$@" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out" >&2; kill $watcher; return 1; }
	t1=$(now)
	wait $watcher || true
	read -r conf ready <"$WORK/times"
	python3 -c 'import sys; n,t0,t1,c,r=sys.argv[1],*map(float,sys.argv[2:]); print(f"{n:<12} kubelet.conf {c-t0:6.2f} s   Ready {r-t0:6.2f} s   exit {t1-t0:6.2f} s")' \
		"$name" "$t0" "$t1" "$conf" "$ready" | tee -a "$WORK/results"
	if [[ $name == kubestrap-* ]]; then
		sed -n '/^{/,$p' "$WORK/$name.out" | python3 -c 'import json, sys
phases = json.load(sys.stdin)["phases"]
print("             " + ", ".join("%s %.2f s" % (p["phase"], p["seconds"]) for p in phases))'
	fi
	$TB exec node2 "$KS" reset --force >/dev/null 2>&1
	kubectl --kubeconfig /etc/kubernetes/admin.conf delete node "$N2" --wait=false >/dev/null 2>&1 || true
	sleep 3 # containerd removes the reset containers' snapshots in the background
}

cfg=$(config init)
$TB up >/dev/null
$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true
$TB exec node1 "$KS" init --config "$cfg" --skip-phases=addon/coredns >"$WORK/init.out" 2>&1 || { cat "$WORK/init.out" >&2; exit 1; }
$TB join -- true >/dev/null
read -r -a JOIN <<<"$("$KS" token create --print-join-command)"
JOIN[0]=$KS
SOCK=--cri-socket=unix://$KUBESTRAP_TESTBED_CRI_SOCKET
# The controller-manager signs cluster-info for the new token within a second or two.
sleep 5
for i in $(seq "$RUNS"); do
	[ "${ONLY:-}" = kubestrap ] || run "kubeadm-$i" kubeadm "${JOIN[@]:1}" "$SOCK" --ignore-preflight-errors=ImagePull
	run "kubestrap-$i" "${JOIN[@]}" "$SOCK" --ignore-preflight-errors=FileExisting-crictl,KubeletVersion -o json
done
echo "medians of $RUNS runs:"
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for tool in ("kubeadm", "kubestrap"):
    mine = [r for r in rows if r[0].startswith(tool + "-")]
    if not mine:
        continue
    med = lambda i: statistics.median(float(r[i]) for r in mine)
    worst = max(float(r[2]) for r in mine)
    print(f"{tool:<12} kubelet.conf {med(2):6.2f} s (worst {worst:.2f})   Ready {med(5):6.2f} s   exit {med(8):6.2f} s")
PY
