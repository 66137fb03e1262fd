//! Criterion micro-benchmarks of server hot paths: the checksummed record codec, the pure order
//! state machine and the shard-map lookup.
//!
//! Run with `cargo bench -p orderstore-benches --profile dev` (see `benches/README.md`): the
//! default `bench` profile would compile RocksDB a second time, because this target links
//! `orderstore-node`. The `dev` profile builds dependencies at opt-level 3 and our crates at
//! opt-level 1, the same code `orderd` runs in the playground.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orderstore_node::order::{self, Limits, NewLine, NewOrder, Order, OrderCommand};
use orderstore_node::storage::codec;
use shard_router::{PlacementNode, ShardMap};

fn new_order(lines: usize) -> NewOrder {
    NewOrder {
        order_id: "o-local-1a2b3c4d5e6f7a8b".into(),
        customer_id: "cust-004217".into(),
        region: "local".into(),
        currency: "USD".into(),
        lines: (0..lines)
            .map(|i| NewLine {
                sku: format!("SKU-{:05}", 1000 + i),
                quantity: 2,
                unit_price: 1999,
            })
            .collect(),
    }
}

fn placed(lines: usize) -> Order {
    // Cannot fail: the order above is within the default limits.
    order::place(&new_order(lines), &Limits::default(), 1_700_000_000_000)
        .expect("valid order")
        .0
}

/// bincode + crc32 framing of a stored order, both directions.
fn codec_benches(c: &mut Criterion) {
    let order = placed(3);
    let key = b"\x00\x00\x00\x00\x00\x00\x00\x03o-local-1a2b3c4d5e6f7a8b".to_vec();
    // Cannot fail: an `Order` always serializes with bincode.
    let bytes = codec::encode(&key, &order).expect("encodable");
    let mut g = c.benchmark_group("codec");
    g.bench_function("encode_order_3_lines", |b| {
        b.iter(|| codec::encode(black_box(&key), black_box(&order)))
    });
    g.bench_function("decode_order_3_lines", |b| {
        b.iter(|| codec::decode::<Order>(black_box(&key), black_box(&bytes)))
    });
    g.finish();
}

/// The pure order rules: placing an order, a payment and a hold toggle.
fn state_machine_benches(c: &mut Criterion) {
    let limits = Limits::default();
    let new = new_order(3);
    let order = placed(3);
    let hold = OrderCommand::Hold {
        reason: "bench".into(),
    };
    let mut g = c.benchmark_group("order_machine");
    g.bench_function("place_3_lines", |b| {
        b.iter(|| order::place(black_box(&new), &limits, 1))
    });
    g.bench_function("apply_pay", |b| {
        b.iter(|| order::apply(black_box(&order), &OrderCommand::Pay, Some(1), 2))
    });
    g.bench_function("apply_hold_then_release", |b| {
        b.iter_batched(
            || order.clone(),
            |o| {
                // Cannot fail: a fresh placed order may be held, and a held one released.
                let (held, _) = order::apply(&o, &hold, None, 2).expect("hold applies");
                order::apply(&held, &OrderCommand::ReleaseHold, None, 3).expect("release")
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Hashing an order id and finding its shard, for small and large shard maps.
fn routing_benches(c: &mut Criterion) {
    let nodes: Vec<PlacementNode> = (1..=3)
        .map(|id| PlacementNode {
            id,
            region: "local".into(),
            zone: format!("z{id}"),
        })
        .collect();
    let mut g = c.benchmark_group("routing");
    for shards in [8u32, 1024, 65_536] {
        // Cannot fail: 1..=MAX_INITIAL_SHARDS shards over 3 distinct nodes, rf 3.
        let map = ShardMap::initial(shards, &nodes, 3).expect("valid placement");
        let ids: Vec<String> = (0..1024u64)
            .map(|i| format!("o-local-{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect();
        let mut i = 0;
        g.bench_function(format!("lookup_key_{shards}_shards"), |b| {
            b.iter(|| {
                i = (i + 1) % ids.len();
                map.lookup_key(black_box(ids[i].as_bytes())).id
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    codec_benches,
    state_machine_benches,
    routing_benches
);
criterion_main!(benches);
