//! The container runtime: CRI reachability and version, cgroup driver, sandbox image; and what
//! a check learns about the runtime once ([`Probe`]'s lazy answers).

use std::time::Duration;

use crate::config::path_dirs;
use crate::cri;
use crate::host;
use crate::host::containerd::{self, Edits, Settings};
use crate::preflight::fix::Repair;
use crate::preflight::{Issue, Probe};
use crate::runner::context::Context;

/// How long the CRI calls may take together.
pub(super) const CRI_TIMEOUT: Duration = Duration::from_secs(3);

impl Probe<'_> {
    /// containerd's config: `None` when there is no file, `Err` when it is unreadable.
    pub(super) fn containerd(&self) -> Option<&Result<(Settings, String), String>> {
        self.containerd
            .get_or_init(|| {
                let text = self.ctx.root.read_optional(containerd::CONFIG).ok()??;
                let text = String::from_utf8_lossy(&text).into_owned();
                Some(
                    containerd::parse(&text)
                        .map(|s| (s, text))
                        .map_err(|e| format!("{e:#}")),
                )
            })
            .as_ref()
    }

    /// containerd's settings, its defaults when it has no config file.
    pub(super) fn containerd_settings(&self) -> Option<Settings> {
        match self.containerd() {
            None => Some(Settings::defaults()),
            Some(Ok((s, _))) => Some(s.clone()),
            Some(Err(_)) => None,
        }
    }

    pub(super) fn socket_path(&self) -> String {
        self.ctx.cfg.cri_socket_path().to_string()
    }

    pub(super) fn uses_containerd(&self) -> bool {
        self.socket_path().contains("containerd")
    }

    pub(super) fn cri(&self) -> &Result<cri::RuntimeStatus, cri::CallError> {
        self.cri.get_or_init(|| {
            let path = self.socket_path();
            match self.ctx.root.physical(&path) {
                Ok(physical) => self.ctx.host.cri(&physical, CRI_TIMEOUT),
                Err(e) => Err(cri::CallError::Connect(format!("{e:#}"))),
            }
        })
    }

    pub(super) fn on_path(&self, bin: &str) -> Option<String> {
        path_dirs()
            .iter()
            .map(|d| format!("{d}/{bin}"))
            .find(|p| self.ctx.root.mode(p).is_ok_and(|m| m & 0o111 != 0))
    }

    /// `apt-get install -y X` or `dnf install -y X` for this host.
    pub(super) fn install(&self, deb: &str, rpm: &str) -> String {
        if self.on_path("apt-get").is_none() && self.on_path("dnf").is_some() {
            format!("dnf install -y {rpm}")
        } else {
            format!("apt-get install -y {deb}")
        }
    }

    pub(super) fn restart_hint(&self, unit: &str) -> String {
        if host::systemd_running(&self.ctx.root) {
            format!("systemctl restart {unit}")
        } else {
            format!("restart {unit} (systemd does not run here)")
        }
    }
}

