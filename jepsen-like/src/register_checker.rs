//! The register workload's checker: every order checked for linearizability independently
//! (linearizability is compositional, so the history is linearizable iff every order is), with a
//! readable explanation for each violation.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::history::{History, OpPair};
use crate::linearizability::{Budget, Candidate, SearchOutcome, search};
use crate::op::{OpType, Payload, ProcessId};
use crate::register_model::{OrderRegister, RegisterSlot, register_operations};
use crate::report::{CheckerVerdict, UnknownReason};

/// How many linearized operations before the dead end a violation lists.
const PREFIX_SHOWN: usize = 5;

/// The linearizability checker's result for a whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearizabilityReport {
    /// `Violation` if any order is not linearizable, else `Unknown` if any order's search ran out
    /// of budget, else `Pass`.
    pub verdict: CheckerVerdict,
    pub keys_checked: usize,
    pub keys_ok: usize,
    pub keys_violated: usize,
    pub keys_unknown: usize,
    /// Operations searched (definite failures and unknown-outcome reads are not).
    pub ops_checked: usize,
    /// Model steps taken over all keys.
    pub steps: u64,
    /// The verdict for every order id.
    pub keys: BTreeMap<String, Verdict>,
}

/// One order's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Violation(Violation),
    Unknown { reason: UnknownReason },
}

/// Why one order's history is not linearizable, from the search's deepest dead end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub key: String,
    /// A human-readable account: the longest legal order found, the operation that completed
    /// before it could take effect, and why no operation fits next.
    pub explanation: String,
    /// The operations involved: the tail of the legal prefix, the blocked op and the candidates.
    pub ops: Vec<OpSummary>,
    /// History indices (of invocations) of the longest legal prefix, in linearization order.
    pub linearized_prefix: Vec<u64>,
    /// The operation that completed before it could be linearized.
    pub blocked: u64,
    /// The operations that could have gone next, with the model's objection.
    pub candidates: Vec<Candidate>,
}

/// An operation as a violation report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSummary {
    /// History index of the invocation.
    pub index: u64,
    pub process: ProcessId,
    /// Request and result, e.g. `read o-1 -> v1 AWAITING_PAYMENT`.
    pub description: String,
    /// `ok`, or `info` for unknown outcomes (pending ops included).
    pub outcome: OpType,
    pub invoked_ns: u64,
    pub completed_ns: Option<u64>,
}

/// Checks every order of the register workload in `history` within `budget` (per order).
/// Set-workload ops are ignored. A history without register ops gives `Pass` with no keys.
pub fn check_linearizability(history: &History, budget: &Budget) -> LinearizabilityReport {
    let pairs: HashMap<u64, OpPair<'_>> = history
        .pairs()
        .into_iter()
        .map(|p| (p.invoke.index, p))
        .collect();
    let mut report = LinearizabilityReport {
        verdict: CheckerVerdict::Pass,
        keys_checked: 0,
        keys_ok: 0,
        keys_violated: 0,
        keys_unknown: 0,
        ops_checked: 0,
        steps: 0,
        keys: BTreeMap::new(),
    };
    for (key, ops) in register_operations(history) {
        report.keys_checked += 1;
        report.ops_checked += ops.len();
        let verdict = match search(&OrderRegister, &ops, budget) {
            SearchOutcome::Linearizable { steps } => {
                report.steps += steps;
                report.keys_ok += 1;
                Verdict::Ok
            }
            SearchOutcome::Unknown { steps, reason } => {
                report.steps += steps;
                report.keys_unknown += 1;
                Verdict::Unknown { reason }
            }
            SearchOutcome::NotLinearizable { steps, frontier } => {
                report.steps += steps;
                report.keys_violated += 1;
                let summary = |index: u64| summarize(&pairs, index);
                let shown_prefix =
                    &frontier.prefix[frontier.prefix.len().saturating_sub(PREFIX_SHOWN)..];
                let mut involved: Vec<u64> = shown_prefix.to_vec();
                involved.push(frontier.blocked);
                involved.extend(frontier.candidates.iter().map(|c| c.id));
                let mut seen = std::collections::HashSet::new();
                involved.retain(|i| seen.insert(*i));
                let explanation = explain(
                    &key,
                    frontier.prefix.len(),
                    shown_prefix,
                    &frontier.state,
                    frontier.blocked,
                    &frontier.candidates,
                    &summary,
                );
                Verdict::Violation(Violation {
                    key: key.clone(),
                    explanation,
                    ops: involved.into_iter().filter_map(summary).collect(),
                    linearized_prefix: frontier.prefix,
                    blocked: frontier.blocked,
                    candidates: frontier.candidates,
                })
            }
        };
        report.keys.insert(key, verdict);
    }
    report.verdict = if report.keys_violated > 0 {
        CheckerVerdict::Violation
    } else if report.keys_unknown > 0 {
        CheckerVerdict::Unknown
    } else {
        CheckerVerdict::Pass
    };
    report
}

