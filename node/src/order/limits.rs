//! Input validation for the order aggregate: every field of a request is checked against
//! [`Limits`] before anything is proposed to Raft.
//!
//! The limits are configuration, so they are applied at the API edge, never inside
//! [`super::machine::apply`]: a replica replaying the Raft log under different limits must reach
//! the same state. [`super::machine::place`] checks the [`Limits`] it is given, so call it before
//! proposing (and propose the resulting order), or pass it the limits recorded in the log entry.

use serde::{Deserialize, Serialize};

use super::machine::OrderCommand;
use super::model::NewOrder;

/// Length of an ISO 4217 currency code.
pub const CURRENCY_LEN: usize = 3;

/// Bounds on every client-supplied field. Lengths are in bytes of UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest `order_id` / `customer_id` (default 64).
    pub max_id_len: usize,
    /// Longest line SKU (default 64).
    pub max_sku_len: usize,
    /// Longest region name (default 32).
    pub max_region_len: usize,
    /// Most lines per order (default 100); at least one is always required.
    pub max_items: usize,
    /// Most units per line (default 10,000); at least one is always required.
    pub max_quantity: u32,
    /// Highest unit price in minor units (default 10^10); 0 (a free item) is allowed.
    pub max_unit_price: u64,
    /// Highest order total in minor units (default 10^12).
    pub max_order_total: u64,
    /// Longest cancel/hold reason (default 256).
    pub max_reason_len: usize,
    /// Longest idempotency key (default 128).
    pub max_idempotency_key_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_id_len: 64,
            max_sku_len: 64,
            max_region_len: 32,
            max_items: 100,
            max_quantity: 10_000,
            max_unit_price: 10_000_000_000,
            max_order_total: 1_000_000_000_000,
            max_reason_len: 256,
            max_idempotency_key_len: 128,
        }
    }
}

/// A field that broke its limit. `field` is the client-facing path of the field (`"customer_id"`,
/// `"items[2].quantity"`, `"total"`, `"reason"`), suitable for `ErrorDetail.field`; `reason` says
/// what was wrong without echoing the (possibly huge) value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks a request to place an order. Returns the first violation found, checking in this
/// order: `order_id`, `customer_id`, `region`, `currency`, `items` (count), then per line
/// `items[i].sku`, `items[i].quantity`, `items[i].unit_price`, `items[i]` (the line total
/// overflows u64), and finally `total` (the sum overflows or exceeds `max_order_total`).
///
/// Rules: ids and SKUs are non-empty ASCII `[A-Za-z0-9._:-]`; the region is non-empty
/// `[a-z0-9-]`; the currency is exactly three ASCII uppercase letters; quantities are
/// `1..=max_quantity`; unit prices `0..=max_unit_price`.
pub fn validate_new_order(new: &NewOrder, limits: &Limits) -> Result<(), ValidationError> {
    price_new_order(new, limits).map(|_| ())
}

/// Line totals and order total of a valid [`NewOrder`].
#[derive(Debug)]
pub(super) struct Priced {
    /// `quantity * unit_price` per line, in request order.
    pub(super) line_totals: Vec<u64>,
    /// Sum of `line_totals`, at most `max_order_total`.
    pub(super) total: u64,
}

/// Validates `new` exactly as [`validate_new_order`] does and returns its totals, so that the
/// check and the computation are one piece of code.
pub(super) fn price_new_order(new: &NewOrder, limits: &Limits) -> Result<Priced, ValidationError> {
    check_token(
        "customer_id",
        &new.customer_id,
        limits.max_id_len,
        is_id_byte,
        ID_CHARS,
    )?;
    check_token(
        "region",
        &new.region,
        limits.max_region_len,
        is_region_byte,
        REGION_CHARS,
    )?;
    // After the region: the server derives the order id from the region, so a bad region must
    // be reported as a bad region, not as a bad id.
    validate_order_id(&new.order_id, limits)?;
    validate_currency(&new.currency)?;

    if new.lines.is_empty() {
        return Err(ValidationError::new(
            "items",
            "must contain at least one line",
        ));
    }
    if new.lines.len() > limits.max_items {
        return Err(ValidationError::new(
            "items",
            format!(
                "must contain at most {} lines, got {}",
                limits.max_items,
                new.lines.len()
            ),
        ));
    }

    let mut line_totals = Vec::with_capacity(new.lines.len());
    let mut total: u64 = 0;
    for (i, line) in new.lines.iter().enumerate() {
        let field = |name: &str| format!("items[{i}].{name}");
        check_token(
            &field("sku"),
            &line.sku,
            limits.max_sku_len,
            is_id_byte,
            ID_CHARS,
        )?;
        if line.quantity == 0 {
            return Err(ValidationError::new(
                field("quantity"),
                "must be at least 1",
            ));
        }
        if line.quantity > limits.max_quantity {
            return Err(ValidationError::new(
                field("quantity"),
                format!(
                    "must be at most {}, got {}",
                    limits.max_quantity, line.quantity
                ),
            ));
        }
        if line.unit_price > limits.max_unit_price {
            return Err(ValidationError::new(
                field("unit_price"),
                format!(
                    "must be at most {} minor units, got {}",
                    limits.max_unit_price, line.unit_price
                ),
            ));
        }
        let line_total = u64::from(line.quantity)
            .checked_mul(line.unit_price)
            .ok_or_else(|| {
                ValidationError::new(format!("items[{i}]"), "quantity * unit_price overflows u64")
            })?;
        total = total
            .checked_add(line_total)
            .ok_or_else(|| ValidationError::new("total", "sum of line totals overflows u64"))?;
        line_totals.push(line_total);
    }
    if total > limits.max_order_total {
        return Err(ValidationError::new(
            "total",
            format!(
                "{total} exceeds the maximum order total {}",
                limits.max_order_total
            ),
        ));
    }
    Ok(Priced { line_totals, total })
}

