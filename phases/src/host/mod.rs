//! `Host`: everything that touches the machine other than files under the root.

pub mod containerd;
pub mod kernel;

use std::net::{IpAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::cri;
use crate::fs::root::Root;

/// How long a host-name lookup may take before the Hostname check gives up on it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// What the init system says about a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    Enabled,
    Disabled,
    Missing,
}

/// The machine a workflow runs on.
pub trait Host: Send + Sync {
    /// Whether the process runs as root.
    fn is_root(&self) -> bool;
    /// The machine's host name.
    fn hostname(&self) -> Result<String>;
    /// Runs a program to completion and returns its standard output; fails on a non-zero exit.
    fn output(&self, program: &Path, args: &[&str]) -> Result<String>;
    /// The IPv4 address of the interface that holds the default route (kubeadm's advertise address).
    fn default_address(&self) -> Result<IpAddr>;
    /// Whether a TCP port can be bound on every address, as kubeadm's `net.Listen("tcp", ":port")`.
    fn port_free(&self, port: u16) -> bool;
    /// CPUs this process may run on.
    fn cpus(&self) -> usize;
    /// An environment variable of this process.
    fn env(&self, name: &str) -> Option<String>;
    /// Whether a host name resolves (bounded by a timeout of its own).
    fn resolves(&self, name: &str) -> bool;
    /// Runs a program for its effect (modprobe, swapoff, swapon); fails on a non-zero exit.
    fn run(&self, program: &str, args: &[&str]) -> Result<()>;
    /// Writes a kernel setting such as `/proc/sys/net/ipv4/ip_forward` in place (no atomic rename).
    fn write_setting(&self, physical: &Path, value: &str) -> Result<()>;
    /// Whether systemd knows the unit and has it enabled (only asked when systemd runs).
    fn service_state(&self, unit: &str) -> ServiceState;
    /// Whether the unit is active (only asked when systemd runs).
    fn service_active(&self, unit: &str) -> bool;
    /// Restarts a systemd unit.
    fn restart_service(&self, unit: &str) -> Result<()>;
    /// Stops a systemd unit.
    fn stop_service(&self, unit: &str) -> Result<()>;
    /// Unmounts every mount point under a folder (a real path), deepest first; returns them.
    fn unmount_under(&self, dir: &Path) -> Result<Vec<PathBuf>>;
    /// The IPv4 addresses of the host's interfaces, as (interface, address).
    fn ipv4_addresses(&self) -> Vec<(String, IpAddr)>;
    /// Asks the container runtime on a unix socket (a real path) for its CRI version and status.
    fn cri(&self, socket: &Path, timeout: Duration) -> Result<cri::Probe, cri::CallError>;
    /// Whether the runtime on a unix socket holds an image (CRI `ImageStatus`).
    fn image_present(
        &self,
        socket: &Path,
        image: &str,
        timeout: Duration,
    ) -> Result<bool, cri::CallError>;
    /// Has the runtime pull an image (CRI `PullImage`); returns its image reference.
    fn pull_image(
        &self,
        socket: &Path,
        image: &str,
        timeout: Duration,
    ) -> Result<String, cri::CallError>;
    /// Stops and removes every pod sandbox of the runtime on a unix socket; returns them.
    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError>;
}

/// The mount points in a `/proc/self/mountinfo` text that lie below `dir` (not `dir` itself).
fn mount_points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
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

/// Whether systemd manages the host under `root` (its runtime folder exists).
pub fn systemd_running(root: &Root) -> bool {
    root.exists("/run/systemd/system")
}

/// Whether a service manager answers `systemctl`: systemd runs, or (like kubeadm's init-system
/// detection) a `systemctl` is on the PATH, as a stand-in that supervises the kubelet provides.
pub fn has_systemctl(host: &dyn Host, root: &Root) -> bool {
    systemd_running(root)
        || host.env("PATH").is_some_and(|path| {
            path.split(':')
                .filter(|d| d.starts_with('/'))
                .any(|d| root.exists(format!("{d}/systemctl")))
        })
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
            return Some(Process { pid, name, cmdline });
        }
    }
    None
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

/// The real machine.
#[derive(Debug, Default)]
pub struct LinuxHost;

impl Host for LinuxHost {
    fn is_root(&self) -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn hostname(&self) -> Result<String> {
        let name = nix::unistd::gethostname().context("failed to read the host name")?;
        Ok(name.to_string_lossy().into_owned())
    }

