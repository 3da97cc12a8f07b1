//! What the kernel says about swap, modules and sysctls, read through the root (preflight checks
//! them, `--fix` changes them).

use crate::fs::root::Root;

/// The active swap devices listed in `/proc/swaps`.
pub fn swap_devices(root: &Root) -> Vec<String> {
    root.read_to_string("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// `/etc/fstab` lines (1-based number, text) that turn swap on at boot.
pub fn fstab_swap_lines(root: &Root) -> Vec<(usize, String)> {
    root.read_to_string("/etc/fstab")
        .unwrap_or_default()
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let f: Vec<&str> = l.split_whitespace().collect();
            !l.trim_start().starts_with('#') && f.len() >= 3 && f[2] == "swap"
        })
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`.
pub fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// Kernel modules the runtime and the pod network need.
pub const MODULES: &[&str] = &["overlay", "br_netfilter"];

/// Whether a module is loaded or built in.
pub fn module_loaded(root: &Root, module: &str) -> bool {
    root.exists(format!("/sys/module/{module}"))
        || root
            .read_to_string("/proc/modules")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().next() == Some(module))
}
