//! Workloads: concurrent client *processes* (tokio tasks) that invoke operations through the
//! SDK and record them with the [`Recorder`], plus each workload's final read.
//!
//! The rules every workload follows (the checkers' preconditions, see the README):
//! - one logical request is one invocation; the SDK's own retries (same idempotency key) stay
//!   inside it;
//! - an operation that times out (`op_timeout`) or fails without proof that it had no effect
//!   completes `info`; only errors that prove no effect ([`outcome_of`]) complete `fail`;
//!   a `NOT_FOUND` read is an `ok` read of nothing;
//! - a process whose operation completed `info` is never reused: the worker continues as a
//!   new process (`process + concurrency`), as in Jepsen;
//! - every loop is bounded by the time limit and by `max_ops`.
//!
//! # Layout
//! - `register`: [`RegisterWorkload`], per-order registers (create / read / transition).
//! - `set`: [`SetWorkload`], idempotent adds and a final read of everything.
//! - `purchase`: [`PurchaseWorkload`], purchases through the saga, a setup before the faults
//!   and a final read of stock, accounts and sagas.

pub mod purchase;
pub mod register;
pub mod set;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use orderstore_client::Client;
use orderstore_client::ClientError;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use purchase::PurchaseWorkload;
pub use register::RegisterWorkload;
pub use set::SetWorkload;

use crate::cluster;
use crate::harness_error::HarnessError;
use crate::op::{OpType, Payload, ProcessId};
use crate::recorder::Recorder;

/// Process ids of the final phase start here (workers use `thread + k * concurrency`).
pub const FINAL_PROCESS_BASE: ProcessId = 1_000_000_000;

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    Register,
    Set,
    Purchase,
}

/// How the clients run.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Concurrent client processes.
    pub concurrency: u64,
    /// Operations stop being invoked after this (since the run started).
    pub time_limit: Duration,
    /// At most this many invocations in total (final reads excluded).
    pub max_ops: u64,
    /// An operation that takes longer completes `info` (`TIMEOUT`).
    pub op_timeout: Duration,
    /// Each worker waits a random 0..=`think_max` between operations (keeps the load modest on
    /// a small machine).
    pub think_max: Duration,
    pub seed: u64,
}

impl ClientConfig {
    /// An SDK client whose retries fit inside `op_timeout` (one per worker: independent
    /// routing caches and connections, like separate client machines).
    pub fn sdk_client(&self, endpoints: &[String]) -> Client {
        let deadline = self.op_timeout.saturating_sub(Duration::from_millis(500));
        cluster::client_for(endpoints, Duration::from_secs(2).min(deadline), deadline)
    }
}

/// What a workload's `execute` returns: the completion to record.
pub type Completion = (OpType, Payload, Option<String>);

/// The workload of a run.
#[derive(Debug, Clone)]
pub enum Workload {
    Register(Arc<RegisterWorkload>),
    Set(Arc<SetWorkload>),
    Purchase(Arc<PurchaseWorkload>),
}

impl Workload {
    /// `op_timeout` bounds each operation (the purchase workload re-asks within it);
    /// `time_limit` times the purchase workload's second sale.
    pub fn new(
        kind: WorkloadKind,
        seed: u64,
        concurrency: u64,
        op_timeout: Duration,
        time_limit: Duration,
    ) -> Workload {
        match kind {
            WorkloadKind::Register => {
                Workload::Register(Arc::new(RegisterWorkload::new(seed, concurrency)))
            }
            WorkloadKind::Set => Workload::Set(Arc::new(SetWorkload::new(seed))),
            WorkloadKind::Purchase => Workload::Purchase(Arc::new(PurchaseWorkload::new(
                seed, op_timeout, time_limit,
            ))),
        }
    }

    fn next_op(&self, rng: &mut StdRng) -> Payload {
        match self {
            Workload::Register(w) => w.next_op(rng),
            Workload::Set(w) => w.next_op(rng),
            Workload::Purchase(w) => w.next_op(rng),
        }
    }

