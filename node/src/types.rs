//! openraft type configuration and the commands a shard's Raft log carries.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;

use crate::inventory::StockBucket;
use crate::inventory::StockError;
use crate::inventory::StockOp;
use crate::inventory::StockReply;
use crate::order::NewOrder;
use crate::order::Order;
use crate::order::OrderCommand;
use crate::order::OrderError;
use crate::payments::Account;
use crate::payments::PaymentError;
use crate::payments::PaymentOp;
use crate::payments::PaymentReply;
use crate::saga::PurchaseSaga;
use crate::saga::PurchaseSpec;
use crate::saga::SagaError;
use crate::saga::SagaInput;

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

/// A snapshot's data: the encoded [`crate::storage::SnapshotPayload`], in memory (received
/// from a leader, read from a backup) or in a snapshot file of this node
/// ([`crate::storage::snapshot_file`]: built or installed here, read only when it is sent).
pub enum SnapshotData {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl SnapshotData {
    /// The encoded payload, reading the file if the data is in one.
    pub fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            SnapshotData::Bytes(data) => Ok(data),
            SnapshotData::File(path) => std::fs::read(&path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("snapshot file {}: {e}", path.display()))
            }),
        }
    }
}

impl fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotData::Bytes(data) => write!(f, "SnapshotData::Bytes({} bytes)", data.len()),
            SnapshotData::File(path) => write!(f, "SnapshotData::File({})", path.display()),
        }
    }
}
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
    /// An operation on one escrow bucket of a SKU (inventory keyspace).
    Stock {
        sku: String,
        bucket: u32,
        op: StockOp,
        idempotency: Option<IdempotencyTag>,
        now_ms: u64,
    },
    /// An operation on one payment account (the built-in ledger provider).
    Payment {
        account_id: String,
        op: PaymentOp,
        idempotency: Option<IdempotencyTag>,
        now_ms: u64,
    },
    /// Place an order and start its purchase saga: order, saga (with its timer) and idempotency
    /// record are written by this one entry.
    StartPurchase {
        order: NewOrder,
        spec: PurchaseSpec,
        idempotency: Option<IdempotencyTag>,
        now_ms: u64,
    },
    /// Fold one input (a step outcome, a timer, an operator decision) into a purchase saga,
    /// together with the order commands it yields.
    Saga {
        saga_id: String,
        input: SagaInput,
        now_ms: u64,
    },
}

impl ShardCommand {
    /// The proposing leader's clock (ms since the Unix epoch): the only time apply may use.
    pub fn now_ms(&self) -> u64 {
        match self {
            ShardCommand::PlaceOrder { now_ms, .. }
            | ShardCommand::UpdateOrder { now_ms, .. }
            | ShardCommand::Stock { now_ms, .. }
            | ShardCommand::Payment { now_ms, .. }
            | ShardCommand::StartPurchase { now_ms, .. }
            | ShardCommand::Saga { now_ms, .. } => *now_ms,
        }
    }

    /// The idempotency key the command carries, if any.
    pub fn idempotency(&self) -> Option<&IdempotencyTag> {
        match self {
            ShardCommand::PlaceOrder { idempotency, .. }
            | ShardCommand::UpdateOrder { idempotency, .. }
            | ShardCommand::Stock { idempotency, .. }
            | ShardCommand::Payment { idempotency, .. }
            | ShardCommand::StartPurchase { idempotency, .. } => idempotency.as_ref(),
            ShardCommand::Saga { .. } => None,
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
            ShardCommand::Stock {
                sku, bucket, op, ..
            } => {
                write!(f, "stock({sku}/{bucket}, {})", op.name())
            }
            ShardCommand::Payment { account_id, op, .. } => {
                write!(f, "payment({account_id}, {})", op.name())
            }
            ShardCommand::StartPurchase { order, .. } => {
                write!(f, "purchase({})", order.order_id)
            }
            ShardCommand::Saga { saga_id, .. } => write!(f, "saga({saga_id})"),
        }
    }
}

/// The result of applying a [`ShardCommand`]: what the client is answered.
// Variants differ in size (a purchase carries its saga); a response is built and moved once per
// command, so boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardResponse {
    /// Applied (or replayed from the idempotency record when `replayed`).
    Order { order: Order, replayed: bool },
    /// Refused by the state machine; nothing changed.
    Rejected(CommandError),
    /// Entries that answer nobody (blank and membership entries).
    Empty,
    /// A stock operation applied (or replayed); `bucket` is the bucket after it.
    Stock {
        bucket: StockBucket,
        reply: StockReply,
    },
    /// A payment operation applied (or replayed); `account` is the account after it.
    Payment {
        account: Account,
        reply: PaymentReply,
    },
    /// A purchase started (or replayed from its idempotency key), or a saga input applied.
    Purchase {
        order: Order,
        saga: PurchaseSaga,
        replayed: bool,
    },
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
    /// The stock ledger refused the operation.
    #[error(transparent)]
    Stock(#[from] StockError),
    /// The payment ledger refused the operation.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// The saga refused the input (ended, past its pivot, not parked, invalid purchase).
    #[error(transparent)]
    Saga(#[from] SagaError),
    /// Returned by `Saga` for a saga id this shard does not hold.
    #[error("saga {saga_id} not found")]
    SagaNotFound { saga_id: String },
    /// Returned by `UpdateOrder` when the order's purchase saga forbids the command (see
    /// [`crate::saga::conflict`]).
    #[error("{reason}")]
    SagaConflict { reason: String },
}
