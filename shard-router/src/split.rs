//! When to split a shard, and where: thresholds on size, key count and load, and a split point
//! that gives both halves about half of the sampled weight.

use serde::{Deserialize, Serialize};

use crate::{HashRange, ShardMap, SplitError};

/// A sampled key hash and its weight: 1 per key for a key-count split, the value's size in bytes
/// for a size split, its request count for a load split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeySample {
    /// The key's hash ([`hash_key`](crate::hash_key) of its routing key).
    pub hash: u64,
    /// Its weight.
    pub weight: u64,
}

impl KeySample {
    /// A sample of weight 1.
    pub fn unit(hash: u64) -> KeySample {
        KeySample { hash, weight: 1 }
    }
}

/// Where to split and what each half gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SplitChoice {
    /// The split point for [`ShardMap::split`]: the left half is `[start, at - 1]`, the right
    /// half `[at, end]`.
    pub at: u64,
    /// Sampled weight left of `at`.
    pub left_weight: u128,
    /// Sampled weight at or right of `at`.
    pub right_weight: u128,
}

/// Chooses the split point of `range` that divides the weight of `samples` most evenly.
///
/// Samples outside `range` are ignored; samples of the same hash add up. Among the cuts between
/// two consecutive distinct sampled hashes, the one minimising `|left - right|` wins (the lowest
/// such cut on ties); the point is placed midway in the gap between those hashes, so unsampled
/// keys near the cut split evenly too. The result always satisfies `range.start < at <=
/// range.end`, so [`ShardMap::split`] accepts it.
///
/// # Errors
/// [`SplitError::Unsplittable`] when the range holds fewer than two hashes;
/// [`SplitError::EmptySample`] when no sample of non-zero weight lies inside it;
/// [`SplitError::SingleHash`] when all the weight is on one hash (one hot key: no cut moves
/// weight off it).
pub fn choose_split_point(
    range: HashRange,
    samples: &[KeySample],
) -> Result<SplitChoice, SplitError> {
    if range.start >= range.end {
        return Err(SplitError::Unsplittable(range));
    }
    let mut inside: Vec<(u64, u128)> = samples
        .iter()
        .filter(|s| range.contains(s.hash) && s.weight > 0)
        .map(|s| (s.hash, u128::from(s.weight)))
        .collect();
    inside.sort_unstable_by_key(|&(hash, _)| hash);
    let mut merged: Vec<(u64, u128)> = Vec::with_capacity(inside.len());
    for (hash, weight) in inside {
        match merged.last_mut() {
            Some((h, w)) if *h == hash => *w += weight,
            _ => merged.push((hash, weight)),
        }
    }
    match merged.as_slice() {
        [] => return Err(SplitError::EmptySample(range)),
        [(hash, _)] => return Err(SplitError::SingleHash(*hash)),
        _ => {}
    }
    let total: u128 = merged.iter().map(|&(_, w)| w).sum();
    // Cut i puts merged[..i] on the left, for i in 1..len.
    let mut left = 0u128;
    let mut best: Option<(u128, usize, u128)> = None; // (imbalance, i, left weight)
    for i in 1..merged.len() {
        left += merged[i - 1].1;
        let imbalance = left.abs_diff(total - left);
        if best.is_none_or(|(b, _, _)| imbalance < b) {
            best = Some((imbalance, i, left));
        }
    }
    // merged has at least two entries, so the loop ran at least once.
    let (_, i, left_weight) = best.expect("at least two distinct hashes give one cut");
    let (lo, hi) = (merged[i - 1].0, merged[i].0);
    // lo < hi, so lo < at <= hi: at lies inside the range and cuts it into two non-empty halves.
    let at = lo + (hi - lo).div_ceil(2);
    Ok(SplitChoice {
        at,
        left_weight,
        right_weight: total - left_weight,
    })
}

/// Splits shard `shard_id` of `map` at the point [`choose_split_point`] picks for `samples`; the
/// right half becomes shard `new_shard_id` ([`ShardMap::split`] semantics: both halves get a
/// bumped epoch `version`). On error the map is unchanged.
///
/// # Errors
/// [`SplitError::Router`] with [`RouterError::UnknownShard`](crate::RouterError::UnknownShard)
/// or `ShardMap::split`'s errors; otherwise as [`choose_split_point`].
pub fn split_by_samples(
    map: &mut ShardMap,
    shard_id: u64,
    samples: &[KeySample],
    new_shard_id: u64,
) -> Result<SplitChoice, SplitError> {
    let range = map
        .get(shard_id)
        .ok_or(crate::RouterError::UnknownShard(shard_id))?
        .range;
    let choice = choose_split_point(range, samples)?;
    map.split(shard_id, choice.at, new_shard_id)?;
    Ok(choice)
}

/// What a shard measures about itself, as input to [`should_split`]. The rate is computed by the
/// caller over its own window (this crate has no clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardStats {
    /// Live keys in the shard.
    pub keys: u64,
    /// Approximate bytes of live data.
    pub bytes: u64,
    /// Requests per second, averaged over the caller's window.
    pub requests_per_sec: u64,
}

