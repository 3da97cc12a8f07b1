//! `kubestrap init` and `kubestrap init phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::{self, Documents, InvalidConfig, Overrides};
use kubestrap_phases::context::{Context, Options};
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::root::Root;
use kubestrap_phases::{init, workflow};

use crate::cli::InitArgs;
use crate::output::Printer;

/// Loads and validates the configuration, then runs the init phases (or one `phase`).
pub fn run(
    args: &InitArgs,
    phase: Option<&str>,
    base: &Path,
    printer: Printer,
) -> Result<ExitCode> {
    let mixed = args.mixed_with_config();
    if args.config.is_some() && !mixed.is_empty() {
        return Err(InvalidConfig(vec![format!(
            "can not mix '--config' with arguments [{}]; put these settings in the config file",
            mixed.join(" ")
        )])
        .into());
    }
    let docs = match &args.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    let overrides = overrides(args);
    let host = LinuxHost;
    let root = if args.dry_run || docs.init.dry_run {
        Root::dry_run(base)?
    } else {
        Root::new(base)
    };
    let cfg = config::resolve(docs, &overrides, &root, &host)?;
    let table = init::phases(cfg.version);
    let steps = workflow::plan(table, phase, &cfg.init.skip_phases)?;
    let opts = Options {
        dry_run: root.is_dry_run(),
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        fix: args.fix,
    };
    if phase.is_none() {
        printer.status(
            "init",
            &format!("Using Kubernetes version: {}", cfg.version),
        );
    }
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(printer.clone()), opts);
    let result = workflow::run(&steps, &mut ctx, phase.is_some());
    if ctx.root.is_dry_run() {
        printer.journal(&ctx.root.changes());
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

fn overrides(args: &InitArgs) -> Overrides {
    Overrides {
        advertise_address: args.apiserver_advertise_address.clone(),
        bind_port: args.apiserver_bind_port,
        cert_sans: args.apiserver_cert_extra_sans.clone(),
        cert_dir: args.cert_dir.clone(),
        control_plane_endpoint: args.control_plane_endpoint.clone(),
        cri_socket: args.cri_socket.clone(),
        image_repository: args.image_repository.clone(),
        kubernetes_version: args.kubernetes_version.clone(),
        node_name: args.node_name.clone(),
        pod_network_cidr: args.pod_network_cidr.clone(),
        service_cidr: args.service_cidr.clone(),
        service_dns_domain: args.service_dns_domain.clone(),
        token: args.token.clone(),
        token_ttl: args.token_ttl.clone(),
        skip_phases: args.skip_phases.clone(),
        ignore_preflight_errors: args.ignore_preflight_errors.clone(),
    }
}
