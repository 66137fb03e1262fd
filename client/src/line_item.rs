//! [`LineItem`]: one line of a new order, and its `SKU:QTY:PRICE` text form.

use std::fmt;
use std::str::FromStr;

use orderstore_proto::v1 as pb;
use serde::Deserialize;
use serde::Serialize;

/// One line of an order to place. `unit_price` is in minor units (cents) of the order currency.
///
/// The server enforces the limits (SKU charset and length, quantity at least 1, price and total
/// bounds); the SDK passes values through unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
}

impl LineItem {
    pub fn new(sku: impl Into<String>, quantity: u32, unit_price: u64) -> Self {
        LineItem {
            sku: sku.into(),
            quantity,
            unit_price,
        }
    }
}

/// Why a `SKU:QTY:PRICE` string is not a [`LineItem`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseLineItemError {
    /// Not three `:`-separated parts.
    #[error("expected SKU:QTY:PRICE, e.g. sku-1:2:1999 (price in minor units)")]
    Shape { input: String },
    #[error("empty SKU in {input:?}")]
    EmptySku { input: String },
    /// The quantity is not a whole number in 0..=4294967295.
    #[error("quantity {text:?} is not a whole number of units")]
    Quantity { text: String },
    /// The price is not a whole number of minor units.
    #[error("price {text:?} is not a whole number of minor units (cents): write 1999 for 19.99")]
    Price { text: String },
}

impl FromStr for LineItem {
    type Err = ParseLineItemError;

    /// Parses `SKU:QTY:PRICE`, e.g. `sku-1:2:1999`. The SKU may itself contain `:`; the last two
    /// fields are the quantity and the price in minor units.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.rsplitn(3, ':');
        let (Some(price), Some(qty), Some(sku)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseLineItemError::Shape {
                input: s.to_string(),
            });
        };
        if sku.is_empty() {
            return Err(ParseLineItemError::EmptySku {
                input: s.to_string(),
            });
        }
        let quantity = qty
            .trim()
            .parse::<u32>()
            .map_err(|_| ParseLineItemError::Quantity {
                text: qty.to_string(),
            })?;
        let unit_price = price
            .trim()
            .parse::<u64>()
            .map_err(|_| ParseLineItemError::Price {
                text: price.to_string(),
            })?;
        Ok(LineItem {
            sku: sku.to_string(),
            quantity,
            unit_price,
        })
    }
}

impl fmt::Display for LineItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.sku, self.quantity, self.unit_price)
    }
}

impl From<LineItem> for pb::LineItem {
    fn from(l: LineItem) -> Self {
        pb::LineItem {
            sku: l.sku,
            quantity: l.quantity,
            unit_price: l.unit_price,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let item: LineItem = "sku-1:2:1999".parse().unwrap();
        assert_eq!(item, LineItem::new("sku-1", 2, 1999));
        assert_eq!(item.to_string(), "sku-1:2:1999");
        let colon: LineItem = "ns:sku:1:5".parse().unwrap();
        assert_eq!(colon, LineItem::new("ns:sku", 1, 5));
    }

    #[test]
    fn rejects_malformed_items_with_a_reason() {
        let bad = [
            ("bad", "expected SKU:QTY:PRICE"),
            ("a:1", "expected SKU:QTY:PRICE"),
            (":1:2", "empty SKU"),
            ("a:-1:2", "quantity \"-1\""),
            ("a:x:2", "quantity \"x\""),
            ("a:1:19.99", "write 1999 for 19.99"),
            ("a:99999999999:1", "quantity"),
        ];
        for (input, want) in bad {
            let err = input.parse::<LineItem>().unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
