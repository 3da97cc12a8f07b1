//! One host of the file over SSH: its kubestrap binary installed, and each kubestrap command
//! `cluster apply`, `status` and `reset` run there, with a bounded time each. Secrets (the
//! token, the certificate key) travel in files written through stdin with mode 0600 and removed
//! after the command, never on a command line.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::agent::{Facts, NodesReply, NodesRequest};
use super::file::Host;
use crate::host::ssh::{Command, Output, Remote, Settings, Target};

/// How long each kind of remote step may take.
pub mod limits {
    use std::time::Duration;
    pub const QUICK: Duration = Duration::from_secs(60);
    pub const UPLOAD: Duration = Duration::from_secs(300);
    pub const PREFLIGHT: Duration = Duration::from_secs(180);
    pub const INIT: Duration = Duration::from_secs(900);
    pub const JOIN: Duration = Duration::from_secs(600);
    pub const RESET: Duration = Duration::from_secs(300);
    /// A drain beyond its wait for PodDisruptionBudgets: the wait for the evicted pods to go
    /// (150 s) and more.
    pub const DRAIN: Duration = Duration::from_secs(210);
}

/// The script of [`Conn::run_with_config`]: `sh -c WITH_CONFIG sh KUBESTRAP ARGS…`.
const WITH_CONFIG: &str = "umask 077; f=$(mktemp /tmp/kubestrap-cluster-XXXXXXXXXX) || exit 1; trap 'rm -f \"$f\" || echo \"failed to remove $f, which holds secrets\" >&2' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM; cat >\"$f\" || exit 1; \"$@\" --config \"$f\"";

/// The probe of [`Conn::install`]: `sh -c PROBE sh KUBESTRAP SHA256` prints the architecture,
/// the SHA-256 of the host's kubestrap (empty line when it has none) and, when that is SHA256,
/// the facts that kubestrap reads.
const PROBE: &str = "uname -m; have=$(sha256sum \"$1\" 2>/dev/null | cut -d' ' -f1); echo \"$have\"; [ \"$have\" != \"$2\" ] || exec \"$1\" cluster agent facts";

/// A connected host.
pub struct Conn {
    pub host: Host,
    remote: Remote,
    /// The kubestrap binary's path there.
    pub bin: String,
}

impl Conn {
    pub async fn open(
        host: &Host,
        bin: &str,
        settings: &Settings,
        control: &std::path::Path,
    ) -> Result<Conn> {
        let target = Target {
            name: host.name.clone(),
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone(),
            key: host.key.clone(),
            sudo: host.sudo,
        };
        let remote = Remote::connect(&target, settings, control).await?;
        Ok(Conn {
            host: host.clone(),
            remote,
            bin: bin.to_string(),
        })
    }

    pub async fn close(self) {
        self.remote.close().await;
    }

    /// Installs `binary` (this machine's kubestrap, of architecture `arch`, whose SHA-256 is
    /// `sha256`) unless the host has the same already, and reads the host's facts with it:
    /// whether it was copied, and the facts. One round trip when the host has it, two when not.
    pub async fn install(&self, binary: &[u8], sha256: &str, arch: &str) -> Result<(bool, Facts)> {
        let out = self
            .remote
            .check(
                Command::new(&["sh", "-c", PROBE, "sh", &self.bin, sha256], limits::QUICK)
                    .privileged(),
            )
            .await?;
        let mut lines = out.splitn(3, '\n');
        let theirs = lines.next().unwrap_or_default().trim();
        if theirs != arch {
            bail!(
                "{}: the host's architecture is {theirs}, this kubestrap's is {arch}: run `cluster apply` with a kubestrap built for {theirs}",
                self.host.name
            );
        }
        if lines.next().unwrap_or_default().trim() == sha256 {
            return Ok((false, self.read_facts(lines.next().unwrap_or_default())?));
        }
        let out = self
            .remote
            .write_file_then(
                &self.bin,
                binary,
                0o755,
                limits::UPLOAD,
                &[&self.bin, "cluster", "agent", "facts"],
            )
            .await
            .with_context(|| {
                format!(
                    "{}: failed to install kubestrap at {}",
                    self.host.name, self.bin
                )
            })?;
        Ok((true, self.read_facts(&out)?))
    }

