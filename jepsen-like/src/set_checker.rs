//! The set workload's checker: no acknowledged order lost, nothing unexpected, no duplicates.
//!
//! Clients `add` orders (each with an idempotency key; retries reuse the key) and finally
//! `read_all`. Against the last `ok` `read_all` of the history (the *final read*):
//! - **lost**: an `ok` add whose acknowledged order id is absent, although the add completed
//!   before the final read began (an add still running when the read began may miss it);
//! - **unexpected**: a listed order id no add ever mentioned;
//! - **wrong key**: a listed order whose idempotency key is not one it was added with;
//! - **failed but present**: a listed order whose every add failed definitely;
//! - **duplicate**: one idempotency key listed with several order ids (a retry created a second
//!   order), or one order id listed more than once.
//!
//! Adds of unknown outcome (`info` or pending) may or may not be present: they are counted as
//! *recovered* (present) or *lost-unknown* (absent), never as violations.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::history::History;
use crate::op::{OpType, Payload, SetElement};
use crate::report::{CheckerVerdict, UnknownReason};

/// The set checker's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetReport {
    /// `Violation` if any violation was found, else `Unknown` when there is no final read,
    /// else `Pass`.
    pub verdict: CheckerVerdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<UnknownReason>,
    /// History index of the final read's invocation.
    pub final_read: Option<u64>,
    /// Add invocations.
    pub attempted: usize,
    /// Adds completed `ok`.
    pub acknowledged: usize,
    /// Adds completed `fail`.
    pub failed: usize,
    /// Adds completed `info` or still pending.
    pub indeterminate: usize,
    /// Elements listed by the final read.
    pub read_size: usize,
    /// `ok` adds whose order is listed.
    pub acknowledged_present: usize,
    /// `ok` adds concurrent with the final read whose order is not listed (allowed).
    pub concurrent_absent: usize,
    /// Indeterminate adds whose order is listed.
    pub recovered: usize,
    /// Indeterminate adds whose order is not listed.
    pub lost_unknown: usize,
    pub violations: Vec<SetViolation>,
}

/// A broken promise of the set workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SetViolation {
    /// The add at history index `add_index` was acknowledged and completed before the final read
    /// began, but its order is not listed.
    Lost {
        order_id: String,
        idempotency_key: String,
        add_index: u64,
    },
    /// The final read lists an order no add mentioned.
    Unexpected {
        order_id: String,
        idempotency_key: String,
    },
    /// The final read lists `order_id` under `listed_key`, but it was only added under
    /// `added_keys`.
    WrongKey {
        order_id: String,
        listed_key: String,
        added_keys: Vec<String>,
    },
    /// The final read lists an order whose adds (`add_indices`) all failed definitely.
    FailedButPresent {
        order_id: String,
        add_indices: Vec<u64>,
    },
    /// One idempotency key is listed with several orders: a retry was not deduplicated.
    Duplicate {
        idempotency_key: String,
        order_ids: Vec<String>,
    },
    /// One order id is listed `count` times.
    RepeatedElement { order_id: String, count: usize },
    /// A retry of an add (same idempotency key, same request) was refused as `ALREADY_EXISTS`
    /// instead of replaying the first answer: the key's record was lost.
    NotReplayed {
        order_id: String,
        idempotency_key: String,
        add_index: u64,
    },
}

/// The error kind of a keyed create that found its order existing but no idempotency record.
/// Every add has a key of its own (retries reuse it with the same request), so the server
/// must replay, never answer this.
const ALREADY_EXISTS: &str = "ALREADY_EXISTS";

/// What the adds said about one order id.
#[derive(Default)]
struct Attempts {
    keys: BTreeSet<String>,
    /// Indices of adds naming this id whose outcome was not a definite failure.
    possible: Vec<u64>,
    failed: Vec<u64>,
}

