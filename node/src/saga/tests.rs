//! Tests of the saga step machine and the conflict matrix.
//!
//! The property test drives a saga against a simulated world of participants that behave like
//! the inventory and payment ledgers (deduplication by saga id, release/void tombstones) over an
//! unreliable network: requests may not arrive, replies may be lost, old requests may arrive
//! late. Whatever happens, once the faults stop and operators retry parked sagas, the saga ends,
//! and the world agrees with how it ended.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::order::OrderCommand;

const NOW: u64 = 1_000_000;

fn spec(lines: &[(&str, u64, u32)]) -> PurchaseSpec {
    PurchaseSpec {
        account_id: "acct-1".to_owned(),
        lines: lines
            .iter()
            .map(|(s, q, b)| ((*s).to_owned(), *q, *b))
            .collect(),
        timeout_ms: 30_000,
    }
}

fn saga(lines: &[(&str, u64, u32)]) -> PurchaseSaga {
    start("o-local-1", "EUR", 500, &spec(lines), NOW).expect("valid spec")
}

fn result(action: &Action, outcome: StepOutcome) -> SagaInput {
    SagaInput::StepResult {
        step: action.step(),
        bucket: action.bucket(),
        outcome,
    }
}

fn feed(s: &PurchaseSaga, input: SagaInput) -> SagaChange {
    apply(s, &input, NOW + 1, &RetryPolicy::default()).expect("input accepted")
}

fn refused(reason: &str) -> StepOutcome {
    StepOutcome::Refused {
        reason: reason.to_owned(),
    }
}

fn failed() -> StepOutcome {
    StepOutcome::Failed {
        error: "timeout".to_owned(),
    }
}

/// Runs every action of the moment with outcome `Done` until nothing is left.
fn drive_ok(mut s: PurchaseSaga) -> (PurchaseSaga, Vec<OrderCommand>) {
    let mut commands = Vec::new();
    for _ in 0..100 {
        let actions = next_actions(&s);
        if actions.is_empty() {
            return (s, commands);
        }
        for a in actions {
            let c = feed(&s, result(&a, StepOutcome::Done));
            commands.extend(c.order_commands);
            s = c.saga;
        }
    }
    panic!("saga did not settle: {s:?}");
}

#[test]
fn happy_path_reserves_authorizes_captures_then_commits() {
    let s = saga(&[("a", 1, 1), ("b", 2, 1)]);
    let first = next_actions(&s);
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|a| a.step().kind == StepKind::Reserve));
    let (done, commands) = drive_ok(s);
    assert_eq!(done.status, SagaStatus::Completed);
    assert_eq!(done.payment, PaymentProgress::Captured);
    assert!(done.lines.iter().all(|l| l.stock == LineStock::Committed));
    assert_eq!(
        commands,
        vec![OrderCommand::Authorize, OrderCommand::Capture]
    );
    assert!(done.timeline.iter().any(|t| t.outcome == "completed"));
}

#[test]
fn sold_out_in_every_bucket_compensates_and_cancels_the_order() {
    let mut s = saga(&[("hot", 1, 3)]);
    let start_bucket = s.lines[0].bucket;
    let mut tried = Vec::new();
    for _ in 0..3 {
        let actions = next_actions(&s);
        assert_eq!(actions.len(), 1);
        tried.push(actions[0].bucket());
        s = feed(&s, result(&actions[0], refused("sold_out"))).saga;
    }
    tried.sort_unstable();
    assert_eq!(
        tried,
        vec![0, 1, 2],
        "each bucket tried once, from {start_bucket}"
    );
    assert_eq!(s.lines[0].stock, LineStock::SoldOut);
    // Nothing held and no authorization sent: nothing to compensate, so it ends at once.
    assert_eq!(s.status, SagaStatus::Compensated);
    assert_eq!(s.reason.as_deref(), Some("sold_out"));
}

#[test]
fn a_refusal_in_one_bucket_falls_back_to_the_next() {
    let s = saga(&[("hot", 1, 2)]);
    let a = next_actions(&s).remove(0);
    let s = feed(&s, result(&a, refused("sold_out"))).saga;
    let b = next_actions(&s).remove(0);
    assert_ne!(a.bucket(), b.bucket());
    let s = feed(&s, result(&b, StepOutcome::Done)).saga;
    assert_eq!(s.lines[0].stock, LineStock::Held);
    assert!(matches!(next_actions(&s)[0], Action::Authorize { .. }));
}

