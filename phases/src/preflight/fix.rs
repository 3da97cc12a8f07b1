//! `--fix`: a plan of host changes (each file or setting, before → after, and the command), applied
//! only after a yes, every change recorded in a journal that `--undo-fixes` replays backwards.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::Report;
use crate::fs::paths;
use crate::fs::root::Root;
use crate::host::containerd::{self, Edits};
use crate::host::kernel::{MODULES, fstab_swap_lines, module_loaded, swap_devices, sysctl_path};
use crate::host::{self, Host};
use crate::runner::context::Context;
use crate::runner::report::Reporter;

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
                if key.starts_with("net.bridge.") && !plan.modules.contains(&"br_netfilter") {
                    plan.modules.push("br_netfilter");
                }
                if !plan.sysctls.contains(key) {
                    plan.sysctls.push(key);
                }
            }
            Some(Repair::SwapOff) => plan.swap_off = true,
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

/// Adds each `(key, line)` whose key (the text before any `=`) the file lacks, so the setting
/// survives a reboot; the file is journaled like any other change.
fn persist(
    ctx: &Context,
    journal: &mut Journal,
    file: &str,
    what: &str,
    lines: impl Iterator<Item = (String, String)>,
) -> Result<()> {
    let mut text = ctx
        .root
        .read_optional(file)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| {
            format!("# {what} Kubernetes needs, written by kubestrap preflight --fix\n")
        });
    for (key, line) in lines {
        if !text
            .lines()
            .any(|l| l.split('=').next().map(str::trim) == Some(key.as_str()))
        {
            text.push_str(&format!("{line}\n"));
        }
    }
    journal.write_file(ctx, file, text.as_bytes(), 0o644)
}

/// Applies a plan, journaling each change before the next one.
pub fn apply(ctx: &Context, plan: &Plan) -> Result<()> {
    let mut journal = Journal::load(&ctx.root)?;
    for m in &plan.modules {
        if !module_loaded(&ctx.root, m) {
            ctx.host.run("modprobe", &[m])?;
            journal.push(
                ctx,
                Entry::Module {
                    name: m.to_string(),
                },
            )?;
        }
        ctx.out.status("fix", &format!("loaded kernel module {m}"));
    }
    if !plan.modules.is_empty() {
        let lines = plan.modules.iter().map(|m| (m.to_string(), m.to_string()));
        persist(ctx, &mut journal, MODULES_FILE, "Kernel modules", lines)?;
    }
    for key in &plan.sysctls {
        let path = sysctl_path(key);
        // A bridge setting appears only once br_netfilter is loaded (above).
        let before = ctx
            .root
            .read_to_string(&path)
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| ABSENT.into());
        ctx.host.write_setting(&ctx.root.physical(&path)?, "1")?;
        journal.push(
            ctx,
            Entry::Setting {
                path: path.clone(),
                before,
            },
        )?;
        ctx.out.status("fix", &format!("set {key} = 1"));
    }
    if !plan.sysctls.is_empty() {
        let lines = plan
            .sysctls
            .iter()
            .map(|k| (k.to_string(), format!("{k} = 1")));
        persist(ctx, &mut journal, SYSCTL_FILE, "Kernel settings", lines)?;
    }
    if plan.swap_off {
        let devices = swap_devices(&ctx.root);
        ctx.host.run("swapoff", &["-a"])?;
        for device in devices {
            journal.push(ctx, Entry::Swap { device })?;
        }
        let lines = fstab_swap_lines(&ctx.root);
        if !lines.is_empty() {
            let text = ctx.root.read_to_string("/etc/fstab")?;
            let numbers: Vec<usize> = lines.iter().map(|(n, _)| *n).collect();
            let mut out = String::new();
            for (i, line) in text.split_inclusive('\n').enumerate() {
                if numbers.contains(&(i + 1)) {
                    out.push_str("# ");
                }
                out.push_str(line);
            }
            let mode = ctx.root.mode("/etc/fstab")?;
            journal.write_file(ctx, "/etc/fstab", out.as_bytes(), mode)?;
        }
        ctx.out
            .status("fix", "turned swap off, now and in /etc/fstab");
    }
    if let Some(edits) = &plan.containerd {
        let before = ctx.root.read_optional(containerd::CONFIG)?;
        let text = before
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let after = containerd::edit(text.as_deref(), edits)?;
        let mode = match before {
            Some(_) => ctx.root.mode(containerd::CONFIG)?,
            None => 0o644,
        };
        journal.write_file(ctx, containerd::CONFIG, after.as_bytes(), mode)?;
        ctx.out.status(
            "fix",
            &format!("updated {} (backup kept)", containerd::CONFIG),
        );
        restart(ctx, &mut journal, "containerd")?;
    }
    Ok(())
}

