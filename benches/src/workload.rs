//! [`Workload`]: what a benchmark sends, and [`OpKind`], one operation of it.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;

/// One kind of operation a workload issues; every [`crate::Driver`] implements each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Place a new order (orderstore `PlaceOrder`; etcd put; PostgreSQL insert).
    Place,
    /// Point read of an existing order.
    Read,
    /// A state transition of an existing order as a conditional update: read the order, then
    /// toggle its hold flag only if it is still at the version read (orderstore
    /// `expected_version`; etcd compare on the mod revision; PostgreSQL `WHERE version = $v`).
    Transition,
}

/// A workload. Each names the mix of operations and whether it needs existing orders.
///
/// The purchase workloads ([`Workload::is_purchase`]: `flash-sale`, `saga-throughput`) are not
/// driven by the [`OpKind`] loop: they have their own setup, stop condition and figures
/// (`purchase_load`), and run against orderstore only (the peers have no inventory, payments
/// or saga).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Place orders (~300-byte records, 1-3 lines, random customers).
    OrderWrite,
    /// Point reads of preloaded orders (uniform key choice).
    OrderRead,
    /// YCSB-A-like: 50% reads, 50% transitions, zipfian key choice.
    MixedA,
    /// YCSB-B-like: 95% reads, 5% transitions, zipfian key choice.
    MixedB,
    /// One hot SKU with limited stock in escrow buckets, many buyers purchasing one unit each
    /// until sold out, stale stock reads alongside; counts oversells.
    FlashSale,
    /// Purchases of 1-3 lines over many SKUs with ample stock, closed loop.
    SagaThroughput,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::OrderWrite,
        Workload::OrderRead,
        Workload::MixedA,
        Workload::MixedB,
        Workload::FlashSale,
        Workload::SagaThroughput,
    ];

    /// The command-line name, e.g. `order-write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::OrderWrite => "order-write",
            Workload::OrderRead => "order-read",
            Workload::MixedA => "mixed-a",
            Workload::MixedB => "mixed-b",
            Workload::FlashSale => "flash-sale",
            Workload::SagaThroughput => "saga-throughput",
        }
    }

    /// True for the purchase workloads (orderstore only, run by `purchase_load`).
    pub fn is_purchase(self) -> bool {
        matches!(self, Workload::FlashSale | Workload::SagaThroughput)
    }

    /// True when the workload operates on existing orders that must be placed first.
    pub fn needs_preload(self) -> bool {
        !matches!(
            self,
            Workload::OrderWrite | Workload::FlashSale | Workload::SagaThroughput
        )
    }

    /// True when keys are drawn from a zipfian distribution (hot orders), else uniformly.
    pub fn zipfian_keys(self) -> bool {
        matches!(self, Workload::MixedA | Workload::MixedB)
    }

    /// Percentage of reads among operations on existing orders (the rest are transitions).
    pub fn read_percent(self) -> u32 {
        match self {
            Workload::OrderWrite | Workload::FlashSale | Workload::SagaThroughput => 0,
            Workload::OrderRead => 100,
            Workload::MixedA => 50,
            Workload::MixedB => 95,
        }
    }

    /// Draws the next operation. The purchase workloads do not use the op loop (`run_phase`
    /// refuses them); for them this answers [`OpKind::Place`].
    pub fn next_op<R: Rng + ?Sized>(self, rng: &mut R) -> OpKind {
        match self {
            Workload::OrderWrite | Workload::FlashSale | Workload::SagaThroughput => OpKind::Place,
            Workload::OrderRead => OpKind::Read,
            Workload::MixedA | Workload::MixedB => {
                if rng.random_range(0..100) < self.read_percent() {
                    OpKind::Read
                } else {
                    OpKind::Transition
                }
            }
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a workload name is not one of [`Workload::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown workload {name:?} (expected order-write, order-read, mixed-a, mixed-b, \
     flash-sale or saga-throughput)"
)]
pub struct UnknownWorkload {
    pub name: String,
}

impl FromStr for Workload {
    type Err = UnknownWorkload;

    /// Parses a command-line name; `mixed` means `mixed-a`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "order-write" => Ok(Workload::OrderWrite),
            "order-read" => Ok(Workload::OrderRead),
            "mixed" | "mixed-a" => Ok(Workload::MixedA),
            "mixed-b" => Ok(Workload::MixedB),
            "flash-sale" => Ok(Workload::FlashSale),
            "saga-throughput" => Ok(Workload::SagaThroughput),
            _ => Err(UnknownWorkload {
                name: s.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.as_str().parse::<Workload>(), Ok(w));
        }
        assert_eq!("mixed".parse::<Workload>(), Ok(Workload::MixedA));
        assert_eq!("Flash-Sale".parse::<Workload>(), Ok(Workload::FlashSale));
        let err = "flash".parse::<Workload>().unwrap_err().to_string();
        assert!(err.contains("saga-throughput"), "{err}");
        let purchase: Vec<Workload> = Workload::ALL
            .into_iter()
            .filter(|w| w.is_purchase())
            .collect();
        assert_eq!(purchase, [Workload::FlashSale, Workload::SagaThroughput]);
        assert!(purchase.iter().all(|w| !w.needs_preload()));
    }

    /// The mixes issue reads and transitions in the YCSB proportions (within sampling noise of
    /// 20,000 draws) and the single-op workloads issue only their op.
    #[test]
    fn op_mix_matches_ycsb_proportions() {
        let mut rng = StdRng::seed_from_u64(7);
        for (w, want) in [(Workload::MixedA, 0.50), (Workload::MixedB, 0.95)] {
            let n = 20_000;
            let reads = (0..n)
                .filter(|_| w.next_op(&mut rng) == OpKind::Read)
                .count();
            let share = reads as f64 / n as f64;
            assert!((share - want).abs() < 0.02, "{w}: {share}");
        }
        assert_eq!(Workload::OrderWrite.next_op(&mut rng), OpKind::Place);
        assert_eq!(Workload::OrderRead.next_op(&mut rng), OpKind::Read);
    }
}
