//! Logical paths kubestrap reads and writes. `Root` maps them under `--root`.

/// Folder of all kubeconfigs and the manifests folder.
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// Default `certificatesDir`.
pub const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
/// Static pod manifests the kubelet runs.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// kubeadm's scratch folder (upgrade backups, …).
pub const TMP_DIR: &str = "/etc/kubernetes/tmp";
/// The kubelet's own state folder.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
/// KubeletConfiguration written by kubelet-start.
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";
/// `KUBELET_KUBEADM_ARGS` environment file written by kubelet-start.
pub const KUBELET_FLAGS_ENV: &str = "/var/lib/kubelet/kubeadm-flags.env";
/// Default local etcd data folder.
pub const DEFAULT_ETCD_DATA_DIR: &str = "/var/lib/etcd";
/// kubestrap's own state (fix journal).
pub const STATE_DIR: &str = "/var/lib/kubestrap";
/// reset: the etcd data folder `remove-etcd-member` emptied, for `cleanup-node` (in the same run
/// or a later one) to empty again once nothing can write into it.
pub const ETCD_DATA_DIR_EMPTIED: &str = "/var/lib/kubestrap/reset-etcd-data-dir";

/// `/etc/kubernetes/<name>` for a kubeconfig file name such as `admin.conf`.
pub fn kubeconfig(name: &str) -> String {
    format!("{KUBERNETES_DIR}/{name}")
}

/// `/etc/kubernetes/manifests/<component>.yaml`.
pub fn manifest(component: &str) -> String {
    format!("{MANIFESTS_DIR}/{component}.yaml")
}
