//! kubeadm's configuration API (`kubeadm.k8s.io/v1beta3` and `v1beta4`): types, defaults, loading.
//!
//! One set of types serves both API versions: extraArgs accept v1beta3's map and v1beta4's
//! name/value list, and fields that only v1beta4 has are refused in a v1beta3 file by [`load`].
//! After loading, [`Config`] also holds the values kubeadm resolves at run time (node name,
//! advertise address, Kubernetes version, CRI socket), so phases never guess.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::version::KubeVersion;

/// The kubeadm config API group.
pub const GROUP: &str = "kubeadm.k8s.io";

/// A kubeadm config API version kubestrap reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    V1Beta3,
    V1Beta4,
}

impl ApiVersion {
    /// `kubeadm.k8s.io/v1beta3` or `kubeadm.k8s.io/v1beta4`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1Beta3 => "kubeadm.k8s.io/v1beta3",
            ApiVersion::V1Beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// Parses an `apiVersion` value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "kubeadm.k8s.io/v1beta3" => Some(ApiVersion::V1Beta3),
            "kubeadm.k8s.io/v1beta4" => Some(ApiVersion::V1Beta4),
            _ => None,
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command-line argument of a component: `--name=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// extraArgs: v1beta3 writes a map, v1beta4 an ordered list of `{name, value}`; both load here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraArgs {
    pub args: Vec<Arg>,
    /// Whether the file used v1beta3's map form.
    pub from_map: bool,
}

impl ExtraArgs {
    /// Whether no argument is set.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }
}

impl Serialize for ExtraArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The list form; `to_api_version` turns it back into a map for v1beta3.
        self.args.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ExtraArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = ExtraArgs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of flag: value (v1beta3) or a list of {name, value} (v1beta4)")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtraArgs, E> {
                Ok(ExtraArgs::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtraArgs, A::Error> {
                let mut args = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    args.push(Arg { name, value });
                }
                // A Go map has no order; kubeadm sorts by name.
                args.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(ExtraArgs {
                    args,
                    from_map: true,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExtraArgs, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<Arg>()? {
                    args.push(arg);
                }
                Ok(ExtraArgs {
                    args,
                    from_map: false,
                })
            }
        }
        d.deserialize_any(ArgsVisitor)
    }
}

/// A volume mounted into a control-plane static pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathMount {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<String>,
}

/// An environment variable for a static pod (v1beta4 `extraEnvs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// Settings shared by the controller-manager and scheduler sections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlaneComponent {
    #[serde(default, skip_serializing_if = "ExtraArgs::is_empty")]
    pub extra_args: ExtraArgs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
}

/// `apiServer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServer {
    #[serde(default, skip_serializing_if = "ExtraArgs::is_empty")]
    pub extra_args: ExtraArgs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    #[serde(default, rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// v1beta3 only; v1beta4 has `timeouts.controlPlaneComponentHealthCheck`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_for_control_plane: Option<String>,
}

/// `etcd.local`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalEtcd {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default = "default_etcd_data_dir")]
    pub data_dir: String,
    #[serde(default, skip_serializing_if = "ExtraArgs::is_empty")]
    pub extra_args: ExtraArgs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    #[serde(
        default,
        rename = "serverCertSANs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub server_cert_sans: Vec<String>,
    #[serde(
        default,
        rename = "peerCertSANs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub peer_cert_sans: Vec<String>,
}

impl Default for LocalEtcd {
    fn default() -> Self {
        LocalEtcd {
            image_repository: None,
            image_tag: None,
            data_dir: default_etcd_data_dir(),
            extra_args: ExtraArgs::default(),
            extra_envs: Vec::new(),
            server_cert_sans: Vec::new(),
            peer_cert_sans: Vec::new(),
        }
    }
}

/// `etcd.external`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalEtcd {
    pub endpoints: Vec<String>,
    #[serde(default, rename = "caFile")]
    pub ca_file: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

/// `etcd`: local (the default) or external.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Etcd {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalEtcd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalEtcd>,
}

impl Default for Etcd {
    fn default() -> Self {
        Etcd {
            local: Some(LocalEtcd::default()),
            external: None,
        }
    }
}

/// `networking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    #[serde(default = "default_service_subnet")]
    pub service_subnet: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    #[serde(default = "default_dns_domain")]
    pub dns_domain: String,
}

impl Default for Networking {
    fn default() -> Self {
        Networking {
            service_subnet: default_service_subnet(),
            pod_subnet: None,
            dns_domain: default_dns_domain(),
        }
    }
}

