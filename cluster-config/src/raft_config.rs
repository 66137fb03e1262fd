//! The `[raft]` table: timers and snapshot policy shared by every Raft group of the cluster.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Raft settings applied to every shard's Raft group. Missing keys take the defaults below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    /// Leader heartbeat period in milliseconds. Default 250.
    pub heartbeat_interval_ms: u64,
    /// Lower bound of the randomised election timeout in milliseconds. Default 1000.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomised election timeout in milliseconds. Default 2000.
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many log entries since the last one. Default 5000.
    pub snapshot_logs_since_last: u64,
    /// Log entries kept behind the latest snapshot so lagging followers can catch up without
    /// installing it. Default 1000.
    pub max_in_snapshot_log_to_keep: u64,
    /// Largest tolerated offset between two nodes' wall clocks, in milliseconds. A node whose
    /// clock is not within this bound of a majority of the cluster (measured by clock probes)
    /// refuses to propose and hands its leaderships away, because commands carry the
    /// proposer's wall time (idempotency TTLs, saga deadlines, reservation expiry). Default 500.
    pub max_clock_offset_ms: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_interval_ms: 250,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            snapshot_logs_since_last: 5000,
            max_in_snapshot_log_to_keep: 1000,
            max_clock_offset_ms: 500,
        }
    }
}

impl RaftConfig {
    /// Checks `0 < heartbeat < election min < election max` and a non-zero snapshot threshold.
    ///
    /// # Errors
    /// [`ConfigError::BadRaftTimeouts`], then [`ConfigError::BadSnapshotThreshold`], then
    /// [`ConfigError::BadClockOffset`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ordered = 0 < self.heartbeat_interval_ms
            && self.heartbeat_interval_ms < self.election_timeout_min_ms
            && self.election_timeout_min_ms < self.election_timeout_max_ms;
        if !ordered {
            return Err(ConfigError::BadRaftTimeouts {
                heartbeat_ms: self.heartbeat_interval_ms,
                election_min_ms: self.election_timeout_min_ms,
                election_max_ms: self.election_timeout_max_ms,
            });
        }
        if self.snapshot_logs_since_last == 0 {
            return Err(ConfigError::BadSnapshotThreshold(
                self.snapshot_logs_since_last,
            ));
        }
        if self.max_clock_offset_ms == 0 {
            return Err(ConfigError::BadClockOffset(self.max_clock_offset_ms));
        }
        Ok(())
    }
}
