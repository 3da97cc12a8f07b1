//! `Context`: what every phase of a workflow works with.

use std::time::SystemTime;

use crate::config::Config;
use crate::host::Host;
use crate::report::Reporter;
use crate::root::Root;
use crate::version::Profile;

/// Options that change how a workflow runs rather than what it builds.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Write nothing; report what would be written.
    pub dry_run: bool,
    /// Preflight checks whose errors become warnings (lower case; `all` for every check).
    pub ignore_preflight_errors: Vec<String>,
    /// Offer to repair what preflight finds (`--fix`); applied only after the reporter confirms.
    pub fix: bool,
}

/// The state of one workflow run.
pub struct Context {
    pub cfg: Config,
    pub root: Root,
    pub host: Box<dyn Host>,
    pub out: Box<dyn Reporter>,
    pub opts: Options,
    /// When the run started: kubeadm dates certificates from it.
    pub started: SystemTime,
}

impl Context {
    /// A context that starts now.
    pub fn new(
        cfg: Config,
        root: Root,
        host: Box<dyn Host>,
        out: Box<dyn Reporter>,
        opts: Options,
    ) -> Self {
        Context {
            cfg,
            root,
            host,
            out,
            opts,
            started: SystemTime::now(),
        }
    }

    /// The version differences of the Kubernetes version being deployed.
    pub fn profile(&self) -> Profile {
        self.cfg.version.profile()
    }

    /// The certificates folder (`certificatesDir`).
    pub fn cert_dir(&self) -> &str {
        &self.cfg.cluster.certificates_dir
    }

    /// A phase requirement as a logical path: `pki/…` lives under `certificatesDir`.
    pub fn resolve_required(&self, file: &str) -> String {
        match file.strip_prefix("pki/") {
            Some(rest) => format!("{}/{rest}", self.cert_dir()),
            None => file.to_string(),
        }
    }
}
