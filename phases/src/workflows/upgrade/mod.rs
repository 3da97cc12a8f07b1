//! The upgrade workflow (kubeadm's `upgrade plan|apply|node`): its phase tables and front
//! doors. `apply` upgrades the control plane of this node and then what the cluster keeps
//! for the version (kubeadm-config, the kubelet's ConfigMap, RBAC, addons); `node` upgrades
//! another node to the version kubeadm-config names. Both build the configuration of the
//! target version from the cluster's own kubeadm-config, so the manifests they write are those
//! `init` writes for that version with that configuration. `plan` ([`plan::plan`]) only reads.

pub mod file;
pub mod plan;

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use crate::api::{Api, Client, Retry, client};
use crate::config::{self, Documents, InvalidConfig, Overrides};
use crate::fs::paths;
use crate::fs::root::Root;
use crate::host::{Host, LinuxHost};
use crate::phases::upgrade::{self, ClusterView, Record, Settings};
use crate::runner::context::{Clients, Context, Options};
use crate::runner::outputs::PhaseTiming;
use crate::runner::report::Reporter;
use crate::runner::{self, Phase};
use crate::version::{KubeVersion, images, skew};
use crate::workflows::Outcome;

/// The checks, then (apply) the user's yes.
fn apply_preflight(ctx: &mut Context) -> Result<()> {
    upgrade::preflight(ctx)?;
    upgrade::check_images(ctx)?;
    if !ctx.opts.dry_run
        && !ctx
            .out
            .confirm("[upgrade/confirm] Are you sure you want to proceed with the upgrade?")
    {
        bail!(
            "the upgrade was not confirmed; nothing was changed\n\nhint: pass -y to upgrade without being asked"
        );
    }
    Ok(())
}

fn node_preflight(ctx: &mut Context) -> Result<()> {
    upgrade::preflight(ctx)?;
    if ctx.state::<ClusterView>().is_some() {
        upgrade::check_images(ctx)?;
    }
    Ok(())
}

const CONTROL_PLANE: Phase = Phase::leaf(
    "control-plane",
    "Upgrade the control plane",
    upgrade::control_plane,
);
const KUBELET_CONFIG: Phase = Phase::leaf(
    "kubelet-config",
    "Upgrade the kubelet configuration for this node",
    upgrade::kubelet_config_file,
);

/// `upgrade apply`'s steps, in the order of kubeadm's (named as its phases are from 1.32).
pub static APPLY: &[Phase] = &[
    Phase::leaf(
        "preflight",
        "Run preflight checks before upgrade",
        apply_preflight,
    ),
    CONTROL_PLANE,
    Phase::group(
        "upload-config",
        "Upload the kubeadm and kubelet configurations to ConfigMaps",
        &[
            Phase::leaf(
                "kubeadm",
                "Upload the kubeadm ClusterConfiguration to a ConfigMap",
                upgrade::upload_kubeadm_config,
            ),
            Phase::leaf(
                "kubelet",
                "Upload the kubelet configuration to a ConfigMap",
                upgrade::kubelet_config_map,
            ),
        ],
    ),
    KUBELET_CONFIG,
    Phase::leaf(
        "bootstrap-token",
        "Configures bootstrap token and cluster-info RBAC rules",
        upgrade::bootstrap_token_rbac,
    ),
    Phase::group(
        "addon",
        "Upgrade the default kubeadm addons",
        &[
            Phase::leaf("coredns", "Upgrade the CoreDNS addon", upgrade::coredns),
            Phase::leaf(
                "kube-proxy",
                "Upgrade the kube-proxy addon",
                upgrade::kube_proxy,
            ),
        ],
    ),
    Phase::leaf(
        "post-upgrade",
        "Run post upgrade tasks",
        upgrade::post_upgrade,
    ),
];

/// `upgrade node`'s phases, as kubeadm's.
pub static NODE: &[Phase] = &[
    Phase::leaf(
        "preflight",
        "Run upgrade node pre-flight checks",
        node_preflight,
    ),
    CONTROL_PLANE,
    KUBELET_CONFIG,
];

/// What `upgrade apply` or `upgrade node` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// apply: the target version; node: none (kubeadm-config's).
    pub version: Option<String>,
    /// node: one phase, or the whole workflow.
    pub phase: Option<String>,
    pub dry_run: bool,
    /// `--etcd-upgrade` (default: yes).
    pub etcd_upgrade: Option<bool>,
    /// `--certificate-renewal` (default: yes).
    pub certificate_renewal: Option<bool>,
    /// `--config`: an UpgradeConfiguration, and a ClusterConfiguration and component
    /// configurations that replace the cluster's (see [`file`]).
    pub config: Option<PathBuf>,
    /// `--patches DIR`.
    pub patches: Option<String>,
    pub ignore_preflight_errors: Vec<String>,
    pub skip_phases: Vec<String>,
    /// `--force`: go on despite a skew rule `--force` may override.
    pub force: bool,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
}

