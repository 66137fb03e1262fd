//! `orderctl`: the orderstore command line. Starts a local playground cluster, places and
//! advances orders, shows the cluster's shards and leaders, and runs the demo. Built on the
//! `orderstore_client` SDK; `orderctl --help` lists commands and exit codes.
//!
//! Errors print one line, `error: ...`, to stderr (followed by a node's log tail when a
//! playground node failed) and exit with the failure class's code (see `cli::Cli`).
//!
//! # Layout
//! Modules live in `src/bin/orderctl/` (the crate root is fixed at `src/bin/orderctl.rs`).
//! - `cli`: the clap command tree and global options (`--endpoints`, `-o`, `--timeout`).
//! - `cli_error`: [`cli_error::CliError`], its message and exit code.
//! - `orders`: `order ...` and `cluster ...` over the SDK.
//! - `demo`: the concurrent placement + lifecycle tour with measured figures.
//! - `playground`: `playground up|down|stop-node|start-node` (local `orderd` processes).
//! - `manifest`: `DIR/cluster.json` and the generated `DIR/cluster.toml`.
//! - `node_process`: spawning, signalling and probing node processes; log tails.
//! - `http_probe`: status-code-only HTTP GET for `/livez` and `/readyz`.
//! - `output`: tables and JSON.

#[path = "orderctl/cli.rs"]
mod cli;
#[path = "orderctl/cli_error.rs"]
mod cli_error;
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

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use orderstore_client::Client;

use crate::cli::Cli;
use crate::cli::Command;
use crate::cli::PlaygroundCmd;
use crate::cli_error::CliError;

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
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see --help)");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let format = cli.output;
    let client = || {
        Client::builder()
            .endpoints(&cli.endpoints)
            .deadline(Duration::from_secs(cli.timeout.max(1)))
            .build()
    };
    match cli.command {
        Command::Playground(cmd) => match cmd {
            PlaygroundCmd::Up(args) => playground::up(args, format).await,
            PlaygroundCmd::Down { dir, purge } => playground::down(&dir, purge, format).await,
            PlaygroundCmd::StopNode { dir, node } => {
                playground::stop_node(&dir, node, format).await
            }
            PlaygroundCmd::StartNode { dir, node } => {
                playground::start_node(&dir, node, format).await
            }
        },
        Command::Order(cmd) => orders::run_order(&client()?, cmd, format).await,
        Command::Cluster(cmd) => orders::run_cluster(&client()?, cmd, format).await,
        Command::Demo(args) => demo::run(&client()?, args, format).await,
    }
}
