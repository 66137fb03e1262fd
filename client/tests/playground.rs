//! Process-level tests through the `orderctl` binary, like a user at a terminal.
//!
//! `playground_survives_a_leader_crash` proves, with real `orderd` processes, that:
//! acknowledged orders survive the crash of a shard leader and stay readable (the SDK follows
//! the new leader); writes continue with one node down; and a restarted node catches up until
//! its applied index equals the leader's on every shard it replicates.
//!
//! `rolling_restart_under_load_loses_no_request` drains, restarts and waits for each node in
//! turn while clients place orders: no request fails. `backup_under_load_and_restore_into_a_new_playground`
//! runs `orderctl backup` under load and `orderctl restore --from`: every order
//! acknowledged before the backup is served by the new cluster, unchanged.
//!
//! `secure_playground_refuses_strangers_and_never_logs_tokens` runs `playground up --secure`:
//! no token or a wrong one is refused (exit 8), the generated admin token works, and no token
//! reaches a node log or an audit log.
//!
//! It needs `orderd` beside `orderctl` in the same target directory: `cargo test` builds only
//! this package's binaries, so run `cargo build --bins` first.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::ClusterStatus;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;

/// How long any single "wait until" of these tests may take.
const DEADLINE: Duration = Duration::from_secs(90);

fn orderctl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orderctl"))
}

/// `orderd`, the sibling of `orderctl` in the target directory.
fn orderd_bin() -> PathBuf {
    let path = orderctl_bin().with_file_name("orderd");
    assert!(
        path.is_file(),
        "orderd not found at {}: the process-level tests start real nodes; run `cargo build --bins` \
         (same profile and target directory) first",
        path.display()
    );
    path
}

/// Runs `orderctl args...` to completion with a clean environment for our variables.
fn orderctl(args: &[&str]) -> Output {
    Command::new(orderctl_bin())
        .args(args)
        .env_remove("ORDERSTORE_ENDPOINTS")
        .env_remove("ORDERD_BIN")
        .output()
        .expect("orderctl runs")
}

