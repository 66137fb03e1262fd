//! Key -> shard routing for orderstore: which Raft group owns a key, and on which nodes it lives.
//!
//! Every key is hashed into a 64-bit space ([`hash_key`]); a shard owns one contiguous, inclusive
//! [`HashRange`] of that space. The [`ShardMap`] is the sorted list of [`ShardDescriptor`]s that
//! covers the whole space exactly once; it answers "which shard owns this hash" by binary search,
//! plans the initial replica placement over [`PlacementNode`]s (distinct nodes, distinct zones where
//! possible, preferred leaders spread round-robin) and performs range splits. Each descriptor carries
//! an [`Epoch`] (TiKV `RegionEpoch` semantics) so a shard can reject requests routed with a stale map.
//!
//! The crate is pure: no I/O, no clocks, no randomness. The same input always yields the same map, which
//! is what lets the meta shard replicate placement decisions and the tests compare against a model.
//!
//! # Layout
//! - `key_hash`: [`hash_key`], the one hash function every router uses.
//! - `order_id`: [`order_id`] and [`keyed_order_id`], the order id format shared by server and SDK.
//! - `route_key`: the routing keys of orders, stock buckets and payment accounts.
//! - `hash_range`: [`HashRange`], an inclusive slice of the hash space, and splitting it.
//! - `epoch`: [`Epoch`], the version pair that detects stale routes.
//! - `shard_descriptor`: [`ShardDescriptor`], one shard's id, range, epoch and replicas.
//! - `placement`: [`PlacementNode`] and the deterministic replica planner used by the initial map.
//! - `shard_map`: [`ShardMap`], the validated, sorted set of shards: lookup, validation, split.
//! - `error`: [`RouterError`] and [`ReplicaFault`].

mod epoch;
mod error;
mod hash_range;
mod key_hash;
mod order_id;
mod placement;
mod route_key;
mod shard_descriptor;
mod shard_map;

pub use epoch::Epoch;
pub use error::{ReplicaFault, RouterError};
pub use hash_range::HashRange;
pub use key_hash::hash_key;
pub use order_id::{keyed_order_id, order_id};
pub use placement::PlacementNode;
pub use route_key::{
    Keyspace, account_hash, account_route_key, order_hash, order_route_key, stock_hash,
    stock_route_key,
};
pub use shard_descriptor::ShardDescriptor;
pub use shard_map::{MAX_INITIAL_SHARDS, ShardMap};
