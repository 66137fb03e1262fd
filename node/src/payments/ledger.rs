//! The payment ledger of one account: [`apply`] runs one [`PaymentOp`] against an account and,
//! for the operations that name an authorization, the authorization record with that id. It is
//! pure and deterministic: the same inputs give the same [`PaymentChange`] on every replica.

use serde::{Deserialize, Deserializer, Serialize};

use super::limits::{PaymentLimits, validate_op};
use super::model::{
    Account, Authorization, AuthorizationState, DECLINE_CURRENCY_MISMATCH,
    DECLINE_INSUFFICIENT_FUNDS, PaymentEvent, PaymentEventKind,
};
use crate::inventory::limits::static_name;

/// An operation on one account. What each requires and does is tabulated on [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentOp {
    /// Open the account with an opening credit (may be 0).
    Open {
        currency: String,
        initial_credit: u64,
    },
    /// Add money (> 0) to the balance.
    Credit { amount: u64 },
    /// Hold `amount` for saga `auth_id`: balance >= amount -> hold; else stored Declined
    /// (reason "insufficient_funds"); currency mismatch -> stored Declined ("currency_mismatch").
    Authorize {
        auth_id: String,
        amount: u64,
        currency: String,
    },
    /// Authorized -> Captured (held -= amount, captured += amount).
    Capture { auth_id: String },
    /// Authorized -> Voided (held -> balance). Void of an unknown id stores a Voided tombstone
    /// with amount 0 so a late Authorize replays Voided and holds nothing.
    Void { auth_id: String },
    /// Give `amount` of a captured authorization back to the balance; the total refunded stays
    /// at most the captured amount.
    Refund { auth_id: String, amount: u64 },
}

impl PaymentOp {
    /// The stable SCREAMING_SNAKE name, e.g. `"AUTHORIZE"`.
    pub const fn name(&self) -> &'static str {
        match self {
            PaymentOp::Open { .. } => "OPEN",
            PaymentOp::Credit { .. } => "CREDIT",
            PaymentOp::Authorize { .. } => "AUTHORIZE",
            PaymentOp::Capture { .. } => "CAPTURE",
            PaymentOp::Void { .. } => "VOID",
            PaymentOp::Refund { .. } => "REFUND",
        }
    }

    /// The authorization id whose record [`apply`] must be given (the record stored under
    /// (account id, auth id), or `None` if there is none yet). `None` for `Open` and `Credit`.
    pub fn auth_id(&self) -> Option<&str> {
        match self {
            PaymentOp::Authorize { auth_id, .. }
            | PaymentOp::Capture { auth_id }
            | PaymentOp::Void { auth_id }
            | PaymentOp::Refund { auth_id, .. } => Some(auth_id),
            PaymentOp::Open { .. } | PaymentOp::Credit { .. } => None,
        }
    }
}

/// The result of a successful [`apply`]: what to store and what to answer.
///
/// Contract: when `event` is `None` nothing changed (a replay): `account` is an unchanged copy
/// of the input and `authorization` is `None`, so the caller may skip the write. When `event`
/// is `Some`, the caller stores `account`, `authorization` (if `Some`) and the event atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChange {
    /// The account after the operation (an unchanged copy if nothing changed).
    pub account: Account,
    /// The new or updated authorization record to store, if any.
    pub authorization: Option<Authorization>,
    /// The event describing the change; `None` when nothing changed.
    pub event: Option<PaymentEvent>,
    /// What to answer the caller.
    pub reply: PaymentReply,
}

/// The answer to a successful operation. Authorization replies carry the record as it is after
/// the operation (or as stored, for a replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentReply {
    /// Open or credit applied; the account is in [`PaymentChange::account`].
    Account,
    Authorized {
        authorization: Authorization,
    },
    Declined {
        authorization: Authorization,
    },
    Captured {
        authorization: Authorization,
    },
    Voided {
        authorization: Authorization,
    },
    /// A refund applied, or an authorize replayed against a (partially) refunded record.
    Refunded {
        authorization: Authorization,
    },
    /// Nothing to do. Not produced by the current rules; kept for callers and future rules.
    Unchanged,
}

