//! [`Client`]: the SDK's entry point. Routes each request to the node that can serve it, follows
//! NOT_LEADER / WRONG_NODE hints, and retries transient failures with backoff under one
//! idempotency key.

use std::sync::Arc;
use std::sync::RwLock;
use std::time::Duration;
use std::time::Instant;

use orderstore_proto::v1 as pb;
use orderstore_proto::v1::ShardInfo;
use orderstore_proto::v1::cluster_admin_client::ClusterAdminClient;
use orderstore_proto::v1::order_service_client::OrderServiceClient;

use crate::Action;
use crate::ClientBuilder;
use crate::ClientError;
use crate::ClusterStatus;
use crate::CommandOptions;
use crate::Consistency;
use crate::Order;
use crate::OrderEvent;
use crate::OrderReply;
use crate::PlaceOrder;
use crate::RetryMethod;
use crate::backoff::Backoff;
use crate::channel_pool::ChannelPool;
use crate::channel_pool::RpcChannel;
use crate::channel_pool::normalize;
use crate::credentials::Credentials;
use crate::endpoint_set::EndpointSet;
use crate::idempotency::new_idempotency_key;
use crate::route_cache::RouteCache;

/// Routes are refreshed from `ClusterStatus` at most this often (many concurrent requests that
/// fail together share one refresh).
const REFRESH_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Consecutive hints followed without backoff; later ones wait a backoff first.
const MAX_IMMEDIATE_REDIRECTS: u32 = 2;

/// Timeout of the best-effort `ClusterStatus` call made to refresh routes.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(3);

/// A handle to an orderstore cluster. Cheap to clone (all clones share channels and routes) and
/// safe to use from many tasks at once. Must be used inside a tokio runtime.
///
/// Every call follows the same contract:
/// - requests that name an order go to the cached leader of the order's shard (by
///   `shard_router::hash_key(order_id)`), others to any node;
/// - NOT_LEADER / WRONG_NODE with a hint: the cache learns the hint and the request is re-sent
///   there at once; without a hint: routes are refreshed and the request is retried after a
///   backoff;
/// - UNAVAILABLE and transport failures: retried with full-jitter backoff, up to `max_retries`
///   retries and within the call's deadline; mutating calls carry the same idempotency key in
///   every attempt (the SDK makes one up if the caller gave none), so a retry never applies
///   twice;
/// - RESOURCE_EXHAUSTED (an overloaded node, [`ClientError::Overloaded`]): retried like
///   UNAVAILABLE, but never sooner than the server's `retry-after-ms` hint; when the hint
///   reaches past the call's deadline the call gives up at once; when retries run out the
///   result stays [`ClientError::Overloaded`] (with the hint);
/// - UNAUTHENTICATED and PERMISSION_DENIED are definite answers, returned at once;
/// - any other failure is returned at once; when retries run out the result is
///   [`ClientError::Unavailable`] naming the last cause (`Overloaded` for an overload).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    request_timeout: Duration,
    max_retries: u32,
    deadline: Duration,
    backoff: Backoff,
    endpoints: EndpointSet,
    channels: ChannelPool,
    routes: RwLock<RouteCache>,
    /// When routes were last refreshed; the lock also serialises refreshes.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

/// Where a request should go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// Any node (it redirects if needed).
    Any,
    /// The leader of the shard owning this order id.
    Key(&'a str),
    /// The leader of this shard.
    Shard(u64),
}

