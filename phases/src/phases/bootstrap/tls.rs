//! Join's `kubelet-start` (spec §2.2, §9.4): the kubelet's files from the cluster, then its TLS
//! bootstrap, watched closely.
//!
//! Reads, before writing anything: the Node of this name (a Ready one refuses the join) and the
//! cluster's kubelet-config ConfigMap, both with the bootstrap token. Writes
//! `/etc/kubernetes/bootstrap-kubelet.conf` (0600), the cluster CA at `caCertPath` when missing
//! (0644), `/var/lib/kubelet/config.yaml` and `kubeadm-flags.env` (0644), then restarts the
//! kubelet and waits for `kubelet.conf` and the Node. On a timeout it says which step did not
//! happen (no CSR, CSR not approved, approved but not signed, node not registered), read from
//! the API. Removes `bootstrap-kubelet.conf` at the end, as kubeadm does.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::api::http::{Credentials, HttpTransport};
use crate::api::objects::{ConfigMap, Node};
use crate::api::{Client, ObjectRef, Retry};
use crate::config::duration;
use crate::fs::paths;
use crate::phases::bootstrap::discovery::BootstrapKubeconfig;
use crate::phases::{kubelet, node};
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait};

/// The kubeconfig the kubelet bootstraps with.
pub const BOOTSTRAP_KUBELET_CONF: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
/// How often the TLS bootstrap is looked at.
const POLL: Duration = Duration::from_millis(100);

/// Whether a node reports `Ready=True`.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .conditions
        .iter()
        .any(|c| c.kind == "Ready" && c.status == "True")
}

/// The `kubelet-start` phase of join.
pub fn kubelet_start(ctx: &mut Context) -> Result<()> {
    let join = ctx
        .cfg
        .join
        .clone()
        .context("kubelet-start of join runs only within `kubestrap join`")?;
    let BootstrapKubeconfig(bootstrap) = ctx
        .state::<BootstrapKubeconfig>()
        .cloned()
        .context("discovery has not run, so kubestrap does not know the cluster")?;
    let node_name = ctx.cfg.node_name.clone();
    let (kubelet_config, ca_pem) = {
        let api = ctx.api()?;
        let node = api.get::<Node>(&ObjectRef::new("v1", "Node", None, &node_name)?)?;
        if node.as_ref().is_some_and(is_ready) {
            bail!(
                "a Node with name {node_name:?} and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node\n\nhint: on a control-plane node `kubectl delete node {node_name}` (if that machine is gone), or join with --node-name <another name>"
            );
        }
        let name = ctx.profile().kubelet_config_map();
        let cm = api
            .get::<ConfigMap>(&ObjectRef::new("v1", "ConfigMap", Some("kube-system"), &name)?)?
            .with_context(|| {
                format!(
                    "the cluster has no kube-system/{name} ConfigMap, so kubestrap cannot configure this kubelet as the cluster's others\n\nhint: on the control-plane node, run `kubestrap init phase upload-config kubelet`"
                )
            })?;
        let config =
            cm.data.get("kubelet").cloned().with_context(|| {
                format!("the kube-system/{name} ConfigMap has no `kubelet` key")
            })?;
        let ca = Credentials::parse_text(&ctx.root, &bootstrap)?.ca_pem;
        (config, ca)
    };
    let hostname = ctx.host.hostname()?.to_lowercase();
    let env = kubelet::flags_env(&ctx.cfg, &hostname)?;

    kubelet::stop_before_writing(ctx);
    ctx.root.create_dir(paths::KUBERNETES_DIR, 0o755)?;
    ctx.root
        .write_secret(BOOTSTRAP_KUBELET_CONF, bootstrap.as_bytes())?;
    if !ctx.root.exists(&join.ca_cert_path) {
        if let Some(dir) = std::path::Path::new(&join.ca_cert_path).parent() {
            ctx.root.create_dir(dir, 0o755)?;
        }
        ctx.root.write(&join.ca_cert_path, &ca_pem, 0o644)?;
    }
    kubelet::write_kubelet_files(ctx, &env, &kubelet_config)?;
    kubelet::start_service(ctx)?;
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            "would wait for the kubelet to perform the TLS Bootstrap",
        );
        return Ok(());
    }
    ctx.out.status(
        "kubelet-start",
        "Waiting for the kubelet to perform the TLS Bootstrap",
    );
    let kubelet = wait_for_kubelet_conf(ctx, join.tls_bootstrap_timeout)?;
    let api = kubelet.with(ctx);
    let wait = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "kubelet-start",
        format!("Waiting for the kubelet to register Node {node_name:?}"),
        POLL,
        join.tls_bootstrap_timeout,
    )
    .quiet();
    let node = node::until_registered(wait, &api, &node_name)?
    .or_else(|_| {
        anyhow::anyhow!(
            "the kubelet got its certificate but did not register Node {node_name:?} within {}\n\nhint: see why in the kubelet's log (`journalctl -u kubelet -n 50`)",
            duration::format(join.tls_bootstrap_timeout)
        )
    })?;
    if !ctx.profile().node_local_cri_socket {
        node::annotate_cri_socket(ctx, &api, node)
            .context("failed to record this node's CRI socket on its Node")?;
    }
    ctx.root.remove_all(BOOTSTRAP_KUBELET_CONF)?;
    Ok(())
}

