//! The checks before an upgrade changes anything: the control plane is healthy (every
//! control-plane Node Ready, this node's manifests on disk and their mirror pods ready) and the
//! target's images are on this node. Each failure is named with kubeadm's check name, which
//! `--ignore-preflight-errors` turns into a warning.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::fs::paths;
use crate::phases::control_plane;
use crate::phases::upgrade::Settings;
use crate::phases::upgrade::cluster::ClusterView;
use crate::phases::upgrade::record::Record;
use crate::render::staticpod;
use crate::runner::context::Context;

/// Whether a check's failure is to be a warning.
fn ignored(settings: &Settings, check: &str) -> bool {
    settings
        .ignore_preflight_errors
        .iter()
        .any(|c| c == "all" || c.eq_ignore_ascii_case(check))
}

/// Fails with every failed check that is not ignored; warns of the ignored ones.
fn verdict(ctx: &Context, settings: &Settings, failed: Vec<(&str, String)>) -> Result<()> {
    let mut errors = Vec::new();
    for (check, problem) in failed {
        if ignored(settings, check) {
            ctx.out
                .warn("preflight", &format!("[{check}]: {problem} (ignored)"));
        } else {
            errors.push(format!("[ERROR {check}]: {problem}"));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    bail!(
        "the upgrade cannot start; nothing was changed:\n\t{}\n\nhint: fix each problem (or, when you know better, pass --ignore-preflight-errors=<check>), then run the same command again",
        errors.join("\n\t")
    )
}

/// `preflight`: the control plane is healthy, as far as this node can tell.
pub fn preflight(ctx: &mut Context) -> Result<()> {
    ctx.out.status("preflight", "Running pre-flight checks.");
    let settings = ctx
        .state::<Settings>()
        .cloned()
        .context("the upgrade's settings are not known to this step")?;
    let Some(view) = ctx.state::<ClusterView>() else {
        return Ok(());
    };
    let mut failed = Vec::new();
    let not_ready: Vec<&str> = view
        .nodes
        .iter()
        .filter(|n| n.control_plane && !n.ready)
        .map(|n| n.name.as_str())
        .collect();
    if !not_ready.is_empty() {
        failed.push((
            "ControlPlaneNodesReady",
            format!(
                "there are NotReady control-plane nodes in the cluster: [{}]",
                not_ready.join(" ")
            ),
        ));
    }
    let node = &ctx.cfg.node_name;
    // A component an interrupted run replaced may still be restarting: the resumed run waits
    // for it instead.
    let resumed: Vec<String> = Record::load(&ctx.root)?
        .map(|r| r.components.into_iter().map(|s| s.component).collect())
        .unwrap_or_default();
    if view
        .nodes
        .iter()
        .any(|n| n.name == *node && n.control_plane)
    {
        for component in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ] {
            let manifest = paths::manifest(component);
            if !ctx.root.exists(&manifest) {
                failed.push((
                    "StaticPodManifest",
                    format!("`{manifest}` does not exist on this control-plane node"),
                ));
                continue;
            }
            match view.pods(component).iter().find(|p| p.node == *node) {
                Some(p) if p.ready || answers_own_probes(ctx, &manifest) => {}
                _ if resumed.iter().any(|c| c == component) => {}
                Some(_) => failed.push((
                    "ControlPlaneHealthy",
                    format!("{component} on this node is not ready (see `kubectl -n kube-system describe pod {component}-{node}`)"),
                )),
                None => failed.push((
                    "ControlPlaneHealthy",
                    format!("{component} has no mirror pod for this node: the kubelet does not run `{manifest}`"),
                )),
            }
        }
    }
    verdict(ctx, &settings, failed)
}

/// Whether the component of `manifest` answers the probes the manifest gives it: the kubelet
/// (v1.20 at least) may keep a static pod it restarted "not ready" for long while it serves.
fn answers_own_probes(ctx: &Context, manifest: &str) -> bool {
    let Ok(text) = ctx.root.read_to_string(manifest) else {
        return false;
    };
    let probes = staticpod::health_checks(&text).unwrap_or_default();
    !probes.is_empty() && probes.iter().all(control_plane::probe_answers)
}

/// The images of the target on this node: each one present is named, a missing one is
/// pulled through the CRI; what still misses is refused (check `ImagePull`) with the command
/// that pulls them.
pub fn images(ctx: &mut Context) -> Result<()> {
    let settings = ctx
        .state::<Settings>()
        .cloned()
        .context("the upgrade's settings are not known to this step")?;
    if ctx.opts.dry_run || settings.images.is_empty() {
        return Ok(());
    }
    let socket = ctx.cfg.cri_socket_path().to_string();
    if settings.image_pull_policy == "Always" {
        return pull_or_refuse(ctx, &settings, &socket, &settings.images);
    }
    let missing: Vec<String> = settings
        .images
        .iter()
        .filter(|i| {
            !matches!(
                crate::cri::image_present(Path::new(&socket), i, Duration::from_secs(10)),
                Ok(true)
            )
        })
        .cloned()
        .collect();
    if missing.is_empty() {
        ctx.out.status(
            "upgrade/prepull",
            &format!(
                "Every image of {} is on this node: {}",
                settings.to,
                settings.images.join(", ")
            ),
        );
        return Ok(());
    }
    pull_or_refuse(ctx, &settings, &socket, &missing)
}

/// Pulls `images` with the settings' policy; what fails is refused (check `ImagePull`).
fn pull_or_refuse(
    ctx: &Context,
    settings: &Settings,
    socket: &str,
    missing: &[String],
) -> Result<()> {
    let pulled = crate::phases::pull_images::pull(
        Path::new(&socket),
        missing,
        &settings.image_pull_policy,
        ctx.out.as_ref(),
    );
    let Err(e) = pulled else {
        return Ok(());
    };
    let repository = &ctx.cfg.cluster.image_repository;
    verdict(
        ctx,
        settings,
        vec![(
            "ImagePull",
            format!(
                "images of {} are missing on this node and could not be pulled ({e:#}): {}\n\thint: pull them first with `kubestrap config images pull --kubernetes-version {} --image-repository {repository}`",
                settings.to,
                missing.join(", "),
                settings.to
            ),
        )],
    )
}
