//! Graceful drain on shutdown: a stopping node hands its shard leaderships away before its
//! servers stop, and a rolling restart of a 3-node cluster under client load loses no request.

mod common;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use common::*;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;

/// A node shut down gracefully hands every leadership it holds to another node before it
/// stops: when its shutdown returns, the other nodes already lead every shard (the handover
/// happened during the drain, not by an election afterwards), and once its `/readyz` said
/// `draining` it never said ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drained_node_hands_every_leadership_away() {
    let mut cluster = TestCluster::start(Spec::default()).await;

    // Phase 1: a ready node that leads at least one shard.
    let (node, led) = eventually("a node leads a shard", || async {
        for id in cluster.live_nodes() {
            let led = cluster.led_by(id).await?;
            if !led.is_empty() {
                return Some((id, led));
            }
        }
        None
    })
    .await;
    let status = cluster.status_addr(node);
    eventually("the node is ready", || async {
        (try_http_get(&status, "/readyz").await?.0 == 200).then_some(())
    })
    .await;

    // Phase 2: watch its /readyz while it shuts down (until the port closes).
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            match try_http_get(&status, "/readyz").await {
                Some((code, body)) => seen.push((code, body.trim().to_string())),
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    });
    let started = Instant::now();
    cluster.stop_node(node).await;
    let took = started.elapsed();
    let seen = watcher.await.expect("watcher");

    // Phase 3: every shard it led has a leader among the others, without waiting.
    for shard in 1..=cluster.config.initial_shards as u64 {
        let leader = cluster.leader_of(shard).await;
        assert!(
            leader.is_some_and(|l| l != node),
            "shard {shard} has no leader right after node {node} drained (it led {led:?})"
        );
    }

    // ... and /readyz went from ready to draining, never back.
    let draining = seen
        .iter()
        .position(|(code, body)| *code == 503 && body == "draining");
    if let Some(first) = draining {
        assert!(
            seen[first..]
                .iter()
                .all(|(code, body)| *code == 503 && body == "draining"),
            "/readyz after draining: {seen:?}"
        );
    }
    println!(
        "node {node} led {led:?}; shutdown took {took:?}; /readyz answered {} times, {} of them 503 draining",
        seen.len(),
        draining.map_or(0, |first| seen.len() - first)
    );
}

/// What one load task saw.
#[derive(Default)]
struct LoadOutcome {
    acknowledged: Vec<Order>,
    failed: Vec<(String, ClientError)>,
}

/// Rolling restart under load: while 4 SDK clients place orders (idempotency keys, the SDK's
/// retries), each node in turn is shut down gracefully and restarted over its data dir, the
/// next one only once the restarted node is ready. Every placement succeeds (retryable
/// refusals during drains are retried by the SDK) and every acknowledged order reads back
/// unchanged afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_under_load_loses_no_request() {
    const TASKS: usize = 4;
    /// Bound of each task's placements.
    const MAX_PER_TASK: usize = 2_000;
    /// Bound of the load's duration (the restarts normally end it much sooner).
    const MAX_LOAD: Duration = Duration::from_secs(40);

    let mut cluster = TestCluster::start(Spec::default()).await;
    let client = cluster.sdk();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(0usize));

    // Phase 1: the load.
    let load: Vec<_> = (0..TASKS)
        .map(|t| {
            let client = client.clone();
            let stop = stop.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                let mut out = LoadOutcome::default();
                let started = Instant::now();
                for i in 0..MAX_PER_TASK {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > MAX_LOAD {
                        break;
                    }
                    let key = format!("rolling-{t}-{i}");
                    let order = PlaceOrder {
                        idempotency_key: Some(key.clone()),
                        ..PlaceOrder::new(
                            format!("cust-{t}"),
                            vec![LineItem::new("SKU-1", 1 + (i % 3) as u32, 1250)],
                        )
                    };
                    match client.place_order(order).await {
                        Ok(reply) => {
                            out.acknowledged.push(reply.order);
                            *acked.lock().unwrap() += 1;
                        }
                        Err(e) => out.failed.push((key, e)),
                    }
                    // Pace the load so it spans the restarts.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                out
            })
        })
        .collect();
    let acked_now = || *acked.lock().unwrap();

    // Phase 2: restart each node in turn, each time under load that is making progress.
    let mut drains = Vec::new();
    for id in cluster.live_nodes() {
        let before = acked_now();
        eventually("the load makes progress", || async {
            (acked_now() >= before + 20).then_some(())
        })
        .await;
        let led = cluster.led_by(id).await.unwrap_or_default();
        let started = Instant::now();
        cluster.stop_node(id).await;
        drains.push((id, led, started.elapsed()));
        cluster.start_node(id).await;
        let status = cluster.status_addr(id);
        eventually("the restarted node is ready", || async {
            (try_http_get(&status, "/readyz").await?.0 == 200).then_some(())
        })
        .await;
        cluster.wait_for_leaders().await;
    }
    let before = acked_now();
    eventually("the load makes progress after the restarts", || async {
        (acked_now() >= before + 20).then_some(())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    for task in load {
        let out = task.await.expect("load task");
        acknowledged.extend(out.acknowledged);
        failed.extend(out.failed);
    }

    // Phase 3: no placement failed, and every acknowledged order reads back unchanged.
    assert!(
        failed.is_empty(),
        "{} placements failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    for order in &acknowledged {
        let got = client
            .get_order(&order.order_id, Consistency::Linearizable)
            .await
            .unwrap_or_else(|e| panic!("acknowledged order {} unreadable: {e}", order.order_id));
        assert_eq!(&got, order, "order {} changed", order.order_id);
    }
    println!(
        "rolling restart: {} orders placed and acknowledged, {} read back, {} failed; drains (node, led shards, shutdown time): {drains:?}",
        acknowledged.len(),
        acknowledged.len(),
        failed.len()
    );
}
