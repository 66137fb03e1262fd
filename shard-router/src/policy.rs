//! Placement policies: how many voters a shard has, which failure it must survive, and where its
//! leader should be.
//!
//! Stored by the meta shard with bincode v1 (fields by position, variants by index): append new
//! fields and variants at the end only (see the storage rule in `membership`).

use serde::{Deserialize, Serialize};

use crate::{Keyspace, PolicyError};

/// Most voters a policy may ask for. More voters make every write wait for more acks; 7 already
/// survives three simultaneous failures.
pub const MAX_VOTERS: u32 = 7;

/// Which failure every shard of a keyspace must survive without losing its quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurvivalGoal {
    /// Survive the loss of one zone. All voters live in the shard's home region, at most
    /// `(voters - 1) / 2` per zone (so distinct zones for 3 voters), plus one non-voting learner
    /// in each other region (for local stale reads). Writes commit inside the home region.
    #[default]
    Zone,
    /// Survive the loss of one region. Voters spread over at least `min_regions` regions with at
    /// most `(voters - 1) / 2` per region (2 of 5), home region first; regions without a voter get
    /// one learner. Writes pay a cross-region round trip.
    Region,
}

/// The placement policy of one keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlacementPolicy {
    /// Voters per shard, `1..=MAX_VOTERS`. Odd counts are the useful ones.
    pub voters: u32,
    /// The failure to survive.
    pub survival_goal: SurvivalGoal,
    /// Region goal only: the least number of regions the voters span, at least 3.
    pub min_regions: u32,
    /// Regions in which the leader should live, most preferred first. The shard's home region is
    /// always the first choice even when not listed; regions not listed come last, all equal.
    pub leader_preference: Vec<String>,
}

impl Default for PlacementPolicy {
    /// The zone goal with 3 voters: valid for a single-region, three-zone cluster, and degrades
    /// gracefully (see [`Plan`](crate::Plan)) on fewer nodes or zones.
    fn default() -> Self {
        PlacementPolicy::zone(3)
    }
}

impl PlacementPolicy {
    /// The zone survival goal with `voters` voters and no extra leader preference.
    pub fn zone(voters: u32) -> PlacementPolicy {
        PlacementPolicy {
            voters,
            survival_goal: SurvivalGoal::Zone,
            min_regions: 3,
            leader_preference: Vec::new(),
        }
    }

    /// The region survival goal with `voters` voters over at least `min_regions` regions.
    pub fn region(voters: u32, min_regions: u32) -> PlacementPolicy {
        PlacementPolicy {
            voters,
            survival_goal: SurvivalGoal::Region,
            min_regions,
            leader_preference: Vec::new(),
        }
    }

    /// Checks the policy on its own (node availability is the planner's concern).
    ///
    /// # Errors
    /// [`PolicyError::ZeroVoters`], [`PolicyError::TooManyVoters`],
    /// [`PolicyError::RegionGoalNeedsThreeVoters`], [`PolicyError::TooFewMinRegions`],
    /// [`PolicyError::MinRegionsAboveVoters`] (the last three for the region goal only),
    /// [`PolicyError::EmptyLeaderRegion`], [`PolicyError::DuplicateLeaderRegion`].
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.voters == 0 {
            return Err(PolicyError::ZeroVoters);
        }
        if self.voters > MAX_VOTERS {
            return Err(PolicyError::TooManyVoters {
                voters: self.voters,
                max: MAX_VOTERS,
            });
        }
        if self.survival_goal == SurvivalGoal::Region {
            if self.voters < 3 {
                return Err(PolicyError::RegionGoalNeedsThreeVoters {
                    voters: self.voters,
                });
            }
            if self.min_regions < 3 {
                return Err(PolicyError::TooFewMinRegions {
                    min_regions: self.min_regions,
                });
            }
            if self.min_regions > self.voters {
                return Err(PolicyError::MinRegionsAboveVoters {
                    min_regions: self.min_regions,
                    voters: self.voters,
                });
            }
        }
        for (i, region) in self.leader_preference.iter().enumerate() {
            if region.is_empty() {
                return Err(PolicyError::EmptyLeaderRegion);
            }
            if self.leader_preference[..i].contains(region) {
                return Err(PolicyError::DuplicateLeaderRegion(region.clone()));
            }
        }
        Ok(())
    }

    /// Most voters one failure domain (a zone for the zone goal, a region for the region goal)
    /// may hold so that losing it leaves a quorum: `(voters - 1) / 2`, at least 1.
    pub fn max_voters_per_domain(&self) -> usize {
        (usize::try_from(self.voters)
            .unwrap_or(usize::MAX)
            .saturating_sub(1)
            / 2)
        .max(1)
    }

    /// Regions the voters must span under the region goal: `min_regions`, or more when the
    /// per-region cap requires it (`ceil(voters / max_voters_per_domain)`). 1 for the zone goal.
    pub fn regions_needed(&self) -> usize {
        match self.survival_goal {
            SurvivalGoal::Zone => 1,
            SurvivalGoal::Region => {
                let voters = usize::try_from(self.voters).unwrap_or(usize::MAX);
                let by_cap = voters.div_ceil(self.max_voters_per_domain());
                usize::try_from(self.min_regions)
                    .unwrap_or(usize::MAX)
                    .max(by_cap)
            }
        }
    }

    /// Leader rank of `region` for a shard homed in `home_region`: 0 for the home region, then
    /// the position in `leader_preference` (+1), and one shared last rank for every other region.
    /// Lower is better.
    pub fn leader_rank(&self, home_region: &str, region: &str) -> usize {
        if region == home_region {
            return 0;
        }
        self.leader_preference
            .iter()
            .filter(|r| r.as_str() != home_region)
            .position(|r| r == region)
            .map_or(self.leader_preference.len() + 1, |i| i + 1)
    }
}

