//! Bad input gets INVALID_ARGUMENT naming the field, before anything is proposed: the shards'
//! applied indexes do not move.

mod common;

use common::*;
use orderstore_proto::v1 as pb;

fn item(sku: &str, quantity: u32, unit_price: u64) -> pb::LineItem {
    pb::LineItem {
        sku: sku.into(),
        quantity,
        unit_price,
    }
}

fn order(customer: &str, items: Vec<pb::LineItem>) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        customer_id: customer.into(),
        items,
        currency: "USD".into(),
        ..Default::default()
    }
}

async fn applied_total(cluster: &TestCluster) -> u64 {
    let st = cluster.node_status(1).await.expect("node 1 answers");
    st.shards.iter().map(|s| s.applied_index).sum()
}

/// Every limit of `PlaceOrder` and of order commands, violated once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_is_enforced_before_proposing() {
    let cluster = TestCluster::start(Spec {
        nodes: 1,
        shards: 2,
        ..Spec::default()
    })
    .await;
    let existing = place(&cluster, "dave", "").await;
    let long = |n: usize| "x".repeat(n);

    let mut cases: Vec<(&str, pb::PlaceOrderRequest)> = vec![
        ("customer_id", order("", vec![item("A", 1, 1)])),
        ("customer_id", order(&long(65), vec![item("A", 1, 1)])),
        ("customer_id", order("bad\ncustomer", vec![item("A", 1, 1)])),
        ("items", order("c", vec![])),
        (
            "items",
            order(
                "c",
                (0..101).map(|i| item(&format!("S{i}"), 1, 1)).collect(),
            ),
        ),
        ("items[0].sku", order("c", vec![item("", 1, 1)])),
        ("items[0].sku", order("c", vec![item(&long(65), 1, 1)])),
        (
            "items[1].quantity",
            order("c", vec![item("A", 1, 1), item("B", 0, 1)]),
        ),
        ("items[0].quantity", order("c", vec![item("A", 10_001, 1)])),
        (
            "items[0].unit_price",
            order("c", vec![item("A", 1, 10_000_000_001)]),
        ),
        (
            "total",
            order(
                "c",
                vec![
                    item("A", 10_000, 10_000_000_000),
                    item("B", 10_000, 10_000_000_000),
                ],
            ),
        ),
    ];
    let mut bad_currency = order("c", vec![item("A", 1, 1)]);
    bad_currency.currency = "usd".into();
    cases.push(("currency", bad_currency));
    let mut bad_region = order("c", vec![item("A", 1, 1)]);
    bad_region.region = "EU WEST".into();
    cases.push(("region", bad_region));
    let mut bad_key = order("c", vec![item("A", 1, 1)]);
    bad_key.idempotency_key = long(129);
    cases.push(("idempotency_key", bad_key));

    let before = applied_total(&cluster).await;
    let mut client = cluster.orders(1).await;
    for (field, req) in cases {
        let err = client.place_order(req).await.expect_err(field);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err}");
        let d = detail(&err);
        assert_eq!(d.kind, "INVALID_ARGUMENT");
        assert_eq!(d.field, field, "{err}");
    }

    let cmd = |action: pb::OrderAction| pb::OrderCommandRequest {
        order_id: existing.order_id.clone(),
        action: action as i32,
        ..Default::default()
    };
    let mut command_cases = vec![];
    let mut long_reason = cmd(pb::OrderAction::Cancel);
    long_reason.reason = long(257);
    command_cases.push(("reason", long_reason));
    let mut bad_id = cmd(pb::OrderAction::Pay);
    bad_id.order_id = "no spaces allowed".into();
    command_cases.push(("order_id", bad_id));
    command_cases.push(("action", cmd(pb::OrderAction::Unspecified)));
    let mut zero_refund = cmd(pb::OrderAction::Refund);
    zero_refund.amount = Some(0);
    command_cases.push(("amount", zero_refund));
    for (field, req) in command_cases {
        let err = client.apply_order_command(req).await.expect_err(field);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err}");
        assert_eq!(detail(&err).field, field, "{err}");
    }
    let err = client
        .get_order(pb::GetOrderRequest {
            order_id: long(65),
            consistency: 0,
        })
        .await
        .expect_err("long id");
    assert_eq!(detail(&err).field, "order_id");

    assert_eq!(
        applied_total(&cluster).await,
        before,
        "bad input reached a Raft log"
    );
    assert_eq!(get(&cluster, &existing.order_id).await.unwrap(), existing);
}
