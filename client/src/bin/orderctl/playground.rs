//! `orderctl playground up|down|stop-node|start-node`: a local cluster of `orderd` processes,
//! recorded in `DIR/cluster.json` (see [`PlaygroundManifest`]).
//!
//! Every wait here polls a condition against a deadline; none sleeps a fixed time hoping the
//! cluster caught up.

use std::net::TcpListener;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;
use std::time::Instant;

use nix::sys::signal::Signal;
use orderstore_client::Client;
use orderstore_client::ClientBuilder;
use orderstore_client::ClientError;
use orderstore_client::ClusterStatus;

use crate::cert;
use crate::cert::CredentialError;
use crate::cli::ConnectionArgs;
use crate::cli::OutputFormat;
use crate::cli::Role;
use crate::cli::UpArgs;
use crate::cli_error::CliError;
use crate::http_probe;
use crate::manifest::ADMIN_NAME;
use crate::manifest::CLUSTER_NAME;
use crate::manifest::CONFIG_FILE;
use crate::manifest::MANIFEST_FILE;
use crate::manifest::NodeEntry;
use crate::manifest::PlaygroundManifest;
use crate::manifest::SecureFiles;
use crate::node_process;
use crate::output;
use crate::token;

/// Poll interval of every wait.
const POLL: Duration = Duration::from_millis(100);
/// How long `down` waits after SIGTERM before sending SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(20);
/// How long to wait for a SIGKILLed process to disappear.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long `start-node` waits for `/livez`.
const LIVEZ_DEADLINE: Duration = Duration::from_secs(30);
/// Status ports sit this far above gRPC ports with a fixed `--base-port`.
const STATUS_PORT_OFFSET: u16 = 1000;
/// Log lines shown when a node fails.
const TAIL_LINES: usize = 20;

/// Why a playground command failed.
#[derive(Debug, thiserror::Error)]
pub enum PlaygroundError {
    /// `down` / `stop-node` / `start-node` on a directory without `cluster.json`.
    #[error("no playground in {}: {MANIFEST_FILE} is missing (start one with `orderctl playground up --dir {}`)", .dir.display(), .dir.display())]
    NoPlayground { dir: PathBuf },
    /// `up` on a directory whose nodes still run.
    #[error("{} already holds a running playground (node pids: {}); stop it with `orderctl playground down --dir {}`", .dir.display(), pids(.running), .dir.display())]
    AlreadyRunning {
        dir: PathBuf,
        running: Vec<(u64, u32)>,
    },
    /// `up` with a different shape than the data already in the directory.
    #[error("{} holds data of a playground with {nodes} node(s) and {shards} shard(s); remove it with `orderctl playground down --purge --dir {}` first", .dir.display(), .dir.display())]
    DifferentPlayground {
        dir: PathBuf,
        nodes: usize,
        shards: u64,
    },
    #[error("orderd binary not found (tried {}); build it with `cargo build --bins`, or pass --orderd / set ORDERD_BIN", list_paths(.tried))]
    OrderdNotFound { tried: Vec<PathBuf> },
    #[error("127.0.0.1:{port} is in use; choose another --base-port (0 picks free ports)")]
    PortInUse { port: u16 },
    #[error(
        "--base-port {base} leaves no room for {nodes} node(s) (status ports are +{STATUS_PORT_OFFSET})"
    )]
    PortRange { base: u16, nodes: u64 },
    /// `up --restore-from`: `orderd --restore-from` failed for a node (e.g. the playground
    /// already has data, or the backup's shard count differs).
    #[error("restoring node {id} from {} failed ({status}): {output}", .from.display())]
    Restore {
        id: u64,
        from: PathBuf,
        status: String,
        output: String,
    },
    #[error("cannot start {}: {source}", .orderd.display())]
    Spawn {
        orderd: PathBuf,
        source: std::io::Error,
    },
    /// A node process ended while we waited for it; `tail` is the end of its log.
    #[error("node {id} exited ({status}) before it was ready; its log {} ends with:", .log.display())]
    NodeExited {
        id: u64,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// The deadline passed before the cluster was ready.
    #[error("playground not ready after {}s: {waiting_for}; the log of node {node} ends with:", .waited.as_secs())]
    NotReady {
        waited: Duration,
        waiting_for: String,
        node: u64,
        tail: String,
    },
    #[error("no node {id} in {} (nodes: {known})", .dir.display())]
    UnknownNode {
        id: u64,
        dir: PathBuf,
        known: String,
    },
    #[error("node {id} is already running (pid {pid})")]
    NodeRunning { id: u64, pid: u32 },
    #[error("node {id} (pid {pid}) still runs {}s after SIGKILL", .waited.as_secs())]
    StillRunning { id: u64, pid: u32, waited: Duration },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a playground manifest: {message}", .path.display())]
    BadManifest { path: PathBuf, message: String },
}

