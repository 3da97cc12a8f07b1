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
RUNS=${RUNS:-3}
WORK=$(mktemp -d)
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
trap '$TB stop-kubelet node1 >/dev/null 2>&1 || true; $TB exec node1 kubeadm reset -f >/dev/null 2>&1 || true; $TB down >/dev/null; rm -rf "$WORK"' EXIT

now() { date +%s.%N; }

# watch_healthz FILE: writes the time of the API server's first healthy /healthz to FILE.
watch_healthz() {
	local url="https://$KUBESTRAP_TESTBED_API_ENDPOINT/healthz"
	until [ "$(curl -sk -m 1 "$url" 2>/dev/null)" = ok ]; do sleep 0.05; done
	now >"$1"
}

# run NAME CMD...: one timed init, then a reset. Prints NAME, wall and own time.
run() {
	local name=$1 t0 t1 first healthy
	shift
	rm -f "$WORK/healthy"
	watch_healthz "$WORK/healthy" &
	local watcher=$!
	t0=$(now)
	$TB exec node1 "$@" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out" >&2; kill $watcher; return 1; }
	t1=$(now)
	wait $watcher || true
	first=$(stat -c %.9Y /etc/kubernetes/manifests/*.yaml | sort -n | head -1)
	healthy=$(cat "$WORK/healthy")
	python3 -c 'import sys; n,t0,t1,f,h=sys.argv[1],*map(float,sys.argv[2:]); print(f"{n:<10} wall {t1-t0:6.2f} s   own {t1-t0-(h-f):6.2f} s")' \
		"$name" "$t0" "$t1" "$first" "$healthy"
	$TB stop-kubelet node1
	$TB exec node1 kubeadm reset -f --cri-socket="$KUBESTRAP_TESTBED_CRI_SOCKET" >/dev/null 2>&1
}

cfg=$(config init)
sed 's#kubeadm.k8s.io/v1beta3#kubeadm.k8s.io/v1beta2#' "$cfg" >"$WORK/kubeadm.yaml"
$TB up >/dev/null
for i in $(seq "$RUNS"); do
	run "kubeadm-$i" kubeadm init --config "$WORK/kubeadm.yaml" --skip-phases=addon/coredns --ignore-preflight-errors=ImagePull
	run "kubestrap-$i" "$KS" init --config "$cfg" --skip-phases=addon/coredns
done
