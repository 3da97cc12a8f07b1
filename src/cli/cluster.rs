//! The flags of `kubestrap cluster`: a whole cluster from one file, over SSH.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `kubestrap cluster …`.
#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Bring every host of the file into the cluster: connect, install kubestrap, check, init,
    /// join (control planes one at a time, workers at once), label and taint
    Apply(Box<ApplyArgs>),
    /// A table of every host: role, reachable, kubelet version, Ready, certificate expiry
    Status(Box<StatusArgs>),
    /// Reset every host of the file: workers first, then the control planes one at a time
    Reset(Box<ClusterResetArgs>),
    /// Print an example cluster file
    PrintDefaults,
    /// What `cluster apply` runs on a host (JSON out)
    #[command(subcommand, hide = true)]
    Agent(AgentCmd),
}

/// What `cluster apply` runs on each host.
#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// The host's facts
    Facts,
    /// On a control-plane host: labels and taints (JSON on stdin), the record, the node list
    Nodes,
}

/// Flags every `cluster` command that connects has.
#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// The cluster file (see `kubestrap cluster print-defaults`).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// The known_hosts file host keys are checked against (default: ssh's own, ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Add a host key that is not known yet to known_hosts (a changed key is refused anyway).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// The folder of each host's log (`<host>.log`: every command run there and what it said).
    #[arg(long, value_name = "DIR", default_value = "kubestrap-logs")]
    pub logs: PathBuf,
    /// Seconds to wait for each host's SSH connection.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Output: text (live lines per host) or json (one event per line, then the result).
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ClusterOutput,
}

/// How `cluster` commands print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterOutput {
    #[default]
    Text,
    Json,
}

/// `kubestrap cluster apply`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = APPLY_EXAMPLES)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Repair what preflight finds on the hosts: each host's plan is shown, then applied after a
    /// yes (`kubestrap preflight --fix` there), and the checks run again.
    #[arg(long)]
    pub fix: bool,
    /// Apply the --fix plans without asking.
    #[arg(short, long, requires = "fix")]
    pub yes: bool,
    /// Drain and reset the hosts the cluster has that the file no longer lists.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: how long a host's evictions may wait for PodDisruptionBudgets to allow
    /// them before its prune fails, naming the pod and the budget.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = super::duration, requires = "prune")]
    pub drain_timeout: std::time::Duration,
    /// Write the cluster's admin kubeconfig here (0600; never merged into ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub admin_kubeconfig: Option<PathBuf>,
}

const APPLY_EXAMPLES: &str = "
Examples:
  kubestrap cluster print-defaults > cluster.yaml     # then name your hosts
  kubestrap cluster apply -f cluster.yaml --admin-kubeconfig ./admin.conf
  kubectl --kubeconfig ./admin.conf get nodes
";

/// `kubestrap cluster status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub ssh: SshArgs,
}

/// `kubestrap cluster reset`.
#[derive(Debug, Clone, Args)]
pub struct ClusterResetArgs {
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Reset without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Reset what can be reached even with a control-plane host out of reach.
    #[arg(long)]
    pub force: bool,
}
