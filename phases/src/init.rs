//! The init workflow: its phase tables, in kubeadm's order for the target version.

use crate::version::KubeVersion;
use crate::workflow::Phase;
use crate::{certs, control_plane, etcd, kubeconfig, kubelet, preflight};

const PREFLIGHT: Phase = Phase::leaf("preflight", "Run pre-flight checks", preflight::run_init);
const CERTS: Phase = Phase::group("certs", "Certificate generation", certs::PHASES);
const KUBECONFIG_ABOUT: &str = "Generate all kubeconfig files necessary to establish the control plane and the admin kubeconfig file";
const KUBELET_START: Phase = Phase::leaf(
    "kubelet-start",
    "Write kubelet settings and (re)start the kubelet",
    kubelet::start,
);
const ETCD: Phase = Phase::group(
    "etcd",
    "Generate static Pod manifest file for local etcd",
    etcd::PHASES,
);
const CONTROL_PLANE: Phase = Phase::group(
    "control-plane",
    "Generate all static Pod manifest files necessary to establish the control plane",
    control_plane::PHASES,
);

/// kubeadm 1.29 and newer: etcd and the control plane before kubelet-start.
pub static PHASES: &[Phase] = &[
    PREFLIGHT,
    CERTS,
    Phase::group("kubeconfig", KUBECONFIG_ABOUT, kubeconfig::PHASES),
    ETCD,
    CONTROL_PLANE,
    KUBELET_START,
];

/// kubeadm 1.28 and older: kubelet-start right after kubeconfig, etcd after the control plane.
pub static PHASES_BEFORE_1_29: &[Phase] = &[
    PREFLIGHT,
    CERTS,
    Phase::group(
        "kubeconfig",
        KUBECONFIG_ABOUT,
        kubeconfig::PHASES_BEFORE_1_29,
    ),
    KUBELET_START,
    CONTROL_PLANE,
    ETCD,
];

/// The init phase table for a Kubernetes version.
pub fn phases(version: KubeVersion) -> &'static [Phase] {
    if version.profile().kubelet_start_after_manifests {
        PHASES
    } else {
        PHASES_BEFORE_1_29
    }
}
