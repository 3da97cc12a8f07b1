//! `Host`: everything that touches the machine other than files under the root.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

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
        let out = Command::new(program)
            .args(args)
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
#[derive(Debug, Default)]
pub struct FakeHost {
    pub root: bool,
    pub hostname: String,
    pub default_address: Option<IpAddr>,
    /// Answers to `output`, keyed by `program arg…`.
    pub outputs: std::collections::BTreeMap<String, String>,
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
        let key = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        self.outputs
            .get(&key)
            .cloned()
            .with_context(|| format!("FakeHost has no answer for `{key}`"))
    }
    fn default_address(&self) -> Result<IpAddr> {
        self.default_address
            .context("FakeHost has no default route")
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
}
