//! Raft transport between nodes: one gRPC (HTTP/2) connection per node pair carries the Raft
//! messages of every shard, each tagged with its shard id.
//!
//! The client side, [`PeerRouter`], implements openraft-multi's [`GroupRouter`], so every shard's
//! openraft instance sends through the same per-peer channel (tonic reconnects it after a
//! failure). The server side, [`RaftTransportService`], hands each message to the local replica
//! of its shard. Payloads are the openraft messages encoded with bincode.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::OptionalSend;
use openraft::error::RPCError;
use openraft::error::ReplicationClosed;
use openraft::error::StreamingError;
use openraft::error::Unreachable;
use openraft::network::Backoff;
use openraft::network::RPCOption;
use openraft::network::RaftNetworkFactory;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::SnapshotResponse;
use openraft::raft::TransferLeaderRequest;
use openraft::raft::TransferLeaderResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft_multi::GroupNetworkAdapter;
use openraft_multi::GroupNetworkFactory;
use openraft_multi::GroupRouter;
use orderstore_proto::v1::RaftMessage;
use orderstore_proto::v1::RaftReply;
use orderstore_proto::v1::RaftRpcKind;
use orderstore_proto::v1::raft_transport_client::RaftTransportClient;
use orderstore_proto::v1::raft_transport_server::RaftTransport;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Endpoint;

use crate::host::ShardHost;
use crate::metrics::NodeMetrics;
use crate::types::NodeId;
use crate::types::ShardId;
use crate::types::Snapshot;
use crate::types::SnapshotData;
use crate::types::SnapshotMeta;
use crate::types::TypeConfig;
use crate::types::Vote;

/// Largest gRPC message between nodes (snapshots travel whole).
pub const MAX_RAFT_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Timeouts of the peer connections.
#[derive(Debug, Clone, Copy)]
pub struct TransportTimeouts {
    pub connect: Duration,
    /// Deadline of one Raft RPC other than a snapshot.
    pub rpc: Duration,
    pub snapshot: Duration,
}

impl Default for TransportTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            rpc: Duration::from_secs(2),
            snapshot: Duration::from_secs(60),
        }
    }
}

/// Sends Raft RPCs of every shard to peer nodes over one channel per peer.
#[derive(Clone)]
pub struct PeerRouter {
    self_id: NodeId,
    peers: Arc<HashMap<NodeId, RaftTransportClient<Channel>>>,
    timeouts: TransportTimeouts,
    metrics: NodeMetrics,
}

impl PeerRouter {
    /// Builds lazily-connecting channels to every peer in `peers` (node id -> gRPC address),
    /// over TLS with the node's certificate when `tls` is given (mutual TLS: the peer verifies
    /// it and takes the `node` role from it).
    pub fn new(
        self_id: NodeId,
        peers: impl IntoIterator<Item = (NodeId, String)>,
        timeouts: TransportTimeouts,
        metrics: NodeMetrics,
        tls: Option<&ClientTlsConfig>,
    ) -> Result<Self, tonic::transport::Error> {
        let mut map = HashMap::new();
        for (id, addr) in peers {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))?;
            if let Some(tls) = tls {
                endpoint = endpoint.tls_config(tls.clone())?;
            }
            let endpoint = endpoint
                .connect_timeout(timeouts.connect)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(5))
                .keep_alive_timeout(Duration::from_secs(5));
            let client = RaftTransportClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(MAX_RAFT_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_RAFT_MESSAGE_BYTES);
            map.insert(id, client);
        }
        Ok(Self {
            self_id,
            peers: Arc::new(map),
            timeouts,
            metrics,
        })
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        shard: ShardId,
        kind: RaftRpcKind,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, Unreachable<TypeConfig>> {
        let label = kind.as_str_name();
        let mut client = self
            .peers
            .get(&target)
            .cloned()
            .ok_or_else(|| Unreachable::from_string(format!("unknown peer node {target}")))?;
        let payload = bincode::serialize(req)
            .map_err(|e| Unreachable::from_string(format!("encode: {e}")))?;
        let mut request = tonic::Request::new(RaftMessage {
            shard_id: shard,
            kind: kind as i32,
            from_node: self.self_id,
            payload,
        });
        request.set_timeout(timeout);
        let reply: RaftReply = match client.raft(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                self.metrics.raft_rpc(label, "unreachable");
                return Err(Unreachable::from_string(format!("node {target}: {status}")));
            }
        };
        if !reply.error.is_empty() {
            self.metrics.raft_rpc(label, "refused");
            return Err(Unreachable::from_string(format!(
                "node {target} shard {shard}: {}",
                String::from_utf8_lossy(&reply.error)
            )));
        }
        self.metrics.raft_rpc(label, "ok");
        bincode::deserialize(&reply.payload)
            .map_err(|e| Unreachable::from_string(format!("decode: {e}")))
    }

    /// Asks `target` for its wall clock (Unix ms); see [`crate::clock`].
    pub async fn probe_clock(
        &self,
        target: NodeId,
        timeout: Duration,
    ) -> Result<u64, Unreachable<TypeConfig>> {
        self.call(target, 0, RaftRpcKind::ClockProbe, &(), timeout)
            .await
    }
}

