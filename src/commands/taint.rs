//! `kubestrap taint remove|add`: the control-plane NoSchedule taint of one node or all
//! control-plane nodes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use kubestrap_phases::api::node::change_node;
use kubestrap_phases::api::objects::{Node, Taint};
use kubestrap_phases::host::{Host, LinuxHost};
use kubestrap_phases::phases::node::{TAINT_KEYS, mark_patch, untaint_patch};

use crate::cli::{TaintArgs, TaintCmd};
use crate::output::Printer;

/// Runs a `taint` subcommand.
pub fn run(cmd: TaintCmd, base: &Path, printer: &Printer) -> Result<ExitCode> {
    let (add, args) = match cmd {
        TaintCmd::Remove(a) => (false, a),
        TaintCmd::Add(a) => (true, a),
    };
    let TaintArgs { node, all, cluster } = args;
    if let Some(name) = node
        .as_deref()
        .filter(|n| !kubestrap_phases::config::net::is_dns_subdomain(n))
    {
        return Err(kubestrap_phases::config::InvalidConfig(vec![format!(
            "--node {name:?} is not a node name: lower-case letters, digits, '-' and '.'"
        )])
        .into());
    }
    let (_, client) = super::token::client(base, &cluster.kubeconfig())?;
    let api = client.with(printer);
    let names: Vec<String> = if all {
        let nodes: Vec<Node> = api.list("/api/v1/nodes", "nodes")?;
        nodes
            .into_iter()
            .filter(|n| {
                n.metadata
                    .labels
                    .keys()
                    .any(|l| TAINT_KEYS.contains(&l.as_str()))
                    || n.spec
                        .taints
                        .iter()
                        .any(|t| TAINT_KEYS.contains(&t.key.as_str()))
            })
            .map(|n| n.metadata.name)
            .collect()
    } else {
        vec![match node {
            Some(n) => n,
            None => LinuxHost.hostname()?.to_lowercase(),
        }]
    };
    if names.is_empty() {
        bail!("no node has the control-plane role");
    }
    for name in names {
        let changed = if add {
            // The legacy `master` taint on nodes set up by 1.20–1.23 (they carry the master label).
            change_node(&api, &name, |n| {
                let key = if n.metadata.labels.contains_key(TAINT_KEYS[1]) {
                    TAINT_KEYS[1]
                } else {
                    TAINT_KEYS[0]
                };
                let taint = Taint {
                    key: key.into(),
                    value: None,
                    effect: "NoSchedule".into(),
                    time_added: None,
                };
                mark_patch(n, &[], &[taint])
            })?
        } else {
            change_node(&api, &name, untaint_patch)?
        };
        let what = match (add, changed) {
            (true, true) => "tainted: workloads without a toleration no longer run there",
            (true, false) => "already tainted",
            (false, true) => "untainted: workloads can now run there",
            (false, false) => "has no control-plane taint",
        };
        printer.data(&format!("node/{name} {what}"));
    }
    Ok(ExitCode::SUCCESS)
}
