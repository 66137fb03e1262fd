//! Placement planning: policy + membership + a shard's current layout -> the steps that bring it
//! to the layout the policy wants, never weakening its survival on the way.
//!
//! # How a plan is made
//! 1. **Target.** Voters are picked one at a time, each the best remaining candidate by, in
//!    order: not exceeding the per-domain cap (`(voters - 1) / 2` per zone, or per region for
//!    the region goal); for the region goal, a new region while fewer than
//!    `regions_needed` are covered, then the leader rank of its region; fewest voters already in
//!    its zone, then on its host; already a voter, then already a replica (no data to copy); least
//!    loaded ([`NodeLoad`]); lowest id. Candidates are `Up` nodes plus current voters on `Draining`
//!    nodes (which keep their replicas); the zone goal only looks in the home region. Learners:
//!    one per region that wants one (zone goal: every other region; region goal: every region
//!    without a voter), preferring the current learner. The preferred leader is an `Up` voter of
//!    the best leader rank, the current one if it qualifies.
//! 2. **Steps.** All new replicas are first added as learners (they catch up in parallel). Then,
//!    repeatedly, the first *safe* membership change among: remove a `Down` voter; remove a
//!    surplus voter; promote one learner; swap one learner for one voter in a joint change;
//!    promote all pending learners jointly; make every pending change in one joint change;
//!    remove a voter. Leadership is
//!    transferred before its holder is removed. Finally unneeded learners are removed and the
//!    leader is transferred to the target's.
//! 3. **Safety rule** (checked on every membership change, joint states included): a quorum of
//!    live voters remains; live voters never drop below `min(policy.voters, live voters at the
//!    start)`; and the number of failure domains whose loss would lose quorum
//!    ([`fragile_domains_joint`](crate::fragile_domains_joint)) never exceeds the start's. A change
//!    that no order makes safe is left out.
//!
//! # Degraded plans
//! Missing capacity (too few nodes, zones or regions; a move that would weaken survival) is not
//! an error: the plan does the best safe thing and [`Plan::violations`] lists what the result
//! still lacks. A one-node playground thus gets a one-voter plan flagged `TooFewVoters`, and a
//! decommission that can only be completed by stacking two voters in one zone is held back
//! (`ReplicaOnUnavailableNode` remains) instead of weakening the shard. Errors ([`PlanError`]) are
//! kept for inputs that allow no plan at all.

use std::collections::BTreeSet;

use crate::layout_check::check_layout;
use crate::survival::{fragile_count, has_live_quorum, live_voters};
use crate::{
    Membership, MoveError, NodeInfo, NodeLoad, NodeState, PlacementPolicy, PlacementStep,
    PlanError, PolicySet, ReplicaSet, ShardPlacement, SurvivalGoal, Violation,
};

/// The outcome of [`plan`]: steps to run in order, and what they achieve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Steps in execution order; empty when the layout already is the target (or nothing safe
    /// can be done).
    pub steps: Vec<PlacementStep>,
    /// The layout the planner aims for.
    pub target: ReplicaSet,
    /// The current layout with every step applied; equals `target` (see
    /// [`ReplicaSet::same_layout`]) unless a change was held back by the safety rule.
    pub result: ReplicaSet,
    /// What `result` still violates ([`check_layout`]); empty means the policy is met.
    pub violations: Vec<Violation>,
}

impl Plan {
    /// Whether the result falls short of the policy.
    pub fn is_degraded(&self) -> bool {
        !self.violations.is_empty()
    }
}

/// Plans the steps that move `current` towards what `policy` wants for a shard homed in
/// `home_region`, ties broken by node id. See [`plan_with_load`].
///
/// # Errors
/// As [`plan_with_load`].
pub fn plan(
    policy: &PlacementPolicy,
    home_region: &str,
    membership: &Membership,
    current: &ReplicaSet,
) -> Result<Plan, PlanError> {
    plan_with_load(
        policy,
        home_region,
        membership,
        current,
        &NodeLoad::default(),
    )
}