/// Runs `orderctl args...` and returns its stdout; panics with its stderr if it failed.
fn orderctl_ok(args: &[&str]) -> String {
    let out = orderctl(args);
    assert!(
        out.status.success(),
        "orderctl {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running playground in a temporary directory; dropping it (also while a test panics)
/// stops and purges it, and if that fails, kills every recorded pid.
struct Playground {
    dir: tempfile::TempDir,
    endpoints: Vec<String>,
}

impl Playground {
    fn up(nodes: u64, shards: u64) -> Playground {
        Playground::start(&["playground", "up"], nodes, shards)
    }

    /// Starts a playground with `command` (`playground up`, or `restore --from DIR`, which
    /// takes the same options).
    fn start(command: &[&str], nodes: u64, shards: u64) -> Playground {
        let orderd = orderd_bin();
        let dir = tempfile::Builder::new()
            .prefix("orderctl-playground-")
            .tempdir()
            .expect("temp dir");
        let mut guard = Playground {
            dir,
            endpoints: Vec::new(),
        };
        let (nodes, shards) = (nodes.to_string(), shards.to_string());
        let mut args = command.to_vec();
        args.extend([
            "--nodes",
            &nodes,
            "--shards",
            &shards,
            "--base-port",
            "0",
            "--dir",
            guard.dir_str(),
            "--orderd",
            orderd.to_str().expect("UTF-8 path"),
            "-o",
            "json",
        ]);
        let stdout = orderctl_ok(&args);
        let manifest: serde_json::Value =
            serde_json::from_str(&stdout).expect("up -o json prints the manifest");
        guard.endpoints = manifest["endpoints"]
            .as_array()
            .expect("manifest lists endpoints")
            .iter()
            .map(|e| e.as_str().expect("endpoint is a string").to_string())
            .collect();
        guard
    }

    /// `orderctl playground start-node --node NODE` on this playground.
    fn start_node(&self, node: &str) {
        orderctl_ok(&[
            "playground",
            "start-node",
            "--dir",
            self.dir_str(),
            "--node",
            node,
        ]);
    }

    fn dir_str(&self) -> &str {
        self.dir.path().to_str().expect("temp dir path is UTF-8")
    }

    fn endpoints_arg(&self) -> String {
        self.endpoints.join(",")
    }

    fn client(&self) -> Client {
        Client::builder()
            .endpoints(&self.endpoints)
            .build()
            .expect("valid endpoints")
    }

    fn cluster_status(&self) -> ClusterStatus {
        let json = orderctl_ok(&[
            "cluster",
            "status",
            "-o",
            "json",
            "--endpoints",
            &self.endpoints_arg(),
        ]);
        serde_json::from_str(&json).expect("cluster status -o json parses as ClusterStatus")
    }

    fn pids(&self) -> Vec<u32> {
        let Ok(text) = std::fs::read_to_string(self.dir.path().join("cluster.json")) else {
            return Vec::new();
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Vec::new();
        };
        v["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter_map(|n| n["pid"].as_u64())
                    .filter(|p| *p != 0)
                    .map(|p| p as u32)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        let pids = self.pids();
        let down = orderctl(&["playground", "down", "--purge", "--dir", self.dir_str()]);
        if !down.status.success() {
            eprintln!(
                "playground down failed: {}",
                String::from_utf8_lossy(&down.stderr)
            );
            for pid in pids {
                if let Ok(pid) = i32::try_from(pid) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// Retries `op` while it fails with a retryable error, until [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Places orders `from..to` with idempotency keys `scenario-<i>` (so retries are safe), 16 at a
/// time; returns their ids in order.
async fn place_orders(client: &Client, from: usize, to: usize) -> Vec<String> {
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in from..to {
        let client = client.clone();
        let sem = sem.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let order = PlaceOrder {
                idempotency_key: Some(format!("scenario-{i}")),
                ..PlaceOrder::new(
                    format!("cust-{}", i % 17),
                    vec![
                        LineItem::new("sku-a", 1 + (i % 3) as u32, 1_000),
                        LineItem::new("sku-b", 1, 250),
                    ],
                )
            };
            let reply = eventually("place order", || client.place_order(order.clone())).await;
            (i, reply.order.order_id)
        });
    }
    let mut ids = vec![String::new(); to - from];
    while let Some(done) = tasks.join_next().await {
        let (i, id) = done.expect("placement task");
        ids[i - from] = id;
    }
    ids
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Crash a shard leader, keep reading and writing, restart it and watch it catch up.
#[test]
fn playground_survives_a_leader_crash() {
    // Phase 1: a three-node playground with four shards.
    let pg = Playground::up(3, 4);
    let rt = runtime();
    let client = pg.client();

    // A second `up` on the same directory is refused while it runs.
    let again = orderctl(&[
        "playground",
        "up",
        "--nodes",
        "3",
        "--base-port",
        "0",
        "--dir",
        pg.dir_str(),
    ]);
    assert_eq!(again.status.code(), Some(7), "second up must be refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a running playground"));

    // Phase 2: 200 acknowledged orders.
    let ids = rt.block_on(place_orders(&client, 0, 200));
    assert_eq!(ids.len(), 200);

    // Phase 3: find and crash the leader of the first order's shard.
    let deadline = Instant::now() + DEADLINE;
    let leader = loop {
        let status = pg.cluster_status();
        let shard = status
            .shard_for_key(&ids[0])
            .expect("the shard map covers every key");
        if let Some(leader) = shard.leader {
            break leader;
        }
        assert!(
            Instant::now() < deadline,
            "shard {} has no leader",
            shard.id
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    orderctl_ok(&[
        "playground",
        "stop-node",
        "--dir",
        pg.dir_str(),
        "--node",
        &leader.to_string(),
    ]);

    // Phase 4: every acknowledged order is still there, read linearizably through the survivors.
    rt.block_on(async {
        for id in &ids {
            let order = eventually("read back", || {
                client.get_order(id, Consistency::Linearizable)
            })
            .await;
            assert_eq!(&order.order_id, id);
            assert_eq!(order.items.len(), 2);
        }
    });

    // Phase 5: writes continue with one node down.
    let more = rt.block_on(place_orders(&client, 200, 220));
    assert_eq!(more.len(), 20);

    // Phase 6: the crashed node comes back and catches up on every shard it replicates.
    pg.start_node(&leader.to_string());
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = pg.cluster_status();
        let lagging: Vec<String> = status
            .shards
            .iter()
            .filter(|s| s.replicas.contains(&leader))
            .filter(|s| s.leader.is_none() || s.applied_on(leader) != Some(s.applied_index))
            .map(|s| {
                format!(
                    "shard {}: leader {:?} applied {} vs node {leader} {:?}",
                    s.id,
                    s.leader,
                    s.applied_index,
                    s.applied_on(leader)
                )
            })
            .collect();
        let node_up = status.node(leader).is_some_and(|n| n.state == "up");
        if lagging.is_empty() && node_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {leader} did not catch up: {}",
            lagging.join("; ")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Phase 7: an unknown order is a clean NOT_FOUND: exit code 3 and one error line.
    let unknown = orderctl(&[
        "order",
        "get",
        "o-local-00000000deadbeef",
        "--endpoints",
        &pg.endpoints_arg(),
    ]);
    assert_eq!(
        unknown.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1, "one error line, got: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("NOT_FOUND"),
        "{stderr}"
    );

    // Phase 8: an orderly shutdown.
    let down = orderctl_ok(&["playground", "down", "--dir", pg.dir_str()]);
    assert!(down.contains("stopped 3 node(s)"), "{down}");
}

/// Bad input is refused before anything is sent: a malformed `--item` gives one clear line and
/// the usage exit code; an unreachable cluster gives one line and the "unavailable" code.
#[test]
fn cli_errors_are_one_clear_line() {
    let bad = orderctl(&["order", "place", "--customer", "c1", "--item", "bad"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("SKU:QTY:PRICE"),
        "{stderr}"
    );

    let bad_qty = orderctl(&["order", "place", "--customer", "c1", "--item", "sku:-1:100"]);
    assert_eq!(bad_qty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_qty.stderr).contains("quantity \"-1\""));

    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind");
    let endpoint = closed.to_string();
    let unreachable = orderctl(&[
        "order",
        "get",
        "o-local-0000000000000001",
        "--endpoints",
        &endpoint,
        "--timeout",
        "2",
    ]);
    assert_eq!(unreachable.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: unavailable"), "{stderr}");
}

/// `playground down` on a directory without a playground fails clearly.
#[test]
fn down_without_playground_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = orderctl(&[
        "playground",
        "down",
        "--dir",
        dir.path().to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(7));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no playground in"), "{stderr}");
    assert!(Path::new(dir.path()).exists());
}

/// Placements acknowledged so far: the request and the order it made.
type Acked = Arc<Mutex<Vec<(PlaceOrder, Order)>>>;
/// Placements that failed (a lost request), described.
type Failed = Arc<Mutex<Vec<String>>>;

/// Places orders from `writers` tasks until `stop` (at most 5,000 each); every placement's
/// outcome is recorded: an `Err` is a lost request.
fn start_load(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    writers: usize,
    prefix: &'static str,
    stop: &Arc<AtomicBool>,
) -> (Acked, Failed, Vec<tokio::task::JoinHandle<()>>) {
    let acked: Acked = Arc::default();
    let failed: Failed = Arc::default();
    let tasks = (0..writers)
        .map(|w| {
            let (client, acked, failed, stop) =
                (client.clone(), acked.clone(), failed.clone(), stop.clone());
            rt.spawn(async move {
                for i in 0..5_000u32 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let order = PlaceOrder {
                        idempotency_key: Some(format!("{prefix}-{w}-{i}")),
                        ..PlaceOrder::new(
                            format!("cust-{w}"),
                            vec![LineItem::new("sku-ops", 1 + i % 3, 700)],
                        )
                    };
                    match client.place_order(order.clone()).await {
                        Ok(r) => acked.lock().unwrap().push((order, r.order)),
                        Err(e) => failed
                            .lock()
                            .unwrap()
                            .push(format!("{prefix}-{w}-{i}: {e}")),
                    }
                }
            })
        })
        .collect();
    (acked, failed, tasks)
}

fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every node drained, restarted and waited for, one after another, under load: every
/// placement succeeds (the SDK follows the leaderships the draining node hands away) and every
/// acknowledged order is readable afterwards.
#[test]
fn rolling_restart_under_load_loses_no_request() {
    let pg = Playground::up(3, 4);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = pg.client();
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, failed, tasks) = start_load(&rt, &client, 4, "roll", &stop);
    wait_until("load is running", || acked.lock().unwrap().len() >= 20);

    for node in ["1", "2", "3"] {
        let before = acked.lock().unwrap().len();
        orderctl_ok(&[
            "playground",
            "stop-node",
            "--graceful",
            "--dir",
            pg.dir_str(),
            "--node",
            node,
        ]);
        pg.start_node(node);
        // Back in service: every shard has a leader again and writes flow.
        wait_until("every shard has a leader", || {
            rt.block_on(client.cluster_status())
                .is_ok_and(|s| s.shards.iter().all(|sh| sh.leader.is_some()))
        });
        wait_until("writes continue", || {
            acked.lock().unwrap().len() > before + 10
        });
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        rt.block_on(t).expect("writer");
    }
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "requests lost during the rolling restart: {failed:?}"
    );
    let acked = acked.lock().unwrap().clone();
    rt.block_on(async {
        for (_, o) in &acked {
            let got = client
                .get_order(&o.order_id, Consistency::Linearizable)
                .await
                .expect("acknowledged order readable");
            assert_eq!(&got, o);
        }
    });
}

/// `orderctl backup` under load, then a new playground restored from it serves every order
/// acknowledged before the backup started, exactly as it was.
#[test]
fn backup_under_load_and_restore_into_a_new_playground() {
    let backup = tempfile::tempdir().expect("temp dir");
    let backup_dir = backup.path().join("b1");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let before = {
        let pg = Playground::up(3, 4);
        let client = pg.client();
        let stop = Arc::new(AtomicBool::new(false));
        let (acked, _failed, tasks) = start_load(&rt, &client, 4, "bk", &stop);
        wait_until("load is running", || acked.lock().unwrap().len() >= 50);
        let before = acked.lock().unwrap().clone();
        let out = orderctl_ok(&[
            "backup",
            "--to",
            backup_dir.to_str().expect("UTF-8"),
            "--endpoints",
            &pg.endpoints_arg(),
            "-o",
            "json",
        ]);
        let manifest: serde_json::Value = serde_json::from_str(&out).expect("manifest JSON");
        assert_eq!(manifest["shards"].as_array().map(Vec::len), Some(4));
        // A second backup into the same directory is refused with the usage exit code.
        let again = orderctl(&[
            "backup",
            "--to",
            backup_dir.to_str().expect("UTF-8"),
            "--endpoints",
            &pg.endpoints_arg(),
        ]);
        assert_eq!(again.status.code(), Some(2));
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            rt.block_on(t).expect("writer");
        }
        before
    };
    let restored = Playground::start(
        &["restore", "--from", backup_dir.to_str().expect("UTF-8")],
        3,
        4,
    );
    let client = restored.client();
    rt.block_on(async {
        for (_, o) in &before {
            let got = client
                .get_order(&o.order_id, Consistency::Linearizable)
                .await
                .unwrap_or_else(|e| panic!("order {} not restored: {e}", o.order_id));
            assert_eq!(&got, o);
        }
        let fresh = client
            .place_order(PlaceOrder::new(
                "after-restore",
                vec![LineItem::new("sku-ops", 1, 700)],
            ))
            .await
            .expect("the restored cluster takes writes");
        assert!(!fresh.replayed);
    });
}

/// `playground up --secure`, like a user: with TLS but no credentials, or with a wrong token,
/// `orderctl` is refused (exit 8) and nothing is written; with the generated CA and admin token
/// it works. Neither token ever appears in a node's log or audit log.
#[test]
fn secure_playground_refuses_strangers_and_never_logs_tokens() {
    let pg = Playground::start(&["playground", "up", "--secure"], 3, 2);
    let certs = pg.dir.path().join("certs");
    let ca = certs.join("ca.pem");
    let token_file = certs.join("admin.token");
    let token = std::fs::read_to_string(&token_file).expect("admin token written");
    let token = token.trim();
    assert!(token.len() >= 16, "a real token: {} chars", token.len());
    let (ca, token_file) = (
        ca.to_str().expect("UTF-8").to_string(),
        token_file.to_str().expect("UTF-8").to_string(),
    );
    let endpoints = pg.endpoints_arg();
    const STRANGER_TOKEN: &str = "stranger-token-5d1c2b7a9e";
    let place = |credentials: &[&str], customer: &str| {
        let mut args = vec![
            "order",
            "place",
            "--customer",
            customer,
            "--item",
            "sku-sec:1:100",
            "--endpoints",
            &endpoints,
            "--timeout",
            "10",
        ];
        args.extend_from_slice(credentials);
        orderctl(&args)
    };

    let no_token = place(&["--ca-cert", &ca], "cust-no-token");
    assert_eq!(
        no_token.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&no_token.stderr)
    );
    let wrong = place(&["--ca-cert", &ca, "--token", STRANGER_TOKEN], "cust-wrong");
    assert_eq!(
        wrong.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let admin = place(
        &["--ca-cert", &ca, "--token-file", &token_file],
        "cust-admin",
    );
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );

    let mut logs_read = 0;
    for entry in std::fs::read_dir(pg.dir.path())
        .expect("playground dir")
        .flatten()
    {
        let path = entry.path();
        let candidates = if path.is_dir() {
            vec![path.join("audit.log")]
        } else {
            vec![path.clone()]
        };
        for file in candidates {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".log") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            logs_read += 1;
            for secret in [token, STRANGER_TOKEN] {
                assert!(
                    !text.contains(secret),
                    "{} holds a bearer token",
                    file.display()
                );
            }
        }
    }
    // Three node logs and three audit logs.
    assert!(logs_read >= 6, "only {logs_read} log files found");
}
