//! `--dry-run`: nothing is written anywhere, also for a user who is not root; the journal says
//! what would have been written.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{text, tree};

/// The uid and gid of `nobody`.
const NOBODY: u32 = 65534;

#[test]
fn dry_run_as_a_normal_user_writes_nothing_and_lists_every_file() {
    // `nobody` may not enter the checkout (e.g. below /root or a 0700 folder): it runs a copy of
    // the binary from a folder it can reach, on a root there too.
    let dir = tempfile::tempdir_in(temp_dir_reachable_by_others()).unwrap();
    let root = dir.path().join("node");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("marker"), "kept").unwrap();
    let binary = dir.path().join("kubestrap");
    std::fs::copy(env!("CARGO_BIN_EXE_kubestrap"), &binary).unwrap();
    for (p, mode) in [
        (dir.path(), 0o755),
        (root.as_path(), 0o755),
        (&binary, 0o755),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let mut cmd = Command::new(&binary);
    cmd.current_dir(dir.path());
    cmd.args([
        "init",
        "--dry-run",
        "-v",
        "--root",
        root.to_str().unwrap(),
        "--node-name",
        "cp1",
        "--apiserver-advertise-address",
        "10.20.0.1",
        "--kubernetes-version",
        "v1.25.0",
        "--ignore-preflight-errors",
        "all",
    ]);
    // As root, drop to `nobody` so the run proves it needs no privilege.
    if running_as_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[WARNING IsPrivilegedUser]"), "{stderr}");
    for line in [
        "[dryrun] would write /etc/kubernetes/pki/ca.key (0600, ",
        "[dryrun] would write /etc/kubernetes/pki/ca.crt (0644, ",
        "[dryrun] would write /etc/kubernetes/admin.conf (0600, ",
        "[dryrun] would write /etc/kubernetes/manifests/kube-apiserver.yaml (0600, ",
        "[dryrun] would write /etc/kubernetes/manifests/etcd.yaml (0600, ",
        "[dryrun] would write /var/lib/kubelet/config.yaml (0644, ",
        "[dryrun] would create folder /etc/kubernetes/manifests (0700)",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(
        stdout
            .matches("would create folder /etc/kubernetes/manifests")
            .count(),
        1
    );
    // -v shows contents, except secrets.
    assert!(
        stdout.contains("    - --advertise-address=10.20.0.1"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("PRIVATE KEY"),
        "a key was printed:\n{stdout}"
    );
    assert_eq!(tree(&root), ["marker"]);
}

/// The system's temp folder when every folder above it lets others in, else /tmp.
fn temp_dir_reachable_by_others() -> PathBuf {
    let reachable = |dir: &Path| {
        dir.ancestors()
            .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
    };
    let dir = std::env::temp_dir();
    if reachable(&dir) {
        return dir;
    }
    let fallback = PathBuf::from("/tmp");
    assert!(
        reachable(&fallback),
        "neither {} nor /tmp can be entered by other users",
        dir.display()
    );
    fallback
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

#[test]
fn dry_run_on_a_systemd_host_lists_the_kubelet_drop_in_and_the_systemctl_calls() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/systemd");
    std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/systemd/system")).unwrap();
    std::fs::copy(
        units.join("kubelet.service"),
        root.join("usr/lib/systemd/system/kubelet.service"),
    )
    .unwrap();
    let before = tree(root);
    let (out, all) = dry_run_init(root);
    assert!(out.status.success(), "{all}");
    for line in [
        "[dryrun] would write /etc/systemd/system/kubelet.service.d/10-kubestrap.conf (0644, ",
        "[dryrun] would run `systemctl daemon-reload`",
        "[dryrun] would run `systemctl enable kubelet.service`",
        "[dryrun] would run `systemctl restart kubelet`",
    ] {
        assert!(all.contains(line), "missing {line:?} in\n{all}");
    }
    assert_eq!(tree(root), before, "--dry-run wrote under the root");
}

/// `kubestrap init --dry-run --root ROOT …` for v1.25 with every preflight error ignored.
fn dry_run_init(root: &Path) -> (std::process::Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args([
            "init",
            "--dry-run",
            "--root",
            root.to_str().unwrap(),
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.20.0.1",
            "--kubernetes-version",
            "v1.25.0",
            "--ignore-preflight-errors",
            "all",
        ])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    (out, all)
}

// A container or WSL without systemd: a `systemctl` is installed but no systemd runs (its
// runtime folder is absent). kubestrap wrote units and stopped at `systemctl daemon-reload`.
#[test]
fn a_systemctl_without_systemd_gets_no_unit_and_the_kubelet_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    for program in ["systemctl", "kubelet"] {
        std::fs::write(root.join("usr/bin").join(program), "#!/bin/sh\n").unwrap();
    }
    std::fs::create_dir_all(root.join("etc/default")).unwrap();
    std::fs::write(
        root.join("etc/default/kubelet"),
        "KUBELET_EXTRA_ARGS=--v=2\n",
    )
    .unwrap();
    let before = tree(root);
    let (out, all) = dry_run_init(root);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("no service manager runs this host"),
        "no warning in\n{all}"
    );
    assert!(
        all.contains("\n  /usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml --container-runtime=remote --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --hostname-override=cp1 --pod-infra-container-image=registry.k8s.io/pause:3.8 --v=2\n"),
        "the command line is missing or wrong in\n{all}"
    );
    assert!(!all.contains("/etc/systemd/system"), "{all}");
    assert!(!all.contains("would run `systemctl"), "{all}");
    // The rest of the plan is shown.
    assert!(
        all.contains("would write /etc/kubernetes/manifests/kube-apiserver.yaml"),
        "{all}"
    );
    assert_eq!(tree(root), before, "--dry-run wrote under the root");
}

#[test]
fn dry_run_on_a_systemd_host_without_a_kubelet_shows_the_plan_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    let (out, all) = dry_run_init(root);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains(
            "there is no kubelet.service and no kubelet on the PATH: a real run stops here"
        ),
        "{all}"
    );
    assert!(
        all.contains("would write /etc/kubernetes/manifests/etcd.yaml"),
        "{all}"
    );
}
