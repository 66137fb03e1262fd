//! The purchase workload's checker: stock and money conservation, no oversell, saga atomicity,
//! no lost acknowledged purchase, one effect per idempotency key.
//!
//! Inputs, all from the history: the `ok` `purchase_setup` (units per SKU and credit per
//! account read back before any fault: the baseline), every `purchase` (request, outcome and,
//! on `ok`, what the server answered) and the last `ok` `purchase_read` (after healing and
//! waiting for the sagas to end: stock per SKU, every account, the saga of every purchase ever
//! invoked, read linearizably).
//!
//! Checks (each a [`PurchaseViolation`]):
//! - **no oversell**: per SKU `committed <= initial`, and the units of the sagas whose lines are
//!   `COMMITTED` (every line of a `COMPLETED` saga) fit in `initial` too;
//! - **stock conserved**: per SKU `available + held + committed == initial` (the workload never
//!   restocks);
//! - **stock matches the sagas** (once settled): `committed` equals the units of `COMMITTED`
//!   saga lines, `held` those of `HELD` lines (0 once every saga ended: *nothing left held*);
//! - **money conserved**: per account `balance + held + captured - refunded == credited`, and
//!   `credited` is still the setup's credit;
//! - **money matches the sagas** (once settled): per account `captured` equals the amounts of
//!   its sagas whose payment is `CAPTURED`, `held` those still `AUTHORIZED` (0 once every saga
//!   ended); the sum of `captured` over accounts equals the sum of captured sagas' amounts
//!   (= the `COMPLETED` ones when none is parked);
//! - **saga atomicity**: a `COMPLETED` saga has its payment `CAPTURED`, every line
//!   `COMMITTED` and its order `PAID`/`CONFIRMED`; a `COMPENSATED` one holds nothing, took no
//!   money (`PENDING`/`DECLINED`/`VOIDED`) and its order is `CANCELLED`;
//! - **acknowledged purchases not lost**: an `ok` purchase's saga exists; an `ok` answer that
//!   reported a terminal status is still that status; a saga whose every attempt `fail`ed
//!   definitely does not exist;
//! - **one effect per idempotency key**: every answer for a key names the order derived from
//!   it, and the saga's account, amount and lines are the request's.
//!
//! Unknown (never a false verdict): no setup or no final read, sagas still `RUNNING` /
//! `COMPENSATING` after the settle wait (the stock/money-vs-saga matches are then skipped:
//! the reads are not one snapshot), or figures the final read could not resolve.
//! `NEEDS_ATTENTION` sagas are parked (they do not move without an operator): they are
//! counted and their holds and captures are accounted for from their state.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::history::History;
use crate::op::{OpType, Payload, PurchaseLine, PurchaseOutcome, PurchaseSnapshot, SagaFigures};
use crate::report::{CheckerVerdict, UnknownReason};

/// Saga statuses.
pub const COMPLETED: &str = "COMPLETED";
pub const COMPENSATED: &str = "COMPENSATED";
pub const NEEDS_ATTENTION: &str = "NEEDS_ATTENTION";

/// One SKU's figures: the setup's units, the final read's, and what the sagas account for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuSummary {
    pub initial: u64,
    pub available: u64,
    pub held: u64,
    pub committed: u64,
    /// Units of `COMMITTED` saga lines.
    pub saga_committed: u64,
    /// Units of `HELD` saga lines.
    pub saga_held: u64,
}

/// The purchase checker's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseReport {
    /// `Violation` if any violation was found, else `Unknown` if any reason is listed, else
    /// `Pass`.
    pub verdict: CheckerVerdict,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_reasons: Vec<UnknownReason>,
    /// Purchase invocations (retries of a key included) and distinct keys.
    pub attempted: usize,
    pub keys: usize,
    /// Invocations completed `ok`, `fail`, and `info` or pending.
    pub acknowledged: usize,
    pub failed: usize,
    pub indeterminate: usize,
    /// Keys whose saga does not exist (every attempt failed or was `info` and never applied).
    pub never_applied: usize,
    /// Sagas by final status.
    pub completed: usize,
    pub compensated: usize,
    pub needs_attention: usize,
    pub still_open: usize,
    /// Compensated sagas by reason (the part before `:`, e.g. `sold_out`, `payment_declined`).
    pub compensation_reasons: BTreeMap<String, usize>,
    /// True when the final read found no saga `RUNNING` or `COMPENSATING`.
    pub settled: bool,
    pub skus: BTreeMap<String, SkuSummary>,
    /// Sum of `captured` over the accounts, and of the amounts of `COMPLETED` sagas.
    pub captured_total: u64,
    pub completed_amount_total: u64,
    pub violations: Vec<PurchaseViolation>,
}

