//! The purchase saga's step machine: [`start`] creates a saga, [`next_actions`] says which
//! participant calls the orchestrator should make now, and [`apply`] folds one [`SagaInput`]
//! (a step's outcome, a timer, a cancellation, an operator decision) into the saga.
//!
//! All three are pure and deterministic. The orchestrator owns I/O: it performs the actions,
//! proposes each outcome to the order shard's Raft log, and every replica runs [`apply`] on it.
//! Duplicated or stale inputs (a second outcome for a step already decided, a timer with an old
//! token) change nothing, so replays and a new leader re-running steps are harmless: the
//! participants deduplicate by the saga id, and this machine by state.

use serde::{Deserialize, Serialize};

use super::model::{
    LineStock, PaymentProgress, PurchaseSaga, PurchaseSpec, SAGA_SCHEMA_VERSION, SagaLine,
    SagaStatus, StepId, StepKind, TimelineEntry,
};
use crate::order::OrderCommand;

/// Most timeline entries a saga keeps; older ones are dropped first.
pub const MAX_TIMELINE: usize = 128;
/// Most lines a purchase may have (each is a reserve and a commit step).
pub const MAX_SAGA_LINES: usize = 64;
/// Most escrow buckets a SKU may have.
pub const MAX_BUCKETS: u32 = 1024;

/// Retry limits and backoff shape per step kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts before a step counts as exhausted, for steps before the pivot
    /// (`Reserve`, `Authorize`). Exhausting one compensates the saga.
    pub forward_attempts: u32,
    /// Attempts for `Capture`, `CommitStock`, `Release` and `Void`. Exhausting one parks the
    /// saga in `NeedsAttention`.
    pub must_finish_attempts: u32,
    /// Backoff cap of the first retry, in ms; doubled per attempt up to `max_backoff_ms`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            forward_attempts: 8,
            must_finish_attempts: 30,
            base_backoff_ms: 20,
            max_backoff_ms: 2_000,
        }
    }
}

impl RetryPolicy {
    /// How many attempts `kind` gets before it is exhausted.
    pub fn max_attempts(&self, kind: StepKind) -> u32 {
        match kind {
            StepKind::Reserve | StepKind::Authorize => self.forward_attempts,
            StepKind::Capture | StepKind::CommitStock | StepKind::Release | StepKind::Void => {
                self.must_finish_attempts
            }
        }
    }

    /// Upper bound of the full-jitter backoff before attempt `attempt + 1` (the orchestrator
    /// sleeps a uniformly random time in `0..=cap`): `min(max, base * 2^(attempt - 1))`, 0 before
    /// the first attempt.
    pub fn backoff_cap_ms(&self, attempts_so_far: u32) -> u64 {
        if attempts_so_far == 0 {
            return 0;
        }
        let shift = (attempts_so_far - 1).min(32);
        self.base_backoff_ms
            .saturating_mul(1u64 << shift)
            .min(self.max_backoff_ms)
    }
}

/// A call the orchestrator must make to a participant. The participant deduplicates by the saga
/// id (reservation id / authorization id), so repeating an action is always safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Reserve {
        line: u32,
        sku: String,
        bucket: u32,
        quantity: u64,
    },
    Authorize {
        account_id: String,
        amount: u64,
        currency: String,
    },
    Capture {
        account_id: String,
    },
    CommitStock {
        line: u32,
        sku: String,
        bucket: u32,
    },
    Release {
        line: u32,
        sku: String,
        bucket: u32,
    },
    Void {
        account_id: String,
    },
}

impl Action {
    /// The step this action performs.
    pub fn step(&self) -> StepId {
        match self {
            Action::Reserve { line, .. } => StepId::new(StepKind::Reserve, *line),
            Action::Authorize { .. } => StepId::new(StepKind::Authorize, 0),
            Action::Capture { .. } => StepId::new(StepKind::Capture, 0),
            Action::CommitStock { line, .. } => StepId::new(StepKind::CommitStock, *line),
            Action::Release { line, .. } => StepId::new(StepKind::Release, *line),
            Action::Void { .. } => StepId::new(StepKind::Void, 0),
        }
    }

    /// The stock bucket a per-line action targets (0 for payment actions).
    pub fn bucket(&self) -> u32 {
        match self {
            Action::Reserve { bucket, .. }
            | Action::CommitStock { bucket, .. }
            | Action::Release { bucket, .. } => *bucket,
            Action::Authorize { .. } | Action::Capture { .. } | Action::Void { .. } => 0,
        }
    }
}

