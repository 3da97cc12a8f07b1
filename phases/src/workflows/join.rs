//! The join workflow: its phase tables in kubeadm's order for the cluster's version, the glue
//! that discovers the cluster (and so learns its version) before any phase runs, and its front
//! door [`run`].
//!
//! The control-plane phases have nothing to do on a worker, as in kubeadm.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};

use crate::api::http::{Credentials, HttpTransport};
use crate::api::{Client, client, cluster_config};
use crate::config::Documents;
use crate::config::join::{Discovery, JoinFlags, resolve_join};
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::runner::context::Options;
use crate::runner::outputs::PhaseTiming;
use crate::runner::report::Reporter;
use crate::workflows::Outcome;

use crate::config::kubeadm_config;
pub use crate::phases::bootstrap::Https;
use crate::phases::bootstrap::{self, BootstrapKubeconfig, Connect, TokenDiscovery};
use crate::phases::{certs, control_plane, etcd};
use crate::preflight;
use crate::runner::context::{Clients, Context};
use crate::runner::versions::{Tables, Versioned};
use crate::runner::{self, Phase};
use crate::version::KubeVersion;

/// `kubelet-wait-bootstrap`: kubestrap's kubelet-start has already waited for the kubelet's
/// TLS bootstrap (kubeadm's moves that wait here only with ControlPlaneKubeletLocalMode).
fn bootstrap_waited_in_kubelet_start(_: &mut Context) -> Result<()> {
    Ok(())
}

/// kubeadm's refusals of a control-plane join come first, then the checks of the node.
fn join_preflight(ctx: &mut Context) -> Result<()> {
    control_plane::check_can_join(ctx)?;
    preflight::run_join(ctx)
}

const PREFLIGHT: Phase = Phase::leaf("preflight", "Run join pre-flight checks", join_preflight);
const CONTROL_PLANE_PREPARE: Phase = Phase::group(
    "control-plane-prepare",
    "Prepare the machine for serving a control plane",
    &[
        Phase::leaf(
            "download-certs",
            "Download certificates shared among control-plane nodes from the kubeadm-certs Secret",
            certs::download_certs,
        ),
        Phase::leaf(
            "certs",
            "Generate the certificates for the new control plane components",
            control_plane::join_certs,
        ),
        Phase::leaf(
            "kubeconfig",
            "Generate the kubeconfig for the new control plane components",
            control_plane::join_kubeconfig,
        ),
        Phase::leaf(
            "control-plane",
            "Generate the manifests for the new control plane components",
            control_plane::join_manifests,
        ),
    ],
);
const CHECK_ETCD: Phase = Phase::leaf(
    "check-etcd",
    "Check that the etcd cluster is healthy before a stacked member joins",
    etcd::check_etcd,
);
const KUBELET_START: Phase = Phase::leaf(
    "kubelet-start",
    "Write kubelet settings, certificates and (re)start the kubelet",
    bootstrap::tls_bootstrap,
);
const MARK_CONTROL_PLANE: Phase = Phase::leaf(
    "mark-control-plane",
    "Mark a node as a control-plane",
    control_plane::join_mark,
);
const ETCD: Phase = Phase::leaf("etcd", "Add a new local etcd member", etcd::join_etcd);
const WAIT_CONTROL_PLANE: Phase = Phase::leaf(
    "wait-control-plane",
    "Wait for the control plane to start",
    control_plane::join_wait,
);
const CONTROL_PLANE_JOIN_ABOUT: &str = "Join a machine as a control plane instance";

