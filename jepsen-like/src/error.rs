//! Why a history is malformed.

use crate::op::ProcessId;

/// Returned by [`History::push`](crate::History::push), [`History::record`](crate::History::record),
/// [`History::new`](crate::History::new) and [`History::from_jsonl`](crate::History::from_jsonl)
/// when an event would make the history malformed. A malformed history is never checked: its
/// report says so and the exit code is 2.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Returned by [`History::from_jsonl`](crate::History::from_jsonl) when line `line` (1-based)
    /// is not a JSON [`Op`](crate::Op).
    #[error("line {line}: not a history op: {source}")]
    Parse {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// An op's `index` is not its position in the history (indices are 0-based and dense).
    #[error("op at position {position} has index {index}")]
    IndexOutOfSequence { position: u64, index: u64 },
    /// An op's time is earlier than the previous op's: the recorder must take the time and append
    /// under one lock.
    #[error("op {index} at {time_ns} ns is earlier than the previous op at {previous_ns} ns")]
    TimeWentBackwards {
        index: u64,
        time_ns: u64,
        previous_ns: u64,
    },
    /// A process invoked while its previous invocation (`open_index`) had not completed.
    #[error("op {index}: process {process} invokes while op {open_index} is still open")]
    DoubleInvoke {
        index: u64,
        process: ProcessId,
        open_index: u64,
    },
    /// A completion arrived for a process with no open invocation.
    #[error("op {index}: process {process} completes with no open invocation")]
    OrphanCompletion { index: u64, process: ProcessId },
    /// A completion's payload is of another kind or key than its invocation's
    /// (see [`Payload::completes`](crate::Payload::completes)).
    #[error("op {index} ({completed}) does not complete op {invoke_index} ({invoked})")]
    MismatchedCompletion {
        index: u64,
        invoke_index: u64,
        invoked: String,
        completed: String,
    },
}
