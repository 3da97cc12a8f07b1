//! The check table: kubeadm's checks in kubeadm's order for the target version, plus the few
//! kubestrap adds (`CgroupDriver`, `SandboxImage`, `KernelModules`) where kubeadm stays silent.

mod external_etcd;
mod files;
mod images;
mod kernel;
mod network;
mod runtime;
mod system;

use external_etcd::external_etcd_version;
use files::{dir_available, file_available, file_existing};
pub(crate) use images::image_pull;
use kernel::{kernel_modules, swap, sysctl_check, system_verification};
use network::{advertise_address, http_proxy, http_proxy_cidr, is_v4_cidr, port_check};
use runtime::{cgroup_driver, cri_check, sandbox_image};
use system::{firewalld, hostname, kubelet_unit, kubelet_version, mem, num_cpu, service_kubelet};

use super::{Issue, Level, Probe, Role};
use crate::fs::paths;
use crate::runner::context::Context;

/// What a check does: the issues it finds.
type CheckFn<'a> = Box<dyn Fn(&Probe) -> Vec<Issue> + 'a>;

/// A named check.
pub(crate) struct Check<'a> {
    pub name: String,
    pub run: CheckFn<'a>,
}

pub(super) fn check<'a>(
    name: impl Into<String>,
    run: impl Fn(&Probe) -> Vec<Issue> + 'a,
) -> Check<'a> {
    Check {
        name: name.into(),
        run: Box::new(run),
    }
}

/// `FileAvailable--etc-kubernetes-kubelet.conf` from `/etc/kubernetes/kubelet.conf`.
pub(super) fn path_name(prefix: &str, path: &str) -> String {
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
    if role.joins() {
        for name in ["kubelet.conf", "bootstrap-kubelet.conf"] {
            let path = paths::kubeconfig(name);
            t.push(check(path_name("FileAvailable-", &path), move |p| {
                file_available(p, &path)
            }));
        }
    }
    if role.control_plane() {
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
    t.push(check("KubeletUnit", kubelet_unit));
    t.push(check("Port-10250", |p| port_check(p, 10250, "")));
    if role == Role::Join {
        // A control-plane join brings the CA with the shared certificates.
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
    if role.control_plane() {
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

#[cfg(test)]
mod tests {
    use super::runtime::containerd_default_sandbox;
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
            path_name(
                "FileContent-",
                &crate::host::kernel_state::sysctl_path("net.ipv4.ip_forward")
            ),
            "FileContent--proc-sys-net-ipv4-ip_forward"
        );
    }

    #[test]
    fn containerd_default_sandbox_by_version() {
        assert_eq!(
            containerd_default_sandbox("1.6.20~ds1"),
            Some("registry.k8s.io/pause:3.6")
        );
    }
}
