//! The images of a configuration: each component's, and the list a control-plane node pulls.

use crate::config::{ClusterConfiguration, Config};
use crate::version::KubeVersion;

/// `<imageRepository>/<name>:<tag>`.
pub fn image(repository: &str, name: &str, tag: &str) -> String {
    format!("{repository}/{name}:{tag}")
}

/// kubeadm's own registries, where CoreDNS lives under `coredns/` from Kubernetes 1.21.
const KUBEADM_REGISTRIES: &[&str] = &["registry.k8s.io", "k8s.gcr.io"];

/// Every image a control-plane node of this configuration runs, in `kubeadm config images list`
/// order: apiserver, controller-manager, scheduler, proxy, CoreDNS, pause, etcd (local only).
pub fn all(cfg: &Config) -> Vec<String> {
    list(&cfg.cluster, cfg.version)
}

/// [`all`] from the ClusterConfiguration and the version alone (`config images list`).
pub fn list(cluster: &ClusterConfiguration, version: KubeVersion) -> Vec<String> {
    let mut out: Vec<String> = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ]
    .iter()
    .map(|name| component(cluster, version, name))
    .collect();
    if !cluster.proxy.disabled {
        out.push(component(cluster, version, "kube-proxy"));
    }
    if !cluster.dns.disabled {
        out.push(coredns(cluster, version));
    }
    out.push(pause(cluster, version));
    if cluster.etcd.external.is_none() {
        out.push(etcd_image(cluster, version));
    }
    out
}

/// The images a worker (a joining node without the control plane) runs: kube-proxy and CoreDNS
/// (scheduled anywhere) and the pause image, in [`list`]'s order.
pub fn worker(cluster: &ClusterConfiguration, version: KubeVersion) -> Vec<String> {
    let control_plane = [
        component(cluster, version, "kube-apiserver"),
        component(cluster, version, "kube-controller-manager"),
        component(cluster, version, "kube-scheduler"),
        etcd_image(cluster, version),
    ];
    list(cluster, version)
        .into_iter()
        .filter(|i| !control_plane.contains(i))
        .collect()
}

/// The CoreDNS image: `dns.imageRepository` (else `imageRepository`) and `dns.imageTag` (else
/// the version's); kubeadm's own registries keep it under `coredns/`.
pub fn coredns(cluster: &ClusterConfiguration, version: KubeVersion) -> String {
    let profile = version.profile();
    let dns = &cluster.dns;
    let tag = dns
        .image_tag
        .as_deref()
        .unwrap_or(profile.coredns_image_tag);
    let repository = dns
        .image_repository
        .as_deref()
        .unwrap_or(&cluster.image_repository);
    if profile.coredns_in_subpath && KUBEADM_REGISTRIES.contains(&repository) {
        image(repository, "coredns/coredns", tag)
    } else {
        image(repository, "coredns", tag)
    }
}

/// The pause image of the version.
pub fn pause(cluster: &ClusterConfiguration, version: KubeVersion) -> String {
    image(
        &cluster.image_repository,
        "pause",
        version.profile().pause_image_tag,
    )
}

fn component(cluster: &ClusterConfiguration, version: KubeVersion, name: &str) -> String {
    image(&cluster.image_repository, name, &version.image_tag())
}

/// A control-plane image (`kube-apiserver`, …, `kube-proxy`): `<imageRepository>/<name>:v<version>`.
pub fn control_plane(cfg: &Config, name: &str) -> String {
    component(&cfg.cluster, cfg.version, name)
}

fn etcd_tag_of(cluster: &ClusterConfiguration, version: KubeVersion) -> String {
    cluster
        .etcd
        .local
        .as_ref()
        .and_then(|l| l.image_tag.clone())
        .unwrap_or_else(|| version.profile().etcd_image_tag.to_string())
}

/// The etcd image tag: `etcd.local.imageTag`, else the version's own.
pub fn etcd_tag(cfg: &Config) -> String {
    etcd_tag_of(&cfg.cluster, cfg.version)
}

fn etcd_image(cluster: &ClusterConfiguration, version: KubeVersion) -> String {
    let repository = cluster
        .etcd
        .local
        .as_ref()
        .and_then(|l| l.image_repository.as_deref())
        .unwrap_or(&cluster.image_repository);
    image(repository, "etcd", &etcd_tag_of(cluster, version))
}

/// The local etcd image: `etcd.local.imageRepository` (else `imageRepository`) and tag.
pub fn etcd(cfg: &Config) -> String {
    etcd_image(&cfg.cluster, cfg.version)
}
