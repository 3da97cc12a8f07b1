//! The steps of `kubestrap upgrade` against the fake API server: the cluster read once and
//! planned, the refusal of an unhealthy control plane, and what follows the control plane
//! (kubeadm-config, the kubelet's ConfigMap and file, kube-proxy with the cluster's own
//! configuration, CoreDNS skipped when absent and its Corefile kept when present).

use std::time::Duration;

use kubestrap_phases::api::fake::FakeApi;
use kubestrap_phases::api::{Client, Retry};
use kubestrap_phases::config::kubeadm_config;
use kubestrap_phases::phases::upgrade::{self, ClusterView, Record, Settings};
use kubestrap_phases::runner::context::Context;
use kubestrap_phases::version::KubeVersion;
use kubestrap_phases::workflows::upgrade::plan;
use serde_json::{Value, json};

use crate::api::{context, seed};

const REPO: &str = "registry.k8s.io";

fn v(text: &str) -> KubeVersion {
    KubeVersion::parse(text).unwrap()
}

fn settings(ignore: &[&str]) -> Settings {
    Settings {
        from: v("v1.20.2"),
        to: v("v1.20.3"),
        certificate_renewal: true,
        etcd_upgrade: true,
        timeout: Duration::from_secs(1),
        ignore_preflight_errors: ignore.iter().map(|s| s.to_string()).collect(),
        images: Vec::new(),
        image_pull_policy: "IfNotPresent".into(),
        kubelet_from_file: false,
        kube_proxy_from_file: false,
    }
}

fn node(name: &str, kubelet: &str, control_plane: bool, ready: bool) -> Value {
    let mut labels = json!({});
    if control_plane {
        labels["node-role.kubernetes.io/master"] = json!("");
    }
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"nodeInfo": {"kubeletVersion": kubelet},
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

fn mirror_pod(component: &str, image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{component}-node1"), "namespace": "kube-system",
            "annotations": {"kubernetes.io/config.hash": "abc"}},
        "spec": {"containers": [{"name": component, "image": image}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

/// A two-node v1.20.2 cluster as kubestrap init and join leave it (without CoreDNS), its
/// kubeadm-config made from `ctx`'s configuration at v1.20.2.
fn cluster(fake: &FakeApi, ctx: &Context) {
    let mut old = ctx.cfg.clone();
    old.version = v("v1.20.2");
    fake.put(
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": kubeadm_config::cluster_configuration(&old).unwrap()}}),
    );
    fake.put("/version", json!({"gitVersion": "v1.20.2"}));
    fake.put("/api/v1/nodes/node1", node("node1", "v1.20.2", true, true));
    fake.put("/api/v1/nodes/node2", node("node2", "v1.20.2", false, true));
    for c in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let image = if c == "etcd" {
            format!("{REPO}/etcd:3.4.13-0")
        } else {
            format!("{REPO}/{c}:v1.20.2")
        };
        fake.put(
            &format!("/api/v1/namespaces/kube-system/pods/{c}-node1"),
            mirror_pod(c, &image),
        );
    }
    fake.put(
        "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy",
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "kube-proxy", "image": format!("{REPO}/kube-proxy:v1.20.2")}]}}}}),
    );
    fake.put(
        "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"}}),
    );
    fake.put(
        "/api/v1/namespaces/kube-system/configmaps/kubelet-config-1.20",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kubelet-config-1.20", "namespace": "kube-system"},
            "data": {"kubelet": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 42\n"}}),
    );
}

#[test]
fn the_cluster_is_read_once_and_planned_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (ctx, _) = context("v1.20.3", dir.path(), &fake);
    cluster(&fake, &ctx);
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let api = client.with(&ctx);
    let view = ClusterView::read(&api).unwrap();
    assert_eq!(view.api_server, v("v1.20.2"));
    assert_eq!(view.config_version, v("v1.20.2"));
    assert_eq!(view.nodes.len(), 2);
    assert!(view.nodes[0].control_plane && !view.nodes[1].control_plane);
    assert_eq!(view.coredns, None);
    assert_eq!(view.pods("kube-apiserver")[0].hash.as_deref(), Some("abc"));
    let made = plan::make(&view, &api, v("v1.20.3"), "the command line".into());
    let rows: Vec<(String, String, String)> = made
        .components
        .iter()
        .map(|r| (r.component.clone(), r.current.clone(), r.target.clone()))
        .collect();
    let row = |c: &str, cur: &str, t: &str| (c.to_string(), cur.to_string(), t.to_string());
    assert_eq!(
        rows,
        [
            row("kube-apiserver", "v1.20.2", "v1.20.3"),
            row("kube-controller-manager", "v1.20.2", "v1.20.3"),
            row("kube-scheduler", "v1.20.2", "v1.20.3"),
            row("kube-proxy", "v1.20.2", "v1.20.3"),
            row("CoreDNS", "not installed", "not installed (kept so)"),
            row("etcd", "3.4.13-0", "3.4.13-0"),
        ]
    );
    assert_eq!(made.kubelets[0].current, "2 x v1.20.2");
    assert_eq!(made.command, "kubestrap upgrade apply v1.20.3");
    let text = plan::text(&made);
    assert!(text.contains("kubelet     2 x v1.20.2   v1.20.3"), "{text}");
    assert!(
        text.contains("kubeproxy.config.k8s.io   v1alpha1"),
        "{text}"
    );
}

