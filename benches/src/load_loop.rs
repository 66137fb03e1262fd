//! [`LoadPlan`] and [`LoopMode`]: one measured phase of one workload against one system, in
//! closed or open loop, with a progress line on stderr; and the preload of orders that read and
//! mixed workloads operate on.

use std::io::IsTerminal;
use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::order_draft::random_order_id;
use crate::{
    BenchError, Driver, KeyChooser, LatencyStats, OpError, OpKind, OrderDraft, OrderGenerator,
    ReadConsistency, Workload,
};

/// How load is offered during a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoopMode {
    /// `clients` tasks, each issuing its next operation when the previous one finished.
    Closed { clients: usize },
    /// Operations start at `rate` per second whatever the answers; at most `max_in_flight` run
    /// at once (later arrivals are dropped and counted); latency is measured from each
    /// operation's intended start, so queueing delay is not hidden. `connections` spreads
    /// operations over that many client slots.
    Open {
        rate: f64,
        max_in_flight: usize,
        connections: usize,
    },
}

/// One measured phase: `warmup` (operations run, not recorded), then `duration` recorded.
/// Bounded in time (`warmup + duration`, plus at most `op_timeout` for operations in flight) and
/// in count (`max_ops` operations started, warm-up included).
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub workload: Workload,
    pub mode: LoopMode,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_ops: u64,
    pub op_timeout: Duration,
    pub consistency: ReadConsistency,
    pub seed: u64,
}

/// What a phase produced: the merged stats and the length of the recorded window (shorter than
/// `duration` only when `max_ops` stopped it early).
#[derive(Debug)]
pub struct PhaseOutcome {
    pub stats: LatencyStats,
    pub measured: Duration,
}

/// One operation with its random choices made up front (so the open-loop scheduler owns the
/// random state and spawned operations need none).
#[derive(Debug, Clone)]
enum PreparedOp {
    Place { draft: OrderDraft, new_id: String },
    Read { key: String },
    Transition { key: String },
}

/// Shared read-only inputs of a phase.
struct PhaseInputs {
    driver: Arc<Driver>,
    plan: LoadPlan,
    keys: Arc<Vec<String>>,
    chooser: KeyChooser,
}

impl PhaseInputs {
    fn prepare(&self, rng: &mut StdRng) -> PreparedOp {
        let key = |rng: &mut StdRng| {
            self.keys
                .get(self.chooser.next(rng))
                .cloned()
                .unwrap_or_default()
        };
        match self.plan.workload.next_op(rng) {
            OpKind::Place => PreparedOp::Place {
                draft: OrderGenerator.draft(rng),
                new_id: random_order_id(),
            },
            OpKind::Read => PreparedOp::Read { key: key(rng) },
            OpKind::Transition => PreparedOp::Transition { key: key(rng) },
        }
    }

    /// Runs `op` within the operation timeout.
    async fn execute(&self, client: usize, op: &PreparedOp) -> Result<(), OpError> {
        let d = &self.driver;
        let work = async {
            match op {
                PreparedOp::Place { draft, new_id } => {
                    d.place(client, draft, new_id).await.map(|_| ())
                }
                PreparedOp::Read { key } => d.read(client, key, self.plan.consistency).await,
                PreparedOp::Transition { key } => d.transition(client, key).await,
            }
        };
        match tokio::time::timeout(self.plan.op_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(OpError::Timeout {
                millis: self.plan.op_timeout.as_millis() as u64,
            }),
        }
    }
}

/// Counters the progress line reads.
#[derive(Default)]
struct Progress {
    ok: AtomicU64,
    errors: AtomicU64,
}

