//! [`RouteCache`]: the client's picture of the shard map: which shard owns a hash range and
//! which address leads it. Pure data; the [`crate::Client`] fills it from `ClusterStatus` and
//! from NOT_LEADER / WRONG_NODE hints, and consults it to route each keyed request.

use std::collections::HashMap;

use orderstore_proto::v1 as pb;

use crate::ClusterStatus;

/// One cached shard route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardRoute {
    pub id: u64,
    /// Inclusive hash range.
    pub range_start: u64,
    pub range_end: u64,
    /// `(version, conf_ver)`: a descriptor with a larger epoch replaces an older one.
    pub epoch: (u64, u64),
    pub leader_id: Option<u64>,
    pub leader_addr: Option<String>,
}

/// Shard routes sorted by `range_start`, never overlapping, plus the node id -> address book.
///
/// Invariant: `shards` is sorted by `range_start` and no two ranges overlap (gaps are allowed
/// while the cache is partial; a key in a gap has no route and goes to any endpoint).
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteCache {
    shards: Vec<ShardRoute>,
    nodes: HashMap<u64, String>,
    /// The cluster's default home region, once a `ClusterStatus` told it.
    default_region: Option<String>,
}

impl RouteCache {
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The cluster's default home region, if known.
    pub fn default_region(&self) -> Option<&str> {
        self.default_region.as_deref()
    }

    /// Replaces everything with a fresh `ClusterStatus`.
    pub fn replace(&mut self, status: &ClusterStatus) {
        self.default_region = Some(status.default_region.clone()).filter(|r| !r.is_empty());
        self.nodes = status
            .nodes
            .iter()
            .filter(|n| !n.grpc_addr.is_empty())
            .map(|n| (n.id, n.grpc_addr.clone()))
            .collect();
        let mut shards: Vec<ShardRoute> = status
            .shards
            .iter()
            .filter(|s| s.range_start <= s.range_end)
            .map(|s| ShardRoute {
                id: s.id,
                range_start: s.range_start,
                range_end: s.range_end,
                epoch: (s.epoch_version, s.epoch_conf_ver),
                leader_id: s.leader,
                leader_addr: s.leader_addr.clone(),
            })
            .collect();
        shards.sort_by_key(|s| s.range_start);
        // Keep the invariant even if a buggy status overlaps: drop later overlapping ranges.
        let mut kept: Vec<ShardRoute> = Vec::with_capacity(shards.len());
        for s in shards {
            if kept
                .last()
                .is_none_or(|last| last.range_end < s.range_start)
            {
                kept.push(s);
            }
        }
        self.shards = kept;
    }

    /// The route of the shard owning `hash`.
    pub fn lookup(&self, hash: u64) -> Option<&ShardRoute> {
        // First shard whose start is beyond `hash`; the candidate is the one before it.
        let idx = self.shards.partition_point(|s| s.range_start <= hash);
        let candidate = self.shards.get(idx.checked_sub(1)?)?;
        (hash <= candidate.range_end).then_some(candidate)
    }

    /// The shard owning `key` (hashed with `shard_router::hash_key`) and its leader's address.
    pub fn route_key(&self, key: &[u8]) -> Option<&ShardRoute> {
        self.lookup(shard_router::hash_key(key))
    }

    pub fn shard(&self, shard_id: u64) -> Option<&ShardRoute> {
        self.shards.iter().find(|s| s.id == shard_id)
    }

    /// Records `addr` (node `leader_id` when known) as the leader of `shard_id`. No-op for a shard
    /// the cache does not know (its range is unknown, so the entry could never be found).
    pub fn set_leader(&mut self, shard_id: u64, leader_id: Option<u64>, addr: &str) {
        if let Some(id) = leader_id {
            self.nodes.insert(id, addr.to_string());
        }
        if let Some(s) = self.shards.iter_mut().find(|s| s.id == shard_id) {
            s.leader_id = leader_id;
            s.leader_addr = Some(addr.to_string());
        }
    }

    /// Forgets the leader of `shard_id` (it was wrong or is unknown).
    pub fn forget_leader(&mut self, shard_id: u64) {
        if let Some(s) = self.shards.iter_mut().find(|s| s.id == shard_id) {
            s.leader_id = None;
            s.leader_addr = None;
        }
    }

    /// Forgets every leader at `addr` (the node did not answer).
    pub fn forget_addr(&mut self, addr: &str) {
        for s in self
            .shards
            .iter_mut()
            .filter(|s| s.leader_addr.as_deref() == Some(addr))
        {
            s.leader_id = None;
            s.leader_addr = None;
        }
    }

