//! [`OrderDraft`] and [`OrderGenerator`]: the random orders every system stores, and the JSON
//! document the peers keep for them.

use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use orderstore_client::{LineItem, Order, OrderLine, PlaceOrder};
use rand::Rng;

/// Distinct customers orders are spread over.
pub const CUSTOMERS: u32 = 100_000;
/// Distinct SKUs lines are drawn from.
pub const SKUS: u32 = 10_000;

/// A new order before any system has stored it: a customer and 1-3 lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDraft {
    pub customer_id: String,
    pub items: Vec<LineItem>,
}

/// Draws [`OrderDraft`]s: a random customer out of [`CUSTOMERS`], 1-3 lines of random SKUs,
/// quantities 1-5 and unit prices 1.00-999.99.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderGenerator;

impl OrderGenerator {
    pub fn draft<R: Rng + ?Sized>(&self, rng: &mut R) -> OrderDraft {
        let lines = rng.random_range(1..=3);
        OrderDraft {
            customer_id: format!("cust-{:06}", rng.random_range(0..CUSTOMERS)),
            items: (0..lines)
                .map(|_| {
                    LineItem::new(
                        format!("SKU-{:05}", rng.random_range(0..SKUS)),
                        rng.random_range(1..=5),
                        rng.random_range(100..100_000),
                    )
                })
                .collect(),
        }
    }
}

impl OrderDraft {
    /// The orderstore request for this draft (server defaults for currency and region).
    pub fn to_place_order(&self) -> PlaceOrder {
        PlaceOrder::new(self.customer_id.clone(), self.items.clone())
    }

    /// The record the peers store for this draft under `order_id`: the same shape as the order
    /// orderstore returns (status `AWAITING_PAYMENT`, version 1), so every system stores the
    /// same fields. As JSON it is 430-640 bytes for 1-3 lines (field names included); the
    /// request orderstore receives is ~100-200 bytes of protobuf.
    pub fn document(&self, order_id: &str, now_ms: u64) -> Order {
        let items: Vec<OrderLine> = self
            .items
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                line_total: u64::from(l.quantity).saturating_mul(l.unit_price),
                fulfillment: "UNFULFILLED".into(),
            })
            .collect();
        Order {
            order_id: order_id.to_string(),
            status: "AWAITING_PAYMENT".into(),
            version: 1,
            customer_id: self.customer_id.clone(),
            region: "local".into(),
            currency: "USD".into(),
            total: items.iter().map(|l| l.line_total).sum(),
            items,
            lifecycle: "PLACED".into(),
            payment: "NOT_PAID".into(),
            returns: "NONE".into(),
            on_hold: false,
            paid_amount: 0,
            refunded_amount: 0,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }
}

/// The peers' version of the transition the workloads use: toggles the hold overlay, bumps the
/// version and the update time. orderstore applies the same change with `HOLD` /
/// `RELEASE_HOLD`.
pub fn toggle_hold(order: &Order, now_ms: u64) -> Order {
    let mut next = order.clone();
    next.on_hold = !order.on_hold;
    next.status = if next.on_hold {
        "ON_HOLD".into()
    } else {
        "AWAITING_PAYMENT".into()
    };
    next.version = order.version.saturating_add(1);
    next.updated_at_ms = order.updated_at_ms.max(now_ms);
    next
}

/// A fresh order id for the peers, in orderstore's format (`o-local-<16 hex>`). Drawn from the
/// OS-seeded thread generator, not the workload's seeded one: ids must not repeat across phases
/// and runs that reuse a seed (the peers' tables and key spaces outlive a phase).
pub fn random_order_id() -> String {
    format!("o-local-{:016x}", rand::random::<u64>())
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// Drafts have 1-3 lines and valid quantities; the peers' JSON record of the full order
    /// stays small (between 350 and 700 bytes for 1-3 lines).
    #[test]
    fn drafts_are_small_orders_with_300_byte_documents() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut min, mut max) = (usize::MAX, 0);
        for _ in 0..500 {
            let d = OrderGenerator.draft(&mut rng);
            assert!((1..=3).contains(&d.items.len()));
            assert!(d.items.iter().all(|l| (1..=5).contains(&l.quantity)));
            let id = random_order_id();
            let json = serde_json::to_vec(&d.document(&id, 1_700_000_000_000)).unwrap();
            min = min.min(json.len());
            max = max.max(json.len());
        }
        assert!(min >= 350 && max <= 700, "document sizes {min}..{max}");
    }

    #[test]
    fn toggle_hold_flips_and_bumps_version() {
        let mut rng = StdRng::seed_from_u64(6);
        let doc = OrderGenerator.draft(&mut rng).document("o-local-1", 10);
        let held = toggle_hold(&doc, 20);
        assert!(held.on_hold);
        assert_eq!((held.version, held.status.as_str()), (2, "ON_HOLD"));
        let released = toggle_hold(&held, 5);
        assert!(!released.on_hold);
        assert_eq!((released.version, released.updated_at_ms), (3, 20));
    }

    #[test]
    fn random_ids_look_like_orderstore_ids_and_do_not_repeat() {
        let id = random_order_id();
        assert!(id.starts_with("o-local-") && id.len() == 24, "{id}");
        assert_ne!(random_order_id(), id);
    }
}
