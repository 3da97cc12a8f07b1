//! What kubeadm of the target version does after the control plane: the kubeadm-config
//! ConfigMap says the new version (with its ClusterStatus where the version keeps one), the
//! kubelet-config ConfigMap and its RBAC for the new minor, this node's kubelet configuration,
//! the bootstrap-token RBAC, kube-proxy with the new image and CoreDNS (its Corefile kept).

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::api::{ObjectRef, manifests};
use crate::fs::paths;
use crate::phases::upgrade::Settings;
use crate::phases::{addons, apply_patches, kubelet, upload_config};
use crate::render::patches::Target;
use crate::runner::context::Context;

/// `upload-config`: kubeadm-config with the target version.
pub fn upload_kubeadm_config(ctx: &mut Context) -> Result<()> {
    upload_config::kubeadm(ctx)
}

/// The cluster's kubelet configuration: the kubelet-config ConfigMap of the version upgraded
/// from (or, once written, of the target's), as the target's kubeadm writes it back
/// ([`crate::render::kubelet_config::as_version_writes`]).
fn cluster_kubelet_config(ctx: &Context, settings: &Settings) -> Result<String> {
    if settings.kubelet_from_file {
        // A KubeletConfiguration of --config replaces the cluster's, with kubeadm's defaults.
        return crate::render::kubelet_config::kubelet_config(&ctx.cfg);
    }
    let api = ctx.api()?;
    let mut names = vec![ctx.profile().kubelet_config_map()];
    names.push(settings.from.profile().kubelet_config_map());
    for name in &names {
        let r = ObjectRef::new("v1", "ConfigMap", Some("kube-system"), name)?;
        if let Some(cm) = api.get::<crate::api::objects::ConfigMap>(&r)?
            && let Some(text) = cm.data.get("kubelet")
        {
            return crate::render::kubelet_config::as_version_writes(settings.to, text)
                .with_context(|| format!("ConfigMap kube-system/{name}"));
        }
    }
    anyhow::bail!(
        "the cluster has no kubelet configuration (ConfigMap kube-system/{})\n\nhint: on a control-plane node, run `kubestrap init phase upload-config kubelet`",
        names.join(" or kube-system/")
    )
}

/// `upload-config/kubelet` of an upgrade: the cluster's kubelet configuration under the target
/// version's ConfigMap name, with its RBAC.
pub fn kubelet_config_map(ctx: &mut Context) -> Result<()> {
    let settings = settings(ctx)?;
    let name = ctx.profile().kubelet_config_map();
    let config = cluster_kubelet_config(ctx, &settings)?;
    ctx.out.status(
        "upgrade/kubelet-config",
        &format!("Writing the kubelet configuration of the cluster to ConfigMap \"{name}\" in namespace kube-system"),
    );
    let objs = upload_config::kubelet_objects(&name, &config)?;
    manifests::apply_objects(&ctx.api()?, objs)
}

/// `kubelet-config`: this node's `/var/lib/kubelet/config.yaml` from the cluster's ConfigMap
/// (patched for this node with `--patches`; from 1.34 with the node's instance configuration
/// over it), after the target's changes to this node's kubelet files and before those to its
/// Node ([`super::migrate`]). The running kubelet reads it when restarted.
pub fn kubelet_config_file(ctx: &mut Context) -> Result<()> {
    let settings = settings(ctx)?;
    super::migrate::kubelet_flags(ctx, settings.to)?;
    super::migrate::node_local_cri_socket(ctx, settings.to)?;
    let config = cluster_kubelet_config(ctx, &settings)?;
    let config = apply_patches::yaml(ctx, Target::KubeletConfiguration, &config)?;
    let config = if ctx.profile().node_local_cri_socket {
        kubelet::with_instance_config(&ctx.root, &config)?
    } else {
        config
    };
    let current = ctx.root.read_optional(paths::KUBELET_CONFIG)?;
    if current.as_deref() == Some(config.as_bytes()) {
        ctx.out.status(
            "upgrade/kubelet-config",
            &format!(
                "\"{}\" is already the cluster's kubelet configuration",
                paths::KUBELET_CONFIG
            ),
        );
    } else {
        ctx.root
            .write(paths::KUBELET_CONFIG, config.as_bytes(), 0o644)?;
        ctx.out.status(
            "upgrade/kubelet-config",
            &format!(
                "Wrote the cluster's kubelet configuration to \"{}\"; restart the kubelet to use it",
                paths::KUBELET_CONFIG
            ),
        );
    }
    super::migrate::remove_cri_socket_annotation(ctx, settings.to)?;
    Ok(())
}

