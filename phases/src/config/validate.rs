//! Semantic checks of a configuration, kubeadm's rules with kubeadm's field paths; every
//! problem at once.

use std::net::IpAddr;

use super::net::{is_dns_subdomain, parse_cidr};
use super::source::Source;
use super::token_format as token;
use super::{ApiEndpoint, ClusterConfiguration, ExtraArgs, InitConfiguration, NodeRegistration};
use crate::config::duration;
use crate::version::KubeVersion;

/// The most problems an error lists.
pub const MAX_PROBLEMS_SHOWN: usize = 50;

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `InitConfiguration` or `ClusterConfiguration`.
    pub kind: &'static str,
    /// The field path, e.g. `networking.podSubnet`.
    pub path: String,
    /// The rule that was broken.
    pub message: String,
}

impl Problem {
    /// A problem of the field at `path` in the document of `kind`.
    pub fn new(kind: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            kind,
            path: path.into(),
            message: message.into(),
        }
    }

    /// `file:line:column: `path`: message` when the file is known.
    pub fn render(&self, source: Option<&Source>) -> String {
        match source {
            Some(src) => format!(
                "{}: `{}`: {}",
                src.position(self.kind, &self.path),
                self.path,
                self.message
            ),
            None => format!("`{}`: {}", self.path, self.message),
        }
    }
}

const INIT: &str = "InitConfiguration";
const CLUSTER: &str = "ClusterConfiguration";

/// kubeadm feature gates known in v1.20–v1.36.
const FEATURE_GATES: &[&str] = &[
    "ControlPlaneKubeletLocalMode",
    "EtcdLearnerMode",
    "IPv6DualStack",
    "NodeLocalCRISocket",
    "PublicKeysECDSA",
    "RootlessControlPlane",
    "UnversionedKubeletConfigMap",
    "UpgradeAddonsBeforeControlPlane",
    "WaitForAllControlPlaneComponents",
];

/// Every problem of the two kubeadm documents.
pub fn validate(init: &InitConfiguration, cluster: &ClusterConfiguration) -> Vec<Problem> {
    let mut p = Vec::new();
    validate_init(init, &mut p);
    validate_cluster(cluster, &mut p);
    advertise_family(init, cluster, &mut p);
    p
}

/// The kube-apiserver advertises itself as the `kubernetes` Service's endpoint, a Service of the
/// first service subnet's family: the two families must agree (it exits at start otherwise).
fn advertise_family(init: &InitConfiguration, c: &ClusterConfiguration, p: &mut Vec<Problem>) {
    let Some(ip) = init
        .local_api_endpoint
        .advertise_address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
    else {
        return;
    };
    let Some(first) = c
        .networking
        .service_subnet
        .split(',')
        .next()
        .and_then(parse_cidr)
    else {
        return;
    };
    if ip.is_ipv4() != first.addr().is_ipv4() {
        let family = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
        p.push(Problem::new(
            INIT,
            "localAPIEndpoint.advertiseAddress",
            format!(
                "{ip} is {} but the first service subnet {first} is {}: the kube-apiserver would not start; advertise an {} address or list an {} service subnet first",
                family(ip.is_ipv4()),
                family(first.addr().is_ipv4()),
                family(first.addr().is_ipv4()),
                family(ip.is_ipv4())
            ),
        ));
    }
}

