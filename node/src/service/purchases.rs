//! `PurchaseService`: places an order and starts its purchase saga in one Raft entry on the
//! order's shard, then hands the saga to the orchestrator; saga reads, listings and operator
//! actions.

use std::sync::Arc;
use std::time::Duration;

use orderstore_client::Client;
use orderstore_client::Consistency;
use orderstore_proto::v1 as pb;
use orderstore_proto::v1::purchase_service_server::PurchaseService;

use super::access::ShardAccess;
use super::access::fingerprint;
use super::access::now_ms;
use super::access::observed;
use super::commerce_convert as conv;
use super::convert;
use super::error::ApiError;
use crate::host::ShardHost;
use crate::orchestrator::Orchestrator;
use crate::order;
use crate::order::Limits;
use crate::order::NewLine;
use crate::order::NewOrder;
use crate::order::Order;
use crate::saga::PurchaseSaga;
use crate::saga::PurchaseSpec;
use crate::saga::Resolution;
use crate::saga::SagaInput;
use crate::saga::SagaStatus;
use crate::types::IdempotencyTag;
use crate::types::ShardCommand;
use crate::types::ShardResponse;

/// Longest a `Purchase { wait }` may wait for its saga.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The purchase API of one node.
pub struct PurchaseApi {
    access: ShardAccess,
    client: Client,
    orchestrator: Orchestrator,
    limits: Arc<Limits>,
}

fn reply(order: &Order, saga: &PurchaseSaga, replayed: bool) -> pb::PurchaseReply {
    pb::PurchaseReply {
        order: Some(convert::order_to_pb(order)),
        saga: Some(conv::saga_to_pb(saga)),
        replayed,
    }
}

impl PurchaseApi {
    pub fn new(
        host: ShardHost,
        client: Client,
        orchestrator: Orchestrator,
        limits: Arc<Limits>,
    ) -> Self {
        Self {
            access: ShardAccess::new(host),
            client,
            orchestrator,
            limits,
        }
    }

    /// The number of escrow buckets of `sku` (1 when the SKU has no record: the reserve then
    /// refuses and the saga compensates).
    async fn buckets_of(&self, sku: &str) -> u32 {
        match self
            .client
            .get_stock_bucket(sku, 0, Consistency::Stale)
            .await
        {
            Ok(r) => r.bucket.map_or(1, |b| b.buckets.max(1)),
            Err(_) => 1,
        }
    }

