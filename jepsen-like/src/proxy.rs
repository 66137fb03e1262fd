//! [`Proxy`]: a userspace TCP proxy between nodes (toxiproxy-style), owned by the harness
//! process, with faults ("toxics") that are switched at runtime.
//!
//! One listener per *link*: an ordered node pair `(from, to)`. A node's connections to a peer
//! are redirected (by a DNAT rule inside its namespace, see [`crate::netns`]) to the listener
//! of its link; the proxy connects to the peer's real address from a per-sender source
//! address and copies bytes both ways. *Forward* is the direction from the connecting node
//! (`from`) to the listening one (`to`); *backward* carries the answers.
//!
//! Toxics, per link and direction ([`Toxics`]):
//! - **latency**: every chunk read is delivered `base ± jitter` (uniform, never below zero)
//!   after it was read; a chunk is never delivered before the one read before it, so the
//!   byte stream stays in order (jitter only stretches gaps, like a FIFO link);
//! - **bandwidth**: a token bucket of `bytes_per_sec` (bursts of up to a tenth of a second's
//!   worth) paces what is written;
//! - **stall**: nothing is written while it is set; the connection stays open and what was
//!   read is delivered once it is cleared.
//!
//! Resets act on a link's connections as a whole ([`ResetMode`]): every open connection is
//! closed abruptly on both sides (`SO_LINGER` 0, so each peer sees an RST, not a FIN); with
//! [`ResetMode::WhileActive`] new connections are also reset on accept until the link is
//! healed. A failure on one side of a connection (the peer reset it, a write failed) resets
//! the other side too; an orderly EOF is forwarded as a half-close.
//!
//! [`Proxy::heal`] removes every toxic. Dropping the [`Proxy`] stops every listener and
//! closes every connection.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::TcpSocket;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::netns::NodeId;

/// An ordered node pair: connections `from` opens to `to`.
pub type Link = (NodeId, NodeId);

/// Bytes read per chunk.
const CHUNK: usize = 16 * 1024;
/// Chunks queued between a connection's reader and writer in one direction (backpressure:
/// a stalled or slow writer stops the reader, and so the sender, through TCP flow control).
const QUEUE: usize = 64;
/// Open connections per link beyond which new ones are reset (gRPC keeps one or two).
const MAX_CONNECTIONS: usize = 256;
/// How long connecting to the upstream may take before the downstream connection is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. out of file descriptors) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A direction of a link's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the connecting node to the listening one (requests).
    Forward,
    /// From the listening node back to the connecting one (answers).
    Backward,
}

/// Delay of each chunk: `base ± jitter`, uniformly, never below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub base: Duration,
    pub jitter: Duration,
}

impl Latency {
    /// One delay drawn from `base ± jitter`.
    pub fn sample(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.base;
        }
        let j = self.jitter.as_micros() as i64;
        let offset = rand::rng().random_range(-j..=j);
        let micros = (self.base.as_micros() as i64 + offset).max(0);
        Duration::from_micros(micros as u64)
    }
}

/// The faults of one direction of a link. `Toxics::default()` is a healthy link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toxics {
    pub latency: Option<Latency>,
    /// Bytes per second written at most.
    pub bandwidth: Option<u64>,
    /// Write nothing while set (keep the connection and what was read).
    pub stall: bool,
}

/// How a reset acts on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetMode {
    /// Reset the connections open now; new ones work.
    Once,
    /// Reset the connections open now and every new one until the link is healed.
    WhileActive,
}

impl fmt::Display for ResetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResetMode::Once => "once",
            ResetMode::WhileActive => "while-active",
        })
    }
}

/// Where one link listens and what it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub link: Link,
    /// The listener's address (port 0: any free port; see [`Proxy::listen_addr`]).
    pub listen: SocketAddr,
    /// The source address of the proxy's connections to `upstream` (`None`: the kernel's
    /// choice).
    pub source: Option<IpAddr>,
    pub upstream: SocketAddr,
}

