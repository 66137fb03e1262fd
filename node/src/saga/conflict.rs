//! The conflict matrix: what a client's order command may do while the order's purchase saga
//! owns the order's payment and stock.
//!
//! | command | saga active or parked, before the pivot | saga active or parked, past the pivot | saga ended |
//! |---|---|---|---|
//! | `HOLD`, `RELEASE_HOLD` | allowed (commutes with the saga) | allowed | allowed |
//! | `CANCEL` | routed to the saga: it compensates | rejected: refund instead | allowed before capture; rejected after (refunds of saga payments need a refund saga) |
//! | `AUTHORIZE`, `CAPTURE`, `PAY`, `FAIL_PAYMENT`, `VOID`, `EXPIRE` | rejected: the saga drives payment | rejected | rejected after capture, allowed otherwise |
//! | `SHIP`, `DELIVER`, `COMPLETE` | rejected: not confirmed yet | rejected until the stock is committed | allowed (the order machine decides) |
//! | `REQUEST_RETURN`, `RECEIVE_RETURN` | rejected | rejected | allowed |
//! | `REFUND` | rejected | rejected | rejected: a refund of a saga payment must move money on the ledger |
//!
//! "Allowed" hands the command to the order machine, which still applies its own rules.

use super::machine::SagaInput;
use super::model::PurchaseSaga;
use crate::order::OrderCommand;

/// What happens to an order command on an order with a purchase saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it to the order as usual.
    Allow,
    /// Feed this input to the saga instead (e.g. a cancellation becomes compensation).
    ToSaga(SagaInput),
    /// Refuse it; nothing changes. The reason names the conflict.
    Reject { reason: String },
}

/// Decides `cmd` against `saga` (see the module table).
pub fn order_command_verdict(saga: &PurchaseSaga, cmd: &OrderCommand) -> Verdict {
    let reject = |reason: &str| Verdict::Reject {
        reason: format!(
            "order {} has a purchase saga ({}): {reason}",
            saga.order_id, saga.status
        ),
    };
    let ended = saga.status.is_terminal();
    let captured = saga.past_pivot();
    match cmd {
        OrderCommand::Hold { .. } | OrderCommand::ReleaseHold => Verdict::Allow,
        OrderCommand::Cancel { reason } => {
            if captured {
                reject("payment captured; refund instead of cancelling")
            } else if ended {
                Verdict::Allow
            } else {
                Verdict::ToSaga(SagaInput::CancelRequested {
                    reason: format!("cancelled: {reason}"),
                })
            }
        }
        OrderCommand::Authorize
        | OrderCommand::Capture
        | OrderCommand::Pay
        | OrderCommand::FailPayment
        | OrderCommand::Void
        | OrderCommand::Expire => {
            if ended && !captured {
                Verdict::Allow
            } else {
                reject("the saga drives the payment")
            }
        }
        OrderCommand::Ship { .. } | OrderCommand::Deliver { .. } | OrderCommand::Complete => {
            if ended {
                Verdict::Allow
            } else {
                reject("the purchase is not finished")
            }
        }
        OrderCommand::RequestReturn { .. } | OrderCommand::ReceiveReturn => {
            if ended {
                Verdict::Allow
            } else {
                reject("the purchase is not finished")
            }
        }
        OrderCommand::Refund { .. } => {
            reject("refunds of saga payments need a refund saga, which is not built yet")
        }
    }
}
