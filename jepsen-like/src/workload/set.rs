//! The set workload: clients add orders, each under its own idempotency key; after healing,
//! one final `read_all` lists which of them exist. The set checker then demands that every
//! acknowledged add is present, nothing unattempted appears, and one key never yields two
//! orders.
//!
//! **Idempotency under retries**: when an add completes `info` (a timeout across a fault), the
//! key is queued, and with probability one half a later add (by another process) retries the
//! *same key with the same request*, as an application would. The server must answer with the
//! one order the key created (a replay), never create a second one.
//!
//! The API has no "list all orders" call, so `read_all` is a sweep of linearizable reads of
//! every order id any add mentioned (ids derive from keys, so the sweep covers every order the
//! workload can have created). It completes `ok` only when every id was resolved (found or
//! `NOT_FOUND`); otherwise `info`, which the checker reports as unknown.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::time::Duration;

use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::PlaceOrder;
use rand::Rng;
use rand::rngs::StdRng;

use super::Completion;
use super::FINAL_PROCESS_BASE;
use super::failed;
use crate::cluster::REGION;
use crate::harness_error::HarnessError;
use crate::op::{OpType, Payload, SetElement};
use crate::recorder::Recorder;

/// Attempts per order id in the final sweep.
const SWEEP_ATTEMPTS: u32 = 5;
/// Concurrent readers in the final sweep.
const SWEEP_PARALLELISM: usize = 8;
/// At most this many keys wait for a retry.
const RETRY_QUEUE_MAX: usize = 64;

/// The set workload's shared state.
#[derive(Debug)]
pub struct SetWorkload {
    seed: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// Every order id an add was invoked for -> its key.
    attempted: BTreeMap<String, String>,
    /// Keys whose add completed `info`, waiting for an application-level retry.
    retry: Vec<String>,
}

impl SetWorkload {
    pub fn new(seed: u64) -> SetWorkload {
        SetWorkload {
            seed,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation keeps State consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn next_op(&self, rng: &mut StdRng) -> Payload {
        let mut st = self.lock();
        let key = if !st.retry.is_empty() && rng.random_bool(0.5) {
            let i = rng.random_range(0..st.retry.len());
            st.retry.swap_remove(i)
        } else {
            st.next += 1;
            format!("js-{:x}-{}", self.seed, st.next)
        };
        let order_id = shard_router::keyed_order_id(REGION, &key);
        st.attempted.insert(order_id.clone(), key.clone());
        Payload::Add {
            order_id,
            idempotency_key: key,
        }
    }

    pub(super) fn observe(&self, op: &Payload, outcome: OpType) {
        if let (
            Payload::Add {
                idempotency_key, ..
            },
            OpType::Info,
        ) = (op, outcome)
        {
            let mut st = self.lock();
            if st.retry.len() < RETRY_QUEUE_MAX {
                st.retry.push(idempotency_key.clone());
            }
        }
    }

    pub(super) async fn execute(&self, client: &Client, op: &Payload) -> Completion {
        let Payload::Add {
            idempotency_key, ..
        } = op
        else {
            return (OpType::Fail, op.clone(), Some("NOT_A_SET_OP".into()));
        };
        // The same key always sends the same request, so a retry is a replay, not a misuse.
        let req = PlaceOrder {
            idempotency_key: Some(idempotency_key.clone()),
            region: Some(REGION.to_string()),
            ..PlaceOrder::new("jepsen-set", vec![LineItem::new("sku-js", 1, 100)])
        };
        match client.place_order(req).await {
            Ok(reply) => (
                OpType::Ok,
                Payload::Add {
                    order_id: reply.order.order_id,
                    idempotency_key: idempotency_key.clone(),
                },
                None,
            ),
            Err(e) => failed(op, &e),
        }
    }

    /// After healing: one `read_all` (process [`FINAL_PROCESS_BASE`]) sweeping every attempted
    /// order id with linearizable reads.
    pub(super) async fn final_read_all(
        &self,
        client: &Client,
        recorder: &Recorder,
        op_timeout: Duration,
    ) -> Result<(), HarnessError> {
        let attempted: Vec<(String, String)> = self
            .lock()
            .attempted
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let process = FINAL_PROCESS_BASE;
        recorder.invoke(process, Payload::ReadAll { elements: vec![] })?;
        // The sweep runs SWEEP_PARALLELISM readers over disjoint parts of the ids.
        let mut sweepers = tokio::task::JoinSet::new();
        let chunk = attempted.len().div_ceil(SWEEP_PARALLELISM).max(1);
        for part in attempted.chunks(chunk) {
            let (client, part) = (client.clone(), part.to_vec());
            sweepers.spawn(async move { sweep(&client, &part, op_timeout).await });
        }
        let mut elements = Vec::new();
        let mut unresolved = 0usize;
        while let Some(done) = sweepers.join_next().await {
            match done {
                Ok((found, missing)) => {
                    elements.extend(found);
                    unresolved += missing;
                }
                Err(e) => return Err(HarnessError::Task(format!("final sweep: {e}"))),
            }
        }
        elements.sort();
        if unresolved == 0 {
            recorder.complete(process, OpType::Ok, Payload::ReadAll { elements }, None)?;
        } else {
            recorder.complete(
                process,
                OpType::Info,
                Payload::ReadAll { elements: vec![] },
                Some(format!(
                    "INCOMPLETE: {unresolved} of {} orders unreadable",
                    attempted.len()
                )),
            )?;
        }
        Ok(())
    }
}

/// Reads each of `part` (order id, key) linearizably, retrying up to [`SWEEP_ATTEMPTS`] times.
/// Returns the orders found and how many ids could not be resolved (neither found nor
/// `NOT_FOUND`).
async fn sweep(
    client: &Client,
    part: &[(String, String)],
    op_timeout: Duration,
) -> (Vec<SetElement>, usize) {
    let mut found = Vec::new();
    let mut unresolved = 0;
    for (order_id, key) in part {
        let mut resolved = false;
        for _ in 0..SWEEP_ATTEMPTS {
            let read = tokio::time::timeout(
                op_timeout,
                client.get_order(order_id, Consistency::Linearizable),
            )
            .await;
            match read {
                Ok(Ok(order)) => {
                    found.push(SetElement {
                        order_id: order.order_id,
                        idempotency_key: key.clone(),
                    });
                    resolved = true;
                }
                Ok(Err(ClientError::NotFound { .. })) => resolved = true,
                Ok(Err(e)) => tracing::debug!(%order_id, error = %e, "sweep read failed"),
                Err(_) => tracing::debug!(%order_id, "sweep read timed out"),
            }
            if resolved {
                break;
            }
        }
        if !resolved {
            unresolved += 1;
        }
    }
    (found, unresolved)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// New keys are unique; an `info` add's key comes back (same key, same id) as a retry.
    #[test]
    fn info_adds_are_retried_with_the_same_key() {
        let w = SetWorkload::new(3);
        let mut rng = StdRng::seed_from_u64(9);
        let first = w.next_op(&mut rng);
        w.observe(&first, OpType::Info);
        let mut seen_again = false;
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let op = w.next_op(&mut rng);
            if op == first {
                seen_again = true;
            } else if let Payload::Add {
                idempotency_key,
                order_id,
            } = &op
            {
                assert!(
                    keys.insert(idempotency_key.clone()),
                    "fresh keys are unique"
                );
                assert_eq!(
                    *order_id,
                    shard_router::keyed_order_id(REGION, idempotency_key)
                );
            }
        }
        assert!(seen_again, "the info add was retried");
    }
}
