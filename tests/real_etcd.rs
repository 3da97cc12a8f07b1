//! Real etcd (Debian `etcd-server`) started with the command line of the generated `etcd.yaml`,
//! on loopback ports, serving with the generated certificates.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{kubestrap, require_binary, text};

pub(crate) use crate::support::free_port;

/// A running etcd; stopped even when an assertion fails.
pub(crate) struct Etcd {
    child: Child,
    log: PathBuf,
}

impl Etcd {
    /// Waits (bounded) until the etcd serving clients on `client` says it is healthy to the
    /// healthcheck client certificate under `root`: it serves clients only once it has a leader.
    pub(crate) fn wait_healthy(&self, root: &Path, client: u16) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = etcdctl(
                root,
                client,
                "etcd/healthcheck-client",
                &["endpoint", "health"],
            );
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd on {client} did not become healthy: {}\netcd log:\n{}",
                text(&out).1,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the certificates and the local etcd manifest of `version` under `root`, for a node
/// `etcd-test` advertising 127.0.0.1.
pub(crate) fn etcd_files(root: &Path, version: &str) {
    let base = [
        "--root",
        root.to_str().unwrap(),
        "--node-name",
        "etcd-test",
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--kubernetes-version",
        version,
    ];
    for phase in [
        &["init", "phase", "certs"][..],
        &["init", "phase", "etcd", "local"][..],
    ] {
        let out = kubestrap(&[phase, &base[..]].concat());
        assert!(out.status.success(), "{:?}: {}", phase, text(&out).1);
    }
}

/// Starts etcd with these arguments, logging to `root/etcd.log`.
pub(crate) fn start_etcd(root: &Path, args: &[String]) -> Etcd {
    let log = root.join("etcd.log");
    let child = Command::new("etcd")
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Etcd { child, log }
}

/// The etcd command line of a generated manifest, with paths mapped under the root and the
/// listeners moved to free loopback ports.
pub(crate) fn etcd_args(root: &Path, client: u16, peer: u16, metrics: u16) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(root.join("etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let pod: serde_yaml::Value = serde_yaml::from_str(&manifest).unwrap();
    let command = pod["spec"]["containers"][0]["command"]
        .as_sequence()
        .unwrap();
    assert_eq!(command[0].as_str(), Some("etcd"));
    let under_root = |v: &str| format!("{}{v}", root.display());
    command[1..]
        .iter()
        .map(|arg| {
            let arg = arg.as_str().unwrap();
            let (name, value) = arg.split_once('=').unwrap();
            let value = match name {
                "--cert-file"
                | "--key-file"
                | "--peer-cert-file"
                | "--peer-key-file"
                | "--trusted-ca-file"
                | "--peer-trusted-ca-file"
                | "--data-dir" => under_root(value),
                "--listen-client-urls" | "--advertise-client-urls" => {
                    format!("https://127.0.0.1:{client}")
                }
                "--listen-peer-urls" | "--initial-advertise-peer-urls" => {
                    format!("https://127.0.0.1:{peer}")
                }
                "--initial-cluster" => {
                    let member = value.split_once('=').unwrap().0;
                    format!("{member}=https://127.0.0.1:{peer}")
                }
                "--listen-metrics-urls" => format!("http://127.0.0.1:{metrics}"),
                _ => value.to_string(),
            };
            format!("{name}={value}")
        })
        .collect()
}

pub(crate) fn etcdctl(
    root: &Path,
    client: u16,
    identity: &str,
    args: &[&str],
) -> std::process::Output {
    let pki = root.join("etc/kubernetes/pki");
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=https://127.0.0.1:{client}"))
        .arg(format!("--cacert={}", pki.join("etcd/ca.crt").display()))
        .arg(format!(
            "--cert={}",
            pki.join(format!("{identity}.crt")).display()
        ))
        .arg(format!(
            "--key={}",
            pki.join(format!("{identity}.key")).display()
        ))
        .arg("--dial-timeout=2s")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn etcd_serves_with_the_generated_certificates_and_manifest() {
    require_binary("etcd", "etcd-server");
    require_binary("etcdctl", "etcd-client");
    // Debian's etcd is 3.4: it takes the flags of the manifests kubeadm writes up to v1.33.
    for version in ["v1.20.2", "v1.25.0"] {
        serves(version);
    }
}

fn serves(version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    etcd_files(root, version);
    let (client, peer, metrics) = (free_port(), free_port(), free_port());
    let etcd = start_etcd(root, &etcd_args(root, client, peer, metrics));
    etcd.wait_healthy(root, client);

    let put = etcdctl(
        root,
        client,
        "apiserver-etcd-client",
        &["put", "/registry/kubestrap", "works"],
    );
    assert!(put.status.success(), "put: {}", text(&put).1);
    let get = etcdctl(
        root,
        client,
        "apiserver-etcd-client",
        &["get", "/registry/kubestrap", "--print-value-only"],
    );
    assert_eq!(text(&get).0.trim(), "works", "get: {}", text(&get).1);

    // A client certificate from another CA is refused.
    let wrong = etcdctl(
        root,
        client,
        "front-proxy-client",
        &["get", "/registry/kubestrap"],
    );
    assert!(
        !wrong.status.success(),
        "a front-proxy certificate must not be accepted by etcd"
    );
}

/// A snapshot through etcd's maintenance API is one etcd's own tools accept: `etcdctl snapshot
/// status` reads it, `etcdctl snapshot restore` checks it against etcd's checksum, and an etcd
/// started on the restored data serves the keys that were put before.
#[test]
fn a_snapshot_taken_through_the_api_restores_into_a_working_etcd() {
    use kubestrap_phases::api::etcd_client::{ClientTls, EtcdClient};
    use std::os::unix::fs::PermissionsExt as _;

    require_binary("etcd", "etcd-server");
    require_binary("etcdctl", "etcd-client");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    etcd_files(root, "v1.20.2");
    let (client, peer) = (free_port(), free_port());
    let etcd = start_etcd(root, &etcd_args(root, client, peer, free_port()));
    etcd.wait_healthy(root, client);
    // Values large enough that the database comes in many chunks.
    let value = |i: usize| format!("{i}-{}", "v".repeat(20_000));
    for i in 0..30 {
        let key = format!("/registry/kubestrap/{i}");
        let put = etcdctl(
            root,
            client,
            "apiserver-etcd-client",
            &["put", &key, &value(i)],
        );
        assert!(put.status.success(), "put: {}", text(&put).1);
    }

    let pki = root.join("etc/kubernetes/pki");
    let tls = ClientTls {
        ca: std::fs::read(pki.join("etcd/ca.crt")).unwrap(),
        identity: Some((
            std::fs::read(pki.join("etcd/healthcheck-client.crt")).unwrap(),
            std::fs::read(pki.join("etcd/healthcheck-client.key")).unwrap(),
        )),
    };
    let t = Duration::from_secs(30);
    let api = EtcdClient::new(&format!("https://127.0.0.1:{client}"), Some(&tls), t, t).unwrap();
    let missing = root.join("no-such-folder/snapshot.db");
    let err = api.snapshot(&missing).unwrap_err();
    assert!(format!("{err:#}").contains("does not exist"), "{err:#}");

    let backup = root.join("backup");
    std::fs::create_dir(&backup).unwrap();
    let file = backup.join("etcd.db");
    let info = api.snapshot(&file).unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        meta.len(),
        info.size + 32,
        "the database and etcd's SHA-256"
    );
    assert!(info.size > 600_000, "{info:?}");
    let left: Vec<_> = std::fs::read_dir(&backup).unwrap().collect();
    assert_eq!(left.len(), 1, "a temporary file was left: {left:?}");

    let status = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(status.status.success(), "status: {}", text(&status).1);
    let status: serde_json::Value = serde_json::from_str(text(&status).0.trim()).unwrap();
    assert_eq!(status["totalSize"].as_u64(), Some(info.size), "{status}");
    assert!(status["totalKey"].as_u64().unwrap() >= 30, "{status}");

    // Restored as a new one-member cluster (on its own ports), and served.
    let (client2, peer2) = (free_port(), free_port());
    let restore = |snapshot: &Path, data: &Path| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "restore"])
            .arg(snapshot)
            .arg(format!("--data-dir={}", data.display()))
            .args(["--name", "etcd-test"])
            .arg(format!(
                "--initial-cluster=etcd-test=https://127.0.0.1:{peer2}"
            ))
            .arg(format!(
                "--initial-advertise-peer-urls=https://127.0.0.1:{peer2}"
            ))
            .output()
            .unwrap()
    };
    // The restore checks the database against the trailer: one byte changed is refused.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[info.size as usize / 2] ^= 0xff;
    let corrupt = root.join("corrupt.db");
    std::fs::write(&corrupt, bytes).unwrap();
    let refused = restore(&corrupt, &root.join("never"));
    assert!(!refused.status.success(), "a corrupt snapshot was restored");
    assert!(
        text(&refused).1.contains("expected sha256"),
        "{}",
        text(&refused).1
    );
    let restored = root.join("restored");
    let out = restore(&file, &restored);
    assert!(out.status.success(), "restore: {}", text(&out).1);
    drop(etcd);
    let args: Vec<String> = etcd_args(root, client2, peer2, free_port())
        .into_iter()
        .map(|a| {
            if a.starts_with("--data-dir=") {
                format!("--data-dir={}", restored.display())
            } else {
                a
            }
        })
        .collect();
    let again = start_etcd(root, &args);
    again.wait_healthy(root, client2);
    for i in [0, 17, 29] {
        let key = format!("/registry/kubestrap/{i}");
        let get = etcdctl(
            root,
            client2,
            "apiserver-etcd-client",
            &["get", &key, "--print-value-only"],
        );
        assert_eq!(text(&get).0.trim(), value(i), "get {key}: {}", text(&get).1);
    }
}
