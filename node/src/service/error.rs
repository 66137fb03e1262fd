//! Client-facing errors and their gRPC mapping.
//!
//! Every error becomes a `tonic::Status` whose code follows DESIGN.md ("Faults and bad input")
//! and whose details hold an encoded [`ErrorDetail`] the SDK acts on (follow a leader hint,
//! refresh routes, back off, or give up).

use orderstore_proto::v1::ErrorDetail;
use prost::Message;
use tonic::Code;

use crate::order::OrderError;
use crate::order::ValidationError;
use crate::saga::SagaError;
use crate::types::CommandError;
use crate::types::NodeId;
use crate::types::ShardId;

/// An API failure, as data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or out-of-limit input; nothing was proposed.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("order {order_id} not found")]
    NotFound { order_id: String },
    /// The command does not apply in the order's current state; nothing changed.
    #[error("cannot {command} order in state {current}: {reason}")]
    IllegalTransition {
        command: String,
        current: String,
        reason: String,
    },
    /// `expected_version` did not match.
    #[error("version conflict: expected {expected}, order is at {actual}")]
    VersionConflict { expected: u64, actual: u64 },
    #[error("order {order_id} already exists")]
    AlreadyExists { order_id: String },
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyKeyReused { key: String },
    /// This replica is not the shard's leader; retry at the hint.
    #[error("not the leader of shard {shard}")]
    NotLeader {
        shard: ShardId,
        leader: Option<(NodeId, String)>,
    },
    /// This node carries no replica of the shard; retry at the hint.
    #[error("shard {shard} is not on this node")]
    WrongNode {
        shard: ShardId,
        hint: Option<(NodeId, String)>,
    },
    /// This replica's data failed a checksum; it serves nothing until repaired.
    #[error("shard {shard} is quarantined on this node after a checksum failure")]
    Quarantined { shard: ShardId },
    /// Temporarily unable to serve (no quorum, timeout); safe to retry with the same key.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Admission control refused the request before doing anything (too many proposals in
    /// flight on the shard); retry after `retry_after`.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: std::time::Duration,
    },
    /// This node's data directory is (nearly) full: it refuses writes until space is freed
    /// ([`crate::disk`]); nothing was written. Reads still work.
    #[error("node {node}: {source}")]
    DiskFull {
        node: NodeId,
        source: crate::disk::DiskFull,
        retry_after: std::time::Duration,
    },
    /// A WAL sync failed on this node: it acknowledges no write until it restarts
    /// ([`crate::storage::group_commit`]). Other replicas may serve; safe to retry with the same
    /// idempotency key.
    #[error(
        "node {node}: storage failed (a write-ahead-log fsync returned: {detail}); this node refuses writes until it is restarted on a healthy disk"
    )]
    StorageFailed { node: NodeId, detail: String },
    /// A ledger or the saga refused the request; nothing changed. `kind` is the machine-readable
    /// class (e.g. `INVALID_ARGUMENT`, `NOT_FOUND`, `FAILED_PRECONDITION`, `SAGA_CONFLICT`).
    #[error("{message}")]
    Refused {
        kind: &'static str,
        message: String,
        field: Option<String>,
    },
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Order(o) => o.into(),
            CommandError::NotFound { order_id } => ApiError::NotFound { order_id },
            CommandError::AlreadyExists { order_id } => ApiError::AlreadyExists { order_id },
            CommandError::IdempotencyKeyReused { key } => ApiError::IdempotencyKeyReused { key },
            CommandError::Stock(e) => ApiError::Refused {
                kind: e.kind(),
                message: e.to_string(),
                field: e.field().map(str::to_owned),
            },
            CommandError::Payment(e) => ApiError::Refused {
                kind: e.kind(),
                message: e.to_string(),
                field: e.field().map(str::to_owned),
            },
            CommandError::Saga(e) => {
                let (kind, field) = match &e {
                    SagaError::Invalid { field, .. } => ("INVALID_ARGUMENT", Some(field.clone())),
                    SagaError::Terminal { .. }
                    | SagaError::PastPivot { .. }
                    | SagaError::NotParked { .. } => ("FAILED_PRECONDITION", None),
                };
                ApiError::Refused {
                    kind,
                    message: e.to_string(),
                    field,
                }
            }
            CommandError::SagaNotFound { saga_id } => ApiError::Refused {
                kind: "NOT_FOUND",
                message: format!("saga {saga_id} not found"),
                field: None,
            },
            CommandError::SagaConflict { reason } => ApiError::Refused {
                kind: "SAGA_CONFLICT",
                message: reason,
                field: None,
            },
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::IllegalTransition {
                command,
                current,
                reason,
                ..
            } => ApiError::IllegalTransition {
                command,
                current,
                reason,
            },
            OrderError::VersionConflict { expected, actual } => {
                ApiError::VersionConflict { expected, actual }
            }
            OrderError::Invalid(v) => ApiError::Invalid(v),
            e @ OrderError::LineOutOfRange { .. } => {
                ApiError::Invalid(ValidationError::new("line", e.to_string()))
            }
        }
    }
}

