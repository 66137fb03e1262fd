//! [`ChannelPool`]: one lazily connected tonic [`Channel`] per distinct node address, all with
//! the client's TLS settings and credentials.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::transport::Endpoint;

use crate::ClientError;
use crate::TlsOptions;
use crate::credentials::Credentials;

/// What every RPC of the client is sent on: a pooled channel that adds the client's
/// credentials (the bearer token) to each request.
pub(crate) type RpcChannel = InterceptedService<Channel, Credentials>;

/// Cached channels, keyed by `host:port`. A channel connects on first use and reconnects by
/// itself after failures, so entries are never evicted. Seeds and addresses learned from the
/// cluster get the same scheme and TLS settings.
#[derive(Debug)]
pub(crate) struct ChannelPool {
    connect_timeout: Duration,
    tls: Option<TlsOptions>,
    credentials: Credentials,
    channels: Mutex<HashMap<String, Channel>>,
}

impl ChannelPool {
    pub fn new(
        connect_timeout: Duration,
        tls: Option<TlsOptions>,
        credentials: Credentials,
    ) -> Self {
        ChannelPool {
            connect_timeout,
            tls,
            credentials,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// The channel to `addr` (`host:port`), created on first use.
    ///
    /// Must be called inside a tokio runtime (tonic spawns the channel's worker task).
    /// Fails with [`ClientError::InvalidEndpoint`] when `addr` is not a valid address, and
    /// with [`ClientError::InvalidCredentials`] when the TLS settings are unusable (the builder
    /// checks them against the seeds first).
    pub fn get(&self, addr: &str) -> Result<RpcChannel, ClientError> {
        // A poisoned lock only means another thread panicked while inserting; the map is
        // still a valid cache, so keep using it.
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let ch = match channels.get(addr) {
            Some(ch) => ch.clone(),
            None => {
                let ch = endpoint(addr, self.tls.as_ref())?
                    .connect_timeout(self.connect_timeout)
                    .tcp_nodelay(true)
                    .connect_lazy();
                channels.insert(addr.to_string(), ch.clone());
                ch
            }
        };
        Ok(InterceptedService::new(ch, self.credentials.clone()))
    }
}

/// Parses `host:port` (or `http://host:port`, `https://host:port`) into a tonic endpoint:
/// `https` with `tls`, else `http`, whatever scheme `addr` names.
///
/// Fails with [`ClientError::InvalidEndpoint`] for a malformed address and
/// [`ClientError::InvalidCredentials`] when tonic refuses the TLS settings.
pub(crate) fn endpoint(addr: &str, tls: Option<&TlsOptions>) -> Result<Endpoint, ClientError> {
    let invalid = |message: String| ClientError::InvalidEndpoint {
        addr: addr.to_string(),
        message,
    };
    if addr.trim().is_empty() {
        return Err(invalid("empty address".into()));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://{}", normalize(addr));
    let ep = Endpoint::from_shared(uri).map_err(|e| invalid(e.to_string()))?;
    if ep.uri().port_u16().is_none() {
        return Err(invalid("missing port (expected host:port)".into()));
    }
    match tls {
        None => Ok(ep),
        Some(tls) => {
            ep.tls_config(tls.client_tls_config())
                .map_err(|e| ClientError::InvalidCredentials {
                    message: format!("unusable TLS settings: {}", with_sources(&e)),
                })
        }
    }
}

/// An error and its causes on one line.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `host:port` form of an address given as `host:port`, `http://host:port` or
/// `https://host:port`.
pub(crate) fn normalize(addr: &str) -> String {
    let a = addr.trim();
    let a = a
        .strip_prefix("http://")
        .or_else(|| a.strip_prefix("https://"))
        .unwrap_or(a);
    a.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_normalize() {
        assert!(endpoint("127.0.0.1:7001", None).is_ok());
        assert!(endpoint("http://localhost:7001", None).is_ok());
        assert!(matches!(
            endpoint("", None),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            endpoint("localhost", None),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            endpoint("not an address:x", None),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert_eq!(normalize(" http://127.0.0.1:7001/ "), "127.0.0.1:7001");
        assert_eq!(normalize("https://127.0.0.1:7001"), "127.0.0.1:7001");
    }

    /// The scheme follows the TLS setting, whatever the address says.
    #[test]
    fn scheme_follows_the_tls_setting() {
        for addr in [
            "127.0.0.1:7001",
            "http://127.0.0.1:7001",
            "https://127.0.0.1:7001",
        ] {
            assert_eq!(
                endpoint(addr, None).unwrap().uri().scheme_str(),
                Some("http")
            );
        }
        // rcgen only makes a CA certificate to trust here; nothing connects.
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let tls = TlsOptions::new(ca.cert.pem());
        for addr in ["127.0.0.1:7001", "http://127.0.0.1:7001"] {
            assert_eq!(
                endpoint(addr, Some(&tls)).unwrap().uri().scheme_str(),
                Some("https")
            );
        }
    }

    #[tokio::test]
    async fn channels_are_cached_per_address() {
        let pool = ChannelPool::new(Duration::from_secs(1), None, Credentials::default());
        pool.get("127.0.0.1:1").unwrap();
        pool.get("127.0.0.1:1").unwrap();
        pool.get("127.0.0.1:2").unwrap();
        assert_eq!(pool.channels.lock().unwrap().len(), 2);
    }
}
