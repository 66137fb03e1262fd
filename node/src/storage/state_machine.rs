//! One shard's state machine: orders, their events and idempotency records, in the node's
//! shared RocksDB.
//!
//! Contracts:
//! - Each applied entry is written as **one** `WriteBatch` holding its effect (order, event,
//!   event-log pointer, idempotency record) *and* the new applied log id, so after a crash the
//!   applied id and the data always agree and replay resumes exactly after it.
//! - Applying is deterministic: the only inputs are the stored state and the command (which
//!   carries the leader's clock), so every replica computes the same state.
//! - A snapshot is a consistent RocksDB view of the shard's state range plus the applied id and
//!   membership read from the same view; it carries a checksum verified before installation.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use futures::TryStreamExt;
use openraft::EntryPayload;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use openraft::entry::RaftEntry;
use openraft::storage::EntryResponder;
use openraft::storage::RaftStateMachine;
use rocksdb::Direction;
use rocksdb::IteratorMode;
use rocksdb::ReadOptions;
use rocksdb::WriteBatch;
use rocksdb::WriteOptions;
use serde::Deserialize;
use serde::Serialize;

mod commerce;

use super::codec;
use super::engine::Engine;
use super::keys;
use super::snapshot_file;
use super::snapshot_file::SNAPSHOT_PAYLOAD_KEY;
use crate::inventory::Reservation;
use crate::inventory::StockBucket;
use crate::inventory::StockLimits;
use crate::metrics::NodeMetrics;
use crate::order;
use crate::order::Limits;
use crate::order::Order;
use crate::order::OrderEvent;
use crate::payments::Account;
use crate::payments::Authorization;
use crate::payments::PaymentLimits;
use crate::saga::PurchaseSaga;
use crate::saga::RetryPolicy;
use crate::types::CommandError;
use crate::types::IdempotencyTag;
use crate::types::LogId;
use crate::types::ShardCommand;
use crate::types::ShardId;
use crate::types::ShardResponse;
use crate::types::Snapshot;
use crate::types::SnapshotData;
use crate::types::SnapshotMeta;
use crate::types::StoredMembership;
use crate::types::TypeConfig;

/// Version of the snapshot payload layout; a node refuses a snapshot of another version.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

/// How many expired idempotency records one entry may garbage-collect.
const IDEMPOTENCY_GC_PER_ENTRY: usize = 32;

/// Settings every replica of a shard must share (they shape applied state).
#[derive(Debug, Clone)]
pub struct StateMachineConfig {
    pub limits: Limits,
    /// How long an idempotency record answers replays.
    pub idempotency_ttl_ms: u64,
    pub stock_limits: StockLimits,
    pub payment_limits: PaymentLimits,
    /// Retry limits of saga steps (they decide when a saga compensates or parks, so every
    /// replica must share them).
    pub retry_policy: RetryPolicy,
}

impl Default for StateMachineConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            idempotency_ttl_ms: 24 * 3600 * 1000,
            stock_limits: StockLimits::default(),
            payment_limits: PaymentLimits::default(),
            retry_policy: RetryPolicy::default(),
        }
    }
}

/// Applied position of the state machine, stored under the shard's `a` key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AppliedState {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// A stored Stripe-style idempotency record: the first response to a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdempotencyRecord {
    fingerprint: u64,
    response: ShardResponse,
    expires_at_ms: u64,
}

/// Pointer from the shard's event log to an order event.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EventLogPointer {
    order_id: String,
    sequence: u64,
}

/// What a snapshot carries: the raw (still checksummed) state records of the shard, keyed by
/// their key without the shard prefix.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotPayload {
    pub format_version: u32,
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The snapshot as releases before snapshot files kept it in `raft_meta` under the shard's `s`
/// key; still read when the shard has no snapshot file yet.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// The shard's current snapshot, kept in `raft_meta` under its `f` key: the meta and the file
/// (under `DATA_DIR/snapshots`) holding the encoded payload.
#[derive(Serialize, Deserialize)]
struct SnapshotFileRef {
    meta: SnapshotMeta,
    file: String,
    bytes: u64,
}

/// A snapshot file name part unique on this node: wall-clock nanoseconds and a counter.
fn unique_snapshot_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{nanos}-{n}")
}