    async fn execute(&self, client: &Client, op: &Payload) -> Completion {
        match self {
            Workload::Register(w) => w.execute(client, op).await,
            Workload::Set(w) => w.execute(client, op).await,
            Workload::Purchase(w) => w.execute(client, op).await,
        }
    }

    fn observe(&self, op: &Payload, outcome: OpType) {
        match self {
            Workload::Register(_) => {}
            Workload::Set(w) => w.observe(op, outcome),
            Workload::Purchase(w) => w.observe(op, outcome),
        }
    }

    /// Before the load and the faults: what the workload needs to exist (the purchase
    /// workload's SKUs and accounts, recorded as a `purchase_setup` op); nothing for the others.
    pub async fn setup(
        &self,
        client: &Client,
        recorder: &Recorder,
        op_timeout: Duration,
    ) -> Result<(), HarnessError> {
        match self {
            Workload::Register(_) | Workload::Set(_) => Ok(()),
            Workload::Purchase(w) => w.setup(client, recorder, op_timeout).await,
        }
    }

    /// The final phase (after healing): reads every order the run touched.
    pub async fn final_read(
        &self,
        client: &Client,
        recorder: &Recorder,
        op_timeout: Duration,
    ) -> Result<(), HarnessError> {
        match self {
            Workload::Register(w) => w.final_reads(client, recorder, op_timeout).await,
            Workload::Set(w) => w.final_read_all(client, recorder, op_timeout).await,
            Workload::Purchase(w) => w.final_read(client, recorder, op_timeout).await,
        }
    }
}

/// Runs `op` through the recorder: invoke, execute within `timeout`, complete. Returns the
/// completion type.
pub async fn perform(
    workload: &Workload,
    client: &Client,
    recorder: &Recorder,
    process: ProcessId,
    op: Payload,
    timeout: Duration,
) -> Result<OpType, HarnessError> {
    recorder.invoke(process, op.clone())?;
    let (op_type, payload, error) =
        match tokio::time::timeout(timeout, workload.execute(client, &op)).await {
            Ok(done) => done,
            Err(_) => (OpType::Info, op.clone(), Some("TIMEOUT".to_string())),
        };
    recorder.complete(process, op_type, payload, error)?;
    workload.observe(&op, op_type);
    Ok(op_type)
}

