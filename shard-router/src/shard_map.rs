//! The shard map: the sorted, gap-free, overlap-free set of shards covering the hash space.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::placement::ReplicaPlanner;
use crate::{
    Epoch, HashRange, PlacementNode, PlacementStep, ReplicaSet, RouterError, ShardDescriptor,
    hash_key,
};

/// Largest `shard_count` accepted by [`ShardMap::initial`]. Each initial shard then still owns
/// 2^48 hashes; clusters grow beyond this by splitting.
pub const MAX_INITIAL_SHARDS: u32 = 1 << 16;

/// The set of shards, sorted by `range.start`, that covers `0..=u64::MAX` exactly once.
///
/// # Invariants
/// Every `ShardMap` value satisfies [`ShardMap::validate`]: it is non-empty; ranges are
/// non-inverted, sorted, disjoint and gap-free from 0 to `u64::MAX`; shard ids are unique; every
/// voter list is non-empty and no node appears twice among a shard's voters and learners. The
/// constructors ([`ShardMap::initial`], [`ShardMap::from_shards`], deserialisation) check this and
/// the mutators ([`ShardMap::split`], [`ShardMap::apply_step`]) preserve it, which is what lets
/// [`ShardMap::lookup`] be infallible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawShardMap")]
pub struct ShardMap {
    shards: Vec<ShardDescriptor>,
}

/// Unchecked wire form of a [`ShardMap`]; deserialisation goes through [`ShardMap::from_shards`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShardMap {
    shards: Vec<ShardDescriptor>,
}

impl TryFrom<RawShardMap> for ShardMap {
    type Error = RouterError;

    fn try_from(raw: RawShardMap) -> Result<Self, Self::Error> {
        ShardMap::from_shards(raw.shards)
    }
}

impl ShardMap {
    /// Builds the map of a new cluster: `shard_count` equal contiguous ranges over the whole hash
    /// space, ids `1..=shard_count` in range order, every epoch [`Epoch::INITIAL`].
    ///
    /// Range `i` (0-based) starts at `i * floor(2^64 / shard_count)`; the last range ends at
    /// `u64::MAX` and absorbs the rounding remainder. Replicas follow the placement contract of
    /// the crate's planner: `min(replication_factor, nodes.len())` distinct nodes per shard,
    /// distinct zones preferred, preferred leaders round-robin over the nodes in id order, load
    /// balanced. The result depends only on the arguments (node order does not matter).
    ///
    /// # Errors
    /// [`RouterError::ZeroShards`], [`RouterError::TooManyShards`] (above
    /// [`MAX_INITIAL_SHARDS`]), [`RouterError::NoNodes`], [`RouterError::ZeroReplicationFactor`],
    /// [`RouterError::DuplicateNodeId`].
    pub fn initial(
        shard_count: u32,
        nodes: &[PlacementNode],
        replication_factor: u32,
    ) -> Result<ShardMap, RouterError> {
        if shard_count == 0 {
            return Err(RouterError::ZeroShards);
        }
        if shard_count > MAX_INITIAL_SHARDS {
            return Err(RouterError::TooManyShards {
                requested: shard_count,
                max: MAX_INITIAL_SHARDS,
            });
        }
        let mut planner = ReplicaPlanner::new(nodes, replication_factor)?;
        let count = u128::from(shard_count);
        let width = (1u128 << 64) / count;
        let start_of = |i: u128| -> u64 {
            // i < shard_count, so i * floor(2^64 / shard_count) < 2^64 and fits in u64.
            u64::try_from(i * width).expect("start of shard i < shard_count lies below 2^64")
        };
        let shards = (0..shard_count)
            .map(|i| {
                let i = u128::from(i);
                let end = if i + 1 == count {
                    u64::MAX
                } else {
                    start_of(i + 1) - 1
                };
                // shard_count <= MAX_INITIAL_SHARDS (2^16) fits in usize and u64.
                let index = usize::try_from(i).expect("shard index below 2^16 fits in usize");
                ShardDescriptor {
                    id: u64::try_from(i + 1).expect("shard id below 2^16 fits in u64"),
                    range: HashRange {
                        start: start_of(i),
                        end,
                    },
                    epoch: Epoch::INITIAL,
                    replicas: planner.replicas_for(index),
                    learners: Vec::new(),
                }
            })
            .collect();
        let map = ShardMap { shards };
        debug_assert_eq!(map.validate(), Ok(()));
        Ok(map)
    }

