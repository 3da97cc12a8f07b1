//! What a kubeadm user meets first: closed pipes, exit codes, phase help, shell completion,
//! kubeadm's flag habits.

use std::process::{Command, Stdio};

use crate::support::{kubestrap, text, tree};

/// Runs `args` with stdout and/or stderr a pipe nobody reads (`| head -1` after its first
/// line): every write after that fails with EPIPE.
fn with_closed(args: &[&str], close_stdout: bool, close_stderr: bool) -> Option<i32> {
    let pipe = |closed: bool| {
        if closed {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdout(pipe(close_stdout))
        .stderr(pipe(close_stderr))
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap().code()
}

#[test]
fn a_closed_stdout_or_stderr_does_not_stop_a_run_half_way() {
    for (stdout, stderr) in [(true, false), (false, true), (true, true)] {
        let root = tempfile::tempdir().unwrap();
        let code = with_closed(
            &[
                "init",
                "phase",
                "certs",
                "all",
                "--root",
                root.path().to_str().unwrap(),
                "--node-name",
                "n1",
                "--apiserver-advertise-address",
                "192.0.2.1",
                "-v",
            ],
            stdout,
            stderr,
        );
        assert_eq!(
            code,
            Some(0),
            "stdout closed {stdout}, stderr closed {stderr}"
        );
        let files = tree(root.path())
            .into_iter()
            .filter(|f| f.ends_with(".crt") || f.ends_with(".key") || f.ends_with(".pub"))
            .count();
        assert_eq!(files, 22, "{:?}", tree(root.path()));
    }
    // An error to a closed stderr still gives its exit code.
    let code = with_closed(&["join"], false, true);
    assert_eq!(code, Some(3));
}

#[test]
fn join_without_arguments_is_an_input_error() {
    let out = kubestrap(&["join"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("nothing says how to find the cluster"),
        "{stderr}"
    );
}

#[test]
fn phase_help_describes_each_phase() {
    for (command, phase, about) in [
        ("init", "certs", "Certificate generation"),
        (
            "init",
            "kubelet-start",
            "Write kubelet settings and (re)start the kubelet",
        ),
        ("join", "kubelet-start", "kubelet"),
        ("reset", "cleanup-node", ""),
    ] {
        let (help, _) = text(&kubestrap(&[command, "phase", "--help"]));
        assert!(!help.contains("The flags of"), "{help}");
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{phase} ")))
            .unwrap_or_else(|| panic!("{help}"));
        assert!(line.contains(about), "{line}");
        let (help, _) = text(&kubestrap(&[command, "phase", phase, "--help"]));
        assert!(!help.contains("The flags of"), "{help}");
    }
}

#[test]
fn completion_offers_phase_check_and_certificate_names() {
    for shell in ["bash", "fish", "zsh"] {
        let out = kubestrap(&["completion", shell]);
        let (script, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        for name in [
            "certs/etcd-ca",
            "addon/kube-proxy",
            "remove-etcd-member",
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
            "Port-10250",
            "IsPrivilegedUser",
        ] {
            assert!(script.contains(name), "{shell}: {name} not offered");
        }
        // clap's fish script completes no positional argument's values.
        if shell != "fish" {
            assert!(script.contains("super-admin.conf"), "{shell}");
        }
    }
}

#[test]
fn version_names_the_default_kubernetes_version_and_where_it_comes_from() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let (stdout, _) = text(&kubestrap(&["version", "--root", root_arg]));
    assert!(
        stdout.contains(&format!(
            "(default {}: the newest, as no kubelet is installed",
            kubestrap_phases::version::NEWEST
        )),
        "{stdout}"
    );
    let bin = root.path().join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let kubelet = bin.join("kubelet");
    std::fs::write(&kubelet, "#!/bin/sh\necho Kubernetes v1.27.3\n").unwrap();
    std::fs::set_permissions(
        &kubelet,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (stdout, _) = text(&kubestrap(&["version", "--root", root_arg]));
    assert!(
        stdout.contains("(default v1.27.3: the installed kubelet's)"),
        "{stdout}"
    );
    let out = kubestrap(&["version", "--root", root_arg, "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kubernetes"]["default"], "v1.27.3");
    assert_eq!(doc["kubernetes"]["defaultFromKubelet"], true);
}
