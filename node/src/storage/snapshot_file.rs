//! Raft snapshots as files under `DATA_DIR/snapshots`, written as a stream.
//!
//! A shard's snapshot is its whole applied state. Building one as a byte vector (and then
//! storing that vector as a RocksDB value) costs several copies of the shard in memory at every
//! snapshot, so a node's memory grows with its data. [`write_streamed`] instead writes the
//! records one by one, through a small buffer, into a file: memory stays constant whatever the
//! shard's size.
//!
//! The file holds exactly the bytes [`codec::encode`] makes of a
//! [`SnapshotPayload`](super::SnapshotPayload) under [`SNAPSHOT_PAYLOAD_KEY`]: a crc32 over the
//! key and the body, then the body in bincode's fixed-width encoding (`format_version: u32`,
//! the record count as `u64`, and per record the key and the value, each as `u64` length +
//! bytes). Receivers, backups and `install_snapshot` therefore decode and verify it as before.
//! The count and the crc32 are known only at the end: the header is written last, and the crc32
//! of header and records is combined from two hashers.
//!
//! Files are written to a temporary name, fsynced, renamed and the directory fsynced, so a crash
//! leaves either the old or the new file; a file no `raft_meta` entry points to is an orphan that
//! the next snapshot of the shard removes.

use std::fs::File;
use std::io;
use std::io::BufWriter;
use std::io::Seek;
use std::io::SeekFrom;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use super::codec::CHECKSUM_LEN;

/// The key the snapshot payload's crc32 is computed under (as for any framed value).
pub const SNAPSHOT_PAYLOAD_KEY: &[u8] = b"orderstore-snapshot";

/// The directory of snapshot files inside a node's data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

/// The file name of shard `shard`'s snapshot `snapshot_id`.
pub fn file_name(shard: u64, snapshot_id: &str) -> String {
    format!("shard-{shard}-{snapshot_id}.snap")
}

/// Bytes of the header: crc32, `format_version`, record count.
const HEADER_LEN: usize = CHECKSUM_LEN + 4 + 8;

/// Writes `records` (key suffix, framed value) as a snapshot payload of `format_version` into
/// `dir/name`, durably; returns the file's length. Stops at the first record error, leaving no
/// file behind.
pub fn write_streamed<I>(dir: &Path, name: &str, format_version: u32, records: I) -> io::Result<u64>
where
    I: IntoIterator<Item = io::Result<(Vec<u8>, Vec<u8>)>>,
{
    write_atomically(dir, name, |file| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0; HEADER_LEN])?;
        let mut body = crc32fast::Hasher::new();
        let mut count: u64 = 0;
        let mut len = HEADER_LEN as u64;
        for record in records {
            let (key, value) = record?;
            for part in [&key, &value] {
                let prefix = (part.len() as u64).to_le_bytes();
                out.write_all(&prefix)?;
                out.write_all(part)?;
                body.update(&prefix);
                body.update(part);
                len += 8 + part.len() as u64;
            }
            count += 1;
        }
        let mut head = crc32fast::Hasher::new();
        head.update(SNAPSHOT_PAYLOAD_KEY);
        head.update(&format_version.to_le_bytes());
        head.update(&count.to_le_bytes());
        head.combine(&body);
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&head.finalize().to_le_bytes())?;
        file.write_all(&format_version.to_le_bytes())?;
        file.write_all(&count.to_le_bytes())?;
        Ok(len)
    })
}

/// Writes `data` (an encoded payload received from a leader or a backup) to `dir/name`,
/// durably.
pub fn write_bytes(dir: &Path, name: &str, data: &[u8]) -> io::Result<u64> {
    write_atomically(dir, name, |file| {
        file.write_all(data)?;
        Ok(data.len() as u64)
    })
}

/// Reads `dir/name` whole (to send it to a follower).
pub fn read(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    std::fs::read(dir.join(name))
}

/// Removes shard `shard`'s snapshot files other than `keep` (older snapshots and orphans of
/// crashes). Failures are logged: a leftover file only costs space.
pub fn remove_others(dir: &Path, shard: u64, keep: &str) {
    let prefix = format!("shard-{shard}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix)
            && name != keep
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(file = %entry.path().display(), error = %e, "could not remove an old snapshot");
        }
    }
}

/// Creates `dir` if needed, lets `fill` write a temporary file, fsyncs it, renames it to
/// `name` and fsyncs the directory.
fn write_atomically<F>(dir: &Path, name: &str, fill: F) -> io::Result<u64>
where
    F: FnOnce(&mut File) -> io::Result<u64>,
{
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        let len = fill(&mut file)?;
        file.sync_all()?;
        Ok(len)
    })();
    let len = match result {
        Ok(len) => len,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::storage::SnapshotPayload;
    use crate::storage::codec;

    proptest! {
        /// The streamed file is byte for byte what `codec::encode` makes of the same payload,
        /// so every reader of snapshots (install, backup, restore) decodes and verifies it.
        #[test]
        fn streamed_file_equals_the_encoded_payload(
            records in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..300)),
                0..50,
            ),
            version in any::<u32>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let len = write_streamed(dir.path(), "s.snap", version, records.iter().cloned().map(Ok)).unwrap();
            let bytes = read(dir.path(), "s.snap").unwrap();
            let payload = SnapshotPayload { format_version: version, records };
            let expected = codec::encode(SNAPSHOT_PAYLOAD_KEY, &payload).unwrap();
            prop_assert_eq!(len, expected.len() as u64);
            prop_assert_eq!(bytes, expected);
        }
    }

    #[test]
    fn a_failing_record_leaves_no_file_and_others_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            Ok((b"a".to_vec(), b"1".to_vec())),
            Err(io::Error::other("damaged")),
        ];
        assert!(write_streamed(dir.path(), "shard-1-x.snap", 1, records).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        write_bytes(dir.path(), "shard-1-old.snap", b"old").unwrap();
        write_bytes(dir.path(), "shard-1-new.snap", b"new").unwrap();
        write_bytes(dir.path(), "shard-12-other.snap", b"other").unwrap();
        remove_others(dir.path(), 1, "shard-1-new.snap");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["shard-1-new.snap", "shard-12-other.snap"]);
    }
}
