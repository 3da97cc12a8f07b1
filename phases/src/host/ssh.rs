//! Other machines over SSH: the system's OpenSSH client driven through the `openssh` crate, one
//! multiplexed connection per host (every command after the first costs no new handshake), host
//! keys checked against a known_hosts file, `sudo -n` for a user who is not root, a bounded time
//! for every command (enforced on both ends), and a log per host of what ran and what it said.
//! Secrets go through a command's stdin, never its arguments, and are not logged.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use openssh::{ChildStdin, ChildStdout, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Where a host is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How the host is named in messages and logs.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The private key to log in with; without one, the SSH agent's keys and the user's defaults.
    pub key: Option<PathBuf>,
    /// Run privileged commands through `sudo -n` (the user is not root).
    pub sudo: bool,
}

/// How every connection of a run is made.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The known_hosts file host keys are checked against (ssh's own default when `None`).
    pub known_hosts: Option<PathBuf>,
    /// Add a host whose key is not known yet (`StrictHostKeyChecking=accept-new`); a changed key
    /// is refused either way.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// A folder for one log per host (`<name>.log`), appended to.
    pub logs: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            known_hosts: None,
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            logs: None,
        }
    }
}

/// What a command said and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The end of stderr (else stdout): what a failure message quotes.
    pub fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.trim_end().lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }
}

/// One command to run on a host.
#[derive(Debug, Clone)]
pub struct Command<'a> {
    argv: Vec<String>,
    stdin: Option<&'a [u8]>,
    timeout: Duration,
    privileged: bool,
    secret_output: bool,
    /// Its stdin stays open after `stdin`: more is given to [`Remote::finish`].
    input_follows: bool,
    /// How the log and the errors name it, when not by its argv.
    shown: Option<String>,
}

impl<'a> Command<'a> {
    /// `argv` as the user logged in, within `timeout`.
    pub fn new<S: AsRef<str>>(argv: &[S], timeout: Duration) -> Self {
        Command {
            argv: argv.iter().map(|a| a.as_ref().to_string()).collect(),
            stdin: None,
            timeout,
            privileged: false,
            secret_output: false,
            input_follows: false,
            shown: None,
        }
    }

    /// Named `shown` in the log and in errors (a wrapper script's argv says less).
    pub fn shown(mut self, shown: impl Into<String>) -> Self {
        self.shown = Some(shown.into());
        self
    }

    fn name(&self) -> String {
        self.shown.clone().unwrap_or_else(|| self.argv.join(" "))
    }

    /// As root: through `sudo -n` when the host's user is not root.
    pub fn privileged(mut self) -> Self {
        self.privileged = true;
        self
    }

    /// Feeds `data` to the command's stdin (never logged).
    pub fn stdin(mut self, data: &'a [u8]) -> Self {
        self.stdin = Some(data);
        self
    }

    /// Its input goes on after `stdin`, once its first lines are read ([`Remote::start`]).
    pub fn input_follows(mut self) -> Self {
        self.input_follows = true;
        self
    }

    /// Its standard output holds a secret (a token, a kubeconfig, a certificate key): not
    /// logged. What it says on stderr is (with secrets masked).
    pub fn secret_output(mut self) -> Self {
        self.secret_output = true;
        self
    }
}

/// An open connection to one host.
pub struct Remote {
    /// Shared with the commands running there ([`Started`]).
    session: Arc<Session>,
    target: Target,
    log: Mutex<Option<std::fs::File>>,
}

/// The seconds the remote end grants a command past its time before it is killed.
pub const KILL_AFTER: u64 = 10;

/// `sh -c AS_ROOT sh ARGV…` (privileged): prints the uid privileged commands run as, then runs
/// ARGV only when that is root.
const AS_ROOT: &str = "u=$(id -u) || exit; echo \"$u\"; [ \"$u\" = 0 ] || exit 0; exec \"$@\"";

/// Whether `sudo -n` failed because it wants a password.
fn asks_password(out: &Output) -> bool {
    out.stderr.contains("sudo:") && out.stderr.contains("password")
}

fn sudo_hint(target: &Target) -> String {
    format!(
        "\n\nhint: `sudo -n` needs a password for {} on {}: allow it without one (a sudoers line `{} ALL=(ALL) NOPASSWD: ALL`), or log in as root",
        target.user, target.name, target.user
    )
}

