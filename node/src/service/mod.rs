//! gRPC services of a node: the client API (orders, inventory, payments, purchases, cluster
//! admin) and their error mapping.
//!
//! # Layout
//! - [`orders`]: `OrderService` (place, get, commands, events).
//! - [`access`]: [`access::ShardAccess`], routing / proposing / reading shared by the services.
//! - [`inventory`]: `InventoryService` (stock buckets, reservations, splits).
//! - [`payments`]: `PaymentService` (the built-in ledger provider).
//! - [`purchases`]: `PurchaseService` (purchase = order + saga; saga reads and operator actions).
//! - [`commerce_convert`]: wire <-> inventory/payment/saga conversions.
//! - [`admin`]: `ClusterAdmin` (cluster/node status, leader transfer).
//! - [`error`]: [`ApiError`], the typed client-facing error, and its gRPC status mapping.
//! - [`convert`]: wire <-> domain conversions.

pub mod access;
pub mod admin;
pub mod commerce_convert;
pub mod convert;
pub mod error;
pub mod inventory;
pub mod orders;
pub mod payments;
pub mod purchases;

pub use admin::AdminApi;
pub use error::ApiError;
pub use inventory::InventoryApi;
pub use orders::OrderApi;
pub use payments::PaymentApi;
pub use purchases::PurchaseApi;