/// What a participant answered to an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepOutcome {
    /// Done (or the participant replayed that it was done before).
    Done,
    /// A definitive business refusal (sold out, declined, reservation lost, illegal at the
    /// participant): never retried.
    Refused { reason: String },
    /// Unknown or transient (timeout, unavailable, no leader): retried with backoff until the
    /// step's attempts run out.
    Failed { error: String },
}

/// An input folded into a saga by [`apply`]. Each one is a Raft command on the order shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SagaInput {
    /// The outcome of `step` against `bucket` (0 for payment steps).
    StepResult {
        step: StepId,
        bucket: u32,
        outcome: StepOutcome,
    },
    /// The saga timer fired (proposed by the leader once `deadline_ms` passed).
    TimerFired { token: u64 },
    /// The customer or merchant cancelled the order while the saga runs.
    CancelRequested { reason: String },
    /// Operator: give a `NeedsAttention` saga fresh retry budgets and resume it.
    OperatorRetry { note: String },
    /// Operator: force a `NeedsAttention` (or stuck) saga to an end, with an audit note.
    OperatorResolve {
        resolution: Resolution,
        note: String,
    },
}

/// How an operator resolves a saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// Declare it completed (the operator finished the remaining steps by hand).
    Complete,
    /// Compensate it (only before the pivot: the engine then releases and voids).
    Compensate,
}

/// Why [`start`] or [`apply`] refused. The saga is unchanged when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SagaError {
    /// Returned by [`start`] for a spec the saga cannot run (no lines, zero quantity, too many
    /// lines or buckets, empty account).
    #[error("invalid purchase: {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Returned for a cancellation or operator input on a saga that already ended.
    #[error("saga {saga_id} already ended as {status}")]
    Terminal { saga_id: String, status: SagaStatus },
    /// Returned for a cancellation or `Compensate` after the payment was captured: the pivot is
    /// passed and the purchase can only be undone by a refund.
    #[error("saga {saga_id} is past its pivot (payment captured): refund instead of cancelling")]
    PastPivot { saga_id: String },
    /// Returned by `OperatorRetry` on a saga that is not `NeedsAttention`.
    #[error("saga {saga_id} is {status}, not NEEDS_ATTENTION")]
    NotParked { saga_id: String, status: SagaStatus },
}

/// The result of [`apply`]: the new saga and the order commands to apply to its order in the
/// same Raft entry. `changed` is false when the input was stale or a duplicate (then nothing
/// needs writing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaChange {
    pub saga: PurchaseSaga,
    pub order_commands: Vec<OrderCommand>,
    pub changed: bool,
}

/// The bucket a saga tries first for a SKU with `buckets` buckets: spread by the saga id so
/// concurrent purchases of a hot SKU start on different buckets.
pub fn first_bucket(saga_id: &str, buckets: u32) -> u32 {
    let buckets = buckets.max(1);
    (xxhash_rust::xxh3::xxh3_64(saga_id.as_bytes()) % u64::from(buckets)) as u32
}

/// Creates the saga of order `order_id` for `amount` in `currency`, `Running`, with its timer
/// at `now_ms + spec.timeout_ms` (token 1).
///
/// # Errors
/// [`SagaError::Invalid`] for no lines, more than [`MAX_SAGA_LINES`], a SKU in two lines (they
/// would share one reservation), a zero quantity, a bucket count outside `1..=MAX_BUCKETS`, an
/// empty account id or a zero timeout.
pub fn start(
    order_id: &str,
    currency: &str,
    amount: u64,
    spec: &PurchaseSpec,
    now_ms: u64,
) -> Result<PurchaseSaga, SagaError> {
    let invalid = |field: &str, reason: &str| SagaError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    if spec.lines.is_empty() {
        return Err(invalid("lines", "a purchase needs at least one line"));
    }
    if spec.lines.len() > MAX_SAGA_LINES {
        return Err(invalid("lines", "too many lines"));
    }
    if spec.account_id.is_empty() {
        return Err(invalid("account_id", "must not be empty"));
    }
    if spec.timeout_ms == 0 {
        return Err(invalid("timeout_ms", "must be positive"));
    }
    let mut lines = Vec::with_capacity(spec.lines.len());
    for (i, (sku, quantity, buckets)) in spec.lines.iter().enumerate() {
        // One reservation per saga and bucket: a SKU twice would share it (use the quantity).
        if spec.lines[..i].iter().any(|(other, _, _)| other == sku) {
            return Err(invalid("lines", "a SKU may appear in one line only"));
        }
        if *quantity == 0 {
            return Err(invalid("quantity", "must be positive"));
        }
        if !(1..=MAX_BUCKETS).contains(buckets) {
            return Err(invalid("buckets", "must be in 1..=1024"));
        }
        lines.push(SagaLine {
            sku: sku.clone(),
            quantity: *quantity,
            buckets: *buckets,
            bucket: first_bucket(order_id, *buckets),
            buckets_refused: 0,
            stock: LineStock::Pending,
        });
    }
    Ok(PurchaseSaga {
        saga_id: order_id.to_owned(),
        order_id: order_id.to_owned(),
        account_id: spec.account_id.clone(),
        currency: currency.to_owned(),
        amount,
        lines,
        payment: PaymentProgress::Pending,
        status: SagaStatus::Running,
        reason: None,
        attempts: Vec::new(),
        deadline_ms: now_ms.saturating_add(spec.timeout_ms),
        timer_token: 1,
        parked_from: None,
        timeline: vec![TimelineEntry {
            at_ms: now_ms,
            what: "SAGA".to_owned(),
            attempt: 0,
            outcome: "started".to_owned(),
        }],
        version: 1,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        schema_version: SAGA_SCHEMA_VERSION,
        authorize_possible: false,
        capture_possible: false,
    })
}

