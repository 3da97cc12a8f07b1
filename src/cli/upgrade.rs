//! The flags of `kubestrap upgrade plan|apply|node`.

use clap::{Args, Subcommand};

use super::OutputFormat;

/// `kubestrap upgrade …`.
#[derive(Debug, Subcommand)]
pub enum UpgradeCmd {
    /// Check which version the cluster can be upgraded to and show what would change
    Plan(PlanArgs),
    /// Upgrade the control plane of this node and the cluster's configuration to a version
    Apply(Box<ApplyArgs>),
    /// Upgrade this node (another control-plane node, or a worker) to the cluster's version
    Node(Box<NodeArgs>),
    /// Show what `upgrade apply` would change in this node's static pod manifests (nothing is written)
    Diff(DiffArgs),
}

/// The flags of `kubestrap upgrade plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The version to plan for (without one: the newest this machine offers, never from the internet).
    #[arg(value_name = "VERSION")]
    pub target: Option<String>,
    /// A kubeadm.k8s.io/v1beta4 UpgradeConfiguration (its `plan` section).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// The flags of `kubestrap upgrade diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The version to compare with (without one: `diff.kubernetesVersion` of --config, else the cluster's own).
    #[arg(value_name = "VERSION")]
    pub target: Option<String>,
    /// A kubeadm.k8s.io/v1beta4 UpgradeConfiguration (its `diff` section), and a ClusterConfiguration and component configurations to compare with.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// How many lines of context to show around each change (default 3).
    #[arg(short = 'c', long, value_name = "N")]
    pub context_lines: Option<usize>,
}

/// The flags `upgrade apply` and `upgrade node` share.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Do not change any state, just output what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// Upgrade the local etcd when its version changes (the default; `--etcd-upgrade=false` keeps it).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub etcd_upgrade: Option<bool>,
    /// Renew the certificates of each component before it restarts (the default; `--certificate-renewal=false` keeps them).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub certificate_renewal: Option<bool>,
    /// A kubeadm.k8s.io/v1beta4 UpgradeConfiguration (the flags win over it); a ClusterConfiguration, KubeletConfiguration or KubeProxyConfiguration beside it replaces the cluster's (same version: a reconfiguration).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// A folder of patches for the static pods and the kubelet configuration (`target[suffix][+type].yaml`).
    #[arg(long, value_name = "DIR")]
    pub patches: Option<String>,
    /// Checks whose errors become warnings, e.g. `ImagePull,ControlPlaneNodesReady`; `all` for every check.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore_preflight_errors: Vec<String>,
}

/// The flags of `kubestrap upgrade apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The version to upgrade to (v1.MINOR.PATCH; else `apply.kubernetesVersion` of --config).
    #[arg(value_name = "VERSION")]
    pub target: Option<String>,
    /// Perform the upgrade and do not prompt for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Go on despite a version skew rule that may be overridden, and without prompting.
    #[arg(short, long)]
    pub force: bool,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output format of the result.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// The flags of `kubestrap upgrade node`.
#[derive(Debug, Clone, Default, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Phases to skip, e.g. `control-plane`.
    #[arg(long, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
}

pub(super) const EXAMPLES: &str = "
Examples:
  # What an upgrade to v1.20.3 would change
  kubestrap upgrade plan v1.20.3

  # Upgrade the control plane of this node, then every other node
  sudo kubestrap upgrade apply v1.20.3 -y
  sudo kubestrap upgrade node        # on each other node
";
