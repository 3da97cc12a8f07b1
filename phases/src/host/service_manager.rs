//! Which service manager runs this host, if any: systemd, OpenRC (kubeadm supports both), or none
//! — a container, WSL without systemd, a chroot — where a `systemctl` may exist but answers only
//! "System has not been booted with systemd as init system (PID 1). Can't operate.", and nothing
//! but the user starts the kubelet.

use std::path::Path;

use super::Host;
use crate::fs::root::Root;

/// A service manager kubestrap can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceManager {
    Systemd,
    OpenRc,
}

impl ServiceManager {
    /// The command that restarts a service.
    pub fn restart_command(self, service: &str) -> String {
        match self {
            ServiceManager::Systemd => format!("systemctl restart {service}"),
            ServiceManager::OpenRc => format!("rc-service {service} restart"),
        }
    }

    /// Where the service's log is.
    pub fn log_hint(self, service: &str) -> String {
        match self {
            ServiceManager::Systemd => {
                format!("`systemctl status {service}` and `journalctl -u {service} -n 50`")
            }
            ServiceManager::OpenRc => {
                format!(
                    "`rc-service {service} status` and the service's log (`/var/log/{service}/`)"
                )
            }
        }
    }
}

/// The service manager running the host under `root`.
pub fn detect(host: &dyn Host, root: &Root) -> Option<ServiceManager> {
    if systemd_answers(host, root) {
        Some(ServiceManager::Systemd)
    } else if openrc_running(root) {
        Some(ServiceManager::OpenRc)
    } else {
        None
    }
}

/// Whether systemd manages the host under `root`: its runtime folder exists (what `sd_booted()`
/// checks).
pub fn systemd_running(root: &Root) -> bool {
    root.exists("/run/systemd/system")
}

/// Whether `systemctl` reaches a service manager: systemd runs, or — on this machine, not under
/// another root — a `systemctl` on the PATH answers for one (as a stand-in that supervises the
/// kubelet does). A `systemctl` where systemd is not PID 1 cannot tell the manager's state.
pub fn systemd_answers(host: &dyn Host, root: &Root) -> bool {
    if systemd_running(root) {
        return true;
    }
    if root.base() != Path::new("/") || on_path(host, root, "systemctl").is_none() {
        return false;
    }
    host.output(Path::new("systemctl"), &["show", "--property=SystemState"])
        .is_ok_and(|out| reports_a_live_manager(&out))
}

/// `systemctl show --property=SystemState` of a manager that runs (not `offline`, `unknown`).
fn reports_a_live_manager(out: &str) -> bool {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("SystemState="))
        .any(|state| {
            matches!(
                state,
                "initializing" | "starting" | "running" | "degraded" | "maintenance" | "stopping"
            )
        })
}

/// Whether OpenRC runs the host: it has booted (its runtime folder records the runlevel) and
/// `rc-service` is there to drive it.
fn openrc_running(root: &Root) -> bool {
    root.exists("/run/openrc/softlevel")
        && [
            "/sbin/rc-service",
            "/usr/sbin/rc-service",
            "/bin/rc-service",
        ]
        .iter()
        .any(|p| root.exists(p))
}

/// What runs as PID 1, for messages: `/proc/1/comm` under the root.
pub fn pid1(root: &Root) -> String {
    root.read_to_string("/proc/1/comm")
        .map(|c| c.trim().to_string())
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The first `dir/program` of the PATH that exists under the root.
fn on_path(host: &dyn Host, root: &Root, program: &str) -> Option<String> {
    host.env("PATH")?
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
        .find(|p| root.exists(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FakeHost;

    #[test]
    fn a_systemctl_without_systemd_as_pid_1_is_no_service_manager() {
        assert!(reports_a_live_manager("SystemState=running\n"));
        assert!(reports_a_live_manager("SystemState=degraded\n"));
        assert!(!reports_a_live_manager("SystemState=offline\n"));
        assert!(!reports_a_live_manager(
            "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
        ));
        assert!(!reports_a_live_manager(""));
    }

    #[test]
    fn under_another_root_only_its_files_decide() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut host = FakeHost::healthy();
        host.env.insert("PATH".into(), "/usr/bin".into());
        host.outputs.insert(
            "systemctl show --property=SystemState".into(),
            "SystemState=running\n".into(),
        );
        root.write("/usr/bin/systemctl", b"", 0o755).unwrap();
        // The machine's systemctl is not asked about a host under another root.
        assert_eq!(detect(&host, &root), None);
        root.create_dir("/run/systemd/system", 0o755).unwrap();
        assert_eq!(detect(&host, &root), Some(ServiceManager::Systemd));
    }

    #[test]
    fn openrc_needs_its_runlevel_and_rc_service() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let host = FakeHost::healthy();
        root.write("/run/openrc/softlevel", b"default", 0o644)
            .unwrap();
        assert_eq!(detect(&host, &root), None);
        root.write("/sbin/rc-service", b"", 0o755).unwrap();
        assert_eq!(detect(&host, &root), Some(ServiceManager::OpenRc));
        root.write("/proc/1/comm", b"openrc-init\n", 0o644).unwrap();
        assert_eq!(pid1(&root), "openrc-init");
    }
}
