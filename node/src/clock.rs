//! Clock-offset monitoring: a node whose wall clock disagrees with the cluster must not propose.
//!
//! Commands carry the proposing leader's wall time (`now_ms`), and the state machine uses it
//! for idempotency TTLs and their garbage collection, saga deadlines and reservation expiry. A
//! leader whose clock runs two days ahead would expire every idempotency record and every saga
//! at once; the chaos suite's clock nemesis found exactly that (a retried request answered
//! `ALREADY_EXISTS` instead of replaying). As in CockroachDB, the defence is a bound on the
//! offset between clocks, enforced by measuring it:
//!
//! - every node probes every peer once per [`PROBE_INTERVAL`] (a `CLOCK_PROBE` message on the
//!   Raft transport, answered with the peer's wall time); the offset estimate is the peer's time
//!   minus the local wall time at the middle of the round trip, with half the round trip as its
//!   uncertainty;
//! - the node's clock is **healthy** when, counting itself, a majority of the cluster's nodes
//!   has a fresh sample (younger than [`SAMPLE_FRESHNESS`]) that may be within
//!   `max_clock_offset_ms`, and the local wall clock has not jumped against the monotonic
//!   clock since the last probe round;
//! - an unhealthy node refuses every proposal (UNAVAILABLE, retryable elsewhere), stops
//!   campaigning and transfers each leadership it holds to another voter (preferring one whose
//!   clock agrees); it recovers by itself once its probes agree again.
//!
//! A node starts unhealthy until its first probe round, so a node restarted with a skewed
//! clock never stamps a command. A single-node cluster has nothing to compare with and is
//! always healthy.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;

use crate::host::ShardHost;
use crate::metrics::NodeMetrics;
use crate::metrics::PeerLabels;
use crate::service::access::now_ms;
use crate::transport::PeerRouter;
use crate::types::NodeId;

/// How often every peer's clock is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Deadline of one probe. Generous, so that a slow link (the chaos suite delays links by up to
/// 750 ms each way) still yields samples: a slow answer only widens the sample's uncertainty
/// (half the round trip), which still exposes any offset that matters (seconds to days).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// A sample older than this no longer counts.
pub const SAMPLE_FRESHNESS: Duration = Duration::from_secs(10);

/// One measurement of a peer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Peer's wall clock minus ours, in ms.
    pub offset_ms: i64,
    /// Half the round trip: the true offset is within `offset_ms ± uncertainty_ms`.
    pub uncertainty_ms: u64,
    /// When it was taken (monotonic).
    pub at: Instant,
}

impl Sample {
    /// The offset estimate from one probe: sent at local wall `sent_wall_ms`, answered after
    /// `round_trip`, the peer's clock read `peer_wall_ms`.
    pub fn from_probe(
        sent_wall_ms: u64,
        round_trip: Duration,
        peer_wall_ms: u64,
        at: Instant,
    ) -> Self {
        let half = round_trip.as_millis() as u64 / 2;
        let local_mid = sent_wall_ms.saturating_add(half);
        Self {
            offset_ms: peer_wall_ms as i64 - local_mid as i64,
            uncertainty_ms: half,
            at,
        }
    }
}

/// Why the local clock may not be trusted right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("clock not verified yet: no probe round has completed")]
    NotProbed,
    #[error(
        "wall clock jumped by {drift_ms} ms against the monotonic clock since the last probe round"
    )]
    Jumped { drift_ms: i64 },
    #[error(
        "clock agrees with only {agreeing} of {cluster_size} nodes (itself included) within \
         {max_offset_ms} ms; offsets: {offsets}"
    )]
    Disagrees {
        agreeing: usize,
        cluster_size: usize,
        max_offset_ms: u64,
        offsets: String,
    },
}

#[derive(Debug, Default)]
struct State {
    samples: HashMap<NodeId, Sample>,
    /// Local (wall ms, monotonic) at the end of the last probe round.
    anchor: Option<(u64, Instant)>,
}

/// The offsets measured by this node and the verdict on its clock. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct ClockMonitor {
    cluster_size: usize,
    max_offset_ms: u64,
    state: Mutex<State>,
}

