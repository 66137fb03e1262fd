//! `orderd`, the orderstore node: one process hosting many Raft-replicated shard replicas over
//! a single RocksDB, serving the order API over gRPC.
//!
//! A request reaches any node; the node hashes the order id to its shard with the shard map
//! ([`shard_router`]), proposes writes through the shard's openraft instance (or redirects to the
//! leader), and the shard's state machine applies them with the pure order rules of [`order`].
//! Log appends of all shards are group-committed (one WAL fsync for many shards); every stored
//! record carries a crc32 checked on read.
//!
//! # Layout
//! - [`order`]: the pure order aggregate (state regions, transitions, limits).
//! - [`inventory`]: the pure stock ledger (escrow buckets per SKU, reservations, transfers).
//! - [`payments`]: the pure built-in payment ledger (accounts, authorizations, captures, refunds).
//! - [`saga`]: the pure purchase saga (step machine, conflict matrix).
//! - [`orchestrator`]: drives purchase sagas on order-shard leaders; replicated timers.
//! - [`events`]: event envelopes with hybrid logical clocks, upcasters, in-order consumers.
//! - [`types`]: openraft type configuration and the commands in a shard's log.
//! - [`storage`]: RocksDB engine, key layout, checksummed codec, group commit, log store, state
//!   machine.
//! - [`host`]: the multi-raft host (one openraft instance per local shard replica).
//! - [`transport`]: node-to-node Raft RPCs, one gRPC connection per node pair.
//! - [`clock`]: clock-offset probes; a node whose clock disagrees with the cluster's stops
//!   proposing and hands its leaderships away.
//! - [`drain`]: graceful drain on shutdown (leaderships handed away, `/readyz` 503).
//! - [`admission`]: admission control (request slots and queue, per-shard proposal limits,
//!   connection limits; RESOURCE_EXHAUSTED with a retry hint beyond them).
//! - [`security`]: TLS (mutual between nodes), tokens and certificate roles, the audit log.
//! - [`gateway`]: the layer every request passes: protocol version, roles, admission.
//! - [`backup`]: restoring a new cluster's data directories from a backup.
//! - [`disk`]: the free-space guard (writes refused below the reserve, resumed above it).
//! - [`service`]: client-facing gRPC services and typed errors.
//! - [`status`]: HTTP `/metrics`, `/livez`, `/readyz`.
//! - [`metrics`]: Prometheus metrics.
//! - [`server`]: `run(options, listeners, shutdown)`, the whole node.

pub mod admission;
pub mod backup;
pub mod clock;
pub mod disk;
pub mod drain;
pub mod events;
pub mod gateway;
pub mod host;
pub mod inventory;
pub mod metrics;
pub mod orchestrator;
pub mod order;
pub mod payments;
pub mod saga;
pub mod security;
pub mod server;
pub mod service;
pub mod status;
pub mod storage;
pub mod transport;
pub mod types;

pub use server::NodeOptions;
pub use server::Shutdown;
pub use server::run;
