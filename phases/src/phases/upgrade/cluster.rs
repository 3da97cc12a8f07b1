//! What an upgrade reads of the running cluster before it decides anything: the API server's
//! version, kubeadm-config, every Node's kubelet, the control-plane static pods (their
//! manifests on this node and their mirror pods on every control-plane node), and the
//! kube-proxy and CoreDNS images. Nothing here writes.

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::api::{Api, cluster_config};
use crate::config::ClusterConfiguration;
use crate::fs::paths;
use crate::fs::root::Root;
use crate::version::KubeVersion;

/// The control-plane static pods an upgrade replaces, in kubeadm's order (etcd first).
pub const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// The annotation in which the kubelet gives a mirror pod the hash of its manifest (which is
/// also the static pod's UID).
pub const CONFIG_HASH: &str = "kubernetes.io/config.hash";

/// The label kubeadm gives control-plane nodes (`master` on 1.20, both on 1.20–1.23,
/// `control-plane` from 1.24).
const CONTROL_PLANE_LABELS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// One Node as an upgrade sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeView {
    pub name: String,
    /// `status.nodeInfo.kubeletVersion`.
    pub kubelet: String,
    pub control_plane: bool,
    pub ready: bool,
}

/// A control-plane component's mirror pod on one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MirrorPod {
    pub node: String,
    pub image: String,
    pub hash: Option<String>,
    pub ready: bool,
}

/// The running cluster, read once.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub cluster: ClusterConfiguration,
    /// kubeadm-config's `kubernetesVersion`.
    pub config_version: KubeVersion,
    /// What the API server says it runs (`/version`).
    pub api_server: KubeVersion,
    pub nodes: Vec<NodeView>,
    /// Per component of [`COMPONENTS`], its mirror pods.
    pub mirror_pods: Vec<(&'static str, Vec<MirrorPod>)>,
    /// The kube-proxy DaemonSet's image, `None` without one.
    pub kube_proxy: Option<String>,
    /// The CoreDNS Deployment's image, `None` without one.
    pub coredns: Option<String>,
}

impl ClusterView {
    /// Reads the cluster through `api`.
    pub fn read(api: &Api<'_>) -> Result<Self> {
        let (cluster, config_version) = cluster_config::cluster_configuration(api)
            .context("failed to read the cluster's kubeadm-config")?;
        let api_server = api_server_version(api)?;
        let nodes = nodes(api)?;
        let mut mirror_pods = Vec::new();
        for component in COMPONENTS {
            let mut pods = Vec::new();
            for node in nodes.iter().filter(|n| n.control_plane) {
                if let Some(pod) = mirror_pod(api, component, &node.name)? {
                    pods.push(pod);
                }
            }
            mirror_pods.push((component, pods));
        }
        Ok(ClusterView {
            cluster,
            config_version,
            api_server,
            nodes,
            mirror_pods,
            kube_proxy: workload_image(api, "daemonsets", "kube-proxy")?,
            coredns: workload_image(api, "deployments", "coredns")?,
        })
    }

    /// The mirror pods of a component.
    pub fn pods(&self, component: &str) -> &[MirrorPod] {
        self.mirror_pods
            .iter()
            .find(|(c, _)| *c == component)
            .map(|(_, p)| p.as_slice())
            .unwrap_or_default()
    }
}

/// The API server's `gitVersion`.
pub fn api_server_version(api: &Api<'_>) -> Result<KubeVersion> {
    let v = api
        .get_value("/version", &"the API server's version")?
        .context("the API server has no /version")?;
    let text = v["gitVersion"].as_str().unwrap_or_default();
    KubeVersion::parse_any(text)
        .with_context(|| format!("the API server reports the version {text:?}"))
}

/// Every Node with its kubelet's version, role and readiness.
pub fn nodes(api: &Api<'_>) -> Result<Vec<NodeView>> {
    let items: Vec<Value> = api.list("/api/v1/nodes", "nodes")?;
    Ok(items
        .iter()
        .map(|n| NodeView {
            name: n["metadata"]["name"].as_str().unwrap_or_default().into(),
            kubelet: n["status"]["nodeInfo"]["kubeletVersion"]
                .as_str()
                .unwrap_or_default()
                .into(),
            control_plane: CONTROL_PLANE_LABELS
                .iter()
                .any(|l| n["metadata"]["labels"].get(l).is_some()),
            ready: condition(&n["status"], "Ready"),
        })
        .collect())
}

