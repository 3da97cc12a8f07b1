//! Command-line definitions. The `phase` subcommand trees are generated from the phase tables.

use std::path::PathBuf;

use clap::{ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand};
use kubestrap_phases::workflows::{self, Phase};
use kubestrap_phases::workflows::{init, join, reset};

/// `--root`: a folder, or one to be made; an existing file would fail later, on a path that
/// looks like the real `/etc`.
fn root_dir(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err(
            "an empty folder name is not a root (it would be the current folder): give --root / for this machine, or the folder that stands for `/`".into(),
        );
    }
    let path = PathBuf::from(value);
    match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "{value} is a file, not a folder: --root takes the folder that stands for `/`"
        )),
        _ => Ok(path),
    }
}

/// Bootstrap a Kubernetes cluster the way kubeadm does; failures say what, why and how to fix.
#[derive(Debug, Parser)]
#[command(name = "kubestrap", version, propagate_version = true)]
pub struct Cli {
    /// Folder that stands for `/`: every file read or written maps under it.
    #[arg(long, global = true, default_value = "/", value_name = "DIR", value_parser = root_dir)]
    pub root: PathBuf,
    /// Print more: phase names, and file contents with --dry-run.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Log level as kubeadm spells it: any N of 1 or more is --verbose, 0 (the default) is not.
    #[arg(long = "v", global = true, value_name = "N", default_value_t = 0)]
    pub log_level: u32,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run this command in order to set up the Kubernetes control plane
    Init(Box<InitArgs>),
    /// Run this on any machine you wish to join an existing cluster
    Join(Box<JoinArgs>),
    /// Manage kubeadm-compatible configuration files
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage bootstrap tokens
    #[command(subcommand)]
    Token(TokenCmd),
    /// Remove or restore the control-plane taint (so a single node can run workloads)
    #[command(subcommand)]
    Taint(TaintCmd),
    /// Run the pre-flight checks alone; with --fix, repair what they find (reversibly)
    Preflight(Box<PreflightArgs>),
    /// Performs a best effort revert of changes made to this host by 'kubestrap init'
    Reset(Box<ResetArgs>),
    /// Commands related to handling kubernetes certificates (expiry, renewal, external CA)
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Kubeconfig file utilities
    #[command(subcommand)]
    Kubeconfig(KubeconfigCmd),
    /// Print the shell completion script: `source <(kubestrap completion bash)`
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the version of kubestrap, the Kubernetes versions it deploys, and its git commit
    Version {
        /// Output format: short prints the version alone.
        #[arg(short, long, value_enum, default_value_t)]
        output: VersionFormat,
    },
}

impl Cli {
    /// Whether `-v`/`--verbose` or `--v=N` (N ≥ 1) asked for more output.
    pub fn verbose(&self) -> bool {
        self.verbose || self.log_level >= 1
    }
}

/// How `kubestrap version` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum VersionFormat {
    #[default]
    Text,
    Short,
    Json,
    Yaml,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
}

/// Flags of commands that talk to a running cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The kubeconfig file to use when talking to the cluster (maps under --root). Without it,
    /// $KUBECONFIG as kubectl reads it (the first file of a `:`-separated list), else
    /// /etc/kubernetes/admin.conf.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<String>,
}

/// The kubeconfig when neither `--kubeconfig` nor `$KUBECONFIG` names one.
const DEFAULT_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";

impl ClusterArgs {
    /// The kubeconfig to use: `--kubeconfig`, else `$KUBECONFIG`, else admin.conf.
    pub fn kubeconfig(&self) -> String {
        let from_env = std::env::var_os("KUBECONFIG").map(|v| v.to_string_lossy().into_owned());
        resolve_kubeconfig(self.kubeconfig.as_deref(), from_env.as_deref())
    }
}

