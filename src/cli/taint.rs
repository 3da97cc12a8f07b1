//! The flags of `kubestrap taint`.

use clap::{Args, Subcommand};

use super::ClusterArgs;

#[derive(Debug, Subcommand)]
pub enum TaintCmd {
    /// Remove the control-plane NoSchedule taint (and the legacy master one)
    Remove(TaintArgs),
    /// Put the control-plane NoSchedule taint back
    Add(TaintArgs),
}

/// Which nodes `taint` changes.
#[derive(Debug, Clone, Args)]
pub struct TaintArgs {
    /// The node (default: this machine's host name in lower case).
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub node: Option<String>,
    /// Every node that carries (or, for `add`, is labelled for) the control-plane role.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}
