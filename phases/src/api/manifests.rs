//! The objects kubestrap only writes to the API server, rendered from `templates/rbac` and
//! `templates/addons`, and applied with create-or-update.

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::api::Api;

/// Node-bootstrap RBAC (spec §8.3).
pub const RBAC_BOOTSTRAP_TOKEN: &str = include_str!("../../../templates/rbac/bootstrap-token.yaml");
/// Anonymous read of `kube-public/cluster-info`.
pub const RBAC_CLUSTER_INFO: &str = include_str!("../../../templates/rbac/cluster-info.yaml");
/// Nodes may read `kube-system/kubeadm-config`.
pub const RBAC_UPLOAD_CONFIG: &str = include_str!("../../../templates/rbac/upload-config.yaml");
/// Nodes may read the kubelet-config ConfigMap.
pub const RBAC_KUBELET_CONFIG: &str = include_str!("../../../templates/rbac/kubelet-config.yaml");
/// Joining control-plane nodes may read `kube-system/kubeadm-certs`.
pub const RBAC_KUBEADM_CERTS: &str = include_str!("../../../templates/rbac/kubeadm-certs.yaml");
/// kube-proxy: ServiceAccount, RBAC, ConfigMap, DaemonSet.
pub const ADDON_KUBE_PROXY: &str = include_str!("../../../templates/addons/kube-proxy.yaml");
/// CoreDNS: RBAC, ConfigMap, Deployment, Service.
pub const ADDON_COREDNS: &str = include_str!("../../../templates/addons/coredns.yaml");

/// Every template of this module, for the render test.
pub const ALL: &[(&str, &str)] = &[
    ("rbac/bootstrap-token.yaml", RBAC_BOOTSTRAP_TOKEN),
    ("rbac/cluster-info.yaml", RBAC_CLUSTER_INFO),
    ("rbac/upload-config.yaml", RBAC_UPLOAD_CONFIG),
    ("rbac/kubelet-config.yaml", RBAC_KUBELET_CONFIG),
    ("rbac/kubeadm-certs.yaml", RBAC_KUBEADM_CERTS),
    ("addons/kube-proxy.yaml", ADDON_KUBE_PROXY),
    ("addons/coredns.yaml", ADDON_COREDNS),
];

/// The documents of a rendered multi-document YAML text, as JSON objects.
pub fn documents(name: &str, text: &str) -> Result<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc)
            .with_context(|| format!("template `{name}` is not valid YAML"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// A template's objects, rendered.
pub fn render(name: &str, src: &str, vars: &[(&str, String)]) -> Result<Vec<Value>> {
    documents(name, &crate::render::templates::render(name, src, vars)?)
}

/// Creates or updates objects that belong together. Workloads go last, since their pods need
/// the ServiceAccounts, ConfigMaps and RBAC beside them; the others do not depend on each other.
pub fn apply_objects(api: &Api<'_>, objs: Vec<Value>) -> Result<()> {
    let (workloads, others): (Vec<Value>, Vec<Value>) = objs
        .into_iter()
        .partition(|o| matches!(o["kind"].as_str(), Some("DaemonSet" | "Deployment")));
    api.create_or_update_all(&others)?;
    api.create_or_update_all(&workloads)?;
    Ok(())
}

/// Renders a template and creates or updates its objects.
pub fn apply(api: &Api<'_>, name: &str, src: &str, vars: &[(&str, String)]) -> Result<()> {
    apply_objects(api, render(name, src, vars)?)
}
