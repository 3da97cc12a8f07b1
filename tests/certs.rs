//! `certs check-expiration`, `certs renew`, `certs generate-csr` and `kubeconfig user` on trees
//! made with the clock moved back (so their certificates have run out now), checked with real
//! `openssl`, `kubectl` and kubeadm v1.20.2.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::FakeHost;
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::workflows::init;

use crate::support::{kubestrap, text};

const DAY: u64 = 24 * 3600;

/// Leaf files and their CA, as `certs renew` names them.
const LEAVES: &[(&str, &str, &str)] = &[
    ("apiserver", "apiserver", "ca"),
    ("apiserver-etcd-client", "apiserver-etcd-client", "etcd/ca"),
    ("apiserver-kubelet-client", "apiserver-kubelet-client", "ca"),
    (
        "etcd-healthcheck-client",
        "etcd/healthcheck-client",
        "etcd/ca",
    ),
    ("etcd-peer", "etcd/peer", "etcd/ca"),
    ("etcd-server", "etcd/server", "etcd/ca"),
    ("front-proxy-client", "front-proxy-client", "front-proxy-ca"),
];
const KUBECONFIGS: &[&str] = &["admin.conf", "controller-manager.conf", "scheduler.conf"];

/// A v1beta3 configuration for v1.20.2 (the testbed's version) on node `n1`.
fn write_config(root: &Path) -> PathBuf {
    let path = root.join("kubeadm.yaml");
    fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.20.0.1
nodeRegistration:
  name: n1
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
",
    )
    .unwrap();
    path
}

/// The whole certs + kubeconfig tree, made as if init had run `age` ago.
fn tree_made_ago(root: &Path, age: Duration) {
    let flags = Overrides {
        advertise_address: Some("10.20.0.1".into()),
        node_name: Some("n1".into()),
        kubernetes_version: Some("v1.20.2".into()),
        cri_socket: Some("unix:///run/containerd/containerd.sock".into()),
        ..Overrides::default()
    };
    let fs_root = Root::new(root);
    let host = FakeHost::default();
    let cfg = config::resolve(Documents::default(), &flags, &fs_root, &host).unwrap();
    let mut ctx = Context::new(
        cfg,
        fs_root,
        Box::new(host),
        Box::new(std::sync::Arc::new(RecordingReporter::default())),
        Options::default(),
    );
    ctx.started = SystemTime::now() - age;
    let table = init::phases(ctx.cfg.version);
    for group in ["certs", "kubeconfig"] {
        let steps = runner::plan(table, Some(group), &[]).unwrap();
        runner::run(&steps, &mut ctx, true).unwrap();
    }
}

fn certs(root: &Path, config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["certs"];
    all.extend_from_slice(args);
    all.extend([
        "--root",
        root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    kubestrap(&all)
}

fn pki(root: &Path) -> PathBuf {
    root.join("etc/kubernetes/pki")
}

fn crt(root: &Path, base: &str) -> String {
    pki(root).join(format!("{base}.crt")).display().to_string()
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("`openssl` is needed (Debian package `openssl`)");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "openssl {args:?}: {stdout}{stderr}");
    stdout
}

/// `openssl x509 -enddate` as seconds since the epoch (through `date -d`).
fn enddate(path: &str) -> u64 {
    let out = openssl(&["x509", "-noout", "-enddate", "-in", path]);
    let value = out.trim().trim_start_matches("notAfter=");
    let date = Command::new("date")
        .args(["-u", "-d", value, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&date.stdout)
        .trim()
        .parse()
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The client certificate embedded in a kubeconfig, written to a file for openssl.
fn kubeconfig_cert(root: &Path, name: &str, out: &Path) -> String {
    let kubeconfig = root.join("etc/kubernetes").join(name);
    let result = Command::new("kubectl")
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[0].user.client-certificate-data}|{.clusters[0].cluster.server}|{.users[0].name}",
        ])
        .output()
        .expect("`kubectl` is needed on the PATH");
    let (stdout, stderr) = text(&result);
    assert!(result.status.success(), "kubectl: {stderr}");
    let mut parts = stdout.split('|');
    let data = parts.next().unwrap();
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    fs::write(out, pem).unwrap();
    format!("{}|{}", parts.next().unwrap(), parts.next().unwrap())
}

