//! One simulation run: start the cluster, run clients and the nemesis for `chaos` simulated
//! time while checking invariants after every tick, then heal everything, require the cluster
//! to converge and serve, and check that no acknowledged write was lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::BasicNode;

use crate::cluster::Cluster;
use crate::config::SimConfig;
use crate::history::Violation;
use crate::history::ViolationKind;
use crate::invariants::Checker;
use crate::register::Command;
use crate::register::OrderId;
use crate::register::Response;
use crate::runtime::SimRuntime;
use crate::runtime::lock;
use crate::runtime::spawn;
use crate::types::NodeId;
use crate::world::World;

/// What one run observed.
#[derive(Debug, Clone)]
pub struct SimReport {
    pub seed: u64,
    /// Hash of every traced event: equal for two runs of the same seed.
    pub trace_hash: u64,
    pub events: u64,
    /// Invariant checks run (one per tick).
    pub steps: u64,
    pub sim_time: Duration,
    pub wall_time: Duration,
    pub violations: Vec<Violation>,
    /// Client writes acknowledged (successful answers).
    pub acked: u64,
    /// Client writes whose outcome stayed unknown (timeout, leader change).
    pub unknown: u64,
    /// Entries applied somewhere (committed), i.e. the committed log length.
    pub committed: u64,
    /// Log entries crashes dropped because they were not flushed.
    pub lost_unflushed: u64,
    /// Every trace line, when `record_trace` was set.
    pub trace: Option<Vec<String>>,
}

impl SimReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// What clients observed, per order: the highest version an answer reported.
#[derive(Debug, Default)]
struct Observed {
    versions: BTreeMap<OrderId, u64>,
    acked: u64,
    unknown: u64,
}

/// Runs one simulation to completion. Deterministic: same config, same report (bar
/// `wall_time`).
pub fn run(config: SimConfig) -> SimReport {
    let wall = std::time::Instant::now();
    let mut rt = SimRuntime::with_seed(config.seed);
    let mut report = rt.block_on_seeded(drive(config));
    report.wall_time = wall.elapsed();
    report
}

async fn drive(config: SimConfig) -> SimReport {
    let seed = config.seed;
    let world = Arc::new(World::new(config));
    let cluster = Arc::new(Cluster::new(world.clone()));
    let cfg = &world.config;
    let mut checker = Checker::default();

    // Phase 1: a cluster of voters.
    for &id in &cluster.ids {
        cluster.start(id).await;
    }
    let members: BTreeMap<NodeId, BasicNode> = cluster
        .ids
        .iter()
        .map(|&id| (id, BasicNode::new(format!("n{id}"))))
        .collect();
    cluster
        .raft(1)
        .expect("node 1 was just started")
        .initialize(members)
        .await
        .expect("a fresh cluster initializes");

    // Phase 2: clients and faults, invariants after every tick.
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let clients: Vec<_> = (0..cfg.clients)
        .map(|c| spawn(client(c, cluster.clone(), stop.clone(), observed.clone())))
        .collect();
    let nemesis = cfg
        .faults
        .enabled
        .then(|| spawn(nemesis(cluster.clone(), stop.clone())));
    let chaos_ms = cfg.chaos.as_millis() as u64;
    while world.now_ms() < chaos_ms {
        tokio::time::sleep(cfg.tick).await;
        checker.check(&cluster);
    }
    stop.store(true, Ordering::SeqCst);
    if let Some(n) = nemesis {
        n.await.expect("nemesis task panicked");
    }
    for c in clients {
        c.await.expect("client task panicked");
    }

    // Phase 3: heal, converge, serve, converge again.
    cluster.net.heal();
    for id in cluster.down_nodes() {
        cluster.start(id).await;
    }
    world.event(format_args!("healed"));
    let deadline = world.now_ms() + cfg.heal_deadline.as_millis() as u64;
    let mut served = false;
    loop {
        tokio::time::sleep(cfg.tick).await;
        checker.check(&cluster);
        if converged(&cluster) {
            if served {
                break;
            }
            served = serve_one(&cluster).await;
        }
        if world.now_ms() > deadline {
            let detail = format!(
                "not converged {} ms after healing (served: {served})",
                cfg.heal_deadline.as_millis()
            );
            lock(&world.history).violation(world.now_ms(), ViolationKind::NoConvergence { detail });
            break;
        }
    }

    // Phase 4: nothing acknowledged is lost.
    {
        let observed = lock(&observed);
        let mut history = lock(&world.history);
        let now = world.now_ms();
        for &id in &cluster.ids {
            let Some(state) = cluster.sm_state(id) else {
                continue;
            };
            for (&order, &acked_version) in &observed.versions {
                let found = state.register.version(order);
                if found.is_none_or(|v| v < acked_version) {
                    history.violation(
                        now,
                        ViolationKind::AckedWriteLost {
                            order,
                            acked_version,
                            node: id,
                            found,
                        },
                    );
                    break;
                }
            }
        }
    }

    cluster.shutdown().await;
    let observed = lock(&observed);
    let history = lock(&world.history);
    SimReport {
        seed,
        trace_hash: history.trace_hash(),
        events: history.events(),
        steps: checker.steps,
        sim_time: Duration::from_millis(world.now_ms()),
        wall_time: Duration::ZERO,
        violations: history.violations().to_vec(),
        acked: observed.acked,
        unknown: observed.unknown,
        committed: history.committed().len() as u64,
        lost_unflushed: cluster.lost_unflushed(),
        trace: history.lines().map(<[String]>::to_vec),
    }
}