/// The snapshot meta of an applied state.
fn snapshot_meta(applied: AppliedState) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: applied.last_applied,
        last_membership: applied.membership,
    }
}

/// State machine of one shard replica. Cheap to clone (a handle).
#[derive(Clone)]
pub struct ShardStateMachine {
    engine: Engine,
    shard: ShardId,
    config: Arc<StateMachineConfig>,
    metrics: NodeMetrics,
    /// Held while a snapshot is built or installed: the file, the reference to it and the
    /// removal of older files happen as one step, so a build and an install never interleave
    /// (the reference always names a file that exists).
    snapshot_lock: Arc<std::sync::Mutex<()>>,
}

impl ShardStateMachine {
    pub fn new(
        engine: Engine,
        shard: ShardId,
        config: Arc<StateMachineConfig>,
        metrics: NodeMetrics,
    ) -> Self {
        Self {
            engine,
            shard,
            config,
            metrics,
            snapshot_lock: Arc::default(),
        }
    }

    /// Takes [`ShardStateMachine::snapshot_lock`] (poisoning is harmless: the guarded steps
    /// leave files and keys consistent at every point).
    fn lock_snapshots(&self) -> std::sync::MutexGuard<'_, ()> {
        self.snapshot_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read-only view of this shard's applied state.
    pub fn reader(&self) -> ShardReader {
        ShardReader {
            engine: self.engine.clone(),
            shard: self.shard,
        }
    }

    fn applied_key(&self) -> Vec<u8> {
        keys::tagged(self.shard, keys::STATE_APPLIED, &[])
    }

    fn put<T: Serialize>(
        &self,
        batch: &mut WriteBatch,
        cf: &str,
        key: Vec<u8>,
        value: &T,
    ) -> io::Result<()> {
        let bytes = codec::encode(&key, value).map_err(io::Error::other)?;
        batch.put_cf(self.engine.cf(cf), key, bytes);
        Ok(())
    }

    /// Applies one command into `batch`, returning the client's answer. Nothing is written
    /// outside `batch`; on `Err` (storage failure) the batch must be discarded.
    fn execute(
        &self,
        index: u64,
        cmd: &ShardCommand,
        batch: &mut WriteBatch,
    ) -> io::Result<ShardResponse> {
        let (idempotency, now_ms) = (cmd.idempotency(), cmd.now_ms());
        if let Some(tag) = idempotency {
            let key = keys::idempotency_key(self.shard, &tag.key);
            let rec: Option<IdempotencyRecord> =
                self.engine.get(self.shard, keys::CF_STATE, &key)?;
            // The same request replays even after its record's TTL (as long as GC has not
            // removed it): replaying can never do harm, while executing it again could (its
            // effect exists). Only a *different* request may reuse an expired key.
            let live = |r: &IdempotencyRecord| {
                r.fingerprint == tag.fingerprint || r.expires_at_ms > now_ms
            };
            if let Some(rec) = rec.filter(live) {
                if rec.fingerprint != tag.fingerprint {
                    return Ok(ShardResponse::Rejected(
                        CommandError::IdempotencyKeyReused {
                            key: tag.key.clone(),
                        },
                    ));
                }
                return Ok(match rec.response {
                    ShardResponse::Order { order, .. } => ShardResponse::Order {
                        order,
                        replayed: true,
                    },
                    // A purchase replays with the order and saga as they are now.
                    ShardResponse::Purchase { order, saga, .. } => {
                        let order = self
                            .engine
                            .get(
                                self.shard,
                                keys::CF_STATE,
                                &keys::order_key(self.shard, &order.order_id),
                            )?
                            .unwrap_or(order);
                        let saga = self.saga(&saga.saga_id)?.unwrap_or(saga);
                        ShardResponse::Purchase {
                            order,
                            saga,
                            replayed: true,
                        }
                    }
                    other => other,
                });
            }
        }

        let outcome = match cmd {
            ShardCommand::PlaceOrder { order: new, .. } => {
                let key = keys::order_key(self.shard, &new.order_id);
                if self.exists(&key)? {
                    Err(CommandError::AlreadyExists {
                        order_id: new.order_id.clone(),
                    })
                } else {
                    match order::place(new, &self.config.limits, now_ms) {
                        Ok((order, event)) => {
                            self.write_change(index, &order, &event, batch)?;
                            Ok(ShardResponse::Order {
                                order,
                                replayed: false,
                            })
                        }
                        Err(e) => Err(e.into()),
                    }
                }
            }
            ShardCommand::UpdateOrder {
                order_id,
                command,
                expected_version,
                ..
            } => self.update_order(index, order_id, command, *expected_version, now_ms, batch)?,
            ShardCommand::Stock {
                sku, bucket, op, ..
            } => self.apply_stock(sku, *bucket, op, now_ms, batch)?,
            ShardCommand::Payment { account_id, op, .. } => {
                self.apply_payment(account_id, op, now_ms, batch)?
            }
            ShardCommand::StartPurchase {
                order: new, spec, ..
            } => self.start_purchase(index, new, spec, now_ms, batch)?,
            ShardCommand::Saga { saga_id, input, .. } => {
                self.apply_saga(index, saga_id, input, now_ms, batch)?
            }
        };

        let response = outcome.unwrap_or_else(ShardResponse::Rejected);
        if let Some(tag) = idempotency {
            self.write_idempotency(tag, &response, now_ms, batch)?;
        }
        Ok(response)
    }

