//! `orderctl demo`: the README's tour. Places orders concurrently, walks a sample through
//! pay -> ship -> deliver, cancels a few, shows an illegal transition being refused, then runs
//! purchases (order + stock reservation + payment, as sagas) against a hot SKU with limited
//! stock and buyers some of whom cannot pay, and checks that exactly the units of completed
//! purchases were sold (no oversell, nothing left held). Reports measured figures (throughput,
//! latency percentiles). Bounded in count and time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use hdrhistogram::Histogram;
use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;
use orderstore_client::Purchase;
use orderstore_client::PurchaseItem;
use orderstore_client::code_name;
use orderstore_client::proto;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::DemoArgs;
use crate::cli::OutputFormat;
use crate::cli_error::CliError;
use crate::output;

/// The demo shop's catalogue: SKU and unit price in cents.
const CATALOGUE: [(&str, u64); 8] = [
    ("sku-espresso-beans", 1_499),
    ("sku-grinder", 8_900),
    ("sku-kettle", 4_250),
    ("sku-mug", 1_200),
    ("sku-filter-papers", 499),
    ("sku-scale", 3_999),
    ("sku-dripper", 2_450),
    ("sku-tamper", 2_999),
];

/// Placement latencies are recorded in microseconds up to one minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// The measured figures, as printed (and as `-o json` emits them).
#[derive(Debug, Serialize)]
struct Figures {
    orders_requested: u64,
    orders_placed: u64,
    errors: u64,
    /// Placements not started before the time budget ran out.
    skipped: u64,
    concurrency: u64,
    wall_time_secs: f64,
    orders_per_sec: f64,
    place_latency_p50_ms: f64,
    place_latency_p99_ms: f64,
    place_latency_max_ms: f64,
}

#[derive(Debug, Serialize)]
struct DemoReport {
    figures: Figures,
    /// First few placement errors, one line each.
    error_samples: Vec<String>,
    /// The refusal of shipping a cancelled order.
    illegal_transition: String,
    sample: Vec<Order>,
    /// The purchase phase (absent with `--purchases 0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    purchases: Option<PurchaseReport>,
}

/// A random order: a random customer of 50, one to three distinct catalogue lines.
fn random_order(rng: &mut impl Rng) -> PlaceOrder {
    let customer = format!("cust-{:03}", rng.random_range(1..=50));
    let lines = rng.random_range(1..=3);
    let mut items: Vec<LineItem> = Vec::new();
    while items.len() < lines {
        let (sku, price) = CATALOGUE[rng.random_range(0..CATALOGUE.len())];
        if !items.iter().any(|i| i.sku == sku) {
            items.push(LineItem::new(sku, rng.random_range(1..=4), price));
        }
    }
    PlaceOrder::new(customer, items)
}

