//! A real sshd (Debian's openssh-server) on a loopback port, with host and client keys made
//! for each test: the SSH layer's tests and those of what runs over it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process};
use std::time::{Duration, Instant};

use super::{Settings, Target};

/// Logs in the user running the tests with its own key.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) {
    let ok = Process::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed")
        .success();
    assert!(ok, "ssh-keygen failed");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Sshd {
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        keygen(&d.join("host"));
        keygen(&d.join("client"));
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).expect("copy key");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxSessions 32\n",
            d.join("host").display(),
            d.join("authorized_keys").display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("write config");
        std::fs::create_dir_all("/run/sshd").ok();
        let log = std::fs::File::create(d.join("sshd.log")).expect("log");
        let child = Process::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(log)
            .spawn()
            .expect("/usr/sbin/sshd (openssh-server) is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { dir, port, child }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known_hosts file that has this server's key.
    pub fn known_hosts(&self) -> PathBuf {
        let key = std::fs::read_to_string(self.path("host.pub")).expect("host key");
        let mut fields = key.split_whitespace();
        let line = format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            fields.next().expect("type"),
            fields.next().expect("key")
        );
        let path = self.path("known_hosts");
        std::fs::write(&path, line).expect("write known_hosts");
        path
    }

    pub fn target(&self) -> Target {
        Target {
            name: "local".into(),
            address: "127.0.0.1".into(),
            port: self.port,
            user: nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .expect("current user"),
            key: Some(self.path("client")),
            sudo: false,
        }
    }

    pub fn settings(&self, known_hosts: PathBuf) -> Settings {
        Settings {
            known_hosts: Some(known_hosts),
            logs: Some(self.path("logs")),
            ..Settings::default()
        }
    }
}
