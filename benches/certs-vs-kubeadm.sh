#!/usr/bin/env bash
# Times `certs check-expiration` and `certs renew all` (RSA-2048) as whole processes, kubestrap
# beside kubeadm v1.20.2 (`alpha certs check-expiration`, `alpha certs renew all`) on the same
# kind of tree: a full v1.20.2 certificates + kubeconfig tree written by kubestrap, copied fresh
# for every renewal. kubeadm reads /etc/kubernetes, so it runs with `--rootfs` on the tree; both
# get a configuration file (neither asks a cluster). Prints the median and min wall time of each.
#
#   benches/certs-vs-kubeadm.sh          # 11 runs each (as root, after `testbed setup`)
#   RUNS=21 benches/certs-vs-kubeadm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-11}
cache=${KUBESTRAP_TESTBED_CACHE:-/var/cache/kubestrap-testbed}
kubeadm=$cache/bin/1.20.5+really1.20.2/kubeadm
[[ -x $kubeadm ]] || { echo "no kubeadm v1.20.2 at $kubeadm: run tests/testbed/testbed setup (as root) first" >&2; exit 1; }
[[ $(id -u) = 0 ]] || { echo "kubeadm --rootfs needs root" >&2; exit 1; }

cargo build --release --quiet
ks=$PWD/target/release/kubestrap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The same cluster for both tools: kubestrap's v1beta3, kubeadm v1.20's v1beta2 (inside the tree).
cat >"$work/kubestrap.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.20.0.1
nodeRegistration:
  name: n1
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
EOF
kubeadm_config() {
	cat >"$1/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.20.0.1
nodeRegistration:
  name: n1
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
EOF
}

template=$work/template
for phase in certs kubeconfig; do
	"$ks" init phase "$phase" all --root "$template" --config "$work/kubestrap.yaml" >/dev/null 2>&1
done
kubeadm_config "$template"

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# time_ms CMD...: wall milliseconds of one run (its output to $work/out; a failure stops the bench).
time_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; echo "failed: $*" >&2; exit 1; }
	end=$(date +%s%N)
	echo $(((end - start) / 1000))
}

declare -A times
for ((i = 0; i < runs; i++)); do
	rm -rf "$work/tree" && cp -a "$template" "$work/tree"
	times[ks-check]+="$(time_ms "$ks" certs check-expiration --root "$work/tree" --config "$work/kubestrap.yaml") "
	times[ka-check]+="$(time_ms "$kubeadm" alpha certs check-expiration --rootfs "$work/tree" --config /kubeadm.yaml) "
	times[ks-renew]+="$(time_ms "$ks" certs renew all --root "$work/tree" --config "$work/kubestrap.yaml") "
	grep -q "Done renewing" "$work/out" || { cat "$work/out" >&2; exit 1; }
	rm -rf "$work/tree" && cp -a "$template" "$work/tree"
	times[ka-renew]+="$(time_ms "$kubeadm" alpha certs renew all --rootfs "$work/tree" --config /kubeadm.yaml) "
	grep -q "Done renewing" "$work/out" || { cat "$work/out" >&2; exit 1; }
done

printf '%-46s %5s %12s %12s\n' command runs "median (s)" "min (s)"
for key in ks-check ka-check ks-renew ka-renew; do
	case $key in
	ks-check) what="kubestrap certs check-expiration" ;;
	ka-check) what="kubeadm v1.20.2 alpha certs check-expiration" ;;
	ks-renew) what="kubestrap certs renew all (RSA-2048)" ;;
	ka-renew) what="kubeadm v1.20.2 alpha certs renew all" ;;
	esac
	# shellcheck disable=SC2086 # one number per word
	med=$(printf '%s\n' ${times[$key]} | median)
	# shellcheck disable=SC2086
	min=$(printf '%s\n' ${times[$key]} | sort -n | head -1)
	awk -v w="$what" -v n="$runs" -v med="$med" -v min="$min" \
		'BEGIN { printf "%-46s %5d %12.3f %12.3f\n", w, n, med / 1e6, min / 1e6 }'
done
