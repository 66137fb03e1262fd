//! `jepsen-like`: run a chaos test against real `orderd` processes in network namespaces
//! (`run`), or re-check a recorded history (`check`). The exit code is the check's: 0 valid,
//! 1 violation, 2 unknown / malformed / the run could not be carried out.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::Subcommand;
use jepsen_like::nemesis::NemesisKind;
use jepsen_like::nemesis::parse_nemesis;
use jepsen_like::runner;
use jepsen_like::runner::RunOptions;
use jepsen_like::workload::WorkloadKind;
use jepsen_like::{Budget, CheckReport, EXIT_UNKNOWN, HarnessError, check_jsonl, verdict_line};

#[derive(Debug, Parser)]
#[command(
    name = "jepsen-like",
    version,
    about = "orderstore's Jepsen-style chaos suite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a cluster in network namespaces, run a workload under faults, check the history.
    /// Needs root. Writes DIR/history.jsonl, report.json, summary.json, report.html, logs/.
    Run(RunArgs),
    /// Re-check a recorded history (a history.jsonl file, or a run directory holding one).
    Check {
        path: PathBuf,
        /// Model steps the linearizability search may take per order before "unknown".
        #[arg(long, default_value_t = Budget::DEFAULT_MAX_STEPS)]
        max_steps: u64,
        /// Print the whole report as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Which workload the clients run (register, set, purchase).
    #[arg(long, value_enum, default_value = "register")]
    workload: WorkloadKind,
    /// Faults: none, combined (every kind), or a comma-separated list of partition, kill,
    /// pause, loss, clock, leader-transfer, delay, bandwidth, stall, reset, duplicate,
    /// lost-writes, and packet (= loss, delay, bandwidth, stall, reset).
    #[arg(long, default_value = "none", value_parser = parse_selection)]
    nemesis: Selection,
    /// Cluster size (1..=9).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Shards of the initial shard map.
    #[arg(long, default_value_t = 4)]
    shards: u64,
    /// How long clients invoke operations (e.g. 60s, 2m, 90).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    time_limit: Duration,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 8)]
    concurrency: u64,
    /// Seeds the fault schedule and the clients' choices (same seed, same schedule).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// The orderd binary; default: $ORDERD_BIN, else `orderd` next to this executable.
    #[arg(long)]
    orderd: Option<PathBuf>,
    /// An operation taking longer completes as `info` (TIMEOUT).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    op_timeout: Duration,
    /// At most this many operations are invoked (final reads excluded).
    #[arg(long, default_value_t = 100_000)]
    max_ops: u64,
    /// How long the cluster may take to become ready, at start and after the final heal.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    ready_timeout: Duration,
    /// Upper bound of each worker's random pause between operations.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    think_max: Duration,
    /// Route node-to-node traffic through the harness's TCP proxy even without a proxy
    /// nemesis (delay, bandwidth, stall, reset turn it on by themselves).
    #[arg(long)]
    proxy: bool,
    /// Put every node's data dir on an osj-lazyfs FUSE mount even without the lost-writes
    /// nemesis (which turns it on by itself).
    #[arg(long)]
    lazyfs: bool,
    /// The osj-lazyfs binary; default: $OSJ_LAZYFS_BIN, else `osj-lazyfs` next to this
    /// executable.
    #[arg(long)]
    lazyfs_bin: Option<PathBuf>,
}

/// `--nemesis` as parsed: the kinds, and whether `lost-writes` was named (a machine without
/// lazyfs then refuses the run; under `combined` it skips the kind).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selection {
    kinds: Vec<NemesisKind>,
    lost_writes_named: bool,
}

fn parse_selection(s: &str) -> Result<Selection, String> {
    Ok(Selection {
        kinds: parse_nemesis(s)?,
        lost_writes_named: s
            .split(',')
            .any(|w| w.trim() == NemesisKind::LostWrites.name()),
    })
}

/// `500ms`, `20s`, `2m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 20s, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "jepsen_like=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Check {
            path,
            max_steps,
            json,
        } => check(path, max_steps, json),
        Command::Run(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("jepsen-like: cannot start the async runtime: {e}");
                    return ExitCode::from(EXIT_UNKNOWN);
                }
            };
            let code = runtime.block_on(run(args));
            // Dropping the runtime drops any task still holding the cluster, whose Drop tears
            // it down; do it before returning so that happens on every path.
            runtime.shutdown_timeout(Duration::from_secs(30));
            code
        }
    }
}

