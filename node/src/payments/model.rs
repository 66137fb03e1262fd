//! Data types of the built-in payment ledger: accounts, authorizations and the events a change
//! produces.
//!
//! Every type here is stored with bincode v1, which encodes enum variants by their **index** and
//! struct fields by their **position**. So: append new variants and fields at the end only, never
//! reorder or remove them, and bump [`PAYMENT_EVENT_SCHEMA_VERSION`] when an event's shape
//! changes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::inventory::model::named_enum;

/// Schema version stamped on every [`PaymentEvent`]; consumers upcast older versions on read.
pub const PAYMENT_EVENT_SCHEMA_VERSION: u32 = 1;

/// `decline_reason` of an authorization refused because the balance was below the amount.
pub const DECLINE_INSUFFICIENT_FUNDS: &str = "insufficient_funds";
/// `decline_reason` of an authorization whose currency is not the account's.
pub const DECLINE_CURRENCY_MISMATCH: &str = "currency_mismatch";

/// An account of the built-in ledger provider. Amounts are minor units of `currency`.
///
/// Invariants kept by [`super::ledger::apply`] (and checked by the property tests):
/// - `balance + held + (captured - refunded) == credited` and `refunded <= captured`, computed
///   without overflow ([`Account::is_balanced`]): money is neither created nor lost;
/// - `held` is the sum of the amounts of the account's `Authorized` authorizations, and
///   `captured - refunded` the sum of `amount - refunded` over its captured ones;
/// - `version` counts applied changes (1 after opening) and `updated_at_ms` never decreases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    /// ISO 4217 code, three uppercase ASCII letters.
    pub currency: String,
    /// Spendable now.
    pub balance: u64,
    /// Authorized, not captured.
    pub held: u64,
    /// Ever captured.
    pub captured: u64,
    /// Ever refunded back to the balance.
    pub refunded: u64,
    /// Ever credited, including the opening credit.
    pub credited: u64,
    /// Count of applied changes (1 after opening). Also the sequence of the latest event.
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Account {
    /// True when `balance + held + (captured - refunded) == credited` holds without overflow
    /// or underflow (so also `refunded <= captured`): the conservation identity the reconciler
    /// checks per account.
    pub fn is_balanced(&self) -> bool {
        let net_captured = self.captured.checked_sub(self.refunded);
        let total = net_captured
            .and_then(|net| net.checked_add(self.balance))
            .and_then(|sum| sum.checked_add(self.held));
        total == Some(self.credited)
    }
}

named_enum! {
    /// Where an [`Authorization`] is. Only `Authorized` holds money (in the account's `held`);
    /// the three captured states hold `amount - refunded` in `captured - refunded`.
    pub enum AuthorizationState {
        /// `amount` moved from the balance to `held`.
        Authorized => "AUTHORIZED",
        /// Refused (see `decline_reason`); holds nothing. Final.
        Declined => "DECLINED",
        /// `amount` moved from `held` to `captured`.
        Captured => "CAPTURED",
        /// Released back to the balance (or a tombstone for a void that came before its
        /// authorize, with amount 0). Holds nothing. Final.
        Voided => "VOIDED",
        /// Captured, and `0 < refunded < amount` went back to the balance.
        PartiallyRefunded => "PARTIALLY_REFUNDED",
        /// Captured, and all of it went back to the balance. Final.
        Refunded => "REFUNDED",
    }
}

impl AuthorizationState {
    /// True for the states reached through a capture: `Captured`, `PartiallyRefunded`,
    /// `Refunded`.
    pub const fn is_captured(self) -> bool {
        matches!(
            self,
            AuthorizationState::Captured
                | AuthorizationState::PartiallyRefunded
                | AuthorizationState::Refunded
        )
    }
}

/// An authorization against one account, keyed by (account id, auth id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The saga id.
    pub auth_id: String,
    pub account_id: String,
    /// Amount asked for, in minor units; 0 only for a void tombstone.
    pub amount: u64,
    /// Refunded so far, at most `amount`; 0 unless captured.
    pub refunded: u64,
    pub state: AuthorizationState,
    /// Why it was declined ([`DECLINE_INSUFFICIENT_FUNDS`] or [`DECLINE_CURRENCY_MISMATCH`]);
    /// `None` unless `Declined`.
    pub decline_reason: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Authorization {
    /// What a refund may still return: `amount - refunded` once captured, else 0.
    pub fn refundable(&self) -> u64 {
        if self.state.is_captured() {
            self.amount.saturating_sub(self.refunded)
        } else {
            0
        }
    }
}

/// What happened to an account. Exactly one event is produced per applied change; replays
/// produce none. Amounts are minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentEventKind {
    /// The account was opened (sequence 1) with this opening credit.
    Opened {
        currency: String,
        initial_credit: u64,
    },
    Credited {
        amount: u64,
    },
    /// `amount` moved from the balance to held.
    Authorized {
        auth_id: String,
        amount: u64,
    },
    /// The authorization of `amount` was refused for `reason`; nothing moved.
    Declined {
        auth_id: String,
        amount: u64,
        reason: String,
    },
    /// `amount` moved from held to captured.
    Captured {
        auth_id: String,
        amount: u64,
    },
    /// `amount` moved from held back to the balance (0 for a tombstone).
    Voided {
        auth_id: String,
        amount: u64,
    },
    /// `amount` of a captured authorization went back to the balance.
    Refunded {
        auth_id: String,
        amount: u64,
    },
}

impl PaymentEventKind {
    /// The stable SCREAMING_SNAKE event type, e.g. `"DECLINED"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            PaymentEventKind::Opened { .. } => "OPENED",
            PaymentEventKind::Credited { .. } => "CREDITED",
            PaymentEventKind::Authorized { .. } => "AUTHORIZED",
            PaymentEventKind::Declined { .. } => "DECLINED",
            PaymentEventKind::Captured { .. } => "CAPTURED",
            PaymentEventKind::Voided { .. } => "VOIDED",
            PaymentEventKind::Refunded { .. } => "REFUNDED",
        }
    }
}

impl fmt::Display for PaymentEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry of an account's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub account_id: String,
    /// The account's `version` after the change: 1 for `Opened`, then consecutive.
    pub sequence: u64,
    /// [`PAYMENT_EVENT_SCHEMA_VERSION`] at the time the event was produced.
    pub schema_version: u32,
    pub kind: PaymentEventKind,
    /// The account's `updated_at_ms` after the change (so event times never go backwards).
    pub at_ms: u64,
    /// The account's `balance` after the change.
    pub balance: u64,
    /// The account's `held` after the change.
    pub held: u64,
}

impl PaymentEvent {
    /// The event describing `account`'s latest change: sequence, time and amounts are taken
    /// from the account as it is *after* the change.
    pub fn after(account: &Account, kind: PaymentEventKind) -> PaymentEvent {
        PaymentEvent {
            account_id: account.account_id.clone(),
            sequence: account.version,
            schema_version: PAYMENT_EVENT_SCHEMA_VERSION,
            kind,
            at_ms: account.updated_at_ms,
            balance: account.balance,
            held: account.held,
        }
    }
}
