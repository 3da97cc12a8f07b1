//! The values of a `KubeletConfiguration` and a `KubeProxyConfiguration` that the component
//! itself refuses at start (its own validation, or the setting it cannot run with): checked
//! here, by value, once [`super::component`] has checked the types, so that such a file is
//! refused before anything is written instead of crash-looping the kubelet or kube-proxy.

use std::net::IpAddr;

use serde_yaml::{Mapping, Value};

/// What a field's value must be.
enum Rule {
    /// An integer or number in a range.
    Range(i64, i64),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An IP address.
    Ip,
    /// An IP address, with or without `:port`.
    IpPort,
    /// A list of IP addresses.
    Ips,
    /// One CIDR, or two of different families.
    Cidrs,
}

const KUBELET: &[(&str, Rule)] = &[
    ("maxPods", Rule::Range(0, i32::MAX as i64)),
    ("podsPerCore", Rule::Range(0, i32::MAX as i64)),
    ("maxOpenFiles", Rule::Range(0, i64::MAX)),
    ("eventBurst", Rule::Range(0, i32::MAX as i64)),
    ("eventRecordQPS", Rule::Range(0, i32::MAX as i64)),
    ("kubeAPIBurst", Rule::Range(0, i32::MAX as i64)),
    ("kubeAPIQPS", Rule::Range(0, i32::MAX as i64)),
    ("registryBurst", Rule::Range(0, i32::MAX as i64)),
    ("registryPullQPS", Rule::Range(0, i32::MAX as i64)),
    ("podPidsLimit", Rule::Range(-1, i64::MAX)),
    ("nodeLeaseDurationSeconds", Rule::Range(1, i32::MAX as i64)),
    ("port", Rule::Range(1, 65535)),
    ("healthzPort", Rule::Range(0, 65535)),
    ("readOnlyPort", Rule::Range(0, 65535)),
    ("oomScoreAdj", Rule::Range(-1000, 1000)),
    ("imageGCHighThresholdPercent", Rule::Range(0, 100)),
    ("imageGCLowThresholdPercent", Rule::Range(0, 100)),
    ("iptablesMasqueradeBit", Rule::Range(0, 31)),
    ("iptablesDropBit", Rule::Range(0, 31)),
    ("cgroupDriver", Rule::OneOf(&["cgroupfs", "systemd"])),
    (
        "hairpinMode",
        Rule::OneOf(&["promiscuous-bridge", "hairpin-veth", "none"]),
    ),
    ("cpuManagerPolicy", Rule::OneOf(&["none", "static"])),
    (
        "topologyManagerPolicy",
        Rule::OneOf(&["none", "best-effort", "restricted", "single-numa-node"]),
    ),
    ("topologyManagerScope", Rule::OneOf(&["container", "pod"])),
    ("address", Rule::Ip),
    ("healthzBindAddress", Rule::Ip),
    ("clusterDNS", Rule::Ips),
];

const KUBE_PROXY: &[(&str, Rule)] = &[
    (
        "mode",
        Rule::OneOf(&[
            "",
            "iptables",
            "ipvs",
            "nftables",
            "kernelspace",
            "userspace",
        ]),
    ),
    ("bindAddress", Rule::Ip),
    ("healthzBindAddress", Rule::IpPort),
    ("metricsBindAddress", Rule::IpPort),
    ("clusterCIDR", Rule::Cidrs),
    ("oomScoreAdj", Rule::Range(-1000, 1000)),
    ("iptables.masqueradeBit", Rule::Range(0, 31)),
    ("conntrack.maxPerCore", Rule::Range(0, i32::MAX as i64)),
    ("conntrack.min", Rule::Range(0, i32::MAX as i64)),
    (
        "ipvs.scheduler",
        Rule::OneOf(&[
            "", "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh",
        ]),
    ),
    (
        "detectLocalMode",
        Rule::OneOf(&[
            "",
            "ClusterCIDR",
            "NodeCIDR",
            "BridgeInterface",
            "InterfaceNamePrefix",
        ]),
    ),
];

