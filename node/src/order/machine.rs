//! The order state machine: [`place`] creates an order, [`apply`] runs one [`OrderCommand`]
//! against it. Both are pure and deterministic (the same inputs give the same outputs on every
//! replica), and each success yields exactly one [`OrderEvent`].

use serde::{Deserialize, Serialize};

use super::limits::{Limits, ValidationError, price_new_order, validate_refund_amount};
use super::model::{
    Lifecycle, LineFulfillment, NewOrder, Order, OrderEvent, OrderEventKind, OrderLine,
    PaymentState, ReturnState,
};

/// A change requested on an existing order. Names (see [`OrderCommand::name`]) match the wire
/// `OrderAction` values. `line` fields are 0-based line indices; `None` means "every eligible
/// line". What each command requires and does is tabulated on [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderCommand {
    Authorize,
    Capture,
    /// Authorize and capture in one step.
    Pay,
    FailPayment,
    Void,
    Ship {
        line: Option<u32>,
    },
    Deliver {
        line: Option<u32>,
    },
    Complete,
    Cancel {
        reason: String,
    },
    Expire,
    Hold {
        reason: String,
    },
    ReleaseHold,
    RequestReturn {
        line: Option<u32>,
    },
    ReceiveReturn,
    /// `None` refunds the returned lines' value (capped at what is still refundable).
    Refund {
        amount: Option<u64>,
    },
}

impl OrderCommand {
    /// The stable SCREAMING_SNAKE name, equal to the wire `OrderAction` (e.g. `"FAIL_PAYMENT"`).
    pub const fn name(&self) -> &'static str {
        match self {
            OrderCommand::Authorize => "AUTHORIZE",
            OrderCommand::Capture => "CAPTURE",
            OrderCommand::Pay => "PAY",
            OrderCommand::FailPayment => "FAIL_PAYMENT",
            OrderCommand::Void => "VOID",
            OrderCommand::Ship { .. } => "SHIP",
            OrderCommand::Deliver { .. } => "DELIVER",
            OrderCommand::Complete => "COMPLETE",
            OrderCommand::Cancel { .. } => "CANCEL",
            OrderCommand::Expire => "EXPIRE",
            OrderCommand::Hold { .. } => "HOLD",
            OrderCommand::ReleaseHold => "RELEASE_HOLD",
            OrderCommand::RequestReturn { .. } => "REQUEST_RETURN",
            OrderCommand::ReceiveReturn => "RECEIVE_RETURN",
            OrderCommand::Refund { .. } => "REFUND",
        }
    }
}

/// Why [`place`] or [`apply`] refused. The order is never changed when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OrderError {
    /// Returned by [`apply`] when the command is not legal in the order's current state (see the
    /// table on [`apply`]). `current` is the display status, `lifecycle`/`payment` the regions
    /// behind it, `reason` the rule that was broken. Retrying the same command will not help.
    #[error(
        "cannot {command} order in status {current} (lifecycle {lifecycle}, payment {payment}): \
         {reason}"
    )]
    IllegalTransition {
        command: String,
        current: String,
        lifecycle: String,
        payment: String,
        reason: String,
    },
    /// Returned by [`apply`] when `expected_version` was given and differs from the order's
    /// `version` (`actual`). Re-read the order and decide again.
    #[error("version conflict: expected version {expected}, order is at version {actual}")]
    VersionConflict { expected: u64, actual: u64 },
    /// Returned by [`place`] when the request breaks a [`Limits`] rule, and by [`apply`] for a
    /// `Refund` with an explicit amount of 0.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Returned by [`apply`] when a `line` argument is not an index into the order's lines.
    #[error("line {line} does not exist: the order has {lines} line(s)")]
    LineOutOfRange { line: u32, lines: u32 },
}

