//! [`Zipfian`]: YCSB's zipfian rank generator (Gray et al., "Quickly generating billion-record
//! synthetic databases", SIGMOD 1994).

use rand::Rng;

/// YCSB's default skew: a few items are very hot.
pub const YCSB_THETA: f64 = 0.99;

/// Draws ranks in `0..n` where rank `i` has probability proportional to `1 / (i + 1)^theta`.
/// Rank 0 is the hottest. Construction is O(n) (the zeta sum); each draw is O(1).
#[derive(Debug, Clone)]
pub struct Zipfian {
    n: u64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
    half_pow_theta: f64,
}

/// Returned by [`Zipfian::new`] for an empty range or a skew outside `(0, 1)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZipfianError {
    #[error("zipfian over an empty range")]
    Empty,
    #[error("zipfian theta {theta} not in (0, 1)")]
    Theta { theta: f64 },
}

impl Zipfian {
    /// A generator over `0..n` with skew `theta` (use [`YCSB_THETA`]).
    pub fn new(n: u64, theta: f64) -> Result<Self, ZipfianError> {
        if n == 0 {
            return Err(ZipfianError::Empty);
        }
        if !(theta > 0.0 && theta < 1.0) {
            return Err(ZipfianError::Theta { theta });
        }
        let zeta = |count: u64| {
            (1..=count)
                .map(|i| 1.0 / (i as f64).powf(theta))
                .sum::<f64>()
        };
        let zeta_n = zeta(n);
        let zeta_2 = zeta(2.min(n));
        let alpha = 1.0 / (1.0 - theta);
        let eta = if n > 1 {
            (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n)
        } else {
            1.0
        };
        Ok(Zipfian {
            n,
            theta,
            alpha,
            zeta_n,
            eta,
            half_pow_theta: 0.5f64.powf(theta),
        })
    }

    /// The number of ranks.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Never true: [`Zipfian::new`] refuses empty ranges.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Draws a rank in `0..len()`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let u: f64 = rng.random();
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + self.half_pow_theta {
            return 1.min(self.n - 1);
        }
        let rank = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        rank.min(self.n - 1)
    }

    /// The exact probability of `rank` (for tests and reports).
    pub fn probability(&self, rank: u64) -> f64 {
        1.0 / ((rank + 1) as f64).powf(self.theta) / self.zeta_n
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn rejects_empty_range_and_bad_theta() {
        assert_eq!(Zipfian::new(0, 0.99).unwrap_err(), ZipfianError::Empty);
        assert!(matches!(
            Zipfian::new(10, 1.0),
            Err(ZipfianError::Theta { .. })
        ));
        assert!(matches!(
            Zipfian::new(10, f64::NAN),
            Err(ZipfianError::Theta { .. })
        ));
    }

    #[test]
    fn samples_stay_in_range_including_tiny_ranges() {
        let mut rng = StdRng::seed_from_u64(1);
        for n in [1, 2, 3, 1000] {
            let z = Zipfian::new(n, YCSB_THETA).unwrap();
            for _ in 0..5_000 {
                assert!(z.sample(&mut rng) < n);
            }
        }
    }

    /// The empirical frequency of the hottest ranks matches the zipfian probability mass, and
    /// rank frequencies fall with rank: the skew is real, not uniform.
    #[test]
    fn frequencies_follow_the_zipf_law() {
        let n = 1_000;
        let z = Zipfian::new(n, YCSB_THETA).unwrap();
        let mut rng = StdRng::seed_from_u64(42);
        let draws = 200_000;
        let mut counts = vec![0u32; n as usize];
        for _ in 0..draws {
            counts[z.sample(&mut rng) as usize] += 1;
        }
        for rank in [0u64, 1, 2] {
            let got = f64::from(counts[rank as usize]) / draws as f64;
            let want = z.probability(rank);
            assert!((got - want).abs() < 0.02, "rank {rank}: {got} vs {want}");
        }
        let top10: u32 = counts[..10].iter().sum();
        let bottom_half: u32 = counts[500..].iter().sum();
        assert!(top10 > bottom_half / 2, "{top10} vs {bottom_half}");
        assert!(counts[0] > counts[10] && counts[10] > counts[500]);
    }
}