#[test]
fn an_unhealthy_control_plane_is_refused_naming_the_check_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, out) = context("v1.20.3", dir.path(), &fake);
    cluster(&fake, &ctx);
    fake.put("/api/v1/nodes/node1", node("node1", "v1.20.2", true, false));
    let client = Client::new(Box::new(fake.clone()), Retry::immediate());
    let view = ClusterView::read(&client.with(&ctx)).unwrap();
    ctx.set_state(view);
    ctx.set_state(settings(&[]));
    let err = format!("{:#}", upgrade::preflight(&mut ctx).unwrap_err());
    assert!(err.contains("[ERROR ControlPlaneNodesReady]"), "{err}");
    assert!(err.contains("[node1]"), "{err}");
    // The manifests are not on this fake node either.
    assert!(err.contains("[ERROR StaticPodManifest]"), "{err}");
    ctx.set_state(settings(&["controlplanenodesready", "staticpodmanifest"]));
    upgrade::preflight(&mut ctx).unwrap();
    assert!(
        out.lines()
            .iter()
            .any(|l| l.contains("ControlPlaneNodesReady") && l.contains("(ignored)")),
        "{:?}",
        out.lines()
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn after_the_control_plane_the_cluster_says_the_new_version_and_keeps_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, out) = context("v1.20.3", dir.path(), &fake);
    cluster(&fake, &ctx);
    ctx.set_state(settings(&[]));
    upgrade::upload_kubeadm_config(&mut ctx).unwrap();
    upgrade::kubelet_config_map(&mut ctx).unwrap();
    upgrade::kubelet_config_file(&mut ctx).unwrap();
    upgrade::bootstrap_token_rbac(&mut ctx).unwrap();
    upgrade::coredns(&mut ctx).unwrap();
    upgrade::kube_proxy(&mut ctx).unwrap();
    let cm = fake
        .object("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
        .unwrap();
    let text = cm["data"]["ClusterConfiguration"].as_str().unwrap();
    assert!(text.contains("kubernetesVersion: v1.20.3"), "{text}");
    // v1.20 keeps the control-plane endpoints in a ClusterStatus.
    assert!(
        cm["data"]["ClusterStatus"]
            .as_str()
            .unwrap()
            .contains("node1")
    );
    let kubelet = fake
        .object("/api/v1/namespaces/kube-system/configmaps/kubelet-config-1.20")
        .unwrap();
    assert!(
        kubelet["data"]["kubelet"]
            .as_str()
            .unwrap()
            .contains("maxPods: 42")
    );
    let file = std::fs::read_to_string(dir.path().join("var/lib/kubelet/config.yaml")).unwrap();
    assert!(file.contains("maxPods: 42"), "{file}");
    let ds = fake
        .object("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy")
        .unwrap();
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{REPO}/kube-proxy:v1.20.3")
    );
    let proxy = fake
        .object("/api/v1/namespaces/kube-system/configmaps/kube-proxy")
        .unwrap();
    let conf = proxy["data"]["config.conf"].as_str().unwrap();
    assert!(conf.contains("mode: ipvs"), "{conf}");
    assert!(
        fake.paths().iter().all(|p| !p.contains("coredns")),
        "{:?}",
        fake.paths()
    );
    assert!(
        out.lines().iter().any(|l| l.contains("no CoreDNS")),
        "{:?}",
        out.lines()
    );
}

