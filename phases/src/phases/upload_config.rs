//! The `upload-config` phases (spec §10.1, §7.3): ConfigMap `kube-system/kubeadm-config` with the
//! ClusterConfiguration, the kubelet-config ConfigMap with `/var/lib/kubelet/config.yaml`, the
//! Roles/RoleBindings that let nodes read them, and the node's CRI-socket annotation.

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::api::manifests;
use crate::config::ApiVersion;
use crate::phases::mark_control_plane::{change_node_from, node_timeout, wait_for_node};
use crate::runner::context::Context;

/// The annotation with the node's CRI socket.
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";
/// The annotation with the hash of a ConfigMap kubeadm generated.
pub const HASH_ANNOTATION: &str = "kubeadm.kubernetes.io/component-config.hash";

/// The ClusterConfiguration as this version's kubeadm uploads it.
pub fn cluster_configuration(ctx: &Context) -> Result<String> {
    let profile = ctx.profile();
    let mut cluster = ctx.cfg.cluster.clone();
    cluster.kubernetes_version = Some(ctx.cfg.version.to_string());
    let api_version = if profile.config_api_v1beta4 {
        ApiVersion::V1Beta4
    } else {
        ApiVersion::V1Beta3
    };
    let doc =
        crate::config::document(api_version, "ClusterConfiguration", &cluster, &ctx.cfg.init)?;
    if profile.version.at_least(22) {
        return Ok(doc);
    }
    // 1.20 and 1.21 wrote v1beta2, which names the DNS addon.
    let mut v: serde_yaml::Mapping = serde_yaml::from_str(&doc)?;
    v.insert("apiVersion".into(), "kubeadm.k8s.io/v1beta2".into());
    let dns = v
        .entry("dns".into())
        .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
    if let serde_yaml::Value::Mapping(dns) = dns {
        dns.insert("type".into(), "CoreDNS".into());
    }
    Ok(serde_yaml::to_string(&v)?)
}

/// `upload-config/kubeadm`.
pub fn kubeadm(ctx: &mut Context) -> Result<()> {
    ctx.out.status(
        "upload-config",
        "Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace",
    );
    let text = cluster_configuration(ctx)?;
    let mut data = json!({"ClusterConfiguration": text});
    if !ctx.profile().version.at_least(22) {
        let api = ctx.api()?;
        let existing = api
            .get::<crate::api::objects::ConfigMap>(&kubeadm_config_ref()?)?
            .and_then(|cm| cm.data.get(CLUSTER_STATUS_KEY).cloned());
        let endpoint = (ctx.cfg.advertise_address, ctx.cfg.bind_port);
        data[CLUSTER_STATUS_KEY] = json!(cluster_status(
            &ctx.cfg.node_name,
            endpoint,
            existing.as_deref()
        )?);
    }
    let mut objs = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": data,
    })];
    objs.extend(manifests::render(
        "rbac/upload-config.yaml",
        manifests::RBAC_UPLOAD_CONFIG,
        &[],
    )?);
    manifests::apply_objects(&ctx.api()?, objs)
}

/// kube-system/kubeadm-config, where the cluster keeps its configuration.
pub fn kubeadm_config_ref() -> Result<crate::api::ObjectRef> {
    crate::api::ObjectRef::new("v1", "ConfigMap", Some("kube-system"), "kubeadm-config")
}

/// The ClusterConfiguration document the cluster keeps in kubeadm-config, as uploaded.
pub fn uploaded_cluster_configuration(api: &crate::api::Api<'_>) -> Result<String> {
    let cm = api
        .get::<crate::api::objects::ConfigMap>(&kubeadm_config_ref()?)?
        .context("the cluster has no kube-system/kubeadm-config ConfigMap\n\nhint: on the control-plane node, run `kubestrap init phase upload-config kubeadm`")?;
    cm.data
        .get("ClusterConfiguration")
        .cloned()
        .context("the kubeadm-config ConfigMap has no `ClusterConfiguration` key")
}

/// The kubeadm-config key kubeadm ≤ 1.21 keeps the control-plane endpoints in.
pub const CLUSTER_STATUS_KEY: &str = "ClusterStatus";

