//! `kubestrap init` and `kubestrap init phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Change;
use kubestrap_phases::workflows::init::{self, InitOptions, Initialized};
use serde_json::json;

use crate::cli::{InitArgs, OutputFormat};
use crate::output::Printer;

/// Loads the configuration file, then runs the init phases (or one `phase`).
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
    let docs = match &args.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    let opts = InitOptions {
        base: base.to_path_buf(),
        docs,
        config_given: args.config.is_some(),
        overrides: overrides(args),
        phase: phase.map(str::to_string),
        dry_run: args.dry_run,
        fix: args.fix,
        upload_certs: args.upload_certs,
        skip_certificate_key_print: args.skip_certificate_key_print,
        skip_token_print: args.skip_token_print,
        command_line: super::command_line(),
        sudo_user: super::sudo_user(),
    };
    let outcome = init::run(opts, Box::new(printer.clone()));
    let dry_run_changes = outcome.dry_run_changes.clone();
    // With -o json|yaml, stdout holds the one document only.
    let done = super::finish(outcome, &printer, args.output == OutputFormat::Text)?;
    match args.output {
        OutputFormat::Text => {
            if !done.outputs.join_commands.is_empty() {
                printer.data(&success_text(&done));
            }
        }
        format => {
            let mut document = serde_json::to_value(&done.outputs)?;
            if let (Some(changes), Some(map)) = (&dry_run_changes, document.as_object_mut()) {
                map.insert("dryRun".into(), dry_run_document(changes));
            }
            printer.document(format, &document)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a dry run would have changed, for `-o json|yaml` (the text output lists it as
/// `[dryrun] would write …` lines).
fn dry_run_document(changes: &[Change]) -> serde_json::Value {
    let mut files = Vec::new();
    let mut folders = Vec::new();
    let mut removed = Vec::new();
    for change in changes {
        match change {
            Change::Wrote {
                path, mode, size, ..
            } => files.push(json!({"path": path, "mode": format!("{mode:04o}"), "size": size})),
            Change::CreatedDir { path, mode } => {
                let folder = json!({"path": path, "mode": format!("{mode:04o}")});
                if !folders.contains(&folder) {
                    folders.push(folder);
                }
            }
            Change::Removed { path } => removed.push(json!(path)),
        }
    }
    json!({"files": files, "folders": folders, "removed": removed})
}

/// kubeadm's closing text, with the user's kubeconfig handled and the single-node hint.
fn success_text(done: &Initialized) -> String {
    let admin = "/etc/kubernetes/admin.conf";
    let mut t = String::from("\nYour Kubernetes control-plane has initialized successfully!\n\n");
    let installed = done
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
    if let Some(why) = &done.outputs.node_not_ready {
        t.push_str(&format!("Node {} is NotReady: {why}\n", done.node_name));
        if why.to_lowercase().contains("cni") || why.contains("network plugin") {
            t.push_str("That is expected until a pod network is installed (below); pods other than the control plane stay Pending until then.\n");
        }
        t.push('\n');
    }
    t.push_str("You should now deploy a pod network to the cluster.\nRun \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n\n");
    if done.tainted {
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
    for cmd in done.outputs.control_plane_join_commands.iter().map(layout) {
        if done.upload_certs {
            t.push_str(&format!("You can now join any number of the control-plane node running the following command on each as root:\n\n  {cmd}\n\nPlease note that the certificate-key gives access to cluster sensitive data, keep it secret!\nAs a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\"{}\" to reload certs afterward.\n\n", init::REUPLOAD));
        } else {
            t.push_str(&format!("You can now join any number of control-plane nodes by copying certificate authorities\nand service account keys on each node and then running the following as root:\n\n  {cmd}\n\n"));
        }
    }
    t.push_str(
        "Then you can join any number of worker nodes by running the following on each as root:\n",
    );
    for cmd in done.outputs.join_commands.iter().map(layout) {
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
        feature_gates: args.feature_gates.iter().cloned().collect(),
        token: args.token.clone(),
        token_ttl: args.token_ttl.clone(),
        skip_phases: args.skip_phases.clone(),
        ignore_preflight_errors: args.ignore_preflight_errors.clone(),
        patches: args.patches.clone(),
        certificate_key: args.certificate_key.clone(),
    }
}
