//! The `cleanup-node` phase of reset: stop the kubelet, unmount its folders, remove every pod
//! through the runtime, empty the folders and delete the files init wrote, then name whatever is
//! still there.

use std::time::Duration;

use anyhow::Result;

use crate::fs::paths;
use crate::phases::cleanup_network;
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

/// The `cleanup-node` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    let dry = ctx.opts.dry_run;
    // Under another --root, the machine's own kubelet belongs to the machine, not to this reset.
    let this_machine = ctx.root.base() == std::path::Path::new("/");
    if !this_machine {
        ctx.out.status(
            "reset",
            &format!(
                "--root is {}, not /: the kubelet service of this machine is left alone",
                ctx.root.base().display()
            ),
        );
    } else if dry {
        ctx.out.status("reset", "Would stop the kubelet service");
    } else {
        ctx.out.status("reset", "Stopping the kubelet service");
        match super::kubelet_service::stop(ctx) {
            Ok(true) => {}
            Ok(false) => ctx.out.warn(
                "reset",
                "no service manager runs here, so kubestrap cannot stop the kubelet: stop the one you started, or it runs the removed pods again",
            ),
            Err(e) => {
                ctx.out.warn(
                    "reset",
                    &format!("The kubelet service could not be stopped by kubestrap: {e:#}"),
                );
                ctx.out
                    .warn("reset", "Please ensure kubelet is stopped manually");
            }
        }
    }
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
        let physical = ctx.root.physical(kubelet_dir)?;
        let physical = physical.canonicalize().unwrap_or(physical);
        if let Err(e) = ctx.host.unmount_under(&physical) {
            ctx.out.warn("reset", &format!("{e:#}"));
        }
    }
    remove_containers(ctx);

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
        empty_dir(ctx, dir);
    }
    ctx.out
        .status("reset", &format!("{verb} files: [{}]", files.join(" ")));
    for file in &files {
        remove(ctx, file);
    }
    if let Err(e) = super::kubelet_service::remove(ctx) {
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
        cleanup_network::run(ctx);
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
    if let Some(etcd) = &ctx.etcd_data_dir_emptied {
        dirs.push(etcd.clone());
    }
    let files = KUBECONFIGS.iter().map(|f| paths::kubeconfig(f)).collect();
    (dirs, files)
}

/// Stops and removes every pod sandbox of the runtime (and so every container).
fn remove_containers(ctx: &Context) {
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
                .remove_pod_sandboxes(&path, CRI_TIMEOUT)
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

/// Removes what a folder holds; the folder stays, as kubeadm leaves it.
pub fn empty_dir(ctx: &Context, dir: &str) {
    match ctx.root.list(dir) {
        Ok(names) => {
            for name in names {
                remove(ctx, &format!("{dir}/{name}"));
            }
        }
        Err(_) if !ctx.root.exists(dir) => {}
        Err(e) => ctx.out.warn("reset", &format!("{e:#}")),
    }
}

/// Removes a file or folder. A failure (a busy mount, say) does not stop the reset: it is
/// named here and again among what is left at the end.
fn remove(ctx: &Context, path: &str) {
    if let Err(e) = ctx.root.remove_all(path) {
        ctx.out.warn("reset", &format!("{e:#}"));
    }
}

/// Looks again at everything reset is responsible for and names what is still there.
fn report_leftovers(ctx: &Context, dirs: &[String], files: &[String]) -> Result<()> {
    let mut left = Vec::new();
    for dir in dirs {
        if ctx.root.exists(dir) {
            left.extend(
                ctx.root
                    .list(dir)?
                    .into_iter()
                    .map(|n| format!("{dir}/{n}")),
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