fn validate_init(init: &InitConfiguration, p: &mut Vec<Problem>) {
    for (i, token) in init.bootstrap_tokens.iter().enumerate() {
        let at = |f: &str| format!("bootstrapTokens[{i}].{f}");
        if let Some(t) = &token.token
            && !token::is_token(t)
        {
            p.push(Problem::new(
                INIT,
                at("token"),
                format!("the bootstrap token {t:?} is invalid: it must match [a-z0-9]{{6}}.[a-z0-9]{{16}}, e.g. abcdef.0123456789abcdef (`kubestrap token generate` makes one)"),
            ));
        }
        if token.expires.is_some() && token.ttl.is_some() {
            p.push(Problem::new(
                INIT,
                at("ttl"),
                "the BootstrapToken .TTL and .Expires fields are mutually exclusive",
            ));
        }
        if let Some(ttl) = &token.ttl
            && let Err(e) = duration::parse(ttl)
        {
            p.push(Problem::new(INIT, at("ttl"), e.to_string()));
        }
        if let Some(expires) = &token.expires
            && time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
                .is_err()
        {
            p.push(Problem::new(
                INIT,
                at("expires"),
                format!(
                    "{expires:?} is not a date and time in RFC 3339, such as 2030-01-02T15:04:05Z"
                ),
            ));
        }
        if let Some(id) = token
            .token
            .as_deref()
            .and_then(|t| t.split_once('.'))
            .map(|(id, _)| id)
            && let Some(first) = init.bootstrap_tokens[..i].iter().position(|t| {
                t.token
                    .as_deref()
                    .and_then(|t| t.split_once('.'))
                    .is_some_and(|(other, _)| other == id)
            })
        {
            p.push(Problem::new(
                INIT,
                at("token"),
                format!("the token ID {id:?} is also the ID of bootstrapTokens[{first}]: each token needs an ID of its own (the second would replace the first)"),
            ));
        }
        for usage in &token.usages {
            if !token::USAGES.contains(&usage.as_str()) {
                p.push(Problem::new(
                    INIT,
                    at("usages"),
                    format!("unknown usage {usage:?}; valid usages are signing and authentication"),
                ));
            }
        }
        if !token.groups.is_empty() && !token.usages.iter().any(|u| u == "authentication") {
            p.push(Problem::new(
                INIT,
                at("groups"),
                "token groups cannot be specified unless usages includes \"authentication\"",
            ));
        }
        for group in &token.groups {
            if !token::is_bootstrap_group(group) {
                p.push(Problem::new(
                    INIT,
                    at("groups"),
                    format!("group {group:?} is not valid: it must start with system:bootstrappers: and then use only a-z, 0-9, : and -"),
                ));
            }
        }
    }
    if let Some(key) = &init.certificate_key
        && let Some(problem) = certificate_key_problem(key)
    {
        p.push(Problem::new(INIT, "certificateKey", problem));
    }
    node_registration(INIT, &init.node_registration, p);
    api_endpoint(INIT, "localAPIEndpoint", &init.local_api_endpoint, p);
    let t = &init.timeouts;
    for (name, value) in [
        (
            "controlPlaneComponentHealthCheck",
            &t.control_plane_component_health_check,
        ),
        ("discovery", &t.discovery),
        ("etcdAPICall", &t.etcd_api_call),
        ("kubeletHealthCheck", &t.kubelet_health_check),
        ("kubernetesAPICall", &t.kubernetes_api_call),
        ("tlsBootstrap", &t.tls_bootstrap),
        ("upgradeManifests", &t.upgrade_manifests),
    ] {
        if let Err(e) = duration::parse(value) {
            p.push(Problem::new(
                INIT,
                format!("timeouts.{name}"),
                e.to_string(),
            ));
        }
    }
}

