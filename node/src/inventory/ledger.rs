//! The stock ledger of one bucket: [`apply`] runs one [`StockOp`] against a bucket and, for the
//! operations that name an id, the reservation record with that id. It is pure and
//! deterministic: the same inputs give the same [`StockChange`] on every replica.

use serde::{Deserialize, Deserializer, Serialize};

use super::limits::{StockLimits, static_name, validate_op};
use super::model::{Reservation, ReservationState, StockBucket, StockEvent, StockEventKind};

/// An operation on one bucket of a SKU. What each requires and does is tabulated on [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockOp {
    /// Make `available` equal to the value (recorded as an addition or removal; audited). Creates
    /// the bucket if missing, with `buckets` = 1 for bucket 0 and `bucket + 1` for another
    /// bucket (the smallest count that includes it).
    Set { available: u64 },
    /// Add `quantity` (> 0) units to `available`.
    Restock { quantity: u64 },
    /// Add (positive) or remove (negative) units from `available`, for an audited `reason`.
    /// `delta != 0`; a removal may not exceed `available`.
    Adjust { delta: i64, reason: String },
    /// Conditional decrement: available >= quantity -> Held; else the reservation is stored as
    /// Refused (so a duplicate replays the refusal) and the reply says SoldOut.
    Reserve {
        reservation_id: String,
        quantity: u64,
        ttl_ms: u64,
    },
    /// Sell the reserved units.
    Commit { reservation_id: String },
    /// Give the reserved units back (saga compensation).
    Release { reservation_id: String },
    /// Timer: releases a Held reservation whose expires_at_ms <= now. Ignored (no change)
    /// otherwise.
    Expire { reservation_id: String },
    /// Rebalancing between buckets without ever creating stock: TransferOut takes `quantity`
    /// from available (refused if not enough) under a transfer id; TransferIn adds it on the
    /// target bucket. Both are deduplicated by transfer id (a [`Reservation`] record with that
    /// id and a `Transferred*` state remembers it). The coordinator must send TransferIn only
    /// after TransferOut succeeded, to one target bucket, with the same quantity.
    TransferOut { transfer_id: String, quantity: u64 },
    /// See [`StockOp::TransferOut`]. Creates the target bucket if missing (like `Set`).
    TransferIn { transfer_id: String, quantity: u64 },
    /// Change the bucket count recorded on this bucket (used on bucket 0 by `stock split`).
    /// Must be greater than this bucket's number.
    SetBuckets { buckets: u32 },
}

impl StockOp {
    /// The stable SCREAMING_SNAKE name, e.g. `"TRANSFER_OUT"`.
    pub const fn name(&self) -> &'static str {
        match self {
            StockOp::Set { .. } => "SET",
            StockOp::Restock { .. } => "RESTOCK",
            StockOp::Adjust { .. } => "ADJUST",
            StockOp::Reserve { .. } => "RESERVE",
            StockOp::Commit { .. } => "COMMIT",
            StockOp::Release { .. } => "RELEASE",
            StockOp::Expire { .. } => "EXPIRE",
            StockOp::TransferOut { .. } => "TRANSFER_OUT",
            StockOp::TransferIn { .. } => "TRANSFER_IN",
            StockOp::SetBuckets { .. } => "SET_BUCKETS",
        }
    }

    /// The id whose [`Reservation`] record [`apply`] must be given (the record stored under
    /// (sku, bucket, id), or `None` if there is none yet): the reservation id or transfer id.
    /// `None` for operations that take no record.
    pub fn record_id(&self) -> Option<&str> {
        match self {
            StockOp::Reserve { reservation_id, .. }
            | StockOp::Commit { reservation_id }
            | StockOp::Release { reservation_id }
            | StockOp::Expire { reservation_id } => Some(reservation_id),
            StockOp::TransferOut { transfer_id, .. } | StockOp::TransferIn { transfer_id, .. } => {
                Some(transfer_id)
            }
            StockOp::Set { .. }
            | StockOp::Restock { .. }
            | StockOp::Adjust { .. }
            | StockOp::SetBuckets { .. } => None,
        }
    }
}

