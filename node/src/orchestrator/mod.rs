//! The saga orchestrator: drives every unfinished purchase saga whose order shard this node
//! leads, and fires the replicated timers (saga deadlines, reservation expiry).
//!
//! It is the thin runtime around [`crate::saga`]: it asks `next_actions`, performs them against
//! the participants (stock buckets through the SDK, payments through a [`PaymentProvider`]),
//! and proposes each outcome to the order shard's Raft log, where every replica applies it
//! with `saga::apply`. Nothing it decides lives only in memory: after a crash or a leader
//! change the new leader's scan finds the open sagas in the replicated index and resumes them;
//! participants deduplicate by saga id, so re-running a step is harmless.
//!
//! # Layout
//! - `provider`: [`PaymentProvider`], the ledger provider and the fault-injecting wrapper.
//! - `reconciler`: the invariant checks and repairs ([`Orchestrator::reconcile_pass`]).

pub mod provider;
mod reconciler;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use orderstore_client::Client;
use orderstore_proto::v1 as pb;
use rand::Rng;
use tokio::sync::broadcast;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use provider::FaultConfig;
pub use provider::FaultyProvider;
pub use provider::LedgerProvider;
pub use provider::PaymentProvider;

use crate::host::Shard;
use crate::inventory::StockOp;
use crate::saga;
use crate::saga::Action;
use crate::saga::PurchaseSaga;
use crate::saga::RetryPolicy;
use crate::saga::SagaInput;
use crate::saga::StepOutcome;
use crate::service::access::ShardAccess;
use crate::service::access::now_ms;
use crate::service::error::ApiError;
use crate::types::ShardCommand;
use crate::types::ShardId;

/// Timing of sagas and reservations.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// How long a purchase may take before its pivot; then it compensates.
    pub saga_timeout_ms: u64,
    /// TTL of a stock hold; longer than the saga timeout so a live saga's hold never expires.
    pub reservation_ttl_ms: u64,
    /// How often leaders scan for open sagas and due reservations.
    pub scan_interval: Duration,
    pub retry: RetryPolicy,
    /// How often the reconciler checks the invariants on the shards this node leads.
    pub reconcile_interval: Duration,
    /// Holds and authorizations younger than this are not judged by the reconciler.
    pub reconcile_grace_ms: u64,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            saga_timeout_ms: 30_000,
            reservation_ttl_ms: 120_000,
            scan_interval: Duration::from_millis(500),
            retry: RetryPolicy::default(),
            reconcile_interval: Duration::from_secs(5),
            reconcile_grace_ms: 1_000,
        }
    }
}

/// Handle to the node's orchestrator. Cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    access: ShardAccess,
    client: Client,
    provider: Arc<dyn PaymentProvider>,
    config: OrchestratorConfig,
    /// Sagas with a driver task on this node.
    driving: Mutex<HashSet<String>>,
    /// Saga ids whose state changed (for `Purchase { wait }`).
    changed: broadcast::Sender<String>,
    shutdown: watch::Receiver<bool>,
    /// Every task the orchestrator runs (loops and saga drivers), so `stop` can end them all
    /// and release the storage they hold.
    tasks: Mutex<JoinSet<()>>,
}

