//! [`Driver`]: one system's client behind the operations the workloads issue.

use std::time::Duration;

use crate::etcd_driver::EtcdDriver;
use crate::orderstore_driver::OrderstoreDriver;
use crate::postgres_driver::PostgresDriver;
use crate::{BenchError, OpError, OrderDraft, ReadConsistency, System};

/// Where the systems are and how to talk to them.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// orderstore gRPC addresses (`host:port`), any node of the cluster.
    pub orderstore_endpoints: Vec<String>,
    /// etcd client URLs or `host:port`s, every member.
    pub etcd_endpoints: Vec<String>,
    /// A libpq-style connection string, e.g. `host=/tmp/x port=5433 user=postgres dbname=bench`.
    pub postgres_url: Option<String>,
    /// Independent client connections (orderstore SDK clients, etcd clients). Each PostgreSQL
    /// client always gets its own connection (the protocol serves one statement at a time).
    pub grpc_connections: usize,
    /// Number of concurrent load clients (sizes the PostgreSQL connection pool).
    pub clients: usize,
    /// Per-request timeout handed to each system's client.
    pub op_timeout: Duration,
    /// orderstore only: retries of the SDK after the first attempt (`None`: the SDK default).
    /// 0 shows what an overloaded node refuses (RESOURCE_EXHAUSTED counts as an error).
    pub orderstore_max_retries: Option<u32>,
}

/// A connected client of one system. Operations take the load client's index, which selects the
/// connection it uses. Every method returns one [`OpError`] on failure and never panics on a
/// server's answer.
#[derive(Debug)]
pub enum Driver {
    Orderstore(OrderstoreDriver),
    Etcd(EtcdDriver),
    Postgres(PostgresDriver),
}

impl Driver {
    /// Connects to `system` and prepares its schema (PostgreSQL: the `orders` table).
    ///
    /// Errors: [`BenchError::InvalidArgs`] when the system's endpoints are not configured,
    /// [`BenchError::Connect`] when it cannot be reached.
    pub async fn connect(system: System, config: &DriverConfig) -> Result<Driver, BenchError> {
        Ok(match system {
            System::Orderstore => Driver::Orderstore(OrderstoreDriver::connect(config).await?),
            System::Etcd => Driver::Etcd(EtcdDriver::connect(config).await?),
            System::Postgres => Driver::Postgres(PostgresDriver::connect(config).await?),
        })
    }

    pub fn system(&self) -> System {
        match self {
            Driver::Orderstore(_) => System::Orderstore,
            Driver::Etcd(_) => System::Etcd,
            Driver::Postgres(_) => System::Postgres,
        }
    }

    /// Stores a new order; returns its id. `new_id` is the id the peers use (orderstore derives
    /// its own from the idempotency key).
    pub async fn place(
        &self,
        client: usize,
        draft: &OrderDraft,
        new_id: &str,
    ) -> Result<String, OpError> {
        match self {
            Driver::Orderstore(d) => d.place(client, draft).await,
            Driver::Etcd(d) => d.place(draft, new_id).await,
            Driver::Postgres(d) => d.place(client, draft, new_id).await,
        }
    }

    /// Reads order `key` and decodes it.
    pub async fn read(
        &self,
        client: usize,
        key: &str,
        consistency: ReadConsistency,
    ) -> Result<(), OpError> {
        match self {
            Driver::Orderstore(d) => d.read(client, key, consistency).await,
            Driver::Etcd(d) => d.read(key, consistency).await,
            Driver::Postgres(d) => d.read(client, key).await,
        }
    }

    /// Toggles the hold flag of order `key` as a conditional update (read, then write only if
    /// unchanged since); [`OpError::Conflict`] when another client changed it in between.
    pub async fn transition(&self, client: usize, key: &str) -> Result<(), OpError> {
        match self {
            Driver::Orderstore(d) => d.transition(client, key).await,
            Driver::Etcd(d) => d.transition(key).await,
            Driver::Postgres(d) => d.transition(client, key).await,
        }
    }
}
