//! Hand-written register histories, linearizable and not, including the classic traps a
//! replicated store falls into (stale reads after a leader change, lost writes) and the
//! `info`/pending cases a checker most often gets wrong. Times are in nanoseconds; `[a, b]` is an
//! operation's invocation and completion.

mod common;

use std::time::Duration;

use common::*;
use jepsen_like::{
    Budget, CheckerVerdict, History, LinearizabilityReport, UnknownReason, Verdict, Violation,
    check_linearizability,
};

const PAID: &str = "PAID";
const NEW: &str = "AWAITING_PAYMENT";

fn check(history: &History) -> LinearizabilityReport {
    check_linearizability(history, &Budget::default())
}

/// Asserts the only key `o` is linearizable.
fn assert_linearizable(history: &History) {
    let report = check(history);
    assert_eq!(report.verdict, CheckerVerdict::Pass, "{report:#?}");
    assert_eq!(report.keys.get("o"), Some(&Verdict::Ok));
}

/// Asserts key `o` is a violation and returns it.
fn assert_violation(history: &History) -> Violation {
    let report = check(history);
    assert_eq!(report.verdict, CheckerVerdict::Violation, "{report:#?}");
    match report.keys.get("o") {
        Some(Verdict::Violation(v)) => v.clone(),
        other => panic!("expected a violation for o, got {other:?}"),
    }
}

/// Create, pay, read, one after the other: the obvious order works.
#[test]
fn sequential_create_pay_read_is_linearizable() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 30],
            transition("o", "PAY", Some(1)),
            transitioned("o", "PAY", Some(1), 2, PAID),
        )
        .ok(2, [40, 50], read("o"), read_saw("o", 2, PAID))
        .history();
    assert_linearizable(&h);
}

/// A read before the create sees no order; one after sees version 1.
#[test]
fn reads_around_create_see_absent_then_version_one() {
    let h = Script::new()
        .ok(2, [0, 5], read("o"), read_absent("o"))
        .ok(1, [10, 20], create("o"), created("o"))
        .ok(2, [30, 40], read("o"), read_saw("o", 1, NEW))
        .history();
    assert_linearizable(&h);
}

/// Stale read after a leader change: PAY to v2 was acknowledged and completed; a read that began
/// afterwards (served by a deposed leader) returns v1. No order explains it.
#[test]
fn stale_read_after_leader_change_is_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 30],
            transition("o", "PAY", None),
            transitioned("o", "PAY", None, 2, PAID),
        )
        .ok(2, [40, 50], read("o"), read_saw("o", 1, NEW))
        .history();
    let v = assert_violation(&h);
    // The read (invoked at history index 4) is the op that cannot be placed.
    assert_eq!(v.blocked, 4, "{}", v.explanation);
    assert_eq!(v.linearized_prefix, vec![0, 2]);
    assert!(
        v.explanation
            .contains("read saw v1 AWAITING_PAYMENT, but the order is at v2 PAID"),
        "{}",
        v.explanation
    );
}

/// Lost write: PAY (v1 -> v2) was acknowledged, but after a failover the order is back at v1: a
/// later read sees v1 and a CANCEL conditioned on v1 succeeds, producing a second "v2".
#[test]
fn lost_write_is_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 30],
            transition("o", "PAY", Some(1)),
            transitioned("o", "PAY", Some(1), 2, PAID),
        )
        .ok(2, [100, 110], read("o"), read_saw("o", 1, NEW))
        .ok(
            3,
            [120, 130],
            transition("o", "CANCEL", Some(1)),
            transitioned("o", "CANCEL", Some(1), 2, "CANCELLED"),
        )
        .history();
    let v = assert_violation(&h);
    assert_eq!(v.blocked, 4, "{}", v.explanation);
}

