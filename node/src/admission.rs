//! Admission control: a node under more load than it can serve refuses the excess at once with
//! RESOURCE_EXHAUSTED and a retry-after hint, instead of queueing it without bound (unbounded
//! latency for everyone, unbounded memory).
//!
//! Three gates, each counted in `orderstore_admission_rejected_total{reason}`:
//! - **requests** ([`Admission`], applied by [`crate::gateway`]): at most `max_inflight` client requests are served at
//!   once; up to `max_queued` more wait (FIFO, tokio's fair semaphore) for at most
//!   `queue_timeout`; beyond either, RESOURCE_EXHAUSTED (`queue_full`, `queue_timeout`). Peer
//!   Raft traffic, health checks and reflection bypass this gate: client load must never starve
//!   replication or heartbeats.
//! - **proposals** ([`ProposalGate`]): at most `max_shard_proposals` proposals in flight per
//!   shard on its leader (`shard_proposals`).
//! - **connections** ([`LimitedIncoming`]): at most `max_connections` open TCP connections;
//!   further ones are closed right after accept (`connections`).
//!
//! Every refusal carries the ASCII metadata `retry-after-ms`, which the SDK treats as the
//! least backoff before its next attempt.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;
use tonic::transport::server::Connected;
use tonic::transport::server::TcpConnectInfo;

use crate::metrics::NodeMetrics;

/// Metadata key of the retry hint sent with RESOURCE_EXHAUSTED.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// The limits of one node (from the `[limits]` table of the cluster configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    pub max_inflight: usize,
    pub max_queued: usize,
    pub queue_timeout: Duration,
    pub max_shard_proposals: usize,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    pub retry_after: Duration,
}

impl From<&cluster_config::LimitsConfig> for AdmissionConfig {
    fn from(l: &cluster_config::LimitsConfig) -> Self {
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        Self {
            max_inflight: n(l.max_inflight_requests),
            max_queued: n(l.max_queued_requests),
            queue_timeout: Duration::from_millis(l.queue_timeout_ms),
            max_shard_proposals: n(l.max_shard_proposals),
            max_connections: n(l.max_connections),
            max_message_bytes: n(l.max_message_bytes),
            retry_after: Duration::from_millis(l.retry_after_ms),
        }
    }
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self::from(&cluster_config::LimitsConfig::default())
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    QueueFull,
    QueueTimeout,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::QueueFull => "queue_full",
            Refusal::QueueTimeout => "queue_timeout",
        }
    }
}

/// The request gate of a node: in-flight slots and a bounded wait queue.
pub struct Admission {
    config: AdmissionConfig,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    metrics: NodeMetrics,
}

impl Admission {
    pub fn new(config: AdmissionConfig, metrics: NodeMetrics) -> Arc<Self> {
        Arc::new(Self {
            config,
            slots: Arc::new(Semaphore::new(config.max_inflight)),
            queued: AtomicUsize::new(0),
            metrics,
        })
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// A slot for one request: at once if one is free, else after waiting in the queue (at
    /// most `queue_timeout`), else the refusal. The slot is released when the permit drops.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        // Reserve a queue place; undo when the queue is already full.
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.config.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refused(Refusal::QueueFull));
        }
        self.metrics.admission_queued.inc();
        let waited = tokio::time::timeout(
            self.config.queue_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.metrics.admission_queued.dec();
        match waited {
            // The semaphore is never closed.
            Ok(p) => Ok(p.expect("admission semaphore is never closed")),
            Err(_) => Err(self.refused(Refusal::QueueTimeout)),
        }
    }

    fn refused(&self, r: Refusal) -> Refusal {
        self.metrics.admission_rejected(r.reason());
        r
    }

    /// The gRPC status of a refusal, with the retry hint.
    pub fn status(&self, r: Refusal) -> tonic::Status {
        let message = match r {
            Refusal::QueueFull => format!(
                "node overloaded: {} requests in flight and {} queued; retry after the hint",
                self.config.max_inflight, self.config.max_queued
            ),
            Refusal::QueueTimeout => format!(
                "node overloaded: no request slot within {:?}; retry after the hint",
                self.config.queue_timeout
            ),
        };
        overloaded_status(message, self.config.retry_after)
    }
}

/// RESOURCE_EXHAUSTED with the `retry-after-ms` hint.
pub fn overloaded_status(message: String, retry_after: Duration) -> tonic::Status {
    with_retry_after(tonic::Status::resource_exhausted(message), retry_after)
}

/// `status` with the `retry-after-ms` metadata set to `retry_after`.
pub fn with_retry_after(mut status: tonic::Status, retry_after: Duration) -> tonic::Status {
    let ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
    // A decimal number is always valid ASCII metadata.
    status.metadata_mut().insert(
        RETRY_AFTER_MS,
        ms.to_string().parse().expect("digits are valid metadata"),
    );
    status
}

/// Whether the gRPC method at `path` is client traffic subject to the request gate.
pub fn is_client_request(path: &str) -> bool {
    !(path.starts_with("/orderstore.v1.RaftTransport/")
        || path.starts_with("/grpc.health.")
        || path.starts_with("/grpc.reflection."))
}

/// Per-shard proposal counters of a leader.
#[derive(Debug, Default)]
pub struct ProposalGate {
    inflight: AtomicUsize,
}

