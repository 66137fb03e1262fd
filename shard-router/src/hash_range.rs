//! Inclusive ranges of the 64-bit hash space.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::RouterError;

/// A contiguous slice of the hash space, inclusive on **both** ends, so the whole space is
/// `0..=u64::MAX` ([`HashRange::FULL`]) and can be expressed without a sentinel.
///
/// The fields are public for construction and serialisation; a range with `start > end` is
/// "inverted" and contains nothing. [`HashRange::new`] refuses to build one, and
/// [`ShardMap`](crate::ShardMap) validation rejects any shard that has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HashRange {
    /// First hash in the range.
    pub start: u64,
    /// Last hash in the range (inclusive).
    pub end: u64,
}

impl HashRange {
    /// The whole hash space, `0..=u64::MAX`.
    pub const FULL: HashRange = HashRange {
        start: 0,
        end: u64::MAX,
    };

    /// Builds `[start, end]`, or `None` when `start > end`.
    pub fn new(start: u64, end: u64) -> Option<HashRange> {
        (start <= end).then_some(HashRange { start, end })
    }

    /// Whether `hash` lies in `[start, end]`. Always false for an inverted range.
    pub fn contains(&self, hash: u64) -> bool {
        self.start <= hash && hash <= self.end
    }

    /// Number of hashes in the range: `2^64` for [`HashRange::FULL`], hence `u128`; 0 if inverted.
    pub fn width(&self) -> u128 {
        if self.start > self.end {
            0
        } else {
            u128::from(self.end - self.start) + 1
        }
    }

    /// Whether the range is inverted (`start > end`) and so contains no hash.
    pub fn is_inverted(&self) -> bool {
        self.start > self.end
    }

    /// A split point that cuts the range into two halves whose widths differ by at most one, or
    /// `None` when the range holds fewer than two hashes and cannot be split.
    ///
    /// The result is always accepted by [`HashRange::split_at`].
    pub fn midpoint(&self) -> Option<u64> {
        if self.start >= self.end {
            return None;
        }
        // end - start >= 1, so (end - start) / 2 + 1 <= end - start and the sum cannot pass `end`.
        Some(self.start + (self.end - self.start) / 2 + 1)
    }

    /// Cuts the range before `at`: returns `([start, at - 1], [at, end])`.
    ///
    /// Both halves are non-empty and together cover exactly `self`.
    ///
    /// # Errors
    /// [`RouterError::SplitPointOutOfRange`] when `at <= start` or `at > end` (either half would be
    /// empty), which includes every `at` for an inverted or single-hash range.
    pub fn split_at(&self, at: u64) -> Result<(HashRange, HashRange), RouterError> {
        if at <= self.start || at > self.end {
            return Err(RouterError::SplitPointOutOfRange { range: *self, at });
        }
        Ok((
            HashRange {
                start: self.start,
                end: at - 1,
            },
            HashRange {
                start: at,
                end: self.end,
            },
        ))
    }
}

impl fmt::Display for HashRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#018x}, {:#018x}]", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inclusive ends: the full range contains both extremes and has width 2^64.
    #[test]
    fn full_range_is_inclusive() {
        assert!(HashRange::FULL.contains(0));
        assert!(HashRange::FULL.contains(u64::MAX));
        assert_eq!(HashRange::FULL.width(), 1u128 << 64);
    }

    #[test]
    fn new_rejects_inverted() {
        assert_eq!(HashRange::new(5, 4), None);
        assert_eq!(HashRange::new(4, 4), Some(HashRange { start: 4, end: 4 }));
        let inverted = HashRange { start: 5, end: 4 };
        assert!(inverted.is_inverted());
        assert_eq!(inverted.width(), 0);
        assert!(!inverted.contains(4) && !inverted.contains(5));
    }

    /// split_at(at) yields [start, at-1] and [at, end]; both boundaries of the valid window work.
    #[test]
    fn split_at_boundaries() {
        let r = HashRange { start: 10, end: 20 };
        assert_eq!(
            r.split_at(11),
            Ok((
                HashRange { start: 10, end: 10 },
                HashRange { start: 11, end: 20 }
            ))
        );
        assert_eq!(
            r.split_at(20),
            Ok((
                HashRange { start: 10, end: 19 },
                HashRange { start: 20, end: 20 }
            ))
        );
        for bad in [0, 9, 10, 21, u64::MAX] {
            assert_eq!(
                r.split_at(bad),
                Err(RouterError::SplitPointOutOfRange { range: r, at: bad })
            );
        }
        let (l, r) = HashRange::FULL
            .split_at(u64::MAX)
            .expect("MAX is inside (0, MAX]");
        assert_eq!((l.end, r.start, r.end), (u64::MAX - 1, u64::MAX, u64::MAX));
    }

    #[test]
    fn midpoint_halves() {
        assert_eq!(HashRange::FULL.midpoint(), Some(1 << 63));
        assert_eq!(HashRange { start: 0, end: 1 }.midpoint(), Some(1));
        assert_eq!(HashRange { start: 7, end: 7 }.midpoint(), None);
        assert_eq!(HashRange { start: 8, end: 7 }.midpoint(), None);
        let r = HashRange { start: 3, end: 10 };
        let (a, b) = r
            .split_at(r.midpoint().expect("width 8"))
            .expect("midpoint is valid");
        assert_eq!((a.width(), b.width()), (4, 4));
    }
}
