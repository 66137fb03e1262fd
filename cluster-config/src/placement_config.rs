//! The `[placement]` table: one placement policy per keyspace, seeding the meta shard's policies.

use serde::{Deserialize, Serialize};
use shard_router::{Keyspace, PlacementPolicy, PolicySet, SurvivalGoal};

/// Voters when `voters` is not set and the survival goal is `zone`.
pub const DEFAULT_ZONE_VOTERS: u32 = 3;
/// Voters when `voters` is not set and the survival goal is `region`.
pub const DEFAULT_REGION_VOTERS: u32 = 5;

/// Placement policies, as `[placement.orders]`, `[placement.inventory]`, `[placement.payments]`
/// and `[placement.meta]` tables. Missing tables take [`KeyspacePlacement::default`].
///
/// A new cluster's meta shard starts with these policies; later changes go through the meta
/// shard, which is why no environment variable overrides them (two processes with different
/// overrides would seed different policies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// Orders keyspace.
    pub orders: KeyspacePlacement,
    /// Inventory keyspace.
    pub inventory: KeyspacePlacement,
    /// Payments keyspace.
    pub payments: KeyspacePlacement,
    /// The meta shard.
    pub meta: KeyspacePlacement,
}

/// The placement policy of one keyspace as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyspacePlacement {
    /// `"zone"` (default: survive a zone loss, voters in the home region) or `"region"` (survive
    /// a region loss, voters over several regions).
    pub survival_goal: SurvivalGoal,
    /// Voters per shard, `1..=7`; unset means 3 for the zone goal and 5 for the region goal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voters: Option<u32>,
    /// Region goal: the least number of regions the voters span, at least 3. Default 3.
    pub min_regions: u32,
    /// Regions where leaders should be, most preferred first, after the shard's home region.
    /// Each must be the region of a configured node. Default empty.
    pub leader_preference: Vec<String>,
}

impl Default for KeyspacePlacement {
    fn default() -> Self {
        KeyspacePlacement {
            survival_goal: SurvivalGoal::Zone,
            voters: None,
            min_regions: 3,
            leader_preference: Vec::new(),
        }
    }
}

impl KeyspacePlacement {
    /// `voters`, or the survival goal's default when unset.
    pub fn effective_voters(&self) -> u32 {
        self.voters.unwrap_or(match self.survival_goal {
            SurvivalGoal::Zone => DEFAULT_ZONE_VOTERS,
            SurvivalGoal::Region => DEFAULT_REGION_VOTERS,
        })
    }

    /// The router's policy for this entry (not validated; see
    /// [`PlacementPolicy::validate`]).
    pub fn to_policy(&self) -> PlacementPolicy {
        PlacementPolicy {
            voters: self.effective_voters(),
            survival_goal: self.survival_goal,
            min_regions: self.min_regions,
            leader_preference: self.leader_preference.clone(),
        }
    }
}

impl PlacementConfig {
    /// The entry of `keyspace`.
    pub fn get(&self, keyspace: Keyspace) -> &KeyspacePlacement {
        match keyspace {
            Keyspace::Orders => &self.orders,
            Keyspace::Inventory => &self.inventory,
            Keyspace::Payments => &self.payments,
            Keyspace::Meta => &self.meta,
        }
    }

    /// Every keyspace's policy, as the meta shard stores them.
    pub fn policy_set(&self) -> PolicySet {
        PolicySet {
            orders: self.orders.to_policy(),
            inventory: self.inventory.to_policy(),
            payments: self.payments.to_policy(),
            meta: self.meta.to_policy(),
        }
    }
}