pub(super) fn cri_check(p: &Probe) -> Vec<Issue> {
    let socket = p.ctx.cfg.cri_socket.clone();
    let not_running = |detail: &str| format!("container runtime is not running: {detail}");
    match p.cri() {
        Ok(found) => {
            p.ctx.out.detail(&format!(
                "[preflight] CRI: {} {} answers on {socket} ({})",
                found.version.runtime_name, found.version.runtime_version, found.version.api
            ));
            let mut issues = Vec::new();
            if found.version.api != "runtime.v1" && p.ctx.profile().cri_v1_required {
                issues.push(
                    Issue::error(not_running(&format!(
                        "validate service connection: CRI v1 runtime API is not implemented for endpoint \"{socket}\": {} {} only speaks {}",
                        found.version.runtime_name, found.version.runtime_version, found.version.api
                    )))
                    .why(format!("the kubelet of Kubernetes {} speaks CRI runtime.v1 only", p.ctx.cfg.version))
                    .fix(format!("upgrade the runtime (containerd 1.6 or newer): {}", p.install("containerd", "containerd.io"))),
                );
            }
            if let Some(c) = found
                .conditions
                .iter()
                .find(|c| c.kind == "RuntimeReady" && !c.status)
            {
                issues.push(
                    Issue::error(format!(
                        "container runtime condition \"RuntimeReady\" is not true. reason: {}, message: {}",
                        c.reason, c.message
                    ))
                    .fix(format!("look at the runtime's log: journalctl -u {}", if p.uses_containerd() { "containerd" } else { "crio" })),
                );
            }
            issues
        }
        Err(cri::CallError::Status { code, message }) if *code == cri::UNIMPLEMENTED => {
            let issue = Issue::error(not_running(&format!(
                "validate service connection: CRI v1 runtime API is not implemented for endpoint \"{socket}\": rpc error: code = Unimplemented desc = {message}"
            )));
            let Some(Ok((settings, text))) = p.containerd() else {
                return vec![issue.why(format!(
                    "the runtime on {socket} answers but does not serve the CRI API"
                ))];
            };
            let Some((entry, line, line_text)) = &settings.cri_disabled else {
                return vec![issue.why(format!("the runtime on {socket} answers but does not serve the CRI API, and {} does not disable it; is this containerd?", containerd::CONFIG))];
            };
            let edits = Edits {
                enable_cri: true,
                ..Edits::default()
            };
            let edit_line = if line_text.starts_with("disabled_plugins") {
                let fixed = containerd::edit(Some(text), &edits)
                    .ok()
                    .and_then(|t| t.lines().nth(line - 1).map(|l| l.trim().to_string()))
                    .unwrap_or_default();
                format!(
                    "edit {} line {line}: `{line_text}` → `{fixed}`",
                    containerd::CONFIG
                )
            } else {
                format!(
                    "edit {} line {line}: delete `{line_text}` from disabled_plugins",
                    containerd::CONFIG
                )
            };
            vec![
                issue
                    .why(format!(
                        "{} line {line}: `{line_text}` disables containerd's CRI plugin (\"{entry}\"); containerd packages built for Docker ship this file",
                        containerd::CONFIG
                    ))
                    .fix(edit_line)
                    .fix(p.restart_hint("containerd"))
                    .repair(Repair::Containerd(edits)),
            ]
        }
        Err(e @ cri::CallError::Connect(_)) => {
            let issue = Issue::error(not_running(&format!("validate service connection: {e}")))
                .why(format!("nothing answers on the CRI socket {socket}"));
            let issue = if !p.uses_containerd() {
                issue.fix("start the container runtime that owns this socket")
            } else if p.on_path("containerd").is_none() {
                issue
                    .fix(p.install("containerd runc", "containerd.io"))
                    .fix(p.restart_hint("containerd"))
            } else if host::systemd_running(&p.ctx.root) {
                issue.fix("systemctl enable --now containerd")
            } else {
                issue.fix("start containerd (systemd does not run here)")
            };
            vec![issue]
        }
        Err(e) => vec![
            Issue::error(not_running(&format!("validate service connection: {e}"))).fix(format!(
                "look at the runtime's log: journalctl -u {}",
                if p.uses_containerd() {
                    "containerd"
                } else {
                    "crio"
                }
            )),
        ],
    }
}

