//! What `/proc` (under the root) tells about the machine: mounts, listening sockets and their
//! processes, and the default route.

use std::path::{Path, PathBuf};

use crate::fs::root::Root;

/// The mount points in a `/proc/self/mountinfo` text that lie below `dir` (not `dir` itself).
pub fn mount_points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mount_path(field)))
        .filter(|p| p != dir && p.starts_with(dir))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape_mount_path(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A process, as /proc tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// `comm`: the short command name.
    pub name: String,
    /// The full command line, arguments joined by spaces.
    pub cmdline: String,
}

/// Whether `/proc/net/tcp{,6}` under the root shows a socket listening on `port` (a bind probe
/// alone misses listeners on one address that set SO_REUSEADDR).
pub fn port_listening(root: &Root, port: u16) -> bool {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| root.read_to_string(f).ok())
        .any(|table| !listening_inodes(&table, port).is_empty())
}

/// The process holding a listening TCP socket on `port`, from `/proc/net/tcp{,6}` and `/proc/<pid>/fd`
/// under the root; `None` when /proc does not tell (another namespace, no permission).
pub fn port_owner(root: &Root, port: u16) -> Option<Process> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| root.read_to_string(f).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut pids: Vec<u32> = root
        .list("/proc")
        .ok()?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let fd_dir = format!("/proc/{pid}/fd");
        let Ok(fds) = root.list(&fd_dir) else {
            continue;
        };
        let holds = fds.iter().any(|fd| {
            root.physical(format!("{fd_dir}/{fd}"))
                .ok()
                .and_then(|p| std::fs::read_link(p).ok())
                .is_some_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
        });
        if holds {
            return Some(Process::read(root, pid));
        }
    }
    None
}

impl Process {
    /// The name and command line of a process, from `/proc/<pid>` under the root.
    fn read(root: &Root, pid: u32) -> Process {
        let name = root
            .read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        let cmdline = root
            .read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                c.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Process { pid, name, cmdline }
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.cmdline.is_empty() {
            &self.name
        } else {
            &self.cmdline
        };
        write!(f, "pid {} (`{shown}`)", self.pid)
    }
}

/// The processes that use something below `dir` (a real path): their working folder, root
/// folder, an open file or a mapped file lies there, as `/proc` under the root tells.
pub fn processes_using(root: &Root, dir: &Path) -> Vec<Process> {
    let mut pids: Vec<u32> = root
        .list("/proc")
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    let inside = |target: &Path| target == dir || target.starts_with(dir);
    let link = |logical: String| {
        root.physical(logical)
            .ok()
            .and_then(|p| std::fs::read_link(p).ok())
    };
    pids.into_iter()
        .filter(|pid| {
            let proc_dir = format!("/proc/{pid}");
            let by_link = ["cwd", "root"]
                .iter()
                .filter_map(|l| link(format!("{proc_dir}/{l}")))
                .chain(
                    root.list(format!("{proc_dir}/fd"))
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|fd| link(format!("{proc_dir}/fd/{fd}"))),
                )
                .any(|target| inside(&target));
            // `address perms offset dev inode path`: the path is the sixth field on.
            let by_map = || {
                root.read_to_string(format!("{proc_dir}/maps"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.splitn(6, char::is_whitespace).nth(5))
                    .any(|p| inside(Path::new(p.trim_start())))
            };
            by_link || by_map()
        })
        .map(|pid| Process::read(root, pid))
        .collect()
}

/// Inodes of sockets listening on `port` in a `/proc/net/tcp` table.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    let want = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            (f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A").then(|| f[9].to_string())
        })
        .collect()
}

/// The interface of the first default route in `/proc/net/route` text.
pub(super) fn default_route_interface(routes: &str) -> Option<String> {
    routes.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 2 && fields[1] == "00000000").then(|| fields[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_default_route_interface() {
        let routes =
            "Iface\tDestination\tGateway\nlo\t0000007F\t00000000\neth0\t00000000\t0102A8C0\n";
        assert_eq!(
            super::default_route_interface(routes).as_deref(),
            Some("eth0")
        );
        assert_eq!(super::default_route_interface("Iface\n"), None);
    }

    #[test]
    fn finds_listening_sockets_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n   1: 0100007F:192B 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n";
        assert_eq!(super::listening_inodes(table, 6443), ["4242"]);
        assert!(super::listening_inodes(table, 2379).is_empty());
    }

    #[test]
    fn finds_the_mount_points_below_a_folder() {
        let table = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
30 22 0:5 / /var/lib/kubelet rw - tmpfs tmpfs rw\n\
31 30 0:6 / /var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/kube\\040api rw - tmpfs tmpfs rw\n\
32 22 0:7 / /var/lib/kubeletx rw - tmpfs tmpfs rw\n";
        let dir = std::path::Path::new("/var/lib/kubelet");
        assert_eq!(
            super::mount_points_under(table, dir),
            [std::path::PathBuf::from(
                "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/kube api"
            )]
        );
    }
}
