//! State shared by every component of one simulation run.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use crate::config::SimConfig;
use crate::history::History;
use crate::rng::SimRng;
use crate::runtime::lock;

/// The run's configuration, its one random generator, its history and the simulated clock's
/// origin.
#[derive(Debug)]
pub struct World {
    pub config: SimConfig,
    pub rng: Mutex<SimRng>,
    pub history: Mutex<History>,
    /// Highest vote term saved on any disk so far (see [`crate::history::Committed`]).
    max_vote_term: AtomicU64,
    start: Instant,
}

impl World {
    /// Must be called inside the simulation runtime (it reads the simulated clock).
    pub fn new(config: SimConfig) -> Self {
        Self {
            rng: Mutex::new(SimRng::new(config.seed)),
            history: Mutex::new(History::new(config.record_trace)),
            max_vote_term: AtomicU64::new(0),
            start: Instant::now(),
            config,
        }
    }

    /// Simulated milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// A draw from the run's generator in `[lo, hi)`.
    pub fn range(&self, lo: u64, hi: u64) -> u64 {
        lock(&self.rng).range(lo, hi)
    }

    pub fn chance(&self, p: f64) -> bool {
        lock(&self.rng).chance(p)
    }

    pub fn note_vote_term(&self, term: u64) {
        self.max_vote_term.fetch_max(term, Ordering::Relaxed);
    }

    pub fn max_vote_term(&self) -> u64 {
        self.max_vote_term.load(Ordering::Relaxed)
    }

    /// Adds an event to the trace.
    pub fn event(&self, what: std::fmt::Arguments<'_>) {
        let now = self.now_ms();
        lock(&self.history).event(now, what);
    }
}