/// A finished upgrade.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgraded {
    pub from: String,
    pub to: String,
    pub node_name: String,
    /// Whether this node runs a control plane (its static pods were upgraded).
    pub control_plane: bool,
    /// A dry run: nothing was changed.
    pub dry_run: bool,
    pub phases: Vec<PhaseTiming>,
}

/// `kubestrap upgrade apply <version>`.
pub fn apply(opts: UpgradeOptions, out: Box<dyn Reporter>) -> Outcome<Upgraded> {
    run(opts, APPLY, file::Command::Apply, out)
}

/// `kubestrap upgrade node` (or `upgrade node phase …`).
pub fn node(opts: UpgradeOptions, out: Box<dyn Reporter>) -> Outcome<Upgraded> {
    run(opts, NODE, file::Command::Node, out)
}

fn run(
    mut opts: UpgradeOptions,
    table: &'static [Phase],
    command: file::Command,
    out: Box<dyn Reporter>,
) -> Outcome<Upgraded> {
    let from_file = match file::merge(&mut opts, command) {
        Ok(f) => f,
        Err(e) => return Outcome::early(e),
    };
    for warning in &from_file.warnings {
        out.warn("config", warning);
    }
    if command == file::Command::Apply && opts.version.is_none() {
        return Outcome::early(
            InvalidConfig(vec!["name the version to upgrade to: `kubestrap upgrade apply v1.X.Y` (or `apply.kubernetesVersion` in the UpgradeConfiguration of --config)".into()])
                .into(),
        );
    }
    let root = if opts.dry_run {
        match Root::dry_run(&opts.base) {
            Ok(root) => root,
            Err(e) => return Outcome::early(e),
        }
    } else {
        Root::new(&opts.base)
    };
    let lock = match super::lock_root(&root, &opts.command_line, out.as_ref()) {
        Ok(lock) => lock,
        Err(e) => return Outcome::on(&root, Err(e)),
    };
    let prepared = prepare(&root, &opts, &from_file, table, &out);
    let (cfg, settings, view, steps) = match prepared {
        Ok(p) => p,
        Err(e) => return Outcome::on(&root, Err(e)),
    };
    for warning in &cfg.warnings {
        out.warn("config", warning);
    }
    let options = Options {
        dry_run: root.is_dry_run(),
        ignore_preflight_errors: settings.ignore_preflight_errors.clone(),
        force: opts.force,
        ..Options::default()
    };
    let control_plane = !upgrade::local_manifests(&root).is_empty();
    let mut ctx = Context::new(cfg, root, Box::new(LinuxHost), out, options).with_clients(CLIENTS);
    if opts.phase.is_none() {
        ctx.out.status(
            "upgrade",
            &format!(
                "Upgrading this node from {} to {}",
                settings.from, settings.to
            ),
        );
    }
    let (from, to) = (settings.from, settings.to);
    ctx.set_state(settings);
    if let Some(view) = view {
        ctx.set_state(view);
    }
    let result = super::run_timed(&steps, &mut ctx, opts.phase.is_some())
        .map_err(|e| super::when_interrupted(e, "kubestrap upgrade", &format!("the record in `{}` lets the same command continue\n\nhint: run the same command again", upgrade::RECORD)));
    let dry_run_changes = ctx.root.is_dry_run().then(|| ctx.root.changes());
    drop(lock);
    Outcome {
        result: result.map(|()| Upgraded {
            from: from.to_string(),
            to: to.to_string(),
            node_name: ctx.cfg.node_name.clone(),
            control_plane,
            dry_run: dry_run_changes.is_some(),
            phases: ctx.outputs.phases.clone(),
        }),
        dry_run_changes,
    }
}

/// What `upgrade diff` is asked.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    pub base: PathBuf,
    /// The target (without one: `diff.kubernetesVersion` of --config, else the cluster's).
    pub version: Option<String>,
    pub config: Option<PathBuf>,
    /// Lines of context (`--context-lines`, else `diff.contextLines`, else 3).
    pub context_lines: Option<usize>,
}

/// `kubestrap upgrade diff [version]`: per control-plane manifest of this node that would
/// change, its unified diff; nothing is written.
pub fn diff(opts: DiffOptions, out: Box<dyn Reporter>) -> Result<Vec<(String, String)>> {
    let mut upgrade_opts = UpgradeOptions {
        base: opts.base.clone(),
        version: opts.version.clone(),
        config: opts.config.clone(),
        // A diff changes nothing: a rule --force may override is only a warning.
        force: true,
        ..UpgradeOptions::default()
    };
    let from_file = file::merge(&mut upgrade_opts, file::Command::Diff)?;
    for warning in &from_file.warnings {
        out.warn("config", warning);
    }
    let root = Root::new(&opts.base);
    let (cfg, settings, _, _) = prepare(&root, &upgrade_opts, &from_file, APPLY, &out)?;
    let mut ctx = Context::new(cfg, root, Box::new(LinuxHost), out, Options::default());
    let context = opts.context_lines.or(from_file.context_lines).unwrap_or(3);
    ctx.set_state(settings);
    upgrade::diff(&ctx, context)
}

