//! The flags of `kubestrap join`.

use std::path::PathBuf;

use clap::Args;

use super::OutputFormat;

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
    /// kubeadm's folder of patches for a joining node: refused, kubestrap does not patch a
    /// join yet (the node would join without them).
    #[arg(long, value_name = "DIR")]
    pub patches: Option<String>,
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

pub(super) const EXAMPLES: &str = "
Examples:
  # Join a worker with the command `kubestrap init` printed
  sudo kubestrap join 192.0.2.10:6443 --token abcdef.0123456789abcdef \\
      --discovery-token-ca-cert-hash sha256:<hex>
";
