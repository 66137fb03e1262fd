//! `OrderService`: validates requests, routes them to the shard that owns the order, proposes
//! writes through the shard's Raft log and serves reads (linearizable by default).

use std::sync::Arc;

use orderstore_proto::v1 as pb;
use orderstore_proto::v1::order_service_server::OrderService;

use super::access::ShardAccess;
use super::access::fingerprint;
use super::access::now_ms;
use super::access::observed;
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

/// The order API of one node.
pub struct OrderApi {
    access: ShardAccess,
    limits: Arc<Limits>,
}

impl OrderApi {
    pub fn new(host: ShardHost, limits: Arc<Limits>) -> Self {
        Self {
            access: ShardAccess::new(host),
            limits,
        }
    }

    fn route(&self, order_id: &str) -> Result<Arc<Shard>, ApiError> {
        self.access.route(order_id.as_bytes())
    }

    /// Proposes an order command and answers with the order.
    async fn propose(&self, shard: &Shard, cmd: ShardCommand) -> Result<pb::OrderReply, ApiError> {
        match self.access.propose(shard, cmd).await? {
            ShardResponse::Order { order, replayed } => Ok(pb::OrderReply {
                order: Some(convert::order_to_pb(&order)),
                replayed,
            }),
            // A cancellation routed to the order's saga answers with the order it changed.
            ShardResponse::Purchase { order, .. } => Ok(pb::OrderReply {
                order: Some(convert::order_to_pb(&order)),
                replayed: false,
            }),
            other => Err(ApiError::Internal(format!(
                "unexpected response to an order command: {other:?}"
            ))),
        }
    }

    async fn place_order(&self, req: pb::PlaceOrderRequest) -> Result<pb::OrderReply, ApiError> {
        let limits = &self.limits;
        if !req.idempotency_key.is_empty() {
            order::validate_idempotency_key(&req.idempotency_key, limits)?;
        }
        let region = if req.region.is_empty() {
            self.access.host().config().default_region.clone()
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
            self.access.read_barrier(&shard).await?;
        }
        let id = req.order_id.clone();
        let found = self.access.read(&shard, move |r| r.order(&id)).await?;
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
        self.access.read_barrier(&shard).await?;
        let id = req.order_id.clone();
        let events = self
            .access
            .read(&shard, move |r| r.order_events(&id))
            .await?;
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

#[tonic::async_trait]
impl OrderService for OrderApi {
    async fn place_order(
        &self,
        r: tonic::Request<pb::PlaceOrderRequest>,
    ) -> Result<tonic::Response<pb::OrderReply>, tonic::Status> {
        observed(
            self.access.host(),
            "PlaceOrder",
            self.place_order(r.into_inner()),
        )
        .await
    }

    async fn get_order(
        &self,
        r: tonic::Request<pb::GetOrderRequest>,
    ) -> Result<tonic::Response<pb::OrderReply>, tonic::Status> {
        observed(
            self.access.host(),
            "GetOrder",
            self.get_order(r.into_inner()),
        )
        .await
    }

    async fn apply_order_command(
        &self,
        r: tonic::Request<pb::OrderCommandRequest>,
    ) -> Result<tonic::Response<pb::OrderReply>, tonic::Status> {
        observed(
            self.access.host(),
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
            self.access.host(),
            "ListOrderEvents",
            self.list_events(r.into_inner()),
        )
        .await
    }
}
