//! End-to-end scenarios: a real `osj-lazyfs` process mounted over a temp dir, driven with plain
//! std file operations through the mount, checked through the mount and on the backing dir.
//!
//! They need root and `/dev/fuse`; without them each test prints `SKIPPED: ...` to stderr
//! (uncaptured) and returns.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use osj_lazyfs::{Daemon, DaemonConfig, OnExit};

const READY: Duration = Duration::from_secs(20);

/// A mounted lazyfs over a fresh temp dir. Field order matters: the daemon (and its mount)
/// goes before the temp dir is deleted.
struct Fixture {
    daemon: Daemon,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn backing(&self, name: &str) -> PathBuf {
        self.dir.path().join("backing").join(name)
    }

    fn mnt(&self, name: &str) -> PathBuf {
        self.dir.path().join("mnt").join(name)
    }

    fn clear_cache(&self) -> osj_lazyfs::ClearReport {
        self.daemon
            .control()
            .and_then(|mut c| c.clear_cache())
            .expect("clear-cache over the control socket")
    }

    fn stats(&self) -> osj_lazyfs::Stats {
        self.daemon
            .control()
            .and_then(|mut c| c.stats())
            .expect("stats over the control socket")
    }
}

/// Why these tests cannot run here, if they cannot.
fn missing_prerequisite() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (mounting FUSE needs root here)");
    }
    if OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_err()
    {
        return Some("/dev/fuse missing or not openable");
    }
    None
}

fn start(on_exit: OnExit) -> Option<Fixture> {
    if let Some(why) = missing_prerequisite() {
        // Written straight to fd 2 so the test harness's capture does not hide it.
        let _ =
            std::io::stderr().write_all(format!("SKIPPED: osj-lazyfs test: {why}\n").as_bytes());
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("osj-lazyfs-test-")
        .tempdir()
        .expect("create a temp dir");
    for sub in ["backing", "mnt"] {
        fs::create_dir(dir.path().join(sub)).expect("create a fixture dir");
    }
    let config = DaemonConfig {
        binary: env!("CARGO_BIN_EXE_osj-lazyfs").into(),
        backing: dir.path().join("backing"),
        mountpoint: dir.path().join("mnt"),
        control: dir.path().join("control.sock"),
        log: Some(dir.path().join("lazyfs.log")),
        on_exit,
    };
    let mut daemon = Daemon::spawn(&config).expect("spawn osj-lazyfs");
    if let Err(e) = daemon.wait_ready(READY) {
        let log = fs::read_to_string(dir.path().join("lazyfs.log")).unwrap_or_default();
        panic!("osj-lazyfs did not become ready: {e}\nlog:\n{log}");
    }
    Some(Fixture { daemon, dir })
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A write that was never fsynced is visible through the mount (content and size) but absent
/// from the backing file; clear-cache drops it and the file reads as its backing file again.
#[test]
fn unsynced_write_is_visible_then_dropped() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };

    // Phase 1: write without fsync.
    fs::write(fx.mnt("a"), b"hello lazyfs").expect("write through the mount");
    assert_eq!(read(&fx.mnt("a")), b"hello lazyfs");
    assert_eq!(fs::metadata(fx.mnt("a")).expect("stat").len(), 12);
    assert_eq!(read(&fx.backing("a")), b"", "close must not persist data");
    let stats = fx.stats();
    assert_eq!((stats.cached_bytes, stats.dirty_files), (12, 1));

    // Phase 2: power loss.
    let report = fx.clear_cache();
    assert_eq!((report.files, report.bytes), (1, 12));
    assert_eq!(read(&fx.mnt("a")), b"", "dropped data must be gone");
    assert_eq!(fs::metadata(fx.mnt("a")).expect("stat").len(), 0);
    assert_eq!(fx.stats().dropped_bytes, 12);
}

/// write + fsync + more writes (append and overwrite) + clear-cache: exactly the fsynced
/// content survives, through the mount and on the backing file.
#[test]
fn only_the_fsynced_content_survives() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };
    let synced: Vec<u8> = (0..100u8).collect();

    let mut f = File::create(fx.mnt("f")).expect("create");
    f.write_all(&synced).expect("write");
    f.sync_all().expect("fsync");
    assert_eq!(
        read(&fx.backing("f")),
        synced,
        "fsync must reach the backing file"
    );
    f.write_all(&[0xEE; 50]).expect("append");
    f.write_all_at(&[0xAA; 10], 0).expect("overwrite");
    drop(f);
    let mut expected_before = synced.clone();
    expected_before[..10].fill(0xAA);
    expected_before.extend([0xEE; 50]);
    assert_eq!(read(&fx.mnt("f")), expected_before);

    fx.clear_cache();
    assert_eq!(read(&fx.mnt("f")), synced);
    assert_eq!(read(&fx.backing("f")), synced);
}