/// Polls for a `kubelet.conf` whose credentials exist (the kubelet writes the certificate, then
/// the kubeconfig); returns a client with them. On timeout, says which step did not happen.
fn wait_for_kubelet_conf(ctx: &Context, timeout: Duration) -> Result<Client> {
    let conf = paths::kubeconfig("kubelet.conf");
    let transport = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "kubelet-start",
        "Waiting for the kubelet's client certificate",
        POLL,
        timeout,
    )
    .until(|| {
        if ctx.root.exists(&conf)
            && let Ok(t) = HttpTransport::from_kubeconfig(&ctx.root, &conf)
        {
            return Ok(Poll::Ready(t));
        }
        Ok(Poll::Pending(String::new()))
    })?
    .or_else(|_| diagnose(ctx, timeout))?;
    Ok(Client::new(Box::new(transport), Retry::default()))
}

/// What the cluster says about this node's certificate request, asked with the bootstrap token.
fn diagnose(ctx: &Context, timeout: Duration) -> anyhow::Error {
    let waited = duration::format(timeout);
    let token_id = ctx
        .cfg
        .join
        .as_ref()
        .and_then(|j| j.tls_bootstrap_token.as_ref())
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let finding = match csr_state(ctx, &token_id) {
        Err(e) => format!("kubestrap could not read the certificate signing requests: {e:#}"),
        Ok(None) => "the kubelet sent no certificate signing request: it is not running, or it cannot reach the API server with bootstrap-kubelet.conf\n\nhint: `systemctl status kubelet` and `journalctl -u kubelet -n 50` show why".to_string(),
        Ok(Some(csr)) => csr.explain(),
    };
    let log = kubelet_log_tail(ctx)
        .map(|l| format!("\n\nthe kubelet's last log lines:\n{l}"))
        .unwrap_or_default();
    anyhow::anyhow!(
        "the kubelet did not complete its TLS bootstrap within {waited}: {finding}{log}"
    )
}

/// The kubelet's last lines in systemd's journal, where systemd runs it.
fn kubelet_log_tail(ctx: &Context) -> Option<String> {
    if !crate::host::systemd_running(&ctx.root) {
        return None;
    }
    let out = ctx
        .host
        .output(
            std::path::Path::new("journalctl"),
            &["-u", "kubelet", "-n", "15", "--no-pager", "-o", "cat"],
        )
        .ok()?;
    let lines: Vec<String> = out.lines().map(|l| format!("  {l}")).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The newest CSR made with this node's bootstrap token.
struct Csr {
    name: String,
    approved: bool,
    denied: Option<String>,
    issued: bool,
}

impl Csr {
    fn explain(&self) -> String {
        let n = &self.name;
        if let Some(why) = &self.denied {
            return format!(
                "its certificate signing request {n} was denied ({why})\n\nhint: on a control-plane node, `kubectl get csr {n} -o yaml` shows who denied it"
            );
        }
        if !self.approved {
            return format!(
                "its certificate signing request {n} is waiting for approval: kube-controller-manager approves it when the ClusterRoleBinding kubeadm:node-autoapprove-bootstrap exists and the csrapproving controller runs\n\nhint: on a control-plane node, `kubectl certificate approve {n}` approves it by hand; `kubestrap init phase bootstrap-token` restores the binding"
            );
        }
        if !self.issued {
            return format!(
                "its certificate signing request {n} is approved but not signed: kube-controller-manager signs with the cluster CA (--cluster-signing-cert-file/--cluster-signing-key-file)\n\nhint: check that kube-controller-manager runs on the control plane and can read ca.key"
            );
        }
        format!(
            "its certificate signing request {n} was approved and signed, but the kubelet did not write kubelet.conf\n\nhint: the kubelet's log (`journalctl -u kubelet -n 50`) says why"
        )
    }
}

fn csr_state(ctx: &Context, token_id: &str) -> Result<Option<Csr>> {
    let api = ctx.api()?;
    let items: Vec<Value> = api.list(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        "certificatesigningrequests",
    )?;
    let user = format!("system:bootstrap:{token_id}");
    let newest = items
        .into_iter()
        .filter(|c| c.pointer("/spec/username").and_then(Value::as_str) == Some(user.as_str()))
        .max_by_key(|c| {
            c.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        });
    Ok(newest.map(|c| {
        let conditions = c
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has = |t: &str| {
            conditions
                .iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some(t))
        };
        Csr {
            name: c
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            approved: has("Approved").is_some(),
            denied: has("Denied").or(has("Failed")).map(|x| {
                x.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
                    .to_string()
            }),
            issued: c
                .pointer("/status/certificate")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_csr_state_names_its_own_next_step() {
        let csr = |approved, denied: Option<&str>, issued| Csr {
            name: "csr-x".into(),
            approved,
            denied: denied.map(str::to_string),
            issued,
        };
        assert!(
            csr(false, None, false)
                .explain()
                .contains("waiting for approval")
        );
        assert!(
            csr(true, None, false)
                .explain()
                .contains("approved but not signed")
        );
        assert!(
            csr(true, None, true)
                .explain()
                .contains("did not write kubelet.conf")
        );
        assert!(
            csr(false, Some("nope"), false)
                .explain()
                .contains("denied (nope)")
        );
    }
}
