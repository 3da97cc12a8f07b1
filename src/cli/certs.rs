//! The flags of `kubestrap certs` and `kubestrap kubeconfig`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFormat;

/// Where the certificates and the configuration are.
#[derive(Debug, Clone, Default, Args)]
pub struct CertsArgs {
    /// The path where the certificates are stored (default: `certificatesDir` of --config, else
    /// /etc/kubernetes/pki).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// Path to a kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4): validity
    /// period, key type, certificates folder, CRI socket and timeouts.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Without --config, the cluster's configuration (kube-system/kubeadm-config) is read with
    /// this kubeconfig (maps under --root) [default: /etc/kubernetes/admin.conf].
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub kubeconfig: Option<String>,
    /// Without --config, how long to wait for the API server before going on with kubeadm's
    /// defaults (a renewal must work while the control plane is down).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::duration)]
    pub timeout: std::time::Duration,
}

const RENEW_ABOUT: &str = "Renew certificates with the CA on disk: keeps each one's subject, \
names and usages, with a new key and the configured validity. NAME is one of admin.conf, \
apiserver, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, \
etcd-healthcheck-client, etcd-peer, etcd-server, front-proxy-client, scheduler.conf, \
super-admin.conf (v1.29+), or all. CAs are never renewed.";

#[derive(Debug, Subcommand)]
pub enum CertsCmd {
    /// Check certificates expiration for a Kubernetes cluster (exit code 4: renewal needed)
    CheckExpiration {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
        #[command(flatten)]
        files: CertsArgs,
    },
    /// Renew certificates for a Kubernetes cluster; --restart makes the control plane use them
    #[command(long_about = RENEW_ABOUT)]
    Renew {
        /// The certificates to renew, or `all`.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Then restart each control-plane static pod that reads a renewed file (etcd first,
        /// one at a time, each waited for until healthy) and check the API server serves its
        /// new certificate.
        #[arg(long)]
        restart: bool,
        #[command(flatten)]
        files: CertsArgs,
    },
    /// Restart control-plane static pods so they read their certificates again
    Restart {
        /// Components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default:
        /// all four, in that order).
        #[arg(value_name = "COMPONENT")]
        components: Vec<String>,
        #[command(flatten)]
        files: CertsArgs,
    },
    /// Generate keys and certificate signing requests for an external CA
    GenerateCsr {
        /// The folder of the kubeconfig files.
        #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes")]
        kubeconfig_dir: String,
        #[command(flatten)]
        files: CertsArgs,
    },
    /// Generate a certificate key (for `init --upload-certs` / `join --control-plane`)
    CertificateKey,
}

#[derive(Debug, Subcommand)]
pub enum KubeconfigCmd {
    /// Output a kubeconfig file for an additional user, signed by the cluster CA
    User {
        /// The name of user. It will be used as the CN if client certificates are created.
        #[arg(long, value_name = "NAME")]
        client_name: String,
        /// The organizations of the client certificate. It will be used as the O if client
        /// certificates are created.
        #[arg(long = "org", value_name = "ORG")]
        orgs: Vec<String>,
        /// The validity period of the client certificate (an offset from now).
        #[arg(long, value_name = "DURATION", default_value = "8760h0m0s")]
        validity_period: String,
        /// The token that should be used as the authentication mechanism for this kubeconfig,
        /// instead of client certificates.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// Path to a kubeadm configuration file (the cluster's endpoint, name and CA folder).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}
