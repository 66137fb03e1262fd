//! The SDK against scripted in-process nodes (tonic servers on port 0, no Raft, no disk).
//!
//! The fake cluster has three nodes and two shards (the lower half of the hash space led by
//! node 2, the upper half by node 3); node 1 leads nothing. Like real nodes, every node accepts
//! every request and answers NOT_LEADER with a leader hint instead of forwarding. Each test
//! reads the nodes' request log to prove what the client did on the wire: that it follows hints,
//! learns routes and then goes straight to leaders, retries transient failures with the *same*
//! idempotency key, skips a dead endpoint, and returns definite answers without retrying.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use orderstore_client::Backoff;
use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::PlaceOrder;
use orderstore_proto::v1 as pb;
use orderstore_proto::v1::cluster_admin_server::ClusterAdmin;
use orderstore_proto::v1::cluster_admin_server::ClusterAdminServer;
use orderstore_proto::v1::order_service_server::OrderService;
use orderstore_proto::v1::order_service_server::OrderServiceServer;
use prost::Message;
use tonic::Code;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tonic::transport::server::TcpIncoming;

/// One request as a node saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    node: u64,
    method: &'static str,
    /// Idempotency key (mutations) or order id (reads).
    key: String,
    outcome: &'static str,
}

#[derive(Debug)]
struct Shard {
    id: u64,
    start: u64,
    end: u64,
    leader: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Node id -> gRPC address.
    nodes: Vec<(u64, String)>,
    shards: Vec<Shard>,
    orders: HashMap<String, pb::Order>,
    /// PlaceOrder idempotency key -> order id.
    keys: HashMap<String, String>,
    /// UNAVAILABLE answers a leader still owes to PlaceOrder.
    fail_place: u32,
    /// Reported by ClusterStatus; empty means "not told" (as an old server would).
    default_region: String,
    log: Vec<Seen>,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().expect("test state lock")
}

fn status(code: Code, message: &str, detail: pb::ErrorDetail) -> Status {
    Status::with_details(code, message, detail.encode_to_vec().into())
}

#[derive(Clone)]
struct FakeNode {
    id: u64,
    state: Shared,
}

impl FakeNode {
    /// NOT_LEADER with a hint unless this node leads `order_id`'s shard.
    fn route(
        &self,
        st: &mut State,
        method: &'static str,
        key: &str,
        order_id: &str,
    ) -> Result<(), Status> {
        let h = shard_router::hash_key(order_id.as_bytes());
        let shard = st
            .shards
            .iter()
            .find(|s| s.start <= h && h <= s.end)
            .expect("shards cover the space");
        if shard.leader == self.id {
            return Ok(());
        }
        let (leader, shard_id) = (shard.leader, shard.id);
        let addr = st
            .nodes
            .iter()
            .find(|(id, _)| *id == leader)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        st.log.push(Seen {
            node: self.id,
            method,
            key: key.to_string(),
            outcome: "not_leader",
        });
        Err(status(
            Code::Unavailable,
            "not the leader",
            pb::ErrorDetail {
                kind: "NOT_LEADER".into(),
                shard_id,
                leader_id: leader,
                leader_addr: addr,
                ..Default::default()
            },
        ))
    }
}