pub async fn run(client: &Client, args: DemoArgs, format: OutputFormat) -> Result<(), CliError> {
    let table = format == OutputFormat::Table;
    // Phase 1: place orders, `concurrency` at a time, within the time budget.
    if table {
        println!(
            "placing {} orders with {} in flight...",
            args.orders, args.concurrency
        );
    }
    let specs: Vec<PlaceOrder> = {
        let mut rng = rand::rng();
        (0..args.orders).map(|_| random_order(&mut rng)).collect()
    };
    let budget_end = Instant::now() + Duration::from_secs(args.max_seconds);
    // usize::try_from cannot fail: clap bounds concurrency to 1..=1024.
    let permits = Arc::new(Semaphore::new(
        usize::try_from(args.concurrency).unwrap_or(16),
    ));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for spec in specs {
        let client = client.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            if Instant::now() >= budget_end {
                return None;
            }
            let t0 = Instant::now();
            let res = client.place_order(spec).await;
            Some((t0.elapsed(), res))
        });
    }
    // Bounds are constants within hdrhistogram's limits (low >= 1, high >= 2 * low, sigfig <= 5).
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
    let mut placed: Vec<Order> = Vec::new();
    let mut errors = 0u64;
    let mut skipped = 0u64;
    let mut error_samples = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some((took, Ok(reply)))) => {
                let us = u64::try_from(took.as_micros())
                    .unwrap_or(MAX_LATENCY_US)
                    .clamp(1, MAX_LATENCY_US);
                latency.saturating_record(us);
                placed.push(reply.order);
            }
            Ok(Some((_, Err(e)))) => {
                errors += 1;
                if error_samples.len() < 5 {
                    error_samples.push(e.to_string());
                }
            }
            Ok(None) => skipped += 1,
            Err(join) => {
                errors += 1;
                error_samples.push(format!("placement task failed: {join}"));
            }
        }
    }
    let wall = started.elapsed();
    if placed.is_empty() {
        let cause = error_samples
            .first()
            .cloned()
            .unwrap_or_else(|| "no order was placed".into());
        return Err(ClientError::Unavailable {
            message: format!("demo placed no order: {cause}"),
        }
        .into());
    }

    // Phase 2: walk a sample through the lifecycle; one order (the fifth, or the last of a
    // smaller sample) is cancelled.
    let sample_ids: Vec<String> = placed.iter().take(12).map(|o| o.order_id.clone()).collect();
    // `placed` is not empty (checked above), so neither is the sample.
    let cancel_idx = 4.min(sample_ids.len() - 1);
    for (i, id) in sample_ids.iter().enumerate() {
        if i == cancel_idx || i % 6 == 4 {
            client
                .cancel(id, Some("customer changed their mind"))
                .await?;
            continue;
        }
        match i % 6 {
            0 | 1 => {
                client.pay(id).await?;
                client.ship(id).await?;
                client.deliver(id).await?;
            }
            2 => {
                client.pay(id).await?;
                client.ship(id).await?;
            }
            3 => {
                client.pay(id).await?;
            }
            _ => {}
        }
    }

    // Phase 3: an illegal transition is refused and changes nothing.
    let cancelled = sample_ids[cancel_idx].clone();
    let before = client
        .get_order(&cancelled, Consistency::Linearizable)
        .await?;
    let illegal_transition = match client.ship(&cancelled).await {
        Err(e @ ClientError::IllegalTransition { .. }) => format!("{}: {e}", code_name(e.code())),
        Err(e) => return Err(e.into()),
        Ok(r) => {
            return Err(CliError::DemoCheck(format!(
                "shipping cancelled order {cancelled} was accepted (status now {})",
                r.order.status
            )));
        }
    };
    let after = client
        .get_order(&cancelled, Consistency::Linearizable)
        .await?;
    if after.version != before.version || after.status != before.status {
        return Err(CliError::DemoCheck(format!(
            "refused command changed order {cancelled}"
        )));
    }

    let mut sample = Vec::new();
    for id in &sample_ids {
        sample.push(client.get_order(id, Consistency::Linearizable).await?);
    }

    // Phase 4: purchases (sagas) against limited stock.
    let purchases = if args.purchases > 0 {
        Some(run_purchases(client, &args, table).await?)
    } else {
        None
    };

    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    let figures = Figures {
        orders_requested: args.orders,
        orders_placed: placed.len() as u64,
        errors,
        skipped,
        concurrency: args.concurrency,
        wall_time_secs: wall.as_secs_f64(),
        orders_per_sec: placed.len() as f64 / wall.as_secs_f64().max(1e-9),
        place_latency_p50_ms: ms(0.50),
        place_latency_p99_ms: ms(0.99),
        place_latency_max_ms: latency.max() as f64 / 1000.0,
    };
    let report = DemoReport {
        figures,
        error_samples,
        illegal_transition,
        sample,
        purchases,
    };
    let verdict = match &report.purchases {
        Some(p) if !p.check.pass => Err(CliError::DemoCheck(format!(
            "purchases of {}: {}",
            p.check.sku,
            p.check.problems.join("; ")
        ))),
        _ => Ok(()),
    };
    if format == OutputFormat::Json {
        output::print_json(&report);
        return verdict;
    }
    println!();
    println!("shipping cancelled order {cancelled} was refused, as it must be:");
    println!("  {}", report.illegal_transition);
    println!();
    println!("a sample of orders after pay -> ship -> deliver / cancel:");
    println!("{}", output::orders_table(&report.sample));
    let f = &report.figures;
    let mut t = output::table(["figure", "value"]);
    t.add_row([
        "orders placed",
        &format!("{} of {}", f.orders_placed, f.orders_requested),
    ]);
    t.add_row(["errors", &f.errors.to_string()]);
    if f.skipped > 0 {
        t.add_row(["skipped (time budget)", &f.skipped.to_string()]);
    }
    t.add_row(["concurrency", &f.concurrency.to_string()]);
    t.add_row(["wall time", &format!("{:.3} s", f.wall_time_secs)]);
    t.add_row(["throughput", &format!("{:.0} orders/s", f.orders_per_sec)]);
    t.add_row([
        "place latency p50",
        &format!("{:.2} ms", f.place_latency_p50_ms),
    ]);
    t.add_row([
        "place latency p99",
        &format!("{:.2} ms", f.place_latency_p99_ms),
    ]);
    t.add_row([
        "place latency max",
        &format!("{:.2} ms", f.place_latency_max_ms),
    ]);
    println!("{t}");
    for e in &report.error_samples {
        println!("error sample: {e}");
    }
    if let Some(p) = &report.purchases {
        print_purchases(p);
    }
    verdict
}

