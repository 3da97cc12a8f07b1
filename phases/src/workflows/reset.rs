//! The reset workflow: undo what init did to this host so that init can run again.
//!
//! kubeadm's phases: preflight, update-cluster-status (≤ 1.21; nothing to do on a cluster without
//! a ClusterStatus), remove-etcd-member, cleanup-node. After cleaning,
//! every folder and file reset is responsible for is checked again and what is left is named.
//! Its front door is [`run`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::api::{Client, Retry, client};
use crate::config::reset::{unsafe_cert_dir_in, unsupported_by_reset, validate_reset};
use crate::config::{self, Config, Documents, InvalidConfig, Overrides};
use crate::fs::lock::RunLock;
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::phases::kubeconfig::set_aside_user_kubeconfig;
use crate::phases::{etcd, reset};
use crate::preflight::{self, fix};
use crate::runner::context::{Clients, Context, Options};
use crate::runner::report::Reporter;
use crate::runner::{self, Phase};
use crate::version;
use crate::workflows::Outcome;

pub use crate::config::reset::ResetConfiguration;

/// How long reset waits for the API server before it warns and goes on, unless `--timeout` or
/// the file's `timeouts.kubernetesAPICall` says otherwise: reset must work on a broken cluster.
pub const API_WAIT: Duration = Duration::from_secs(10);

/// The API clients reset's phases get: admin.conf when it is there, as for init; its admin
/// client waits for the API server only [`API_WAIT`].
pub const CLIENTS: Clients = Clients {
    admin: briefly_admin,
    ..super::clients::ADMIN
};

fn briefly_admin(ctx: &Context) -> Result<Client> {
    if ctx.opts.dry_run {
        return Ok(client::dry_run(&ctx.cfg));
    }
    let retry = ctx
        .state::<ApiWait>()
        .map(|wait| wait.0)
        .unwrap_or(Retry::by_flag(API_WAIT));
    match ctx.state::<Kubeconfig>() {
        Some(Kubeconfig(path)) => client::from_kubeconfig(&ctx.root, path, retry),
        None => client::admin(&ctx.root, retry),
    }
}

/// `--kubeconfig`: the file reset reaches the cluster with instead of admin.conf.
struct Kubeconfig(String);

/// How long reset waits for the API server, and what set it.
struct ApiWait(Retry);

/// `--timeout`, else the file's `timeouts.kubernetesAPICall` when it is not kubeadm's default,
/// else [`API_WAIT`].
fn api_wait(opts: &ResetOptions) -> Result<Retry> {
    if let Some(timeout) = opts.timeout {
        return Ok(Retry::by_flag(timeout));
    }
    let set = &opts.file.timeouts.kubernetes_api_call;
    if *set == crate::config::Timeouts::default().kubernetes_api_call {
        return Ok(Retry::by_flag(API_WAIT));
    }
    let timeout = crate::config::duration::parse(set).map_err(|e| {
        InvalidConfig(vec![format!(
            "ResetConfiguration `timeouts.kubernetesAPICall`: {e:#}"
        )])
    })?;
    Ok(Retry {
        timeout,
        set_by: crate::api::SET_BY_CONFIG,
        ..Retry::default()
    })
}

/// The reset phases, in kubeadm's order.
pub static PHASES: &[Phase] = &[
    Phase::leaf(
        "preflight",
        "Run reset pre-flight checks",
        preflight::run_reset,
    ),
    Phase::leaf(
        "update-cluster-status",
        "Remove this node from the ClusterStatus object (clusters made for 1.21 and older).",
        reset::update_cluster_status,
    ),
    Phase::leaf(
        "remove-etcd-member",
        "Remove a local etcd member.",
        etcd::remove_etcd_member,
    ),
    Phase::leaf("cleanup-node", "Run cleanup node.", reset::cleanup_node),
];

/// What `kubestrap reset` (or `reset phase …`) is asked to do; the flags win over the file.
#[derive(Debug, Clone, Default)]
pub struct ResetOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// The ResetConfiguration of `--config` (see [`read_config`]), or the defaults.
    pub file: ResetConfiguration,
    /// One phase (`cleanup-node`), or the whole workflow.
    pub phase: Option<String>,
    pub dry_run: bool,
    pub force: bool,
    pub cert_dir: Option<String>,
    pub cri_socket: Option<String>,
    pub cleanup_tmp_dir: bool,
    pub cleanup_network: bool,
    pub undo_fixes: bool,
    pub skip_phases: Vec<String>,
    /// `--ignore-preflight-errors`, added to the file's.
    pub ignore_preflight_errors: Vec<String>,
    /// `--kubeconfig`: the cluster's admin kubeconfig instead of admin.conf (maps under the root).
    pub kubeconfig: Option<String>,
    /// `--timeout`: how long to wait for the API server.
    pub timeout: Option<Duration>,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
    /// `SUDO_USER`: whose `~/.kube/config` goes aside when it trusts the CA being reset.
    pub sudo_user: Option<String>,
}

/// A finished reset: what it did, and the host it can look at again.
pub struct Reset {
    ctx: Context,
    /// Whether the sudo user's kubeconfig, which trusted the reset cluster, was moved aside.
    pub kubeconfig_set_aside: bool,
    _lock: Option<RunLock>,
}

impl Reset {
    /// `--verify`: fails, naming each, when anything is left on the host.
    pub fn verify(&self) -> Result<()> {
        reset::verify(&self.ctx)
    }

