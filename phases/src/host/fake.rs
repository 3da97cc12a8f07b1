//! A scripted machine for tests (feature `testing`).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::{Busy, Host, ServiceState, Unmounted};
use crate::cri;

/// A scripted machine for tests.
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
    /// Memory in MiB; `None`: unreadable.
    pub memory_mb: Option<u64>,
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
    pub cri: Option<Result<cri::RuntimeStatus, cri::CallError>>,
    /// Images the runtime lacks, with what pulling each answers; every other image is present.
    pub absent_images: std::collections::BTreeMap<String, Result<String, cri::CallError>>,
    /// What the runtime still holds after a reset (`cri_leftovers`).
    pub cri_leftovers: Vec<String>,
    /// Mount points that `unmount_under` cannot unmount.
    pub busy_mounts: Vec<Busy>,
    /// Files (real paths) the pods write until `remove_pod_sandboxes` stops them: an etcd that
    /// a kubelet restarted into its emptied data folder.
    pub pods_write: Vec<std::path::PathBuf>,
    /// The fake stands for another machine than the one under the test's root (as the real one
    /// does under `--root`): its commands do not reach the root. By default it stands for the
    /// machine under the root.
    pub elsewhere: bool,
}

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
            cri: Some(Ok(cri::RuntimeStatus {
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
    fn memory_mb(&self) -> Option<u64> {
        self.memory_mb
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
    fn unmount_under(&self, dir: &Path) -> Result<Unmounted> {
        self.record(format!("unmount under {}", dir.display()));
        Ok(Unmounted {
            unmounted: Vec::new(),
            busy: self.busy_mounts.clone(),
        })
    }
    fn commands_reach(&self, _base: &Path) -> bool {
        !self.elsewhere
    }
    fn ipv4_addresses(&self) -> Vec<(String, IpAddr)> {
        self.addresses.clone()
    }
    fn cri(&self, socket: &Path, _timeout: Duration) -> Result<cri::RuntimeStatus, cri::CallError> {
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
    fn run_with_input(&self, program: &str, args: &[&str], input: &str) -> Result<()> {
        self.record(format!("{program} {} <<{input}", args.join(" ")));
        Ok(())
    }
    fn cri_leftovers(
        &self,
        _socket: &Path,
        _timeout: Duration,
    ) -> Result<Vec<String>, cri::CallError> {
        Ok(self.cri_leftovers.clone())
    }
    fn remove_pod_sandboxes(
        &self,
        socket: &Path,
        _timeout: Duration,
        again: bool,
    ) -> Result<Vec<cri::Sandbox>, cri::CallError> {
        for file in &self.pods_write {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| cri::CallError::Other(e.to_string()))?;
            }
            std::fs::write(file, "x").map_err(|e| cri::CallError::Other(e.to_string()))?;
        }
        let until_empty = if again { " until none is listed" } else { "" };
        self.record(format!(
            "remove pod sandboxes at {}{until_empty}",
            socket.display()
        ));
        Ok(Vec::new())
    }
}
