//! `orderctl`: the orderstore command line. Starts a local playground cluster, places and
//! advances orders, manages stock and ledger accounts, makes purchases and steers their sagas,
//! shows the cluster's shards and leaders, runs the demo, and makes the certificates and tokens
//! of a secured cluster. Built on the
//! `orderstore_client` SDK; `orderctl --help` lists commands and exit codes.
//!
//! Errors print one line, `error: ...`, to stderr (followed by a node's log tail when a
//! playground node failed) and exit with the failure class's code (see `cli::Cli`).
//!
//! # Layout
//! Modules live in `src/bin/orderctl/` (the crate root is fixed at `src/bin/orderctl.rs`).
//! - `cli`: the clap command tree and global options (`--endpoints`, `-o`, `--timeout`, and
//!   the connection flags `--ca-cert`, `--cert`, `--key`, `--token`, `--token-file`).
//! - `connection`: the connection flags turned into SDK settings (TLS, bearer token).
//! - `cli_error`: [`cli_error::CliError`], its message and exit code.
//! - `orders`: `order ...` and `cluster ...` over the SDK.
//! - `commerce`: `stock ...`, `account ...`, `purchase` and `saga ...` over the SDK.
//! - `commerce_output`: tables and JSON of stock, accounts, purchases and sagas.
//! - `demo`: the concurrent placement + lifecycle tour with measured figures.
//! - `playground`: `playground up [--secure]|down|stop-node|start-node` (local `orderd`
//!   processes).
//! - `backup`: `backup --to DIR` (restore: `playground up --restore-from DIR`).
//! - `cert`: `cert ca|node|client`, development certificates (rcgen); key files are 0600.
//! - `token`: `token create`, a bearer token and its hashed `[[tokens]]` entry.
//! - `manifest`: `DIR/cluster.json` and the generated `DIR/cluster.toml`.
//! - `node_process`: spawning, signalling and probing node processes; log tails.
//! - `http_probe`: status-code-only HTTP GET for `/livez` and `/readyz`.
//! - `output`: tables and JSON.

#[path = "orderctl/backup.rs"]
mod backup;
#[path = "orderctl/cert.rs"]
mod cert;
#[path = "orderctl/cli.rs"]
mod cli;
#[path = "orderctl/cli_error.rs"]
mod cli_error;
#[path = "orderctl/commerce.rs"]
mod commerce;
#[path = "orderctl/commerce_output.rs"]
mod commerce_output;
#[path = "orderctl/connection.rs"]
mod connection;
#[path = "orderctl/demo.rs"]
mod demo;
#[path = "orderctl/http_probe.rs"]
mod http_probe;
#[path = "orderctl/manifest.rs"]
mod manifest;
#[path = "orderctl/node_process.rs"]
mod node_process;
#[path = "orderctl/orders.rs"]
mod orders;
#[path = "orderctl/output.rs"]
mod output;
#[path = "orderctl/playground.rs"]
mod playground;
#[path = "orderctl/token.rs"]
mod token;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use orderstore_client::Client;
use orderstore_client::ClientError;

use crate::cli::Cli;
use crate::cli::Command;
use crate::cli::PlaygroundCmd;
use crate::cli::TokenCmd;
use crate::cli_error::CliError;

/// The SDK's default per-attempt timeout (`ClientBuilder::request_timeout`).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack added to `purchase --wait-timeout-ms` for the attempt and the call deadline.
const PURCHASE_WAIT_MARGIN: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(detail) = e.detail() {
                for line in detail.lines() {
                    eprintln!("  | {line}");
                }
            }
            e.exit_code()
        }
    }
}

/// Rust ignores SIGPIPE, which turns `orderctl ... | head` into a "failed printing to stdout"
/// panic. Like other Unix tools, let a closed pipe end the process quietly instead.
fn restore_default_sigpipe() {
    use nix::sys::signal::SigHandler;
    use nix::sys::signal::Signal;
    // SAFETY: installing the default disposition runs no handler code, and it happens first
    // thing in `main`, before any other thread exists.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Help and version go to stdout with exit 0; a usage error prints clap's first line only (one
/// line, like every other error) and exits 2.
fn clap_exit(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            eprintln!(
                "error: {} (see --help)",
                usage_error_line(&e.render().to_string())
            );
            ExitCode::from(2)
        }
    }
}

