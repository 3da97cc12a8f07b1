//! The `addon` phases: kube-proxy (ServiceAccount, RBAC, ConfigMap, DaemonSet) and CoreDNS
//! (RBAC, ConfigMap, Deployment, Service) from `templates/addons/`, with the images of the
//! target version; applied with create-or-update.

use anyhow::{Context as _, Result};
use serde_yaml::{Mapping, Value};

use crate::api::manifests;
use crate::phases::bootstrap::admin_cluster;
use crate::render::patches::Target;
use crate::render::templates::scalar;
use crate::runner::context::Context;

/// The CoreDNS image of the target version (`dns.imageRepository`/`imageTag` win).
pub fn coredns_image(ctx: &Context) -> String {
    crate::version::images::coredns(&ctx.cfg.cluster, ctx.cfg.version)
}

/// The KubeProxyConfiguration: kubeadm's defaults under the user's document.
pub fn kube_proxy_config(ctx: &Context) -> Result<String> {
    let mut m = Mapping::new();
    m.insert(
        "apiVersion".into(),
        "kubeproxy.config.k8s.io/v1alpha1".into(),
    );
    m.insert("kind".into(), "KubeProxyConfiguration".into());
    m.insert("bindAddress".into(), "0.0.0.0".into());
    let mut conn = Mapping::new();
    conn.insert(
        "kubeconfig".into(),
        "/var/lib/kube-proxy/kubeconfig.conf".into(),
    );
    m.insert("clientConnection".into(), Value::Mapping(conn));
    if let Some(pods) = &ctx.cfg.cluster.networking.pod_subnet {
        m.insert("clusterCIDR".into(), pods.clone().into());
    }
    m.insert("mode".into(), "".into());
    if let Some(user) = &ctx.cfg.kube_proxy {
        for (k, v) in user {
            match (m.get_mut(k), v) {
                (Some(Value::Mapping(base)), Value::Mapping(over)) => {
                    for (k2, v2) in over {
                        base.insert(k2.clone(), v2.clone());
                    }
                }
                _ => {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    }
    serde_yaml::to_string(&m).context("failed to write the KubeProxyConfiguration")
}

/// `addon/kube-proxy`.
pub fn kube_proxy(ctx: &mut Context) -> Result<()> {
    if ctx.cfg.cluster.proxy.disabled {
        ctx.out.status(
            "addons",
            "kube-proxy is disabled (proxy.disabled); skipping",
        );
        return Ok(());
    }
    let (server, _) = admin_cluster(ctx)?;
    let image = crate::version::images::control_plane(&ctx.cfg, "kube-proxy");
    let vars = [
        ("config", kube_proxy_config(ctx)?),
        ("server", scalar(&server)),
        ("image", scalar(&image)),
    ];
    let api = ctx.api()?;
    manifests::apply(
        &api,
        "addons/kube-proxy.yaml",
        manifests::ADDON_KUBE_PROXY,
        &vars,
    )?;
    ctx.out
        .status("addons", "Applied essential addon: kube-proxy");
    Ok(())
}

/// CoreDNS's objects (RBAC, ConfigMap, Deployment, Service), unpatched.
pub fn coredns_objects(ctx: &Context) -> Result<Vec<serde_json::Value>> {
    let vars = [
        ("domain", ctx.cfg.cluster.networking.dns_domain.clone()),
        ("image", scalar(&coredns_image(ctx))),
        (
            "dnsIP",
            scalar(
                &crate::render::kubelet_config::cluster_dns_ip(
                    &ctx.cfg.cluster.networking.service_subnet,
                )?
                .to_string(),
            ),
        ),
    ];
    manifests::render("addons/coredns.yaml", manifests::ADDON_COREDNS, &vars)
}

/// `addon/coredns`.
pub fn coredns(ctx: &mut Context) -> Result<()> {
    if ctx.cfg.cluster.dns.disabled {
        ctx.out
            .status("addons", "CoreDNS is disabled (dns.disabled); skipping");
        return Ok(());
    }
    let mut objects = coredns_objects(ctx)?;
    for object in objects.iter_mut().filter(|o| o["kind"] == "Deployment") {
        crate::phases::apply_patches::value(ctx, Target::CorednsDeployment, object)?;
    }
    manifests::apply_objects(&ctx.api()?, objects)?;
    ctx.out.status("addons", "Applied essential addon: CoreDNS");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_to_objects() {
        let vars = |name: &str| -> Vec<(&'static str, String)> {
            match name {
                "rbac/kubelet-config.yaml" => vec![("name", "r".into()), ("configMap", "c".into())],
                "addons/kube-proxy.yaml" => vec![
                    ("config", "a: 1\nb: 2\n".into()),
                    ("server", scalar("https://10.0.0.1:6443")),
                    ("image", scalar("r/kube-proxy:v1.20.2")),
                ],
                "addons/coredns.yaml" => vec![
                    ("domain", "cluster.local".into()),
                    ("image", scalar("r/coredns:1.7.0")),
                    ("dnsIP", scalar("10.96.0.10")),
                ],
                _ => vec![],
            }
        };
        for (name, src) in manifests::ALL {
            let text = crate::render::templates::render(name, src, &vars(name)).unwrap();
            let docs = manifests::documents(name, &text).unwrap();
            assert!(!docs.is_empty(), "{name}");
            for d in &docs {
                crate::api::ObjectRef::of(d).unwrap();
            }
        }
        let text = crate::render::templates::render(
            "addons/kube-proxy.yaml",
            manifests::ADDON_KUBE_PROXY,
            &vars("addons/kube-proxy.yaml"),
        )
        .unwrap();
        let docs = manifests::documents("kube-proxy", &text).unwrap();
        assert_eq!(docs[4]["data"]["config.conf"], "a: 1\nb: 2\n");
    }
}
