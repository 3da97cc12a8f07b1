//! reset's `update-cluster-status` (kubeadm ≤ 1.21): this control-plane node's API endpoint
//! leaves the ClusterStatus kept in kubeadm-config, so later control-plane joins and upgrades
//! do not count a node that is gone. Clusters made for 1.22 and newer have no ClusterStatus;
//! the phase then has nothing to do. A cluster that does not answer only gets a warning, as
//! with kubeadm: reset must work on a broken cluster.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use serde_yaml::{Mapping, Value};

use crate::api::objects::ConfigMap;
use crate::api::{MERGE_PATCH, Retry, client};
use crate::fs::paths;
use crate::phases::upload_config::{self, CLUSTER_STATUS_KEY};
use crate::runner::context::Context;

/// How long reset waits for the API server before it warns and goes on.
const API_WAIT: Duration = Duration::from_secs(10);

/// `status` (a ClusterStatus document) without `node`'s endpoint; `None` when it has none.
pub fn without_node(status: &str, node: &str) -> Result<Option<String>> {
    let mut doc: Mapping = serde_yaml::from_str(status)?;
    let Some(Value::Mapping(endpoints)) = doc.get_mut("apiEndpoints") else {
        return Ok(None);
    };
    if endpoints.remove(node).is_none() {
        return Ok(None);
    }
    Ok(Some(serde_yaml::to_string(&doc)?))
}

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
    let retry = Retry {
        timeout: API_WAIT,
        ..Retry::default()
    };
    let admin = client::admin(&ctx.root, retry)?;
    let api = admin.with(ctx);
    let target = upload_config::kubeadm_config_ref()?;
    let Some(status) = api
        .get::<ConfigMap>(&target)?
        .and_then(|cm| cm.data.get(CLUSTER_STATUS_KEY).cloned())
    else {
        return Ok(());
    };
    if let Some(updated) = without_node(&status, node)? {
        api.patch(
            &target,
            MERGE_PATCH,
            &json!({"data": {CLUSTER_STATUS_KEY: updated}}),
        )?;
        ctx.out.status(
            "reset",
            &format!("Removed {node:?} from the ClusterStatus in kube-system/kubeadm-config"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phases::upload_config::cluster_status;

    #[test]
    fn only_this_node_leaves_the_cluster_status() {
        let two = cluster_status("n1", ("10.0.0.1".parse().unwrap(), 6443), None).unwrap();
        let two = cluster_status("n2", ("10.0.0.2".parse().unwrap(), 6443), Some(&two)).unwrap();
        let one = without_node(&two, "n2").unwrap().unwrap();
        let doc: Mapping = serde_yaml::from_str(&one).unwrap();
        let endpoints = doc["apiEndpoints"].as_mapping().unwrap();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints["n1"]["advertiseAddress"], "10.0.0.1");
        assert_eq!(doc["kind"], "ClusterStatus");
        assert_eq!(without_node(&one, "n2").unwrap(), None);
        assert_eq!(without_node("kind: ClusterStatus\n", "n1").unwrap(), None);
    }
}
