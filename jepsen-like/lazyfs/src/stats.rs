//! The figures the control socket reports, and their `key=value` wire form.

use std::collections::HashMap;

/// Counters of one lazyfs instance since it was mounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Bytes written through the mount and not yet fsynced (what `clear-cache` would drop).
    pub cached_bytes: u64,
    /// Files whose content or length differs from their backing file.
    pub dirty_files: u64,
    /// Inodes the filesystem currently tracks.
    pub inodes: u64,
    /// `fsync`/`fdatasync` calls on files (each one syncs the backing file too).
    pub fsyncs: u64,
    /// `fsync` calls on directories.
    pub fsyncdirs: u64,
    /// Bytes accepted by `write` calls.
    pub written_bytes: u64,
    /// Cached bytes that an fsync or `sync` wrote to backing files.
    pub synced_bytes: u64,
    /// Cached bytes that `clear-cache` dropped.
    pub dropped_bytes: u64,
    /// `clear-cache` operations.
    pub clears: u64,
    /// File and directory fsyncs that failed with EIO because `fail-fsync` was on.
    #[serde(default)]
    pub failed_fsyncs: u64,
}

/// What one `clear-cache` dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClearReport {
    /// Files that had un-fsynced changes.
    pub files: u64,
    /// Cached bytes dropped.
    pub bytes: u64,
}

/// What one `sync` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Files that had un-fsynced changes and are now synced.
    pub files: u64,
    /// Cached bytes written.
    pub bytes: u64,
}

/// A reply field that is missing or not a number: the answer was not what this client expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{0}` missing or not a number")]
pub struct MissingField(pub &'static str);

pub(crate) type Fields = HashMap<String, String>;

/// Parses `k=v k=v ...` (the body of an `ok` reply).
pub(crate) fn parse_fields(body: &str) -> Fields {
    body.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(fields: &Fields, name: &'static str) -> Result<u64, MissingField> {
    fields
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or(MissingField(name))
}

fn format_fields(pairs: &[(&str, u64)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Stats {
    fn pairs(&self) -> [(&'static str, u64); 10] {
        [
            ("cached_bytes", self.cached_bytes),
            ("dirty_files", self.dirty_files),
            ("inodes", self.inodes),
            ("fsyncs", self.fsyncs),
            ("fsyncdirs", self.fsyncdirs),
            ("written_bytes", self.written_bytes),
            ("synced_bytes", self.synced_bytes),
            ("dropped_bytes", self.dropped_bytes),
            ("clears", self.clears),
            ("failed_fsyncs", self.failed_fsyncs),
        ]
    }

    /// `cached_bytes=N dirty_files=N ...` (every field, in declaration order).
    pub fn to_fields(&self) -> String {
        format_fields(&self.pairs())
    }

    pub(crate) fn from_fields(f: &Fields) -> Result<Stats, MissingField> {
        Ok(Stats {
            cached_bytes: field(f, "cached_bytes")?,
            dirty_files: field(f, "dirty_files")?,
            inodes: field(f, "inodes")?,
            fsyncs: field(f, "fsyncs")?,
            fsyncdirs: field(f, "fsyncdirs")?,
            written_bytes: field(f, "written_bytes")?,
            synced_bytes: field(f, "synced_bytes")?,
            dropped_bytes: field(f, "dropped_bytes")?,
            clears: field(f, "clears")?,
            failed_fsyncs: field(f, "failed_fsyncs")?,
        })
    }
}

impl ClearReport {
    /// `files=N bytes=N`.
    pub fn to_fields(&self) -> String {
        format_fields(&[("files", self.files), ("bytes", self.bytes)])
    }

    pub(crate) fn from_fields(f: &Fields) -> Result<Self, MissingField> {
        Ok(ClearReport {
            files: field(f, "files")?,
            bytes: field(f, "bytes")?,
        })
    }
}

impl SyncReport {
    /// `files=N bytes=N`.
    pub fn to_fields(&self) -> String {
        format_fields(&[("files", self.files), ("bytes", self.bytes)])
    }

    pub(crate) fn from_fields(f: &Fields) -> Result<Self, MissingField> {
        Ok(SyncReport {
            files: field(f, "files")?,
            bytes: field(f, "bytes")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_round_trip() {
        let s = Stats {
            cached_bytes: 1,
            dirty_files: 2,
            inodes: 3,
            fsyncs: 4,
            fsyncdirs: 5,
            written_bytes: 6,
            synced_bytes: 7,
            dropped_bytes: 8,
            clears: 9,
            failed_fsyncs: 10,
        };
        assert_eq!(Stats::from_fields(&parse_fields(&s.to_fields())), Ok(s));
        assert_eq!(
            Stats::from_fields(&parse_fields("cached_bytes=1")),
            Err(MissingField("dirty_files"))
        );
    }
}
