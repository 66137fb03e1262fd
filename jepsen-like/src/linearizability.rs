//! The linearizability search: the Wing–Gong algorithm with Lowe's memoisation, as Porcupine
//! implements it, extended with operations of unknown outcome.
//!
//! Every operation becomes a *call* entry at its invocation time and, when it completed, a
//! *return* entry at its completion time; entries are sorted by time (calls before returns at
//! equal times, so touching intervals count as concurrent). A depth-first search repeatedly picks
//! a call that comes before the first remaining return entry (a *minimal* operation), asks the
//! model whether it can take effect now, and if so removes ("lifts") it and recurses; reaching a
//! return entry whose call is still unlinearized means the current prefix is a dead end, so the
//! search backtracks. Each (set of linearized ops, model state) pair is explored at most once.
//!
//! Operations without a completion (`info`, pending) only have a call entry: they may be
//! linearized at any point after their invocation, and the search succeeds as soon as every
//! *completed* operation is linearized, so they may also never take effect.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::{Model, Operation};
use crate::report::UnknownReason;

/// How much work one key's search may do before it gives up with
/// [`SearchOutcome::Unknown`]. Exhausting a budget never produces a false verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Maximum number of model steps per key.
    pub max_steps: u64,
    /// Maximum wall-clock time per key; `None` = unbounded. Makes verdicts depend on machine
    /// speed, so tests use `max_steps` only.
    pub max_duration: Option<Duration>,
    /// Maximum (estimated) size of the memo table per key, in bytes. Each entry holds a bitset
    /// over the key's operations, so long single-key histories need this cap more than steps.
    pub max_memo_bytes: u64,
}

impl Budget {
    /// The default step allowance per key: generous for real histories (a few seconds of search
    /// at most), finite for adversarial ones.
    pub const DEFAULT_MAX_STEPS: u64 = 5_000_000;

    /// The default memo allowance per key: 1 GiB.
    pub const DEFAULT_MAX_MEMO_BYTES: u64 = 1 << 30;

    /// A budget of `max_steps` model steps per key, the default memo cap and no time limit.
    pub const fn steps(max_steps: u64) -> Self {
        Budget {
            max_steps,
            max_duration: None,
            max_memo_bytes: Budget::DEFAULT_MAX_MEMO_BYTES,
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::steps(Budget::DEFAULT_MAX_STEPS)
    }
}

/// The result of [`search`] on one object's operations. `steps` counts model steps taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchOutcome<S> {
    /// Some order of the operations is legal for the model and respects real time.
    Linearizable { steps: u64 },
    /// No such order exists; `frontier` describes the deepest dead end found.
    NotLinearizable { steps: u64, frontier: Frontier<S> },
    /// The budget ran out first: the history may or may not be linearizable.
    Unknown { steps: u64, reason: UnknownReason },
}

/// The deepest dead end of a failed search: after linearizing `prefix` (ids, in order) the model
/// is in `state`, and operation `blocked` completed before it could be linearized, yet none of
/// `candidates` (the operations that could go next) can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier<S> {
    pub prefix: Vec<u64>,
    pub state: S,
    pub blocked: u64,
    pub candidates: Vec<Candidate>,
}

/// An operation that could have been linearized next at a [`Frontier`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: u64,
    /// Why the model refuses it here; `None` when the model accepts it but every continuation
    /// from there was already shown to fail.
    pub rejection: Option<String>,
}

const HEAD: usize = 0;
const NIL: usize = usize::MAX;
/// How often (in steps) the wall clock is read when a time budget is set.
const CLOCK_EVERY: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Call,
    Return,
}

/// One node of the doubly linked entry list. Index 0 is the list head (a sentinel).
#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: EntryKind,
    /// Position of the operation in the input slice.
    op: usize,
    /// For a call entry of a completed operation, its return entry.
    matching: Option<usize>,
    prev: usize,
    next: usize,
}