/// kubectl merges every file of a `KUBECONFIG` list; kubestrap uses one cluster, so the first
/// (empty entries are skipped, as kubectl does).
fn resolve_kubeconfig(flag: Option<&str>, env: Option<&str>) -> String {
    flag.or_else(|| env.and_then(|list| list.split(':').find(|p| !p.is_empty())))
        .unwrap_or(DEFAULT_KUBECONFIG)
        .to_string()
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a bootstrap token on the server
    Create {
        /// The token to create (generated when absent).
        token: Option<String>,
        /// The duration before the token is automatically deleted (e.g. 1s, 2m, 3h); 0 never expires.
        #[arg(long, default_value = "24h0m0s", value_name = "DURATION")]
        ttl: String,
        /// A human friendly description of how this token is used.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Describes the ways in which this token can be used.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "signing,authentication",
            value_name = "USAGES"
        )]
        usages: Vec<String>,
        /// Extra groups that this token will authenticate as when used for authentication.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "system:bootstrappers:kubeadm:default-node-token",
            value_name = "GROUPS"
        )]
        groups: Vec<String>,
        /// Instead of printing only the token, print the full join command.
        #[arg(long)]
        print_join_command: bool,
        /// With --print-join-command, print the control-plane join command with this key (the
        /// one `kubestrap init phase upload-certs --upload-certs` printed; checked against the
        /// kubeadm-certs Secret).
        #[arg(long, value_name = "KEY", requires = "print_join_command")]
        certificate_key: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// List bootstrap tokens on the server
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Delete bootstrap tokens on the server (by ID or whole token)
    Delete {
        #[arg(required = true, value_name = "TOKEN")]
        tokens: Vec<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Generate and print a bootstrap token, but do not create it on the server
    Generate,
}

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

/// The flags of `kubestrap init` (kubeadm's init flags).
#[derive(Debug, Clone, Default, Args)]
pub struct InitArgs {
    /// Path to a kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Don't apply any changes; print what would be written.
    #[arg(long)]
    pub dry_run: bool,
    /// The IP address the API Server will advertise it's listening on (default: the default-route interface's).
    #[arg(long, value_name = "IP")]
    pub apiserver_advertise_address: Option<String>,
    /// Port for the API Server to bind to.
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// Extra Subject Alternative Names (IPs or DNS names) for the API Server serving certificate.
    #[arg(long, value_delimiter = ',', value_name = "SANS")]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// The path where to save and store the certificates.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// A stable IP address or DNS name for the control plane, with an optional port.
    #[arg(long, value_name = "ENDPOINT")]
    pub control_plane_endpoint: Option<String>,
    /// Path to the CRI socket to connect to (detected when empty).
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// A list of checks whose errors will be shown as warnings, or `all`.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore_preflight_errors: Vec<String>,
    /// Choose a container registry to pull control plane images from.
    #[arg(long, value_name = "REPOSITORY")]
    pub image_repository: Option<String>,
    /// Choose a specific Kubernetes version for the control plane (v1.20.0 to v1.36.x).
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// Specify the node name.
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Specify range of IP addresses for the pod network.
    #[arg(long, value_name = "CIDR")]
    pub pod_network_cidr: Option<String>,
    /// Use alternative range of IP address for service VIPs.
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    /// Use alternative domain for services, e.g. "myorg.internal".
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,
    /// List of phases to be skipped, e.g. `certs/etcd-ca,addon/kube-proxy`.
    #[arg(long, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
    /// The token to use for establishing bidirectional trust between nodes and control-plane nodes.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The duration before the token is automatically deleted (e.g. 1s, 2m, 3h); 0 never expires.
    #[arg(long, value_name = "DURATION")]
    pub token_ttl: Option<String>,
    /// A folder of patches for the static pods, the kubelet's configuration and CoreDNS, named
    /// `target[suffix][+patchtype].yaml|json` (targets: etcd, kube-apiserver,
    /// kube-controller-manager, kube-scheduler, kubeletconfiguration, corednsdeployment; types:
    /// strategic (default), merge, json), applied in file-name order.
    #[arg(long, value_name = "DIR")]
    pub patches: Option<String>,
    /// Upload control-plane certificates to the kubeadm-certs Secret (encrypted with the
    /// certificate key, deleted after two hours), for `join --control-plane`.
    #[arg(long)]
    pub upload_certs: bool,
    /// Key used to encrypt the control-plane certificates in the kubeadm-certs Secret: 64 hex
    /// digits (generated when absent; `kubestrap certs certificate-key` prints one).
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// Don't print the key used to encrypt the control-plane certificates.
    #[arg(long)]
    pub skip_certificate_key_print: bool,
    /// Print the result (join endpoint, tokens, CA hashes, phase timings) as json or yaml on stdout.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// When pre-flight checks fail, show a plan of changes that repair them and apply it after a yes.
    #[arg(long)]
    pub fix: bool,
    /// Apply the --fix plan without asking.
    #[arg(long, requires = "fix")]
    pub yes: bool,
}

