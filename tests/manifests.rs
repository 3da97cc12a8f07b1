//! Static pod manifests and kubelet files: golden files per version, modes, console lines,
//! determinism, schema validation with `kubernetes-validate`, and the removed-flag table.

use crate::support;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kubestrap_phases::config::{self, ApiVersion, Documents, ExternalEtcd, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::FakeHost;
use kubestrap_phases::phases::control_plane;
use kubestrap_phases::phases::etcd;
use kubestrap_phases::phases::kubelet as kubelet_start;
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;

/// Versions with golden files: the testbed's, the tutorial's and the newest supported.
const GOLDEN_VERSIONS: &[&str] = &["v1.20.2", "v1.25.0", "v1.36.0"];

/// Every file the manifest and kubelet phases write, as logical paths.
pub(crate) const WRITTEN: &[&str] = &[
    "/etc/kubernetes/manifests/etcd.yaml",
    "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "/etc/kubernetes/manifests/kube-controller-manager.yaml",
    "/etc/kubernetes/manifests/kube-scheduler.yaml",
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
];

pub(crate) fn host() -> FakeHost {
    FakeHost {
        root: true,
        hostname: "node1".into(),
        default_address: Some("192.168.0.10".parse().unwrap()),
        ..FakeHost::default()
    }
}

/// The fixed configuration of the golden files.
pub(crate) fn documents(version: &str) -> Documents {
    let mut docs = Documents::default();
    docs.init.node_registration.name = Some("node1".into());
    docs.init.node_registration.cri_socket =
        Some("unix:///var/run/containerd/containerd.sock".into());
    docs.init.local_api_endpoint.advertise_address = Some("192.168.0.10".into());
    docs.cluster.kubernetes_version = Some(version.into());
    docs.cluster.networking.pod_subnet = Some("10.244.0.0/16".into());
    docs
}

pub(crate) fn resolve(docs: Documents, base: &Path) -> config::Config {
    config::resolve(docs, &Overrides::default(), &Root::new(base), &host()).unwrap()
}

/// The `etcd`, `control-plane` and `kubelet-start` steps, in the version's order.
fn file_steps(ctx: &Context) -> Vec<runner::Step> {
    runner::plan(
        kubestrap_phases::workflows::init::phases(ctx.cfg.version),
        None,
        &[],
    )
    .unwrap()
    .into_iter()
    .filter(|s| {
        ["etcd/", "control-plane/", "kubelet-start"]
            .iter()
            .any(|p| s.path.starts_with(p))
    })
    .collect()
}

/// Runs `etcd`, `control-plane` and `kubelet-start` into `base`; returns the console lines.
pub(crate) fn run(cfg: config::Config, base: &Path) -> Vec<String> {
    let out = Arc::new(RecordingReporter::default());
    let mut ctx = Context::new(
        cfg,
        Root::new(base),
        Box::new(host()),
        Box::new(out.clone()),
        Options::default(),
    );
    runner::run(&file_steps(&ctx), &mut ctx, false).unwrap();
    out.lines()
        .into_iter()
        .filter(|l| !l.starts_with("phase "))
        .collect()
}

pub(crate) fn physical(base: &Path, logical: &str) -> PathBuf {
    base.join(logical.trim_start_matches('/'))
}

fn golden_dir(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(version)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The written files equal the golden files; `UPDATE_GOLDEN=1` rewrites the golden files instead.
#[test]
fn files_match_the_golden_files_of_each_version() {
    for version in GOLDEN_VERSIONS {
        let dir = tempfile::tempdir().unwrap();
        run(resolve(documents(version), dir.path()), dir.path());
        let mut files: Vec<&str> = WRITTEN.to_vec();
        if version.starts_with("v1.36") {
            files.push(kubelet_start::KUBELET_INSTANCE_CONFIG);
        }
        for file in files {
            let actual = std::fs::read_to_string(physical(dir.path(), file))
                .unwrap_or_else(|e| panic!("{version}: {file} was not written: {e}"));
            let golden = physical(&golden_dir(version), file);
            support::assert_golden(&golden, &actual, &format!("{version}: {file}"));
        }
    }
}

#[test]
fn writes_with_kubeadm_modes_and_console_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lines = run(resolve(documents("v1.25.0"), dir.path()), dir.path());
    let base = dir.path();
    assert_eq!(mode(&physical(base, "/etc/kubernetes/manifests")), 0o700);
    for file in &WRITTEN[..4] {
        assert_eq!(mode(&physical(base, file)), 0o600, "{file}");
    }
    assert_eq!(mode(&physical(base, "/var/lib/etcd")), 0o700);
    assert_eq!(mode(&physical(base, "/var/lib/kubelet")), 0o700);
    assert_eq!(mode(&physical(base, "/var/lib/kubelet/config.yaml")), 0o644);
    assert_eq!(
        mode(&physical(base, "/var/lib/kubelet/kubeadm-flags.env")),
        0o644
    );
    // kubeadm 1.25 order: kubelet-start, control-plane, etcd.
    assert_eq!(
        lines,
        [
            "[kubelet-start] Writing kubelet environment file with flags to file \"/var/lib/kubelet/kubeadm-flags.env\"",
            "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"",
            "[WARNING kubelet-start]: no service manager runs this host (PID 1 is `unknown`; neither systemd's `/run/systemd/system` nor OpenRC's runlevel exists), so kubestrap writes no kubelet unit and starts no kubelet. Start the kubelet yourself, and keep it running (start it again whenever it exits, as a service manager would), with:\n\n  /usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml --container-runtime=remote --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.8\n\nThere is no kubelet on the PATH either: install it first. kubestrap goes on and waits for that kubelet",
            "[control-plane] Using manifest folder \"/etc/kubernetes/manifests\"",
            "[control-plane] Creating static Pod manifest for \"kube-apiserver\"",
            "[control-plane] Creating static Pod manifest for \"kube-controller-manager\"",
            "[control-plane] Creating static Pod manifest for \"kube-scheduler\"",
            "[etcd] Creating static Pod manifest for local etcd in \"/etc/kubernetes/manifests\"",
        ]
    );
}

#[test]
fn output_is_byte_identical_for_the_same_input() {
    let read_all = |base: &Path| -> Vec<Vec<u8>> {
        WRITTEN
            .iter()
            .map(|f| std::fs::read(physical(base, f)).unwrap())
            .collect()
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run(resolve(documents("v1.36.0"), a.path()), a.path());
    run(resolve(documents("v1.36.0"), b.path()), b.path());
    assert_eq!(read_all(a.path()), read_all(b.path()));
}

/// Every manifest, for every supported minor, passes `kubernetes-validate --strict` against its
/// version's schemas (1.25's for older versions, the oldest it ships).
#[test]
fn manifests_pass_kubernetes_validate_strict() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for minor in 20..=36u32 {
        let version = format!("v1.{minor}.0");
        let base = dir.path().join(&version);
        let mut docs = documents(&version);
        docs.cluster.api_server.extra_envs = vec![config::EnvVar {
            name: "GODEBUG".into(),
            value: "x509sha1=1".into(),
        }];
        run(resolve(docs, &base), &base);
        let schema = format!("1.{}.0", minor.max(25));
        let files: Vec<PathBuf> = WRITTEN[..4].iter().map(|f| physical(&base, f)).collect();
        if let Some(report) = support::kubernetes_validate(&schema, &files) {
            failures.push(format!("{version} (schema {schema}): {report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The kubeadm.yaml of a v1.25 tutorial: v1beta3 with `runtime-config: "api/all=true"`.
#[test]
fn the_v1_25_tutorial_config_reaches_the_apiserver_flags() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config/tutorial-v1.25.yaml");
    let mut docs = config::load_file(&path).unwrap();
    assert_eq!(docs.api_version, Some(ApiVersion::V1Beta3));
    assert_eq!(docs.cluster.kubernetes_version.as_deref(), Some("v1.25.0"));
    docs.init.node_registration.name = Some("node1".into());
    docs.init.local_api_endpoint.advertise_address = Some("192.168.0.10".into());
    docs.init.node_registration.cri_socket =
        Some("unix:///var/run/containerd/containerd.sock".into());
    let dir = tempfile::tempdir().unwrap();
    let cfg = resolve(docs, dir.path());
    let command = control_plane::apiserver_command(&cfg);
    assert!(
        command.contains(&"--runtime-config=api/all=true".to_string()),
        "{command:?}"
    );
    let manifest =
        control_plane::apiserver_manifest(&cfg, &control_plane::HostFacts::default()).unwrap();
    assert!(
        manifest.contains("\n    - --runtime-config=api/all=true\n"),
        "{manifest}"
    );
}

/// An old tutorial's controller-manager flag is refused for a version without it, naming the
/// field, the flag, the component and the release that removed it, before anything is written.
#[test]
fn removed_flags_are_reported_with_field_component_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = documents("v1.25.0");
    let arg = |name: &str, value: &str| config::Arg {
        name: name.into(),
        value: value.into(),
    };
    docs.cluster
        .controller_manager
        .extra_args
        .args
        .push(arg("horizontal-pod-autoscaler-use-rest-clients", "true"));
    docs.cluster
        .api_server
        .extra_args
        .args
        .push(arg("insecure-port", "0"));
    let root = Root::new(dir.path());
    let err = config::resolve(docs.clone(), &Overrides::default(), &root, &host()).unwrap_err();
    let problems = &err.downcast_ref::<config::InvalidConfig>().unwrap().0;
    assert_eq!(problems.len(), 2, "{problems:?}");
    let hpa = &problems[1];
    for part in [
        "`controllerManager.extraArgs[0]`",
        "`--horizontal-pod-autoscaler-use-rest-clients`",
        "kube-controller-manager",
        "v1.21",
        "v1.25.0",
    ] {
        assert!(hpa.contains(part), "{part} missing from: {hpa}");
    }
    assert!(problems[0].contains("kube-apiserver") && problems[0].contains("v1.24"));
    assert!(support::tree(dir.path()).is_empty());
    // v1.20 still had both flags.
    docs.cluster.kubernetes_version = Some("v1.20.2".into());
    resolve(docs, dir.path());
}

#[test]
fn external_etcd_skips_the_local_manifest_and_points_the_apiserver_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = documents("v1.30.2");
    docs.cluster.etcd.local = None;
    docs.cluster.etcd.external = Some(ExternalEtcd {
        endpoints: vec![
            "https://10.0.0.5:2379".into(),
            "https://10.0.0.6:2379".into(),
        ],
        ca_file: "/srv/etcd/ca.crt".into(),
        cert_file: "/srv/etcd/client.crt".into(),
        key_file: "/srv/etcd/client.key".into(),
    });
    let lines = run(resolve(docs, dir.path()), dir.path());
    assert!(
        lines.contains(
            &"[etcd] External etcd mode: skipping the creation of a manifest for local etcd"
                .to_string()
        ),
        "{lines:?}"
    );
    assert!(!physical(dir.path(), "/etc/kubernetes/manifests/etcd.yaml").exists());
    let apiserver = std::fs::read_to_string(physical(
        dir.path(),
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
    ))
    .unwrap();
    for line in [
        "- --etcd-servers=https://10.0.0.5:2379,https://10.0.0.6:2379",
        "- --etcd-cafile=/srv/etcd/ca.crt",
        "- --etcd-certfile=/srv/etcd/client.crt",
        "- --etcd-keyfile=/srv/etcd/client.key",
        "name: etcd-certs-0",
        "path: /srv/etcd",
    ] {
        assert!(apiserver.contains(line), "{line} missing:\n{apiserver}");
    }
}

/// The user's KubeletConfiguration document wins over kubeadm's defaults.
#[test]
fn user_kubelet_configuration_is_merged_over_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = documents("v1.25.0");
    docs.kubelet = Some(
        serde_yaml::from_str(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\nmaxPods: 50\nauthentication:\n  webhook:\n    cacheTTL: 2m0s\nrotateCertificates: false\n",
        )
        .unwrap(),
    );
    let cfg = resolve(docs, dir.path());
    let text = kubestrap_phases::render::kubelet_config::kubelet_config(&cfg).unwrap();
    assert!(text.contains("\ncgroupDriver: cgroupfs\n"), "{text}");
    assert!(text.contains("\nmaxPods: 50\n"), "{text}");
    assert!(
        text.contains("    cacheTTL: 2m0s\n    enabled: true\n"),
        "{text}"
    );
    assert!(text.contains("\nrotateCertificates: true\n"), "{text}");
    assert!(text.contains("clusterDNS:\n- 10.96.0.10\n"), "{text}");
}

#[test]
fn etcd_manifest_follows_user_metrics_urls_and_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = documents("v1.31.0");
    docs.init.local_api_endpoint.advertise_address = Some("fd00::10".into());
    // An IPv6 advertise address needs an IPv6 (first) service subnet.
    docs.cluster.networking.service_subnet = "fd00:96::/112".into();
    let cfg = resolve(docs, dir.path());
    let text = etcd::etcd_manifest(&cfg).unwrap();
    for line in [
        "- --listen-client-urls=https://[::1]:2379,https://[fd00::10]:2379",
        "- --listen-metrics-urls=http://[::1]:2381",
        "kubeadm.kubernetes.io/etcd.advertise-client-urls: https://[fd00::10]:2379",
        "host: '::1'",
        "path: /livez",
        "path: /readyz",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}

/// In dry-run the phases leave the root untouched and journal every file they would write.
#[test]
fn dry_run_writes_nothing_and_journals_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = resolve(documents("v1.29.3"), dir.path());
    let out = Arc::new(RecordingReporter::default());
    let mut ctx = Context::new(
        cfg,
        Root::dry_run(dir.path()).unwrap(),
        Box::new(host()),
        Box::new(out),
        Options {
            dry_run: true,
            ..Options::default()
        },
    );
    runner::run(&file_steps(&ctx), &mut ctx, false).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let journaled: Vec<String> = ctx
        .root
        .changes()
        .into_iter()
        .filter_map(|c| match c {
            kubestrap_phases::fs::root::Change::Wrote { path, .. } => Some(path),
            _ => None,
        })
        .collect();
    for file in WRITTEN {
        assert!(
            journaled.iter().any(|p| p == file),
            "{file} not journaled: {journaled:?}"
        );
    }
}

/// kubeadm ≤1.30 rewrites a user's authorization mode to its valid modes; from 1.31 the user's
/// argument replaces the default as it is.
#[test]
fn authorization_mode_handling_follows_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let command = |version: &str| {
        let mut docs = documents(version);
        docs.cluster.api_server.extra_args.args.push(config::Arg {
            name: "authorization-mode".into(),
            value: "RBAC,Bogus".into(),
        });
        control_plane::apiserver_command(&resolve(docs, dir.path()))
    };
    let old = command("v1.25.0");
    assert!(
        old.contains(&"--authorization-mode=RBAC".to_string()),
        "{old:?}"
    );
    let new = command("v1.31.0");
    assert!(
        new.contains(&"--authorization-mode=RBAC,Bogus".to_string()),
        "{new:?}"
    );
    assert_eq!(
        new.iter()
            .filter(|a| a.starts_with("--authorization-mode="))
            .count(),
        1
    );
}
