//! `config migrate` (v1beta3 → v1beta4), `config print join-defaults|reset-defaults`, and
//! `config validate` of JoinConfiguration and ResetConfiguration documents.

use std::path::{Path, PathBuf};

use kubestrap_phases::config::join::{JoinFlags, resolve_join};
use kubestrap_phases::config::{self, ApiVersion};
use kubestrap_phases::fs::root::Root;

use crate::manifests::{WRITTEN, host, physical, resolve, run};
use crate::support::{kubestrap, text};

const V1BETA3_FIXTURES: &[&str] = &[
    "tutorial-v1.25.yaml",
    "v1beta3-full.yaml",
    "v1beta3-join.yaml",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/config")
        .join(name)
}

/// Migrates a fixture with the binary into `dir`; returns the new file.
fn migrate(name: &str, dir: &Path) -> PathBuf {
    let new = dir.join(name);
    let out = kubestrap(&[
        "config",
        "migrate",
        "--old-config",
        fixture(name).to_str().unwrap(),
        "--new-config",
        new.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{name}: {}", text(&out).1);
    new
}

/// The files init writes from a config file (node-specific values filled in alike).
fn init_files(path: &Path, base: &Path) -> Vec<String> {
    let mut docs = config::load_file(path).unwrap();
    docs.init.node_registration.name = Some("node1".into());
    docs.init.local_api_endpoint.advertise_address = Some("192.168.0.10".into());
    docs.init.node_registration.cri_socket =
        Some("unix:///var/run/containerd/containerd.sock".into());
    run(resolve(docs, base), base);
    WRITTEN
        .iter()
        .map(|f| std::fs::read_to_string(physical(base, f)).unwrap())
        .collect()
}

#[test]
fn each_v1beta3_fixture_migrates_to_a_valid_v1beta4_file_with_the_same_effect() {
    let tmp = tempfile::tempdir().unwrap();
    for name in V1BETA3_FIXTURES {
        let old = fixture(name);
        assert_eq!(
            config::load_file(&old).unwrap().api_version,
            Some(ApiVersion::V1Beta3),
            "{name}"
        );
        let new = migrate(name, tmp.path());
        let text = std::fs::read_to_string(&new).unwrap();
        assert!(!text.contains('#'), "{name}: comments are dropped\n{text}");
        assert!(!text.contains("timeoutForControlPlane"), "{name}\n{text}");
        let docs = config::load_file(&new).unwrap();
        assert_eq!(docs.api_version, Some(ApiVersion::V1Beta4), "{name}");
        let out = kubestrap(&["config", "validate", "--config", new.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{name}: {}",
            crate::support::text(&out).1
        );
        let old_docs = config::load_file(&old).unwrap();
        if old_docs.has_init_kinds {
            let a = init_files(&old, &tmp.path().join(format!("{name}-old")));
            let b = init_files(&new, &tmp.path().join(format!("{name}-new")));
            assert_eq!(a, b, "{name}: the migrated file deploys differently");
            assert_eq!(old_docs.kubelet, docs.kubelet, "{name}");
            assert_eq!(old_docs.kube_proxy, docs.kube_proxy, "{name}");
        }
        if old_docs.join.is_some() {
            let root = Root::new(tmp.path());
            let mut a = resolve_join(old_docs, &JoinFlags::default(), &root, &host()).unwrap();
            let b = resolve_join(docs, &JoinFlags::default(), &root, &host()).unwrap();
            assert_eq!(a.join, b.join, "{name}");
            assert_eq!(
                a.join.unwrap().discovery_timeout,
                std::time::Duration::from_secs(120)
            );
            // The same arguments; only the form they were written in differs.
            a.init.node_registration.kubelet_extra_args.from_map = false;
            assert_eq!(a.init.node_registration, b.init.node_registration, "{name}");
        }
    }
}

#[test]
fn migrate_maps_the_fields_kubeadm_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = config::load_file(&migrate("v1beta3-full.yaml", tmp.path())).unwrap();
    assert_eq!(
        docs.init.timeouts.control_plane_component_health_check,
        "6m0s"
    );
    let args: Vec<(&str, &str)> = docs
        .cluster
        .api_server
        .extra_args
        .args
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(
        args,
        [
            ("audit-log-maxage", "30"),
            ("authorization-mode", "Node,RBAC")
        ]
    );
    assert!(!docs.cluster.api_server.extra_args.from_map);
    // Without --new-config the result goes to standard output.
    let out = kubestrap(&[
        "config",
        "migrate",
        "--old-config",
        fixture("v1beta3-join.yaml").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("timeouts:\n  controlPlaneComponentHealthCheck: 4m0s\n  discovery: 2m0s\n"),
        "{stdout}"
    );
    // A file kubestrap refuses is not migrated.
    let out = kubestrap(&[
        "config",
        "migrate",
        "--old-config",
        fixture("invalid-unknown-field.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn printed_join_and_reset_defaults_validate() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, expect) in [
        (
            vec!["config", "print", "join-defaults"],
            "kind: JoinConfiguration",
        ),
        (
            vec![
                "config",
                "print",
                "join-defaults",
                "--api-version",
                "kubeadm.k8s.io/v1beta3",
            ],
            "  timeout: 5m0s",
        ),
        (
            vec!["config", "print", "reset-defaults"],
            "kind: ResetConfiguration",
        ),
    ] {
        let out = kubestrap(&args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stdout.contains(expect), "{stdout}");
        let path = tmp.path().join("printed.yaml");
        std::fs::write(&path, &stdout).unwrap();
        let out = kubestrap(&["config", "validate", "--config", path.to_str().unwrap()]);
        assert!(out.status.success(), "{args:?}: {}", text(&out).1);
    }
}

#[test]
fn validate_reports_join_and_reset_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1\n    token: abc\n    caCertHashes: [md5:00]\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nunmountFlags: [MNT_FORCE, MNT_BOGUS]\ncertificatesDir: pki\n",
    )
    .unwrap();
    let out = kubestrap(&["config", "validate", "--config", path.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for says in [
        "`discovery.bootstrapToken.token`",
        "`discovery.bootstrapToken.apiServerEndpoint`",
        "`discovery.bootstrapToken.caCertHashes[0]`",
        "`unmountFlags[1]`: unknown unmount flag MNT_BOGUS",
        "`certificatesDir`: path \"pki\" is not absolute",
    ] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    assert!(
        stderr.contains("bad.yaml:12:1: `certificatesDir`"),
        "reset problems point into the file: {stderr}"
    );
    std::fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ResetConfiguration\nforce: true\n",
    )
    .unwrap();
    let out = kubestrap(&["config", "validate", "--config", path.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("new in kubeadm.k8s.io/v1beta4"), "{stderr}");
}
