//! A validated, append-only history of [`Op`]s, its JSON-lines form, and its pairing of each
//! invocation with its completion.

use std::collections::HashMap;

use crate::error::HistoryError;
use crate::op::{Op, OpType, Payload, ProcessId};

/// A well-formed history. Invariants, enforced by every constructor and by [`History::push`]:
/// - op `index` equals its position (0, 1, 2, ...);
/// - `time_ns` never decreases along the history;
/// - a process has at most one open invocation; every completion (`ok`/`fail`/`info`) closes the
///   open invocation of the same process, with a payload of the same kind and key
///   ([`Payload::completes`]).
///
/// Invocations still open at the end are *pending*: the checkers treat them exactly like `info`.
#[derive(Debug, Clone, Default)]
pub struct History {
    ops: Vec<Op>,
    /// Open invocation (its index) per process.
    open: HashMap<ProcessId, u64>,
}

/// An invocation and its completion, if any (`None`: still pending at the end of the history).
#[derive(Debug, Clone, Copy)]
pub struct OpPair<'a> {
    pub invoke: &'a Op,
    pub completion: Option<&'a Op>,
}

impl OpPair<'_> {
    /// The completion type, with a pending invocation reported as [`OpType::Info`] (its outcome
    /// is unknown).
    pub fn outcome(&self) -> OpType {
        self.completion.map_or(OpType::Info, |c| c.op_type)
    }

    /// The completion's payload when the op completed `ok` (where the result lives).
    pub fn ok_payload(&self) -> Option<&Payload> {
        self.completion
            .filter(|c| c.op_type == OpType::Ok)
            .map(|c| &c.payload)
    }
}

impl History {
    /// An empty history (the recorder's starting point).
    pub fn empty() -> Self {
        History::default()
    }

    /// Validates `ops` as a whole. Returns the first [`HistoryError`] found, in history order.
    pub fn new(ops: Vec<Op>) -> Result<Self, HistoryError> {
        let mut history = History::empty();
        for op in ops {
            history.push(op)?;
        }
        Ok(history)
    }

    /// Appends `op` if the history stays well-formed; on error the history is unchanged.
    pub fn push(&mut self, op: Op) -> Result<(), HistoryError> {
        let position = self.ops.len() as u64;
        if op.index != position {
            return Err(HistoryError::IndexOutOfSequence {
                position,
                index: op.index,
            });
        }
        if let Some(previous) = self.ops.last()
            && op.time_ns < previous.time_ns
        {
            return Err(HistoryError::TimeWentBackwards {
                index: op.index,
                time_ns: op.time_ns,
                previous_ns: previous.time_ns,
            });
        }
        let open = self.open.get(&op.process).copied();
        match (op.op_type, open) {
            (OpType::Invoke, Some(open_index)) => {
                return Err(HistoryError::DoubleInvoke {
                    index: op.index,
                    process: op.process,
                    open_index,
                });
            }
            (OpType::Invoke, None) => {
                self.open.insert(op.process, op.index);
            }
            (_, None) => {
                return Err(HistoryError::OrphanCompletion {
                    index: op.index,
                    process: op.process,
                });
            }
            (_, Some(invoke_index)) => {
                // `open` only holds indices of ops already in `self.ops` (an index equals its
                // position), so this cannot be out of bounds.
                let invoke = &self.ops[invoke_index as usize];
                if !invoke.payload.completes(&op.payload) {
                    return Err(HistoryError::MismatchedCompletion {
                        index: op.index,
                        invoke_index,
                        invoked: invoke.payload.to_string(),
                        completed: op.payload.to_string(),
                    });
                }
                self.open.remove(&op.process);
            }
        }
        self.ops.push(op);
        Ok(())
    }

    /// Builds the next op (its index is the current length) and [`push`](Self::push)es it.
    /// Returns the op's index.
    pub fn record(
        &mut self,
        process: ProcessId,
        op_type: OpType,
        time_ns: u64,
        payload: Payload,
        error: Option<String>,
    ) -> Result<u64, HistoryError> {
        let index = self.ops.len() as u64;
        self.push(Op {
            process,
            index,
            op_type,
            time_ns,
            payload,
            error,
        })?;
        Ok(index)
    }

    /// Every op, in history order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Number of ops (invocations and completions).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Each invocation with its completion, in invocation order.
    pub fn pairs(&self) -> Vec<OpPair<'_>> {
        let mut pairs: Vec<OpPair<'_>> = Vec::new();
        // Position in `pairs` of each process's open invocation while scanning.
        let mut open: HashMap<ProcessId, usize> = HashMap::new();
        for op in &self.ops {
            if op.op_type == OpType::Invoke {
                open.insert(op.process, pairs.len());
                pairs.push(OpPair {
                    invoke: op,
                    completion: None,
                });
            } else if let Some(at) = open.remove(&op.process) {
                // `push` guarantees every completion closes an open invocation, so this branch
                // is always taken for a completion.
                pairs[at].completion = Some(op);
            }
        }
        pairs
    }

    /// Parses a JSON-lines history (one [`Op`] per line; blank lines are skipped) and validates it.
    pub fn from_jsonl(text: &str) -> Result<Self, HistoryError> {
        let mut history = History::empty();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let op: Op = serde_json::from_str(line).map_err(|source| HistoryError::Parse {
                line: n + 1,
                source,
            })?;
            history.push(op)?;
        }
        Ok(history)
    }

    /// The JSON-lines form: one op per line, each line terminated by `\n`.
    /// [`from_jsonl`](Self::from_jsonl) of the result yields an equal history.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for op in &self.ops {
            // Serialising an `Op` cannot fail: every field is a string, integer, enum or
            // Option/Vec of those, and no map has non-string keys.
            let line = serde_json::to_string(op).expect("an Op always serialises to JSON");
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

impl PartialEq for History {
    /// Histories are equal when their ops are (the open-invocation index is derived from them).
    fn eq(&self, other: &Self) -> bool {
        self.ops == other.ops
    }
}

impl Eq for History {}
