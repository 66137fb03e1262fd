//! `jepsen-like`: orderstore's chaos suite. Today it holds the *checking core*: the Jepsen-style
//! history model and the checkers that judge a recorded history; the parts that run a cluster
//! and produce histories are not built yet.
//!
//! A history is a sequence of [`Op`]s: each client process invokes an operation and completes it
//! once with `ok`, `fail` (definitely no effect) or `info` (unknown: maybe took effect, any time
//! after the invocation). [`History`] validates that shape and stores it as JSON lines.
//! [`check_history`] runs every applicable checker and returns a serialisable [`CheckReport`]
//! whose [`exit_code`](CheckReport::exit_code) is 0 (all passed), 1 (a violation) or 2 (unknown
//! or malformed history):
//! - **linearizability** of the *register* workload (create / read / transition per order): a
//!   Wing–Gong–Lowe search (as in Porcupine) per order id against [`OrderRegister`], with `info`
//!   operations that may take effect late or never, and a step/time/memory [`Budget`] that yields
//!   "unknown" rather than a false verdict;
//! - **no loss, no duplicates** for the *set* workload (idempotent adds, one final read).
//!
//! The crate is pure: no I/O, no threads, no randomness; the only clock is the optional time
//! budget.
//!
//! Not built yet: the harness that runs `orderd` processes in network namespaces, the nemeses
//! (partitions, crashes, pauses, clock skew), the workload drivers that record histories, the
//! `jepsen-like check DIR` command line, the HTML report and a deterministic simulation mode.
//! Until then fault tolerance is covered by the in-process cluster tests in `node/tests/` and the
//! process-level tests in `client/tests/`.
//!
//! # Layout
//! - `op`: [`Op`], [`OpType`], [`Payload`], [`RegisterValue`], [`SetElement`]: one history event.
//! - `history`: [`History`] (validated, JSON lines) and [`OpPair`] (invocation + completion).
//! - `error`: [`HistoryError`], why a history is malformed.
//! - `model`: the [`Model`] trait (a pure sequential specification) and [`Operation`].
//! - `linearizability`: [`search`], the generic linearizability search, and its [`Budget`].
//! - `register_model`: [`OrderRegister`], the order register's specification, and
//!   [`register_operations`], a history split by order id.
//! - `register_checker`: [`check_linearizability`] and its [`LinearizabilityReport`].
//! - `set_checker`: [`check_set`] and its [`SetReport`].
//! - `report`: [`CheckReport`], [`check_history`], [`check_jsonl`] and the exit codes.

mod error;
mod history;
mod linearizability;
mod model;
mod op;
mod register_checker;
mod register_model;
mod report;
mod set_checker;

pub use error::HistoryError;
pub use history::{History, OpPair};
pub use linearizability::{Budget, Candidate, Frontier, SearchOutcome, search};
pub use model::{Completion, Model, Operation};
pub use op::{Op, OpType, Payload, ProcessId, RegisterValue, SetElement};
pub use register_checker::{
    LinearizabilityReport, OpSummary, Verdict, Violation, check_linearizability,
};
pub use register_model::{
    OrderRegister, RegisterInput, RegisterOperation, RegisterOutput, RegisterSlot, RegisterState,
    register_operations,
};
pub use report::{
    CheckReport, CheckerVerdict, EXIT_UNKNOWN, EXIT_VALID, EXIT_VIOLATION, Outcome, UnknownReason,
    check_history, check_history_with, check_jsonl,
};
pub use set_checker::{SetReport, SetViolation, check_set};
