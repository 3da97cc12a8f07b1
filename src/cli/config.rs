//! The flags of `kubestrap config`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFormat;

/// `kubestrap config …`, with kubeadm's flag of the `config` group.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// kubeadm's kubeconfig for `config`: refused, kubestrap's config commands read files and
    /// never the cluster.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    #[command(subcommand)]
    pub cmd: ConfigCmd,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file and report every problem at once
    Validate {
        /// Path to a kubeadm configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// kubeadm's switch for experimental API versions: no effect (warned), kubestrap reads
        /// only the stable kubeadm.k8s.io/v1beta3 and v1beta4.
        #[arg(long)]
        allow_experimental_api: bool,
    },
    /// Print default configuration
    #[command(subcommand)]
    Print(PrintCmd),
    /// Read a kubeadm.k8s.io/v1beta3 file and write it as kubeadm.k8s.io/v1beta4
    Migrate {
        /// The file to convert.
        #[arg(long, value_name = "FILE")]
        old_config: PathBuf,
        /// Where to write the converted file (standard output without it); maps under --root.
        /// An existing file is replaced only when it is a kubeadm configuration.
        #[arg(long, value_name = "FILE")]
        new_config: Option<PathBuf>,
        /// Replace the --new-config file even when it is not a kubeadm configuration.
        #[arg(long, requires = "new_config")]
        force: bool,
        /// kubeadm's switch for experimental API versions: no effect (warned), kubestrap reads
        /// only the stable kubeadm.k8s.io/v1beta3 and v1beta4.
        #[arg(long)]
        allow_experimental_api: bool,
    },
    /// Interact with the container images used by kubestrap
    #[command(subcommand)]
    Images(ImagesCmd),
}

#[derive(Debug, Subcommand)]
pub enum ImagesCmd {
    /// Print a list of images kubestrap will use, in kubeadm's order
    List {
        #[command(flatten)]
        which: ImagesArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Pull the images used by kubestrap through the container runtime
    Pull {
        #[command(flatten)]
        which: ImagesArgs,
        /// Path to the CRI socket to connect to (detected when empty).
        #[arg(long, value_name = "URL")]
        cri_socket: Option<String>,
    },
}

/// Which images: those of a configuration file, or of a version and a registry.
#[derive(Debug, Clone, Default, Args)]
pub struct ImagesArgs {
    /// Path to a kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Choose a specific Kubernetes version for the control plane (v1.20.0 to v1.36.x).
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// Choose a container registry to pull control plane images from.
    #[arg(long, value_name = "REPOSITORY")]
    pub image_repository: Option<String>,
    /// Only the images a worker node runs (kube-proxy, CoreDNS, pause), for nodes that join.
    #[arg(long)]
    pub worker: bool,
}

// The subcommands are kubeadm's: init-defaults, join-defaults, reset-defaults.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub enum PrintCmd {
    /// Print the default InitConfiguration and ClusterConfiguration
    InitDefaults {
        /// API version to print: kubeadm.k8s.io/v1beta4 (default) or kubeadm.k8s.io/v1beta3.
        #[arg(long, value_name = "VERSION", default_value = "kubeadm.k8s.io/v1beta4")]
        api_version: String,
        /// kubeadm's component configs to print too: refused, kubestrap prints none (see the
        /// error for where they are).
        #[arg(long, value_delimiter = ',', value_name = "KINDS")]
        component_configs: Vec<String>,
    },
    /// Print the default JoinConfiguration
    JoinDefaults {
        /// API version to print: kubeadm.k8s.io/v1beta4 (default) or kubeadm.k8s.io/v1beta3.
        #[arg(long, value_name = "VERSION", default_value = "kubeadm.k8s.io/v1beta4")]
        api_version: String,
        /// kubeadm's component configs to print too: refused, kubestrap prints none.
        #[arg(long, value_delimiter = ',', value_name = "KINDS")]
        component_configs: Vec<String>,
    },
    /// Print the default ResetConfiguration (kubeadm.k8s.io/v1beta4)
    ResetDefaults,
}
