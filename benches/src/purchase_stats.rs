//! The pure half of the purchase workloads (`flash-sale`, `saga-throughput`): their parameters
//! and validation ([`PurchaseParams`]), outcome counting ([`PurchaseTally`]), the sale's stock
//! accounting and oversell computation ([`SaleOutcome`]), the comparison with the brief
//! ([`BriefCheck`]) and the figures a report carries ([`PurchaseFigures`]). No I/O, no clock.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{BenchError, LatencyStats, OpError, RunArgs};

/// The brief's targets for purchases.
pub const BRIEF_PURCHASES_PER_S: f64 = 1_000.0;
pub const BRIEF_PURCHASE_P99_MS: f64 = 300.0;
pub const BRIEF_STOCK_READ_P99_MS: f64 = 100.0;

/// Upper bounds on the workload parameters (the server's own limits, or what one run can set
/// up in its setup deadline).
pub const MAX_STOCK: u64 = 1_000_000_000;
pub const MAX_BUCKETS: u32 = 1024;
pub const MAX_BUYERS: usize = 100_000;
pub const MAX_READERS: usize = 256;
pub const MAX_SKUS: usize = 10_000;

/// Checked parameters of a purchase workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseParams {
    /// flash-sale: units of the hot SKU.
    pub stock: u64,
    /// flash-sale: escrow buckets of the hot SKU.
    pub buckets: u32,
    /// Buyer accounts opened before the measurement.
    pub buyers: usize,
    /// flash-sale: concurrent `get_stock(Stale)` loops.
    pub readers: usize,
    /// saga-throughput: SKUs purchases spread over.
    pub skus: usize,
}

impl PurchaseParams {
    /// The purchase parameters of `args`, checked: [`BenchError::InvalidArgs`] naming the first
    /// flag out of range.
    pub fn from_args(args: &RunArgs) -> Result<Self, BenchError> {
        let p = PurchaseParams {
            stock: args.stock,
            buckets: args.buckets,
            buyers: args.buyers,
            readers: args.readers,
            skus: args.skus,
        };
        let bad = |flag: &str, range: String, got: String| {
            Err(BenchError::InvalidArgs(format!(
                "{flag} must be in {range}, got {got}"
            )))
        };
        if !(1..=MAX_STOCK).contains(&p.stock) {
            return bad("--stock", format!("1..={MAX_STOCK}"), p.stock.to_string());
        }
        if !(1..=MAX_BUCKETS).contains(&p.buckets) {
            return bad(
                "--buckets",
                format!("1..={MAX_BUCKETS}"),
                p.buckets.to_string(),
            );
        }
        if !(1..=MAX_BUYERS).contains(&p.buyers) {
            return bad(
                "--buyers",
                format!("1..={MAX_BUYERS}"),
                p.buyers.to_string(),
            );
        }
        if p.readers > MAX_READERS {
            return bad(
                "--readers",
                format!("0..={MAX_READERS}"),
                p.readers.to_string(),
            );
        }
        if !(1..=MAX_SKUS).contains(&p.skus) {
            return bad("--skus", format!("1..={MAX_SKUS}"), p.skus.to_string());
        }
        if u64::from(p.buckets) > p.stock {
            return Err(BenchError::InvalidArgs(format!(
                "--buckets ({}) cannot exceed --stock ({}): every bucket needs a unit",
                p.buckets, p.stock
            )));
        }
        Ok(p)
    }
}

/// The class of a compensation reason: its part before the first `:` (e.g. `sold_out`,
/// `payment_declined` of `payment_declined:insufficient_funds`).
pub fn reason_class(reason: &str) -> String {
    let class = reason.split(':').next().unwrap_or("").trim();
    if class.is_empty() {
        "unspecified".to_owned()
    } else {
        class.to_owned()
    }
}

/// True for a saga status that will not change by itself.
pub fn saga_settled(status: &str) -> bool {
    matches!(status, "COMPLETED" | "COMPENSATED" | "NEEDS_ATTENTION")
}

/// How a purchase ended as the load client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseEnd {
    /// The saga's status and reason.
    Saga { status: String, reason: String },
    /// The reply carried no saga.
    NoSaga,
    /// No reply.
    Failed(OpError),
}

