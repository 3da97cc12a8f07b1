//! The journal of applied fixes (`/var/lib/kubestrap/fixes.json`) and `--undo-fixes`.

use anyhow::{Context as _, Result};

use super::{ABSENT, BACKUPS, Entry, JOURNAL};
use crate::fs::paths;
use crate::fs::root::Root;
use crate::host::{self, Host};
use crate::runner::context::{Context, may_change_machine};
use crate::runner::report::Reporter;

/// The journal file, kept up to date after every change.
pub(super) struct Journal {
    entries: Vec<Entry>,
}

impl Journal {
    pub(super) fn load(root: &Root) -> Result<Self> {
        let entries = match root.read_optional(JOURNAL)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("`{JOURNAL}` is not a kubestrap fix journal"))?,
            None => Vec::new(),
        };
        Ok(Journal { entries })
    }

    pub(super) fn push(&mut self, ctx: &Context, entry: Entry) -> Result<()> {
        self.entries.push(entry);
        self.save(ctx)
    }

    pub(super) fn save(&self, ctx: &Context) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.entries)?;
        ctx.root.write(JOURNAL, text.as_bytes(), 0o600)
    }

    /// Backs a file up (first), records it, then writes it.
    pub(super) fn write_file(
        &mut self,
        ctx: &Context,
        path: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<()> {
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

impl Machine<'_> {
    /// See [`may_change_machine`].
    fn may_change(&self, what: &str) -> bool {
        may_change_machine(self.host, self.root, self.out, "fix", what)
    }
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
    let mut reload = false;
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
                if !ctx.may_change(&format!("write {before} to {path}")) {
                    continue;
                }
                ctx.host.write_setting(&ctx.root.physical(path)?, before)?;
                ctx.out
                    .status("fix", &format!("set {path} back to {before}"));
            }
            Entry::Module { name } if !ctx.may_change(&format!("modprobe -r {name}")) => {}
            Entry::Module { name } => match ctx.host.run("modprobe", &["-r", name]) {
                Ok(()) => ctx
                    .out
                    .status("fix", &format!("unloaded kernel module {name}")),
                Err(e) => ctx
                    .out
                    .warn("fix", &format!("could not unload {name}: {e:#}")),
            },
            Entry::Swap { device } if !ctx.may_change(&format!("swapon {device}")) => {}
            Entry::Swap { device } => {
                ctx.host.run("swapon", &[device])?;
                ctx.out.status("fix", &format!("turned swap on: {device}"));
            }
            Entry::Restart { unit } => {
                if !restarts.contains(unit) {
                    restarts.push(unit.clone());
                }
            }
            Entry::DaemonReload => reload = true,
        }
    }
    if reload
        && host::systemd_answers(ctx.host, ctx.root)
        && ctx.may_change("systemctl daemon-reload")
    {
        ctx.host.run("systemctl", &["daemon-reload"])?;
        ctx.out.status("fix", "reloaded systemd");
    }
    for unit in &restarts {
        if !ctx.may_change(&format!("systemctl restart {unit}")) {
            continue;
        }
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
