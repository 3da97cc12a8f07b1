//! A Node's labels and taints as the cluster file says: what the file sets is added or updated,
//! and what an earlier apply set from the file but the file no longer lists is removed. Labels
//! and taints set by anyone else (kubeadm's control-plane label and taint, the kubelet's, a
//! user's `kubectl label`) are never touched.
//!
//! What the file set is remembered in an annotation on the Node itself, as `kubectl apply`
//! keeps its last-applied configuration: it lives and dies with the Node (a host reset and
//! joined again starts from a fresh Node with nothing to remove), and it is changed in the same
//! patch as the labels, so the two cannot disagree.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::file::Taint;
use crate::api::Api;
use crate::api::node::{change_node_from, node_ref};
use crate::api::objects::{Node, Taint as NodeTaint};

/// The annotation that holds what the file set: label keys and taints as `key:Effect`.
pub const APPLIED: &str = "cluster.kubestrap.io/applied";

/// The labels and taints a Node must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeWant {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
}

/// The content of [`APPLIED`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Applied {
    #[serde(default)]
    labels: Vec<String>,
    /// `key:Effect`: a Node has one taint per key and effect.
    #[serde(default)]
    taints: Vec<String>,
}

impl Applied {
    fn of(want: &NodeWant) -> Self {
        Applied {
            labels: want.labels.keys().cloned().collect(),
            taints: want
                .taints
                .iter()
                .map(|t| taint_id(&t.key, &t.effect))
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.taints.is_empty()
    }
}

fn taint_id(key: &str, effect: &str) -> String {
    format!("{key}:{effect}")
}

/// The merge patch that gives `node` the labels and taints of `want` and removes those an
/// earlier apply set that `want` no longer has; `None` when the Node is as wanted.
pub fn patch(node: &Node, want: &NodeWant) -> Option<Value> {
    let meta = &node.metadata;
    // An annotation that does not parse (edited by hand) remembers nothing: only additions.
    let before: Applied = meta
        .annotations
        .get(APPLIED)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let now = Applied::of(want);

    let mut labels = Map::new();
    for (k, v) in &want.labels {
        if meta.labels.get(k) != Some(v) {
            labels.insert(k.clone(), json!(v));
        }
    }
    for k in &before.labels {
        if !want.labels.contains_key(k) && meta.labels.contains_key(k) {
            labels.insert(k.clone(), Value::Null);
        }
    }

    let mut taints: Vec<NodeTaint> = node
        .spec
        .taints
        .iter()
        .filter(|t| {
            let id = taint_id(&t.key, &t.effect);
            !before.taints.contains(&id) || now.taints.contains(&id)
        })
        .cloned()
        .collect();
    for t in &want.taints {
        let value = t.value.as_deref().unwrap_or_default();
        match taints
            .iter_mut()
            .find(|h| h.key == t.key && h.effect == t.effect)
        {
            Some(h) if h.value.as_deref().unwrap_or_default() == value => {}
            Some(h) => h.value.clone_from(&t.value),
            None => taints.push(NodeTaint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect: t.effect.clone(),
                time_added: None,
            }),
        }
    }
    let taints_changed = taints != node.spec.taints;

    let annotation = (!now.is_empty()).then(|| serde_json::to_string(&now).unwrap_or_default());
    let annotation_changed = meta.annotations.get(APPLIED) != annotation.as_ref();
    if labels.is_empty() && !taints_changed && !annotation_changed {
        return None;
    }
    let mut metadata = json!({"resourceVersion": meta.resource_version});
    if !labels.is_empty() {
        metadata["labels"] = Value::Object(labels);
    }
    if annotation_changed {
        metadata["annotations"] = json!({ APPLIED: annotation });
    }
    let mut patch = json!({ "metadata": metadata });
    if taints_changed {
        patch["spec"] = json!({ "taints": taints });
    }
    Some(patch)
}

/// Gives Node `want.name` its labels and taints; whether anything changed. A Node that does not
/// exist is an error, unless the file wants nothing of it.
pub fn ensure(api: &Api<'_>, want: &NodeWant) -> Result<bool> {
    let node: Option<Node> = api.get(&node_ref(&want.name)?)?;
    let node = match node {
        Some(node) => node,
        None if want.labels.is_empty() && want.taints.is_empty() => return Ok(false),
        None => anyhow::bail!("node `{}` does not exist at {}", want.name, api.endpoint()),
    };
    change_node_from(api, node, |n| patch(n, want))
        .with_context(|| format!("failed to label and taint node `{}`", want.name))
}

#[cfg(test)]
mod tests;
