//! Folders opened by descriptor, one name at a time and never through a symbolic link, so a
//! link planted (or swapped in) on the way is refused rather than followed.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};

const DIR: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the folder `name` of the open folder `at`; a symbolic link there fails (ELOOP or
/// ENOTDIR) instead of being followed.
pub fn open_dir(at: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(at, name, DIR, Mode::empty())?)
}

/// Opens the folder `rel` below `base` (which is opened as given: the operator chose it), one
/// name at a time without following a link.
pub fn open_beneath(base: &Path, rel: &Path) -> io::Result<OwnedFd> {
    let mut fd = rustix::fs::open(
        base,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for part in rel.components() {
        match part {
            Component::Normal(name) => fd = open_dir(&fd, name)?,
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` climbs with `..`", rel.display()),
                ));
            }
        }
    }
    Ok(fd)
}

/// Which mounted filesystem an open folder lies on: its device, and its mount where the kernel
/// tells it (a bind mount of a folder of the same filesystem has the same device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mount {
    dev: (u32, u32),
    id: Option<u64>,
}

impl Mount {
    /// The mount of an open file or folder.
    pub fn of(fd: impl AsFd) -> io::Result<Self> {
        let fd = fd.as_fd();
        let st = rustix::fs::fstat(fd)?;
        let dev = (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
        let id = match rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID) {
            Ok(x) if x.stx_mask & StatxFlags::MNT_ID.bits() != 0 => Some(x.stx_mnt_id),
            // Kernels before 5.8 tell it in /proc.
            _ => fdinfo_mount_id(fd),
        };
        Ok(Mount { dev, id })
    }

    /// Whether `other` is another mounted filesystem than this one.
    pub fn differs(self, other: Mount) -> bool {
        self.dev != other.dev || matches!((self.id, other.id), (Some(a), Some(b)) if a != b)
    }
}

fn fdinfo_mount_id(fd: BorrowedFd<'_>) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}
