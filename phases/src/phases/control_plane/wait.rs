//! The `wait-control-plane` phase: polls the kubelet's healthz, the API server's `/healthz`,
//! `/livez` and `/readyz`, and the controller-manager's and scheduler's healthz every 200 ms.
//! When a component crash-loops or the wait times out, it names the failing component and shows
//! the last lines of its container logs under `/var/log/pods` instead of a generic checklist.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::api::http::HttpTransport;
use crate::api::{Method, Request, Transport};
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait, Waited};

/// How often each endpoint is polled: every poll is a loopback request, and each one saved
/// between "healthy" and "noticed" is time the user waits for nothing.
const POLL: Duration = Duration::from_millis(50);
/// How often the runtime is asked for crash-looping control-plane containers while waiting.
const CRASH_CHECK: Duration = Duration::from_secs(5);
/// The kubelet's healthz.
pub const KUBELET_HEALTHZ: &str = "http://127.0.0.1:10248";
/// Restarts of a control-plane container that count as a crash loop.
const CRASH_LOOP_RESTARTS: u32 = 2;
/// Log lines shown per failing component.
const LOG_LINES: usize = 15;

/// The control-plane static pods, with their local health endpoint (none for etcd: the API
/// server's health covers it).
pub const COMPONENTS: &[(&str, Option<&str>)] = &[
    ("etcd", None),
    ("kube-apiserver", None),
    ("kube-controller-manager", Some("https://127.0.0.1:10257")),
    ("kube-scheduler", Some("https://127.0.0.1:10259")),
];

/// The timeout for the control plane: v1beta4 `timeouts.controlPlaneComponentHealthCheck`, or
/// v1beta3 `apiServer.timeoutForControlPlane` (4 m by default).
pub fn control_plane_timeout(ctx: &Context) -> Duration {
    let text = ctx
        .cfg
        .cluster
        .api_server
        .timeout_for_control_plane
        .clone()
        .unwrap_or_else(|| {
            ctx.cfg
                .init
                .timeouts
                .control_plane_component_health_check
                .clone()
        });
    crate::config::duration::parse(&text).unwrap_or(Duration::from_secs(240))
}

fn healthy(t: &dyn Transport, path: &str) -> bool {
    t.send(&Request::new(Method::Get, path))
        .is_ok_and(|r| r.status == 200)
}

/// Where to look when no kubelet answers: the service manager's status and log, or, where none
/// runs, the kubelet that was to be started by hand.
fn kubelet_hint(ctx: &Context) -> String {
    match crate::host::service_manager::detect(ctx.host.as_ref(), &ctx.root) {
        Some(manager) => format!("\n\nhint: see why with {}", manager.log_hint("kubelet")),
        None => "; no kubelet came up: no service manager runs here, so nothing starts it but you\n\nhint: start the kubelet with the command line of kubelet-start's warning above (keep it running), then run this again: init resumes where it stopped".to_string(),
    }
}

