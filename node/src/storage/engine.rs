//! The node's storage engine: one RocksDB, its column families, the group committer and the
//! shard health registry that quarantines a shard whose data failed its checksum.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use rocksdb::ColumnFamily;
use rocksdb::ColumnFamilyDescriptor;
use rocksdb::DB;
use rocksdb::Options;

use super::codec;
use super::codec::CodecError;
use super::group_commit::GroupCommitter;
use super::keys;
use crate::metrics::NodeMetrics;

/// Memory all memtables of the node's RocksDB may use together before the largest is
/// flushed.
pub const MEMTABLE_BUDGET_BYTES: usize = 128 << 20;

/// Shared handle to the node's RocksDB and what goes with it.
#[derive(Clone)]
pub struct Engine {
    pub(crate) db: Arc<DB>,
    /// The data directory (RocksDB's files, the format stamp, `snapshots/`).
    pub(crate) dir: PathBuf,
    pub(crate) committer: GroupCommitter,
    pub(crate) health: ShardHealth,
}

impl Engine {
    /// Opens (creating if needed) the node's RocksDB under `dir`, after checking the
    /// directory's format stamp ([`super::format`]): a directory written by a newer release is
    /// refused (an `InvalidData` error wrapping [`super::format::FormatError::Newer`]) before
    /// RocksDB touches it.
    pub fn open(dir: &Path, metrics: NodeMetrics) -> io::Result<Self> {
        super::format::check_and_stamp(dir)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // One budget for the memtables of every column family (RocksDB's write buffer
        // manager): without it each family may hold up to its own 64 MiB write buffer (twice,
        // while flushing), so a node's memory grows with the number of families written
        // rather than staying at a known size under load.
        opts.set_db_write_buffer_size(MEMTABLE_BUDGET_BYTES);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cfs = keys::ALL_CFS.iter().map(|name| {
            let mut cf_opts = Options::default();
            cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(io::Error::other)?;
        let db = Arc::new(db);
        let committer = GroupCommitter::start(&db, metrics)?;
        Ok(Self {
            db,
            dir: dir.to_path_buf(),
            committer,
            health: ShardHealth::default(),
        })
    }

    /// Column family handle by name.
    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        // Every name in `keys::ALL_CFS` is created by `open`, and only those names are asked for.
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    /// Reads and verifies one record. A checksum failure quarantines `shard` and is returned as
    /// an `InvalidData` I/O error naming the key.
    pub(crate) fn get<T: serde::de::DeserializeOwned>(
        &self,
        shard: u64,
        cf: &str,
        key: &[u8],
    ) -> io::Result<Option<T>> {
        let Some(raw) = self
            .db
            .get_pinned_cf(self.cf(cf), key)
            .map_err(io::Error::other)?
        else {
            return Ok(None);
        };
        codec::decode(key, &raw)
            .map(Some)
            .map_err(|e| self.corrupt(shard, cf, e))
    }

    /// Records a decode failure: logs it loudly with the key, quarantines the shard when the
    /// bytes are damaged, and turns it into an I/O error for the caller.
    pub(crate) fn corrupt(&self, shard: u64, cf: &str, err: CodecError) -> io::Error {
        if err.is_corruption() {
            tracing::error!(shard, cf, error = %err, "stored record failed its checksum; quarantining shard");
            self.health.quarantine(shard);
        } else {
            tracing::error!(shard, cf, error = %err, "stored record could not be decoded");
        }
        io::Error::new(io::ErrorKind::InvalidData, err.to_string())
    }
}

/// Which shards this node has stopped serving because their stored data is damaged.
///
/// A quarantined shard answers every request with a DATA_LOSS error instead of data; it stays
/// quarantined until the process restarts (an operator repairs or re-replicates it first).
#[derive(Clone, Default)]
pub struct ShardHealth {
    quarantined: Arc<Mutex<HashSet<u64>>>,
}

impl ShardHealth {
    pub fn quarantine(&self, shard: u64) {
        self.lock().insert(shard);
    }

    pub fn is_quarantined(&self, shard: u64) -> bool {
        self.lock().contains(&shard)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        // The set is only inserted into and read; a panic while holding the lock cannot leave
        // it half-updated, so a poisoned lock is still safe to use.
        self.quarantined.lock().unwrap_or_else(|p| p.into_inner())
    }
}