// ----- Phase 4: purchases -----

/// The hot SKU of the purchase phase (a catalogue SKU): limited stock, split into buckets.
const HOT_SKU: &str = "sku-grinder";
/// Units the hot SKU gets at the start of every run (summed over its buckets).
const HOT_STOCK: u64 = 60;
/// Escrow buckets of the hot SKU.
const HOT_BUCKETS: u32 = 4;
/// The other SKUs purchases take (with ample stock, set at the start of every run).
const AMPLE_SKUS: [&str; 3] = ["sku-espresso-beans", "sku-mug", "sku-filter-papers"];
const AMPLE_STOCK: u64 = 1_000_000;
/// Buyer accounts of a run; the first `POOR_BUYERS` cannot pay for anything.
const BUYERS: usize = 40;
const POOR_BUYERS: usize = 4;
/// Opening credits (cents): plenty for every purchase of a run, and less than any item.
const RICH_CREDIT: u64 = 100_000_000;
const POOR_CREDIT: u64 = 300;
const CURRENCY: &str = "USD";
/// How long one purchase waits for its saga to end.
const PURCHASE_WAIT_MS: u32 = 10_000;
/// Attempts per purchase (retries reuse the idempotency key, so they replay, never repeat).
const PURCHASE_ATTEMPTS: u32 = 3;
/// How long the phase waits after the purchases for unfinished sagas and held units.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);

fn catalogue_price(sku: &str) -> u64 {
    CATALOGUE
        .iter()
        .find(|(s, _)| *s == sku)
        .map_or(1_000, |(_, p)| *p)
}

/// A planned purchase: the buyer (index into the run's accounts) and its lines.
#[derive(Debug, Clone)]
struct PurchaseSpec {
    buyer: usize,
    items: Vec<PurchaseItem>,
}

impl PurchaseSpec {
    /// Units of `sku` this purchase buys.
    fn units_of(&self, sku: &str) -> u64 {
        self.items
            .iter()
            .filter(|i| i.sku == sku)
            .map(|i| u64::from(i.quantity))
            .sum()
    }
}

