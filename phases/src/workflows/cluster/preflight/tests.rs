//! The cluster-wide preflight: which hosts it checks, what it reads from each, and `--fix`'s
//! plans shown per host before one question.

use std::path::Path;
use std::sync::Mutex;

use anyhow::anyhow;

use super::super::file::{Role, parse as parse_file};
use super::super::plan;
use super::*;

#[test]
fn preflight_checks_fresh_hosts_only() {
    let half_init = Facts {
        kube_files: true,
        ..Facts::default()
    };
    let roles = [Role::ControlPlane, Role::Worker, Role::Worker];
    let partial_join = Facts {
        kube_files: true,
        ..Facts::default()
    };
    // A fresh cluster: the init host and the fresh worker; the half-done join is reset first.
    let fresh = plan::plan(
        &roles,
        &[Facts::default(), Facts::default(), partial_join.clone()],
    );
    assert_eq!(
        preflighted(
            &fresh,
            &[Facts::default(), Facts::default(), partial_join.clone()]
        ),
        vec![(0, true), (1, false)]
    );
    // A half-done init resumes with init's own preflight, which knows its files.
    let facts = [half_init, Facts::default(), partial_join];
    let resumed = plan::plan(&roles, &facts);
    assert_eq!(resumed.init(), Some(0));
    assert_eq!(preflighted(&resumed, &facts), vec![(1, false)]);
}

/// What `kubestrap preflight --fix --dry-run` prints on a host with forwarding off.
const PLAN_RUN: &str = "[preflight] Checking this host for Kubernetes v1.20.2
[preflight] Running pre-flight checks
[WARNING KernelModules]: kernel module br_netfilter is not loaded
\twhy: kube-proxy and most pod networks need bridged traffic to pass iptables
\tfix: modprobe br_netfilter && echo br_netfilter >> /etc/modules-load.d/k8s.conf
\tauto: `--fix` does this for you, reversibly (kubestrap preflight --fix)
[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1
\twhy: it is 0; pods' traffic would not be forwarded
\tfix: sysctl -w net.ipv4.ip_forward=1
\t     echo 'net.ipv4.ip_forward = 1' >> /etc/sysctl.d/99-kubernetes.conf
\tauto: `--fix` does this for you, reversibly (kubestrap preflight --fix)
[fix] kubestrap can make these changes:
[fix] 1. kernel module br_netfilter (and /etc/modules-load.d/kubestrap.conf): not loaded → loaded now and at boot   (modprobe br_netfilter)
[fix] 2. net.ipv4.ip_forward (and /etc/sysctl.d/99-kubestrap.conf): 0 → 1   (sysctl -w net.ipv4.ip_forward=1)
[fix] --dry-run: nothing changed
error: [preflight] Some fatal errors occurred: FileContent--proc-sys-net-ipv4-ip_forward
";

#[test]
fn a_plan_run_gives_the_failing_checks_with_their_fix_and_the_plan() {
    let found = parse(PLAN_RUN);
    assert_eq!(
        found.errors,
        vec![(
            "FileContent--proc-sys-net-ipv4-ip_forward".to_string(),
            "/proc/sys/net/ipv4/ip_forward contents are not set to 1 (fix: sysctl -w net.ipv4.ip_forward=1)".to_string()
        )]
    );
    assert_eq!(
        found.plan,
        vec![
            "1. kernel module br_netfilter (and /etc/modules-load.d/kubestrap.conf): not loaded → loaded now and at boot   (modprobe br_netfilter)",
            "2. net.ipv4.ip_forward (and /etc/sysctl.d/99-kubestrap.conf): 0 → 1   (sysctl -w net.ipv4.ip_forward=1)",
        ]
    );
    assert!(!found.fixed);
}

#[test]
fn after_the_fixes_only_the_second_checks_count() {
    let text = format!(
        "{}[fix] loaded kernel module br_netfilter\n[preflight] Running pre-flight checks again after the fixes\n[preflight] Running pre-flight checks\n[ERROR Swap]: running with swap on is not supported. Please disable swap\n",
        PLAN_RUN.replace("[fix] --dry-run: nothing changed\n", "")
    );
    let found = parse(&text);
    assert!(found.fixed);
    let checks: Vec<&str> = found.errors.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(checks, ["Swap"]);
}

const FILE: &str = "apiVersion: kubestrap.io/v1alpha1
kind: Cluster
hosts:
- address: 10.0.0.1
  role: control-plane
- address: 10.0.0.2
  role: worker
- address: 10.0.0.3
  role: worker
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
";

fn file() -> ClusterFile {
    parse_file(FILE, Path::new("cluster.yaml")).unwrap()
}

/// Events kept, and a set answer to the question.
struct Recorded {
    events: Mutex<Vec<Event>>,
    questions: Mutex<Vec<String>>,
    yes: bool,
}

impl Recorded {
    fn answering(yes: bool) -> Self {
        Recorded {
            events: Mutex::new(Vec::new()),
            questions: Mutex::new(Vec::new()),
            yes,
        }
    }
}

impl Events for Recorded {
    fn event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
    fn confirm(&self, question: &str) -> bool {
        self.questions.lock().unwrap().push(question.into());
        self.yes
    }
}

/// Host 0 has a plan, host 1 passes, host 2 fails a check --fix cannot repair.
fn found() -> Vec<(usize, Result<Found>)> {
    vec![
        (0, Ok(parse(PLAN_RUN))),
        (1, Ok(Found::default())),
        (
            2,
            Ok(Found {
                errors: vec![("Swap".into(), "swap is on (fix: swapoff -a)".into())],
                ..Found::default()
            }),
        ),
    ]
}

#[test]
fn each_plan_is_shown_under_its_host_then_one_question_for_all() {
    let events = Recorded::answering(true);
    let to_fix = offer(
        &file(),
        &found(),
        &events,
        "kubestrap cluster apply -f c.yaml --fix",
    )
    .unwrap();
    assert_eq!(to_fix, vec![0]);
    let shown = events.events.lock().unwrap().clone();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].host.as_deref(), Some("10.0.0.1"));
    assert_eq!(shown[0].step, "fix");
    assert_eq!(
        shown[0].message,
        "kubestrap preflight --fix would make these 2 changes here"
    );
    assert_eq!(shown[0].plan, parse(PLAN_RUN).plan);
    // -o json carries the plan with the event.
    let json = serde_json::to_value(&shown[0]).unwrap();
    assert_eq!(
        json["plan"][1],
        "2. net.ipv4.ip_forward (and /etc/sysctl.d/99-kubestrap.conf): 0 → 1   (sysctl -w net.ipv4.ip_forward=1)"
    );
    assert_eq!(
        events.questions.lock().unwrap().clone(),
        [
            "Apply the fixes above on 10.0.0.1? Each host records them in its /var/lib/kubestrap/fixes.json; `kubestrap preflight --undo-fixes` there puts them back"
        ]
    );
}