impl PurchaseEnd {
    pub fn is_sold_out(&self) -> bool {
        matches!(self, PurchaseEnd::Saga { status, reason }
            if status == "COMPENSATED" && reason_class(reason) == "sold_out")
    }

    pub fn is_completed(&self) -> bool {
        matches!(self, PurchaseEnd::Saga { status, .. } if status == "COMPLETED")
    }
}

/// What a set of purchases did. Each load client keeps its own; they are merged at the end.
/// Latencies are of answered purchases (a saga in the reply), in `latency`; those that
/// completed also in `completed_latency`. Times are offsets from the start of the run.
#[derive(Debug, Clone, Default)]
pub struct PurchaseTally {
    pub attempted: u64,
    pub completed: u64,
    pub compensated: BTreeMap<String, u64>,
    /// Answered in another status (e.g. RUNNING when the wait ended, NEEDS_ATTENTION).
    pub other: BTreeMap<String, u64>,
    pub latency: LatencyStats,
    pub completed_latency: LatencyStats,
    /// When each answered purchase was answered (ms from the start).
    pub answered_at_ms: Vec<u64>,
    /// When the first `sold_out` answer came (ms from the start).
    pub first_sold_out_ms: Option<u64>,
    /// When the last completed purchase was answered (ms from the start).
    pub last_completed_ms: Option<u64>,
}

impl PurchaseTally {
    /// Counts one purchase that ended as `end` after `took`, answered `at_ms` after the start.
    pub fn record(&mut self, end: &PurchaseEnd, took: Duration, at_ms: u64) {
        self.attempted += 1;
        match end {
            PurchaseEnd::Failed(e) => {
                self.latency.record_error(e);
                return;
            }
            PurchaseEnd::NoSaga => {
                *self.other.entry("NO_SAGA".into()).or_default() += 1;
            }
            PurchaseEnd::Saga { status, reason } => match status.as_str() {
                "COMPLETED" => {
                    self.completed += 1;
                    self.completed_latency.record(took);
                    self.last_completed_ms = self.last_completed_ms.max(Some(at_ms));
                }
                "COMPENSATED" => {
                    *self.compensated.entry(reason_class(reason)).or_default() += 1;
                    if end.is_sold_out() {
                        self.first_sold_out_ms = Some(
                            self.first_sold_out_ms
                                .map_or(at_ms, |first| first.min(at_ms)),
                        );
                    }
                }
                other => *self.other.entry(other.to_owned()).or_default() += 1,
            },
        }
        self.latency.record(took);
        self.answered_at_ms.push(at_ms);
    }

