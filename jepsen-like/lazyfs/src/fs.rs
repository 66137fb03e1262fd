//! The FUSE filesystem: a pass-through over a backing directory whose regular-file data is held
//! in a per-inode [`FileCache`] until `fsync`/`fdatasync`, plus the cache-wide operations the
//! control socket exposes ([`FsHandle::clear_cache`], [`FsHandle::sync_all`],
//! [`FsHandle::stats`]).
//!
//! Inodes: the FUSE inode number is the backing file's `st_ino` (the backing root is swapped
//! with inode 1), so hard links share one inode and one cache. Every inode the kernel knows
//! holds an `O_PATH` descriptor of its backing file; operations reach the backing file through
//! `/proc/self/fd/N`, which survives renames. A regular file also gets a read-write descriptor on
//! first use, kept until the inode is dropped.
//!
//! Lock order: the inode table, then (never the other way round) an inode's data. The table lock
//! is never held across I/O.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    Notifier, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::cache::FileCache;
use crate::stats::{ClearReport, Stats, SyncReport};

/// How long the kernel may cache entries and attributes. Only this process changes the backing
/// directory, and [`FsHandle::clear_cache`] invalidates what it changes, so this only bounds
/// staleness if someone edits the backing directory behind our back (unsupported).
const TTL: Duration = Duration::from_secs(1);

/// A mounted-or-not lazyfs instance; hand it to [`fuser::Session`]. [`LazyFs::handle`] gives
/// the cache controls that stay valid while the session runs.
pub struct LazyFs {
    shared: Arc<Shared>,
}

/// Cache-wide controls of a [`LazyFs`]: cheap to clone, safe from any thread.
#[derive(Clone)]
pub struct FsHandle {
    shared: Arc<Shared>,
}

struct Shared {
    backing: PathBuf,
    root_st_ino: u64,
    inodes: Mutex<HashMap<u64, Entry>>,
    dirs: Mutex<HashMap<u64, Vec<DirListing>>>,
    next_fh: AtomicU64,
    notifier: OnceLock<Notifier>,
    counters: Counters,
    /// While set, every `fsync`/`fdatasync`/directory fsync fails with EIO and syncs nothing
    /// (a failing device); see [`FsHandle::set_fail_fsync`].
    fail_fsync: AtomicBool,
}

#[derive(Default)]
struct Counters {
    fsyncs: AtomicU64,
    fsyncdirs: AtomicU64,
    written_bytes: AtomicU64,
    synced_bytes: AtomicU64,
    dropped_bytes: AtomicU64,
    clears: AtomicU64,
    failed_fsyncs: AtomicU64,
}

struct Entry {
    inode: Arc<Inode>,
    /// The kernel's lookup count; the entry goes when it reaches zero and the cache is clean.
    lookups: u64,
}

struct Inode {
    ino: u64,
    kind: FileType,
    /// `O_PATH` descriptor of the backing file or directory.
    path_fd: File,
    /// Mirrors `data.cache.is_dirty()`, readable without the data lock.
    dirty: AtomicBool,
    data: Mutex<FileData>,
}

#[derive(Default)]
struct FileData {
    /// Read-write (or read-only if the backing file refuses writing) descriptor.
    io: Option<File>,
    /// `None` until the file is first opened, truncated or written.
    cache: Option<FileCache>,
}

/// The attribute changes of one `setattr` call (`None`: leave as is).
struct AttrChanges {
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    /// Cached like a write: the backing file changes on fsync.
    size: Option<u64>,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
}

struct DirListing {
    ino: u64,
    kind: FileType,
    name: std::ffi::OsString,
}

/// Locks a mutex; a poisoned lock means a filesystem thread panicked mid-update, after which
/// the cache cannot be trusted, so the panic propagates (and the mount is torn down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
        .expect("a lazyfs lock was poisoned by a panicking filesystem thread")
}

fn proc_path(f: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn cvt(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nsecs as u64)
    }
}

fn errno(e: io::Error) -> Errno {
    Errno::from(e)
}

impl Inode {
    fn child(&self, name: &OsStr) -> PathBuf {
        proc_path(&self.path_fd).join(name)
    }

