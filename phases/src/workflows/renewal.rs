//! The certificate lifecycle after init (the `certs` commands): when each certificate expires;
//! the renewal run ([`run`]) that renews certificates with the CAs on disk, then makes the
//! running control plane use them (restart each static pod whose files changed, etcd first) and
//! checks that the API server really serves its new certificate; CSRs for an external CA.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};

use crate::api::{Retry, client, cluster_config};
use crate::config::{self, ClusterConfiguration, Documents, InvalidConfig, Overrides};
use crate::fs::lock::RunLock;
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::phases::certs::Cert;
use crate::phases::control_plane;
use crate::phases::renewal;
use crate::pki;
use crate::runner::context::{Context, Options};
use crate::runner::report::Reporter;

pub use crate::phases::control_plane::RESTART_ORDER;
pub use crate::phases::renewal::{
    CsrFiles, Expiration, Outcome, RENEW_WITHIN, Renewable, State, Summary, expires_text,
    short_duration,
};

/// How long the certs commands wait for the API server (`--timeout`) before they go on with
/// kubeadm's defaults: a renewal must work while the control plane is down (expired
/// certificates are why it is).
pub const CLUSTER_CONFIG_WAIT: Duration = Duration::from_secs(5);

/// The ClusterConfiguration the cluster keeps (kube-system/kubeadm-config), read with
/// `kubeconfig` (else admin.conf) under `root`, for `certs` commands run without `--config`
/// (as kubeadm does).
pub fn cluster_configuration(
    root: &Root,
    kubeconfig: Option<&str>,
    timeout: Duration,
    out: &dyn crate::api::Log,
) -> Result<ClusterConfiguration> {
    let retry = Retry::by_flag(timeout);
    let admin = match kubeconfig {
        Some(path) => client::from_kubeconfig(root, path, retry)?,
        None => client::admin(root, retry)?,
    };
    Ok(cluster_config::cluster_configuration(&admin.with(out))?.0)
}

/// Where a certs command finds the certificates and the configuration.
#[derive(Debug, Clone, Default)]
pub struct CertsOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--cert-dir`, over the configuration's `certificatesDir`.
    pub cert_dir: Option<String>,
    /// `--kubeconfig`: the file the cluster's configuration is read with, instead of admin.conf.
    pub kubeconfig: Option<String>,
    /// `--timeout`: how long to wait for the API server ([`CLUSTER_CONFIG_WAIT`] by default).
    pub timeout: Duration,
}

/// Where a certs command takes the cluster's settings from without `--config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Without {
    /// kubeadm's defaults.
    Defaults,
    /// The cluster's kubeadm-config (through admin.conf), else kubeadm's defaults, as
    /// kubeadm's `certs renew` and `check-expiration` do.
    ClusterThenDefaults,
}

/// The context of a certs command: the configuration file (or what `without` says) with
/// `--cert-dir` over it. `local_address`: whether the command uses this node's advertise
/// address (otherwise none is looked up, so a host without a default route works).
pub(super) fn context(
    opts: &CertsOptions,
    without: Without,
    local_address: bool,
    out: Box<dyn Reporter>,
) -> Result<Context> {
    let mut docs = match &opts.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    if opts.config.is_none() && without == Without::ClusterThenDefaults {
        match cluster_configuration(
            &Root::new(&opts.base),
            opts.kubeconfig.as_deref(),
            opts.timeout,
            &out,
        ) {
            Ok(cluster) => docs.cluster = cluster,
            Err(e) => out.status(
                "certs",
                &format!(
                    "Error reading configuration from the cluster ({e:#}); falling back to the default configuration (pass --config to use a file)"
                ),
            ),
        }
    }
    if !local_address && docs.init.local_api_endpoint.advertise_address.is_none() {
        // Neither expiry nor renewal reads it; a placeholder avoids looking for a default route.
        docs.init.local_api_endpoint.advertise_address = Some("127.0.0.1".into());
    }
    let overrides = Overrides {
        cert_dir: opts.cert_dir.clone(),
        ..Overrides::default()
    };
    let root = Root::new(&opts.base);
    let host = LinuxHost;
    let cfg = config::resolve(docs, &overrides, &root, &host)?;
    Ok(Context::new(
        cfg,
        root,
        Box::new(host),
        out,
        Options::default(),
    ))
}

/// When each certificate, CA and the kubelet's client certificate expires.
pub fn check_expiration(opts: &CertsOptions, out: Box<dyn Reporter>) -> Result<Summary> {
    let ctx = context(opts, Without::ClusterThenDefaults, false, out)?;
    renewal::check_expiration(&ctx, SystemTime::now())
}

/// What the renewal run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RenewOptions {
    pub certs: CertsOptions,
    /// The certificates to renew (their names), or `all`.
    pub names: Vec<String>,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
}

/// A finished renewal: what became of each certificate, and the static pods to restart.
pub struct Renewed {
    ctx: Context,
    pub outcomes: Vec<(Renewable, Outcome)>,
    /// The static pods that read a renewed certificate, in restart order.
    pub components: Vec<&'static str>,
    _lock: Option<RunLock>,
}

impl Renewed {
    /// Makes the running control plane use the renewed certificates (see [`restart`]).
    pub fn restart(&self) -> Result<Option<Served>> {
        restart_components(&self.ctx, &self.components)
    }
}

/// The renewal run: renews the named certificates (an unknown name is refused before anything
/// is renewed, as bad input).
pub fn run(opts: RenewOptions, out: Box<dyn Reporter>) -> Result<Renewed> {
    let lock = super::lock_root(&Root::new(&opts.certs.base), &opts.command_line, &out)?;
    let ctx = context(&opts.certs, Without::ClusterThenDefaults, false, out)?;
    let items = select(&ctx, &opts.names).map_err(usage)?;
    let outcomes = renew(&ctx, &items)?;
    let components = components_to_restart(&outcomes);
    Ok(Renewed {
        ctx,
        outcomes,
        components,
        _lock: lock,
    })
}

