//! The purchase workload: concurrent purchases through the saga (reserve stock in a SKU's
//! escrow bucket, authorize and capture payment, commit the stock, or compensate), then one
//! final read of stock, accounts and sagas for the purchase checker (stock and money
//! conservation, no oversell, saga atomicity, no lost acknowledged purchase).
//!
//! **Setup** (before any fault, recorded as one `purchase_setup` op): a hot SKU with
//! [`HOT_UNITS`] units split into [`HOT_BUCKETS`] escrow buckets, two plentiful SKUs, and
//! [`ACCOUNTS`] ledger accounts, every fifth of them poor (it can afford a cheap unit or two,
//! never a hot one). The figures are read back linearizably and recorded as the baseline.
//!
//! A second hot SKU, [`FLASH_SKU`], goes on sale at [`FLASH_OPENS_AT`] of the time limit, so
//! that one sell-out happens while the faults run.
//!
//! **Purchases**: 1-2 units of a hot SKU, of a plentiful one, or of both (a two-line
//! purchase: a sold-out hot line must release the other), each under a fresh idempotency key,
//! with `wait` (bounded, re-asked with the same key while the op's time allows). `ok` records
//! what the server answered (the saga's status: terminal when it ended within the wait);
//! `fail` only for `INVALID_ARGUMENT` / `IDEMPOTENCY_KEY_REUSED` (no effect); anything else is
//! `info`. An `info` purchase is sometimes retried later, by another process, with the *same
//! key and request* (an application retry: it must replay, never buy twice).
//!
//! **Final read** (after the nemesis healed everything): wait (deadline [`SETTLE_TIMEOUT`])
//! until `list_sagas` shows no `RUNNING`/`COMPENSATING` saga, then read linearizably the stock
//! of every SKU, every account and the saga of every purchase ever invoked (by the order id
//! derived from region and key), recorded as one `purchase_read` op.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::OnceLock;
use std::time::Duration;
use std::time::Instant;

use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::Purchase;
use orderstore_client::PurchaseItem;
use orderstore_client::proto as pb;
use rand::Rng;
use rand::rngs::StdRng;

use super::Completion;
use super::FINAL_PROCESS_BASE;
use super::error_kind;
use crate::cluster::REGION;
use crate::harness_error::HarnessError;
use crate::op::{
    AccountFigures, OpType, Payload, PurchaseLine, PurchaseOutcome, PurchaseSnapshot, SagaFigures,
    SagaLineFigures, StockFigures,
};
use crate::recorder::Recorder;

/// The hot SKU: few units, split into escrow buckets.
pub const HOT_SKU: &str = "js-hot";
pub const HOT_UNITS: u64 = 40;
pub const HOT_BUCKETS: u32 = 4;
pub const HOT_PRICE: u64 = 500;
/// A second hot SKU (same units, buckets and price) whose sale opens at
/// [`FLASH_OPENS_AT`] of the time limit, so that a sell-out happens while faults run (the first
/// hot SKU sells out within seconds, usually before the first fault).
pub const FLASH_SKU: &str = "js-flash";
pub const FLASH_OPENS_AT: f64 = 0.4;
/// Plentiful SKUs: (sku, units, unit price).
pub const PLENTIFUL: [(&str, u64, u64); 2] = [("js-tee", 100_000, 250), ("js-mug", 100_000, 100)];
/// Buyer accounts `js-acct-NN`; every fifth one is poor.
pub const ACCOUNTS: usize = 30;
pub const RICH_CREDIT: u64 = 10_000_000;
pub const POOR_CREDIT: u64 = 300;
/// How long the final phase waits for every saga to end (the server's saga timeout is 30 s).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(75);
/// How long the setup may take (the cluster is healthy then).
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The server-side wait of one purchase call: below the SDK's per-request timeout (2 s).
const WAIT_MS: u32 = 1_500;
/// Attempts per read in the final phase, and readers in parallel.
const FINAL_ATTEMPTS: u32 = 5;
const FINAL_PARALLELISM: usize = 8;
/// At most this many keys wait for an application-level retry.
const RETRY_QUEUE_MAX: usize = 64;
/// The setup's process id.
const SETUP_PROCESS: u64 = FINAL_PROCESS_BASE + 1;

