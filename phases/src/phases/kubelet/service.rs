//! The kubelet's service, as kubelet-start needs it: under systemd a unit that starts the kubelet
//! with the files init and join write (kubeadm relies on its package's `10-kubeadm.conf` for
//! that; kubestrap writes its own drop-in, and a whole unit for a kubelet installed by hand, when
//! the effective unit does not, and reset removes what it wrote); under OpenRC the package's
//! service; and on a host where no service manager runs, the command line to start it with.

use anyhow::{Result, bail};

use crate::host::kubelet_unit::{self, State};
use crate::host::service_manager::{self, ServiceManager};
use crate::host::{ServiceState, systemd_answers};
use crate::runner::context::Context;

/// The service kubeadm drives under either manager.
const KUBELET: &str = "kubelet";
/// OpenRC's service script of the kubelet.
const OPENRC_SCRIPT: &str = "/etc/init.d/kubelet";

/// Starts the kubelet with the files just written: through the service manager, its systemd unit
/// written, reloaded and enabled as needed, or its OpenRC service added to the default runlevel.
/// Where no service manager runs, nothing is written: the user is told how to start the kubelet.
pub fn start(ctx: &Context) -> Result<()> {
    ensure(ctx)?;
    if service_manager::detect(ctx.host.as_ref(), &ctx.root).is_some() {
        ctx.out.status("kubelet-start", "Starting the kubelet");
        restart(ctx)?;
    }
    Ok(())
}

fn ensure(ctx: &Context) -> Result<()> {
    match service_manager::detect(ctx.host.as_ref(), &ctx.root) {
        Some(ServiceManager::Systemd) => ensure_systemd_unit(ctx),
        Some(ServiceManager::OpenRc) if ctx.root.exists(OPENRC_SCRIPT) => {
            run(ctx, "rc-update", &["add", KUBELET, "default"])
        }
        Some(ServiceManager::OpenRc) => tell_how_to_start(
            ctx,
            &format!(
                "OpenRC runs this host, but there is no kubelet service `{OPENRC_SCRIPT}` (the kubelet's OpenRC package installs one)"
            ),
        ),
        None => tell_how_to_start(
            ctx,
            &format!(
                "no service manager runs this host (PID 1 is `{}`; neither systemd's `/run/systemd/system` nor OpenRC's runlevel exists), so kubestrap writes no kubelet unit and starts no kubelet",
                service_manager::pid1(&ctx.root)
            ),
        ),
    }
}

/// The warning that names the exact command line the kubelet needs, from the files just written.
fn tell_how_to_start(ctx: &Context, why: &str) -> Result<()> {
    let path = ctx.host.env("PATH");
    let words = kubelet_unit::command_line(&ctx.root, path.as_deref())?;
    let line = words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    let missing = if kubelet_unit::find_on_path(&ctx.root, path.as_deref()).is_none() {
        "There is no kubelet on the PATH either: install it first. "
    } else {
        ""
    };
    ctx.out.warn(
        "kubelet-start",
        &format!(
            "{why}. Start the kubelet yourself, and keep it running (start it again whenever it exits, as a service manager would), with:\n\n  {line}\n\n{missing}kubestrap goes on and waits for that kubelet"
        ),
    );
    Ok(())
}

/// A word as a shell reads it back: quoted only when it has to be.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        word.to_string()
    } else {
        shlex::try_quote(word).map_or_else(|_| word.to_string(), |q| q.into_owned())
    }
}

fn ensure_systemd_unit(ctx: &Context) -> Result<()> {
    let path = ctx.host.env("PATH");
    let state = kubelet_unit::inspect(&ctx.root, path.as_deref())?;
    if ctx.opts.dry_run && state == (State::NoUnit { kubelet: None }) {
        ctx.out.warn(
            "kubelet-start",
            &format!(
                "{}: a real run stops here (install the kubelet first)",
                state.describe()
            ),
        );
        return Ok(());
    }
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
        run(ctx, "systemctl", &["daemon-reload"])?;
    }
    // A unit kubestrap just wrote is not enabled yet; a package's usually is.
    let enabled = !files.iter().any(|(p, _)| *p == kubelet_unit::UNIT)
        && !ctx.opts.dry_run
        && ctx.host.service_state(kubelet_unit::SERVICE) == ServiceState::Enabled;
    if !enabled {
        run(ctx, "systemctl", &["enable", kubelet_unit::SERVICE])?;
    }
    Ok(())
}

