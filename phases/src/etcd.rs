//! The `etcd` phase: the local etcd static pod.

use anyhow::{Result, bail};

use crate::context::Context;
use crate::workflow::Phase;

fn not_built(_: &mut Context) -> Result<()> {
    bail!("the etcd phase is not built yet")
}

/// The sub-phases of `etcd`.
pub static PHASES: &[Phase] = &[Phase::leaf(
    "local",
    "Generate the static Pod manifest file for a local, single-node local etcd instance",
    not_built,
)];