impl PlaygroundError {
    /// Lines shown after the error line: the tail of the failing node's log.
    pub fn detail(&self) -> Option<&str> {
        match self {
            PlaygroundError::NodeExited { tail, .. } | PlaygroundError::NotReady { tail, .. } => {
                Some(tail)
            }
            _ => None,
        }
    }
}

fn pids(running: &[(u64, u32)]) -> String {
    running
        .iter()
        .map(|(id, pid)| format!("{id}={pid}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PlaygroundError {
    let path = path.to_path_buf();
    move |source| PlaygroundError::Io {
        action,
        path,
        source,
    }
}

/// The `orderd` to run: `--orderd`, else `$ORDERD_BIN`, else `orderd` beside this executable,
/// else `orderd` on `PATH`. The result is absolute.
fn resolve_orderd(explicit: Option<PathBuf>) -> Result<PathBuf, PlaygroundError> {
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        // An explicit choice is the only candidate: silently running another binary would
        // surprise.
        candidates.push(p);
    } else {
        if let Some(p) = std::env::var_os("ORDERD_BIN").filter(|p| !p.is_empty()) {
            candidates.push(PathBuf::from(p));
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            candidates.push(dir.join("orderd"));
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|d| d.join("orderd")));
        }
    }
    for c in candidates {
        if c.is_file() {
            return std::path::absolute(&c).map_err(io_err("resolve", &c));
        }
        tried.push(c);
    }
    tried.truncate(4);
    Err(PlaygroundError::OrderdNotFound { tried })
}

/// gRPC and status addresses for `n` nodes: fixed from `base`, or free ports when `base` is 0.
fn allocate_addrs(base: u16, n: u64) -> Result<Vec<(String, String)>, PlaygroundError> {
    if base == 0 {
        // Hold every socket until all ports are chosen so none is handed out twice, then
        // release them for the nodes (a small race with other programs remains).
        let mut held = Vec::new();
        for _ in 0..n * 2 {
            let l = TcpListener::bind("127.0.0.1:0")
                .map_err(io_err("bind", Path::new("127.0.0.1:0")))?;
            let port = l
                .local_addr()
                .map_err(io_err("bind", Path::new("127.0.0.1:0")))?
                .port();
            held.push((l, port));
        }
        let ports: Vec<u16> = held.iter().map(|(_, p)| *p).collect();
        // `chunks(2)` of an even-length list always yields pairs.
        return Ok(ports
            .chunks(2)
            .map(|c| (format!("127.0.0.1:{}", c[0]), format!("127.0.0.1:{}", c[1])))
            .collect());
    }
    let n16 = u16::try_from(n).map_err(|_| PlaygroundError::PortRange { base, nodes: n })?;
    if n16 == 0 {
        return Ok(Vec::new());
    }
    let last_status = base
        .checked_add(STATUS_PORT_OFFSET)
        .and_then(|p| p.checked_add(n16 - 1))
        .ok_or(PlaygroundError::PortRange { base, nodes: n })?;
    if n16 > STATUS_PORT_OFFSET || last_status == 0 {
        return Err(PlaygroundError::PortRange { base, nodes: n });
    }
    Ok((0..n16)
        .map(|i| {
            (
                format!("127.0.0.1:{}", base + i),
                format!("127.0.0.1:{}", base + STATUS_PORT_OFFSET + i),
            )
        })
        .collect())
}

/// Fails with [`PlaygroundError::PortInUse`] when any address cannot be bound now.
fn check_ports_free(nodes: &[NodeEntry]) -> Result<(), PlaygroundError> {
    for addr in nodes.iter().flat_map(|n| [&n.grpc_addr, &n.status_addr]) {
        if TcpListener::bind(addr.as_str()).is_err() {
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            return Err(PlaygroundError::PortInUse { port });
        }
    }
    Ok(())
}

