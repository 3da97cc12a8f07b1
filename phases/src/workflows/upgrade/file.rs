//! `--config` of the upgrade commands: the v1beta4 UpgradeConfiguration's section of the
//! command (the flags win over it), and a ClusterConfiguration, KubeletConfiguration or
//! KubeProxyConfiguration beside it, which replace what the cluster keeps: an upgrade to the
//! version the cluster runs then reconfigures it. An InitConfiguration has no effect and is
//! warned about.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::config::{self, ClusterConfiguration};

use super::UpgradeOptions;

/// Which command reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Apply,
    Node,
    Diff,
}

/// What the file gives beyond the options it fills in.
#[derive(Debug, Clone, Default)]
pub struct FromFile {
    /// A ClusterConfiguration: used instead of the cluster's.
    pub cluster: Option<ClusterConfiguration>,
    pub kubelet: Option<serde_yaml::Mapping>,
    pub kube_proxy: Option<serde_yaml::Mapping>,
    pub allow_experimental: bool,
    pub allow_rc: bool,
    pub image_pull_policy: Option<String>,
    /// `timeouts.upgradeManifests`.
    pub timeout: Option<Duration>,
    /// `diff.contextLines`.
    pub context_lines: Option<usize>,
    /// What the file sets to no effect, for the command to show.
    pub warnings: Vec<String>,
}

/// Reads `opts.config` (if any) into `opts` (where no flag was given) and what else it gives.
pub fn merge(opts: &mut UpgradeOptions, command: Command) -> Result<FromFile> {
    let Some(path) = opts.config.clone() else {
        return Ok(FromFile::default());
    };
    read(&path, opts, command)
}

fn read(path: &Path, opts: &mut UpgradeOptions, command: Command) -> Result<FromFile> {
    let docs = config::load_file(path)?;
    let has = |kind: &str| docs.source.as_ref().is_some_and(|s| s.has_kind(kind));
    let mut found = FromFile {
        cluster: has("ClusterConfiguration").then(|| docs.cluster.clone()),
        kubelet: docs.kubelet.clone(),
        kube_proxy: docs.kube_proxy.clone(),
        ..FromFile::default()
    };
    if has("InitConfiguration") {
        found.warnings.push(format!(
            "{}: the InitConfiguration has no effect on an upgrade: this node's settings are read from the node itself",
            path.display()
        ));
    }
    if has("JoinConfiguration") {
        found.warnings.push(format!(
            "{}: the JoinConfiguration has no effect on an upgrade",
            path.display()
        ));
    }
    let Some(settings) = config::upgrade::upgrade_settings(&docs)? else {
        return Ok(found);
    };
    found.warnings.extend(settings.warnings.iter().cloned());
    found.timeout = settings.upgrade_manifests_timeout;
    if command == Command::Diff {
        if opts.version.is_none() {
            opts.version = settings.diff.kubernetes_version.map(|v| v.to_string());
        }
        found.context_lines = settings.diff.context_lines;
        return Ok(found);
    }
    let patches = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let (dry_run, certificate_renewal, etcd_upgrade, ignore, patch_dir, skip, policy, serial) =
        match command {
            Command::Apply => {
                let a = &settings.apply;
                if opts.version.is_none() {
                    opts.version = a.kubernetes_version.map(|v| v.to_string());
                }
                opts.force |= a.force_upgrade.unwrap_or(false);
                found.allow_experimental = a.allow_experimental_upgrades.unwrap_or(false);
                found.allow_rc = a.allow_rc_upgrades.unwrap_or(false);
                (
                    a.dry_run,
                    a.certificate_renewal,
                    a.etcd_upgrade,
                    a.ignore_preflight_errors.clone(),
                    patches(&a.patches),
                    a.skip_phases.clone(),
                    a.image_pull_policy.clone(),
                    a.image_pull_serial,
                )
            }
            Command::Node | Command::Diff => {
                let n = &settings.node;
                (
                    n.dry_run,
                    n.certificate_renewal,
                    n.etcd_upgrade,
                    n.ignore_preflight_errors.clone(),
                    patches(&n.patches),
                    n.skip_phases.clone(),
                    n.image_pull_policy.clone(),
                    n.image_pull_serial,
                )
            }
        };
    opts.dry_run |= dry_run.unwrap_or(false);
    opts.certificate_renewal = opts.certificate_renewal.or(certificate_renewal);
    opts.etcd_upgrade = opts.etcd_upgrade.or(etcd_upgrade);
    opts.ignore_preflight_errors
        .extend(ignore.unwrap_or_default());
    if opts.patches.is_none() {
        opts.patches = patch_dir;
    }
    if opts.skip_phases.is_empty() {
        opts.skip_phases = skip.unwrap_or_default();
    }
    found.image_pull_policy = policy;
    if serial == Some(false) {
        found.warnings.push(
            "imagePullSerial: false: kubestrap pulls the images one at a time all the same".into(),
        );
    }
    Ok(found)
}
