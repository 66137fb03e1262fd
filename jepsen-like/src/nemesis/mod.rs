//! Nemeses: faults injected into the running cluster on a seeded schedule ([`schedule`]), and
//! the final heal.
//!
//! [`run_schedule`] walks the schedule: at each window's start it applies the fault (resolving
//! live targets such as "the leader of shard k" through `ClusterStatus`), at its end it heals
//! it, and it logs a [`NemesisEvent`] for each window on the recorder's clock. [`heal_all`]
//! undoes every kind of fault regardless of what the log says (flushes both iptables chains in
//! every namespace, SIGCONTs, restarts dead nodes and skewed nodes without skew).
//!
//! # Layout
//! - `schedule`: [`NemesisKind`], [`Fault`], [`generate`] (pure, deterministic per seed).
//! - `partition`: grudge math for partition shapes and their iptables rules (pure).

pub mod partition;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use nix::sys::signal::Signal;
use orderstore_client::Client;
use orderstore_client::ClusterStatus;
use serde::Deserialize;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::sync::watch;

pub use schedule::{Fault, NemesisKind, ScheduledFault, Target, Timing, generate, parse_nemesis};

use crate::cluster::Cluster;
use crate::harness_error::HarnessError;
use crate::netns;
use crate::netns::Cmd;
use crate::netns::NodeId;
use crate::recorder::Recorder;

/// How long a restarted node may take to answer `/livez`.
const RESTART_DEADLINE: Duration = Duration::from_secs(30);
/// Pause between leader transfers inside a leader-transfer window.
const TRANSFER_INTERVAL: Duration = Duration::from_secs(1);

