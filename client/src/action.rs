//! [`Action`]: the commands an order accepts, and their CLI spelling.

use std::fmt;
use std::str::FromStr;

use orderstore_proto::v1::OrderAction;

/// A command applied to an existing order by [`crate::Client::order_command`]. Whether it
/// applies depends on the order's state; when it does not, the server answers
/// [`crate::ClientError::IllegalTransition`] and the order is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Authorize,
    Capture,
    /// Authorize and capture in one step.
    Pay,
    FailPayment,
    Void,
    /// Ship one line ([`crate::CommandOptions::line`]) or every eligible line.
    Ship,
    Deliver,
    Complete,
    /// Cancel, with an optional [`crate::CommandOptions::reason`].
    Cancel,
    Expire,
    Hold,
    ReleaseHold,
    RequestReturn,
    ReceiveReturn,
    /// Refund [`crate::CommandOptions::amount`], or everything still refundable.
    Refund,
}

impl Action {
    /// Every action, in protocol order.
    pub const ALL: [Action; 15] = [
        Action::Authorize,
        Action::Capture,
        Action::Pay,
        Action::FailPayment,
        Action::Void,
        Action::Ship,
        Action::Deliver,
        Action::Complete,
        Action::Cancel,
        Action::Expire,
        Action::Hold,
        Action::ReleaseHold,
        Action::RequestReturn,
        Action::ReceiveReturn,
        Action::Refund,
    ];

    /// The kebab-case name used by `orderctl`, e.g. `release-hold`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Authorize => "authorize",
            Action::Capture => "capture",
            Action::Pay => "pay",
            Action::FailPayment => "fail-payment",
            Action::Void => "void",
            Action::Ship => "ship",
            Action::Deliver => "deliver",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
            Action::Expire => "expire",
            Action::Hold => "hold",
            Action::ReleaseHold => "release-hold",
            Action::RequestReturn => "request-return",
            Action::ReceiveReturn => "receive-return",
            Action::Refund => "refund",
        }
    }
}

/// Returned by `Action::from_str` for a name that is no action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {name:?}; expected one of: {}", Action::ALL.map(Action::as_str).join(", "))]
pub struct UnknownAction {
    pub name: String,
}

impl FromStr for Action {
    type Err = UnknownAction;

    /// Accepts the kebab-case name (`release-hold`), snake case or the protocol's upper case
    /// (`RELEASE_HOLD`); `return` is accepted for `request-return`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if norm == "return" {
            return Ok(Action::RequestReturn);
        }
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == norm)
            .ok_or_else(|| UnknownAction {
                name: s.to_string(),
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Action> for OrderAction {
    fn from(a: Action) -> Self {
        match a {
            Action::Authorize => OrderAction::Authorize,
            Action::Capture => OrderAction::Capture,
            Action::Pay => OrderAction::Pay,
            Action::FailPayment => OrderAction::FailPayment,
            Action::Void => OrderAction::Void,
            Action::Ship => OrderAction::Ship,
            Action::Deliver => OrderAction::Deliver,
            Action::Complete => OrderAction::Complete,
            Action::Cancel => OrderAction::Cancel,
            Action::Expire => OrderAction::Expire,
            Action::Hold => OrderAction::Hold,
            Action::ReleaseHold => OrderAction::ReleaseHold,
            Action::RequestReturn => OrderAction::RequestReturn,
            Action::ReceiveReturn => OrderAction::ReceiveReturn,
            Action::Refund => OrderAction::Refund,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_accept_protocol_spelling() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
            let protocol = OrderAction::from(a).as_str_name();
            assert_eq!(protocol.parse::<Action>(), Ok(a), "{protocol}");
        }
        assert_eq!("RELEASE_HOLD".parse::<Action>(), Ok(Action::ReleaseHold));
        assert_eq!("return".parse::<Action>(), Ok(Action::RequestReturn));
        let err = "teleport".parse::<Action>().unwrap_err().to_string();
        assert!(err.contains("unknown action \"teleport\"") && err.contains("release-hold"));
    }
}
