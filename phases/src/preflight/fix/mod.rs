//! `--fix`: a plan of host changes (each file or setting, before → after, and the command), applied
//! only after a yes, every change recorded in a journal that `--undo-fixes` replays backwards.

mod apply;
mod journal;

pub use apply::apply;
pub use journal::{Machine, undo};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::Report;
use crate::host;
use crate::host::containerd::{self, Edits};
use crate::host::kernel_state::{
    MODULES, fstab_swap_lines, module_loaded, swap_devices, sysctl_path,
};
use crate::host::kubelet_unit;
use crate::runner::context::Context;

/// The journal of applied fixes.
pub const JOURNAL: &str = "/var/lib/kubestrap/fixes.json";
/// Copies of files as they were before a fix changed them.
pub const BACKUPS: &str = "/var/lib/kubestrap/backup";
/// Where fixed sysctls are persisted.
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/99-kubestrap.conf";
/// Where loaded modules are persisted.
pub const MODULES_FILE: &str = "/etc/modules-load.d/kubestrap.conf";

/// The journaled value of a setting that did not exist before its module was loaded.
const ABSENT: &str = "absent";

/// What `--fix` can do about one issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Edit containerd's config, then restart containerd.
    Containerd(Edits),
    /// `swapoff -a` and comment the swap lines of `/etc/fstab`.
    SwapOff,
    /// Set a sysctl to 1 now and in [`SYSCTL_FILE`].
    Sysctl { key: &'static str },
    /// Load a kernel module now and at boot ([`MODULES_FILE`]).
    Module { name: &'static str },
    /// Write kubestrap's kubelet drop-in (and unit, when there is none), then reload systemd.
    KubeletUnit,
}

/// One change of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The file or setting.
    pub what: String,
    pub before: String,
    pub after: String,
    /// The command that does it.
    pub command: String,
}

/// The repairs of a report, merged (one containerd edit, one sysctl file, one modules file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub modules: Vec<&'static str>,
    pub sysctls: Vec<&'static str>,
    pub swap_off: bool,
    pub containerd: Option<Edits>,
    /// The kubelet unit files to write (path, text).
    pub kubelet_unit: Vec<(&'static str, String)>,
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// One recorded change, enough to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    /// A file was written; `backup` holds its earlier bytes (`None`: it did not exist).
    File {
        path: String,
        backup: Option<String>,
        mode: u32,
    },
    /// A kernel setting file held `before`.
    Setting { path: String, before: String },
    /// A module was loaded.
    Module { name: String },
    /// A swap device was turned off.
    Swap { device: String },
    /// A service was restarted to take a changed file.
    Restart { unit: String },
    /// systemd reloaded its units after a unit file changed.
    DaemonReload,
}

