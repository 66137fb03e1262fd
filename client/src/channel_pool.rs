//! [`ChannelPool`]: one lazily connected tonic [`Channel`] per distinct node address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::transport::Endpoint;

use crate::ClientError;

/// Cached channels, keyed by `host:port`. A channel connects on first use and reconnects by
/// itself after failures, so entries are never evicted.
#[derive(Debug)]
pub(crate) struct ChannelPool {
    connect_timeout: Duration,
    channels: Mutex<HashMap<String, Channel>>,
}

impl ChannelPool {
    pub fn new(connect_timeout: Duration) -> Self {
        ChannelPool {
            connect_timeout,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// The channel to `addr` (`host:port`), created on first use.
    ///
    /// Must be called inside a tokio runtime (tonic spawns the channel's worker task).
    /// Fails with [`ClientError::InvalidEndpoint`] when `addr` is not a valid address.
    pub fn get(&self, addr: &str) -> Result<Channel, ClientError> {
        // A poisoned lock only means another thread panicked while inserting; the map is
        // still a valid cache, so keep using it.
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let ch = endpoint(addr)?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

/// Parses `host:port` (or `http://host:port`) into a tonic endpoint.
pub(crate) fn endpoint(addr: &str) -> Result<Endpoint, ClientError> {
    let invalid = |message: String| ClientError::InvalidEndpoint {
        addr: addr.to_string(),
        message,
    };
    if addr.trim().is_empty() {
        return Err(invalid("empty address".into()));
    }
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let ep = Endpoint::from_shared(uri).map_err(|e| invalid(e.to_string()))?;
    if ep.uri().port_u16().is_none() {
        return Err(invalid("missing port (expected host:port)".into()));
    }
    Ok(ep)
}

/// `host:port` form of an address given as `host:port` or `http://host:port`.
pub(crate) fn normalize(addr: &str) -> String {
    let a = addr.trim();
    let a = a.strip_prefix("http://").unwrap_or(a);
    a.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_normalize() {
        assert!(endpoint("127.0.0.1:7001").is_ok());
        assert!(endpoint("http://localhost:7001").is_ok());
        assert!(matches!(
            endpoint(""),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            endpoint("localhost"),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            endpoint("not an address:x"),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert_eq!(normalize(" http://127.0.0.1:7001/ "), "127.0.0.1:7001");
    }

    #[tokio::test]
    async fn channels_are_cached_per_address() {
        let pool = ChannelPool::new(Duration::from_secs(1));
        pool.get("127.0.0.1:1").unwrap();
        pool.get("127.0.0.1:1").unwrap();
        pool.get("127.0.0.1:2").unwrap();
        assert_eq!(pool.channels.lock().unwrap().len(), 2);
    }
}
