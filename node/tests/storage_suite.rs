//! openraft's storage conformance suite against our RocksDB log store and state machine, plus
//! the durability and integrity properties the suite does not cover.

use std::sync::Arc;

use openraft::ErrorSubject;
use openraft::ErrorVerb;
use openraft::StorageError;
use openraft::testing::log::StoreBuilder;
use openraft::testing::log::Suite;
use orderstore_node::metrics::NodeMetrics;
use orderstore_node::storage::Engine;
use orderstore_node::storage::ShardLogStore;
use orderstore_node::storage::ShardStateMachine;
use orderstore_node::storage::StateMachineConfig;
use orderstore_node::types::TypeConfig;
use tempfile::TempDir;

struct RocksBuilder;

impl StoreBuilder<TypeConfig, ShardLogStore, ShardStateMachine, TempDir> for RocksBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, ShardLogStore, ShardStateMachine), StorageError<TypeConfig>> {
        let io_err = |e| StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Write, e);
        let dir = TempDir::new().map_err(io_err)?;
        let engine = Engine::open(dir.path(), NodeMetrics::new()).map_err(io_err)?;
        let log = ShardLogStore::new(engine.clone(), 7);
        let sm = ShardStateMachine::new(
            engine,
            7,
            Arc::new(StateMachineConfig::default()),
            NodeMetrics::new(),
        );
        Ok((dir, log, sm))
    }
}

/// The whole openraft storage-v2 conformance suite passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    Suite::test_all(RocksBuilder).await.expect("storage suite");
}

/// Snapshots live in files under `DATA_DIR/snapshots`: a built snapshot is one file (the older
/// one goes), `get_current_snapshot` points at it without reading it, and installing it on
/// another replica writes that replica's own file with the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_files_and_only_the_current_one_is_kept() {
    use openraft::RaftSnapshotBuilder;
    use openraft::storage::RaftStateMachine;
    use orderstore_node::types::SnapshotData;

    fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(dir.join("snapshots"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        found.sort();
        found
    }
    let (leader_dir, _log, mut leader) = RocksBuilder.build().await.unwrap();
    let (follower_dir, _log2, mut follower) = RocksBuilder.build().await.unwrap();
    assert!(leader.get_current_snapshot().await.unwrap().is_none());

    let first = leader.build_snapshot().await.unwrap();
    let second = leader.build_snapshot().await.unwrap();
    let (SnapshotData::File(first), SnapshotData::File(second_path)) =
        (first.snapshot, &second.snapshot)
    else {
        panic!("built snapshots are files");
    };
    assert_ne!(&first, second_path);
    assert_eq!(files(leader_dir.path()), vec![second_path.clone()]);
    let current = leader
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    assert!(matches!(&current.snapshot, SnapshotData::File(p) if p == second_path));
    let bytes = current.snapshot.into_bytes().unwrap();

    follower
        .install_snapshot(&current.meta, SnapshotData::Bytes(bytes.clone()))
        .await
        .unwrap();
    let installed = follower
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("installed");
    assert_eq!(installed.meta, current.meta);
    let [path] = files(follower_dir.path()).try_into().expect("one file");
    assert!(matches!(&installed.snapshot, SnapshotData::File(p) if *p == path));
    assert_eq!(installed.snapshot.into_bytes().unwrap(), bytes);
}
