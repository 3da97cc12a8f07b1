//! The workflows: each a phase table in kubeadm's order plus the glue that picks clients and data,
//! and the front door of each command (`init::run`, `join::run`, `reset::run`, `renewal::run`,
//! …): options in, an outcome out. The command line reaches the library through these and the
//! infrastructure only, so what the front doors speak is re-exported here.

pub mod clients;
pub mod cluster;
pub mod images;
pub mod init;
pub mod join;
pub mod names;
pub mod preflight;
pub mod renewal;
pub mod reset;
pub mod taint;
pub mod token;
pub mod upgrade;
pub mod user_kubeconfig;

use std::time::Instant;

use anyhow::Result;

pub use crate::preflight::PreflightFailed;
pub use crate::runner::outputs::{Outputs, PhaseTiming};
pub use crate::runner::report::{Progress, Reporter};
pub use crate::runner::{Phase, help};

use crate::fs::lock::{self, RunLock};
use crate::fs::root::{Change, Root};
use crate::host::interrupt::Interrupted;
use crate::phases::kubeconfig::SudoUser;
use crate::runner::context::Context;
use crate::runner::{self, Step};

/// What a run came to: how it ended, and what a dry run would have changed (its journal, for
/// the command to print whether the run succeeded or not).
#[must_use]
pub struct Outcome<T> {
    pub result: Result<T>,
    /// `Some` for a dry run: every change it made in its scratch folder.
    pub dry_run_changes: Option<Vec<Change>>,
}

impl<T> Outcome<T> {
    /// An outcome of a run that ended before it had a root.
    fn early(err: anyhow::Error) -> Self {
        Outcome {
            result: Err(err),
            dry_run_changes: None,
        }
    }

    /// The outcome of a run on `root`.
    fn on(root: &Root, result: Result<T>) -> Self {
        Outcome {
            result,
            dry_run_changes: root.is_dry_run().then(|| root.changes()),
        }
    }
}

/// The phase names a `skipPhases` list of a kind may hold (`InitConfiguration` for the
/// version deployed, `JoinConfiguration` for any cluster version, `ResetConfiguration`), for
/// `config validate` to refuse what the commands would.
pub fn phase_names(kind: &str, version: crate::version::KubeVersion) -> Vec<String> {
    let tables: Vec<&'static [Phase]> = match kind {
        "InitConfiguration" => vec![init::phases(version)],
        "JoinConfiguration" => join::tables(),
        "ResetConfiguration" => vec![reset::PHASES],
        _ => Vec::new(),
    };
    let mut names: Vec<String> = tables.into_iter().flat_map(runner::paths).collect();
    names.sort();
    names.dedup();
    names
}

/// Takes the lock of the root for the whole command (`command`: its command line, for others
/// to see), so that two runs never write one root at once; a second run waits up to 10 s,
/// saying for whom, then fails naming the holder. A dry run writes nothing and takes none.
pub fn lock_root(root: &Root, command: &str, out: &dyn Reporter) -> Result<Option<RunLock>> {
    if root.is_dry_run() {
        return Ok(None);
    }
    lock::acquire(root, command, lock::WAIT, &mut |msg| out.warn("lock", msg)).map(Some)
}

/// Runs the planned steps one after another, recording how long each took (for `-o json`);
/// stops at the first failure.
fn run_timed(steps: &[Step], ctx: &mut Context, alone: bool) -> Result<()> {
    for step in steps {
        let started = Instant::now();
        let result = runner::run(std::slice::from_ref(step), ctx, alone);
        ctx.outputs.phases.push(phase_timing(&step.path, started));
        result?;
    }
    Ok(())
}

/// How long a phase (or discovery) took, to the millisecond.
fn phase_timing(phase: &str, started: Instant) -> PhaseTiming {
    PhaseTiming {
        phase: phase.to_string(),
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// A run stopped by SIGINT or SIGTERM says so first, with what it left (`left`, which may end in
/// a `\n\nhint: …`); any other error is returned as it is.
fn when_interrupted(err: anyhow::Error, command: &str, left: &str) -> anyhow::Error {
    match Interrupted::find(&err) {
        Some(i) => err.context(format!("{command} stopped on {}: {left}", i.name())),
        None => err,
    }
}

/// The user who ran kubestrap through sudo (`SUDO_USER`), if not root.
fn sudo_user(name: Option<&str>) -> Result<Option<SudoUser>> {
    match name {
        Some(name) if !name.is_empty() && name != "root" => SudoUser::lookup(name),
        _ => Ok(None),
    }
}

/// A client for the cluster of a kubeconfig under the root (`base`), for the commands that talk
/// to a running cluster.
fn cluster_client(base: &std::path::Path, cluster: &Cluster) -> Result<(Root, crate::api::Client)> {
    let root = Root::new(base);
    let transport = crate::api::http::HttpTransport::from_kubeconfig(&root, &cluster.kubeconfig)?;
    Ok((
        root,
        crate::api::Client::new(
            Box::new(transport),
            crate::api::Retry::by_flag(cluster.timeout),
        ),
    ))
}

/// How a command without a configuration file reaches the cluster (`token`, `taint`).
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// The kubeconfig, under the root.
    pub kubeconfig: String,
    /// How long to wait for the API server (`--timeout`).
    pub timeout: std::time::Duration,
}
