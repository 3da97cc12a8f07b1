//! The `remove-etcd-member` phase of reset: this node's member leaves its etcd cluster when
//! there are others (their quorum depends on it), then its data folder is emptied.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::api::etcd_client::ClientTls;
use crate::api::etcd_cluster::{self, EtcdCalls, Gateway};
use crate::fs::paths;
use crate::phases::reset::{empty_dir, empty_etcd_data_dir};
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait};

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
        Ok(Left::Removed(id)) => ctx.out.status(
            "reset",
            &format!("Removed this node's member {id} from the etcd cluster"),
        ),
        Ok(Left::Alone) => ctx.out.status(
            "reset",
            "This node's etcd is the only member of its cluster: nothing to leave",
        ),
        Ok(Left::WouldBreakQuorum(why)) => bail!(
            "{why}; removing this node's member would leave the cluster without quorum, and it could no longer serve writes\n\nhint: bring the unhealthy members back (or remove dead ones with `etcdctl member remove <ID>`) first; `kubestrap reset --force` removes this member anyway"
        ),
        Err(e) => ctx.out.warn(
            "reset",
            &format!(
                "could not ask the local etcd for its members ({e:#}); if it belongs to a cluster with other members, remove it there with `etcdctl member remove <ID>`"
            ),
        ),
    }
    empty_etcd_data_dir(ctx, &data_dir)?;
    ctx.out.status(
        "reset",
        &format!("Deleted contents of the etcd data directory: {data_dir}"),
    );
    Ok(())
}

/// What leaving the etcd cluster came to.
enum Left {
    /// This member was removed (its ID).
    Removed(String),
    /// It was the only member.
    Alone,
    /// Not removed: the others would have no quorum without it (which members are sick).
    WouldBreakQuorum(String),
}

/// Asks the local etcd for its members and removes this one (the member that answers) when
/// there are others and they keep a quorum (or `--force`). A lone member is left: its data goes.
fn leave_etcd_cluster(ctx: &Context, url: &str) -> Result<Left> {
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
    let gateway = Gateway {
        endpoints: vec![url.to_string()],
        tls,
        timeout: Duration::from_secs(5),
    };
    let (members, me) = gateway.members()?;
    if me.is_empty() {
        bail!("etcd did not say which member answered");
    }
    if members.len() <= 1 {
        return Ok(Left::Alone);
    }
    let others: Vec<_> = members.iter().filter(|m| m.id != me).cloned().collect();
    let sick = etcd_cluster::unhealthy(&gateway, &others);
    if !ctx.opts.force && !etcd_cluster::quorum_without(&members, &me, &sick) {
        let names: Vec<String> = sick.iter().map(|m| m.describe()).collect();
        return Ok(Left::WouldBreakQuorum(format!(
            "of the etcd members that would stay, {} are not healthy",
            names.join(", ")
        )));
    }
    // Removed, this member stops at once: ask the others, whose answer is not lost with it.
    let mut endpoints: Vec<String> = others
        .iter()
        .flat_map(|m| m.client_urls.iter().cloned())
        .collect();
    endpoints.push(url.to_string());
    let others = Gateway {
        endpoints,
        ..gateway
    };
    remove_member(ctx, &others, &me, Interruptible::Yes)?;
    Ok(Left::Removed(me))
}

/// Whether SIGINT and SIGTERM stop [`remove_member`]'s retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruptible {
    Yes,
    /// The undo of a failed join, which is how an interrupted join cleans up.
    No,
}

/// Removes etcd member `id`. etcd refuses a removal until every other member has been up for a
/// few seconds ("unhealthy cluster", 503): a member that just joined or restarted is given
/// [`ETCD_SETTLE`], asked again every second. A removal whose answer was lost counts as done.
/// Fails with etcd's last refusal.
pub fn remove_member(
    ctx: &Context,
    etcd: &dyn EtcdCalls,
    id: &str,
    interruptible: Interruptible,
) -> Result<()> {
    let mut refused = None;
    let wait = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "etcd",
        format!("Removing etcd member {id}"),
        Duration::from_secs(1),
        ETCD_SETTLE,
    )
    .retries();
    let wait = match interruptible {
        Interruptible::Yes => wait,
        Interruptible::No => wait.uninterruptible(),
    };
    wait.until(|| match etcd.remove(id) {
        Ok(()) => Ok(Poll::Ready(())),
        Err(_)
            if etcd
                .members()
                .is_ok_and(|(now, _)| !now.iter().any(|m| m.id == id)) =>
        {
            Ok(Poll::Ready(()))
        }
        Err(e) => {
            let state = format!("{e:#}");
            refused = Some(e);
            Ok(Poll::Pending(state))
        }
    })?
    .or_else(|last| refused.take().unwrap_or_else(|| anyhow::anyhow!(last)))
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