impl OrderError {
    /// Machine-readable class for `ErrorDetail.kind`, which tells the client what to do:
    /// `"INVALID_ARGUMENT"` (fix the request; never retry as is), `"ILLEGAL_TRANSITION"` (the
    /// order's state forbids it; re-read, do not retry blindly) or `"VERSION_CONFLICT"` (re-read
    /// the order, then retry with the new version if the command still makes sense).
    pub const fn kind(&self) -> &'static str {
        match self {
            OrderError::IllegalTransition { .. } => "ILLEGAL_TRANSITION",
            OrderError::VersionConflict { .. } => "VERSION_CONFLICT",
            OrderError::Invalid(_) | OrderError::LineOutOfRange { .. } => "INVALID_ARGUMENT",
        }
    }

    /// The offending field for `ErrorDetail.field`, for `INVALID_ARGUMENT` errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            OrderError::Invalid(e) => Some(&e.field),
            OrderError::LineOutOfRange { .. } => Some("line"),
            OrderError::IllegalTransition { .. } | OrderError::VersionConflict { .. } => None,
        }
    }
}

/// Validates `new` against `limits` (see [`super::limits::validate_new_order`]) and builds the
/// order: line totals and total computed with checked arithmetic, lifecycle `Placed`, payment
/// `NotPaid`, returns `None`, every line `Unfulfilled`, version 1, both timestamps `now_ms`.
/// Returns the order and its `Placed` event (sequence 1), or [`OrderError::Invalid`] naming the
/// first bad field.
pub fn place(
    new: &NewOrder,
    limits: &Limits,
    now_ms: u64,
) -> Result<(Order, OrderEvent), OrderError> {
    let priced = price_new_order(new, limits)?;
    let lines = new
        .lines
        .iter()
        .zip(priced.line_totals)
        .map(|(line, line_total)| OrderLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total,
            fulfillment: LineFulfillment::Unfulfilled,
            returned: false,
        })
        .collect();
    let order = Order {
        order_id: new.order_id.clone(),
        customer_id: new.customer_id.clone(),
        region: new.region.clone(),
        currency: new.currency.clone(),
        lines,
        total: priced.total,
        lifecycle: Lifecycle::Placed,
        on_hold: false,
        payment: PaymentState::NotPaid,
        paid_amount: 0,
        refunded_amount: 0,
        returns: ReturnState::None,
        version: 1,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    let event = OrderEvent::after(&order, OrderEventKind::Placed);
    Ok((order, event))
}