    /// Locks the data of a regular file, opening its backing descriptor and cache on first use.
    fn open_data(&self) -> io::Result<MutexGuard<'_, FileData>> {
        let mut data = lock(&self.data);
        if data.io.is_none() {
            if self.kind != FileType::RegularFile {
                return Err(io::Error::from_raw_os_error(libc::EISDIR));
            }
            let path = proc_path(&self.path_fd);
            let file = match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(f) => f,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EROFS)) => {
                    File::open(&path)?
                }
                Err(e) => return Err(e),
            };
            if data.cache.is_none() {
                data.cache = Some(FileCache::new(file.metadata()?.len()));
            }
            data.io = Some(file);
        }
        Ok(data)
    }
}

impl FileData {
    fn parts(&mut self) -> (&File, &mut FileCache) {
        (
            self.io
                .as_ref()
                .expect("open_data opened the descriptor before returning"),
            self.cache
                .as_mut()
                .expect("open_data created the cache before returning"),
        )
    }
}

impl LazyFs {
    /// A filesystem over the existing directory `backing`.
    pub fn new(backing: &Path) -> io::Result<LazyFs> {
        let backing = backing.canonicalize()?;
        let root = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&backing)?;
        let md = root.metadata()?;
        let root_inode = Arc::new(Inode {
            ino: INodeNo::ROOT.0,
            kind: FileType::Directory,
            path_fd: root,
            dirty: AtomicBool::new(false),
            data: Mutex::new(FileData::default()),
        });
        let mut inodes = HashMap::new();
        // The root is never forgotten: one lookup reference that nothing releases.
        inodes.insert(
            INodeNo::ROOT.0,
            Entry {
                inode: root_inode,
                lookups: 1,
            },
        );
        Ok(LazyFs {
            shared: Arc::new(Shared {
                backing,
                root_st_ino: md.ino(),
                inodes: Mutex::new(inodes),
                dirs: Mutex::new(HashMap::new()),
                next_fh: AtomicU64::new(1),
                notifier: OnceLock::new(),
                counters: Counters::default(),
                fail_fsync: AtomicBool::new(false),
            }),
        })
    }

    /// The cache controls of this filesystem.
    pub fn handle(&self) -> FsHandle {
        FsHandle {
            shared: self.shared.clone(),
        }
    }
}

impl FsHandle {
    /// Lets [`FsHandle::clear_cache`] invalidate the kernel's page and attribute caches of the
    /// files whose data it drops. Without it, a process that kept a file open could still read
    /// dropped data from the kernel's page cache. Set once; later calls are ignored.
    pub fn set_notifier(&self, notifier: Notifier) {
        let _ = self.shared.notifier.set(notifier);
    }

    /// Drops every un-fsynced write, truncation and extension, as a power loss would: afterwards
    /// every file reads as its backing file. Metadata operations (create, rename, unlink, mkdir)
    /// already reached the backing directory and are not undone.
    pub fn clear_cache(&self) -> ClearReport {
        let mut report = ClearReport::default();
        let mut invalidate = Vec::new();
        for inode in self.shared.all_inodes() {
            let mut data = lock(&inode.data);
            if let Some(cache) = data.cache.as_mut()
                && cache.is_dirty()
            {
                report.bytes += cache.clear();
                report.files += 1;
                invalidate.push(inode.ino);
            }
            inode.dirty.store(false, Ordering::Release);
        }
        self.shared.collect_forgotten();
        let c = &self.shared.counters;
        c.dropped_bytes.fetch_add(report.bytes, Ordering::Relaxed);
        c.clears.fetch_add(1, Ordering::Relaxed);
        if let Some(notifier) = self.shared.notifier.get() {
            for ino in invalidate {
                // ENOENT: the kernel has already forgotten the inode; nothing is cached.
                let _ = notifier.inval_inode(INodeNo(ino), 0, 0);
            }
        }
        report
    }

    /// Writes every cached change to its backing file and fsyncs it (a clean shutdown).
    /// Stops at the first file that fails, whose error is returned; files already synced stay
    /// synced.
    pub fn sync_all(&self) -> io::Result<SyncReport> {
        let mut report = SyncReport::default();
        for inode in self.shared.all_inodes() {
            if !inode.dirty.load(Ordering::Acquire) {
                continue;
            }
            let mut data = lock(&inode.data);
            if data.io.is_some() {
                report.bytes += self.shared.flush(&inode, &mut data, false)?;
                report.files += 1;
            }
        }
        self.shared.collect_forgotten();
        Ok(report)
    }