/// The result of a successful [`apply`]: what to store and what to answer.
///
/// Contract: when `event` is `None` nothing changed (a replay or an ignored timer): `bucket` is
/// an unchanged copy of the input and `reservation` is `None`, so the caller may skip the write.
/// When `event` is `Some`, the caller stores `bucket`, `reservation` (if `Some`) and the event
/// atomically (in one Raft entry's apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChange {
    /// The bucket after the operation (an unchanged copy if nothing changed).
    pub bucket: StockBucket,
    /// The new or updated reservation (or transfer) record to store, if any.
    pub reservation: Option<Reservation>,
    /// The event describing the change; `None` when nothing changed.
    pub event: Option<StockEvent>,
    /// What to answer the caller.
    pub reply: StockReply,
}

/// The answer to a successful operation. Reservation replies carry the record as it is after
/// the operation (or as stored, for a replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockReply {
    /// Set, restock, adjust, transfer (fresh or replayed) or set-buckets applied.
    Updated,
    /// The reservation holds its units (fresh or replayed).
    Reserved { reservation: Reservation },
    /// The reserve was refused (fresh or replayed); `available` is the bucket's current level.
    SoldOut { available: u64 },
    /// The reservation is committed (fresh or replayed).
    Committed { reservation: Reservation },
    /// The reservation is released (fresh or replayed). Also for a release that arrives before
    /// its reserve: a tombstone `Released` reservation with quantity 0 is stored so a late
    /// Reserve with that id replays "Released" and holds nothing.
    Released { reservation: Reservation },
    /// The reservation expired (fresh, or a Reserve replayed against an expired record).
    Expired { reservation: Reservation },
    /// A timer with nothing to do.
    Unchanged,
}

/// Field names carried by [`StockError`] variants (for deserializing them as `&'static str`).
const FIELD_NAMES: &[&str] = &[
    "sku",
    "bucket",
    "available",
    "quantity",
    "delta",
    "reason",
    "reservation_id",
    "ttl_ms",
    "transfer_id",
    "buckets",
    "held",
    "committed",
    "added",
    "removed",
    "version",
    "expires_at_ms",
];

/// `&'static str` under another name, so that serde's derive does not treat the field as
/// borrowed from the input (which would make the error deserializable only from `'static`
/// data); the `deserialize_with` functions read an owned string and intern it.
type StaticName = &'static str;

fn field_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    static_name::deserialize(deserializer, FIELD_NAMES)
}

/// Why [`apply`] refused. Nothing changed when one of these is returned: the caller writes
/// nothing. See [`StockError::kind`] for what the client should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StockError {
    /// Returned for any operation but `Set` and `TransferIn` when the bucket does not exist.
    #[error("SKU {sku} has no bucket {bucket}")]
    UnknownSku { sku: String, bucket: u32 },
    /// Returned when a number breaks its rule or a [`StockLimits`] bound (see
    /// [`super::limits::validate_op`]): a zero quantity or delta, a quantity over the limit, a
    /// TTL out of range, a bucket number or bucket count out of range.
    #[error("invalid {field}: {reason}")]
    InvalidQuantity {
        #[serde(deserialize_with = "field_name")]
        field: StaticName,
        reason: String,
    },
    /// Returned by `Adjust` (negative) and `TransferOut` when `available` is below the quantity.
    /// A refused `Reserve` is not an error (it is stored and answered `SoldOut`).
    #[error("insufficient stock: {requested} requested, {available} available")]
    InsufficientStock { available: u64, requested: u64 },
    /// Returned by `Commit` and `Expire` for an id that has no record in this bucket.
    #[error("no reservation {reservation_id} in this bucket")]
    UnknownReservation { reservation_id: String },
    /// Returned by `Commit` when the reservation was released or refused: it holds nothing.
    #[error("reservation {reservation_id} was released or refused and cannot be committed")]
    ReservationReleased { reservation_id: String },
    /// Returned by `Commit` of an expired reservation when fewer than its quantity are
    /// available to re-take.
    #[error(
        "reservation {reservation_id} expired and only {available} units are available to re-take"
    )]
    ReservationLost {
        reservation_id: String,
        available: u64,
    },
    /// Returned by `Release` of a committed reservation (the units are sold).
    #[error("reservation {reservation_id} is already committed and cannot be released")]
    AlreadyCommitted { reservation_id: String },
    /// Returned when a SKU, reservation id, transfer id or reason is empty, too long or has a
    /// character that is not allowed (see [`super::limits::validate_op`]).
    #[error("invalid {field}: {reason}")]
    InvalidId {
        #[serde(deserialize_with = "field_name")]
        field: StaticName,
        reason: String,
    },
    /// Returned when an id names a record of the other kind: a reservation operation on a
    /// transfer record, or a transfer on a reservation record. `state` is the record's.
    #[error("id {id} is already used by a record in state {state}")]
    IdInUse { id: String, state: ReservationState },
    /// Returned by a duplicate `TransferOut`/`TransferIn` whose quantity differs from the
    /// recorded one (applying either would create or destroy stock).
    #[error("transfer {transfer_id} was recorded with quantity {recorded}, not {requested}")]
    TransferMismatch {
        transfer_id: String,
        recorded: u64,
        requested: u64,
    },
    /// Returned when arithmetic on `field` would overflow (a lifetime counter or the version is
    /// exhausted, or `now_ms + ttl_ms` overflows) or underflow (the bucket and the reservation
    /// record disagree, which means stored data is corrupt).
    #[error("arithmetic on {field} would overflow")]
    Overflow {
        #[serde(deserialize_with = "field_name")]
        field: StaticName,
    },
    /// Returned when the bucket passed to [`apply`] is not bucket `bucket` of `sku`: a bug in
    /// the caller.
    #[error("the bucket record passed is not bucket {bucket} of SKU {sku}")]
    BucketMismatch { sku: String, bucket: u32 },
    /// Returned when the record passed to [`apply`] is not the one of this operation's id, SKU
    /// and bucket (see [`StockOp::record_id`]), or a record is passed without its bucket: a bug
    /// in the caller.
    #[error("the reservation record passed ({reservation_id}) does not belong to this operation")]
    RecordMismatch { reservation_id: String },
}

