//! The `kubelet-start` phase: the kubelet's configuration and flags files, then a restart of the
//! kubelet through the service manager (when one runs).

pub mod finalize;
pub mod service;

pub use finalize::run as enable_client_cert_rotation;
pub use service::{
    remove as remove_service, start as start_service, stop as stop_service, stop_before_writing,
};

use anyhow::{Context as _, Result};

use crate::config::Config;
use crate::config::flags;
use crate::fs::paths;
use crate::fs::root::Root;
use crate::render::kubelet_config;
use crate::render::templates;
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

/// The inside of a string as Go's `%q` writes it: backslashes and quotes escaped.
fn go_quoted_inner(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `/var/lib/kubelet/kubeadm-flags.env`.
pub fn flags_env(cfg: &Config, hostname: &str) -> Result<String> {
    let joined = kubelet_args(cfg, hostname).join(" ");
    templates::render(
        "kubelet/kubeadm-flags.env",
        templates::KUBELET_FLAGS_ENV,
        &[("args", go_quoted_inner(&joined))],
    )
}

/// `/var/lib/kubelet/instance-config.yaml` (1.34+), or `None` where this version has none.
pub fn instance_config(cfg: &Config) -> Result<Option<String>> {
    if !cfg.version.profile().node_local_cri_socket {
        return Ok(None);
    }
    instance_config_of(&cfg.cri_socket).map(Some)
}

/// The instance configuration that gives the kubelet `endpoint` as its CRI endpoint: the one
/// field, its value quoted as kubeadm writes it.
pub fn instance_config_of(endpoint: &str) -> Result<String> {
    templates::render(
        "kubelet/instance-config.yaml",
        templates::KUBELET_INSTANCE_CONFIG,
        &[("criSocket", format!("\"{}\"", go_quoted_inner(endpoint)))],
    )
}

/// The CRI endpoint this node's instance configuration names; `None` without the file.
pub fn instance_endpoint(root: &Root) -> Result<Option<String>> {
    let Some(bytes) = root.read_optional(KUBELET_INSTANCE_CONFIG)? else {
        return Ok(None);
    };
    let doc: serde_yaml::Mapping = serde_yaml::from_slice(&bytes)
        .with_context(|| format!("`{KUBELET_INSTANCE_CONFIG}` is not a YAML mapping"))?;
    Ok(doc
        .get("containerRuntimeEndpoint")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// `config` as this node's `config.yaml` says it: with the node's instance configuration (when
/// it has one on disk) merged over it, as kubeadm writes the file from 1.34.
pub fn with_instance_config(root: &Root, config: &str) -> Result<String> {
    match root.read_optional(KUBELET_INSTANCE_CONFIG)? {
        Some(instance) => kubelet_config::merged(config, &String::from_utf8_lossy(&instance))
            .with_context(|| {
                format!(
                    "failed to merge `{KUBELET_INSTANCE_CONFIG}` into the kubelet configuration"
                )
            }),
        None => Ok(config.to_string()),
    }
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
    // The node's own endpoint over the cluster's configuration (after the patches, as kubeadm).
    let config = match &instance {
        Some(instance) => kubelet_config::merged(config, instance)?,
        None => config.to_string(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Documents, Overrides};
    use crate::host::FakeHost;
    use crate::runner::report::RecordingReporter;

    const SOCKET: &str = "unix:///run/crio/crio.sock";

    /// What kubelet-start of `version` writes into a folder.
    fn kubelet_start(version: &str) -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let overrides = Overrides {
            kubernetes_version: Some(version.into()),
            node_name: Some("node1".into()),
            cri_socket: Some(SOCKET.into()),
            ..Overrides::default()
        };
        let host = FakeHost::healthy();
        let cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
        let mut ctx = Context::new(
            cfg,
            root,
            Box::new(host),
            Box::new(std::sync::Arc::new(RecordingReporter::default())),
            Default::default(),
        );
        write_files(&mut ctx).unwrap();
        (dir, ctx)
    }

    #[test]
    fn from_v1_34_the_endpoint_is_the_nodes_own_and_not_the_clusters() {
        let (_dir, ctx) = kubelet_start("v1.34.0");
        let read = |path: &str| ctx.root.read_to_string(path).unwrap();
        assert_eq!(
            read(KUBELET_INSTANCE_CONFIG),
            format!("containerRuntimeEndpoint: \"{SOCKET}\"\n")
        );
        assert!(!read(paths::KUBELET_FLAGS_ENV).contains("--container-runtime-endpoint"));
        let on_disk = read(paths::KUBELET_CONFIG);
        let cluster = kubelet_config::kubelet_config(&ctx.cfg).unwrap();
        assert!(on_disk.contains(&format!("\ncontainerRuntimeEndpoint: {SOCKET}\n")));
        assert!(
            cluster.contains("\ncontainerRuntimeEndpoint: \"\"\n"),
            "{cluster}"
        );
        // Otherwise the same file.
        assert_eq!(
            on_disk.replace(SOCKET, "\"\""),
            cluster,
            "the node's file is the cluster's configuration with its endpoint"
        );
        assert_eq!(with_instance_config(&ctx.root, &cluster).unwrap(), on_disk);
        assert_eq!(
            instance_endpoint(&ctx.root).unwrap().as_deref(),
            Some(SOCKET)
        );
    }

    #[test]
    fn before_v1_34_the_endpoint_is_a_flag() {
        let (_dir, ctx) = kubelet_start("v1.33.0");
        assert!(!ctx.root.exists(KUBELET_INSTANCE_CONFIG));
        assert!(
            ctx.root
                .read_to_string(paths::KUBELET_FLAGS_ENV)
                .unwrap()
                .contains(&format!("--container-runtime-endpoint={SOCKET}"))
        );
        assert_eq!(
            ctx.root.read_to_string(paths::KUBELET_CONFIG).unwrap(),
            kubelet_config::kubelet_config(&ctx.cfg).unwrap()
        );
        assert_eq!(instance_endpoint(&ctx.root).unwrap(), None);
    }

    #[test]
    fn the_instance_configuration_quotes_as_go_does() {
        assert_eq!(
            instance_config_of("unix:///a \"b\"\\c").unwrap(),
            "containerRuntimeEndpoint: \"unix:///a \\\"b\\\"\\\\c\"\n"
        );
    }
}
