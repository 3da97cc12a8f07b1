//! Config files: kubeadm's v1beta3/v1beta4 files load; every problem is reported at once, with
//! file:line:column, and a refused file changes nothing.

use std::path::PathBuf;

use crate::support::{kubestrap, kubestrap_on, text, tree};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/config")
        .join(name)
        .display()
        .to_string()
}

/// `config validate` on a fixture: exit code and stderr.
fn validate(name: &str) -> (Option<i32>, String) {
    let out = kubestrap(&["config", "validate", "--config", &fixture(name)]);
    (out.status.code(), text(&out).1)
}

#[test]
fn valid_files_pass() {
    for name in [
        "tutorial-v1.25.yaml",
        "full-v1beta4.yaml",
        "component-configs.yaml",
        "upgrade-v1beta4.yaml",
    ] {
        let out = kubestrap(&["config", "validate", "--config", &fixture(name)]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stdout.contains("is a valid configuration"), "{stdout}");
    }
}

#[test]
fn unknown_field_names_line_column_path_and_suggestion() {
    let (code, stderr) = validate("invalid-unknown-field.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid-unknown-field.yaml:5:3: unknown field `apiServer.certSans` in ClusterConfiguration; did you mean `apiServer.certSANs`?"),
        "{stderr}"
    );
}

