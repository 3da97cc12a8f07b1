//! The init workflow: its phase tables, in kubeadm's order for the target version, and its front
//! door [`run`].

use std::path::PathBuf;

use anyhow::Result;

use crate::phases::{
    addons, bootstrap, certs, control_plane, etcd, kubeconfig, kubelet, node, upload_config,
};

use crate::config::{self, Documents, Overrides};
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::phases::kubeconfig::{UserKubeconfig, install_user_kubeconfig};
use crate::preflight;
use crate::render::patches::Target;
use crate::runner::context::{Clients, Context, Options};
use crate::runner::outputs::Outputs;
use crate::runner::report::Reporter;
use crate::runner::resume::{self, Record};
use crate::runner::versions::{Tables, Versioned};
use crate::runner::{self, Phase};
use crate::version::KubeVersion;
use crate::workflows::Outcome;

const PREFLIGHT: Phase = Phase::leaf("preflight", "Run pre-flight checks", preflight::run_init);
const CERTS: Phase = Phase::group("certs", "Certificate generation", certs::PHASES).files_only();
const KUBECONFIG_ABOUT: &str = "Generate all kubeconfig files necessary to establish the control plane and the admin kubeconfig file";
const KUBELET_START: Phase = Phase::leaf(
    "kubelet-start",
    "Write kubelet settings and (re)start the kubelet",
    kubelet::run,
);

/// What every phase that talks to the API server needs.
const ADMIN_CONF: &[(&str, &str)] = &[("/etc/kubernetes/admin.conf", "kubeconfig admin")];

const WAIT_CONTROL_PLANE: Phase = Phase::leaf(
    "wait-control-plane",
    "Wait for the kubelet and the control plane to become healthy",
    control_plane::wait_control_plane,
)
.requires(ADMIN_CONF);
const UPLOAD_CONFIG: Phase = Phase::group(
    "upload-config",
    "Upload the kubeadm and kubelet configuration to a ConfigMap",
    &[
        Phase::leaf(
            "kubeadm",
            "Upload the kubeadm ClusterConfiguration to a ConfigMap",
            upload_config::kubeadm,
        )
        .requires(ADMIN_CONF),
        Phase::leaf(
            "kubelet",
            "Upload the kubelet component config to a ConfigMap",
            upload_config::kubelet,
        )
        .requires(&[
            ("/etc/kubernetes/admin.conf", "kubeconfig admin"),
            ("/var/lib/kubelet/config.yaml", "kubelet-start"),
        ]),
    ],
);
const UPLOAD_CERTS: Phase = Phase::leaf(
    "upload-certs",
    "Upload certificates to kubeadm-certs",
    certs::upload_certs,
)
.requires(ADMIN_CONF);
const MARK_CONTROL_PLANE: Phase = Phase::leaf(
    "mark-control-plane",
    "Mark a node as a control-plane",
    node::mark_control_plane,
)
.requires(ADMIN_CONF);
const BOOTSTRAP_TOKEN: Phase = Phase::leaf(
    "bootstrap-token",
    "Generates bootstrap tokens used to join a node to a cluster",
    bootstrap::bootstrap_token,
)
.requires(ADMIN_CONF);
const FINALIZE_ABOUT: &str = "Updates settings relevant to the kubelet after TLS bootstrap";
const CERT_ROTATION_ABOUT: &str = "Enable kubelet client certificate rotation";
const ADDON: Phase = Phase::group(
    "addon",
    "Install required addons for passing conformance tests",
    &[
        Phase::leaf(
            "coredns",
            "Install the CoreDNS addon to a Kubernetes cluster",
            addons::coredns,
        )
        .requires(ADMIN_CONF),
        Phase::leaf(
            "kube-proxy",
            "Install the kube-proxy addon to a Kubernetes cluster",
            addons::kube_proxy,
        )
        .requires(ADMIN_CONF),
    ],
);
const SHOW_JOIN_COMMAND: Phase = Phase::leaf(
    "show-join-command",
    "Show the join command for control-plane and worker node",
    bootstrap::show_join_command,
)
.requires(ADMIN_CONF);
const ETCD: Phase = Phase::group(
    "etcd",
    "Generate static Pod manifest file for local etcd",
    etcd::PHASES,
)
.files_only();
const CONTROL_PLANE: Phase = Phase::group(
    "control-plane",
    "Generate all static Pod manifest files necessary to establish the control plane",
    control_plane::PHASES,
)
.files_only();

/// The API clients init's phases get: admin.conf (dry run: a reporting client).
pub const CLIENTS: Clients = super::clients::ADMIN;