/// What went through one link, for the run summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub from: NodeId,
    pub to: NodeId,
    pub listen: String,
    /// Connections accepted and connected upstream.
    pub connections: u64,
    /// Connections accepted but reset because the upstream could not be reached.
    pub connect_failures: u64,
    /// Connections reset by a reset toxic (open ones and refused new ones).
    pub resets: u64,
    /// Bytes read from the connecting node / written to the listening one.
    pub forward_read: u64,
    pub forward_written: u64,
    /// Bytes read from the listening node / written back to the connecting one.
    pub backward_read: u64,
    pub backward_written: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    connect_failures: AtomicU64,
    resets: AtomicU64,
    forward_read: AtomicU64,
    forward_written: AtomicU64,
    backward_read: AtomicU64,
    backward_written: AtomicU64,
}

/// Reset requests of a link: every connection accepted before `generation` last changed is
/// reset; while `refusing`, new connections are reset on accept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ResetState {
    generation: u64,
    refusing: bool,
}

/// The runtime-switchable state of one link, shared by its listener and connections.
#[derive(Debug)]
struct LinkControl {
    spec: LinkSpec,
    forward: watch::Sender<Toxics>,
    backward: watch::Sender<Toxics>,
    reset: watch::Sender<ResetState>,
    counters: Counters,
}

impl LinkControl {
    fn toxics(&self, dir: Direction) -> &watch::Sender<Toxics> {
        match dir {
            Direction::Forward => &self.forward,
            Direction::Backward => &self.backward,
        }
    }
}

