//! History well-formedness and the JSON-lines format: what the recorder may append, what a
//! stored history looks like on disk, and that re-reading it gives the same history.

mod common;

use common::*;
use jepsen_like::{History, HistoryError, Op, OpType, Payload};

fn op(process: u64, index: u64, op_type: OpType, time_ns: u64, payload: Payload) -> Op {
    Op {
        process,
        index,
        op_type,
        time_ns,
        payload,
        error: None,
    }
}

/// A history with every payload kind, info and pending ops survives a JSON-lines round trip.
#[test]
fn jsonl_round_trip_preserves_every_op() {
    let h = Script::new()
        .ok(1, [0, 10], create("o"), created("o"))
        .ok(2, [5, 15], read("o"), read_saw("o", 1, "AWAITING_PAYMENT"))
        .fail(
            1,
            [20, 30],
            transition("o", "SHIP", Some(4)),
            "VERSION_CONFLICT",
        )
        .info(3, [20, 40], transition("o", "PAY", None))
        .ok(4, [0, 10], add("o1", "k1"), add("o1", "k1"))
        .ok(4, [50, 60], read_all(), listed(&[("o1", "k1")]))
        .pending(5, 70, read("o"))
        .history();
    let text = h.to_jsonl();
    assert_eq!(text.lines().count(), h.len());
    let back = History::from_jsonl(&text).expect("our own output parses");
    assert_eq!(back, h);
}

/// The on-disk shape is stable (golden lines): `type` and `f` tags, absent optionals omitted.
#[test]
fn jsonl_shape_is_stable() {
    let h = Script::new()
        .fail(
            7,
            [1, 2],
            transition("o-1", "PAY", Some(3)),
            "VERSION_CONFLICT",
        )
        .history();
    let expected = concat!(
        r#"{"process":7,"index":0,"type":"invoke","time_ns":1,"payload":{"f":"transition","order_id":"o-1","action":"PAY","expected_version":3}}"#,
        "\n",
        r#"{"process":7,"index":1,"type":"fail","time_ns":2,"payload":{"f":"transition","order_id":"o-1","action":"PAY","expected_version":3},"error":"VERSION_CONFLICT"}"#,
        "\n",
    );
    assert_eq!(h.to_jsonl(), expected);
}

/// A garbled line is reported with its (1-based) line number; blank lines are fine.
#[test]
fn unparsable_line_reports_its_number() {
    let good = Script::new()
        .ok(1, [0, 1], read("o"), read_absent("o"))
        .history()
        .to_jsonl();
    let text = format!("{good}\n{{\"process\": 1, \"type\": \"nonsense\"}}\n");
    match History::from_jsonl(&text) {
        Err(HistoryError::Parse { line, .. }) => assert_eq!(line, 4),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// Each malformation is rejected with its own error, and the history is left unchanged.
#[test]
fn malformed_histories_are_rejected_with_typed_errors() {
    let mut h = History::empty();
    h.push(op(1, 0, OpType::Invoke, 10, read("o")))
        .expect("first invoke");

    // Index must equal position.
    assert!(matches!(
        h.push(op(2, 5, OpType::Invoke, 10, read("o"))),
        Err(HistoryError::IndexOutOfSequence {
            position: 1,
            index: 5
        })
    ));
    // Time must not go backwards.
    assert!(matches!(
        h.push(op(2, 1, OpType::Invoke, 9, read("o"))),
        Err(HistoryError::TimeWentBackwards {
            index: 1,
            time_ns: 9,
            previous_ns: 10
        })
    ));
    // One open invocation per process.
    assert!(matches!(
        h.push(op(1, 1, OpType::Invoke, 11, read("o"))),
        Err(HistoryError::DoubleInvoke {
            index: 1,
            process: 1,
            open_index: 0
        })
    ));
    // A completion needs an open invocation of the same process.
    assert!(matches!(
        h.push(op(2, 1, OpType::Ok, 11, read("o"))),
        Err(HistoryError::OrphanCompletion {
            index: 1,
            process: 2
        })
    ));
    // A completion must match its invocation's kind and key.
    assert!(matches!(
        h.push(op(1, 1, OpType::Ok, 11, read("other"))),
        Err(HistoryError::MismatchedCompletion {
            index: 1,
            invoke_index: 0,
            ..
        })
    ));
    assert!(matches!(
        h.push(op(1, 1, OpType::Ok, 11, create("o"))),
        Err(HistoryError::MismatchedCompletion { .. })
    ));
    assert_eq!(h.len(), 1, "rejected ops are not appended");

    // The valid completion is still accepted, and the process may invoke again.
    h.push(op(1, 1, OpType::Ok, 11, read_saw("o", 1, "X")))
        .expect("matching completion");
    h.push(op(1, 2, OpType::Invoke, 12, read("o")))
        .expect("next invoke");
}

/// After an `info` completion the process may invoke again under the same id.
#[test]
fn process_may_continue_after_info() {
    let h = Script::new()
        .info(1, [0, 10], transition("o", "PAY", None))
        .ok(1, [20, 30], read("o"), read_absent("o"))
        .history();
    let pairs = h.pairs();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].outcome(), OpType::Info);
    assert_eq!(pairs[1].outcome(), OpType::Ok);
}

/// Pairing: completions attach to their invocations across interleavings; a pending invocation
/// has no completion and counts as `info`.
#[test]
fn pairs_match_invocations_with_completions() {
    let h = Script::new()
        .ok(1, [0, 30], create("a"), created("a"))
        .ok(2, [10, 20], create("b"), created("b"))
        .pending(3, 25, read("a"))
        .history();
    let pairs = h.pairs();
    let summary: Vec<(u64, Option<u64>, OpType)> = pairs
        .iter()
        .map(|p| (p.invoke.index, p.completion.map(|c| c.index), p.outcome()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, Some(4), OpType::Ok),
            (1, Some(2), OpType::Ok),
            (3, None, OpType::Info)
        ]
    );
}
