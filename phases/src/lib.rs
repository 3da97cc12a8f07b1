//! The logic of kubestrap, free of any command-line or terminal concerns.
//!
//! Start reading at [`workflow`] (the phase runner) and [`init`] (the init phase table). Every phase
//! receives a [`context::Context`], reads and writes files only through [`root::Root`], touches the
//! machine only through [`host::Host`] and speaks to the user only through [`report::Reporter`].

pub mod certs;
pub mod config;
pub mod context;
pub mod control_plane;
pub mod duration;
pub mod etcd;
pub mod flags;
pub mod host;
pub mod init;
pub mod kubeconfig;
pub mod kubelet;
pub mod paths;
pub mod pki;
pub mod preflight;
pub mod report;
pub mod root;
pub mod staticpod;
pub mod templates;
pub mod version;
pub mod workflow;
