//! Restore: builds a node's data directory of a **new** cluster from a backup written by
//! `orderctl backup` ([`orderstore_client::BackupManifest`]). Run offline, once per node,
//! before the node first starts (`orderd --restore-from DIR`).
//!
//! For every shard the new node replicates, the shard's backed-up state is installed as if a
//! Raft snapshot at the backup's log position had been received, with two changes that make it
//! the start of a new cluster:
//! - its membership is the new cluster's replicas of the shard (from the new configuration),
//!   logged at the backup position, so the restored nodes elect among themselves;
//! - the node's vote is set to the backup position's term (uncommitted), so the first election
//!   runs in a later term and every new entry sorts after the restored ones.
//!
//! The log is empty with its purge point at the backup position; openraft then sees an
//! initialised shard and never re-initialises it. The new cluster must have the same shard
//! layout (the same `initial_shards`, hence the same hash ranges); node ids and addresses may
//! differ.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use cluster_config::ClusterConfig;
use openraft::storage::RaftLogStorage;
use openraft::storage::RaftStateMachine;
use orderstore_client::BackupError;
use orderstore_client::BackupManifest;

use crate::host::initial_shard_map;
use crate::host::raft_members;
use crate::metrics::NodeMetrics;
use crate::storage::Engine;
use crate::storage::ShardLogStore;
use crate::storage::ShardStateMachine;
use crate::storage::StateMachineConfig;
use crate::types::NodeId;
use crate::types::SnapshotData;
use crate::types::SnapshotMeta;
use crate::types::StoredMembership;
use crate::types::Vote;

/// Why a restore failed. Nothing usable is left behind only when the data directory was
/// refused up front; a failure midway leaves a partial directory to delete before retrying.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// Returned when the node is not in the new configuration.
    #[error("node {0} is not in the configuration")]
    UnknownNode(NodeId),
    /// Returned when the backup's shards do not match the new configuration's shard map.
    #[error("the backup does not fit this cluster: {0}")]
    Layout(String),
    /// Returned when the data directory already holds a database.
    #[error("data directory {0} already holds data: restore only into a new, empty directory")]
    NotEmpty(std::path::PathBuf),
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
}

/// What [`restore_node`] installed: `(shard, last log index)` per local shard.
pub type Restored = Vec<(u64, u64)>;

/// Installs node `node_id`'s shards from the backup in `from` into the new, empty `data_dir`.
pub async fn restore_node(
    from: &Path,
    config: &ClusterConfig,
    node_id: NodeId,
    data_dir: &Path,
) -> Result<Restored, RestoreError> {
    config
        .node(node_id)
        .ok_or(RestoreError::UnknownNode(node_id))?;
    let manifest = BackupManifest::load(from)?;
    let map = initial_shard_map(config).map_err(|e| RestoreError::Layout(e.to_string()))?;
    // Same layout: every shard of the new map is in the backup with the same range, and the
    // backup holds nothing else.
    if manifest.shards.len() != map.shards().count() {
        return Err(RestoreError::Layout(format!(
            "the backup has {} shards, the configuration {}",
            manifest.shards.len(),
            map.shards().count()
        )));
    }
    for desc in map.shards() {
        let entry = manifest.shard(desc.id).ok_or_else(|| {
            RestoreError::Layout(format!("shard {} is not in the backup", desc.id))
        })?;
        if (entry.range_start, entry.range_end) != (desc.range.start, desc.range.end) {
            return Err(RestoreError::Layout(format!(
                "shard {} covers {:#x}..={:#x} in the backup but {:#x}..={:#x} here",
                desc.id, entry.range_start, entry.range_end, desc.range.start, desc.range.end
            )));
        }
    }
    if data_dir.join("CURRENT").exists() {
        return Err(RestoreError::NotEmpty(data_dir.to_path_buf()));
    }

    let metrics = NodeMetrics::new();
    let engine = Engine::open(data_dir, metrics.clone())?;
    let sm_config = Arc::new(StateMachineConfig::default());
    let mut restored = Vec::new();
    for desc in map.shards().filter(|d| d.replicas.contains(&node_id)) {
        let entry = manifest
            .shard(desc.id)
            .expect("checked above: every shard of the map is in the backup");
        let data = manifest.read_shard(from, desc.id)?;
        let old: SnapshotMeta = serde_json::from_str(&entry.snapshot_meta).map_err(|e| {
            BackupError::Corrupt(format!("shard {}: snapshot metadata: {e}", desc.id))
        })?;
        let Some(last) = old.last_log_id else {
            return Err(BackupError::Corrupt(format!(
                "shard {}: the copy has no log position",
                desc.id
            ))
            .into());
        };
        let voters: BTreeSet<NodeId> = desc.replicas.iter().copied().collect();
        let nodes = raft_members(config, desc);
        let membership = openraft::Membership::new(vec![voters], nodes)
            .map_err(|e| RestoreError::Layout(format!("shard {}: {e}", desc.id)))?;
        let meta = SnapshotMeta {
            last_log_id: Some(last),
            last_membership: StoredMembership::new(Some(last), membership),
        };
        let mut sm =
            ShardStateMachine::new(engine.clone(), desc.id, sm_config.clone(), metrics.clone());
        sm.install_snapshot(&meta, SnapshotData::Bytes(data))
            .await?;
        let mut log = ShardLogStore::new(engine.clone(), desc.id);
        log.save_vote(&Vote::new(last.leader_id.term, node_id))
            .await?;
        log.purge(last).await?;
        log.save_committed(Some(last)).await?;
        restored.push((desc.id, last.index));
    }
    // Make everything durable before reporting success.
    engine.db.flush_wal(true).map_err(std::io::Error::other)?;
    Ok(restored)
}
