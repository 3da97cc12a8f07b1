//! `config migrate`: a kubeadm.k8s.io/v1beta3 file in kubeadm.k8s.io/v1beta4, with kubeadm's
//! mapping: extraArgs maps become `{name, value}` lists, `apiServer.timeoutForControlPlane`
//! becomes the InitConfiguration's `timeouts.controlPlaneComponentHealthCheck` and
//! `discovery.timeout` the JoinConfiguration's `timeouts.discovery`; defaults are written out and
//! comments dropped, as kubeadm does. Unlike kubeadm, which drops them, KubeletConfiguration and
//! KubeProxyConfiguration documents are kept as they are, so the new file deploys the same node.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_yaml::Value;

use super::defaults::document;
use super::load::{InvalidConfig, MAX_CONFIG_BYTES, parse, read_config};
use super::{ApiVersion, Timeouts};
use crate::fs::root::Root;

/// The migrated documents of the file at `path` (read as `--config` is: at most 1 MiB, a
/// regular file).
pub fn migrate_file(path: &Path) -> Result<String> {
    let text = read_config(path)?;
    migrate(&text, &path.display().to_string())
}

/// Writes the migrated text to `path` under the root (a relative path is taken from the current
/// folder), as a private file (it may hold bootstrap tokens). An existing file is replaced only
/// when it is a kubeadm configuration (it keeps its mode), or with `force`. Returns the logical
/// path written.
pub fn write_migrated(root: &Root, path: &Path, text: &str, force: bool) -> Result<String> {
    let logical = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("failed to read the current folder")?
            .join(path)
    };
    let shown = logical.display().to_string();
    let mut mode = 0o600;
    if root.exists(&logical) {
        let physical = root.physical(&logical)?;
        let meta =
            std::fs::metadata(&physical).with_context(|| format!("failed to inspect `{shown}`"))?;
        let existing = root
            .read_bounded(&logical, MAX_CONFIG_BYTES)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let is_config = existing.as_deref().is_some_and(is_kubeadm_config);
        if !is_config && !force {
            return Err(InvalidConfig(vec![format!(
                "--new-config `{shown}` exists and is not a kubeadm configuration: kubestrap does not replace it\n\nhint: give another path, or add --force to replace it"
            )])
            .into());
        }
        if !meta.is_file() {
            bail!(
                "--new-config `{shown}` is not a regular file: kubestrap writes the new configuration only over a file"
            );
        }
        if is_config {
            mode = meta.permissions().mode() & 0o7777;
        }
    }
    root.write(&logical, text.as_bytes(), mode)?;
    Ok(shown)
}

/// Whether a text holds a document of the kubeadm configuration API.
fn is_kubeadm_config(text: &str) -> bool {
    if super::yaml::check_expansion(text).is_err() {
        return false;
    }
    serde_yaml::Deserializer::from_str(text).any(|doc| {
        serde::Deserialize::deserialize(doc)
            .ok()
            .and_then(|v: Value| {
                v.get("apiVersion")?
                    .as_str()
                    .map(|a| a.starts_with("kubeadm.k8s.io/"))
            })
            .unwrap_or(false)
    })
}

/// The documents of `text` (a file named `name`) in kubeadm.k8s.io/v1beta4.
pub fn migrate(text: &str, name: &str) -> Result<String> {
    let (docs, problems) = parse(text, name);
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    let mut init = docs.init.clone();
    let mut cluster = docs.cluster.clone();
    if let Some(t) = cluster.api_server.timeout_for_control_plane.take() {
        init.timeouts.control_plane_component_health_check = t;
    }
    let v4 = ApiVersion::V1Beta4;
    let mut out = Vec::new();
    if docs.has_init_kinds {
        out.push(document(v4, "InitConfiguration", &init, &init)?);
        out.push(document(v4, "ClusterConfiguration", &cluster, &init)?);
    }
    if let Some(join) = &docs.join {
        let mut join = join.clone();
        let mut timeouts = join.timeouts.take().unwrap_or_else(Timeouts::default);
        if let Some(t) = join.discovery.timeout.take() {
            timeouts.discovery = t;
        }
        join.timeouts = Some(timeouts);
        out.push(document(v4, "JoinConfiguration", &join, &init)?);
    }
    if let Some(reset) = &docs.reset {
        out.push(document(v4, "ResetConfiguration", reset, &init)?);
    }
    if let Some(upgrade) = &docs.upgrade {
        out.push(document(v4, "UpgradeConfiguration", upgrade, &init)?);
    }
    for component in [&docs.kubelet, &docs.kube_proxy].into_iter().flatten() {
        out.push(serde_yaml::to_string(&Value::Mapping(component.clone()))?);
    }
    Ok(out.join("---\n"))
}
