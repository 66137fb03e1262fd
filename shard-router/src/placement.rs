//! Placement: which nodes get a replica of a shard, and which of them should lead.

#[cfg(test)]
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::RouterError;

/// A node as the placement planner sees it: its id and failure-domain labels.
///
/// Two nodes are in the same zone when both `region` and `zone` are equal, so zone names only need
/// to be unique within a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlacementNode {
    /// Node id (the Raft node id).
    pub id: u64,
    /// Region label, e.g. `eu-west`.
    pub region: String,
    /// Zone label within the region, e.g. `z1`.
    pub zone: String,
}

/// Deterministic replica planner for a freshly built map.
///
/// Contract, for shard number `i` (0-based) and `n` nodes sorted by id:
/// - the replica list has `min(replication_factor, n)` distinct nodes;
/// - the first replica (preferred leader) is node `i mod n`, so leaders go round-robin;
/// - the others are chosen one at a time, preferring (1) a zone the shard does not use yet,
///   (2) the node holding the fewest replicas so far, (3) the node closest after the leader in id
///   order; so replicas span `min(rf, zone count)` distinct zones and load stays balanced;
/// - the result depends only on the *set* of nodes, not on the order they were given in.
pub(crate) struct ReplicaPlanner<'a> {
    /// Nodes sorted by id.
    nodes: Vec<&'a PlacementNode>,
    /// Replicas assigned so far, per entry of `nodes`.
    load: Vec<u64>,
    /// Replicas per shard: `min(replication_factor, nodes.len())`.
    replicas_per_shard: usize,
}

impl<'a> ReplicaPlanner<'a> {
    /// Prepares a planner.
    ///
    /// # Errors
    /// [`RouterError::NoNodes`] for an empty node list, [`RouterError::ZeroReplicationFactor`] for
    /// `replication_factor == 0`, [`RouterError::DuplicateNodeId`] when two nodes share an id.
    pub(crate) fn new(
        nodes: &'a [PlacementNode],
        replication_factor: u32,
    ) -> Result<Self, RouterError> {
        if nodes.is_empty() {
            return Err(RouterError::NoNodes);
        }
        if replication_factor == 0 {
            return Err(RouterError::ZeroReplicationFactor);
        }
        let mut sorted: Vec<&PlacementNode> = nodes.iter().collect();
        sorted.sort_by_key(|n| n.id);
        if let Some(w) = sorted.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(RouterError::DuplicateNodeId(w[0].id));
        }
        // A u32 always fits in usize on the 32- and 64-bit targets we build for; saturate anyway.
        let rf = usize::try_from(replication_factor).unwrap_or(usize::MAX);
        Ok(ReplicaPlanner {
            load: vec![0; sorted.len()],
            replicas_per_shard: rf.min(sorted.len()),
            nodes: sorted,
        })
    }

    /// Plans the replica list of shard number `shard_index` (0-based), preferred leader first, and
    /// records the new replicas in the planner's load so later shards balance against them.
    pub(crate) fn replicas_for(&mut self, shard_index: usize) -> Vec<u64> {
        let n = self.nodes.len();
        let leader = shard_index % n;
        let mut chosen: Vec<usize> = Vec::with_capacity(self.replicas_per_shard);
        chosen.push(leader);
        while chosen.len() < self.replicas_per_shard {
            // Candidates are the nodes not chosen yet; there is at least one because
            // replicas_per_shard <= n. The key is unique per node (distance), so the pick is
            // deterministic.
            let best = (0..n)
                .filter(|idx| !chosen.contains(idx))
                .min_by_key(|&idx| {
                    let zone = zone_of(self.nodes[idx]);
                    let zone_taken = chosen.iter().any(|&c| zone_of(self.nodes[c]) == zone);
                    let distance = (idx + n - leader) % n;
                    (zone_taken, self.load[idx], distance)
                });
            match best {
                Some(idx) => chosen.push(idx),
                None => break, // unreachable while replicas_per_shard <= n; stop rather than spin
            }
        }
        for &idx in &chosen {
            self.load[idx] += 1;
        }
        chosen.iter().map(|&idx| self.nodes[idx].id).collect()
    }
}

/// The failure-domain key of a node: zones are scoped by region.
fn zone_of(node: &PlacementNode) -> (&str, &str) {
    (node.region.as_str(), node.zone.as_str())
}

/// Count of distinct zones (region, zone pairs) among `nodes`.
#[cfg(test)]
pub(crate) fn zone_count(nodes: &[PlacementNode]) -> usize {
    nodes.iter().map(zone_of).collect::<HashSet<_>>().len()
}

/// Replicas per node over a set of replica lists; used by tests to check balance.
#[cfg(test)]
pub(crate) fn load_by_node<'a>(lists: impl Iterator<Item = &'a [u64]>) -> HashMap<u64, usize> {
    let mut load = HashMap::new();
    for list in lists {
        for &id in list {
            *load.entry(id).or_default() += 1;
        }
    }
    load
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, zone: &str) -> PlacementNode {
        PlacementNode {
            id,
            region: "local".into(),
            zone: zone.into(),
        }
    }

    /// Nine nodes in three zones laid out zone by zone (ids 1-3 in z1, ...): the planner must not
    /// pile replicas onto the first node of each zone; every node ends with exactly 3 replicas and
    /// every shard spans all three zones.
    #[test]
    fn balanced_across_zones_and_nodes() {
        let nodes: Vec<_> = (1..=9)
            .map(|id| node(id, ["z1", "z2", "z3"][(id as usize - 1) / 3]))
            .collect();
        let mut planner = ReplicaPlanner::new(&nodes, 3).expect("valid input");
        let lists: Vec<Vec<u64>> = (0..9).map(|i| planner.replicas_for(i)).collect();
        for (i, list) in lists.iter().enumerate() {
            assert_eq!(list[0], i as u64 + 1, "leader round-robin");
            let zones: HashSet<_> = list
                .iter()
                .map(|id| &nodes[*id as usize - 1].zone)
                .collect();
            assert_eq!(zones.len(), 3, "shard {i} replicas {list:?}");
        }
        let load = load_by_node(lists.iter().map(Vec::as_slice));
        assert!(load.values().all(|&c| c == 3), "{load:?}");
    }

    /// Same zone name in two regions is two failure domains.
    #[test]
    fn zones_are_scoped_by_region() {
        let nodes = vec![
            PlacementNode {
                id: 1,
                region: "a".into(),
                zone: "z1".into(),
            },
            PlacementNode {
                id: 2,
                region: "a".into(),
                zone: "z1".into(),
            },
            PlacementNode {
                id: 3,
                region: "b".into(),
                zone: "z1".into(),
            },
        ];
        assert_eq!(zone_count(&nodes), 2);
        let mut planner = ReplicaPlanner::new(&nodes, 2).expect("valid input");
        assert_eq!(planner.replicas_for(0), vec![1, 3]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            ReplicaPlanner::new(&[], 3).err(),
            Some(RouterError::NoNodes)
        );
        assert_eq!(
            ReplicaPlanner::new(&[node(1, "z1")], 0).err(),
            Some(RouterError::ZeroReplicationFactor)
        );
        assert_eq!(
            ReplicaPlanner::new(&[node(2, "z1"), node(1, "z1"), node(2, "z2")], 1).err(),
            Some(RouterError::DuplicateNodeId(2))
        );
    }
}
