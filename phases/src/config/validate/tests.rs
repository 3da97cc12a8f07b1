use super::*;

fn paths(init: &InitConfiguration, cluster: &ClusterConfiguration) -> Vec<String> {
    validate(init, cluster)
        .into_iter()
        .map(|p| p.path)
        .collect()
}

#[test]
fn defaults_are_valid() {
    assert_eq!(
        validate(
            &InitConfiguration::default(),
            &ClusterConfiguration::default()
        ),
        []
    );
}

#[test]
fn bad_networking_is_reported_with_the_rule() {
    let mut c = ClusterConfiguration::default();
    c.networking.service_subnet = "10.96.0.0/8".into();
    c.networking.pod_subnet = Some("10.244.0.0".into());
    let problems = validate(&InitConfiguration::default(), &c);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].message.contains("the mask must be >= 12"),
        "{problems:?}"
    );
    assert!(
        problems[1].message.contains("couldn't parse subnet"),
        "{problems:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut init = InitConfiguration::default();
    init.bootstrap_tokens[0].token = Some("abc.def".into());
    init.local_api_endpoint.advertise_address = Some("10.0.0.300".into());
    init.local_api_endpoint.bind_port = 70000;
    let mut c = ClusterConfiguration::default();
    c.kubernetes_version = Some("v1.19.0".into());
    c.certificates_dir = "pki".into();
    c.encryption_algorithm = "RSA-1024".into();
    c.api_server.cert_sans = vec!["bad_name".into(), "*.ok.example".into(), "10.0.0.1".into()];
    assert_eq!(
        paths(&init, &c),
        [
            "bootstrapTokens[0].token",
            "localAPIEndpoint.advertiseAddress",
            "localAPIEndpoint.bindPort",
            "kubernetesVersion",
            "apiServer.certSANs[0]",
            "certificatesDir",
            "encryptionAlgorithm",
        ]
    );
}

#[test]
fn dual_stack_and_endpoints() {
    let mut c = ClusterConfiguration::default();
    c.networking.pod_subnet = Some("10.244.0.0/16,fd00::/56".into());
    c.control_plane_endpoint = Some("cp.example:6443".into());
    assert_eq!(
        paths(&InitConfiguration::default(), &c),
        Vec::<String>::new()
    );
    c.control_plane_endpoint = Some("cp.example:http".into());
    c.networking.pod_subnet = Some("10.244.0.0/16,10.245.0.0/16".into());
    assert_eq!(
        paths(&InitConfiguration::default(), &c),
        ["networking.podSubnet", "controlPlaneEndpoint"]
    );
}

fn messages(init: &InitConfiguration, c: &ClusterConfiguration) -> Vec<String> {
    validate(init, c).into_iter().map(|p| p.message).collect()
}

fn with_args(c: &mut ClusterConfiguration, args: &[(&str, &str)]) {
    c.controller_manager.extra_args = ExtraArgs {
        args: args
            .iter()
            .map(|(n, v)| super::super::Arg {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        from_map: false,
    };
}

#[test]
fn the_pod_subnet_must_hold_node_ranges_and_miss_the_services() {
    let init = InitConfiguration::default();
    let mut c = ClusterConfiguration::default();
    for (pods, says) in [
        ("10.244.0.0/25", "smaller than one node's pod range (/24"),
        ("32.0.0.0/7", "holds 2^17 node ranges of /24"),
        ("10.96.128.0/17", "overlaps the service subnet 10.96.0.0/12"),
        ("fd00:1::/72", "smaller than one node's pod range (/64"),
        ("10.244.0.0/16,fd00:1::/40", "holds 2^24 node ranges of /64"),
    ] {
        c.networking.pod_subnet = Some(pods.into());
        let m = messages(&init, &c);
        assert!(m.len() == 1 && m[0].contains(says), "{pods}: {m:?}");
    }
    c.networking.pod_subnet = Some("10.244.0.0/25".into());
    with_args(&mut c, &[("node-cidr-mask-size", "26")]);
    assert!(messages(&init, &c).is_empty());
    with_args(&mut c, &[("node-cidr-mask-size-ipv4", "x")]);
    assert!(messages(&init, &c)[0].contains("node-cidr-mask-size-ipv4=\"x\" is not a mask size"));
    with_args(&mut c, &[("allocate-node-cidrs", "false")]);
    assert!(messages(&init, &c).is_empty());
    c.networking.pod_subnet = Some("10.244.0.0/16".into());
    c.cluster_name = "x".repeat(254);
    assert!(messages(&init, &c)[0].contains("at most 253 characters"));
}

#[test]
fn the_advertise_address_is_of_the_first_service_family() {
    let mut init = InitConfiguration::default();
    let mut c = ClusterConfiguration::default();
    init.local_api_endpoint.advertise_address = Some("fd00::1".into());
    let m = messages(&init, &c);
    assert!(
        m.len() == 1
            && m[0].contains("fd00::1 is IPv6 but the first service subnet 10.96.0.0/12 is IPv4"),
        "{m:?}"
    );
    c.networking.service_subnet = "fd00:96::/112,10.96.0.0/12".into();
    assert!(messages(&init, &c).is_empty());
}

#[test]
fn a_certificate_key_is_32_bytes_of_hex() {
    assert!(certificate_key_problem(&"ab".repeat(32)).is_none());
    assert!(
        certificate_key_problem("zz")
            .unwrap()
            .contains("not hexadecimal")
    );
    // A wrong length is not called "not hexadecimal".
    assert!(
        certificate_key_problem("abc")
            .unwrap()
            .contains("has 3 hex digits, not 64")
    );
    assert!(
        certificate_key_problem("abcd")
            .unwrap()
            .contains("the key is 2 bytes")
    );
}
