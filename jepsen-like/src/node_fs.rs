//! The nodes' data directories on `osj-lazyfs` (the lost-writes nemesis): one FUSE
//! pass-through mount per node that keeps un-fsynced writes in memory until `clear-cache`
//! drops them (see `jepsen-like/lazyfs/README.md`).
//!
//! Layout in the run's temp dir, per node N: `node-N.backing/` (the durable data),
//! `node-N/` (the mountpoint, `orderd`'s `--data-dir`) and `node-N.lazyfs.sock` (the control
//! socket); the daemon's log is `DIR/logs/lazyfs-N.log`. A mount made in the root mount
//! namespace before `ip netns exec` is visible inside the node's namespace (it copies the
//! mount table), so each daemon must be ready before its node first starts.
//!
//! Also here: finding the `osj-lazyfs` binary and `/dev/fuse` (the preflight), the per-node
//! figures the summary reports, and the cleanup of what a crashed run left (daemons still
//! serving and FUSE mounts under stale `osj-run-*` dirs).

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use osj_lazyfs::ClearReport;
use osj_lazyfs::Control;
use osj_lazyfs::Daemon;
use osj_lazyfs::DaemonConfig;
use osj_lazyfs::OnExit;
use serde::Deserialize;
use serde::Serialize;

use crate::harness_error::HarnessError;
use crate::netns::NodeId;

/// The binary's name (also what stale-process cleanup looks for in `argv[0]`).
pub const LAZYFS_BIN_NAME: &str = "osj-lazyfs";
/// The environment variable naming the binary.
pub const LAZYFS_BIN_ENV: &str = "OSJ_LAZYFS_BIN";
/// How long a daemon may take to mount and answer on its socket.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit on SIGTERM before it is SIGKILLed and detached.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stale daemons may take to die after SIGKILL.
const STALE_KILL_WAIT: Duration = Duration::from_secs(5);

/// One node's lazyfs: the daemon serving its data dir.
pub struct NodeFs {
    pub node: NodeId,
    pub backing: PathBuf,
    pub mountpoint: PathBuf,
    pub control: PathBuf,
    daemon: Daemon,
}

impl std::fmt::Debug for NodeFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeFs")
            .field("node", &self.node)
            .field("mountpoint", &self.mountpoint)
            .field("pid", &self.daemon.pid())
            .finish()
    }
}

/// Paths of node `id`'s lazyfs inside the run's temp dir `work`: (backing, mountpoint,
/// control socket). The mountpoint is the node's data dir.
pub fn paths(work: &Path, id: NodeId) -> (PathBuf, PathBuf, PathBuf) {
    (
        work.join(format!("node-{id}.backing")),
        work.join(format!("node-{id}")),
        work.join(format!("node-{id}.lazyfs.sock")),
    )
}

impl NodeFs {
    /// Creates the backing dir and the mountpoint and starts the daemon. It drops cached data
    /// when told to exit (`--on-exit drop`): teardown deletes the data anyway, so syncing it
    /// would only cost time. Call [`NodeFs::wait_ready`] before the node starts.
    pub fn spawn(
        binary: &Path,
        work: &Path,
        logs: &Path,
        id: NodeId,
    ) -> Result<NodeFs, HarnessError> {
        let (backing, mountpoint, control) = paths(work, id);
        for dir in [&backing, &mountpoint] {
            std::fs::create_dir_all(dir).map_err(HarnessError::io("create", dir))?;
        }
        let daemon = Daemon::spawn(&DaemonConfig {
            binary: binary.to_path_buf(),
            backing: backing.clone(),
            mountpoint: mountpoint.clone(),
            control: control.clone(),
            log: Some(logs.join(format!("lazyfs-{id}.log"))),
            on_exit: OnExit::Drop,
        })
        .map_err(HarnessError::io("start", binary))?;
        tracing::info!(node = id, pid = daemon.pid(), mount = %mountpoint.display(), "lazyfs started");
        Ok(NodeFs {
            node: id,
            backing,
            mountpoint,
            control,
            daemon,
        })
    }

    /// Waits (blocking, polling every 20 ms) until the mount is in the mount table and the
    /// control socket answers, or the daemon exits, or `timeout` passes.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        self.daemon
            .wait_ready(timeout)
            .map_err(|e| HarnessError::Lazyfs(format!("node {}: {e}", self.node)))
    }

    /// Stops the daemon (SIGTERM: it drops its cache and unmounts; SIGKILL and a lazy detach
    /// after a timeout) and makes sure nothing is mounted at the mountpoint any more. Returns
    /// the problems; an empty list means the mountpoint is a plain directory again.
    pub fn stop(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.daemon.stop(STOP_TIMEOUT) {
            problems.push(format!("stopping lazyfs of node {}: {e}", self.node));
        }
        match osj_lazyfs::unmount_stale(&self.mountpoint) {
            Ok(_) => {}
            Err(e) => problems.push(format!(
                "unmounting lazyfs of node {} at {}: {e}",
                self.node,
                self.mountpoint.display()
            )),
        }
        if osj_lazyfs::is_fuse_mount(&self.mountpoint).unwrap_or(true) {
            problems.push(format!(
                "still mounted after teardown: {}",
                self.mountpoint.display()
            ));
        }
        problems
    }
}

