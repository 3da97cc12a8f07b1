//! Kubernetes versions kubestrap can deploy and every version difference that affects its output.
//!
//! [`Profile`] is the one table of such differences: phases, files, flags and image tags all ask it
//! rather than comparing version numbers themselves.

pub mod images;
pub mod migrations;
pub mod skew;

use std::fmt;

use anyhow::{Result, bail};

/// Oldest supported minor (`v1.20.x`).
pub const OLDEST_MINOR: u32 = 20;
/// Newest supported minor (`v1.36.x`).
pub const NEWEST_MINOR: u32 = 36;
/// The default when nothing else decides.
pub const NEWEST: KubeVersion = KubeVersion::new(NEWEST_MINOR, 0);

/// A Kubernetes release `v1.<minor>.<patch>`, with the pre-release or build suffix it was
/// written with (`-rc.0`, `+build.1`), which kubeadm keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub minor: u32,
    pub patch: u32,
    pub suffix: Suffix,
}

/// The longest version suffix kept (Kubernetes' own are a few characters: `-rc.0`, `-alpha.1`).
const MAX_SUFFIX: usize = 40;

/// A version suffix (`-rc.0`, `+build.1`), kept inline so that a version stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Suffix {
    bytes: [u8; MAX_SUFFIX],
    len: u8,
}

impl Suffix {
    /// No suffix.
    pub const NONE: Suffix = Suffix {
        bytes: [0; MAX_SUFFIX],
        len: 0,
    };

    /// A suffix as semantic versions write it: `-` and dot-separated identifiers of letters,
    /// digits and `-`, and/or `+` and such identifiers.
    fn parse(text: &str) -> Option<Suffix> {
        if text.len() > MAX_SUFFIX {
            return None;
        }
        let (pre, build) = match text.split_once('+') {
            Some((pre, build)) => (pre, Some(build)),
            None => (text, None),
        };
        let identifiers = |s: &str| {
            s.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        let pre_ok = pre.is_empty() || pre.strip_prefix('-').is_some_and(identifiers);
        if !pre_ok || !build.is_none_or(identifiers) {
            return None;
        }
        let mut bytes = [0; MAX_SUFFIX];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Suffix {
            bytes,
            len: text.len() as u8,
        })
    }

    /// The suffix as written.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Suffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl KubeVersion {
    /// `v1.<minor>.<patch>` without a suffix.
    pub const fn new(minor: u32, patch: u32) -> Self {
        KubeVersion {
            minor,
            patch,
            suffix: Suffix::NONE,
        }
    }

    /// The tag of this version's control-plane images: the version, `+` written `_` (an image
    /// tag has no `+`), as kubeadm tags them.
    pub fn image_tag(self) -> String {
        self.to_string().replace('+', "_")
    }

