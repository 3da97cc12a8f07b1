//! What kubestrap guarantees on any host (the README's "Safety"): reset never deletes across a
//! mount point nor outside the root, the sudo user's kubeconfig is never written through a link
//! that user could plant, one run at a time on a root, and existing folders keep their modes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use kubestrap_phases::fs::remove::MountsLeft;
use kubestrap_phases::fs::root::Root;

use crate::support::{kubestrap, text, tree};

const NOBODY: u32 = 65534;

/// Runs the calling test again, alone, in a private mount namespace (util-linux `unshare`; needs
/// root) and returns false; inside it, returns true. Whatever the test mounts vanishes with the
/// namespace when it ends, even if it fails half-way.
fn in_private_mount_namespace(test: &str) -> bool {
    const INSIDE: &str = "KUBESTRAP_TEST_PRIVATE_MOUNTS";
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("util-linux `unshare` runs the test in a private mount namespace");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in a private mount namespace:\n{stdout}\n{stderr}"
    );
    false
}

fn put(base: &Path, logical: &str, contents: &str) -> PathBuf {
    let path = base.join(logical.trim_start_matches('/'));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, contents).unwrap();
    path
}

/// A folder of its own, holding a file `data`, bind-mounted at `logical` under `base` (as the
/// kubelet mounts a volume); returns it and the path of its file.
fn mounted_volume(base: &Path, logical: &str) -> (tempfile::TempDir, PathBuf) {
    let volume = tempfile::tempdir().unwrap();
    let data = put(volume.path(), "/data", "the volume's own");
    let point = base.join(logical.trim_start_matches('/'));
    fs::create_dir_all(&point).unwrap();
    let ok = Command::new("mount")
        .arg("--bind")
        .arg(volume.path())
        .arg(&point)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount --bind {:?} {point:?}", volume.path());
    (volume, data)
}

/// A process killed when dropped, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn removal_never_crosses_a_mount_point_even_without_unmounting() {
    if !in_private_mount_namespace(
        "safety::removal_never_crosses_a_mount_point_even_without_unmounting",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let gone = put(base, "/var/lib/kubelet/pods/u1/etc-hosts", "x");
    let (_volume, kept) = mounted_volume(base, "/var/lib/kubelet/pods/u1/volumes/v");

    let err = Root::new(base)
        .remove_all("/var/lib/kubelet/pods")
        .unwrap_err();
    let left = err
        .downcast_ref::<MountsLeft>()
        .unwrap_or_else(|| panic!("not a mount left: {err:#}"));
    assert_eq!(left.0, ["/var/lib/kubelet/pods/u1/volumes/v"]);
    assert_eq!(fs::read_to_string(&kept).unwrap(), "the volume's own");
    assert!(!gone.exists());
}