impl InitArgs {
    /// The flags set that kubeadm refuses next to `--config`.
    pub fn mixed_with_config(&self) -> Vec<&'static str> {
        let mut mixed = Vec::new();
        let mut check = |set: bool, flag: &'static str| {
            if set {
                mixed.push(flag);
            }
        };
        check(
            self.apiserver_advertise_address.is_some(),
            "apiserver-advertise-address",
        );
        check(self.apiserver_bind_port.is_some(), "apiserver-bind-port");
        check(
            !self.apiserver_cert_extra_sans.is_empty(),
            "apiserver-cert-extra-sans",
        );
        check(self.cert_dir.is_some(), "cert-dir");
        check(self.certificate_key.is_some(), "certificate-key");
        check(
            self.control_plane_endpoint.is_some(),
            "control-plane-endpoint",
        );
        check(self.image_repository.is_some(), "image-repository");
        check(self.kubernetes_version.is_some(), "kubernetes-version");
        check(self.pod_network_cidr.is_some(), "pod-network-cidr");
        check(self.service_cidr.is_some(), "service-cidr");
        check(self.service_dns_domain.is_some(), "service-dns-domain");
        check(self.token.is_some(), "token");
        check(self.token_ttl.is_some(), "token-ttl");
        mixed
    }
}