/// join's phases in kubeadm's order, with the versions that differ:
/// - 1.20 and 1.21: control-plane-join has update-status (ClusterStatus);
/// - 1.33 adds wait-control-plane after control-plane-join;
/// - 1.34 makes etcd-join a phase of its own (no longer control-plane-join/etcd) and adds
///   kubelet-wait-bootstrap (kubelet-start waits for the TLS bootstrap itself unless
///   ControlPlaneKubeletLocalMode).
static PHASES: Tables = Tables::new(&[
    Versioned::all(PREFLIGHT),
    Versioned::all(CONTROL_PLANE_PREPARE),
    Versioned::all(CHECK_ETCD),
    Versioned::all(KUBELET_START),
    Versioned::since(
        34,
        Phase::leaf(
            "etcd-join",
            "Join etcd for control plane nodes",
            etcd::join_etcd,
        ),
    ),
    Versioned::since(
        34,
        Phase::leaf(
            "kubelet-wait-bootstrap",
            "Wait for the kubelet to bootstrap itself (only with ControlPlaneKubeletLocalMode)",
            bootstrap_waited_in_kubelet_start,
        ),
    ),
    Versioned::group(
        "control-plane-join",
        CONTROL_PLANE_JOIN_ABOUT,
        &[
            Versioned::before(34, ETCD),
            Versioned::before(
                22,
                Phase::leaf(
                    "update-status",
                    "Register the new control-plane node into the ClusterStatus maintained in the kubeadm-config ConfigMap",
                    control_plane::join_update_status,
                ),
            ),
            Versioned::all(MARK_CONTROL_PLANE),
        ],
    ),
    Versioned::since(33, WAIT_CONTROL_PLANE),
]);

/// Every distinct join phase table, newest version first.
pub fn tables() -> Vec<&'static [Phase]> {
    PHASES.distinct()
}

/// The join phase table for the cluster's Kubernetes version.
pub fn phases(version: KubeVersion) -> &'static [Phase] {
    PHASES.of(version)
}

/// What `kubestrap join` (or `join phase …`) is asked to do.
#[derive(Debug, Clone, Default)]
pub struct JoinOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// The configuration file's documents (defaults without `--config`).
    pub docs: Documents,
    /// The flags, which win over the file.
    pub flags: JoinFlags,
    /// One phase (`kubelet-start`), or the whole workflow.
    pub phase: Option<String>,
    pub dry_run: bool,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
}

/// What a finished join reports.
#[derive(Debug, Clone)]
pub struct Joined {
    pub node_name: String,
    /// The API server joined through.
    pub server: String,
    /// The cluster's Kubernetes version.
    pub version: KubeVersion,
    /// Whether the node joined (the whole workflow ran, not in a dry run).
    pub joined: bool,
    pub control_plane: bool,
    /// Whether the cluster's etcd is a local (stacked) one, which got a member.
    pub local_etcd: bool,
    /// Seconds discovery and each phase took, in run order.
    pub phases: Vec<PhaseTiming>,
}

/// Checks the configuration, discovers the cluster through `connect`, then runs the join phases
/// for its version (or one phase), reporting through `out`. A failure undoes what the join
/// changed in the cluster (an added etcd member).
pub fn run(opts: JoinOptions, connect: &dyn Connect, out: Box<dyn Reporter>) -> Outcome<Joined> {
    let dry_run = opts.dry_run || opts.docs.join.as_ref().is_some_and(|j| j.dry_run);
    let root = if dry_run {
        match Root::dry_run(&opts.base) {
            Ok(root) => root,
            Err(e) => return Outcome::early(e),
        }
    } else {
        Root::new(&opts.base)
    };
    let (result, root) = run_on(root, &opts, connect, out);
    Outcome::on(&root, result)
}

