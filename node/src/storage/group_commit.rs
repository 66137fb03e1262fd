//! Group commit: one fsync for the log appends of every shard on the node.
//!
//! Each shard's [`append`](openraft::storage::RaftLogStorage::append) writes its entries to
//! RocksDB at once (so they are readable when `append` returns, as openraft requires) without
//! syncing, then hands its completion callback to the [`GroupCommitter`]. A dedicated thread
//! takes every callback queued so far, issues **one** `SyncWAL` (the node has one RocksDB and so
//! one write-ahead log: syncing it makes every earlier write of every shard durable), and only
//! then acknowledges all of them. Under load, one fsync covers the appends of many shards and
//! many clients; when idle, an append pays exactly one fsync and no batching delay.
//!
//! Contract: a callback is completed with `Ok` only after an fsync that started after its entries
//! were written; if the sync fails, every callback of that batch gets the error (openraft then
//! stops the affected shards rather than acknowledge an unsynced write).
//!
//! A failed sync is final for the life of the process (the lesson of PostgreSQL's "fsyncgate"):
//! after an fsync error the kernel may already have dropped the dirty pages it could not write,
//! so a later sync that succeeds proves nothing about the earlier writes. The committer latches
//! the first failure ([`GroupCommitter::failure`]) and fails every later callback without
//! syncing; the node refuses writes (`STORAGE_FAILED`) until it restarts and RocksDB recovers
//! from what its write-ahead log really holds.

use std::io;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::Weak;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use rocksdb::DB;

use crate::metrics::NodeMetrics;

/// A completion to run once the write it follows is durable.
pub type SyncCallback = Box<dyn FnOnce(Result<(), io::Error>) + Send>;

/// Handle to the node's group-commit thread. Cheap to clone; the thread stops when every handle
/// is dropped.
#[derive(Clone)]
pub struct GroupCommitter {
    tx: mpsc::Sender<SyncCallback>,
    failure: Arc<OnceLock<String>>,
}

impl GroupCommitter {
    /// Starts the sync thread for `db`. The thread holds the database only weakly, so the
    /// database closes as soon as the node drops its last handle.
    pub fn start(db: &Arc<DB>, metrics: NodeMetrics) -> io::Result<Self> {
        let db: Weak<DB> = Arc::downgrade(db);
        Self::with_sync(metrics, move || match db.upgrade() {
            Some(db) => db.flush_wal(true).map_err(|e| e.to_string()),
            None => Err("database closed".to_string()),
        })
    }

