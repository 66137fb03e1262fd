//! Deterministic simulation of the Raft/storage core: openraft nodes with in-memory storage
//! over a simulated network, on simulated time, with faults drawn from one seed and Raft
//! invariants checked on every step. Same seed, same run: a failing seed replays exactly.
//!
//! This crate does not use `orderstore-node`: it exercises openraft (the same pinned version)
//! through the same storage-v2 traits the node implements on RocksDB, with a storage model
//! that makes durability explicit (unflushed appends are lost on a crash).
//!
//! # Layout
//! - [`sim`]: one run (phases, clients, nemesis) and its [`SimReport`].
//! - [`config`]: [`SimConfig`], fault rates and planted [`Bug`]s.
//! - [`cluster`]: node lifecycle (start, crash, restart) over persistent disks.
//! - [`disk`], [`log_store`], [`state_machine`]: the in-memory storage backend.
//! - [`register`]: the pure order-register state machine.
//! - [`network`]: the simulated network and openraft's `RaftNetworkV2` over it.
//! - [`runtime`]: the deterministic openraft runtime (paused tokio clock, seeded RNG,
//!   FIFO watch channel).
//! - [`invariants`], [`history`]: the checks and what they are checked against.
//! - [`rng`]: the seeded generator and the stable trace hash.

pub mod cluster;
pub mod config;
pub mod disk;
pub mod history;
pub mod invariants;
pub mod log_store;
pub mod network;
pub mod register;
pub mod rng;
pub mod runtime;
pub mod sim;
pub mod state_machine;
pub mod types;
pub mod world;

pub use config::Bug;
pub use config::Faults;
pub use config::SimConfig;
pub use history::Violation;
pub use history::ViolationKind;
pub use sim::SimReport;
pub use sim::run;
