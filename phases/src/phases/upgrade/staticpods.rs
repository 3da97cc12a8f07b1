//! `upgrade/control-plane`: the control-plane static pods of this node (etcd when its manifest
//! changes, then kube-apiserver, then kube-controller-manager and kube-scheduler together; see
//! [`batches`]): each one's manifest backed up, its certificates renewed, the manifest init
//! writes for the target version written, then a wait until the kubelet replaced the pod (a
//! pod with another hash runs and answers its own probes; [`podwait`]). When a component does
//! not come back, every component replaced in this run is rolled back, and the error says
//! which component failed and what the kubelet and the runtime report. A run killed half-way
//! finds its [`Record`] and waits for what it had started.

use std::time::SystemTime;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::fs::{fault, paths};
use crate::phases::control_plane::{self, HostFacts};
use crate::phases::upgrade::cluster;
use crate::phases::upgrade::podwait::{self, Want, wait};
use crate::phases::upgrade::record::Record;
use crate::phases::upgrade::{Settings, snapshot_etcd, tag};
use crate::phases::{apply_patches, etcd, renewal};
use crate::render::patches::Target;
use crate::render::staticpod;
use crate::runner::context::Context;

const TAG: &str = "upgrade/staticpods";

/// A manifest this run replaced, with what it replaced.
struct Replaced {
    component: &'static str,
    old: Vec<u8>,
    old_hash: Option<String>,
}

/// The manifest `init` writes for `component` with this run's configuration (the target
/// version), patched; `None` for etcd when the cluster's etcd is external.
pub fn target_manifest(ctx: &Context, component: &str) -> Result<Option<String>> {
    let cfg = &ctx.cfg;
    let (text, target) = match component {
        "etcd" if cfg.cluster.etcd.local.is_none() => return Ok(None),
        "etcd" => (etcd::etcd_manifest(cfg)?, Target::Etcd),
        "kube-apiserver" => (
            control_plane::apiserver_manifest(cfg, &HostFacts::gather(ctx))?,
            Target::KubeApiserver,
        ),
        "kube-controller-manager" => (
            control_plane::controller_manager_manifest(cfg, &HostFacts::gather(ctx))?,
            Target::KubeControllerManager,
        ),
        "kube-scheduler" => (
            control_plane::scheduler_manifest(cfg)?,
            Target::KubeScheduler,
        ),
        other => bail!("{other} is not a control-plane static pod"),
    };
    let mut text = apply_patches::yaml(ctx, target, &text)?;
    if fault::break_component().as_deref() == Some(component) {
        // The component refuses an unknown flag and exits: it never becomes healthy.
        text = text.replacen(
            &format!("    - {component}\n"),
            &format!("    - {component}\n    - --kubestrap-test-break=true\n"),
            1,
        );
    }
    Ok(Some(text))
}

