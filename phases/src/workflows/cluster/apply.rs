//! `kubestrap cluster apply`: every host connected (host keys checked) before anything runs,
//! kubestrap installed where its checksum differs, the facts read, the plan made, preflight on
//! every acting host at once (one table), init on the first control plane, the other control
//! planes one at a time, the workers at once, then labels, taints, the record of the hosts, the
//! node list and the admin kubeconfig.

use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};

use super::agent::{Facts, NodeRow, NodeWant, NodesRequest, RecordedHost};
use super::configs::{api_endpoint, init_config, join_config};
use super::file::{ClusterFile, Host, Role};
use super::plan::{self, Action};
use super::preflight::{Preflight, ahead, preflighted};
use super::remote::{Ahead, Conn, Local, limits};
use super::{Events, State, emit};
use crate::host::ssh::{self, Settings};

/// The most hosts driven at once.
const PARALLEL: usize = 8;

/// For an init or a worker's join on a host whose `kubestrap preflight` apply ran a moment
/// before (the same checks, and init's image pulls): not twice.
const SKIP_PREFLIGHT: [&str; 2] = ["--skip-phases", "preflight"];

/// What `kubestrap init -o json` says that the joins need.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitResult {
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    ca_cert_hashes: Vec<String>,
}

/// What `cluster apply` is asked to do.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub file: ClusterFile,
    pub ssh: Settings,
    /// Repair what preflight finds: each host's plan shown, applied after the yes of
    /// [`Events::confirm`] (`kubestrap preflight --fix` on each acting host).
    pub fix: bool,
    /// Drain and reset the hosts the cluster has that the file no longer lists.
    pub prune: bool,
    /// How long a pruned host's evictions may wait for PodDisruptionBudgets to allow them.
    pub drain_timeout: std::time::Duration,
    /// Where to write the admin kubeconfig.
    pub admin_kubeconfig: Option<PathBuf>,
    /// This kubestrap (copied to the hosts).
    pub binary: PathBuf,
    /// The command that runs this apply again (for the summary's retry lines).
    pub command: String,
}

/// How one host ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostOutcome {
    /// Nothing needed changing.
    Unchanged(String),
    /// Changed as said.
    Done(String),
    /// Left alone, for this reason.
    Refused(String),
    /// Failed with this error.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResult {
    pub name: String,
    pub outcome: HostOutcome,
}

/// What an apply came to.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub hosts: Vec<HostResult>,
    pub nodes: Vec<NodeRow>,
    /// Hosts the cluster has recorded that the file no longer lists (after `--prune`: removed).
    pub not_in_file: Vec<RecordedHost>,
    /// How each host `--prune` drained and reset went.
    pub pruned: Vec<HostResult>,
    /// Whether any host was changed.
    pub changed: bool,
    pub admin_kubeconfig_written: bool,
}

impl ApplyReport {
    pub fn failed(&self) -> Vec<&HostResult> {
        self.hosts
            .iter()
            .chain(&self.pruned)
            .filter(|h| matches!(h.outcome, HostOutcome::Failed(_) | HostOutcome::Refused(_)))
            .collect()
    }
}

/// Applies the file; an error means nothing was changed on any host (beyond installing
/// kubestrap).
pub fn apply(opts: ApplyOptions, events: &dyn Events) -> Result<ApplyReport> {
    let rt = ssh::runtime()?;
    rt.block_on(ssh::interruptible(run(opts, events)))
}

/// Connects to every host at once; all must answer with a known host key, as root, with the
/// architecture of `local`, before anything runs ([`Conn::open`]).
pub(super) async fn connect_all(
    hosts: &[Host],
    bin: &str,
    local: &Local,
    aheads: &[Option<Ahead>],
    settings: &Settings,
    control: &std::path::Path,
    events: &dyn Events,
) -> Vec<Result<Conn>> {
    stream::iter(hosts.iter().enumerate().map(|(i, h)| async move {
        emit(
            events,
            Some(&h.name),
            "connect",
            State::Started,
            format!("{}@{}:{}", h.user, h.address, h.port),
        );
        let ahead = aheads.get(i).cloned().flatten();
        let wait = limits::session(hosts.len());
        let conn = Conn::open(h, bin, local, ahead, wait, settings, control).await;
        match &conn {
            Ok(_) => emit(events, Some(&h.name), "connect", State::Done, "connected"),
            Err(e) => emit(
                events,
                Some(&h.name),
                "connect",
                State::Failed,
                format!("{e:#}"),
            ),
        }
        conn
    }))
    .buffered(PARALLEL)
    .collect()
    .await
}