/// The flags of `kubestrap join` (kubeadm's join flags).
#[derive(Debug, Clone, Default, Args)]
pub struct JoinArgs {
    /// The API server to join through, `host:port` (token discovery).
    #[arg(value_name = "API_SERVER_ENDPOINT")]
    pub endpoint: Option<String>,
    /// More endpoints are accepted as kubeadm does, and ignored with a warning.
    #[arg(hide = true, value_name = "EXTRA_ENDPOINTS")]
    pub extra_endpoints: Vec<String>,
    /// Path to a kubeadm configuration file with a JoinConfiguration (v1beta3 or v1beta4).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use this token for both discovery-token and tls-bootstrap-token when those values are not provided.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// For token-based discovery, the token used to validate cluster information fetched from the API server.
    #[arg(long, value_name = "TOKEN")]
    pub discovery_token: Option<String>,
    /// Specify a token used to temporarily authenticate with the Kubernetes Control Plane while joining the node.
    #[arg(long, value_name = "TOKEN")]
    pub tls_bootstrap_token: Option<String>,
    /// For token-based discovery, validate that the root CA public key matches this hash (format: "sha256:<hex>").
    #[arg(long, value_delimiter = ',', value_name = "HASH")]
    pub discovery_token_ca_cert_hash: Vec<String>,
    /// For token-based discovery, allow joining without --discovery-token-ca-cert-hash pinning.
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    /// For file-based discovery, a file or https URL from which to load cluster information.
    #[arg(long, value_name = "FILE_OR_URL")]
    pub discovery_file: Option<String>,
    /// Specify the node name.
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Path to the CRI socket to connect to (detected when empty).
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// A list of checks whose errors will be shown as warnings, or `all`.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore_preflight_errors: Vec<String>,
    /// List of phases to be skipped.
    #[arg(long, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
    /// Don't apply any changes; print what would be written (discovery still reads the cluster).
    #[arg(long)]
    pub dry_run: bool,
    /// Create a new control plane instance on this node.
    #[arg(long)]
    pub control_plane: bool,
    /// With --control-plane: the IP address this node's API server and etcd member advertise
    /// (default: the address of the default-route interface).
    #[arg(long, value_name = "ADDRESS")]
    pub apiserver_advertise_address: Option<String>,
    /// With --control-plane: the port this node's API server binds to.
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// Use this key to decrypt the certificate secrets uploaded by init (with --control-plane).
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// Print the result (node, server, version, phase timings) as json or yaml on stdout.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

impl JoinArgs {
    /// The flags set that kubeadm refuses next to `--config`.
    pub fn mixed_with_config(&self) -> Vec<&'static str> {
        let mut mixed = Vec::new();
        let mut check = |set: bool, flag: &'static str| {
            if set {
                mixed.push(flag);
            }
        };
        check(self.endpoint.is_some(), "api-server-endpoint");
        check(self.token.is_some(), "token");
        check(self.discovery_token.is_some(), "discovery-token");
        check(self.tls_bootstrap_token.is_some(), "tls-bootstrap-token");
        check(
            !self.discovery_token_ca_cert_hash.is_empty(),
            "discovery-token-ca-cert-hash",
        );
        check(
            self.discovery_token_unsafe_skip_ca_verification,
            "discovery-token-unsafe-skip-ca-verification",
        );
        check(self.discovery_file.is_some(), "discovery-file");
        check(self.node_name.is_some(), "node-name");
        check(self.cri_socket.is_some(), "cri-socket");
        check(self.control_plane, "control-plane");
        check(
            self.apiserver_advertise_address.is_some(),
            "apiserver-advertise-address",
        );
        check(self.apiserver_bind_port.is_some(), "apiserver-bind-port");
        check(self.certificate_key.is_some(), "certificate-key");
        mixed
    }
}

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
    /// A kubeadm.k8s.io/v1beta4 ResetConfiguration file; the flags above override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

/// What the user asked for: the parsed command line, plus the phase path of `init phase …` or
/// `reset phase …`.
#[derive(Debug)]
pub struct Invocation {
    pub cli: Cli,
    /// `Some("certs/ca")` for `kubestrap init phase certs ca`.
    pub init_phase: Option<String>,
    /// `Some("cleanup-node")` for `kubestrap reset phase cleanup-node`.
    pub reset_phase: Option<String>,
    /// `Some("kubelet-start")` for `kubestrap join phase kubelet-start`.
    pub join_phase: Option<String>,
}

const INIT_EXAMPLES: &str = "
Examples:
  # Set up a control-plane node (run the pre-flight checks' repairs first if they fail)
  sudo kubestrap preflight --fix
  sudo kubestrap init --pod-network-cidr 10.244.0.0/16

  # See every file init would write, without changing anything
  kubestrap init --dry-run -v

  # Run one phase alone
  sudo kubestrap init phase certs all
";

const JOIN_EXAMPLES: &str = "
Examples:
  # Join a worker with the command `kubestrap init` printed
  sudo kubestrap join 10.0.0.1:6443 --token abcdef.0123456789abcdef \\
      --discovery-token-ca-cert-hash sha256:<hex>
";

const RESET_EXAMPLES: &str = "
Examples:
  # Undo what init or join did on this node, without asking
  sudo kubestrap reset --force

  # Show what reset would stop, remove and delete
  kubestrap reset --dry-run
";

