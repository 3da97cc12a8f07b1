//! The `upload-config` phases (spec §10.1, §7.3): ConfigMap `kube-system/kubeadm-config` with the
//! ClusterConfiguration, the kubelet-config ConfigMap with the cluster's KubeletConfiguration
//! (`/var/lib/kubelet/config.yaml` without this node's patches and CRI endpoint), the
//! Roles/RoleBindings that let nodes read them, and (before 1.34) the node's CRI-socket annotation.

use anyhow::Result;
use serde_json::json;

use crate::api::{cluster_config, manifests};
use crate::config::kubeadm_config;
use crate::phases::node;
use crate::runner::context::Context;

/// The annotation with the hash of a ConfigMap kubeadm generated.
pub const HASH_ANNOTATION: &str = "kubeadm.kubernetes.io/component-config.hash";

/// `upload-config/kubeadm`.
pub fn kubeadm(ctx: &mut Context) -> Result<()> {
    ctx.out.status(
        "upload-config",
        "Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace",
    );
    let text = kubeadm_config::cluster_configuration(&ctx.cfg)?;
    let api = ctx.api()?;
    let status = kubeadm_config::has_cluster_status(ctx.cfg.version).then_some((
        ctx.cfg.node_name.as_str(),
        (ctx.cfg.advertise_address, ctx.cfg.bind_port),
    ));
    let mut objs = vec![cluster_config::config_map(&api, text, status)?];
    objs.extend(manifests::render(
        "rbac/upload-config.yaml",
        manifests::RBAC_UPLOAD_CONFIG,
        &[],
    )?);
    manifests::apply_objects(&api, objs)
}

/// `upload-config/kubelet`.
pub fn kubelet(ctx: &mut Context) -> Result<()> {
    let name = ctx.profile().kubelet_config_map();
    ctx.out.status(
        "kubelet",
        &format!("Creating a ConfigMap \"{name}\" in namespace kube-system with the configuration for the kubelets in the cluster"),
    );
    // The cluster gets kubeadm's configuration: this node's file may carry its patches and
    // (from 1.34) its own CRI endpoint.
    let config = crate::render::kubelet_config::kubelet_config(&ctx.cfg)?;
    let objs = kubelet_objects(&name, &config)?;
    manifests::apply_objects(&ctx.api()?, objs)?;
    if !ctx.profile().node_local_cri_socket {
        annotate_cri_socket(ctx)?;
    }
    Ok(())
}

/// The kubelet-config ConfigMap `name` holding `config`, with the Role and RoleBinding that let
/// nodes read it.
pub fn kubelet_objects(name: &str, config: &str) -> Result<Vec<serde_json::Value>> {
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
        &[("name", role), ("configMap", name.to_string())],
    )?);
    Ok(objs)
}

fn annotate_cri_socket(ctx: &Context) -> Result<()> {
    let api = ctx.api()?;
    let node = node::wait_for_node(ctx, &api, node::node_timeout(ctx))?;
    node::annotate_cri_socket(ctx, &api, node)?;
    Ok(())
}
