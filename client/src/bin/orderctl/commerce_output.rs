//! Rendering stock, accounts, purchases and sagas (wire messages, which do not derive serde) as
//! tables or JSON. JSON field names are the protobuf field names.

use orderstore_client::Order;
use orderstore_client::proto;
use serde_json::Value;
use serde_json::json;

use crate::cli::OutputFormat;
use crate::output;
use crate::output::money;
use crate::output::table;

// ----- JSON -----

pub fn bucket_json(b: &proto::StockBucket) -> Value {
    json!({
        "sku": b.sku,
        "bucket": b.bucket,
        "buckets": b.buckets,
        "available": b.available,
        "held": b.held,
        "committed": b.committed,
        "added": b.added,
        "removed": b.removed,
        "version": b.version,
        "updated_at_ms": b.updated_at_ms,
    })
}

pub fn stock_json(s: &proto::Stock) -> Value {
    json!({
        "sku": s.sku,
        "available": s.available,
        "held": s.held,
        "committed": s.committed,
        "buckets": s.buckets,
        "staleness_ms": s.staleness_ms,
        "strict": s.strict,
        "bucket_detail": s.bucket_detail.iter().map(bucket_json).collect::<Vec<_>>(),
    })
}

pub fn stock_reply_json(r: &proto::StockReply) -> Value {
    json!({
        "stock": r.stock.as_ref().map(stock_json),
        "bucket": r.bucket.as_ref().map(bucket_json),
    })
}

pub fn account_json(a: &proto::Account) -> Value {
    json!({
        "account_id": a.account_id,
        "currency": a.currency,
        "balance": a.balance,
        "held": a.held,
        "captured": a.captured,
        "refunded": a.refunded,
        "credited": a.credited,
        "version": a.version,
    })
}

pub fn saga_json(s: &proto::Saga) -> Value {
    json!({
        "saga_id": s.saga_id,
        "order_id": s.order_id,
        "account_id": s.account_id,
        "status": s.status,
        "reason": s.reason,
        "amount": s.amount,
        "currency": s.currency,
        "payment": s.payment,
        "lines": s.lines.iter().map(|l| json!({
            "sku": l.sku,
            "quantity": l.quantity,
            "bucket": l.bucket,
            "stock": l.stock,
        })).collect::<Vec<_>>(),
        "timeline": s.timeline.iter().map(|t| json!({
            "at_ms": t.at_ms,
            "what": t.what,
            "attempt": t.attempt,
            "outcome": t.outcome,
        })).collect::<Vec<_>>(),
        "version": s.version,
        "created_at_ms": s.created_at_ms,
        "updated_at_ms": s.updated_at_ms,
        "deadline_ms": s.deadline_ms,
    })
}

/// The whole reply: `order` as `order get -o json` prints it, `saga`, `replayed`.
pub fn purchase_reply_json(r: &proto::PurchaseReply) -> Value {
    json!({
        "order": r.order.clone().map(Order::from),
        "saga": r.saga.as_ref().map(saga_json),
        "replayed": r.replayed,
    })
}

// ----- printing -----

pub fn print_stock(stock: &proto::Stock, format: OutputFormat) {
    if format == OutputFormat::Json {
        output::print_json(&stock_json(stock));
        return;
    }
    let mut t = table(["field", "value"]);
    t.add_row(["sku", &stock.sku]);
    t.add_row(["available", &stock.available.to_string()]);
    t.add_row(["held", &stock.held.to_string()]);
    t.add_row(["committed", &stock.committed.to_string()]);
    t.add_row(["buckets", &stock.buckets.to_string()]);
    t.add_row([
        "read",
        &if stock.strict {
            "strict (every bucket from its leader)".to_string()
        } else {
            format!("stale (up to {} ms old)", stock.staleness_ms)
        },
    ]);
    println!("{t}");
    if !stock.bucket_detail.is_empty() {
        println!();
        println!("{}", buckets_table(&stock.bucket_detail));
    }
}

