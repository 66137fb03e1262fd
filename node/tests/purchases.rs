//! Purchases end to end on an in-process 3-node cluster, through the SDK: the saga reserves
//! stock, authorizes and captures payment and commits the stock; or, when stock or money is
//! missing, compensates and cancels the order. Then a small flash sale with injected payment
//! faults, and a crash of the order shard's leader in the middle of sagas.
//!
//! Every check is on replicated state read back linearizably: stock per bucket, account
//! balances and each saga's end.

mod common;

use std::time::Duration;

use common::Spec;
use common::TestCluster;
use common::eventually;
use orderstore_client::Client;
use orderstore_client::Consistency;
use orderstore_client::Purchase;
use orderstore_client::PurchaseItem;
use orderstore_client::proto;
use orderstore_node::orchestrator::FaultConfig;

fn client(cluster: &TestCluster) -> Client {
    Client::builder()
        .endpoints(cluster.nodes.keys().map(|id| cluster.addr(*id)))
        .deadline(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn purchase(key: &str, account: &str, sku: &str, quantity: u32, price: u64) -> Purchase {
    Purchase {
        customer_id: "cust-1".into(),
        account_id: account.into(),
        items: vec![PurchaseItem {
            sku: sku.into(),
            quantity,
            unit_price: price,
        }],
        currency: "EUR".into(),
        idempotency_key: key.into(),
        wait: true,
        wait_timeout_ms: 30_000,
        ..Purchase::default()
    }
}

/// Waits until the saga has ended and returns the final reply.
async fn ended(c: &Client, saga_id: &str) -> proto::PurchaseReply {
    eventually(&format!("saga {saga_id} ends"), || async {
        let r = c.get_saga(saga_id, Consistency::Linearizable).await.ok()?;
        let status = r.saga.as_ref()?.status.clone();
        (status == "COMPLETED" || status == "COMPENSATED").then_some(r)
    })
    .await
}

async fn stock(c: &Client, sku: &str) -> proto::Stock {
    c.get_stock(sku, Consistency::Linearizable)
        .await
        .expect("stock read")
}

/// A purchase that can be served completes: units committed, money captured, order paid.
/// Then purchases that cannot be served (too few units, too little money) compensate: the
/// order is cancelled and stock and money are back where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purchases_complete_or_compensate_consistently() {
    let cluster = TestCluster::start(Spec::default()).await;
    let c = client(&cluster);
    c.set_stock("sku-a", 0, 5).await.expect("set stock");
    c.create_account("alice", "EUR", 10_000)
        .await
        .expect("account");
    c.create_account("poor", "EUR", 10).await.expect("account");

    // Phase 1: a purchase that fits.
    let r = c
        .purchase(purchase("p-ok", "alice", "sku-a", 2, 1_500))
        .await
        .expect("purchase");
    let saga_id = r.saga.as_ref().unwrap().saga_id.clone();
    let r = ended(&c, &saga_id).await;
    let saga = r.saga.unwrap();
    assert_eq!(saga.status, "COMPLETED", "{saga:?}");
    assert_eq!(saga.payment, "CAPTURED");
    assert_eq!(r.order.as_ref().unwrap().status, "PAID");
    let s = stock(&c, "sku-a").await;
    assert_eq!((s.available, s.held, s.committed), (3, 0, 2));
    let alice = c
        .get_account("alice", Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(
        (alice.balance, alice.held, alice.captured),
        (7_000, 0, 3_000)
    );

    // The same idempotency key replays the purchase instead of buying twice.
    let again = c
        .purchase(purchase("p-ok", "alice", "sku-a", 2, 1_500))
        .await
        .expect("replay");
    assert!(again.replayed);
    assert_eq!(stock(&c, "sku-a").await.committed, 2);

    // Phase 2: more units than exist -> sold out, compensated, nothing moved.
    let r = c
        .purchase(purchase("p-soldout", "alice", "sku-a", 9, 100))
        .await
        .expect("purchase");
    let r = ended(&c, &r.saga.unwrap().saga_id).await;
    let saga = r.saga.unwrap();
    assert_eq!(saga.status, "COMPENSATED");
    assert_eq!(saga.reason, "sold_out");
    assert_eq!(r.order.unwrap().status, "CANCELLED");
    let s = stock(&c, "sku-a").await;
    assert_eq!((s.available, s.held, s.committed), (3, 0, 2));

    // Phase 3: not enough money -> declined, the held unit is released.
    let r = c
        .purchase(purchase("p-poor", "poor", "sku-a", 1, 500))
        .await
        .expect("purchase");
    let r = ended(&c, &r.saga.unwrap().saga_id).await;
    let saga = r.saga.unwrap();
    assert_eq!(saga.status, "COMPENSATED");
    assert!(
        saga.reason.starts_with("payment_declined"),
        "{}",
        saga.reason
    );
    assert_eq!(saga.payment, "DECLINED");
    let s = stock(&c, "sku-a").await;
    assert_eq!((s.available, s.held, s.committed), (3, 0, 2));
    let poor = c
        .get_account("poor", Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!((poor.balance, poor.held, poor.captured), (10, 0, 0));

    // Bad input is refused before anything is proposed.
    let err = c
        .purchase(purchase("p-bad", "alice", "sku-a", 0, 100))
        .await
        .unwrap_err();
    assert!(
        matches!(err, orderstore_client::ClientError::InvalidArgument { .. }),
        "{err:?}"
    );
}

/// A flash sale on a hot SKU split into 4 escrow buckets: 60 buyers for 20 units, some without
/// money, with payment timeouts and duplicate deliveries injected. Every saga ends; exactly the
/// units of completed purchases are sold (no oversell); nothing stays held; the money captured
/// equals the completed purchases' value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_sells_each_unit_at_most_once_under_payment_faults() {
    let spec = Spec {
        payment_faults: Some(
            FaultConfig::parse("timeout=0.15,duplicate=0.2,seed=42").expect("fault spec"),
        ),
        ..Spec::default()
    };
    let cluster = TestCluster::start(spec).await;
    let c = client(&cluster);
    c.set_stock("hot", 0, 20).await.expect("set stock");
    let split = c.split_stock("hot", 4).await.expect("split");
    assert_eq!(split.buckets, 4);
    assert_eq!(split.available, 20, "a split never creates or loses stock");
    for i in 0..60 {
        let credit = if i % 5 == 0 { 50 } else { 10_000 };
        c.create_account(&format!("buyer-{i}"), "EUR", credit)
            .await
            .expect("account");
    }
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let r = c
                .purchase(purchase(
                    &format!("flash-{i}"),
                    &format!("buyer-{i}"),
                    "hot",
                    1,
                    700,
                ))
                .await
                .expect("purchase accepted");
            r.saga.unwrap().saga_id
        }));
    }
    let mut completed = 0u64;
    for t in tasks {
        let saga_id = t.await.expect("task");
        let r = ended(&c, &saga_id).await;
        if r.saga.unwrap().status == "COMPLETED" {
            completed += 1;
        }
    }
    let s = stock(&c, "hot").await;
    assert_eq!(s.held, 0, "nothing stays held once every saga ended: {s:?}");
    assert_eq!(
        s.committed, completed,
        "sold units = completed purchases: {s:?}"
    );
    assert_eq!(s.available + s.committed, 20, "stock conserved: {s:?}");
    assert!(completed <= 20);
    assert!(completed > 0, "some purchases must succeed");
    let mut captured = 0;
    for i in 0..60 {
        let a = c
            .get_account(&format!("buyer-{i}"), Consistency::Linearizable)
            .await
            .unwrap();
        assert_eq!(a.held, 0, "no live authorization left on buyer-{i}: {a:?}");
        assert_eq!(
            a.balance + a.captured - a.refunded,
            a.credited,
            "money conserved: {a:?}"
        );
        captured += a.captured;
    }
    assert_eq!(captured, completed * 700);
}

