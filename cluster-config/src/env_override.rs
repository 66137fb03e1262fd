//! `ORDERSTORE_*` environment overrides of cluster-wide settings.

use std::fmt::Display;
use std::str::FromStr;

use crate::{ClusterConfig, ConfigError};

/// Every environment variable [`ClusterConfig::apply_env_overrides`] understands, and the key it
/// overrides. Node entries have no overrides: they identify the cluster and live in the file.
/// Placement policies have none either: they seed the meta shard once, and processes with
/// different overrides would disagree about them.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("ORDERSTORE_CLUSTER_NAME", "cluster_name"),
    ("ORDERSTORE_INITIAL_SHARDS", "initial_shards"),
    ("ORDERSTORE_REPLICATION_FACTOR", "replication_factor"),
    ("ORDERSTORE_DEFAULT_REGION", "default_region"),
    ("ORDERSTORE_IDEMPOTENCY_TTL_SECS", "idempotency_ttl_secs"),
    (
        "ORDERSTORE_RAFT_HEARTBEAT_INTERVAL_MS",
        "raft.heartbeat_interval_ms",
    ),
    (
        "ORDERSTORE_RAFT_ELECTION_TIMEOUT_MIN_MS",
        "raft.election_timeout_min_ms",
    ),
    (
        "ORDERSTORE_RAFT_ELECTION_TIMEOUT_MAX_MS",
        "raft.election_timeout_max_ms",
    ),
    (
        "ORDERSTORE_RAFT_SNAPSHOT_LOGS_SINCE_LAST",
        "raft.snapshot_logs_since_last",
    ),
    (
        "ORDERSTORE_RAFT_MAX_IN_SNAPSHOT_LOG_TO_KEEP",
        "raft.max_in_snapshot_log_to_keep",
    ),
    (
        "ORDERSTORE_RAFT_MAX_CLOCK_OFFSET_MS",
        "raft.max_clock_offset_ms",
    ),
    ("ORDERSTORE_SPLIT_MAX_KEYS", "split.max_keys"),
    ("ORDERSTORE_SPLIT_MAX_BYTES", "split.max_bytes"),
    (
        "ORDERSTORE_SPLIT_MAX_REQUESTS_PER_SEC",
        "split.max_requests_per_sec",
    ),
    ("ORDERSTORE_SECURITY_TLS", "security.tls"),
    ("ORDERSTORE_SECURITY_CA_CERT", "security.ca_cert"),
    ("ORDERSTORE_SECURITY_CERT", "security.cert"),
    ("ORDERSTORE_SECURITY_KEY", "security.key"),
    ("ORDERSTORE_SECURITY_AUTH", "security.auth"),
    ("ORDERSTORE_SECURITY_TOKENS_FILE", "security.tokens_file"),
    ("ORDERSTORE_SECURITY_AUDIT_LOG", "security.audit_log"),
    (
        "ORDERSTORE_LIMITS_MAX_INFLIGHT_REQUESTS",
        "limits.max_inflight_requests",
    ),
    (
        "ORDERSTORE_LIMITS_MAX_QUEUED_REQUESTS",
        "limits.max_queued_requests",
    ),
    (
        "ORDERSTORE_LIMITS_QUEUE_TIMEOUT_MS",
        "limits.queue_timeout_ms",
    ),
    (
        "ORDERSTORE_LIMITS_MAX_SHARD_PROPOSALS",
        "limits.max_shard_proposals",
    ),
    (
        "ORDERSTORE_LIMITS_MAX_CONNECTIONS",
        "limits.max_connections",
    ),
    (
        "ORDERSTORE_LIMITS_MAX_MESSAGE_BYTES",
        "limits.max_message_bytes",
    ),
    ("ORDERSTORE_LIMITS_RETRY_AFTER_MS", "limits.retry_after_ms"),
];

