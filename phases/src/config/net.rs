//! Network values of a configuration, each rule in one place: CIDRs (with `ipnet`), the
//! addresses of the Service subnet, `host:port` with IPv6 in brackets, and DNS-1123 names.

use std::net::IpAddr;

use anyhow::{Context as _, Result, bail};
use ipnet::IpNet;

/// A CIDR such as `10.96.0.0/12` or `fd00::/108`, host bits kept as written.
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    text.trim().parse().ok()
}

/// Whether `cidr` is a CIDR that holds `ip`.
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    parse_cidr(cidr).is_some_and(|net| net.contains(&ip))
}

/// The address `n` places after `ip` (wrapping, as kubeadm's indexed IPs do).
pub fn offset(ip: IpAddr, n: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(u32::from(v4).wrapping_add(n).into()),
        IpAddr::V6(v6) => IpAddr::V6(u128::from(v6).wrapping_add(n.into()).into()),
    }
}

/// The `n`th address of the first CIDR of `networking.serviceSubnet`: 1 is the `kubernetes`
/// Service, 10 the cluster DNS Service.
pub fn service_ip(service_subnet: &str, n: u32) -> Result<IpAddr> {
    let first = service_subnet.split(',').next().unwrap_or_default().trim();
    let Some(net) = parse_cidr(first) else {
        bail!("`networking.serviceSubnet`: {first:?} is not a valid CIDR such as 10.96.0.0/12");
    };
    Ok(offset(net.network(), n))
}

/// Splits `host`, `host:port`, `[v6]:port` or a bare IPv6 address (brackets dropped); `None`
/// when the port is not 1-65535 or an unbracketed host holds a colon.
pub fn split_host_port(endpoint: &str) -> Option<(&str, Option<u16>)> {
    if endpoint.parse::<IpAddr>().is_ok() {
        return Some((endpoint, None));
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
            let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
            Some((
                host.trim_start_matches('[').trim_end_matches(']'),
                Some(port),
            ))
        }
        Some(_) => None,
        None => Some((endpoint, None)),
    }
}

/// `controlPlaneEndpoint` as host and optional port; the host is an IP address or a DNS name.
pub fn parse_control_plane_endpoint(endpoint: &str) -> Result<(String, Option<u16>)> {
    if let Ok(ip) = endpoint.parse::<IpAddr>() {
        return Ok((ip.to_string(), None));
    }
    let bad = || {
        format!(
            "`controlPlaneEndpoint`: {endpoint:?} is not a valid host or host:port (e.g. cluster.example.com:6443)"
        )
    };
    let (host, port) = split_host_port(endpoint).with_context(bad)?;
    if host.bytes().any(|b| b.is_ascii_uppercase()) && is_dns_subdomain(&host.to_lowercase()) {
        bail!(
            "`controlPlaneEndpoint`: the host of {endpoint:?} must be lower-case, as DNS names are in certificates and kubeconfigs: write {:?}",
            endpoint.to_lowercase()
        );
    }
    if host.is_empty() || !(host.parse::<IpAddr>().is_ok() || is_dns_subdomain(host)) {
        bail!(bad());
    }
    Ok((host.to_string(), port))
}

/// An address as the host part of a `host:port` or URL: IPv6 in brackets.
pub fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub fn join_host_port(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => format!("{}:{port}", url_host(ip)),
        Err(_) => format!("{host}:{port}"),
    }
}

/// `host:port` of a server URL (`https://10.0.0.1:6443/` → `10.0.0.1:6443`).
pub fn url_host_port(server: &str) -> String {
    let s = server.strip_prefix("https://").unwrap_or(server);
    s.trim_end_matches('/').to_string()
}

/// RFC 1123 subdomain, as Kubernetes checks names.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Why `name` is not a Kubernetes label name (the part of a key after its `/`), if it is not:
/// 1 to 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit.
fn label_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("the name part is empty");
    }
    if name.len() > 63 {
        return Some("the name part is longer than 63 characters");
    }
    let inner = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    let bytes = name.as_bytes();
    if !bytes.iter().all(|b| inner(*b))
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return Some(
            "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        );
    }
    None
}

/// Why `key` is not a label or taint key (`[prefix/]name`, the prefix a DNS subdomain).
pub fn label_key_problem(key: &str) -> Option<&'static str> {
    match key.split_once('/') {
        Some((prefix, name)) => {
            if !is_dns_subdomain(prefix) {
                return Some("its prefix (before `/`) must be a lower-case DNS subdomain");
            }
            label_name_problem(name)
        }
        None => label_name_problem(key),
    }
}

/// Why `value` is not a label or taint value (empty, or a label name).
pub fn label_value_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        None
    } else {
        label_name_problem(value)
    }
}

