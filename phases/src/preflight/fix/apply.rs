//! Applying a confirmed plan: each change journaled before it is made, so it can be undone.

use anyhow::Result;

use super::journal::Journal;
use super::{ABSENT, Entry, MODULES_FILE, Plan, SYSCTL_FILE};
use crate::host;
use crate::host::containerd;
use crate::host::kernel_state::{fstab_swap_lines, module_loaded, swap_devices, sysctl_path};
use crate::host::kubelet_unit;
use crate::runner::context::Context;

/// Adds each `(key, line)` whose key (the text before any `=`) the file lacks, so the setting
/// survives a reboot; the file is journaled like any other change.
pub(super) fn persist(
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
            if !ctx.may_change_machine("fix", &format!("modprobe {m}")) {
                continue;
            }
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
        if !ctx.may_change_machine("fix", &format!("sysctl -w {key}=1")) {
            continue;
        }
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
        if ctx.may_change_machine("fix", "swapoff -a") {
            let devices = swap_devices(&ctx.root);
            ctx.host.run("swapoff", &["-a"])?;
            for device in devices {
                journal.push(ctx, Entry::Swap { device })?;
            }
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
    if !plan.kubelet_unit.is_empty() {
        for (path, text) in &plan.kubelet_unit {
            journal.write_file(ctx, path, text.as_bytes(), 0o644)?;
            ctx.out.status("fix", &format!("wrote {path}"));
        }
        journal.push(ctx, Entry::DaemonReload)?;
        if host::systemd_answers(ctx.host.as_ref(), &ctx.root)
            && ctx.may_change_machine("fix", "systemctl daemon-reload")
        {
            ctx.host.run("systemctl", &["daemon-reload"])?;
            ctx.host
                .run("systemctl", &["enable", kubelet_unit::SERVICE])?;
            ctx.out
                .status("fix", "reloaded systemd; kubelet.service is enabled");
        }
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

pub(super) fn restart(ctx: &Context, journal: &mut Journal, unit: &str) -> Result<()> {
    if !ctx.may_change_machine("fix", &format!("systemctl restart {unit}")) {
        return Ok(());
    }
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
