//! One `[[nodes]]` entry: a node's identity, listen addresses and placement labels.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, is_valid_label};

/// One node of the cluster. `id`, `grpc_addr` and `status_addr` are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Raft node id; unique and non-zero.
    pub id: u64,
    /// `ip:port` of the node's one gRPC server (client API and Raft peer traffic).
    pub grpc_addr: String,
    /// `ip:port` of the node's HTTP status server (`/metrics`, `/livez`, `/readyz`).
    pub status_addr: String,
    /// Region label used by placement. Default `local`.
    #[serde(default = "default_label_region")]
    pub region: String,
    /// Zone label (within the region) used by placement. Default `z1`.
    #[serde(default = "default_label_zone")]
    pub zone: String,
    /// Optional physical host label (empty = unset), for keeping replicas off one machine.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

fn default_label_region() -> String {
    "local".to_owned()
}

fn default_label_zone() -> String {
    "z1".to_owned()
}

impl NodeConfig {
    /// The host label, or `None` when it is unset (empty).
    pub fn host(&self) -> Option<&str> {
        (!self.host.is_empty()).then_some(self.host.as_str())
    }

    /// `grpc_addr` parsed as a socket address.
    ///
    /// # Errors
    /// [`ConfigError::BadAddr`] naming this node and the field.
    pub fn grpc_socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.parse_addr("grpc_addr", &self.grpc_addr)
    }

    /// `status_addr` parsed as a socket address.
    ///
    /// # Errors
    /// [`ConfigError::BadAddr`] naming this node and the field.
    pub fn status_socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.parse_addr("status_addr", &self.status_addr)
    }

    fn parse_addr(&self, field: &'static str, addr: &str) -> Result<SocketAddr, ConfigError> {
        addr.parse().map_err(|_| ConfigError::BadAddr {
            node: self.id,
            field,
            addr: addr.to_owned(),
        })
    }

    /// Checks the node on its own: non-zero id, parsable addresses, label syntax. Uniqueness
    /// across nodes is [`ClusterConfig::validate`](crate::ClusterConfig::validate)'s job.
    ///
    /// # Errors
    /// [`ConfigError::ZeroNodeId`], [`ConfigError::BadAddr`], [`ConfigError::BadLabel`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::ZeroNodeId);
        }
        self.grpc_socket_addr()?;
        self.status_socket_addr()?;
        for (label, value) in [("region", &self.region), ("zone", &self.zone)] {
            if !is_valid_label(value) {
                return Err(ConfigError::BadLabel {
                    node: self.id,
                    label,
                    value: value.clone(),
                });
            }
        }
        Ok(())
    }
}
