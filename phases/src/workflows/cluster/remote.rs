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

/// Shell lines that make `$f`, a fresh 0600 file for secrets, removed as the shell ends (by a
/// signal too): the one way both scripts below keep a configuration.
macro_rules! secret_file {
    () => {
        "umask 077; f=$(mktemp /tmp/kubestrap-cluster-XXXXXXXXXX) || exit 1\ntrap 'rm -f \"$f\" || echo \"failed to remove $f, which holds secrets\" >&2' EXIT\ntrap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM\n"
    };
}

/// The script of [`Conn::run_with_config`]: `sh -c WITH_CONFIG sh KUBESTRAP ARGS…`.
const WITH_CONFIG: &str = concat!(
    secret_file!(),
    "cat >\"$f\" || exit 1; \"$@\" --config \"$f\""
);

/// The first look at a host and, when it lacks this kubestrap, the copy:
/// `sh -c PREPARE sh KUBESTRAP SHA256 probe|copy CONFIG_BYTES [PREFLIGHT ARGS…]`, with
/// CONFIG_BYTES of configuration on stdin, then (copy) the binary. A probe prints the
/// architecture and the SHA-256 of the host's kubestrap (an empty line when it has none) and goes
/// on only when that is SHA256. Then the facts and, with PREFLIGHT ARGS on a host with nothing of
/// a cluster (the only hosts the plan checks), that preflight with the
/// configuration in a 0600 file removed at the end (a signal too), between `--- preflight` and
/// `--- preflight exit N`: a failing check is an answer, not a failure of the script. `dd bs=1`
/// reads the configuration without taking a byte of the binary after it.
const PREPARE: &str = concat!(
    r#"umask 077
bin=$1 sha=$2 mode=$3 len=$4
shift 4
if [ "$mode" = probe ]; then
  uname -m
  have=$(sha256sum "$bin" 2>/dev/null | cut -d' ' -f1)
  echo "$have"
  [ "$have" = "$sha" ] || { cat >/dev/null; exit 0; }
fi
if [ "$len" -gt 0 ]; then
"#,
    secret_file!(),
    r#"dd bs=1 count="$len" of="$f" 2>/dev/null || exit 1
fi
if [ "$mode" = copy ]; then
  mkdir -p "$(dirname "$bin")" && cat >"$bin.kubestrap-tmp" && chmod 755 "$bin.kubestrap-tmp" &&
    mv -f "$bin.kubestrap-tmp" "$bin" || exit 1
fi
facts=$("$bin" cluster agent facts) || exit
echo "$facts"
[ $# -gt 0 ] || exit 0
case $facts in *'"kubeFiles":false'*) ;; *) exit 0 ;; esac
echo '--- preflight'
"$bin" "$@" --config "$f" 2>&1
echo "--- preflight exit $?"
"#
);

/// A `kubestrap preflight` run ahead, in the round trip that reads the host's facts: apply's
/// preflight then costs no round trip of its own when the plan asks for this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ahead {
    /// `preflight` and its flags.
    pub args: Vec<String>,
    pub config: String,
}

/// [`PREPARE`]'s output after the probe's lines: the facts, and what the preflight run ahead
/// printed (stdout and stderr together) with its exit code.
fn facts_and_preflight(out: &str) -> (&str, Option<Output>) {
    let Some((facts, rest)) = out.split_once("\n--- preflight\n") else {
        return (out, None);
    };
    let (said, code) = match rest.rsplit_once("--- preflight exit ") {
        Some((said, code)) => (said, code.trim().parse().ok()),
        None => (rest, None),
    };
    let output = Output {
        code,
        stdout: said.to_string(),
        stderr: String::new(),
    };
    (facts, Some(output))
}

