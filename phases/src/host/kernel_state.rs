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

/// What br_netfilter provides: a kernel with it built in may list no `/sys/module/br_netfilter`
/// (no parameters), yet it has these sysctls, which is what kubeadm checks.
const BRIDGE_NF_SYSCTL: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Whether a module is loaded or built in.
pub fn module_loaded(root: &Root, module: &str) -> bool {
    root.exists(format!("/sys/module/{module}"))
        || (module == "br_netfilter" && root.exists(BRIDGE_NF_SYSCTL))
        || root
            .read_to_string("/proc/modules")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().next() == Some(module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_netfilter_built_in_counts_as_loaded_by_its_sysctls() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert!(!module_loaded(&root, "br_netfilter"));
        root.create_dir("/proc/sys/net/bridge", 0o755).unwrap();
        root.write(BRIDGE_NF_SYSCTL, b"1\n", 0o644).unwrap();
        assert!(module_loaded(&root, "br_netfilter"));
        // The sysctls say nothing of another module.
        assert!(!module_loaded(&root, "overlay"));
    }

    #[test]
    fn a_module_listed_in_proc_modules_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.create_dir("/proc", 0o755).unwrap();
        root.write("/proc/modules", b"overlay 151552 0 - Live 0x0\n", 0o644)
            .unwrap();
        assert!(module_loaded(&root, "overlay"));
        assert!(!module_loaded(&root, "br_netfilter"));
    }
}
