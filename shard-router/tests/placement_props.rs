//! Property tests of placement planning, leader balancing, split-point choice and shard-map
//! mutation, against dumb reference models written here (a quorum count by linear scan).
//!
//! What is proven, for random clusters (1-3 regions, 1-4 zones each, node states Up/Down/
//! Draining/Decommissioned, optional host labels), random policies and random current layouts:
//! - `plan` fails only with a typed error whose claim the reference confirms (no live quorum, no
//!   candidate); otherwise every step applies, and after every membership change (and during it,
//!   for joint changes) a live quorum remains, live voters never drop below
//!   `min(policy voters, live voters at the start)`, and no more zones (regions) are fragile than
//!   at the start; new replicas and leaderships only go to `Up` nodes; `result` is the steps
//!   applied and `violations` is `check_layout(result)`;
//! - plans are idempotent: planning again from the result gives no steps;
//! - zone survival: in a cluster with enough Up zones, applying the plan and then losing any one
//!   zone leaves every shard a quorum; region survival likewise with 3-5 regions;
//! - leader balancing moves leaders only to eligible nodes, leaves no shard that could move to a
//!   node with two fewer leaderships, and is stable;
//! - split points split the sampled weight optimally and are accepted by `ShardMap::split`;
//! - any sequence of splits and membership steps keeps the map valid (disjoint ranges covering
//!   the whole space), routes like a linear scan, and strictly increases the epoch of every shard
//!   it changes (version on split, conf_ver on membership change) while leaving others untouched.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use shard_router::{
    Epoch, HashRange, KeySample, Keyspace, Membership, NodeInfo, NodeLoad, NodeState,
    PlacementPolicy, PlacementStep, PlanError, PolicySet, ReplicaSet, ShardDescriptor, ShardMap,
    ShardPlacement, SplitError, SurvivalGoal, balance_leaders, check_layout, choose_split_point,
    plan, plan_with_load,
};

const CASES: u32 = 256;

// ---------------------------------------------------------------------------------------------
// Reference model.

fn domain(goal: SurvivalGoal, n: &NodeInfo) -> (String, Option<String>) {
    match goal {
        SurvivalGoal::Zone => (n.region.clone(), Some(n.zone.clone())),
        SurvivalGoal::Region => (n.region.clone(), None),
    }
}

/// Live voters of `voters` outside `lost`.
fn ref_alive(
    m: &Membership,
    goal: SurvivalGoal,
    voters: &[u64],
    lost: Option<&(String, Option<String>)>,
) -> usize {
    voters
        .iter()
        .filter_map(|&v| m.get(v))
        .filter(|n| n.state != NodeState::Down && Some(&domain(goal, n)) != lost)
        .count()
}

fn ref_quorum_ok(
    m: &Membership,
    goal: SurvivalGoal,
    voters: &[u64],
    lost: Option<&(String, Option<String>)>,
) -> bool {
    ref_alive(m, goal, voters, lost) > voters.len() / 2
}

/// Number of domains whose loss stalls a commit in any of `configs`.
fn ref_fragile(m: &Membership, goal: SurvivalGoal, configs: &[&[u64]]) -> usize {
    let domains: BTreeSet<_> = m.nodes().map(|n| domain(goal, n)).collect();
    domains
        .iter()
        .filter(|d| configs.iter().any(|c| !ref_quorum_ok(m, goal, c, Some(d))))
        .count()
}

// ---------------------------------------------------------------------------------------------
// Generators.

fn state() -> impl Strategy<Value = NodeState> {
    prop_oneof![
        7 => Just(NodeState::Up),
        1 => Just(NodeState::Down),
        1 => Just(NodeState::Draining),
        1 => Just(NodeState::Decommissioned),
    ]
}

/// 1..=14 nodes over `regions` regions with up to 4 zones each; ids 1..; hosts scoped by zone.
fn cluster(regions: usize) -> impl Strategy<Value = Membership> {
    proptest::collection::vec(
        (0..regions, 0..4usize, proptest::option::of(0..2u8), state()),
        1..=14,
    )
    .prop_map(|specs| {
        let nodes = specs
            .into_iter()
            .enumerate()
            .map(|(i, (r, z, h, state))| NodeInfo {
                id: i as u64 + 1,
                region: format!("r{r}"),
                zone: format!("z{z}"),
                host: h.map(|h| format!("r{r}-z{z}-h{h}")),
                state,
            })
            .collect();
        Membership::new(nodes).expect("generated membership is valid")
    })
}

