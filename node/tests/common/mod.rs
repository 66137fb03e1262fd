//! In-process cluster harness: real `orderd` nodes (`orderstore_node::run`) on loopback port 0
//! with temp data dirs, driven through the real gRPC API.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use cluster_config::ClusterConfig;
use orderstore_node::NodeOptions;
use orderstore_node::Shutdown;
use orderstore_node::orchestrator::FaultConfig;
use orderstore_node::orchestrator::OrchestratorConfig;
use orderstore_proto::v1 as pb;
use orderstore_proto::v1::cluster_admin_client::ClusterAdminClient;
use orderstore_proto::v1::order_service_client::OrderServiceClient;
use prost::Message;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::transport::ClientTlsConfig;

/// Upper bound for any wait in these tests; a healthy run needs a small fraction of it.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct TestNode {
    pub id: u64,
    pub grpc_addr: String,
    pub status_addr: String,
    pub data_dir: PathBuf,
    running: Option<(Shutdown, JoinHandle<()>)>,
}

pub struct TestCluster {
    pub config: ClusterConfig,
    pub nodes: BTreeMap<u64, TestNode>,
    pub orchestrator: OrchestratorConfig,
    pub payment_faults: Option<FaultConfig>,
    /// TLS settings of the harness's own connections (a secure cluster).
    pub client_tls: Option<ClientTlsConfig>,
    disk_reserve_bytes: Option<u64>,
    _dir: TempDir,
}

/// Settings for a test cluster.
pub struct Spec {
    pub nodes: usize,
    pub shards: u32,
    pub snapshot_logs_since_last: u64,
    pub max_in_snapshot_log_to_keep: u64,
    pub idempotency_ttl_secs: u64,
    /// Saga timing of every node.
    pub orchestrator: OrchestratorConfig,
    /// Payment faults injected on every node.
    pub payment_faults: Option<FaultConfig>,
    /// TOML appended to the generated configuration before the nodes (e.g. `[security]`,
    /// `[limits]` tables).
    pub extra_toml: String,
    /// Directory holding the nodes' data directories (default: a fresh temp dir).
    pub data_root: Option<PathBuf>,
    /// Free-space reserve of every node (default: [`NodeOptions::new`]'s).
    pub disk_reserve_bytes: Option<u64>,
    /// TLS settings for the harness's own connections, for a cluster with `[security] tls`;
    /// their client certificate should carry a role allowed to read node status.
    pub client_tls: Option<ClientTlsConfig>,
    /// Build every node's data directory from this backup before starting it.
    pub restore_from: Option<PathBuf>,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            nodes: 3,
            shards: 4,
            snapshot_logs_since_last: 5000,
            max_in_snapshot_log_to_keep: 1000,
            idempotency_ttl_secs: 86_400,
            orchestrator: OrchestratorConfig::default(),
            payment_faults: None,
            extra_toml: String::new(),
            data_root: None,
            disk_reserve_bytes: None,
            client_tls: None,
            restore_from: None,
        }
    }
}

/// Logs of the nodes under test, shown for failing tests (filter with `RUST_LOG`).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

impl TestCluster {
    pub async fn start(spec: Spec) -> Self {
        init_logging();
        let dir = TempDir::new().expect("temp dir");
        let mut toml = format!(
            "cluster_name = \"test\"\ninitial_shards = {}\nreplication_factor = 3\n\
             idempotency_ttl_secs = {}\n\
             [raft]\nheartbeat_interval_ms = 100\nelection_timeout_min_ms = 400\n\
             election_timeout_max_ms = 800\nsnapshot_logs_since_last = {}\nmax_in_snapshot_log_to_keep = {}\n",
            spec.shards,
            spec.idempotency_ttl_secs,
            spec.snapshot_logs_since_last,
            spec.max_in_snapshot_log_to_keep
        );
        toml.push_str(&spec.extra_toml);
        toml.push('\n');
        let mut listeners = BTreeMap::new();
        for id in 1..=spec.nodes as u64 {
            let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
            let status = TcpListener::bind("127.0.0.1:0").await.expect("bind status");
            let (g, s) = (
                grpc.local_addr().unwrap().to_string(),
                status.local_addr().unwrap().to_string(),
            );
            toml.push_str(&format!(
                "[[nodes]]\nid = {id}\ngrpc_addr = \"{g}\"\nstatus_addr = \"{s}\"\nzone = \"z{id}\"\n"
            ));
            listeners.insert(id, (grpc, status));
        }
        let config = ClusterConfig::from_toml_str(&toml).expect("config parses");
        config.validate().expect("config valid");
        let mut cluster = TestCluster {
            config,
            nodes: BTreeMap::new(),
            orchestrator: spec.orchestrator.clone(),
            payment_faults: spec.payment_faults.clone(),
            client_tls: spec.client_tls.clone(),
            disk_reserve_bytes: spec.disk_reserve_bytes,
            _dir: dir,
        };
        let data_root = spec
            .data_root
            .clone()
            .unwrap_or_else(|| cluster._dir.path().to_path_buf());
        for (id, (grpc, status)) in listeners {
            let data_dir = data_root.join(format!("node-{id}"));
            let node = TestNode {
                id,
                grpc_addr: grpc.local_addr().unwrap().to_string(),
                status_addr: status.local_addr().unwrap().to_string(),
                data_dir,
                running: None,
            };
            if let Some(from) = &spec.restore_from {
                orderstore_node::backup::restore_node(from, &cluster.config, id, &node.data_dir)
                    .await
                    .expect("restore the node's data directory");
            }
            cluster.nodes.insert(id, node);
            cluster.spawn(id, grpc, status);
        }
        cluster.wait_for_leaders().await;
        cluster
    }

