//! The multi-raft host: every shard replica this node carries, each an openraft instance over
//! the node's one RocksDB, all sharing the node's peer connections.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_config::ClusterConfig;
use openraft::BasicNode;
use openraft::Config;
use openraft::SnapshotPolicy;
use openraft::async_runtime::WatchReceiver;
use shard_router::ShardDescriptor;
use shard_router::ShardMap;

use crate::admission::AdmissionConfig;
use crate::admission::ProposalGate;
use crate::clock::ClockMonitor;
use crate::disk::DiskGuard;
use crate::metrics::NodeMetrics;
use crate::metrics::ShardLabels;
use crate::service::error::ApiError;
use crate::storage::Engine;
use crate::storage::ShardLogStore;
use crate::storage::ShardReader;
use crate::storage::ShardStateMachine;
use crate::storage::StateMachineConfig;
use crate::transport::PeerRouter;
use crate::transport::ShardNetworkFactory;
use crate::types::NodeId;
use crate::types::Raft;
use crate::types::ShardId;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("node {0} is not in the cluster configuration")]
    UnknownNode(NodeId),
    #[error("invalid raft settings: {0}")]
    RaftConfig(String),
    #[error("shard {shard}: raft failed to start: {reason}")]
    RaftStart { shard: ShardId, reason: String },
    #[error("shard map: {0}")]
    ShardMap(#[from] shard_router::RouterError),
}

/// One shard replica on this node.
pub struct Shard {
    pub id: ShardId,
    pub raft: Raft,
    pub reader: ShardReader,
    descriptor: RwLock<ShardDescriptor>,
    /// Proposals this replica has in flight ([`crate::admission`]).
    pub proposals: ProposalGate,
}

