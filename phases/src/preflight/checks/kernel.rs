//! The kernel: swap, version and configuration, sysctls, modules.

use super::{Check, check, path_name};
use crate::host::kernel_state;
use crate::preflight::fix::Repair;
use crate::preflight::{Issue, Probe};
use crate::version::SwapCheck;

pub(super) fn swap(p: &Probe) -> Vec<Issue> {
    let devices = kernel_state::swap_devices(&p.ctx.root);
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
    let lines = kernel_state::fstab_swap_lines(&p.ctx.root);
    for (n, line) in &lines {
        issue = issue.fix(format!(
            "comment out /etc/fstab line {n} so swap stays off after a reboot: `{line}`"
        ));
    }
    issue = issue.fix("or keep swap: add `failSwapOn: false` to a KubeletConfiguration document of the --config file; kubelet-start writes it");
    vec![issue.repair(Repair::SwapOff)]
}

pub(super) fn system_verification(p: &Probe) -> Vec<Issue> {
    let root = &p.ctx.root;
    let mut issues = Vec::new();
    let release = root
        .read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    if release.is_empty() {
        // Under a --root without /proc there is no kernel to judge.
        return vec![
            Issue::warning(format!(
                "the kernel release cannot be read (`/proc/sys/kernel/osrelease` under {}): the kernel is not checked",
                root.base().display()
            ))
            .why("every path, /proc included, is read under --root"),
        ];
    }
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
pub(super) const KERNEL_CONFIGS: &[(&str, Option<&str>)] = &[
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
pub(super) fn read_kernel_config(p: &Probe, boot: &str) -> Option<(String, &'static str)> {
    if let Ok(text) = p.ctx.root.read_to_string(boot) {
        return Some((text, ""));
    }
    let gz = p.ctx.root.read_optional(PROC_CONFIG).ok()??;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).ok()?;
    Some((text, PROC_CONFIG))
}

pub(super) const PROC_CONFIG: &str = "/proc/config.gz";

/// The required kernel options, from `/boot/config-<release>` or `/proc/config.gz`.
pub(super) fn kernel_config(p: &Probe, release: &str) -> Vec<Issue> {
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

pub(super) fn sysctl_check<'a>(key: &'static str) -> Check<'a> {
    let path = kernel_state::sysctl_path(key);
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

pub(super) fn kernel_modules(p: &Probe) -> Vec<Issue> {
    kernel_state::MODULES
        .iter()
        .filter(|m| !kernel_state::module_loaded(&p.ctx.root, m))
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