/// Plans the steps that move `current` towards what `policy` wants for a shard homed in
/// `home_region`, preferring the least loaded nodes for new replicas and leaderships.
///
/// Promises (see the module docs for the method):
/// - deterministic: the same arguments give the same plan;
/// - safe: after every step (and during every joint change) a live quorum remains, live voters
///   stay at or above `min(policy.voters, live voters now)`, and no more failure domains are
///   fragile than now;
/// - idempotent: planning again from `result` gives no steps;
/// - `Draining` nodes keep their replicas but not leadership; `Down` and `Decommissioned` nodes'
///   replicas are re-created elsewhere (when that is safe).
///
/// # Errors
/// [`PlanError::Policy`], [`PlanError::BadReplicaSet`], [`PlanError::UnknownNode`],
/// [`PlanError::NoQuorum`], [`PlanError::NoCandidates`].
pub fn plan_with_load(
    policy: &PlacementPolicy,
    home_region: &str,
    membership: &Membership,
    current: &ReplicaSet,
    load: &NodeLoad,
) -> Result<Plan, PlanError> {
    let ctx = Ctx::new(policy, home_region, membership, current)?;
    let target = ctx.target(current, load)?;
    let steps = ctx.schedule(current, &target, load);
    let result = apply_checked(current, &steps);
    let violations = check_layout(policy, home_region, membership, &result);
    Ok(Plan {
        steps,
        target,
        result,
        violations,
    })
}

/// Plans the manual move of `shard`'s replica from node `from` to node `to`
/// (`orderctl shard move ID --from N --to M`), keeping its role (voter or learner). The steps
/// follow the same safety rule as [`plan`]; when `from` is the preferred leader, leadership goes
/// to the best remaining voter first.
///
/// # Errors
/// [`MoveError::SameNode`], [`MoveError::UnknownNode`], [`MoveError::NotAReplica`],
/// [`MoveError::AlreadyAReplica`], [`MoveError::TargetNotUp`], [`MoveError::BreaksPolicy`] (the
/// moved layout violates the policy in a way the current one does not),
/// [`MoveError::WouldWeakenSurvival`] (no safe order exists), [`MoveError::Plan`] (invalid policy
/// or replicas, no quorum).
pub fn plan_move(
    policies: &PolicySet,
    membership: &Membership,
    shard: &ShardPlacement,
    from: u64,
    to: u64,
) -> Result<Vec<PlacementStep>, MoveError> {
    let policy = policies.get(shard.keyspace);
    let home = shard.home_region.as_str();
    let current = &shard.replicas;
    let ctx = Ctx::new(policy, home, membership, current)?;
    if from == to {
        return Err(MoveError::SameNode(from));
    }
    membership.get(from).ok_or(MoveError::UnknownNode(from))?;
    let target_node = membership.get(to).ok_or(MoveError::UnknownNode(to))?;
    if !current.contains(from) {
        return Err(MoveError::NotAReplica(from));
    }
    if current.contains(to) {
        return Err(MoveError::AlreadyAReplica(to));
    }
    if !target_node.state.accepts_replicas() {
        return Err(MoveError::TargetNotUp {
            node: to,
            state: target_node.state,
        });
    }
    let swap = |ids: &[u64]| -> Vec<u64> {
        ids.iter()
            .map(|&id| if id == from { to } else { id })
            .collect()
    };
    let mut target = ReplicaSet::new(swap(&current.voters), swap(&current.learners));
    if current.leader() == Some(from) {
        // `from` leaves: the best remaining voter leads (possibly `to` itself).
        let leader = ctx.choose_leader(&target.voters, None, &NodeLoad::default());
        target = with_leader(target.voters, leader, target.learners);
    }
    let before = check_layout(policy, home, membership, current);
    if let Some(v) = check_layout(policy, home, membership, &target)
        .into_iter()
        .find(|v| !before.contains(v))
    {
        return Err(MoveError::BreaksPolicy(v));
    }
    let steps = ctx.schedule(current, &target, &NodeLoad::default());
    let result = apply_checked(current, &steps);
    let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
    if set(&result.voters) != set(&target.voters) || set(&result.learners) != set(&target.learners)
    {
        return Err(MoveError::WouldWeakenSurvival);
    }
    Ok(steps)
}