fn run_on(
    root: Root,
    opts: &JoinOptions,
    connect: &dyn Connect,
    out: Box<dyn Reporter>,
) -> (Result<Joined>, Root) {
    let host = LinuxHost;
    let cfg = match resolve_join(opts.docs.clone(), &opts.flags, &root, &host) {
        Ok(cfg) => cfg,
        Err(e) => return (Err(e), root),
    };
    for warning in &cfg.warnings {
        out.warn("config", warning);
    }
    // Phase names are checked before the network is: every version's names are known.
    let phase = opts.phase.as_deref();
    let skip = cfg.init.skip_phases.clone();
    let tables = tables();
    if !tables.iter().any(|t| runner::plan(t, phase, &skip).is_ok())
        && let Err(e) = runner::plan(tables[0], phase, &skip)
    {
        return (Err(e), root);
    }
    // Taken once the input is known to be good: bad input is refused at once, even while
    // another run holds the root.
    let _lock = match super::lock_root(&root, &opts.command_line, out.as_ref()) {
        Ok(lock) => lock,
        Err(e) => return (Err(e), root),
    };
    let options = Options {
        dry_run: root.is_dry_run(),
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        ..Options::default()
    };
    let mut ctx = Context::new(cfg, root, Box::new(host), out, options).with_clients(CLIENTS);
    let result = discover_and_join(&mut ctx, connect, phase, &skip);
    (result, ctx.into_root())
}

fn discover_and_join(
    ctx: &mut Context,
    connect: &dyn Connect,
    phase: Option<&str>,
    skip: &[String],
) -> Result<Joined> {
    let started = Instant::now();
    discover(ctx, connect).map_err(|e| {
        super::when_interrupted(
            e,
            "kubestrap join",
            "nothing was changed (discovery writes nothing)",
        )
    })?;
    ctx.outputs
        .phases
        .push(super::phase_timing("discovery", started));
    let steps = runner::plan(phases(ctx.cfg.version), phase, skip)?;
    if let Err(e) = super::run_timed(&steps, ctx, phase.is_some()) {
        let added_member = ctx.state::<etcd::AddedMember>().is_some();
        let undone = undo(ctx);
        if let Err(undo) = &undone {
            ctx.out.warn("etcd", &format!("{undo:#}"));
        }
        let left = match (added_member, undone.is_ok()) {
            (false, _) => "each file it wrote is whole",
            (true, true) => {
                "each file it wrote is whole, and the etcd member it added is removed again"
            }
            (true, false) => {
                "each file it wrote is whole; the etcd member it added could not be removed (see the warning above)"
            }
        };
        return Err(super::when_interrupted(
            e,
            "kubestrap join",
            &format!("{left}\n\nhint: run `kubestrap reset` on this node, then join again"),
        ));
    }
    Ok(Joined {
        node_name: ctx.cfg.node_name.clone(),
        server: ctx.api()?.endpoint(),
        version: ctx.cfg.version,
        joined: phase.is_none() && !ctx.root.is_dry_run(),
        control_plane: ctx.cfg.joins_control_plane(),
        local_etcd: ctx.cfg.cluster.etcd.local.is_some(),
        phases: ctx.outputs.phases.clone(),
    })
}

/// How long join tries an endpoint where nothing answers, unless the JoinConfiguration's
/// `timeouts.kubernetesAPICall` is set to other than kubeadm's default (whose minute would only
/// delay a mistyped address).
pub const UNREACHABLE_WAIT: Duration = Duration::from_secs(10);

fn unreachable_wait(timeouts: &crate::config::Timeouts) -> Duration {
    let set = &timeouts.kubernetes_api_call;
    if *set == crate::config::Timeouts::default().kubernetes_api_call {
        return UNREACHABLE_WAIT;
    }
    // Checked when the file was read.
    crate::config::duration::parse(set).unwrap_or(UNREACHABLE_WAIT)
}

