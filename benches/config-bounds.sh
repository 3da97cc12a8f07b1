#!/usr/bin/env bash
# How long `kubestrap config validate` takes on the largest and deepest inputs it may be given:
# a file just under the 1 MiB limit, one over it (refused before it is read), YAML nested to the
# parser's limit and far beyond it, and a file with 10 000 duplicate-looking keys. Prints the
# median and the slowest of RUNS runs each, in ms. Target: well under a second for every input.
# Usage: benches/config-bounds.sh   (RUNS=N; KUBESTRAP=path/to/binary to skip the release build)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${KUBESTRAP:-$repo/target/release/kubestrap}
[[ -n ${KUBESTRAP:-} ]] || cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head=$'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n'
python3 - "$work" "$head" <<'PY'
import sys
work, head = sys.argv[1], sys.argv[2]
def write(name, text):
    open(f"{work}/{name}.yaml", "w").write(text)
comment = "# " + "x" * 77 + "\n"
write("just-under-1MiB", head + comment * ((1 << 20) // len(comment) - 2))
write("over-1MiB", head + comment * ((2 << 20) // len(comment)))
write("nested-128", head + "apiServer:\n  extraArgs: " + "[" * 126 + "]" * 126 + "\n")
write("nested-100000", head + "apiServer:\n  extraArgs: " + "[" * 100000 + "]" * 100000 + "\n")
write("10000-keys", head + "apiServer:\n  extraArgs:\n" + "".join(f"    k{i}: v\n" for i in range(10000)))
PY
printf '%-18s %10s %10s  %s\n' input median_ms max_ms answer
for f in just-under-1MiB over-1MiB nested-128 nested-100000 10000-keys; do
	times=()
	for _ in $(seq "$runs"); do
		t0=$(date +%s%N)
		answer=$("$bin" config validate --config "$work/$f.yaml" 2>&1 | head -c 70 || true)
		times+=($((($(date +%s%N) - t0) / 1000000)))
	done
	sorted=$(printf '%s\n' "${times[@]}" | sort -n)
	printf '%-18s %10s %10s  %s\n' "$f" "$(sed -n "$((runs / 2 + 1))p" <<<"$sorted")" "$(tail -1 <<<"$sorted")" "${answer//$'\n'/ }"
done