/// Every connection, or an error naming each host that failed.
pub(super) fn all_or_nothing(conns: Vec<Result<Conn>>) -> Result<Vec<Conn>> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for c in conns {
        match c {
            Ok(c) => ok.push(c),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if failed.is_empty() {
        Ok(ok)
    } else {
        Err(anyhow!(
            "{}\n\nnothing was changed on any host",
            failed.join("\n")
        ))
    }
}

/// Installs kubestrap where it differs and reads every host's facts.
pub(super) async fn install_and_facts(
    conns: &[Conn],
    local: &Local,
    events: &dyn Events,
) -> Result<Vec<Facts>> {
    let results = join_all(conns.iter().map(|c| async move {
        let name = c.host.name.as_str();
        let (copied, facts) = c.install(local).await?;
        let (state, msg) = if copied {
            (State::Done, format!("kubestrap copied to {}", c.bin))
        } else {
            (
                State::Unchanged,
                format!("{} is this kubestrap already", c.bin),
            )
        };
        emit(events, Some(name), "install", state, msg);
        emit(events, Some(name), "facts", State::Info, facts.describe());
        Ok::<Facts, anyhow::Error>(facts)
    }))
    .await;
    let mut facts = Vec::new();
    let mut failed = Vec::new();
    for (c, r) in conns.iter().zip(results) {
        match r {
            Ok(f) => facts.push(f),
            Err(e) => {
                emit(
                    events,
                    Some(&c.host.name),
                    "facts",
                    State::Failed,
                    format!("{e:#}"),
                );
                failed.push(format!("{e:#}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{}\n\nnothing was changed in the cluster",
            failed.join("\n")
        );
    }
    Ok(facts)
}

/// The node name a host registers with.
pub(super) fn node_name(host: &Host, facts: &Facts) -> String {
    host.node_name
        .clone()
        .unwrap_or_else(|| facts.hostname.to_lowercase())
}

async fn run(opts: ApplyOptions, events: &dyn Events) -> Result<ApplyReport> {
    let file = &opts.file;
    let control =
        tempfile::tempdir().context("failed to make a folder for the SSH control sockets")?;
    let local = Local::read(&opts.binary)?;
    let conns = connect_all(
        &file.hosts,
        &file.binary_path,
        &local,
        &ahead(file, opts.fix),
        &opts.ssh,
        control.path(),
        events,
    )
    .await;
    let conns = all_or_nothing(conns)?;
    let result = drive(&opts, &conns, &local, control.path(), events).await;
    join_all(conns.into_iter().map(Conn::close)).await;
    result
}

async fn drive(
    opts: &ApplyOptions,
    conns: &[Conn],
    local: &Local,
    control: &std::path::Path,
    events: &dyn Events,
) -> Result<ApplyReport> {
    let file = &opts.file;
    let facts = install_and_facts(conns, local, events).await?;
    let roles: Vec<Role> = file.hosts.iter().map(|h| h.role).collect();
    let plan = plan::plan(&roles, &facts);
    let mut outcomes: Vec<Option<HostOutcome>> = vec![None; conns.len()];
    for (i, action) in plan.actions.iter().enumerate() {
        let name = &file.hosts[i].name;
        match action {
            Action::Refuse(why) => {
                emit(events, Some(name), "plan", State::Failed, why.clone());
                outcomes[i] = Some(HostOutcome::Refused(why.clone()));
            }
            Action::Nothing => emit(
                events,
                Some(name),
                "plan",
                State::Unchanged,
                "in the cluster already",
            ),
            Action::Init => emit(
                events,
                Some(name),
                "plan",
                State::Info,
                "starts the cluster (kubestrap init)",
            ),
            Action::Join { reset_first } => emit(
                events,
                Some(name),
                "plan",
                State::Info,
                if *reset_first {
                    "remains of a half-done join: reset, then join"
                } else {
                    "joins the cluster"
                },
            ),
        }
    }
    if let Some(i) = plan.init()
        && let Some(HostOutcome::Refused(why)) = &outcomes[i]
    {
        bail!(
            "{}: {why}\n\nnothing was changed in the cluster",
            file.hosts[i].name
        );
    }
    let checked = preflighted(&plan, &facts);
    let preflight = Preflight {
        file,
        conns,
        checked: &checked,
        command: &opts.command,
        events,
    };
    if opts.fix {
        preflight.fix().await?;
    } else {
        preflight.check().await?;
    }

    let mut report = ApplyReport::default();
    let first = &conns[plan.first];
    let cp_joins = plan.joins(&roles, Role::ControlPlane);
    let worker_joins = plan.joins(&roles, Role::Worker);
    let mut certificate_key = None;
    let joins = !cp_joins.is_empty() || !worker_joins.is_empty();
    // The joins' token and the CA's pin, as the init said them.
    let mut token = None;
    let mut init_ca = None;
    if let Some(i) = plan.init() {
        let key = (!cp_joins.is_empty())
            .then(crate::pki::certificate_key)
            .transpose()?;
        emit(
            events,
            Some(&file.hosts[i].name),
            "init",
            State::Started,
            "kubestrap init",
        );
        let config = init_config(file, &file.hosts[i], key.as_deref())?;
        // Its result as a document on stdout: the token and the CA's pin for the joins.
        let mut args = vec!["init", "-o", "json"];
        if checked.contains(&(i, true)) {
            args.extend(SKIP_PREFLIGHT);
        }
        if key.is_some() {
            args.push("--upload-certs");
        }
        // Its result holds the token and the join commands, with the certificate key.
        match conns[i]
            .with_config(&args, &config, limits::INIT, true)
            .await
        {
            Ok(stdout) => {
                emit(
                    events,
                    Some(&file.hosts[i].name),
                    "init",
                    State::Done,
                    "the cluster's first control plane is up",
                );
                outcomes[i] = Some(HostOutcome::Done("initialised the cluster".into()));
                report.changed = true;
                certificate_key = key;
                let made: InitResult = serde_json::from_str(&stdout).with_context(|| {
                    format!(
                        "{}: `kubestrap init -o json` printed no result",
                        file.hosts[i].name
                    )
                })?;
                // None when the file's init skips its bootstrap-token phase: one is made below.
                token = made.tokens.into_iter().next();
                init_ca = made.ca_cert_hashes.into_iter().next();
            }
            Err(e) => {
                let msg = format!("{e:#}");
                emit(
                    events,
                    Some(&file.hosts[i].name),
                    "init",
                    State::Failed,
                    msg.clone(),
                );
                outcomes[i] = Some(HostOutcome::Failed(msg));
                for (j, o) in outcomes.iter_mut().enumerate() {
                    if o.is_none() && j != i {
                        *o = Some(HostOutcome::Failed(
                            "not joined: the cluster's first control plane failed".into(),
                        ));
                    }
                }
                report.hosts = results(file, outcomes);
                report.changed = true;
                return Ok(report);
            }
        }
    }
    let ca = plan
        .cluster_ca
        .clone()
        .or(init_ca)
        .or_else(|| facts[plan.first].ca_hash.clone())
        .ok_or_else(|| anyhow!("{}: the cluster has no CA certificate", first.host.name))?;
    let mut nodes_ahead = None;
    if joins {
        let token = match token {
            Some(t) => t,
            None => first.token().await?,
        };
        if !cp_joins.is_empty() && certificate_key.is_none() {
            let key = crate::pki::certificate_key()?;
            emit(
                events,
                Some(&first.host.name),
                "upload-certs",
                State::Started,
                "sharing the control-plane certificates",
            );
            let config = init_config(file, &first.host, Some(&key))?;
            first
                .with_config(
                    &["init", "phase", "upload-certs", "--upload-certs"],
                    &config,
                    limits::QUICK,
                    // It prints the certificate key.
                    true,
                )
                .await?;
            emit(
                events,
                Some(&first.host.name),
                "upload-certs",
                State::Done,
                "kubeadm-certs uploaded (2 h)",
            );
            certificate_key = Some(key);
        }
        let endpoint = api_endpoint(file, &first.host);
        // The labels' request after the joins goes to a command started now, whose shell starts
        // while they run (control planes one after another, then the workers at once). Had it
        // failed to start, the request starts its own below.
        let joining = limits::JOIN * (cp_joins.len() as u32 + 1);
        nodes_ahead = first.nodes_ahead(joining).await.ok();
        let join = |i: usize| {
            let (token, ca, key, endpoint) = (&token, &ca, &certificate_key, &endpoint);
            let conn = &conns[i];
            let reset_first = matches!(plan.actions[i], Action::Join { reset_first: true });
            let node = node_name(&conn.host, &facts[i]);
            // A worker's checks are those apply ran; a control plane's join checks more.
            let checked_here = conn.host.role == Role::Worker && checked.contains(&(i, false));
            async move {
                let name = conn.host.name.as_str();
                if reset_first {
                    emit(
                        events,
                        Some(name),
                        "reset",
                        State::Started,
                        "removing what a half-done join left",
                    );
                    conn.kubestrap(&["reset", "-f"], limits::RESET).await?;
                    // Its Node, if the kubelet registered it, would refuse the join (a Node of that name).
                    let request = NodesRequest {
                        remove: vec![node],
                        ..NodesRequest::default()
                    };
                    first.nodes(&request).await?;
                }
                emit(
                    events,
                    Some(name),
                    "join",
                    State::Started,
                    format!("kubestrap join {endpoint}"),
                );
                let config = join_config(file, &conn.host, endpoint, token, ca, key.as_deref())?;
                let mut args = vec!["join"];
                if checked_here {
                    args.extend(SKIP_PREFLIGHT);
                }
                conn.with_config(&args, &config, limits::JOIN, false)
                    .await?;
                emit(events, Some(name), "join", State::Done, "joined");
                Ok::<(), anyhow::Error>(())
            }
        };
        // A join's result as the host's outcome; a failure is also an event.
        let joined = |i: usize, result: Result<()>, done: &str| match result {
            Ok(()) => HostOutcome::Done(done.into()),
            Err(e) => {
                emit(
                    events,
                    Some(&file.hosts[i].name),
                    "join",
                    State::Failed,
                    format!("{e:#}"),
                );
                HostOutcome::Failed(format!("{e:#}"))
            }
        };
        // Control planes one at a time: each etcd member joins a cluster with quorum.
        for &i in &cp_joins {
            report.changed = true;
            outcomes[i] = Some(joined(i, join(i).await, "joined as a control plane"));
        }
        let done: Vec<(usize, Result<()>)> = stream::iter(worker_joins.iter().map(|&i| {
            let join = &join;
            async move { (i, join(i).await) }
        }))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
        for (i, r) in done {
            report.changed = true;
            outcomes[i] = Some(joined(i, r, "joined as a worker"));
        }
    }
    // Labels, taints and the record, through the first control plane.
    let mut ensure = Vec::new();
    let mut record = Vec::new();
    for (i, h) in file.hosts.iter().enumerate() {
        if matches!(
            outcomes[i],
            Some(HostOutcome::Refused(_) | HostOutcome::Failed(_))
        ) {
            continue;
        }
        let node = node_name(h, &facts[i]);
        // Every host, even one without labels: those an earlier apply set may have to go.
        ensure.push(NodeWant {
            name: node.clone(),
            labels: h.labels.clone(),
            taints: h.taints.clone().unwrap_or_default(),
        });
        record.push(RecordedHost {
            name: h.name.clone(),
            node,
            address: h.address.clone(),
            port: h.port,
            user: h.user.clone(),
            key_path: h.key.as_ref().map(|k| k.display().to_string()),
            sudo: h.sudo,
            role: h.role,
        });
    }
    let request = NodesRequest {
        ensure,
        record: Some(record),
        ..NodesRequest::default()
    };
    let reply = match nodes_ahead {
        Some(started) => first.nodes_by(started, &request).await,
        None => first.nodes(&request).await,
    };
    match reply {
        Ok(reply) => {
            for name in &reply.changed {
                emit(
                    events,
                    None,
                    "nodes",
                    State::Done,
                    format!("labels and taints of {name} set"),
                );
                if let Some(i) = file
                    .hosts
                    .iter()
                    .zip(&facts)
                    .position(|(h, f)| &node_name(h, f) == name)
                    && outcomes[i].is_none()
                {
                    outcomes[i] = Some(HostOutcome::Done("labels and taints set".into()));
                }
            }
            report.changed |= !reply.changed.is_empty();
            if reply.record_written {
                emit(
                    events,
                    None,
                    "record",
                    State::Done,
                    format!(
                        "the hosts recorded in ConfigMap kube-system/{}",
                        super::agent::RECORD
                    ),
                );
            }
            let listed: Vec<&str> = file.hosts.iter().map(|h| h.name.as_str()).collect();
            report.not_in_file = reply
                .recorded
                .into_iter()
                .filter(|r| !listed.contains(&r.name.as_str()))
                .collect();
            report.nodes = reply.nodes;
        }
        Err(e) => {
            let msg = format!("labels, taints and the record of the hosts: {e:#}");
            emit(
                events,
                Some(&first.host.name),
                "nodes",
                State::Failed,
                msg.clone(),
            );
            outcomes[plan.first] = Some(HostOutcome::Failed(msg));
        }
    }
    if opts.prune {
        let listed = request.record.clone().unwrap_or_default();
        for r in std::mem::take(&mut report.not_in_file) {
            match prune(opts, first, &r, &listed, local, control, events).await {
                Ok(nodes) => {
                    report.changed = true;
                    report.nodes = nodes;
                    report.pruned.push(HostResult {
                        name: r.name.clone(),
                        outcome: HostOutcome::Done(format!(
                            "drained, reset and node {} deleted",
                            r.node
                        )),
                    });
                }
                Err(e) => {
                    emit(
                        events,
                        Some(&r.name),
                        "prune",
                        State::Failed,
                        format!("{e:#}"),
                    );
                    // A drain that failed has cordoned the Node, maybe evicted pods: partial.
                    report.changed = true;
                    report.pruned.push(HostResult {
                        name: r.name.clone(),
                        outcome: HostOutcome::Failed(format!("{e:#}")),
                    });
                    report.not_in_file.push(r);
                }
            }
        }
    } else {
        for r in &report.not_in_file {
            emit(
                events,
                Some(&r.name),
                "prune",
                State::Info,
                format!(
                    "in the cluster as node {} but not in the file: left as it is (--prune drains and resets it)",
                    r.node
                ),
            );
        }
    }
    if let Some(path) = &opts.admin_kubeconfig {
        let text = first.admin_kubeconfig().await?;
        report.admin_kubeconfig_written = write_if_changed(path, text.as_bytes())?;
        emit(
            events,
            None,
            "kubeconfig",
            if report.admin_kubeconfig_written {
                State::Done
            } else {
                State::Unchanged
            },
            format!("admin kubeconfig at {}", path.display()),
        );
    }
    for (i, o) in outcomes.iter_mut().enumerate() {
        if o.is_none() {
            let what = match file.hosts[i].role {
                Role::ControlPlane => "a control plane of this cluster already",
                Role::Worker => "a worker of this cluster already",
            };
            emit(
                events,
                Some(&file.hosts[i].name),
                "apply",
                State::Unchanged,
                format!("{what}: nothing changed"),
            );
            *o = Some(HostOutcome::Unchanged(what.into()));
        }
    }
    report.hosts = results(file, outcomes);
    Ok(report)
}

/// Drains and resets a host the file no longer lists, then deletes its Node and forgets it;
/// returns the node list after.
async fn prune(
    opts: &ApplyOptions,
    first: &Conn,
    r: &RecordedHost,
    listed: &[RecordedHost],
    local: &Local,
    control: &std::path::Path,
    events: &dyn Events,
) -> Result<Vec<NodeRow>> {
    let host = Host {
        name: r.name.clone(),
        address: r.address.clone(),
        port: r.port,
        user: r.user.clone(),
        key: r.key_path.as_ref().map(PathBuf::from),
        sudo: r.sudo,
        role: r.role,
        node_name: Some(r.node.clone()),
        labels: Default::default(),
        taints: None,
    };
    emit(
        events,
        Some(&r.name),
        "prune",
        State::Started,
        format!("draining node {}", r.node),
    );
    let conn = Conn::open(
        &host,
        &opts.file.binary_path,
        local,
        None,
        limits::session(1),
        &opts.ssh,
        control,
    )
    .await?;
    let result = async {
        conn.install(local).await?;
        let drained = first
            .nodes(&NodesRequest {
                drain: vec![r.node.clone()],
                drain_timeout_seconds: Some(opts.drain_timeout.as_secs()),
                ..NodesRequest::default()
            })
            .await?;
        for pod in &drained.evicted {
            emit(
                events,
                Some(&r.name),
                "prune",
                State::Done,
                format!("evicted pod {pod}"),
            );
        }
        emit(
            events,
            Some(&r.name),
            "prune",
            State::Started,
            "kubestrap reset -f",
        );
        conn.kubestrap(&["reset", "-f"], limits::RESET).await?;
        let reply = first
            .nodes(&NodesRequest {
                remove: vec![r.node.clone()],
                record: Some(listed.to_vec()),
                forget: vec![r.name.clone()],
                ..NodesRequest::default()
            })
            .await?;
        emit(
            events,
            Some(&r.name),
            "prune",
            State::Done,
            format!("drained, reset, node {} deleted", r.node),
        );
        Ok(reply.nodes)
    }
    .await;
    conn.close().await;
    result
}

fn results(file: &ClusterFile, outcomes: Vec<Option<HostOutcome>>) -> Vec<HostResult> {
    file.hosts
        .iter()
        .zip(outcomes)
        .map(|(h, o)| HostResult {
            name: h.name.clone(),
            outcome: o.unwrap_or(HostOutcome::Unchanged("nothing to do".into())),
        })
        .collect()
}

/// Writes `bytes` to `path` (0600, through a rename) unless it holds them already.
fn write_if_changed(path: &std::path::Path, bytes: &[u8]) -> Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(false);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("failed to write in `{}`", dir.display()))?;
    use std::io::Write as _;
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(true)
}