/// The participant calls to make now, all of which may run concurrently. Empty for a saga that
/// is terminal, parked, or waiting for nothing (which [`apply`] never leaves active).
///
/// | status | state | actions |
/// |---|---|---|
/// | `Running` | some line `Pending` | `Reserve` each pending line in its current bucket |
/// | `Running` | every line `Held`, payment `Pending` | `Authorize` |
/// | `Running` | payment `Authorized` | `Capture` |
/// | `Running` | payment `Captured` | `CommitStock` each `Held` line |
/// | `Compensating` | lines `Pending`/`Held` | `Release` each (a pending reserve may have landed) |
/// | `Compensating` | payment `Authorized`, or `Pending` after an authorize may have been sent | `Void` |
pub fn next_actions(saga: &PurchaseSaga) -> Vec<Action> {
    let line_no = |i: usize| u32::try_from(i).expect("lines are capped at MAX_SAGA_LINES");
    match saga.status {
        SagaStatus::Running => {
            let pending: Vec<Action> = saga
                .lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.stock == LineStock::Pending)
                .map(|(i, l)| Action::Reserve {
                    line: line_no(i),
                    sku: l.sku.clone(),
                    bucket: l.bucket,
                    quantity: l.quantity,
                })
                .collect();
            if !pending.is_empty() {
                return pending;
            }
            match saga.payment {
                PaymentProgress::Pending => vec![Action::Authorize {
                    account_id: saga.account_id.clone(),
                    amount: saga.amount,
                    currency: saga.currency.clone(),
                }],
                PaymentProgress::Authorized => vec![Action::Capture {
                    account_id: saga.account_id.clone(),
                }],
                PaymentProgress::Captured => saga
                    .lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.stock == LineStock::Held)
                    .map(|(i, l)| Action::CommitStock {
                        line: line_no(i),
                        sku: l.sku.clone(),
                        bucket: l.bucket,
                    })
                    .collect(),
                PaymentProgress::Declined | PaymentProgress::Voided => Vec::new(),
            }
        }
        SagaStatus::Compensating => compensations(saga),
        SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::NeedsAttention => Vec::new(),
    }
}

fn compensations(saga: &PurchaseSaga) -> Vec<Action> {
    let mut actions: Vec<Action> = saga
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.stock, LineStock::Pending | LineStock::Held))
        .map(|(i, l)| Action::Release {
            line: u32::try_from(i).expect("lines are capped at MAX_SAGA_LINES"),
            sku: l.sku.clone(),
            bucket: l.bucket,
        })
        .collect();
    let void_needed = match saga.payment {
        PaymentProgress::Authorized => true,
        PaymentProgress::Pending => saga.authorize_possible,
        PaymentProgress::Declined | PaymentProgress::Captured | PaymentProgress::Voided => false,
    };
    if void_needed {
        actions.push(Action::Void {
            account_id: saga.account_id.clone(),
        });
    }
    actions
}

