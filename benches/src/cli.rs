//! [`Cli`]: the `order-bench` command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{BenchError, LoopMode, System, Workload};

/// Load generator for orderstore with etcd and PostgreSQL baselines.
#[derive(Debug, Parser)]
#[command(name = "order-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run workloads against running systems and write summary.md, results.json, latency.svg.
    Run(Box<RunArgs>),
    /// Print COUNT free TCP ports on 127.0.0.1, one per line (for run.sh to start peers on).
    /// All are held open together while choosing, so they are distinct; another process may
    /// still take one before it is used.
    FreePorts {
        #[arg(default_value_t = 1)]
        count: usize,
    },
}

/// Read consistency of point reads (`order-read`, the reads of `mixed-*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    /// orderstore ReadIndex on the leader; etcd default (linearizable) reads; PostgreSQL
    /// (single node) reads are always current.
    #[default]
    Linearizable,
    /// orderstore `STALE` (any replica's applied state); etcd serializable reads.
    Stale,
}

/// How load is offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// `--clients` clients, each sending its next request when the previous one answered.
    #[default]
    Closed,
    /// Requests arrive at `--rate` per second regardless of answers; latency is measured from
    /// the intended start (no coordinated omission).
    Open,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Workloads to run, comma-separated: order-write, order-read, mixed-a (50/50), mixed-b
    /// (95/5); `mixed` = mixed-a; flash-sale, saga-throughput (purchases, orderstore only).
    #[arg(long, value_delimiter = ',', default_value = "order-write")]
    pub workload: Vec<Workload>,
    /// Concurrent clients (closed loop); connection pool size for PostgreSQL.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Measured time per workload and system, e.g. 30s, 2m, 500ms [default: 30s, quick 8s];
    /// flash-sale: the longest the sale may run before it sold out [default: 60s, quick 30s].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Unmeasured warm-up before it [default: 5s, quick 2s].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Systems to measure, comma-separated: orderstore, etcd, postgres. Ratios are
    /// orderstore / each other system.
    #[arg(long, value_delimiter = ',', default_value = "orderstore")]
    pub against: Vec<System>,
    /// Output directory for summary.md, results.json and latency.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Short run (8 s measured, 2 s warm-up, 1,000 preloaded orders per system) unless the
    /// values are given explicitly.
    #[arg(long)]
    pub quick: bool,
    #[arg(long, value_enum, default_value_t)]
    pub mode: ModeArg,
    /// Open loop: total arrivals per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: most operations outstanding; later arrivals are dropped and counted.
    #[arg(long, default_value_t = 4096)]
    pub max_in_flight: usize,
    /// Orders placed before read and mixed workloads [default: 10000, quick 1000].
    #[arg(long)]
    pub preload: Option<usize>,
    #[arg(long, value_enum, default_value_t)]
    pub read_consistency: ReadConsistency,
    /// orderstore gRPC addresses (any nodes), comma-separated.
    #[arg(long, value_delimiter = ',', env = "ORDERSTORE_ENDPOINTS")]
    pub orderstore_endpoints: Vec<String>,
    /// Read orderstore endpoints from a playground manifest (`DIR/cluster.json`).
    #[arg(long)]
    pub orderstore_manifest: Option<PathBuf>,
    /// etcd client URLs, comma-separated (every member).
    #[arg(long, value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// PostgreSQL connection string, e.g. "host=/tmp/pg port=5433 user=postgres dbname=bench".
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// Independent gRPC clients (connections) for orderstore and etcd each.
    #[arg(long, default_value_t = 4)]
    pub grpc_connections: usize,
    /// orderstore: SDK retries after the first attempt (default: the SDK's). `0` measures
    /// admission control: a request the cluster refuses (RESOURCE_EXHAUSTED) is an error, and
    /// the latency figures are those of admitted requests.
    #[arg(long)]
    pub orderstore_max_retries: Option<u32>,
    /// Per-operation timeout; a slower operation counts as an error.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub op_timeout: Duration,
    /// Upper bound on operations per measured phase (warm-up included).
    #[arg(long, default_value_t = 50_000_000)]
    pub max_ops: u64,
    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Git commit recorded in the results.
    #[arg(long)]
    pub git_commit: Option<String>,
    /// flash-sale: units of the hot SKU.
    #[arg(long, default_value_t = 1000)]
    pub stock: u64,
    /// flash-sale: escrow buckets the hot SKU is split into.
    #[arg(long, default_value_t = 8)]
    pub buckets: u32,
    /// flash-sale, saga-throughput: buyer accounts opened (concurrently) before timing.
    #[arg(long, default_value_t = 1000)]
    pub buyers: usize,
    /// flash-sale: concurrent remaining-stock readers (`get_stock`, stale).
    #[arg(long, default_value_t = 4)]
    pub readers: usize,
    /// saga-throughput: SKUs (with ample stock) purchases spread over.
    #[arg(long, default_value_t = 64)]
    pub skus: usize,
}