/// Field names carried by [`PaymentError`] variants (for deserializing them as `&'static str`).
const FIELD_NAMES: &[&str] = &[
    "account_id",
    "auth_id",
    "currency",
    "amount",
    "initial_credit",
    "balance",
    "held",
    "captured",
    "refunded",
    "credited",
    "version",
];
/// Operation names carried by [`PaymentError::IllegalAuthorizationTransition`].
const OP_NAMES: &[&str] = &["OPEN", "CREDIT", "AUTHORIZE", "CAPTURE", "VOID", "REFUND"];

/// `&'static str` under another name, so that serde's derive does not treat the field as
/// borrowed from the input (which would make the error deserializable only from `'static`
/// data); the `deserialize_with` functions read an owned string and intern it.
type StaticName = &'static str;

fn field_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    static_name::deserialize(deserializer, FIELD_NAMES)
}

fn op_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    static_name::deserialize(deserializer, OP_NAMES)
}

/// Why [`apply`] refused. Nothing changed when one of these is returned: the caller writes
/// nothing. See [`PaymentError::kind`] for what the client should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PaymentError {
    /// Returned for any operation but `Open` when the account does not exist.
    #[error("account {account_id} does not exist")]
    UnknownAccount { account_id: String },
    /// Returned by `Open` when the account exists (always, even with the same currency and
    /// credit: opening is not idempotent, re-read the account instead).
    #[error("account {account_id} already exists")]
    AccountExists { account_id: String },
    /// Returned when an amount is 0 where it must be positive, or over `max_amount`.
    #[error("invalid {field}: {reason}")]
    InvalidAmount {
        #[serde(deserialize_with = "field_name")]
        field: StaticName,
        reason: String,
    },
    /// Returned when an account or auth id is empty, too long or has a character that is not
    /// allowed.
    #[error("invalid {field}: {reason}")]
    InvalidId {
        #[serde(deserialize_with = "field_name")]
        field: StaticName,
        reason: String,
    },
    /// Returned when a currency is not three ASCII uppercase letters (`currency` is at most its
    /// first 8 characters). A well-formed currency that differs from the account's is not an
    /// error: the authorization is stored `Declined`.
    #[error("invalid currency {currency:?}: must be 3 ASCII uppercase letters (ISO 4217)")]
    InvalidCurrency { currency: String },
    /// Returned by `Capture` and `Refund` for an auth id with no record on this account.
    #[error("no authorization {auth_id} on this account")]
    UnknownAuthorization { auth_id: String },
    /// Returned when the authorization's state forbids the operation `op`: capture of a voided
    /// or declined one, void of a captured one, refund of one that was never captured.
    #[error("cannot {op} authorization {auth_id} in state {from}")]
    IllegalAuthorizationTransition {
        auth_id: String,
        from: AuthorizationState,
        #[serde(deserialize_with = "op_name")]
        op: StaticName,
    },
    /// Returned by `Refund` when `requested` is more than the `refundable` rest of the capture.
    #[error("refund of {requested} exceeds the {refundable} still refundable on {auth_id}")]
    RefundExceedsCapture {
        auth_id: String,
        refundable: u64,
        requested: u64,
    },
    /// Returned when arithmetic on `field` would overflow (a lifetime counter or the version is
    /// exhausted) or underflow (the account and the authorization disagree, which means stored
    /// data is corrupt).
    #[error("arithmetic on {field} would overflow")]
    Overflow {
        #[serde(deserialize_with = "field_name")]
        field: StaticName,
    },
    /// Returned when the account passed to [`apply`] is not `account_id`: a bug in the caller.
    #[error("the account record passed is not account {account_id}")]
    AccountMismatch { account_id: String },
    /// Returned when the authorization passed to [`apply`] is not the one of this operation's
    /// auth id and account (see [`PaymentOp::auth_id`]), or is passed without its account: a
    /// bug in the caller.
    #[error("the authorization record passed ({auth_id}) does not belong to this operation")]
    RecordMismatch { auth_id: String },
}

