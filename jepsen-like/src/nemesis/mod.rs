//! Nemeses: faults injected into the running cluster on a seeded schedule ([`schedule`]), and
//! the final heal.
//!
//! [`run_schedule`] walks the schedule: at each window's start it applies the fault (resolving
//! live targets such as "the leader of shard k" through `ClusterStatus`), at its end it heals
//! it, and it logs a [`NemesisEvent`] for each window on the recorder's clock. [`heal_all`]
//! undoes every kind of fault regardless of what the log says (flushes the iptables fault
//! chains in every namespace, removes every proxy toxic, SIGCONTs, restarts dead nodes and
//! skewed nodes without skew).
//!
//! `lost-writes` SIGKILLs a node, then tells its lazyfs ([`crate::node_fs`]) to drop what the
//! node had not fsynced (`clear-cache`), and restarts it when the window ends; the event
//! records what was dropped ([`LostWrites`]). It needs the data dirs on lazyfs (the runner
//! turns that on when the kind is selected).
//!
//! Proxy faults (`delay`, `bandwidth`, `stall`, `reset`) act on the cluster's
//! [`Proxy`](crate::proxy::Proxy), which runs whenever one of them was selected.
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

pub use schedule::{
    Fault, Links, NemesisKind, ScheduledFault, Target, Timing, generate, parse_nemesis,
};

use crate::cluster::ClockShift;
use crate::cluster::Cluster;
use crate::harness_error::HarnessError;
use crate::netns;
use crate::netns::Cmd;
use crate::netns::NodeId;
use crate::node_fs;
use crate::proxy::Latency;
use crate::proxy::Link;
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
    /// `lost-writes` windows: what `clear-cache` dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_writes: Option<LostWrites>,
}

