//! The simulated cluster: each node's disk survives crashes; its Raft instance, state machine
//! and flusher live from a start to the next crash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use openraft::ServerState;
use openraft::SnapshotPolicy;

use crate::disk::Disk;
use crate::disk::LogImage;
use crate::disk::SharedDisk;
use crate::log_store::SimLogStore;
use crate::network::SimNetwork;
use crate::network::SimNetworkFactory;
use crate::runtime::lock;
use crate::runtime::spawn;
use crate::state_machine::SimStateMachine;
use crate::state_machine::SmState;
use crate::types::Metrics;
use crate::types::NodeId;
use crate::types::Raft;
use crate::world::World;

struct Slot {
    disk: SharedDisk,
    /// Set while the node is up.
    up: Option<(Raft, Arc<Mutex<SmState>>)>,
    flush_every: Duration,
}

/// All nodes of one run.
pub struct Cluster {
    pub world: Arc<World>,
    pub net: SimNetwork,
    pub ids: Vec<NodeId>,
    raft_config: Arc<openraft::Config>,
    slots: Mutex<BTreeMap<NodeId, Slot>>,
}

impl Cluster {
    pub fn new(world: Arc<World>) -> Self {
        let ids: Vec<NodeId> = (1..=world.config.nodes).collect();
        let (flo, fhi) = world.config.flush_ms;
        let slots = ids
            .iter()
            .map(|&id| {
                let slot = Slot {
                    disk: Disk::new(id),
                    up: None,
                    flush_every: Duration::from_millis(world.range(flo, fhi + 1)),
                };
                (id, slot)
            })
            .collect();
        let raft_config = openraft::Config {
            cluster_name: "sim".to_string(),
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            // Snapshots and purges happen often, so catch-up by snapshot is exercised.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(40),
            max_in_snapshot_log_to_keep: 10,
            purge_batch_size: 1,
            allow_log_reversion: Some(world.config.allow_log_reversion),
            enable_leader_restore: Some(world.config.leader_restore),
            ..Default::default()
        };
        Self {
            net: SimNetwork::new(world.clone()),
            world,
            ids,
            // The values above satisfy every rule `validate` checks (timeouts ordered, heartbeat
            // below the election timeout).
            raft_config: Arc::new(raft_config.validate().expect("valid raft config")),
            slots: Mutex::new(slots),
        }
    }

    /// Starts `id` from what its disk durably holds.
    ///
    /// # Panics
    /// When openraft refuses to start on the recovered storage: a storage-model bug.
    pub async fn start(&self, id: NodeId) {
        let (disk, flush_every) = {
            let slots = lock(&self.slots);
            let slot = &slots[&id];
            (slot.disk.clone(), slot.flush_every)
        };
        let incarnation = lock(&disk).incarnation();
        let log = SimLogStore::new(disk.clone(), incarnation, self.world.clone());
        let sm = SimStateMachine::recover(id, disk.clone(), incarnation, self.world.clone())
            .unwrap_or_else(|e| panic!("n{id}: durable snapshot undecodable: {e}"));
        let sm_state = sm.state();
        let network = SimNetworkFactory {
            from: id,
            incarnation,
            net: self.net.clone(),
        };
        let raft = Raft::new(id, self.raft_config.clone(), network, log, sm)
            .await
            .unwrap_or_else(|e| panic!("n{id}: raft refused to start: {e}"));
        self.net.attach(id, incarnation, raft.clone());
        lock(&self.slots)
            .get_mut(&id)
            .expect("ids are fixed at construction")
            .up = Some((raft, sm_state));
        self.world
            .event(format_args!("start n{id} inc={incarnation}"));
        spawn(async move {
            loop {
                tokio::time::sleep(flush_every).await;
                let mut d = lock(&disk);
                if d.incarnation() != incarnation {
                    break;
                }
                d.flush();
            }
        });
    }

    /// Power loss on `id`: unflushed writes are lost and its Raft instance is shut down.
    pub async fn crash(&self, id: NodeId) {
        let (disk, up) = {
            let mut slots = lock(&self.slots);
            let slot = slots.get_mut(&id).expect("ids are fixed at construction");
            (slot.disk.clone(), slot.up.take())
        };
        let Some((raft, _)) = up else { return };
        self.net.detach(id);
        let incarnation = lock(&disk).crash();
        self.world
            .event(format_args!("crash n{id} -> inc={incarnation}"));
        // The instance is fenced off already; shutting it down only stops its tasks.
        let _ = tokio::time::timeout(Duration::from_secs(5), raft.shutdown()).await;
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        lock(&self.slots)[&id].up.is_some()
    }

    pub fn down_nodes(&self) -> Vec<NodeId> {
        self.ids
            .iter()
            .copied()
            .filter(|&id| !self.is_up(id))
            .collect()
    }

    pub fn raft(&self, id: NodeId) -> Option<Raft> {
        lock(&self.slots)[&id].up.as_ref().map(|(r, _)| r.clone())
    }

    /// The applied state of `id`, when up.
    pub fn sm_state(&self, id: NodeId) -> Option<SmState> {
        let slots = lock(&self.slots);
        slots[&id].up.as_ref().map(|(_, s)| lock(s).clone())
    }

    /// Latest metrics of every node that is up.
    pub fn metrics(&self) -> Vec<(NodeId, Metrics)> {
        use openraft_rt::WatchReceiver;
        let slots = lock(&self.slots);
        slots
            .iter()
            .filter_map(|(&id, s)| {
                s.up.as_ref()
                    .map(|(raft, _)| (id, raft.metrics().borrow_watched().clone()))
            })
            .collect()
    }

    /// The live log image of every node's disk (down nodes: what survived the crash).
    pub fn log_images(&self) -> Vec<(NodeId, LogImage)> {
        let slots = lock(&self.slots);
        slots
            .iter()
            .map(|(&id, s)| (id, lock(&s.disk).live.clone()))
            .collect()
    }

    /// The node that claims leadership with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.metrics()
            .into_iter()
            .filter(|(_, m)| m.state == ServerState::Leader)
            .max_by_key(|(_, m)| m.current_term)
            .map(|(id, _)| id)
    }

    /// Entries lost by crashes because they were not flushed yet.
    pub fn lost_unflushed(&self) -> u64 {
        let slots = lock(&self.slots);
        slots.values().map(|s| lock(&s.disk).lost_unflushed).sum()
    }

    /// Shuts every node down (end of run).
    pub async fn shutdown(&self) {
        for &id in &self.ids {
            let up = lock(&self.slots).get_mut(&id).and_then(|s| s.up.take());
            if let Some((raft, _)) = up {
                self.net.detach(id);
                let _ = tokio::time::timeout(Duration::from_secs(5), raft.shutdown()).await;
            }
        }
    }
}