/// The running proxy: one listener task per link. Dropping it aborts every listener and,
/// with them, every connection they serve.
pub struct Proxy {
    links: BTreeMap<Link, (SocketAddr, Arc<LinkControl>)>,
    _listeners: JoinSet<()>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("links", &self.links.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Proxy {
    /// Binds every link's listener and starts serving. Fails (with nothing left running) if
    /// a listener cannot be bound. Must run inside a tokio runtime.
    pub async fn start(specs: Vec<LinkSpec>) -> std::io::Result<Proxy> {
        let mut bound = Vec::new();
        for spec in specs {
            let listener = TcpListener::bind(spec.listen).await?;
            bound.push((listener.local_addr()?, listener, spec));
        }
        let mut links = BTreeMap::new();
        let mut listeners = JoinSet::new();
        for (addr, listener, spec) in bound {
            let control = Arc::new(LinkControl {
                spec: spec.clone(),
                forward: watch::Sender::new(Toxics::default()),
                backward: watch::Sender::new(Toxics::default()),
                reset: watch::Sender::new(ResetState::default()),
                counters: Counters::default(),
            });
            listeners.spawn(serve(listener, control.clone()));
            links.insert(spec.link, (addr, control));
        }
        Ok(Proxy {
            links,
            _listeners: listeners,
        })
    }

    /// Every link, ascending.
    pub fn links(&self) -> Vec<Link> {
        self.links.keys().copied().collect()
    }

    /// The links touching `node` (either end); every link for `None`.
    pub fn links_of(&self, node: Option<NodeId>) -> Vec<Link> {
        self.links
            .keys()
            .copied()
            .filter(|&(a, b)| node.is_none_or(|n| a == n || b == n))
            .collect()
    }

    /// Where the listener of `link` accepts connections.
    pub fn listen_addr(&self, link: Link) -> Option<SocketAddr> {
        self.links.get(&link).map(|(a, _)| *a)
    }

    /// Changes the toxics of `links` in `dir` with `change` (unknown links are ignored).
    /// Open connections follow from their next chunk.
    pub fn update(&self, links: &[Link], dir: Direction, change: impl Fn(&mut Toxics)) {
        for link in links {
            if let Some((_, c)) = self.links.get(link) {
                c.toxics(dir).send_modify(|t| change(t));
            }
        }
    }

    /// Changes the toxics of `links` in both directions.
    pub fn update_both(&self, links: &[Link], change: impl Fn(&mut Toxics)) {
        self.update(links, Direction::Forward, &change);
        self.update(links, Direction::Backward, &change);
    }

    /// The toxics of `link` in `dir` now.
    pub fn toxics(&self, link: Link, dir: Direction) -> Option<Toxics> {
        self.links.get(&link).map(|(_, c)| *c.toxics(dir).borrow())
    }

    /// Resets the open connections of `links` (see [`ResetMode`]).
    pub fn reset(&self, links: &[Link], mode: ResetMode) {
        for link in links {
            if let Some((_, c)) = self.links.get(link) {
                c.reset.send_modify(|r| {
                    r.generation += 1;
                    r.refusing = mode == ResetMode::WhileActive;
                });
            }
        }
    }

    /// Removes every toxic from `links` and stops refusing connections on them.
    pub fn clear(&self, links: &[Link]) {
        self.update_both(links, |t| *t = Toxics::default());
        for link in links {
            if let Some((_, c)) = self.links.get(link) {
                c.reset
                    .send_if_modified(|r| std::mem::replace(&mut r.refusing, false));
            }
        }
    }

    /// Removes every toxic from every link.
    pub fn heal(&self) {
        self.clear(&self.links());
    }

    /// Counters of every link, in link order.
    pub fn stats(&self) -> Vec<LinkStats> {
        self.links
            .iter()
            .map(|(&(from, to), (addr, c))| {
                let n = &c.counters;
                let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
                LinkStats {
                    from,
                    to,
                    listen: addr.to_string(),
                    connections: get(&n.connections),
                    connect_failures: get(&n.connect_failures),
                    resets: get(&n.resets),
                    forward_read: get(&n.forward_read),
                    forward_written: get(&n.forward_written),
                    backward_read: get(&n.backward_read),
                    backward_written: get(&n.backward_written),
                }
            })
            .collect()
    }
}

/// Accepts connections for one link until aborted; each is served by its own task, owned
/// here, so aborting this task closes them all.
async fn serve(listener: TcpListener, link: Arc<LinkControl>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if conns.len() >= MAX_CONNECTIONS => {
                    tracing::warn!(link = ?link.spec.link, "proxy: too many connections, resetting");
                    abort(stream);
                }
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, link.clone()));
                }
                Err(e) => {
                    tracing::debug!(link = ?link.spec.link, error = %e, "proxy: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Closes `stream` abortively: the peer sees an RST.
fn abort(stream: TcpStream) {
    // If SO_LINGER cannot be set the close is an orderly FIN: still a closed connection.
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn connect_upstream(spec: &LinkSpec) -> std::io::Result<TcpStream> {
    let socket = match spec.upstream {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = spec.source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(spec.upstream)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// How a proxied connection ended.
enum Ending {
    /// Both directions reached EOF and were half-closed in turn.
    Orderly,
    /// A read or write failed on one side: the other side is reset too.
    Failed,
    /// A reset toxic.
    Reset,
}

/// Serves one accepted connection: connects upstream and pumps both directions until both
/// end, one fails, or a reset toxic fires.
async fn connection(down: TcpStream, link: Arc<LinkControl>) {
    let n = &link.counters;
    let mut resets = link.reset.subscribe();
    let at_accept = *resets.borrow_and_update();
    if at_accept.refusing {
        n.resets.fetch_add(1, Ordering::Relaxed);
        abort(down);
        return;
    }
    let up = match connect_upstream(&link.spec).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(link = ?link.spec.link, error = %e, "proxy: upstream unreachable");
            n.connect_failures.fetch_add(1, Ordering::Relaxed);
            abort(down);
            return;
        }
    };
    n.connections.fetch_add(1, Ordering::Relaxed);
    // Small RPCs should not wait for Nagle on top of the toxics.
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut down_r, mut down_w) = down.into_split();
    let (mut up_r, mut up_w) = up.into_split();
    let ending = {
        let forward = pump(
            &mut down_r,
            &mut up_w,
            link.forward.subscribe(),
            (&n.forward_read, &n.forward_written),
        );
        let backward = pump(
            &mut up_r,
            &mut down_w,
            link.backward.subscribe(),
            (&n.backward_read, &n.backward_written),
        );
        tokio::pin!(forward, backward);
        let (mut forward_done, mut backward_done) = (false, false);
        // At most three turns: each completes a direction or ends the connection.
        loop {
            tokio::select! {
                r = &mut forward, if !forward_done => match r {
                    Ok(()) => forward_done = true,
                    Err(()) => break Ending::Failed,
                },
                r = &mut backward, if !backward_done => match r {
                    Ok(()) => backward_done = true,
                    Err(()) => break Ending::Failed,
                },
                // Err: the sender is gone, which cannot happen while `link` is held here.
                r = resets.wait_for(|s| s.generation > at_accept.generation) => {
                    if r.is_ok() {
                        break Ending::Reset;
                    }
                }
            }
            if forward_done && backward_done {
                break Ending::Orderly;
            }
        }
    };
    if let Ending::Orderly = ending {
        return;
    }
    if let Ending::Reset = ending {
        n.resets.fetch_add(1, Ordering::Relaxed);
    }
    // Reunite the halves so that dropping does not shut the write half down (a FIN) before
    // the abortive close. Both halves come from the same stream, so reuniting cannot fail.
    abort(down_r.reunite(down_w).expect("halves of one stream"));
    abort(up_r.reunite(up_w).expect("halves of one stream"));
}

/// Copies `reader` to `writer` under the toxics `toxics` announces, counting bytes read and
/// written. `Ok` when `reader` reached EOF and everything was written and `writer` half-closed;
/// `Err` when either side failed.
async fn pump(
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    toxics: watch::Receiver<Toxics>,
    (read_count, written_count): (&AtomicU64, &AtomicU64),
) -> Result<(), ()> {
    let (tx, mut rx) = mpsc::channel::<(Vec<u8>, Instant)>(QUEUE);
    let read_toxics = toxics.clone();
    let read_side = async move {
        let mut buf = vec![0u8; CHUNK];
        let mut last_due = Instant::now();
        loop {
            let n = reader.read(&mut buf).await.map_err(drop)?;
            if n == 0 {
                // Dropping `tx` tells the writer to finish.
                return Ok::<(), ()>(());
            }
            read_count.fetch_add(n as u64, Ordering::Relaxed);
            let delay = read_toxics
                .borrow()
                .latency
                .map(|l| l.sample())
                .unwrap_or_default();
            // Never before the previous chunk: the byte stream keeps its order.
            let due = (Instant::now() + delay).max(last_due);
            last_due = due;
            tx.send((buf[..n].to_vec(), due)).await.map_err(drop)?;
        }
    };
    let mut write_toxics = toxics;
    let write_side = async move {
        let mut bucket = TokenBucket::new();
        while let Some((chunk, due)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            write_chunk(writer, &chunk, &mut write_toxics, &mut bucket)
                .await
                .map_err(drop)?;
            written_count.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        writer.shutdown().await.map_err(drop)
    };
    tokio::try_join!(read_side, write_side).map(|_| ())
}

/// Writes `chunk` while honouring stall and bandwidth, re-reading both between pieces so a
/// change (a heal) takes effect within a piece.
async fn write_chunk(
    writer: &mut OwnedWriteHalf,
    chunk: &[u8],
    toxics: &mut watch::Receiver<Toxics>,
    bucket: &mut TokenBucket,
) -> std::io::Result<()> {
    let mut off = 0;
    // Each turn writes at least one byte or waits for tokens that then exist (or for a
    // change of the toxics), so it ends after at most `2 * chunk.len()` turns plus changes.
    while off < chunk.len() {
        if toxics.wait_for(|t| !t.stall).await.is_err() {
            // The proxy is gone: end this connection.
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let rate = toxics.borrow().bandwidth;
        let n = match rate {
            None => chunk.len() - off,
            Some(rate) => match bucket.take(rate, chunk.len() - off) {
                Ok(n) => n,
                Err(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = toxics.changed() => {}
                    }
                    continue;
                }
            },
        };
        writer.write_all(&chunk[off..off + n]).await?;
        off += n;
    }
    Ok(())
}

/// A token bucket of bytes: refills at the rate asked, holds at most a tenth of a second's
/// worth (at least one byte).
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new() -> TokenBucket {
        TokenBucket {
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// Takes up to `want` bytes at `rate` bytes/s: `Ok(n)` (n >= 1) to write now, or
    /// `Err(wait)` until a byte is available.
    fn take(&mut self, rate: u64, want: usize) -> Result<usize, Duration> {
        let rate = rate.max(1) as f64;
        let burst = (rate / 10.0).max(1.0);
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            let n = (self.tokens.floor() as usize).min(want).max(1);
            self.tokens -= n as f64;
            Ok(n)
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The proxy on loopback between a test client and an echo server. Timing assertions
    //! are lower bounds only (a slow machine makes everything slower, never faster); waits
    //! are for conditions, with deadlines.

    use super::*;

    /// Generous bound on any wait in these tests.
    const DEADLINE: Duration = Duration::from_secs(20);
    const LINK: Link = (1, 2);

    /// An echo server on 127.0.0.1 (port chosen by the kernel), serving until the test ends.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        });
        addr
    }

    /// A proxy with one link `1 -> 2` in front of an echo server.
    async fn proxy_to_echo() -> (Proxy, SocketAddr) {
        let upstream = echo_server().await;
        let proxy = Proxy::start(vec![LinkSpec {
            link: LINK,
            listen: "127.0.0.1:0".parse().unwrap(),
            source: Some("127.0.0.1".parse().unwrap()),
            upstream,
        }])
        .await
        .unwrap();
        let addr = proxy.listen_addr(LINK).unwrap();
        (proxy, addr)
    }

    fn stats(proxy: &Proxy) -> LinkStats {
        proxy.stats().remove(0)
    }

    /// Waits until `cond` holds, polling; panics after [`DEADLINE`].
    async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn echo_round_trip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
        let (mut r, mut w) = stream.split();
        let write = async {
            w.write_all(data).await.unwrap();
        };
        let read = async {
            let mut got = vec![0u8; data.len()];
            r.read_exact(&mut got).await.unwrap();
            got
        };
        let ((), got) = tokio::time::timeout(DEADLINE, async { tokio::join!(write, read) })
            .await
            .expect("echo within the deadline");
        got
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Bytes pass through unchanged and in order, under latency with jitter as well.
    #[tokio::test]
    async fn bytes_pass_through_unchanged_and_in_order() {
        let (proxy, addr) = proxy_to_echo().await;
        let data = pattern(1 << 20);
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo_round_trip(&mut s, &data).await, data);

        proxy.update_both(&[LINK], |t| {
            t.latency = Some(Latency {
                base: Duration::from_millis(5),
                jitter: Duration::from_millis(5),
            })
        });
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo_round_trip(&mut s, &data).await, data);
        let st = stats(&proxy);
        assert_eq!(st.connections, 2);
        assert_eq!(st.forward_written, 2 << 20);
        assert_eq!(st.backward_written, 2 << 20);
    }

    /// A round trip through a link with 150 ms each way takes at least 300 ms.
    #[tokio::test]
    async fn latency_delays_each_direction() {
        let (proxy, addr) = proxy_to_echo().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        echo_round_trip(&mut s, b"warm").await;
        let base = Duration::from_millis(150);
        proxy.update_both(&[LINK], |t| {
            t.latency = Some(Latency {
                base,
                jitter: Duration::ZERO,
            })
        });
        let started = Instant::now();
        assert_eq!(echo_round_trip(&mut s, b"ping").await, b"ping");
        assert!(started.elapsed() >= 2 * base, "{:?}", started.elapsed());
    }

    /// A stalled link holds what it read, keeps the connection open, and delivers on heal.
    #[tokio::test]
    async fn stall_holds_data_until_healed() {
        let (proxy, addr) = proxy_to_echo().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        echo_round_trip(&mut s, b"warm").await;
        proxy.update(&[LINK], Direction::Forward, |t| t.stall = true);
        s.write_all(b"held").await.unwrap();
        // Phase 1: the proxy has read the bytes but written none of them upstream.
        wait_until("the proxy to read the bytes", || {
            stats(&proxy).forward_read == 8
        })
        .await;
        assert_eq!(
            stats(&proxy).forward_written,
            4,
            "only the warm-up went through"
        );
        let mut buf = [0u8; 4];
        assert!(
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "nothing echoed while stalled"
        );
        // Phase 2: heal; the held bytes arrive and echo back on the same connection.
        proxy.heal();
        tokio::time::timeout(DEADLINE, s.read_exact(&mut buf))
            .await
            .expect("echo after heal")
            .unwrap();
        assert_eq!(&buf, b"held");
    }

    /// A reset closes the client's connection with an RST; `once` lets the next connection
    /// through, `while-active` resets new ones until healed.
    #[tokio::test]
    async fn reset_closes_the_peers_connection() {
        let (proxy, addr) = proxy_to_echo().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        echo_round_trip(&mut s, b"warm").await;
        proxy.reset(&[LINK], ResetMode::Once);
        let mut buf = [0u8; 1];
        let r = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("the reset arrives");
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        assert_eq!(stats(&proxy).resets, 1);

        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo_round_trip(&mut s, b"after").await, b"after");

        proxy.reset(&[LINK], ResetMode::WhileActive);
        let mut refused = TcpStream::connect(addr).await.unwrap();
        let r = tokio::time::timeout(DEADLINE, refused.read(&mut buf))
            .await
            .expect("the reset arrives");
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        proxy.heal();
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo_round_trip(&mut s, b"healed").await, b"healed");
    }

    /// 24 KiB through a 12 KiB/s link (bursts of 1.2 KiB) take well over a second.
    #[tokio::test]
    async fn bandwidth_limit_slows_a_bulk_transfer() {
        let (proxy, addr) = proxy_to_echo().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        echo_round_trip(&mut s, b"warm").await;
        proxy.update(&[LINK], Direction::Forward, |t| {
            t.bandwidth = Some(12 * 1024)
        });
        let data = pattern(24 * 1024);
        let started = Instant::now();
        assert_eq!(echo_round_trip(&mut s, &data).await, data);
        // (24 KiB - one burst) / 12 KiB/s = 1.9 s at the least.
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }

    /// An unreachable upstream resets the accepted connection and is counted.
    #[tokio::test]
    async fn unreachable_upstream_resets_the_client() {
        // A port that was free a moment ago: nothing listens there.
        let upstream = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = Proxy::start(vec![LinkSpec {
            link: LINK,
            listen: "127.0.0.1:0".parse().unwrap(),
            source: None,
            upstream,
        }])
        .await
        .unwrap();
        let mut s = TcpStream::connect(proxy.listen_addr(LINK).unwrap())
            .await
            .unwrap();
        let mut buf = [0u8; 1];
        let r = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("closed");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        wait_until("the failure to be counted", || {
            stats(&proxy).connect_failures == 1
        })
        .await;
    }

    #[test]
    fn links_of_a_node_are_the_links_touching_it() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let specs = [(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)]
                .into_iter()
                .map(|link| LinkSpec {
                    link,
                    listen: "127.0.0.1:0".parse().unwrap(),
                    source: None,
                    upstream: "127.0.0.1:9".parse().unwrap(),
                })
                .collect();
            let proxy = Proxy::start(specs).await.unwrap();
            assert_eq!(proxy.links_of(Some(3)), [(1, 3), (2, 3), (3, 1), (3, 2)]);
            assert_eq!(proxy.links_of(None).len(), 6);
            proxy.update_both(&[(1, 2)], |t| t.stall = true);
            assert!(proxy.toxics((1, 2), Direction::Backward).unwrap().stall);
            proxy.heal();
            assert_eq!(
                proxy.toxics((1, 2), Direction::Forward),
                Some(Toxics::default())
            );
        });
    }

    #[test]
    fn latency_samples_stay_within_base_plus_minus_jitter() {
        let l = Latency {
            base: Duration::from_millis(100),
            jitter: Duration::from_millis(40),
        };
        for _ in 0..1000 {
            let d = l.sample();
            assert!(d >= Duration::from_millis(60) && d <= Duration::from_millis(140));
        }
        let wide = Latency {
            base: Duration::from_millis(10),
            jitter: Duration::from_millis(50),
        };
        assert!((0..1000).all(|_| wide.sample() <= Duration::from_millis(60)));
    }
}