/// `playground up`.
pub async fn up(args: UpArgs, format: OutputFormat) -> Result<(), CliError> {
    let orderd = resolve_orderd(args.orderd.clone())?;
    let created = !args.dir.exists();
    std::fs::create_dir_all(&args.dir).map_err(io_err("create", &args.dir))?;
    let dir = std::fs::canonicalize(&args.dir).map_err(io_err("resolve", &args.dir))?;

    let planned = PlaygroundManifest::load(&dir)
        .and_then(|existing| plan(&dir, &args, orderd, existing))
        .and_then(|m| check_ports_free(&m.nodes).map(|()| m));
    let mut manifest = match planned {
        Ok(m) => m,
        Err(e) => {
            if created {
                // Nothing was written yet: leave no empty directory behind.
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e.into());
        }
    };
    if manifest.secure {
        make_credentials(&manifest)?;
    }
    // Made before any node starts: unusable credentials fail here, with nothing to clean up.
    // The short budget keeps each readiness poll quick; the wait loop itself retries.
    let client = client_builder(&manifest)?
        .request_timeout(Duration::from_secs(3))
        .deadline(Duration::from_secs(3))
        .max_retries(1)
        .build()?;
    let config = manifest.config.clone();
    std::fs::write(&config, manifest.config_toml()).map_err(io_err("write", &config))?;
    manifest.save(&dir)?;
    if let Some(from) = &args.restore_from {
        for node in &manifest.nodes {
            node_process::restore_node(&manifest.orderd, &manifest.config, node, from)?;
        }
    }

    let started = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    for i in 0..manifest.nodes.len() {
        match node_process::spawn_node(&manifest.orderd, &manifest.config, &manifest.nodes[i]) {
            Ok(child) => {
                manifest.nodes[i].pid = child.id();
                children.push(child);
                manifest.save(&dir)?;
            }
            Err(source) => {
                abort_startup(&dir, &mut manifest, &mut children);
                return Err(PlaygroundError::Spawn {
                    orderd: manifest.orderd.clone(),
                    source,
                }
                .into());
            }
        }
    }
    let deadline = started + Duration::from_secs(args.ready_timeout);
    let status = match wait_ready(&manifest, &client, &mut children, deadline).await {
        Ok(status) => status,
        Err(e) => {
            abort_startup(&dir, &mut manifest, &mut children);
            return Err(e.into());
        }
    };
    // The children keep running after we exit; dropping `Child` neither kills nor waits.
    drop(children);

    match format {
        OutputFormat::Json => output::print_json(&manifest),
        OutputFormat::Table => {
            println!(
                "playground {:?} is up in {}: {} node(s), {} shard(s) with leaders, replication {} (ready in {:.1}s)",
                manifest.cluster_name,
                dir.display(),
                manifest.nodes.len(),
                status.shards.len(),
                manifest.replication_factor,
                started.elapsed().as_secs_f64()
            );
            let mut t = output::table(["node", "grpc", "status", "pid", "log"]);
            for n in &manifest.nodes {
                t.add_row([
                    n.id.to_string(),
                    n.grpc_addr.clone(),
                    n.status_addr.clone(),
                    n.pid.to_string(),
                    n.log.display().to_string(),
                ]);
            }
            println!("{t}");
            let endpoints = manifest.endpoints.join(",");
            println!("endpoints: {endpoints}");
            println!("  export ORDERSTORE_ENDPOINTS={endpoints}");
            if let Some(f) = manifest.secure_files() {
                println!("  export ORDERCTL_CA_CERT={}", f.ca_cert.display());
                println!("  export ORDERCTL_TOKEN_FILE={}", f.admin_token.display());
            }
            println!("  orderctl cluster status");
            println!("  orderctl demo");
            println!("  orderctl playground down --dir {}", dir.display());
            if let Some(f) = manifest.secure_files() {
                println!(
                    "TLS and authentication are on; without the exports, pass the admin's credentials:"
                );
                println!(
                    "  orderctl --ca-cert {} --token-file {} cluster status",
                    f.ca_cert.display(),
                    f.admin_token.display()
                );
                println!(
                    "  mutual TLS instead of the token: --ca-cert {} --cert {} --key {}",
                    f.ca_cert.display(),
                    f.admin_cert.display(),
                    f.admin_key.display()
                );
                println!(
                    "  more principals: orderctl cert client --dir {} --name NAME --role reader|writer|admin,",
                    f.certs_dir.display()
                );
                println!(
                    "  orderctl token create --name NAME --role ROLE --tokens-file {} (then restart the nodes)",
                    f.tokens_file.display()
                );
            }
        }
    }
    Ok(())
}