impl RunArgs {
    pub fn effective_duration(&self) -> Duration {
        self.duration.unwrap_or(if self.quick {
            Duration::from_secs(8)
        } else {
            Duration::from_secs(30)
        })
    }

    pub fn effective_warmup(&self) -> Duration {
        self.warmup.unwrap_or(if self.quick {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(5)
        })
    }

    /// flash-sale: the longest the sale runs (it normally ends earlier, when sold out).
    pub fn effective_sale_duration(&self) -> Duration {
        self.duration.unwrap_or(if self.quick {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(60)
        })
    }

    pub fn effective_preload(&self) -> usize {
        self.preload
            .unwrap_or(if self.quick { 1_000 } else { 10_000 })
    }

    /// The load mode, checked: [`BenchError::InvalidArgs`] when open loop has no positive rate,
    /// or when there are no clients, workloads or systems.
    pub fn loop_mode(&self) -> Result<LoopMode, BenchError> {
        if self.clients == 0 {
            return Err(BenchError::InvalidArgs(
                "--clients must be at least 1".into(),
            ));
        }
        if self.workload.is_empty() || self.against.is_empty() {
            return Err(BenchError::InvalidArgs(
                "--workload and --against must name at least one each".into(),
            ));
        }
        match self.mode {
            ModeArg::Closed => Ok(LoopMode::Closed {
                clients: self.clients,
            }),
            ModeArg::Open => match self.rate {
                Some(rate) if rate.is_finite() && rate > 0.0 => Ok(LoopMode::Open {
                    rate,
                    max_in_flight: self.max_in_flight.max(1),
                    connections: self.clients,
                }),
                _ => Err(BenchError::InvalidArgs(
                    "--mode open needs a positive --rate".into(),
                )),
            },
        }
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a plain number of seconds (fractions allowed: `1.5s`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["order-bench", "run"].iter().chain(args).copied();
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Run(r) => *r,
            Command::FreePorts { .. } => panic!("parsed a run command"),
        })
    }

    #[test]
    fn durations_parse_with_units() {
        let cases = [
            ("30s", 30_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("1.5s", 1_500),
            ("7", 7_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "3x", "-1s", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    /// The issue's example command parses into the expected plan.
    #[test]
    fn issue_example_command_parses() {
        let args = parse(&[
            "--workload",
            "order-write",
            "--clients",
            "64",
            "--duration",
            "30s",
            "--against",
            "orderstore,etcd,postgres",
            "--out",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(args.workload, vec![Workload::OrderWrite]);
        assert_eq!(
            args.against,
            vec![System::Orderstore, System::Etcd, System::Postgres]
        );
        assert_eq!(args.effective_duration(), Duration::from_secs(30));
        assert_eq!(args.effective_warmup(), Duration::from_secs(5));
        assert_eq!(args.loop_mode().unwrap(), LoopMode::Closed { clients: 64 });
    }

    #[test]
    fn quick_shortens_defaults_but_not_explicit_values() {
        let args = parse(&["--out", "o", "--quick", "--warmup", "1s"]).unwrap();
        assert_eq!(args.effective_duration(), Duration::from_secs(8));
        assert_eq!(args.effective_warmup(), Duration::from_secs(1));
        assert_eq!(args.effective_preload(), 1_000);
    }

    #[test]
    fn purchase_workloads_parse_with_their_options() {
        let args = parse(&[
            "--out",
            "o",
            "--quick",
            "--workload",
            "flash-sale,saga-throughput",
            "--stock",
            "500",
            "--buckets",
            "4",
            "--buyers",
            "200",
            "--readers",
            "2",
            "--skus",
            "16",
        ])
        .unwrap();
        assert_eq!(
            args.workload,
            vec![Workload::FlashSale, Workload::SagaThroughput]
        );
        assert_eq!(
            (
                args.stock,
                args.buckets,
                args.buyers,
                args.readers,
                args.skus
            ),
            (500, 4, 200, 2, 16)
        );
        assert_eq!(args.effective_sale_duration(), Duration::from_secs(30));
        assert_eq!(args.effective_duration(), Duration::from_secs(8));
        let explicit = parse(&["--out", "o", "--duration", "5s"]).unwrap();
        assert_eq!(explicit.effective_sale_duration(), Duration::from_secs(5));
        assert!(parse(&["--out", "o", "--stock", "-1"]).is_err());
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert!(parse(&["--out", "o", "--workload", "flash"]).is_err());
        assert!(parse(&["--out", "o", "--against", "mysql"]).is_err());
        assert!(
            parse(&["--workload", "order-read"]).is_err(),
            "--out is required"
        );
        let open = parse(&["--out", "o", "--mode", "open"]).unwrap();
        assert!(matches!(open.loop_mode(), Err(BenchError::InvalidArgs(_))));
        let zero = parse(&["--out", "o", "--clients", "0"]).unwrap();
        assert!(zero.loop_mode().is_err());
        let rated = parse(&["--out", "o", "--mode", "open", "--rate", "500"]).unwrap();
        assert!(matches!(rated.loop_mode(), Ok(LoopMode::Open { .. })));
    }
}
