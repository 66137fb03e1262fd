//! Data of the purchase saga as stored on the order shard, next to its order.
//!
//! Stored with bincode v1 (variants by index, fields by position): append new variants and fields
//! at the end only, never reorder or remove them, and bump [`SAGA_SCHEMA_VERSION`] when a shape
//! changes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Schema version stamped on every stored [`PurchaseSaga`].
pub const SAGA_SCHEMA_VERSION: u32 = 1;

/// Where a saga is. `Completed` and `Compensated` are terminal; `NeedsAttention` is parked until
/// an operator retries or resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SagaStatus {
    /// Moving forward: reserve -> authorize -> capture -> commit stock.
    Running,
    /// Undoing what was done before the pivot: release stock, void the authorization.
    Compensating,
    /// Every forward step succeeded: stock committed, payment captured, order confirmed.
    Completed,
    /// Every compensation succeeded: nothing held, nothing charged, order cancelled.
    Compensated,
    /// A step exhausted its retries (or a money ambiguity arose); an operator must act.
    NeedsAttention,
}

impl SagaStatus {
    pub const ALL: [SagaStatus; 5] = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Compensated,
        SagaStatus::NeedsAttention,
    ];

    /// The stable SCREAMING_SNAKE name used on the wire and in `orderctl saga list --state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "RUNNING",
            SagaStatus::Compensating => "COMPENSATING",
            SagaStatus::Completed => "COMPLETED",
            SagaStatus::Compensated => "COMPENSATED",
            SagaStatus::NeedsAttention => "NEEDS_ATTENTION",
        }
    }

    /// Parses [`SagaStatus::as_str`] names (case-insensitive).
    pub fn parse(name: &str) -> Option<SagaStatus> {
        SagaStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// True for `Completed` and `Compensated`: no step will ever run again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, SagaStatus::Completed | SagaStatus::Compensated)
    }

    /// True when the orchestrator should be driving it (`Running` or `Compensating`).
    pub const fn is_active(self) -> bool {
        matches!(self, SagaStatus::Running | SagaStatus::Compensating)
    }
}

impl fmt::Display for SagaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of step a purchase saga runs. Forward: `Reserve` (per line) -> `Authorize` ->
/// `Capture` (the pivot) -> `CommitStock` (per line). Compensations: `Release` (per line) and
/// `Void`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StepKind {
    Reserve,
    Authorize,
    Capture,
    CommitStock,
    Release,
    Void,
}

impl StepKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            StepKind::Reserve => "RESERVE",
            StepKind::Authorize => "AUTHORIZE",
            StepKind::Capture => "CAPTURE",
            StepKind::CommitStock => "COMMIT_STOCK",
            StepKind::Release => "RELEASE",
            StepKind::Void => "VOID",
        }
    }

    /// True for the steps that act on one order line's stock.
    pub const fn is_per_line(self) -> bool {
        matches!(
            self,
            StepKind::Reserve | StepKind::CommitStock | StepKind::Release
        )
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step instance: the kind and, for per-line steps, the line index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepId {
    pub kind: StepKind,
    /// The order line for per-line steps; 0 otherwise.
    pub line: u32,
}

impl StepId {
    pub const fn new(kind: StepKind, line: u32) -> StepId {
        StepId { kind, line }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind.is_per_line() {
            write!(f, "{}[{}]", self.kind, self.line)
        } else {
            write!(f, "{}", self.kind)
        }
    }
}

/// What is known about one line's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LineStock {
    /// No reserve answered yet for the current bucket (one may be in flight: its effect is
    /// unknown, so compensation releases the bucket anyway; the inventory ledger's release
    /// tombstone makes a late reserve hold nothing).
    Pending,
    /// Units held in `bucket`.
    Held,
    /// Every bucket refused: sold out. Nothing is held.
    SoldOut,
    /// The hold became a sale.
    Committed,
    /// The hold (or a possible hold) was released.
    Released,
}

/// One order line as the saga sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaLine {
    pub sku: String,
    pub quantity: u64,
    /// Number of escrow buckets of the SKU when the saga started (at least 1).
    pub buckets: u32,
    /// The bucket currently tried or holding the units.
    pub bucket: u32,
    /// How many buckets answered "sold out" so far.
    pub buckets_refused: u32,
    pub stock: LineStock,
}