/// The whole command, with the generated `init phase` and `reset phase` trees.
pub fn build() -> Command {
    let init_phases = phase_command::<InitArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the init workflow")
            .subcommand_required(true),
        &init::tables(),
    );
    let reset_phases = phase_command::<ResetArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the reset workflow")
            .subcommand_required(true),
        &[reset::PHASES],
    );
    let join_phases = phase_command::<JoinArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the join workflow")
            .subcommand_required(true),
        &join::tables(),
    );
    Cli::command()
        .mut_subcommand("join", |cmd| {
            cmd.after_long_help(workflows::help("join", join::tables()[0]) + JOIN_EXAMPLES)
                .subcommand(join_phases)
                .args_conflicts_with_subcommands(true)
        })
        .mut_subcommand("init", |cmd| {
            // A flag before `phase` would belong to `init`, not to the phase, and be dropped.
            cmd.after_long_help(workflows::help("init", init::tables()[0]) + INIT_EXAMPLES)
                .subcommand(init_phases)
                .args_conflicts_with_subcommands(true)
        })
        .mut_subcommand("reset", |cmd| {
            cmd.after_long_help(workflows::help("reset", reset::PHASES) + RESET_EXAMPLES)
                .subcommand(reset_phases)
                .args_conflicts_with_subcommands(true)
        })
}

