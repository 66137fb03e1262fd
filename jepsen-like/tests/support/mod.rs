//! Helpers shared by the smoke tests: find the binaries and run `jepsen-like` as a child
//! process with a deadline.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

/// The checker report and the run summary a run wrote into `dir`.
pub fn report_and_summary(
    dir: &Path,
) -> (jepsen_like::CheckReport, jepsen_like::runner::RunSummary) {
    let report = serde_json::from_str(&read(&dir.join("report.json")))
        .expect("report.json is a CheckReport");
    let summary = serde_json::from_str(&read(&dir.join("summary.json")))
        .expect("summary.json is a RunSummary");
    (report, summary)
}

/// A fresh run directory (removed when the guard drops) and its path as a string.
pub fn run_dir(prefix: &str) -> (tempfile::TempDir, String) {
    let out = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir");
    let path = out.path().to_str().expect("utf-8 temp path").to_string();
    (out, path)
}

/// A whole smoke run (start, setup, load, heal, final reads, check) must end within this.
pub const RUN_DEADLINE: Duration = Duration::from_secs(240);

pub fn jepsen_like_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jepsen-like"))
}

/// `orderd` beside `jepsen-like` in the target dir, else `$ORDERD_BIN`; panics (the test must
/// not pass without a cluster) with how to provide one.
pub fn orderd_bin() -> PathBuf {
    let sibling = jepsen_like_bin().with_file_name("orderd");
    if sibling.is_file() {
        return sibling;
    }
    if let Some(p) = std::env::var_os("ORDERD_BIN").map(PathBuf::from)
        && p.is_file()
    {
        return p;
    }
    panic!(
        "orderd not found at {} and ORDERD_BIN is not set to a file: build it with \
         `cargo build --workspace --bins` (same target dir) or set ORDERD_BIN",
        sibling.display()
    );
}

/// Runs `jepsen-like args...`, killing it if it outlives `RUN_DEADLINE`. Returns exit code,
/// stdout and stderr.
pub fn jepsen_like(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(jepsen_like_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("jepsen-like starts");
    let deadline = Instant::now() + RUN_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for jepsen-like") {
            break status;
        }
        if Instant::now() >= deadline {
            // SIGKILL: its nodes die with it (parent-death signal); the next run cleans up.
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "jepsen-like {} did not finish within {RUN_DEADLINE:?}; stderr:\n{}",
                args.join(" "),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `osj-lazyfs` beside `jepsen-like` in the target dir, else `$OSJ_LAZYFS_BIN`; panics with
/// how to provide one.
#[allow(dead_code)] // Only the lost-writes smoke test uses it.
pub fn lazyfs_bin() -> PathBuf {
    let sibling = jepsen_like_bin().with_file_name("osj-lazyfs");
    if sibling.is_file() {
        return sibling;
    }
    if let Some(p) = std::env::var_os("OSJ_LAZYFS_BIN").map(PathBuf::from)
        && p.is_file()
    {
        return p;
    }
    panic!(
        "osj-lazyfs not found at {} and OSJ_LAZYFS_BIN is not set to a file: build it with \
         `cargo build --workspace --bins` (same target dir) or set OSJ_LAZYFS_BIN",
        sibling.display()
    );
}
