//! Undoing what init and join did to this host (kubeadm's `cmd/phases/reset`): the node leaves
//! the ClusterStatus, the node is cleaned (kubelet, mounts, containers, files, and on request the
//! network), and `--verify` names what is left.

pub mod check;
pub mod clean;
pub mod cluster_status;
pub mod network;

pub use check::{PORTS, leftovers, verify};
pub use clean::{empty_dir, empty_etcd_data_dir, run as cleanup_node};
pub use cluster_status::run as update_cluster_status;
