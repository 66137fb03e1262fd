//! In-process 3-node cluster scenarios: failover without losing acknowledged orders, catch-up
//! of a restarted node (by log and by snapshot), idempotency across leader changes, and the
//! typed errors of illegal transitions and version conflicts.

mod common;

use common::*;
use orderstore_proto::v1 as pb;

/// Acknowledged orders survive the loss of a shard leader; writes continue after re-election;
/// the restarted node catches up with the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_failover_keeps_acknowledged_orders() {
    let mut cluster = TestCluster::start(Spec::default()).await;

    // Phase 1: acknowledged writes.
    let mut acked = Vec::new();
    for i in 0..60 {
        acked.push(place(&cluster, &format!("cust-{i}"), &format!("failover-{i}")).await);
    }

    // Phase 2: kill the leader of the first order's shard.
    let shard = shard_of(&cluster, &acked[0].order_id);
    let leader = cluster.leader_of(shard).await.expect("shard has a leader");
    cluster.stop_node(leader).await;

    // Phase 3: every acknowledged order is still readable, unchanged.
    for o in &acked {
        let got = get(&cluster, &o.order_id)
            .await
            .expect("acknowledged order readable");
        assert_eq!(got, *o, "order {} changed across failover", o.order_id);
    }
    // ... and new writes succeed.
    for i in 0..20 {
        let o = place(
            &cluster,
            &format!("after-{i}"),
            &format!("failover-after-{i}"),
        )
        .await;
        assert_eq!(o.version, 1);
    }

    // Phase 4: the restarted node catches up on every shard it replicates.
    cluster.start_node(leader).await;
    for shard in 1..=cluster.config.initial_shards as u64 {
        eventually("restarted node catches up", || async {
            let leader_id = cluster.leader_of(shard).await?;
            let want = cluster.applied(leader_id, shard).await?;
            let have = cluster.applied(leader, shard).await?;
            (have >= want).then_some(())
        })
        .await;
    }
}

/// A node that missed more than the kept log catches up through a snapshot, and then serves
/// every order from its own state (stale read on that node).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_node_catches_up_via_snapshot() {
    let spec = Spec {
        nodes: 3,
        shards: 2,
        snapshot_logs_since_last: 20,
        max_in_snapshot_log_to_keep: 0,
        ..Spec::default()
    };
    let mut cluster = TestCluster::start(spec).await;
    let applied_before: Vec<u64> =
        futures::future::join_all((1..=2u64).map(|s| cluster.applied(3, s)))
            .await
            .into_iter()
            .map(|a| a.unwrap())
            .collect();
    cluster.stop_node(3).await;

    let mut acked = Vec::new();
    for i in 0..80 {
        acked.push(place(&cluster, &format!("c{i}"), &format!("snap-{i}")).await);
    }
    // Leaders have snapshotted and purged their log past what node 3 has, so node 3 cannot
    // catch up from the log: it must install a snapshot.
    for shard in 1..=2u64 {
        let before = applied_before[shard as usize - 1];
        eventually("leader snapshotted and purged past node 3", || async {
            let leader = cluster.leader_of(shard).await?;
            let st = cluster.node_status(leader).await?;
            st.shards
                .iter()
                .any(|s| s.id == shard && s.snapshot_index > 0 && s.purged_index > before)
                .then_some(())
        })
        .await;
    }

    cluster.start_node(3).await;
    for shard in 1..=2u64 {
        eventually("node 3 installed a snapshot and caught up", || async {
            let leader = cluster.leader_of(shard).await?;
            let want = cluster.applied(leader, shard).await?;
            let st = cluster.node_status(3).await?;
            let s = st.shards.iter().find(|s| s.id == shard)?;
            (s.applied_index >= want && s.snapshot_index > 0).then_some(())
        })
        .await;
    }
    let mut c = cluster.orders(3).await;
    for o in &acked {
        let req = pb::GetOrderRequest {
            order_id: o.order_id.clone(),
            consistency: pb::ReadConsistency::Stale as i32,
        };
        let got = c
            .get_order(req)
            .await
            .expect("stale read on node 3")
            .into_inner()
            .order
            .unwrap();
        assert_eq!(got, *o);
    }
}

