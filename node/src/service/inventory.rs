//! `InventoryService`: stock per SKU escrow bucket. Writes go to the leader of the bucket's
//! shard (routing key `inv/<sku>/<bucket>`); whole-SKU reads and splits fan out over buckets,
//! through the node's internal SDK client for buckets that live elsewhere.

use std::sync::Arc;

use orderstore_client::Client;
use orderstore_client::Consistency;
use orderstore_proto::v1 as pb;
use orderstore_proto::v1::inventory_service_server::InventoryService;

use super::access::ShardAccess;
use super::access::fingerprint;
use super::access::now_ms;
use super::access::observed;
use super::commerce_convert as conv;
use super::error::ApiError;
use crate::host::ShardHost;
use crate::inventory;
use crate::inventory::StockBucket;
use crate::inventory::StockLimits;
use crate::inventory::StockOp;
use crate::types::IdempotencyTag;
use crate::types::ShardCommand;
use crate::types::ShardResponse;

/// The inventory API of one node.
pub struct InventoryApi {
    access: ShardAccess,
    client: Client,
    limits: Arc<StockLimits>,
}

impl InventoryApi {
    pub fn new(host: ShardHost, client: Client, limits: Arc<StockLimits>) -> Self {
        Self {
            access: ShardAccess::new(host),
            client,
            limits,
        }
    }

    /// Validates and proposes `op` on one bucket; answers with the bucket after it.
    pub(crate) async fn stock_op(
        &self,
        sku: &str,
        bucket: u32,
        op: StockOp,
        idempotency: Option<IdempotencyTag>,
    ) -> Result<(StockBucket, inventory::StockReply), ApiError> {
        inventory::validate_op(sku, bucket, &op, &self.limits)
            .map_err(|e| ApiError::from(crate::types::CommandError::from(e)))?;
        let shard = self
            .access
            .route(&shard_router::stock_route_key(sku, bucket))?;
        let cmd = ShardCommand::Stock {
            sku: sku.to_owned(),
            bucket,
            op,
            idempotency,
            now_ms: now_ms(),
        };
        match self.access.propose(&shard, cmd).await? {
            ShardResponse::Stock { bucket, reply } => Ok((bucket, reply)),
            other => Err(ApiError::Internal(format!("unexpected reply {other:?}"))),
        }
    }

    fn tag<M: prost::Message>(key: &str, req: &M) -> Option<IdempotencyTag> {
        (!key.is_empty()).then(|| IdempotencyTag {
            key: key.to_owned(),
            fingerprint: fingerprint(req),
        })
    }

    /// One bucket read here, at its shard's leader: linearizable after a read-index barrier
    /// (staleness 0), stale straight from the leader's applied state (staleness = how long ago
    /// the leader last heard from a quorum, which bounds how out of date it can be). NOT_LEADER
    /// / WRONG_NODE when this node does not lead the bucket's shard.
    async fn local_bucket(
        &self,
        sku: &str,
        bucket: u32,
        linearizable: bool,
    ) -> Result<(Option<StockBucket>, u64), ApiError> {
        let shard = self
            .access
            .route(&shard_router::stock_route_key(sku, bucket))?;
        let staleness = if linearizable {
            self.access.read_barrier(&shard).await?;
            0
        } else {
            self.access.leader_staleness_ms(&shard)?
        };
        let sku = sku.to_owned();
        let found = self
            .access
            .read(&shard, move |r| r.stock_bucket(&sku, bucket))
            .await?;
        Ok((found, staleness))
    }

