//! Errors returned by the router: shard maps (construction, validation, split, membership steps),
//! cluster membership, placement policies, placement planning, manual moves and split-point choice.
//! One enum per API boundary; every variant says when it is returned.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{HashRange, NodeState, PlacementStep, Violation};

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
    /// Returned by [`ShardMap::apply_step`](crate::ShardMap::apply_step) when the step does not
    /// apply to the shard's current replicas (see [`StepFault`]); the map is unchanged.
    #[error("shard {shard_id}: cannot apply {step}: {fault}")]
    BadStep {
        /// The shard the step was meant for.
        shard_id: u64,
        /// The rejected step.
        step: PlacementStep,
        /// Why it does not apply.
        fault: StepFault,
    },
    /// Returned by `ShardMap::apply_step` when the shard's `conf_ver` is already `u64::MAX`
    /// (reachable only through a hand-crafted map) and cannot be bumped.
    #[error("shard {shard_id} epoch conf_ver is exhausted")]
    ConfVerExhausted {
        /// The offending shard.
        shard_id: u64,
    },
}

/// What is wrong with a shard's replica list; carried by [`RouterError::BadReplicas`] and
/// [`PlanError::BadReplicaSet`]. Stored with the shard map: append new variants at the end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaFault {
    /// The list is empty: nobody serves the shard (for a [`ReplicaSet`](crate::ReplicaSet): no
    /// voters).
    Empty,
    /// The node appears more than once (twice among the voters, twice among the learners, or
    /// as both a voter and a learner).
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

/// Why a [`PlacementStep`] does not apply to a [`ReplicaSet`](crate::ReplicaSet); returned by
/// [`ReplicaSet::apply`](crate::ReplicaSet::apply) and carried by [`RouterError::BadStep`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepFault {
    /// `AddLearner` of a node that already holds a replica.
    #[error("node {node} already holds a replica")]
    AlreadyMember {
        /// The node.
        node: u64,
    },
    /// `PromoteLearner` (or a `JointChange` promotion) of a node that is not a learner.
    #[error("node {node} is not a learner")]
    NotALearner {
        /// The node.
        node: u64,
    },
    /// `TransferLeader` to, or a `JointChange` removal of, a node that is not a voter.
    #[error("node {node} is not a voter")]
    NotAVoter {
        /// The node.
        node: u64,
    },
    /// `RemoveReplica` of a node that holds no replica.
    #[error("node {node} holds no replica")]
    NotAMember {
        /// The node.
        node: u64,
    },
    /// The step would leave the shard without voters.
    #[error("removing node {node} would leave no voter")]
    LastVoter {
        /// The node whose removal empties the voter list.
        node: u64,
    },
    /// A `JointChange` that promotes and removes nothing, or names a node twice.
    #[error("joint change is empty or names a node twice")]
    MalformedJointChange,
}

/// Why a [`Membership`](crate::Membership) was rejected or could not be changed. Operations that
/// return this error leave the membership unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// A node has id 0 (reserved: Raft node ids start at 1).
    #[error("node id 0 is reserved")]
    ZeroNodeId,
    /// Two nodes share an id (construction, deserialisation, [`add`](crate::Membership::add)).
    #[error("node id {0} appears more than once")]
    DuplicateNodeId(u64),
    /// A node's `region` or `zone` label is empty, or its `host` is `Some("")`.
    #[error("node {node}: {label} label is empty")]
    EmptyLabel {
        /// The node.
        node: u64,
        /// `region`, `zone` or `host`.
        label: &'static str,
    },
    /// Two nodes share a `host` label but not their (region, zone): a machine lives in one zone.
    #[error("host {host:?} is labelled in two zones (nodes {first} and {second})")]
    HostSpansZones {
        /// The host label.
        host: String,
        /// The first node (lower id) with that host.
        first: u64,
        /// A later node with the same host in another zone.
        second: u64,
    },
    /// `set_state`/`remove` of an id that is not a member.
    #[error("node {0} is not a member")]
    UnknownNode(u64),
    /// `set_state` asked for a transition [`NodeState::can_become`] forbids (leaving
    /// `Decommissioned`).
    #[error("node {node} cannot go from {from:?} to {to:?}")]
    IllegalTransition {
        /// The node.
        node: u64,
        /// Its current state.
        from: NodeState,
        /// The refused state.
        to: NodeState,
    },
    /// `remove` of a node that is not `Decommissioned` yet.
    #[error("node {node} is {state:?}; only decommissioned nodes can be removed")]
    NotDecommissioned {
        /// The node.
        node: u64,
        /// Its current state.
        state: NodeState,
    },
}

