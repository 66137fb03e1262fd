//! [`run`]: one complete test run. Phases:
//! 1. preflight (privileges, `ip`/`iptables`, optional libfaketime) and cluster start
//!    ([`Cluster::start`]: lock, stale cleanup, network, nodes, readiness);
//! 2. the workload's setup (purchase: SKUs and accounts), then load and faults: `concurrency` workers until the time limit (or `max_ops`), while the
//!    nemesis walks its seeded schedule;
//! 3. final phase: heal everything, wait until the cluster is ready again, final reads;
//! 4. check the history and write the run directory; tear the cluster down.
//!
//! The run directory holds `history.jsonl`, `report.json` (the [`CheckReport`]),
//! `summary.json` ([`RunSummary`]), `schedule.json`, `nemesis.jsonl`, `report.html`,
//! `cluster.toml` and `logs/node-N.log`.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use std::time::Instant;

use serde::Deserialize;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use crate::cluster::ClusterSpec;
use crate::harness_error::HarnessError;
use crate::history::History;
use crate::html;
use crate::nemesis;
use crate::nemesis::LostWrites;
use crate::nemesis::Nemesis;
use crate::nemesis::NemesisEvent;
use crate::nemesis::NemesisKind;
use crate::node_fs;
use crate::node_fs::NodeFsStats;
use crate::op::OpType;
use crate::preflight;
use crate::proxy::LinkStats;
use crate::recorder::Recorder;
use crate::report::{CheckReport, Outcome, check_history};
use crate::workload;
use crate::workload::ClientConfig;
use crate::workload::Workload;
use crate::workload::WorkloadKind;

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub workload: WorkloadKind,
    /// Nemesis kinds to draw faults from (empty: no faults).
    pub nemesis: Vec<NemesisKind>,
    pub nodes: u64,
    pub shards: u64,
    pub time_limit: Duration,
    pub concurrency: u64,
    pub seed: u64,
    pub out: PathBuf,
    pub orderd: PathBuf,
    pub op_timeout: Duration,
    pub max_ops: u64,
    /// How long the cluster may take to become ready (at start and after the final heal).
    pub ready_timeout: Duration,
    /// Upper bound of the random pause between a worker's operations.
    pub think_max: Duration,
    /// Route node-to-node traffic through the TCP proxy even when no proxy nemesis is
    /// selected (it always does when one is).
    pub proxy: bool,
    /// Put the nodes' data dirs on `osj-lazyfs` even without the lost-writes nemesis (it
    /// always does with it).
    pub lazyfs: bool,
    /// The `osj-lazyfs` binary (`--lazyfs-bin`); else `$OSJ_LAZYFS_BIN`, else beside this
    /// executable.
    pub lazyfs_bin: Option<PathBuf>,
    /// Whether `lost-writes` was named in `--nemesis` (not only implied by `combined`): then
    /// a machine without lazyfs refuses the run instead of skipping the kind.
    pub lost_writes_named: bool,
}

/// Operation counts by completion type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub invocations: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Invocations never completed (treated like `info`).
    pub pending: u64,
}

/// What a run did, next to the checker's [`CheckReport`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub workload: String,
    pub nemesis: Vec<String>,
    /// Requested nemeses that could not run here, with the reason.
    pub skipped_nemeses: Vec<String>,
    pub nodes: u64,
    pub shards: u64,
    pub seed: u64,
    pub concurrency: u64,
    pub time_limit_ms: u64,
    pub duration_ms: u64,
    pub ops: OpCounts,
    /// Counts per operation (`create`, `read`, `transition`, `add`, `read_all`).
    pub ops_by_f: BTreeMap<String, OpCounts>,
    pub fault_windows: usize,
    /// False when the cluster was not ready again within the deadline after the final heal
    /// (a liveness problem worth reading the node logs for; the final reads still ran).
    pub recovered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_error: Option<String>,
    pub outcome: Outcome,
    pub exit_code: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teardown_problems: Vec<String>,
    /// Whether node-to-node traffic went through the TCP proxy.
    #[serde(default)]
    pub proxy: bool,
    /// The proxy's counters per link (connections, resets, bytes each way), at the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_links: Vec<LinkStats>,
    /// Each node's DNAT rules into the proxy with their counters (`iptables -t nat -L -v
    /// -x`: packets, bytes, ...; NAT sees the first packet of each connection), at the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_redirects: Vec<String>,
    /// Latency of the operations that completed `ok` (invocation to completion).
    #[serde(default)]
    pub ok_latency: LatencySummary,
    /// Whether the nodes' data dirs were `osj-lazyfs` mounts.
    #[serde(default)]
    pub lazyfs: bool,
    /// Each node's lazyfs counters at the end (fsyncs, bytes written, synced, dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lazyfs_stats: Vec<NodeFsStats>,
    /// Each `lost-writes` window's `clear-cache` reply (node, files, bytes dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_writes: Vec<LostWrites>,
}

