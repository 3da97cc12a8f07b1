//! The `cleanup-node` phase of reset: stop the kubelet, unmount its folders, remove every pod
//! through the runtime, empty the folders and delete the files init wrote, then name whatever is
//! still there.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::fs::paths;
use crate::fs::remove::MountsLeft;
use crate::fs::system_dirs;
use crate::host;
use crate::phases::reset::network;
use crate::runner::context::Context;
use crate::runner::resume;

/// The kubeconfig files reset deletes.
const KUBECONFIGS: [&str; 6] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// How long removing every pod through the runtime may take.
const CRI_TIMEOUT: Duration = Duration::from_secs(120);

/// What this reset did with the host's kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kubelet {
    /// Stopped by its service manager.
    Stopped,
    /// Still running (no service manager, or it would not stop): it may start the removed pods
    /// again.
    LeftRunning,
    /// Not this reset's to stop (a dry run, or another --root).
    NotOurs,
}

/// The `cleanup-node` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    let dry = ctx.opts.dry_run;
    let kubelet = if let Some(why) =
        host::foreign_root(ctx.host.as_ref(), &ctx.root, "systemctl stop kubelet")
    {
        // Under another --root, the machine's own kubelet belongs to the machine, not to this reset.
        ctx.out.status("reset", &why);
        Kubelet::NotOurs
    } else if dry {
        ctx.out.status("reset", "Would stop the kubelet service");
        Kubelet::NotOurs
    } else {
        ctx.out.status("reset", "Stopping the kubelet service");
        match crate::phases::kubelet::stop_service(ctx) {
            Ok(true) => Kubelet::Stopped,
            Ok(false) => {
                ctx.out.warn(
                    "reset",
                    "no service manager runs here, so kubestrap cannot stop the kubelet: stop the one you started, or it runs the removed pods again",
                );
                Kubelet::LeftRunning
            }
            Err(e) => {
                ctx.out.warn(
                    "reset",
                    &format!("The kubelet service could not be stopped by kubestrap: {e:#}"),
                );
                ctx.out
                    .warn("reset", "Please ensure kubelet is stopped manually");
                Kubelet::LeftRunning
            }
        }
    };
    let kubelet_dir = paths::KUBELET_DIR;
    if dry {
        ctx.out.status(
            "reset",
            &format!("Would unmount mounted directories in {kubelet_dir:?}"),
        );
    } else {
        ctx.out.status(
            "reset",
            &format!("Unmounting mounted directories in {kubelet_dir:?}"),
        );
        // The folder it is inside the root: a link must not lead the unmounting out of it.
        let unmounted = ctx.root.resolve(kubelet_dir).and_then(|real| {
            let physical = ctx.root.physical(real)?;
            ctx.host
                .unmount_under(&physical.canonicalize().unwrap_or(physical))
        });
        match unmounted {
            Ok(done) => {
                // Emptying the folder leaves each with its files; reset fails at the end.
                for busy in done.busy {
                    ctx.out
                        .warn("reset", &format!("{busy}: nothing in it is deleted"));
                }
            }
            Err(e) => ctx.out.warn("reset", &format!("{e:#}")),
        }
    }
    // Only with the kubelet stopped is the runtime listed again after removing its sandboxes: a
    // running kubelet answers each removal by starting the pod again (etcd on its emptied folder).
    remove_containers(ctx, kubelet == Kubelet::Stopped);

    let cert_dir = ctx.cert_dir().to_string();
    if cert_dir != paths::DEFAULT_CERT_DIR {
        ctx.out.warn(
            "reset",
            &format!("Cleaning a non-default certificates directory: {cert_dir:?}"),
        );
    }
    let (dirs, files) = managed(ctx);
    let verb = if dry { "Would delete" } else { "Deleting" };
    ctx.out.status(
        "reset",
        &format!("{verb} contents of directories: [{}]", dirs.join(" ")),
    );
    for dir in &dirs {
        let left = empty_dir(ctx, dir);
        ctx.outputs.left_mounted.extend(left);
    }
    ctx.out
        .status("reset", &format!("{verb} files: [{}]", files.join(" ")));
    for file in &files {
        let left = remove(ctx, file);
        ctx.outputs.left_mounted.extend(left);
    }
    if let Err(e) = crate::phases::kubelet::remove_service(ctx) {
        ctx.out.warn("reset", &format!("{e:#}"));
    }
    // A kubelet still running may start etcd into its emptied folder again: the next reset (once
    // the kubelet is stopped) empties it again, though the manifest is gone by then.
    if kubelet != Kubelet::LeftRunning
        && let Err(e) = ctx.root.remove_all(paths::ETCD_DATA_DIR_EMPTIED)
    {
        ctx.out.warn("reset", &format!("{e:#}"));
    }
    if ctx.root.exists(resume::STATE) {
        ctx.out.status(
            "reset",
            &format!("{verb} the record of the earlier init: {}", resume::STATE),
        );
    }
    if let Err(e) = resume::forget(&ctx.root) {
        ctx.out.warn("reset", &format!("{e:#}"));
    }
    if ctx.opts.cleanup_network {
        network::run(ctx);
    }
    if !dry {
        report_leftovers(ctx, &dirs, &files)?;
    }
    Ok(())
}