    /// Fails, once everything else is clean, when a mount point was left with its files.
    pub fn mounts_left(&self) -> Result<()> {
        let left = &self.ctx.outputs.left_mounted;
        if left.is_empty() {
            return Ok(());
        }
        bail!(
            "reset is incomplete: {} still mounted, with its files kept (see the warnings above for what uses it)\n\nhint: stop what uses it, unmount it (`umount <path>`), then run `kubestrap reset` again",
            left.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The ResetConfiguration of a kubeadm config file, checked; refused with every problem at once.
pub fn read_config(path: &Path) -> Result<ResetConfiguration> {
    let name = path.display();
    let Some(reset) = config::load_file(path)?.reset else {
        return Err(InvalidConfig(vec![format!(
            "{name}: no ResetConfiguration (kubeadm.k8s.io/v1beta4) was found in the file"
        )])
        .into());
    };
    let problems: Vec<String> = validate_reset(&reset)
        .into_iter()
        .map(|(field, message)| format!("{name}: ResetConfiguration `{field}`: {message}"))
        .chain(
            unsupported_by_reset(&reset)
                .into_iter()
                .map(|(field, message)| format!("{name}: ResetConfiguration `{field}` {message}")),
        )
        .collect();
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    Ok(reset)
}

/// Runs the reset phases (or one phase) on the host under `opts.base`; after the whole
/// workflow, also moves the sudo user's kubeconfig aside and (`undo_fixes`) undoes
/// `preflight --fix`.
pub fn run(opts: ResetOptions, out: Box<dyn Reporter>) -> Outcome<Reset> {
    let file = &opts.file;
    let root = if opts.dry_run || file.dry_run {
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
    let (cfg, steps, options, ca) = match prepare(&root, &opts) {
        Ok(prepared) => prepared,
        Err(e) => return Outcome::on(&root, Err(e)),
    };
    let wait = match api_wait(&opts) {
        Ok(wait) => wait,
        Err(e) => return Outcome::on(&root, Err(e)),
    };
    let mut ctx = Context::new(cfg, root, Box::new(LinuxHost), out, options).with_clients(CLIENTS);
    ctx.set_state(ApiWait(wait));
    if let Some(path) = &opts.kubeconfig {
        ctx.set_state(Kubeconfig(path.clone()));
    }
    let result = run_steps(&mut ctx, &steps, &opts, ca.as_deref());
    let dry_run_changes = ctx.root.is_dry_run().then(|| ctx.root.changes());
    Outcome {
        result: result.map(|kubeconfig_set_aside| Reset {
            ctx,
            kubeconfig_set_aside,
            _lock: lock,
        }),
        dry_run_changes,
    }
}

type Prepared = (Config, Vec<runner::Step>, Options, Option<Vec<u8>>);

/// The configuration, plan and options of a reset, and the cluster CA (read before
/// cleanup-node deletes it: the user's kubeconfig that trusts it goes aside).
fn prepare(root: &Root, opts: &ResetOptions) -> Result<Prepared> {
    let file = &opts.file;
    let overrides = Overrides {
        cri_socket: opts.cri_socket.clone().or(file.cri_socket.clone()),
        cert_dir: opts
            .cert_dir
            .clone()
            .or(Some(file.certificates_dir.clone())),
        // Reset depends on neither: a host without a default route or a kubelet still resets.
        advertise_address: Some("127.0.0.1".into()),
        kubernetes_version: Some(version::NEWEST.to_string()),
        ..Overrides::default()
    };
    let cfg = config::resolve(Documents::default(), &overrides, root, &LinuxHost)?;
    if let Some(why) = unsafe_cert_dir_in(root, &cfg.cluster.certificates_dir) {
        return Err(InvalidConfig(vec![format!("--cert-dir: {why}")]).into());
    }
    let skip = if opts.skip_phases.is_empty() {
        &file.skip_phases
    } else {
        &opts.skip_phases
    };
    let steps = runner::plan(PHASES, opts.phase.as_deref(), skip)?;
    let options = Options {
        dry_run: root.is_dry_run(),
        cleanup_tmp_dir: opts.cleanup_tmp_dir || file.cleanup_tmp_dir,
        cleanup_network: opts.cleanup_network,
        force: opts.force || file.force,
        // kubeadm: the flag's names join the file's.
        ignore_preflight_errors: file
            .ignore_preflight_errors
            .iter()
            .chain(&opts.ignore_preflight_errors)
            .map(|s| s.to_lowercase())
            .collect(),
        ..Options::default()
    };
    let ca = root.read_optional(format!("{}/ca.crt", cfg.cluster.certificates_dir))?;
    Ok((cfg, steps, options, ca))
}

/// The phases, then (the whole workflow) the user's kubeconfig and the fixes; whether the
/// kubeconfig was set aside.
fn run_steps(
    ctx: &mut Context,
    steps: &[runner::Step],
    opts: &ResetOptions,
    ca: Option<&[u8]>,
) -> Result<bool> {
    runner::run(steps, ctx, false)?;
    if opts.phase.is_some() {
        return Ok(false);
    }
    let kubeconfig_set_aside = match (ca, super::sudo_user(opts.sudo_user.as_deref())?) {
        (Some(ca), Some(user)) if !ctx.root.is_dry_run() => {
            match set_aside_user_kubeconfig(ctx, &user, ca) {
                Ok(Some((path, backup))) => {
                    ctx.out.status(
                        "reset",
                        &format!(
                            "`{path}` trusted the CA of the cluster just reset (kubectl would fail with \"x509: certificate signed by unknown authority\" against a new one): moved it to `{backup}`"
                        ),
                    );
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    ctx.out.warn(
                        "reset",
                        &format!("`{}` was left as it is: {e:#}", user.kubeconfig()),
                    );
                    false
                }
            }
        }
        _ => false,
    };
    if opts.undo_fixes && !ctx.root.is_dry_run() {
        fix::undo(&fix::Machine {
            root: &ctx.root,
            host: ctx.host.as_ref(),
            out: ctx.out.as_ref(),
        })?;
    }
    Ok(kubeconfig_set_aside)
}
