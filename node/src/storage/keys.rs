//! Key layout of the node's single RocksDB.
//!
//! Column families are by *kind* of data, never per shard; every key starts with the shard id
//! (8 bytes, big endian) so one shard's data is one contiguous key range in each family.
//!
//! | family      | key                                           | value                         |
//! |-------------|-----------------------------------------------|-------------------------------|
//! | `raft_log`  | shard ++ index (BE u64)                       | log entry                     |
//! | `raft_meta` | shard ++ `v`                                  | vote                          |
//! | `raft_meta` | shard ++ `c`                                  | committed log id              |
//! | `raft_meta` | shard ++ `p`                                  | last purged log id            |
//! | `raft_meta` | shard ++ `s`                                  | current snapshot (meta+data)  |
//! | `state`     | shard ++ `a`                                  | applied log id + membership   |
//! | `state`     | shard ++ `o` ++ order id                      | order                         |
//! | `state`     | shard ++ `e` ++ order id ++ 0 ++ seq (BE u64) | order event                   |
//! | `state`     | shard ++ `l` ++ log index (BE) ++ n (BE u32)  | shard event-log pointer       |
//! | `state`     | shard ++ `i` ++ idempotency key               | idempotency record            |
//! | `state`     | shard ++ `x` ++ expiry ms (BE) ++ key         | idempotency expiry index      |
//! | `state`     | shard ++ `k` ++ sku ++ 0 ++ bucket (BE u32)   | stock bucket                  |
//! | `state`     | shard ++ `r` ++ sku ++ 0 ++ bucket ++ id      | reservation / transfer record |
//! | `state`     | shard ++ `q` ++ expiry ms ++ bucket ++ sku ++ 0 ++ id | held-reservation expiry index |
//! | `state`     | shard ++ `j` ++ sku ++ 0 ++ bucket ++ seq (BE)| stock event (audit log)       |
//! | `state`     | shard ++ `m` ++ account id                    | payment account               |
//! | `state`     | shard ++ `n` ++ account id ++ 0 ++ auth id    | authorization                 |
//! | `state`     | shard ++ `p` ++ account id ++ 0 ++ seq (BE)   | payment event (audit log)     |
//! | `state`     | shard ++ `g` ++ saga id                       | purchase saga                 |
//! | `state`     | shard ++ `h` ++ saga id                       | index of sagas not yet ended  |
//!
//! Ids (skus, account ids, ...) never contain a 0 byte (the ledgers' validation refuses it), so
//! the 0 separator keeps one id's keys apart from another id that extends it.
//!
//! Big-endian integers keep numeric order equal to byte order, so range scans walk logs and
//! events in sequence.

/// Column family of Raft log entries.
pub const CF_RAFT_LOG: &str = "raft_log";
/// Column family of Raft metadata: vote, committed id, purge point, snapshots.
pub const CF_RAFT_META: &str = "raft_meta";
/// Column family of applied state: orders, events, idempotency records.
pub const CF_STATE: &str = "state";
/// Every column family the node opens, besides RocksDB's `default`.
pub const ALL_CFS: [&str; 3] = [CF_RAFT_LOG, CF_RAFT_META, CF_STATE];

pub const META_VOTE: u8 = b'v';
pub const META_COMMITTED: u8 = b'c';
pub const META_PURGED: u8 = b'p';
/// The snapshot as one value (meta and data): written by releases before snapshot files, still
/// read when no [`META_SNAPSHOT_FILE`] exists.
pub const META_SNAPSHOT: u8 = b's';
/// Where the shard's current snapshot file is, with its meta.
pub const META_SNAPSHOT_FILE: u8 = b'f';

