//! [`Order`], [`OrderLine`], [`OrderReply`] and [`OrderEvent`]: the SDK's view of what the server
//! returns about orders, serializable for `orderctl -o json`.

use orderstore_proto::v1 as pb;
use serde::Deserialize;
use serde::Serialize;

use crate::ClientError;

/// One order as stored. Amounts are in minor units (cents) of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// `o-<region>-<16 hex digits>`, e.g. `o-local-1a2b3c4d5e6f7a8b`.
    pub order_id: String,
    /// Derived display status, e.g. `AWAITING_PAYMENT`, `PAID`, `SHIPPED`, `CANCELLED`.
    pub status: String,
    /// Incremented by every applied command; the value `expected_version` compares with.
    pub version: u64,
    pub customer_id: String,
    pub region: String,
    pub currency: String,
    pub items: Vec<OrderLine>,
    pub total: u64,
    /// The orthogonal state regions `status` is derived from.
    pub lifecycle: String,
    pub payment: String,
    pub returns: String,
    pub on_hold: bool,
    pub paid_amount: u64,
    pub refunded_amount: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// One line of an [`Order`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
    pub line_total: u64,
    /// `UNFULFILLED`, `SHIPPED` or `DELIVERED`.
    pub fulfillment: String,
}

/// The answer to a mutating call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReply {
    #[serde(flatten)]
    pub order: Order,
    /// True when the server returned the stored reply of an earlier request with the same
    /// idempotency key (this call changed nothing).
    pub replayed: bool,
}

/// One entry of an order's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub order_id: String,
    /// Per-order sequence number, starting at 1 and without gaps.
    pub sequence: u64,
    pub schema_version: u32,
    pub event_type: String,
    pub at_ms: u64,
    /// The order's display status after the event.
    pub status: String,
}

impl From<pb::Order> for Order {
    fn from(o: pb::Order) -> Self {
        Order {
            order_id: o.order_id,
            status: o.status,
            version: o.version,
            customer_id: o.customer_id,
            region: o.region,
            currency: o.currency,
            items: o.items.into_iter().map(OrderLine::from).collect(),
            total: o.total,
            lifecycle: o.lifecycle,
            payment: o.payment,
            returns: o.returns,
            on_hold: o.on_hold,
            paid_amount: o.paid_amount,
            refunded_amount: o.refunded_amount,
            created_at_ms: o.created_at_ms,
            updated_at_ms: o.updated_at_ms,
        }
    }
}

impl From<pb::OrderLine> for OrderLine {
    fn from(l: pb::OrderLine) -> Self {
        OrderLine {
            sku: l.sku,
            quantity: l.quantity,
            unit_price: l.unit_price,
            line_total: l.line_total,
            fulfillment: l.fulfillment,
        }
    }
}

impl TryFrom<pb::OrderReply> for OrderReply {
    type Error = ClientError;

    /// Fails with [`ClientError::MalformedReply`] when the server sent no order.
    fn try_from(r: pb::OrderReply) -> Result<Self, ClientError> {
        let order = r.order.ok_or_else(|| ClientError::MalformedReply {
            what: "OrderReply without an order".into(),
        })?;
        Ok(OrderReply {
            order: order.into(),
            replayed: r.replayed,
        })
    }
}

impl From<pb::OrderEvent> for OrderEvent {
    fn from(e: pb::OrderEvent) -> Self {
        OrderEvent {
            order_id: e.order_id,
            sequence: e.sequence,
            schema_version: e.schema_version,
            event_type: e.event_type,
            at_ms: e.at_ms,
            status: e.status,
        }
    }
}
