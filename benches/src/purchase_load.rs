//! The purchase workloads against orderstore: [`run_flash_sale`] and [`run_saga_throughput`].
//! Each sets up its own fresh SKUs and buyer accounts (names carry a random run tag, so runs
//! never share state), runs purchases with `wait: true` (the call answers when the saga ended),
//! follows sagas that had not ended when the load stopped, and returns the purchase latency
//! [`Summary`] with its [`PurchaseFigures`]. Bounded in count (`max_ops`) and time (setup
//! deadline, duration, settle deadline, per-operation timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use orderstore_client::{Client, ClientError, Consistency, Purchase, PurchaseItem, code_name};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::orderstore_driver::OrderstoreDriver;
use crate::purchase_stats::{
    PurchaseEnd, PurchaseFigures, PurchaseParams, PurchaseTally, SaleOutcome, StockReadFigures,
    saga_settled,
};
use crate::{BenchError, LatencyStats, OpError, Summary, System};

/// Longest the setup (stock, accounts) may take.
const SETUP_DEADLINE: Duration = Duration::from_secs(120);
/// Longest the wait after the load for unfinished sagas and held units.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);
/// Accounts opened at once during setup.
const SETUP_CONCURRENCY: usize = 64;
const CURRENCY: &str = "USD";
/// Unit price of the flash-sale SKU (cents).
const SALE_PRICE: u64 = 4_999;
/// Prices the saga-throughput SKUs draw from (cents).
const PRICES: [u64; 6] = [499, 1_200, 2_450, 3_999, 4_250, 8_900];
/// Opening credit of a buyer: more than any run can spend.
const BUYER_CREDIT: u64 = 1_000_000_000_000;
/// Stock of each saga-throughput SKU: more than any run can sell.
const AMPLE_STOCK: u64 = 100_000_000;

/// The timed part of a purchase workload.
#[derive(Debug, Clone, Copy)]
pub struct PurchaseTiming {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_ops: u64,
    pub op_timeout: Duration,
    pub seed: u64,
}

impl PurchaseTiming {
    /// What a purchase waits for its saga: the op timeout less a margin for the reply, at most
    /// the server's cap of 60 s.
    fn wait_timeout_ms(&self) -> u32 {
        let ms = self
            .op_timeout
            .as_millis()
            .saturating_sub(1_000)
            .clamp(500, 60_000);
        u32::try_from(ms).unwrap_or(60_000)
    }
}

fn run_tag() -> String {
    format!("{:08x}", rand::random::<u32>())
}

fn setup_err(message: String) -> BenchError {
    BenchError::Setup {
        system: System::Orderstore,
        message,
    }
}

fn op_error(e: ClientError) -> OpError {
    OpError::Failed {
        class: code_name(e.code()).to_string(),
        message: e.to_string(),
    }
}

/// Opens `params.buyers` accounts `<prefix>-<n>` with [`BUYER_CREDIT`], [`SETUP_CONCURRENCY`]
/// at a time; returns their ids.
async fn open_accounts(
    driver: &OrderstoreDriver,
    prefix: &str,
    buyers: usize,
    deadline: Instant,
) -> Result<Vec<String>, BenchError> {
    let ids: Vec<String> = (0..buyers).map(|n| format!("{prefix}-{n:05}")).collect();
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let client = driver.client(n).clone();
        let permits = permits.clone();
        let id = id.clone();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            tokio::time::timeout_at(deadline, client.create_account(&id, CURRENCY, BUYER_CREDIT))
                .await
                .map_err(|_| format!("opening account {id}: out of setup time"))?
                .map_err(|e| format!("opening account {id}: {e}"))
                .map(|_| ())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| setup_err(format!("account task failed: {e}")))?
            .map_err(setup_err)?;
    }
    Ok(ids)
}

/// One purchase with `wait`, within the op timeout.
async fn purchase(
    client: &Client,
    p: Purchase,
    timing: &PurchaseTiming,
) -> (PurchaseEnd, Option<String>) {
    match tokio::time::timeout(timing.op_timeout, client.purchase(p)).await {
        Err(_) => (
            PurchaseEnd::Failed(OpError::Timeout {
                millis: timing.op_timeout.as_millis() as u64,
            }),
            None,
        ),
        Ok(Err(e)) => (PurchaseEnd::Failed(op_error(e)), None),
        Ok(Ok(reply)) => match reply.saga {
            Some(s) => (
                PurchaseEnd::Saga {
                    status: s.status,
                    reason: s.reason,
                },
                Some(s.saga_id),
            ),
            None => (PurchaseEnd::NoSaga, None),
        },
    }
}

