//! Text kubestrap writes: the embedded templates and the static-pod manifests built from them.

pub mod diff;
pub mod kubelet_config;
pub mod patches;
pub mod staticpod;
pub mod strategic;
pub mod templates;
