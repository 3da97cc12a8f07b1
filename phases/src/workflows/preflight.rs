//! `kubestrap preflight`: the checks alone, `--fix` to repair, `--undo-fixes` to put things back.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::{self, Documents, Overrides};
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::preflight::{self, Role, fix};
use crate::runner::context::{Context, Options};
use crate::runner::report::Reporter;

/// What `kubestrap preflight` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// The configuration file's documents (defaults without `--config`).
    pub docs: Documents,
    /// The flags that override the file.
    pub overrides: Overrides,
    /// The checks of `kubestrap join` instead of `init`.
    pub join: bool,
    /// Offer a plan of repairs and apply it after a yes.
    pub fix: bool,
    /// Put back every change an earlier `--fix` made.
    pub undo_fixes: bool,
    pub dry_run: bool,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
}

/// Runs the checks (or undoes earlier fixes) on the host under `opts.base`.
pub fn run(opts: PreflightOptions, out: Box<dyn Reporter>) -> Result<()> {
    let host = LinuxHost;
    let root = if opts.dry_run {
        Root::dry_run(&opts.base)?
    } else {
        Root::new(&opts.base)
    };
    // Only --fix and --undo-fixes write.
    let _lock = if opts.fix || opts.undo_fixes {
        super::lock_root(&root, &opts.command_line, out.as_ref())?
    } else {
        None
    };
    if opts.undo_fixes {
        // Undo needs no cluster settings: the journal says everything.
        fix::undo(&fix::Machine {
            root: &root,
            host: &host,
            out: out.as_ref(),
        })?;
        return Ok(());
    }
    let cfg = config::resolve(opts.docs, &opts.overrides, &root, &host)?;
    let options = Options {
        dry_run: root.is_dry_run(),
        fix: opts.fix,
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        ..Options::default()
    };
    out.status(
        "preflight",
        &format!("Checking this host for Kubernetes {}", cfg.version),
    );
    let mut ctx =
        Context::new(cfg, root, Box::new(host), out, options).with_clients(super::init::CLIENTS);
    let role = if opts.join { Role::Join } else { Role::Init };
    preflight::run(&mut ctx, role)?;
    ctx.out.status("preflight", "All pre-flight checks passed");
    Ok(())
}