/// One leader, every node up and at the same applied log id as the leader's log end.
fn converged(cluster: &Cluster) -> bool {
    let metrics = cluster.metrics();
    if metrics.len() != cluster.ids.len() {
        return false;
    }
    let Some(leader) = cluster.leader() else {
        return false;
    };
    let Some((_, lm)) = metrics.iter().find(|(id, _)| *id == leader) else {
        return false;
    };
    metrics.iter().all(|(_, m)| {
        m.last_applied == lm.last_applied
            && m.last_log_index == lm.last_log_index
            && m.current_leader == Some(leader)
    })
}

/// One write on the healed cluster; true when acknowledged.
async fn serve_one(cluster: &Cluster) -> bool {
    let Some(raft) = cluster.leader().and_then(|id| cluster.raft(id)) else {
        return false;
    };
    let cmd = Command::Create { order: u64::MAX };
    let res = tokio::time::timeout(Duration::from_millis(500), raft.client_write(cmd)).await;
    let ok = matches!(res, Ok(Ok(_)));
    cluster.world.event(format_args!("serve ok={ok}"));
    ok
}

/// A client owning orders `c * 1_000_000 ..`: creates orders and moves them through versions,
/// one request at a time, following leader hints. Every answer is an observation of the
/// order's committed version, which must never go backwards.
async fn client(
    c: u64,
    cluster: Arc<Cluster>,
    stop: Arc<AtomicBool>,
    observed: Arc<Mutex<Observed>>,
) {
    let world = cluster.world.clone();
    let mut known: BTreeMap<OrderId, u64> = BTreeMap::new();
    let mut next = c * 1_000_000;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(world.range(2, 20))).await;
        let cmd = if known.is_empty() || world.chance(0.3) {
            next += 1;
            known.insert(next, 0);
            Command::Create { order: next }
        } else {
            let orders: Vec<OrderId> = known.keys().copied().collect();
            let order = orders[world.range(0, orders.len() as u64) as usize];
            Command::Transition {
                order,
                expected_version: known[&order],
            }
        };
        let target = match cluster.leader() {
            Some(id) => id,
            None => cluster.ids[world.range(0, cluster.ids.len() as u64) as usize],
        };
        let Some(raft) = cluster.raft(target) else {
            continue;
        };
        let res =
            tokio::time::timeout(Duration::from_millis(300), raft.client_write(cmd.clone())).await;
        let order = cmd.order();
        let version = match &res {
            Ok(Ok(resp)) => match resp.data {
                Response::Created { version }
                | Response::Transitioned { version }
                | Response::AlreadyExists { version } => Some(version),
                Response::VersionMismatch { current } => Some(current),
                Response::NotFound | Response::Empty => None,
            },
            _ => None,
        };
        match &res {
            Ok(Ok(resp)) => world.event(format_args!(
                "client {c} {cmd:?} -> {:?} at {}",
                resp.data, resp.log_id
            )),
            Ok(Err(e)) => world.event(format_args!("client {c} {cmd:?} -> error: {e}")),
            Err(_) => world.event(format_args!("client {c} {cmd:?} -> timeout")),
        }
        let mut obs = lock(&observed);
        match (version, &res) {
            (Some(v), _) => {
                obs.acked += 1;
                let before = obs.versions.get(&order).copied().unwrap_or(0);
                if v < before {
                    lock(&world.history).violation(
                        world.now_ms(),
                        ViolationKind::VersionWentBack {
                            order,
                            before,
                            after: v,
                        },
                    );
                }
                obs.versions.insert(order, v.max(before));
                known.insert(order, v.max(before));
            }
            (None, Ok(Ok(_))) => {
                // NotFound: fine unless a create of this order was acknowledged.
                obs.acked += 1;
                if let Some(&before) = obs.versions.get(&order) {
                    lock(&world.history).violation(
                        world.now_ms(),
                        ViolationKind::VersionWentBack {
                            order,
                            before,
                            after: 0,
                        },
                    );
                }
            }
            (None, _) => obs.unknown += 1,
        }
    }
}

