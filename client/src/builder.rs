//! [`ClientBuilder`]: endpoints, TLS and credentials, timeouts and retry budget of a
//! [`Client`].

use std::time::Duration;

use crate::Backoff;
use crate::Client;
use crate::ClientError;
use crate::TlsOptions;
use crate::channel_pool;
use crate::credentials::BearerToken;
use crate::credentials::Credentials;

/// Settings of a [`Client`]; see each setter for its default. `Debug` never shows the bearer
/// token or a private key.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(crate) endpoints: Vec<String>,
    pub(crate) tls: Option<TlsOptions>,
    pub(crate) bearer_token: Option<BearerToken>,
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
            tls: None,
            bearer_token: None,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_retries: 20,
            deadline: Duration::from_secs(30),
            backoff: Backoff::default(),
        }
    }
}

impl ClientBuilder {
    /// Seed node addresses (`host:port`; an `http://` or `https://` prefix is dropped, the
    /// scheme follows [`Self::tls`]). Any node serves any request
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

    /// Connect with TLS (default: plaintext). Every channel, to seeds and to addresses learned
    /// from the cluster alike, uses `https` with these settings; see [`TlsOptions`].
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Send `authorization: Bearer <token>` with every request (default: no token). The token
    /// must be printable ASCII without spaces (surrounding whitespace is trimmed); it never
    /// appears in `Debug` output or error messages.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(BearerToken::new(token.into()));
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
    /// first use (so a server refusing the certificate or the token shows on the first call).
    ///
    /// Fails with [`ClientError::InvalidEndpoint`] when no endpoint was given or one is not a
    /// valid `host:port`, and with [`ClientError::InvalidCredentials`] when the TLS PEMs or
    /// the bearer token are unusable.
    pub fn build(self) -> Result<Client, ClientError> {
        if self.endpoints.is_empty() {
            return Err(ClientError::InvalidEndpoint {
                addr: String::new(),
                message: "no endpoints given".into(),
            });
        }
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        let credentials = Credentials::new(self.bearer_token.as_ref())?;
        for e in &self.endpoints {
            channel_pool::endpoint(e, self.tls.as_ref())?;
        }
        Ok(Client::from_builder(self, credentials))
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

    /// The token is checked at build time and never shows in `Debug` of the builder or client.
    #[tokio::test]
    async fn token_is_validated_and_redacted() {
        let b = Client::builder()
            .endpoints(["127.0.0.1:7001"])
            .bearer_token("tok-5f3a9c");
        assert!(!format!("{b:?}").contains("tok-5f3a9c"), "{b:?}");
        let client = b.build().unwrap();
        assert!(!format!("{client:?}").contains("tok-5f3a9c"), "{client:?}");
        assert!(matches!(
            Client::builder()
                .endpoints(["127.0.0.1:7001"])
                .bearer_token("two words")
                .build(),
            Err(ClientError::InvalidCredentials { .. })
        ));
    }

    /// TLS settings without a CA certificate are refused at build time.
    #[test]
    fn tls_without_a_ca_is_refused() {
        let err = Client::builder()
            .endpoints(["127.0.0.1:7001"])
            .tls(TlsOptions::new("not a pem"))
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidCredentials { .. }),
            "{err:?}"
        );
    }
}
