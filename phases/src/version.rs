//! Kubernetes versions kubestrap can deploy and every version difference that affects its output.
//!
//! [`Profile`] is the one table of such differences: phases, files, flags and image tags all ask it
//! rather than comparing version numbers themselves.

use std::fmt;

use anyhow::{Result, bail};

/// Oldest supported minor (`v1.20.x`).
pub const OLDEST_MINOR: u32 = 20;
/// Newest supported minor (`v1.36.x`).
pub const NEWEST_MINOR: u32 = 36;
/// The default when nothing else decides.
pub const NEWEST: KubeVersion = KubeVersion {
    minor: NEWEST_MINOR,
    patch: 0,
};

/// A Kubernetes release `v1.<minor>.<patch>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub minor: u32,
    pub patch: u32,
}

impl KubeVersion {
    /// Parses `v1.25.0` or `1.25.0` (a pre-release or build suffix is ignored) and checks the supported range.
    pub fn parse(text: &str) -> Result<Self> {
        let v = Self::parse_any(text)?;
        if !(OLDEST_MINOR..=NEWEST_MINOR).contains(&v.minor) {
            bail!(
                "Kubernetes {v} is not supported: kubestrap deploys v1.{OLDEST_MINOR}.0 to v1.{NEWEST_MINOR}.x"
            );
        }
        Ok(v)
    }

    /// Parses without checking the supported range (for reading versions printed by binaries).
    pub fn parse_any(text: &str) -> Result<Self> {
        let t = text.trim();
        let core = t.strip_prefix('v').unwrap_or(t);
        let core = core.split(['-', '+']).next().unwrap_or(core);
        let parts: Vec<&str> = core.split('.').collect();
        let number = |s: &str| s.parse::<u32>().ok().filter(|_| !s.is_empty());
        match parts.as_slice() {
            [major, minor, patch] if *major == "1" => match (number(minor), number(patch)) {
                (Some(minor), Some(patch)) => Ok(KubeVersion { minor, patch }),
                _ => bail!(
                    "invalid Kubernetes version {text:?}: expected v1.MINOR.PATCH, e.g. v1.31.0"
                ),
            },
            _ => {
                bail!("invalid Kubernetes version {text:?}: expected v1.MINOR.PATCH, e.g. v1.31.0")
            }
        }
    }

    /// Whether this version is `v1.<minor>` or newer.
    pub fn at_least(self, minor: u32) -> bool {
        self.minor >= minor
    }

    /// What this version's kubeadm does differently.
    pub fn profile(self) -> Profile {
        Profile::for_version(self)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.minor, self.patch)
    }
}

/// Every version difference that changes what kubestrap writes or does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub version: KubeVersion,
    /// 1.29+: etcd and control-plane before kubelet-start (≤1.28: kubelet-start after kubeconfig).
    pub kubelet_start_after_manifests: bool,
    /// 1.29+: `super-admin.conf` (system:masters) and admin.conf in `kubeadm:cluster-admins`.
    pub super_admin: bool,
    /// 1.31+: leaf certificates start at kubeadm's start time − 5 min and last `certificateValidityPeriod`.
    pub leaf_validity_from_start: bool,
    /// 1.25+: the final `show-join-command` phase.
    pub show_join_command_phase: bool,
    /// 1.31+: `kubeadm.k8s.io/v1beta4` is what this version prints and uploads.
    pub config_api_v1beta4: bool,
    /// 1.28+: CA certificates start 5 minutes before they are made (PR #118922).
    pub ca_backdate: bool,
    /// 1.21+: leaf certificates carry `basicConstraints CA:FALSE` (PR #97266).
    pub leaf_basic_constraints: bool,
    /// The group of admin.conf and apiserver-kubelet-client: `system:masters` until 1.28,
    /// `kubeadm:cluster-admins` from 1.29 (PR #121837).
    pub admin_group: &'static str,
    /// Until 1.28: apiserver-etcd-client and etcd/healthcheck-client are in `system:masters`
    /// (PR #119859, #120521).
    pub etcd_clients_in_masters: bool,
}

impl Profile {
    fn for_version(v: KubeVersion) -> Self {
        Profile {
            version: v,
            kubelet_start_after_manifests: v.at_least(29),
            super_admin: v.at_least(29),
            leaf_validity_from_start: v.at_least(31),
            show_join_command_phase: v.at_least(25),
            config_api_v1beta4: v.at_least(31),
            ca_backdate: v.at_least(28),
            leaf_basic_constraints: v.at_least(21),
            admin_group: if v.at_least(29) {
                "kubeadm:cluster-admins"
            } else {
                "system:masters"
            },
            etcd_clients_in_masters: !v.at_least(29),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let v = KubeVersion::parse("v1.20.2").unwrap();
        assert_eq!(
            v,
            KubeVersion {
                minor: 20,
                patch: 2
            }
        );
        assert_eq!(v.to_string(), "v1.20.2");
        assert_eq!(KubeVersion::parse("1.25.0").unwrap().minor, 25);
        assert!(KubeVersion::parse("v1.31.0-rc.1").is_ok());
        assert!(KubeVersion::parse("v1.36.9").is_ok());
    }

    #[test]
    fn refuses_versions_outside_the_range() {
        for bad in ["v1.19.16", "v1.37.0", "v2.0.0"] {
            let err = KubeVersion::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("not supported") || err.contains("invalid"),
                "{err}"
            );
        }
        assert!(
            KubeVersion::parse("stable")
                .unwrap_err()
                .to_string()
                .contains("invalid")
        );
    }

    #[test]
    fn profile_switches_at_the_documented_versions() {
        let p = KubeVersion::parse("v1.28.9").unwrap().profile();
        assert!(!p.super_admin && !p.kubelet_start_after_manifests);
        let p = KubeVersion::parse("v1.29.0").unwrap().profile();
        assert!(p.super_admin && p.kubelet_start_after_manifests);
        assert_eq!(p.admin_group, "kubeadm:cluster-admins");
        assert!(!p.etcd_clients_in_masters);
        let p = KubeVersion::parse("v1.20.2").unwrap().profile();
        assert_eq!(p.admin_group, "system:masters");
        assert!(p.etcd_clients_in_masters && !p.leaf_basic_constraints && !p.ca_backdate);
        let p = KubeVersion::parse("v1.28.0").unwrap().profile();
        assert!(p.ca_backdate && p.leaf_basic_constraints && !p.leaf_validity_from_start);
    }
}
