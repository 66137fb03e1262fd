//! Errors returned while loading, overriding and validating a cluster configuration.

use std::path::PathBuf;

use shard_router::{Keyspace, MembershipError, PolicyError};

/// Why a configuration was rejected. `validate` reports the first problem it finds, in the order
/// the variants are listed for [`ClusterConfig::validate`](crate::ClusterConfig::validate).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Returned by [`ClusterConfig::load`](crate::ClusterConfig::load) and
    /// [`TokenStore::load`](crate::TokenStore::load) when the file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file that was to be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Returned by `from_toml_str`/`load` (of a config or a token file) for malformed TOML, a
    /// wrong type, a missing required key, an unknown key or an unknown role name. Carries the
    /// parser's message (with line and column).
    #[error("invalid config: {0}")]
    Parse(String),
    /// Returned by [`ClusterConfig::to_toml_string`](crate::ClusterConfig::to_toml_string) if the
    /// TOML serialiser refuses the value. Not expected for this plain-data type; an error rather
    /// than a panic so callers writing files need no special case.
    #[error("cannot serialise config: {0}")]
    Serialize(String),
    /// Returned by `apply_env_overrides` when a known `ORDERSTORE_*` variable does not parse.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Env {
        /// The variable name.
        var: String,
        /// Its raw value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// `cluster_name` is not a label (1-63 characters of `[a-z0-9-]`).
    #[error("cluster_name {0:?} must be 1-63 characters of [a-z0-9-]")]
    BadClusterName(String),
    /// `initial_shards` is outside `1..=MAX_INITIAL_SHARDS`.
    #[error("initial_shards = {0} is outside 1..={max}", max = crate::MAX_INITIAL_SHARDS)]
    BadShardCount(u32),
    /// `replication_factor` is 0.
    #[error("replication_factor = {0} must be at least 1")]
    BadReplicationFactor(u32),
    /// `default_region` is not a label (1-63 characters of `[a-z0-9-]`).
    #[error("default_region {0:?} must be 1-63 characters of [a-z0-9-]")]
    BadDefaultRegion(String),
    /// `idempotency_ttl_secs` is 0.
    #[error("idempotency_ttl_secs = {0} must be at least 1")]
    BadTtl(u64),
    /// The raft timers break `0 < heartbeat_interval_ms < election_timeout_min_ms <
    /// election_timeout_max_ms` (heartbeats must fit well inside an election timeout, and the
    /// timeout is drawn from a non-empty range).
    #[error(
        "raft timers must satisfy 0 < heartbeat ({heartbeat_ms} ms) < election min \
         ({election_min_ms} ms) < election max ({election_max_ms} ms)"
    )]
    BadRaftTimeouts {
        /// `raft.heartbeat_interval_ms`.
        heartbeat_ms: u64,
        /// `raft.election_timeout_min_ms`.
        election_min_ms: u64,
        /// `raft.election_timeout_max_ms`.
        election_max_ms: u64,
    },
    /// `raft.snapshot_logs_since_last` is 0 (a snapshot after every entry).
    #[error("raft.snapshot_logs_since_last = {0} must be at least 1")]
    BadSnapshotThreshold(u64),
    /// `raft.max_clock_offset_ms` is 0 (no two real clocks agree that closely).
    #[error("raft.max_clock_offset_ms = {0} must be at least 1")]
    BadClockOffset(u64),
    /// `security.tls` is true but `key` (`ca_cert`, `cert` or `key` of `[security]`) is empty.
    #[error("security.tls = true needs security.{key}")]
    TlsPathMissing {
        /// The empty key: `ca_cert`, `cert` or `key`.
        key: &'static str,
    },
    /// `security.auth` is true but `security.tls` is false: bearer tokens would travel in clear,
    /// and peers could not prove they are nodes (node identities come from node certificates).
    #[error("security.auth = true needs security.tls = true")]
    AuthNeedsTls,
    /// `security.tokens_file` is set but `security.auth` is false (the tokens would be ignored).
    #[error("security.tokens_file {0:?} is set but security.auth is false")]
    TokensNeedAuth(String),
    /// A `[limits]` value is outside its accepted range: at least 1 for every key, and
    /// `MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES` for `max_message_bytes`.
    #[error("limits.{key} = {value} is outside {min}..={max}")]
    BadLimit {
        /// The key, e.g. `max_inflight_requests`.
        key: &'static str,
        /// The rejected value.
        value: u64,
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// The `[[nodes]]` list is empty.
    #[error("the config lists no nodes")]
    NoNodes,
    /// A node has id 0 (reserved: Raft node ids start at 1).
    #[error("node id 0 is reserved; node ids start at 1")]
    ZeroNodeId,
    /// Two nodes share an id.
    #[error("node id {0} is used by more than one node")]
    DuplicateNodeId(u64),
    /// An address is not a socket address (`ip:port`, IPv6 as `[::1]:port`).
    #[error("node {node}: {field} {addr:?} is not an ip:port socket address")]
    BadAddr {
        /// The node's id.
        node: u64,
        /// `grpc_addr` or `status_addr`.
        field: &'static str,
        /// The rejected value.
        addr: String,
    },
    /// The same socket address is used twice (by two nodes, or by one node's gRPC and status port).
    #[error("address {0} is used more than once")]
    DuplicateAddr(String),
    /// A node's region or zone is not a label (1-63 characters of `[a-z0-9-]`).
    #[error("node {node}: {label} {value:?} must be 1-63 characters of [a-z0-9-]")]
    BadLabel {
        /// The node's id.
        node: u64,
        /// `region` or `zone`.
        label: &'static str,
        /// The rejected value.
        value: String,
    },
    /// Two nodes share a `host` label in different zones (a machine lives in one zone).
    #[error("bad node labels: {0}")]
    Membership(#[source] MembershipError),
    /// A keyspace's `[placement.<keyspace>]` policy breaks a policy rule (voters in `1..=7`;
    /// region goal: at least 3 voters, `3 <= min_regions <= voters`; leader preference without
    /// empty or repeated regions).
    #[error("[placement.{keyspace}]: {source}")]
    BadPlacement {
        /// The keyspace.
        keyspace: Keyspace,
        /// The rule broken.
        #[source]
        source: PolicyError,
    },
    /// A `leader_preference` region is not the region of any configured node (likely a typo).
    #[error("[placement.{keyspace}]: leader_preference region {region:?} has no node")]
    UnknownLeaderRegion {
        /// The keyspace.
        keyspace: Keyspace,
        /// The unknown region.
        region: String,
    },
    /// Returned by [`TokenStore::from_toml_str`](crate::TokenStore::from_toml_str) when a token
    /// name is not 1 to 64 printable ASCII characters without spaces.
    #[error("token name {0:?} must be 1-64 printable ASCII characters without spaces")]
    BadTokenName(String),
    /// Returned by [`TokenStore::from_toml_str`](crate::TokenStore::from_toml_str) when an entry
    /// (named here) grants the `node` role, which only node certificates carry.
    #[error("token {0:?}: role \"node\" is reserved for node certificates")]
    TokenGrantsNode(String),
    /// Returned by [`TokenStore::from_toml_str`](crate::TokenStore::from_toml_str) when the
    /// `sha256` of the entry named here is not 64 hex digits. The value itself is not carried.
    #[error("token {0:?}: sha256 must be 64 hex digits")]
    BadTokenHash(String),
    /// Returned by [`TokenStore::from_toml_str`](crate::TokenStore::from_toml_str) when two
    /// entries share this name.
    #[error("token name {0:?} is used by more than one entry")]
    DuplicateTokenName(String),
    /// Returned by [`TokenStore::from_toml_str`](crate::TokenStore::from_toml_str) when two
    /// entries (named here) have the same hash, i.e. the same token.
    #[error("tokens {first:?} and {second:?} have the same sha256")]
    DuplicateTokenHash {
        /// The earlier entry's name.
        first: String,
        /// The later entry's name.
        second: String,
    },
}