/// `nodeRegistration` of an InitConfiguration or a JoinConfiguration.
pub(super) fn node_registration(kind: &'static str, reg: &NodeRegistration, p: &mut Vec<Problem>) {
    if let Some(name) = &reg.name
        && !is_dns_subdomain(name)
    {
        p.push(Problem::new(
            kind,
            "nodeRegistration.name",
            format!("{name:?} is not a valid node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"),
        ));
    }
    if let Some(socket) = &reg.cri_socket {
        let at = "nodeRegistration.criSocket";
        match socket.split_once("://") {
            Some(("unix", path)) if path.starts_with('/') => {}
            Some(("unix", path)) => p.push(Problem::new(kind, at, format!("path is not absolute: {path}"))),
            Some((scheme, _)) => p.push(Problem::new(kind, at, format!("URL scheme {scheme} is not supported; use unix:///path/to/socket"))),
            None if socket.starts_with('/') => {}
            None => p.push(Problem::new(kind, at, format!("{socket:?} is not a socket URL; use e.g. unix:///var/run/containerd/containerd.sock"))),
        }
    }
    if !["Always", "IfNotPresent", "Never"].contains(&reg.image_pull_policy.as_str()) {
        p.push(Problem::new(
            kind,
            "nodeRegistration.imagePullPolicy",
            format!(
                "{:?} is not one of Always, IfNotPresent, Never",
                reg.image_pull_policy
            ),
        ));
    }
    for (i, taint) in reg.taints.iter().flatten().enumerate() {
        let at = |field: &str| format!("nodeRegistration.taints[{i}].{field}");
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&taint.effect.as_str()) {
            p.push(Problem::new(
                kind,
                at("effect"),
                format!(
                    "{:?} is not one of NoSchedule, PreferNoSchedule, NoExecute",
                    taint.effect
                ),
            ));
        }
        if let Some(why) = super::net::label_key_problem(&taint.key) {
            p.push(Problem::new(
                kind,
                at("key"),
                format!("{:?} is not a valid taint key: {why}", taint.key),
            ));
        }
        if let Some(value) = taint.value.as_deref()
            && let Some(why) = super::net::label_value_problem(value)
        {
            p.push(Problem::new(
                kind,
                at("value"),
                format!("{value:?} is not a valid taint value: {why}"),
            ));
        }
    }
    let ignored = &reg.ignore_preflight_errors;
    if ignored.len() > 1 && ignored.iter().any(|c| c.eq_ignore_ascii_case("all")) {
        p.push(Problem::new(
            kind,
            "nodeRegistration.ignorePreflightErrors",
            "don't specify individual checks if 'all' is used",
        ));
    }
    extra_args(
        kind,
        "nodeRegistration.kubeletExtraArgs",
        &reg.kubelet_extra_args,
        p,
    );
}

/// An API endpoint (`localAPIEndpoint`, a join's `controlPlane.localAPIEndpoint`): an address
/// other nodes can reach this API server at, and a port.
pub(super) fn api_endpoint(
    kind: &'static str,
    prefix: &str,
    endpoint: &ApiEndpoint,
    p: &mut Vec<Problem>,
) {
    if let Some(addr) = endpoint
        .advertise_address
        .as_deref()
        .filter(|a| !a.is_empty())
    {
        let at = format!("{prefix}.advertiseAddress");
        match addr.parse::<IpAddr>() {
            Err(_) => p.push(Problem::new(kind, at, format!("ip address {addr:?} is not valid"))),
            Ok(ip) if ip.is_multicast() => p.push(Problem::new(kind, at, format!("{ip} is a multicast address: no API server can answer there; advertise this node's own unicast address"))),
            Ok(std::net::IpAddr::V4(v4)) if v4.is_broadcast() => p.push(Problem::new(kind, at, format!("{v4} is the broadcast address: no API server can answer there; advertise this node's own unicast address"))),
            Ok(_) => {}
        }
    }
    if !(1..=65535).contains(&endpoint.bind_port) {
        p.push(Problem::new(
            kind,
            format!("{prefix}.bindPort"),
            format!("port number {} is not valid (1-65535)", endpoint.bind_port),
        ));
    }
}

/// A folder or file kubestrap reads or writes under the root: absolute, without `..`.
pub(super) fn local_path(kind: &'static str, at: &str, path: &str, p: &mut Vec<Problem>) {
    if !path.starts_with('/') {
        p.push(Problem::new(
            kind,
            at,
            format!("path {path:?} is not absolute"),
        ));
    } else if path.split('/').any(|c| c == "..") {
        p.push(Problem::new(
            kind,
            at,
            format!("path {path:?} climbs with `..`: name it by its own path"),
        ));
    }
}

