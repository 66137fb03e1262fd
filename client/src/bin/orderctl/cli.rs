//! The command line, as clap derive types. Handlers live in the sibling modules.

use std::path::PathBuf;

use clap::ArgGroup;
use clap::Args;
use clap::Parser;
use clap::Subcommand;
use clap::ValueEnum;
use clap::builder::PossibleValuesParser;
use clap::builder::TypedValueParser;
use orderstore_client::Action;
use orderstore_client::LineItem;
use serde::Serialize;

/// Default playground directory (git-ignored at the repository root).
pub const DEFAULT_PLAYGROUND_DIR: &str = "playground-data";

/// orderctl: operate an orderstore cluster: start a local playground, place and advance orders,
/// manage stock and accounts, make purchases and steer their sagas, inspect the cluster, run
/// the demo.
///
/// A secured cluster (TLS, authentication) needs --ca-cert and a token (--token-file, --token)
/// or a client certificate (--cert, --key); `orderctl cert` and `orderctl token` make them.
///
/// Exit codes: 0 ok; 1 other failure; 2 usage or invalid input (INVALID_ARGUMENT, unusable
/// credentials, a file that exists without --force); 3 not found; 4 refused by the order's or
/// saga's state (FAILED_PRECONDITION, ABORTED version conflict, ALREADY_EXISTS, idempotency key
/// reused); 5 cluster unavailable or overloaded after retries (retry later); 6 data loss
/// (quarantined shard); 7 playground failure (a node exited, not ready in time, ...);
/// 8 not authenticated or not allowed (UNAUTHENTICATED, PERMISSION_DENIED, TLS handshake refused
/// on certificates).
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
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How orderctl reaches a secured cluster. TLS is on when `--ca-cert` is given.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// CA certificate (PEM) that signs the nodes' certificates; given, orderctl connects with
    /// TLS.
    #[arg(long, global = true, env = "ORDERCTL_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (the server reads CN = name, OU = role); needs
    /// --key and --ca-cert.
    #[arg(
        long,
        global = true,
        env = "ORDERCTL_CERT",
        value_name = "PEM",
        requires_all = ["key", "ca_cert"]
    )]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(
        long,
        global = true,
        env = "ORDERCTL_KEY",
        value_name = "PEM",
        requires = "cert"
    )]
    pub key: Option<PathBuf>,
    /// Bearer token sent with every request. Prefer ORDERCTL_TOKEN or --token-file: other
    /// users can read command lines.
    #[arg(
        long,
        global = true,
        env = "ORDERCTL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the bearer token (surrounding whitespace is ignored).
    #[arg(long, global = true, env = "ORDERCTL_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