    /// Adds `other`'s purchases to these.
    pub fn merge(&mut self, other: &PurchaseTally) {
        self.attempted += other.attempted;
        self.completed += other.completed;
        for (k, n) in &other.compensated {
            *self.compensated.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.other {
            *self.other.entry(k.clone()).or_default() += n;
        }
        self.latency.merge(&other.latency);
        self.completed_latency.merge(&other.completed_latency);
        self.answered_at_ms.extend_from_slice(&other.answered_at_ms);
        self.first_sold_out_ms = match (self.first_sold_out_ms, other.first_sold_out_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_completed_ms = self.last_completed_ms.max(other.last_completed_ms);
    }

    pub fn answered(&self) -> u64 {
        self.latency.ok_count()
    }

    pub fn errors(&self) -> u64 {
        self.latency.error_count()
    }
}

/// The most events within any window of `window_ms` (a sliding window over the sorted times).
pub fn peak_in_window(times_ms: &[u64], window_ms: u64) -> u64 {
    let mut t = times_ms.to_vec();
    t.sort_unstable();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= window_ms.max(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best as u64
}

/// The sale's stock accounting after the end, from a final linearizable read.
///
/// - `unbacked_sales = committed - completed` (sold units no completed purchase paid for),
/// - `over_stock = committed - stock` (more sold than there was),
/// - `oversells` = the larger of the two (must be 0),
/// - `missing_commits = completed - committed` (completed purchases whose unit is not
///   committed: not an oversell, but a broken saga).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaleOutcome {
    pub stock: u64,
    pub buckets: u32,
    pub available: u64,
    pub held: u64,
    pub committed: u64,
    /// Completed purchases (units: one each) after unfinished sagas were followed to the end.
    pub completed: u64,
    pub unbacked_sales: u64,
    pub over_stock: u64,
    pub oversells: u64,
    pub missing_commits: u64,
    /// available + held + committed differs from the stock set.
    pub conserved: bool,
}

impl SaleOutcome {
    pub fn new(
        stock: u64,
        buckets: u32,
        available: u64,
        held: u64,
        committed: u64,
        completed: u64,
    ) -> Self {
        let unbacked_sales = committed.saturating_sub(completed);
        let over_stock = committed.saturating_sub(stock);
        SaleOutcome {
            stock,
            buckets,
            available,
            held,
            committed,
            completed,
            unbacked_sales,
            over_stock,
            oversells: unbacked_sales.max(over_stock),
            missing_commits: completed.saturating_sub(committed),
            conserved: available.saturating_add(held).saturating_add(committed) == stock,
        }
    }

    /// No oversell, nothing held, nothing missing, units conserved.
    pub fn consistent(&self) -> bool {
        self.oversells == 0 && self.held == 0 && self.missing_commits == 0 && self.conserved
    }
}

/// Remaining-stock reads (`get_stock(Stale)`) during a flash sale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StockReadFigures {
    pub readers: usize,
    pub reads: u64,
    pub errors: u64,
    pub reads_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The staleness the server reported with each read.
    pub staleness_p50_ms: f64,
    pub staleness_p99_ms: f64,
    pub staleness_max_ms: f64,
}

impl StockReadFigures {
    pub fn new(
        readers: usize,
        latency: &LatencyStats,
        staleness_ms: &Histogram<u64>,
        elapsed: Duration,
    ) -> Self {
        let s = latency.summary(elapsed);
        let q = |quantile: f64| staleness_ms.value_at_quantile(quantile) as f64;
        StockReadFigures {
            readers,
            reads: s.ops,
            errors: s.errors,
            reads_per_s: s.throughput,
            p50_ms: s.p50_ms,
            p99_ms: s.p99_ms,
            max_ms: s.max_ms,
            staleness_p50_ms: q(0.50),
            staleness_p99_ms: q(0.99),
            staleness_max_ms: staleness_ms.max() as f64,
        }
    }
}

/// One of the brief's targets against the measured figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BriefCheck {
    pub what: String,
    pub target: String,
    pub measured: f64,
    pub met: bool,
}

impl BriefCheck {
    fn at_least(what: &str, unit: &str, target: f64, measured: f64) -> Self {
        BriefCheck {
            what: what.into(),
            target: format!(">= {target:.0} {unit}"),
            measured,
            met: measured >= target,
        }
    }

    fn below(what: &str, unit: &str, target: f64, measured: f64) -> Self {
        BriefCheck {
            what: what.into(),
            target: format!("< {target:.0} {unit}"),
            measured,
            met: measured < target,
        }
    }
}

/// Everything a purchase workload reports beyond its latency [`crate::Summary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseFigures {
    pub params: PurchaseParams,
    /// Seconds the setup (stock, accounts) took, before the timed part.
    pub setup_s: f64,
    pub attempted: u64,
    pub completed: u64,
    /// Compensated purchases by reason class (`sold_out`, `payment_declined`, ...).
    pub compensated: BTreeMap<String, u64>,
    pub other: BTreeMap<String, u64>,
    /// Purchases without an answer, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Answered purchases per second over the measured window, and at the busiest second.
    pub purchases_per_s: f64,
    pub peak_purchases_per_s: f64,
    pub completed_per_s: f64,
    pub completed_p50_ms: f64,
    pub completed_p99_ms: f64,
    /// flash-sale: seconds from the first purchase to the first `sold_out` answer, and to the
    /// last completed purchase.
    pub time_to_sell_out_s: Option<f64>,
    pub last_completed_s: Option<f64>,
    pub stock_reads: Option<StockReadFigures>,
    pub sale: Option<SaleOutcome>,
    /// Seconds waited after the load for unfinished sagas and held units.
    pub settle_s: f64,
    /// Sagas that had not ended when the load stopped, and how many of them completed after.
    pub settled_later: u64,
    pub completed_later: u64,
    pub brief: Vec<BriefCheck>,
}

