//! The API phases of init against the fake API server: the requests they send (golden files),
//! the objects they leave, a second run that changes nothing, retries and error messages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kubestrap_phases::api::fake::{FakeApi, Scripted};
use kubestrap_phases::api::{Client, Method, Response, Retry};
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::FakeHost;
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use serde_json::{Value, json};

use crate::support;

const TOKEN: &str = "abcdef.0123456789abcdef";
const NODE: &str = "/api/v1/nodes/node1";

pub(crate) fn host() -> FakeHost {
    FakeHost {
        root: true,
        hostname: "node1".into(),
        default_address: Some("192.168.0.10".parse().unwrap()),
        ..FakeHost::default()
    }
}

/// A root with a real CA (made by openssl), admin.conf and the kubelet's config file.
pub(crate) fn seed(base: &Path) {
    support::require_binary("openssl", "openssl");
    let pki = base.join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=kubernetes", "-keyout"])
        .arg(pki.join("ca.key"))
        .arg("-out")
        .arg(pki.join("ca.crt"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ca = std::fs::read(pki.join("ca.crt")).unwrap();
    let admin = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://192.168.0.10:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\nusers:\n- name: kubernetes-admin\n  user: {{}}\n",
        STANDARD.encode(&ca)
    );
    std::fs::write(base.join("etc/kubernetes/admin.conf"), admin).unwrap();
    std::fs::create_dir_all(base.join("var/lib/kubelet")).unwrap();
    std::fs::write(
        base.join("var/lib/kubelet/config.yaml"),
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
    )
    .unwrap();
}

pub(crate) fn context(
    version: &str,
    base: &Path,
    fake: &FakeApi,
) -> (Context, Arc<RecordingReporter>) {
    let mut docs = Documents::default();
    docs.init.node_registration.name = Some("node1".into());
    docs.init.node_registration.cri_socket = Some("unix:///run/containerd/containerd.sock".into());
    docs.init.local_api_endpoint.advertise_address = Some("192.168.0.10".into());
    docs.init.bootstrap_tokens[0].token = Some(TOKEN.into());
    docs.cluster.kubernetes_version = Some(version.into());
    docs.cluster.networking.pod_subnet = Some("10.244.0.0/16".into());
    let root = Root::new(base);
    let cfg = config::resolve(docs, &Overrides::default(), &root, &host()).unwrap();
    let out = Arc::new(RecordingReporter::default());
    let mut ctx = Context::new(
        cfg,
        root,
        Box::new(host()),
        Box::new(out.clone()),
        Options::default(),
    );
    ctx.set_api(Client::new(Box::new(fake.clone()), Retry::immediate()));
    (ctx, out)
}

/// Every phase after wait-control-plane, in the version's order.
fn api_steps(ctx: &Context) -> Vec<runner::Step> {
    let all = runner::plan(
        kubestrap_phases::workflows::init::phases(ctx.cfg.version),
        None,
        &[],
    )
    .unwrap();
    let start = all
        .iter()
        .position(|s| s.path == "wait-control-plane")
        .unwrap();
    all[start + 1..].to_vec()
}

fn registered_node(fake: &FakeApi) {
    fake.put(
        NODE,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}},
               "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}}),
    );
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/api")
        .join(name)
}

fn assert_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual,
        want,
        "{} differs; UPDATE_GOLDEN=1 rewrites it",
        path.display()
    );
}

fn data(fake: &FakeApi, path: &str, key: &str) -> String {
    fake.object(path).unwrap()["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has no data.{key}"))
        .to_string()
}

fn decoded(fake: &FakeApi, path: &str, key: &str) -> String {
    String::from_utf8(STANDARD.decode(data(fake, path, key)).unwrap()).unwrap()
}

