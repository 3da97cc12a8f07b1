//! kubeadm's `ResetConfiguration` (`kubeadm.k8s.io/v1beta4` only): the settings of `reset`, which
//! the command-line flags override.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use super::{ApiVersion, InvalidConfig};

/// `ResetConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetConfiguration {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub cleanup_tmp_dir: bool,
    #[serde(default)]
    pub certificates_dir: Option<String>,
    #[serde(default)]
    pub cri_socket: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    /// Flags for unmounting the kubelet's mounts (`MNT_FORCE`, `MNT_DETACH`, …).
    #[serde(default)]
    pub unmount_flags: Vec<String>,
    /// Refused when set: reset's waits are its own.
    #[serde(default)]
    pub timeouts: Option<serde_yaml::Value>,
}

/// Reads the `ResetConfiguration` of a kubeadm config file (other kinds in it are passed over).
pub fn load_reset(path: &Path) -> Result<ResetConfiguration> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    parse_reset(&text, &path.display().to_string())
}

/// [`load_reset`] from text; `name` names the file in problems.
pub fn parse_reset(text: &str, name: &str) -> Result<ResetConfiguration> {
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc)
            .map_err(|e| InvalidConfig(vec![format!("{name}: {e}")]))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("ResetConfiguration") {
            continue;
        }
        let version = value.get("apiVersion").and_then(|v| v.as_str());
        if version.and_then(ApiVersion::parse) != Some(ApiVersion::V1Beta4) {
            return Err(InvalidConfig(vec![format!(
                "{name}: ResetConfiguration exists only in kubeadm.k8s.io/v1beta4, not {}",
                version.unwrap_or("(no apiVersion)")
            )])
            .into());
        }
        let cfg: ResetConfiguration = serde_yaml::from_value(value)
            .map_err(|e| InvalidConfig(vec![format!("{name}: ResetConfiguration: {e}")]))?;
        if !cfg.unmount_flags.is_empty() {
            return Err(InvalidConfig(vec![format!(
                "{name}: ResetConfiguration `unmountFlags` is not supported: kubestrap unmounts without flags"
            )])
            .into());
        }
        if cfg.timeouts.is_some() {
            return Err(InvalidConfig(vec![format!(
                "{name}: ResetConfiguration `timeouts` is not supported: kubestrap's reset uses its own time limits"
            )])
            .into());
        }
        return Ok(cfg);
    }
    bail!(InvalidConfig(vec![format!(
        "{name}: no ResetConfiguration (kubeadm.k8s.io/v1beta4) was found in the file"
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reset_document_and_refuses_what_it_cannot_do() {
        let cfg = parse_reset(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\ncleanupTmpDir: true\ncriSocket: unix:///run/containerd/containerd.sock\nskipPhases: [remove-etcd-member]\n",
            "r.yaml",
        )
        .unwrap();
        assert!(cfg.force && cfg.cleanup_tmp_dir);
        assert_eq!(cfg.skip_phases, ["remove-etcd-member"]);
        for (text, want) in [
            (
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ResetConfiguration\n",
                "only in kubeadm.k8s.io/v1beta4",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforse: true\n",
                "unknown field `forse`",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nunmountFlags: [MNT_FORCE]\n",
                "unmountFlags",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
                "no ResetConfiguration",
            ),
        ] {
            let err = format!("{:#}", parse_reset(text, "r.yaml").unwrap_err());
            assert!(err.contains(want), "{err}");
        }
    }
}
