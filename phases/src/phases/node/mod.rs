//! This machine's Node object: waiting for the kubelet to register it, and its labels, taints
//! and annotations (kubeadm's `app/phases/markcontrolplane` and `patchnode`).

pub mod mark;