/// Folds `input` into `saga` at `now_ms`.
///
/// Step results (attempts are counted for every outcome):
///
/// | step | `Done` | `Refused` | `Failed`, attempts exhausted |
/// |---|---|---|---|
/// | `Reserve` | line `Held` | next bucket; all refused: `SoldOut`, compensate (`sold_out`) | compensate |
/// | `Authorize` | `Authorized` (order `AUTHORIZE`) | `Declined` (order `FAIL_PAYMENT`), compensate | compensate |
/// | `Capture` | `Captured` (order `CAPTURE`), the pivot | compensate (`capture_refused`) | `NeedsAttention` |
/// | `CommitStock` | line `Committed`; all: `Completed` | `NeedsAttention` (money taken, stock lost) | `NeedsAttention` |
/// | `Release` | line `Released` | `NeedsAttention` | `NeedsAttention` |
/// | `Void` | `Voided` | `NeedsAttention` | `NeedsAttention` |
///
/// A compensating saga with nothing left to undo becomes `Compensated` and emits order
/// `CANCEL{reason}`. A result for a step that is not awaited (already decided, other bucket,
/// saga parked or ended) changes nothing: `changed == false`.
///
/// `TimerFired` with the current token compensates a `Running` saga before the pivot
/// (`saga_timeout`); any other timer changes nothing.
///
/// # Errors
/// [`SagaError::Terminal`], [`SagaError::PastPivot`], [`SagaError::NotParked`] for
/// cancellations and operator inputs that do not fit the saga's state (see their docs).
pub fn apply(
    saga: &PurchaseSaga,
    input: &SagaInput,
    now_ms: u64,
    policy: &RetryPolicy,
) -> Result<SagaChange, SagaError> {
    let mut s = saga.clone();
    let mut order_commands = Vec::new();
    let changed = match input {
        SagaInput::StepResult {
            step,
            bucket,
            outcome,
        } => step_result(
            &mut s,
            *step,
            *bucket,
            outcome,
            now_ms,
            policy,
            &mut order_commands,
        ),
        SagaInput::TimerFired { token } => {
            if *token == s.timer_token && s.status == SagaStatus::Running && !s.past_pivot() {
                note(&mut s, now_ms, "SAGA", 0, "timer fired");
                compensate(&mut s, "saga_timeout", now_ms, &mut order_commands);
                true
            } else {
                false
            }
        }
        SagaInput::CancelRequested { reason } => {
            check_not_terminal(&s)?;
            if s.past_pivot() {
                return Err(SagaError::PastPivot { saga_id: s.saga_id });
            }
            if s.status == SagaStatus::Compensating {
                false
            } else if s.status == SagaStatus::NeedsAttention {
                // Parked: the cancellation is remembered; an operator retry compensates.
                s.parked_from = Some(SagaStatus::Compensating);
                s.reason = Some(reason.clone());
                note(
                    &mut s,
                    now_ms,
                    "SAGA",
                    0,
                    &format!("cancel requested while parked: {reason}"),
                );
                true
            } else {
                note(
                    &mut s,
                    now_ms,
                    "SAGA",
                    0,
                    &format!("cancel requested: {reason}"),
                );
                compensate(&mut s, reason, now_ms, &mut order_commands);
                true
            }
        }
        SagaInput::OperatorRetry { note: text } => {
            if s.status != SagaStatus::NeedsAttention {
                return Err(SagaError::NotParked {
                    saga_id: s.saga_id,
                    status: s.status,
                });
            }
            s.status = s.parked_from.take().unwrap_or(SagaStatus::Running);
            s.attempts.clear();
            note(&mut s, now_ms, "OPERATOR", 0, &format!("retry: {text}"));
            true
        }
        SagaInput::OperatorResolve {
            resolution,
            note: text,
        } => {
            check_not_terminal(&s)?;
            match resolution {
                Resolution::Complete => {
                    s.status = SagaStatus::Completed;
                    s.parked_from = None;
                    note(
                        &mut s,
                        now_ms,
                        "OPERATOR",
                        0,
                        &format!("resolved complete: {text}"),
                    );
                }
                Resolution::Compensate => {
                    if s.past_pivot() {
                        return Err(SagaError::PastPivot { saga_id: s.saga_id });
                    }
                    s.parked_from = None;
                    s.attempts.clear();
                    note(
                        &mut s,
                        now_ms,
                        "OPERATOR",
                        0,
                        &format!("resolved compensate: {text}"),
                    );
                    let reason = s.reason.clone().unwrap_or_else(|| "operator".to_owned());
                    s.status = SagaStatus::Running;
                    compensate(&mut s, &reason, now_ms, &mut order_commands);
                }
            }
            true
        }
    };
    if changed {
        s.version = saga.version.saturating_add(1);
        s.updated_at_ms = saga.updated_at_ms.max(now_ms);
    } else {
        s = saga.clone();
        order_commands.clear();
    }
    Ok(SagaChange {
        saga: s,
        order_commands,
        changed,
    })
}

