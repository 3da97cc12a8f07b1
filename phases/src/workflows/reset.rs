//! The reset workflow: undo what init did to this host so that init can run again.
//!
//! kubeadm's phases: preflight, remove-etcd-member, cleanup-node. (kubeadm ≤ 1.21 also had
//! update-cluster-status, for the ClusterStatus that kubestrap never writes.) After cleaning,
//! every folder and file reset is responsible for is checked again and what is left is named.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::api::http::{Credentials, HttpTransport};
use crate::api::{Method, Request, Response, Transport};
use crate::fs::paths;
use crate::runner::Phase;
use crate::runner::context::Clients;
use crate::runner::context::Context;

/// The API clients reset's phases get: admin.conf when it is there, as for init.
pub const CLIENTS: Clients = super::clients::ADMIN;

/// The reset phases, in kubeadm's order.
pub static PHASES: &[Phase] = &[
    Phase::leaf("preflight", "Run reset pre-flight checks", preflight),
    Phase::leaf(
        "remove-etcd-member",
        "Remove a local etcd member.",
        remove_etcd_member,
    ),
    Phase::leaf("cleanup-node", "Run cleanup node.", cleanup_node),
];

/// The kubeconfig files reset deletes.
const KUBECONFIGS: [&str; 6] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// How long removing every pod through the runtime may take.
const CRI_TIMEOUT: Duration = Duration::from_secs(120);

fn preflight(ctx: &mut Context) -> Result<()> {
    ctx.out.warn(
        "reset",
        "Changes made to this host by 'kubestrap init' (or 'kubeadm init' / 'kubeadm join') will be reverted.",
    );
    if !ctx.out.confirm("[reset] Are you sure you want to proceed?") {
        bail!("aborted reset operation\n\nhint: pass --force to reset without being asked");
    }
    ctx.out.status("preflight", "Running pre-flight checks");
    if !ctx.opts.dry_run && !ctx.host.is_root() {
        bail!(
            "[preflight] Some fatal errors occurred:\n\t[ERROR IsPrivilegedUser]: user is not running as root\n\nhint: run it again with sudo"
        );
    }
    Ok(())
}

/// The data folder of the local etcd: the `etcd-data` volume of its manifest.
fn etcd_data_dir(pod: &Value) -> Option<String> {
    pod.pointer("/spec/volumes")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == "etcd-data")?
        .pointer("/hostPath/path")?
        .as_str()
        .map(str::to_string)
}

/// Where the local etcd serves clients: the first of its manifest's `--listen-client-urls`.
fn etcd_client_url(pod: &Value) -> Option<String> {
    pod.pointer("/spec/containers/0/command")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|arg| arg.strip_prefix("--listen-client-urls="))?
        .split(',')
        .next()
        .map(str::to_string)
}

fn remove_etcd_member(ctx: &mut Context) -> Result<()> {
    let manifest = paths::manifest("etcd");
    let Some(text) = ctx.root.read_optional(&manifest)? else {
        ctx.out
            .status("reset", "No etcd config found. Assuming external etcd");
        ctx.out.status(
            "reset",
            "Please, manually reset etcd to prevent further issues",
        );
        return Ok(());
    };
    let pod: Value = serde_yaml::from_slice(&text).unwrap_or_default();
    let data_dir = match etcd_data_dir(&pod) {
        Some(dir) => dir,
        None => {
            ctx.out.warn(
                "reset",
                &format!(
                    "`{manifest}` names no etcd-data volume, using {}",
                    paths::DEFAULT_ETCD_DATA_DIR
                ),
            );
            paths::DEFAULT_ETCD_DATA_DIR.to_string()
        }
    };
    if ctx.opts.dry_run {
        ctx.out.status(
            "reset",
            "Would remove the etcd member of this node if the cluster has others",
        );
        ctx.out.status(
            "reset",
            &format!("Would delete contents of the etcd data directory: {data_dir}"),
        );
        empty_dir(ctx, &data_dir);
        return Ok(());
    }
    // Deleting the data of a member that others still count would cost them their quorum.
    let url = etcd_client_url(&pod).unwrap_or_else(|| "https://127.0.0.1:2379".into());
    match leave_etcd_cluster(ctx, &url) {
        Ok(Some(id)) => ctx.out.status(
            "reset",
            &format!("Removed this node's member {id} from the etcd cluster"),
        ),
        Ok(None) => ctx.out.status(
            "reset",
            "This node's etcd is the only member of its cluster: nothing to leave",
        ),
        Err(e) => ctx.out.warn(
            "reset",
            &format!(
                "could not ask the local etcd for its members ({e:#}); if it belongs to a cluster with other members, remove it there with `etcdctl member remove <ID>`"
            ),
        ),
    }
    empty_dir(ctx, &data_dir);
    ctx.out.status(
        "reset",
        &format!("Deleted contents of the etcd data directory: {data_dir}"),
    );
    Ok(())
}