/// Why privileged commands would not run as root on `target`, from the output of [`AS_ROOT`]
/// (through `sudo -n` for a `sudo` target) when its first line is not uid 0.
fn refusal(target: &Target, out: &Output) -> String {
    let name = &target.name;
    let user = &target.user;
    let uid = out.stdout.lines().next().unwrap_or_default().trim();
    // Without a uid the check itself failed; with one, the script ended there with success.
    if !uid.is_empty() && target.sudo {
        format!(
            "{name}: `sudo -n` runs commands as uid {uid}, not root: refused before anything ran\n\nhint: let {user} run every command as root through sudo (a sudoers line `{user} ALL=(ALL) NOPASSWD: ALL`)"
        )
    } else if !uid.is_empty() {
        format!(
            "{name}: {user} is not root (uid {uid}) and the host has no `sudo: true`: refused before anything ran\n\nhint: set `sudo: true` for this host in the cluster file (sudo without a password), or log in as root"
        )
    } else if target.sudo && asks_password(out) {
        format!(
            "{name}: `sudo -n` needs a password for {user}: refused before anything ran{}",
            sudo_hint(target)
        )
    } else {
        let how = if target.sudo {
            "sudo -n id -u"
        } else {
            "id -u"
        };
        format!(
            "{name}: `{how}` failed ({}): refused before anything ran:\n{}",
            exit_text(out),
            out.tail()
        )
    }
}