/// The order shard's leader is killed while sagas run: the new leader resumes them from the
/// replicated saga index and each ends consistent with stock and money.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sagas_resume_after_the_order_leader_crashes() {
    let spec = Spec {
        payment_faults: Some(FaultConfig::parse("slow_ms=150").expect("fault spec")),
        ..Spec::default()
    };
    let mut cluster = TestCluster::start(spec).await;
    let c = client(&cluster);
    c.set_stock("crash-sku", 0, 100).await.expect("stock");
    c.create_account("crash-acct", "EUR", 1_000_000)
        .await
        .expect("account");
    let mut saga_ids = Vec::new();
    for i in 0..12 {
        let mut p = purchase(&format!("crash-{i}"), "crash-acct", "crash-sku", 1, 100);
        p.wait = false;
        let r = c.purchase(p).await.expect("purchase accepted");
        saga_ids.push(r.saga.unwrap().saga_id);
    }
    // Kill the leader of the first saga's order shard while its steps are slow.
    let status = c.cluster_status().await.expect("status");
    let shard = status.shard_for_key(&saga_ids[0]).expect("owning shard");
    let leader = cluster.leader_of(shard.id).await.expect("leader");
    cluster.stop_node(leader).await;
    let mut completed = 0;
    for id in &saga_ids {
        let r = ended(&c, id).await;
        if r.saga.unwrap().status == "COMPLETED" {
            completed += 1;
        }
    }
    cluster.start_node(leader).await;
    let s = stock(&c, "crash-sku").await;
    assert_eq!(s.held, 0, "{s:?}");
    assert_eq!(s.committed, completed, "{s:?}");
    assert_eq!(s.available + s.committed, 100);
    let a = c
        .get_account("crash-acct", Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(a.held, 0);
    assert_eq!(a.captured, completed * 100);
}

