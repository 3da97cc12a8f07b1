//! `kubestrap completion bash|zsh|fish|…`: the shell completion script.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap_complete::Shell;

use crate::output::Printer;

/// Prints the completion script of the whole command line, phase subcommands included.
pub fn run(shell: Shell, printer: &Printer) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::build(), "kubestrap", &mut script);
    printer.raw(&String::from_utf8(script).context("completion script is not UTF-8")?);
    Ok(ExitCode::SUCCESS)
}