/// The `wait-control-plane` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            "would wait for the kubelet and the control plane to become healthy",
        );
        return Ok(());
    }
    let timeout = control_plane_timeout(ctx);
    let limit = crate::config::duration::format(timeout);
    ctx.out.status(
        "wait-control-plane",
        &format!(
            "Waiting for the kubelet to boot up the control plane as static Pods from directory \"{}\"",
            crate::fs::paths::MANIFESTS_DIR
        ),
    );
    // Kubelet.
    let kubelet = HttpTransport::plain(KUBELET_HEALTHZ)?;
    let kubelet_timeout =
        crate::config::duration::parse(&ctx.cfg.init.timeouts.kubelet_health_check)
            .unwrap_or(Duration::from_secs(240));
    ctx.out.status(
        "kubelet-check",
        &format!(
            "Waiting for a healthy kubelet at {KUBELET_HEALTHZ}/healthz. This can take up to {}",
            crate::config::duration::format(kubelet_timeout)
        ),
    );
    let started = Instant::now();
    Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "kubelet-check",
        "waiting for the kubelet",
        POLL,
        kubelet_timeout,
    )
    .until(|| {
        Ok(match healthy(&kubelet, "/healthz") {
            true => Poll::Ready(()),
            false => Poll::Pending(String::new()),
        })
    })?
    .or_else(|_| {
        anyhow::anyhow!(
            "the kubelet is not healthy at {KUBELET_HEALTHZ}/healthz after {}{}",
            crate::config::duration::format(kubelet_timeout),
            kubelet_hint(ctx)
        )
    })?;
    ctx.out.status(
        "kubelet-check",
        &format!(
            "The kubelet is healthy after {:.3}s",
            started.elapsed().as_secs_f64()
        ),
    );

    // Control plane.
    ctx.out.status(
        "api-check",
        &format!("Waiting for a healthy API server and control plane. This can take up to {limit}"),
    );
    let mut locals = Vec::new();
    for (name, url) in COMPONENTS {
        if let Some(url) = url {
            locals.push((*name, HttpTransport::local_insecure(url)?));
        }
    }
    let client = ctx.health_client()?;
    let api = client.with(ctx);
    let started = Instant::now();
    let mut last_crash_check = Instant::now();
    let mut pending = Vec::new();
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "api-check",
        "waiting for the control plane",
        POLL,
        timeout,
    )
    .until(|| {
        pending.clear();
        if !["/healthz", "/livez", "/readyz"]
            .iter()
            .all(|p| api.healthy(p).unwrap_or(false))
        {
            pending.push("kube-apiserver");
        }
        let api_up = pending.is_empty();
        let mut starting = Vec::new();
        for (name, t) in &locals {
            if healthy(t, "/healthz") {
                continue;
            }
            // Once the API server serves, a component whose container runs and never restarted
            // is on its way (the later phases do not need it yet); one that crashed is not.
            if api_up
                && runtime_state(ctx, name)
                    .is_some_and(|c| c.state == "CONTAINER_RUNNING" && c.attempt == 0)
            {
                starting.push(*name);
            } else {
                pending.push(name);
            }
        }
        if pending.is_empty() {
            if !starting.is_empty() {
                ctx.out.detail(&format!(
                    "{} running, not serving /healthz yet",
                    starting.join(", ")
                ));
            }
            return Ok(Poll::Ready(()));
        }
        // Every 5 s, look for crash loops so a broken component fails the wait early.
        if last_crash_check.elapsed() >= CRASH_CHECK {
            last_crash_check = Instant::now();
            let crashed = crash_looping(ctx, &pending);
            if !crashed.is_empty() {
                // Only the crash-looping ones fail: the others may just be slow on a busy machine.
                let failing: Vec<&str> = crashed.iter().map(String::as_str).collect();
                let slow: Vec<&str> = pending
                    .iter()
                    .copied()
                    .filter(|c| !failing.contains(c))
                    .collect();
                let why = match slow.as_slice() {
                    [] => "crash-looping".to_string(),
                    slow => format!("crash-looping ({} not healthy yet either)", slow.join(", ")),
                };
                return Err(diagnose(ctx, &failing, &why));
            }
        }
        Ok(Poll::Pending(format!("waiting for {}", pending.join(", "))))
    })?;
    if let Waited::TimedOut(_) = waited {
        return Err(diagnose(
            ctx,
            &pending,
            &format!("not healthy after {limit}"),
        ));
    }
    ctx.out.status(
        "api-check",
        &format!(
            "The API server is healthy after {:.3}s",
            started.elapsed().as_secs_f64()
        ),
    );
    // The client of the next phases, ready now (on 1.29+ that needs a serving API server).
    ctx.api()?;
    Ok(())
}

/// One container's logs under `/var/log/pods`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLogs {
    pub component: String,
    /// Restarts seen (the highest `<n>.log`).
    pub restarts: u32,
    /// The lines that tell why it failed: the first error lines of the newest log (a bad flag
    /// is reported before a long usage text), then its last lines; without the CRI prefix.
    pub tail: Vec<String>,
}

/// Error lines: Go's `Error: …`, klog's `E…`/`F…` lines, panics.
fn is_error_line(line: &str) -> bool {
    let b = line.as_bytes();
    let klog =
        b.len() > 5 && (b[0] == b'E' || b[0] == b'F') && b[1..5].iter().all(u8::is_ascii_digit);
    klog || line.starts_with("Error") || line.starts_with("panic:") || line.contains("error:")
}

/// The error lines (at most 5) and the last lines of a log, in order, each once.
fn telling_lines(lines: &[&str]) -> Vec<String> {
    let start = lines.len().saturating_sub(LOG_LINES);
    let mut picked: Vec<usize> = (0..start)
        .filter(|i| is_error_line(lines[*i]))
        .take(5)
        .collect();
    picked.extend(start..lines.len());
    picked.iter().map(|i| lines[*i].to_string()).collect()
}

