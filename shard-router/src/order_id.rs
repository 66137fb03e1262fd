//! Order ids: `o-<home region>-<16 lowercase hex digits>`.
//!
//! The id carries the order's home region (for regional placement) and 64 bits that decide its
//! shard through [`hash_key`] of the whole id. When a `PlaceOrder` carries an idempotency key the
//! 64 bits are derived from the key ([`keyed_order_id`]), so the server and the SDK compute the
//! same id: a retry lands on the same order and shard, and the SDK can route a new order straight
//! to its shard's leader.

use crate::hash_key;

/// The order id made of `region` and the 64-bit `n`.
pub fn order_id(region: &str, n: u64) -> String {
    format!("o-{region}-{n:016x}")
}

/// The order id a `PlaceOrder` with this idempotency key gets in `region`.
pub fn keyed_order_id(region: &str, idempotency_key: &str) -> String {
    order_id(region, hash_key(idempotency_key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_stable() {
        assert_eq!(order_id("eu-west", 0xab), "o-eu-west-00000000000000ab");
        // Pinned: the server and released SDKs must agree on derived ids.
        assert_eq!(
            keyed_order_id("local", "k1"),
            order_id("local", hash_key(b"k1"))
        );
        assert_ne!(keyed_order_id("local", "k1"), keyed_order_id("eu", "k1"));
    }
}
