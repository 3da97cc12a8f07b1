//! The integration tests: one test binary, one module per area.
#![allow(clippy::unwrap_used)]

mod api;
mod api_tls;
mod bad_input;
mod certs;
mod cli;
mod component_config;
mod config;
mod dry_run;
mod first_use;
mod images;
mod interrupt;
mod join;
mod manifests;
mod migrate;
mod patches;
mod pki;
mod preflight;
mod properties;
mod readme;
mod real_etcd;
mod reset;
mod resume;
mod safety;
mod support;
mod tiers;
mod untrusted;
mod upgrade;
mod upgrade_minors;
mod upload_certs;