/// init's phases in kubeadm's order, with the versions that differ:
/// - 1.29 adds kubeconfig/super-admin and moves kubelet-start after the static pods, etcd
///   before the control plane (1.28 and older: kubelet-start right after kubeconfig, etcd
///   after the control plane);
/// - 1.31 renames kubelet-finalize/experimental-cert-rotation to enable-client-cert-rotation.
static PHASES: Tables = Tables::new(&[
    Versioned::all(PREFLIGHT),
    Versioned::all(CERTS),
    Versioned::group("kubeconfig", KUBECONFIG_ABOUT, kubeconfig::PHASES).files_only(),
    Versioned::before(29, KUBELET_START),
    Versioned::since(29, ETCD),
    Versioned::all(CONTROL_PLANE),
    Versioned::before(29, ETCD),
    Versioned::since(29, KUBELET_START),
    Versioned::all(WAIT_CONTROL_PLANE),
    Versioned::all(UPLOAD_CONFIG),
    Versioned::all(UPLOAD_CERTS),
    Versioned::all(MARK_CONTROL_PLANE),
    Versioned::all(BOOTSTRAP_TOKEN),
    Versioned::group(
        "kubelet-finalize",
        FINALIZE_ABOUT,
        &[
            Versioned::before(
                31,
                Phase::leaf(
                    "experimental-cert-rotation",
                    CERT_ROTATION_ABOUT,
                    kubelet::enable_client_cert_rotation,
                ),
            ),
            Versioned::since(
                31,
                Phase::leaf(
                    "enable-client-cert-rotation",
                    CERT_ROTATION_ABOUT,
                    kubelet::enable_client_cert_rotation,
                ),
            ),
        ],
    ),
    Versioned::all(ADDON),
    Versioned::all(SHOW_JOIN_COMMAND),
]);

/// The command that uploads the certificates again, for messages.
pub use crate::phases::certs::REUPLOAD;

/// What `kubestrap init` (or `init phase …`) is asked to do.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// The configuration file's documents (defaults without `--config`).
    pub docs: Documents,
    /// Whether `--config` was given.
    pub config_given: bool,
    /// The flags that override the file.
    pub overrides: Overrides,
    /// One phase (`certs/ca`), or the whole workflow.
    pub phase: Option<String>,
    pub dry_run: bool,
    pub fix: bool,
    pub upload_certs: bool,
    pub skip_certificate_key_print: bool,
    pub skip_token_print: bool,
    /// The command line, recorded in the root's lock for another run to see.
    pub command_line: String,
    /// `SUDO_USER`: whose `~/.kube/config` gets the admin kubeconfig.
    pub sudo_user: Option<String>,
}

/// What a finished init reports.
#[derive(Debug, Clone)]
pub struct Initialized {
    pub outputs: Outputs,
    pub node_name: String,
    /// Whether the node keeps a control-plane taint (no `nodeRegistration.taints: []`).
    pub tainted: bool,
    /// Whether the certificates were uploaded (`--upload-certs`).
    pub upload_certs: bool,
}

/// Loads and checks the configuration, then runs the init phases (or one phase), reporting
/// through `out`.
pub fn run(opts: InitOptions, out: Box<dyn Reporter>) -> Outcome<Initialized> {
    let mut docs = opts.docs.clone();
    if opts.phase.as_deref() == Some("upload-certs") && !opts.config_given && opts.upload_certs {
        // Uploading again to a running cluster: its certificates folder and etcd are the ones
        // kubeadm-config records, not the defaults.
        let wait = super::renewal::CLUSTER_CONFIG_WAIT;
        match super::renewal::cluster_configuration(&Root::new(&opts.base), None, wait, &out) {
            Ok(cluster) => docs.cluster = cluster,
            Err(e) => out.status(
                "upload-certs",
                &format!(
                    "Error reading configuration from the cluster ({e:#}); falling back to the default configuration (pass --config to use a file)"
                ),
            ),
        }
    }
    let root = if opts.dry_run || docs.init.dry_run {
        match Root::dry_run(&opts.base) {
            Ok(root) => root,
            Err(e) => return Outcome::early(e),
        }
    } else {
        Root::new(&opts.base)
    };
    let (result, root) = run_on(root, docs, &opts, out);
    Outcome::on(&root, result)
}

