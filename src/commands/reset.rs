//! `kubestrap reset` and `kubestrap reset phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::workflows::reset;
use kubestrap_phases::{runner, version};

use crate::cli::ResetArgs;
use crate::output::Printer;

/// What reset leaves alone, said after it finished.
const NOT_CLEANED: &str = "
The reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d

The reset process does not reset or clean up iptables rules or IPVS tables.
If you wish to reset iptables, you must do so manually by using the \"iptables\" command.

If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)
to reset your system's IPVS tables.

The reset process does not clean your kubeconfig files and you must remove them manually.
Please, check the contents of the $HOME/.kube/config file.

Changes that `kubestrap preflight --fix` made (modules, sysctls, swap, containerd) stay;
`kubestrap preflight --undo-fixes` puts them back.";

/// Runs the reset phases (or one `phase`) on the host under `base`.
pub fn run(
    args: &ResetArgs,
    phase: Option<&str>,
    base: &Path,
    printer: Printer,
) -> Result<ExitCode> {
    let printer = printer.assume_yes(args.force, "--force");
    let host = LinuxHost;
    let root = if args.dry_run {
        Root::dry_run(base)?
    } else {
        Root::new(base)
    };
    let overrides = Overrides {
        cri_socket: args.cri_socket.clone(),
        cert_dir: args.cert_dir.clone(),
        // Reset depends on neither: a host without a default route or a kubelet still resets.
        advertise_address: Some("127.0.0.1".into()),
        kubernetes_version: Some(version::NEWEST.to_string()),
        ..Overrides::default()
    };
    let cfg = config::resolve(Documents::default(), &overrides, &root, &host)?;
    let steps = runner::plan(reset::PHASES, phase, &args.skip_phases)?;
    let opts = Options {
        dry_run: root.is_dry_run(),
        cleanup_tmp_dir: args.cleanup_tmp_dir,
        ..Options::default()
    };
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(printer.clone()), opts)
        .with_clients(reset::CLIENTS);
    let result = runner::run(&steps, &mut ctx, false);
    if ctx.root.is_dry_run() {
        printer.journal(&ctx.root.changes());
    }
    result?;
    if phase.is_none() {
        printer.data(NOT_CLEANED);
    }
    Ok(ExitCode::SUCCESS)
}
