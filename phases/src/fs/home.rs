//! A folder in a user's home (`~/.kube`), written as root without following anything the user
//! could have planted: the home and the folder are opened by descriptor with no-follow and their
//! owner checked, files are created exclusively (0600), given to the user through the open
//! descriptor, synced and renamed into place inside the folder held open.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, Result, bail};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::at;
use super::resolve;

/// The largest file read from a user's folder (a kubeconfig is a few KiB).
const MAX_READ: u64 = 1 << 20;

/// The user who is to own what is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// A folder of a user's home, held open; every name in it is used relative to it.
#[derive(Debug)]
pub struct UserDir {
    dir: OwnedFd,
    logical: PathBuf,
    owner: Owner,
}

/// Opens `sub` (created, 0755 and the user's, when missing and `create`) in the home `home` (a
/// logical path) under `base`. Refuses a home or folder that is a symbolic link or is not the
/// user's, and a folder above the home that someone other than root could change.
pub fn open(base: &Path, home: &Path, sub: &str, owner: Owner, create: bool) -> Result<UserDir> {
    let (Some(parent), Some(home_name)) = (home.parent(), home.file_name()) else {
        bail!("the home `{}` is not a folder below `/`", home.display());
    };
    if home.components().any(|c| c == Component::ParentDir) {
        bail!("the home `{}` climbs with `..`", home.display());
    }
    // The folders above the home are root's: follow its own links (`/home` → `/var/home`) inside
    // the root, then hold each open and check that only root can change it.
    let above = resolve::in_root(base, parent)?;
    let mut fd = rustix::fs::open(
        base,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut shown = PathBuf::from("/");
    for part in above.components() {
        if let Component::Normal(name) = part {
            shown.push(name);
            fd = at::open_dir(&fd, name)
                .with_context(|| format!("failed to open `{}`", shown.display()))?;
            let st = rustix::fs::fstat(&fd)?;
            if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
                bail!(
                    "`{}`, above the home, is not root's alone (owner uid {}, mode {:o}): another user could swap what lies below it",
                    shown.display(),
                    st.st_uid,
                    st.st_mode & 0o7777
                );
            }
        }
    }
    let home_logical = home.to_path_buf();
    let home_fd = open_owned(&fd, home_name, &home_logical, owner)?;
    let logical = home_logical.join(sub);
    let made = if create {
        rustix::fs::mkdirat(&home_fd, sub, Mode::from_raw_mode(0o755))
    } else {
        Err(Errno::EXIST)
    };
    let created = match made {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => {
            return Err(e).with_context(|| format!("failed to create `{}`", logical.display()));
        }
    };
    if created {
        let dir = at::open_dir(&home_fd, OsStr::new(sub))
            .with_context(|| format!("failed to open `{}`", logical.display()))?;
        // Still root's own: the folder this run made (not one swapped in meanwhile).
        if rustix::fs::fstat(&dir)?.st_uid == 0 {
            chown(&dir, owner)
                .with_context(|| format!("failed to give `{}` to its user", logical.display()))?;
        }
    }
    let dir = open_owned(&home_fd, OsStr::new(sub), &logical, owner)?;
    Ok(UserDir {
        dir,
        logical,
        owner,
    })
}

/// Opens the folder `name` of `at` without following a link and checks that the user owns it.
fn open_owned(at: &OwnedFd, name: &OsStr, logical: &Path, owner: Owner) -> Result<OwnedFd> {
    match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            bail!(
                "`{}` is a symbolic link: kubestrap writes nothing through a link the user could have made",
                logical.display()
            )
        }
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {
            bail!("`{}` is not a folder", logical.display())
        }
        Ok(_) => {}
        Err(Errno::NOENT) => bail!("`{}` does not exist", logical.display()),
        Err(e) => {
            return Err(e).with_context(|| format!("failed to inspect `{}`", logical.display()));
        }
    }
    let fd = at::open_dir(at, name)
        .with_context(|| format!("failed to open `{}`", logical.display()))?;
    let uid = rustix::fs::fstat(&fd)?.st_uid;
    if uid != owner.uid {
        bail!(
            "`{}` belongs to uid {uid}, not to the user (uid {})",
            logical.display(),
            owner.uid
        );
    }
    Ok(fd)
}

fn chown(fd: impl AsFd, owner: Owner) -> rustix::io::Result<()> {
    rustix::fs::fchown(
        fd,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
    )
}

impl UserDir {
    /// The logical path of a file in this folder.
    pub fn path(&self, name: &str) -> String {
        self.logical.join(name).display().to_string()
    }

    /// Reads a file of this folder; `None` when there is none. Refuses a link, anything but a
    /// regular file, and a file the user does not own.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let shown = self.path(name);
        let fd = match rustix::fs::openat(
            &self.dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => bail!(
                "`{shown}` is a symbolic link: kubestrap reads and writes nothing through a link the user could have made"
            ),
            Err(e) => return Err(e).with_context(|| format!("failed to open `{shown}`")),
        };
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            bail!("`{shown}` is not a regular file");
        }
        if st.st_uid != self.owner.uid {
            bail!(
                "`{shown}` belongs to uid {}, not to the user (uid {})",
                st.st_uid,
                self.owner.uid
            );
        }
        let bytes = super::bounded::read_at_most(File::from(fd), MAX_READ)
            .with_context(|| format!("failed to read `{shown}`"))?
            .with_context(|| {
                format!(
                    "`{shown}` is larger than {}: not a kubeconfig",
                    super::bounded::show_size(MAX_READ)
                )
            })?;
        Ok(Some(bytes))
    }

    /// Writes a file of this folder atomically: a new 0600 file given to the user, synced, then
    /// renamed over `name`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let tmp = format!(
            ".{name}.kubestrap-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let shown = self.path(name);
        let fd = rustix::fs::openat(
            &self.dir,
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(|| format!("failed to create a file beside `{shown}`"))?;
        let write = || -> Result<()> {
            chown(&fd, self.owner)?;
            let mut file = File::from(fd);
            file.write_all(bytes)?;
            file.sync_all()?;
            rustix::fs::renameat(&self.dir, &tmp, &self.dir, name)?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = rustix::fs::unlinkat(&self.dir, &tmp, AtFlags::empty());
            e.context(format!("failed to write `{shown}`"))
        })
    }

    /// Removes a file of this folder (the name only: nothing a link points at).
    pub fn remove(&self, name: &str) -> Result<()> {
        rustix::fs::unlinkat(&self.dir, name, AtFlags::empty())
            .with_context(|| format!("failed to remove `{}`", self.path(name)))
    }
}
