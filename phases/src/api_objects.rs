//! The objects kubestrap only writes to the API server, rendered from `templates/rbac` and
//! `templates/addons`, and applied with create-or-update.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::api::{Api, Applied};

/// Node-bootstrap RBAC (spec §8.3).
pub const RBAC_BOOTSTRAP_TOKEN: &str = include_str!("../../templates/rbac/bootstrap-token.yaml");
/// Anonymous read of `kube-public/cluster-info`.
pub const RBAC_CLUSTER_INFO: &str = include_str!("../../templates/rbac/cluster-info.yaml");
/// Nodes may read `kube-system/kubeadm-config`.
pub const RBAC_UPLOAD_CONFIG: &str = include_str!("../../templates/rbac/upload-config.yaml");
/// Nodes may read the kubelet-config ConfigMap.
pub const RBAC_KUBELET_CONFIG: &str = include_str!("../../templates/rbac/kubelet-config.yaml");
/// kube-proxy: ServiceAccount, RBAC, ConfigMap, DaemonSet.
pub const ADDON_KUBE_PROXY: &str = include_str!("../../templates/addons/kube-proxy.yaml");
/// CoreDNS: RBAC, ConfigMap, Deployment, Service.
pub const ADDON_COREDNS: &str = include_str!("../../templates/addons/coredns.yaml");

/// Every template of this module, for the render test.
pub const ALL: &[(&str, &str)] = &[
    ("rbac/bootstrap-token.yaml", RBAC_BOOTSTRAP_TOKEN),
    ("rbac/cluster-info.yaml", RBAC_CLUSTER_INFO),
    ("rbac/upload-config.yaml", RBAC_UPLOAD_CONFIG),
    ("rbac/kubelet-config.yaml", RBAC_KUBELET_CONFIG),
    ("addons/kube-proxy.yaml", ADDON_KUBE_PROXY),
    ("addons/coredns.yaml", ADDON_COREDNS),
];

/// Fills `{{key}}` placeholders; an unknown placeholder or an unused value is an error.
pub fn render(name: &str, src: &str, vars: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(src.len());
    let mut used = vec![false; vars.len()];
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            bail!("template `{name}`: unclosed `{{{{`");
        };
        let key = &rest[start + 2..start + 2 + len];
        let Some(i) = vars.iter().position(|(k, _)| *k == key) else {
            bail!("template `{name}`: no value for placeholder `{{{{{key}}}}}`");
        };
        used[i] = true;
        out.push_str(&rest[..start]);
        out.push_str(&vars[i].1);
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    if let Some(i) = used.iter().position(|u| !u) {
        bail!("template `{name}` has no placeholder for `{}`", vars[i].0);
    }
    Ok(out)
}

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

/// Renders a template and creates or updates each of its objects, in order.
pub fn apply(
    api: &Api<'_>,
    name: &str,
    src: &str,
    vars: &[(&str, String)],
) -> Result<Vec<Applied>> {
    let docs = documents(name, &render(name, src, vars)?)?;
    docs.iter().map(|d| api.create_or_update(d)).collect()
}

/// A string as a YAML double-quoted scalar (valid JSON is valid YAML).
pub fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A multi-line text as a YAML literal block indented by `indent` spaces (for ConfigMap data).
pub fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::from("|\n");
    for line in text.trim_end_matches('\n').lines() {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out.trim_end_matches('\n').to_string()
}
