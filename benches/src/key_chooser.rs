//! [`KeyChooser`]: which preloaded order an operation touches.

use rand::Rng;

use crate::Zipfian;
use crate::zipfian::{YCSB_THETA, ZipfianError};

/// Picks indices into the list of preloaded keys.
///
/// Zipfian ranks are scrambled (multiplied by a large odd constant modulo the key count, as
/// YCSB's "scrambled zipfian" does) so the hot keys are spread over the key list, not the first
/// ones placed. Preloaded order ids are random anyway, so hot orders land on random shards.
#[derive(Debug, Clone)]
pub enum KeyChooser {
    Uniform { n: usize },
    Zipfian { zipf: Zipfian },
}

impl KeyChooser {
    /// Uniform over `0..n`. `n` must be positive: callers check that a preload produced keys.
    pub fn uniform(n: usize) -> Self {
        KeyChooser::Uniform { n: n.max(1) }
    }

    /// Scrambled zipfian over `0..n` with YCSB's skew.
    pub fn zipfian(n: usize) -> Result<Self, ZipfianError> {
        Ok(KeyChooser::Zipfian {
            zipf: Zipfian::new(n as u64, YCSB_THETA)?,
        })
    }

    /// The next index in `0..n`.
    pub fn next<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        match self {
            KeyChooser::Uniform { n } => rng.random_range(0..*n),
            KeyChooser::Zipfian { zipf } => {
                let rank = zipf.sample(rng);
                scramble(rank, zipf.len()) as usize
            }
        }
    }
}

/// A fixed permutation-like spread of ranks over `0..n` (FNV-style multiply, modulo `n`).
fn scramble(rank: u64, n: u64) -> u64 {
    rank.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x632B_E59B)
        % n
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn indices_stay_in_range() {
        let mut rng = StdRng::seed_from_u64(3);
        for chooser in [KeyChooser::uniform(17), KeyChooser::zipfian(17).unwrap()] {
            for _ in 0..2_000 {
                assert!(chooser.next(&mut rng) < 17);
            }
        }
        assert_eq!(KeyChooser::uniform(0).next(&mut rng), 0);
    }

    /// The hottest index is not index 0: scrambling moves hot keys away from the first placed.
    #[test]
    fn zipfian_hot_key_is_scrambled() {
        let mut rng = StdRng::seed_from_u64(9);
        let chooser = KeyChooser::zipfian(1000).unwrap();
        let mut counts = vec![0u32; 1000];
        for _ in 0..50_000 {
            counts[chooser.next(&mut rng)] += 1;
        }
        let hottest = (0..1000).max_by_key(|&i| counts[i]).unwrap();
        assert_eq!(hottest as u64, scramble(0, 1000));
        assert_ne!(hottest, 0);
    }
}