#[test]
fn init_api_phases_send_the_golden_requests_and_a_second_run_changes_nothing() {
    for version in ["v1.20.2", "v1.31.0"] {
        let dir = tempfile::tempdir().unwrap();
        seed(dir.path());
        let fake = FakeApi::new();
        registered_node(&fake);
        let (mut ctx, out) = context(version, dir.path(), &fake);
        let steps = api_steps(&ctx);
        runner::run(&steps, &mut ctx, false).unwrap();
        assert_golden(
            &format!("init-{version}-requests.txt"),
            &(fake.log().join("\n") + "\n"),
        );
        let lines: Vec<String> = out
            .lines()
            .into_iter()
            .filter(|l| !l.starts_with("phase ") && !l.starts_with("detail "))
            .collect();
        assert_golden(
            &format!("init-{version}-stderr.txt"),
            &(lines.join("\n") + "\n"),
        );

        // The same phases again, each alone, change nothing: every create meets 409 and no
        // object gets a new resourceVersion.
        let before: Vec<_> = fake.paths().iter().map(|p| fake.object(p)).collect();
        fake.clear_log();
        for step in &steps {
            let (mut again, _) = context(version, dir.path(), &fake);
            runner::run(std::slice::from_ref(step), &mut again, true).unwrap();
        }
        let after: Vec<_> = fake.paths().iter().map(|p| fake.object(p)).collect();
        assert_eq!(before, after, "{version}: the second run changed objects");
        let updates: Vec<String> = fake
            .writes()
            .into_iter()
            .filter(|w| !w.starts_with("POST "))
            .collect();
        assert_eq!(
            updates,
            Vec::<String>::new(),
            "{version}: second run updated"
        );
    }
}

#[test]
fn objects_hold_what_kubeadm_writes() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    registered_node(&fake);
    let (mut ctx, _) = context("v1.20.2", dir.path(), &fake);
    let steps = api_steps(&ctx);
    runner::run(&steps, &mut ctx, false).unwrap();

    // Token Secret (spec §8.2).
    let secret = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
    assert_eq!(
        fake.object(secret).unwrap()["type"],
        "bootstrap.kubernetes.io/token"
    );
    assert_eq!(decoded(&fake, secret, "token-id"), "abcdef");
    assert_eq!(decoded(&fake, secret, "token-secret"), "0123456789abcdef");
    assert_eq!(decoded(&fake, secret, "usage-bootstrap-signing"), "true");
    assert_eq!(
        decoded(&fake, secret, "usage-bootstrap-authentication"),
        "true"
    );
    assert_eq!(
        decoded(&fake, secret, "auth-extra-groups"),
        "system:bootstrappers:kubeadm:default-node-token"
    );
    assert!(decoded(&fake, secret, "expiration").ends_with('Z'));
    assert_eq!(
        decoded(&fake, secret, "description"),
        "The default bootstrap token generated by 'kubeadm init'."
    );

    // cluster-info: a nameless cluster with the CA, readable anonymously.
    let info = data(
        &fake,
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        "kubeconfig",
    );
    assert!(
        info.contains("server: https://192.168.0.10:6443\n  name: \"\"\n"),
        "{info}"
    );
    let rb = fake
        .object("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/rolebindings/kubeadm:bootstrap-signer-clusterinfo")
        .unwrap();
    assert_eq!(rb["subjects"][0]["name"], "system:anonymous");

    // 1.20: versioned kubelet ConfigMap and Role, v1beta2 ClusterConfiguration.
    let kubelet_cm = "/api/v1/namespaces/kube-system/configmaps/kubelet-config-1.20";
    assert!(data(&fake, kubelet_cm, "kubelet").contains("KubeletConfiguration"));
    assert!(fake
        .object("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles/kubeadm:kubelet-config-1.20")
        .is_some());
    let cc = data(
        &fake,
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        "ClusterConfiguration",
    );
    assert!(cc.contains("apiVersion: kubeadm.k8s.io/v1beta2"), "{cc}");
    assert!(cc.contains("kubernetesVersion: v1.20.2"), "{cc}");

    // Node: labels and the 1.20 master taint next to the one it had; CRI socket annotation.
    let node = fake.object(NODE).unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/master"],
        ""
    );
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert_eq!(
        node["spec"]["taints"],
        json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
               {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}])
    );
    assert_eq!(
        node["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"],
        "unix:///run/containerd/containerd.sock"
    );

    // Addons: images of 1.20 and the DNS service IP.
    let ds = fake
        .object("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy")
        .unwrap();
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/kube-proxy:v1.20.2"
    );
    let proxy_conf = data(
        &fake,
        "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
        "config.conf",
    );
    assert!(
        proxy_conf.contains("clusterCIDR: 10.244.0.0/16"),
        "{proxy_conf}"
    );
    let dep = fake
        .object("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
        .unwrap();
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/coredns:1.7.0"
    );
    let svc = fake
        .object("/api/v1/namespaces/kube-system/services/kube-dns")
        .unwrap();
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");

    // A node without a Ready condition is reported, not hidden.
    assert_eq!(
        ctx.outputs.node_not_ready.as_deref(),
        Some("the kubelet has not reported its status yet")
    );

    // The join command pins the CA that openssl made.
    let hash = ctx.outputs.ca_cert_hashes[0].clone();
    let want = openssl_pubkey_hash(&dir.path().join("etc/kubernetes/pki/ca.crt"));
    assert_eq!(hash, format!("sha256:{want}"));
    assert_eq!(
        ctx.outputs.join_commands,
        [format!(
            "kubestrap join 192.168.0.10:6443 --token {TOKEN} --discovery-token-ca-cert-hash {hash} "
        )]
    );
}

/// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256` (kubeadm's documented pipeline).
fn openssl_pubkey_hash(ca: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex",
            ca.display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit(' ').next().unwrap().to_string()
}

#[test]
fn empty_taints_mean_no_taint_and_an_existing_object_is_updated() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    registered_node(&fake);
    // A kubeadm-config left by an earlier cluster: replaced.
    let cm = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config";
    fake.put(
        cm,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
               "data": {"ClusterConfiguration": "old"}}),
    );
    let (mut ctx, _) = context("v1.31.0", dir.path(), &fake);
    ctx.cfg.init.node_registration.taints = Some(Vec::new());
    let steps: Vec<_> = api_steps(&ctx)
        .into_iter()
        .filter(|s| s.path == "mark-control-plane" || s.path == "upload-config/kubeadm")
        .collect();
    runner::run(&steps, &mut ctx, false).unwrap();
    assert!(data(&fake, cm, "ClusterConfiguration").contains("kubeadm.k8s.io/v1beta4"));
    assert!(fake.log().iter().any(|l| l == &format!("PUT {cm}")));
    let node = fake.object(NODE).unwrap();
    assert_eq!(
        node["spec"]["taints"].as_array().unwrap().len(),
        1,
        "{node}"
    );
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
}

#[test]
fn transient_failures_are_retried_and_errors_name_object_and_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let cm = "/api/v1/namespaces/kube-system/configmaps";
    fake.script(
        Method::Post,
        cm,
        vec![
            Scripted::Refused,
            Scripted::Answer(Response::json(503, &json!({"message": "etcd is starting"}))),
        ],
    );
    let (mut ctx, _) = context("v1.25.0", dir.path(), &fake);
    kubestrap_phases::phases::upload_config::kubeadm(&mut ctx).unwrap();
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| *l == &format!("POST {cm} kubeadm-config"))
            .count(),
        3
    );

    let forbidden = Response::json(
        403,
        &json!({"message": "configmaps is forbidden: User \"x\" cannot create"}),
    );
    fake.script(
        Method::Post,
        "/api/v1/namespaces/kube-public/configmaps",
        vec![Scripted::Answer(forbidden)],
    );
    let err = format!(
        "{:#}",
        kubestrap_phases::phases::bootstrap::token::run(&mut ctx).unwrap_err()
    );
    assert!(
        err.contains("failed to create ConfigMap `kube-public/cluster-info` at https://fake-apiserver:6443: 403"),
        "{err}"
    );
    assert!(
        err.contains("hint: the identity in the kubeconfig lacks the permission"),
        "{err}"
    );
}

