//! A shard's replica layout: which nodes vote, which only learn, and who should lead.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{PlacementStep, ReplicaFault, ShardDescriptor, StepFault};

/// The voters and learners of one shard, desired or actual.
///
/// `voters[0]` is the preferred leader, as in [`ShardDescriptor::replicas`]; the order of the
/// other voters and of the learners carries no meaning (compare with [`ReplicaSet::same_layout`]).
/// A valid set ([`ReplicaSet::check`]) has at least one voter and names no node twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaSet {
    /// Voting replicas; the first is the preferred leader.
    pub voters: Vec<u64>,
    /// Non-voting replicas (read-only, e.g. for bounded-staleness reads in other regions).
    pub learners: Vec<u64>,
}

impl ReplicaSet {
    /// A set with these voters (preferred leader first) and learners.
    pub fn new(voters: Vec<u64>, learners: Vec<u64>) -> ReplicaSet {
        ReplicaSet { voters, learners }
    }

    /// The layout of a shard descriptor: its `replicas` vote, its `learners` learn.
    pub fn of(shard: &ShardDescriptor) -> ReplicaSet {
        ReplicaSet {
            voters: shard.replicas.clone(),
            learners: shard.learners.clone(),
        }
    }

    /// The preferred leader, `voters[0]`.
    pub fn leader(&self) -> Option<u64> {
        self.voters.first().copied()
    }

    /// Whether `node` is a voter.
    pub fn is_voter(&self, node: u64) -> bool {
        self.voters.contains(&node)
    }

    /// Whether `node` is a learner.
    pub fn is_learner(&self, node: u64) -> bool {
        self.learners.contains(&node)
    }

    /// Whether `node` holds any replica.
    pub fn contains(&self, node: u64) -> bool {
        self.is_voter(node) || self.is_learner(node)
    }

