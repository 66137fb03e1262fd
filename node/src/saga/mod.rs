//! The purchase saga: reserve stock -> authorize payment -> capture (the pivot) -> commit stock,
//! compensated in reverse before the pivot, retried until done after it.
//!
//! This module is the pure core: the saga's stored shape ([`model`]), its step machine
//! ([`machine`]: `start`, `next_actions`, `apply`) and the conflict matrix for client commands on
//! an order whose saga runs ([`conflict`]). The orchestrator that performs the actions lives in
//! [`crate::orchestrator`]; the state machine applies saga inputs in the order shard's log.

pub mod conflict;
pub mod machine;
pub mod model;
#[cfg(test)]
mod tests;

pub use conflict::{Verdict, order_command_verdict};
pub use machine::{
    Action, MAX_BUCKETS, MAX_SAGA_LINES, Resolution, RetryPolicy, SagaChange, SagaError, SagaInput,
    StepOutcome, apply, first_bucket, next_actions, start,
};
pub use model::{
    LineStock, PaymentProgress, PurchaseSaga, PurchaseSpec, SAGA_SCHEMA_VERSION, SagaLine,
    SagaStatus, StepId, StepKind, TimelineEntry,
};
