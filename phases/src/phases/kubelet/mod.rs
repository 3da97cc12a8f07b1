//! The `kubelet-start` phase: the kubelet's configuration and flags files, then a restart of the
//! kubelet through the service manager (when one runs).

pub mod finalize;
pub mod service;

pub use finalize::run as enable_client_cert_rotation;
pub use service::{
    remove as remove_service, start as start_service, stop as stop_service, stop_before_writing,
};

use anyhow::Result;

use crate::config::Config;
use crate::config::flags;
use crate::fs::paths;
use crate::render::kubelet_config;
use crate::render::templates::{self, scalar};
use crate::runner::context::Context;
use crate::version::PauseFlag;

/// The kubelet's per-node settings kubeadm writes when `NodeLocalCRISocket` is on (1.34+).
pub const KUBELET_INSTANCE_CONFIG: &str = "/var/lib/kubelet/instance-config.yaml";

fn is_docker_socket(socket: &str) -> bool {
    socket.trim_start_matches("unix://") == "/var/run/dockershim.sock"
}

/// The flags kubeadm passes to the kubelet through `KUBELET_KUBEADM_ARGS`, merged with
/// `nodeRegistration.kubeletExtraArgs` (user wins) and sorted.
pub fn kubelet_args(cfg: &Config, hostname: &str) -> Vec<String> {
    let p = cfg.version.profile();
    let pause = crate::version::images::pause(&cfg.cluster, cfg.version);
    let mut d: Vec<(&str, String)> = Vec::new();
    if p.dockershim && is_docker_socket(&cfg.cri_socket) {
        d.push(("network-plugin", "cni".into()));
        if p.kubelet_pause_flag != PauseFlag::Never {
            d.push(("pod-infra-container-image", pause));
        }
    } else {
        if p.kubelet_container_runtime_remote {
            d.push(("container-runtime", "remote".into()));
        }
        if !p.node_local_cri_socket {
            d.push(("container-runtime-endpoint", cfg.cri_socket.clone()));
        }
        if p.kubelet_pause_flag == PauseFlag::Always {
            d.push(("pod-infra-container-image", pause));
        }
    }
    // A joining worker registers with its taints; control planes get theirs from mark-control-plane.
    if cfg.join.is_some()
        && let Some(taints) = cfg
            .init
            .node_registration
            .taints
            .as_ref()
            .filter(|t| !t.is_empty())
    {
        let list: Vec<String> = taints.iter().map(|t| t.describe()).collect();
        d.push(("register-with-taints", list.join(",")));
    }
    let user = &cfg.init.node_registration.kubelet_extra_args;
    let node_name = flags::user_value(user, "hostname-override").unwrap_or(cfg.node_name.as_str());
    if node_name != hostname {
        d.push(("hostname-override", node_name.to_string()));
    }
    flags::merge(&d, user)
}

/// `/var/lib/kubelet/kubeadm-flags.env`.
pub fn flags_env(cfg: &Config, hostname: &str) -> Result<String> {
    let joined = kubelet_args(cfg, hostname).join(" ");
    // Go's %q: backslashes and quotes escaped.
    let quoted = joined.replace('\\', "\\\\").replace('"', "\\\"");
    templates::render(
        "kubelet/kubeadm-flags.env",
        templates::KUBELET_FLAGS_ENV,
        &[("args", quoted)],
    )
}

/// `/var/lib/kubelet/instance-config.yaml` (1.34+), or `None` where this version has none.
pub fn instance_config(cfg: &Config) -> Result<Option<String>> {
    if !cfg.version.profile().node_local_cri_socket {
        return Ok(None);
    }
    templates::render(
        "kubelet/instance-config.yaml",
        templates::KUBELET_INSTANCE_CONFIG,
        &[("criSocket", scalar(&cfg.cri_socket))],
    )
    .map(Some)
}

/// Writes `kubeadm-flags.env`, `config.yaml` and, from 1.34, `instance-config.yaml`, all
/// made from this node's configuration.
pub fn write_files(ctx: &mut Context) -> Result<()> {
    let hostname = ctx.host.hostname()?.to_lowercase();
    let env = flags_env(&ctx.cfg, &hostname)?;
    let config = kubelet_config::kubelet_config(&ctx.cfg)?;
    // Patches are this node's own: the cluster-wide ConfigMap gets the unpatched configuration.
    let config = crate::phases::apply_patches::yaml(
        ctx,
        crate::render::patches::Target::KubeletConfiguration,
        &config,
    )?;
    write_kubelet_files(ctx, &env, &config)
}

/// Writes the kubelet's flags file and this KubeletConfiguration (and, from 1.34, its instance
/// configuration): init makes the configuration, join takes the cluster's.
pub fn write_kubelet_files(ctx: &Context, env: &str, config: &str) -> Result<()> {
    let instance = instance_config(&ctx.cfg)?;
    ctx.root.create_dir(paths::KUBELET_DIR, 0o700)?;
    ctx.out.status(
        "kubelet-start",
        &format!(
            "Writing kubelet environment file with flags to file \"{}\"",
            paths::KUBELET_FLAGS_ENV
        ),
    );
    ctx.root
        .write(paths::KUBELET_FLAGS_ENV, env.as_bytes(), 0o644)?;
    ctx.out.status(
        "kubelet-start",
        &format!(
            "Writing kubelet configuration to file \"{}\"",
            paths::KUBELET_CONFIG
        ),
    );
    ctx.root
        .write(paths::KUBELET_CONFIG, config.as_bytes(), 0o644)?;
    if let Some(instance) = instance {
        ctx.out.status(
            "kubelet-start",
            &format!(
                "Writing kubelet instance configuration to file \"{KUBELET_INSTANCE_CONFIG}\""
            ),
        );
        ctx.root
            .write(KUBELET_INSTANCE_CONFIG, instance.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// The `kubelet-start` phase: writes the kubelet's files, then (re)starts it through the service
/// manager.
pub fn run(ctx: &mut Context) -> Result<()> {
    write_files(ctx)?;
    crate::phases::kubelet::service::start(ctx)
}
