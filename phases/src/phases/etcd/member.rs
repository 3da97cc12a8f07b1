//! A joining control-plane node's etcd member: the cluster is checked, the member added as a
//! learner, its static pod written, and it is promoted once it has caught up. A member that never
//! starts then costs the others nothing, and a failed join can always take it out again.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::api::Api;
use crate::api::etcd_client::ClientTls;
use crate::api::etcd_cluster::{self, EtcdCalls, Gateway, Member};
use crate::config::net;
use crate::fs::paths;
use crate::phases::etcd::leave::{Interruptible, remove_member};
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait, Waited};

/// An etcd member this join added, kept while the join has not finished: a failure removes it
/// again. Its ID and where the cluster's other members answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedMember {
    pub id: String,
    pub others: Vec<String>,
}

/// The annotation of kubeadm's etcd pods that says where the member serves clients.
const ETCD_CLIENT_URLS: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";
/// How long the new member gets to start, catch up and be promoted.
const ETCD_JOIN_TIMEOUT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_secs(1);
/// How long this node's kubelet gets to report its ephemeral storage (it updates its Node's
/// status every 10 s).
const NODE_STORAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A dry run reports the etcd step instead of taking it: etcd has no dry run.
fn dry_run_says(ctx: &Context, what: &str) -> bool {
    if ctx.opts.dry_run {
        ctx.out.status("dryrun", &format!("Would {what}"));
    }
    ctx.opts.dry_run
}

/// Where the members of the cluster serve clients: the annotations of the etcd pods.
fn etcd_endpoints(api: &Api) -> Result<Vec<String>> {
    let pods: Vec<Value> = api.list(
        "/api/v1/namespaces/kube-system/pods?labelSelector=component%3Detcd%2Ctier%3Dcontrol-plane",
        "etcd pods in kube-system",
    )?;
    let mut urls: Vec<String> = pods
        .iter()
        .filter_map(|p| {
            p.pointer("/metadata/annotations")?
                .get(ETCD_CLIENT_URLS)?
                .as_str()
        })
        .flat_map(|u| u.split(','))
        .map(str::to_string)
        .collect();
    urls.dedup();
    if urls.is_empty() {
        bail!(
            "no etcd pod in kube-system says where it serves clients (annotation {ETCD_CLIENT_URLS}), so kubestrap cannot reach the cluster's etcd\n\nhint: the cluster's etcd is not a stacked one made by kubestrap or kubeadm; join this node as a worker, or check the etcd pods with `kubectl -n kube-system get pods -l component=etcd`"
        );
    }
    Ok(urls)
}

/// The cluster's etcd, reached with this node's apiserver-etcd-client certificate.
fn gateway(ctx: &Context, endpoints: Vec<String>) -> Result<Gateway> {
    let dir = ctx.cert_dir();
    let read = |f: &str| {
        ctx.root
            .read(format!("{dir}/{f}"))
            .with_context(|| format!("etcd is reached with `{dir}/{f}`"))
    };
    Ok(Gateway {
        endpoints,
        tls: ClientTls {
            ca: read("etcd/ca.crt")?,
            identity: Some((
                read("apiserver-etcd-client.crt")?,
                read("apiserver-etcd-client.key")?,
            )),
        },
        timeout: Duration::from_secs(10),
    })
}

fn cluster_gateway(ctx: &Context) -> Result<Gateway> {
    let endpoints = etcd_endpoints(&ctx.admin()?)?;
    gateway(ctx, endpoints)
}

fn peer_url(ctx: &Context) -> String {
    format!(
        "https://{}",
        net::join_host_port(&ctx.cfg.advertise_address.to_string(), super::PEER_PORT)
    )
}

/// Refuses when this node's address is a member already, or the cluster is not safe to grow.
fn check_cluster(ctx: &Context, etcd: &dyn EtcdCalls) -> Result<Vec<Member>> {
    let (members, _) = etcd.members()?;
    let peer = peer_url(ctx);
    if let Some(m) = members.iter().find(|m| m.peer_urls.contains(&peer)) {
        bail!(
            "this node's address {peer} belongs to etcd member {} already\n\nhint: if that member is this node's from an earlier join, remove it on another control-plane node with `etcdctl member remove {}`, run `kubestrap reset` here, then join again",
            m.describe(),
            m.id
        );
    }
    etcd_cluster::check_safe_to_add(etcd, &members)?;
    Ok(members)
}

