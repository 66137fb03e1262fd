//! Running a node: storage, the multi-raft host, the gRPC server and the status port, all tied
//! to one shutdown signal. `run` takes already-bound listeners so tests can use port 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cluster_config::ClusterConfig;
use orderstore_client::Client;
use orderstore_client::TlsOptions;
use orderstore_proto::v1::cluster_admin_server::ClusterAdminServer;
use orderstore_proto::v1::inventory_service_server::InventoryServiceServer;
use orderstore_proto::v1::order_service_server::OrderServiceServer;
use orderstore_proto::v1::payment_service_server::PaymentServiceServer;
use orderstore_proto::v1::purchase_service_server::PurchaseServiceServer;
use orderstore_proto::v1::raft_transport_server::RaftTransportServer;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admission::Admission;
use crate::admission::AdmissionConfig;
use crate::admission::LimitedIncoming;
use crate::clock;
use crate::clock::ClockMonitor;
use crate::disk;
use crate::disk::DiskGuard;
use crate::drain;
use crate::gateway::Gateway;
use crate::host::NodeGuards;
use crate::host::ShardHost;
use crate::metrics::NodeMetrics;
use crate::orchestrator::FaultConfig;
use crate::orchestrator::FaultyProvider;
use crate::orchestrator::LedgerProvider;
use crate::orchestrator::Orchestrator;
use crate::orchestrator::OrchestratorConfig;
use crate::orchestrator::PaymentProvider;
use crate::order::Limits;
use crate::security::Security;
use crate::service::AdminApi;
use crate::service::InventoryApi;
use crate::service::OrderApi;
use crate::service::PaymentApi;
use crate::service::PurchaseApi;
use crate::service::access::ShardAccess;
use crate::status;
use crate::storage::Engine;
use crate::storage::StateMachineConfig;
use crate::transport::MAX_RAFT_MESSAGE_BYTES;
use crate::transport::PeerRouter;
use crate::transport::RaftTransportService;
use crate::transport::TransportTimeouts;
use crate::types::NodeId;

/// What one node needs to run.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub node_id: NodeId,
    pub config: ClusterConfig,
    /// Directory of the node's RocksDB (created if missing).
    pub data_dir: PathBuf,
    /// Saga and reservation timing.
    pub orchestrator: OrchestratorConfig,
    /// Faults injected into payment calls (tests and the chaos suite); `None` in production.
    pub payment_faults: Option<FaultConfig>,
    /// Longest wait, on shutdown, for this node's leaderships to move to other nodes before
    /// the servers stop ([`crate::drain`]); zero hands nothing away (shards then fail over
    /// by election).
    pub drain_timeout: Duration,
    /// Free space kept on the data directory's file system: below it the node refuses writes
    /// ([`crate::disk`]); 0 disables the guard.
    pub disk_reserve_bytes: u64,
}

impl NodeOptions {
    /// Options with default saga timing and no injected faults.
    pub fn new(node_id: NodeId, config: ClusterConfig, data_dir: PathBuf) -> Self {
        Self {
            node_id,
            config,
            data_dir,
            orchestrator: OrchestratorConfig::default(),
            payment_faults: None,
            drain_timeout: crate::drain::DEFAULT_DRAIN_TIMEOUT,
            disk_reserve_bytes: crate::disk::DEFAULT_DISK_RESERVE_BYTES,
        }
    }
}

/// Why a node failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
    #[error(transparent)]
    Host(#[from] crate::host::HostError),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("security: {0}")]
    Security(#[from] crate::security::SecurityError),
}

/// A signal that starts the node's shutdown when sent (or dropped).
pub struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Self(tx), rx)
    }

    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    // Either the flag is set or the sender is gone: both mean stop.
    let _ = rx.wait_for(|v| *v).await;
}

