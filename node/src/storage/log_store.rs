//! One shard's Raft log and Raft metadata, kept in the node's shared RocksDB.
//!
//! Contracts (openraft storage-v2):
//! - [`RaftLogStorage::append`] writes the entries before it returns (they are readable at once)
//!   and completes `callback` only after the group committer's WAL sync made them durable.
//! - [`RaftLogStorage::save_vote`] returns only once the vote is durable (synchronous write).
//! - Every value is checksummed; a mismatch on read quarantines the shard and fails the read,
//!   which makes openraft stop the shard instead of replicating damaged entries.

use std::fmt::Debug;
use std::io;
use std::ops::Bound;
use std::ops::RangeBounds;

use openraft::LogState;
use openraft::OptionalSend;
use openraft::RaftLogReader;
use openraft::entry::RaftEntry;
use openraft::storage::IOFlushed;
use openraft::storage::RaftLogStorage;
use rocksdb::Direction;
use rocksdb::IteratorMode;
use rocksdb::WriteBatch;
use rocksdb::WriteOptions;

use super::codec;
use super::engine::Engine;
use super::keys;
use crate::types::Entry;
use crate::types::LogId;
use crate::types::ShardId;
use crate::types::TypeConfig;
use crate::types::Vote;

/// Log storage of one shard replica. Cheap to clone (it is a handle).
#[derive(Clone)]
pub struct ShardLogStore {
    engine: Engine,
    shard: ShardId,
}

impl ShardLogStore {
    pub fn new(engine: Engine, shard: ShardId) -> Self {
        Self { engine, shard }
    }

    fn meta_key(&self, tag: u8) -> Vec<u8> {
        keys::tagged(self.shard, tag, &[])
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, tag: u8) -> io::Result<Option<T>> {
        self.engine
            .get(self.shard, keys::CF_RAFT_META, &self.meta_key(tag))
    }

    fn put_meta<T: serde::Serialize>(&self, tag: u8, value: &T, sync: bool) -> io::Result<()> {
        let key = self.meta_key(tag);
        let bytes = codec::encode(&key, value).map_err(io::Error::other)?;
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        self.engine
            .db
            .put_cf_opt(self.engine.cf(keys::CF_RAFT_META), key, bytes, &opts)
            .map_err(io::Error::other)
    }

    fn decode_entry(&self, key: &[u8], value: &[u8]) -> io::Result<Entry> {
        codec::decode(key, value).map_err(|e| self.engine.corrupt(self.shard, keys::CF_RAFT_LOG, e))
    }

    /// Deletes log keys with index in `[from, to)`.
    fn delete_range(&self, from: u64, to: u64) -> io::Result<()> {
        let cf = self.engine.cf(keys::CF_RAFT_LOG);
        let end = if to == u64::MAX {
            keys::prefix_end(&keys::shard_prefix(self.shard)).unwrap_or_else(|| vec![0xff; 17])
        } else {
            keys::log_key(self.shard, to).to_vec()
        };
        self.engine
            .db
            .delete_range_cf(cf, keys::log_key(self.shard, from).to_vec(), end)
            .map_err(io::Error::other)
    }
}

impl RaftLogReader<TypeConfig> for ShardLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let start_key = keys::log_key(self.shard, start);
        let prefix = keys::shard_prefix(self.shard);
        let iter = self.engine.db.iterator_cf(
            self.engine.cf(keys::CF_RAFT_LOG),
            IteratorMode::From(&start_key, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (key, value) = item.map_err(io::Error::other)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let index = keys::log_index_of(&key)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad log key"))?;
            if !range.contains(&index) {
                break;
            }
            let entry = self.decode_entry(&key, &value)?;
            if entry.index() != index {
                return Err(self.engine.corrupt(
                    self.shard,
                    keys::CF_RAFT_LOG,
                    codec::CodecError::Decode {
                        key_hex: codec::key_hex(&key),
                        reason: format!("entry index {} stored under {index}", entry.index()),
                    },
                ));
            }
            out.push(entry);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(keys::META_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for ShardLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let prefix = keys::shard_prefix(self.shard);
        let upper = keys::prefix_end(&prefix).unwrap_or_else(|| vec![0xff; 17]);
        let mut iter = self.engine.db.iterator_cf(
            self.engine.cf(keys::CF_RAFT_LOG),
            IteratorMode::From(&upper, Direction::Reverse),
        );
        let mut last_log_id = None;
        if let Some(item) = iter.next() {
            let (key, value) = item.map_err(io::Error::other)?;
            // A reverse seek from the exclusive upper bound lands on this shard's last key, or
            // on a smaller shard's when this one has no entries.
            if key.starts_with(&prefix) {
                last_log_id = Some(self.decode_entry(&key, &value)?.log_id());
            }
        }
        let last_purged_log_id: Option<LogId> = self.get_meta(keys::META_PURGED)?;
        let last_log_id = last_log_id.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.put_meta(keys::META_VOTE, vote, true)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not synced: it is an optimisation for restart (re-apply up to here without waiting
        // for a leader); losing it only means waiting for the leader again.
        self.put_meta(keys::META_COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self
            .get_meta::<Option<LogId>>(keys::META_COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.engine.cf(keys::CF_RAFT_LOG);
        let mut batch = WriteBatch::default();
        for entry in entries {
            let key = keys::log_key(self.shard, entry.index());
            let value = codec::encode(&key, &entry).map_err(io::Error::other)?;
            batch.put_cf(cf, key, value);
        }
        // Written (readable) now, durable once the group committer's next sync has run.
        self.engine.db.write(batch).map_err(io::Error::other)?;
        self.engine
            .committer
            .after_sync(Box::new(move |res| callback.io_completed(res)));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        tracing::debug!(shard = self.shard, from, "truncate log");
        self.delete_range(from, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        tracing::debug!(shard = self.shard, upto = log_id.index(), "purge log");
        // Record the purge point first: entries at or below it are ignored by openraft even if
        // the deletion below is lost in a crash.
        self.put_meta(keys::META_PURGED, &log_id, false)?;
        self.delete_range(0, log_id.index() + 1)
    }
}