impl StockError {
    /// Machine-readable class for `ErrorDetail.kind`, which tells the client what to do:
    /// `"INVALID_ARGUMENT"` (fix the request; never retry as is), `"NOT_FOUND"` (the SKU bucket
    /// or reservation does not exist), `"FAILED_PRECONDITION"` (the state forbids it; re-read,
    /// do not retry blindly) or `"INTERNAL"` (a caller bug or corrupt data; do not retry).
    pub const fn kind(&self) -> &'static str {
        match self {
            StockError::InvalidQuantity { .. } | StockError::InvalidId { .. } => "INVALID_ARGUMENT",
            StockError::UnknownSku { .. } | StockError::UnknownReservation { .. } => "NOT_FOUND",
            StockError::InsufficientStock { .. }
            | StockError::ReservationReleased { .. }
            | StockError::ReservationLost { .. }
            | StockError::AlreadyCommitted { .. }
            | StockError::IdInUse { .. }
            | StockError::TransferMismatch { .. }
            | StockError::Overflow { .. } => "FAILED_PRECONDITION",
            StockError::BucketMismatch { .. } | StockError::RecordMismatch { .. } => "INTERNAL",
        }
    }

    /// The offending field for `ErrorDetail.field`, for `INVALID_ARGUMENT` errors.
    pub const fn field(&self) -> Option<&'static str> {
        match self {
            StockError::InvalidQuantity { field, .. } | StockError::InvalidId { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

/// Applies `op` to bucket `bucket_no` of `sku`.
///
/// Inputs: `bucket` is the stored bucket (`None` if it does not exist); `reservation` is the
/// stored record for [`StockOp::record_id`] in this bucket (`None` if there is none, and always
/// `None` for operations without an id). `now_ms` is the proposing leader's clock from the log
/// entry. `limits` must be the same on every replica (see [`super::limits`]).
///
/// Checks run in this order, and the first failure is returned:
/// 1. arguments against `limits` ([`validate_op`]): `InvalidId`, `InvalidQuantity`;
/// 2. the inputs belong together: `BucketMismatch`, `RecordMismatch`;
/// 3. the bucket exists (except for `Set`, `TransferIn`): `UnknownSku`;
/// 4. the rule below.
///
/// On error nothing changed (inputs are only borrowed) and the caller writes nothing. On an
/// applied change the bucket gets `version + 1` (1 if created) and
/// `updated_at_ms = max(updated_at_ms, now_ms)`; the event carries that version as its
/// `sequence`, that time and the levels after the change; a record written gets
/// `updated_at_ms = max(its updated_at_ms, now_ms)`. A replay (an id whose record already shows
/// the outcome) changes nothing and has no event (see [`StockChange`]).
///
/// "a/h/c" are available/held/committed; q is the reservation's stored quantity.
///
/// | op | record state | effect | reply |
/// |---|---|---|---|
/// | `Set{v}` | — | a = v; the difference is added to `added` or `removed` | `Updated` |
/// | `Restock{q}` | — | a += q, added += q | `Updated` |
/// | `Adjust{d}` | — | a += d, added += d (d > 0) or removed += -d (needs -d <= a, else `InsufficientStock`) | `Updated` |
/// | `Reserve{q}` | none, a >= q | a -= q, h += q; new `Held` record expiring at now + ttl | `Reserved` |
/// | `Reserve{q}` | none, a < q | new `Refused` record (event `ReserveRefused`) | `SoldOut` |
/// | `Reserve` | `Held` / `Committed` / `Refused` / `Released` / `Expired` | replay (the stored quantity wins) | `Reserved` / `Committed` / `SoldOut` / `Released` / `Expired` |
/// | `Commit` | `Held` (even past its expiry, if the timer has not fired) | h -= q, c += q | `Committed` |
/// | `Commit` | `Expired`, a >= q | re-take: a -= q, c += q | `Committed` |
/// | `Commit` | `Expired`, a < q | `ReservationLost` | — |
/// | `Commit` | `Committed` | replay | `Committed` |
/// | `Commit` | `Released` / `Refused` / none | `ReservationReleased` / `UnknownReservation` | — |
/// | `Release` | `Held` | h -= q, a += q | `Released` |
/// | `Release` | `Expired` / `Refused` | record `Released`, no units move (a late commit can no longer re-take) | `Released` |
/// | `Release` | none | tombstone `Released` record with quantity 0 | `Released` |
/// | `Release` | `Released` | replay | `Released` |
/// | `Release` | `Committed` | `AlreadyCommitted` | — |
/// | `Expire` | `Held`, expires_at_ms <= now | h -= q, a += q | `Expired` |
/// | `Expire` | any other reservation state | nothing | `Unchanged` |
/// | `Expire` | none | `UnknownReservation` | — |
/// | `TransferOut{q}` | none | needs q <= a (else `InsufficientStock`); a -= q, removed += q; `TransferredOut` record | `Updated` |
/// | `TransferIn{q}` | none | a += q, added += q (bucket created if missing); `TransferredIn` record | `Updated` |
/// | `Transfer*{q}` | same direction | replay if q equals the recorded quantity, else `TransferMismatch` | `Updated` |
/// | `SetBuckets{n}` | — | buckets = n | `Updated` |
///
/// A reservation operation on a `Transferred*` record, or a transfer on a reservation record,
/// is `IdInUse`. Arithmetic is checked: an overflow is [`StockError::Overflow`], never a wrap
/// or a panic.
pub fn apply(
    bucket: Option<&StockBucket>,
    reservation: Option<&Reservation>,
    sku: &str,
    bucket_no: u32,
    op: &StockOp,
    now_ms: u64,
    limits: &StockLimits,
) -> Result<StockChange, StockError> {
    validate_op(sku, bucket_no, op, limits)?;
    check_inputs(bucket, reservation, sku, bucket_no, op)?;
    let ctx = Ctx {
        sku,
        bucket_no,
        now_ms,
    };
    let created;
    let current = match bucket {
        Some(current) => current,
        None => match op {
            StockOp::Set { .. } | StockOp::TransferIn { .. } => {
                created = ctx.empty_bucket();
                &created
            }
            _ => {
                return Err(StockError::UnknownSku {
                    sku: sku.to_owned(),
                    bucket: bucket_no,
                });
            }
        },
    };
    let outcome = rule(current, reservation, op, &ctx)?;
    match outcome {
        Outcome::Replay(reply) => Ok(StockChange {
            bucket: current.clone(),
            reservation: None,
            event: None,
            reply,
        }),
        Outcome::Change {
            mut next,
            record,
            kind,
            reply,
        } => {
            next.version = match bucket {
                Some(b) => b
                    .version
                    .checked_add(1)
                    .ok_or(StockError::Overflow { field: "version" })?,
                None => 1,
            };
            next.updated_at_ms = current.updated_at_ms.max(now_ms);
            let event = StockEvent::after(&next, kind);
            Ok(StockChange {
                bucket: next,
                reservation: record,
                event: Some(event),
                reply,
            })
        }
    }
}

/// Step 2 of [`apply`]: the bucket and record passed are the ones of this operation.
fn check_inputs(
    bucket: Option<&StockBucket>,
    reservation: Option<&Reservation>,
    sku: &str,
    bucket_no: u32,
    op: &StockOp,
) -> Result<(), StockError> {
    if let Some(b) = bucket
        && (b.sku != sku || b.bucket != bucket_no)
    {
        return Err(StockError::BucketMismatch {
            sku: sku.to_owned(),
            bucket: bucket_no,
        });
    }
    if let Some(r) = reservation {
        let belongs = bucket.is_some()
            && op.record_id() == Some(r.reservation_id.as_str())
            && r.sku == sku
            && r.bucket == bucket_no;
        if !belongs {
            return Err(StockError::RecordMismatch {
                reservation_id: r.reservation_id.clone(),
            });
        }
    }
    Ok(())
}

/// What the rule for an operation decided.
#[expect(
    clippy::large_enum_variant,
    reason = "lives for one apply call and is consumed at once; boxing would only add an allocation"
)]
enum Outcome {
    /// Nothing changes; answer with this.
    Replay(StockReply),
    /// The bucket's levels (not version or time, which [`apply`] sets) become `next`, `record`
    /// is written, and `kind` describes it.
    Change {
        next: StockBucket,
        record: Option<Reservation>,
        kind: StockEventKind,
        reply: StockReply,
    },
}