impl Orchestrator {
    /// Starts the scan loop; it stops when `shutdown` fires.
    pub fn start(
        access: ShardAccess,
        client: Client,
        provider: Arc<dyn PaymentProvider>,
        config: OrchestratorConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Orchestrator {
        let (changed, _) = broadcast::channel(4096);
        let o = Orchestrator {
            inner: Arc::new(Inner {
                access,
                client,
                provider,
                config,
                driving: Mutex::new(HashSet::new()),
                changed,
                shutdown,
                tasks: Mutex::new(JoinSet::new()),
            }),
        };
        o.spawn(o.clone().scan_loop());
        o.spawn(o.clone().reconcile_loop(o.inner.config.reconcile_interval));
        o
    }

    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, f: F) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        // Reap finished drivers so the set does not grow.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(f);
    }

    /// Ends every orchestrator task (a saga step in flight is abandoned: its outcome is
    /// re-learned by whoever leads next, since participants deduplicate) and waits for them.
    pub async fn stop(&self) {
        let mut tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    pub fn config(&self) -> &OrchestratorConfig {
        &self.inner.config
    }

    fn stopping(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    fn is_leader(&self, shard: &Shard) -> bool {
        shard.raft.metrics().borrow_watched().current_leader
            == Some(self.inner.access.host().node_id())
    }

    /// Leaders scan their shards for open sagas (resuming any without a driver) and for due
    /// reservations (proposing their expiry).
    async fn scan_loop(self) {
        let mut tick = tokio::time::interval(self.inner.config.scan_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopping() {
                return;
            }
            let shards: Vec<Arc<Shard>> = self.inner.access.host().shards().cloned().collect();
            for shard in shards {
                if !self.is_leader(&shard) || self.inner.access.host().is_quarantined(shard.id) {
                    continue;
                }
                match self
                    .inner
                    .access
                    .read(&shard, |r| r.open_saga_ids(10_000))
                    .await
                {
                    Ok(ids) => {
                        for id in ids {
                            self.kick(shard.id, id);
                        }
                    }
                    Err(e) => tracing::warn!(shard = shard.id, error = %e, "saga scan failed"),
                }
                self.expire_reservations(&shard).await;
            }
        }
    }

    async fn expire_reservations(&self, shard: &Shard) {
        let now = now_ms();
        let due = match self
            .inner
            .access
            .read(shard, move |r| r.due_reservations(now, 256))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "reservation scan failed");
                return;
            }
        };
        for (sku, bucket, reservation_id) in due {
            let cmd = ShardCommand::Stock {
                sku,
                bucket,
                op: StockOp::Expire { reservation_id },
                idempotency: None,
                now_ms: now_ms(),
            };
            if let Err(e) = self.inner.access.propose(shard, cmd).await {
                tracing::debug!(shard = shard.id, error = %e, "reservation expiry not proposed");
                return;
            }
        }
    }

    /// Makes sure a driver runs for `saga_id` on this node (no-op if one does).
    pub fn kick(&self, shard: ShardId, saga_id: String) {
        {
            let mut driving = self.inner.driving.lock().unwrap_or_else(|p| p.into_inner());
            if !driving.insert(saga_id.clone()) {
                return;
            }
        }
        let o = self.clone();
        self.spawn(async move {
            o.drive(shard, &saga_id).await;
            o.inner
                .driving
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&saga_id);
            let _ = o.inner.changed.send(saga_id);
        });
    }

    /// Subscribes to saga changes (ids of sagas whose state changed on this node).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.changed.subscribe()
    }

    /// Drives one saga until it ends, parks, or this node stops leading its shard.
    async fn drive(&self, shard_id: ShardId, saga_id: &str) {
        let Some(shard) = self.inner.access.host().shard(shard_id) else {
            return;
        };
        let mut failures = 0u32;
        loop {
            if self.stopping() || !self.is_leader(&shard) {
                return;
            }
            let id = saga_id.to_owned();
            let saga = match self.inner.access.read(&shard, move |r| r.saga(&id)).await {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(saga = saga_id, error = %e, "saga read failed");
                    return;
                }
            };
            if !saga.status.is_active() {
                return;
            }
            let inputs = if saga.status == saga::SagaStatus::Running
                && !saga.past_pivot()
                && now_ms() >= saga.deadline_ms
            {
                vec![SagaInput::TimerFired {
                    token: saga.timer_token,
                }]
            } else {
                let actions = saga::next_actions(&saga);
                if actions.is_empty() {
                    return;
                }
                let calls = actions.iter().map(|a| self.perform(&saga, a));
                let outcomes = futures::future::join_all(calls).await;
                actions
                    .iter()
                    .zip(outcomes)
                    .map(|(a, outcome)| SagaInput::StepResult {
                        step: a.step(),
                        bucket: a.bucket(),
                        outcome,
                    })
                    .collect()
            };
            for input in inputs {
                let cmd = ShardCommand::Saga {
                    saga_id: saga_id.to_owned(),
                    input,
                    now_ms: now_ms(),
                };
                match self.inner.access.propose(&shard, cmd).await {
                    Ok(_) => {
                        failures = 0;
                        let _ = self.inner.changed.send(saga_id.to_owned());
                    }
                    Err(ApiError::NotLeader { .. } | ApiError::Quarantined { .. }) => return,
                    Err(e) => {
                        failures += 1;
                        tracing::debug!(saga = saga_id, error = %e, "saga step not recorded");
                        let cap = self.inner.config.retry.backoff_cap_ms(failures);
                        let delay = rand::rng().random_range(0..=cap);
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        break;
                    }
                }
            }
        }
    }

    /// Performs one action against its participant, after the full-jitter backoff its past
    /// attempts call for.
    async fn perform(&self, saga: &PurchaseSaga, action: &Action) -> StepOutcome {
        let attempts = saga.attempts_of(action.step());
        let cap = self.inner.config.retry.backoff_cap_ms(attempts);
        if cap > 0 {
            let delay = rand::rng().random_range(0..=cap);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let id = saga.saga_id.as_str();
        match action {
            Action::Reserve {
                sku,
                bucket,
                quantity,
                ..
            } => {
                self.reservation(
                    sku,
                    *bucket,
                    id,
                    pb::ReservationOp::Reserve,
                    *quantity,
                    "RESERVED",
                )
                .await
            }
            Action::CommitStock { sku, bucket, .. } => {
                self.reservation(sku, *bucket, id, pb::ReservationOp::Commit, 0, "COMMITTED")
                    .await
            }
            Action::Release { sku, bucket, .. } => {
                self.reservation(sku, *bucket, id, pb::ReservationOp::Release, 0, "RELEASED")
                    .await
            }
            Action::Authorize {
                account_id,
                amount,
                currency,
            } => {
                self.inner
                    .provider
                    .authorize(id, account_id, *amount, currency)
                    .await
            }
            Action::Capture { account_id } => self.inner.provider.capture(id, account_id).await,
            Action::Void { account_id } => self.inner.provider.void(id, account_id).await,
        }
    }

    async fn reservation(
        &self,
        sku: &str,
        bucket: u32,
        reservation_id: &str,
        op: pb::ReservationOp,
        quantity: u64,
        want: &str,
    ) -> StepOutcome {
        let req = pb::ReservationRequest {
            sku: sku.to_owned(),
            bucket,
            reservation_id: reservation_id.to_owned(),
            op: op as i32,
            quantity,
            ttl_ms: self.inner.config.reservation_ttl_ms,
        };
        match self.inner.client.reservation(req).await {
            Ok(reply) if reply.outcome == want => StepOutcome::Done,
            Ok(reply) => StepOutcome::Refused {
                reason: reply.outcome.to_lowercase(),
            },
            Err(e) => provider::outcome_of_error(&e),
        }
    }
}
