//! This machine's Node object: waiting for the kubelet to register it, its CRI-socket
//! annotation (kubeadm's `app/phases/patchnode`), and its control-plane labels and taints
//! (`mark`, kubeadm's `app/phases/markcontrolplane`).

pub mod mark;

pub use mark::{TAINT_KEYS, mark_node, mark_patch, run as mark_control_plane, untaint_patch};

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::api::Api;
use crate::api::node::{change_node_from, node_ref};
use crate::api::objects::Node;
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait, Waited};

/// The annotation with the node's CRI socket (before the kubelet keeps it itself, 1.34).
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// How often the API server is asked for the node.
const POLL: Duration = Duration::from_millis(50);

/// Waits (`wait`: how often and how long) for the kubelet to register node `name`, asking
/// through `api`.
pub fn until_registered(wait: Wait<'_>, api: &Api<'_>, name: &str) -> Result<Waited<Node>> {
    let target = node_ref(name)?;
    wait.until(|| {
        Ok(match api.get::<Node>(&target)? {
            Some(node) => Poll::Ready(node),
            None => Poll::Pending(String::new()),
        })
    })
}

/// Waits for the kubelet to register this node (asking through `api`), showing progress.
pub fn wait_for_node(ctx: &Context, api: &Api<'_>, timeout: Duration) -> Result<Node> {
    let wait = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "kubelet-check",
        format!(
            "Waiting for the kubelet to register node {:?}",
            ctx.cfg.node_name
        ),
        POLL,
        timeout,
    );
    until_registered(wait, api, &ctx.cfg.node_name)?.or_else(|_| {
        anyhow::anyhow!(
            "node {:?} did not register within {}\n\nhint: check that the kubelet runs (`systemctl status kubelet`) and that `nodeRegistration.name` matches the name the kubelet registers with",
            ctx.cfg.node_name,
            crate::config::duration::format(timeout)
        )
    })
}

/// How long to wait for the node: `timeouts.kubeletHealthCheck` (4 m by default).
pub fn node_timeout(ctx: &Context) -> Duration {
    crate::config::duration::parse(&ctx.cfg.init.timeouts.kubelet_health_check)
        .unwrap_or(Duration::from_secs(240))
}

/// Records this node's CRI socket in its annotation (when it is not there yet), starting from
/// `node` as just read.
pub fn annotate_cri_socket(ctx: &Context, api: &Api<'_>, node: Node) -> Result<bool> {
    let socket = ctx.cfg.cri_socket.clone();
    change_node_from(api, node, |node| {
        (node.metadata.annotations.get(CRI_SOCKET_ANNOTATION) != Some(&socket)).then(|| {
            json!({"metadata": {
                "annotations": {CRI_SOCKET_ANNOTATION: socket},
                "resourceVersion": node.metadata.resource_version,
            }})
        })
    })
}