    /// Whether `key` exists in the state family.
    fn exists(&self, key: &[u8]) -> io::Result<bool> {
        Ok(self
            .engine
            .db
            .get_pinned_cf(self.engine.cf(keys::CF_STATE), key)
            .map_err(io::Error::other)?
            .is_some())
    }

    /// `UpdateOrder`: the order machine, unless the order's purchase saga claims the command
    /// (conflict matrix).
    fn update_order(
        &self,
        index: u64,
        order_id: &str,
        command: &order::OrderCommand,
        expected_version: Option<u64>,
        now_ms: u64,
        batch: &mut WriteBatch,
    ) -> io::Result<Result<ShardResponse, CommandError>> {
        let key = keys::order_key(self.shard, order_id);
        let Some(current) = self.engine.get::<Order>(self.shard, keys::CF_STATE, &key)? else {
            return Ok(Err(CommandError::NotFound {
                order_id: order_id.to_owned(),
            }));
        };
        if let Some(saga) = self.saga(order_id)? {
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Ok(Err(order::OrderError::VersionConflict {
                    expected,
                    actual: current.version,
                }
                .into()));
            }
            match crate::saga::order_command_verdict(&saga, command) {
                crate::saga::Verdict::Allow => {}
                crate::saga::Verdict::Reject { reason } => {
                    return Ok(Err(CommandError::SagaConflict { reason }));
                }
                crate::saga::Verdict::ToSaga(input) => {
                    return self.apply_saga(index, order_id, &input, now_ms, batch);
                }
            }
        }
        Ok(
            match order::apply(&current, command, expected_version, now_ms) {
                Ok((order, event)) => {
                    self.write_change(index, &order, &event, batch)?;
                    Ok(ShardResponse::Order {
                        order,
                        replayed: false,
                    })
                }
                Err(e) => Err(e.into()),
            },
        )
    }

    fn write_change(
        &self,
        index: u64,
        order: &Order,
        event: &OrderEvent,
        batch: &mut WriteBatch,
    ) -> io::Result<()> {
        self.put(
            batch,
            keys::CF_STATE,
            keys::order_key(self.shard, &order.order_id),
            order,
        )?;
        self.write_order_event(index, 0, order, event, batch)
    }

    /// Writes an order event and its pointer `n` in the shard's event log at `index` (the
    /// order record itself is the caller's).
    fn write_order_event(
        &self,
        index: u64,
        n: u32,
        order: &Order,
        event: &OrderEvent,
        batch: &mut WriteBatch,
    ) -> io::Result<()> {
        self.put(
            batch,
            keys::CF_STATE,
            keys::order_event_key(self.shard, &order.order_id, event.sequence),
            event,
        )?;
        let pointer = EventLogPointer {
            order_id: order.order_id.clone(),
            sequence: event.sequence,
        };
        self.put(
            batch,
            keys::CF_STATE,
            keys::event_log_key(self.shard, index, n),
            &pointer,
        )
    }

    fn write_idempotency(
        &self,
        tag: &IdempotencyTag,
        response: &ShardResponse,
        now_ms: u64,
        batch: &mut WriteBatch,
    ) -> io::Result<()> {
        let expires_at_ms = now_ms.saturating_add(self.config.idempotency_ttl_ms);
        let rec = IdempotencyRecord {
            fingerprint: tag.fingerprint,
            response: response.clone(),
            expires_at_ms,
        };
        self.put(
            batch,
            keys::CF_STATE,
            keys::idempotency_key(self.shard, &tag.key),
            &rec,
        )?;
        let expiry = keys::idempotency_expiry_key(self.shard, expires_at_ms, &tag.key);
        // An index entry: its key is the data; the value is an empty, still checksummed body.
        let value = codec::frame(&expiry, &[]);
        batch.put_cf(self.engine.cf(keys::CF_STATE), expiry, value);
        Ok(())
    }

    /// Deletes up to [`IDEMPOTENCY_GC_PER_ENTRY`] idempotency records that expired before
    /// `now_ms`, in the same batch as the entry being applied (so GC is replicated state too).
    fn collect_expired_idempotency(&self, now_ms: u64, batch: &mut WriteBatch) -> io::Result<()> {
        let cf = self.engine.cf(keys::CF_STATE);
        let start = keys::tagged(self.shard, keys::STATE_IDEMPOTENCY_EXPIRY, &[]);
        let end = keys::idempotency_expiry_key(self.shard, now_ms, "");
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(end);
        let iter = self.engine.db.iterator_cf_opt(
            cf,
            opts,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter.take(IDEMPOTENCY_GC_PER_ENTRY) {
            let (key, _) = item.map_err(io::Error::other)?;
            if let Some((expires_at_ms, idem_key)) = keys::parse_idempotency_expiry_key(&key) {
                let rec_key = keys::idempotency_key(self.shard, &idem_key);
                // The key may have been reused after expiring: only delete the record this index
                // entry describes.
                let rec: Option<IdempotencyRecord> =
                    self.engine.get(self.shard, keys::CF_STATE, &rec_key)?;
                if rec.is_some_and(|r| r.expires_at_ms == expires_at_ms) {
                    batch.delete_cf(cf, rec_key);
                }
            }
            batch.delete_cf(cf, key);
        }
        Ok(())
    }

    /// Makes `file` (already durable in `dir`) the shard's current snapshot: its reference
    /// goes into `batch` (dropping the snapshot value older releases kept), the batch is
    /// written synced, then older snapshot files are removed. Call with the snapshot lock held.
    fn commit_snapshot(
        &self,
        mut batch: WriteBatch,
        dir: &Path,
        meta: SnapshotMeta,
        file: &str,
        bytes: u64,
    ) -> io::Result<()> {
        let current = SnapshotFileRef {
            meta,
            file: file.to_string(),
            bytes,
        };
        let key = keys::tagged(self.shard, keys::META_SNAPSHOT_FILE, &[]);
        self.put(&mut batch, keys::CF_RAFT_META, key, &current)?;
        batch.delete_cf(
            self.engine.cf(keys::CF_RAFT_META),
            keys::tagged(self.shard, keys::META_SNAPSHOT, &[]),
        );
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.engine
            .db
            .write_opt(batch, &opts)
            .map_err(io::Error::other)?;
        snapshot_file::remove_others(dir, self.shard, file);
        Ok(())
    }

    fn read_applied(&self) -> io::Result<AppliedState> {
        Ok(self
            .engine
            .get(self.shard, keys::CF_STATE, &self.applied_key())?
            .unwrap_or_default())
    }
}

