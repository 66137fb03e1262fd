//! `osj-lazyfs`: a FUSE pass-through filesystem that keeps every write in memory until the
//! file is fsynced, so the chaos suite can drop un-fsynced data on demand ("clear-cache", as a
//! power loss would), lazyfs-style.
//!
//! Data written through the mount lives in a per-inode cache ([`cache::FileCache`]); reads see
//! it overlaid on the backing file; `fsync`/`fdatasync` writes the file's cached changes to the
//! backing file and syncs it. `close` does not persist anything. Metadata operations (create,
//! mkdir, rename, unlink, link, symlink, chmod) reach the backing directory at once.
//!
//! The harness runs the `osj-lazyfs` binary ([`Daemon`] starts and owns one) and talks to it
//! over a unix socket with [`Control`] (`clear-cache`, `sync`, `stats`; protocol in
//! [`control`]). See README.md for semantics and limitations.
//!
//! # Layout
//! - [`cache`]: the pure per-file cache: writes, truncation, overlay reads, flush plans.
//! - [`fs`]: the FUSE filesystem ([`LazyFs`]) and its cache-wide controls ([`FsHandle`]).
//! - [`control`]: the control protocol, its server and the [`Control`] client.
//! - [`mount`]: mounting in-process ([`Mounted`]), readiness, stale-mount cleanup.
//! - [`daemon`]: [`Daemon`], an `osj-lazyfs` child process with a cleanup guard.
//! - [`stats`]: the reported figures.

pub mod cache;
pub mod control;
pub mod daemon;
pub mod fs;
pub mod mount;
pub mod stats;

pub use control::{Command, Control, ControlError};
pub use daemon::{Daemon, DaemonConfig, OnExit};
pub use fs::{FsHandle, LazyFs};
pub use mount::{Mounted, ReadyError, detach, is_fuse_mount, unmount_stale, wait_ready};
pub use stats::{ClearReport, Stats, SyncReport};
