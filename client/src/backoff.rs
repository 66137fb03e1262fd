//! [`Backoff`]: full-jitter exponential backoff between retries.

use std::time::Duration;

use rand::Rng;

/// Full-jitter exponential backoff (the AWS architecture blog's "full jitter"): before retry
/// `attempt` (0-based) the client sleeps a uniformly random time in
/// `[0, min(cap, base * 2^attempt)]`. Spreading retries this way keeps many clients that failed
/// together from retrying together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's sleep.
    pub base: Duration,
    /// Largest ceiling of any sleep.
    pub cap: Duration,
}

impl Default for Backoff {
    /// Base 50 ms, cap 2 s.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The ceiling of the sleep before retry `attempt`: `min(cap, base * 2^attempt)`. Never
    /// overflows, for any `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// A random sleep in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// The ceiling starts at `base`, doubles, stops at `cap` and never overflows.
    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(50));
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(4), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_millis(1600));
        assert_eq!(b.ceiling(6), Duration::from_secs(2));
        assert_eq!(b.ceiling(40), Duration::from_secs(2));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(2));
        let mut prev = Duration::ZERO;
        for attempt in 0..100 {
            let c = b.ceiling(attempt);
            assert!(c >= prev, "ceiling must not shrink");
            prev = c;
        }
    }

    /// Every sleep lies within `[0, ceiling]`, and the jitter actually spreads the values.
    #[test]
    fn delays_stay_within_bounds_and_spread() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..20 {
            let mut distinct = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                assert!(
                    d <= b.ceiling(attempt),
                    "{d:?} > ceiling at attempt {attempt}"
                );
                assert!(d <= b.cap);
                distinct.insert(d);
            }
            assert!(distinct.len() > 100, "full jitter should spread sleeps");
        }
    }

    #[test]
    fn zero_base_never_sleeps() {
        let b = Backoff {
            base: Duration::ZERO,
            cap: Duration::from_secs(1),
        };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(b.delay(10, &mut rng), Duration::ZERO);
    }
}