impl PaymentError {
    /// Machine-readable class for `ErrorDetail.kind`, which tells the client what to do:
    /// `"INVALID_ARGUMENT"` (fix the request; never retry as is), `"NOT_FOUND"`,
    /// `"ALREADY_EXISTS"`, `"FAILED_PRECONDITION"` (the state forbids it; re-read, do not retry
    /// blindly) or `"INTERNAL"` (a caller bug or corrupt data; do not retry).
    pub const fn kind(&self) -> &'static str {
        match self {
            PaymentError::InvalidAmount { .. }
            | PaymentError::InvalidId { .. }
            | PaymentError::InvalidCurrency { .. } => "INVALID_ARGUMENT",
            PaymentError::UnknownAccount { .. } | PaymentError::UnknownAuthorization { .. } => {
                "NOT_FOUND"
            }
            PaymentError::AccountExists { .. } => "ALREADY_EXISTS",
            PaymentError::IllegalAuthorizationTransition { .. }
            | PaymentError::RefundExceedsCapture { .. }
            | PaymentError::Overflow { .. } => "FAILED_PRECONDITION",
            PaymentError::AccountMismatch { .. } | PaymentError::RecordMismatch { .. } => {
                "INTERNAL"
            }
        }
    }

    /// The offending field for `ErrorDetail.field`, for `INVALID_ARGUMENT` errors.
    pub const fn field(&self) -> Option<&'static str> {
        match self {
            PaymentError::InvalidAmount { field, .. } | PaymentError::InvalidId { field, .. } => {
                Some(field)
            }
            PaymentError::InvalidCurrency { .. } => Some("currency"),
            _ => None,
        }
    }
}