/// The first paragraph of clap's error text as one line: `the following required arguments
/// were not provided: --note <N>` rather than a first line that ends in a colon.
fn usage_error_line(text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let Some(first) = lines.next() else {
        return "invalid arguments".to_string();
    };
    let first = first.strip_prefix("error: ").unwrap_or(first).trim_end();
    if !first.ends_with(':') {
        return first.to_string();
    }
    let rest: Vec<&str> = lines
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first} {}", rest.join(", "))
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let format = cli.output;
    let deadline = Duration::from_secs(cli.timeout.max(1));
    let connection = &cli.connection;
    let client = || -> Result<Client, ClientError> {
        connection
            .builder(&cli.endpoints)?
            .deadline(deadline)
            .build()
    };
    // `purchase --wait` holds the request open on the server for up to --wait-timeout-ms: give
    // each attempt (and the whole call) that long plus a margin, so the answer is not cut off.
    let waiting_client = |wait: Duration| -> Result<Client, ClientError> {
        let attempt = wait + PURCHASE_WAIT_MARGIN;
        connection
            .builder(&cli.endpoints)?
            .request_timeout(attempt.max(DEFAULT_REQUEST_TIMEOUT))
            .deadline(deadline.max(attempt + PURCHASE_WAIT_MARGIN))
            .build()
    };
    match cli.command {
        Command::Playground(cmd) => match cmd {
            PlaygroundCmd::Up(args) => playground::up(args, format).await,
            PlaygroundCmd::Down { dir, purge } => playground::down(&dir, purge, format).await,
            PlaygroundCmd::StopNode {
                dir,
                node,
                graceful,
            } => playground::stop_node(&dir, node, graceful, format).await,
            PlaygroundCmd::StartNode { dir, node } => {
                playground::start_node(&dir, node, format).await
            }
        },
        Command::Order(cmd) => orders::run_order(&client()?, cmd, format).await,
        Command::Cluster(cmd) => orders::run_cluster(&client()?, cmd, format).await,
        Command::Demo(args) => demo::run(&client()?, args, format).await,
        Command::Stock(cmd) => commerce::run_stock(&client()?, cmd, format).await,
        Command::Account(cmd) => commerce::run_account(&client()?, cmd, format).await,
        Command::Purchase(args) => {
            let client = if args.wait {
                waiting_client(Duration::from_millis(u64::from(args.wait_timeout_ms)))?
            } else {
                client()?
            };
            commerce::run_purchase(&client, args, format).await
        }
        Command::Saga(cmd) => commerce::run_saga(&client()?, cmd, format).await,
        Command::Cert(cmd) => cert::run(cmd, format),
        Command::Backup { to, shard_timeout } => {
            let per_shard = Duration::from_secs(shard_timeout.max(1));
            let client = connection
                .builder(&cli.endpoints)?
                .request_timeout(per_shard)
                .deadline(per_shard.max(deadline))
                .build()?;
            backup::run(&client, &to, format).await
        }
        Command::Restore { from, mut up } => {
            let backup = orderstore_client::BackupManifest::load(&from)?;
            up.shards = backup.shards.len() as u64;
            up.restore_from = Some(from);
            playground::up(up, format).await
        }
        Command::Token(TokenCmd::Create {
            name,
            role,
            tokens_file,
        }) => token::create(&name, role, tokens_file, format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_keep_the_missing_arguments() {
        let e = Cli::try_parse_from(["orderctl", "saga", "resolve", "o-1"]).unwrap_err();
        let line = usage_error_line(&e.render().to_string());
        assert!(
            line.starts_with("the following required arguments"),
            "{line}"
        );
        assert!(line.contains("--note <N>"), "{line}");
        assert!(line.contains("--complete|--compensate"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let e = Cli::try_parse_from(["orderctl", "saga", "list", "--state", "x"]).unwrap_err();
        let line = usage_error_line(&e.render().to_string());
        assert_eq!(line, "invalid value 'x' for '--state <S>'");
    }
}