#[test]
fn reset_leaves_a_busy_mount_with_its_files_names_who_uses_it_and_fails() {
    if !in_private_mount_namespace(
        "safety::reset_leaves_a_busy_mount_with_its_files_names_who_uses_it_and_fails",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let gone = put(&base, "/var/lib/kubelet/config.yaml", "x");
    let logical = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/v";
    let (_volume, kept) = mounted_volume(&base, logical);
    let point = base.join(logical.trim_start_matches('/'));
    // A process working in the volume keeps it busy: umount fails with EBUSY.
    let busy = Killed(
        Command::new("sleep")
            .arg("300")
            .current_dir(&point)
            .spawn()
            .unwrap(),
    );

    let out = kubestrap(&["reset", "-f", "--root", base.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        fs::read_to_string(&kept).unwrap(),
        "the volume's own",
        "{stderr}"
    );
    assert!(!gone.exists(), "the rest is cleaned: {stderr}");
    assert!(
        stderr.contains(&format!("`{}` stays mounted", point.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {} (`sleep 300`)", busy.0.id())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("reset is incomplete: `{logical}` still mounted")),
        "{stderr}"
    );
}

/// A certificates folder that is a link leading out of `--root` is followed inside the root:
/// what lies outside survives.
#[test]
fn reset_never_empties_a_folder_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let base = dir.path();
    let theirs = put(outside.path(), "/ca.key", "not the cluster's");
    fs::create_dir_all(base.join("etc/kubernetes")).unwrap();
    symlink(outside.path(), base.join("etc/kubernetes/pki")).unwrap();
    let mine = put(base, "/etc/kubernetes/manifests/etcd.yaml", "x");

    let out = kubestrap(&["reset", "-f", "--root", base.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(fs::read_to_string(&theirs).unwrap(), "not the cluster's");
    assert!(!mine.exists(), "{stderr}");
    // Removing a file below the link stays inside the root too.
    Root::new(base)
        .remove_all("/etc/kubernetes/pki/ca.key")
        .unwrap();
    assert!(theirs.exists());
}

/// A certificates folder is judged by what it really is: its links followed inside the root.
#[test]
fn reset_refuses_a_certificates_folder_that_resolves_to_a_system_folder() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    put(base, "/etc/hostname", "node1");
    put(base, "/run/lock/x", "x");
    fs::create_dir_all(base.join("srv")).unwrap();
    fs::create_dir_all(base.join("var")).unwrap();
    // Relative links, so that they stay in the temporary root whatever follows them.
    symlink("../etc", base.join("srv/pki")).unwrap();
    symlink("../run", base.join("var/run")).unwrap();
    let before = tree(base);
    for cert_dir in ["/srv/pki", "/srv/pki/", "/var/run", "/proc/self/root"] {
        let out = kubestrap(&[
            "reset",
            "-f",
            "--cert-dir",
            cert_dir,
            "--root",
            base.to_str().unwrap(),
        ]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{cert_dir}: {stderr}");
        assert!(
            stderr.contains("is a system folder, not a certificates folder"),
            "{cert_dir}: {stderr}"
        );
        assert_eq!(tree(base), before, "{cert_dir} changed the root");
    }
}

/// `kubestrap init` through sudo as `nobody` (home `/nonexistent`), the phases that act on this
/// machine or a cluster skipped.
fn init_as_nobody(root: &Path) -> Output {
    crate::support::init_files_only(root)
        .env("SUDO_USER", "nobody")
        .output()
        .unwrap()
}

const THREE_LINES: [&str; 3] = [
    "mkdir -p $HOME/.kube",
    "sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config",
    "sudo chown $(id -u):$(id -g) $HOME/.kube/config",
];

/// The sudo user's kubeconfig: written as theirs (0600) in a home they own; never through a link
/// they planted, whether `~/.kube` or `config` (kubeadm's three lines are printed instead).
#[test]
fn the_sudo_users_kubeconfig_is_never_written_through_their_links() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let home = base.join("nonexistent");
    fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();

    let out = init_as_nobody(base);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let kube = home.join(".kube");
    let config = kube.join("config");
    assert_eq!(fs::metadata(&kube).unwrap().uid(), NOBODY);
    let meta = fs::metadata(&config).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (NOBODY, 0o600),
        "{stderr}"
    );
    let admin = fs::read_to_string(base.join("etc/kubernetes/admin.conf")).unwrap();
    assert_eq!(fs::read_to_string(&config).unwrap(), admin);

    // `config` a link to a file of root's that looks like a stale kubeconfig: not read, not
    // backed up as the user's, not replaced.
    let secret = put(
        base,
        "/root/secret",
        &admin.replacen(
            "certificate-authority-data: ",
            "certificate-authority-data: QUJD",
            1,
        ),
    );
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(&config).unwrap();
    symlink("../../root/secret", &config).unwrap();
    let out = init_as_nobody(base);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/.kube/config` was not written")
            && stderr.contains("symbolic link"),
        "{stderr}"
    );
    for line in THREE_LINES {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    assert_eq!(
        fs::read_dir(&kube).unwrap().count(),
        1,
        "nothing but the link: {:?}",
        tree(&kube)
    );
    assert!(fs::symlink_metadata(&config).unwrap().is_symlink());
    assert_eq!(fs::metadata(&secret).unwrap().uid(), 0);

    // `~/.kube` a link to a folder of root's: nothing written there.
    fs::remove_dir_all(&kube).unwrap();
    symlink("../etc/kubernetes", &kube).unwrap();
    let out = init_as_nobody(base);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/.kube` is a symbolic link"),
        "{stderr}"
    );
    for line in THREE_LINES {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    assert!(!base.join("etc/kubernetes/config").exists());
    assert!(
        fs::read_dir(base.join("etc/kubernetes"))
            .unwrap()
            .flatten()
            .all(|e| e.metadata().unwrap().uid() == 0),
        "a file of the user's among root's"
    );
}

const ETCD_CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.1
nodeRegistration:
  name: n1
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
etcd:
  local:
    dataDir: DATA_DIR
";

/// etcd's data folder: an existing one keeps its mode; a system folder is refused before
/// anything is written.
#[test]
fn an_existing_etcd_data_folder_keeps_its_mode_and_a_system_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let shared = base.join("data/shared");
    fs::create_dir_all(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let config = base.join("init.yaml");
    let run = |data_dir: &str| {
        fs::write(&config, ETCD_CONFIG.replace("DATA_DIR", data_dir)).unwrap();
        kubestrap(&[
            "init",
            "phase",
            "etcd",
            "local",
            "--config",
            config.to_str().unwrap(),
            "--root",
            base.to_str().unwrap(),
        ])
    };
    let out = run("/data/shared");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(base.join("etc/kubernetes/manifests/etcd.yaml").is_file());
    assert_eq!(fs::metadata(&shared).unwrap().mode() & 0o7777, 0o1777);

    fs::remove_dir_all(base.join("etc")).unwrap();
    for system in ["/tmp", "/var/lib/", "/", "/home/../etc"] {
        let out = run(system);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{system}: {stderr}");
        assert!(
            stderr.contains("is a system folder: it cannot be etcd's data folder"),
            "{system}: {stderr}"
        );
        assert_eq!(tree(base), ["init.yaml"], "{system}");
    }
}

/// Several runs at once on one root take turns: every leaf certificate verifies against the CA
/// on disk, and a run that did not get its turn in time fails naming the one that held it.
#[test]
fn concurrent_runs_on_one_root_take_turns() {
    crate::support::require_binary("openssl", "openssl");
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let runs: Vec<Child> = (0..3)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_kubestrap"))
                    .args(["init", "phase", "certs", "all", "--root"])
                    .arg(base)
                    .args([
                        "--node-name",
                        "n1",
                        "--apiserver-advertise-address",
                        "10.0.0.1",
                        "--kubernetes-version",
                        "v1.31.0",
                    ])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = runs
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        assert!(outs.iter().any(|o| o.status.success()), "round {round}");
        for out in outs.iter().filter(|o| !o.status.success()) {
            let (_, stderr) = text(out);
            assert!(
                stderr.contains(
                    "another kubestrap run holds `/var/lib/kubestrap/lock` on this root: pid "
                ) && stderr.contains("init phase certs all"),
                "round {round}: {stderr}"
            );
        }
        let pki = base.join("etc/kubernetes/pki");
        for (ca, leaves) in [
            (
                "ca.crt",
                &["apiserver.crt", "apiserver-kubelet-client.crt"][..],
            ),
            ("front-proxy-ca.crt", &["front-proxy-client.crt"]),
            (
                "etcd/ca.crt",
                &[
                    "etcd/server.crt",
                    "etcd/peer.crt",
                    "etcd/healthcheck-client.crt",
                    "apiserver-etcd-client.crt",
                ],
            ),
        ] {
            for leaf in leaves {
                let verify = Command::new("openssl")
                    .arg("verify")
                    .arg("-CAfile")
                    .arg(pki.join(ca))
                    .arg(pki.join(leaf))
                    .output()
                    .unwrap();
                assert!(
                    verify.status.success(),
                    "round {round}: {leaf} is not signed by the {ca} on disk: {:?}",
                    text(&verify)
                );
            }
        }
        assert!(!base.join("var/lib/kubestrap/lock").exists());
    }
}

#[test]
fn bad_input_is_refused_at_once_while_another_run_holds_the_root() {
    use nix::fcntl::{Flock, FlockArg};
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    fs::create_dir_all(base.join("var/lib/kubestrap")).unwrap();
    let file = fs::File::create(base.join("var/lib/kubestrap/lock")).unwrap();
    let _held = Flock::lock(file, FlockArg::LockExclusiveNonblock).unwrap();
    let root = base.to_str().unwrap();
    for args in [
        &["join", "--root", root][..],
        &["init", "--root", root, "--pod-network-cidr", "not-a-cidr"],
    ] {
        // Through the lock it would wait for it, then fail (exit 1) naming the holder.
        let out = kubestrap(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("another kubestrap run holds"),
            "{args:?}: {stderr}"
        );
    }
}
