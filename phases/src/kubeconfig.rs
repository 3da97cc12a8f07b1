//! The `kubeconfig` phases: admin, super-admin (1.29+), kubelet, controller-manager, scheduler.

use anyhow::{Result, bail};

use crate::context::Context;
use crate::workflow::Phase;

fn not_built(_: &mut Context) -> Result<()> {
    bail!("the kubeconfig phases are not built yet")
}

/// The sub-phases of `kubeconfig` for v1.29 and newer.
pub static PHASES: &[Phase] = &[Phase::leaf(
    "admin",
    "Generate a kubeconfig file for the admin to use and for kubeadm itself",
    not_built,
)];
/// The sub-phases of `kubeconfig` before v1.29 (no super-admin).
pub static PHASES_BEFORE_1_29: &[Phase] = PHASES;