/// `fail-fsync`: fsync and fdatasync of files and directories fail with EIO and write
/// nothing (the data stays cached, so clear-cache drops it); `heal-fsync` makes them work again.
#[test]
fn failing_fsync_reports_eio_and_persists_nothing() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };
    let mut control = fx.daemon.control().expect("control socket");
    let mut f = File::create(fx.mnt("w")).expect("create");
    f.write_all(b"synced").expect("write");
    f.sync_all().expect("fsync while healthy");

    assert!(control.fail_fsync(true).expect("fail-fsync"));
    f.write_all(b" lost").expect("writes still succeed");
    let err = f.sync_data().expect_err("fdatasync must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let err = f.sync_all().expect_err("fsync must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let dir = File::open(fx.mnt("")).expect("open the mount root");
    let err = dir.sync_all().expect_err("directory fsync must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert_eq!(
        read(&fx.backing("w")),
        b"synced",
        "a failed sync writes nothing"
    );
    // The control socket serves one connection at a time: this one, held open.
    let stats = control.stats().expect("stats");
    assert_eq!(stats.failed_fsyncs, 3);
    assert_eq!(stats.cached_bytes, 5);

    control.clear_cache().expect("clear-cache");
    assert_eq!(read(&fx.mnt("w")), b"synced");

    assert!(!control.fail_fsync(false).expect("heal-fsync"));
    let mut f = OpenOptions::new()
        .append(true)
        .open(fx.mnt("w"))
        .expect("reopen");
    f.write_all(b" kept").expect("write");
    f.sync_all().expect("fsync after healing");
    assert_eq!(read(&fx.backing("w")), b"synced kept");
}

/// A truncation is cached too: it shows through the mount at once, and clear-cache undoes it.
#[test]
fn truncation_is_cached_until_fsync() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };
    let f = File::create(fx.mnt("t")).expect("create");
    f.write_all_at(&[7; 4096], 0).expect("write");
    f.sync_data().expect("fdatasync");

    f.set_len(10).expect("truncate");
    assert_eq!(fs::metadata(fx.mnt("t")).expect("stat").len(), 10);
    assert_eq!(fs::metadata(fx.backing("t")).expect("stat").len(), 4096);
    f.set_len(20).expect("extend");
    let mut expected = vec![7u8; 10];
    expected.extend([0; 10]);
    assert_eq!(
        read(&fx.mnt("t")),
        expected,
        "bytes past a truncation read as zeros"
    );
    drop(f);

    fx.clear_cache();
    assert_eq!(read(&fx.mnt("t")), vec![7u8; 4096]);
}

/// Metadata operations pass straight through to the backing directory: mkdir, rename (the
/// MANIFEST/CURRENT pattern), unlink, hard link, symlink; readdir lists what is there; a
/// directory fsync is counted.
#[test]
fn metadata_operations_pass_through() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };

    fs::create_dir(fx.mnt("db")).expect("mkdir");
    assert!(fx.backing("db").is_dir());

    // CURRENT.dbtmp -> CURRENT, as RocksDB does it.
    let mut tmp = File::create(fx.mnt("db/CURRENT.dbtmp")).expect("create");
    tmp.write_all(b"MANIFEST-000001\n").expect("write");
    tmp.sync_data().expect("fdatasync");
    drop(tmp);
    fs::rename(fx.mnt("db/CURRENT.dbtmp"), fx.mnt("db/CURRENT")).expect("rename");
    File::open(fx.mnt("db"))
        .and_then(|d| d.sync_all())
        .expect("fsync the directory");
    assert!(!fx.backing("db/CURRENT.dbtmp").exists());
    assert_eq!(read(&fx.backing("db/CURRENT")), b"MANIFEST-000001\n");
    assert_eq!(fx.stats().fsyncdirs, 1);

    fs::hard_link(fx.mnt("db/CURRENT"), fx.mnt("db/CURRENT.link")).expect("link");
    std::os::unix::fs::symlink("CURRENT", fx.mnt("db/sym")).expect("symlink");
    assert_eq!(read(&fx.mnt("db/sym")), b"MANIFEST-000001\n");
    assert_eq!(
        fs::read_link(fx.mnt("db/sym")).expect("readlink"),
        PathBuf::from("CURRENT")
    );
    let mut names: Vec<String> = fs::read_dir(fx.mnt("db"))
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(names, ["CURRENT", "CURRENT.link", "sym"]);

    fs::remove_file(fx.mnt("db/CURRENT.link")).expect("unlink");
    fs::remove_file(fx.mnt("db/sym")).expect("unlink");
    assert!(!fx.backing("db/CURRENT.link").exists());
    fs::remove_file(fx.mnt("db/CURRENT")).expect("unlink");
    fs::remove_dir(fx.mnt("db")).expect("rmdir");
    assert!(!fx.backing("db").exists());
}