/// Why a [`PlacementPolicy`](crate::PlacementPolicy) is invalid; returned by
/// [`PlacementPolicy::validate`](crate::PlacementPolicy::validate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `voters` is 0.
    #[error("voters must be at least 1")]
    ZeroVoters,
    /// `voters` exceeds [`MAX_VOTERS`](crate::MAX_VOTERS).
    #[error("voters = {voters} exceeds the maximum {max}")]
    TooManyVoters {
        /// The configured count.
        voters: u32,
        /// The maximum.
        max: u32,
    },
    /// The region survival goal needs at least 3 voters (one region's loss must leave a quorum).
    #[error("region survival needs at least 3 voters, got {voters}")]
    RegionGoalNeedsThreeVoters {
        /// The configured count.
        voters: u32,
    },
    /// The region survival goal needs `min_regions >= 3` (with 2 regions one of them always holds
    /// at least half the voters).
    #[error("region survival needs min_regions >= 3, got {min_regions}")]
    TooFewMinRegions {
        /// The configured count.
        min_regions: u32,
    },
    /// `min_regions` exceeds `voters`: the voters cannot cover that many regions.
    #[error("min_regions = {min_regions} exceeds voters = {voters}")]
    MinRegionsAboveVoters {
        /// The configured region count.
        min_regions: u32,
        /// The configured voter count.
        voters: u32,
    },
    /// A `leader_preference` entry is the empty string.
    #[error("leader_preference contains an empty region")]
    EmptyLeaderRegion,
    /// A `leader_preference` entry is listed twice.
    #[error("leader_preference lists region {0:?} twice")]
    DuplicateLeaderRegion(String),
}

/// Why [`plan`](crate::plan) produced no plan at all. A plan that cannot reach the policy but can
/// improve (or keep) the layout is not an error: it is a degraded [`Plan`](crate::Plan).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The policy is invalid.
    #[error("invalid placement policy: {0}")]
    Policy(#[from] PolicyError),
    /// The current replica set has no voter or names a node twice.
    #[error("invalid current replica set: {0}")]
    BadReplicaSet(ReplicaFault),
    /// The current replica set names a node the membership does not know. Nodes must stay
    /// members (as `Decommissioned`) until the planner has moved every replica off them.
    #[error("replica on node {0}, which is not a member")]
    UnknownNode(u64),
    /// Fewer than a quorum of the current voters are on live (not `Down`) nodes: no membership
    /// change can commit. Needs operator recovery, not planning.
    #[error("only {live} of {voters} voters are live: no quorum to change membership")]
    NoQuorum {
        /// Current voter count.
        voters: usize,
        /// Voters on nodes that are not `Down`.
        live: usize,
    },
    /// No node may hold a voter: none is `Up` (or a `Draining` current voter) in the home region
    /// (zone goal, `region` is `Some`) or anywhere (region goal, `region` is `None`).
    #[error("no node can hold a voter{}", region.as_ref().map(|r| format!(" in region {r}")).unwrap_or_default())]
    NoCandidates {
        /// The region searched, for the zone goal.
        region: Option<String>,
    },
}

/// Why [`plan_move`](crate::plan_move) refused a manual move; nothing is planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// `from == to`.
    #[error("source and target are the same node {0}")]
    SameNode(u64),
    /// `from` or `to` is not a member of the cluster.
    #[error("node {0} is not a member")]
    UnknownNode(u64),
    /// `from` holds no replica of the shard.
    #[error("node {0} holds no replica of the shard")]
    NotAReplica(u64),
    /// `to` already holds a replica of the shard.
    #[error("node {0} already holds a replica of the shard")]
    AlreadyAReplica(u64),
    /// `to` is not `Up`, so it may not receive a replica.
    #[error("node {node} is {state:?}; replicas only move to up nodes")]
    TargetNotUp {
        /// The target node.
        node: u64,
        /// Its state.
        state: NodeState,
    },
    /// After the move the layout would break the policy in a way it does not today.
    #[error("the move breaks the placement policy: {0}")]
    BreaksPolicy(Violation),
    /// No step order keeps the survival goal at least as strong as today's at every step.
    #[error("no step order keeps the survival goal during the move")]
    WouldWeakenSurvival,
    /// The policy, the current replicas or the quorum rule out any plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Why [`choose_split_point`](crate::choose_split_point) found no split point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The range holds a single hash (or is inverted): there is nothing to cut.
    #[error("range {0} holds fewer than two hashes and cannot be split")]
    Unsplittable(HashRange),
    /// No sample falls inside the range, or all samples inside it weigh 0.
    #[error("no weighted sample inside {0}")]
    EmptySample(HashRange),
    /// All the weight sits on one hash (one hot key): no cut separates any weight from it.
    #[error("all sampled weight is on hash {0:#x}; splitting cannot spread it")]
    SingleHash(u64),
    /// The chosen split was refused by the shard map.
    #[error(transparent)]
    Router(#[from] RouterError),
}
