//! `ClusterAdmin`: node and cluster status, leader transfer, shard backups.
//!
//! `ClusterStatus` asks every node for its `NodeStatus` (in parallel, with a deadline) and merges
//! the answers: for each shard of the map, the view of the replica that reports itself leader,
//! with every replica's applied index beside it.

use std::collections::HashMap;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use orderstore_proto::v1 as pb;
use orderstore_proto::v1::cluster_admin_client::ClusterAdminClient;
use orderstore_proto::v1::cluster_admin_server::ClusterAdmin;
use tonic::transport::Channel;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Endpoint;

use super::error::ApiError;
use crate::host::ShardHost;
use crate::types::NodeId;

/// Deadline of one peer's `NodeStatus` during a `ClusterStatus` fan-out.
const PEER_STATUS_TIMEOUT: Duration = Duration::from_secs(2);

pub struct AdminApi {
    host: ShardHost,
    peers: HashMap<NodeId, ClusterAdminClient<Channel>>,
}

impl AdminApi {
    /// `tls`: the node's client TLS settings (with its node certificate) for the status
    /// fan-out to peers, when the cluster runs TLS.
    pub fn new(
        host: ShardHost,
        tls: Option<&ClientTlsConfig>,
    ) -> Result<Self, tonic::transport::Error> {
        let mut peers = HashMap::new();
        for n in &host.config().nodes {
            if n.id == host.node_id() {
                continue;
            }
            let scheme = if tls.is_some() { "https" } else { "http" };
            let mut ep = Endpoint::from_shared(format!("{scheme}://{}", n.grpc_addr))?;
            if let Some(tls) = tls {
                ep = ep.tls_config(tls.clone())?;
            }
            let ch = ep.connect_timeout(Duration::from_secs(1)).connect_lazy();
            peers.insert(n.id, ClusterAdminClient::new(ch));
        }
        Ok(Self { host, peers })
    }

    fn node_info(&self, id: NodeId, state: &str) -> pb::NodeInfo {
        let n = self.host.config().node(id);
        pb::NodeInfo {
            id,
            grpc_addr: n.map(|n| n.grpc_addr.clone()).unwrap_or_default(),
            status_addr: n.map(|n| n.status_addr.clone()).unwrap_or_default(),
            region: n.map(|n| n.region.clone()).unwrap_or_default(),
            zone: n.map(|n| n.zone.clone()).unwrap_or_default(),
            state: state.to_string(),
        }
    }

    /// This node's view of each of its replicas.
    pub fn local_status(&self) -> pb::NodeStatusReply {
        let mut shards: Vec<pb::ShardInfo> = self
            .host
            .shards()
            .map(|s| {
                let m = s.raft.metrics().borrow_watched().clone();
                let d = s.descriptor();
                pb::ShardInfo {
                    id: s.id,
                    range_start: d.range.start,
                    range_end: d.range.end,
                    epoch_version: d.epoch.version,
                    epoch_conf_ver: d.epoch.conf_ver,
                    replicas: d.replicas.clone(),
                    leader: m.current_leader.unwrap_or(0),
                    term: m.current_term,
                    applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
                    replica_applied: Vec::new(),
                    snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
                    purged_index: m.purged.map(|l| l.index).unwrap_or(0),
                    health: if self.host.is_quarantined(s.id) {
                        "quarantined"
                    } else {
                        "serving"
                    }
                    .to_string(),
                }
            })
            .collect();
        shards.sort_by_key(|s| s.id);
        pb::NodeStatusReply {
            node: Some(self.node_info(self.host.node_id(), "up")),
            shards,
        }
    }

    async fn cluster_status(&self) -> pb::ClusterStatusReply {
        let calls = self.peers.iter().map(|(id, client)| {
            let mut client = client.clone();
            let id = *id;
            async move {
                let mut req = tonic::Request::new(pb::NodeStatusRequest {});
                req.set_timeout(PEER_STATUS_TIMEOUT);
                let res = tokio::time::timeout(PEER_STATUS_TIMEOUT, client.node_status(req)).await;
                (id, res.ok().and_then(|r| r.ok()).map(|r| r.into_inner()))
            }
        });
        let mut reports: HashMap<NodeId, pb::NodeStatusReply> = futures::future::join_all(calls)
            .await
            .into_iter()
            .filter_map(|(id, r)| r.map(|r| (id, r)))
            .collect();
        reports.insert(self.host.node_id(), self.local_status());

        let mut nodes: Vec<pb::NodeInfo> = self
            .host
            .config()
            .nodes
            .iter()
            .map(|n| {
                self.node_info(
                    n.id,
                    if reports.contains_key(&n.id) {
                        "up"
                    } else {
                        "unreachable"
                    },
                )
            })
            .collect();
        nodes.sort_by_key(|n| n.id);

        let shards = self
            .host
            .shard_map()
            .shards()
            .map(|desc| {
                let views: Vec<(NodeId, &pb::ShardInfo)> = reports
                    .iter()
                    .filter_map(|(node, r)| {
                        r.shards
                            .iter()
                            .find(|s| s.id == desc.id)
                            .map(|s| (*node, s))
                    })
                    .collect();
                // Prefer the replica that says it leads; else the freshest term.
                let best = views
                    .iter()
                    .find(|(node, s)| s.leader == *node)
                    .or_else(|| views.iter().max_by_key(|(_, s)| (s.term, s.applied_index)))
                    .map(|(_, s)| (*s).clone());
                let mut info = best.unwrap_or_else(|| pb::ShardInfo {
                    id: desc.id,
                    range_start: desc.range.start,
                    range_end: desc.range.end,
                    epoch_version: desc.epoch.version,
                    epoch_conf_ver: desc.epoch.conf_ver,
                    replicas: desc.replicas.clone(),
                    health: "unknown".into(),
                    ..Default::default()
                });
                info.replica_applied = desc
                    .replicas
                    .iter()
                    .map(|r| {
                        views
                            .iter()
                            .find(|(n, _)| n == r)
                            .map(|(_, s)| s.applied_index)
                            .unwrap_or(0)
                    })
                    .collect();
                info
            })
            .collect();
        pb::ClusterStatusReply {
            nodes,
            shards,
            default_region: self.host.config().default_region.clone(),
        }
    }
}