/// Applies `op` to account `account_id`.
///
/// Inputs: `account` is the stored account (`None` if it does not exist); `authorization` is
/// the stored record for [`PaymentOp::auth_id`] on this account (`None` if there is none, and
/// always `None` for `Open` and `Credit`). `now_ms` is the proposing leader's clock from the log
/// entry. `limits` must be the same on every replica (see [`super::limits`]).
///
/// Checks run in this order, and the first failure is returned:
/// 1. arguments against `limits` ([`validate_op`]): `InvalidId`, `InvalidAmount`,
///    `InvalidCurrency`;
/// 2. the inputs belong together: `AccountMismatch`, `RecordMismatch`;
/// 3. the account exists (`UnknownAccount`), or for `Open` does not (`AccountExists`);
/// 4. the rule below.
///
/// On error nothing changed (inputs are only borrowed) and the caller writes nothing. On an
/// applied change the account gets `version + 1` (1 when opened) and
/// `updated_at_ms = max(updated_at_ms, now_ms)`; the event carries that version as its
/// `sequence`, that time, and the balance and held after the change; an authorization written
/// gets `updated_at_ms = max(its updated_at_ms, now_ms)`. A replay (an auth id whose record
/// already shows the outcome) changes nothing and has no event (see [`PaymentChange`]).
///
/// "b/h/c/r" are the account's balance/held/captured/refunded; "amount" is the authorization's
/// stored amount.
///
/// | op | authorization state | effect | reply |
/// |---|---|---|---|
/// | `Open{cur, x}` | — | new account: b = credited = x | `Account` |
/// | `Credit{x}` | — | b += x, credited += x | `Account` |
/// | `Authorize{x, cur}` | none, cur = account's, b >= x | b -= x, h += x; new `Authorized` | `Authorized` |
/// | `Authorize{x, cur}` | none, cur differs | new `Declined("currency_mismatch")` | `Declined` |
/// | `Authorize{x, cur}` | none, b < x | new `Declined("insufficient_funds")` | `Declined` |
/// | `Authorize` | any | replay (the stored amount wins) | by state: `Authorized` / `Declined` / `Captured` / `Voided` / `Refunded` (for both refunded states) |
/// | `Capture` | `Authorized` | h -= amount, c += amount | `Captured` |
/// | `Capture` | `Captured` / `PartiallyRefunded` / `Refunded` | replay | `Captured` |
/// | `Capture` | `Voided` / `Declined` / none | `IllegalAuthorizationTransition` / `UnknownAuthorization` | — |
/// | `Void` | `Authorized` | h -= amount, b += amount | `Voided` |
/// | `Void` | none | tombstone `Voided` with amount 0 | `Voided` |
/// | `Void` | `Voided` / `Declined` | replay (nothing is held) | `Voided` / `Declined` |
/// | `Void` | captured states | `IllegalAuthorizationTransition` | — |
/// | `Refund{x}` | captured states, x <= amount - refunded | b += x, r += x; `PartiallyRefunded`, or `Refunded` when all is refunded | `Refunded` |
/// | `Refund{x}` | captured states, x larger | `RefundExceedsCapture` | — |
/// | `Refund` | `Authorized` / `Declined` / `Voided` / none | `IllegalAuthorizationTransition` / `UnknownAuthorization` | — |
///
/// Refunds carry no id of their own, so they are **not** idempotent: the caller deduplicates
/// them (e.g. by saga step) before proposing. Arithmetic is checked: an overflow is
/// [`PaymentError::Overflow`], never a wrap or a panic.
pub fn apply(
    account: Option<&Account>,
    authorization: Option<&Authorization>,
    account_id: &str,
    op: &PaymentOp,
    now_ms: u64,
    limits: &PaymentLimits,
) -> Result<PaymentChange, PaymentError> {
    validate_op(account_id, op, limits)?;
    check_inputs(account, authorization, account_id, op)?;
    let current = match (account, op) {
        (
            None,
            PaymentOp::Open {
                currency,
                initial_credit,
            },
        ) => return Ok(open(account_id, currency, *initial_credit, now_ms)),
        (Some(_), PaymentOp::Open { .. }) => {
            return Err(PaymentError::AccountExists {
                account_id: account_id.to_owned(),
            });
        }
        (None, _) => {
            return Err(PaymentError::UnknownAccount {
                account_id: account_id.to_owned(),
            });
        }
        (Some(current), _) => current,
    };
    match rule(current, authorization, op, now_ms)? {
        Outcome::Replay(reply) => Ok(PaymentChange {
            account: current.clone(),
            authorization: None,
            event: None,
            reply,
        }),
        Outcome::Change {
            mut next,
            record,
            kind,
            reply,
        } => {
            next.version = current
                .version
                .checked_add(1)
                .ok_or(PaymentError::Overflow { field: "version" })?;
            next.updated_at_ms = current.updated_at_ms.max(now_ms);
            let event = PaymentEvent::after(&next, kind);
            Ok(PaymentChange {
                account: next,
                authorization: record,
                event: Some(event),
                reply,
            })
        }
    }
}

/// Step 2 of [`apply`]: the account and authorization passed are the ones of this operation.
fn check_inputs(
    account: Option<&Account>,
    authorization: Option<&Authorization>,
    account_id: &str,
    op: &PaymentOp,
) -> Result<(), PaymentError> {
    if let Some(a) = account
        && a.account_id != account_id
    {
        return Err(PaymentError::AccountMismatch {
            account_id: account_id.to_owned(),
        });
    }
    if let Some(auth) = authorization {
        let belongs = account.is_some()
            && op.auth_id() == Some(auth.auth_id.as_str())
            && auth.account_id == account_id;
        if !belongs {
            return Err(PaymentError::RecordMismatch {
                auth_id: auth.auth_id.clone(),
            });
        }
    }
    Ok(())
}

