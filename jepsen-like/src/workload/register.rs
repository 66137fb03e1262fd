//! The register workload: each order is a register holding `(version, status)`. Clients
//! create orders with chosen ids (the server derives an order's id from its idempotency key, so
//! the id is known before the request is sent), read them linearizably and transition them
//! with (mostly) an expected version.
//!
//! Keys are short-lived, as in Jepsen's independent-key workloads: a small pool of active
//! orders is shared by all workers, and an order retires after [`OPS_PER_KEY`] operations, so
//! each order's history stays small enough for the linearizability search. Each order gets
//! exactly one create invocation (a second create of the same key would be a replay, which the
//! register model does not describe). Transitions cycle through `HOLD` / `RELEASE_HOLD`, with
//! occasional `PAY` and rare `CANCEL` (terminal), so most attempts can apply; nothing but these
//! operations changes the orders (no sagas or timers touch them).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use orderstore_client::Action;
use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::CommandOptions;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;
use rand::Rng;
use rand::rngs::StdRng;

use super::Completion;
use super::FINAL_PROCESS_BASE;
use super::Workload;
use super::failed;
use super::perform;
use crate::cluster::REGION;
use crate::harness_error::HarnessError;
use crate::op::{OpType, Payload, RegisterValue};
use crate::recorder::Recorder;

/// Operations (after its create) an order takes part in before it retires.
pub const OPS_PER_KEY: u32 = 40;
/// Attempts of each final read before giving up on that order.
const FINAL_READ_ATTEMPTS: u32 = 4;

/// The register workload's shared state.
#[derive(Debug)]
pub struct RegisterWorkload {
    seed: u64,
    active: usize,
    state: Mutex<State>,
    /// Numbers transition idempotency keys.
    commands: AtomicU64,
}

#[derive(Debug)]
struct State {
    slots: Vec<Slot>,
    next_key: u64,
    /// Every order a create was invoked for -> its idempotency key.
    keys: BTreeMap<String, String>,
    /// Latest version a client saw per order and whether it was on hold: the basis of
    /// expected versions and of the choice of action.
    hints: BTreeMap<String, (u64, bool)>,
}

#[derive(Debug, Clone)]
struct Slot {
    order_id: String,
    key: String,
    created: bool,
    ops: u32,
}

