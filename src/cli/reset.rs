//! The flags of `kubestrap reset`.

use clap::Args;

/// The flags of `kubestrap reset` (kubeadm's reset flags).
#[derive(Debug, Clone, Default, Args)]
pub struct ResetArgs {
    /// Reset the node without prompting for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Don't apply any changes; print what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// The path to the directory where the certificates are stored. If specified, clean this directory.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// Path to the CRI socket to connect to (detected when empty).
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// Cleanup the "/etc/kubernetes/tmp" directory.
    #[arg(long)]
    pub cleanup_tmp_dir: bool,
    /// List of phases to be skipped, e.g. `remove-etcd-member`.
    #[arg(long, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
    /// Also remove the CNI configuration (/etc/cni/net.d, /var/lib/cni), the network plugins' interfaces (cni0, flannel.*, cali*, cilium_*, kube-ipvs0) and the KUBE-* iptables/ip6tables chains with the rules jumping to them.
    #[arg(long)]
    pub cleanup_network: bool,
    /// Also put back what `kubestrap preflight --fix` changed (as `kubestrap preflight --undo-fixes`).
    #[arg(long)]
    pub undo_fixes: bool,
    /// Look at the host again afterwards and fail, listing them, if listeners on the control plane's ports, containers, kubelet mounts or files (with --cleanup-network: CNI files, interfaces, KUBE-* chains) are left.
    #[arg(long)]
    pub verify: bool,
    /// A list of checks whose errors will be shown as warnings, or `all` (reset's check:
    /// IsPrivilegedUser).
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore_preflight_errors: Vec<String>,
    /// The kubeconfig reset reaches the cluster with (to leave the etcd cluster and, up to
    /// v1.21, the ClusterStatus); default /etc/kubernetes/admin.conf. Maps under --root.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// How long to wait for the API server before going on without it [default: the
    /// --config file's timeouts.kubernetesAPICall, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = super::duration)]
    pub timeout: Option<std::time::Duration>,
    /// A kubeadm.k8s.io/v1beta4 ResetConfiguration file; the flags above override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

pub(super) const EXAMPLES: &str = "
Examples:
  # Undo what init or join did on this node, without asking
  sudo kubestrap reset --force

  # Show what reset would stop, remove and delete
  kubestrap reset --dry-run
";