    /// Builds a map from descriptors in any order (they are sorted by `range.start`), e.g. the
    /// shard list held by the meta shard.
    ///
    /// # Errors
    /// The first violation [`ShardMap::validate`] finds.
    pub fn from_shards(mut shards: Vec<ShardDescriptor>) -> Result<ShardMap, RouterError> {
        shards.sort_by_key(|s| (s.range.start, s.range.end, s.id));
        let map = ShardMap { shards };
        map.validate()?;
        Ok(map)
    }

    /// The shard that owns `hash`, found by binary search over range starts (O(log n)).
    pub fn lookup(&self, hash: u64) -> &ShardDescriptor {
        // Number of shards starting at or before `hash`. The map invariant guarantees the first
        // shard starts at 0, so this is >= 1, and ranges are gap-free, so the last such shard
        // owns `hash`.
        let after = self.shards.partition_point(|s| s.range.start <= hash);
        &self.shards[after.saturating_sub(1)]
    }

    /// The shard that owns `key`: `lookup(hash_key(key))`.
    pub fn lookup_key(&self, key: &[u8]) -> &ShardDescriptor {
        self.lookup(hash_key(key))
    }

    /// The shard with id `id`, if any.
    pub fn get(&self, id: u64) -> Option<&ShardDescriptor> {
        self.shards.iter().find(|s| s.id == id)
    }

