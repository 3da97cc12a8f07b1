//! Files and programs: manifests and folders init would overwrite, binaries it needs.

use crate::config::path_dirs;
use crate::preflight::{Issue, Level, Probe};

pub(super) fn file_available(p: &Probe, path: &str) -> Vec<Issue> {
    if !p.ctx.root.exists(path) || p.resumed_owns(path) {
        return vec![];
    }
    vec![
        Issue::error(format!("{path} already exists"))
            .why("an earlier init or join left it behind")
            .fix("kubestrap reset   (removes what an earlier init or join wrote)"),
    ]
}

pub(super) fn dir_available(p: &Probe, dir: &str) -> Vec<Issue> {
    if p.ctx.root.list(dir).map(|e| e.is_empty()).unwrap_or(true) {
        return vec![];
    }
    // The data of the etcd the resumed run's own manifest started.
    if p.ctx
        .record
        .as_ref()
        .is_some_and(|r| r.resuming() && r.finished("etcd"))
    {
        return vec![];
    }
    vec![
        Issue::error(format!("{dir} is not empty"))
            .why("it holds the data of an earlier etcd; a new cluster cannot start on it")
            .fix("kubestrap reset   (removes the etcd data of an earlier init)"),
    ]
}

pub(super) fn file_existing(p: &Probe, bin: &str, level: Level) -> Vec<Issue> {
    if p.on_path(bin).is_some() {
        return vec![];
    }
    let (deb, rpm) = match bin {
        "crictl" => ("cri-tools", "cri-tools"),
        "conntrack" => ("conntrack", "conntrack-tools"),
        "ip" => ("iproute2", "iproute"),
        "tc" => ("iproute2", "iproute-tc"),
        "mount" => ("mount", "util-linux"),
        "nsenter" => ("util-linux", "util-linux"),
        "touch" => ("coreutils", "coreutils"),
        other => (other, other),
    };
    vec![
        Issue::new(level, format!("{bin} not found in system path"))
            .why(match p.ctx.root.base() {
                base if base == std::path::Path::new("/") => {
                    format!("kubestrap looked in {}", path_dirs().join(":"))
                }
                base => format!(
                    "kubestrap looked in {} under --root {} (every path maps under it)",
                    path_dirs().join(":"),
                    base.display()
                ),
            })
            .fix(p.install(deb, rpm)),
    ]
}