async fn run(args: RunArgs) -> ExitCode {
    let orderd = match runner::resolve_orderd(args.orderd) {
        Ok(p) => p,
        Err(e) => return harness_failure(&e),
    };
    let opts = RunOptions {
        workload: args.workload,
        nemesis: args.nemesis.kinds,
        nodes: args.nodes,
        shards: args.shards,
        time_limit: args.time_limit,
        concurrency: args.concurrency.max(1),
        seed: args.seed,
        out: args.out.clone(),
        orderd,
        op_timeout: args.op_timeout,
        max_ops: args.max_ops,
        ready_timeout: args.ready_timeout,
        think_max: args.think_max,
        proxy: args.proxy,
        lazyfs: args.lazyfs,
        lazyfs_bin: args.lazyfs_bin,
        lost_writes_named: args.nemesis.lost_writes_named,
    };
    // Ctrl-C drops the run future: its tasks are aborted and the cluster's Drop tears
    // everything down.
    let result = tokio::select! {
        r = runner::run(&opts) => r,
        _ = tokio::signal::ctrl_c() => Err(HarnessError::Interrupted),
    };
    match result {
        Ok((summary, report)) => {
            let o = &summary.ops;
            println!(
                "{} ops ({} ok, {} fail, {} info, {} pending), {} fault windows, {:.1} s; results in {}",
                o.invocations,
                o.ok,
                o.fail,
                o.info,
                o.pending,
                summary.fault_windows,
                summary.duration_ms as f64 / 1000.0,
                args.out.display()
            );
            if summary.proxy {
                let l = &summary.proxy_links;
                let sum =
                    |f: fn(&jepsen_like::proxy::LinkStats) -> u64| l.iter().map(f).sum::<u64>();
                println!(
                    "proxy: {} links, {} connections ({} upstream failures, {} reset by the nemesis), {} bytes forward, {} bytes back",
                    l.len(),
                    sum(|s| s.connections),
                    sum(|s| s.connect_failures),
                    sum(|s| s.resets),
                    sum(|s| s.forward_written),
                    sum(|s| s.backward_written)
                );
            }
            if !summary.lost_writes.is_empty() || summary.lazyfs {
                let dropped: Vec<String> = summary
                    .lost_writes
                    .iter()
                    .map(|l| format!("node {}: {} bytes in {} files", l.node, l.bytes, l.files))
                    .collect();
                let fsyncs: u64 = summary.lazyfs_stats.iter().map(|s| s.stats.fsyncs).sum();
                println!(
                    "lazyfs: {} lost-writes windows ({}); {fsyncs} fsyncs on all nodes",
                    summary.lost_writes.len(),
                    if dropped.is_empty() {
                        "none".to_string()
                    } else {
                        dropped.join(", ")
                    }
                );
            }
            for p in &summary.teardown_problems {
                eprintln!("jepsen-like: teardown: {p}");
            }
            print_verdict(&report);
            ExitCode::from(report.exit_code())
        }
        Err(e) => harness_failure(&e),
    }
}

fn harness_failure(e: &HarnessError) -> ExitCode {
    eprintln!("jepsen-like: {e}");
    ExitCode::from(EXIT_UNKNOWN)
}

fn print_verdict(report: &CheckReport) {
    if let Some(l) = &report.linearizability {
        println!(
            "linearizability: {:?} ({} orders: {} ok, {} violated, {} unknown; {} ops checked)",
            l.verdict, l.keys_checked, l.keys_ok, l.keys_violated, l.keys_unknown, l.ops_checked
        );
        for v in l.keys.values() {
            if let jepsen_like::Verdict::Violation(v) = v {
                println!("{}", v.explanation);
            }
        }
    }
    if let Some(s) = &report.set {
        println!(
            "set: {:?} ({} attempted, {} acknowledged, {} in the final read, {} lost-unknown, {} recovered)",
            s.verdict, s.attempted, s.acknowledged, s.read_size, s.lost_unknown, s.recovered
        );
        for v in &s.violations {
            println!("  {}", serde_json::to_string(v).unwrap_or_default());
        }
    }
    if let Some(p) = &report.purchase {
        println!(
            "purchase: {:?} ({} purchases over {} keys: {} ok, {} fail, {} info; sagas {} completed, {} compensated {:?}, {} needs-attention, {} still open, {} never applied; captured {} = completed {}){}",
            p.verdict,
            p.attempted,
            p.keys,
            p.acknowledged,
            p.failed,
            p.indeterminate,
            p.completed,
            p.compensated,
            p.compensation_reasons,
            p.needs_attention,
            p.still_open,
            p.never_applied,
            p.captured_total,
            p.completed_amount_total,
            if p.unknown_reasons.is_empty() {
                String::new()
            } else {
                format!("; unknown: {:?}", p.unknown_reasons)
            }
        );
        for (sku, s) in &p.skus {
            println!(
                "  {sku}: initial {} = available {} + held {} + committed {} (sagas committed {}, held {})",
                s.initial, s.available, s.held, s.committed, s.saga_committed, s.saga_held
            );
        }
        for v in &p.violations {
            println!("  {}", serde_json::to_string(v).unwrap_or_default());
        }
    }
    println!("{}", verdict_line(report));
}

fn check(path: PathBuf, max_steps: u64, json: bool) -> ExitCode {
    let file = if path.is_dir() {
        path.join("history.jsonl")
    } else {
        path
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("jepsen-like: cannot read {}: {e}", file.display());
            return ExitCode::from(EXIT_UNKNOWN);
        }
    };
    let report = check_jsonl(&text, &Budget::steps(max_steps));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report types serialise to JSON")
        );
    } else {
        println!("{} ops in {}", report.history_ops, file.display());
        print_verdict(&report);
    }
    ExitCode::from(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn cli_parses_the_documented_run_command() {
        let cli = Cli::try_parse_from([
            "jepsen-like",
            "run",
            "--workload",
            "set",
            "--nemesis",
            "partition,kill",
            "--time-limit",
            "30s",
            "--out",
            "/tmp/x",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.workload, WorkloadKind::Set);
        assert_eq!(
            args.nemesis.kinds,
            [NemesisKind::Partition, NemesisKind::Kill]
        );
        assert!(!args.nemesis.lost_writes_named && !args.lazyfs);
        assert_eq!(args.time_limit, Duration::from_secs(30));
    }

    #[test]
    fn lost_writes_named_or_implied() {
        let named = parse_selection("partition, lost-writes").unwrap();
        assert!(named.lost_writes_named);
        assert_eq!(
            named.kinds,
            [NemesisKind::Partition, NemesisKind::LostWrites]
        );
        let implied = parse_selection("combined").unwrap();
        assert!(implied.kinds.contains(&NemesisKind::LostWrites));
        assert!(!implied.lost_writes_named);
    }
}