impl ClockMonitor {
    /// A monitor for a cluster of `cluster_size` nodes tolerating `max_offset_ms`.
    pub fn new(cluster_size: usize, max_offset_ms: u64) -> Self {
        Self {
            cluster_size,
            max_offset_ms,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a probe answer from `peer`.
    pub fn record(&self, peer: NodeId, sample: Sample) {
        self.lock().samples.insert(peer, sample);
    }

    /// Marks the end of a probe round at local wall `wall_ms` / monotonic `at`.
    pub fn end_round(&self, wall_ms: u64, at: Instant) {
        self.lock().anchor = Some((wall_ms, at));
    }

    /// The latest sample of every peer.
    pub fn samples(&self) -> Vec<(NodeId, Sample)> {
        let mut v: Vec<_> = self.lock().samples.iter().map(|(k, s)| (*k, *s)).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Whether the node's clock may be used now (see the module docs).
    pub fn check(&self) -> Result<(), ClockError> {
        self.check_at(now_ms(), Instant::now())
    }

    /// [`ClockMonitor::check`] at local wall `wall_ms` / monotonic `now`.
    pub fn check_at(&self, wall_ms: u64, now: Instant) -> Result<(), ClockError> {
        if self.cluster_size <= 1 {
            return Ok(());
        }
        let state = self.lock();
        let Some((anchor_wall, anchor_at)) = state.anchor else {
            return Err(ClockError::NotProbed);
        };
        let wall_elapsed = wall_ms as i64 - anchor_wall as i64;
        let mono_elapsed = now.saturating_duration_since(anchor_at).as_millis() as i64;
        let drift_ms = wall_elapsed - mono_elapsed;
        if drift_ms.unsigned_abs() > self.max_offset_ms / 2 {
            return Err(ClockError::Jumped { drift_ms });
        }
        let agreeing = 1 + state
            .samples
            .values()
            .filter(|s| self.agrees(s, now))
            .count();
        if agreeing * 2 > self.cluster_size {
            return Ok(());
        }
        let mut offsets: Vec<_> = state.samples.iter().collect();
        offsets.sort_by_key(|(k, _)| **k);
        let offsets = offsets
            .iter()
            .map(|(id, s)| {
                let age = now.saturating_duration_since(s.at).as_secs();
                format!(
                    "node {id}: {:+} ms ±{} ({age} s ago)",
                    s.offset_ms, s.uncertainty_ms
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Err(ClockError::Disagrees {
            agreeing,
            cluster_size: self.cluster_size,
            max_offset_ms: self.max_offset_ms,
            offsets: if offsets.is_empty() {
                "none measured".into()
            } else {
                offsets
            },
        })
    }

    /// Whether `peer`'s latest sample is fresh and may be within the bound (used to pick
    /// leadership transfer targets).
    pub fn peer_agrees(&self, peer: NodeId, now: Instant) -> bool {
        self.lock()
            .samples
            .get(&peer)
            .is_some_and(|s| self.agrees(s, now))
    }

    fn agrees(&self, s: &Sample, now: Instant) -> bool {
        now.saturating_duration_since(s.at) <= SAMPLE_FRESHNESS
            && s.offset_ms.unsigned_abs() <= self.max_offset_ms.saturating_add(s.uncertainty_ms)
    }
}

/// Probes every peer each [`PROBE_INTERVAL`] until `shutdown`, keeps `monitor` current, exports
/// the offsets, and on a change of verdict toggles elections on every local replica; while
/// unhealthy it transfers each leadership this node holds to another voter (preferring one
/// whose clock agrees).
pub fn spawn_monitor(
    monitor: Arc<ClockMonitor>,
    router: PeerRouter,
    host: ShardHost,
    peers: Vec<NodeId>,
    metrics: NodeMetrics,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut healthy: Option<bool> = None;
        let mut ticker = tokio::time::interval(PROBE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|v| *v) => return,
            }
            let round = peers.iter().map(|&peer| {
                let router = router.clone();
                async move {
                    let sent_wall = now_ms();
                    let sent = Instant::now();
                    let answer = router.probe_clock(peer, PROBE_TIMEOUT).await;
                    (
                        peer,
                        answer.map(|peer_wall| {
                            Sample::from_probe(sent_wall, sent.elapsed(), peer_wall, Instant::now())
                        }),
                    )
                }
            });
            // A round may take up to PROBE_TIMEOUT: shutdown must not wait for it (the drain
            // that follows turns elections off, and this task must not turn them back on).
            let answers = tokio::select! {
                answers = futures::future::join_all(round) => answers,
                _ = shutdown.wait_for(|v| *v) => return,
            };
            for (peer, answer) in answers {
                match answer {
                    Ok(sample) => {
                        monitor.record(peer, sample);
                        metrics
                            .clock_offset_ms
                            .get_or_create(&PeerLabels {
                                peer: peer.to_string(),
                            })
                            .set(sample.offset_ms);
                    }
                    Err(e) => tracing::debug!(peer, error = %e, "clock probe failed"),
                }
            }
            monitor.end_round(now_ms(), Instant::now());
            let verdict = monitor.check();
            let ok = verdict.is_ok();
            metrics.clock_healthy.set(i64::from(ok));
            if healthy != Some(ok) {
                match &verdict {
                    Ok(()) => {
                        tracing::info!("clock agrees with the cluster: proposing and campaigning")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "clock untrusted: refusing proposals, not campaigning, handing leaderships away")
                    }
                }
                if !host.is_draining() {
                    for shard in host.shards() {
                        shard.raft.runtime_config().elect(ok);
                    }
                }
                healthy = Some(ok);
            }
            if !ok {
                hand_leaderships_away(&monitor, &host).await;
            }
        }
    })
}

/// Transfers every leadership this node holds to another voter of the shard, preferring one
/// whose clock agrees.
async fn hand_leaderships_away(monitor: &ClockMonitor, host: &ShardHost) {
    let me = host.node_id();
    let now = Instant::now();
    for shard in host.shards() {
        let m = shard.raft.metrics().borrow_watched().clone();
        if m.current_leader != Some(me) {
            continue;
        }
        // Prefer a voter whose clock agrees; failing that any other voter (when nothing could
        // be measured, the fault is as likely ours): it checks its own clock before proposing.
        let voters = m.membership_config.membership().voter_ids();
        let target = crate::drain::transfer_target(me, voters, |id| monitor.peer_agrees(id, now));
        if let Some(to) = target {
            tracing::warn!(
                shard = shard.id,
                to,
                "clock untrusted: transferring leadership"
            );
            if let Err(e) = shard.raft.trigger().transfer_leader(to).await {
                tracing::warn!(shard = shard.id, error = %e, "leadership transfer failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 500;

    fn sample(offset_ms: i64, at: Instant) -> Sample {
        Sample {
            offset_ms,
            uncertainty_ms: 1,
            at,
        }
    }

    #[test]
    fn offset_is_measured_at_the_middle_of_the_round_trip() {
        let at = Instant::now();
        // Sent at 1_000, answered 40 ms later; the peer read 1_020 -> in step.
        let s = Sample::from_probe(1_000, Duration::from_millis(40), 1_020, at);
        assert_eq!((s.offset_ms, s.uncertainty_ms), (0, 20));
        // The peer is two days ahead.
        let two_days = 2 * 24 * 3600 * 1000;
        let s = Sample::from_probe(1_000, Duration::from_millis(2), 1_001 + two_days, at);
        assert_eq!(s.offset_ms, two_days as i64);
    }

    #[test]
    fn a_single_node_is_always_healthy() {
        assert_eq!(ClockMonitor::new(1, MAX).check(), Ok(()));
    }

    #[test]
    fn unhealthy_until_the_first_round() {
        let m = ClockMonitor::new(3, MAX);
        assert_eq!(
            m.check_at(10_000, Instant::now()),
            Err(ClockError::NotProbed)
        );
    }

    #[test]
    fn needs_a_majority_in_agreement() {
        let t = Instant::now();
        let m = ClockMonitor::new(3, MAX);
        m.end_round(10_000, t);
        // Nobody answered: alone is not a majority of 3.
        assert!(matches!(
            m.check_at(10_000, t),
            Err(ClockError::Disagrees { agreeing: 1, .. })
        ));
        // One peer within the bound: 2 of 3.
        m.record(2, sample(120, t));
        assert_eq!(m.check_at(10_000, t), Ok(()));
        // That peer is in fact far off; the third agrees instead.
        m.record(2, sample(-2 * 24 * 3600 * 1000, t));
        assert!(m.check_at(10_000, t).is_err());
        m.record(3, sample(-400, t));
        assert_eq!(m.check_at(10_000, t), Ok(()));
        assert!(m.peer_agrees(3, t) && !m.peer_agrees(2, t));
    }

    #[test]
    fn the_skewed_node_sees_every_peer_off() {
        // This node runs two days ahead: both peers look two days behind.
        let t = Instant::now();
        let m = ClockMonitor::new(3, MAX);
        let behind = -(2 * 24 * 3600 * 1000);
        m.record(1, sample(behind, t));
        m.record(3, sample(behind + 5, t));
        m.end_round(10_000, t);
        let err = m.check_at(10_000, t).unwrap_err();
        assert!(
            matches!(
                err,
                ClockError::Disagrees {
                    agreeing: 1,
                    cluster_size: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("node 1: -172800000 ms"), "{err}");
    }

    #[test]
    fn uncertainty_gives_the_benefit_of_the_doubt_but_stale_samples_do_not_count() {
        let t = Instant::now();
        let m = ClockMonitor::new(3, MAX);
        m.end_round(10_000, t);
        m.record(
            2,
            Sample {
                offset_ms: 700,
                uncertainty_ms: 250,
                at: t,
            },
        );
        assert_eq!(m.check_at(10_000, t), Ok(()), "700 ± 250 may be within 500");
        let later = t + SAMPLE_FRESHNESS + Duration::from_millis(1);
        m.end_round(10_000 + SAMPLE_FRESHNESS.as_millis() as u64 + 1, later);
        assert!(
            m.check_at(10_000 + SAMPLE_FRESHNESS.as_millis() as u64 + 1, later)
                .is_err(),
            "a stale sample no longer vouches for the clock"
        );
    }

    #[test]
    fn a_wall_clock_jump_since_the_last_round_is_caught() {
        let t = Instant::now();
        let m = ClockMonitor::new(3, MAX);
        m.record(2, sample(0, t));
        m.end_round(10_000, t);
        let later = t + Duration::from_millis(300);
        // Wall clock advanced with the monotonic clock (+-10 ms): fine.
        assert_eq!(m.check_at(10_310, later), Ok(()));
        // Wall clock stepped an hour forward.
        assert!(matches!(
            m.check_at(10_300 + 3_600_000, later),
            Err(ClockError::Jumped { .. })
        ));
        // ... or backwards.
        assert!(matches!(
            m.check_at(9_000, later),
            Err(ClockError::Jumped { .. })
        ));
    }
}
