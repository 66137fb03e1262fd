//! [`ClusterStatus`], [`NodeInfo`] and [`ShardInfo`]: the cluster as `ClusterStatus` reports it.

use orderstore_proto::v1 as pb;
use serde::Deserialize;
use serde::Serialize;

/// The whole cluster: every configured node and every shard of the map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub nodes: Vec<NodeInfo>,
    pub shards: Vec<ShardInfo>,
    /// Home region the cluster gives orders placed without one.
    #[serde(default)]
    pub default_region: String,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: u64,
    /// gRPC `host:port`.
    pub grpc_addr: String,
    /// HTTP status `host:port` (`/livez`, `/readyz`, `/metrics`).
    pub status_addr: String,
    pub region: String,
    pub zone: String,
    /// `up` when the node answered the status call, `unreachable` otherwise.
    pub state: String,
}

/// One shard: its hash range, epoch, replicas and Raft progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub id: u64,
    /// The shard owns hashes `range_start..=range_end` (inclusive) of the 64-bit key space.
    pub range_start: u64,
    pub range_end: u64,
    pub epoch_version: u64,
    pub epoch_conf_ver: u64,
    /// Node ids of the replicas.
    pub replicas: Vec<u64>,
    /// Node id of the leader; `None` when no leader is known.
    pub leader: Option<u64>,
    /// gRPC address of the leader, when known.
    pub leader_addr: Option<String>,
    pub term: u64,
    /// Applied index on the reporting replica (the leader's when known).
    pub applied_index: u64,
    /// Applied index of each replica, in the order of `replicas` (0 = did not answer).
    pub replica_applied: Vec<u64>,
    pub snapshot_index: u64,
    /// `serving`, `quarantined` or `unknown`.
    pub health: String,
}

impl ShardInfo {
    /// Whether the shard owns `hash`.
    pub fn contains(&self, hash: u64) -> bool {
        self.range_start <= hash && hash <= self.range_end
    }

    /// The applied index reported for replica `node`, or `None` when `node` is no replica.
    pub fn applied_on(&self, node: u64) -> Option<u64> {
        let i = self.replicas.iter().position(|r| *r == node)?;
        Some(self.replica_applied.get(i).copied().unwrap_or(0))
    }

    pub(crate) fn from_pb(s: pb::ShardInfo, nodes: &[NodeInfo]) -> Self {
        let leader = (s.leader != 0).then_some(s.leader);
        let leader_addr = leader
            .and_then(|id| nodes.iter().find(|n| n.id == id))
            .map(|n| n.grpc_addr.clone())
            .filter(|a| !a.is_empty());
        ShardInfo {
            id: s.id,
            range_start: s.range_start,
            range_end: s.range_end,
            epoch_version: s.epoch_version,
            epoch_conf_ver: s.epoch_conf_ver,
            replicas: s.replicas,
            leader,
            leader_addr,
            term: s.term,
            applied_index: s.applied_index,
            replica_applied: s.replica_applied,
            snapshot_index: s.snapshot_index,
            health: s.health,
        }
    }
}

impl ClusterStatus {
    /// The shard that owns `order_id` (hashed with `shard_router::hash_key`), if the map covers it.
    pub fn shard_for_key(&self, order_id: &str) -> Option<&ShardInfo> {
        let h = shard_router::hash_key(order_id.as_bytes());
        self.shards.iter().find(|s| s.contains(h))
    }

    pub fn node(&self, id: u64) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Whether every shard has a known leader.
    pub fn all_shards_have_leader(&self) -> bool {
        !self.shards.is_empty() && self.shards.iter().all(|s| s.leader.is_some())
    }
}

impl From<pb::NodeInfo> for NodeInfo {
    fn from(n: pb::NodeInfo) -> Self {
        NodeInfo {
            id: n.id,
            grpc_addr: n.grpc_addr,
            status_addr: n.status_addr,
            region: n.region,
            zone: n.zone,
            state: n.state,
        }
    }
}

impl From<pb::ClusterStatusReply> for ClusterStatus {
    fn from(r: pb::ClusterStatusReply) -> Self {
        let nodes: Vec<NodeInfo> = r.nodes.into_iter().map(NodeInfo::from).collect();
        let shards = r
            .shards
            .into_iter()
            .map(|s| ShardInfo::from_pb(s, &nodes))
            .collect();
        ClusterStatus {
            nodes,
            shards,
            default_region: r.default_region,
        }
    }
}
