//! Key -> shard routing and shard placement for orderstore: which Raft group owns a key, on which
//! nodes its replicas live, and how that layout changes as nodes come, fail and go.
//!
//! Every key is hashed into a 64-bit space ([`hash_key`]); a shard owns one contiguous, inclusive
//! [`HashRange`] of that space. The [`ShardMap`] is the sorted list of [`ShardDescriptor`]s that
//! covers the whole space exactly once; it answers "which shard owns this hash" by binary search,
//! plans the initial replica placement over [`PlacementNode`]s, performs range splits and applies
//! membership steps. Each descriptor carries an [`Epoch`] (TiKV `RegionEpoch` semantics) so a
//! shard can reject requests routed with a stale map.
//!
//! On top of the map sits the placement core the meta shard's placement loop runs: the cluster
//! [`Membership`] (nodes with region/zone/host labels and a [`NodeState`]), per-[`Keyspace`]
//! [`PlacementPolicy`]s (voters, [`SurvivalGoal`], leader preference), the planner that turns
//! policy + membership + a shard's [`ReplicaSet`] into safe [`PlacementStep`]s ([`plan`],
//! [`plan_move`]), leader balancing ([`balance_leaders`]) and split decisions ([`should_split`],
//! [`choose_split_point`]).
//!
//! The crate is pure: no I/O, no clocks, no randomness. The same input always yields the same
//! output, which is what lets the meta shard replicate placement decisions and the tests compare
//! against a model. Types the meta shard stores are serde-serialisable; they are written with
//! bincode v1, so fields and variants may only be appended (see `membership`).
//!
//! # Layout
//! - `key_hash`: [`hash_key`], the one hash function every router uses.
//! - `order_id`: [`order_id`] and [`keyed_order_id`], the order id format shared by server and SDK.
//! - `route_key`: the routing keys of orders, stock buckets and payment accounts; [`Keyspace`].
//! - `hash_range`: [`HashRange`], an inclusive slice of the hash space, and splitting it.
//! - `epoch`: [`Epoch`], the version pair that detects stale routes.
//! - `shard_descriptor`: [`ShardDescriptor`], one shard's id, range, epoch, voters and learners.
//! - `placement`: [`PlacementNode`] and the deterministic replica planner used by the initial map.
//! - `shard_map`: [`ShardMap`], the validated, sorted set of shards: lookup, validation, split,
//!   membership steps.
//! - `membership`: [`Membership`], [`NodeInfo`], [`NodeState`]: the nodes and their lifecycle.
//! - `policy`: [`PlacementPolicy`], [`SurvivalGoal`], [`PolicySet`]: what each keyspace wants.
//! - `replica_set`: [`ReplicaSet`], a shard's voters and learners, and how steps change it.
//! - `placement_step`: [`PlacementStep`], one membership change or leader transfer.
//! - `survival`: [`FailureDomain`], quorum arithmetic, [`fragile_domains`].
//! - `layout_check`: [`check_layout`] and [`Violation`]: how a layout falls short of a policy.
//! - `shard_placement`: [`ShardPlacement`] (a shard as the placement loop sees it), [`NodeLoad`].
//! - `planner`: [`plan`], [`plan_with_load`], [`plan_move`] and [`Plan`]: safe step sequences.
//! - `leader_balance`: [`balance_leaders`].
//! - `split`: [`should_split`], [`choose_split_point`], [`split_by_samples`].
//! - `error`: [`RouterError`], [`ReplicaFault`], [`StepFault`], [`MembershipError`],
//!   [`PolicyError`], [`PlanError`], [`MoveError`], [`SplitError`].

mod epoch;
mod error;
mod hash_range;
mod key_hash;
mod layout_check;
mod leader_balance;
mod membership;
mod order_id;
mod placement;
mod placement_step;
mod planner;
mod policy;
mod replica_set;
mod route_key;
mod shard_descriptor;
mod shard_map;
mod shard_placement;
mod split;
mod survival;

pub use epoch::Epoch;
pub use error::{
    MembershipError, MoveError, PlanError, PolicyError, ReplicaFault, RouterError, SplitError,
    StepFault,
};
pub use hash_range::HashRange;
pub use key_hash::hash_key;
pub use layout_check::{Violation, check_layout};
pub use leader_balance::balance_leaders;
pub use membership::{Membership, NodeInfo, NodeState};
pub use order_id::{keyed_order_id, order_id};
pub use placement::PlacementNode;
pub use placement_step::PlacementStep;
pub use planner::{Plan, plan, plan_move, plan_with_load};
pub use policy::{MAX_VOTERS, PlacementPolicy, PolicySet, SurvivalGoal};
pub use replica_set::ReplicaSet;
pub use route_key::{
    Keyspace, account_hash, account_route_key, order_hash, order_route_key, stock_hash,
    stock_route_key,
};
pub use shard_descriptor::ShardDescriptor;
pub use shard_map::{MAX_INITIAL_SHARDS, ShardMap};
pub use shard_placement::{NodeLoad, ShardPlacement};
pub use split::{
    KeySample, ShardStats, SplitChoice, SplitReason, SplitThresholds, choose_split_point,
    should_split, split_by_samples,
};
pub use survival::{
    FailureDomain, fragile_domains, fragile_domains_joint, has_live_quorum, live_voters, quorum,
};
