//! `kubestrap config validate` and `kubestrap config print init-defaults`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use kubestrap_phases::config::{self, ApiVersion};

use crate::cli::{ConfigCmd, PrintCmd};
use crate::output::Printer;

/// Runs a `config` subcommand.
pub fn run(cmd: ConfigCmd, printer: &Printer) -> Result<ExitCode> {
    match cmd {
        ConfigCmd::Validate { config: path } => {
            let problems = config::validate_file(&path)?;
            if problems.is_empty() {
                printer.data(&format!(
                    "ok: `{}` is a valid configuration",
                    path.display()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            Err(config::InvalidConfig(problems).into())
        }
        ConfigCmd::Print(PrintCmd::InitDefaults { api_version }) => {
            let Some(version) = ApiVersion::parse(&api_version)
                .or_else(|| ApiVersion::parse(&format!("{}/{api_version}", config::GROUP)))
            else {
                bail!(
                    "unknown API version {api_version:?}; use kubeadm.k8s.io/v1beta4 or kubeadm.k8s.io/v1beta3"
                );
            };
            printer.data(config::print_init_defaults(version)?.trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}