/// Runs a node until `shutdown` fires, then drains it and stops.
///
/// `grpc` serves the client API and the peer Raft transport; `status` serves HTTP status.
/// Shutdown order: the clock monitor stops at once (so it cannot re-enable elections); the node
/// drains ([`crate::drain`]: `/readyz` 503, proposals refused, leaderships handed away, at most
/// `opts.drain_timeout`) while both servers keep serving; then the gRPC server stops accepting
/// and finishes in-flight requests, the status port closes, the orchestrator stops and last
/// every Raft instance.
pub async fn run(
    opts: NodeOptions,
    grpc: TcpListener,
    status_listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let metrics = NodeMetrics::new();
    let security = Security::load(&opts.config.security, opts.node_id, &opts.data_dir)?;
    let engine = Engine::open(&opts.data_dir, metrics.clone())?;
    let admission_config = AdmissionConfig::from(&opts.config.limits);
    let max_message = admission_config.max_message_bytes;
    let disk = DiskGuard::new(&opts.data_dir, opts.disk_reserve_bytes);
    let disk_task = disk::spawn_monitor(disk.clone(), metrics.clone(), shutdown.clone());
    // Tells when the last handle on the database is gone (see the end of `run`).
    let db_alive = Arc::downgrade(&engine.db);
    let peers = opts
        .config
        .nodes
        .iter()
        .filter(|n| n.id != opts.node_id)
        .map(|n| (n.id, n.grpc_addr.clone()))
        .collect::<Vec<_>>();
    let router = PeerRouter::new(
        opts.node_id,
        peers.clone(),
        TransportTimeouts::default(),
        metrics.clone(),
        security.tls.as_ref().map(|t| t.client_config()).as_ref(),
    )?;
    let limits = Arc::new(Limits::default());
    let sm_config = Arc::new(StateMachineConfig {
        limits: *limits,
        idempotency_ttl_ms: opts.config.idempotency_ttl_secs.saturating_mul(1000),
        retry_policy: opts.orchestrator.retry.clone(),
        ..StateMachineConfig::default()
    });
    let clock = Arc::new(ClockMonitor::new(
        opts.config.nodes.len(),
        opts.config.raft.max_clock_offset_ms,
    ));
    let host = ShardHost::start(
        opts.node_id,
        opts.config.clone(),
        engine,
        sm_config.clone(),
        router.clone(),
        metrics.clone(),
        NodeGuards {
            clock: clock.clone(),
            admission: admission_config,
            disk,
        },
    )
    .await?;
    let clock_task = clock::spawn_monitor(
        clock,
        router,
        host.clone(),
        peers.iter().map(|(id, _)| *id).collect(),
        metrics.clone(),
        shutdown.clone(),
    );

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<OrderServiceServer<OrderApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(orderstore_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| std::io::Error::other(e.to_string()))?;

    // The node's own SDK client: participant calls of sagas and fan-out reads reach the
    // shards this node does not lead through it, with the SDK's routing and retries.
    // With TLS it presents the node certificate: peers take the `node` role from it.
    let mut internal = Client::builder()
        .endpoints(opts.config.nodes.iter().map(|n| n.grpc_addr.as_str()))
        .request_timeout(std::time::Duration::from_secs(6))
        .deadline(std::time::Duration::from_secs(10));
    if let Some(tls) = &security.tls {
        internal = internal.tls(
            TlsOptions::new(tls.ca_pem().to_vec())
                .identity(tls.cert_pem().to_vec(), tls.key_pem().to_vec()),
        );
    }
    let internal = internal
        .build()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let ledger = LedgerProvider::new(internal.clone());
    let provider: Arc<dyn PaymentProvider> = match opts.payment_faults.clone() {
        Some(faults) => {
            tracing::warn!(?faults, "payment faults are injected");
            Arc::new(FaultyProvider::new(ledger, faults))
        }
        None => Arc::new(ledger),
    };
    // Fires once the drain is over: what the servers and the orchestrator stop on.
    let (drained_tx, drained) = watch::channel(false);
    let orchestrator = Orchestrator::start(
        ShardAccess::new(host.clone()),
        internal.clone(),
        provider,
        opts.orchestrator.clone(),
        drained.clone(),
    );
    let inventory = InventoryServiceServer::new(InventoryApi::new(
        host.clone(),
        internal.clone(),
        Arc::new(sm_config.stock_limits),
    ))
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let payments = PaymentServiceServer::new(PaymentApi::new(
        host.clone(),
        Arc::new(sm_config.payment_limits),
    ))
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let purchases = PurchaseServiceServer::new(PurchaseApi::new(
        host.clone(),
        internal,
        orchestrator.clone(),
        limits.clone(),
    ))
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let orders = OrderServiceServer::new(OrderApi::new(host.clone(), limits))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let admin = ClusterAdminServer::new(AdminApi::new(
        host.clone(),
        security.tls.as_ref().map(|t| t.client_config()).as_ref(),
    )?)
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let raft = RaftTransportServer::new(RaftTransportService::new(host.clone()))
        .max_decoding_message_size(MAX_RAFT_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_RAFT_MESSAGE_BYTES);

    tracing::info!(
        node_id = opts.node_id,
        grpc = %grpc.local_addr()?,
        status = %status_listener.local_addr()?,
        "orderd serving"
    );
    let status_task = tokio::spawn(status::serve(
        status_listener,
        host.clone(),
        wait_for(drained.clone()),
    ));
    let drain_task = {
        let host = host.clone();
        let timeout = opts.drain_timeout;
        tokio::spawn(async move {
            wait_for(shutdown).await;
            tracing::info!(node_id = host.node_id(), "shutdown requested: draining");
            drain::drain(&host, timeout).await;
            tracing::info!(
                node_id = host.node_id(),
                "stopping the gRPC server (in-flight requests finish)"
            );
            let _ = drained_tx.send(true);
        })
    };
    let gateway = Gateway {
        node_id: opts.node_id,
        admission: Admission::new(admission_config, metrics.clone()),
        auth: security.auth.clone(),
        audit: security.audit.clone(),
        metrics: metrics.clone(),
    };
    let incoming = LimitedIncoming::new(grpc, admission_config.max_connections, metrics);
    // HTTP/2 streams one connection may have open at once: past the node's request slots
    // and queue, a stream could only be refused, so the client waits for a free stream
    // instead and the node never buffers more requests than it can admit. Peer Raft traffic
    // shares these connections, hence the floor.
    let max_streams = admission_config
        .max_inflight
        .saturating_add(admission_config.max_queued)
        .max(MIN_STREAMS_PER_CONNECTION);
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(u32::try_from(max_streams).unwrap_or(u32::MAX));
    if let Some(tls) = &security.tls {
        builder = builder.tls_config(tls.server_config())?;
    }
    let served = builder
        .layer(gateway)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(orders)
        .add_service(inventory)
        .add_service(payments)
        .add_service(purchases)
        .add_service(admin)
        .add_service(raft)
        .serve_with_incoming_shutdown(incoming, wait_for(drained))
        .await;
    // The server also ends on its own error; the drain task then still waits for `shutdown`.
    drain_task.abort();
    tracing::info!(
        node_id = opts.node_id,
        "gRPC server stopped: stopping the orchestrator and raft"
    );
    orchestrator.stop().await;
    let _ = clock_task.await;
    let _ = disk_task.await;
    let _ = drain_task.await;
    host.shutdown().await;
    if let Ok(Err(e)) = status_task.await {
        tracing::warn!(error = %e, "status server");
    }
    drop((orchestrator, host));
    wait_until_closed(&db_alive).await;
    served?;
    Ok(())
}

/// The least [`tonic::transport::Server::max_concurrent_streams`] a connection gets, whatever
/// the admission limits.
const MIN_STREAMS_PER_CONNECTION: usize = 1024;

/// How long `run` waits, at the end, for stragglers (a WAL sync or a read on a blocking thread)
/// to release the database.
const DB_CLOSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until nothing holds the database any more, so that when [`run`] returns the data
/// directory's RocksDB lock is free and the node can be started again over it at once (a
/// rolling restart in one process: the tests; a supervisor restarting the process is
/// unaffected). Logs and gives up at [`DB_CLOSE_DEADLINE`].
async fn wait_until_closed(db: &std::sync::Weak<rocksdb::DB>) {
    let deadline = tokio::time::Instant::now() + DB_CLOSE_DEADLINE;
    while db.strong_count() > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                handles = db.strong_count(),
                "the database is still held after shutdown"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