fn run_on(
    root: Root,
    docs: Documents,
    opts: &InitOptions,
    out: Box<dyn Reporter>,
) -> (Result<Initialized>, Root) {
    let host = LinuxHost;
    let cfg = match config::resolve(docs, &opts.overrides, &root, &host) {
        Ok(cfg) => cfg,
        Err(e) => return (Err(e), root),
    };
    let phase = opts.phase.as_deref();
    for warning in &cfg.warnings {
        out.warn("config", warning);
    }
    let steps = match runner::plan(phases(cfg.version), phase, &cfg.init.skip_phases) {
        Ok(steps) => steps,
        Err(e) => return (Err(e), root),
    };
    // Taken once the input is known to be good: bad input is refused at once, even while
    // another run holds the root.
    let _lock = match super::lock_root(&root, &opts.command_line, out.as_ref()) {
        Ok(lock) => lock,
        Err(e) => return (Err(e), root),
    };
    let options = Options {
        dry_run: root.is_dry_run(),
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        fix: opts.fix,
        upload_certs: opts.upload_certs,
        skip_certificate_key_print: opts.skip_certificate_key_print,
        skip_token_print: opts.skip_token_print,
        ..Options::default()
    };
    if phase.is_none() {
        out.status(
            "init",
            &format!("Using Kubernetes version: {}", cfg.version),
        );
    }
    let mut ctx = Context::new(cfg, root, Box::new(host), out, options).with_clients(CLIENTS);
    let result = run_steps(&mut ctx, &steps, opts);
    (result, ctx.into_root())
}

fn run_steps(ctx: &mut Context, steps: &[runner::Step], opts: &InitOptions) -> Result<Initialized> {
    let phase = opts.phase.as_deref();
    check_patches(ctx)?;
    crate::phases::certs::refuse_external_ca(ctx)?;
    if opts.upload_certs && phase.is_none() && ctx.cfg.cluster.control_plane_endpoint.is_none() {
        ctx.out.warn(
            "config",
            "--upload-certs without a controlPlaneEndpoint: no control-plane node can join this cluster (a control-plane join needs a stable endpoint shared by all control-plane nodes); set --control-plane-endpoint or controlPlaneEndpoint",
        );
    }
    if !opts.upload_certs && ctx.cfg.init.certificate_key.is_some() {
        ctx.out.warn(
            "config",
            "the certificate key (certificateKey) has no effect without --upload-certs: nothing is uploaded",
        );
    }
    if phase.is_none() && !ctx.root.is_dry_run() {
        ctx.record = Some(Record::open(
            &ctx.root,
            &ctx.cfg,
            &runner::files_only(steps),
            ctx.out.as_ref(),
        )?);
    }
    runner::prefetch_keys(steps, ctx);
    super::run_timed(steps, ctx, phase.is_some())
        .map_err(|e| super::when_interrupted(e, "kubestrap init", &interrupted_left(ctx, phase)))?;
    if phase.is_none() && !ctx.root.is_dry_run() {
        user_kubeconfig(ctx, opts.sudo_user.as_deref())?;
    }
    Ok(Initialized {
        outputs: ctx.outputs.clone(),
        node_name: ctx.cfg.node_name.clone(),
        tainted: ctx
            .cfg
            .init
            .node_registration
            .taints
            .as_ref()
            .is_none_or(|t| !t.is_empty()),
        upload_certs: ctx.opts.upload_certs,
    })
}

/// What an interrupted init leaves, and how to go on.
fn interrupted_left(ctx: &Context, phase: Option<&str>) -> String {
    if ctx.root.is_dry_run() {
        "nothing was changed, and the dry run's scratch folder is removed".into()
    } else if ctx.record.is_some() {
        format!(
            "the phases that finished are recorded in {}\n\nhint: run the same command again to resume after them, or `kubestrap reset` to remove what this init wrote",
            resume::STATE
        )
    } else if phase.is_some() {
        "each file it wrote is whole\n\nhint: run the phase again".into()
    } else {
        "each file it wrote is whole\n\nhint: run the same command again, or `kubestrap reset` to remove what it wrote".into()
    }
}

/// Run through sudo: give the invoking user a working `~/.kube/config` (B-10), replacing one
/// left over from an earlier cluster at the same endpoint (B-9).
fn user_kubeconfig(ctx: &mut Context, sudo_user: Option<&str>) -> Result<()> {
    let Some(user) = super::sudo_user(sudo_user)? else {
        return Ok(());
    };
    let name = &user.name;
    let note = match install_user_kubeconfig(ctx, &user)? {
        UserKubeconfig::Written(path) => {
            format!("kubectl is ready for {name}: `{path}` holds the admin kubeconfig")
        }
        UserKubeconfig::Replaced { path, backup } => format!(
            "`{path}` pointed at this endpoint with the CA of an earlier cluster (kubectl would fail with \"x509: certificate signed by unknown authority\"): saved it as `{backup}` and installed the new admin kubeconfig"
        ),
        UserKubeconfig::Left(path) => format!("`{path}` exists and was left as it is"),
        UserKubeconfig::Unsafe { path, why } => {
            // kubeadm's three lines (in the closing text) let the user do it as themselves.
            ctx.out.warn(
                "kubeconfig",
                &format!(
                    "`{path}` was not written: {why}. As {name}, copy the admin kubeconfig yourself: mkdir -p $HOME/.kube; sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config; sudo chown $(id -u):$(id -g) $HOME/.kube/config"
                ),
            );
            return Ok(());
        }
    };
    ctx.out.status("kubeconfig", &note);
    ctx.outputs.user_kubeconfig = Some(note);
    Ok(())
}

