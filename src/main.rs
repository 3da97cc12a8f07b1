//! kubestrap: bootstrap Kubernetes clusters the way kubeadm does.

mod cli;
mod commands;
mod exit;
mod output;

use std::process::ExitCode;

fn main() -> ExitCode {
    let invocation = cli::parse();
    // SIGINT and SIGTERM stop a run at its next safe point instead of killing it mid-way.
    if let Err(e) = kubestrap_phases::host::interrupt::install() {
        return exit::report(&anyhow::Error::new(e).context("failed to handle SIGINT and SIGTERM"));
    }
    match commands::run(invocation) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