    /// Makes every later `fsync`, `fdatasync` and directory fsync fail with EIO (`true`) or
    /// work again (`false`). A failed sync writes nothing: the file's changes stay cached and
    /// un-fsynced, so `clear-cache` drops them, as a dying disk would lose them. `sync`
    /// (the control command, a clean shutdown) is not affected.
    pub fn set_fail_fsync(&self, fail: bool) {
        self.shared.fail_fsync.store(fail, Ordering::SeqCst);
    }

    /// True while syncs fail ([`FsHandle::set_fail_fsync`]).
    pub fn fails_fsync(&self) -> bool {
        self.shared.fail_fsync.load(Ordering::SeqCst)
    }

    /// Current counters; `cached_bytes` and `dirty_files` are computed now.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        let inodes = self.shared.all_inodes();
        stats.inodes = inodes.len() as u64;
        for inode in inodes {
            if !inode.dirty.load(Ordering::Acquire) {
                continue;
            }
            if let Some(cache) = lock(&inode.data).cache.as_ref()
                && cache.is_dirty()
            {
                stats.dirty_files += 1;
                stats.cached_bytes += cache.dirty_bytes();
            }
        }
        let c = &self.shared.counters;
        stats.fsyncs = c.fsyncs.load(Ordering::Relaxed);
        stats.fsyncdirs = c.fsyncdirs.load(Ordering::Relaxed);
        stats.written_bytes = c.written_bytes.load(Ordering::Relaxed);
        stats.synced_bytes = c.synced_bytes.load(Ordering::Relaxed);
        stats.dropped_bytes = c.dropped_bytes.load(Ordering::Relaxed);
        stats.clears = c.clears.load(Ordering::Relaxed);
        stats.failed_fsyncs = c.failed_fsyncs.load(Ordering::Relaxed);
        stats
    }
}

