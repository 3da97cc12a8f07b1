//! How a node comes to trust the cluster and the cluster the node (kubeadm's
//! `app/phases/bootstraptoken` and `app/discovery`): bootstrap tokens and the join command that
//! carries one, discovery of the cluster by token or file, and the kubelet's TLS bootstrap on a
//! joining node.

pub mod discovery;
pub mod join_command;
pub mod tls;
pub mod token;