    /// All shards in range order.
    pub fn shards(&self) -> std::slice::Iter<'_, ShardDescriptor> {
        self.shards.iter()
    }

    /// Number of shards; at least 1.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Checks the map invariants and reports the first violation, scanning in range order.
    ///
    /// Always `Ok` for a `ShardMap` value (see the type's invariants); it is public as the single
    /// definition of a valid map, used by every constructor.
    ///
    /// # Errors
    /// [`RouterError::ZeroShards`], [`RouterError::InvertedRange`], [`RouterError::Gap`] (also for
    /// a map not starting at 0 or not ending at `u64::MAX`), [`RouterError::Overlap`] (also for
    /// shards out of start order), [`RouterError::DuplicateShardId`],
    /// [`RouterError::BadReplicas`].
    pub fn validate(&self) -> Result<(), RouterError> {
        let (first, last) = match (self.shards.first(), self.shards.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Err(RouterError::ZeroShards),
        };
        let mut ids = HashSet::with_capacity(self.shards.len());
        for shard in &self.shards {
            if shard.range.is_inverted() {
                return Err(RouterError::InvertedRange {
                    shard_id: shard.id,
                    range: shard.range,
                });
            }
            if !ids.insert(shard.id) {
                return Err(RouterError::DuplicateShardId(shard.id));
            }
            shard.check_replicas()?;
        }
        if first.range.start != 0 {
            return Err(RouterError::Gap {
                start: 0,
                end: first.range.start - 1,
            });
        }
        for pair in self.shards.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            if next.range.start <= prev.range.end {
                return Err(RouterError::Overlap {
                    first: prev.id,
                    second: next.id,
                });
            }
            // next.start > prev.end, so prev.end < u64::MAX and prev.end + 1 cannot overflow.
            if next.range.start != prev.range.end + 1 {
                return Err(RouterError::Gap {
                    start: prev.range.end + 1,
                    end: next.range.start - 1,
                });
            }
        }
        if last.range.end != u64::MAX {
            return Err(RouterError::Gap {
                start: last.range.end + 1,
                end: u64::MAX,
            });
        }
        Ok(())
    }

    /// Applies one placement step to shard `shard_id`'s replicas ([`ReplicaSet::apply`] defines
    /// the semantics) and returns its new epoch: `conf_ver` is bumped for every membership
    /// change, unchanged for `TransferLeader`; the range and `version` never change.
    ///
    /// On error the map is unchanged.
    ///
    /// # Errors
    /// [`RouterError::UnknownShard`]; [`RouterError::BadStep`] when the step does not apply;
    /// [`RouterError::ConfVerExhausted`] if `conf_ver` is already `u64::MAX`.
    pub fn apply_step(
        &mut self,
        shard_id: u64,
        step: &PlacementStep,
    ) -> Result<Epoch, RouterError> {
        let shard = self
            .shards
            .iter_mut()
            .find(|s| s.id == shard_id)
            .ok_or(RouterError::UnknownShard(shard_id))?;
        let next = ReplicaSet::of(shard)
            .apply(step)
            .map_err(|fault| RouterError::BadStep {
                shard_id,
                step: step.clone(),
                fault,
            })?;
        let epoch = if step.changes_membership() {
            shard
                .epoch
                .next_conf_ver()
                .ok_or(RouterError::ConfVerExhausted { shard_id })?
        } else {
            shard.epoch
        };
        // ReplicaSet::apply never empties the voters nor names a node twice, so the map
        // invariant (non-empty, distinct replicas) still holds.
        shard.replicas = next.voters;
        shard.learners = next.learners;
        shard.epoch = epoch;
        Ok(epoch)
    }

    /// Splits shard `shard_id` at hash `at`: it keeps `[start, at - 1]` and a new shard
    /// `new_shard_id` takes `[at, end]` with the same voters and learners (same preferred leader).
    /// Both halves get the old epoch with `version` bumped; `conf_ver` is unchanged.
    ///
    /// On error the map is unchanged.
    ///
    /// # Errors
    /// [`RouterError::UnknownShard`] if `shard_id` is absent; [`RouterError::DuplicateShardId`] if
    /// `new_shard_id` is taken (including `new_shard_id == shard_id`);
    /// [`RouterError::InvalidSplitPoint`] unless `start < at <= end`;
    /// [`RouterError::EpochExhausted`] if the version is already `u64::MAX`.
    pub fn split(&mut self, shard_id: u64, at: u64, new_shard_id: u64) -> Result<(), RouterError> {
        let idx = self
            .shards
            .iter()
            .position(|s| s.id == shard_id)
            .ok_or(RouterError::UnknownShard(shard_id))?;
        if self.get(new_shard_id).is_some() {
            return Err(RouterError::DuplicateShardId(new_shard_id));
        }
        let old = &self.shards[idx];
        let (left, right) = old
            .range
            .split_at(at)
            .map_err(|_| RouterError::InvalidSplitPoint {
                shard_id,
                range: old.range,
                at,
            })?;
        let epoch = old
            .epoch
            .next_version()
            .ok_or(RouterError::EpochExhausted { shard_id })?;
        let new_shard = ShardDescriptor {
            id: new_shard_id,
            range: right,
            epoch,
            replicas: old.replicas.clone(),
            learners: old.learners.clone(),
        };
        let kept = &mut self.shards[idx];
        kept.range = left;
        kept.epoch = epoch;
        self.shards.insert(idx + 1, new_shard);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplicaFault;

    fn nodes(n: u64) -> Vec<PlacementNode> {
        (1..=n)
            .map(|id| PlacementNode {
                id,
                region: "local".into(),
                zone: format!("z{}", (id - 1) % 3 + 1),
            })
            .collect()
    }

    fn desc(id: u64, start: u64, end: u64) -> ShardDescriptor {
        ShardDescriptor {
            id,
            range: HashRange { start, end },
            epoch: Epoch::INITIAL,
            replicas: vec![1],
            learners: vec![],
        }
    }

    /// Four shards over 2^64: quarter-sized ranges, ids 1..=4, initial epochs, rf 3 on 3 nodes.
    #[test]
    fn initial_four_shards_are_quarters() {
        let map = ShardMap::initial(4, &nodes(3), 3).expect("valid input");
        let ranges: Vec<_> = map
            .shards()
            .map(|s| (s.id, s.range.start, s.range.end))
            .collect();
        assert_eq!(
            ranges,
            vec![
                (1, 0, (1 << 62) - 1),
                (2, 1 << 62, (1 << 63) - 1),
                (3, 1 << 63, (3 << 62) - 1),
                (4, 3 << 62, u64::MAX),
            ]
        );
        assert!(
            map.shards()
                .all(|s| s.epoch == Epoch::INITIAL && s.replicas.len() == 3)
        );
        let leaders: Vec<_> = map
            .shards()
            .filter_map(ShardDescriptor::preferred_leader)
            .collect();
        assert_eq!(leaders, vec![1, 2, 3, 1]);
    }

    /// The rounding remainder of 2^64 / n goes to the last shard.
    #[test]
    fn remainder_goes_to_last_shard() {
        let map = ShardMap::initial(3, &nodes(1), 1).expect("valid input");
        let widths: Vec<u128> = map.shards().map(|s| s.range.width()).collect();
        let base = (1u128 << 64) / 3;
        assert_eq!(widths, vec![base, base, base + (1u128 << 64) % 3]);
        let single = ShardMap::initial(1, &nodes(1), 1).expect("valid input");
        assert_eq!(single.lookup(0).range, HashRange::FULL);
    }

    #[test]
    fn initial_rejects_bad_input() {
        assert_eq!(
            ShardMap::initial(0, &nodes(3), 3),
            Err(RouterError::ZeroShards)
        );
        assert_eq!(ShardMap::initial(8, &[], 3), Err(RouterError::NoNodes));
        assert_eq!(
            ShardMap::initial(8, &nodes(3), 0),
            Err(RouterError::ZeroReplicationFactor)
        );
        assert_eq!(
            ShardMap::initial(MAX_INITIAL_SHARDS + 1, &nodes(3), 3),
            Err(RouterError::TooManyShards {
                requested: MAX_INITIAL_SHARDS + 1,
                max: MAX_INITIAL_SHARDS
            })
        );
        assert!(ShardMap::initial(MAX_INITIAL_SHARDS, &nodes(3), 3).is_ok());
    }

    /// Lookup at and around every boundary, and by key.
    #[test]
    fn lookup_boundaries() {
        let map = ShardMap::initial(4, &nodes(3), 3).expect("valid input");
        assert_eq!(map.lookup(0).id, 1);
        assert_eq!(map.lookup((1 << 62) - 1).id, 1);
        assert_eq!(map.lookup(1 << 62).id, 2);
        assert_eq!(map.lookup(u64::MAX).id, 4);
        let key = b"ord_eu_0001";
        assert_eq!(map.lookup_key(key).id, map.lookup(hash_key(key)).id);
        assert_eq!(map.get(3).map(|s| s.id), Some(3));
        assert_eq!(map.get(9), None);
        assert_eq!(map.shard_count(), 4);
    }

    /// Scenario: split shard 1 of a 2-shard map, then split the new shard again.
    /// Proves halves, epochs, replicas and lookup after each phase.
    #[test]
    fn split_scenario() {
        let mut map = ShardMap::initial(2, &nodes(3), 3).expect("valid input");
        let before = map.get(1).cloned().expect("shard 1 exists");

        // Phase 1: cut shard 1 in the middle.
        let at = before.range.midpoint().expect("wide range");
        map.split(1, at, 3).expect("valid split");
        let (s1, s3) = (map.get(1).expect("kept"), map.get(3).expect("created"));
        assert_eq!(
            s1.range,
            HashRange {
                start: 0,
                end: at - 1
            }
        );
        assert_eq!(
            s3.range,
            HashRange {
                start: at,
                end: before.range.end
            }
        );
        assert_eq!(
            s1.epoch,
            Epoch {
                version: 2,
                conf_ver: 1
            }
        );
        assert_eq!(s3.epoch, s1.epoch);
        assert_eq!(s3.replicas, before.replicas);
        assert!(before.epoch.is_stale_against(&s1.epoch));
        assert_eq!(map.lookup(at).id, 3);
        assert_eq!(map.lookup(at - 1).id, 1);
        let order: Vec<_> = map.shards().map(|s| s.id).collect();
        assert_eq!(order, vec![1, 3, 2]);

        // Phase 2: split the new shard at its last hash.
        map.split(3, before.range.end, 4).expect("valid split");
        assert_eq!(map.get(4).map(|s| s.range.width()), Some(1));
        assert_eq!(map.get(3).map(|s| s.epoch.version), Some(3));
        assert_eq!(map.validate(), Ok(()));
    }

    /// Every rejected split leaves the map exactly as it was.
    #[test]
    fn rejected_splits_change_nothing() {
        let mut map = ShardMap::initial(2, &nodes(3), 3).expect("valid input");
        let snapshot = map.clone();
        let r1 = map.get(1).expect("shard 1").range;
        assert_eq!(map.split(9, 5, 10), Err(RouterError::UnknownShard(9)));
        assert_eq!(map.split(1, 5, 2), Err(RouterError::DuplicateShardId(2)));
        assert_eq!(map.split(1, 5, 1), Err(RouterError::DuplicateShardId(1)));
        assert_eq!(
            map.split(1, 0, 10),
            Err(RouterError::InvalidSplitPoint {
                shard_id: 1,
                range: r1,
                at: 0
            })
        );
        assert_eq!(
            map.split(1, r1.end + 1, 10),
            Err(RouterError::InvalidSplitPoint {
                shard_id: 1,
                range: r1,
                at: r1.end + 1
            })
        );
        assert_eq!(map, snapshot);

        let mut worn = ShardMap::from_shards(vec![ShardDescriptor {
            epoch: Epoch {
                version: u64::MAX,
                conf_ver: 1,
            },
            ..desc(1, 0, u64::MAX)
        }])
        .expect("valid map");
        assert_eq!(
            worn.split(1, 5, 2),
            Err(RouterError::EpochExhausted { shard_id: 1 })
        );
        assert_eq!(worn.shard_count(), 1);
    }

    /// Table of hand-built invalid maps and the violation each must report.
    #[test]
    fn validation_catches_each_violation() {
        let max = u64::MAX;
        let cases: Vec<(&str, Vec<ShardDescriptor>, RouterError)> = vec![
            ("empty", vec![], RouterError::ZeroShards),
            (
                "gap at start",
                vec![desc(1, 1, max)],
                RouterError::Gap { start: 0, end: 0 },
            ),
            (
                "gap in middle",
                vec![desc(1, 0, 9), desc(2, 20, max)],
                RouterError::Gap { start: 10, end: 19 },
            ),
            (
                "gap at end",
                vec![desc(1, 0, 9)],
                RouterError::Gap {
                    start: 10,
                    end: max,
                },
            ),
            (
                "overlap",
                vec![desc(1, 0, 10), desc(2, 10, max)],
                RouterError::Overlap {
                    first: 1,
                    second: 2,
                },
            ),
            (
                "inverted",
                vec![desc(1, 0, 9), desc(2, 10, 5), desc(3, 10, max)],
                RouterError::InvertedRange {
                    shard_id: 2,
                    range: HashRange { start: 10, end: 5 },
                },
            ),
            (
                "duplicate id",
                vec![desc(1, 0, 9), desc(1, 10, max)],
                RouterError::DuplicateShardId(1),
            ),
            (
                "no replicas",
                vec![ShardDescriptor {
                    replicas: vec![],
                    ..desc(1, 0, max)
                }],
                RouterError::BadReplicas {
                    shard_id: 1,
                    fault: ReplicaFault::Empty,
                },
            ),
            (
                "duplicate replica",
                vec![ShardDescriptor {
                    replicas: vec![2, 3, 2],
                    ..desc(1, 0, max)
                }],
                RouterError::BadReplicas {
                    shard_id: 1,
                    fault: ReplicaFault::Duplicate { node_id: 2 },
                },
            ),
        ];
        for (name, shards, want) in cases {
            assert_eq!(
                ShardMap::from_shards(shards).err(),
                Some(want),
                "case {name}"
            );
        }
        // from_shards sorts, so input order does not matter.
        let map = ShardMap::from_shards(vec![desc(2, 10, max), desc(1, 0, 9)]).expect("valid");
        assert_eq!(map.shards().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2]);
    }

    /// Deserialisation validates: a JSON round trip works, a JSON map with a gap is refused.
    #[test]
    fn serde_round_trip_and_validation() {
        let map = ShardMap::initial(8, &nodes(5), 3).expect("valid input");
        let json = serde_json::to_string(&map).expect("plain data serialises");
        let back: ShardMap = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, map);

        let bad = r#"{"shards":[{"id":1,"range":{"start":0,"end":9},
            "epoch":{"version":1,"conf_ver":1},"replicas":[1]}]}"#;
        let err = serde_json::from_str::<ShardMap>(bad).expect_err("gap must be refused");
        assert!(err.to_string().contains("belong to no shard"), "{err}");
    }
}
