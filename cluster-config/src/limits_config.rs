//! The `[limits]` table: admission control of a node (how much work it accepts before refusing).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Smallest accepted `max_message_bytes`: 64 KiB.
pub const MIN_MESSAGE_BYTES: u32 = 64 << 10;
/// Largest accepted `max_message_bytes`: 256 MiB.
pub const MAX_MESSAGE_BYTES: u32 = 256 << 20;

/// Per-node admission limits. Work beyond a limit is refused with `RESOURCE_EXHAUSTED` carrying
/// the `retry_after_ms` hint (clients back off and retry) rather than queued without bound.
/// Missing keys take the defaults below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Client requests a node serves at once; further ones wait in a queue. Default 512.
    pub max_inflight_requests: u32,
    /// Requests waiting for a slot; beyond it a request is refused at once with
    /// `RESOURCE_EXHAUSTED`. Default 2048.
    pub max_queued_requests: u32,
    /// Longest wait in the queue, in milliseconds, before `RESOURCE_EXHAUSTED`. Default 200.
    pub queue_timeout_ms: u64,
    /// Proposals in flight per shard on its leader; beyond it `RESOURCE_EXHAUSTED`. Default 1024.
    pub max_shard_proposals: u32,
    /// Open TCP connections (client and peer) per node; further ones are closed at once.
    /// Default 4096.
    pub max_connections: u32,
    /// Largest client gRPC request or response in bytes, in
    /// `MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES` (64 KiB to 256 MiB). Default 4194304 (4 MiB).
    pub max_message_bytes: u32,
    /// The retry-after hint, in milliseconds, sent with `RESOURCE_EXHAUSTED`. Default 100.
    pub retry_after_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_inflight_requests: 512,
            max_queued_requests: 2048,
            queue_timeout_ms: 200,
            max_shard_proposals: 1024,
            max_connections: 4096,
            max_message_bytes: 4 << 20,
            retry_after_ms: 100,
        }
    }
}

impl LimitsConfig {
    /// Checks every limit in field order: each is at least 1, and `max_message_bytes` lies in
    /// `MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES`.
    ///
    /// # Errors
    /// [`ConfigError::BadLimit`] naming the first key out of its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let u32_max = u64::from(u32::MAX);
        let checks: [(&'static str, u64, u64, u64); 7] = [
            (
                "max_inflight_requests",
                self.max_inflight_requests.into(),
                1,
                u32_max,
            ),
            (
                "max_queued_requests",
                self.max_queued_requests.into(),
                1,
                u32_max,
            ),
            ("queue_timeout_ms", self.queue_timeout_ms, 1, u64::MAX),
            (
                "max_shard_proposals",
                self.max_shard_proposals.into(),
                1,
                u32_max,
            ),
            ("max_connections", self.max_connections.into(), 1, u32_max),
            (
                "max_message_bytes",
                self.max_message_bytes.into(),
                MIN_MESSAGE_BYTES.into(),
                MAX_MESSAGE_BYTES.into(),
            ),
            ("retry_after_ms", self.retry_after_ms, 1, u64::MAX),
        ];
        match checks
            .into_iter()
            .find(|&(_, value, min, max)| !(min..=max).contains(&value))
        {
            Some((key, value, min, max)) => Err(ConfigError::BadLimit {
                key,
                value,
                min,
                max,
            }),
            None => Ok(()),
        }
    }
}
