//! Inventory: the stock of each SKU, split into escrow buckets, and the reservations that sagas
//! hold against them. A pure, deterministic ledger the inventory shard's Raft state machine
//! calls once per log entry.
//!
//! A SKU's stock lives in `buckets >= 1` [`StockBucket`]s (key `inv/{sku}/{b}`), so that a hot
//! SKU spreads over shards. Inside a bucket every unit is `available`, `held` by a
//! [`Reservation`] (a saga's conditional decrement with a TTL) or `committed` (sold), and
//! `available + held + committed == added - removed` always holds: stock is escrowed, never
//! merged last-writer-wins, so a unit is never sold twice. Reservations are keyed by saga id and
//! every operation on one is idempotent: a duplicate replays the stored outcome and changes
//! nothing. Rebalancing moves units between buckets with transfer ids, deduplicated the same way.
//!
//! Nothing here does I/O, reads a clock or keeps state: time comes in as `now_ms`, the bucket and
//! the reservation record come in borrowed and a [`StockChange`] (new records, at most one
//! [`StockEvent`], the reply) goes out, so every replica that applies the same Raft entry gets the
//! same bytes.
//!
//! # Layout
//! - [`model`]: [`StockBucket`], [`Reservation`] and its [`ReservationState`], [`StockEvent`].
//! - [`limits`]: [`StockLimits`] and [`validate_op`], the argument checks.
//! - [`ledger`]: [`apply`] with its rule table, [`StockOp`], [`StockChange`], [`StockReply`] and
//!   [`StockError`].

pub mod ledger;
pub mod limits;
pub mod model;

#[cfg(test)]
mod tests;

pub use ledger::{StockChange, StockError, StockOp, StockReply, apply};
pub use limits::{StockLimits, validate_op};
pub use model::{
    Reservation, ReservationState, STOCK_EVENT_SCHEMA_VERSION, StockBucket, StockEvent,
    StockEventKind,
};