/// Checks an order id: non-empty, at most `max_id_len` bytes of ASCII `[A-Za-z0-9._:-]`.
/// Errors name the field `"order_id"`.
pub fn validate_order_id(order_id: &str, limits: &Limits) -> Result<(), ValidationError> {
    check_token(
        "order_id",
        order_id,
        limits.max_id_len,
        is_id_byte,
        ID_CHARS,
    )
}

/// Checks a cancel/hold reason: at most `max_reason_len` bytes, no control characters. An empty
/// reason is allowed. Errors name the field `"reason"`.
pub fn validate_reason(reason: &str, limits: &Limits) -> Result<(), ValidationError> {
    check_text("reason", reason, limits.max_reason_len)
}

/// Checks a client-supplied idempotency key (call it only when a key was supplied): non-empty,
/// at most `max_idempotency_key_len` bytes, no control characters. Errors name the field
/// `"idempotency_key"`.
pub fn validate_idempotency_key(key: &str, limits: &Limits) -> Result<(), ValidationError> {
    if key.is_empty() {
        return Err(ValidationError::new("idempotency_key", "must not be empty"));
    }
    check_text("idempotency_key", key, limits.max_idempotency_key_len)
}

/// Checks the client-supplied arguments of a command before it is proposed: the `reason` of
/// `Cancel`/`Hold` (see [`validate_reason`]) and the `amount` of `Refund` (see
/// [`validate_refund_amount`]). Line indices depend on the order and are checked by
/// [`super::machine::apply`].
pub fn validate_command(cmd: &OrderCommand, limits: &Limits) -> Result<(), ValidationError> {
    match cmd {
        OrderCommand::Cancel { reason } | OrderCommand::Hold { reason } => {
            validate_reason(reason, limits)
        }
        OrderCommand::Refund { amount } => validate_refund_amount(*amount),
        _ => Ok(()),
    }
}

/// Checks an explicit refund amount: it must be positive (`None`, "the default amount", is
/// fine). Errors name the field `"amount"`. Also enforced by [`super::machine::apply`], since it
/// does not depend on configuration.
pub fn validate_refund_amount(amount: Option<u64>) -> Result<(), ValidationError> {
    match amount {
        Some(0) => Err(ValidationError::new("amount", "must be positive")),
        _ => Ok(()),
    }
}

/// Checks a currency code: exactly three ASCII uppercase letters. Errors name `"currency"`.
pub fn validate_currency(currency: &str) -> Result<(), ValidationError> {
    if currency.len() == CURRENCY_LEN && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "currency",
            "must be exactly 3 ASCII uppercase letters (an ISO 4217 code)",
        ))
    }
}

const ID_CHARS: &str = "A-Z a-z 0-9 . _ : -";
const REGION_CHARS: &str = "a-z 0-9 -";

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

fn is_region_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// A non-empty identifier-like string of at most `max_len` bytes, every byte ASCII and
/// accepted by `allowed`.
fn check_token(
    field: &str,
    value: &str,
    max_len: usize,
    allowed: fn(u8) -> bool,
    allowed_desc: &str,
) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    check_len(field, value, max_len)?;
    if let Some((at, c)) = value
        .char_indices()
        .find(|&(_, c)| !c.is_ascii() || !allowed(c as u8))
    {
        return Err(ValidationError::new(
            field,
            format!("contains {c:?} at byte {at}; allowed characters are {allowed_desc}"),
        ));
    }
    Ok(())
}

/// Free text of at most `max_len` bytes without control characters.
fn check_text(field: &str, value: &str, max_len: usize) -> Result<(), ValidationError> {
    check_len(field, value, max_len)?;
    if let Some((at, c)) = value.char_indices().find(|&(_, c)| c.is_control()) {
        return Err(ValidationError::new(
            field,
            format!("contains control character {c:?} at byte {at}"),
        ));
    }
    Ok(())
}

fn check_len(field: &str, value: &str, max_len: usize) -> Result<(), ValidationError> {
    if value.len() > max_len {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_len} bytes, got {}", value.len()),
        ));
    }
    Ok(())
}
