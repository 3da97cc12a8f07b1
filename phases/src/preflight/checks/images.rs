//! Images: present in the runtime, or pulled (`ImagePull`).

use std::time::Duration;

use super::runtime::CRI_TIMEOUT;
use crate::cri;
use crate::preflight::{Issue, Probe};

/// How long one image pull may take; a status question takes [`CRI_TIMEOUT`].
pub(super) const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// The registry host of an image reference (`docker.io` when it names none).
pub(super) fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((host, _)) if host.contains(['.', ':']) || host == "localhost" => host,
        _ => "docker.io",
    }
}

/// kubeadm's `ImagePull`: every image of the control plane present in the runtime, pulled per
/// `nodeRegistration.imagePullPolicy`.
pub(crate) fn image_pull(p: &Probe) -> Vec<Issue> {
    let policy = p.ctx.cfg.init.node_registration.image_pull_policy.as_str();
    if policy == "Never" {
        return vec![];
    }
    if policy != "IfNotPresent" && policy != "Always" {
        return vec![
            Issue::error(format!("unsupported pull policy {policy:?}"))
                .fix("set nodeRegistration.imagePullPolicy to IfNotPresent, Always or Never"),
        ];
    }
    let socket = match p.ctx.root.physical(p.socket_path()) {
        Ok(s) => s,
        Err(e) => return vec![Issue::error(format!("{e:#}"))],
    };
    let host = p.ctx.host.as_ref();
    let mut issues = Vec::new();
    for image in crate::version::images::all(&p.ctx.cfg) {
        // The run stops before the next phase; pulling on would only delay it.
        if p.ctx.interrupt.check().is_err() {
            break;
        }
        if policy == "IfNotPresent" {
            match host.image_present(&socket, &image, CRI_TIMEOUT) {
                Ok(true) => {
                    p.ctx
                        .out
                        .detail(&format!("[preflight] image {image} exists"));
                    continue;
                }
                Ok(false) => {}
                Err(e @ cri::CallError::Connect(_)) => {
                    // No runtime: every other image would fail the same way.
                    issues.push(
                        Issue::error(format!("failed to check if image {image} exists: {e}"))
                            .why("nothing answers on the CRI socket; see the CRI check"),
                    );
                    break;
                }
                Err(e) => issues.push(Issue::error(format!(
                    "failed to check if image {image} exists: {e}"
                ))),
            }
        }
        p.ctx.out.detail(&format!("[preflight] pulling {image}"));
        if let Err(e) = host.pull_image(&socket, &image, PULL_TIMEOUT) {
            let registry = registry_of(&image);
            issues.push(
                Issue::error(format!("failed to pull image {image}: {e}"))
                    .why(format!("the container runtime could not fetch it from {registry}"))
                    .fix(format!("check that this host reaches {registry} (and the runtime's proxy settings, e.g. HTTPS_PROXY in containerd's systemd unit)"))
                    .fix("or pull from a registry it reaches: --image-repository <registry>")
                    .fix(format!("or load it beforehand from a tarball: ctr -n k8s.io images import <file>.tar   (an archive holding {image})")),
            );
        }
    }
    issues
}
