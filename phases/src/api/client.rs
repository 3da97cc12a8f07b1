//! Building API clients from kubeconfig files under the root: admin.conf, and on 1.29+ the
//! `kubeadm:cluster-admins` binding that admin.conf's group needs, made with super-admin.conf.
//! Which client a phase gets is the workflow's choice; these are the pieces.

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::api::http::HttpTransport;
use crate::api::{Client, DryRun, Log, ObjectRef, Retry};
use crate::config::Config;
use crate::config::duration;
use crate::fs::paths;
use crate::fs::root::Root;

/// The group admin.conf belongs to from 1.29 on.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

/// The retry policy of a run: `timeouts.kubernetesAPICall`.
pub fn retry(cfg: &Config) -> Retry {
    let timeout = duration::parse(&cfg.init.timeouts.kubernetes_api_call)
        .unwrap_or(std::time::Duration::from_secs(60));
    Retry {
        timeout,
        ..Retry::default()
    }
}

/// A client for the current context of a kubeconfig file under the root.
pub fn from_kubeconfig(root: &Root, path: &str, retry: Retry) -> Result<Client> {
    Ok(Client::new(
        Box::new(HttpTransport::from_kubeconfig(root, path)?),
        retry,
    ))
}

/// A dry-run client that reads the cluster of admin.conf under the root and only reports what
/// it would change.
pub fn dry_run_reading(root: &Root) -> Result<Client> {
    let admin = paths::kubeconfig("admin.conf");
    Ok(Client::dry_run(DryRun::reading(Box::new(
        HttpTransport::from_kubeconfig(root, &admin)?,
    ))))
}

/// A dry-run client addressed at this node's API server (`advertiseAddress:bindPort`).
pub fn dry_run(cfg: &Config) -> Client {
    let endpoint = format!(
        "https://{}:{}",
        crate::config::net::url_host(cfg.advertise_address),
        cfg.bind_port
    );
    Client::dry_run(DryRun::new(endpoint, &cfg.node_name))
}

/// A client with admin.conf as it is (on 1.29+ its group has rights only once
/// [`ensure_cluster_admins`] ran); the error names the phase that writes the file.
pub fn admin(root: &Root, retry: Retry) -> Result<Client> {
    let admin = paths::kubeconfig("admin.conf");
    if !root.exists(&admin) {
        anyhow::bail!(
            "`{admin}` does not exist, so kubestrap cannot reach the API server\n\nhint: run `kubestrap init phase kubeconfig admin` first"
        );
    }
    from_kubeconfig(root, &admin, retry)
}

/// 1.29+: admin.conf is in `kubeadm:cluster-admins`, which has rights only once the binding to
/// `cluster-admin` exists; super-admin.conf (system:masters) creates it, as kubeadm does.
pub fn ensure_cluster_admins(
    root: &Root,
    admin: &Client,
    out: &dyn Log,
    retry: Retry,
) -> Result<()> {
    let crb = cluster_admins_binding();
    let target = ObjectRef::of(&crb)?;
    let api = admin.with(out);
    if let Ok(Some(_)) = api.get_value(&target.path(), &target) {
        return Ok(());
    }
    let super_admin = paths::kubeconfig("super-admin.conf");
    if !root.exists(&super_admin) {
        // Not an init node (admin.conf already works, or the binding exists).
        return Ok(());
    }
    let su = from_kubeconfig(root, &super_admin, retry)?;
    su.with(out).create_or_update(&crb).with_context(|| {
        format!("failed to grant `{CLUSTER_ADMINS_GROUP}` cluster-admin using `{super_admin}`")
    })?;
    Ok(())
}

/// ClusterRoleBinding `kubeadm:cluster-admins` → `cluster-admin`.
pub fn cluster_admins_binding() -> serde_json::Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": CLUSTER_ADMINS_GROUP},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CLUSTER_ADMINS_GROUP}],
    })
}