/// The kubelet's cgroup driver: the KubeletConfiguration's, else the version's default.
pub(super) fn kubelet_cgroup_driver(ctx: &Context) -> String {
    ctx.cfg
        .kubelet
        .as_ref()
        .and_then(|k| k.get("cgroupDriver"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| ctx.profile().kubelet_cgroup_driver_default.to_string())
}

pub(super) fn cgroup_driver(p: &Probe) -> Vec<Issue> {
    if !p.uses_containerd() {
        return vec![];
    }
    let settings = match p.containerd() {
        Some(Err(e)) => {
            return vec![
                Issue::error(format!("cannot read {}: {e}", containerd::CONFIG))
                    .fix(format!("correct the TOML of {}", containerd::CONFIG)),
            ];
        }
        _ => match p.containerd_settings() {
            Some(s) => s,
            None => return vec![],
        },
    };
    let kubelet = kubelet_cgroup_driver(p.ctx);
    let runtime_systemd = settings.systemd_cgroup.is_some_and(|s| s.0);
    if (kubelet == "systemd") == runtime_systemd {
        return vec![];
    }
    let runtime = if runtime_systemd {
        "systemd"
    } else {
        "cgroupfs"
    };
    let cgroup = if p.ctx.root.exists("/sys/fs/cgroup/cgroup.controllers") {
        "cgroup v2"
    } else {
        "cgroup v1"
    };
    let want = kubelet == "systemd";
    let place = match settings.systemd_cgroup {
        Some((_, line)) => format!("{} line {line}", containerd::CONFIG),
        None if p.containerd().is_none() => {
            format!("a new {} (none exists)", containerd::CONFIG)
        }
        None => containerd::CONFIG.to_string(),
    };
    vec![
        Issue::error(format!(
            "the kubelet uses the \"{kubelet}\" cgroup driver but containerd runs containers with \"{runtime}\" (SystemdCgroup = {runtime_systemd})"
        ))
        .why(format!(
            "on this {cgroup} host two managers would own the pods' cgroups: the control plane starts, then is killed and restarted every few minutes"
        ))
        .fix(format!(
            "set `SystemdCgroup = {want}` under [{}] in {place}",
            settings.runc_options_table()
        ))
        .fix(p.restart_hint("containerd"))
        .fix(format!(
            "or make the kubelet match: `cgroupDriver: {runtime}` in a KubeletConfiguration document of the --config file"
        ))
        .repair(Repair::Containerd(Edits {
            systemd_cgroup: Some(want),
            ..Edits::default()
        })),
    ]
}

/// The sandbox image containerd uses when its config sets none, by containerd release.
pub(super) fn containerd_default_sandbox(runtime_version: &str) -> Option<&'static str> {
    let v = runtime_version.trim_start_matches('v');
    let mut parts = v.split(['.', '~', '-']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some(match (major, minor) {
        (1, ..=6) => "registry.k8s.io/pause:3.6",
        (1, _) => "registry.k8s.io/pause:3.8",
        (2, ..=1) => "registry.k8s.io/pause:3.10",
        _ => "registry.k8s.io/pause:3.10.1",
    })
}

pub(super) fn sandbox_image(p: &Probe) -> Vec<Issue> {
    if !p.uses_containerd() {
        return vec![];
    }
    let Some(settings) = p.containerd_settings() else {
        return vec![];
    };
    let current = match &settings.sandbox_image {
        Some((image, _)) => image.clone(),
        None => match p.cri() {
            Ok(found) => match containerd_default_sandbox(&found.version.runtime_version) {
                Some(image) => image.to_string(),
                None => return vec![],
            },
            Err(_) => return vec![],
        },
    };
    let want = format!(
        "{}/pause:{}",
        p.ctx.cfg.cluster.image_repository,
        p.ctx.profile().pause_image_tag
    );
    if current == want {
        return vec![];
    }
    let place = match settings.sandbox_image {
        Some((_, line)) => format!("{} line {line}", containerd::CONFIG),
        None => containerd::CONFIG.to_string(),
    };
    vec![
        Issue::warning(format!(
            "detected that the sandbox image \"{current}\" of the container runtime is inconsistent with that used by kubeadm. It is recommended to use \"{want}\" as the CRI sandbox image"
        ))
        .why("the runtime pulls its own pause image for every pod; a different one is an extra download, and is missing on offline hosts")
        .fix(format!("set `{} = \"{want}\"` in {place}", settings.sandbox_key()))
        .fix(p.restart_hint("containerd"))
        .repair(Repair::Containerd(Edits {
            sandbox_image: Some(want),
            ..Edits::default()
        })),
    ]
}
