//! [`Cluster`]: `orderd` processes, one per network namespace, started and signalled by the
//! harness, and torn down with everything else the run created when it is dropped.
//!
//! Lifecycle: [`Cluster::start`] takes the [`RunLock`], removes whatever a crashed run left
//! behind (namespaces, links, processes inside them, `osj-run-*` temp dirs), builds the network
//! ([`crate::netns`]), writes the cluster TOML, starts every node with
//! `ip netns exec osj-nN orderd --config F --node-id N --data-dir D` (`ip` execs, so the child's
//! pid is `orderd`'s) and polls until the cluster is ready. With [`ClusterSpec::proxy`], node-to-node
//! traffic goes through the harness's TCP [`Proxy`]: before any node starts, the proxy's
//! source addresses are added to the bridge, the proxy binds one listener per ordered node
//! pair on the bridge address, and each namespace gets DNAT rules sending its connections to
//! peers' gRPC port to those listeners (clients in the root namespace still connect directly).
//! With [`ClusterSpec::lazyfs`], each node's data dir is an `osj-lazyfs` FUSE mount
//! ([`crate::node_fs`]), started and ready before the node first starts.
//! [`Cluster::teardown`] (also run by `Drop`, i.e. on errors, panics and Ctrl-C) SIGKILLs the
//! nodes, stops the lazyfs daemons and unmounts their mounts, stops the proxy, deletes namespaces, veths, the proxy's addresses and the bridge
//! (the iptables rules go with the namespaces) and the temp dir of data directories. Node logs
//! and the config stay in the run's output directory.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use nix::sys::signal::Signal;
use orderstore_client::Client;
use orderstore_client::ClusterStatus;
use serde::Deserialize;
use serde::Serialize;

use crate::harness_error::HarnessError;
use crate::http_probe;
use crate::netns;
use crate::netns::NodeId;
use crate::node_fs;
use crate::node_fs::NodeFs;
use crate::node_fs::NodeFsStats;
use crate::preflight::RunLock;
use crate::preflight::Tools;
use crate::proxy::LinkSpec;
use crate::proxy::Proxy;

/// Every node's gRPC port (client API and Raft traffic).
pub const GRPC_PORT: u16 = 7001;
/// Every node's HTTP status port (`/livez`, `/readyz`, `/metrics`).
pub const STATUS_PORT: u16 = 7002;
/// The region orders are placed in (the config's `default_region`).
pub const REGION: &str = "local";
/// Prefix of the temp dir holding the nodes' data directories.
const WORK_DIR_PREFIX: &str = "osj-run-";
/// Poll interval of every wait.
const POLL: Duration = Duration::from_millis(100);
/// How long a SIGKILLed node may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Log lines quoted when a node fails.
const TAIL_LINES: usize = 15;

/// A wall clock a node runs under with libfaketime: shifted by `offset_secs` and running at
/// `rate_pct` % of real speed (100: real speed), both from the node's start. Monotonic time
/// stays real (`FAKETIME_DONT_FAKE_MONOTONIC=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockShift {
    pub offset_secs: i64,
    pub rate_pct: u32,
}

impl ClockShift {
    /// The `FAKETIME` value, e.g. `+90` or `+0 x1.5`.
    pub fn faketime(&self) -> String {
        if self.rate_pct == 100 {
            format!("{:+}", self.offset_secs)
        } else {
            format!(
                "{:+} x{}.{:02}",
                self.offset_secs,
                self.rate_pct / 100,
                self.rate_pct % 100
            )
        }
    }
}

impl std::fmt::Display for ClockShift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.offset_secs, self.rate_pct) {
            (offset, 100) => write!(f, "{offset:+} s off"),
            (0, rate) => write!(f, "running at {rate}% speed"),
            (offset, rate) => write!(f, "{offset:+} s off, running at {rate}% speed"),
        }
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Nodes `1..=nodes`.
    pub nodes: u64,
    pub shards: u64,
    pub orderd: PathBuf,
    /// Receives `cluster.toml` and `logs/node-N.log`.
    pub out_dir: PathBuf,
    /// How long [`Cluster::start`] waits for readiness.
    pub ready_timeout: Duration,
    /// Route node-to-node traffic through the harness's TCP proxy.
    pub proxy: bool,
    /// Put every node's data dir on an `osj-lazyfs` mount served by this binary.
    pub lazyfs: Option<PathBuf>,
}

