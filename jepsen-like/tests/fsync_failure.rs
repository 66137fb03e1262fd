//! A failing disk under a real `orderd` (issue 7): its data dir lives on an `osj-lazyfs` mount
//! whose `fail-fsync` switch makes every fsync return EIO, as a dying device does.
//!
//! It proves that the node:
//! - acknowledges no write once a WAL sync failed: the write that hit the fault and every
//!   later one are refused with a typed `STORAGE_FAILED` error, also after the disk is healthy
//!   again (a later fsync cannot vouch for what the failed one lost);
//! - says so: `/readyz` answers 503 with the reason, `orderstore_storage_failed` is 1
//!   and `orderstore_fsync_errors_total` counts the failure;
//! - recovers by restart: killed, with every un-fsynced byte dropped (`clear-cache`, the
//!   power-loss worst case), and restarted on the healed disk, it serves every order it had
//!   acknowledged, unchanged, accepts writes again and reports `orderstore_storage_failed 0`.
//!
//! One node, one shard: with no other replica to take over, nothing can be acknowledged while
//! its disk fails. Needs root (FUSE); otherwise prints `SKIPPED` and returns. `orderd` and
//! `osj-lazyfs` come from the target directory (`cargo build --workspace --bins`).

#[allow(dead_code)] // This test uses only the binary lookups.
mod support;

use std::io::Read;
use std::io::Write;
use std::net::TcpListener;
use std::net::TcpStream;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Order;
use orderstore_client::PlaceOrder;
use osj_lazyfs::Daemon;
use osj_lazyfs::DaemonConfig;
use osj_lazyfs::OnExit;
use support::{lazyfs_bin, orderd_bin};

/// How long any single "wait until" may take.
const DEADLINE: Duration = Duration::from_secs(90);

/// One `orderd` process; killed (and reaped) when dropped, also while the test panics.
struct Node {
    child: Option<Child>,
    config: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    log: std::path::PathBuf,
    grpc: String,
    status: String,
}

