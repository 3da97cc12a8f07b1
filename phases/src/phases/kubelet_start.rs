//! The `kubelet-start` phase: the kubelet's configuration and flags files, then a restart of the
//! kubelet through the service manager (when one runs).

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use serde_yaml::{Mapping, Value};

use crate::config::Config;
use crate::config::flags;
use crate::fs::paths;
use crate::render::templates::{self, scalar};
use crate::runner::context::Context;
use crate::version::PauseFlag;

/// The kubelet's per-node settings kubeadm writes when `NodeLocalCRISocket` is on (1.34+).
pub const KUBELET_INSTANCE_CONFIG: &str = "/var/lib/kubelet/instance-config.yaml";

/// The 10th address of the first service CIDR: the cluster DNS service IP.
pub fn cluster_dns_ip(service_subnet: &str) -> Result<IpAddr> {
    crate::config::net::service_ip(service_subnet, 10)
}

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

/// kubeadm's KubeletConfiguration for this version with the user's `KubeletConfiguration`
/// document merged over it (the user wins, except `rotateCertificates`, which kubeadm forces).
pub fn kubelet_config(cfg: &Config) -> Result<String> {
    let p = cfg.version.profile();
    let f = p.kubelet_config;
    let dns = cluster_dns_ip(&cfg.cluster.networking.service_subnet)?;
    let base = templates::render(
        "kubelet/config.yaml",
        templates::KUBELET_CONFIG,
        &[
            (
                "clientCAFile",
                scalar(&format!("{}/ca.crt", cfg.cluster.certificates_dir)),
            ),
            // kubeadm defaults the driver to systemd from 1.22; before, the kubelet's cgroupfs applied.
            ("cgroupDriver", scalar(p.kubelet_cgroup_driver_default)),
            ("clusterDNS", scalar(&dns.to_string())),
            ("clusterDomain", scalar(&cfg.cluster.networking.dns_domain)),
        ],
    )?;
    let mut doc: Mapping =
        serde_yaml::from_str(&base).context("the KubeletConfiguration template is not YAML")?;
    let set = |doc: &mut Mapping, key: &str, yaml: &str| -> Result<()> {
        let value: Value = serde_yaml::from_str(yaml)
            .with_context(|| format!("bad built-in value for `{key}`"))?;
        doc.insert(Value::String(key.to_string()), value);
        Ok(())
    };
    let logging = match (f.logging_options, f.logging_text_options) {
        (false, _) => "{}",
        (true, false) => {
            "{flushFrequency: 0, options: {json: {infoBufferSize: \"0\"}}, verbosity: 0}"
        }
        (true, true) => {
            "{flushFrequency: 0, options: {json: {infoBufferSize: \"0\"}, text: {infoBufferSize: \"0\"}}, verbosity: 0}"
        }
    };
    set(&mut doc, "logging", logging)?;
    if f.memory_swap {
        set(&mut doc, "memorySwap", "{}")?;
    }
    if f.container_runtime_endpoint {
        // With a node-local CRI socket the instance config fills it in; otherwise a flag does.
        let endpoint = if p.node_local_cri_socket {
            scalar(&cfg.cri_socket)
        } else {
            "\"\"".to_string()
        };
        set(&mut doc, "containerRuntimeEndpoint", &endpoint)?;
    }
    if f.image_maximum_gc_age {
        set(&mut doc, "imageMaximumGCAge", "0s")?;
    }
    if f.crash_loop_back_off {
        set(&mut doc, "crashLoopBackOff", "{}")?;
    }
    if let Some(user) = &cfg.kubelet {
        merge(&mut doc, user);
        doc.insert("rotateCertificates".into(), Value::Bool(true));
    }
    let mut out = String::new();
    emit_mapping(&doc, 0, &mut out);
    Ok(out)
}

/// Deep merge: mappings merge key by key, anything else from `over` replaces.
fn merge(base: &mut Mapping, over: &Mapping) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// YAML with keys sorted, block style, in Go's YAML encoder's shape (`{}` for empty mappings,
/// sequences not indented under their key).
fn emit_mapping(m: &Mapping, indent: usize, out: &mut String) {
    let mut entries: Vec<(String, &Value)> = m.iter().map(|(k, v)| (key_text(k), v)).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let pad = " ".repeat(indent);
    for (k, v) in entries {
        out.push_str(&pad);
        out.push_str(&scalar(&k));
        out.push(':');
        emit_value(v, indent, out);
    }
}

fn emit_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            emit_mapping(m, indent + 2, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            let pad = " ".repeat(indent);
            for item in s {
                let mut inner = String::new();
                match item {
                    Value::Mapping(m) if !m.is_empty() => emit_mapping(m, 0, &mut inner),
                    other => inner.push_str(&format!("{}\n", inline(other))),
                }
                for (i, line) in inner.lines().enumerate() {
                    out.push_str(&pad);
                    out.push_str(if i == 0 { "- " } else { "  " });
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Mapping(_) => "{}".into(),
        Value::Sequence(_) => "[]".into(),
        Value::Tagged(t) => inline(&t.value),
    }
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => inline(other),
    }
}

/// Writes `kubeadm-flags.env`, `config.yaml` and, from 1.34, `instance-config.yaml`, all
/// made from this node's configuration.
pub fn write_files(ctx: &mut Context) -> Result<()> {
    let hostname = ctx.host.hostname()?.to_lowercase();
    let env = flags_env(&ctx.cfg, &hostname)?;
    let config = kubelet_config(&ctx.cfg)?;
    // Patches are this node's own: the cluster-wide ConfigMap gets the unpatched configuration.
    let config = crate::phases::patches::yaml(
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
    super::kubelet_service::start(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_ip_is_the_tenth_address() {
        assert_eq!(
            cluster_dns_ip("10.96.0.0/12").unwrap().to_string(),
            "10.96.0.10"
        );
        assert_eq!(
            cluster_dns_ip("10.96.5.7/16").unwrap().to_string(),
            "10.96.0.10"
        );
        assert_eq!(
            cluster_dns_ip("fd00:10:96::/108,10.96.0.0/12")
                .unwrap()
                .to_string(),
            "fd00:10:96::a"
        );
        assert!(cluster_dns_ip("10.96.0.0").is_err());
    }

    #[test]
    fn emits_sorted_go_style_yaml() {
        let m: Mapping =
            serde_yaml::from_str("b: {}\na:\n  z: \"0\"\n  w: [1, x]\nc: []\n").unwrap();
        let mut out = String::new();
        emit_mapping(&m, 0, &mut out);
        assert_eq!(out, "a:\n  w:\n  - 1\n  - x\n  z: \"0\"\nb: {}\nc: []\n");
    }
}