/// Injects one fault every few hundred simulated ms: partitions, healing, message loss,
/// latency spikes, single-node crashes with restarts, and whole-cluster power loss.
async fn nemesis(cluster: Arc<Cluster>, stop: Arc<AtomicBool>) {
    let world = cluster.world.clone();
    let f = world.config.faults.clone();
    let ids = cluster.ids.clone();
    // Down nodes and when they come back (simulated ms).
    let mut restart_at: BTreeMap<NodeId, u64> = BTreeMap::new();
    loop {
        let wait = world.range(f.nemesis_interval_ms.0, f.nemesis_interval_ms.1);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let now = world.now_ms();
        let due: Vec<NodeId> = restart_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            restart_at.remove(&id);
            cluster.start(id).await;
        }
        let pick = |w: &World| ids[w.range(0, ids.len() as u64) as usize];
        match world.range(0, 100) {
            // A new partition replaces the previous one.
            0..20 => {
                let n = pick(&world);
                world.event(format_args!("nemesis isolate n{n}"));
                cluster.net.heal();
                cluster.net.partition(&[n], &ids);
            }
            20..30 => {
                // Two groups; with more than three nodes, a majority and a minority.
                let a = pick(&world);
                let b =
                    ids[((a + world.range(0, ids.len() as u64 - 1)) % ids.len() as u64) as usize];
                world.event(format_args!("nemesis split {{n{a},n{b}}}"));
                cluster.net.heal();
                cluster.net.partition(&[a, b], &ids);
            }
            30..50 => {
                world.event(format_args!("nemesis heal"));
                cluster.net.heal();
            }
            50..60 => {
                let loss = f.max_loss * (world.range(0, 101) as f64 / 100.0);
                world.event(format_args!("nemesis loss {loss:.2}"));
                cluster.net.set_loss(loss);
            }
            60..67 => {
                let ms = world.range(20, 200);
                world.event(format_args!("nemesis latency +{ms}ms"));
                cluster.net.set_extra_latency(ms);
            }
            67..90 => {
                let n = pick(&world);
                if cluster.is_up(n) {
                    let down = world.range(f.downtime_ms.0, f.downtime_ms.1);
                    world.event(format_args!("nemesis crash n{n} for {down}ms"));
                    cluster.crash(n).await;
                    restart_at.insert(n, world.now_ms() + down);
                }
            }
            _ => {
                world.event(format_args!("nemesis power loss"));
                for &n in &ids {
                    cluster.crash(n).await;
                }
                let down = world.range(5, 60);
                tokio::time::sleep(Duration::from_millis(down)).await;
                restart_at.clear();
                for &n in &ids {
                    cluster.start(n).await;
                }
            }
        }
    }
}
