//! Data types of the order aggregate: the orthogonal state regions, the order record, the request
//! to place one, and the events a change produces.
//!
//! Every type here is stored with bincode v1, which encodes enum variants by their **index** and
//! struct fields by their **position**. So: append new variants and fields at the end only, never
//! reorder or remove them, and bump [`ORDER_EVENT_SCHEMA_VERSION`] when an event's shape changes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Schema version stamped on every [`OrderEvent`]; consumers upcast older versions on read.
pub const ORDER_EVENT_SCHEMA_VERSION: u32 = 1;

/// Defines a field-less enum with a SCREAMING_SNAKE wire name per variant: `as_str()`, `Display`
/// (which writes that name) and `ALL` (every variant, in declaration order).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration (and therefore storage-index) order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable SCREAMING_SNAKE name used on the wire, in events and in error messages.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;

named_enum! {
    /// Where the order is in its life. `Completed`, `Cancelled` and `Expired` are terminal: no
    /// command moves an order out of them (returns and refunds still run on a `Completed` order,
    /// in their own region).
    pub enum Lifecycle {
        /// Accepted, not yet paid.
        Placed => "PLACED",
        /// Paid (captured); nothing shipped yet.
        Confirmed => "CONFIRMED",
        /// At least one line shipped, not every line delivered.
        Fulfilling => "FULFILLING",
        /// Every line delivered.
        Delivered => "DELIVERED",
        /// Closed by the merchant after delivery.
        Completed => "COMPLETED",
        /// Cancelled before anything shipped; any payment was voided or refunded.
        Cancelled => "CANCELLED",
        /// Never paid and timed out.
        Expired => "EXPIRED",
    }
}

impl Lifecycle {
    /// True for `Completed`, `Cancelled` and `Expired`, which no lifecycle transition leaves.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Lifecycle::Completed | Lifecycle::Cancelled | Lifecycle::Expired
        )
    }
}

named_enum! {
    /// The money side of the order.
    pub enum PaymentState {
        /// No payment attempt recorded.
        NotPaid => "NOT_PAID",
        /// Funds reserved by the payment provider, not captured.
        Authorized => "AUTHORIZED",
        /// Captured: `paid_amount == total`.
        Paid => "PAID",
        /// Some, not all, of the captured amount refunded.
        PartiallyRefunded => "PARTIALLY_REFUNDED",
        /// Everything captured has been refunded.
        Refunded => "REFUNDED",
        /// An authorization was released without capture.
        Voided => "VOIDED",
        /// The last payment attempt failed; a retry may still succeed.
        Failed => "FAILED",
    }
}

named_enum! {
    /// Fulfilment of one order line.
    pub enum LineFulfillment {
        /// Not shipped yet.
        Unfulfilled => "UNFULFILLED",
        /// Handed to the carrier.
        Shipped => "SHIPPED",
        /// Received by the customer.
        Delivered => "DELIVERED",
    }
}

named_enum! {
    /// The return flow of the order. An order has at most one return (see `RequestReturn`).
    pub enum ReturnState {
        /// No return requested.
        None => "NONE",
        /// The customer asked to return one or more lines.
        Requested => "REQUESTED",
        /// The returned goods arrived back.
        Received => "RECEIVED",
        /// The return was refunded; the return flow is over.
        Refunded => "REFUNDED",
    }
}

named_enum! {
    /// The single status shown to people, derived from the state regions by
    /// [`Order::display_status`]. Never stored.
    pub enum DisplayStatus {
        /// Placed, no payment yet (or the authorization was voided).
        AwaitingPayment => "AWAITING_PAYMENT",
        /// Placed and the last payment attempt failed.
        PaymentFailed => "PAYMENT_FAILED",
        /// Placed with an authorized, uncaptured payment.
        Authorized => "AUTHORIZED",
        /// Paid, nothing shipped.
        Paid => "PAID",
        /// Some lines shipped, some not.
        PartiallyShipped => "PARTIALLY_SHIPPED",
        /// Every line shipped, none delivered.
        Shipped => "SHIPPED",
        /// Every line shipped, some (not all) delivered.
        PartiallyDelivered => "PARTIALLY_DELIVERED",
        /// Every line delivered.
        Delivered => "DELIVERED",
        /// Closed after delivery.
        Completed => "COMPLETED",
        /// Cancelled.
        Cancelled => "CANCELLED",
        /// Expired unpaid.
        Expired => "EXPIRED",
        /// On hold; fulfilment is paused.
        OnHold => "ON_HOLD",
        /// A return was requested.
        ReturnRequested => "RETURN_REQUESTED",
        /// The returned goods arrived back.
        ReturnReceived => "RETURN_RECEIVED",
        /// The return was refunded.
        Returned => "RETURNED",
    }
}

/// One line of an order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Stock-keeping unit, as validated by [`super::limits::validate_new_order`].
    pub sku: String,
    /// Units ordered, at least 1.
    pub quantity: u32,
    /// Price of one unit in minor units of the order's currency.
    pub unit_price: u64,
    /// `quantity * unit_price`, computed with checked arithmetic when the order was placed.
    pub line_total: u64,
    /// Fulfilment state of this line.
    pub fulfillment: LineFulfillment,
    /// True once the line is part of the order's return.
    pub returned: bool,
}