    fn output(&self, program: &Path, args: &[&str]) -> Result<String> {
        // Only short queries run here (`kubelet --version`): a Go program started without its
        // garbage collector and with one scheduler thread answers in about half the CPU time.
        let out = Command::new(program)
            .args(args)
            .env("GOGC", "off")
            .env("GOMAXPROCS", "1")
            .output()
            .with_context(|| format!("failed to run `{}`", program.display()))?;
        if !out.status.success() {
            bail!(
                "`{} {}` exited with {}: {}",
                program.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn default_address(&self) -> Result<IpAddr> {
        let routes = std::fs::read_to_string("/proc/net/route")
            .context("failed to read `/proc/net/route`")?;
        let interface = default_route_interface(&routes).context(
            "no default route found to pick the advertise address; set --apiserver-advertise-address or `localAPIEndpoint.advertiseAddress`",
        )?;
        let addrs = nix::ifaddrs::getifaddrs().context("failed to list network interfaces")?;
        for ifaddr in addrs {
            if ifaddr.interface_name != interface {
                continue;
            }
            if let Some(v4) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
                return Ok(IpAddr::V4(v4.ip()));
            }
        }
        bail!(
            "interface `{interface}` (default route) has no IPv4 address; set --apiserver-advertise-address"
        )
    }

    fn port_free(&self, port: u16) -> bool {
        // `[::]` takes IPv4 too on a dual-stack host; fall back to IPv4 where IPv6 is off.
        match TcpListener::bind(("::", port)) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => false,
            Err(_) => TcpListener::bind(("0.0.0.0", port)).is_ok(),
        }
    }

    fn cpus(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn resolves(&self, name: &str) -> bool {
        let (tx, rx) = mpsc::channel();
        let name = name.to_string();
        std::thread::spawn(move || {
            let found = (name.as_str(), 0)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some());
            let _ = tx.send(found);
        });
        rx.recv_timeout(LOOKUP_TIMEOUT).unwrap_or(false)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        self.output(Path::new(program), args).map(|_| ())
    }

    fn write_setting(&self, physical: &Path, value: &str) -> Result<()> {
        std::fs::write(physical, format!("{value}\n"))
            .with_context(|| format!("failed to write `{}`", physical.display()))
    }

    fn service_state(&self, unit: &str) -> ServiceState {
        let out = Command::new("systemctl")
            .args(["is-enabled", unit])
            .output();
        match out {
            Ok(o) if o.status.success() => ServiceState::Enabled,
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout).to_string()
                    + &String::from_utf8_lossy(&o.stderr);
                if text.contains("not-found") || text.contains("No such file") {
                    ServiceState::Missing
                } else {
                    ServiceState::Disabled
                }
            }
            Err(_) => ServiceState::Missing,
        }
    }

    fn service_active(&self, unit: &str) -> bool {
        Command::new("systemctl")
            .args(["is-active", "--quiet", unit])
            .status()
            .is_ok_and(|s| s.success())
    }

    fn restart_service(&self, unit: &str) -> Result<()> {
        self.run("systemctl", &["restart", unit])
    }

    fn stop_service(&self, unit: &str) -> Result<()> {
        self.run("systemctl", &["stop", unit])
    }

    fn unmount_under(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let table = std::fs::read_to_string("/proc/self/mountinfo")
            .context("failed to read `/proc/self/mountinfo`")?;
        let mut points = mount_points_under(&table, dir);
        // Children before parents.
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        let mut failed = Vec::new();
        for point in &points {
            if let Err(e) = nix::mount::umount(point.as_path()) {
                failed.push(format!("{}: {e}", point.display()));
            }
        }
        if !failed.is_empty() {
            bail!("failed to unmount {}", failed.join(", "));
        }
        Ok(points)
    }

    fn cri(&self, socket: &Path, timeout: Duration) -> Result<cri::Probe, cri::CallError> {
        cri::probe(socket, timeout)
    }

    fn image_present(
        &self,
        socket: &Path,
        image: &str,
        timeout: Duration,
    ) -> Result<bool, cri::CallError> {
        cri::image_present(socket, image, timeout)
    }

    fn pull_image(
        &self,
        socket: &Path,
        image: &str,
        timeout: Duration,
    ) -> Result<String, cri::CallError> {
        cri::pull_image(socket, image, timeout)
    }

    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError> {
        cri::remove_pod_sandboxes(socket, timeout)
    }

    fn ipv4_addresses(&self) -> Vec<(String, IpAddr)> {
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
            return Vec::new();
        };
        addrs
            .filter_map(|a| {
                let v4 = a.address.as_ref()?.as_sockaddr_in()?.ip();
                Some((a.interface_name, IpAddr::V4(v4)))
            })
            .collect()
    }
}

/// The interface of the first default route in `/proc/net/route` text.
fn default_route_interface(routes: &str) -> Option<String> {
    routes.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 2 && fields[1] == "00000000").then(|| fields[0].to_string())
    })
}

/// A scripted machine for tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default, Clone)]
pub struct FakeHost {
    pub root: bool,
    pub hostname: String,
    pub default_address: Option<IpAddr>,
    /// Answers to `output`, keyed by `program arg…` (or the program's file name and args).
    pub outputs: std::collections::BTreeMap<String, String>,
    /// Ports something listens on.
    pub busy_ports: Vec<u16>,
    pub cpus: usize,
    pub env: std::collections::BTreeMap<String, String>,
    /// Host names that resolve.
    pub resolvable: Vec<String>,
    /// Units systemd knows, with whether each is enabled.
    pub services: std::collections::BTreeMap<String, bool>,
    /// Units that are active.
    pub active: Vec<String>,
    /// Every `run`, `restart_service` and `write_setting`, in order.
    pub actions: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Interface addresses.
    pub addresses: Vec<(String, IpAddr)>,
    /// What the CRI socket answers; `None`: nothing listens.
    pub cri: Option<Result<cri::Probe, cri::CallError>>,
    /// Images the runtime lacks, with what pulling each answers; every other image is present.
    pub absent_images: std::collections::BTreeMap<String, Result<String, cri::CallError>>,
}

