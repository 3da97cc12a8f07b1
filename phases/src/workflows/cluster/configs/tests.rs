//! What each host is given: the init host's documents and a joining host's JoinConfiguration.

use std::path::Path;

use super::*;

const FILE: &str = "apiVersion: kubestrap.io/v1alpha1
kind: Cluster
hosts:
- address: 10.0.0.1
  role: control-plane
  nodeName: cp1
- address: 10.0.0.2
  role: control-plane
- address: workers.example
  role: worker
  taints:
  - key: example.com/batch
    effect: NoSchedule
- address: 10.0.0.4
  role: worker
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  ignorePreflightErrors: [ImagePull]
  kubeletExtraArgs:
    v: \"2\"
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
controlPlaneEndpoint: lb.example:6443
";

fn file() -> ClusterFile {
    super::super::file::parse(FILE, Path::new("c.yaml")).expect("valid")
}

fn docs(text: &str) -> Vec<Value> {
    text.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).expect("yaml"))
        .collect()
}

#[test]
fn the_init_host_gets_its_name_address_and_the_certificate_key() {
    let f = file();
    let key = "ab".repeat(32);
    let all = docs(&init_config(&f, &f.hosts[0], Some(&key)).expect("config"));
    let init = all
        .iter()
        .find(|d| kind(d) == "InitConfiguration")
        .expect("init");
    assert_eq!(init["nodeRegistration"]["name"], Value::from("cp1"));
    assert_eq!(
        init["nodeRegistration"]["ignorePreflightErrors"][0],
        Value::from("ImagePull")
    );
    assert_eq!(
        init["localAPIEndpoint"]["advertiseAddress"],
        Value::from("10.0.0.1")
    );
    assert_eq!(init["certificateKey"], Value::from(key.as_str()));
    assert!(all.iter().any(|d| kind(d) == "ClusterConfiguration"));
    // The checked documents themselves are valid for init.
    let text = init_config(&f, &f.hosts[0], None).expect("config");
    let (problems, _) =
        crate::config::validate_text(&text, "init.yaml", &crate::workflows::phase_names);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn joining_hosts_get_discovery_their_registration_and_a_control_plane_its_key() {
    let f = file();
    assert_eq!(api_endpoint(&f, &f.hosts[0]), "lb.example:6443");
    let hash = format!("sha256:{}", "0".repeat(64));
    let key = "cd".repeat(32);
    let token = "abcdef.0123456789abcdef";
    let cp = docs(
        &join_config(&f, &f.hosts[1], "lb.example:6443", token, &hash, Some(&key)).expect("cp"),
    );
    let j = &cp[0];
    assert_eq!(kind(j), "JoinConfiguration");
    assert_eq!(
        j["discovery"]["bootstrapToken"]["token"],
        Value::from(token)
    );
    assert_eq!(
        j["discovery"]["bootstrapToken"]["apiServerEndpoint"],
        Value::from("lb.example:6443")
    );
    assert_eq!(
        j["discovery"]["bootstrapToken"]["caCertHashes"][0],
        Value::from(hash.as_str())
    );
    assert_eq!(
        j["controlPlane"]["certificateKey"],
        Value::from(key.as_str())
    );
    assert_eq!(
        j["controlPlane"]["localAPIEndpoint"]["advertiseAddress"],
        Value::from("10.0.0.2")
    );
    assert_eq!(
        j["nodeRegistration"]["criSocket"],
        Value::from("unix:///run/containerd/containerd.sock")
    );
    assert_eq!(
        j["nodeRegistration"]["kubeletExtraArgs"]["v"],
        Value::from("2")
    );
    // A control plane keeps kubeadm's default taint (none given); a worker has none unless its
    // entry says, and a worker gets no control-plane section.
    assert!(j["nodeRegistration"].get("taints").is_none());
    let w = &docs(
        &join_config(&f, &f.hosts[2], "lb.example:6443", token, &hash, Some(&key)).expect("w"),
    )[0];
    assert_eq!(
        w["nodeRegistration"]["taints"][0]["key"],
        Value::from("example.com/batch")
    );
    assert!(w.get("controlPlane").is_none());
    let plain =
        &docs(&join_config(&f, &f.hosts[3], "lb.example:6443", token, &hash, None).expect("w"))[0];
    assert_eq!(
        plain["nodeRegistration"]["taints"],
        Value::Sequence(Vec::new())
    );
    // kubestrap join reads it.
    let text = join_config(&f, &f.hosts[2], "lb.example:6443", token, &hash, None).expect("w");
    let (_, problems) = crate::config::parse(&text, "join.yaml");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_joining_hosts_preflight_has_its_address_without_the_first_ones_taints() {
    let f = file();
    let all = docs(&preflight_config(&f, &f.hosts[3], false).expect("config"));
    let init = &all[0];
    assert_eq!(
        init["localAPIEndpoint"]["advertiseAddress"],
        Value::from("10.0.0.4")
    );
    assert_eq!(
        init["nodeRegistration"]["ignorePreflightErrors"][0],
        Value::from("ImagePull")
    );
    assert!(init["nodeRegistration"].get("name").is_none());
}
