//! How a [`crate::Client`] proves who it is and whom it trusts: [`TlsOptions`] (the cluster's
//! CA, an optional client certificate) and the bearer token sent with every request.

use std::fmt;
use std::path::Path;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::transport::Certificate;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Identity;

use crate::ClientError;

/// TLS settings of a [`crate::Client`] (see [`crate::ClientBuilder::tls`]).
///
/// The client trusts only `ca_pem` (no system roots) and checks that every node's certificate
/// names the address it dialled (`127.0.0.1` matches an IP SAN, `localhost` a DNS SAN), unless
/// `domain` overrides the expected name. With `identity` it presents that certificate, which
/// the server maps to a principal (CN = name, OU = role).
///
/// `Debug` never shows the private key.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// PEM of the CA certificate(s) that sign the nodes' certificates.
    pub ca_pem: Vec<u8>,
    /// Client certificate and its private key, both PEM, for mutual TLS; `None`: no client
    /// certificate (authenticate with a bearer token instead).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Name the nodes' certificates must carry instead of the dialled host.
    pub domain: Option<String>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field(
                "identity",
                &self
                    .identity
                    .as_ref()
                    .map(|(cert, _)| format!("<cert {} bytes, key redacted>", cert.len())),
            )
            .field("domain", &self.domain)
            .finish()
    }
}

impl TlsOptions {
    /// Trust the CA certificate(s) in `ca_pem`; no client certificate, no domain override.
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        TlsOptions {
            ca_pem: ca_pem.into(),
            identity: None,
            domain: None,
        }
    }

    /// Present this client certificate (PEM) with its private key (PEM).
    pub fn identity(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Expect this name in the nodes' certificates instead of the dialled host.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Reads the CA certificate, and the client certificate and key when given, from PEM files.
    ///
    /// Fails with [`ClientError::InvalidCredentials`] when a file cannot be read, when only one
    /// of `cert` and `key` is given, or when a file holds no PEM block of the expected kind.
    pub fn from_files(
        ca: impl AsRef<Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| ClientError::InvalidCredentials {
                message: format!("cannot read {}: {e}", path.display()),
            })
        };
        let tls = TlsOptions::new(read(ca.as_ref())?);
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => tls.identity(read(cert)?, read(key)?),
            (None, None) => tls,
            _ => {
                return Err(ClientError::InvalidCredentials {
                    message: "a client certificate needs its key and a key its certificate".into(),
                });
            }
        };
        tls.validate()?;
        Ok(tls)
    }

    /// Checks that the PEMs hold what they should (tonic parses them only when a channel is
    /// made, and an empty CA list would fail only at the handshake).
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        let invalid = |message: &str| {
            Err(ClientError::InvalidCredentials {
                message: message.to_string(),
            })
        };
        if !contains(&self.ca_pem, b"-----BEGIN CERTIFICATE-----") {
            return invalid("the CA file holds no PEM certificate");
        }
        if let Some((cert, key)) = &self.identity {
            if !contains(cert, b"-----BEGIN CERTIFICATE-----") {
                return invalid("the client certificate file holds no PEM certificate");
            }
            if !contains(key, b"PRIVATE KEY-----") {
                return invalid("the client key file holds no PEM private key");
            }
        }
        Ok(())
    }

    /// The tonic configuration of these settings.
    pub(crate) fn client_tls_config(&self) -> ClientTlsConfig {
        let mut cfg = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem));
        if let Some((cert, key)) = &self.identity {
            cfg = cfg.identity(Identity::from_pem(cert, key));
        }
        if let Some(domain) = &self.domain {
            cfg = cfg.domain_name(domain.clone());
        }
        cfg
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A bearer token, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BearerToken(String);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    pub fn new(token: String) -> Self {
        BearerToken(token)
    }

    /// The `authorization` metadata value, `Bearer <token>`, marked sensitive.
    ///
    /// Fails with [`ClientError::InvalidCredentials`] (which never quotes the token) when the
    /// token is empty or not printable ASCII.
    pub fn header_value(&self) -> Result<AsciiMetadataValue, ClientError> {
        let invalid = |why: &str| ClientError::InvalidCredentials {
            message: format!("the bearer token {why}"),
        };
        let token = self.0.trim();
        if token.is_empty() {
            return Err(invalid("is empty"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "must be printable ASCII without spaces (as `orderctl token create` makes)",
            ));
        }
        let mut value: AsciiMetadataValue = format!("Bearer {token}")
            .parse()
            .map_err(|_| invalid("is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Adds `authorization: Bearer <token>` to every request when a token is configured, and the
/// wire-protocol version ([`orderstore_proto::PROTOCOL_HEADER`]) always. Applied to every
/// channel of the pool, so every RPC of the client carries them.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    authorization: Option<AsciiMetadataValue>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    pub fn new(token: Option<&BearerToken>) -> Result<Self, ClientError> {
        Ok(Credentials {
            authorization: token.map(BearerToken::header_value).transpose()?,
        })
    }
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.authorization {
            request.metadata_mut().insert("authorization", v.clone());
        }
        request.metadata_mut().insert(
            orderstore_proto::PROTOCOL_HEADER,
            AsciiMetadataValue::from(orderstore_proto::PROTOCOL_VERSION),
        );
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither the token nor a private key ever shows in `Debug`.
    #[test]
    fn debug_redacts_secrets() {
        let token = BearerToken::new("s3cr3t-token".into());
        let creds = Credentials::new(Some(&token)).unwrap();
        let tls = TlsOptions::new("ca").identity("cert", "PRIVATE-KEY-BYTES");
        for text in [
            format!("{token:?}"),
            format!("{creds:?}"),
            format!("{tls:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!text.contains("PRIVATE-KEY-BYTES"), "{text}");
        }
    }

    /// Every request gets `authorization: Bearer <token>`; without a token, none.
    #[test]
    fn interceptor_adds_the_bearer_header() {
        let mut creds = Credentials::new(Some(&BearerToken::new(" abc123\n".into()))).unwrap();
        let r = creds.call(tonic::Request::new(())).unwrap();
        assert_eq!(r.metadata().get("authorization").unwrap(), "Bearer abc123");
        let r = Credentials::default()
            .call(tonic::Request::new(()))
            .unwrap();
        assert!(r.metadata().get("authorization").is_none());
    }

    /// Unusable tokens are refused without quoting them.
    #[test]
    fn bad_tokens_are_refused_without_echo() {
        for bad in ["", "  ", "has space", "naïve"] {
            let err = BearerToken::new(bad.into()).header_value().unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidCredentials { .. }),
                "{err:?}"
            );
            if !bad.trim().is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }

    /// `from_files` needs a certificate and key together, and PEM content.
    #[test]
    fn from_files_checks_pairs_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let garbage = dir.path().join("garbage");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(&garbage, "not pem").unwrap();
        assert!(TlsOptions::from_files(&ca, None, None).is_ok());
        for (ca, cert, key) in [
            (&ca, Some(ca.as_path()), None),
            (&ca, None, Some(ca.as_path())),
            (&garbage, None, None),
            (&ca, Some(ca.as_path()), Some(garbage.as_path())),
            (&dir.path().join("missing"), None, None),
        ] {
            assert!(
                matches!(
                    TlsOptions::from_files(ca, cert, key),
                    Err(ClientError::InvalidCredentials { .. })
                ),
                "{ca:?} {cert:?} {key:?}"
            );
        }
    }
}
