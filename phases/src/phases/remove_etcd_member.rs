//! The `remove-etcd-member` phase of reset: this node's member leaves its etcd cluster when
//! there are others (their quorum depends on it), then its data folder is emptied.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::api::etcd_client::{ClientTls, EtcdClient, answer};
use crate::fs::paths;
use crate::phases::cleanup_node::empty_dir;
use crate::runner::context::Context;

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

/// The `remove-etcd-member` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
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
    let cert = ctx
        .root
        .read(format!("{dir}/etcd/healthcheck-client.crt"))?;
    let key = ctx
        .root
        .read(format!("{dir}/etcd/healthcheck-client.key"))?;
    let tls = ClientTls {
        ca: ctx.root.read(format!("{dir}/etcd/ca.crt"))?,
        identity: Some((cert, key)),
    };
    let etcd = EtcdClient::new(
        url,
        Some(&tls),
        Duration::from_secs(5),
        Duration::from_secs(30),
    )?;
    let path = "/v3/cluster/member/list";
    let list = answer(&etcd.post(path, &json!({}))?, path)?;
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
        let resp = etcd.post(path, &json!({"ID": me}))?;
        if resp.status == 503 && started.elapsed() < ETCD_SETTLE {
            ctx.out
                .detail(&format!("etcd: {}; trying again", resp.text().trim()));
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        answer(&resp, path)?;
        return Ok(Some(me));
    }
}

/// How long a member removal waits for the other members to count as healthy.
const ETCD_SETTLE: Duration = Duration::from_secs(30);

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
