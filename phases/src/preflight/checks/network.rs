//! The network: the advertise address, ports in use, proxies for the cluster's addresses.

use std::net::IpAddr;

use crate::config::net;
use crate::host;
use crate::preflight::{Issue, Probe};

/// Interfaces of container networks, never a node's address.
pub(super) const VIRTUAL_INTERFACES: &[&str] = &[
    "lo", "docker", "br-", "cni", "flannel", "cali", "veth", "virbr", "kube-", "cilium", "vxlan",
    "tunl", "weave",
];

/// VirtualBox's NAT address: the same on every Vagrant VM, unreachable from the others.
pub(super) const VIRTUALBOX_NAT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 2, 15));

/// kubestrap's: an advertise address picked from the default route when the host has others (B-16).
pub(super) fn advertise_address(p: &Probe) -> Vec<Issue> {
    let chosen = p.ctx.cfg.advertise_address;
    let set = p
        .ctx
        .cfg
        .init
        .local_api_endpoint
        .advertise_address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .is_some_and(|a| !a.is_unspecified());
    if set {
        return vec![];
    }
    let others: Vec<String> = p
        .ctx
        .host
        .ipv4_addresses()
        .into_iter()
        .filter(|(iface, ip)| {
            *ip != chosen && !VIRTUAL_INTERFACES.iter().any(|v| iface.starts_with(v))
        })
        .map(|(iface, ip)| format!("{ip} ({iface})"))
        .collect();
    if chosen == VIRTUALBOX_NAT {
        let mut issue = Issue::warning(format!(
            "the advertise address {chosen} is VirtualBox's NAT address: every VM has it and the other nodes cannot reach it"
        ));
        for other in &others {
            issue = issue.fix(format!(
                "--apiserver-advertise-address {}",
                other.split(' ').next().unwrap_or_default()
            ));
        }
        return vec![
            issue
                .why("it was taken from the default route; Vagrant puts that on the NAT interface"),
        ];
    }
    if others.is_empty() {
        return vec![];
    }
    vec![
        Issue::warning(format!(
            "using {chosen} (the default route's interface) as the advertise address; this host also has {}",
            others.join(", ")
        ))
        .why("nodes and clients must reach the API server on this address")
        .fix("if another address is the cluster network's, pass it: --apiserver-advertise-address <address>"),
    ]
}

pub(super) fn is_v4_cidr(cidr: &str) -> bool {
    cidr.split(',').any(|c| c.contains('.'))
}

/// Process names of the components an earlier init starts (`comm` is cut at 15 characters).
pub(super) const COMPONENTS: &[&str] = &[
    "kube-apiserver",
    "kube-controller",
    "kube-scheduler",
    "etcd",
    "kubelet",
];

pub(super) fn port_check(p: &Probe, port: u16, flag: &str) -> Vec<Issue> {
    if p.ctx.host.port_free(port) && !host::port_listening(&p.ctx.root, port) {
        return vec![];
    }
    let issue = Issue::error(format!("Port {port} is in use"));
    let owner = host::port_owner(&p.ctx.root, port);
    let component = owner
        .as_ref()
        .is_some_and(|o| COMPONENTS.iter().any(|c| o.name.starts_with(c)));
    // The resumed run's own kubelet and the control plane it started.
    if component && p.ctx.record.as_ref().is_some_and(|r| r.resuming()) {
        return vec![];
    }
    let issue = match owner {
        Some(owner) if COMPONENTS.iter().any(|c| owner.name.starts_with(c)) => issue
            .why(format!(
                "{} (pid {}) listens on it: a component left by an earlier init (`{}`)",
                owner.name, owner.pid, owner.cmdline
            ))
            .fix("kubestrap reset   (stops what an earlier init started and removes its files)"),
        Some(owner) => {
            let issue = issue
                .why(format!(
                    "{} (pid {}) listens on it: `{}`",
                    owner.name, owner.pid, owner.cmdline
                ))
                .fix(format!("stop it: kill {}", owner.pid));
            if flag.is_empty() {
                issue
            } else {
                issue.fix(format!("or choose another port with {flag}"))
            }
        }
        None => issue
            .why("another process listens on it")
            .fix(format!("find it with: ss -ltnp 'sport = :{port}'")),
    };
    vec![issue]
}

/// The proxy Go's `http.ProxyFromEnvironment` would use for `https://<ip>`.
pub(super) fn proxy_for(p: &Probe, ip: IpAddr) -> Option<String> {
    let host = p.ctx.host.as_ref();
    let proxy = host
        .env("HTTPS_PROXY")
        .or_else(|| host.env("https_proxy"))?;
    let no_proxy = host
        .env("NO_PROXY")
        .or_else(|| host.env("no_proxy"))
        .unwrap_or_default();
    let exempt = no_proxy.split(',').map(str::trim).any(|entry| {
        entry == "*"
            || entry.parse::<IpAddr>().is_ok_and(|e| e == ip)
            || net::cidr_contains(entry, ip)
    });
    (!exempt && !ip.is_loopback()).then_some(proxy)
}

pub(super) fn http_proxy(p: &Probe, address: IpAddr) -> Vec<Issue> {
    let Some(proxy) = proxy_for(p, address) else {
        return vec![];
    };
    vec![
        Issue::warning(format!("Connection to \"https://{address}\" uses proxy \"{proxy}\". If that is not intended, adjust your proxy settings"))
            .fix(format!("export NO_PROXY=$NO_PROXY,{address}")),
    ]
}

pub(super) fn http_proxy_cidr(p: &Probe, cidr: &str) -> Vec<Issue> {
    let Some(cidr_net) = net::parse_cidr(cidr) else {
        return vec![];
    };
    let first = net::offset(cidr_net.addr(), 1);
    let Some(proxy) = proxy_for(p, first) else {
        return vec![];
    };
    vec![
        Issue::warning(format!("connection to \"{cidr}\" uses proxy \"{proxy}\". This may lead to malfunctional cluster setup. Make sure that Pod and Services IP ranges specified correctly as exceptions in proxy configuration"))
            .fix(format!("export NO_PROXY=$NO_PROXY,{cidr}")),
    ]
}
