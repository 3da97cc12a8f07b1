//! The `mark-control-plane` phase and `kubestrap taint`: labels and taints of a control-plane
//! node (spec §10.2). The merge is pure; the phase adds one GET (waiting for the Node to
//! register) and one merge PATCH guarded by the resourceVersion.

use anyhow::Result;
use serde_json::{Value, json};

use crate::api::Api;
use crate::api::node::change_node_from;
use crate::api::objects::{Node, Taint};
use crate::phases::node::{node_timeout, wait_for_node};
use crate::runner::context::Context;
use crate::version::Profile;

/// Both keys kubeadm has used for the control-plane taint.
pub const TAINT_KEYS: &[&str] = &[
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// The taints a control-plane node gets: `nodeRegistration.taints`, or the version's default
/// when the field is absent (`[]` means none).
pub fn wanted_taints(profile: &Profile, configured: Option<&[crate::config::Taint]>) -> Vec<Taint> {
    match configured {
        Some(list) => list
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect: t.effect.clone(),
                time_added: None,
            })
            .collect(),
        None => profile
            .control_plane_taints
            .iter()
            .map(|k| Taint {
                key: (*k).into(),
                value: None,
                effect: "NoSchedule".into(),
                time_added: None,
            })
            .collect(),
    }
}

fn same(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// The merge patch that adds labels and taints to a node (existing taints kept); `None` when
/// the node has them all.
pub fn mark_patch(node: &Node, labels: &[&str], taints: &[Taint]) -> Option<Value> {
    let missing_labels: Vec<&&str> = labels
        .iter()
        .filter(|l| node.metadata.labels.get(**l).is_none_or(|v| !v.is_empty()))
        .collect();
    let mut all = node.spec.taints.clone();
    for t in taints {
        if !all.iter().any(|have| same(have, t)) {
            all.push(t.clone());
        }
    }
    if missing_labels.is_empty() && all.len() == node.spec.taints.len() {
        return None;
    }
    let label_map: serde_json::Map<String, Value> = missing_labels
        .iter()
        .map(|l| ((**l).to_string(), json!("")))
        .collect();
    Some(json!({
        "metadata": {"labels": label_map, "resourceVersion": node.metadata.resource_version},
        "spec": {"taints": all},
    }))
}

/// The merge patch that removes every control-plane taint (both keys); `None` when there is none.
pub fn untaint_patch(node: &Node) -> Option<Value> {
    let kept: Vec<&Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| !(TAINT_KEYS.contains(&t.key.as_str()) && t.effect == "NoSchedule"))
        .collect();
    (kept.len() != node.spec.taints.len()).then(|| {
        json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"taints": kept},
        })
    })
}

/// The `mark-control-plane` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    mark_node(ctx, &ctx.api()?)
}

/// Labels and taints this node as a control-plane node, through `api`.
pub fn mark_node(ctx: &Context, api: &Api<'_>) -> Result<()> {
    let profile = ctx.profile();
    let name = ctx.cfg.node_name.clone();
    let labels = profile.control_plane_labels;
    let taints = wanted_taints(&profile, ctx.cfg.init.node_registration.taints.as_deref());
    let label_text = if profile.version.at_least(21) {
        format!("the labels: [{}]", labels.join(" "))
    } else {
        "the labels \"node-role.kubernetes.io/master=''\" and \"node-role.kubernetes.io/control-plane='' (deprecated)\"".to_string()
    };
    ctx.out.status(
        "mark-control-plane",
        &format!("Marking the node {name} as control-plane by adding {label_text}"),
    );
    if !taints.is_empty() {
        let list: Vec<String> = taints.iter().map(Taint::describe).collect();
        ctx.out.status(
            "mark-control-plane",
            &format!(
                "Marking the node {name} as control-plane by adding the taints [{}]",
                list.join(" ")
            ),
        );
    }
    let node = wait_for_node(ctx, api, node_timeout(ctx))?;
    change_node_from(api, node, |node| mark_patch(node, labels, &taints))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::KubeVersion;

    fn node(labels: &[&str], taints: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.metadata.name = "n1".into();
        n.metadata.resource_version = Some("7".into());
        for l in labels {
            n.metadata.labels.insert((*l).into(), String::new());
        }
        n.spec.taints = taints
            .iter()
            .map(|(k, e)| Taint {
                key: (*k).into(),
                value: None,
                effect: (*e).into(),
                time_added: None,
            })
            .collect();
        n
    }

    #[test]
    fn default_taints_follow_the_version() {
        let p = |v: &str| KubeVersion::parse(v).unwrap().profile();
        let keys = |p: &Profile| {
            wanted_taints(p, None)
                .into_iter()
                .map(|t| t.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&p("v1.20.2")), ["node-role.kubernetes.io/master"]);
        assert_eq!(keys(&p("v1.24.0")).len(), 2);
        assert_eq!(
            keys(&p("v1.31.0")),
            ["node-role.kubernetes.io/control-plane"]
        );
        assert!(wanted_taints(&p("v1.31.0"), Some(&[])).is_empty());
    }

    #[test]
    fn marking_keeps_other_taints_and_is_idempotent() {
        let p = KubeVersion::parse("v1.31.0").unwrap().profile();
        let taints = wanted_taints(&p, None);
        let n = node(&[], &[("example.com/x", "NoExecute")]);
        let patch = mark_patch(&n, p.control_plane_labels, &taints).unwrap();
        assert_eq!(patch["spec"]["taints"].as_array().unwrap().len(), 2);
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        let done = node(
            p.control_plane_labels,
            &[
                ("example.com/x", "NoExecute"),
                ("node-role.kubernetes.io/control-plane", "NoSchedule"),
            ],
        );
        assert_eq!(mark_patch(&done, p.control_plane_labels, &taints), None);
    }

    #[test]
    fn untaint_removes_both_keys_only() {
        let n = node(
            &[],
            &[
                ("node-role.kubernetes.io/master", "NoSchedule"),
                ("node-role.kubernetes.io/control-plane", "NoSchedule"),
                ("example.com/x", "NoExecute"),
            ],
        );
        let patch = untaint_patch(&n).unwrap();
        assert_eq!(
            patch["spec"]["taints"],
            json!([{"key": "example.com/x", "effect": "NoExecute"}])
        );
        assert_eq!(
            untaint_patch(&node(&[], &[("example.com/x", "NoExecute")])),
            None
        );
    }
}
