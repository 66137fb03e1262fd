//! [`Report`]: the results of one `order-bench run`, rendered as Markdown and JSON with the
//! ratios orderstore / peer.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::{BenchError, PurchaseFigures, ReadConsistency, Summary, System, Workload};

/// How the failure of a system that a workload does not apply to begins (the peers in the
/// purchase workloads); such rows read `n/a`, not `failed`.
pub const NOT_APPLICABLE: &str = "not applicable";

/// The machine and invocation, so every figure can be traced to where and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMeta {
    /// The command line as typed.
    pub command: String,
    /// Seconds since the Unix epoch at the start of the run.
    pub started_unix: u64,
    pub git_commit: Option<String>,
    pub machine: MachineInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineInfo {
    /// Logical CPUs available to the process.
    pub nproc: usize,
    /// `MemTotal` of `/proc/meminfo` in MiB (0 when unreadable).
    pub memory_mib: u64,
}

impl MachineInfo {
    /// Reads this machine's figures; missing sources give 0 rather than an error.
    pub fn detect() -> Self {
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| parse_mem_total_kib(&text))
            .map_or(0, |kib| kib / 1024);
        MachineInfo { nproc, memory_mib }
    }
}

/// The purchase figures of one workload: outcomes, rates, the sale's accounting, stock reads
/// and the brief's targets.
fn purchase_markdown(md: &mut String, workload: Workload, p: &PurchaseFigures) {
    let by_kind = |m: &std::collections::BTreeMap<String, u64>| {
        let total: u64 = m.values().sum();
        if m.is_empty() {
            "0".to_string()
        } else {
            let kinds: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!("{total} ({})", kinds.join(", "))
        }
    };
    let _ = writeln!(md, "| purchases | |");
    md.push_str("|---|---:|\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(md, "| {k} | {v} |");
    };
    if workload == Workload::FlashSale {
        row(
            "setup",
            format!(
                "{} units in {} buckets, {} buyer accounts ({:.1} s, before timing)",
                p.params.stock, p.params.buckets, p.params.buyers, p.setup_s
            ),
        );
    } else {
        row(
            "setup",
            format!(
                "{} SKUs with ample stock, {} buyer accounts ({:.1} s, before timing)",
                p.params.skus, p.params.buyers, p.setup_s
            ),
        );
    }
    row("attempted", p.attempted.to_string());
    row("completed", p.completed.to_string());
    row("compensated", by_kind(&p.compensated));
    row("other (saga not ended when answered)", by_kind(&p.other));
    row("errors (no answer)", by_kind(&p.errors));
    row(
        "purchases/s: mean / busiest 1 s",
        format!("{:.0} / {:.0}", p.purchases_per_s, p.peak_purchases_per_s),
    );
    row("completed purchases/s", format!("{:.0}", p.completed_per_s));
    row(
        "completed purchase latency p50 / p99",
        format!("{:.2} / {:.2} ms", p.completed_p50_ms, p.completed_p99_ms),
    );
    if let Some(r) = &p.stock_reads {
        row(
            "stock reads (stale)",
            format!(
                "{} by {} readers ({:.0}/s), {} errors",
                r.reads, r.readers, r.reads_per_s, r.errors
            ),
        );
        row(
            "stock read latency p50 / p99 / max",
            format!("{:.2} / {:.2} / {:.2} ms", r.p50_ms, r.p99_ms, r.max_ms),
        );
        row(
            "reported staleness p50 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} ms",
                r.staleness_p50_ms, r.staleness_p99_ms, r.staleness_max_ms
            ),
        );
    }
    if workload == Workload::FlashSale {
        let secs = |s: Option<f64>| s.map_or("not reached".to_string(), |s| format!("{s:.2} s"));
        row(
            "time to sell out (first sold_out answer)",
            secs(p.time_to_sell_out_s),
        );
        row("last completed purchase at", secs(p.last_completed_s));
    }
    if let Some(s) = &p.sale {
        row(
            "sold units (committed, final linearizable read)",
            format!("{} of {}", s.committed, s.stock),
        );
        row(
            "completed purchases (after settling)",
            s.completed.to_string(),
        );
        row(
            "**oversells** (max(committed - completed, committed - stock))",
            format!(
                "**{}** ({} unbacked, {} beyond stock)",
                s.oversells, s.unbacked_sales, s.over_stock
            ),
        );
        row(
            "held units after the end",
            format!("{} (waited {:.1} s)", s.held, p.settle_s),
        );
        row(
            "available left / units conserved",
            format!(
                "{} / {}",
                s.available,
                if s.conserved { "yes" } else { "NO" }
            ),
        );
        if s.missing_commits > 0 {
            row(
                "completed purchases without a committed unit",
                s.missing_commits.to_string(),
            );
        }
    }
    if p.settled_later > 0 {
        row(
            "sagas followed after the load / completed then",
            format!("{} / {}", p.settled_later, p.completed_later),
        );
    }
    if !p.brief.is_empty() {
        md.push_str("\nAgainst the brief (orderstore only; etcd and PostgreSQL have no saga):\n\n");
        md.push_str("| target | brief | measured | met |\n|---|---|---:|---|\n");
        for b in &p.brief {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {} |",
                b.what,
                b.target,
                b.measured,
                if b.met { "yes" } else { "**no**" }
            );
        }
    }
}

