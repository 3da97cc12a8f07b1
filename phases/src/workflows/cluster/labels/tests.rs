//! Labels and taints from the file: set, updated, and removed when the file drops them, never
//! those set by others.

use super::*;
use crate::api::fake::FakeApi;
use crate::api::{Client, Retry};
use crate::runner::report::RecordingReporter;

const NODE: &str = "/api/v1/nodes/node2";

fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: value.map(str::to_string),
        effect: effect.into(),
    }
}

fn want(labels: &[(&str, &str)], taints: Vec<Taint>) -> NodeWant {
    NodeWant {
        name: "node2".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        taints,
    }
}

/// node2 as the kubelet registered it, with a label and a taint someone set by hand.
fn cluster() -> FakeApi {
    let fake = FakeApi::new();
    fake.put(
        NODE,
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "node2", "labels": {"kubernetes.io/hostname": "node2", "by-hand": "yes"}},
               "spec": {"taints": [{"key": "by-hand", "effect": "NoSchedule"}]}}),
    );
    fake
}

fn run(fake: &FakeApi, want: &NodeWant) -> bool {
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let out = RecordingReporter::default();
    ensure(&client.with(&out), want).unwrap()
}

fn node(fake: &FakeApi) -> Node {
    serde_json::from_value(fake.object(NODE).unwrap()).unwrap()
}

fn taints(fake: &FakeApi) -> Vec<String> {
    node(fake)
        .spec
        .taints
        .iter()
        .map(|t| t.describe())
        .collect()
}

#[test]
fn dropped_labels_and_taints_go_others_stay() {
    let fake = cluster();
    let first = want(
        &[("tier", "work"), ("zone", "a")],
        vec![
            taint("dedicated", Some("batch"), "PreferNoSchedule"),
            taint("gpu", None, "NoSchedule"),
        ],
    );
    assert!(run(&fake, &first));
    let n = node(&fake);
    assert_eq!(
        n.metadata.labels.get("tier").map(String::as_str),
        Some("work")
    );
    assert_eq!(n.metadata.labels.get("zone").map(String::as_str), Some("a"));
    assert_eq!(
        taints(&fake),
        [
            "by-hand:NoSchedule",
            "dedicated=batch:PreferNoSchedule",
            "gpu:NoSchedule"
        ]
    );
    assert_eq!(
        n.metadata.annotations.get(APPLIED).map(String::as_str),
        Some(
            r#"{"labels":["tier","zone"],"taints":["dedicated:PreferNoSchedule","gpu:NoSchedule"]}"#
        )
    );

    // The same file again: not one write.
    fake.clear_log();
    assert!(!run(&fake, &first));
    assert_eq!(fake.writes(), Vec::<String>::new());

    // `zone` and the `gpu` taint dropped from the file, `tier` and the taint's value changed.
    let second = want(
        &[("tier", "batch")],
        vec![taint("dedicated", Some("nightly"), "PreferNoSchedule")],
    );
    assert!(run(&fake, &second));
    let n = node(&fake);
    assert_eq!(
        n.metadata.labels.get("tier").map(String::as_str),
        Some("batch")
    );
    assert!(
        !n.metadata.labels.contains_key("zone"),
        "{:?}",
        n.metadata.labels
    );
    assert_eq!(
        n.metadata.labels.get("by-hand").map(String::as_str),
        Some("yes"),
        "a label set by hand was removed"
    );
    assert!(n.metadata.labels.contains_key("kubernetes.io/hostname"));
    assert_eq!(
        taints(&fake),
        ["by-hand:NoSchedule", "dedicated=nightly:PreferNoSchedule"]
    );

    // Nothing left in the file: the rest of what it set goes, with the annotation.
    assert!(run(&fake, &want(&[], vec![])));
    let n = node(&fake);
    assert!(!n.metadata.labels.contains_key("tier"));
    assert!(!n.metadata.annotations.contains_key(APPLIED));
    assert_eq!(taints(&fake), ["by-hand:NoSchedule"]);
    assert_eq!(
        n.metadata.labels.get("by-hand").map(String::as_str),
        Some("yes")
    );
}

#[test]
fn a_label_set_by_hand_is_not_removed_when_the_file_never_set_it() {
    let fake = cluster();
    assert!(run(&fake, &want(&[("tier", "work")], vec![])));
    // The file never listed `by-hand`: dropping `tier` removes `tier` only.
    assert!(run(&fake, &want(&[], vec![])));
    let n = node(&fake);
    assert_eq!(
        n.metadata.labels.get("by-hand").map(String::as_str),
        Some("yes")
    );
    assert!(!n.metadata.labels.contains_key("tier"));
    assert_eq!(taints(&fake), ["by-hand:NoSchedule"]);
}

#[test]
fn a_node_the_file_wants_nothing_of_needs_not_exist() {
    let fake = FakeApi::new();
    assert!(!run(&fake, &want(&[], vec![])));
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let out = RecordingReporter::default();
    let err = ensure(&client.with(&out), &want(&[("tier", "work")], vec![])).unwrap_err();
    assert!(
        format!("{err:#}").contains("node `node2` does not exist"),
        "{err:#}"
    );
}

#[test]
fn an_unreadable_annotation_removes_nothing() {
    let fake = cluster();
    let mut n = fake.object(NODE).unwrap();
    n["metadata"]["annotations"] = json!({APPLIED: "edited by hand"});
    n["metadata"]["labels"]["tier"] = json!("work");
    fake.put(NODE, n);
    assert!(run(&fake, &want(&[], vec![])));
    let n = node(&fake);
    assert_eq!(
        n.metadata.labels.get("tier").map(String::as_str),
        Some("work")
    );
    assert!(!n.metadata.annotations.contains_key(APPLIED));
}
