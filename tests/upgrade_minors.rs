//! Every supported minor step of `kubestrap upgrade apply`: a node made by init of v1.X (its
//! files in a folder, its cluster on the fake API server) is upgraded to v1.X+1 by the upgrade's
//! own steps, with the target's configuration built from the cluster as `upgrade apply` builds
//! it. The files it leaves are those init of v1.X+1 writes with the same configuration
//! (certificates compared by subject, manifests by content), and what it leaves in the cluster
//! is compared with what init of v1.X+1 makes: the differences, and the requests that changed
//! the cluster, are the golden file of the step (`fixtures/golden/upgrade/`, rewritten with
//! `UPDATE_GOLDEN=1`; review the diff).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kubestrap_phases::api::fake::{FakeApi, Scripted};
use kubestrap_phases::api::{Client, DryRun, Method, Response, Retry, client, manifests};
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::{Change, Root};
use kubestrap_phases::host::FakeHost;
use kubestrap_phases::phases::upgrade;
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Clients, Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::version::{KubeVersion, NEWEST_MINOR, OLDEST_MINOR};
use kubestrap_phases::workflows::upgrade::{UpgradeOptions, file, prepare_on};
use kubestrap_phases::workflows::{init, upgrade as upgrade_workflow};
use serde_json::{Value, json};

use crate::support;

const NODE: &str = "/api/v1/nodes/node1";
/// A runtime socket that does not exist: the upgrade's waits must not see this machine's
/// containers.
const CRI_SOCKET: &str = "unix:///run/kubestrap-test-no-runtime/containerd.sock";

/// The machine: its hostname is not the node's name (`--node-name`), so that the upgrade must
/// find the node's name where the node keeps it.
fn host() -> FakeHost {
    FakeHost {
        hostname: "machine-a".into(),
        ..crate::api::host()
    }
}

thread_local! {
    /// The fake API server of the test running on this thread (a client factory is a plain
    /// function).
    static FAKE: RefCell<Option<FakeApi>> = const { RefCell::new(None) };
}

fn fake_client(_: &Context) -> anyhow::Result<Client> {
    let fake = FAKE
        .with(|f| f.borrow().clone())
        .expect("no fake API server set");
    Ok(Client::new(Box::new(fake), Retry::immediate()))
}

/// The upgrade's clients, all answered by this thread's fake API server.
const FAKE_CLIENTS: Clients = Clients {
    api: fake_client,
    health: fake_client,
    admin: fake_client,
};

/// The one configuration of every init here.
fn documents(version: KubeVersion) -> Documents {
    let mut docs = Documents::default();
    docs.init.node_registration.name = Some("node1".into());
    docs.init.node_registration.cri_socket = Some(CRI_SOCKET.into());
    docs.init.local_api_endpoint.advertise_address = Some("192.168.0.10".into());
    docs.init.bootstrap_tokens[0].token = Some("abcdef.0123456789abcdef".into());
    docs.cluster.kubernetes_version = Some(version.to_string());
    docs.cluster.networking.pod_subnet = Some("10.244.0.0/16".into());
    docs
}

/// init of `version` into `base`, its cluster on `fake`: every phase but those that need a
/// running machine (preflight, the wait for the control plane) and the join command's output.
fn init_node(version: KubeVersion, base: &Path, fake: &FakeApi) {
    fake.put(
        NODE,
        json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}}}),
    );
    let root = Root::new(base);
    let cfg = config::resolve(documents(version), &Overrides::default(), &root, &host()).unwrap();
    let mut ctx = Context::new(
        cfg,
        root,
        Box::new(host()),
        Box::new(Arc::new(RecordingReporter::default())),
        Options::default(),
    );
    ctx.set_api(Client::new(Box::new(fake.clone()), Retry::immediate()));
    let skip = ["preflight", "wait-control-plane", "show-join-command"].map(String::from);
    let steps = runner::plan(init::phases(version), None, &skip).unwrap();
    runner::run(&steps, &mut ctx, false)
        .unwrap_or_else(|e| panic!("init {version} into a folder: {e:#}"));
    if version.profile().super_admin {
        // init's workflow binds the group when its admin client first connects (with
        // super-admin.conf), not in a phase.
        let api = ctx.api().unwrap();
        manifests::apply_objects(&api, vec![client::cluster_admins_binding()]).unwrap();
    }
}

