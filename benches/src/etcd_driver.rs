//! [`EtcdDriver`]: the etcd peer. Orders are JSON values under `/orders/<id>`.

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, KvClient, Txn, TxnOp};
use orderstore_client::Order;

use crate::order_draft::{now_ms, toggle_hold};
use crate::{BenchError, DriverConfig, OpError, OrderDraft, ReadConsistency, System};

/// `grpc_connections` etcd clients, each balancing over every member; load client `i` uses
/// client `i % grpc_connections`. Writes reaching a follower are forwarded to the leader by
/// etcd itself.
pub struct EtcdDriver {
    clients: Vec<KvClient>,
    next: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for EtcdDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdDriver")
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl EtcdDriver {
    pub async fn connect(config: &DriverConfig) -> Result<Self, BenchError> {
        if config.etcd_endpoints.is_empty() {
            return Err(BenchError::InvalidArgs(
                "etcd needs --etcd-endpoints".into(),
            ));
        }
        let mut clients = Vec::new();
        for _ in 0..config.grpc_connections.max(1) {
            let options = ConnectOptions::new()
                .with_connect_timeout(config.op_timeout)
                .with_timeout(config.op_timeout);
            let mut client = Client::connect(&config.etcd_endpoints, Some(options))
                .await
                .map_err(|e| BenchError::Connect {
                    system: System::Etcd,
                    message: e.to_string(),
                })?;
            client.status().await.map_err(|e| BenchError::Connect {
                system: System::Etcd,
                message: e.to_string(),
            })?;
            clients.push(client.kv_client());
        }
        Ok(EtcdDriver {
            clients,
            next: Default::default(),
        })
    }

    /// A handle for one operation (cloning shares the underlying channel).
    fn kv(&self) -> KvClient {
        use std::sync::atomic::Ordering;
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.clients[i % self.clients.len()].clone()
    }

    pub async fn place(&self, draft: &OrderDraft, id: &str) -> Result<String, OpError> {
        let doc = encode(&draft.document(id, now_ms()))?;
        self.kv()
            .put(key_of(id), doc, None)
            .await
            .map_err(op_error)?;
        Ok(id.to_string())
    }

    /// Default etcd reads are linearizable; `Stale` uses a serializable (local) read.
    pub async fn read(&self, id: &str, consistency: ReadConsistency) -> Result<(), OpError> {
        let options = match consistency {
            ReadConsistency::Linearizable => None,
            ReadConsistency::Stale => Some(GetOptions::new().with_serializable()),
        };
        let resp = self.kv().get(key_of(id), options).await.map_err(op_error)?;
        let kv = resp.kvs().first().ok_or_else(|| OpError::NotFound {
            key: id.to_string(),
        })?;
        decode(kv.value())?;
        Ok(())
    }

    /// Linearizable get, then a transaction that puts the toggled order only if the key's mod
    /// revision is still the one read.
    pub async fn transition(&self, id: &str) -> Result<(), OpError> {
        let mut kv = self.kv();
        let key = key_of(id);
        let resp = kv.get(key.clone(), None).await.map_err(op_error)?;
        let current = resp.kvs().first().ok_or_else(|| OpError::NotFound {
            key: id.to_string(),
        })?;
        let next = toggle_hold(&decode(current.value())?, now_ms());
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key.clone(),
                CompareOp::Equal,
                current.mod_revision(),
            )])
            .and_then([TxnOp::put(key, encode(&next)?, None)]);
        let resp = kv.txn(txn).await.map_err(op_error)?;
        if resp.succeeded() {
            Ok(())
        } else {
            Err(OpError::Conflict {
                key: id.to_string(),
            })
        }
    }
}

fn key_of(id: &str) -> String {
    format!("/orders/{id}")
}

fn encode(order: &Order) -> Result<Vec<u8>, OpError> {
    serde_json::to_vec(order).map_err(|e| OpError::Failed {
        class: "encode".into(),
        message: e.to_string(),
    })
}

fn decode(bytes: &[u8]) -> Result<Order, OpError> {
    serde_json::from_slice(bytes).map_err(|e| OpError::Failed {
        class: "decode".into(),
        message: e.to_string(),
    })
}

fn op_error(e: etcd_client::Error) -> OpError {
    match &e {
        etcd_client::Error::GRpcStatus(s) => OpError::Failed {
            class: format!("etcd {:?}", s.code()),
            message: e.to_string(),
        },
        _ => OpError::Failed {
            class: "etcd transport".into(),
            message: e.to_string(),
        },
    }
}
