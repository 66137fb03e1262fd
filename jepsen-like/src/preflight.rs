//! What a run needs from the machine before it touches anything: privileges, the `ip` and
//! `iptables` programs, optionally libfaketime, and the machine-wide harness lock.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use nix::fcntl::Flock;
use nix::fcntl::FlockArg;

use crate::harness_error::HarnessError;

/// Capability bits (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// Directories searched besides `PATH` (non-root shells often lack the sbin directories).
const EXTRA_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Where Debian's `faketime`/`libfaketime` packages put the preload library.
const FAKETIME_LIBS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
];

/// The programs a run uses, resolved to absolute paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub ip: PathBuf,
    pub iptables: PathBuf,
    /// libfaketime's preload library, when installed (the clock nemesis needs it).
    pub faketime_lib: Option<PathBuf>,
}

/// Whether this process may create namespaces, links and iptables rules: root, or both
/// CAP_NET_ADMIN and CAP_SYS_ADMIN (`ip netns add` mounts) in the effective set.
pub fn is_privileged() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| effective_caps(&s))
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0 && caps & (1 << CAP_SYS_ADMIN) != 0)
}

/// The `CapEff:` bitmask of a `/proc/<pid>/status` text.
fn effective_caps(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Fails with [`HarnessError::NotPrivileged`] unless [`is_privileged`].
pub fn require_privileges() -> Result<(), HarnessError> {
    if is_privileged() {
        Ok(())
    } else {
        Err(HarnessError::NotPrivileged)
    }
}

/// Finds `name` in `PATH` and the sbin/bin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Resolves the tools a run needs; fails with [`HarnessError::MissingTool`] naming the first
/// one missing and the Debian package that has it.
pub fn find_tools() -> Result<Tools, HarnessError> {
    let ip = find_program("ip").ok_or(HarnessError::MissingTool {
        tool: "ip",
        hint: "install Debian's `iproute2`",
    })?;
    let iptables = find_program("iptables").ok_or(HarnessError::MissingTool {
        tool: "iptables",
        hint: "install Debian's `iptables`",
    })?;
    let faketime_lib = FAKETIME_LIBS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    Ok(Tools {
        ip,
        iptables,
        faketime_lib,
    })
}

/// The machine-wide lock every run holds while its network exists: runs share the `osj-*`
/// names, and the stale-state cleanup at start would destroy a concurrent run's network.
/// Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RunLock {
    _lock: Flock<File>,
}

/// The lock file's path.
pub fn lock_path() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    let dir = if run_lock.is_dir() {
        run_lock.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join("osj-jepsen-like.lock")
}

impl RunLock {
    /// Takes the lock without waiting; [`HarnessError::Busy`] when another run holds it.
    pub fn acquire() -> Result<RunLock, HarnessError> {
        let path = lock_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(HarnessError::io("open", &path))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                // Best effort: the holder's pid only improves the Busy message of others.
                let _ = lock.set_len(0);
                let _ = writeln!(&mut *lock, "pid {}", std::process::id());
                Ok(RunLock { _lock: lock })
            }
            Err((_, _errno)) => {
                let holder = std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                Err(HarnessError::Busy {
                    lock: path,
                    holder: if holder.is_empty() {
                        "unknown pid".into()
                    } else {
                        holder
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_effective_capabilities() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000201000\n";
        let caps = effective_caps(status).unwrap();
        assert_ne!(caps & (1 << CAP_NET_ADMIN), 0);
        assert_ne!(caps & (1 << CAP_SYS_ADMIN), 0);
        assert_eq!(effective_caps("Name:\tx\n"), None);
    }

    #[test]
    fn finds_a_program_that_exists_and_not_one_that_does_not() {
        assert!(find_program("sh").is_some());
        assert!(find_program("osj-no-such-program").is_none());
    }
}
