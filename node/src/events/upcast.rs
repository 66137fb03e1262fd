//! Reading old event versions as the current one: a chain of [`Upcaster`]s, each lifting one
//! event type from version `n` to `n + 1`.

use std::collections::BTreeMap;

use super::EventEnvelope;

/// Lifts the payload of `event_type()` from `source_version()` to `source_version() + 1`.
/// Must be pure: the same payload always gives the same result.
pub trait Upcaster: Send + Sync {
    fn event_type(&self) -> &str;
    fn source_version(&self) -> u32;
    /// # Errors
    /// A message saying why the payload cannot be lifted (it is malformed for its version).
    fn upcast(&self, payload: serde_json::Value) -> Result<serde_json::Value, String>;
}

/// Why an event could not be read at the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    /// The event is newer than this reader understands: never guess, refuse.
    #[error("{event_type} v{found} is newer than this reader (v{target})")]
    TooNew {
        event_type: String,
        found: u32,
        target: u32,
    },
    /// No upcaster lifts `event_type` from `from` (a hole in the chain).
    #[error("no upcaster for {event_type} v{from} -> v{}", from + 1)]
    MissingStep { event_type: String, from: u32 },
    /// An upcaster refused the payload.
    #[error("{event_type} v{from}: {reason}")]
    Malformed {
        event_type: String,
        from: u32,
        reason: String,
    },
}

/// Upcasters by (event type, from version).
#[derive(Default)]
pub struct UpcasterChain {
    steps: BTreeMap<(String, u32), Box<dyn Upcaster>>,
}

impl UpcasterChain {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step (replacing one for the same type and version).
    pub fn with(mut self, step: impl Upcaster + 'static) -> Self {
        self.steps.insert(
            (step.event_type().to_owned(), step.source_version()),
            Box::new(step),
        );
        self
    }

    /// `event` lifted to schema version `target`, one step at a time. An event already at
    /// `target` is returned as is.
    ///
    /// # Errors
    /// [`UpcastError`]: the event is newer than `target`, a step is missing, or a step refused.
    pub fn upcast(
        &self,
        mut event: EventEnvelope,
        target: u32,
    ) -> Result<EventEnvelope, UpcastError> {
        if event.schema_version > target {
            return Err(UpcastError::TooNew {
                event_type: event.event_type,
                found: event.schema_version,
                target,
            });
        }
        while event.schema_version < target {
            let from = event.schema_version;
            let step = self
                .steps
                .get(&(event.event_type.clone(), from))
                .ok_or_else(|| UpcastError::MissingStep {
                    event_type: event.event_type.clone(),
                    from,
                })?;
            event.payload =
                step.upcast(event.payload)
                    .map_err(|reason| UpcastError::Malformed {
                        event_type: event.event_type.clone(),
                        from,
                        reason,
                    })?;
            event.schema_version = from + 1;
        }
        Ok(event)
    }
}