/// Stripe semantics: same key + same request replays the first response (also after the shard
/// leader changed); same key + different request is refused with a distinct error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_replay_and_refuse_misuse() {
    let mut cluster = TestCluster::start(Spec::default()).await;
    let first = place(&cluster, "alice", "key-1").await;

    // Same key, same body: the stored first response.
    let req = place_req("alice", "key-1");
    let again = call_cluster(&cluster, |mut c| {
        let req = req.clone();
        async move { c.place_order(req).await }
    })
    .await
    .unwrap();
    assert!(again.replayed);
    assert_eq!(again.order.unwrap(), first);

    // Same key, different body: refused, nothing written.
    let other = place_req("bob", "key-1");
    let err = call_cluster(&cluster, |mut c| {
        let req = other.clone();
        async move { c.place_order(req).await }
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    assert_eq!(detail(&err).kind, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(get(&cluster, &first.order_id).await.unwrap(), first);

    // Commands with a key: the replay returns the first result, not a second transition.
    let pay = pb::OrderCommandRequest {
        order_id: first.order_id.clone(),
        action: pb::OrderAction::Pay as i32,
        idempotency_key: "pay-1".into(),
        ..Default::default()
    };
    let paid = call_cluster(&cluster, |mut c| {
        let r = pay.clone();
        async move { c.apply_order_command(r).await }
    })
    .await
    .unwrap();
    assert_eq!(paid.order.as_ref().unwrap().version, 2);

    // Leader change, then the same retries.
    let shard = shard_of(&cluster, &first.order_id);
    let leader = cluster.leader_of(shard).await.unwrap();
    cluster.stop_node(leader).await;
    let replay = call_cluster(&cluster, |mut c| {
        let req = req.clone();
        async move { c.place_order(req).await }
    })
    .await
    .unwrap();
    assert!(replay.replayed, "replay after leader change");
    assert_eq!(replay.order.unwrap(), first);
    let paid_again = call_cluster(&cluster, |mut c| {
        let r = pay.clone();
        async move { c.apply_order_command(r).await }
    })
    .await
    .unwrap();
    assert!(paid_again.replayed);
    assert_eq!(paid_again.order.unwrap().version, 2, "pay applied once");
    assert_eq!(get(&cluster, &first.order_id).await.unwrap().version, 2);
}

/// Illegal transitions and stale expected versions are typed errors that change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn illegal_transitions_and_version_conflicts_change_nothing() {
    let cluster = TestCluster::start(Spec {
        nodes: 3,
        shards: 2,
        ..Spec::default()
    })
    .await;
    let o = place(&cluster, "carol", "").await;
    let cmd = |action: pb::OrderAction, expected: Option<u64>| pb::OrderCommandRequest {
        order_id: o.order_id.clone(),
        action: action as i32,
        expected_version: expected,
        ..Default::default()
    };
    let run = |req: pb::OrderCommandRequest| {
        let cluster = &cluster;
        async move {
            call_cluster(cluster, |mut c| {
                let r = req.clone();
                async move { c.apply_order_command(r).await }
            })
            .await
        }
    };

    // Version conflict.
    let err = run(cmd(pb::OrderAction::Pay, Some(7))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Aborted);
    assert_eq!(detail(&err).current_version, 1);

    // Cancel, then shipping is illegal and names the current state.
    let cancelled = run(cmd(pb::OrderAction::Cancel, Some(1)))
        .await
        .unwrap()
        .order
        .unwrap();
    assert_eq!(cancelled.status, "CANCELLED");
    let err = run(cmd(pb::OrderAction::Ship, None)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(detail(&err).current_state, "CANCELLED");
    assert!(
        err.message().contains("CANCELLED"),
        "message names the state: {}",
        err.message()
    );
    assert_eq!(get(&cluster, &o.order_id).await.unwrap(), cancelled);

    // Unknown order.
    let mut unknown = cmd(pb::OrderAction::Pay, None);
    unknown.order_id = "o-local-00000000deadbeef".into();
    let err = run(unknown).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // The event log holds exactly the two applied changes.
    let events = call_cluster(&cluster, |mut c| {
        let r = pb::ListOrderEventsRequest {
            order_id: o.order_id.clone(),
        };
        async move { c.list_order_events(r).await }
    })
    .await
    .unwrap()
    .events;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.sequence, e.event_type.as_str()))
        .collect();
    assert_eq!(kinds, vec![(1, "PLACED"), (2, "CANCELLED")]);
}