impl Remote {
    /// Connects (the host key checked), making the control socket in `control_dir`, and starts
    /// `first` as root in the same round trip as the check that privileged commands do run as
    /// root there: a host where they would not (`sudo -n` asks for a password, a user other than
    /// root without `sudo`) is refused before `first` runs. `first` goes on as [`Started`].
    pub async fn connect(
        target: &Target,
        settings: &Settings,
        control_dir: &Path,
        first: Command<'_>,
    ) -> Result<(Remote, Started)> {
        let mut builder = SessionBuilder::default();
        builder
            .user(target.user.clone())
            .port(target.port)
            .connect_timeout(settings.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(control_dir)
            .known_hosts_check(if settings.accept_new_host_keys {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            });
        if let Some(key) = &target.key {
            builder.keyfile(key);
        }
        if let Some(file) = &settings.known_hosts {
            builder.user_known_hosts_file(file);
        }
        let log = match &settings.logs {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("failed to create the log folder `{}`", dir.display())
                })?;
                let path = dir.join(format!("{}.log", target.name));
                Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .with_context(|| format!("failed to open `{}`", path.display()))?,
                )
            }
            None => None,
        };
        // ssh's own ConnectTimeout covers the TCP connect only; the handshake gets as long again.
        let limit = settings.connect_timeout * 2 + Duration::from_secs(5);
        let session = match tokio::time::timeout(limit, builder.connect(&target.address)).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => return Err(connect_error(target, settings, &e)),
            Err(_) => bail!(
                "{}: no SSH session with {}:{} within {} s",
                target.name,
                target.address,
                target.port,
                limit.as_secs()
            ),
        };
        let remote = Remote {
            session: Arc::new(session),
            target: target.clone(),
            log: Mutex::new(log),
        };
        remote.log(&format!(
            "connected to {}@{}:{}",
            target.user, target.address, target.port
        ));
        match remote.start_as_root(first).await {
            Ok(started) => Ok((remote, started)),
            Err(e) => {
                remote.close().await;
                Err(e)
            }
        }
    }

    /// `first` through [`AS_ROOT`], started once the uid it printed is root's.
    async fn start_as_root(&self, first: Command<'_>) -> Result<Started> {
        let shown = format!("{}   (after `id -u` says root)", first.name());
        let mut argv: Vec<String> = ["sh", "-c", AS_ROOT, "sh"].map(String::from).to_vec();
        argv.extend(first.argv);
        let cmd = Command {
            argv,
            shown: Some(shown),
            privileged: true,
            ..first
        };
        let mut started = self.start(cmd).await?;
        match started.line().await? {
            Some(uid) if uid.trim() == "0" => {
                // The command's own output starts after the uid.
                started.said.clear();
                Ok(started)
            }
            _ => {
                let out = self.finish(started, &[]).await?;
                Err(anyhow!(refusal(&self.target, &out)))
            }
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs a command to its end (or its time limit); a non-zero exit is an [`Output`], not an
    /// error.
    pub async fn run(&self, cmd: Command<'_>) -> Result<Output> {
        let started = self.start(cmd).await?;
        self.finish(started, &[]).await
    }

    /// Starts a command and gives it its stdin (kept open when its input follows); its time
    /// limit runs from here to the end of [`Remote::finish`].
    pub async fn start(&self, cmd: Command<'_>) -> Result<Started> {
        let mut argv: Vec<String> = Vec::new();
        if cmd.privileged && self.target.sudo {
            argv.extend(["sudo", "-n", "--"].map(String::from));
        }
        // The remote end stops the command at its time too, so nothing goes on there unseen.
        let secs = cmd.timeout.as_secs().max(1);
        argv.extend([
            "timeout".to_string(),
            format!("--kill-after={KILL_AFTER}s"),
            format!("{secs}s"),
        ]);
        argv.extend(cmd.argv.iter().cloned());
        let shown = cmd.name();
        self.log(&format!(
            "$ {shown}{}",
            cmd.stdin
                .map(|d| format!("   (< {} bytes on stdin)", d.len()))
                .unwrap_or_default()
        ));
        let mut command = Session::to_command(Arc::clone(&self.session), &argv[0]);
        command
            .args(&argv[1..])
            .stdin(if cmd.stdin.is_some() || cmd.input_follows {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let name = &self.target.name;
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started)
            + cmd.timeout
            + Duration::from_secs(KILL_AFTER + 5);
        let work = async {
            let mut child = command
                .spawn()
                .await
                .with_context(|| format!("{name}: failed to start `{shown}` over SSH"))?;
            let mut stdin = child.stdin().take();
            if let (Some(data), Some(pipe)) = (cmd.stdin, stdin.as_mut()) {
                pipe.write_all(data)
                    .await
                    .with_context(|| format!("{name}: failed to send the input of `{shown}`"))?;
            }
            if !cmd.input_follows {
                stdin = None;
            }
            Ok::<_, anyhow::Error>((child, stdin))
        };
        let (mut child, stdin) = match tokio::time::timeout_at(deadline, work).await {
            Ok(started) => started?,
            Err(_) => bail!("{name}: `{shown}` did not end within {secs} s"),
        };
        let stdout = child.stdout().take().map(BufReader::new);
        // Read from the start, so that a command saying much on stderr never waits for us.
        let stderr = child.stderr().take();
        let stderr = tokio::spawn(async move {
            let mut said = Vec::new();
            if let Some(mut pipe) = stderr {
                let _ = pipe.read_to_end(&mut said).await;
            }
            said
        });
        Ok(Started {
            host: name.clone(),
            sudo: cmd.privileged && self.target.sudo,
            child,
            stdin,
            stdout,
            said: Vec::new(),
            stderr,
            shown,
            secs,
            secret_output: cmd.secret_output,
            started,
            deadline,
        })
    }

    /// Gives `started` the rest of its input (`more`) and runs it to its end (or its time limit):
    /// all it printed (the lines read with [`Started::line`] too); a non-zero exit is an
    /// [`Output`], not an error.
    pub async fn finish(&self, started: Started, more: &[u8]) -> Result<Output> {
        let Started {
            host: name,
            sudo: _,
            child,
            stdin,
            stdout,
            mut said,
            stderr,
            shown,
            secs,
            secret_output,
            started,
            deadline,
        } = started;
        let lost = || format!("{name}: lost `{shown}` over SSH");
        let work = async {
            if let Some(mut pipe) = stdin {
                pipe.write_all(more)
                    .await
                    .with_context(|| format!("{name}: failed to send the input of `{shown}`"))?;
                pipe.shutdown().await.ok();
            }
            if let Some(mut pipe) = stdout {
                pipe.read_to_end(&mut said).await.with_context(lost)?;
            }
            let stderr = stderr.await.unwrap_or_default();
            let status = child.wait().await.with_context(lost)?;
            Ok::<_, anyhow::Error>((status, stderr))
        };
        let (status, stderr) = match tokio::time::timeout_at(deadline, work).await {
            Ok(out) => out?,
            Err(_) => bail!("{name}: `{shown}` did not end within {secs} s"),
        };
        let out = Output {
            code: status.code(),
            stdout: String::from_utf8_lossy(&said).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        let mut entry = String::new();
        if !more.is_empty() {
            let _ = writeln!(entry, "[then {} bytes more on stdin]", more.len());
        }
        let said = [("stdout", &out.stdout), ("stderr", &out.stderr)];
        self.log_step(entry, &said, secret_output, &exit_text(&out), started);
        if out.code == Some(124) {
            bail!("{name}: `{shown}` did not end within {secs} s");
        }
        Ok(out)
    }

    /// What `started` printed so far, logged as a step that ended after the time since it
    /// started (the command goes on: a shell waiting for more, see [`Remote::hand_over`]).
    pub fn log_so_far(&self, started: &Started, what: &str) {
        let said = String::from_utf8_lossy(&started.said).into_owned();
        let said = [("stdout", &said)];
        self.log_step(
            String::new(),
            &said,
            started.secret_output,
            what,
            started.started,
        );
    }

    /// Logs a step's entry: `entry`, what it `said` (a secret stdout left out), then how it
    /// ended after the time since `since`, for the reader looking for the slow step.
    fn log_step(
        &self,
        mut entry: String,
        said: &[(&str, &String)],
        secret_output: bool,
        ended: &str,
        since: Instant,
    ) {
        for (label, text) in said {
            if *label == "stdout" && secret_output {
                entry.push_str("(stdout not logged: it holds a secret)\n");
            } else if !text.trim().is_empty() {
                let _ = writeln!(entry, "[{label}]\n{}", text.trim_end());
            }
        }
        let _ = write!(
            entry,
            "[{ended} after {:.2} s]",
            since.elapsed().as_secs_f64()
        );
        self.log(&entry);
    }

    /// `started`, a shell waiting on its stdin for what to run next, as the command `shown`
    /// from now on: its output, time and limit count from here, and [`Remote::finish`] gives it
    /// its input. The shell bounds the command with `limit` itself.
    pub fn hand_over(
        &self,
        mut started: Started,
        shown: String,
        limit: Duration,
        secret_output: bool,
    ) -> Started {
        self.log(&format!("$ {shown}   (in the shell started ahead)"));
        started.said.clear();
        started.started = Instant::now();
        started.within(limit);
        started.shown = shown;
        started.secret_output = secret_output;
        started
    }

    /// Runs a command that must succeed; returns its stdout.
    pub async fn check(&self, cmd: Command<'_>) -> Result<String> {
        let started = self.start(cmd).await?;
        self.complete(started, &[]).await
    }

    /// [`Remote::finish`] for a command that must succeed: its stdout.
    pub async fn complete(&self, started: Started, more: &[u8]) -> Result<String> {
        let (shown, sudo) = (started.shown.clone(), started.sudo);
        let out = self.finish(started, more).await?;
        self.stdout_of(&shown, sudo, out)
    }

    /// The stdout of `shown` when it succeeded, else what failed (with the hint for a `sudo -n`
    /// that asked for a password, when it ran through `sudo`).
    fn stdout_of(&self, shown: &str, sudo: bool, out: Output) -> Result<String> {
        if out.success() {
            return Ok(out.stdout);
        }
        let mut msg = format!(
            "{}: `{shown}` failed ({})",
            self.target.name,
            exit_text(&out)
        );
        let tail = out.tail();
        if !tail.is_empty() {
            msg.push_str(&format!(":\n{tail}"));
        }
        if sudo && asks_password(&out) {
            msg.push_str(&sudo_hint(&self.target));
        }
        Err(anyhow!(msg))
    }

    /// Appends a line to the host's log, secrets masked.
    pub fn log(&self, text: &str) {
        if let Ok(mut guard) = self.log.lock()
            && let Some(file) = guard.as_mut()
        {
            let _ = writeln!(file, "{}", mask_secrets(text));
        }
    }

    /// Ends the connection (once no command started there is left; else when the last ends).
    pub async fn close(self) {
        self.log("disconnected");
        if let Ok(session) = Arc::try_unwrap(self.session) {
            let _ = session.close().await;
        }
    }
}

/// A command running on a host, its input still open ([`Command::input_follows`]): its first
/// lines read one by one, then ended by [`Remote::finish`].
pub struct Started {
    host: String,
    /// It runs through `sudo -n`.
    sudo: bool,
    child: openssh::Child<Arc<Session>>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    /// Its stdout so far.
    said: Vec<u8>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
    shown: String,
    secs: u64,
    secret_output: bool,
    started: Instant,
    deadline: tokio::time::Instant,
}

impl Started {
    /// Bounds what it does from now on (reading its lines, ending it) by `limit`, as its own
    /// limit bounds a command just started.
    pub fn within(&mut self, limit: Duration) {
        self.deadline = tokio::time::Instant::now() + limit + Duration::from_secs(KILL_AFTER + 5);
        self.secs = limit.as_secs().max(1);
    }

    /// Sends `data` to its stdin, which stays open.
    pub async fn send(&mut self, data: &[u8]) -> Result<()> {
        let Some(pipe) = self.stdin.as_mut() else {
            bail!("{}: `{}` takes no more input", self.host, self.shown);
        };
        match tokio::time::timeout_at(self.deadline, pipe.write_all(data)).await {
            Err(_) => bail!(
                "{}: `{}` did not end within {} s",
                self.host,
                self.shown,
                self.secs
            ),
            Ok(sent) => sent.with_context(|| {
                format!(
                    "{}: failed to send the input of `{}`",
                    self.host, self.shown
                )
            }),
        }
    }

    /// The next line it prints, without its newline; `None` once its stdout ended.
    pub async fn line(&mut self) -> Result<Option<String>> {
        let Some(pipe) = self.stdout.as_mut() else {
            return Ok(None);
        };
        let from = self.said.len();
        let read = tokio::time::timeout_at(self.deadline, pipe.read_until(b'\n', &mut self.said));
        match read.await {
            Err(_) => bail!(
                "{}: `{}` did not end within {} s",
                self.host,
                self.shown,
                self.secs
            ),
            Ok(Err(e)) => {
                Err(e).with_context(|| format!("{}: lost `{}` over SSH", self.host, self.shown))
            }
            Ok(Ok(0)) => Ok(None),
            Ok(Ok(_)) => {
                let line = String::from_utf8_lossy(&self.said[from..]);
                Ok(Some(line.trim_end_matches('\n').to_string()))
            }
        }
    }
}

/// `text` with what looks like a bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`) masked, and the
/// certificate key after `--certificate-key`, `certificateKey:` or `key:`: a command's output may
/// print one (init's join command does, and its upload-certs step after "Using certificate key:").
pub fn mask_secrets(text: &str) -> String {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b':' || b == b'-';
    let mut out = String::with_capacity(text.len());
    let mut previous = "";
    let mut i = 0;
    while i < bytes.len() {
        if !word(bytes[i]) {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let end = (i..bytes.len())
            .find(|&j| !word(bytes[j]))
            .unwrap_or(bytes.len());
        let w = &text[i..end];
        let lower = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        let token = w.len() == 23 && w.as_bytes()[6] == b'.' && lower(&w[..6]) && lower(&w[7..]);
        let key = matches!(previous, "--certificate-key" | "certificateKey:" | "key:")
            && w.bytes().all(|b| b.is_ascii_hexdigit());
        out.push_str(if token {
            "<token>"
        } else if key {
            "<certificate key>"
        } else {
            w
        });
        previous = w;
        i = end;
    }
    out
}

fn exit_text(out: &Output) -> String {
    match out.code {
        Some(code) => format!("exit code {code}"),
        None => "ended by a signal".into(),
    }
}

/// ssh's own words, turned into what is wrong and what to do.
fn connect_error(target: &Target, settings: &Settings, err: &openssh::Error) -> anyhow::Error {
    let mut said = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if !said.contains(&e.to_string()) {
            said.push_str(&format!("{e}\n"));
        }
        source = e.source();
    }
    let said = said.trim();
    let known_hosts = settings
        .known_hosts
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
    let at = format!("{}:{}", target.address, target.port);
    let name = &target.name;
    let ssh_line = format!("ssh -p {} {}@{}", target.port, target.user, target.address);
    if said.contains("IDENTIFICATION HAS CHANGED") {
        anyhow!(
            "{name}: the host key of {at} is not the one {known_hosts} has for it: refused (someone may be in between, or the host was reinstalled)\n\nhint: if the host was reinstalled, remove its old key with `ssh-keygen -R '[{}]:{}' -f {known_hosts}`, check the new key's fingerprint on the host's console, and run again",
            target.address,
            target.port
        )
    } else if said.contains("Host key verification failed") || said.contains("host key is known") {
        anyhow!(
            "{name}: the host key of {at} is not in {known_hosts}: refused before anything ran\n\nhint: check the key's fingerprint (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and add it with `{ssh_line}` (answer yes), or run again with --accept-new-host-keys to add unknown keys"
        )
    } else if said.contains("Permission denied") {
        anyhow!(
            "{name}: {at} refused the login of {}: {said}\n\nhint: check the host's `user` and `keyPath` in the cluster file (or the key in the SSH agent): `{ssh_line}` must log in without a password",
            target.user
        )
    } else {
        anyhow!(
            "{name}: no SSH connection to {at}: {said}\n\nhint: check that `{ssh_line}` works from here"
        )
    }
}

/// Runs `work` until it ends or SIGINT/SIGTERM arrives (then the error is
/// [`super::interrupt::Interrupted`], and dropping `work` ends the local ssh processes; each
/// remote command still ends by its own time limit).
pub async fn interruptible<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let watch = async {
        loop {
            if let Err(stop) = super::interrupt::Interrupt::process().check() {
                return stop;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        done = work => done,
        stop = watch => Err(anyhow::Error::new(stop).context("stopped before the hosts were done: run the same command again to go on")),
    }
}

/// A runtime for the SSH work of one command: the command line stays synchronous, the hosts are
/// driven at once (their commands are subprocesses, so one thread suffices).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the runtime that drives the SSH connections")
}

#[cfg(test)]
pub(crate) mod test_sshd;
#[cfg(test)]
mod tests;
