//! The set workload's no-loss / no-duplicate checker on hand-written histories: a clean run with
//! retries and timeouts, then one planted violation of each kind.

mod common;

use common::*;
use jepsen_like::{CheckerVerdict, History, SetReport, SetViolation, UnknownReason, check_set};

/// Three clients add orders: `k1` acknowledged, `k2` timed out then retried under the same key
/// (acknowledged), `k3` timed out and was never seen again, `k4` timed out but did land, `k5`
/// failed definitely. The final read lists k1, k2 (once) and k4.
fn clean_run() -> Script {
    let mut s = Script::new();
    s.ok(1, [0, 10], add("o1", "k1"), add("o1", "k1"))
        .info(2, [0, 50], add("o2", "k2"))
        .ok(2, [60, 70], add("o2", "k2"), add("o2", "k2"))
        .info(3, [0, 50], add("o3", "k3"))
        .info(1, [20, 50], add("o4", "k4"))
        .fail(3, [60, 70], add("o5", "k5"), "INVALID_ARGUMENT");
    s
}

fn final_read(s: &mut Script, elements: &[(&str, &str)]) -> History {
    s.ok(9, [100, 110], read_all(), listed(elements)).history()
}

fn violations(report: &SetReport) -> &[SetViolation] {
    assert_eq!(report.verdict, CheckerVerdict::Violation, "{report:#?}");
    &report.violations
}

/// Everything acknowledged is present, once; unknown-outcome adds are counted, not blamed.
#[test]
fn clean_run_with_retries_and_timeouts_passes() {
    let h = final_read(
        &mut clean_run(),
        &[("o1", "k1"), ("o2", "k2"), ("o4", "k4")],
    );
    let r = check_set(&h);
    assert_eq!(r.verdict, CheckerVerdict::Pass, "{r:#?}");
    assert_eq!(
        (r.attempted, r.acknowledged, r.failed, r.indeterminate),
        (6, 2, 1, 3)
    );
    assert_eq!(r.acknowledged_present, 2);
    // o2's first (timed-out) attempt and o4 are present; o3 is not.
    assert_eq!((r.recovered, r.lost_unknown), (2, 1));
    assert_eq!(r.read_size, 3);
    assert_eq!(r.final_read, Some(h.len() as u64 - 2));
}

/// An acknowledged add missing from the final read is lost.
#[test]
fn acknowledged_add_missing_from_final_read_is_lost() {
    let h = final_read(&mut clean_run(), &[("o2", "k2"), ("o4", "k4")]);
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::Lost {
            order_id: "o1".into(),
            idempotency_key: "k1".into(),
            add_index: 0
        }]
    );
}

/// An add acknowledged only after the final read began may legitimately be missing.
#[test]
fn add_concurrent_with_final_read_may_be_missing() {
    let h = Script::new()
        .ok(1, [0, 10], add("o1", "k1"), add("o1", "k1"))
        .ok(2, [90, 120], add("o2", "k2"), add("o2", "k2"))
        .ok(9, [100, 110], read_all(), listed(&[("o1", "k1")]))
        .history();
    let r = check_set(&h);
    assert_eq!(r.verdict, CheckerVerdict::Pass, "{r:#?}");
    assert_eq!(r.concurrent_absent, 1);
}

/// An order nobody added appears.
#[test]
fn order_never_attempted_is_unexpected() {
    let h = final_read(
        &mut clean_run(),
        &[("o1", "k1"), ("o2", "k2"), ("o9", "k9")],
    );
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::Unexpected {
            order_id: "o9".into(),
            idempotency_key: "k9".into()
        }]
    );
}

/// An order whose only add failed definitely must not exist.
#[test]
fn definitely_failed_add_present_is_a_violation() {
    let h = final_read(
        &mut clean_run(),
        &[("o1", "k1"), ("o2", "k2"), ("o5", "k5")],
    );
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::FailedButPresent {
            order_id: "o5".into(),
            add_indices: vec![9]
        }]
    );
}