impl Shard {
    /// The descriptor this replica routes with (range, epoch, replicas).
    pub fn descriptor(&self) -> ShardDescriptor {
        self.descriptor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Handle to every shard replica of the node. Cheap to clone.
#[derive(Clone)]
pub struct ShardHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    node_id: NodeId,
    config: ClusterConfig,
    shard_map: ShardMap,
    shards: HashMap<ShardId, Arc<Shard>>,
    engine: Engine,
    metrics: NodeMetrics,
    /// Set once when a graceful shutdown starts; never cleared ([`crate::drain`]).
    draining: AtomicBool,
    guards: NodeGuards,
}

/// What every proposal of the node passes: the clock verdict ([`crate::clock`]), admission
/// limits ([`crate::admission`]) and the disk guard ([`crate::disk`]).
#[derive(Clone)]
pub struct NodeGuards {
    pub clock: Arc<ClockMonitor>,
    pub admission: AdmissionConfig,
    pub disk: Arc<DiskGuard>,
}

/// openraft settings derived from the cluster configuration.
fn raft_config(config: &ClusterConfig) -> Result<Arc<Config>, HostError> {
    let raft = &config.raft;
    let c = Config {
        cluster_name: config.cluster_name.clone(),
        heartbeat_interval: raft.heartbeat_interval_ms,
        election_timeout_min: raft.election_timeout_min_ms,
        election_timeout_max: raft.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(raft.snapshot_logs_since_last),
        max_in_snapshot_log_to_keep: raft.max_in_snapshot_log_to_keep,
        install_snapshot_timeout: 60_000,
        enable_pre_vote: Some(true),
        // Standard Raft: a restarted leader must win a new election. openraft's default lets it
        // resume in its old term, and a leader that lost an unflushed log tail it had already
        // replicated then writes a different entry under a log id a follower holds (found by
        // the deterministic simulation, jepsen-like/sim, seeds 26/34/39).
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    c.validate()
        .map(Arc::new)
        .map_err(|e| HostError::RaftConfig(e.to_string()))
}

/// The Raft members of shard `desc`: its replicas with their gRPC addresses from `config`.
pub fn raft_members(config: &ClusterConfig, desc: &ShardDescriptor) -> BTreeMap<NodeId, BasicNode> {
    desc.replicas
        .iter()
        .filter_map(|id| {
            config.node(*id).map(|n| {
                (
                    *id,
                    BasicNode {
                        addr: n.grpc_addr.clone(),
                    },
                )
            })
        })
        .collect()
}

/// The static initial shard map of the cluster (identical on every node for the same config).
pub fn initial_shard_map(config: &ClusterConfig) -> Result<ShardMap, HostError> {
    let nodes: Vec<shard_router::PlacementNode> = config
        .nodes
        .iter()
        .map(|n| shard_router::PlacementNode {
            id: n.id,
            region: n.region.clone(),
            zone: n.zone.clone(),
        })
        .collect();
    Ok(ShardMap::initial(
        config.initial_shards,
        &nodes,
        config.effective_replication_factor(),
    )?)
}

impl ShardHost {
    /// Starts a replica of every shard placed on `node_id`. A group that has never been
    /// initialized is initialized by its preferred leader (the descriptor's first replica) alone:
    /// that node campaigns at once, so initial leaders spread over the nodes as placement
    /// planned, and no two nodes ever race to initialize one group.
    pub async fn start(
        node_id: NodeId,
        config: ClusterConfig,
        engine: Engine,
        sm_config: Arc<StateMachineConfig>,
        router: PeerRouter,
        metrics: NodeMetrics,
        guards: NodeGuards,
    ) -> Result<Self, HostError> {
        config
            .node(node_id)
            .ok_or(HostError::UnknownNode(node_id))?;
        let raft_config = raft_config(&config)?;
        let shard_map = initial_shard_map(&config)?;
        let mut shards = HashMap::new();
        for desc in shard_map.shards() {
            if !desc.replicas.contains(&node_id) {
                continue;
            }
            let log = ShardLogStore::new(engine.clone(), desc.id);
            let sm =
                ShardStateMachine::new(engine.clone(), desc.id, sm_config.clone(), metrics.clone());
            let reader = sm.reader();
            let network = ShardNetworkFactory::new(router.clone(), desc.id);
            let raft = Raft::new(node_id, raft_config.clone(), network, log, sm)
                .await
                .map_err(|e| HostError::RaftStart {
                    shard: desc.id,
                    reason: e.to_string(),
                })?;
            let initialized = raft
                .is_initialized()
                .await
                .map_err(|e| HostError::RaftStart {
                    shard: desc.id,
                    reason: e.to_string(),
                })?;
            if !initialized
                && desc.preferred_leader() == Some(node_id)
                && let Err(e) = raft.initialize(raft_members(&config, desc)).await
            {
                tracing::debug!(shard = desc.id, error = %e, "initialize skipped");
            }
            spawn_metrics_watch(desc.id, raft.clone(), metrics.clone());
            let shard = Shard {
                id: desc.id,
                raft,
                reader,
                descriptor: RwLock::new(desc.clone()),
                proposals: ProposalGate::default(),
            };
            shards.insert(desc.id, Arc::new(shard));
        }
        tracing::info!(
            node_id,
            replicas = shards.len(),
            shards = shard_map.shards().count(),
            "shard host started"
        );
        Ok(Self {
            inner: Arc::new(HostInner {
                node_id,
                config,
                shard_map,
                shards,
                engine,
                metrics,
                draining: AtomicBool::new(false),
                guards,
            }),
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    pub fn shard_map(&self) -> &ShardMap {
        &self.inner.shard_map
    }

    /// The verdict on this node's wall clock (see [`crate::clock`]).
    pub fn clock(&self) -> &ClockMonitor {
        &self.inner.guards.clock
    }

    /// Admission limits and the disk guard.
    pub fn guards(&self) -> &NodeGuards {
        &self.inner.guards
    }

    pub fn metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// The local replica of `shard`, if this node carries one.
    pub fn shard(&self, shard: ShardId) -> Option<Arc<Shard>> {
        self.inner.shards.get(&shard).cloned()
    }

    /// Every local replica, by shard id.
    pub fn shards(&self) -> impl Iterator<Item = &Arc<Shard>> {
        self.inner.shards.values()
    }

    /// True when a checksum failure stopped this node's replica of `shard`.
    pub fn is_quarantined(&self, shard: ShardId) -> bool {
        self.inner.engine.health.is_quarantined(shard)
    }

    /// [`ApiError::StorageFailed`] once a WAL sync of this node failed: from then on it
    /// acknowledges no write until it restarts ([`crate::storage::group_commit`]).
    pub fn storage_failed(&self) -> Option<ApiError> {
        self.inner
            .engine
            .committer
            .failure()
            .map(|detail| ApiError::StorageFailed {
                node: self.inner.node_id,
                detail: detail.to_string(),
            })
    }

    /// gRPC address of a node of the cluster.
    pub fn node_addr(&self, node: NodeId) -> Option<String> {
        self.inner.config.node(node).map(|n| n.grpc_addr.clone())
    }

    /// True when every local replica knows a leader (used by `/readyz`).
    pub fn all_shards_have_leader(&self) -> bool {
        self.shards()
            .all(|s| s.raft.metrics().borrow_watched().current_leader.is_some())
    }

    /// Marks the node draining for the rest of its life: `/readyz` answers 503 and proposals
    /// are refused (see [`crate::drain`]).
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
        self.inner.metrics.node_draining.set(1);
    }

    /// True once [`ShardHost::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// The local replicas whose leader this node currently is.
    pub fn led_shards(&self) -> Vec<Arc<Shard>> {
        let me = self.inner.node_id;
        self.shards()
            .filter(|s| s.raft.metrics().borrow_watched().current_leader == Some(me))
            .cloned()
            .collect()
    }

    /// Stops every local Raft instance.
    pub async fn shutdown(&self) {
        for shard in self.shards() {
            if let Err(e) = shard.raft.shutdown().await {
                tracing::warn!(shard = shard.id, error = %e, "raft shutdown");
            }
        }
    }
}

/// Mirrors a shard's Raft metrics into the node's Prometheus gauges.
fn spawn_metrics_watch(shard: ShardId, raft: Raft, metrics: NodeMetrics) {
    let labels = ShardLabels {
        shard: shard.to_string(),
    };
    let mut rx = raft.metrics();
    tokio::spawn(async move {
        loop {
            {
                let m = rx.borrow_and_update();
                let is_leader = m.current_leader == Some(m.id);
                metrics
                    .shard_is_leader
                    .get_or_create(&labels)
                    .set(i64::from(is_leader));
                metrics
                    .shard_term
                    .get_or_create(&labels)
                    .set(m.current_term as i64);
                let applied = m.last_applied.as_ref().map(|l| l.index).unwrap_or(0);
                metrics
                    .shard_applied_index
                    .get_or_create(&labels)
                    .set(applied as i64);
            }
            // Metrics change at most a few times per commit; coalesce bursts.
            tokio::time::sleep(Duration::from_millis(100)).await;
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
}