/// A random purchase: a random buyer; half of them take one unit of the hot SKU, plus zero to
/// two distinct lines (1-2 units) of the other SKUs, at least one line in all.
fn random_purchase(rng: &mut impl Rng) -> PurchaseSpec {
    let buyer = rng.random_range(0..BUYERS);
    let mut items = Vec::new();
    let hot = rng.random_bool(0.5);
    if hot {
        items.push(PurchaseItem {
            sku: HOT_SKU.to_owned(),
            quantity: 1,
            unit_price: catalogue_price(HOT_SKU),
        });
    }
    let lines = items.len() + rng.random_range(usize::from(!hot)..=2);
    while items.len() < lines {
        let sku = AMPLE_SKUS[rng.random_range(0..AMPLE_SKUS.len())];
        if !items.iter().any(|i| i.sku == sku) {
            items.push(PurchaseItem {
                sku: sku.to_owned(),
                quantity: rng.random_range(1..=2),
                unit_price: catalogue_price(sku),
            });
        }
    }
    PurchaseSpec { buyer, items }
}

/// Account id of buyer `i` of the run tagged `run`.
fn buyer_account(run: &str, i: usize) -> String {
    format!("demo-{run}-buyer-{i:02}")
}

/// The class of a compensation reason: its part before the first `:` (e.g. `sold_out`,
/// `payment_declined` of `payment_declined:insufficient_funds`).
fn reason_class(reason: &str) -> String {
    let class = reason.split(':').next().unwrap_or("").trim();
    if class.is_empty() {
        "unspecified".to_owned()
    } else {
        class.to_owned()
    }
}

/// True for a saga status that will not change by itself.
fn saga_settled(status: &str) -> bool {
    matches!(status, "COMPLETED" | "COMPENSATED" | "NEEDS_ATTENTION")
}

/// How the purchases ended, counted.
#[derive(Debug, Default, Serialize)]
struct PurchaseTally {
    completed: u64,
    /// Compensated sagas by reason class.
    compensated: BTreeMap<String, u64>,
    /// Sagas in any other status (e.g. NEEDS_ATTENTION, or RUNNING past the deadline).
    other: BTreeMap<String, u64>,
    /// Purchases without an answer after every attempt (outcome unknown).
    errors: u64,
    /// Purchases not started before the time budget ran out.
    skipped: u64,
    /// Units of the hot SKU in completed purchases.
    hot_units_completed: u64,
}

impl PurchaseTally {
    /// Counts one purchase whose saga ended as `saga`, buying `hot_units` of the hot SKU.
    fn record(&mut self, saga: Option<&proto::Saga>, hot_units: u64) {
        match saga {
            Some(s) if s.status == "COMPLETED" => {
                self.completed += 1;
                self.hot_units_completed += hot_units;
            }
            Some(s) if s.status == "COMPENSATED" => {
                *self.compensated.entry(reason_class(&s.reason)).or_default() += 1;
            }
            Some(s) => *self.other.entry(s.status.clone()).or_default() += 1,
            None => *self.other.entry("NO_SAGA".to_owned()).or_default() += 1,
        }
    }

    fn compensated_total(&self) -> u64 {
        self.compensated.values().sum()
    }

    fn other_total(&self) -> u64 {
        self.other.values().sum()
    }

    /// Purchases that got an answer.
    fn answered(&self) -> u64 {
        self.completed + self.compensated_total() + self.other_total()
    }
}

/// The hot SKU's check: sold units (committed during the run) equal the units of completed
/// purchases, nothing is left held, nothing was sold beyond the stock, and no unit was created
/// or lost (available + held + sold = the stock set).
#[derive(Debug, Serialize)]
struct StockCheck {
    sku: String,
    stock_set: u64,
    available: u64,
    held: u64,
    /// Committed units at the end (all runs).
    committed: u64,
    /// Committed during this run.
    sold: u64,
    completed_units: u64,
    oversold: u64,
    pass: bool,
    problems: Vec<String>,
}

