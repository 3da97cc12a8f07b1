//! `reset --verify`: looks at the host again after a reset and names everything that would stop
//! the next init or that reset was asked to remove: listeners on the control plane's ports,
//! pod sandboxes and containers in the runtime, mounts under the kubelet's folder, files, and
//! (with `--cleanup-network`) CNI files, interfaces and `KUBE-*` chains.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::fs::paths;
use crate::host;
use crate::phases::reset::{clean, network};
use crate::runner::context::Context;
use crate::runner::resume;
use crate::runner::wait::{Poll, Wait, Waited};

/// The ports of the API server, etcd, the kubelet, the controller-manager and the scheduler.
pub const PORTS: [u16; 6] = [6443, 2379, 2380, 10250, 10257, 10259];

const CRI_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `--verify` looks again before naming what is left.
const SETTLE: Duration = Duration::from_secs(5);

/// Everything still there, one line each; empty when the host is clean.
pub fn leftovers(ctx: &Context) -> Vec<String> {
    let mut left = Vec::new();
    for port in PORTS {
        if ctx.host.port_free(port) && !host::port_listening(&ctx.root, port) {
            continue;
        }
        left.push(match host::port_owner(&ctx.root, port) {
            Some(o) => format!("listener on port {port}: {} (pid {})", o.name, o.pid),
            None => format!("listener on port {port}"),
        });
    }
    let socket = ctx.cfg.cri_socket_path();
    if ctx.root.exists(socket) {
        match ctx
            .root
            .physical(socket)
            .map_err(|e| format!("{e:#}"))
            .and_then(|p| {
                ctx.host
                    .cri_leftovers(&p, CRI_TIMEOUT)
                    .map_err(|e| e.to_string())
            }) {
            Ok(items) => left.extend(items),
            Err(e) => left.push(format!(
                "the container runtime at {} did not say what it holds: {e}",
                ctx.cfg.cri_socket
            )),
        }
    }
    if let Ok(mountinfo) = ctx.root.read_to_string("/proc/self/mountinfo")
        && let Ok(dir) = ctx.root.physical(paths::KUBELET_DIR)
    {
        let dir = dir.canonicalize().unwrap_or(dir);
        for point in host::mount_points_under(&mountinfo, &dir) {
            left.push(format!("mount {}", point.display()));
        }
    }
    let (mut dirs, files) = clean::managed(ctx);
    if let Some(local) = &ctx.cfg.cluster.etcd.local {
        dirs.push(local.data_dir.clone());
    }
    for dir in &dirs {
        for name in ctx.root.list(dir).unwrap_or_default() {
            left.push(format!("file {dir}/{name}"));
        }
    }
    for file in files.iter().map(String::as_str).chain([resume::STATE]) {
        if ctx.root.exists(file) {
            left.push(format!("file {file}"));
        }
    }
    if ctx.opts.cleanup_network {
        left.extend(network::leftovers(ctx));
    }
    left
}

/// `--verify`: fails, naming each, when anything is left. Processes killed a moment ago may
/// still be letting go of their ports: the host is looked at again for a few seconds.
pub fn verify(ctx: &Context) -> Result<()> {
    let mut left = Vec::new();
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "verify",
        "Waiting for the host to be clean",
        Duration::from_millis(250),
        SETTLE,
    )
    .quiet()
    .until(|| {
        left = leftovers(ctx);
        Ok(match left.is_empty() {
            true => Poll::Ready(()),
            false => Poll::Pending(left.join(", ")),
        })
    })?;
    if waited == Waited::Ready(()) {
        ctx.out.status(
            "verify",
            &format!(
                "nothing is left: no listener on ports {}, no pod or container in the runtime, no mount under the kubelet's folder, none of the files{}",
                PORTS.map(|p| p.to_string()).join(", "),
                if ctx.opts.cleanup_network {
                    ", no CNI file, network interface or KUBE-* chain"
                } else {
                    ""
                }
            ),
        );
        return Ok(());
    }
    bail!(
        "reset --verify: {} things are still on this host:\n  - {}\n\nhint: look at each above; run `kubestrap reset --force --verify` again once the processes holding them are stopped",
        left.len(),
        left.join("\n  - ")
    )
}