/// The entry list with O(1) lift (remove a call and its return) and unlift (restore them, in
/// strict LIFO order).
struct EntryList {
    entries: Vec<Entry>,
}

impl EntryList {
    fn new<I, O>(ops: &[Operation<I, O>]) -> Self {
        // (time, calls before returns, op position): a total order, so the list is deterministic.
        let mut events: Vec<(u64, EntryKind, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.invoked_ns, EntryKind::Call, i));
            if let Some(c) = &op.completion {
                // A completion never precedes its invocation in a valid history; clamp anyway so
                // a return entry can never come before its call.
                events.push((c.completed_ns.max(op.invoked_ns), EntryKind::Return, i));
            }
        }
        events.sort_by_key(|&(t, kind, i)| (t, kind == EntryKind::Return, i));

        let head = Entry {
            kind: EntryKind::Call,
            op: usize::MAX,
            matching: None,
            prev: NIL,
            next: NIL,
        };
        let mut entries = vec![head];
        let mut call_of = vec![NIL; ops.len()];
        for (_, kind, op) in events {
            let at = entries.len();
            entries.push(Entry {
                kind,
                op,
                matching: None,
                prev: at - 1,
                next: NIL,
            });
            entries[at - 1].next = at;
            match kind {
                EntryKind::Call => call_of[op] = at,
                EntryKind::Return => entries[call_of[op]].matching = Some(at),
            }
        }
        EntryList { entries }
    }

    fn first(&self) -> usize {
        self.entries[HEAD].next
    }

    fn unlink(&mut self, e: usize) {
        let Entry { prev, next, .. } = self.entries[e];
        self.entries[prev].next = next;
        if next != NIL {
            self.entries[next].prev = prev;
        }
    }

    fn relink(&mut self, e: usize) {
        let Entry { prev, next, .. } = self.entries[e];
        self.entries[prev].next = e;
        if next != NIL {
            self.entries[next].prev = e;
        }
    }

    /// Removes call entry `e` and its return entry.
    fn lift(&mut self, e: usize) {
        self.unlink(e);
        if let Some(m) = self.entries[e].matching {
            self.unlink(m);
        }
    }

    /// Undoes the most recent [`lift`](Self::lift) of `e`.
    fn unlift(&mut self, e: usize) {
        if let Some(m) = self.entries[e].matching {
            self.relink(m);
        }
        self.relink(e);
    }
}

