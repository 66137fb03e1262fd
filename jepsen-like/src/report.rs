//! The combined result of checking one history, and its exit-code mapping.

use serde::{Deserialize, Serialize};

use crate::error::HistoryError;
use crate::history::History;
use crate::linearizability::Budget;
use crate::op::Payload;
use crate::purchase_checker::{PurchaseReport, check_purchases};
use crate::register_checker::{LinearizabilityReport, check_linearizability};
use crate::set_checker::{SetReport, check_set};

/// Exit code when every checker passed.
pub const EXIT_VALID: u8 = 0;
/// Exit code when any checker found a violation.
pub const EXIT_VIOLATION: u8 = 1;
/// Exit code when no violation was found but some check was inconclusive, nothing could be
/// checked, or the history was malformed.
pub const EXIT_UNKNOWN: u8 = 2;

/// One checker's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckerVerdict {
    Pass,
    Violation,
    Unknown,
}

/// Why a check could not decide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnknownReason {
    /// A linearizability search took `steps` model steps without an answer.
    StepBudgetExhausted { steps: u64 },
    /// A linearizability search ran longer than `budget_ms`.
    TimeBudgetExhausted { budget_ms: u64 },
    /// A linearizability search's memo table grew past its cap (`bytes`, estimated).
    MemoryBudgetExhausted { bytes: u64 },
    /// The set workload has no `ok` `read_all` to check against.
    NoFinalRead,
    /// The purchase workload has no `ok` `purchase_read` to check against.
    NoPurchaseFinalRead,
    /// The purchase workload has no `ok` `purchase_setup` (no baseline for conservation).
    NoPurchaseSetup,
    /// `count` sagas were still `RUNNING`/`COMPENSATING` at the final read, so stock and
    /// money could not be matched against the sagas.
    SagasStillOpen { count: usize },
    /// `count` sagas, SKUs or accounts could not be read at the end.
    Unresolved { count: usize },
}

/// The overall outcome of checking a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every checker that applied passed (and at least one applied).
    Valid,
    /// Some checker found a violation.
    Invalid,
    /// No violation, but some checker was inconclusive or no checker applied.
    Unknown,
    /// The history is not well-formed; nothing was checked.
    Malformed,
}

impl Outcome {
    /// The process exit code: 0 valid, 1 invalid, 2 unknown or malformed.
    pub const fn exit_code(self) -> u8 {
        match self {
            Outcome::Valid => EXIT_VALID,
            Outcome::Invalid => EXIT_VIOLATION,
            Outcome::Unknown | Outcome::Malformed => EXIT_UNKNOWN,
        }
    }
}

/// Everything one check found; serialises to the `results.json` a run directory keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub outcome: Outcome,
    /// Why the history is malformed, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
    /// Ops (invocations and completions) in the history.
    pub history_ops: usize,
    /// Present when the history has register-workload ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<LinearizabilityReport>,
    /// Present when the history has set-workload ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SetReport>,
    /// Present when the history has purchase-workload ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase: Option<PurchaseReport>,
}

impl CheckReport {
    /// The report for a history that failed to load or validate.
    pub fn malformed(error: &HistoryError) -> Self {
        CheckReport {
            outcome: Outcome::Malformed,
            malformed: Some(error.to_string()),
            history_ops: 0,
            linearizability: None,
            set: None,
            purchase: None,
        }
    }

    /// The process exit code for this report (see [`Outcome::exit_code`]).
    pub const fn exit_code(&self) -> u8 {
        self.outcome.exit_code()
    }
}

/// Runs every applicable checker on `history` with the default [`Budget`].
pub fn check_history(history: &History) -> CheckReport {
    check_history_with(history, &Budget::default())
}

/// Runs every applicable checker on `history`: linearizability when it has register-workload
/// ops (searching each order within `budget`), the set checker when it has set-workload ops,
/// the purchase checker when it has purchase-workload ops.
/// The outcome is `Invalid` if any checker found a violation, else `Unknown` if any was
/// inconclusive or none applied, else `Valid`.
pub fn check_history_with(history: &History, budget: &Budget) -> CheckReport {
    let has_register = history
        .ops()
        .iter()
        .any(|op| op.payload.register_key().is_some());
    let has_set = history
        .ops()
        .iter()
        .any(|op| matches!(op.payload, Payload::Add { .. } | Payload::ReadAll { .. }));
    let has_purchase = history.ops().iter().any(|op| {
        matches!(
            op.payload,
            Payload::PurchaseSetup { .. } | Payload::Purchase { .. } | Payload::PurchaseRead { .. }
        )
    });
    let linearizability = has_register.then(|| check_linearizability(history, budget));
    let set = has_set.then(|| check_set(history));
    let purchase = has_purchase.then(|| check_purchases(history));

    let verdicts: Vec<CheckerVerdict> = linearizability
        .iter()
        .map(|r| r.verdict)
        .chain(set.iter().map(|r| r.verdict))
        .chain(purchase.iter().map(|r| r.verdict))
        .collect();
    let outcome = if verdicts.contains(&CheckerVerdict::Violation) {
        Outcome::Invalid
    } else if verdicts.is_empty() || verdicts.contains(&CheckerVerdict::Unknown) {
        Outcome::Unknown
    } else {
        Outcome::Valid
    };
    CheckReport {
        outcome,
        malformed: None,
        history_ops: history.len(),
        linearizability,
        set,
        purchase,
    }
}

/// Parses a JSON-lines history and checks it; a parse or validation error gives a `Malformed`
/// report (exit code 2) instead of an error.
pub fn check_jsonl(text: &str, budget: &Budget) -> CheckReport {
    match History::from_jsonl(text) {
        Ok(history) => check_history_with(&history, budget),
        Err(e) => CheckReport::malformed(&e),
    }
}
