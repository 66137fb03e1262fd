//! Bounds on every argument of a stock operation, and the validators that enforce them.
//!
//! [`super::ledger::apply`] checks its [`StockLimits`] before anything else, so an operation
//! that breaks a limit changes nothing. Because apply runs when a Raft entry is applied, every
//! replica must pass the **same** limits for the same entry (use [`StockLimits::default`], or the
//! limits recorded in the log entry); call [`validate_op`] at the API edge to refuse bad input
//! before it is proposed.

use serde::{Deserialize, Serialize};

use super::ledger::{StockError, StockOp};

/// Bounds on client-supplied arguments. Lengths are in bytes of UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLimits {
    /// Largest quantity one operation may move, and the largest level `Set` may set
    /// (default 10^9).
    pub max_quantity: u64,
    /// Longest SKU, reservation id or transfer id (default 128).
    pub max_id_len: usize,
    /// Longest adjustment reason (default 256).
    pub max_reason_len: usize,
    /// Most buckets per SKU (default 1024); bucket numbers are `0..max_buckets`.
    pub max_buckets: u32,
    /// Longest reservation TTL (default 24 h).
    pub max_ttl_ms: u64,
    /// Shortest reservation TTL (default 1 ms).
    pub min_ttl_ms: u64,
}

impl Default for StockLimits {
    fn default() -> Self {
        StockLimits {
            max_quantity: 1_000_000_000,
            max_id_len: 128,
            max_reason_len: 256,
            max_buckets: 1024,
            max_ttl_ms: 24 * 60 * 60 * 1000,
            min_ttl_ms: 1,
        }
    }
}

/// Checks the arguments of `op` on bucket `bucket_no` of `sku` against `limits`, in this order:
/// `sku`, `bucket`, then the op's own fields in declaration order. Returns the first violation:
/// [`StockError::InvalidId`] for a SKU, id or reason (non-empty, at most the limit, ids in
/// `[A-Za-z0-9._:-]`, reasons without control characters), [`StockError::InvalidQuantity`] for a
/// number (`bucket < max_buckets`; quantities in `1..=max_quantity`; `Set` in
/// `0..=max_quantity`; `Adjust` a non-zero delta of magnitude at most `max_quantity`; TTLs in
/// `min_ttl_ms..=max_ttl_ms`; `SetBuckets` in `bucket_no + 1..=max_buckets`).
///
/// Depends on nothing but its arguments; [`super::ledger::apply`] calls it first.
pub fn validate_op(
    sku: &str,
    bucket_no: u32,
    op: &StockOp,
    limits: &StockLimits,
) -> Result<(), StockError> {
    check_id(sku, limits.max_id_len).map_err(|reason| StockError::InvalidId {
        field: "sku",
        reason,
    })?;
    if bucket_no >= limits.max_buckets {
        return Err(StockError::InvalidQuantity {
            field: "bucket",
            reason: format!(
                "must be below the bucket limit {}, got {bucket_no}",
                limits.max_buckets
            ),
        });
    }
    match op {
        StockOp::Set { available } => check_quantity("available", *available, 0, limits),
        StockOp::Restock { quantity } => check_quantity("quantity", *quantity, 1, limits),
        StockOp::Adjust { delta, reason } => {
            if *delta == 0 {
                return Err(StockError::InvalidQuantity {
                    field: "delta",
                    reason: "must not be 0".to_owned(),
                });
            }
            // unsigned_abs is total (i64::MIN has magnitude 2^63, which is over any sane limit).
            if delta.unsigned_abs() > limits.max_quantity {
                return Err(StockError::InvalidQuantity {
                    field: "delta",
                    reason: format!(
                        "magnitude must be at most {}, got {delta}",
                        limits.max_quantity
                    ),
                });
            }
            check_text(reason, limits.max_reason_len).map_err(|reason| StockError::InvalidId {
                field: "reason",
                reason,
            })
        }
        StockOp::Reserve {
            reservation_id,
            quantity,
            ttl_ms,
        } => {
            reservation_id_ok(reservation_id, limits)?;
            check_quantity("quantity", *quantity, 1, limits)?;
            if *ttl_ms < limits.min_ttl_ms || *ttl_ms > limits.max_ttl_ms {
                return Err(StockError::InvalidQuantity {
                    field: "ttl_ms",
                    reason: format!(
                        "must be in {}..={} ms, got {ttl_ms}",
                        limits.min_ttl_ms, limits.max_ttl_ms
                    ),
                });
            }
            Ok(())
        }
        StockOp::Commit { reservation_id }
        | StockOp::Release { reservation_id }
        | StockOp::Expire { reservation_id } => reservation_id_ok(reservation_id, limits),
        StockOp::TransferOut {
            transfer_id,
            quantity,
        }
        | StockOp::TransferIn {
            transfer_id,
            quantity,
        } => {
            check_id(transfer_id, limits.max_id_len).map_err(|reason| StockError::InvalidId {
                field: "transfer_id",
                reason,
            })?;
            check_quantity("quantity", *quantity, 1, limits)
        }
        StockOp::SetBuckets { buckets } => {
            if *buckets <= bucket_no || *buckets > limits.max_buckets {
                return Err(StockError::InvalidQuantity {
                    field: "buckets",
                    reason: format!(
                        "must be in {}..={} on bucket {bucket_no}, got {buckets}",
                        u64::from(bucket_no) + 1,
                        limits.max_buckets
                    ),
                });
            }
            Ok(())
        }
    }
}