/// Runs a control request on a blocking thread (socket I/O; the daemon answers quickly, but
/// never on a runtime thread).
async fn control<T: Send + 'static>(
    socket: PathBuf,
    request: impl FnOnce(&mut Control) -> Result<T, osj_lazyfs::ControlError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(move || {
        let mut c = Control::connect(&socket).map_err(|e| e.to_string())?;
        request(&mut c).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("control task: {e}"))?
}

/// `clear-cache` on the lazyfs whose control socket is `socket`.
pub async fn clear_cache(socket: PathBuf) -> Result<ClearReport, String> {
    control(socket, Control::clear_cache).await
}

/// One node's lazyfs counters at the end of a run (`stats` on its control socket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFsStats {
    pub node: NodeId,
    /// The daemon's counters (fsyncs, bytes written / synced / dropped, clears, ...).
    #[serde(flatten)]
    pub stats: osj_lazyfs::Stats,
    /// Set when the daemon could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The counters of node `node`'s lazyfs at `socket`.
pub async fn stats(node: NodeId, socket: PathBuf) -> NodeFsStats {
    match control(socket, Control::stats).await {
        Ok(stats) => NodeFsStats {
            node,
            stats,
            error: None,
        },
        Err(e) => NodeFsStats {
            node,
            error: Some(e),
            ..NodeFsStats::default()
        },
    }
}

