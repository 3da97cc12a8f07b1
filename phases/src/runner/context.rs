//! `Context`: what every phase of a workflow works with.

use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::Result;

use crate::api::{Api, Client};
use crate::config::Config;
use crate::fs::root::Root;
use crate::host::Host;
use crate::runner::report::Reporter;
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
    /// reset: also empty `/etc/kubernetes/tmp`.
    pub cleanup_tmp_dir: bool,
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
    /// What the command prints at the end (tokens, join command).
    pub outputs: crate::runner::summary::Outputs,
    /// The API client, built on first use by [`Context::api`].
    api: OnceLock<Client>,
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
            outputs: Default::default(),
            api: OnceLock::new(),
        }
    }

    /// The API client: from the admin kubeconfig under the root on first use (a logging dry-run
    /// client with `--dry-run`), or the one given to [`Context::set_api`].
    pub fn api(&self) -> Result<Api<'_>> {
        if let Some(client) = self.api.get() {
            return Ok(client.with(self.out.as_ref()));
        }
        let client = crate::api::client::build(self)?;
        let client = self.api.get_or_init(|| client);
        Ok(client.with(self.out.as_ref()))
    }

    /// Uses this client for every API call (tests, or a client built elsewhere).
    pub fn set_api(&mut self, client: Client) {
        self.api = OnceLock::new();
        let _ = self.api.set(client);
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