    /// Applies a fresh descriptor sent with an error. A descriptor whose epoch is not newer than
    /// the cached one for the same shard is ignored; a newer one replaces every cached range it
    /// overlaps (they are stale: the shard map changed).
    pub fn apply_descriptor(&mut self, d: &pb::ShardInfo) {
        if d.range_start > d.range_end {
            return;
        }
        let epoch = (d.epoch_version, d.epoch_conf_ver);
        if self.shards.iter().any(|s| s.id == d.id && s.epoch >= epoch) {
            return;
        }
        let leader_id = (d.leader != 0).then_some(d.leader);
        let leader_addr = leader_id.and_then(|id| self.nodes.get(&id).cloned());
        self.shards.retain(|s| {
            s.id != d.id && (s.range_end < d.range_start || s.range_start > d.range_end)
        });
        let route = ShardRoute {
            id: d.id,
            range_start: d.range_start,
            range_end: d.range_end,
            epoch,
            leader_id,
            leader_addr,
        };
        let at = self
            .shards
            .partition_point(|s| s.range_start < route.range_start);
        self.shards.insert(at, route);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeInfo;
    use crate::ShardInfo;

    fn node(id: u64) -> NodeInfo {
        NodeInfo {
            id,
            grpc_addr: format!("127.0.0.1:700{id}"),
            status_addr: String::new(),
            region: "local".into(),
            zone: format!("z{id}"),
            state: "up".into(),
        }
    }

    fn shard(id: u64, start: u64, end: u64, leader: Option<u64>) -> ShardInfo {
        ShardInfo {
            id,
            range_start: start,
            range_end: end,
            epoch_version: 1,
            epoch_conf_ver: 1,
            replicas: vec![1, 2, 3],
            leader,
            leader_addr: leader.map(|l| format!("127.0.0.1:700{l}")),
            term: 1,
            applied_index: 0,
            replica_applied: vec![],
            snapshot_index: 0,
            health: "serving".into(),
        }
    }

    /// Four shards splitting the space in quarters, led by nodes 1, 2, 3 and nobody.
    fn four_shards() -> RouteCache {
        let q = u64::MAX / 4;
        let status = ClusterStatus {
            default_region: String::new(),
            nodes: vec![node(1), node(2), node(3)],
            // Deliberately unsorted: the cache sorts.
            shards: vec![
                shard(3, 2 * q + 1, 3 * q, Some(3)),
                shard(1, 0, q, Some(1)),
                shard(4, 3 * q + 1, u64::MAX, None),
                shard(2, q + 1, 2 * q, Some(2)),
            ],
        };
        let mut c = RouteCache::default();
        c.replace(&status);
        c
    }

    /// Every hash, including both ends of every range and of the space, finds its shard.
    #[test]
    fn lookup_finds_the_owning_shard_at_every_boundary() {
        let c = four_shards();
        let q = u64::MAX / 4;
        let cases = [
            (0, 1),
            (q, 1),
            (q + 1, 2),
            (2 * q, 2),
            (2 * q + 1, 3),
            (3 * q, 3),
            (3 * q + 1, 4),
            (u64::MAX, 4),
        ];
        for (hash, want) in cases {
            assert_eq!(c.lookup(hash).map(|s| s.id), Some(want), "hash {hash:#x}");
        }
        assert_eq!(
            c.lookup(5).and_then(|s| s.leader_addr.clone()).as_deref(),
            Some("127.0.0.1:7001")
        );
        assert_eq!(c.lookup(u64::MAX).and_then(|s| s.leader_addr.clone()), None);
    }

    /// A key is routed by `shard_router::hash_key`, the server's hash.
    #[test]
    fn route_key_uses_the_shared_hash() {
        let c = four_shards();
        let key = "o-local-00000000deadbeef";
        let h = shard_router::hash_key(key.as_bytes());
        assert_eq!(
            c.route_key(key.as_bytes()).map(|s| s.id),
            c.lookup(h).map(|s| s.id)
        );
    }

    #[test]
    fn empty_or_partial_cache_has_no_route_in_gaps() {
        assert!(RouteCache::default().lookup(42).is_none());
        let mut c = RouteCache::default();
        c.replace(&ClusterStatus {
            default_region: String::new(),
            nodes: vec![node(1)],
            shards: vec![shard(1, 100, 200, Some(1))],
        });
        assert!(c.lookup(99).is_none());
        assert_eq!(c.lookup(100).map(|s| s.id), Some(1));
        assert_eq!(c.lookup(200).map(|s| s.id), Some(1));
        assert!(c.lookup(201).is_none());
    }

    /// Hints move the leader; a dead address is forgotten everywhere.
    #[test]
    fn hints_update_and_dead_addresses_are_forgotten() {
        let mut c = four_shards();
        c.set_leader(4, Some(2), "127.0.0.1:7002");
        assert_eq!(
            c.shard(4).and_then(|s| s.leader_addr.as_deref()),
            Some("127.0.0.1:7002")
        );
        c.forget_addr("127.0.0.1:7002");
        assert_eq!(c.shard(4).and_then(|s| s.leader_addr.clone()), None);
        assert_eq!(c.shard(2).and_then(|s| s.leader_addr.clone()), None);
        assert_eq!(
            c.shard(1).and_then(|s| s.leader_addr.as_deref()),
            Some("127.0.0.1:7001")
        );
        c.forget_leader(1);
        assert_eq!(c.shard(1).and_then(|s| s.leader_id), None);
    }

    /// A newer descriptor (a split) replaces the ranges it overlaps; an older one is ignored.
    #[test]
    fn fresh_descriptor_replaces_stale_ranges() {
        let mut c = four_shards();
        let q = u64::MAX / 4;
        let split = pb::ShardInfo {
            id: 1,
            range_start: 0,
            range_end: q / 2,
            epoch_version: 2,
            epoch_conf_ver: 1,
            leader: 3,
            ..Default::default()
        };
        c.apply_descriptor(&split);
        assert_eq!(c.lookup(0).map(|s| s.id), Some(1));
        assert_eq!(
            c.lookup(0).and_then(|s| s.leader_addr.as_deref()),
            Some("127.0.0.1:7003")
        );
        assert!(
            c.lookup(q).is_none(),
            "the other half is unknown until a refresh"
        );
        assert_eq!(c.lookup(q + 1).map(|s| s.id), Some(2));

        let stale = pb::ShardInfo {
            id: 1,
            range_start: 0,
            range_end: q,
            epoch_version: 1,
            ..Default::default()
        };
        c.apply_descriptor(&stale);
        assert_eq!(c.lookup(0).map(|s| s.range_end), Some(q / 2));
    }
}
