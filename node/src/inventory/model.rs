//! Data types of the inventory: a SKU's escrow buckets, reservations held against them, and the
//! events a change produces.
//!
//! Every type here is stored with bincode v1, which encodes enum variants by their **index** and
//! struct fields by their **position**. So: append new variants and fields at the end only, never
//! reorder or remove them, and bump [`STOCK_EVENT_SCHEMA_VERSION`] when an event's shape changes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Schema version stamped on every [`StockEvent`]; consumers upcast older versions on read.
pub const STOCK_EVENT_SCHEMA_VERSION: u32 = 1;

/// One escrow bucket of a SKU. A SKU has `buckets >= 1` buckets; bucket b is routed by the key
/// `inv/{sku}/{b}`. Bucket 0 always exists once the SKU is set and holds the bucket count.
///
/// Stock is escrowed: every unit of the bucket is in exactly one of `available`, `held` (reserved
/// by a saga, not yet sold) or `committed` (sold). Invariants kept by
/// [`super::ledger::apply`] (and checked by the property tests):
/// - `available + held + committed == added - removed`, computed without overflow
///   ([`StockBucket::is_balanced`]);
/// - `held` is the sum of the quantities of this bucket's `Held` reservations, `committed` the
///   sum of its `Committed` ones, so a unit is never counted for two reservations;
/// - `bucket < buckets`;
/// - `version` counts applied changes (1 after the bucket was created) and `updated_at_ms` never
///   decreases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockBucket {
    pub sku: String,
    pub bucket: u32,
    /// How many buckets the SKU has (authoritative in bucket 0; copied elsewhere for information).
    pub buckets: u32,
    /// Units that can be reserved now.
    pub available: u64,
    /// Units reserved by `Held` reservations.
    pub held: u64,
    /// Units sold: reservations that were committed.
    pub committed: u64,
    /// Units ever added: set-ups, restocks, positive adjustments, transfers in.
    pub added: u64,
    /// Units ever removed: negative adjustments, downward sets, transfers out.
    pub removed: u64,
    /// Count of applied changes (1 after the first set). Also the sequence of the latest event.
    pub version: u64,
    pub updated_at_ms: u64,
}

impl StockBucket {
    /// True when `available + held + committed == added - removed` holds without overflow or
    /// underflow: the escrow identity the reconciler checks per bucket.
    pub fn is_balanced(&self) -> bool {
        let on_hand = self.added.checked_sub(self.removed);
        let accounted = self
            .available
            .checked_add(self.held)
            .and_then(|sum| sum.checked_add(self.committed));
        on_hand.is_some() && on_hand == accounted
    }
}

// One definition serves orders, inventory and payments (see `crate::order::model`).
pub(crate) use crate::order::model::named_enum;

named_enum! {
    /// Where a [`Reservation`] record is. `Held` is the only state that holds units; `Committed`
    /// units are sold. The record of a rebalancing transfer shares the id space (see
    /// [`super::ledger::StockOp::TransferOut`]) and is in one of the two `Transferred*` states,
    /// which no reservation operation accepts.
    pub enum ReservationState {
        /// `quantity` units moved from `available` to `held`, until commit, release or expiry.
        Held => "HELD",
        /// Sold: `quantity` units moved to `committed`. Final.
        Committed => "COMMITTED",
        /// Given back by the saga (or a tombstone for a release that came before its reserve).
        /// Holds nothing. Final.
        Released => "RELEASED",
        /// The TTL ran out and the timer gave the units back. A late commit may still re-take
        /// them if enough are available.
        Expired => "EXPIRED",
        /// The reserve found too few units; holds nothing. Final.
        Refused => "REFUSED",
        /// Record of a rebalancing transfer out of this bucket (`quantity` units removed).
        TransferredOut => "TRANSFERRED_OUT",
        /// Record of a rebalancing transfer into this bucket (`quantity` units added).
        TransferredIn => "TRANSFERRED_IN",
    }
}