impl PurchaseFigures {
    /// Summarises `tally` over the `measured` window. `completed_later` are purchases whose
    /// saga completed after the load stopped (they count for the sale, not for throughput).
    pub fn new(
        params: PurchaseParams,
        tally: &PurchaseTally,
        measured: Duration,
        stock_reads: Option<StockReadFigures>,
        sale: Option<SaleOutcome>,
    ) -> Self {
        let s = tally.latency.summary(measured);
        let c = tally.completed_latency.summary(measured);
        let secs = |ms: Option<u64>| ms.map(|ms| ms as f64 / 1000.0);
        let mut f = PurchaseFigures {
            params,
            setup_s: 0.0,
            attempted: tally.attempted,
            completed: tally.completed,
            compensated: tally.compensated.clone(),
            other: tally.other.clone(),
            errors: s.error_kinds.clone(),
            purchases_per_s: s.throughput,
            peak_purchases_per_s: peak_in_window(&tally.answered_at_ms, 1000) as f64,
            completed_per_s: c.throughput,
            completed_p50_ms: c.p50_ms,
            completed_p99_ms: c.p99_ms,
            time_to_sell_out_s: secs(tally.first_sold_out_ms),
            last_completed_s: secs(tally.last_completed_ms),
            stock_reads,
            sale,
            settle_s: 0.0,
            settled_later: 0,
            completed_later: 0,
            brief: Vec::new(),
        };
        f.brief.push(BriefCheck::at_least(
            "purchases/s at peak (busiest 1 s)",
            "/s",
            BRIEF_PURCHASES_PER_S,
            f.peak_purchases_per_s,
        ));
        f.brief.push(BriefCheck::below(
            "purchase p99",
            "ms",
            BRIEF_PURCHASE_P99_MS,
            s.p99_ms,
        ));
        if let Some(r) = &f.stock_reads {
            f.brief.push(BriefCheck::below(
                "remaining-stock read p99",
                "ms",
                BRIEF_STOCK_READ_P99_MS,
                r.p99_ms,
            ));
        }
        f
    }

    /// Compensated purchases of every reason.
    pub fn compensated_total(&self) -> u64 {
        self.compensated.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use crate::Command;
    use clap::Parser;

    fn args(extra: &[&str]) -> RunArgs {
        let argv = [
            "order-bench",
            "run",
            "--out",
            "o",
            "--workload",
            "flash-sale",
        ]
        .iter()
        .chain(extra)
        .copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(r) => *r,
            Command::FreePorts { .. } => panic!("parsed a run command"),
        }
    }

    #[test]
    fn params_default_and_range_checks() {
        let p = PurchaseParams::from_args(&args(&[])).unwrap();
        assert_eq!((p.stock, p.buckets, p.readers, p.skus), (1000, 8, 4, 64));
        for bad in [
            &["--stock", "0"][..],
            &["--buckets", "0"],
            &["--buckets", "1025"],
            &["--buyers", "0"],
            &["--readers", "257"],
            &["--skus", "0"],
            &["--stock", "4", "--buckets", "8"],
        ] {
            let err = PurchaseParams::from_args(&args(bad)).unwrap_err();
            assert!(matches!(err, BenchError::InvalidArgs(_)), "{bad:?}");
        }
        let ok =
            PurchaseParams::from_args(&args(&["--stock", "8", "--buckets", "8", "--readers", "0"]));
        assert!(ok.is_ok());
    }

