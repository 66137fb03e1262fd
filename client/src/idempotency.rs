//! Idempotency keys the SDK generates for mutating calls the caller gave none for.

/// A fresh random idempotency key: `sdk-` and 32 hex digits (128 random bits), well inside the
/// server's 128-byte limit and its `[A-Za-z0-9._:-]` charset.
pub fn new_idempotency_key() -> String {
    format!("sdk-{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_well_formed() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }
}
