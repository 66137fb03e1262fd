//! openraft log storage on a [`Disk`](crate::disk::Disk).
//!
//! Contracts (openraft storage-v2):
//! - [`RaftLogStorage::append`] writes the entries to the live image before it returns (they are
//!   readable at once) and completes `callback` only at the next flush, when they are durable.
//!   With [`Bug::AckBeforeFlush`] it completes `callback` at once: the lie the checker must catch.
//! - [`RaftLogStorage::save_vote`] flushes before returning, so the vote is durable.
//! - Every call made through a handle of a crashed incarnation fails with an I/O error.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::LogState;
use openraft::OptionalSend;
use openraft::RaftLogReader;
use openraft::storage::IOFlushed;
use openraft::storage::RaftLogStorage;

use crate::config::Bug;
use crate::disk::SharedDisk;
use crate::disk::entry_hash;
use crate::runtime::lock;
use crate::types::Entry;
use crate::types::LogId;
use crate::types::TypeConfig;
use crate::types::Vote;
use crate::world::World;

/// Log storage of one node incarnation. Cheap to clone (a handle).
#[derive(Clone)]
pub struct SimLogStore {
    disk: SharedDisk,
    incarnation: u64,
    world: Arc<World>,
}

impl SimLogStore {
    pub fn new(disk: SharedDisk, incarnation: u64, world: Arc<World>) -> Self {
        Self {
            disk,
            incarnation,
            world,
        }
    }
}

impl RaftLogReader<TypeConfig> for SimLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        Ok(disk
            .live
            .entries
            .range(range)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        let disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        Ok(disk.live.vote)
    }
}

impl RaftLogStorage<TypeConfig> for SimLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        Ok(LogState {
            last_purged_log_id: disk.live.purged,
            last_log_id: disk.live.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        disk.live.vote = Some(*vote);
        disk.flush();
        self.world.note_vote_term(vote.leader_id.term);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Durable with the next flush, like the entries written before it.
        let mut disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        disk.live.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        Ok(disk.live.committed)
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
        let mut disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        for entry in entries {
            let hash = entry_hash(&entry);
            disk.live.entries.insert(entry.log_id.index, (entry, hash));
        }
        if self.world.config.bug == Some(Bug::AckBeforeFlush) {
            callback.io_completed(Ok(()));
        } else {
            disk.after_flush(callback);
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let mut disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        let from = last_log_id.map_or(0, |id| id.index + 1);
        disk.live.entries.split_off(&from);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        disk.live.purged = Some(log_id);
        let keep = disk.live.entries.split_off(&(log_id.index + 1));
        disk.live.entries = keep;
        Ok(())
    }
}
