//! The hash that maps keys into the 64-bit routing space.

/// Hashes a routing key into the 64-bit space that shards partition.
///
/// This is xxh3-64 with the default seed. It is part of the on-disk and on-wire contract: every
/// node and client must agree on it, so changing it means re-sharding every stored key.
/// Orders route by `hash_key(order_id.as_bytes())`.
pub fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is a fixed function: pin a few values so an accidental change of algorithm or seed
    /// (which would silently re-route every stored key) fails loudly.
    #[test]
    fn hash_is_pinned_xxh3_64() {
        assert_eq!(hash_key(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(hash_key(b"order-1"), xxhash_rust::xxh3::xxh3_64(b"order-1"));
        assert_ne!(hash_key(b"order-1"), hash_key(b"order-2"));
    }
}
