//! The kubelet's configuration file (`/var/lib/kubelet/config.yaml`, and the kubelet-config
//! ConfigMap): kubeadm's KubeletConfiguration for the version with the user's document merged
//! over it, written in the shape of Go's YAML encoder.

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use serde_yaml::{Mapping, Value};

use crate::config::Config;
use crate::render::templates::{self, scalar};

/// The 10th address of the first service CIDR: the cluster DNS service IP.
pub fn cluster_dns_ip(service_subnet: &str) -> Result<IpAddr> {
    crate::config::net::service_ip(service_subnet, 10)
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
        // The endpoint is each node's own: a flag fills it in, or from 1.34 the node's
        // instance configuration merged over this on disk ([`merged`]), never the cluster's copy.
        set(&mut doc, "containerRuntimeEndpoint", "\"\"")?;
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

/// `over` (a KubeletConfiguration fragment, such as a node's instance configuration) merged over
/// the configuration `config`, written in the same shape: kubeadm writes a node's
/// `config.yaml` as the cluster's configuration with the node's instance configuration over it.
pub fn merged(config: &str, over: &str) -> Result<String> {
    let mut doc: Mapping =
        serde_yaml::from_str(config).context("the kubelet configuration is not a YAML mapping")?;
    let over: Mapping = serde_yaml::from_str(over)
        .context("the kubelet configuration to merge over it is not a YAML mapping")?;
    merge(&mut doc, &over);
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