/// Makes a secure playground's credentials in [`SecureFiles`], replacing earlier ones (like
/// the config, they are regenerated on every `up --secure`): the CA, one certificate per node
/// (`localhost`, `127.0.0.1`), the admin client certificate, and an admin token, written in
/// plain to `certs/admin.token` and hashed to `tokens.toml` (both mode 0600).
fn make_credentials(manifest: &PlaygroundManifest) -> Result<SecureFiles, CredentialError> {
    let f = SecureFiles::in_dir(manifest.dir());
    cert::create_ca(&f.certs_dir, true)?;
    for n in &manifest.nodes {
        cert::create_node(&f.certs_dir, n.id, &[], true)?;
    }
    cert::create_client(&f.certs_dir, ADMIN_NAME, Role::Admin, true)?;
    let admin = token::NewToken::generate(ADMIN_NAME, Role::Admin)?;
    cert::write_file(
        &f.admin_token,
        format!("{}\n", admin.token).as_bytes(),
        0o600,
    )
    .map_err(cert::io_err("write", &f.admin_token))?;
    token::write_tokens_file(&f.tokens_file, &[admin])?;
    Ok(f)
}

/// A client builder for the playground's nodes; for a secure playground, with TLS trusting its
/// CA and the admin token, exactly as `--ca-cert` / `--token-file` would set them.
pub fn client_builder(manifest: &PlaygroundManifest) -> Result<ClientBuilder, ClientError> {
    let connection = match manifest.secure_files() {
        Some(f) => ConnectionArgs {
            ca_cert: Some(f.ca_cert),
            token_file: Some(f.admin_token),
            ..Default::default()
        },
        None => ConnectionArgs::default(),
    };
    connection.builder(&manifest.endpoints)
}

/// The manifest `up` will start: a fresh one, or the existing one (same addresses) when the
/// directory holds a stopped playground of the same shape.
fn plan(
    dir: &Path,
    args: &UpArgs,
    orderd: PathBuf,
    existing: Option<PlaygroundManifest>,
) -> Result<PlaygroundManifest, PlaygroundError> {
    if let Some(m) = existing {
        let running: Vec<(u64, u32)> = m.running().iter().map(|n| (n.id, n.pid)).collect();
        if !running.is_empty() {
            return Err(PlaygroundError::AlreadyRunning {
                dir: dir.to_path_buf(),
                running,
            });
        }
        let has_data = m.nodes.iter().any(|n| n.data_dir.exists());
        let same_shape = m.nodes.len() as u64 == args.nodes && m.shards == args.shards;
        if has_data && !same_shape {
            return Err(PlaygroundError::DifferentPlayground {
                dir: dir.to_path_buf(),
                nodes: m.nodes.len(),
                shards: m.shards,
            });
        }
        if has_data {
            // Restart over the kept data with the addresses the data was written with.
            let nodes = m
                .nodes
                .into_iter()
                .map(|n| NodeEntry { pid: 0, ..n })
                .collect();
            return Ok(PlaygroundManifest {
                orderd,
                nodes,
                secure: args.secure,
                ..m
            });
        }
    }
    let addrs = allocate_addrs(args.base_port, args.nodes)?;
    let nodes: Vec<NodeEntry> = addrs
        .into_iter()
        .zip(1u64..)
        .map(|((grpc_addr, status_addr), id)| NodeEntry {
            id,
            grpc_addr,
            status_addr,
            pid: 0,
            data_dir: dir.join(format!("node-{id}")),
            log: dir.join(format!("node-{id}.log")),
        })
        .collect();
    Ok(PlaygroundManifest {
        cluster_name: CLUSTER_NAME.to_string(),
        config: dir.join(CONFIG_FILE),
        orderd,
        shards: args.shards,
        replication_factor: args.nodes.min(3),
        endpoints: nodes.iter().map(|n| n.grpc_addr.clone()).collect(),
        nodes,
        secure: args.secure,
    })
}