fn check_not_terminal(s: &PurchaseSaga) -> Result<(), SagaError> {
    if s.status.is_terminal() {
        return Err(SagaError::Terminal {
            saga_id: s.saga_id.clone(),
            status: s.status,
        });
    }
    Ok(())
}

/// Applies one step result; returns whether anything changed.
fn step_result(
    s: &mut PurchaseSaga,
    step: StepId,
    bucket: u32,
    outcome: &StepOutcome,
    now_ms: u64,
    policy: &RetryPolicy,
    order_commands: &mut Vec<OrderCommand>,
) -> bool {
    if !awaited(s, step, bucket) {
        return false;
    }
    let attempt = bump_attempts(s, step);
    let what = step.to_string();
    match outcome {
        StepOutcome::Done => {
            note(s, now_ms, &what, attempt, "ok");
            on_done(s, step, order_commands);
        }
        StepOutcome::Refused { reason } => {
            note(s, now_ms, &what, attempt, &format!("refused: {reason}"));
            on_refused(s, step, reason, now_ms, order_commands);
        }
        StepOutcome::Failed { error } => {
            if attempt >= policy.max_attempts(step.kind) {
                note(s, now_ms, &what, attempt, &format!("exhausted: {error}"));
                let reason = format!("retries_exhausted:{what}");
                match step.kind {
                    StepKind::Reserve | StepKind::Authorize => {
                        compensate(s, &reason, now_ms, order_commands)
                    }
                    StepKind::Capture
                    | StepKind::CommitStock
                    | StepKind::Release
                    | StepKind::Void => park(s, &reason, now_ms),
                }
            } else {
                note(s, now_ms, &what, attempt, &format!("retry: {error}"));
            }
        }
    }
    settle(s, now_ms, order_commands);
    true
}

/// Whether a result for `step` in `bucket` is one the saga is waiting for.
fn awaited(s: &PurchaseSaga, step: StepId, bucket: u32) -> bool {
    let line = usize::try_from(step.line).ok().and_then(|i| s.lines.get(i));
    match (s.status, step.kind) {
        (SagaStatus::Running | SagaStatus::Compensating, StepKind::Reserve) => {
            line.is_some_and(|l| l.stock == LineStock::Pending && l.bucket == bucket)
        }
        (SagaStatus::Running, StepKind::Authorize) => {
            s.payment == PaymentProgress::Pending && s.authorize_possible
        }
        (SagaStatus::Compensating, StepKind::Authorize) => s.payment == PaymentProgress::Pending,
        (SagaStatus::Running, StepKind::Capture) => s.payment == PaymentProgress::Authorized,
        (SagaStatus::Running, StepKind::CommitStock) => {
            s.payment == PaymentProgress::Captured
                && line.is_some_and(|l| l.stock == LineStock::Held && l.bucket == bucket)
        }
        (SagaStatus::Compensating, StepKind::Release) => line.is_some_and(|l| {
            matches!(l.stock, LineStock::Pending | LineStock::Held) && l.bucket == bucket
        }),
        (SagaStatus::Compensating, StepKind::Void) => {
            matches!(
                s.payment,
                PaymentProgress::Authorized | PaymentProgress::Pending
            )
        }
        _ => false,
    }
}

fn bump_attempts(s: &mut PurchaseSaga, step: StepId) -> u32 {
    if let Some((_, n)) = s.attempts.iter_mut().find(|(id, _)| *id == step) {
        *n = n.saturating_add(1);
        *n
    } else {
        s.attempts.push((step, 1));
        1
    }
}

fn reset_attempts(s: &mut PurchaseSaga, step: StepId) {
    s.attempts.retain(|(id, _)| *id != step);
}

fn line_mut(s: &mut PurchaseSaga, line: u32) -> &mut SagaLine {
    let i = usize::try_from(line).expect("awaited() checked the line index");
    &mut s.lines[i]
}