#[test]
fn a_line_not_indented_under_its_section_is_explained() {
    let (code, stderr) = validate("invalid-indentation.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("invalid-indentation.yaml:5:1: unknown field `extraArgs` in ClusterConfiguration; it belongs under apiServer.extraArgs"), "{stderr}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let (code, stderr) = validate("invalid-many.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    for expected in [
        "invalid configuration (5 problems):",
        "invalid-many.yaml:5:3: `bootstrapTokens[0].ttl`: invalid duration \"24x\": unknown unit \"x\"",
        "invalid-many.yaml:7:3: `localAPIEndpoint.advertiseAddress`: ip address \"10.0.0.300\" is not valid",
        "invalid-many.yaml:11:1: `kubernetesVersion`: Kubernetes v1.40.0 is not supported: kubestrap deploys v1.20.0 to v1.36.x",
        "invalid-many.yaml:13:3: `networking.podSubnet`: couldn't parse subnet \"10.244.0.0\"",
        "invalid-many.yaml:15:1: `encryptionAlgorithm`: \"RSA-1024\" is not one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn api_version_shapes_are_enforced() {
    let (code, stderr) = validate("invalid-v1beta4-map-args.yaml");
    assert_eq!(code, Some(3));
    assert!(stderr.contains("invalid-v1beta4-map-args.yaml:5:3: `apiServer.extraArgs` is a map, the kubeadm.k8s.io/v1beta3 form"), "{stderr}");
    let (code, stderr) = validate("invalid-v1beta3-new-field.yaml");
    assert_eq!(code, Some(3));
    assert!(stderr.contains("invalid-v1beta3-new-field.yaml:4:1: unknown field `encryptionAlgorithm` in ClusterConfiguration: it is new in kubeadm.k8s.io/v1beta4"), "{stderr}");
    let (code, stderr) = validate("invalid-old-api.yaml");
    assert_eq!(code, Some(3));
    assert!(
        stderr
            .contains("invalid-old-api.yaml:1:1: unsupported apiVersion `kubeadm.k8s.io/v1beta2`"),
        "{stderr}"
    );
}

#[test]
fn an_upgrade_configuration_is_checked_like_the_other_kinds() {
    let out = kubestrap(&[
        "config",
        "validate",
        "--config",
        &fixture("upgrade-v1beta4.yaml"),
    ]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("upgrade-v1beta4.yaml:17:3: `apply.printConfig`: has no effect:"),
        "{stderr}"
    );
    let (code, stderr) = validate("invalid-upgrade.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("invalid-upgrade.yaml:5:3: unknown field `apply.etcdUpgrades` in UpgradeConfiguration; did you mean `apply.etcdUpgrade`?"), "{stderr}");
    let (code, stderr) = validate("invalid-upgrade-v1beta3.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid-upgrade-v1beta3.yaml:5:1: UpgradeConfiguration is new in kubeadm.k8s.io/v1beta4; change `apiVersion` to kubeadm.k8s.io/v1beta4"),
        "{stderr}"
    );
}

#[test]
fn syntax_and_type_errors_point_at_their_place() {
    let (code, stderr) = validate("invalid-yaml.yaml");
    assert_eq!(code, Some(3));
    assert!(
        stderr.contains("invalid-yaml.yaml:5:1: not valid YAML"),
        "{stderr}"
    );
    let (code, stderr) = validate("invalid-type.yaml");
    assert_eq!(code, Some(3));
    assert!(stderr.contains("invalid-type.yaml:4:3: `localAPIEndpoint.bindPort` in InitConfiguration: invalid type: string \"https\", expected i64"), "{stderr}");
}

#[test]
fn a_refused_config_writes_nothing() {
    for name in [
        "invalid-many.yaml",
        "invalid-indentation.yaml",
        "invalid-yaml.yaml",
    ] {
        let root = tempfile::tempdir().unwrap();
        let out = kubestrap(&[
            "init",
            "--config",
            &fixture(name),
            "--root",
            root.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out).1);
        assert_eq!(tree(root.path()), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn flags_are_validated_like_the_file() {
    let root = tempfile::tempdir().unwrap();
    let out = kubestrap_on(
        root.path(),
        &[
            "init",
            "--pod-network-cidr",
            "10.244.0.0/33",
            "--token",
            "short.token",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr
            .contains("`bootstrapTokens[0].token`: the bootstrap token \"short.token\" is invalid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`networking.podSubnet`: couldn't parse subnet \"10.244.0.0/33\""),
        "{stderr}"
    );
    assert_eq!(tree(root.path()), Vec::<String>::new());
}

#[test]
fn config_cannot_be_mixed_with_flags() {
    let out = kubestrap(&[
        "init",
        "--config",
        &fixture("tutorial-v1.25.yaml"),
        "--pod-network-cidr",
        "10.244.0.0/16",
        "--dry-run",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("can not mix '--config' with arguments [pod-network-cidr]"),
        "{stderr}"
    );
}

#[test]
fn print_init_defaults_round_trips_through_validate() {
    for version in ["kubeadm.k8s.io/v1beta4", "v1beta3"] {
        let out = kubestrap(&["config", "print", "init-defaults", "--api-version", version]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("defaults.yaml");
        std::fs::write(&file, &stdout).unwrap();
        let out = kubestrap(&["config", "validate", "--config", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{version}: {}\n{stdout}",
            text(&out).1
        );
    }
}

#[test]
fn a_flag_the_version_no_longer_has_is_refused_before_anything_is_written() {
    let (code, stderr) = validate("invalid-removed-flag.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid-removed-flag.yaml:6:5: `controllerManager.extraArgs.horizontal-pod-autoscaler-use-rest-clients`: flag `--horizontal-pod-autoscaler-use-rest-clients` was removed from kube-controller-manager in v1.21"),
        "{stderr}"
    );
    let root = tempfile::tempdir().unwrap();
    let out = kubestrap(&[
        "init",
        "--config",
        &fixture("invalid-removed-flag.yaml"),
        "--root",
        root.path().to_str().unwrap(),
    ]);
    let (_, init_stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{init_stderr}");
    assert!(
        init_stderr.contains("horizontal-pod-autoscaler-use-rest-clients"),
        "{init_stderr}"
    );
    assert_eq!(tree(root.path()), Vec::<String>::new());
}

#[test]
fn unreadable_shapes_get_a_message_that_says_what_to_do_and_change_nothing() {
    const HEAD: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
    let deep = format!(
        "{HEAD}apiServer:\n  extraArgs: {}{}\n",
        "[".repeat(300),
        "]".repeat(300)
    );
    let huge = format!("{HEAD}clusterName: {}\n", "a".repeat(2 << 20));
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "tab",
            format!("{HEAD}networking:\n\tpodSubnet: 10.244.0.0/16\n").into_bytes(),
            ":4:1: a tab in the indentation; YAML indents with spaces only",
        ),
        (
            "duplicate key",
            format!("{HEAD}clusterName: a\nclusterName: b\n").into_bytes(),
            ":4:1: `clusterName` is set twice in one mapping (first at line 3)",
        ),
        (
            "a kind twice",
            format!("{HEAD}---\n{HEAD}clusterName: b\n").into_bytes(),
            ":4:1: a second ClusterConfiguration document (the first starts at line 1)",
        ),
        (
            "deep",
            deep.into_bytes(),
            "nested too deeply to be a configuration",
        ),
        (
            "huge",
            huge.into_bytes(),
            "bytes is not a configuration (kubestrap reads at most 1048576 bytes",
        ),
        (
            "not UTF-8",
            [format!("{HEAD}clusterName: x").as_bytes(), &[0xff, b'\n']].concat(),
            "not UTF-8 text",
        ),
    ];
    for (name, bytes, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kubeadm.yaml");
        std::fs::write(&file, bytes).unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let f = file.to_str().unwrap();
        let out = kubestrap(&["config", "validate", "--config", f]);
        assert_eq!(out.status.code(), Some(3), "{name}");
        assert!(text(&out).1.contains(says), "{name}: {}", text(&out).1);
        let out = kubestrap(&["init", "--config", f, "--root", root.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out).1);
        assert!(text(&out).1.contains(says), "{name}: {}", text(&out).1);
        assert_eq!(tree(&root), Vec::<String>::new(), "{name}");
    }
    // A byte-order mark is accepted, not called a second document.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.yaml");
    std::fs::write(&file, format!("\u{feff}{HEAD}clusterName: bom\n")).unwrap();
    let out = kubestrap(&["config", "validate", "--config", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
fn a_misspelled_component_flag_is_refused_with_the_closest_one_and_nothing_written() {
    let (code, stderr) = validate("invalid-unknown-flag.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid-unknown-flag.yaml:8:5: `apiServer.extraArgs.authorizaton-mode`: kube-apiserver v1.20.2 has no flag `--authorizaton-mode`, so it would not start. Did you mean `authorization-mode`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "Table: kubestrap's built-in flag list, from `kube-apiserver --help` of v1.20.2"
        ) && !stderr.contains("phases/flags"),
        "{stderr}"
    );
    let root = tempfile::tempdir().unwrap();
    let out = kubestrap(&[
        "init",
        "--config",
        &fixture("invalid-unknown-flag.yaml"),
        "--root",
        root.path().to_str().unwrap(),
    ]);
    let (_, init_stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{init_stderr}");
    assert!(
        init_stderr.contains("Did you mean `authorization-mode`?"),
        "{init_stderr}"
    );
    assert_eq!(tree(root.path()), Vec::<String>::new());
}

#[test]
fn a_flag_of_a_custom_build_passes_only_when_named_and_then_with_a_warning() {
    // Real v1.20.2 flags of every component pass (kube-apiserver's hidden --insecure-port too);
    // the custom one is refused until KUBESTRAP_ALLOW_UNKNOWN_FLAGS names it.
    let config = fixture("custom-flag-v1beta4.yaml");
    let (code, stderr) = validate("custom-flag-v1beta4.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("custom-flag-v1beta4.yaml:20:3: `apiServer.extraArgs[1]`: kube-apiserver v1.20.2 has no flag `--example-plugin-mode`")
            && stderr.contains("invalid configuration: "),
        "{stderr}"
    );
    let run = |allow: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubestrap"));
        cmd.args(args).env_remove("KUBESTRAP_ALLOW_UNKNOWN_FLAGS");
        if let Some(allow) = allow {
            cmd.env("KUBESTRAP_ALLOW_UNKNOWN_FLAGS", allow);
        }
        cmd.output().unwrap()
    };
    let out = run(
        Some("other-flag,example-plugin-mode"),
        &["config", "validate", "--config", &config],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let root = tempfile::tempdir().unwrap();
    let init = [
        "init",
        "phase",
        "control-plane",
        "apiserver",
        "--config",
        &config,
        "--root",
        root.path().to_str().unwrap(),
    ];
    let out = run(Some("other-flag"), &init);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    assert_eq!(tree(root.path()), Vec::<String>::new());
    let out = run(Some("example-plugin-mode"), &init);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("custom-flag-v1beta4.yaml:20:3: `apiServer.extraArgs[1]`: kube-apiserver v1.20.2 has no flag `--example-plugin-mode`; passed on as KUBESTRAP_ALLOW_UNKNOWN_FLAGS asks"),
        "{stderr}"
    );
    let manifest = std::fs::read_to_string(
        root.path()
            .join("etc/kubernetes/manifests/kube-apiserver.yaml"),
    )
    .unwrap();
    assert!(
        manifest.contains("- --example-plugin-mode=strict")
            && manifest.contains("- --insecure-port=0"),
        "{manifest}"
    );
}

#[test]
fn a_flag_kubernetes_removed_is_refused_for_the_versions_without_it() {
    // kube-apiserver v1.20.2 accepts --insecure-port (hidden, deprecated); v1.24 removed it.
    let dir = tempfile::tempdir().unwrap();
    for (version, ok) in [("v1.20.2", true), ("v1.24.0", false), ("v1.36.0", false)] {
        let path = dir.path().join(format!("{version}.yaml"));
        std::fs::write(
            &path,
            format!("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: {version}\napiServer:\n  extraArgs:\n    insecure-port: \"0\"\n"),
        )
        .unwrap();
        let out = kubestrap(&["config", "validate", "--config", path.to_str().unwrap()]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.success(), ok, "{version}: {stderr}");
        if !ok {
            assert!(
                stderr.contains(":6:5: `apiServer.extraArgs.insecure-port`: flag `--insecure-port` was removed from kube-apiserver in v1.24"),
                "{version}: {stderr}"
            );
        }
    }
}

#[test]
fn an_unknown_flag_of_a_version_without_its_own_table_is_a_warning_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.33.yaml");
    std::fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.33.1\napiServer:\n  extraArgs:\n  - name: authorizaton-mode\n    value: Node,RBAC\n",
    )
    .unwrap();
    let out = kubestrap(&["config", "validate", "--config", path.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("v1.33.yaml:6:3: `apiServer.extraArgs[0]`: kube-apiserver of v1.20 has no flag `--authorizaton-mode` (and v1.33.1 has no flag table of its own)")
            && stderr.contains("Did you mean `authorization-mode`?"),
        "{stderr}"
    );
}

/// Unknown fields, values, rules, component flags and what reset refuses: one run lists them
/// all, each with its line, in the file's order.
#[test]
fn validate_lists_every_kind_of_problem_in_one_run() {
    let (code, stderr) = validate("invalid-every-kind.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    let expected = [
        ("8:3", "unknown field `nodeRegistration.criSockett`"),
        ("10:3", "port number 99999 is not valid"),
        ("12:1", "unknown phase `bogus-phase`"),
        ("17:1", "\"bad endpoint:6443\" is not a valid host"),
        ("19:3", "couldn't parse subnet \"10.244.0.0/33\""),
        ("22:3", "has no flag `--authorization-mod`"),
        ("27:1", "`unmountFlags`: not supported by kubestrap's reset"),
        (
            "28:1",
            "`timeouts`: only `kubernetesAPICall` is used by kubestrap's reset",
        ),
    ];
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, (at, what)) in lines.iter().zip(expected) {
        assert!(
            line.contains(&format!("invalid-every-kind.yaml:{at}: ")) && line.contains(what),
            "{line}"
        );
    }
    // What validate refuses of the ResetConfiguration, reset refuses too.
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("reset.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nunmountFlags: [MNT_FORCE]\n",
    )
    .unwrap();
    let out = kubestrap(&[
        "reset",
        "--dry-run",
        "--root",
        root.path().to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("`unmountFlags` not supported by kubestrap's reset"),
        "{stderr}"
    );
    // The defaults printed are a file reset reads.
    let defaults = root.path().join("defaults.yaml");
    std::fs::write(
        &defaults,
        kubestrap(&["config", "print", "reset-defaults"]).stdout,
    )
    .unwrap();
    let out = kubestrap(&[
        "reset",
        "--dry-run",
        "--root",
        root.path().to_str().unwrap(),
        "--config",
        defaults.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&kubestrap(&["config", "print", "reset-defaults"]));
    assert!(!stdout.contains("timeouts"), "{stdout}");
}
