//! Admission control end to end: a node given tight `[limits]` refuses the excess of a burst
//! at once with RESOURCE_EXHAUSTED and a retry hint (nothing else fails, everything
//! acknowledged is stored), and the SDK, which backs off by the hint, gets every request
//! through.

mod common;

use common::*;
use orderstore_client::LineItem;
use orderstore_client::PlaceOrder;

const LIMITS: &str = "[limits]\nmax_inflight_requests = 2\nmax_queued_requests = 2\n\
                      queue_timeout_ms = 20\nretry_after_ms = 30\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_beyond_the_limits_is_refused_with_a_hint_and_loses_nothing() {
    let cluster = TestCluster::start(Spec {
        shards: 2,
        extra_toml: LIMITS.to_owned(),
        ..Spec::default()
    })
    .await;
    let node = cluster.live_nodes()[0];

    // Phase 1: bursts of 64 concurrent raw calls (no retries) at one node, until one burst
    // overflows its 2 slots and 2 queue places (a condition, bounded in count).
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for burst in 0..20 {
        let calls = (0..64).map(|i| {
            let cluster = &cluster;
            async move {
                let mut c = cluster.orders(node).await;
                c.place_order(place_req("olga", &format!("burst-{burst}-{i}")))
                    .await
            }
        });
        for r in futures::future::join_all(calls).await {
            match r {
                Ok(r) => acknowledged.push(r.into_inner().order.expect("order")),
                Err(s) if s.code() == tonic::Code::ResourceExhausted => refused.push(s),
                // Redirects are answers too (this node may not lead the shard).
                Err(s) if s.code() == tonic::Code::Unavailable => {}
                Err(s) => panic!("unexpected failure under overload: {s:?}"),
            }
        }
        if !refused.is_empty() {
            break;
        }
    }
    assert!(!refused.is_empty(), "no burst overflowed the limits");
    for s in &refused {
        assert_eq!(
            s.metadata()
                .get("retry-after-ms")
                .map(|v| v.to_str().unwrap()),
            Some("30"),
            "{s:?}"
        );
        assert!(s.message().contains("overloaded"), "{}", s.message());
    }
    for o in &acknowledged {
        assert_eq!(&get(&cluster, &o.order_id).await.unwrap(), o);
    }
    let (_, metrics) = http_get(&cluster.status_addr(node), "/metrics").await;
    assert!(
        metrics.contains("orderstore_admission_rejected_total{reason=\"queue_"),
        "{metrics}"
    );

    // Phase 2: the SDK retries after the hint: 64 concurrent placements all succeed.
    let sdk = cluster.sdk();
    let placed = futures::future::join_all((0..64).map(|i| {
        let sdk = sdk.clone();
        async move {
            sdk.place_order(PlaceOrder {
                idempotency_key: Some(format!("sdk-{i}")),
                ..PlaceOrder::new("olga", vec![LineItem::new("SKU-9", 1, 100)])
            })
            .await
        }
    }))
    .await;
    for r in placed {
        let reply = r.expect("the SDK gets through an overloaded node");
        assert_eq!(reply.order.customer_id, "olga");
    }
}
