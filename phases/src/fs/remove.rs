//! Removing a file or a folder tree by descriptor: no symbolic link is followed and no mounted
//! filesystem is entered, so a volume still mounted below a folder (a kubelet volume whose
//! unmount failed) keeps its files.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::at::{self, Mount};

/// Folders a removal left because another filesystem is mounted on them; their files stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountsLeft(pub Vec<String>);

impl fmt::Display for MountsLeft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "left {}: a filesystem is still mounted there, and kubestrap never deletes across a mount point, so its files stay",
            self.0
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl std::error::Error for MountsLeft {}

/// Removes the entry `rel` below `base` (a path whose folders are no symbolic links: resolve it
/// first) and, if it is a folder, everything in it that lies on the same filesystem. Returns
/// the mount points met, as logical paths; each stays with what is in it.
pub fn tree(base: &Path, rel: &Path) -> Result<Vec<String>> {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        bail!("refusing to remove `/`: that is the whole root");
    };
    let logical = Path::new("/").join(rel);
    let dir = match at::open_beneath(base, parent) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "failed to open `{}` without following links",
                    Path::new("/").join(parent).display()
                )
            });
        }
    };
    let mut left = Vec::new();
    let mount = Mount::of(&dir)?;
    remove_entry(&dir, mount, name, &logical, &mut left)?;
    Ok(left)
}

fn remove_entry(
    parent: &OwnedFd,
    parent_mount: Mount,
    name: &OsStr,
    logical: &Path,
    left: &mut Vec<String>,
) -> Result<()> {
    let shown = || logical.display().to_string();
    let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("failed to inspect `{}`", shown())),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return unlink(parent, name, AtFlags::empty(), logical);
    }
    let dir =
        at::open_dir(parent, name).with_context(|| format!("failed to open `{}`", shown()))?;
    let mount = Mount::of(&dir)?;
    if mount.differs(parent_mount) {
        left.push(shown());
        return Ok(());
    }
    let before = left.len();
    for child in names(&dir).with_context(|| format!("failed to list `{}`", shown()))? {
        remove_entry(&dir, mount, &child, &logical.join(&child), left)?;
    }
    if left.len() == before {
        unlink(parent, name, AtFlags::REMOVEDIR, logical)?;
    }
    Ok(())
}

fn unlink(parent: &OwnedFd, name: &OsStr, flags: AtFlags, logical: &Path) -> Result<()> {
    match rustix::fs::unlinkat(parent, name, flags) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("failed to remove `{}`", logical.display())),
    }
}

/// The names in an open folder, read before any is removed.
fn names(dir: impl AsFd) -> std::io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(out)
}