fn condition(status: &Value, kind: &str) -> bool {
    status["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// The mirror pod `kube-system/<component>-<node>`, `None` when there is none.
pub fn mirror_pod(api: &Api<'_>, component: &str, node: &str) -> Result<Option<MirrorPod>> {
    let name = format!("{component}-{node}");
    let path = format!("/api/v1/namespaces/kube-system/pods/{name}");
    let Some(pod) = api.get_value(&path, &format!("pod `kube-system/{name}`"))? else {
        return Ok(None);
    };
    Ok(Some(MirrorPod {
        node: node.to_string(),
        image: pod["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .into(),
        hash: pod["metadata"]["annotations"][CONFIG_HASH]
            .as_str()
            .map(str::to_string),
        ready: condition(&pod["status"], "Ready"),
    }))
}

/// What the kubelet reports of a pod's first container: waiting (with its reason), running
/// or terminated, and its restarts.
pub fn container_report(pod: &Value) -> String {
    let Some(status) = pod["status"]["containerStatuses"].get(0) else {
        return format!(
            "pod {}",
            pod["status"]["phase"].as_str().unwrap_or("without status")
        );
    };
    let state = &status["state"];
    let now = if let Some(w) = state.get("waiting") {
        format!("waiting ({})", w["reason"].as_str().unwrap_or("?"))
    } else if let Some(t) = state.get("terminated") {
        format!(
            "terminated ({}, exit code {})",
            t["reason"].as_str().unwrap_or("?"),
            t["exitCode"]
        )
    } else if status["ready"] == true {
        "running, ready".to_string()
    } else {
        "running, not ready yet".to_string()
    };
    match status["restartCount"].as_u64() {
        Some(n) if n > 0 => format!("{now}, {n} restarts"),
        _ => now,
    }
}

/// The image of the first container of `kube-system/<name>`, `None` when it does not exist.
fn workload_image(api: &Api<'_>, kind: &str, name: &str) -> Result<Option<String>> {
    let path = format!("/apis/apps/v1/namespaces/kube-system/{kind}/{name}");
    Ok(api
        .get_value(&path, &format!("`kube-system/{name}`"))?
        .and_then(|o| {
            o["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        }))
}

/// The tag of an image reference (`repo/name:tag` → `tag`).
pub fn tag(image: &str) -> &str {
    let name = image.rsplit('/').next().unwrap_or(image);
    name.split_once(':').map(|(_, t)| t).unwrap_or("latest")
}

/// The static-pod manifests of the control plane on this node (those that exist).
pub fn local_manifests(root: &Root) -> Vec<&'static str> {
    COMPONENTS
        .into_iter()
        .filter(|c| root.exists(paths::manifest(c)))
        .collect()
}

/// The value of `--<flag>=` in the command of a manifest.
pub fn manifest_flag(manifest: &str, flag: &str) -> Option<String> {
    let prefix = format!("--{flag}=");
    manifest.lines().find_map(|l| {
        let l = l.trim().trim_start_matches("- ").trim();
        l.strip_prefix(&prefix)
            .map(|v| v.trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_and_flags_are_read_from_what_the_cluster_holds() {
        assert_eq!(
            tag("registry.kubestrap.test:5000/kube-proxy:v1.20.2"),
            "v1.20.2"
        );
        assert_eq!(tag("k8s.gcr.io/coredns"), "latest");
        let manifest = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.1\n    - --secure-port=6443\n";
        assert_eq!(
            manifest_flag(manifest, "advertise-address").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(manifest_flag(manifest, "bind-address"), None);
    }

    #[test]
    fn the_kubelet_report_names_the_container_state() {
        let pod = json!({"status": {"containerStatuses": [{"ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            container_report(&pod),
            "waiting (CrashLoopBackOff), 3 restarts"
        );
        let pod = json!({"status": {"phase": "Pending"}});
        assert_eq!(container_report(&pod), "pod Pending");
    }
}
