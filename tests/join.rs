//! Join at the library level: discovery against the fake API server (JWS, CA pin, the verified
//! second read, unknown tokens, clocks) and the join settings; the binary's refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use kubestrap_phases::api::fake::{FakeApi, Scripted};
use kubestrap_phases::api::kubeconfig::cluster_info as cluster_info_kubeconfig;
use kubestrap_phases::api::{Method, Request, Response, Transport};
use kubestrap_phases::config::token_format::Token;
use kubestrap_phases::host::interrupt::Interrupt;
use kubestrap_phases::phases::bootstrap::discovery::{self, Connect, TokenDiscovery};
use kubestrap_phases::phases::bootstrap::tls as tls_bootstrap;
use kubestrap_phases::phases::bootstrap::token::detached_signature;
use kubestrap_phases::pki::{
    self, AltNames, CertRequest, KeyAlgorithm, PrivateKey, ca_cert_hashes,
};
use kubestrap_phases::runner::report::RecordingReporter;
use serde_json::json;

use crate::support::{kubestrap, text};

const TOKEN: &str = "abcdef.0123456789abcdef";
const SERVER: &str = "https://10.0.0.1:6443";

/// `kubestrap ARGS --root ROOT`.
fn kubestrap_on(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["--root", root.to_str().unwrap()]);
    kubestrap(&all)
}

fn ca_pem(not_before: SystemTime) -> String {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let req = CertRequest {
        common_name: "kubernetes".into(),
        organizations: vec![],
        alt_names: AltNames::default(),
        usages: vec![],
        is_ca: true,
        leaf_basic_constraints: false,
        not_before,
        not_after: not_before + Duration::from_secs(3600 * 24 * 365),
    };
    pki::sign(&req, &key, None).unwrap().pem()
}

/// The fake cluster as seen from the joining node: the API server's CA, the tokens it knows,
/// and what a transport trusting some CA would get.
#[derive(Clone)]
struct FakeCluster {
    api: FakeApi,
    ca: String,
    known_tokens: Arc<Mutex<Vec<String>>>,
    /// What the verified connection reads, when it differs from the first read.
    verified_override: Arc<Mutex<Option<serde_json::Value>>>,
    /// Requests that presented the token.
    token_sent: Arc<AtomicUsize>,
}

struct Verified {
    cluster: FakeCluster,
    token: Option<String>,
}

impl Transport for Verified {
    fn send(&self, req: &Request) -> Result<Response> {
        if let Some(t) = &self.token {
            self.cluster.token_sent.fetch_add(1, Ordering::SeqCst);
            if !self.cluster.known_tokens.lock().unwrap().contains(t) {
                return Ok(Response::json(401, &json!({"kind": "Status", "code": 401})));
            }
            if req.path == "/version" {
                return Ok(Response::json(200, &json!({"gitVersion": "v1.20.2"})));
            }
        }
        if let Some(v) = self.cluster.verified_override.lock().unwrap().clone() {
            return Ok(Response::json(200, &v));
        }
        self.cluster.api.send(req)
    }
    fn endpoint(&self) -> String {
        SERVER.into()
    }
}

impl Connect for FakeCluster {
    fn insecure(&self, _server: &str) -> Result<Box<dyn Transport>> {
        Ok(Box::new(self.api.clone()))
    }
    fn verified(
        &self,
        _server: &str,
        ca_pem: &[u8],
        token: Option<&str>,
    ) -> Result<Box<dyn Transport>> {
        anyhow::ensure!(
            ca_pem == self.ca.as_bytes(),
            "invalid peer certificate: UnknownIssuer"
        );
        Ok(Box::new(Verified {
            cluster: self.clone(),
            token: token.map(str::to_string),
        }))
    }
}