/// What one `lost-writes` fault dropped: lazyfs's `clear-cache` reply for the killed node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostWrites {
    pub node: NodeId,
    /// Files that had un-fsynced changes.
    pub files: u64,
    /// Un-fsynced bytes dropped.
    pub bytes: u64,
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
    Duplicate(Vec<NodeId>),
    Proxy(Vec<Link>),
    /// Killed and its un-fsynced writes dropped; restarted by the heal.
    LostWrites(NodeId, Option<LostWrites>),
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
            let (description, mut active) = match self.apply(&window.fault).await {
                Ok(x) => x,
                Err((description, e)) => {
                    errors.push(format!("apply: {e}"));
                    (description, Active::Nothing)
                }
            };
            tracing::info!(kind = %window.fault.kind(), %description, "fault started");
            let lost_writes = match &mut active {
                Active::LostWrites(_, dropped) => dropped.take(),
                _ => None,
            };
            if matches!(window.fault, Fault::LostWrites { .. })
                && lost_writes.is_none()
                && errors.is_empty()
            {
                errors.push(format!("apply: {description}"));
            }
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
                lost_writes,
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
            Fault::LostWrites { target } => {
                let (nodes, who) = self.resolve(target).await;
                let node = nodes[0];
                let d = format!("lost-writes {who}");
                let socket = {
                    let mut cluster = self.cluster.lock().await;
                    let Some(socket) = cluster.lazyfs_control(node) else {
                        return Err((
                            d,
                            HarnessError::Lazyfs(
                                "the data dirs are not on lazyfs (a harness bug: the runner \
                                 mounts them when lost-writes is selected)"
                                    .into(),
                            ),
                        ));
                    };
                    cluster.kill(node).await.map_err(|e| (d.clone(), e))?;
                    socket
                };
                // The node is dead (reaped), so nothing writes to its filesystem any more.
                match node_fs::clear_cache(socket).await {
                    Ok(r) => Ok((
                        format!(
                            "{d}: SIGKILL, clear-cache dropped {} bytes in {} files",
                            r.bytes, r.files
                        ),
                        Active::LostWrites(
                            node,
                            Some(LostWrites {
                                node,
                                files: r.files,
                                bytes: r.bytes,
                            }),
                        ),
                    )),
                    Err(e) => {
                        // Killed but nothing dropped: restart it anyway at the window's end.
                        tracing::error!(node, error = %e, "clear-cache failed");
                        Ok((
                            format!("{d}: SIGKILL, clear-cache FAILED: {e}"),
                            Active::LostWrites(node, None),
                        ))
                    }
                }
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
            Fault::ClockSkew {
                node,
                offset_secs,
                rate_pct,
            } => {
                let shift = ClockShift {
                    offset_secs: *offset_secs,
                    rate_pct: *rate_pct,
                };
                let d = format!("restart node {node} with its clock {shift}");
                self.restart_with_offset(*node, Some(shift))
                    .await
                    .map_err(|e| (d.clone(), e))?;
                Ok((d, Active::Skewed(*node)))
            }
            Fault::LeaderTransfer { pick } => {
                let d = self.transfer(*pick).await.unwrap_or_else(|e| e);
                Ok((format!("leader transfers, first: {d}"), Active::Nothing))
            }
            Fault::Duplicate { nodes, percent } => {
                let d = format!("duplicate {percent}% of packets from nodes {}", list(nodes));
                let all = self.cluster.lock().await.ids().to_vec();
                let cmds: Vec<Cmd> = nodes
                    .iter()
                    .flat_map(|&n| duplicate_rules(n, &all, *percent))
                    .collect();
                self.run_all(&cmds).await.map_err(|e| (d.clone(), e))?;
                Ok((d, Active::Duplicate(nodes.clone())))
            }
            Fault::Delay {
                links,
                latency_ms,
                jitter_ms,
            } => {
                let d = format!("delay {latency_ms} ms ± {jitter_ms} ms on {links}");
                let latency = Latency {
                    base: Duration::from_millis(*latency_ms),
                    jitter: Duration::from_millis(*jitter_ms),
                };
                self.on_proxy(&d, *links, |p, ls| {
                    p.update_both(ls, |t| t.latency = Some(latency))
                })
                .await
            }
            Fault::Bandwidth {
                links,
                bytes_per_sec,
            } => {
                let d = format!("limit {links} to {bytes_per_sec} bytes/s each way");
                self.on_proxy(&d, *links, |p, ls| {
                    p.update_both(ls, |t| t.bandwidth = Some(*bytes_per_sec))
                })
                .await
            }
            Fault::Stall { links } => {
                let d = format!("stall {links}");
                self.on_proxy(&d, *links, |p, ls| p.update_both(ls, |t| t.stall = true))
                    .await
            }
            Fault::Reset { links, mode } => {
                let d = format!("reset the connections of {links} ({mode})");
                self.on_proxy(&d, *links, |p, ls| p.reset(ls, *mode)).await
            }
        }
    }

    /// Applies `change` to the proxy's `links`; fails when no proxy runs.
    async fn on_proxy(
        &self,
        description: &str,
        links: Links,
        change: impl FnOnce(&crate::proxy::Proxy, &[Link]),
    ) -> Result<(String, Active), (String, HarnessError)> {
        let cluster = self.cluster.lock().await;
        let Some(proxy) = cluster.proxy() else {
            return Err((
                description.to_string(),
                HarnessError::Usage(
                    "no proxy runs (a harness bug: it starts when a proxy nemesis is selected)"
                        .into(),
                ),
            ));
        };
        let ls = proxy.links_of(links.node());
        change(proxy, &ls);
        Ok((
            format!("{description} ({} proxied links)", ls.len()),
            Active::Proxy(ls),
        ))
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
        offset: Option<ClockShift>,
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
            Active::LostWrites(node, _) => {
                let mut cluster = self.cluster.lock().await;
                cluster.spawn(node)?;
                cluster
                    .wait_live(node, Instant::now() + RESTART_DEADLINE)
                    .await
            }
            Active::Skewed(node) => self.restart_with_offset(node, None).await,
            Active::Duplicate(nodes) => {
                let cmds: Vec<Cmd> = nodes
                    .iter()
                    .map(|&n| Cmd::iptables(n, &format!("-t mangle -F {}", netns::DUP_CHAIN)))
                    .collect();
                self.run_all(&cmds).await
            }
            Active::Proxy(links) => {
                if let Some(p) = self.cluster.lock().await.proxy() {
                    p.clear(&links);
                }
                Ok(())
            }
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

/// Undoes every fault on every node, whatever is active: flushes the partition, loss and
/// duplication chains, removes every proxy toxic, SIGCONTs paused nodes, restarts skewed
/// nodes without skew and starts nodes that are down. Does not wait for readiness (see
/// [`Cluster::wait_ready`]).
pub async fn heal_all(cluster: &mut Cluster) -> Result<(), HarnessError> {
    let tools = cluster.tools().clone();
    let ids = cluster.ids().to_vec();
    if let Some(p) = cluster.proxy() {
        p.heal();
    }
    for &n in &ids {
        for flush in [
            format!("-F {}", netns::PARTITION_CHAIN),
            format!("-F {}", netns::LOSS_CHAIN),
            format!("-t mangle -F {}", netns::DUP_CHAIN),
        ] {
            netns::run(&tools, &Cmd::iptables(n, &flush)).await?;
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

/// Rules that make node `node` send a copy of `percent`% of its outbound packets (`TEE`, in
/// `mangle POSTROUTING`, i.e. after the proxy's DNAT) to their own destination: every other
/// node of `all` and the bridge (clients and the proxy).
pub fn duplicate_rules(node: NodeId, all: &[NodeId], percent: u32) -> Vec<Cmd> {
    let p = f64::from(percent) / 100.0;
    all.iter()
        .filter(|&&n| n != node)
        .map(|&n| netns::node_ip(n))
        .chain([netns::BRIDGE_ADDR.to_string()])
        .map(|dest| {
            Cmd::iptables(
                node,
                &format!(
                    "-t mangle -A {} -d {dest} -m statistic --mode random --probability {p:.3} -j TEE --gateway {dest}",
                    netns::DUP_CHAIN
                ),
            )
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_rules_copy_to_each_peer_and_the_bridge() {
        let cmds: Vec<String> = duplicate_rules(2, &[1, 2, 3], 30)
            .iter()
            .map(|c| c.to_string())
            .collect();
        let rule = |dest: &str| {
            format!(
                "ip netns exec osj-n2 iptables -w -t mangle -A OSJ-DUP -d {dest} -m statistic \
                 --mode random --probability 0.300 -j TEE --gateway {dest}"
            )
        };
        assert_eq!(
            cmds,
            [rule("10.213.0.1"), rule("10.213.0.3"), rule("10.213.0.254")]
        );
    }
}