impl Shared {
    /// True (and counted) when an fsync must fail because the fault is on.
    fn injected_sync_failure(&self) -> bool {
        let fail = self.fail_fsync.load(Ordering::SeqCst);
        if fail {
            self.counters.failed_fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        fail
    }

    fn fuse_ino(&self, st_ino: u64) -> u64 {
        if st_ino == self.root_st_ino {
            INodeNo::ROOT.0
        } else if st_ino == INodeNo::ROOT.0 {
            self.root_st_ino
        } else {
            st_ino
        }
    }

    fn all_inodes(&self) -> Vec<Arc<Inode>> {
        lock(&self.inodes)
            .values()
            .map(|e| e.inode.clone())
            .collect()
    }

    fn inode(&self, ino: INodeNo) -> Result<Arc<Inode>, Errno> {
        lock(&self.inodes)
            .get(&ino.0)
            .map(|e| e.inode.clone())
            .ok_or(Errno::ESTALE)
    }

    /// Drops entries the kernel forgot whose cache is clean (dirty ones are kept so the data
    /// is still there if the kernel looks the file up again, or for clear/sync).
    fn collect_forgotten(&self) {
        lock(&self.inodes).retain(|_, e| e.lookups > 0 || e.inode.dirty.load(Ordering::Acquire));
    }

    fn attr(&self, inode: &Inode) -> io::Result<FileAttr> {
        let md = inode.path_fd.metadata()?;
        let mut size = md.size();
        if inode.kind == FileType::RegularFile
            && let Some(cache) = lock(&inode.data).cache.as_ref()
        {
            size = cache.size();
        }
        Ok(FileAttr {
            ino: INodeNo(inode.ino),
            size,
            blocks: md.blocks().max(size.div_ceil(512)),
            atime: time(md.atime(), md.atime_nsec()),
            mtime: time(md.mtime(), md.mtime_nsec()),
            ctime: time(md.ctime(), md.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind_of(md.mode()),
            perm: (md.mode() & 0o7777) as u16,
            nlink: md.nlink() as u32,
            uid: md.uid(),
            gid: md.gid(),
            rdev: md.rdev() as u32,
            blksize: md.blksize() as u32,
            flags: 0,
        })
    }

    /// Registers (or finds) the inode of `file`, an `O_PATH` descriptor, and counts one kernel
    /// lookup reference.
    fn remember(&self, path_fd: File) -> io::Result<Arc<Inode>> {
        let md = path_fd.metadata()?;
        let ino = self.fuse_ino(md.ino());
        let mut table = lock(&self.inodes);
        let entry = table.entry(ino).or_insert_with(|| Entry {
            inode: Arc::new(Inode {
                ino,
                kind: kind_of(md.mode()),
                path_fd,
                dirty: AtomicBool::new(false),
                data: Mutex::new(FileData::default()),
            }),
            lookups: 0,
        });
        entry.lookups += 1;
        Ok(entry.inode.clone())
    }

    fn lookup_child(&self, parent: &Inode, name: &OsStr) -> io::Result<(Arc<Inode>, FileAttr)> {
        let path_fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(parent.child(name))?;
        let inode = self.remember(path_fd)?;
        let attr = self.attr(&inode)?;
        Ok((inode, attr))
    }

    /// Applies the cached changes of `inode` to its backing file and syncs it (`fdatasync` if
    /// `datasync`, else `fsync`). On error the cache keeps everything (the next fsync retries).
    /// Returns the bytes that were cached.
    fn flush(&self, inode: &Inode, data: &mut FileData, datasync: bool) -> io::Result<u64> {
        let (io, cache) = data.parts();
        if cache.is_dirty() {
            let plan = cache.flush_plan();
            if let Some(len) = plan.truncate_to {
                io.set_len(len)?;
            }
            let mut len = plan.truncate_to.unwrap_or(cache.backing_len());
            for (offset, bytes) in &plan.extents {
                io.write_all_at(bytes, *offset)?;
                len = len.max(offset + bytes.len() as u64);
            }
            if len != plan.final_len {
                io.set_len(plan.final_len)?;
            }
        }
        if datasync {
            io.sync_data()?;
        } else {
            io.sync_all()?;
        }
        let flushed = cache.mark_synced();
        inode.dirty.store(false, Ordering::Release);
        let c = &self.counters;
        c.fsyncs.fetch_add(1, Ordering::Relaxed);
        c.synced_bytes.fetch_add(flushed, Ordering::Relaxed);
        Ok(flushed)
    }

    fn create_file(
        &self,
        parent: &Inode,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        let path = parent.child(name);
        let io = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .create_new(flags & libc::O_EXCL != 0)
            .mode(mode)
            .open(&path)?;
        let path_fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(&path)?;
        let inode = self.remember(path_fd)?;
        {
            let mut data = lock(&inode.data);
            if data.io.is_none() {
                if data.cache.is_none() {
                    data.cache = Some(FileCache::new(io.metadata()?.len()));
                }
                data.io = Some(io);
            }
            if flags & libc::O_TRUNC != 0 {
                let (_, cache) = data.parts();
                cache.set_size(0);
                inode.dirty.store(cache.is_dirty(), Ordering::Release);
            }
        }
        let attr = self.attr(&inode)?;
        Ok((inode, attr))
    }

    fn set_times(
        &self,
        inode: &Inode,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> io::Result<()> {
        fn spec(t: Option<TimeOrNow>) -> libc::timespec {
            match t {
                None => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(t)) => {
                    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                    libc::timespec {
                        tv_sec: d.as_secs() as libc::time_t,
                        tv_nsec: d.subsec_nanos() as libc::c_long,
                    }
                }
            }
        }
        if inode.kind == FileType::Symlink {
            return Ok(()); // No way to set a symlink's times through /proc; harmless.
        }
        let times = [spec(atime), spec(mtime)];
        let path = cstr(&proc_path(&inode.path_fd))?;
        // SAFETY: `path` is a valid NUL-terminated string and `times` has the two entries
        // utimensat reads.
        cvt(unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) })
    }