/// `js-acct-NN`.
pub fn account_id(i: usize) -> String {
    format!("js-acct-{i:02}")
}

/// True for the poor accounts.
pub fn is_poor(i: usize) -> bool {
    i % 5 == 4
}

/// The purchase workload's shared state.
#[derive(Debug)]
pub struct PurchaseWorkload {
    seed: u64,
    op_timeout: Duration,
    /// When the flash SKU goes on sale (set at the end of the setup).
    flash_opens: OnceLock<Instant>,
    time_limit: Duration,
    region: OnceLock<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// Every key a purchase was invoked for -> its request (retries resend it unchanged).
    requests: BTreeMap<String, Payload>,
    /// Keys whose purchase completed `info`, waiting for an application-level retry.
    retry: Vec<String>,
}

impl PurchaseWorkload {
    pub fn new(seed: u64, op_timeout: Duration, time_limit: Duration) -> PurchaseWorkload {
        PurchaseWorkload {
            seed,
            op_timeout,
            flash_opens: OnceLock::new(),
            time_limit,
            region: OnceLock::new(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation keeps State consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cluster's default region (known after the setup; the harness's config before).
    pub fn region(&self) -> &str {
        self.region.get().map_or(REGION, String::as_str)
    }

    /// The next purchase: a retry of an `info` key (30 %, when any waits) or a fresh one.
    pub(super) fn next_op(&self, rng: &mut StdRng) -> Payload {
        let mut st = self.lock();
        if !st.retry.is_empty() && rng.random_bool(0.3) {
            let i = rng.random_range(0..st.retry.len());
            let key = st.retry.swap_remove(i);
            if let Some(req) = st.requests.get(&key) {
                return req.clone();
            }
        }
        st.next += 1;
        let key = format!("jp-{:x}-{}", self.seed, st.next);
        let account = account_id(rng.random_range(0..ACCOUNTS));
        let flash_open = self.flash_opens.get().is_some_and(|t| Instant::now() >= *t);
        let hot = |rng: &mut StdRng| PurchaseLine {
            sku: if flash_open && rng.random_bool(0.7) {
                FLASH_SKU
            } else {
                HOT_SKU
            }
            .to_string(),
            quantity: rng.random_range(1..=2),
            unit_price: HOT_PRICE,
        };
        let plentiful = |rng: &mut StdRng| {
            let (sku, _, price) = PLENTIFUL[rng.random_range(0..PLENTIFUL.len())];
            PurchaseLine {
                sku: sku.to_string(),
                quantity: rng.random_range(1..=2),
                unit_price: price,
            }
        };
        let items = match rng.random_range(0..100) {
            0..55 => vec![hot(rng)],
            55..80 => vec![plentiful(rng)],
            _ => vec![hot(rng), plentiful(rng)],
        };
        let req = Payload::Purchase {
            order_id: shard_router::keyed_order_id(self.region(), &key),
            idempotency_key: key.clone(),
            account_id: account,
            items,
            result: None,
        };
        st.requests.insert(key, req.clone());
        req
    }

    pub(super) fn observe(&self, op: &Payload, outcome: OpType) {
        if let (
            Payload::Purchase {
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

    /// One purchase: asks (and re-asks with the same key while the saga runs and the op's
    /// time allows) until the saga ended.
    pub(super) async fn execute(&self, client: &Client, op: &Payload) -> Completion {
        let Payload::Purchase {
            order_id,
            idempotency_key,
            account_id,
            items,
            ..
        } = op
        else {
            return (OpType::Fail, op.clone(), Some("NOT_A_PURCHASE_OP".into()));
        };
        let deadline = Instant::now() + self.op_timeout.saturating_sub(Duration::from_millis(300));
        let mut answer: Option<pb::PurchaseReply> = None;
        let mut last_error: Option<ClientError> = None;
        loop {
            let req = Purchase {
                customer_id: account_id.clone(),
                account_id: account_id.clone(),
                items: items
                    .iter()
                    .map(|i| PurchaseItem {
                        sku: i.sku.clone(),
                        quantity: i.quantity,
                        unit_price: i.unit_price,
                    })
                    .collect(),
                currency: String::new(),
                region: self.region().to_string(),
                idempotency_key: idempotency_key.clone(),
                wait: true,
                wait_timeout_ms: WAIT_MS,
            };
            match client.purchase(req).await {
                Ok(reply) => {
                    let active = reply
                        .saga
                        .as_ref()
                        .is_none_or(|s| s.status == "RUNNING" || s.status == "COMPENSATING");
                    answer = Some(reply);
                    let room = Duration::from_millis(u64::from(WAIT_MS) + 200);
                    if !active || Instant::now() + room >= deadline {
                        break;
                    }
                }
                Err(
                    e @ (ClientError::InvalidArgument { .. }
                    | ClientError::IdempotencyKeyReused { .. }),
                ) if answer.is_none() => {
                    // Refused before anything was written: no effect.
                    return (OpType::Fail, op.clone(), Some(error_kind(&e)));
                }
                Err(e) => {
                    if answer.is_some() || Instant::now() + Duration::from_millis(600) >= deadline {
                        last_error = Some(e);
                        break;
                    }
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        match answer {
            Some(reply) => match outcome_of_reply(&reply) {
                Some(result) => (
                    OpType::Ok,
                    Payload::Purchase {
                        order_id: order_id.clone(),
                        idempotency_key: idempotency_key.clone(),
                        account_id: account_id.clone(),
                        items: items.clone(),
                        result: Some(result),
                    },
                    None,
                ),
                None => (OpType::Info, op.clone(), Some("MALFORMED_REPLY".into())),
            },
            None => (
                OpType::Info,
                op.clone(),
                Some(last_error.map_or_else(|| "NO_ANSWER".into(), |e| error_kind(&e))),
            ),
        }
    }

    /// Before any fault: the SKUs and accounts, read back as the checker's baseline (one
    /// `purchase_setup` op).
    pub async fn setup(
        &self,
        client: &Client,
        recorder: &Recorder,
        op_timeout: Duration,
    ) -> Result<(), HarnessError> {
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let status = retry("cluster status", deadline, op_timeout, || {
            client.cluster_status()
        })
        .await?;
        let region = if status.default_region.is_empty() {
            REGION.to_string()
        } else {
            status.default_region
        };
        let _ = self.region.set(region.clone());

        let mut skus: BTreeMap<String, u64> = PLENTIFUL
            .iter()
            .map(|(s, u, _)| (s.to_string(), *u))
            .collect();
        skus.insert(HOT_SKU.to_string(), HOT_UNITS);
        skus.insert(FLASH_SKU.to_string(), HOT_UNITS);
        let accounts: BTreeMap<String, u64> = (0..ACCOUNTS)
            .map(|i| {
                let credit = if is_poor(i) { POOR_CREDIT } else { RICH_CREDIT };
                (account_id(i), credit)
            })
            .collect();
        recorder.invoke(
            SETUP_PROCESS,
            Payload::PurchaseSetup {
                region: region.clone(),
                skus: skus.clone(),
                accounts: accounts.clone(),
            },
        )?;
        for (sku, units) in &skus {
            retry("set stock", deadline, op_timeout, || {
                client.set_stock(sku, 0, *units)
            })
            .await?;
        }
        for sku in [HOT_SKU, FLASH_SKU] {
            let split = retry("split stock", deadline, op_timeout, || {
                client.split_stock(sku, HOT_BUCKETS)
            })
            .await?;
            if split.buckets != HOT_BUCKETS {
                return Err(HarnessError::Setup(format!(
                    "split {sku} into {HOT_BUCKETS} buckets gave {} buckets",
                    split.buckets
                )));
            }
        }
        for (account, credit) in &accounts {
            retry("create account", deadline, op_timeout, || async {
                match client.create_account(account, "USD", *credit).await {
                    // A retry after a lost answer: the account exists (read back below).
                    Ok(_) | Err(ClientError::AlreadyExists { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        }
        let mut read_skus = BTreeMap::new();
        for sku in skus.keys() {
            let s = retry("read stock", deadline, op_timeout, || {
                client.get_stock(sku, Consistency::Linearizable)
            })
            .await?;
            read_skus.insert(sku.clone(), s.available + s.held + s.committed);
        }
        let mut read_accounts = BTreeMap::new();
        for account in accounts.keys() {
            let a = retry("read account", deadline, op_timeout, || {
                client.get_account(account, Consistency::Linearizable)
            })
            .await?;
            read_accounts.insert(account.clone(), a.credited);
        }
        if read_skus != skus || read_accounts != accounts {
            return Err(HarnessError::Setup(format!(
                "read back {read_skus:?} / {read_accounts:?}, planned {skus:?} / {accounts:?}"
            )));
        }
        recorder.complete(
            SETUP_PROCESS,
            OpType::Ok,
            Payload::PurchaseSetup {
                region,
                skus: read_skus,
                accounts: read_accounts,
            },
            None,
        )?;
        let _ = self
            .flash_opens
            .set(Instant::now() + self.time_limit.mul_f64(FLASH_OPENS_AT));
        Ok(())
    }

    /// After healing: waits for the sagas to end, then reads stock, accounts and every saga
    /// (one `purchase_read` op, process [`FINAL_PROCESS_BASE`]).
    pub(super) async fn final_read(
        &self,
        client: &Client,
        recorder: &Recorder,
        op_timeout: Duration,
    ) -> Result<(), HarnessError> {
        let process = FINAL_PROCESS_BASE;
        recorder.invoke(process, Payload::PurchaseRead { snapshot: None })?;
        let mut snap = PurchaseSnapshot::default();

        // 1. Wait until no saga is RUNNING or COMPENSATING (parked ones stay).
        let started = Instant::now();
        let settle_deadline = started + SETTLE_TIMEOUT;
        let mut listed_open: Vec<String> = Vec::new();
        let mut list_settled = false;
        loop {
            match tokio::time::timeout(op_timeout, client.list_sagas("", 10_000)).await {
                Ok(Ok(sagas)) => {
                    listed_open = sagas
                        .iter()
                        .filter(|s| s.status == "RUNNING" || s.status == "COMPENSATING")
                        .map(|s| format!("{} {}", s.saga_id, s.status))
                        .collect();
                    if listed_open.is_empty() {
                        list_settled = true;
                        break;
                    }
                    tracing::info!(open = listed_open.len(), "waiting for sagas to end");
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "list_sagas failed"),
                Err(_) => tracing::debug!("list_sagas timed out"),
            }
            if Instant::now() >= settle_deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        snap.settle_wait_ms = started.elapsed().as_millis() as u64;

        // 2. Every saga ever invoked, linearizably.
        let order_ids: Vec<String> = self
            .lock()
            .requests
            .values()
            .filter_map(|p| match p {
                Payload::Purchase { order_id, .. } => Some(order_id.clone()),
                _ => None,
            })
            .collect();
        let mut readers = tokio::task::JoinSet::new();
        let chunk = order_ids.len().div_ceil(FINAL_PARALLELISM).max(1);
        for part in order_ids.chunks(chunk) {
            let (client, part) = (client.clone(), part.to_vec());
            readers.spawn(async move { read_sagas(&client, &part, op_timeout).await });
        }
        while let Some(done) = readers.join_next().await {
            let (found, missing) =
                done.map_err(|e| HarnessError::Task(format!("final saga reads: {e}")))?;
            snap.sagas.extend(found);
            snap.unresolved.extend(missing);
        }
        let mut open_read = Vec::new();
        for (id, s) in &snap.sagas {
            if let Some(s) = s {
                if s.status == "RUNNING" || s.status == "COMPENSATING" {
                    open_read.push(format!("{id} {}", s.status));
                } else if s.status == "NEEDS_ATTENTION" {
                    snap.needs_attention.push(format!("{id} {}", s.reason));
                }
            }
        }
        snap.settled = list_settled && open_read.is_empty();
        snap.open_sagas = if open_read.is_empty() {
            listed_open
        } else {
            open_read
        };

        // 3. Stock and accounts.
        let mut skus: Vec<&str> = PLENTIFUL.iter().map(|(s, _, _)| *s).collect();
        skus.extend([HOT_SKU, FLASH_SKU]);
        for sku in skus {
            match read_with(op_timeout, || {
                client.get_stock(sku, Consistency::Linearizable)
            })
            .await
            {
                Some(s) => {
                    snap.stock.insert(
                        sku.to_string(),
                        StockFigures {
                            available: s.available,
                            held: s.held,
                            committed: s.committed,
                        },
                    );
                }
                None => snap.unresolved.push(format!("stock {sku}")),
            }
        }
        for i in 0..ACCOUNTS {
            let id = account_id(i);
            match read_with(op_timeout, || {
                client.get_account(&id, Consistency::Linearizable)
            })
            .await
            {
                Some(a) => {
                    snap.accounts.insert(
                        id,
                        AccountFigures {
                            balance: a.balance,
                            held: a.held,
                            captured: a.captured,
                            refunded: a.refunded,
                            credited: a.credited,
                        },
                    );
                }
                None => snap.unresolved.push(format!("account {id}")),
            }
        }
        tracing::info!(
            settled = snap.settled,
            open = snap.open_sagas.len(),
            needs_attention = snap.needs_attention.len(),
            sagas = snap.sagas.len(),
            unresolved = snap.unresolved.len(),
            "purchase final read"
        );
        recorder.complete(
            process,
            OpType::Ok,
            Payload::PurchaseRead {
                snapshot: Some(Box::new(snap)),
            },
            None,
        )?;
        Ok(())
    }
}

/// The `ok` result of a purchase answer; `None` when it lacks the order or the saga.
fn outcome_of_reply(reply: &pb::PurchaseReply) -> Option<PurchaseOutcome> {
    let (order, saga) = (reply.order.as_ref()?, reply.saga.as_ref()?);
    Some(PurchaseOutcome {
        order_id: order.order_id.clone(),
        saga_id: saga.saga_id.clone(),
        saga_status: saga.status.clone(),
        reason: saga.reason.clone(),
        order_status: order.status.clone(),
        payment: saga.payment.clone(),
        amount: saga.amount,
        replayed: reply.replayed,
    })
}

/// A saga as the checker sees it.
fn figures(reply: &pb::PurchaseReply) -> Option<SagaFigures> {
    let (order, saga) = (reply.order.as_ref()?, reply.saga.as_ref()?);
    Some(SagaFigures {
        status: saga.status.clone(),
        reason: saga.reason.clone(),
        account_id: saga.account_id.clone(),
        amount: saga.amount,
        payment: saga.payment.clone(),
        order_status: order.status.clone(),
        lines: saga
            .lines
            .iter()
            .map(|l| SagaLineFigures {
                sku: l.sku.clone(),
                quantity: l.quantity,
                stock: l.stock.clone(),
            })
            .collect(),
    })
}

/// Reads each saga of `ids` linearizably ([`FINAL_ATTEMPTS`] tries each). Returns the
/// resolved ones (`None` = `NOT_FOUND`) and the ids that could not be read.
async fn read_sagas(
    client: &Client,
    ids: &[String],
    op_timeout: Duration,
) -> (Vec<(String, Option<SagaFigures>)>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        let mut resolved = None;
        for _ in 0..FINAL_ATTEMPTS {
            match tokio::time::timeout(op_timeout, client.get_saga(id, Consistency::Linearizable))
                .await
            {
                Ok(Ok(reply)) => {
                    if let Some(f) = figures(&reply) {
                        resolved = Some(Some(f));
                        break;
                    }
                }
                Ok(Err(ClientError::NotFound { .. })) => {
                    resolved = Some(None);
                    break;
                }
                Ok(Err(e)) => tracing::debug!(%id, error = %e, "final saga read failed"),
                Err(_) => tracing::debug!(%id, "final saga read timed out"),
            }
        }
        match resolved {
            Some(r) => found.push((id.clone(), r)),
            None => missing.push(id.clone()),
        }
    }
    (found, missing)
}

/// `call` with up to [`FINAL_ATTEMPTS`] tries of `op_timeout` each.
async fn read_with<T, F, Fut>(op_timeout: Duration, mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    for _ in 0..FINAL_ATTEMPTS {
        match tokio::time::timeout(op_timeout, call()).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => tracing::debug!(error = %e, "final read failed"),
            Err(_) => tracing::debug!("final read timed out"),
        }
    }
    None
}

/// `call` until it succeeds or `deadline` passes (each try bounded by `op_timeout`).
async fn retry<T, F, Fut>(
    what: &str,
    deadline: Instant,
    op_timeout: Duration,
    mut call: F,
) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    loop {
        let error = match tokio::time::timeout(op_timeout, call()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        if Instant::now() >= deadline {
            return Err(HarnessError::Setup(format!("{what}: {error}")));
        }
        tracing::debug!(what, %error, "setup call failed; retrying");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Fresh keys are unique and name the order derived from them; an `info` purchase comes
    /// back unchanged (same key, same request) as a retry; the mix has every kind of purchase.
    #[test]
    fn purchases_are_fresh_or_exact_retries() {
        let w = PurchaseWorkload::new(5, Duration::from_secs(5), Duration::from_secs(60));
        let mut rng = StdRng::seed_from_u64(11);
        let first = w.next_op(&mut rng);
        w.observe(&first, OpType::Info);
        let mut seen_again = false;
        let mut keys = std::collections::BTreeSet::new();
        let (mut hot, mut plain, mut both) = (0, 0, 0);
        for _ in 0..200 {
            let op = w.next_op(&mut rng);
            if op == first {
                seen_again = true;
                continue;
            }
            let Payload::Purchase {
                order_id,
                idempotency_key,
                items,
                account_id,
                ..
            } = &op
            else {
                panic!("{op:?}");
            };
            assert!(
                keys.insert(idempotency_key.clone()),
                "fresh keys are unique"
            );
            assert_eq!(
                *order_id,
                shard_router::keyed_order_id(REGION, idempotency_key)
            );
            assert!(account_id.starts_with("js-acct-"));
            assert!(items.iter().all(|i| (1..=2).contains(&i.quantity)));
            match (items.len(), items[0].sku == HOT_SKU) {
                (1, true) => hot += 1,
                (1, false) => plain += 1,
                _ => {
                    assert_ne!(items[0].sku, items[1].sku);
                    both += 1;
                }
            }
        }
        assert!(seen_again, "the info purchase was retried");
        assert!(hot > 50 && plain > 20 && both > 10, "{hot} {plain} {both}");
    }

    #[test]
    fn some_accounts_are_poor() {
        let poor = (0..ACCOUNTS).filter(|i| is_poor(*i)).count();
        assert_eq!(poor, 6);
        const { assert!(POOR_CREDIT < HOT_PRICE) };
    }
}
