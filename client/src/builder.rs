//! [`ClientBuilder`]: endpoints, timeouts and retry budget of a [`Client`].

use std::time::Duration;

use crate::Backoff;
use crate::Client;
use crate::ClientError;
use crate::channel_pool;

/// Settings of a [`Client`]; see each setter for its default.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(crate) endpoints: Vec<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) deadline: Duration,
    pub(crate) backoff: Backoff,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            endpoints: Vec::new(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_retries: 20,
            deadline: Duration::from_secs(30),
            backoff: Backoff::default(),
        }
    }
}

impl ClientBuilder {
    /// Seed node addresses (`host:port`, or `http://host:port`). Any node serves any request
    /// (redirecting when it must), so one reachable endpoint is enough; the client learns the
    /// others from `ClusterStatus`. Replaces earlier seeds; duplicates are dropped.
    pub fn endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.endpoints.clear();
        for e in endpoints {
            let e = channel_pool::normalize(e.as_ref());
            if !self.endpoints.contains(&e) {
                self.endpoints.push(e);
            }
        }
        self
    }

    /// TCP connect timeout per attempt (default 2 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Timeout of one attempt, sent as the gRPC deadline too (default 10 s; the server gives up
    /// on a proposal after 5 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Retries after the first attempt, redirects included (default 20); the deadline bounds
    /// the call too.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Overall time budget of one call, retries and backoff included (default 30 s).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Backoff between retries (default full jitter, base 50 ms, cap 2 s).
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// Validates the settings and makes the client. Connects nothing yet: channels open on
    /// first use. Fails with [`ClientError::InvalidEndpoint`] when no endpoint was given or one
    /// is not a valid `host:port`.
    pub fn build(self) -> Result<Client, ClientError> {
        if self.endpoints.is_empty() {
            return Err(ClientError::InvalidEndpoint {
                addr: String::new(),
                message: "no endpoints given".into(),
            });
        }
        for e in &self.endpoints {
            channel_pool::endpoint(e)?;
        }
        Ok(Client::from_builder(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_validates_endpoints() {
        assert!(matches!(
            Client::builder().build(),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            Client::builder().endpoints(["127.0.0.1"]).build(),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        let b = Client::builder().endpoints([
            "127.0.0.1:7001",
            "http://127.0.0.1:7001",
            "127.0.0.1:7002",
        ]);
        assert_eq!(b.endpoints, ["127.0.0.1:7001", "127.0.0.1:7002"]);
        assert!(b.build().is_ok());
    }
}
