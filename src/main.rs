//! kubestrap: bootstrap Kubernetes clusters the way kubeadm does.

mod cli;
mod commands;
mod exit;
mod output;

use std::process::ExitCode;

fn main() -> ExitCode {
    let invocation = cli::parse();
    match commands::run(invocation) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
