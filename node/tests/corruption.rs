//! A damaged record is caught by its checksum: the shard stops serving (DATA_LOSS) instead of
//! returning wrong data.

mod common;

use common::*;
use orderstore_node::storage::keys;

/// Flip one byte of a stored order (under its checksum, as bit rot would), restart the node,
/// and read it: the read fails with DATA_LOSS and the shard stays quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_quarantines_the_shard() {
    let mut cluster = TestCluster::start(Spec {
        nodes: 1,
        shards: 1,
        ..Spec::default()
    })
    .await;
    let order = place(&cluster, "erin", "corrupt-1").await;
    let shard = shard_of(&cluster, &order.order_id);
    cluster.stop_node(1).await;

    // Damage the value on disk, bypassing our codec.
    let data_dir = cluster.nodes[&1].data_dir.clone();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let cfs = rocksdb::DB::list_cf(&opts, &data_dir).expect("list column families");
        let db = rocksdb::DB::open_cf(&opts, &data_dir, cfs).expect("open db");
        let cf = db.cf_handle(keys::CF_STATE).expect("state cf");
        let key = keys::order_key(shard, &order.order_id);
        let mut value = db.get_cf(cf, &key).expect("read").expect("order stored");
        let last = value.len() - 1;
        value[last] ^= 0x40;
        db.put_cf(cf, &key, value).expect("write damaged value");
        db.flush_cf(cf).expect("flush to SST");
    }

    cluster.start_node(1).await;
    let mut client = cluster.orders(1).await;
    let req = orderstore_proto::v1::GetOrderRequest {
        order_id: order.order_id.clone(),
        consistency: 1,
    };
    let err = eventually("damaged read is refused", || {
        let req = req.clone();
        let mut client = client.clone();
        async move {
            match client.get_order(req).await {
                Err(e) if e.code() == tonic::Code::DataLoss => Some(e),
                Err(e) if e.code() == tonic::Code::Unavailable => None,
                other => panic!("damaged order must not be served: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(detail(&err).kind, "SHARD_QUARANTINED");
    assert_eq!(detail(&err).shard_id, shard);

    // The whole shard stops serving, writes included.
    let err = client
        .place_order(place_req("frank", "corrupt-2"))
        .await
        .expect_err("quarantined shard refuses writes");
    assert_eq!(err.code(), tonic::Code::DataLoss);
}
