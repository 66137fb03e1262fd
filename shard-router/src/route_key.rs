//! Routing keys of the three keyspaces: which bytes are hashed to find the shard of an order, a
//! stock bucket or a payment account.
//!
//! | keyspace  | routing key                 | example               |
//! |-----------|-----------------------------|-----------------------|
//! | orders    | the order id                | `o-eu-west-00ab...`   |
//! | inventory | `inv/` sku `/` bucket       | `inv/sku-42/0`        |
//! | payments  | `acct/` account id          | `acct/alice`          |
//!
//! The prefixes keep the keyspaces apart: an order id never starts with `inv/` or `acct/`, so two
//! kinds of record never share a routing key. Like [`crate::hash_key`], these formats are part of
//! the on-disk and on-wire contract.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hash_key;

/// The keyspace a routing key belongs to (placement policies are set per keyspace, see
/// [`PolicySet`](crate::PolicySet)). Stored by the meta shard with bincode (variant **index**):
/// append new variants at the end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keyspace {
    /// Orders, routed by order id.
    Orders,
    /// Stock escrow buckets, routed by `inv/` sku `/` bucket.
    Inventory,
    /// Payment accounts, routed by `acct/` account id.
    Payments,
    /// The meta shard: membership, shard map, policies.
    Meta,
}

impl Keyspace {
    /// Every keyspace, in declaration order.
    pub const ALL: [Keyspace; 4] = [
        Keyspace::Orders,
        Keyspace::Inventory,
        Keyspace::Payments,
        Keyspace::Meta,
    ];

    /// Lowercase name, as used in configuration (`[placement.orders]`).
    pub fn as_str(self) -> &'static str {
        match self {
            Keyspace::Orders => "orders",
            Keyspace::Inventory => "inventory",
            Keyspace::Payments => "payments",
            Keyspace::Meta => "meta",
        }
    }
}

impl fmt::Display for Keyspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Routing key of an order.
pub fn order_route_key(order_id: &str) -> Vec<u8> {
    order_id.as_bytes().to_vec()
}

/// Routing key of escrow bucket `bucket` of `sku`.
pub fn stock_route_key(sku: &str, bucket: u32) -> Vec<u8> {
    format!("inv/{sku}/{bucket}").into_bytes()
}

/// Routing key of a payment account.
pub fn account_route_key(account_id: &str) -> Vec<u8> {
    format!("acct/{account_id}").into_bytes()
}

/// The hash of the routing key of escrow bucket `bucket` of `sku`.
pub fn stock_hash(sku: &str, bucket: u32) -> u64 {
    hash_key(&stock_route_key(sku, bucket))
}

/// The hash of the routing key of a payment account.
pub fn account_hash(account_id: &str) -> u64 {
    hash_key(&account_route_key(account_id))
}

/// The hash of the routing key of an order (`hash_key` of its id).
pub fn order_hash(order_id: &str) -> u64 {
    hash_key(order_id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_pinned() {
        assert_eq!(stock_route_key("sku-1", 3), b"inv/sku-1/3".to_vec());
        assert_eq!(account_route_key("alice"), b"acct/alice".to_vec());
        assert_eq!(order_route_key("o-x-1"), b"o-x-1".to_vec());
        assert_eq!(order_hash("o-x-1"), hash_key(b"o-x-1"));
        assert_eq!(stock_hash("s", 0), hash_key(b"inv/s/0"));
        assert_eq!(account_hash("a"), hash_key(b"acct/a"));
    }

    #[test]
    fn buckets_of_one_sku_spread() {
        let hashes: std::collections::HashSet<u64> =
            (0..16).map(|b| stock_hash("hot", b)).collect();
        assert_eq!(hashes.len(), 16);
    }
}
