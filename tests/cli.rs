//! The binary's command line: help, phase selection, exit codes.

use kubestrap_phases::version::{NEWEST, NEWEST_MINOR, OLDEST_MINOR};

use crate::support::{kubestrap, kubestrap_on, text};

#[test]
fn init_help_lists_the_phases() {
    let out = kubestrap(&["init", "--help"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains("The \"init\" command executes the following phases:"),
        "{stdout}"
    );
    assert!(stdout.contains("  certs "), "{stdout}");
    assert!(stdout.contains("kubelet-start"), "{stdout}");
}

#[test]
fn unknown_skip_phase_fails_listing_valid_phases() {
    let root = tempfile::tempdir().unwrap();
    let out = kubestrap_on(
        root.path(),
        &[
            "init",
            "--dry-run",
            "--kubernetes-version",
            "v1.25.0",
            "--skip-phases",
            "cert",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("unknown phase `cert`"), "{stderr}");
    assert!(stderr.contains("certs/ca"), "{stderr}");
}

#[test]
fn readme_lists_the_phases_of_init_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (help, _) = text(&kubestrap(&["init", "--help"]));
    let start = help.find("The \"init\" command executes").unwrap();
    let end = help.find("\nExamples:").unwrap();
    let phases = &help[start..end];
    assert!(
        readme.contains(phases.trim_end()),
        "README.md's phase list differs from `kubestrap init --help`; paste this into it:\n{phases}"
    );
}

/// kubeadm ≤ 1.30 names the kubelet-finalize sub-phase `experimental-cert-rotation`, 1.31+
/// `enable-client-cert-rotation`: both parse, and the configured version decides which runs.
#[test]
fn a_sub_phase_runs_for_the_versions_that_have_it() {
    let root = tempfile::tempdir().unwrap();
    let run = |version: &str| {
        kubestrap_on(
            root.path(),
            &[
                "init",
                "phase",
                "kubelet-finalize",
                "experimental-cert-rotation",
                "--kubernetes-version",
                version,
            ],
        )
    };
    let out = run("v1.20.2");
    assert!(out.status.success(), "{}", text(&out).1);
    let out = run("v1.31.0");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("unknown phase `kubelet-finalize/experimental-cert-rotation`")
            && stderr.contains("kubelet-finalize/enable-client-cert-rotation"),
        "{stderr}"
    );
}

#[test]
fn reset_help_lists_its_phases() {
    let (stdout, _) = text(&kubestrap(&["reset", "--help"]));
    assert!(
        stdout.contains("The \"reset\" command executes the following phases:\n  preflight ")
            && stdout.contains("  remove-etcd-member ")
            && stdout.contains("  cleanup-node "),
        "{stdout}"
    );
}

/// A reader that stops early (`kubestrap token list | grep -q …`) is no failure: the output it
/// did not want is dropped, no panic, exit code 0.
#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args(["config", "print", "init-defaults"])
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn token_and_taint_use_the_first_kubeconfig_of_the_environment() {
    let root = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--root", root.path().to_str().unwrap()]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubestrap"))
            .args(&all)
            .env("KUBECONFIG", ":/etc/kubernetes/from-env.conf:/other.conf")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        text(&out).1
    };
    let stderr = run(&["token", "list"]);
    assert!(
        stderr.contains("`/etc/kubernetes/from-env.conf`"),
        "{stderr}"
    );
    let stderr = run(&["taint", "remove", "--all"]);
    assert!(stderr.contains("from-env.conf"), "{stderr}");
    // The flag wins over the environment.
    let stderr = run(&["token", "list", "--kubeconfig", "/flag.conf"]);
    assert!(stderr.contains("`/flag.conf`"), "{stderr}");
}