/// Applies `cmd` to `order` and returns the changed order with the one event describing it.
///
/// Checks run in this order, and the first failure is returned:
/// 1. `expected_version`, if given, must equal `order.version`, else
///    [`OrderError::VersionConflict`];
/// 2. arguments: a `line` must index an existing line ([`OrderError::LineOutOfRange`]), an
///    explicit refund amount must be positive ([`OrderError::Invalid`]);
/// 3. the rule below, else [`OrderError::IllegalTransition`].
///
/// `reason` strings are stored as given: check them with
/// [`super::limits::validate_command`] before proposing (limits are configuration and must not
/// decide the outcome of a Raft log replay).
///
/// On success the new order has `version + 1`, `updated_at_ms = max(updated_at_ms, now_ms)`, and
/// the event carries that version as its `sequence`. On error the input is untouched (it is only
/// borrowed) and no event exists.
///
/// "Unpaid" below means payment `NotPaid`, `Failed` or `Voided` (nothing held or captured: a new
/// payment attempt may start). The hold overlay blocks only `Ship`, `Complete` and `Expire`;
/// payments, deliveries (a carrier fact), cancellation and returns go on regardless.
///
/// | command | requires | effect | event |
/// |---|---|---|---|
/// | `Authorize` | `Placed`, unpaid | payment `Authorized` | `PaymentAuthorized` |
/// | `Capture` | `Placed`, `Authorized` | payment `Paid`, `paid_amount = total`, `Confirmed` | `PaymentCaptured` |
/// | `Pay` | `Placed`, unpaid or `Authorized` (a retry after `Failed` is allowed) | as `Capture` | `PaymentCaptured` |
/// | `FailPayment` | `Placed`, `NotPaid`/`Authorized`/`Voided` | payment `Failed` | `PaymentFailed` |
/// | `Void` | `Authorized` (only ever seen in `Placed`) | payment `Voided` | `PaymentVoided` |
/// | `Ship{line}` | `Confirmed`/`Fulfilling`, `Paid`, not on hold; the line `Unfulfilled` (or, for `None`, at least one is) | those lines `Shipped`, `Fulfilling` | `LineShipped{lines}` |
/// | `Deliver{line}` | `Fulfilling`; the line `Shipped` (or, for `None`, at least one is) | those lines `Delivered`; all delivered: `Delivered` | `LineDelivered{lines}` |
/// | `Complete` | `Delivered`, not on hold | `Completed` | `Completed` |
/// | `Cancel{reason}` | `Placed`/`Confirmed` (so nothing shipped) | `Cancelled`, hold cleared; `Authorized` becomes `Voided`; `Paid` becomes `Refunded` with `refunded_amount = paid_amount` | `Cancelled{reason}` |
/// | `Expire` | `Placed`, unpaid, not on hold | `Expired` | `Expired` |
/// | `Hold{reason}` | not on hold, `Placed`/`Confirmed`/`Fulfilling` | `on_hold` | `HoldPlaced{reason}` |
/// | `ReleaseHold` | on hold | hold cleared | `HoldReleased` |
/// | `RequestReturn{line}` | `Delivered`/`Completed`, returns `None` | the line (or all lines) `returned`; returns `Requested` | `ReturnRequested{lines}` |
/// | `ReceiveReturn` | returns `Requested` | returns `Received` | `ReturnReceived` |
/// | `Refund{amount}` | returns `Received`; amount (default: returned lines' totals, capped at `refundable()`) in `1..=refundable()` | `refunded_amount += amount`; payment `Refunded` if all refunded else `PartiallyRefunded`; returns `Refunded` | `Refunded{amount}` |
///
/// An order has at most one return: after `Refund`, `RequestReturn` is illegal.
pub fn apply(
    order: &Order,
    cmd: &OrderCommand,
    expected_version: Option<u64>,
    now_ms: u64,
) -> Result<(Order, OrderEvent), OrderError> {
    if let Some(expected) = expected_version
        && expected != order.version
    {
        return Err(OrderError::VersionConflict {
            expected,
            actual: order.version,
        });
    }
    check_arguments(order, cmd)?;
    let version = order
        .version
        .checked_add(1)
        .ok_or_else(|| illegal(order, cmd, "the order's version counter is exhausted"))?;

    let mut next = order.clone();
    let kind = transition(&mut next, cmd).map_err(|reason| illegal(order, cmd, reason))?;
    next.version = version;
    next.updated_at_ms = order.updated_at_ms.max(now_ms);
    let event = OrderEvent::after(&next, kind);
    Ok((next, event))
}

/// Argument checks that depend on the order's shape but not its state.
fn check_arguments(order: &Order, cmd: &OrderCommand) -> Result<(), OrderError> {
    match cmd {
        OrderCommand::Ship { line: Some(line) }
        | OrderCommand::Deliver { line: Some(line) }
        | OrderCommand::RequestReturn { line: Some(line) } => {
            if usize::try_from(*line).is_ok_and(|i| i < order.lines.len()) {
                Ok(())
            } else {
                Err(OrderError::LineOutOfRange {
                    line: *line,
                    lines: u32::try_from(order.lines.len()).unwrap_or(u32::MAX),
                })
            }
        }
        OrderCommand::Refund { amount } => Ok(validate_refund_amount(*amount)?),
        _ => Ok(()),
    }
}

fn illegal(order: &Order, cmd: &OrderCommand, reason: impl Into<String>) -> OrderError {
    OrderError::IllegalTransition {
        command: cmd.name().to_owned(),
        current: order.display_status().as_str().to_owned(),
        lifecycle: order.lifecycle.as_str().to_owned(),
        payment: order.payment.as_str().to_owned(),
        reason: reason.into(),
    }
}

/// Payment states from which a new payment attempt may start.
const UNPAID: &[PaymentState] = &[
    PaymentState::NotPaid,
    PaymentState::Failed,
    PaymentState::Voided,
];

