//! `kubestrap reset` and `kubestrap reset phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use kubestrap_phases::config::reset::{
    ResetConfiguration, unsafe_cert_dir_in, unsupported_by_reset, validate_reset,
};
use kubestrap_phases::config::{self, Documents, InvalidConfig, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::phases::kubeconfig::sudo_user::set_aside_user_kubeconfig;
use kubestrap_phases::phases::reset as reset_phases;
use kubestrap_phases::preflight::fix;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::Reporter as _;
use kubestrap_phases::workflows::reset;
use kubestrap_phases::{runner, version};

use crate::cli::ResetArgs;
use crate::output::Printer;

/// What reset leaves alone unless asked, said after it finished.
const CNI_NOT_CLEANED: &str = "
The reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d

The reset process does not reset or clean up iptables rules or IPVS tables.
If you wish to reset iptables, you must do so manually by using the \"iptables\" command.

If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)
to reset your system's IPVS tables.

`kubestrap reset --cleanup-network` removes the CNI configuration, the network plugins'
interfaces and the KUBE-* iptables chains.";

const KUBECONFIG_NOT_CLEANED: &str = "
The reset process does not clean your kubeconfig files and you must remove them manually.
Please, check the contents of the $HOME/.kube/config file.";

const FIXES_NOT_UNDONE: &str = "
Changes that `kubestrap preflight --fix` made (modules, sysctls, swap, containerd) stay;
`kubestrap reset --undo-fixes` (or `kubestrap preflight --undo-fixes`) puts them back.";

/// Runs the reset phases (or one `phase`) on the host under `base`.
pub fn run(
    args: &ResetArgs,
    phase: Option<&str>,
    base: &Path,
    printer: Printer,
) -> Result<ExitCode> {
    let file = match &args.config {
        Some(path) => reset_file(path)?,
        None => ResetConfiguration::default(),
    };
    let force = args.force || file.force;
    let printer = printer.assume_yes(force, "--force");
    let host = LinuxHost;
    let root = if args.dry_run || file.dry_run {
        Root::dry_run(base)?
    } else {
        Root::new(base)
    };
    let overrides = Overrides {
        cri_socket: args.cri_socket.clone().or(file.cri_socket.clone()),
        cert_dir: args
            .cert_dir
            .clone()
            .or(Some(file.certificates_dir.clone())),
        // Reset depends on neither: a host without a default route or a kubelet still resets.
        advertise_address: Some("127.0.0.1".into()),
        kubernetes_version: Some(version::NEWEST.to_string()),
        ..Overrides::default()
    };
    let _lock = super::lock_root(&root, &printer)?;
    let cfg = config::resolve(Documents::default(), &overrides, &root, &host)?;
    if let Some(why) = unsafe_cert_dir_in(&root, &cfg.cluster.certificates_dir) {
        return Err(InvalidConfig(vec![format!("--cert-dir: {why}")]).into());
    }
    let skip = if args.skip_phases.is_empty() {
        &file.skip_phases
    } else {
        &args.skip_phases
    };
    let steps = runner::plan(reset::PHASES, phase, skip)?;
    let opts = Options {
        dry_run: root.is_dry_run(),
        cleanup_tmp_dir: args.cleanup_tmp_dir || file.cleanup_tmp_dir,
        cleanup_network: args.cleanup_network,
        force,
        ignore_preflight_errors: file
            .ignore_preflight_errors
            .iter()
            .map(|s| s.to_lowercase())
            .collect(),
        ..Options::default()
    };
    // Read before cleanup-node deletes it: the user's kubeconfig that trusts it goes aside.
    let ca = root.read_optional(format!("{}/ca.crt", cfg.cluster.certificates_dir))?;
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(printer.clone()), opts)
        .with_clients(reset::CLIENTS);
    let result = runner::run(&steps, &mut ctx, false);
    if ctx.root.is_dry_run() {
        printer.journal(&ctx.root.changes());
    }
    result?;
    if phase.is_some() {
        mounts_left(&ctx)?;
        return Ok(ExitCode::SUCCESS);
    }
    let kubeconfig_set_aside = match (&ca, super::sudo_user()?) {
        (Some(ca), Some(user)) if !ctx.root.is_dry_run() => {
            match set_aside_user_kubeconfig(&ctx, &user, ca) {
                Ok(Some((path, backup))) => {
                    printer.status(
                        "reset",
                        &format!(
                            "`{path}` trusted the CA of the cluster just reset (kubectl would fail with \"x509: certificate signed by unknown authority\" against a new one): moved it to `{backup}`"
                        ),
                    );
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    printer.warn(
                        "reset",
                        &format!("`{}` was left as it is: {e:#}", user.kubeconfig()),
                    );
                    false
                }
            }
        }
        _ => false,
    };
    if args.undo_fixes && !ctx.root.is_dry_run() {
        fix::undo(&fix::Machine {
            root: &ctx.root,
            host: ctx.host.as_ref(),
            out: &printer,
        })?;
    }
    let mut notes = String::new();
    if !args.cleanup_network {
        notes.push_str(CNI_NOT_CLEANED);
        notes.push('\n');
    }
    if !kubeconfig_set_aside {
        notes.push_str(KUBECONFIG_NOT_CLEANED);
        notes.push('\n');
    }
    if !args.undo_fixes {
        notes.push_str(FIXES_NOT_UNDONE);
    }
    printer.data(notes.trim_end());
    if args.verify {
        if ctx.root.is_dry_run() {
            printer.status("reset", "--verify has nothing to check after a dry run");
        } else {
            reset_phases::verify(&ctx)?;
        }
    }
    mounts_left(&ctx)?;
    Ok(ExitCode::SUCCESS)
}

/// Fails, once everything else is clean, when a mount point was left with its files.
fn mounts_left(ctx: &Context) -> Result<()> {
    if ctx.outputs.left_mounted.is_empty() {
        return Ok(());
    }
    bail!(
        "reset is incomplete: {} still mounted, with its files kept (see the warnings above for what uses it)\n\nhint: stop what uses it, unmount it (`umount <path>`), then run `kubestrap reset` again",
        ctx.outputs
            .left_mounted
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The ResetConfiguration of a kubeadm config file, checked; refused with every problem at once.
fn reset_file(path: &Path) -> Result<ResetConfiguration> {
    let name = path.display();
    let Some(reset) = config::load_file(path)?.reset else {
        return Err(InvalidConfig(vec![format!(
            "{name}: no ResetConfiguration (kubeadm.k8s.io/v1beta4) was found in the file"
        )])
        .into());
    };
    let problems: Vec<String> = validate_reset(&reset)
        .into_iter()
        .map(|(field, message)| format!("{name}: ResetConfiguration `{field}`: {message}"))
        .chain(
            unsupported_by_reset(&reset)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        )
        .collect();
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    Ok(reset)
}
