//! Tests of the payment ledger.
//!
//! - Scenarios: each rule of the table on [`apply`] with the account, authorization, event and
//!   reply it produces, including replays, declines and the void tombstone.
//! - Tables: argument validation names the field; illegal transitions name the state; inputs
//!   that do not belong together are refused.
//! - Arithmetic at the edges: overflow is an error, never a wrap or a panic.
//! - A property test running random operation sequences (duplicates, authorizations beyond the
//!   balance, captures/voids/refunds in any order, wrong currencies) against a dumb reference
//!   model, checking that money is conserved after every step.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde::Serialize;

use super::*;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const T0: u64 = 1_700_000_000_000;
const ACC: &str = "acct-1";

/// The stored state of the ledger, as the storage layer would keep it: accounts by id and
/// authorizations by (account id, auth id). Writes follow the [`PaymentChange`] contract.
#[derive(Debug, Clone, Default, PartialEq)]
struct World {
    accounts: BTreeMap<String, Account>,
    auths: BTreeMap<(String, String), Authorization>,
}

impl World {
    /// A world with account [`ACC`] opened in EUR with `credit`.
    fn with_account(credit: u64) -> World {
        let mut w = World::default();
        w.ok(ACC, open("EUR", credit), T0);
        w
    }

    /// Applies `op` to `account_id` the way the state machine does: reads the account and the
    /// op's authorization, calls [`apply`], writes nothing on error or replay, writes the
    /// account and the authorization on a change. Checks the [`PaymentChange`] contract.
    fn run(
        &mut self,
        account_id: &str,
        op: &PaymentOp,
        now: u64,
    ) -> Result<PaymentChange, PaymentError> {
        let account = self.accounts.get(account_id);
        let auth = op
            .auth_id()
            .and_then(|id| self.auths.get(&(account_id.to_owned(), id.to_owned())));
        let result = apply(
            account,
            auth,
            account_id,
            op,
            now,
            &PaymentLimits::default(),
        );
        let Ok(change) = &result else {
            return result;
        };
        match &change.event {
            None => {
                assert_eq!(
                    Some(&change.account),
                    account,
                    "a replay returns the account as is"
                );
                assert_eq!(
                    change.authorization, None,
                    "a replay writes no authorization"
                );
            }
            Some(event) => {
                let before = account.map_or(0, |a| a.version);
                assert_eq!(change.account.version, before + 1);
                assert_eq!(event.sequence, change.account.version);
                assert_eq!(event.schema_version, PAYMENT_EVENT_SCHEMA_VERSION);
                assert_eq!(event.at_ms, change.account.updated_at_ms);
                assert_eq!(event.account_id, account_id);
                assert_eq!(
                    (event.balance, event.held),
                    (change.account.balance, change.account.held)
                );
                self.accounts
                    .insert(account_id.to_owned(), change.account.clone());
                if let Some(a) = &change.authorization {
                    assert_eq!(a.account_id, account_id);
                    self.auths
                        .insert((account_id.to_owned(), a.auth_id.clone()), a.clone());
                }
            }
        }
        result
    }

    /// Applies `op`, which must succeed.
    #[track_caller]
    fn ok(&mut self, account_id: &str, op: PaymentOp, now: u64) -> PaymentChange {
        self.run(account_id, &op, now)
            .unwrap_or_else(|e| panic!("{} must succeed: {e}", op.name()))
    }

    /// Applies `op`, which must fail, and checks that nothing was written.
    #[track_caller]
    fn err(&mut self, account_id: &str, op: PaymentOp, now: u64) -> PaymentError {
        let before = self.clone();
        let err = self
            .run(account_id, &op, now)
            .expect_err("operation must be refused");
        assert_eq!(*self, before, "an error changes nothing");
        err
    }

    fn account(&self) -> &Account {
        self.accounts
            .get(ACC)
            .expect("account exists in this scenario")
    }

    fn auth(&self, id: &str) -> &Authorization {
        self.auths
            .get(&(ACC.to_owned(), id.to_owned()))
            .expect("authorization exists in this scenario")
    }

    /// (balance, held, captured, refunded, credited) of [`ACC`].
    fn money(&self) -> (u64, u64, u64, u64, u64) {
        let a = self.account();
        (a.balance, a.held, a.captured, a.refunded, a.credited)
    }
}

fn open(currency: &str, initial_credit: u64) -> PaymentOp {
    PaymentOp::Open {
        currency: currency.to_owned(),
        initial_credit,
    }
}
fn credit(amount: u64) -> PaymentOp {
    PaymentOp::Credit { amount }
}
fn authorize(id: &str, amount: u64) -> PaymentOp {
    authorize_in(id, amount, "EUR")
}
fn authorize_in(id: &str, amount: u64, currency: &str) -> PaymentOp {
    PaymentOp::Authorize {
        auth_id: id.to_owned(),
        amount,
        currency: currency.to_owned(),
    }
}
fn capture(id: &str) -> PaymentOp {
    PaymentOp::Capture {
        auth_id: id.to_owned(),
    }
}
fn void(id: &str) -> PaymentOp {
    PaymentOp::Void {
        auth_id: id.to_owned(),
    }
}
fn refund(id: &str, amount: u64) -> PaymentOp {
    PaymentOp::Refund {
        auth_id: id.to_owned(),
        amount,
    }
}

fn kind_of(change: &PaymentChange) -> Option<PaymentEventKind> {
    change.event.as_ref().map(|e| e.kind.clone())
}

/// The authorization a reply carries, if any.
fn reply_authorization(reply: &PaymentReply) -> Option<&Authorization> {
    match reply {
        PaymentReply::Authorized { authorization }
        | PaymentReply::Declined { authorization }
        | PaymentReply::Captured { authorization }
        | PaymentReply::Voided { authorization }
        | PaymentReply::Refunded { authorization } => Some(authorization),
        PaymentReply::Account | PaymentReply::Unchanged => None,
    }
}

