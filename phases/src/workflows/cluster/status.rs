//! `kubestrap cluster status` (per host: role, reachable, kubelet version, Ready, certificate
//! expiry) and `kubestrap cluster reset` (workers first, then the control planes one at a time,
//! the first last; never with a control plane out of reach unless forced, which would leave its
//! etcd member behind and could cost the etcd cluster its quorum).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use futures_util::future::join_all;

use super::agent::{Facts, NodesRequest};
use super::apply::{connect_all, node_name};
use super::file::{ClusterFile, Role};
use super::remote::{Conn, Local, limits};
use super::{Events, State, emit};
use crate::host::ssh::{self, Settings};

/// One row of `cluster status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    pub host: String,
    pub role: Role,
    pub reachable: bool,
    /// Why it is not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub kubelet_version: Option<String>,
    /// The Node's Ready condition (True, False, Unknown), `None` without a Node.
    pub ready: Option<String>,
    pub cert_expiry: Option<String>,
}

/// The state of every host of the file.
pub fn status(
    file: &ClusterFile,
    settings: &Settings,
    binary: &std::path::Path,
    events: &dyn Events,
) -> Result<Vec<HostStatus>> {
    let rt = ssh::runtime()?;
    rt.block_on(ssh::interruptible(async {
        let control =
            tempfile::tempdir().context("failed to make a folder for the SSH control sockets")?;
        let local = &Local::read(binary)?;
        let conns = connect_all(
            &file.hosts,
            &file.binary_path,
            local,
            &[],
            settings,
            control.path(),
            events,
        )
        .await;
        let mut rows = Vec::new();
        let mut live: Vec<(usize, Conn)> = Vec::new();
        for (i, c) in conns.into_iter().enumerate() {
            let h = &file.hosts[i];
            rows.push(HostStatus {
                host: h.name.clone(),
                role: h.role,
                reachable: c.is_ok(),
                error: c.as_ref().err().map(|e| format!("{e:#}")),
                kubelet_version: None,
                ready: None,
                cert_expiry: None,
            });
            if let Ok(c) = c {
                live.push((i, c));
            }
        }
        let facts: Vec<Result<Facts>> = join_all(
            live.iter()
                .map(|(_, c)| async move { c.install(local).await.map(|(_, f)| f) }),
        )
        .await;
        let mut first = None;
        let mut names = vec![String::new(); file.hosts.len()];
        for ((i, c), f) in live.iter().zip(facts) {
            match f {
                Ok(f) => {
                    rows[*i].kubelet_version = f.kubelet_version.clone();
                    rows[*i].cert_expiry = f.cert_expiry.clone();
                    names[*i] = node_name(&file.hosts[*i], &f);
                    if first.is_none() && f.admin_conf && file.hosts[*i].role == Role::ControlPlane
                    {
                        first = Some((*i, c));
                    }
                }
                Err(e) => rows[*i].error = Some(format!("{e:#}")),
            }
        }
        if let Some((at, c)) = first {
            match c.nodes(&NodesRequest::default()).await {
                Ok(reply) => {
                    for (i, n) in names.iter().enumerate() {
                        rows[i].ready = reply
                            .nodes
                            .iter()
                            .find(|r| &r.name == n)
                            .map(|r| r.ready.clone());
                    }
                }
                Err(e) => rows[at].error = Some(format!("the node list: {e:#}")),
            }
        }
        join_all(live.into_iter().map(|(_, c)| c.close())).await;
        Ok(rows)
    }))
}

/// What `cluster reset` is asked to do.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub file: ClusterFile,
    pub ssh: Settings,
    /// Reset what can be reached even with a control plane out of reach.
    pub force: bool,
    pub binary: PathBuf,
}

/// Resets every host of the file: workers at once, then control planes one at a time (the first
/// last), each `kubestrap reset -f --verify`. Returns the hosts that failed.
pub fn reset(opts: &ResetOptions, events: &dyn Events) -> Result<Vec<(String, String)>> {
    let rt = ssh::runtime()?;
    rt.block_on(ssh::interruptible(async {
        let file = &opts.file;
        let control = tempfile::tempdir().context("failed to make a folder for the SSH control sockets")?;
        let local = Local::read(&opts.binary)?;
        let conns = connect_all(&file.hosts, &file.binary_path, &local, &[], &opts.ssh, control.path(), events).await;
        let mut live = Vec::new();
        let mut missing = Vec::new();
        for (i, c) in conns.into_iter().enumerate() {
            match c {
                Ok(c) => live.push(c),
                Err(e) => missing.push((i, format!("{e:#}"))),
            }
        }
        let cp_missing: Vec<&str> = missing
            .iter()
            .filter(|(i, _)| file.hosts[*i].role == Role::ControlPlane)
            .map(|(i, _)| file.hosts[*i].name.as_str())
            .collect();
        let cps = file.hosts.iter().filter(|h| h.role == Role::ControlPlane).count();
        if !cp_missing.is_empty() && cps > 1 && !opts.force {
            join_all(live.into_iter().map(Conn::close)).await;
            bail!(
                "control-plane host(s) out of reach: {}; resetting the others would leave their etcd members behind and could cost etcd its quorum: nothing was reset\n\nhint: bring them back, or run again with --force to reset what can be reached",
                cp_missing.join(", ")
            );
        }
        let mut failed: Vec<(String, String)> = missing
            .iter()
            .map(|(i, e)| (file.hosts[*i].name.clone(), e.clone()))
            .collect();
        for c in &live {
            if let Err(e) = c.install(&local).await {
                failed.push((c.host.name.clone(), format!("{e:#}")));
            }
        }
        async fn reset_one(c: &Conn, events: &dyn Events) -> Result<(), (String, String)> {
            let name = c.host.name.as_str();
            emit(events, Some(name), "reset", State::Started, "kubestrap reset -f --verify");
            match c.kubestrap(&["reset", "-f", "--verify"], limits::RESET).await {
                Ok(_) => {
                    emit(events, Some(name), "reset", State::Done, "reset; nothing of the cluster left");
                    Ok(())
                }
                Err(e) => {
                    emit(events, Some(name), "reset", State::Failed, format!("{e:#}"));
                    Err((name.to_string(), format!("{e:#}")))
                }
            }
        }
        let workers: Vec<&Conn> = live.iter().filter(|c| c.host.role == Role::Worker).collect();
        for r in join_all(workers.into_iter().map(|c| reset_one(c, events))).await {
            if let Err(f) = r {
                failed.push(f);
            }
        }
        let mut cps: Vec<&Conn> = live.iter().filter(|c| c.host.role == Role::ControlPlane).collect();
        cps.reverse();
        for c in cps {
            if let Err(f) = reset_one(c, events).await {
                failed.push(f);
            }
        }
        join_all(live.into_iter().map(Conn::close)).await;
        Ok(failed)
    }))
}