fn validate_cluster(c: &ClusterConfiguration, p: &mut Vec<Problem>) {
    if let Some(v) = &c.kubernetes_version
        && let Err(e) = KubeVersion::parse(v)
    {
        p.push(Problem::new(CLUSTER, "kubernetesVersion", e.to_string()));
    }
    subnets(
        &c.networking.service_subnet,
        "networking.serviceSubnet",
        true,
        p,
    );
    if let Some(pods) = &c.networking.pod_subnet {
        let before = p.len();
        subnets(pods, "networking.podSubnet", false, p);
        if p.len() == before {
            pod_subnet_fits(c, pods, p);
        }
    }
    if c.cluster_name.len() > 253 || c.cluster_name.chars().any(char::is_control) {
        p.push(Problem::new(
            CLUSTER,
            "clusterName",
            "must be at most 253 characters without control characters (it names the cluster in every kubeconfig)",
        ));
    }
    if !is_dns_subdomain(&c.networking.dns_domain) {
        p.push(Problem::new(
            CLUSTER,
            "networking.dnsDomain",
            format!("{:?} is not a valid DNS domain", c.networking.dns_domain),
        ));
    }
    if let Some(endpoint) = c
        .control_plane_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
        && let Err(e) = super::net::parse_control_plane_endpoint(endpoint)
    {
        p.push(Problem::new(
            CLUSTER,
            "controlPlaneEndpoint",
            format!("{e:#}"),
        ));
    }
    sans(&c.api_server.cert_sans, "apiServer.certSANs", p);
    extra_args(CLUSTER, "apiServer.extraArgs", &c.api_server.extra_args, p);
    extra_args(
        CLUSTER,
        "controllerManager.extraArgs",
        &c.controller_manager.extra_args,
        p,
    );
    extra_args(CLUSTER, "scheduler.extraArgs", &c.scheduler.extra_args, p);
    for (section, volumes) in [
        ("apiServer", &c.api_server.extra_volumes),
        ("controllerManager", &c.controller_manager.extra_volumes),
        ("scheduler", &c.scheduler.extra_volumes),
    ] {
        for (i, v) in volumes.iter().enumerate() {
            for (field, path) in [("hostPath", &v.host_path), ("mountPath", &v.mount_path)] {
                if !path.starts_with('/') {
                    p.push(Problem::new(
                        CLUSTER,
                        format!("{section}.extraVolumes[{i}].{field}"),
                        format!("path {path:?} is not absolute"),
                    ));
                }
            }
        }
    }
    if let Some(t) = &c.api_server.timeout_for_control_plane
        && let Err(e) = duration::parse(t)
    {
        p.push(Problem::new(
            CLUSTER,
            "apiServer.timeoutForControlPlane",
            e.to_string(),
        ));
    }
    match (&c.etcd.local, &c.etcd.external) {
        (Some(_), Some(_)) => p.push(Problem::new(
            CLUSTER,
            "etcd",
            ".Etcd.Local and .Etcd.External are mutually exclusive",
        )),
        (None, None) => p.push(Problem::new(
            CLUSTER,
            "etcd",
            "either .Etcd.Local or .Etcd.External is required",
        )),
        (Some(local), None) => {
            local_path(CLUSTER, "etcd.local.dataDir", &local.data_dir, p);
            if let Some(why) =
                crate::fs::system_dirs::refused_as(&local.data_dir, "etcd's data folder")
            {
                p.push(Problem::new(CLUSTER, "etcd.local.dataDir", why));
            }
            sans(&local.server_cert_sans, "etcd.local.serverCertSANs", p);
            sans(&local.peer_cert_sans, "etcd.local.peerCertSANs", p);
            extra_args(CLUSTER, "etcd.local.extraArgs", &local.extra_args, p);
        }
        (None, Some(ext)) => {
            for (i, url) in ext.endpoints.iter().enumerate() {
                let at = format!("etcd.external.endpoints[{i}]");
                if !url.contains("://") {
                    p.push(Problem::new(
                        CLUSTER,
                        at,
                        format!("{url:?}: the URL without scheme is not allowed"),
                    ));
                } else if !url.starts_with("https://") && !ext.cert_file.is_empty() {
                    p.push(Problem::new(
                        CLUSTER,
                        at,
                        format!("{url:?}: the URL must be using the HTTPS scheme"),
                    ));
                }
            }
            if ext.cert_file.is_empty() != ext.key_file.is_empty() {
                p.push(Problem::new(CLUSTER, "etcd.external", "either both or none of .Etcd.External.CertFile and .Etcd.External.KeyFile must be set"));
            }
            if !ext.cert_file.is_empty() && ext.ca_file.is_empty() {
                p.push(Problem::new(CLUSTER, "etcd.external.caFile", "setting .Etcd.External.CertFile and .Etcd.External.KeyFile requires .Etcd.External.CAFile"));
            }
        }
    }
    local_path(CLUSTER, "certificatesDir", &c.certificates_dir, p);
    let repo = &c.image_repository;
    if let Some(why) = super::net::image_repository_problem(repo) {
        p.push(Problem::new(CLUSTER, "imageRepository", format!("invalid image repository format {repo:?}: {why}; use e.g. registry.k8s.io or my.registry:5000/k8s")));
    }
    if !["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256"]
        .contains(&c.encryption_algorithm.as_str())
    {
        p.push(Problem::new(
            CLUSTER,
            "encryptionAlgorithm",
            format!(
                "{:?} is not one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256",
                c.encryption_algorithm
            ),
        ));
    }
    for (field, value) in [
        ("certificateValidityPeriod", &c.certificate_validity_period),
        (
            "caCertificateValidityPeriod",
            &c.ca_certificate_validity_period,
        ),
    ] {
        match duration::parse(value) {
            Ok(d) if d.is_zero() => p.push(Problem::new(CLUSTER, field, "must be longer than 0")),
            Ok(_) => {}
            Err(e) => p.push(Problem::new(CLUSTER, field, e.to_string())),
        }
    }
    for gate in c.feature_gates.keys() {
        if !FEATURE_GATES.contains(&gate.as_str()) {
            p.push(Problem::new(
                CLUSTER,
                format!("featureGates.{gate}"),
                format!("unrecognized feature-gate key: {gate}"),
            ));
        }
    }
}

