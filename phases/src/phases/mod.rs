//! The reusable steps of the workflows, one file per phase (or per group of sub-phases). A step
//! never knows which workflow runs it: it gets the API client and the data through the context.

pub mod addons;
pub mod apply_patches;
pub mod bootstrap_token;
pub mod certs;
pub mod cleanup_network;
pub mod cleanup_node;
pub mod control_plane;
pub mod control_plane_join;
pub mod discovery;
pub mod download_certs;
pub mod etcd;
pub mod install_kubeconfig;
pub mod kubeconfig;
pub mod kubelet_finalize;
pub mod kubelet_service;
pub mod kubelet_start;
pub mod mark_control_plane;
pub mod pull_images;
pub mod remove_etcd_member;
pub mod renew;
pub mod renewable;
pub mod reset_verify;
pub mod restart;
pub mod show_join;
pub mod tls_bootstrap;
pub mod update_cluster_status;
pub mod upload_certs;
pub mod upload_config;
pub mod wait_control_plane;
