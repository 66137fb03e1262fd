//! One step of a placement plan: a single Raft membership change or leader transfer.
//!
//! Stored by the meta shard with bincode v1 (variants by index): append new variants at the end
//! only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A step the runtime executes against one shard's Raft group, in plan order, each after the
/// previous one has committed. [`ReplicaSet::apply`](crate::ReplicaSet::apply) is the single
/// definition of what a step does to the layout.
///
/// Moves follow "add learner -> promote -> remove old": the learner catches up (by log or
/// snapshot) before it votes, so promotion never stalls the quorum on a node without data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlacementStep {
    /// Add a non-voting replica on `node` (openraft `add_learner`, blocking until caught up).
    AddLearner {
        /// The node receiving the replica.
        node: u64,
    },
    /// Make the learner on `node` a voter (one joint-consensus membership change).
    PromoteLearner {
        /// The learner to promote.
        node: u64,
    },
    /// Remove the replica on `node`, voter or learner. Removing a voter is a membership change;
    /// the planner transfers leadership away first when `node` is the preferred leader.
    RemoveReplica {
        /// The node losing its replica.
        node: u64,
    },
    /// Make `to` (a voter) the preferred leader and ask the current leader to hand over.
    TransferLeader {
        /// The new leader.
        to: u64,
    },
    /// One joint-consensus membership change that promotes the learners in `promote` and removes
    /// the voters in `remove` at once (openraft `change_membership` to the resulting voter set).
    /// The planner emits it only where the one-at-a-time form would weaken the survival goal
    /// mid-way: swapping a voter for another in the same zone (a 4-voter intermediate over 3 zones
    /// loses quorum with the doubled zone), or growing 1 voter to 3 (a 2-voter intermediate).
    /// During the joint phase a commit needs a quorum of both the old and the new voters.
    JointChange {
        /// Learners that become voters, in order.
        promote: Vec<u64>,
        /// Voters that are removed.
        remove: Vec<u64>,
    },
}

impl PlacementStep {
    /// Whether the step changes the replica membership (and so bumps the shard's `conf_ver`).
    /// Only `TransferLeader` does not.
    pub fn changes_membership(&self) -> bool {
        !matches!(self, PlacementStep::TransferLeader { .. })
    }
}

impl fmt::Display for PlacementStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementStep::AddLearner { node } => write!(f, "add learner {node}"),
            PlacementStep::PromoteLearner { node } => write!(f, "promote learner {node}"),
            PlacementStep::RemoveReplica { node } => write!(f, "remove replica {node}"),
            PlacementStep::TransferLeader { to } => write!(f, "transfer leader to {to}"),
            PlacementStep::JointChange { promote, remove } => {
                write!(f, "joint change: promote {promote:?}, remove {remove:?}")
            }
        }
    }
}
