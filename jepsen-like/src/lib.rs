//! `jepsen-like`: orderstore's chaos suite. It runs real `orderd` processes, each in its own
//! Linux network namespace, drives concurrent client workloads through the SDK while nemeses
//! inject real faults (partitions, crashes, pauses, packet loss and duplication, delay,
//! bandwidth limits, stalls and resets on node-to-node TCP, clock skew, leader transfers), records a Jepsen-style history, and checks it.
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
//! - **no loss, no duplicates** for the *set* workload (idempotent adds, one final read);
//! - **stock and money conservation, no oversell, saga atomicity** for the *purchase* workload
//!   (purchases through the saga, one final read of stock, accounts and sagas).
//!
//! The checking core (history, models, checkers, report) is pure: no I/O, no threads, no
//! randomness. The harness around it ([`runner::run`]) does the I/O: it needs root, `ip` and
//! `iptables`, and an `orderd` binary.
//!
//! # Layout
//! Checking core:
//! - `op`: [`Op`], [`OpType`], [`Payload`], [`RegisterValue`], [`SetElement`]: one history event.
//! - `history`: [`History`] (validated, JSON lines) and [`OpPair`] (invocation + completion).
//! - `error`: [`HistoryError`], why a history is malformed.
//! - `model`: the [`Model`] trait (a pure sequential specification) and [`Operation`].
//! - `linearizability`: [`search`], the generic linearizability search, and its [`Budget`].
//! - `register_model`: [`OrderRegister`], the order register's specification, and
//!   [`register_operations`], a history split by order id.
//! - `register_checker`: [`check_linearizability`] and its [`LinearizabilityReport`].
//! - `set_checker`: [`check_set`] and its [`SetReport`].
//! - `purchase_checker`: [`check_purchases`] and its [`PurchaseReport`].
//! - `report`: [`CheckReport`], [`check_history`], [`check_jsonl`] and the exit codes.
//!
//! Harness:
//! - [`preflight`]: privileges, tools ([`Tools`]), the machine-wide [`RunLock`].
//! - [`netns`]: the bridge + namespaces + veths network, its setup/teardown command lists and
//!   stale-state cleanup.
//! - [`cluster`]: [`Cluster`], `orderd` processes in the namespaces, readiness, kill/pause,
//!   teardown on drop.
//! - [`node_fs`]: the nodes' data dirs on `osj-lazyfs` (lost-writes nemesis): daemons,
//!   `clear-cache`, stats, stale-mount cleanup.
//! - [`proxy`]: [`proxy::Proxy`], the userspace TCP proxy between nodes and its toxics
//!   (latency, bandwidth, stall, reset).
//! - [`nemesis`]: fault kinds, the seeded [`nemesis::schedule`], partition grudges
//!   ([`nemesis::partition`]), the executor and the final heal.
//! - [`recorder`]: [`Recorder`], the one lock + one clock that histories are recorded under.
//! - [`workload`]: the register, set and purchase workloads, their workers and final reads.
//! - [`runner`]: [`runner::run`], one complete run and its output directory.
//! - `html`: `report.html`.
//! - `http_probe`: `/livez` and `/readyz` probes.
//! - `harness_error`: [`HarnessError`].

pub mod cluster;
mod error;
mod harness_error;
mod history;
mod html;
mod http_probe;
mod linearizability;
mod model;
pub mod nemesis;
pub mod netns;
pub mod node_fs;
mod op;
pub mod preflight;
pub mod proxy;
mod purchase_checker;
pub mod recorder;
mod register_checker;
mod register_model;
mod report;
pub mod runner;
mod set_checker;
pub mod workload;

pub use cluster::Cluster;
pub use error::HistoryError;
pub use harness_error::HarnessError;
pub use history::{History, OpPair};
pub use html::verdict_line;
pub use linearizability::{Budget, Candidate, Frontier, SearchOutcome, search};
pub use model::{Completion, Model, Operation};
pub use op::{
    AccountFigures, Op, OpType, Payload, ProcessId, PurchaseLine, PurchaseOutcome,
    PurchaseSnapshot, RegisterValue, SagaFigures, SagaLineFigures, SetElement, StockFigures,
};
pub use preflight::{RunLock, Tools};
pub use purchase_checker::{PurchaseReport, PurchaseViolation, SkuSummary, check_purchases};
pub use recorder::Recorder;
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
