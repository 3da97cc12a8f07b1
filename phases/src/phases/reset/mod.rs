//! Undoing what init and join did to this host (kubeadm's `cmd/phases/reset`): the node leaves
//! the ClusterStatus, the node is cleaned (kubelet, mounts, containers, files, and on request the
//! network), and `--verify` names what is left.

pub mod cleanup_network;
pub mod cleanup_node;
pub mod cluster_status;
pub mod verify;
