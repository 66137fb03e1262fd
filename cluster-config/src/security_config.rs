//! The `[security]` table: TLS for all gRPC traffic, client authentication and the audit log.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The placeholder replaced by the node's id in `cert`, `key` and `audit_log`, so one file serves
/// every node (`certs/node-{node_id}.pem`).
pub const NODE_ID_PLACEHOLDER: &str = "{node_id}";

/// File name of the audit log inside the node's data directory when `audit_log` is empty.
pub const DEFAULT_AUDIT_LOG_NAME: &str = "audit.log";

/// Transport security and client authentication. Missing keys take the defaults below, which
/// switch everything off (plain-text gRPC, no authentication), so existing files keep working.
///
/// Paths are used as written (relative ones against the node's working directory) and are not
/// checked here: [`SecurityConfig::validate`] does no file I/O, the node reports unreadable files
/// when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// When true, all gRPC traffic (client API and node-to-node Raft traffic) uses TLS: nodes
    /// present `cert`/`key`, verify peers against `ca_cert`, and accept client certificates signed
    /// by `ca_cert` (optional for clients). Needs `ca_cert`, `cert` and `key`. Default false.
    pub tls: bool,
    /// Path of the PEM certificate of the cluster's certificate authority. Default empty.
    pub ca_cert: String,
    /// Path of the node's PEM certificate; `{node_id}` is replaced by the node's id
    /// ([`SecurityConfig::cert_path`]). Default empty.
    pub cert: String,
    /// Path of the node's PEM private key; `{node_id}` is replaced by the node's id
    /// ([`SecurityConfig::key_path`]). Default empty.
    pub key: String,
    /// When true, every client request must carry a principal (a bearer token listed in
    /// `tokens_file`, or a client certificate signed by `ca_cert`) whose role permits the call.
    /// Needs `tls` (tokens never travel in clear; node identities come from node certificates).
    /// Default false.
    pub auth: bool,
    /// Path of the token file ([`TokenStore`](crate::TokenStore) format). Optional even with
    /// `auth` (clients may then authenticate with certificates only); needs `auth` when set.
    /// Default empty (no tokens).
    pub tokens_file: String,
    /// Path of the audit log, to which admin actions are appended as JSON lines; `{node_id}` is
    /// replaced by the node's id. Default empty, meaning `audit.log` in the node's data directory
    /// ([`SecurityConfig::audit_log_path`]).
    pub audit_log: String,
}

impl SecurityConfig {
    /// `cert` with `{node_id}` replaced by `node_id`.
    pub fn cert_path(&self, node_id: u64) -> PathBuf {
        substitute_node_id(&self.cert, node_id)
    }

    /// `key` with `{node_id}` replaced by `node_id`.
    pub fn key_path(&self, node_id: u64) -> PathBuf {
        substitute_node_id(&self.key, node_id)
    }

    /// Where node `node_id`, whose data directory is `data_dir`, appends its audit log:
    /// `audit_log` with `{node_id}` replaced, or `data_dir/audit.log` when `audit_log` is empty.
    pub fn audit_log_path(&self, node_id: u64, data_dir: &Path) -> PathBuf {
        if self.audit_log.is_empty() {
            data_dir.join(DEFAULT_AUDIT_LOG_NAME)
        } else {
            substitute_node_id(&self.audit_log, node_id)
        }
    }

    /// `tokens_file` as a path, or `None` when it is unset (empty).
    pub fn tokens_path(&self) -> Option<&Path> {
        (!self.tokens_file.is_empty()).then(|| Path::new(&self.tokens_file))
    }

    /// Checks that the switches are consistent, in this order: with `tls`, `ca_cert`, `cert` and
    /// `key` are set (in that order); `auth` needs `tls`; a `tokens_file` needs `auth`. Does not
    /// touch the filesystem.
    ///
    /// # Errors
    /// [`ConfigError::TlsPathMissing`], then [`ConfigError::AuthNeedsTls`], then
    /// [`ConfigError::TokensNeedAuth`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls {
            for (key, value) in [
                ("ca_cert", &self.ca_cert),
                ("cert", &self.cert),
                ("key", &self.key),
            ] {
                if value.is_empty() {
                    return Err(ConfigError::TlsPathMissing { key });
                }
            }
        }
        if self.auth && !self.tls {
            return Err(ConfigError::AuthNeedsTls);
        }
        if !self.tokens_file.is_empty() && !self.auth {
            return Err(ConfigError::TokensNeedAuth(self.tokens_file.clone()));
        }
        Ok(())
    }
}

/// `template` with every `{node_id}` replaced by `node_id`, as a path.
fn substitute_node_id(template: &str, node_id: u64) -> PathBuf {
    PathBuf::from(template.replace(NODE_ID_PLACEHOLDER, &node_id.to_string()))
}
