//! The checker against a history the harness really recorded (`data/recorded-register-kill.jsonl`:
//! `jepsen-like run --workload register --nemesis kill --time-limit 10s --concurrency 3
//! --think-max 150ms --seed 12`, three nodes, four shards; node 3, leader of shard 3, was
//! SIGKILLed for 5.5 s and three operations completed `info`). Needs no root.
//!
//! It proves that the recorded history passes as recorded, and that planting a problem a real
//! bug would cause makes the checker report a violation: a read of a version no write
//! produced, and a stale read (an order read back at its creation value after a later
//! transition had been acknowledged).

use jepsen_like::{History, Op, OpType, Outcome, Payload, RegisterValue, check_history};

fn recorded() -> History {
    History::from_jsonl(include_str!("data/recorded-register-kill.jsonl"))
        .expect("the recorded history is well-formed")
}

#[test]
fn the_recorded_history_is_valid_and_non_trivial() {
    let h = recorded();
    let report = check_history(&h);
    assert_eq!(report.outcome, Outcome::Valid, "{report:?}");
    let info = h.ops().iter().filter(|o| o.op_type == OpType::Info).count();
    assert!(info >= 1, "the kill left operations of unknown outcome");
    assert!(report.linearizability.unwrap().keys_checked >= 5);
}

#[test]
fn a_read_of_a_version_nobody_wrote_is_caught() {
    let mut ops: Vec<Op> = recorded().ops().to_vec();
    let read = ops
        .iter_mut()
        .rev()
        .find(|o| {
            o.op_type == OpType::Ok
                && matches!(
                    o.payload,
                    Payload::Read {
                        observed: Some(_),
                        ..
                    }
                )
        })
        .expect("an ok read of an order");
    if let Payload::Read {
        observed: Some(v), ..
    } = &mut read.payload
    {
        v.version += 7;
    }
    let report = check_history(&History::new(ops).expect("still well-formed"));
    assert_eq!(report.outcome, Outcome::Invalid);
}

#[test]
fn a_stale_read_after_an_acknowledged_transition_is_caught() {
    let h = recorded();
    let ops = h.ops();
    // The completion time of the first acknowledged transition per order.
    let mut acked_at = std::collections::BTreeMap::new();
    for o in ops {
        if let (OpType::Ok, Payload::Transition { order_id, .. }) = (o.op_type, &o.payload) {
            acked_at.entry(order_id.clone()).or_insert(o.time_ns);
        }
    }
    // An ok read invoked after such a transition completed: its order had left version 1.
    let pairs = h.pairs();
    let victim = pairs
        .iter()
        .find(|p| match (&p.invoke.payload, p.outcome()) {
            (Payload::Read { order_id, .. }, OpType::Ok) => acked_at
                .get(order_id)
                .is_some_and(|t| *t < p.invoke.time_ns),
            _ => false,
        })
        .and_then(|p| p.completion)
        .expect("a read after an acknowledged transition")
        .index;
    let mut mutated: Vec<Op> = ops.to_vec();
    if let Payload::Read { observed, .. } = &mut mutated[victim as usize].payload {
        *observed = Some(RegisterValue::new(1, "AWAITING_PAYMENT"));
    }
    let report = check_history(&History::new(mutated).expect("still well-formed"));
    assert_eq!(
        report.outcome,
        Outcome::Invalid,
        "stale read at op {victim} not caught"
    );
}
