//! Checking a replica layout against a placement policy: the list of ways it falls short.
//!
//! [`check_layout`] is the single definition of "this layout satisfies the policy": the planner
//! reports what its result still violates (a degraded plan), `plan_move` refuses moves that add a
//! violation, and the tests assert on it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{Membership, NodeState, PlacementPolicy, ReplicaSet, SurvivalGoal};

/// One way a layout falls short of its policy. Sorted by kind in [`check_layout`]'s output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Violation {
    /// A replica sits on a node that is `Down` or `Decommissioned`.
    ReplicaOnUnavailableNode {
        /// The node.
        node: u64,
        /// Its state.
        state: NodeState,
    },
    /// Fewer voters on serving (`Up`/`Draining`) nodes than the policy asks for.
    TooFewVoters {
        /// Serving voters.
        have: usize,
        /// `policy.voters`.
        want: usize,
    },
    /// More voters than the policy asks for.
    TooManyVoters {
        /// Voters.
        have: usize,
        /// `policy.voters`.
        want: usize,
    },
    /// Zone goal: a voter outside the home region.
    VoterOutsideHomeRegion {
        /// The node.
        node: u64,
        /// Its region.
        region: String,
    },
    /// Zone goal: a zone holds more voters than `(voters - 1) / 2`, so losing it loses quorum.
    ZoneOverloaded {
        /// The zone's region.
        region: String,
        /// The zone.
        zone: String,
        /// Serving voters in it.
        voters: usize,
        /// The cap.
        max: usize,
    },
    /// Region goal: a region holds more voters than `(voters - 1) / 2`.
    RegionOverloaded {
        /// The region.
        region: String,
        /// Serving voters in it.
        voters: usize,
        /// The cap.
        max: usize,
    },
    /// Region goal: the serving voters span fewer regions than needed.
    TooFewRegions {
        /// Regions spanned.
        have: usize,
        /// [`PlacementPolicy::regions_needed`].
        want: usize,
    },
    /// A region that should hold a learner (zone goal: every region but home; region goal: every
    /// region without a voter) has an `Up` node but no serving learner.
    MissingLearner {
        /// The region.
        region: String,
    },
    /// A learner the policy does not ask for (in the home region or a region with voters, or a
    /// second learner in a region).
    ExtraLearner {
        /// The node.
        node: u64,
    },
    /// The preferred leader may not lead (not `Up`) while an `Up` voter exists.
    LeaderNotEligible {
        /// The preferred leader.
        node: u64,
        /// Its state.
        state: NodeState,
    },
    /// The preferred leader is `Up` but in a less preferred region than another `Up` voter.
    LeaderNotPreferred {
        /// The preferred leader.
        node: u64,
        /// Its region.
        region: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ReplicaOnUnavailableNode { node, state } => {
                write!(f, "replica on node {node}, which is {state:?}")
            }
            Violation::TooFewVoters { have, want } => write!(f, "{have} of {want} voters"),
            Violation::TooManyVoters { have, want } => write!(f, "{have} voters, want {want}"),
            Violation::VoterOutsideHomeRegion { node, region } => {
                write!(f, "voter {node} is in region {region}, not the home region")
            }
            Violation::ZoneOverloaded {
                region,
                zone,
                voters,
                max,
            } => write!(f, "zone {region}/{zone} holds {voters} voters, max {max}"),
            Violation::RegionOverloaded {
                region,
                voters,
                max,
            } => write!(f, "region {region} holds {voters} voters, max {max}"),
            Violation::TooFewRegions { have, want } => {
                write!(f, "voters span {have} regions, need {want}")
            }
            Violation::MissingLearner { region } => write!(f, "no learner in region {region}"),
            Violation::ExtraLearner { node } => write!(f, "learner {node} is not needed"),
            Violation::LeaderNotEligible { node, state } => {
                write!(f, "preferred leader {node} is {state:?}")
            }
            Violation::LeaderNotPreferred { node, region } => {
                write!(
                    f,
                    "preferred leader {node} is in less preferred region {region}"
                )
            }
        }
    }
}

