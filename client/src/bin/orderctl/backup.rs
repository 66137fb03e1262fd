//! `orderctl backup --to DIR`: a consistent backup of every shard (see the SDK's
//! `Client::backup_to`), then a summary table.

use std::path::Path;

use orderstore_client::Client;

use crate::cli::OutputFormat;
use crate::cli_error::CliError;
use crate::output;

pub async fn run(client: &Client, to: &Path, format: OutputFormat) -> Result<(), CliError> {
    let manifest = client.backup_to(to).await?;
    match format {
        OutputFormat::Json => output::print_json(&manifest),
        OutputFormat::Table => {
            let mut t = output::table(["shard", "log index", "term", "bytes", "crc32", "file"]);
            for s in &manifest.shards {
                t.add_row([
                    s.shard_id.to_string(),
                    s.last_log_index.to_string(),
                    s.last_log_term.to_string(),
                    s.bytes.to_string(),
                    format!("{:08x}", s.crc32),
                    s.file.clone(),
                ]);
            }
            println!("{t}");
            println!(
                "backup of {} shard(s) written to {}; restore into a new cluster with\n  \
                 orderctl playground up --restore-from {} (or orderd --restore-from on each node)",
                manifest.shards.len(),
                to.display(),
                to.display()
            );
        }
    }
    Ok(())
}
