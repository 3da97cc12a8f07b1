#!/usr/bin/env bash
# Speed of `kubestrap join --control-plane` against `kubeadm join --control-plane` (v1.20.2) on the
# testbed (as root, after `testbed setup`): node1 is initialised once by kubestrap with
# --control-plane-endpoint and --upload-certs, then node2 joins as a control-plane node RUNS times
# with each tool, alternating, reset in between (which removes its etcd member). For each run it
# prints the wall time from the start of the command to node2's etcd member started and to node2's
# kube-apiserver answering /readyz, and to the command's exit; then the medians.
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
N2_IP=$KUBESTRAP_TESTBED_NODE2_IP

now() { date +%s.%N; }

# watch OUT: writes "<member started time> <readyz time>" to OUT, polling node1's etcd for a
# started member named node2 every 50 ms, and node2's API server's /readyz (anonymous) likewise.
watch() {
	python3 - "$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS" "$N2" "$N2_IP" "$1" <<'PY'
import json, ssl, subprocess, sys, time, urllib.request
etcd, node, ip, out = sys.argv[1:]
pki = "/etc/kubernetes/pki/etcd/"
tls = ssl.create_default_context(cafile=pki + "ca.crt")
tls.load_cert_chain(pki + "healthcheck-client.crt", pki + "healthcheck-client.key")
insecure = ssl.create_default_context()
insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
deadline = time.time() + 600
t_member = t_ready = None
while (t_member is None or t_ready is None) and time.time() < deadline:
    if t_member is None:
        try:
            req = urllib.request.Request(f"https://{etcd}:2379/v3/cluster/member/list", data=b"{}", method="POST")
            members = json.load(urllib.request.urlopen(req, context=tls, timeout=2)).get("members", [])
            if any(m.get("name") == node and not m.get("isLearner") for m in members):
                t_member = time.time()
        except OSError:
            pass
    if t_ready is None:
        try:
            if urllib.request.urlopen(f"https://{ip}:6443/readyz", context=insecure, timeout=2).status == 200:
                t_ready = time.time()
        except OSError:
            pass
    time.sleep(0.05)
open(out, "w").write(f"{t_member or 0:.6f} {t_ready or 0:.6f}\n")
PY
}

# run NAME CMD...: one timed control-plane join of node2, then its reset.
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
	read -r member ready <"$WORK/times"
	python3 -c 'import sys; n,t0,t1,m,r=sys.argv[1],*map(float,sys.argv[2:]); print(f"{n:<12} etcd member {m-t0:6.2f} s   apiserver ready {r-t0:6.2f} s   exit {t1-t0:6.2f} s")' \
		"$name" "$t0" "$t1" "$member" "$ready" | tee -a "$WORK/results"
	$TB exec node2 "$KS" reset --force >/dev/null 2>&1
	k delete node "$N2" --wait=false >/dev/null 2>&1 || true
	sleep 3 # containerd removes the reset containers' snapshots in the background
}

cfg=$(config init "controlPlaneEndpoint: $KUBESTRAP_TESTBED_API_ENDPOINT")
$TB up >/dev/null
$TB exec node1 "$KS" reset --force >/dev/null 2>&1 || true
$TB exec node1 "$KS" init --config "$cfg" --upload-certs -o json >"$WORK/init.json" 2>"$WORK/init.out" ||
	{ cat "$WORK/init.out" >&2; exit 1; }
read -r -a JOIN <<<"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["controlPlaneJoinCommands"][0])' "$WORK/init.json")"
JOIN[0]=$KS
$TB join -- true >/dev/null
# kubeadm's kubelet drop-in on node2 (kubestrap writes none beside it).
[ "${ONLY:-}" = kubestrap ] || $TB kubeadm-package node2 >/dev/null
COMMON=(--apiserver-advertise-address "$N2_IP" --cri-socket "unix://$KUBESTRAP_TESTBED_CRI_SOCKET")
sleep 5 # the controller-manager signs cluster-info for the token
for i in $(seq "$RUNS"); do
	[ "${ONLY:-}" = kubestrap ] ||
		run "kubeadm-$i" kubeadm "${JOIN[@]:1}" "${COMMON[@]}" --ignore-preflight-errors=ImagePull
	run "kubestrap-$i" "${JOIN[@]}" "${COMMON[@]}" --ignore-preflight-errors=FileExisting-crictl,KubeletVersion,ImagePull
done
echo "medians of $RUNS runs:"
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for tool in ("kubeadm", "kubestrap"):
    mine = [r for r in rows if r[0].startswith(tool + "-")]
    if mine:
        med = lambda i: statistics.median(float(r[i]) for r in mine)
        print(f"{tool:<12} etcd member {med(3):6.2f} s   apiserver ready {med(7):6.2f} s   exit {med(10):6.2f} s")
PY
