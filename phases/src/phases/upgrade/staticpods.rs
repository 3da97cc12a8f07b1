//! `upgrade/control-plane`: each control-plane static pod of this node in turn (etcd when its
//! manifest changes, then kube-apiserver, kube-controller-manager, kube-scheduler): its manifest
//! backed up, its certificates renewed, the manifest init writes for the target version
//! written, then a wait until the kubelet replaced the pod (the mirror pod's
//! `kubernetes.io/config.hash` differs from the one before) and the new pod is ready. When a
//! component does not come back, it and every component replaced before it in this run are
//! rolled back, and the error says which component failed and what the kubelet and the
//! runtime report. A run killed half-way finds its [`Record`] and waits for what it had
//! started.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;

use crate::api::Client;
use crate::fs::{fault, paths};
use crate::phases::control_plane::{self, HostFacts};
use crate::phases::upgrade::cluster::{self, CONFIG_HASH};
use crate::phases::upgrade::record::Record;
use crate::phases::upgrade::{Settings, snapshot_etcd, tag};
use crate::phases::{apply_patches, etcd, renewal};
use crate::render::patches::Target;
use crate::render::staticpod;
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait, Waited};

const TAG: &str = "upgrade/staticpods";
/// How often the mirror pod and the runtime are looked at.
const POLL: Duration = Duration::from_millis(500);
/// Restarts of the new container after which it is crash-looping, not starting.
const CRASH_LOOP_RESTARTS: u64 = 2;

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
    for component in components {
        if let Err(e) = upgrade_one(ctx, &settings, component, &mut record, &mut replaced) {
            // Stopped by a signal, it is left as a kill would leave it: the record lets the
            // same command go on.
            if ctx.opts.dry_run || crate::host::interrupt::Interrupted::find(&e).is_some() {
                return Err(e);
            }
            let rolled = rollback(ctx, &settings, &replaced);
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
            return Err(e.context(format!(
                "the upgrade of {component} to {} failed; {rolled_text}\n\nhint: fix the cause shown below, then run `kubestrap upgrade apply {}` again",
                settings.to, settings.to
            )));
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

fn upgrade_one(
    ctx: &Context,
    settings: &Settings,
    component: &'static str,
    record: &mut Record,
    replaced: &mut Vec<Replaced>,
) -> Result<()> {
    let path = paths::manifest(component);
    let current = ctx.root.read_to_string(&path)?;
    let Some(target) = target_manifest(ctx, component)? else {
        return Ok(());
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
                wait(ctx, settings, component, Want::Changed(step.old_hash.clone()))?;
                record.replaced(component, None, true);
                record.save(&ctx.root)?;
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
        return Ok(());
    }
    if settings.from == settings.to {
        // The same version with another configuration: a reconfiguration, shown first.
        let path = paths::manifest(component);
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
    let old_hash = match (&step, ctx.opts.dry_run) {
        (Some(step), _) => step.old_hash.clone(),
        (None, true) => None,
        (None, false) => poll_client(ctx)
            .ok()
            .and_then(|c| cluster::mirror_pod(&c.with(ctx), component, &ctx.cfg.node_name).ok())
            .flatten()
            .and_then(|p| p.hash),
    };
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
        return Ok(());
    }
    wait(ctx, settings, component, Want::Changed(old_hash))?;
    record.replaced(component, None, true);
    record.save(&ctx.root)
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

/// Renews the certificates `component` reads (unless `--certificate-renewal=false`).
fn renew_certificates(ctx: &Context, component: &str) -> Result<()> {
    for item in renewal::Renewable::all(ctx)
        .into_iter()
        .filter(|r| r.component() == Some(component))
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

/// The workflow's health client: the upgrade's gives up on a call after a few seconds, as
/// while a component restarts a poll that fails is only a poll that saw nothing yet.
fn poll_client(ctx: &Context) -> Result<Client> {
    ctx.health_client()
}

/// What a wait waits for.
#[derive(Debug, Clone)]
enum Want {
    /// A new pod: the hash differs from this one (any hash when there was no mirror pod).
    Changed(Option<String>),
    /// The old pod back (a rollback): this hash again.
    Back(String),
}

/// Waits until the mirror pod of `component` on this node has the wanted hash and is ready,
/// with one progress line naming the component, the hash and what the kubelet reports.
fn wait(ctx: &Context, settings: &Settings, component: &str, want: Want) -> Result<()> {
    let api_client = poll_client(ctx)?;
    let api = api_client.with(ctx);
    let node = ctx.cfg.node_name.clone();
    let socket = ctx.cfg.cri_socket_path().to_string();
    let what = match &want {
        Want::Changed(Some(h)) => {
            format!("{component}: waiting for the kubelet to replace the pod (hash {h})")
        }
        Want::Changed(None) => format!("{component}: waiting for the kubelet to start the pod"),
        Want::Back(h) => format!("{component}: waiting for the old pod (hash {h}) to be back"),
    };
    ctx.out.status(TAG, &what);
    let path = format!("/api/v1/namespaces/kube-system/pods/{component}-{node}");
    let manifest = ctx.root.read_to_string(paths::manifest(component))?;
    let probes = staticpod::health_checks(&manifest).unwrap_or_default();
    let started = std::time::Instant::now();
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        TAG,
        what.clone(),
        POLL,
        settings.timeout,
    )
    .until(|| {
        let runtime = new_container(&socket, component, &node, &want);
        if let (Want::Changed(_), Some(c)) = (&want, &runtime)
            && c.attempt >= CRASH_LOOP_RESTARTS
            && c.state != "CONTAINER_RUNNING"
        {
            bail!(failure(
                ctx,
                component,
                &format!(
                    "its new container is crash-looping (restarted {} times)",
                    c.attempt
                ),
                runtime.as_ref()
            ));
        }
        let runtime_text = runtime
            .as_ref()
            .map(describe_container)
            .unwrap_or_else(|| "no new container yet".into());
        let pod = match api.get_value(&path, &format!("pod `kube-system/{component}-{node}`")) {
            Ok(Some(pod)) => pod,
            Ok(None) => {
                return Ok(Poll::Pending(format!(
                    "no mirror pod yet; runtime: {runtime_text}"
                )));
            }
            Err(_) => {
                return Ok(Poll::Pending(format!(
                    "the API server does not answer yet; runtime: {runtime_text}"
                )));
            }
        };
        let hash = pod["metadata"]["annotations"][CONFIG_HASH]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let wanted = match &want {
            Want::Changed(old) => old.as_deref() != Some(hash.as_str()),
            Want::Back(h) => *h == hash,
        };
        // The kubelet may keep a pod it started again under the same hash "not ready" for
        // long: the pod's container running and answering its own probes is as good.
        let ready = is_ready(&pod)
            || (!probes.is_empty()
                && running_in(&socket, component, &node, &hash)
                && probes.iter().all(control_plane::probe_answers));
        if wanted && ready {
            return Ok(Poll::Ready(hash));
        }
        let kubelet = cluster::container_report(&pod);
        Ok(Poll::Pending(match &want {
            Want::Changed(_) if wanted => format!("new hash {hash}; kubelet: {kubelet}"),
            Want::Changed(_) => format!("hash still {hash}; kubelet: {kubelet}"),
            Want::Back(_) if wanted => format!("hash {hash} again; kubelet: {kubelet}"),
            Want::Back(_) => format!("hash {hash}; kubelet: {kubelet}"),
        }))
    })?;
    match waited {
        Waited::Ready(hash) => {
            ctx.out.status(
                TAG,
                &format!(
                    "{component} is ready (hash {hash}) after {:.1}s",
                    started.elapsed().as_secs_f64()
                ),
            );
            Ok(())
        }
        Waited::TimedOut(last) => {
            let runtime = new_container(&socket, component, &node, &want);
            Err(failure(
                ctx,
                component,
                &format!(
                    "it did not become ready within {} (last seen: {last})",
                    crate::config::duration::format(settings.timeout)
                ),
                runtime.as_ref(),
            ))
        }
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// The newest container of the component's pod that is not the one being replaced.
fn new_container(
    socket: &str,
    component: &str,
    node: &str,
    want: &Want,
) -> Option<crate::cri::Container> {
    let pod = format!("{component}-{node}");
    crate::cri::containers(Path::new(socket), Duration::from_secs(5))
        .ok()?
        .into_iter()
        .filter(|c| c.name == component && c.pod == pod && c.namespace == "kube-system")
        .filter(|c| match want {
            Want::Changed(old) => old.as_deref() != Some(c.pod_uid.as_str()),
            Want::Back(h) => *h == c.pod_uid,
        })
        .max_by_key(|c| c.attempt)
}

/// Whether a container of the pod with this hash (a static pod's UID) runs.
fn running_in(socket: &str, component: &str, node: &str, hash: &str) -> bool {
    let pod = format!("{component}-{node}");
    crate::cri::containers(Path::new(socket), Duration::from_secs(5)).is_ok_and(|list| {
        list.iter().any(|c| {
            c.name == component
                && c.pod == pod
                && c.pod_uid == hash
                && c.state == "CONTAINER_RUNNING"
        })
    })
}

fn describe_container(c: &crate::cri::Container) -> String {
    let state = c.state.trim_start_matches("CONTAINER_").to_lowercase();
    match c.exit_code {
        Some(code) => format!(
            "{state} (exit code {code}{}), attempt {}",
            if c.reason.is_empty() {
                String::new()
            } else {
                format!(", {}", c.reason)
            },
            c.attempt
        ),
        None => format!("{state}, attempt {}", c.attempt),
    }
}

/// Why a component failed: what the kubelet and the runtime report and its log's last lines.
fn failure(
    ctx: &Context,
    component: &str,
    why: &str,
    runtime: Option<&crate::cri::Container>,
) -> anyhow::Error {
    let mut text = format!("{component} did not come back: {why}");
    match runtime {
        Some(c) => text.push_str(&format!(
            "\n{component}: the container runtime reports its new container {}",
            describe_container(c)
        )),
        None => text.push_str(&format!(
            "\n{component}: the container runtime has no new container for it (the kubelet did not start the new manifest: an image it cannot get, or a file the manifest names that is missing)"
        )),
    }
    if let Some(logs) = control_plane::container_logs(ctx, component) {
        text.push_str(&format!(
            "\n{component}: last lines of its log:\n    {}",
            logs.tail.join("\n    ")
        ));
    }
    text.push_str(&format!(
        "\nsee also: `journalctl -u kubelet -n 100`, `crictl ps -a --name {component}`"
    ));
    anyhow!(text)
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
            && let Err(e) = wait(ctx, settings, r.component, Want::Back(hash.clone()))
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
    fn manifests_are_compared_by_content() {
        let a = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  namespace: kube-system\n";
        let b = "kind: Pod\napiVersion: \"v1\"\nmetadata: {namespace: kube-system, name: x}\n";
        assert!(same_content(a, b));
        assert!(!same_content(a, &a.replace("name: x", "name: y")));
    }

    #[test]
    fn backups_are_named_by_date_as_kubeadm_names_them() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            dated("kubeadm-backup-manifests", at),
            "/etc/kubernetes/tmp/kubeadm-backup-manifests-2023-11-14-22-13-20"
        );
    }
}
