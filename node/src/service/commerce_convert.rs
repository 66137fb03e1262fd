//! Conversions between the wire types and the inventory, payment and saga domains.

use orderstore_proto::v1 as pb;

use crate::inventory::Reservation;
use crate::inventory::StockBucket;
use crate::inventory::StockReply;
use crate::payments::Account;
use crate::payments::Authorization;
use crate::payments::PaymentReply;
use crate::saga::LineStock;
use crate::saga::PaymentProgress;
use crate::saga::PurchaseSaga;

pub fn bucket_to_pb(b: &StockBucket) -> pb::StockBucket {
    pb::StockBucket {
        sku: b.sku.clone(),
        bucket: b.bucket,
        buckets: b.buckets,
        available: b.available,
        held: b.held,
        committed: b.committed,
        added: b.added,
        removed: b.removed,
        version: b.version,
        updated_at_ms: b.updated_at_ms,
    }
}

/// Sums buckets into the SKU view (`buckets` from bucket 0 when present).
pub fn stock_to_pb(
    sku: &str,
    buckets: &[StockBucket],
    staleness_ms: u64,
    strict: bool,
) -> pb::Stock {
    pb::Stock {
        sku: sku.to_owned(),
        available: buckets.iter().map(|b| b.available).sum(),
        held: buckets.iter().map(|b| b.held).sum(),
        committed: buckets.iter().map(|b| b.committed).sum(),
        buckets: buckets
            .iter()
            .find(|b| b.bucket == 0)
            .map_or(buckets.len() as u32, |b| b.buckets),
        bucket_detail: buckets.iter().map(bucket_to_pb).collect(),
        staleness_ms,
        strict,
    }
}

pub fn reservation_to_pb(r: &Reservation) -> pb::Reservation {
    pb::Reservation {
        reservation_id: r.reservation_id.clone(),
        sku: r.sku.clone(),
        bucket: r.bucket,
        quantity: r.quantity,
        state: r.state.as_str().to_owned(),
        expires_at_ms: r.expires_at_ms,
    }
}

/// (outcome name, reservation) of a stock reply, for `ReservationReply`.
pub fn stock_outcome(reply: &StockReply) -> (&'static str, Option<pb::Reservation>) {
    match reply {
        StockReply::Updated => ("UPDATED", None),
        StockReply::Reserved { reservation } => ("RESERVED", Some(reservation_to_pb(reservation))),
        StockReply::SoldOut { .. } => ("SOLD_OUT", None),
        StockReply::Committed { reservation } => {
            ("COMMITTED", Some(reservation_to_pb(reservation)))
        }
        StockReply::Released { reservation } => ("RELEASED", Some(reservation_to_pb(reservation))),
        StockReply::Expired { reservation } => ("EXPIRED", Some(reservation_to_pb(reservation))),
        StockReply::Unchanged => ("UNCHANGED", None),
    }
}

pub fn account_to_pb(a: &Account) -> pb::Account {
    pb::Account {
        account_id: a.account_id.clone(),
        currency: a.currency.clone(),
        balance: a.balance,
        held: a.held,
        captured: a.captured,
        refunded: a.refunded,
        credited: a.credited,
        version: a.version,
    }
}

pub fn authorization_to_pb(a: &Authorization) -> pb::Authorization {
    pb::Authorization {
        auth_id: a.auth_id.clone(),
        account_id: a.account_id.clone(),
        amount: a.amount,
        refunded: a.refunded,
        state: a.state.as_str().to_owned(),
        decline_reason: a.decline_reason.clone().unwrap_or_default(),
    }
}

/// (outcome name, authorization) of a payment reply.
pub fn payment_outcome(reply: &PaymentReply) -> (&'static str, Option<pb::Authorization>) {
    match reply {
        PaymentReply::Account => ("UPDATED", None),
        PaymentReply::Authorized { authorization } => {
            ("AUTHORIZED", Some(authorization_to_pb(authorization)))
        }
        PaymentReply::Declined { authorization } => {
            ("DECLINED", Some(authorization_to_pb(authorization)))
        }
        PaymentReply::Captured { authorization } => {
            ("CAPTURED", Some(authorization_to_pb(authorization)))
        }
        PaymentReply::Voided { authorization } => {
            ("VOIDED", Some(authorization_to_pb(authorization)))
        }
        PaymentReply::Refunded { authorization } => {
            ("REFUNDED", Some(authorization_to_pb(authorization)))
        }
        PaymentReply::Unchanged => ("UNCHANGED", None),
    }
}

fn line_stock_name(s: LineStock) -> &'static str {
    match s {
        LineStock::Pending => "PENDING",
        LineStock::Held => "HELD",
        LineStock::SoldOut => "SOLD_OUT",
        LineStock::Committed => "COMMITTED",
        LineStock::Released => "RELEASED",
    }
}

fn payment_name(p: PaymentProgress) -> &'static str {
    match p {
        PaymentProgress::Pending => "PENDING",
        PaymentProgress::Authorized => "AUTHORIZED",
        PaymentProgress::Declined => "DECLINED",
        PaymentProgress::Captured => "CAPTURED",
        PaymentProgress::Voided => "VOIDED",
    }
}

pub fn saga_to_pb(s: &PurchaseSaga) -> pb::Saga {
    pb::Saga {
        saga_id: s.saga_id.clone(),
        order_id: s.order_id.clone(),
        account_id: s.account_id.clone(),
        status: s.status.as_str().to_owned(),
        reason: s.reason.clone().unwrap_or_default(),
        amount: s.amount,
        currency: s.currency.clone(),
        payment: payment_name(s.payment).to_owned(),
        lines: s
            .lines
            .iter()
            .map(|l| pb::SagaLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                bucket: l.bucket,
                stock: line_stock_name(l.stock).to_owned(),
            })
            .collect(),
        timeline: s
            .timeline
            .iter()
            .map(|t| pb::SagaTimelineEntry {
                at_ms: t.at_ms,
                what: t.what.clone(),
                attempt: t.attempt,
                outcome: t.outcome.clone(),
            })
            .collect(),
        version: s.version,
        created_at_ms: s.created_at_ms,
        updated_at_ms: s.updated_at_ms,
        deadline_ms: s.deadline_ms,
    }
}