/// Applies steps the scheduler produced; it only emits steps it has applied to its own copy.
fn apply_checked(current: &ReplicaSet, steps: &[PlacementStep]) -> ReplicaSet {
    current
        .apply_all(steps)
        .unwrap_or_else(|(i, fault)| panic!("scheduler emitted inapplicable step {i}: {fault}"))
}

/// `voters` reordered with `leader` first (others by id), or as given when `leader` is `None`.
fn with_leader(mut voters: Vec<u64>, leader: Option<u64>, mut learners: Vec<u64>) -> ReplicaSet {
    voters.sort_unstable();
    if let Some(l) = leader {
        voters.retain(|&v| v != l);
        voters.insert(0, l);
    }
    learners.sort_unstable();
    ReplicaSet::new(voters, learners)
}

/// Validated inputs shared by target selection and scheduling.
pub(crate) struct Ctx<'a> {
    policy: &'a PlacementPolicy,
    home: &'a str,
    membership: &'a Membership,
}

/// Ranking key of a voter candidate; lower is better. See the module docs for the order.
type VoterKey = (bool, bool, usize, usize, usize, bool, bool, u64, u64);

impl<'a> Ctx<'a> {
    /// Checks policy, replicas, membership and quorum.
    fn new(
        policy: &'a PlacementPolicy,
        home: &'a str,
        membership: &'a Membership,
        current: &ReplicaSet,
    ) -> Result<Ctx<'a>, PlanError> {
        policy.validate()?;
        current.check().map_err(PlanError::BadReplicaSet)?;
        if let Some(unknown) = current.nodes().find(|&id| membership.get(id).is_none()) {
            return Err(PlanError::UnknownNode(unknown));
        }
        if !has_live_quorum(membership, &current.voters) {
            return Err(PlanError::NoQuorum {
                voters: current.voters.len(),
                live: live_voters(membership, &current.voters),
            });
        }
        Ok(Ctx {
            policy,
            home,
            membership,
        })
    }

    fn node(&self, id: u64) -> &'a NodeInfo {
        // Every id reaching here is a member: `new` checked the current replicas, and targets
        // are chosen from the membership.
        self.membership
            .get(id)
            .expect("planner only handles member nodes")
    }

    fn rank(&self, node: &NodeInfo) -> usize {
        self.policy.leader_rank(self.home, &node.region)
    }

    /// The preferred leader among `voters`: an `Up` voter of the best leader rank; `current` if
    /// it is one, else the one with fewest leaderships, then lowest id. Without an `Up` voter:
    /// `current` if still a voter, else the first voter.
    pub(crate) fn choose_leader(
        &self,
        voters: &[u64],
        current: Option<u64>,
        load: &NodeLoad,
    ) -> Option<u64> {
        let eligible: Vec<&NodeInfo> = voters
            .iter()
            .map(|&v| self.node(v))
            .filter(|n| n.state.may_lead())
            .collect();
        let Some(best) = eligible.iter().map(|n| self.rank(n)).min() else {
            return current
                .filter(|c| voters.contains(c))
                .or(voters.first().copied());
        };
        let best_nodes: Vec<&&NodeInfo> =
            eligible.iter().filter(|n| self.rank(n) == best).collect();
        if let Some(c) = current.filter(|c| best_nodes.iter().any(|n| n.id == *c)) {
            return Some(c);
        }
        best_nodes
            .iter()
            .min_by_key(|n| (load.leaders(n.id), n.id))
            .map(|n| n.id)
    }

    /// The layout the policy wants, given the current one (module docs, step 1).
    fn target(&self, current: &ReplicaSet, load: &NodeLoad) -> Result<ReplicaSet, PlanError> {
        let goal = self.policy.survival_goal;
        let pool: Vec<&NodeInfo> = self
            .membership
            .nodes()
            .filter(|n| {
                let state_ok = n.state.accepts_replicas()
                    || (n.state.keeps_replicas() && current.is_voter(n.id));
                state_ok && (goal == SurvivalGoal::Region || n.region == self.home)
            })
            .collect();
        if pool.is_empty() {
            return Err(PlanError::NoCandidates {
                region: (goal == SurvivalGoal::Zone).then(|| self.home.to_owned()),
            });
        }
        let want = usize::try_from(self.policy.voters).unwrap_or(usize::MAX);
        let mut chosen: Vec<&NodeInfo> = Vec::with_capacity(want);
        while chosen.len() < want {
            let best = pool
                .iter()
                .filter(|n| !chosen.iter().any(|c| c.id == n.id))
                .min_by_key(|n| self.voter_key(n, &chosen, current, load));
            match best {
                Some(n) => chosen.push(n),
                None => break,
            }
        }
        let voter_ids: Vec<u64> = chosen.iter().map(|n| n.id).collect();
        let leader = self.choose_leader(&voter_ids, current.leader(), load);

        // Learners: one per region that wants one.
        let voter_regions: BTreeSet<&str> = chosen.iter().map(|n| n.region.as_str()).collect();
        let mut learners = Vec::new();
        for region in self.membership.regions() {
            let wants = match goal {
                SurvivalGoal::Zone => region != self.home,
                SurvivalGoal::Region => !voter_regions.contains(region),
            };
            if !wants {
                continue;
            }
            let best = self
                .membership
                .nodes()
                .filter(|n| n.region == region && !voter_ids.contains(&n.id))
                .filter(|n| {
                    n.state.accepts_replicas()
                        || (n.state.keeps_replicas() && current.is_learner(n.id))
                })
                .min_by_key(|n| {
                    (
                        !current.is_learner(n.id),
                        !current.contains(n.id),
                        load.replicas(n.id),
                        n.id,
                    )
                });
            if let Some(n) = best {
                learners.push(n.id);
            }
        }
        Ok(with_leader(voter_ids, leader, learners))
    }

    fn voter_key(
        &self,
        n: &NodeInfo,
        chosen: &[&NodeInfo],
        current: &ReplicaSet,
        load: &NodeLoad,
    ) -> VoterKey {
        let cap = self.policy.max_voters_per_domain();
        let in_zone = chosen
            .iter()
            .filter(|c| c.region == n.region && c.zone == n.zone)
            .count();
        let on_host = n.host.as_ref().map_or(0, |h| {
            chosen.iter().filter(|c| c.host.as_ref() == Some(h)).count()
        });
        let (over_cap, region_reuse, rank) = match self.policy.survival_goal {
            SurvivalGoal::Zone => (in_zone >= cap, false, 0),
            SurvivalGoal::Region => {
                let in_region = chosen.iter().filter(|c| c.region == n.region).count();
                let covered: BTreeSet<&str> = chosen.iter().map(|c| c.region.as_str()).collect();
                (
                    in_region >= cap,
                    covered.len() < self.policy.regions_needed() && in_region > 0,
                    self.rank(n),
                )
            }
        };
        (
            over_cap,
            region_reuse,
            rank,
            in_zone,
            on_host,
            !current.is_voter(n.id),
            !current.contains(n.id),
            load.replicas(n.id),
            n.id,
        )
    }

    /// The steps from `current` to `target` (module docs, step 2), each checked by the safety
    /// rule; changes no order makes safe are left out.
    fn schedule(
        &self,
        current: &ReplicaSet,
        target: &ReplicaSet,
        load: &NodeLoad,
    ) -> Vec<PlacementStep> {
        let goal = self.policy.survival_goal;
        let live_start = live_voters(self.membership, &current.voters);
        let mut run = Run {
            ctx: self,
            state: current.clone(),
            steps: Vec::new(),
            max_fragile: fragile_count(goal, self.membership, &[&current.voters]),
            min_live: live_start.min(usize::try_from(self.policy.voters).unwrap_or(usize::MAX)),
        };
        let target_leader = target.leader();
        let up = |id: u64| self.node(id).state.may_lead();

        // 0. Move leadership early when the target leader already votes (drains are fast).
        if let Some(tl) = target_leader
            && run.state.leader() != Some(tl)
            && run.state.is_voter(tl)
            && up(tl)
        {
            run.push(PlacementStep::TransferLeader { to: tl });
        }
        // 1. Every new replica starts as a learner.
        for &node in target.voters.iter().chain(&target.learners) {
            if !run.state.contains(node) {
                run.push(PlacementStep::AddLearner { node });
            }
        }
        // 2. Voter changes, safest first.
        loop {
            let promote: Vec<u64> = target
                .voters
                .iter()
                .copied()
                .filter(|&v| run.state.is_learner(v))
                .collect();
            let remove: Vec<u64> = run
                .state
                .voters
                .iter()
                .copied()
                .filter(|v| !target.is_voter(*v))
                .collect();
            if promote.is_empty() && remove.is_empty() {
                break;
            }
            let Some(step) = self
                .candidates(&run.state, target, &promote, &remove)
                .into_iter()
                .find(|s| run.is_safe(s))
            else {
                break;
            };
            run.membership_change(step, target_leader, load);
        }
        // Learners added for a promotion that no safe order allows would only be dead weight:
        // drop their AddLearner (learner steps do not affect the voter changes around them).
        let stranded: Vec<u64> = target
            .voters
            .iter()
            .copied()
            .filter(|&v| run.state.is_learner(v) && !current.contains(v))
            .collect();
        if !stranded.is_empty() {
            run.steps.retain(
                |s| !matches!(s, PlacementStep::AddLearner { node } if stranded.contains(node)),
            );
            run.state.learners.retain(|l| !stranded.contains(l));
        }
        // 3. Learner clean-up, and learners for demoted voters.
        let unwanted: Vec<u64> = run
            .state
            .learners
            .iter()
            .copied()
            .filter(|l| !target.contains(*l))
            .collect();
        for node in unwanted {
            run.push(PlacementStep::RemoveReplica { node });
        }
        for &node in &target.learners {
            if !run.state.contains(node) {
                run.push(PlacementStep::AddLearner { node });
            }
        }
        // 4. Final leader.
        let leader = match target_leader {
            Some(tl) if run.state.is_voter(tl) => Some(tl),
            _ => self.choose_leader(&run.state.voters, run.state.leader(), load),
        };
        if let Some(l) = leader
            && run.state.leader() != Some(l)
            && up(l)
        {
            run.push(PlacementStep::TransferLeader { to: l });
        }
        run.steps
    }

    /// Candidate voter changes in preference order (module docs, step 2).
    fn candidates(
        &self,
        state: &ReplicaSet,
        target: &ReplicaSet,
        promote: &[u64],
        remove: &[u64],
    ) -> Vec<PlacementStep> {
        let state_of = |id: u64| self.node(id).state;
        let mut out = Vec::new();
        let remove_one = |node| PlacementStep::RemoveReplica { node };
        out.extend(
            remove
                .iter()
                .filter(|&&r| state_of(r) == NodeState::Down)
                .map(|&r| remove_one(r)),
        );
        if state.voters.len() > target.voters.len() {
            // Decommissioned first, then Draining, then Up (NodeState order puts Up first).
            let mut surplus = remove.to_vec();
            surplus.sort_by_key(|&r| (std::cmp::Reverse(state_of(r)), r));
            out.extend(surplus.into_iter().map(remove_one));
        }
        out.extend(
            promote
                .iter()
                .map(|&node| PlacementStep::PromoteLearner { node }),
        );
        for &p in promote {
            for &r in remove {
                out.push(PlacementStep::JointChange {
                    promote: vec![p],
                    remove: vec![r],
                });
            }
        }
        if promote.len() >= 2 {
            out.push(PlacementStep::JointChange {
                promote: promote.to_vec(),
                remove: vec![],
            });
        }
        // Everything at once (also several removals at once: shrinking 5 voters on 3 zones to
        // 3 passes through a fragile 4 when done one by one).
        // (One promotion and one removal is the pair swap above.)
        let pair = promote.len() == 1 && remove.len() == 1;
        if !remove.is_empty() && promote.len() + remove.len() >= 2 && !pair {
            out.push(PlacementStep::JointChange {
                promote: promote.to_vec(),
                remove: remove.to_vec(),
            });
        }
        out.extend(remove.iter().map(|&r| remove_one(r)));
        out
    }
}