/// A reservation of units in one bucket, keyed by (sku, bucket, reservation id). Also used, with
/// a `Transferred*` state, to remember a transfer id so a duplicate transfer is not applied twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The saga id (one reservation per saga and bucket), or the transfer id.
    pub reservation_id: String,
    pub sku: String,
    pub bucket: u32,
    /// Units asked for. 0 only for the tombstone of a release that arrived before its reserve.
    pub quantity: u64,
    pub state: ReservationState,
    pub created_at_ms: u64,
    /// When the expiry timer may release a `Held` reservation (`created_at_ms + ttl_ms`);
    /// equal to `created_at_ms` for records that never held anything.
    pub expires_at_ms: u64,
    pub updated_at_ms: u64,
}

/// What happened to a bucket. Exactly one event is produced per applied change; replays and
/// ignored timers produce none. Quantities are in units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockEventKind {
    /// `available` was set from `previous` to `available` (the bucket was created if
    /// `sequence == 1`).
    Set {
        previous: u64,
        available: u64,
    },
    Restocked {
        quantity: u64,
    },
    /// `available` changed by `delta` for an audited `reason`.
    Adjusted {
        delta: i64,
        reason: String,
    },
    /// `quantity` units moved from available to held.
    Reserved {
        reservation_id: String,
        quantity: u64,
    },
    /// The reserve of `quantity` units was refused (sold out); nothing moved.
    ReserveRefused {
        reservation_id: String,
        quantity: u64,
    },
    /// `quantity` units became committed: from held, or (commit after expiry) from available.
    Committed {
        reservation_id: String,
        quantity: u64,
    },
    /// The reservation was released; `quantity` units went back from held to available (0 for
    /// a tombstone or for a reservation that held nothing any more).
    Released {
        reservation_id: String,
        quantity: u64,
    },
    /// The reservation expired; `quantity` units went back from held to available.
    Expired {
        reservation_id: String,
        quantity: u64,
    },
    /// `quantity` units left this bucket for another bucket of the SKU.
    TransferredOut {
        transfer_id: String,
        quantity: u64,
    },
    /// `quantity` units arrived from another bucket of the SKU.
    TransferredIn {
        transfer_id: String,
        quantity: u64,
    },
    /// The bucket count recorded on this bucket changed.
    BucketsChanged {
        buckets: u32,
    },
}

impl StockEventKind {
    /// The stable SCREAMING_SNAKE event type, e.g. `"RESERVE_REFUSED"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            StockEventKind::Set { .. } => "SET",
            StockEventKind::Restocked { .. } => "RESTOCKED",
            StockEventKind::Adjusted { .. } => "ADJUSTED",
            StockEventKind::Reserved { .. } => "RESERVED",
            StockEventKind::ReserveRefused { .. } => "RESERVE_REFUSED",
            StockEventKind::Committed { .. } => "COMMITTED",
            StockEventKind::Released { .. } => "RELEASED",
            StockEventKind::Expired { .. } => "EXPIRED",
            StockEventKind::TransferredOut { .. } => "TRANSFERRED_OUT",
            StockEventKind::TransferredIn { .. } => "TRANSFERRED_IN",
            StockEventKind::BucketsChanged { .. } => "BUCKETS_CHANGED",
        }
    }
}

impl fmt::Display for StockEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry of a bucket's event log (the aggregate is the bucket: `inv/{sku}/{bucket}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockEvent {
    pub sku: String,
    pub bucket: u32,
    /// The bucket's `version` after the change: 1 for the change that created it, then
    /// consecutive.
    pub sequence: u64,
    /// [`STOCK_EVENT_SCHEMA_VERSION`] at the time the event was produced.
    pub schema_version: u32,
    pub kind: StockEventKind,
    /// The bucket's `updated_at_ms` after the change (so event times never go backwards).
    pub at_ms: u64,
    /// The bucket's `available` after the change.
    pub available: u64,
    /// The bucket's `held` after the change.
    pub held: u64,
    /// The bucket's `committed` after the change.
    pub committed: u64,
}

impl StockEvent {
    /// The event describing `bucket`'s latest change: sequence, time and levels are taken from
    /// the bucket as it is *after* the change.
    pub fn after(bucket: &StockBucket, kind: StockEventKind) -> StockEvent {
        StockEvent {
            sku: bucket.sku.clone(),
            bucket: bucket.bucket,
            sequence: bucket.version,
            schema_version: STOCK_EVENT_SCHEMA_VERSION,
            kind,
            at_ms: bucket.updated_at_ms,
            available: bucket.available,
            held: bucket.held,
            committed: bucket.committed,
        }
    }
}
