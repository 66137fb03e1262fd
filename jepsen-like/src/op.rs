//! One history event: an invocation or a completion of a client operation.
//!
//! The shape follows Jepsen: a client *process* invokes an operation (`type: invoke`) and later
//! completes it exactly once with `ok` (it took effect, with the recorded result), `fail` (it
//! definitely did not take effect) or `info` (the outcome is unknown: it may have taken effect at
//! any time after its invocation, or never). Both halves carry a [`Payload`] of the same kind and
//! key; the completion's payload also carries the result (the observed or returned value).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Identifies a client process. A process runs one operation at a time; after an `info`
/// completion it may invoke again under the same id (the checkers order operations by real time,
/// not by process).
pub type ProcessId = u64;

/// The kind of a history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpType {
    /// The process sent a request.
    Invoke,
    /// The request took effect; the payload carries its result.
    Ok,
    /// The request definitely did not take effect (e.g. `VERSION_CONFLICT`, `ILLEGAL_TRANSITION`).
    Fail,
    /// Outcome unknown (timeout, connection reset, crash): it may have taken effect at any time
    /// after its invocation, or never.
    Info,
}

impl OpType {
    /// True for the three completion types (`ok`, `fail`, `info`).
    pub const fn is_completion(self) -> bool {
        !matches!(self, OpType::Invoke)
    }
}

/// An order's value in the register workload: its version (1 after creation, +1 per applied
/// transition) and its display status (e.g. `AWAITING_PAYMENT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegisterValue {
    pub version: u64,
    pub status: String,
}

impl RegisterValue {
    /// Shorthand constructor.
    pub fn new(version: u64, status: impl Into<String>) -> Self {
        RegisterValue {
            version,
            status: status.into(),
        }
    }
}

impl std::fmt::Display for RegisterValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{} {}", self.version, self.status)
    }
}

/// One order as the set workload's final read reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SetElement {
    pub order_id: String,
    pub idempotency_key: String,
}

/// One line of a purchase: `quantity` units of `sku` at `unit_price` minor units each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PurchaseLine {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
}

/// What an `ok` purchase answered: the order and the state of its saga at that moment
/// (terminal when the saga ended within the wait, else `RUNNING` / `COMPENSATING` /
/// `NEEDS_ATTENTION`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PurchaseOutcome {
    pub order_id: String,
    pub saga_id: String,
    /// `RUNNING | COMPENSATING | COMPLETED | COMPENSATED | NEEDS_ATTENTION`.
    pub saga_status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The order's display status (e.g. `PAID`, `CANCELLED`).
    pub order_status: String,
    /// `PENDING | AUTHORIZED | DECLINED | CAPTURED | VOIDED`.
    pub payment: String,
    pub amount: u64,
    #[serde(default)]
    pub replayed: bool,
}

/// One SKU's stock summed over its buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StockFigures {
    pub available: u64,
    pub held: u64,
    pub committed: u64,
}

/// One ledger account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountFigures {
    pub balance: u64,
    pub held: u64,
    pub captured: u64,
    pub refunded: u64,
    pub credited: u64,
}

/// One saga line as the final read saw it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SagaLineFigures {
    pub sku: String,
    pub quantity: u64,
    /// `PENDING | HELD | SOLD_OUT | COMMITTED | RELEASED`.
    pub stock: String,
}

/// One saga (and its order) as the final read saw it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SagaFigures {
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub account_id: String,
    pub amount: u64,
    pub payment: String,
    pub order_status: String,
    pub lines: Vec<SagaLineFigures>,
}

/// The purchase workload's final read: after healing and waiting for the sagas to end, every
/// SKU's stock, every account and the saga of every purchase ever invoked, read
/// linearizably.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseSnapshot {
    /// True when no saga was `RUNNING` or `COMPENSATING` any more (parked `NEEDS_ATTENTION`
    /// ones do not move without an operator), by `list_sagas` and by every saga read.
    pub settled: bool,
    /// How long the harness waited for the sagas to end, in ms.
    pub settle_wait_ms: u64,
    /// Sagas still `RUNNING`/`COMPENSATING` when the wait ended (`id STATUS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_sagas: Vec<String>,
    /// Sagas parked in `NEEDS_ATTENTION` (`id reason`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_attention: Vec<String>,
    pub stock: BTreeMap<String, StockFigures>,
    pub accounts: BTreeMap<String, AccountFigures>,
    /// Per order id of every purchase invoked: its saga, or `None` when `NOT_FOUND`.
    pub sagas: BTreeMap<String, Option<SagaFigures>>,
    /// SKUs, accounts and sagas that could not be read (the check is then unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<String>,
}