/// The operation's coordinates.
struct Ctx<'a> {
    sku: &'a str,
    bucket_no: u32,
    now_ms: u64,
}

impl Ctx<'_> {
    /// The bucket a creating operation starts from: all zero, version 0.
    fn empty_bucket(&self) -> StockBucket {
        StockBucket {
            sku: self.sku.to_owned(),
            bucket: self.bucket_no,
            // Cannot overflow: validate_op checked bucket_no < max_buckets <= u32::MAX.
            buckets: self.bucket_no.saturating_add(1),
            available: 0,
            held: 0,
            committed: 0,
            added: 0,
            removed: 0,
            version: 0,
            updated_at_ms: self.now_ms,
        }
    }

    /// A new record for `id` in this bucket, created now.
    fn record(
        &self,
        id: &str,
        quantity: u64,
        state: ReservationState,
        expires_at_ms: u64,
    ) -> Reservation {
        Reservation {
            reservation_id: id.to_owned(),
            sku: self.sku.to_owned(),
            bucket: self.bucket_no,
            quantity,
            state,
            created_at_ms: self.now_ms,
            expires_at_ms,
            updated_at_ms: self.now_ms,
        }
    }

    /// `r` moved to `state` now.
    fn moved(&self, r: &Reservation, state: ReservationState) -> Reservation {
        Reservation {
            state,
            updated_at_ms: r.updated_at_ms.max(self.now_ms),
            ..r.clone()
        }
    }
}