/// `MemTotal:   16318440 kB` -> 16318440.
fn parse_mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// One system's outcome in one workload: its summary, or why it has none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemResult {
    pub system: System,
    pub summary: Option<Summary>,
    /// Set when the system could not be measured (connect or preload failed); the run goes on
    /// with the other systems.
    pub failure: Option<String>,
}

/// orderstore compared with one peer in one workload. Throughput ratio > 1 and latency ratios
/// < 1 favour orderstore. `None` when the peer's figure is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    pub peer: System,
    pub throughput: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// Every system's result for one workload, and the ratios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadResult {
    pub workload: Workload,
    /// `closed` or `open`.
    pub mode: String,
    /// Closed loop: clients; open loop: the offered rate per second.
    pub clients: usize,
    pub rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub read_consistency: ReadConsistency,
    pub systems: Vec<SystemResult>,
    pub ratios: Vec<Ratio>,
    /// Purchase workloads: orderstore's purchase figures (outcomes, sale accounting, stock
    /// reads, the brief's targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchases: Option<PurchaseFigures>,
}

impl WorkloadResult {
    /// Fills in `ratios` from `systems`: orderstore against each measured peer.
    pub fn compute_ratios(&mut self) {
        let summary_of = |s: System| {
            self.systems
                .iter()
                .find(|r| r.system == s)
                .and_then(|r| r.summary.as_ref())
        };
        let Some(ours) = summary_of(System::Orderstore) else {
            self.ratios.clear();
            return;
        };
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        self.ratios = self
            .systems
            .iter()
            .filter(|r| r.system != System::Orderstore)
            .filter_map(|r| {
                let peer = r.summary.as_ref()?;
                Some(Ratio {
                    peer: r.system,
                    throughput: ratio(ours.throughput, peer.throughput),
                    p50: ratio(ours.p50_ms, peer.p50_ms),
                    p99: ratio(ours.p99_ms, peer.p99_ms),
                })
            })
            .collect();
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub meta: RunMeta,
    pub workloads: Vec<WorkloadResult>,
}

impl Report {
    /// The machine-readable form (`results.json`).
    pub fn to_json(&self) -> String {
        // Cannot fail: every field is a plain struct, string, number or map with string keys.
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// The human form (`summary.md`): per workload a table of every system and a table of the
    /// ratios, with the failures and error kinds listed below.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        for w in &self.workloads {
            let load = match w.rate {
                Some(rate) => format!("open loop at {rate:.0} ops/s"),
                None => format!("closed loop, {} clients", w.clients),
            };
            if w.workload == Workload::FlashSale {
                let _ = writeln!(
                    md,
                    "### {} — {} buyers (closed loop), until sold out or {:.0} s; latencies are of purchases (wait for the saga's end)\n",
                    w.workload, w.clients, w.duration_s,
                );
            } else if w.workload.is_purchase() {
                let _ = writeln!(
                    md,
                    "### {} — {load}, {:.0} s measured after {:.0} s warm-up; latencies are of purchases (wait for the saga's end)\n",
                    w.workload, w.duration_s, w.warmup_s,
                );
            } else {
                let _ = writeln!(
                    md,
                    "### {} — {load}, {:.0} s measured after {:.0} s warm-up, {} reads\n",
                    w.workload,
                    w.duration_s,
                    w.warmup_s,
                    serde_json::to_value(w.read_consistency)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                );
            }
            md.push_str(
                "| system | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | ok | errors |\n",
            );
            md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            let mut notes = Vec::new();
            for r in &w.systems {
                match (&r.summary, &r.failure) {
                    (Some(s), _) => {
                        let _ = writeln!(
                            md,
                            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                            r.system,
                            s.throughput,
                            s.p50_ms,
                            s.p90_ms,
                            s.p99_ms,
                            s.p999_ms,
                            s.max_ms,
                            s.ops,
                            s.errors
                        );
                        if !s.error_kinds.is_empty() || s.dropped > 0 {
                            let kinds: Vec<String> = s
                                .error_kinds
                                .iter()
                                .map(|(k, n)| format!("{k}: {n}"))
                                .collect();
                            notes.push(format!(
                                "{}: errors {}{}",
                                r.system,
                                if kinds.is_empty() {
                                    "none".into()
                                } else {
                                    kinds.join(", ")
                                },
                                if s.dropped > 0 {
                                    format!("; {} arrivals dropped (too many in flight)", s.dropped)
                                } else {
                                    String::new()
                                }
                            ));
                        }
                    }
                    (None, Some(why)) if why.starts_with(NOT_APPLICABLE) => {
                        let _ = writeln!(md, "| {} | n/a | | | | | | | |", r.system);
                        notes.push(format!("{}: {why}", r.system));
                    }
                    (None, failure) => {
                        let _ = writeln!(md, "| {} | failed | | | | | | | |", r.system);
                        notes.push(format!(
                            "{}: not measured: {}",
                            r.system,
                            failure.as_deref().unwrap_or("unknown reason")
                        ));
                    }
                }
            }
            if !w.ratios.is_empty() {
                md.push_str(
                    "\norderstore / peer (throughput: higher is better; latency: lower is better)\n\n",
                );
                md.push_str("| peer | throughput | p50 latency | p99 latency |\n");
                md.push_str("|---|---:|---:|---:|\n");
                let x = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}x"));
                for r in &w.ratios {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} |",
                        r.peer,
                        x(r.throughput),
                        x(r.p50),
                        x(r.p99)
                    );
                }
            }
            if !notes.is_empty() {
                md.push('\n');
                for n in notes {
                    let _ = writeln!(md, "- {n}");
                }
            }
            if let Some(p) = &w.purchases {
                md.push('\n');
                purchase_markdown(&mut md, w.workload, p);
            }
            md.push('\n');
        }
        md
    }

    /// Writes `summary.md`, `results.json` and `latency.svg` into `dir` (created if missing).
    ///
    /// Errors: [`BenchError::Write`] naming the file that could not be written.
    pub fn write_to(&self, dir: &Path) -> Result<(), BenchError> {
        std::fs::create_dir_all(dir).map_err(|source| BenchError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let files = [
            ("summary.md", self.to_markdown()),
            ("results.json", self.to_json()),
            ("latency.svg", crate::render_svg(self)),
        ];
        for (name, body) in files {
            let path = dir.join(name);
            std::fs::write(&path, body).map_err(|source| BenchError::Write { path, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    pub(crate) fn summary(throughput: f64, p50: f64, p99: f64) -> Summary {
        Summary {
            ops: (throughput * 10.0) as u64,
            errors: 0,
            error_kinds: BTreeMap::new(),
            dropped: 0,
            elapsed_s: 10.0,
            throughput,
            mean_ms: p50,
            p50_ms: p50,
            p90_ms: p50 * 1.5,
            p99_ms: p99,
            p999_ms: p99 * 2.0,
            max_ms: p99 * 3.0,
        }
    }

    /// A report with orderstore, etcd (measured) and postgres (failed to connect).
    pub(crate) fn sample_report() -> Report {
        let mut etcd = summary(1000.0, 4.0, 20.0);
        etcd.errors = 3;
        etcd.error_kinds.insert("timeout".into(), 3);
        let mut w = WorkloadResult {
            workload: Workload::OrderWrite,
            mode: "closed".into(),
            clients: 64,
            rate: None,
            warmup_s: 2.0,
            duration_s: 8.0,
            read_consistency: ReadConsistency::Linearizable,
            systems: vec![
                SystemResult {
                    system: System::Orderstore,
                    summary: Some(summary(2500.0, 2.0, 10.0)),
                    failure: None,
                },
                SystemResult {
                    system: System::Etcd,
                    summary: Some(etcd),
                    failure: None,
                },
                SystemResult {
                    system: System::Postgres,
                    summary: None,
                    failure: Some("connection refused".into()),
                },
            ],
            ratios: vec![],
            purchases: None,
        };
        w.compute_ratios();
        Report {
            meta: RunMeta {
                command: "order-bench run --quick".into(),
                started_unix: 1_700_000_000,
                git_commit: Some("abc123".into()),
                machine: MachineInfo {
                    nproc: 2,
                    memory_mib: 23_000,
                },
            },
            workloads: vec![w],
        }
    }

    #[test]
    fn ratios_compare_orderstore_with_each_measured_peer() {
        let r = sample_report();
        let ratios = &r.workloads[0].ratios;
        assert_eq!(ratios.len(), 1, "postgres failed, so only etcd has a ratio");
        assert_eq!(ratios[0].peer, System::Etcd);
        assert_eq!(ratios[0].throughput, Some(2.5));
        assert_eq!(ratios[0].p50, Some(0.5));
        assert_eq!(ratios[0].p99, Some(0.5));
    }

    #[test]
    fn ratio_is_none_against_a_zero_peer_and_empty_without_orderstore() {
        let mut w = sample_report().workloads.remove(0);
        w.systems[1].summary = Some(summary(0.0, 0.0, 0.0));
        w.compute_ratios();
        assert_eq!(w.ratios[0].throughput, None);
        w.systems.remove(0);
        w.compute_ratios();
        assert!(w.ratios.is_empty());
    }

    /// Golden Markdown: the tables a reader sees in RESULTS.md.
    #[test]
    fn markdown_has_system_and_ratio_tables() {
        let md = sample_report().to_markdown();
        let want = "\
### order-write — closed loop, 64 clients, 8 s measured after 2 s warm-up, linearizable reads

| system | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | ok | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| orderstore | 2500 | 2.00 | 3.00 | 10.00 | 20.00 | 30.00 | 25000 | 0 |
| etcd | 1000 | 4.00 | 6.00 | 20.00 | 40.00 | 60.00 | 10000 | 3 |
| postgres | failed | | | | | | | |

orderstore / peer (throughput: higher is better; latency: lower is better)

| peer | throughput | p50 latency | p99 latency |
|---|---:|---:|---:|
| etcd | 2.50x | 0.50x | 0.50x |

- etcd: errors timeout: 3
- postgres: not measured: connection refused

";
        assert_eq!(md, want);
    }

    #[test]
    fn json_carries_summaries_ratios_and_machine() {
        let json: serde_json::Value = serde_json::from_str(&sample_report().to_json()).unwrap();
        assert_eq!(json["meta"]["machine"]["nproc"], 2);
        assert_eq!(json["meta"]["git_commit"], "abc123");
        let w = &json["workloads"][0];
        assert_eq!(w["workload"], "order-write");
        assert_eq!(w["systems"][0]["system"], "orderstore");
        assert_eq!(w["systems"][0]["summary"]["throughput"], 2500.0);
        assert_eq!(w["systems"][2]["failure"], "connection refused");
        assert_eq!(w["ratios"][0]["peer"], "etcd");
        assert_eq!(w["ratios"][0]["throughput"], 2.5);
    }

    /// A flash-sale: orderstore measured, the peers n/a (not "failed"), the purchase section
    /// with the oversell line and the brief table; JSON carries the sale.
    #[test]
    fn purchase_workload_renders_na_peers_and_the_sale() {
        use crate::{PurchaseEnd, PurchaseParams, PurchaseTally, SaleOutcome};
        use std::time::Duration;
        let mut t = PurchaseTally::default();
        for i in 0..10u64 {
            let (status, reason) = if i < 8 {
                ("COMPLETED", "")
            } else {
                ("COMPENSATED", "sold_out")
            };
            let end = PurchaseEnd::Saga {
                status: status.into(),
                reason: reason.into(),
            };
            t.record(&end, Duration::from_millis(50), i * 10);
        }
        let params = PurchaseParams {
            stock: 8,
            buckets: 2,
            buyers: 4,
            readers: 0,
            skus: 1,
        };
        let sale = SaleOutcome::new(8, 2, 0, 0, 8, 8);
        let figures =
            crate::PurchaseFigures::new(params, &t, Duration::from_secs(1), None, Some(sale));
        let na = |system: System| SystemResult {
            system,
            summary: None,
            failure: Some(format!("{NOT_APPLICABLE}: {system} has no saga")),
        };
        let mut w = sample_report().workloads.remove(0);
        w.workload = Workload::FlashSale;
        w.systems = vec![
            SystemResult {
                system: System::Orderstore,
                summary: Some(t.latency.summary(Duration::from_secs(1))),
                failure: None,
            },
            na(System::Etcd),
            na(System::Postgres),
        ];
        w.purchases = Some(figures);
        w.compute_ratios();
        assert!(w.ratios.is_empty());
        let report = Report {
            meta: sample_report().meta,
            workloads: vec![w],
        };
        let md = report.to_markdown();
        assert!(md.starts_with("### flash-sale — 64 buyers"), "{md}");
        assert!(md.contains("| etcd | n/a |"), "{md}");
        assert!(!md.contains("failed"), "{md}");
        assert!(md.contains("| compensated | 2 (sold_out 2) |"), "{md}");
        assert!(md.contains("**0** (0 unbacked, 0 beyond stock)"), "{md}");
        assert!(
            md.contains("| purchase p99 | < 300 ms | 50.0 | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| purchases/s at peak (busiest 1 s) | >= 1000 /s | 10.0 | **no** |"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let p = &json["workloads"][0]["purchases"];
        assert_eq!(p["sale"]["oversells"], 0);
        assert_eq!(p["completed"], 8);
        assert_eq!(p["compensated"]["sold_out"], 2);
    }

    #[test]
    fn mem_total_is_parsed_from_meminfo() {
        let text = "MemFree: 5 kB\nMemTotal:       16318440 kB\n";
        assert_eq!(parse_mem_total_kib(text), Some(16_318_440));
        assert_eq!(parse_mem_total_kib("nothing"), None);
    }

    #[test]
    fn write_to_creates_the_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested");
        sample_report().write_to(&out).unwrap();
        for f in ["summary.md", "results.json", "latency.svg"] {
            assert!(out.join(f).is_file(), "{f}");
        }
    }
}