/// Finds the cluster and makes sure it can be trusted, then reads its configuration: the
/// bootstrap kubeconfig and API client go into the context, the cluster's ClusterConfiguration
/// and version into its config. Writes nothing.
pub fn discover(ctx: &mut Context, connect: &dyn Connect) -> Result<()> {
    let join = ctx
        .cfg
        .join
        .clone()
        .context("discovery runs only within `kubestrap join`")?;
    let kubeconfig = match &join.discovery {
        Discovery::Token {
            endpoint,
            token,
            pins,
            unsafe_skip_ca_verification,
        } => {
            let settings = TokenDiscovery {
                endpoint: endpoint.clone(),
                token: token.clone(),
                pins: pins.clone(),
                unsafe_skip_ca_verification: *unsafe_skip_ca_verification,
                timeout: join.discovery_timeout,
                unreachable_timeout: unreachable_wait(&ctx.cfg.init.timeouts),
                poll: Duration::from_millis(200),
                interrupt: ctx.interrupt,
            };
            if *unsafe_skip_ca_verification && pins.is_empty() {
                ctx.out.warn(
                    "discovery",
                    "the cluster CA is not verified (--discovery-token-unsafe-skip-ca-verification): this node trusts whichever server answers at the endpoint",
                );
            }
            let found =
                bootstrap::by_token(&settings, connect, ctx.out.as_ref(), SystemTime::now())?;
            let bootstrap_token = join.tls_bootstrap_token.as_ref().unwrap_or(token);
            found.bootstrap_kubeconfig(bootstrap_token)?
        }
        Discovery::File { location } => {
            let text = bootstrap::read_location(location)?;
            crate::config::discovery_file::check(&text, location)?;
            bootstrap::by_file(&text, location, join.tls_bootstrap_token.as_ref())?
        }
    };
    let text = kubeconfig.to_yaml()?;
    let client = bootstrap_client(ctx, &text)?;
    let cluster_text = cluster_config::cluster_configuration_text(&client.with(ctx))
        .context("failed to read the cluster's configuration with the bootstrap token")?;
    ctx.out.status(
        "preflight",
        "Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"",
    );
    let (cluster, version) = kubeadm_config::parse_cluster_configuration(&cluster_text)?;
    ctx.cfg.cluster = cluster;
    ctx.cfg.version = version;
    // Only now is the kubelet's version known: its flags are checked before anything is written.
    let allowed = crate::config::known_flags::Allowed::from_env();
    for warning in crate::config::join::check_kubelet_flags(&ctx.cfg, &allowed)? {
        ctx.out.warn("config", &warning);
    }
    ctx.set_state(BootstrapKubeconfig(text));
    Ok(())
}

/// After a failed join: what the join changed in the cluster (an added etcd member) is undone.
fn undo(ctx: &mut Context) -> Result<()> {
    etcd::undo_etcd_member(ctx)
}

/// The client of a joining node's phases: the bootstrap token, at the server discovery found.
/// A control-plane node's admin client is its own admin.conf, once
/// `control-plane-prepare/kubeconfig` wrote it.
pub const CLIENTS: Clients = Clients {
    api: bootstrap,
    health: bootstrap,
    admin: super::clients::admin_health,
};

fn bootstrap(ctx: &Context) -> Result<Client> {
    let BootstrapKubeconfig(text) = ctx
        .state::<BootstrapKubeconfig>()
        .context("discovery has not run, so kubestrap does not know the cluster to talk to")?;
    bootstrap_client(ctx, text)
}

fn bootstrap_client(ctx: &Context, kubeconfig: &str) -> Result<Client> {
    let creds = Credentials::parse_text(&ctx.root, kubeconfig)?;
    Ok(Client::new(
        Box::new(HttpTransport::new(creds)?),
        client::retry(&ctx.cfg),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner;

    #[test]
    fn each_version_has_kubeadm_s_join_phases() {
        let paths = |v: &str| runner::paths(phases(KubeVersion::parse(v).unwrap()));
        assert!(paths("v1.20.2").contains(&"control-plane-join/update-status".to_string()));
        assert!(!paths("v1.22.0").contains(&"control-plane-join/update-status".to_string()));
        assert!(paths("v1.33.0").contains(&"wait-control-plane".to_string()));
        assert!(paths("v1.34.0").contains(&"etcd-join".to_string()));
        for v in ["v1.20.2", "v1.30.0", "v1.36.0"] {
            let p = paths(v);
            let pos = |x: &str| p.iter().position(|y| y == x).unwrap();
            assert!(pos("preflight") < pos("kubelet-start"), "{v}");
        }
    }
}
