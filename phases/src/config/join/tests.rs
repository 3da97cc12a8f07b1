use super::*;

#[test]
fn pins_parse_as_kubeadm_checks_them() {
    let hex = "a".repeat(64);
    assert_eq!(
        parse_pin(&format!("SHA256:{}", hex.to_uppercase())).unwrap(),
        format!("sha256:{hex}")
    );
    for (bad, says) in [
        (hex.clone(), "expected \"format:value\""),
        (format!("md5:{hex}"), "unknown hash format"),
        ("sha256:abcd".into(), "found 4 hex digits"),
        ("sha256:abc".into(), "found 3 hex digits"),
        (format!("sha256:{}", "g".repeat(64)), "not hexadecimal"),
    ] {
        let err = parse_pin(&bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn endpoints_are_host_and_port() {
    for good in ["10.0.0.1:6443", "cp.example.com:443", "[fd00::1]:6443"] {
        assert!(check_endpoint(good).is_ok(), "{good}");
    }
    for bad in [
        "10.0.0.1",
        "10.0.0.1:0",
        "10.0.0.1:99999",
        "fd00::1:6443",
        "bad_host:6443",
        ":6443",
    ] {
        assert!(check_endpoint(bad).is_err(), "{bad}");
    }
}

#[test]
fn v1beta2_of_kubeadm_1_20_is_read() {
    let text = "apiServer:\n  extraArgs:\n    authorization-mode: Node,RBAC\n  timeoutForControlPlane: 4m0s\napiVersion: kubeadm.k8s.io/v1beta2\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrollerManager: {}\ndns:\n  type: CoreDNS\netcd:\n  local:\n    dataDir: /var/lib/etcd\nimageRepository: k8s.gcr.io\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\nnetworking:\n  dnsDomain: cluster.local\n  serviceSubnet: 10.96.0.0/12\nscheduler: {}\n";
    let (cluster, version) = uploaded_cluster_configuration(text).unwrap();
    assert_eq!(version.to_string(), "v1.20.2");
    assert_eq!(cluster.image_repository, "k8s.gcr.io");
    assert_eq!(cluster.networking.service_subnet, "10.96.0.0/12");
}
