//! The steps of `upgrade apply` and `upgrade node` (kubeadm's `app/phases/upgrade`): the
//! cluster read once ([`cluster`]), the checks before anything changes ([`checks`]), the
//! control-plane static pods replaced one at a time with backup, wait and rollback
//! ([`staticpods`], resumable through [`record`]), and what follows the control plane
//! ([`post`]).

pub mod checks;
pub mod cluster;
pub mod post;
pub mod record;
pub mod staticpods;

use std::time::Duration;

use anyhow::{Result, bail};

use crate::runner::context::Context;
use crate::version::KubeVersion;

pub use checks::{images as check_images, preflight};
pub use cluster::{
    COMPONENTS, ClusterView, MirrorPod, NodeView, api_server_version, local_manifests,
    manifest_flag, tag,
};
pub use post::{
    bootstrap_token_rbac, coredns, kube_proxy, kubelet_config_file, kubelet_config_map,
    upload_kubeadm_config,
};
pub use record::{RECORD, Record};
pub use staticpods::{dated, manifest_tag, run as control_plane, same_content, target_manifest};

/// How long a component may take to come back after its manifest was replaced (kubeadm's
/// `upgradeManifestsTimeout` default).
pub const MANIFESTS_TIMEOUT: Duration = Duration::from_secs(300);

/// What the workflow decided for this upgrade, kept in the run's state for its steps.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The version the cluster runs (the API server's, or the record's when resuming).
    pub from: KubeVersion,
    pub to: KubeVersion,
    /// Renew the certificates of each component before it restarts.
    pub certificate_renewal: bool,
    /// Upgrade the local etcd when its manifest changes.
    pub etcd_upgrade: bool,
    /// How long each component may take to come back.
    pub timeout: Duration,
    /// The checks whose failures are only warnings (lower case; `all`).
    pub ignore_preflight_errors: Vec<String>,
    /// The images the target needs on this node.
    pub images: Vec<String>,
}

/// The consistent etcd snapshot taken before etcd's manifest is replaced.
pub fn snapshot_etcd(_ctx: &Context) -> Result<()> {
    bail!(
        "etcd's manifest changes with this upgrade, and kubestrap cannot take the etcd snapshot it keeps as a backup yet\n\nhint: pass --etcd-upgrade=false to upgrade the rest of the control plane and keep etcd as it is"
    )
}
