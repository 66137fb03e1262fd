//! One node's simulated disk: the Raft log, vote, committed pointer and snapshot, with an
//! explicit line between what was written and what was flushed.
//!
//! Model: every write goes to the *live* image (what reads see). A flush makes the whole live
//! image durable at once and completes the append callbacks waiting for it, like an fsync of
//! an ordered write-ahead log. A crash throws the live image away and recovers the durable one:
//! appends not yet flushed are lost, in order (never a hole). Votes are flushed before
//! `save_vote` returns; snapshots are written durably (atomic rename) when built or installed.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::sync::Mutex;

use openraft::storage::IOFlushed;

use crate::rng::Fnv64;
use crate::types::Entry;
use crate::types::LogId;
use crate::types::NodeId;
use crate::types::SnapshotMeta;
use crate::types::TypeConfig;
use crate::types::Vote;

/// A disk shared by the successive incarnations of one node.
pub type SharedDisk = Arc<Mutex<Disk>>;

/// The Raft log and metadata as one image (live or durable).
#[derive(Debug, Clone, Default)]
pub struct LogImage {
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
    pub purged: Option<LogId>,
    /// index -> (entry, fingerprint of the serialized entry).
    pub entries: BTreeMap<u64, (Entry, u64)>,
}

impl LogImage {
    pub fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .last_key_value()
            .map(|(_, (e, _))| e.log_id)
            .or(self.purged)
    }

    pub fn purged_index(&self) -> Option<u64> {
        self.purged.map(|p| p.index)
    }
}

/// A snapshot as stored: its meta and the encoded state machine.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// Fingerprint of an entry (its bincode encoding).
pub fn entry_hash(entry: &Entry) -> u64 {
    // Encoding plain data structures into a Vec cannot fail.
    let bytes = bincode::serialize(entry).expect("entries encode");
    Fnv64::hash(&bytes)
}

/// One node's disk (see the module docs).
pub struct Disk {
    pub node: NodeId,
    /// Bumped by every crash; handles of an older incarnation get an error from every call.
    incarnation: u64,
    pub live: LogImage,
    durable: LogImage,
    /// Append callbacks waiting for the next flush.
    waiting: Vec<IOFlushed<TypeConfig>>,
    pub snapshot: Option<StoredSnapshot>,
    /// Entries dropped by crashes because they were not flushed (a statistic).
    pub lost_unflushed: u64,
}

impl Disk {
    pub fn new(node: NodeId) -> SharedDisk {
        Arc::new(Mutex::new(Self {
            node,
            incarnation: 0,
            live: LogImage::default(),
            durable: LogImage::default(),
            waiting: Vec::new(),
            snapshot: None,
            lost_unflushed: 0,
        }))
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Fails when `incarnation` is not the current one: the caller belongs to a crashed
    /// instance and must not touch the disk.
    pub fn check(&self, incarnation: u64) -> io::Result<()> {
        if incarnation == self.incarnation {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "node {} crashed: handle of incarnation {incarnation}, disk at {}",
                self.node, self.incarnation
            )))
        }
    }

    /// Queues `callback` for the next flush.
    pub fn after_flush(&mut self, callback: IOFlushed<TypeConfig>) {
        self.waiting.push(callback);
    }

    /// Makes the live image durable and completes every waiting append.
    pub fn flush(&mut self) {
        self.durable = self.live.clone();
        for cb in std::mem::take(&mut self.waiting) {
            cb.io_completed(Ok(()));
        }
    }

    /// Power loss: keeps only the durable image and fences off the old incarnation's handles.
    /// Returns the new incarnation.
    pub fn crash(&mut self) -> u64 {
        let lost = self
            .live
            .entries
            .iter()
            .filter(|(i, (e, _))| {
                self.durable
                    .entries
                    .get(i)
                    .is_none_or(|(d, _)| d.log_id != e.log_id)
            })
            .count();
        self.lost_unflushed += lost as u64;
        self.incarnation += 1;
        self.live = self.durable.clone();
        // Dropping the callbacks unsent: the instance waiting for them is gone.
        self.waiting.clear();
        self.incarnation
    }
}
