//! Storage: one RocksDB per node holding the Raft logs, Raft metadata and applied state of every
//! shard replica on it, with checksummed records and group-committed log appends.
//!
//! # Layout
//! - [`keys`]: column families and key layout (shard-prefixed keys).
//! - [`codec`]: crc32-framed record encoding.
//! - [`engine`]: opening RocksDB; the shard health (quarantine) registry.
//! - [`format`]: the data directory's format version (a newer one is refused).
//! - [`group_commit`]: one WAL fsync for many shards' appends.
//! - [`log_store`]: openraft `RaftLogStorage` for one shard.
//! - [`state_machine`]: openraft `RaftStateMachine` for one shard (orders, events, idempotency).
//! - [`snapshot_file`]: snapshots streamed to files under `DATA_DIR/snapshots`.

pub mod codec;
pub mod engine;
pub mod format;
pub mod group_commit;
pub mod keys;
pub mod log_store;
pub mod snapshot_file;
pub mod state_machine;

pub use engine::Engine;
pub use engine::ShardHealth;
pub use log_store::ShardLogStore;
pub use state_machine::ShardReader;
pub use state_machine::ShardStateMachine;
pub use state_machine::SnapshotPayload;
pub use state_machine::StateMachineConfig;