/// What an operation asks for and, on an `ok` completion, what it got back.
///
/// Result fields (`created`, `observed`, `result`, `elements`) are ignored on invocations and on
/// `fail`/`info` completions. The `f` tag names the operation in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Payload {
    /// Register workload: place the order `order_id`. On `ok`, `created` is the returned value
    /// (version 1, status `AWAITING_PAYMENT`) when the client recorded it.
    Create {
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created: Option<RegisterValue>,
    },
    /// Register workload: read order `order_id`. On `ok`, `observed` is its value, `None` when the
    /// order does not exist (a `NOT_FOUND` answer is an `ok` read of `None`).
    Read {
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        observed: Option<RegisterValue>,
    },
    /// Register workload: apply `action` (an `OrderAction` name such as `PAY`) to `order_id`, only
    /// if the order is at `expected_version` when that is given. On `ok`, `result` is the new value
    /// when the client recorded it.
    Transition {
        order_id: String,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_version: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<RegisterValue>,
    },
    /// Set workload: create order `order_id` with `idempotency_key`. On `ok`, `order_id` is the id
    /// the server acknowledged (it may differ from the invoked one only through a server bug).
    Add {
        order_id: String,
        idempotency_key: String,
    },
    /// Set workload: list every order. On `ok`, `elements` is what was listed.
    ReadAll {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        elements: Vec<SetElement>,
    },
    /// Purchase workload, before any fault: create the SKUs (`skus`: planned units) and the
    /// accounts (`accounts`: planned credit) in `region`. On `ok`, `skus` and `accounts` are
    /// the figures read back (units = available + held + committed; credit = `credited`):
    /// the baseline of the conservation checks.
    PurchaseSetup {
        region: String,
        skus: BTreeMap<String, u64>,
        accounts: BTreeMap<String, u64>,
    },
    /// Purchase workload: place order `order_id` (derived from region and key) and run its
    /// saga, waiting (bounded) for its end. On `ok`, `result` is what the server answered.
    Purchase {
        order_id: String,
        idempotency_key: String,
        account_id: String,
        items: Vec<PurchaseLine>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<PurchaseOutcome>,
    },
    /// Purchase workload, after healing: the final read. On `ok`, `snapshot` is what it read.
    PurchaseRead {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<Box<PurchaseSnapshot>>,
    },
}

impl Payload {
    /// The `f` name of this payload (`create`, `read`, `transition`, `add`, `read_all`).
    pub const fn name(&self) -> &'static str {
        match self {
            Payload::Create { .. } => "create",
            Payload::Read { .. } => "read",
            Payload::Transition { .. } => "transition",
            Payload::Add { .. } => "add",
            Payload::ReadAll { .. } => "read_all",
            Payload::PurchaseSetup { .. } => "purchase_setup",
            Payload::Purchase { .. } => "purchase",
            Payload::PurchaseRead { .. } => "purchase_read",
        }
    }

    /// The register key (order id) of a register-workload payload; `None` for set-workload ones.
    pub fn register_key(&self) -> Option<&str> {
        match self {
            Payload::Create { order_id, .. }
            | Payload::Read { order_id, .. }
            | Payload::Transition { order_id, .. } => Some(order_id),
            Payload::Add { .. }
            | Payload::ReadAll { .. }
            | Payload::PurchaseSetup { .. }
            | Payload::Purchase { .. }
            | Payload::PurchaseRead { .. } => None,
        }
    }

    /// True when `completion` can complete an invocation of `self`: same operation kind and the
    /// same identity (order id, action and expected version for register ops; idempotency key for
    /// `add`, whose acknowledged order id may differ). Results are not compared.
    pub fn completes(&self, completion: &Payload) -> bool {
        match (self, completion) {
            (Payload::Create { order_id: a, .. }, Payload::Create { order_id: b, .. })
            | (Payload::Read { order_id: a, .. }, Payload::Read { order_id: b, .. }) => a == b,
            (
                Payload::Transition {
                    order_id: a,
                    action: aa,
                    expected_version: ae,
                    ..
                },
                Payload::Transition {
                    order_id: b,
                    action: ba,
                    expected_version: be,
                    ..
                },
            ) => a == b && aa == ba && ae == be,
            (
                Payload::Add {
                    idempotency_key: a, ..
                },
                Payload::Add {
                    idempotency_key: b, ..
                },
            ) => a == b,
            (Payload::ReadAll { .. }, Payload::ReadAll { .. })
            | (Payload::PurchaseSetup { .. }, Payload::PurchaseSetup { .. })
            | (Payload::PurchaseRead { .. }, Payload::PurchaseRead { .. }) => true,
            (
                Payload::Purchase {
                    idempotency_key: a, ..
                },
                Payload::Purchase {
                    idempotency_key: b, ..
                },
            ) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for Payload {
    /// A one-line description without results, e.g. `transition o-1 PAY if v2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Create { order_id, .. } => write!(f, "create {order_id}"),
            Payload::Read { order_id, .. } => write!(f, "read {order_id}"),
            Payload::Transition {
                order_id,
                action,
                expected_version,
                ..
            } => {
                write!(f, "transition {order_id} {action}")?;
                if let Some(v) = expected_version {
                    write!(f, " if v{v}")?;
                }
                Ok(())
            }
            Payload::Add {
                order_id,
                idempotency_key,
            } => write!(f, "add {order_id} key {idempotency_key}"),
            Payload::ReadAll { .. } => write!(f, "read_all"),
            Payload::PurchaseSetup { region, .. } => write!(f, "purchase_setup in {region}"),
            Payload::Purchase {
                order_id,
                idempotency_key,
                account_id,
                items,
                ..
            } => {
                write!(
                    f,
                    "purchase {order_id} key {idempotency_key} by {account_id}:"
                )?;
                for i in items {
                    write!(f, " {}x{}@{}", i.quantity, i.sku, i.unit_price)?;
                }
                Ok(())
            }
            Payload::PurchaseRead { .. } => write!(f, "purchase_read"),
        }
    }
}

/// One history event. `index` is the event's position in its history (0-based, dense);
/// `time_ns` is nanoseconds since the run started, non-decreasing along the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub process: ProcessId,
    pub index: u64,
    #[serde(rename = "type")]
    pub op_type: OpType,
    pub time_ns: u64,
    pub payload: Payload,
    /// The error kind of a `fail` or `info` completion (e.g. `VERSION_CONFLICT`, `TIMEOUT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