#[test]
fn a_decline_is_not_retried_and_releases_the_stock() {
    let s = saga(&[("a", 1, 1)]);
    let (s, _) = {
        let a = next_actions(&s).remove(0);
        let c = feed(&s, result(&a, StepOutcome::Done));
        (c.saga, c.order_commands)
    };
    let auth = next_actions(&s).remove(0);
    let c = feed(&s, result(&auth, refused("insufficient_funds")));
    assert_eq!(c.order_commands, vec![OrderCommand::FailPayment]);
    let s = c.saga;
    assert_eq!(s.status, SagaStatus::Compensating);
    let actions = next_actions(&s);
    assert_eq!(
        actions.len(),
        1,
        "release only; a declined payment needs no void"
    );
    assert!(matches!(actions[0], Action::Release { .. }));
    let c = feed(&s, result(&actions[0], StepOutcome::Done));
    assert_eq!(c.saga.status, SagaStatus::Compensated);
    assert!(matches!(c.order_commands[0], OrderCommand::Cancel { .. }));
}

#[test]
fn a_timeout_before_the_pivot_voids_a_possibly_sent_authorization() {
    let s = saga(&[("a", 1, 1)]);
    let a = next_actions(&s).remove(0);
    let s = feed(&s, result(&a, StepOutcome::Done)).saga;
    assert!(s.authorize_possible);
    let c = feed(
        &s,
        SagaInput::TimerFired {
            token: s.timer_token,
        },
    );
    let s = c.saga;
    assert_eq!(s.status, SagaStatus::Compensating);
    let kinds: Vec<StepKind> = next_actions(&s).iter().map(|a| a.step().kind).collect();
    assert_eq!(kinds, vec![StepKind::Release, StepKind::Void]);
}

#[test]
fn a_stale_timer_changes_nothing() {
    let s = saga(&[("a", 1, 1)]);
    let c = feed(
        &s,
        SagaInput::TimerFired {
            token: s.timer_token + 7,
        },
    );
    assert!(!c.changed);
    assert_eq!(c.saga, s);
}

#[test]
fn past_the_pivot_timers_and_cancels_do_not_compensate() {
    let mut s = saga(&[("a", 1, 1)]);
    for _ in 0..3 {
        let a = next_actions(&s).remove(0);
        s = feed(&s, result(&a, StepOutcome::Done)).saga;
    }
    assert_eq!(s.payment, PaymentProgress::Captured);
    let old_token = 1;
    assert!(!feed(&s, SagaInput::TimerFired { token: old_token }).changed);
    let err = apply(
        &s,
        &SagaInput::CancelRequested {
            reason: "changed my mind".into(),
        },
        NOW,
        &RetryPolicy::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SagaError::PastPivot { .. }));
}

#[test]
fn a_duplicate_result_is_ignored() {
    let s = saga(&[("a", 1, 1)]);
    let a = next_actions(&s).remove(0);
    let once = feed(&s, result(&a, StepOutcome::Done)).saga;
    let twice = feed(&once, result(&a, StepOutcome::Done));
    assert!(!twice.changed);
    assert_eq!(twice.saga, once);
}

#[test]
fn exhausted_capture_parks_the_saga_and_an_operator_retry_resumes_it() {
    let policy = RetryPolicy {
        must_finish_attempts: 2,
        ..RetryPolicy::default()
    };
    let mut s = saga(&[("a", 1, 1)]);
    for _ in 0..2 {
        let a = next_actions(&s).remove(0);
        s = apply(&s, &result(&a, StepOutcome::Done), NOW, &policy)
            .unwrap()
            .saga;
    }
    let capture = next_actions(&s).remove(0);
    assert!(matches!(capture, Action::Capture { .. }));
    for _ in 0..2 {
        s = apply(&s, &result(&capture, failed()), NOW, &policy)
            .unwrap()
            .saga;
    }
    assert_eq!(s.status, SagaStatus::NeedsAttention);
    assert!(next_actions(&s).is_empty());
    let s = apply(
        &s,
        &SagaInput::OperatorRetry {
            note: "gateway back".into(),
        },
        NOW,
        &policy,
    )
    .unwrap()
    .saga;
    assert_eq!(s.status, SagaStatus::Running);
    assert_eq!(s.attempts_of(capture.step()), 0);
    let (done, _) = drive_ok(s);
    assert_eq!(done.status, SagaStatus::Completed);
}