/// A WAL-shaped workload: append length-prefixed records, fdatasync after some of them; after
/// clear-cache exactly the records up to the last fdatasync survive, intact. The writer keeps
/// its file open across the clear (like a process killed mid-write).
#[test]
fn wal_keeps_exactly_the_synced_records() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };
    let mut wal = OpenOptions::new()
        .create(true)
        .append(true)
        .open(fx.mnt("000001.log"))
        .expect("open the WAL");
    let record = |i: u32| -> Vec<u8> {
        let body = vec![(i % 251) as u8; 100 + (i as usize * 37) % 3000];
        let mut r = (body.len() as u32).to_le_bytes().to_vec();
        r.extend(i.to_le_bytes());
        r.extend(body);
        r
    };
    let mut synced_records = 0;
    for i in 0..205u32 {
        wal.write_all(&record(i)).expect("append a record");
        if i % 7 == 3 {
            wal.sync_data().expect("fdatasync");
            synced_records = i + 1;
        }
    }
    assert!(fx.stats().cached_bytes > 0, "the tail must still be cached");

    fx.clear_cache();
    drop(wal);

    let mut log = Vec::new();
    File::open(fx.mnt("000001.log"))
        .and_then(|mut f| f.read_to_end(&mut log))
        .expect("read the WAL back");
    let mut at = 0;
    let mut survived = 0;
    while at < log.len() {
        let len = u32::from_le_bytes(log[at..at + 4].try_into().expect("4 bytes")) as usize;
        let expected = record(survived);
        assert_eq!(
            &log[at..at + 8 + len],
            &expected[..],
            "record {survived} corrupt"
        );
        at += 8 + len;
        survived += 1;
    }
    assert_eq!(survived, synced_records);
    assert_eq!(read(&fx.backing("000001.log")), log);
}

/// POSIX record locks and flock work on the mount (RocksDB locks its LOCK file with fcntl);
/// fallocate with KEEP_SIZE succeeds (RocksDB preallocates with it).
#[test]
fn locks_and_fallocate_work() {
    let Some(fx) = start(OnExit::Sync) else {
        return;
    };
    let f = File::create(fx.mnt("LOCK")).expect("create");
    // SAFETY: `lk` is a plain struct fcntl reads; the descriptor is open.
    let rc = unsafe {
        let mut lk: libc::flock = std::mem::zeroed();
        lk.l_type = libc::F_WRLCK as libc::c_short;
        lk.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &lk)
    };
    assert_eq!(rc, 0, "fcntl F_SETLK: {}", std::io::Error::last_os_error());
    // SAFETY: flock on an open descriptor.
    assert_eq!(
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    // SAFETY: fallocate on an open descriptor.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, 1 << 20) };
    assert_eq!(
        rc,
        0,
        "fallocate KEEP_SIZE: {}",
        std::io::Error::last_os_error()
    );
    assert_eq!(f.metadata().expect("stat").len(), 0);
}

/// `sync` persists everything; SIGTERM with `--on-exit sync` persists too and unmounts.
#[test]
fn sync_and_clean_exit_persist_everything() {
    let Some(mut fx) = start(OnExit::Sync) else {
        return;
    };
    fs::write(fx.mnt("s1"), b"one").expect("write");
    let report = fx
        .daemon
        .control()
        .and_then(|mut c| c.sync())
        .expect("sync");
    assert_eq!((report.files, report.bytes), (1, 3));
    assert_eq!(read(&fx.backing("s1")), b"one");

    fs::write(fx.mnt("s2"), b"two").expect("write");
    fx.daemon.stop(Duration::from_secs(10)).expect("stop");
    assert!(!osj_lazyfs::is_fuse_mount(&fx.dir.path().join("mnt")).expect("mountinfo"));
    assert_eq!(read(&fx.backing("s2")), b"two");
}

/// SIGKILL of the filesystem process loses the cache, and `kill` removes the dead mount (the
/// stale-mount cleanup a crashed run needs).
#[test]
fn killed_daemon_loses_cache_and_its_mount_is_cleaned() {
    let Some(mut fx) = start(OnExit::Sync) else {
        return;
    };
    fs::write(fx.mnt("k"), b"lost").expect("write");
    fx.daemon.kill().expect("kill");
    assert!(!osj_lazyfs::is_fuse_mount(&fx.dir.path().join("mnt")).expect("mountinfo"));
    assert_eq!(read(&fx.backing("k")), b"");
}