/// kubeadm ≤ 1.21's ClusterStatus (v1beta2): the API endpoint of every control-plane node, this
/// one added to (or updated in) what the ConfigMap already lists.
pub fn cluster_status(
    node: &str,
    (address, port): (std::net::IpAddr, u16),
    existing: Option<&str>,
) -> Result<String> {
    use serde_yaml::{Mapping, Value};
    let mut endpoints = existing
        .and_then(|t| serde_yaml::from_str::<Mapping>(t).ok())
        .and_then(|m| m.get("apiEndpoints").and_then(Value::as_mapping).cloned())
        .unwrap_or_default();
    let mut this = Mapping::new();
    this.insert("advertiseAddress".into(), address.to_string().into());
    this.insert("bindPort".into(), u64::from(port).into());
    endpoints.insert(node.into(), Value::Mapping(this));
    // Go's YAML writes map keys sorted.
    let mut sorted: Vec<(Value, Value)> = endpoints.into_iter().collect();
    sorted.sort_by_key(|(k, _)| k.as_str().unwrap_or_default().to_string());
    let mut doc = Mapping::new();
    doc.insert(
        "apiEndpoints".into(),
        Value::Mapping(sorted.into_iter().collect()),
    );
    doc.insert("apiVersion".into(), "kubeadm.k8s.io/v1beta2".into());
    doc.insert("kind".into(), "ClusterStatus".into());
    Ok(serde_yaml::to_string(&doc)?)
}

/// `upload-config/kubelet`.
pub fn kubelet(ctx: &mut Context) -> Result<()> {
    let name = ctx.profile().kubelet_config_map();
    ctx.out.status(
        "kubelet",
        &format!("Creating a ConfigMap \"{name}\" in namespace kube-system with the configuration for the kubelets in the cluster"),
    );
    let patched = ctx
        .cfg
        .patches
        .as_ref()
        .is_some_and(|p| p.has(crate::render::patches::Target::KubeletConfiguration));
    // A patched file is this node's alone; the cluster gets kubeadm's configuration.
    let config = if patched {
        crate::phases::kubelet_start::kubelet_config(&ctx.cfg)?
    } else {
        ctx.root
            .read_to_string(crate::fs::paths::KUBELET_CONFIG)
            .context("the kubelet configuration is uploaded from the file kubelet-start writes")?
    };
    let mut objs = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "annotations": {HASH_ANNOTATION: format!("sha256:{}", crate::pki::sha256_hex(config.as_bytes()))},
        },
        "data": {"kubelet": config},
    })];
    let role = format!("kubeadm:{name}");
    objs.extend(manifests::render(
        "rbac/kubelet-config.yaml",
        manifests::RBAC_KUBELET_CONFIG,
        &[("name", role), ("configMap", name)],
    )?);
    manifests::apply_objects(&ctx.api()?, objs)?;
    if !ctx.profile().node_local_cri_socket {
        annotate_cri_socket(ctx)?;
    }
    Ok(())
}

fn annotate_cri_socket(ctx: &Context) -> Result<()> {
    let socket = ctx.cfg.cri_socket.clone();
    let node = wait_for_node(ctx, node_timeout(ctx))?;
    change_node_from(&ctx.api()?, node, |node| {
        (node.metadata.annotations.get(CRI_SOCKET_ANNOTATION) != Some(&socket)).then(|| {
            json!({"metadata": {
                "annotations": {CRI_SOCKET_ANNOTATION: socket},
                "resourceVersion": node.metadata.resource_version,
            }})
        })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_status_lists_every_control_plane_node_as_kubeadm_1_20_does() {
        let first = cluster_status("n2", ("10.0.0.2".parse().unwrap(), 6443), None).unwrap();
        assert_eq!(
            first,
            "apiEndpoints:\n  n2:\n    advertiseAddress: 10.0.0.2\n    bindPort: 6443\napiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterStatus\n"
        );
        let both = cluster_status("n1", ("10.0.0.1".parse().unwrap(), 443), Some(&first)).unwrap();
        assert!(
            both.starts_with(
                "apiEndpoints:\n  n1:\n    advertiseAddress: 10.0.0.1\n    bindPort: 443\n  n2:"
            ),
            "{both}"
        );
    }
}
