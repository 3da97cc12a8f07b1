//! `Host`: everything that touches the machine other than files under the root.

pub mod containerd;
#[cfg(any(test, feature = "testing"))]
mod fake;
pub mod interrupt;
pub mod kernel_state;
pub mod kubelet_unit;
mod linux;
pub mod proc;
pub mod service_manager;
pub mod ssh;
pub mod systemd_unit;

#[cfg(any(test, feature = "testing"))]
pub use fake::FakeHost;
pub use linux::LinuxHost;
pub use proc::{Process, mount_points_under, port_listening, port_owner, processes_using};
pub use service_manager::{ServiceManager, systemd_answers, systemd_running};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::cri;
use crate::fs::root::Root;

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
    /// The machine's memory in MiB (`MemTotal`); `None` when it cannot be read.
    fn memory_mb(&self) -> Option<u64>;
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
    /// Unmounts every mount point under a folder (a real path), deepest first.
    fn unmount_under(&self, dir: &Path) -> Result<Unmounted>;
    /// Whether the commands this host runs (`run`, services, kernel settings) change the
    /// machine whose files lie under `base`: those of the real machine lie under `/` only.
    fn commands_reach(&self, base: &Path) -> bool;
    /// The IPv4 addresses of the host's interfaces, as (interface, address).
    fn ipv4_addresses(&self) -> Vec<(String, IpAddr)>;
    /// Asks the container runtime on a unix socket (a real path) for its CRI version and status.
    fn cri(&self, socket: &Path, timeout: Duration) -> Result<cri::RuntimeStatus, cri::CallError>;
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
    /// Runs a program with `input` on its standard input; fails on a non-zero exit.
    fn run_with_input(&self, program: &str, args: &[&str], input: &str) -> Result<()>;
    /// What the runtime on a unix socket still holds: one line per pod sandbox and container.
    fn cri_leftovers(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Vec<String>, cri::CallError>;
    /// Stops and removes every pod sandbox of the runtime on a unix socket, listing it `again`
    /// until it is empty (see [`cri::remove_pod_sandboxes`]); returns them.
    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        timeout: Duration,
        again: bool,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError>;
}

/// What unmounting below a folder did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmounted {
    pub unmounted: Vec<PathBuf>,
    /// The mount points that stay mounted.
    pub busy: Vec<Busy>,
}

/// A mount point that could not be unmounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub point: PathBuf,
    /// What umount answered.
    pub error: String,
    /// The processes using something in it.
    pub holders: Vec<Process>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` stays mounted ({})",
            self.point.display(),
            self.error
        )?;
        if !self.holders.is_empty() {
            let holders: Vec<String> = self.holders.iter().map(|p| p.to_string()).collect();
            write!(f, ", used by {}", holders.join(", "))?;
        }
        Ok(())
    }
}

/// Why a command that changes the machine (`what`: ip, iptables, modprobe, swapoff, a kernel
/// setting, a service) must not run for the files under `root`: under another `--root` than `/`
/// it would change this machine instead of the one under the root. `None`: it may run.
pub fn foreign_root(host: &dyn Host, root: &Root, what: &str) -> Option<String> {
    (!host.commands_reach(root.base())).then(|| {
        format!(
            "--root is {}, not /: skipped `{what}`, which would change this machine, not the one under the root",
            root.base().display()
        )
    })
}
