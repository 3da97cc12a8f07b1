//! The cluster file: what it accepts, and each refusal with its file:line:column.

use super::*;

const KUBEADM: &str = "---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
";

fn read(text: &str) -> Result<ClusterFile> {
    parse(text, Path::new("c.yaml"))
}

/// The problems of a refused file.
fn problems(text: &str) -> Vec<String> {
    match read(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => match e.downcast_ref::<InvalidConfig>() {
            Some(InvalidConfig(p)) => p.clone(),
            None => panic!("not an InvalidConfig: {e:#}"),
        },
    }
}

fn one(text: &str) -> String {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    p[0].clone()
}

const HEAD: &str = "apiVersion: kubestrap.io/v1alpha1\nkind: Cluster\n";

#[test]
fn a_whole_file_with_inline_kubeadm_documents() {
    let text = format!(
        "{HEAD}hosts:\n- address: 10.0.0.1\n  role: control-plane\n  nodeName: cp1\n  labels:\n    a.example/b: c\n- address: 10.0.0.2\n  port: 2222\n  user: admin\n  sudo: true\n  role: worker\n  taints:\n  - key: k.example/t\n    effect: NoSchedule\n{KUBEADM}"
    );
    let f = read(&text).expect("valid");
    assert_eq!(f.binary_path, DEFAULT_BINARY_PATH);
    assert_eq!(f.hosts.len(), 2);
    let (cp, w) = (&f.hosts[0], &f.hosts[1]);
    assert_eq!(
        (cp.name.as_str(), cp.port, cp.user.as_str(), cp.sudo),
        ("cp1", 22, "root", false)
    );
    assert_eq!(cp.labels.get("a.example/b").map(String::as_str), Some("c"));
    assert_eq!(
        (w.name.as_str(), w.port, w.user.as_str(), w.sudo, w.role),
        ("10.0.0.2", 2222, "admin", true, Role::Worker)
    );
    assert_eq!(w.taints.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        f.docs.cluster.kubernetes_version.as_deref(),
        Some("v1.20.2")
    );
    assert_eq!(f.kubeadm.len(), 1);
}

#[test]
fn the_example_is_valid() {
    // Its keyPath is the reader's own; the rest must read as it is.
    let text = example().replace(
        "  keyPath: ~/.ssh/id_ed25519  # without it: the SSH agent and ssh's own defaults\n",
        "",
    );
    let f = read(&text).expect("print-defaults is valid");
    assert_eq!(f.hosts.len(), 2);
}

#[test]
fn unknown_and_missing_fields_and_wrong_types_with_their_place() {
    let p = one(&format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n  rol: x\n"
    ));
    assert!(
        p.starts_with("c.yaml:6:3: hosts[0].rol: ") && p.contains("unknown field `rol`"),
        "{p}"
    );
    // Every host's problems at once, each at its place.
    let p = problems(&format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n  taints:\n  - key: k\n    effct: NoSchedule\n- role: worker\n"
    ));
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].starts_with("c.yaml:8:5: hosts[0].taints[0].effct: unknown field"),
        "{p:#?}"
    );
    assert!(
        p[1].starts_with("c.yaml:9:1: hosts[1]: missing field `address`"),
        "{p:#?}"
    );
    let p = one(&format!("{HEAD}hosts:\n- address: a\n  port: 22\n"));
    assert!(
        p.starts_with("c.yaml:4:1: hosts[0]: ") && p.contains("missing field `role`"),
        "{p}"
    );
    let p = one(&format!("{HEAD}hosts:\n- address: a\n  role: master\n"));
    assert!(
        p.starts_with("c.yaml:5:3: hosts[0].role: ") && p.contains("unknown variant `master`"),
        "{p}"
    );
    let p = one(&format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n  port: seventy\n"
    ));
    assert!(
        p.starts_with("c.yaml:6:3: hosts[0].port: ") && p.contains("invalid type"),
        "{p}"
    );
    let p = one(&format!("{HEAD}host:\n- address: a\n"));
    assert!(
        p.starts_with("c.yaml:3:1: ") && p.contains("unknown field `host`"),
        "{p}"
    );
}

