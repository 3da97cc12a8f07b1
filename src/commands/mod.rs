//! One function per subcommand; each returns the exit code.

mod certs;
mod cluster;
mod completion;
mod config;
mod init;
mod join;
mod preflight;
mod reset;
mod taint;
mod token;
mod upgrade;
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

/// The command line, recorded in the root's lock for another run to see.
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// `SUDO_USER`: the user who ran kubestrap through sudo.
fn sudo_user() -> Option<String> {
    std::env::var("SUDO_USER").ok()
}

/// What a dry run would have changed, printed whether the run succeeded or not (`show`: not
/// with `-o json|yaml`, whose stdout holds the one document only); then how the run ended.
fn finish<T>(
    outcome: kubestrap_phases::workflows::Outcome<T>,
    printer: &Printer,
    show: bool,
) -> Result<T> {
    if let Some(changes) = &outcome.dry_run_changes
        && show
    {
        printer.journal(changes);
    }
    outcome.result
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
        Cmd::Cluster(cmd) => cluster::run(cmd, &inv.cli.root, &printer),
        Cmd::Preflight(args) => preflight::run(&args, &inv.cli.root, printer),
        Cmd::Reset(args) => reset::run(&args, inv.reset_phase.as_deref(), &inv.cli.root, printer),
        Cmd::Upgrade(cmd) => upgrade::run(
            cmd,
            inv.upgrade_node_phase.as_deref(),
            &inv.cli.root,
            printer,
        ),
        Cmd::Certs(cmd) => certs::run(cmd, &inv.cli.root, &printer),
        Cmd::Kubeconfig(cmd) => certs::kubeconfig(cmd, &inv.cli.root, &printer),
        Cmd::Completion { shell } => completion::run(shell, &printer),
        Cmd::Version { output } => version::run(output, &inv.cli.root, &printer),
    }
}