/// Builds the plan for the repairable findings of a report.
pub fn plan(ctx: &Context, report: &Report) -> Result<Plan> {
    let mut plan = Plan::default();
    for finding in &report.findings {
        match &finding.issue.repair {
            Some(Repair::Module { name }) if !plan.modules.contains(name) => {
                plan.modules.push(name)
            }
            Some(Repair::Sysctl { key }) => {
                if key.starts_with("net.bridge.")
                    && !plan.modules.contains(&"br_netfilter")
                    && !module_loaded(&ctx.root, "br_netfilter")
                {
                    plan.modules.push("br_netfilter");
                }
                if !plan.sysctls.contains(key) {
                    plan.sysctls.push(key);
                }
            }
            Some(Repair::SwapOff) => plan.swap_off = true,
            Some(Repair::KubeletUnit) if plan.kubelet_unit.is_empty() => {
                let path = ctx.host.env("PATH");
                let state = kubelet_unit::inspect(&ctx.root, path.as_deref())?;
                plan.kubelet_unit = kubelet_unit::files_for(&state)?;
            }
            Some(Repair::Containerd(e)) => {
                let merged = plan.containerd.get_or_insert_with(Edits::default);
                merged.enable_cri |= e.enable_cri;
                if e.systemd_cgroup.is_some() {
                    merged.systemd_cgroup = e.systemd_cgroup;
                }
                if e.sandbox_image.is_some() {
                    merged.sandbox_image.clone_from(&e.sandbox_image);
                }
            }
            _ => {}
        }
    }
    plan.modules
        .sort_by_key(|m| MODULES.iter().position(|x| x == m));
    for m in &plan.modules {
        plan.steps.push(Step {
            what: format!("kernel module {m} (and {MODULES_FILE})"),
            before: "not loaded".into(),
            after: "loaded now and at boot".into(),
            command: format!("modprobe {m}"),
        });
    }
    for key in &plan.sysctls {
        let path = sysctl_path(key);
        let before = ctx
            .root
            .read_to_string(&path)
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "absent".into());
        plan.steps.push(Step {
            what: format!("{key} (and {SYSCTL_FILE})"),
            before,
            after: "1".into(),
            command: format!("sysctl -w {key}=1"),
        });
    }
    if plan.swap_off {
        plan.steps.push(Step {
            what: "swap".into(),
            before: format!("on ({})", swap_devices(&ctx.root).join(", ")),
            after: "off".into(),
            command: "swapoff -a".into(),
        });
        for (n, line) in fstab_swap_lines(&ctx.root) {
            plan.steps.push(Step {
                what: format!("/etc/fstab line {n}"),
                before: line.clone(),
                after: format!("# {line}"),
                command: "edit the file (a backup is kept)".into(),
            });
        }
    }
    for (path, _) in &plan.kubelet_unit {
        plan.steps.push(Step {
            what: path.to_string(),
            before: "absent".into(),
            after: "written by kubestrap".into(),
            command: "write the file".into(),
        });
    }
    if !plan.kubelet_unit.is_empty() {
        plan.steps.push(Step {
            what: "systemd".into(),
            before: "units as loaded".into(),
            after: "reloaded, kubelet.service enabled".into(),
            command: "systemctl daemon-reload && systemctl enable kubelet.service".into(),
        });
    }
    if let Some(edits) = &plan.containerd {
        let text = ctx
            .root
            .read_optional(containerd::CONFIG)?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let after = containerd::edit(text.as_deref(), edits)
            .with_context(|| format!("cannot fix `{}`", containerd::CONFIG))?;
        let before_settings = match &text {
            Some(t) => containerd::parse(t)?,
            None => containerd::Settings::defaults(),
        };
        containerd::parse(&after)
            .with_context(|| format!("the edited `{}` would not be valid", containerd::CONFIG))?;
        let mut diff = Vec::new();
        if edits.enable_cri
            && let Some((entry, line, _)) = &before_settings.cri_disabled
        {
            diff.push((
                format!("line {line}: \"{entry}\" in disabled_plugins"),
                "present".to_string(),
                "removed".to_string(),
            ));
        }
        if let Some(on) = edits.systemd_cgroup {
            diff.push((
                format!("{}.SystemdCgroup", before_settings.runc_options_table()),
                before_settings
                    .systemd_cgroup
                    .map_or("unset (false)".to_string(), |s| s.0.to_string()),
                on.to_string(),
            ));
        }
        if let Some(image) = &edits.sandbox_image {
            diff.push((
                before_settings.sandbox_key(),
                before_settings
                    .sandbox_image
                    .map_or("unset (containerd's default)".to_string(), |s| s.0),
                image.clone(),
            ));
        }
        for (what, before, after) in diff {
            plan.steps.push(Step {
                what: format!("{} {what}", containerd::CONFIG),
                before,
                after,
                command: "edit the file (a backup is kept)".into(),
            });
        }
        plan.steps.push(Step {
            what: "containerd".into(),
            before: "running with the old config".into(),
            after: "restarted".into(),
            command: if host::systemd_running(&ctx.root) {
                "systemctl restart containerd".into()
            } else {
                "restart containerd yourself (systemd does not run here)".into()
            },
        });
    }
    Ok(plan)
}

/// Prints the plan and applies it when the user agrees; returns whether anything changed.
pub fn offer(ctx: &Context, plan: &Plan) -> Result<bool> {
    if plan.is_empty() {
        return Ok(false);
    }
    ctx.out.status("fix", "kubestrap can make these changes:");
    for (i, step) in plan.steps.iter().enumerate() {
        ctx.out.status(
            "fix",
            &format!(
                "{}. {}: {} → {}   ({})",
                i + 1,
                step.what,
                step.before,
                step.after,
                step.command
            ),
        );
    }
    if ctx.opts.dry_run {
        ctx.out.status("fix", "--dry-run: nothing changed");
        return Ok(false);
    }
    let what = match plan.steps.len() {
        1 => "this change".to_string(),
        n => format!("these {n} changes"),
    };
    if !ctx.out.confirm(&format!(
        "Apply {what}? Each is recorded in {JOURNAL}; `kubestrap preflight --undo-fixes` puts them back"
    )) {
        ctx.out
            .status("fix", "nothing changed (answer yes at the prompt, or pass --yes)");
        return Ok(false);
    }
    apply(ctx, plan)?;
    Ok(true)
}