fn reply_name(reply: &PaymentReply) -> &'static str {
    match reply {
        PaymentReply::Account => "Account",
        PaymentReply::Authorized { .. } => "Authorized",
        PaymentReply::Declined { .. } => "Declined",
        PaymentReply::Captured { .. } => "Captured",
        PaymentReply::Voided { .. } => "Voided",
        PaymentReply::Refunded { .. } => "Refunded",
        PaymentReply::Unchanged => "Unchanged",
    }
}

fn error_name(err: &PaymentError) -> &'static str {
    match err {
        PaymentError::UnknownAccount { .. } => "UnknownAccount",
        PaymentError::AccountExists { .. } => "AccountExists",
        PaymentError::InvalidAmount { .. } => "InvalidAmount",
        PaymentError::InvalidId { .. } => "InvalidId",
        PaymentError::InvalidCurrency { .. } => "InvalidCurrency",
        PaymentError::UnknownAuthorization { .. } => "UnknownAuthorization",
        PaymentError::IllegalAuthorizationTransition { .. } => "IllegalAuthorizationTransition",
        PaymentError::RefundExceedsCapture { .. } => "RefundExceedsCapture",
        PaymentError::Overflow { .. } => "Overflow",
        PaymentError::AccountMismatch { .. } => "AccountMismatch",
        PaymentError::RecordMismatch { .. } => "RecordMismatch",
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

/// Opening creates the account with its opening credit; opening again is refused; credits add
/// to the balance and to `credited`.
#[test]
fn open_and_credit() {
    let mut w = World::default();
    let change = w.ok(ACC, open("EUR", 1_000), T0);
    assert_eq!(change.reply, PaymentReply::Account);
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Opened {
            currency: "EUR".to_owned(),
            initial_credit: 1_000
        })
    );
    let a = w.account();
    assert_eq!((a.version, a.created_at_ms, a.updated_at_ms), (1, T0, T0));
    assert_eq!(w.money(), (1_000, 0, 0, 0, 1_000));

    for again in [open("EUR", 1_000), open("USD", 0)] {
        assert_eq!(
            w.err(ACC, again, T0 + 1),
            PaymentError::AccountExists {
                account_id: ACC.to_owned()
            }
        );
    }

    let change = w.ok(ACC, credit(250), T0 + 1);
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Credited { amount: 250 })
    );
    assert_eq!(w.money(), (1_250, 0, 0, 0, 1_250));
    assert_eq!(w.account().version, 2);

    w.ok("acct-0", open("JPY", 0), T0);
    assert!(w.accounts["acct-0"].is_balanced());
}

/// Every operation but `Open` needs the account.
#[test]
fn every_op_but_open_needs_the_account() {
    for op in [
        credit(1),
        authorize("saga-1", 1),
        capture("saga-1"),
        void("saga-1"),
        refund("saga-1", 1),
    ] {
        let err = World::default().err(ACC, op, T0);
        assert_eq!(
            err,
            PaymentError::UnknownAccount {
                account_id: ACC.to_owned()
            }
        );
        assert_eq!(err.kind(), "NOT_FOUND");
    }
}

// ---------------------------------------------------------------------------------------------
// Authorizations
// ---------------------------------------------------------------------------------------------

/// Authorize holds money when the balance covers it, and otherwise stores a decline (with its
/// own event) that a duplicate replays.
#[test]
fn authorize_holds_or_declines() {
    let mut w = World::with_account(1_000);
    let change = w.ok(ACC, authorize("saga-1", 600), T0 + 1);
    let auth = w.auth("saga-1").clone();
    assert_eq!(
        change.reply,
        PaymentReply::Authorized {
            authorization: auth.clone()
        }
    );
    assert_eq!(
        (auth.state, auth.amount, auth.decline_reason.clone()),
        (AuthorizationState::Authorized, 600, None)
    );
    assert_eq!(w.money(), (400, 600, 0, 0, 1_000));
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Authorized {
            auth_id: "saga-1".to_owned(),
            amount: 600
        })
    );

    let change = w.ok(ACC, authorize("saga-2", 401), T0 + 2);
    let declined = w.auth("saga-2").clone();
    assert_eq!(declined.state, AuthorizationState::Declined);
    assert_eq!(
        declined.decline_reason.as_deref(),
        Some(DECLINE_INSUFFICIENT_FUNDS)
    );
    assert_eq!(
        change.reply,
        PaymentReply::Declined {
            authorization: declined.clone()
        }
    );
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Declined {
            auth_id: "saga-2".to_owned(),
            amount: 401,
            reason: DECLINE_INSUFFICIENT_FUNDS.to_owned()
        })
    );
    assert_eq!(w.money(), (400, 600, 0, 0, 1_000));
    assert_eq!(w.account().version, 3, "a decline is a stored change");

    let change = w.ok(ACC, authorize_in("saga-3", 1, "USD"), T0 + 3);
    assert_eq!(
        w.auth("saga-3").decline_reason.as_deref(),
        Some(DECLINE_CURRENCY_MISMATCH)
    );
    assert!(matches!(change.reply, PaymentReply::Declined { .. }));

    // Duplicates replay, even after the balance would now allow them.
    w.ok(ACC, credit(10_000), T0 + 4);
    let before = w.clone();
    let change = w.ok(ACC, authorize("saga-2", 401), T0 + 5);
    assert_eq!(change.event, None);
    assert_eq!(
        change.reply,
        PaymentReply::Declined {
            authorization: declined
        }
    );
    let change = w.ok(ACC, authorize("saga-1", 999), T0 + 5);
    assert_eq!(change.event, None, "the stored amount wins");
    assert_eq!(
        change.reply,
        PaymentReply::Authorized {
            authorization: auth
        }
    );
    assert_eq!(w, before);
}