impl RegisterWorkload {
    /// `concurrency / 2` (at least 2) orders are active at a time.
    pub fn new(seed: u64, concurrency: u64) -> RegisterWorkload {
        let active = (concurrency as usize / 2).max(2);
        let mut state = State {
            slots: Vec::new(),
            next_key: 0,
            keys: BTreeMap::new(),
            hints: BTreeMap::new(),
        };
        for _ in 0..active {
            let slot = state.fresh_slot(seed);
            state.slots.push(slot);
        }
        RegisterWorkload {
            seed,
            active,
            state: Mutex::new(state),
            commands: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation keeps State consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next operation on a random active order.
    pub(super) fn next_op(&self, rng: &mut StdRng) -> Payload {
        let mut st = self.lock();
        let i = rng.random_range(0..self.active);
        let slot = st.slots[i].clone();
        let op = if !slot.created {
            st.slots[i].created = true;
            st.keys.insert(slot.order_id.clone(), slot.key.clone());
            Payload::Create {
                order_id: slot.order_id.clone(),
                created: None,
            }
        } else if rng.random_bool(0.5) {
            Payload::Read {
                order_id: slot.order_id.clone(),
                observed: None,
            }
        } else {
            let (hint, on_hold) = st.hints.get(&slot.order_id).cloned().unwrap_or((1, false));
            // Mostly actions that apply in the last state seen, so most attempts can succeed;
            // the rest probe illegal transitions.
            let roll = rng.random_range(0..100);
            let action = match (on_hold, roll) {
                (_, 0..2) => "CANCEL",
                (true, 2..80) | (false, 2..20) => "RELEASE_HOLD",
                (_, 20..85) => "HOLD",
                _ => "PAY",
            };
            // Mostly the version last seen; sometimes one off (a stale or future version).
            let expected_version = match rng.random_range(0..10) {
                0..6 => Some(hint),
                6 => Some(hint.saturating_sub(1).max(1)),
                7 => Some(hint + 1),
                _ => None,
            };
            Payload::Transition {
                order_id: slot.order_id.clone(),
                action: action.to_string(),
                expected_version,
                result: None,
            }
        };
        if slot.created {
            st.slots[i].ops += 1;
            if st.slots[i].ops >= OPS_PER_KEY {
                st.slots[i] = st.fresh_slot(self.seed);
            }
        }
        op
    }

    /// Remembers that `order_id` was seen at `version` (with `status`, when known).
    fn hint(&self, order_id: &str, version: u64, status: Option<&str>) {
        let mut st = self.lock();
        let h = st
            .hints
            .entry(order_id.to_string())
            .or_insert((version, false));
        if version >= h.0 {
            let on_hold = status.map_or(h.1, |s| s == "ON_HOLD");
            *h = (version, on_hold);
        }
    }

    pub(super) async fn execute(&self, client: &Client, op: &Payload) -> Completion {
        match op {
            Payload::Create { order_id, .. } => {
                let key = self.lock().keys.get(order_id).cloned().unwrap_or_default();
                let req = PlaceOrder {
                    idempotency_key: Some(key),
                    region: Some(REGION.to_string()),
                    ..PlaceOrder::new("jepsen-register", vec![LineItem::new("sku-jl", 1, 100)])
                };
                match client.place_order(req).await {
                    Ok(reply) => {
                        self.hint(order_id, reply.order.version, Some(&reply.order.status));
                        if reply.order.order_id != *order_id {
                            // The id derives from the key: another id is a server or SDK bug.
                            tracing::error!(
                                expected = %order_id,
                                returned = %reply.order.order_id,
                                "create returned another order id"
                            );
                        }
                        (
                            OpType::Ok,
                            Payload::Create {
                                order_id: order_id.clone(),
                                created: Some(value(&reply.order)),
                            },
                            None,
                        )
                    }
                    Err(e) => failed(op, &e),
                }
            }
            Payload::Read { order_id, .. } => {
                match client.get_order(order_id, Consistency::Linearizable).await {
                    Ok(order) => {
                        self.hint(order_id, order.version, Some(&order.status));
                        (
                            OpType::Ok,
                            Payload::Read {
                                order_id: order_id.clone(),
                                observed: Some(value(&order)),
                            },
                            None,
                        )
                    }
                    Err(ClientError::NotFound { .. }) => (
                        OpType::Ok,
                        Payload::Read {
                            order_id: order_id.clone(),
                            observed: None,
                        },
                        None,
                    ),
                    Err(e) => failed(op, &e),
                }
            }
            Payload::Transition {
                order_id,
                action,
                expected_version,
                ..
            } => {
                let Ok(parsed) = action.parse::<Action>() else {
                    // Our own actions are all valid names; an invalid one had no effect.
                    return (OpType::Fail, op.clone(), Some("BAD_ACTION".into()));
                };
                let n = self.commands.fetch_add(1, Ordering::SeqCst);
                let opts = CommandOptions {
                    expected_version: *expected_version,
                    idempotency_key: Some(format!("jr-{:x}-t{n}", self.seed)),
                    reason: matches!(parsed, Action::Hold | Action::Cancel)
                        .then(|| "jepsen-like".to_string()),
                    ..Default::default()
                };
                match client.order_command(order_id, parsed, opts).await {
                    Ok(reply) => {
                        self.hint(order_id, reply.order.version, Some(&reply.order.status));
                        (
                            OpType::Ok,
                            Payload::Transition {
                                order_id: order_id.clone(),
                                action: action.clone(),
                                expected_version: *expected_version,
                                result: Some(value(&reply.order)),
                            },
                            None,
                        )
                    }
                    Err(e) => {
                        if let ClientError::VersionConflict {
                            current_version, ..
                        } = &e
                        {
                            self.hint(order_id, *current_version, None);
                        }
                        failed(op, &e)
                    }
                }
            }
            Payload::Add { .. }
            | Payload::ReadAll { .. }
            | Payload::PurchaseSetup { .. }
            | Payload::Purchase { .. }
            | Payload::PurchaseRead { .. } => {
                (OpType::Fail, op.clone(), Some("NOT_A_REGISTER_OP".into()))
            }
        }
    }

    /// After healing: a linearizable read of every order a create was invoked for, retried (as
    /// a new process) while it completes `info`.
    pub(super) async fn final_reads(
        self: &std::sync::Arc<Self>,
        client: &Client,
        recorder: &Recorder,
        op_timeout: Duration,
    ) -> Result<(), HarnessError> {
        let ids: Vec<String> = self.lock().keys.keys().cloned().collect();
        let workload = Workload::Register(self.clone());
        let mut process = FINAL_PROCESS_BASE;
        for id in ids {
            for _ in 0..FINAL_READ_ATTEMPTS {
                let op = Payload::Read {
                    order_id: id.clone(),
                    observed: None,
                };
                let outcome = perform(&workload, client, recorder, process, op, op_timeout).await?;
                if outcome == OpType::Info {
                    process += 1;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl State {
    fn fresh_slot(&mut self, seed: u64) -> Slot {
        let key = format!("jr-{seed:x}-k{}", self.next_key);
        self.next_key += 1;
        Slot {
            order_id: shard_router::keyed_order_id(REGION, &key),
            key,
            created: false,
            ops: 0,
        }
    }
}

/// The register value of an order.
fn value(o: &Order) -> RegisterValue {
    RegisterValue::new(o.version, o.status.clone())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Each order is created exactly once, retires after OPS_PER_KEY later ops, and every
    /// op names an order whose create was issued before it.
    #[test]
    fn one_create_per_order_and_keys_rotate() {
        let w = RegisterWorkload::new(7, 4);
        let mut rng = StdRng::seed_from_u64(1);
        let mut creates = std::collections::BTreeSet::new();
        let mut ops_per_order: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..2_000 {
            match w.next_op(&mut rng) {
                Payload::Create { order_id, .. } => assert!(creates.insert(order_id)),
                Payload::Read { order_id, .. } | Payload::Transition { order_id, .. } => {
                    assert!(creates.contains(&order_id));
                    *ops_per_order.entry(order_id).or_default() += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(creates.len() > 2_000 / OPS_PER_KEY as usize / 2);
        assert!(ops_per_order.values().all(|&n| n <= OPS_PER_KEY));
        // Order ids are the server's derivation from the idempotency key.
        let st = w.lock();
        for (id, key) in &st.keys {
            assert_eq!(*id, shard_router::keyed_order_id(REGION, key));
        }
    }
}