/// `check-etcd`: the cluster's etcd answers and is healthy.
pub fn check_etcd(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane()
        || ctx.cfg.cluster.etcd.local.is_none()
        || dry_run_says(ctx, "check that the etcd cluster is healthy")
    {
        return Ok(());
    }
    let gw = cluster_gateway(ctx)?;
    let members = check_cluster(ctx, &gw)?;
    ctx.out.status(
        "check-etcd",
        &format!(
            "The etcd cluster is healthy: {} members, all started",
            members.len()
        ),
    );
    Ok(())
}

/// `control-plane-join/etcd` (`etcd-join` on 1.34+): the member is added as a learner, its
/// static pod written, and it is promoted once it has caught up.
pub fn join_etcd(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    if ctx.cfg.cluster.etcd.local.is_none() {
        ctx.out.status(
            "control-plane-join",
            "using external etcd - no local stacked instance added",
        );
        return Ok(());
    }
    if dry_run_says(
        ctx,
        "add this node's etcd member as a learner, write its static pod and promote it",
    ) {
        return Ok(());
    }
    let admin = ctx.admin()?;
    if ctx.cfg.version.profile().etcd_ephemeral_storage_request {
        wait_for_node_storage(ctx, &admin)?;
    }
    let gw = gateway(ctx, etcd_endpoints(&admin)?)?;
    add_member(ctx, &gw)
}

/// Up to 1.21 etcd's pod requests ephemeral storage, and the kubelet admits such a pod only once
/// it knows the node's capacity, which a kubelet started moments before (kubelet-start) may not
/// report yet; a static pod it refused is not tried again, and the member would never start. So
/// the member waits until this node's Node shows that capacity. A kubelet that never reports it
/// (local storage isolation off) does not check it either: after the time, a warning and on.
fn wait_for_node_storage(ctx: &Context, api: &Api) -> Result<()> {
    let node = &ctx.cfg.node_name;
    let path = format!("/api/v1/nodes/{node}");
    let target = format!("Node {node}");
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "etcd",
        format!("Waiting for the kubelet to report the ephemeral storage of {target}"),
        POLL,
        NODE_STORAGE_TIMEOUT,
    )
    .until(|| {
        Ok(match api.get_value(&path, &target) {
            Ok(Some(v)) => match storage_pending(&v) {
                None => Poll::Ready(()),
                Some(why) => Poll::Pending(why),
            },
            Ok(None) => Poll::Pending(format!("no {target} yet")),
            Err(e) => Poll::Pending(format!("{e:#}")),
        })
    })?;
    if let Waited::TimedOut(last) = waited {
        ctx.out.warn(
            "etcd",
            &format!(
                "{last} after {}s; etcd's static pod, which requests ephemeral storage, is written anyway",
                NODE_STORAGE_TIMEOUT.as_secs()
            ),
        );
    }
    Ok(())
}

/// Why a Node does not show its ephemeral storage yet; `None` once it does.
fn storage_pending(node: &Value) -> Option<String> {
    let quantity = node
        .pointer("/status/allocatable/ephemeral-storage")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A quantity above zero has a digit other than 0 before its unit.
    let above_zero = quantity
        .trim_start_matches(['0', '.'])
        .starts_with(|c: char| c.is_ascii_digit());
    (!above_zero).then(|| "the kubelet has not reported the node's ephemeral storage yet".into())
}

