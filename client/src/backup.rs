//! Backups: a consistent copy of every shard, written as one file per shard plus a manifest.
//!
//! Each shard's copy is taken by its leader after a linearizable read barrier (so it holds
//! every write acknowledged before the shard was asked) at a known log position. The shards are
//! copied one after another, so the backup as a whole is a set of per-shard consistent points,
//! not one cluster-wide instant (as with CockroachDB's per-range exports; a cross-shard saga in
//! flight at backup time is finished by the restored cluster's orchestrator and reconciler).
//!
//! Layout of a backup directory:
//! - `shard-<id>.snap`: the shard's state as the node encodes it (crc32-framed records);
//! - `manifest.json` ([`BackupManifest`]): per shard its file, byte length, crc32, hash range
//!   and log position. Written last and atomically: a directory without it is no backup.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;
use std::time::SystemTime;

use orderstore_proto::v1 as pb;
use orderstore_proto::v1::cluster_admin_client::ClusterAdminClient;
use serde::Deserialize;
use serde::Serialize;

use crate::Client;
use crate::ClientError;
use crate::client::Target;

/// Format of the manifest this build writes and reads.
pub const BACKUP_FORMAT: u32 = 1;

/// Name of the manifest inside a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// [`BACKUP_FORMAT`] of the writer.
    pub format: u32,
    /// When the backup finished (Unix ms).
    pub created_unix_ms: u64,
    /// One entry per shard, by id.
    pub shards: Vec<ShardBackupEntry>,
}

/// One shard of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardBackupEntry {
    pub shard_id: u64,
    /// The shard's hash range (inclusive).
    pub range_start: u64,
    pub range_end: u64,
    /// Log position the copy reflects.
    pub last_log_index: u64,
    pub last_log_term: u64,
    /// File name inside the backup directory.
    pub file: String,
    pub bytes: u64,
    pub crc32: u32,
    /// The node's snapshot metadata (JSON), read back by `orderd --restore-from`.
    pub snapshot_meta: String,
}