    /// Parses `v1.25.0` or `1.25.0` (with a pre-release or build suffix, kept) and checks the supported range.
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
        let full = t.strip_prefix('v').unwrap_or(t);
        let core = full.split(['-', '+']).next().unwrap_or(full);
        let Some(suffix) = Suffix::parse(&full[core.len()..]) else {
            bail!(
                "invalid Kubernetes version {text:?}: the suffix after v1.MINOR.PATCH must be a pre-release (`-rc.0`) or build (`+build.1`) of letters, digits, `-` and `.`"
            );
        };
        let parts: Vec<&str> = core.split('.').collect();
        let number = |s: &str| s.parse::<u32>().ok().filter(|_| !s.is_empty());
        match parts.as_slice() {
            [major, minor, patch] if *major == "1" => match (number(minor), number(patch)) {
                (Some(minor), Some(patch)) => Ok(KubeVersion {
                    minor,
                    patch,
                    suffix,
                }),
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
        write!(
            f,
            "v1.{}.{}{}",
            self.minor,
            self.patch,
            self.suffix.as_str()
        )
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
    /// Tag of `registry.k8s.io/etcd` kubeadm of this minor deploys (`SupportedEtcdVersion`).
    pub etcd_image_tag: &'static str,
    /// Tag of `registry.k8s.io/pause` (`PauseVersion`).
    pub pause_image_tag: &'static str,
    /// Tag of the CoreDNS image (`CoreDNSVersion`).
    pub coredns_image_tag: &'static str,
    /// ≥1.21: CoreDNS lives at `<registry>/coredns/coredns` (1.20: `<registry>/coredns`).
    pub coredns_in_subpath: bool,
    /// ≤1.21: kube-apiserver gets `--insecure-port=0` (dropped in 1.22, PR #102121).
    pub apiserver_insecure_port_zero: bool,
    /// ≤1.22: kube-controller-manager and kube-scheduler get `--port=0` (dropped in 1.23, PRs #104157, #105034).
    pub component_port_zero: bool,
    /// ≥1.22: pod `securityContext.seccompProfile.type: RuntimeDefault` (PR #100234).
    pub seccomp_runtime_default: bool,
    /// `priority: 2000001000` next to the priority class (1.27, PR #114338; 1.26.7+ and 1.25.12+ by cherry-pick).
    pub static_pod_priority: bool,
    /// Which endpoints the etcd probes use.
    pub etcd_probes: EtcdProbes,
    /// ≤1.21: etcd also requests `ephemeral-storage: 100Mi` (dropped in 1.22, PR #102673).
    pub etcd_ephemeral_storage_request: bool,
    /// ≥1.24: etcd runs the initial corruption check (PR #109074).
    pub etcd_initial_corrupt_check: bool,
    /// ≥1.25: etcd `watch-progress-notify-interval=5s` (PR #111383).
    pub etcd_watch_progress_notify: bool,
    /// ≥1.34: every probe targets a named container port `probe-port` (PR #132776).
    pub named_probe_port: bool,
    /// ≥1.32: kube-scheduler probes `/livez` and `/readyz` instead of `/healthz` (PR #126945).
    pub scheduler_livez_readyz: bool,
    /// ≥1.31: the `/etc/pki` CA volume is split into `/etc/pki/ca-trust` and `/etc/pki/tls/certs` (PR #124361).
    pub split_etc_pki_volume: bool,
    /// ≤1.26: kubeadm-flags.env has `--container-runtime=remote` (the kubelet dropped it in 1.27).
    pub kubelet_container_runtime_remote: bool,
    /// When kubeadm-flags.env carries `--pod-infra-container-image`.
    pub kubelet_pause_flag: PauseFlag,
    /// ≥1.34 (`NodeLocalCRISocket` on by default): the CRI socket goes to
    /// `/var/lib/kubelet/instance-config.yaml` instead of `--container-runtime-endpoint`.
    pub node_local_cri_socket: bool,
    /// ≤1.23: the dockershim exists, so a Docker socket means `--network-plugin=cni`.
    pub dockershim: bool,
    /// Version-specific fields of the KubeletConfiguration kubeadm writes.
    pub kubelet_config: KubeletConfigFields,
    /// Level and wording of the `Swap` preflight check.
    pub swap_check: SwapCheck,
    /// ≤1.29: `FileContent--proc-sys-net-bridge-bridge-nf-call-iptables` (and `-ip6tables`).
    pub bridge_nf_check: bool,
    /// `FileExisting-crictl`: an error ≤1.30, a warning in 1.31, gone from 1.32.
    pub crictl_check: Option<CheckLevel>,
    /// <1.32: `FileExisting-conntrack`.
    pub conntrack_check: bool,
    /// The kubelet's cgroup driver when the KubeletConfiguration sets none (`systemd` from 1.22).
    pub kubelet_cgroup_driver_default: &'static str,
    /// How many minors older than the control plane the kubelet may be.
    pub kubelet_min_skew: u32,
    /// 1.26+: the kubelet speaks CRI `runtime.v1` only (v1alpha2 dropped).
    pub cri_v1_required: bool,
    /// Oldest kernel (major, minor) `SystemVerification` accepts.
    pub min_kernel: (u32, u32),
    /// Labels mark-control-plane puts on the node (1.20–1.23 also the legacy `master` label;
    /// 1.21+ `exclude-from-external-load-balancers`).
    pub control_plane_labels: &'static [&'static str],
    /// Keys of the default NoSchedule taints of a control-plane node (≤1.23 `master`, 1.24 both,
    /// 1.25+ `control-plane`).
    pub control_plane_taints: &'static [&'static str],
}

/// How a preflight check reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckLevel {
    Error,
    Warning,
}

/// The `Swap` check across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapCheck {
    /// ≤1.27: an error, "running with swap on is not supported".
    Error,
    /// 1.28–1.30: a warning naming the NodeSwap feature gate.
    WarnNodeSwap,
    /// 1.31+: a warning that swap needs cgroup v2 and kubelet settings.
    WarnCgroupV2,
}

