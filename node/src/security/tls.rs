//! TLS material of a node: its certificate and key (served to clients and presented to peers)
//! and the cluster CA (which every peer and client certificate must chain to).

use std::path::Path;
use std::path::PathBuf;

use cluster_config::SecurityConfig;
use tonic::transport::Certificate;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Identity;
use tonic::transport::ServerTlsConfig;

use super::SecurityError;

/// PEM material loaded from the `[security]` paths. The private key is never logged: `Debug`
/// prints the paths only.
#[derive(Clone)]
pub struct NodeTls {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    paths: [PathBuf; 3],
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("ca", &self.paths[0])
            .field("cert", &self.paths[1])
            .field("key", &self.paths[2])
            .finish()
    }
}

fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, SecurityError> {
    let bytes = std::fs::read(path).map_err(|source| SecurityError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(SecurityError::NotPem {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

impl NodeTls {
    /// Loads node `node_id`'s material (`{node_id}` substituted in the cert and key paths).
    ///
    /// # Errors
    /// [`SecurityError::Read`] when a file cannot be read, [`SecurityError::NotPem`] when it
    /// holds no PEM block. (Whether the certificate and key match is checked when the server
    /// starts: tonic reports it as a transport error.)
    pub fn load(config: &SecurityConfig, node_id: u64) -> Result<Self, SecurityError> {
        let ca = PathBuf::from(&config.ca_cert);
        let cert = config.cert_path(node_id);
        let key = config.key_path(node_id);
        Ok(Self {
            ca_pem: read_pem(&ca, "CA certificate")?,
            cert_pem: read_pem(&cert, "node certificate")?,
            key_pem: read_pem(&key, "node private key")?,
            paths: [ca, cert, key],
        })
    }

    /// Server side: the node's identity; client certificates signed by the CA are verified
    /// when presented (peers always present theirs; clients may authenticate with a token
    /// instead).
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(true)
    }

    /// Client side (peers and the node's own SDK client): verify servers against the CA and
    /// present the node certificate.
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }

    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    pub fn cert_pem(&self) -> &[u8] {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &[u8] {
        &self.key_pem
    }
}
