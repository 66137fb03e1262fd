//! A short real run of the lost-writes nemesis, like a user at a terminal: `jepsen-like run
//! --workload set --nemesis lost-writes` puts each of three `orderd` nodes' data dir on an
//! `osj-lazyfs` FUSE mount, and during the load SIGKILLs one node at a time, drops everything
//! it had not fsynced (`clear-cache`) and restarts it over what survived.
//!
//! It proves that: the set workload stays valid (no acknowledged add lost) when un-fsynced
//! writes vanish with a crash; at least one lost-writes window really ran, with the
//! filesystem's `clear-cache` reply recorded, and the per-node lazyfs counters in
//! `summary.json` agree with those replies; and nothing is left behind: no FUSE mount, no
//! lazyfs or `orderd` process, no `osj-run-*` temp dir, no namespace or link.
//!
//! Same rules as `smoke.rs`: without root it prints `SKIPPED: needs root` and returns;
//! `orderd` and `osj-lazyfs` are siblings of this package's binary in the target directory
//! (`cargo build --workspace --bins`), else `$ORDERD_BIN` / `$OSJ_LAZYFS_BIN` (the test fails
//! saying how to provide them). Its own test binary, so cargo runs it after the other smoke
//! tests, never at the same time (runs share the network names).

mod support;

use std::io::Write;
use std::path::Path;

use support::{jepsen_like, lazyfs_bin, orderd_bin, read, report_and_summary, run_dir};

use jepsen_like::nemesis::NemesisEvent;
use jepsen_like::node_fs;
use jepsen_like::{Outcome, netns, preflight};

/// Processes whose command line mentions a harness temp dir (`osj-run-*`): lazyfs daemons
/// and nodes of a run.
fn run_processes() -> Vec<String> {
    let tmp = std::env::temp_dir();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        if e.file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
            .is_none()
        {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if node_fs::is_run_daemon(&cmdline, &tmp, "osj-run-")
            || text.contains(&format!("{}/osj-run-", tmp.display()))
        {
            found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn set_workload_survives_lost_unfsynced_writes_and_leaves_nothing_behind() {
    if !preflight::is_privileged() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: set_workload_survives_lost_unfsynced_writes_and_leaves_nothing_behind \
             needs root (network namespaces, iptables, FUSE mounts); run the tests as root to \
             include it"
        );
        return;
    }
    let (orderd, lazyfs) = (orderd_bin(), lazyfs_bin());
    let (out, out_dir) = run_dir("jepsen-like-smoke-lw-");

    // Phase 1: a real run under lost-writes only.
    let (code, stdout, stderr) = jepsen_like(&[
        "run",
        "--workload",
        "set",
        "--nemesis",
        "lost-writes",
        "--nodes",
        "3",
        "--shards",
        "4",
        "--time-limit",
        "20s",
        "--concurrency",
        "4",
        "--seed",
        "5",
        "--out",
        &out_dir,
        "--orderd",
        orderd.to_str().expect("utf-8 orderd path"),
        "--lazyfs-bin",
        lazyfs.to_str().expect("utf-8 osj-lazyfs path"),
    ]);
    assert_eq!(
        code, 0,
        "jepsen-like run failed (exit {code})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Phase 2: a valid verdict over a non-trivial history.
    let (report, summary) = report_and_summary(out.path());
    assert_eq!(report.outcome, Outcome::Valid, "{stdout}");
    let set = report.set.as_ref().expect("the set checker ran");
    assert!(
        set.acknowledged >= 100,
        "{} acknowledged adds",
        set.acknowledged
    );
    assert!(summary.recovered, "recovered after the heal: {summary:?}");

    // Phase 3: the fault happened, and what lazyfs says it dropped adds up.
    let events: Vec<NemesisEvent> = read(&out.path().join("nemesis.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a nemesis event"))
        .collect();
    assert!(events.iter().all(|e| e.kind == "lost-writes"), "{events:?}");
    let applied: Vec<_> = events
        .iter()
        .filter(|e| e.errors.is_empty())
        .filter_map(|e| e.lost_writes)
        .collect();
    assert!(
        !applied.is_empty(),
        "no lost-writes window got a clear-cache reply: {events:?}"
    );
    assert!(summary.lazyfs, "{summary:?}");
    assert_eq!(summary.lost_writes.len(), applied.len(), "{summary:?}");
    assert_eq!(summary.lazyfs_stats.len(), 3, "{summary:?}");
    for s in &summary.lazyfs_stats {
        assert!(s.error.is_none() && s.stats.fsyncs > 0, "{s:?}");
        let mine = summary.lost_writes.iter().filter(|l| l.node == s.node);
        assert_eq!(s.stats.clears, mine.clone().count() as u64, "{s:?}");
        assert_eq!(
            s.stats.dropped_bytes,
            mine.map(|l| l.bytes).sum::<u64>(),
            "{s:?}"
        );
    }
    assert!(out.path().join("logs/lazyfs-1.log").is_file());

    // Phase 4: nothing is left behind.
    let tools = preflight::find_tools().expect("ip and iptables exist (the run used them)");
    assert_eq!(netns::leftovers(&tools), Vec::<String>::new());
    let tmp = std::env::temp_dir();
    let mountinfo = read(Path::new("/proc/self/mountinfo"));
    assert_eq!(
        node_fs::fuse_mounts_under(&mountinfo, &tmp, "osj-run-"),
        Vec::<std::path::PathBuf>::new()
    );
    let dirs: Vec<String> = std::fs::read_dir(&tmp)
        .expect("read the temp dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("osj-run-"))
        .collect();
    assert_eq!(dirs, Vec::<String>::new());
    assert_eq!(run_processes(), Vec::<String>::new());
    assert!(summary.teardown_problems.is_empty(), "{summary:?}");
}
