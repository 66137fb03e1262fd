//! openraft type configuration of the simulated cluster.

use std::io::Cursor;

use crate::register::Command;
use crate::register::Response;

/// A node id (1-based).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Raft types of the simulation: register commands as application data, the standard
    /// (one leader per term) leader id so that election safety is the textbook property, and
    /// the deterministic [`crate::runtime::SimRuntime`].
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>,
        AsyncRuntime = crate::runtime::SimRuntime,
);

pub type SnapshotData = Cursor<Vec<u8>>;
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::SimStateMachine>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
pub type Metrics = openraft::RaftMetrics<TypeConfig>;