#[cfg(any(test, feature = "testing"))]
impl FakeHost {
    /// A healthy root machine named `node1` at 10.0.0.10 with 2 CPUs.
    pub fn healthy() -> Self {
        FakeHost {
            root: true,
            hostname: "node1".into(),
            default_address: Some(IpAddr::from([10, 0, 0, 10])),
            cpus: 2,
            addresses: vec![
                ("lo".into(), IpAddr::from([127, 0, 0, 1])),
                ("eth0".into(), IpAddr::from([10, 0, 0, 10])),
            ],
            cri: Some(Ok(cri::Probe {
                version: cri::Version {
                    api: "runtime.v1".into(),
                    runtime_name: "containerd".into(),
                    runtime_version: "1.7.24".into(),
                    runtime_api_version: "v1".into(),
                },
                conditions: vec![cri::Condition {
                    kind: "RuntimeReady".into(),
                    status: true,
                    ..cri::Condition::default()
                }],
            })),
            ..FakeHost::default()
        }
    }

    /// What the fake was asked to do.
    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().map(|a| a.clone()).unwrap_or_default()
    }

    fn record(&self, action: String) {
        if let Ok(mut a) = self.actions.lock() {
            a.push(action);
        }
    }
}

#[cfg(any(test, feature = "testing"))]
impl Host for FakeHost {
    fn is_root(&self) -> bool {
        self.root
    }
    fn hostname(&self) -> Result<String> {
        Ok(self.hostname.clone())
    }
    fn output(&self, program: &Path, args: &[&str]) -> Result<String> {
        let key = |p: String| {
            std::iter::once(p)
                .chain(args.iter().map(|a| a.to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let full = key(program.display().to_string());
        let short = key(program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default());
        self.outputs
            .get(&full)
            .or_else(|| self.outputs.get(&short))
            .cloned()
            .with_context(|| format!("FakeHost has no answer for `{full}`"))
    }
    fn default_address(&self) -> Result<IpAddr> {
        self.default_address
            .context("FakeHost has no default route")
    }
    fn port_free(&self, port: u16) -> bool {
        !self.busy_ports.contains(&port)
    }
    fn cpus(&self) -> usize {
        self.cpus
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn resolves(&self, name: &str) -> bool {
        self.resolvable.iter().any(|n| n == name)
    }
    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        self.record(format!("{program} {}", args.join(" ")));
        Ok(())
    }
    fn write_setting(&self, physical: &Path, value: &str) -> Result<()> {
        self.record(format!("write {value}"));
        // A real modprobe makes the module's settings appear; the fake lets the write create them.
        if let Some(dir) = physical.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(physical, format!("{value}\n"))
            .with_context(|| format!("failed to write `{}`", physical.display()))
    }
    fn service_state(&self, unit: &str) -> ServiceState {
        match self.services.get(unit) {
            Some(true) => ServiceState::Enabled,
            Some(false) => ServiceState::Disabled,
            None => ServiceState::Missing,
        }
    }
    fn service_active(&self, unit: &str) -> bool {
        self.active.iter().any(|u| u == unit)
    }
    fn restart_service(&self, unit: &str) -> Result<()> {
        self.record(format!("systemctl restart {unit}"));
        Ok(())
    }
    fn stop_service(&self, unit: &str) -> Result<()> {
        self.record(format!("systemctl stop {unit}"));
        Ok(())
    }
    fn unmount_under(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.record(format!("unmount under {}", dir.display()));
        Ok(Vec::new())
    }
    fn ipv4_addresses(&self) -> Vec<(String, IpAddr)> {
        self.addresses.clone()
    }
    fn cri(&self, socket: &Path, _timeout: Duration) -> Result<cri::Probe, cri::CallError> {
        self.cri.clone().unwrap_or_else(|| {
            Err(cri::CallError::Connect(format!(
                "dial unix {}: connect: no such file or directory",
                socket.display()
            )))
        })
    }
    fn image_present(
        &self,
        socket: &Path,
        image: &str,
        timeout: Duration,
    ) -> Result<bool, cri::CallError> {
        self.cri(socket, timeout)?;
        Ok(!self.absent_images.contains_key(image))
    }
    fn pull_image(
        &self,
        socket: &Path,
        image: &str,
        timeout: Duration,
    ) -> Result<String, cri::CallError> {
        self.cri(socket, timeout)?;
        self.record(format!("pull {image}"));
        self.absent_images
            .get(image)
            .cloned()
            .unwrap_or_else(|| Ok(image.to_string()))
    }
    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        _timeout: Duration,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError> {
        self.record(format!("remove pod sandboxes at {}", socket.display()));
        Ok(Vec::new())
    }
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
