//! Hybrid logical clocks (Kulkarni et al.): wall-clock milliseconds plus a logical counter, so
//! timestamps follow causality even when clocks disagree, and stay close to real time.

use serde::{Deserialize, Serialize};

/// A hybrid logical timestamp. Ordered by (`wall_ms`, `logical`, `node`); the node id breaks
/// ties so two nodes never issue equal timestamps (last-write-wins needs a total order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: u64,
    pub logical: u32,
    pub node: u64,
}

/// Issues [`Hlc`] timestamps for one node. Contract: every timestamp it returns is greater than
/// every timestamp it returned or observed before, whatever the wall clock does.
#[derive(Debug, Clone)]
pub struct HlcClock {
    node: u64,
    last: Hlc,
}

impl HlcClock {
    pub fn new(node: u64) -> Self {
        Self {
            node,
            last: Hlc {
                wall_ms: 0,
                logical: 0,
                node,
            },
        }
    }

    /// A timestamp for a local event at wall time `now_ms`.
    pub fn now(&mut self, now_ms: u64) -> Hlc {
        self.last = if now_ms > self.last.wall_ms {
            Hlc {
                wall_ms: now_ms,
                logical: 0,
                node: self.node,
            }
        } else {
            self.bump(self.last.wall_ms, self.last.logical)
        };
        self.last
    }

    /// Folds in a timestamp received from another node (a message or a replicated event) at
    /// local wall time `now_ms`, and returns the timestamp of the receive event.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) -> Hlc {
        let wall = now_ms.max(self.last.wall_ms).max(remote.wall_ms);
        let logical = if wall == self.last.wall_ms && wall == remote.wall_ms {
            self.last.logical.max(remote.logical)
        } else if wall == self.last.wall_ms {
            self.last.logical
        } else if wall == remote.wall_ms {
            remote.logical
        } else {
            self.last = Hlc {
                wall_ms: wall,
                logical: 0,
                node: self.node,
            };
            return self.last;
        };
        self.last = self.bump(wall, logical);
        self.last
    }

    /// The next timestamp after (`wall`, `logical`): the counter grows; on the (theoretical)
    /// overflow of the counter the wall part moves one millisecond ahead instead.
    fn bump(&self, wall: u64, logical: u32) -> Hlc {
        match logical.checked_add(1) {
            Some(l) => Hlc {
                wall_ms: wall,
                logical: l,
                node: self.node,
            },
            None => Hlc {
                wall_ms: wall.saturating_add(1),
                logical: 0,
                node: self.node,
            },
        }
    }
}
