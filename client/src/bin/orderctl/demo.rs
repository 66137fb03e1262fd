//! `orderctl demo`: the README's tour. Places orders concurrently, walks a sample through
//! pay -> ship -> deliver, cancels a few, shows an illegal transition being refused, and reports
//! measured figures (throughput, place latency percentiles). Bounded in count and time.

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
use orderstore_client::code_name;
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
    };
    if format == OutputFormat::Json {
        output::print_json(&report);
        return Ok(());
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
    Ok(())
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
}