impl Node {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the node log");
        let child = Command::new(orderd_bin())
            .arg("--config")
            .arg(&self.config)
            .args(["--node-id", "1", "--log-format", "text", "--data-dir"])
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start orderd");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// GET `path` on the status port: (status code, body), `None` while it does not answer.
    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(&self.status).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.status
        )
        .ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        let code = reply.split_whitespace().nth(1)?.parse().ok()?;
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Some((code, body.to_string()))
    }

    /// The value of the unlabelled metric `name`, if exported.
    fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.http_get("/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Waits until `/readyz` answers `code`; returns its body.
    fn wait_readyz(&self, code: u16) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.http_get("/readyz") {
                Some((c, body)) if c == code => return body,
                last if Instant::now() >= deadline => panic!(
                    "/readyz never answered {code} (last: {last:?}); node log:\n{}",
                    self.log_tail()
                ),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

fn order(key: &str) -> PlaceOrder {
    PlaceOrder {
        idempotency_key: Some(key.to_string()),
        ..PlaceOrder::new(
            format!("cust-{key}"),
            vec![LineItem::new("sku-fsync", 2, 1_500)],
        )
    }
}

/// Places `order`, retrying retryable errors until the deadline (the node may still be
/// electing itself).
async fn place_acknowledged(client: &Client, order: PlaceOrder) -> Order {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match client.place_order(order.clone()).await {
            Ok(reply) => return reply.order,
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("place order: {e}"),
        }
    }
}

fn assert_storage_failed(result: Result<impl std::fmt::Debug, ClientError>, what: &str) {
    let err = result.expect_err(what);
    let text = err.to_string();
    assert!(
        text.contains("storage failed") || text.contains("STORAGE_FAILED"),
        "{what}: expected a STORAGE_FAILED refusal, got: {text}"
    );
}

#[test]
fn a_failed_fsync_is_never_acknowledged_and_a_restart_recovers() {
    if !jepsen_like::preflight::is_privileged()
        || std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .is_err()
    {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: a_failed_fsync_is_never_acknowledged_and_a_restart_recovers needs root \
             and /dev/fuse (the data dir is a FUSE mount)"
        );
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("orderstore-fsync-")
        .tempdir()
        .expect("temp dir");
    for sub in ["backing", "mnt"] {
        std::fs::create_dir(dir.path().join(sub)).expect("create a fixture dir");
    }
    let mut lazyfs = Daemon::spawn(&DaemonConfig {
        binary: lazyfs_bin(),
        backing: dir.path().join("backing"),
        mountpoint: dir.path().join("mnt"),
        control: dir.path().join("lazyfs.sock"),
        log: Some(dir.path().join("lazyfs.log")),
        on_exit: OnExit::Drop,
    })
    .expect("spawn osj-lazyfs");
    lazyfs
        .wait_ready(Duration::from_secs(30))
        .expect("osj-lazyfs mounted");
    let mut control = lazyfs.control().expect("lazyfs control socket");

    let (grpc, status) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            r#"cluster_name = "fsync-failure"
initial_shards = 1
replication_factor = 1

[[nodes]]
id = 1
grpc_addr = "{grpc}"
status_addr = "{status}"
"#
        ),
    )
    .expect("write the cluster config");
    let mut node = Node {
        child: None,
        config,
        data_dir: dir.path().join("mnt").join("node-1"),
        log: dir.path().join("node-1.log"),
        grpc: grpc.clone(),
        status,
    };
    node.start();
    node.wait_readyz(200);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = Client::builder()
        .endpoints([node.grpc.clone()])
        .request_timeout(Duration::from_secs(3))
        .deadline(Duration::from_secs(5))
        .build()
        .expect("client");

    // Phase 1: acknowledged orders on a healthy disk.
    let acked: Vec<Order> = rt.block_on(async {
        let mut acked = Vec::new();
        for i in 0..20 {
            acked.push(place_acknowledged(&client, order(&format!("before-{i}"))).await);
        }
        acked
    });

    // Phase 2: the disk starts failing every fsync. The next write is refused, not
    // acknowledged, and the node says why.
    assert!(control.fail_fsync(true).expect("fail-fsync"));
    assert_storage_failed(
        rt.block_on(client.place_order(order("during-fault"))),
        "a write whose WAL sync fails",
    );
    let readyz = node.wait_readyz(503);
    assert!(readyz.contains("storage failed"), "/readyz body: {readyz}");
    assert_eq!(node.metric("orderstore_storage_failed"), Some(1.0));
    assert!(
        node.metric("orderstore_fsync_errors_total").unwrap_or(0.0) >= 1.0,
        "fsync_errors_total must count the failure"
    );
    let failed_fsyncs = control.stats().expect("lazyfs stats").failed_fsyncs;
    assert!(failed_fsyncs >= 1, "the fault must have been hit");

    // Phase 3: the disk heals, but the node still trusts nothing it wrote since the failure.
    assert!(!control.fail_fsync(false).expect("heal-fsync"));
    assert_storage_failed(
        rt.block_on(client.place_order(order("after-heal"))),
        "a write after the disk healed, before a restart",
    );
    assert_eq!(node.wait_readyz(503), readyz, "still not ready");

    // Phase 4: crash, lose everything un-fsynced, restart: every acknowledged order is back.
    node.kill();
    let dropped = control.clear_cache().expect("clear-cache");
    node.start();
    node.wait_readyz(200);
    assert_eq!(node.metric("orderstore_storage_failed"), Some(0.0));
    rt.block_on(async {
        for before in &acked {
            let deadline = Instant::now() + DEADLINE;
            let read = loop {
                match client
                    .get_order(&before.order_id, Consistency::Linearizable)
                    .await
                {
                    Ok(o) => break o,
                    Err(e) if e.is_retryable() && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("read acknowledged order {}: {e}", before.order_id),
                }
            };
            assert_eq!(
                &read, before,
                "an acknowledged order changed across the fault"
            );
        }
        let after = place_acknowledged(&client, order("after-restart")).await;
        assert_eq!(after.customer_id, "cust-after-restart");
    });
    eprintln!(
        "fsync failure: {} acknowledged orders intact; {failed_fsyncs} failed fsyncs; \
         clear-cache dropped {} bytes in {} files",
        acked.len(),
        dropped.bytes,
        dropped.files
    );
    drop(node);
    lazyfs
        .stop(Duration::from_secs(30))
        .expect("stop osj-lazyfs");
}