fn check_hot_stock(
    sku: &str,
    stock_set: u64,
    committed_before: u64,
    after: &proto::Stock,
    completed_units: u64,
    unknown_outcomes: u64,
) -> StockCheck {
    let sold = after.committed.saturating_sub(committed_before);
    let oversold = sold.saturating_sub(stock_set);
    let mut problems = Vec::new();
    if sold != completed_units {
        problems.push(format!(
            "{sold} units sold but completed purchases bought {completed_units}"
        ));
    }
    if after.held != 0 {
        problems.push(format!("{} units still held", after.held));
    }
    if oversold > 0 {
        problems.push(format!(
            "oversold by {oversold} ({sold} sold of {stock_set})"
        ));
    }
    let total = after
        .available
        .saturating_add(after.held)
        .saturating_add(sold);
    if total != stock_set {
        problems.push(format!(
            "available {} + held {} + sold {sold} = {total}, not the {stock_set} set",
            after.available, after.held
        ));
    }
    if unknown_outcomes > 0 {
        problems.push(format!(
            "{unknown_outcomes} purchases have an unknown outcome"
        ));
    }
    StockCheck {
        sku: sku.to_owned(),
        stock_set,
        available: after.available,
        held: after.held,
        committed: after.committed,
        sold,
        completed_units,
        oversold,
        pass: problems.is_empty(),
        problems,
    }
}

#[derive(Debug, Serialize)]
struct PurchaseReport {
    purchases_requested: u64,
    buyers: u64,
    buyers_without_funds: u64,
    concurrency: u64,
    outcomes: PurchaseTally,
    wall_time_secs: f64,
    purchases_per_sec: f64,
    purchase_latency_p50_ms: f64,
    purchase_latency_p99_ms: f64,
    purchase_latency_max_ms: f64,
    /// First few purchase errors, one line each.
    error_samples: Vec<String>,
    check: StockCheck,
}

/// Result of one purchase task: its spec, and the reply (after retries) with the latency of the
/// call that answered, or the last error.
type PurchaseOutcome = (
    PurchaseSpec,
    Result<(Duration, proto::PurchaseReply), ClientError>,
);

