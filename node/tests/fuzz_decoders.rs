//! Property-based fuzzing of every decoder that reads untrusted bytes (issue 7): nothing a
//! peer, a client or a damaged disk hands a node may make it panic.
//! - Stored records and snapshot payloads (`storage::codec`): arbitrary bytes are refused; a
//!   valid frame with any byte changed is refused by its crc32; bodies that pass the crc
//!   (a bug, or a peer's snapshot) still decode to an error, never a panic.
//! - Peer Raft payloads (bincode of openraft messages, as `transport.rs` decodes them).
//! - Client requests: arbitrary protobuf bytes into every request type the order service
//!   converts, then our conversion.
//!
//! `PROPTEST_CASES` raises the case count for longer runs (default 2,000 per property).

use openraft::raft::AppendEntriesRequest;
use openraft::raft::VoteRequest;
use orderstore_node::order::Order;
use orderstore_node::service::convert::command_from_pb;
use orderstore_node::storage::SnapshotPayload;
use orderstore_node::storage::codec;
use orderstore_node::types::ShardCommand;
use orderstore_node::types::TypeConfig;
use orderstore_proto::v1 as pb;
use proptest::prelude::*;
use prost::Message;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000),
        ..ProptestConfig::default()
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..4096),
    ]
}

fn snapshot_frame() -> Vec<u8> {
    let payload = SnapshotPayload {
        format_version: 1,
        records: vec![
            (b"o/1".to_vec(), vec![1, 2, 3]),
            (b"o/2".to_vec(), vec![9; 40]),
        ],
    };
    codec::encode(b"orderstore-snapshot", &payload).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_stored_bytes_are_refused(key in bytes(), value in bytes()) {
        // A random frame passes its crc32 with probability 2^-32: every one is refused.
        prop_assert!(codec::decode::<Order>(&key, &value).is_err());
        let _ = codec::decode::<ShardCommand>(&key, &value);
        let _ = codec::decode::<SnapshotPayload>(&key, &value);
    }

    #[test]
    fn any_changed_byte_of_a_frame_is_caught(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut frame = snapshot_frame();
        let i = at.index(frame.len());
        frame[i] ^= flip;
        prop_assert!(codec::decode::<SnapshotPayload>(b"orderstore-snapshot", &frame).is_err());
    }

    #[test]
    fn bodies_behind_a_valid_crc_never_panic(body in bytes()) {
        let framed = codec::frame(b"k", &body);
        let _ = codec::decode::<Order>(b"k", &framed);
        let _ = codec::decode::<ShardCommand>(b"k", &framed);
        let _ = codec::decode::<SnapshotPayload>(b"k", &framed);
    }

    #[test]
    fn peer_raft_payloads_never_panic(payload in bytes()) {
        let _ = bincode::deserialize::<AppendEntriesRequest<TypeConfig>>(&payload);
        let _ = bincode::deserialize::<VoteRequest<TypeConfig>>(&payload);
        let _ = bincode::deserialize::<ShardCommand>(&payload);
    }

    #[test]
    fn client_request_bytes_never_panic(payload in bytes()) {
        if let Ok(req) = pb::OrderCommandRequest::decode(payload.as_slice()) {
            let _ = command_from_pb(&req);
        }
        let _ = pb::PlaceOrderRequest::decode(payload.as_slice());
        let _ = pb::PurchaseRequest::decode(payload.as_slice());
        let _ = pb::BackupShardRequest::decode(payload.as_slice());
        let _ = pb::RaftMessage::decode(payload.as_slice());
    }
}