    /// Starts a sync thread that makes writes durable with `sync` (for the node: RocksDB's
    /// `SyncWAL`; tests substitute their own to observe batching).
    pub fn with_sync<F>(metrics: NodeMetrics, sync: F) -> io::Result<Self>
    where
        F: Fn() -> Result<(), String> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<SyncCallback>();
        let failure = Arc::new(OnceLock::<String>::new());
        let latch = failure.clone();
        thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || {
                let mut batch = Vec::new();
                // `recv` fails only when every sender is gone: the node is shutting down.
                while let Ok(first) = rx.recv() {
                    batch.push(first);
                    batch.extend(rx.try_iter());
                    let result = match latch.get() {
                        Some(first_error) => Err(format!(
                            "an earlier WAL sync failed ({first_error}); no write is acknowledged \
                             until the node restarts"
                        )),
                        None => {
                            let started = Instant::now();
                            let result = sync();
                            metrics.observe_fsync(started.elapsed(), batch.len());
                            if let Err(e) = &result {
                                tracing::error!(error = %e, waiters = batch.len(), "WAL sync failed; this node refuses writes until it restarts");
                                metrics.fsync_errors.inc();
                                metrics.storage_failed.set(1);
                                let _ = latch.set(e.clone());
                            }
                            result
                        }
                    };
                    match result {
                        Ok(()) => batch.drain(..).for_each(|cb| cb(Ok(()))),
                        Err(e) => batch
                            .drain(..)
                            .for_each(|cb| cb(Err(io::Error::other(e.clone())))),
                    }
                }
            })?;
        Ok(Self { tx, failure })
    }

    /// The first WAL sync error of this process, if a sync ever failed. Once set, every later
    /// callback fails without a sync (see the module docs).
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Queues `callback` to run after the next WAL sync.
    ///
    /// If the sync thread is gone (node shutting down) the callback gets an error at once.
    pub fn after_sync(&self, callback: SyncCallback) {
        if let Err(mpsc::SendError(cb)) = self.tx.send(callback) {
            cb(Err(io::Error::other("group-commit thread stopped")));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;

    use super::*;

    /// While one sync is in progress, every append that arrives waits for the next one, and a
    /// single sync then completes all of them: one fsync for many appends.
    #[test]
    fn appends_queued_during_a_sync_share_the_next_sync() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate_rx = Mutex::new(gate_rx);
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let counter = syncs.clone();
        let committer = GroupCommitter::with_sync(NodeMetrics::new(), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = entered_tx.send(());
            // The first sync blocks until the test has queued the other appends.
            gate_rx.lock().unwrap().recv().ok();
            Ok(())
        })
        .unwrap();

        let (done_tx, done_rx) = mpsc::channel::<Result<(), io::Error>>();
        let cb = |tx: mpsc::Sender<Result<(), io::Error>>| -> SyncCallback {
            Box::new(move |r| tx.send(r).unwrap())
        };
        committer.after_sync(cb(done_tx.clone()));
        entered_rx.recv().unwrap(); // the first sync is running
        for _ in 0..50 {
            committer.after_sync(cb(done_tx.clone()));
        }
        gate_tx.send(()).unwrap(); // finish sync 1
        gate_tx.send(()).unwrap(); // let sync 2 finish
        for _ in 0..51 {
            done_rx.recv().unwrap().unwrap();
        }
        assert_eq!(
            syncs.load(Ordering::SeqCst),
            2,
            "51 appends made durable by 2 syncs"
        );
    }

    /// A failed sync fails every append waiting on it; none is acknowledged.
    #[test]
    fn failed_sync_fails_every_waiter() {
        let committer =
            GroupCommitter::with_sync(NodeMetrics::new(), || Err("disk gone".into())).unwrap();
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let tx = tx.clone();
            committer.after_sync(Box::new(move |r| tx.send(r).unwrap()));
        }
        for _ in 0..3 {
            assert!(rx.recv().unwrap().is_err());
        }
    }

    /// After one failed sync, later appends fail too, without another sync, even though the
    /// disk would now report success: a later fsync cannot vouch for the writes the failed one
    /// may have lost.
    #[test]
    fn a_failed_sync_is_final() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let counter = syncs.clone();
        let metrics = NodeMetrics::new();
        let committer = GroupCommitter::with_sync(metrics.clone(), move || {
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 => Err("EIO".into()),
                _ => Ok(()),
            }
        })
        .unwrap();
        assert_eq!(committer.failure(), None);
        let (tx, rx) = mpsc::channel();
        let send = |tx: &mpsc::Sender<Result<(), io::Error>>| -> SyncCallback {
            let tx = tx.clone();
            Box::new(move |r| tx.send(r).unwrap())
        };
        committer.after_sync(send(&tx));
        assert!(rx.recv().unwrap().is_err());
        for _ in 0..5 {
            committer.after_sync(send(&tx));
            let err = rx.recv().unwrap().expect_err("no ack after a failed sync");
            assert!(err.to_string().contains("earlier WAL sync failed"), "{err}");
        }
        assert_eq!(syncs.load(Ordering::SeqCst), 1, "never synced again");
        assert_eq!(committer.failure(), Some("EIO"));
        assert_eq!(metrics.fsync_errors.get(), 1);
        assert_eq!(metrics.storage_failed.get(), 1);
    }
}
