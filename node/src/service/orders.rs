//! `OrderService`: validates requests, routes them to the shard that owns the order, proposes
//! writes through the shard's Raft log and serves reads (linearizable by default).

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use openraft::ReadPolicy;
use openraft::error::ClientWriteError;
use openraft::error::ForwardToLeader;
use openraft::error::LinearizableReadError;
use openraft::error::RaftError;
use orderstore_proto::v1 as pb;
use orderstore_proto::v1::order_service_server::OrderService;
use prost::Message;

use super::convert;
use super::error::ApiError;
use crate::host::Shard;
use crate::host::ShardHost;
use crate::order;
use crate::order::Limits;
use crate::order::NewLine;
use crate::order::NewOrder;
use crate::types::IdempotencyTag;
use crate::types::ShardCommand;
use crate::types::ShardResponse;
use crate::types::TypeConfig;

/// How long a proposal or read barrier may wait for the shard (no quorum -> UNAVAILABLE).
pub const PROPOSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The order API of one node.
pub struct OrderApi {
    host: ShardHost,
    limits: Arc<Limits>,
}

impl OrderApi {
    pub fn new(host: ShardHost, limits: Arc<Limits>) -> Self {
        Self { host, limits }
    }

    /// The local replica that owns `order_id`, or a redirect to a node that has one.
    fn route(&self, order_id: &str) -> Result<Arc<Shard>, ApiError> {
        let desc = self.host.shard_map().lookup_key(order_id.as_bytes());
        if self.host.is_quarantined(desc.id) {
            return Err(ApiError::Quarantined { shard: desc.id });
        }
        self.host.shard(desc.id).ok_or_else(|| ApiError::WrongNode {
            shard: desc.id,
            hint: desc
                .replicas
                .first()
                .and_then(|id| self.host.node_addr(*id).map(|a| (*id, a))),
        })
    }

    fn not_leader(&self, shard: &Shard, f: Option<&ForwardToLeader<TypeConfig>>) -> ApiError {
        let leader = f.and_then(|f| {
            let id = f.leader_id?;
            let addr = f
                .leader_node
                .as_ref()
                .map(|n| n.addr.clone())
                .or_else(|| self.host.node_addr(id))?;
            Some((id, addr))
        });
        ApiError::NotLeader {
            shard: shard.id,
            leader,
        }
    }

    /// A failed local read: DATA_LOSS if it quarantined the shard, INTERNAL otherwise.
    fn read_failed(&self, shard: &Shard, e: std::io::Error) -> ApiError {
        if self.host.is_quarantined(shard.id) {
            ApiError::Quarantined { shard: shard.id }
        } else {
            ApiError::Internal(format!("shard {}: {e}", shard.id))
        }
    }