fn extra_args(kind: &'static str, path: &str, args: &ExtraArgs, p: &mut Vec<Problem>) {
    for (i, arg) in args.args.iter().enumerate() {
        if arg.name.is_empty() {
            p.push(Problem::new(
                kind,
                path,
                format!("Invalid value: \"index {i}\": argument has no name"),
            ));
        } else if arg.name.starts_with('-') {
            p.push(Problem::new(
                kind,
                path,
                format!(
                    "argument {:?} must be given without leading dashes (write {:?})",
                    arg.name,
                    arg.name.trim_start_matches('-')
                ),
            ));
        }
    }
}

fn sans(list: &[String], path: &str, p: &mut Vec<Problem>) {
    for (i, san) in list.iter().enumerate() {
        let wildcard = san.strip_prefix("*.").is_some_and(is_dns_subdomain);
        if san.parse::<IpAddr>().is_err() && !is_dns_subdomain(san) && !wildcard {
            p.push(Problem::new(CLUSTER, format!("{path}[{i}]"), format!("altname {san:?} is not a valid IP address, DNS label or a DNS label with subdomain wildcards")));
        }
    }
}

fn subnets(text: &str, path: &str, service: bool, p: &mut Vec<Problem>) {
    let parts: Vec<&str> = text.split(',').collect();
    let mut parsed = Vec::new();
    for part in &parts {
        match parse_cidr(part) {
            Some(c) => parsed.push(c),
            None => {
                p.push(Problem::new(
                    CLUSTER,
                    path,
                    format!(
                        "couldn't parse subnet {:?}: expected a CIDR such as 10.96.0.0/12",
                        part.trim()
                    ),
                ));
                return;
            }
        }
    }
    let dual = parsed.len() == 2 && parsed[0].addr().is_ipv4() != parsed[1].addr().is_ipv4();
    if parsed.len() > 2 || (parsed.len() == 2 && !dual) {
        p.push(Problem::new(CLUSTER, path, "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking"));
        return;
    }
    for net in parsed {
        let (ip, bits, max) = (net.addr(), net.prefix_len(), net.max_prefix_len());
        let host_bits = u32::from(max - bits);
        let (min_addresses, label) = if service {
            (10u32, "service")
        } else {
            (14, "pod")
        };
        if host_bits < 32 && (1u64 << host_bits) < u64::from(min_addresses) {
            p.push(Problem::new(CLUSTER, path, format!("{label} subnet {ip}/{bits} is too small: it needs at least {min_addresses} addresses")));
        }
        if service && host_bits > 20 {
            let min_mask = max - 20;
            p.push(Problem::new(CLUSTER, path, format!("specified service subnet {ip}/{bits} is too large; for {max}-bit addresses, the mask must be >= {min_mask}")));
        }
    }
}

