//! [`ShardAccess`]: what every service does with a shard: find the local replica that owns a
//! key (or redirect), propose a command and wait for it to apply, pass a read barrier, and read
//! applied state off the async runtime.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use openraft::Instant as _;
use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use openraft::error::ClientWriteError;
use openraft::error::ForwardToLeader;
use openraft::error::LinearizableReadError;
use openraft::error::RaftError;
use prost::Message;

use super::error::ApiError;
use crate::host::Shard;
use crate::host::ShardHost;
use crate::storage::ShardReader;
use crate::types::ShardCommand;
use crate::types::ShardId;
use crate::types::ShardResponse;
use crate::types::TypeConfig;

/// How long a proposal or read barrier may wait for the shard (no quorum -> UNAVAILABLE).
pub const PROPOSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Routing, proposing and reading for the services of one node. Cheap to clone.
#[derive(Clone)]
pub struct ShardAccess {
    host: ShardHost,
}

impl ShardAccess {
    pub fn new(host: ShardHost) -> Self {
        Self { host }
    }

    pub fn host(&self) -> &ShardHost {
        &self.host
    }

    /// The local replica of the shard owning routing key `key` (see
    /// `shard_router::route_key`), or WRONG_NODE with a hint to a node that has one, or
    /// DATA_LOSS when the local replica is quarantined.
    pub fn route(&self, key: &[u8]) -> Result<Arc<Shard>, ApiError> {
        let id = self.host.shard_map().lookup_key(key).id;
        self.route_shard(id)
    }

    /// The local replica of shard `id` (errors as in [`ShardAccess::route`]).
    pub fn route_shard(&self, id: ShardId) -> Result<Arc<Shard>, ApiError> {
        if self.host.is_quarantined(id) {
            return Err(ApiError::Quarantined { shard: id });
        }
        self.host.shard(id).ok_or_else(|| {
            let hint = self.host.shard_map().get(id).and_then(|d| {
                d.replicas
                    .first()
                    .and_then(|n| self.host.node_addr(*n).map(|a| (*n, a)))
            });
            ApiError::WrongNode { shard: id, hint }
        })
    }

    fn not_leader(&self, shard: &Shard, f: Option<&ForwardToLeader<TypeConfig>>) -> ApiError {
        let leader = f.and_then(|f| {
            let id = f.leader_id?;
            let addr = f
                .leader_node
                .as_ref()
                .map(|n| n.addr.clone())
                .or_else(|| self.host.node_addr(id))?;
            Some((id, addr))
        });
        ApiError::NotLeader {
            shard: shard.id,
            leader,
        }
    }

    /// The refusal of a proposal on a draining node ([`crate::drain`]): NOT_LEADER with the
    /// hint once another node leads the shard, UNAVAILABLE (retry shortly) while this node
    /// still leads it or no leader is known. Both are retryable.
    fn draining(&self, shard: &Shard) -> ApiError {
        let me = self.host.node_id();
        let leader = shard.raft.metrics().borrow_watched().current_leader;
        match leader.filter(|&id| id != me) {
            Some(id) => ApiError::NotLeader {
                shard: shard.id,
                leader: self.host.node_addr(id).map(|a| (id, a)),
            },
            None => ApiError::Unavailable(format!(
                "node {me} is draining and hands its leadership of shard {} away; retry",
                shard.id
            )),
        }
    }