pub const STATE_APPLIED: u8 = b'a';
pub const STATE_ORDER: u8 = b'o';
pub const STATE_EVENT: u8 = b'e';
pub const STATE_EVENT_LOG: u8 = b'l';
pub const STATE_IDEMPOTENCY: u8 = b'i';
pub const STATE_IDEMPOTENCY_EXPIRY: u8 = b'x';
pub const STATE_STOCK: u8 = b'k';
pub const STATE_RESERVATION: u8 = b'r';
pub const STATE_RESERVATION_EXPIRY: u8 = b'q';
pub const STATE_STOCK_EVENT: u8 = b'j';
pub const STATE_ACCOUNT: u8 = b'm';
pub const STATE_AUTHORIZATION: u8 = b'n';
pub const STATE_PAYMENT_EVENT: u8 = b'p';
pub const STATE_SAGA: u8 = b'g';
pub const STATE_SAGA_OPEN: u8 = b'h';

/// The 8-byte prefix shared by every key of `shard`.
pub fn shard_prefix(shard: u64) -> [u8; 8] {
    shard.to_be_bytes()
}

/// Key of log entry `index` of `shard`.
pub fn log_key(shard: u64, index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&shard.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Index encoded in a `raft_log` key, or `None` when the key is not a log key.
pub fn log_index_of(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// A key made of the shard prefix, a one-byte tag and `rest`.
pub fn tagged(shard: u64, tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + rest.len());
    k.extend_from_slice(&shard.to_be_bytes());
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

pub fn order_key(shard: u64, order_id: &str) -> Vec<u8> {
    tagged(shard, STATE_ORDER, order_id.as_bytes())
}

/// Prefix of every event of one order; events sort by sequence inside it.
pub fn order_events_prefix(shard: u64, order_id: &str) -> Vec<u8> {
    let mut k = tagged(shard, STATE_EVENT, order_id.as_bytes());
    k.push(0);
    k
}

pub fn order_event_key(shard: u64, order_id: &str, seq: u64) -> Vec<u8> {
    let mut k = order_events_prefix(shard, order_id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn event_log_key(shard: u64, log_index: u64, n: u32) -> Vec<u8> {
    let mut rest = [0u8; 12];
    rest[..8].copy_from_slice(&log_index.to_be_bytes());
    rest[8..].copy_from_slice(&n.to_be_bytes());
    tagged(shard, STATE_EVENT_LOG, &rest)
}

pub fn idempotency_key(shard: u64, key: &str) -> Vec<u8> {
    tagged(shard, STATE_IDEMPOTENCY, key.as_bytes())
}

pub fn idempotency_expiry_key(shard: u64, expires_at_ms: u64, key: &str) -> Vec<u8> {
    let mut rest = Vec::with_capacity(8 + key.len());
    rest.extend_from_slice(&expires_at_ms.to_be_bytes());
    rest.extend_from_slice(key.as_bytes());
    tagged(shard, STATE_IDEMPOTENCY_EXPIRY, &rest)
}

/// Splits an expiry-index key into (expiry ms, idempotency key).
pub fn parse_idempotency_expiry_key(key: &[u8]) -> Option<(u64, String)> {
    let ms: [u8; 8] = key.get(9..17)?.try_into().ok()?;
    let k = std::str::from_utf8(key.get(17..)?).ok()?;
    Some((u64::from_be_bytes(ms), k.to_string()))
}

fn sku_bucket(sku: &str, bucket: u32) -> Vec<u8> {
    let mut rest = Vec::with_capacity(sku.len() + 5);
    rest.extend_from_slice(sku.as_bytes());
    rest.push(0);
    rest.extend_from_slice(&bucket.to_be_bytes());
    rest
}

pub fn stock_key(shard: u64, sku: &str, bucket: u32) -> Vec<u8> {
    tagged(shard, STATE_STOCK, &sku_bucket(sku, bucket))
}

pub fn reservation_key(shard: u64, sku: &str, bucket: u32, id: &str) -> Vec<u8> {
    let mut rest = sku_bucket(sku, bucket);
    rest.extend_from_slice(id.as_bytes());
    tagged(shard, STATE_RESERVATION, &rest)
}

pub fn reservation_expiry_key(
    shard: u64,
    expires_at_ms: u64,
    sku: &str,
    bucket: u32,
    id: &str,
) -> Vec<u8> {
    let mut rest = Vec::with_capacity(14 + sku.len() + id.len());
    rest.extend_from_slice(&expires_at_ms.to_be_bytes());
    rest.extend_from_slice(&bucket.to_be_bytes());
    rest.extend_from_slice(sku.as_bytes());
    rest.push(0);
    rest.extend_from_slice(id.as_bytes());
    tagged(shard, STATE_RESERVATION_EXPIRY, &rest)
}

/// Splits a reservation-expiry key into (expiry ms, sku, bucket, reservation id).
pub fn parse_reservation_expiry_key(key: &[u8]) -> Option<(u64, String, u32, String)> {
    let ms: [u8; 8] = key.get(9..17)?.try_into().ok()?;
    let bucket: [u8; 4] = key.get(17..21)?.try_into().ok()?;
    let rest = key.get(21..)?;
    let sep = rest.iter().position(|b| *b == 0)?;
    let sku = std::str::from_utf8(&rest[..sep]).ok()?;
    let id = std::str::from_utf8(&rest[sep + 1..]).ok()?;
    Some((
        u64::from_be_bytes(ms),
        sku.to_owned(),
        u32::from_be_bytes(bucket),
        id.to_owned(),
    ))
}

pub fn stock_event_key(shard: u64, sku: &str, bucket: u32, seq: u64) -> Vec<u8> {
    let mut rest = sku_bucket(sku, bucket);
    rest.extend_from_slice(&seq.to_be_bytes());
    tagged(shard, STATE_STOCK_EVENT, &rest)
}

pub fn account_key(shard: u64, account_id: &str) -> Vec<u8> {
    tagged(shard, STATE_ACCOUNT, account_id.as_bytes())
}

pub fn authorization_key(shard: u64, account_id: &str, auth_id: &str) -> Vec<u8> {
    let mut rest = Vec::with_capacity(account_id.len() + 1 + auth_id.len());
    rest.extend_from_slice(account_id.as_bytes());
    rest.push(0);
    rest.extend_from_slice(auth_id.as_bytes());
    tagged(shard, STATE_AUTHORIZATION, &rest)
}

pub fn payment_event_key(shard: u64, account_id: &str, seq: u64) -> Vec<u8> {
    let mut rest = Vec::with_capacity(account_id.len() + 9);
    rest.extend_from_slice(account_id.as_bytes());
    rest.push(0);
    rest.extend_from_slice(&seq.to_be_bytes());
    tagged(shard, STATE_PAYMENT_EVENT, &rest)
}

pub fn saga_key(shard: u64, saga_id: &str) -> Vec<u8> {
    tagged(shard, STATE_SAGA, saga_id.as_bytes())
}

pub fn saga_open_key(shard: u64, saga_id: &str) -> Vec<u8> {
    tagged(shard, STATE_SAGA_OPEN, saga_id.as_bytes())
}

/// The exclusive upper bound of all keys starting with `prefix` (prefix + 1 in byte order).
/// `None` when the prefix is all 0xff (no upper bound needed).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_shard_then_index() {
        assert!(log_key(1, 9) < log_key(1, 10));
        assert!(log_key(1, u64::MAX) < log_key(2, 0));
        assert_eq!(log_index_of(&log_key(3, 77)), Some(77));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
        let p = order_events_prefix(5, "o_a");
        let end = prefix_end(&p).unwrap();
        assert!(order_event_key(5, "o_a", u64::MAX) < end);
        assert!(order_event_key(5, "o_a", 0) >= p);
    }

    #[test]
    fn reservation_expiry_key_round_trips_and_sorts_by_time() {
        let k = reservation_expiry_key(4, 99, "sku-1", 3, "o-1");
        assert_eq!(
            parse_reservation_expiry_key(&k),
            Some((99, "sku-1".to_string(), 3, "o-1".to_string()))
        );
        assert!(k < reservation_expiry_key(4, 100, "a", 0, "a"));
    }

    #[test]
    fn expiry_key_round_trips() {
        let k = idempotency_expiry_key(4, 123, "key-1");
        assert_eq!(
            parse_idempotency_expiry_key(&k),
            Some((123, "key-1".to_string()))
        );
    }
}