/// `Open` of a missing account.
fn open(account_id: &str, currency: &str, initial_credit: u64, now_ms: u64) -> PaymentChange {
    let account = Account {
        account_id: account_id.to_owned(),
        currency: currency.to_owned(),
        balance: initial_credit,
        held: 0,
        captured: 0,
        refunded: 0,
        credited: initial_credit,
        version: 1,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    let kind = PaymentEventKind::Opened {
        currency: currency.to_owned(),
        initial_credit,
    };
    let event = PaymentEvent::after(&account, kind);
    PaymentChange {
        account,
        authorization: None,
        event: Some(event),
        reply: PaymentReply::Account,
    }
}

/// What the rule for an operation decided.
#[expect(
    clippy::large_enum_variant,
    reason = "lives for one apply call and is consumed at once; boxing would only add an allocation"
)]
enum Outcome {
    /// Nothing changes; answer with this.
    Replay(PaymentReply),
    /// The account's amounts (not version or time, which [`apply`] sets) become `next`,
    /// `record` is written, and `kind` describes it.
    Change {
        next: Account,
        record: Option<Authorization>,
        kind: PaymentEventKind,
        reply: PaymentReply,
    },
}

fn plus(field: &'static str, a: u64, b: u64) -> Result<u64, PaymentError> {
    a.checked_add(b).ok_or(PaymentError::Overflow { field })
}

fn minus(field: &'static str, a: u64, b: u64) -> Result<u64, PaymentError> {
    a.checked_sub(b).ok_or(PaymentError::Overflow { field })
}

/// The reply that shows `auth` as it stands (for replays).
fn reply_for(auth: &Authorization) -> PaymentReply {
    let authorization = auth.clone();
    match auth.state {
        AuthorizationState::Authorized => PaymentReply::Authorized { authorization },
        AuthorizationState::Declined => PaymentReply::Declined { authorization },
        AuthorizationState::Captured => PaymentReply::Captured { authorization },
        AuthorizationState::Voided => PaymentReply::Voided { authorization },
        AuthorizationState::PartiallyRefunded | AuthorizationState::Refunded => {
            PaymentReply::Refunded { authorization }
        }
    }
}

fn illegal(auth: &Authorization, op: &PaymentOp) -> PaymentError {
    PaymentError::IllegalAuthorizationTransition {
        auth_id: auth.auth_id.clone(),
        from: auth.state,
        op: op.name(),
    }
}

/// `auth` moved to `state` now.
fn moved(auth: &Authorization, state: AuthorizationState, now_ms: u64) -> Authorization {
    Authorization {
        state,
        updated_at_ms: auth.updated_at_ms.max(now_ms),
        ..auth.clone()
    }
}

