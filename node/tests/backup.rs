//! Backup and restore: a backup taken while clients place orders holds every order
//! acknowledged before it started; a new cluster (new nodes, new addresses) built from it
//! serves them all, unchanged, and accepts new writes.

mod common;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;

use common::*;
use orderstore_client::BackupManifest;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_acknowledged_order() {
    let backup = tempfile::tempdir().unwrap();
    let old = TestCluster::start(Spec {
        shards: 4,
        ..Spec::default()
    })
    .await;
    let sdk = old.sdk();

    // Phase 1: four writers place orders until told to stop (bounded in count).
    let acked: Arc<Mutex<Vec<(PlaceOrder, Order)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (sdk, acked, stop) = (sdk.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                for i in 0..2_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let order = PlaceOrder {
                        idempotency_key: Some(format!("bk-{w}-{i}")),
                        ..PlaceOrder::new(
                            format!("cust-{w}"),
                            vec![LineItem::new("SKU-B", 1 + i % 3, 500)],
                        )
                    };
                    if let Ok(r) = sdk.place_order(order.clone()).await {
                        acked.lock().unwrap().push((order, r.order));
                    }
                }
            })
        })
        .collect();
    eventually("some orders are acknowledged", || async {
        (acked.lock().unwrap().len() >= 50).then_some(())
    })
    .await;

    // Phase 2: back up while the writers keep going.
    let before_backup: Vec<(PlaceOrder, Order)> = acked.lock().unwrap().clone();
    let manifest = sdk.backup_to(backup.path()).await.expect("backup");
    let during = acked.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(manifest.shards.len(), 4);
    assert!(
        during > before_backup.len(),
        "the backup ran under load ({} -> {during} acknowledged)",
        before_backup.len()
    );
    assert_eq!(BackupManifest::load(backup.path()).unwrap(), manifest);
    drop(sdk);
    drop(old);

    // Phase 3: a new cluster from the backup serves every order acknowledged before it.
    let new = TestCluster::start(Spec {
        shards: 4,
        restore_from: Some(backup.path().to_path_buf()),
        ..Spec::default()
    })
    .await;
    let sdk = new.sdk();
    for (_, o) in &before_backup {
        let got = sdk
            .get_order(&o.order_id, Consistency::Linearizable)
            .await
            .unwrap_or_else(|e| panic!("order {} lost by backup/restore: {e}", o.order_id));
        assert_eq!(&got, o);
    }
    // Replays are still replays: the idempotency records came along.
    let (request, first) = &before_backup[0];
    let replay = sdk.place_order(request.clone()).await.expect("replay");
    assert!(replay.replayed);
    assert_eq!(&replay.order, first);
    // The new cluster takes new writes.
    let fresh = sdk
        .place_order(PlaceOrder::new(
            "cust-new",
            vec![LineItem::new("SKU-B", 1, 500)],
        ))
        .await
        .expect("a write on the restored cluster");
    assert!(!fresh.replayed);

    // A second restore into a used data directory is refused.
    let err = orderstore_node::backup::restore_node(
        backup.path(),
        &new.config,
        1,
        &new.nodes[&1].data_dir,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already holds data"), "{err}");
}