/// [`PREPARE`] in `mode` for the kubestrap at `bin` whose SHA-256 is to be `sha256`, as root;
/// its stdin is still to be given (the configuration of `ahead`, then the binary for a copy).
fn prepare<'a>(
    bin: &str,
    sha256: &str,
    mode: &str,
    ahead: &Option<Ahead>,
    limit: Duration,
) -> Command<'a> {
    let len = ahead.as_ref().map_or(0, |a| a.config.len()).to_string();
    let mut argv = vec!["sh", "-c", PREPARE, "sh", bin, sha256, mode, &len];
    let mut shown = match mode {
        "probe" => format!("the probe of {bin} (architecture, checksum), then its facts"),
        _ => format!("the copy of kubestrap to {bin}, then its facts"),
    };
    if let Some(a) = ahead {
        argv.extend(a.args.iter().map(String::as_str));
        shown.push_str(&format!(
            " and `kubestrap {} --config <a 0600 file of the input, removed after>`",
            a.args.join(" ")
        ));
    }
    Command::new(&argv, limit).privileged().shown(shown)
}

/// This machine's kubestrap: what every host runs.
pub struct Local {
    bytes: Vec<u8>,
    sha256: String,
    arch: &'static str,
}

impl Local {
    /// The binary at `path`, built for this machine's architecture.
    pub fn read(path: &std::path::Path) -> Result<Local> {
        let bytes = std::fs::read(path).with_context(|| {
            format!("failed to read this kubestrap binary `{}`", path.display())
        })?;
        Ok(Local {
            sha256: crate::pki::sha256_hex(&bytes),
            bytes,
            arch: std::env::consts::ARCH,
        })
    }
}

/// A connected host.
pub struct Conn {
    pub host: Host,
    remote: Remote,
    /// The kubestrap binary's path there.
    pub bin: String,
    /// The host's facts, read by the probe when it has this kubestrap already.
    facts: Option<Facts>,
    /// The preflight to run ahead with the facts, and what it said once it ran.
    ahead: Option<Ahead>,
    ahead_said: std::sync::Mutex<Option<Output>>,
}

impl Conn {
    /// Connects, and in the same round trip checks that privileged commands run as root there,
    /// that the host's architecture is `local`'s, and whether it has `local` already: then it
    /// reads its facts and runs `ahead`. Nothing is changed on the host.
    pub async fn open(
        host: &Host,
        bin: &str,
        local: &Local,
        ahead: Option<Ahead>,
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
        let config = ahead.as_ref().map_or(&[][..], |a| a.config.as_bytes());
        let probe = prepare(bin, &local.sha256, "probe", &ahead, limits::QUICK).stdin(config);
        let (remote, out) = Remote::connect(&target, settings, control, probe).await?;
        let conn = Conn {
            host: host.clone(),
            remote,
            bin: bin.to_string(),
            facts: None,
            ahead,
            ahead_said: Default::default(),
        };
        let mut lines = out.splitn(3, '\n');
        let theirs = lines.next().unwrap_or_default().trim();
        let arch = local.arch;
        let read = if theirs != arch {
            Err(anyhow::anyhow!(
                "{}: the host's architecture is {theirs}, this kubestrap's is {arch}: run `cluster apply` with a kubestrap built for {theirs}",
                host.name
            ))
        } else if lines.next().unwrap_or_default().trim() == local.sha256 {
            conn.read_prepared(lines.next().unwrap_or_default())
                .map(Some)
        } else {
            Ok(None)
        };
        match read {
            Ok(facts) => Ok(Conn { facts, ..conn }),
            Err(e) => {
                conn.close().await;
                Err(e)
            }
        }
    }

    /// What [`PREPARE`] said after the probe's lines: the facts (what the preflight run ahead
    /// said is kept for [`Conn::take_ahead`]).
    fn read_prepared(&self, out: &str) -> Result<Facts> {
        let (facts, said) = facts_and_preflight(out);
        if let Ok(mut slot) = self.ahead_said.lock() {
            *slot = said;
        }
        self.read_facts(facts)
    }

    /// What the preflight run ahead said, when it is the one with `args`; once.
    pub fn take_ahead(&self, args: &[&str]) -> Option<Output> {
        if self.ahead.as_ref()?.args != args {
            return None;
        }
        self.ahead_said.lock().ok()?.take()
    }

