//! `config migrate`: a kubeadm.k8s.io/v1beta3 file in kubeadm.k8s.io/v1beta4, with kubeadm's
//! mapping: extraArgs maps become `{name, value}` lists, `apiServer.timeoutForControlPlane`
//! becomes the InitConfiguration's `timeouts.controlPlaneComponentHealthCheck` and
//! `discovery.timeout` the JoinConfiguration's `timeouts.discovery`; defaults are written out and
//! comments dropped, as kubeadm does. Unlike kubeadm, which drops them, KubeletConfiguration and
//! KubeProxyConfiguration documents are kept as they are, so the new file deploys the same node.

use anyhow::Result;
use serde_yaml::Value;

use super::defaults::document;
use super::load::{InvalidConfig, parse};
use super::{ApiVersion, Timeouts};

/// The documents of `text` (a file named `name`) in kubeadm.k8s.io/v1beta4.
pub fn migrate(text: &str, name: &str) -> Result<String> {
    let (docs, problems) = parse(text, name);
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    let mut init = docs.init.clone();
    let mut cluster = docs.cluster.clone();
    if let Some(t) = cluster.api_server.timeout_for_control_plane.take() {
        init.timeouts.control_plane_component_health_check = t;
    }
    let v4 = ApiVersion::V1Beta4;
    let mut out = Vec::new();
    if docs.has_init_kinds {
        out.push(document(v4, "InitConfiguration", &init, &init)?);
        out.push(document(v4, "ClusterConfiguration", &cluster, &init)?);
    }
    if let Some(join) = &docs.join {
        let mut join = join.clone();
        let mut timeouts = join.timeouts.take().unwrap_or_else(Timeouts::default);
        if let Some(t) = join.discovery.timeout.take() {
            timeouts.discovery = t;
        }
        join.timeouts = Some(timeouts);
        out.push(document(v4, "JoinConfiguration", &join, &init)?);
    }
    if let Some(reset) = &docs.reset {
        out.push(document(v4, "ResetConfiguration", reset, &init)?);
    }
    for component in [&docs.kubelet, &docs.kube_proxy].into_iter().flatten() {
        out.push(serde_yaml::to_string(&Value::Mapping(component.clone()))?);
    }
    Ok(out.join("---\n"))
}