fn on_done(s: &mut PurchaseSaga, step: StepId, order_commands: &mut Vec<OrderCommand>) {
    match step.kind {
        StepKind::Reserve => line_mut(s, step.line).stock = LineStock::Held,
        StepKind::Authorize => {
            s.payment = PaymentProgress::Authorized;
            order_commands.push(OrderCommand::Authorize);
        }
        StepKind::Capture => {
            s.payment = PaymentProgress::Captured;
            // Past the pivot the saga timer no longer applies: invalidate it.
            s.timer_token = s.timer_token.saturating_add(1);
            order_commands.push(OrderCommand::Capture);
        }
        StepKind::CommitStock => line_mut(s, step.line).stock = LineStock::Committed,
        StepKind::Release => line_mut(s, step.line).stock = LineStock::Released,
        StepKind::Void => s.payment = PaymentProgress::Voided,
    }
}

fn on_refused(
    s: &mut PurchaseSaga,
    step: StepId,
    reason: &str,
    now_ms: u64,
    order_commands: &mut Vec<OrderCommand>,
) {
    match step.kind {
        StepKind::Reserve => {
            let compensating = s.status == SagaStatus::Compensating;
            let l = line_mut(s, step.line);
            l.buckets_refused = l.buckets_refused.saturating_add(1);
            if compensating {
                // Nothing is held in this bucket and no other bucket will be tried.
                l.stock = LineStock::SoldOut;
            } else if l.buckets_refused >= l.buckets {
                l.stock = LineStock::SoldOut;
                if s.status == SagaStatus::Running {
                    compensate(s, "sold_out", now_ms, order_commands);
                }
            } else {
                l.bucket = (l.bucket + 1) % l.buckets;
                reset_attempts(s, step);
            }
        }
        StepKind::Authorize => {
            s.payment = PaymentProgress::Declined;
            order_commands.push(OrderCommand::FailPayment);
            if s.status == SagaStatus::Running {
                compensate(
                    s,
                    &format!("payment_declined:{reason}"),
                    now_ms,
                    order_commands,
                );
            }
        }
        StepKind::Capture => compensate(
            s,
            &format!("capture_refused:{reason}"),
            now_ms,
            order_commands,
        ),
        StepKind::CommitStock | StepKind::Release | StepKind::Void => park(
            s,
            &format!("{}_refused:{reason}", step.kind.as_str().to_lowercase()),
            now_ms,
        ),
    }
}

/// Switches a running saga to compensation (a no-op for one already compensating).
fn compensate(
    s: &mut PurchaseSaga,
    reason: &str,
    now_ms: u64,
    order_commands: &mut Vec<OrderCommand>,
) {
    if s.status != SagaStatus::Running {
        return;
    }
    s.status = SagaStatus::Compensating;
    s.reason = Some(reason.to_owned());
    note(s, now_ms, "SAGA", 0, &format!("compensating: {reason}"));
    settle(s, now_ms, order_commands);
}

fn park(s: &mut PurchaseSaga, reason: &str, now_ms: u64) {
    if s.status.is_active() {
        s.parked_from = Some(s.status);
    }
    s.status = SagaStatus::NeedsAttention;
    s.reason = Some(reason.to_owned());
    note(s, now_ms, "SAGA", 0, &format!("needs attention: {reason}"));
}

/// Moves an active saga to its end when nothing is left to do, and records whether an
/// authorization may be in flight.
fn settle(s: &mut PurchaseSaga, now_ms: u64, order_commands: &mut Vec<OrderCommand>) {
    match s.status {
        SagaStatus::Running => {
            if s.lines.iter().all(|l| l.stock == LineStock::Held)
                && s.payment == PaymentProgress::Pending
            {
                s.authorize_possible = true;
            }
            if s.payment == PaymentProgress::Authorized {
                s.capture_possible = true;
            }
            if s.payment == PaymentProgress::Captured
                && s.lines.iter().all(|l| l.stock == LineStock::Committed)
            {
                s.status = SagaStatus::Completed;
                note(s, now_ms, "SAGA", 0, "completed");
            }
        }
        SagaStatus::Compensating => {
            if compensations(s).is_empty() {
                s.status = SagaStatus::Compensated;
                let reason = s.reason.clone().unwrap_or_else(|| "compensated".to_owned());
                order_commands.push(OrderCommand::Cancel {
                    reason: reason.clone(),
                });
                note(s, now_ms, "SAGA", 0, &format!("compensated: {reason}"));
            }
        }
        SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::NeedsAttention => {}
    }
}

fn note(s: &mut PurchaseSaga, at_ms: u64, what: &str, attempt: u32, outcome: &str) {
    if s.timeline.len() >= MAX_TIMELINE {
        s.timeline.remove(0);
    }
    s.timeline.push(TimelineEntry {
        at_ms,
        what: what.to_owned(),
        attempt,
        outcome: outcome.to_owned(),
    });
}