/// A purchase that had not ended (or not answered) when the load stopped.
#[derive(Debug, Clone)]
struct Unsettled {
    purchase: Purchase,
    saga_id: Option<String>,
    /// Units of the flash-sale SKU (0 in saga-throughput).
    units: u64,
}

/// What one load client returns.
#[derive(Debug, Default)]
struct ClientResult {
    tally: PurchaseTally,
    unsettled: Vec<Unsettled>,
}

/// Follows every unsettled purchase until its saga ended or `deadline`: by its saga id, or, for
/// one that never answered, by replaying it (same idempotency key: the server answers with the
/// purchase it already has, or places it now). Returns (settled, completed, completed units,
/// still unknown).
async fn settle(
    client: &Client,
    unsettled: &[Unsettled],
    timing: &PurchaseTiming,
    deadline: Instant,
) -> (u64, u64, u64, u64) {
    let (mut settled, mut completed, mut units, mut unknown) = (0, 0, 0, 0);
    for u in unsettled {
        let mut saga_id = u.saga_id.clone();
        let mut end = None;
        while Instant::now() < deadline {
            let (e, id) = match &saga_id {
                Some(id) => match client.get_saga(id, Consistency::Linearizable).await {
                    Ok(reply) => match reply.saga {
                        Some(s) => (
                            PurchaseEnd::Saga {
                                status: s.status,
                                reason: s.reason,
                            },
                            Some(s.saga_id),
                        ),
                        None => (PurchaseEnd::NoSaga, None),
                    },
                    Err(e) => (PurchaseEnd::Failed(op_error(e)), saga_id.clone()),
                },
                None => purchase(client, u.purchase.clone(), timing).await,
            };
            saga_id = id.or(saga_id);
            let done = matches!(&e, PurchaseEnd::Saga { status, .. } if saga_settled(status));
            if done {
                end = Some(e);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match end {
            Some(e) => {
                settled += 1;
                if e.is_completed() {
                    completed += 1;
                    units += u.units;
                }
            }
            None => unknown += 1,
        }
    }
    (settled, completed, units, unknown)
}

/// `flash-sale`: `params.stock` units of one fresh SKU in `params.buckets` escrow buckets,
/// `params.buyers` accounts; `timing.clients` buyers purchase one unit each, again and again,
/// until each of them was told `sold_out`, the duration ends or `max_ops` purchases started;
/// `params.readers` readers call `get_stock(Stale)` meanwhile. Then unfinished sagas are
/// followed, held units awaited, and a final linearizable read counts what was sold.
pub async fn run_flash_sale(
    driver: &OrderstoreDriver,
    params: &PurchaseParams,
    timing: &PurchaseTiming,
    label: &str,
) -> Result<(Summary, PurchaseFigures), BenchError> {
    let tag = run_tag();
    let sku = format!("flash-{tag}");
    let admin = driver.client(0).clone();
    let setup_start = Instant::now();
    let setup_end = setup_start + SETUP_DEADLINE;
    eprintln!(
        "{label} setting up {sku}: {} units in {} buckets, {} buyer accounts",
        params.stock, params.buckets, params.buyers
    );
    let setup = async {
        admin.set_stock(&sku, 0, params.stock).await?;
        if params.buckets > 1 {
            admin.split_stock(&sku, params.buckets).await?;
        }
        admin.get_stock(&sku, Consistency::Linearizable).await
    };
    let initial = tokio::time::timeout_at(setup_end, setup)
        .await
        .map_err(|_| setup_err("stock setup out of time".into()))?
        .map_err(|e| setup_err(format!("stock setup of {sku}: {e}")))?;
    if initial.available != params.stock || initial.buckets != params.buckets {
        return Err(setup_err(format!(
            "{sku} set up with {} available in {} buckets, wanted {} in {}",
            initial.available, initial.buckets, params.stock, params.buckets
        )));
    }
    let accounts =
        Arc::new(open_accounts(driver, &format!("fs-{tag}"), params.buyers, setup_end).await?);
    let setup_s = setup_start.elapsed().as_secs_f64();

    eprintln!(
        "{label} selling with {} buyers and {} stock readers (at most {:.0} s)",
        timing.clients,
        params.readers,
        timing.duration.as_secs_f64()
    );
    let start = Instant::now();
    let end = start + timing.duration;
    let started_ops = Arc::new(AtomicU64::new(0));
    let stop_readers = Arc::new(AtomicBool::new(false));
    let mut buyers = JoinSet::new();
    for c in 0..timing.clients {
        let client = driver.client(c).clone();
        let accounts = accounts.clone();
        let started_ops = started_ops.clone();
        let sku = sku.clone();
        let tag = tag.clone();
        let timing = *timing;
        buyers.spawn(async move {
            let mut out = ClientResult::default();
            let mut k = 0usize;
            while Instant::now() < end
                && started_ops.fetch_add(1, Ordering::Relaxed) < timing.max_ops
            {
                let account = accounts[(c + k * timing.clients) % accounts.len()].clone();
                let p = Purchase {
                    customer_id: account.clone(),
                    account_id: account,
                    items: vec![PurchaseItem {
                        sku: sku.clone(),
                        quantity: 1,
                        unit_price: SALE_PRICE,
                    }],
                    currency: CURRENCY.into(),
                    idempotency_key: format!("fs-{tag}-{c}-{k}"),
                    wait: true,
                    wait_timeout_ms: timing.wait_timeout_ms(),
                    ..Purchase::default()
                };
                k += 1;
                let t0 = Instant::now();
                let (e, saga_id) = purchase(&client, p.clone(), &timing).await;
                let took = t0.elapsed();
                let at_ms = start.elapsed().as_millis() as u64;
                out.tally.record(&e, took, at_ms);
                let sold_out = e.is_sold_out();
                let settled =
                    matches!(&e, PurchaseEnd::Saga { status, .. } if saga_settled(status));
                if !settled {
                    out.unsettled.push(Unsettled {
                        purchase: p,
                        saga_id,
                        units: 1,
                    });
                }
                if sold_out {
                    break;
                }
            }
            out
        });
    }
    let mut readers = JoinSet::new();
    for r in 0..params.readers {
        let client = driver.client(timing.clients + r).clone();
        let stop = stop_readers.clone();
        let sku = sku.clone();
        let timing = *timing;
        readers.spawn(async move {
            let mut latency = LatencyStats::new();
            let mut staleness = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)
                .expect("static histogram bounds are valid");
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < end && reads < timing.max_ops {
                reads += 1;
                let t0 = Instant::now();
                let res = tokio::time::timeout(
                    timing.op_timeout,
                    client.get_stock(&sku, Consistency::Stale),
                )
                .await;
                match res {
                    Ok(Ok(stock)) => {
                        latency.record(t0.elapsed());
                        staleness.saturating_record(stock.staleness_ms);
                    }
                    Ok(Err(e)) => latency.record_error(&op_error(e)),
                    Err(_) => latency.record_error(&OpError::Timeout {
                        millis: timing.op_timeout.as_millis() as u64,
                    }),
                }
            }
            (latency, staleness)
        });
    }
    let mut tally = PurchaseTally::default();
    let mut unsettled = Vec::new();
    while let Some(joined) = buyers.join_next().await {
        match joined {
            Ok(r) => {
                tally.merge(&r.tally);
                unsettled.extend(r.unsettled);
            }
            Err(e) => eprintln!("{label} buyer task failed: {e}"),
        }
    }
    let measured = start.elapsed().min(timing.duration + timing.op_timeout);
    stop_readers.store(true, Ordering::Relaxed);
    let mut read_latency = LatencyStats::new();
    let mut staleness = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)
        .expect("static histogram bounds are valid");
    while let Some(joined) = readers.join_next().await {
        match joined {
            Ok((l, s)) => {
                read_latency.merge(&l);
                // Same bounds, saturating: cannot fail.
                let _ = staleness.add(&s);
            }
            Err(e) => eprintln!("{label} reader task failed: {e}"),
        }
    }
    let read_window = start.elapsed();
    eprintln!(
        "{label} done: {} purchases, {} completed, {} compensated; settling {} unfinished",
        tally.attempted,
        tally.completed,
        tally.compensated.values().sum::<u64>(),
        unsettled.len()
    );

    // Settle: unfinished sagas, then held units.
    let settle_start = Instant::now();
    let settle_end = settle_start + SETTLE_DEADLINE;
    let (settled, completed_later, units_later, unknown) =
        settle(&admin, &unsettled, timing, settle_end).await;
    let final_stock = loop {
        let s = admin
            .get_stock(&sku, Consistency::Linearizable)
            .await
            .map_err(|e| setup_err(format!("final stock read of {sku}: {e}")))?;
        if s.held == 0 || Instant::now() >= settle_end {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settle_s = settle_start.elapsed().as_secs_f64();
    if unknown > 0 {
        eprintln!("{label} {unknown} purchases still have no final outcome");
    }
    let sale = SaleOutcome::new(
        params.stock,
        params.buckets,
        final_stock.available,
        final_stock.held,
        final_stock.committed,
        tally.completed + units_later,
    );
    let reads = (params.readers > 0)
        .then(|| StockReadFigures::new(params.readers, &read_latency, &staleness, read_window));
    let mut figures = PurchaseFigures::new(params.clone(), &tally, measured, reads, Some(sale));
    figures.setup_s = setup_s;
    figures.settle_s = settle_s;
    figures.settled_later = settled;
    figures.completed_later = completed_later;
    Ok((tally.latency.summary(measured), figures))
}

/// `saga-throughput`: `params.skus` fresh SKUs with ample stock, `params.buyers` accounts;
/// `timing.clients` closed-loop clients purchase 1-3 distinct SKUs (1-3 units each) for the
/// warm-up and the measured duration; purchases started in the measured window are recorded.
pub async fn run_saga_throughput(
    driver: &OrderstoreDriver,
    params: &PurchaseParams,
    timing: &PurchaseTiming,
    label: &str,
) -> Result<(Summary, PurchaseFigures), BenchError> {
    let tag = run_tag();
    let skus: Arc<Vec<(String, u64)>> = Arc::new(
        (0..params.skus)
            .map(|i| (format!("sat-{tag}-{i:04}"), PRICES[i % PRICES.len()]))
            .collect(),
    );
    let setup_start = Instant::now();
    let setup_end = setup_start + SETUP_DEADLINE;
    eprintln!(
        "{label} setting up {} SKUs and {} buyer accounts",
        params.skus, params.buyers
    );
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (n, (sku, _)) in skus.iter().enumerate() {
        let client = driver.client(n).clone();
        let permits = permits.clone();
        let sku = sku.clone();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            tokio::time::timeout_at(setup_end, client.set_stock(&sku, 0, AMPLE_STOCK))
                .await
                .map_err(|_| format!("stocking {sku}: out of setup time"))?
                .map_err(|e| format!("stocking {sku}: {e}"))
                .map(|_| ())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| setup_err(format!("stock task failed: {e}")))?
            .map_err(setup_err)?;
    }
    let accounts =
        Arc::new(open_accounts(driver, &format!("sat-{tag}"), params.buyers, setup_end).await?);
    let setup_s = setup_start.elapsed().as_secs_f64();

    let start = Instant::now();
    let measure_from = start + timing.warmup;
    let end = measure_from + timing.duration;
    eprintln!(
        "{label} purchasing with {} clients ({:.0} s warm-up, {:.0} s measured)",
        timing.clients,
        timing.warmup.as_secs_f64(),
        timing.duration.as_secs_f64()
    );
    let started_ops = Arc::new(AtomicU64::new(0));
    let mut clients = JoinSet::new();
    for c in 0..timing.clients {
        let client = driver.client(c).clone();
        let accounts = accounts.clone();
        let skus = skus.clone();
        let started_ops = started_ops.clone();
        let tag = tag.clone();
        let timing = *timing;
        clients.spawn(async move {
            let mut rng = StdRng::seed_from_u64(timing.seed ^ (c as u64).wrapping_mul(0x9E37));
            let mut out = ClientResult::default();
            let mut k = 0usize;
            while Instant::now() < end
                && started_ops.fetch_add(1, Ordering::Relaxed) < timing.max_ops
            {
                let account = accounts[rng.random_range(0..accounts.len())].clone();
                let p = Purchase {
                    customer_id: account.clone(),
                    account_id: account,
                    items: random_lines(&mut rng, &skus),
                    currency: CURRENCY.into(),
                    idempotency_key: format!("sat-{tag}-{c}-{k}"),
                    wait: true,
                    wait_timeout_ms: timing.wait_timeout_ms(),
                    ..Purchase::default()
                };
                k += 1;
                let t0 = Instant::now();
                let (e, saga_id) = purchase(&client, p.clone(), &timing).await;
                let took = t0.elapsed();
                let settled =
                    matches!(&e, PurchaseEnd::Saga { status, .. } if saga_settled(status));
                if t0 >= measure_from && t0 < end {
                    let at_ms = t0.saturating_duration_since(measure_from).as_millis() as u64
                        + took.as_millis() as u64;
                    out.tally.record(&e, took, at_ms);
                    if !settled {
                        out.unsettled.push(Unsettled {
                            purchase: p,
                            saga_id,
                            units: 0,
                        });
                    }
                }
            }
            out
        });
    }
    let mut tally = PurchaseTally::default();
    let mut unsettled = Vec::new();
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(r) => {
                tally.merge(&r.tally);
                unsettled.extend(r.unsettled);
            }
            Err(e) => eprintln!("{label} purchase task failed: {e}"),
        }
    }
    let measured = Instant::now()
        .min(end)
        .saturating_duration_since(measure_from);
    eprintln!(
        "{label} done: {} purchases measured, {} completed; settling {} unfinished",
        tally.attempted,
        tally.completed,
        unsettled.len()
    );
    let settle_start = Instant::now();
    let (settled, completed_later, _, _) = settle(
        driver.client(0),
        &unsettled,
        timing,
        settle_start + SETTLE_DEADLINE,
    )
    .await;
    let mut figures = PurchaseFigures::new(params.clone(), &tally, measured, None, None);
    figures.setup_s = setup_s;
    figures.settle_s = settle_start.elapsed().as_secs_f64();
    figures.settled_later = settled;
    figures.completed_later = completed_later;
    Ok((tally.latency.summary(measured), figures))
}

