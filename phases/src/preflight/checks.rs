//! The check table: kubeadm's checks in kubeadm's order for the target version, plus the few
//! kubestrap adds (`CgroupDriver`, `SandboxImage`, `KernelModules`) where kubeadm stays silent.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::fix::Repair;
use super::{Issue, Level, Probe, Role};
use crate::config::path_dirs;
use crate::cri;
use crate::fs::paths;
use crate::host::containerd::{self, Edits, Settings};
use crate::host::{self, ServiceState, kernel};
use crate::runner::context::Context;
use crate::version::{KubeVersion, SwapCheck};

/// How long the CRI calls may take together.
const CRI_TIMEOUT: Duration = Duration::from_secs(3);

/// What a check does: the issues it finds.
type CheckFn<'a> = Box<dyn Fn(&Probe) -> Vec<Issue> + 'a>;

/// A named check.
pub(crate) struct Check<'a> {
    pub name: String,
    pub run: CheckFn<'a>,
}

fn check<'a>(name: impl Into<String>, run: impl Fn(&Probe) -> Vec<Issue> + 'a) -> Check<'a> {
    Check {
        name: name.into(),
        run: Box::new(run),
    }
}

/// `FileAvailable--etc-kubernetes-kubelet.conf` from `/etc/kubernetes/kubelet.conf`.
fn path_name(prefix: &str, path: &str) -> String {
    format!("{prefix}{}", path.replace('/', "-"))
}

/// kubeadm's first check, run alone: the others need root.
pub(crate) fn privileged_user(p: &Probe) -> (String, Vec<Issue>) {
    let name = "IsPrivilegedUser".to_string();
    if p.ctx.host.is_root() {
        return (name, vec![]);
    }
    let issue = if p.ctx.opts.dry_run {
        Issue::warning("user is not running as root")
            .why("--dry-run changes nothing on this host, so the checks go on without root; some of them cannot see everything")
    } else {
        Issue::error("user is not running as root")
            .why("kubestrap writes under /etc/kubernetes and /var/lib, binds privileged ports and manages services")
            .fix("run the same command with sudo, or try it first as this user with --dry-run")
    };
    (name, vec![issue])
}

/// The checks for a role, in kubeadm's order (the root check runs before, see [`privileged_user`]).
pub(crate) fn table<'a>(ctx: &'a Context, role: Role) -> Vec<Check<'a>> {
    let cfg = &ctx.cfg;
    let profile = ctx.profile();
    let mut t: Vec<Check<'a>> = Vec::new();
    let ipv4 = cfg.advertise_address.is_ipv4()
        || is_v4_cidr(&cfg.cluster.networking.service_subnet)
        || cfg
            .cluster
            .networking
            .pod_subnet
            .as_deref()
            .is_some_and(is_v4_cidr);
    let ipv6 = cfg.advertise_address.is_ipv6()
        || cfg.cluster.networking.service_subnet.contains(':')
        || cfg
            .cluster
            .networking
            .pod_subnet
            .as_deref()
            .is_some_and(|c| c.contains(':'));
    match role {
        Role::Init => {
            t.push(check("NumCPU", num_cpu));
            t.push(check("Mem", mem));
            t.push(check("Firewalld", firewalld));
            for (port, flag) in [
                (cfg.bind_port, "--apiserver-bind-port"),
                (10259, ""),
                (10257, ""),
            ] {
                t.push(check(format!("Port-{port}"), move |p| {
                    port_check(p, port, flag)
                }));
            }
            for component in [
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "etcd",
            ] {
                let path = paths::manifest(component);
                t.push(check(path_name("FileAvailable-", &path), move |p| {
                    file_available(p, &path)
                }));
            }
            let address = cfg.advertise_address;
            t.push(check("HTTPProxy", move |p| http_proxy(p, address)));
            t.push(check("AdvertiseAddress", advertise_address));
            let mut cidrs = vec![cfg.cluster.networking.service_subnet.clone()];
            cidrs.extend(cfg.cluster.networking.pod_subnet.clone());
            for cidr in cidrs.iter().flat_map(|c| c.split(',')).map(str::trim) {
                let cidr = cidr.to_string();
                t.push(check("HTTPProxyCIDR", move |p| http_proxy_cidr(p, &cidr)));
            }
        }
        Role::Join => {
            for name in ["kubelet.conf", "bootstrap-kubelet.conf"] {
                let path = paths::kubeconfig(name);
                t.push(check(path_name("FileAvailable-", &path), move |p| {
                    file_available(p, &path)
                }));
            }
        }
    }
    // kubeadm's common checks.
    t.push(check("CRI", cri_check));
    t.push(check("CgroupDriver", cgroup_driver));
    t.push(check("SandboxImage", sandbox_image));
    t.push(check("Swap", swap));
    let mut binaries: Vec<(&str, Level)> = Vec::new();
    if let Some(level) = profile.crictl_check {
        binaries.push(("crictl", level));
    }
    if profile.conntrack_check {
        binaries.push(("conntrack", Level::Error));
    }
    for bin in ["ip", "iptables", "mount", "nsenter"] {
        binaries.push((bin, Level::Error));
    }
    for bin in ["ebtables", "ethtool", "socat", "tc", "touch"] {
        binaries.push((bin, Level::Warning));
    }
    for (bin, level) in binaries {
        t.push(check(format!("FileExisting-{bin}"), move |p| {
            file_existing(p, bin, level)
        }));
    }
    t.push(check("SystemVerification", system_verification));
    t.push(check("Hostname", hostname));
    t.push(check("KubeletVersion", kubelet_version));
    t.push(check("Service-Kubelet", service_kubelet));
    t.push(check("Port-10250", |p| port_check(p, 10250, "")));
    if role == Role::Join {
        let ca = format!("{}/ca.crt", ctx.cert_dir());
        t.push(check(path_name("FileAvailable-", &ca), move |p| {
            file_available(p, &ca)
        }));
    }
    if ipv4 {
        if profile.bridge_nf_check {
            t.push(sysctl_check("net.bridge.bridge-nf-call-iptables"));
        }
        t.push(sysctl_check("net.ipv4.ip_forward"));
    }
    if ipv6 {
        if profile.bridge_nf_check {
            t.push(sysctl_check("net.bridge.bridge-nf-call-ip6tables"));
        }
        t.push(sysctl_check("net.ipv6.conf.default.forwarding"));
    }
    t.push(check("KernelModules", kernel_modules));
    if role == Role::Init {
        match (&cfg.cluster.etcd.local, &cfg.cluster.etcd.external) {
            (_, Some(external)) => {
                let etcd = external.clone();
                t.push(check("ExternalEtcdVersion", move |p| {
                    external_etcd_version(p, &etcd)
                }));
                let files = [
                    external.ca_file.clone(),
                    external.cert_file.clone(),
                    external.key_file.clone(),
                ];
                t.push(check("ExternalEtcdClientCertificates", move |p| {
                    files
                        .iter()
                        .filter(|f| !f.is_empty() && !p.ctx.root.exists(f.as_str()))
                        .map(|f| {
                            Issue::error(format!("{f} doesn't exist"))
                                .fix(format!("copy the etcd client file to {f}, or correct `etcd.external` in the config"))
                        })
                        .collect()
                }));
            }
            (Some(local), None) => {
                for port in [2379, 2380] {
                    t.push(check(format!("Port-{port}"), move |p| {
                        port_check(p, port, "")
                    }));
                }
                let dir = local.data_dir.clone();
                t.push(check(path_name("DirAvailable-", &dir), move |p| {
                    dir_available(p, &dir)
                }));
            }
            (None, None) => {}
        }
    }
    t
}