/// Asks the local etcd for its members and removes this one (the member that answers) when
/// there are others; returns the removed member's ID. A lone member is left: its data goes.
fn leave_etcd_cluster(ctx: &Context, url: &str) -> Result<Option<String>> {
    let dir = ctx.cert_dir();
    let mut identity = ctx
        .root
        .read(format!("{dir}/etcd/healthcheck-client.crt"))?;
    identity.extend(
        ctx.root
            .read(format!("{dir}/etcd/healthcheck-client.key"))?,
    );
    let etcd = HttpTransport::new(Credentials {
        server: url.into(),
        ca_pem: ctx.root.read(format!("{dir}/etcd/ca.crt"))?,
        identity_pem: Some(identity),
        token: None,
    })?;
    let path = "/v3/cluster/member/list";
    let list = etcd_answer(&etcd_post(&etcd, path, &json!({}))?, path)?;
    let me = list
        .pointer("/header/member_id")
        .and_then(Value::as_str)
        .context("etcd did not say which member answered")?
        .to_string();
    let members = list["members"].as_array().map_or(0, Vec::len);
    if members <= 1 {
        return Ok(None);
    }
    // etcd refuses to remove a member until every other member has been up for a few seconds
    // ("unhealthy cluster", 503): a member that just joined or restarted is given the time.
    let path = "/v3/cluster/member/remove";
    let started = Instant::now();
    loop {
        let resp = etcd_post(&etcd, path, &json!({"ID": me}))?;
        if resp.status == 503 && started.elapsed() < ETCD_SETTLE {
            ctx.out
                .detail(&format!("etcd: {}; trying again", resp.text().trim()));
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        etcd_answer(&resp, path)?;
        return Ok(Some(me));
    }
}

/// How long a member removal waits for the other members to count as healthy.
const ETCD_SETTLE: Duration = Duration::from_secs(30);

/// One call of etcd's JSON gateway.
fn etcd_post(etcd: &HttpTransport, path: &str, body: &Value) -> Result<Response> {
    let req = Request::new(Method::Post, path).with_json("application/json", body);
    etcd.send(&req)
        .with_context(|| format!("etcd at {} did not answer {path}", etcd.endpoint()))
}

/// The JSON of a successful answer.
fn etcd_answer(resp: &Response, path: &str) -> Result<Value> {
    if resp.status != 200 {
        bail!("etcd answered {path} with {}: {}", resp.status, resp.text());
    }
    serde_json::from_slice(&resp.body)
        .with_context(|| format!("etcd's answer to {path} is not JSON"))
}

fn cleanup_node(ctx: &mut Context) -> Result<()> {
    let dry = ctx.opts.dry_run;
    if dry {
        ctx.out.status("reset", "Would stop the kubelet service");
    } else {
        ctx.out.status("reset", "Stopping the kubelet service");
        if let Err(e) = ctx.host.stop_service("kubelet") {
            ctx.out.warn(
                "reset",
                &format!("The kubelet service could not be stopped by kubestrap: {e:#}"),
            );
            ctx.out
                .warn("reset", "Please ensure kubelet is stopped manually");
        }
    }
    let kubelet_dir = paths::KUBELET_DIR;
    if dry {
        ctx.out.status(
            "reset",
            &format!("Would unmount mounted directories in {kubelet_dir:?}"),
        );
    } else {
        ctx.out.status(
            "reset",
            &format!("Unmounting mounted directories in {kubelet_dir:?}"),
        );
        let physical = ctx.root.physical(kubelet_dir)?;
        let physical = physical.canonicalize().unwrap_or(physical);
        if let Err(e) = ctx.host.unmount_under(&physical) {
            ctx.out.warn("reset", &format!("{e:#}"));
        }
    }
    remove_containers(ctx);

    let cert_dir = ctx.cert_dir().to_string();
    if cert_dir != paths::DEFAULT_CERT_DIR {
        ctx.out.warn(
            "reset",
            &format!("Cleaning a non-default certificates directory: {cert_dir:?}"),
        );
    }
    let mut dirs = vec![
        paths::MANIFESTS_DIR.to_string(),
        kubelet_dir.to_string(),
        cert_dir,
    ];
    if ctx.opts.cleanup_tmp_dir {
        dirs.push(format!("{}/tmp", paths::KUBERNETES_DIR));
    }
    let files: Vec<String> = KUBECONFIGS.iter().map(|f| paths::kubeconfig(f)).collect();
    let verb = if dry { "Would delete" } else { "Deleting" };
    ctx.out.status(
        "reset",
        &format!("{verb} contents of directories: [{}]", dirs.join(" ")),
    );
    for dir in &dirs {
        empty_dir(ctx, dir);
    }
    ctx.out
        .status("reset", &format!("{verb} files: [{}]", files.join(" ")));
    for file in &files {
        remove(ctx, file);
    }
    if !dry {
        report_leftovers(ctx, &dirs, &files)?;
    }
    Ok(())
}

/// Stops and removes every pod sandbox of the runtime (and so every container).
fn remove_containers(ctx: &Context) {
    if ctx.opts.dry_run {
        ctx.out
            .status("reset", "Would remove Kubernetes-managed containers");
        return;
    }
    let socket = ctx.cfg.cri_socket_path();
    let removed = ctx
        .root
        .physical(socket)
        .map_err(|e| format!("{e:#}"))
        .and_then(|path| {
            ctx.host
                .remove_pod_sandboxes(&path, CRI_TIMEOUT)
                .map_err(|e| e.to_string())
        });
    match removed {
        Ok(pods) => ctx.out.status(
            "reset",
            &format!("Removed {} pod sandboxes and their containers", pods.len()),
        ),
        Err(e) => ctx.out.warn(
            "reset",
            &format!(
                "failed to remove the containers through {}: {e}; remove them with `crictl rmp -af`",
                ctx.cfg.cri_socket
            ),
        ),
    }
}

/// Removes what a folder holds; the folder stays, as kubeadm leaves it.
fn empty_dir(ctx: &Context, dir: &str) {
    match ctx.root.list(dir) {
        Ok(names) => {
            for name in names {
                remove(ctx, &format!("{dir}/{name}"));
            }
        }
        Err(_) if !ctx.root.exists(dir) => {}
        Err(e) => ctx.out.warn("reset", &format!("{e:#}")),
    }
}

/// Removes a file or folder. A failure (a busy mount, say) does not stop the reset: it is
/// named here and again among what is left at the end.
fn remove(ctx: &Context, path: &str) {
    if let Err(e) = ctx.root.remove_all(path) {
        ctx.out.warn("reset", &format!("{e:#}"));
    }
}

/// Looks again at everything reset is responsible for and names what is still there.
fn report_leftovers(ctx: &Context, dirs: &[String], files: &[String]) -> Result<()> {
    let mut left = Vec::new();
    for dir in dirs {
        if ctx.root.exists(dir) {
            left.extend(
                ctx.root
                    .list(dir)?
                    .into_iter()
                    .map(|n| format!("{dir}/{n}")),
            );
        }
    }
    left.extend(files.iter().filter(|f| ctx.root.exists(f)).cloned());
    if left.is_empty() {
        ctx.out.status(
            "reset",
            "Checked: the manifests, the kubelet's folder, the certificates and the kubeconfigs are gone",
        );
    } else {
        ctx.out.warn(
            "reset",
            &format!("still present after the reset: {}", left.join(", ")),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etcd_data_folder_and_client_url_come_from_the_manifest() {
        let manifest = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n    - --data-dir=/data/etcd\n    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.1:2379\n  volumes:\n  - hostPath:\n      path: /etc/kubernetes/pki/etcd\n    name: etcd-certs\n  - hostPath:\n      path: /data/etcd\n      type: DirectoryOrCreate\n    name: etcd-data\n";
        let pod: Value = serde_yaml::from_str(manifest).unwrap();
        assert_eq!(etcd_data_dir(&pod).as_deref(), Some("/data/etcd"));
        assert_eq!(
            etcd_client_url(&pod).as_deref(),
            Some("https://127.0.0.1:2379")
        );
        let empty: Value = serde_yaml::from_str("kind: Pod\n").unwrap();
        assert_eq!(
            (etcd_data_dir(&empty), etcd_client_url(&empty)),
            (None, None)
        );
    }
}