#[test]
fn exhausted_reserve_compensates() {
    let policy = RetryPolicy {
        forward_attempts: 3,
        ..RetryPolicy::default()
    };
    let mut s = saga(&[("a", 1, 1)]);
    let a = next_actions(&s).remove(0);
    for _ in 0..3 {
        s = apply(&s, &result(&a, failed()), NOW, &policy).unwrap().saga;
    }
    assert_eq!(s.status, SagaStatus::Compensating);
    assert!(matches!(next_actions(&s)[0], Action::Release { .. }));
}

#[test]
fn backoff_caps_double_up_to_the_maximum() {
    let p = RetryPolicy::default();
    assert_eq!(p.backoff_cap_ms(0), 0);
    assert_eq!(p.backoff_cap_ms(1), 20);
    assert_eq!(p.backoff_cap_ms(2), 40);
    assert_eq!(p.backoff_cap_ms(5), 320);
    assert_eq!(p.backoff_cap_ms(40), 2_000);
}

#[test]
fn invalid_specs_are_refused() {
    let cases: Vec<(PurchaseSpec, &str)> = vec![
        (spec(&[]), "lines"),
        (spec(&[("a", 0, 1)]), "quantity"),
        (spec(&[("a", 1, 0)]), "buckets"),
        (spec(&[("a", 1, 1), ("b", 1, 1), ("a", 2, 1)]), "lines"),
        (spec(&[("a", 1, MAX_BUCKETS + 1)]), "buckets"),
        (
            PurchaseSpec {
                account_id: String::new(),
                ..spec(&[("a", 1, 1)])
            },
            "account_id",
        ),
    ];
    for (spec, field) in cases {
        match start("o", "EUR", 1, &spec, NOW) {
            Err(SagaError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{spec:?}: {other:?}"),
        }
    }
}

#[test]
fn conflict_matrix() {
    let running = saga(&[("a", 1, 1)]);
    let (completed, _) = drive_ok(running.clone());
    use OrderCommand as C;
    let hold = C::Hold { reason: "x".into() };
    let cancel = C::Cancel { reason: "x".into() };
    let ship = C::Ship { line: None };
    let refund = C::Refund { amount: None };
    // (saga, command, expected verdict kind: a = allow, s = to saga, r = reject)
    let table: Vec<(&PurchaseSaga, OrderCommand, char)> = vec![
        (&running, hold.clone(), 'a'),
        (&running, C::ReleaseHold, 'a'),
        (&running, cancel.clone(), 's'),
        (&running, C::Pay, 'r'),
        (&running, C::Capture, 'r'),
        (&running, C::Expire, 'r'),
        (&running, ship.clone(), 'r'),
        (&running, refund.clone(), 'r'),
        (&completed, hold, 'a'),
        (&completed, cancel, 'r'),
        (&completed, C::Pay, 'r'),
        (&completed, ship, 'a'),
        (&completed, C::RequestReturn { line: None }, 'a'),
        (&completed, refund, 'r'),
    ];
    for (s, cmd, want) in table {
        let got = match order_command_verdict(s, &cmd) {
            Verdict::Allow => 'a',
            Verdict::ToSaga(_) => 's',
            Verdict::Reject { .. } => 'r',
        };
        assert_eq!(got, want, "{} on a {} saga", cmd.name(), s.status);
    }
}

// ----- property test against a simulated world -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Held,
    Committed,
    Released,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Authorized,
    Declined,
    Captured,
    Voided,
}

/// Participants as the ledgers behave: deduplicated by the saga id, with tombstones.
#[derive(Debug, Default)]
struct World {
    available: HashMap<(String, u32), u64>,
    reservations: HashMap<(String, u32), (Res, u64)>,
    balance: u64,
    auth: Option<(Auth, u64)>,
}

