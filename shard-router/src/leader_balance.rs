//! Leader balancing: spread shard leaderships evenly over the nodes allowed to lead them.

use std::collections::BTreeMap;

use crate::{Membership, PlacementStep, PolicySet, ShardPlacement};

/// Leader transfers that honour leader preferences and spread leaderships evenly.
///
/// A shard's *eligible* leaders are its `Up` voters in the best leader rank present among them
/// ([`PlacementPolicy::leader_rank`](crate::PlacementPolicy::leader_rank): home region, then
/// `leader_preference`). Shards without an `Up` voter are left alone.
///
/// 1. Every shard whose preferred leader (`voters[0]`) is not eligible moves to the eligible
///    node leading the fewest shards (then lowest id).
/// 2. Then, in shard id order and until nothing changes, a shard moves from its leader `l` to an
///    eligible `c` when `leaders(c) + 1 < leaders(l)`, choosing the least loaded `c` (then lowest
///    id). Each move lowers the sum of squared leader counts, so this ends.
///
/// Promises: deterministic; every returned transfer targets an eligible node; afterwards no shard
/// can move to an eligible node with two or more fewer leaderships (locally balanced); running it
/// again on the result returns nothing. Returns `(shard_id, TransferLeader { to })` in shard id
/// order, at most one per shard. Duplicate shard ids after the first are ignored.
pub fn balance_leaders(
    shards: &[ShardPlacement],
    membership: &Membership,
    policies: &PolicySet,
) -> Vec<(u64, PlacementStep)> {
    let mut by_id: BTreeMap<u64, &ShardPlacement> = BTreeMap::new();
    for shard in shards {
        by_id.entry(shard.shard_id).or_insert(shard);
    }
    // (shard id, eligible leaders, current leader)
    let mut work: Vec<(u64, Vec<u64>, u64)> = Vec::new();
    let mut count: BTreeMap<u64, u64> = BTreeMap::new();
    for (&id, shard) in &by_id {
        let Some(leader) = shard.replicas.leader() else {
            continue;
        };
        *count.entry(leader).or_default() += 1;
        let policy = policies.get(shard.keyspace);
        let up: Vec<(usize, u64)> = shard
            .replicas
            .voters
            .iter()
            .filter_map(|&v| membership.get(v))
            .filter(|n| n.state.may_lead())
            .map(|n| (policy.leader_rank(&shard.home_region, &n.region), n.id))
            .collect();
        let Some(best) = up.iter().map(|&(rank, _)| rank).min() else {
            continue;
        };
        let mut eligible: Vec<u64> = up
            .into_iter()
            .filter(|&(rank, _)| rank == best)
            .map(|(_, id)| id)
            .collect();
        eligible.sort_unstable();
        work.push((id, eligible, leader));
    }
    let original: BTreeMap<u64, u64> = work.iter().map(|(id, _, l)| (*id, *l)).collect();
    let least_loaded = |eligible: &[u64], count: &BTreeMap<u64, u64>| -> Option<u64> {
        eligible
            .iter()
            .copied()
            .min_by_key(|c| (count.get(c).copied().unwrap_or(0), *c))
    };
    fn reassign(leader: &mut u64, to: u64, count: &mut BTreeMap<u64, u64>) {
        if let Some(c) = count.get_mut(leader) {
            *c = c.saturating_sub(1);
        }
        *count.entry(to).or_default() += 1;
        *leader = to;
    }

    // 1. Leaders that may not lead (or are in a worse region) move.
    for (_, eligible, leader) in work.iter_mut() {
        if !eligible.contains(leader)
            && let Some(to) = least_loaded(eligible, &count)
        {
            reassign(leader, to, &mut count);
        }
    }
    // 2. Even out.
    loop {
        let mut moved = false;
        for (_, eligible, leader) in work.iter_mut() {
            let here = count.get(leader).copied().unwrap_or(0);
            if let Some(to) = least_loaded(eligible, &count)
                && count.get(&to).copied().unwrap_or(0) + 1 < here
            {
                reassign(leader, to, &mut count);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    work.into_iter()
        .filter(|(id, _, leader)| original.get(id) != Some(leader))
        .map(|(id, _, to)| (id, PlacementStep::TransferLeader { to }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keyspace, NodeInfo, NodeState, PlacementPolicy, ReplicaSet};

    fn shard(id: u64, voters: Vec<u64>) -> ShardPlacement {
        ShardPlacement {
            shard_id: id,
            keyspace: Keyspace::Orders,
            home_region: "eu".into(),
            replicas: ReplicaSet::new(voters, vec![]),
        }
    }

    /// Six shards all led by node 1 end with two leaderships per node; a second run is a no-op.
    #[test]
    fn spreads_evenly() {
        let m = Membership::new(
            (1..=3)
                .map(|id| NodeInfo::up(id, "eu", format!("z{id}")))
                .collect(),
        )
        .expect("valid");
        let mut shards: Vec<_> = (1..=6).map(|id| shard(id, vec![1, 2, 3])).collect();
        let moves = balance_leaders(&shards, &m, &PolicySet::default());
        for (id, step) in &moves {
            let s = shards
                .iter_mut()
                .find(|s| s.shard_id == *id)
                .expect("known");
            s.replicas = s.replicas.apply(step).expect("voter");
        }
        let mut per_node = BTreeMap::new();
        for s in &shards {
            *per_node
                .entry(s.replicas.leader().expect("voters"))
                .or_insert(0) += 1;
        }
        assert_eq!(
            per_node.values().copied().collect::<Vec<_>>(),
            vec![2, 2, 2]
        );
        assert!(balance_leaders(&shards, &m, &PolicySet::default()).is_empty());
    }

    /// Draining leaders move; leaders stay in the preferred region even if that is uneven.
    #[test]
    fn honours_state_and_preference() {
        let mut m = Membership::new(vec![
            NodeInfo::up(1, "eu", "z1"),
            NodeInfo::up(2, "eu", "z2"),
            NodeInfo::up(3, "us", "z1"),
        ])
        .expect("valid");
        m.set_state(1, NodeState::Draining).expect("member");
        let policies = PolicySet {
            orders: PlacementPolicy::region(3, 3),
            ..PolicySet::default()
        };
        let shards: Vec<_> = (1..=4).map(|id| shard(id, vec![1, 2, 3])).collect();
        let moves = balance_leaders(&shards, &m, &policies);
        // Node 2 is the only Up voter in the home region: it leads everything.
        assert_eq!(
            moves,
            (1..=4)
                .map(|id| (id, PlacementStep::TransferLeader { to: 2 }))
                .collect::<Vec<_>>()
        );
    }
}