impl ClusterConfig {
    /// Applies the [`ENV_OVERRIDES`] found in `vars` (pass `std::env::vars()`); every other
    /// variable, including unknown `ORDERSTORE_*` ones used by other components, is ignored.
    /// Numbers and booleans (`true` or `false`) are parsed after trimming surrounding whitespace;
    /// strings (paths included) are taken verbatim.
    /// Does not validate: call [`ClusterConfig::validate`] afterwards.
    ///
    /// All or nothing: on error `self` is unchanged.
    ///
    /// # Errors
    /// [`ConfigError::Env`] naming the first variable whose value does not parse as the key's type.
    pub fn apply_env_overrides<I>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut next = self.clone();
        for (var, value) in vars {
            let raft = &mut next.raft;
            let security = &mut next.security;
            let limits = &mut next.limits;
            match var.as_str() {
                "ORDERSTORE_CLUSTER_NAME" => next.cluster_name = value,
                "ORDERSTORE_DEFAULT_REGION" => next.default_region = value,
                "ORDERSTORE_INITIAL_SHARDS" => next.initial_shards = parse(&var, &value)?,
                "ORDERSTORE_REPLICATION_FACTOR" => next.replication_factor = parse(&var, &value)?,
                "ORDERSTORE_IDEMPOTENCY_TTL_SECS" => {
                    next.idempotency_ttl_secs = parse(&var, &value)?
                }
                "ORDERSTORE_RAFT_HEARTBEAT_INTERVAL_MS" => {
                    raft.heartbeat_interval_ms = parse(&var, &value)?
                }
                "ORDERSTORE_RAFT_ELECTION_TIMEOUT_MIN_MS" => {
                    raft.election_timeout_min_ms = parse(&var, &value)?
                }
                "ORDERSTORE_RAFT_ELECTION_TIMEOUT_MAX_MS" => {
                    raft.election_timeout_max_ms = parse(&var, &value)?
                }
                "ORDERSTORE_RAFT_SNAPSHOT_LOGS_SINCE_LAST" => {
                    raft.snapshot_logs_since_last = parse(&var, &value)?
                }
                "ORDERSTORE_RAFT_MAX_IN_SNAPSHOT_LOG_TO_KEEP" => {
                    raft.max_in_snapshot_log_to_keep = parse(&var, &value)?
                }
                "ORDERSTORE_RAFT_MAX_CLOCK_OFFSET_MS" => {
                    raft.max_clock_offset_ms = parse(&var, &value)?
                }
                "ORDERSTORE_SPLIT_MAX_KEYS" => next.split.max_keys = parse(&var, &value)?,
                "ORDERSTORE_SPLIT_MAX_BYTES" => next.split.max_bytes = parse(&var, &value)?,
                "ORDERSTORE_SPLIT_MAX_REQUESTS_PER_SEC" => {
                    next.split.max_requests_per_sec = parse(&var, &value)?
                }
                "ORDERSTORE_SECURITY_TLS" => security.tls = parse(&var, &value)?,
                "ORDERSTORE_SECURITY_CA_CERT" => security.ca_cert = value,
                "ORDERSTORE_SECURITY_CERT" => security.cert = value,
                "ORDERSTORE_SECURITY_KEY" => security.key = value,
                "ORDERSTORE_SECURITY_AUTH" => security.auth = parse(&var, &value)?,
                "ORDERSTORE_SECURITY_TOKENS_FILE" => security.tokens_file = value,
                "ORDERSTORE_SECURITY_AUDIT_LOG" => security.audit_log = value,
                "ORDERSTORE_LIMITS_MAX_INFLIGHT_REQUESTS" => {
                    limits.max_inflight_requests = parse(&var, &value)?
                }
                "ORDERSTORE_LIMITS_MAX_QUEUED_REQUESTS" => {
                    limits.max_queued_requests = parse(&var, &value)?
                }
                "ORDERSTORE_LIMITS_QUEUE_TIMEOUT_MS" => {
                    limits.queue_timeout_ms = parse(&var, &value)?
                }
                "ORDERSTORE_LIMITS_MAX_SHARD_PROPOSALS" => {
                    limits.max_shard_proposals = parse(&var, &value)?
                }
                "ORDERSTORE_LIMITS_MAX_CONNECTIONS" => {
                    limits.max_connections = parse(&var, &value)?
                }
                "ORDERSTORE_LIMITS_MAX_MESSAGE_BYTES" => {
                    limits.max_message_bytes = parse(&var, &value)?
                }
                "ORDERSTORE_LIMITS_RETRY_AFTER_MS" => limits.retry_after_ms = parse(&var, &value)?,
                _ => {}
            }
        }
        *self = next;
        Ok(())
    }
}

/// Parses an override value, naming the variable in the error.
fn parse<T>(var: &str, value: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
        var: var.to_owned(),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}