#[test]
fn coredns_is_upgraded_with_the_corefile_the_cluster_has() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, _) = context("v1.20.3", dir.path(), &fake);
    cluster(&fake, &ctx);
    fake.put(
        "/apis/apps/v1/namespaces/kube-system/deployments/coredns",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "coredns", "image": format!("{REPO}/coredns:1.6.0")}]}}}}),
    );
    let corefile = ".:53 {\n    forward . 1.1.1.1\n}\n";
    fake.put(
        "/api/v1/namespaces/kube-system/configmaps/coredns",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile}}),
    );
    ctx.set_state(settings(&[]));
    upgrade::coredns(&mut ctx).unwrap();
    let cm = fake
        .object("/api/v1/namespaces/kube-system/configmaps/coredns")
        .unwrap();
    assert_eq!(cm["data"]["Corefile"], corefile);
    let d = fake
        .object("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
        .unwrap();
    let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.ends_with(":1.7.0"), "{image}");
}

#[test]
fn the_record_of_an_upgrade_in_progress_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = kubestrap_phases::fs::root::Root::new(dir.path());
    assert_eq!(Record::load(&root).unwrap(), None);
    let mut record = Record {
        from: "v1.20.2".into(),
        to: "v1.20.3".into(),
        backup_dir: "/etc/kubernetes/tmp/kubeadm-backup-manifests-x".into(),
        components: Vec::new(),
    };
    record.replaced("kube-apiserver", Some("h1".into()), true);
    record.replaced("kube-controller-manager", Some("h2".into()), false);
    record.save(&root).unwrap();
    let loaded = Record::load(&root).unwrap().unwrap();
    assert_eq!(loaded, record);
    assert_eq!(
        loaded
            .step("kube-controller-manager")
            .unwrap()
            .old_hash
            .as_deref(),
        Some("h2")
    );
    let mode = std::fs::metadata(dir.path().join("var/lib/kubestrap/upgrade.json"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    Record::remove(&root).unwrap();
    assert_eq!(Record::load(&root).unwrap(), None);
}

#[test]
fn the_upgrade_configuration_fills_in_what_no_flag_gave() {
    use kubestrap_phases::workflows::upgrade::{UpgradeOptions, file};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.yaml");
    std::fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - name: event-ttl\n    value: 2h\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\napply:\n  kubernetesVersion: v1.20.3\n  certificateRenewal: false\n  etcdUpgrade: false\n  forceUpgrade: true\n  allowRCUpgrades: true\n  ignorePreflightErrors: [ImagePull]\n  skipPhases: [addon/coredns]\n  imagePullPolicy: Never\n  imagePullSerial: false\ntimeouts:\n  upgradeManifests: 2m0s\n",
    )
    .unwrap();
    let mut opts = UpgradeOptions {
        config: Some(path.clone()),
        // A flag wins over the file.
        etcd_upgrade: Some(true),
        ..UpgradeOptions::default()
    };
    let found = file::merge(&mut opts, file::Command::Apply).unwrap();
    assert_eq!(opts.version.as_deref(), Some("v1.20.3"));
    assert_eq!(opts.certificate_renewal, Some(false));
    assert_eq!(opts.etcd_upgrade, Some(true));
    assert!(opts.force);
    assert_eq!(opts.ignore_preflight_errors, ["ImagePull"]);
    assert_eq!(opts.skip_phases, ["addon/coredns"]);
    assert!(found.allow_rc && !found.allow_experimental);
    assert_eq!(found.image_pull_policy.as_deref(), Some("Never"));
    assert_eq!(found.timeout, Some(Duration::from_secs(120)));
    assert!(
        found.warnings.iter().any(|w| w.contains("imagePullSerial")),
        "{:?}",
        found.warnings
    );
    let cluster = found
        .cluster
        .expect("the ClusterConfiguration replaces the cluster's");
    assert_eq!(cluster.api_server.extra_args.args[0].name, "event-ttl");
    // `upgrade node` reads its own section: apply's version and force are not its.
    let mut node = UpgradeOptions {
        config: Some(path),
        ..UpgradeOptions::default()
    };
    file::merge(&mut node, file::Command::Node).unwrap();
    assert_eq!(node.version, None);
    assert!(!node.force);
}

