//! Failure domains and quorum arithmetic: which single zone (or region) loss would cost a shard
//! its quorum. The planner's safety rule and the tests' checks are both stated with these
//! functions.

use std::collections::BTreeSet;

use crate::{Membership, NodeInfo, SurvivalGoal};

/// A failure domain: a zone within a region (zone goal) or a whole region (region goal).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailureDomain {
    /// The region.
    pub region: String,
    /// The zone within `region`, or `None` for a whole region.
    pub zone: Option<String>,
}

impl FailureDomain {
    /// The domain `node` belongs to under `goal`.
    pub fn of(goal: SurvivalGoal, node: &NodeInfo) -> FailureDomain {
        let (region, zone) = domain_key(goal, node);
        FailureDomain {
            region: region.to_owned(),
            zone: zone.map(str::to_owned),
        }
    }

    /// Whether `node` lies in this domain.
    pub fn contains(&self, node: &NodeInfo) -> bool {
        node.region == self.region && self.zone.as_ref().is_none_or(|z| *z == node.zone)
    }
}

/// Borrowed domain key used internally: (region, zone for the zone goal).
type DomainKey<'a> = (&'a str, Option<&'a str>);

fn domain_key(goal: SurvivalGoal, node: &NodeInfo) -> DomainKey<'_> {
    match goal {
        SurvivalGoal::Zone => (node.region.as_str(), Some(node.zone.as_str())),
        SurvivalGoal::Region => (node.region.as_str(), None),
    }
}

/// Votes needed to commit among `voters` voters: a strict majority.
pub fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Voters on live nodes (not `Down`; unknown nodes count as dead).
pub fn live_voters(membership: &Membership, voters: &[u64]) -> usize {
    voters
        .iter()
        .filter(|&&v| membership.get(v).is_some_and(|n| n.state.is_live()))
        .count()
}

/// Whether `voters` keep a quorum of live voters when every node of `lost` is gone as well
/// (`None`: nothing lost beyond `Down` nodes).
fn keeps_quorum(
    goal: SurvivalGoal,
    membership: &Membership,
    voters: &[u64],
    lost: Option<DomainKey<'_>>,
) -> bool {
    let alive = voters
        .iter()
        .filter_map(|&v| membership.get(v))
        .filter(|n| n.state.is_live() && Some(domain_key(goal, n)) != lost)
        .count();
    alive >= quorum(voters.len())
}

/// Whether `voters` have a quorum of live voters.
pub fn has_live_quorum(membership: &Membership, voters: &[u64]) -> bool {
    keeps_quorum(SurvivalGoal::Zone, membership, voters, None)
}

fn fragile_keys<'m>(
    goal: SurvivalGoal,
    membership: &'m Membership,
    configs: &[&[u64]],
) -> BTreeSet<DomainKey<'m>> {
    let universe: BTreeSet<DomainKey<'m>> =
        membership.nodes().map(|n| domain_key(goal, n)).collect();
    universe
        .into_iter()
        .filter(|&d| {
            configs
                .iter()
                .any(|voters| !keeps_quorum(goal, membership, voters, Some(d)))
        })
        .collect()
}

/// The domains (of any member node) whose loss would leave `voters` without a live quorum.
/// Empty means the shard survives the loss of any one domain. A shard already without a live
/// quorum reports every domain.
pub fn fragile_domains(
    goal: SurvivalGoal,
    membership: &Membership,
    voters: &[u64],
) -> Vec<FailureDomain> {
    to_owned(fragile_keys(goal, membership, &[voters]))
}

/// The domains whose loss would stall a joint-consensus change from `old` to `new` voters (a
/// commit needs a quorum of both): the union of both sides' fragile domains.
pub fn fragile_domains_joint(
    goal: SurvivalGoal,
    membership: &Membership,
    old: &[u64],
    new: &[u64],
) -> Vec<FailureDomain> {
    to_owned(fragile_keys(goal, membership, &[old, new]))
}

/// Number of fragile domains of a joint configuration; cheaper than the owned list.
pub(crate) fn fragile_count(
    goal: SurvivalGoal,
    membership: &Membership,
    configs: &[&[u64]],
) -> usize {
    fragile_keys(goal, membership, configs).len()
}

fn to_owned(keys: BTreeSet<DomainKey<'_>>) -> Vec<FailureDomain> {
    keys.into_iter()
        .map(|(region, zone)| FailureDomain {
            region: region.to_owned(),
            zone: zone.map(str::to_owned),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeInfo, NodeState};

    fn membership() -> Membership {
        let mut nodes: Vec<NodeInfo> = (1..=4)
            .map(|id| NodeInfo::up(id, "r1", format!("z{}", id.min(3))))
            .collect();
        nodes.push(NodeInfo::up(5, "r2", "z1"));
        nodes[2].state = NodeState::Down;
        Membership::new(nodes).expect("valid")
    }

    /// Three voters on three zones survive any zone; a same-zone fourth voter makes that zone
    /// fragile; a Down voter makes the other two fragile.
    #[test]
    fn fragility_examples() {
        let m = membership();
        let zone = SurvivalGoal::Zone;
        assert_eq!(quorum(3), 2);
        assert_eq!(quorum(4), 3);
        assert!(fragile_domains(zone, &m, &[1, 2, 5]).is_empty());
        let with_down = fragile_domains(zone, &m, &[1, 2, 3]);
        assert_eq!(with_down.len(), 2, "{with_down:?}");
        assert!(with_down.iter().all(|d| d.zone.as_deref() != Some("z3")));
        // Four voters, one Down: 3 live of 4 is a bare quorum, so every zone holding a live voter
        // (z1, z2, z3 of r1) is fragile; r2/z1 holds none of them.
        assert_eq!(fragile_domains(zone, &m, &[1, 2, 3, 4]).len(), 3);
        assert!(fragile_domains(zone, &m, &[1, 2, 4, 5]).is_empty());
        // Region goal: everything in r1 but one.
        let region = fragile_domains(SurvivalGoal::Region, &m, &[1, 2, 5]);
        assert_eq!(
            region,
            vec![FailureDomain {
                region: "r1".into(),
                zone: None
            }]
        );
        assert!(region[0].contains(m.get(4).expect("member")));
        // Joint: the union of both sides.
        let joint = fragile_domains_joint(zone, &m, &[1, 2, 5], &[1, 2, 3]);
        assert_eq!(joint.len(), 2);
        assert_eq!(live_voters(&m, &[1, 3, 9]), 1);
        assert!(!has_live_quorum(&m, &[1, 3, 9]));
        assert!(has_live_quorum(&m, &[1, 2, 3]));
    }
}