#[test]
fn taints_can_be_removed_and_added_back() {
    use kubestrap_phases::api::node::change_node;
    use kubestrap_phases::phases::node::untaint_patch;
    let fake = FakeApi::new();
    fake.put(
        NODE,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"},
               "spec": {"taints": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
                                   {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    );
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let out = RecordingReporter::default();
    let api = client.with(&out);
    assert!(change_node(&api, "node1", untaint_patch).unwrap());
    assert_eq!(fake.object(NODE).unwrap()["spec"]["taints"], json!([]));
    assert!(!change_node(&api, "node1", untaint_patch).unwrap());
    let _: Value = fake.object(NODE).unwrap();
}

#[test]
fn token_generate_prints_a_valid_token() {
    let out = support::kubestrap(&["token", "generate"]);
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "{stderr}");
    kubestrap_phases::config::token_format::Token::parse(stdout.trim()).unwrap();
}

#[test]
fn token_create_refuses_a_bad_token_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::kubestrap(&[
        "token",
        "create",
        "abc.def",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    let (_, stderr) = support::text(&out);
    // Bad input: the exit code of an invalid configuration or flag.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("was not of the form"), "{stderr}");
    let out = support::kubestrap(&[
        "token",
        "create",
        "--usages",
        "signing,magic",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    let (_, stderr) = support::text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid bootstrap token usage \"magic\""),
        "{stderr}"
    );
}

#[test]
fn a_crash_looping_component_is_named_with_its_last_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, _) = context("v1.20.2", dir.path(), &fake);
    // No runtime to ask here: the logs under /var/log/pods tell the restarts.
    ctx.cfg.cri_socket = format!("unix://{}/no-runtime.sock", dir.path().display());
    let logs = dir.path().join(
        "var/log/pods/kube-system_kube-controller-manager-node1_0123/kube-controller-manager",
    );
    std::fs::create_dir_all(&logs).unwrap();
    for n in 0..3 {
        std::fs::write(
            logs.join(format!("{n}.log")),
            format!("2026-01-01T00:00:0{n}.000000000Z stderr F Error: unknown flag: --bogus-flag\n2026-01-01T00:00:0{n}.100000000Z stderr F attempt {n}\n"),
        )
        .unwrap();
    }
    let err = kubestrap_phases::phases::control_plane::wait::diagnose(
        &ctx,
        &["kube-controller-manager"],
        "crash-looping",
    )
    .to_string();
    assert!(
        err.contains("failing: kube-controller-manager (restarted 2 times)"),
        "{err}"
    );
    assert!(
        err.contains("    Error: unknown flag: --bogus-flag\n    attempt 2\n"),
        "{err}"
    );
    // Just restarted (its newest log still empty), next to a healthy pod of an earlier run:
    // the previous attempt says why it stopped.
    std::fs::write(logs.join("3.log"), "").unwrap();
    let earlier = dir.path().join(
        "var/log/pods/kube-system_kube-controller-manager-node1_0042/kube-controller-manager",
    );
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(
        earlier.join("0.log"),
        "2025-12-31T23:59:59.000000000Z stderr F E1231 leaderelection.go:325] earlier run\n",
    )
    .unwrap();
    let err = kubestrap_phases::phases::control_plane::wait::diagnose(
        &ctx,
        &["kube-controller-manager"],
        "crash-looping",
    )
    .to_string();
    assert!(err.contains("(restarted 3 times)"), "{err}");
    assert!(
        err.contains("    Error: unknown flag: --bogus-flag\n    attempt 2\n"),
        "{err}"
    );
    assert!(!err.contains("earlier run"), "{err}");
    // A component that never started is named as such.
    let err = kubestrap_phases::phases::control_plane::wait::diagnose(
        &ctx,
        &["kube-scheduler"],
        "not healthy after 4m0s",
    )
    .to_string();
    assert!(
        err.contains("kube-scheduler: no container has started"),
        "{err}"
    );
}

