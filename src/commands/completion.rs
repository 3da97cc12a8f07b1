//! `kubestrap completion bash|zsh|fish|…`: the shell completion script.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Command;
use clap::builder::PossibleValue;
use clap_complete::Shell;
use kubestrap_phases::version::NEWEST;
use kubestrap_phases::workflows::{self, names};

use crate::output::Printer;

/// Prints the completion script of the whole command line, phase subcommands included, with
/// the names `--skip-phases`, `--ignore-preflight-errors` and `certs renew` take.
pub fn run(shell: Shell, printer: &Printer) -> Result<ExitCode> {
    let names = Names {
        checks: names::check_names(Box::new(printer.clone()))?,
        certificates: names::certificate_names(Box::new(printer.clone()))?,
    };
    let mut cmd = crate::cli::build();
    for sub in ["init", "join", "reset", "preflight", "certs"] {
        cmd = cmd.mut_subcommand(sub, |c| names.offer(c, sub));
    }
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kubestrap", &mut script);
    printer.raw(&String::from_utf8(script).context("completion script is not UTF-8")?);
    Ok(ExitCode::SUCCESS)
}

/// What completion offers for the arguments that take names.
struct Names {
    checks: Vec<String>,
    certificates: Vec<String>,
}

impl Names {
    /// Sets the offered values on `cmd` (of the top-level command `top`) and on every
    /// subcommand below it (`init phase certs ca` takes init's flags too). Only the completion
    /// script's copy of the command gets them: parsing still checks names against the
    /// configured version, with the error that lists the valid ones.
    fn offer(&self, mut cmd: Command, top: &str) -> Command {
        let kind = match top {
            "init" => "InitConfiguration",
            "join" => "JoinConfiguration",
            _ => "ResetConfiguration",
        };
        let phases = workflows::phase_names(kind, NEWEST);
        let ids: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        for id in ids {
            let values: &[String] = match id.as_str() {
                "skip_phases" => &phases,
                "ignore_preflight_errors" => &self.checks,
                "names" if cmd.get_name() == "renew" => &self.certificates,
                _ => continue,
            };
            let values: Vec<PossibleValue> =
                values.iter().cloned().map(PossibleValue::new).collect();
            cmd = cmd.mut_arg(id, |a| a.value_parser(values));
        }
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for sub in subs {
            cmd = cmd.mut_subcommand(sub, |c| self.offer(c, top));
        }
        cmd
    }
}
