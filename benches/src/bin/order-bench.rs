//! `order-bench`: see the crate docs of `orderstore_benches` and `benches/README.md`.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use orderstore_benches::{Cli, Command, RunArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::FreePorts { count } => free_ports(count),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &RunArgs) -> Result<(), String> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let report = runtime
        .block_on(orderstore_benches::run(args, command))
        .map_err(|e| e.to_string())?;
    report.write_to(&args.out).map_err(|e| e.to_string())?;
    print!("{}", report.to_markdown());
    eprintln!(
        "wrote {0}/summary.md, {0}/results.json, {0}/latency.svg",
        args.out.display()
    );
    Ok(())
}

fn free_ports(count: usize) -> Result<(), String> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    for l in &listeners {
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        println!("{}", addr.port());
    }
    Ok(())
}
