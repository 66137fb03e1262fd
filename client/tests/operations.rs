//! Operating a cluster of real `orderd` processes through `orderctl`, like an operator:
//! - a rolling restart (each node drained with SIGTERM, restarted, waited for) of a 3-node
//!   playground while clients place orders loses no request;
//! - `orderctl backup` under load, then `playground up --restore-from` builds a new cluster
//!   that serves every order acknowledged before the backup.
//!
//! Needs `orderd` beside `orderctl` in the same target directory (`cargo build --bins`).

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
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;

const DEADLINE: Duration = Duration::from_secs(90);

fn orderctl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orderctl"))
}

fn orderd_bin() -> PathBuf {
    let bin = orderctl_bin().with_file_name("orderd");
    assert!(
        bin.exists(),
        "orderd not found at {} (run `cargo build --bins` first)",
        bin.display()
    );
    bin
}

fn orderctl(args: &[&str]) -> Output {
    Command::new(orderctl_bin())
        .args(args)
        .env_remove("ORDERSTORE_ENDPOINTS")
        .output()
        .expect("run orderctl")
}

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

/// A playground in a temp dir, purged on drop (also when a test panics).
struct Playground {
    dir: tempfile::TempDir,
    endpoints: Vec<String>,
}

impl Playground {
    fn up(extra: &[&str]) -> Playground {
        let dir = tempfile::Builder::new()
            .prefix("orderctl-ops-")
            .tempdir()
            .expect("temp dir");
        let orderd = orderd_bin();
        let mut args = vec![
            "playground",
            "up",
            "--nodes",
            "3",
            "--shards",
            "4",
            "--base-port",
            "0",
            "--dir",
            dir.path().to_str().expect("UTF-8"),
            "--orderd",
            orderd.to_str().expect("UTF-8"),
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let manifest: serde_json::Value =
            serde_json::from_str(&orderctl_ok(&args)).expect("manifest JSON");
        let endpoints = manifest["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| e.as_str().expect("string").to_owned())
            .collect();
        Playground { dir, endpoints }
    }

    fn dir(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8")
    }

    fn client(&self) -> Client {
        Client::builder()
            .endpoints(&self.endpoints)
            .deadline(Duration::from_secs(60))
            .build()
            .expect("valid endpoints")
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        let _ = orderctl(&["playground", "down", "--purge", "--dir", self.dir()]);
    }
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
    let pg = Playground::up(&[]);
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
            pg.dir(),
            "--node",
            node,
        ]);
        orderctl_ok(&[
            "playground",
            "start-node",
            "--dir",
            pg.dir(),
            "--node",
            node,
        ]);
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
        let pg = Playground::up(&[]);
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
            &pg.endpoints.join(","),
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
            &pg.endpoints.join(","),
        ]);
        assert_eq!(again.status.code(), Some(2));
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            rt.block_on(t).expect("writer");
        }
        before
    };
    let restored = Playground::up(&["--restore-from", backup_dir.to_str().expect("UTF-8")]);
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