/// A fixed-size set of operation positions, hashable for the memo table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(len: usize) -> Self {
        Bitset(vec![0; len.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// A linearized operation on the search stack and the state before it.
struct Frame<S> {
    entry: usize,
    state_before: S,
}

/// The deepest dead end seen so far, before candidates are explained.
struct RawFrontier<S> {
    prefix: Vec<usize>,
    state: S,
    blocked: usize,
    candidates: Vec<usize>,
}

/// Decides whether `ops` (one object's operations; definite failures already removed) are
/// linearizable with respect to `model`, within `budget`. Deterministic for a given input and
/// step budget. Never panics on any input.
pub fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: &Budget,
) -> SearchOutcome<M::State> {
    let started = budget.max_duration.map(|d| (Instant::now(), d));
    let mut list = EntryList::new(ops);
    let mut remaining = ops.iter().filter(|op| op.completion.is_some()).count();
    let mut linearized = Bitset::new(ops.len());
    let mut memo: HashSet<(Bitset, M::State)> = HashSet::new();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut state = model.init();
    let mut deepest: Option<RawFrontier<M::State>> = None;
    let mut steps: u64 = 0;
    // Estimated bytes per memo entry: the bitset, the state and the hash table's overhead.
    let entry_bytes = (linearized.0.len() * 8 + std::mem::size_of::<M::State>() + 32) as u64;
    let mut memo_bytes: u64 = 0;
    let mut entry = list.first();

    loop {
        if remaining == 0 {
            return SearchOutcome::Linearizable { steps };
        }
        let call = (entry != NIL).then(|| list.entries[entry]);
        match call {
            Some(e) if e.kind == EntryKind::Call => {
                if steps >= budget.max_steps {
                    return SearchOutcome::Unknown {
                        steps,
                        reason: UnknownReason::StepBudgetExhausted { steps },
                    };
                }
                if let Some((t0, limit)) = started
                    && steps.is_multiple_of(CLOCK_EVERY)
                    && t0.elapsed() > limit
                {
                    return SearchOutcome::Unknown {
                        steps,
                        reason: UnknownReason::TimeBudgetExhausted {
                            budget_ms: limit.as_millis() as u64,
                        },
                    };
                }
                steps += 1;
                let op = &ops[e.op];
                let output = op.completion.as_ref().map(|c| &c.output);
                if let Some(next_state) = model.step(&state, &op.input, output) {
                    linearized.set(e.op);
                    if memo.insert((linearized.clone(), next_state.clone())) {
                        memo_bytes += entry_bytes;
                        if memo_bytes > budget.max_memo_bytes {
                            return SearchOutcome::Unknown {
                                steps,
                                reason: UnknownReason::MemoryBudgetExhausted { bytes: memo_bytes },
                            };
                        }
                        let state_before = std::mem::replace(&mut state, next_state);
                        stack.push(Frame {
                            entry,
                            state_before,
                        });
                        list.lift(entry);
                        if op.completion.is_some() {
                            remaining -= 1;
                        }
                        entry = list.first();
                        continue;
                    }
                    linearized.clear(e.op);
                }
                entry = e.next;
            }
            // A return entry whose call is not linearized (or, defensively, the end of the list):
            // the current prefix cannot be extended past this point.
            blocked => {
                if let Some(b) = blocked
                    && deepest
                        .as_ref()
                        .is_none_or(|d| stack.len() > d.prefix.len())
                {
                    deepest = Some(RawFrontier {
                        prefix: stack.iter().map(|f| list.entries[f.entry].op).collect(),
                        state: state.clone(),
                        blocked: b.op,
                        candidates: minimal_calls(&list, entry),
                    });
                }
                let Some(frame) = stack.pop() else {
                    return not_linearizable(model, ops, steps, deepest);
                };
                let op = list.entries[frame.entry].op;
                state = frame.state_before;
                linearized.clear(op);
                list.unlift(frame.entry);
                if ops[op].completion.is_some() {
                    remaining += 1;
                }
                entry = list.entries[frame.entry].next;
            }
        }
    }
}

/// The call entries between the list head and `stop` (exclusive): the operations that could be
/// linearized next.
fn minimal_calls(list: &EntryList, stop: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = list.first();
    while at != NIL && at != stop {
        let e = list.entries[at];
        if e.kind == EntryKind::Call {
            out.push(e.op);
        }
        at = e.next;
    }
    out
}

fn not_linearizable<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    steps: u64,
    deepest: Option<RawFrontier<M::State>>,
) -> SearchOutcome<M::State> {
    // The search only fails after meeting at least one return entry, which records a frontier;
    // the fallback covers the impossible case without panicking.
    let raw = deepest.unwrap_or_else(|| RawFrontier {
        prefix: Vec::new(),
        state: model.init(),
        blocked: 0,
        candidates: Vec::new(),
    });
    let candidates = raw
        .candidates
        .iter()
        .map(|&i| {
            let op = &ops[i];
            Candidate {
                id: op.id,
                rejection: model.explain(
                    &raw.state,
                    &op.input,
                    op.completion.as_ref().map(|c| &c.output),
                ),
            }
        })
        .collect();
    SearchOutcome::NotLinearizable {
        steps,
        frontier: Frontier {
            prefix: raw.prefix.iter().map(|&i| ops[i].id).collect(),
            state: raw.state,
            blocked: ops.get(raw.blocked).map_or(0, |op| op.id),
            candidates,
        },
    }
}
