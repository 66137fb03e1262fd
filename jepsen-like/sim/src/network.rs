//! The simulated network: Raft RPCs between in-process nodes, serialized with bincode, delayed,
//! dropped and partitioned by draws from the run's seeded generator.
//!
//! An RPC is a request message and a reply message. Each message is dropped if its link is cut
//! (partition, or the destination is down) or with the current loss probability, and otherwise
//! arrives after a latency drawn per message. A sender whose request or reply was dropped learns
//! nothing until its RPC deadline (`RPCOption::hard_ttl`) passes, as over TCP; a request to a
//! node that is down fails at once (connection refused).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use openraft::OptionalSend;
use openraft::error::RPCError;
use openraft::error::ReplicationClosed;
use openraft::error::StreamingError;
use openraft::error::Unreachable;
use openraft::network::Backoff;
use openraft::network::RPCOption;
use openraft::network::RaftNetworkFactory;
use openraft::network::v2::RaftNetworkV2;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::SnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::lock;
use crate::types::NodeId;
use crate::types::Raft;
use crate::types::Snapshot;
use crate::types::SnapshotData;
use crate::types::SnapshotMeta;
use crate::types::TypeConfig;
use crate::types::Vote;
use crate::world::World;

#[derive(Default)]
struct NetState {
    /// Nodes that are up, by id, with the incarnation that is up.
    up: BTreeMap<NodeId, (u64, Raft)>,
    /// Cut directed links (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    loss: f64,
    /// Extra one-way latency added to every message (a latency spike), ms.
    extra_latency_ms: u64,
}

/// The network of one run. Cheap to clone (a handle).
#[derive(Clone)]
pub struct SimNetwork {
    world: Arc<World>,
    state: Arc<Mutex<NetState>>,
}

/// What happens to one message.
enum Fate {
    Lost,
    Arrives(Duration),
}

impl SimNetwork {
    pub fn new(world: Arc<World>) -> Self {
        Self {
            world,
            state: Arc::default(),
        }
    }

    /// Marks incarnation `incarnation` of `id` up, reachable through `raft`.
    pub fn attach(&self, id: NodeId, incarnation: u64, raft: Raft) {
        lock(&self.state).up.insert(id, (incarnation, raft));
    }

    /// Marks `id` down, returning its Raft handle.
    pub fn detach(&self, id: NodeId) -> Option<Raft> {
        lock(&self.state).up.remove(&id).map(|(_, raft)| raft)
    }

    /// Whether incarnation `incarnation` of `id` is the one up: tasks of a crashed instance
    /// that are still winding down must not reach anyone.
    fn is_up(&self, id: NodeId, incarnation: u64) -> bool {
        lock(&self.state)
            .up
            .get(&id)
            .is_some_and(|(i, _)| *i == incarnation)
    }

    /// Cuts every link between `side` and the other nodes, both ways.
    pub fn partition(&self, side: &[NodeId], all: &[NodeId]) {
        let mut st = lock(&self.state);
        for a in side {
            for b in all.iter().filter(|b| !side.contains(b)) {
                st.cut.insert((*a, *b));
                st.cut.insert((*b, *a));
            }
        }
    }

    /// Restores every link and clears loss and latency spikes.
    pub fn heal(&self) {
        let mut st = lock(&self.state);
        st.cut.clear();
        st.loss = 0.0;
        st.extra_latency_ms = 0;
    }

    pub fn set_loss(&self, loss: f64) {
        lock(&self.state).loss = loss;
    }

    pub fn set_extra_latency(&self, ms: u64) {
        lock(&self.state).extra_latency_ms = ms;
    }

    fn fate(&self, from: NodeId, to: NodeId) -> Fate {
        let (cut, loss, extra) = {
            let st = lock(&self.state);
            (st.cut.contains(&(from, to)), st.loss, st.extra_latency_ms)
        };
        let (lo, hi) = self.world.config.faults.latency_ms;
        // Draw both values for every message, so the stream of draws does not depend on
        // which messages happen to be lost.
        let lost = self.world.chance(loss);
        let latency = self.world.range(lo, hi + 1) + extra;
        if cut || lost {
            Fate::Lost
        } else {
            Fate::Arrives(Duration::from_millis(latency))
        }
    }

