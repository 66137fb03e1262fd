//! Property tests of the shard map against a dumb reference model: a linear scan over the shards.
//!
//! What is proven, for random inputs:
//! - an initial map (1..=512 shards, random nodes/zones/rf) validates, and every hash (random ones
//!   and every range boundary) is owned by exactly one shard, the one `lookup` returns;
//! - placement: replicas are distinct, exactly `min(rf, nodes)` of them, span
//!   `min(rf_effective, zones)` distinct zones (so all-distinct when zones >= rf), preferred
//!   leaders are spread round-robin, and the result does not depend on node order;
//! - random sequences of splits (valid and invalid) keep the map valid and lookup consistent with
//!   the reference; valid splits bump exactly the two halves' version; invalid ones change nothing.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use shard_router::{Epoch, PlacementNode, RouterError, ShardDescriptor, ShardMap, hash_key};

/// The reference model: every shard whose range contains `hash`, by linear scan.
fn owners(map: &ShardMap, hash: u64) -> Vec<u64> {
    map.shards()
        .filter(|s| s.range.contains(hash))
        .map(|s| s.id)
        .collect()
}

/// Asserts `lookup(hash)` agrees with the reference for `hash`, and that exactly one shard owns it.
fn check_lookup(map: &ShardMap, hash: u64) -> Result<(), TestCaseError> {
    let owners = owners(map, hash);
    prop_assert_eq!(owners.len(), 1, "hash {:#x} owned by {:?}", hash, owners);
    prop_assert_eq!(map.lookup(hash).id, owners[0], "hash {:#x}", hash);
    Ok(())
}

/// Every boundary hash of every shard plus its neighbours, and the given random hashes.
fn probe_hashes(map: &ShardMap, random: &[u64]) -> Vec<u64> {
    let mut probes = random.to_vec();
    for s in map.shards() {
        probes.extend([s.range.start, s.range.end]);
        probes.extend(s.range.start.checked_sub(1));
        probes.extend(s.range.end.checked_add(1));
    }
    probes
}

/// Random placement input: 1..=12 nodes with unique (shuffled) ids, in 1..=2 regions with
/// 1..=4 zone names each.
fn placement_nodes() -> impl Strategy<Value = Vec<PlacementNode>> {
    (1usize..=12, 1usize..=2, 1usize..=4).prop_flat_map(|(n, regions, zones)| {
        (
            proptest::collection::vec((0..regions, 0..zones), n),
            Just((1..=n as u64).map(|i| i * 7 + 3).collect::<Vec<u64>>()).prop_shuffle(),
        )
            .prop_map(|(labels, ids)| {
                labels
                    .into_iter()
                    .zip(ids)
                    .map(|((r, z), id)| PlacementNode {
                        id,
                        region: format!("r{r}"),
                        zone: format!("z{z}"),
                    })
                    .collect()
            })
    })
}

fn zone_of<'a>(nodes: &'a HashMap<u64, &PlacementNode>, id: u64) -> (&'a str, &'a str) {
    let n = nodes[&id];
    (n.region.as_str(), n.zone.as_str())
}