fn add_member(ctx: &mut Context, etcd: &dyn EtcdCalls) -> Result<()> {
    let before = check_cluster(ctx, etcd)?;
    let (id, after) = etcd.add_learner(&peer_url(ctx))?;
    let others = before
        .iter()
        .flat_map(|m| m.client_urls.iter().cloned())
        .collect();
    ctx.set_state(AddedMember {
        id: id.clone(),
        others,
    });
    ctx.out.status(
        "etcd",
        "Announced new etcd member joining to the existing etcd cluster",
    );
    let initial = etcd_cluster::initial_cluster(&after, &id, &ctx.cfg.node_name);
    let manifest = super::joining_manifest(&ctx.cfg, &initial)?;
    let manifest =
        crate::phases::apply_patches::yaml(ctx, crate::render::patches::Target::Etcd, &manifest)?;
    if let Some(local) = &ctx.cfg.cluster.etcd.local {
        ctx.root.create_dir(&local.data_dir, 0o700)?;
    }
    ctx.out.status(
        "etcd",
        &format!(
            "Creating static Pod manifest for \"etcd\" in \"{}\"",
            paths::MANIFESTS_DIR
        ),
    );
    crate::render::staticpod::write(&ctx.root, "etcd", &manifest)?;
    ctx.out.status(
        "etcd",
        "Waiting for the new etcd member to join the cluster. This can take up to 40s",
    );
    wait_and_promote(ctx, etcd, &id, ETCD_JOIN_TIMEOUT)
}

/// Waits until the learner runs and answers, then promotes it (etcd refuses until it caught
/// up) and waits until every member is healthy.
fn wait_and_promote(
    ctx: &Context,
    etcd: &dyn EtcdCalls,
    id: &str,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        "etcd",
        format!("Waiting for the new etcd member {id} to start, catch up and be promoted"),
        POLL,
        timeout,
    )
    .quiet()
    .until(|| {
        Ok(match promote_once(etcd, id) {
            Ok(true) => Poll::Ready(()),
            Ok(false) => Poll::Pending(String::from("it has not started")),
            Err(e) => Poll::Pending(format!("{e:#}")),
        })
    })?
    .or_else(|last| {
        anyhow::anyhow!(
            "the new etcd member {id} did not start, catch up and become healthy within {}s: {last}\n\nhint: look at this node's etcd container (`crictl ps -a --name etcd`, then `crictl logs <ID>`): a wrong address or certificate, or a busy disk, are the usual causes",
            timeout.as_secs()
        )
    })?;
    ctx.out.status(
        "etcd",
        &format!(
            "The new etcd member {id} was promoted to a voting member after {:.1}s",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// One round: `Ok(true)` once the member is a healthy voter and the whole cluster is healthy.
fn promote_once(etcd: &dyn EtcdCalls, id: &str) -> Result<bool> {
    let (members, _) = etcd.members()?;
    let me = members
        .iter()
        .find(|m| m.id == id)
        .context("the new member is no longer in the member list")?;
    if !me.started() {
        bail!("it has not started");
    }
    if me.is_learner {
        etcd.promote(id)?;
        return Ok(false);
    }
    let sick = etcd_cluster::unhealthy(etcd, &members);
    if !sick.is_empty() {
        let names: Vec<String> = sick.iter().map(|m| m.describe()).collect();
        bail!("not healthy yet: {}", names.join(", "));
    }
    Ok(true)
}

/// After a failed join: the member this join added leaves the cluster again, and its static pod
/// and data go, so the cluster is as it was and the node can join again after a reset.
pub fn undo_etcd_member(ctx: &mut Context) -> Result<()> {
    let Some(added) = ctx.take_state::<AddedMember>() else {
        return Ok(());
    };
    let gw = gateway(ctx, added.others.clone())?;
    remove_added(ctx, &gw, &added)
}

fn remove_added(ctx: &Context, etcd: &dyn EtcdCalls, added: &AddedMember) -> Result<()> {
    ctx.out.status(
        "etcd",
        &format!(
            "The join failed after etcd member {} was added: removing it again",
            added.id
        ),
    );
    // Not cut short by an interruption: this is how an interrupted join is undone.
    remove_member(ctx, etcd, &added.id, Interruptible::No).map_err(|e| {
        e.context(format!(
            "etcd member {} could not be removed; remove it on a control-plane node with `etcdctl member remove {}`",
            added.id, added.id
        ))
    })?;
    ctx.root.remove_all(paths::manifest("etcd"))?;
    if let Some(local) = &ctx.cfg.cluster.etcd.local {
        // Recorded for reset: with the manifest gone, it would not know the folder otherwise.
        crate::phases::reset::empty_etcd_data_dir(ctx, &local.data_dir)?;
    }
    ctx.out.status(
        "etcd",
        &format!(
            "Removed etcd member {} and this node's etcd manifest and data",
            added.id
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests;
