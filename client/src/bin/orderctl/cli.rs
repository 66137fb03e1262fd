//! The command line, as clap derive types. Handlers live in the sibling modules.

use std::path::PathBuf;

use clap::Args;
use clap::Parser;
use clap::Subcommand;
use clap::ValueEnum;
use orderstore_client::Action;
use orderstore_client::LineItem;

/// Default playground directory (git-ignored at the repository root).
pub const DEFAULT_PLAYGROUND_DIR: &str = "playground-data";

/// orderctl: operate an orderstore cluster: start a local playground, place and advance orders,
/// inspect the cluster, run the demo.
///
/// Exit codes: 0 ok; 1 other failure; 2 usage or invalid input (INVALID_ARGUMENT); 3 not found;
/// 4 refused by the order's state (FAILED_PRECONDITION, ABORTED version conflict, ALREADY_EXISTS,
/// idempotency key reused); 5 cluster unavailable after retries (retry later); 6 data loss
/// (quarantined shard); 7 playground failure (a node exited, not ready in time, ...).
#[derive(Debug, Parser)]
#[command(name = "orderctl", version, about, long_about)]
pub struct Cli {
    /// Node gRPC addresses (host:port), comma separated; any one reachable node is enough.
    #[arg(
        long,
        global = true,
        env = "ORDERSTORE_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:7001"
    )]
    pub endpoints: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Time budget of each request to the cluster, retries included, in seconds.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// JSON on stdout (one document per command).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local multi-node cluster of `orderd` processes.
    #[command(subcommand)]
    Playground(PlaygroundCmd),
    /// Place, read and advance orders.
    #[command(subcommand)]
    Order(OrderCmd),
    /// Inspect and steer the cluster.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Place orders concurrently, walk some through their lifecycle, and report figures.
    Demo(DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum PlaygroundCmd {
    /// Write DIR/cluster.toml, start the nodes in the background and wait until every shard has
    /// a leader; then write DIR/cluster.json and print the endpoints.
    Up(UpArgs),
    /// Stop every node (SIGTERM, then SIGKILL after a deadline). Keeps data unless --purge.
    Down {
        #[arg(long, default_value = DEFAULT_PLAYGROUND_DIR)]
        dir: PathBuf,
        /// Also delete the nodes' data, logs and the playground files.
        #[arg(long)]
        purge: bool,
    },
    /// Crash one node (SIGKILL); its data stays. Records pid 0 in cluster.json.
    StopNode {
        #[arg(long, default_value = DEFAULT_PLAYGROUND_DIR)]
        dir: PathBuf,
        /// Node id.
        #[arg(long)]
        node: u64,
    },
    /// Start a stopped node again with its original arguments and wait for /livez.
    StartNode {
        #[arg(long, default_value = DEFAULT_PLAYGROUND_DIR)]
        dir: PathBuf,
        /// Node id.
        #[arg(long)]
        node: u64,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub nodes: u64,
    /// Playground directory (config, logs, data).
    #[arg(long, default_value = DEFAULT_PLAYGROUND_DIR)]
    pub dir: PathBuf,
    /// Initial number of shards.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub shards: u64,
    /// First gRPC port (nodes get P, P+1, ...; status ports P+1000, ...); 0 picks free ports.
    #[arg(long, default_value_t = 7001)]
    pub base_port: u16,
    /// The orderd binary (default: $ORDERD_BIN, else `orderd` next to orderctl, else on PATH).
    #[arg(long)]
    pub orderd: Option<PathBuf>,
    /// Seconds to wait for every node to be ready and every shard to have a leader.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub ready_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum OrderCmd {
    /// Place a new order.
    Place {
        #[arg(long)]
        customer: String,
        /// A line as SKU:QTY:PRICE (price in minor units, e.g. 1999 for 19.99); repeatable.
        #[arg(long = "item", required = true, value_name = "SKU:QTY:PRICE", value_parser = parse_item)]
        items: Vec<LineItem>,
        /// ISO 4217 currency (server default USD).
        #[arg(long)]
        currency: Option<String>,
        /// Home region (server default: the cluster's default region).
        #[arg(long)]
        region: Option<String>,
        /// Idempotency key: re-running with the same key returns the same order.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Read an order (linearizable unless --stale).
    Get {
        order_id: String,
        /// Read the contacted replica's state, which may lag.
        #[arg(long)]
        stale: bool,
    },
    /// Pay (authorize and capture).
    Pay(CommandArgs),
    /// Ship every eligible line, or --line N.
    Ship(CommandArgs),
    /// Deliver every shipped line, or --line N.
    Deliver(CommandArgs),
    /// Cancel, with an optional --reason.
    Cancel(CommandArgs),
    /// Request a return of every eligible line, or --line N.
    Return(CommandArgs),
    /// Apply any action: authorize, capture, pay, fail-payment, void, ship, deliver, complete,
    /// cancel, expire, hold, release-hold, request-return, receive-return, refund.
    Command {
        #[command(flatten)]
        args: CommandArgs,
        #[arg(long, value_parser = parse_action)]
        action: Action,
        /// REFUND: amount in minor units (default: everything still refundable).
        #[arg(long)]
        amount: Option<u64>,
    },
    /// List an order's events, oldest first.
    Events { order_id: String },
}

/// Options shared by the order commands.
#[derive(Debug, Args)]
pub struct CommandArgs {
    pub order_id: String,
    /// Apply only if the order is at this version.
    #[arg(long)]
    pub expected_version: Option<u64>,
    /// Idempotency key: re-running with the same key returns the stored first reply.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// The 0-based line (ship, deliver, return).
    #[arg(long)]
    pub line: Option<u32>,
    /// Reason recorded with the event (cancel, hold).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Nodes and every shard: range, epoch, leader, replicas, applied indexes.
    Status,
    /// Ask a shard's leader to hand leadership to another replica.
    TransferLeader {
        #[arg(long)]
        shard: u64,
        /// Target node id.
        #[arg(long)]
        to: u64,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Orders to place.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub orders: u64,
    /// Placements in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub concurrency: u64,
    /// Time budget of the placement phase in seconds; placements not started by then are skipped.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub max_seconds: u64,
}

fn parse_item(s: &str) -> Result<LineItem, String> {
    s.parse::<LineItem>().map_err(|e| e.to_string())
}

fn parse_action(s: &str) -> Result<Action, String> {
    s.parse::<Action>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_items_and_global_options_anywhere() {
        let cli = Cli::try_parse_from([
            "orderctl",
            "order",
            "place",
            "--customer",
            "c1",
            "--item",
            "a:1:100",
            "--item",
            "b:2:5",
            "-o",
            "json",
            "--endpoints",
            "h:1,h:2",
        ])
        .unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        assert_eq!(cli.endpoints, ["h:1", "h:2"]);
        let Command::Order(OrderCmd::Place { items, .. }) = cli.command else {
            panic!("not place")
        };
        assert_eq!(
            items,
            [LineItem::new("a", 1, 100), LineItem::new("b", 2, 5)]
        );
    }

    #[test]
    fn bad_item_is_a_usage_error() {
        let err = Cli::try_parse_from([
            "orderctl",
            "order",
            "place",
            "--customer",
            "c",
            "--item",
            "bad",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("expected SKU:QTY:PRICE"), "{err}");
    }
}
