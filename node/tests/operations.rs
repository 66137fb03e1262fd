//! What an operator sees and relies on: the status port (`/livez`, `/readyz`, `/metrics`), the
//! gRPC health service, and idempotency keys that expire after the configured TTL.

mod common;

use common::*;
use orderstore_proto::v1 as pb;

/// `/livez` and `/readyz` answer 200 on a ready node; `/metrics` exposes the per-shard leader
/// flag, proposals, apply latency, fsync latency and RPC counts; gRPC health says SERVING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_port_and_health_report_a_serving_node() {
    let cluster = TestCluster::start(Spec {
        nodes: 1,
        shards: 2,
        ..Spec::default()
    })
    .await;
    place(&cluster, "gina", "ops-1").await;
    let status = cluster.status_addr(1);

    assert_eq!(http_get(&status, "/livez").await.0, 200);
    assert_eq!(http_get(&status, "/readyz").await.0, 200);
    // Gauges mirror Raft metrics asynchronously: wait until they show the leadership.
    let metrics = eventually("leader flags exported", || {
        let status = status.clone();
        async move {
            let (code, body) = http_get(&status, "/metrics").await;
            assert_eq!(code, 200);
            (body.contains("orderstore_shard_is_leader{shard=\"1\"} 1")
                && body.contains("orderstore_shard_is_leader{shard=\"2\"} 1"))
            .then_some(body)
        }
    })
    .await;
    for family in [
        "orderstore_proposals_total{",
        "orderstore_apply_latency_seconds_count{",
        "orderstore_fsync_latency_seconds_count",
        "orderstore_fsync_batch_size_count",
        "orderstore_rpc_requests_total{method=\"PlaceOrder\",code=\"OK\"}",
    ] {
        assert!(
            metrics.contains(family),
            "/metrics lacks {family}:\n{metrics}"
        );
    }
    assert_eq!(http_get(&status, "/nope").await.0, 404);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.addr(1)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "orderstore.v1.OrderService".into(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(
        reply.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

/// A key is remembered for `idempotency_ttl_secs`: within it, reusing the key for another
/// command is refused; after it, the key is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_expire_after_the_ttl() {
    let cluster = TestCluster::start(Spec {
        nodes: 1,
        shards: 1,
        idempotency_ttl_secs: 1,
        ..Spec::default()
    })
    .await;
    let order = place(&cluster, "hank", "").await;
    let cmd = |action: pb::OrderAction| pb::OrderCommandRequest {
        order_id: order.order_id.clone(),
        action: action as i32,
        idempotency_key: "ttl-key".into(),
        ..Default::default()
    };
    let mut client = cluster.orders(1).await;
    client
        .apply_order_command(cmd(pb::OrderAction::Pay))
        .await
        .expect("pay");
    let err = client
        .apply_order_command(cmd(pb::OrderAction::Ship))
        .await
        .expect_err("key in use");
    assert_eq!(detail(&err).kind, "IDEMPOTENCY_KEY_REUSED");

    // The record expires one second (leader clock) after it was written.
    let shipped = eventually("key expires", || {
        let mut client = client.clone();
        let req = cmd(pb::OrderAction::Ship);
        async move {
            match client.apply_order_command(req).await {
                Ok(r) => Some(r.into_inner()),
                Err(e) if detail(&e).kind == "IDEMPOTENCY_KEY_REUSED" => None,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    })
    .await;
    assert!(!shipped.replayed);
    assert_eq!(shipped.order.unwrap().status, "SHIPPED");
}

/// The *same* request replays even after its key's TTL (until GC removes the record): executing
/// it again could repeat its effect, replaying cannot. A leader whose clock ran ahead made
/// every record look expired, and retries of acknowledged requests then failed instead of
/// replaying (found by the chaos suite's clock nemesis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_replays_after_the_ttl() {
    let cluster = TestCluster::start(Spec {
        nodes: 1,
        shards: 1,
        idempotency_ttl_secs: 1,
        ..Spec::default()
    })
    .await;
    let first = place(&cluster, "ida", "").await;
    let second = place(&cluster, "jon", "").await;
    let pay = |order_id: &str, key: &str| pb::OrderCommandRequest {
        order_id: order_id.to_owned(),
        action: pb::OrderAction::Pay as i32,
        idempotency_key: key.into(),
        ..Default::default()
    };
    let mut client = cluster.orders(1).await;
    let paid = client
        .apply_order_command(pay(&first.order_id, "replay-key"))
        .await
        .expect("pay")
        .into_inner();
    assert!(!paid.replayed);
    client
        .apply_order_command(pay(&second.order_id, "later-key"))
        .await
        .expect("pay the second order");
    // `later-key` was written after `replay-key`: once another request may reuse it, the TTL
    // of `replay-key` has passed too.
    eventually("later key expires", || {
        let mut client = client.clone();
        let req = pb::OrderCommandRequest {
            action: pb::OrderAction::Ship as i32,
            ..pay(&second.order_id, "later-key")
        };
        async move {
            match client.apply_order_command(req).await {
                Ok(r) => Some(r.into_inner()),
                Err(e) if detail(&e).kind == "IDEMPOTENCY_KEY_REUSED" => None,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    })
    .await;
    let again = client
        .apply_order_command(pay(&first.order_id, "replay-key"))
        .await
        .expect("the retried pay replays instead of failing as an illegal transition")
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.order, paid.order);
}