    /// Proposes `cmd` to the shard and waits (at most [`PROPOSAL_TIMEOUT`]) for it to apply.
    /// Refused without proposing while the node drains ([`ShardAccess::draining`]),
    /// UNAVAILABLE while this node's clock is untrusted ([`crate::clock`]), and
    /// RESOURCE_EXHAUSTED (with a retry hint) while the data directory is below its free-space
    /// reserve ([`crate::disk`]) or the shard already has `max_shard_proposals` in flight
    /// ([`crate::admission`]).
    /// A state-machine refusal comes back as its typed [`ApiError`]; NOT_LEADER carries the
    /// leader hint; a timeout is UNAVAILABLE (the command may still apply: retry with the same
    /// idempotency key).
    pub async fn propose(
        &self,
        shard: &Shard,
        cmd: ShardCommand,
    ) -> Result<ShardResponse, ApiError> {
        let metrics = self.host.metrics();
        if self.host.is_draining() {
            metrics.proposal(shard.id, "draining");
            return Err(self.draining(shard));
        }
        // The command carries this node's wall time: never stamp it with an untrusted clock.
        if let Err(e) = self.host.clock().check() {
            metrics.proposal(shard.id, "clock");
            return Err(ApiError::Unavailable(format!(
                "node {} does not propose to shard {}: {e}; retry (another node may lead it soon)",
                self.host.node_id(),
                shard.id
            )));
        }
        if let Some(e) = self.host.storage_failed() {
            metrics.proposal(shard.id, "storage_failed");
            return Err(e);
        }
        let guards = self.host.guards();
        if let Err(source) = guards.disk.check() {
            metrics.proposal(shard.id, "disk_full");
            metrics.admission_rejected("disk_full");
            return Err(ApiError::DiskFull {
                node: self.host.node_id(),
                source,
                retry_after: guards.admission.retry_after,
            });
        }
        let limit = guards.admission.max_shard_proposals;
        let Some(_slot) = shard.proposals.enter(limit) else {
            metrics.proposal(shard.id, "overloaded");
            metrics.admission_rejected("shard_proposals");
            return Err(ApiError::Overloaded {
                message: format!(
                    "shard {} has {limit} proposals in flight on node {}; retry after the hint",
                    shard.id,
                    self.host.node_id()
                ),
                retry_after: guards.admission.retry_after,
            });
        };
        let proposed = std::time::Instant::now();
        let res = tokio::time::timeout(PROPOSAL_TIMEOUT, shard.raft.client_write(cmd)).await;
        let resp = match res {
            Err(_) => {
                metrics.proposal(shard.id, "timeout");
                return Err(ApiError::Unavailable(format!(
                    "shard {} did not commit within {PROPOSAL_TIMEOUT:?}; retry with the same idempotency key",
                    shard.id
                )));
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                metrics.proposal(shard.id, "not_leader");
                return Err(self.not_leader(shard, Some(&f)));
            }
            Ok(Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)))) => {
                metrics.proposal(shard.id, "discarded");
                return Err(self.not_leader(shard, Some(&f)));
            }
            Ok(Err(e)) => {
                metrics.proposal(shard.id, "error");
                if self.host.is_quarantined(shard.id) {
                    return Err(ApiError::Quarantined { shard: shard.id });
                }
                if let Some(e) = self.host.storage_failed() {
                    return Err(e);
                }
                return Err(ApiError::Unavailable(format!("shard {}: {e}", shard.id)));
            }
            Ok(Ok(r)) => {
                metrics
                    .proposal_latency
                    .observe(proposed.elapsed().as_secs_f64());
                r
            }
        };
        match resp.data {
            ShardResponse::Rejected(e) => {
                metrics.proposal(shard.id, "rejected");
                Err(e.into())
            }
            ShardResponse::Empty => Err(ApiError::Internal("empty response to a command".into())),
            other => {
                metrics.proposal(shard.id, "ok");
                Ok(other)
            }
        }
    }

    /// Waits until this replica may serve a linearizable read of `shard` (ReadIndex).
    pub async fn read_barrier(&self, shard: &Shard) -> Result<(), ApiError> {
        match tokio::time::timeout(
            PROPOSAL_TIMEOUT,
            shard.raft.ensure_linearizable(ReadPolicy::ReadIndex),
        )
        .await
        {
            Err(_) => Err(ApiError::Unavailable(format!(
                "shard {}: read barrier timed out",
                shard.id
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
                Err(self.not_leader(shard, Some(&f)))
            }
            Ok(Err(e)) => Err(ApiError::Unavailable(format!("shard {}: {e}", shard.id))),
        }
    }

    /// For a read served from the leader's applied state without a barrier: how long ago the
    /// leader last heard from a quorum (its state cannot be older than that plus an election
    /// timeout). NOT_LEADER when this replica does not lead the shard.
    pub fn leader_staleness_ms(&self, shard: &Shard) -> Result<u64, ApiError> {
        let m = shard.raft.metrics().borrow_watched().clone();
        if m.current_leader == Some(self.host.node_id()) {
            Ok(m.last_quorum_acked
                .map_or(0, |t| t.elapsed().as_millis() as u64))
        } else {
            let leader = m
                .current_leader
                .and_then(|id| self.host.node_addr(id).map(|a| (id, a)));
            Err(ApiError::NotLeader {
                shard: shard.id,
                leader,
            })
        }
    }

    /// Runs `f` on the replica's applied state on a blocking thread. A storage failure is
    /// DATA_LOSS when it quarantined the shard, INTERNAL otherwise.
    pub async fn read<T, F>(&self, shard: &Shard, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&ShardReader) -> std::io::Result<T> + Send + 'static,
    {
        let reader = shard.reader.clone();
        let res = tokio::task::spawn_blocking(move || f(&reader))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        res.map_err(|e| {
            if self.host.is_quarantined(shard.id) {
                ApiError::Quarantined { shard: shard.id }
            } else {
                ApiError::Internal(format!("shard {}: {e}", shard.id))
            }
        })
    }
}

/// Fingerprint of a request for idempotency: xxh3 of its canonical protobuf encoding.
pub fn fingerprint<M: Message>(req: &M) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&req.encode_to_vec())
}

/// The proposing leader's wall clock, carried in the command so apply is deterministic.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs `f`, records the RPC metric, and turns the outcome into a gRPC result.
pub async fn observed<T, F>(
    host: &ShardHost,
    method: &str,
    f: F,
) -> Result<tonic::Response<T>, tonic::Status>
where
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let started = Instant::now();
    let res = f.await;
    let code = res
        .as_ref()
        .map(|_| tonic::Code::Ok)
        .unwrap_or_else(|e| e.code());
    host.metrics().rpc(method, code, started.elapsed());
    res.map(tonic::Response::new).map_err(|e| e.to_status())
}