fn reservation_id_ok(id: &str, limits: &StockLimits) -> Result<(), StockError> {
    check_id(id, limits.max_id_len).map_err(|reason| StockError::InvalidId {
        field: "reservation_id",
        reason,
    })
}

fn check_quantity(
    field: &'static str,
    value: u64,
    min: u64,
    limits: &StockLimits,
) -> Result<(), StockError> {
    if value < min || value > limits.max_quantity {
        return Err(StockError::InvalidQuantity {
            field,
            reason: format!("must be in {min}..={}, got {value}", limits.max_quantity),
        });
    }
    Ok(())
}

/// Characters allowed in ids (SKUs, reservation, transfer, account and authorization ids): they
/// become parts of `/`-separated storage and routing keys.
pub(crate) const ID_CHARS: &str = "A-Z a-z 0-9 . _ : -";

/// Checks an identifier: non-empty, at most `max_len` bytes, every byte ASCII `[A-Za-z0-9._:-]`.
/// Returns what is wrong, without echoing the (possibly huge) value.
pub(crate) fn check_id(value: &str, max_len: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    check_len(value, max_len)?;
    if let Some((at, c)) = value
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(format!(
            "contains {c:?} at byte {at}; allowed characters are {ID_CHARS}"
        ));
    }
    Ok(())
}

/// Checks free text: non-empty, at most `max_len` bytes, no control characters.
pub(crate) fn check_text(value: &str, max_len: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    check_len(value, max_len)?;
    if let Some((at, c)) = value.char_indices().find(|&(_, c)| c.is_control()) {
        return Err(format!("contains control character {c:?} at byte {at}"));
    }
    Ok(())
}

fn check_len(value: &str, max_len: usize) -> Result<(), String> {
    if value.len() > max_len {
        return Err(format!(
            "must be at most {max_len} bytes, got {}",
            value.len()
        ));
    }
    Ok(())
}

/// Serde support for the `&'static str` field and operation names carried by error variants:
/// they serialize as strings and deserialize back to the matching name from a closed list, so
/// errors can be stored (e.g. in idempotency records) and still read as `&'static str`. A name
/// not in the list (written by a newer version) reads back as `"unknown"`.
pub(crate) mod static_name {
    use serde::{Deserialize, Deserializer};

    /// Returns the entry of `known` equal to `name`, or `"unknown"`.
    pub(crate) fn intern(name: &str, known: &[&'static str]) -> &'static str {
        known
            .iter()
            .copied()
            .find(|k| *k == name)
            .unwrap_or("unknown")
    }

    /// Reads an owned string and interns it against `known`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
        known: &[&'static str],
    ) -> Result<&'static str, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(intern(&name, known))
    }
}
