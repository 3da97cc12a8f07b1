//! The wait for the kubelet to replace a control-plane static pod (or to bring the old one back
//! in a rollback). A static pod's UID is the hash of its manifest, so the container runtime
//! shows the replacement first: the component's container runs in a pod whose UID is the
//! wanted one. Then the component must answer the probes its manifest gives it, and the answer
//! must be the new process's (on the host network both pods use the same ports): either no
//! container of another of its pods runs any more, or the probes were seen failing while the
//! new container ran — the old process had let go of the port. (The kubelet stops the old pod
//! while it starts the new one, and an old kube-apiserver, which closes its port at once, may
//! still drain requests for its whole 30 s grace period.) That is seconds earlier than the
//! mirror pod, which the kubelet updates through the API server only on a later sync of the
//! pod. Where the runtime cannot be asked, the mirror pod's `kubernetes.io/config.hash` and
//! readiness decide, as kubeadm's wait does.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use crate::cri::Container;
use crate::fs::paths;
use crate::phases::control_plane;
use crate::phases::upgrade::Settings;
use crate::phases::upgrade::cluster::{self, CONFIG_HASH};
use crate::render::staticpod;
use crate::runner::context::Context;
use crate::runner::wait::{Poll, Wait, Waited};

const TAG: &str = "upgrade/staticpods";
/// How often the runtime and the probes are looked at: a local gRPC call and a refused or
/// answered local HTTP request, cheap enough to look often.
const POLL: Duration = Duration::from_millis(100);
/// How often the mirror pod is looked at when the runtime cannot be asked.
const API_POLL: Duration = Duration::from_millis(500);
/// Restarts of the new container after which it is crash-looping, not starting.
const CRASH_LOOP_RESTARTS: u64 = 2;
/// How long one look at the runtime may take.
const CRI_TIMEOUT: Duration = Duration::from_secs(5);

/// What a wait waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// A new pod: its UID (the manifest's hash) differs from this one (any, when the component
    /// ran no pod before).
    Changed(Option<String>),
    /// The old pod back (a rollback): this UID again.
    Back(String),
}

impl Want {
    fn wants(&self, uid: &str) -> bool {
        match self {
            Want::Changed(old) => old.as_deref() != Some(uid),
            Want::Back(h) => h == uid,
        }
    }
}

/// What the runtime shows of a component's static pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The wanted pod (this UID) runs the component and no other pod of it runs.
    Replaced(String),
    /// The wanted pod runs the component and the old one (this UID) still runs too: stopping.
    Overlap { uid: String, old: String },
    /// The wanted pod's newest container keeps exiting.
    CrashLoop(Container),
    /// Not yet: what is seen instead.
    Pending(String),
}

/// The containers of `component` in its static pod `<component>-<node>`.
fn of_component<'a>(
    list: &'a [Container],
    component: &'a str,
    node: &str,
) -> impl Iterator<Item = &'a Container> + 'a {
    let pod = format!("{component}-{node}");
    list.iter()
        .filter(move |c| c.name == component && c.pod == pod && c.namespace == "kube-system")
}

/// Judges the runtime's container list for `want` (see the module doc). `stale` are the pods
/// that had stopped before the wait began (an earlier failed attempt the kubelet has not
/// collected yet): their exited containers say nothing of the new pod.
pub fn judge(
    list: &[Container],
    component: &str,
    node: &str,
    want: &Want,
    stale: &[String],
) -> Seen {
    let mine: Vec<&Container> = of_component(list, component, node).collect();
    let running: Vec<&Container> = mine
        .iter()
        .copied()
        .filter(|c| c.state == "CONTAINER_RUNNING")
        .collect();
    let newest = mine
        .iter()
        .copied()
        .filter(|c| want.wants(&c.pod_uid) && !stale.contains(&c.pod_uid))
        .max_by_key(|c| c.attempt);
    let others: Vec<&str> = running
        .iter()
        .filter(|c| !want.wants(&c.pod_uid))
        .map(|c| c.pod_uid.as_str())
        .collect();
    let wanted_running: Vec<&str> = running
        .iter()
        .filter(|c| want.wants(&c.pod_uid))
        .map(|c| c.pod_uid.as_str())
        .collect();
    if let (Want::Changed(_), Some(c)) = (want, newest)
        && c.attempt >= CRASH_LOOP_RESTARTS
        && c.state != "CONTAINER_RUNNING"
    {
        return Seen::CrashLoop(c.clone());
    }
    match (wanted_running.as_slice(), others.as_slice()) {
        ([uid, rest @ ..], []) if rest.iter().all(|r| r == uid) => Seen::Replaced(uid.to_string()),
        ([uid, rest @ ..], [old, ..]) if rest.iter().all(|r| r == uid) => Seen::Overlap {
            uid: uid.to_string(),
            old: old.to_string(),
        },
        (_, [old, ..]) => Seen::Pending(match newest {
            Some(c) => format!(
                "the pod {} still runs; new container {}",
                short(old),
                describe_container(c)
            ),
            None => format!("the pod {} still runs; no new container yet", short(old)),
        }),
        ([], []) => Seen::Pending(match newest {
            Some(c) => format!("new container {}", describe_container(c)),
            None => "no container runs".into(),
        }),
        _ => Seen::Pending("two pods of it run".into()),
    }
}

