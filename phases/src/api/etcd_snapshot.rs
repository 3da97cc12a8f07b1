//! A consistent etcd snapshot through the v3 maintenance API (`POST /v3/maintenance/snapshot` of
//! the JSON gateway), the backup an upgrade takes before etcd changes: unlike a copy of the data
//! folder, it cannot catch a WAL file mid-rotation.
//!
//! The gateway streams one JSON message a line, `{"result":{"remaining_bytes":"…","blob":"…"}}`,
//! each blob a base64 chunk of the database; after the last chunk etcd sends one more message
//! whose blob is the SHA-256 of everything before it. The file keeps that trailer, as
//! `etcdctl snapshot save` does, so that `etcdctl snapshot restore` checks the database against it.

use std::fs::{self, Permissions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{Context, SHA256, SHA256_OUTPUT_LEN};
use serde::Deserialize;

use super::etcd_client::EtcdClient;
use super::{Method, Request};

/// The gateway's path of the snapshot call.
const SNAPSHOT_PATH: &str = "/v3/maintenance/snapshot";

/// The longest line of the stream read: a message carries one chunk (etcd sends 32 KiB), base64
/// and JSON make it a third larger; anything far longer is not etcd's.
const MAX_MESSAGE: u64 = 4 << 20;

/// A snapshot written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Bytes of the database (the file holds 32 more: etcd's SHA-256 trailer).
    pub size: u64,
    /// SHA-256 of the database in hex, as etcd computed it and as checked here.
    pub sha256: String,
}

/// One line of the stream.
#[derive(Deserialize)]
struct Message {
    result: Option<Chunk>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Chunk {
    /// A uint64, which the gateway writes as a string; absent when zero.
    #[serde(default)]
    remaining_bytes: Option<String>,
    /// Base64; absent when empty.
    #[serde(default)]
    blob: Option<String>,
}

impl EtcdClient {
    /// Takes a snapshot of etcd's database into the file `dest` (mode 0600, written under a
    /// temporary name in the same folder and renamed when complete and checked, so `dest` is
    /// either the whole snapshot or untouched). The stream is written as it arrives, never held
    /// whole; the client's per-request timeout bounds the whole transfer.
    pub fn snapshot(&self, dest: &Path) -> Result<SnapshotInfo> {
        let shown = dest.display();
        let folder = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        ensure!(
            folder.is_dir(),
            "cannot write the etcd snapshot `{shown}`: its folder `{}` does not exist; create it first",
            folder.display()
        );
        let endpoint = self.endpoint();
        let req = Request::new(Method::Post, SNAPSHOT_PATH)
            .with_json("application/json", &serde_json::json!({}));
        let (status, body) = self
            .transport
            .stream(&req)
            .with_context(|| format!("etcd at {endpoint} did not answer {SNAPSHOT_PATH}"))?;
        let mut reader = BufReader::new(body);
        if status != 200 {
            let mut text = String::new();
            let _ = reader.take(4096).read_to_string(&mut text);
            bail!(
                "etcd at {endpoint} refused the snapshot ({status}): {}",
                text.trim()
            );
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".kubestrap-snapshot-")
            .tempfile_in(folder)
            .with_context(|| format!("failed to create a file in `{}`", folder.display()))?;
        tmp.as_file()
            .set_permissions(Permissions::from_mode(0o600))
            .context("failed to make the snapshot file private")?;
        let info = copy_stream(&mut reader, tmp.as_file_mut())
            .with_context(|| format!("failed to take a snapshot of etcd at {endpoint}"))?;
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("failed to write `{shown}`"))?;
        tmp.persist(dest)
            .with_context(|| format!("failed to write `{shown}`"))?;
        // The rename is durable once the folder is.
        fs::File::open(folder).and_then(|d| d.sync_all()).ok();
        Ok(info)
    }
}

