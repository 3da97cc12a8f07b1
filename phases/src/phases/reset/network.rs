//! `reset --cleanup-network`: what a pod network and kube-proxy leave on a node, which kubeadm's
//! reset only tells the user to remove by hand: the CNI configuration and state, the network
//! plugins' interfaces (`cni0`, `flannel.*`, `cali*`, `cilium_*`, `kube-ipvs0`) and the `KUBE-*`
//! iptables/ip6tables chains with the rules of other chains that jump to them. Any other rule,
//! chain or interface stays.

use crate::runner::context::Context;

/// The CNI configuration folder.
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// The CNI plugins' state (IP allocations).
pub const CNI_STATE_DIR: &str = "/var/lib/cni";
/// Where the kernel lists the network interfaces.
const SYS_NET: &str = "/sys/class/net";
/// The programs that dump and restore each family's rules.
const IPTABLES: [(&str, &str); 2] = [
    ("iptables-save", "iptables-restore"),
    ("ip6tables-save", "ip6tables-restore"),
];

/// Whether an interface is one a network plugin or kube-proxy creates.
pub fn is_cluster_interface(name: &str) -> bool {
    name == "cni0"
        || name == "kube-ipvs0"
        || name.starts_with("flannel.")
        || name.starts_with("cali")
        || name.starts_with("cilium_")
}

/// The `KUBE-*` chains of one table and the rules of other chains that jump to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeChains {
    pub table: String,
    pub chains: Vec<String>,
    /// `-A CHAIN …` lines as `iptables-save` prints them.
    pub jumps: Vec<String>,
}

impl KubeChains {
    /// The `iptables-restore --noflush` input that removes them: the jumps, then the chains.
    pub fn removal(&self) -> String {
        let mut script = format!("*{}\n", self.table);
        for rule in &self.jumps {
            script.push_str(&rule.replacen("-A ", "-D ", 1));
            script.push('\n');
        }
        for chain in &self.chains {
            script.push_str(&format!("-F {chain}\n"));
        }
        for chain in &self.chains {
            script.push_str(&format!("-X {chain}\n"));
        }
        script.push_str("COMMIT\n");
        script
    }
}

fn is_kube_chain(name: &str) -> bool {
    name.starts_with("KUBE-")
}

/// The `KUBE-*` chains per table in `iptables-save` output (tables without any are left out).
pub fn kube_chains(save: &str) -> Vec<KubeChains> {
    let mut tables: Vec<KubeChains> = Vec::new();
    for line in save.lines() {
        if let Some(table) = line.strip_prefix('*') {
            tables.push(KubeChains {
                table: table.trim().to_string(),
                ..KubeChains::default()
            });
            continue;
        }
        let Some(current) = tables.last_mut() else {
            continue;
        };
        if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or_default();
            if is_kube_chain(name) {
                current.chains.push(name.to_string());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let chain = rule.split_whitespace().next().unwrap_or_default();
            let mut words = rule.split_whitespace();
            let jumps = std::iter::from_fn(|| words.next())
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| matches!(w[0], "-j" | "-g") && is_kube_chain(w[1]));
            if !is_kube_chain(chain) && jumps {
                current.jumps.push(line.to_string());
            }
        }
    }
    tables.retain(|t| !t.chains.is_empty() || !t.jumps.is_empty());
    tables
}

/// What of the pod network is still on the host: CNI files, interfaces, `KUBE-*` chains.
pub fn leftovers(ctx: &Context) -> Vec<String> {
    let mut left = Vec::new();
    for dir in [CNI_CONF_DIR, CNI_STATE_DIR] {
        for name in ctx.root.list(dir).unwrap_or_default() {
            left.push(format!("file {dir}/{name}"));
        }
    }
    for name in interfaces(ctx) {
        left.push(format!("interface {name}"));
    }
    for (save, _) in IPTABLES {
        let Ok(dump) = ctx.host.output(std::path::Path::new(save), &[]) else {
            continue;
        };
        let family = save.trim_end_matches("-save");
        for t in kube_chains(&dump) {
            for chain in &t.chains {
                left.push(format!("{family} chain {chain} (table {})", t.table));
            }
            for rule in &t.jumps {
                left.push(format!("{family} rule `{rule}` (table {})", t.table));
            }
        }
    }
    left
}