fn get<'a>(map: &'a Mapping, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = map.get(parts.next()?)?;
    for part in parts {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Why `value` breaks `rule`, if it does (a value of the wrong type is the type check's).
fn broken(rule: &Rule, value: &Value) -> Option<String> {
    match rule {
        Rule::Range(lo, hi) => {
            let n = value.as_f64()?;
            (n < *lo as f64 || n > *hi as f64).then(|| {
                if *lo == 0 && *hi >= i32::MAX as i64 {
                    format!("{n} must not be a negative number")
                } else {
                    format!("{n} must be between {lo} and {hi}")
                }
            })
        }
        Rule::OneOf(allowed) => {
            let s = value.as_str()?;
            let shown: Vec<&str> = allowed.iter().copied().filter(|a| !a.is_empty()).collect();
            (!allowed.contains(&s)).then(|| format!("{s:?} is not one of {}", shown.join(", ")))
        }
        Rule::Ip => {
            let s = value.as_str()?;
            s.parse::<IpAddr>()
                .is_err()
                .then(|| format!("{s:?} is not an IP address"))
        }
        Rule::IpPort => {
            let s = value.as_str()?;
            let host = super::net::split_host_port(s).map(|(h, _)| h);
            host.is_none_or(|h| h.parse::<IpAddr>().is_err())
                .then(|| format!("{s:?} is not an IP address with an optional :port"))
        }
        Rule::Ips => value
            .as_sequence()?
            .iter()
            .find_map(|item| broken(&Rule::Ip, item)),
        Rule::Cidrs => {
            let s = value.as_str()?;
            if s.is_empty() {
                return None;
            }
            let nets: Vec<_> = s.split(',').map(super::net::parse_cidr).collect();
            let families_differ = nets.len() == 2
                && matches!((&nets[0], &nets[1]), (Some(a), Some(b)) if a.addr().is_ipv4() != b.addr().is_ipv4());
            (nets.iter().any(Option::is_none)
                || nets.len() > 2
                || (nets.len() == 2 && !families_differ))
                .then(|| {
                    format!(
                        "{s:?} is not one CIDR (such as 10.244.0.0/16) or two of different families"
                    )
                })
        }
    }
}

/// Checks the values of a component document; each problem is pushed as
/// `file:line:column: message`.
pub fn check(kind: &str, map: &Mapping, here: &dyn Fn(&str) -> String, problems: &mut Vec<String>) {
    let (rules, component) = match kind {
        "KubeletConfiguration" => (KUBELET, "kubelet"),
        "KubeProxyConfiguration" => (KUBE_PROXY, "kube-proxy"),
        _ => return,
    };
    for (path, rule) in rules {
        if let Some(why) = get(map, path).and_then(|v| broken(rule, v)) {
            problems.push(format!(
                "{}: `{path}` in {kind}: {why}; the {component} refuses it at start",
                here(path)
            ));
        }
    }
    if kind == "KubeletConfiguration"
        && let (Some(high), Some(low)) = (
            get(map, "imageGCHighThresholdPercent").and_then(Value::as_f64),
            get(map, "imageGCLowThresholdPercent").and_then(Value::as_f64),
        )
        && low >= high
    {
        problems.push(format!(
            "{}: `imageGCLowThresholdPercent` in {kind}: {low} must be less than imageGCHighThresholdPercent ({high}); the kubelet refuses it at start",
            here("imageGCLowThresholdPercent")
        ));
    }
}

/// The kube-proxy's `clusterCIDR` against the pod subnet: a pod address outside it would be
/// taken for outside traffic (masqueraded); `None` when it holds every pod subnet.
pub fn cluster_cidr_problem(kube_proxy: &Mapping, pod_subnet: &str) -> Option<String> {
    let cidr = get(kube_proxy, "clusterCIDR")?.as_str()?;
    let nets: Vec<_> = cidr.split(',').filter_map(super::net::parse_cidr).collect();
    let pods: Vec<_> = pod_subnet
        .split(',')
        .filter_map(super::net::parse_cidr)
        .collect();
    let outside = pods.iter().find(|pod| {
        !nets
            .iter()
            .any(|net| net.contains(&pod.network()) && net.prefix_len() <= pod.prefix_len())
    })?;
    Some(format!(
        "the KubeProxyConfiguration's clusterCIDR {cidr:?} does not hold the pod subnet {outside}: kube-proxy would take pod traffic for outside traffic; leave clusterCIDR out (it follows networking.podSubnet) or make it hold the pod subnet"
    ))
}
