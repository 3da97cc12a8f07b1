//! The init workflow: its phase tables, in kubeadm's order for the target version.

use anyhow::Result;

use crate::phases::{
    addons, bootstrap, certs, control_plane, etcd, kubeconfig, kubelet, node, upload_config,
};

use crate::preflight;
use crate::render::patches::Target;
use crate::runner::Phase;
use crate::runner::context::{Clients, Context};
use crate::runner::versions::{Tables, Versioned};
use crate::version::KubeVersion;

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

/// Applies every patch of the run to what init would write, writing nothing, so that a patch
/// that does not apply (or breaks its target) is refused before the first file is written.
pub fn check_patches(ctx: &Context) -> Result<()> {
    try_patches(ctx).map_err(|e| crate::config::InvalidConfig(vec![format!("{e:#}")]).into())
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
