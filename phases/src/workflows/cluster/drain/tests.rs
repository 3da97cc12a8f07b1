//! The drain of `--prune`: evictions through the API, PodDisruptionBudgets honoured and named,
//! DaemonSet and mirror pods left alone, every wait bounded.

use super::*;
use crate::api::fake::{FakeApi, Scripted};
use crate::api::{Client, Retry};
use crate::runner::report::RecordingReporter;

const NODE: &str = "/api/v1/nodes/node2";
const PODS: &str = "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode2";
const WEB: &str = "/api/v1/namespaces/default/pods/web-1";
const JOB: &str = "/api/v1/namespaces/batch/pods/job-1";
const PROXY: &str = "/api/v1/namespaces/kube-system/pods/kube-proxy-x";
const MIRROR: &str = "/api/v1/namespaces/kube-system/pods/etcd-node2";

fn pod(ns: &str, name: &str, meta: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
        "spec": {"nodeName": "node2"}});
    if let Value::Object(m) = meta {
        for (k, v) in m {
            p["metadata"][k] = v;
        }
    }
    p
}

/// node2 with a Deployment's pod, a bare pod, a DaemonSet's pod and a mirror pod.
fn cluster() -> FakeApi {
    let fake = FakeApi::new();
    fake.put(
        NODE,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node2"}}),
    );
    let pods = [
        (
            WEB,
            pod(
                "default",
                "web-1",
                json!({"labels": {"app": "web"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d4f"}]}),
            ),
        ),
        (JOB, pod("batch", "job-1", json!({}))),
        (
            PROXY,
            pod(
                "kube-system",
                "kube-proxy-x",
                json!({
            "ownerReferences": [{"kind": "DaemonSet", "name": "kube-proxy"}]}),
            ),
        ),
        (
            MIRROR,
            pod(
                "kube-system",
                "etcd-node2",
                json!({
            "annotations": {"kubernetes.io/config.mirror": "abc"}}),
            ),
        ),
    ];
    for (path, p) in &pods {
        fake.put(path, p.clone());
    }
    let list: Vec<Value> = pods.iter().map(|(_, p)| p.clone()).collect();
    fake.script(
        Method::Get,
        PODS,
        vec![Scripted::Answer(Response::json(
            200,
            &json!({"items": list}),
        ))],
    );
    fake
}

fn quick() -> Limits {
    Limits {
        budget: Duration::from_secs(30),
        gone: Duration::from_secs(30),
        retry: Duration::from_millis(1),
        poll: Duration::from_millis(1),
    }
}

fn run(fake: &FakeApi, limits: &Limits) -> (Result<Vec<String>>, Vec<String>) {
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let out = RecordingReporter::default();
    let result = drain(&client.with(&out), &out, "node2", limits);
    (result, out.lines())
}

fn cordoned(fake: &FakeApi) -> bool {
    let node: Value = fake.object(NODE).unwrap();
    node["spec"]["unschedulable"] == json!(true)
}

fn too_many(message: &str) -> Scripted {
    Scripted::Answer(Response::json(
        429,
        &json!({"kind": "Status", "status": "Failure", "code": 429, "reason": "TooManyRequests",
                "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                "details": {"causes": [{"reason": "DisruptionBudget", "message": message}]}}),
    ))
}

#[test]
fn evicts_all_but_daemonset_and_mirror_pods_through_policy_v1beta1_on_a_1_20_server() {
    let fake = cluster();
    let (result, lines) = run(&fake, &quick());
    assert_eq!(result.unwrap(), ["default/web-1", "batch/job-1"]);
    assert!(cordoned(&fake));
    let writes = fake.writes();
    assert!(
        writes.contains(&format!("POST {WEB}/eviction web-1")),
        "{writes:?}"
    );
    assert!(
        writes.contains(&format!("POST {JOB}/eviction job-1")),
        "{writes:?}"
    );
    // Evicted, not deleted: a DELETE would pass by the budgets.
    assert!(
        !writes.iter().any(|w| w.starts_with("DELETE")),
        "{writes:?}"
    );
    assert!(fake.object(WEB).is_none() && fake.object(JOB).is_none());
    assert!(
        fake.object(PROXY).is_some(),
        "a DaemonSet's pod was evicted"
    );
    assert!(fake.object(MIRROR).is_some(), "a mirror pod was evicted");
    assert!(
        lines.contains(&"[drain] evicting pod default/web-1 (policy/v1beta1 Eviction)".to_string()),
        "{lines:?}"
    );
}

#[test]
fn a_server_that_serves_policy_v1_gets_v1_evictions() {
    let fake = cluster();
    fake.put(
        "/apis/policy/v1",
        json!({"kind": "APIResourceList", "groupVersion": "policy/v1"}),
    );
    let (result, lines) = run(&fake, &quick());
    result.unwrap();
    assert!(
        lines.contains(&"[drain] evicting pod batch/job-1 (policy/v1 Eviction)".to_string()),
        "{lines:?}"
    );
}

#[test]
fn a_budget_that_refuses_for_a_while_is_waited_for() {
    let fake = cluster();
    let path = format!("{WEB}/eviction");
    let msg = "The disruption budget web-pdb needs 1 healthy pods and has 1 currently";
    fake.script(Method::Post, &path, vec![too_many(msg), too_many(msg)]);
    let (result, _) = run(&fake, &quick());
    assert_eq!(result.unwrap(), ["default/web-1", "batch/job-1"]);
    let tries = fake
        .log()
        .iter()
        .filter(|l| l.starts_with(&format!("POST {path}")))
        .count();
    assert_eq!(tries, 3);
}

#[test]
fn a_budget_that_keeps_refusing_fails_the_drain_naming_the_pod_and_the_budget() {
    let fake = cluster();
    fake.put(
        "/apis/policy/v1beta1/namespaces/default/poddisruptionbudgets/web-pdb",
        json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "web-pdb", "namespace": "default"},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
    );
    fake.put(
        "/apis/policy/v1beta1/namespaces/default/poddisruptionbudgets/other",
        json!({"metadata": {"name": "other", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "db"}}}}),
    );
    let msg = "The disruption budget web-pdb needs 1 healthy pods and has 1 currently";
    // More refusals than the budget's time allows tries (each try waits 1 ms first).
    fake.script(
        Method::Post,
        &format!("{WEB}/eviction"),
        (0..2000).map(|_| too_many(msg)).collect(),
    );
    let limits = Limits {
        budget: Duration::from_millis(40),
        ..quick()
    };
    let (result, _) = run(&fake, &limits);
    let err = format!("{:#}", result.unwrap_err());
    assert!(
        err.contains("failed to drain node `node2` (it stays cordoned)"),
        "{err}"
    );
    assert!(
        err.contains("pod default/web-1 was not evicted within 40ms: PodDisruptionBudget default/web-pdb refuses"),
        "{err}"
    );
    assert!(err.contains(msg), "{err}");
    assert!(!err.contains("default/other"), "{err}");
    assert!(cordoned(&fake));
    assert!(fake.object(WEB).is_some());
}

#[test]
fn evicted_pods_that_stay_fail_the_drain_after_its_bound() {
    let fake = cluster();
    // The server takes the eviction but the pod stays (a kubelet that never stops it).
    fake.script(
        Method::Post,
        &format!("{JOB}/eviction"),
        vec![Scripted::Answer(Response::json(
            201,
            &json!({"kind": "Status"}),
        ))],
    );
    let limits = Limits {
        gone: Duration::from_millis(20),
        ..quick()
    };
    let (result, _) = run(&fake, &limits);
    let err = format!("{:#}", result.unwrap_err());
    assert!(
        err.contains("evicted pods still there after 20ms: batch/job-1"),
        "{err}"
    );
}

#[test]
fn a_node_without_pods_to_evict_is_only_cordoned() {
    let fake = FakeApi::new();
    fake.put(
        NODE,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node2"}}),
    );
    let (result, _) = run(&fake, &quick());
    assert_eq!(result.unwrap(), Vec::<String>::new());
    assert!(cordoned(&fake));
    assert_eq!(fake.writes(), [format!("PATCH {NODE}")]);
}
