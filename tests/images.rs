//! `config images list|pull`: kubeadm's order and tags, and the same images as the manifests
//! and addons init writes, for every supported minor.

use std::collections::BTreeSet;
use std::sync::Arc;

use kubestrap_phases::fs::root::Root;
use kubestrap_phases::phases::addons;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::version::{NEWEST_MINOR, OLDEST_MINOR, images};

use crate::manifests::{WRITTEN, documents, host, physical, resolve, run};
use crate::support::{kubestrap, text};

/// The `image:` of every container of a YAML document.
fn container_images(yaml: &str) -> Vec<String> {
    let value: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    let spec = if value["kind"] == "Deployment" {
        &value["spec"]["template"]["spec"]
    } else {
        &value["spec"]
    };
    spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_list_is_what_init_runs_for_every_minor() {
    for minor in OLDEST_MINOR..=NEWEST_MINOR {
        let version = format!("v1.{minor}.0");
        let tmp = tempfile::tempdir().unwrap();
        let cfg = resolve(documents(&version), tmp.path());
        let listed = images::all(&cfg);
        let ctx = Context::new(
            cfg.clone(),
            Root::new(tmp.path()),
            Box::new(host()),
            Box::new(Arc::new(RecordingReporter::default())),
            Options::default(),
        );
        let coredns = addons::coredns_objects(&ctx)
            .unwrap()
            .into_iter()
            .find(|o| o["kind"] == "Deployment")
            .unwrap();
        run(cfg.clone(), tmp.path());
        let mut used: BTreeSet<String> = WRITTEN[..4]
            .iter()
            .flat_map(|f| {
                container_images(&std::fs::read_to_string(physical(tmp.path(), f)).unwrap())
            })
            .collect();
        used.extend(container_images(&serde_yaml::to_string(&coredns).unwrap()));
        used.insert(images::control_plane(&cfg, "kube-proxy"));
        let flags =
            std::fs::read_to_string(physical(tmp.path(), "/var/lib/kubelet/kubeadm-flags.env"))
                .unwrap();
        if let Some(pause) = flags
            .split(['"', ' '])
            .find_map(|a| a.strip_prefix("--pod-infra-container-image="))
        {
            assert_eq!(pause, listed[5], "{version}");
        }
        // Everything but pause (the runtime's sandbox image) is in a manifest or an addon.
        let mut expected: BTreeSet<String> = listed.iter().cloned().collect();
        expected.remove(&listed[5]);
        assert_eq!(used, expected, "{version}");
        assert_eq!(listed.len(), 7, "{version}");
    }
}

#[test]
fn list_prints_kubeadm_order_and_tags() {
    let out = kubestrap(&[
        "config",
        "images",
        "list",
        "--kubernetes-version",
        "v1.31.0",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "registry.k8s.io/kube-apiserver:v1.31.0\nregistry.k8s.io/kube-controller-manager:v1.31.0\nregistry.k8s.io/kube-scheduler:v1.31.0\nregistry.k8s.io/kube-proxy:v1.31.0\nregistry.k8s.io/coredns/coredns:v1.11.1\nregistry.k8s.io/pause:3.10\nregistry.k8s.io/etcd:3.5.15-0\n"
    );
    // A registry of one's own holds CoreDNS at its top level, as kubeadm expects.
    let out = kubestrap(&[
        "config",
        "images",
        "list",
        "--kubernetes-version",
        "v1.26.3",
        "--image-repository",
        "registry.example:5000/k8s",
        "-o",
        "json",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["kind"], "Images");
    assert_eq!(doc["images"][4], "registry.example:5000/k8s/coredns:v1.9.3");
    assert_eq!(doc["images"][6], "registry.example:5000/k8s/etcd:3.5.6-0");
}

#[test]
fn list_follows_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kubeadm.yaml");
    std::fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.33.2\nimageRepository: mirror.example\netcd:\n  external:\n    endpoints: [https://10.0.0.9:2379]\ndns:\n  imageTag: v9.9.9\nproxy:\n  disabled: true\n",
    )
    .unwrap();
    let out = kubestrap(&[
        "config",
        "images",
        "list",
        "--config",
        path.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "mirror.example/kube-apiserver:v1.33.2",
            "mirror.example/kube-controller-manager:v1.33.2",
            "mirror.example/kube-scheduler:v1.33.2",
            "mirror.example/coredns:v9.9.9",
            "mirror.example/pause:3.10",
        ]
    );
    let out = kubestrap(&[
        "config",
        "images",
        "list",
        "--config",
        path.to_str().unwrap(),
        "--kubernetes-version",
        "v1.30.0",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
}

/// Without a runtime, pull says where it looked and what to do.
#[test]
fn pull_without_a_runtime_names_the_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let out = kubestrap(&[
        "config",
        "images",
        "pull",
        "--kubernetes-version",
        "v1.30.0",
        "--cri-socket",
        "unix:///run/nothing.sock",
        "--root",
        tmp.path().to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the container runtime"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing.sock"), "{stderr}");
}

#[test]
fn a_worker_lists_what_runs_beyond_the_control_plane_for_every_minor() {
    for minor in OLDEST_MINOR..=NEWEST_MINOR {
        let version = format!("v1.{minor}.0");
        let tmp = tempfile::tempdir().unwrap();
        let cfg = resolve(documents(&version), tmp.path());
        let all = images::all(&cfg);
        // kube-proxy (a DaemonSet), CoreDNS (a Deployment, placed anywhere), the sandbox image.
        assert_eq!(
            images::worker(&cfg.cluster, cfg.version),
            [all[3].clone(), all[4].clone(), all[5].clone()],
            "{version}"
        );
    }
    let out = kubestrap(&[
        "config",
        "images",
        "list",
        "--worker",
        "--kubernetes-version",
        "v1.31.0",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "registry.k8s.io/kube-proxy:v1.31.0\nregistry.k8s.io/coredns/coredns:v1.11.1\nregistry.k8s.io/pause:3.10\n"
    );
}
