//! The machine: CPUs, memory, firewalld, host name, the kubelet's version and service.

use std::path::Path;

use crate::host::{self, ServiceState};
use crate::preflight::fix::Repair;
use crate::preflight::{Issue, Probe};
use crate::version::KubeVersion;

pub(super) fn num_cpu(p: &Probe) -> Vec<Issue> {
    let n = p.ctx.host.cpus();
    if n >= 2 {
        return vec![];
    }
    vec![
        Issue::error(format!(
            "the number of available CPUs {n} is less than the required 2"
        ))
        .why("the control plane (apiserver, etcd, controller-manager, scheduler) starves on one CPU")
        .fix("give this machine 2 or more CPUs, or for a test cluster add --ignore-preflight-errors=NumCPU"),
    ]
}

pub(super) fn mem(p: &Probe) -> Vec<Issue> {
    let total_mb = p.ctx.host.memory_mb();
    match total_mb {
        Some(mb) if mb >= 1700 => vec![],
        Some(mb) => vec![
            Issue::error(format!(
                "the system RAM ({mb} MB) is less than the minimum 1700 MB"
            ))
            .why("etcd and the apiserver alone need about 1 GB; the kubelet evicts pods below that")
            .fix("give this machine 2 GB of RAM or more, or for a test cluster add --ignore-preflight-errors=Mem"),
        ],
        None => vec![Issue::error("failed to read MemTotal from /proc/meminfo")],
    }
}

pub(super) fn firewalld(p: &Probe) -> Vec<Issue> {
    if !host::systemd_running(&p.ctx.root) || !p.ctx.host.service_active("firewalld") {
        return vec![];
    }
    let port = p.ctx.cfg.bind_port;
    vec![
        Issue::warning(format!("firewalld is active, please ensure ports [{port} 10250] are open or your cluster may not function correctly"))
            .fix(format!("firewall-cmd --permanent --add-port={port}/tcp --add-port=10250/tcp && firewall-cmd --reload")),
    ]
}

pub(super) fn hostname(p: &Probe) -> Vec<Issue> {
    let name = &p.ctx.cfg.node_name;
    let mut issues = Vec::new();
    if !crate::config::net::is_dns_subdomain(name) {
        issues.push(
            Issue::warning(format!("invalid node name format \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"))
                .fix("choose a valid name with --node-name"),
        );
    }
    let in_hosts = p
        .ctx
        .root
        .read_to_string("/etc/hosts")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .any(|l| l.split_whitespace().skip(1).any(|n| n == name));
    if !in_hosts && !p.ctx.host.resolves(name) {
        issues.push(
            Issue::warning(format!("hostname \"{name}\" could not be reached"))
                .why("neither /etc/hosts nor DNS knows it")
                .fix(format!(
                    "echo '{} {name}' >> /etc/hosts",
                    p.ctx.cfg.advertise_address
                )),
        );
    }
    issues
}