/// The `osj-lazyfs` binary to run: `explicit`, else `$OSJ_LAZYFS_BIN`, else `osj-lazyfs` beside
/// this executable (`cargo build --workspace --bins` puts both in the target dir).
pub fn resolve_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os(LAZYFS_BIN_ENV).filter(|p| !p.is_empty()) {
            candidates.push(PathBuf::from(p));
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            candidates.push(dir.join(LAZYFS_BIN_NAME));
        }
    }
    for c in &candidates {
        if c.is_file() {
            return std::path::absolute(c).map_err(|e| format!("{}: {e}", c.display()));
        }
    }
    Err(format!(
        "the {LAZYFS_BIN_NAME} binary was not found (tried {}); build it with `cargo build \
         --workspace --bins` (or `-p osj-lazyfs`), or pass --lazyfs-bin / set {LAZYFS_BIN_ENV}",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// What the lost-writes nemesis needs besides root: the `osj-lazyfs` binary and the FUSE
/// device. Returns the binary, or why it cannot run.
pub fn preflight(explicit: Option<&Path>) -> Result<PathBuf, String> {
    use std::os::unix::fs::FileTypeExt;
    let binary = resolve_binary(explicit)?;
    match std::fs::metadata("/dev/fuse") {
        Ok(m) if m.file_type().is_char_device() => Ok(binary),
        Ok(_) => Err("/dev/fuse is not a character device".into()),
        Err(e) => Err(format!(
            "/dev/fuse is missing ({e}); load the `fuse` kernel module (`modprobe fuse`) and \
             install Debian's `fuse3`"
        )),
    }
}

/// FUSE mount points (unescaped) under `root/<prefix>*` in a `/proc/self/mountinfo` text,
/// deepest first (so nested mounts go before their parents).
pub fn fuse_mounts_under(mountinfo: &str, root: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if !right.split(' ').next()?.starts_with("fuse") {
                return None;
            }
            let point = PathBuf::from(unescape(left.split(' ').nth(4)?));
            let rel = point.strip_prefix(root).ok()?;
            let first = rel.components().next()?.as_os_str().to_str()?;
            first.starts_with(prefix).then_some(point)
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a process's `argv` (NUL-separated `/proc/PID/cmdline`) is an `osj-lazyfs` serving
/// a mountpoint under `root/<prefix>*`: a daemon of a (crashed) harness run.
pub fn is_run_daemon(cmdline: &[u8], root: &Path, prefix: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let Some(argv0) = args.first().and_then(|a| std::str::from_utf8(a).ok()) else {
        return false;
    };
    if Path::new(argv0).file_name().and_then(|n| n.to_str()) != Some(LAZYFS_BIN_NAME) {
        return false;
    }
    args.windows(2).any(|w| {
        w[0] == b"--mount"
            && std::str::from_utf8(w[1]).is_ok_and(|m| {
                Path::new(m)
                    .strip_prefix(root)
                    .ok()
                    .and_then(|rel| rel.components().next())
                    .and_then(|c| c.as_os_str().to_str())
                    .is_some_and(|first| first.starts_with(prefix))
            })
    })
}

/// Removes what a crashed run's lazyfs left: SIGKILLs `osj-lazyfs` processes serving a mount
/// under `root/<prefix>*` (waiting until they are gone), then detaches every FUSE mount
/// there. Call only while holding the run lock, before removing the stale dirs (a directory
/// tree with a mount inside cannot be removed, and a live one would be deleted through it).
/// Returns what it removed.
pub fn stale_cleanup(root: &Path, prefix: &str) -> Vec<String> {
    let mut removed = Vec::new();
    let me = std::process::id();
    let mut killed = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == me {
                continue;
            }
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            if is_run_daemon(&cmdline, root, prefix)
                && nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .is_ok()
            {
                removed.push(format!("{LAZYFS_BIN_NAME} process {pid}"));
                killed.push(pid);
            }
        }
    }
    let deadline = Instant::now() + STALE_KILL_WAIT;
    // A killed process disappears from /proc once reaped (by its parent, or by init when the
    // harness that started it is gone); a zombie's cmdline is empty, which is as good.
    while Instant::now() < deadline
        && killed
            .iter()
            .any(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") {
        for point in fuse_mounts_under(&mountinfo, root, prefix) {
            match osj_lazyfs::unmount_stale(&point) {
                Ok(true) => removed.push(format!("FUSE mount {}", point.display())),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(mount = %point.display(), error = %e, "cannot detach a stale FUSE mount")
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 0:50 / /tmp/osj-run-abc/node-1 rw,nosuid,nodev shared:60 - fuse.osj-lazyfs osj-lazyfs rw,user_id=0
91 22 0:51 / /tmp/osj-run-abc/node-2 rw,nosuid,nodev shared:61 - fuse.osj-lazyfs osj-lazyfs rw,user_id=0
92 22 0:52 / /tmp/other/node-1 rw shared:62 - fuse.sshfs x rw
93 22 0:53 / /tmp/osj-run-abc rw shared:63 - tmpfs tmpfs rw
94 22 0:54 / /tmp/osj-run-x\\040y/node-1 rw shared:64 - fuse.osj-lazyfs osj-lazyfs rw
95 90 0:55 / /tmp/osj-run-abc/node-1/deep rw shared:65 - fuse osj-lazyfs rw
";

    #[test]
    fn finds_fuse_mounts_under_stale_run_dirs_only_deepest_first() {
        let found = fuse_mounts_under(MOUNTINFO, Path::new("/tmp"), "osj-run-");
        assert_eq!(
            found,
            [
                PathBuf::from("/tmp/osj-run-abc/node-1/deep"),
                PathBuf::from("/tmp/osj-run-abc/node-1"),
                PathBuf::from("/tmp/osj-run-abc/node-2"),
                PathBuf::from("/tmp/osj-run-x y/node-1"),
            ]
        );
        assert!(fuse_mounts_under(MOUNTINFO, Path::new("/var/tmp"), "osj-run-").is_empty());
    }

    #[test]
    fn recognises_run_daemons_by_binary_and_mountpoint() {
        let root = Path::new("/tmp");
        let daemon = b"/t/debug/osj-lazyfs\0--backing\0/tmp/osj-run-a/node-1.backing\0--mount\0/tmp/osj-run-a/node-1\0--control\0/tmp/osj-run-a/node-1.lazyfs.sock\0";
        assert!(is_run_daemon(daemon, root, "osj-run-"));
        let elsewhere = b"osj-lazyfs\0--mount\0/var/tmp/n1\0";
        assert!(!is_run_daemon(elsewhere, root, "osj-run-"));
        let other_program = b"/bin/cat\0--mount\0/tmp/osj-run-a/node-1\0";
        assert!(!is_run_daemon(other_program, root, "osj-run-"));
        assert!(!is_run_daemon(b"", root, "osj-run-"));
    }

    #[test]
    fn node_paths_put_the_data_dir_on_the_mount() {
        let (backing, mount, sock) = paths(Path::new("/tmp/osj-run-a"), 3);
        assert_eq!(backing, Path::new("/tmp/osj-run-a/node-3.backing"));
        assert_eq!(mount, Path::new("/tmp/osj-run-a/node-3"));
        assert_eq!(sock, Path::new("/tmp/osj-run-a/node-3.lazyfs.sock"));
    }

    #[test]
    fn an_explicit_binary_that_does_not_exist_is_refused_with_how_to_build_it() {
        let e = resolve_binary(Some(Path::new("/nonexistent/osj-lazyfs"))).unwrap_err();
        assert!(
            e.contains("/nonexistent/osj-lazyfs") && e.contains("--lazyfs-bin"),
            "{e}"
        );
    }
}