    fn spawn(&mut self, id: u64, grpc: TcpListener, status: TcpListener) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let mut opts = NodeOptions::new(id, self.config.clone(), node.data_dir.clone());
        opts.orchestrator = self.orchestrator.clone();
        opts.payment_faults = self.payment_faults.clone();
        if let Some(b) = self.disk_reserve_bytes {
            opts.disk_reserve_bytes = b;
        }
        let (shutdown, rx) = Shutdown::new();
        let task = tokio::spawn(async move {
            if let Err(e) = orderstore_node::run(opts, grpc, status, rx).await {
                panic!("node {id} failed: {e}");
            }
        });
        node.running = Some((shutdown, task));
    }

    /// Stops node `id` (its servers and every Raft instance) and waits until it is down.
    pub async fn stop_node(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("known node");
        if let Some((shutdown, task)) = node.running.take() {
            shutdown.trigger();
            task.await.expect("node task");
        }
    }

    /// Starts node `id` again on the same addresses and data dir. Retries while the previous
    /// instance's RocksDB lock is still being released (a condition, polled with a deadline).
    pub async fn start_node(&mut self, id: u64) {
        let (grpc_addr, status_addr) = {
            let n = &self.nodes[&id];
            (n.grpc_addr.clone(), n.status_addr.clone())
        };
        let grpc = TcpListener::bind(&grpc_addr).await.expect("rebind grpc");
        let status = TcpListener::bind(&status_addr)
            .await
            .expect("rebind status");
        self.spawn(id, grpc, status);
    }

    pub fn live_nodes(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.running.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// An SDK client over every node of the cluster (running or not).
    pub fn sdk(&self) -> orderstore_client::Client {
        orderstore_client::Client::builder()
            .endpoints(self.nodes.values().map(|n| n.grpc_addr.clone()))
            .request_timeout(Duration::from_secs(3))
            .deadline(Duration::from_secs(20))
            .max_retries(50)
            .build()
            .expect("client settings are valid")
    }

    /// The shards node `id` reports leading, or `None` if it does not answer.
    pub async fn led_by(&self, id: u64) -> Option<Vec<u64>> {
        let st = self.node_status(id).await?;
        Some(
            st.shards
                .iter()
                .filter(|s| s.leader == id)
                .map(|s| s.id)
                .collect(),
        )
    }

    pub fn status_addr(&self, id: u64) -> String {
        self.nodes[&id].status_addr.clone()
    }

    pub fn addr(&self, id: u64) -> String {
        self.nodes[&id].grpc_addr.clone()
    }

    /// A connection to node `id` (over TLS with [`TestCluster::client_tls`] when set).
    pub async fn channel(&self, id: u64) -> Result<Channel, tonic::transport::Error> {
        match &self.client_tls {
            Some(tls) => {
                tonic::transport::Endpoint::from_shared(format!("https://{}", self.addr(id)))?
                    .tls_config(tls.clone())?
                    .connect()
                    .await
            }
            None => {
                tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr(id)))?
                    .connect()
                    .await
            }
        }
    }

    pub async fn orders(&self, id: u64) -> OrderServiceClient<Channel> {
        OrderServiceClient::new(self.channel(id).await.expect("connect"))
    }

    pub async fn admin(&self, id: u64) -> ClusterAdminClient<Channel> {
        ClusterAdminClient::new(self.channel(id).await.expect("connect"))
    }

    /// Node `id`'s own view of its replicas, or `None` if it does not answer.
    pub async fn node_status(&self, id: u64) -> Option<pb::NodeStatusReply> {
        let mut c = ClusterAdminClient::new(self.channel(id).await.ok()?);
        c.node_status(pb::NodeStatusRequest {})
            .await
            .ok()
            .map(|r| r.into_inner())
    }

    /// The leader of `shard` as reported by a live replica that leads it.
    pub async fn leader_of(&self, shard: u64) -> Option<u64> {
        for id in self.live_nodes() {
            if let Some(st) = self.node_status(id).await
                && st.shards.iter().any(|s| s.id == shard && s.leader == id)
            {
                return Some(id);
            }
        }
        None
    }

    /// Waits until every shard has a leader among the live nodes.
    pub async fn wait_for_leaders(&self) {
        let shards: Vec<u64> = (1..=self.config.initial_shards as u64).collect();
        eventually("every shard has a leader", || async {
            for s in &shards {
                self.leader_of(*s).await?;
            }
            Some(())
        })
        .await;
    }

    /// Applied index of `shard` on node `id`.
    pub async fn applied(&self, id: u64, shard: u64) -> Option<u64> {
        let st = self.node_status(id).await?;
        st.shards
            .iter()
            .find(|s| s.id == shard)
            .map(|s| s.applied_index)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some((shutdown, task)) = node.running.take() {
                shutdown.trigger();
                task.abort();
            }
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// The `ErrorDetail` carried by a failed call.
pub fn detail(status: &tonic::Status) -> pb::ErrorDetail {
    pb::ErrorDetail::decode(status.details()).unwrap_or_default()
}

/// Runs `call` against live nodes, following NOT_LEADER / WRONG_NODE hints and retrying
/// UNAVAILABLE until it gets an answer that is not a redirect or unavailability.
pub async fn call_cluster<T, F, Fut>(cluster: &TestCluster, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut(OrderServiceClient<Channel>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let started = Instant::now();
    let live = cluster.live_nodes();
    let mut target = live[0];
    let mut attempt = 0usize;
    loop {
        attempt += 1;
        let client = cluster.orders(target).await;
        match call(client).await {
            Ok(r) => return Ok(r.into_inner()),
            // UNKNOWN without a detail is a reset connection (a node went down mid-call).
            Err(s)
                if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown)
                    && started.elapsed() < DEADLINE =>
            {
                let d = detail(&s);
                target = match live.iter().find(|id| d.leader_id == **id) {
                    Some(id) => *id,
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        live[attempt % live.len()]
                    }
                };
            }
            Err(s) => return Err(s),
        }
    }
}

