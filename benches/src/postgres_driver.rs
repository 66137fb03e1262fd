//! [`PostgresDriver`]: the PostgreSQL peer. Orders are rows of
//! `orders (id text primary key, version bigint, doc jsonb)`.

use orderstore_client::Order;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Statement};

use crate::order_draft::{now_ms, toggle_hold};
use crate::{BenchError, DriverConfig, OpError, OrderDraft, System};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS orders (\
    id text PRIMARY KEY, version bigint NOT NULL, doc jsonb NOT NULL)";
const INSERT: &str = "INSERT INTO orders (id, version, doc) VALUES ($1, 1, CAST($2 AS jsonb))";
const SELECT: &str = "SELECT version, doc::text FROM orders WHERE id = $1";
const UPDATE: &str = "UPDATE orders SET version = $3, doc = CAST($2 AS jsonb) \
    WHERE id = $1 AND version = $4";

/// One connection per load client (autocommit: every statement is its own transaction, durable
/// on return under `synchronous_commit = on`), with the three statements prepared.
#[derive(Debug)]
pub struct PostgresDriver {
    connections: Vec<Connection>,
}

#[derive(Debug)]
struct Connection {
    client: Client,
    insert: Statement,
    select: Statement,
    update: Statement,
}

impl PostgresDriver {
    /// Opens `config.clients` connections, creates the `orders` table if missing and prepares
    /// the statements. Each connection's I/O runs on its own task until the driver is dropped.
    pub async fn connect(config: &DriverConfig) -> Result<Self, BenchError> {
        let Some(url) = &config.postgres_url else {
            return Err(BenchError::InvalidArgs(
                "postgres needs --postgres-url".into(),
            ));
        };
        let err = |e: tokio_postgres::Error| BenchError::Connect {
            system: System::Postgres,
            message: e.to_string(),
        };
        let mut connections = Vec::new();
        for i in 0..config.clients.max(1) {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(err)?;
            tokio::spawn(async move {
                // The connection ends when its client is dropped or the server goes away; the
                // next statement on the client then fails and is counted there.
                let _ = connection.await;
            });
            if i == 0 {
                client.batch_execute(SCHEMA).await.map_err(err)?;
            }
            let insert = client
                .prepare_typed(INSERT, &[Type::TEXT, Type::TEXT])
                .await
                .map_err(err)?;
            let select = client.prepare(SELECT).await.map_err(err)?;
            let update = client
                .prepare_typed(UPDATE, &[Type::TEXT, Type::TEXT, Type::INT8, Type::INT8])
                .await
                .map_err(err)?;
            connections.push(Connection {
                client,
                insert,
                select,
                update,
            });
        }
        Ok(PostgresDriver { connections })
    }

    fn conn(&self, i: usize) -> &Connection {
        &self.connections[i % self.connections.len()]
    }

    pub async fn place(
        &self,
        client: usize,
        draft: &OrderDraft,
        id: &str,
    ) -> Result<String, OpError> {
        let c = self.conn(client);
        let doc = encode(&draft.document(id, now_ms()))?;
        c.client
            .execute(&c.insert, &[&id, &doc])
            .await
            .map_err(op_error)?;
        Ok(id.to_string())
    }

    pub async fn read(&self, client: usize, id: &str) -> Result<(), OpError> {
        self.fetch(self.conn(client), id).await.map(|_| ())
    }

    /// Select, then `UPDATE ... WHERE version = <version read>`; no row updated is a conflict.
    pub async fn transition(&self, client: usize, id: &str) -> Result<(), OpError> {
        let c = self.conn(client);
        let (version, order) = self.fetch(c, id).await?;
        let next = toggle_hold(&order, now_ms());
        let doc = encode(&next)?;
        let new_version = version.saturating_add(1);
        let updated = c
            .client
            .execute(&c.update, &[&id, &doc, &new_version, &version])
            .await
            .map_err(op_error)?;
        if updated == 1 {
            Ok(())
        } else {
            Err(OpError::Conflict {
                key: id.to_string(),
            })
        }
    }

    async fn fetch(&self, c: &Connection, id: &str) -> Result<(i64, Order), OpError> {
        let row = c
            .client
            .query_opt(&c.select, &[&id])
            .await
            .map_err(op_error)?
            .ok_or_else(|| OpError::NotFound {
                key: id.to_string(),
            })?;
        let version: i64 = row.try_get(0).map_err(op_error)?;
        let doc: &str = row.try_get(1).map_err(op_error)?;
        let order = serde_json::from_str(doc).map_err(|e| OpError::Failed {
            class: "decode".into(),
            message: e.to_string(),
        })?;
        Ok((version, order))
    }
}

fn encode(order: &Order) -> Result<String, OpError> {
    serde_json::to_string(order).map_err(|e| OpError::Failed {
        class: "encode".into(),
        message: e.to_string(),
    })
}

fn op_error(e: tokio_postgres::Error) -> OpError {
    let class = match e.code() {
        Some(state) => format!("SQLSTATE {}", state.code()),
        None => "postgres".to_string(),
    };
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    };
    OpError::Failed { class, message }
}