/// Runs one phase of `plan` against `driver`. `keys` are the preloaded order ids (empty for
/// `order-write`); `label` prefixes the progress line.
///
/// Errors: [`BenchError::InvalidArgs`] when the workload needs keys and `keys` is empty.
pub async fn run_phase(
    driver: Arc<Driver>,
    plan: &LoadPlan,
    keys: Arc<Vec<String>>,
    label: &str,
) -> Result<PhaseOutcome, BenchError> {
    if plan.workload.is_purchase() {
        return Err(BenchError::InvalidArgs(format!(
            "{} is a purchase workload, run by purchase_load, not the op loop",
            plan.workload
        )));
    }
    if plan.workload.needs_preload() && keys.is_empty() {
        return Err(BenchError::InvalidArgs(format!(
            "{} needs preloaded orders (--preload > 0)",
            plan.workload
        )));
    }
    let chooser = if plan.workload.zipfian_keys() {
        KeyChooser::zipfian(keys.len()).map_err(|e| BenchError::InvalidArgs(e.to_string()))?
    } else {
        KeyChooser::uniform(keys.len())
    };
    let inputs = Arc::new(PhaseInputs {
        driver,
        plan: plan.clone(),
        keys,
        chooser,
    });
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let progress = Arc::new(Progress::default());
    let printer = tokio::spawn(print_progress(
        label.to_string(),
        progress.clone(),
        start,
        plan.warmup,
        plan.duration,
    ));
    let stats = match plan.mode {
        LoopMode::Closed { clients } => {
            closed_loop(&inputs, clients, measure_from, end, &progress).await
        }
        LoopMode::Open {
            rate,
            max_in_flight,
            connections,
        } => {
            open_loop(
                &inputs,
                rate,
                max_in_flight,
                connections,
                measure_from,
                end,
                &progress,
            )
            .await
        }
    };
    printer.abort();
    let stopped = Instant::now().min(end);
    eprintln!(
        "\r{label}: done, {} ok, {} errors{}",
        stats.ok_count(),
        stats.error_count(),
        " ".repeat(30)
    );
    Ok(PhaseOutcome {
        stats,
        measured: stopped.saturating_duration_since(measure_from),
    })
}

async fn closed_loop(
    inputs: &Arc<PhaseInputs>,
    clients: usize,
    measure_from: Instant,
    end: Instant,
    progress: &Arc<Progress>,
) -> LatencyStats {
    let started = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let inputs = inputs.clone();
        let started = started.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut rng =
                StdRng::seed_from_u64(inputs.plan.seed ^ (client as u64).wrapping_mul(0x9E37));
            let mut stats = LatencyStats::new();
            while Instant::now() < end
                && started.fetch_add(1, Ordering::Relaxed) < inputs.plan.max_ops
            {
                let op = inputs.prepare(&mut rng);
                let t0 = Instant::now();
                let result = inputs.execute(client, &op).await;
                let took = t0.elapsed();
                count(&progress, &result);
                if t0 >= measure_from && t0 < end {
                    match result {
                        Ok(()) => stats.record(took),
                        Err(e) => stats.record_error(&e),
                    }
                }
            }
            stats
        });
    }
    merge_all(tasks).await
}

async fn open_loop(
    inputs: &Arc<PhaseInputs>,
    rate: f64,
    max_in_flight: usize,
    connections: usize,
    measure_from: Instant,
    end: Instant,
    progress: &Arc<Progress>,
) -> LatencyStats {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let shared = Arc::new(Mutex::new(LatencyStats::new()));
    let mut rng = StdRng::seed_from_u64(inputs.plan.seed);
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    let mut i: u64 = 0;
    while i < inputs.plan.max_ops {
        let Some(intended) = interval
            .checked_mul(u32::try_from(i).unwrap_or(u32::MAX))
            .map(|offset| start + offset)
        else {
            break;
        };
        if intended >= end {
            break;
        }
        tokio::time::sleep_until(intended).await;
        let recorded = intended >= measure_from;
        let client = (i as usize) % connections.max(1);
        i += 1;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if recorded {
                lock(&shared).record_dropped();
            }
            continue;
        };
        let op = inputs.prepare(&mut rng);
        let inputs = inputs.clone();
        let shared = shared.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let result = inputs.execute(client, &op).await;
            let took = intended.elapsed();
            drop(permit);
            count(&progress, &result);
            if recorded {
                match result {
                    Ok(()) => lock(&shared).record(took),
                    Err(e) => lock(&shared).record_error(&e),
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    lock(&shared).clone()
}

/// The stats behind a lock that is only poisoned if a recording task panicked mid-update; the
/// histogram is still usable then, so the poison is ignored.
fn lock(m: &Mutex<LatencyStats>) -> std::sync::MutexGuard<'_, LatencyStats> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn count(progress: &Progress, result: &Result<(), OpError>) {
    match result {
        Ok(()) => progress.ok.fetch_add(1, Ordering::Relaxed),
        Err(_) => progress.errors.fetch_add(1, Ordering::Relaxed),
    };
}

async fn merge_all(mut tasks: JoinSet<LatencyStats>) -> LatencyStats {
    let mut all = LatencyStats::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(stats) => all.merge(&stats),
            // A load task only ends abnormally if it panicked (a bug in a driver); its
            // observations are lost and the others still count.
            Err(e) => eprintln!("load task failed: {e}"),
        }
    }
    all
}