    fn setattr(&self, inode: &Inode, changes: AttrChanges) -> io::Result<FileAttr> {
        let path = proc_path(&inode.path_fd);
        if let Some(mode) = changes.mode
            && inode.kind != FileType::Symlink
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
        if changes.uid.is_some() || changes.gid.is_some() {
            std::os::unix::fs::chown(&path, changes.uid, changes.gid)?;
        }
        if let Some(size) = changes.size {
            let mut data = inode.open_data()?;
            let (_, cache) = data.parts();
            cache.set_size(size);
            inode.dirty.store(cache.is_dirty(), Ordering::Release);
        }
        if changes.atime.is_some() || changes.mtime.is_some() {
            self.set_times(inode, changes.atime, changes.mtime)?;
        }
        self.attr(inode)
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = self
            .shared
            .inode(parent)
            .and_then(|p| self.shared.lookup_child(&p, name).map_err(errno));
        match result {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if ino == INodeNo::ROOT {
            return;
        }
        let mut table = lock(&self.shared.inodes);
        if let Some(entry) = table.get_mut(&ino.0) {
            entry.lookups = entry.lookups.saturating_sub(nlookup);
            if entry.lookups == 0 && !entry.inode.dirty.load(Ordering::Acquire) {
                table.remove(&ino.0);
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self
            .shared
            .inode(ino)
            .and_then(|i| self.shared.attr(&i).map_err(errno))
        {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let changes = AttrChanges {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        let result = self
            .shared
            .inode(ino)
            .and_then(|i| self.shared.setattr(&i, changes).map_err(errno));
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let result = self.shared.inode(ino).and_then(|inode| {
            let mut buf = vec![0u8; libc::PATH_MAX as usize];
            // SAFETY: the descriptor is open for the call; `buf` is writable for its length.
            // An empty path with an O_PATH descriptor reads the symlink it refers to.
            let n = unsafe {
                libc::readlinkat(
                    inode.path_fd.as_raw_fd(),
                    c"".as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n < 0 {
                return Err(errno(io::Error::last_os_error()));
            }
            buf.truncate(n as usize);
            Ok(buf)
        });
        match result {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let result = self.shared.inode(parent).and_then(|p| {
            let path = cstr(&p.child(name)).map_err(errno)?;
            // SAFETY: `path` is a valid NUL-terminated string.
            cvt(unsafe { libc::mknod(path.as_ptr(), mode & !umask, rdev as libc::dev_t) })
                .map_err(errno)?;
            self.shared.lookup_child(&p, name).map_err(errno)
        });
        match result {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.shared.inode(parent).and_then(|p| {
            std::fs::DirBuilder::new()
                .mode(mode & !umask)
                .create(p.child(name))
                .map_err(errno)?;
            self.shared.lookup_child(&p, name).map_err(errno)
        });
        match result {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .shared
            .inode(parent)
            .and_then(|p| std::fs::remove_file(p.child(name)).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .shared
            .inode(parent)
            .and_then(|p| std::fs::remove_dir(p.child(name)).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let result = self.shared.inode(parent).and_then(|p| {
            std::os::unix::fs::symlink(target, p.child(link_name)).map_err(errno)?;
            self.shared.lookup_child(&p, link_name).map_err(errno)
        });
        match result {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = self.shared.inode(parent).and_then(|p| {
            let np = self.shared.inode(newparent)?;
            let (from, to) = (p.child(name), np.child(newname));
            if flags.is_empty() {
                return std::fs::rename(&from, &to).map_err(errno);
            }
            let (from, to) = (cstr(&from).map_err(errno)?, cstr(&to).map_err(errno)?);
            // SAFETY: both paths are valid NUL-terminated strings.
            cvt(unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    flags.bits(),
                )
            })
            .map_err(errno)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let result = self.shared.inode(ino).and_then(|inode| {
            let np = self.shared.inode(newparent)?;
            let from = cstr(&proc_path(&inode.path_fd)).map_err(errno)?;
            let to = cstr(&np.child(newname)).map_err(errno)?;
            // SAFETY: both paths are valid NUL-terminated strings. AT_SYMLINK_FOLLOW makes the
            // /proc magic link resolve to the file itself.
            cvt(unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            })
            .map_err(errno)?;
            self.shared.lookup_child(&np, newname).map_err(errno)
        });
        match result {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // No FOPEN_KEEP_CACHE: the kernel drops its page cache of the file on every open.
        match self
            .shared
            .inode(ino)
            .and_then(|i| i.open_data().map(drop).map_err(errno))
        {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = self.shared.inode(ino).and_then(|inode| {
            let mut data = inode.open_data().map_err(errno)?;
            let (io, cache) = data.parts();
            cache
                .read(offset, size, |off, buf| read_full_at(io, off, buf))
                .map_err(errno)
        });
        match result {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        bytes: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = self.shared.inode(ino).and_then(|inode| {
            let mut data = inode.open_data().map_err(errno)?;
            let (_, cache) = data.parts();
            cache.write(offset, bytes);
            inode.dirty.store(cache.is_dirty(), Ordering::Release);
            Ok(())
        });
        match result {
            Ok(()) => {
                self.shared
                    .counters
                    .written_bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                reply.written(bytes.len() as u32)
            }
            Err(e) => reply.error(e),
        }
    }

    /// close(2): nothing reaches the backing file (lazyfs semantics: only fsync persists).
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        if self.shared.injected_sync_failure() {
            return reply.error(Errno::EIO);
        }
        let result = self.shared.inode(ino).and_then(|inode| {
            let mut data = inode.open_data().map_err(errno)?;
            self.shared
                .flush(&inode, &mut data, datasync)
                .map_err(errno)
        });
        match result {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let result = self.shared.inode(ino).and_then(|inode| {
            let mut listing = vec![
                DirListing {
                    ino: inode.ino,
                    kind: FileType::Directory,
                    name: ".".into(),
                },
                DirListing {
                    ino: inode.ino,
                    kind: FileType::Directory,
                    name: "..".into(),
                },
            ];
            for entry in std::fs::read_dir(proc_path(&inode.path_fd)).map_err(errno)? {
                let entry = entry.map_err(errno)?;
                let ft = entry.file_type().map_err(errno)?;
                listing.push(DirListing {
                    ino: self
                        .shared
                        .fuse_ino(std::os::unix::fs::DirEntryExt::ino(&entry)),
                    kind: FileType::from_std(ft).unwrap_or(FileType::RegularFile),
                    name: entry.file_name(),
                });
            }
            let fh = self.shared.next_fh.fetch_add(1, Ordering::Relaxed);
            lock(&self.shared.dirs).insert(fh, listing);
            Ok(fh)
        });
        match result {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let dirs = lock(&self.shared.dirs);
        let Some(listing) = dirs.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (i, e) in listing.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(e.ino), i as u64 + 1, e.kind, &e.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.shared.dirs).remove(&fh.0);
        reply.ok();
    }

    /// Directory entries already reached the backing directory; this makes them durable there.
    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if self.shared.injected_sync_failure() {
            return reply.error(Errno::EIO);
        }
        let result = self.shared.inode(ino).and_then(|inode| {
            File::open(proc_path(&inode.path_fd))
                .and_then(|d| d.sync_all())
                .map_err(errno)
        });
        match result {
            Ok(()) => {
                self.shared
                    .counters
                    .fsyncdirs
                    .fetch_add(1, Ordering::Relaxed);
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let result = cstr(&self.shared.backing).and_then(|path| {
            // SAFETY: `st` is plain old data that statvfs fills; `path` is NUL-terminated.
            let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
            cvt(unsafe { libc::statvfs(path.as_ptr(), &mut st) })?;
            Ok(st)
        });
        match result {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    /// The daemon runs as root and does not check permissions (mount without
    /// `default_permissions`, owner-only access): every access is allowed.
    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self.shared.inode(parent).and_then(|p| {
            self.shared
                .create_file(&p, name, mode & !umask, flags)
                .map_err(errno)
        });
        match result {
            Ok((_, attr)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    /// `mode == 0` grows the (cached) size like a write of zeros; `FALLOC_FL_KEEP_SIZE` is a
    /// pure space reservation and succeeds without effect; other modes (punch hole, zero range,
    /// collapse) answer `EOPNOTSUPP`, which RocksDB tolerates.
    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode == libc::FALLOC_FL_KEEP_SIZE {
            return reply.ok();
        }
        if mode != 0 {
            return reply.error(Errno::from_i32(libc::EOPNOTSUPP));
        }
        let result = self.shared.inode(ino).and_then(|inode| {
            let mut data = inode.open_data().map_err(errno)?;
            let (_, cache) = data.parts();
            if offset + length > cache.size() {
                cache.set_size(offset + length);
            }
            inode.dirty.store(cache.is_dirty(), Ordering::Release);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// Reads `buf.len()` bytes at `offset`; a backing file shorter than expected leaves zeros.
fn read_full_at(io: &File, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match io.read_at(buf, offset) {
            Ok(0) => break,
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
