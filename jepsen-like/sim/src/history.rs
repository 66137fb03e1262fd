//! What the simulation observed: the trace (hashed for replay comparison), every entry applied
//! anywhere, and the invariant violations found.
//!
//! State machine safety is checked here, at the moment of each apply: the first node to apply
//! index `i` fixes the canonical `(log id, state digest)` at `i`; every later apply of `i`
//! anywhere must match it, and each node must apply indexes one by one, in order.

use std::collections::BTreeMap;
use std::fmt;

use crate::rng::Fnv64;
use crate::types::LogId;
use crate::types::NodeId;

/// An entry some state machine applied (hence committed).
#[derive(Debug, Clone)]
pub struct Committed {
    pub log_id: LogId,
    /// Fingerprint of the serialized entry.
    pub entry_hash: u64,
    /// Digest of the state machine after applying it (chained over every earlier entry).
    pub digest: u64,
    /// Highest vote term on any disk when it was first applied: the leader that committed it
    /// had a term at most this, so every leader of a higher term must hold it.
    pub term_bound: u64,
}

/// A broken invariant, with the simulated time (ms) it was found at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub at_ms: u64,
    pub kind: ViolationKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// Two nodes were leader in the same term.
    ElectionSafety {
        term: u64,
        leaders: (NodeId, NodeId),
    },
    /// Two logs hold the same log id at `index` but differ at or below `differs_at`.
    LogMatching {
        nodes: (NodeId, NodeId),
        index: u64,
        differs_at: u64,
    },
    /// A leader of `term` lacks (or holds another) committed entry at `index`.
    LeaderCompleteness {
        leader: NodeId,
        term: u64,
        index: u64,
    },
    /// `node` applied at `index` something other than what another node applied there.
    StateMachineSafety { node: NodeId, index: u64 },
    /// `node` applied `index` when the next index to apply was `expected`.
    ApplyOrder {
        node: NodeId,
        index: u64,
        expected: u64,
    },
    /// An order a client saw acknowledged at `acked_version` is missing or older on `node`
    /// after healing.
    AckedWriteLost {
        order: u64,
        acked_version: u64,
        node: NodeId,
        found: Option<u64>,
    },
    /// A client observed an order's version go from `before` back to `after`.
    VersionWentBack { order: u64, before: u64, after: u64 },
    /// The cluster did not converge (one leader, equal applied state) after faults stopped.
    NoConvergence { detail: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms {:?}", self.at_ms, self.kind)
    }
}

/// The run's observations. One per simulation, shared by every component.
#[derive(Debug, Default)]
pub struct History {
    trace: Fnv64,
    events: u64,
    lines: Option<Vec<String>>,
    committed: BTreeMap<u64, Committed>,
    /// Last index each node applied (or restored from a snapshot) since its last restore.
    cursors: BTreeMap<NodeId, u64>,
    violations: Vec<Violation>,
}

impl History {
    pub fn new(record_lines: bool) -> Self {
        Self {
            lines: record_lines.then(Vec::new),
            ..Self::default()
        }
    }

    /// Adds one event to the trace.
    pub fn event(&mut self, at_ms: u64, what: fmt::Arguments<'_>) {
        let line = format!("{at_ms} {what}");
        self.trace.write(line.as_bytes());
        self.trace.write(b"\n");
        self.events += 1;
        if let Some(lines) = &mut self.lines {
            lines.push(line);
        }
    }

    pub fn violation(&mut self, at_ms: u64, kind: ViolationKind) {
        self.event(at_ms, format_args!("VIOLATION {kind:?}"));
        self.violations.push(Violation { at_ms, kind });
    }

    /// Records that `node` applied `log_id`, leaving its state at `digest`; checks state machine
    /// safety and apply order.
    pub fn on_apply(
        &mut self,
        at_ms: u64,
        node: NodeId,
        log_id: LogId,
        entry_hash: u64,
        digest: u64,
        term_bound: u64,
    ) {
        let index = log_id.index;
        self.event(at_ms, format_args!("apply n{node} {log_id} {digest:x}"));
        let expected = self.cursors.get(&node).map_or(0, |c| c + 1);
        if index != expected {
            self.violation(
                at_ms,
                ViolationKind::ApplyOrder {
                    node,
                    index,
                    expected,
                },
            );
        }
        self.cursors.insert(node, index);
        match self.committed.get(&index) {
            Some(c) if c.log_id != log_id || c.digest != digest || c.entry_hash != entry_hash => {
                self.violation(at_ms, ViolationKind::StateMachineSafety { node, index });
            }
            Some(_) => {}
            None => {
                self.committed.insert(
                    index,
                    Committed {
                        log_id,
                        entry_hash,
                        digest,
                        term_bound,
                    },
                );
            }
        }
    }

    /// Records that `node`'s state machine was reset to a snapshot (or to empty) at `applied`
    /// with `digest`; checks the snapshot against what was applied at that index.
    pub fn on_restore(&mut self, at_ms: u64, node: NodeId, applied: Option<LogId>, digest: u64) {
        self.event(
            at_ms,
            format_args!("restore n{node} {applied:?} {digest:x}"),
        );
        match applied {
            None => {
                self.cursors.remove(&node);
            }
            Some(log_id) => {
                if let Some(c) = self.committed.get(&log_id.index)
                    && (c.log_id != log_id || c.digest != digest)
                {
                    self.violation(
                        at_ms,
                        ViolationKind::StateMachineSafety {
                            node,
                            index: log_id.index,
                        },
                    );
                }
                self.cursors.insert(node, log_id.index);
            }
        }
    }

    /// Every entry applied anywhere, by index.
    pub fn committed(&self) -> &BTreeMap<u64, Committed> {
        &self.committed
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn trace_hash(&self) -> u64 {
        self.trace.finish()
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn lines(&self) -> Option<&[String]> {
        self.lines.as_deref()
    }
}