/// The reconciler finds a stock hold and a payment authorization that belong to no saga (as a
/// crashed coordinator could leave them), releases and voids them, and counts the repairs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciler_releases_orphan_holds_and_voids_orphan_authorizations() {
    let spec = Spec {
        orchestrator: orderstore_node::orchestrator::OrchestratorConfig {
            reconcile_interval: Duration::from_millis(200),
            reconcile_grace_ms: 0,
            ..Default::default()
        },
        ..Spec::default()
    };
    let cluster = TestCluster::start(spec).await;
    let c = client(&cluster);
    c.set_stock("orphan-sku", 0, 10).await.expect("stock");
    c.create_account("orphan-acct", "EUR", 1_000)
        .await
        .expect("account");
    // Participant calls with ids of sagas that do not exist.
    let hold = c
        .reservation(proto::ReservationRequest {
            sku: "orphan-sku".into(),
            bucket: 0,
            reservation_id: "o-nosaga-1".into(),
            op: proto::ReservationOp::Reserve as i32,
            quantity: 4,
            ttl_ms: 3_600_000,
        })
        .await
        .expect("reserve");
    assert_eq!(hold.outcome, "RESERVED");
    let auth = c
        .payment(proto::PaymentRequest {
            account_id: "orphan-acct".into(),
            auth_id: "o-nosaga-2".into(),
            op: proto::PaymentOpKind::PaymentAuthorize as i32,
            amount: 300,
            currency: "EUR".into(),
        })
        .await
        .expect("authorize");
    assert_eq!(auth.outcome, "AUTHORIZED");

    eventually("the orphan hold is released", || async {
        let s = c
            .get_stock("orphan-sku", Consistency::Linearizable)
            .await
            .ok()?;
        (s.held == 0 && s.available == 10).then_some(())
    })
    .await;
    eventually("the orphan authorization is voided", || async {
        let a = c
            .get_account("orphan-acct", Consistency::Linearizable)
            .await
            .ok()?;
        (a.held == 0 && a.balance == 1_000).then_some(())
    })
    .await;
    let mut repairs = 0.0;
    for id in cluster.live_nodes() {
        let (_, metrics) = common::http_get(&cluster.status_addr(id), "/metrics").await;
        for line in metrics
            .lines()
            .filter(|l| l.starts_with("orderstore_reconcile_repairs_total"))
        {
            repairs += line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    assert!(repairs >= 2.0, "both repairs are counted, got {repairs}");
}