#[test]
fn the_cluster_document_comes_first_with_its_api_version() {
    assert_eq!(
        one("apiVersion: kubestrap.io/v9\nkind: Cluster\nhosts: []\n"),
        "c.yaml:1:1: unknown apiVersion `kubestrap.io/v9` of a Cluster: use `kubestrap.io/v1alpha1`"
    );
    let p = one(KUBEADM);
    assert!(
        p.starts_with("c.yaml:2:1: the first document must be the cluster's"),
        "{p}"
    );
}

#[test]
fn each_host_refusal_names_its_line() {
    let text = format!(
        "{HEAD}binaryPath: bin/kubestrap\nhosts:\n- address: a\n  role: worker\n  port: 0\n- address: a\n  role: worker\n- address: a\n  role: worker\n- address: b\n  role: worker\n  nodeName: Not_A_Name\n- address: c\n  role: worker\n  labels:\n    bad key: v\n  taints:\n  - key: k\n    effect: Sometimes\n- address: d\n  role: worker\n  keyPath: /nonexistent/key\n"
    );
    let p = problems(&text);
    let want = [
        "c.yaml:3:1: binaryPath `bin/kubestrap` must be an absolute path",
        "c.yaml:7:3: port 0 is no port",
        "c.yaml:10:3: a:22 is hosts[1] already",
        "c.yaml:14:3: nodeName \"Not_A_Name\" is not a node name",
        "c.yaml:18:5: label key `bad key`",
        "c.yaml:21:5: taint effect `Sometimes` is none of",
        "c.yaml:24:3: keyPath `/nonexistent/key` is no file here",
        "c.yaml:4:1: no host has `role: control-plane`",
    ];
    for w in want {
        assert!(
            p.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in {p:#?}"
        );
    }
    assert_eq!(p.len(), want.len(), "{p:#?}");
}

#[test]
fn duplicate_node_names_and_no_hosts() {
    let p = one(&format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n  nodeName: n\n- address: b\n  role: worker\n  nodeName: n\n"
    ));
    assert!(
        p.starts_with("c.yaml:9:3: nodeName `n` is another host's already"),
        "{p}"
    );
    let p = problems(&format!("{HEAD}hosts: []\n"));
    assert!(
        p[0].starts_with("c.yaml:3:1: `hosts` lists no host"),
        "{p:#?}"
    );
}

#[test]
fn kubeadm_documents_are_checked_with_the_same_rules_and_positions() {
    let text = format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\nnetworking:\n  podSubnett: 10.244.0.0/16\n"
    );
    let p = one(&text);
    assert!(
        p.starts_with("c.yaml:11:3: ") && p.contains("podSubnett"),
        "{p}"
    );
    // A JoinConfiguration is kubestrap's to write; a node name would name every host alike.
    let text = format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nnodeRegistration:\n  name: x\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 1.2.3.4:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n"
    );
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|x| x.contains("nodeRegistration.name would name every host alike")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|x| x.contains("a JoinConfiguration is written for each joining host")),
        "{p:#?}"
    );
}

#[test]
fn a_second_control_plane_needs_a_control_plane_endpoint() {
    let text = format!(
        "{HEAD}hosts:\n- address: a\n  role: control-plane\n- address: b\n  role: control-plane\n{KUBEADM}"
    );
    let p = one(&text);
    assert!(p.starts_with("c.yaml:7:3: a second control-plane host needs the ClusterConfiguration's controlPlaneEndpoint"), "{p}");
    let ok = format!("{text}controlPlaneEndpoint: lb.example:6443\n");
    assert!(read(&ok).is_ok());
}

#[test]
fn kubeadm_config_by_path_or_inline_not_both() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("kubeadm.yaml"), KUBEADM).expect("write");
    let cluster = dir.path().join("c.yaml");
    let text = format!(
        "{HEAD}kubeadmConfigPath: kubeadm.yaml\nhosts:\n- address: a\n  role: control-plane\n"
    );
    let f = parse(&text, &cluster).expect("by path, from the cluster file's folder");
    assert_eq!(
        f.docs.cluster.kubernetes_version.as_deref(),
        Some("v1.20.2")
    );
    let both = format!("{text}{KUBEADM}");
    let p = parse(&both, &cluster).expect_err("refused").to_string();
    assert!(
        p.contains(":3:1: kubeadmConfigPath and kubeadm documents in this file"),
        "{p}"
    );
}
