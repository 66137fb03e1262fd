//! [`CommandOptions`]: the optional parts of an order command.

/// Optional parameters of [`crate::Client::order_command`]; `Default` leaves them all unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOptions {
    /// Optimistic concurrency: apply only if the order is at this version, else
    /// [`crate::ClientError::VersionConflict`].
    pub expected_version: Option<u64>,
    /// Idempotency key; the SDK generates one when `None` so its retries are safe.
    pub idempotency_key: Option<String>,
    /// SHIP / DELIVER / REQUEST_RETURN: the 0-based line; `None` = every eligible line.
    pub line: Option<u32>,
    /// REFUND: amount in minor units; `None` = everything still refundable.
    pub amount: Option<u64>,
    /// CANCEL / HOLD: a free-text reason recorded with the event.
    pub reason: Option<String>,
}
