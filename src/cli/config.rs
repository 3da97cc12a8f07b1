//! The flags of `kubestrap config`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file and report every problem at once
    Validate {
        /// Path to a kubeadm configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
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
    },
    /// Print the default JoinConfiguration
    JoinDefaults {
        /// API version to print: kubeadm.k8s.io/v1beta4 (default) or kubeadm.k8s.io/v1beta3.
        #[arg(long, value_name = "VERSION", default_value = "kubeadm.k8s.io/v1beta4")]
        api_version: String,
    },
    /// Print the default ResetConfiguration (kubeadm.k8s.io/v1beta4)
    ResetDefaults,
}