/// `dns` (CoreDNS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// v1beta4 only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// `proxy` (v1beta4 only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proxy {
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// `ClusterConfiguration`: cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    #[serde(default)]
    pub etcd: Etcd,
    #[serde(default)]
    pub networking: Networking,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    #[serde(default)]
    pub api_server: ApiServer,
    #[serde(default)]
    pub controller_manager: ControlPlaneComponent,
    #[serde(default)]
    pub scheduler: ControlPlaneComponent,
    #[serde(default)]
    pub dns: Dns,
    /// v1beta4 only.
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default = "default_cert_dir")]
    pub certificates_dir: String,
    #[serde(default = "default_image_repository")]
    pub image_repository: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default = "default_cluster_name")]
    pub cluster_name: String,
    /// v1beta4 only: `RSA-2048` (default), `RSA-3072`, `RSA-4096` or `ECDSA-P256`.
    #[serde(default = "default_encryption_algorithm")]
    pub encryption_algorithm: String,
    /// v1beta4 only.
    #[serde(default = "default_cert_validity")]
    pub certificate_validity_period: String,
    /// v1beta4 only.
    #[serde(default = "default_ca_cert_validity")]
    pub ca_certificate_validity_period: String,
}

impl Default for ClusterConfiguration {
    fn default() -> Self {
        ClusterConfiguration {
            api_version: None,
            kind: None,
            etcd: Etcd::default(),
            networking: Networking::default(),
            kubernetes_version: None,
            control_plane_endpoint: None,
            api_server: ApiServer::default(),
            controller_manager: ControlPlaneComponent::default(),
            scheduler: ControlPlaneComponent::default(),
            dns: Dns::default(),
            proxy: Proxy::default(),
            certificates_dir: default_cert_dir(),
            image_repository: default_image_repository(),
            feature_gates: BTreeMap::new(),
            cluster_name: default_cluster_name(),
            encryption_algorithm: default_encryption_algorithm(),
            certificate_validity_period: default_cert_validity(),
            ca_certificate_validity_period: default_ca_cert_validity(),
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

/// `nodeRegistration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRegistration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_socket: Option<String>,
    /// `None` means the default control-plane taint; an empty list means no taint.
    #[serde(default)]
    pub taints: Option<Vec<Taint>>,
    #[serde(default, skip_serializing_if = "ExtraArgs::is_empty")]
    pub kubelet_extra_args: ExtraArgs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default = "default_pull_policy")]
    pub image_pull_policy: String,
    /// v1beta4 only.
    #[serde(default = "default_true")]
    pub image_pull_serial: bool,
}

impl Default for NodeRegistration {
    fn default() -> Self {
        NodeRegistration {
            name: None,
            cri_socket: None,
            taints: None,
            kubelet_extra_args: ExtraArgs::default(),
            ignore_preflight_errors: Vec::new(),
            image_pull_policy: default_pull_policy(),
            image_pull_serial: true,
        }
    }
}

/// `localAPIEndpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<String>,
    #[serde(default = "default_bind_port")]
    pub bind_port: i64,
}

impl Default for ApiEndpoint {
    fn default() -> Self {
        ApiEndpoint {
            advertise_address: None,
            bind_port: default_bind_port(),
        }
    }
}

/// A bootstrap token of `bootstrapTokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default = "default_token_usages")]
    pub usages: Vec<String>,
    #[serde(default = "default_token_groups")]
    pub groups: Vec<String>,
}

impl Default for BootstrapToken {
    fn default() -> Self {
        BootstrapToken {
            token: None,
            description: None,
            ttl: Some("24h0m0s".into()),
            expires: None,
            usages: default_token_usages(),
            groups: default_token_groups(),
        }
    }
}

/// `patches`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patches {
    #[serde(default)]
    pub directory: String,
}

/// v1beta4 `timeouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "t4m")]
    pub control_plane_component_health_check: String,
    #[serde(default = "t5m")]
    pub discovery: String,
    #[serde(rename = "etcdAPICall", default = "t2m")]
    pub etcd_api_call: String,
    #[serde(default = "t4m")]
    pub kubelet_health_check: String,
    #[serde(rename = "kubernetesAPICall", default = "t1m")]
    pub kubernetes_api_call: String,
    #[serde(default = "t5m")]
    pub tls_bootstrap: String,
    #[serde(default = "t5m")]
    pub upgrade_manifests: String,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            control_plane_component_health_check: t4m(),
            discovery: t5m(),
            etcd_api_call: t2m(),
            kubelet_health_check: t4m(),
            kubernetes_api_call: t1m(),
            tls_bootstrap: t5m(),
            upgrade_manifests: t5m(),
        }
    }
}

