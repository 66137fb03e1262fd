//! The orderstore SDK: a Rust client for a sharded, Raft-replicated orderstore cluster, used by
//! the `orderctl` CLI (in `src/bin/`), the chaos harness and the load generator.
//!
//! A [`Client`] talks gRPC (`orderstore_proto::v1`) to any node. It owns the client side of the
//! cluster's contracts: it keeps a routing cache (shard hash ranges and their leaders, learned
//! from `ClusterStatus` and from NOT_LEADER / WRONG_NODE hints) and sends each request that
//! names an order to its shard's leader; it follows redirects, retries transient failures with
//! full-jitter backoff and gives every mutating call an idempotency key, so retries never apply
//! twice; and it turns every failed status into a typed [`ClientError`] with a [`RetryMethod`].
//! Against a secured cluster it speaks TLS ([`TlsOptions`]: the cluster's CA, optionally a
//! client certificate) and sends a bearer token with every request.
//!
//! ```no_run
//! # async fn demo() -> Result<(), orderstore_client::ClientError> {
//! use orderstore_client::{Client, Consistency, LineItem, PlaceOrder};
//! let client = Client::builder().endpoints(["127.0.0.1:7001", "127.0.0.1:7002"]).build()?;
//! let placed = client.place_order(PlaceOrder::new("cust-1", vec![LineItem::new("sku-1", 2, 1999)])).await?;
//! client.pay(&placed.order.order_id).await?;
//! let order = client.get_order(&placed.order.order_id, Consistency::Linearizable).await?;
//! assert_eq!(order.status, "PAID");
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `client`: [`Client`], the calls and the routing / redirect / retry loop.
//! - `builder`: [`ClientBuilder`], endpoints, TLS and token, timeouts and the retry budget.
//! - `credentials`: [`TlsOptions`] and the bearer token added to every request.
//! - `error`: [`ClientError`] (decoded from `tonic::Status` + `ErrorDetail`) and [`RetryMethod`].
//! - `backoff`: [`Backoff`], full-jitter exponential backoff.
//! - `route_cache`: the shard-range -> leader cache (pure, unit-tested).
//! - `endpoint_set`: seed and learned node addresses, skipping recently failed ones.
//! - `channel_pool`: one lazily connected tonic channel per address (`http` or `https`).
//! - `backup`: [`Client::backup_to`], [`BackupManifest`]: consistent per-shard backups.
//! - `commerce`: inventory, payment, purchase and saga calls ([`Purchase`], [`PurchaseItem`]).
//! - `idempotency`: [`new_idempotency_key`].
//! - Request and reply types: [`PlaceOrder`], [`LineItem`], [`Action`], [`CommandOptions`],
//!   [`Consistency`], [`Order`] / [`OrderLine`] / [`OrderReply`] / [`OrderEvent`],
//!   [`ClusterStatus`] / [`NodeInfo`] / [`ShardInfo`].

mod action;
mod backoff;
mod backup;
mod builder;
mod channel_pool;
mod client;
mod cluster_status;
mod command_options;
mod commerce;
mod consistency;
mod credentials;
mod endpoint_set;
mod error;
mod idempotency;
mod line_item;
mod order;
mod place_order;
mod route_cache;

pub use action::Action;
pub use action::UnknownAction;
pub use backoff::Backoff;
pub use backup::BACKUP_FORMAT;
pub use backup::BackupError;
pub use backup::BackupManifest;
pub use backup::MANIFEST_FILE;
pub use backup::ShardBackup;
pub use backup::ShardBackupEntry;
pub use builder::ClientBuilder;
pub use client::Client;
pub use cluster_status::ClusterStatus;
pub use cluster_status::NodeInfo;
pub use cluster_status::ShardInfo;
pub use command_options::CommandOptions;
pub use commerce::Purchase;
pub use commerce::PurchaseItem;
pub use consistency::Consistency;
pub use credentials::TlsOptions;
pub use error::ClientError;
pub use error::RetryMethod;
pub use error::code_name;
pub use idempotency::new_idempotency_key;
pub use line_item::LineItem;
pub use line_item::ParseLineItemError;
pub use order::Order;
pub use order::OrderEvent;
pub use order::OrderLine;
pub use order::OrderReply;
/// The wire messages (inventory, payment and purchase replies are returned as these).
pub use orderstore_proto::v1 as proto;
pub use place_order::PlaceOrder;