    async fn purchase(&self, req: pb::PurchaseRequest) -> Result<pb::PurchaseReply, ApiError> {
        let limits = &self.limits;
        if req.idempotency_key.is_empty() {
            return Err(order::ValidationError::new(
                "idempotency_key",
                "a purchase needs an idempotency key (the SDK makes one up)",
            )
            .into());
        }
        order::validate_idempotency_key(&req.idempotency_key, limits)?;
        if req.account_id.is_empty() {
            return Err(order::ValidationError::new("account_id", "must not be empty").into());
        }
        let region = if req.region.is_empty() {
            self.access.host().config().default_region.clone()
        } else {
            req.region.clone()
        };
        let currency = if req.currency.is_empty() {
            "USD".to_owned()
        } else {
            req.currency.clone()
        };
        let order_id = convert::new_order_id(&region, Some(&req.idempotency_key));
        let new = NewOrder {
            order_id: order_id.clone(),
            customer_id: req.customer_id.clone(),
            region,
            currency,
            lines: req
                .items
                .iter()
                .map(|i| NewLine {
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                })
                .collect(),
        };
        order::validate_new_order(&new, limits)?;
        let shard = self.access.route(order_id.as_bytes())?;
        let mut lines = Vec::with_capacity(new.lines.len());
        for l in &new.lines {
            lines.push((
                l.sku.clone(),
                u64::from(l.quantity),
                self.buckets_of(&l.sku).await,
            ));
        }
        let spec = PurchaseSpec {
            account_id: req.account_id.clone(),
            lines,
            timeout_ms: self.orchestrator.config().saga_timeout_ms,
        };
        // Check the saga's own rules before proposing (the state machine checks them again).
        crate::saga::start(&order_id, "", 0, &spec, 0)
            .map_err(|e| ApiError::from(crate::types::CommandError::from(e)))?;
        let mut fp_req = req.clone();
        fp_req.wait = false;
        fp_req.wait_timeout_ms = 0;
        let cmd = ShardCommand::StartPurchase {
            order: new,
            spec,
            idempotency: Some(IdempotencyTag {
                key: req.idempotency_key.clone(),
                fingerprint: fingerprint(&fp_req),
            }),
            now_ms: now_ms(),
        };
        let mut changes = self.orchestrator.subscribe();
        let (order, saga, replayed) = match self.access.propose(&shard, cmd).await? {
            ShardResponse::Purchase {
                order,
                saga,
                replayed,
            } => (order, saga, replayed),
            other => return Err(ApiError::Internal(format!("unexpected reply {other:?}"))),
        };
        if saga.status.is_active() {
            self.orchestrator.kick(shard.id, saga.saga_id.clone());
        }
        if !req.wait || saga.status.is_terminal() || saga.status == SagaStatus::NeedsAttention {
            return Ok(reply(&order, &saga, replayed));
        }
        let wait = Duration::from_millis(u64::from(req.wait_timeout_ms))
            .min(MAX_WAIT)
            .max(Duration::from_millis(1));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let id = order_id.clone();
            let (o, s) = self
                .access
                .read(&shard, move |r| Ok((r.order(&id)?, r.saga(&id)?)))
                .await?;
            if let (Some(o), Some(s)) = (o, s)
                && (!s.status.is_active() || tokio::time::Instant::now() >= deadline)
            {
                return Ok(reply(&o, &s, replayed));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(reply(&order, &saga, replayed));
            }
            // Wake on any change of this saga (or a lagging channel), at the deadline at the
            // latest.
            loop {
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Ok(Ok(id)) if id != order_id => continue,
                    _ => break,
                }
            }
        }
    }

    async fn get_saga(&self, req: pb::GetSagaRequest) -> Result<pb::PurchaseReply, ApiError> {
        order::validate_order_id(&req.saga_id, &self.limits)?;
        let shard = self.access.route(req.saga_id.as_bytes())?;
        if req.consistency() == pb::ReadConsistency::Linearizable {
            self.access.read_barrier(&shard).await?;
        }
        let id = req.saga_id.clone();
        let (o, s) = self
            .access
            .read(&shard, move |r| Ok((r.order(&id)?, r.saga(&id)?)))
            .await?;
        match (o, s) {
            (Some(o), Some(s)) => Ok(reply(&o, &s, false)),
            _ => Err(ApiError::Refused {
                kind: "NOT_FOUND",
                message: format!("saga {} not found", req.saga_id),
                field: None,
            }),
        }
    }

    async fn list_sagas(&self, req: pb::ListSagasRequest) -> Result<pb::ListSagasReply, ApiError> {
        let status = if req.status.is_empty() {
            None
        } else {
            Some(SagaStatus::parse(&req.status).ok_or_else(|| {
                order::ValidationError::new(
                    "status",
                    format!("unknown saga status {:?}", req.status),
                )
            })?)
        };
        let limit = if req.limit == 0 {
            100
        } else {
            req.limit.min(10_000)
        } as usize;
        let shard = self.access.route_shard(req.shard_id)?;
        let sagas = self
            .access
            .read(&shard, move |r| {
                let all = match status {
                    // Open sagas come from the index; ended ones need the full scan.
                    None
                    | Some(
                        SagaStatus::Running | SagaStatus::Compensating | SagaStatus::NeedsAttention,
                    ) => {
                        let mut out = Vec::new();
                        for id in r.open_saga_ids(usize::MAX)? {
                            if let Some(s) = r.saga(&id)? {
                                out.push(s);
                            }
                        }
                        out
                    }
                    Some(_) => r.sagas(usize::MAX)?,
                };
                Ok(all
                    .into_iter()
                    .filter(|s| status.is_none_or(|st| s.status == st))
                    .take(limit)
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(pb::ListSagasReply {
            sagas: sagas.iter().map(conv::saga_to_pb).collect(),
        })
    }

    async fn saga_admin(&self, req: pb::SagaAdminRequest) -> Result<pb::PurchaseReply, ApiError> {
        order::validate_order_id(&req.saga_id, &self.limits)?;
        order::validate_reason(&req.note, &self.limits)?;
        let note = req.note.clone();
        let input = match pb::SagaAdminAction::try_from(req.action)
            .unwrap_or(pb::SagaAdminAction::Unspecified)
        {
            pb::SagaAdminAction::SagaRetry => SagaInput::OperatorRetry { note },
            pb::SagaAdminAction::SagaResolveComplete => SagaInput::OperatorResolve {
                resolution: Resolution::Complete,
                note,
            },
            pb::SagaAdminAction::SagaResolveCompensate => SagaInput::OperatorResolve {
                resolution: Resolution::Compensate,
                note,
            },
            pb::SagaAdminAction::Unspecified => {
                return Err(order::ValidationError::new("action", "unknown saga action").into());
            }
        };
        tracing::info!(saga = %req.saga_id, action = req.action, note = %req.note, "audit: saga operator action");
        let shard = self.access.route(req.saga_id.as_bytes())?;
        let cmd = ShardCommand::Saga {
            saga_id: req.saga_id.clone(),
            input,
            now_ms: now_ms(),
        };
        match self.access.propose(&shard, cmd).await? {
            ShardResponse::Purchase { order, saga, .. } => {
                if saga.status.is_active() {
                    self.orchestrator.kick(shard.id, saga.saga_id.clone());
                }
                Ok(reply(&order, &saga, false))
            }
            other => Err(ApiError::Internal(format!("unexpected reply {other:?}"))),
        }
    }
}

#[tonic::async_trait]
impl PurchaseService for PurchaseApi {
    async fn purchase(
        &self,
        r: tonic::Request<pb::PurchaseRequest>,
    ) -> Result<tonic::Response<pb::PurchaseReply>, tonic::Status> {
        observed(
            self.access.host(),
            "Purchase",
            self.purchase(r.into_inner()),
        )
        .await
    }

    async fn get_saga(
        &self,
        r: tonic::Request<pb::GetSagaRequest>,
    ) -> Result<tonic::Response<pb::PurchaseReply>, tonic::Status> {
        observed(self.access.host(), "GetSaga", self.get_saga(r.into_inner())).await
    }

    async fn list_sagas(
        &self,
        r: tonic::Request<pb::ListSagasRequest>,
    ) -> Result<tonic::Response<pb::ListSagasReply>, tonic::Status> {
        observed(
            self.access.host(),
            "ListSagas",
            self.list_sagas(r.into_inner()),
        )
        .await
    }

    async fn saga_admin(
        &self,
        r: tonic::Request<pb::SagaAdminRequest>,
    ) -> Result<tonic::Response<pb::PurchaseReply>, tonic::Status> {
        observed(
            self.access.host(),
            "SagaAdmin",
            self.saga_admin(r.into_inner()),
        )
        .await
    }
}
