//! Building the API client of a workflow: which kubeconfig, and the bootstrap of the
//! `kubeadm:cluster-admins` binding on versions whose admin.conf needs it.

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::api::http::HttpTransport;
use crate::api::{Client, DryRun, Retry};
use crate::fs::paths;
use crate::runner::context::Context;

/// The group admin.conf belongs to from 1.29 on.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

/// The retry policy of a run: `timeouts.kubernetesAPICall`.
pub fn retry(ctx: &Context) -> Retry {
    let timeout = crate::config::duration::parse(&ctx.cfg.init.timeouts.kubernetes_api_call)
        .unwrap_or(std::time::Duration::from_secs(60));
    Retry {
        timeout,
        ..Retry::default()
    }
}

/// The client of a run: admin.conf under the root (after making sure, on 1.29+, that its group
/// has rights), or a dry-run client addressed at the advertise address.
pub fn build(ctx: &Context) -> Result<Client> {
    if ctx.opts.dry_run {
        let endpoint = format!(
            "https://{}:{}",
            crate::api::objects::host_port_ip(ctx.cfg.advertise_address),
            ctx.cfg.bind_port
        );
        return Ok(Client::dry_run(DryRun::new(endpoint, &ctx.cfg.node_name)));
    }
    ready(ctx, admin_client(ctx)?)
}

/// Makes a client from [`admin_client`] ready for the API phases (the binding admin.conf's group
/// needs on 1.29+), once the API server answers.
pub fn ready(ctx: &Context, admin: Client) -> Result<Client> {
    if ctx.profile().super_admin {
        ensure_cluster_admins(ctx, &admin)?;
    }
    Ok(admin)
}

/// A client with admin.conf as it is, for health checks while the API server starts (the
/// `kubeadm:cluster-admins` binding can only be made once it answers).
pub fn admin_client(ctx: &Context) -> Result<Client> {
    let admin = paths::kubeconfig("admin.conf");
    if !ctx.root.exists(&admin) {
        anyhow::bail!(
            "`{admin}` does not exist, so kubestrap cannot reach the API server\n\nhint: run `kubestrap init phase kubeconfig admin` first"
        );
    }
    Ok(Client::new(
        Box::new(HttpTransport::from_kubeconfig(&ctx.root, &admin)?),
        retry(ctx),
    ))
}

/// 1.29+: admin.conf is in `kubeadm:cluster-admins`, which has rights only once the binding to
/// `cluster-admin` exists; super-admin.conf (system:masters) creates it, as kubeadm does.
fn ensure_cluster_admins(ctx: &Context, admin: &Client) -> Result<()> {
    let crb = cluster_admins_binding();
    let target = crate::api::ObjectRef::of(&crb)?;
    let api = admin.with(ctx.out.as_ref());
    if let Ok(Some(_)) = api.get_value(&target.path(), &target) {
        return Ok(());
    }
    let super_admin = paths::kubeconfig("super-admin.conf");
    if !ctx.root.exists(&super_admin) {
        // Not an init node (admin.conf already works, or the binding exists).
        return Ok(());
    }
    let su = Client::new(
        Box::new(HttpTransport::from_kubeconfig(&ctx.root, &super_admin)?),
        retry(ctx),
    );
    su.with(ctx.out.as_ref())
        .create_or_update(&crb)
        .with_context(|| {
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
