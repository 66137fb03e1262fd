//! Tests of the event plumbing: HLC order under skewed clocks, v1 events read through v2, and
//! in-order delivery whatever the arrival order.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn hlc(wall_ms: u64) -> Hlc {
    Hlc {
        wall_ms,
        logical: 0,
        node: 1,
    }
}

fn event(
    aggregate: &str,
    sequence: u64,
    version: u32,
    payload: serde_json::Value,
) -> EventEnvelope {
    EventEnvelope::new(
        "order",
        aggregate,
        sequence,
        "ORDER_PLACED",
        version,
        hlc(sequence),
        None,
        Some("saga-1".into()),
        payload,
    )
}

#[test]
fn hlc_is_monotonic_when_the_wall_clock_goes_back_and_follows_remote_time() {
    let mut c = HlcClock::new(1);
    let a = c.now(1_000);
    let b = c.now(900); // the wall clock stepped back
    assert!(b > a);
    let remote = Hlc {
        wall_ms: 5_000,
        logical: 7,
        node: 2,
    };
    let r = c.observe(remote, 1_000);
    assert!(r > remote && r > b);
    let d = c.now(1_001);
    assert!(d > r, "local events after a receive stay after it");
    assert_eq!(d.wall_ms, 5_000);
}

/// Version 1 of ORDER_PLACED stored `total_cents`; version 2 stores `total` as
/// `{amount, currency}` and adds `channel`.
struct PlacedV1ToV2;

impl Upcaster for PlacedV1ToV2 {
    fn event_type(&self) -> &str {
        "ORDER_PLACED"
    }
    fn source_version(&self) -> u32 {
        1
    }
    fn upcast(&self, payload: serde_json::Value) -> Result<serde_json::Value, String> {
        let cents = payload
            .get("total_cents")
            .and_then(|v| v.as_u64())
            .ok_or("total_cents missing")?;
        Ok(json!({
            "order_id": payload.get("order_id").cloned().unwrap_or_default(),
            "total": {"amount": cents, "currency": "USD"},
            "channel": "unknown",
        }))
    }
}

#[test]
fn stored_v1_events_are_read_through_v2() {
    let chain = UpcasterChain::new().with(PlacedV1ToV2);
    // Stored as v1 (as bytes, like a log would keep them), read back, upcast to v2.
    let stored = serde_json::to_vec(&event(
        "o-1",
        1,
        1,
        json!({"order_id": "o-1", "total_cents": 2_500}),
    ))
    .unwrap();
    let read: EventEnvelope = serde_json::from_slice(&stored).unwrap();
    let v2 = chain.upcast(read, 2).expect("upcast");
    assert_eq!(v2.schema_version, 2);
    assert_eq!(v2.payload["total"]["amount"], 2_500);
    assert_eq!(v2.payload["total"]["currency"], "USD");
    assert_eq!(v2.event_id, "o-1/1");
    assert_eq!(v2.correlation_id.as_deref(), Some("saga-1"));
    // A v2 event is returned unchanged; a v3 event is refused, not guessed.
    let current = event(
        "o-1",
        2,
        2,
        json!({"total": {"amount": 1, "currency": "EUR"}}),
    );
    assert_eq!(chain.upcast(current.clone(), 2).unwrap(), current);
    assert!(matches!(
        chain.upcast(event("o-1", 3, 3, json!({})), 2),
        Err(UpcastError::TooNew { found: 3, .. })
    ));
    // A malformed v1 payload and a hole in the chain are typed errors.
    assert!(matches!(
        chain.upcast(event("o-1", 4, 1, json!({"oops": 1})), 2),
        Err(UpcastError::Malformed { from: 1, .. })
    ));
    assert!(matches!(
        chain.upcast(event("o-1", 5, 1, json!({"total_cents": 1})), 3),
        Err(UpcastError::MissingStep { from: 2, .. })
    ));
}

#[test]
fn consumer_buffers_gaps_drops_duplicates_and_resumes() {
    let mut c = OrderedConsumer::new(8);
    let e = |s| event("o-9", s, 1, json!({}));
    assert_eq!(c.offer(e(2)), Offer::Buffered);
    assert_eq!(c.offer(e(2)), Offer::Duplicate);
    match c.offer(e(1)) {
        Offer::Deliver(v) => assert_eq!(v.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2]),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.offer(e(1)), Offer::Duplicate);
    let mut resumed = OrderedConsumer::new(8);
    resumed.resume("o-9", 2);
    assert_eq!(resumed.offer(e(2)), Offer::Duplicate);
    assert!(matches!(resumed.offer(e(3)), Offer::Deliver(_)));
    let mut small = OrderedConsumer::new(1);
    assert_eq!(small.offer(e(3)), Offer::Buffered);
    assert_eq!(small.offer(e(4)), Offer::Overflow);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any arrival order with any duplicates, over several aggregates: each aggregate's
    /// deliveries are exactly 1..=n, in order, once.
    #[test]
    fn consumer_delivers_each_aggregate_in_order_exactly_once(
        counts in proptest::collection::vec(1u64..12, 1..4),
        dup_seed in proptest::collection::vec(0usize..100, 0..30),
        shuffle_keys in proptest::collection::vec(any::<u32>(), 200),
    ) {
        let mut arrivals: Vec<(String, u64)> = Vec::new();
        for (a, n) in counts.iter().enumerate() {
            for s in 1..=*n {
                arrivals.push((format!("agg-{a}"), s));
            }
        }
        let base = arrivals.len();
        for d in dup_seed {
            let item = arrivals[d % base].clone();
            arrivals.push(item);
        }
        let mut keyed: Vec<(u32, (String, u64))> = arrivals
            .into_iter()
            .enumerate()
            .map(|(i, x)| (shuffle_keys[i % shuffle_keys.len()].wrapping_add(i as u32), x))
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let mut c = OrderedConsumer::new(64);
        let mut delivered: std::collections::HashMap<String, Vec<u64>> = Default::default();
        for (_, (agg, s)) in keyed {
            if let Offer::Deliver(v) = c.offer(event(&agg, s, 1, json!({}))) {
                for e in v {
                    delivered.entry(e.aggregate_id.clone()).or_default().push(e.sequence);
                }
            }
        }
        for (a, n) in counts.iter().enumerate() {
            let got = delivered.remove(&format!("agg-{a}")).unwrap_or_default();
            prop_assert_eq!(got, (1..=*n).collect::<Vec<_>>());
        }
    }
}
