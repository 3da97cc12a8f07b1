//! `ResetConfiguration` (kubeadm.k8s.io/v1beta4), read and checked by `config validate`; printed
//! by `config print reset-defaults`, and read by `kubestrap reset --config` (its flags override it).

use serde::{Deserialize, Serialize};

use std::path::Path;

use super::Timeouts;
use super::types::{default_cert_dir, is_false};
use crate::fs::root::Root;
use crate::fs::system_dirs;

/// The unmount flags kubeadm accepts in `unmountFlags`.
pub const UNMOUNT_FLAGS: &[&str] = &["MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW"];

/// `ResetConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetConfiguration {
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    #[serde(default = "default_cert_dir")]
    pub certificates_dir: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub cleanup_tmp_dir: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_socket: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmount_flags: Vec<String>,
    /// Only kubeadm's defaults are accepted; `config print reset-defaults` leaves them out.
    #[serde(default, skip_serializing_if = "is_default")]
    pub timeouts: Timeouts,
}

impl Default for ResetConfiguration {
    fn default() -> Self {
        ResetConfiguration {
            api_version: None,
            kind: None,
            certificates_dir: default_cert_dir(),
            cleanup_tmp_dir: false,
            cri_socket: None,
            dry_run: false,
            force: false,
            ignore_preflight_errors: Vec::new(),
            skip_phases: Vec::new(),
            unmount_flags: Vec::new(),
            timeouts: Timeouts::default(),
        }
    }
}

/// Folders of Kubernetes' own that reset empties or removes file by file: emptying one whole as
/// the certificates folder would take what is not the certificates'.
const KUBERNETES_DIRS: &[&str] = &[
    "/etc/kubernetes",
    "/etc/kubernetes/manifests",
    "/var/lib/kubelet",
    "/var/lib/etcd",
];

/// Why reset must not empty `dir` as its certificates folder, if it must not: a system folder
/// (see [`system_dirs`]), one of Kubernetes' own, or a path that climbs with `..`.
pub fn unsafe_cert_dir(dir: &str) -> Option<String> {
    if dir.split('/').any(|c| c == "..") {
        return Some(format!(
            "{dir:?} climbs with `..`: name the certificates folder by its own path"
        ));
    }
    let normal = system_dirs::normalize(Path::new(dir));
    let shown = normal.display().to_string();
    (system_dirs::is_system_dir(&normal) || KUBERNETES_DIRS.contains(&shown.as_str())).then(|| {
        format!(
            "{shown:?} is a system folder, not a certificates folder: reset empties the certificates folder, so it refuses this one (the default is /etc/kubernetes/pki)"
        )
    })
}

/// [`unsafe_cert_dir`] for the folder `dir` really is on the machine under `root`: its links
/// followed inside the root (`/var/run` is `/run`, `/proc/self/root` is `/`, a link leading out
/// of the root ends inside it).
pub fn unsafe_cert_dir_in(root: &Root, dir: &str) -> Option<String> {
    if let Some(why) = unsafe_cert_dir(dir) {
        return Some(why);
    }
    let real = match root.resolve(dir) {
        Ok(real) => real,
        Err(e) => return Some(format!("{e:#}")),
    };
    if real == system_dirs::normalize(Path::new(dir)) {
        return None;
    }
    let shown = real.display().to_string();
    unsafe_cert_dir(&shown)
        .map(|why| format!("{dir:?} leads to {shown:?} through symbolic links: {why}"))
}

/// The problems of a ResetConfiguration, as `(field, message)`.
pub fn validate_reset(reset: &ResetConfiguration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !reset.certificates_dir.starts_with('/') {
        out.push((
            "certificatesDir".into(),
            format!("path {:?} is not absolute", reset.certificates_dir),
        ));
    } else if let Some(why) = unsafe_cert_dir(&reset.certificates_dir) {
        out.push(("certificatesDir".into(), why));
    }
    for (i, flag) in reset.unmount_flags.iter().enumerate() {
        if !UNMOUNT_FLAGS.contains(&flag.as_str()) {
            out.push((
                format!("unmountFlags[{i}]"),
                format!(
                    "unknown unmount flag {flag}: use one of {}",
                    UNMOUNT_FLAGS.join(", ")
                ),
            ));
        }
    }
    if let Some(socket) = &reset.cri_socket
        && !socket.starts_with("unix:///")
        && !socket.starts_with('/')
    {
        out.push((
            "criSocket".into(),
            format!("{socket:?} is not a socket URL; use e.g. unix:///var/run/containerd/containerd.sock"),
        ));
    }
    out
}

fn is_default(timeouts: &Timeouts) -> bool {
    *timeouts == Timeouts::default()
}

/// What `kubestrap reset` cannot do of a ResetConfiguration it reads, as (field, why): it
/// unmounts without flags and keeps its own time limits. `config validate` says the same.
pub fn unsupported_by_reset(reset: &ResetConfiguration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !reset.unmount_flags.is_empty() {
        out.push((
            "unmountFlags".to_string(),
            "not supported by kubestrap's reset, which unmounts without flags; remove it"
                .to_string(),
        ));
    }
    if let Err(e) = super::duration::parse(&reset.timeouts.kubernetes_api_call) {
        out.push(("timeouts.kubernetesAPICall".to_string(), format!("{e:#}")));
    }
    // kubernetesAPICall is how long reset waits for the API server; the others time what
    // kubestrap's reset does not do, or does with limits of its own.
    let used = Timeouts {
        kubernetes_api_call: reset.timeouts.kubernetes_api_call.clone(),
        ..Timeouts::default()
    };
    if reset.timeouts != used {
        out.push((
            "timeouts".to_string(),
            "only `kubernetesAPICall` is used by kubestrap's reset (how long it waits for the API server); remove the others (or leave kubeadm's defaults)".to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_refuses_what_it_cannot_do() {
        assert!(unsupported_by_reset(&ResetConfiguration::default()).is_empty());
        let mut reset = ResetConfiguration::default();
        reset.unmount_flags = vec!["MNT_FORCE".into()];
        reset.timeouts.etcd_api_call = "1m0s".into();
        let problems = unsupported_by_reset(&reset);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].0 == "unmountFlags" && problems[1].0 == "timeouts");
    }
}
