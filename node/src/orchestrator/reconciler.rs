//! The reconciler: checks the cross-shard invariants of purchases on the shards this node
//! leads, repairs what is deterministic, and exports what it found as metrics.
//!
//! One pass, per led shard:
//! - every stock bucket balances (`available + held + committed = added - removed`, which also
//!   means `available >= 0`) — divergence `stock_balance`;
//! - every account balances (`balance + held + captured - refunded = credited`) — `money_balance`;
//! - every held reservation belongs to a live saga: one whose saga ended or never existed is an
//!   orphan (`orphan_hold`) and is released;
//! - every live authorization belongs to a live saga: otherwise `orphan_authorization`, voided;
//! - open sagas are counted by status (`orderstore_sagas_open{status}`), NEEDS_ATTENTION among
//!   them.
//!
//! Saga liveness is read linearizably from the saga's own shard (a stale replica could miss a
//! saga that just started). Repairs are ordinary deduplicated ledger commands, so a repair that
//! races with the saga itself is harmless: the saga's own release/void replays.

use std::collections::BTreeMap;
use std::time::Duration;

use orderstore_client::ClientError;
use orderstore_client::Consistency;

use super::Orchestrator;
use crate::host::Shard;
use crate::inventory::StockOp;
use crate::metrics::ActionLabels;
use crate::metrics::InvariantLabels;
use crate::metrics::StatusLabels;
use crate::payments::AuthorizationState;
use crate::payments::PaymentOp;
use crate::saga::SagaStatus;
use crate::service::access::now_ms;
use crate::types::ShardCommand;

/// Most records of one kind a pass looks at per shard.
const SCAN_LIMIT: usize = 100_000;

/// Whether the saga `id` is still running (or parked): `Some(true)`; ended or never existed:
/// `Some(false)`; unknown (cluster unavailable): `None`.
async fn saga_live(o: &Orchestrator, id: &str) -> Option<bool> {
    match o.inner.client.get_saga(id, Consistency::Linearizable).await {
        Ok(r) => {
            let status = r.saga.map(|s| s.status).unwrap_or_default();
            Some(SagaStatus::parse(&status).is_some_and(|s| !s.is_terminal()))
        }
        Err(ClientError::NotFound { .. }) => Some(false),
        Err(_) => None,
    }
}

impl Orchestrator {
    /// Runs reconciler passes every `interval` until shutdown.
    pub(super) async fn reconcile_loop(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopping() {
                return;
            }
            self.reconcile_pass().await;
        }
    }

    /// One pass over every shard this node leads; updates the metrics.
    pub async fn reconcile_pass(&self) {
        let mut divergence: BTreeMap<&'static str, i64> = [
            ("stock_balance", 0),
            ("money_balance", 0),
            ("orphan_hold", 0),
            ("orphan_authorization", 0),
        ]
        .into_iter()
        .collect();
        let mut open: BTreeMap<SagaStatus, i64> = BTreeMap::new();
        let shards: Vec<_> = self.inner.access.host().shards().cloned().collect();
        for shard in shards {
            if !self.is_leader(&shard) || self.inner.access.host().is_quarantined(shard.id) {
                continue;
            }
            if let Err(e) = self
                .reconcile_shard(&shard, &mut divergence, &mut open)
                .await
            {
                tracing::warn!(shard = shard.id, error = %e, "reconciler pass failed");
            }
        }
        let m = self.inner.access.host().metrics();
        for (invariant, n) in divergence {
            m.reconcile_divergence
                .get_or_create(&InvariantLabels {
                    invariant: invariant.to_owned(),
                })
                .set(n);
        }
        for status in [
            SagaStatus::Running,
            SagaStatus::Compensating,
            SagaStatus::NeedsAttention,
        ] {
            m.sagas_open
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_owned(),
                })
                .set(open.get(&status).copied().unwrap_or(0));
        }
        m.reconcile_last_pass.set((now_ms() / 1000) as i64);
    }

    async fn reconcile_shard(
        &self,
        shard: &Shard,
        divergence: &mut BTreeMap<&'static str, i64>,
        open: &mut BTreeMap<SagaStatus, i64>,
    ) -> Result<(), crate::service::error::ApiError> {
        let access = &self.inner.access;
        let (buckets, accounts, sagas, held, auths) = access
            .read(shard, |r| {
                let mut sagas = Vec::new();
                for id in r.open_saga_ids(SCAN_LIMIT)? {
                    sagas.extend(r.saga(&id)?);
                }
                let mut held = Vec::new();
                for (sku, bucket, id) in r.due_reservations(u64::MAX - 1, SCAN_LIMIT)? {
                    held.extend(r.reservation(&sku, bucket, &id)?);
                }
                Ok((
                    r.stock_buckets(SCAN_LIMIT)?,
                    r.accounts(SCAN_LIMIT)?,
                    sagas,
                    held,
                    r.authorizations(SCAN_LIMIT)?,
                ))
            })
            .await?;
        *divergence.entry("stock_balance").or_default() +=
            buckets.iter().filter(|b| !b.is_balanced()).count() as i64;
        *divergence.entry("money_balance").or_default() +=
            accounts.iter().filter(|a| !a.is_balanced()).count() as i64;
        for s in &sagas {
            *open.entry(s.status).or_default() += 1;
        }
        let grace = self.inner.config.reconcile_grace_ms;
        let now = now_ms();
        for r in held {
            if r.created_at_ms.saturating_add(grace) > now {
                continue;
            }
            if saga_live(self, &r.reservation_id).await == Some(false) {
                *divergence.entry("orphan_hold").or_default() += 1;
                let cmd = ShardCommand::Stock {
                    sku: r.sku.clone(),
                    bucket: r.bucket,
                    op: StockOp::Release {
                        reservation_id: r.reservation_id.clone(),
                    },
                    idempotency: None,
                    now_ms: now_ms(),
                };
                if access.propose(shard, cmd).await.is_ok() {
                    self.repaired("release_orphan_hold");
                    tracing::info!(sku = %r.sku, bucket = r.bucket, id = %r.reservation_id, "reconciler released an orphan hold");
                }
            }
        }
        for a in auths {
            if a.state != AuthorizationState::Authorized
                || a.created_at_ms.saturating_add(grace) > now
            {
                continue;
            }
            if saga_live(self, &a.auth_id).await == Some(false) {
                *divergence.entry("orphan_authorization").or_default() += 1;
                let cmd = ShardCommand::Payment {
                    account_id: a.account_id.clone(),
                    op: PaymentOp::Void {
                        auth_id: a.auth_id.clone(),
                    },
                    idempotency: None,
                    now_ms: now_ms(),
                };
                if access.propose(shard, cmd).await.is_ok() {
                    self.repaired("void_orphan_authorization");
                    tracing::info!(account = %a.account_id, id = %a.auth_id, "reconciler voided an orphan authorization");
                }
            }
        }
        Ok(())
    }

    fn repaired(&self, action: &str) {
        self.inner
            .access
            .host()
            .metrics()
            .reconcile_repairs
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc();
    }
}
