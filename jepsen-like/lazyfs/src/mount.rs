//! Mounting a [`LazyFs`] in this process, and the mount-table helpers the harness needs:
//! is a path a FUSE mount, detach a stale one, wait until a mount is ready.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fuser::{Config, MountOption, Session, SessionUnmounter};

use crate::control::{Control, ControlError};
use crate::fs::{FsHandle, LazyFs};

/// A lazyfs mounted by this process and served by its own threads.
pub struct Mounted {
    mountpoint: PathBuf,
    handle: FsHandle,
    unmounter: SessionUnmounter,
    session: JoinHandle<io::Result<()>>,
}

impl Mounted {
    /// Mounts a lazyfs over `backing` at `mountpoint` (both existing directories) and serves it
    /// with `threads` threads. Returns once the kernel handshake is done: the mount is usable.
    /// `on_end` runs on the session thread when the session ends for any reason (unmounted,
    /// connection aborted, error).
    ///
    /// Mounts with mount(2) as root, else through `fusermount3` (Debian package `fuse3`).
    pub fn start(
        backing: &Path,
        mountpoint: &Path,
        threads: usize,
        on_end: impl FnOnce(&io::Result<()>) + Send + 'static,
    ) -> io::Result<Mounted> {
        let fs = LazyFs::new(backing)?;
        let handle = fs.handle();
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("osj-lazyfs".into()),
            MountOption::Subtype("osj-lazyfs".into()),
        ];
        config.n_threads = Some(threads.max(1));
        config.clone_fd = threads > 1;
        let mut session = Session::new(fs, mountpoint, &config)?;
        handle.set_notifier(session.notifier());
        let unmounter = session.unmount_callable();
        let session = std::thread::Builder::new()
            .name("lazyfs-session".into())
            .spawn(move || {
                let result = session.run();
                on_end(&result);
                result
            })?;
        Ok(Mounted {
            mountpoint: mountpoint.to_path_buf(),
            handle,
            unmounter,
            session,
        })
    }

    /// The cache controls of the mounted filesystem.
    pub fn handle(&self) -> FsHandle {
        self.handle.clone()
    }

    /// Unmounts. If files are still open (`EBUSY`) the mount is detached lazily instead
    /// (`MNT_DETACH`): it disappears from the namespace now and the kernel ends the session
    /// when the last file closes. Waits up to `wait` for the session threads to end.
    pub fn unmount(mut self, wait: Duration) -> io::Result<()> {
        if self.unmounter.unmount().is_err() {
            detach(&self.mountpoint)?;
        }
        let deadline = Instant::now() + wait;
        while !self.session.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// Lazily detaches whatever is mounted at `mountpoint` (`umount2(MNT_DETACH)`).
pub fn detach(mountpoint: &Path) -> io::Result<()> {
    let path = CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `path` is a valid NUL-terminated string.
    if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The absolute form of `path` without touching `path` itself (a dead FUSE mount answers
/// `ENOTCONN` to any stat), as it appears in `/proc/self/mountinfo`.
fn absolute(path: &Path) -> io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok(parent.canonicalize()?.join(name)),
        _ => Ok(path),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// True when a FUSE filesystem (live or dead) is mounted exactly at `mountpoint`.
pub fn is_fuse_mount(mountpoint: &Path) -> io::Result<bool> {
    let target = absolute(mountpoint)?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mountinfo.lines().any(|line| {
        let mut halves = line.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            return false;
        };
        let point = left.split(' ').nth(4).map(unescape_mountinfo);
        let fstype = right.split(' ').next().unwrap_or("");
        point.as_deref() == Some(target.as_os_str().as_bytes()) && fstype.starts_with("fuse")
    }))
}

/// Removes a FUSE mount a crashed run left at `mountpoint` (detached lazily; `fusermount3 -u
/// -z` if the caller may not unmount). Returns whether there was one. Repeats while mounts are
/// stacked there (at most 16).
pub fn unmount_stale(mountpoint: &Path) -> io::Result<bool> {
    let mut found = false;
    for _ in 0..16 {
        if !is_fuse_mount(mountpoint)? {
            return Ok(found);
        }
        found = true;
        let target = absolute(mountpoint)?;
        if let Err(e) = detach(&target) {
            let status = std::process::Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&target)
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                return Err(e);
            }
        }
    }
    Ok(found)
}

/// Why [`wait_ready`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    /// Returned when the deadline passed; `last` says what was still missing.
    #[error("lazyfs not ready after {waited:?}: {last}")]
    Timeout { waited: Duration, last: String },
    /// Returned by [`crate::Daemon::wait_ready`] when the daemon exited before it was ready.
    #[error("lazyfs exited before it was ready: {0}")]
    Exited(std::process::ExitStatus),
    /// Returned when checking the daemon's state failed.
    #[error("checking lazyfs readiness: {0}")]
    Io(#[from] io::Error),
}

/// One readiness check: the mount is in the mount table and the control socket answers.
pub(crate) fn check_ready(mountpoint: &Path, control: &Path) -> Result<(), String> {
    match is_fuse_mount(mountpoint) {
        Ok(true) => {}
        Ok(false) => return Err(format!("{} is not a FUSE mount yet", mountpoint.display())),
        Err(e) => return Err(format!("reading the mount table: {e}")),
    }
    Control::connect(control)
        .and_then(|mut c| c.stats())
        .map(drop)
        .map_err(|e: ControlError| format!("control socket {}: {e}", control.display()))
}

/// Waits until a lazyfs (e.g. an `osj-lazyfs` process) serves `mountpoint` and answers on
/// `control`, polling until `timeout` passes.
pub fn wait_ready(mountpoint: &Path, control: &Path, timeout: Duration) -> Result<(), ReadyError> {
    poll_ready(mountpoint, control, timeout, || Ok(()))
}

/// [`wait_ready`], calling `still_starting` before each check: its error (e.g. the daemon
/// exited) ends the wait.
pub(crate) fn poll_ready(
    mountpoint: &Path,
    control: &Path,
    timeout: Duration,
    mut still_starting: impl FnMut() -> Result<(), ReadyError>,
) -> Result<(), ReadyError> {
    let start = Instant::now();
    loop {
        still_starting()?;
        let last = match check_ready(mountpoint, control) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            return Err(ReadyError::Timeout {
                waited: start.elapsed(),
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b"), b"/tmp/a b");
        assert_eq!(unescape_mountinfo(r"/tmp/x\"), b"/tmp/x\\");
        assert_eq!(unescape_mountinfo("/plain"), b"/plain");
    }
}
