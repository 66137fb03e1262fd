//! One shard: its id, the hash range it owns, its epoch and where its replicas live.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Epoch, HashRange, ReplicaFault, ReplicaSet, RouterError};

/// Everything a router needs to know about one shard (one Raft group).
///
/// Stored by the meta shard with bincode v1 (fields by position): append new fields at the end
/// only, with `#[serde(default)]` so older JSON still reads (see the storage rule in
/// `membership` for bincode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardDescriptor {
    /// Shard id, unique within a [`ShardMap`](crate::ShardMap). Also the Raft group id.
    pub id: u64,
    /// The hashes this shard owns.
    pub range: HashRange,
    /// Bumped on range change (`version`) and membership change (`conf_ver`).
    pub epoch: Epoch,
    /// Node ids holding a voting replica; non-empty, distinct. The first is the preferred leader.
    pub replicas: Vec<u64>,
    /// Node ids holding a non-voting (learner) replica; distinct and disjoint from `replicas`.
    /// Empty for maps written before learners existed.
    #[serde(default)]
    pub learners: Vec<u64>,
}

impl ShardDescriptor {
    /// The node that should lead this shard when it is healthy: the first replica.
    /// `None` only for a descriptor with no replicas, which a valid map never contains.
    pub fn preferred_leader(&self) -> Option<u64> {
        self.replicas.first().copied()
    }

    /// Whether this shard owns `hash`.
    pub fn contains(&self, hash: u64) -> bool {
        self.range.contains(hash)
    }

    /// The voter/learner layout of this shard.
    pub fn replica_set(&self) -> ReplicaSet {
        ReplicaSet::of(self)
    }

    /// Checks the replica lists: at least one voter, and no node named twice across voters and
    /// learners.
    ///
    /// # Errors
    /// [`RouterError::BadReplicas`] naming this shard and the first fault found.
    pub fn check_replicas(&self) -> Result<(), RouterError> {
        let bad = |fault| RouterError::BadReplicas {
            shard_id: self.id,
            fault,
        };
        if self.replicas.is_empty() {
            return Err(bad(ReplicaFault::Empty));
        }
        let mut seen = HashSet::with_capacity(self.replicas.len() + self.learners.len());
        for &node_id in self.replicas.iter().chain(&self.learners) {
            if !seen.insert(node_id) {
                return Err(bad(ReplicaFault::Duplicate { node_id }));
            }
        }
        Ok(())
    }
}