/// Checks the rule for `cmd` on `o` and, if it holds, changes `o` (except version and time) and
/// returns the event kind; otherwise returns the broken rule and `o` must be discarded.
fn transition(o: &mut Order, cmd: &OrderCommand) -> Result<OrderEventKind, String> {
    use Lifecycle as L;
    use PaymentState as P;
    match cmd {
        OrderCommand::Authorize => {
            require_lifecycle(o, &[L::Placed])?;
            require_payment(o, UNPAID)?;
            o.payment = P::Authorized;
            Ok(OrderEventKind::PaymentAuthorized)
        }
        OrderCommand::Capture => {
            require_lifecycle(o, &[L::Placed])?;
            require_payment(o, &[P::Authorized])?;
            capture(o);
            Ok(OrderEventKind::PaymentCaptured)
        }
        OrderCommand::Pay => {
            require_lifecycle(o, &[L::Placed])?;
            require_payment(o, &[P::NotPaid, P::Failed, P::Voided, P::Authorized])?;
            capture(o);
            Ok(OrderEventKind::PaymentCaptured)
        }
        OrderCommand::FailPayment => {
            require_lifecycle(o, &[L::Placed])?;
            require_payment(o, &[P::NotPaid, P::Authorized, P::Voided])?;
            o.payment = P::Failed;
            Ok(OrderEventKind::PaymentFailed)
        }
        OrderCommand::Void => {
            require_payment(o, &[P::Authorized])?;
            o.payment = P::Voided;
            Ok(OrderEventKind::PaymentVoided)
        }
        OrderCommand::Ship { line } => {
            require_not_on_hold(o)?;
            require_lifecycle(o, &[L::Confirmed, L::Fulfilling])?;
            require_payment(o, &[P::Paid])?;
            let lines = move_lines(
                o,
                *line,
                LineFulfillment::Unfulfilled,
                LineFulfillment::Shipped,
            )?;
            o.lifecycle = L::Fulfilling;
            Ok(OrderEventKind::LineShipped { lines })
        }
        OrderCommand::Deliver { line } => {
            require_lifecycle(o, &[L::Fulfilling])?;
            let lines = move_lines(
                o,
                *line,
                LineFulfillment::Shipped,
                LineFulfillment::Delivered,
            )?;
            if o.all_delivered() {
                o.lifecycle = L::Delivered;
            }
            Ok(OrderEventKind::LineDelivered { lines })
        }
        OrderCommand::Complete => {
            require_not_on_hold(o)?;
            require_lifecycle(o, &[L::Delivered])?;
            o.lifecycle = L::Completed;
            Ok(OrderEventKind::Completed)
        }
        OrderCommand::Cancel { reason } => {
            require_lifecycle(o, &[L::Placed, L::Confirmed])?;
            if o.any_shipped() {
                // Unreachable while the invariants hold (shipping moves the order to
                // Fulfilling); kept so that cancel can never strand shipped goods.
                return Err("a line has already shipped".to_owned());
            }
            match o.payment {
                P::Authorized => o.payment = P::Voided,
                P::Paid => {
                    o.refunded_amount = o.paid_amount;
                    o.payment = P::Refunded;
                }
                _ => {}
            }
            o.lifecycle = L::Cancelled;
            o.on_hold = false;
            Ok(OrderEventKind::Cancelled {
                reason: reason.clone(),
            })
        }
        OrderCommand::Expire => {
            require_not_on_hold(o)?;
            require_lifecycle(o, &[L::Placed])?;
            require_payment(o, UNPAID)?;
            o.lifecycle = L::Expired;
            Ok(OrderEventKind::Expired)
        }
        OrderCommand::Hold { reason } => {
            require_not_on_hold(o)?;
            require_lifecycle(o, &[L::Placed, L::Confirmed, L::Fulfilling])?;
            o.on_hold = true;
            Ok(OrderEventKind::HoldPlaced {
                reason: reason.clone(),
            })
        }
        OrderCommand::ReleaseHold => {
            if !o.on_hold {
                return Err("the order is not on hold".to_owned());
            }
            o.on_hold = false;
            Ok(OrderEventKind::HoldReleased)
        }
        OrderCommand::RequestReturn { line } => {
            require_lifecycle(o, &[L::Delivered, L::Completed])?;
            require_returns(o, ReturnState::None)?;
            let mut lines = Vec::new();
            for (i, l) in o.lines.iter_mut().enumerate() {
                let Ok(index) = u32::try_from(i) else { break };
                if line.is_none_or(|wanted| wanted == index) {
                    l.returned = true;
                    lines.push(index);
                }
            }
            o.returns = ReturnState::Requested;
            Ok(OrderEventKind::ReturnRequested { lines })
        }
        OrderCommand::ReceiveReturn => {
            require_returns(o, ReturnState::Requested)?;
            o.returns = ReturnState::Received;
            Ok(OrderEventKind::ReturnReceived)
        }
        OrderCommand::Refund { amount } => {
            require_returns(o, ReturnState::Received)?;
            let refundable = o.refundable();
            let amount = match amount {
                Some(amount) => *amount,
                None => o
                    .lines
                    .iter()
                    .filter(|l| l.returned)
                    .fold(0u64, |sum, l| sum.saturating_add(l.line_total))
                    .min(refundable),
            };
            if amount == 0 {
                return Err("nothing to refund".to_owned());
            }
            if amount > refundable {
                return Err(format!(
                    "amount {amount} exceeds the refundable {refundable}"
                ));
            }
            // Cannot overflow: amount <= paid_amount - refunded_amount.
            o.refunded_amount += amount;
            o.payment = if o.refunded_amount == o.paid_amount {
                P::Refunded
            } else {
                P::PartiallyRefunded
            };
            o.returns = ReturnState::Refunded;
            Ok(OrderEventKind::Refunded { amount })
        }
    }
}

