//! [`LatencyStats`]: what one measured phase saw, and its [`Summary`].

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::OpError;

/// Highest latency the histograms track exactly (60 s); slower operations are recorded as 60 s.
const MAX_TRACKED_MICROS: u64 = 60_000_000;

/// Latencies of successful operations (HDR histogram in microseconds, 3 significant digits) and
/// counts of failed ones by [`OpError::kind`]. Each client keeps its own; they are merged at the
/// end of a phase, so recording never takes a lock.
#[derive(Debug, Clone)]
pub struct LatencyStats {
    hist: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    /// Open loop only: operations not started because `max_in_flight` were outstanding.
    dropped: u64,
    example_error: Option<String>,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyStats {
    pub fn new() -> Self {
        LatencyStats {
            // Cannot fail: 1 <= low, high >= 2 * low and 3 significant figures are valid bounds.
            hist: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                .expect("static histogram bounds are valid"),
            errors: BTreeMap::new(),
            dropped: 0,
            example_error: None,
        }
    }

    /// Records one successful operation that took `latency` (clamped to 1 µs..60 s).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist
            .saturating_record(micros.clamp(1, MAX_TRACKED_MICROS));
    }

    /// Counts one failed operation.
    pub fn record_error(&mut self, err: &OpError) {
        *self.errors.entry(err.kind()).or_default() += 1;
        if self.example_error.is_none() {
            self.example_error = Some(err.to_string());
        }
    }

    /// Counts one open-loop arrival that was dropped because too many were in flight.
    pub fn record_dropped(&mut self) {
        self.dropped += 1;
    }

    /// Adds `other`'s observations to these.
    pub fn merge(&mut self, other: &LatencyStats) {
        // Cannot fail: both histograms have the same bounds (built by `new`) and saturate
        // values at the top, so every count of `other` fits.
        self.hist.add(&other.hist).expect("histograms share bounds");
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        self.dropped += other.dropped;
        if self.example_error.is_none() {
            self.example_error.clone_from(&other.example_error);
        }
    }

    /// Successful operations recorded.
    pub fn ok_count(&self) -> u64 {
        self.hist.len()
    }

    /// Failed operations recorded.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The first error recorded, for messages.
    pub fn example_error(&self) -> Option<&str> {
        self.example_error.as_deref()
    }

    /// Percentiles in milliseconds and throughput over `elapsed` (successful ops per second).
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let q = |quantile: f64| ms(self.hist.value_at_quantile(quantile));
        let secs = elapsed.as_secs_f64();
        Summary {
            ops: self.ok_count(),
            errors: self.error_count(),
            error_kinds: self.errors.clone(),
            dropped: self.dropped,
            elapsed_s: secs,
            throughput: if secs > 0.0 {
                self.ok_count() as f64 / secs
            } else {
                0.0
            },
            mean_ms: self.hist.mean() / 1000.0,
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: ms(self.hist.max()),
        }
    }
}

/// The reported figures of one measured phase. Latencies are of successful operations only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Successful operations.
    pub ops: u64,
    /// Failed operations (not in the latencies), and their counts by kind.
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// Open-loop arrivals dropped because `max_in_flight` operations were outstanding.
    pub dropped: u64,
    /// Length of the measured window in seconds.
    pub elapsed_s: f64,
    /// Successful operations per second.
    pub throughput: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1..=1000 ms recorded once each: percentiles land on the matching values (within the
    /// histogram's 3 significant digits) and throughput divides by the window.
    #[test]
    fn percentiles_and_throughput_of_a_known_distribution() {
        let mut s = LatencyStats::new();
        for ms in 1..=1000u64 {
            s.record(Duration::from_millis(ms));
        }
        let sum = s.summary(Duration::from_secs(10));
        assert_eq!(sum.ops, 1000);
        assert!((sum.throughput - 100.0).abs() < 1e-9);
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.002 + 0.001;
        assert!(near(sum.p50_ms, 500.0), "{}", sum.p50_ms);
        assert!(near(sum.p90_ms, 900.0), "{}", sum.p90_ms);
        assert!(near(sum.p99_ms, 990.0), "{}", sum.p99_ms);
        assert!(near(sum.p999_ms, 999.0), "{}", sum.p999_ms);
        assert!(near(sum.max_ms, 1000.0), "{}", sum.max_ms);
    }

    /// Merging per-client stats adds counts and error kinds; out-of-range latencies saturate.
    #[test]
    fn merge_adds_counts_errors_and_saturates() {
        let mut a = LatencyStats::new();
        a.record(Duration::from_micros(0));
        a.record_error(&OpError::Timeout { millis: 5 });
        let mut b = LatencyStats::new();
        b.record(Duration::from_secs(3600));
        b.record_error(&OpError::Timeout { millis: 5 });
        b.record_error(&OpError::Conflict { key: "k".into() });
        b.record_dropped();
        a.merge(&b);
        let sum = a.summary(Duration::ZERO);
        assert_eq!((sum.ops, sum.errors, sum.dropped), (2, 3, 1));
        assert_eq!(sum.error_kinds.get("timeout"), Some(&2));
        assert_eq!(sum.error_kinds.get("conflict"), Some(&1));
        assert_eq!(sum.throughput, 0.0);
        assert!(
            sum.max_ms >= 59_000.0 && sum.max_ms <= 60_100.0,
            "{}",
            sum.max_ms
        );
        assert_eq!(a.example_error(), Some("timed out after 5 ms"));
    }
}
