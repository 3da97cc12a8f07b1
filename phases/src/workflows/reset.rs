//! The reset workflow: undo what init did to this host so that init can run again.
//!
//! kubeadm's phases: preflight, update-cluster-status (≤ 1.21; nothing to do on a cluster without
//! a ClusterStatus), remove-etcd-member, cleanup-node. After cleaning,
//! every folder and file reset is responsible for is checked again and what is left is named.

use std::time::Duration;

use anyhow::Result;

use crate::api::{Client, Retry, client};
use crate::phases::{etcd, reset};
use crate::preflight;
use crate::runner::Phase;
use crate::runner::context::{Clients, Context};

/// How long reset waits for the API server before it warns and goes on: reset must work on a
/// broken cluster.
const API_WAIT: Duration = Duration::from_secs(10);

/// The API clients reset's phases get: admin.conf when it is there, as for init; its admin
/// client waits for the API server only [`API_WAIT`].
pub const CLIENTS: Clients = Clients {
    admin: briefly_admin,
    ..super::clients::ADMIN
};

fn briefly_admin(ctx: &Context) -> Result<Client> {
    if ctx.opts.dry_run {
        return Ok(client::dry_run(&ctx.cfg));
    }
    let retry = Retry {
        timeout: API_WAIT,
        ..Retry::default()
    };
    client::admin(&ctx.root, retry)
}

/// The reset phases, in kubeadm's order.
pub static PHASES: &[Phase] = &[
    Phase::leaf(
        "preflight",
        "Run reset pre-flight checks",
        preflight::run_reset,
    ),
    Phase::leaf(
        "update-cluster-status",
        "Remove this node from the ClusterStatus object (clusters made for 1.21 and older).",
        reset::update_cluster_status,
    ),
    Phase::leaf(
        "remove-etcd-member",
        "Remove a local etcd member.",
        etcd::remove_etcd_member,
    ),
    Phase::leaf("cleanup-node", "Run cleanup node.", reset::cleanup_node),
];