/// What `certs restart` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RestartOptions {
    pub certs: CertsOptions,
    /// The components (every control-plane static pod when empty).
    pub components: Vec<String>,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
}

/// Restarts control-plane static pods so they read their certificates again; an unknown
/// component is refused as bad input.
pub fn restart(opts: RestartOptions, out: Box<dyn Reporter>) -> Result<Option<Served>> {
    let _lock = super::lock_root(&Root::new(&opts.certs.base), &opts.command_line, &out)?;
    let ctx = context(&opts.certs, Without::ClusterThenDefaults, false, out)?;
    let wanted: Vec<&str> = if opts.components.is_empty() {
        RESTART_ORDER.to_vec()
    } else {
        let mut wanted = Vec::new();
        for c in &opts.components {
            let known = RESTART_ORDER
                .iter()
                .find(|k| **k == c.as_str())
                .with_context(|| {
                    format!(
                        "unknown component {c:?}; the control-plane static pods are: {}",
                        RESTART_ORDER.join(", ")
                    )
                })
                .map_err(usage)?;
            wanted.push(*known);
        }
        wanted
    };
    restart_components(&ctx, &wanted)
}

/// Keys and CSRs for an external CA to sign (`certs generate-csr`); the kubeconfigs' go to
/// `kubeconfig_dir`.
pub fn generate_csrs(
    opts: &CertsOptions,
    kubeconfig_dir: &str,
    command_line: &str,
    out: Box<dyn Reporter>,
) -> Result<Vec<CsrFiles>> {
    let _lock = super::lock_root(&Root::new(&opts.base), command_line, &out)?;
    let ctx = context(opts, Without::Defaults, true, out)?;
    renewal::generate_csrs(&ctx, kubeconfig_dir)
}

/// A name on the command line that is not one of the valid ones: exit code 3, nothing changed.
fn usage(err: anyhow::Error) -> anyhow::Error {
    InvalidConfig(vec![format!("{err:#}")]).into()
}

/// Every renewable certificate (`all`), or those named, in kubeadm's order; an unknown name is
/// refused with the list of valid ones before anything is renewed.
fn select(ctx: &Context, names: &[String]) -> Result<Vec<Renewable>> {
    let all = Renewable::all(ctx);
    if names.iter().any(|n| n == "all") {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for name in names {
        match Renewable::find(ctx, name) {
            Some(item) if !picked.contains(&item) => picked.push(item),
            Some(_) => {}
            None => bail!(
                "{name:?} is not a valid certificate for this cluster; valid names are: all, {}",
                all.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(picked)
}

/// Renews each item; the outcome of each, in order. Keys are generated on every core at once.
fn renew(ctx: &Context, items: &[Renewable]) -> Result<Vec<(Renewable, Outcome)>> {
    let present = items
        .iter()
        .filter(|i| ctx.root.exists(i.path(ctx)))
        .count();
    if let Ok(alg) = crate::phases::certs::key_algorithm(ctx) {
        pki::prefetch_keys(alg, present);
    }
    items
        .iter()
        .map(|item| Ok((*item, renewal::renew_certificate(ctx, *item)?)))
        .collect()
}

/// The static pods that read the renewed certificates, in restart order.
fn components_to_restart(renewed: &[(Renewable, Outcome)]) -> Vec<&'static str> {
    RESTART_ORDER
        .into_iter()
        .filter(|c| {
            renewed.iter().any(|(item, outcome)| {
                matches!(outcome, Outcome::Renewed { .. }) && item.component() == Some(*c)
            })
        })
        .collect()
}

/// What the API server presents after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub url: String,
    /// Serial (hex) of the certificate it serves, equal to `apiserver.crt`'s.
    pub serial: String,
}

/// Restarts `components` one at a time in [`RESTART_ORDER`]; when the kube-apiserver is among
/// them, checks over TLS that it serves `apiserver.crt` as it is on disk now.
fn restart_components(ctx: &Context, components: &[&str]) -> Result<Option<Served>> {
    for component in RESTART_ORDER {
        if components.contains(&component) {
            control_plane::restart_component(ctx, component)?;
        }
    }
    if !components.contains(&"kube-apiserver") {
        return Ok(None);
    }
    served_matches_disk(ctx).map(Some)
}

/// Connects to this node's API server (trusting only the cluster CA) and compares the
/// certificate it presents with `apiserver.crt`.
fn served_matches_disk(ctx: &Context) -> Result<Served> {
    let dir = ctx.cert_dir();
    let (crt, _) = pki::pair_paths(dir, Cert::Apiserver.base());
    let (ca_crt, _) = pki::pair_paths(dir, Cert::Ca.base());
    let on_disk = pki::read_cert(&ctx.root, &crt)?;
    let ca_pem = ctx.root.read(&ca_crt)?;
    let url = control_plane::apiserver_url(ctx)?;
    let served = pki::Certificate::from_der(&crate::api::http::served_certificate(
        &format!("{url}/livez"),
        &ca_pem,
    )?)?;
    if served.der != on_disk.der {
        bail!(
            "the API server at {url} still serves the certificate with serial {}, not `{crt}` (serial {})\n\nhint: run `kubestrap certs restart kube-apiserver` on this node",
            served.serial_hex(),
            on_disk.serial_hex()
        );
    }
    ctx.out.status(
        "restart",
        &format!(
            "The API server at {url} serves the renewed certificate (serial {})",
            served.serial_hex()
        ),
    );
    Ok(Served {
        url,
        serial: served.serial_hex(),
    })
}
