//! The whole cluster configuration file: parse, load, serialise and validate.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use shard_router::{Keyspace, Membership, NodeInfo, NodeState, PolicySet, SplitThresholds};

use crate::{
    ConfigError, LimitsConfig, NodeConfig, PlacementConfig, RaftConfig, SecurityConfig,
    SplitConfig, is_valid_label,
};

/// Largest accepted `initial_shards`. Clusters grow past this by splitting shards online.
pub const MAX_INITIAL_SHARDS: u32 = 4096;

/// The cluster configuration every node and the CLI share. Missing keys take the defaults shown
/// on each field; unknown keys are a [`ConfigError::Parse`] error (typos do not pass silently).
///
/// Parsing does not validate: call [`ClusterConfig::validate`] after
/// [`ClusterConfig::apply_env_overrides`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Name of the cluster, used in metrics and logs. Default `orderstore`.
    pub cluster_name: String,
    /// Number of shards a new cluster starts with, in `1..=4096`. Default 8.
    pub initial_shards: u32,
    /// Desired replicas per shard; the effective value is capped by the node count
    /// ([`ClusterConfig::effective_replication_factor`]). Default 3.
    pub replication_factor: u32,
    /// Home region of orders placed without one. Default `local`.
    pub default_region: String,
    /// How long idempotency keys are remembered, in seconds. Default 86400 (24 h).
    pub idempotency_ttl_secs: u64,
    /// Raft timers and snapshot policy.
    pub raft: RaftConfig,
    /// Placement policies per keyspace (seed of the meta shard's policies).
    pub placement: PlacementConfig,
    /// Automatic split thresholds.
    pub split: SplitConfig,
    /// TLS, client authentication and the audit log. Default: all off.
    pub security: SecurityConfig,
    /// Admission limits of every node.
    pub limits: LimitsConfig,
    /// The nodes, as `[[nodes]]` tables. Default empty, which `validate` rejects.
    pub nodes: Vec<NodeConfig>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            cluster_name: "orderstore".to_owned(),
            initial_shards: 8,
            replication_factor: 3,
            default_region: "local".to_owned(),
            idempotency_ttl_secs: 24 * 60 * 60,
            raft: RaftConfig::default(),
            placement: PlacementConfig::default(),
            split: SplitConfig::default(),
            security: SecurityConfig::default(),
            limits: LimitsConfig::default(),
            nodes: Vec::new(),
        }
    }
}