fn restart(ctx: &Context, journal: &mut Journal, unit: &str) -> Result<()> {
    journal.push(ctx, Entry::Restart { unit: unit.into() })?;
    if host::systemd_running(&ctx.root) {
        ctx.host.restart_service(unit)?;
        ctx.out.status("fix", &format!("restarted {unit}"));
    } else {
        ctx.out.warn(
            "fix",
            &format!(
                "systemd does not run here: restart {unit} yourself so it reads the new config"
            ),
        );
    }
    Ok(())
}

/// The journal file, kept up to date after every change.
struct Journal {
    entries: Vec<Entry>,
}

impl Journal {
    fn load(root: &Root) -> Result<Self> {
        let entries = match root.read_optional(JOURNAL)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("`{JOURNAL}` is not a kubestrap fix journal"))?,
            None => Vec::new(),
        };
        Ok(Journal { entries })
    }

    fn push(&mut self, ctx: &Context, entry: Entry) -> Result<()> {
        self.entries.push(entry);
        self.save(ctx)
    }

    fn save(&self, ctx: &Context) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.entries)?;
        ctx.root.write(JOURNAL, text.as_bytes(), 0o600)
    }

    /// Backs a file up (first), records it, then writes it.
    fn write_file(&mut self, ctx: &Context, path: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let backup = match ctx.root.read_optional(path)? {
            Some(old) => {
                let name = format!(
                    "{BACKUPS}/{}-{}",
                    self.entries.len(),
                    path.trim_start_matches('/').replace('/', "_")
                );
                ctx.root.write(&name, &old, 0o600)?;
                Some(name)
            }
            None => None,
        };
        let mode_before = if backup.is_some() {
            ctx.root.mode(path)?
        } else {
            mode
        };
        self.push(
            ctx,
            Entry::File {
                path: path.into(),
                backup,
                mode: mode_before,
            },
        )?;
        ctx.root.write(path, bytes, mode)
    }
}

/// What undoing needs: the files, the machine and the user; no cluster settings.
pub struct Machine<'a> {
    pub root: &'a Root,
    pub host: &'a dyn Host,
    pub out: &'a dyn Reporter,
}

/// Puts back every journaled change, newest first, then restarts the services whose files changed.
pub fn undo(ctx: &Machine) -> Result<usize> {
    let journal = Journal::load(ctx.root)?;
    if journal.entries.is_empty() {
        ctx.out.status(
            "fix",
            &format!("nothing to undo: {JOURNAL} records no fixes"),
        );
        return Ok(0);
    }
    let mut restarts = Vec::new();
    for entry in journal.entries.iter().rev() {
        match entry {
            Entry::File { path, backup, mode } => match backup {
                Some(b) => {
                    let bytes = ctx.root.read(b)?;
                    ctx.root.write(path, &bytes, *mode)?;
                    ctx.out.status("fix", &format!("restored {path}"));
                }
                None => {
                    ctx.root.remove_all(path)?;
                    ctx.out.status("fix", &format!("removed {path}"));
                }
            },
            // An absent setting goes away with its module (undone next).
            Entry::Setting { path, before } if before == ABSENT => {}
            Entry::Setting { path, before } => {
                ctx.host.write_setting(&ctx.root.physical(path)?, before)?;
                ctx.out
                    .status("fix", &format!("set {path} back to {before}"));
            }
            Entry::Module { name } => match ctx.host.run("modprobe", &["-r", name]) {
                Ok(()) => ctx
                    .out
                    .status("fix", &format!("unloaded kernel module {name}")),
                Err(e) => ctx
                    .out
                    .warn("fix", &format!("could not unload {name}: {e:#}")),
            },
            Entry::Swap { device } => {
                ctx.host.run("swapon", &[device])?;
                ctx.out.status("fix", &format!("turned swap on: {device}"));
            }
            Entry::Restart { unit } => {
                if !restarts.contains(unit) {
                    restarts.push(unit.clone());
                }
            }
        }
    }
    for unit in &restarts {
        if host::systemd_running(ctx.root) {
            ctx.host.restart_service(unit)?;
            ctx.out.status("fix", &format!("restarted {unit}"));
        } else {
            ctx.out.warn(
                "fix",
                &format!("systemd does not run here: restart {unit} yourself so it reads the restored config"),
            );
        }
    }
    ctx.root.remove_all(BACKUPS)?;
    ctx.root.remove_all(JOURNAL)?;
    if ctx.root.list(paths::STATE_DIR)?.is_empty() {
        ctx.root.remove_all(paths::STATE_DIR)?;
    }
    Ok(journal.entries.len())
}