impl World {
    fn perform(&mut self, a: &Action) -> StepOutcome {
        match a {
            Action::Reserve {
                sku,
                bucket,
                quantity,
                ..
            } => {
                let key = (sku.clone(), *bucket);
                match self.reservations.get(&key) {
                    Some((Res::Held | Res::Committed, _)) => StepOutcome::Done,
                    Some((Res::Released | Res::Refused, _)) => refused("released_or_refused"),
                    None => {
                        let avail = self.available.entry(key.clone()).or_default();
                        if *avail >= *quantity {
                            *avail -= quantity;
                            self.reservations.insert(key, (Res::Held, *quantity));
                            StepOutcome::Done
                        } else {
                            self.reservations.insert(key, (Res::Refused, 0));
                            refused("sold_out")
                        }
                    }
                }
            }
            Action::CommitStock { sku, bucket, .. } => {
                let key = (sku.clone(), *bucket);
                match self.reservations.get(&key).copied() {
                    Some((Res::Held, q)) => {
                        self.reservations.insert(key, (Res::Committed, q));
                        StepOutcome::Done
                    }
                    Some((Res::Committed, _)) => StepOutcome::Done,
                    _ => refused("not_held"),
                }
            }
            Action::Release { sku, bucket, .. } => {
                let key = (sku.clone(), *bucket);
                match self.reservations.get(&key).copied() {
                    Some((Res::Held, q)) => {
                        *self.available.entry(key.clone()).or_default() += q;
                        self.reservations.insert(key, (Res::Released, q));
                        StepOutcome::Done
                    }
                    Some((Res::Committed, _)) => refused("already_committed"),
                    Some((Res::Released | Res::Refused, _)) => StepOutcome::Done,
                    None => {
                        self.reservations.insert(key, (Res::Released, 0));
                        StepOutcome::Done
                    }
                }
            }
            Action::Authorize { amount, .. } => match self.auth {
                Some((Auth::Authorized | Auth::Captured, _)) => StepOutcome::Done,
                Some((Auth::Declined | Auth::Voided, _)) => refused("declined_or_voided"),
                None => {
                    if self.balance >= *amount {
                        self.balance -= amount;
                        self.auth = Some((Auth::Authorized, *amount));
                        StepOutcome::Done
                    } else {
                        self.auth = Some((Auth::Declined, 0));
                        refused("insufficient_funds")
                    }
                }
            },
            Action::Capture { .. } => match self.auth {
                Some((Auth::Authorized, amt)) => {
                    self.auth = Some((Auth::Captured, amt));
                    StepOutcome::Done
                }
                Some((Auth::Captured, _)) => StepOutcome::Done,
                _ => refused("not_authorized"),
            },
            Action::Void { .. } => match self.auth {
                Some((Auth::Authorized, amt)) => {
                    self.balance += amt;
                    self.auth = Some((Auth::Voided, amt));
                    StepOutcome::Done
                }
                Some((Auth::Captured, _)) => refused("captured"),
                Some((Auth::Voided | Auth::Declined, _)) => StepOutcome::Done,
                None => {
                    self.auth = Some((Auth::Voided, 0));
                    StepOutcome::Done
                }
            },
        }
    }
}

#[derive(Debug, Clone)]
enum Fault {
    /// The request never arrives; the orchestrator sees a timeout.
    Lost,
    /// The request takes effect but the reply is lost.
    ReplyLost,
    /// Delivered normally.
    Ok,
    /// Delivered, and a copy is kept to arrive again later.
    Duplicate,
}

#[derive(Debug, Clone)]
enum Event {
    /// Perform the `n`-th current action (mod count) with this fault.
    Step(usize, Fault),
    /// A kept duplicate arrives now (its reply is fed too, as a stale result).
    LateDuplicate,
    Timer,
    Cancel,
}