    pub async fn close(self) {
        self.remote.close().await;
    }

    /// Installs `local` unless the probe found it there, and the host's facts: whether it was
    /// copied, and the facts (read by the probe, or after the copy in the same round trip, with
    /// the preflight run ahead).
    pub async fn install(&self, local: &Local) -> Result<(bool, Facts)> {
        if let Some(facts) = &self.facts {
            return Ok((false, facts.clone()));
        }
        let mut input = self
            .ahead
            .as_ref()
            .map(|a| a.config.clone().into_bytes())
            .unwrap_or_default();
        input.extend_from_slice(&local.bytes);
        let copy = prepare(
            &self.bin,
            &local.sha256,
            "copy",
            &self.ahead,
            limits::UPLOAD,
        )
        .stdin(&input);
        let out = self.remote.check(copy).await.with_context(|| {
            format!(
                "{}: failed to install kubestrap at {}",
                self.host.name, self.bin
            )
        })?;
        Ok((true, self.read_prepared(&out)?))
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

    use super::{PREPARE, WITH_CONFIG, facts_and_preflight};

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

    /// A stand-in kubestrap: `cluster agent facts` prints `{"kubeFiles":false}` (`$FACTS` when
    /// set); anything else (the preflight) prints its arguments, its
    /// config file's mode, contents and path, says `warn` on stderr and exits 2.
    const FAKE: &str = r#"#!/bin/sh
if [ "$1" = cluster ]; then echo "${FACTS:-{\"kubeFiles\":false\}}"; exit 0; fi
for a; do f=$a; done
echo "$*" | sed "s#$f#FILE#"
stat -c %a "$f"; cat "$f"; echo "$f"
echo warn >&2
exit 2
"#;

    /// `sh -c PREPARE sh BIN SHA MODE LEN ARGS…` with `input` on stdin (the stand-in's facts
    /// `facts` when given): exit code and stdout.
    fn prepare(
        bin: &str,
        sha: &str,
        mode: &str,
        config: &str,
        input: &[u8],
        args: &[&str],
        facts: Option<&str>,
    ) -> (Option<i32>, String) {
        let mut child = Process::new("sh")
            .args(["-c", PREPARE, "sh", bin, sha, mode])
            .arg(config.len().to_string())
            .args(args)
            .envs(facts.map(|f| ("FACTS", f)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        // The script may end without reading it all (a probe that finds no binary reads it).
        let _ = pipe.write_all(input);
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    }

    fn executable(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }

    /// The probe reads the facts only with the same kubestrap, and runs the preflight ahead
    /// after them with the config in a 0600 file that is gone afterwards; the preflight's exit
    /// code is reported, not the script's.
    #[test]
    fn the_probe_reads_the_facts_and_runs_the_preflight_only_with_the_same_kubestrap() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kubestrap");
        let bin = bin.to_str().unwrap();
        let arch = std::env::consts::ARCH;
        let config = "kind: InitConfiguration\n";
        assert_eq!(
            prepare(
                bin,
                "00",
                "probe",
                config,
                config.as_bytes(),
                &["preflight"],
                None,
            ),
            (Some(0), format!("{arch}\n\n"))
        );
        executable(std::path::Path::new(bin), FAKE);
        let sha = crate::pki::sha256_hex(&std::fs::read(bin).unwrap());
        assert_eq!(
            prepare(bin, "00", "probe", "", b"", &[], None),
            (Some(0), format!("{arch}\n{sha}\n"))
        );
        assert_eq!(
            prepare(bin, &sha, "probe", "", b"", &[], None),
            (Some(0), format!("{arch}\n{sha}\n{{\"kubeFiles\":false}}\n"))
        );
        let (code, out) = prepare(
            bin,
            &sha,
            "probe",
            config,
            config.as_bytes(),
            &["preflight", "--join"],
            None,
        );
        assert_eq!(code, Some(0), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..7],
            [
                arch,
                sha.as_str(),
                "{\"kubeFiles\":false}",
                "--- preflight",
                "preflight --join --config FILE",
                "600",
                "kind: InitConfiguration"
            ],
            "{out}"
        );
        assert_eq!(lines[8..], ["warn", "--- preflight exit 2"], "{out}");
        assert!(lines[7].starts_with("/tmp/kubestrap-cluster-"), "{out}");
        assert!(
            !std::path::Path::new(lines[7]).exists(),
            "{} was left",
            lines[7]
        );
        let (facts, said) = facts_and_preflight(out.splitn(3, '\n').nth(2).unwrap());
        assert_eq!(facts, "{\"kubeFiles\":false}");
        let said = said.expect("the preflight's output");
        assert_eq!(said.code, Some(2));
        assert!(
            said.stdout
                .starts_with("preflight --join --config FILE\n600\n")
                && said.stdout.ends_with("warn\n"),
            "{said:?}"
        );
    }

    /// A host with something of a cluster on it gets no preflight ahead: the plan never checks
    /// one (it resumes or resets it first).
    #[test]
    fn no_preflight_runs_ahead_on_a_host_with_files_of_a_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kubestrap");
        let bin = bin.to_str().unwrap();
        executable(std::path::Path::new(bin), FAKE);
        let sha = crate::pki::sha256_hex(&std::fs::read(bin).unwrap());
        let arch = std::env::consts::ARCH;
        let facts = r#"{"hostname":"n1","kubeFiles":true}"#;
        let config = "kind: InitConfiguration\n";
        let (code, out) = prepare(
            bin,
            &sha,
            "probe",
            config,
            config.as_bytes(),
            &["preflight"],
            Some(facts),
        );
        assert_eq!((code, out), (Some(0), format!("{arch}\n{sha}\n{facts}\n")));
    }

