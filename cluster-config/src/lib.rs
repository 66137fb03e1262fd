//! Typed configuration of an orderstore cluster: what the nodes are, where they listen, how they are
//! labelled for placement, the placement policies and split thresholds a new cluster starts with,
//! the Raft and sharding knobs they share, transport security and client authentication (TLS
//! paths, roles, the bearer-token file) and each node's admission limits. Node *state* (up, down,
//! draining, decommissioned) is not configuration: it lives in the meta shard.
//!
//! A cluster is described by one TOML file (reference: `CONFIG.md` next to this crate's
//! `Cargo.toml`) that every node and the `orderctl` CLI read. The crate owns parsing, `ORDERSTORE_*`
//! environment overrides and validation; it does no network I/O, and the only file access is
//! [`ClusterConfig::load`] and [`TokenStore::load`]. The usual sequence for a process is:
//!
//! ```no_run
//! # fn main() -> Result<(), cluster_config::ConfigError> {
//! let mut config = cluster_config::ClusterConfig::load("cluster.toml")?;
//! config.apply_env_overrides(std::env::vars())?;
//! config.validate()?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `cluster_config`: [`ClusterConfig`], the whole file: parse, load, serialise, validate.
//! - `node_config`: [`NodeConfig`], one `[[nodes]]` entry: id, addresses, placement labels.
//! - `raft_config`: [`RaftConfig`], the `[raft]` table: heartbeat, election and snapshot settings.
//! - `placement_config`: [`PlacementConfig`] and [`KeyspacePlacement`], the `[placement]` table:
//!   per-keyspace voters, survival goal and leader preference, turned into the router's
//!   [`PolicySet`](shard_router::PolicySet) (whose validation rules this crate reuses).
//! - `split_config`: [`SplitConfig`], the `[split]` table: automatic split thresholds.
//! - `security_config`: [`SecurityConfig`], the `[security]` table: TLS certificates, whether
//!   clients must authenticate, the token file and audit log paths (`{node_id}` substituted).
//! - `limits_config`: [`LimitsConfig`], the `[limits]` table: a node's admission control
//!   (in-flight and queued requests, proposals per shard, connections, message size).
//! - `auth`: [`Role`], [`Principal`] and [`TokenStore`], the bearer-token file: hashed tokens
//!   checked in constant time, roles `reader < writer < admin < node`.
//! - `env_override`: [`ClusterConfig::apply_env_overrides`] and the [`ENV_OVERRIDES`] it knows.
//! - `error`: [`ConfigError`], every way a configuration can be rejected.

mod auth;
mod cluster_config;
mod env_override;
mod error;
mod limits_config;
mod node_config;
mod placement_config;
mod raft_config;
mod security_config;
mod split_config;

pub use auth::{MAX_TOKEN_NAME_LEN, Principal, Role, TokenStore, UnknownRole, token_sha256_hex};
pub use cluster_config::{ClusterConfig, MAX_INITIAL_SHARDS};
pub use env_override::ENV_OVERRIDES;
pub use error::ConfigError;
pub use limits_config::{LimitsConfig, MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES};
pub use node_config::NodeConfig;
pub use placement_config::{
    DEFAULT_REGION_VOTERS, DEFAULT_ZONE_VOTERS, KeyspacePlacement, PlacementConfig,
};
pub use raft_config::RaftConfig;
pub use security_config::{DEFAULT_AUDIT_LOG_NAME, NODE_ID_PLACEHOLDER, SecurityConfig};
pub use split_config::SplitConfig;

/// Whether `value` is a valid region/zone/cluster label: 1 to 63 characters from `[a-z0-9-]`.
pub(crate) fn is_valid_label(value: &str) -> bool {
    (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_valid_label;

    #[test]
    fn labels() {
        for ok in ["a", "z1", "eu-west-1", "0", &"a".repeat(63)] {
            assert!(is_valid_label(ok), "{ok:?}");
        }
        for bad in ["", "EU", "eu_west", "eu west", "zé", &"a".repeat(64)] {
            assert!(!is_valid_label(bad), "{bad:?}");
        }
    }
}
