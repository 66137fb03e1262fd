//! Errors returned by the router: construction, validation and split of shard maps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::HashRange;

/// Why a shard map could not be built, validated or changed. Operations that return this error
/// leave the map they were called on unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// Returned by [`ShardMap::initial`](crate::ShardMap::initial) for `shard_count == 0`, and by
    /// validation of a map with no shards.
    #[error("a shard map needs at least one shard")]
    ZeroShards,
    /// Returned by `ShardMap::initial` when the node list is empty.
    #[error("cannot place replicas: no nodes given")]
    NoNodes,
    /// Returned by `ShardMap::initial` for `replication_factor == 0`.
    #[error("replication factor must be at least 1")]
    ZeroReplicationFactor,
    /// Returned by `ShardMap::initial` when two placement nodes share an id.
    #[error("node id {0} appears more than once in the placement input")]
    DuplicateNodeId(u64),
    /// Returned by `ShardMap::initial` when `shard_count` exceeds
    /// [`MAX_INITIAL_SHARDS`](crate::MAX_INITIAL_SHARDS).
    #[error("{requested} shards requested, at most {max} supported")]
    TooManyShards {
        /// The shard count asked for.
        requested: u32,
        /// The supported maximum.
        max: u32,
    },
    /// Returned by [`HashRange::split_at`] when `at <= range.start` or `at > range.end`.
    #[error("split point {at:#x} outside {range}: need start < at <= end")]
    SplitPointOutOfRange {
        /// The range that was to be split.
        range: HashRange,
        /// The rejected split point.
        at: u64,
    },
    /// Returned by [`ShardMap::split`](crate::ShardMap::split) when `at` does not cut the shard's
    /// range into two non-empty halves.
    #[error("cannot split shard {shard_id} {range} at {at:#x}: need start < at <= end")]
    InvalidSplitPoint {
        /// The shard that was to be split.
        shard_id: u64,
        /// Its current range.
        range: HashRange,
        /// The rejected split point.
        at: u64,
    },
    /// Returned by `ShardMap::split` when no shard has this id.
    #[error("no shard with id {0}")]
    UnknownShard(u64),
    /// Returned by validation when the hashes `start..=end` belong to no shard (before the first
    /// shard, between two shards, or after the last).
    #[error("hashes {start:#x}..={end:#x} belong to no shard")]
    Gap {
        /// First uncovered hash.
        start: u64,
        /// Last uncovered hash.
        end: u64,
    },
    /// Returned by validation when two shards, adjacent in start order, share hashes.
    #[error("shards {first} and {second} overlap")]
    Overlap {
        /// The shard with the lower start.
        first: u64,
        /// The shard that starts inside `first`'s range.
        second: u64,
    },
    /// Returned by validation when a shard's range has `start > end`.
    #[error("shard {shard_id} has an inverted range {range}")]
    InvertedRange {
        /// The offending shard.
        shard_id: u64,
        /// Its range.
        range: HashRange,
    },
    /// Returned by validation when two shards share an id, and by `ShardMap::split` when the new
    /// shard id is already taken.
    #[error("shard id {0} is used more than once")]
    DuplicateShardId(u64),
    /// Returned by validation when a shard's replica list is empty or names a node twice.
    #[error("shard {shard_id} has bad replicas: {fault}")]
    BadReplicas {
        /// The offending shard.
        shard_id: u64,
        /// What is wrong with its replica list.
        fault: ReplicaFault,
    },
    /// Returned by `ShardMap::split` when the shard's epoch version is already `u64::MAX`
    /// (reachable only through a hand-crafted map) and cannot be bumped.
    #[error("shard {shard_id} epoch version is exhausted")]
    EpochExhausted {
        /// The offending shard.
        shard_id: u64,
    },
}

/// What is wrong with a shard's replica list; carried by [`RouterError::BadReplicas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaFault {
    /// The list is empty: nobody serves the shard.
    Empty,
    /// The node appears more than once.
    Duplicate {
        /// The repeated node id.
        node_id: u64,
    },
}

impl fmt::Display for ReplicaFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaFault::Empty => f.write_str("no replicas"),
            ReplicaFault::Duplicate { node_id } => write!(f, "node {node_id} listed twice"),
        }
    }
}
