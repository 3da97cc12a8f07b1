//! `kubestrap join` and `kubestrap join phase …`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use kubestrap_phases::config::join::{JoinFlags, resolve_join};
use kubestrap_phases::config::{self, Documents};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::phases::bootstrap::discovery::Https;
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::Reporter as _;
use kubestrap_phases::workflows::join;
use serde_json::json;

use crate::cli::{JoinArgs, OutputFormat};
use crate::output::Printer;

/// Checks the flags and the config file, discovers the cluster, then runs the join phases for
/// its version (or one `phase`).
pub fn run(
    args: &JoinArgs,
    phase: Option<&str>,
    base: &Path,
    printer: Printer,
) -> Result<ExitCode> {
    super::refuse_mixed_with_config(
        args.config.is_some(),
        &args.mixed_with_config(),
        "the JoinConfiguration",
    )?;
    if !args.extra_endpoints.is_empty() {
        printer.warn(
            "preflight",
            &format!(
                "More than one API server endpoint supplied on command line {:?}. Using the first one.",
                std::iter::once(args.endpoint.clone().unwrap_or_default())
                    .chain(args.extra_endpoints.iter().cloned())
                    .collect::<Vec<_>>()
            ),
        );
    }
    let docs = match &args.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    let flags = JoinFlags {
        endpoint: args.endpoint.clone(),
        token: args.token.clone(),
        discovery_token: args.discovery_token.clone(),
        tls_bootstrap_token: args.tls_bootstrap_token.clone(),
        ca_cert_hashes: args.discovery_token_ca_cert_hash.clone(),
        unsafe_skip_ca_verification: args.discovery_token_unsafe_skip_ca_verification,
        discovery_file: args.discovery_file.clone(),
        node_name: args.node_name.clone(),
        cri_socket: args.cri_socket.clone(),
        ignore_preflight_errors: args.ignore_preflight_errors.clone(),
        skip_phases: args.skip_phases.clone(),
        control_plane: args.control_plane,
        apiserver_advertise_address: args.apiserver_advertise_address.clone(),
        apiserver_bind_port: args.apiserver_bind_port,
        certificate_key: args.certificate_key.clone(),
    };
    let host = LinuxHost;
    let dry_run = args.dry_run || docs.join.as_ref().is_some_and(|j| j.dry_run);
    let root = if dry_run {
        Root::dry_run(base)?
    } else {
        Root::new(base)
    };
    let _lock = super::lock_root(&root, &printer)?;
    let cfg = resolve_join(docs, &flags, &root, &host)?;
    for warning in &cfg.warnings {
        kubestrap_phases::runner::report::Reporter::warn(&printer, "config", warning);
    }
    // Phase names are checked before the network is: every version's names are known.
    let skip = cfg.init.skip_phases.clone();
    let tables = join::tables();
    if !tables.iter().any(|t| runner::plan(t, phase, &skip).is_ok()) {
        runner::plan(tables[0], phase, &skip)?;
    }
    let opts = Options {
        dry_run: root.is_dry_run(),
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        ..Options::default()
    };
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(printer.clone()), opts)
        .with_clients(join::CLIENTS);
    let started = Instant::now();
    join::discover(&mut ctx, &Https).map_err(|e| {
        super::when_interrupted(
            e,
            "kubestrap join",
            "nothing was changed (discovery writes nothing)",
        )
    })?;
    ctx.outputs
        .phases
        .push(super::phase_timing("discovery", started));
    let steps = runner::plan(join::phases(ctx.cfg.version), phase, &skip)?;
    let result = super::run_timed(&steps, &mut ctx, phase.is_some());
    if ctx.root.is_dry_run() && args.output == OutputFormat::Text {
        printer.journal(&ctx.root.changes());
    }
    if let Err(e) = result {
        let added_member = ctx
            .state::<kubestrap_phases::phases::etcd::member::AddedMember>()
            .is_some();
        let undone = join::undo(&mut ctx);
        if let Err(undo) = &undone {
            kubestrap_phases::runner::report::Reporter::warn(
                &printer,
                "etcd",
                &format!("{undo:#}"),
            );
        }
        let left = match (added_member, undone.is_ok()) {
            (false, _) => "each file it wrote is whole",
            (true, true) => {
                "each file it wrote is whole, and the etcd member it added is removed again"
            }
            (true, false) => {
                "each file it wrote is whole; the etcd member it added could not be removed (see the warning above)"
            }
        };
        return Err(super::when_interrupted(
            e,
            "kubestrap join",
            &format!("{left}\n\nhint: run `kubestrap reset` on this node, then join again"),
        ));
    }
    let joined = phase.is_none() && !ctx.root.is_dry_run();
    let control_plane = ctx.cfg.join.as_ref().is_some_and(|j| j.control_plane);
    match args.output {
        OutputFormat::Text => {
            if joined && control_plane {
                let etcd = if ctx.cfg.cluster.etcd.local.is_some() {
                    "* A new etcd member was added to the local/stacked etcd cluster.\n"
                } else {
                    ""
                };
                printer.data(&format!("\nThis node has joined the cluster and a new control plane instance was created:\n\n* Certificate signing request was sent to apiserver and approval was received.\n* The Kubelet was informed of the new secure connection details.\n* Control plane label and taint were applied to the new node.\n* The Kubernetes control plane instances scaled up.\n{etcd}\nTo start administering your cluster from this node, you need to run the following as a regular user:\n\n\tmkdir -p $HOME/.kube\n\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n\tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nRun 'kubectl get nodes' to see this node join the cluster.\n"));
            } else if joined {
                printer.data("\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n");
            }
        }
        format => {
            let doc = json!({
                "node": ctx.cfg.node_name,
                "server": ctx.api()?.endpoint(),
                "kubernetesVersion": ctx.cfg.version.to_string(),
                "joined": joined,
                "controlPlane": control_plane,
                "phases": ctx.outputs.phases,
            });
            printer.document(format, &doc)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
