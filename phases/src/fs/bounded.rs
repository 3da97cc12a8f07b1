//! Reads that stop at a size limit: what a server or a file sends is read at most one byte past
//! the limit, so an endless stream (a hostile server, `/dev/zero`) costs no more memory than that.
//! A file a user named (a configuration, a kubeconfig, a discovery file, a patch) must also be a
//! regular file: anything else (a FIFO, a device, a folder) is refused before a byte is read, so
//! neither an endless device nor a pipe without a writer can exhaust memory or hang the run.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Reads `reader` to its end if that is at most `limit` bytes; `Ok(None)` when there is more
/// (then at most `limit + 1` bytes were read).
pub fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// A size for messages: `1 MiB`, `512 KiB`, `100 bytes`.
pub fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

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
            Unreadable::TooLarge(limit) => write!(f, "it is larger than {}", show_size(*limit)),
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
    read_at_most(file, limit)
        .map_err(Unreadable::Io)?
        .ok_or(Unreadable::TooLarge(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_one_byte_past_the_limit() {
        let mut endless = std::io::repeat(b'x');
        assert_eq!(read_at_most(&mut endless, 4).unwrap(), None);
        assert_eq!(read_at_most(&b"abcd"[..], 4).unwrap().unwrap(), b"abcd");
        let mut five = &b"abcde"[..];
        assert_eq!(read_at_most(&mut five, 3).unwrap(), None);
        // Exactly limit + 1 bytes were taken from the reader.
        assert_eq!(five, b"e");
        assert_eq!(show_size(1 << 20), "1 MiB");
        assert_eq!(show_size(64 << 10), "64 KiB");
        assert_eq!(show_size(1000), "1000 bytes");
    }

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