/// Stocks the SKUs, opens the buyers' accounts, runs `args.purchases` purchases `concurrency`
/// at a time (each waiting for its saga), settles unfinished sagas and checks the hot SKU.
async fn run_purchases(
    client: &Client,
    args: &DemoArgs,
    table: bool,
) -> Result<PurchaseReport, CliError> {
    let run = format!("{:08x}", rand::random::<u32>());
    if table {
        println!();
        println!(
            "stocking {HOT_SKU} with {HOT_STOCK} units in {HOT_BUCKETS} buckets, opening \
             {BUYERS} buyer accounts ({POOR_BUYERS} without funds)..."
        );
    }
    // Stock: the hot SKU gets exactly HOT_STOCK available units over all its buckets, whatever
    // an earlier run left (split is a no-op once the SKU has the buckets).
    for sku in AMPLE_SKUS {
        client.set_stock(sku, 0, AMPLE_STOCK).await?;
    }
    client.set_stock(HOT_SKU, 0, HOT_STOCK).await?;
    let split = client.split_stock(HOT_SKU, HOT_BUCKETS).await?;
    let buckets = split.buckets.max(HOT_BUCKETS);
    for b in 0..buckets {
        let share = HOT_STOCK / u64::from(buckets)
            + u64::from(u64::from(b) < HOT_STOCK % u64::from(buckets));
        client.set_stock(HOT_SKU, b, share).await?;
    }
    let before = client.get_stock(HOT_SKU, Consistency::Linearizable).await?;

    // Accounts, concurrently.
    let mut opening = JoinSet::new();
    for i in 0..BUYERS {
        let client = client.clone();
        let id = buyer_account(&run, i);
        let credit = if i < POOR_BUYERS {
            POOR_CREDIT
        } else {
            RICH_CREDIT
        };
        opening.spawn(async move { client.create_account(&id, CURRENCY, credit).await });
    }
    while let Some(joined) = opening.join_next().await {
        match joined {
            Ok(res) => {
                res?;
            }
            Err(join) => {
                return Err(CliError::DemoCheck(format!("account task failed: {join}")));
            }
        }
    }

    if table {
        println!(
            "running {} purchases with {} in flight...",
            args.purchases, args.concurrency
        );
    }
    let specs: Vec<PurchaseSpec> = {
        let mut rng = rand::rng();
        (0..args.purchases)
            .map(|_| random_purchase(&mut rng))
            .collect()
    };
    let budget_end = Instant::now() + Duration::from_secs(args.max_seconds);
    let permits = Arc::new(Semaphore::new(
        usize::try_from(args.concurrency).unwrap_or(16),
    ));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (n, spec) in specs.into_iter().enumerate() {
        let client = client.clone();
        let permits = permits.clone();
        let account = buyer_account(&run, spec.buyer);
        let key = format!("demo-{run}-purchase-{n}");
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            if Instant::now() >= budget_end {
                return None;
            }
            let purchase = Purchase {
                customer_id: account.clone(),
                account_id: account,
                items: spec.items.clone(),
                currency: CURRENCY.to_owned(),
                idempotency_key: key,
                wait: true,
                wait_timeout_ms: PURCHASE_WAIT_MS,
                ..Purchase::default()
            };
            let mut attempt = 1;
            let res = loop {
                let t0 = Instant::now();
                match client.purchase(purchase.clone()).await {
                    Ok(reply) => break Ok((t0.elapsed(), reply)),
                    Err(e) if attempt >= PURCHASE_ATTEMPTS || Instant::now() >= budget_end => {
                        break Err(e);
                    }
                    Err(_) => attempt += 1,
                }
            };
            Some((spec, res))
        });
    }
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
    let mut finished: Vec<PurchaseOutcome> = Vec::new();
    let mut tally = PurchaseTally::default();
    let mut error_samples = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some(outcome)) => {
                if let Ok((took, _)) = &outcome.1 {
                    let us = u64::try_from(took.as_micros())
                        .unwrap_or(MAX_LATENCY_US)
                        .clamp(1, MAX_LATENCY_US);
                    latency.saturating_record(us);
                }
                finished.push(outcome);
            }
            Ok(None) => tally.skipped += 1,
            Err(join) => {
                tally.errors += 1;
                error_samples.push(format!("purchase task failed: {join}"));
            }
        }
    }
    let wall = started.elapsed();

    // Sagas still running when their wait ended are followed until they end (bounded).
    let settle_end = Instant::now() + SETTLE_DEADLINE;
    for (spec, res) in &finished {
        let reply = match res {
            Ok((_, reply)) => reply,
            Err(e) => {
                tally.errors += 1;
                if error_samples.len() < 5 {
                    error_samples.push(e.to_string());
                }
                continue;
            }
        };
        let mut saga = reply.saga.clone();
        while let Some(s) = &saga {
            if saga_settled(&s.status) || Instant::now() >= settle_end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            saga = client
                .get_saga(&s.saga_id, Consistency::Linearizable)
                .await?
                .saga;
        }
        tally.record(saga.as_ref(), spec.units_of(HOT_SKU));
    }
    if tally.answered() == 0 {
        let cause = error_samples
            .first()
            .cloned()
            .unwrap_or_else(|| "no purchase was answered".into());
        return Err(ClientError::Unavailable {
            message: format!("demo completed no purchase: {cause}"),
        }
        .into());
    }

    // Held units drain as the last sagas commit or release; wait for that (bounded).
    let after = loop {
        let stock = client.get_stock(HOT_SKU, Consistency::Linearizable).await?;
        if stock.held == 0 || Instant::now() >= settle_end {
            break stock;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let unknown = tally.errors
        + tally.other.get("RUNNING").copied().unwrap_or(0)
        + tally.other.get("COMPENSATING").copied().unwrap_or(0);
    let check = check_hot_stock(
        HOT_SKU,
        HOT_STOCK,
        before.committed,
        &after,
        tally.hot_units_completed,
        unknown,
    );
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(PurchaseReport {
        purchases_requested: args.purchases,
        buyers: BUYERS as u64,
        buyers_without_funds: POOR_BUYERS as u64,
        concurrency: args.concurrency,
        purchases_per_sec: tally.answered() as f64 / wall.as_secs_f64().max(1e-9),
        outcomes: tally,
        wall_time_secs: wall.as_secs_f64(),
        purchase_latency_p50_ms: ms(0.50),
        purchase_latency_p99_ms: ms(0.99),
        purchase_latency_max_ms: latency.max() as f64 / 1000.0,
        error_samples,
        check,
    })
}

fn print_purchases(p: &PurchaseReport) {
    let o = &p.outcomes;
    println!();
    println!(
        "purchases (order + stock reservation + payment, each a saga; {} buyers, {} without funds):",
        p.buyers, p.buyers_without_funds
    );
    let mut t = output::table(["figure", "value"]);
    t.add_row([
        "purchases answered".to_owned(),
        format!("{} of {}", o.answered(), p.purchases_requested),
    ]);
    t.add_row(["completed".to_owned(), o.completed.to_string()]);
    let by_reason = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    t.add_row([
        "compensated".to_owned(),
        if o.compensated.is_empty() {
            "0".to_owned()
        } else {
            format!("{} ({})", o.compensated_total(), by_reason(&o.compensated))
        },
    ]);
    t.add_row([
        "other".to_owned(),
        if o.other.is_empty() {
            "0".to_owned()
        } else {
            format!("{} ({})", o.other_total(), by_reason(&o.other))
        },
    ]);
    t.add_row(["errors".to_owned(), o.errors.to_string()]);
    if o.skipped > 0 {
        t.add_row(["skipped (time budget)".to_owned(), o.skipped.to_string()]);
    }
    t.add_row(["concurrency".to_owned(), p.concurrency.to_string()]);
    t.add_row(["wall time".to_owned(), format!("{:.3} s", p.wall_time_secs)]);
    t.add_row([
        "throughput".to_owned(),
        format!("{:.0} purchases/s", p.purchases_per_sec),
    ]);
    t.add_row([
        "purchase latency p50".to_owned(),
        format!("{:.2} ms", p.purchase_latency_p50_ms),
    ]);
    t.add_row([
        "purchase latency p99".to_owned(),
        format!("{:.2} ms", p.purchase_latency_p99_ms),
    ]);
    t.add_row([
        "purchase latency max".to_owned(),
        format!("{:.2} ms", p.purchase_latency_max_ms),
    ]);
    let c = &p.check;
    t.add_row([
        format!("{} stock", c.sku),
        format!(
            "{} set; now available {}, held {}, committed {} ({} sold this run)",
            c.stock_set, c.available, c.held, c.committed, c.sold
        ),
    ]);
    println!("{t}");
    for e in &p.error_samples {
        println!("purchase error sample: {e}");
    }
    if c.pass {
        println!(
            "PASS: {} sold units == {} units in completed purchases, nothing held, no oversell",
            c.sold, c.completed_units
        );
    } else {
        println!("FAIL: {}", c.problems.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn random_orders_have_one_to_three_distinct_lines() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..500 {
            let o = random_order(&mut rng);
            assert!((1..=3).contains(&o.items.len()));
            let mut skus: Vec<&str> = o.items.iter().map(|i| i.sku.as_str()).collect();
            skus.sort();
            skus.dedup();
            assert_eq!(skus.len(), o.items.len());
            assert!(o.items.iter().all(|i| (1..=4).contains(&i.quantity)));
        }
    }

    #[test]
    fn random_purchases_are_well_formed_and_mix_the_hot_sku() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut with_hot = 0;
        for _ in 0..1_000 {
            let p = random_purchase(&mut rng);
            assert!(p.buyer < BUYERS);
            assert!((1..=3).contains(&p.items.len()), "{p:?}");
            let mut skus: Vec<&str> = p.items.iter().map(|i| i.sku.as_str()).collect();
            skus.sort();
            skus.dedup();
            assert_eq!(skus.len(), p.items.len());
            assert!(p.units_of(HOT_SKU) <= 1);
            with_hot += p.units_of(HOT_SKU);
            for i in &p.items {
                assert!(i.sku == HOT_SKU || AMPLE_SKUS.contains(&i.sku.as_str()));
                assert!((1..=2).contains(&i.quantity));
                // Poor buyers cannot pay for a single unit of anything.
                assert!(i.unit_price > POOR_CREDIT);
            }
        }
        assert!((300..=700).contains(&with_hot), "{with_hot}");
    }

    fn saga(status: &str, reason: &str) -> proto::Saga {
        proto::Saga {
            status: status.to_owned(),
            reason: reason.to_owned(),
            ..proto::Saga::default()
        }
    }

    #[test]
    fn tally_counts_outcomes_by_reason_class() {
        let mut t = PurchaseTally::default();
        t.record(Some(&saga("COMPLETED", "")), 1);
        t.record(Some(&saga("COMPLETED", "")), 0);
        t.record(Some(&saga("COMPENSATED", "sold_out")), 1);
        t.record(
            Some(&saga("COMPENSATED", "payment_declined:insufficient_funds")),
            0,
        );
        t.record(
            Some(&saga("COMPENSATED", "payment_declined:insufficient_funds")),
            1,
        );
        t.record(Some(&saga("COMPENSATED", "")), 0);
        t.record(Some(&saga("NEEDS_ATTENTION", "commit_stock_refused:x")), 1);
        t.record(None, 0);
        assert_eq!(t.completed, 2);
        assert_eq!(t.hot_units_completed, 1);
        assert_eq!(t.compensated["sold_out"], 1);
        assert_eq!(t.compensated["payment_declined"], 2);
        assert_eq!(t.compensated["unspecified"], 1);
        assert_eq!(t.other["NEEDS_ATTENTION"], 1);
        assert_eq!(t.other["NO_SAGA"], 1);
        assert_eq!(t.answered(), 8);
    }

    fn stock(available: u64, held: u64, committed: u64) -> proto::Stock {
        proto::Stock {
            available,
            held,
            committed,
            ..proto::Stock::default()
        }
    }

    #[test]
    fn stock_check_passes_only_when_sold_matches_completed() {
        // 60 set, 10 committed by an earlier run, 60 sold now.
        let ok = check_hot_stock("s", 60, 10, &stock(0, 0, 70), 60, 0);
        assert!(ok.pass, "{:?}", ok.problems);
        assert_eq!((ok.sold, ok.oversold), (60, 0));
        let partial = check_hot_stock("s", 60, 0, &stock(20, 0, 40), 40, 0);
        assert!(partial.pass, "{:?}", partial.problems);

        let mismatch = check_hot_stock("s", 60, 0, &stock(1, 0, 59), 58, 0);
        assert!(!mismatch.pass);
        let held = check_hot_stock("s", 60, 0, &stock(0, 2, 58), 58, 0);
        assert!(!held.pass);
        assert!(held.problems.iter().any(|p| p.contains("held")));
        let oversold = check_hot_stock("s", 60, 0, &stock(0, 0, 61), 61, 0);
        assert!(!oversold.pass);
        assert_eq!(oversold.oversold, 1);
        let created = check_hot_stock("s", 60, 0, &stock(5, 0, 60), 60, 0);
        assert!(!created.pass);
        let unknown = check_hot_stock("s", 60, 0, &stock(0, 0, 60), 60, 1);
        assert!(!unknown.pass);
    }

    #[test]
    fn reason_class_is_the_part_before_the_colon() {
        assert_eq!(reason_class("sold_out"), "sold_out");
        assert_eq!(reason_class("payment_declined:limit"), "payment_declined");
        assert_eq!(reason_class(""), "unspecified");
        assert!(saga_settled("COMPENSATED") && !saga_settled("RUNNING"));
    }
}