/// Split thresholds; a shard is split when it **exceeds** one. 0 disables that threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SplitThresholds {
    /// Most keys per shard.
    pub max_keys: u64,
    /// Most bytes per shard.
    pub max_bytes: u64,
    /// Most requests per second per shard (load-based split).
    pub max_requests_per_sec: u64,
}

impl Default for SplitThresholds {
    /// 1,000,000 keys, 256 MiB, 2,500 requests/s.
    fn default() -> Self {
        SplitThresholds {
            max_keys: 1_000_000,
            max_bytes: 256 << 20,
            max_requests_per_sec: 2_500,
        }
    }
}

/// Why a shard should split. Sample the matching weight for [`choose_split_point`]: bytes per
/// key for `Size`, 1 per key for `Keys`, requests per key for `Load`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SplitReason {
    /// `bytes > max_bytes`.
    Size {
        /// Measured bytes.
        bytes: u64,
        /// The threshold.
        max: u64,
    },
    /// `keys > max_keys`.
    Keys {
        /// Measured keys.
        keys: u64,
        /// The threshold.
        max: u64,
    },
    /// `requests_per_sec > max_requests_per_sec`.
    Load {
        /// Measured rate.
        requests_per_sec: u64,
        /// The threshold.
        max: u64,
    },
}

/// The first exceeded threshold, checked in the order size, keys, load; `None` when the shard is
/// within all enabled thresholds.
pub fn should_split(stats: &ShardStats, thresholds: &SplitThresholds) -> Option<SplitReason> {
    let over = |value: u64, max: u64| max != 0 && value > max;
    if over(stats.bytes, thresholds.max_bytes) {
        Some(SplitReason::Size {
            bytes: stats.bytes,
            max: thresholds.max_bytes,
        })
    } else if over(stats.keys, thresholds.max_keys) {
        Some(SplitReason::Keys {
            keys: stats.keys,
            max: thresholds.max_keys,
        })
    } else if over(stats.requests_per_sec, thresholds.max_requests_per_sec) {
        Some(SplitReason::Load {
            requests_per_sec: stats.requests_per_sec,
            max: thresholds.max_requests_per_sec,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(hashes: &[u64]) -> Vec<KeySample> {
        hashes.iter().copied().map(KeySample::unit).collect()
    }

    /// Even samples split in the middle of the gap between the two middle hashes.
    #[test]
    fn balanced_cut() {
        let r = HashRange { start: 0, end: 999 };
        let c = choose_split_point(r, &units(&[10, 20, 30, 40])).expect("splittable");
        assert_eq!((c.at, c.left_weight, c.right_weight), (25, 2, 2));
        // Adjacent hashes: the cut is right on the upper one.
        let c = choose_split_point(r, &units(&[10, 11])).expect("splittable");
        assert_eq!(c.at, 11);
        // Weighted: one heavy key on the right balances three light ones.
        let samples = [
            KeySample::unit(1),
            KeySample::unit(2),
            KeySample::unit(3),
            KeySample {
                hash: 900,
                weight: 3,
            },
        ];
        let c = choose_split_point(r, &samples).expect("splittable");
        assert_eq!((c.left_weight, c.right_weight), (3, 3));
        assert!(c.at > 3 && c.at <= 900);
    }

    #[test]
    fn refusals() {
        let one = HashRange { start: 5, end: 5 };
        assert_eq!(
            choose_split_point(one, &units(&[5])),
            Err(SplitError::Unsplittable(one))
        );
        let r = HashRange { start: 0, end: 99 };
        assert_eq!(
            choose_split_point(r, &units(&[100, 200])),
            Err(SplitError::EmptySample(r))
        );
        assert_eq!(
            choose_split_point(r, &[KeySample { hash: 3, weight: 0 }]),
            Err(SplitError::EmptySample(r))
        );
        assert_eq!(
            choose_split_point(r, &units(&[7, 7, 7])),
            Err(SplitError::SingleHash(7))
        );
    }

    #[test]
    fn thresholds() {
        let t = SplitThresholds {
            max_keys: 10,
            max_bytes: 100,
            max_requests_per_sec: 0,
        };
        let stats = |keys, bytes, requests_per_sec| ShardStats {
            keys,
            bytes,
            requests_per_sec,
        };
        assert_eq!(should_split(&stats(10, 100, u64::MAX), &t), None);
        assert_eq!(
            should_split(&stats(11, 100, 0), &t),
            Some(SplitReason::Keys { keys: 11, max: 10 })
        );
        assert_eq!(
            should_split(&stats(11, 101, 0), &t),
            Some(SplitReason::Size {
                bytes: 101,
                max: 100
            })
        );
        assert_eq!(
            should_split(&stats(0, 0, 2_501), &SplitThresholds::default()),
            Some(SplitReason::Load {
                requests_per_sec: 2_501,
                max: 2_500
            })
        );
    }
}