const LABEL_MASTER: &str = "node-role.kubernetes.io/master";
const LABEL_CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
const LABEL_EXCLUDE_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The etcd probe endpoints of a kubeadm release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdProbes {
    /// ≤1.24: liveness and startup `GET /health`.
    Health,
    /// 1.25–1.30: liveness `/health?exclude=NOSPACE&serializable=true`, startup
    /// `/health?serializable=false` (PRs #110072, #110744).
    SerializableHealth,
    /// ≥1.31: liveness `/livez`, readiness and startup `/readyz` (PR #124465).
    LivezReadyz,
}

/// When kubeadm passes the pause image to the kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseFlag {
    /// 1.20: only with the Docker runtime.
    DockerOnly,
    /// 1.21–1.34: for every runtime (PR #99476).
    Always,
    /// ≥1.35: never; the flag left the kubelet (PR #133778).
    Never,
}

/// Fields of the kubelet's `v1beta1` config type that appear in the written file as zero values,
/// which depends on the kubelet API vendored by that kubeadm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeletConfigFields {
    /// ≥1.23: `logging` with `flushFrequency`, `options.json.infoBufferSize` and `verbosity`
    /// (1.20–1.22: `logging: {}`).
    pub logging_options: bool,
    /// ≥1.30: `logging.options.text.infoBufferSize`.
    pub logging_text_options: bool,
    /// ≥1.22: `memorySwap: {}`.
    pub memory_swap: bool,
    /// ≥1.27: `containerRuntimeEndpoint` (empty unless the instance config fills it).
    pub container_runtime_endpoint: bool,
    /// ≥1.29: `imageMaximumGCAge: 0s`.
    pub image_maximum_gc_age: bool,
    /// ≥1.32: `crashLoopBackOff: {}`.
    pub crash_loop_back_off: bool,
}

/// Per-minor image tags: (minor, etcd, pause, coredns), as each kubeadm release's constants set them.
const IMAGE_TAGS: &[(u32, &str, &str, &str)] = &[
    (20, "3.4.13-0", "3.2", "1.7.0"),
    (21, "3.4.13-0", "3.4.1", "v1.8.0"),
    (22, "3.5.0-0", "3.5", "v1.8.4"),
    (23, "3.5.1-0", "3.6", "v1.8.6"),
    (24, "3.5.3-0", "3.7", "v1.8.6"),
    (25, "3.5.4-0", "3.8", "v1.9.3"),
    (26, "3.5.6-0", "3.9", "v1.9.3"),
    (27, "3.5.7-0", "3.9", "v1.10.1"),
    (28, "3.5.9-0", "3.9", "v1.10.1"),
    (29, "3.5.10-0", "3.9", "v1.11.1"),
    (30, "3.5.12-0", "3.9", "v1.11.1"),
    (31, "3.5.15-0", "3.10", "v1.11.1"),
    (32, "3.5.16-0", "3.10", "v1.11.3"),
    (33, "3.5.21-0", "3.10", "v1.12.0"),
    (34, "3.6.4-0", "3.10.1", "v1.12.1"),
    (35, "3.6.5-0", "3.10.1", "v1.13.1"),
    (36, "3.6.8-0", "3.10.1", "v1.13.1"),
];

