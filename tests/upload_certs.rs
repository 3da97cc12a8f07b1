//! `upload-certs` and `download-certs` through the fake API server: the Secret, its owner token
//! and RBAC as kubeadm leaves them, a round trip of every shared file, a re-upload, the refusals
//! (wrong key, no Secret, external CA), and a Secret sealed by kubeadm v1.20.2 itself.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kubestrap_phases::api::fake::FakeApi;
use kubestrap_phases::api::objects::Secret;
use kubestrap_phases::api::{Api, Client, Retry};
use kubestrap_phases::config::ClusterConfiguration;
use kubestrap_phases::config::join::{Discovery, Join};
use kubestrap_phases::phases::bootstrap::token::parse_rfc3339;
use kubestrap_phases::phases::certs::download as download_certs;
use kubestrap_phases::phases::certs::upload as upload_certs;
use kubestrap_phases::pki::CertificateKey;
use kubestrap_phases::runner::context::Context;
use kubestrap_phases::runner::report::RecordingReporter;
use serde_json::Value;

use crate::api::{context, seed};
use crate::support::{kubestrap, kubestrap_on, text, tree};

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const SECRET: &str = "/api/v1/namespaces/kube-system/secrets/kubeadm-certs";

/// A seeded root (real CA) with the other shared files; etcd/ca.key is left out.
fn shared_root(base: &Path) {
    seed(base);
    let pki = base.join("etc/kubernetes/pki");
    std::fs::create_dir_all(pki.join("etcd")).unwrap();
    let crt = std::fs::read(pki.join("ca.crt")).unwrap();
    let key = std::fs::read(pki.join("ca.key")).unwrap();
    for (name, bytes) in [
        ("front-proxy-ca.crt", &crt),
        ("etcd/ca.crt", &crt),
        ("front-proxy-ca.key", &key),
        ("sa.key", &key),
    ] {
        std::fs::write(pki.join(name), bytes).unwrap();
    }
    std::fs::write(
        pki.join("sa.pub"),
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
}

fn uploading(base: &Path, fake: &FakeApi) -> (Context, Arc<RecordingReporter>) {
    let (mut ctx, out) = context("v1.20.2", base, fake);
    ctx.opts.upload_certs = true;
    ctx.cfg.init.certificate_key = Some(KEY.into());
    (ctx, out)
}

fn decoded(secret: &Value, key: &str) -> String {
    String::from_utf8(
        STANDARD
            .decode(secret["data"][key].as_str().unwrap_or_default())
            .unwrap(),
    )
    .unwrap()
}

fn owner(fake: &FakeApi) -> (String, Value) {
    let secret = fake.object(SECRET).expect("no kubeadm-certs Secret");
    let refs = secret["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 1, "{refs:?}");
    let name = refs[0]["name"].as_str().unwrap().to_string();
    let token = fake
        .object(&format!("/api/v1/namespaces/kube-system/secrets/{name}"))
        .expect("the owner token Secret");
    assert_eq!(refs[0]["uid"], token["metadata"]["uid"]);
    assert_eq!(refs[0]["kind"], "Secret");
    assert_eq!(refs[0]["apiVersion"], "v1");
    assert_eq!(refs[0]["controller"], true);
    assert_eq!(refs[0]["blockOwnerDeletion"], true);
    (name, token)
}

/// The shared files under a root: `(name, contents, mode)`.
fn files(base: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    for (name, path) in upload_certs::shared_files(&ClusterConfiguration::default()) {
        let file = base.join(path.trim_start_matches('/'));
        if let Ok(bytes) = std::fs::read(&file) {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            out.push((name, bytes, mode));
        }
    }
    out
}

#[test]
fn uploaded_certificates_come_back_on_the_joining_node_and_a_second_upload_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    shared_root(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, out) = uploading(dir.path(), &fake);
    upload_certs::run(&mut ctx).unwrap();

    let lines = out.lines().join("\n");
    assert!(
        lines.contains("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace"),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("Using certificate key:\n{KEY}")),
        "{lines}"
    );
    let secret = fake.object(SECRET).unwrap();
    assert_eq!(secret["type"], "Opaque");
    let mut keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ca.crt",
            "ca.key",
            "etcd-ca.crt",
            "etcd-ca.key",
            "front-proxy-ca.crt",
            "front-proxy-ca.key",
            "sa.key",
            "sa.pub"
        ]
    );
    assert_eq!(
        secret["data"]["etcd-ca.key"], "",
        "a missing file is an empty entry"
    );

    // The owner: a 2-hour token with kubeadm's description and nothing else, the same keys as
    // kubeadm's own (fixture).
    let (first_owner, token) = owner(&fake);
    assert_eq!(
        decoded(&token, "description"),
        upload_certs::TOKEN_DESCRIPTION
    );
    let kubeadm_token: Value = serde_json::from_str(include_str!(
        "../fixtures/api/kubeadm-certs-v1.20.2/owner-token.json"
    ))
    .unwrap();
    let names = |v: &Value| {
        let mut k: Vec<String> = v["data"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(names(&token), names(&kubeadm_token));
    assert_eq!(token["type"], kubeadm_token["type"]);
    let expires = parse_rfc3339(&decoded(&token, "expiration")).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (expires - now - 7200).abs() < 120,
        "expires {expires}, now {now}"
    );
    for kind in ["roles", "rolebindings"] {
        let rbac = fake
            .object(&format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/{kind}/kubeadm:kubeadm-certs"
            ))
            .unwrap_or_else(|| panic!("no {kind}"));
        let text = rbac.to_string();
        let wanted = if kind == "roles" {
            r#""resourceNames":["kubeadm-certs"]"#
        } else {
            r#""name":"system:bootstrappers:kubeadm:default-node-token""#
        };
        assert!(text.contains(wanted), "{text}");
    }

    // The joining node gets every file back, byte for byte, keys 0600 and the rest 0644.
    let node2 = tempfile::tempdir().unwrap();
    let root2 = kubestrap_phases::fs::root::Root::new(node2.path());
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let api = client.with(&ctx);
    let key = CertificateKey::parse(KEY).unwrap();
    let got = download_certs::download(&api, &ClusterConfiguration::default(), &key).unwrap();
    download_certs::write(&root2, &got).unwrap();
    let want: Vec<(String, Vec<u8>, u32)> = files(dir.path())
        .into_iter()
        .map(|(n, b, _)| {
            let mode = if n.ends_with(".key") { 0o600 } else { 0o644 };
            (n, b, mode)
        })
        .collect();
    assert_eq!(files(node2.path()), want);
    assert!(!node2.path().join("etc/kubernetes/pki/etcd/ca.key").exists());

    // The join phase does the same with the key of a control-plane join, and nothing without.
    let node3 = tempfile::tempdir().unwrap();
    let (mut joining, _) = context("v1.20.2", node3.path(), &fake);
    joining.cfg.join = Some(Join {
        discovery: Discovery::File {
            location: "/cluster-info.yaml".into(),
        },
        tls_bootstrap_token: None,
        ca_cert_path: "/etc/kubernetes/pki/ca.crt".into(),
        discovery_timeout: Duration::from_secs(1),
        tls_bootstrap_timeout: Duration::from_secs(1),
        certificate_key: None,
        control_plane: true,
    });
    download_certs::run(&mut joining).unwrap();
    assert!(files(node3.path()).is_empty());
    if let Some(j) = joining.cfg.join.as_mut() {
        j.certificate_key = Some(KEY.into());
    }
    download_certs::run(&mut joining).unwrap();
    assert_eq!(files(node3.path()), want);

    // Uploading again replaces the Secret: a new owner token, the same files.
    let before = fake.object(SECRET).unwrap();
    let (mut again, _) = uploading(dir.path(), &fake);
    upload_certs::run(&mut again).unwrap();
    let after = fake.object(SECRET).unwrap();
    assert_ne!(before["data"]["ca.key"], after["data"]["ca.key"]);
    let (second_owner, _) = owner(&fake);
    assert_ne!(first_owner, second_owner);
    let opened = download_certs::download(&api, &ClusterConfiguration::default(), &key).unwrap();
    assert_eq!(opened, got);
}

