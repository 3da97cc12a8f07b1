//! `Context`: what every phase of a workflow works with.

use std::any::Any;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::api::{Api, Client};
use crate::config::Config;
use crate::fs::root::Root;
use crate::host::Host;
use crate::host::interrupt::Interrupt;
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
    /// reset: go on where kubestrap would refuse to (`--force`), e.g. an etcd member leaving a
    /// cluster without quorum.
    pub force: bool,
    /// reset: also empty `/etc/kubernetes/tmp`.
    pub cleanup_tmp_dir: bool,
    /// reset: also remove the CNI configuration, the network plugins' interfaces and the
    /// `KUBE-*` iptables chains.
    pub cleanup_network: bool,
    /// init: share the CAs and service-account keys in the `kubeadm-certs` Secret (`--upload-certs`).
    pub upload_certs: bool,
    /// init: keep the certificate key out of the output (`--skip-certificate-key-print`).
    pub skip_certificate_key_print: bool,
    /// init: keep the bootstrap tokens out of the output (`--skip-token-print`).
    pub skip_token_print: bool,
}

/// Builds an API client for the phases of a run.
pub type ClientFactory = fn(&Context) -> Result<Client>;

/// The API clients a workflow hands its phases: a phase never picks a kubeconfig itself.
#[derive(Debug, Clone, Copy)]
pub struct Clients {
    /// The client of the phases that talk to the API server, built on the first
    /// [`Context::api`] call.
    pub api: ClientFactory,
    /// A client that only polls health while the API server starts, before `api` can be built
    /// (it may make calls that need a serving API server).
    pub health: ClientFactory,
    /// This node's admin.conf (a dry run's reporting client), built on the first
    /// [`Context::admin`] call: what a joining control-plane node uses once it has one, and
    /// what reset uses.
    pub admin: ClientFactory,
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
    pub outputs: crate::runner::outputs::Outputs,
    /// A whole init's record of finished phases, kept for a later run to resume.
    pub record: Option<crate::runner::resume::Record>,
    /// What this run learned that its later phases, or the undo of a failure, need (see
    /// [`Context::state`]).
    state: Vec<Box<dyn Any + Send + Sync>>,
    /// The API client, built on first use by [`Context::api`].
    api: OnceLock<Client>,
    /// The admin client, built on first use by [`Context::admin`].
    admin: OnceLock<Client>,
    /// Where API clients come from; set by the workflow.
    clients: Option<Clients>,
    /// Whether the run was asked to stop (SIGINT, SIGTERM): looked at before each phase and on
    /// each poll of a wait.
    pub interrupt: Interrupt,
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
            record: None,
            state: Vec::new(),
            api: OnceLock::new(),
            admin: OnceLock::new(),
            clients: None,
            interrupt: Interrupt::process(),
        }
    }

    /// Gives the phases of this run the workflow's API clients.
    pub fn with_clients(mut self, clients: Clients) -> Self {
        self.clients = Some(clients);
        self
    }

    /// The API client: the workflow's (see [`Clients`]), built on first use, or the one given to
    /// [`Context::set_api`].
    pub fn api(&self) -> Result<Api<'_>> {
        if let Some(client) = self.api.get() {
            return Ok(client.with(self));
        }
        let Some(clients) = self.clients else {
            anyhow::bail!("this workflow gives its phases no API client");
        };
        let client = (clients.api)(self)?;
        let client = self.api.get_or_init(|| client);
        Ok(client.with(self))
    }

    /// The admin client (see [`Clients::admin`]), built on first use.
    pub fn admin(&self) -> Result<Api<'_>> {
        if let Some(client) = self.admin.get() {
            return Ok(client.with(self));
        }
        let Some(clients) = self.clients else {
            anyhow::bail!("this workflow gives its phases no API client");
        };
        let client = (clients.admin)(self)?;
        let client = self.admin.get_or_init(|| client);
        Ok(client.with(self))
    }

    /// Keeps what this run learned (one value per type), for its later phases: the workflow's
    /// own state, never part of the configuration.
    pub fn set_state<T: Any + Send + Sync>(&mut self, value: T) {
        self.state.retain(|s| !s.is::<T>());
        self.state.push(Box::new(value));
    }

    /// The value of type `T` this run keeps, if any.
    pub fn state<T: Any>(&self) -> Option<&T> {
        self.state.iter().find_map(|s| s.downcast_ref::<T>())
    }

    /// Takes the value of type `T` this run keeps out of it.
    pub fn take_state<T: Any>(&mut self) -> Option<T> {
        let at = self.state.iter().position(|s| s.is::<T>())?;
        self.state.remove(at).downcast::<T>().ok().map(|b| *b)
    }

    /// A fresh client for health checks while the API server starts (see [`Clients::health`]).
    pub fn health_client(&self) -> Result<Client> {
        let Some(clients) = self.clients else {
            anyhow::bail!("this workflow gives its phases no API client");
        };
        (clients.health)(self)
    }

    /// Uses this client for every API call (tests, or a client built elsewhere).
    pub fn set_api(&mut self, client: Client) {
        self.api = OnceLock::new();
        let _ = self.api.set(client);
    }

    /// The root of this run, once the run is over (a dry run's scratch folder goes with it).
    pub fn into_root(self) -> Root {
        self.root
    }

    /// The version differences of the Kubernetes version being deployed.
    pub fn profile(&self) -> Profile {
        self.cfg.version.profile()
    }

    /// Whether a command that changes the machine (`what`) may run; under another `--root` than
    /// `/` it is skipped, with a line saying so (see [`may_change_machine`]).
    pub fn may_change_machine(&self, tag: &str, what: &str) -> bool {
        may_change_machine(self.host.as_ref(), &self.root, self.out.as_ref(), tag, what)
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

/// Whether a command that changes the machine (`what`: ip, iptables, modprobe, swapoff, a kernel
/// setting, a service) may run for the files under `root`. The one rule for every such command:
/// under another `--root` than `/` it would change this machine, not the one under the root, so
/// it is skipped and `out` says so.
pub fn may_change_machine(
    host: &dyn Host,
    root: &Root,
    out: &dyn Reporter,
    tag: &str,
    what: &str,
) -> bool {
    match crate::host::foreign_root(host, root, what) {
        Some(why) => {
            out.status(tag, &why);
            false
        }
        None => true,
    }
}

/// API calls made for a phase report through the run's reporter.
impl crate::api::Log for Context {
    fn status(&self, tag: &str, msg: &str) {
        Reporter::status(self.out.as_ref(), tag, msg)
    }
    fn detail(&self, msg: &str) {
        Reporter::detail(self.out.as_ref(), msg)
    }
    fn pause(&self, pause: Duration) -> Result<()> {
        Ok(self.interrupt.pause(pause)?)
    }
}
