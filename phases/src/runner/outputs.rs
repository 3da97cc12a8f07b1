//! What a command reports at its end, for the text summary and for `-o json|yaml`.

use serde::Serialize;

/// The result of `kubestrap init` that scripts need.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    /// `host:port` joining nodes connect to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_endpoint: Option<String>,
    /// The bootstrap tokens of this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
    /// `sha256:<hex>` of each cluster CA's public key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_hashes: Vec<String>,
    /// The worker join command, one per token, on one line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub join_commands: Vec<String>,
    /// The control-plane join command, when `controlPlaneEndpoint` is set, on one line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub control_plane_join_commands: Vec<String>,
    /// The key that opens the uploaded certificates (unless `--skip-certificate-key-print`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    /// Why the node is not Ready yet at the end of init (the kubelet's own words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_not_ready: Option<String>,
    /// What happened to the invoking user's kubeconfig.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_kubeconfig: Option<String>,
    /// Seconds each phase took, in run order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseTiming>,
    /// reset: mount points left in place (with their files) because they could not be unmounted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_mounted: Vec<String>,
}

/// How long one phase took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub seconds: f64,
}