#[test]
fn a_wrong_key_or_a_missing_secret_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    shared_root(dir.path());
    let fake = FakeApi::new();
    let (ctx, _) = uploading(dir.path(), &fake);
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let api: Api<'_> = client.with(&ctx);
    let cluster = ClusterConfiguration::default();
    let key = CertificateKey::parse(KEY).unwrap();

    let err = format!(
        "{:#}",
        download_certs::download(&api, &cluster, &key).unwrap_err()
    );
    assert!(
        err.contains("Secret \"kubeadm-certs\" was not found in the \"kube-system\" Namespace"),
        "{err}"
    );
    assert!(
        err.contains("kubestrap init phase upload-certs --upload-certs"),
        "{err}"
    );

    let (mut ctx, _) = uploading(dir.path(), &fake);
    upload_certs::run(&mut ctx).unwrap();
    let other = CertificateKey::parse(&"ab".repeat(32)).unwrap();
    let err = format!(
        "{:#}",
        download_certs::download(&api, &cluster, &other).unwrap_err()
    );
    assert!(
        err.contains("error decoding secret data with provided key"),
        "{err}"
    );
    assert!(
        err.contains("kubestrap init phase upload-certs --upload-certs"),
        "{err}"
    );
    assert_eq!(
        download_certs::key_opens(&api, &other).unwrap(),
        Some(false)
    );
    assert_eq!(download_certs::key_opens(&api, &key).unwrap(), Some(true));
}

