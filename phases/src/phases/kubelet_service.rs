//! The kubelet's systemd service, as kubelet-start needs it: a unit that starts the kubelet with
//! the files init and join write. kubeadm relies on its package's `10-kubeadm.conf` for that;
//! kubestrap writes its own drop-in (and a whole unit for a kubelet installed by hand) when the
//! effective unit does not, and reset removes what it wrote.

use anyhow::{Result, bail};

use crate::host::kubelet_unit::{self, State};
use crate::host::{ServiceState, has_systemctl};
use crate::runner::context::Context;

/// Makes the kubelet's unit read kubestrap's files, then `daemon-reload` and `enable` as
/// needed. Nothing to do where no systemd (or stand-in) runs the kubelet.
pub fn ensure(ctx: &Context) -> Result<()> {
    if !has_systemctl(ctx.host.as_ref(), &ctx.root) {
        return Ok(());
    }
    let path = ctx.host.env("PATH");
    let state = kubelet_unit::inspect(&ctx.root, path.as_deref())?;
    let files = kubelet_unit::files_for(&state)?;
    if files.is_empty() {
        ctx.out.status("kubelet-start", &state.describe());
    } else {
        ctx.out.status(
            "kubelet-start",
            &format!("{}; kubestrap writes what it needs", state.describe()),
        );
        for (path, text) in &files {
            ctx.out.status(
                "kubelet-start",
                &format!("Writing the kubelet's systemd unit file \"{path}\""),
            );
            ctx.root.write(path, text.as_bytes(), 0o644)?;
        }
        let after = kubelet_unit::inspect(&ctx.root, path.as_deref())?;
        if !matches!(after, State::Reads { .. }) {
            bail!(
                "{} even with kubestrap's drop-in `{}`: a later drop-in replaces its ExecStart=. Make that drop-in start the kubelet with $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS (or remove it), then run this again",
                after.describe(),
                kubelet_unit::DROP_IN
            );
        }
        systemctl(ctx, &["daemon-reload"])?;
    }
    // A unit kubestrap just wrote is not enabled yet; a package's usually is.
    let enabled = !files.iter().any(|(p, _)| *p == kubelet_unit::UNIT)
        && !ctx.opts.dry_run
        && ctx.host.service_state(kubelet_unit::SERVICE) == ServiceState::Enabled;
    if !enabled {
        systemctl(ctx, &["enable", kubelet_unit::SERVICE])?;
    }
    Ok(())
}

/// reset: removes the unit files kubestrap wrote (never a package's), then `daemon-reload`.
pub fn remove(ctx: &Context) -> Result<()> {
    let ours = kubelet_unit::kubestrap_files(&ctx.root);
    if ours.is_empty() {
        return Ok(());
    }
    let verb = if ctx.opts.dry_run {
        "Would delete"
    } else {
        "Deleting"
    };
    ctx.out.status(
        "reset",
        &format!(
            "{verb} the kubelet unit files kubestrap wrote: [{}]",
            ours.join(" ")
        ),
    );
    for path in &ours {
        ctx.root.remove_all(path)?;
    }
    if has_systemctl(ctx.host.as_ref(), &ctx.root) {
        systemctl(ctx, &["daemon-reload"])?;
    }
    Ok(())
}

fn systemctl(ctx: &Context, args: &[&str]) -> Result<()> {
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            &format!("would run `systemctl {}`", args.join(" ")),
        );
        return Ok(());
    }
    ctx.host.run("systemctl", args)
}
