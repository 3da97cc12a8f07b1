//! The `certs` phases: the `/etc/kubernetes/pki` tree.

use anyhow::{Result, bail};

use crate::context::Context;
use crate::workflow::Phase;

fn not_built(_: &mut Context) -> Result<()> {
    bail!("the certs phases are not built yet")
}

/// The sub-phases of `certs`, in kubeadm's order.
pub static PHASES: &[Phase] = &[Phase::leaf(
    "ca",
    "Generate the self-signed Kubernetes CA to provision identities for other Kubernetes components",
    not_built,
)];