#[test]
fn a_secret_sealed_by_kubeadm_opens_with_its_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/api/kubeadm-certs-v1.20.2");
    let secret: Secret =
        serde_json::from_str(&std::fs::read_to_string(dir.join("secret.json")).unwrap()).unwrap();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let key = readme
        .lines()
        .find_map(|l| l.strip_prefix("certificateKey: "))
        .unwrap();
    let mut cluster = ClusterConfiguration::default();
    cluster.certificates_dir = "/pki".into();
    let opened =
        download_certs::open_all(&secret, &cluster, &CertificateKey::parse(key).unwrap()).unwrap();
    assert_eq!(opened.len(), 8);
    for f in &opened {
        let name = f.path.strip_prefix("/pki/").unwrap().replace('/', "-");
        assert_eq!(
            f.contents,
            std::fs::read(dir.join(&name)).unwrap(),
            "{name}"
        );
        assert_eq!(f.private, name.ends_with(".key"), "{name}");
    }
    let wrong = CertificateKey::parse(KEY).unwrap();
    let err = format!(
        "{:#}",
        download_certs::open_all(&secret, &cluster, &wrong).unwrap_err()
    );
    assert!(
        err.contains("error decoding secret data with provided key"),
        "{err}"
    );
}

#[test]
fn upload_certs_with_an_external_ca_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/api/kubeadm-certs-v1.20.2/ca.crt"),
        pki.join("ca.crt"),
    )
    .unwrap();
    let out = kubestrap_on(
        dir.path(),
        &[
            "init",
            "--kubernetes-version",
            "v1.20.2",
            "--cri-socket",
            "unix:///run/containerd/containerd.sock",
            "--upload-certs",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("can't use upload-certs with an external CA or an external front-proxy CA"),
        "{stderr}"
    );
    assert_eq!(tree(dir.path()), ["etc/kubernetes/pki/ca.crt"]);
}

#[test]
fn token_create_takes_a_certificate_key_only_with_the_join_command() {
    let out = kubestrap(&["token", "create", "--certificate-key", KEY]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--print-join-command"), "{stderr}");
    let out = kubestrap(&[
        "token",
        "create",
        "--print-join-command",
        "--certificate-key",
        "abcd",
        "--kubeconfig",
        "/nonexistent/admin.conf",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("the key is 2 bytes"), "{stderr}");
}

#[test]
fn the_init_phase_skips_without_upload_certs() {
    let dir = tempfile::tempdir().unwrap();
    shared_root(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, out) = context("v1.20.2", dir.path(), &fake);
    upload_certs::run(&mut ctx).unwrap();
    assert!(fake.writes().is_empty());
    assert_eq!(
        out.lines(),
        ["[upload-certs] Skipping phase. Please see --upload-certs"]
    );
}