/// Applies every patch of the run to what init would write, writing nothing, so that a patch
/// that does not apply (or breaks its target) is refused before the first file is written.
fn check_patches(ctx: &Context) -> Result<()> {
    try_patches(ctx).map_err(|e| config::InvalidConfig(vec![format!("{e:#}")]).into())
}

fn try_patches(ctx: &Context) -> Result<()> {
    let Some(set) = &ctx.cfg.patches else {
        return Ok(());
    };
    let files: Vec<&str> = set
        .files
        .iter()
        .map(|f| f.path.rsplit('/').next().unwrap_or(&f.path))
        .collect();
    ctx.out.status(
        "patches",
        &format!("Reading patches from path \"{}\"", set.dir),
    );
    if !files.is_empty() {
        ctx.out.status(
            "patches",
            &format!("Found the following patch files: [{}]", files.join(" ")),
        );
    }
    let cfg = &ctx.cfg;
    let quiet = &mut |_| {};
    for target in Target::ALL.into_iter().filter(|t| set.has(*t)) {
        let text = match target {
            Target::Etcd if cfg.cluster.etcd.local.is_none() => continue,
            Target::Etcd => etcd::etcd_manifest(cfg)?,
            Target::KubeApiserver => {
                control_plane::apiserver_manifest(cfg, &control_plane::HostFacts::gather(ctx))?
            }
            Target::KubeControllerManager => control_plane::controller_manager_manifest(
                cfg,
                &control_plane::HostFacts::gather(ctx),
            )?,
            Target::KubeScheduler => control_plane::scheduler_manifest(cfg)?,
            Target::KubeletConfiguration => crate::render::kubelet_config::kubelet_config(cfg)?,
            Target::CorednsDeployment => {
                for mut object in addons::coredns_objects(ctx)?
                    .into_iter()
                    .filter(|o| o["kind"] == "Deployment")
                {
                    set.apply_value(target, &mut object, quiet)?;
                }
                continue;
            }
        };
        set.apply_yaml(target, &text, quiet)?;
    }
    Ok(())
}

/// Every distinct init phase table, newest version first.
pub fn tables() -> Vec<&'static [Phase]> {
    PHASES.distinct()
}

/// The init phase table for a Kubernetes version.
pub fn phases(version: KubeVersion) -> &'static [Phase] {
    PHASES.of(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner;

    fn has(version: &str, path: &str) -> bool {
        let v = KubeVersion::parse(version).unwrap();
        runner::paths(phases(v)).iter().any(|p| p == path)
    }

    #[test]
    fn the_finalize_sub_phase_is_named_per_version() {
        assert!(has(
            "v1.20.2",
            "kubelet-finalize/experimental-cert-rotation"
        ));
        assert!(has(
            "v1.30.0",
            "kubelet-finalize/experimental-cert-rotation"
        ));
        assert!(has(
            "v1.31.0",
            "kubelet-finalize/enable-client-cert-rotation"
        ));
        assert!(!has(
            "v1.30.0",
            "kubelet-finalize/enable-client-cert-rotation"
        ));
    }

    #[test]
    fn upload_certs_runs_between_upload_config_and_mark_control_plane() {
        for table in tables() {
            let order = runner::paths(table);
            let pos = |p: &str| order.iter().position(|x| x == p).unwrap();
            assert_eq!(pos("upload-certs"), pos("upload-config/kubelet") + 1);
            assert_eq!(pos("mark-control-plane"), pos("upload-certs") + 1);
        }
    }

    #[test]
    fn kubelet_start_moves_after_the_manifests_in_1_29() {
        let order = |v: &str| runner::paths(phases(KubeVersion::parse(v).unwrap()));
        let pos = |v: &str, p: &str| order(v).iter().position(|x| x == p).unwrap();
        assert!(pos("v1.28.0", "kubelet-start") < pos("v1.28.0", "control-plane"));
        assert!(pos("v1.29.0", "kubelet-start") > pos("v1.29.0", "etcd"));
    }
}
