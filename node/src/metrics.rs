//! Prometheus metrics of one node, served as text on the status port's `/metrics`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    pub shard: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProposalLabels {
    pub shard: String,
    /// `ok`, `rejected` (state machine refused), `not_leader`, `timeout`, `discarded`, `error`,
    /// `clock` (refused before proposing: the node's clock is untrusted), `draining`,
    /// `disk_full`, `overloaded` (too many proposals in flight on the shard), `storage_failed`
    /// (a WAL sync failed earlier: no write is acknowledged until restart).
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: String,
    /// gRPC status code name, `OK` on success.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvariantLabels {
    pub invariant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~3.3 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

/// Every metric of a node. Clone freely: clones share the same counters.
#[derive(Clone)]
pub struct NodeMetrics {
    inner: Arc<MetricsInner>,
}

pub struct MetricsInner {
    registry: Registry,
    /// 1 when this node leads the shard.
    pub shard_is_leader: Family<ShardLabels, Gauge>,
    pub shard_term: Family<ShardLabels, Gauge>,
    pub shard_applied_index: Family<ShardLabels, Gauge>,
    pub proposals: Family<ProposalLabels, Counter>,
    pub apply_latency: Family<ShardLabels, Histogram, fn() -> Histogram>,
    /// Committed proposals: from handing the command to Raft until its result came back
    /// (append, replication to a majority, their fsyncs, apply).
    pub proposal_latency: Histogram,
    pub fsync_latency: Histogram,
    pub fsync_batch_size: Histogram,
    pub fsync_errors: Counter,
    pub rpc_requests: Family<RpcLabels, Counter>,
    pub rpc_latency: Family<MethodLabels, Histogram, fn() -> Histogram>,
    pub raft_rpc_sent: Family<RpcLabels, Counter>,
    /// Sagas not yet ended on the shards this node leads, by status (last reconciler pass).
    pub sagas_open: Family<StatusLabels, Gauge>,
    /// Violations of cross-shard invariants found by the last reconciler pass.
    pub reconcile_divergence: Family<InvariantLabels, Gauge>,
    /// Deterministic repairs made by the reconciler.
    pub reconcile_repairs: Family<ActionLabels, Counter>,
    /// Unix time (s) when the reconciler last finished a pass; lag = now - this.
    pub reconcile_last_pass: Gauge,
    /// Last measured offset of each peer's wall clock from this node's (peer - self), in ms.
    pub clock_offset_ms: Family<PeerLabels, Gauge>,
    /// 1 while this node's clock agrees with a majority of the cluster (it may propose).
    pub clock_healthy: Gauge,
    /// 1 from the start of a graceful shutdown until the process exits ([`crate::drain`]).
    pub node_draining: Gauge,
    /// Requests, proposals and connections refused by admission control ([`crate::admission`]),
    /// by reason: `queue_full`, `queue_timeout`, `shard_proposals`, `connections`, `disk_full`.
    pub admission_rejected: Family<ReasonLabels, Counter>,
    /// Client requests waiting for a slot.
    pub admission_queued: Gauge,
    /// Open gRPC connections (clients and peers).
    pub connections_open: Gauge,
    /// 1 while the data directory's free space is below the reserve and writes are refused.
    pub disk_full: Gauge,
    /// Free bytes on the data directory's file system (last measurement).
    pub disk_free_bytes: Gauge,
    /// 1 once a WAL sync failed: the node refuses writes until it restarts
    /// ([`crate::storage::group_commit`]).
    pub storage_failed: Gauge,
    /// Client requests refused for missing or insufficient credentials, by reason
    /// (`unauthenticated`, `permission_denied`).
    pub auth_denied: Family<ReasonLabels, Counter>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("orderstore");
        let shard_is_leader = Family::<ShardLabels, Gauge>::default();
        let shard_term = Family::<ShardLabels, Gauge>::default();
        let shard_applied_index = Family::<ShardLabels, Gauge>::default();
        let proposals = Family::<ProposalLabels, Counter>::default();
        let apply_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let proposal_latency = latency_histogram();
        let fsync_latency = latency_histogram();
        let fsync_batch_size = batch_histogram();
        let fsync_errors = Counter::default();
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        let rpc_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let raft_rpc_sent = Family::<RpcLabels, Counter>::default();
        let sagas_open = Family::<StatusLabels, Gauge>::default();
        let reconcile_divergence = Family::<InvariantLabels, Gauge>::default();
        let reconcile_repairs = Family::<ActionLabels, Counter>::default();
        let reconcile_last_pass = Gauge::default();
        let clock_offset_ms = Family::<PeerLabels, Gauge>::default();
        let clock_healthy = Gauge::default();
        let node_draining = Gauge::default();
        let admission_rejected = Family::<ReasonLabels, Counter>::default();
        let admission_queued = Gauge::default();
        let connections_open = Gauge::default();
        let disk_full = Gauge::default();
        let disk_free_bytes = Gauge::default();
        let storage_failed = Gauge::default();
        let auth_denied = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "admission_rejected",
            "Requests, proposals and connections refused by admission control, by reason",
            admission_rejected.clone(),
        );
        registry.register(
            "admission_queued",
            "Client requests waiting for a request slot",
            admission_queued.clone(),
        );
        registry.register(
            "connections_open",
            "Open gRPC connections (clients and peers)",
            connections_open.clone(),
        );
        registry.register(
            "disk_full",
            "1 while free disk space is below the reserve and writes are refused",
            disk_full.clone(),
        );
        registry.register(
            "disk_free_bytes",
            "Free bytes on the data directory's file system",
            disk_free_bytes.clone(),
        );
        registry.register(
            "storage_failed",
            "1 once a WAL sync failed: writes are refused until the node restarts",
            storage_failed.clone(),
        );
        registry.register(
            "auth_denied",
            "Client requests refused for missing or insufficient credentials",
            auth_denied.clone(),
        );
        registry.register(
            "clock_offset_ms",
            "Measured offset of a peer's wall clock from this node's (peer minus self)",
            clock_offset_ms.clone(),
        );
        registry.register(
            "clock_healthy",
            "1 while this node's clock agrees with a majority of the cluster",
            clock_healthy.clone(),
        );
        registry.register(
            "node_draining",
            "1 while this node drains before stopping (leaderships handed away, /readyz 503)",
            node_draining.clone(),
        );
        registry.register(
            "sagas_open",
            "Sagas not yet ended on shards this node leads, by status",
            sagas_open.clone(),
        );
        registry.register(
            "reconcile_divergence",
            "Invariant violations found by the last reconciler pass",
            reconcile_divergence.clone(),
        );
        registry.register(
            "reconcile_repairs",
            "Repairs made by the reconciler, by action",
            reconcile_repairs.clone(),
        );
        registry.register(
            "reconcile_last_pass_timestamp_seconds",
            "Unix time of the reconciler's last finished pass",
            reconcile_last_pass.clone(),
        );
        registry.register(
            "shard_is_leader",
            "1 when this node leads the shard",
            shard_is_leader.clone(),
        );
        registry.register(
            "shard_term",
            "Current Raft term of the shard replica",
            shard_term.clone(),
        );
        registry.register(
            "shard_applied_index",
            "Last applied log index of the shard replica",
            shard_applied_index.clone(),
        );
        registry.register(
            "proposals",
            "Commands proposed to shards, by result",
            proposals.clone(),
        );
        registry.register(
            "apply_latency_seconds",
            "Time to apply one entry to the state machine",
            apply_latency.clone(),
        );
        registry.register(
            "proposal_latency_seconds",
            "Committed proposals: Raft client_write until the result (majority fsync + apply)",
            proposal_latency.clone(),
        );
        registry.register(
            "fsync_latency_seconds",
            "WAL sync latency of the group committer",
            fsync_latency.clone(),
        );
        registry.register(
            "fsync_batch_size",
            "Log appends made durable by one WAL sync",
            fsync_batch_size.clone(),
        );
        registry.register("fsync_errors", "Failed WAL syncs", fsync_errors.clone());
        registry.register(
            "rpc_requests",
            "Client gRPC requests, by method and status code",
            rpc_requests.clone(),
        );
        registry.register(
            "rpc_latency_seconds",
            "Client gRPC latency by method",
            rpc_latency.clone(),
        );
        registry.register(
            "raft_rpc_sent",
            "Raft RPCs sent to peers, by kind and outcome",
            raft_rpc_sent.clone(),
        );
        Self {
            inner: Arc::new(MetricsInner {
                registry,
                shard_is_leader,
                shard_term,
                shard_applied_index,
                proposals,
                apply_latency,
                proposal_latency,
                fsync_latency,
                fsync_batch_size,
                fsync_errors,
                rpc_requests,
                rpc_latency,
                raft_rpc_sent,
                sagas_open,
                reconcile_divergence,
                reconcile_repairs,
                reconcile_last_pass,
                clock_offset_ms,
                clock_healthy,
                node_draining,
                admission_rejected,
                admission_queued,
                connections_open,
                disk_full,
                disk_free_bytes,
                storage_failed,
                auth_denied,
            }),
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)
            .expect("encoding metrics into a String");
        out
    }

    pub fn observe_fsync(&self, took: Duration, batch: usize) {
        self.fsync_latency.observe(took.as_secs_f64());
        self.fsync_batch_size.observe(batch as f64);
    }

    pub fn observe_apply(&self, shard: u64, took: Duration) {
        self.apply_latency
            .get_or_create(&ShardLabels {
                shard: shard.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn proposal(&self, shard: u64, result: &str) {
        self.proposals
            .get_or_create(&ProposalLabels {
                shard: shard.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn rpc(&self, method: &str, code: tonic::Code, took: Duration) {
        let code = if code == tonic::Code::Ok {
            "OK".to_string()
        } else {
            format!("{code:?}")
        };
        self.rpc_requests
            .get_or_create(&RpcLabels {
                method: method.to_string(),
                code,
            })
            .inc();
        self.rpc_latency
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn admission_rejected(&self, reason: &str) {
        self.admission_rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn auth_denied(&self, reason: &str) {
        self.auth_denied
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn raft_rpc(&self, kind: &str, outcome: &str) {
        self.raft_rpc_sent
            .get_or_create(&RpcLabels {
                method: kind.to_string(),
                code: outcome.to_string(),
            })
            .inc();
    }
}

impl Deref for NodeMetrics {
    type Target = MetricsInner;
    fn deref(&self) -> &MetricsInner {
        &self.inner
    }
}