impl ClusterConfig {
    /// Parses a configuration from TOML text. Does not validate.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for malformed TOML, wrong types, missing required node keys or
    /// unknown keys.
    pub fn from_toml_str(text: &str) -> Result<ClusterConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Reads and parses the TOML file at `path`; the crate's only I/O. Does not validate.
    ///
    /// # Errors
    /// [`ConfigError::Io`] if the file cannot be read; [`ConfigError::Parse`] (message prefixed
    /// with the path) if it does not parse.
    pub fn load(path: impl AsRef<Path>) -> Result<ClusterConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))
    }

    /// Serialises the configuration as TOML that [`ClusterConfig::from_toml_str`] reads back to an
    /// equal value. Every key is written, defaults included; an empty `host` is omitted.
    ///
    /// Integers above `i64::MAX` (reachable only through env overrides) are written as plain
    /// integers: this crate reads them back, stricter TOML tools may not.
    ///
    /// # Errors
    /// [`ConfigError::Serialize`] if the TOML serialiser refuses the value (not expected).
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Serialize(e.to_string()))
    }

    /// The node with id `id`, if configured.
    pub fn node(&self, id: u64) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Replicas per shard actually used: `min(replication_factor, number of nodes)`.
    /// 0 only when there are no nodes (an invalid config).
    pub fn effective_replication_factor(&self) -> u32 {
        let nodes = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.replication_factor.min(nodes)
    }

    /// The placement policies of every keyspace.
    pub fn policy_set(&self) -> PolicySet {
        self.placement.policy_set()
    }

    /// The automatic split thresholds.
    pub fn split_thresholds(&self) -> SplitThresholds {
        self.split.thresholds()
    }

    /// The membership of a new cluster: every configured node `Up` with its labels.
    ///
    /// # Errors
    /// [`ConfigError::Membership`] when the node labels are inconsistent (also reported by
    /// [`ClusterConfig::validate`]).
    pub fn initial_membership(&self) -> Result<Membership, ConfigError> {
        Membership::new(
            self.nodes
                .iter()
                .map(|n| NodeInfo {
                    id: n.id,
                    region: n.region.clone(),
                    zone: n.zone.clone(),
                    host: n.host().map(str::to_owned),
                    state: NodeState::Up,
                })
                .collect(),
        )
        .map_err(ConfigError::Membership)
    }

    /// Checks the whole configuration and returns the first problem, checking in this order:
    /// cluster name, shard count, replication factor, default region, idempotency TTL, raft
    /// settings ([`RaftConfig::validate`]), security switches ([`SecurityConfig::validate`]),
    /// limits ([`LimitsConfig::validate`]), then the nodes: the list is non-empty; per node in file order, its own checks
    /// ([`NodeConfig::validate`]: id non-zero, addresses parse, region/zone labels), then its id and
    /// both addresses must be unique against the nodes before it (a node's gRPC and status address
    /// must differ too); then host labels (one zone per host); then placement, per keyspace in
    /// the order orders, inventory, payments, meta: the policy rules, then every
    /// `leader_preference` region must be some node's region. Split thresholds need no check
    /// (0 disables one).
    ///
    /// Placement is checked for consistency, not capacity: fewer nodes, zones or regions than a
    /// policy wants is valid (the planner then places what it can and reports the shortfall), so
    /// a one-node or three-node single-region playground validates with the defaults.
    ///
    /// # Errors
    /// [`ConfigError::BadClusterName`], [`ConfigError::BadShardCount`],
    /// [`ConfigError::BadReplicationFactor`], [`ConfigError::BadDefaultRegion`],
    /// [`ConfigError::BadTtl`], [`ConfigError::BadRaftTimeouts`],
    /// [`ConfigError::BadSnapshotThreshold`], [`ConfigError::BadClockOffset`],
    /// [`ConfigError::TlsPathMissing`], [`ConfigError::AuthNeedsTls`],
    /// [`ConfigError::TokensNeedAuth`], [`ConfigError::BadLimit`], [`ConfigError::NoNodes`],
    /// [`ConfigError::ZeroNodeId`], [`ConfigError::BadAddr`], [`ConfigError::BadLabel`],
    /// [`ConfigError::DuplicateNodeId`], [`ConfigError::DuplicateAddr`],
    /// [`ConfigError::Membership`], [`ConfigError::BadPlacement`],
    /// [`ConfigError::UnknownLeaderRegion`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_valid_label(&self.cluster_name) {
            return Err(ConfigError::BadClusterName(self.cluster_name.clone()));
        }
        if !(1..=MAX_INITIAL_SHARDS).contains(&self.initial_shards) {
            return Err(ConfigError::BadShardCount(self.initial_shards));
        }
        if self.replication_factor == 0 {
            return Err(ConfigError::BadReplicationFactor(self.replication_factor));
        }
        if !is_valid_label(&self.default_region) {
            return Err(ConfigError::BadDefaultRegion(self.default_region.clone()));
        }
        if self.idempotency_ttl_secs == 0 {
            return Err(ConfigError::BadTtl(self.idempotency_ttl_secs));
        }
        self.raft.validate()?;
        self.security.validate()?;
        self.limits.validate()?;
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNodes);
        }
        let mut ids = HashSet::new();
        let mut addrs = HashSet::new();
        for node in &self.nodes {
            node.validate()?;
            if !ids.insert(node.id) {
                return Err(ConfigError::DuplicateNodeId(node.id));
            }
            // Compare parsed addresses so spelling differences cannot hide a clash.
            for addr in [node.grpc_socket_addr()?, node.status_socket_addr()?] {
                if !addrs.insert(addr) {
                    return Err(ConfigError::DuplicateAddr(addr.to_string()));
                }
            }
        }
        self.initial_membership()?;
        for keyspace in Keyspace::ALL {
            let entry = self.placement.get(keyspace);
            entry
                .to_policy()
                .validate()
                .map_err(|source| ConfigError::BadPlacement { keyspace, source })?;
            if let Some(region) = entry
                .leader_preference
                .iter()
                .find(|r| !self.nodes.iter().any(|n| &n.region == *r))
            {
                return Err(ConfigError::UnknownLeaderRegion {
                    keyspace,
                    region: region.clone(),
                });
            }
        }
        Ok(())
    }
}
