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

/// The files of a control-plane node (certificates, kubeconfigs, manifests) under `root`, as a
/// whole init of v1.20.2 writes them, without acting on this machine.
fn files_of_a_node(root: &std::path::Path) {
    let out = crate::support::init_files_only(root).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

fn on(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["--root", root.to_str().unwrap()]);
    kubestrap(&all)
}

#[test]
fn init_feature_gates_take_effect_or_are_warned_about() {
    let root = tempfile::tempdir().unwrap();
    let out = on(
        root.path(),
        &[
            "init",
            "phase",
            "certs",
            "ca",
            "--feature-gates",
            "PublicKeysECDSA=true,EtcdLearnerMode=true",
            "--apiserver-advertise-address",
            "192.0.2.1",
            "--kubernetes-version",
            "v1.25.0",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "`featureGates.EtcdLearnerMode` in the ClusterConfiguration has no effect yet"
        ),
        "{stderr}"
    );
    let ca = root.path().join("etc/kubernetes/pki/ca.crt");
    let cert = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cert.stdout).contains("id-ecPublicKey"),
        "PublicKeysECDSA=true makes ECDSA keys"
    );
    let out = kubestrap(&[
        "init",
        "--dry-run",
        "--feature-gates",
        "PublicKeysECDSA=maybe",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("takes true or false"), "{stderr}");
}

