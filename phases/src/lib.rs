//! The logic of kubestrap, free of any command-line or terminal concerns.
//!
//! Three tiers, as in kubeadm's source; each imports only the ones below it (a test enforces it):
//! - [`workflows`]: one phase table per command (`init`, `join`, `reset`) and the glue that picks the
//!   API client and the data each phase gets. Start reading here.
//! - [`phases`] and [`preflight`]: the reusable steps (certificates, kubeconfigs, static pods,
//!   kubelet, uploads, addons, discovery and TLS bootstrap, …) and the preflight checks with `--fix`; they run inside the
//!   [`runner`], which holds the phase tree, the [`runner::context::Context`] every phase receives,
//!   the [`runner::report::Reporter`] through which phases speak and the run summary.
//! - infrastructure, which knows nothing of phases: [`config`] (kubeadm's API), [`api`] (the API
//!   server client, kubeconfig files), [`cri`] (the container runtime), [`pki`] (keys and
//!   certificates), [`host`] (the machine), [`fs`] (every file goes through [`fs::root::Root`]),
//!   [`render`] (templates, static pods) and [`version`] (what differs per Kubernetes version).

pub mod api;
pub mod config;
pub mod cri;
pub mod fs;
pub mod host;
pub mod phases;
pub mod pki;
pub mod preflight;
pub mod render;
pub mod runner;
pub mod version;
pub mod workflows;