/// (Re)starts the kubelet through the service manager, so that it reads the files just written.
/// Without one the kubelet is the user's to restart: said, and kubestrap goes on.
pub fn restart(ctx: &Context) -> Result<()> {
    let Some(manager) = service_manager::detect(ctx.host.as_ref(), &ctx.root) else {
        ctx.out.status(
            "kubelet-start",
            "no service manager runs here, so kubestrap does not restart the kubelet: restart the one you started so it reads the files above",
        );
        return Ok(());
    };
    let command = manager.restart_command(KUBELET);
    if ctx.opts.dry_run {
        ctx.out.status("dryrun", &format!("would run `{command}`"));
        return Ok(());
    }
    let restarted = match manager {
        ServiceManager::Systemd => ctx.host.restart_service(KUBELET),
        ServiceManager::OpenRc => ctx.host.run("rc-service", &[KUBELET, "restart"]),
    };
    if let Err(e) = restarted {
        ctx.out.warn(
            "kubelet-start",
            &format!("the kubelet service could not be restarted ({e:#}); run `{command}`"),
        );
    }
    Ok(())
}

/// Stops the kubelet through the service manager; `Ok(false)` when no service manager runs (the
/// kubelet, if any, is the user's).
pub fn stop(ctx: &Context) -> Result<bool> {
    match service_manager::detect(ctx.host.as_ref(), &ctx.root) {
        Some(ServiceManager::Systemd) => ctx.host.stop_service(KUBELET).map(|()| true),
        Some(ServiceManager::OpenRc) => ctx
            .host
            .run("rc-service", &[KUBELET, "stop"])
            .map(|()| true),
        None => Ok(false),
    }
}

/// Stops the kubelet before its files change, so that it starts once, with all of them (a kubelet
/// that starts on half of them is restarted a second later).
pub fn stop_before_writing(ctx: &Context) {
    if ctx.opts.dry_run {
        return;
    }
    if let Err(e) = stop(ctx) {
        ctx.out
            .detail(&format!("the kubelet service did not stop ({e:#})"));
    }
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
    if systemd_answers(ctx.host.as_ref(), &ctx.root) {
        run(ctx, "systemctl", &["daemon-reload"])?;
    }
    Ok(())
}

/// Runs a service manager's command, or says it would in a dry run.
fn run(ctx: &Context, program: &str, args: &[&str]) -> Result<()> {
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            &format!("would run `{program} {}`", args.join(" ")),
        );
        return Ok(());
    }
    ctx.host.run(program, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Documents, Overrides};
    use crate::fs::root::Root;
    use crate::host::FakeHost;
    use crate::runner::report::RecordingReporter;

    fn context(
        base: &std::path::Path,
        host: &FakeHost,
    ) -> (Context, std::sync::Arc<RecordingReporter>) {
        let root = Root::new(base);
        let overrides = Overrides {
            kubernetes_version: Some("v1.25.0".into()),
            node_name: Some("node1".into()),
            ..Overrides::default()
        };
        let cfg = config::resolve(Documents::default(), &overrides, &root, host).unwrap();
        let out = std::sync::Arc::new(RecordingReporter::default());
        let ctx = Context::new(
            cfg,
            root,
            Box::new(host.clone()),
            Box::new(out.clone()),
            Default::default(),
        );
        (ctx, out)
    }

    #[test]
    fn openrc_adds_the_kubelet_to_the_default_runlevel_and_restarts_it() {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost::healthy();
        let (ctx, _) = context(dir.path(), &host);
        ctx.root
            .write("/run/openrc/softlevel", b"default", 0o644)
            .unwrap();
        ctx.root.write("/sbin/rc-service", b"", 0o755).unwrap();
        ctx.root.write(OPENRC_SCRIPT, b"", 0o755).unwrap();
        start(&ctx).unwrap();
        assert!(stop(&ctx).unwrap());
        assert_eq!(
            host.actions(),
            [
                "rc-update add kubelet default",
                "rc-service kubelet restart",
                "rc-service kubelet stop"
            ]
        );
        assert!(kubelet_unit::kubestrap_files(&ctx.root).is_empty());
    }

    #[test]
    fn without_a_service_manager_nothing_runs_and_the_command_line_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost::healthy();
        let (ctx, out) = context(dir.path(), &host);
        ctx.root.write("/usr/bin/kubelet", b"", 0o755).unwrap();
        ctx.root
            .write(
                crate::fs::paths::KUBELET_FLAGS_ENV,
                b"KUBELET_KUBEADM_ARGS=\"--node-ip=10.0.0.10 --v=2\"\n",
                0o644,
            )
            .unwrap();
        start(&ctx).unwrap();
        assert!(!stop(&ctx).unwrap());
        assert!(host.actions().is_empty(), "{:?}", host.actions());
        let lines = out.lines();
        assert!(
            lines.iter().any(|l| l.contains(
                "\n  /usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml --node-ip=10.0.0.10 --v=2\n"
            )),
            "{lines:#?}"
        );
        assert!(kubelet_unit::kubestrap_files(&ctx.root).is_empty());
    }
}