/// Prints `label warm-up|measuring elapsed/total ok errors rate` on stderr once a second (in
/// place on a terminal, every 5 s as lines otherwise) until aborted.
async fn print_progress(
    label: String,
    progress: Arc<Progress>,
    start: Instant,
    warmup: Duration,
    duration: Duration,
) {
    let tty = std::io::stderr().is_terminal();
    let total = (warmup + duration).as_secs_f64();
    let mut last_ok = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut seconds = 0u64;
    loop {
        tick.tick().await;
        seconds += 1;
        let elapsed = start.elapsed();
        let ok = progress.ok.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let phase = if elapsed < warmup {
            "warm-up  "
        } else {
            "measuring"
        };
        let line = format!(
            "{label}: {phase} {:>5.1}/{total:.0}s  ok {ok}  errors {errors}  {}/s",
            elapsed.as_secs_f64(),
            ok - last_ok
        );
        last_ok = ok;
        if tty {
            eprint!("\r{line}   ");
            let _ = std::io::stderr().flush();
        } else if seconds.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
}

/// Places `wanted` orders with `clients` concurrent clients and returns their ids. Stops at
/// `deadline` (elapsed) or after `wanted / 10 + 10` failures.
///
/// Errors: [`BenchError::Preload`] when fewer than `wanted` orders were stored.
pub async fn preload(
    driver: Arc<Driver>,
    wanted: usize,
    clients: usize,
    op_timeout: Duration,
    deadline: Duration,
    seed: u64,
) -> Result<Vec<String>, BenchError> {
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let max_failures = wanted / 10 + 10;
    let stop_at = Instant::now() + deadline;
    let last_error = Arc::new(Mutex::new(String::new()));
    let mut tasks = JoinSet::new();
    for client in 0..clients.max(1).min(wanted.max(1)) {
        let (driver, next, failures, last_error) = (
            driver.clone(),
            next.clone(),
            failures.clone(),
            last_error.clone(),
        );
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1_000_003 * client as u64));
            let mut ids = Vec::new();
            while Instant::now() < stop_at
                && failures.load(Ordering::Relaxed) < max_failures
                && next.fetch_add(1, Ordering::Relaxed) < wanted
            {
                let draft = OrderGenerator.draft(&mut rng);
                let new_id = random_order_id();
                let placed =
                    tokio::time::timeout(op_timeout, driver.place(client, &draft, &new_id)).await;
                match placed {
                    Ok(Ok(id)) => ids.push(id),
                    Ok(Err(e)) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        *last_error.lock().unwrap_or_else(|p| p.into_inner()) = e.to_string();
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        *last_error.lock().unwrap_or_else(|p| p.into_inner()) = "timed out".into();
                    }
                }
            }
            ids
        });
    }
    let mut keys = Vec::with_capacity(wanted);
    while let Some(joined) = tasks.join_next().await {
        // A preload task ends abnormally only if the driver panicked; its ids are lost and the
        // count check below reports the shortfall.
        if let Ok(ids) = joined {
            keys.extend(ids);
        }
    }
    if keys.len() < wanted {
        let message = last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        return Err(BenchError::Preload {
            system: driver.system(),
            done: keys.len(),
            wanted,
            message: if message.is_empty() {
                "out of time".into()
            } else {
                message
            },
        });
    }
    keys.sort();
    Ok(keys)
}
