//! [`OrderstoreDriver`]: orderstore through its SDK.

use orderstore_client::{Action, Client, ClientError, CommandOptions, Consistency, code_name};

use crate::{BenchError, DriverConfig, OpError, OrderDraft, ReadConsistency, System};

/// `grpc_connections` independent SDK clients (each with its own routing cache and one HTTP/2
/// connection per node); load client `i` uses client `i % grpc_connections`.
#[derive(Debug)]
pub struct OrderstoreDriver {
    clients: Vec<Client>,
}

impl OrderstoreDriver {
    /// Builds the SDK clients and warms their routing caches with one `ClusterStatus` each.
    pub async fn connect(config: &DriverConfig) -> Result<Self, BenchError> {
        if config.orderstore_endpoints.is_empty() {
            return Err(BenchError::InvalidArgs(
                "orderstore needs --orderstore-endpoints or --orderstore-manifest".into(),
            ));
        }
        let connect_err = |e: ClientError| BenchError::Connect {
            system: System::Orderstore,
            message: e.to_string(),
        };
        let mut clients = Vec::new();
        for _ in 0..config.grpc_connections.max(1) {
            let mut builder = Client::builder()
                .endpoints(config.orderstore_endpoints.iter().cloned())
                .request_timeout(config.op_timeout)
                .deadline(config.op_timeout);
            if let Some(n) = config.orderstore_max_retries {
                builder = builder.max_retries(n);
            }
            let client = builder.build().map_err(connect_err)?;
            client.cluster_status().await.map_err(connect_err)?;
            clients.push(client);
        }
        Ok(OrderstoreDriver { clients })
    }

    /// SDK client of load client `i` (clients are shared round-robin).
    pub(crate) fn client(&self, i: usize) -> &Client {
        &self.clients[i % self.clients.len()]
    }

    pub async fn place(&self, client: usize, draft: &OrderDraft) -> Result<String, OpError> {
        let reply = self
            .client(client)
            .place_order(draft.to_place_order())
            .await
            .map_err(|e| op_error(e, ""))?;
        Ok(reply.order.order_id)
    }

    pub async fn read(
        &self,
        client: usize,
        key: &str,
        consistency: ReadConsistency,
    ) -> Result<(), OpError> {
        let consistency = match consistency {
            ReadConsistency::Linearizable => Consistency::Linearizable,
            ReadConsistency::Stale => Consistency::Stale,
        };
        self.client(client)
            .get_order(key, consistency)
            .await
            .map_err(|e| op_error(e, key))?;
        Ok(())
    }

    /// Linearizable read, then `HOLD` / `RELEASE_HOLD` with `expected_version` = the version
    /// read.
    pub async fn transition(&self, client: usize, key: &str) -> Result<(), OpError> {
        let c = self.client(client);
        let order = c
            .get_order(key, Consistency::Linearizable)
            .await
            .map_err(|e| op_error(e, key))?;
        let (action, reason) = if order.on_hold {
            (Action::ReleaseHold, None)
        } else {
            (Action::Hold, Some("bench".to_string()))
        };
        let opts = CommandOptions {
            expected_version: Some(order.version),
            reason,
            ..Default::default()
        };
        c.order_command(key, action, opts)
            .await
            .map_err(|e| op_error(e, key))?;
        Ok(())
    }
}

fn op_error(e: ClientError, key: &str) -> OpError {
    match e {
        ClientError::VersionConflict { .. } => OpError::Conflict {
            key: key.to_string(),
        },
        ClientError::NotFound { .. } => OpError::NotFound {
            key: key.to_string(),
        },
        other => OpError::Failed {
            class: code_name(other.code()).to_string(),
            message: other.to_string(),
        },
    }
}
