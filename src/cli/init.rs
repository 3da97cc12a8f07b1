//! The flags of `kubestrap init`.

use std::path::PathBuf;

use clap::Args;

use super::OutputFormat;

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
    /// Don't print the bootstrap tokens (the join commands show `<value withheld>`).
    #[arg(long)]
    pub skip_token_print: bool,
    /// Feature gates of kubeadm, `Name=true|false,…` (set over `featureGates` of the
    /// ClusterConfiguration): PublicKeysECDSA is honoured, any other is warned about.
    #[arg(long, value_delimiter = ',', value_name = "GATES", value_parser = feature_gate)]
    pub feature_gates: Vec<(String, bool)>,
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

/// One `Name=true|false` of `--feature-gates`.
fn feature_gate(value: &str) -> Result<(String, bool), String> {
    let (name, on) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not Name=true|false"))?;
    let on = on
        .parse::<bool>()
        .map_err(|_| format!("`{name}` takes true or false, not `{on}`"))?;
    Ok((name.to_string(), on))
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
        check(!self.feature_gates.is_empty(), "feature-gates");
        mixed
    }
}

pub(super) const EXAMPLES: &str = "
Examples:
  # Set up a control-plane node (run the pre-flight checks' repairs first if they fail)
  sudo kubestrap preflight --fix
  sudo kubestrap init --pod-network-cidr 10.244.0.0/16

  # See every file init would write, without changing anything
  kubestrap init --dry-run -v

  # Run one phase alone
  sudo kubestrap init phase certs all
";
