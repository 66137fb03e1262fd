//! [`OrderedConsumer`]: applies each aggregate's events in sequence order, whatever order and
//! however many times they arrive.

use std::collections::BTreeMap;
use std::collections::HashMap;

use super::EventEnvelope;

/// What happened to an offered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// These events (the offered one and any buffered successors) are next, in order: apply
    /// them.
    Deliver(Vec<EventEnvelope>),
    /// Ahead of a gap: kept until the missing sequences arrive.
    Buffered,
    /// Already delivered or already buffered: dropped.
    Duplicate,
    /// Ahead of a gap, but the aggregate's buffer is full: dropped (it will be redelivered by
    /// a resumed feed); nothing else changed.
    Overflow,
}

/// Per-aggregate in-order delivery with gap buffering and duplicate dropping.
///
/// Contract: for each aggregate, the concatenation of all `Deliver` lists is exactly the
/// sequences `first..` without gaps or repeats, whatever the arrival order and duplication.
#[derive(Debug, Clone)]
pub struct OrderedConsumer {
    /// The next sequence to deliver per aggregate (absent = 1).
    next: HashMap<String, u64>,
    /// Events ahead of a gap, per aggregate, by sequence.
    pending: HashMap<String, BTreeMap<u64, EventEnvelope>>,
    max_buffered: usize,
}

impl OrderedConsumer {
    /// A consumer buffering at most `max_buffered` out-of-order events per aggregate.
    pub fn new(max_buffered: usize) -> Self {
        Self {
            next: HashMap::new(),
            pending: HashMap::new(),
            max_buffered,
        }
    }

    /// Resumes an aggregate after `delivered` (its events up to that sequence were applied).
    pub fn resume(&mut self, aggregate_id: &str, delivered: u64) {
        self.next
            .insert(aggregate_id.to_owned(), delivered.saturating_add(1));
    }

    /// The next sequence expected for `aggregate_id`.
    pub fn next_sequence(&self, aggregate_id: &str) -> u64 {
        self.next.get(aggregate_id).copied().unwrap_or(1)
    }

    pub fn offer(&mut self, event: EventEnvelope) -> Offer {
        let next = self.next_sequence(&event.aggregate_id);
        if event.sequence < next {
            return Offer::Duplicate;
        }
        let id = event.aggregate_id.clone();
        if event.sequence > next {
            let buffer = self.pending.entry(id).or_default();
            if buffer.contains_key(&event.sequence) {
                return Offer::Duplicate;
            }
            if buffer.len() >= self.max_buffered {
                return Offer::Overflow;
            }
            buffer.insert(event.sequence, event);
            return Offer::Buffered;
        }
        let mut out = vec![event];
        let mut expected = next + 1;
        if let Some(buffer) = self.pending.get_mut(&id) {
            while let Some(e) = buffer.remove(&expected) {
                out.push(e);
                expected += 1;
            }
            if buffer.is_empty() {
                self.pending.remove(&id);
            }
        }
        self.next.insert(id, expected);
        Offer::Deliver(out)
    }
}
