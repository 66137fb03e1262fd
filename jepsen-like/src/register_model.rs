//! The order register: the sequential specification of one order as the register workload sees
//! it, and the translation of a [`History`] into per-order operations for the search.
//!
//! Modelling choices (all sound: none can turn a linearizable history into a violation):
//! - **Definite failures are dropped.** A `fail` completion (`VERSION_CONFLICT`,
//!   `ILLEGAL_TRANSITION`, `NOT_FOUND` on a transition, ...) means the operation did not take
//!   effect, so it neither changes nor constrains the register. (A stricter model could demand
//!   that a `VERSION_CONFLICT` saw a different version; we do not.)
//! - **Reads of unknown outcome are dropped**: they have no effect and observed nothing.
//! - **The status after a transition is not predicted.** The model does not embed the order state
//!   machine: an `ok` transition must move the version from `v` to `v + 1` (and honour
//!   `expected_version`), and the status it returned becomes the register's. An `info`
//!   transition (or one whose result was not recorded) leaves the status *unknown*; the first
//!   read of that version fixes it, and every later read must agree.
//! - **A create must find the order absent** and leaves version 1. A client retry under the same
//!   idempotency key is one invocation in the history (the recorder logs the logical request),
//!   so a replayed create never appears as a second create.

use std::collections::BTreeMap;

use crate::history::History;
use crate::model::{Completion, Model, Operation};
use crate::op::{OpType, Payload, RegisterValue};

/// The order register's state: `None` while the order does not exist.
pub type RegisterState = Option<RegisterSlot>;

/// An existing order in the model: its version and, when known, its status (`None` after an
/// `info` or unrecorded transition, until a read observes it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegisterSlot {
    pub version: u64,
    pub status: Option<String>,
}

/// A register operation's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterInput {
    Create,
    Read,
    Transition {
        action: String,
        expected_version: Option<u64>,
    },
}

/// A register operation's known result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutput {
    /// A read found no order.
    Absent,
    /// The value a read observed, or a create/transition returned.
    Value(RegisterValue),
    /// A create/transition succeeded but its reply's value was not recorded.
    Unreported,
}

/// The order register model (see the module docs for its rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderRegister;

impl OrderRegister {
    /// Why the step is illegal, or `None` with the next state when it is legal. The single source
    /// of the rules: [`Model::step`] and [`Model::explain`] both use it.
    fn apply(
        state: &RegisterState,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Result<RegisterState, String> {
        match input {
            RegisterInput::Read => match (output, state) {
                (None | Some(RegisterOutput::Unreported), _) => Ok(state.clone()),
                (Some(RegisterOutput::Absent), None) => Ok(None),
                (Some(RegisterOutput::Absent), Some(slot)) => Err(format!(
                    "read saw no order, but the order exists at {}",
                    describe(slot)
                )),
                (Some(RegisterOutput::Value(v)), None) => {
                    Err(format!("read saw {v}, but the order does not exist yet"))
                }
                (Some(RegisterOutput::Value(v)), Some(slot)) => {
                    let status_agrees = slot.status.as_deref().is_none_or(|s| s == v.status);
                    if slot.version == v.version && status_agrees {
                        Ok(Some(RegisterSlot {
                            version: v.version,
                            status: Some(v.status.clone()),
                        }))
                    } else {
                        Err(format!(
                            "read saw {v}, but the order is at {}",
                            describe(slot)
                        ))
                    }
                }
            },
            RegisterInput::Create => {
                if let Some(slot) = state {
                    return Err(format!(
                        "create needs an absent order, but it exists at {}",
                        describe(slot)
                    ));
                }
                new_slot(1, output, "create")
            }
            RegisterInput::Transition {
                expected_version, ..
            } => {
                let Some(slot) = state else {
                    return Err("transition needs an existing order, but it is absent".into());
                };
                if let Some(expected) = expected_version
                    && *expected != slot.version
                {
                    return Err(format!(
                        "transition expects v{expected}, but the order is at {}",
                        describe(slot)
                    ));
                }
                new_slot(slot.version + 1, output, "transition")
            }
        }
    }
}

/// The slot a create/transition leaves at `version`, checked against what it returned.
fn new_slot(
    version: u64,
    output: Option<&RegisterOutput>,
    what: &str,
) -> Result<RegisterState, String> {
    match output {
        None | Some(RegisterOutput::Unreported) => Ok(Some(RegisterSlot {
            version,
            status: None,
        })),
        Some(RegisterOutput::Value(v)) if v.version == version => Ok(Some(RegisterSlot {
            version,
            status: Some(v.status.clone()),
        })),
        Some(RegisterOutput::Value(v)) => {
            Err(format!("{what} returned {v}, but would produce v{version}"))
        }
        Some(RegisterOutput::Absent) => Err(format!("{what} cannot return an absent order")),
    }
}

fn describe(slot: &RegisterSlot) -> String {
    match &slot.status {
        Some(s) => format!("v{} {s}", slot.version),
        None => format!("v{} (status not yet observed)", slot.version),
    }
}

impl Model for OrderRegister {
    type State = RegisterState;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> RegisterState {
        None
    }

    fn step(
        &self,
        state: &RegisterState,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<RegisterState> {
        OrderRegister::apply(state, input, output).ok()
    }

    fn explain(
        &self,
        state: &RegisterState,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<String> {
        OrderRegister::apply(state, input, output).err()
    }
}

/// One order's operations, ready for [`search`](crate::linearizability::search).
pub type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

/// Splits the register-workload ops of `history` by order id (set-workload ops are ignored),
/// dropping definite failures and reads of unknown outcome (see the module docs). Operation ids
/// are the invocations' history indices. Keys are sorted, so results are deterministic.
pub fn register_operations(history: &History) -> BTreeMap<String, Vec<RegisterOperation>> {
    let mut by_key: BTreeMap<String, Vec<RegisterOperation>> = BTreeMap::new();
    for pair in history.pairs() {
        let Some(key) = pair.invoke.payload.register_key() else {
            continue;
        };
        let input = match &pair.invoke.payload {
            Payload::Create { .. } => RegisterInput::Create,
            Payload::Read { .. } => RegisterInput::Read,
            Payload::Transition {
                action,
                expected_version,
                ..
            } => RegisterInput::Transition {
                action: action.clone(),
                expected_version: *expected_version,
            },
            Payload::Add { .. }
            | Payload::ReadAll { .. }
            | Payload::PurchaseSetup { .. }
            | Payload::Purchase { .. }
            | Payload::PurchaseRead { .. } => continue,
        };
        let completion = match (pair.outcome(), pair.completion) {
            (OpType::Fail, _) => continue,
            (OpType::Ok, Some(done)) => Some(Completion {
                completed_ns: done.time_ns,
                output: register_output(&done.payload),
            }),
            _ if input == RegisterInput::Read => continue,
            _ => None,
        };
        by_key.entry(key.to_string()).or_default().push(Operation {
            id: pair.invoke.index,
            invoked_ns: pair.invoke.time_ns,
            input,
            completion,
        });
    }
    by_key
}

/// The result carried by an `ok` completion's payload.
fn register_output(payload: &Payload) -> RegisterOutput {
    match payload {
        Payload::Read { observed: None, .. } => RegisterOutput::Absent,
        Payload::Read {
            observed: Some(v), ..
        }
        | Payload::Create {
            created: Some(v), ..
        }
        | Payload::Transition {
            result: Some(v), ..
        } => RegisterOutput::Value(v.clone()),
        _ => RegisterOutput::Unreported,
    }
}