impl Profile {
    fn for_version(v: KubeVersion) -> Self {
        let tags = IMAGE_TAGS
            .iter()
            .copied()
            .find(|t| t.0 == v.minor)
            .unwrap_or(IMAGE_TAGS[IMAGE_TAGS.len() - 1]);
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
            etcd_image_tag: tags.1,
            pause_image_tag: tags.2,
            coredns_image_tag: tags.3,
            coredns_in_subpath: v.at_least(21),
            apiserver_insecure_port_zero: !v.at_least(22),
            component_port_zero: !v.at_least(23),
            seccomp_runtime_default: v.at_least(22),
            static_pod_priority: v.at_least(27)
                || (v.minor == 26 && v.patch >= 7)
                || (v.minor == 25 && v.patch >= 12),
            etcd_probes: if v.at_least(31) {
                EtcdProbes::LivezReadyz
            } else if v.at_least(25) {
                EtcdProbes::SerializableHealth
            } else {
                EtcdProbes::Health
            },
            etcd_ephemeral_storage_request: !v.at_least(22),
            etcd_initial_corrupt_check: v.at_least(24),
            etcd_watch_progress_notify: v.at_least(25),
            named_probe_port: v.at_least(34),
            scheduler_livez_readyz: v.at_least(32),
            split_etc_pki_volume: v.at_least(31),
            kubelet_container_runtime_remote: !v.at_least(27),
            kubelet_pause_flag: if v.at_least(35) {
                PauseFlag::Never
            } else if v.at_least(21) {
                PauseFlag::Always
            } else {
                PauseFlag::DockerOnly
            },
            node_local_cri_socket: v.at_least(34),
            dockershim: !v.at_least(24),
            kubelet_config: KubeletConfigFields {
                logging_options: v.at_least(23),
                logging_text_options: v.at_least(30),
                memory_swap: v.at_least(22),
                container_runtime_endpoint: v.at_least(27),
                image_maximum_gc_age: v.at_least(29),
                crash_loop_back_off: v.at_least(32),
            },
            swap_check: if v.at_least(31) {
                SwapCheck::WarnCgroupV2
            } else if v.at_least(28) {
                SwapCheck::WarnNodeSwap
            } else {
                SwapCheck::Error
            },
            bridge_nf_check: !v.at_least(30),
            crictl_check: match v.minor {
                ..=30 => Some(CheckLevel::Error),
                31 => Some(CheckLevel::Warning),
                _ => None,
            },
            conntrack_check: !v.at_least(32),
            kubelet_cgroup_driver_default: if v.at_least(22) {
                "systemd"
            } else {
                "cgroupfs"
            },
            kubelet_min_skew: if v.at_least(28) { 3 } else { 1 },
            cri_v1_required: v.at_least(26),
            min_kernel: if v.at_least(32) { (4, 19) } else { (3, 10) },
            control_plane_labels: if v.at_least(24) {
                &[LABEL_CONTROL_PLANE, LABEL_EXCLUDE_LB]
            } else if v.at_least(21) {
                &[LABEL_MASTER, LABEL_CONTROL_PLANE, LABEL_EXCLUDE_LB]
            } else {
                &[LABEL_MASTER, LABEL_CONTROL_PLANE]
            },
            control_plane_taints: if v.at_least(25) {
                &[LABEL_CONTROL_PLANE]
            } else if v.at_least(24) {
                &[LABEL_MASTER, LABEL_CONTROL_PLANE]
            } else {
                &[LABEL_MASTER]
            },
        }
    }

    /// Name of the ConfigMap holding the cluster's KubeletConfiguration
    /// (`kubelet-config-1.<minor>` before 1.24, `kubelet-config` since).
    pub fn kubelet_config_map(&self) -> String {
        if self.version.at_least(24) {
            "kubelet-config".to_string()
        } else {
            format!("kubelet-config-1.{}", self.version.minor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let v = KubeVersion::parse("v1.20.2").unwrap();
        assert_eq!(v, KubeVersion::new(20, 2));
        assert_eq!(v.to_string(), "v1.20.2");
        assert_eq!(KubeVersion::parse("1.25.0").unwrap().minor, 25);
        let rc = KubeVersion::parse("v1.31.0-rc.1").unwrap();
        assert_eq!((rc.minor, rc.to_string()), (31, "v1.31.0-rc.1".to_string()));
        let build = KubeVersion::parse("1.30.2+build.7").unwrap();
        assert_eq!(build.image_tag(), "v1.30.2_build.7");
        for bad in [
            "v1.30.0-",
            "v1.30.0-rc..1",
            "v1.30.0 rc",
            "v1.30.0-rc/1",
            &format!("v1.30.0-{}", "a".repeat(50)),
        ] {
            assert!(KubeVersion::parse(bad).is_err(), "{bad}");
        }
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
    fn every_supported_minor_has_image_tags() {
        for minor in OLDEST_MINOR..=NEWEST_MINOR {
            assert!(IMAGE_TAGS.iter().any(|t| t.0 == minor), "v1.{minor}");
        }
        let p = KubeVersion::parse("v1.20.2").unwrap().profile();
        assert_eq!((p.etcd_image_tag, p.pause_image_tag), ("3.4.13-0", "3.2"));
        assert_eq!(p.kubelet_config_map(), "kubelet-config-1.20");
        assert!(p.apiserver_insecure_port_zero && !p.seccomp_runtime_default);
        let p = KubeVersion::parse("v1.25.0").unwrap().profile();
        assert!(!p.static_pod_priority && p.etcd_probes == EtcdProbes::SerializableHealth);
        assert!(
            KubeVersion::parse("v1.25.12")
                .unwrap()
                .profile()
                .static_pod_priority
        );
        assert_eq!(p.kubelet_config_map(), "kubelet-config");
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