#[tonic::async_trait]
impl OrderService for FakeNode {
    async fn place_order(
        &self,
        r: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::OrderReply>, Status> {
        let req = r.into_inner();
        let mut st = lock(&self.state);
        let key = req.idempotency_key.clone();
        let id = format!("o-local-{:016x}", shard_router::hash_key(key.as_bytes()));
        self.route(&mut st, "place", &key, &id)?;
        if st.fail_place > 0 {
            st.fail_place -= 1;
            st.log.push(Seen {
                node: self.id,
                method: "place",
                key,
                outcome: "unavailable",
            });
            return Err(status(
                Code::Unavailable,
                "no quorum",
                pb::ErrorDetail {
                    kind: "UNAVAILABLE".into(),
                    ..Default::default()
                },
            ));
        }
        if let Some(existing) = st.keys.get(&key).cloned() {
            st.log.push(Seen {
                node: self.id,
                method: "place",
                key,
                outcome: "replayed",
            });
            return Ok(Response::new(pb::OrderReply {
                order: st.orders.get(&existing).cloned(),
                replayed: true,
            }));
        }
        let order = pb::Order {
            order_id: id.clone(),
            customer_id: req.customer_id,
            status: "AWAITING_PAYMENT".into(),
            version: 1,
            items: req
                .items
                .iter()
                .map(|i| pb::OrderLine {
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                    line_total: u64::from(i.quantity) * i.unit_price,
                    fulfillment: "UNFULFILLED".into(),
                })
                .collect(),
            ..Default::default()
        };
        st.keys.insert(key.clone(), id.clone());
        st.orders.insert(id, order.clone());
        st.log.push(Seen {
            node: self.id,
            method: "place",
            key,
            outcome: "ok",
        });
        Ok(Response::new(pb::OrderReply {
            order: Some(order),
            replayed: false,
        }))
    }

    async fn get_order(
        &self,
        r: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::OrderReply>, Status> {
        let req = r.into_inner();
        let mut st = lock(&self.state);
        self.route(&mut st, "get", &req.order_id, &req.order_id)?;
        let found = st.orders.get(&req.order_id).cloned();
        st.log.push(Seen {
            node: self.id,
            method: "get",
            key: req.order_id.clone(),
            outcome: if found.is_some() { "ok" } else { "not_found" },
        });
        match found {
            Some(order) => Ok(Response::new(pb::OrderReply {
                order: Some(order),
                replayed: false,
            })),
            None => Err(status(
                Code::NotFound,
                "order not found",
                pb::ErrorDetail {
                    kind: "NOT_FOUND".into(),
                    ..Default::default()
                },
            )),
        }
    }

    async fn apply_order_command(
        &self,
        r: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::OrderReply>, Status> {
        let req = r.into_inner();
        let mut st = lock(&self.state);
        self.route(&mut st, "command", &req.idempotency_key, &req.order_id)?;
        let node = self.id;
        let key = req.idempotency_key.clone();
        let Some(order) = st.orders.get_mut(&req.order_id) else {
            return Err(status(
                Code::NotFound,
                "order not found",
                pb::ErrorDetail {
                    kind: "NOT_FOUND".into(),
                    ..Default::default()
                },
            ));
        };
        let action = pb::OrderAction::try_from(req.action).unwrap_or(pb::OrderAction::Unspecified);
        let next = match (action, order.status.as_str()) {
            (pb::OrderAction::Ship, "CANCELLED") => None,
            (pb::OrderAction::Pay, _) => Some("PAID"),
            (pb::OrderAction::Cancel, _) => Some("CANCELLED"),
            (pb::OrderAction::Ship, _) => Some("SHIPPED"),
            _ => None,
        };
        let Some(next) = next else {
            let current = order.status.clone();
            st.log.push(Seen {
                node,
                method: "command",
                key,
                outcome: "illegal",
            });
            return Err(status(
                Code::FailedPrecondition,
                &format!(
                    "cannot {} order in state {current}: no",
                    action.as_str_name()
                ),
                pb::ErrorDetail {
                    kind: "ILLEGAL_TRANSITION".into(),
                    current_state: current,
                    ..Default::default()
                },
            ));
        };
        order.status = next.to_string();
        order.version += 1;
        let order = order.clone();
        st.log.push(Seen {
            node,
            method: "command",
            key,
            outcome: "ok",
        });
        Ok(Response::new(pb::OrderReply {
            order: Some(order),
            replayed: false,
        }))
    }

    async fn list_order_events(
        &self,
        _r: Request<pb::ListOrderEventsRequest>,
    ) -> Result<Response<pb::ListOrderEventsReply>, Status> {
        Err(Status::unimplemented("not scripted"))
    }
}

#[tonic::async_trait]
impl ClusterAdmin for FakeNode {
    type BackupShardStream = tonic::codegen::tokio_stream::Empty<Result<pb::BackupChunk, Status>>;

    async fn backup_shard(
        &self,
        _r: Request<pb::BackupShardRequest>,
    ) -> Result<Response<Self::BackupShardStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn cluster_status(
        &self,
        _r: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let mut st = lock(&self.state);
        st.log.push(Seen {
            node: self.id,
            method: "cluster_status",
            key: String::new(),
            outcome: "ok",
        });
        let nodes = st
            .nodes
            .iter()
            .map(|(id, addr)| pb::NodeInfo {
                id: *id,
                grpc_addr: addr.clone(),
                state: "up".into(),
                ..Default::default()
            })
            .collect();
        let shards = st
            .shards
            .iter()
            .map(|s| pb::ShardInfo {
                id: s.id,
                range_start: s.start,
                range_end: s.end,
                epoch_version: 1,
                epoch_conf_ver: 1,
                replicas: vec![1, 2, 3],
                leader: s.leader,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(pb::ClusterStatusReply {
            nodes,
            shards,
            default_region: st.default_region.clone(),
        }))
    }

    async fn node_status(
        &self,
        _r: Request<pb::NodeStatusRequest>,
    ) -> Result<Response<pb::NodeStatusReply>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn transfer_leader(
        &self,
        _r: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderReply>, Status> {
        Err(Status::unimplemented("not scripted"))
    }
}

/// Starts three scripted nodes; returns the shared state and their addresses (index = id - 1).
async fn start_cluster() -> (Shared, Vec<String>) {
    let state: Shared = Arc::new(Mutex::new(State::default()));
    let mut addrs = Vec::new();
    let mut listeners = Vec::new();
    for _ in 0..3 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        addrs.push(l.local_addr().expect("local addr").to_string());
        listeners.push(l);
    }
    {
        let mut st = lock(&state);
        st.nodes = addrs
            .iter()
            .cloned()
            .zip(1u64..)
            .map(|(a, id)| (id, a))
            .collect();
        let half = u64::MAX / 2;
        st.shards = vec![
            Shard {
                id: 1,
                start: 0,
                end: half,
                leader: 2,
            },
            Shard {
                id: 2,
                start: half + 1,
                end: u64::MAX,
                leader: 3,
            },
        ];
    }
    for (l, id) in listeners.into_iter().zip(1u64..) {
        let node = FakeNode {
            id,
            state: state.clone(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(OrderServiceServer::new(node.clone()))
                .add_service(ClusterAdminServer::new(node))
                .serve_with_incoming(TcpIncoming::from(l)),
        );
    }
    (state, addrs)
}

fn client(endpoints: &[String]) -> Client {
    Client::builder()
        .endpoints(endpoints)
        .deadline(Duration::from_secs(10))
        .backoff(Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        })
        .build()
        .expect("valid endpoints")
}

fn order(customer: &str) -> PlaceOrder {
    PlaceOrder::new(customer, vec![LineItem::new("sku-1", 2, 500)])
}

fn take_log(state: &Shared) -> Vec<Seen> {
    std::mem::take(&mut lock(state).log)
}

fn leader_of(state: &Shared, order_id: &str) -> u64 {
    let h = shard_router::hash_key(order_id.as_bytes());
    lock(state)
        .shards
        .iter()
        .find(|s| s.start <= h && h <= s.end)
        .map(|s| s.leader)
        .expect("covered")
}

/// Through a follower-only endpoint, placements follow NOT_LEADER hints to the leaders; once
/// the client has learned the routes, reads go straight to the right leader.
#[tokio::test]
async fn follows_hints_then_routes_directly() {
    let (state, addrs) = start_cluster().await;
    let c = client(&addrs[..1]);

    let mut ids = Vec::new();
    for i in 0..20 {
        let reply = c
            .place_order(order(&format!("c{i}")))
            .await
            .expect("placed");
        assert_eq!(reply.order.status, "AWAITING_PAYMENT");
        assert!(!reply.replayed);
        ids.push(reply.order.order_id);
    }
    for seen in take_log(&state)
        .iter()
        .filter(|s| s.method == "place" && s.outcome == "ok")
    {
        assert_ne!(
            seen.node, 1,
            "node 1 leads nothing, so it cannot have stored an order"
        );
    }

    for id in &ids {
        let o = c
            .get_order(id, Consistency::Linearizable)
            .await
            .expect("read");
        assert_eq!(&o.order_id, id);
    }
    let gets: Vec<Seen> = take_log(&state)
        .into_iter()
        .filter(|s| s.method == "get")
        .collect();
    assert_eq!(
        gets.len(),
        ids.len(),
        "one attempt per read, no redirects: {gets:?}"
    );
    for g in &gets {
        assert_eq!(
            g.node,
            leader_of(&state, &g.key),
            "read of {} went to a non-leader",
            g.key
        );
    }
}

/// Once `ClusterStatus` told the client the default region, it derives a new order's id from
/// the idempotency key exactly as the server does and sends `PlaceOrder` straight to the leader
/// of that id's shard: no redirects at all.
#[tokio::test]
async fn placements_go_straight_to_the_leader_when_the_region_is_known() {
    let (state, addrs) = start_cluster().await;
    lock(&state).default_region = "local".into();
    let c = client(&addrs[..1]);
    for i in 0..20 {
        c.place_order(order(&format!("d{i}")))
            .await
            .expect("placed");
    }
    let places: Vec<Seen> = take_log(&state)
        .into_iter()
        .filter(|s| s.method == "place")
        .collect();
    assert_eq!(places.len(), 20, "one attempt per placement: {places:?}");
    assert!(places.iter().all(|s| s.outcome == "ok"), "{places:?}");
}

/// UNAVAILABLE is retried with backoff, and every attempt carries the same idempotency key,
/// so exactly one order exists afterwards; re-sending the caller's key replays the first reply.
#[tokio::test]
async fn retries_reuse_the_idempotency_key() {
    let (state, addrs) = start_cluster().await;
    let c = client(&addrs);
    lock(&state).fail_place = 2;

    let reply = c
        .place_order(order("retry"))
        .await
        .expect("placed after retries");
    let places: Vec<Seen> = take_log(&state)
        .into_iter()
        .filter(|s| s.method == "place")
        .collect();
    let keys: std::collections::BTreeSet<&str> = places.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys.len(), 1, "all attempts share one key: {places:?}");
    assert_eq!(
        places.iter().filter(|s| s.outcome == "unavailable").count(),
        2
    );
    assert_eq!(places.last().map(|s| s.outcome), Some("ok"));
    assert_eq!(lock(&state).orders.len(), 1);
    assert!(reply.order.order_id.starts_with("o-local-"));

    let mine = PlaceOrder {
        idempotency_key: Some("caller-key-1".into()),
        ..order("mine")
    };
    let first = c.place_order(mine.clone()).await.expect("placed");
    let again = c.place_order(mine).await.expect("replayed");
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.order.order_id, again.order.order_id);
}

/// A dead endpoint in the list is skipped; when a leader moves, the stale cached leader's hint
/// is followed once and the next request goes straight to the new leader.
#[tokio::test]
async fn skips_dead_endpoint_and_follows_a_moved_leader() {
    let (state, addrs) = start_cluster().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let c = client(&[dead, addrs[0].clone()]);

    // An order on shard 1 (led by node 2).
    let mut id = String::new();
    for i in 0..64 {
        let reply = c
            .place_order(order(&format!("c{i}")))
            .await
            .expect("placed despite a dead endpoint");
        if leader_of(&state, &reply.order.order_id) == 2 {
            id = reply.order.order_id;
            break;
        }
    }
    assert!(!id.is_empty(), "some order hashes to shard 1");
    c.get_order(&id, Consistency::Linearizable)
        .await
        .expect("warm the route");
    take_log(&state);

    lock(&state).shards[0].leader = 1;
    c.get_order(&id, Consistency::Linearizable)
        .await
        .expect("read after the move");
    c.get_order(&id, Consistency::Linearizable)
        .await
        .expect("read again");
    let gets: Vec<(u64, &str)> = take_log(&state)
        .iter()
        .filter(|s| s.method == "get")
        .map(|s| (s.node, s.outcome))
        .collect();
    assert_eq!(gets, [(2, "not_leader"), (1, "ok"), (1, "ok")]);
}

/// NOT_FOUND and ILLEGAL_TRANSITION come back typed, after exactly one attempt.
#[tokio::test]
async fn definite_answers_are_typed_and_not_retried() {
    let (state, addrs) = start_cluster().await;
    let c = client(&addrs);
    let placed = c.place_order(order("x")).await.expect("placed");
    let id = placed.order.order_id;
    c.get_order(&id, Consistency::Linearizable)
        .await
        .expect("warm the route");
    take_log(&state);

    let missing = c
        .get_order("o-local-00000000deadbeef", Consistency::Linearizable)
        .await;
    assert!(
        matches!(missing, Err(ClientError::NotFound { .. })),
        "{missing:?}"
    );
    assert_eq!(take_log(&state).len(), 1);

    let cancelled = c.cancel(&id, Some("test")).await.expect("cancel");
    assert_eq!(cancelled.order.status, "CANCELLED");
    take_log(&state);
    match c.ship(&id).await {
        Err(e @ ClientError::IllegalTransition { .. }) => {
            assert_eq!(e.code(), Code::FailedPrecondition);
            assert!(!e.is_retryable());
            let ClientError::IllegalTransition { current_state, .. } = e else {
                unreachable!()
            };
            assert_eq!(current_state, "CANCELLED");
        }
        other => panic!("expected IllegalTransition, got {other:?}"),
    }
    assert_eq!(take_log(&state).len(), 1);
}
