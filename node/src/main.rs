//! `orderd`: runs one orderstore node from the cluster configuration.

use std::path::PathBuf;

use clap::Parser;
use clap::ValueEnum;
use cluster_config::ClusterConfig;
use orderstore_node::NodeOptions;
use orderstore_node::Shutdown;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// orderd: an orderstore node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Cluster configuration (TOML); ORDERSTORE_* environment variables override it.
    #[arg(long, env = "ORDERD_CONFIG")]
    config: PathBuf,
    /// This node's id in the configuration.
    #[arg(long, env = "ORDERD_NODE_ID")]
    node_id: u64,
    /// Data directory (RocksDB lives here).
    #[arg(long, env = "ORDERD_DATA_DIR")]
    data_dir: PathBuf,
    /// On SIGTERM/SIGINT, the longest wait (ms) for this node's shard leaderships to move to
    /// other nodes before it stops serving (`/readyz` is 503 meanwhile); 0 skips the handover.
    /// Keep it below the supervisor's kill timeout (Kubernetes terminationGracePeriodSeconds).
    #[arg(long, default_value_t = 10_000, env = "ORDERD_DRAIN_TIMEOUT_MS")]
    drain_timeout_ms: u64,
    /// Free space (MiB) to keep on the data directory's file system: below it the node refuses
    /// writes with RESOURCE_EXHAUSTED (kind DISK_FULL) until space is freed; 0 disables.
    #[arg(long, default_value_t = 256, env = "ORDERD_DISK_RESERVE_MB")]
    disk_reserve_mb: u64,
    /// Restore mode: build this node's data directory of a new cluster from the backup in
    /// DIR (written by `orderctl backup`), then exit without serving. The data directory
    /// must be new; the configuration must have the backup's shard layout.
    #[arg(long, value_name = "DIR")]
    restore_from: Option<PathBuf>,
    /// Log output format.
    #[arg(long, value_enum, default_value = "text", env = "ORDERD_LOG_FORMAT")]
    log_format: LogFormat,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ORDERD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format);
    let mut config = ClusterConfig::load(&args.config)?;
    config.apply_env_overrides(std::env::vars())?;
    config.validate()?;
    let node = config
        .node(args.node_id)
        .ok_or_else(|| {
            anyhow::anyhow!("node {} is not in {}", args.node_id, args.config.display())
        })?
        .clone();
    if let Some(from) = &args.restore_from {
        let restored =
            orderstore_node::backup::restore_node(from, &config, args.node_id, &args.data_dir)
                .await?;
        for (shard, index) in &restored {
            tracing::info!(shard, last_log_index = index, "shard restored");
        }
        println!(
            "node {}: restored {} shard(s) from {} into {}",
            args.node_id,
            restored.len(),
            from.display(),
            args.data_dir.display()
        );
        return Ok(());
    }
    let grpc = TcpListener::bind(&node.grpc_addr).await?;
    let status = TcpListener::bind(&node.status_addr).await?;
    let (shutdown, rx) = Shutdown::new();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("signal received: draining, then stopping");
        shutdown.trigger();
    });
    let mut opts = NodeOptions::new(args.node_id, config, args.data_dir);
    opts.drain_timeout = std::time::Duration::from_millis(args.drain_timeout_ms);
    opts.disk_reserve_bytes = args.disk_reserve_mb.saturating_mul(1024 * 1024);
    if let Some(ms) = env_u64("ORDERD_SAGA_TIMEOUT_MS")? {
        opts.orchestrator.saga_timeout_ms = ms;
    }
    if let Some(ms) = env_u64("ORDERD_RESERVATION_TTL_MS")? {
        opts.orchestrator.reservation_ttl_ms = ms;
    }
    if let Ok(spec) = std::env::var("ORDERD_PAYMENT_FAULTS") {
        opts.payment_faults = Some(
            orderstore_node::orchestrator::FaultConfig::parse(&spec)
                .map_err(|e| anyhow::anyhow!("ORDERD_PAYMENT_FAULTS: {e}"))?,
        );
    }
    orderstore_node::run(opts, grpc, status, rx).await?;
    Ok(())
}

/// A numeric environment variable: `None` when unset, an error naming it when malformed.
fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(None),
    }
}