/// One proposal's place in a [`ProposalGate`]; released on drop.
pub struct ProposalSlot<'a>(&'a ProposalGate);

impl Drop for ProposalSlot<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ProposalGate {
    /// A slot when fewer than `limit` proposals are in flight, else `None` (nothing changed).
    pub fn enter(&self, limit: usize) -> Option<ProposalSlot<'_>> {
        if self.inflight.fetch_add(1, Ordering::AcqRel) >= limit {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            None
        } else {
            Some(ProposalSlot(self))
        }
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }
}

/// Accepted TCP connections, at most `max` open at once: a connection beyond it is closed
/// right after accept (the client sees a reset and reconnects elsewhere or later).
pub struct LimitedIncoming {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    metrics: NodeMetrics,
}

impl LimitedIncoming {
    pub fn new(listener: TcpListener, max: usize, metrics: NodeMetrics) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(max)),
            metrics,
        }
    }
}

impl futures::Stream for LimitedIncoming {
    type Item = std::io::Result<LimitedStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let (stream, _) = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                // Accept errors (EMFILE, a reset before accept) are passed on; tonic logs them
                // and keeps accepting.
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(s)) => s,
            };
            match this.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    this.metrics.connections_open.inc();
                    return Poll::Ready(Some(Ok(LimitedStream {
                        stream,
                        _permit: permit,
                        metrics: this.metrics.clone(),
                    })));
                }
                Err(_) => {
                    this.metrics.admission_rejected("connections");
                    drop(stream);
                }
            }
        }
    }
}

/// A connection admitted by [`LimitedIncoming`]; frees its slot when closed.
pub struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    metrics: NodeMetrics,
}

impl Drop for LimitedStream {
    fn drop(&mut self) {
        self.metrics.connections_open.dec();
    }
}

impl Connected for LimitedStream {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(inflight: usize, queued: usize) -> AdmissionConfig {
        AdmissionConfig {
            max_inflight: inflight,
            max_queued: queued,
            queue_timeout: Duration::from_millis(50),
            max_shard_proposals: 2,
            max_connections: 2,
            max_message_bytes: 1 << 20,
            retry_after: Duration::from_millis(75),
        }
    }

    /// With one slot and one queue place: the first request runs, the second waits and is
    /// admitted when the first finishes, a third is refused at once, and a waiter that never
    /// gets a slot times out.
    #[tokio::test(start_paused = true)]
    async fn requests_beyond_slots_and_queue_are_refused() {
        let a = Admission::new(config(1, 1), NodeMetrics::new());
        let first = a.admit().await.unwrap();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.admit().await.map(drop) })
        };
        // Let the waiter take the queue place.
        while a.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(a.admit().await.unwrap_err(), Refusal::QueueFull);
        drop(first);
        waiter.await.unwrap().unwrap();

        let hold = a.admit().await.unwrap();
        assert_eq!(a.admit().await.unwrap_err(), Refusal::QueueTimeout);
        drop(hold);
        let text = a.metrics.encode();
        assert!(
            text.contains(r#"orderstore_admission_rejected_total{reason="queue_full"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orderstore_admission_rejected_total{reason="queue_timeout"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_carries_the_retry_hint() {
        let a = Admission::new(config(1, 1), NodeMetrics::new());
        let s = a.status(Refusal::QueueFull);
        assert_eq!(s.code(), tonic::Code::ResourceExhausted);
        assert_eq!(s.metadata().get(RETRY_AFTER_MS).unwrap(), "75");
    }

    #[test]
    fn the_proposal_gate_counts_and_releases() {
        let g = ProposalGate::default();
        let a = g.enter(2).unwrap();
        let b = g.enter(2).unwrap();
        assert!(g.enter(2).is_none());
        assert_eq!(g.inflight(), 2);
        drop(a);
        let _c = g.enter(2).unwrap();
        drop(b);
        assert_eq!(g.inflight(), 1);
    }

    #[test]
    fn peer_and_health_traffic_bypass_the_gate() {
        assert!(!is_client_request("/orderstore.v1.RaftTransport/Send"));
        assert!(!is_client_request("/grpc.health.v1.Health/Check"));
        assert!(is_client_request("/orderstore.v1.OrderService/PlaceOrder"));
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed() {
        use futures::StreamExt;
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = NodeMetrics::new();
        let mut incoming = LimitedIncoming::new(listener, 1, metrics.clone());
        let _c1 = TcpStream::connect(addr).await.unwrap();
        let held = incoming.next().await.unwrap().unwrap();
        let mut c2 = TcpStream::connect(addr).await.unwrap();
        // The second connection is accepted and closed: the client reads EOF or a reset.
        let accept = tokio::spawn(async move {
            let next = incoming.next().await;
            (incoming, next.map(|r| r.is_ok()))
        });
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), c2.read(&mut buf))
            .await
            .expect("the refused connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // Closing the held connection frees its slot for the next one.
        drop(held);
        let _c3 = TcpStream::connect(addr).await.unwrap();
        let (_incoming, next) = tokio::time::timeout(Duration::from_secs(10), accept)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next, Some(true));
        assert!(
            metrics
                .encode()
                .contains(r#"orderstore_admission_rejected_total{reason="connections"} 1"#)
        );
    }
}
