//! The `certs` and `kubeconfig` phases checked with real `openssl` and `kubectl`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kubestrap_phases::config::{
    self, ApiServer, ClusterConfiguration, Documents, Etcd, ExternalEtcd, Overrides,
};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::FakeHost;
use kubestrap_phases::pki::KeyAlgorithm;
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::workflows::init;

use crate::support::{kubestrap, text, tree};

const LEAVES: &[(&str, &str)] = &[
    ("apiserver", "ca"),
    ("apiserver-kubelet-client", "ca"),
    ("front-proxy-client", "front-proxy-ca"),
    ("etcd/server", "etcd/ca"),
    ("etcd/peer", "etcd/ca"),
    ("etcd/healthcheck-client", "etcd/ca"),
    ("apiserver-etcd-client", "etcd/ca"),
];
const YEAR: u64 = 365 * 24 * 3600;

/// Runs a tool that the tests need; a missing one fails naming its Debian package.
fn tool(program: &str, package: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{program}` is needed (Debian package `{package}`): {e}"))
}

fn openssl(args: &[&str]) -> String {
    let out = tool("openssl", "openssl", args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "openssl {args:?}: {stdout}{stderr}");
    stdout
}

fn kubectl(kubeconfig: &Path, jsonpath: &str) -> String {
    let out = tool(
        "kubectl",
        "kubernetes-client",
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "config",
            "view",
            "--raw",
            "-o",
            &format!("jsonpath={jsonpath}"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "kubectl: {stderr}");
    stdout
}

/// Checks a certificates folder with Go's crypto/x509 and crypto/tls (what Kubernetes runs).
fn go_verify(root: &Path, name: &str, ip: &str) {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pki/verify.go");
    let cache = std::env::temp_dir().join("kubestrap-go-cache");
    let out = Command::new("go")
        .env("GOCACHE", &cache)
        .args(["run", program.to_str().unwrap()])
        .arg(pki(root))
        .args([name, ip])
        .output()
        .unwrap_or_else(|e| panic!("`go` is needed (Debian package `golang-go`): {e}"));
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "Go refused the tree: {stdout}{stderr}"
    );
}

fn pki(root: &Path) -> PathBuf {
    root.join("etc/kubernetes/pki")
}

fn crt(root: &Path, base: &str) -> String {
    pki(root).join(format!("{base}.crt")).display().to_string()
}

fn x509_text(root: &Path, base: &str) -> String {
    openssl(&["x509", "-noout", "-text", "-in", &crt(root, base)])
}

fn subject(root: &Path, base: &str) -> String {
    openssl(&["x509", "-noout", "-subject", "-in", &crt(root, base)])
        .trim()
        .to_string()
}

/// Seconds since the epoch of an `openssl x509 -startdate/-enddate` value (`Nov 28 02:29:06 2026 GMT`).
fn date(root: &Path, base: &str, which: &str) -> u64 {
    let out = openssl(&["x509", "-noout", which, "-in", &crt(root, base)]);
    let value = out.trim().split_once('=').unwrap().1;
    let parts: Vec<&str> = value.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[0])
    .unwrap() as i64
        + 1;
    let day: i64 = parts[1].parse().unwrap();
    let hms: Vec<i64> = parts[2].split(':').map(|p| p.parse().unwrap()).collect();
    let year: i64 = parts[3].parse().unwrap();
    // Days from the civil date (proleptic Gregorian).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    (days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]) as u64
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn phase(root: &Path, which: &str, version: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "init",
        "phase",
        which,
        "--root",
        root.to_str().unwrap(),
        "--node-name",
        "n1",
        "--apiserver-advertise-address",
        "10.20.0.1",
        "--kubernetes-version",
        version,
    ];
    args.extend_from_slice(extra);
    kubestrap(&args)
}

/// The console output (status lines go to stderr) of a successful run.
fn ok(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{stdout}{stderr}");
    stdout + &stderr
}

fn failed(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    stderr
}

/// Every leaf verifies against its CA with openssl; every key is 0600.
fn verify_tree(root: &Path) {
    for (leaf, ca) in LEAVES {
        let out = openssl(&["verify", "-CAfile", &crt(root, ca), &crt(root, leaf)]);
        assert!(out.contains(": OK"), "{leaf}: {out}");
    }
    for name in tree(&pki(root)) {
        let m = mode(&pki(root).join(&name));
        let want = if name.ends_with(".crt") { 0o644 } else { 0o600 };
        assert_eq!(m, want, "{name} has mode {m:o}");
    }
}

fn files_with_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .map(|f| {
            let bytes = fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn v1_20_tree_matches_kubeadm_and_verifies_with_openssl_and_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let before = now();
    let out = ok(&phase(
        root,
        "certs",
        "v1.20.2",
        &["--apiserver-cert-extra-sans", "lb.example.com,10.0.0.100"],
    ));
    assert!(
        out.contains("[certs] Generating \"ca\" certificate and key"),
        "{out}"
    );
    assert!(
        out.contains("[certs] apiserver serving cert is signed for DNS names [kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local lb.example.com n1] and IPs [10.96.0.1 10.20.0.1 10.0.0.100]"),
        "{out}"
    );
    assert!(out.contains("[certs] etcd/server serving cert is signed for DNS names [localhost n1] and IPs [10.20.0.1 127.0.0.1 ::1]"), "{out}");
    assert!(
        out.contains("[certs] Generating \"sa\" key and public key"),
        "{out}"
    );
    verify_tree(root);
    go_verify(root, "n1", "10.20.0.1");
    let files = tree(&pki(root));
    assert_eq!(files.len(), 22, "{files:?}");
    for key in ["ca.key", "sa.key", "etcd/peer.key"] {
        let head = fs::read_to_string(pki(root).join(key)).unwrap();
        assert!(
            head.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{key}"
        );
    }
    assert!(
        fs::read_to_string(pki(root).join("sa.pub"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );

    let api = x509_text(root, "apiserver");
    assert!(api.contains("Public-Key: (2048 bit)"), "{api}");
    assert!(
        api.contains("DNS:kubernetes.default.svc.cluster.local"),
        "{api}"
    );
    assert!(
        api.contains("DNS:n1") && api.contains("DNS:lb.example.com"),
        "{api}"
    );
    for ip in ["10.96.0.1", "10.20.0.1", "10.0.0.100"] {
        assert!(api.contains(&format!("IP Address:{ip}")), "{ip}: {api}");
    }
    assert!(api.contains("TLS Web Server Authentication"), "{api}");
    assert!(
        api.contains("Digital Signature, Key Encipherment\n"),
        "{api}"
    );
    // kubeadm 1.20 put no basicConstraints on leaves.
    assert!(!api.contains("Basic Constraints"), "{api}");
    let ca = x509_text(root, "ca");
    assert!(
        ca.contains("CA:TRUE") && ca.contains("Certificate Sign"),
        "{ca}"
    );
    assert!(ca.contains("DNS:kubernetes"), "{ca}");

    assert_eq!(subject(root, "ca"), "subject=CN = kubernetes");
    assert_eq!(
        subject(root, "apiserver-kubelet-client"),
        "subject=O = system:masters, CN = kube-apiserver-kubelet-client"
    );
    assert_eq!(
        subject(root, "apiserver-etcd-client"),
        "subject=O = system:masters, CN = kube-apiserver-etcd-client"
    );
    assert_eq!(
        subject(root, "etcd/healthcheck-client"),
        "subject=O = system:masters, CN = kube-etcd-healthcheck-client"
    );
    assert_eq!(subject(root, "etcd/server"), "subject=CN = n1");
    assert_eq!(
        subject(root, "front-proxy-ca"),
        "subject=CN = front-proxy-ca"
    );
    let peer = x509_text(root, "etcd/peer");
    assert!(
        peer.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{peer}"
    );
    assert!(x509_text(root, "front-proxy-client").contains("TLS Web Client Authentication"));

    // 1.20: the CA starts now (no backdating) for 10 years; leaves start with their CA, last 1 year.
    let ca_start = date(root, "ca", "-startdate");
    assert!(
        ca_start + 2 >= before && ca_start <= now(),
        "{ca_start} {before}"
    );
    assert_eq!(date(root, "ca", "-enddate") - ca_start, 10 * YEAR);
    for (leaf, ca) in LEAVES {
        assert_eq!(
            date(root, leaf, "-startdate"),
            date(root, ca, "-startdate"),
            "{leaf}"
        );
        let end = date(root, leaf, "-enddate");
        assert!(end.abs_diff(before + YEAR) <= 60, "{leaf} ends {end}");
    }

    let out = ok(&phase(root, "kubeconfig", "v1.20.2", &[]));
    assert!(
        out.contains("[kubeconfig] Writing \"admin.conf\" kubeconfig file"),
        "{out}"
    );
    assert!(!root.join("etc/kubernetes/super-admin.conf").exists());
    let expected = [
        (
            "admin.conf",
            "kubernetes-admin",
            "https://10.20.0.1:6443",
            "O = system:masters, CN = kubernetes-admin",
        ),
        (
            "kubelet.conf",
            "system:node:n1",
            "https://10.20.0.1:6443",
            "O = system:nodes, CN = system:node:n1",
        ),
        (
            "controller-manager.conf",
            "system:kube-controller-manager",
            "https://10.20.0.1:6443",
            "CN = system:kube-controller-manager",
        ),
        (
            "scheduler.conf",
            "system:kube-scheduler",
            "https://10.20.0.1:6443",
            "CN = system:kube-scheduler",
        ),
    ];
    for (file, user, server, subj) in expected {
        check_kubeconfig(root, file, user, server, subj);
    }
}

/// kubectl reads the file and shows the user, cluster and server; the embedded client certificate
/// verifies against the cluster CA.
fn check_kubeconfig(root: &Path, file: &str, user: &str, server: &str, subj: &str) {
    let path = root.join("etc/kubernetes").join(file);
    assert_eq!(mode(&path), 0o600, "{file}");
    assert_eq!(kubectl(&path, "{.users[0].name}"), user, "{file}");
    assert_eq!(
        kubectl(&path, "{.clusters[0].name}"),
        "kubernetes",
        "{file}"
    );
    assert_eq!(
        kubectl(&path, "{.clusters[0].cluster.server}"),
        server,
        "{file}"
    );
    assert_eq!(
        kubectl(&path, "{.current-context}"),
        format!("{user}@kubernetes"),
        "{file}"
    );
    let b64 = kubectl(&path, "{.users[0].user.client-certificate-data}");
    let scratch = tempfile::tempdir().unwrap();
    let b64_file = scratch.path().join("b64");
    fs::write(&b64_file, b64).unwrap();
    let pem = openssl(&["base64", "-d", "-A", "-in", b64_file.to_str().unwrap()]);
    let cert_file = scratch.path().join("client.crt");
    fs::write(&cert_file, pem).unwrap();
    let out = openssl(&[
        "verify",
        "-CAfile",
        &crt(root, "ca"),
        cert_file.to_str().unwrap(),
    ]);
    assert!(out.contains(": OK"), "{file}: {out}");
    let s = openssl(&[
        "x509",
        "-noout",
        "-subject",
        "-in",
        cert_file.to_str().unwrap(),
    ]);
    assert_eq!(s.trim(), format!("subject={subj}"), "{file}");
    let t = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        cert_file.to_str().unwrap(),
    ]);
    assert!(t.contains("TLS Web Client Authentication"), "{file}: {t}");
}

#[test]
fn v1_31_backdates_and_uses_the_new_groups_and_super_admin() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let before = now();
    ok(&phase(
        root,
        "certs",
        "v1.31.0",
        &["--control-plane-endpoint", "lb.example.com"],
    ));
    verify_tree(root);
    go_verify(root, "n1", "10.20.0.1");
    let ca_start = date(root, "ca", "-startdate");
    assert!(
        ca_start + 300 + 2 >= before && ca_start + 300 <= now(),
        "CA backdated 5 minutes"
    );
    assert_eq!(date(root, "ca", "-enddate") - ca_start, 10 * YEAR);
    for (leaf, _) in LEAVES {
        let start = date(root, leaf, "-startdate");
        assert!(start + 300 + 2 >= before && start + 300 <= now(), "{leaf}");
        assert_eq!(date(root, leaf, "-enddate") - start, YEAR + 300, "{leaf}");
        assert!(x509_text(root, leaf).contains("CA:FALSE"), "{leaf}");
    }
    assert_eq!(
        subject(root, "apiserver-kubelet-client"),
        "subject=O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client"
    );
    assert_eq!(
        subject(root, "apiserver-etcd-client"),
        "subject=CN = kube-apiserver-etcd-client"
    );
    assert!(x509_text(root, "apiserver").contains("DNS:lb.example.com"));

    let out = ok(&phase(
        root,
        "kubeconfig",
        "v1.31.0",
        &["--control-plane-endpoint", "lb.example.com"],
    ));
    assert!(out.contains("Writing \"super-admin.conf\""), "{out}");
    let cpe = "https://lb.example.com:6443";
    let local = "https://10.20.0.1:6443";
    check_kubeconfig(
        root,
        "admin.conf",
        "kubernetes-admin",
        cpe,
        "O = kubeadm:cluster-admins, CN = kubernetes-admin",
    );
    check_kubeconfig(
        root,
        "super-admin.conf",
        "kubernetes-super-admin",
        cpe,
        "O = system:masters, CN = kubernetes-super-admin",
    );
    check_kubeconfig(
        root,
        "kubelet.conf",
        "system:node:n1",
        cpe,
        "O = system:nodes, CN = system:node:n1",
    );
    check_kubeconfig(
        root,
        "controller-manager.conf",
        "system:kube-controller-manager",
        local,
        "CN = system:kube-controller-manager",
    );
    check_kubeconfig(
        root,
        "scheduler.conf",
        "system:kube-scheduler",
        local,
        "CN = system:kube-scheduler",
    );
}

#[test]
fn a_second_run_reuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(&phase(root, "certs", "v1.25.0", &[]));
    ok(&phase(root, "kubeconfig", "v1.25.0", &[]));
    let first = files_with_contents(root);
    let certs = ok(&phase(root, "certs", "v1.25.0", &[]));
    let kubeconfigs = ok(&phase(root, "kubeconfig", "v1.25.0", &[]));
    assert_eq!(files_with_contents(root), first);
    assert!(!certs.contains("Generating"), "{certs}");
    assert!(
        certs.contains("[certs] Using existing ca certificate authority"),
        "{certs}"
    );
    assert!(
        certs.contains("[certs] Using existing etcd/server certificate and key on disk"),
        "{certs}"
    );
    assert!(
        certs.contains("[certs] Using the existing \"sa\" key"),
        "{certs}"
    );
    assert!(
        kubeconfigs.contains(
            "[kubeconfig] Using existing kubeconfig file: \"/etc/kubernetes/admin.conf\""
        ),
        "{kubeconfigs}"
    );
    // Another API server address only warns, as in kubeadm.
    let moved = ok(&phase(
        root,
        "kubeconfig",
        "v1.25.0",
        &["admin", "--apiserver-advertise-address", "10.20.0.2"],
    ));
    assert!(
        moved.contains("exists already but has an unexpected API Server URL: expected: https://10.20.0.2:6443, got: https://10.20.0.1:6443"),
        "{moved}"
    );
    assert_eq!(files_with_contents(root), first);
}

#[test]
fn a_leaf_alone_on_an_empty_root_names_the_ca_phase() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = failed(&phase(dir.path(), "certs", "v1.25.0", &["apiserver"]));
    assert!(
        stderr.contains("run `kubestrap init phase certs ca` first"),
        "{stderr}"
    );
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn certificates_that_do_not_fit_are_refused_and_left_alone() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    ok(&phase(a.path(), "certs", "v1.25.0", &[]));
    ok(&phase(b.path(), "certs", "v1.25.0", &[]));
    // A pair signed by another CA.
    for ext in ["crt", "key"] {
        let name = format!("apiserver.{ext}");
        fs::copy(pki(b.path()).join(&name), pki(a.path()).join(&name)).unwrap();
    }
    let before = files_with_contents(a.path());
    let stderr = failed(&phase(a.path(), "certs", "v1.25.0", &[]));
    assert!(
        stderr.contains("certificate apiserver is not signed by corresponding CA"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: remove `/etc/kubernetes/pki/apiserver.crt`"),
        "{stderr}"
    );
    assert_eq!(files_with_contents(a.path()), before);

    // A certificate without a SAN the configuration asks for.
    let stderr = failed(&phase(
        b.path(),
        "certs",
        "v1.25.0",
        &["etcd-server", "--node-name", "n2"],
    ));
    assert!(
        stderr.contains(
            "certificate etcd/server is invalid: it lacks the subject alternative names DNS:n2"
        ),
        "{stderr}"
    );
    let stderr = failed(&phase(
        b.path(),
        "certs",
        "v1.25.0",
        &["--apiserver-cert-extra-sans", "10.9.9.9"],
    ));
    assert!(
        stderr.contains("lacks the subject alternative names IP:10.9.9.9"),
        "{stderr}"
    );

    // A kubeconfig from another cluster.
    ok(&phase(b.path(), "kubeconfig", "v1.25.0", &["admin"]));
    let admin = "etc/kubernetes/admin.conf";
    fs::copy(b.path().join(admin), a.path().join(admin)).unwrap();
    let stderr = failed(&phase(a.path(), "kubeconfig", "v1.25.0", &["admin"]));
    assert!(
        stderr.contains("exists already but has got the wrong CA cert"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: remove `/etc/kubernetes/admin.conf`"),
        "{stderr}"
    );
}

#[test]
fn a_user_ca_signs_the_rest_and_a_keyless_ca_requires_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(pki(root)).unwrap();
    let (ca_crt, ca_key) = (crt(root, "ca"), pki(root).join("ca.key"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=my-company-ca",
        "-keyout",
        ca_key.to_str().unwrap(),
        "-out",
        &ca_crt,
    ]);
    let user_ca = fs::read(&ca_crt).unwrap();
    let out = ok(&phase(root, "certs", "v1.25.0", &[]));
    assert!(
        out.contains("[certs] Using existing ca certificate authority"),
        "{out}"
    );
    assert_eq!(fs::read(&ca_crt).unwrap(), user_ca);
    verify_tree(root);
    go_verify(root, "n1", "10.20.0.1");
    ok(&phase(root, "kubeconfig", "v1.25.0", &[]));
    check_kubeconfig(
        root,
        "scheduler.conf",
        "system:kube-scheduler",
        "https://10.20.0.1:6443",
        "CN = system:kube-scheduler",
    );

    // Without ca.key: external CA mode reuses what exists ...
    fs::remove_file(&ca_key).unwrap();
    let out = ok(&phase(root, "certs", "v1.25.0", &[]));
    assert!(
        out.contains("[certs] Using existing ca keyless certificate authority"),
        "{out}"
    );
    ok(&phase(root, "kubeconfig", "v1.25.0", &[]));
    // ... and refuses to make what is missing.
    fs::remove_file(crt(root, "apiserver")).unwrap();
    fs::remove_file(pki(root).join("apiserver.key")).unwrap();
    let stderr = failed(&phase(root, "certs", "v1.25.0", &[]));
    assert!(stderr.contains("external CA mode"), "{stderr}");
    assert!(
        stderr.contains("/etc/kubernetes/pki/apiserver.crt"),
        "{stderr}"
    );
    assert!(!pki(root).join("apiserver.crt").exists());
    fs::remove_file(root.join("etc/kubernetes/kubelet.conf")).unwrap();
    let stderr = failed(&phase(root, "kubeconfig", "v1.25.0", &[]));
    assert!(
        stderr.contains("external CA mode: every kubeconfig must be provided"),
        "{stderr}"
    );
}

/// A v1.31 context on `root` with a configuration the flags cannot express.
fn library_context(
    root: &Path,
    cluster: ClusterConfiguration,
) -> (Context, Arc<RecordingReporter>) {
    let flags = Overrides {
        advertise_address: Some("10.20.0.1".into()),
        node_name: Some("n1".into()),
        kubernetes_version: Some("v1.31.2".into()),
        ..Overrides::default()
    };
    let docs = Documents {
        cluster,
        ..Documents::default()
    };
    let fs_root = Root::new(root);
    let host = FakeHost::default();
    let cfg = config::resolve(docs, &flags, &fs_root, &host).unwrap();
    let reporter = Arc::new(RecordingReporter::default());
    let ctx = Context::new(
        cfg,
        fs_root,
        Box::new(host),
        Box::new(reporter.clone()),
        Options::default(),
    );
    (ctx, reporter)
}

/// Runs `certs` and `kubeconfig` through the library with a configuration the flags cannot express.
fn run_library(root: &Path, cluster: ClusterConfiguration) -> Vec<String> {
    let (mut ctx, reporter) = library_context(root, cluster);
    let table = init::phases(ctx.cfg.version);
    for group in ["certs", "kubeconfig"] {
        let steps = runner::plan(table, Some(group), &[]).unwrap();
        runner::run(&steps, &mut ctx, true).unwrap();
    }
    reporter.lines()
}

#[test]
fn ecdsa_p256_tree_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run_library(
        root,
        ClusterConfiguration {
            encryption_algorithm: "ECDSA-P256".into(),
            api_server: ApiServer {
                cert_sans: vec!["*.apps.example.com".into()],
                ..ApiServer::default()
            },
            certificate_validity_period: "48h0m0s".into(),
            ca_certificate_validity_period: "8760h0m0s".into(),
            ..ClusterConfiguration::default()
        },
    );
    verify_tree(root);
    go_verify(root, "n1", "10.20.0.1");
    assert!(x509_text(root, "apiserver").contains("DNS:*.apps.example.com"));
    for (base, _) in LEAVES.iter().chain([("ca", "")].iter()) {
        let t = x509_text(root, base);
        assert!(
            t.contains("id-ecPublicKey") && t.contains("prime256v1"),
            "{base}: {t}"
        );
        assert!(t.contains("ecdsa-with-SHA256"), "{base}: {t}");
    }
    let key = fs::read_to_string(pki(root).join("apiserver.key")).unwrap();
    assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{key}");
    openssl(&[
        "ec",
        "-check",
        "-noout",
        "-in",
        pki(root).join("apiserver.key").to_str().unwrap(),
    ]);
    let start = date(root, "ca", "-startdate");
    assert_eq!(date(root, "ca", "-enddate") - start, YEAR);
    let leaf_start = date(root, "apiserver", "-startdate");
    assert_eq!(
        date(root, "apiserver", "-enddate") - leaf_start,
        2 * 86400 + 300
    );
    check_kubeconfig(
        root,
        "admin.conf",
        "kubernetes-admin",
        "https://10.20.0.1:6443",
        "O = kubeadm:cluster-admins, CN = kubernetes-admin",
    );
}

/// A cluster with an external etcd.
fn external_etcd() -> Etcd {
    Etcd {
        local: None,
        external: Some(ExternalEtcd {
            endpoints: vec!["https://10.0.0.5:2379".into()],
            ..ExternalEtcd::default()
        }),
    }
}

/// The keys generated ahead are exactly the ones the planned phases will create.
#[test]
fn keys_are_ordered_ahead_for_what_is_missing_only() {
    let dir = tempfile::tempdir().unwrap();
    let external = ClusterConfiguration {
        etcd: external_etcd(),
        ..ClusterConfiguration::default()
    };
    let (ctx, _) = library_context(dir.path(), external);
    let table = init::phases(ctx.cfg.version);
    let all = runner::plan(table, None, &[]).unwrap();
    // ca, apiserver, apiserver-kubelet-client, front-proxy-ca, front-proxy-client, sa, and five
    // kubeconfigs (with super-admin); no etcd certificates.
    assert_eq!(
        runner::keys_wanted(&all, &ctx),
        [(KeyAlgorithm::Rsa2048, 11)]
    );
    let one = runner::plan(table, Some("certs/apiserver"), &[]).unwrap();
    assert_eq!(
        runner::keys_wanted(&one, &ctx),
        [(KeyAlgorithm::Rsa2048, 1)]
    );
    let skipped = runner::plan(table, None, &["kubeconfig".to_string()]).unwrap();
    assert_eq!(
        runner::keys_wanted(&skipped, &ctx),
        [(KeyAlgorithm::Rsa2048, 6)]
    );

    let ecdsa = ClusterConfiguration {
        encryption_algorithm: "ECDSA-P256".into(),
        ..ClusterConfiguration::default()
    };
    run_library(dir.path(), ecdsa.clone());
    let (ctx, _) = library_context(dir.path(), ecdsa);
    let all = runner::plan(table, None, &[]).unwrap();
    assert_eq!(runner::keys_wanted(&all, &ctx), []);
    fs::remove_file(pki(dir.path()).join("etcd/peer.key")).unwrap();
    fs::remove_file(pki(dir.path()).join("etcd/peer.crt")).unwrap();
    fs::remove_file(dir.path().join("etc/kubernetes/admin.conf")).unwrap();
    assert_eq!(
        runner::keys_wanted(&all, &ctx),
        [(KeyAlgorithm::EcdsaP256, 2)]
    );
}

#[test]
fn external_etcd_skips_the_etcd_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lines = run_library(
        root,
        ClusterConfiguration {
            encryption_algorithm: "ECDSA-P256".into(),
            etcd: external_etcd(),
            ..ClusterConfiguration::default()
        },
    );
    assert!(!pki(root).join("etcd").exists());
    assert!(!pki(root).join("apiserver-etcd-client.crt").exists());
    assert!(
        lines.contains(
            &"[certs] External etcd mode: Skipping etcd/ca certificate authority generation"
                .to_string()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"[certs] External etcd mode: Skipping etcd/server certificate generation".to_string()
        ),
        "{lines:?}"
    );
}

// A P-384 CA key was refused as `EC PRIVATE KEY` (SEC1) and accepted as PKCS#8 `PRIVATE KEY`.
#[test]
fn a_p384_ca_signs_in_either_pem_form() {
    crate::support::require_binary("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(work)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        "sec1.key",
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "sec1.key",
        "-out",
        "pkcs8.key",
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "sec1.key",
        "-subj",
        "/CN=kubernetes",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-out",
        "ca.crt",
    ]);
    for form in ["sec1", "pkcs8"] {
        let root = work.join(form);
        let pki = root.join("etc/kubernetes/pki");
        fs::create_dir_all(&pki).unwrap();
        fs::copy(work.join("ca.crt"), pki.join("ca.crt")).unwrap();
        fs::copy(work.join(format!("{form}.key")), pki.join("ca.key")).unwrap();
        let out = crate::support::kubestrap(&[
            "init",
            "phase",
            "certs",
            "apiserver",
            "--root",
            root.to_str().unwrap(),
            "--kubernetes-version",
            "v1.25.0",
            "--apiserver-advertise-address",
            "10.0.0.1",
            "--node-name",
            "n1",
        ]);
        assert!(
            out.status.success(),
            "{form}: {:?}",
            crate::support::text(&out)
        );
        let verify = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(work.join("ca.crt"))
            .arg(pki.join("apiserver.crt"))
            .output()
            .unwrap();
        assert!(verify.status.success(), "{form}: {verify:?}");
    }
}