/// Idempotency under retries: the retry of `k2` created a second order (a server that ignored the
/// key and minted a fresh id). One key, two orders: a duplicate.
#[test]
fn retry_that_creates_a_second_order_is_a_duplicate() {
    let h = Script::new()
        .info(1, [0, 50], add("o2", "k2"))
        .ok(1, [60, 70], add("o2", "k2"), add("o2-retry", "k2"))
        .ok(
            9,
            [100, 110],
            read_all(),
            listed(&[("o2", "k2"), ("o2-retry", "k2")]),
        )
        .history();
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::Duplicate {
            idempotency_key: "k2".into(),
            order_ids: vec!["o2".into(), "o2-retry".into()],
        }]
    );
}

/// The same order listed twice.
#[test]
fn order_listed_twice_is_a_repeated_element() {
    let h = final_read(
        &mut clean_run(),
        &[("o1", "k1"), ("o2", "k2"), ("o2", "k2")],
    );
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::RepeatedElement {
            order_id: "o2".into(),
            count: 2
        }]
    );
}

/// An order listed under an idempotency key it was never added with.
#[test]
fn order_listed_under_another_key_is_a_violation() {
    let h = final_read(&mut clean_run(), &[("o1", "k-other"), ("o2", "k2")]);
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::WrongKey {
            order_id: "o1".into(),
            listed_key: "k-other".into(),
            added_keys: vec!["k1".into()],
        }]
    );
}

/// Without an `ok` final read nothing can be concluded: Unknown, not Pass.
#[test]
fn no_final_read_is_unknown() {
    let h = clean_run().info(9, [100, 110], read_all()).history();
    let r = check_set(&h);
    assert_eq!(r.verdict, CheckerVerdict::Unknown);
    assert_eq!(r.unknown_reason, Some(UnknownReason::NoFinalRead));
}

/// Several planted violations are all reported, not just the first.
#[test]
fn every_planted_violation_is_reported() {
    let h = final_read(
        &mut clean_run(),
        &[("o5", "k5"), ("o9", "k9"), ("o4", "k4"), ("o4", "k4")],
    );
    let r = check_set(&h);
    let kinds: Vec<&str> = violations(&r)
        .iter()
        .map(|v| match v {
            SetViolation::Lost { .. } => "lost",
            SetViolation::Unexpected { .. } => "unexpected",
            SetViolation::WrongKey { .. } => "wrong_key",
            SetViolation::FailedButPresent { .. } => "failed_but_present",
            SetViolation::Duplicate { .. } => "duplicate",
            SetViolation::RepeatedElement { .. } => "repeated",
            SetViolation::NotReplayed { .. } => "not_replayed",
        })
        .collect();
    // o1 and o2 lost; o4 repeated; o5 failed but present; o9 unexpected.
    assert_eq!(
        kinds,
        vec![
            "lost",
            "lost",
            "repeated",
            "failed_but_present",
            "unexpected"
        ]
    );
}

/// A retry of a timed-out add (same key, same request) answered `ALREADY_EXISTS` instead of
/// replaying: the order exists, so no-loss holds, but idempotency under retries does not (the
/// clock nemesis found this: a leader whose clock ran ahead expired the key's record).
#[test]
fn a_retry_refused_as_already_exists_is_caught() {
    let h = Script::new()
        .info(1, [0, 50], add("o1", "k1"))
        .fail(2, [60, 70], add("o1", "k1"), "ALREADY_EXISTS")
        .ok(9, [100, 110], read_all(), listed(&[("o1", "k1")]))
        .history();
    let r = check_set(&h);
    assert_eq!(
        violations(&r),
        &[SetViolation::NotReplayed {
            order_id: "o1".into(),
            idempotency_key: "k1".into(),
            add_index: 3
        }]
    );
    // The same history with the retry replayed passes.
    let h = Script::new()
        .info(1, [0, 50], add("o1", "k1"))
        .ok(2, [60, 70], add("o1", "k1"), add("o1", "k1"))
        .ok(9, [100, 110], read_all(), listed(&[("o1", "k1")]))
        .history();
    assert_eq!(check_set(&h).verdict, CheckerVerdict::Pass);
}