fn cluster_info(ca: &str, signed_by: Option<&Token>) -> serde_json::Value {
    let kubeconfig = cluster_info_kubeconfig(SERVER, ca.as_bytes());
    let mut data = json!({ "kubeconfig": kubeconfig });
    if let Some(t) = signed_by {
        data[format!("jws-kubeconfig-{}", t.id)] = json!(detached_signature(&kubeconfig, t));
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": data})
}

fn cluster(signed_by: Option<&Token>) -> FakeCluster {
    let ca = ca_pem(SystemTime::now() - Duration::from_secs(600));
    let api = FakeApi::new();
    api.put(discovery::CLUSTER_INFO_PATH, cluster_info(&ca, signed_by));
    FakeCluster {
        api,
        ca,
        known_tokens: Arc::new(Mutex::new(vec![TOKEN.to_string()])),
        verified_override: Arc::new(Mutex::new(None)),
        token_sent: Arc::new(AtomicUsize::new(0)),
    }
}

fn settings(pins: Vec<String>) -> TokenDiscovery {
    TokenDiscovery {
        endpoint: "10.0.0.1:6443".into(),
        token: Token::parse(TOKEN).unwrap(),
        pins,
        unsafe_skip_ca_verification: false,
        timeout: Duration::from_secs(2),
        unreachable_timeout: Duration::from_millis(300),
        poll: Duration::from_millis(20),
        interrupt: Interrupt::default(),
    }
}

fn pin(c: &FakeCluster) -> String {
    ca_cert_hashes(c.ca.as_bytes()).unwrap().remove(0)
}

fn discover(c: &FakeCluster, s: &TokenDiscovery) -> Result<discovery::Discovered> {
    discovery::by_token(s, c, &RecordingReporter::default(), SystemTime::now())
}

/// Why discovery refused, with its causes.
fn refusal(c: &FakeCluster, s: &TokenDiscovery) -> String {
    format!("{:#}", discover(c, s).unwrap_err())
}

#[test]
fn a_signed_cluster_info_with_the_pinned_ca_is_trusted() {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(Some(&token));
    let found = discover(&c, &settings(vec![pin(&c)])).unwrap();
    assert_eq!(found.server, "https://10.0.0.1:6443");
    assert_eq!(found.ca_pem, c.ca.as_bytes());
    let kc = found.bootstrap_kubeconfig(&token).unwrap();
    assert_eq!(kc.current_user().unwrap().token.as_deref(), Some(TOKEN));
    assert_eq!(kc.current_context, "tls-bootstrap-token-user@kubernetes");
}

#[test]
fn a_ca_that_is_not_pinned_is_refused_showing_both_hashes() {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(Some(&token));
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = format!(
        "{:#}",
        discover(&c, &settings(vec![wrong.clone()])).unwrap_err()
    );
    assert!(
        err.contains("does not match the pinned public key"),
        "{err}"
    );
    assert!(err.contains(&wrong) && err.contains(&pin(&c)), "{err}");
}

#[test]
fn a_signature_made_with_another_token_is_refused() {
    let other = Token::parse("abcdef.ffffffffffffffff").unwrap();
    let c = cluster(Some(&other));
    let err = refusal(&c, &settings(vec![pin(&c)]));
    assert!(
        err.contains("does not verify with the given token"),
        "{err}"
    );
}

#[test]
fn an_unknown_token_is_named_at_once_not_waited_for() {
    let c = cluster(None);
    c.known_tokens.lock().unwrap().clear();
    let started = std::time::Instant::now();
    let err = refusal(&c, &settings(vec![pin(&c)]));
    assert!(
        err.contains("token \"abcdef\" is unknown to the cluster or has expired"),
        "{err}"
    );
    assert!(
        err.contains("kubestrap token create --print-join-command"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn an_expired_token_whose_signature_is_still_there_is_refused() {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(Some(&token));
    c.known_tokens.lock().unwrap().clear();
    let err = refusal(&c, &settings(vec![pin(&c)]));
    assert!(
        err.contains("unknown to the cluster or has expired"),
        "{err}"
    );
}

/// A cluster whose cluster-info is signed only from the read after the first `unsigned` ones.
fn signed_after(unsigned: usize) -> FakeCluster {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(None);
    let answer = Response::json(200, &cluster_info(&c.ca, None));
    c.api.script(
        Method::Get,
        discovery::CLUSTER_INFO_PATH,
        vec![Scripted::Answer(answer); unsigned],
    );
    c.api.put(
        discovery::CLUSTER_INFO_PATH,
        cluster_info(&c.ca, Some(&token)),
    );
    c
}

#[test]
fn a_known_token_waits_for_the_signature_and_then_joins() {
    let c = signed_after(2);
    discover(&c, &settings(vec![pin(&c)])).unwrap();
    let reads = c
        .api
        .log()
        .iter()
        .filter(|l| l.contains("cluster-info"))
        .count();
    assert!(reads >= 3, "{reads}");
}

#[test]
fn the_token_is_shown_once_however_long_the_signature_takes() {
    let c = signed_after(5);
    let mut s = settings(vec![pin(&c)]);
    s.poll = Duration::from_millis(1);
    discover(&c, &s).unwrap();
    assert_eq!(c.token_sent.load(Ordering::SeqCst), 1);
}

#[test]
fn a_signature_that_never_comes_ends_with_the_discovery_timeout() {
    let c = cluster(None);
    let mut s = settings(vec![pin(&c)]);
    s.timeout = Duration::from_millis(200);
    let err = refusal(&c, &s);
    assert!(
        err.contains("still holds no signature for token ID \"abcdef\""),
        "{err}"
    );
}

#[test]
fn a_different_second_read_is_refused() {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(Some(&token));
    let mut other = cluster_info(&c.ca, Some(&token));
    other["data"]["kubeconfig"] = json!("apiVersion: v1\nkind: Config\n");
    *c.verified_override.lock().unwrap() = Some(other);
    let err = refusal(&c, &settings(vec![pin(&c)]));
    assert!(err.contains("differs from the first read"), "{err}");
}

#[test]
fn a_clock_outside_the_ca_validity_is_named_with_both_times() {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(Some(&token));
    let past = SystemTime::now() - Duration::from_secs(3600 * 24 * 400);
    let err = format!(
        "{:#}",
        discovery::by_token(
            &settings(vec![pin(&c)]),
            &c,
            &RecordingReporter::default(),
            past
        )
        .unwrap_err()
    );
    assert!(err.contains("this machine's clock says"), "{err}");
    assert!(err.contains("not valid yet: NotBefore"), "{err}");
}

#[test]
fn without_pins_only_the_unsafe_flag_lets_discovery_through() {
    let token = Token::parse(TOKEN).unwrap();
    let c = cluster(Some(&token));
    let err = refusal(&c, &settings(vec![]));
    assert!(
        err.contains("--discovery-token-ca-cert-hash sha256:"),
        "{err}"
    );
    let mut s = settings(vec![]);
    s.unsafe_skip_ca_verification = true;
    discover(&c, &s).unwrap();
}

#[test]
fn nothing_answering_is_named_within_the_bound() {
    let c = cluster(None);
    c.api.script(
        Method::Get,
        discovery::CLUSTER_INFO_PATH,
        vec![Scripted::Refused; 100],
    );
    let err = refusal(&c, &settings(vec![pin(&c)]));
    assert!(
        err.contains("nothing answers at https://10.0.0.1:6443"),
        "{err}"
    );
}

#[test]
fn bad_join_input_is_refused_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    let hash = format!("sha256:{}", "a".repeat(64));
    for (args, says) in [
        (
            vec!["join", "10.0.0.1:6443", "--token", "abc.def"],
            "was not of the form",
        ),
        (
            vec!["join", "10.0.0.1:6443", "--token", TOKEN],
            "without --discovery-token-ca-cert-hash can be unsafe",
        ),
        (
            vec![
                "join",
                "10.0.0.1",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                &hash,
            ],
            "is not host:port",
        ),
        (
            vec![
                "join",
                "10.0.0.1:6443",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                "sha256:abcd",
            ],
            "expected a 32 byte SHA-256 hash",
        ),
        (
            vec![
                "join",
                "10.0.0.1:6443",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                &hash,
                "--apiserver-advertise-address",
                "10.0.0.2",
            ],
            "--apiserver-advertise-address is only used with --control-plane",
        ),
        (
            vec![
                "join",
                "10.0.0.1:6443",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                &hash,
                "--control-plane",
                "--apiserver-advertise-address",
                "127.0.0.1",
            ],
            "cannot be reached by the other members of the control plane",
        ),
        (
            vec![
                "join",
                "10.0.0.1:6443",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                &hash,
                "--certificate-key",
                "abcd",
            ],
            "--certificate-key: the key is 2 bytes",
        ),
        (vec!["join"], "nothing says how to find the cluster"),
        (
            vec![
                "join",
                "10.0.0.1:6443",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                &hash,
                "--skip-phases",
                "kubelet-starts",
            ],
            "unknown phase `kubelet-starts`",
        ),
    ] {
        let out = kubestrap_on(dir.path(), &args);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?}"
        );
    }
}

#[test]
fn a_join_configuration_file_is_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("join.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    caCertHashes: [sha256:abcd]\n  timeout: 1m\nnodeRegistration:\n  name: worker-1\n",
    )
    .unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let out = kubestrap_on(&root, &["join", "--config", cfg.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("expected a 32 byte SHA-256 hash"),
        "{stderr}"
    );
    std::fs::write(
        &cfg,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  timeout: 1m\n",
    )
    .unwrap();
    let out = kubestrap_on(&root, &["join", "--config", cfg.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("replaced it with JoinConfiguration `timeouts.discovery`"),
        "{stderr}"
    );
    let out = kubestrap_on(
        &root,
        &["join", "--config", cfg.to_str().unwrap(), "--token", TOKEN],
    );
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("can not mix '--config' with arguments [token]"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}

/// A worker's context after discovery, on a fresh root, talking to the fake API.
fn worker(
    base: &std::path::Path,
    api: &FakeApi,
    timeout: Duration,
) -> kubestrap_phases::runner::context::Context {
    use kubestrap_phases::config::join::{JoinFlags, resolve_join};
    let host = kubestrap_phases::host::FakeHost::healthy();
    let root = kubestrap_phases::fs::root::Root::new(base);
    let flags = JoinFlags {
        endpoint: Some("10.0.0.1:6443".into()),
        token: Some(TOKEN.into()),
        ca_cert_hashes: vec![format!("sha256:{}", "a".repeat(64))],
        cri_socket: Some("unix:///run/containerd/containerd.sock".into()),
        ..JoinFlags::default()
    };
    let mut cfg = resolve_join(Default::default(), &flags, &root, &host).unwrap();
    cfg.version = kubestrap_phases::version::KubeVersion::parse("v1.20.2").unwrap();
    let join = cfg.join.as_mut().unwrap();
    join.tls_bootstrap_timeout = timeout;
    let ca = ca_pem(SystemTime::now() - Duration::from_secs(60));
    let token = Token::parse(TOKEN).unwrap();
    let found = discovery::Discovered {
        server: SERVER.into(),
        ca_pem: ca.into_bytes(),
    };
    let bootstrap = found
        .bootstrap_kubeconfig(&token)
        .unwrap()
        .to_yaml()
        .unwrap();
    let mut ctx = kubestrap_phases::runner::context::Context::new(
        cfg,
        root,
        Box::new(host),
        Box::new(RecordingReporter::default()),
        Default::default(),
    );
    ctx.set_state(discovery::BootstrapKubeconfig(bootstrap));
    ctx.set_api(kubestrap_phases::api::Client::new(
        Box::new(api.clone()),
        kubestrap_phases::api::Retry::immediate(),
    ));
    api.put(
        "/api/v1/namespaces/kube-system/configmaps/kubelet-config-1.20",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "kubelet-config-1.20", "namespace": "kube-system"},
               "data": {"kubelet": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"}}),
    );
    ctx
}

#[test]
fn a_pending_csr_is_named_when_the_tls_bootstrap_does_not_finish() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ctx = worker(dir.path(), &api, Duration::from_millis(300));
    api.put(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-abc12",
        json!({"metadata": {"name": "csr-abc12", "creationTimestamp": "2026-12-03T10:00:00Z"},
               "spec": {"username": "system:bootstrap:abcdef"}, "status": {}}),
    );
    let err = format!("{:#}", tls_bootstrap::kubelet_start(&mut ctx).unwrap_err());
    assert!(err.contains("csr-abc12 is waiting for approval"), "{err}");
    assert!(
        err.contains("kubectl certificate approve csr-abc12"),
        "{err}"
    );
    // What the kubelet needs was written, and the bootstrap credentials are kept for it.
    let base = dir.path();
    assert!(base.join("etc/kubernetes/bootstrap-kubelet.conf").exists());
    assert!(base.join("etc/kubernetes/pki/ca.crt").exists());
    let env = std::fs::read_to_string(base.join("var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(env.contains("--container-runtime=remote"), "{env}");
    let config = std::fs::read_to_string(base.join("var/lib/kubelet/config.yaml")).unwrap();
    assert!(config.contains("kind: KubeletConfiguration"), "{config}");
}

#[test]
fn no_csr_at_all_says_the_kubelet_never_asked() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ctx = worker(dir.path(), &api, Duration::from_millis(200));
    let err = format!("{:#}", tls_bootstrap::kubelet_start(&mut ctx).unwrap_err());
    assert!(
        err.contains("the kubelet sent no certificate signing request"),
        "{err}"
    );
}

#[test]
fn a_ready_node_of_the_same_name_is_refused_before_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ctx = worker(dir.path(), &api, Duration::from_millis(200));
    api.put(
        "/api/v1/nodes/node1",
        json!({"metadata": {"name": "node1"},
               "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    let err = format!("{:#}", tls_bootstrap::kubelet_start(&mut ctx).unwrap_err());
    assert!(
        err.contains("a Node with name \"node1\" and status \"Ready\" already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_worker_registers_with_its_configured_taints() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ctx = worker(dir.path(), &api, Duration::from_millis(100));
    ctx.cfg.init.node_registration.taints = Some(vec![kubestrap_phases::config::Taint {
        key: "example.com/dedicated".into(),
        value: Some("gpu".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    }]);
    let _ = tls_bootstrap::kubelet_start(&mut ctx);
    let env =
        std::fs::read_to_string(dir.path().join("var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(
        env.contains("--register-with-taints=example.com/dedicated=gpu:NoSchedule"),
        "{env}"
    );
}
