//! Payments: the state of the built-in ledger payment provider — accounts with balances and
//! the authorizations sagas place, capture, void and refund against them. A pure, deterministic
//! ledger the payment shard's Raft state machine calls once per log entry.
//!
//! Money is conserved: on every [`Account`], `balance + held + (captured - refunded) ==
//! credited` (all in minor units of the account's currency), checked arithmetic throughout. An
//! [`Authorization`] is keyed by saga id; a duplicate authorize, capture or void replays the
//! stored outcome and changes nothing, and a void that arrives before its authorize leaves a
//! tombstone so the late authorize holds nothing.
//!
//! Nothing here does I/O, reads a clock or keeps state: time comes in as `now_ms`, the account
//! and the authorization come in borrowed and a [`PaymentChange`] (new records, at most one
//! [`PaymentEvent`], the reply) goes out, so every replica that applies the same Raft entry gets
//! the same bytes.
//!
//! # Layout
//! - [`model`]: [`Account`], [`Authorization`] and its [`AuthorizationState`], [`PaymentEvent`].
//! - [`limits`]: [`PaymentLimits`] and [`validate_op`], the argument checks.
//! - [`ledger`]: [`apply`] with its rule table, [`PaymentOp`], [`PaymentChange`],
//!   [`PaymentReply`] and [`PaymentError`].

pub mod ledger;
pub mod limits;
pub mod model;

#[cfg(test)]
mod tests;

pub use ledger::{PaymentChange, PaymentError, PaymentOp, PaymentReply, apply};
pub use limits::{PaymentLimits, validate_op};
pub use model::{
    Account, Authorization, AuthorizationState, DECLINE_CURRENCY_MISMATCH,
    DECLINE_INSUFFICIENT_FUNDS, PAYMENT_EVENT_SCHEMA_VERSION, PaymentEvent, PaymentEventKind,
};