/// One fault window as it happened, on the history's time axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisEvent {
    pub kind: String,
    /// What was done, with live targets resolved (e.g. `kill node 2 (leader of shard 3)`).
    pub description: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Problems applying or healing (the run goes on; the final heal retries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// What has to be undone at the end of a window.
#[derive(Debug)]
enum Active {
    Nothing,
    Partition(Vec<NodeId>),
    Killed(Vec<NodeId>),
    Paused(Vec<NodeId>),
    Loss(Vec<NodeId>),
    Skewed(NodeId),
}

/// Shared state of the nemesis task.
pub struct Nemesis {
    pub cluster: Arc<Mutex<Cluster>>,
    pub recorder: Arc<Recorder>,
    /// For `ClusterStatus` and `TransferLeader` (short timeouts).
    pub client: Client,
    /// When the run started (the schedule's time zero).
    pub run_start: Instant,
}

impl Nemesis {
    /// Applies and heals each fault of `schedule` at its time; stops early (healing the
    /// current fault) when `stop` turns true. Returns the log.
    pub async fn run_schedule(
        &self,
        schedule: &[ScheduledFault],
        mut stop: watch::Receiver<bool>,
    ) -> Vec<NemesisEvent> {
        let mut events = Vec::new();
        for window in schedule {
            let begin = tokio::time::Instant::from_std(self.run_start + window.start);
            if stopped_before(&mut stop, begin).await {
                break;
            }
            let start_ns = self.recorder.now_ns();
            let mut errors = Vec::new();
            let (description, active) = match self.apply(&window.fault).await {
                Ok(x) => x,
                Err((description, e)) => {
                    errors.push(format!("apply: {e}"));
                    (description, Active::Nothing)
                }
            };
            tracing::info!(kind = %window.fault.kind(), %description, "fault started");
            let end = begin + window.duration;
            if let Fault::LeaderTransfer { pick } = window.fault {
                // Keep moving leaders around until the window ends.
                let mut pick = pick + 1;
                while !stopped_before(&mut stop, tokio::time::Instant::now() + TRANSFER_INTERVAL)
                    .await
                    && tokio::time::Instant::now() < end
                {
                    match self.transfer(pick).await {
                        Ok(d) => tracing::info!(%d, "leader transfer"),
                        Err(e) => errors.push(e),
                    }
                    pick += 1;
                }
            } else {
                stopped_before(&mut stop, end).await;
            }
            if let Err(e) = self.heal(active).await {
                errors.push(format!("heal: {e}"));
            }
            tracing::info!(kind = %window.fault.kind(), "fault healed");
            events.push(NemesisEvent {
                kind: window.fault.kind().to_string(),
                description,
                start_ns,
                end_ns: self.recorder.now_ns(),
                errors,
            });
        }
        events
    }

    async fn status(&self) -> Option<ClusterStatus> {
        self.client.cluster_status().await.ok()
    }

    /// The leader of shard `pick % shards` (shards in id order), with a description; when no
    /// leader is known, node `pick % nodes + 1` stands in.
    async fn leader_of(&self, pick: u64) -> (NodeId, String) {
        let n = self.cluster.lock().await.ids().len() as u64;
        if let Some(status) = self.status().await {
            let mut shards = status.shards.clone();
            shards.sort_by_key(|s| s.id);
            if !shards.is_empty() {
                let shard = &shards[(pick % shards.len() as u64) as usize];
                if let Some(l) = shard.leader {
                    return (l, format!("node {l} (leader of shard {})", shard.id));
                }
            }
        }
        let node = pick % n + 1;
        (
            node,
            format!("node {node} (leader unknown, picked by seed)"),
        )
    }

    async fn resolve(&self, target: &Target) -> (Vec<NodeId>, String) {
        match target {
            Target::Nodes(ns) => (ns.clone(), format!("nodes {}", list(ns))),
            Target::LeaderOf { pick } => {
                let (n, d) = self.leader_of(*pick).await;
                (vec![n], d)
            }
        }
    }

    /// Starts `fault`; returns its description and what to undo, or the description and error.
    async fn apply(&self, fault: &Fault) -> Result<(String, Active), (String, HarnessError)> {
        match fault {
            Fault::Partition { shape, grudge } => {
                let d = format!("partition {shape}: {}", partition::describe(grudge));
                self.run_all(&partition::rules(grudge))
                    .await
                    .map_err(|e| (d.clone(), e))?;
                Ok((d, Active::Partition(grudge.keys().copied().collect())))
            }
            Fault::PartitionLeader { pick, extra } => {
                let (leader, who) = self.leader_of(*pick).await;
                let ids = self.cluster.lock().await.ids().to_vec();
                let mut minority = vec![leader];
                // The `extra` lowest-numbered other nodes join the leader (deterministic).
                minority.extend(ids.iter().copied().filter(|&n| n != leader).take(*extra));
                let rest: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|n| !minority.contains(n))
                    .collect();
                let grudge = partition::split(&[minority.clone(), rest]);
                let d = format!(
                    "partition leader-minority: {who}; minority {} cut from the rest",
                    list(&minority)
                );
                self.run_all(&partition::rules(&grudge))
                    .await
                    .map_err(|e| (d.clone(), e))?;
                Ok((d, Active::Partition(ids)))
            }
            Fault::Kill { target } => {
                let (nodes, who) = self.resolve(target).await;
                let d = format!("kill {who}");
                let mut cluster = self.cluster.lock().await;
                for &n in &nodes {
                    cluster.kill(n).await.map_err(|e| (d.clone(), e))?;
                }
                Ok((d, Active::Killed(nodes)))
            }
            Fault::Pause { target } => {
                let (nodes, who) = self.resolve(target).await;
                let d = format!("pause {who}");
                let mut cluster = self.cluster.lock().await;
                for &n in &nodes {
                    cluster
                        .signal(n, Signal::SIGSTOP)
                        .map_err(|e| (d.clone(), e))?;
                }
                Ok((d, Active::Paused(nodes)))
            }
            Fault::Loss { nodes, percent } => {
                let d = format!("drop {percent}% of packets into nodes {}", list(nodes));
                let p = f64::from(*percent) / 100.0;
                let cmds: Vec<Cmd> = nodes
                    .iter()
                    .map(|&n| {
                        Cmd::iptables(
                            n,
                            &format!(
                                "-A {} -m statistic --mode random --probability {p:.3} -j DROP",
                                netns::LOSS_CHAIN
                            ),
                        )
                    })
                    .collect();
                self.run_all(&cmds).await.map_err(|e| (d.clone(), e))?;
                Ok((d, Active::Loss(nodes.clone())))
            }
            Fault::ClockSkew { node, offset_secs } => {
                let d = format!("restart node {node} with its clock {offset_secs:+} s off");
                self.restart_with_offset(*node, Some(*offset_secs))
                    .await
                    .map_err(|e| (d.clone(), e))?;
                Ok((d, Active::Skewed(*node)))
            }
            Fault::LeaderTransfer { pick } => {
                let d = self.transfer(*pick).await.unwrap_or_else(|e| e);
                Ok((format!("leader transfers, first: {d}"), Active::Nothing))
            }
        }
    }

    /// Moves the leadership of shard `pick % shards` to another of its replicas.
    async fn transfer(&self, pick: u64) -> Result<String, String> {
        let status = self
            .status()
            .await
            .ok_or_else(|| "leader transfer: ClusterStatus failed".to_string())?;
        let mut shards = status.shards;
        shards.sort_by_key(|s| s.id);
        if shards.is_empty() {
            return Err("leader transfer: no shards".into());
        }
        let shard = &shards[(pick % shards.len() as u64) as usize];
        let Some(leader) = shard.leader else {
            return Err(format!("leader transfer: shard {} has no leader", shard.id));
        };
        let others: Vec<NodeId> = shard
            .replicas
            .iter()
            .copied()
            .filter(|&r| r != leader)
            .collect();
        if others.is_empty() {
            return Err(format!(
                "leader transfer: shard {} has one replica",
                shard.id
            ));
        }
        let to = others[(pick / 7 % others.len() as u64) as usize];
        self.client
            .transfer_leader(shard.id, to)
            .await
            .map_err(|e| format!("transfer shard {} {leader}->{to}: {e}", shard.id))?;
        Ok(format!("shard {} {leader}->{to}", shard.id))
    }

    async fn restart_with_offset(
        &self,
        node: NodeId,
        offset: Option<i64>,
    ) -> Result<(), HarnessError> {
        let mut cluster = self.cluster.lock().await;
        cluster.kill(node).await?;
        cluster.set_clock_offset(node, offset);
        cluster.spawn(node)?;
        cluster
            .wait_live(node, Instant::now() + RESTART_DEADLINE)
            .await
    }

    async fn heal(&self, active: Active) -> Result<(), HarnessError> {
        match active {
            Active::Nothing => Ok(()),
            Active::Partition(nodes) => self.run_all(&partition::heal_commands(&nodes)).await,
            Active::Loss(nodes) => {
                let cmds: Vec<Cmd> = nodes
                    .iter()
                    .map(|&n| Cmd::iptables(n, &format!("-F {}", netns::LOSS_CHAIN)))
                    .collect();
                self.run_all(&cmds).await
            }
            Active::Paused(nodes) => {
                let mut cluster = self.cluster.lock().await;
                for n in nodes {
                    cluster.signal(n, Signal::SIGCONT)?;
                }
                Ok(())
            }
            Active::Killed(nodes) => {
                let mut cluster = self.cluster.lock().await;
                for &n in &nodes {
                    cluster.spawn(n)?;
                }
                for &n in &nodes {
                    cluster
                        .wait_live(n, Instant::now() + RESTART_DEADLINE)
                        .await?;
                }
                Ok(())
            }
            Active::Skewed(node) => self.restart_with_offset(node, None).await,
        }
    }

    async fn run_all(&self, cmds: &[Cmd]) -> Result<(), HarnessError> {
        let tools = self.cluster.lock().await.tools().clone();
        for c in cmds {
            netns::run(&tools, c).await?;
        }
        Ok(())
    }
}

