//! A short real run of the purchase workload, like a user at a terminal: `jepsen-like run
//! --workload purchase` starts three `orderd` processes in network namespaces, sets up a hot
//! SKU (40 units in 4 escrow buckets), two plentiful SKUs and 30 accounts, drives purchases
//! through the saga while partitions and SIGKILLs hit the cluster, heals, waits for every saga
//! to end, reads stock, accounts and sagas back and checks conservation and atomicity.
//!
//! It proves that: the run is valid and non-trivial (purchases completed, the hot SKU sold
//! out and later purchases compensated `sold_out`, fault windows happened); nothing is left
//! behind; and the checker would have caught an oversell planted into that very history.
//!
//! Same rules as `smoke.rs`: without root it prints `SKIPPED: needs root` and returns;
//! `orderd` is the sibling of this package's binary in the target directory, else
//! `$ORDERD_BIN` (the test fails saying how to provide one). Its own test binary, so cargo
//! runs it after `smoke.rs`, and nextest runs the two one at a time (`.config/nextest.toml`):
//! runs share the network names.

mod support;

use std::io::Write;

use support::{jepsen_like, orderd_bin, read, report_and_summary, run_dir};

use jepsen_like::nemesis::NemesisEvent;
use jepsen_like::{
    CheckerVerdict, History, Op, OpType, Outcome, Payload, check_history, netns, preflight,
};

/// `history` with one more unit committed on `sku` in the final read than there is (and
/// taken from `available`, so only the oversell / saga mismatch shows).
fn plant_oversell(history: &History, sku: &str) -> History {
    let mut ops: Vec<Op> = history.ops().to_vec();
    let read = ops
        .iter_mut()
        .rev()
        .find(|op| {
            op.op_type == OpType::Ok
                && matches!(
                    op.payload,
                    Payload::PurchaseRead {
                        snapshot: Some(_),
                        ..
                    }
                )
        })
        .expect("the history has an ok final read");
    let Payload::PurchaseRead {
        snapshot: Some(snap),
    } = &mut read.payload
    else {
        unreachable!("matched above");
    };
    let s = snap.stock.get_mut(sku).expect("the sku was read");
    s.committed += 1;
    s.available = s.available.saturating_sub(1);
    History::new(ops).expect("a mutated result keeps the history well-formed")
}

#[test]
fn purchase_workload_under_partitions_and_kills_conserves_stock_and_money() {
    if !preflight::is_privileged() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: purchase_workload_under_partitions_and_kills_conserves_stock_and_money \
             needs root (network namespaces and iptables); run the tests as root to include it"
        );
        return;
    }
    let orderd = orderd_bin();
    let (out, out_dir) = run_dir("jepsen-like-smoke-purchase-");

    let (code, stdout, stderr) = jepsen_like(&[
        "run",
        "--workload",
        "purchase",
        "--nemesis",
        "partition,kill",
        "--nodes",
        "3",
        "--shards",
        "4",
        "--time-limit",
        "20s",
        "--concurrency",
        "6",
        "--seed",
        "11",
        "--out",
        &out_dir,
        "--orderd",
        orderd.to_str().expect("utf-8 orderd path"),
    ]);
    assert_eq!(
        code, 0,
        "jepsen-like run failed (exit {code})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let history = History::from_jsonl(&read(&out.path().join("history.jsonl")))
        .expect("the recorded history is well-formed");
    let (report, summary) = report_and_summary(out.path());
    assert_eq!(report.outcome, Outcome::Valid, "{stdout}");
    assert_eq!(
        check_history(&history),
        report,
        "re-checking gives the same"
    );
    assert!(summary.recovered, "{summary:?}");
    let p = report.purchase.as_ref().expect("purchases were checked");
    assert_eq!(p.verdict, CheckerVerdict::Pass);
    assert!(p.settled, "every saga ended: {p:?}");
    assert!(p.acknowledged >= 100, "too few ok purchases: {p:?}");
    assert!(p.completed >= 20, "too few completed sagas: {p:?}");
    let sold_out = p.compensation_reasons.get("sold_out").copied().unwrap_or(0);
    assert!(sold_out >= 1, "the hot SKU never sold out: {p:?}");
    let hot = &p.skus["js-hot"];
    assert_eq!(
        (hot.initial, hot.committed, hot.held),
        (40, 40, 0),
        "the hot SKU sold out exactly: {hot:?}"
    );
    let flash = &p.skus["js-flash"];
    assert_eq!((flash.initial, flash.held), (40, 0), "{flash:?}");
    assert!(
        flash.committed > 0,
        "the flash sale sold nothing: {flash:?}"
    );
    assert_eq!(p.captured_total, p.completed_amount_total);

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
    assert!(read(&out.path().join("report.html")).contains("VALID"));

    let tools = preflight::find_tools().expect("ip and iptables exist (the run used them)");
    assert_eq!(netns::leftovers(&tools), Vec::<String>::new());

    // The checker catches an oversell planted into this real history.
    let planted = plant_oversell(&history, "js-hot");
    let planted_report = check_history(&planted);
    assert_eq!(planted_report.outcome, Outcome::Invalid);
    let blamed = serde_json::to_string(&planted_report.purchase).expect("serialises");
    assert!(blamed.contains("\"oversell\""), "{blamed}");
    let planted_path = out.path().join("planted.jsonl");
    std::fs::write(&planted_path, planted.to_jsonl()).expect("write planted history");
    let (code, stdout, _) = jepsen_like(&["check", planted_path.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "check of the planted history:\n{stdout}");
}
