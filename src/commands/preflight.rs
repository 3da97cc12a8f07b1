//! `kubestrap preflight`: the checks alone, `--fix` to repair, `--undo-fixes` to put things back.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::preflight::{self, Role, fix};
use kubestrap_phases::runner::context::{Context, Options};

use crate::cli::PreflightArgs;
use crate::output::Printer;

/// Runs the checks (or undoes earlier fixes) on the host under `base`.
pub fn run(args: &PreflightArgs, base: &Path, printer: Printer) -> Result<ExitCode> {
    let printer = printer.assume_yes(args.yes, "--yes");
    let host = LinuxHost;
    let root = if args.dry_run {
        Root::dry_run(base)?
    } else {
        Root::new(base)
    };
    let opts = Options {
        dry_run: root.is_dry_run(),
        fix: args.fix,
        ..Options::default()
    };
    // Only --fix and --undo-fixes write.
    let _lock = if args.fix || args.undo_fixes {
        super::lock_root(&root, &printer)?
    } else {
        None
    };
    if args.undo_fixes {
        // Undo needs no cluster settings: the journal says everything.
        fix::undo(&fix::Machine {
            root: &root,
            host: &host,
            out: &printer,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let docs = match &args.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    let overrides = Overrides {
        bind_port: args.apiserver_bind_port,
        cri_socket: args.cri_socket.clone(),
        kubernetes_version: args.kubernetes_version.clone(),
        ignore_preflight_errors: args.ignore_preflight_errors.clone(),
        ..Overrides::default()
    };
    let cfg = config::resolve(docs, &overrides, &root, &host)?;
    let opts = Options {
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        ..opts
    };
    printer.status(
        "preflight",
        &format!("Checking this host for Kubernetes {}", cfg.version),
    );
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(printer.clone()), opts)
        .with_clients(kubestrap_phases::workflows::init::CLIENTS);
    let role = if args.join { Role::Join } else { Role::Init };
    preflight::run(&mut ctx, role)?;
    printer.status("preflight", "All pre-flight checks passed");
    Ok(ExitCode::SUCCESS)
}