/// A broken promise of the purchase workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PurchaseViolation {
    /// More units committed (or claimed by committed saga lines) than the SKU ever had.
    Oversell {
        sku: String,
        initial: u64,
        committed: u64,
        saga_committed: u64,
    },
    /// `available + held + committed` differs from the SKU's initial units.
    StockNotConserved {
        sku: String,
        initial: u64,
        available: u64,
        held: u64,
        committed: u64,
    },
    /// The SKU's committed units differ from the units of the sagas' committed lines.
    CommittedMismatch {
        sku: String,
        committed: u64,
        saga_committed: u64,
    },
    /// Units held that no open saga holds (after every saga ended: anything held).
    StockLeftHeld {
        sku: String,
        held: u64,
        saga_held: u64,
    },
    /// The account's ledger identity is broken, or its credit changed.
    MoneyNotConserved {
        account_id: String,
        initial_credit: u64,
        balance: u64,
        held: u64,
        captured: u64,
        refunded: u64,
        credited: u64,
    },
    /// The account's captured money differs from the amounts of its captured sagas.
    CapturedMismatch {
        account_id: String,
        captured: u64,
        refunded: u64,
        saga_captured: u64,
    },
    /// Money held that no open saga has authorized.
    MoneyLeftHeld {
        account_id: String,
        held: u64,
        saga_authorized: u64,
    },
    /// Captured money over all accounts differs from the captured sagas' amounts.
    TotalCapturedMismatch {
        captured_total: u64,
        saga_captured_total: u64,
        completed_amount_total: u64,
    },
    /// A terminal saga that is not all-or-nothing.
    NotAtomic {
        order_id: String,
        status: String,
        payment: String,
        order_status: String,
        lines: Vec<String>,
        why: String,
    },
    /// An acknowledged purchase whose saga does not exist.
    Lost {
        order_id: String,
        idempotency_key: String,
        ack_index: u64,
    },
    /// An acknowledged terminal outcome that the final read contradicts.
    OutcomeChanged {
        order_id: String,
        ack_index: u64,
        acknowledged: String,
        final_status: String,
    },
    /// A saga exists although every purchase of its key failed definitely.
    FailedButPresent {
        order_id: String,
        idempotency_key: String,
    },
    /// An answer for the key named another order or saga than the one derived from the key.
    WrongOrder {
        idempotency_key: String,
        expected: String,
        answered: String,
        ack_index: u64,
    },
    /// The saga's account, amount or lines are not the request's.
    RequestMismatch { order_id: String, why: String },
    /// A purchase (a first try or a retry with the same key and request) was answered
    /// `ALREADY_EXISTS` instead of replaying: the key's idempotency record was lost.
    NotReplayed {
        order_id: String,
        idempotency_key: String,
        index: u64,
    },
}

/// What the history says about one idempotency key.
struct KeyOps<'a> {
    order_id: &'a str,
    account_id: &'a str,
    items: &'a [PurchaseLine],
    /// `ok` answers: (completion index, outcome).
    acks: Vec<(u64, &'a PurchaseOutcome)>,
    any_not_failed: bool,
}

fn stock_of<'a>(lines: &'a [crate::op::SagaLineFigures], state: &str) -> BTreeMap<&'a str, u64> {
    let mut out = BTreeMap::new();
    for l in lines.iter().filter(|l| l.stock == state) {
        *out.entry(l.sku.as_str()).or_insert(0) += l.quantity;
    }
    out
}