fn policy(regions: usize) -> impl Strategy<Value = PlacementPolicy> {
    (
        prop_oneof![
            Just(PlacementPolicy::zone(3)),
            Just(PlacementPolicy::zone(5)),
            Just(PlacementPolicy::zone(1)),
            Just(PlacementPolicy::region(3, 3)),
            Just(PlacementPolicy::region(5, 3)),
        ],
        Just((0..regions).map(|r| format!("r{r}")).collect::<Vec<_>>()).prop_shuffle(),
        0..=regions,
    )
        .prop_map(|(mut p, regions, keep)| {
            p.leader_preference = regions.into_iter().take(keep).collect();
            p
        })
}

/// A valid replica set over `m`'s ids: 1..=5 voters and 0..=2 learners.
fn layout(m: &Membership) -> impl Strategy<Value = ReplicaSet> + use<> {
    let ids: Vec<u64> = m.nodes().map(|n| n.id).collect();
    let n = ids.len();
    (Just(ids).prop_shuffle(), 1..=5usize.min(n), 0..=2usize).prop_map(move |(ids, v, l)| {
        let l = l.min(n - v);
        ReplicaSet::new(ids[..v].to_vec(), ids[v..v + l].to_vec())
    })
}

fn case() -> impl Strategy<Value = (Membership, PlacementPolicy, String, ReplicaSet)> {
    (1..=3usize).prop_flat_map(|regions| {
        (cluster(regions), policy(regions), 0..regions).prop_flat_map(|(m, p, home)| {
            let l = layout(&m);
            (Just(m), Just(p), Just(format!("r{home}")), l)
        })
    })
}