/// One placement policy per keyspace, as the meta shard stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicySet {
    /// Policy of the orders keyspace.
    pub orders: PlacementPolicy,
    /// Policy of the inventory keyspace.
    pub inventory: PlacementPolicy,
    /// Policy of the payments keyspace.
    pub payments: PlacementPolicy,
    /// Policy of the meta shard.
    pub meta: PlacementPolicy,
}

impl PolicySet {
    /// The policy of `keyspace`.
    pub fn get(&self, keyspace: Keyspace) -> &PlacementPolicy {
        match keyspace {
            Keyspace::Orders => &self.orders,
            Keyspace::Inventory => &self.inventory,
            Keyspace::Payments => &self.payments,
            Keyspace::Meta => &self.meta,
        }
    }

    /// Mutable access to the policy of `keyspace`.
    pub fn get_mut(&mut self, keyspace: Keyspace) -> &mut PlacementPolicy {
        match keyspace {
            Keyspace::Orders => &mut self.orders,
            Keyspace::Inventory => &mut self.inventory,
            Keyspace::Payments => &mut self.payments,
            Keyspace::Meta => &mut self.meta,
        }
    }

    /// Validates every policy; returns the first failure with its keyspace.
    ///
    /// # Errors
    /// `(keyspace, error)` of the first invalid policy, in [`Keyspace::ALL`] order.
    pub fn validate(&self) -> Result<(), (Keyspace, PolicyError)> {
        Keyspace::ALL
            .into_iter()
            .try_for_each(|ks| self.get(ks).validate().map_err(|e| (ks, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_caps() {
        let zone = PlacementPolicy::default();
        assert_eq!(zone.validate(), Ok(()));
        assert_eq!((zone.voters, zone.max_voters_per_domain()), (3, 1));
        assert_eq!(zone.regions_needed(), 1);
        let region = PlacementPolicy::region(5, 3);
        assert_eq!(region.validate(), Ok(()));
        assert_eq!(region.max_voters_per_domain(), 2);
        assert_eq!(region.regions_needed(), 3);
        assert_eq!(PlacementPolicy::region(4, 3).regions_needed(), 4);
        assert_eq!(PlacementPolicy::region(5, 4).regions_needed(), 4);
        assert_eq!(PlacementPolicy::zone(1).max_voters_per_domain(), 1);
        assert_eq!(PolicySet::default().validate(), Ok(()));
    }

    #[test]
    fn validation_table() {
        let with_pref = |prefs: &[&str]| PlacementPolicy {
            leader_preference: prefs.iter().map(|s| s.to_string()).collect(),
            ..PlacementPolicy::default()
        };
        let cases = vec![
            (PlacementPolicy::zone(0), PolicyError::ZeroVoters),
            (
                PlacementPolicy::zone(8),
                PolicyError::TooManyVoters { voters: 8, max: 7 },
            ),
            (
                PlacementPolicy::region(2, 3),
                PolicyError::RegionGoalNeedsThreeVoters { voters: 2 },
            ),
            (
                PlacementPolicy::region(5, 2),
                PolicyError::TooFewMinRegions { min_regions: 2 },
            ),
            (
                PlacementPolicy::region(3, 4),
                PolicyError::MinRegionsAboveVoters {
                    min_regions: 4,
                    voters: 3,
                },
            ),
            (with_pref(&["a", ""]), PolicyError::EmptyLeaderRegion),
            (
                with_pref(&["a", "b", "a"]),
                PolicyError::DuplicateLeaderRegion("a".into()),
            ),
        ];
        for (policy, want) in cases {
            assert_eq!(policy.validate(), Err(want), "{policy:?}");
        }
        let mut set = PolicySet::default();
        set.get_mut(Keyspace::Payments).voters = 0;
        assert_eq!(
            set.validate(),
            Err((Keyspace::Payments, PolicyError::ZeroVoters))
        );
    }

    /// Home first, then the listed regions (home skipped if listed), then the rest tied.
    #[test]
    fn leader_rank_order() {
        let p = PlacementPolicy {
            leader_preference: vec!["us".into(), "eu".into(), "ap".into()],
            ..PlacementPolicy::default()
        };
        let ranks: Vec<usize> = ["eu", "us", "ap", "sa", "af"]
            .iter()
            .map(|r| p.leader_rank("eu", r))
            .collect();
        assert_eq!(ranks, vec![0, 1, 2, 4, 4]);
        assert_eq!(PlacementPolicy::default().leader_rank("eu", "us"), 1);
    }
}
