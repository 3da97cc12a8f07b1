//! `kubestrap taint`: the control-plane NoSchedule taint of one node, or of every control-plane
//! node, removed or put back through a kubeconfig under the root.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::api::node::change_node;
use crate::api::objects::{Node, Taint};
use crate::config::{InvalidConfig, net};
use crate::host::{Host, LinuxHost};
use crate::phases::node::{TAINT_KEYS, mark_patch, untaint_patch};
use crate::runner::report::Reporter;

/// What `taint add|remove` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct TaintOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// The kubeconfig to reach the cluster with, and how long to wait for it.
    pub cluster: super::Cluster,
    /// Put the taint back (`add`) rather than remove it.
    pub add: bool,
    /// The node (default: this machine's host name in lower case).
    pub node: Option<String>,
    /// Every node that carries (or, for `add`, is labelled for) the control-plane role.
    pub all: bool,
}

/// Changes each node's taint, calling `changed` with its name and whether anything changed.
pub fn run(
    opts: TaintOptions,
    out: Box<dyn Reporter>,
    changed: &mut dyn FnMut(&str, bool),
) -> Result<()> {
    if let Some(name) = opts.node.as_deref().filter(|n| !net::is_dns_subdomain(n)) {
        return Err(InvalidConfig(vec![format!(
            "--node {name:?} is not a node name: lower-case letters, digits, '-' and '.'"
        )])
        .into());
    }
    let (_, client) = super::cluster_client(&opts.base, &opts.cluster)?;
    let api = client.with(&out);
    let names: Vec<String> = if opts.all {
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
        vec![match opts.node {
            Some(n) => n,
            None => LinuxHost.hostname()?.to_lowercase(),
        }]
    };
    if names.is_empty() {
        bail!("no node has the control-plane role");
    }
    for name in names {
        let done = if opts.add {
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
        changed(&name, done);
    }
    Ok(())
}