pub fn place_req(customer: &str, key: &str) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        customer_id: customer.to_string(),
        items: vec![
            pb::LineItem {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price: 1250,
            },
            pb::LineItem {
                sku: "SKU-2".into(),
                quantity: 1,
                unit_price: 999,
            },
        ],
        currency: "EUR".into(),
        region: String::new(),
        idempotency_key: key.to_string(),
    }
}

/// Places an order through the cluster and returns it.
pub async fn place(cluster: &TestCluster, customer: &str, key: &str) -> pb::Order {
    let req = place_req(customer, key);
    call_cluster(cluster, |mut c| {
        let req = req.clone();
        async move { c.place_order(req).await }
    })
    .await
    .expect("place order")
    .order
    .expect("order in reply")
}

/// Reads an order linearizably through the cluster.
pub async fn get(cluster: &TestCluster, order_id: &str) -> Result<pb::Order, tonic::Status> {
    let req = pb::GetOrderRequest {
        order_id: order_id.to_string(),
        consistency: pb::ReadConsistency::Linearizable as i32,
    };
    call_cluster(cluster, |mut c| {
        let req = req.clone();
        async move { c.get_order(req).await }
    })
    .await
    .map(|r| r.order.expect("order in reply"))
}

/// The shard an order id routes to.
pub fn shard_of(cluster: &TestCluster, order_id: &str) -> u64 {
    let map = orderstore_node::host::initial_shard_map(&cluster.config).expect("shard map");
    map.lookup_key(order_id.as_bytes()).id
}

/// Like [`http_get`], but `None` when the port does not answer (e.g. the node is down).
pub async fn try_http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.ok()?;
    let code = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

/// A plain HTTP/1.0 GET against a node's status port: (status code, body).
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect status port");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}