/// The order aggregate as stored in the order shard.
///
/// Invariants kept by [`super::machine::place`] and [`super::machine::apply`] (and checked by the
/// property tests):
/// - `total` is the sum of `line_total`s and `lines` is non-empty;
/// - `refunded_amount <= paid_amount <= total`, and `paid_amount` is 0 unless the payment was
///   captured (`Paid`, `PartiallyRefunded` or `Refunded`);
/// - `Fulfilling` means some line shipped and not every line is delivered; `Delivered` and
///   `Completed` mean every line is delivered; `Placed`/`Confirmed` mean nothing shipped;
/// - `version` counts committed changes (1 after placing) and `updated_at_ms` never decreases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    /// Home region of the order (lowercase, e.g. `eu-west`).
    pub region: String,
    /// ISO 4217 code, three uppercase ASCII letters.
    pub currency: String,
    pub lines: Vec<OrderLine>,
    /// Sum of the line totals, in minor units.
    pub total: u64,
    pub lifecycle: Lifecycle,
    /// Overlay that pauses fulfilment (shipping, completion, expiry) without losing the lifecycle.
    pub on_hold: bool,
    pub payment: PaymentState,
    /// Amount captured, in minor units: `total` once paid, 0 before.
    pub paid_amount: u64,
    /// Amount refunded so far, in minor units.
    pub refunded_amount: u64,
    pub returns: ReturnState,
    /// Number of committed changes; 1 after placing. Also the sequence of the latest event.
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Order {
    /// Derives the display status. Pure and total: it never panics, for any field values.
    ///
    /// The first matching row wins:
    ///
    /// | condition                                          | status                |
    /// |----------------------------------------------------|-----------------------|
    /// | lifecycle `Cancelled`                              | `CANCELLED`           |
    /// | lifecycle `Expired`                                | `EXPIRED`             |
    /// | `on_hold`                                          | `ON_HOLD`             |
    /// | returns `Refunded`                                 | `RETURNED`            |
    /// | returns `Received`                                 | `RETURN_RECEIVED`     |
    /// | returns `Requested`                                | `RETURN_REQUESTED`    |
    /// | lifecycle `Completed`                              | `COMPLETED`           |
    /// | lifecycle `Delivered`                              | `DELIVERED`           |
    /// | `Fulfilling`, some line still unfulfilled          | `PARTIALLY_SHIPPED`   |
    /// | `Fulfilling`, all shipped, some delivered          | `PARTIALLY_DELIVERED` |
    /// | `Fulfilling`, all shipped, none delivered          | `SHIPPED`             |
    /// | `Confirmed`                                        | `PAID`, or `AUTHORIZED` if payment is `Authorized` |
    /// | `Placed`, payment `Authorized`                     | `AUTHORIZED`          |
    /// | `Placed`, payment `Failed`                         | `PAYMENT_FAILED`      |
    /// | `Placed`, otherwise                                | `AWAITING_PAYMENT`    |
    ///
    /// (`Fulfilling` with nothing shipped, or everything delivered, breaks the [`Order`]
    /// invariants; it is shown as `PAID`/`AUTHORIZED` and `DELIVERED` respectively.)
    pub fn display_status(&self) -> DisplayStatus {
        match self.lifecycle {
            Lifecycle::Cancelled => return DisplayStatus::Cancelled,
            Lifecycle::Expired => return DisplayStatus::Expired,
            _ => {}
        }
        if self.on_hold {
            return DisplayStatus::OnHold;
        }
        match self.returns {
            ReturnState::Refunded => return DisplayStatus::Returned,
            ReturnState::Received => return DisplayStatus::ReturnReceived,
            ReturnState::Requested => return DisplayStatus::ReturnRequested,
            ReturnState::None => {}
        }
        let paid_or_authorized = if self.payment == PaymentState::Authorized {
            DisplayStatus::Authorized
        } else {
            DisplayStatus::Paid
        };
        match self.lifecycle {
            Lifecycle::Completed => DisplayStatus::Completed,
            Lifecycle::Delivered => DisplayStatus::Delivered,
            Lifecycle::Fulfilling => {
                let unfulfilled = self.count_lines(LineFulfillment::Unfulfilled);
                let delivered = self.count_lines(LineFulfillment::Delivered);
                if unfulfilled == self.lines.len() {
                    paid_or_authorized
                } else if unfulfilled > 0 {
                    DisplayStatus::PartiallyShipped
                } else if delivered == self.lines.len() {
                    DisplayStatus::Delivered
                } else if delivered > 0 {
                    DisplayStatus::PartiallyDelivered
                } else {
                    DisplayStatus::Shipped
                }
            }
            Lifecycle::Confirmed => paid_or_authorized,
            Lifecycle::Placed => match self.payment {
                PaymentState::Authorized => DisplayStatus::Authorized,
                PaymentState::Failed => DisplayStatus::PaymentFailed,
                _ => DisplayStatus::AwaitingPayment,
            },
            // Returned above; listed so that a new lifecycle forces a decision here.
            Lifecycle::Cancelled => DisplayStatus::Cancelled,
            Lifecycle::Expired => DisplayStatus::Expired,
        }
    }

    /// True when at least one line has left the warehouse (is `Shipped` or `Delivered`).
    pub fn any_shipped(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l.fulfillment != LineFulfillment::Unfulfilled)
    }

    /// True when the order has lines and every one of them is `Delivered`.
    pub fn all_delivered(&self) -> bool {
        !self.lines.is_empty()
            && self
                .lines
                .iter()
                .all(|l| l.fulfillment == LineFulfillment::Delivered)
    }

    /// Amount that can still be refunded: `paid_amount - refunded_amount` (0 if the invariant
    /// `refunded_amount <= paid_amount` were ever broken).
    pub fn refundable(&self) -> u64 {
        self.paid_amount.saturating_sub(self.refunded_amount)
    }

    fn count_lines(&self, state: LineFulfillment) -> usize {
        self.lines.iter().filter(|l| l.fulfillment == state).count()
    }
}