    fn saga(status: &str, reason: &str) -> PurchaseEnd {
        PurchaseEnd::Saga {
            status: status.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn tally_counts_by_outcome_and_merges() {
        let ms = Duration::from_millis;
        let mut a = PurchaseTally::default();
        a.record(&saga("COMPLETED", ""), ms(10), 100);
        a.record(&saga("COMPENSATED", "sold_out"), ms(20), 900);
        a.record(
            &saga("COMPENSATED", "payment_declined:insufficient_funds"),
            ms(5),
            50,
        );
        let mut b = PurchaseTally::default();
        b.record(&saga("COMPLETED", ""), ms(30), 700);
        b.record(&saga("COMPENSATED", "sold_out"), ms(40), 600);
        b.record(&saga("RUNNING", ""), ms(9000), 9100);
        b.record(&PurchaseEnd::NoSaga, ms(1), 10);
        b.record(
            &PurchaseEnd::Failed(OpError::Timeout { millis: 5 }),
            ms(1),
            10,
        );
        a.merge(&b);
        assert_eq!(a.attempted, 8);
        assert_eq!(a.completed, 2);
        assert_eq!(a.compensated["sold_out"], 2);
        assert_eq!(a.compensated["payment_declined"], 1);
        assert_eq!(a.other["RUNNING"], 1);
        assert_eq!(a.other["NO_SAGA"], 1);
        assert_eq!((a.answered(), a.errors()), (7, 1));
        assert_eq!(a.completed_latency.ok_count(), 2);
        assert_eq!(a.first_sold_out_ms, Some(600));
        assert_eq!(a.last_completed_ms, Some(700));
        assert_eq!(a.answered_at_ms.len(), 7);
    }

    #[test]
    fn peak_counts_the_busiest_window() {
        assert_eq!(peak_in_window(&[], 1000), 0);
        assert_eq!(peak_in_window(&[5], 1000), 1);
        // 0..999 in one window, 1000 starts the next.
        assert_eq!(peak_in_window(&[0, 500, 999, 1000], 1000), 3);
        assert_eq!(peak_in_window(&[3000, 10, 2500, 2999, 2100, 20], 1000), 4);
    }

    #[test]
    fn oversells_are_unbacked_or_beyond_stock() {
        let clean = SaleOutcome::new(1000, 8, 0, 0, 1000, 1000);
        assert_eq!((clean.oversells, clean.missing_commits), (0, 0));
        assert!(clean.conserved && clean.consistent());

        let partial = SaleOutcome::new(1000, 8, 40, 0, 960, 960);
        assert!(partial.consistent());

        let unbacked = SaleOutcome::new(1000, 8, 0, 0, 1000, 998);
        assert_eq!(
            (
                unbacked.unbacked_sales,
                unbacked.over_stock,
                unbacked.oversells
            ),
            (2, 0, 2)
        );
        assert!(!unbacked.consistent());

        let beyond = SaleOutcome::new(1000, 8, 0, 0, 1003, 1003);
        assert_eq!(
            (beyond.unbacked_sales, beyond.over_stock, beyond.oversells),
            (0, 3, 3)
        );
        assert!(!beyond.conserved);

        let missing = SaleOutcome::new(1000, 8, 1, 0, 999, 1000);
        assert_eq!((missing.oversells, missing.missing_commits), (0, 1));
        assert!(!missing.consistent());

        let held = SaleOutcome::new(1000, 8, 0, 2, 998, 998);
        assert!(held.conserved && !held.consistent());
    }

    #[test]
    fn figures_compare_with_the_brief() {
        let mut t = PurchaseTally::default();
        for i in 0..1500u64 {
            t.record(&saga("COMPLETED", ""), Duration::from_millis(100), i / 2);
        }
        let params = PurchaseParams::from_args(&args(&[])).unwrap();
        let mut reads = LatencyStats::new();
        reads.record(Duration::from_millis(150));
        let mut stale = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).unwrap();
        stale.record(0).unwrap();
        stale.record(40).unwrap();
        let r = StockReadFigures::new(4, &reads, &stale, Duration::from_secs(1));
        let f = PurchaseFigures::new(params, &t, Duration::from_secs(3), Some(r), None);
        assert_eq!(f.peak_purchases_per_s, 1500.0);
        assert!((f.purchases_per_s - 500.0).abs() < 1e-9);
        assert_eq!(f.brief.len(), 3);
        assert!(f.brief[0].met, "1500/s at peak");
        assert!(f.brief[1].met, "p99 100 ms");
        assert!(!f.brief[2].met, "read p99 150 ms");
        assert_eq!(f.stock_reads.as_ref().unwrap().staleness_max_ms, 40.0);
    }

    #[test]
    fn reason_classes() {
        assert_eq!(reason_class("sold_out"), "sold_out");
        assert_eq!(reason_class("payment_declined:x"), "payment_declined");
        assert_eq!(reason_class(" "), "unspecified");
        assert!(saga_settled("NEEDS_ATTENTION") && !saga_settled("COMPENSATING"));
        assert!(saga("COMPENSATED", "sold_out").is_sold_out());
        assert!(!saga("COMPLETED", "").is_sold_out());
        assert!(saga("COMPLETED", "").is_completed());
    }
}
