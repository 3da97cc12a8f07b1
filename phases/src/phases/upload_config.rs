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
    let mut objs = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": text},
    })];
    objs.extend(manifests::render(
        "rbac/upload-config.yaml",
        manifests::RBAC_UPLOAD_CONFIG,
        &[],
    )?);
    manifests::apply_objects(&ctx.api()?, objs)
}

/// `upload-config/kubelet`.
pub fn kubelet(ctx: &mut Context) -> Result<()> {
    let name = ctx.profile().kubelet_config_map();
    ctx.out.status(
        "kubelet",
        &format!("Creating a ConfigMap \"{name}\" in namespace kube-system with the configuration for the kubelets in the cluster"),
    );
    let config = ctx
        .root
        .read_to_string(crate::fs::paths::KUBELET_CONFIG)
        .context("the kubelet configuration is uploaded from the file kubelet-start writes")?;
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
