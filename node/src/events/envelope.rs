//! [`EventEnvelope`]: what every published event carries besides its payload.

use serde::{Deserialize, Serialize};

use super::Hlc;

/// A versioned event of one aggregate (an order, a stock bucket, an account).
///
/// - `event_id` is unique: `<aggregate_id>/<sequence>`, so a redelivered event is recognised.
/// - `sequence` counts the aggregate's events from 1 without gaps: consumers apply them in
///   that order ([`super::OrderedConsumer`]).
/// - `schema_version` is the version of `payload`'s shape for `event_type`; readers upcast
///   older versions ([`super::UpcasterChain`]).
/// - `causation_id` is the event or command that caused this one; `correlation_id` ties every
///   event of one business flow (e.g. the saga id of a purchase) together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub hlc: Hlc,
    pub causation_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The event's fields as JSON (self-describing, so old versions stay readable).
    pub payload: serde_json::Value,
}

impl EventEnvelope {
    /// An envelope with `event_id` derived from the aggregate id and sequence.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: u64,
        event_type: &str,
        schema_version: u32,
        hlc: Hlc,
        causation_id: Option<String>,
        correlation_id: Option<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            event_id: format!("{aggregate_id}/{sequence}"),
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            sequence,
            event_type: event_type.to_owned(),
            schema_version,
            hlc,
            causation_id,
            correlation_id,
            payload,
        }
    }
}
