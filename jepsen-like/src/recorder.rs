//! [`Recorder`]: the one place client operations enter the history.
//!
//! It meets the checkers' preconditions by construction: the time of an event is read from one
//! monotonic clock ([`Instant`]) *while holding the lock* under which the event is appended, so
//! times never go backwards along the history; and every event goes through
//! [`History::record`], which rejects a malformed sequence. Each event is also appended to a
//! JSON-lines file as it happens, so an interrupted run still leaves its history on disk.

use std::fs::File;
use std::io::BufWriter;
use std::io::Write;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::time::Instant;

use crate::error::HistoryError;
use crate::history::History;
use crate::op::{OpType, Payload, ProcessId};

/// Records a run's history (shared by every worker; cheap to lock).
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    history: History,
    sink: Option<BufWriter<File>>,
}

impl Recorder {
    /// A recorder whose clock starts now; `sink` receives each op as a JSON line.
    pub fn new(start: Instant, sink: Option<File>) -> Recorder {
        Recorder {
            start,
            inner: Mutex::new(Inner {
                history: History::empty(),
                sink: sink.map(BufWriter::new),
            }),
        }
    }

    /// Nanoseconds since the recorder's start on its clock (for nemesis events, which are
    /// not part of the history but are drawn on the same time axis).
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a history that is still well-formed (push is
        // all-or-nothing), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `process` invoking `payload`; returns the event's time.
    pub fn invoke(&self, process: ProcessId, payload: Payload) -> Result<u64, HistoryError> {
        self.record(process, OpType::Invoke, payload, None)
    }

    /// Records the completion of `process`'s open invocation.
    pub fn complete(
        &self,
        process: ProcessId,
        op_type: OpType,
        payload: Payload,
        error: Option<String>,
    ) -> Result<u64, HistoryError> {
        self.record(process, op_type, payload, error)
    }

    fn record(
        &self,
        process: ProcessId,
        op_type: OpType,
        payload: Payload,
        error: Option<String>,
    ) -> Result<u64, HistoryError> {
        let mut guard = self.lock();
        let Inner { history, sink } = &mut *guard;
        // Read the clock under the lock: this is what makes times non-decreasing.
        let time_ns = self.now_ns();
        let index = history.record(process, op_type, time_ns, payload, error)?;
        if let Some(sink) = sink.as_mut() {
            // `index` was just pushed, so it is in bounds. Serialising an Op cannot fail (see
            // `History::to_jsonl`); a write failure only loses the streamed copy, and the
            // final `history.jsonl` is rewritten from memory at the end of the run.
            let op = &history.ops()[index as usize];
            let line = serde_json::to_string(op).expect("an Op always serialises to JSON");
            let _ = writeln!(sink, "{line}");
        }
        Ok(time_ns)
    }

    /// A copy of the history so far.
    pub fn history(&self) -> History {
        self.lock().history.clone()
    }

    /// Flushes the streamed copy.
    pub fn flush(&self) {
        if let Some(sink) = self.lock().sink.as_mut() {
            let _ = sink.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many threads recording at once still give a valid history with non-decreasing times.
    #[test]
    fn concurrent_recording_yields_a_valid_history() {
        let rec = std::sync::Arc::new(Recorder::new(Instant::now(), None));
        let threads: Vec<_> = (0..8u64)
            .map(|p| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let payload = Payload::Read {
                            order_id: format!("o-{p}-{i}"),
                            observed: None,
                        };
                        rec.invoke(p, payload.clone()).unwrap();
                        rec.complete(p, OpType::Ok, payload, None).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let h = rec.history();
        assert_eq!(h.len(), 8 * 200 * 2);
        // Re-validating from scratch checks index density and time order.
        assert_eq!(History::new(h.ops().to_vec()).unwrap(), h);
    }

    #[test]
    fn a_completion_without_invocation_is_refused() {
        let rec = Recorder::new(Instant::now(), None);
        let p = Payload::ReadAll { elements: vec![] };
        assert!(rec.complete(1, OpType::Ok, p, None).is_err());
        assert!(rec.history().is_empty());
    }
}
