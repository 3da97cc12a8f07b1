//! `kubestrap init` and `kubestrap init phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::phases::certs::upload as upload_certs;
use kubestrap_phases::phases::kubeconfig::sudo_user::{UserKubeconfig, install_user_kubeconfig};
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::resume::Record;
use kubestrap_phases::workflows::init;

use crate::cli::{InitArgs, OutputFormat};
use crate::output::Printer;

/// Loads and validates the configuration, then runs the init phases (or one `phase`).
pub fn run(
    args: &InitArgs,
    phase: Option<&str>,
    base: &Path,
    printer: Printer,
) -> Result<ExitCode> {
    super::refuse_mixed_with_config(
        args.config.is_some(),
        &args.mixed_with_config(),
        "the config file",
    )?;
    let mut docs = match &args.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    if phase == Some("upload-certs") && args.config.is_none() && args.upload_certs {
        // Uploading again to a running cluster: its certificates folder and etcd are the ones
        // kubeadm-config records, not the defaults.
        match kubestrap_phases::workflows::renewal::cluster_configuration(&Root::new(base), &printer)
        {
            Ok(cluster) => docs.cluster = cluster,
            Err(e) => printer.status(
                "upload-certs",
                &format!(
                    "Error reading configuration from the cluster ({e:#}); falling back to the default configuration (pass --config to use a file)"
                ),
            ),
        }
    }
    let overrides = overrides(args);
    let host = LinuxHost;
    let root = if args.dry_run || docs.init.dry_run {
        Root::dry_run(base)?
    } else {
        Root::new(base)
    };
    let _lock = super::lock_root(&root, &printer)?;
    let cfg = config::resolve(docs, &overrides, &root, &host)?;
    for warning in &cfg.warnings {
        kubestrap_phases::runner::report::Reporter::warn(&printer, "config", warning);
    }
    let table = init::phases(cfg.version);
    let steps = runner::plan(table, phase, &cfg.init.skip_phases)?;
    let opts = Options {
        dry_run: root.is_dry_run(),
        ignore_preflight_errors: cfg.ignored_preflight_errors(),
        fix: args.fix,
        upload_certs: args.upload_certs,
        skip_certificate_key_print: args.skip_certificate_key_print,
        ..Options::default()
    };
    if phase.is_none() {
        printer.status(
            "init",
            &format!("Using Kubernetes version: {}", cfg.version),
        );
    }
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(printer.clone()), opts)
        .with_clients(init::CLIENTS);
    init::check_patches(&ctx)?;
    upload_certs::refuse_external_ca(&ctx)?;
    if args.upload_certs && phase.is_none() && ctx.cfg.cluster.control_plane_endpoint.is_none() {
        kubestrap_phases::runner::report::Reporter::warn(
            &printer,
            "config",
            "--upload-certs without a controlPlaneEndpoint: no control-plane node can join this cluster (a control-plane join needs a stable endpoint shared by all control-plane nodes); set --control-plane-endpoint or controlPlaneEndpoint",
        );
    }
    if !args.upload_certs && ctx.cfg.init.certificate_key.is_some() {
        kubestrap_phases::runner::report::Reporter::warn(
            &printer,
            "config",
            "the certificate key (certificateKey) has no effect without --upload-certs: nothing is uploaded",
        );
    }
    if phase.is_none() && !ctx.root.is_dry_run() {
        ctx.record = Some(Record::open(
            &ctx.root,
            &ctx.cfg,
            &runner::files_only(&steps),
            ctx.out.as_ref(),
        )?);
    }
    runner::prefetch_keys(&steps, &ctx);
    let result = super::run_timed(&steps, &mut ctx, phase.is_some());
    // With -o json|yaml, stdout holds the one document only.
    if ctx.root.is_dry_run() && args.output == OutputFormat::Text {
        printer.journal(&ctx.root.changes());
    }
    result.map_err(|e| {
        super::when_interrupted(e, "kubestrap init", &interrupted_left(&ctx, phase))
    })?;
    if phase.is_none() && !ctx.root.is_dry_run() {
        user_kubeconfig(&mut ctx)?;
    }
    match args.output {
        OutputFormat::Text => {
            if !ctx.outputs.join_commands.is_empty() {
                printer.data(&success_text(&ctx));
            }
        }
        format => printer.document(format, &serde_json::to_value(&ctx.outputs)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// What an interrupted init leaves, and how to go on.
fn interrupted_left(ctx: &Context, phase: Option<&str>) -> String {
    if ctx.root.is_dry_run() {
        "nothing was changed, and the dry run's scratch folder is removed".into()
    } else if ctx.record.is_some() {
        format!(
            "the phases that finished are recorded in {}\n\nhint: run the same command again to resume after them, or `kubestrap reset` to remove what this init wrote",
            kubestrap_phases::runner::resume::STATE
        )
    } else if phase.is_some() {
        "each file it wrote is whole\n\nhint: run the phase again".into()
    } else {
        "each file it wrote is whole\n\nhint: run the same command again, or `kubestrap reset` to remove what it wrote".into()
    }
}

/// Run through sudo: give the invoking user a working `~/.kube/config` (B-10), replacing one
/// left over from an earlier cluster at the same endpoint (B-9).
fn user_kubeconfig(ctx: &mut Context) -> Result<()> {
    let Some(user) = super::sudo_user()? else {
        return Ok(());
    };
    let name = &user.name;
    let note = match install_user_kubeconfig(ctx, &user)? {
        UserKubeconfig::Written(path) => {
            format!("kubectl is ready for {name}: `{path}` holds the admin kubeconfig")
        }
        UserKubeconfig::Replaced { path, backup } => format!(
            "`{path}` pointed at this endpoint with the CA of an earlier cluster (kubectl would fail with \"x509: certificate signed by unknown authority\"): saved it as `{backup}` and installed the new admin kubeconfig"
        ),
        UserKubeconfig::Left(path) => format!("`{path}` exists and was left as it is"),
        UserKubeconfig::Unsafe { path, why } => {
            // kubeadm's three lines (in the closing text) let the user do it as themselves.
            ctx.out.warn(
                "kubeconfig",
                &format!(
                    "`{path}` was not written: {why}. As {name}, copy the admin kubeconfig yourself: mkdir -p $HOME/.kube; sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config; sudo chown $(id -u):$(id -g) $HOME/.kube/config"
                ),
            );
            return Ok(());
        }
    };
    ctx.out.status("kubeconfig", &note);
    ctx.outputs.user_kubeconfig = Some(note);
    Ok(())
}

/// kubeadm's closing text, with the user's kubeconfig handled and the single-node hint.
fn success_text(ctx: &Context) -> String {
    let admin = "/etc/kubernetes/admin.conf";
    let mut t = String::from("\nYour Kubernetes control-plane has initialized successfully!\n\n");
    let installed = ctx
        .outputs
        .user_kubeconfig
        .as_deref()
        .is_some_and(|n| !n.ends_with("left as it is"));
    if installed {
        t.push_str(
            "kubectl works for the user who ran sudo (see the [kubeconfig] line above).\n\n",
        );
    } else {
        t.push_str(&format!(
            "To start using your cluster, you need to run the following as a regular user:\n\n  mkdir -p $HOME/.kube\n  sudo cp -i {admin} $HOME/.kube/config\n  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nAlternatively, if you are the root user, you can run:\n\n  export KUBECONFIG={admin}\n\n"
        ));
    }
    if let Some(why) = &ctx.outputs.node_not_ready {
        t.push_str(&format!("Node {} is NotReady: {why}\n", ctx.cfg.node_name));
        if why.to_lowercase().contains("cni") || why.contains("network plugin") {
            t.push_str("That is expected until a pod network is installed (below); pods other than the control plane stay Pending until then.\n");
        }
        t.push('\n');
    }
    t.push_str("You should now deploy a pod network to the cluster.\nRun \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n\n");
    if ctx
        .cfg
        .init
        .node_registration
        .taints
        .as_ref()
        .is_none_or(|t| !t.is_empty())
    {
        t.push_str("To run workloads on this node alone, remove the control-plane taint:\n\n  kubestrap taint remove\n\n");
    }
    // kubeadm's layout: continuation lines start with a TAB.
    let layout = |cmd: &String| {
        cmd.replacen(
            " --discovery-token-ca-cert-hash",
            " \\\n\t--discovery-token-ca-cert-hash",
            1,
        )
        .replacen(" --control-plane", " \\\n\t--control-plane", 1)
    };
    for cmd in ctx.outputs.control_plane_join_commands.iter().map(layout) {
        if ctx.opts.upload_certs {
            t.push_str(&format!("You can now join any number of the control-plane node running the following command on each as root:\n\n  {cmd}\n\nPlease note that the certificate-key gives access to cluster sensitive data, keep it secret!\nAs a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\"{}\" to reload certs afterward.\n\n", upload_certs::REUPLOAD));
        } else {
            t.push_str(&format!("You can now join any number of control-plane nodes by copying certificate authorities\nand service account keys on each node and then running the following as root:\n\n  {cmd}\n\n"));
        }
    }
    t.push_str(
        "Then you can join any number of worker nodes by running the following on each as root:\n",
    );
    for cmd in ctx.outputs.join_commands.iter().map(layout) {
        t.push('\n');
        t.push_str(&cmd);
        t.push('\n');
    }
    t
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
        patches: args.patches.clone(),
        certificate_key: args.certificate_key.clone(),
    }
}