    /// [`Conn::install`] of the binary at `binary`: the host's facts.
    pub async fn install_if_missing(&self, binary: &std::path::Path) -> Result<Facts> {
        let bytes = std::fs::read(binary).with_context(|| {
            format!(
                "failed to read this kubestrap binary `{}`",
                binary.display()
            )
        })?;
        let sha = crate::pki::sha256_hex(&bytes);
        self.install(&bytes, &sha, std::env::consts::ARCH)
            .await
            .map(|(_, facts)| facts)
    }

    /// `kubestrap ARGS…` as root; its stdout.
    pub async fn kubestrap(&self, args: &[&str], limit: Duration) -> Result<String> {
        let mut argv = vec![self.bin.as_str()];
        argv.extend_from_slice(args);
        self.remote
            .check(Command::new(&argv, limit).privileged())
            .await
    }

    /// `kubestrap ARGS…` with `input` on stdin; its stdout (kept out of the log when `secret`).
    async fn kubestrap_with(
        &self,
        args: &[&str],
        input: &[u8],
        secret: bool,
        limit: Duration,
    ) -> Result<String> {
        let mut argv = vec![self.bin.as_str()];
        argv.extend_from_slice(args);
        let mut cmd = Command::new(&argv, limit).privileged().stdin(input);
        if secret {
            cmd = cmd.secret_output();
        }
        self.remote.check(cmd).await
    }

    fn read_facts(&self, out: &str) -> Result<Facts> {
        serde_json::from_str(out).with_context(|| {
            format!(
                "{}: `kubestrap cluster agent facts` said no facts",
                self.host.name
            )
        })
    }

    pub async fn nodes(&self, req: &NodesRequest) -> Result<NodesReply> {
        let input = serde_json::to_vec(req)?;
        let limit = match req.drain.is_empty() {
            true => limits::QUICK,
            false => {
                let budget = req
                    .drain_timeout_seconds
                    .map_or(super::drain::Limits::default().budget, Duration::from_secs);
                limits::DRAIN + budget
            }
        };
        let out = self
            .kubestrap_with(&["cluster", "agent", "nodes"], &input, false, limit)
            .await?;
        serde_json::from_str(&out).with_context(|| {
            format!(
                "{}: `kubestrap cluster agent nodes` said nothing readable",
                self.host.name
            )
        })
    }

