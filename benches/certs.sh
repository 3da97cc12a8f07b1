#!/usr/bin/env bash
# Times `kubestrap init phase certs` + `init phase kubeconfig` as whole processes into fresh roots
# and prints, per key algorithm, the median wall time of the pair, the median CPU time (user +
# system) of the pair, the peak RSS of either process, and the size of the stripped release binary.
# On a busy machine the wall time grows with the load; the CPU time much less.
#
#   benches/certs.sh            # 15 runs per algorithm
#   RUNS=31 benches/certs.sh
#
# Needs /usr/bin/time (Debian package `time`). Targets: RSA-2048 ≤ 0.35 s, ECDSA-P256 ≤ 40 ms,
# peak ≤ 12 MiB, binary ≤ 12 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-15}
[[ -x /usr/bin/time ]] || { echo "benches/certs.sh needs /usr/bin/time (Debian package \`time\`)" >&2; exit 1; }

cargo build --release --quiet
bin=$PWD/target/release/kubestrap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

config() { # $1: encryptionAlgorithm
  cat <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.20.0.1
nodeRegistration:
  name: n1
  criSocket: unix:///var/run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
encryptionAlgorithm: $1
EOF
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-11s %5s %12s %12s %12s %14s\n' algorithm runs "median (s)" "min (s)" "CPU (s)" "peak RSS (KiB)"
for alg in RSA-2048 ECDSA-P256; do
  config "$alg" >"$work/$alg.yaml"
  : >"$work/times"
  : >"$work/rss"
  : >"$work/cpu"
  for ((i = 0; i < runs; i++)); do
    root=$(mktemp -d -p "$work")
    start=$(date +%s%N)
    for phase in certs kubeconfig; do
      /usr/bin/time -f '%M %U %S' -o "$work/$phase.time" \
        "$bin" init phase "$phase" all --root "$root" --config "$work/$alg.yaml" >/dev/null 2>"$work/err" \
        || { cat "$work/err" >&2; exit 1; }
    done
    end=$(date +%s%N)
    echo "$(((end - start) / 1000))" >>"$work/times"
    cat "$work/certs.time" "$work/kubeconfig.time" | awk '{ print $1 >> rss; cpu += $2 + $3 } END { print cpu }' \
      rss="$work/rss" >>"$work/cpu"
    rm -rf "$root"
  done
  med=$(median <"$work/times")
  min=$(sort -n "$work/times" | head -1)
  peak=$(sort -n "$work/rss" | tail -1)
  cpu_med=$(median <"$work/cpu")
  awk -v a="$alg" -v n="$runs" -v med="$med" -v min="$min" -v cpu="$cpu_med" -v peak="$peak" \
    'BEGIN { printf "%-11s %5d %12.3f %12.3f %12.3f %14d\n", a, n, med / 1e6, min / 1e6, cpu, peak }'
done
size=$(stat -c %s "$bin")
awk -v s="$size" 'BEGIN { printf "stripped release binary: %d bytes (%.1f MB)\n", s, s / 1e6 }'