impl GroupRouter<TypeConfig, ShardId> for PeerRouter {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &self,
        target: NodeId,
        shard: ShardId,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self
            .call(
                target,
                shard,
                RaftRpcKind::AppendEntries,
                &rpc,
                self.timeouts.rpc,
            )
            .await?)
    }

    async fn vote(
        &self,
        target: NodeId,
        shard: ShardId,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self
            .call(target, shard, RaftRpcKind::Vote, &rpc, self.timeouts.rpc)
            .await?)
    }

    async fn pre_vote(
        &self,
        target: NodeId,
        shard: ShardId,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self
            .call(target, shard, RaftRpcKind::PreVote, &rpc, self.timeouts.rpc)
            .await?)
    }

    async fn full_snapshot(
        &self,
        target: NodeId,
        shard: ShardId,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let data = snapshot
            .snapshot
            .into_bytes()
            .map_err(|e| Unreachable::from_string(format!("read the snapshot to send: {e}")))?;
        let msg = (vote, snapshot.meta, data);
        Ok(self
            .call(
                target,
                shard,
                RaftRpcKind::FullSnapshot,
                &msg,
                self.timeouts.snapshot,
            )
            .await?)
    }

    async fn transfer_leader(
        &self,
        target: NodeId,
        shard: ShardId,
        req: TransferLeaderRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self
            .call(
                target,
                shard,
                RaftRpcKind::TransferLeader,
                &req,
                self.timeouts.rpc,
            )
            .await?)
    }

    fn backoff(&self) -> Option<Backoff> {
        Some(Backoff::new(std::iter::repeat(Duration::from_millis(200))))
    }
}

/// Network factory handed to each shard's openraft instance.
pub type ShardNetworkFactory = GroupNetworkFactory<PeerRouter, ShardId>;

impl RaftNetworkFactory<TypeConfig> for ShardNetworkFactory {
    type Network = GroupNetworkAdapter<TypeConfig, ShardId, PeerRouter>;

    async fn new_client(&mut self, target: NodeId, _node: &openraft::BasicNode) -> Self::Network {
        GroupNetworkAdapter::new(self.factory.clone(), target, self.group_id)
    }
}

/// Server side of the Raft transport: dispatches each message to the local shard replica.
pub struct RaftTransportService {
    host: ShardHost,
}

impl RaftTransportService {
    pub fn new(host: ShardHost) -> Self {
        Self { host }
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, tonic::Status> {
    bincode::deserialize(bytes)
        .map_err(|e| tonic::Status::invalid_argument(format!("undecodable raft payload: {e}")))
}

fn reply<T: Serialize, E: std::fmt::Display>(
    res: Result<T, E>,
) -> Result<tonic::Response<RaftReply>, tonic::Status> {
    Ok(tonic::Response::new(match res {
        Ok(v) => RaftReply {
            payload: bincode::serialize(&v).map_err(|e| tonic::Status::internal(e.to_string()))?,
            error: Vec::new(),
        },
        Err(e) => RaftReply {
            payload: Vec::new(),
            error: e.to_string().into_bytes(),
        },
    }))
}

#[tonic::async_trait]
impl RaftTransport for RaftTransportService {
    async fn raft(
        &self,
        request: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let msg = request.into_inner();
        if msg.kind == RaftRpcKind::ClockProbe as i32 {
            return reply::<u64, String>(Ok(crate::service::access::now_ms()));
        }
        let Some(shard) = self.host.shard(msg.shard_id) else {
            return reply::<(), _>(Err(format!(
                "shard {} has no replica on this node",
                msg.shard_id
            )));
        };
        let raft = &shard.raft;
        match RaftRpcKind::try_from(msg.kind).unwrap_or(RaftRpcKind::RaftRpcUnspecified) {
            RaftRpcKind::AppendEntries => reply(raft.append_entries(decode(&msg.payload)?).await),
            RaftRpcKind::Vote => reply(raft.vote(decode(&msg.payload)?).await),
            RaftRpcKind::PreVote => reply(raft.pre_vote(decode(&msg.payload)?).await),
            RaftRpcKind::FullSnapshot => {
                let (vote, meta, data): (Vote, SnapshotMeta, Vec<u8>) = decode(&msg.payload)?;
                let snapshot = Snapshot {
                    meta,
                    snapshot: SnapshotData::Bytes(data),
                };
                reply(raft.install_full_snapshot(vote, snapshot).await)
            }
            RaftRpcKind::TransferLeader => {
                reply(raft.handle_transfer_leader(decode(&msg.payload)?).await)
            }
            RaftRpcKind::ClockProbe | RaftRpcKind::RaftRpcUnspecified => {
                Err(tonic::Status::invalid_argument("unknown raft rpc kind"))
            }
        }
    }
}