fn interfaces(ctx: &Context) -> Vec<String> {
    ctx.root
        .list(SYS_NET)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| is_cluster_interface(n))
        .collect()
}

/// Removes the CNI configuration and state, the cluster's interfaces and the `KUBE-*` chains.
/// A failure is a warning: the rest still goes, and `--verify` names what is left.
pub fn run(ctx: &Context) {
    let dry = ctx.opts.dry_run;
    let verb = if dry { "Would delete" } else { "Deleting" };
    ctx.out.status(
        "reset",
        &format!("{verb} the CNI configuration and state: [{CNI_CONF_DIR} {CNI_STATE_DIR}]"),
    );
    for dir in [CNI_CONF_DIR, CNI_STATE_DIR] {
        for name in ctx.root.list(dir).unwrap_or_default() {
            if let Err(e) = ctx.root.remove_all(format!("{dir}/{name}")) {
                ctx.out.warn("reset", &format!("{e:#}"));
            }
        }
    }
    for name in interfaces(ctx) {
        if !ctx.may_change_machine("reset", &format!("ip link delete {name}")) {
            continue;
        }
        ctx.out
            .status("reset", &format!("{verb} network interface {name}"));
        if dry {
            continue;
        }
        if let Err(e) = ctx.host.run("ip", &["link", "delete", &name]) {
            ctx.out.warn("reset", &format!("{e:#}"));
        }
    }
    for (save, restore) in IPTABLES {
        if !ctx.may_change_machine("reset", &format!("{restore} (KUBE-* chains)")) {
            continue;
        }
        let dump = match ctx.host.output(std::path::Path::new(save), &[]) {
            Ok(dump) => dump,
            Err(e) => {
                ctx.out
                    .warn("reset", &format!("{save} failed, its chains stay: {e:#}"));
                continue;
            }
        };
        for t in kube_chains(&dump) {
            ctx.out.status(
                "reset",
                &format!(
                    "{verb} {} KUBE-* chains and {} rules jumping to them from the {} table ({restore})",
                    t.chains.len(),
                    t.jumps.len(),
                    t.table
                ),
            );
            if dry {
                continue;
            }
            if let Err(e) = ctx
                .host
                .run_with_input(restore, &["-w", "--noflush"], &t.removal())
            {
                ctx.out.warn("reset", &format!("{e:#}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = "# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-ABC - [0:0]
:MINE - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A OUTPUT -j MINE
-A MINE -d 10.0.0.1/32 -j RETURN
-A KUBE-SERVICES -j KUBE-SVC-ABC
COMMIT
*filter
:INPUT ACCEPT [0:0]
-A INPUT -j ACCEPT
COMMIT
";

    #[test]
    fn finds_only_kube_chains_and_the_jumps_to_them() {
        let found = kube_chains(SAVE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].table, "nat");
        assert_eq!(found[0].chains, ["KUBE-SERVICES", "KUBE-SVC-ABC"]);
        assert_eq!(
            found[0].jumps,
            ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"]
        );
        assert_eq!(
            found[0].removal(),
            "*nat\n-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-F KUBE-SERVICES\n-F KUBE-SVC-ABC\n-X KUBE-SERVICES\n-X KUBE-SVC-ABC\nCOMMIT\n"
        );
    }

    #[test]
    fn cluster_interfaces() {
        for name in ["cni0", "flannel.1", "cali12ab", "cilium_host", "kube-ipvs0"] {
            assert!(is_cluster_interface(name), "{name}");
        }
        for name in ["eth0", "lo", "docker0", "veth1234", "ktb-cni0"] {
            assert!(!is_cluster_interface(name), "{name}");
        }
    }
}