/// One node's process and files.
#[derive(Debug)]
pub struct NodeProcess {
    pub id: NodeId,
    pub grpc_addr: String,
    pub status_addr: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    /// SIGSTOPped and not yet SIGCONTed.
    pub paused: bool,
    /// Wall-clock shift the node runs under (libfaketime), if any.
    pub clock_offset: Option<ClockShift>,
}

impl NodeProcess {
    /// The process id while the node runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A running cluster in network namespaces. Dropping it tears everything down.
#[derive(Debug)]
pub struct Cluster {
    tools: Tools,
    ids: Vec<NodeId>,
    nodes: BTreeMap<NodeId, NodeProcess>,
    config: PathBuf,
    orderd: PathBuf,
    work: Option<tempfile::TempDir>,
    /// The TCP proxy between nodes, when [`ClusterSpec::proxy`].
    proxy: Option<Proxy>,
    /// Each node's lazyfs, when [`ClusterSpec::lazyfs`].
    lazyfs: BTreeMap<NodeId, NodeFs>,
    torn_down: bool,
    _lock: RunLock,
}

impl Cluster {
    /// Builds the network and starts every node, then waits (up to `spec.ready_timeout`) until
    /// every `/readyz` answers 200 and `ClusterStatus` shows all nodes up and a leader for every
    /// shard. On any failure everything created so far is removed before the error returns.
    pub async fn start(spec: &ClusterSpec, tools: Tools) -> Result<Cluster, HarnessError> {
        if spec.nodes == 0 || spec.nodes > netns::MAX_NODES {
            return Err(HarnessError::Usage(format!(
                "--nodes must be 1..={}, got {}",
                netns::MAX_NODES,
                spec.nodes
            )));
        }
        let lock = RunLock::acquire()?;
        let removed = netns::stale_cleanup(&tools);
        if !removed.is_empty() {
            tracing::warn!(?removed, "removed leftovers of an earlier run");
        }
        let removed = node_fs::stale_cleanup(&std::env::temp_dir(), WORK_DIR_PREFIX);
        if !removed.is_empty() {
            tracing::warn!(?removed, "removed lazyfs leftovers of an earlier run");
        }
        remove_stale_work_dirs();

        let ids: Vec<NodeId> = (1..=spec.nodes).collect();
        let logs = spec.out_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(HarnessError::io("create", &logs))?;
        let work = tempfile::Builder::new()
            .prefix(WORK_DIR_PREFIX)
            .tempdir()
            .map_err(HarnessError::io("create", std::env::temp_dir()))?;
        netns::setup(&tools, &ids)?;
        let nodes = ids
            .iter()
            .map(|&id| {
                let ip = netns::node_ip(id);
                let node = NodeProcess {
                    id,
                    grpc_addr: format!("{ip}:{GRPC_PORT}"),
                    status_addr: format!("{ip}:{STATUS_PORT}"),
                    data_dir: work.path().join(format!("node-{id}")),
                    log: logs.join(format!("node-{id}.log")),
                    child: None,
                    paused: false,
                    clock_offset: None,
                };
                (id, node)
            })
            .collect();
        // From here on, `Drop` cleans up.
        let mut cluster = Cluster {
            tools,
            ids,
            nodes,
            config: spec.out_dir.join("cluster.toml"),
            orderd: spec.orderd.clone(),
            work: Some(work),
            proxy: None,
            lazyfs: BTreeMap::new(),
            torn_down: false,
            _lock: lock,
        };
        if spec.proxy {
            cluster.start_proxy().await?;
        }
        if let Some(binary) = &spec.lazyfs {
            cluster.mount_lazyfs(binary, &logs)?;
        }
        let toml = config_toml(&cluster.ids, spec.shards);
        std::fs::write(&cluster.config, toml)
            .map_err(HarnessError::io("write", &cluster.config))?;
        for id in cluster.ids.clone() {
            cluster.spawn(id)?;
        }
        cluster
            .wait_ready(Instant::now() + spec.ready_timeout)
            .await?;
        Ok(cluster)
    }