/// Lost write, CAS flavour without reads: two transitions both conditioned on v1 both succeed.
#[test]
fn two_successful_transitions_from_the_same_version_are_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 40],
            transition("o", "PAY", Some(1)),
            transitioned("o", "PAY", Some(1), 2, PAID),
        )
        .ok(
            2,
            [25, 45],
            transition("o", "CANCEL", Some(1)),
            transitioned("o", "CANCEL", Some(1), 2, "CANCELLED"),
        )
        .history();
    assert_violation(&h);
}

/// An `info` PAY (timed out) whose effect a later read observes: it took effect, which is allowed.
#[test]
fn info_write_later_observed_is_linearizable() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .info(1, [20, 30], transition("o", "PAY", Some(1)))
        .ok(2, [100, 110], read("o"), read_saw("o", 2, PAID))
        .history();
    assert_linearizable(&h);
}

/// An `info` write may take effect after the client gave up on it: a read after the timeout still
/// sees v1, a later one sees v2.
#[test]
fn info_write_may_take_effect_after_its_timeout() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .info(1, [20, 30], transition("o", "PAY", None))
        .ok(2, [40, 50], read("o"), read_saw("o", 1, NEW))
        .ok(2, [60, 70], read("o"), read_saw("o", 2, PAID))
        .history();
    assert_linearizable(&h);
}

/// An `info` write nobody ever observes: it may simply never have happened.
#[test]
fn info_write_never_observed_is_linearizable() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .info(1, [20, 30], transition("o", "PAY", Some(1)))
        .ok(2, [100, 110], read("o"), read_saw("o", 1, NEW))
        .history();
    assert_linearizable(&h);
}

/// An `info` conditional write overtaken by another: it can no longer apply at any later point,
/// so the only explanation is that it never happened, which is allowed.
#[test]
fn info_write_that_could_only_have_failed_is_linearizable() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .info(1, [20, 30], transition("o", "PAY", Some(1)))
        .ok(
            2,
            [40, 50],
            transition("o", "CANCEL", Some(1)),
            transitioned("o", "CANCEL", Some(1), 2, "CANCELLED"),
        )
        .ok(2, [60, 70], read("o"), read_saw("o", 2, "CANCELLED"))
        .history();
    assert_linearizable(&h);
}

/// An invocation still open when the history ends is treated like `info`: observed or not, fine.
#[test]
fn pending_write_is_treated_as_info() {
    let observed = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .pending(1, 20, transition("o", "PAY", None))
        .ok(2, [30, 40], read("o"), read_saw("o", 2, PAID))
        .history();
    assert_linearizable(&observed);
    let unobserved = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .pending(1, 20, transition("o", "PAY", None))
        .ok(2, [30, 40], read("o"), read_saw("o", 1, NEW))
        .history();
    assert_linearizable(&unobserved);
}

/// An `info` create later observed, and its status learnt from the read.
#[test]
fn info_create_later_observed_is_linearizable() {
    let h = Script::new()
        .info(1, [0, 10], create("o"))
        .ok(2, [20, 30], read("o"), read_saw("o", 1, NEW))
        .ok(
            2,
            [40, 50],
            transition("o", "PAY", Some(1)),
            transitioned("o", "PAY", Some(1), 2, PAID),
        )
        .history();
    assert_linearizable(&h);
}

/// An info transition's unknown status is fixed by the first read; a later read must agree.
#[test]
fn reads_must_agree_on_the_status_an_info_transition_left() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .info(1, [20, 30], transition("o", "PAY", None))
        .ok(2, [40, 50], read("o"), read_saw("o", 2, PAID))
        .ok(2, [60, 70], read("o"), read_saw("o", 2, "CANCELLED"))
        .history();
    assert_violation(&h);
}

