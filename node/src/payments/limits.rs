//! Bounds on every argument of a payment operation, and the validator that enforces them.
//!
//! [`super::ledger::apply`] checks its [`PaymentLimits`] before anything else, so an operation
//! that breaks a limit changes nothing. Because apply runs when a Raft entry is applied, every
//! replica must pass the **same** limits for the same entry (use [`PaymentLimits::default`], or
//! the limits recorded in the log entry); call [`validate_op`] at the API edge to refuse bad
//! input before it is proposed.

use serde::{Deserialize, Serialize};

use super::ledger::{PaymentError, PaymentOp};
use crate::inventory::limits::check_id;

/// Bounds on client-supplied arguments. Lengths are in bytes of UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLimits {
    /// Largest amount of one operation, in minor units (default 10^15).
    pub max_amount: u64,
    /// Longest account id (default 128).
    pub max_account_id_len: usize,
    /// Longest authorization id (default 128).
    pub max_auth_id_len: usize,
}

impl Default for PaymentLimits {
    fn default() -> Self {
        PaymentLimits {
            max_amount: 1_000_000_000_000_000,
            max_account_id_len: 128,
            max_auth_id_len: 128,
        }
    }
}

/// Longest prefix of a bad currency echoed back in [`PaymentError::InvalidCurrency`].
const CURRENCY_ECHO_LEN: usize = 8;

/// Checks the arguments of `op` on account `account_id` against `limits`, in this order:
/// `account_id`, then the op's own fields in declaration order. Returns the first violation:
/// [`PaymentError::InvalidId`] for an id (non-empty, at most the limit, `[A-Za-z0-9._:-]`),
/// [`PaymentError::InvalidCurrency`] for a currency that is not three ASCII uppercase letters
/// (echoing at most its first 8 characters), [`PaymentError::InvalidAmount`] for an amount out
/// of `1..=max_amount` (`0..=max_amount` for `initial_credit`).
///
/// Depends on nothing but its arguments; [`super::ledger::apply`] calls it first.
pub fn validate_op(
    account_id: &str,
    op: &PaymentOp,
    limits: &PaymentLimits,
) -> Result<(), PaymentError> {
    check_id(account_id, limits.max_account_id_len).map_err(|reason| PaymentError::InvalidId {
        field: "account_id",
        reason,
    })?;
    match op {
        PaymentOp::Open {
            currency,
            initial_credit,
        } => {
            check_currency(currency)?;
            check_amount("initial_credit", *initial_credit, 0, limits)
        }
        PaymentOp::Credit { amount } => check_amount("amount", *amount, 1, limits),
        PaymentOp::Authorize {
            auth_id,
            amount,
            currency,
        } => {
            check_auth_id(auth_id, limits)?;
            check_amount("amount", *amount, 1, limits)?;
            check_currency(currency)
        }
        PaymentOp::Capture { auth_id } | PaymentOp::Void { auth_id } => {
            check_auth_id(auth_id, limits)
        }
        PaymentOp::Refund { auth_id, amount } => {
            check_auth_id(auth_id, limits)?;
            check_amount("amount", *amount, 1, limits)
        }
    }
}

fn check_auth_id(auth_id: &str, limits: &PaymentLimits) -> Result<(), PaymentError> {
    check_id(auth_id, limits.max_auth_id_len).map_err(|reason| PaymentError::InvalidId {
        field: "auth_id",
        reason,
    })
}

fn check_currency(currency: &str) -> Result<(), PaymentError> {
    crate::order::validate_currency(currency).map_err(|_| PaymentError::InvalidCurrency {
        currency: currency.chars().take(CURRENCY_ECHO_LEN).collect(),
    })
}

fn check_amount(
    field: &'static str,
    value: u64,
    min: u64,
    limits: &PaymentLimits,
) -> Result<(), PaymentError> {
    if value < min || value > limits.max_amount {
        return Err(PaymentError::InvalidAmount {
            field,
            reason: format!("must be in {min}..={}, got {value}", limits.max_amount),
        });
    }
    Ok(())
}