impl RaftStateMachine<TypeConfig> for ShardStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self.read_applied()?;
        Ok((applied.last_applied, applied.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut applied = self.read_applied()?;
        while let Some((entry, responder)) = entries.try_next().await? {
            let started = Instant::now();
            let index = entry.index();
            let mut batch = WriteBatch::default();
            let response = match &entry.payload {
                EntryPayload::Blank => ShardResponse::Empty,
                EntryPayload::Normal(cmd) => {
                    let response = self.execute(index, cmd, &mut batch)?;
                    if index % 64 == 0 {
                        self.collect_expired_idempotency(cmd.now_ms(), &mut batch)?;
                    }
                    response
                }
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id()), m.clone());
                    ShardResponse::Empty
                }
            };
            applied.last_applied = Some(entry.log_id());
            self.put(&mut batch, keys::CF_STATE, self.applied_key(), &applied)?;
            // Not synced: the log entry is durable already, so a lost write is re-applied.
            self.engine.db.write(batch).map_err(io::Error::other)?;
            self.metrics.observe_apply(self.shard, started.elapsed());
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_bytes()?;
        let payload: SnapshotPayload = codec::decode(SNAPSHOT_PAYLOAD_KEY, &data).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("snapshot rejected: {e}"),
            )
        })?;
        if payload.format_version != SNAPSHOT_FORMAT_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "snapshot format {} not supported (want {SNAPSHOT_FORMAT_VERSION})",
                    payload.format_version
                ),
            ));
        }
        let engine = self.engine.clone();
        let this = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let cf = engine.cf(keys::CF_STATE);
            let prefix = keys::shard_prefix(this.shard);
            let end = keys::prefix_end(&prefix).unwrap_or_else(|| vec![0xff; 9]);
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(cf, prefix.to_vec(), end);
            for (suffix, raw) in payload.records {
                let mut key = prefix.to_vec();
                key.extend_from_slice(&suffix);
                // Records travel with their own checksums; verify before trusting them.
                codec::unframe(&key, &raw)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                batch.put_cf(cf, key, raw);
            }
            let applied = AppliedState {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
            this.put(&mut batch, keys::CF_STATE, this.applied_key(), &applied)?;
            // The file first (durably), then the state and the reference in one synced batch.
            let _guard = this.lock_snapshots();
            let dir = snapshot_file::dir(&engine.dir);
            let file = snapshot_file::file_name(this.shard, &unique_snapshot_id());
            let bytes = snapshot_file::write_bytes(&dir, &file, &data)?;
            this.commit_snapshot(batch, &dir, meta, &file, bytes)
        })
        .await
        .map_err(io::Error::other)??;
        tracing::info!(shard = self.shard, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let key = keys::tagged(self.shard, keys::META_SNAPSHOT_FILE, &[]);
        let current: Option<SnapshotFileRef> =
            self.engine.get(self.shard, keys::CF_RAFT_META, &key)?;
        if let Some(current) = current {
            let path = snapshot_file::dir(&self.engine.dir).join(&current.file);
            return Ok(Some(Snapshot {
                meta: current.meta,
                snapshot: SnapshotData::File(path),
            }));
        }
        let key = keys::tagged(self.shard, keys::META_SNAPSHOT, &[]);
        let stored: Option<StoredSnapshot> =
            self.engine.get(self.shard, keys::CF_RAFT_META, &key)?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: SnapshotData::Bytes(s.data),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for ShardStateMachine {
    type SnapshotData = SnapshotData;

    /// Streams the shard's applied state into a new snapshot file (constant memory, see
    /// [`snapshot_file`]), then points the shard's snapshot reference at it and removes the
    /// older file.
    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || -> io::Result<Snapshot> {
            let engine = &this.engine;
            let _guard = this.lock_snapshots();
            let dir = snapshot_file::dir(&engine.dir);
            let file = snapshot_file::file_name(this.shard, &unique_snapshot_id());
            let (meta, bytes) = this.reader().write_snapshot_file(&dir, &file)?;
            this.commit_snapshot(WriteBatch::default(), &dir, meta.clone(), &file, bytes)?;
            tracing::info!(shard = this.shard, last = ?meta.last_log_id, bytes, "built snapshot");
            Ok(Snapshot {
                meta,
                snapshot: SnapshotData::File(dir.join(file)),
            })
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Read access to a shard's applied state (orders and events), for the API.
#[derive(Clone)]
pub struct ShardReader {
    engine: Engine,
    shard: ShardId,
}

impl ShardReader {
    /// A consistent copy of the shard's applied state: every state record (checksums
    /// verified) read from one RocksDB snapshot, with the log position it reflects. The data is
    /// the encoded [`SnapshotPayload`] (crc32-framed) that `install_snapshot` accepts; Raft
    /// snapshots and backups are both made here. Blocking: call off the async runtime.
    pub fn capture(&self) -> io::Result<(SnapshotMeta, Vec<u8>)> {
        let view = self.engine.db.snapshot();
        let mut applied = AppliedState::default();
        let records = self
            .records(&view, &mut applied)
            .collect::<io::Result<Vec<_>>>()?;
        let payload = SnapshotPayload {
            format_version: SNAPSHOT_FORMAT_VERSION,
            records,
        };
        let data = codec::encode(SNAPSHOT_PAYLOAD_KEY, &payload).map_err(io::Error::other)?;
        Ok((snapshot_meta(applied), data))
    }

    /// [`ShardReader::capture`] into the file `dir/name` instead of memory, streamed record by
    /// record; returns the meta and the file's length. Blocking.
    pub fn write_snapshot_file(&self, dir: &Path, name: &str) -> io::Result<(SnapshotMeta, u64)> {
        let view = self.engine.db.snapshot();
        let mut applied = AppliedState::default();
        let bytes = snapshot_file::write_streamed(
            dir,
            name,
            SNAPSHOT_FORMAT_VERSION,
            self.records(&view, &mut applied),
        )?;
        Ok((snapshot_meta(applied), bytes))
    }

    /// The shard's state records in `view` as (key without the shard prefix, framed value),
    /// each checksum verified (a damaged one quarantines the shard and ends the walk with an
    /// error). The applied-state record is not among them: it is decoded into `applied`.
    fn records<'a>(
        &'a self,
        view: &'a rocksdb::Snapshot<'a>,
        applied: &'a mut AppliedState,
    ) -> impl Iterator<Item = io::Result<(Vec<u8>, Vec<u8>)>> + 'a {
        let engine = &self.engine;
        let cf = engine.cf(keys::CF_STATE);
        let prefix = keys::shard_prefix(self.shard);
        let applied_key = keys::tagged(self.shard, keys::STATE_APPLIED, &[]);
        let mut opts = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            opts.set_iterate_upper_bound(end);
        }
        view.iterator_cf_opt(cf, opts, IteratorMode::From(&prefix, Direction::Forward))
            .filter_map(move |item| {
                let (key, raw) = match item {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(io::Error::other(e))),
                };
                if *key == *applied_key {
                    return match codec::decode(&key, &raw) {
                        Ok(a) => {
                            *applied = a;
                            None
                        }
                        Err(e) => Some(Err(engine.corrupt(self.shard, keys::CF_STATE, e))),
                    };
                }
                if let Err(e) = codec::unframe(&key, &raw) {
                    return Some(Err(engine.corrupt(self.shard, keys::CF_STATE, e)));
                }
                Some(Ok((key[prefix.len()..].to_vec(), raw.to_vec())))
            })
    }

    /// The order, or `None` if this replica has not applied it. Fails (and quarantines the
    /// shard) if the stored record is damaged.
    pub fn order(&self, order_id: &str) -> io::Result<Option<Order>> {
        self.engine.get(
            self.shard,
            keys::CF_STATE,
            &keys::order_key(self.shard, order_id),
        )
    }

    /// Every event of the order, in sequence order.
    pub fn order_events(&self, order_id: &str) -> io::Result<Vec<OrderEvent>> {
        let prefix = keys::order_events_prefix(self.shard, order_id);
        let mut opts = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            opts.set_iterate_upper_bound(end);
        }
        let cf = self.engine.cf(keys::CF_STATE);
        let mut out = Vec::new();
        for item in self.engine.db.iterator_cf_opt(
            cf,
            opts,
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (key, raw) = item.map_err(io::Error::other)?;
            out.push(
                codec::decode(&key, &raw)
                    .map_err(|e| self.engine.corrupt(self.shard, keys::CF_STATE, e))?,
            );
        }
        Ok(out)
    }

    pub fn stock_bucket(&self, sku: &str, bucket: u32) -> io::Result<Option<StockBucket>> {
        self.engine.get(
            self.shard,
            keys::CF_STATE,
            &keys::stock_key(self.shard, sku, bucket),
        )
    }

    pub fn reservation(&self, sku: &str, bucket: u32, id: &str) -> io::Result<Option<Reservation>> {
        self.engine.get(
            self.shard,
            keys::CF_STATE,
            &keys::reservation_key(self.shard, sku, bucket, id),
        )
    }

    pub fn account(&self, account_id: &str) -> io::Result<Option<Account>> {
        self.engine.get(
            self.shard,
            keys::CF_STATE,
            &keys::account_key(self.shard, account_id),
        )
    }

    pub fn saga(&self, saga_id: &str) -> io::Result<Option<PurchaseSaga>> {
        self.engine.get(
            self.shard,
            keys::CF_STATE,
            &keys::saga_key(self.shard, saga_id),
        )
    }

    /// Ids of this shard's sagas that have not ended (running, compensating or parked), in id
    /// order, at most `limit`.
    pub fn open_saga_ids(&self, limit: usize) -> io::Result<Vec<String>> {
        let prefix = keys::tagged(self.shard, keys::STATE_SAGA_OPEN, &[]);
        let mut out = Vec::new();
        for key in self.keys_with_prefix(&prefix, limit)? {
            if let Ok(id) = std::str::from_utf8(&key[prefix.len()..]) {
                out.push(id.to_owned());
            }
        }
        Ok(out)
    }

    /// Every saga of this shard (ended or not), in id order, at most `limit`.
    pub fn sagas(&self, limit: usize) -> io::Result<Vec<PurchaseSaga>> {
        self.values_with_tag(keys::STATE_SAGA, limit)
    }

    /// Every stock bucket of this shard, at most `limit`.
    pub fn stock_buckets(&self, limit: usize) -> io::Result<Vec<StockBucket>> {
        self.values_with_tag(keys::STATE_STOCK, limit)
    }

    /// Every payment account of this shard, at most `limit`.
    pub fn accounts(&self, limit: usize) -> io::Result<Vec<Account>> {
        self.values_with_tag(keys::STATE_ACCOUNT, limit)
    }

    /// Every authorization of this shard's accounts, at most `limit`.
    pub fn authorizations(&self, limit: usize) -> io::Result<Vec<Authorization>> {
        self.values_with_tag(keys::STATE_AUTHORIZATION, limit)
    }

    /// Decoded records of one tag (see the key layout in `keys`), in key order.
    fn values_with_tag<T: serde::de::DeserializeOwned>(
        &self,
        tag: u8,
        limit: usize,
    ) -> io::Result<Vec<T>> {
        let prefix = keys::tagged(self.shard, tag, &[]);
        let mut opts = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            opts.set_iterate_upper_bound(end);
        }
        let cf = self.engine.cf(keys::CF_STATE);
        let mut out = Vec::new();
        for item in self.engine.db.iterator_cf_opt(
            cf,
            opts,
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            if out.len() >= limit {
                break;
            }
            let (key, raw) = item.map_err(io::Error::other)?;
            out.push(
                codec::decode(&key, &raw)
                    .map_err(|e| self.engine.corrupt(self.shard, keys::CF_STATE, e))?,
            );
        }
        Ok(out)
    }

    /// Held reservations whose expiry is at or before `now_ms`: (sku, bucket, reservation id),
    /// oldest first, at most `limit`.
    pub fn due_reservations(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> io::Result<Vec<(String, u32, String)>> {
        let start = keys::tagged(self.shard, keys::STATE_RESERVATION_EXPIRY, &[]);
        let end = keys::tagged(
            self.shard,
            keys::STATE_RESERVATION_EXPIRY,
            &now_ms.saturating_add(1).to_be_bytes(),
        );
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(end);
        let cf = self.engine.cf(keys::CF_STATE);
        let mut out = Vec::new();
        for item in
            self.engine
                .db
                .iterator_cf_opt(cf, opts, IteratorMode::From(&start, Direction::Forward))
        {
            if out.len() >= limit {
                break;
            }
            let (key, _) = item.map_err(io::Error::other)?;
            if let Some((_, sku, bucket, id)) = keys::parse_reservation_expiry_key(&key) {
                out.push((sku, bucket, id));
            }
        }
        Ok(out)
    }

    fn keys_with_prefix(&self, prefix: &[u8], limit: usize) -> io::Result<Vec<Box<[u8]>>> {
        let mut opts = ReadOptions::default();
        if let Some(end) = keys::prefix_end(prefix) {
            opts.set_iterate_upper_bound(end);
        }
        let cf = self.engine.cf(keys::CF_STATE);
        let mut out = Vec::new();
        for item in
            self.engine
                .db
                .iterator_cf_opt(cf, opts, IteratorMode::From(prefix, Direction::Forward))
        {
            if out.len() >= limit {
                break;
            }
            let (key, _) = item.map_err(io::Error::other)?;
            out.push(key);
        }
        Ok(out)
    }
}
