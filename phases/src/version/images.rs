//! The images of a configuration: each component's, and the list a control-plane node pulls.

use crate::config::Config;

/// `<imageRepository>/<name>:<tag>`.
pub fn image(repository: &str, name: &str, tag: &str) -> String {
    format!("{repository}/{name}:{tag}")
}

/// Every image a control-plane node of this configuration runs, in `kubeadm config images list`
/// order: apiserver, controller-manager, scheduler, proxy, CoreDNS, pause, etcd (local only).
pub fn all(cfg: &Config) -> Vec<String> {
    let profile = cfg.version.profile();
    let mut out: Vec<String> = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ]
    .iter()
    .map(|name| control_plane(cfg, name))
    .collect();
    if !cfg.cluster.proxy.disabled {
        out.push(control_plane(cfg, "kube-proxy"));
    }
    let dns = &cfg.cluster.dns;
    if !dns.disabled {
        let tag = dns
            .image_tag
            .as_deref()
            .unwrap_or(profile.coredns_image_tag);
        // Only kubeadm's own registry keeps CoreDNS under `coredns/`.
        let image = match &dns.image_repository {
            Some(repository) => image(repository, "coredns", tag),
            None if profile.coredns_in_subpath
                && cfg.cluster.image_repository == crate::config::default_image_repository() =>
            {
                image(&cfg.cluster.image_repository, "coredns/coredns", tag)
            }
            None => image(&cfg.cluster.image_repository, "coredns", tag),
        };
        out.push(image);
    }
    out.push(image(
        &cfg.cluster.image_repository,
        "pause",
        profile.pause_image_tag,
    ));
    if cfg.cluster.etcd.external.is_none() {
        out.push(etcd(cfg));
    }
    out
}

/// A control-plane image (`kube-apiserver`, …, `kube-proxy`): `<imageRepository>/<name>:v<version>`.
pub fn control_plane(cfg: &Config, name: &str) -> String {
    image(
        &cfg.cluster.image_repository,
        name,
        &cfg.version.to_string(),
    )
}

/// The etcd image tag: `etcd.local.imageTag`, else the version's own.
pub fn etcd_tag(cfg: &Config) -> String {
    cfg.cluster
        .etcd
        .local
        .as_ref()
        .and_then(|l| l.image_tag.clone())
        .unwrap_or_else(|| cfg.version.profile().etcd_image_tag.to_string())
}

/// The local etcd image: `etcd.local.imageRepository` (else `imageRepository`) and tag.
pub fn etcd(cfg: &Config) -> String {
    let repository = cfg
        .cluster
        .etcd
        .local
        .as_ref()
        .and_then(|l| l.image_repository.as_deref())
        .unwrap_or(&cfg.cluster.image_repository);
    image(repository, "etcd", &etcd_tag(cfg))
}
