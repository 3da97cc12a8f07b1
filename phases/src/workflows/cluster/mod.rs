//! `kubestrap cluster`: a whole cluster from one file, over SSH. [`file`] reads `cluster.yaml`,
//! [`plan`] decides which host does what, [`apply`] drives the hosts (each step of each host a
//! kubestrap command run there, through [`remote`]; the checks and `--fix` in [`preflight`]),
//! [`agent`] is what those commands do on a host (the Nodes' [`labels`] and taints, the
//! [`drain`] of `--prune`), [`status`] and [`reset`] the other two front doors.

pub mod agent;
mod apply;
mod configs;
mod drain;
pub mod file;
mod labels;
pub mod plan;
mod preflight;
mod remote;
mod status;

use serde::Serialize;

pub use apply::{ApplyOptions, ApplyReport, HostOutcome, HostResult, apply};
pub use status::{HostStatus, ResetOptions, reset, status};

/// How one step of one host went, for a person (a live line per host) or a program (`-o json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The host's name (`None`: the whole cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// connect, install, facts, preflight, init, join, reset, nodes, kubeconfig, …
    pub step: String,
    pub state: State,
    pub message: String,
    /// The changes a step would make, one line each (`--fix`'s plan for the host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// The step began.
    Started,
    /// The step changed the host.
    Done,
    /// The step found nothing to change.
    Unchanged,
    /// The step failed.
    Failed,
    /// A note.
    Info,
}

/// Where the events of a run go.
pub trait Events: Send + Sync {
    fn event(&self, event: Event);
    /// Asks a person to agree to what the events before showed (`--yes` answers yes; with no
    /// terminal to ask, no).
    fn confirm(&self, question: &str) -> bool;
}

pub(crate) fn emit(
    events: &dyn Events,
    host: Option<&str>,
    step: &str,
    state: State,
    message: impl Into<String>,
) {
    events.event(Event {
        host: host.map(str::to_string),
        step: step.into(),
        state,
        message: message.into(),
        plan: Vec::new(),
    });
}
