//! What the placement loop knows about each shard, and the per-node load derived from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Keyspace, ReplicaSet, ShardMap};

/// One shard as the placement loop sees it: which policy applies (keyspace), where it is homed,
/// and its current layout (`replicas.voters[0]` is the preferred leader).
///
/// The shard map does not record a shard's keyspace or home region; the meta shard keeps them
/// next to the descriptor. Stored with bincode: append new fields at the end only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardPlacement {
    /// Shard id.
    pub shard_id: u64,
    /// Keyspace whose policy applies.
    pub keyspace: Keyspace,
    /// Home region (for orders: the region encoded in the ids the shard holds).
    pub home_region: String,
    /// Current voters and learners.
    pub replicas: ReplicaSet,
}

/// Replicas and preferred leaderships per node, used to break ties towards the least loaded
/// node. Nodes not mentioned have zero load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeLoad {
    replicas: BTreeMap<u64, u64>,
    leaders: BTreeMap<u64, u64>,
}

impl NodeLoad {
    /// Counts every voter and learner of `set` as a replica and its preferred leader as a
    /// leadership.
    pub fn add(&mut self, set: &ReplicaSet) {
        for node in set.nodes() {
            *self.replicas.entry(node).or_default() += 1;
        }
        if let Some(leader) = set.leader() {
            *self.leaders.entry(leader).or_default() += 1;
        }
    }

    /// The load of every shard in `map`.
    pub fn from_shard_map(map: &ShardMap) -> NodeLoad {
        let mut load = NodeLoad::default();
        for shard in map.shards() {
            load.add(&shard.replica_set());
        }
        load
    }

    /// The load of every shard in `shards`.
    pub fn from_placements(shards: &[ShardPlacement]) -> NodeLoad {
        let mut load = NodeLoad::default();
        for shard in shards {
            load.add(&shard.replicas);
        }
        load
    }

    /// Replicas (voters and learners) on `node`.
    pub fn replicas(&self, node: u64) -> u64 {
        self.replicas.get(&node).copied().unwrap_or(0)
    }

    /// Shards whose preferred leader is `node`.
    pub fn leaders(&self, node: u64) -> u64 {
        self.leaders.get(&node).copied().unwrap_or(0)
    }
}
