//! Restarting a control-plane static pod so it reads its renewed certificates: a static pod
//! cannot be restarted through the API, so its manifest is moved out of the manifests folder,
//! the kubelet is watched (through the container runtime) until it stopped the pod, the manifest
//! is put back, and the new container is waited for until the kubelet's own probes pass.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::api::http::HttpTransport;
use crate::api::{Method, Request, Transport};
use crate::fs::paths;
use crate::phases::control_plane::wait;
use crate::render::staticpod::{HealthCheck, health_checks};
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait, Waited};

/// How often the runtime and the probes are asked while waiting.
const POLL: Duration = Duration::from_millis(200);

/// Where a manifest waits while its pod is stopped (outside the folder the kubelet watches).
pub const PARKING_DIR: &str = "/etc/kubernetes/tmp/kubestrap-restart";

/// The control-plane static pods, in the order they restart: etcd first, as the API server
/// needs it.
pub const ORDER: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// Whether a component answers one of its manifest's health checks with 200.
pub fn answers(probe: &HealthCheck) -> bool {
    let transport = if probe.base.starts_with("https://") {
        HttpTransport::local_insecure(&probe.base)
    } else {
        HttpTransport::plain(&probe.base)
    };
    transport
        .and_then(|t| t.send(&Request::new(Method::Get, &probe.path)))
        .is_ok_and(|r| r.status == 200)
}

/// The ids of the running containers of a control-plane component (the container named like
/// the component, in its kube-system static pod `<component>-<node>`).
fn running(ctx: &Context, component: &str) -> Result<Vec<String>> {
    let socket = ctx.cfg.cri_socket_path();
    let containers = crate::cri::containers(Path::new(socket), Duration::from_secs(5))
        .map_err(|e| anyhow::anyhow!("failed to list containers through CRI at `{socket}`: {e}"))?;
    let prefix = format!("{component}-");
    Ok(containers
        .into_iter()
        .filter(|c| {
            c.name == component
                && c.namespace == "kube-system"
                && c.pod.starts_with(&prefix)
                && c.state == "CONTAINER_RUNNING"
        })
        .map(|c| c.id)
        .collect())
}

/// Restarts one control-plane static pod (see the module doc); each wait is bounded by the
/// control-plane timeout. The manifest is put back whatever happens.
pub fn restart(ctx: &Context, component: &str) -> Result<()> {
    let manifest = paths::manifest(component);
    if !ctx.root.exists(&manifest) {
        bail!(
            "`{manifest}` does not exist: {component} does not run as a static pod on this node\n\nhint: run the restart on the control-plane node that runs {component}"
        );
    }
    let bytes = ctx.root.read(&manifest)?;
    let mode = ctx.root.mode(&manifest)?;
    let probes = health_checks(&String::from_utf8_lossy(&bytes))
        .with_context(|| format!("failed to read the probes of `{manifest}`"))?;
    let before = running(ctx, component)?;
    let timeout = wait::control_plane_timeout(ctx);
    let limit = crate::config::duration::format(timeout);
    let parked = format!("{PARKING_DIR}/{component}.yaml");
    ctx.root.write(&parked, &bytes, mode)?;
    ctx.root.remove_all(&manifest)?;
    ctx.out.status(
        "restart",
        &format!("Moved `{manifest}` to `{parked}`; waiting for the kubelet to stop {component}"),
    );
    let stopped = wait_until(ctx, timeout, &format!("stopping {component}"), || {
        Ok(running(ctx, component)?.is_empty())
    });
    let put_back = ctx
        .root
        .write(&manifest, &bytes, mode)
        .and_then(|()| ctx.root.remove_all(&parked));
    if let Err(e) = put_back {
        return Err(e.context(format!(
            "failed to put `{manifest}` back: copy `{parked}` there by hand to start {component} again"
        )));
    }
    let started = Instant::now();
    match stopped {
        Ok(true) => {}
        Ok(false) => bail!(
            "the kubelet did not stop {component} within {limit} after its manifest was moved out (the manifest is back in place)\n\nhint: check that the kubelet runs and watches `{}` (`systemctl status kubelet`)",
            paths::MANIFESTS_DIR
        ),
        Err(e) => return Err(e),
    }
    ctx.out.status(
        "restart",
        &format!("{component} stopped; manifest back, waiting for it to be healthy"),
    );
    let healthy = wait_until(ctx, timeout, &format!("starting {component}"), || {
        let now = running(ctx, component)?;
        Ok(now.iter().any(|id| !before.contains(id)) && probes.iter().all(answers))
    })?;
    if !healthy {
        let running_now = running(ctx, component)?;
        let why = if running_now.iter().any(|id| !before.contains(id)) {
            format!(
                "its new container runs but does not pass its probes ({})",
                probes
                    .iter()
                    .map(|p| format!("{}{}", p.base, p.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            "the kubelet has not started a new container (its log says why: a pod sandbox or image it cannot get, a file the manifest names that is missing)".to_string()
        };
        let logs = wait::container_logs(ctx, component)
            .map(|l| {
                format!(
                    "\n{component}: last lines of its log:\n    {}",
                    l.tail.join("\n    ")
                )
            })
            .unwrap_or_default();
        bail!(
            "{component} is not healthy {limit} after its manifest was put back: {why}{logs}\n\nhint: see the kubelet's log (`journalctl -u kubelet -n 100`) and `crictl ps -a --name {component}`; `{manifest}` is in place, so the kubelet keeps trying"
        );
    }
    ctx.out.status(
        "restart",
        &format!(
            "{component} is healthy again after {:.1}s",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// Polls `done` until it says yes (`Ok(true)`) or `timeout` passes (`Ok(false)`).
fn wait_until(
    ctx: &Context,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "restart",
        what,
        POLL,
        timeout,
    )
    .until(|| {
        Ok(match done()? {
            true => Poll::Ready(()),
            false => Poll::Pending(String::new()),
        })
    })?;
    Ok(waited == Waited::Ready(()))
}

/// The kube-apiserver's address on this node (`https://host:port`), from its manifest's probes.
pub fn apiserver_url(ctx: &Context) -> Result<String> {
    let manifest = paths::manifest("kube-apiserver");
    let text = ctx.root.read_to_string(&manifest)?;
    health_checks(&text)?
        .into_iter()
        .map(|p| p.base)
        .find(|b| b.starts_with("https://"))
        .with_context(|| format!("`{manifest}` has no HTTPS probe to find the API server by"))
}
