//! `kubestrap upgrade plan|apply|node` and `kubestrap upgrade node phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::workflows::upgrade::{self, UpgradeOptions, Upgraded, plan};

use crate::cli::{CommonArgs, OutputFormat, UpgradeCmd};
use crate::output::Printer;

/// Runs an upgrade subcommand; `node_phase`: one phase of `upgrade node`.
pub fn run(
    cmd: UpgradeCmd,
    node_phase: Option<&str>,
    base: &Path,
    printer: Printer,
) -> Result<ExitCode> {
    match cmd {
        UpgradeCmd::Plan(args) => {
            let opts = plan::PlanOptions {
                base: base.to_path_buf(),
                version: args.target,
                config: args.config,
            };
            let made = plan::plan(&opts, &printer)?;
            match args.output {
                OutputFormat::Text => printer.data(plan::text(&made).trim_end()),
                format => printer.document(format, &serde_json::to_value(&made)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        UpgradeCmd::Apply(args) => {
            let printer = printer.assume_yes(args.yes || args.force, "--yes");
            let mut opts = options(&args.common, base);
            opts.version = args.target.clone();
            opts.force = args.force;
            let outcome = upgrade::apply(opts, Box::new(printer.clone()));
            let done = super::finish(outcome, &printer, args.output == OutputFormat::Text)?;
            match args.output {
                OutputFormat::Text => printer.data(&closing(&done)),
                format => printer.document(format, &serde_json::to_value(&done)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        UpgradeCmd::Diff(args) => {
            let opts = upgrade::DiffOptions {
                base: base.to_path_buf(),
                version: args.target,
                config: args.config,
                context_lines: args.context_lines,
            };
            let diffs = upgrade::diff(opts, Box::new(printer.clone()))?;
            if diffs.is_empty() {
                printer.status("upgrade/diff", "No manifest of this node would change");
            }
            for (_, text) in diffs {
                printer.raw(&text);
            }
            Ok(ExitCode::SUCCESS)
        }
        UpgradeCmd::Node(args) => {
            let mut opts = options(&args.common, base);
            opts.phase = node_phase.map(str::to_string);
            opts.skip_phases = args.skip_phases.clone();
            let outcome = upgrade::node(opts, Box::new(printer.clone()));
            let done = super::finish(outcome, &printer, true)?;
            if node_phase.is_none() {
                printer.data(&format!(
                    "\n[upgrade] The configuration for this node ({}) was upgraded to {}.\n[upgrade] Now upgrade the kubelet with the package manager, then restart it (systemctl restart kubelet).",
                    done.node_name, done.to
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn options(common: &CommonArgs, base: &Path) -> UpgradeOptions {
    UpgradeOptions {
        base: base.to_path_buf(),
        dry_run: common.dry_run,
        etcd_upgrade: common.etcd_upgrade,
        certificate_renewal: common.certificate_renewal,
        config: common.config.clone(),
        patches: common.patches.clone(),
        ignore_preflight_errors: common.ignore_preflight_errors.clone(),
        command_line: super::command_line(),
        ..UpgradeOptions::default()
    }
}

/// kubeadm's closing lines of `upgrade apply`.
fn closing(done: &Upgraded) -> String {
    if done.dry_run {
        return format!(
            "\n[upgrade/dryrun] Nothing was changed; the upgrade from {} to {} would write what is listed above.",
            done.from, done.to
        );
    }
    format!(
        "\n[upgrade/successful] SUCCESS! Your cluster was upgraded to \"{}\". Enjoy!\n\n[upgrade/kubelet] Now please proceed with upgrading your kubelet if you haven't already done so: on each node, upgrade the kubelet package to {} and restart it (systemctl restart kubelet); run `kubestrap upgrade node` on the other nodes first.",
        done.to, done.to
    )
}