#[test]
fn init_dry_run_prints_one_json_document_and_the_api_calls_it_would_make() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::kubestrap(&[
        "init",
        "--dry-run",
        "-o",
        "json",
        "--root",
        dir.path().to_str().unwrap(),
        "--node-name",
        "cp1",
        "--apiserver-advertise-address",
        "10.20.0.1",
        "--kubernetes-version",
        "v1.20.2",
        "--token",
        TOKEN,
        "--ignore-preflight-errors",
        "all",
    ]);
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(doc["joinEndpoint"], "10.20.0.1:6443");
    assert_eq!(doc["tokens"], json!([TOKEN]));
    assert!(
        doc["caCertHashes"][0]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        doc["joinCommands"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("kubestrap join 10.20.0.1:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:"))
    );
    let phases: Vec<&str> = doc["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"bootstrap-token") && phases.contains(&"addon/kube-proxy"),
        "{phases:?}"
    );
    assert!(
        stderr.contains("[dryrun] would POST /api/v1/namespaces/kube-system/secrets (Secret bootstrap-token-abcdef)"),
        "{stderr}"
    );
    // Nothing was written under the root.
    assert!(support::tree(dir.path()).is_empty());
}

#[test]
fn the_sudo_users_kubeconfig_is_written_replaced_when_stale_and_otherwise_left() {
    use kubestrap_phases::phases::kubeconfig::sudo_user::{
        SudoUser, UserKubeconfig, install_user_kubeconfig,
    };
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (ctx, _) = context("v1.25.0", dir.path(), &fake);
    use std::os::unix::fs::MetadataExt;
    // As root, give the files to `nobody` to see the owner change; otherwise to ourselves.
    let me = std::fs::metadata(dir.path()).unwrap();
    let (uid, gid) = if me.uid() == 0 {
        (65534, 65534)
    } else {
        (me.uid(), me.gid())
    };
    let user = SudoUser {
        name: "alice".into(),
        home: "/home/alice".into(),
        uid,
        gid,
    };
    let home = dir.path().join("home/alice");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    let config = home.join(".kube/config");
    let admin = std::fs::read(dir.path().join("etc/kubernetes/admin.conf")).unwrap();

    // Absent: written, 0600.
    let got = install_user_kubeconfig(&ctx, &user).unwrap();
    assert_eq!(
        got,
        UserKubeconfig::Written("/home/alice/.kube/config".into())
    );
    assert_eq!(std::fs::read(&config).unwrap(), admin);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for made in [home.join(".kube"), config.clone()] {
        assert_eq!(std::fs::metadata(&made).unwrap().uid(), uid, "{made:?}");
    }

    // Present and current: left alone.
    let got = install_user_kubeconfig(&ctx, &user).unwrap();
    assert_eq!(got, UserKubeconfig::Left("/home/alice/.kube/config".into()));

    // Same endpoint, the CA of an earlier cluster: backed up and replaced.
    let stale = String::from_utf8(admin.clone()).unwrap().replace(
        "certificate-authority-data: ",
        "certificate-authority-data: QUJD",
    );
    std::fs::write(&config, &stale).unwrap();
    let UserKubeconfig::Replaced { backup, .. } = install_user_kubeconfig(&ctx, &user).unwrap()
    else {
        panic!("a stale kubeconfig was not replaced")
    };
    assert_eq!(std::fs::read(&config).unwrap(), admin);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(backup.trim_start_matches('/'))).unwrap(),
        stale
    );

    // Another cluster's endpoint: left alone.
    let other = String::from_utf8(admin.clone())
        .unwrap()
        .replace("https://192.168.0.10:6443", "https://10.9.9.9:6443");
    std::fs::write(&config, &other).unwrap();
    assert!(matches!(
        install_user_kubeconfig(&ctx, &user).unwrap(),
        UserKubeconfig::Left(_)
    ));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), other);
}

#[test]
fn running_bootstrap_token_again_keeps_the_first_expiry() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, _) = context("v1.20.2", dir.path(), &fake);
    kubestrap_phases::phases::bootstrap::token::run(&mut ctx).unwrap();
    let path = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
    // As if the first run had been an hour ago.
    let mut first = fake.object(path).unwrap();
    first["data"]["expiration"] = json!(STANDARD.encode("2000-01-01T00:00:00Z"));
    fake.put(path, first);
    let before = fake.object(path).unwrap();
    let (mut again, _) = context("v1.20.2", dir.path(), &fake);
    kubestrap_phases::phases::bootstrap::token::run(&mut again).unwrap();
    assert_eq!(fake.object(path).unwrap(), before);
}
