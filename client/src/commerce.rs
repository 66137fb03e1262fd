//! Inventory, payment and purchase calls of the [`Client`]. Replies are the wire messages
//! (`orderstore_client::proto`), which carry every field the server returns.
//!
//! Routing: a stock bucket goes to the leader of the shard owning `inv/<sku>/<bucket>`, an
//! account to the one owning `acct/<id>`, a purchase or saga to the one owning its order id
//! (the saga id); retries follow the [`Client`] contract.

use orderstore_proto::v1 as pb;
use orderstore_proto::v1::inventory_service_client::InventoryServiceClient;
use orderstore_proto::v1::payment_service_client::PaymentServiceClient;
use orderstore_proto::v1::purchase_service_client::PurchaseServiceClient;

use crate::Client;
use crate::ClientError;
use crate::Consistency;
use crate::client::Target;
use crate::idempotency::new_idempotency_key;

fn stock_key(sku: &str, bucket: u32) -> String {
    String::from_utf8(shard_router::stock_route_key(sku, bucket)).unwrap_or_default()
}

fn account_key(account_id: &str) -> String {
    String::from_utf8(shard_router::account_route_key(account_id)).unwrap_or_default()
}

fn consistency(c: Consistency) -> i32 {
    pb::ReadConsistency::from(c) as i32
}

/// One line of a purchase: `sku`, units and unit price in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
}

/// A purchase request: places the order and starts its saga.
#[derive(Debug, Clone, Default)]
pub struct Purchase {
    pub customer_id: String,
    pub account_id: String,
    pub items: Vec<PurchaseItem>,
    /// ISO 4217; empty = the server's default (`USD`).
    pub currency: String,
    /// Empty = the cluster's default region.
    pub region: String,
    /// Empty = the SDK makes one up (so retries stay idempotent).
    pub idempotency_key: String,
    /// Answer only once the saga ended (or `wait_timeout_ms` passed).
    pub wait: bool,
    pub wait_timeout_ms: u32,
}