fn subject_and_sans(path: &str) -> String {
    openssl(&[
        "x509",
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName,extendedKeyUsage",
        "-in",
        path,
    ])
}

#[test]
fn an_expired_tree_is_reported_and_renew_all_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = write_config(root);
    tree_made_ago(root, Duration::from_secs(400 * DAY));
    let before: Vec<String> = LEAVES
        .iter()
        .map(|(_, base, _)| subject_and_sans(&crt(root, base)))
        .collect();
    let cas: Vec<Vec<u8>> = ["ca", "front-proxy-ca", "etcd/ca"]
        .iter()
        .flat_map(|c| [crt(root, c), crt(root, c).replace(".crt", ".key")])
        .map(|p| fs::read(p).unwrap())
        .collect();
    let scratch = root.join("scratch");
    fs::create_dir(&scratch).unwrap();
    let admin_before = kubeconfig_cert(root, "admin.conf", &scratch.join("admin-old.crt"));

    let out = certs(root, &config, &["check-expiration"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    for name in LEAVES
        .iter()
        .map(|l| l.0)
        .chain(KUBECONFIGS.iter().copied())
    {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"));
        assert!(
            row.contains("<invalid>") && row.ends_with("EXPIRED"),
            "{row}"
        );
    }
    for ca in ["ca ", "etcd-ca ", "front-proxy-ca "] {
        let row = stdout.lines().find(|l| l.starts_with(ca)).unwrap();
        assert!(row.ends_with(" ok") && row.contains(" 8y "), "{row}");
    }
    assert!(stdout.contains("Renewal needed"), "{stdout}");
    let json = certs(root, &config, &["check-expiration", "-o", "json"]);
    assert_eq!(json.status.code(), Some(4));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["needsRenewal"], true);
    assert_eq!(doc["certificates"].as_array().unwrap().len(), 10);
    assert!(
        doc["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "expired" && c["residualSeconds"].as_i64().unwrap() < 0),
        "{doc}"
    );

    let out = certs(root, &config, &["renew", "all"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.matches(" renewed\n").count(), 10, "{stdout}");
    assert!(
        stdout.contains("certificate for serving the Kubernetes API renewed\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "kubestrap certs restart etcd kube-apiserver kube-controller-manager kube-scheduler --root {} --config {}",
            root.display(),
            config.display()
        )),
        "{stdout}"
    );

    let out = certs(root, &config, &["check-expiration"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("EXPIRED"), "{stdout}");
    // New dates per openssl; same subject, names and usages; signed by the unchanged CAs.
    let year_from_now = now() + 365 * DAY;
    for ((name, base, ca), before) in LEAVES.iter().zip(&before) {
        let end = enddate(&crt(root, base));
        assert!(end.abs_diff(year_from_now) < 600, "{name}: ends at {end}");
        assert_eq!(&subject_and_sans(&crt(root, base)), before, "{name}");
        let verified = openssl(&["verify", "-CAfile", &crt(root, ca), &crt(root, base)]);
        assert!(verified.trim().ends_with(": OK"), "{name}: {verified}");
    }
    let cas_after: Vec<Vec<u8>> = ["ca", "front-proxy-ca", "etcd/ca"]
        .iter()
        .flat_map(|c| [crt(root, c), crt(root, c).replace(".crt", ".key")])
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert!(cas == cas_after, "a CA changed");
    // Kubeconfigs keep their server and user; their certificate is new and verifies.
    for name in KUBECONFIGS {
        let file = scratch.join(format!("{name}.crt"));
        let kept = kubeconfig_cert(root, name, &file);
        if *name == "admin.conf" {
            assert_eq!(kept, admin_before);
            assert_eq!(kept, "https://10.20.0.1:6443|kubernetes-admin");
        }
        let file = file.to_str().unwrap();
        assert!(enddate(file).abs_diff(year_from_now) < 600, "{name}");
        let verified = openssl(&["verify", "-CAfile", &crt(root, "ca"), file]);
        assert!(verified.trim().ends_with(": OK"), "{name}: {verified}");
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs::metadata(pki(root).join("apiserver.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn without_a_config_the_cluster_is_asked_then_defaults_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tree_made_ago(root, Duration::from_secs(345 * DAY));
    fs::remove_file(root.join("etc/kubernetes/admin.conf")).unwrap();
    let out = kubestrap(&[
        "certs",
        "check-expiration",
        "--root",
        root.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stderr.contains("Error reading configuration from the cluster")
            && stderr.contains("admin.conf` does not exist")
            && stderr.contains("falling back to the default configuration"),
        "{stderr}"
    );
    assert!(stdout.contains("apiserver "), "{stdout}");
}

#[test]
fn certificates_due_within_30_days_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = write_config(root);
    tree_made_ago(root, Duration::from_secs(345 * DAY));
    let out = certs(root, &config, &["check-expiration"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("apiserver "))
        .unwrap();
    assert!(
        row.contains(" 19d ") && row.ends_with("RENEW SOON"),
        "{row}"
    );
    // One renewed: its row is fine, the others still need renewal.
    let out = certs(root, &config, &["renew", "apiserver"]);
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout.lines().next(),
        Some("certificate for serving the Kubernetes API renewed")
    );
    assert!(
        stdout.contains("kubestrap certs restart kube-apiserver "),
        "{stdout}"
    );
    let out = certs(root, &config, &["check-expiration"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(4));
    let row = stdout
        .lines()
        .find(|l| l.starts_with("apiserver "))
        .unwrap();
    assert!(row.ends_with(" ok"), "{row}");
}

#[test]
fn missing_files_and_an_external_ca_are_reported_not_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = write_config(root);
    tree_made_ago(root, Duration::from_secs(DAY));
    fs::remove_file(pki(root).join("front-proxy-client.crt")).unwrap();
    fs::remove_file(root.join("etc/kubernetes/scheduler.conf")).unwrap();
    let out = certs(root, &config, &["check-expiration"]);
    let (stdout, stderr) = text(&out);
    // A monitoring check fails on a node that lacks a certificate.
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stdout.contains("\n!MISSING! front-proxy-client\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n!MISSING! scheduler.conf\n"), "{stdout}");
    assert!(
        stdout.contains("\nMissing: front-proxy-client, scheduler.conf."),
        "{stdout}"
    );
    // This tree has no kubelet: its client certificate is listed as missing, not counted.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("kubelet-client-current.pem") && l.ends_with("MISSING")),
        "{stdout}"
    );
    let json = certs(root, &config, &["check-expiration", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["apiVersion"], "output.kubeadm.k8s.io/v1alpha3");
    assert_eq!(doc["kind"], "CertificateExpirationInfo");
    assert_eq!(
        doc["missing"],
        serde_json::json!(["front-proxy-client", "scheduler.conf"])
    );
    let out = certs(root, &config, &["renew", "all"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("MISSING! certificate for the front proxy client\n"));
    assert!(stdout.contains(
        "MISSING! certificate embedded in the kubeconfig file for the scheduler manager to use\n"
    ));
    assert!(!root.join("etc/kubernetes/scheduler.conf").exists());

    // The cluster CA's key elsewhere: an external CA.
    fs::rename(pki(root).join("ca.key"), root.join("ca.key")).unwrap();
    let apiserver = fs::read(crt(root, "apiserver")).unwrap();
    let out = certs(root, &config, &["check-expiration"]);
    let (stdout, _) = text(&out);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("apiserver "))
        .unwrap();
    assert!(row.contains(" ca ") && row.contains(" yes "), "{row}");
    let out = certs(root, &config, &["renew", "apiserver", "etcd-server"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("Detected external ca CA, apiserver can't be renewed\n"),
        "{stdout}"
    );
    assert!(stdout.contains("certificate for serving etcd renewed\n"));
    assert_eq!(fs::read(crt(root, "apiserver")).unwrap(), apiserver);

    let out = certs(root, &config, &["renew", "apiserverr"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("\"apiserverr\" is not a valid certificate"),
        "{stderr}"
    );
}

/// Signs a CSR with openssl as an external CA would, keeping the requested names and usages.
fn openssl_sign(csr: &Path, ca_crt: &str, ca_key: &Path, out: &Path) {
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        ca_crt,
        "-CAkey",
        ca_key.to_str().unwrap(),
        "-set_serial",
        &format!("{}", now()),
        "-days",
        "365",
        "-copy_extensions",
        "copyall",
        "-out",
        out.to_str().unwrap(),
    ]);
}

/// The kubeadm v1.20.2 the testbed built.
fn kubeadm_v1_20() -> PathBuf {
    let cache = std::env::var_os("KUBESTRAP_TESTBED_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kubestrap-testbed"));
    let path = cache.join("bin/1.20.5+really1.20.2/kubeadm");
    assert!(
        path.is_file(),
        "`{}` is missing: run `tests/testbed/testbed setup` (as root) first",
        path.display()
    );
    path
}

#[test]
fn generate_csr_signed_by_openssl_is_used_by_init_and_by_kubeadm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = write_config(root);
    let r = root.to_str().unwrap();
    for ca in ["ca", "front-proxy-ca", "etcd-ca"] {
        let out = kubestrap(&[
            "init",
            "phase",
            "certs",
            ca,
            "--root",
            r,
            "--config",
            config.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    // The CA keys leave the node: an external CA.
    let keys = root.join("ca-keys");
    for (ca, name) in [
        ("ca", "ca"),
        ("front-proxy-ca", "front-proxy-ca"),
        ("etcd/ca", "etcd-ca"),
    ] {
        fs::create_dir_all(&keys).unwrap();
        fs::rename(
            pki(root).join(format!("{ca}.key")),
            keys.join(format!("{name}.key")),
        )
        .unwrap();
    }
    let out = certs(root, &config, &["generate-csr"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Asked again, it refuses and writes nothing.
    let again = certs(root, &config, &["generate-csr"]);
    assert!(!again.status.success());
    assert!(
        text(&again).1.contains("already exist"),
        "{:?}",
        text(&again)
    );

    for (_, base, ca) in LEAVES {
        let csr = pki(root).join(format!("{base}.csr"));
        let request = openssl(&["req", "-noout", "-verify", "-in", csr.to_str().unwrap()]);
        let _ = request;
        let key = keys.join(format!("{}.key", ca.replace("etcd/ca", "etcd-ca")));
        openssl_sign(
            &csr,
            &crt(root, ca),
            &key,
            &pki(root).join(format!("{base}.crt")),
        );
    }
    let etc = root.join("etc/kubernetes");
    for name in [
        "admin.conf",
        "kubelet.conf",
        "controller-manager.conf",
        "scheduler.conf",
    ] {
        openssl_sign(
            &etc.join(format!("{name}.csr")),
            &crt(root, "ca"),
            &keys.join("ca.key"),
            &etc.join(format!("{name}.crt")),
        );
    }
    let subject = openssl(&["x509", "-noout", "-subject", "-in", &crt(root, "apiserver")]);
    assert!(subject.contains("CN = kube-apiserver"), "{subject}");
    let sans = subject_and_sans(&crt(root, "apiserver"));
    assert!(
        sans.contains("DNS:kubernetes.default.svc.cluster.local")
            && sans.contains("IP Address:10.96.0.1"),
        "{sans}"
    );

    // kubestrap's init phases use what the external CA signed.
    let out = kubestrap(&[
        "init",
        "phase",
        "certs",
        "all",
        "--root",
        r,
        "--config",
        config.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for (_, base, _) in LEAVES {
        assert!(
            stderr.contains(&format!(
                "[certs] Using existing {base} certificate and key on disk"
            )),
            "{base}: {stderr}"
        );
    }
    assert!(
        stderr.contains("Using existing ca keyless certificate authority"),
        "{stderr}"
    );
    let out = kubestrap(&[
        "init",
        "phase",
        "kubeconfig",
        "all",
        "--root",
        r,
        "--config",
        config.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("Embedded the externally signed"),
        "{stderr}"
    );
    let scratch = root.join("admin-from-conf.crt");
    assert_eq!(
        kubeconfig_cert(root, "admin.conf", &scratch),
        "https://10.20.0.1:6443|kubernetes-admin"
    );
    assert_eq!(
        fs::read(&scratch).unwrap(),
        fs::read(etc.join("admin.conf.crt")).unwrap()
    );

    // kubeadm v1.20.2 accepts the same tree.
    fs::write(
        root.join("kubeadm-v1beta2.yaml"),
        "apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.20.0.1
nodeRegistration:
  name: n1
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
",
    )
    .unwrap();
    let out = Command::new(kubeadm_v1_20())
        .args([
            "init",
            "phase",
            "certs",
            "all",
            "--rootfs",
            r,
            "--config",
            "/kubeadm-v1beta2.yaml",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for (_, base, _) in LEAVES {
        assert!(
            stdout.contains(&format!(
                "[certs] Using existing {base} certificate and key on disk"
            )),
            "kubeadm on {base}: {stdout}{stderr}"
        );
    }
}

#[test]
fn kubeconfig_user_is_signed_by_the_cluster_ca() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = write_config(root);
    tree_made_ago(root, Duration::from_secs(DAY));
    let out = kubestrap(&[
        "kubeconfig",
        "user",
        "--client-name",
        "jane",
        "--org",
        "dev",
        "--validity-period",
        "48h",
        "--root",
        root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let conf = root.join("etc/kubernetes/jane.conf");
    fs::write(&conf, &stdout).unwrap();
    let cert = root.join("jane.crt");
    assert_eq!(
        kubeconfig_cert(root, "jane.conf", &cert),
        "https://10.20.0.1:6443|jane"
    );
    let cert = cert.to_str().unwrap();
    let subject = openssl(&["x509", "-noout", "-subject", "-in", cert]);
    assert!(subject.contains("O = dev, CN = jane"), "{subject}");
    assert!(enddate(cert).abs_diff(now() + 2 * DAY) < 600);
    let verified = openssl(&["verify", "-CAfile", &crt(root, "ca"), cert]);
    assert!(verified.trim().ends_with(": OK"), "{verified}");

    // Several organizations: every one is in the subject (a user in several groups), and the
    // certificate re-signed with the new subject still verifies against the CA.
    let out = kubestrap(&[
        "kubeconfig",
        "user",
        "--client-name",
        "jane",
        "--org",
        "dev",
        "--org",
        "ops",
        "--org",
        "on call",
        "--root",
        root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    fs::write(&conf, &stdout).unwrap();
    kubeconfig_cert(root, "jane.conf", Path::new(cert));
    let subject = openssl(&["x509", "-noout", "-subject", "-in", cert]);
    assert!(
        subject.contains("O = dev, O = ops, O = on call, CN = jane"),
        "{subject}"
    );
    let verified = openssl(&["verify", "-CAfile", &crt(root, "ca"), cert]);
    assert!(verified.trim().ends_with(": OK"), "{verified}");
    let text_form = openssl(&["x509", "-noout", "-text", "-in", cert]);
    assert!(
        text_form.contains("TLS Web Client Authentication"),
        "{text_form}"
    );

    let out = kubestrap(&[
        "kubeconfig",
        "user",
        "--client-name",
        "bot",
        "--token",
        "abcdef.0123456789abcdef",
        "--root",
        root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("    token: abcdef.0123456789abcdef\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("client-key-data"));
}

#[test]
fn certificate_key_is_64_hex_characters() {
    let out = kubestrap(&["certs", "certificate-key"]);
    let (stdout, _) = text(&out);
    let key = stdout.trim();
    assert_eq!(key.len(), 64);
    assert!(
        key.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_ne!(
        text(&kubestrap(&["certs", "certificate-key"])).0.trim(),
        key
    );
}

#[test]
fn restart_refuses_unknown_components_and_nodes_without_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = write_config(root);
    let out = certs(root, &config, &["restart", "kube-proxy"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("unknown component \"kube-proxy\"; the control-plane static pods are: etcd, kube-apiserver, kube-controller-manager, kube-scheduler"),
        "{stderr}"
    );
    let out = certs(root, &config, &["restart", "etcd"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("`/etc/kubernetes/manifests/etcd.yaml` does not exist"),
        "{stderr}"
    );
    assert!(!root.join("etc/kubernetes/tmp").exists());
}

/// Replaces `ca.crt` with one of the same key and subject valid only from `from` to `to`.
fn ca_valid_between(root: &Path, from: SystemTime, to: SystemTime) {
    use kubestrap_phases::pki::{self, AltNames, CertRequest};
    let fs_root = Root::new(root);
    let key = pki::read_key(&fs_root, "/etc/kubernetes/pki/ca.key").unwrap();
    let req = CertRequest {
        common_name: "kubernetes".into(),
        organizations: Vec::new(),
        alt_names: AltNames {
            dns: vec!["kubernetes".into()],
            ips: Vec::new(),
        },
        usages: Vec::new(),
        is_ca: true,
        leaf_basic_constraints: false,
        not_before: from,
        not_after: to,
    };
    let cert = pki::sign(&req, &key, None).unwrap();
    fs::write(pki(root).join("ca.crt"), cert.pem()).unwrap();
}

#[test]
fn every_phase_that_signs_refuses_a_ca_outside_its_validity_and_names_the_clock() {
    let year = Duration::from_secs(365 * DAY);
    let now = SystemTime::now();
    for (from, to, says) in [
        (
            now + 2 * Duration::from_secs(DAY),
            now + 10 * year,
            "the clock is most likely behind",
        ),
        (now - 11 * year, now - year, "the CA has expired"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let config = write_config(root);
        tree_made_ago(root, Duration::ZERO);
        ca_valid_between(root, from, to);
        fs::remove_file(pki(root).join("apiserver.crt")).unwrap();
        fs::remove_file(pki(root).join("apiserver.key")).unwrap();
        fs::remove_file(root.join("etc/kubernetes/admin.conf")).unwrap();
        let before = crate::support::tree(root);
        let r = root.to_str().unwrap();
        let c = config.to_str().unwrap();
        for args in [
            &["init", "phase", "certs", "ca", "--root", r, "--config", c][..],
            &[
                "init",
                "phase",
                "certs",
                "apiserver",
                "--root",
                r,
                "--config",
                c,
            ],
            &[
                "init",
                "phase",
                "kubeconfig",
                "admin",
                "--root",
                r,
                "--config",
                c,
            ],
            &[
                "certs",
                "renew",
                "apiserver-kubelet-client",
                "--root",
                r,
                "--config",
                c,
            ],
            &[
                "certs",
                "renew",
                "scheduler.conf",
                "--root",
                r,
                "--config",
                c,
            ],
            &[
                "kubeconfig",
                "user",
                "--client-name",
                "u",
                "--root",
                r,
                "--config",
                c,
            ],
        ] {
            let out = kubestrap(args);
            let (stdout, stderr) = text(&out);
            assert!(
                !out.status.success(),
                "{args:?} signed with it:\n{stdout}{stderr}"
            );
            assert!(
                stderr.contains("certificate authority ca cannot sign") && stderr.contains(says),
                "{args:?}:\n{stderr}"
            );
            assert!(stderr.contains("this machine's clock says"), "{stderr}");
            assert_eq!(
                crate::support::tree(root),
                before,
                "{args:?} wrote something"
            );
        }
    }
}

// A lost CA certificate beside its key: the hint said to remove the key, which on a running
// cluster makes a new CA and breaks every certificate, kubeconfig and node.
#[test]
fn a_lost_ca_certificate_is_restored_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = crate::support::init_files_only(root).output().unwrap();
    assert!(out.status.success(), "{:?}", crate::support::text(&out));
    let ca = pki(root).join("ca.crt");
    let original = fs::read(&ca).unwrap();
    fs::remove_file(&ca).unwrap();
    let r = root.to_str().unwrap();
    let out = crate::support::kubestrap(&["init", "phase", "certs", "ca", "--root", r]);
    let (_, err) = crate::support::text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("restore it from the copy every kubeconfig holds: `kubectl config view --kubeconfig /etc/kubernetes/admin.conf --raw"), "{err}");
    assert!(
        err.contains("Only on a host that serves no cluster"),
        "{err}"
    );
    // The command of the hint gives back the very certificate.
    let kubeconfig = root.join("etc/kubernetes/admin.conf");
    let restored = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "kubectl config view --kubeconfig {} --raw -o jsonpath='{{.clusters[0].cluster.certificate-authority-data}}' | base64 -d",
            kubeconfig.display()
        ))
        .output()
        .unwrap();
    assert_eq!(restored.stdout, original);
    // Without a kubeconfig, and for the other CAs, a copy from elsewhere.
    fs::remove_file(pki(root).join("front-proxy-ca.crt")).unwrap();
    let out = crate::support::kubestrap(&["init", "phase", "certs", "front-proxy-ca", "--root", r]);
    let (_, err) = crate::support::text(&out);
    assert!(err.contains("copy `/etc/kubernetes/pki/front-proxy-ca.crt` back from a backup or from another control-plane node"), "{err}");
}
