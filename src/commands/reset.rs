//! `kubestrap reset` and `kubestrap reset phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::workflows::reset::{self, ResetConfiguration, ResetOptions};

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
        Some(path) => reset::read_config(path)?,
        None => ResetConfiguration::default(),
    };
    let printer = printer.assume_yes(args.force || file.force, "--force");
    let opts = ResetOptions {
        base: base.to_path_buf(),
        file,
        phase: phase.map(str::to_string),
        dry_run: args.dry_run,
        force: args.force,
        cert_dir: args.cert_dir.clone(),
        cri_socket: args.cri_socket.clone(),
        cleanup_tmp_dir: args.cleanup_tmp_dir,
        cleanup_network: args.cleanup_network,
        undo_fixes: args.undo_fixes,
        skip_phases: args.skip_phases.clone(),
        ignore_preflight_errors: args.ignore_preflight_errors.clone(),
        kubeconfig: args.kubeconfig.clone(),
        timeout: args.timeout,
        command_line: super::command_line(),
        sudo_user: super::sudo_user(),
    };
    let outcome = reset::run(opts, Box::new(printer.clone()));
    let dry_run = outcome.dry_run_changes.is_some();
    let done = super::finish(outcome, &printer, true)?;
    if phase.is_some() {
        done.mounts_left()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut notes = String::new();
    if !args.cleanup_network {
        notes.push_str(CNI_NOT_CLEANED);
        notes.push('\n');
    }
    if !done.kubeconfig_set_aside {
        notes.push_str(KUBECONFIG_NOT_CLEANED);
        notes.push('\n');
    }
    if !args.undo_fixes {
        notes.push_str(FIXES_NOT_UNDONE);
    }
    printer.data(notes.trim_end());
    if args.verify {
        if dry_run {
            printer.status("reset", "--verify has nothing to check after a dry run");
        } else {
            done.verify()?;
        }
    }
    done.mounts_left()?;
    Ok(ExitCode::SUCCESS)
}
