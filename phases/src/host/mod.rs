//! `Host`: everything that touches the machine other than files under the root.

pub mod containerd;
#[cfg(any(test, feature = "testing"))]
mod fake;
pub mod interrupt;
pub mod kernel_state;
pub mod kubelet_unit;
mod linux;
pub mod proc;
pub mod systemd_unit;

#[cfg(any(test, feature = "testing"))]
pub use fake::FakeHost;
pub use linux::LinuxHost;
pub use proc::{
    Process, has_systemctl, mount_points_under, port_listening, port_owner, systemd_running,
};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::cri;

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
    /// Runs a program with `input` on its standard input; fails on a non-zero exit.
    fn run_with_input(&self, program: &str, args: &[&str], input: &str) -> Result<()>;
    /// What the runtime on a unix socket still holds: one line per pod sandbox and container.
    fn cri_leftovers(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Vec<String>, cri::CallError>;
    /// Stops and removes every pod sandbox of the runtime on a unix socket; returns them.
    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError>;
}
