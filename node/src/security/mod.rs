//! Security of a node: TLS for client and peer traffic (mutual between nodes), authentication
//! and roles, and the audit log of admin actions. Configured by the `[security]` table
//! (see `cluster-config/CONFIG.md`).
//!
//! # Layout
//! - [`tls`]: the node's certificate, key and the cluster CA; server and client TLS settings.
//! - [`auth`]: who is calling (bearer token or client certificate) and the role each method
//!   needs.
//! - [`audit`]: JSON-lines audit log of admin actions and refused calls.

pub mod audit;
pub mod auth;
pub mod tls;

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use cluster_config::SecurityConfig;
use cluster_config::TokenStore;

pub use audit::AuditLog;
pub use audit::AuditRecord;
pub use auth::AuthError;
pub use auth::Authenticator;
pub use tls::NodeTls;

/// Why the security settings could not be loaded; the node does not start.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// Returned when a certificate, key or token file cannot be read.
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Returned when a certificate or key file holds no PEM block.
    #[error("the {what} {path} is not PEM")]
    NotPem { what: &'static str, path: PathBuf },
    /// Returned when the token file does not parse or breaks its rules.
    #[error("token file: {0}")]
    Tokens(#[from] cluster_config::ConfigError),
    /// Returned when the audit log cannot be opened.
    #[error("cannot open the audit log {path}: {source}")]
    Audit {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The loaded security settings of a node.
#[derive(Clone, Default)]
pub struct Security {
    /// Set when `[security].tls`.
    pub tls: Option<NodeTls>,
    /// Set when `[security].auth`.
    pub auth: Option<Arc<Authenticator>>,
    /// Set when `[security].auth`.
    pub audit: Option<Arc<AuditLog>>,
}

impl Security {
    /// Loads what `config` asks for, for node `node_id` whose data directory is `data_dir`.
    pub fn load(
        config: &SecurityConfig,
        node_id: u64,
        data_dir: &Path,
    ) -> Result<Self, SecurityError> {
        let tls = if config.tls {
            Some(NodeTls::load(config, node_id)?)
        } else {
            None
        };
        let (auth, audit) = if config.auth {
            let tokens = if config.tokens_file.is_empty() {
                None
            } else {
                Some(TokenStore::load(&config.tokens_file)?)
            };
            let path = config.audit_log_path(node_id, data_dir);
            let audit = AuditLog::open(&path).map_err(|source| SecurityError::Audit {
                path: path.clone(),
                source,
            })?;
            (Some(Authenticator::new(tokens)), Some(Arc::new(audit)))
        } else {
            (None, None)
        };
        Ok(Self { tls, auth, audit })
    }
}