pub(super) fn kubelet_version(p: &Probe) -> Vec<Issue> {
    let target = p.ctx.cfg.version;
    let install = p.install(
        &format!("kubelet={}.{}.*", 1, target.minor),
        &format!("kubelet-1.{}.*", target.minor),
    );
    let Some(kubelet) = p.on_path("kubelet") else {
        return vec![
            Issue::error("couldn't get kubelet version: cannot execute 'kubelet --version': executable file not found in $PATH")
                .fix(install),
        ];
    };
    let out = p
        .ctx
        .root
        .physical(&kubelet)
        .map_err(|e| format!("{e:#}"))
        .and_then(|path| {
            p.ctx
                .host
                .output(Path::new(&path), &["--version"])
                .map_err(|e| format!("{e:#}"))
        });
    let text = match out {
        Ok(t) => t,
        Err(e) => {
            return vec![Issue::error(format!(
                "couldn't get kubelet version: cannot execute 'kubelet --version': {e}"
            ))];
        }
    };
    let Some(found) = text
        .split_whitespace()
        .last()
        .and_then(|v| KubeVersion::parse_any(v).ok())
    else {
        return vec![Issue::error(format!(
            "couldn't get kubelet version: couldn't parse kubelet version from {:?}",
            text.trim()
        ))];
    };
    let skew = p.ctx.profile().kubelet_min_skew;
    if found.minor + skew < target.minor {
        return vec![
            Issue::error(format!(
                "Kubelet version \"{found}\" is lower than kubeadm can support. Please upgrade kubelet"
            ))
            .why(format!("Kubernetes {target} supports kubelets down to v1.{}", target.minor - skew))
            .fix(install),
        ];
    }
    if found.minor > target.minor {
        return vec![
            Issue::error(format!(
                "the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: \"{found}\" Control plane version: \"{target}\""
            ))
            .fix(install)
            .fix(format!("or deploy the kubelet's version: --kubernetes-version v1.{}.0", found.minor)),
        ];
    }
    vec![]
}

pub(super) fn service_kubelet(p: &Probe) -> Vec<Issue> {
    if !host::systemd_running(&p.ctx.root) {
        return vec![];
    }
    match p.ctx.host.service_state("kubelet.service") {
        ServiceState::Enabled => vec![],
        ServiceState::Disabled => vec![
            Issue::warning(
                "kubelet service is not enabled, please run 'systemctl enable kubelet.service'",
            )
            .fix("systemctl enable kubelet.service"),
        ],
        ServiceState::Missing => vec![
            Issue::warning("kubelet service does not exist").fix(p.install("kubelet", "kubelet")),
        ],
    }
}

/// Whether the kubelet's systemd unit starts the kubelet with the files init and join write
/// (kubeadm leaves that to its package's drop-in; without it the kubelet never runs the control
/// plane and init times out waiting for it).
pub(super) fn kubelet_unit(p: &Probe) -> Vec<Issue> {
    use crate::host::kubelet_unit::{self, State};
    use crate::host::service_manager::{self, ServiceManager};
    // Without systemd the unit is not what runs the kubelet (kubelet-start says what does).
    if service_manager::detect(p.ctx.host.as_ref(), &p.ctx.root) != Some(ServiceManager::Systemd) {
        return vec![];
    }
    let path = p.ctx.host.env("PATH");
    let state = match kubelet_unit::inspect(&p.ctx.root, path.as_deref()) {
        Ok(s) => s,
        Err(e) => return vec![Issue::error(format!("{e:#}"))],
    };
    match &state {
        State::Reads { .. } => vec![],
        State::Lacks { .. } | State::NoUnit { kubelet: Some(_) } => vec![
            Issue::warning(state.describe())
                .why("systemd would start the kubelet without its configuration, kubeconfig and flags, so it would never run the control plane (kubeadm's package drop-in 10-kubeadm.conf is what normally adds them)")
                .fix(format!(
                    "nothing: kubelet-start writes {} and reloads systemd; to do it now, run `kubestrap preflight --fix`",
                    match state {
                        State::NoUnit { .. } => format!("{} and {}", kubelet_unit::UNIT, kubelet_unit::DROP_IN),
                        _ => kubelet_unit::DROP_IN.to_string(),
                    }
                ))
                .repair(Repair::KubeletUnit),
        ],
        State::NoUnit { kubelet: None } => vec![
            Issue::error(state.describe())
                .why("nothing can run the kubelet, which runs the control plane and every pod")
                .fix(p.install("kubelet", "kubelet")),
        ],
        State::Broken { unit, why } => vec![
            Issue::error(format!("the kubelet's unit `{unit}` cannot be used: {why}"))
                .fix("`systemctl cat kubelet` shows the unit and its drop-ins; leave one ExecStart= (a drop-in that replaces it starts with an empty `ExecStart=`)"),
        ],
    }
}
