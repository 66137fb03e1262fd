//! openraft state machine around the [`Register`], kept in memory.
//!
//! Contracts:
//! - The state machine is volatile: a crash loses it and a restart rebuilds it from the last
//!   durable snapshot on the node's [`Disk`](crate::disk::Disk); openraft then re-applies the
//!   log from there.
//! - Applying is deterministic; after each entry the state carries a digest chained over every
//!   applied entry and answer, reported to the [`History`](crate::history::History), which
//!   checks it against every other node's apply of the same index.
//! - Snapshots are written to the disk durably when built or installed.

use std::io;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::Mutex;

use futures::Stream;
use futures::TryStreamExt;
use openraft::EntryPayload;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use openraft::storage::EntryResponder;
use openraft::storage::RaftStateMachine;
use serde::Deserialize;
use serde::Serialize;

use crate::config::Bug;
use crate::disk::SharedDisk;
use crate::disk::StoredSnapshot;
use crate::disk::entry_hash;
use crate::register::Register;
use crate::register::Response;
use crate::rng::Fnv64;
use crate::runtime::lock;
use crate::types::Entry;
use crate::types::LogId;
use crate::types::NodeId;
use crate::types::Snapshot;
use crate::types::SnapshotData;
use crate::types::SnapshotMeta;
use crate::types::StoredMembership;
use crate::types::TypeConfig;
use crate::world::World;

/// The applied state of one node: what a snapshot carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub register: Register,
    /// Chained over every applied (log id, entry, answer).
    pub digest: u64,
}

impl SmState {
    /// Applies one entry, returning the answer and the entry's fingerprint.
    fn apply(&mut self, entry: &Entry) -> (Response, u64) {
        let log_id = entry.log_id;
        let response = match &entry.payload {
            EntryPayload::Blank => Response::Empty,
            EntryPayload::Normal(cmd) => self.register.apply(cmd),
            EntryPayload::Membership(m) => {
                self.membership = StoredMembership::new(Some(log_id), m.clone());
                Response::Empty
            }
        };
        let hash = entry_hash(entry);
        let mut h = Fnv64::default();
        h.write(&self.digest.to_le_bytes());
        h.write(&hash.to_le_bytes());
        // Encoding plain data into a Vec cannot fail.
        h.write(&bincode::serialize(&response).expect("responses encode"));
        self.digest = h.finish();
        self.last_applied = Some(log_id);
        (response, hash)
    }
}

/// State machine of one node incarnation.
pub struct SimStateMachine {
    node: NodeId,
    disk: SharedDisk,
    incarnation: u64,
    state: Arc<Mutex<SmState>>,
    world: Arc<World>,
}

impl SimStateMachine {
    /// A state machine rebuilt from the disk's durable snapshot (or empty without one); the
    /// restore is reported to the history.
    pub fn recover(
        node: NodeId,
        disk: SharedDisk,
        incarnation: u64,
        world: Arc<World>,
    ) -> io::Result<Self> {
        let state = match &lock(&disk).snapshot {
            Some(s) => decode(&s.data)?,
            None => SmState::default(),
        };
        lock(&world.history).on_restore(world.now_ms(), node, state.last_applied, state.digest);
        Ok(Self {
            node,
            disk,
            incarnation,
            state: Arc::new(Mutex::new(state)),
            world,
        })
    }

    /// A handle on the applied state, for the checker.
    pub fn state(&self) -> Arc<Mutex<SmState>> {
        self.state.clone()
    }

    fn check(&self) -> io::Result<()> {
        lock(&self.disk).check(self.incarnation)
    }

    fn apply_one(&self, entry: &Entry) -> Response {
        let mut st = lock(&self.state);
        let (response, hash) = st.apply(entry);
        let at = self.world.now_ms();
        lock(&self.world.history).on_apply(
            at,
            self.node,
            entry.log_id,
            hash,
            st.digest,
            self.world.max_vote_term(),
        );
        response
    }
}

fn decode(data: &[u8]) -> io::Result<SmState> {
    bincode::deserialize(data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl RaftStateMachine<TypeConfig> for SimStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SimSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        self.check()?;
        let st = lock(&self.state);
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            self.check()?;
            let mut response = self.apply_one(&entry);
            let twice = self.world.config.bug == Some(Bug::ApplyTwice)
                && matches!(entry.payload, EntryPayload::Normal(_))
                && entry.log_id.index % 5 == 0;
            if twice {
                response = self.apply_one(&entry);
            }
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SimSnapshotBuilder {
            disk: self.disk.clone(),
            incarnation: self.incarnation,
            state: self.state.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        self.check()?;
        let data = snapshot.into_inner();
        let new_state = decode(&data)?;
        if new_state.last_applied != meta.last_log_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot meta and payload disagree on the last applied log id",
            ));
        }
        lock(&self.world.history).on_restore(
            self.world.now_ms(),
            self.node,
            new_state.last_applied,
            new_state.digest,
        );
        *lock(&self.state) = new_state;
        lock(&self.disk).snapshot = Some(StoredSnapshot {
            meta: meta.clone(),
            data,
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        Ok(disk.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Cursor::new(s.data.clone()),
        }))
    }
}

/// Builds a snapshot of the state as it is when `build_snapshot` runs.
pub struct SimSnapshotBuilder {
    disk: SharedDisk,
    incarnation: u64,
    state: Arc<Mutex<SmState>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SimSnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let st = lock(&self.state).clone();
        let data = bincode::serialize(&st).map_err(io::Error::other)?;
        let meta = SnapshotMeta {
            last_log_id: st.last_applied,
            last_membership: st.membership.clone(),
        };
        let mut disk = lock(&self.disk);
        disk.check(self.incarnation)?;
        disk.snapshot = Some(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}