    /// One bucket, read here when this node leads its shard, else through the SDK at the
    /// bucket's leader.
    async fn any_bucket(
        &self,
        sku: &str,
        bucket: u32,
        linearizable: bool,
    ) -> Result<(Option<StockBucket>, u64), ApiError> {
        match self.local_bucket(sku, bucket, linearizable).await {
            Ok(found) => Ok(found),
            Err(ApiError::NotLeader { .. } | ApiError::WrongNode { .. }) => {
                let consistency = if linearizable {
                    Consistency::Linearizable
                } else {
                    Consistency::Stale
                };
                match self.client.get_stock_bucket(sku, bucket, consistency).await {
                    Ok(reply) => Ok((
                        reply.bucket.as_ref().map(bucket_from_pb),
                        reply.stock.map_or(0, |s| s.staleness_ms),
                    )),
                    Err(orderstore_client::ClientError::NotFound { .. }) => Ok((None, 0)),
                    Err(e) => Err(ApiError::Unavailable(format!(
                        "bucket {bucket} of {sku}: {e}"
                    ))),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Every bucket of `sku` (bucket 0 says how many there are) and the largest staleness.
    pub(crate) async fn all_buckets(
        &self,
        sku: &str,
        linearizable: bool,
    ) -> Result<(Vec<StockBucket>, u64), ApiError> {
        let (Some(first), mut staleness) = self.any_bucket(sku, 0, linearizable).await? else {
            return Err(ApiError::Refused {
                kind: "NOT_FOUND",
                message: format!("SKU {sku} has no stock record"),
                field: None,
            });
        };
        let n = first.buckets.max(1);
        let mut out = vec![first];
        for b in 1..n {
            let (found, s) = self.any_bucket(sku, b, linearizable).await?;
            staleness = staleness.max(s);
            out.extend(found);
        }
        Ok((out, staleness))
    }

    async fn get_stock(&self, req: pb::GetStockRequest) -> Result<pb::StockReply, ApiError> {
        let probe = StockOp::Set { available: 0 };
        inventory::validate_op(&req.sku, req.bucket.unwrap_or(0), &probe, &self.limits)
            .map_err(|e| ApiError::from(crate::types::CommandError::from(e)))?;
        let linearizable = req.consistency() == pb::ReadConsistency::Linearizable;
        if let Some(bucket) = req.bucket {
            let (found, staleness) = self.local_bucket(&req.sku, bucket, linearizable).await?;
            let b = found.ok_or_else(|| ApiError::Refused {
                kind: "NOT_FOUND",
                message: format!("SKU {} has no bucket {bucket}", req.sku),
                field: None,
            })?;
            return Ok(pb::StockReply {
                stock: Some(conv::stock_to_pb(
                    &req.sku,
                    std::slice::from_ref(&b),
                    staleness,
                    linearizable,
                )),
                bucket: Some(conv::bucket_to_pb(&b)),
            });
        }
        let (buckets, staleness) = self.all_buckets(&req.sku, linearizable).await?;
        Ok(pb::StockReply {
            stock: Some(conv::stock_to_pb(
                &req.sku,
                &buckets,
                staleness,
                linearizable,
            )),
            bucket: None,
        })
    }

    /// Splits a SKU into more buckets: sets the new count on bucket 0, then moves an even
    /// share of bucket 0's available units to each new bucket with deduplicated transfers
    /// (ids derived from the SKU and the new count), so a retried or resumed split never moves
    /// units twice and never creates stock.
    async fn split_stock(&self, req: pb::SplitStockRequest) -> Result<pb::StockReply, ApiError> {
        let sku = req.sku.clone();
        let (first, _) = self.local_bucket(&sku, 0, true).await?;
        let first = first.ok_or_else(|| ApiError::Refused {
            kind: "NOT_FOUND",
            message: format!("SKU {sku} has no stock record"),
            field: None,
        })?;
        let old = first.buckets.max(1);
        if req.buckets < old {
            return Err(ApiError::Invalid(crate::order::ValidationError::new(
                "buckets",
                format!("a SKU's bucket count only grows (now {old})"),
            )));
        }
        if req.buckets > old {
            self.stock_op(
                &sku,
                0,
                StockOp::SetBuckets {
                    buckets: req.buckets,
                },
                None,
            )
            .await?;
        }
        let share = first.available / u64::from(req.buckets.max(1));
        if share > 0 {
            for b in old..req.buckets {
                let transfer_id = format!("split-{}-{b}", req.buckets);
                self.stock_op(
                    &sku,
                    0,
                    StockOp::TransferOut {
                        transfer_id: transfer_id.clone(),
                        quantity: share,
                    },
                    None,
                )
                .await?;
                self.transfer_in(&sku, b, &transfer_id, share).await?;
            }
        }
        let (buckets, _) = self.all_buckets(&sku, true).await?;
        Ok(pb::StockReply {
            stock: Some(conv::stock_to_pb(&sku, &buckets, 0, true)),
            bucket: None,
        })
    }

    /// TransferIn on bucket `b`, here when this node leads it, else through the SDK's
    /// reservation call path (the same deduplicated op via `SetStock`-free internal route).
    async fn transfer_in(
        &self,
        sku: &str,
        bucket: u32,
        transfer_id: &str,
        quantity: u64,
    ) -> Result<(), ApiError> {
        let op = StockOp::TransferIn {
            transfer_id: transfer_id.to_owned(),
            quantity,
        };
        match self.stock_op(sku, bucket, op, None).await {
            Ok(_) => Ok(()),
            Err(ApiError::NotLeader { .. } | ApiError::WrongNode { .. }) => {
                // Forward as a reservation-service call: `TRANSFER_IN` is carried by the
                // quantity/op of a ReservationRequest with the transfer id.
                self.client
                    .reservation(pb::ReservationRequest {
                        sku: sku.to_owned(),
                        bucket,
                        reservation_id: transfer_id.to_owned(),
                        op: TRANSFER_IN_OP,
                        quantity,
                        ttl_ms: 0,
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        ApiError::Unavailable(format!("transfer into bucket {bucket}: {e}"))
                    })
            }
            Err(e) => Err(e),
        }
    }

    async fn reserve(&self, req: pb::ReservationRequest) -> Result<pb::ReservationReply, ApiError> {
        let op = match req.op {
            x if x == pb::ReservationOp::Reserve as i32 => StockOp::Reserve {
                reservation_id: req.reservation_id.clone(),
                quantity: req.quantity,
                ttl_ms: req.ttl_ms,
            },
            x if x == pb::ReservationOp::Commit as i32 => StockOp::Commit {
                reservation_id: req.reservation_id.clone(),
            },
            x if x == pb::ReservationOp::Release as i32 => StockOp::Release {
                reservation_id: req.reservation_id.clone(),
            },
            TRANSFER_IN_OP => StockOp::TransferIn {
                transfer_id: req.reservation_id.clone(),
                quantity: req.quantity,
            },
            _ => {
                return Err(ApiError::Invalid(crate::order::ValidationError::new(
                    "op",
                    "unknown or missing reservation op",
                )));
            }
        };
        let (bucket, reply) = self.stock_op(&req.sku, req.bucket, op, None).await?;
        let (outcome, reservation) = conv::stock_outcome(&reply);
        Ok(pb::ReservationReply {
            outcome: outcome.to_owned(),
            reservation,
            bucket: Some(conv::bucket_to_pb(&bucket)),
        })
    }
}

/// Internal op number (not in the public enum) used to forward a split's `TransferIn` to the
/// node leading the target bucket.
const TRANSFER_IN_OP: i32 = 100;

pub fn bucket_from_pb(b: &pb::StockBucket) -> StockBucket {
    StockBucket {
        sku: b.sku.clone(),
        bucket: b.bucket,
        buckets: b.buckets,
        available: b.available,
        held: b.held,
        committed: b.committed,
        added: b.added,
        removed: b.removed,
        version: b.version,
        updated_at_ms: b.updated_at_ms,
    }
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    async fn set_stock(
        &self,
        r: tonic::Request<pb::SetStockRequest>,
    ) -> Result<tonic::Response<pb::StockReply>, tonic::Status> {
        let req = r.into_inner();
        observed(self.access.host(), "SetStock", async {
            let tag = Self::tag(&req.idempotency_key, &req);
            let op = StockOp::Set {
                available: req.available,
            };
            let (b, _) = self.stock_op(&req.sku, req.bucket, op, tag).await?;
            Ok(pb::StockReply {
                stock: None,
                bucket: Some(conv::bucket_to_pb(&b)),
            })
        })
        .await
    }

    async fn restock(
        &self,
        r: tonic::Request<pb::RestockRequest>,
    ) -> Result<tonic::Response<pb::StockReply>, tonic::Status> {
        let req = r.into_inner();
        observed(self.access.host(), "Restock", async {
            let tag = Self::tag(&req.idempotency_key, &req);
            let op = StockOp::Restock {
                quantity: req.quantity,
            };
            let (b, _) = self.stock_op(&req.sku, req.bucket, op, tag).await?;
            Ok(pb::StockReply {
                stock: None,
                bucket: Some(conv::bucket_to_pb(&b)),
            })
        })
        .await
    }

    async fn adjust_stock(
        &self,
        r: tonic::Request<pb::AdjustStockRequest>,
    ) -> Result<tonic::Response<pb::StockReply>, tonic::Status> {
        let req = r.into_inner();
        observed(self.access.host(), "AdjustStock", async {
            let tag = Self::tag(&req.idempotency_key, &req);
            let op = StockOp::Adjust {
                delta: req.delta,
                reason: req.reason.clone(),
            };
            let (b, _) = self.stock_op(&req.sku, req.bucket, op, tag).await?;
            Ok(pb::StockReply {
                stock: None,
                bucket: Some(conv::bucket_to_pb(&b)),
            })
        })
        .await
    }

    async fn get_stock(
        &self,
        r: tonic::Request<pb::GetStockRequest>,
    ) -> Result<tonic::Response<pb::StockReply>, tonic::Status> {
        observed(
            self.access.host(),
            "GetStock",
            self.get_stock(r.into_inner()),
        )
        .await
    }

    async fn split_stock(
        &self,
        r: tonic::Request<pb::SplitStockRequest>,
    ) -> Result<tonic::Response<pb::StockReply>, tonic::Status> {
        observed(
            self.access.host(),
            "SplitStock",
            self.split_stock(r.into_inner()),
        )
        .await
    }

    async fn reserve(
        &self,
        r: tonic::Request<pb::ReservationRequest>,
    ) -> Result<tonic::Response<pb::ReservationReply>, tonic::Status> {
        observed(self.access.host(), "Reserve", self.reserve(r.into_inner())).await
    }
}