/// Writes the database chunks of a snapshot stream to `out`, then its SHA-256 trailer once the
/// database matches it; fails on an error message, a gap in the stream or a wrong checksum.
fn copy_stream(stream: &mut impl BufRead, out: &mut impl Write) -> Result<SnapshotInfo> {
    let mut digest = Context::new(&SHA256);
    // The latest blob waits: it is the trailer if no message follows.
    let mut held: Option<Vec<u8>> = None;
    let mut announced: Option<u64> = None;
    let mut size: u64 = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        stream
            .by_ref()
            .take(MAX_MESSAGE)
            .read_until(b'\n', &mut line)
            .context("the stream broke off")?;
        if line.is_empty() {
            break;
        }
        if line.len() as u64 == MAX_MESSAGE && !line.ends_with(b"\n") {
            bail!("a message of more than {MAX_MESSAGE} bytes is not etcd's");
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message: Message = serde_json::from_slice(&line)
            .context("etcd sent a message that is not the gateway's JSON")?;
        if let Some(error) = message.error {
            bail!("etcd stopped the snapshot: {error}");
        }
        let chunk = message
            .result
            .ok_or_else(|| anyhow!("etcd sent a message with neither result nor error"))?;
        let blob = STANDARD
            .decode(chunk.blob.unwrap_or_default())
            .context("etcd sent a chunk that is not base64")?;
        if blob.is_empty() {
            continue;
        }
        let remaining: u64 = match chunk.remaining_bytes.as_deref() {
            Some(n) => n
                .parse()
                .with_context(|| format!("remaining_bytes {n:?} is not a number"))?,
            None => 0,
        };
        // etcd counts down from the database's size: the first chunk says how much follows.
        let total = *announced.get_or_insert(remaining + blob.len() as u64);
        if let Some(data) = held.replace(blob) {
            size += data.len() as u64;
            ensure!(
                size <= total,
                "etcd sent more than the {total} bytes it announced"
            );
            digest.update(&data);
            out.write_all(&data)
                .context("failed to write the snapshot")?;
        }
    }
    let trailer = held.ok_or_else(|| anyhow!("etcd sent no data"))?;
    let total = announced.unwrap_or_default();
    ensure!(
        size == total,
        "the stream ended after {size} of the {total} bytes etcd announced"
    );
    let sum = digest.finish();
    ensure!(
        trailer.len() == SHA256_OUTPUT_LEN,
        "the stream ended without etcd's SHA-256 trailer"
    );
    ensure!(
        trailer == sum.as_ref(),
        "the snapshot does not match etcd's SHA-256 ({} ≠ {})",
        hex(&trailer),
        hex(sum.as_ref())
    );
    out.write_all(&trailer)
        .context("failed to write the snapshot")?;
    Ok(SnapshotInfo {
        size,
        sha256: hex(sum.as_ref()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway's stream of `db` in chunks of `chunk` bytes, then `trailer`.
    fn stream_of(db: &[u8], chunk: usize, trailer: &[u8]) -> String {
        let mut out = String::new();
        let mut sent = 0;
        for part in db.chunks(chunk) {
            sent += part.len();
            let remaining = db.len() - sent;
            let remaining = if remaining == 0 {
                String::new()
            } else {
                format!(r#""remaining_bytes":"{remaining}","#)
            };
            out.push_str(&format!(
                "{{\"result\":{{\"header\":{{}},{remaining}\"blob\":\"{}\"}}}}\n",
                STANDARD.encode(part)
            ));
        }
        out.push_str(&format!(
            "{{\"result\":{{\"blob\":\"{}\"}}}}\n",
            STANDARD.encode(trailer)
        ));
        out
    }

    fn sha(bytes: &[u8]) -> Vec<u8> {
        ring::digest::digest(&SHA256, bytes).as_ref().to_vec()
    }

    #[test]
    fn writes_the_database_and_its_trailer() {
        let db: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let text = stream_of(&db, 32 * 1024, &sha(&db));
        let mut out = Vec::new();
        let info = copy_stream(&mut text.as_bytes(), &mut out).unwrap();
        assert_eq!(info.size, db.len() as u64);
        assert_eq!(info.sha256, hex(&sha(&db)));
        assert_eq!(&out[..db.len()], &db[..]);
        assert_eq!(&out[db.len()..], &sha(&db)[..]);
    }

    #[test]
    fn refuses_a_wrong_or_missing_checksum_and_a_short_stream() {
        let db = b"database".repeat(1000);
        let wrong = stream_of(&db, 1000, &sha(b"other"));
        let err = copy_stream(&mut wrong.as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        // Without the trailer, the last chunk would be taken for it.
        let text = stream_of(&db, 1000, &sha(&db));
        let cut: Vec<&str> = text.lines().collect();
        let no_trailer = cut[..cut.len() - 1].join("\n");
        let err = copy_stream(&mut no_trailer.as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("ended after"), "{err:#}");
        let short = [&cut[..3], &cut[cut.len() - 1..]].concat().join("\n");
        let err = copy_stream(&mut short.as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("ended after"), "{err:#}");
        let err = copy_stream(&mut "".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("no data"), "{err:#}");
    }

    #[test]
    fn an_error_in_the_stream_stops_it() {
        let db = b"x".repeat(10);
        let text = stream_of(&db, 4, &sha(&db)).replacen(
            "\n",
            "\n{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: server stopped\"}}\n",
            1,
        );
        let err = copy_stream(&mut text.as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("server stopped"), "{err:#}");
    }
}