fn capture(o: &mut Order) {
    o.payment = PaymentState::Paid;
    o.paid_amount = o.total;
    o.lifecycle = Lifecycle::Confirmed;
}

/// Moves the given line (or every line) in state `from` to `to`; returns the moved indices in
/// ascending order. Fails if the named line is not in `from`, or if no line is.
fn move_lines(
    o: &mut Order,
    line: Option<u32>,
    from: LineFulfillment,
    to: LineFulfillment,
) -> Result<Vec<u32>, String> {
    let mut moved = Vec::new();
    for (i, l) in o.lines.iter_mut().enumerate() {
        let Ok(index) = u32::try_from(i) else { break };
        if line.is_none_or(|wanted| wanted == index) {
            if l.fulfillment == from {
                l.fulfillment = to;
                moved.push(index);
            } else if line.is_some() {
                return Err(format!("line {index} is {}, not {from}", l.fulfillment));
            }
        }
    }
    if moved.is_empty() {
        return Err(format!("no line is {from}"));
    }
    Ok(moved)
}

fn require_lifecycle(o: &Order, allowed: &[Lifecycle]) -> Result<(), String> {
    if allowed.contains(&o.lifecycle) {
        Ok(())
    } else {
        Err(format!(
            "lifecycle is {}, needs {}",
            o.lifecycle,
            one_of(allowed)
        ))
    }
}

fn require_payment(o: &Order, allowed: &[PaymentState]) -> Result<(), String> {
    if allowed.contains(&o.payment) {
        Ok(())
    } else {
        Err(format!(
            "payment is {}, needs {}",
            o.payment,
            one_of(allowed)
        ))
    }
}

fn require_returns(o: &Order, wanted: ReturnState) -> Result<(), String> {
    if o.returns == wanted {
        Ok(())
    } else {
        Err(format!("return state is {}, needs {wanted}", o.returns))
    }
}

fn require_not_on_hold(o: &Order) -> Result<(), String> {
    if o.on_hold {
        Err("the order is on hold".to_owned())
    } else {
        Ok(())
    }
}

fn one_of<T: std::fmt::Display>(states: &[T]) -> String {
    states
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}