/// One shard's copy as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBackup {
    pub entry: ShardBackupEntry,
    pub data: Vec<u8>,
}

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Returned when the cluster could not be asked (after the client's retries).
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Returned when `backup_to` is pointed at a directory that already holds a backup.
    #[error("{0} already holds a backup ({MANIFEST_FILE}); choose an empty directory")]
    NotEmpty(PathBuf),
    /// Returned when a shard's data or the manifest fails its checks (length, crc32, format).
    #[error("backup is damaged: {0}")]
    Corrupt(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn u64_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(b)
}

impl Client {
    /// A consistent copy of shard `shard_id` from its leader (redirects and retries as for any
    /// call). Checks the received length and crc32 against what the leader announced.
    ///
    /// Errors: [`BackupError::Client`] when the cluster did not answer, [`BackupError::Corrupt`]
    /// when the data arrived damaged.
    pub async fn backup_shard(&self, shard_id: u64) -> Result<ShardBackup, BackupError> {
        let chunks = self
            .call(Target::Shard(shard_id), |ch, timeout, _| {
                let mut r = tonic::Request::new(pb::BackupShardRequest { shard_id });
                r.set_timeout(timeout);
                async move {
                    let mut stream = ClusterAdminClient::new(ch)
                        .max_decoding_message_size(usize::MAX)
                        .backup_shard(r)
                        .await?
                        .into_inner();
                    let mut chunks = Vec::new();
                    while let Some(c) = stream.message().await? {
                        chunks.push(c);
                    }
                    Ok(tonic::Response::new(chunks))
                }
            })
            .await?;
        let first = chunks
            .first()
            .ok_or_else(|| BackupError::Corrupt(format!("shard {shard_id}: empty stream")))?;
        let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        if data.len() as u64 != first.total_bytes || crc32fast::hash(&data) != first.crc32 {
            return Err(BackupError::Corrupt(format!(
                "shard {shard_id}: received {} bytes with crc32 {:08x}, the leader sent {} with {:08x}",
                data.len(),
                crc32fast::hash(&data),
                first.total_bytes,
                first.crc32
            )));
        }
        let entry = ShardBackupEntry {
            shard_id,
            range_start: u64_of(&first.range_start),
            range_end: u64_of(&first.range_end),
            last_log_index: first.last_log_index,
            last_log_term: first.last_log_term,
            file: format!("shard-{shard_id}.snap"),
            bytes: first.total_bytes,
            crc32: first.crc32,
            snapshot_meta: String::from_utf8_lossy(&first.snapshot_meta).into_owned(),
        };
        Ok(ShardBackup { entry, data })
    }

    /// Backs up every shard of the cluster into `dir` (created if missing; must not hold a
    /// backup already): one file per shard, fsynced, then the manifest, atomically.
    pub async fn backup_to(&self, dir: &Path) -> Result<BackupManifest, BackupError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        if dir.join(MANIFEST_FILE).exists() {
            return Err(BackupError::NotEmpty(dir.to_path_buf()));
        }
        let status = self.cluster_status().await?;
        let mut shards = Vec::new();
        for shard in &status.shards {
            let copy = self.backup_shard(shard.id).await?;
            write_synced(&dir.join(&copy.entry.file), &copy.data)?;
            shards.push(copy.entry);
        }
        shards.sort_by_key(|s| s.shard_id);
        let manifest = BackupManifest {
            format: BACKUP_FORMAT,
            created_unix_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            shards,
        };
        // A manifest of plain data always serialises.
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        write_synced(&tmp, &json)?;
        let path = dir.join(MANIFEST_FILE);
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        Ok(manifest)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut f = std::fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

impl BackupManifest {
    /// Reads and checks the manifest of the backup in `dir`.
    ///
    /// Errors: [`BackupError::Io`] when it cannot be read, [`BackupError::Corrupt`] when it
    /// does not parse, is of a newer format, or lists a shard twice.
    pub fn load(dir: &Path) -> Result<Self, BackupError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let m: BackupManifest = serde_json::from_slice(&bytes)
            .map_err(|e| BackupError::Corrupt(format!("{}: {e}", path.display())))?;
        if m.format > BACKUP_FORMAT {
            return Err(BackupError::Corrupt(format!(
                "backup format {} is newer than this build's {BACKUP_FORMAT}",
                m.format
            )));
        }
        let mut ids: Vec<u64> = m.shards.iter().map(|s| s.shard_id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != m.shards.len() {
            return Err(BackupError::Corrupt("a shard is listed twice".into()));
        }
        Ok(m)
    }

    /// The entry of shard `shard_id`.
    pub fn shard(&self, shard_id: u64) -> Option<&ShardBackupEntry> {
        self.shards.iter().find(|s| s.shard_id == shard_id)
    }

    /// Reads shard `shard_id`'s data from `dir`, checking its length and crc32.
    pub fn read_shard(&self, dir: &Path, shard_id: u64) -> Result<Vec<u8>, BackupError> {
        let entry = self
            .shard(shard_id)
            .ok_or_else(|| BackupError::Corrupt(format!("no shard {shard_id} in the backup")))?;
        let path = dir.join(&entry.file);
        let data = std::fs::read(&path).map_err(io_err(&path))?;
        if data.len() as u64 != entry.bytes || crc32fast::hash(&data) != entry.crc32 {
            return Err(BackupError::Corrupt(format!(
                "{}: {} bytes with crc32 {:08x}, the manifest says {} with {:08x}",
                path.display(),
                data.len(),
                crc32fast::hash(&data),
                entry.bytes,
                entry.crc32
            )));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path, data: &[u8]) -> BackupManifest {
        std::fs::write(dir.join("shard-1.snap"), data).unwrap();
        let m = BackupManifest {
            format: BACKUP_FORMAT,
            created_unix_ms: 1,
            shards: vec![ShardBackupEntry {
                shard_id: 1,
                range_start: 0,
                range_end: u64::MAX,
                last_log_index: 7,
                last_log_term: 2,
                file: "shard-1.snap".into(),
                bytes: data.len() as u64,
                crc32: crc32fast::hash(data),
                snapshot_meta: "{}".into(),
            }],
        };
        std::fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(&m).unwrap()).unwrap();
        m
    }

    #[test]
    fn a_damaged_shard_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path(), b"shard bytes");
        let loaded = BackupManifest::load(dir.path()).unwrap();
        assert_eq!(loaded, m);
        assert_eq!(loaded.read_shard(dir.path(), 1).unwrap(), b"shard bytes");
        std::fs::write(dir.path().join("shard-1.snap"), b"shard bytez").unwrap();
        assert!(matches!(
            loaded.read_shard(dir.path(), 1),
            Err(BackupError::Corrupt(_))
        ));
        assert!(matches!(
            loaded.read_shard(dir.path(), 2),
            Err(BackupError::Corrupt(_))
        ));
    }

    #[test]
    fn newer_or_garbled_manifests_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest(dir.path(), b"x");
        m.format = BACKUP_FORMAT + 1;
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&m).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            BackupManifest::load(dir.path()),
            Err(BackupError::Corrupt(_))
        ));
        std::fs::write(dir.path().join(MANIFEST_FILE), b"{").unwrap();
        assert!(matches!(
            BackupManifest::load(dir.path()),
            Err(BackupError::Corrupt(_))
        ));
    }

    #[test]
    fn hash_bounds_round_trip_from_big_endian_bytes() {
        assert_eq!(u64_of(&u64::MAX.to_be_bytes()), u64::MAX);
        assert_eq!(u64_of(&42u64.to_be_bytes()), 42);
        assert_eq!(u64_of(&[]), 0);
    }
}
