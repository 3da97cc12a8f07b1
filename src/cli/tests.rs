use super::*;

fn parse_from(args: &[&str]) -> Invocation {
    let matches = build().try_get_matches_from(args).unwrap();
    from_matches(&matches).unwrap()
}

#[test]
fn cli_is_valid() {
    build().debug_assert();
}

#[test]
fn flags_before_phase_are_refused_not_dropped() {
    for args in [
        &[
            "kubestrap",
            "init",
            "--config",
            "k.yaml",
            "phase",
            "preflight",
        ][..],
        &["kubestrap", "reset", "--force", "phase", "cleanup-node"],
    ] {
        let err = build().try_get_matches_from(args).unwrap_err();
        assert_eq!(
            err.kind(),
            clap::error::ErrorKind::ArgumentConflict,
            "{args:?}"
        );
    }
    let ok = parse_from(&[
        "kubestrap",
        "init",
        "phase",
        "preflight",
        "--config",
        "k.yaml",
    ]);
    assert_eq!(ok.init_phase.as_deref(), Some("preflight"));
}

#[test]
fn phase_subcommands_give_the_phase_path_and_flags() {
    let inv = parse_from(&[
        "kubestrap",
        "init",
        "phase",
        "certs",
        "ca",
        "--root",
        "/tmp/n1",
        "--dry-run",
    ]);
    assert_eq!(inv.init_phase.as_deref(), Some("certs/ca"));
    assert_eq!(inv.cli.root, PathBuf::from("/tmp/n1"));
    let Cmd::Init(args) = inv.cli.command else {
        panic!("not init")
    };
    assert!(args.dry_run);
}

#[test]
fn all_runs_the_whole_group() {
    let inv = parse_from(&["kubestrap", "init", "phase", "certs", "all"]);
    assert_eq!(inv.init_phase.as_deref(), Some("certs"));
}

#[test]
fn plain_init_has_no_phase() {
    let inv = parse_from(&["kubestrap", "init", "--skip-phases", "certs/ca,kubeconfig"]);
    assert!(inv.init_phase.is_none());
    let Cmd::Init(args) = inv.cli.command else {
        panic!("not init")
    };
    assert_eq!(args.skip_phases, ["certs/ca", "kubeconfig"]);
}

#[test]
fn reset_phases_parse_with_the_reset_flags() {
    let inv = parse_from(&["kubestrap", "reset", "phase", "cleanup-node", "--force"]);
    assert_eq!(inv.reset_phase.as_deref(), Some("cleanup-node"));
    let Cmd::Reset(args) = inv.cli.command else {
        panic!("not reset")
    };
    assert!(args.force);
    let inv = parse_from(&[
        "kubestrap",
        "reset",
        "-f",
        "--skip-phases",
        "remove-etcd-member",
    ]);
    assert!(inv.reset_phase.is_none());
}

#[test]
fn sub_phases_of_every_version_parse() {
    for path in [
        "kubelet-finalize/experimental-cert-rotation",
        "kubelet-finalize/enable-client-cert-rotation",
        "kubeconfig/super-admin",
    ] {
        let mut args = vec!["kubestrap", "init", "phase"];
        args.extend(path.split('/'));
        assert_eq!(parse_from(&args).init_phase.as_deref(), Some(path));
    }
}

#[test]
fn kubeconfig_comes_from_the_flag_then_the_environment_then_admin_conf() {
    assert_eq!(
        resolve_kubeconfig(Some("/f.conf"), Some("/e.conf")),
        "/f.conf"
    );
    assert_eq!(resolve_kubeconfig(None, Some("/e.conf")), "/e.conf");
    assert_eq!(
        resolve_kubeconfig(None, Some("::/a.conf:/b.conf")),
        "/a.conf"
    );
    assert_eq!(resolve_kubeconfig(None, Some("")), DEFAULT_KUBECONFIG);
    assert_eq!(resolve_kubeconfig(None, None), DEFAULT_KUBECONFIG);
}

#[test]
fn short_v_and_kubeadm_v_levels_do_not_clash() {
    let verbose = |args: &[&str]| {
        let mut all = vec!["kubestrap"];
        all.extend(args);
        all.extend(["token", "generate"]);
        parse_from(&all).cli.verbose()
    };
    assert!(!verbose(&[]));
    assert!(verbose(&["-v"]));
    assert!(verbose(&["--v=5"]));
    assert!(verbose(&["--v", "1"]));
    assert!(verbose(&["-v", "--v=0"]));
    assert!(!verbose(&["--v=0"]));
    assert!(
        build()
            .try_get_matches_from(["kubestrap", "--v=-1", "token", "generate"])
            .is_err()
    );
}

#[test]
fn upgrade_node_phases_and_explicit_booleans_parse() {
    let inv = parse_from(&[
        "kubestrap",
        "upgrade",
        "node",
        "phase",
        "kubelet-config",
        "--dry-run",
    ]);
    assert_eq!(inv.upgrade_node_phase.as_deref(), Some("kubelet-config"));
    let Cmd::Upgrade(UpgradeCmd::Node(args)) = inv.cli.command else {
        panic!("not upgrade node: {:?}", inv.cli.command);
    };
    assert!(args.common.dry_run);
    let inv = parse_from(&[
        "kubestrap",
        "upgrade",
        "apply",
        "v1.20.3",
        "--etcd-upgrade=false",
        "--certificate-renewal",
        "-y",
    ]);
    let Cmd::Upgrade(UpgradeCmd::Apply(args)) = inv.cli.command else {
        panic!("not upgrade apply");
    };
    assert_eq!(args.target.as_deref(), Some("v1.20.3"));
    assert_eq!(args.common.etcd_upgrade, Some(false));
    assert_eq!(args.common.certificate_renewal, Some(true));
    assert!(args.yes);
    // Not given: the file's setting, else the default, decides.
    let inv = parse_from(&["kubestrap", "upgrade", "node"]);
    let Cmd::Upgrade(UpgradeCmd::Node(args)) = inv.cli.command else {
        panic!("not upgrade node");
    };
    assert_eq!(args.common.etcd_upgrade, None);
    assert!(inv.upgrade_node_phase.is_none());
}
