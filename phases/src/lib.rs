//! The logic of kubestrap, free of any command-line or terminal concerns.
//!
//! Three tiers, as in kubeadm's source; each imports only the ones below it (a test enforces it):
//! - [`workflows`]: one phase table per command (`init`, `join`, `reset`), each written once with
//!   the versions that differ, the glue that picks the API clients and the data each phase gets,
//!   and each command's front door (`workflows::init::run(options)`, `join::run`, `reset::run`,
//!   `renewal::run`, …) through which the command line reaches the library. Start reading here.
//! - [`phases`] and [`preflight`]: the reusable steps, grouped by subject as kubeadm's
//!   `app/phases/` (`certs/`, `kubeconfig/`, `control_plane/`, `etcd/`, `kubelet/`, `node/`,
//!   `bootstrap/` for tokens, discovery and the TLS bootstrap, `renewal/`, `reset/`, …; each
//!   folder used from outside through its `mod.rs` only), and the preflight checks with `--fix`;
//!   they run inside the [`runner`], which holds the phase tree and its per-version tables, the
//!   [`runner::context::Context`] every phase receives (its API clients, and the run's own
//!   state), the [`runner::report::Reporter`] through which phases speak, the one way to wait
//!   ([`runner::wait`]) and what a run reports at its end.
//! - infrastructure, which knows nothing of phases: [`config`] (kubeadm's API, the cluster's
//!   kubeadm-config documents), [`api`] (the API server client, kubeconfig files, kubeadm-config
//!   and Nodes on the cluster), [`cri`] (the container runtime), [`pki`] (keys and certificates),
//!   [`host`] (the machine), [`fs`] (every file goes through [`fs::root::Root`]), [`render`]
//!   (templates, static pods, the kubelet's configuration) and [`version`] (what differs per
//!   Kubernetes version).

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
