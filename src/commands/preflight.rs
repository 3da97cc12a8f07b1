//! `kubestrap preflight`: the checks alone, `--fix` to repair, `--undo-fixes` to put things back.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::workflows::preflight::{self, PreflightOptions};

use crate::cli::PreflightArgs;
use crate::output::Printer;

/// Runs the checks (or undoes earlier fixes) on the host under `base`.
pub fn run(args: &PreflightArgs, base: &Path, printer: Printer) -> Result<ExitCode> {
    let printer = printer.assume_yes(args.yes, "--yes");
    // Undo needs no configuration: the journal says everything.
    let docs = match &args.config {
        Some(path) if !args.undo_fixes => config::load_file(path)?,
        _ => Documents::default(),
    };
    let opts = PreflightOptions {
        base: base.to_path_buf(),
        docs,
        overrides: Overrides {
            bind_port: args.apiserver_bind_port,
            cri_socket: args.cri_socket.clone(),
            kubernetes_version: args.kubernetes_version.clone(),
            ignore_preflight_errors: args.ignore_preflight_errors.clone(),
            ..Overrides::default()
        },
        join: args.join,
        fix: args.fix,
        undo_fixes: args.undo_fixes,
        dry_run: args.dry_run,
        command_line: super::command_line(),
    };
    preflight::run(opts, Box::new(printer))?;
    Ok(ExitCode::SUCCESS)
}
