//! One host of the file over SSH: its kubestrap binary installed, and each kubestrap command
//! `cluster apply`, `status` and `reset` run there, with a bounded time each. Secrets (the
//! token, the certificate key) travel in files written through stdin with mode 0600 and removed
//! after the command, never on a command line.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::agent::{Facts, NodesReply, NodesRequest};
use super::file::Host;
use crate::host::ssh::{Command, Output, Remote, Settings, Started, Target};

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
/// signal too) with `$f.said`, what a command run with it said: the one way both scripts below
/// keep a configuration.
macro_rules! secret_file {
    () => {
        "umask 077; f=$(mktemp /tmp/kubestrap-cluster-XXXXXXXXXX) || exit 1\ntrap 'rm -f \"$f\" \"$f.said\" || echo \"failed to remove $f, which holds secrets\" >&2' EXIT\ntrap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM\n"
    };
}

/// The script of [`Conn::run_with_config`]: `sh -c WITH_CONFIG sh KUBESTRAP ARGS…`.
const WITH_CONFIG: &str = concat!(
    secret_file!(),
    "cat >\"$f\" || exit 1; \"$@\" --config \"$f\""
);

/// The first look at a host and, when it lacks this kubestrap, the copy, in one command:
/// `sh -c PREPARE sh KUBESTRAP SHA256 CONFIG_BYTES [PREFLIGHT ARGS…]`, with CONFIG_BYTES of
/// configuration on stdin. It prints the architecture and the SHA-256 of the host's kubestrap
/// (an empty line when it has none). When that is not SHA256, the rest of stdin is the binary's
/// size on a line, then the binary (installed 0755 by rename once all of it came), or nothing:
/// then the script ends there (another host was refused). Then the facts and, with PREFLIGHT
/// ARGS on a host with nothing of a cluster (the only hosts the plan checks), that preflight
/// with the configuration in a 0600 file removed at the end (a signal too), between
/// `--- preflight` and `--- preflight exit N`: a failing check is an answer, not a failure of
/// the script. The preflight runs beside the facts (each runs `kubelet --version`, slow to
/// start) and is stopped when they show files of a cluster; it only reads (`--fix` runs ahead
/// as `--fix --dry-run`). `dd bs=1` and `read` take their bytes without a byte of the binary after them.
const PREPARE: &str = concat!(
    r#"umask 077
bin=$1 sha=$2 len=$3
shift 3
uname -m
have=$(sha256sum "$bin" 2>/dev/null | cut -d' ' -f1)
echo "$have"
if [ "$len" -gt 0 ]; then
"#,
    secret_file!(),
    r#"dd bs=1 count="$len" of="$f" 2>/dev/null || exit 1
fi
if [ "$have" != "$sha" ]; then
  read -r size || exit 0
  tmp=$bin.kubestrap-tmp
  mkdir -p "$(dirname "$bin")" && cat >"$tmp" || exit 1
  got=$(wc -c <"$tmp")
  if [ "$got" -ne "$size" ]; then
    rm -f "$tmp"
    echo "the copy of $bin was cut short: $got bytes of $size" >&2
    exit 1
  fi
  chmod 755 "$tmp" && mv -f "$tmp" "$bin" || exit 1
fi
if [ $# -gt 0 ]; then "$bin" "$@" --config "$f" >"$f.said" 2>&1 & fi
facts=$("$bin" cluster agent facts) || { code=$?; kill $! 2>/dev/null; exit $code; }
echo "$facts"
[ $# -gt 0 ] || exit 0
case $facts in *'"kubeFiles":false'*) ;; *) kill $! 2>/dev/null; exit 0 ;; esac
wait $!
code=$?
echo '--- preflight'
cat "$f.said"
echo "--- preflight exit $code"
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

/// [`PREPARE`] for the kubestrap at `bin` whose SHA-256 is to be `sha256`, as root, with the
/// configuration of `ahead` on stdin; the binary follows or not ([`Conn::install`]).
fn prepare<'a>(bin: &str, sha256: &str, ahead: &'a Option<Ahead>) -> Command<'a> {
    let config = ahead.as_ref().map_or("", |a| a.config.as_str());
    let len = config.len().to_string();
    let mut argv = vec!["sh", "-c", PREPARE, "sh", bin, sha256, &len];
    let mut shown = format!(
        "the probe of {bin} (architecture, checksum), the copy of kubestrap there when it differs, then its facts"
    );
    if let Some(a) = ahead {
        argv.extend(a.args.iter().map(String::as_str));
        shown.push_str(&format!(
            " and `kubestrap {} --config <a 0600 file of the input, removed after>`",
            a.args.join(" ")
        ));
    }
    Command::new(&argv, limits::UPLOAD)
        .privileged()
        .shown(shown)
        .stdin(config.as_bytes())
        .input_follows()
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
    /// [`PREPARE`] waiting for the binary, or for nothing when the host has this kubestrap.
    probe: std::sync::Mutex<Option<Probe>>,
    /// The preflight to run ahead with the facts, and what it said once it ran.
    ahead: Option<Ahead>,
    ahead_said: std::sync::Mutex<Option<Output>>,
}