/// The folders whose contents and the files that cleanup-node removes.
pub fn managed(ctx: &Context) -> (Vec<String>, Vec<String>) {
    let mut dirs = vec![
        paths::MANIFESTS_DIR.to_string(),
        paths::KUBELET_DIR.to_string(),
        ctx.cert_dir().to_string(),
    ];
    if ctx.opts.cleanup_tmp_dir {
        dirs.push(format!("{}/tmp", paths::KUBERNETES_DIR));
    }
    if let Ok(Some(etcd)) = ctx.root.read_optional(paths::ETCD_DATA_DIR_EMPTIED) {
        dirs.push(String::from_utf8_lossy(&etcd).trim().to_string());
    }
    let files = KUBECONFIGS.iter().map(|f| paths::kubeconfig(f)).collect();
    (dirs, files)
}

/// Stops and removes every pod sandbox of the runtime (and so every container); listing it again
/// until it is empty when `kubelet_stopped`.
fn remove_containers(ctx: &Context, kubelet_stopped: bool) {
    if ctx.opts.dry_run {
        ctx.out
            .status("reset", "Would remove Kubernetes-managed containers");
        return;
    }
    let socket = ctx.cfg.cri_socket_path();
    let removed = ctx
        .root
        .physical(socket)
        .map_err(|e| format!("{e:#}"))
        .and_then(|path| {
            ctx.host
                .remove_pod_sandboxes(&path, CRI_TIMEOUT, kubelet_stopped)
                .map_err(|e| e.to_string())
        });
    match removed {
        Ok(pods) => ctx.out.status(
            "reset",
            &format!("Removed {} pod sandboxes and their containers", pods.len()),
        ),
        Err(e) => ctx.out.warn(
            "reset",
            &format!(
                "failed to remove the containers through {}: {e}; remove them with `crictl rmp -af`",
                ctx.cfg.cri_socket
            ),
        ),
    }
}

/// Empties etcd's data folder `data_dir` and records it for cleanup-node, which empties it again
/// once the kubelet is stopped and the pods are gone: until then the kubelet may restart etcd
/// (a removed member exits) into the emptied folder, even after its manifest is deleted.
pub fn empty_etcd_data_dir(ctx: &Context, data_dir: &str) -> Result<()> {
    empty_dir(ctx, data_dir);
    ctx.root.create_dir(paths::STATE_DIR, 0o755)?;
    ctx.root
        .write(paths::ETCD_DATA_DIR_EMPTIED, data_dir.as_bytes(), 0o644)
}

/// Removes what a folder holds; the folder stays, as kubeadm leaves it. The folder is the one it
/// really is under the root (its links followed inside the root); a system folder is refused.
/// Returns the mount points left in it (see [`crate::fs::root::Root::remove_all`]).
pub fn empty_dir(ctx: &Context, dir: &str) -> Vec<String> {
    let real = match ctx.root.resolve(dir) {
        Ok(real) => real,
        Err(e) => {
            ctx.out.warn("reset", &format!("{e:#}; its contents stay"));
            return Vec::new();
        }
    };
    if system_dirs::is_system_dir(&real) {
        ctx.out.warn(
            "reset",
            &format!(
                "{dir} is the system folder {} (through symbolic links under the root): kubestrap empties no system folder, so its contents stay",
                real.display()
            ),
        );
        return Vec::new();
    }
    if real != system_dirs::normalize(Path::new(dir)) {
        ctx.out.status(
            "reset",
            &format!(
                "{dir} leads to {} under the root: emptying that",
                real.display()
            ),
        );
    }
    let real = real.display().to_string();
    match ctx.root.list(&real) {
        Ok(names) => names
            .into_iter()
            .flat_map(|name| remove(ctx, &format!("{real}/{name}")))
            .collect(),
        Err(_) if !ctx.root.exists(&real) => Vec::new(),
        Err(e) => {
            ctx.out.warn("reset", &format!("{e:#}"));
            Vec::new()
        }
    }
}

/// Removes a file or folder. A failure (a busy mount, say) does not stop the reset: it is
/// named here and again among what is left at the end. Returns the mount points left.
fn remove(ctx: &Context, path: &str) -> Vec<String> {
    match ctx.root.remove_all(path) {
        Ok(()) => Vec::new(),
        Err(e) => {
            ctx.out.warn("reset", &format!("{e:#}"));
            e.downcast_ref::<MountsLeft>()
                .map(|m| m.0.clone())
                .unwrap_or_default()
        }
    }
}

/// Looks again at everything reset is responsible for and names what is still there.
fn report_leftovers(ctx: &Context, dirs: &[String], files: &[String]) -> Result<()> {
    let mut left = Vec::new();
    for dir in dirs {
        // The folder emptied: the one the path leads to inside the root.
        let real = ctx.root.resolve(dir)?.display().to_string();
        if ctx.root.exists(&real) && !system_dirs::is_system_dir(Path::new(&real)) {
            left.extend(
                ctx.root
                    .list(&real)?
                    .into_iter()
                    .map(|n| format!("{real}/{n}")),
            );
        }
    }
    left.extend(files.iter().filter(|f| ctx.root.exists(f)).cloned());
    if left.is_empty() {
        ctx.out.status(
            "reset",
            "Checked: the manifests, the kubelet's folder, the certificates and the kubeconfigs are gone",
        );
    } else {
        ctx.out.warn(
            "reset",
            &format!("still present after the reset: {}", left.join(", ")),
        );
    }
    Ok(())
}
