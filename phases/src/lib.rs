//! The logic of kubestrap, free of any command-line or terminal concerns.
//!
//! Start reading at [`workflow`] (the phase runner) and [`init`] (the init phase table). Every phase
//! receives a [`context::Context`], reads and writes files only through [`root::Root`], touches the
//! machine only through [`host::Host`] and speaks to the user only through [`report::Reporter`].

pub mod addons;
pub mod api;
pub mod api_client;
#[cfg(any(test, feature = "testing"))]
pub mod api_fake;
pub mod api_http;
pub mod api_objects;
pub mod bootstrap_token;
pub mod certs;
pub mod config;
pub mod context;
pub mod control_plane;
pub mod discovery;
pub mod duration;
pub mod etcd;
pub mod flags;
pub mod host;
pub mod init;
pub mod join;
pub mod join_command;
pub mod kubeconfig;
pub mod kubelet;
pub mod kubelet_service;
pub mod mark_control_plane;
pub mod objects;
pub mod outputs;
pub mod paths;
pub mod pki;
pub mod preflight;
pub mod report;
pub mod reset;
pub mod root;
pub mod show_join;
pub mod staticpod;
pub mod templates;
pub mod tls_bootstrap;
pub mod upload_config;
pub mod version;
pub mod wait;
pub mod workflow;