/// 1-3 distinct SKUs of `skus`, 1-3 units each, at their prices.
fn random_lines(rng: &mut impl Rng, skus: &[(String, u64)]) -> Vec<PurchaseItem> {
    let lines = rng.random_range(1..=3usize).min(skus.len());
    let mut items: Vec<PurchaseItem> = Vec::with_capacity(lines);
    while items.len() < lines {
        let (sku, price) = &skus[rng.random_range(0..skus.len())];
        if !items.iter().any(|i| &i.sku == sku) {
            items.push(PurchaseItem {
                sku: sku.clone(),
                quantity: rng.random_range(1..=3),
                unit_price: *price,
            });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_lines_are_distinct_and_bounded() {
        let skus: Vec<(String, u64)> = (0..64).map(|i| (format!("s{i}"), 100 + i)).collect();
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..1000 {
            let items = random_lines(&mut rng, &skus);
            assert!((1..=3).contains(&items.len()));
            let mut names: Vec<&str> = items.iter().map(|i| i.sku.as_str()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), items.len());
            assert!(items.iter().all(|i| (1..=3).contains(&i.quantity)));
        }
        let one = vec![("only".to_string(), 5)];
        for _ in 0..50 {
            assert_eq!(random_lines(&mut rng, &one).len(), 1);
        }
    }

    #[test]
    fn wait_timeout_leaves_a_margin_and_respects_the_server_cap() {
        let t = |secs: u64| PurchaseTiming {
            clients: 1,
            warmup: Duration::ZERO,
            duration: Duration::ZERO,
            max_ops: 1,
            op_timeout: Duration::from_secs(secs),
            seed: 1,
        };
        assert_eq!(t(10).wait_timeout_ms(), 9_000);
        assert_eq!(t(0).wait_timeout_ms(), 500);
        assert_eq!(t(600).wait_timeout_ms(), 60_000);
    }
}
