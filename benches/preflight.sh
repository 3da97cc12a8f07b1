#!/usr/bin/env bash
# Wall time of `kubestrap preflight` (every init check) as a whole process, on the healthy fixture
# host with a real containerd answering CRI on the host's socket. Target: <= 150 ms.
# Usage: benches/preflight.sh [runs]   (KUBESTRAP=path/to/binary to skip the release build)
set -euo pipefail
runs=${1:-20}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${KUBESTRAP:-$repo/target/release/kubestrap}
if [[ -z ${KUBESTRAP:-} ]]; then
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
fi
command -v containerd >/dev/null || { echo "containerd is missing: apt-get install containerd runc" >&2; exit 1; }

work=$(mktemp -d)
root=$work/host
cp -a "$repo/fixtures/hosts/healthy" "$root"
mkdir -p "$root/var/run/containerd" "$work/state"
sock=$root/var/run/containerd/containerd.sock
config=$root/etc/containerd/config.toml
{
    echo 'version = 2'
    echo "root = \"$work/state/root\""
    echo "state = \"$work/state/run\""
    # The sandbox image of the image repository below, as kubeadm expects.
    tail -n +2 "$repo/fixtures/hosts/healthy/etc/containerd/config.toml" | sed "s|registry.k8s.io/pause|127.0.0.1:1/pause|"
    printf '\n[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n' "$sock" "$sock"
    printf '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
} > "$config"
containerd --config "$config" 2>"$work/containerd.log" &
ctd=$!
trap 'kill $ctd 2>/dev/null; wait $ctd 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1200); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || { echo "containerd did not start:" >&2; cat "$work/containerd.log" >&2; exit 1; }

# The images of v1.31.0, present (a one-layer archive under every name): the image run asks the
# runtime about each and pulls nothing. Their repository is 127.0.0.1:1, where nothing listens: a
# pull never leaves the machine.
mkdir -p "$work/image/rootfs"
echo hello >"$work/image/rootfs/hello"
tar -cf "$work/image/layer.tar" -C "$work/image/rootfs" hello
digest=$(sha256sum "$work/image/layer.tar" | cut -d' ' -f1)
case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$arch" "$digest" >"$work/image/config.json"
tags=""
registry=127.0.0.1:1
for image in kube-apiserver:v1.31.0 kube-controller-manager:v1.31.0 kube-scheduler:v1.31.0 kube-proxy:v1.31.0 \
    coredns:v1.11.1 pause:3.10 etcd:3.5.15-0; do
    tags+="${tags:+,}\"$registry/$image\""
done
printf '[{"Config":"config.json","RepoTags":[%s],"Layers":["layer.tar"]}]' "$tags" >"$work/image/manifest.json"
tar -cf "$work/image.tar" -C "$work/image" manifest.json config.json layer.tar
ctr --address "$sock" -n k8s.io images import --no-unpack "$work/image.tar" >/dev/null

# Ports in use on this machine are errors, not slowness: ignore them so every run does all checks.
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: %s\n' "$registry" >"$work/kubeadm.yaml"
args=(preflight --root "$root" --kubernetes-version v1.31.0 --config "$work/kubeadm.yaml" --ignore-preflight-errors=all)
# containerd's CRI plugin learns of imported images from events, a little later: until it sees
# them all, a run would pull (and be slower).
for _ in $(seq 100); do
    "$bin" "${args[@]}" -v >"$work/first" 2>&1 || true
    grep -q pulling "$work/first" || break
    sleep 0.2
done
grep -E 'CRI:|ERROR|WARNING|pulling|exists' "$work/first" || true
grep -q pulling "$work/first" && { echo "containerd's CRI plugin does not see the imported images" >&2; exit 1; }
times=()
for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" "${args[@]}" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "kubestrap preflight, all init checks, $runs runs: min ${sorted[0]} ms, median ${sorted[$((runs / 2))]} ms, max ${sorted[$((runs - 1))]} ms (target <= 150 ms)"
