#!/usr/bin/env bash
# Speed of `kubestrap upgrade apply` against `kubeadm upgrade apply` from v1.20.2 to the testbed's
# v1.20.3 (the same source re-stamped) on the testbed (as root, after `testbed setup`): for each
# run a two-node cluster is made by the tool (init on node1 without CoreDNS, join of node2), the
# control plane is upgraded and timed, and both nodes are reset; the tools alternate, RUNS runs
# each. It prints each run's wall time of `upgrade apply` and, per component, the time from its
# new manifest being written to the tool saying it runs; then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
TB=tests/testbed/testbed
KS=${KUBESTRAP:-$PWD/target/release/kubestrap}
[ -x "$KS" ] || { echo "build kubestrap first (cargo build --release), or set KUBESTRAP" >&2; exit 1; }
RUNS=${RUNS:-3}
WORK=$(mktemp -d)
chmod 755 "$WORK"
eval "$($TB facts)"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
CUR=$KUBESTRAP_TESTBED_KUBERNETES_VERSION
NEXT=$KUBESTRAP_TESTBED_NEXT_VERSION
SOCK=$KUBESTRAP_TESTBED_CRI_SOCKET
KUBEADM_IGNORE=ImagePull,CoreDNSUnsupportedPlugins,CoreDNSMigration
reset_nodes() {
	for n in node2 node1; do
		$TB stop-kubelet $n >/dev/null 2>&1 || true
		$TB exec $n kubeadm reset -f --cri-socket="$SOCK" >/dev/null 2>&1 || true
		$TB kubeadm-package $n remove >/dev/null 2>&1 || true
	done
	k delete node "$KUBESTRAP_TESTBED_NODE2_NAME" --ignore-not-found >/dev/null 2>&1 || true
}
cleanup() {
	reset_nodes
	$TB down >/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# stamped OUT CMD...: runs CMD, each output line prefixed with the seconds since it started.
stamped() {
	local out=$1
	shift
	"$@" 2>&1 | python3 -c '
import sys, time
t0 = time.time()
for line in sys.stdin:
    print(f"{time.time() - t0:.2f} {line}", end="", flush=True)
' >"$out"
}

# waits OUT TOOL: "component=seconds" for each component, from its new manifest to "it runs".
waits() {
	python3 - "$1" "$2" <<'PY'
import re, sys
out, tool = sys.argv[1:]
start, took = {}, {}
for line in open(out):
    t, _, text = line.partition(" ")
    if tool == "kubestrap":
        m = re.search(r"Moved the new manifest of (\S+) ", text)
        d = re.search(r"\] (\S+) is ready \(hash", text)
    else:
        m = re.search(r'Moved new manifest to "/etc/kubernetes/manifests/(\S+)\.yaml"', text)
        d = re.search(r'Component "(\S+)" upgraded successfully', text)
    if m:
        start[m.group(1)] = float(t)
    if d and d.group(1) in start:
        took[d.group(1)] = float(t) - start[d.group(1)]
print(" ".join(f"{c}={s:.1f}s" for c, s in took.items()))
PY
}

run_kubestrap() {
	local cfg join
	cfg=$(config bench)
	$TB exec node1 "$KS" init --config "$cfg" --skip-phases=addon/coredns >"$WORK/init.log" 2>&1
	join=$("$KS" token create --print-join-command)
	read -r -a JOIN <<<"$join"
	JOIN[0]=$KS
	$TB exec node2 "${JOIN[@]}" --ignore-preflight-errors=FileExisting-crictl,KubeletVersion \
		--cri-socket="unix://$SOCK" >"$WORK/join.log" 2>&1
	until_ok 180 node_ready
	stamped "$WORK/upgrade.log" $TB exec node1 "$KS" upgrade apply "$NEXT" -y
}

run_kubeadm() {
	local join
	sed -e "s|@ADVERTISE_IP@|$KUBESTRAP_TESTBED_ADVERTISE_ADDRESS|" -e "s|@CRI_SOCKET@|$SOCK|" \
		-e "s|@K8S_VERSION@|$CUR|" -e "s|@REGISTRY@|$KUBESTRAP_TESTBED_IMAGE_REPOSITORY|" \
		-e "s|@POD_SUBNET@|$KUBESTRAP_TESTBED_POD_SUBNET|" -e "s|@SERVICE_SUBNET@|$KUBESTRAP_TESTBED_SERVICE_SUBNET|" \
		-e "s|@CGROUP_DRIVER@|$KUBESTRAP_TESTBED_CGROUP_DRIVER|" tests/testbed/kubeadm-init.yaml.in >"$WORK/kubeadm-init.yaml"
	$TB kubeadm-package node1
	$TB exec node1 kubeadm init --config "$WORK/kubeadm-init.yaml" --skip-phases=addon/coredns \
		--ignore-preflight-errors=ImagePull >"$WORK/init.log" 2>&1
	join=$(PATH="$KUBESTRAP_TESTBED_BIN_DIR:$PATH" kubeadm token create --print-join-command --kubeconfig /etc/kubernetes/admin.conf)
	$TB kubeadm-package node2
	# shellcheck disable=SC2086 # the printed join command is split into words on purpose
	$TB exec node2 $join --cri-socket="$SOCK" --ignore-preflight-errors=ImagePull >"$WORK/join.log" 2>&1
	until_ok 180 node_ready
	stamped "$WORK/upgrade.log" $TB exec node1 "$KUBESTRAP_TESTBED_NEXT_BIN_DIR/kubeadm" upgrade apply "$NEXT" -y \
		--ignore-preflight-errors="$KUBEADM_IGNORE"
}

$TB up
$TB join -- true
reset_nodes
declare -A times
for i in $(seq 1 "$RUNS"); do
	for tool in kubestrap kubeadm; do
		$TB kubelet-package node1 "$CUR" >/dev/null
		$TB kubelet-package node2 "$CUR" >/dev/null
		t0=$(date +%s.%N)
		"run_$tool"
		t=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
		apply=$(tail -1 "$WORK/upgrade.log" | cut -d' ' -f1)
		echo "run $i $tool: upgrade apply ${apply}s ($(waits "$WORK/upgrade.log" "$tool")); whole run ${t}s"
		times[$tool]="${times[$tool]:-} $apply"
		reset_nodes
	done
done
for tool in kubestrap kubeadm; do
	echo "$tool median upgrade apply: $(python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.1f}s")' ${times[$tool]})"
done