    /// Every node holding a replica: voters, then learners.
    pub fn nodes(&self) -> impl Iterator<Item = u64> + '_ {
        self.voters.iter().chain(&self.learners).copied()
    }

    /// Same leader, same voter set, same learner set (other orders ignored).
    pub fn same_layout(&self, other: &ReplicaSet) -> bool {
        let set = |v: &[u64]| v.iter().copied().collect::<HashSet<u64>>();
        self.leader() == other.leader()
            && set(&self.voters) == set(&other.voters)
            && set(&self.learners) == set(&other.learners)
    }

    /// Checks that there is a voter and no node is named twice.
    ///
    /// # Errors
    /// [`ReplicaFault::Empty`] without voters, [`ReplicaFault::Duplicate`] for the first node
    /// named twice (voters first, then learners).
    pub fn check(&self) -> Result<(), ReplicaFault> {
        if self.voters.is_empty() {
            return Err(ReplicaFault::Empty);
        }
        let mut seen = HashSet::with_capacity(self.voters.len() + self.learners.len());
        for node_id in self.nodes() {
            if !seen.insert(node_id) {
                return Err(ReplicaFault::Duplicate { node_id });
            }
        }
        Ok(())
    }

    /// The layout after `step`; `self` is unchanged. Semantics:
    /// - `AddLearner n`: `n` joins the learners.
    /// - `PromoteLearner n`: `n` moves from the learners to the end of the voters.
    /// - `RemoveReplica n`: `n` leaves (voter or learner); if it was `voters[0]`, the next voter
    ///   becomes the preferred leader.
    /// - `TransferLeader n`: `n` moves to the front of the voters.
    /// - `JointChange { promote, remove }`: the removed voters leave, then the promoted learners
    ///   join the end of the voters.
    ///
    /// # Errors
    /// [`StepFault::AlreadyMember`], [`StepFault::NotALearner`], [`StepFault::NotAVoter`],
    /// [`StepFault::NotAMember`], [`StepFault::LastVoter`],
    /// [`StepFault::MalformedJointChange`].
    pub fn apply(&self, step: &PlacementStep) -> Result<ReplicaSet, StepFault> {
        let mut next = self.clone();
        match *step {
            PlacementStep::AddLearner { node } => {
                if self.contains(node) {
                    return Err(StepFault::AlreadyMember { node });
                }
                next.learners.push(node);
            }
            PlacementStep::PromoteLearner { node } => {
                if !self.is_learner(node) {
                    return Err(StepFault::NotALearner { node });
                }
                next.learners.retain(|&n| n != node);
                next.voters.push(node);
            }
            PlacementStep::RemoveReplica { node } => {
                if self.is_voter(node) {
                    if self.voters.len() == 1 {
                        return Err(StepFault::LastVoter { node });
                    }
                    next.voters.retain(|&n| n != node);
                } else if self.is_learner(node) {
                    next.learners.retain(|&n| n != node);
                } else {
                    return Err(StepFault::NotAMember { node });
                }
            }
            PlacementStep::TransferLeader { to } => {
                if !self.is_voter(to) {
                    return Err(StepFault::NotAVoter { node: to });
                }
                next.voters.retain(|&n| n != to);
                next.voters.insert(0, to);
            }
            PlacementStep::JointChange {
                ref promote,
                ref remove,
            } => {
                let named: HashSet<u64> = promote.iter().chain(remove).copied().collect();
                if named.is_empty() || named.len() != promote.len() + remove.len() {
                    return Err(StepFault::MalformedJointChange);
                }
                if let Some(&node) = promote.iter().find(|&&n| !self.is_learner(n)) {
                    return Err(StepFault::NotALearner { node });
                }
                if let Some(&node) = remove.iter().find(|&&n| !self.is_voter(n)) {
                    return Err(StepFault::NotAVoter { node });
                }
                if promote.is_empty() && remove.len() == self.voters.len() {
                    return Err(StepFault::LastVoter { node: remove[0] });
                }
                next.voters.retain(|n| !remove.contains(n));
                next.learners.retain(|n| !promote.contains(n));
                next.voters.extend(promote);
            }
        }
        Ok(next)
    }

    /// The layout after every step in order.
    ///
    /// # Errors
    /// The index of the first step that does not apply, and why.
    pub fn apply_all<'a>(
        &self,
        steps: impl IntoIterator<Item = &'a PlacementStep>,
    ) -> Result<ReplicaSet, (usize, StepFault)> {
        let mut set = self.clone();
        for (i, step) in steps.into_iter().enumerate() {
            set = set.apply(step).map_err(|fault| (i, fault))?;
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlacementStep::*;

    /// Scenario: a full move of node 3 to node 4 (add learner, promote, transfer, remove).
    #[test]
    fn move_scenario() {
        let start = ReplicaSet::new(vec![3, 1, 2], vec![9]);
        assert_eq!(start.check(), Ok(()));
        let steps = [
            AddLearner { node: 4 },
            PromoteLearner { node: 4 },
            TransferLeader { to: 1 },
            RemoveReplica { node: 3 },
            RemoveReplica { node: 9 },
        ];
        let end = start.apply_all(&steps).expect("valid steps");
        assert_eq!(end, ReplicaSet::new(vec![1, 2, 4], vec![]));
        assert!(end.same_layout(&ReplicaSet::new(vec![1, 4, 2], vec![])));
        assert!(!end.same_layout(&ReplicaSet::new(vec![4, 1, 2], vec![])));
    }

    #[test]
    fn joint_change() {
        let start = ReplicaSet::new(vec![1, 2, 3], vec![4, 5]);
        let swapped = start
            .apply(&JointChange {
                promote: vec![4],
                remove: vec![3],
            })
            .expect("valid");
        assert_eq!(swapped, ReplicaSet::new(vec![1, 2, 4], vec![5]));
        let single = ReplicaSet::new(vec![1], vec![2, 3]);
        let grown = single
            .apply(&JointChange {
                promote: vec![2, 3],
                remove: vec![],
            })
            .expect("valid");
        assert_eq!(grown.voters, vec![1, 2, 3]);
    }

    /// Table of steps that must be refused, and why.
    #[test]
    fn refused_steps() {
        let set = ReplicaSet::new(vec![1, 2], vec![3]);
        let cases = vec![
            (AddLearner { node: 1 }, StepFault::AlreadyMember { node: 1 }),
            (AddLearner { node: 3 }, StepFault::AlreadyMember { node: 3 }),
            (
                PromoteLearner { node: 2 },
                StepFault::NotALearner { node: 2 },
            ),
            (RemoveReplica { node: 7 }, StepFault::NotAMember { node: 7 }),
            (TransferLeader { to: 3 }, StepFault::NotAVoter { node: 3 }),
            (
                JointChange {
                    promote: vec![],
                    remove: vec![],
                },
                StepFault::MalformedJointChange,
            ),
            (
                JointChange {
                    promote: vec![3],
                    remove: vec![3],
                },
                StepFault::MalformedJointChange,
            ),
            (
                JointChange {
                    promote: vec![2],
                    remove: vec![],
                },
                StepFault::NotALearner { node: 2 },
            ),
            (
                JointChange {
                    promote: vec![],
                    remove: vec![1, 2],
                },
                StepFault::LastVoter { node: 1 },
            ),
        ];
        for (step, want) in cases {
            assert_eq!(set.apply(&step), Err(want), "{step}");
        }
        let single = ReplicaSet::new(vec![1], vec![]);
        assert_eq!(
            single.apply(&RemoveReplica { node: 1 }),
            Err(StepFault::LastVoter { node: 1 })
        );
        assert_eq!(
            ReplicaSet::new(vec![], vec![1]).check(),
            Err(ReplicaFault::Empty)
        );
        assert_eq!(
            ReplicaSet::new(vec![1, 2], vec![2]).check(),
            Err(ReplicaFault::Duplicate { node_id: 2 })
        );
    }
}
