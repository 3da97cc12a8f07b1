//! The reusable steps of the workflows, grouped by subject as kubeadm's `app/phases/` are: one
//! folder (or file) per subject. A step never knows which workflow runs it: it gets the API
//! client and the data through the context. From outside a folder only what its `mod.rs`
//! defines or re-exports is used (`tests/tiers.rs` checks it).

pub mod addons;
pub mod apply_patches;
pub mod bootstrap;
pub mod certs;
pub mod control_plane;
pub mod etcd;
pub mod kubeconfig;
pub mod kubelet;
pub mod node;
pub mod pull_images;
pub mod renewal;
pub mod reset;
pub mod upgrade;
pub mod upload_config;
