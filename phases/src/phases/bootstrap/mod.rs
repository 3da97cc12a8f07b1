//! How a node comes to trust the cluster and the cluster the node (kubeadm's
//! `app/phases/bootstraptoken` and `app/discovery`): bootstrap tokens and the join command that
//! carries one, discovery of the cluster by token or file, and the kubelet's TLS bootstrap on a
//! joining node.

pub mod discovery;
pub mod show_join;
pub mod tls;
pub mod token;

pub use discovery::{
    BootstrapKubeconfig, Connect, Discovered, Https, TokenDiscovery, by_file, by_token,
    read_location,
};
pub use show_join::{join_command, one_line, run as show_join_command};
pub use tls::kubelet_start as tls_bootstrap;
pub use token::{
    Listed, Spec, admin_cluster, create as create_token, delete as delete_token, expiry,
    list as list_tokens, rfc3339, run as bootstrap_token,
};