/// `InitConfiguration`: settings of this node's init run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitConfiguration {
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    #[serde(default = "default_bootstrap_tokens")]
    pub bootstrap_tokens: Vec<BootstrapToken>,
    #[serde(default)]
    pub node_registration: NodeRegistration,
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    /// v1beta4 only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// v1beta4 only.
    #[serde(default)]
    pub timeouts: Timeouts,
}

impl Default for InitConfiguration {
    fn default() -> Self {
        InitConfiguration {
            api_version: None,
            kind: None,
            bootstrap_tokens: default_bootstrap_tokens(),
            node_registration: NodeRegistration::default(),
            local_api_endpoint: ApiEndpoint::default(),
            certificate_key: None,
            skip_phases: Vec::new(),
            patches: None,
            dry_run: false,
            timeouts: Timeouts::default(),
        }
    }
}

/// Everything an init run works from: the two kubeadm documents, the component configs passed
/// through, and the values resolved on this host.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API version of the file read (v1beta4 when there was none).
    pub api_version: ApiVersion,
    pub init: InitConfiguration,
    pub cluster: ClusterConfiguration,
    /// A `KubeletConfiguration` document from the file, merged over kubeadm's defaults.
    pub kubelet: Option<serde_yaml::Mapping>,
    /// A `KubeProxyConfiguration` document from the file.
    pub kube_proxy: Option<serde_yaml::Mapping>,
    /// The Kubernetes version to deploy.
    pub version: KubeVersion,
    /// `nodeRegistration.name`, or the host name in lower case.
    pub node_name: String,
    /// `localAPIEndpoint.advertiseAddress`, or the address of the default-route interface.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort`.
    pub bind_port: u16,
    /// `nodeRegistration.criSocket`, or the detected runtime's socket.
    pub cri_socket: String,
    /// The file the configuration came from, to point at fields in problems.
    pub source: Option<std::sync::Arc<Source>>,
}

impl Config {
    /// The CRI socket as a path (`unix:///run/containerd/containerd.sock` → `/run/…`).
    pub fn cri_socket_path(&self) -> &str {
        let socket = &self.cri_socket;
        socket.strip_prefix("unix://").unwrap_or(socket)
    }

    /// The preflight checks whose errors are only warnings, lower-cased (`all` for every check).
    pub fn ignored_preflight_errors(&self) -> Vec<String> {
        self.init
            .node_registration
            .ignore_preflight_errors
            .iter()
            .map(|s| s.to_lowercase())
            .collect()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn default_true() -> bool {
    true
}
fn default_etcd_data_dir() -> String {
    crate::fs::paths::DEFAULT_ETCD_DATA_DIR.into()
}
fn default_service_subnet() -> String {
    "10.96.0.0/12".into()
}
fn default_dns_domain() -> String {
    "cluster.local".into()
}
fn default_cert_dir() -> String {
    crate::fs::paths::DEFAULT_CERT_DIR.into()
}
/// The registry kubeadm pulls from (`registry.k8s.io`).
pub fn default_image_repository() -> String {
    "registry.k8s.io".into()
}
fn default_cluster_name() -> String {
    "kubernetes".into()
}
fn default_encryption_algorithm() -> String {
    "RSA-2048".into()
}
fn default_cert_validity() -> String {
    "8760h0m0s".into()
}
fn default_ca_cert_validity() -> String {
    "87600h0m0s".into()
}
fn default_pull_policy() -> String {
    "IfNotPresent".into()
}
fn default_bind_port() -> i64 {
    6443
}
fn default_token_usages() -> Vec<String> {
    vec!["signing".into(), "authentication".into()]
}
fn default_token_groups() -> Vec<String> {
    vec!["system:bootstrappers:kubeadm:default-node-token".into()]
}
fn default_bootstrap_tokens() -> Vec<BootstrapToken> {
    vec![BootstrapToken::default()]
}
fn t1m() -> String {
    "1m0s".into()
}
fn t2m() -> String {
    "2m0s".into()
}
fn t4m() -> String {
    "4m0s".into()
}
fn t5m() -> String {
    "5m0s".into()
}

pub mod duration;
pub mod flags;
mod resolve;

pub use resolve::{CRI_SOCKETS, Documents, Overrides, detect_cri_socket, path_dirs, resolve};

mod defaults;
mod load;
mod locate;
mod source;
mod validate;

pub use defaults::{document, print_init_defaults};
pub use load::{InvalidConfig, check, load_file, parse, validate_file};
pub use source::Source;
pub use validate::{Problem, is_dns_subdomain, parse_cidr, service_ip, validate};