/// Undoes every fault on every node, whatever is active: flushes both chains, SIGCONTs paused
/// nodes, restarts skewed nodes without skew and starts nodes that are down. Does not wait
/// for readiness (see [`Cluster::wait_ready`]).
pub async fn heal_all(cluster: &mut Cluster) -> Result<(), HarnessError> {
    let tools = cluster.tools().clone();
    let ids = cluster.ids().to_vec();
    for &n in &ids {
        for chain in [netns::PARTITION_CHAIN, netns::LOSS_CHAIN] {
            netns::run(&tools, &Cmd::iptables(n, &format!("-F {chain}"))).await?;
        }
        if cluster.node(n).is_some_and(|p| p.paused) {
            cluster.signal(n, Signal::SIGCONT)?;
        }
    }
    for n in cluster.skewed() {
        cluster.kill(n).await?;
        cluster.set_clock_offset(n, None);
    }
    for &n in &ids {
        cluster.spawn(n)?;
    }
    Ok(())
}

/// Waits until `deadline` or until `stop` turns true; returns whether it was stopped.
async fn stopped_before(stop: &mut watch::Receiver<bool>, deadline: tokio::time::Instant) -> bool {
    if *stop.borrow() {
        return true;
    }
    let signalled = tokio::select! {
        _ = tokio::time::sleep_until(deadline) => false,
        // Err: the sender is gone, which only happens when the run is over.
        _ = stop.wait_for(|s| *s) => true,
    };
    signalled || *stop.borrow()
}

fn list(nodes: &[NodeId]) -> String {
    nodes
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