#[test]
fn a_no_changes_nothing_and_says_how_to_say_yes() {
    let events = Recorded::answering(false);
    let err = offer(
        &file(),
        &found(),
        &events,
        "kubestrap cluster apply -f c.yaml --fix",
    )
    .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "nothing was changed on any host: the fixes above were not applied\n\nhint: answer yes at the prompt, or run `kubestrap cluster apply -f c.yaml --fix --yes`"
    );
}

#[test]
fn nothing_to_repair_asks_nothing() {
    let events = Recorded::answering(false);
    let found = vec![(1, Ok(Found::default()))];
    assert_eq!(
        offer(&file(), &found, &events, "x").unwrap(),
        Vec::<usize>::new()
    );
    assert!(events.questions.lock().unwrap().is_empty());
    let shown = events.events.lock().unwrap().clone();
    assert!(shown.iter().all(|e| e.plan.is_empty()));
    // An event without a plan has no `plan` in its JSON.
    assert!(
        serde_json::to_value(&shown[0])
            .unwrap()
            .get("plan")
            .is_none()
    );
}

#[test]
fn one_table_of_every_host_s_failures_with_the_way_to_fix() {
    let mut found = found();
    found.push((1, Err(anyhow!("10.0.0.2: connection lost"))));
    let err = table(&file(), &found, "kubestrap cluster apply -f c.yaml").unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with("pre-flight checks failed; nothing was changed in the cluster:\nHOST      CHECK                                      PROBLEM AND FIX\n10.0.0.1  FileContent--proc-sys-net-ipv4-ip_forward  /proc/sys/net/ipv4/ip_forward contents are not set to 1 (fix: sysctl -w net.ipv4.ip_forward=1)\n10.0.0.3  Swap                                       swap is on (fix: swapoff -a)\n10.0.0.2  (preflight)                                10.0.0.2: connection lost\n"), "{text}");
    assert!(
        text.contains(
            "hint: fix each problem on its host, or run `kubestrap cluster apply -f c.yaml --fix`"
        ),
        "{text}"
    );
    assert!(
        err.downcast_ref::<crate::preflight::PreflightFailed>()
            .is_some()
    );
    // After --fix, what is left is for the person.
    let err = table(
        &file(),
        &found,
        "kubestrap cluster apply -f c.yaml --fix --yes",
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains(
            "hint: fix the problems left on their hosts (`--fix` repaired what it knows)"
        )
    );
    assert!(table(&file(), &[(1, Ok(Found::default()))], "x").is_ok());
}