    /// Adds the proxy's source addresses, starts the proxy and installs every namespace's
    /// redirect rules. Must run before any node starts: NAT applies to new connections only.
    async fn start_proxy(&mut self) -> Result<(), HarnessError> {
        for cmd in netns::proxy_alias_commands(&self.ids) {
            netns::run(&self.tools, &cmd).await?;
        }
        let bridge: std::net::IpAddr = netns::BRIDGE_ADDR
            .parse()
            .expect("BRIDGE_ADDR is an IPv4 literal");
        let mut specs = Vec::new();
        for &from in &self.ids {
            for &to in self.ids.iter().filter(|&&to| to != from) {
                let source = netns::proxy_source_ip(from)
                    .parse()
                    .expect("proxy source addresses are IPv4 literals");
                let upstream = format!("{}:{GRPC_PORT}", netns::node_ip(to))
                    .parse()
                    .expect("node addresses are IPv4 literals");
                specs.push(LinkSpec {
                    link: (from, to),
                    listen: std::net::SocketAddr::new(bridge, 0),
                    source: Some(source),
                    upstream,
                });
            }
        }
        let proxy = Proxy::start(specs)
            .await
            .map_err(HarnessError::io("start the proxy on", netns::BRIDGE_ADDR))?;
        for &from in &self.ids {
            let peers: Vec<(NodeId, u16, u16)> = self
                .ids
                .iter()
                .filter(|&&to| to != from)
                .filter_map(|&to| {
                    proxy
                        .listen_addr((from, to))
                        .map(|a| (to, GRPC_PORT, a.port()))
                })
                .collect();
            for cmd in netns::proxy_redirect_commands(from, &peers) {
                netns::run(&self.tools, &cmd).await?;
            }
        }
        tracing::info!(
            links = proxy.links().len(),
            "node-to-node traffic goes through the proxy"
        );
        self.proxy = Some(proxy);
        Ok(())
    }

    /// Starts one `osj-lazyfs` per node over `node-N.backing` at the node's data dir and waits
    /// until every one is mounted and answers (at most [`node_fs::READY_TIMEOUT`] in all;
    /// blocking, before any node runs). Mounting happens in the root mount namespace, before
    /// `ip netns exec`, so each node's namespace sees it.
    fn mount_lazyfs(&mut self, binary: &Path, logs: &Path) -> Result<(), HarnessError> {
        let work = self
            .work
            .as_ref()
            .map(|w| w.path().to_path_buf())
            .ok_or_else(|| HarnessError::Task("the run's temp dir is gone".into()))?;
        for &id in &self.ids {
            // Inserted at once: teardown stops whatever started, also if a later one fails.
            let fs = NodeFs::spawn(binary, &work, logs, id)?;
            self.lazyfs.insert(id, fs);
        }
        let deadline = Instant::now() + node_fs::READY_TIMEOUT;
        for fs in self.lazyfs.values_mut() {
            fs.wait_ready(deadline.saturating_duration_since(Instant::now()))?;
        }
        tracing::info!(
            nodes = self.lazyfs.len(),
            "data dirs on lazyfs (un-fsynced writes can be dropped)"
        );
        Ok(())
    }

    /// Whether the nodes' data dirs are on lazyfs.
    pub fn has_lazyfs(&self) -> bool {
        !self.lazyfs.is_empty()
    }

    /// The control socket of node `id`'s lazyfs, when it has one.
    pub fn lazyfs_control(&self, id: NodeId) -> Option<PathBuf> {
        self.lazyfs.get(&id).map(|fs| fs.control.clone())
    }

    /// Every node's lazyfs counters (empty without lazyfs).
    pub async fn lazyfs_stats(&self) -> Vec<NodeFsStats> {
        let mut out = Vec::new();
        for (&id, fs) in &self.lazyfs {
            out.push(node_fs::stats(id, fs.control.clone()).await);
        }
        out
    }

