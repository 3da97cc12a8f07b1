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
    fn dns_names() {
        assert!(is_dns_subdomain("kubernetes.default.svc.cluster.local"));
        assert!(is_dns_subdomain("node-1.example"));
        assert!(!is_dns_subdomain("Upper.case"));
        assert!(!is_dns_subdomain("Node_1"));
        assert!(!is_dns_subdomain("-lead"));
        assert!(!is_dns_subdomain("a..b"));
    }
}
