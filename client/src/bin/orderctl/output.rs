//! Rendering command results as tables (for people) or JSON (for scripts and tests).

use comfy_table::Table;
use orderstore_client::ClusterStatus;
use orderstore_client::Order;
use orderstore_client::OrderEvent;
use serde::Serialize;

use crate::cli::OutputFormat;

/// comfy-table preset drawing only a rule under the header (kubectl-like). Components, in
/// order: borders (4), header line parts (4), vertical/horizontal lines and intersections; a
/// space means "not drawn".
const HEADER_RULE_ONLY: &str = "     ──            ";

/// A table with the house style: columns and a header rule, no borders.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_preset(HEADER_RULE_ONLY).set_header(header);
    t
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    // Serializing our own plain structs (strings, numbers, vecs) to a String cannot fail.
    let text = serde_json::to_string_pretty(value).expect("plain data serializes to JSON");
    println!("{text}");
}

/// `amount` minor units of `currency` as a decimal string, e.g. `59.97 USD`.
pub fn money(amount: u64, currency: &str) -> String {
    // ISO 4217 currencies without minor units (the common ones).
    const ZERO_DECIMAL: [&str; 8] = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"];
    if ZERO_DECIMAL.contains(&currency) {
        format!("{amount} {currency}")
    } else {
        format!("{}.{:02} {currency}", amount / 100, amount % 100)
    }
}

/// One order: its fields, then its lines.
pub fn print_order(order: &Order, replayed: Option<bool>, format: OutputFormat) {
    if format == OutputFormat::Json {
        match replayed {
            Some(replayed) => {
                #[derive(Serialize)]
                struct WithReplay<'a> {
                    #[serde(flatten)]
                    order: &'a Order,
                    replayed: bool,
                }
                print_json(&WithReplay { order, replayed });
            }
            None => print_json(order),
        }
        return;
    }
    let mut t = table(["field", "value"]);
    t.add_row(["order_id", &order.order_id]);
    t.add_row(["status", &order.status]);
    t.add_row(["version", &order.version.to_string()]);
    t.add_row(["customer", &order.customer_id]);
    t.add_row(["region", &order.region]);
    t.add_row(["total", &money(order.total, &order.currency)]);
    t.add_row([
        "lifecycle / payment / returns",
        &format!(
            "{} / {} / {}",
            order.lifecycle, order.payment, order.returns
        ),
    ]);
    if order.on_hold {
        t.add_row(["on hold", "yes"]);
    }
    t.add_row([
        "paid / refunded",
        &format!(
            "{} / {}",
            money(order.paid_amount, &order.currency),
            money(order.refunded_amount, &order.currency)
        ),
    ]);
    if let Some(r) = replayed.filter(|r| *r) {
        t.add_row(["replayed", &r.to_string()]);
    }
    println!("{t}");
    let mut lines = table([
        "line",
        "sku",
        "qty",
        "unit price",
        "line total",
        "fulfillment",
    ]);
    for (i, l) in order.items.iter().enumerate() {
        lines.add_row([
            i.to_string(),
            l.sku.clone(),
            l.quantity.to_string(),
            money(l.unit_price, &order.currency),
            money(l.line_total, &order.currency),
            l.fulfillment.clone(),
        ]);
    }
    println!("{lines}");
}

/// Several orders, one row each.
pub fn orders_table(orders: &[Order]) -> Table {
    let mut t = table([
        "order_id", "customer", "status", "lines", "total", "version",
    ]);
    for o in orders {
        t.add_row([
            o.order_id.clone(),
            o.customer_id.clone(),
            o.status.clone(),
            o.items.len().to_string(),
            money(o.total, &o.currency),
            o.version.to_string(),
        ]);
    }
    t
}

pub fn print_events(events: &[OrderEvent], format: OutputFormat) {
    if format == OutputFormat::Json {
        print_json(&events);
        return;
    }
    let mut t = table([
        "seq",
        "event",
        "status after",
        "at (ms since epoch)",
        "schema",
    ]);
    for e in events {
        t.add_row([
            e.sequence.to_string(),
            e.event_type.clone(),
            e.status.clone(),
            e.at_ms.to_string(),
            format!("v{}", e.schema_version),
        ]);
    }
    println!("{t}");
}

pub fn print_cluster_status(status: &ClusterStatus, format: OutputFormat) {
    if format == OutputFormat::Json {
        print_json(status);
        return;
    }
    let mut nodes = table(["node", "grpc", "status port", "region", "zone", "state"]);
    for n in &status.nodes {
        nodes.add_row([
            n.id.to_string(),
            n.grpc_addr.clone(),
            n.status_addr.clone(),
            n.region.clone(),
            n.zone.clone(),
            n.state.clone(),
        ]);
    }
    println!("{nodes}");
    println!();
    let mut shards = table([
        "shard",
        "hash range",
        "epoch",
        "leader",
        "term",
        "replicas",
        "applied (per replica)",
        "snapshot",
        "health",
    ]);
    for s in &status.shards {
        let leader = match (s.leader, &s.leader_addr) {
            (Some(id), Some(addr)) => format!("{id} ({addr})"),
            (Some(id), None) => id.to_string(),
            (None, _) => "-".to_string(),
        };
        let per_replica = s
            .replicas
            .iter()
            .zip(s.replica_applied.iter().chain(std::iter::repeat(&0)))
            .map(|(r, a)| format!("{r}:{a}"))
            .collect::<Vec<_>>()
            .join(" ");
        shards.add_row([
            s.id.to_string(),
            format!("{:016x}..={:016x}", s.range_start, s.range_end),
            format!("v{}/c{}", s.epoch_version, s.epoch_conf_ver),
            leader,
            s.term.to_string(),
            s.replicas
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            format!("{} [{}]", s.applied_index, per_replica),
            s.snapshot_index.to_string(),
            s.health.clone(),
        ]);
    }
    println!("{shards}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_minor_units() {
        assert_eq!(money(5997, "USD"), "59.97 USD");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(500, "JPY"), "500 JPY");
    }
}
