//! The combined report and its exit codes: 0 only when every checker passed, 1 on any violation,
//! 2 on unknown or malformed histories.

mod common;

use common::*;
use jepsen_like::{
    Budget, CheckReport, CheckerVerdict, EXIT_UNKNOWN, EXIT_VALID, EXIT_VIOLATION, Outcome,
    check_history, check_history_with, check_jsonl,
};

/// A register run and a set run in one history, both clean.
fn clean() -> Script {
    let mut s = Script::new();
    s.ok(1, [0, 10], create("o"), created("o"))
        .ok(2, [20, 30], read("o"), read_saw("o", 1, "AWAITING_PAYMENT"))
        .ok(3, [0, 10], add("s1", "k1"), add("s1", "k1"));
    s
}

#[test]
fn clean_history_exits_zero_with_both_checkers() {
    let h = clean()
        .ok(3, [40, 50], read_all(), listed(&[("s1", "k1")]))
        .history();
    let r = check_history(&h);
    assert_eq!(r.outcome, Outcome::Valid, "{r:#?}");
    assert_eq!(r.exit_code(), EXIT_VALID);
    assert_eq!(
        r.linearizability.as_ref().map(|l| l.verdict),
        Some(CheckerVerdict::Pass)
    );
    assert_eq!(
        r.set.as_ref().map(|s| s.verdict),
        Some(CheckerVerdict::Pass)
    );
    assert_eq!(r.history_ops, h.len());
}

/// A violation in one checker makes the whole run invalid, even if another is unknown.
#[test]
fn any_violation_exits_one() {
    let lost = clean().ok(3, [40, 50], read_all(), listed(&[])).history();
    assert_eq!(check_history(&lost).exit_code(), EXIT_VIOLATION);

    let stale_and_unread = clean()
        .ok(2, [40, 50], read("o"), read_absent("o"))
        .info(3, [40, 50], read_all())
        .history();
    let r = check_history(&stale_and_unread);
    assert_eq!(
        r.set.as_ref().map(|s| s.verdict),
        Some(CheckerVerdict::Unknown)
    );
    assert_eq!(r.outcome, Outcome::Invalid);
    assert_eq!(r.exit_code(), EXIT_VIOLATION);
}

/// Inconclusive checks exit 2: a search out of budget, a set run without a final read, and a
/// history with nothing to check.
#[test]
fn unknown_exits_two() {
    let mut s = Script::new();
    s.ok(0, [0, 10], create("o"), created("o"));
    for p in 1..=30 {
        s.info(p, [20, 100], transition("o", "PAY", None));
    }
    s.ok(99, [20, 100], read("o"), read_saw("o", 99, "PAID"));
    let r = check_history_with(&s.history(), &Budget::steps(1_000));
    assert_eq!(r.outcome, Outcome::Unknown, "{r:#?}");
    assert_eq!(r.exit_code(), EXIT_UNKNOWN);

    let no_read = Script::new()
        .ok(3, [0, 10], add("s1", "k1"), add("s1", "k1"))
        .history();
    assert_eq!(check_history(&no_read).exit_code(), EXIT_UNKNOWN);

    let empty = Script::new().history();
    assert_eq!(check_history(&empty).outcome, Outcome::Unknown);
}

/// A malformed stored history is never checked: outcome Malformed, exit 2, with the reason.
#[test]
fn malformed_history_exits_two() {
    let text = concat!(
        r#"{"process":1,"index":0,"type":"ok","time_ns":0,"payload":{"f":"read","order_id":"o"}}"#,
        "\n"
    );
    let r = check_jsonl(text, &Budget::default());
    assert_eq!(r.outcome, Outcome::Malformed);
    assert_eq!(r.exit_code(), EXIT_UNKNOWN);
    assert!(
        r.malformed
            .as_deref()
            .is_some_and(|m| m.contains("no open invocation")),
        "{r:?}"
    );

    assert_eq!(
        check_jsonl("not json\n", &Budget::default()).outcome,
        Outcome::Malformed
    );
}

/// Stored histories are re-checkable: checking the JSON-lines form gives the same report, and
/// the report itself round-trips through JSON.
#[test]
fn stored_history_rechecks_to_the_same_report() {
    let h = clean()
        .ok(2, [40, 50], read("o"), read_absent("o"))
        .ok(3, [40, 50], read_all(), listed(&[("s1", "k1")]))
        .history();
    let direct = check_history(&h);
    let stored = check_jsonl(&h.to_jsonl(), &Budget::default());
    assert_eq!(direct, stored);
    assert_eq!(direct.exit_code(), EXIT_VIOLATION);

    let json = serde_json::to_string(&direct).expect("reports serialise");
    let back: CheckReport = serde_json::from_str(&json).expect("reports deserialise");
    assert_eq!(back, direct);
}
