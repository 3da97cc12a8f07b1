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

    /// How long a host's first shell may live in a run over `hosts` hosts: its copy and facts,
    /// then the wait for the init and every join before its own (each after a reset), and that.
    pub fn session(hosts: usize) -> Duration {
        UPLOAD + PREFLIGHT + INIT + (RESET + JOIN) * hosts as u32
    }
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

/// The first look at a host and, when it lacks this kubestrap, the copy, then the one command
/// apply runs there next, in one shell: `sh -c PREPARE sh KUBESTRAP SHA256 CONFIG_BYTES
/// [PREFLIGHT ARGS…]`, with CONFIG_BYTES of configuration on stdin. It prints the architecture
/// and the SHA-256 of the host's kubestrap (an empty line when it has none). When that is not
/// SHA256, the rest of stdin is the binary's size on a line, then the binary (installed 0755 by
/// rename once all of it came), or nothing: then the script ends there (another host was
/// refused). Then the facts and, with PREFLIGHT ARGS on a host with nothing of a cluster (the
/// only hosts the plan checks), that preflight with the configuration in a 0600 file removed at
/// the end (a signal too), between `--- preflight` and `--- preflight exit N`: a failing check is
/// an answer, not a failure of the script. Then `--- ready`, and it waits for the next command
/// ([`Conn::with_config`]): the count of its arguments, each on a line, its time limit and the
/// seconds granted past it, and its configuration's size on lines, then the configuration; it
/// runs kubestrap with them and that configuration's file, so the init or join costs no shell
/// start-up of its own. Nothing more (end of input): it ends. `dd bs=1` and `read` take their
/// bytes without a byte after them; `head -c` may read ahead, but nothing follows the binary
/// before the script says it is ready.
const PREPARE: &str = concat!(
    r#"umask 077
bin=$1 sha=$2 len=$3
shift 3
uname -m
have=$(sha256sum "$bin" 2>/dev/null | cut -d' ' -f1)
echo "$have"
"#,
    secret_file!(),
    r#"dd bs=1 count="$len" of="$f" 2>/dev/null || exit 1
if [ "$have" != "$sha" ]; then
  read -r size || exit 0
  tmp=$bin.kubestrap-tmp
  mkdir -p "$(dirname "$bin")" && head -c "$size" >"$tmp" || exit 1
  got=$(wc -c <"$tmp")
  if [ "$got" -ne "$size" ]; then
    rm -f "$tmp"
    echo "the copy of $bin was cut short: $got bytes of $size" >&2
    exit 1
  fi
  chmod 755 "$tmp" && mv -f "$tmp" "$bin" || exit 1
fi
facts=$("$bin" cluster agent facts) || exit
echo "$facts"
case $#$facts in 0*) ;; *'"kubeFiles":false'*)
  echo '--- preflight'
  "$bin" "$@" --config "$f" 2>&1
  echo "--- preflight exit $?" ;;
esac
echo '--- ready'
read -r n || exit 0
set --
while [ "$n" -gt 0 ]; do IFS= read -r a || exit 1; set -- "$@" "$a"; n=$((n - 1)); done
read -r secs kill && read -r len || exit 1
dd bs=1 count="$len" of="$f" 2>/dev/null || exit 1
timeout --kill-after="$kill"s "$secs"s "$bin" "$@" --config "$f"
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
/// configuration of `ahead` on stdin; the binary follows or not ([`Conn::install`]). It may
/// live `wait`: until the command run in it last ends.
fn prepare<'a>(bin: &str, sha256: &str, ahead: &'a Option<Ahead>, wait: Duration) -> Command<'a> {
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
    Command::new(&argv, wait)
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
    /// [`PREPARE`] after the facts, waiting for the command to run next.
    next: std::sync::Mutex<Option<Started>>,
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
    /// changed on the host; [`Conn::install`] goes on from there. Its shell waits for the next
    /// command up to `wait` ([`limits::session`]).
    pub async fn open(
        host: &Host,
        bin: &str,
        local: &Local,
        ahead: Option<Ahead>,
        wait: Duration,
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
            prepare(bin, &local.sha256, &ahead, wait),
        )
        .await?;
        // The shell may live `wait`; its first lines come at once.
        started.within(limits::QUICK);
        let lines = match started.line().await {
            Ok(Some(arch)) => started.line().await.map(|have| have.map(|h| (arch, h))),
            other => other.map(|_| None),
        };
        let arch = local.arch;
        let problem = match lines {
            Ok(Some((theirs, have))) if theirs == arch => {
                remote.log_so_far(&started, "probed");
                return Ok(Conn {
                    host: host.clone(),
                    remote,
                    bin: bin.to_string(),
                    probe: std::sync::Mutex::new(Some(Probe {
                        started,
                        same: have == local.sha256,
                    })),
                    next: Default::default(),
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
        // A probe still waiting gets no binary, a shell waiting for its next command none: each
        // ends without a change.
        if let Some(Probe { started, .. }) = self.probe.into_inner().ok().flatten() {
            let _ = self.remote.finish(started, &[]).await;
        }
        if let Some(started) = self.next.into_inner().ok().flatten() {
            let _ = self.remote.finish(started, &[]).await;
        }
        self.remote.close().await;
    }

    /// Installs `local` unless the probe found it there, and the host's facts: whether it was
    /// copied, and the facts (with the preflight run ahead), all in the probe's shell, which then
    /// waits for the next command.
    pub async fn install(&self, local: &Local) -> Result<(bool, Facts)> {
        let probe = self.probe.lock().ok().and_then(|mut p| p.take());
        let Some(Probe { started, same }) = probe else {
            bail!("{}: kubestrap was installed already", self.host.name);
        };
        let mut shown = match same {
            true => "its facts".to_string(),
            false => format!("the copy of kubestrap to {}, then its facts", self.bin),
        };
        if let Some(a) = &self.ahead {
            shown.push_str(&format!(" and `kubestrap {}` run ahead", a.args.join(" ")));
        }
        let mut started = self.remote.hand_over(started, shown, limits::UPLOAD, false);
        let failed = || match same {
            true => format!("{}: failed to read the host's facts", self.host.name),
            false => format!(
                "{}: failed to install kubestrap at {}",
                self.host.name, self.bin
            ),
        };
        if !same {
            let mut input = format!("{}\n", local.bytes.len()).into_bytes();
            input.extend_from_slice(&local.bytes);
            started.send(&input).await.with_context(failed)?;
        }
        let mut said = String::new();
        loop {
            match started.line().await.with_context(failed)? {
                Some(line) if line == "--- ready" => break,
                Some(line) => {
                    said.push_str(&line);
                    said.push('\n');
                }
                None => {
                    // It ended: what failed is in its output and exit code.
                    let out = self
                        .remote
                        .complete(started, &[])
                        .await
                        .with_context(failed)?;
                    bail!(
                        "{}: ended without being ready for the next command:\n{out}",
                        failed()
                    );
                }
            }
        }
        self.remote.log_so_far(&started, "ready");
        if let Ok(mut next) = self.next.lock() {
            *next = Some(started);
        }
        Ok((!same, self.read_prepared(&said)?))
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
    /// it, the file removed as the shell ends (a signal too). In the shell of [`PREPARE`] when it
    /// waits for its next command, else in one of its own: one round trip, not three, as each
    /// start costs the login shell's start-up there.
    async fn run_with_config(
        &self,
        args: &[&str],
        config: &str,
        limit: Duration,
        secret: bool,
    ) -> Result<Output> {
        let shown = format!(
            "{} {} --config <a 0600 file of the input, removed after>",
            self.bin,
            args.join(" ")
        );
        // Its arguments go on lines: one with a newline (none of apply's has) starts a shell.
        let waiting = match args.iter().any(|a| a.contains('\n')) {
            true => None,
            false => self.next.lock().ok().and_then(|mut n| n.take()),
        };
        if let Some(started) = waiting {
            let started = self.remote.hand_over(started, shown, limit, secret);
            let mut input = format!("{}\n", args.len());
            for arg in args {
                input.push_str(arg);
                input.push('\n');
            }
            input.push_str(&format!(
                "{} {}\n{}\n{config}",
                limit.as_secs().max(1),
                crate::host::ssh::KILL_AFTER,
                config.len()
            ));
            return self.remote.finish(started, input.as_bytes()).await;
        }
        let mut argv = vec!["sh", "-c", WITH_CONFIG, "sh", self.bin.as_str()];
        argv.extend_from_slice(args);
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
mod tests;