/// Latency percentiles in milliseconds (nearest rank); all zero without operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Latency percentiles of `history`'s `ok` operations.
pub fn ok_latency(history: &History) -> LatencySummary {
    let mut ns: Vec<u64> = history
        .pairs()
        .into_iter()
        .filter_map(|p| {
            p.completion
                .filter(|c| c.op_type == OpType::Ok)
                .map(|c| c.time_ns - p.invoke.time_ns)
        })
        .collect();
    if ns.is_empty() {
        return LatencySummary::default();
    }
    ns.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
        ns[rank - 1] as f64 / 1e6
    };
    LatencySummary {
        count: ns.len() as u64,
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// Counts of `history`'s operations, overall and per `f`.
pub fn count_ops(history: &History) -> (OpCounts, BTreeMap<String, OpCounts>) {
    let mut all = OpCounts::default();
    let mut by_f: BTreeMap<String, OpCounts> = BTreeMap::new();
    for pair in history.pairs() {
        let f = by_f
            .entry(pair.invoke.payload.name().to_string())
            .or_default();
        for c in [&mut all, f] {
            c.invocations += 1;
            match pair.completion.map(|c| c.op_type) {
                Some(OpType::Ok) => c.ok += 1,
                Some(OpType::Fail) => c.fail += 1,
                Some(OpType::Info) => c.info += 1,
                Some(OpType::Invoke) | None => c.pending += 1,
            }
        }
    }
    (all, by_f)
}

fn write(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(HarnessError::io("write", path))
}

fn json<T: Serialize>(v: &T) -> String {
    // Our report types are plain data with string map keys: serialisation cannot fail.
    serde_json::to_string_pretty(v).expect("report types serialise to JSON") + "\n"
}

/// Runs the test described by `opts` and writes its directory. Returns the summary and the
/// check report; `Err` only when the run itself could not be carried out (the cluster is
/// torn down in every case).
pub async fn run(opts: &RunOptions) -> Result<(RunSummary, CheckReport), HarnessError> {
    preflight::require_privileges()?;
    let tools = preflight::find_tools()?;
    std::fs::create_dir_all(&opts.out).map_err(HarnessError::io("create", &opts.out))?;

    let mut kinds = opts.nemesis.clone();
    let mut skipped = Vec::new();
    if kinds.contains(&NemesisKind::Clock) && tools.faketime_lib.is_none() {
        kinds.retain(|k| *k != NemesisKind::Clock);
        let why = "clock: SKIPPED, libfaketime not installed (Debian package `faketime`)";
        eprintln!("jepsen-like: {why}");
        skipped.push(why.to_string());
    }
    let lazyfs = if opts.lazyfs || kinds.contains(&NemesisKind::LostWrites) {
        match node_fs::preflight(opts.lazyfs_bin.as_deref()) {
            Ok(binary) => Some(binary),
            // Asked for by name: refuse, a run without the fault would look like a pass.
            Err(why) if opts.lazyfs || opts.lost_writes_named => {
                return Err(HarnessError::Lazyfs(why));
            }
            // Only implied by `combined`: run the other kinds, like `clock` without
            // libfaketime.
            Err(why) => {
                kinds.retain(|k| *k != NemesisKind::LostWrites);
                let why = format!("lost-writes: SKIPPED, {why}");
                eprintln!("jepsen-like: {why}");
                skipped.push(why);
                None
            }
        }
    } else {
        None
    };

    let spec = ClusterSpec {
        nodes: opts.nodes,
        shards: opts.shards,
        orderd: opts.orderd.clone(),
        out_dir: opts.out.clone(),
        ready_timeout: opts.ready_timeout,
        proxy: opts.proxy || kinds.iter().any(|k| k.uses_proxy()),
        lazyfs,
    };
    let started = Instant::now();
    let cluster = Cluster::start(&spec, tools).await?;
    tracing::info!(
        nodes = opts.nodes,
        shards = opts.shards,
        secs = started.elapsed().as_secs_f64(),
        "cluster ready"
    );
    let endpoints = cluster.endpoints();
    let ids = cluster.ids().to_vec();
    let cluster = Arc::new(Mutex::new(cluster));

    let history_path = opts.out.join("history.jsonl");
    let sink =
        std::fs::File::create(&history_path).map_err(HarnessError::io("create", &history_path))?;
    let run_start = Instant::now();
    let recorder = Arc::new(Recorder::new(run_start, Some(sink)));
    let schedule = nemesis::generate(
        opts.seed,
        &kinds,
        &ids,
        &nemesis::Timing::for_limit(opts.time_limit),
    );
    write(&opts.out.join("schedule.json"), &json(&schedule))?;

    // Phase 2: load and faults.
    let cfg = Arc::new(ClientConfig {
        concurrency: opts.concurrency,
        time_limit: opts.time_limit,
        max_ops: opts.max_ops,
        op_timeout: opts.op_timeout,
        think_max: opts.think_max,
        seed: opts.seed,
    });
    let workload = Workload::new(
        opts.workload,
        opts.seed,
        opts.concurrency,
        opts.op_timeout,
        opts.time_limit,
    );
    // The workload's setup runs on the healthy cluster, before the load and the faults; the
    // schedule and the time limit count from its end.
    workload
        .setup(&cfg.sdk_client(&endpoints), &recorder, opts.op_timeout)
        .await?;
    let load_start = Instant::now();
    let stop_at = load_start + opts.time_limit;
    let invoked = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for thread in 0..opts.concurrency {
        workers.spawn(workload::worker(
            workload.clone(),
            recorder.clone(),
            endpoints.clone(),
            cfg.clone(),
            stop_at,
            invoked.clone(),
            thread,
        ));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let nemesis = Nemesis {
        cluster: cluster.clone(),
        recorder: recorder.clone(),
        client: crate::cluster::client_for(
            &endpoints,
            Duration::from_secs(2),
            Duration::from_secs(3),
        ),
        run_start: load_start,
    };
    let mut nemesis_task = JoinSet::new();
    nemesis_task.spawn(async move { nemesis.run_schedule(&schedule, stop_rx).await });

    let mut worker_error = None;
    while let Some(done) = workers.join_next().await {
        let failure = match done {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(HarnessError::Task(e.to_string())),
        };
        if let Some(e) = failure {
            tracing::error!(error = %e, "worker failed");
            worker_error.get_or_insert(e);
        }
    }
    let _ = stop_tx.send(true);
    let events: Vec<NemesisEvent> = match nemesis_task.join_next().await {
        Some(Ok(events)) => events,
        Some(Err(e)) => return Err(HarnessError::Task(format!("nemesis: {e}"))),
        None => Vec::new(),
    };
    if let Some(e) = worker_error {
        return Err(e);
    }

    // Phase 3: heal, recover, final reads.
    tracing::info!("healing everything and waiting for recovery");
    let (recovered, recovery_error) = {
        let mut c = cluster.lock().await;
        nemesis::heal_all(&mut c).await?;
        match c.wait_ready(Instant::now() + opts.ready_timeout).await {
            Ok(_) => (true, None),
            Err(e) => {
                tracing::error!(error = %e, "cluster did not recover");
                (false, Some(e.to_string()))
            }
        }
    };
    let final_client = cfg.sdk_client(&endpoints);
    workload
        .final_read(&final_client, &recorder, opts.op_timeout)
        .await?;
    recorder.flush();

    // Phase 4: check, write, tear down.
    let history = recorder.history();
    write(&history_path, &history.to_jsonl())?;
    let report = check_history(&history);
    let (ops, ops_by_f) = count_ops(&history);
    let (proxy_links, proxy_redirects, lazyfs_stats) = {
        let c = cluster.lock().await;
        (
            c.proxy().map(|p| p.stats()).unwrap_or_default(),
            c.proxy_redirect_counters().await,
            c.lazyfs_stats().await,
        )
    };
    let teardown_problems = match Arc::try_unwrap(cluster) {
        Ok(c) => c.into_inner().teardown(),
        // The nemesis task has finished, so no other handle exists; if one did, Drop of
        // the last handle tears down.
        Err(_) => vec!["cluster still shared at the end of the run".into()],
    };
    let summary = RunSummary {
        workload: format!("{:?}", opts.workload).to_lowercase(),
        nemesis: kinds.iter().map(ToString::to_string).collect(),
        skipped_nemeses: skipped,
        nodes: opts.nodes,
        shards: opts.shards,
        seed: opts.seed,
        concurrency: opts.concurrency,
        time_limit_ms: opts.time_limit.as_millis() as u64,
        duration_ms: started.elapsed().as_millis() as u64,
        ops,
        ops_by_f,
        fault_windows: events.len(),
        recovered,
        recovery_error,
        outcome: report.outcome,
        exit_code: report.exit_code(),
        teardown_problems,
        proxy: spec.proxy,
        proxy_links,
        proxy_redirects,
        ok_latency: ok_latency(&history),
        lazyfs: spec.lazyfs.is_some(),
        lazyfs_stats,
        lost_writes: events.iter().filter_map(|e| e.lost_writes).collect(),
    };
    write(&opts.out.join("report.json"), &json(&report))?;
    write(&opts.out.join("summary.json"), &json(&summary))?;
    let nemesis_log: String = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("events serialise") + "\n")
        .collect();
    write(&opts.out.join("nemesis.jsonl"), &nemesis_log)?;
    write(
        &opts.out.join("report.html"),
        &html::render(&history, &events, &report, &summary),
    )?;
    Ok((summary, report))
}

/// The `orderd` to run: `explicit`, else `$ORDERD_BIN`, else `orderd` beside this executable.
pub fn resolve_orderd(explicit: Option<PathBuf>) -> Result<PathBuf, HarnessError> {
    let mut candidates = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p);
    } else {
        if let Some(p) = std::env::var_os("ORDERD_BIN").filter(|p| !p.is_empty()) {
            candidates.push(PathBuf::from(p));
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            candidates.push(dir.join("orderd"));
        }
    }
    for c in &candidates {
        if c.is_file() {
            return std::path::absolute(c).map_err(HarnessError::io("resolve", c));
        }
    }
    Err(HarnessError::OrderdNotFound {
        tried: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;
    use crate::op::Payload;

    #[test]
    fn ok_latency_percentiles_use_nearest_rank_over_ok_ops_only() {
        let read = || Payload::Read {
            order_id: "o".into(),
            observed: None,
        };
        let mut ops = Vec::new();
        let mut t = 0;
        // 10 ok reads taking 1..=10 ms, then one failed read taking 100 ms.
        let mut push = |op_type, time_ns| {
            let index = ops.len() as u64;
            ops.push(Op {
                process: 0,
                index,
                op_type,
                time_ns,
                payload: read(),
                error: None,
            });
        };
        for ms in (1..=10u64).chain([100]) {
            push(OpType::Invoke, t);
            t += ms * 1_000_000;
            push(if ms == 100 { OpType::Fail } else { OpType::Ok }, t);
        }
        let l = ok_latency(&History::new(ops).unwrap());
        assert_eq!(l.count, 10);
        assert_eq!(
            (l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            (5.0, 9.0, 10.0, 10.0)
        );
        assert_eq!(ok_latency(&History::empty()), LatencySummary::default());
    }
}