/// Interfaces of container networks, never a node's address.
const VIRTUAL_INTERFACES: &[&str] = &[
    "lo", "docker", "br-", "cni", "flannel", "cali", "veth", "virbr", "kube-", "cilium", "vxlan",
    "tunl", "weave",
];

/// VirtualBox's NAT address: the same on every Vagrant VM, unreachable from the others.
const VIRTUALBOX_NAT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 2, 15));

/// kubestrap's: an advertise address picked from the default route when the host has others (B-16).
fn advertise_address(p: &Probe) -> Vec<Issue> {
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

fn is_v4_cidr(cidr: &str) -> bool {
    cidr.split(',').any(|c| c.contains('.'))
}

fn num_cpu(p: &Probe) -> Vec<Issue> {
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

fn mem(p: &Probe) -> Vec<Issue> {
    let total_mb = p
        .ctx
        .root
        .read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024);
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

fn firewalld(p: &Probe) -> Vec<Issue> {
    if !host::systemd_running(&p.ctx.root) || !p.ctx.host.service_active("firewalld") {
        return vec![];
    }
    let port = p.ctx.cfg.bind_port;
    vec![
        Issue::warning(format!("firewalld is active, please ensure ports [{port} 10250] are open or your cluster may not function correctly"))
            .fix(format!("firewall-cmd --permanent --add-port={port}/tcp --add-port=10250/tcp && firewall-cmd --reload")),
    ]
}

/// Process names of the components an earlier init starts (`comm` is cut at 15 characters).
const COMPONENTS: &[&str] = &[
    "kube-apiserver",
    "kube-controller",
    "kube-scheduler",
    "etcd",
    "kubelet",
];

fn port_check(p: &Probe, port: u16, flag: &str) -> Vec<Issue> {
    if p.ctx.host.port_free(port) && !host::port_listening(&p.ctx.root, port) {
        return vec![];
    }
    let issue = Issue::error(format!("Port {port} is in use"));
    let issue = match host::port_owner(&p.ctx.root, port) {
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

fn file_available(p: &Probe, path: &str) -> Vec<Issue> {
    if !p.ctx.root.exists(path) {
        return vec![];
    }
    vec![
        Issue::error(format!("{path} already exists"))
            .why("an earlier init or join left it behind")
            .fix("kubestrap reset   (removes what an earlier init or join wrote)"),
    ]
}

fn dir_available(p: &Probe, dir: &str) -> Vec<Issue> {
    if p.ctx.root.list(dir).map(|e| e.is_empty()).unwrap_or(true) {
        return vec![];
    }
    vec![
        Issue::error(format!("{dir} is not empty"))
            .why("it holds the data of an earlier etcd; a new cluster cannot start on it")
            .fix("kubestrap reset   (removes the etcd data of an earlier init)"),
    ]
}

/// The proxy Go's `http.ProxyFromEnvironment` would use for `https://<ip>`.
fn proxy_for(p: &Probe, ip: IpAddr) -> Option<String> {
    let host = p.ctx.host.as_ref();
    let proxy = host
        .env("HTTPS_PROXY")
        .or_else(|| host.env("https_proxy"))?;
    let no_proxy = host
        .env("NO_PROXY")
        .or_else(|| host.env("no_proxy"))
        .unwrap_or_default();
    let exempt = no_proxy.split(',').map(str::trim).any(|entry| {
        entry == "*" || entry.parse::<IpAddr>().is_ok_and(|e| e == ip) || cidr_contains(entry, ip)
    });
    (!exempt && !ip.is_loopback()).then_some(proxy)
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = crate::config::parse_cidr(cidr) else {
        return false;
    };
    let bits = u32::from(bits);
    let (a, b, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (a >> shift) == (b >> shift)
}

fn http_proxy(p: &Probe, address: IpAddr) -> Vec<Issue> {
    let Some(proxy) = proxy_for(p, address) else {
        return vec![];
    };
    vec![
        Issue::warning(format!("Connection to \"https://{address}\" uses proxy \"{proxy}\". If that is not intended, adjust your proxy settings"))
            .fix(format!("export NO_PROXY=$NO_PROXY,{address}")),
    ]
}

fn http_proxy_cidr(p: &Probe, cidr: &str) -> Vec<Issue> {
    let Some((net, _)) = crate::config::parse_cidr(cidr) else {
        return vec![];
    };
    let first = match net {
        IpAddr::V4(v) => IpAddr::from((u32::from(v) + 1).to_be_bytes()),
        IpAddr::V6(v) => IpAddr::from((u128::from(v) + 1).to_be_bytes()),
    };
    let Some(proxy) = proxy_for(p, first) else {
        return vec![];
    };
    vec![
        Issue::warning(format!("connection to \"{cidr}\" uses proxy \"{proxy}\". This may lead to malfunctional cluster setup. Make sure that Pod and Services IP ranges specified correctly as exceptions in proxy configuration"))
            .fix(format!("export NO_PROXY=$NO_PROXY,{cidr}")),
    ]
}

impl Probe<'_> {
    /// containerd's config: `None` when there is no file, `Err` when it is unreadable.
    fn containerd(&self) -> Option<&Result<(Settings, String), String>> {
        self.containerd
            .get_or_init(|| {
                let text = self.ctx.root.read_optional(containerd::CONFIG).ok()??;
                let text = String::from_utf8_lossy(&text).into_owned();
                Some(
                    containerd::parse(&text)
                        .map(|s| (s, text))
                        .map_err(|e| format!("{e:#}")),
                )
            })
            .as_ref()
    }

    /// containerd's settings, its defaults when it has no config file.
    fn containerd_settings(&self) -> Option<Settings> {
        match self.containerd() {
            None => Some(Settings::defaults()),
            Some(Ok((s, _))) => Some(s.clone()),
            Some(Err(_)) => None,
        }
    }

    fn socket_path(&self) -> String {
        self.ctx.cfg.cri_socket_path().to_string()
    }

    fn uses_containerd(&self) -> bool {
        self.socket_path().contains("containerd")
    }

    fn cri(&self) -> &Result<cri::Probe, cri::CallError> {
        self.cri.get_or_init(|| {
            let path = self.socket_path();
            match self.ctx.root.physical(&path) {
                Ok(physical) => self.ctx.host.cri(&physical, CRI_TIMEOUT),
                Err(e) => Err(cri::CallError::Connect(format!("{e:#}"))),
            }
        })
    }

    fn on_path(&self, bin: &str) -> Option<String> {
        path_dirs()
            .iter()
            .map(|d| format!("{d}/{bin}"))
            .find(|p| self.ctx.root.mode(p).is_ok_and(|m| m & 0o111 != 0))
    }

    /// `apt-get install -y X` or `dnf install -y X` for this host.
    fn install(&self, deb: &str, rpm: &str) -> String {
        if self.on_path("apt-get").is_none() && self.on_path("dnf").is_some() {
            format!("dnf install -y {rpm}")
        } else {
            format!("apt-get install -y {deb}")
        }
    }

    fn restart_hint(&self, unit: &str) -> String {
        if host::systemd_running(&self.ctx.root) {
            format!("systemctl restart {unit}")
        } else {
            format!("restart {unit} (systemd does not run here)")
        }
    }
}

fn cri_check(p: &Probe) -> Vec<Issue> {
    let socket = p.ctx.cfg.cri_socket.clone();
    let not_running = |detail: &str| format!("container runtime is not running: {detail}");
    match p.cri() {
        Ok(found) => {
            p.ctx.out.detail(&format!(
                "[preflight] CRI: {} {} answers on {socket} ({})",
                found.version.runtime_name, found.version.runtime_version, found.version.api
            ));
            let mut issues = Vec::new();
            if found.version.api != "runtime.v1" && p.ctx.profile().cri_v1_required {
                issues.push(
                    Issue::error(not_running(&format!(
                        "validate service connection: CRI v1 runtime API is not implemented for endpoint \"{socket}\": {} {} only speaks {}",
                        found.version.runtime_name, found.version.runtime_version, found.version.api
                    )))
                    .why(format!("the kubelet of Kubernetes {} speaks CRI runtime.v1 only", p.ctx.cfg.version))
                    .fix(format!("upgrade the runtime (containerd 1.6 or newer): {}", p.install("containerd", "containerd.io"))),
                );
            }
            if let Some(c) = found
                .conditions
                .iter()
                .find(|c| c.kind == "RuntimeReady" && !c.status)
            {
                issues.push(
                    Issue::error(format!(
                        "container runtime condition \"RuntimeReady\" is not true. reason: {}, message: {}",
                        c.reason, c.message
                    ))
                    .fix(format!("look at the runtime's log: journalctl -u {}", if p.uses_containerd() { "containerd" } else { "crio" })),
                );
            }
            issues
        }
        Err(cri::CallError::Status { code, message }) if *code == cri::UNIMPLEMENTED => {
            let issue = Issue::error(not_running(&format!(
                "validate service connection: CRI v1 runtime API is not implemented for endpoint \"{socket}\": rpc error: code = Unimplemented desc = {message}"
            )));
            let Some(Ok((settings, text))) = p.containerd() else {
                return vec![issue.why(format!(
                    "the runtime on {socket} answers but does not serve the CRI API"
                ))];
            };
            let Some((entry, line, line_text)) = &settings.cri_disabled else {
                return vec![issue.why(format!("the runtime on {socket} answers but does not serve the CRI API, and {} does not disable it; is this containerd?", containerd::CONFIG))];
            };
            let edits = Edits {
                enable_cri: true,
                ..Edits::default()
            };
            let edit_line = if line_text.starts_with("disabled_plugins") {
                let fixed = containerd::edit(Some(text), &edits)
                    .ok()
                    .and_then(|t| t.lines().nth(line - 1).map(|l| l.trim().to_string()))
                    .unwrap_or_default();
                format!(
                    "edit {} line {line}: `{line_text}` → `{fixed}`",
                    containerd::CONFIG
                )
            } else {
                format!(
                    "edit {} line {line}: delete `{line_text}` from disabled_plugins",
                    containerd::CONFIG
                )
            };
            vec![
                issue
                    .why(format!(
                        "{} line {line}: `{line_text}` disables containerd's CRI plugin (\"{entry}\"); containerd packages built for Docker ship this file",
                        containerd::CONFIG
                    ))
                    .fix(edit_line)
                    .fix(p.restart_hint("containerd"))
                    .repair(Repair::Containerd(edits)),
            ]
        }
        Err(e @ cri::CallError::Connect(_)) => {
            let issue = Issue::error(not_running(&format!("validate service connection: {e}")))
                .why(format!("nothing answers on the CRI socket {socket}"));
            let issue = if !p.uses_containerd() {
                issue.fix("start the container runtime that owns this socket")
            } else if p.on_path("containerd").is_none() {
                issue
                    .fix(p.install("containerd runc", "containerd.io"))
                    .fix(p.restart_hint("containerd"))
            } else if host::systemd_running(&p.ctx.root) {
                issue.fix("systemctl enable --now containerd")
            } else {
                issue.fix("start containerd (systemd does not run here)")
            };
            vec![issue]
        }
        Err(e) => vec![
            Issue::error(not_running(&format!("validate service connection: {e}"))).fix(format!(
                "look at the runtime's log: journalctl -u {}",
                if p.uses_containerd() {
                    "containerd"
                } else {
                    "crio"
                }
            )),
        ],
    }
}

/// The kubelet's cgroup driver: the KubeletConfiguration's, else the version's default.
fn kubelet_cgroup_driver(ctx: &Context) -> String {
    ctx.cfg
        .kubelet
        .as_ref()
        .and_then(|k| k.get("cgroupDriver"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| ctx.profile().kubelet_cgroup_driver_default.to_string())
}

fn cgroup_driver(p: &Probe) -> Vec<Issue> {
    if !p.uses_containerd() {
        return vec![];
    }
    let settings = match p.containerd() {
        Some(Err(e)) => {
            return vec![
                Issue::error(format!("cannot read {}: {e}", containerd::CONFIG))
                    .fix(format!("correct the TOML of {}", containerd::CONFIG)),
            ];
        }
        _ => match p.containerd_settings() {
            Some(s) => s,
            None => return vec![],
        },
    };
    let kubelet = kubelet_cgroup_driver(p.ctx);
    let runtime_systemd = settings.systemd_cgroup.is_some_and(|s| s.0);
    if (kubelet == "systemd") == runtime_systemd {
        return vec![];
    }
    let runtime = if runtime_systemd {
        "systemd"
    } else {
        "cgroupfs"
    };
    let cgroup = if p.ctx.root.exists("/sys/fs/cgroup/cgroup.controllers") {
        "cgroup v2"
    } else {
        "cgroup v1"
    };
    let want = kubelet == "systemd";
    let place = match settings.systemd_cgroup {
        Some((_, line)) => format!("{} line {line}", containerd::CONFIG),
        None if p.containerd().is_none() => {
            format!("a new {} (none exists)", containerd::CONFIG)
        }
        None => containerd::CONFIG.to_string(),
    };
    vec![
        Issue::error(format!(
            "the kubelet uses the \"{kubelet}\" cgroup driver but containerd runs containers with \"{runtime}\" (SystemdCgroup = {runtime_systemd})"
        ))
        .why(format!(
            "on this {cgroup} host two managers would own the pods' cgroups: the control plane starts, then is killed and restarted every few minutes"
        ))
        .fix(format!(
            "set `SystemdCgroup = {want}` under [{}] in {place}",
            settings.runc_options_table()
        ))
        .fix(p.restart_hint("containerd"))
        .fix(format!(
            "or make the kubelet match: `cgroupDriver: {runtime}` in a KubeletConfiguration document of the --config file"
        ))
        .repair(Repair::Containerd(Edits {
            systemd_cgroup: Some(want),
            ..Edits::default()
        })),
    ]
}

/// The sandbox image containerd uses when its config sets none, by containerd release.
fn containerd_default_sandbox(runtime_version: &str) -> Option<&'static str> {
    let v = runtime_version.trim_start_matches('v');
    let mut parts = v.split(['.', '~', '-']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some(match (major, minor) {
        (1, ..=6) => "registry.k8s.io/pause:3.6",
        (1, _) => "registry.k8s.io/pause:3.8",
        (2, ..=1) => "registry.k8s.io/pause:3.10",
        _ => "registry.k8s.io/pause:3.10.1",
    })
}

fn sandbox_image(p: &Probe) -> Vec<Issue> {
    if !p.uses_containerd() {
        return vec![];
    }
    let Some(settings) = p.containerd_settings() else {
        return vec![];
    };
    let current = match &settings.sandbox_image {
        Some((image, _)) => image.clone(),
        None => match p.cri() {
            Ok(found) => match containerd_default_sandbox(&found.version.runtime_version) {
                Some(image) => image.to_string(),
                None => return vec![],
            },
            Err(_) => return vec![],
        },
    };
    let want = format!(
        "{}/pause:{}",
        p.ctx.cfg.cluster.image_repository,
        p.ctx.profile().pause_image_tag
    );
    if current == want {
        return vec![];
    }
    let place = match settings.sandbox_image {
        Some((_, line)) => format!("{} line {line}", containerd::CONFIG),
        None => containerd::CONFIG.to_string(),
    };
    vec![
        Issue::warning(format!(
            "detected that the sandbox image \"{current}\" of the container runtime is inconsistent with that used by kubeadm. It is recommended to use \"{want}\" as the CRI sandbox image"
        ))
        .why("the runtime pulls its own pause image for every pod; a different one is an extra download, and is missing on offline hosts")
        .fix(format!("set `{} = \"{want}\"` in {place}", settings.sandbox_key()))
        .fix(p.restart_hint("containerd"))
        .repair(Repair::Containerd(Edits {
            sandbox_image: Some(want),
            ..Edits::default()
        })),
    ]
}

fn swap(p: &Probe) -> Vec<Issue> {
    let devices = kernel::swap_devices(&p.ctx.root);
    if devices.is_empty() {
        return vec![];
    }
    let issue = match p.ctx.profile().swap_check {
        SwapCheck::Error => {
            Issue::error("running with swap on is not supported. Please disable swap")
        }
        SwapCheck::WarnNodeSwap => Issue::warning(
            "swap is enabled; production deployments should disable swap unless testing the NodeSwap feature gate of the kubelet",
        ),
        SwapCheck::WarnCgroupV2 => Issue::warning(
            "swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node",
        ),
    };
    let mut issue = issue
        .why(format!(
            "swap is on ({}); the kubelet refuses to start with swap unless its KubeletConfiguration says `failSwapOn: false`",
            devices.join(", ")
        ))
        .fix("swapoff -a");
    let lines = kernel::fstab_swap_lines(&p.ctx.root);
    for (n, line) in &lines {
        issue = issue.fix(format!(
            "comment out /etc/fstab line {n} so swap stays off after a reboot: `{line}`"
        ));
    }
    issue = issue.fix("or keep swap: add `failSwapOn: false` to a KubeletConfiguration document of the --config file; kubelet-start writes it");
    vec![issue.repair(Repair::SwapOff)]
}

fn file_existing(p: &Probe, bin: &str, level: Level) -> Vec<Issue> {
    if p.on_path(bin).is_some() {
        return vec![];
    }
    let (deb, rpm) = match bin {
        "crictl" => ("cri-tools", "cri-tools"),
        "conntrack" => ("conntrack", "conntrack-tools"),
        "ip" => ("iproute2", "iproute"),
        "tc" => ("iproute2", "iproute-tc"),
        "mount" => ("mount", "util-linux"),
        "nsenter" => ("util-linux", "util-linux"),
        "touch" => ("coreutils", "coreutils"),
        other => (other, other),
    };
    vec![
        Issue::new(level, format!("{bin} not found in system path"))
            .why(format!("kubestrap looked in {}", path_dirs().join(":")))
            .fix(p.install(deb, rpm)),
    ]
}

fn system_verification(p: &Probe) -> Vec<Issue> {
    let root = &p.ctx.root;
    let mut issues = Vec::new();
    let release = root
        .read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    let (min_major, min_minor) = p.ctx.profile().min_kernel;
    let mut parts = release.split(['.', '-']);
    let major: Option<u32> = parts.next().and_then(|v| v.parse().ok());
    let minor: Option<u32> = parts.next().and_then(|v| v.parse().ok());
    match (major, minor) {
        (Some(ma), Some(mi)) if (ma, mi) >= (min_major, min_minor) => {}
        _ => issues.push(
            Issue::error(format!(
                "kernel release {release} is unsupported. Recommended LTS version from the 4.x series is 4.19. Any 5.x or 6.x versions are also supported"
            ))
            .fix(format!("run a kernel {min_major}.{min_minor} or newer")),
        ),
    }
    issues.extend(kernel_config(p, &release));
    let v2 = root.exists("/sys/fs/cgroup/cgroup.controllers");
    let enabled: Vec<String> = if v2 {
        let mut c: Vec<String> = root
            .read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        // cgroup v2 has no devices or freezer controller files: eBPF and cgroup.freeze replace them.
        c.extend(["devices".to_string(), "freezer".to_string()]);
        c
    } else {
        root.read_to_string("/proc/cgroups")
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
            })
            .collect()
    };
    let required: &[&str] = if v2 {
        &["cpu", "cpuset", "devices", "freezer", "memory", "pids"]
    } else {
        &[
            "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
        ]
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !enabled.iter().any(|e| e == c))
        .collect();
    if !missing.is_empty() {
        issues.push(
            Issue::error(format!("missing required cgroups: {}", missing.join(" ")))
                .why(if v2 {
                    "/sys/fs/cgroup/cgroup.controllers does not list them"
                } else {
                    "/proc/cgroups shows them disabled"
                })
                .fix("enable them on the kernel command line (e.g. `cgroup_enable=memory` on Raspberry Pi OS) and reboot"),
        );
    }
    if !enabled.iter().any(|e| e == "hugetlb") {
        issues.push(Issue::warning("missing optional cgroups: hugetlb"));
    }
    if !v2 && p.ctx.cfg.version.at_least(31) {
        issues.push(
            Issue::warning(
                "cgroups v1 support is in maintenance mode, please migrate to cgroups v2",
            )
            .fix("boot with `systemd.unified_cgroup_hierarchy=1` on the kernel command line"),
        );
    }
    issues
}

/// Kernel options the node needs (`CONFIG_` omitted), each with an accepted alias.
const KERNEL_CONFIGS: &[(&str, Option<&str>)] = &[
    ("NAMESPACES", None),
    ("NET_NS", None),
    ("PID_NS", None),
    ("IPC_NS", None),
    ("UTS_NS", None),
    ("CGROUPS", None),
    ("CGROUP_CPUACCT", None),
    ("CGROUP_DEVICE", None),
    ("CGROUP_FREEZER", None),
    ("CGROUP_SCHED", None),
    ("CPUSETS", None),
    ("MEMCG", None),
    ("INET", None),
    ("EXT4_FS", None),
    ("PROC_FS", None),
    (
        "NETFILTER_XT_TARGET_REDIRECT",
        Some("IP_NF_TARGET_REDIRECT"),
    ),
    ("NETFILTER_XT_MATCH_COMMENT", None),
];

/// The kernel's build options: `/boot/config-<release>`, else the running kernel's own
/// `/proc/config.gz` (kernels built with `CONFIG_IKCONFIG_PROC`).
fn read_kernel_config(p: &Probe, boot: &str) -> Option<(String, &'static str)> {
    if let Ok(text) = p.ctx.root.read_to_string(boot) {
        return Some((text, ""));
    }
    let gz = p.ctx.root.read_optional(PROC_CONFIG).ok()??;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).ok()?;
    Some((text, PROC_CONFIG))
}

const PROC_CONFIG: &str = "/proc/config.gz";

/// The required kernel options, from `/boot/config-<release>` or `/proc/config.gz`.
fn kernel_config(p: &Probe, release: &str) -> Vec<Issue> {
    let boot = format!("/boot/config-{release}");
    let Some((text, source)) = read_kernel_config(p, &boot) else {
        return vec![
            Issue::warning(format!(
                "failed to parse kernel config: {boot} does not exist"
            ))
            .why(format!(
                "nor does a readable {PROC_CONFIG}: the kernel's build options cannot be checked"
            )),
        ];
    };
    let path = if source.is_empty() {
        boot
    } else {
        source.to_string()
    };
    let set = |name: &str| {
        text.lines().any(|l| {
            l.strip_prefix("CONFIG_")
                .and_then(|l| l.strip_prefix(name))
                .is_some_and(|v| v == "=y" || v == "=m")
        })
    };
    let missing: Vec<String> = KERNEL_CONFIGS
        .iter()
        .filter(|(name, alias)| !set(name) && !alias.is_some_and(set))
        .map(|(name, _)| format!("CONFIG_{name}"))
        .collect();
    if missing.is_empty() {
        return vec![];
    }
    vec![
        Issue::error(format!("unexpected kernel config: {}", missing.join(" ")))
            .why(format!("{path} does not enable them"))
            .fix("run a distribution kernel, or rebuild this one with those options (y or m)"),
    ]
}

/// DNS-1123 subdomain: lower-case alphanumerics, `-` and `.`, at most 253 characters.
fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn hostname(p: &Probe) -> Vec<Issue> {
    let name = &p.ctx.cfg.node_name;
    let mut issues = Vec::new();
    if !valid_node_name(name) {
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

fn kubelet_version(p: &Probe) -> Vec<Issue> {
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

fn service_kubelet(p: &Probe) -> Vec<Issue> {
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

fn sysctl_check<'a>(key: &'static str) -> Check<'a> {
    let path = kernel::sysctl_path(key);
    check(path_name("FileContent-", &path), move |p| {
        let bridge = key.starts_with("net.bridge.");
        let persist = format!("echo '{key} = 1' >> /etc/sysctl.d/99-kubernetes.conf");
        match p.ctx.root.read_to_string(&path) {
            Err(_) => {
                let issue = Issue::error(format!("{path} does not exist"));
                let issue = if bridge {
                    issue
                        .why("the br_netfilter kernel module is not loaded")
                        .fix("modprobe br_netfilter && echo br_netfilter >> /etc/modules-load.d/k8s.conf")
                } else {
                    issue.why("this kernel does not offer the setting")
                };
                vec![
                    issue
                        .fix(format!("sysctl -w {key}=1"))
                        .fix(persist)
                        .repair(Repair::Sysctl { key }),
                ]
            }
            Ok(v) if v.trim() == "1" => vec![],
            Ok(v) => vec![
                Issue::error(format!("{path} contents are not set to 1"))
                    .why(format!(
                        "it is {}; pods' traffic would not be forwarded",
                        v.trim()
                    ))
                    .fix(format!("sysctl -w {key}=1"))
                    .fix(persist)
                    .repair(Repair::Sysctl { key }),
            ],
        }
    })
}

fn kernel_modules(p: &Probe) -> Vec<Issue> {
    kernel::MODULES
        .iter()
        .filter(|m| !kernel::module_loaded(&p.ctx.root, m))
        .map(|m| {
            let why = if *m == "overlay" {
                "containerd's overlayfs snapshotter needs it"
            } else {
                "kube-proxy and most pod networks need bridged traffic to pass iptables"
            };
            Issue::warning(format!("kernel module {m} is not loaded"))
                .why(why)
                .fix(format!(
                    "modprobe {m} && echo {m} >> /etc/modules-load.d/k8s.conf"
                ))
                .repair(Repair::Module { name: m })
        })
        .collect()
}

/// How long one image pull may take; a status question takes [`CRI_TIMEOUT`].
const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// The registry host of an image reference (`docker.io` when it names none).
fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((host, _)) if host.contains(['.', ':']) || host == "localhost" => host,
        _ => "docker.io",
    }
}

/// kubeadm's `ImagePull`: every image of the control plane present in the runtime, pulled per
/// `nodeRegistration.imagePullPolicy`.
pub(crate) fn image_pull(p: &Probe) -> Vec<Issue> {
    let policy = p.ctx.cfg.init.node_registration.image_pull_policy.as_str();
    if policy == "Never" {
        return vec![];
    }
    if policy != "IfNotPresent" && policy != "Always" {
        return vec![
            Issue::error(format!("unsupported pull policy {policy:?}"))
                .fix("set nodeRegistration.imagePullPolicy to IfNotPresent, Always or Never"),
        ];
    }
    let socket = match p.ctx.root.physical(p.socket_path()) {
        Ok(s) => s,
        Err(e) => return vec![Issue::error(format!("{e:#}"))],
    };
    let host = p.ctx.host.as_ref();
    let mut issues = Vec::new();
    for image in crate::version::images::all(&p.ctx.cfg) {
        if policy == "IfNotPresent" {
            match host.image_present(&socket, &image, CRI_TIMEOUT) {
                Ok(true) => {
                    p.ctx
                        .out
                        .detail(&format!("[preflight] image {image} exists"));
                    continue;
                }
                Ok(false) => {}
                Err(e @ cri::CallError::Connect(_)) => {
                    // No runtime: every other image would fail the same way.
                    issues.push(
                        Issue::error(format!("failed to check if image {image} exists: {e}"))
                            .why("nothing answers on the CRI socket; see the CRI check"),
                    );
                    break;
                }
                Err(e) => issues.push(Issue::error(format!(
                    "failed to check if image {image} exists: {e}"
                ))),
            }
        }
        p.ctx.out.detail(&format!("[preflight] pulling {image}"));
        if let Err(e) = host.pull_image(&socket, &image, PULL_TIMEOUT) {
            let registry = registry_of(&image);
            issues.push(
                Issue::error(format!("failed to pull image {image}: {e}"))
                    .why(format!("the container runtime could not fetch it from {registry}"))
                    .fix(format!("check that this host reaches {registry} (and the runtime's proxy settings, e.g. HTTPS_PROXY in containerd's systemd unit)"))
                    .fix("or pull from a registry it reaches: --image-repository <registry>")
                    .fix(format!("or load it beforehand from a tarball: ctr -n k8s.io images import <file>.tar   (an archive holding {image})")),
            );
        }
    }
    issues
}

/// The oldest external etcd kubeadm accepts (`MinExternalEtcdVersion`): 3.2.18 until 1.27,
/// 3.4.13-4 from 1.28 (PR #118733), 3.5.11-0 from 1.31.
fn min_external_etcd(v: KubeVersion) -> &'static str {
    if v.at_least(31) {
        "3.5.11-0"
    } else if v.at_least(28) {
        "3.4.13-4"
    } else {
        "3.2.18"
    }
}

/// How long one endpoint may take to answer `GET /version`.
const ETCD_TIMEOUT: Duration = Duration::from_secs(5);

/// kubeadm's `ExternalEtcdVersion`: every endpoint answers `/version` with a version kubeadm supports.
fn external_etcd_version(p: &Probe, etcd: &crate::config::ExternalEtcd) -> Vec<Issue> {
    let min = min_external_etcd(p.ctx.cfg.version);
    let read = |f: &str| p.ctx.root.read(f).map_err(|e| format!("{e:#}"));
    let tls = if etcd.ca_file.is_empty() {
        None
    } else {
        let identity = if etcd.cert_file.is_empty() || etcd.key_file.is_empty() {
            Ok(None)
        } else {
            read(&etcd.cert_file).and_then(|c| read(&etcd.key_file).map(|k| Some((c, k))))
        };
        match read(&etcd.ca_file).and_then(|ca| identity.map(|identity| (ca, identity))) {
            Ok((ca, identity)) => Some(crate::api::etcd::ClientTls { ca, identity }),
            // The files' own check names the missing one.
            Err(_) => return vec![],
        }
    };
    let mut issues = Vec::new();
    for endpoint in &etcd.endpoints {
        match crate::api::etcd::server_version(endpoint, tls.as_ref(), ETCD_TIMEOUT) {
            Ok(version) => {
                let old = match (
                    crate::api::etcd::numeric(&version),
                    crate::api::etcd::numeric(min),
                ) {
                    (Some(have), Some(want)) => have < want,
                    _ => true,
                };
                if old {
                    issues.push(
                        Issue::error(format!("this version of kubeadm only supports external etcd version >= {min}. Current version: {version}"))
                            .why(format!("the API server of Kubernetes {} relies on etcd features and fixes of {min}", p.ctx.cfg.version))
                            .fix(format!("upgrade the etcd cluster at {endpoint} to {min} or newer")),
                    );
                }
            }
            Err(e) => issues.push(
                Issue::error(format!("failed to get the version of the external etcd at {endpoint}: {e:#}"))
                    .why("kubestrap asks each endpoint for GET /version with etcd.external's caFile, certFile and keyFile")
                    .fix(format!("check that etcd serves clients on {endpoint} and trusts the client certificate (its --trusted-ca-file), and that caFile signed its serving certificate")),
            ),
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubeadm() {
        assert_eq!(
            path_name(
                "FileAvailable-",
                "/etc/kubernetes/manifests/kube-apiserver.yaml"
            ),
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml"
        );
        assert_eq!(
            path_name("FileContent-", &kernel::sysctl_path("net.ipv4.ip_forward")),
            "FileContent--proc-sys-net-ipv4-ip_forward"
        );
    }

    #[test]
    fn cidrs_and_node_names() {
        assert!(cidr_contains("10.96.0.0/12", "10.96.0.1".parse().unwrap()));
        assert!(!cidr_contains(
            "10.96.0.0/12",
            "10.112.0.1".parse().unwrap()
        ));
        assert!(valid_node_name("node-1.example"));
        assert!(!valid_node_name("Node_1"));
        assert_eq!(
            containerd_default_sandbox("1.6.20~ds1"),
            Some("registry.k8s.io/pause:3.6")
        );
    }
}