/// Every way `layout` falls short of `policy` for a shard homed in `home_region`; empty when it
/// satisfies the policy. Replicas on nodes unknown to `membership` are ignored (the planner
/// refuses such layouts). Deterministic: the same input gives the same list in the same order.
pub fn check_layout(
    policy: &PlacementPolicy,
    home_region: &str,
    membership: &Membership,
    layout: &ReplicaSet,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let want = usize::try_from(policy.voters).unwrap_or(usize::MAX);
    let cap = policy.max_voters_per_domain();
    for node in layout.nodes().filter_map(|id| membership.get(id)) {
        if !node.state.keeps_replicas() {
            out.push(Violation::ReplicaOnUnavailableNode {
                node: node.id,
                state: node.state,
            });
        }
    }
    let serving = |ids: &[u64]| {
        ids.iter()
            .filter_map(|&id| membership.get(id))
            .filter(|n| n.state.keeps_replicas())
            .collect::<Vec<_>>()
    };
    let voters = serving(&layout.voters);
    if voters.len() < want {
        out.push(Violation::TooFewVoters {
            have: voters.len(),
            want,
        });
    }
    if layout.voters.len() > want {
        out.push(Violation::TooManyVoters {
            have: layout.voters.len(),
            want,
        });
    }
    match policy.survival_goal {
        SurvivalGoal::Zone => {
            let mut zones: BTreeMap<(&str, &str), usize> = BTreeMap::new();
            for v in &voters {
                if v.region != home_region {
                    out.push(Violation::VoterOutsideHomeRegion {
                        node: v.id,
                        region: v.region.clone(),
                    });
                }
                *zones.entry((&v.region, &v.zone)).or_default() += 1;
            }
            for ((region, zone), count) in zones {
                if count > cap {
                    out.push(Violation::ZoneOverloaded {
                        region: region.to_owned(),
                        zone: zone.to_owned(),
                        voters: count,
                        max: cap,
                    });
                }
            }
        }
        SurvivalGoal::Region => {
            let mut regions: BTreeMap<&str, usize> = BTreeMap::new();
            for v in &voters {
                *regions.entry(&v.region).or_default() += 1;
            }
            for (&region, &count) in &regions {
                if count > cap {
                    out.push(Violation::RegionOverloaded {
                        region: region.to_owned(),
                        voters: count,
                        max: cap,
                    });
                }
            }
            if regions.len() < policy.regions_needed() {
                out.push(Violation::TooFewRegions {
                    have: regions.len(),
                    want: policy.regions_needed(),
                });
            }
        }
    }
    // Learners: one per region that wants one.
    let voter_regions: BTreeSet<&str> = voters.iter().map(|v| v.region.as_str()).collect();
    let wants_learner = |region: &str| match policy.survival_goal {
        SurvivalGoal::Zone => region != home_region,
        SurvivalGoal::Region => !voter_regions.contains(region),
    };
    let mut learner_regions: BTreeSet<&str> = BTreeSet::new();
    for l in serving(&layout.learners) {
        if !wants_learner(&l.region) || !learner_regions.insert(&l.region) {
            out.push(Violation::ExtraLearner { node: l.id });
        }
    }
    for region in membership.regions() {
        let has_up = membership
            .nodes()
            .any(|n| n.region == region && n.state == NodeState::Up);
        if wants_learner(region) && has_up && !learner_regions.contains(region) {
            out.push(Violation::MissingLearner {
                region: region.to_owned(),
            });
        }
    }
    // Leader.
    let up_voters: Vec<_> = voters
        .iter()
        .filter(|v| v.state.may_lead())
        .copied()
        .collect();
    let best_rank = up_voters
        .iter()
        .map(|v| policy.leader_rank(home_region, &v.region))
        .min();
    if let (Some(leader), Some(best)) =
        (layout.leader().and_then(|id| membership.get(id)), best_rank)
    {
        if !leader.state.may_lead() {
            out.push(Violation::LeaderNotEligible {
                node: leader.id,
                state: leader.state,
            });
        } else if policy.leader_rank(home_region, &leader.region) > best {
            out.push(Violation::LeaderNotPreferred {
                node: leader.id,
                region: leader.region.clone(),
            });
        }
    }
    out
}