/// Whether two manifests say the same (compared as YAML values, not bytes: key order, quoting
/// and comments do not count).
pub fn same_content(a: &str, b: &str) -> bool {
    match (
        serde_yaml::from_str::<serde_yaml::Value>(a),
        serde_yaml::from_str::<serde_yaml::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// kubeadm's backup folder name: `<prefix>-2006-01-02-15-04-05`.
pub fn dated(prefix: &str, at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}/{prefix}-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        paths::TMP_DIR,
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The control-plane components of this node to upgrade, in order: etcd only when local and
/// not turned off (`--etcd-upgrade=false`).
fn components(ctx: &Context, settings: &Settings) -> Vec<&'static str> {
    cluster::local_manifests(&ctx.root)
        .into_iter()
        .filter(|c| *c != "etcd" || settings.etcd_upgrade)
        .collect()
}

/// The components restarted together, in order. etcd first and alone: the API server needs
/// it. The API server alone next: the components that talk to it must never be newer than
/// it (the version-skew policy), even for the seconds of a restart. Then kube-controller-manager
/// and kube-scheduler together: each talks only to the API server, so their restarts overlap
/// and the upgrade waits for the slower, not for both in turn.
fn batches(components: &[&'static str]) -> Vec<Vec<&'static str>> {
    let mut out: Vec<Vec<&'static str>> = Vec::new();
    for c in components {
        match out.last_mut() {
            Some(last)
                if !matches!(*c, "etcd" | "kube-apiserver")
                    && !last.iter().any(|l| matches!(*l, "etcd" | "kube-apiserver")) =>
            {
                last.push(c)
            }
            _ => out.push(vec![c]),
        }
    }
    out
}

/// The `control-plane` step (see the module doc).
pub fn run(ctx: &mut Context) -> Result<()> {
    let settings = ctx
        .state::<Settings>()
        .cloned()
        .context("the upgrade's settings are not known to this step")?;
    let components = components(ctx, &settings);
    if components.is_empty() {
        ctx.out.status(
            TAG,
            "No control-plane static pods on this node: nothing to upgrade here",
        );
        return Ok(());
    }
    let mut record = match Record::load(&ctx.root)? {
        Some(r) if r.to == settings.to.to_string() => {
            ctx.out.status(
                TAG,
                &format!(
                    "Resuming the upgrade from {} to {} that an earlier run started (backups in `{}`)",
                    r.from, r.to, r.backup_dir
                ),
            );
            r
        }
        Some(r) => bail!(
            "an upgrade from {} to {} was interrupted on this node (`{}`); finish it first\n\nhint: run `kubestrap upgrade apply {}` (or `kubestrap upgrade node`) again",
            r.from,
            r.to,
            super::record::RECORD,
            r.to
        ),
        None => Record {
            from: settings.from.to_string(),
            to: settings.to.to_string(),
            backup_dir: dated("kubeadm-backup-manifests", ctx.started),
            components: Vec::new(),
        },
    };
    ctx.out.status(
        TAG,
        &format!(
            "Writing new Static Pod manifests to \"{}\"; old ones are kept in \"{}\"",
            paths::MANIFESTS_DIR,
            record.backup_dir
        ),
    );
    let mut replaced: Vec<Replaced> = Vec::new();
    // What an earlier run replaced is rolled back with the rest if this run fails.
    for step in &record.components {
        let backup = format!("{}/{}.yaml", record.backup_dir, step.component);
        if let (Some(component), Ok(old)) = (
            components.iter().find(|c| **c == step.component),
            ctx.root.read(&backup),
        ) {
            replaced.push(Replaced {
                component,
                old,
                old_hash: step.old_hash.clone(),
            });
        }
    }
    for batch in batches(&components) {
        // Every manifest of the batch is written before any wait: their restarts overlap.
        let mut started = Vec::new();
        for component in batch {
            match replace(ctx, &settings, component, &mut record, &mut replaced) {
                Ok(Some(s)) => started.push((component, s)),
                Ok(None) => {}
                Err(e) => return Err(failed(ctx, &settings, component, e, &record, &replaced)),
            }
        }
        for (component, s) in started {
            let waited = wait(ctx, &settings, component, s.want, s.stale).and_then(|()| {
                record.replaced(component, None, true);
                record.save(&ctx.root)
            });
            if let Err(e) = waited {
                return Err(failed(ctx, &settings, component, e, &record, &replaced));
            }
        }
    }
    if !ctx.opts.dry_run {
        Record::remove(&ctx.root)?;
    }
    if replaced.is_empty() {
        ctx.out.status(
            TAG,
            &format!(
                "Nothing to change: the control plane of this node already runs {} with this configuration",
                settings.to
            ),
        );
    }
    Ok(())
}

/// The error of a failed `component`, after every component this run replaced was rolled
/// back; stopped by a signal (or a dry run), the error alone: the record lets the same command
/// go on, as after a kill.
fn failed(
    ctx: &Context,
    settings: &Settings,
    component: &str,
    e: anyhow::Error,
    record: &Record,
    replaced: &[Replaced],
) -> anyhow::Error {
    if ctx.opts.dry_run || crate::host::interrupt::Interrupted::find(&e).is_some() {
        return e;
    }
    let rolled = rollback(ctx, settings, replaced);
    let _ = Record::remove(&ctx.root);
    let names: Vec<&str> = replaced.iter().map(|r| r.component).collect();
    let rolled_text = match rolled {
        Ok(()) if names.is_empty() => "nothing had been replaced".to_string(),
        Ok(()) => format!(
            "rolled back {} to the manifests of {} (backups in `{}`)",
            names.join(", "),
            record.from,
            record.backup_dir
        ),
        Err(r) => format!(
            "the rollback of {} failed too: {r:#}\nthe old manifests are in `{}`: copy them to `{}` by hand",
            names.join(", "),
            record.backup_dir,
            paths::MANIFESTS_DIR
        ),
    };
    e.context(format!(
        "the upgrade of {component} to {} failed; {rolled_text}\n\nhint: fix the cause shown below, then run `kubestrap upgrade apply {}` again",
        settings.to, settings.to
    ))
}

/// `upgrade diff`: the unified diff of each control-plane manifest of this node from what it is
/// to what the upgrade would write (`context` lines around each change); nothing is written.
pub fn diff(ctx: &Context, context: usize) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for component in cluster::local_manifests(&ctx.root) {
        let path = paths::manifest(component);
        let current = ctx.root.read_to_string(&path)?;
        let Some(target) = target_manifest(ctx, component)? else {
            continue;
        };
        if same_content(&current, &target) {
            continue;
        }
        out.push((
            component.to_string(),
            crate::render::diff::unified(
                &current,
                &target,
                &path,
                &format!("{path} (new)"),
                context,
            ),
        ));
    }
    Ok(out)
}

/// A restart this run started: what its wait waits for.
struct Started {
    want: Want,
    /// The component's pods that had stopped before its new manifest was written.
    stale: Option<Vec<String>>,
}

/// Writes the target manifest of `component` after its backup and certificates (or finds it
/// written by an earlier run); returns what to wait for, `None` when nothing restarts.
fn replace(
    ctx: &Context,
    settings: &Settings,
    component: &'static str,
    record: &mut Record,
    replaced: &mut Vec<Replaced>,
) -> Result<Option<Started>> {
    let path = paths::manifest(component);
    let current = ctx.root.read_to_string(&path)?;
    let Some(target) = target_manifest(ctx, component)? else {
        return Ok(None);
    };
    let step = record.step(component).cloned();
    if same_content(&current, &target) {
        match step {
            Some(step) if !ctx.opts.dry_run => {
                // Done or not, it may be restarting still: the wait ends at once when it runs.
                ctx.out.status(
                    TAG,
                    &format!("{component}: the earlier run wrote its new manifest; making sure the kubelet runs it"),
                );
                return Ok(Some(Started {
                    want: Want::Changed(step.old_hash),
                    stale: None,
                }));
            }
            Some(_) => ctx.out.status(
                TAG,
                &format!("{component}: upgraded by the earlier run"),
            ),
            None => ctx.out.status(
                TAG,
                &format!("{component}: the manifest is already what {} needs (compared by content); not restarted", settings.to),
            ),
        }
        return Ok(None);
    }
    if settings.from == settings.to {
        // The same version with another configuration: a reconfiguration, shown first.
        ctx.out.status(
            TAG,
            &format!(
                "{component}: the configuration changes its manifest:\n{}",
                crate::render::diff::unified(&current, &target, &path, &format!("{path} (new)"), 3)
                    .trim_end()
            ),
        );
    }
    if component == "etcd" {
        snapshot_etcd(ctx)?;
    }
    let backup = format!("{}/{component}.yaml", record.backup_dir);
    if !ctx.root.exists(&backup) {
        ctx.root.create_dir(&record.backup_dir, 0o700)?;
        ctx.root.write(&backup, current.as_bytes(), 0o600)?;
    }
    // The pod that runs now, by its UID (its manifest's hash) in the runtime, else by the
    // mirror pod's hash.
    let runtime = (!ctx.opts.dry_run)
        .then(|| podwait::containers(ctx))
        .flatten();
    let node = &ctx.cfg.node_name;
    let old_hash = match (&step, ctx.opts.dry_run) {
        (Some(step), _) => step.old_hash.clone(),
        (None, true) => None,
        (None, false) => runtime
            .as_deref()
            .and_then(|list| podwait::running_uid(list, component, node))
            .or_else(|| {
                ctx.health_client()
                    .ok()
                    .and_then(|c| cluster::mirror_pod(&c.with(ctx), component, node).ok())
                    .flatten()
                    .and_then(|p| p.hash)
            }),
    };
    let stale = runtime
        .as_deref()
        .map(|list| podwait::stopped_pods(list, component, node));
    if settings.certificate_renewal {
        renew_certificates(ctx, component)?;
    }
    if !ctx.opts.dry_run {
        record.replaced(component, old_hash.clone(), false);
        record.save(&ctx.root)?;
    }
    if !replaced.iter().any(|r| r.component == component) {
        replaced.push(Replaced {
            component,
            old: current.into_bytes(),
            old_hash: old_hash.clone(),
        });
    }
    staticpod::write(&ctx.root, component, &target)?;
    ctx.out.status(
        TAG,
        &format!(
            "Moved the new manifest of {component} to \"{path}\" (image {})",
            image_of(&target)
        ),
    );
    if ctx.opts.dry_run {
        ctx.out.status(
            "dryrun",
            &format!("would wait for the kubelet to replace {component}"),
        );
        return Ok(None);
    }
    Ok(Some(Started {
        want: Want::Changed(old_hash),
        stale,
    }))
}

fn image_of(manifest: &str) -> String {
    serde_yaml::from_str::<serde_yaml::Value>(manifest)
        .ok()
        .and_then(|v| {
            v["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Starts generating, in the background, the keys of the certificates the control-plane step
/// will renew (those of each component whose manifest changes), so that the CPU-bound key
/// generation runs alongside the checks before it instead of in the middle of the upgrade.
pub fn prefetch_renewal_keys(ctx: &Context) {
    let Some(settings) = ctx.state::<Settings>() else {
        return;
    };
    if ctx.opts.dry_run || !settings.certificate_renewal {
        return;
    }
    let Ok(alg) = crate::phases::certs::key_algorithm(ctx) else {
        return;
    };
    let changing: Vec<&str> = components(ctx, settings)
        .into_iter()
        .filter(|c| {
            let current = ctx
                .root
                .read_to_string(paths::manifest(c))
                .unwrap_or_default();
            matches!(target_manifest(ctx, c), Ok(Some(t)) if !same_content(&current, &t))
        })
        .collect();
    let count = renewal::Renewable::all(ctx)
        .into_iter()
        .filter(|r| changing.iter().any(|c| renewed_with(*r, c)))
        .filter(|r| ctx.root.exists(r.path(ctx)))
        .count();
    crate::pki::prefetch_keys(alg, count);
}

/// Whether the upgrade of `component` renews `item`: the certificates it reads, and for etcd
/// also the client certificate of its liveness probe (as kubeadm's upgrade renews it there).
fn renewed_with(item: renewal::Renewable, component: &str) -> bool {
    item.component() == Some(component)
        || (component == "etcd"
            && item == renewal::Renewable::Leaf(crate::phases::certs::Cert::EtcdHealthcheckClient))
}

/// Renews the certificates `component` reads (unless `--certificate-renewal=false`).
fn renew_certificates(ctx: &Context, component: &str) -> Result<()> {
    for item in renewal::Renewable::all(ctx)
        .into_iter()
        .filter(|r| renewed_with(*r, component))
    {
        if let renewal::Outcome::Renewed { serial } = renewal::renew_certificate(ctx, item)? {
            ctx.out.status(
                "upgrade/staticpods",
                &format!("Renewed certificate {} (serial {serial})", item.name()),
            );
        }
    }
    Ok(())
}

/// Puts back the manifest of every component this run replaced, newest first, and waits for
/// each that the kubelet had restarted to be back with its old pod.
fn rollback(ctx: &Context, settings: &Settings, replaced: &[Replaced]) -> Result<()> {
    let mut failed = Vec::new();
    for r in replaced.iter().rev() {
        let path = paths::manifest(r.component);
        let current = ctx.root.read(&path).unwrap_or_default();
        if current != r.old {
            ctx.root.write(&path, &r.old, 0o600)?;
            ctx.out.status(
                "upgrade/rollback",
                &format!(
                    "Restored the manifest of {} (image {})",
                    r.component,
                    image_of(&String::from_utf8_lossy(&r.old))
                ),
            );
        }
        if let Some(hash) = &r.old_hash
            && let Err(e) = wait(ctx, settings, r.component, Want::Back(hash.clone()), None)
        {
            failed.push(format!("{}: {e:#}", r.component));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failed.join("\n")))
    }
}

/// The version a manifest's image runs (its tag).
pub fn manifest_tag(manifest: &str) -> String {
    tag(&image_of(manifest)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_upgrade_renews_its_probe_client_certificate_too() {
        use crate::phases::certs::Cert;
        use renewal::Renewable::Leaf;
        let etcd: Vec<Cert> = [
            Cert::EtcdServer,
            Cert::EtcdPeer,
            Cert::EtcdHealthcheckClient,
        ]
        .into_iter()
        .filter(|c| renewed_with(Leaf(*c), "etcd"))
        .collect();
        assert_eq!(etcd.len(), 3);
        assert!(!renewed_with(
            Leaf(Cert::EtcdHealthcheckClient),
            "kube-apiserver"
        ));
        assert!(renewed_with(
            Leaf(Cert::ApiserverEtcdClient),
            "kube-apiserver"
        ));
        assert!(!renewed_with(Leaf(Cert::ApiserverEtcdClient), "etcd"));
    }

    #[test]
    fn manifests_are_compared_by_content() {
        let a = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  namespace: kube-system\n";
        let b = "kind: Pod\napiVersion: \"v1\"\nmetadata: {namespace: kube-system, name: x}\n";
        assert!(same_content(a, b));
        assert!(!same_content(a, &a.replace("name: x", "name: y")));
    }

    #[test]
    fn the_api_server_restarts_alone_before_the_components_that_talk_to_it() {
        let all = [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ];
        assert_eq!(
            batches(&all),
            [
                vec!["etcd"],
                vec!["kube-apiserver"],
                vec!["kube-controller-manager", "kube-scheduler"]
            ]
        );
        assert_eq!(
            batches(&all[1..]),
            [
                vec!["kube-apiserver"],
                vec!["kube-controller-manager", "kube-scheduler"]
            ]
        );
    }

    #[test]
    fn backups_are_named_by_date_as_kubeadm_names_them() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(
            dated("kubeadm-backup-manifests", at),
            "/etc/kubernetes/tmp/kubeadm-backup-manifests-2023-11-14-22-13-20"
        );
    }
}
