//! One run at a time on a root: every command that writes holds an exclusive lock on
//! [`LOCK`] under the root while it runs (two inits at once would each make a CA and leave leaf
//! certificates the CA on disk did not sign). The file names its holder, pid and command line,
//! so that a second run can say whom it waits for. A dry run writes nothing and takes no lock.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::paths::STATE_DIR;
use super::root::Root;

/// The lock file.
pub const LOCK: &str = "/var/lib/kubestrap/lock";
/// How long a second run waits for the first by default.
pub const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// The lock, held until dropped (or the process ends: the kernel lets go of it then).
#[derive(Debug)]
pub struct RunLock {
    _held: Flock<File>,
}

/// Takes the lock of `root` for `command` (the command line, recorded for others to see). If
/// another run holds it, says so through `waiting` once, then waits up to `wait` before failing
/// with the holder's pid and command.
pub fn acquire(
    root: &Root,
    command: &str,
    wait: Duration,
    waiting: &mut dyn FnMut(&str),
) -> Result<RunLock> {
    if root.is_dry_run() {
        bail!("a dry run writes nothing and takes no lock");
    }
    root.create_dir(STATE_DIR, 0o755)?;
    let path = root.physical(LOCK)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(&path)
        .with_context(|| format!("failed to open the lock `{LOCK}`"))?;
    let deadline = Instant::now() + wait;
    let mut told = false;
    let held = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => break held,
            Err((back, Errno::EWOULDBLOCK)) => file = back,
            Err((_, e)) => return Err(e).with_context(|| format!("failed to lock `{LOCK}`")),
        }
        let holder = holder(&file);
        if Instant::now() >= deadline {
            bail!(
                "another kubestrap run holds `{LOCK}` on this root: {holder}; waited {}s for it to finish\n\nhint: let it finish, then run this again; if it hangs, stop it",
                wait.as_secs()
            );
        }
        if !told {
            waiting(&format!(
                "another kubestrap run holds `{LOCK}`: {holder}; waiting up to {}s for it to finish",
                wait.as_secs()
            ));
            told = true;
        }
        std::thread::sleep(POLL);
    };
    let record = format!("{}\n{command}\n", std::process::id());
    held.set_len(0)
        .and_then(|()| held.write_all_at(record.as_bytes(), 0))
        .with_context(|| format!("failed to record this run in `{LOCK}`"))?;
    Ok(RunLock { _held: held })
}

/// Who holds the lock, as its file says: `pid N (`command`)`.
fn holder(file: &File) -> String {
    let mut buf = vec![0; 64 * 1024];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(pid), Some(command)) if !pid.is_empty() => format!("pid {pid} (`{command}`)"),
        _ => "a process that has not said who it is yet".to_string(),
    }
}
