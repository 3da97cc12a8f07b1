//! The cluster's `kube-system/kubeadm-config` ConfigMap through the API: fetched, built for an
//! upload, and its ClusterStatus (kubeadm ≤ 1.21) patched. What the documents say is
//! [`crate::config::kubeadm_config`]'s.

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::api::objects::ConfigMap;
use crate::api::{Api, MERGE_PATCH, ObjectRef};
use crate::config::ClusterConfiguration;
use crate::config::kubeadm_config::{
    CLUSTER_CONFIGURATION_KEY, CLUSTER_STATUS_KEY, CONFIG_MAP, cluster_status_with,
    cluster_status_without, parse_cluster_configuration,
};
use crate::version::KubeVersion;

/// `kube-system/kubeadm-config`.
pub fn reference() -> Result<ObjectRef> {
    ObjectRef::new("v1", "ConfigMap", Some("kube-system"), CONFIG_MAP)
}

/// The ConfigMap, `None` when the cluster has none.
pub fn fetch(api: &Api<'_>) -> Result<Option<ConfigMap>> {
    api.get::<ConfigMap>(&reference()?)
}

/// The ClusterConfiguration document as uploaded.
pub fn cluster_configuration_text(api: &Api<'_>) -> Result<String> {
    let cm = fetch(api)?
        .context("the cluster has no kube-system/kubeadm-config ConfigMap\n\nhint: on the control-plane node, run `kubestrap init phase upload-config kubeadm`")?;
    cm.data
        .get(CLUSTER_CONFIGURATION_KEY)
        .cloned()
        .context("the kubeadm-config ConfigMap has no `ClusterConfiguration` key")
}

/// The cluster's ClusterConfiguration and Kubernetes version.
pub fn cluster_configuration(api: &Api<'_>) -> Result<(ClusterConfiguration, KubeVersion)> {
    parse_cluster_configuration(&cluster_configuration_text(api)?)
}

/// The ClusterStatus document, `None` when the cluster keeps none (made for 1.22 or newer).
pub fn cluster_status(api: &Api<'_>) -> Result<Option<String>> {
    Ok(fetch(api)?.and_then(|cm| cm.data.get(CLUSTER_STATUS_KEY).cloned()))
}

/// The ConfigMap to upload: `cluster_configuration` (the document), and with `status` (a node
/// and its API endpoint) the ClusterStatus the cluster keeps with that node in it.
pub fn config_map(
    api: &Api<'_>,
    cluster_configuration: String,
    status: Option<(&str, (IpAddr, u16))>,
) -> Result<Value> {
    let mut data = json!({ CLUSTER_CONFIGURATION_KEY: cluster_configuration });
    if let Some((node, endpoint)) = status {
        let existing = cluster_status(api)?;
        data[CLUSTER_STATUS_KEY] = json!(cluster_status_with(node, endpoint, existing.as_deref())?);
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": "kube-system"},
        "data": data,
    }))
}

/// Adds (or updates) `node`'s API endpoint in the ClusterStatus.
pub fn add_to_cluster_status(api: &Api<'_>, node: &str, endpoint: (IpAddr, u16)) -> Result<()> {
    let existing = cluster_status(api)?;
    let status = cluster_status_with(node, endpoint, existing.as_deref())?;
    patch_cluster_status(api, &status)
}

/// Removes `node`'s API endpoint from the ClusterStatus; whether it was there.
pub fn remove_from_cluster_status(api: &Api<'_>, node: &str) -> Result<bool> {
    let Some(status) = cluster_status(api)? else {
        return Ok(false);
    };
    let Some(updated) = cluster_status_without(&status, node)? else {
        return Ok(false);
    };
    patch_cluster_status(api, &updated)?;
    Ok(true)
}

fn patch_cluster_status(api: &Api<'_>, status: &str) -> Result<()> {
    api.patch(
        &reference()?,
        MERGE_PATCH,
        &json!({"data": {CLUSTER_STATUS_KEY: status}}),
    )?;
    Ok(())
}
