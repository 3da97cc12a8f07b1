//! The reset workflow: undo what init did to this host so that init can run again.
//!
//! kubeadm's phases: preflight, remove-etcd-member, cleanup-node. (kubeadm ≤ 1.21 also had
//! update-cluster-status, for the ClusterStatus that kubestrap never writes.) After cleaning,
//! every folder and file reset is responsible for is checked again and what is left is named.

use crate::phases::{cleanup_node, remove_etcd_member};
use crate::preflight;
use crate::runner::Phase;
use crate::runner::context::Clients;

/// The API clients reset's phases get: admin.conf when it is there, as for init.
pub const CLIENTS: Clients = super::clients::ADMIN;

/// The reset phases, in kubeadm's order.
pub static PHASES: &[Phase] = &[
    Phase::leaf(
        "preflight",
        "Run reset pre-flight checks",
        preflight::run_reset,
    ),
    Phase::leaf(
        "remove-etcd-member",
        "Remove a local etcd member.",
        remove_etcd_member::run,
    ),
    Phase::leaf("cleanup-node", "Run cleanup node.", cleanup_node::run),
];