fn summarize(pairs: &HashMap<u64, OpPair<'_>>, index: u64) -> Option<OpSummary> {
    let pair = pairs.get(&index)?;
    let outcome = pair.outcome();
    let result = match pair.ok_payload() {
        Some(Payload::Read { observed, .. }) => match observed {
            Some(v) => format!(" -> {v}"),
            None => " -> absent".to_string(),
        },
        Some(Payload::Create {
            created: Some(v), ..
        })
        | Some(Payload::Transition {
            result: Some(v), ..
        }) => format!(" -> {v}"),
        Some(_) => " -> ok".to_string(),
        None => " (outcome unknown)".to_string(),
    };
    Some(OpSummary {
        index,
        process: pair.invoke.process,
        description: format!("{}{result}", pair.invoke.payload),
        outcome,
        invoked_ns: pair.invoke.time_ns,
        completed_ns: pair
            .completion
            .filter(|c| c.op_type == OpType::Ok)
            .map(|c| c.time_ns),
    })
}

fn line(summary: &OpSummary) -> String {
    let until = summary
        .completed_ns
        .map_or_else(|| "..".to_string(), |t| format!("..{t}"));
    format!(
        "#{} p{} {} [{}{} ns]",
        summary.index, summary.process, summary.description, summary.invoked_ns, until
    )
}

fn explain(
    key: &str,
    prefix_len: usize,
    shown_prefix: &[u64],
    state: &Option<RegisterSlot>,
    blocked: u64,
    candidates: &[Candidate],
    summary: &dyn Fn(u64) -> Option<OpSummary>,
) -> String {
    let show = |i: u64| summary(i).map_or_else(|| format!("#{i}"), |s| line(&s));
    let mut text = format!("order {key} is not linearizable.\n");
    if prefix_len == 0 {
        text.push_str("No operation can take effect first.\n");
    } else {
        text.push_str(&format!(
            "Longest legal order found ({prefix_len} ops{}):\n",
            if prefix_len > shown_prefix.len() {
                format!(", last {} shown", shown_prefix.len())
            } else {
                String::new()
            }
        ));
        for &i in shown_prefix {
            text.push_str(&format!("  {}\n", show(i)));
        }
    }
    let state = match state {
        None => "absent".to_string(),
        Some(RegisterSlot {
            version,
            status: Some(s),
        }) => format!("v{version} {s}"),
        Some(RegisterSlot {
            version,
            status: None,
        }) => format!("v{version} (status not yet observed)"),
    };
    text.push_str(&format!(
        "leaving the order {state}. Then {} completed, so it must take effect before that, \
         but no operation can go next:\n",
        show(blocked)
    ));
    for c in candidates {
        let why = c
            .rejection
            .clone()
            .unwrap_or_else(|| "fits here, but every order after it fails".to_string());
        text.push_str(&format!("  #{}: {why}\n", c.id));
    }
    text
}