#[test]
fn init_skip_token_print_withholds_the_tokens() {
    let root = tempfile::tempdir().unwrap();
    let token = "abcdef.0123456789abcdef";
    let out = on(
        root.path(),
        &[
            "init",
            "--dry-run",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "192.0.2.1",
            "--kubernetes-version",
            "v1.25.0",
            "--ignore-preflight-errors",
            "all",
            "--token",
            token,
            "--skip-token-print",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("kubestrap join 192.0.2.1:6443 --token <value withheld>"),
        "{stdout}"
    );
    assert!(!stdout.contains(token) && !stderr.contains(token));
}

#[test]
fn join_patches_is_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let out = on(
        root.path(),
        &[
            "join",
            "192.0.2.1:6443",
            "--token",
            "abcdef.0123456789abcdef",
            "--discovery-token-unsafe-skip-ca-verification",
            "--patches",
            "patches",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--patches patches: patches on join are not supported"),
        "{stderr}"
    );
    assert!(tree(root.path()).is_empty());
}

#[test]
fn reset_takes_kubeconfig_and_ignore_preflight_errors() {
    let root = tempfile::tempdir().unwrap();
    files_of_a_node(root.path());
    // v1.20's reset leaves the ClusterStatus through the cluster: with the kubeconfig named.
    let out = on(
        root.path(),
        &[
            "reset",
            "-f",
            "--kubeconfig",
            "/etc/kubernetes/elsewhere.conf",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("failed to read `/etc/kubernetes/elsewhere.conf`"),
        "{stderr}"
    );
    // Not root: refused unless IsPrivilegedUser is ignored.
    if std::process::Command::new("runuser")
        .arg("--help")
        .output()
        .is_ok()
        && nix::unistd::Uid::effective().is_root()
    {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let as_nobody = |extra: &[&str]| {
            Command::new("runuser")
                .args([
                    "-u",
                    "nobody",
                    "--",
                    env!("CARGO_BIN_EXE_kubestrap"),
                    "reset",
                    "-f",
                ])
                .args(["--root", dir.path().to_str().unwrap()])
                .args(extra)
                .output()
                .unwrap()
        };
        let (_, refused) = text(&as_nobody(&[]));
        assert!(refused.contains("[ERROR IsPrivilegedUser]"), "{refused}");
        let (_, ignored) = text(&as_nobody(&[
            "--ignore-preflight-errors",
            "IsPrivilegedUser",
        ]));
        assert!(!ignored.contains("[ERROR IsPrivilegedUser]"), "{ignored}");
        assert!(ignored.contains("[reset]"), "{ignored}");
    }
}

#[test]
fn reset_dry_run_without_a_terminal_does_not_ask_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    files_of_a_node(root.path());
    let before = tree(root.path());
    let out = Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args([
            "reset",
            "--dry-run",
            "--root",
            root.path().to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("no terminal to ask"), "{stderr}");
    assert_eq!(tree(root.path()), before);
}

#[test]
fn token_dry_run_and_config_create_nothing() {
    let root = tempfile::tempdir().unwrap();
    files_of_a_node(root.path());
    let config = root.path().join("kubeadm.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: 2h0m0s\n  usages: [authentication]\n  groups: [system:bootstrappers:extra]\n",
    )
    .unwrap();
    // Nothing listens at the cluster's address: a token made for real would fail.
    let out = on(
        root.path(),
        &[
            "token",
            "create",
            "--dry-run",
            "--config",
            config.to_str().unwrap(),
            "--description",
            "from flags",
            "-o",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("would create the Secret kube-system/bootstrap-token-abcdef"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["token"], "abcdef.0123456789abcdef");
    assert_eq!(doc["usages"], serde_json::json!(["authentication"]));
    assert_eq!(
        doc["groups"],
        serde_json::json!(["system:bootstrappers:extra"])
    );
    assert!(doc["expires"].is_string(), "{doc}");
    // A flag wins over the file.
    let out = on(
        root.path(),
        &[
            "token",
            "create",
            "--dry-run",
            "--config",
            config.to_str().unwrap(),
            "--ttl",
            "0",
            "-o",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["expires"].is_null(), "{doc}");
    let out = on(root.path(), &["token", "delete", "--dry-run", "abcdef"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("would delete the Secret kube-system/bootstrap-token-abcdef"),
        "{stderr}"
    );
}

#[test]
fn token_list_templates_are_refused_with_the_reason() {
    let out = kubestrap(&["token", "list", "-o", "jsonpath={.items}"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("jsonpath output templates are not supported"),
        "{stderr}"
    );
    assert!(stderr.contains("-o json"), "{stderr}");
}

#[test]
fn certs_kubeconfig_is_the_file_the_cluster_is_read_with() {
    let root = tempfile::tempdir().unwrap();
    files_of_a_node(root.path());
    for command in [
        &["certs", "check-expiration"][..],
        &["certs", "renew", "apiserver"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--kubeconfig", "/etc/kubernetes/elsewhere.conf"]);
        let out = on(root.path(), &args);
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("failed to read `/etc/kubernetes/elsewhere.conf`"),
            "{stderr}"
        );
    }
}

#[test]
fn config_flags_of_kubeadm_are_refused_or_warned_with_the_reason() {
    let out = kubestrap(&[
        "config",
        "print",
        "init-defaults",
        "--kubeconfig",
        "/etc/kubernetes/admin.conf",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("never the cluster"), "{stderr}");
    let out = kubestrap(&[
        "config",
        "print",
        "init-defaults",
        "--component-configs",
        "KubeletConfiguration",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("kubestrap init --dry-run -v"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
    )
    .unwrap();
    let out = kubestrap(&[
        "config",
        "validate",
        "--allow-experimental-api",
        "--config",
        file.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("is a valid configuration"), "{stdout}");
    assert!(
        stderr.contains("--allow-experimental-api has no effect"),
        "{stderr}"
    );
}

/// token, certs and reset wait for an API server that does not answer as long as their limit
/// says, and give up with the same words, naming what sets the limit.
#[test]
fn api_waits_follow_one_rule_with_one_message() {
    let root = tempfile::tempdir().unwrap();
    let port = crate::support::free_port().to_string();
    let flags = [
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--apiserver-bind-port",
        &port,
        "--node-name",
        "n1",
        "--kubernetes-version",
        "v1.20.2",
    ];
    // A node's files (v1.20's reset asks the cluster to forget the node), its API server at a
    // port where nothing listens.
    let node = || {
        let mut args = vec![
            "init",
            "--cri-socket",
            "unix:///run/containerd/containerd.sock",
            "--skip-phases",
            "preflight,kubelet-start,wait-control-plane,upload-config,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
        ];
        args.extend(flags);
        let out = on(root.path(), &args);
        assert!(out.status.success(), "{}", text(&out).1);
    };
    node();
    let said = |args: &[&str]| {
        let started = std::time::Instant::now();
        let out = on(root.path(), args);
        (text(&out).1, started.elapsed())
    };
    let gave_up = format!("the API server at https://127.0.0.1:{port} did not answer within");
    let (stderr, took) = said(&["token", "list", "--timeout", "2s"]);
    assert!(stderr.contains(&format!("{gave_up} 2s (")), "{stderr}");
    assert!(stderr.contains("--timeout sets the limit"), "{stderr}");
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    let (stderr, _) = said(&["certs", "check-expiration", "--timeout", "1s"]);
    assert!(stderr.contains(&format!("{gave_up} 1s (")), "{stderr}");
    assert!(
        stderr.contains("falling back to the default configuration"),
        "{stderr}"
    );
    let (stderr, _) = said(&["reset", "-f", "--timeout", "1s"]);
    assert!(stderr.contains(&format!("{gave_up} 1s (")), "{stderr}");
    // reset's file sets it too, and says so.
    node();
    let config = root.path().join("reset.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\ntimeouts:\n  kubernetesAPICall: 1s\n",
    )
    .unwrap();
    let (stderr, _) = said(&["reset", "-f", "--config", config.to_str().unwrap()]);
    assert!(
        stderr.contains("did not answer within 1s (")
            && stderr.contains("timeouts.kubernetesAPICall in the --config file"),
        "{stderr}"
    );
}

/// `init --dry-run -o json` is one document that also lists what the run would write.
#[test]
fn init_dry_run_json_lists_the_files() {
    let root = tempfile::tempdir().unwrap();
    let out = on(
        root.path(),
        &[
            "init",
            "--dry-run",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "192.0.2.10",
            "--kubernetes-version",
            "v1.25.0",
            "-o",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let files = doc["dryRun"]["files"].as_array().unwrap();
    let key = files
        .iter()
        .find(|f| f["path"] == "/etc/kubernetes/pki/ca.key")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(key["mode"], "0600");
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "/etc/kubernetes/manifests/kube-apiserver.yaml")
    );
    assert!(doc["joinCommands"].is_array(), "{doc}");
    // Nothing was written: not even the root's folders.
    assert!(tree(root.path()).is_empty());
}
