//! Graceful drain: what a node does between a shutdown signal (SIGTERM, SIGINT, or the
//! `shutdown` of [`crate::server::run`]) and stopping its servers, so a rolling restart loses no
//! request.
//!
//! 1. The node is marked draining ([`ShardHost::start_draining`]): `/readyz` answers 503
//!    `draining` (load balancers stop sending traffic), `orderstore_node_draining` is 1, and
//!    every new proposal is refused with a retryable error (NOT_LEADER with the new leader's
//!    hint once there is one, UNAVAILABLE before), which the SDK follows or retries.
//! 2. Every local replica stops campaigning (`runtime_config().elect(false)`), so a
//!    leadership handed away does not come back.
//! 3. Each leadership the node holds is transferred to another voter of the shard, preferring
//!    one whose clock the clock monitor trusts ([`crate::clock::ClockMonitor::peer_agrees`]);
//!    transfers still pending are re-requested every [`RETRANSFER_INTERVAL`].
//! 4. The drain ends when the node leads no shard and each shard it led knows its new leader
//!    (so refused clients get a hint), or at the deadline
//!    ([`crate::NodeOptions::drain_timeout`], `orderd --drain-timeout-ms`, default
//!    [`DEFAULT_DRAIN_TIMEOUT`]): a shard still led then fails over by election after the node
//!    stops, as after a crash.
//!
//! Only then does [`crate::server::run`] stop the gRPC server (tonic lets in-flight requests
//! finish), then the orchestrator and the Raft instances. A node without peers to hand
//! leaderships to (a single-node cluster) skips steps 3-4.

use std::time::Duration;
use std::time::Instant;

use openraft::async_runtime::WatchReceiver;

use crate::host::ShardHost;
use crate::types::NodeId;
use crate::types::ShardId;

/// How long a drain waits for leaderships to move when nothing else is configured.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the drain checks whether the node still leads a shard.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often a leadership transfer that has not happened yet is requested again (its target
/// may have been down or lagging).
pub const RETRANSFER_INTERVAL: Duration = Duration::from_secs(1);

/// What a drain achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Shards this node led when the drain started.
    pub led_at_start: Vec<ShardId>,
    /// Shards it still led when the drain ended (empty unless the deadline passed).
    pub still_leading: Vec<ShardId>,
    pub elapsed: Duration,
}

/// The voter to hand a shard's leadership to: the first other voter whose clock agrees, else
/// the first other voter at all (an untrusted clock on the target only makes it refuse
/// proposals and hand the leadership on, which beats an election after we stop). `None` when
/// `me` is the only voter.
pub fn transfer_target(
    me: NodeId,
    voters: impl IntoIterator<Item = NodeId>,
    agrees: impl Fn(NodeId) -> bool,
) -> Option<NodeId> {
    let others: Vec<NodeId> = voters.into_iter().filter(|&id| id != me).collect();
    others
        .iter()
        .copied()
        .find(|&id| agrees(id))
        .or_else(|| others.first().copied())
}

/// Drains the node (steps 1-4 of the module doc) and returns once it leads no shard or
/// `timeout` has passed. Never fails: a transfer that cannot be made is logged and left to
/// the deadline.
pub async fn drain(host: &ShardHost, timeout: Duration) -> DrainReport {
    let started = Instant::now();
    let deadline = started + timeout;
    host.start_draining();
    for shard in host.shards() {
        shard.raft.runtime_config().elect(false);
    }
    let led_at_start: Vec<ShardId> = host.led_shards().iter().map(|s| s.id).collect();
    tracing::info!(
        node_id = host.node_id(),
        leading = ?led_at_start,
        ?timeout,
        "draining: /readyz 503, proposals refused, not campaigning; handing leaderships away"
    );
    let mut next_transfer = started;
    let still_leading = loop {
        let led = host.led_shards();
        let settled = led.is_empty() && led_at_start.iter().all(|&id| has_leader(host, id));
        if settled || Instant::now() >= deadline {
            break led.iter().map(|s| s.id).collect::<Vec<_>>();
        }
        if led.is_empty() {
            // Handed away; the new leader has not announced itself yet.
            tokio::time::sleep(
                POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
            continue;
        }
        if Instant::now() >= next_transfer {
            if !hand_away(host, &led).await {
                tracing::info!(
                    node_id = host.node_id(),
                    "draining: no other voter to hand leaderships to"
                );
                break led.iter().map(|s| s.id).collect();
            }
            next_transfer = Instant::now() + RETRANSFER_INTERVAL;
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
    };
    let report = DrainReport {
        led_at_start,
        still_leading,
        elapsed: started.elapsed(),
    };
    if report.still_leading.is_empty() {
        tracing::info!(
            node_id = host.node_id(),
            elapsed = ?report.elapsed,
            handed_away = report.led_at_start.len(),
            "drained: this node leads no shard"
        );
    } else {
        tracing::warn!(
            node_id = host.node_id(),
            elapsed = ?report.elapsed,
            still_leading = ?report.still_leading,
            "drain ended with leaderships left; those shards elect a new leader after we stop"
        );
    }
    report
}

/// True when the local replica of `shard` knows a leader (any node).
fn has_leader(host: &ShardHost, shard: ShardId) -> bool {
    host.shard(shard)
        .is_none_or(|s| s.raft.metrics().borrow_watched().current_leader.is_some())
}

/// Requests a transfer of each shard in `led` to its [`transfer_target`]. False when no shard
/// has another voter (nothing to wait for).
async fn hand_away(host: &ShardHost, led: &[std::sync::Arc<crate::host::Shard>]) -> bool {
    let me = host.node_id();
    let now = Instant::now();
    let mut any_target = false;
    for shard in led {
        let membership = shard
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .clone();
        let voters = membership.membership().voter_ids();
        let Some(to) = transfer_target(me, voters, |id| host.clock().peer_agrees(id, now)) else {
            continue;
        };
        any_target = true;
        tracing::info!(shard = shard.id, to, "draining: transferring leadership");
        if let Err(e) = shard.raft.trigger().transfer_leader(to).await {
            tracing::warn!(shard = shard.id, to, error = %e, "draining: leadership transfer failed");
        }
    }
    any_target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_a_voter_whose_clock_agrees() {
        assert_eq!(transfer_target(1, [1, 2, 3], |id| id == 3), Some(3));
    }

    #[test]
    fn falls_back_to_any_other_voter() {
        assert_eq!(transfer_target(1, [1, 2, 3], |_| false), Some(2));
    }

    #[test]
    fn never_picks_itself() {
        assert_eq!(transfer_target(1, [1], |_| true), None);
        assert_eq!(transfer_target(2, [1, 2], |_| true), Some(1));
    }
}