/// A write's (or a one-bucket read's) reply: the bucket, then the SKU's figures if returned.
pub fn print_stock_reply(reply: &proto::StockReply, format: OutputFormat) {
    if format == OutputFormat::Json {
        output::print_json(&stock_reply_json(reply));
        return;
    }
    if let Some(b) = &reply.bucket {
        println!("{}", buckets_table(std::slice::from_ref(b)));
    }
    if let Some(s) = &reply.stock {
        if reply.bucket.is_some() {
            println!();
        }
        print_stock(s, format);
    }
}

fn buckets_table(buckets: &[proto::StockBucket]) -> comfy_table::Table {
    let mut t = table([
        "sku",
        "bucket",
        "available",
        "held",
        "committed",
        "added",
        "removed",
        "version",
        "updated (ms since epoch)",
    ]);
    for b in buckets {
        t.add_row([
            b.sku.clone(),
            b.bucket.to_string(),
            b.available.to_string(),
            b.held.to_string(),
            b.committed.to_string(),
            b.added.to_string(),
            b.removed.to_string(),
            b.version.to_string(),
            b.updated_at_ms.to_string(),
        ]);
    }
    t
}

pub fn print_account(a: &proto::Account, format: OutputFormat) {
    if format == OutputFormat::Json {
        output::print_json(&account_json(a));
        return;
    }
    let mut t = table(["field", "value"]);
    t.add_row(["account_id", &a.account_id]);
    t.add_row(["balance", &money(a.balance, &a.currency)]);
    t.add_row(["held", &money(a.held, &a.currency)]);
    t.add_row(["captured", &money(a.captured, &a.currency)]);
    t.add_row(["refunded", &money(a.refunded, &a.currency)]);
    t.add_row(["credited", &money(a.credited, &a.currency)]);
    t.add_row(["version", &a.version.to_string()]);
    println!("{t}");
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

pub fn print_purchase(r: &proto::PurchaseReply, format: OutputFormat) {
    if format == OutputFormat::Json {
        output::print_json(&purchase_reply_json(r));
        return;
    }
    let order_id = r
        .order
        .as_ref()
        .map(|o| o.order_id.as_str())
        .or(r.saga.as_ref().map(|s| s.order_id.as_str()))
        .unwrap_or("");
    let mut t = table(["field", "value"]);
    t.add_row(["order_id", or_dash(order_id)]);
    t.add_row([
        "order status",
        or_dash(r.order.as_ref().map_or("", |o| o.status.as_str())),
    ]);
    t.add_row([
        "saga status",
        or_dash(r.saga.as_ref().map_or("", |s| s.status.as_str())),
    ]);
    t.add_row([
        "reason",
        or_dash(r.saga.as_ref().map_or("", |s| s.reason.as_str())),
    ]);
    if let Some(s) = &r.saga {
        t.add_row(["payment", or_dash(&s.payment)]);
        t.add_row(["amount", &money(s.amount, &s.currency)]);
    }
    if r.replayed {
        t.add_row(["replayed", "true"]);
    }
    println!("{t}");
}

pub fn print_sagas(sagas: &[proto::Saga], format: OutputFormat) {
    if format == OutputFormat::Json {
        output::print_json(&sagas.iter().map(saga_json).collect::<Vec<_>>());
        return;
    }
    let mut t = table([
        "saga_id",
        "status",
        "payment",
        "amount",
        "lines",
        "updated (ms since epoch)",
        "reason",
    ]);
    for s in sagas {
        t.add_row([
            s.saga_id.clone(),
            s.status.clone(),
            or_dash(&s.payment).to_string(),
            money(s.amount, &s.currency),
            s.lines.len().to_string(),
            s.updated_at_ms.to_string(),
            or_dash(&s.reason).to_string(),
        ]);
    }
    println!("{t}");
}

/// `saga show|retry|resolve`: the saga's fields, its lines and its timeline.
pub fn print_saga_reply(r: &proto::PurchaseReply, format: OutputFormat) {
    if format == OutputFormat::Json {
        output::print_json(&purchase_reply_json(r));
        return;
    }
    let Some(s) = &r.saga else {
        print_purchase(r, format);
        return;
    };
    let mut t = table(["field", "value"]);
    t.add_row(["saga_id", &s.saga_id]);
    t.add_row(["order_id", &s.order_id]);
    if let Some(o) = &r.order {
        t.add_row(["order status", &o.status]);
    }
    t.add_row(["account_id", &s.account_id]);
    t.add_row(["status", &s.status]);
    t.add_row(["reason", or_dash(&s.reason)]);
    t.add_row(["amount", &money(s.amount, &s.currency)]);
    t.add_row(["payment", or_dash(&s.payment)]);
    t.add_row(["version", &s.version.to_string()]);
    t.add_row(["created_at_ms", &s.created_at_ms.to_string()]);
    t.add_row(["updated_at_ms", &s.updated_at_ms.to_string()]);
    t.add_row(["deadline_ms", &s.deadline_ms.to_string()]);
    println!("{t}");
    println!();
    let mut lines = table(["sku", "qty", "bucket", "stock"]);
    for l in &s.lines {
        lines.add_row([
            l.sku.clone(),
            l.quantity.to_string(),
            l.bucket.to_string(),
            l.stock.clone(),
        ]);
    }
    println!("{lines}");
    println!();
    println!("{}", timeline_table(&s.timeline));
}

fn timeline_table(timeline: &[proto::SagaTimelineEntry]) -> comfy_table::Table {
    let mut t = table(["at_ms", "what", "attempt", "outcome"]);
    for e in timeline {
        t.add_row([
            e.at_ms.to_string(),
            e.what.clone(),
            e.attempt.to_string(),
            e.outcome.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_json_has_the_documented_fields() {
        let stock = proto::Stock {
            sku: "sku-1".into(),
            available: 7,
            held: 2,
            committed: 1,
            buckets: 2,
            bucket_detail: vec![proto::StockBucket {
                sku: "sku-1".into(),
                bucket: 1,
                buckets: 2,
                available: 3,
                ..Default::default()
            }],
            staleness_ms: 0,
            strict: true,
        };
        let v = stock_json(&stock);
        for field in [
            "sku",
            "available",
            "held",
            "committed",
            "buckets",
            "staleness_ms",
            "strict",
            "bucket_detail",
        ] {
            assert!(v.get(field).is_some(), "{field} missing in {v}");
        }
        assert_eq!(v["available"], 7);
        assert_eq!(v["strict"], true);
        assert_eq!(v["bucket_detail"][0]["bucket"], 1);
        assert_eq!(v["bucket_detail"][0]["available"], 3);
    }

    #[test]
    fn purchase_json_carries_order_saga_and_timeline() {
        let reply = proto::PurchaseReply {
            order: Some(proto::Order {
                order_id: "o-local-1".into(),
                status: "PAID".into(),
                ..Default::default()
            }),
            saga: Some(proto::Saga {
                saga_id: "o-local-1".into(),
                status: "COMPLETED".into(),
                timeline: vec![proto::SagaTimelineEntry {
                    at_ms: 5,
                    what: "RESERVE".into(),
                    attempt: 1,
                    outcome: "RESERVED".into(),
                }],
                ..Default::default()
            }),
            replayed: false,
        };
        let v = purchase_reply_json(&reply);
        assert_eq!(v["order"]["order_id"], "o-local-1");
        assert_eq!(v["order"]["status"], "PAID");
        assert_eq!(v["saga"]["status"], "COMPLETED");
        assert_eq!(v["saga"]["timeline"][0]["what"], "RESERVE");
        assert_eq!(v["replayed"], false);
        let empty = purchase_reply_json(&proto::PurchaseReply::default());
        assert!(empty["order"].is_null() && empty["saga"].is_null());
    }
}
