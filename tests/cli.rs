//! The binary's command line: help, phase selection, exit codes.

use crate::support::{kubestrap, text};

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
    let out = kubestrap(&[
        "init",
        "--dry-run",
        "--root",
        root.path().to_str().unwrap(),
        "--node-name",
        "n1",
        "--apiserver-advertise-address",
        "10.0.0.1",
        "--kubernetes-version",
        "v1.25.0",
        "--skip-phases",
        "cert",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown phase `cert`"), "{stderr}");
    assert!(stderr.contains("certs/ca"), "{stderr}");
}

#[test]
fn readme_lists_the_phases_of_init_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (help, _) = text(&kubestrap(&["init", "--help"]));
    let phases = &help[help.find("The \"init\" command executes").unwrap()..];
    assert!(
        readme.contains(phases.trim_end()),
        "README.md's phase list differs from `kubestrap init --help`; paste this into it:\n{phases}"
    );
}
