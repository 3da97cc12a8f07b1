//! Reading a file a user named (a configuration, a kubeconfig, a discovery file, a patch) with a
//! size limit that holds for any file: a regular file is read up to one byte past the limit, and
//! anything else (a FIFO, `/dev/zero`, a folder) is refused before a byte is read, so neither an
//! endless device nor a pipe without a writer can exhaust memory or hang the run.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum Unreadable {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// Not a regular file: what it is instead ("a FIFO", "a character device", …).
    NotAFile(&'static str),
    /// Larger than the limit (bytes).
    TooLarge(u64),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::Io(e) => write!(f, "{e}"),
            Unreadable::NotAFile(what) => write!(f, "it is {what}, not a regular file"),
            Unreadable::TooLarge(limit) => write!(f, "it is larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for Unreadable {}

/// The whole of the regular file at `path`, refused when it holds more than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, Unreadable> {
    // Non-blocking, so that opening a FIFO returns at once instead of waiting for a writer; it
    // changes nothing for the regular file read afterwards.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(Unreadable::Io)?;
    read_open(file, limit)
}

fn read_open(file: File, limit: u64) -> Result<Vec<u8>, Unreadable> {
    let kind = file.metadata().map_err(Unreadable::Io)?.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a folder")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    if let Some(what) = what {
        return Err(Unreadable::NotAFile(what));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Unreadable::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read(&path, 10).unwrap(), b"0123456789");
        assert!(matches!(read(&path, 9), Err(Unreadable::TooLarge(9))));
        assert!(matches!(
            read(&dir.path().join("missing"), 9),
            Err(Unreadable::Io(_))
        ));
    }

    #[test]
    fn devices_fifos_and_folders_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (path, what) in [
            (Path::new("/dev/zero"), "a character device"),
            (fifo.as_path(), "a FIFO (named pipe)"),
            (dir.path(), "a folder"),
        ] {
            match read(path, 1 << 20) {
                Err(Unreadable::NotAFile(w)) => assert_eq!(w, what),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }
}
