//! The integration tests: one test binary, one module per area.
#![allow(clippy::unwrap_used)]

mod api;
mod api_tls;
mod cli;
mod config;
mod dry_run;
mod join;
mod manifests;
mod pki;
mod preflight;
mod real_etcd;
mod reset;
mod resume;
mod support;
mod tiers;