/// What is known about the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentProgress {
    /// No authorization answered yet (one may be in flight; compensation voids anyway).
    Pending,
    Authorized,
    /// The provider declined: not retried, the saga compensates.
    Declined,
    /// Captured: the saga is past its pivot and only moves forward.
    Captured,
    Voided,
}

/// One line of a saga's timeline, shown by `orderctl saga show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at_ms: u64,
    /// The step (e.g. `RESERVE[0]`) or `SAGA` for saga-level entries.
    pub what: String,
    pub attempt: u32,
    /// e.g. `ok`, `sold_out`, `retry: timeout`, `compensating: declined`.
    pub outcome: String,
}

/// A purchase saga: the order it belongs to, the steps' progress and the timer that bounds it.
///
/// Invariants kept by [`super::machine`] (and checked by its property tests):
/// - once `payment` is `Captured` (the pivot) the saga never compensates: it ends `Completed` or
///   `NeedsAttention`;
/// - a `Compensated` saga holds no stock (`Released`/`SoldOut`/`Pending` never retried) and has
///   no live authorization (`Voided`/`Declined`);
/// - a `Completed` saga has every line `Committed` and payment `Captured`;
/// - `version` counts applied changes and the timeline only grows (bounded by
///   [`super::machine::MAX_TIMELINE`], dropping the oldest entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseSaga {
    /// Equal to the order id: one purchase saga per order.
    pub saga_id: String,
    pub order_id: String,
    pub account_id: String,
    pub currency: String,
    /// Amount to authorize and capture, in minor units (the order total).
    pub amount: u64,
    pub lines: Vec<SagaLine>,
    pub payment: PaymentProgress,
    pub status: SagaStatus,
    /// Why the saga compensates or needs attention (`sold_out`, `declined`, `saga_timeout`, ...).
    pub reason: Option<String>,
    /// Attempts per step that has been tried at least once.
    pub attempts: Vec<(StepId, u32)>,
    /// The saga timer: when it fires before the pivot, the saga compensates.
    pub deadline_ms: u64,
    /// Token of the current timer; a fired timer with another token is stale and ignored.
    pub timer_token: u64,
    /// The status to go back to when an operator retries a `NeedsAttention` saga.
    pub parked_from: Option<SagaStatus>,
    pub timeline: Vec<TimelineEntry>,
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub schema_version: u32,
    /// Set once every line was held with the payment still pending: from then on an
    /// authorization may be in flight, so compensation must void (the ledger's void tombstone
    /// makes a late authorization hold nothing).
    pub authorize_possible: bool,
    /// Set once the payment was authorized while running: from then on a capture may be in
    /// flight, and a capture whose answer was lost may have taken the money, so the saga no
    /// longer compensates on a timer or a cancellation (it is at its pivot) and only a definitive
    /// capture refusal undoes it.
    pub capture_possible: bool,
}

impl PurchaseSaga {
    /// Attempts made so far for `step`.
    pub fn attempts_of(&self, step: StepId) -> u32 {
        self.attempts
            .iter()
            .find(|(s, _)| *s == step)
            .map_or(0, |(_, n)| *n)
    }

    /// The reservation id used with the inventory ledger: the saga id (one reservation per
    /// saga and bucket).
    pub fn reservation_id(&self) -> &str {
        &self.saga_id
    }

    /// The authorization id used with the payment provider: the saga id.
    pub fn auth_id(&self) -> &str {
        &self.saga_id
    }

    /// True once a capture may have happened (sent, or answered done): the saga is at or past
    /// its pivot and timers or cancellations no longer compensate it.
    pub fn past_pivot(&self) -> bool {
        self.payment == PaymentProgress::Captured || self.capture_possible
    }
}

/// What the orchestrator must start a purchase saga with (checked by
/// [`super::machine::start`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseSpec {
    pub account_id: String,
    /// (sku, quantity, buckets of the SKU) per order line, in order-line order.
    pub lines: Vec<(String, u64, u32)>,
    /// How long the saga may take before the pivot, in ms.
    pub timeout_ms: u64,
}
