//! The order aggregate: a pure, deterministic state machine the order shard's Raft state machine
//! calls to place orders and apply commands to them.
//!
//! Like Shopify, Saleor and commercetools, an order is not one status but orthogonal regions —
//! [`Lifecycle`] (placed → confirmed → fulfilling → delivered → completed, or cancelled/expired),
//! [`PaymentState`], a [`LineFulfillment`] per line, [`ReturnState`] and an `on_hold` overlay —
//! from which [`Order::display_status`] derives the one status people see. Each successful change
//! bumps the order's `version` by one and yields exactly one [`OrderEvent`] whose `sequence` is
//! that version.
//!
//! Nothing here does I/O, reads a clock or keeps state: time comes in as `now_ms`, the order comes
//! in borrowed and a changed copy goes out, so every replica that applies the same Raft entry gets
//! the same bytes. Client input is checked against [`Limits`] before it is proposed.
//!
//! # Layout
//! - [`model`]: the state regions, [`Order`], [`NewOrder`], [`OrderEvent`] and the derived
//!   [`DisplayStatus`].
//! - [`limits`]: [`Limits`] and the validators that return a [`ValidationError`] naming the field.
//! - [`machine`]: [`place`], [`apply`] with its transition table, [`OrderCommand`] and
//!   [`OrderError`].

pub mod limits;
pub mod machine;
pub mod model;

#[cfg(test)]
mod tests;

pub use limits::{
    CURRENCY_LEN, Limits, ValidationError, validate_command, validate_currency,
    validate_idempotency_key, validate_new_order, validate_order_id, validate_reason,
    validate_refund_amount,
};
pub use machine::{OrderCommand, OrderError, apply, place};
pub use model::{
    DisplayStatus, Lifecycle, LineFulfillment, NewLine, NewOrder, ORDER_EVENT_SCHEMA_VERSION,
    Order, OrderEvent, OrderEventKind, OrderLine, PaymentState, ReturnState,
};