    fn target(&self, to: NodeId) -> Option<Raft> {
        lock(&self.state).up.get(&to).map(|(_, raft)| raft.clone())
    }

    /// Carries `req` from `from` to `to`, runs `handle` there and carries the reply back.
    async fn rpc<Req, Resp, F, Fut, E>(
        &self,
        (from, incarnation): (NodeId, u64),
        to: NodeId,
        req: &Req,
        deadline: Duration,
        handle: F,
    ) -> Result<Resp, Unreachable<TypeConfig>>
    where
        Req: Serialize + DeserializeOwned,
        Resp: Serialize + DeserializeOwned,
        F: FnOnce(Raft, Req) -> Fut,
        Fut: Future<Output = Result<Resp, E>>,
        E: std::fmt::Display,
    {
        let start = tokio::time::Instant::now();
        let lost = || async move {
            tokio::time::sleep_until(start + deadline).await;
            Err(Unreachable::from_string(format!(
                "n{from}->n{to}: timed out"
            )))
        };
        let bytes = bincode::serialize(req).map_err(Unreachable::from_string)?;
        if !self.is_up(from, incarnation) {
            return Err(Unreachable::from_string(format!("n{from} is down")));
        }
        if self.target(to).is_none() {
            return Err(Unreachable::from_string(format!("n{to} is down")));
        }
        let Fate::Arrives(latency) = self.fate(from, to) else {
            return lost().await;
        };
        tokio::time::sleep(latency).await;
        // Whoever is up at `to` when the message arrives handles it.
        let Some(raft) = self.target(to) else {
            return lost().await;
        };
        let req: Req = bincode::deserialize(&bytes).map_err(Unreachable::from_string)?;
        let resp = match handle(raft, req).await {
            Ok(resp) => resp,
            Err(e) => return Err(Unreachable::from_string(format!("n{to}: {e}"))),
        };
        let bytes = bincode::serialize(&resp).map_err(Unreachable::from_string)?;
        let Fate::Arrives(latency) = self.fate(to, from) else {
            return lost().await;
        };
        tokio::time::sleep(latency).await;
        if !self.is_up(from, incarnation) {
            return Err(Unreachable::from_string(format!("n{from} is down")));
        }
        bincode::deserialize(&bytes).map_err(Unreachable::from_string)
    }
}

/// The network factory of one node.
pub struct SimNetworkFactory {
    pub from: NodeId,
    pub incarnation: u64,
    pub net: SimNetwork,
}

impl RaftNetworkFactory<TypeConfig> for SimNetworkFactory {
    type Network = SimConnection;

    async fn new_client(&mut self, target: NodeId, _node: &openraft::BasicNode) -> SimConnection {
        SimConnection {
            from: (self.from, self.incarnation),
            to: target,
            net: self.net.clone(),
        }
    }
}

/// One node's connection to a peer.
pub struct SimConnection {
    from: (NodeId, u64),
    to: NodeId,
    net: SimNetwork,
}

impl RaftNetworkV2<TypeConfig> for SimConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let resp = self
            .net
            .rpc(
                self.from,
                self.to,
                &rpc,
                option.hard_ttl(),
                |raft, req| async move { raft.append_entries(req).await },
            )
            .await?;
        Ok(resp)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let resp = self
            .net
            .rpc(
                self.from,
                self.to,
                &rpc,
                option.hard_ttl(),
                |raft, req| async move { raft.vote(req).await },
            )
            .await?;
        Ok(resp)
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let resp = self
            .net
            .rpc(
                self.from,
                self.to,
                &rpc,
                option.hard_ttl(),
                |raft, req| async move { raft.pre_vote(req).await },
            )
            .await?;
        Ok(resp)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let msg = (vote, snapshot.meta, snapshot.snapshot.into_inner());
        let resp = self
            .net
            .rpc(
                self.from,
                self.to,
                &msg,
                option.hard_ttl(),
                |raft, (vote, meta, data): (Vote, SnapshotMeta, Vec<u8>)| async move {
                    let snapshot = Snapshot {
                        meta,
                        snapshot: Cursor::new(data),
                    };
                    raft.install_full_snapshot(vote, snapshot).await
                },
            )
            .await?;
        Ok(resp)
    }

    fn backoff(&self) -> Option<Backoff> {
        Some(Backoff::new(std::iter::repeat(Duration::from_millis(20))))
    }
}