/// Why `repo` is not an image repository as container references spell it (`registry.k8s.io`,
/// `my.registry:5000/k8s`), if it is not: an optional registry host (with a port), then path
/// parts of lower-case letters and digits joined by `.`, `_`, `__` or dashes.
pub fn image_repository_problem(repo: &str) -> Option<String> {
    let mut parts: Vec<&str> = repo.split('/').collect();
    // As container tools read a name: the first part is a registry when it has a `.` or a `:`,
    // is `localhost`, or has an upper-case letter and a path follows.
    let first = parts[0];
    if first.contains(['.', ':'])
        || first == "localhost"
        || (parts.len() > 1 && first.bytes().any(|b| b.is_ascii_uppercase()))
    {
        parts.remove(0);
        let (host, port) = match first.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((v6, rest)) => (v6, rest.strip_prefix(':')),
            None => match first.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (first, None),
            },
        };
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Some(format!(
                "the registry {first:?} has a port that is not a number"
            ));
        }
        let label = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.parse::<IpAddr>().is_err() && !host.split('.').all(label) {
            return Some(format!("the registry host {host:?} is not a host name"));
        }
    }
    parts.iter().find(|part| !path_component(part)).map(|part| {
        format!(
            "the path part {part:?} must be lower-case letters and digits, joined by '.', '_', '__' or '-'"
        )
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += if bytes.get(i + 1) == Some(&b'_') {
                    2
                } else {
                    1
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ips_of_v4_and_v6_cidrs() {
        assert_eq!(
            service_ip("10.96.0.0/12", 1).unwrap().to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            service_ip("10.96.5.7/12", 1).unwrap().to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            service_ip("10.96.5.7/16", 10).unwrap().to_string(),
            "10.96.0.10"
        );
        assert_eq!(
            service_ip("fd00::/108,10.96.0.0/12", 1)
                .unwrap()
                .to_string(),
            "fd00::1"
        );
        for bad in ["10.96.0.0", "10.96.0.0/33", "x/12", ""] {
            assert!(service_ip(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs_contain_addresses_of_their_family_only() {
        assert!(cidr_contains("10.96.0.0/12", "10.96.0.1".parse().unwrap()));
        assert!(!cidr_contains(
            "10.96.0.0/12",
            "10.112.0.1".parse().unwrap()
        ));
        assert!(cidr_contains("fd00::/8", "fd12::1".parse().unwrap()));
        assert!(!cidr_contains("fd00::/8", "10.0.0.1".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0", "10.0.0.0".parse().unwrap()));
    }

    #[test]
    fn control_plane_endpoints() {
        let p = parse_control_plane_endpoint;
        assert_eq!(
            p("lb.example.com").unwrap(),
            ("lb.example.com".into(), None)
        );
        assert_eq!(p("10.0.0.9:8443").unwrap(), ("10.0.0.9".into(), Some(8443)));
        assert_eq!(p("[fd00::9]:6443").unwrap(), ("fd00::9".into(), Some(6443)));
        assert_eq!(p("fd00::9").unwrap(), ("fd00::9".into(), None));
        for bad in ["lb:0", ":6443", "lb:x", "Bad_Host", "a:b:80"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_and_ports_bracket_ipv6() {
        assert_eq!(join_host_port("10.0.0.1", 6443), "10.0.0.1:6443");
        assert_eq!(join_host_port("fd00::1", 6443), "[fd00::1]:6443");
        assert_eq!(join_host_port("lb.example.com", 443), "lb.example.com:443");
        assert_eq!(url_host("fd00::1".parse().unwrap()), "[fd00::1]");
        assert_eq!(url_host_port("https://[fd00::1]:6443/"), "[fd00::1]:6443");
        assert_eq!(
            split_host_port("[fd00::1]:6443"),
            Some(("fd00::1", Some(6443)))
        );
        assert_eq!(split_host_port("fd00::1"), Some(("fd00::1", None)));
    }

    #[test]
    fn image_repositories_follow_the_reference_grammar() {
        for ok in [
            "registry.k8s.io",
            "k8s.gcr.io",
            "my.registry:5000/k8s",
            "localhost/k8s",
            "10.0.0.1:5000/a/b",
            "Registry.Example.com/k8s",
            "docker.io/library",
            "a/b_c/d__e/f-g",
        ] {
            assert_eq!(image_repository_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "MyRegistry",
            "registry.k8s.io/K8s",
            "reg.io/",
            "reg.io//x",
            "reg.io:port/x",
            "reg_io.com/x",
            "a/-b",
        ] {
            assert!(image_repository_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn taint_keys_and_values() {
        assert_eq!(label_key_problem("example.com/dedicated"), None);
        assert_eq!(
            label_key_problem("node-role.kubernetes.io/control-plane"),
            None
        );
        assert!(label_key_problem("").is_some());
        assert!(label_key_problem("a b").is_some());
        assert!(label_key_problem("Example.com/x").is_some());
        assert_eq!(label_value_problem(""), None);
        assert!(label_value_problem("-x").is_some());
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_subdomain("kubernetes.default.svc.cluster.local"));
        assert!(is_dns_subdomain("node-1.example"));
        assert!(!is_dns_subdomain("Upper.case"));
        assert!(!is_dns_subdomain("Node_1"));
        assert!(!is_dns_subdomain("-lead"));
        assert!(!is_dns_subdomain("a..b"));
    }
}