struct Probe {
    started: Started,
    /// The host has this kubestrap already.
    same: bool,
}

impl Conn {
    /// Connects, and in the same round trip checks that privileged commands run as root there,
    /// that the host's architecture is `local`'s, and whether it has `local` already. Nothing is
    /// changed on the host; [`Conn::install`] goes on from there.
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
        let (remote, mut started) = Remote::connect(
            &target,
            settings,
            control,
            prepare(bin, &local.sha256, &ahead),
        )
        .await?;
        let lines = match started.line().await {
            Ok(Some(arch)) => started.line().await.map(|have| have.map(|h| (arch, h))),
            other => other.map(|_| None),
        };
        let arch = local.arch;
        let problem = match lines {
            Ok(Some((theirs, have))) if theirs == arch => {
                return Ok(Conn {
                    host: host.clone(),
                    remote,
                    bin: bin.to_string(),
                    probe: std::sync::Mutex::new(Some(Probe {
                        started,
                        same: have == local.sha256,
                    })),
                    ahead,
                    ahead_said: Default::default(),
                });
            }
            Ok(Some((theirs, _))) => {
                // Nothing follows on its stdin: it ends without a change.
                let _ = remote.finish(started, &[]).await;
                anyhow::anyhow!(
                    "{}: the host's architecture is {theirs}, this kubestrap's is {arch}: run `cluster apply` with a kubestrap built for {theirs}",
                    host.name
                )
            }
            Ok(None) => match remote.complete(started, &[]).await {
                Err(e) => e,
                Ok(_) => anyhow::anyhow!(
                    "{}: the probe of {bin} said neither the architecture nor the checksum",
                    host.name
                ),
            },
            Err(e) => {
                drop(started);
                e
            }
        };
        remote.close().await;
        Err(problem)
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
        // A probe still waiting gets no binary: it ends without a change.
        if let Some(Probe { started, .. }) = self.probe.into_inner().ok().flatten() {
            let _ = self.remote.finish(started, &[]).await;
        }
        self.remote.close().await;
    }

    /// Installs `local` unless the probe found it there, and the host's facts: whether it was
    /// copied, and the facts (with the preflight run ahead), all in the probe's command.
    pub async fn install(&self, local: &Local) -> Result<(bool, Facts)> {
        let probe = self.probe.lock().ok().and_then(|mut p| p.take());
        let Some(Probe { started, same }) = probe else {
            bail!("{}: kubestrap was installed already", self.host.name);
        };
        let mut input = Vec::new();
        if !same {
            input = format!("{}\n", local.bytes.len()).into_bytes();
            input.extend_from_slice(&local.bytes);
        }
        let out = self
            .remote
            .complete(started, &input)
            .await
            .with_context(|| {
                if same {
                    format!("{}: failed to read the host's facts", self.host.name)
                } else {
                    format!(
                        "{}: failed to install kubestrap at {}",
                        self.host.name, self.bin
                    )
                }
            })?;
        // After the probe's lines (architecture, checksum).
        let rest = out.splitn(3, '\n').nth(2).unwrap_or_default();
        Ok((!same, self.read_prepared(rest)?))
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

    /// `kubestrap cluster agent nodes`, its request to follow within `limit`.
    async fn start_nodes(&self, limit: Duration) -> Result<Started> {
        let argv = [self.bin.as_str(), "cluster", "agent", "nodes"];
        let cmd = Command::new(&argv, limit).privileged().input_follows();
        self.remote.start(cmd).await
    }

    /// [`Conn::nodes`] started before its request is known, so that the host's shell starts
    /// while other steps run (up to `wait`); [`Conn::nodes_by`] gives it the request.
    pub async fn nodes_ahead(&self, wait: Duration) -> Result<Started> {
        self.start_nodes(wait + limits::QUICK).await
    }

    pub async fn nodes(&self, req: &NodesRequest) -> Result<NodesReply> {
        let limit = match req.drain.is_empty() {
            true => limits::QUICK,
            false => {
                let budget = req
                    .drain_timeout_seconds
                    .map_or(super::drain::Limits::default().budget, Duration::from_secs);
                limits::DRAIN + budget
            }
        };
        let started = self.start_nodes(limit).await?;
        self.nodes_by(started, req).await
    }

    /// The request to `cluster agent nodes` started already, and its reply.
    pub async fn nodes_by(&self, started: Started, req: &NodesRequest) -> Result<NodesReply> {
        let out = self
            .remote
            .complete(started, &serde_json::to_vec(req)?)
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

    /// `sh -c PREPARE sh BIN SHA LEN ARGS…` with `config` then `binary` (after its size, when
    /// given) on stdin (the stand-in's facts `facts` when given): exit code and stdout.
    fn prepare(
        bin: &str,
        sha: &str,
        config: &str,
        binary: Option<&[u8]>,
        args: &[&str],
        facts: Option<&str>,
    ) -> (Option<i32>, String) {
        let mut child = Process::new("sh")
            .args(["-c", PREPARE, "sh", bin, sha])
            .arg(config.len().to_string())
            .args(args)
            .envs(facts.map(|f| ("FACTS", f)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = config.as_bytes().to_vec();
        if let Some(binary) = binary {
            input.extend(format!("{}\n", binary.len()).bytes());
            input.extend_from_slice(binary);
        }
        let mut pipe = child.stdin.take().unwrap();
        // The script may end without reading it all (the host has this kubestrap).
        let _ = pipe.write_all(&input);
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    }

    fn executable(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }

    /// Without the binary following, a host without this kubestrap is left as it was and the
    /// script ends after the probe's lines.
    #[test]
    fn the_probe_alone_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin/kubestrap");
        let bin = bin.to_str().unwrap();
        let arch = std::env::consts::ARCH;
        let config = "kind: InitConfiguration\n";
        assert_eq!(
            prepare(bin, "00", config, None, &["preflight"], None),
            (Some(0), format!("{arch}\n\n"))
        );
        assert!(!dir.path().join("bin").exists(), "the probe made a folder");
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        executable(std::path::Path::new(bin), FAKE);
        let sha = crate::pki::sha256_hex(FAKE.as_bytes());
        assert_eq!(
            prepare(bin, "00", "", None, &[], None),
            (Some(0), format!("{arch}\n{sha}\n"))
        );
        assert_eq!(std::fs::read_to_string(bin).unwrap(), FAKE);
    }

    /// With the same kubestrap the probe goes on to the facts, reading nothing more, and runs
    /// the preflight ahead after them with the config in a 0600 file that is gone afterwards;
    /// the preflight's exit code is reported, not the script's.
    #[test]
    fn the_probe_reads_the_facts_and_runs_the_preflight_with_the_same_kubestrap() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kubestrap");
        let bin = bin.to_str().unwrap();
        let arch = std::env::consts::ARCH;
        let config = "kind: InitConfiguration\n";
        executable(std::path::Path::new(bin), FAKE);
        let sha = crate::pki::sha256_hex(FAKE.as_bytes());
        assert_eq!(
            prepare(bin, &sha, "", None, &[], None),
            (Some(0), format!("{arch}\n{sha}\n{{\"kubeFiles\":false}}\n"))
        );
        let (code, out) = prepare(bin, &sha, config, None, &["preflight", "--join"], None);
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
        for left in [lines[7].to_string(), format!("{}.said", lines[7])] {
            assert!(!std::path::Path::new(&left).exists(), "{left} was left");
        }
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
        let sha = crate::pki::sha256_hex(FAKE.as_bytes());
        let arch = std::env::consts::ARCH;
        let facts = r#"{"hostname":"n1","kubeFiles":true}"#;
        let config = "kind: InitConfiguration\n";
        let (code, out) = prepare(bin, &sha, config, None, &["preflight"], Some(facts));
        assert_eq!((code, out), (Some(0), format!("{arch}\n{sha}\n{facts}\n")));
    }

    /// The preflight runs beside the facts (which here wait for it to start), and is stopped
    /// when they show files of a cluster.
    #[test]
    fn the_preflight_runs_beside_the_facts_and_stops_on_a_used_host() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kubestrap");
        let mark = dir.path().join("started");
        let fake = format!(
            r#"#!/bin/sh
if [ "$1" = cluster ]; then
  for i in $(seq 100); do [ -e {mark} ] && break; sleep 0.05; done
  [ -e {mark} ] || exit 9
  echo "$FACTS"; exit 0
fi
touch {mark}; sleep 2; echo done >{mark}
"#,
            mark = mark.display()
        );
        executable(&bin, &fake);
        let bin = bin.to_str().unwrap();
        let sha = crate::pki::sha256_hex(fake.as_bytes());
        let arch = std::env::consts::ARCH;
        let fresh = r#"{"kubeFiles":false}"#;
        let (code, out) = prepare(bin, &sha, "x", None, &["preflight"], Some(fresh));
        assert_eq!(
            (code, out),
            (
                Some(0),
                format!("{arch}\n{sha}\n{fresh}\n--- preflight\n--- preflight exit 0\n")
            )
        );
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "done\n");
        std::fs::remove_file(&mark).unwrap();
        let used = r#"{"kubeFiles":true}"#;
        let (code, out) = prepare(bin, &sha, "x", None, &["preflight"], Some(used));
        assert_eq!((code, out), (Some(0), format!("{arch}\n{sha}\n{used}\n")));
        std::thread::sleep(std::time::Duration::from_millis(2500));
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "", "not stopped");
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

    /// A copy takes the config from the head of stdin, then the binary's size and the binary,
    /// byte for byte; it installs it with mode 0755 and runs it for the facts and the preflight.
    #[test]
    fn a_copy_installs_the_binary_after_the_config_and_runs_it() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("new/bin/kubestrap");
        let arch = std::env::consts::ARCH;
        let config = "token: abcdef.0123456789abcdef\n";
        let binary = Some(FAKE.as_bytes());
        let (code, out) = prepare(
            bin.to_str().unwrap(),
            "00",
            config,
            binary,
            &["preflight"],
            None,
        );
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&bin).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755);
        let rest = out.strip_prefix(&format!("{arch}\n\n")).expect(&out);
        let (facts, said) = facts_and_preflight(rest);
        assert_eq!(facts, "{\"kubeFiles\":false}");
        let said = said.expect("the preflight's output");
        assert_eq!(said.code, Some(2));
        assert!(
            said.stdout
                .starts_with("preflight --config FILE\n600\ntoken: abcdef.0123456789abcdef\n"),
            "{said:?}"
        );
        // Without a preflight ahead, over an older binary: the binary is all the input.
        executable(&bin, "#!/bin/sh\nexit 1\n");
        let old = crate::pki::sha256_hex(b"#!/bin/sh\nexit 1\n");
        let (code, out) = prepare(bin.to_str().unwrap(), "00", "", binary, &[], None);
        assert_eq!(
            (code, out),
            (Some(0), format!("{arch}\n{old}\n{{\"kubeFiles\":false}}\n"))
        );
        assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE);
    }

    /// A binary cut short (fewer bytes than its size says) is not installed.
    #[test]
    fn a_copy_cut_short_installs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kubestrap");
        let bin = bin.to_str().unwrap();
        let mut child = Process::new("sh")
            .args(["-c", PREPARE, "sh", bin, "00", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(format!("{}\n", FAKE.len()).as_bytes())
            .unwrap();
        pipe.write_all(&FAKE.as_bytes()[..10]).unwrap();
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(
            said.contains(&format!("cut short: 10 bytes of {}", FAKE.len())),
            "{said}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// Over a real sshd: a host without this kubestrap gets it in the probe's own command once
    /// it is given (size line, then the binary), reads its facts and runs the preflight ahead;
    /// the next connection finds the same binary and copies nothing; a probe closed without
    /// the binary (another host refused) leaves the host as it was.
    #[test]
    fn a_host_gets_this_kubestrap_in_the_probes_command_once() {
        use crate::host::ssh::test_sshd::Sshd;
        let sshd = Sshd::start();
        let settings = sshd.settings(sshd.known_hosts());
        let target = sshd.target();
        let host = super::Host {
            name: target.name,
            address: target.address,
            port: target.port,
            user: target.user,
            key: target.key,
            sudo: false,
            role: super::super::file::Role::Worker,
            node_name: None,
            labels: Default::default(),
            taints: None,
        };
        let facts = super::Facts::default();
        // The stand-in prints these facts (no environment comes over SSH).
        let fake = FAKE.replace(
            r#""${FACTS:-{\"kubeFiles\":false\}}""#,
            &format!("'{}'", serde_json::to_string(&facts).unwrap()),
        );
        assert_ne!(fake, FAKE);
        let local = super::Local {
            sha256: crate::pki::sha256_hex(fake.as_bytes()),
            bytes: fake.into_bytes(),
            arch: std::env::consts::ARCH,
        };
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin/kubestrap");
        let bin = bin.to_str().unwrap();
        let ahead = Some(super::Ahead {
            args: vec!["preflight".into(), "--join".into()],
            config: "kind: JoinConfiguration\n".into(),
        });
        let control = sshd.dir.path();
        let rt = crate::host::ssh::runtime().unwrap();
        rt.block_on(async {
            let conn = super::Conn::open(&host, bin, &local, ahead.clone(), &settings, control)
                .await
                .expect("connects");
            let (copied, read) = conn.install(&local).await.expect("installs");
            assert!(copied);
            assert_eq!(read, facts);
            assert_eq!(std::fs::read(bin).unwrap(), local.bytes);
            let said = conn
                .take_ahead(&["preflight", "--join"])
                .expect("the preflight ran ahead");
            assert_eq!(said.code, Some(2));
            assert!(
                said.stdout
                    .starts_with("preflight --join --config FILE\n600\nkind: JoinConfiguration\n"),
                "{said:?}"
            );
            conn.close().await;

            let conn = super::Conn::open(&host, bin, &local, None, &settings, control)
                .await
                .expect("connects again");
            assert_eq!(conn.install(&local).await.expect("facts"), (false, facts));
            conn.close().await;

            let other = dir.path().join("other/kubestrap");
            let conn = super::Conn::open(
                &host,
                other.to_str().unwrap(),
                &local,
                ahead,
                &settings,
                control,
            )
            .await
            .expect("connects");
            conn.close().await;
            assert!(
                !dir.path().join("other").exists(),
                "the probe made a folder"
            );
        });
    }
}