#[test]
fn an_upgrade_to_1_24_moves_the_control_plane_nodes_to_its_label_and_taint() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let fake = FakeApi::new();
    let (mut ctx, _) = context("v1.24.3", dir.path(), &fake);
    let mut cp = node("node1", "v1.23.5", true, true);
    // As kubeadm 1.20 to 1.23 leave it: both labels, the old taint.
    cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("");
    cp["spec"] =
        json!({"taints": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]});
    fake.put("/api/v1/nodes/node1", cp);
    fake.put("/api/v1/nodes/node2", node("node2", "v1.23.5", false, true));
    let mut s = settings(&[]);
    s.from = v("v1.23.5");
    s.to = v("v1.24.3");
    ctx.set_state(s);
    upgrade::post_upgrade(&mut ctx).unwrap();
    let n1 = fake.object("/api/v1/nodes/node1").unwrap();
    let labels = n1["metadata"]["labels"].as_object().unwrap();
    assert!(
        !labels.contains_key("node-role.kubernetes.io/master"),
        "{n1}"
    );
    assert!(
        labels.contains_key("node-role.kubernetes.io/control-plane"),
        "{n1}"
    );
    let taints: Vec<&str> = n1["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        taints,
        [
            "node-role.kubernetes.io/master",
            "node-role.kubernetes.io/control-plane"
        ]
    );
    // The worker is left alone, and a second run changes nothing.
    let n2 = fake.object("/api/v1/nodes/node2").unwrap();
    assert!(n2["metadata"]["labels"].as_object().unwrap().is_empty());
    fake.clear_log();
    upgrade::post_upgrade(&mut ctx).unwrap();
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn a_configuration_file_and_the_kubeadm_config_it_uploaded_make_the_same_manifests() {
    // A reconfiguration compares the file's ClusterConfiguration with what init uploaded from
    // it: only what the file changes may differ.
    use kubestrap_phases::config::{self, Overrides};
    use kubestrap_phases::fs::root::Root;
    use kubestrap_phases::phases::control_plane::{self, HostFacts};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeadm.yaml");
    std::fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.20.0.1\nnodeRegistration:\n  name: node1\n  criSocket: unix:///run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\nimageRepository: registry.kubestrap.test\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n",
    )
    .unwrap();
    let root = Root::new(dir.path());
    let host = crate::api::host();
    let cfg = config::resolve(
        config::load_file(&path).unwrap(),
        &Overrides::default(),
        &root,
        &host,
    )
    .unwrap();
    let uploaded = kubeadm_config::cluster_configuration(&cfg).unwrap();
    let (cluster, _) = kubeadm_config::parse_cluster_configuration(&uploaded).unwrap();
    let mut docs = config::load_file(&path).unwrap();
    docs.cluster = cluster;
    let again = config::resolve(docs, &Overrides::default(), &root, &host).unwrap();
    let facts = HostFacts::default();
    assert_eq!(
        control_plane::apiserver_manifest(&cfg, &facts).unwrap(),
        control_plane::apiserver_manifest(&again, &facts).unwrap()
    );
    assert_eq!(
        control_plane::controller_manager_manifest(&cfg, &facts).unwrap(),
        control_plane::controller_manager_manifest(&again, &facts).unwrap()
    );
    assert_eq!(
        control_plane::scheduler_manifest(&cfg).unwrap(),
        control_plane::scheduler_manifest(&again).unwrap()
    );
}

#[test]
fn the_kubelet_flags_follow_the_target_minor() {
    use kubestrap_phases::phases::upgrade::migrate::kubelet_flags;
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let env = dir.path().join("var/lib/kubelet/kubeadm-flags.env");
    let old = "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --container-runtime-endpoint=/run/containerd/containerd.sock --node-ip=10.0.0.1\"\n";
    std::fs::write(&env, old).unwrap();
    let fake = FakeApi::new();
    let mut n1 = node("node1", "v1.23.5", true, true);
    n1["metadata"]["annotations"] =
        json!({"kubeadm.alpha.kubernetes.io/cri-socket": "/run/containerd/containerd.sock"});
    fake.put("/api/v1/nodes/node1", n1);
    let (ctx, _) = context("v1.24.3", dir.path(), &fake);
    assert!(kubelet_flags(&ctx, v("v1.24.3")).unwrap());
    let text = std::fs::read_to_string(&env).unwrap();
    assert!(
        text.contains("--container-runtime-endpoint=unix:///run/containerd/containerd.sock"),
        "{text}"
    );
    assert_eq!(
        fake.object("/api/v1/nodes/node1").unwrap()["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"],
        "unix:///run/containerd/containerd.sock"
    );
    assert!(!kubelet_flags(&ctx, v("v1.24.3")).unwrap());
    assert!(kubelet_flags(&ctx, v("v1.27.1")).unwrap());
    let text = std::fs::read_to_string(&env).unwrap();
    assert!(!text.contains("--container-runtime=remote"), "{text}");
    assert!(
        text.starts_with("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint="),
        "{text}"
    );
    // A patch upgrade of v1.20 changes nothing.
    std::fs::write(&env, old).unwrap();
    assert!(!kubelet_flags(&ctx, v("v1.20.3")).unwrap());
}
