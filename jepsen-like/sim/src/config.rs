//! What one simulation run does: cluster size, durations, fault rates and planted bugs.

use std::time::Duration;

/// A deliberately broken behaviour, used to prove that the checker catches real violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The log store acknowledges an append (completes openraft's `IOFlushed` callback) at once
    /// instead of after its flush, while a crash still drops everything not yet flushed: the
    /// storage lies about durability.
    AckBeforeFlush,
    /// The state machine applies some normal entries twice.
    ApplyTwice,
}

/// Fault rates of the nemesis and of the network.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Inject faults at all (a fault-free run still has network latency).
    pub enabled: bool,
    /// Sim time between two nemesis actions, drawn uniformly from this range (ms).
    pub nemesis_interval_ms: (u64, u64),
    /// One-way message latency, drawn per message (ms).
    pub latency_ms: (u64, u64),
    /// Highest per-message loss probability a "lossy network" fault sets.
    pub max_loss: f64,
    /// Sim time a crashed node stays down (ms).
    pub downtime_ms: (u64, u64),
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            enabled: true,
            nemesis_interval_ms: (150, 600),
            latency_ms: (1, 8),
            max_loss: 0.3,
            downtime_ms: (20, 400),
        }
    }
}

/// One simulation run. Everything random is derived from `seed`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Voters (ids `1..=nodes`).
    pub nodes: u64,
    /// Simulated length of the workload-with-faults phase.
    pub chaos: Duration,
    /// Simulated time the healed cluster gets to converge before that counts as a liveness
    /// failure.
    pub heal_deadline: Duration,
    /// The invariant checker runs after every tick of simulated time.
    pub tick: Duration,
    /// Concurrent clients, each owning its own orders.
    pub clients: u64,
    pub faults: Faults,
    /// Log appends become durable at the next flush; each node flushes every `flush_ms` (drawn
    /// per node from this range).
    pub flush_ms: (u64, u64),
    pub bug: Option<Bug>,
    /// Let openraft accept a follower whose log went backwards instead of panicking. Its guard
    /// catches lost durable appends by itself; the planted-durability-bug test lowers it so
    /// the damage reaches the invariant checker.
    pub allow_log_reversion: bool,
    /// openraft's `enable_leader_restore`: a leader that restarts resumes leadership in its old
    /// term without an election. Off, as in `orderd`: with it on, a leader that lost an
    /// unflushed log tail it had already replicated writes a different entry under a log id a
    /// follower holds (seeds 26, 34 and 39 of the sweep show it).
    pub leader_restore: bool,
    /// Keep every trace line (not only the hash), for diffing two runs.
    pub record_trace: bool,
}

impl SimConfig {
    /// The standard run of the test sweep for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            nodes: 3,
            chaos: Duration::from_secs(3),
            heal_deadline: Duration::from_secs(20),
            tick: Duration::from_millis(5),
            clients: 3,
            faults: Faults::default(),
            flush_ms: (1, 15),
            bug: None,
            allow_log_reversion: false,
            leader_restore: false,
            record_trace: false,
        }
    }
}
