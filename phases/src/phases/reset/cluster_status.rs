//! reset's `update-cluster-status` (kubeadm ≤ 1.21): this control-plane node's API endpoint
//! leaves the ClusterStatus kept in kubeadm-config, so later control-plane joins and upgrades
//! do not count a node that is gone. Clusters made for 1.22 and newer have no ClusterStatus;
//! the phase then has nothing to do. A cluster that does not answer only gets a warning, as
//! with kubeadm: reset must work on a broken cluster.

use anyhow::Result;

use crate::api::cluster_config;
use crate::fs::paths;
use crate::runner::context::Context;

/// The `update-cluster-status` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    if !ctx.root.exists(paths::manifest("kube-apiserver")) {
        return Ok(());
    }
    let node = ctx.cfg.node_name.clone();
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            &format!("would remove {node:?} from the ClusterStatus in kube-system/kubeadm-config (clusters made for 1.21 and older)"),
        );
        return Ok(());
    }
    if let Err(e) = remove(ctx, &node) {
        ctx.out.warn(
            "reset",
            &format!("Failed to remove {node:?} from the ClusterStatus in kube-system/kubeadm-config: {e:#}\n\nhint: once the API server answers, remove the node's entry under `apiEndpoints` with `kubectl -n kube-system edit configmap kubeadm-config`"),
        );
    }
    Ok(())
}

fn remove(ctx: &Context, node: &str) -> Result<()> {
    if cluster_config::remove_from_cluster_status(&ctx.admin()?, node)? {
        ctx.out.status(
            "reset",
            &format!("Removed {node:?} from the ClusterStatus in kube-system/kubeadm-config"),
        );
    }
    Ok(())
}
