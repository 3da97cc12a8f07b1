//! The steps of `upgrade apply` and `upgrade node` (kubeadm's `app/phases/upgrade`): the
//! cluster read once ([`cluster`]), the checks before anything changes ([`checks`]), the
//! control-plane static pods replaced one at a time with backup, wait and rollback
//! ([`staticpods`], resumable through [`record`]), and what follows the control plane
//! ([`post`]).

pub mod checks;
pub mod cluster;
pub mod migrate;
pub mod podwait;
pub mod post;
pub mod record;
pub mod staticpods;

use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::api::etcd_client::{ClientTls, EtcdClient};

use crate::runner::context::Context;
use crate::version::KubeVersion;

pub use checks::{images as check_images, preflight};
pub use cluster::{
    COMPONENTS, ClusterView, MirrorPod, NodeView, api_server_version, local_manifests,
    manifest_flag, tag,
};
pub use migrate::run as post_upgrade;
pub use post::{
    bootstrap_token_rbac, coredns, kube_proxy, kubelet_config_file, kubelet_config_map,
    upload_kubeadm_config,
};
pub use record::{RECORD, Record};
pub use staticpods::{
    dated, diff, manifest_tag, prefetch_renewal_keys, run as control_plane, same_content,
    target_manifest,
};

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
    /// `imagePullPolicy` of those images: `IfNotPresent`, `Always` or `Never`.
    pub image_pull_policy: String,
    /// The kubelet's configuration comes from `--config`, not from the cluster's ConfigMap.
    pub kubelet_from_file: bool,
    /// kube-proxy's configuration comes from `--config`, not from its ConfigMap.
    pub kube_proxy_from_file: bool,
}

/// Where the local etcd answers this node's clients.
const LOCAL_ETCD: &str = "https://127.0.0.1:2379";

/// Before etcd's manifest is replaced: a consistent snapshot of its database taken through
/// etcd's maintenance API (not a copy of the live data folder, which fails when etcd rotates a
/// WAL file during the copy), under `/etc/kubernetes/tmp/kubeadm-backup-etcd-<date>`.
pub fn snapshot_etcd(ctx: &Context) -> Result<()> {
    let backup = dated("kubeadm-backup-etcd", ctx.started);
    let file = format!("{backup}/etcd-snapshot.db");
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            &format!("would take a snapshot of etcd's database into `{file}`"),
        );
        return Ok(());
    }
    let dir = ctx.cert_dir();
    let tls = ClientTls {
        ca: ctx.root.read(format!("{dir}/etcd/ca.crt"))?,
        identity: Some((
            ctx.root
                .read(format!("{dir}/etcd/healthcheck-client.crt"))?,
            ctx.root
                .read(format!("{dir}/etcd/healthcheck-client.key"))?,
        )),
    };
    let client = EtcdClient::new(
        LOCAL_ETCD,
        Some(&tls),
        Duration::from_secs(5),
        ETCD_SNAPSHOT_TIMEOUT,
    )?;
    ctx.root.create_dir(&backup, 0o700)?;
    let info = client
        .snapshot(&ctx.root.physical(&file)?)
        .with_context(|| format!("failed to back up etcd before its upgrade; nothing was changed for etcd\n\nhint: check etcd's health (`kubectl -n kube-system get pod etcd-{}`), or pass --etcd-upgrade=false to leave etcd as it is", ctx.cfg.node_name))?;
    ctx.out.status(
        "upgrade/etcd",
        &format!(
            "Took a snapshot of etcd's database through its API: `{file}` ({} bytes, sha256 {})",
            info.size, info.sha256
        ),
    );
    Ok(())
}

/// How long the snapshot of etcd's database may take.
const ETCD_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(300);
