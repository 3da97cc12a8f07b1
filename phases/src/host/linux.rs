//! The real machine: nix, std and the programs on the PATH.

use std::io::Write;
use std::net::{IpAddr, TcpListener, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::proc::{default_route_interface, mount_points_under, processes_using};
use super::{Busy, Host, ServiceState, Unmounted};
use crate::cri;
use crate::fs::root::Root;

/// How long a host-name lookup may take before the Hostname check gives up on it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

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

    // The CPUs of this process's affinity (and cgroup quota), as kubeadm's runtime.NumCPU counts
    // them; sysinfo would count every CPU of the machine.
    fn cpus(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn memory_mb(&self) -> Option<u64> {
        let mut system = sysinfo::System::new();
        system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
        let bytes = system.total_memory();
        (bytes > 0).then_some(bytes / 1024 / 1024)
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

    fn unmount_under(&self, dir: &Path) -> Result<Unmounted> {
        let table = std::fs::read_to_string("/proc/self/mountinfo")
            .context("failed to read `/proc/self/mountinfo`")?;
        let mut points = mount_points_under(&table, dir);
        // Children before parents.
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        let mut done = Unmounted::default();
        for point in points {
            match nix::mount::umount(point.as_path()) {
                Ok(()) => done.unmounted.push(point),
                Err(e) => {
                    let holders = processes_using(&Root::new("/"), &point);
                    done.busy.push(Busy {
                        point,
                        error: e.desc().to_string(),
                        holders,
                    });
                }
            }
        }
        Ok(done)
    }

    fn commands_reach(&self, base: &Path) -> bool {
        base.canonicalize().is_ok_and(|b| b == Path::new("/"))
    }

    fn cri(&self, socket: &Path, timeout: Duration) -> Result<cri::RuntimeStatus, cri::CallError> {
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

    fn run_with_input(&self, program: &str, args: &[&str], input: &str) -> Result<()> {
        let run = || -> Result<()> {
            let mut child = Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input.as_bytes())?;
            }
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(())
        };
        run().with_context(|| format!("`{program} {}` failed", args.join(" ")))
    }

    fn cri_leftovers(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Vec<String>, cri::CallError> {
        let mut left: Vec<String> = cri::sandboxes(socket, timeout)?
            .into_iter()
            .map(|s| format!("pod sandbox {}/{} ({})", s.namespace, s.name, s.id))
            .collect();
        left.extend(cri::containers(socket, timeout)?.into_iter().map(|c| {
            format!(
                "container {} of {}/{} ({})",
                c.name, c.namespace, c.pod, c.id
            )
        }));
        Ok(left)
    }

    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        timeout: Duration,
        again: bool,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError> {
        cri::remove_pod_sandboxes(socket, timeout, again)
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
