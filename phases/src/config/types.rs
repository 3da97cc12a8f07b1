//! The fields of `ClusterConfiguration` and `InitConfiguration`, with kubeadm's defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ExtraArgs;

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
    /// An empty list takes the defaults, as kubeadm's defaulting does.
    #[serde(
        default = "default_token_usages",
        deserialize_with = "usages_or_default"
    )]
    pub usages: Vec<String>,
    #[serde(
        default = "default_token_groups",
        deserialize_with = "groups_or_default"
    )]
    pub groups: Vec<String>,
}

fn usages_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    Ok(if list.is_empty() {
        default_token_usages()
    } else {
        list
    })
}

fn groups_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    Ok(if list.is_empty() {
        default_token_groups()
    } else {
        list
    })
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

pub(super) fn is_false(b: &bool) -> bool {
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
pub(super) fn default_cert_dir() -> String {
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
