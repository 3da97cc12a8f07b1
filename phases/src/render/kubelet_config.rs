//! The kubelet's configuration file (`/var/lib/kubelet/config.yaml`, and the kubelet-config
//! ConfigMap): kubeadm's KubeletConfiguration for the version with the user's document merged
//! over it, written in the shape of Go's YAML encoder.

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use serde_yaml::{Mapping, Value};

use crate::config::Config;
use crate::render::templates::{self, scalar};
use crate::version::{KubeVersion, KubeletConfigFields};

/// The 10th address of the first service CIDR: the cluster DNS service IP.
pub fn cluster_dns_ip(service_subnet: &str) -> Result<IpAddr> {
    crate::config::net::service_ip(service_subnet, 10)
}

/// kubeadm's KubeletConfiguration for this version with the user's `KubeletConfiguration`
/// document merged over it (the user wins, except `rotateCertificates`, which kubeadm forces).
pub fn kubelet_config(cfg: &Config) -> Result<String> {
    let p = cfg.version.profile();
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
    merge(&mut doc, &zero_fields(p.kubelet_config)?);
    if let Some(user) = &cfg.kubelet {
        merge(&mut doc, user);
        doc.insert("rotateCertificates".into(), Value::Bool(true));
    }
    let mut out = String::new();
    emit_mapping(&doc, 0, &mut out);
    Ok(out)
}

/// The fields of the version's KubeletConfiguration type that kubeadm's YAML shows at their
/// zero value (Go's encoder writes a struct, or a field without `omitempty`, even when empty).
fn zero_fields(f: KubeletConfigFields) -> Result<Mapping> {
    let logging = match (f.logging_options, f.logging_text_options) {
        (false, _) => "{}",
        (true, false) => {
            "{flushFrequency: 0, options: {json: {infoBufferSize: \"0\"}}, verbosity: 0}"
        }
        (true, true) => {
            "{flushFrequency: 0, options: {json: {infoBufferSize: \"0\"}, text: {infoBufferSize: \"0\"}}, verbosity: 0}"
        }
    };
    let mut fields = vec![("logging", logging)];
    if f.memory_swap {
        fields.push(("memorySwap", "{}"));
    }
    if f.container_runtime_endpoint {
        // The endpoint is each node's own: a flag fills it in, or from 1.34 the node's
        // instance configuration merged over this on disk ([`merged`]), never the cluster's copy.
        fields.push(("containerRuntimeEndpoint", "\"\""));
    }
    if f.image_maximum_gc_age {
        fields.push(("imageMaximumGCAge", "0s"));
    }
    if f.crash_loop_back_off {
        fields.push(("crashLoopBackOff", "{}"));
    }
    let mut doc = Mapping::new();
    for (key, yaml) in fields {
        let value: Value = serde_yaml::from_str(yaml)
            .with_context(|| format!("bad built-in value for `{key}`"))?;
        doc.insert(Value::String(key.to_string()), value);
    }
    Ok(doc)
}

/// The cluster's kubelet configuration `config` as kubeadm of `version` writes it back on an
/// upgrade, to the kubelet's ConfigMap and each node's `config.yaml`: kubeadm reads it into its
/// own KubeletConfiguration type, defaults it and writes it out again
/// (`componentconfigs.FetchFromCluster`, `SetInitDynamicDefaults`, `Marshal`). So the fields
/// that version's type shows at their zero value appear (e.g. `memorySwap: {}` from 1.22), an
/// empty `cgroupDriver` takes the version's default (kubeadm's `systemd` from 1.22),
/// `rotateCertificates` is forced on, and every value the cluster set is kept.
pub fn as_version_writes(version: KubeVersion, config: &str) -> Result<String> {
    let p = version.profile();
    let cluster: Mapping = serde_yaml::from_str(config)
        .context("the cluster's kubelet configuration is not a YAML mapping")?;
    let mut doc = zero_fields(p.kubelet_config)?;
    merge(&mut doc, &cluster);
    let driver = Value::String("cgroupDriver".into());
    if doc
        .get(&driver)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        doc.insert(
            driver,
            Value::String(p.kubelet_cgroup_driver_default.into()),
        );
    }
    doc.insert("rotateCertificates".into(), Value::Bool(true));
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

    /// A kubelet configuration as kubeadm 1.22 writes it, the cluster's own values set.
    const V1_22: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: cgroupfs\nkind: KubeletConfiguration\nlogging: {}\nmemorySwap: {}\nrotateCertificates: true\nsyncFrequency: 0s\n";

    #[test]
    fn an_upgrade_writes_the_zero_fields_of_the_target_and_keeps_the_clusters_values() {
        let v1_32 = as_version_writes(KubeVersion::new(32, 0), V1_22).unwrap();
        assert_eq!(
            v1_32,
            "apiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: cgroupfs\ncontainerRuntimeEndpoint: \"\"\ncrashLoopBackOff: {}\nimageMaximumGCAge: 0s\nkind: KubeletConfiguration\nlogging:\n  flushFrequency: 0\n  options:\n    json:\n      infoBufferSize: \"0\"\n    text:\n      infoBufferSize: \"0\"\n  verbosity: 0\nmemorySwap: {}\nrotateCertificates: true\nsyncFrequency: 0s\n"
        );
        // Written back by the same version: the same text.
        assert_eq!(
            as_version_writes(KubeVersion::new(32, 4), &v1_32).unwrap(),
            v1_32
        );
        // A value the cluster set inside a zero-valued struct is kept, the rest filled in.
        let verbose = V1_22.replace("logging: {}", "logging:\n  verbosity: 4");
        let v1_23 = as_version_writes(KubeVersion::new(23, 0), &verbose).unwrap();
        assert!(
            v1_23.contains("logging:\n  flushFrequency: 0\n  options:\n    json:\n      infoBufferSize: \"0\"\n  verbosity: 4\n"),
            "{v1_23}"
        );
    }

    #[test]
    fn an_upgrade_defaults_an_empty_cgroup_driver_as_the_target_does() {
        let empty = V1_22.replace("cgroupDriver: cgroupfs\n", "");
        assert!(
            as_version_writes(KubeVersion::new(22, 0), &empty)
                .unwrap()
                .contains("\ncgroupDriver: systemd\n")
        );
        assert!(
            as_version_writes(
                KubeVersion::new(22, 0),
                &empty.replace("kind:", "cgroupDriver: \"\"\nkind:")
            )
            .unwrap()
            .contains("\ncgroupDriver: systemd\n")
        );
        // The kubelet's own default before 1.22, as init of those versions writes it.
        assert!(
            as_version_writes(KubeVersion::new(21, 0), &empty)
                .unwrap()
                .contains("\ncgroupDriver: cgroupfs\n")
        );
        // kubeadm forces certificate rotation on.
        let off = V1_22.replace("rotateCertificates: true", "rotateCertificates: false");
        assert!(
            as_version_writes(KubeVersion::new(22, 0), &off)
                .unwrap()
                .contains("\nrotateCertificates: true\n")
        );
        assert!(as_version_writes(KubeVersion::new(22, 0), "- not a mapping").is_err());
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