proptest! {
    /// Initial maps are valid and lookup matches the linear-scan reference everywhere we probe.
    #[test]
    fn initial_map_routes_like_reference(
        shard_count in 1u32..=512,
        nodes in placement_nodes(),
        rf in 1u32..=5,
        random in proptest::collection::vec(any::<u64>(), 32),
        keys in proptest::collection::vec(".{0,24}", 8),
    ) {
        let map = ShardMap::initial(shard_count, &nodes, rf).expect("valid input");
        prop_assert_eq!(map.validate(), Ok(()));
        prop_assert_eq!(map.shard_count(), shard_count as usize);
        let ids: Vec<u64> = map.shards().map(|s| s.id).collect();
        prop_assert_eq!(ids, (1..=u64::from(shard_count)).collect::<Vec<_>>());
        for hash in probe_hashes(&map, &random) {
            check_lookup(&map, hash)?;
        }
        for key in &keys {
            prop_assert_eq!(map.lookup_key(key.as_bytes()).id, map.lookup(hash_key(key.as_bytes())).id);
        }
    }

    /// Placement contract: distinct replicas, min(rf, nodes) of them, maximal zone spread,
    /// round-robin leaders, independent of node order.
    #[test]
    fn placement_contract(
        shard_count in 1u32..=64,
        nodes in placement_nodes(),
        rf in 1u32..=5,
    ) {
        let map = ShardMap::initial(shard_count, &nodes, rf).expect("valid input");
        let by_id: HashMap<u64, &PlacementNode> = nodes.iter().map(|n| (n.id, n)).collect();
        let zone_count = nodes.iter().map(|n| (n.region.as_str(), n.zone.as_str()))
            .collect::<HashSet<_>>().len();
        let want_replicas = (rf as usize).min(nodes.len());
        let mut leader_load: HashMap<u64, usize> = HashMap::new();
        for shard in map.shards() {
            let distinct: HashSet<u64> = shard.replicas.iter().copied().collect();
            prop_assert_eq!(distinct.len(), shard.replicas.len(), "{:?}", shard);
            prop_assert_eq!(shard.replicas.len(), want_replicas);
            prop_assert!(shard.replicas.iter().all(|id| by_id.contains_key(id)));
            let zones: HashSet<_> = shard.replicas.iter().map(|&id| zone_of(&by_id, id)).collect();
            prop_assert_eq!(zones.len(), want_replicas.min(zone_count), "{:?}", shard);
            if zone_count >= want_replicas {
                prop_assert_eq!(zones.len(), shard.replicas.len());
            }
            *leader_load.entry(shard.preferred_leader().expect("non-empty")).or_default() += 1;
        }
        // Round-robin: leader counts differ by at most one, and with enough shards every node leads.
        let counts: Vec<usize> = nodes.iter().map(|n| leader_load.get(&n.id).copied().unwrap_or(0)).collect();
        let (lo, hi) = (counts.iter().min().copied(), counts.iter().max().copied());
        prop_assert!(hi.zip(lo).is_some_and(|(hi, lo)| hi - lo <= 1), "{:?}", counts);

        let mut reversed = nodes.clone();
        reversed.reverse();
        prop_assert_eq!(&ShardMap::initial(shard_count, &reversed, rf).expect("valid"), &map);
    }

    /// Random split sequences keep the map valid and routing equal to the reference.
    #[test]
    fn splits_keep_map_valid(
        shard_count in 1u32..=16,
        ops in proptest::collection::vec((any::<usize>(), any::<u64>(), 0u8..4), 0..48),
        random in proptest::collection::vec(any::<u64>(), 16),
    ) {
        let nodes: Vec<PlacementNode> = (1..=3)
            .map(|id| PlacementNode { id, region: "r".into(), zone: format!("z{id}") })
            .collect();
        let mut map = ShardMap::initial(shard_count, &nodes, 3).expect("valid input");
        let mut next_id = u64::from(shard_count) + 1;
        for (pick, r, kind) in ops {
            let target: ShardDescriptor = map.shards().nth(pick % map.shard_count())
                .cloned().expect("index below shard_count");
            let range = target.range;
            let before = map.clone();
            // kind 0..=1: a valid split point if the range can be split; 2: at == start (invalid);
            // 3: a split point past the end (invalid unless end == MAX, then at == start again).
            let at = match kind {
                0 | 1 if range.start < range.end => range.start + 1 + r % (range.end - range.start),
                3 => range.end.checked_add(1).unwrap_or(range.start),
                _ => range.start,
            };
            match map.split(target.id, at, next_id) {
                Ok(()) => {
                    prop_assert!(range.start < at && at <= range.end);
                    let left = map.get(target.id).expect("kept").clone();
                    let right = map.get(next_id).expect("created").clone();
                    prop_assert_eq!((left.range.start, left.range.end), (range.start, at - 1));
                    prop_assert_eq!((right.range.start, right.range.end), (at, range.end));
                    let bumped = Epoch { version: target.epoch.version + 1, ..target.epoch };
                    prop_assert_eq!(left.epoch, bumped);
                    prop_assert_eq!(right.epoch, bumped);
                    prop_assert_eq!(&right.replicas, &target.replicas);
                    prop_assert_eq!(map.shard_count(), before.shard_count() + 1);
                    // Untouched shards are unchanged.
                    for s in before.shards().filter(|s| s.id != target.id) {
                        prop_assert_eq!(map.get(s.id), Some(s));
                    }
                    next_id += 1;
                }
                Err(err) => {
                    prop_assert_eq!(
                        err,
                        RouterError::InvalidSplitPoint { shard_id: target.id, range, at }
                    );
                    prop_assert!(!(range.start < at && at <= range.end));
                    prop_assert_eq!(&map, &before);
                }
            }
            prop_assert_eq!(map.validate(), Ok(()));
        }
        for hash in probe_hashes(&map, &random) {
            check_lookup(&map, hash)?;
        }
    }
}
