//! `kubestrap taint remove|add`: the control-plane NoSchedule taint of one node or all
//! control-plane nodes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::workflows::taint::{self, TaintOptions};

use crate::cli::{TaintArgs, TaintCmd};
use crate::output::Printer;

/// Runs a `taint` subcommand.
pub fn run(cmd: TaintCmd, base: &Path, printer: &Printer) -> Result<ExitCode> {
    let (add, args) = match cmd {
        TaintCmd::Remove(a) => (false, a),
        TaintCmd::Add(a) => (true, a),
    };
    let TaintArgs { node, all, cluster } = args;
    let opts = TaintOptions {
        base: base.to_path_buf(),
        cluster: cluster.cluster(),
        add,
        node,
        all,
    };
    taint::run(opts, Box::new(printer.clone()), &mut |name, changed| {
        let what = match (add, changed) {
            (true, true) => "tainted: workloads without a toleration no longer run there",
            (true, false) => "already tainted",
            (false, true) => "untainted: workloads can now run there",
            (false, false) => "has no control-plane taint",
        };
        printer.data(&format!("node/{name} {what}"));
    })?;
    Ok(ExitCode::SUCCESS)
}