/// Capture moves held money to captured; a duplicate replays, also after refunds.
#[test]
fn capture_and_its_replay() {
    let mut w = World::with_account(1_000);
    w.ok(ACC, authorize("saga-1", 600), T0);
    let change = w.ok(ACC, capture("saga-1"), T0 + 1);
    let captured = w.auth("saga-1").clone();
    assert_eq!(captured.state, AuthorizationState::Captured);
    assert_eq!(captured.updated_at_ms, T0 + 1);
    assert_eq!(
        change.reply,
        PaymentReply::Captured {
            authorization: captured.clone()
        }
    );
    assert_eq!(w.money(), (400, 0, 600, 0, 1_000));

    let change = w.ok(ACC, capture("saga-1"), T0 + 2);
    assert_eq!(
        (change.event, change.reply),
        (
            None,
            PaymentReply::Captured {
                authorization: captured.clone()
            }
        )
    );
    let change = w.ok(ACC, authorize("saga-1", 600), T0 + 2);
    assert_eq!(
        change.reply,
        PaymentReply::Captured {
            authorization: captured
        }
    );

    w.ok(ACC, refund("saga-1", 100), T0 + 3);
    let change = w.ok(ACC, capture("saga-1"), T0 + 4);
    assert_eq!(change.event, None);
    assert!(matches!(change.reply, PaymentReply::Captured { .. }));
    assert_eq!(
        w.err(ACC, capture("saga-9"), T0),
        PaymentError::UnknownAuthorization {
            auth_id: "saga-9".to_owned()
        }
    );
}

/// Void gives held money back; a duplicate replays; a void of a declined authorization has
/// nothing to give back and replays the decline.
#[test]
fn void_and_its_replay() {
    let mut w = World::with_account(1_000);
    w.ok(ACC, authorize("saga-1", 600), T0);
    let change = w.ok(ACC, void("saga-1"), T0 + 1);
    assert_eq!(w.money(), (1_000, 0, 0, 0, 1_000));
    assert_eq!(w.auth("saga-1").state, AuthorizationState::Voided);
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Voided {
            auth_id: "saga-1".to_owned(),
            amount: 600
        })
    );
    let change = w.ok(ACC, void("saga-1"), T0 + 2);
    assert_eq!(change.event, None);
    assert!(matches!(change.reply, PaymentReply::Voided { .. }));
    let change = w.ok(ACC, authorize("saga-1", 600), T0 + 2);
    assert!(matches!(change.reply, PaymentReply::Voided { .. }));

    w.ok(ACC, authorize("saga-2", 5_000), T0);
    let change = w.ok(ACC, void("saga-2"), T0 + 1);
    assert_eq!(change.event, None);
    assert!(matches!(change.reply, PaymentReply::Declined { .. }));
    assert_eq!(w.money(), (1_000, 0, 0, 0, 1_000));
}

/// A void that overtakes its authorize leaves a tombstone: the late authorize replays "voided"
/// and holds nothing.
#[test]
fn void_before_authorize_leaves_a_tombstone() {
    let mut w = World::with_account(1_000);
    let change = w.ok(ACC, void("saga-1"), T0);
    let tombstone = w.auth("saga-1").clone();
    assert_eq!(
        (tombstone.state, tombstone.amount),
        (AuthorizationState::Voided, 0)
    );
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Voided {
            auth_id: "saga-1".to_owned(),
            amount: 0
        })
    );
    let change = w.ok(ACC, authorize("saga-1", 600), T0 + 1);
    assert_eq!(change.event, None);
    assert_eq!(
        change.reply,
        PaymentReply::Voided {
            authorization: tombstone
        }
    );
    assert_eq!(w.money(), (1_000, 0, 0, 0, 1_000));
}

/// Refunds return captured money to the balance, partially then fully, and never more than
/// was captured.
#[test]
fn refunds_up_to_the_capture() {
    let mut w = World::with_account(1_000);
    w.ok(ACC, authorize("saga-1", 600), T0);
    w.ok(ACC, capture("saga-1"), T0);
    let change = w.ok(ACC, refund("saga-1", 200), T0 + 1);
    let auth = w.auth("saga-1").clone();
    assert_eq!(
        (auth.state, auth.refunded),
        (AuthorizationState::PartiallyRefunded, 200)
    );
    assert_eq!(
        change.reply,
        PaymentReply::Refunded {
            authorization: auth
        }
    );
    assert_eq!(
        kind_of(&change),
        Some(PaymentEventKind::Refunded {
            auth_id: "saga-1".to_owned(),
            amount: 200
        })
    );
    assert_eq!(w.money(), (600, 0, 600, 200, 1_000));

    assert_eq!(
        w.err(ACC, refund("saga-1", 401), T0 + 2),
        PaymentError::RefundExceedsCapture {
            auth_id: "saga-1".to_owned(),
            refundable: 400,
            requested: 401
        }
    );
    w.ok(ACC, refund("saga-1", 400), T0 + 3);
    assert_eq!(w.auth("saga-1").state, AuthorizationState::Refunded);
    assert_eq!(w.money(), (1_000, 0, 600, 600, 1_000));
    assert_eq!(
        w.err(ACC, refund("saga-1", 1), T0 + 4),
        PaymentError::RefundExceedsCapture {
            auth_id: "saga-1".to_owned(),
            refundable: 0,
            requested: 1
        }
    );
    assert!(matches!(
        w.ok(ACC, authorize("saga-1", 600), T0 + 5).reply,
        PaymentReply::Refunded { .. }
    ));
}