/// `bootstrap-token`: the RBAC rules that let nodes join with bootstrap tokens and rotate
/// their certificates, and that let anyone read cluster-info (cluster-info itself is kept).
pub fn bootstrap_token_rbac(ctx: &mut Context) -> Result<()> {
    ctx.out.status(
        "bootstrap-token",
        "Configuring the RBAC rules of bootstrap tokens and cluster-info",
    );
    let mut objs = manifests::render(
        "rbac/bootstrap-token.yaml",
        manifests::RBAC_BOOTSTRAP_TOKEN,
        &[],
    )?;
    objs.extend(manifests::render(
        "rbac/cluster-info.yaml",
        manifests::RBAC_CLUSTER_INFO,
        &[],
    )?);
    manifests::apply_objects(&ctx.api()?, objs)
}

/// `addon/kube-proxy`: kube-proxy of the target version with the cluster's own configuration
/// (its ConfigMap); skipped, saying so, in a cluster without kube-proxy.
pub fn kube_proxy(ctx: &mut Context) -> Result<()> {
    if settings(ctx)?.kube_proxy_from_file {
        // The KubeProxyConfiguration of --config replaces the cluster's.
        return addons::kube_proxy(ctx);
    }
    let api = ctx.api()?;
    let r = ObjectRef::new("v1", "ConfigMap", Some("kube-system"), "kube-proxy")?;
    let Some(cm) = api.get::<crate::api::objects::ConfigMap>(&r)? else {
        ctx.out.status(
            "addons",
            "The cluster has no kube-proxy (no ConfigMap kube-system/kube-proxy): skipping it",
        );
        return Ok(());
    };
    let text = cm
        .data
        .get("config.conf")
        .context("the kube-proxy ConfigMap has no `config.conf`")?;
    let config: serde_yaml::Mapping = serde_yaml::from_str(text)
        .context("the kube-proxy ConfigMap's `config.conf` is not a YAML mapping")?;
    ctx.cfg.kube_proxy = Some(config);
    addons::kube_proxy(ctx)
}

/// `addon/coredns`: CoreDNS of the target version; the Corefile the cluster has is kept (only
/// created when missing); skipped, saying so, in a cluster without a CoreDNS Deployment.
pub fn coredns(ctx: &mut Context) -> Result<()> {
    if ctx.cfg.cluster.dns.disabled {
        ctx.out
            .status("addons", "CoreDNS is disabled (dns.disabled); skipping");
        return Ok(());
    }
    let api = ctx.api()?;
    let deployment = ObjectRef::new("apps/v1", "Deployment", Some("kube-system"), "coredns")?;
    if api.get::<Value>(&deployment)?.is_none() {
        ctx.out.status(
            "addons",
            "The cluster has no CoreDNS (no Deployment kube-system/coredns): skipping it; install it with `kubestrap init phase addon coredns` if you want it",
        );
        return Ok(());
    }
    let mut objects = Vec::new();
    for mut object in addons::coredns_objects(ctx)? {
        if object["kind"] == "ConfigMap" && api.get::<Value>(&ObjectRef::of(&object)?)?.is_some() {
            continue;
        }
        if object["kind"] == "Deployment" {
            apply_patches::value(ctx, Target::CorednsDeployment, &mut object)?;
        }
        objects.push(object);
    }
    manifests::apply_objects(&api, objects)?;
    ctx.out.status("addons", "Applied essential addon: CoreDNS");
    Ok(())
}

fn settings(ctx: &Context) -> Result<Settings> {
    ctx.state::<Settings>()
        .cloned()
        .context("the upgrade's settings are not known to this step")
}
