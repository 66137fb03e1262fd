//! A short real run of the whole harness, like a user at a terminal: `jepsen-like run` starts
//! three `orderd` processes in network namespaces, drives the register workload while
//! partitions and SIGKILLs hit the cluster, heals, reads everything back and checks.
//!
//! It proves that: the harness records a valid, non-trivial history (hundreds of `ok`
//! operations, fault windows that really happened) and the checker judges it linearizable;
//! the run leaves no namespace, link or process behind; and the checker would have caught a
//! problem in that very history (one `ok` read mutated to a value no write produced).
//!
//! Needs root (network namespaces, iptables): without it the test prints
//! `SKIPPED: needs root` and returns. Needs `orderd`: the sibling of this package's binary in
//! the target directory (`cargo build --workspace --bins` first), else `$ORDERD_BIN`.

mod support;

use std::io::Write;

use support::{jepsen_like, orderd_bin, read, report_and_summary, run_dir};

use jepsen_like::nemesis::NemesisEvent;
use jepsen_like::{History, Op, OpType, Outcome, Payload, check_history, netns, preflight};

/// Returns `history` with the first `ok` read that observed an order changed to observe a
/// version no operation produced, and that read's index.
fn plant_impossible_read(history: &History) -> (History, u64) {
    let mut ops: Vec<Op> = history.ops().to_vec();
    let target = ops
        .iter_mut()
        .find(|op| {
            op.op_type == OpType::Ok
                && matches!(
                    op.payload,
                    Payload::Read {
                        observed: Some(_),
                        ..
                    }
                )
        })
        .expect("the history has an ok read of an existing order");
    let Payload::Read {
        observed: Some(v), ..
    } = &mut target.payload
    else {
        unreachable!("matched above");
    };
    v.version += 1_000;
    let index = target.index;
    (
        History::new(ops).expect("a mutated result keeps the history well-formed"),
        index,
    )
}

#[test]
fn register_workload_under_partitions_and_kills_is_linearizable() {
    if !preflight::is_privileged() {
        // Written to the stderr handle, not with `eprintln!`, so the test harness does not
        // capture it: the skip is visible in a normal `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: register_workload_under_partitions_and_kills_is_linearizable needs root \
             (network namespaces and iptables); run the tests as root to include it"
        );
        return;
    }
    let orderd = orderd_bin();
    let (out, out_dir) = run_dir("jepsen-like-smoke-");

    // Phase 1: a real run.
    let (code, stdout, stderr) = jepsen_like(&[
        "run",
        "--workload",
        "register",
        "--nemesis",
        "partition,kill",
        "--nodes",
        "3",
        "--shards",
        "4",
        "--time-limit",
        "25s",
        "--concurrency",
        "4",
        "--seed",
        "7",
        "--out",
        &out_dir,
        "--orderd",
        orderd.to_str().expect("utf-8 orderd path"),
    ]);
    assert_eq!(
        code, 0,
        "jepsen-like run failed (exit {code})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Phase 2: the run directory holds a valid, non-trivial history and a Valid verdict.
    let history = History::from_jsonl(&read(&out.path().join("history.jsonl")))
        .expect("the recorded history is well-formed");
    let (report, summary) = report_and_summary(out.path());
    assert_eq!(report.outcome, Outcome::Valid, "{stdout}");
    assert_eq!(
        check_history(&history),
        report,
        "re-checking gives the same report"
    );
    assert!(summary.ops.ok >= 200, "too few ok ops: {:?}", summary.ops);
    let ok_reads = history
        .ops()
        .iter()
        .filter(|o| o.op_type == OpType::Ok && matches!(o.payload, Payload::Read { .. }))
        .count();
    let ok_transitions = history
        .ops()
        .iter()
        .filter(|o| o.op_type == OpType::Ok && matches!(o.payload, Payload::Transition { .. }))
        .count();
    assert!(
        ok_reads >= 50 && ok_transitions >= 20,
        "{ok_reads} reads, {ok_transitions} transitions"
    );
    let lin = report
        .linearizability
        .as_ref()
        .expect("register ops were checked");
    assert!(lin.keys_checked >= 5, "{} orders", lin.keys_checked);
    assert!(
        summary.recovered,
        "the cluster recovered after healing: {summary:?}"
    );

    let events: Vec<NemesisEvent> = read(&out.path().join("nemesis.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a nemesis event"))
        .collect();
    assert!(!events.is_empty(), "no fault window happened");
    assert!(
        events
            .iter()
            .all(|e| (e.kind == "partition" || e.kind == "kill") && e.end_ns > e.start_ns),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.errors.is_empty()),
        "every fault failed to apply: {events:?}"
    );
    for f in [
        "report.html",
        "cluster.toml",
        "logs/node-1.log",
        "schedule.json",
    ] {
        assert!(out.path().join(f).is_file(), "{f} missing");
    }
    assert!(read(&out.path().join("report.html")).contains("VALID"));

    // Phase 3: nothing is left behind.
    let tools = preflight::find_tools().expect("ip and iptables exist (the run used them)");
    assert_eq!(netns::leftovers(&tools), Vec::<String>::new());

    // Phase 4: the checker catches a planted impossible read in this real history, both in
    // process and through `jepsen-like check`.
    let (planted, index) = plant_impossible_read(&history);
    let planted_report = check_history(&planted);
    assert_eq!(planted_report.outcome, Outcome::Invalid);
    let blamed = serde_json::to_string(&planted_report.linearizability).expect("serialises");
    assert!(blamed.contains("read saw v"), "{blamed}");
    let planted_path = out.path().join("planted.jsonl");
    std::fs::write(&planted_path, planted.to_jsonl()).expect("write planted history");
    let (code, stdout, _) = jepsen_like(&["check", planted_path.to_str().expect("utf-8")]);
    assert_eq!(
        code, 1,
        "check of the planted history (read #{index}):\n{stdout}"
    );
    let (code, stdout, _) = jepsen_like(&["check", &out_dir]);
    assert_eq!(code, 0, "check of the original history:\n{stdout}");
}
