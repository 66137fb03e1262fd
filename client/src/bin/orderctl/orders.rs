//! `orderctl order ...` and `orderctl cluster ...`: thin wrappers over the SDK calls.

use orderstore_client::Action;
use orderstore_client::Client;
use orderstore_client::CommandOptions;
use orderstore_client::Consistency;
use orderstore_client::PlaceOrder;

use crate::cli::ClusterCmd;
use crate::cli::CommandArgs;
use crate::cli::OrderCmd;
use crate::cli::OutputFormat;
use crate::cli_error::CliError;
use crate::output;

pub async fn run_order(
    client: &Client,
    cmd: OrderCmd,
    format: OutputFormat,
) -> Result<(), CliError> {
    match cmd {
        OrderCmd::Place {
            customer,
            items,
            currency,
            region,
            idempotency_key,
        } => {
            let req = PlaceOrder {
                customer_id: customer,
                items,
                currency,
                region,
                idempotency_key,
            };
            let reply = client.place_order(req).await?;
            output::print_order(&reply.order, Some(reply.replayed), format);
        }
        OrderCmd::Get { order_id, stale } => {
            let consistency = if stale {
                Consistency::Stale
            } else {
                Consistency::Linearizable
            };
            let order = client.get_order(&order_id, consistency).await?;
            output::print_order(&order, None, format);
        }
        OrderCmd::Pay(args) => command(client, args, Action::Pay, None, format).await?,
        OrderCmd::Ship(args) => command(client, args, Action::Ship, None, format).await?,
        OrderCmd::Deliver(args) => command(client, args, Action::Deliver, None, format).await?,
        OrderCmd::Cancel(args) => command(client, args, Action::Cancel, None, format).await?,
        OrderCmd::Return(args) => {
            command(client, args, Action::RequestReturn, None, format).await?
        }
        OrderCmd::Command {
            args,
            action,
            amount,
        } => command(client, args, action, amount, format).await?,
        OrderCmd::Events { order_id } => {
            let events = client.order_events(&order_id).await?;
            output::print_events(&events, format);
        }
    }
    Ok(())
}

async fn command(
    client: &Client,
    args: CommandArgs,
    action: Action,
    amount: Option<u64>,
    format: OutputFormat,
) -> Result<(), CliError> {
    let opts = CommandOptions {
        expected_version: args.expected_version,
        idempotency_key: args.idempotency_key,
        line: args.line,
        amount,
        reason: args.reason,
    };
    let reply = client.order_command(&args.order_id, action, opts).await?;
    output::print_order(&reply.order, Some(reply.replayed), format);
    Ok(())
}

pub async fn run_cluster(
    client: &Client,
    cmd: ClusterCmd,
    format: OutputFormat,
) -> Result<(), CliError> {
    match cmd {
        ClusterCmd::Status => {
            let status = client.cluster_status().await?;
            output::print_cluster_status(&status, format);
        }
        ClusterCmd::TransferLeader { shard, to } => {
            client.transfer_leader(shard, to).await?;
            match format {
                OutputFormat::Json => output::print_json(
                    &serde_json::json!({"shard": shard, "to": to, "requested": true}),
                ),
                OutputFormat::Table => {
                    println!("asked shard {shard}'s leader to transfer leadership to node {to}")
                }
            }
        }
    }
    Ok(())
}