/// Concurrent ops may be reordered: PAY spans [20, 60]; a read inside it sees v1, another read
/// inside it (invoked later) sees v2. Order: read v1, PAY, read v2.
#[test]
fn concurrent_ops_can_be_reordered() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 60],
            transition("o", "PAY", None),
            transitioned("o", "PAY", None, 2, PAID),
        )
        .ok(2, [25, 50], read("o"), read_saw("o", 1, NEW))
        .ok(3, [30, 40], read("o"), read_saw("o", 2, PAID))
        .history();
    assert_linearizable(&h);
}

/// Reads must respect real time among themselves: while PAY is in flight, a read sees v2 and a
/// strictly later read sees v1 again (new-old inversion).
#[test]
fn new_then_old_read_during_a_write_is_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 100],
            transition("o", "PAY", None),
            transitioned("o", "PAY", None, 2, PAID),
        )
        .ok(2, [30, 40], read("o"), read_saw("o", 2, PAID))
        .ok(3, [50, 60], read("o"), read_saw("o", 1, NEW))
        .history();
    assert_violation(&h);
}

/// A read observing a version no operation ever produced.
#[test]
fn read_of_a_value_no_write_produced_is_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(2, [20, 30], read("o"), read_saw("o", 7, PAID))
        .history();
    let v = assert_violation(&h);
    assert!(
        v.explanation.contains("read saw v7 PAID"),
        "{}",
        v.explanation
    );
    assert_eq!(
        v.ops.iter().map(|o| o.index).collect::<Vec<_>>(),
        vec![0, 2]
    );
}

/// An order that "un-exists": read absent after the create completed.
#[test]
fn read_absent_after_create_completed_is_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(2, [20, 30], read("o"), read_absent("o"))
        .history();
    assert_violation(&h);
}

/// A transition acknowledged although its expected version was already stale.
#[test]
fn transition_acknowledged_against_a_stale_expected_version_is_a_violation() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(
            1,
            [20, 30],
            transition("o", "PAY", None),
            transitioned("o", "PAY", None, 2, PAID),
        )
        .ok(
            2,
            [40, 50],
            transition("o", "SHIP", Some(1)),
            transitioned("o", "SHIP", Some(1), 3, "SHIPPED"),
        )
        .history();
    let v = assert_violation(&h);
    assert!(
        v.explanation
            .contains("transition expects v1, but the order is at v2 PAID"),
        "{}",
        v.explanation
    );
}

/// Definite failures did not take effect and constrain nothing: a VERSION_CONFLICT, an
/// ILLEGAL_TRANSITION and a failed read are all ignored.
#[test]
fn failed_operations_are_ignored() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .fail(
            2,
            [20, 30],
            transition("o", "SHIP", Some(5)),
            "VERSION_CONFLICT",
        )
        .fail(
            2,
            [40, 50],
            transition("o", "REFUND", None),
            "ILLEGAL_TRANSITION",
        )
        .fail(3, [40, 50], read("o"), "UNAVAILABLE")
        .ok(1, [60, 70], read("o"), read_saw("o", 1, NEW))
        .history();
    assert_linearizable(&h);
}

/// Linearizability is per order: a violation on one order does not taint another.
#[test]
fn orders_are_checked_independently() {
    let h = Script::new()
        .ok(1, [0, 10], create("a"), created("a"))
        .ok(2, [0, 10], create("b"), created("b"))
        .ok(
            1,
            [20, 30],
            transition("a", "PAY", None),
            transitioned("a", "PAY", None, 2, PAID),
        )
        .ok(2, [40, 50], read("a"), read_saw("a", 1, NEW))
        .ok(3, [40, 50], read("b"), read_saw("b", 1, NEW))
        .history();
    let report = check(&h);
    assert_eq!(report.verdict, CheckerVerdict::Violation);
    assert_eq!(
        (report.keys_checked, report.keys_ok, report.keys_violated),
        (2, 1, 1)
    );
    assert!(matches!(report.keys.get("a"), Some(Verdict::Violation(v)) if v.key == "a"));
    assert_eq!(report.keys.get("b"), Some(&Verdict::Ok));
}

