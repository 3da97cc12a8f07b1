//! One run at a time on a root: every command that writes holds an exclusive lock on
//! [`LOCK`] under the root while it runs (two inits at once would each make a CA and leave leaf
//! certificates the CA on disk did not sign). The file names its holder, pid and command line,
//! so that a second run can say whom it waits for. A dry run writes nothing and takes no lock.
//!
//! The holder removes the file before it lets go, so a run leaves nothing behind; a run that was
//! waiting on the removed file sees that the path no longer leads to it and takes a new one.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
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

/// The lock, held until dropped (or until the process ends: the kernel lets go of it then).
#[derive(Debug)]
pub struct RunLock {
    held: Flock<File>,
    path: PathBuf,
    /// kubestrap's folder and those above it that this run made for the lock, innermost first.
    dirs: Vec<PathBuf>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if leads_to(&self.path, &self.held) {
            let _ = std::fs::remove_file(&self.path);
        }
        // Each only when empty: what the run wrote there stays.
        for dir in &self.dirs {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
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
    let deadline = Instant::now() + wait;
    let mut told = false;
    loop {
        // kubestrap's folder goes when empty, as --undo-fixes and reset leave it; the folders
        // above it only when this run made them.
        let mut dirs = vec![root.physical(STATE_DIR)?];
        for above in Path::new(STATE_DIR).ancestors().skip(1) {
            if root.exists(above) {
                break;
            }
            dirs.push(root.physical(above)?);
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
        if !leads_to(&path, &held) {
            // The holder removed it while letting go: lock the file now at the path.
            continue;
        }
        let record = format!("{}\n{command}\n", std::process::id());
        held.set_len(0)
            .and_then(|()| held.write_all_at(record.as_bytes(), 0))
            .with_context(|| format!("failed to record this run in `{LOCK}`"))?;
        return Ok(RunLock { held, path, dirs });
    }
}

/// Whether `path` is still the open file (not removed, nor replaced).
fn leads_to(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(at_path), Ok(open)) => at_path.dev() == open.dev() && at_path.ino() == open.ino(),
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_waits_then_names_the_holder_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let first = acquire(&root, "kubestrap init", WAIT, &mut |_| {}).unwrap();
        let mut said = Vec::new();
        let err = acquire(
            &root,
            "kubestrap reset",
            Duration::from_millis(300),
            &mut |m| said.push(m.to_string()),
        )
        .unwrap_err();
        let holder = format!("pid {} (`kubestrap init`)", std::process::id());
        assert!(format!("{err:#}").contains(&holder), "{err:#}");
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains(&holder), "{said:?}");
        drop(first);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let again = acquire(&root, "kubestrap reset", WAIT, &mut |_| {}).unwrap();
        drop(again);
    }
}