/// One line of a [`NewOrder`], as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLine {
    pub sku: String,
    pub quantity: u32,
    /// Price of one unit in minor units of the order's currency.
    pub unit_price: u64,
}

/// A request to place an order. Validated by [`super::limits::validate_new_order`]; turned into
/// an [`Order`] by [`super::machine::place`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub order_id: String,
    pub customer_id: String,
    pub region: String,
    pub currency: String,
    pub lines: Vec<NewLine>,
}

/// What happened to an order. Exactly one event is produced per successful command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEventKind {
    /// The order was placed (sequence 1).
    Placed,
    PaymentAuthorized,
    /// The payment was captured (by `Capture`, or by `Pay` which authorizes and captures).
    PaymentCaptured,
    PaymentFailed,
    PaymentVoided,
    /// These lines (0-based indices, ascending) were shipped.
    LineShipped {
        lines: Vec<u32>,
    },
    /// These lines (0-based indices, ascending) were delivered.
    LineDelivered {
        lines: Vec<u32>,
    },
    Completed,
    /// The order was cancelled; the order record shows whether payment was voided or refunded.
    Cancelled {
        reason: String,
    },
    Expired,
    HoldPlaced {
        reason: String,
    },
    HoldReleased,
    /// A return of these lines (0-based indices, ascending) was requested.
    ReturnRequested {
        lines: Vec<u32>,
    },
    ReturnReceived,
    /// This amount (minor units) was refunded for the return.
    Refunded {
        amount: u64,
    },
}

impl OrderEventKind {
    /// The stable SCREAMING_SNAKE event type, e.g. `"PAYMENT_CAPTURED"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            OrderEventKind::Placed => "PLACED",
            OrderEventKind::PaymentAuthorized => "PAYMENT_AUTHORIZED",
            OrderEventKind::PaymentCaptured => "PAYMENT_CAPTURED",
            OrderEventKind::PaymentFailed => "PAYMENT_FAILED",
            OrderEventKind::PaymentVoided => "PAYMENT_VOIDED",
            OrderEventKind::LineShipped { .. } => "LINE_SHIPPED",
            OrderEventKind::LineDelivered { .. } => "LINE_DELIVERED",
            OrderEventKind::Completed => "COMPLETED",
            OrderEventKind::Cancelled { .. } => "CANCELLED",
            OrderEventKind::Expired => "EXPIRED",
            OrderEventKind::HoldPlaced { .. } => "HOLD_PLACED",
            OrderEventKind::HoldReleased => "HOLD_RELEASED",
            OrderEventKind::ReturnRequested { .. } => "RETURN_REQUESTED",
            OrderEventKind::ReturnReceived => "RETURN_RECEIVED",
            OrderEventKind::Refunded { .. } => "REFUNDED",
        }
    }
}

impl fmt::Display for OrderEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry of the order's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub order_id: String,
    /// The order's `version` after the change: 1 for `Placed`, then consecutive.
    pub sequence: u64,
    /// [`ORDER_EVENT_SCHEMA_VERSION`] at the time the event was produced.
    pub schema_version: u32,
    pub kind: OrderEventKind,
    /// The order's `updated_at_ms` after the change (so event times never go backwards).
    pub at_ms: u64,
    /// `display_status().as_str()` of the order after the change.
    pub status_after: String,
}

impl OrderEvent {
    /// The event describing `order`'s latest change: sequence, time and status are taken from
    /// the order as it is *after* the change.
    pub fn after(order: &Order, kind: OrderEventKind) -> OrderEvent {
        OrderEvent {
            order_id: order.order_id.clone(),
            sequence: order.version,
            schema_version: ORDER_EVENT_SCHEMA_VERSION,
            kind,
            at_ms: order.updated_at_ms,
            status_after: order.display_status().as_str().to_owned(),
        }
    }
}