/// The scheduler's running state: the layout so far and the safety bounds from the start.
struct Run<'c, 'a> {
    ctx: &'c Ctx<'a>,
    state: ReplicaSet,
    steps: Vec<PlacementStep>,
    /// Fragile domains of the starting layout: never exceeded.
    max_fragile: usize,
    /// `min(policy.voters, live voters at the start)`: never undercut.
    min_live: usize,
}

impl Run<'_, '_> {
    fn push(&mut self, step: PlacementStep) {
        self.state = self
            .state
            .apply(&step)
            .unwrap_or_else(|fault| panic!("planner built an inapplicable step {step}: {fault}"));
        self.steps.push(step);
    }

    /// The safety rule for one membership change from the current state.
    fn is_safe(&self, step: &PlacementStep) -> bool {
        let Ok(next) = self.state.apply(step) else {
            return false;
        };
        let m = self.ctx.membership;
        has_live_quorum(m, &next.voters)
            && live_voters(m, &next.voters) >= self.min_live
            && fragile_count(
                self.ctx.policy.survival_goal,
                m,
                &[&self.state.voters, &next.voters],
            ) <= self.max_fragile
    }

    /// Runs a membership change, first handing leadership away if the change removes the
    /// preferred leader and an `Up` voter stays.
    fn membership_change(
        &mut self,
        step: PlacementStep,
        target_leader: Option<u64>,
        load: &NodeLoad,
    ) {
        let removed: &[u64] = match &step {
            PlacementStep::RemoveReplica { node } => std::slice::from_ref(node),
            PlacementStep::JointChange { remove, .. } => remove,
            _ => &[],
        };
        if let Some(leader) = self.state.leader().filter(|l| removed.contains(l)) {
            let staying: Vec<u64> = self
                .state
                .voters
                .iter()
                .copied()
                .filter(|v| !removed.contains(v))
                .collect();
            let to = target_leader
                .filter(|t| staying.contains(t) && self.ctx.node(*t).state.may_lead())
                .or_else(|| {
                    self.ctx
                        .choose_leader(&staying, None, load)
                        .filter(|&c| self.ctx.node(c).state.may_lead())
                });
            if let Some(to) = to.filter(|&t| t != leader) {
                self.push(PlacementStep::TransferLeader { to });
            }
        }
        self.push(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlacementStep::*;

    fn zone_cluster(per_zone: u64) -> Membership {
        // Nodes 1.. in zones z1, z2, z3 round-robin, region r1.
        Membership::new(
            (1..=3 * per_zone)
                .map(|id| NodeInfo::up(id, "r1", format!("z{}", (id - 1) % 3 + 1)))
                .collect(),
        )
        .expect("valid")
    }

    /// A healthy 3-zone layout needs nothing; re-planning is a no-op.
    #[test]
    fn healthy_layout_is_left_alone() {
        let m = zone_cluster(1);
        let p = plan(
            &PlacementPolicy::default(),
            "r1",
            &m,
            &ReplicaSet::new(vec![1, 2, 3], vec![]),
        )
        .expect("plans");
        assert_eq!(p.steps, vec![]);
        assert!(!p.is_degraded(), "{:?}", p.violations);
    }

    /// Scenario: the leader's node is decommissioned in a 6-node, 3-zone cluster. The only
    /// replacement keeping zones distinct is in the same zone, so the swap is one joint change
    /// (promote-then-remove would pass through 4 voters with 2 in one zone). Leadership moves
    /// first.
    #[test]
    fn decommission_in_full_zone_uses_joint_swap() {
        let mut m = zone_cluster(2);
        m.set_state(1, NodeState::Decommissioned).expect("member");
        let current = ReplicaSet::new(vec![1, 2, 3], vec![]);
        let p = plan(&PlacementPolicy::default(), "r1", &m, &current).expect("plans");
        assert_eq!(
            p.steps,
            vec![
                TransferLeader { to: 2 },
                AddLearner { node: 4 },
                JointChange {
                    promote: vec![4],
                    remove: vec![1]
                },
            ]
        );
        assert!(!p.is_degraded(), "{:?}", p.violations);
    }

    /// Scenario: a Down voter is removed first, then its replacement is added and promoted.
    #[test]
    fn down_voter_is_replaced() {
        let mut m = zone_cluster(2);
        m.set_state(3, NodeState::Down).expect("member");
        let p = plan(
            &PlacementPolicy::default(),
            "r1",
            &m,
            &ReplicaSet::new(vec![1, 2, 3], vec![]),
        )
        .expect("plans");
        assert_eq!(
            p.steps,
            vec![
                AddLearner { node: 6 },
                RemoveReplica { node: 3 },
                PromoteLearner { node: 6 },
            ]
        );
        assert!(!p.is_degraded());
    }

    /// Scenario: moving to a fresh zone uses the plain add -> promote -> remove order.
    #[test]
    fn move_to_fresh_zone_is_plain() {
        let m = Membership::new(vec![
            NodeInfo::up(1, "r1", "z1"),
            NodeInfo::up(2, "r1", "z2"),
            NodeInfo::up(3, "r1", "z2"),
            NodeInfo::up(4, "r1", "z3"),
        ])
        .expect("valid");
        let p = plan(
            &PlacementPolicy::default(),
            "r1",
            &m,
            &ReplicaSet::new(vec![1, 2, 3], vec![]),
        )
        .expect("plans");
        assert_eq!(
            p.steps,
            vec![
                AddLearner { node: 4 },
                PromoteLearner { node: 4 },
                RemoveReplica { node: 3 },
            ]
        );
    }

    /// Growing from one voter to three promotes both learners in one joint change: a 2-voter
    /// intermediate would make two zones fragile instead of one.
    #[test]
    fn growth_from_one_voter_is_joint() {
        let m = zone_cluster(1);
        let p = plan(
            &PlacementPolicy::default(),
            "r1",
            &m,
            &ReplicaSet::new(vec![1], vec![]),
        )
        .expect("plans");
        assert_eq!(
            p.steps,
            vec![
                AddLearner { node: 2 },
                AddLearner { node: 3 },
                JointChange {
                    promote: vec![2, 3],
                    remove: vec![]
                },
            ]
        );
    }

    /// A Draining leader hands leadership over but keeps its replica.
    #[test]
    fn draining_loses_leadership_only() {
        let mut m = zone_cluster(1);
        m.set_state(1, NodeState::Draining).expect("member");
        let p = plan(
            &PlacementPolicy::default(),
            "r1",
            &m,
            &ReplicaSet::new(vec![1, 2, 3], vec![]),
        )
        .expect("plans");
        assert_eq!(p.steps, vec![TransferLeader { to: 2 }]);
        assert!(!p.is_degraded());
    }

    /// Degraded, not failed: one node, three voters wanted.
    #[test]
    fn single_node_playground_is_degraded() {
        let one = Membership::new(vec![NodeInfo::up(1, "local", "z1")]).expect("valid");
        let p = plan(
            &PlacementPolicy::default(),
            "local",
            &one,
            &ReplicaSet::new(vec![1], vec![]),
        )
        .expect("plans");
        assert_eq!(p.steps, vec![]);
        assert_eq!(
            p.violations,
            vec![Violation::TooFewVoters { have: 1, want: 3 }]
        );
    }

    /// Decommissioning when the only replacement shares a zone with a remaining voter would
    /// make that zone fragile: the move is held back and reported.
    #[test]
    fn unsafe_decommission_is_held_back() {
        let mut m = Membership::new(vec![
            NodeInfo::up(1, "r1", "z1"),
            NodeInfo::up(2, "r1", "z2"),
            NodeInfo::up(3, "r1", "z3"),
            NodeInfo::up(4, "r1", "z1"),
        ])
        .expect("valid");
        m.set_state(3, NodeState::Decommissioned).expect("member");
        let p = plan(
            &PlacementPolicy::default(),
            "r1",
            &m,
            &ReplicaSet::new(vec![1, 2, 3], vec![]),
        )
        .expect("plans");
        assert_eq!(p.steps, vec![], "nothing safe to do");
        assert!(p.result.is_voter(3));
        assert!(p.violations.contains(&Violation::ReplicaOnUnavailableNode {
            node: 3,
            state: NodeState::Decommissioned
        }));
    }

    #[test]
    fn typed_errors() {
        let mut m = zone_cluster(1);
        let policy = PlacementPolicy::default();
        assert_eq!(
            plan(&policy, "r1", &m, &ReplicaSet::new(vec![1, 9], vec![])),
            Err(PlanError::UnknownNode(9))
        );
        assert_eq!(
            plan(&policy, "r1", &m, &ReplicaSet::new(vec![], vec![1])),
            Err(PlanError::BadReplicaSet(crate::ReplicaFault::Empty))
        );
        assert_eq!(
            plan(&policy, "elsewhere", &m, &ReplicaSet::new(vec![1], vec![])),
            Err(PlanError::NoCandidates {
                region: Some("elsewhere".into())
            })
        );
        assert_eq!(
            plan(
                &PlacementPolicy::zone(0),
                "r1",
                &m,
                &ReplicaSet::new(vec![1], vec![])
            ),
            Err(PlanError::Policy(crate::PolicyError::ZeroVoters))
        );
        m.set_state(2, NodeState::Down).expect("member");
        m.set_state(3, NodeState::Down).expect("member");
        assert_eq!(
            plan(&policy, "r1", &m, &ReplicaSet::new(vec![1, 2, 3], vec![])),
            Err(PlanError::NoQuorum { voters: 3, live: 1 })
        );
    }

    /// Manual moves: the happy path, and each refusal.
    #[test]
    fn manual_moves() {
        let mut m = zone_cluster(2);
        let shard = ShardPlacement {
            shard_id: 7,
            keyspace: crate::Keyspace::Orders,
            home_region: "r1".into(),
            replicas: ReplicaSet::new(vec![1, 2, 3], vec![]),
        };
        let policies = PolicySet::default();
        let steps = plan_move(&policies, &m, &shard, 1, 4).expect("same-zone move is fine");
        let end = shard.replicas.apply_all(&steps).expect("applies");
        assert!(end.is_voter(4) && !end.contains(1));
        assert_ne!(end.leader(), Some(1));
        assert_eq!(
            plan_move(&policies, &m, &shard, 1, 1),
            Err(MoveError::SameNode(1))
        );
        assert_eq!(
            plan_move(&policies, &m, &shard, 4, 5),
            Err(MoveError::NotAReplica(4))
        );
        assert_eq!(
            plan_move(&policies, &m, &shard, 1, 2),
            Err(MoveError::AlreadyAReplica(2))
        );
        assert_eq!(
            plan_move(&policies, &m, &shard, 1, 99),
            Err(MoveError::UnknownNode(99))
        );
        // Node 5 is in z2 with voter 2: the move stacks two voters in z2.
        assert!(matches!(
            plan_move(&policies, &m, &shard, 1, 5),
            Err(MoveError::BreaksPolicy(Violation::ZoneOverloaded { .. }))
        ));
        m.set_state(4, NodeState::Draining).expect("member");
        assert_eq!(
            plan_move(&policies, &m, &shard, 1, 4),
            Err(MoveError::TargetNotUp {
                node: 4,
                state: NodeState::Draining
            })
        );
    }
}