impl ApiError {
    /// Machine-readable kind carried in [`ErrorDetail::kind`].
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "INVALID_ARGUMENT",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::IllegalTransition { .. } => "ILLEGAL_TRANSITION",
            ApiError::VersionConflict { .. } => "VERSION_CONFLICT",
            ApiError::AlreadyExists { .. } => "ALREADY_EXISTS",
            ApiError::IdempotencyKeyReused { .. } => "IDEMPOTENCY_KEY_REUSED",
            ApiError::NotLeader { .. } => "NOT_LEADER",
            ApiError::WrongNode { .. } => "WRONG_NODE",
            ApiError::Quarantined { .. } => "SHARD_QUARANTINED",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
            ApiError::Overloaded { .. } => "OVERLOADED",
            ApiError::DiskFull { .. } => "DISK_FULL",
            ApiError::StorageFailed { .. } => "STORAGE_FAILED",
            ApiError::Refused { kind, .. } => kind,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::Invalid(_) => Code::InvalidArgument,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::IllegalTransition { .. } => Code::FailedPrecondition,
            ApiError::VersionConflict { .. } => Code::Aborted,
            ApiError::AlreadyExists { .. } | ApiError::IdempotencyKeyReused { .. } => {
                Code::AlreadyExists
            }
            ApiError::NotLeader { .. }
            | ApiError::WrongNode { .. }
            | ApiError::Unavailable(_)
            | ApiError::StorageFailed { .. } => Code::Unavailable,
            ApiError::Quarantined { .. } => Code::DataLoss,
            ApiError::Internal(_) => Code::Internal,
            ApiError::Overloaded { .. } | ApiError::DiskFull { .. } => Code::ResourceExhausted,
            ApiError::Refused { kind, .. } => match *kind {
                "INVALID_ARGUMENT" => Code::InvalidArgument,
                "NOT_FOUND" => Code::NotFound,
                "ALREADY_EXISTS" => Code::AlreadyExists,
                "INTERNAL" => Code::Internal,
                "SAGA_CONFLICT" => Code::Aborted,
                _ => Code::FailedPrecondition,
            },
        }
    }

    fn detail(&self) -> ErrorDetail {
        let mut d = ErrorDetail {
            kind: self.kind().to_string(),
            ..Default::default()
        };
        match self {
            ApiError::Invalid(v) => d.field = v.field.clone(),
            ApiError::IllegalTransition { current, .. } => d.current_state = current.clone(),
            ApiError::VersionConflict { actual, .. } => d.current_version = *actual,
            ApiError::NotLeader {
                shard,
                leader: hint,
            }
            | ApiError::WrongNode { shard, hint } => {
                d.shard_id = *shard;
                if let Some((id, addr)) = hint {
                    d.leader_id = *id;
                    d.leader_addr = addr.clone();
                }
            }
            ApiError::Quarantined { shard } => d.shard_id = *shard,
            ApiError::Refused {
                field: Some(field), ..
            } => d.field = field.clone(),
            _ => {}
        }
        d
    }

    /// The gRPC status sent to the client; RESOURCE_EXHAUSTED carries the
    /// [`crate::admission::RETRY_AFTER_MS`] hint.
    pub fn to_status(&self) -> tonic::Status {
        let status = tonic::Status::with_details(
            self.code(),
            self.to_string(),
            self.detail().encode_to_vec().into(),
        );
        match self {
            ApiError::Overloaded { retry_after, .. } | ApiError::DiskFull { retry_after, .. } => {
                crate::admission::with_retry_after(status, *retry_after)
            }
            _ => status,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        e.to_status()
    }
}
