//! The flags of `kubestrap preflight`.

use std::path::PathBuf;

use clap::Args;

/// The flags of `kubestrap preflight`.
#[derive(Debug, Clone, Default, Args)]
pub struct PreflightArgs {
    /// Path to a kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Path to the CRI socket to connect to (detected when empty).
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// The Kubernetes version whose checks to run (v1.20.0 to v1.36.x).
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// A list of checks whose errors will be shown as warnings, or `all`.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore_preflight_errors: Vec<String>,
    /// Port for the API Server to bind to.
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// Run the checks of `kubestrap join` instead of `init`.
    #[arg(long)]
    pub join: bool,
    /// Show a plan of changes that repair what the checks find, and apply it after a yes.
    #[arg(long)]
    pub fix: bool,
    /// Apply the --fix plan without asking.
    #[arg(long, requires = "fix")]
    pub yes: bool,
    /// Put back every change an earlier --fix made (from the journal in /var/lib/kubestrap).
    #[arg(long, conflicts_with_all = ["fix", "join"])]
    pub undo_fixes: bool,
    /// Don't apply any changes; show the --fix plan only.
    #[arg(long)]
    pub dry_run: bool,
}