fn event() -> impl Strategy<Value = Event> {
    let fault = prop_oneof![
        1 => Just(Fault::Lost),
        1 => Just(Fault::ReplyLost),
        4 => Just(Fault::Ok),
        1 => Just(Fault::Duplicate),
    ];
    prop_oneof![
        12 => (0usize..8, fault).prop_map(|(n, f)| Event::Step(n, f)),
        2 => Just(Event::LateDuplicate),
        1 => Just(Event::Timer),
        1 => Just(Event::Cancel),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the faults, after they stop (and operators retry parked sagas) the saga ends,
    /// and the world matches its end: completed = every line committed in its bucket and the
    /// payment captured; compensated = nothing held or committed anywhere and no live
    /// authorization. Past the pivot it never compensates.
    #[test]
    fn saga_ends_consistent_with_the_world(
        lines in proptest::collection::vec((1u64..4, 1u32..4), 1..4),
        stock in proptest::collection::vec(0u64..6, 12),
        balance in prop_oneof![Just(0u64), Just(10_000u64)],
        events in proptest::collection::vec(event(), 0..60),
    ) {
        let names = ["a", "b", "c"];
        let spec_lines: Vec<(&str, u64, u32)> = lines
            .iter()
            .enumerate()
            .map(|(i, (q, b))| (names[i], *q, *b))
            .collect();
        let mut world = World { balance, ..World::default() };
        for (i, name) in names.iter().enumerate() {
            for b in 0..4u32 {
                world.available.insert(((*name).to_owned(), b), stock[i * 4 + b as usize]);
            }
        }
        let policy = RetryPolicy { forward_attempts: 4, must_finish_attempts: 6, ..RetryPolicy::default() };
        let mut s = saga(&spec_lines);
        let mut late: Vec<Action> = Vec::new();
        let mut captured_once = false;
        let mut check = |s: &PurchaseSaga| {
            if s.payment == PaymentProgress::Captured {
                captured_once = true;
            }
            prop_assert!(!(captured_once && s.status == SagaStatus::Compensating),
                "compensating after the pivot: {s:?}");
            Ok(())
        };
        for ev in events {
            let input = match ev {
                Event::Step(n, fault) => {
                    let actions = next_actions(&s);
                    if actions.is_empty() {
                        continue;
                    }
                    let a = actions[n % actions.len()].clone();
                    let outcome = match fault {
                        Fault::Lost => failed(),
                        Fault::ReplyLost => {
                            world.perform(&a);
                            failed()
                        }
                        Fault::Ok => world.perform(&a),
                        Fault::Duplicate => {
                            late.push(a.clone());
                            world.perform(&a)
                        }
                    };
                    result(&a, outcome)
                }
                Event::LateDuplicate => match late.pop() {
                    Some(a) => {
                        let outcome = world.perform(&a);
                        result(&a, outcome)
                    }
                    None => continue,
                },
                Event::Timer => SagaInput::TimerFired { token: s.timer_token },
                Event::Cancel => SagaInput::CancelRequested { reason: "user".into() },
            };
            if let Ok(c) = apply(&s, &input, NOW, &policy) {
                s = c.saga;
            }
            check(&s)?;
        }
        // Faults stop: drive to the end, retrying parked sagas like an operator would.
        for _ in 0..200 {
            if s.status.is_terminal() {
                break;
            }
            if s.status == SagaStatus::NeedsAttention {
                s = apply(&s, &SagaInput::OperatorRetry { note: "retry".into() }, NOW, &policy)
                    .expect("parked saga accepts a retry").saga;
                continue;
            }
            let actions = next_actions(&s);
            prop_assert!(!actions.is_empty(), "active saga with nothing to do: {s:?}");
            for a in actions {
                let outcome = world.perform(&a);
                s = apply(&s, &result(&a, outcome), NOW, &policy).expect("step result").saga;
                check(&s)?;
            }
        }
        prop_assert!(s.status.is_terminal(), "saga did not end: {s:?}");
        match s.status {
            SagaStatus::Completed => {
                prop_assert!(matches!(world.auth, Some((Auth::Captured, _))));
                for l in &s.lines {
                    for b in 0..l.buckets {
                        let r = world.reservations.get(&(l.sku.clone(), b)).map(|r| r.0);
                        if b == l.bucket {
                            prop_assert_eq!(r, Some(Res::Committed));
                        } else {
                            prop_assert!(!matches!(r, Some(Res::Held | Res::Committed)), "{:?}", r);
                        }
                    }
                }
            }
            SagaStatus::Compensated => {
                prop_assert!(!captured_once);
                prop_assert!(!matches!(world.auth, Some((Auth::Authorized | Auth::Captured, _))),
                    "live authorization after compensation: {:?}", world.auth);
                for ((sku, b), (r, _)) in &world.reservations {
                    prop_assert!(!matches!(r, Res::Held | Res::Committed),
                        "{sku}/{b} still {r:?} after compensation");
                }
            }
            other => prop_assert!(false, "not terminal: {other}"),
        }
        // Late duplicates after the end change nothing in the saga.
        for a in late {
            let outcome = world.perform(&a);
            let c = apply(&s, &result(&a, outcome), NOW, &policy).expect("stale result accepted");
            prop_assert!(!c.changed, "a late duplicate changed an ended saga");
        }
    }
}