/// Checks a plan's steps step by step against the reference; returns the final layout.
fn check_steps(
    m: &Membership,
    policy: &PlacementPolicy,
    current: &ReplicaSet,
    steps: &[PlacementStep],
) -> Result<ReplicaSet, TestCaseError> {
    let goal = policy.survival_goal;
    let start_fragile = ref_fragile(m, goal, &[&current.voters]);
    let min_live = (policy.voters as usize).min(ref_alive(m, goal, &current.voters, None));
    let mut state = current.clone();
    for (i, step) in steps.iter().enumerate() {
        let next = state
            .apply(step)
            .map_err(|f| TestCaseError::fail(format!("step {i} {step}: {f}")))?;
        match step {
            PlacementStep::AddLearner { node } => {
                prop_assert_eq!(
                    m.get(*node).map(|n| n.state),
                    Some(NodeState::Up),
                    "step {}",
                    i
                );
            }
            PlacementStep::TransferLeader { to } => {
                prop_assert_eq!(
                    m.get(*to).map(|n| n.state),
                    Some(NodeState::Up),
                    "step {}",
                    i
                );
            }
            _ => {}
        }
        if next.voters != state.voters {
            prop_assert!(
                ref_quorum_ok(m, goal, &next.voters, None),
                "step {} loses quorum",
                i
            );
            prop_assert!(
                ref_alive(m, goal, &next.voters, None) >= min_live,
                "step {} drops live voters below {}",
                i,
                min_live
            );
            let fragile = ref_fragile(m, goal, &[&state.voters, &next.voters]);
            prop_assert!(
                fragile <= start_fragile,
                "step {} ({}) makes {} domains fragile, start had {}",
                i,
                step,
                fragile,
                start_fragile
            );
        }
        state = next;
    }
    Ok(state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Plans are safe at every step, report their result truthfully, and are idempotent.
    #[test]
    fn plans_are_safe_and_idempotent((m, policy, home, current) in case()) {
        let goal = policy.survival_goal;
        match plan(&policy, &home, &m, &current) {
            Err(PlanError::NoQuorum { .. }) => {
                prop_assert!(!ref_quorum_ok(&m, goal, &current.voters, None));
            }
            Err(PlanError::NoCandidates { .. }) => {
                let any = m.nodes().any(|n| {
                    (goal == SurvivalGoal::Region || n.region == home)
                        && (n.state == NodeState::Up
                            || n.state == NodeState::Draining && current.is_voter(n.id))
                });
                prop_assert!(!any);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            Ok(p) => {
                let end = check_steps(&m, &policy, &current, &p.steps)?;
                prop_assert_eq!(&end, &p.result);
                prop_assert_eq!(&p.violations, &check_layout(&policy, &home, &m, &p.result));
                prop_assert_eq!(p.result.check(), Ok(()));
                let again = plan(&policy, &home, &m, &p.result).expect("result is plannable");
                prop_assert_eq!(&again.steps, &vec![], "re-plan of {:?}", p.result);
                // A plan without violations keeps no replica on a node that must lose it, and
                // its leader may lead.
                if !p.is_degraded() {
                    for id in p.result.nodes() {
                        let s = m.get(id).map(|n| n.state);
                        prop_assert!(matches!(s, Some(NodeState::Up | NodeState::Draining)));
                    }
                }
            }
        }
    }

    /// The same holds with a random load map (ties broken by load instead of id).
    #[test]
    fn loaded_plans_are_idempotent(
        (m, policy, home, current) in case(),
        others in proptest::collection::vec(proptest::collection::vec(1u64..=14, 1..4), 0..6),
    ) {
        let mut load = NodeLoad::default();
        for voters in others {
            let mut v = voters;
            v.dedup();
            load.add(&ReplicaSet::new(v, vec![]));
        }
        if let Ok(p) = plan_with_load(&policy, &home, &m, &current, &load) {
            check_steps(&m, &policy, &current, &p.steps)?;
            let again = plan_with_load(&policy, &home, &m, &p.result, &load).expect("plannable");
            prop_assert_eq!(again.steps, vec![]);
        }
    }
}

/// A home region r0 with `zones` zones of 1..=3 Up nodes each, another region r1 with 1..=2 Up
/// nodes, and up to 3 extra nodes in r0 that are Down, Draining or Decommissioned.
fn zone_cluster() -> impl Strategy<Value = Membership> {
    (
        proptest::collection::vec(1..=3usize, 3..=4),
        1..=2usize,
        proptest::collection::vec((0..3usize, 1..=3usize), 0..=3),
    )
        .prop_map(|(zones, r1_nodes, extra)| {
            let mut nodes = Vec::new();
            let mut id = 0;
            let mut next = || {
                id += 1;
                id
            };
            for (z, &count) in zones.iter().enumerate() {
                for _ in 0..count {
                    nodes.push(NodeInfo::up(next(), "r0", format!("z{z}")));
                }
            }
            for _ in 0..r1_nodes {
                nodes.push(NodeInfo::up(next(), "r1", "z0"));
            }
            for (z, s) in extra {
                let state = [
                    NodeState::Down,
                    NodeState::Draining,
                    NodeState::Decommissioned,
                ][s - 1];
                nodes.push(NodeInfo {
                    state,
                    ..NodeInfo::up(next(), "r0", format!("z{z}"))
                });
            }
            Membership::new(nodes).expect("valid")
        })
}

/// 3..=5 regions of 1..=2 zones with 2..=3 Up nodes each, plus up to 3 Down nodes.
fn region_cluster() -> impl Strategy<Value = Membership> {
    (
        proptest::collection::vec((1..=2usize, 2..=3usize), 3..=5),
        proptest::collection::vec(0..3usize, 0..=3),
    )
        .prop_map(|(regions, down)| {
            let mut nodes = Vec::new();
            let mut id = 0;
            for (r, &(zones, count)) in regions.iter().enumerate() {
                for i in 0..count {
                    id += 1;
                    nodes.push(NodeInfo::up(id, format!("r{r}"), format!("z{}", i % zones)));
                }
            }
            for r in down {
                id += 1;
                nodes.push(NodeInfo {
                    state: NodeState::Down,
                    ..NodeInfo::up(id, format!("r{r}"), "z9")
                });
            }
            Membership::new(nodes).expect("valid")
        })
}

/// Applies the plan for `current` and checks the result survives the loss of every domain.
fn survives_any_domain_loss(
    m: &Membership,
    policy: &PlacementPolicy,
    current: &ReplicaSet,
) -> Result<(), TestCaseError> {
    let goal = policy.survival_goal;
    prop_assume!(ref_quorum_ok(m, goal, &current.voters, None));
    let p = plan(policy, "r0", m, current).expect("a live quorum and candidates exist");
    let end = check_steps(m, policy, current, &p.steps)?;
    prop_assert!(
        p.violations.is_empty(),
        "degraded: {:?} from {:?}",
        p.violations,
        current
    );
    prop_assert_eq!(end.voters.len(), policy.voters as usize);
    let domains: BTreeSet<_> = m.nodes().map(|n| domain(goal, n)).collect();
    for d in &domains {
        prop_assert!(
            ref_quorum_ok(m, goal, &end.voters, Some(d)),
            "losing {:?} kills {:?}",
            d,
            end
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Zone goal: after the plan, losing any one zone leaves a quorum.
    #[test]
    fn zone_loss_keeps_quorum(
        (m, current) in zone_cluster().prop_flat_map(|m| { let l = layout(&m); (Just(m), l) }),
        voters in prop_oneof![Just(3u32), Just(5u32)],
    ) {
        let policy = PlacementPolicy::zone(voters);
        // 5 voters need 3 zones of 2 Up nodes (cap 2 per zone) or more zones.
        if voters == 5 {
            let zones: BTreeMap<&str, usize> = m.nodes()
                .filter(|n| n.region == "r0" && n.state == NodeState::Up)
                .fold(BTreeMap::new(), |mut acc, n| { *acc.entry(n.zone.as_str()).or_default() += 1; acc });
            prop_assume!(zones.values().map(|&c| c.min(2)).sum::<usize>() >= 5);
        }
        survives_any_domain_loss(&m, &policy, &current)?;
    }

    /// Region goal: after the plan, losing any one region leaves a quorum.
    #[test]
    fn region_loss_keeps_quorum(
        (m, current) in region_cluster().prop_flat_map(|m| { let l = layout(&m); (Just(m), l) }),
        voters in prop_oneof![Just(3u32), Just(5u32)],
    ) {
        survives_any_domain_loss(&m, &PlacementPolicy::region(voters, 3), &current)?;
    }

    /// Leader balancing: eligible targets, locally balanced, stable.
    #[test]
    fn leader_balancing(
        m in cluster(3),
        picks in proptest::collection::vec((Just(()), 1..=4usize, 0..3usize), 1..24),
        seed in proptest::collection::vec(any::<u64>(), 24),
    ) {
        let ids: Vec<u64> = m.nodes().map(|n| n.id).collect();
        let mut shards: Vec<ShardPlacement> = picks.iter().zip(&seed).enumerate().map(|(i, ((_, v, home), s))| {
            let mut voters: Vec<u64> = (0..*v).map(|k| ids[((s >> (k * 8)) as usize) % ids.len()]).collect();
            voters.sort_unstable();
            voters.dedup();
            let len = voters.len();
            voters.rotate_left((*s as usize) % len);
            ShardPlacement {
                shard_id: i as u64 + 1,
                keyspace: Keyspace::ALL[i % 4],
                home_region: format!("r{home}"),
                replicas: ReplicaSet::new(voters, vec![]),
            }
        }).collect();
        let mut policies = PolicySet::default();
        policies.inventory.leader_preference = vec!["r2".into(), "r1".into()];
        let moves = balance_leaders(&shards, &m, &policies);
        let eligible = |s: &ShardPlacement| -> Vec<u64> {
            let p = policies.get(s.keyspace);
            let up: Vec<&NodeInfo> = s.replicas.voters.iter().filter_map(|&v| m.get(v))
                .filter(|n| n.state == NodeState::Up).collect();
            let best = up.iter().map(|n| p.leader_rank(&s.home_region, &n.region)).min();
            up.iter().filter(|n| Some(p.leader_rank(&s.home_region, &n.region)) == best).map(|n| n.id).collect()
        };
        for (id, step) in &moves {
            let s = shards.iter_mut().find(|s| s.shard_id == *id).expect("known shard");
            let PlacementStep::TransferLeader { to } = step else { panic!("only transfers") };
            prop_assert!(eligible(s).contains(to));
            s.replicas = s.replicas.apply(step).expect("transfer to a voter");
        }
        let mut count: BTreeMap<u64, usize> = BTreeMap::new();
        for s in &shards {
            *count.entry(s.replicas.leader().expect("voters")).or_default() += 1;
        }
        for s in &shards {
            let e = eligible(s);
            let leader = s.replicas.leader().expect("voters");
            if e.is_empty() { continue; }
            prop_assert!(e.contains(&leader), "shard {} led by ineligible {}", s.shard_id, leader);
            for c in e {
                prop_assert!(count.get(&c).copied().unwrap_or(0) + 1 >= count[&leader]);
            }
        }
        prop_assert_eq!(balance_leaders(&shards, &m, &policies), vec![]);
    }

    /// The split point balances the sampled weight optimally and the map accepts it.
    #[test]
    fn split_point_is_balanced(
        start in any::<u64>(),
        width in 1u64..=u64::MAX,
        samples in proptest::collection::vec((any::<u64>(), 0u64..1000), 0..40),
    ) {
        let range = HashRange { start, end: start.saturating_add(width) };
        let samples: Vec<KeySample> = samples.into_iter()
            .map(|(h, w)| KeySample { hash: range.start + h % (range.end - range.start).saturating_add(1).max(1), weight: w })
            .collect();
        let inside: BTreeMap<u64, u128> = samples.iter().filter(|s| range.contains(s.hash) && s.weight > 0)
            .fold(BTreeMap::new(), |mut acc, s| { *acc.entry(s.hash).or_default() += u128::from(s.weight); acc });
        match choose_split_point(range, &samples) {
            Ok(c) => {
                prop_assert!(range.start < c.at && c.at <= range.end);
                let left: u128 = inside.range(..c.at).map(|(_, w)| w).sum();
                let total: u128 = inside.values().sum();
                prop_assert_eq!((c.left_weight, c.right_weight), (left, total - left));
                // No cut between sampled hashes is better balanced.
                let mut acc = 0u128;
                for w in inside.values() {
                    acc += w;
                    if acc < total {
                        prop_assert!(acc.abs_diff(total - acc) >= left.abs_diff(total - left));
                    }
                }
                let mut map = ShardMap::from_shards(vec![
                    ShardDescriptor { id: 1, range: HashRange { start: 0, end: u64::MAX }, epoch: Epoch::INITIAL, replicas: vec![1], learners: vec![] },
                ]).expect("valid");
                map.split(1, c.at.max(1), 2).expect("accepted");
            }
            Err(SplitError::EmptySample(_)) => prop_assert!(inside.is_empty()),
            Err(SplitError::SingleHash(h)) => prop_assert_eq!(inside.keys().copied().collect::<Vec<_>>(), vec![h]),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

/// One random operation on a shard map.
#[derive(Debug, Clone)]
enum Op {
    Split {
        pick: usize,
        r: u64,
    },
    Step {
        pick: usize,
        kind: u8,
        node: u64,
        other: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), any::<u64>()).prop_map(|(pick, r)| Op::Split { pick, r }),
        (any::<usize>(), 0u8..5, 1u64..=6, 1u64..=6).prop_map(|(pick, kind, node, other)| {
            Op::Step {
                pick,
                kind,
                node,
                other,
            }
        }),
    ]
}

fn step_of(kind: u8, node: u64, other: u64) -> PlacementStep {
    match kind {
        0 => PlacementStep::AddLearner { node },
        1 => PlacementStep::PromoteLearner { node },
        2 => PlacementStep::RemoveReplica { node },
        3 => PlacementStep::TransferLeader { to: node },
        _ => PlacementStep::JointChange {
            promote: vec![node],
            remove: vec![other],
        },
    }
}

/// Every hash is owned by exactly one shard, the one lookup returns (reference: linear scan).
fn routes_like_scan(map: &ShardMap, probes: &[u64]) -> Result<(), TestCaseError> {
    let mut all = probes.to_vec();
    for s in map.shards() {
        all.extend([s.range.start, s.range.end]);
        all.extend(s.range.end.checked_add(1));
    }
    for h in all {
        let owners: Vec<u64> = map
            .shards()
            .filter(|s| s.range.contains(h))
            .map(|s| s.id)
            .collect();
        prop_assert_eq!(owners.len(), 1, "hash {:#x}", h);
        prop_assert_eq!(map.lookup(h).id, owners[0]);
    }
    Ok(())
}

fn newer(after: Epoch, before: Epoch) -> bool {
    after.version >= before.version
        && after.conf_ver >= before.conf_ver
        && (after.version, after.conf_ver) != (before.version, before.conf_ver)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Splits and moves keep the map valid and routing exact; changed shards' epochs increase.
    #[test]
    fn splits_and_moves_keep_map_valid(
        shard_count in 1u32..=8,
        ops in proptest::collection::vec(op(), 0..40),
        probes in proptest::collection::vec(any::<u64>(), 16),
    ) {
        let nodes: Vec<_> = (1..=3).map(|id| NodeInfo::up(id, "r", format!("z{id}")).placement_node()).collect();
        let mut map = ShardMap::initial(shard_count, &nodes, 3).expect("valid");
        let mut next_id = u64::from(shard_count) + 1;
        for op in ops {
            let before = map.clone();
            // (shard whose epoch must grow, shard whose leader may be reordered, outcome)
            let (bumped, reordered, result) = match op {
                Op::Split { pick, r } => {
                    let t = map.shards().nth(pick % map.shard_count()).cloned().expect("in bounds");
                    let at = if t.range.start < t.range.end {
                        t.range.start + 1 + r % (t.range.end - t.range.start)
                    } else {
                        t.range.start
                    };
                    let res = map.split(t.id, at, next_id);
                    if res.is_ok() {
                        let new = map.get(next_id).expect("created");
                        prop_assert_eq!(new.epoch, Epoch { version: t.epoch.version + 1, ..t.epoch });
                        next_id += 1;
                    }
                    (Some(t.id), None, res.map(|_| ()))
                }
                Op::Step { pick, kind, node, other } => {
                    let t = map.shards().nth(pick % map.shard_count()).cloned().expect("in bounds");
                    let step = step_of(kind, node, other);
                    let res = map.apply_step(t.id, &step);
                    if let Ok(epoch) = res {
                        let want = if step.changes_membership() {
                            Epoch { conf_ver: t.epoch.conf_ver + 1, ..t.epoch }
                        } else {
                            t.epoch
                        };
                        prop_assert_eq!(epoch, want);
                        prop_assert_eq!(map.get(t.id).map(|s| s.epoch), Some(want));
                    }
                    if step.changes_membership() {
                        (Some(t.id), None, res.map(|_| ()))
                    } else {
                        (None, Some(t.id), res.map(|_| ()))
                    }
                }
            };
            prop_assert_eq!(map.validate(), Ok(()));
            match result {
                Err(_) => prop_assert_eq!(&map, &before),
                Ok(()) => {
                    for s in before.shards() {
                        let after = map.get(s.id).expect("shards are never removed");
                        if Some(s.id) == bumped {
                            prop_assert!(newer(after.epoch, s.epoch), "{:?} -> {:?}", s.epoch, after.epoch);
                        } else if Some(s.id) == reordered {
                            let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
                            prop_assert_eq!(after.epoch, s.epoch);
                            prop_assert_eq!(set(&after.replicas), set(&s.replicas));
                            prop_assert_eq!(after.range, s.range);
                        } else {
                            prop_assert_eq!(after, s);
                        }
                    }
                }
            }
        }
        routes_like_scan(&map, &probes)?;
    }

    /// Lookup agrees with a linear scan on maps built from random cut points.
    #[test]
    fn lookup_matches_linear_scan(
        cuts in proptest::collection::btree_set(1u64..=u64::MAX, 0..64),
        probes in proptest::collection::vec(any::<u64>(), 64),
    ) {
        let mut starts: Vec<u64> = vec![0];
        starts.extend(cuts);
        let shards: Vec<ShardDescriptor> = starts.iter().enumerate().map(|(i, &start)| {
            let end = starts.get(i + 1).map_or(u64::MAX, |next| next - 1);
            ShardDescriptor { id: i as u64 + 1, range: HashRange { start, end }, epoch: Epoch::INITIAL, replicas: vec![1], learners: vec![] }
        }).collect();
        let map = ShardMap::from_shards(shards).expect("cut points give a valid map");
        routes_like_scan(&map, &probes)?;
    }
}