/// `--v=N` as kubeadm spells it: N ≥ 1 prints as much as `-v` (a dry run's file contents).
#[test]
fn kubeadm_log_level_flag_works_like_verbose() {
    let root = tempfile::tempdir().unwrap();
    let run = |flag: &str| {
        let out = kubestrap_on(
            root.path(),
            &[flag, "init", "phase", "certs", "ca", "--dry-run"],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{flag}: {stderr}");
        stdout + &stderr
    };
    let verbose = run("-v");
    assert!(verbose.contains("BEGIN CERTIFICATE"), "{verbose}");
    assert!(run("--v=5").contains("BEGIN CERTIFICATE"));
    assert!(!run("--v=0").contains("BEGIN CERTIFICATE"));
}

#[test]
fn a_log_level_that_is_no_number_is_a_usage_error() {
    let out = kubestrap(&["--v=x", "token", "generate"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("invalid value 'x' for '--v <N>'"),
        "{stderr}"
    );
}

fn completion(shell: &str) -> String {
    let out = kubestrap(&["completion", shell]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    stdout
}

#[test]
fn bash_completion_is_valid_bash_and_completes_phases() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kubestrap.bash");
    std::fs::write(&script, completion("bash")).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);

    // What bash does on `kubestrap init phase ce<TAB>`.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$1"
COMP_WORDS=(kubestrap init phase ce); COMP_CWORD=3
COMP_LINE="kubestrap init phase ce"; COMP_POINT=${#COMP_LINE}
_kubestrap kubestrap ce phase
printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(&script)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["certs"], "{stderr}");
}

#[test]
fn zsh_and_fish_completion_cover_the_phase_subcommands() {
    for shell in ["zsh", "fish"] {
        let script = completion(shell);
        assert!(script.contains("kubelet-finalize"), "{shell}: {script}");
    }
}

#[test]
fn version_prints_kubestrap_kubernetes_range_and_commit() {
    let (short, _) = text(&kubestrap(&["version", "-o", "short"]));
    assert_eq!(short, format!("v{}\n", env!("CARGO_PKG_VERSION")));

    // Under an empty root no kubelet is installed: the default is the newest version.
    let empty = tempfile::tempdir().unwrap();
    let out = kubestrap(&[
        "version",
        "-o",
        "json",
        "--root",
        empty.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], short.trim());
    // The commit the binary was built from: this checkout's HEAD (cargo rebuilds when it moves).
    let commit = doc["gitCommit"].as_str().unwrap();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o).0.trim().to_string());
    assert_eq!(commit, head.as_deref().unwrap_or("unknown"), "{doc}");
    let k8s = &doc["kubernetes"];
    assert_eq!(k8s["oldestMinor"], format!("v1.{OLDEST_MINOR}"), "{doc}");
    assert_eq!(k8s["newestMinor"], format!("v1.{NEWEST_MINOR}"), "{doc}");
    assert_eq!(k8s["default"], NEWEST.to_string(), "{doc}");

    let out = kubestrap(&[
        "version",
        "-o",
        "yaml",
        "--root",
        empty.path().to_str().unwrap(),
    ]);
    let yaml: serde_json::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(yaml, doc);

    let (text_out, _) = text(&kubestrap(&["version"]));
    assert!(
        text_out.contains(short.trim()) && text_out.contains(commit),
        "{text_out}"
    );
}

#[test]
fn init_join_and_reset_help_show_examples_after_the_phases() {
    for (command, example) in [
        ("init", "sudo kubestrap init --pod-network-cidr"),
        ("join", "sudo kubestrap join 192.0.2.10:6443 --token"),
        ("reset", "sudo kubestrap reset --force"),
    ] {
        let out = kubestrap(&[command, "--help"]);
        let (stdout, _) = text(&out);
        assert!(out.status.success(), "{stdout}");
        let phases = stdout.find("command executes the following phases:");
        let examples = stdout.find("\nExamples:\n");
        assert!(
            matches!((phases, examples), (Some(p), Some(e)) if p < e),
            "{command}: {stdout}"
        );
        assert!(stdout.contains(example), "{command}: {stdout}");
    }
}

#[test]
fn a_root_that_is_a_file_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let out = kubestrap(&[
        "init",
        "phase",
        "certs",
        "ca",
        "--root",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("is a file, not a folder: --root takes the folder that stands for `/`"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn bad_token_and_taint_input_is_refused_with_exit_code_3_before_any_kubeconfig_is_read() {
    // The root has no kubeconfig: reading one would fail with exit code 1 instead.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for (args, says) in [
        (
            &["token", "delete", "bad!"][..],
            "is neither a bootstrap token ID",
        ),
        (
            &["token", "create", "--ttl", "banana"],
            "--ttl: invalid duration",
        ),
        (&["token", "create", "notatoken"], "was not of the form"),
        (
            &["token", "create", "--usages", "bogus"],
            "invalid bootstrap token usage",
        ),
        (
            &["taint", "remove", "--node", "UPPER!"],
            "is not a node name",
        ),
    ] {
        let mut all = args.to_vec();
        all.extend(["--root", root]);
        let out = kubestrap(&all);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn cluster_apply_refuses_a_bad_file_before_any_host_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubestrap.io/v1alpha1\nkind: Cluster\nhosts:\n- address: 192.0.2.1\n  role: control-plane\n  sudoo: true\n- address: 192.0.2.2\n  role: wroker\n",
    )
    .unwrap();
    let logs = dir.path().join("logs");
    let out = kubestrap(&[
        "cluster",
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--logs",
        logs.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let shown = file.display();
    assert!(
        stderr.contains(&format!(
            "{shown}:6:3: hosts[0].sudoo: unknown field `sudoo`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{shown}:8:3: hosts[1].role: unknown variant `wroker`"
        )),
        "{stderr}"
    );
    assert!(!logs.exists(), "a host was contacted: {stderr}");
}

/// `--yes` answers --fix's question; alone it would be a flag with no effect, so it is refused.
#[test]
fn cluster_apply_yes_needs_fix() {
    let out = kubestrap(&["cluster", "apply", "-f", "cluster.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--fix"), "{stderr}");
}

#[test]
fn cluster_print_defaults_is_a_cluster_file() {
    let out = kubestrap(&["cluster", "print-defaults"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.starts_with("apiVersion: kubestrap.io/v1alpha1\nkind: Cluster\n"),
        "{stdout}"
    );
    // Valid but for its key file, which is the reader's own.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, &stdout).unwrap();
    let out = kubestrap(&["cluster", "status", "-f", file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cluster.yaml:"))
        .collect();
    assert!(
        problems
            .iter()
            .all(|p| p.contains("keyPath `~/.ssh/id_ed25519` is no file here")),
        "{stderr}"
    );
}
