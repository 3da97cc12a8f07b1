//! `--patches` / `patches.directory`: each patch type on each target against golden files for
//! v1.25.0 and the newest version, the results checked by `kubernetes-validate --strict`, and
//! every kind of bad patch refused before anything is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kubestrap_phases::config::{self, EnvVar, Patches};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::phases::addons;
use kubestrap_phases::render::patches::Target;
use kubestrap_phases::render::templates;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;

use crate::manifests::{WRITTEN, documents, host, physical, resolve, run};
use crate::support::{assert_golden, kubestrap_on, text, tree};

const VERSIONS: &[&str] = &["v1.25.0", "v1.36.0"];
const TYPES: &[&str] = &["strategic", "merge", "json"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The fixture patches of one type, less the targets this version's kubeadm does not patch.
fn patch_dir(kind: &str, version: &str, into: &Path) -> PathBuf {
    let dir = into.join(format!("patches-{kind}"));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures().join("patches").join(kind)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("corednsdeployment") && version == "v1.25.0" {
            continue;
        }
        std::fs::copy(&path, dir.join(name)).unwrap();
    }
    dir
}

/// The golden configuration with an environment variable on every component, and the patches.
fn config_with_patches(version: &str, dir: &Path, base: &Path) -> config::Config {
    let mut docs = documents(version);
    let env = vec![EnvVar {
        name: "GODEBUG".into(),
        value: "x509sha1=1".into(),
    }];
    docs.cluster.api_server.extra_envs = env.clone();
    docs.cluster.controller_manager.extra_envs = env.clone();
    docs.cluster.scheduler.extra_envs = env.clone();
    docs.cluster.etcd.local.as_mut().unwrap().extra_envs = env;
    docs.init.patches = Some(Patches {
        directory: dir.display().to_string(),
    });
    resolve(docs, base)
}

/// The CoreDNS Deployment init would apply, patched, as YAML.
fn coredns_deployment(cfg: config::Config, base: &Path) -> String {
    let ctx = Context::new(
        cfg,
        Root::new(base),
        Box::new(host()),
        Box::new(Arc::new(RecordingReporter::default())),
        Options::default(),
    );
    let mut deployment = addons::coredns_objects(&ctx)
        .unwrap()
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    let set = ctx.cfg.patches.clone().unwrap();
    set.apply_value(Target::CorednsDeployment, &mut deployment, &mut |_| {})
        .unwrap();
    templates::yaml(&deployment)
}

fn read(base: &Path, file: &str) -> String {
    std::fs::read_to_string(physical(base, file)).unwrap()
}

/// Writes every patched file of one version and type into `base`; returns the console lines.
fn patched_run(version: &str, kind: &str, base: &Path) -> Vec<String> {
    let dir = patch_dir(kind, version, base);
    let root = base.join("root");
    run(config_with_patches(version, &dir, &root), &root)
}

#[test]
fn patched_files_match_the_golden_files() {
    for version in VERSIONS {
        for kind in TYPES {
            let tmp = tempfile::tempdir().unwrap();
            let lines = patched_run(version, kind, tmp.path());
            let root = tmp.path().join("root");
            let media = match *kind {
                "strategic" => "application/strategic-merge-patch+json",
                "merge" => "application/merge-patch+json",
                _ => "application/json-patch+json",
            };
            for target in [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kubeletconfiguration",
            ] {
                let line =
                    format!("[patches] Applied patch of type \"{media}\" to target \"{target}\"");
                assert!(lines.contains(&line), "{version} {kind}: {lines:#?}");
            }
            let mut files: Vec<(String, String)> = WRITTEN[..5]
                .iter()
                .map(|f| (f.rsplit('/').next().unwrap().to_string(), read(&root, f)))
                .collect();
            if *version != "v1.25.0" {
                let dir = tmp.path().join(format!("patches-{kind}"));
                let cfg = config_with_patches(version, &dir, &root);
                files.push((
                    "coredns-deployment.yaml".into(),
                    coredns_deployment(cfg, &root),
                ));
            }
            for (name, actual) in files {
                let golden = fixtures()
                    .join("golden/patches")
                    .join(version)
                    .join(kind)
                    .join(&name);
                assert_golden(&golden, &actual, &format!("{version} {kind} {name}"));
            }
        }
    }
}

/// What each patch type is meant to do happened, and nothing else went missing.
#[test]
fn each_patch_type_does_what_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    patched_run("v1.36.0", "strategic", &tmp.path().join("s"));
    patched_run("v1.36.0", "merge", &tmp.path().join("m"));
    patched_run("v1.36.0", "json", &tmp.path().join("j"));
    let pod = |dir: &str, file: &str| -> serde_json::Value {
        serde_yaml::from_str(&read(&tmp.path().join(dir).join("root"), file)).unwrap()
    };
    for file in &WRITTEN[..4] {
        // Strategic: the env var is added beside the configured one; the command is kept.
        let p = pod("s", file);
        let c = &p["spec"]["containers"][0];
        let names: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["GODEBUG", "PATCHED_BY"], "{file}");
        assert!(c["command"].as_array().unwrap().len() > 3, "{file}");
        assert_eq!(c["resources"]["requests"]["memory"], "128Mi", "{file}");
        // Merge: the annotation is added beside the others (etcd's and the apiserver's own).
        let p = pod("m", file);
        assert_eq!(p["metadata"]["annotations"]["example.com/patched"], "true");
        assert_eq!(p["metadata"]["labels"]["tier"], "control-plane");
    }
    let apiserver = pod("j", "/etc/kubernetes/manifests/kube-apiserver.yaml");
    let command: Vec<&str> = apiserver["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(command.contains(&"--advertise-address=192.168.0.20"));
    assert!(!command.contains(&"--advertise-address=192.168.0.10"));
    assert_eq!(command.last(), Some(&"--event-ttl=2h"));
    let kubelet: serde_json::Value = serde_yaml::from_str(&read(
        &tmp.path().join("j/root"),
        "/var/lib/kubelet/config.yaml",
    ))
    .unwrap();
    assert_eq!(kubelet["cgroupDriver"], "cgroupfs");
}

