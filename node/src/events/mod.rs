//! Event plumbing shared by the event log, the change feed and consumers: the versioned
//! [`EventEnvelope`] with its hybrid logical clock ([`Hlc`]), the chain of [`Upcaster`]s that
//! reads old schema versions as the current one, and the [`OrderedConsumer`] that applies each
//! aggregate's events in sequence (buffering gaps, dropping duplicates).
//!
//! Pure: no I/O. Status: the building blocks and their tests; the change feed (`Watch`) that
//! will emit envelopes is not built yet, and stored order events are still the positional
//! `OrderEvent` records (see `crate::order::OrderEvent`).
//!
//! # Layout
//! - `hlc`: [`Hlc`] timestamps and the [`HlcClock`] that issues them.
//! - `envelope`: [`EventEnvelope`].
//! - `upcast`: [`Upcaster`], [`UpcasterChain`], [`UpcastError`].
//! - `consumer`: [`OrderedConsumer`], [`Offer`].

mod consumer;
mod envelope;
mod hlc;
mod upcast;

#[cfg(test)]
mod tests;

pub use consumer::{Offer, OrderedConsumer};
pub use envelope::EventEnvelope;
pub use hlc::{Hlc, HlcClock};
pub use upcast::{UpcastError, Upcaster, UpcasterChain};