    /// The TCP proxy between nodes, when it runs.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// Each node's proxy redirect rules with their counters (`iptables -t nat -L -v -x`),
    /// one line per rule, prefixed with the node; empty without a proxy.
    pub async fn proxy_redirect_counters(&self) -> Vec<String> {
        if self.proxy.is_none() {
            return Vec::new();
        }
        let mut lines = Vec::new();
        for &id in &self.ids {
            match netns::run(&self.tools, &netns::proxy_counters_command(id)).await {
                Ok(out) => lines.extend(out.lines().filter(|l| l.contains("DNAT")).map(|l| {
                    format!(
                        "node {id}: {}",
                        l.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                })),
                Err(e) => lines.push(format!("node {id}: {e}")),
            }
        }
        lines
    }

    /// Node ids, ascending.
    pub fn ids(&self) -> &[NodeId] {
        &self.ids
    }

    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeProcess> {
        self.nodes.get(&id)
    }

    /// gRPC addresses of all nodes.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.values().map(|n| n.grpc_addr.clone()).collect()
    }

    /// An SDK client for all nodes with the given per-attempt timeout and overall deadline.
    pub fn client(&self, request_timeout: Duration, deadline: Duration) -> Client {
        client_for(&self.endpoints(), request_timeout, deadline)
    }

    /// Whether node `id` has a process (running or paused).
    pub fn is_running(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.child.is_some())
    }

    /// Starts node `id` over its existing data (no-op when it runs), under its clock offset.
    pub fn spawn(&mut self, id: NodeId) -> Result<(), HarnessError> {
        let (tools, orderd, config) = (&self.tools, &self.orderd, &self.config);
        let node = self
            .nodes
            .get_mut(&id)
            .ok_or_else(|| HarnessError::Usage(format!("no node {id}")))?;
        if node.child.is_some() {
            return Ok(());
        }
        std::fs::create_dir_all(&node.data_dir)
            .map_err(HarnessError::io("create", &node.data_dir))?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(HarnessError::io("open", &node.log))?;
        let _ = writeln!(
            log,
            "=== jepsen-like: starting node {id} in {} (clock {}) ===",
            netns::namespace(id),
            node.clock_offset
                .map_or_else(|| "real".to_string(), |c| c.to_string())
        );
        let stderr = log
            .try_clone()
            .map_err(HarnessError::io("open", &node.log))?;
        let mut cmd = std::process::Command::new(&tools.ip);
        cmd.args(["netns", "exec", &netns::namespace(id)]);
        if let (Some(shift), Some(lib)) = (node.clock_offset, &tools.faketime_lib) {
            // `env` execs orderd (same pid), so signals reach it; `ip` itself runs unfaked.
            cmd.arg("env")
                .arg(format!("LD_PRELOAD={}", lib.display()))
                .arg(format!("FAKETIME={}", shift.faketime()))
                .arg("FAKETIME_DONT_FAKE_MONOTONIC=1");
        }
        cmd.arg(orderd)
            .arg("--config")
            .arg(config)
            .arg("--node-id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--log-format")
            .arg("text")
            .env("PATH", netns::search_path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            // Our own process group: the terminal's Ctrl-C reaches only the harness, which
            // then tears down in order.
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe. If the harness dies without tearing down (SIGKILL), the
        // node dies with it instead of lingering in its namespace.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(HarnessError::io("start", orderd))?;
        tracing::info!(node = id, pid = child.id(), offset = ?node.clock_offset, "node started");
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// SIGKILLs node `id` and waits until it is gone (its data stays). No-op when not running.
    pub async fn kill(&mut self, id: NodeId) -> Result<(), HarnessError> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(mut child) = node.child.take() else {
            return Ok(());
        };
        node.paused = false;
        let _ = child.kill();
        let deadline = Instant::now() + KILL_WAIT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Err(e) => return Err(HarnessError::io("wait for", &node.log)(e)),
                Ok(None) if Instant::now() >= deadline => {
                    return Err(HarnessError::Task(format!(
                        "node {id} (pid {}) still runs {}s after SIGKILL",
                        child.id(),
                        KILL_WAIT.as_secs()
                    )));
                }
                Ok(None) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Sends `signal` (SIGSTOP / SIGCONT) to node `id` and records whether it is paused.
    pub fn signal(&mut self, id: NodeId, signal: Signal) -> Result<(), HarnessError> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(pid) = node.pid() else {
            return Ok(());
        };
        let pid = i32::try_from(pid).map_err(|_| HarnessError::Task(format!("pid {pid}")))?;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => {
                return Err(HarnessError::io("signal", &node.log)(std::io::Error::from(
                    e,
                )));
            }
        }
        match signal {
            Signal::SIGSTOP => node.paused = true,
            Signal::SIGCONT => node.paused = false,
            _ => {}
        }
        Ok(())
    }