impl Client {
    /// Starts configuring a client; see [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// `credentials` were made (and checked) from `b` by [`ClientBuilder::build`].
    pub(crate) fn from_builder(b: ClientBuilder, credentials: Credentials) -> Client {
        Client {
            inner: Arc::new(Inner {
                request_timeout: b.request_timeout,
                max_retries: b.max_retries,
                deadline: b.deadline,
                backoff: b.backoff,
                endpoints: EndpointSet::new(b.endpoints),
                channels: ChannelPool::new(b.connect_timeout, b.tls, credentials),
                routes: RwLock::new(RouteCache::default()),
                last_refresh: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Places a new order. Returns the stored order (`replayed` = true when the idempotency key
    /// had already placed it: the stored first reply is returned and nothing changes).
    ///
    /// Errors: [`ClientError::InvalidArgument`] (bad input, `field` names it),
    /// [`ClientError::IdempotencyKeyReused`] (the key placed a different order),
    /// [`ClientError::Unavailable`] after retries.
    pub async fn place_order(&self, order: PlaceOrder) -> Result<OrderReply, ClientError> {
        let req = pb::PlaceOrderRequest {
            customer_id: order.customer_id,
            items: order.items.into_iter().map(pb::LineItem::from).collect(),
            currency: order.currency.unwrap_or_default(),
            region: order.region.unwrap_or_default(),
            idempotency_key: order.idempotency_key.unwrap_or_else(new_idempotency_key),
        };
        // The server derives the new order's id from its region and idempotency key; computing
        // the same id here routes the request straight to its shard's leader.
        if self.routes().is_empty() {
            self.refresh_routes().await;
        }
        let region = (!req.region.is_empty())
            .then(|| req.region.clone())
            .or_else(|| self.routes().default_region().map(str::to_string));
        let routed_id = region.map(|r| shard_router::keyed_order_id(&r, &req.idempotency_key));
        let target = routed_id.as_deref().map_or(Target::Any, Target::Key);
        let reply = self
            .call(target, |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { OrderServiceClient::new(ch).place_order(r).await }
            })
            .await?;
        OrderReply::try_from(reply)
    }

    /// Reads an order. [`ClientError::NotFound`] when it does not exist.
    pub async fn get_order(
        &self,
        order_id: &str,
        consistency: Consistency,
    ) -> Result<Order, ClientError> {
        let req = pb::GetOrderRequest {
            order_id: order_id.to_string(),
            consistency: pb::ReadConsistency::from(consistency) as i32,
        };
        let reply = self
            .call(Target::Key(order_id), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { OrderServiceClient::new(ch).get_order(r).await }
            })
            .await?;
        Ok(OrderReply::try_from(reply)?.order)
    }

    /// Applies `action` to an order.
    ///
    /// Errors: [`ClientError::IllegalTransition`] when the action does not apply in the order's
    /// current state (the order is unchanged), [`ClientError::VersionConflict`] when
    /// `opts.expected_version` is stale, [`ClientError::NotFound`],
    /// [`ClientError::InvalidArgument`] (e.g. a line out of range),
    /// [`ClientError::IdempotencyKeyReused`], [`ClientError::Unavailable`] after retries.
    pub async fn order_command(
        &self,
        order_id: &str,
        action: Action,
        opts: CommandOptions,
    ) -> Result<OrderReply, ClientError> {
        let req = pb::OrderCommandRequest {
            order_id: order_id.to_string(),
            action: pb::OrderAction::from(action) as i32,
            expected_version: opts.expected_version,
            idempotency_key: opts.idempotency_key.unwrap_or_else(new_idempotency_key),
            line: opts.line,
            amount: opts.amount,
            reason: opts.reason.unwrap_or_default(),
        };
        let reply = self
            .call(Target::Key(order_id), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { OrderServiceClient::new(ch).apply_order_command(r).await }
            })
            .await?;
        OrderReply::try_from(reply)
    }

    /// Authorizes and captures payment ([`Action::Pay`]).
    pub async fn pay(&self, order_id: &str) -> Result<OrderReply, ClientError> {
        self.order_command(order_id, Action::Pay, CommandOptions::default())
            .await
    }

    /// Ships every eligible line ([`Action::Ship`]).
    pub async fn ship(&self, order_id: &str) -> Result<OrderReply, ClientError> {
        self.order_command(order_id, Action::Ship, CommandOptions::default())
            .await
    }

    /// Marks every shipped line delivered ([`Action::Deliver`]).
    pub async fn deliver(&self, order_id: &str) -> Result<OrderReply, ClientError> {
        self.order_command(order_id, Action::Deliver, CommandOptions::default())
            .await
    }

    /// Cancels the order ([`Action::Cancel`]) with an optional reason.
    pub async fn cancel(
        &self,
        order_id: &str,
        reason: Option<&str>,
    ) -> Result<OrderReply, ClientError> {
        let opts = CommandOptions {
            reason: reason.map(str::to_string),
            ..Default::default()
        };
        self.order_command(order_id, Action::Cancel, opts).await
    }

    /// Requests a return of every eligible line ([`Action::RequestReturn`]).
    pub async fn return_order(&self, order_id: &str) -> Result<OrderReply, ClientError> {
        self.order_command(order_id, Action::RequestReturn, CommandOptions::default())
            .await
    }

    /// The order's event log, oldest first (linearizable). [`ClientError::NotFound`] when the
    /// order does not exist.
    pub async fn order_events(&self, order_id: &str) -> Result<Vec<OrderEvent>, ClientError> {
        let req = pb::ListOrderEventsRequest {
            order_id: order_id.to_string(),
        };
        let reply = self
            .call(Target::Key(order_id), |ch, timeout, _| {
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(timeout);
                async move { OrderServiceClient::new(ch).list_order_events(r).await }
            })
            .await?;
        Ok(reply.events.into_iter().map(OrderEvent::from).collect())
    }

    /// The whole cluster's status (asked of any node, which fans out to the others). Also
    /// refreshes the client's routing cache.
    pub async fn cluster_status(&self) -> Result<ClusterStatus, ClientError> {
        let reply = self
            .call(Target::Any, |ch, timeout, _| {
                let mut r = tonic::Request::new(pb::ClusterStatusRequest {});
                r.set_timeout(timeout);
                async move { ClusterAdminClient::new(ch).cluster_status(r).await }
            })
            .await?;
        let status = ClusterStatus::from(reply);
        self.learn(&status);
        Ok(status)
    }

    /// Asks the leader of `shard_id` to hand leadership to node `to_node`. Returns once the
    /// leader accepted the request (the transfer completes asynchronously).
    /// [`ClientError::InvalidArgument`] when `to_node` has no replica of the shard.
    pub async fn transfer_leader(&self, shard_id: u64, to_node: u64) -> Result<(), ClientError> {
        let req = pb::TransferLeaderRequest { shard_id, to_node };
        self.call(Target::Shard(shard_id), |ch, timeout, _| {
            let mut r = tonic::Request::new(req);
            r.set_timeout(timeout);
            async move { ClusterAdminClient::new(ch).transfer_leader(r).await }
        })
        .await?;
        Ok(())
    }

    /// The cluster's default region (from the routing cache, refreshed if empty).
    pub(crate) async fn default_region(&self) -> Option<String> {
        if self.routes().is_empty() {
            self.refresh_routes().await;
        }
        self.routes().default_region().map(str::to_string)
    }

    /// Puts a fresh cluster view into the routing cache and the endpoint set.
    fn learn(&self, status: &ClusterStatus) {
        self.inner
            .endpoints
            .learn(status.nodes.iter().map(|n| n.grpc_addr.as_str()));
        self.routes_mut().replace(status);
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, RouteCache> {
        // A panic while holding the lock cannot break the cache's invariant (every mutation
        // keeps it), so a poisoned lock is still usable.
        self.inner.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, RouteCache> {
        // As in `routes`.
        self.inner.routes.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The address to send a request for `target` to.
    fn pick(&self, target: Target<'_>) -> String {
        let cached = match target {
            Target::Any => None,
            Target::Key(id) => self
                .routes()
                .route_key(id.as_bytes())
                .and_then(|r| r.leader_addr.clone()),
            Target::Shard(id) => self.routes().shard(id).and_then(|r| r.leader_addr.clone()),
        };
        match cached {
            Some(addr) if !self.inner.endpoints.is_down(&addr) => addr,
            _ => self.inner.endpoints.pick(),
        }
    }

    /// Refreshes routes from `ClusterStatus`, unless another task did so within
    /// [`REFRESH_MIN_INTERVAL`]. Best effort: failures leave the cache as it was.
    async fn refresh_routes(&self) {
        let mut last = self.inner.last_refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < REFRESH_MIN_INTERVAL) {
            return;
        }
        let tries = self.inner.endpoints.len().clamp(1, 3);
        for _ in 0..tries {
            let addr = self.inner.endpoints.pick();
            let Ok(ch) = self.inner.channels.get(&addr) else {
                continue;
            };
            let timeout = REFRESH_TIMEOUT.min(self.inner.request_timeout);
            let mut r = tonic::Request::new(pb::ClusterStatusRequest {});
            r.set_timeout(timeout);
            let mut admin = ClusterAdminClient::new(ch);
            match tokio::time::timeout(timeout, admin.cluster_status(r)).await {
                Ok(Ok(reply)) => {
                    self.learn(&ClusterStatus::from(reply.into_inner()));
                    break;
                }
                Ok(Err(status)) => {
                    tracing::debug!(%addr, error = %status.message(), "route refresh failed");
                    self.inner.endpoints.mark_down(&addr);
                }
                Err(_) => {
                    tracing::debug!(%addr, "route refresh timed out");
                    self.inner.endpoints.mark_down(&addr);
                }
            }
        }
        *last = Some(Instant::now());
    }

    /// Updates routes from a failed attempt at `addr`.
    fn learn_from_error(&self, addr: &str, err: &ClientError, fresh: Option<&ShardInfo>) {
        let mut routes = self.routes_mut();
        if let Some(d) = fresh {
            routes.apply_descriptor(d);
        }
        match err {
            ClientError::NotLeader {
                shard_id,
                leader_id,
                leader_addr: Some(a),
            } => {
                routes.set_leader(*shard_id, *leader_id, &normalize(a));
            }
            ClientError::NotLeader {
                shard_id,
                leader_addr: None,
                ..
            } => routes.forget_leader(*shard_id),
            // We were routed by the cache to a node without a replica: the cache was wrong.
            ClientError::WrongNode { shard_id, .. }
                if routes
                    .shard(*shard_id)
                    .and_then(|s| s.leader_addr.as_deref())
                    == Some(addr) =>
            {
                routes.forget_leader(*shard_id);
            }
            ClientError::Transport { .. } => {
                routes.forget_addr(addr);
                drop(routes);
                self.inner.endpoints.mark_down(addr);
            }
            _ => {}
        }
    }

    /// Sends one request with routing, redirects and retries (see [`Client`]). `send` makes one
    /// attempt on the given channel (to the given address) with the given per-attempt timeout;
    /// it is called again, with the same request, for every retry.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        target: Target<'_>,
        mut send: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(RpcChannel, Duration, &str) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        let deadline = started + self.inner.deadline;
        if !matches!(target, Target::Any) && self.routes().is_empty() {
            self.refresh_routes().await;
        }
        let mut redirect_to: Option<String> = None;
        let mut backoffs = 0u32;
        let mut redirects_in_a_row = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let addr = redirect_to.take().unwrap_or_else(|| self.pick(target));
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = self
                .inner
                .request_timeout
                .min(remaining)
                .max(Duration::from_millis(1));
            let (err, fresh) = match self.inner.channels.get(&addr) {
                // A malformed hinted address: as if the node were unreachable.
                Err(e) => (
                    ClientError::Transport {
                        message: e.to_string(),
                    },
                    None,
                ),
                Ok(ch) => match tokio::time::timeout(timeout, send(ch, timeout, &addr)).await {
                    Ok(Ok(resp)) => {
                        self.inner.endpoints.mark_up(&addr);
                        return Ok(resp.into_inner());
                    }
                    Ok(Err(status)) => ClientError::decode(&status),
                    Err(_) => (
                        ClientError::Transport {
                            message: format!("no answer within {timeout:?}"),
                        },
                        None,
                    ),
                },
            };
            self.learn_from_error(&addr, &err, fresh.as_ref());
            let method = err.retry_method();
            if method == RetryMethod::NoRetry {
                return Err(err);
            }
            // Retries exhausted: UNAVAILABLE, except that an overloaded cluster stays
            // `Overloaded` (callers shed or slow down on it, and keep its hint).
            let give_up = |err: &ClientError| {
                let message = format!(
                    "gave up after {attempt} attempt(s) in {:.1?}; last error from {addr}: {err}",
                    started.elapsed()
                );
                match err {
                    ClientError::Overloaded { retry_after, .. } => ClientError::Overloaded {
                        retry_after: *retry_after,
                        message,
                    },
                    _ => ClientError::Unavailable { message },
                }
            };
            if attempt > self.inner.max_retries || Instant::now() >= deadline {
                return Err(give_up(&err));
            }
            tracing::debug!(attempt, %addr, error = %err, ?method, "retrying");
            let hinted = match &method {
                RetryMethod::RetryAtHint { addr: hint } => {
                    let hint = normalize(hint);
                    // Re-sending at once to the node that just answered, or to one known dead,
                    // would spin: treat those like a missing hint.
                    (hint != addr && !self.inner.endpoints.is_down(&hint)).then_some(hint)
                }
                _ => None,
            };
            if let Some(hint) = hinted {
                redirect_to = Some(hint);
                redirects_in_a_row += 1;
                // Hints can chase each other while a shard elects a leader (A names B, B names
                // A): after a couple of hops, follow the hint only after a backoff.
                if redirects_in_a_row <= MAX_IMMEDIATE_REDIRECTS {
                    continue;
                }
            } else {
                redirects_in_a_row = 0;
            }
            if redirect_to.is_none()
                && matches!(
                    method,
                    RetryMethod::RefreshRoutes | RetryMethod::RetryAtHint { .. }
                )
            {
                self.refresh_routes().await;
            }
            // ThreadRng is not Send: draw the delay before awaiting.
            let delay = self.inner.backoff.delay(backoffs, &mut rand::rng());
            let delay = match &method {
                RetryMethod::BackoffAtLeast { min } => delay.max(*min),
                _ => delay,
            };
            backoffs = backoffs.saturating_add(1);
            if Instant::now() + delay >= deadline {
                return Err(give_up(&err));
            }
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::Ordering;

    use prost::Message;
    use tonic::Code;

    use super::*;

    fn client(endpoints: &[&str]) -> Client {
        Client::builder()
            .endpoints(endpoints)
            .max_retries(5)
            .deadline(Duration::from_secs(5))
            .backoff(Backoff {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
            })
            .build()
            .unwrap()
    }

    fn not_leader(addr: &str) -> tonic::Status {
        let d = pb::ErrorDetail {
            kind: "NOT_LEADER".into(),
            shard_id: 1,
            leader_id: 2,
            leader_addr: addr.into(),
            ..Default::default()
        };
        tonic::Status::with_details(Code::Unavailable, "not leader", d.encode_to_vec().into())
    }

    /// A NOT_LEADER hint is followed at once, to the hinted address.
    #[tokio::test]
    async fn follows_leader_hint_immediately() {
        let c = client(&["127.0.0.1:1"]);
        let seen = std::sync::Mutex::new(Vec::<String>::new());
        let calls = AtomicU32::new(0);
        let res = c
            .call(Target::Any, |_, _, addr| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().push(addr.to_string());
                async move {
                    if n == 0 {
                        Err(not_leader("127.0.0.1:2"))
                    } else {
                        Ok(tonic::Response::new(42u32))
                    }
                }
            })
            .await;
        assert_eq!(res, Ok(42));
        assert_eq!(*seen.lock().unwrap(), ["127.0.0.1:1", "127.0.0.1:2"]);
    }

    /// Hints that chase each other (an election in progress) are still followed, with backoff
    /// after the first hops, until one node answers.
    #[tokio::test]
    async fn ping_pong_hints_are_followed_until_an_answer() {
        let c = client(&["127.0.0.1:1"]);
        let seen = std::sync::Mutex::new(Vec::<String>::new());
        let res = c
            .call(Target::Any, |_, _, addr| {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(addr.to_string());
                    seen.len()
                };
                let other = if addr == "127.0.0.1:1" {
                    "127.0.0.1:2"
                } else {
                    "127.0.0.1:1"
                };
                let reply = if n < 5 {
                    Err(not_leader(other))
                } else {
                    Ok(tonic::Response::new(n))
                };
                async move { reply }
            })
            .await;
        assert_eq!(res, Ok(5));
        let seen = seen.into_inner().unwrap();
        assert_eq!(
            seen,
            [
                "127.0.0.1:1",
                "127.0.0.1:2",
                "127.0.0.1:1",
                "127.0.0.1:2",
                "127.0.0.1:1"
            ]
        );
    }

    /// Transient failures are retried up to `max_retries`, then reported as Unavailable with
    /// the last cause; definite answers are returned at once.
    #[tokio::test]
    async fn retries_transient_errors_then_gives_up() {
        let c = client(&["127.0.0.1:1", "127.0.0.1:2"]);
        let calls = AtomicU32::new(0);
        let res: Result<u32, _> = c
            .call(Target::Any, |_, _, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(tonic::Status::unavailable("connection refused")) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 6, "1 attempt + 5 retries");
        match res {
            Err(ClientError::Unavailable { message }) => {
                assert!(message.contains("gave up after 6 attempt(s)"), "{message}");
                assert!(message.contains("connection refused"), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }

        let calls = AtomicU32::new(0);
        let res: Result<u32, _> = c
            .call(Target::Any, |_, _, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(tonic::Status::not_found("order o_x not found")) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(res, Err(ClientError::NotFound { .. })));
    }

    fn overloaded(retry_after_ms: u64) -> tonic::Status {
        let mut s = tonic::Status::resource_exhausted("overloaded");
        s.metadata_mut().insert(
            "retry-after-ms",
            retry_after_ms
                .to_string()
                .parse()
                .expect("digits are ASCII"),
        );
        s
    }

    /// An overloaded node's `retry-after-ms` hint is a floor under the backoff: with a backoff
    /// of at most 2 ms the retry still comes 1500 ms later, and then succeeds. (Paused clock:
    /// the test takes no real time.)
    #[tokio::test(start_paused = true)]
    async fn overload_hint_delays_the_retry() {
        let c = client(&["127.0.0.1:1"]);
        let sent_at = std::sync::Mutex::new(Vec::<tokio::time::Instant>::new());
        let res = c
            .call(Target::Any, |_, _, _| {
                let n = {
                    let mut sent_at = sent_at.lock().unwrap();
                    sent_at.push(tokio::time::Instant::now());
                    sent_at.len()
                };
                async move {
                    if n == 1 {
                        Err(overloaded(1500))
                    } else {
                        Ok(tonic::Response::new(n))
                    }
                }
            })
            .await;
        assert_eq!(res, Ok(2));
        let sent_at = sent_at.into_inner().unwrap();
        let waited = sent_at[1] - sent_at[0];
        assert!(
            waited >= Duration::from_millis(1500),
            "retried after {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(1600),
            "retried after {waited:?}"
        );
    }

    /// A hint that reaches past the call's deadline ends the call at once, naming the overload,
    /// instead of sleeping into the deadline.
    #[tokio::test(start_paused = true)]
    async fn overload_hint_past_the_deadline_gives_up_at_once() {
        let c = client(&["127.0.0.1:1"]);
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let res: Result<u32, _> = c
            .call(Target::Any, |_, _, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(overloaded(60_000)) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(started.elapsed(), Duration::ZERO);
        match res {
            Err(ClientError::Overloaded {
                message,
                retry_after,
            }) => {
                assert!(message.contains("overloaded"), "{message}");
                assert!(message.contains("gave up after 1 attempt"), "{message}");
                assert_eq!(retry_after, Some(Duration::from_secs(60)));
            }
            other => panic!("expected Overloaded, got {other:?}"),
        }
    }

    /// Authentication and authorization failures are returned at once, typed.
    #[tokio::test]
    async fn auth_failures_are_not_retried() {
        let c = client(&["127.0.0.1:1"]);
        for (status, want) in [
            (
                tonic::Status::unauthenticated("unknown token"),
                ClientError::Unauthenticated {
                    message: "unknown token".into(),
                },
            ),
            (
                tonic::Status::permission_denied("role reader may not write"),
                ClientError::PermissionDenied {
                    message: "role reader may not write".into(),
                },
            ),
        ] {
            let calls = AtomicU32::new(0);
            let res: Result<u32, _> = c
                .call(Target::Any, |_, _, _| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let status = status.clone();
                    async move { Err(status) }
                })
                .await;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(res, Err(want));
        }
    }

    /// A keyed request goes to the cached leader of its shard; a NOT_LEADER hint updates the
    /// cache so the next request goes straight to the new leader.
    #[tokio::test]
    async fn keyed_requests_use_and_update_the_cache() {
        let c = client(&["127.0.0.1:7001"]);
        let status = ClusterStatus {
            default_region: String::new(),
            nodes: (1..=2)
                .map(|id| crate::NodeInfo {
                    id,
                    grpc_addr: format!("127.0.0.1:700{id}"),
                    status_addr: String::new(),
                    region: "local".into(),
                    zone: "z".into(),
                    state: "up".into(),
                })
                .collect(),
            shards: vec![crate::ShardInfo {
                id: 1,
                range_start: 0,
                range_end: u64::MAX,
                epoch_version: 1,
                epoch_conf_ver: 1,
                replicas: vec![1, 2],
                leader: Some(1),
                leader_addr: Some("127.0.0.1:7001".into()),
                term: 1,
                applied_index: 1,
                replica_applied: vec![1, 1],
                snapshot_index: 0,
                health: "serving".into(),
            }],
        };
        c.learn(&status);
        assert_eq!(c.pick(Target::Key("o-local-1")), "127.0.0.1:7001");
        c.learn_from_error(
            "127.0.0.1:7001",
            &ClientError::from_status(&not_leader("127.0.0.1:7002")),
            None,
        );
        assert_eq!(c.pick(Target::Key("o-local-1")), "127.0.0.1:7002");
        assert_eq!(c.pick(Target::Shard(1)), "127.0.0.1:7002");
        // The new leader dies: its routes are forgotten and it is skipped.
        c.learn_from_error(
            "127.0.0.1:7002",
            &ClientError::Transport {
                message: "refused".into(),
            },
            None,
        );
        for _ in 0..4 {
            assert_ne!(c.pick(Target::Key("o-local-1")), "127.0.0.1:7002");
        }
    }
}
