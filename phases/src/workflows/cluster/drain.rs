//! A Node emptied before `--prune` resets its host, as `kubectl drain --ignore-daemonsets
//! --delete-emptydir-data` does: cordoned, each pod evicted through the Eviction API (so
//! PodDisruptionBudgets are honoured) but those of DaemonSets and the static (mirror) ones, and
//! waited for until the evicted pods are gone. Every wait is bounded.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::api::node::node_ref;
use crate::api::{Api, JSON, Log, MERGE_PATCH, Method, Request, Response};

/// How long a drain waits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For PodDisruptionBudgets to allow the evictions (all of the node's pods together).
    pub budget: Duration,
    /// For the evicted pods to be gone (their grace period included).
    pub gone: Duration,
    /// Between two evictions of a pod a budget refused.
    pub retry: Duration,
    /// Between two looks at the evicted pods.
    pub poll: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            budget: Duration::from_secs(120),
            gone: Duration::from_secs(150),
            // kubectl drain's pause after a 429.
            retry: Duration::from_secs(5),
            poll: Duration::from_secs(1),
        }
    }
}

/// One pod to evict.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pod {
    namespace: String,
    name: String,
    uid: String,
    labels: serde_json::Map<String, Value>,
}

impl Pod {
    fn path(&self) -> String {
        format!("/api/v1/namespaces/{}/pods/{}", self.namespace, self.name)
    }

    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Cordons node `name` and evicts its pods; the evicted pods (`namespace/name`) once gone.
pub fn drain(api: &Api<'_>, out: &dyn Log, name: &str, limits: &Limits) -> Result<Vec<String>> {
    api.patch(
        &node_ref(name)?,
        MERGE_PATCH,
        &json!({"spec": {"unschedulable": true}}),
    )
    .with_context(|| format!("failed to cordon node `{name}`"))?;
    let listed: Vec<Value> = api.list(
        &format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{name}"),
        "pods",
    )?;
    let pods: Vec<Pod> = listed.iter().filter_map(evictable).collect();
    if pods.is_empty() {
        return Ok(Vec::new());
    }
    let version = policy_version(api)?;
    let deadline = Instant::now() + limits.budget;
    for pod in &pods {
        out.status(
            "drain",
            &format!("evicting pod {} ({version} Eviction)", pod.id()),
        );
        evict(api, out, pod, version, deadline, limits)
            .with_context(|| format!("failed to drain node `{name}` (it stays cordoned)"))?;
    }
    wait_gone(api, out, &pods, limits)
        .with_context(|| format!("failed to drain node `{name}` (it stays cordoned)"))?;
    Ok(pods.iter().map(Pod::id).collect())
}

/// A pod the drain evicts: not a DaemonSet's (its controller would put it back on the node
/// at once, and tolerates the cordon), not a mirror of a static pod (the kubelet runs it from a
/// file; the reset removes it).
fn evictable(pod: &Value) -> Option<Pod> {
    let meta = &pod["metadata"];
    let daemon = meta["ownerReferences"]
        .as_array()
        .is_some_and(|o| o.iter().any(|r| r["kind"] == "DaemonSet"));
    let mirror = meta["annotations"]["kubernetes.io/config.mirror"].is_string();
    if daemon || mirror {
        return None;
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Some(Pod {
        namespace: text(&meta["namespace"]),
        name: text(&meta["name"]),
        uid: text(&meta["uid"]),
        labels: meta["labels"].as_object().cloned().unwrap_or_default(),
    })
}

/// The Eviction's API group version: `policy/v1` where the server serves it (Kubernetes 1.22
/// and later), else `policy/v1beta1`.
fn policy_version(api: &Api<'_>) -> Result<&'static str> {
    Ok(
        match api.get_value("/apis/policy/v1", &"the policy/v1 API group")? {
            Some(_) => "policy/v1",
            None => "policy/v1beta1",
        },
    )
}

/// Posts the pod's Eviction, again while a PodDisruptionBudget refuses it (429), until
/// `deadline`.
fn evict(
    api: &Api<'_>,
    out: &dyn Log,
    pod: &Pod,
    version: &str,
    deadline: Instant,
    limits: &Limits,
) -> Result<()> {
    let body = json!({
        "apiVersion": version,
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
    });
    let req = Request::new(Method::Post, format!("{}/eviction", pod.path())).with_json(JSON, &body);
    loop {
        let resp = api
            .send_once(&req)
            .with_context(|| format!("failed to evict pod {}", pod.id()))?;
        match resp.status {
            200..=299 | 404 => return Ok(()),
            429 if Instant::now() + limits.retry <= deadline => {
                out.detail(&format!(
                    "pod {}: {}; trying again in {:?}",
                    pod.id(),
                    refusal(&resp),
                    limits.retry
                ));
                out.pause(limits.retry)?;
            }
            429 => bail!(
                "pod {} was not evicted within {}: {} refuses ({})\n\nhint: wait until the budget allows one more pod to go (more replicas Ready elsewhere), or change it: `kubectl -n {} get poddisruptionbudgets`",
                pod.id(),
                crate::config::duration::format(limits.budget),
                budgets(api, pod, version),
                refusal(&resp),
                pod.namespace
            ),
            _ => bail!(
                "failed to evict pod {} at {}: {} {}",
                pod.id(),
                api.endpoint(),
                resp.status,
                resp.message()
            ),
        }
    }
}

/// The server's reason for a 429: the budget's own words when it gives them.
fn refusal(resp: &Response) -> String {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let causes: Vec<&str> = body["details"]["causes"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["message"].as_str()).collect())
        .unwrap_or_default();
    match causes.is_empty() {
        true => resp.message(),
        false => format!("{} {}", resp.message(), causes.join("; ")),
    }
}

/// The PodDisruptionBudgets of the pod's namespace whose `matchLabels` select it, by name.
fn budgets(api: &Api<'_>, pod: &Pod, version: &str) -> String {
    let listed: Vec<Value> = api
        .list(
            &format!(
                "/apis/{version}/namespaces/{}/poddisruptionbudgets",
                pod.namespace
            ),
            "poddisruptionbudgets",
        )
        .unwrap_or_default();
    let names: Vec<String> = listed
        .iter()
        .filter(|b| {
            b["spec"]["selector"]["matchLabels"]
                .as_object()
                .is_some_and(|m| m.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
        })
        .filter_map(|b| b["metadata"]["name"].as_str())
        .map(|n| format!("{}/{n}", pod.namespace))
        .collect();
    match names.as_slice() {
        [] => "its PodDisruptionBudget".into(),
        [one] => format!("PodDisruptionBudget {one}"),
        more => format!("PodDisruptionBudgets {}", more.join(", ")),
    }
}

/// Waits until every evicted pod is gone (or replaced by another of the same name).
fn wait_gone(api: &Api<'_>, out: &dyn Log, pods: &[Pod], limits: &Limits) -> Result<()> {
    let started = Instant::now();
    loop {
        let mut left = Vec::new();
        for pod in pods {
            let now = api.get_value(&pod.path(), &format!("pod {}", pod.id()))?;
            if now.is_some_and(|p| p["metadata"]["uid"].as_str() == Some(&pod.uid)) {
                left.push(pod.id());
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        if started.elapsed() + limits.poll > limits.gone {
            bail!(
                "evicted pods still there after {}: {}",
                crate::config::duration::format(limits.gone),
                left.join(", ")
            );
        }
        out.pause(limits.poll)?;
    }
}

#[cfg(test)]
mod tests;
