//! gRPC services of a node: the client API (orders, cluster admin) and their error mapping.
//!
//! # Layout
//! - [`orders`]: `OrderService` (place, get, commands, events).
//! - [`admin`]: `ClusterAdmin` (cluster/node status, leader transfer).
//! - [`error`]: [`ApiError`], the typed client-facing error, and its gRPC status mapping.
//! - [`convert`]: wire <-> domain conversions.

pub mod admin;
pub mod convert;
pub mod error;
pub mod orders;

pub use admin::AdminApi;
pub use error::ApiError;
pub use orders::OrderApi;
