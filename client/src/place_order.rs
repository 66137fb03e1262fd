//! [`PlaceOrder`]: the request to create an order.

use crate::LineItem;

/// A new order. Fields left `None` take the server's defaults (currency `USD`, the cluster's
/// default region).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaceOrder {
    pub customer_id: String,
    pub items: Vec<LineItem>,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: Option<String>,
    /// Home region of the order.
    pub region: Option<String>,
    /// Stripe-style idempotency key. The SDK generates one when `None`, so its own retries are
    /// safe; pass your own to make *your* retries (e.g. after a crash) safe too. The server
    /// derives the order id from it: the same key and request always yield the same order.
    pub idempotency_key: Option<String>,
}

impl PlaceOrder {
    /// An order for `customer_id` with `items`, everything else defaulted.
    pub fn new(customer_id: impl Into<String>, items: Vec<LineItem>) -> Self {
        PlaceOrder {
            customer_id: customer_id.into(),
            items,
            ..Default::default()
        }
    }
}