/// The writer of patched documents lays out an unpatched manifest exactly as the templates do
/// (kubeadm's layout), so a patch changes only what it patches.
#[test]
fn unpatched_documents_round_trip_byte_for_byte() {
    for version in ["v1.20.2", "v1.25.0", "v1.36.0"] {
        for file in &WRITTEN[..5] {
            let golden = physical(&fixtures().join("golden").join(version), file);
            let text = std::fs::read_to_string(&golden).unwrap();
            let value: serde_json::Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(templates::yaml(&value), text, "{}", golden.display());
        }
    }
}

#[test]
fn patched_manifests_pass_kubernetes_validate_strict() {
    let mut failures = Vec::new();
    for version in VERSIONS {
        for kind in TYPES {
            let tmp = tempfile::tempdir().unwrap();
            patched_run(version, kind, tmp.path());
            let root = tmp.path().join("root");
            let mut files: Vec<PathBuf> = WRITTEN[..4].iter().map(|f| physical(&root, f)).collect();
            if *version != "v1.25.0" {
                let dir = tmp.path().join(format!("patches-{kind}"));
                let cfg = config_with_patches(version, &dir, &root);
                let path = tmp.path().join("coredns-deployment.yaml");
                std::fs::write(&path, coredns_deployment(cfg, &root)).unwrap();
                files.push(path);
            }
            let schema = version.trim_start_matches('v');
            if let Some(report) = crate::support::kubernetes_validate(schema, &files) {
                failures.push(format!("{version} {kind}: {report}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each bad patch is refused (exit 3, the file named) and nothing is written under the root.
#[test]
fn bad_patches_are_refused_before_anything_is_written() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("v1.25.0", "kube-apiserver.txt", "a: 1\n", "file extension"),
        ("v1.25.0", "kube-proxy.yaml", "a: 1\n", "unknown target"),
        ("v1.25.0", "etcd+xml.yaml", "a: 1\n", "patch type"),
        (
            "v1.24.0",
            "kubeletconfiguration.yaml",
            "maxPods: 1\n",
            "from Kubernetes 1.25",
        ),
        ("v1.25.0", "etcd.yaml", "spec: [1\n", "not valid YAML"),
        ("v1.25.0", "etcd+json.yaml", "op: add\n", "RFC 6902"),
        (
            "v1.25.0",
            "kube-scheduler+json.yaml",
            "- op: test\n  path: /spec/containers/0/command/1\n  value: --nope\n",
            "does not apply",
        ),
        (
            "v1.25.0",
            "kube-apiserver.yaml",
            "spec:\n  containers:\n  - image: x\n",
            "has no `name`",
        ),
        (
            "v1.25.0",
            "kube-controller-manager+merge.yaml",
            "spec:\n  containers: null\n",
            "is not valid",
        ),
        (
            "v1.25.0",
            "etcd.yaml",
            "spec:\n  containers:\n  - name: etcd\n    volumeMounts:\n    - name: nowhere\n      mountPath: /x\n",
            "does not have",
        ),
    ];
    for (version, name, content, says) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("patches");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(name), content).unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let out = kubestrap_on(
            &root,
            &[
                "init",
                "--kubernetes-version",
                version,
                "--cri-socket",
                "unix:///var/run/containerd/containerd.sock",
                "--patches",
                dir.to_str().unwrap(),
            ],
        );
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name} is not named: {stderr}");
        assert_eq!(tree(&root), Vec::<String>::new(), "{name}");
    }
}

/// The patched KubeletConfiguration is this node's file only: the cluster's ConfigMap gets
/// kubeadm's; the CoreDNS Deployment sent to the API server carries its patch.
#[test]
fn kubelet_patches_stay_on_the_node_and_coredns_patches_reach_the_cluster() {
    use kubestrap_phases::api::fake::FakeApi;
    use kubestrap_phases::api::{Client, Retry};
    use kubestrap_phases::phases::kubelet as kubelet_start;
    use kubestrap_phases::phases::upload_config;

    let tmp = tempfile::tempdir().unwrap();
    let dir = patch_dir("strategic", "v1.36.0", tmp.path());
    let root = tmp.path().join("root");
    let fake = FakeApi::new();
    let mut ctx = Context::new(
        config_with_patches("v1.36.0", &dir, &root),
        Root::new(&root),
        Box::new(host()),
        Box::new(Arc::new(RecordingReporter::default())),
        Options::default(),
    );
    ctx.set_api(Client::new(Box::new(fake.clone()), Retry::immediate()));
    kubelet_start::write_files(&mut ctx).unwrap();
    assert!(read(&root, "/var/lib/kubelet/config.yaml").contains("maxPods: 50\n"));
    upload_config::kubelet(&mut ctx).unwrap();
    let uploaded = fake
        .object("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
        .unwrap();
    let uploaded = uploaded["data"]["kubelet"].as_str().unwrap();
    assert!(!uploaded.contains("maxPods"), "{uploaded}");
    assert_eq!(
        uploaded,
        kubestrap_phases::render::kubelet_config::kubelet_config(&ctx.cfg).unwrap(),
        "the cluster gets kubeadm's KubeletConfiguration"
    );
    addons::coredns(&mut ctx).unwrap();
    let deployment = fake
        .object("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
        .unwrap();
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["name"], "PATCHED_BY", "{deployment:#}");
}