/// The API clients of an upgrade: admin.conf (a dry run: reads of the real cluster, writes
/// only reported); a node without admin.conf uses its kubelet's kubelet.conf.
pub const CLIENTS: Clients = Clients {
    api: node_client,
    health: poll_client,
    admin: node_client,
};

fn node_client(ctx: &Context) -> Result<Client> {
    cluster_client(&ctx.root, ctx.opts.dry_run)
}

/// What the waits for a restarting component poll with: admin.conf, a call given up after a
/// few seconds (a poll that fails is only a poll that saw nothing yet).
fn poll_client(ctx: &Context) -> Result<Client> {
    client::admin(
        &ctx.root,
        Retry {
            timeout: std::time::Duration::from_secs(3),
            ..Retry::default()
        },
    )
}

fn cluster_client(root: &Root, dry_run: bool) -> Result<Client> {
    let admin = paths::kubeconfig("admin.conf");
    let kubeconfig = if root.exists(&admin) {
        admin
    } else {
        paths::kubeconfig("kubelet.conf")
    };
    if dry_run {
        return Ok(Client::dry_run(crate::api::DryRun::reading(Box::new(
            crate::api::http::HttpTransport::from_kubeconfig(root, &kubeconfig)?,
        ))));
    }
    client::from_kubeconfig(root, &kubeconfig, Retry::default())
}

/// The target's configuration, the upgrade's settings, the cluster as read (on a control-plane
/// node) and the steps to run.
pub type Prepared = (
    config::Config,
    Settings,
    Option<ClusterView>,
    Vec<runner::Step>,
);

/// The target version, the configuration of the target and the plan, read from the cluster;
/// a refusal changes nothing.
fn prepare<R: Reporter>(
    root: &Root,
    opts: &UpgradeOptions,
    from_file: &file::FromFile,
    table: &'static [Phase],
    out: &R,
) -> Result<Prepared> {
    // A bad table entry or version is refused before the cluster is asked.
    runner::plan(table, opts.phase.as_deref(), &opts.skip_phases)?;
    target_version(opts)?;
    let client = cluster_client(root, false)?;
    prepare_on(
        root,
        &client.with(out),
        &LinuxHost,
        opts,
        from_file,
        table,
        out,
    )
}

fn target_version(opts: &UpgradeOptions) -> Result<Option<KubeVersion>> {
    Ok(match &opts.version {
        Some(v) => {
            Some(KubeVersion::parse_any(v).map_err(|e| InvalidConfig(vec![format!("{e:#}")]))?)
        }
        None => None,
    })
}

