//! `kubestrap join` and `kubestrap join phase …`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::config::join::JoinFlags;
use kubestrap_phases::config::{self, Documents};
use kubestrap_phases::workflows::Reporter as _;
use kubestrap_phases::workflows::join::{self, Https, JoinOptions};
use serde_json::json;

use crate::cli::{JoinArgs, OutputFormat};
use crate::output::Printer;

/// Checks the flags and loads the config file, then discovers the cluster and runs the join
/// phases for its version (or one `phase`).
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
        patches: args.patches.clone(),
    };
    let opts = JoinOptions {
        base: base.to_path_buf(),
        docs,
        flags,
        phase: phase.map(str::to_string),
        dry_run: args.dry_run,
        command_line: super::command_line(),
    };
    let outcome = join::run(opts, &Https, Box::new(printer.clone()));
    let done = super::finish(outcome, &printer, args.output == OutputFormat::Text)?;
    match args.output {
        OutputFormat::Text => {
            if done.joined && done.control_plane {
                let etcd = if done.local_etcd {
                    "* A new etcd member was added to the local/stacked etcd cluster.\n"
                } else {
                    ""
                };
                printer.data(&format!("\nThis node has joined the cluster and a new control plane instance was created:\n\n* Certificate signing request was sent to apiserver and approval was received.\n* The Kubelet was informed of the new secure connection details.\n* Control plane label and taint were applied to the new node.\n* The Kubernetes control plane instances scaled up.\n{etcd}\nTo start administering your cluster from this node, you need to run the following as a regular user:\n\n\tmkdir -p $HOME/.kube\n\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n\tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nRun 'kubectl get nodes' to see this node join the cluster.\n"));
            } else if done.joined {
                printer.data("\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n");
            }
        }
        format => {
            let doc = json!({
                "node": done.node_name,
                "server": done.server,
                "kubernetesVersion": done.version.to_string(),
                "joined": done.joined,
                "controlPlane": done.control_plane,
                "phases": done.phases,
            });
            printer.document(format, &doc)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