/// The atomicity problem of a terminal saga, if any.
fn atomicity(s: &SagaFigures) -> Option<String> {
    match s.status.as_str() {
        COMPLETED => {
            if s.payment != "CAPTURED" {
                Some(format!("completed but payment {}", s.payment))
            } else if let Some(l) = s.lines.iter().find(|l| l.stock != "COMMITTED") {
                Some(format!("completed but line {} is {}", l.sku, l.stock))
            } else if !matches!(s.order_status.as_str(), "PAID" | "CONFIRMED") {
                Some(format!("completed but the order is {}", s.order_status))
            } else {
                None
            }
        }
        COMPENSATED => {
            if !matches!(s.payment.as_str(), "PENDING" | "DECLINED" | "VOIDED") {
                Some(format!("compensated but payment {}", s.payment))
            } else if let Some(l) = s
                .lines
                .iter()
                .find(|l| l.stock == "HELD" || l.stock == "COMMITTED")
            {
                Some(format!("compensated but line {} is {}", l.sku, l.stock))
            } else if s.order_status != "CANCELLED" {
                Some(format!("compensated but the order is {}", s.order_status))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Checks the purchase workload in `history` (other workloads' ops are ignored).
pub fn check_purchases(history: &History) -> PurchaseReport {
    let pairs = history.pairs();
    let mut report = PurchaseReport {
        verdict: CheckerVerdict::Pass,
        unknown_reasons: Vec::new(),
        attempted: 0,
        keys: 0,
        acknowledged: 0,
        failed: 0,
        indeterminate: 0,
        never_applied: 0,
        completed: 0,
        compensated: 0,
        needs_attention: 0,
        still_open: 0,
        compensation_reasons: BTreeMap::new(),
        settled: false,
        skus: BTreeMap::new(),
        captured_total: 0,
        completed_amount_total: 0,
        violations: Vec::new(),
    };
    let mut v = Vec::new();

    // The baseline: the last ok setup.
    let setup = pairs
        .iter()
        .filter_map(|p| match p.ok_payload() {
            Some(Payload::PurchaseSetup { skus, accounts, .. }) => Some((skus, accounts)),
            _ => None,
        })
        .next_back();
    // The final read: the last ok purchase_read with a snapshot.
    let snapshot: Option<&PurchaseSnapshot> = pairs
        .iter()
        .filter_map(|p| match p.ok_payload() {
            Some(Payload::PurchaseRead {
                snapshot: Some(s), ..
            }) => Some(s.as_ref()),
            _ => None,
        })
        .next_back();

    // Purchases per key.
    let mut keys: BTreeMap<&str, KeyOps<'_>> = BTreeMap::new();
    for pair in &pairs {
        let Payload::Purchase {
            order_id,
            idempotency_key,
            account_id,
            items,
            ..
        } = &pair.invoke.payload
        else {
            continue;
        };
        report.attempted += 1;
        if let Some(c) = pair.completion
            && c.error.as_deref() == Some("ALREADY_EXISTS")
        {
            v.push(PurchaseViolation::NotReplayed {
                order_id: order_id.clone(),
                idempotency_key: idempotency_key.clone(),
                index: c.index,
            });
        }
        let k = keys.entry(idempotency_key).or_insert(KeyOps {
            order_id,
            account_id,
            items,
            acks: Vec::new(),
            any_not_failed: false,
        });
        match pair.outcome() {
            OpType::Ok => {
                report.acknowledged += 1;
                k.any_not_failed = true;
                if let (
                    Some(Payload::Purchase {
                        result: Some(r), ..
                    }),
                    Some(c),
                ) = (pair.ok_payload(), pair.completion)
                {
                    k.acks.push((c.index, r));
                }
            }
            OpType::Fail => report.failed += 1,
            OpType::Info | OpType::Invoke => {
                report.indeterminate += 1;
                k.any_not_failed = true;
            }
        }
    }
    report.keys = keys.len();

    // Answers name the order derived from the key (checkable without a final read).
    for (key, k) in &keys {
        for (index, r) in &k.acks {
            for answered in [&r.order_id, &r.saga_id] {
                if answered != k.order_id {
                    v.push(PurchaseViolation::WrongOrder {
                        idempotency_key: (*key).to_string(),
                        expected: k.order_id.to_string(),
                        answered: answered.clone(),
                        ack_index: *index,
                    });
                }
            }
        }
    }

    let Some(snap) = snapshot else {
        report
            .unknown_reasons
            .push(UnknownReason::NoPurchaseFinalRead);
        return finish(report, v);
    };
    let mut unresolved: BTreeSet<String> = snap.unresolved.iter().cloned().collect();

    // Sagas: existence, acknowledged outcomes, request match, atomicity, accounted effects.
    let mut sku_committed: BTreeMap<String, u64> = BTreeMap::new();
    let mut sku_held: BTreeMap<String, u64> = BTreeMap::new();
    let mut acct_captured: BTreeMap<&str, u64> = BTreeMap::new();
    let mut acct_authorized: BTreeMap<&str, u64> = BTreeMap::new();
    let mut open = 0usize;
    for (key, k) in &keys {
        let saga = match snap.sagas.get(k.order_id) {
            None => {
                unresolved.insert(k.order_id.to_string());
                continue;
            }
            Some(None) => {
                if let Some((index, _)) = k.acks.first() {
                    v.push(PurchaseViolation::Lost {
                        order_id: k.order_id.to_string(),
                        idempotency_key: (*key).to_string(),
                        ack_index: *index,
                    });
                } else {
                    report.never_applied += 1;
                }
                continue;
            }
            Some(Some(s)) => s,
        };
        if !k.any_not_failed {
            v.push(PurchaseViolation::FailedButPresent {
                order_id: k.order_id.to_string(),
                idempotency_key: (*key).to_string(),
            });
        }
        match saga.status.as_str() {
            COMPLETED => {
                report.completed += 1;
                report.completed_amount_total += saga.amount;
            }
            COMPENSATED => {
                report.compensated += 1;
                let reason = saga.reason.split(':').next().unwrap_or("").to_string();
                *report.compensation_reasons.entry(reason).or_insert(0) += 1;
            }
            NEEDS_ATTENTION => report.needs_attention += 1,
            _ => open += 1,
        }
        for (index, r) in &k.acks {
            let acked_terminal = r.saga_status == COMPLETED || r.saga_status == COMPENSATED;
            if acked_terminal && r.saga_status != saga.status {
                v.push(PurchaseViolation::OutcomeChanged {
                    order_id: k.order_id.to_string(),
                    ack_index: *index,
                    acknowledged: r.saga_status.clone(),
                    final_status: saga.status.clone(),
                });
            }
        }
        // The saga is the request's.
        let amount: u64 = k
            .items
            .iter()
            .map(|i| u64::from(i.quantity) * i.unit_price)
            .sum();
        let mut want: Vec<(&str, u64)> = k
            .items
            .iter()
            .map(|i| (i.sku.as_str(), u64::from(i.quantity)))
            .collect();
        let mut got: Vec<(&str, u64)> = saga
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        want.sort_unstable();
        got.sort_unstable();
        let why = if saga.account_id != k.account_id {
            Some(format!(
                "account {} instead of {}",
                saga.account_id, k.account_id
            ))
        } else if saga.amount != amount {
            Some(format!("amount {} instead of {amount}", saga.amount))
        } else if want != got {
            Some(format!("lines {got:?} instead of {want:?}"))
        } else {
            None
        };
        if let Some(why) = why {
            v.push(PurchaseViolation::RequestMismatch {
                order_id: k.order_id.to_string(),
                why,
            });
        }
        if let Some(why) = atomicity(saga) {
            v.push(PurchaseViolation::NotAtomic {
                order_id: k.order_id.to_string(),
                status: saga.status.clone(),
                payment: saga.payment.clone(),
                order_status: saga.order_status.clone(),
                lines: saga
                    .lines
                    .iter()
                    .map(|l| format!("{}x{} {}", l.quantity, l.sku, l.stock))
                    .collect(),
                why,
            });
        }
        for (sku, q) in stock_of(&saga.lines, "COMMITTED") {
            *sku_committed.entry(sku.to_string()).or_insert(0) += q;
        }
        for (sku, q) in stock_of(&saga.lines, "HELD") {
            *sku_held.entry(sku.to_string()).or_insert(0) += q;
        }
        match saga.payment.as_str() {
            "CAPTURED" => *acct_captured.entry(&saga.account_id).or_insert(0) += saga.amount,
            "AUTHORIZED" => *acct_authorized.entry(&saga.account_id).or_insert(0) += saga.amount,
            _ => {}
        }
    }
    report.still_open = open.max(snap.open_sagas.len());
    report.settled = snap.settled && open == 0;
    if !report.settled {
        report.unknown_reasons.push(UnknownReason::SagasStillOpen {
            count: report.still_open,
        });
    }

    let Some((setup_skus, setup_accounts)) = setup else {
        report.unknown_reasons.push(UnknownReason::NoPurchaseSetup);
        return finish_unresolved(report, v, unresolved);
    };
    // The saga-vs-figures matches need a settled, fully resolved snapshot.
    let matchable = report.settled && unresolved.is_empty();

    // Stock.
    for (sku, &initial) in setup_skus {
        let Some(f) = snap.stock.get(sku) else {
            unresolved.insert(format!("stock {sku}"));
            continue;
        };
        let saga_committed = sku_committed.get(sku).copied().unwrap_or(0);
        let saga_held = sku_held.get(sku).copied().unwrap_or(0);
        report.skus.insert(
            sku.clone(),
            SkuSummary {
                initial,
                available: f.available,
                held: f.held,
                committed: f.committed,
                saga_committed,
                saga_held,
            },
        );
        if f.committed > initial || saga_committed > initial {
            v.push(PurchaseViolation::Oversell {
                sku: sku.clone(),
                initial,
                committed: f.committed,
                saga_committed,
            });
        }
        if u128::from(f.available) + u128::from(f.held) + u128::from(f.committed)
            != u128::from(initial)
        {
            v.push(PurchaseViolation::StockNotConserved {
                sku: sku.clone(),
                initial,
                available: f.available,
                held: f.held,
                committed: f.committed,
            });
        }
        if matchable {
            if f.committed != saga_committed {
                v.push(PurchaseViolation::CommittedMismatch {
                    sku: sku.clone(),
                    committed: f.committed,
                    saga_committed,
                });
            }
            if f.held != saga_held {
                v.push(PurchaseViolation::StockLeftHeld {
                    sku: sku.clone(),
                    held: f.held,
                    saga_held,
                });
            }
        }
    }

    // Money.
    let mut saga_captured_total = 0u64;
    for (account_id, &initial_credit) in setup_accounts {
        let Some(a) = snap.accounts.get(account_id) else {
            unresolved.insert(format!("account {account_id}"));
            continue;
        };
        report.captured_total += a.captured;
        let lhs = i128::from(a.balance) + i128::from(a.held) + i128::from(a.captured)
            - i128::from(a.refunded);
        if lhs != i128::from(a.credited) || a.credited != initial_credit {
            v.push(PurchaseViolation::MoneyNotConserved {
                account_id: account_id.clone(),
                initial_credit,
                balance: a.balance,
                held: a.held,
                captured: a.captured,
                refunded: a.refunded,
                credited: a.credited,
            });
        }
        let saga_captured = acct_captured.get(account_id.as_str()).copied().unwrap_or(0);
        let saga_authorized = acct_authorized
            .get(account_id.as_str())
            .copied()
            .unwrap_or(0);
        saga_captured_total += saga_captured;
        if matchable {
            if a.captured != saga_captured || a.refunded != 0 {
                v.push(PurchaseViolation::CapturedMismatch {
                    account_id: account_id.clone(),
                    captured: a.captured,
                    refunded: a.refunded,
                    saga_captured,
                });
            }
            if a.held != saga_authorized {
                v.push(PurchaseViolation::MoneyLeftHeld {
                    account_id: account_id.clone(),
                    held: a.held,
                    saga_authorized,
                });
            }
        }
    }
    // Sagas on accounts the setup did not create count too.
    saga_captured_total += acct_captured
        .iter()
        .filter(|(a, _)| !setup_accounts.contains_key(**a))
        .map(|(_, c)| c)
        .sum::<u64>();
    if matchable && report.captured_total != saga_captured_total {
        v.push(PurchaseViolation::TotalCapturedMismatch {
            captured_total: report.captured_total,
            saga_captured_total,
            completed_amount_total: report.completed_amount_total,
        });
    }
    finish_unresolved(report, v, unresolved)
}

fn finish_unresolved(
    mut report: PurchaseReport,
    v: Vec<PurchaseViolation>,
    unresolved: BTreeSet<String>,
) -> PurchaseReport {
    if !unresolved.is_empty() {
        report.unknown_reasons.push(UnknownReason::Unresolved {
            count: unresolved.len(),
        });
    }
    finish(report, v)
}

fn finish(mut report: PurchaseReport, v: Vec<PurchaseViolation>) -> PurchaseReport {
    report.verdict = if !v.is_empty() {
        CheckerVerdict::Violation
    } else if !report.unknown_reasons.is_empty() {
        CheckerVerdict::Unknown
    } else {
        CheckerVerdict::Pass
    };
    report.violations = v;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{AccountFigures, SagaLineFigures, StockFigures};

    const HOT: &str = "hot";

    fn line(sku: &str, q: u32) -> PurchaseLine {
        PurchaseLine {
            sku: sku.into(),
            quantity: q,
            unit_price: 10,
        }
    }

    fn saga(
        status: &str,
        account: &str,
        q: u64,
        payment: &str,
        stock: &str,
        order: &str,
    ) -> SagaFigures {
        SagaFigures {
            status: status.into(),
            reason: if status == COMPENSATED {
                "sold_out".into()
            } else {
                String::new()
            },
            account_id: account.into(),
            amount: q * 10,
            payment: payment.into(),
            order_status: order.into(),
            lines: vec![SagaLineFigures {
                sku: HOT.into(),
                quantity: q,
                stock: stock.into(),
            }],
        }
    }

    fn outcome(order_id: &str, status: &str) -> PurchaseOutcome {
        PurchaseOutcome {
            order_id: order_id.into(),
            saga_id: order_id.into(),
            saga_status: status.into(),
            reason: String::new(),
            order_status: String::new(),
            payment: String::new(),
            amount: 0,
            replayed: false,
        }
    }

    /// A little world: HOT has 3 units, accounts a (100) and b (5). Purchases: o1 (a, 2,
    /// completed), o2 (a, 2, sold out), o3 (b, 1, info, never applied), o4 (b, 1, completed
    /// after an info answer).
    struct World {
        snap: PurchaseSnapshot,
        ops: Vec<(String, String, u32, OpType, Option<PurchaseOutcome>)>,
    }

    fn world() -> World {
        let mut snap = PurchaseSnapshot {
            settled: true,
            ..PurchaseSnapshot::default()
        };
        snap.stock.insert(
            HOT.into(),
            StockFigures {
                available: 0,
                held: 0,
                committed: 3,
            },
        );
        snap.accounts.insert(
            "a".into(),
            AccountFigures {
                balance: 80,
                held: 0,
                captured: 20,
                refunded: 0,
                credited: 100,
            },
        );
        snap.accounts.insert(
            "b".into(),
            AccountFigures {
                balance: 0,
                held: 0,
                captured: 10,
                refunded: 0,
                credited: 10,
            },
        );
        snap.sagas.insert(
            "o1".into(),
            Some(saga(COMPLETED, "a", 2, "CAPTURED", "COMMITTED", "PAID")),
        );
        snap.sagas.insert(
            "o2".into(),
            Some(saga(
                COMPENSATED,
                "a",
                2,
                "PENDING",
                "SOLD_OUT",
                "CANCELLED",
            )),
        );
        snap.sagas.insert("o3".into(), None);
        snap.sagas.insert(
            "o4".into(),
            Some(saga(COMPLETED, "b", 1, "CAPTURED", "COMMITTED", "PAID")),
        );
        World {
            snap,
            ops: vec![
                (
                    "o1".into(),
                    "a".into(),
                    2,
                    OpType::Ok,
                    Some(outcome("o1", COMPLETED)),
                ),
                (
                    "o2".into(),
                    "a".into(),
                    2,
                    OpType::Ok,
                    Some(outcome("o2", COMPENSATED)),
                ),
                ("o3".into(), "b".into(), 1, OpType::Info, None),
                ("o4".into(), "b".into(), 1, OpType::Info, None),
            ],
        }
    }

    fn history(w: &World) -> History {
        let mut h = History::empty();
        let mut t = 0;
        let mut tick = || {
            t += 1;
            t
        };
        let setup = Payload::PurchaseSetup {
            region: "local".into(),
            skus: [(HOT.to_string(), 3)].into(),
            accounts: [("a".to_string(), 100), ("b".to_string(), 10)].into(),
        };
        h.record(99, OpType::Invoke, tick(), setup.clone(), None)
            .unwrap();
        h.record(99, OpType::Ok, tick(), setup, None).unwrap();
        for (p, (order, account, q, ty, result)) in w.ops.iter().enumerate() {
            let req = Payload::Purchase {
                order_id: order.clone(),
                idempotency_key: format!("k-{order}"),
                account_id: account.clone(),
                items: vec![line(HOT, *q)],
                result: None,
            };
            let mut done = req.clone();
            if let Payload::Purchase { result: r, .. } = &mut done {
                r.clone_from(result);
            }
            h.record(p as u64, OpType::Invoke, tick(), req, None)
                .unwrap();
            h.record(p as u64, *ty, tick(), done, None).unwrap();
        }
        let read = Payload::PurchaseRead { snapshot: None };
        h.record(1000, OpType::Invoke, tick(), read, None).unwrap();
        let done = Payload::PurchaseRead {
            snapshot: Some(Box::new(w.snap.clone())),
        };
        h.record(1000, OpType::Ok, tick(), done, None).unwrap();
        h
    }

    fn kinds(r: &PurchaseReport) -> Vec<String> {
        r.violations
            .iter()
            .map(|v| {
                serde_json::to_value(v).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_consistent_world_passes() {
        let r = check_purchases(&history(&world()));
        assert_eq!(r.verdict, CheckerVerdict::Pass, "{r:#?}");
        assert_eq!((r.completed, r.compensated, r.never_applied), (2, 1, 1));
        assert_eq!(r.compensation_reasons.get("sold_out"), Some(&1));
        assert_eq!((r.captured_total, r.completed_amount_total), (30, 30));
        assert_eq!(r.keys, 4);
    }

    #[test]
    fn a_purchase_refused_as_already_exists_is_caught() {
        let mut w = world();
        // o4's retry (after its info answer) was refused instead of replayed.
        w.ops.push(("o4".into(), "b".into(), 1, OpType::Info, None));
        let mut h = history(&w);
        let last_retry = h
            .ops()
            .iter()
            .rposition(|o| o.op_type == OpType::Info)
            .expect("the retry");
        h = History::new(
            h.ops()
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let mut o = o.clone();
                    if i == last_retry {
                        o.error = Some("ALREADY_EXISTS".into());
                    }
                    o
                })
                .collect(),
        )
        .unwrap();
        let r = check_purchases(&h);
        assert_eq!(kinds(&r), ["not_replayed"], "{r:#?}");
        // Recorded with another error, the same retry is fine.
        assert_eq!(check_purchases(&history(&w)).verdict, CheckerVerdict::Pass);
    }

    #[test]
    fn oversell_is_caught() {
        let mut w = world();
        // A fifth purchase completed too: 4 units committed out of 3.
        w.snap.sagas.insert(
            "o5".into(),
            Some(saga(COMPLETED, "a", 1, "CAPTURED", "COMMITTED", "PAID")),
        );
        w.ops.push((
            "o5".into(),
            "a".into(),
            1,
            OpType::Ok,
            Some(outcome("o5", COMPLETED)),
        ));
        let s = w.snap.stock.get_mut(HOT).unwrap();
        s.committed = 4;
        let a = w.snap.accounts.get_mut("a").unwrap();
        a.captured += 10;
        a.balance -= 10;
        let r = check_purchases(&history(&w));
        assert_eq!(r.verdict, CheckerVerdict::Violation);
        assert!(kinds(&r).contains(&"oversell".to_string()), "{r:#?}");
        assert!(kinds(&r).contains(&"stock_not_conserved".to_string()));
    }

    #[test]
    fn a_leftover_hold_is_caught() {
        let mut w = world();
        let s = w.snap.stock.get_mut(HOT).unwrap();
        s.committed = 2;
        s.held = 1;
        let r = check_purchases(&history(&w));
        assert_eq!(
            kinds(&r),
            ["committed_mismatch", "stock_left_held"],
            "{r:#?}"
        );
        let mut w = world();
        let a = w.snap.accounts.get_mut("a").unwrap();
        a.balance -= 5;
        a.held += 5;
        assert_eq!(kinds(&check_purchases(&history(&w))), ["money_left_held"]);
    }

    #[test]
    fn money_created_or_destroyed_is_caught() {
        let mut w = world();
        w.snap.accounts.get_mut("b").unwrap().balance = 3;
        assert_eq!(
            kinds(&check_purchases(&history(&w))),
            ["money_not_conserved"]
        );
    }

    #[test]
    fn a_double_capture_is_caught() {
        let mut w = world();
        // The retried key charged b twice (one saga, two captures).
        let b = w.snap.accounts.get_mut("b").unwrap();
        b.credited = 20;
        let r = check_purchases(&history(&w));
        assert!(kinds(&r).contains(&"money_not_conserved".to_string()));
        let mut w = world();
        let b = w.snap.accounts.get_mut("b").unwrap();
        b.captured = 20;
        b.balance = 0;
        b.credited = 20;
        let k = kinds(&check_purchases(&history(&w)));
        assert!(k.contains(&"captured_mismatch".to_string()), "{k:?}");
        assert!(k.contains(&"total_captured_mismatch".to_string()), "{k:?}");
    }

    #[test]
    fn a_half_done_saga_is_caught() {
        let mut w = world();
        // Compensated, but the money was captured (and stays captured).
        w.snap.sagas.insert(
            "o2".into(),
            Some(saga(
                COMPENSATED,
                "a",
                2,
                "CAPTURED",
                "RELEASED",
                "CANCELLED",
            )),
        );
        let k = kinds(&check_purchases(&history(&w)));
        assert!(k.contains(&"not_atomic".to_string()), "{k:?}");
        let mut w = world();
        w.snap.sagas.insert(
            "o1".into(),
            Some(saga(
                COMPLETED,
                "a",
                2,
                "CAPTURED",
                "COMMITTED",
                "AWAITING_PAYMENT",
            )),
        );
        assert_eq!(kinds(&check_purchases(&history(&w))), ["not_atomic"]);
    }

    #[test]
    fn lost_and_changed_acknowledgements_are_caught() {
        let mut w = world();
        w.snap.sagas.insert("o1".into(), None);
        let r = check_purchases(&history(&w));
        assert!(kinds(&r).contains(&"lost".to_string()), "{r:#?}");
        let mut w = world();
        w.ops[1].4 = Some(outcome("o2", COMPLETED));
        assert_eq!(kinds(&check_purchases(&history(&w))), ["outcome_changed"]);
        let mut w = world();
        w.ops[0].4 = Some(outcome("o9", COMPLETED));
        assert_eq!(
            kinds(&check_purchases(&history(&w))),
            ["wrong_order", "wrong_order"]
        );
        let mut w = world();
        w.ops[3].3 = OpType::Fail;
        assert_eq!(
            kinds(&check_purchases(&history(&w))),
            ["failed_but_present"]
        );
    }

    #[test]
    fn open_sagas_or_unreadable_figures_are_unknown() {
        let mut w = world();
        w.snap.settled = false;
        w.snap.open_sagas = vec!["o4 RUNNING".into()];
        let r = check_purchases(&history(&w));
        assert_eq!(r.verdict, CheckerVerdict::Unknown, "{r:#?}");
        let mut w = world();
        w.snap.sagas.remove("o3");
        w.snap.unresolved.push("o3".into());
        let r = check_purchases(&history(&w));
        assert_eq!(r.verdict, CheckerVerdict::Unknown);
        assert_eq!(r.unknown_reasons, [UnknownReason::Unresolved { count: 1 }]);
        // An oversell is still a violation while sagas are open.
        let mut w = world();
        w.snap.settled = false;
        w.snap.stock.get_mut(HOT).unwrap().committed = 5;
        w.snap.stock.get_mut(HOT).unwrap().available = 0;
        let r = check_purchases(&history(&w));
        assert_eq!(r.verdict, CheckerVerdict::Violation);
    }

    #[test]
    fn no_final_read_is_unknown() {
        let mut h = History::empty();
        let p = Payload::Purchase {
            order_id: "o1".into(),
            idempotency_key: "k".into(),
            account_id: "a".into(),
            items: vec![line(HOT, 1)],
            result: None,
        };
        h.record(1, OpType::Invoke, 1, p, None).unwrap();
        let r = check_purchases(&h);
        assert_eq!(r.verdict, CheckerVerdict::Unknown);
        assert_eq!(r.unknown_reasons, [UnknownReason::NoPurchaseFinalRead]);
    }
}