    /// The script tells a fresh host by a piece of the facts' JSON as kubestrap prints it.
    #[test]
    fn the_script_knows_a_fresh_host_from_the_facts_kubestrap_prints() {
        let piece = r#""kubeFiles":false"#;
        assert!(PREPARE.contains(piece));
        let fresh = serde_json::to_string(&super::Facts::default()).unwrap();
        assert!(fresh.contains(piece), "{fresh}");
        let used = super::Facts {
            kube_files: true,
            ..super::Facts::default()
        };
        let used = serde_json::to_string(&used).unwrap();
        assert!(!used.contains(piece), "{used}");
    }

    /// A copy takes the config from the head of stdin and the binary from the rest, byte for
    /// byte, installs it with mode 0755 and runs it for the facts and the preflight.
    #[test]
    fn a_copy_installs_the_binary_after_the_config_and_runs_it() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("new/bin/kubestrap");
        let config = "token: abcdef.0123456789abcdef\n";
        let mut input = config.as_bytes().to_vec();
        input.extend_from_slice(FAKE.as_bytes());
        let (code, out) = prepare(
            bin.to_str().unwrap(),
            "00",
            "copy",
            config,
            &input,
            &["preflight"],
            None,
        );
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&bin).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755);
        let (facts, said) = facts_and_preflight(&out);
        assert_eq!(facts, "{\"kubeFiles\":false}");
        let said = said.expect("the preflight's output");
        assert_eq!(said.code, Some(2));
        assert!(
            said.stdout
                .starts_with("preflight --config FILE\n600\ntoken: abcdef.0123456789abcdef\n"),
            "{said:?}"
        );
        // Without a preflight ahead: the binary is the whole input.
        std::fs::remove_file(&bin).unwrap();
        let (code, out) = prepare(
            bin.to_str().unwrap(),
            "00",
            "copy",
            "",
            FAKE.as_bytes(),
            &[],
            None,
        );
        assert_eq!((code, out.as_str()), (Some(0), "{\"kubeFiles\":false}\n"));
        assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE);
    }
}
