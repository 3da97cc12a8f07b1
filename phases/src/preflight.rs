//! The `preflight` phase: kubeadm's checks, with explanations and fixes.

use anyhow::{Result, bail};

use crate::context::Context;

/// Runs the init checks.
pub fn run_init(_: &mut Context) -> Result<()> {
    bail!("the preflight phase is not built yet")
}
