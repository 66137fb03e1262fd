//! [`HarnessError`]: why a run could not be carried out (as opposed to a checker verdict).
//! Every harness error maps to exit code 2 ([`crate::EXIT_UNKNOWN`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::HistoryError;

/// A run that could not be carried out. The cluster is torn down before it is returned.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Returned by the preflight when the process may not create namespaces, links and
    /// iptables rules.
    #[error(
        "jepsen-like needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces, veth pairs and iptables rules; run it as root (e.g. `sudo`)"
    )]
    NotPrivileged,
    /// Returned by the preflight when a required program is not installed.
    #[error("{tool} not found (looked in PATH, /usr/sbin, /sbin); {hint}")]
    MissingTool {
        tool: &'static str,
        hint: &'static str,
    },
    /// Another run holds the harness lock: both would use the same namespaces and bridge.
    #[error(
        "another jepsen-like run is active ({holder}; lock {}); runs share the osj-* network names, so only one may run at a time",
        .lock.display()
    )]
    Busy { lock: PathBuf, holder: String },
    /// A setup or fault command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "orderd binary not found (tried {tried}); build it with `cargo build --bins`, or pass --orderd / set ORDERD_BIN"
    )]
    OrderdNotFound { tried: String },
    /// An `orderd` process ended while the harness waited for it.
    #[error("node {id} exited ({status}) before it was ready; its log {} ends with:\n{tail}", .log.display())]
    NodeExited {
        id: u64,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// The cluster did not become ready in time.
    #[error("cluster not ready after {}s: {waiting_for}", .waited.as_secs())]
    NotReady {
        waited: Duration,
        waiting_for: String,
    },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The recorder refused an event: a harness bug (each worker completes only its own open
    /// invocation).
    #[error("the recorder refused an op (harness bug): {0}")]
    Recorder(#[from] HistoryError),
    /// A worker or nemesis task panicked or was cancelled.
    #[error("a harness task failed: {0}")]
    Task(String),
    /// Bad command-line arguments that clap could not catch (e.g. node count range).
    #[error("{0}")]
    Usage(String),
    /// A workload's setup (before any fault) could not be completed.
    #[error("workload setup failed: {0}")]
    Setup(String),
    /// Returned when the nodes' lazyfs cannot be used: the lost-writes nemesis (or
    /// `--lazyfs`) was asked for but the `osj-lazyfs` binary or `/dev/fuse` is missing, or a
    /// daemon did not become ready.
    #[error("lost-writes / --lazyfs: {0}")]
    Lazyfs(String),
    /// Ctrl-C: the run was stopped and everything torn down.
    #[error("interrupted; tearing the cluster down")]
    Interrupted,
}

impl HarnessError {
    /// Shorthand for [`HarnessError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> HarnessError {
        let path = path.into();
        move |source| HarnessError::Io {
            action,
            path,
            source,
        }
    }
}
