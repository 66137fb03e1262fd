//! The order register: the pure state machine the simulated Raft log drives.
//!
//! A cut-down version of the node's order machine that keeps what matters to replication:
//! an order is created at version 1 and every accepted transition names the version it expects
//! and moves it to `version + 1`. Applying is a pure function of (state, command).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::Serialize;

/// An order id (clients choose them; each client owns a disjoint range).
pub type OrderId = u64;

/// A command carried by one Raft entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Create `order` at version 1.
    Create { order: OrderId },
    /// Move `order` from `expected_version` to `expected_version + 1`.
    Transition {
        order: OrderId,
        expected_version: u64,
    },
}

impl Command {
    pub fn order(&self) -> OrderId {
        match self {
            Command::Create { order } | Command::Transition { order, .. } => *order,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Create { order } => write!(f, "create({order})"),
            Command::Transition {
                order,
                expected_version,
            } => write!(f, "transition({order}@{expected_version})"),
        }
    }
}

/// What applying a command answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The order now exists at `version` (1).
    Created { version: u64 },
    /// The transition was applied; the order is at `version`.
    Transitioned { version: u64 },
    /// Returned by `Create` when the order already exists (at `version`).
    AlreadyExists { version: u64 },
    /// Returned by `Transition` for an order that does not exist.
    NotFound,
    /// Returned by `Transition` when the order is at `current`, not at the expected version.
    VersionMismatch { current: u64 },
    /// Blank and membership entries answer nobody.
    Empty,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The replicated register: order id -> version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    orders: BTreeMap<OrderId, u64>,
}

impl Register {
    /// Applies `cmd`, returning the answer. Refused commands change nothing.
    pub fn apply(&mut self, cmd: &Command) -> Response {
        match *cmd {
            Command::Create { order } => match self.orders.get(&order) {
                Some(&version) => Response::AlreadyExists { version },
                None => {
                    self.orders.insert(order, 1);
                    Response::Created { version: 1 }
                }
            },
            Command::Transition {
                order,
                expected_version,
            } => match self.orders.get_mut(&order) {
                None => Response::NotFound,
                Some(v) if *v != expected_version => Response::VersionMismatch { current: *v },
                Some(v) => {
                    *v += 1;
                    Response::Transitioned { version: *v }
                }
            },
        }
    }

    /// The version of `order`, if it exists.
    pub fn version(&self, order: OrderId) -> Option<u64> {
        self.orders.get(&order).copied()
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Create, transition with the right and a wrong version, create again.
    #[test]
    fn create_then_transitions() {
        let mut r = Register::default();
        assert_eq!(
            r.apply(&Command::Transition {
                order: 1,
                expected_version: 1
            }),
            Response::NotFound
        );
        assert_eq!(
            r.apply(&Command::Create { order: 1 }),
            Response::Created { version: 1 }
        );
        assert_eq!(
            r.apply(&Command::Transition {
                order: 1,
                expected_version: 1
            }),
            Response::Transitioned { version: 2 }
        );
        assert_eq!(
            r.apply(&Command::Transition {
                order: 1,
                expected_version: 1
            }),
            Response::VersionMismatch { current: 2 }
        );
        assert_eq!(
            r.apply(&Command::Create { order: 1 }),
            Response::AlreadyExists { version: 2 }
        );
        assert_eq!(r.version(1), Some(2));
    }
}