/// Step 4 of [`apply`]: the table on [`apply`], for an existing account and any op but `Open`.
fn rule(
    current: &Account,
    record: Option<&Authorization>,
    op: &PaymentOp,
    now_ms: u64,
) -> Result<Outcome, PaymentError> {
    use AuthorizationState as S;
    let mut next = current.clone();
    let new_record = |auth_id: &str, amount, state, decline_reason| Authorization {
        auth_id: auth_id.to_owned(),
        account_id: current.account_id.clone(),
        amount,
        refunded: 0,
        state,
        decline_reason,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    let unknown = |auth_id: &str| PaymentError::UnknownAuthorization {
        auth_id: auth_id.to_owned(),
    };
    let (record, kind, reply) = match op {
        PaymentOp::Open { .. } => {
            // apply handles Open before calling rule.
            return Err(PaymentError::AccountExists {
                account_id: current.account_id.clone(),
            });
        }
        PaymentOp::Credit { amount } => {
            next.balance = plus("balance", next.balance, *amount)?;
            next.credited = plus("credited", next.credited, *amount)?;
            let kind = PaymentEventKind::Credited { amount: *amount };
            (None, kind, PaymentReply::Account)
        }
        PaymentOp::Authorize {
            auth_id,
            amount,
            currency,
        } => {
            if let Some(auth) = record {
                return Ok(Outcome::Replay(reply_for(auth)));
            }
            let decline = if *currency != current.currency {
                Some(DECLINE_CURRENCY_MISMATCH)
            } else if current.balance < *amount {
                Some(DECLINE_INSUFFICIENT_FUNDS)
            } else {
                None
            };
            match decline {
                Some(reason) => {
                    let auth = new_record(auth_id, *amount, S::Declined, Some(reason.to_owned()));
                    let kind = PaymentEventKind::Declined {
                        auth_id: auth_id.clone(),
                        amount: *amount,
                        reason: reason.to_owned(),
                    };
                    let reply = PaymentReply::Declined {
                        authorization: auth.clone(),
                    };
                    (Some(auth), kind, reply)
                }
                None => {
                    next.balance -= amount;
                    next.held = plus("held", next.held, *amount)?;
                    let auth = new_record(auth_id, *amount, S::Authorized, None);
                    let kind = PaymentEventKind::Authorized {
                        auth_id: auth_id.clone(),
                        amount: *amount,
                    };
                    let reply = PaymentReply::Authorized {
                        authorization: auth.clone(),
                    };
                    (Some(auth), kind, reply)
                }
            }
        }
        PaymentOp::Capture { auth_id } => {
            let auth = record.ok_or_else(|| unknown(auth_id))?;
            match auth.state {
                S::Authorized => {}
                S::Captured | S::PartiallyRefunded | S::Refunded => {
                    return Ok(Outcome::Replay(PaymentReply::Captured {
                        authorization: auth.clone(),
                    }));
                }
                S::Voided | S::Declined => return Err(illegal(auth, op)),
            }
            next.held = minus("held", next.held, auth.amount)?;
            next.captured = plus("captured", next.captured, auth.amount)?;
            let auth = moved(auth, S::Captured, now_ms);
            let kind = PaymentEventKind::Captured {
                auth_id: auth_id.clone(),
                amount: auth.amount,
            };
            let reply = PaymentReply::Captured {
                authorization: auth.clone(),
            };
            (Some(auth), kind, reply)
        }
        PaymentOp::Void { auth_id } => {
            let (auth, amount) = match record {
                None => (new_record(auth_id, 0, S::Voided, None), 0),
                Some(auth) => match auth.state {
                    S::Authorized => {
                        next.held = minus("held", next.held, auth.amount)?;
                        next.balance = plus("balance", next.balance, auth.amount)?;
                        (moved(auth, S::Voided, now_ms), auth.amount)
                    }
                    S::Voided | S::Declined => return Ok(Outcome::Replay(reply_for(auth))),
                    S::Captured | S::PartiallyRefunded | S::Refunded => {
                        return Err(illegal(auth, op));
                    }
                },
            };
            let kind = PaymentEventKind::Voided {
                auth_id: auth_id.clone(),
                amount,
            };
            let reply = PaymentReply::Voided {
                authorization: auth.clone(),
            };
            (Some(auth), kind, reply)
        }
        PaymentOp::Refund { auth_id, amount } => {
            let auth = record.ok_or_else(|| unknown(auth_id))?;
            if !auth.state.is_captured() {
                return Err(illegal(auth, op));
            }
            let refundable = auth.refundable();
            if *amount > refundable {
                return Err(PaymentError::RefundExceedsCapture {
                    auth_id: auth_id.clone(),
                    refundable,
                    requested: *amount,
                });
            }
            next.balance = plus("balance", next.balance, *amount)?;
            next.refunded = plus("refunded", next.refunded, *amount)?;
            if next.refunded > next.captured {
                // Only if the authorization claims a capture the account never saw.
                return Err(PaymentError::Overflow { field: "refunded" });
            }
            // Cannot overflow: amount <= auth.amount - auth.refunded.
            let refunded = auth.refunded + amount;
            let state = if refunded == auth.amount {
                S::Refunded
            } else {
                S::PartiallyRefunded
            };
            let auth = Authorization {
                refunded,
                ..moved(auth, state, now_ms)
            };
            let kind = PaymentEventKind::Refunded {
                auth_id: auth_id.clone(),
                amount: *amount,
            };
            let reply = PaymentReply::Refunded {
                authorization: auth.clone(),
            };
            (Some(auth), kind, reply)
        }
    };
    Ok(Outcome::Change {
        next,
        record,
        kind,
        reply,
    })
}