fn plus(field: &'static str, a: u64, b: u64) -> Result<u64, StockError> {
    a.checked_add(b).ok_or(StockError::Overflow { field })
}

fn minus(field: &'static str, a: u64, b: u64) -> Result<u64, StockError> {
    a.checked_sub(b).ok_or(StockError::Overflow { field })
}

/// Step 4 of [`apply`]: the table on [`apply`], for an existing (or just created) bucket.
fn rule(
    current: &StockBucket,
    record: Option<&Reservation>,
    op: &StockOp,
    ctx: &Ctx<'_>,
) -> Result<Outcome, StockError> {
    use ReservationState as S;
    let mut next = current.clone();
    let change = |next, record, kind, reply| Outcome::Change {
        next,
        record,
        kind,
        reply,
    };
    match op {
        StockOp::Set { available } => {
            let previous = current.available;
            if *available >= previous {
                next.added = plus("added", next.added, available - previous)?;
            } else {
                next.removed = plus("removed", next.removed, previous - available)?;
            }
            next.available = *available;
            let kind = StockEventKind::Set {
                previous,
                available: *available,
            };
            Ok(change(next, None, kind, StockReply::Updated))
        }
        StockOp::Restock { quantity } => {
            next.available = plus("available", next.available, *quantity)?;
            next.added = plus("added", next.added, *quantity)?;
            let kind = StockEventKind::Restocked {
                quantity: *quantity,
            };
            Ok(change(next, None, kind, StockReply::Updated))
        }
        StockOp::Adjust { delta, reason } => {
            let magnitude = delta.unsigned_abs();
            if *delta > 0 {
                next.available = plus("available", next.available, magnitude)?;
                next.added = plus("added", next.added, magnitude)?;
            } else {
                if magnitude > current.available {
                    return Err(StockError::InsufficientStock {
                        available: current.available,
                        requested: magnitude,
                    });
                }
                next.available -= magnitude;
                next.removed = plus("removed", next.removed, magnitude)?;
            }
            let kind = StockEventKind::Adjusted {
                delta: *delta,
                reason: reason.clone(),
            };
            Ok(change(next, None, kind, StockReply::Updated))
        }
        StockOp::Reserve {
            reservation_id,
            quantity,
            ttl_ms,
        } => {
            if let Some(r) = record {
                let reply = match r.state {
                    S::Held => StockReply::Reserved {
                        reservation: r.clone(),
                    },
                    S::Committed => StockReply::Committed {
                        reservation: r.clone(),
                    },
                    S::Refused => StockReply::SoldOut {
                        available: current.available,
                    },
                    S::Released => StockReply::Released {
                        reservation: r.clone(),
                    },
                    S::Expired => StockReply::Expired {
                        reservation: r.clone(),
                    },
                    S::TransferredOut | S::TransferredIn => return Err(id_in_use(r)),
                };
                return Ok(Outcome::Replay(reply));
            }
            if *quantity <= current.available {
                next.available -= quantity;
                next.held = plus("held", next.held, *quantity)?;
                let expires_at_ms = plus("expires_at_ms", ctx.now_ms, *ttl_ms)?;
                let r = ctx.record(reservation_id, *quantity, S::Held, expires_at_ms);
                let kind = StockEventKind::Reserved {
                    reservation_id: reservation_id.clone(),
                    quantity: *quantity,
                };
                let reply = StockReply::Reserved {
                    reservation: r.clone(),
                };
                Ok(change(next, Some(r), kind, reply))
            } else {
                let r = ctx.record(reservation_id, *quantity, S::Refused, ctx.now_ms);
                let kind = StockEventKind::ReserveRefused {
                    reservation_id: reservation_id.clone(),
                    quantity: *quantity,
                };
                let reply = StockReply::SoldOut {
                    available: current.available,
                };
                Ok(change(next, Some(r), kind, reply))
            }
        }
        StockOp::Commit { reservation_id } => {
            let Some(r) = record else {
                return Err(StockError::UnknownReservation {
                    reservation_id: reservation_id.clone(),
                });
            };
            match r.state {
                S::Committed => {
                    return Ok(Outcome::Replay(StockReply::Committed {
                        reservation: r.clone(),
                    }));
                }
                S::Held => {
                    next.held = minus("held", next.held, r.quantity)?;
                }
                S::Expired => {
                    if r.quantity > current.available {
                        return Err(StockError::ReservationLost {
                            reservation_id: reservation_id.clone(),
                            available: current.available,
                        });
                    }
                    next.available -= r.quantity;
                }
                S::Released | S::Refused => {
                    return Err(StockError::ReservationReleased {
                        reservation_id: reservation_id.clone(),
                    });
                }
                S::TransferredOut | S::TransferredIn => return Err(id_in_use(r)),
            }
            next.committed = plus("committed", next.committed, r.quantity)?;
            let r = ctx.moved(r, S::Committed);
            let kind = StockEventKind::Committed {
                reservation_id: reservation_id.clone(),
                quantity: r.quantity,
            };
            let reply = StockReply::Committed {
                reservation: r.clone(),
            };
            Ok(change(next, Some(r), kind, reply))
        }
        StockOp::Release { reservation_id } => {
            let (r, returned) = match record {
                None => (ctx.record(reservation_id, 0, S::Released, ctx.now_ms), 0),
                Some(r) => match r.state {
                    S::Held => {
                        next.held = minus("held", next.held, r.quantity)?;
                        next.available = plus("available", next.available, r.quantity)?;
                        (ctx.moved(r, S::Released), r.quantity)
                    }
                    S::Expired | S::Refused => (ctx.moved(r, S::Released), 0),
                    S::Released => {
                        return Ok(Outcome::Replay(StockReply::Released {
                            reservation: r.clone(),
                        }));
                    }
                    S::Committed => {
                        return Err(StockError::AlreadyCommitted {
                            reservation_id: reservation_id.clone(),
                        });
                    }
                    S::TransferredOut | S::TransferredIn => return Err(id_in_use(r)),
                },
            };
            let kind = StockEventKind::Released {
                reservation_id: reservation_id.clone(),
                quantity: returned,
            };
            let reply = StockReply::Released {
                reservation: r.clone(),
            };
            Ok(change(next, Some(r), kind, reply))
        }
        StockOp::Expire { reservation_id } => {
            let Some(r) = record else {
                return Err(StockError::UnknownReservation {
                    reservation_id: reservation_id.clone(),
                });
            };
            match r.state {
                S::Held if r.expires_at_ms <= ctx.now_ms => {
                    next.held = minus("held", next.held, r.quantity)?;
                    next.available = plus("available", next.available, r.quantity)?;
                    let r = ctx.moved(r, S::Expired);
                    let kind = StockEventKind::Expired {
                        reservation_id: reservation_id.clone(),
                        quantity: r.quantity,
                    };
                    let reply = StockReply::Expired {
                        reservation: r.clone(),
                    };
                    Ok(change(next, Some(r), kind, reply))
                }
                S::TransferredOut | S::TransferredIn => Err(id_in_use(r)),
                _ => Ok(Outcome::Replay(StockReply::Unchanged)),
            }
        }
        StockOp::TransferOut {
            transfer_id,
            quantity,
        } => {
            if let Some(r) = record {
                return replay_transfer(r, S::TransferredOut, *quantity);
            }
            if *quantity > current.available {
                return Err(StockError::InsufficientStock {
                    available: current.available,
                    requested: *quantity,
                });
            }
            next.available -= quantity;
            next.removed = plus("removed", next.removed, *quantity)?;
            let r = ctx.record(transfer_id, *quantity, S::TransferredOut, ctx.now_ms);
            let kind = StockEventKind::TransferredOut {
                transfer_id: transfer_id.clone(),
                quantity: *quantity,
            };
            Ok(change(next, Some(r), kind, StockReply::Updated))
        }
        StockOp::TransferIn {
            transfer_id,
            quantity,
        } => {
            if let Some(r) = record {
                return replay_transfer(r, S::TransferredIn, *quantity);
            }
            next.available = plus("available", next.available, *quantity)?;
            next.added = plus("added", next.added, *quantity)?;
            let r = ctx.record(transfer_id, *quantity, S::TransferredIn, ctx.now_ms);
            let kind = StockEventKind::TransferredIn {
                transfer_id: transfer_id.clone(),
                quantity: *quantity,
            };
            Ok(change(next, Some(r), kind, StockReply::Updated))
        }
        StockOp::SetBuckets { buckets } => {
            next.buckets = *buckets;
            let kind = StockEventKind::BucketsChanged { buckets: *buckets };
            Ok(change(next, None, kind, StockReply::Updated))
        }
    }
}

/// A transfer whose id already has record `r`: a replay if `r` is a transfer in the same
/// direction with the same quantity.
fn replay_transfer(
    r: &Reservation,
    direction: ReservationState,
    quantity: u64,
) -> Result<Outcome, StockError> {
    if r.state != direction {
        return Err(id_in_use(r));
    }
    if r.quantity != quantity {
        return Err(StockError::TransferMismatch {
            transfer_id: r.reservation_id.clone(),
            recorded: r.quantity,
            requested: quantity,
        });
    }
    Ok(Outcome::Replay(StockReply::Updated))
}

fn id_in_use(r: &Reservation) -> StockError {
    StockError::IdInUse {
        id: r.reservation_id.clone(),
        state: r.state,
    }
}
