//! openraft type configuration and the commands a shard's Raft log carries.

use std::fmt;
use std::io::Cursor;

use serde::Deserialize;
use serde::Serialize;

use crate::order::NewOrder;
use crate::order::Order;
use crate::order::OrderCommand;
use crate::order::OrderError;

/// A node id (from the cluster configuration; never 0).
pub type NodeId = u64;
/// A shard id (from the shard map; never 0).
pub type ShardId = u64;

openraft::declare_raft_types!(
    /// Raft types of every shard group: our commands as application data, bincode-friendly
    /// defaults elsewhere.
    pub TypeConfig:
        D = ShardCommand,
        R = ShardResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

/// Snapshot payload: the encoded [`crate::storage::SnapshotPayload`].
pub type SnapshotData = Cursor<Vec<u8>>;
pub type Raft = openraft::Raft<TypeConfig, crate::storage::ShardStateMachine>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;

/// An idempotency key with the fingerprint of the request it came with.
///
/// The fingerprint (xxh3 of the canonical request) decides "same request" for Stripe semantics:
/// same key + same fingerprint replays the stored response, same key + another fingerprint is
/// refused with [`CommandError::IdempotencyKeyReused`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyTag {
    pub key: String,
    pub fingerprint: u64,
}

/// A command proposed to one shard's Raft log. Applying it is deterministic: the time it uses is
/// the proposing leader's clock, carried in the command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShardCommand {
    /// Create an order (its id already chosen and routed to this shard).
    PlaceOrder {
        order: NewOrder,
        idempotency: Option<IdempotencyTag>,
        now_ms: u64,
    },
    /// Apply a state transition to an existing order.
    UpdateOrder {
        order_id: String,
        command: OrderCommand,
        expected_version: Option<u64>,
        idempotency: Option<IdempotencyTag>,
        now_ms: u64,
    },
}

impl ShardCommand {
    /// The proposing leader's clock (ms since the Unix epoch): the only time apply may use.
    pub fn now_ms(&self) -> u64 {
        match self {
            ShardCommand::PlaceOrder { now_ms, .. } | ShardCommand::UpdateOrder { now_ms, .. } => {
                *now_ms
            }
        }
    }

    /// The idempotency key the command carries, if any.
    pub fn idempotency(&self) -> Option<&IdempotencyTag> {
        match self {
            ShardCommand::PlaceOrder { idempotency, .. }
            | ShardCommand::UpdateOrder { idempotency, .. } => idempotency.as_ref(),
        }
    }
}

impl fmt::Display for ShardCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardCommand::PlaceOrder { order, .. } => write!(f, "place({})", order.order_id),
            ShardCommand::UpdateOrder {
                order_id, command, ..
            } => {
                write!(f, "update({order_id}, {})", command.name())
            }
        }
    }
}

/// The result of applying a [`ShardCommand`]: what the client is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardResponse {
    /// Applied (or replayed from the idempotency record when `replayed`).
    Order { order: Order, replayed: bool },
    /// Refused by the state machine; nothing changed.
    Rejected(CommandError),
    /// Entries that answer nobody (blank and membership entries).
    Empty,
}

/// Why the state machine refused a command. Stored in idempotency records, so it is data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    /// The order machine refused the transition or the expected version did not match.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// Returned by `UpdateOrder` for an order id this shard does not hold.
    #[error("order {order_id} not found")]
    NotFound { order_id: String },
    /// Returned by `PlaceOrder` when the order id already exists with no matching idempotency
    /// record (e.g. the key expired and was reused).
    #[error("order {order_id} already exists")]
    AlreadyExists { order_id: String },
    /// Returned when an idempotency key is reused with a different request.
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyKeyReused { key: String },
}