/// The pods of `component` of which no container runs.
pub fn stopped_pods(list: &[Container], component: &str, node: &str) -> Vec<String> {
    let mine: Vec<&Container> = of_component(list, component, node).collect();
    let mut out: Vec<String> = mine
        .iter()
        .filter(|c| {
            !mine
                .iter()
                .any(|o| o.pod_uid == c.pod_uid && o.state == "CONTAINER_RUNNING")
        })
        .map(|c| c.pod_uid.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The UID of the pod that runs `component` now, when exactly one does.
pub fn running_uid(list: &[Container], component: &str, node: &str) -> Option<String> {
    let mut uids: Vec<&str> = of_component(list, component, node)
        .filter(|c| c.state == "CONTAINER_RUNNING")
        .map(|c| c.pod_uid.as_str())
        .collect();
    uids.dedup();
    match uids.as_slice() {
        [uid] => Some(uid.to_string()),
        _ => None,
    }
}

/// The first characters of a UID, enough to tell pods apart on a progress line.
fn short(uid: &str) -> &str {
    uid.get(..8).unwrap_or(uid)
}

/// The runtime's containers, `None` when it cannot be asked.
pub fn containers(ctx: &Context) -> Option<Vec<Container>> {
    crate::cri::containers(Path::new(ctx.cfg.cri_socket_path()), CRI_TIMEOUT).ok()
}

/// Waits until the kubelet runs the wanted pod of `component` and it answers its probes, with
/// one progress line naming the component, the hash and what the runtime (or the kubelet)
/// reports. `stale`: the [`stopped_pods`] before the new manifest was written (else those when
/// the wait begins).
pub fn wait(
    ctx: &Context,
    settings: &Settings,
    component: &str,
    want: Want,
    stale: Option<Vec<String>>,
) -> Result<()> {
    let node = ctx.cfg.node_name.clone();
    let what = match &want {
        Want::Changed(Some(h)) => {
            format!("{component}: waiting for the kubelet to replace the pod (hash {h})")
        }
        Want::Changed(None) => format!("{component}: waiting for the kubelet to start the pod"),
        Want::Back(h) => format!("{component}: waiting for the old pod (hash {h}) to be back"),
    };
    ctx.out.status(TAG, &what);
    let manifest = ctx.root.read_to_string(paths::manifest(component))?;
    let probes = staticpod::health_checks(&manifest).unwrap_or_default();
    let answers = || !probes.is_empty() && probes.iter().all(control_plane::probe_answers);
    let mirror = MirrorWait::new(ctx, component)?;
    let stale = stale.unwrap_or_else(|| {
        containers(ctx)
            .map(|list| stopped_pods(&list, component, &node))
            .unwrap_or_default()
    });
    let mut last_api: Option<Instant> = None;
    // The probes failed while the new pod ran: whatever answers them afterwards is new.
    let mut gap = false;
    let started = Instant::now();
    let waited = Wait::new(
        ctx.out.as_ref(),
        ctx.interrupt,
        TAG,
        what.clone(),
        POLL,
        settings.timeout,
    )
    .until(|| {
        let runtime = containers(ctx);
        if let Some(list) = &runtime {
            match judge(list, component, &node, &want, &stale) {
                Seen::CrashLoop(c) => bail!(failure(
                    ctx,
                    component,
                    &format!(
                        "its new container is crash-looping (restarted {} times)",
                        c.attempt
                    ),
                    Some(&c)
                )),
                Seen::Replaced(uid) if answers() => return Ok(Poll::Ready(uid)),
                // Without probes of its own only the kubelet can say it is ready.
                Seen::Replaced(uid) if !probes.is_empty() => {
                    return Ok(Poll::Pending(format!(
                        "hash {uid} runs; its probes do not answer yet"
                    )));
                }
                Seen::Replaced(_) => {}
                Seen::Overlap { uid, old } if !probes.is_empty() => {
                    if gap && answers() {
                        return Ok(Poll::Ready(uid));
                    }
                    gap = gap || !answers();
                    return Ok(Poll::Pending(format!(
                        "hash {uid} runs; the pod {} is stopping{}",
                        short(&old),
                        if gap {
                            ""
                        } else {
                            " and still answers the probes"
                        }
                    )));
                }
                Seen::Overlap { .. } => {}
                Seen::Pending(text) => return Ok(Poll::Pending(format!("runtime: {text}"))),
            }
        }
        if last_api.is_some_and(|t| t.elapsed() < API_POLL) {
            return Ok(Poll::Pending("waiting for the mirror pod".into()));
        }
        last_api = Some(Instant::now());
        mirror.look(&want, runtime.as_deref(), &answers)
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
            let runtime = containers(ctx).and_then(|list| {
                of_component(&list, component, &node)
                    .filter(|c| want.wants(&c.pod_uid) && !stale.contains(&c.pod_uid))
                    .max_by_key(|c| c.attempt)
                    .cloned()
            });
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

/// The wait through the API server: the mirror pod's hash and readiness.
struct MirrorWait<'a> {
    api: crate::api::Client,
    ctx: &'a Context,
    component: &'a str,
    path: String,
}

impl<'a> MirrorWait<'a> {
    fn new(ctx: &'a Context, component: &'a str) -> Result<Self> {
        Ok(MirrorWait {
            api: ctx.health_client()?,
            ctx,
            component,
            path: format!(
                "/api/v1/namespaces/kube-system/pods/{component}-{}",
                ctx.cfg.node_name
            ),
        })
    }

    fn look(
        &self,
        want: &Want,
        runtime: Option<&[Container]>,
        answers: &dyn Fn() -> bool,
    ) -> Result<Poll<String>> {
        let (component, node) = (self.component, &self.ctx.cfg.node_name);
        let runtime_text = match runtime {
            Some(_) => "the new pod runs".to_string(),
            None => "the container runtime does not answer".to_string(),
        };
        let pod = match self
            .api
            .with(self.ctx)
            .get_value(&self.path, &format!("pod `kube-system/{component}-{node}`"))
        {
            Ok(Some(pod)) => pod,
            Ok(None) => {
                return Ok(Poll::Pending(format!("no mirror pod yet; {runtime_text}")));
            }
            Err(_) => {
                return Ok(Poll::Pending(format!(
                    "the API server does not answer yet; {runtime_text}"
                )));
            }
        };
        let hash = pod["metadata"]["annotations"][CONFIG_HASH]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let wanted = want.wants(&hash);
        // The kubelet may keep a pod it started again under the same hash "not ready" for
        // long: the pod's container running and answering its own probes is as good.
        let ready = is_ready(&pod)
            || runtime.is_some_and(|list| {
                of_component(list, component, node)
                    .any(|c| c.pod_uid == hash && c.state == "CONTAINER_RUNNING")
                    && answers()
            });
        if wanted && ready {
            return Ok(Poll::Ready(hash));
        }
        let kubelet = cluster::container_report(&pod);
        Ok(Poll::Pending(match want {
            Want::Changed(_) if wanted => format!("new hash {hash}; kubelet: {kubelet}"),
            Want::Changed(_) => format!("hash still {hash}; kubelet: {kubelet}"),
            Want::Back(_) if wanted => format!("hash {hash} again; kubelet: {kubelet}"),
            Want::Back(_) => format!("hash {hash}; kubelet: {kubelet}"),
        }))
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn describe_container(c: &Container) -> String {
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
    runtime: Option<&Container>,
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

#[cfg(test)]
mod tests {
    use super::*;

    const KCM: &str = "kube-controller-manager";

    fn container(uid: &str, state: &'static str, attempt: u64) -> Container {
        Container {
            id: format!("{uid}-{attempt}"),
            name: KCM.into(),
            attempt,
            state,
            pod: format!("{KCM}-node1"),
            namespace: "kube-system".into(),
            pod_uid: uid.into(),
            exit_code: (state == "CONTAINER_EXITED").then_some(1),
            reason: String::new(),
        }
    }

    fn changed(old: &str) -> Want {
        Want::Changed(Some(old.into()))
    }

    #[test]
    fn the_new_pod_counts_only_once_the_old_one_stopped() {
        let old_runs = [container("old", "CONTAINER_RUNNING", 0)];
        assert!(matches!(
            judge(&old_runs, KCM, "node1", &changed("old"), &[]),
            Seen::Pending(t) if t.contains("no new container yet")
        ));
        let both = [
            container("old", "CONTAINER_RUNNING", 0),
            container("new", "CONTAINER_RUNNING", 0),
        ];
        assert_eq!(
            judge(&both, KCM, "node1", &changed("old"), &[]),
            Seen::Overlap {
                uid: "new".into(),
                old: "old".into()
            }
        );
        let created = [
            container("old", "CONTAINER_EXITED", 0),
            container("new", "CONTAINER_CREATED", 0),
        ];
        assert!(matches!(
            judge(&created, KCM, "node1", &changed("old"), &[]),
            Seen::Pending(t) if t == "new container created, attempt 0"
        ));
        let replaced = [
            container("old", "CONTAINER_EXITED", 0),
            container("new", "CONTAINER_RUNNING", 0),
        ];
        assert_eq!(
            judge(&replaced, KCM, "node1", &changed("old"), &[]),
            Seen::Replaced("new".into())
        );
    }

    #[test]
    fn other_components_pods_and_nodes_do_not_count() {
        let mut scheduler = container("sched", "CONTAINER_RUNNING", 0);
        scheduler.name = "kube-scheduler".into();
        scheduler.pod = "kube-scheduler-node1".into();
        let mut elsewhere = container("other", "CONTAINER_RUNNING", 0);
        elsewhere.pod = format!("{KCM}-node2");
        let mut sidecar = container("old", "CONTAINER_RUNNING", 0);
        sidecar.namespace = "default".into();
        let list = [scheduler, elsewhere, sidecar];
        assert_eq!(
            judge(&list, KCM, "node1", &changed("old"), &[]),
            Seen::Pending("no container runs".into())
        );
        assert_eq!(running_uid(&list, KCM, "node1"), None);
    }

    #[test]
    fn a_rollback_waits_for_the_old_pod_and_a_crash_loop_ends_an_upgrade() {
        let back = Want::Back("old".into());
        let new_runs = [
            container("old", "CONTAINER_EXITED", 0),
            container("new", "CONTAINER_RUNNING", 0),
        ];
        assert!(matches!(
            judge(&new_runs, KCM, "node1", &back, &[]),
            Seen::Pending(t) if t.starts_with("the pod new still runs")
        ));
        let old_back = [
            container("old", "CONTAINER_EXITED", 0),
            container("new", "CONTAINER_EXITED", 3),
            container("old", "CONTAINER_RUNNING", 0),
        ];
        assert_eq!(
            judge(&old_back, KCM, "node1", &back, &[]),
            Seen::Replaced("old".into())
        );
        assert_eq!(running_uid(&old_back, KCM, "node1"), Some("old".into()));
        let looping = [
            container("old", "CONTAINER_EXITED", 0),
            container("new", "CONTAINER_EXITED", 1),
            container("new", "CONTAINER_EXITED", 2),
        ];
        assert!(matches!(
            judge(&looping, KCM, "node1", &changed("old"), &[]),
            Seen::CrashLoop(c) if c.attempt == 2
        ));
        // The exited containers of an earlier broken attempt, still on the node, are not the
        // new pod's: its own has not started yet.
        let stale = stopped_pods(&looping, KCM, "node1");
        assert_eq!(stale, ["new", "old"]);
        assert_eq!(
            judge(&looping, KCM, "node1", &changed("old"), &stale),
            Seen::Pending("no container runs".into())
        );
        // A first run without an earlier pod: whatever runs is new.
        let first = [container("new", "CONTAINER_RUNNING", 0)];
        assert_eq!(
            judge(&first, KCM, "node1", &Want::Changed(None), &[]),
            Seen::Replaced("new".into())
        );
    }
}
