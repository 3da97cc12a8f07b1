//! One function per subcommand; each returns the exit code.

mod certs;
mod completion;
mod config;
mod init;
mod join;
mod preflight;
mod reset;
mod taint;
mod token;
mod version;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cmd, Invocation};
use crate::output::Printer;

/// kubeadm's refusal of flags next to `--config` (`what`: where these settings go instead).
fn refuse_mixed_with_config(config_given: bool, mixed: &[&str], what: &str) -> Result<()> {
    if config_given && !mixed.is_empty() {
        return Err(kubestrap_phases::config::InvalidConfig(vec![format!(
            "can not mix '--config' with arguments [{}]; put these settings in {what}",
            mixed.join(" ")
        )])
        .into());
    }
    Ok(())
}

/// Runs the planned steps one after another, recording how long each took (for `-o json`);
/// stops at the first failure.
fn run_timed(
    steps: &[kubestrap_phases::runner::Step],
    ctx: &mut kubestrap_phases::runner::context::Context,
    alone: bool,
) -> Result<()> {
    for step in steps {
        let started = std::time::Instant::now();
        let result = kubestrap_phases::runner::run(std::slice::from_ref(step), ctx, alone);
        ctx.outputs.phases.push(phase_timing(&step.path, started));
        result?;
    }
    Ok(())
}

/// Takes the lock of the root for the whole command, so that two runs never write one root at
/// once; a second run waits up to 10 s, saying for whom, then fails naming the holder. A dry run
/// writes nothing and takes none.
fn lock_root(
    root: &kubestrap_phases::fs::root::Root,
    printer: &Printer,
) -> Result<Option<kubestrap_phases::fs::lock::RunLock>> {
    use kubestrap_phases::fs::lock;
    if root.is_dry_run() {
        return Ok(None);
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    lock::acquire(root, &command, lock::WAIT, &mut |msg| {
        kubestrap_phases::runner::report::Reporter::warn(printer, "lock", msg)
    })
    .map(Some)
}

/// A run stopped by SIGINT or SIGTERM says so first, with what it left (`left`, which may end in
/// a `\n\nhint: …`); any other error is returned as it is.
fn when_interrupted(err: anyhow::Error, command: &str, left: &str) -> anyhow::Error {
    match kubestrap_phases::host::interrupt::Interrupted::find(&err) {
        Some(i) => err.context(format!("{command} stopped on {}: {left}", i.name())),
        None => err,
    }
}

/// The user who ran kubestrap through sudo, if not root.
fn sudo_user() -> Result<Option<kubestrap_phases::phases::kubeconfig::sudo_user::SudoUser>> {
    match std::env::var("SUDO_USER") {
        Ok(name) if !name.is_empty() && name != "root" => {
            kubestrap_phases::phases::kubeconfig::sudo_user::SudoUser::lookup(&name)
        }
        _ => Ok(None),
    }
}

/// How long a phase (or discovery) took, to the millisecond.
fn phase_timing(
    phase: &str,
    started: std::time::Instant,
) -> kubestrap_phases::runner::outputs::PhaseTiming {
    kubestrap_phases::runner::outputs::PhaseTiming {
        phase: phase.to_string(),
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// Runs what the command line asked for.
pub fn run(inv: Invocation) -> Result<ExitCode> {
    let printer = Printer::new(inv.cli.verbose());
    match inv.cli.command {
        Cmd::Init(args) => {
            let printer = printer.assume_yes(args.yes, "--yes");
            init::run(&args, inv.init_phase.as_deref(), &inv.cli.root, printer)
        }
        Cmd::Join(args) => join::run(&args, inv.join_phase.as_deref(), &inv.cli.root, printer),
        Cmd::Config(cmd) => config::run(cmd, &inv.cli.root, &printer),
        Cmd::Token(cmd) => token::run(cmd, &inv.cli.root, &printer),
        Cmd::Taint(cmd) => taint::run(cmd, &inv.cli.root, &printer),
        Cmd::Preflight(args) => preflight::run(&args, &inv.cli.root, printer),
        Cmd::Reset(args) => reset::run(&args, inv.reset_phase.as_deref(), &inv.cli.root, printer),
        Cmd::Certs(cmd) => certs::run(cmd, &inv.cli.root, &printer),
        Cmd::Kubeconfig(cmd) => certs::kubeconfig(cmd, &inv.cli.root, &printer),
        Cmd::Completion { shell } => completion::run(shell, &printer),
        Cmd::Version { output } => version::run(output, &printer),
    }
}
