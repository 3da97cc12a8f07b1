//! `kubestrap version [-o short|json|yaml]`.

use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::version::{NEWEST, NEWEST_MINOR, OLDEST_MINOR};
use serde_json::json;

use crate::cli::{OutputFormat, VersionFormat};
use crate::output::Printer;

const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// Set by build.rs: `git rev-parse --short HEAD`, or "unknown".
const GIT_COMMIT: &str = env!("KUBESTRAP_GIT_COMMIT");

/// Prints the version in the format asked for.
pub fn run(format: VersionFormat, printer: &Printer) -> Result<ExitCode> {
    let platform = format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH);
    let (oldest, newest) = (format!("v1.{OLDEST_MINOR}"), format!("v1.{NEWEST_MINOR}"));
    let document = |format| {
        printer.document(
            format,
            &json!({
                "version": VERSION,
                "gitCommit": GIT_COMMIT,
                "platform": platform,
                "kubernetes": {
                    "oldestMinor": oldest,
                    "newestMinor": newest,
                    "default": NEWEST.to_string(),
                },
            }),
        )
    };
    match format {
        VersionFormat::Short => printer.data(VERSION),
        VersionFormat::Text => printer.data(&format!(
            "kubestrap version: {VERSION} (git commit {GIT_COMMIT}, {platform})\n\
             Kubernetes versions: {oldest}.x to {newest}.x (default {NEWEST})"
        )),
        VersionFormat::Json => document(OutputFormat::Json)?,
        VersionFormat::Yaml => document(OutputFormat::Yaml)?,
    }
    Ok(ExitCode::SUCCESS)
}
