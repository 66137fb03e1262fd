//! Disk-space guard: a node stops accepting writes before its data directory's file system
//! runs out of space, and accepts them again once space returns.
//!
//! Why before, not at, ENOSPC: once a WAL append or sync fails, RocksDB turns read-only and the
//! page cache's state after a failed fsync is unknown ("fsyncgate"); like etcd and CockroachDB,
//! the only safe recovery from that is a restart that replays the log. So the node keeps a
//! reserve: while the free space (for unprivileged writers) is below
//! [`DiskGuard::reserve_bytes`], every proposal this node would make is refused with
//! RESOURCE_EXHAUSTED (kind `DISK_FULL`) and nothing is written; reads keep working. A real
//! write or sync failure still never acknowledges anything ([`crate::storage::group_commit`]):
//! the affected shards stop on this node until it restarts.
//!
//! Metrics: `orderstore_disk_free_bytes`, `orderstore_disk_full` (1 while writes are refused).

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::NodeMetrics;

/// Default free-space reserve below which writes are refused.
pub const DEFAULT_DISK_RESERVE_BYTES: u64 = 256 * 1024 * 1024;

/// How often the free space is measured.
pub const DISK_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Returned by [`DiskGuard::check`] while the data directory's free space is below the reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "disk full: {free_bytes} bytes free on the data directory's file system, below the \
     {reserve_bytes}-byte reserve; writes resume once space is freed"
)]
pub struct DiskFull {
    pub free_bytes: u64,
    pub reserve_bytes: u64,
}

/// Free-space state of one data directory, shared by the monitor task and every proposal.
#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    reserve_bytes: u64,
    free_bytes: AtomicU64,
    full: AtomicBool,
}

impl DiskGuard {
    /// A guard for `dir` with the given reserve (0 disables the guard). Measures once at once,
    /// so a node started on a full disk refuses writes from its first request.
    pub fn new(dir: &Path, reserve_bytes: u64) -> Arc<Self> {
        let guard = Arc::new(Self {
            dir: dir.to_path_buf(),
            reserve_bytes,
            free_bytes: AtomicU64::new(u64::MAX),
            full: AtomicBool::new(false),
        });
        guard.sample();
        guard
    }

    pub fn reserve_bytes(&self) -> u64 {
        self.reserve_bytes
    }

    /// Last measured free bytes (`u64::MAX` before the first successful measurement).
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes.load(Ordering::Relaxed)
    }

    /// `Ok` while writes may proceed.
    pub fn check(&self) -> Result<(), DiskFull> {
        if self.full.load(Ordering::Relaxed) {
            Err(DiskFull {
                free_bytes: self.free_bytes(),
                reserve_bytes: self.reserve_bytes,
            })
        } else {
            Ok(())
        }
    }

    /// Measures the free space now and updates the state; returns whether the disk is full.
    /// A failed measurement keeps the previous state (and is logged).
    pub fn sample(&self) -> bool {
        match free_bytes(&self.dir) {
            Ok(free) => {
                self.free_bytes.store(free, Ordering::Relaxed);
                let full = self.reserve_bytes > 0 && free < self.reserve_bytes;
                let was = self.full.swap(full, Ordering::Relaxed);
                if full && !was {
                    tracing::error!(
                        dir = %self.dir.display(),
                        free_bytes = free,
                        reserve_bytes = self.reserve_bytes,
                        "disk full: refusing writes until space is freed"
                    );
                } else if was && !full {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        free_bytes = free,
                        "disk space recovered: accepting writes again"
                    );
                }
                full
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot measure free disk space");
                self.full.load(Ordering::Relaxed)
            }
        }
    }
}

/// Bytes available to unprivileged writers on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

/// Measures the guard's directory every [`DISK_POLL_INTERVAL`] until `shutdown`, exporting the
/// metrics.
pub fn spawn_monitor(
    guard: Arc<DiskGuard>,
    metrics: NodeMetrics,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DISK_POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|v| *v) => return,
            }
            let g = guard.clone();
            // statvfs is a syscall that may block on a sick disk: keep it off the runtime.
            let full = tokio::task::spawn_blocking(move || g.sample())
                .await
                .unwrap_or(false);
            metrics.disk_full.set(i64::from(full));
            metrics
                .disk_free_bytes
                .set(i64::try_from(guard.free_bytes()).unwrap_or(i64::MAX));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_trips_below_the_reserve_and_clears_above_it() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        let off = DiskGuard::new(dir.path(), 0);
        assert!(off.check().is_ok(), "a zero reserve disables the guard");
        let roomy = DiskGuard::new(dir.path(), 1);
        assert!(roomy.check().is_ok());
        let tight = DiskGuard::new(dir.path(), u64::MAX);
        let err = tight.check().unwrap_err();
        assert_eq!(err.reserve_bytes, u64::MAX);
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