/// Size of the data slice in one [`pb::BackupChunk`].
pub const BACKUP_CHUNK_BYTES: usize = 1024 * 1024;

/// The chunks of a shard backup: metadata in the first, the data in slices.
pub fn backup_chunks(
    desc: &shard_router::ShardDescriptor,
    meta: &crate::types::SnapshotMeta,
    data: &[u8],
) -> Result<Vec<pb::BackupChunk>, ApiError> {
    let meta_json = serde_json::to_vec(meta).map_err(|e| ApiError::Internal(e.to_string()))?;
    let last = meta.last_log_id.as_ref();
    let mut chunks: Vec<pb::BackupChunk> = data
        .chunks(BACKUP_CHUNK_BYTES)
        .map(|slice| pb::BackupChunk {
            shard_id: desc.id,
            data: slice.to_vec(),
            ..Default::default()
        })
        .collect();
    if chunks.is_empty() {
        chunks.push(pb::BackupChunk {
            shard_id: desc.id,
            ..Default::default()
        });
    }
    let first = &mut chunks[0];
    first.last_log_index = last.map(|l| l.index).unwrap_or(0);
    first.last_log_term = last.map(|l| l.leader_id.term).unwrap_or(0);
    first.total_bytes = data.len() as u64;
    first.crc32 = crc32fast::hash(data);
    first.snapshot_meta = meta_json;
    first.range_start = desc.range.start.to_be_bytes().to_vec();
    first.range_end = desc.range.end.to_be_bytes().to_vec();
    Ok(chunks)
}

type ChunkStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::BackupChunk, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl ClusterAdmin for AdminApi {
    type BackupShardStream = ChunkStream;

    /// Streams a consistent copy of a shard this node leads: a linearizable read barrier
    /// first (so every write acknowledged before the call is in it; NOT_LEADER otherwise), then
    /// one RocksDB snapshot of the shard's applied state.
    async fn backup_shard(
        &self,
        r: tonic::Request<pb::BackupShardRequest>,
    ) -> Result<tonic::Response<Self::BackupShardStream>, tonic::Status> {
        let id = r.into_inner().shard_id;
        let access = crate::service::access::ShardAccess::new(self.host.clone());
        let shard = access.route_shard(id)?;
        access.read_barrier(&shard).await?;
        let reader = shard.reader.clone();
        let (meta, data) = tokio::task::spawn_blocking(move || reader.capture())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(format!("shard {id}: {e}")))?;
        let chunks = backup_chunks(&shard.descriptor(), &meta, &data)?;
        tracing::info!(shard = id, bytes = data.len(), last = ?meta.last_log_id, "backup taken");
        Ok(tonic::Response::new(Box::pin(futures::stream::iter(
            chunks.into_iter().map(Ok),
        ))))
    }

    async fn cluster_status(
        &self,
        _r: tonic::Request<pb::ClusterStatusRequest>,
    ) -> Result<tonic::Response<pb::ClusterStatusReply>, tonic::Status> {
        Ok(tonic::Response::new(self.cluster_status().await))
    }

    async fn node_status(
        &self,
        _r: tonic::Request<pb::NodeStatusRequest>,
    ) -> Result<tonic::Response<pb::NodeStatusReply>, tonic::Status> {
        Ok(tonic::Response::new(self.local_status()))
    }

    async fn transfer_leader(
        &self,
        r: tonic::Request<pb::TransferLeaderRequest>,
    ) -> Result<tonic::Response<pb::TransferLeaderReply>, tonic::Status> {
        let req = r.into_inner();
        let shard = self.host.shard(req.shard_id).ok_or_else(|| {
            let hint = self
                .host
                .shard_map()
                .get(req.shard_id)
                .and_then(|d| d.replicas.first().copied());
            ApiError::WrongNode {
                shard: req.shard_id,
                hint: hint.and_then(|id| self.host.node_addr(id).map(|a| (id, a))),
            }
        })?;
        let desc = shard.descriptor();
        if !desc.replicas.contains(&req.to_node) {
            return Err(ApiError::Invalid(crate::order::ValidationError::new(
                "to_node",
                format!(
                    "node {} has no replica of shard {}",
                    req.to_node, req.shard_id
                ),
            ))
            .into());
        }
        let m = shard.raft.metrics().borrow_watched().clone();
        if m.current_leader != Some(m.id) {
            let leader = m
                .current_leader
                .and_then(|id| self.host.node_addr(id).map(|a| (id, a)));
            return Err(ApiError::NotLeader {
                shard: shard.id,
                leader,
            }
            .into());
        }
        shard
            .raft
            .trigger()
            .transfer_leader(req.to_node)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(tonic::Response::new(pb::TransferLeaderReply {}))
    }
}