/// [`prepare`] with the cluster read through `api` and this node's facts from `host` (tests
/// give a fake API server and host): the target's configuration as the upgrade builds it from
/// the cluster's kubeadm-config and this node's files.
pub fn prepare_on<R: Reporter>(
    root: &Root,
    api: &Api<'_>,
    host: &dyn Host,
    opts: &UpgradeOptions,
    from_file: &file::FromFile,
    table: &'static [Phase],
    out: &R,
) -> Result<Prepared> {
    let steps = runner::plan(table, opts.phase.as_deref(), &opts.skip_phases)?;
    let target = target_version(opts)?;
    let control_plane = root.exists(paths::manifest("kube-apiserver"));
    let view = if control_plane {
        Some(ClusterView::read(api)?)
    } else {
        None
    };
    let (cluster, config_version) = match &view {
        Some(v) => (v.cluster.clone(), v.config_version),
        None => crate::api::cluster_config::cluster_configuration(api)
            .context("failed to read the cluster's kubeadm-config")?,
    };
    let running = match &view {
        Some(v) => v.api_server,
        None => config_version,
    };
    let to = target.unwrap_or(config_version);
    if let Some(target) = target {
        let Some(view) = &view else {
            bail!(
                "this node runs no control plane (`{}` does not exist): `upgrade apply` runs on a control-plane node\n\nhint: run `kubestrap upgrade apply {target}` on a control-plane node, and `kubestrap upgrade node` here",
                paths::manifest("kube-apiserver")
            );
        };
        check_skew(view, target, opts.force, from_file, out)?;
    }
    let from = match Record::load(root)? {
        Some(r) if r.to == to.to_string() => KubeVersion::parse_any(&r.from)?,
        _ => running,
    };
    let mut docs = Documents::default();
    docs.cluster = from_file.cluster.clone().unwrap_or(cluster);
    docs.cluster.kubernetes_version = Some(to.to_string());
    docs.kubelet = from_file.kubelet.clone();
    docs.kube_proxy = from_file.kube_proxy.clone();
    let apiserver = root.read_to_string(paths::manifest("kube-apiserver")).ok();
    let flag = |name: &str| {
        apiserver
            .as_deref()
            .and_then(|m| upgrade::manifest_flag(m, name))
    };
    let overrides = Overrides {
        // A worker has no API endpoint of its own; any address will do for what it writes.
        advertise_address: flag("advertise-address").or(Some("127.0.0.1".into())),
        bind_port: flag("secure-port").and_then(|p| p.parse().ok()),
        // Where the node keeps it: its instance configuration (1.34+), else the kubelet's flag.
        cri_socket: match crate::phases::kubelet::instance_endpoint(root)? {
            Some(endpoint) => Some(endpoint),
            None => kubelet_flag(root, "container-runtime-endpoint"),
        },
        // The name the kubelet registered this node with (init's `--node-name`), not
        // necessarily the hostname: the manifests and the mirror pods carry it.
        node_name: kubelet_flag(root, "hostname-override"),
        patches: opts.patches.clone(),
        ..Overrides::default()
    };
    let cfg = config::resolve(docs, &overrides, root, host)?;
    let settings = Settings {
        from,
        to,
        certificate_renewal: opts.certificate_renewal.unwrap_or(true),
        etcd_upgrade: opts.etcd_upgrade.unwrap_or(true),
        timeout: from_file.timeout.unwrap_or(upgrade::MANIFESTS_TIMEOUT),
        image_pull_policy: from_file
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| "IfNotPresent".into()),
        kubelet_from_file: from_file.kubelet.is_some(),
        kube_proxy_from_file: from_file.kube_proxy.is_some(),
        ignore_preflight_errors: opts
            .ignore_preflight_errors
            .iter()
            .map(|s| s.to_lowercase())
            .collect(),
        images: target_images(&cfg, view.as_ref(), root),
    };
    Ok((cfg, settings, view, steps))
}

/// The version-skew rules of the target: one that `--force` cannot override is refused, one
/// it can is refused without it and a warning with it.
fn check_skew<R: Reporter>(
    view: &ClusterView,
    target: KubeVersion,
    force: bool,
    from_file: &file::FromFile,
    out: &R,
) -> Result<()> {
    let kubelets: Vec<KubeVersion> = view
        .nodes
        .iter()
        .filter_map(|n| KubeVersion::parse_any(&n.kubelet).ok())
        .collect();
    let mut violations = skew::check(view.api_server, target, &kubelets);
    violations.extend(skew::unstable(
        target,
        from_file.allow_experimental,
        from_file.allow_rc,
    ));
    let refused: Vec<&str> = violations
        .iter()
        .filter(|v| !v.skippable || !force)
        .map(|v| v.message.as_str())
        .collect();
    if refused.is_empty() {
        for v in &violations {
            out.warn(
                "upgrade/version",
                &format!("{} (going on: --force)", v.message),
            );
        }
        return Ok(());
    }
    bail!(
        "the upgrade from {} to {target} breaks the version skew rules; nothing was changed:\n\t{}",
        view.api_server,
        refused.join("\n\t")
    )
}

/// The value of `--<name>=` in this node's kubeadm-flags.env: the CRI endpoint the kubelet
/// uses (so the upgrade asks the runtime the kubelet runs on), the node's name when it is not
/// the hostname.
fn kubelet_flag(root: &Root, name: &str) -> Option<String> {
    let env = root.read_to_string(paths::KUBELET_FLAGS_ENV).ok()?;
    let prefix = format!("--{name}=");
    let at = env.find(&prefix)?;
    let rest = &env[at + prefix.len()..];
    let value: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    (!value.is_empty()).then_some(value)
}

/// The images this node needs for the target: its control-plane components' (etcd's only when
/// its manifest changes), and kube-proxy's and CoreDNS's where the cluster runs them.
fn target_images(cfg: &config::Config, view: Option<&ClusterView>, root: &Root) -> Vec<String> {
    let mut list = Vec::new();
    for component in upgrade::local_manifests(root) {
        if component == "etcd" {
            let now = root
                .read_to_string(paths::manifest("etcd"))
                .map(|m| upgrade::manifest_tag(&m))
                .unwrap_or_default();
            if now == images::etcd_tag(cfg) {
                continue;
            }
            list.push(images::etcd(cfg));
        } else {
            list.push(images::control_plane(cfg, component));
        }
    }
    if let Some(view) = view {
        if view.kube_proxy.is_some() {
            list.push(images::control_plane(cfg, "kube-proxy"));
        }
        if view.coredns.is_some() {
            list.push(images::coredns(&cfg.cluster, cfg.version));
        }
    }
    list
}