    /// Sets the clock shift node `id` runs under from its next start (`None`: real time).
    pub fn set_clock_offset(&mut self, id: NodeId, offset: Option<ClockShift>) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.clock_offset = offset;
        }
    }

    /// Nodes with a clock offset.
    pub fn skewed(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.clock_offset.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// Fails with [`HarnessError::NodeExited`] if a node we started has exited by itself.
    fn check_alive(&mut self) -> Result<(), HarnessError> {
        for node in self.nodes.values_mut() {
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                node.child = None;
                return Err(HarnessError::NodeExited {
                    id: node.id,
                    status: status.to_string(),
                    log: node.log.clone(),
                    tail: tail(&node.log, TAIL_LINES),
                });
            }
        }
        Ok(())
    }

    /// Polls until node `id`'s `/livez` answers 200 or `deadline` passes.
    pub async fn wait_live(&mut self, id: NodeId, deadline: Instant) -> Result<(), HarnessError> {
        let started = Instant::now();
        let addr = match self.nodes.get(&id) {
            Some(n) => n.status_addr.clone(),
            None => return Ok(()),
        };
        loop {
            self.check_alive()?;
            if http_probe::status_code(&addr, "/livez", Duration::from_secs(1)).await == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    waited: started.elapsed(),
                    waiting_for: format!("node {id} /livez does not answer 200"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until every node's `/readyz` answers 200 and `ClusterStatus` shows every node up
    /// and a leader for every shard; fails when a node exits or `deadline` passes.
    pub async fn wait_ready(&mut self, deadline: Instant) -> Result<ClusterStatus, HarnessError> {
        let started = Instant::now();
        let client = self.client(Duration::from_secs(2), Duration::from_secs(3));
        loop {
            self.check_alive()?;
            let mut waiting_for = Vec::new();
            for node in self.nodes.values() {
                let code =
                    http_probe::status_code(&node.status_addr, "/readyz", Duration::from_secs(1))
                        .await;
                if code != Some(200) {
                    waiting_for.push(match code {
                        Some(c) => format!("node {} /readyz answers {c}", node.id),
                        None => format!("node {} /readyz does not answer", node.id),
                    });
                }
            }
            if waiting_for.is_empty() {
                match client.cluster_status().await {
                    Ok(s)
                        if s.all_shards_have_leader()
                            && s.nodes.iter().all(|n| n.state == "up") =>
                    {
                        return Ok(s);
                    }
                    Ok(s) => {
                        let leaderless: Vec<String> = s
                            .shards
                            .iter()
                            .filter(|sh| sh.leader.is_none())
                            .map(|sh| sh.id.to_string())
                            .collect();
                        if s.shards.is_empty() {
                            waiting_for.push("ClusterStatus lists no shards".into());
                        } else if !leaderless.is_empty() {
                            waiting_for
                                .push(format!("shard(s) {} have no leader", leaderless.join(",")));
                        }
                        for n in s.nodes.iter().filter(|n| n.state != "up") {
                            waiting_for.push(format!("node {} is {}", n.id, n.state));
                        }
                    }
                    Err(e) => waiting_for.push(format!("ClusterStatus failed: {e}")),
                }
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    waited: started.elapsed(),
                    waiting_for: waiting_for.join("; "),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills every node and removes the network and the data directories. Idempotent. Returns
    /// problems worth reporting (e.g. harness namespaces or links still present).
    pub fn teardown(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        let mut problems = Vec::new();
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                // SIGKILL also ends a SIGSTOPped process.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // The nodes are dead, so nothing writes any more: stop each lazyfs (it drops its
        // cache) and make sure its mount is gone before the temp dir is deleted.
        let mut mounted = false;
        for fs in self.lazyfs.values_mut() {
            let p = fs.stop();
            mounted |= !p.is_empty() && osj_lazyfs::is_fuse_mount(&fs.mountpoint).unwrap_or(true);
            problems.extend(p);
        }
        self.lazyfs.clear();
        // Stops every listener and closes every proxied connection.
        self.proxy = None;
        problems.extend(
            netns::teardown(&self.tools, &self.ids)
                .into_iter()
                .map(|l| format!("still present after teardown: {l}")),
        );
        if let Some(work) = self.work.take() {
            let path = work.path().to_path_buf();
            if mounted {
                // Never delete through a mount; the next run's stale cleanup detaches it
                // and removes the dir.
                let _ = work.keep();
                problems.push(format!(
                    "kept {} (a lazyfs mount is still inside)",
                    path.display()
                ));
            } else if let Err(e) = work.close() {
                problems.push(format!("cannot remove {}: {e}", path.display()));
            }
        }
        problems
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.torn_down {
            tracing::warn!("tearing the cluster down (run ended early)");
            for p in self.teardown() {
                eprintln!("jepsen-like: teardown: {p}");
            }
        }
    }
}

/// An SDK client for `endpoints`.
pub fn client_for(endpoints: &[String], request_timeout: Duration, deadline: Duration) -> Client {
    Client::builder()
        .endpoints(endpoints)
        .connect_timeout(Duration::from_secs(1))
        .request_timeout(request_timeout)
        .deadline(deadline)
        .max_retries(8)
        .build()
        // Endpoints are `10.213.0.N:7001`, always valid host:port, and never empty.
        .expect("harness endpoints are valid host:port addresses")
}

/// The cluster TOML (format: `cluster-config/CONFIG.md`) for nodes `ids` at 10.213.0.N.
pub fn config_toml(ids: &[NodeId], shards: u64) -> String {
    let rf = (ids.len() as u64).min(3);
    let mut s = format!(
        r#"# Written by jepsen-like for one run.
cluster_name = "jepsen-like"
initial_shards = {shards}
replication_factor = {rf}
default_region = "{REGION}"
idempotency_ttl_secs = 86400

[raft]
heartbeat_interval_ms = 250
election_timeout_min_ms = 1000
election_timeout_max_ms = 2000
snapshot_logs_since_last = 5000
max_in_snapshot_log_to_keep = 1000
"#
    );
    for &id in ids {
        let ip = netns::node_ip(id);
        s.push_str(&format!(
            r#"
[[nodes]]
id = {id}
grpc_addr = "{ip}:{GRPC_PORT}"
status_addr = "{ip}:{STATUS_PORT}"
region = "{REGION}"
zone = "z{id}"
"#
        ));
    }
    s
}

/// Removes `osj-run-*` temp dirs of crashed runs (call only while holding the run lock).
fn remove_stale_work_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(WORK_DIR_PREFIX) {
            tracing::warn!(path = %e.path().display(), "removing a stale data dir");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The last `lines` lines of the file at `path` (at most its last 64 KiB).
pub fn tail(path: &Path, lines: usize) -> String {
    use std::io::Read;
    use std::io::Seek;
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(std::io::SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_every_node_on_the_bridge_subnet() {
        let toml = config_toml(&[1, 2, 3], 4);
        assert!(toml.contains("initial_shards = 4"));
        assert!(toml.contains("replication_factor = 3"));
        assert_eq!(toml.matches("[[nodes]]").count(), 3);
        assert!(
            toml.contains("grpc_addr = \"10.213.0.2:7001\"\nstatus_addr = \"10.213.0.2:7002\"")
        );
        assert!(config_toml(&[1], 1).contains("replication_factor = 1"));
    }

    #[test]
    fn clock_shifts_become_faketime_specs() {
        let shift = |offset_secs, rate_pct| ClockShift {
            offset_secs,
            rate_pct,
        };
        assert_eq!(shift(90, 100).faketime(), "+90");
        assert_eq!(shift(-3600, 100).faketime(), "-3600");
        assert_eq!(shift(0, 150).faketime(), "+0 x1.50");
        assert_eq!(shift(0, 50).faketime(), "+0 x0.50");
        assert_eq!(shift(0, 300).faketime(), "+0 x3.00");
        assert_eq!(shift(0, 300).to_string(), "running at 300% speed");
        assert_eq!(shift(172_800, 100).to_string(), "+172800 s off");
        assert_eq!(
            shift(-90, 50).to_string(),
            "-90 s off, running at 50% speed"
        );
    }
}
