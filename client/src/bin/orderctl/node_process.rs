//! Starting, probing and signalling `orderd` processes of a playground.

use std::fs::File;
use std::fs::OpenOptions;
use std::io::Read;
use std::io::Seek;
use std::io::SeekFrom;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::manifest::NodeEntry;

/// Starts `orderd` for `node` in the background: its own process group (so the terminal's
/// Ctrl-C does not reach it and it outlives orderctl), stdin closed, stdout and stderr appended
/// to the node's log. Creates the data directory if needed.
pub fn spawn_node(orderd: &Path, config: &Path, node: &NodeEntry) -> std::io::Result<Child> {
    std::fs::create_dir_all(&node.data_dir)?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.log)?;
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    writeln!(
        log,
        "=== orderctl: starting node {} (unix time {since_epoch}) ===",
        node.id
    )?;
    let stderr = log.try_clone()?;
    orderd_command(orderd, config, node)
        .arg("--log-format")
        .arg("text")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .process_group(0)
        .spawn()
}

/// `orderd --config CONFIG --node-id N --data-dir DIR` for `node`.
fn orderd_command(orderd: &Path, config: &Path, node: &NodeEntry) -> Command {
    let mut cmd = Command::new(orderd);
    cmd.arg("--config")
        .arg(config)
        .arg("--node-id")
        .arg(node.id.to_string())
        .arg("--data-dir")
        .arg(&node.data_dir);
    cmd
}

/// Runs `orderd --restore-from from` for `node` (in the foreground) to build its data
/// directory of a new cluster from a backup.
pub fn restore_node(
    orderd: &Path,
    config: &Path,
    node: &NodeEntry,
    from: &Path,
) -> Result<(), crate::playground::PlaygroundError> {
    let out = orderd_command(orderd, config, node)
        .arg("--restore-from")
        .arg(from)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| crate::playground::PlaygroundError::Spawn {
            orderd: orderd.to_path_buf(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    Err(crate::playground::PlaygroundError::Restore {
        id: node.id,
        from: from.to_path_buf(),
        status: out.status.to_string(),
        output: text.lines().last().unwrap_or_default().to_string(),
    })
}

/// Whether `pid` is a live process that is this node's `orderd` (pid 0 is never alive).
///
/// On Linux a zombie (killed but not yet reaped by its new parent) counts as dead, and a pid
/// whose command line does not mention the node's data directory is a recycled pid, not ours.
pub fn is_running(node: &NodeEntry) -> bool {
    if node.pid == 0 {
        return false;
    }
    let proc_dir = Path::new("/proc").join(node.pid.to_string());
    if Path::new("/proc/self").exists() {
        let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // Format: `pid (comm) S ...`; comm may contain ')' so take the last one.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, None | Some('Z') | Some('X')) {
            return false;
        }
        let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        let data_dir = node.data_dir.to_string_lossy();
        return String::from_utf8_lossy(&cmdline).contains(data_dir.as_ref());
    }
    let Ok(pid) = i32::try_from(node.pid) else {
        return false;
    };
    kill(Pid::from_raw(pid), None).is_ok()
}

/// Sends `signal` to `pid`. A process that is already gone is not an error.
pub fn send_signal(pid: u32, signal: Signal) -> std::io::Result<()> {
    let pid =
        i32::try_from(pid).map_err(|_| std::io::Error::other(format!("pid {pid} out of range")))?;
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// The last `lines` lines of the file at `path` (reads at most its last 64 KiB), or a note
/// saying why it could not be read.
pub fn tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tail(&p, 2), "c\nd");
        assert_eq!(tail(&p, 10), "a\nb\nc\nd");
        assert!(tail(&dir.path().join("missing"), 2).contains("cannot read"));
    }

    #[test]
    fn own_process_is_running_only_with_matching_command_line() {
        let me = std::process::id();
        let exe = std::env::current_exe().unwrap();
        let node = |data_dir: &Path| NodeEntry {
            id: 1,
            grpc_addr: String::new(),
            status_addr: String::new(),
            pid: me,
            data_dir: data_dir.to_path_buf(),
            log: data_dir.join("log"),
        };
        // Our own command line contains the test binary's path.
        assert!(is_running(&node(&exe)));
        assert!(!is_running(&node(Path::new("/nonexistent/node-1"))));
        assert!(!is_running(&NodeEntry {
            pid: 0,
            ..node(&exe)
        }));
    }
}