impl Client {
    /// Sets the available units of one bucket of `sku` (bucket 0 creates the SKU).
    pub async fn set_stock(
        &self,
        sku: &str,
        bucket: u32,
        available: u64,
    ) -> Result<pb::StockReply, ClientError> {
        let req = pb::SetStockRequest {
            sku: sku.to_owned(),
            available,
            bucket,
            idempotency_key: new_idempotency_key(),
        };
        let key = stock_key(sku, bucket);
        self.call(Target::Key(&key), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { InventoryServiceClient::new(ch).set_stock(r).await }
        })
        .await
    }

    /// Adds `quantity` units to one bucket of `sku`.
    pub async fn restock(
        &self,
        sku: &str,
        bucket: u32,
        quantity: u64,
    ) -> Result<pb::StockReply, ClientError> {
        let req = pb::RestockRequest {
            sku: sku.to_owned(),
            quantity,
            bucket,
            idempotency_key: new_idempotency_key(),
        };
        let key = stock_key(sku, bucket);
        self.call(Target::Key(&key), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { InventoryServiceClient::new(ch).restock(r).await }
        })
        .await
    }

    /// Adds (positive) or removes (negative) available units of one bucket, for `reason`.
    pub async fn adjust_stock(
        &self,
        sku: &str,
        bucket: u32,
        delta: i64,
        reason: &str,
    ) -> Result<pb::StockReply, ClientError> {
        let req = pb::AdjustStockRequest {
            sku: sku.to_owned(),
            delta,
            reason: reason.to_owned(),
            bucket,
            idempotency_key: new_idempotency_key(),
        };
        let key = stock_key(sku, bucket);
        self.call(Target::Key(&key), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { InventoryServiceClient::new(ch).adjust_stock(r).await }
        })
        .await
    }

    /// The SKU's stock summed over its buckets. `Linearizable` asks every bucket's leader;
    /// `Stale` may be served from a replica and reports its staleness.
    pub async fn get_stock(
        &self,
        sku: &str,
        consistency_: Consistency,
    ) -> Result<pb::Stock, ClientError> {
        let req = pb::GetStockRequest {
            sku: sku.to_owned(),
            consistency: consistency(consistency_),
            bucket: None,
        };
        let key = stock_key(sku, 0);
        let reply = self
            .call(Target::Key(&key), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { InventoryServiceClient::new(ch).get_stock(r).await }
            })
            .await?;
        reply.stock.ok_or_else(|| ClientError::MalformedReply {
            what: "GetStock reply without stock".into(),
        })
    }

    /// One bucket of `sku`, read at its shard's leader (after a read barrier when
    /// linearizable). The reply's `bucket` is the bucket, its `stock` the same figures with the
    /// read's staleness.
    pub async fn get_stock_bucket(
        &self,
        sku: &str,
        bucket: u32,
        consistency_: Consistency,
    ) -> Result<pb::StockReply, ClientError> {
        let req = pb::GetStockRequest {
            sku: sku.to_owned(),
            consistency: consistency(consistency_),
            bucket: Some(bucket),
        };
        let key = stock_key(sku, bucket);
        self.call(Target::Key(&key), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { InventoryServiceClient::new(ch).get_stock(r).await }
        })
        .await
    }

    /// Splits `sku` into `buckets` escrow buckets (spreading bucket 0's available units).
    pub async fn split_stock(&self, sku: &str, buckets: u32) -> Result<pb::Stock, ClientError> {
        let req = pb::SplitStockRequest {
            sku: sku.to_owned(),
            buckets,
        };
        let key = stock_key(sku, 0);
        let reply = self
            .call(Target::Key(&key), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { InventoryServiceClient::new(ch).split_stock(r).await }
            })
            .await?;
        reply.stock.ok_or_else(|| ClientError::MalformedReply {
            what: "SplitStock reply without stock".into(),
        })
    }

    /// A reservation call (saga participant): deduplicated by `reservation_id`.
    pub async fn reservation(
        &self,
        req: pb::ReservationRequest,
    ) -> Result<pb::ReservationReply, ClientError> {
        let key = stock_key(&req.sku, req.bucket);
        self.call(Target::Key(&key), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { InventoryServiceClient::new(ch).reserve(r).await }
        })
        .await
    }

    /// Opens a ledger account with an opening credit.
    pub async fn create_account(
        &self,
        account_id: &str,
        currency: &str,
        initial_credit: u64,
    ) -> Result<pb::Account, ClientError> {
        let req = pb::CreateAccountRequest {
            account_id: account_id.to_owned(),
            currency: currency.to_owned(),
            initial_credit,
            idempotency_key: new_idempotency_key(),
        };
        let key = account_key(account_id);
        let reply = self
            .call(Target::Key(&key), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { PaymentServiceClient::new(ch).create_account(r).await }
            })
            .await?;
        reply.account.ok_or_else(|| ClientError::MalformedReply {
            what: "reply without account".into(),
        })
    }

    /// Credits a ledger account.
    pub async fn credit_account(
        &self,
        account_id: &str,
        amount: u64,
    ) -> Result<pb::Account, ClientError> {
        let req = pb::CreditAccountRequest {
            account_id: account_id.to_owned(),
            amount,
            idempotency_key: new_idempotency_key(),
        };
        let key = account_key(account_id);
        let reply = self
            .call(Target::Key(&key), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { PaymentServiceClient::new(ch).credit_account(r).await }
            })
            .await?;
        reply.account.ok_or_else(|| ClientError::MalformedReply {
            what: "reply without account".into(),
        })
    }

    /// A ledger account.
    pub async fn get_account(
        &self,
        account_id: &str,
        consistency_: Consistency,
    ) -> Result<pb::Account, ClientError> {
        let req = pb::GetAccountRequest {
            account_id: account_id.to_owned(),
            consistency: consistency(consistency_),
        };
        let key = account_key(account_id);
        let reply = self
            .call(Target::Key(&key), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { PaymentServiceClient::new(ch).get_account(r).await }
            })
            .await?;
        reply.account.ok_or_else(|| ClientError::MalformedReply {
            what: "reply without account".into(),
        })
    }

    /// A payment call (saga participant): deduplicated by `auth_id`.
    pub async fn payment(&self, req: pb::PaymentRequest) -> Result<pb::PaymentReply, ClientError> {
        let key = account_key(&req.account_id);
        self.call(Target::Key(&key), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { PaymentServiceClient::new(ch).payment(r).await }
        })
        .await
    }

    /// Places the order and starts its purchase saga. The order id is derived from the
    /// idempotency key, so a retry lands on the same order and replays.
    pub async fn purchase(&self, p: Purchase) -> Result<pb::PurchaseReply, ClientError> {
        let region = if p.region.is_empty() {
            self.default_region().await
        } else {
            Some(p.region.clone())
        };
        let key = if p.idempotency_key.is_empty() {
            new_idempotency_key()
        } else {
            p.idempotency_key.clone()
        };
        let order_id = region.map(|r| shard_router::keyed_order_id(&r, &key));
        let req = pb::PurchaseRequest {
            customer_id: p.customer_id,
            account_id: p.account_id,
            items: p
                .items
                .into_iter()
                .map(|i| pb::LineItem {
                    sku: i.sku,
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                })
                .collect(),
            currency: p.currency,
            region: p.region,
            idempotency_key: key,
            wait: p.wait,
            wait_timeout_ms: p.wait_timeout_ms,
        };
        let target = match &order_id {
            Some(id) => Target::Key(id),
            None => Target::Any,
        };
        self.call(target, |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { PurchaseServiceClient::new(ch).purchase(r).await }
        })
        .await
    }

    /// A saga (and its order) by saga id (= order id).
    pub async fn get_saga(
        &self,
        saga_id: &str,
        consistency_: Consistency,
    ) -> Result<pb::PurchaseReply, ClientError> {
        let req = pb::GetSagaRequest {
            saga_id: saga_id.to_owned(),
            consistency: consistency(consistency_),
        };
        self.call(Target::Key(saga_id), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { PurchaseServiceClient::new(ch).get_saga(r).await }
        })
        .await
    }

    /// Sagas of every shard: those not yet ended (`status` empty) or those in one status, at
    /// most `limit` per shard.
    pub async fn list_sagas(&self, status: &str, limit: u32) -> Result<Vec<pb::Saga>, ClientError> {
        let cluster = self.cluster_status().await?;
        let mut out = Vec::new();
        for shard in &cluster.shards {
            let req = pb::ListSagasRequest {
                shard_id: shard.id,
                status: status.to_owned(),
                limit,
            };
            let reply = self
                .call(Target::Shard(shard.id), |ch, timeout, _| {
                    let mut r = tonic::Request::new(req.clone());
                    r.set_timeout(timeout);
                    async move { PurchaseServiceClient::new(ch).list_sagas(r).await }
                })
                .await?;
            out.extend(reply.sagas);
        }
        Ok(out)
    }

    /// Operator action on a saga: retry a parked one, or resolve it (complete / compensate).
    pub async fn saga_admin(
        &self,
        saga_id: &str,
        action: pb::SagaAdminAction,
        note: &str,
    ) -> Result<pb::PurchaseReply, ClientError> {
        let req = pb::SagaAdminRequest {
            saga_id: saga_id.to_owned(),
            action: action as i32,
            note: note.to_owned(),
        };
        self.call(Target::Key(saga_id), |ch, timeout, _| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { PurchaseServiceClient::new(ch).saga_admin(r).await }
        })
        .await
    }
}