/// A deliberately adversarial history: after a create, 40 concurrent `info` transitions (any
/// subset may have happened, in any order) and a read of a version they cannot reach. The search
/// space is 2^40 subsets; with a budget of 10,000 steps the checker must say Unknown, never Ok
/// and never a (premature) Violation.
#[test]
fn tiny_budget_on_a_huge_adversarial_history_gives_unknown() {
    let mut s = Script::new();
    s.ok(0, [0, 10], create("o"), created("o"));
    for p in 1..=40 {
        s.info(p, [20, 1_000], transition("o", &format!("A{p}"), None));
    }
    s.ok(100, [20, 1_000], read("o"), read_saw("o", 100, PAID));
    let h = s.history();

    let report = check_linearizability(&h, &Budget::steps(10_000));
    assert_eq!(report.verdict, CheckerVerdict::Unknown, "{report:#?}");
    assert_eq!(
        report.keys.get("o"),
        Some(&Verdict::Unknown {
            reason: UnknownReason::StepBudgetExhausted { steps: 10_000 }
        })
    );
}

/// The time budget: the same adversarial history, unlimited steps, 1 ms. The search cannot finish
/// on any machine, so the answer is Unknown whatever the machine's speed.
#[test]
fn time_budget_on_a_huge_adversarial_history_gives_unknown() {
    let mut s = Script::new();
    s.ok(0, [0, 10], create("o"), created("o"));
    for p in 1..=40 {
        s.info(p, [20, 1_000], transition("o", &format!("A{p}"), None));
    }
    s.ok(100, [20, 1_000], read("o"), read_saw("o", 100, PAID));
    let budget = Budget {
        max_duration: Some(Duration::from_millis(1)),
        ..Budget::steps(u64::MAX)
    };

    let report = check_linearizability(&s.history(), &budget);
    assert_eq!(
        report.keys.get("o"),
        Some(&Verdict::Unknown {
            reason: UnknownReason::TimeBudgetExhausted { budget_ms: 1 }
        })
    );
}

/// The memory budget: unlimited steps and time, a 64 KiB memo cap. Deterministic: the memo grows
/// by the same entries on every machine.
#[test]
fn memo_budget_on_a_huge_adversarial_history_gives_unknown() {
    let mut s = Script::new();
    s.ok(0, [0, 10], create("o"), created("o"));
    for p in 1..=40 {
        s.info(p, [20, 1_000], transition("o", &format!("A{p}"), None));
    }
    s.ok(100, [20, 1_000], read("o"), read_saw("o", 100, PAID));
    let budget = Budget {
        max_memo_bytes: 64 * 1024,
        ..Budget::steps(u64::MAX)
    };

    let report = check_linearizability(&s.history(), &budget);
    assert!(
        matches!(
            report.keys.get("o"),
            Some(Verdict::Unknown {
                reason: UnknownReason::MemoryBudgetExhausted { .. }
            })
        ),
        "{report:#?}"
    );
}

/// The same shape, small enough to finish: 8 info transitions and an unreachable read is a
/// violation once the search has exhausted every subset.
#[test]
fn small_adversarial_history_is_decided_within_budget() {
    let mut s = Script::new();
    s.ok(0, [0, 10], create("o"), created("o"));
    for p in 1..=8 {
        s.info(p, [20, 1_000], transition("o", &format!("A{p}"), None));
    }
    s.ok(100, [20, 1_000], read("o"), read_saw("o", 100, PAID));
    assert_violation(&s.history());
    // And a reachable read (v9: every info transition happened) is fine.
    let mut s = Script::new();
    s.ok(0, [0, 10], create("o"), created("o"));
    for p in 1..=8 {
        s.info(p, [20, 1_000], transition("o", &format!("A{p}"), None));
    }
    s.ok(100, [20, 1_000], read("o"), read_saw("o", 9, PAID));
    assert_linearizable(&s.history());
}
