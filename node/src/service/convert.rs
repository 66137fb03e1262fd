//! Conversions between the wire types (`orderstore_proto::v1`) and the order domain.

use orderstore_proto::v1 as pb;

use super::error::ApiError;
use crate::order::Order;
use crate::order::OrderCommand;
use crate::order::OrderEvent;
use crate::order::ValidationError;

/// A new order id (see [`shard_router::order_id`]): derived from the idempotency key when there
/// is one, so a retried `PlaceOrder` lands on the same id and shard (and the SDK can compute it
/// to route directly), random otherwise.
pub fn new_order_id(region: &str, idempotency_key: Option<&str>) -> String {
    match idempotency_key {
        Some(k) => shard_router::keyed_order_id(region, k),
        None => shard_router::order_id(region, rand::random::<u64>()),
    }
}

pub fn order_to_pb(o: &Order) -> pb::Order {
    pb::Order {
        order_id: o.order_id.clone(),
        customer_id: o.customer_id.clone(),
        region: o.region.clone(),
        currency: o.currency.clone(),
        items: o
            .lines
            .iter()
            .map(|l| pb::OrderLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                line_total: l.line_total,
                fulfillment: l.fulfillment.as_str().to_string(),
            })
            .collect(),
        total: o.total,
        status: o.display_status().as_str().to_string(),
        lifecycle: o.lifecycle.as_str().to_string(),
        payment: o.payment.as_str().to_string(),
        returns: o.returns.as_str().to_string(),
        on_hold: o.on_hold,
        paid_amount: o.paid_amount,
        refunded_amount: o.refunded_amount,
        version: o.version,
        created_at_ms: o.created_at_ms,
        updated_at_ms: o.updated_at_ms,
    }
}

pub fn event_to_pb(e: &OrderEvent) -> pb::OrderEvent {
    pb::OrderEvent {
        order_id: e.order_id.clone(),
        sequence: e.sequence,
        schema_version: e.schema_version,
        event_type: e.kind.as_str().to_string(),
        at_ms: e.at_ms,
        status: e.status_after.clone(),
    }
}

/// The domain command of an `OrderCommandRequest`; INVALID_ARGUMENT for an unknown action.
pub fn command_from_pb(req: &pb::OrderCommandRequest) -> Result<OrderCommand, ApiError> {
    use pb::OrderAction as A;
    let action = A::try_from(req.action).unwrap_or(A::Unspecified);
    Ok(match action {
        A::Authorize => OrderCommand::Authorize,
        A::Capture => OrderCommand::Capture,
        A::Pay => OrderCommand::Pay,
        A::FailPayment => OrderCommand::FailPayment,
        A::Void => OrderCommand::Void,
        A::Ship => OrderCommand::Ship { line: req.line },
        A::Deliver => OrderCommand::Deliver { line: req.line },
        A::Complete => OrderCommand::Complete,
        A::Cancel => OrderCommand::Cancel {
            reason: req.reason.clone(),
        },
        A::Expire => OrderCommand::Expire,
        A::Hold => OrderCommand::Hold {
            reason: req.reason.clone(),
        },
        A::ReleaseHold => OrderCommand::ReleaseHold,
        A::RequestReturn => OrderCommand::RequestReturn { line: req.line },
        A::ReceiveReturn => OrderCommand::ReceiveReturn,
        A::Refund => OrderCommand::Refund { amount: req.amount },
        A::Unspecified => {
            return Err(ValidationError::new("action", "unknown or missing order action").into());
        }
    })
}