/// join's `wait-control-plane` (1.33+, kubeadm's WaitForAllControlPlaneComponents): this
/// node's API server at its advertise address, its controller-manager and its scheduler
/// answer their health checks.
pub fn local_components(ctx: &Context) -> Result<()> {
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            "would wait for this node's kube-apiserver, kube-controller-manager and kube-scheduler to become healthy",
        );
        return Ok(());
    }
    let api_url = format!(
        "https://{}",
        std::net::SocketAddr::new(ctx.cfg.advertise_address, ctx.cfg.bind_port)
    );
    let mut checks = vec![("kube-apiserver", api_url, "/livez")];
    for (name, url) in COMPONENTS {
        if let Some(url) = url {
            checks.push((name, url.to_string(), "/healthz"));
        }
    }
    wait_healthy(ctx, &checks, control_plane_timeout(ctx))
}

/// Polls each `(component, server, path)` until every one answers 200; on timeout, names
/// those that did not and shows their logs.
pub fn wait_healthy(
    ctx: &Context,
    checks: &[(&str, String, &str)],
    timeout: Duration,
) -> Result<()> {
    let limit = crate::config::duration::format(timeout);
    ctx.out.status(
        "control-plane-check",
        &format!("Waiting for healthy control plane components. This can take up to {limit}"),
    );
    let mut probes = Vec::new();
    for (name, server, path) in checks {
        probes.push((*name, HttpTransport::local_insecure(server)?, *path));
        ctx.out.status(
            "control-plane-check",
            &format!("Checking {name} at {server}{path}"),
        );
    }
    let started = Instant::now();
    let mut healthy_ones: Vec<&str> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "control-plane-check",
        "waiting for the control plane components",
        POLL * 4,
        timeout,
    )
    .quiet()
    .until(|| {
        for (name, t, path) in &probes {
            if !healthy_ones.contains(name) && healthy(t, path) {
                healthy_ones.push(name);
                ctx.out.status(
                    "control-plane-check",
                    &format!(
                        "{name} is healthy after {:.3}s",
                        started.elapsed().as_secs_f64()
                    ),
                );
            }
        }
        pending = probes
            .iter()
            .map(|(name, ..)| *name)
            .filter(|name| !healthy_ones.contains(name))
            .collect();
        Ok(match pending.is_empty() {
            true => Poll::Ready(()),
            false => Poll::Pending(pending.join(", ")),
        })
    })?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut(_) => Err(diagnose(
            ctx,
            &pending,
            &format!("not healthy after {limit}"),
        )),
    }
}

/// The newest logs of a control-plane component on this node; `None` when it never started.
pub fn container_logs(ctx: &Context, component: &str) -> Option<ContainerLogs> {
    const PODS: &str = "/var/log/pods";
    let prefix = format!("kube-system_{component}-{}_", ctx.cfg.node_name);
    let mut best: Option<(String, ContainerLogs)> = None;
    for pod in ctx.root.list(PODS).ok()? {
        if !pod.starts_with(&prefix) {
            continue;
        }
        let dir = format!("{PODS}/{pod}/{component}");
        let mut attempts: Vec<(u32, String)> = ctx
            .root
            .list(&dir)
            .ok()?
            .iter()
            .filter_map(|f| Some((f.strip_suffix(".log")?.parse::<u32>().ok()?, f.clone())))
            .collect();
        attempts.sort();
        let Some(restarts) = attempts.last().map(|(n, _)| *n) else {
            continue;
        };
        // The newest attempt that wrote anything: a container that has just been restarted
        // has an empty log, and then its previous attempt says why it stopped.
        let Some(text) = attempts.iter().rev().find_map(|(_, file)| {
            ctx.root
                .read_to_string(format!("{dir}/{file}"))
                .ok()
                .filter(|t| !t.trim().is_empty())
        }) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        // CRI log lines start with an RFC 3339 time: the pod whose last line is newest is current.
        let newest = lines
            .last()
            .map(|l| l.split(' ').next().unwrap_or_default().to_string());
        let messages: Vec<&str> = lines.iter().map(|l| strip_cri_prefix(l)).collect();
        let tail = telling_lines(&messages);
        let logs = ContainerLogs {
            component: component.to_string(),
            restarts,
            tail,
        };
        let newest = newest.unwrap_or_default();
        if best.as_ref().is_none_or(|(t, _)| newest > *t) {
            best = Some((newest, logs));
        }
    }
    best.map(|(_, logs)| logs)
}

/// `2024-01-01T00:00:00.0Z stderr F message` → `message`.
fn strip_cri_prefix(line: &str) -> &str {
    let mut parts = line.splitn(4, ' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("stdout" | "stderr"), Some(_), Some(msg)) => msg,
        _ => line,
    }
}

