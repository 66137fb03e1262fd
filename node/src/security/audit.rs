//! The audit log: one JSON line per admin action (a call needing the `admin` role, allowed or
//! refused) and per refused call of any kind, appended to the file named by
//! `[security].audit_log` (default `audit.log` in the data directory).
//!
//! A line: `{"ts_ms":…,"node":…,"principal":"ada","role":"admin","peer":"127.0.0.1:50311",
//! "method":"/orderstore.v1.PurchaseService/SagaAdmin","outcome":"OK"}`. Credentials never
//! appear: the principal is the token's or certificate's *name*.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub ts_ms: u64,
    pub node: u64,
    /// Principal name, empty when the caller could not be identified.
    pub principal: String,
    /// Principal role, empty when unidentified.
    pub role: String,
    /// Remote address of the connection.
    pub peer: String,
    /// gRPC path.
    pub method: String,
    /// `OK`, a gRPC code name, or `UNAUTHENTICATED` / `PERMISSION_DENIED` for refusals.
    pub outcome: String,
}

/// Appends audit records to a file (created with mode 0600 if missing).
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line. A write failure is logged, never fails the request (the call has
    /// already happened); admin calls are rare, so the short blocking write is acceptable.
    pub fn record(&self, rec: &AuditRecord) {
        // A struct of strings and integers always serialises.
        let mut line = serde_json::to_vec(rec).expect("audit record serialises");
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
        }
        tracing::info!(
            target: "orderstore::audit",
            principal = %rec.principal,
            role = %rec.role,
            method = %rec.method,
            outcome = %rec.outcome,
            "audit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("sub/audit.log")).unwrap();
        let rec = AuditRecord {
            ts_ms: 1,
            node: 2,
            principal: "ada".into(),
            role: "admin".into(),
            peer: "127.0.0.1:1".into(),
            method: "/orderstore.v1.ClusterAdmin/TransferLeader".into(),
            outcome: "OK".into(),
        };
        log.record(&rec);
        log.record(&AuditRecord {
            outcome: "PERMISSION_DENIED".into(),
            ..rec.clone()
        });
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["principal"], "ada");
        assert_eq!(lines[1]["outcome"], "PERMISSION_DENIED");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
