//! The `kubelet-start` phase: the kubelet's configuration and flags files.

use anyhow::{Result, bail};

use crate::context::Context;

/// Writes `/var/lib/kubelet/config.yaml` and `kubeadm-flags.env`.
pub fn start(_: &mut Context) -> Result<()> {
    bail!("the kubelet-start phase is not built yet")
}
