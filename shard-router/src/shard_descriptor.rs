//! One shard: its id, the hash range it owns, its epoch and where its replicas live.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Epoch, HashRange, ReplicaFault, RouterError};

/// Everything a router needs to know about one shard (one Raft group).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardDescriptor {
    /// Shard id, unique within a [`ShardMap`](crate::ShardMap). Also the Raft group id.
    pub id: u64,
    /// The hashes this shard owns.
    pub range: HashRange,
    /// Bumped on range change (`version`) and membership change (`conf_ver`).
    pub epoch: Epoch,
    /// Node ids holding a replica; non-empty, distinct. The first is the preferred leader.
    pub replicas: Vec<u64>,
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

    /// Checks the replica list: non-empty and without duplicates.
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
        let mut seen = HashSet::with_capacity(self.replicas.len());
        for &node_id in &self.replicas {
            if !seen.insert(node_id) {
                return Err(bad(ReplicaFault::Duplicate { node_id }));
            }
        }
        Ok(())
    }
}