/// One client worker: invokes operations until the time limit or the shared op budget is
/// reached. `thread` is its index in `0..concurrency`.
pub async fn worker(
    workload: Workload,
    recorder: Arc<Recorder>,
    endpoints: Vec<String>,
    cfg: Arc<ClientConfig>,
    stop_at: Instant,
    invoked: Arc<AtomicU64>,
    thread: u64,
) -> Result<(), HarnessError> {
    let client = cfg.sdk_client(&endpoints);
    let mut rng =
        StdRng::seed_from_u64(cfg.seed ^ (thread + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut process = thread;
    while Instant::now() < stop_at && invoked.fetch_add(1, Ordering::SeqCst) < cfg.max_ops {
        let op = workload.next_op(&mut rng);
        let outcome = perform(&workload, &client, &recorder, process, op, cfg.op_timeout).await?;
        if outcome == OpType::Info {
            // Never reuse a process whose last operation may still take effect.
            process += cfg.concurrency;
        }
        let think = rng.random_range(0..=cfg.think_max.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(think)).await;
    }
    Ok(())
}

/// The history outcome of a failed mutation: `fail` only for answers that prove the request
/// had no effect (the server validated it against committed state and rejected it, or
/// refused the idempotency key), `info` for everything else (timeouts, transport errors,
/// UNAVAILABLE after retries, internal errors): those may have taken effect.
pub fn outcome_of(err: &ClientError) -> OpType {
    match err {
        ClientError::InvalidArgument { .. }
        | ClientError::NotFound { .. }
        | ClientError::IllegalTransition { .. }
        | ClientError::VersionConflict { .. }
        | ClientError::AlreadyExists { .. }
        | ClientError::IdempotencyKeyReused { .. }
        | ClientError::InvalidCredentials { .. } => OpType::Fail,
        // A refusal ends the call, but an earlier attempt of the same call may have timed out
        // after taking effect: these prove nothing.
        ClientError::Overloaded { .. }
        | ClientError::Unauthenticated { .. }
        | ClientError::PermissionDenied { .. }
        | ClientError::TlsHandshake { .. }
        | ClientError::NotLeader { .. }
        | ClientError::WrongNode { .. }
        | ClientError::Unavailable { .. }
        | ClientError::DataLoss { .. }
        | ClientError::Transport { .. }
        | ClientError::InvalidEndpoint { .. }
        | ClientError::MalformedReply { .. }
        | ClientError::Other { .. } => OpType::Info,
    }
}

/// The error kind recorded with a `fail`/`info` completion, e.g. `VERSION_CONFLICT`.
pub fn error_kind(err: &ClientError) -> String {
    match err {
        ClientError::InvalidArgument { .. } => "INVALID_ARGUMENT".into(),
        ClientError::NotFound { .. } => "NOT_FOUND".into(),
        ClientError::IllegalTransition { .. } => "ILLEGAL_TRANSITION".into(),
        ClientError::VersionConflict { .. } => "VERSION_CONFLICT".into(),
        ClientError::AlreadyExists { .. } => "ALREADY_EXISTS".into(),
        ClientError::IdempotencyKeyReused { .. } => "IDEMPOTENCY_KEY_REUSED".into(),
        ClientError::NotLeader { .. } => "NOT_LEADER".into(),
        ClientError::WrongNode { .. } => "WRONG_NODE".into(),
        ClientError::Unavailable { .. } => "UNAVAILABLE".into(),
        ClientError::DataLoss { .. } => "DATA_LOSS".into(),
        ClientError::Transport { .. } => "TRANSPORT".into(),
        ClientError::InvalidEndpoint { .. } => "INVALID_ENDPOINT".into(),
        ClientError::MalformedReply { .. } => "MALFORMED_REPLY".into(),
        ClientError::Overloaded { .. } => "RESOURCE_EXHAUSTED".into(),
        ClientError::Unauthenticated { .. } => "UNAUTHENTICATED".into(),
        ClientError::PermissionDenied { .. } => "PERMISSION_DENIED".into(),
        ClientError::InvalidCredentials { .. } => "INVALID_CREDENTIALS".into(),
        ClientError::TlsHandshake { .. } => "TLS_HANDSHAKE".into(),
        ClientError::Other { code, .. } => orderstore_client::code_name(*code).into(),
    }
}

/// A failed mutation's completion: `request` echoed (no result), outcome per [`outcome_of`].
pub fn failed(request: &Payload, err: &ClientError) -> Completion {
    (outcome_of(err), request.clone(), Some(error_kind(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_that_prove_no_effect_are_fail() {
        let fail = [
            ClientError::VersionConflict {
                current_version: 3,
                message: String::new(),
            },
            ClientError::IllegalTransition {
                current_state: "CANCELLED".into(),
                message: String::new(),
            },
            ClientError::NotFound {
                message: String::new(),
            },
        ];
        for e in &fail {
            assert_eq!(outcome_of(e), OpType::Fail, "{e:?}");
        }
        let info = [
            ClientError::Unavailable {
                message: "gave up".into(),
            },
            ClientError::Transport {
                message: "reset".into(),
            },
            ClientError::Other {
                code: tonic::Code::Internal,
                message: String::new(),
            },
            ClientError::DataLoss {
                shard_id: 1,
                message: String::new(),
            },
        ];
        for e in &info {
            assert_eq!(outcome_of(e), OpType::Info, "{e:?}");
        }
        assert_eq!(error_kind(&fail[0]), "VERSION_CONFLICT");
        assert_eq!(error_kind(&info[2]), "INTERNAL");
    }
}