/// The pod subnet against the node ranges the controller-manager cuts from it (its
/// `--node-cidr-mask-size*`, 24 for IPv4 and 64 for IPv6 by default), and against the services:
/// a subnet smaller than one node's range, or one that would make more than 2^16 ranges, makes
/// the controller-manager exit; pods and services in one range route wrongly.
fn pod_subnet_fits(c: &ClusterConfiguration, pods: &str, p: &mut Vec<Problem>) {
    const PATH: &str = "networking.podSubnet";
    let args = &c.controller_manager.extra_args;
    let nets: Vec<_> = pods.split(',').filter_map(parse_cidr).collect();
    let services: Vec<_> = c
        .networking
        .service_subnet
        .split(',')
        .filter_map(parse_cidr)
        .collect();
    if super::flags::user_value(args, "allocate-node-cidrs") != Some("false") {
        for net in &nets {
            let v6 = net.addr().is_ipv6();
            let (family_arg, default) = if v6 {
                ("node-cidr-mask-size-ipv6", 64)
            } else {
                ("node-cidr-mask-size-ipv4", 24)
            };
            let (arg, value) = match super::flags::user_value(args, family_arg) {
                Some(v) => (family_arg, Some(v)),
                None if nets.len() == 1 => (
                    "node-cidr-mask-size",
                    super::flags::user_value(args, "node-cidr-mask-size"),
                ),
                None => (family_arg, None),
            };
            let mask = match value.map(str::parse::<u8>) {
                None => default,
                Some(Ok(m)) => m,
                Some(Err(_)) => {
                    p.push(Problem::new(
                        CLUSTER,
                        "controllerManager.extraArgs",
                        format!(
                            "{arg}={:?} is not a mask size (a number such as {default})",
                            value.unwrap_or_default()
                        ),
                    ));
                    continue;
                }
            };
            let prefix = net.prefix_len();
            if prefix > mask {
                p.push(Problem::new(CLUSTER, PATH, format!("pod subnet {net} is smaller than one node's pod range (/{mask}, the controller-manager's --{arg}), so the controller-manager would exit: use a pod subnet of /{mask} or larger, or set controllerManager.extraArgs {arg}")));
            } else if mask - prefix > 16 {
                p.push(Problem::new(CLUSTER, PATH, format!("pod subnet {net} holds 2^{} node ranges of /{mask} (the controller-manager's --{arg}); at most 2^16 are allowed: use a pod subnet of /{} or smaller, or a larger {arg}", mask - prefix, mask - 16)));
            }
        }
    }
    for net in &nets {
        if let Some(svc) = services
            .iter()
            .find(|s| s.contains(&net.network()) || net.contains(&s.network()))
        {
            p.push(Problem::new(CLUSTER, PATH, format!("pod subnet {net} overlaps the service subnet {svc}: a pod and a Service could get the same address; use ranges that do not overlap")));
        }
    }
}

/// kubeadm's rule: the key that encrypts the uploaded certificates is 32 bytes (AES-256), in hex.
pub fn certificate_key_problem(key: &str) -> Option<String> {
    crate::pki::CertificateKey::parse(key)
        .err()
        .map(|e| e.to_string())
}

#[cfg(test)]
mod tests;