/// A secret given on the command line: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// A client principal's role (`cert client`, `token create`); the server orders them
/// reader < writer < admin (< node, which only node certificates carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    /// The role's name as certificates (OU) and tokens files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
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
    /// Set, restock, adjust, read and split a SKU's stock.
    #[command(subcommand)]
    Stock(StockCmd),
    /// Open, credit and read ledger accounts (the built-in payment provider).
    #[command(subcommand)]
    Account(AccountCmd),
    /// Place an order and start its purchase saga (reserve stock, take payment, confirm).
    ///
    /// Prints the order id, the order status, the saga status and its reason; with `-o json`,
    /// the whole reply (order, saga, replayed).
    Purchase(PurchaseArgs),
    /// List, inspect, retry and resolve purchase sagas.
    #[command(subcommand)]
    Saga(SagaCmd),
    /// Make development certificates for a secured cluster: a CA, node and client
    /// certificates.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Make bearer tokens for a secured cluster.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Write a consistent backup of every shard to a new directory: one file per shard
    /// (taken by its leader after a read barrier, with its log position and crc32) and
    /// `manifest.json`. Restore with `orderctl restore --from DIR` (a new local cluster) or
    /// `orderd --restore-from DIR` on each node of a new cluster. Needs role admin.
    Backup {
        /// Backup directory (created if missing; must not hold a backup).
        #[arg(long)]
        to: PathBuf,
        /// Per-shard time limit in seconds.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        shard_timeout: u64,
    },
    /// Build a new local cluster from a backup (`orderctl backup --to DIR`) and start it:
    /// `playground up --restore-from DIR` with the backup's shard count. Every file is checked
    /// against the manifest's crc32 first; the playground directory must hold no data.
    Restore {
        /// The backup directory.
        #[arg(long, value_name = "DIR", conflicts_with = "restore_from")]
        from: PathBuf,
        /// Where and how to start the new cluster (`--shards` is taken from the backup).
        #[command(flatten)]
        up: UpArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// Make a self-signed CA: DIR/ca.pem and DIR/ca.key (CN "orderstore development CA",
    /// valid 10 years).
    Ca {
        /// Directory of the certificates (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Make node N's certificate, signed by the CA in DIR: DIR/node-N.pem and DIR/node-N.key
    /// (CN node-N, OU node, server and client auth, valid 1 year).
    Node {
        /// Directory holding ca.pem and ca.key; the files are written there.
        #[arg(long)]
        dir: PathBuf,
        /// Node id.
        #[arg(long)]
        id: u64,
        /// A DNS name or IP address the node is reached at; repeatable (default: localhost
        /// and 127.0.0.1).
        #[arg(long = "host", value_name = "H")]
        hosts: Vec<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Make a client certificate, signed by the CA in DIR: DIR/client-NAME.pem and
    /// DIR/client-NAME.key (CN NAME, OU ROLE, client auth, valid 1 year).
    Client {
        /// Directory holding ca.pem and ca.key; the files are written there.
        #[arg(long)]
        dir: PathBuf,
        /// Principal name (letters, digits, '.', '_', '@', '-').
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make a random bearer token; print it once, and print its [[tokens]] entry (the
    /// SHA-256 only) or append it to --tokens-file.
    Create {
        /// Principal name (letters, digits, '.', '_', '@', '-').
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Append the entry to this tokens file (created with mode 0600 if missing; a name it
        /// already has is refused).
        #[arg(long, value_name = "F")]
        tokens_file: Option<PathBuf>,
    },
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
    /// Crash one node (SIGKILL), or with --graceful drain and stop it (SIGTERM); its data
    /// stays. Records pid 0 in cluster.json.
    StopNode {
        #[arg(long, default_value = DEFAULT_PLAYGROUND_DIR)]
        dir: PathBuf,
        /// Node id.
        #[arg(long)]
        node: u64,
        /// SIGTERM instead of SIGKILL: the node drains (hands its leaderships away, finishes
        /// in-flight requests) and exits; SIGKILL after 20 s. One step of a rolling restart.
        #[arg(long)]
        graceful: bool,
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
    /// Run with TLS and authentication: make a CA, node certificates, an admin client
    /// certificate and an admin token in DIR/certs and DIR/tokens.toml (regenerated on every
    /// `up --secure`).
    #[arg(long)]
    pub secure: bool,
    /// Build the nodes' data directories from this backup (`orderctl backup --to DIR`)
    /// before starting them: a new cluster with the backup's data. The playground must be new
    /// (no data yet) and have the backup's shard count.
    #[arg(long, value_name = "DIR")]
    pub restore_from: Option<PathBuf>,
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
    /// Time budget of the placement phase and of the purchase phase, each, in seconds;
    /// operations not started by then are skipped.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub max_seconds: u64,
    /// Purchases (sagas: stock reservation, payment, confirmation) of the purchase phase, run
    /// `--concurrency` at a time, each waiting for its saga to end; 0 skips the phase.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub purchases: u64,
}

/// The escrow bucket a stock write applies to.
#[derive(Debug, Args)]
pub struct BucketArg {
    /// Escrow bucket of the SKU (0 is the SKU's home bucket; see `stock split`).
    #[arg(long, default_value_t = 0)]
    pub bucket: u32,
}

#[derive(Debug, Subcommand)]
pub enum StockCmd {
    /// Make a bucket's available units equal to N (bucket 0 creates the SKU).
    Set {
        sku: String,
        /// Available units after the call.
        #[arg(long, value_name = "N")]
        available: u64,
        #[command(flatten)]
        bucket: BucketArg,
    },
    /// Add N units to a bucket.
    Restock {
        sku: String,
        /// Units to add.
        #[arg(long, value_name = "N")]
        quantity: u64,
        #[command(flatten)]
        bucket: BucketArg,
    },
    /// Add (positive) or remove (negative) available units of a bucket, recording a reason.
    Adjust {
        sku: String,
        /// Units to add (e.g. 5) or remove (e.g. -5); available units never drop below 0.
        #[arg(long, value_name = "D", allow_negative_numbers = true)]
        delta: i64,
        /// Why (recorded with the adjustment), e.g. "damaged in warehouse".
        #[arg(long, value_name = "R")]
        reason: String,
        #[command(flatten)]
        bucket: BucketArg,
    },
    /// Read a SKU's stock summed over its buckets, with the per-bucket detail (linearizable:
    /// every bucket from its leader, unless --stale).
    Get {
        sku: String,
        /// Read from replicas, which may lag; the staleness is reported.
        #[arg(long)]
        stale: bool,
        /// Read only this bucket.
        #[arg(long)]
        bucket: Option<u32>,
    },
    /// Split a SKU into N escrow buckets (N >= the current number), spreading bucket 0's
    /// available units evenly.
    Split {
        sku: String,
        /// New number of buckets.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        buckets: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Open a ledger account, optionally with an opening credit.
    Create {
        account_id: String,
        /// ISO 4217 currency of the account, e.g. EUR.
        #[arg(long)]
        currency: String,
        /// Opening credit in minor units (e.g. 10000 for 100.00).
        #[arg(long, value_name = "N", default_value_t = 0)]
        credit: u64,
    },
    /// Credit an account.
    Credit {
        account_id: String,
        /// Amount in minor units (e.g. 2500 for 25.00).
        #[arg(long, value_name = "N")]
        amount: u64,
    },
    /// Read an account (linearizable unless --stale).
    Get {
        account_id: String,
        /// Read the contacted replica's state, which may lag.
        #[arg(long)]
        stale: bool,
    },
}

#[derive(Debug, Args)]
pub struct PurchaseArgs {
    #[arg(long)]
    pub customer: String,
    /// Ledger account that pays.
    #[arg(long)]
    pub account: String,
    /// A line as SKU:QTY:PRICE (price in minor units, e.g. 1999 for 19.99); repeatable.
    #[arg(long = "item", required = true, value_name = "SKU:QTY:PRICE", value_parser = parse_item)]
    pub items: Vec<LineItem>,
    /// ISO 4217 currency (server default USD).
    #[arg(long)]
    pub currency: Option<String>,
    /// Home region (server default: the cluster's default region).
    #[arg(long)]
    pub region: Option<String>,
    /// Idempotency key: re-running with the same key returns the same order and saga.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Answer only once the saga ended (completed, compensated or needs attention), or after
    /// --wait-timeout-ms with its state then.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in ms (the server waits at most 60000).
    #[arg(
        long,
        requires = "wait",
        value_name = "MS",
        default_value_t = DEFAULT_WAIT_TIMEOUT_MS,
        value_parser = clap::value_parser!(u32).range(1..=60_000)
    )]
    pub wait_timeout_ms: u32,
}

/// Default of `purchase --wait-timeout-ms`.
pub const DEFAULT_WAIT_TIMEOUT_MS: u32 = 10_000;

/// Saga statuses accepted by `saga list --state` (any case).
pub const SAGA_STATES: [&str; 5] = [
    "RUNNING",
    "COMPENSATING",
    "COMPLETED",
    "COMPENSATED",
    "NEEDS_ATTENTION",
];

#[derive(Debug, Subcommand)]
pub enum SagaCmd {
    /// List sagas of every shard: those not yet ended, or those in --state.
    List {
        /// Only sagas in this status (default: every saga that has not ended).
        #[arg(
            long,
            value_name = "S",
            ignore_case = true,
            value_parser = PossibleValuesParser::new(SAGA_STATES).map(|s| s.to_ascii_uppercase())
        )]
        state: Option<String>,
        /// At most N sagas (each shard is asked for N; the oldest N are shown).
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
    /// Show a saga (id = its order id): status, payment, lines and timeline.
    Show {
        saga_id: String,
        /// Read the contacted replica's state, which may lag.
        #[arg(long)]
        stale: bool,
    },
    /// Retry a saga parked in NEEDS_ATTENTION from where it stopped (refused in any other
    /// status).
    Retry {
        saga_id: String,
        /// Audit note stored in the saga's timeline.
        #[arg(long, value_name = "N")]
        note: Option<String>,
    },
    /// Resolve a saga that has not ended, by hand: --complete marks it completed (you vouch that
    /// stock and payment are settled); --compensate undoes it (releases its stock, voids the
    /// payment authorization), refused once the payment was captured. Exactly one is required.
    #[command(group(ArgGroup::new("outcome").required(true).args(["complete", "compensate"])))]
    Resolve {
        saga_id: String,
        /// Resolve as completed.
        #[arg(long)]
        complete: bool,
        /// Resolve by compensating.
        #[arg(long)]
        compensate: bool,
        /// Audit note stored in the saga's timeline (required).
        #[arg(long, value_name = "N")]
        note: String,
    },
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

    /// The connection flags parse anywhere; a certificate needs its key and a CA; the token
    /// never shows in `Debug`, in `--help`, or in a usage error.
    #[test]
    fn connection_flags_parse_and_keep_the_token_secret() {
        let cli = parse(&[
            "cluster",
            "status",
            "--ca-cert",
            "/c/ca.pem",
            "--cert",
            "/c/a.pem",
            "--key",
            "/c/a.key",
            "--token",
            "tok-9f8e7d",
        ])
        .unwrap();
        let c = &cli.connection;
        assert_eq!(
            c.ca_cert.as_deref(),
            Some(std::path::Path::new("/c/ca.pem"))
        );
        assert_eq!(c.key.as_deref(), Some(std::path::Path::new("/c/a.key")));
        assert_eq!(c.token, Some(Secret("tok-9f8e7d".into())));
        assert!(!format!("{cli:?}").contains("tok-9f8e7d"));

        let err = parse(&[
            "--cert",
            "/c/a.pem",
            "--ca-cert",
            "/c/ca.pem",
            "cluster",
            "status",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&[
            "--cert", "/c/a.pem", "--key", "/c/a.key", "cluster", "status",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&[
            "--token",
            "tok-9f8e7d",
            "--token-file",
            "/t",
            "cluster",
            "status",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(!err.to_string().contains("tok-9f8e7d"), "{err}");

        let cmd = Cli::command();
        let token = cmd.get_arguments().find(|a| a.get_id() == "token").unwrap();
        assert!(token.is_hide_env_values_set());
        assert!(token.get_default_values().is_empty());
    }

    #[test]
    fn cert_and_token_commands_parse() {
        let cli = parse(&[
            "cert", "node", "--dir", "d", "--id", "2", "--host", "n2.local", "--host", "10.0.0.2",
        ])
        .unwrap();
        let Command::Cert(CertCmd::Node {
            id, hosts, force, ..
        }) = cli.command
        else {
            panic!("not cert node")
        };
        assert_eq!(
            (id, hosts.as_slice(), force),
            (
                2,
                &["n2.local".to_string(), "10.0.0.2".to_string()][..],
                false
            )
        );
        let cli = parse(&[
            "cert", "client", "--dir", "d", "--name", "bob", "--role", "writer", "--force",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Cert(CertCmd::Client {
                role: Role::Writer,
                force: true,
                ..
            })
        ));
        let err = parse(&[
            "cert", "client", "--dir", "d", "--name", "bob", "--role", "node",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let cli = parse(&["token", "create", "--name", "ci", "--role", "reader"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Token(TokenCmd::Create {
                role: Role::Reader,
                tokens_file: None,
                ..
            })
        ));
        let cli = parse(&["playground", "up", "--secure"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Playground(PlaygroundCmd::Up(UpArgs { secure: true, .. }))
        ));
    }

    #[test]
    fn restore_takes_playground_options_but_not_a_second_backup() {
        let cli = Cli::try_parse_from([
            "orderctl", "restore", "--from", "bk", "--nodes", "5", "--dir", "pg",
        ])
        .unwrap();
        let Command::Restore { from, up } = cli.command else {
            panic!("not a restore: {:?}", cli.command);
        };
        assert_eq!((from, up.nodes, up.dir), ("bk".into(), 5, "pg".into()));
        let err = Cli::try_parse_from([
            "orderctl",
            "restore",
            "--from",
            "bk",
            "--restore-from",
            "other",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err = Cli::try_parse_from(["orderctl", "restore"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
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

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("orderctl").chain(args.iter().copied()))
    }

    #[test]
    fn purchase_parses_items_and_wait() {
        let cli = parse(&[
            "purchase",
            "--customer",
            "alice",
            "--account",
            "acct-1",
            "--item",
            "a:2:1999",
            "--item",
            "ns:b:1:5",
            "--currency",
            "EUR",
            "--wait",
            "--wait-timeout-ms",
            "2500",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        let Command::Purchase(args) = cli.command else {
            panic!("not purchase")
        };
        assert_eq!(
            args.items,
            [LineItem::new("a", 2, 1999), LineItem::new("ns:b", 1, 5)]
        );
        assert_eq!(args.currency.as_deref(), Some("EUR"));
        assert!(args.wait);
        assert_eq!(args.wait_timeout_ms, 2500);
    }

    #[test]
    fn purchase_needs_an_item_and_a_well_formed_one() {
        let base = ["purchase", "--customer", "c", "--account", "a"];
        let err = parse(&base).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&[&base[..], &["--item", "a:1:19.99"]].concat()).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("write 1999 for 19.99"), "{err}");
        // --wait-timeout-ms only makes sense with --wait.
        let err = parse(&[&base[..], &["--item", "a:1:1", "--wait-timeout-ms", "5"]].concat())
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let cli = parse(&[&base[..], &["--item", "a:1:1"]].concat()).unwrap();
        let Command::Purchase(args) = cli.command else {
            panic!("not purchase")
        };
        assert!(!args.wait);
        assert_eq!(args.wait_timeout_ms, DEFAULT_WAIT_TIMEOUT_MS);
    }

    #[test]
    fn saga_resolve_needs_exactly_one_outcome() {
        let cli = parse(&["saga", "resolve", "o-1", "--complete", "--note", "n"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Saga(SagaCmd::Resolve {
                complete: true,
                compensate: false,
                ..
            })
        ));
        let cli = parse(&["saga", "resolve", "o-1", "--compensate", "--note", "n"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Saga(SagaCmd::Resolve {
                complete: false,
                compensate: true,
                ..
            })
        ));
        let err = parse(&["saga", "resolve", "o-1", "--note", "n"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&[
            "saga",
            "resolve",
            "o-1",
            "--complete",
            "--compensate",
            "--note",
            "n",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err = parse(&["saga", "resolve", "o-1", "--complete"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn saga_list_state_is_case_insensitive_and_checked() {
        let cli = parse(&["saga", "list", "--state", "needs_attention", "--limit", "5"]).unwrap();
        let Command::Saga(SagaCmd::List { state, limit }) = cli.command else {
            panic!("not saga list")
        };
        assert_eq!(state.as_deref(), Some("NEEDS_ATTENTION"));
        assert_eq!(limit, 5);
        let err = parse(&["saga", "list", "--state", "DONE"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let cli = parse(&["saga", "retry", "o-1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Saga(SagaCmd::Retry { note: None, .. })
        ));
    }

    #[test]
    fn stock_commands_parse() {
        let cli = parse(&[
            "stock", "adjust", "sku-1", "--delta", "-5", "--reason", "damaged",
        ])
        .unwrap();
        let Command::Stock(StockCmd::Adjust {
            sku,
            delta,
            reason,
            bucket,
        }) = cli.command
        else {
            panic!("not stock adjust")
        };
        assert_eq!(
            (sku.as_str(), delta, reason.as_str(), bucket.bucket),
            ("sku-1", -5, "damaged", 0)
        );
        let cli = parse(&[
            "stock",
            "set",
            "sku-1",
            "--available",
            "10",
            "--bucket",
            "2",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Stock(StockCmd::Set {
                available: 10,
                bucket: BucketArg { bucket: 2 },
                ..
            })
        ));
        let cli = parse(&["-o", "json", "stock", "get", "sku-1", "--stale"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Stock(StockCmd::Get {
                stale: true,
                bucket: None,
                ..
            })
        ));
        let err = parse(&["stock", "adjust", "sku-1", "--delta", "3"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&["stock", "split", "sku-1", "--buckets", "0"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn account_commands_parse() {
        let cli = parse(&[
            "account",
            "create",
            "acct-1",
            "--currency",
            "EUR",
            "--credit",
            "10000",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Account(AccountCmd::Create { credit: 10000, .. })
        ));
        let cli = parse(&["account", "create", "acct-1", "--currency", "EUR"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Account(AccountCmd::Create { credit: 0, .. })
        ));
        let err = parse(&["account", "create", "acct-1"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let cli = parse(&["account", "credit", "acct-1", "--amount", "250"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Account(AccountCmd::Credit { amount: 250, .. })
        ));
    }
}
