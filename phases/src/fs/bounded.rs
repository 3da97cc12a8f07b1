//! Reads that stop at a size limit: what a server or a file sends is read at most one byte past
//! the limit, so an endless stream (a hostile server, `/dev/zero`) costs no more memory than that.

use std::io::Read;

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
}