/// Transitions the authorization's state forbids are refused, naming the state and the op.
#[test]
fn illegal_transitions_name_the_state() {
    use AuthorizationState as S;
    let mut w = World::with_account(1_000);
    w.ok(ACC, authorize("held", 10), T0);
    w.ok(ACC, authorize("declined", 5_000), T0);
    w.ok(ACC, authorize("voided", 10), T0);
    w.ok(ACC, void("voided"), T0);
    w.ok(ACC, authorize("captured", 10), T0);
    w.ok(ACC, capture("captured"), T0);
    w.ok(ACC, authorize("partly", 10), T0);
    w.ok(ACC, capture("partly"), T0);
    w.ok(ACC, refund("partly", 1), T0);
    w.ok(ACC, authorize("refunded", 10), T0);
    w.ok(ACC, capture("refunded"), T0);
    w.ok(ACC, refund("refunded", 10), T0);

    #[rustfmt::skip]
    let cases = [
        (capture("voided"), S::Voided, "CAPTURE"),
        (capture("declined"), S::Declined, "CAPTURE"),
        (void("captured"), S::Captured, "VOID"),
        (void("partly"), S::PartiallyRefunded, "VOID"),
        (void("refunded"), S::Refunded, "VOID"),
        (refund("held", 1), S::Authorized, "REFUND"),
        (refund("declined", 1), S::Declined, "REFUND"),
        (refund("voided", 1), S::Voided, "REFUND"),
    ];
    for (op, from, name) in cases {
        let err = w.err(ACC, op, T0 + 1);
        let auth_id = match &err {
            PaymentError::IllegalAuthorizationTransition {
                auth_id,
                from: f,
                op,
            } => {
                assert_eq!((*f, *op), (from, name));
                auth_id.clone()
            }
            other => panic!("expected an illegal transition, got {other:?}"),
        };
        assert_eq!(err.kind(), "FAILED_PRECONDITION");
        assert!(err.to_string().contains(from.as_str()), "{err}");
        assert!(err.to_string().contains(&auth_id), "{err}");
    }
    assert_eq!(
        w.err(ACC, refund("saga-9", 1), T0),
        PaymentError::UnknownAuthorization {
            auth_id: "saga-9".to_owned()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Tables: validation, inputs
// ---------------------------------------------------------------------------------------------

/// Each argument rule, broken on its own, is reported against the field that broke it, before
/// any other check (here: on a missing account, which would otherwise be `UnknownAccount`).
#[test]
fn every_limit_violation_names_its_field() {
    let long = "x".repeat(129);
    let long = long.as_str();
    let over = 1_000_000_000_000_001;
    #[rustfmt::skip]
    let cases: Vec<(&str, PaymentOp, &str, &str)> = vec![
        // (account id, op, error variant, field)
        ("", credit(1), "InvalidId", "account_id"),
        (long, credit(1), "InvalidId", "account_id"),
        ("acct/1", credit(1), "InvalidId", "account_id"),
        (ACC, open("eur", 0), "InvalidCurrency", "currency"),
        (ACC, open("EURO", 0), "InvalidCurrency", "currency"),
        (ACC, open("", 0), "InvalidCurrency", "currency"),
        (ACC, open("EUR", over), "InvalidAmount", "initial_credit"),
        (ACC, credit(0), "InvalidAmount", "amount"),
        (ACC, credit(over), "InvalidAmount", "amount"),
        (ACC, authorize("", 1), "InvalidId", "auth_id"),
        (ACC, authorize(long, 1), "InvalidId", "auth_id"),
        (ACC, authorize("saga 1", 1), "InvalidId", "auth_id"),
        (ACC, authorize("saga-1", 0), "InvalidAmount", "amount"),
        (ACC, authorize("saga-1", u64::MAX), "InvalidAmount", "amount"),
        (ACC, authorize_in("saga-1", 1, "E1R"), "InvalidCurrency", "currency"),
        (ACC, capture(""), "InvalidId", "auth_id"),
        (ACC, void(long), "InvalidId", "auth_id"),
        (ACC, refund("saga-1", 0), "InvalidAmount", "amount"),
        (ACC, refund("saga-1", over), "InvalidAmount", "amount"),
    ];
    let limits = PaymentLimits::default();
    for (account_id, op, variant, field) in cases {
        let err =
            apply(None, None, account_id, &op, T0, &limits).expect_err("a broken limit is refused");
        assert_eq!(
            (error_name(&err), err.field()),
            (variant, Some(field)),
            "{} on {account_id:?}: {err}",
            op.name()
        );
        assert_eq!(err.kind(), "INVALID_ARGUMENT");
        assert_eq!(validate_op(account_id, &op, &limits), Err(err));
    }

    // A huge bad currency is not echoed back whole.
    let err = apply(None, None, ACC, &open(&"Z".repeat(10_000), 0), T0, &limits).unwrap_err();
    assert_eq!(
        err,
        PaymentError::InvalidCurrency {
            currency: "ZZZZZZZZ".to_owned()
        }
    );
}

/// Values exactly at the limits are accepted.
#[test]
fn values_at_the_limits_are_accepted() {
    let max = 1_000_000_000_000_000;
    let mut w = World::default();
    w.ok(ACC, open("EUR", max), T0);
    w.ok(ACC, credit(max), T0);
    let id = "a".repeat(128);
    w.ok(ACC, authorize(&id, max), T0);
    w.ok(ACC, capture(&id), T0);
    w.ok(ACC, refund(&id, max), T0);
    assert_eq!(w.money(), (2 * max, 0, max, max, 2 * max));
    w.ok(&"b".repeat(128), open("USD", 0), T0);
}

/// An account or authorization that is not the one of the operation is a caller bug, refused
/// before anything else is looked at.
#[test]
fn inputs_that_do_not_belong_together_are_refused() {
    let mut w = World::with_account(100);
    w.ok(ACC, authorize("saga-1", 10), T0);
    let limits = PaymentLimits::default();
    let account = w.account().clone();
    let auth = w.auth("saga-1").clone();

    let err = apply(Some(&account), None, "acct-2", &credit(1), T0, &limits).unwrap_err();
    assert_eq!(
        err,
        PaymentError::AccountMismatch {
            account_id: "acct-2".to_owned()
        }
    );
    assert_eq!(err.kind(), "INTERNAL");
    for (a, op) in [
        (Some(&account), capture("saga-2")),
        (Some(&account), credit(1)),
        (None, capture("saga-1")),
    ] {
        let err = apply(a, Some(&auth), ACC, &op, T0, &limits).unwrap_err();
        assert_eq!(
            err,
            PaymentError::RecordMismatch {
                auth_id: "saga-1".to_owned()
            },
            "{}",
            op.name()
        );
    }
    let foreign = Authorization {
        account_id: "acct-2".to_owned(),
        ..auth
    };
    let err = apply(
        Some(&account),
        Some(&foreign),
        ACC,
        &capture("saga-1"),
        T0,
        &limits,
    )
    .unwrap_err();
    assert_eq!(error_name(&err), "RecordMismatch");
}

// ---------------------------------------------------------------------------------------------
// Arithmetic and time at the edges
// ---------------------------------------------------------------------------------------------

/// Counters at their maximum make the change fail with `Overflow`, never wrap or panic; a
/// record that claims more than the account holds (corrupt data) is an error too.
#[test]
fn overflow_is_an_error() {
    let limits = PaymentLimits::default();
    let full = Account {
        account_id: ACC.to_owned(),
        currency: "EUR".to_owned(),
        balance: u64::MAX,
        held: 0,
        captured: 0,
        refunded: 0,
        credited: u64::MAX,
        version: 3,
        created_at_ms: T0,
        updated_at_ms: T0,
    };
    assert!(full.is_balanced());
    let err = apply(Some(&full), None, ACC, &credit(1), T0, &limits).unwrap_err();
    assert_eq!(err, PaymentError::Overflow { field: "balance" });

    let old = Account {
        version: u64::MAX,
        balance: 10,
        credited: 10,
        ..full.clone()
    };
    let err = apply(Some(&old), None, ACC, &credit(1), T0, &limits).unwrap_err();
    assert_eq!(err, PaymentError::Overflow { field: "version" });

    let fresh = Account { version: 1, ..old };
    let auth = Authorization {
        auth_id: "saga-1".to_owned(),
        account_id: ACC.to_owned(),
        amount: 5,
        refunded: 0,
        state: AuthorizationState::Authorized,
        decline_reason: None,
        created_at_ms: T0,
        updated_at_ms: T0,
    };
    for op in [capture("saga-1"), void("saga-1")] {
        let err = apply(Some(&fresh), Some(&auth), ACC, &op, T0, &limits).unwrap_err();
        assert_eq!(
            err,
            PaymentError::Overflow { field: "held" },
            "{}",
            op.name()
        );
    }
    // A capture the account never saw cannot be refunded (refunded would pass captured).
    let captured = Authorization {
        state: AuthorizationState::Captured,
        ..auth
    };
    let err = apply(
        Some(&fresh),
        Some(&captured),
        ACC,
        &refund("saga-1", 1),
        T0,
        &limits,
    )
    .unwrap_err();
    assert_eq!(err, PaymentError::Overflow { field: "refunded" });
}

/// `updated_at_ms` never goes backwards, even when a leader's clock does.
#[test]
fn time_never_goes_backwards() {
    let mut w = World::with_account(100);
    w.ok(ACC, credit(1), T0 + 100);
    let change = w.ok(ACC, authorize("saga-1", 10), T0 + 50);
    assert_eq!(w.account().updated_at_ms, T0 + 100);
    assert_eq!(change.event.map(|e| e.at_ms), Some(T0 + 100));
    w.ok(ACC, capture("saga-1"), T0 + 10);
    assert_eq!(w.auth("saga-1").updated_at_ms, T0 + 50);
}

// ---------------------------------------------------------------------------------------------
// Storage and names
// ---------------------------------------------------------------------------------------------

/// Every stored or replied type, errors included, survives bincode.
#[test]
fn bincode_round_trip() {
    fn round_trip<T>(value: &T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = bincode::serialize(value).expect("serialisable");
        assert_eq!(
            &bincode::deserialize::<T>(&bytes).expect("round trip"),
            value
        );
    }

    let mut w = World::with_account(100);
    let change = w.ok(ACC, authorize("saga-1", 500), T0);
    round_trip(&change);
    round_trip(w.account());
    round_trip(w.auth("saga-1"));
    round_trip(&PaymentLimits::default());
    round_trip(&refund("saga-1", 3));
    for err in [
        PaymentError::InvalidAmount {
            field: "initial_credit",
            reason: "too much".to_owned(),
        },
        PaymentError::InvalidId {
            field: "auth_id",
            reason: "empty".to_owned(),
        },
        PaymentError::Overflow { field: "credited" },
        PaymentError::IllegalAuthorizationTransition {
            auth_id: "saga-1".to_owned(),
            from: AuthorizationState::Voided,
            op: "CAPTURE",
        },
    ] {
        round_trip(&err);
    }
}

/// Wire names are SCREAMING_SNAKE and distinct.
#[test]
fn names_are_screaming_snake_and_distinct() {
    let states: Vec<&str> = AuthorizationState::ALL.iter().map(|s| s.as_str()).collect();
    let ops = [
        open("EUR", 0),
        credit(1),
        authorize("a", 1),
        capture("a"),
        void("a"),
        refund("a", 1),
    ];
    let op_names: Vec<&str> = ops.iter().map(PaymentOp::name).collect();
    for names in [states, op_names] {
        let distinct: BTreeSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        for name in names {
            assert!(
                name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property test against a reference model
// ---------------------------------------------------------------------------------------------

const MAX_AMOUNT: u64 = 1_000_000_000_000_000;

/// An account as the model sees it.
#[derive(Debug, Clone, PartialEq)]
struct MAccount {
    currency: String,
    balance: u64,
    held: u64,
    captured: u64,
    refunded: u64,
    credited: u64,
    version: u64,
}

/// An authorization as the model sees it.
#[derive(Debug, Clone, PartialEq)]
struct MAuth {
    state: AuthorizationState,
    amount: u64,
    refunded: u64,
    decline_reason: Option<String>,
}

/// The dumb reference model: the rules written the obvious way over plain maps.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    accounts: BTreeMap<String, MAccount>,
    auths: BTreeMap<(String, String), MAuth>,
}

impl Model {
    fn of(w: &World) -> Model {
        Model {
            accounts: w
                .accounts
                .iter()
                .map(|(id, a)| {
                    let m = MAccount {
                        currency: a.currency.clone(),
                        balance: a.balance,
                        held: a.held,
                        captured: a.captured,
                        refunded: a.refunded,
                        credited: a.credited,
                        version: a.version,
                    };
                    (id.clone(), m)
                })
                .collect(),
            auths: w
                .auths
                .iter()
                .map(|(k, a)| {
                    let m = MAuth {
                        state: a.state,
                        amount: a.amount,
                        refunded: a.refunded,
                        decline_reason: a.decline_reason.clone(),
                    };
                    (k.clone(), m)
                })
                .collect(),
        }
    }

    /// The model's verdict on `op` for account `id`: the new model and the reply name, or the
    /// error name. A replay returns the model unchanged.
    fn step(&self, id: &str, op: &PaymentOp) -> Result<(Model, &'static str), &'static str> {
        use AuthorizationState as S;
        use PaymentOp as O;
        let good_currency = |c: &str| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase());
        let bad = |x: u64| x == 0 || x > MAX_AMOUNT;
        let invalid = match op {
            O::Open {
                currency,
                initial_credit,
            } => {
                if !good_currency(currency) {
                    Some("InvalidCurrency")
                } else if *initial_credit > MAX_AMOUNT {
                    Some("InvalidAmount")
                } else {
                    None
                }
            }
            O::Credit { amount } => bad(*amount).then_some("InvalidAmount"),
            O::Authorize {
                auth_id,
                amount,
                currency,
            } => {
                if auth_id.is_empty() {
                    Some("InvalidId")
                } else if bad(*amount) {
                    Some("InvalidAmount")
                } else if !good_currency(currency) {
                    Some("InvalidCurrency")
                } else {
                    None
                }
            }
            O::Capture { auth_id } | O::Void { auth_id } => {
                auth_id.is_empty().then_some("InvalidId")
            }
            O::Refund { auth_id, amount } => {
                if auth_id.is_empty() {
                    Some("InvalidId")
                } else if bad(*amount) {
                    Some("InvalidAmount")
                } else {
                    None
                }
            }
        };
        if let Some(err) = invalid {
            return Err(err);
        }

        let mut m = self.clone();
        if let O::Open {
            currency,
            initial_credit,
        } = op
        {
            if m.accounts.contains_key(id) {
                return Err("AccountExists");
            }
            let account = MAccount {
                currency: currency.clone(),
                balance: *initial_credit,
                held: 0,
                captured: 0,
                refunded: 0,
                credited: *initial_credit,
                version: 1,
            };
            m.accounts.insert(id.to_owned(), account);
            return Ok((m, "Account"));
        }
        let Some(a) = m.accounts.get_mut(id) else {
            return Err("UnknownAccount");
        };
        let key = op
            .auth_id()
            .map(|auth_id| (id.to_owned(), auth_id.to_owned()));
        let rec = key.as_ref().and_then(|k| self.auths.get(k)).cloned();
        let replay = |reply| Ok((self.clone(), reply));
        let replay_state = |state: AuthorizationState| match state {
            S::Authorized => "Authorized",
            S::Declined => "Declined",
            S::Captured => "Captured",
            S::Voided => "Voided",
            S::PartiallyRefunded | S::Refunded => "Refunded",
        };
        let captured_like = |state: AuthorizationState| {
            matches!(state, S::Captured | S::PartiallyRefunded | S::Refunded)
        };
        let (reply, written) = match op {
            O::Open { .. } => unreachable!("handled above"),
            O::Credit { amount } => {
                a.balance += amount;
                a.credited += amount;
                ("Account", None)
            }
            O::Authorize {
                amount, currency, ..
            } => {
                if let Some(r) = rec {
                    return replay(replay_state(r.state));
                }
                let declined = |reason: &str| MAuth {
                    state: S::Declined,
                    amount: *amount,
                    refunded: 0,
                    decline_reason: Some(reason.to_owned()),
                };
                if *currency != a.currency {
                    ("Declined", Some(declined("currency_mismatch")))
                } else if a.balance < *amount {
                    ("Declined", Some(declined("insufficient_funds")))
                } else {
                    a.balance -= amount;
                    a.held += amount;
                    let auth = MAuth {
                        state: S::Authorized,
                        amount: *amount,
                        refunded: 0,
                        decline_reason: None,
                    };
                    ("Authorized", Some(auth))
                }
            }
            O::Capture { .. } => match rec {
                None => return Err("UnknownAuthorization"),
                Some(r) if r.state == S::Authorized => {
                    a.held -= r.amount;
                    a.captured += r.amount;
                    (
                        "Captured",
                        Some(MAuth {
                            state: S::Captured,
                            ..r
                        }),
                    )
                }
                Some(r) if captured_like(r.state) => return replay("Captured"),
                Some(_) => return Err("IllegalAuthorizationTransition"),
            },
            O::Void { .. } => match rec {
                None => {
                    let tombstone = MAuth {
                        state: S::Voided,
                        amount: 0,
                        refunded: 0,
                        decline_reason: None,
                    };
                    ("Voided", Some(tombstone))
                }
                Some(r) if r.state == S::Authorized => {
                    a.held -= r.amount;
                    a.balance += r.amount;
                    (
                        "Voided",
                        Some(MAuth {
                            state: S::Voided,
                            ..r
                        }),
                    )
                }
                Some(r) if r.state == S::Voided || r.state == S::Declined => {
                    return replay(replay_state(r.state));
                }
                Some(_) => return Err("IllegalAuthorizationTransition"),
            },
            O::Refund { amount, .. } => match rec {
                None => return Err("UnknownAuthorization"),
                Some(r) if !captured_like(r.state) => {
                    return Err("IllegalAuthorizationTransition");
                }
                Some(r) if *amount > r.amount - r.refunded => {
                    return Err("RefundExceedsCapture");
                }
                Some(r) => {
                    a.balance += amount;
                    a.refunded += amount;
                    let refunded = r.refunded + amount;
                    let state = if refunded == r.amount {
                        S::Refunded
                    } else {
                        S::PartiallyRefunded
                    };
                    (
                        "Refunded",
                        Some(MAuth {
                            state,
                            refunded,
                            ..r
                        }),
                    )
                }
            },
        };
        a.version += 1;
        if let (Some(key), Some(r)) = (key, written) {
            m.auths.insert(key, r);
        }
        Ok((m, reply))
    }
}

/// The event type a change by `op` with `reply` must carry.
fn event_for(op: &PaymentOp, reply: &PaymentReply) -> &'static str {
    match (op, reply) {
        (PaymentOp::Open { .. }, _) => "OPENED",
        (PaymentOp::Credit { .. }, _) => "CREDITED",
        (PaymentOp::Authorize { .. }, PaymentReply::Declined { .. }) => "DECLINED",
        (PaymentOp::Authorize { .. }, _) => "AUTHORIZED",
        (PaymentOp::Capture { .. }, _) => "CAPTURED",
        (PaymentOp::Void { .. }, _) => "VOIDED",
        (PaymentOp::Refund { .. }, _) => "REFUNDED",
    }
}

/// Accounts of the generated cases: two are opened first (EUR and USD), the third only if a
/// generated `Open` creates it.
const ACCOUNTS: [&str; 3] = ["acct-0", "acct-1", "acct-2"];

#[derive(Debug, Clone)]
struct Case {
    /// Opening credits of `acct-0` (EUR) and `acct-1` (USD).
    initial: (u64, u64),
    /// (account index, op, clock change before it).
    steps: Vec<(usize, PaymentOp, i64)>,
}

fn arb_op() -> impl Strategy<Value = PaymentOp> {
    // A small pool of saga ids, so that duplicates and out-of-order operations are common.
    let id =
        || prop_oneof![30 => (0u8..6).prop_map(|i| format!("saga-{i}")), 1 => Just(String::new())];
    let amount = || {
        prop_oneof![
            // Multiples of 50, so that a refund often matches what is left exactly.
            12 => (1u64..=8).prop_map(|x| x * 50),
            1 => Just(0u64),
            1 => Just(MAX_AMOUNT),
            1 => Just(MAX_AMOUNT + 1),
        ]
    };
    let currency =
        prop_oneof![8 => Just("EUR"), 2 => Just("USD"), 1 => Just("eur")].prop_map(str::to_owned);
    prop_oneof![
        1 => (currency.clone(), 0u64..1_000).prop_map(|(currency, initial_credit)| {
            PaymentOp::Open { currency, initial_credit }
        }),
        2 => amount().prop_map(|amount| PaymentOp::Credit { amount }),
        10 => (id(), amount(), currency).prop_map(|(auth_id, amount, currency)| {
            PaymentOp::Authorize { auth_id, amount, currency }
        }),
        5 => id().prop_map(|auth_id| PaymentOp::Capture { auth_id }),
        5 => id().prop_map(|auth_id| PaymentOp::Void { auth_id }),
        5 => (id(), amount()).prop_map(|(auth_id, amount)| PaymentOp::Refund { auth_id, amount }),
    ]
}

fn arb_case() -> impl Strategy<Value = Case> {
    let account = prop_oneof![6 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)];
    (
        (0u64..1_000, 0u64..1_000),
        prop::collection::vec((account, arb_op(), -20i64..200), 0..60),
    )
        .prop_map(|(initial, steps)| Case { initial, steps })
}

/// What a case exercised, for the coverage check.
#[derive(Default)]
struct Seen {
    replies: BTreeSet<&'static str>,
    replays: BTreeSet<&'static str>,
    errors: BTreeSet<&'static str>,
    states: BTreeSet<&'static str>,
}

/// Money conservation and the per-authorization accounting, for every account.
fn check_invariants(w: &World) {
    for (id, a) in &w.accounts {
        assert!(a.is_balanced(), "{a:?}");
        assert!(a.refunded <= a.captured, "{a:?}");
        let auths = || {
            w.auths
                .iter()
                .filter(move |((acc, _), _)| acc == id)
                .map(|(_, x)| x)
        };
        // Each authorization's money is counted once, where its state says it is.
        let held: u64 = auths()
            .filter(|x| x.state == AuthorizationState::Authorized)
            .map(|x| x.amount)
            .sum();
        assert_eq!(a.held, held, "held of {id}");
        let net_captured: u64 = auths()
            .filter(|x| x.state.is_captured())
            .map(|x| x.amount - x.refunded)
            .sum();
        assert_eq!(
            a.captured - a.refunded,
            net_captured,
            "net captured of {id}"
        );
        for x in auths() {
            assert!(x.refunded <= x.amount, "{x:?}");
            let refunded_state = matches!(
                x.state,
                AuthorizationState::PartiallyRefunded | AuthorizationState::Refunded
            );
            assert_eq!(x.refunded > 0, refunded_state, "{x:?}");
            assert_eq!(
                x.decline_reason.is_some(),
                x.state == AuthorizationState::Declined
            );
        }
    }
}

fn run_case(case: &Case, seen: &mut Seen) {
    let mut world = World::default();
    let mut now = T0;
    let opening = [
        (ACCOUNTS[0], open("EUR", case.initial.0)),
        (ACCOUNTS[1], open("USD", case.initial.1)),
    ];
    for (id, op) in &opening {
        world.run(id, op, now).expect("the opening is valid");
    }
    let mut model = Model::of(&world);
    check_invariants(&world);
    for (account, op, dt) in &case.steps {
        now = now.saturating_add_signed(*dt);
        let id = ACCOUNTS[*account];
        let before = world.clone();
        let verdict = model.step(id, op);
        match (world.run(id, op, now), verdict) {
            (Ok(change), Ok((next_model, reply))) => {
                assert_eq!(reply_name(&change.reply), reply, "{op:?} on {before:?}");
                assert_eq!(Model::of(&world), next_model, "after {op:?}");
                match &change.event {
                    Some(event) => {
                        assert_eq!(event.kind.as_str(), event_for(op, &change.reply));
                        seen.replies.insert(reply);
                    }
                    None => {
                        assert_eq!(world, before, "a replay changes nothing");
                        seen.replays.insert(reply);
                    }
                }
                // A reply that carries an authorization shows it exactly as stored now.
                if let Some(x) = reply_authorization(&change.reply) {
                    let stored = world.auths.get(&(id.to_owned(), x.auth_id.clone()));
                    assert_eq!(Some(x), stored, "reply shows the stored authorization");
                }
                model = next_model;
            }
            (Err(err), Err(name)) => {
                assert_eq!(error_name(&err), name, "{op:?} on {before:?}: {err}");
                assert_eq!(world, before);
                seen.errors.insert(name);
            }
            (got, want) => panic!(
                "{op:?} on {id} at {now} on {before:?}: implementation {got:?}, model {want:?}"
            ),
        }
        check_invariants(&world);
    }
    for x in world.auths.values() {
        seen.states.insert(x.state.as_str());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random operation sequences on three accounts (one unopened), with duplicates,
    /// authorizations beyond the balance or in the wrong currency, captures, voids and refunds
    /// in any order: the implementation accepts exactly what the model accepts, replies and
    /// fails as it does, changes state exactly as it does, and conserves money.
    #[test]
    fn implementation_agrees_with_reference_model(case in arb_case()) {
        run_case(&case, &mut Seen::default());
    }

    /// `apply` is total: arbitrary accounts, authorizations and operations never panic, and
    /// whatever it accepts keeps a balanced account balanced.
    #[test]
    fn apply_never_panics(
        amounts in prop::array::uniform5(prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..500]),
        balance in any::<bool>(),
        version in prop_oneof![Just(u64::MAX), any::<u64>()],
        auth_amounts in (prop_oneof![Just(u64::MAX), any::<u64>(), 0u64..500], prop_oneof![Just(0u64), any::<u64>(), 0u64..500]),
        state in prop::sample::select(AuthorizationState::ALL),
        op in arb_op(),
        now in any::<u64>(),
    ) {
        let [bal, held, captured, refunded, mut credited] = amounts;
        if balance {
            credited = captured
                .checked_sub(refunded)
                .and_then(|net| net.checked_add(bal))
                .and_then(|sum| sum.checked_add(held))
                .unwrap_or(credited);
        }
        let account = Account {
            account_id: ACC.to_owned(), currency: "EUR".to_owned(), balance: bal, held, captured,
            refunded, credited, version, created_at_ms: T0, updated_at_ms: T0,
        };
        let auth = op.auth_id().map(|id| Authorization {
            auth_id: id.to_owned(), account_id: ACC.to_owned(), amount: auth_amounts.0,
            refunded: auth_amounts.1, state, decline_reason: None, created_at_ms: T0,
            updated_at_ms: T0,
        });
        let limits = PaymentLimits::default();
        for rec in [None, auth.as_ref()] {
            if let Ok(change) = apply(Some(&account), rec, ACC, &op, now, &limits)
                && account.is_balanced()
            {
                prop_assert!(change.account.is_balanced(), "{op:?} on {account:?}: {change:?}");
            }
        }
    }
}

/// The generator is not degenerate: over a fixed set of cases every reply (fresh and
/// replayed), every reachable error and every authorization state is seen.
#[test]
fn property_test_reaches_every_rule() {
    let mut runner = TestRunner::deterministic();
    let strategy = arb_case();
    let mut seen = Seen::default();
    for _ in 0..500 {
        let case = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        run_case(&case, &mut seen);
    }
    let set = |names: &[&'static str]| names.iter().copied().collect::<BTreeSet<_>>();
    assert_eq!(
        seen.replies,
        set(&[
            "Account",
            "Authorized",
            "Captured",
            "Declined",
            "Refunded",
            "Voided"
        ])
    );
    assert_eq!(
        seen.replays,
        set(&["Authorized", "Captured", "Declined", "Refunded", "Voided"])
    );
    assert_eq!(
        seen.errors,
        set(&[
            "AccountExists",
            "IllegalAuthorizationTransition",
            "InvalidAmount",
            "InvalidCurrency",
            "InvalidId",
            "RefundExceedsCapture",
            "UnknownAccount",
            "UnknownAuthorization",
        ])
    );
    let states: BTreeSet<_> = AuthorizationState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(seen.states, states);
}
