//! The `control-plane` phases: kube-apiserver, kube-controller-manager and kube-scheduler static pods.

use anyhow::{Result, bail};

use crate::context::Context;
use crate::workflow::Phase;

fn not_built(_: &mut Context) -> Result<()> {
    bail!("the control-plane phases are not built yet")
}

/// The sub-phases of `control-plane`.
pub static PHASES: &[Phase] = &[Phase::leaf(
    "apiserver",
    "Generates the kube-apiserver static Pod manifest",
    not_built,
)];