/// Checks the set workload in `history` (register-workload ops are ignored). A history without
/// set ops yields `Unknown` with [`UnknownReason::NoFinalRead`]; callers that run both checkers
/// skip this one when there are no set ops.
pub fn check_set(history: &History) -> SetReport {
    let pairs = history.pairs();
    let mut report = SetReport {
        verdict: CheckerVerdict::Pass,
        unknown_reason: None,
        final_read: None,
        attempted: 0,
        acknowledged: 0,
        failed: 0,
        indeterminate: 0,
        read_size: 0,
        acknowledged_present: 0,
        concurrent_absent: 0,
        recovered: 0,
        lost_unknown: 0,
        violations: Vec::new(),
    };

    // The final read: the last `ok` read_all to complete.
    let final_read = pairs
        .iter()
        .filter(|p| matches!(p.invoke.payload, Payload::ReadAll { .. }))
        .filter_map(|p| match p.ok_payload() {
            Some(Payload::ReadAll { elements }) => {
                p.completion.map(|c| (c.index, p.invoke, elements))
            }
            _ => None,
        })
        .max_by_key(|(completed_at, _, _)| *completed_at);

    // Every order id any add mentioned (invoked or acknowledged), with its keys and outcomes.
    let mut attempts: BTreeMap<&str, Attempts> = BTreeMap::new();
    for pair in &pairs {
        let Payload::Add {
            order_id,
            idempotency_key,
        } = &pair.invoke.payload
        else {
            continue;
        };
        report.attempted += 1;
        let outcome = pair.outcome();
        if let Some(c) = pair.completion
            && c.error.as_deref() == Some(ALREADY_EXISTS)
        {
            report.violations.push(SetViolation::NotReplayed {
                order_id: order_id.clone(),
                idempotency_key: idempotency_key.clone(),
                add_index: c.index,
            });
        }
        match outcome {
            OpType::Ok => report.acknowledged += 1,
            OpType::Fail => report.failed += 1,
            OpType::Info | OpType::Invoke => report.indeterminate += 1,
        }
        let mut ids = vec![order_id.as_str()];
        if let Some(Payload::Add {
            order_id: acked, ..
        }) = pair.ok_payload()
            && acked != order_id
        {
            ids.push(acked);
        }
        for id in ids {
            let a = attempts.entry(id).or_default();
            a.keys.insert(idempotency_key.clone());
            if outcome == OpType::Fail {
                a.failed.push(pair.invoke.index);
            } else {
                a.possible.push(pair.invoke.index);
            }
        }
    }

    let Some((_, read_invoke, elements)) = final_read else {
        report.unknown_reason = Some(UnknownReason::NoFinalRead);
        report.verdict = if report.violations.is_empty() {
            CheckerVerdict::Unknown
        } else {
            CheckerVerdict::Violation
        };
        return report;
    };
    report.final_read = Some(read_invoke.index);
    report.read_size = elements.len();

    // What the final read listed, per order id and per idempotency key.
    let mut listed: BTreeMap<&str, Vec<&SetElement>> = BTreeMap::new();
    let mut ids_by_key: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in elements {
        listed.entry(&e.order_id).or_default().push(e);
        ids_by_key
            .entry(&e.idempotency_key)
            .or_default()
            .insert(&e.order_id);
    }

    // Acknowledged and indeterminate adds against the listing.
    for pair in &pairs {
        let Payload::Add {
            order_id,
            idempotency_key,
        } = &pair.invoke.payload
        else {
            continue;
        };
        match (pair.outcome(), pair.ok_payload(), pair.completion) {
            (
                OpType::Ok,
                Some(Payload::Add {
                    order_id: acked, ..
                }),
                Some(done),
            ) => {
                if listed.contains_key(acked.as_str()) {
                    report.acknowledged_present += 1;
                } else if done.time_ns >= read_invoke.time_ns {
                    report.concurrent_absent += 1;
                } else {
                    report.violations.push(SetViolation::Lost {
                        order_id: acked.clone(),
                        idempotency_key: idempotency_key.clone(),
                        add_index: pair.invoke.index,
                    });
                }
            }
            (OpType::Fail, _, _) => {}
            _ => {
                if listed.contains_key(order_id.as_str()) {
                    report.recovered += 1;
                } else {
                    report.lost_unknown += 1;
                }
            }
        }
    }

    // Every listed order against the attempts.
    for (order_id, copies) in &listed {
        if copies.len() > 1 {
            report.violations.push(SetViolation::RepeatedElement {
                order_id: order_id.to_string(),
                count: copies.len(),
            });
        }
        let Some(a) = attempts.get(order_id) else {
            // `copies` is never empty: an entry is created by pushing its first element.
            report.violations.push(SetViolation::Unexpected {
                order_id: order_id.to_string(),
                idempotency_key: copies[0].idempotency_key.clone(),
            });
            continue;
        };
        if a.possible.is_empty() {
            report.violations.push(SetViolation::FailedButPresent {
                order_id: order_id.to_string(),
                add_indices: a.failed.clone(),
            });
        }
        for e in copies {
            if !a.keys.contains(&e.idempotency_key) {
                report.violations.push(SetViolation::WrongKey {
                    order_id: order_id.to_string(),
                    listed_key: e.idempotency_key.clone(),
                    added_keys: a.keys.iter().cloned().collect(),
                });
            }
        }
    }
    for (key, ids) in &ids_by_key {
        if ids.len() > 1 {
            report.violations.push(SetViolation::Duplicate {
                idempotency_key: key.to_string(),
                order_ids: ids.iter().map(|s| s.to_string()).collect(),
            });
        }
    }

    report.verdict = if report.violations.is_empty() {
        CheckerVerdict::Pass
    } else {
        CheckerVerdict::Violation
    };
    report
}
