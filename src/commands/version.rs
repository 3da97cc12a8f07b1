//! `kubestrap version [-o short|json|yaml]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::kubelet_version;
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::version::{NEWEST, NEWEST_MINOR, OLDEST_MINOR};
use serde_json::json;

use crate::cli::{OutputFormat, VersionFormat};
use crate::output::Printer;

const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// Set by build.rs: `git rev-parse --short HEAD`, or "unknown".
const GIT_COMMIT: &str = env!("KUBESTRAP_GIT_COMMIT");

/// Prints the version in the format asked for; the Kubernetes version deployed by default is
/// the installed kubelet's (under `base`), else the newest.
pub fn run(format: VersionFormat, base: &Path, printer: &Printer) -> Result<ExitCode> {
    let platform = format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH);
    let (oldest, newest) = (format!("v1.{OLDEST_MINOR}"), format!("v1.{NEWEST_MINOR}"));
    let kubelet = kubelet_version(&Root::new(base), &LinuxHost);
    let default = kubelet.unwrap_or(NEWEST);
    let why = match kubelet {
        Some(_) => "the installed kubelet's",
        None => "the newest, as no kubelet is installed; with one, its version",
    };
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
                    "default": default.to_string(),
                    "defaultFromKubelet": kubelet.is_some(),
                },
            }),
        )
    };
    match format {
        VersionFormat::Short => printer.data(VERSION),
        VersionFormat::Text => printer.data(&format!(
            "kubestrap version: {VERSION} (git commit {GIT_COMMIT}, {platform})\n\
             Kubernetes versions: {oldest}.x to {newest}.x (default {default}: {why})"
        )),
        VersionFormat::Json => document(OutputFormat::Json)?,
        VersionFormat::Yaml => document(OutputFormat::Yaml)?,
    }
    Ok(ExitCode::SUCCESS)
}