fn pod_path(component: &str) -> String {
    format!("/api/v1/namespaces/kube-system/pods/{component}-node1")
}

fn mirror_pod(component: &str, hash: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{component}-node1"), "namespace": "kube-system",
            "annotations": {"kubernetes.io/config.hash": hash}},
        "spec": {"containers": [{"name": component}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

/// What the kubelet and the API server of a running v1.X node add to the cluster init left:
/// the version served, the Node's status, the control-plane mirror pods.
fn running(fake: &FakeApi, version: KubeVersion) {
    fake.put("/version", json!({"gitVersion": version.to_string()}));
    let mut node = fake.object(NODE).unwrap();
    node["status"] = json!({"nodeInfo": {"kubeletVersion": version.to_string()},
        "conditions": [{"type": "Ready", "status": "True"}]});
    fake.put(NODE, node);
    for c in upgrade::COMPONENTS {
        fake.put(&pod_path(c), mirror_pod(c, &format!("{c}-{version}")));
    }
}

/// The cluster, then each replaced component's mirror pod, as the kubelet answers once the
/// upgrade wrote its manifest: first the old pod (its hash read before the write), then a new
/// one that is ready.
fn kubelet_replaces_pods(fake: &FakeApi, from: KubeVersion, to: KubeVersion) {
    for c in upgrade::COMPONENTS {
        let answer = |hash: String| Scripted::Answer(Response::json(200, &mirror_pod(c, &hash)));
        fake.script(
            Method::Get,
            &pod_path(c),
            vec![answer(format!("{c}-{from}")), answer(format!("{c}-{to}"))],
        );
    }
}

/// `upgrade apply` of the node in `base` to `to`: the target's configuration from the cluster
/// (as the workflow builds it), then every step after the checks. etcd's manifest is compared
/// apart: its upgrade takes a snapshot through a running etcd's API.
fn upgrade_node(base: &Path, fake: &FakeApi, from: KubeVersion, to: KubeVersion) -> Vec<String> {
    let out = Arc::new(RecordingReporter::default());
    let opts = UpgradeOptions {
        base: base.to_path_buf(),
        version: Some(to.to_string()),
        etcd_upgrade: Some(false),
        skip_phases: vec!["preflight".into()],
        ..UpgradeOptions::default()
    };
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let root = Root::new(base);
    let (cfg, settings, view, steps) = prepare_on(
        &root,
        &client.with(out.as_ref()),
        &host(),
        &opts,
        &file::FromFile::default(),
        upgrade_workflow::APPLY,
        out.as_ref(),
    )
    .unwrap_or_else(|e| panic!("upgrade {from} → {to}: {e:#}"));
    assert_eq!((settings.from, settings.to), (from, to));
    // The kubelet answers at once: a component that does not come back fails the step soon.
    let settings = upgrade::Settings {
        timeout: std::time::Duration::from_secs(5),
        ..settings
    };
    FAKE.with(|f| *f.borrow_mut() = Some(fake.clone()));
    kubelet_replaces_pods(fake, from, to);
    fake.clear_log();
    let mut ctx = Context::new(
        cfg,
        root,
        Box::new(host()),
        Box::new(out.clone()),
        Options::default(),
    )
    .with_clients(FAKE_CLIENTS);
    ctx.set_state(settings);
    ctx.set_state(view.expect("a control-plane node"));
    runner::run(&steps, &mut ctx, false).unwrap_or_else(|e| panic!("upgrade {from} → {to}: {e:#}"));
    let etcd = upgrade::target_manifest(&ctx, "etcd").unwrap().unwrap();
    std::fs::write(
        base.join("etc/kubernetes/manifests/etcd.yaml"),
        etcd.as_bytes(),
    )
    .unwrap();
    fake.writes()
}

/// Every file under a folder with its contents.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    support::tree(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

fn dry_run_fake_client(_: &Context) -> anyhow::Result<Client> {
    let fake = FAKE
        .with(|f| f.borrow().clone())
        .expect("no fake API server set");
    Ok(Client::dry_run(DryRun::reading(Box::new(fake))))
}

/// `upgrade apply --dry-run`: every step runs, nothing on the node nor in the cluster changes, and
/// what it would write names the new manifests with the target's images.
#[test]
fn a_dry_run_changes_neither_the_node_nor_the_cluster() {
    dry_run(KubeVersion::new(30, 0), KubeVersion::new(31, 0));
}

/// The same across 1.34, whose kubelet-config step moves the CRI endpoint to the instance
/// configuration: it is shown, and neither the files nor the Node change.
#[test]
fn a_dry_run_to_v1_34_leaves_the_kubelets_files_and_the_node() {
    let changes = dry_run(KubeVersion::new(33, 0), KubeVersion::new(34, 0));
    assert!(
        changes
            .iter()
            .any(|(path, text)| path.ends_with("instance-config.yaml")
                && text.contains(CRI_SOCKET)),
        "{changes:?}"
    );
}

/// `upgrade apply --dry-run` from `from` to `to` on a node init made; what it would have
/// written (path and text).
fn dry_run(from: KubeVersion, to: KubeVersion) -> Vec<(String, String)> {
    let node = tempfile::tempdir().unwrap();
    let cluster = FakeApi::new();
    init_node(from, node.path(), &cluster);
    running(&cluster, from);
    let before = contents(node.path());
    let out = Arc::new(RecordingReporter::default());
    let opts = UpgradeOptions {
        base: node.path().to_path_buf(),
        version: Some(to.to_string()),
        dry_run: true,
        skip_phases: vec!["preflight".into()],
        ..UpgradeOptions::default()
    };
    let reads = Client::new(Box::new(cluster.clone()), Retry::immediate());
    let root = Root::dry_run(node.path()).unwrap();
    let (cfg, settings, view, steps) = prepare_on(
        &root,
        &reads.with(out.as_ref()),
        &host(),
        &opts,
        &file::FromFile::default(),
        upgrade_workflow::APPLY,
        out.as_ref(),
    )
    .unwrap();
    FAKE.with(|f| *f.borrow_mut() = Some(cluster.clone()));
    cluster.clear_log();
    let options = Options {
        dry_run: true,
        ..Options::default()
    };
    let mut ctx = Context::new(cfg, root, Box::new(host()), Box::new(out.clone()), options)
        .with_clients(Clients {
            api: dry_run_fake_client,
            health: dry_run_fake_client,
            admin: dry_run_fake_client,
        });
    ctx.set_state(settings);
    ctx.set_state(view.expect("a control-plane node"));
    runner::run(&steps, &mut ctx, false).unwrap_or_else(|e| panic!("dry run: {e:#}"));

    assert_eq!(before, contents(node.path()), "a dry run changed the node");
    assert_eq!(
        cluster.writes(),
        Vec::<String>::new(),
        "a dry run changed the cluster"
    );
    let written: Vec<(String, String)> = ctx
        .root
        .changes()
        .into_iter()
        .filter_map(|c| match c {
            Change::Wrote {
                path,
                contents: Some(contents),
                ..
            } => Some((path, String::from_utf8_lossy(&contents).into_owned())),
            _ => None,
        })
        .collect();
    let manifest = written
        .iter()
        .find(|(path, _)| path.ends_with("manifests/kube-apiserver.yaml"))
        .map(|(_, text)| text)
        .expect("the dry run shows the new kube-apiserver manifest");
    assert!(
        manifest.contains(&format!("kube-apiserver:{to}")),
        "{manifest}"
    );
    written
}

/// From 1.34 the node keeps its CRI endpoint in its instance configuration, not in
/// kubeadm-flags.env: the upgrade asks the runtime that file names.
#[test]
fn a_v1_34_nodes_endpoint_is_read_from_its_instance_configuration() {
    let from = KubeVersion::new(34, 0);
    let node = tempfile::tempdir().unwrap();
    let cluster = FakeApi::new();
    init_node(from, node.path(), &cluster);
    running(&cluster, from);
    let flags =
        std::fs::read_to_string(node.path().join("var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(!flags.contains("--container-runtime-endpoint"), "{flags}");
    let other = "unix:///run/kubestrap-test-other/containerd.sock";
    std::fs::write(
        node.path().join("var/lib/kubelet/instance-config.yaml"),
        format!("containerRuntimeEndpoint: \"{other}\"\n"),
    )
    .unwrap();
    let out = RecordingReporter::default();
    let opts = UpgradeOptions {
        base: node.path().to_path_buf(),
        version: Some("v1.35.0".into()),
        ..UpgradeOptions::default()
    };
    let client = Client::new(Box::new(cluster.clone()), Retry::immediate());
    let (cfg, ..) = prepare_on(
        &Root::new(node.path()),
        &client.with(&out),
        &host(),
        &opts,
        &file::FromFile::default(),
        upgrade_workflow::APPLY,
        &out,
    )
    .unwrap();
    assert_eq!(cfg.cri_socket, other);
}

fn openssl_subject(pem: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-ext", "subjectAltName"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(pem).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A kubeconfig with each embedded certificate replaced by its subject and names, and its keys
/// and CA left out: what two kubeconfigs for the same user of two clusters have in common.
fn kubeconfig_without_keys(text: &str) -> String {
    use base64::Engine as _;
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            match trimmed.split_once(": ") {
                Some(("client-certificate-data", data)) => {
                    let pem = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .unwrap();
                    format!(
                        "{indent}client-certificate: {}",
                        openssl_subject(&pem).trim().replace('\n', "; ")
                    )
                }
                Some((key @ ("client-key-data" | "certificate-authority-data"), _)) => {
                    format!("{indent}{key}: <left out>")
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each file of the folder, in the form compared: certificates by subject and names, keys not
/// at all, kubeconfigs without keys, everything else as written.
fn comparable(base: &Path, file: &str) -> String {
    let path = base.join(file);
    let bytes = std::fs::read(&path).unwrap();
    if file.ends_with(".key") || file.ends_with(".pub") {
        return "<key>".into();
    }
    if file.ends_with(".crt") || file.ends_with(".pem") {
        return openssl_subject(&bytes);
    }
    let text = String::from_utf8(bytes).unwrap();
    if file.ends_with(".conf") && text.contains("kind: Config") {
        return kubeconfig_without_keys(&text);
    }
    text
}

/// The files of the upgraded folder against those init of the target wrote in another: the
/// control-plane manifests must say the same; every other difference (a file the upgrade
/// leaves as the old version wrote it) is returned for the golden file. The upgrade's backups
/// (which init never writes) are checked apart.
fn compare_files(upgraded: &Path, fresh: &Path, step: &str) -> Vec<String> {
    let backups = "etc/kubernetes/tmp/";
    let have: BTreeSet<String> = support::tree(upgraded)
        .into_iter()
        .filter(|f| !f.starts_with(backups))
        .collect();
    let want: BTreeSet<String> = support::tree(fresh).into_iter().collect();
    let mut out = Vec::new();
    for file in have.difference(&want) {
        out.push(format!("only after the upgrade: /{file}"));
    }
    for file in want.difference(&have) {
        out.push(format!("only after init: /{file}"));
    }
    for file in want.intersection(&have) {
        let (a, b) = (comparable(upgraded, file), comparable(fresh, file));
        if file.starts_with("etc/kubernetes/manifests/") {
            assert!(
                upgrade::same_content(&a, &b),
                "{step}: {file} differs from init's:\n{}",
                kubestrap_phases::render::diff::unified(&b, &a, "init", "upgrade", 3)
            );
        } else if a != b {
            out.push(format!(
                "differs: /{file}\n{}",
                kubestrap_phases::render::diff::unified(&b, &a, "init", "upgrade", 1).trim_end()
            ));
        }
    }
    let backed_up = support::tree(&upgraded.join(backups));
    for component in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        assert!(
            backed_up
                .iter()
                .any(|f| f.ends_with(&format!("/{component}.yaml"))),
            "{step}: no backup of {component}: {backed_up:?}"
        );
    }
    out
}

/// An object as compared: without what the server or the clock sets (its status too),
/// certificates left out.
fn normalized(mut object: Value) -> Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("creationTimestamp");
        meta.remove("uid");
    }
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    if object["type"] == "bootstrap.kubernetes.io/token"
        && let Some(data) = object["data"].as_object_mut()
    {
        data.remove("expiration");
    }
    strip_certificates(&mut object);
    object
}

fn strip_certificates(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("certificate-authority-data: ") => {
            *s = s
                .lines()
                .map(|l| match l.split_once("certificate-authority-data: ") {
                    Some((indent, _)) => format!("{indent}certificate-authority-data: <CA>"),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        Value::Array(items) => items.iter_mut().for_each(strip_certificates),
        Value::Object(map) => map.values_mut().for_each(strip_certificates),
        _ => {}
    }
}

/// Where two values differ, one line (or a text's unified diff) per difference.
fn differences(path: &str, init: &Value, upgraded: &Value, out: &mut Vec<String>) {
    match (init, upgraded) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}/{k}"), x, y, out);
            }
        }
        (Value::String(a), Value::String(b))
            if a != b && (a.contains('\n') || b.contains('\n')) =>
        {
            out.push(format!(
                "  {path}:\n{}",
                kubestrap_phases::render::diff::unified(a, b, "init", "upgrade", 1)
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        (a, b) if a != b => out.push(format!("  {path}: init {a}, upgrade {b}")),
        _ => {}
    }
}

/// What the upgraded cluster holds that the cluster init of the target makes does not, and the
/// other way round, object by object (the runtime's objects left out).
fn cluster_differences(upgraded: &FakeApi, fresh: &FakeApi) -> Vec<String> {
    let ours = |p: &String| p != "/version" && !p.contains("/pods/");
    let paths: BTreeSet<String> = upgraded
        .paths()
        .into_iter()
        .chain(fresh.paths())
        .filter(ours)
        .collect();
    let mut out = Vec::new();
    for path in paths {
        match (fresh.object(&path), upgraded.object(&path)) {
            (Some(_), None) => out.push(format!("only after init: {path}")),
            (None, Some(_)) => out.push(format!("only after the upgrade: {path}")),
            (Some(a), Some(b)) => {
                let mut lines = Vec::new();
                differences("", &normalized(a), &normalized(b), &mut lines);
                if !lines.is_empty() {
                    out.push(format!("differs: {path}"));
                    out.extend(lines);
                }
            }
            (None, None) => {}
        }
    }
    out
}

fn golden(from: KubeVersion, to: KubeVersion) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("fixtures/golden/upgrade/{from}-to-{to}.txt"))
}

fn step(minor: u32) {
    let (from, to) = (KubeVersion::new(minor, 0), KubeVersion::new(minor + 1, 0));
    let name = format!("{from} → {to}");
    let upgraded = tempfile::tempdir().unwrap();
    let cluster = FakeApi::new();
    init_node(from, upgraded.path(), &cluster);
    running(&cluster, from);
    let before = support::tree(upgraded.path());
    let writes = upgrade_node(upgraded.path(), &cluster, from, to);

    let fresh = tempfile::tempdir().unwrap();
    let fresh_cluster = FakeApi::new();
    init_node(to, fresh.path(), &fresh_cluster);
    let files = compare_files(upgraded.path(), fresh.path(), &name);
    assert_ne!(
        before,
        support::tree(upgraded.path()),
        "{name}: nothing was written"
    );

    let text = format!(
        "# kubestrap upgrade apply {to} of a node kubestrap init {from} made\n\
         # (fixtures/golden/upgrade: rewritten with UPDATE_GOLDEN=1; review the diff)\n\n\
         ## The files against those init {to} writes (manifests by content: the same; certificates by subject)\n{}\n\n\
         ## The requests that changed the cluster\n{}\n\n\
         ## The cluster against what init {to} makes (the runtime's objects, timestamps and certificates left out)\n{}\n",
        files.join("\n"),
        writes.join("\n"),
        cluster_differences(&cluster, &fresh_cluster).join("\n")
    );
    support::assert_golden(&golden(from, to), &text, &name);
}

/// One test per minor step, so that each fails on its own.
macro_rules! minor_steps {
    ($($name:ident => $minor:literal),* $(,)?) => {
        $(#[test] fn $name() { step($minor); })*

        /// The steps above are every step kubestrap supports.
        #[test]
        fn every_supported_minor_step_has_a_test() {
            let tested = [$($minor),*];
            let supported: Vec<u32> = (OLDEST_MINOR..NEWEST_MINOR).collect();
            assert_eq!(tested.to_vec(), supported);
        }
    };
}

minor_steps! {
    v1_20_to_v1_21 => 20,
    v1_21_to_v1_22 => 21,
    v1_22_to_v1_23 => 22,
    v1_23_to_v1_24 => 23,
    v1_24_to_v1_25 => 24,
    v1_25_to_v1_26 => 25,
    v1_26_to_v1_27 => 26,
    v1_27_to_v1_28 => 27,
    v1_28_to_v1_29 => 28,
    v1_29_to_v1_30 => 29,
    v1_30_to_v1_31 => 30,
    v1_31_to_v1_32 => 31,
    v1_32_to_v1_33 => 32,
    v1_33_to_v1_34 => 33,
    v1_34_to_v1_35 => 34,
    v1_35_to_v1_36 => 35,
}
