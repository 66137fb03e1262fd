//! The `[split]` table: when shards split automatically.

use serde::{Deserialize, Serialize};
use shard_router::SplitThresholds;

/// Automatic split thresholds: a shard splits when it exceeds any of them. 0 disables one.
/// Missing keys take the defaults of [`SplitThresholds::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Most live keys per shard. Default 1,000,000.
    pub max_keys: u64,
    /// Most bytes of live data per shard. Default 268435456 (256 MiB).
    pub max_bytes: u64,
    /// Most requests per second per shard (load-based split). Default 2500.
    pub max_requests_per_sec: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        let t = SplitThresholds::default();
        SplitConfig {
            max_keys: t.max_keys,
            max_bytes: t.max_bytes,
            max_requests_per_sec: t.max_requests_per_sec,
        }
    }
}

impl SplitConfig {
    /// The router's thresholds.
    pub fn thresholds(&self) -> SplitThresholds {
        SplitThresholds {
            max_keys: self.max_keys,
            max_bytes: self.max_bytes,
            max_requests_per_sec: self.max_requests_per_sec,
        }
    }
}