    /// Runs `kubestrap ARGS… --config FILE` with `config` (secrets in it) in a 0600 file that is
    /// removed afterwards whatever happened; its stdout (kept out of the log when `secret`).
    pub async fn with_config(
        &self,
        args: &[&str],
        config: &str,
        limit: Duration,
        secret: bool,
    ) -> Result<String> {
        let out = self.run_with_config(args, config, limit, secret).await?;
        if out.success() {
            return Ok(out.stdout);
        }
        bail!(
            "{}: `kubestrap {}` failed (exit code {}):\n{}",
            self.host.name,
            args.join(" "),
            out.code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into()),
            out.tail()
        )
    }

    /// One command on the host: `config` from stdin into a fresh 0600 file, kubestrap run with
    /// it, the file removed as the shell ends (a signal too). One round trip, not three: each
    /// costs the login shell's start-up there.
    async fn run_with_config(
        &self,
        args: &[&str],
        config: &str,
        limit: Duration,
        secret: bool,
    ) -> Result<Output> {
        let mut argv = vec!["sh", "-c", WITH_CONFIG, "sh", self.bin.as_str()];
        argv.extend_from_slice(args);
        let shown = format!(
            "{} {} --config <a 0600 file of the input, removed after>",
            self.bin,
            args.join(" ")
        );
        let mut cmd = Command::new(&argv, limit)
            .privileged()
            .stdin(config.as_bytes())
            .shown(shown);
        if secret {
            cmd = cmd.secret_output();
        }
        self.remote.run(cmd).await
    }

    /// `kubestrap preflight ARGS… --config FILE`, with the time a preflight may take; what it
    /// printed and its exit code.
    pub async fn preflight(&self, args: &[&str], config: &str) -> Result<Output> {
        self.run_with_config(args, config, limits::PREFLIGHT, false)
            .await
    }

    /// A bootstrap token made on this (control-plane) host.
    pub async fn token(&self) -> Result<String> {
        let out = self
            .kubestrap_with(
                &["token", "create", "--ttl", "2h"],
                b"",
                true,
                limits::QUICK,
            )
            .await?;
        let token = out.trim().to_string();
        if token.len() != 23 {
            bail!(
                "{}: `kubestrap token create` printed no token",
                self.host.name
            );
        }
        Ok(token)
    }

    /// The admin kubeconfig of this control-plane host.
    pub async fn admin_kubeconfig(&self) -> Result<String> {
        self.remote
            .check(
                Command::new(&["cat", "/etc/kubernetes/admin.conf"], limits::QUICK)
                    .privileged()
                    .secret_output(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::process::{Command as Process, Stdio};

    use super::{PROBE, WITH_CONFIG};

    /// `sh -c WITH_CONFIG sh CMD…` with `config` on stdin, as the host runs it; its exit code and
    /// what CMD printed.
    fn run(config: &str, cmd: &[&str]) -> (Option<i32>, String) {
        let mut child = Process::new("sh")
            .args(["-c", WITH_CONFIG, "sh"])
            .args(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The command sees the config in a 0600 file named after `--config`; the file is gone once
    /// the command ended, and its exit code is the script's.
    #[test]
    fn the_config_is_a_0600_file_for_the_command_only() {
        let (code, out) = run(
            "token: abcdef.0123456789abcdef\n",
            &[
                "sh",
                "-c",
                r#"[ "$1" = --config ] && stat -c %a "$2" && cat "$2" && echo "$2"; exit 7"#,
                "kubestrap",
            ],
        );
        assert_eq!(code, Some(7), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["600", "token: abcdef.0123456789abcdef"]);
        assert!(lines[2].starts_with("/tmp/kubestrap-cluster-"), "{out}");
        assert!(
            !std::path::Path::new(lines[2]).exists(),
            "{} was left",
            lines[2]
        );
    }

    /// The host's `timeout` ends the shell with TERM (the shell runs its trap once the command
    /// it waits for ends): the file goes too.
    #[test]
    fn the_config_goes_when_the_command_is_ended_by_a_signal() {
        let (code, out) = run(
            "secret\n",
            &[
                "sh",
                "-c",
                r#"echo "$2"; kill -TERM "$PPID"; sleep 1"#,
                "kubestrap",
            ],
        );
        assert_eq!(code, Some(143), "{out}");
        let file = out.trim();
        assert!(file.starts_with("/tmp/kubestrap-cluster-"), "{out}");
        assert!(!std::path::Path::new(file).exists(), "{file} was left");
    }

    /// The probe runs the host's kubestrap for its facts only when it is the one apply has.
    #[test]
    fn the_probe_reads_the_facts_only_with_the_same_kubestrap() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kubestrap");
        let bin = bin.to_str().unwrap();
        let probe = |sha: &str| {
            let out = Process::new("sh")
                .args(["-c", PROBE, "sh", bin, sha])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let arch = std::env::consts::ARCH;
        assert_eq!(probe("00"), format!("{arch}\n\n"));
        std::fs::write(bin, "#!/bin/sh\necho \"{\\\"args\\\": \\\"$*\\\"}\"\n").unwrap();
        std::fs::set_permissions(bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let sha = crate::pki::sha256_hex(&std::fs::read(bin).unwrap());
        assert_eq!(probe("00"), format!("{arch}\n{sha}\n"));
        assert_eq!(
            probe(&sha),
            format!("{arch}\n{sha}\n{{\"args\": \"cluster agent facts\"}}\n")
        );
    }
}
