#!/usr/bin/env bash
# A real single-node Kubernetes v1.20.2 cluster on this machine, set up by kubestrap on the
# testbed (as root): `kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes` then works.
# Stop it with `tests/testbed/testbed down`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet
tests/testbed/testbed setup
eval "$(tests/testbed/testbed facts)"
WORK=$(mktemp -d)
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
tests/testbed/testbed up -- "$PWD/target/debug/kubestrap" init --config "$(config init)"
