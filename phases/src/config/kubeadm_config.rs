//! The documents of the cluster's `kube-system/kubeadm-config` ConfigMap, without any API call
//! (kubeadm's `util/config/cluster.go`): the ClusterConfiguration as this version's kubeadm
//! writes it and as any kubeadm since 1.20 wrote it, and kubeadm ≤ 1.21's ClusterStatus, to which
//! a control-plane node adds its API endpoint and from which it removes it. Fetching and
//! patching the ConfigMap is [`crate::api::cluster_config`]'s.

use std::net::IpAddr;

use anyhow::{Context as _, Result, bail};
use serde_yaml::{Mapping, Value};

use crate::config::{ApiVersion, ClusterConfiguration, Config};
use crate::version::KubeVersion;

/// The ConfigMap's name (namespace `kube-system`).
pub const CONFIG_MAP: &str = "kubeadm-config";
/// The key of the ClusterConfiguration document.
pub const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
/// The key kubeadm ≤ 1.21 keeps the control-plane endpoints in.
pub const CLUSTER_STATUS_KEY: &str = "ClusterStatus";

/// The ClusterConfiguration of `cfg` as this version's kubeadm uploads it.
pub fn cluster_configuration(cfg: &Config) -> Result<String> {
    let profile = cfg.version.profile();
    let mut cluster = cfg.cluster.clone();
    cluster.kubernetes_version = Some(cfg.version.to_string());
    let api_version = if profile.config_api_v1beta4 {
        ApiVersion::V1Beta4
    } else {
        ApiVersion::V1Beta3
    };
    let doc = crate::config::document(api_version, "ClusterConfiguration", &cluster, &cfg.init)?;
    if profile.version.at_least(22) {
        return Ok(doc);
    }
    // 1.20 and 1.21 wrote v1beta2, which names the DNS addon.
    let mut v: Mapping = serde_yaml::from_str(&doc)?;
    v.insert("apiVersion".into(), "kubeadm.k8s.io/v1beta2".into());
    let dns = v
        .entry("dns".into())
        .or_insert_with(|| Value::Mapping(Default::default()));
    if let Value::Mapping(dns) = dns {
        dns.insert("type".into(), "CoreDNS".into());
    }
    Ok(serde_yaml::to_string(&v)?)
}

/// Whether a cluster of this version keeps a ClusterStatus (kubeadm ≤ 1.21).
pub fn has_cluster_status(version: KubeVersion) -> bool {
    !version.at_least(22)
}

/// The ClusterConfiguration kubeadm (or kubestrap) uploaded, in any version up to v1beta4, and
/// the cluster's Kubernetes version.
pub fn parse_cluster_configuration(text: &str) -> Result<(ClusterConfiguration, KubeVersion)> {
    let mut doc: Mapping = serde_yaml::from_str(text)
        .context("the ClusterConfiguration in kubeadm-config is not YAML")?;
    // kubeadm 1.20 and 1.21 upload v1beta2, which names the DNS addon's type; its other
    // fields are v1beta3's.
    if doc.get("apiVersion").and_then(|v| v.as_str()) == Some("kubeadm.k8s.io/v1beta2") {
        doc.insert("apiVersion".into(), "kubeadm.k8s.io/v1beta3".into());
        if let Some(Value::Mapping(dns)) = doc.get_mut("dns") {
            dns.remove("type");
        }
        doc.remove("useHyperKubeImage");
    }
    let text = serde_yaml::to_string(&doc)?;
    let (docs, problems) = super::parse(&text, "kubeadm-config ClusterConfiguration");
    if !problems.is_empty() {
        bail!(
            "kubestrap cannot read the cluster's ClusterConfiguration:\n  {}",
            problems.join("\n  ")
        );
    }
    let version_text = docs
        .cluster
        .kubernetes_version
        .clone()
        .context("the cluster's ClusterConfiguration has no kubernetesVersion")?;
    let version = KubeVersion::parse(&version_text).with_context(|| {
        format!("the cluster runs Kubernetes {version_text}, which kubestrap cannot join")
    })?;
    Ok((docs.cluster, version))
}

/// kubeadm ≤ 1.21's ClusterStatus (v1beta2): the API endpoint of every control-plane node, with
/// `node`'s added to (or updated in) what `existing` lists.
pub fn cluster_status_with(
    node: &str,
    (address, port): (IpAddr, u16),
    existing: Option<&str>,
) -> Result<String> {
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

/// `status` (a ClusterStatus document) without `node`'s endpoint; `None` when it has none.
pub fn cluster_status_without(status: &str, node: &str) -> Result<Option<String>> {
    let mut doc: Mapping = serde_yaml::from_str(status)?;
    let Some(Value::Mapping(endpoints)) = doc.get_mut("apiEndpoints") else {
        return Ok(None);
    };
    if endpoints.remove(node).is_none() {
        return Ok(None);
    }
    Ok(Some(serde_yaml::to_string(&doc)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_status_lists_every_control_plane_node_as_kubeadm_1_20_does() {
        let first = cluster_status_with("n2", ("10.0.0.2".parse().unwrap(), 6443), None).unwrap();
        assert_eq!(
            first,
            "apiEndpoints:\n  n2:\n    advertiseAddress: 10.0.0.2\n    bindPort: 6443\napiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterStatus\n"
        );
        let both =
            cluster_status_with("n1", ("10.0.0.1".parse().unwrap(), 443), Some(&first)).unwrap();
        assert!(
            both.starts_with(
                "apiEndpoints:\n  n1:\n    advertiseAddress: 10.0.0.1\n    bindPort: 443\n  n2:"
            ),
            "{both}"
        );
    }

    #[test]
    fn only_this_node_leaves_the_cluster_status() {
        let two = cluster_status_with("n1", ("10.0.0.1".parse().unwrap(), 6443), None).unwrap();
        let two =
            cluster_status_with("n2", ("10.0.0.2".parse().unwrap(), 6443), Some(&two)).unwrap();
        let one = cluster_status_without(&two, "n2").unwrap().unwrap();
        let doc: Mapping = serde_yaml::from_str(&one).unwrap();
        let endpoints = doc["apiEndpoints"].as_mapping().unwrap();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints["n1"]["advertiseAddress"], "10.0.0.1");
        assert_eq!(doc["kind"], "ClusterStatus");
        assert_eq!(cluster_status_without(&one, "n2").unwrap(), None);
        assert_eq!(
            cluster_status_without("kind: ClusterStatus\n", "n1").unwrap(),
            None
        );
    }

    #[test]
    fn v1beta2_of_kubeadm_1_20_is_read() {
        let text = "apiServer:\n  extraArgs:\n    authorization-mode: Node,RBAC\n  timeoutForControlPlane: 4m0s\napiVersion: kubeadm.k8s.io/v1beta2\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrollerManager: {}\ndns:\n  type: CoreDNS\netcd:\n  local:\n    dataDir: /var/lib/etcd\nimageRepository: k8s.gcr.io\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\nnetworking:\n  dnsDomain: cluster.local\n  serviceSubnet: 10.96.0.0/12\nscheduler: {}\n";
        let (cluster, version) = parse_cluster_configuration(text).unwrap();
        assert_eq!(version.to_string(), "v1.20.2");
        assert_eq!(cluster.image_repository, "k8s.gcr.io");
        assert_eq!(cluster.networking.service_subnet, "10.96.0.0/12");
    }
}
