//! `orderctl stock|account|purchase|saga ...`: thin wrappers over the SDK's inventory, payment,
//! purchase and saga calls. Rendering lives in `commerce_output`.

use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_client::Consistency;
use orderstore_client::LineItem;
use orderstore_client::Purchase;
use orderstore_client::PurchaseItem;
use orderstore_client::proto;

use crate::cli::AccountCmd;
use crate::cli::OutputFormat;
use crate::cli::PurchaseArgs;
use crate::cli::SagaCmd;
use crate::cli::StockCmd;
use crate::cli_error::CliError;
use crate::commerce_output;

fn consistency(stale: bool) -> Consistency {
    if stale {
        Consistency::Stale
    } else {
        Consistency::Linearizable
    }
}

pub async fn run_stock(
    client: &Client,
    cmd: StockCmd,
    format: OutputFormat,
) -> Result<(), CliError> {
    match cmd {
        StockCmd::Set {
            sku,
            available,
            bucket,
        } => {
            let reply = client.set_stock(&sku, bucket.bucket, available).await?;
            commerce_output::print_stock_reply(&reply, format);
        }
        StockCmd::Restock {
            sku,
            quantity,
            bucket,
        } => {
            let reply = client.restock(&sku, bucket.bucket, quantity).await?;
            commerce_output::print_stock_reply(&reply, format);
        }
        StockCmd::Adjust {
            sku,
            delta,
            reason,
            bucket,
        } => {
            let reply = client
                .adjust_stock(&sku, bucket.bucket, delta, &reason)
                .await?;
            commerce_output::print_stock_reply(&reply, format);
        }
        StockCmd::Get {
            sku,
            stale,
            bucket: None,
        } => {
            let stock = client.get_stock(&sku, consistency(stale)).await?;
            commerce_output::print_stock(&stock, format);
        }
        StockCmd::Get {
            sku,
            stale,
            bucket: Some(bucket),
        } => {
            let reply = client
                .get_stock_bucket(&sku, bucket, consistency(stale))
                .await?;
            commerce_output::print_stock_reply(&reply, format);
        }
        StockCmd::Split { sku, buckets } => {
            let stock = client.split_stock(&sku, buckets).await?;
            commerce_output::print_stock(&stock, format);
        }
    }
    Ok(())
}

pub async fn run_account(
    client: &Client,
    cmd: AccountCmd,
    format: OutputFormat,
) -> Result<(), CliError> {
    let account = match cmd {
        AccountCmd::Create {
            account_id,
            currency,
            credit,
        } => {
            client
                .create_account(&account_id, &currency, credit)
                .await?
        }
        AccountCmd::Credit { account_id, amount } => {
            client.credit_account(&account_id, amount).await?
        }
        AccountCmd::Get { account_id, stale } => {
            client.get_account(&account_id, consistency(stale)).await?
        }
    };
    commerce_output::print_account(&account, format);
    Ok(())
}

/// The SDK request of `orderctl purchase`.
pub fn purchase_request(args: PurchaseArgs) -> Purchase {
    Purchase {
        customer_id: args.customer,
        account_id: args.account,
        items: args.items.into_iter().map(purchase_item).collect(),
        currency: args.currency.unwrap_or_default(),
        region: args.region.unwrap_or_default(),
        idempotency_key: args.idempotency_key.unwrap_or_default(),
        wait: args.wait,
        wait_timeout_ms: if args.wait { args.wait_timeout_ms } else { 0 },
    }
}

fn purchase_item(l: LineItem) -> PurchaseItem {
    PurchaseItem {
        sku: l.sku,
        quantity: l.quantity,
        unit_price: l.unit_price,
    }
}

pub async fn run_purchase(
    client: &Client,
    args: PurchaseArgs,
    format: OutputFormat,
) -> Result<(), CliError> {
    let reply = client.purchase(purchase_request(args)).await?;
    commerce_output::print_purchase(&reply, format);
    Ok(())
}

pub async fn run_saga(client: &Client, cmd: SagaCmd, format: OutputFormat) -> Result<(), CliError> {
    match cmd {
        SagaCmd::List { state, limit } => {
            let mut sagas = client
                .list_sagas(state.as_deref().unwrap_or(""), limit)
                .await?;
            sagas.sort_by(|a, b| (a.created_at_ms, &a.saga_id).cmp(&(b.created_at_ms, &b.saga_id)));
            sagas.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            commerce_output::print_sagas(&sagas, format);
        }
        SagaCmd::Show { saga_id, stale } => {
            let reply = client.get_saga(&saga_id, consistency(stale)).await?;
            require_saga(&reply)?;
            commerce_output::print_saga_reply(&reply, format);
        }
        SagaCmd::Retry { saga_id, note } => {
            let note = note.unwrap_or_default();
            let reply = client
                .saga_admin(&saga_id, proto::SagaAdminAction::SagaRetry, &note)
                .await?;
            commerce_output::print_saga_reply(&reply, format);
        }
        SagaCmd::Resolve {
            saga_id,
            complete,
            compensate: _,
            note,
        } => {
            // clap's "outcome" group makes exactly one of --complete / --compensate present.
            let action = if complete {
                proto::SagaAdminAction::SagaResolveComplete
            } else {
                proto::SagaAdminAction::SagaResolveCompensate
            };
            let reply = client.saga_admin(&saga_id, action, &note).await?;
            commerce_output::print_saga_reply(&reply, format);
        }
    }
    Ok(())
}

/// `GetSaga` of an existing saga always carries it; a reply without one is malformed.
fn require_saga(reply: &proto::PurchaseReply) -> Result<(), CliError> {
    if reply.saga.is_none() {
        return Err(ClientError::MalformedReply {
            what: "GetSaga reply without saga".into(),
        }
        .into());
    }
    Ok(())
}