/// What the runtime says about a control-plane component's container on this node (over CRI);
/// `None` when the runtime cannot be asked or has no such container.
pub fn runtime_state(ctx: &Context, component: &str) -> Option<crate::cri::Container> {
    let socket = ctx.cfg.cri_socket_path();
    let pod = format!("{component}-{}", ctx.cfg.node_name);
    crate::cri::containers(std::path::Path::new(socket), Duration::from_secs(5))
        .ok()?
        .into_iter()
        .filter(|c| c.name == component && c.pod == pod && c.namespace == "kube-system")
        .max_by_key(|c| c.attempt)
}

/// How often a component's container restarted: the runtime's count, or the logs'.
fn restarts(ctx: &Context, component: &str) -> Option<u32> {
    runtime_state(ctx, component)
        .map(|c| c.attempt as u32)
        .or_else(|| container_logs(ctx, component).map(|l| l.restarts))
}

/// The unhealthy components whose container restarted at least twice.
fn crash_looping(ctx: &Context, pending: &[&str]) -> Vec<String> {
    pending
        .iter()
        .filter(|c| restarts(ctx, c).is_some_and(|r| r >= CRASH_LOOP_RESTARTS))
        .map(|c| c.to_string())
        .collect()
}

/// The error of a failed wait: which component fails and its last log lines.
pub fn diagnose(ctx: &Context, pending: &[&str], why: &str) -> anyhow::Error {
    let mut culprits = Vec::new();
    let mut text = String::new();
    // etcd failing takes the API server down with it: look at etcd too.
    let mut candidates: Vec<&str> = pending.to_vec();
    if pending.contains(&"kube-apiserver") {
        candidates.insert(0, "etcd");
    }
    for c in candidates {
        let state = runtime_state(ctx, c);
        let logs = container_logs(ctx, c);
        let restarts = state
            .as_ref()
            .map(|s| s.attempt as u32)
            .or(logs.as_ref().map(|l| l.restarts));
        let running = state
            .as_ref()
            .is_some_and(|s| s.state == "CONTAINER_RUNNING");
        if c == "etcd"
            && !pending.contains(&"etcd")
            && restarts == Some(0)
            && (running || state.is_none())
        {
            continue;
        }
        match (&state, &logs) {
            (None, None) => {
                culprits.push(c.to_string());
                text.push_str(&format!(
                    "\n{c}: no container has started (none known to the runtime or under /var/log/pods): the kubelet did not run `{}`, or its image cannot be pulled",
                    crate::fs::paths::manifest(c)
                ));
                continue;
            }
            (Some(st), _) => {
                culprits.push(format!("{c} (restarted {} times)", st.attempt));
                text.push_str(&format!(
                    "\n{c}: its container is {}{}",
                    st.state.trim_start_matches("CONTAINER_").to_lowercase(),
                    st.exit_code
                        .map(|code| match st.reason.as_str() {
                            "" => format!(", exit code {code}"),
                            reason => format!(", exit code {code} ({reason})"),
                        })
                        .unwrap_or_default()
                ));
            }
            (None, Some(l)) => culprits.push(format!("{c} (restarted {} times)", l.restarts)),
        }
        if let Some(logs) = logs {
            text.push_str(&format!("\n{c}: last lines of its log:\n"));
            for l in &logs.tail {
                text.push_str("    ");
                text.push_str(l);
                text.push('\n');
            }
        }
    }
    anyhow::anyhow!(
        "the control plane is {why}: failing: {}{text}\n\nhint: fix the cause shown in the log (often a wrong extraArgs value in the configuration), then run `kubestrap reset` and `kubestrap init` again",
        if culprits.is_empty() {
            pending.join(", ")
        } else {
            culprits.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_cri_prefix() {
        assert_eq!(
            strip_cri_prefix("2024-01-01T00:00:00.1Z stderr F Error: unknown flag: --bogus"),
            "Error: unknown flag: --bogus"
        );
        assert_eq!(strip_cri_prefix("plain"), "plain");
    }

    #[test]
    fn the_error_before_a_long_usage_text_is_kept() {
        let mut lines = vec!["Error: unknown flag: --bogus-flag", "Usage:"];
        lines.extend(std::iter::repeat_n("      --flag   help text", 40));
        let picked = telling_lines(&lines);
        assert_eq!(picked[0], "Error: unknown flag: --bogus-flag");
        assert_eq!(picked.len(), 1 + LOG_LINES);
        assert!(is_error_line(
            "E1128 03:06:44.220815   15960 server.go:1] boom"
        ));
        assert!(!is_error_line(
            "I1128 03:06:44.220815   15960 serving.go:331] fine"
        ));
    }
}