/// Kills what `up` started and records that nothing runs. Best effort: we are already failing.
fn abort_startup(dir: &Path, manifest: &mut PlaygroundManifest, children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    for n in &mut manifest.nodes {
        n.pid = 0;
    }
    let _ = manifest.save(dir);
}

/// Polls until every node's `/readyz` answers 200 and `ClusterStatus` (asked through `client`,
/// which carries the playground's credentials) shows every node up and a leader for every
/// shard, or a node exits, or `deadline` passes.
async fn wait_ready(
    manifest: &PlaygroundManifest,
    client: &Client,
    children: &mut [Child],
    deadline: Instant,
) -> Result<ClusterStatus, PlaygroundError> {
    let started = Instant::now();
    loop {
        for (node, child) in manifest.nodes.iter().zip(children.iter_mut()) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(PlaygroundError::NodeExited {
                    id: node.id,
                    status: status.to_string(),
                    log: node.log.clone(),
                    tail: node_process::tail(&node.log, TAIL_LINES),
                });
            }
        }
        let mut waiting_for = Vec::new();
        let mut first_waiting = None;
        for node in &manifest.nodes {
            let code =
                http_probe::status_code(&node.status_addr, "/readyz", Duration::from_secs(1)).await;
            if code != Some(200) {
                first_waiting.get_or_insert(node.id);
                waiting_for.push(match code {
                    Some(c) => format!("node {} /readyz answers {c}", node.id),
                    None => format!("node {} /readyz does not answer", node.id),
                });
            }
        }
        if waiting_for.is_empty() {
            match client.cluster_status().await {
                Ok(status)
                    if status.all_shards_have_leader()
                        && status.nodes.iter().all(|n| n.state == "up") =>
                {
                    return Ok(status);
                }
                Ok(status) => {
                    let leaderless: Vec<String> = status
                        .shards
                        .iter()
                        .filter(|s| s.leader.is_none())
                        .map(|s| s.id.to_string())
                        .collect();
                    if status.shards.is_empty() {
                        waiting_for.push("ClusterStatus lists no shards".to_string());
                    } else if !leaderless.is_empty() {
                        waiting_for
                            .push(format!("shard(s) {} have no leader", leaderless.join(",")));
                    }
                    for n in status.nodes.iter().filter(|n| n.state != "up") {
                        first_waiting.get_or_insert(n.id);
                        waiting_for.push(format!("node {} is {}", n.id, n.state));
                    }
                }
                Err(e) => waiting_for.push(format!("ClusterStatus failed: {e}")),
            }
        }
        if Instant::now() >= deadline {
            let node = first_waiting
                .or(manifest.nodes.first().map(|n| n.id))
                .unwrap_or(0);
            let log = manifest
                .nodes
                .iter()
                .find(|n| n.id == node)
                .map(|n| n.log.clone())
                .unwrap_or_default();
            return Err(PlaygroundError::NotReady {
                waited: started.elapsed(),
                waiting_for: waiting_for.join("; "),
                node,
                tail: node_process::tail(&log, TAIL_LINES),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls until none of `nodes` runs or `deadline` passes; returns those still running.
async fn wait_exited(nodes: Vec<NodeEntry>, deadline: Instant) -> Vec<NodeEntry> {
    let mut left = nodes;
    loop {
        left.retain(node_process::is_running);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SIGKILLs `nodes` and waits until they are gone.
async fn kill_and_wait(nodes: Vec<NodeEntry>) -> Result<(), PlaygroundError> {
    for n in &nodes {
        node_process::send_signal(n.pid, Signal::SIGKILL).map_err(io_err("signal", &n.data_dir))?;
    }
    let left = wait_exited(nodes, Instant::now() + KILL_WAIT).await;
    match left.first() {
        Some(n) => Err(PlaygroundError::StillRunning {
            id: n.id,
            pid: n.pid,
            waited: KILL_WAIT,
        }),
        None => Ok(()),
    }
}

/// `playground down`.
pub async fn down(dir: &Path, purge: bool, format: OutputFormat) -> Result<(), CliError> {
    let mut manifest = PlaygroundManifest::require(dir)?;
    let running: Vec<NodeEntry> = manifest.running().into_iter().cloned().collect();
    let stopped = running.len();
    for n in &running {
        node_process::send_signal(n.pid, Signal::SIGTERM).map_err(io_err("signal", &n.data_dir))?;
    }
    let stragglers = wait_exited(running, Instant::now() + TERM_GRACE).await;
    let killed = stragglers.len();
    kill_and_wait(stragglers).await?;
    for n in &mut manifest.nodes {
        n.pid = 0;
    }
    manifest.save(dir)?;
    if purge {
        purge_files(dir, &manifest)?;
    }
    match format {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "dir": dir, "stopped": stopped, "killed": killed, "purged": purge,
        })),
        OutputFormat::Table => {
            let kept = if purge { "data purged" } else { "data kept" };
            println!(
                "stopped {stopped} node(s) ({killed} needed SIGKILL); {kept} in {}",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Deletes what `up` created (node data and logs, config, manifest), then the directory if it
/// is empty. Files not made by the playground are left alone.
fn purge_files(dir: &Path, manifest: &PlaygroundManifest) -> Result<(), PlaygroundError> {
    for n in &manifest.nodes {
        if n.data_dir.exists() {
            std::fs::remove_dir_all(&n.data_dir).map_err(io_err("remove", &n.data_dir))?;
        }
        remove_if_exists(&n.log)?;
    }
    remove_if_exists(&manifest.config)?;
    remove_if_exists(&PlaygroundManifest::path(dir))?;
    // Credentials of an `up --secure`, this one or an earlier one.
    let f = SecureFiles::in_dir(dir);
    let mut made = vec![
        f.ca_cert.clone(),
        f.certs_dir.join(cert::CA_KEY_FILE),
        f.admin_cert,
        f.admin_key,
        f.admin_token,
        f.tokens_file,
    ];
    for n in &manifest.nodes {
        let (cert, key) = cert::node_files(&f.certs_dir, n.id);
        made.extend([cert, key]);
    }
    for path in &made {
        remove_if_exists(path)?;
    }
    let _ = std::fs::remove_dir(&f.certs_dir);
    // Not empty (the user keeps other files there) is fine.
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<(), PlaygroundError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// `playground stop-node`: SIGKILL (a crash, not a clean shutdown).
pub async fn stop_node(
    dir: &Path,
    id: u64,
    graceful: bool,
    format: OutputFormat,
) -> Result<(), CliError> {
    let mut manifest = PlaygroundManifest::require(dir)?;
    let node = manifest.node_mut(id, dir)?.clone();
    let was_running = node_process::is_running(&node);
    if was_running && graceful {
        node_process::send_signal(node.pid, Signal::SIGTERM)
            .map_err(io_err("signal", &node.data_dir))?;
        let left = wait_exited(vec![node.clone()], Instant::now() + TERM_GRACE).await;
        kill_and_wait(left).await?;
    } else if was_running {
        kill_and_wait(vec![node.clone()]).await?;
    }
    manifest.node_mut(id, dir)?.pid = 0;
    manifest.save(dir)?;
    match format {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "node": id, "pid": node.pid, "killed": was_running, "graceful": graceful,
        })),
        OutputFormat::Table if was_running && graceful => {
            println!(
                "node {id} (pid {}) drained and stopped; its data is kept",
                node.pid
            )
        }
        OutputFormat::Table if was_running => {
            println!("node {id} (pid {}) killed; its data is kept", node.pid)
        }
        OutputFormat::Table => println!("node {id} was not running"),
    }
    Ok(())
}

/// `playground start-node`: the same arguments as at `up`; returns once `/livez` answers.
pub async fn start_node(dir: &Path, id: u64, format: OutputFormat) -> Result<(), CliError> {
    let mut manifest = PlaygroundManifest::require(dir)?;
    let node = manifest.node_mut(id, dir)?.clone();
    if node_process::is_running(&node) {
        return Err(PlaygroundError::NodeRunning { id, pid: node.pid }.into());
    }
    check_ports_free(std::slice::from_ref(&node))?;
    let mut child =
        node_process::spawn_node(&manifest.orderd, &manifest.config, &node).map_err(|source| {
            PlaygroundError::Spawn {
                orderd: manifest.orderd.clone(),
                source,
            }
        })?;
    let pid = child.id();
    manifest.node_mut(id, dir)?.pid = pid;
    manifest.save(dir)?;
    let deadline = Instant::now() + LIVEZ_DEADLINE;
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            manifest.node_mut(id, dir)?.pid = 0;
            manifest.save(dir)?;
            return Err(PlaygroundError::NodeExited {
                id,
                status: status.to_string(),
                log: node.log.clone(),
                tail: node_process::tail(&node.log, TAIL_LINES),
            }
            .into());
        }
        if http_probe::status_code(&node.status_addr, "/livez", Duration::from_secs(1)).await
            == Some(200)
        {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            manifest.node_mut(id, dir)?.pid = 0;
            manifest.save(dir)?;
            return Err(PlaygroundError::NotReady {
                waited: started.elapsed(),
                waiting_for: format!("node {id} /livez does not answer 200"),
                node: id,
                tail: node_process::tail(&node.log, TAIL_LINES),
            }
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
    match format {
        OutputFormat::Json => output::print_json(&serde_json::json!({"node": id, "pid": pid})),
        OutputFormat::Table => println!(
            "node {id} started (pid {pid}) and is live at {}",
            node.status_addr
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ports_follow_the_base_and_free_ports_are_distinct() {
        let a = allocate_addrs(7001, 3).unwrap();
        assert_eq!(
            a[0],
            ("127.0.0.1:7001".to_string(), "127.0.0.1:8001".to_string())
        );
        assert_eq!(
            a[2],
            ("127.0.0.1:7003".to_string(), "127.0.0.1:8003".to_string())
        );
        assert!(matches!(
            allocate_addrs(65000, 3),
            Err(PlaygroundError::PortRange { .. })
        ));

        let free = allocate_addrs(0, 3).unwrap();
        let mut all: Vec<&String> = free.iter().flat_map(|(g, s)| [g, s]).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6);
    }

    /// `up --secure`'s credentials: every file the config and the printed instructions name
    /// exists, secrets are private, the tokens file holds the hash of the admin token, and the
    /// playground's own client (used by the readiness wait) is built from them.
    #[tokio::test]
    async fn secure_credentials_match_the_config() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let args = UpArgs {
            nodes: 2,
            dir: dir.to_path_buf(),
            shards: 1,
            base_port: 0,
            orderd: None,
            ready_timeout: 1,
            secure: true,
            restore_from: None,
        };
        let m = plan(dir, &args, "/bin/orderd".into(), None).unwrap();
        assert!(m.secure);
        let f = make_credentials(&m).unwrap();
        assert_eq!(Some(f.clone()), m.secure_files());
        for n in &m.nodes {
            let (cert, key) = cert::node_files(&f.certs_dir, n.id);
            assert!(cert.is_file() && key.is_file());
            let template = f
                .node_key_template
                .to_string_lossy()
                .replace("{node_id}", &n.id.to_string());
            assert_eq!(PathBuf::from(template), key);
        }
        for secret in [&f.admin_key, &f.admin_token, &f.tokens_file] {
            let mode = std::fs::metadata(secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", secret.display());
        }
        let admin_token = std::fs::read_to_string(&f.admin_token).unwrap();
        let tokens: toml::Table =
            toml::from_str(&std::fs::read_to_string(&f.tokens_file).unwrap()).unwrap();
        let entry = &tokens["tokens"].as_array().unwrap()[0];
        assert_eq!(entry["name"].as_str(), Some("admin"));
        assert_eq!(entry["role"].as_str(), Some("admin"));
        assert_eq!(
            entry["sha256"].as_str(),
            Some(token::sha256_hex(admin_token.trim()).as_str())
        );
        let client = client_builder(&m).unwrap().build().unwrap();
        assert!(!format!("{client:?}").contains(admin_token.trim()));

        // A second `up --secure` replaces the credentials (the config names the same paths).
        make_credentials(&m).unwrap();
        assert_ne!(
            std::fs::read_to_string(&f.admin_token).unwrap(),
            admin_token
        );
    }

    #[test]
    fn explicit_orderd_must_exist() {
        let err = resolve_orderd(Some("/nonexistent/orderd".into())).unwrap_err();
        assert!(err.to_string().contains("cargo build --bins"), "{err}");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(resolve_orderd(Some(exe.clone())).unwrap(), exe);
    }
}