/// Adds a subcommand per phase of `tables`: every name any of them has, in the order it first
/// appears (kubeadm versions name some sub-phases differently; the plan for the configured
/// version then says which exist).
fn phase_command<A: Args>(mut cmd: Command, tables: &[&'static [Phase]]) -> Command {
    let mut names: Vec<&str> = Vec::new();
    for phase in tables.iter().flat_map(|t| t.iter()) {
        if !names.contains(&phase.name) {
            names.push(phase.name);
        }
    }
    for name in names {
        let same: Vec<&Phase> = tables
            .iter()
            .flat_map(|t| t.iter())
            .filter(|p| p.name == name)
            .collect();
        let mut sub = A::augment_args(Command::new(name).about(same[0].about));
        let children: Vec<&'static [Phase]> = same
            .iter()
            .map(|p| p.children)
            .filter(|c| !c.is_empty())
            .collect();
        if !children.is_empty() {
            // kubeadm spells "run every sub-phase" as `all`; running the group does the same.
            let all =
                A::augment_args(Command::new("all").about("Run every sub-phase of this phase"));
            sub = phase_command::<A>(sub.subcommand(all), &children);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd
}

/// Parses the process arguments; exits with a usage error like any clap program.
pub fn parse() -> Invocation {
    let matches = build().get_matches();
    from_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn from_matches(matches: &ArgMatches) -> Result<Invocation, clap::Error> {
    let mut cli = Cli::from_arg_matches(matches)?;
    let (mut init_phase, mut reset_phase, mut join_phase) = (None, None, None);
    if let Some((command, m)) = matches.subcommand()
        && let Some(("phase", m)) = m.subcommand()
    {
        let (path, flags) = phase_path(m);
        match command {
            "init" => {
                cli.command = Cmd::Init(Box::new(InitArgs::from_arg_matches(flags)?));
                init_phase = Some(path);
            }
            "join" => {
                cli.command = Cmd::Join(Box::new(JoinArgs::from_arg_matches(flags)?));
                join_phase = Some(path);
            }
            _ => {
                cli.command = Cmd::Reset(Box::new(ResetArgs::from_arg_matches(flags)?));
                reset_phase = Some(path);
            }
        }
    }
    Ok(Invocation {
        cli,
        init_phase,
        reset_phase,
        join_phase,
    })
}

/// The `/`-joined phase path below a `phase` subcommand, and the matches that hold its flags.
fn phase_path(mut m: &ArgMatches) -> (String, &ArgMatches) {
    let mut path = Vec::new();
    while let Some((name, sub)) = m.subcommand() {
        if name != "all" {
            path.push(name);
        }
        m = sub;
    }
    (path.join("/"), m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_from(args: &[&str]) -> Invocation {
        let matches = build().try_get_matches_from(args).unwrap();
        from_matches(&matches).unwrap()
    }

    #[test]
    fn cli_is_valid() {
        build().debug_assert();
    }

    #[test]
    fn flags_before_phase_are_refused_not_dropped() {
        for args in [
            &[
                "kubestrap",
                "init",
                "--config",
                "k.yaml",
                "phase",
                "preflight",
            ][..],
            &["kubestrap", "reset", "--force", "phase", "cleanup-node"],
        ] {
            let err = build().try_get_matches_from(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
        let ok = parse_from(&[
            "kubestrap",
            "init",
            "phase",
            "preflight",
            "--config",
            "k.yaml",
        ]);
        assert_eq!(ok.init_phase.as_deref(), Some("preflight"));
    }

    #[test]
    fn phase_subcommands_give_the_phase_path_and_flags() {
        let inv = parse_from(&[
            "kubestrap",
            "init",
            "phase",
            "certs",
            "ca",
            "--root",
            "/tmp/n1",
            "--dry-run",
        ]);
        assert_eq!(inv.init_phase.as_deref(), Some("certs/ca"));
        assert_eq!(inv.cli.root, PathBuf::from("/tmp/n1"));
        let Cmd::Init(args) = inv.cli.command else {
            panic!("not init")
        };
        assert!(args.dry_run);
    }

    #[test]
    fn all_runs_the_whole_group() {
        let inv = parse_from(&["kubestrap", "init", "phase", "certs", "all"]);
        assert_eq!(inv.init_phase.as_deref(), Some("certs"));
    }

    #[test]
    fn plain_init_has_no_phase() {
        let inv = parse_from(&["kubestrap", "init", "--skip-phases", "certs/ca,kubeconfig"]);
        assert!(inv.init_phase.is_none());
        let Cmd::Init(args) = inv.cli.command else {
            panic!("not init")
        };
        assert_eq!(args.skip_phases, ["certs/ca", "kubeconfig"]);
    }

    #[test]
    fn reset_phases_parse_with_the_reset_flags() {
        let inv = parse_from(&["kubestrap", "reset", "phase", "cleanup-node", "--force"]);
        assert_eq!(inv.reset_phase.as_deref(), Some("cleanup-node"));
        let Cmd::Reset(args) = inv.cli.command else {
            panic!("not reset")
        };
        assert!(args.force);
        let inv = parse_from(&[
            "kubestrap",
            "reset",
            "-f",
            "--skip-phases",
            "remove-etcd-member",
        ]);
        assert!(inv.reset_phase.is_none());
    }

    #[test]
    fn sub_phases_of_every_version_parse() {
        for path in [
            "kubelet-finalize/experimental-cert-rotation",
            "kubelet-finalize/enable-client-cert-rotation",
            "kubeconfig/super-admin",
        ] {
            let mut args = vec!["kubestrap", "init", "phase"];
            args.extend(path.split('/'));
            assert_eq!(parse_from(&args).init_phase.as_deref(), Some(path));
        }
    }

    #[test]
    fn kubeconfig_comes_from_the_flag_then_the_environment_then_admin_conf() {
        assert_eq!(
            resolve_kubeconfig(Some("/f.conf"), Some("/e.conf")),
            "/f.conf"
        );
        assert_eq!(resolve_kubeconfig(None, Some("/e.conf")), "/e.conf");
        assert_eq!(
            resolve_kubeconfig(None, Some("::/a.conf:/b.conf")),
            "/a.conf"
        );
        assert_eq!(resolve_kubeconfig(None, Some("")), DEFAULT_KUBECONFIG);
        assert_eq!(resolve_kubeconfig(None, None), DEFAULT_KUBECONFIG);
    }

    #[test]
    fn short_v_and_kubeadm_v_levels_do_not_clash() {
        let verbose = |args: &[&str]| {
            let mut all = vec!["kubestrap"];
            all.extend(args);
            all.extend(["token", "generate"]);
            parse_from(&all).cli.verbose()
        };
        assert!(!verbose(&[]));
        assert!(verbose(&["-v"]));
        assert!(verbose(&["--v=5"]));
        assert!(verbose(&["--v", "1"]));
        assert!(verbose(&["-v", "--v=0"]));
        assert!(!verbose(&["--v=0"]));
        assert!(
            build()
                .try_get_matches_from(["kubestrap", "--v=-1", "token", "generate"])
                .is_err()
        );
    }
}