    /// Proposes `cmd` to the shard and waits for it to be applied.
    async fn propose(&self, shard: &Shard, cmd: ShardCommand) -> Result<pb::OrderReply, ApiError> {
        let metrics = self.host.metrics();
        let res = tokio::time::timeout(PROPOSAL_TIMEOUT, shard.raft.client_write(cmd)).await;
        let resp = match res {
            Err(_) => {
                metrics.proposal(shard.id, "timeout");
                return Err(ApiError::Unavailable(format!(
                    "shard {} did not commit within {PROPOSAL_TIMEOUT:?}; retry with the same idempotency key",
                    shard.id
                )));
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                metrics.proposal(shard.id, "not_leader");
                return Err(self.not_leader(shard, Some(&f)));
            }
            Ok(Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)))) => {
                metrics.proposal(shard.id, "discarded");
                return Err(self.not_leader(shard, Some(&f)));
            }
            Ok(Err(e)) => {
                metrics.proposal(shard.id, "error");
                if self.host.is_quarantined(shard.id) {
                    return Err(ApiError::Quarantined { shard: shard.id });
                }
                return Err(ApiError::Unavailable(format!("shard {}: {e}", shard.id)));
            }
            Ok(Ok(r)) => r,
        };
        match resp.data {
            ShardResponse::Order { order, replayed } => {
                metrics.proposal(shard.id, "ok");
                Ok(pb::OrderReply {
                    order: Some(convert::order_to_pb(&order)),
                    replayed,
                })
            }
            ShardResponse::Rejected(e) => {
                metrics.proposal(shard.id, "rejected");
                Err(e.into())
            }
            ShardResponse::Empty => Err(ApiError::Internal(
                "empty response to an order command".into(),
            )),
        }
    }

    /// Waits until this replica may serve a linearizable read of `shard`.
    async fn read_barrier(&self, shard: &Shard) -> Result<(), ApiError> {
        match tokio::time::timeout(
            PROPOSAL_TIMEOUT,
            shard.raft.ensure_linearizable(ReadPolicy::ReadIndex),
        )
        .await
        {
            Err(_) => Err(ApiError::Unavailable(format!(
                "shard {}: read barrier timed out",
                shard.id
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
                Err(self.not_leader(shard, Some(&f)))
            }
            Ok(Err(e)) => Err(ApiError::Unavailable(format!("shard {}: {e}", shard.id))),
        }
    }

    async fn place_order(&self, req: pb::PlaceOrderRequest) -> Result<pb::OrderReply, ApiError> {
        let limits = &self.limits;
        if !req.idempotency_key.is_empty() {
            order::validate_idempotency_key(&req.idempotency_key, limits)?;
        }
        let region = if req.region.is_empty() {
            self.host.config().default_region.clone()
        } else {
            req.region.clone()
        };
        let currency = if req.currency.is_empty() {
            "USD".to_string()
        } else {
            req.currency.clone()
        };
        let idempotency = (!req.idempotency_key.is_empty()).then(|| IdempotencyTag {
            key: req.idempotency_key.clone(),
            fingerprint: fingerprint(&req),
        });
        let order_id = convert::new_order_id(&region, idempotency.as_ref().map(|t| t.key.as_str()));
        let new = NewOrder {
            order_id,
            customer_id: req.customer_id,
            region,
            currency,
            lines: req
                .items
                .into_iter()
                .map(|i| NewLine {
                    sku: i.sku,
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                })
                .collect(),
        };
        order::validate_new_order(&new, limits)?;
        let shard = self.route(&new.order_id)?;
        self.propose(
            &shard,
            ShardCommand::PlaceOrder {
                order: new,
                idempotency,
                now_ms: now_ms(),
            },
        )
        .await
    }

    async fn get_order(&self, req: pb::GetOrderRequest) -> Result<pb::OrderReply, ApiError> {
        order::validate_order_id(&req.order_id, &self.limits)?;
        let shard = self.route(&req.order_id)?;
        if req.consistency() == pb::ReadConsistency::Linearizable {
            self.read_barrier(&shard).await?;
        }
        let reader = shard.reader.clone();
        let id = req.order_id.clone();
        let found = tokio::task::spawn_blocking(move || reader.order(&id))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| self.read_failed(&shard, e))?;
        let order = found.ok_or(ApiError::NotFound {
            order_id: req.order_id,
        })?;
        Ok(pb::OrderReply {
            order: Some(convert::order_to_pb(&order)),
            replayed: false,
        })
    }

    async fn apply_command(
        &self,
        req: pb::OrderCommandRequest,
    ) -> Result<pb::OrderReply, ApiError> {
        let limits = &self.limits;
        order::validate_order_id(&req.order_id, limits)?;
        if !req.idempotency_key.is_empty() {
            order::validate_idempotency_key(&req.idempotency_key, limits)?;
        }
        order::validate_reason(&req.reason, limits)?;
        let command = convert::command_from_pb(&req)?;
        order::validate_command(&command, limits)?;
        let idempotency = (!req.idempotency_key.is_empty()).then(|| IdempotencyTag {
            key: req.idempotency_key.clone(),
            fingerprint: fingerprint(&req),
        });
        let shard = self.route(&req.order_id)?;
        let cmd = ShardCommand::UpdateOrder {
            order_id: req.order_id,
            command,
            expected_version: req.expected_version,
            idempotency,
            now_ms: now_ms(),
        };
        self.propose(&shard, cmd).await
    }

    async fn list_events(
        &self,
        req: pb::ListOrderEventsRequest,
    ) -> Result<pb::ListOrderEventsReply, ApiError> {
        order::validate_order_id(&req.order_id, &self.limits)?;
        let shard = self.route(&req.order_id)?;
        self.read_barrier(&shard).await?;
        let reader = shard.reader.clone();
        let id = req.order_id.clone();
        let events = tokio::task::spawn_blocking(move || reader.order_events(&id))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| self.read_failed(&shard, e))?;
        if events.is_empty() {
            return Err(ApiError::NotFound {
                order_id: req.order_id,
            });
        }
        Ok(pb::ListOrderEventsReply {
            events: events.iter().map(convert::event_to_pb).collect(),
        })
    }
}

/// Fingerprint of a request for idempotency: xxh3 of its canonical protobuf encoding.
fn fingerprint<M: Message>(req: &M) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&req.encode_to_vec())
}

/// The proposing leader's wall clock, carried in the command so apply is deterministic.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs `f`, records the RPC metric, and turns the outcome into a gRPC result.
async fn observed<T, F>(
    host: &ShardHost,
    method: &str,
    f: F,
) -> Result<tonic::Response<T>, tonic::Status>
where
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let started = Instant::now();
    let res = f.await;
    let code = res
        .as_ref()
        .map(|_| tonic::Code::Ok)
        .unwrap_or_else(|e| e.code());
    host.metrics().rpc(method, code, started.elapsed());
    res.map(tonic::Response::new).map_err(|e| e.to_status())
}

#[tonic::async_trait]
impl OrderService for OrderApi {
    async fn place_order(
        &self,
        r: tonic::Request<pb::PlaceOrderRequest>,
    ) -> Result<tonic::Response<pb::OrderReply>, tonic::Status> {
        observed(&self.host, "PlaceOrder", self.place_order(r.into_inner())).await
    }

    async fn get_order(
        &self,
        r: tonic::Request<pb::GetOrderRequest>,
    ) -> Result<tonic::Response<pb::OrderReply>, tonic::Status> {
        observed(&self.host, "GetOrder", self.get_order(r.into_inner())).await
    }

    async fn apply_order_command(
        &self,
        r: tonic::Request<pb::OrderCommandRequest>,
    ) -> Result<tonic::Response<pb::OrderReply>, tonic::Status> {
        observed(
            &self.host,
            "ApplyOrderCommand",
            self.apply_command(r.into_inner()),
        )
        .await
    }

    async fn list_order_events(
        &self,
        r: tonic::Request<pb::ListOrderEventsRequest>,
    ) -> Result<tonic::Response<pb::ListOrderEventsReply>, tonic::Status> {
        observed(
            &self.host,
            "ListOrderEvents",
            self.list_events(r.into_inner()),
        )
        .await
    }
}
