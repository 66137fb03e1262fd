//! [`BenchError`], what aborts a benchmark run, and [`OpError`], one failed operation.

use std::path::PathBuf;

use crate::System;

/// Why `order-bench` stopped. Each variant names the system or file involved.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Returned when the command line is inconsistent (e.g. `--mode open` without `--rate`, a
    /// system without its endpoints).
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// Returned when a system's client could not be created or its schema set up.
    #[error("{system}: cannot connect or set up: {message}")]
    Connect { system: System, message: String },
    /// Returned when preloading orders for a read/mixed workload failed or ran out of time:
    /// `done` of `wanted` orders were stored.
    #[error("{system}: preload stopped after {done} of {wanted} orders: {message}")]
    Preload {
        system: System,
        done: usize,
        wanted: usize,
        message: String,
    },
    /// Returned when every measured operation of a phase failed (nothing to report).
    #[error("{system}: all {errors} operations of {workload} failed, e.g. {example}")]
    AllFailed {
        system: System,
        workload: String,
        errors: u64,
        example: String,
    },
    /// Returned when a workload's own setup (stock, accounts) or final accounting failed.
    #[error("{system}: setup failed: {message}")]
    Setup { system: System, message: String },
    /// Returned when the orderstore manifest (`cluster.json`) cannot be read or has no endpoints.
    #[error("cannot use orderstore manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// Returned when an output file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One operation that did not succeed. Counted per [`OpError::kind`] in the results; never
/// aborts the run on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// A conditional update lost its race: the order changed between read and write (orderstore
    /// `VERSION_CONFLICT`, etcd mod-revision compare failed, PostgreSQL `version` mismatch).
    #[error("conflict on {key}")]
    Conflict { key: String },
    /// The key the workload chose does not exist (a preload bug, or lost data).
    #[error("not found: {key}")]
    NotFound { key: String },
    /// The operation did not finish within the per-operation timeout.
    #[error("timed out after {millis} ms")]
    Timeout { millis: u64 },
    /// The system answered with an error; `class` is a short stable label (e.g. a gRPC code or
    /// SQLSTATE), `message` the full text.
    #[error("{class}: {message}")]
    Failed { class: String, message: String },
}

impl OpError {
    /// A short label to count errors by, e.g. `conflict`, `timeout`, `UNAVAILABLE`.
    pub fn kind(&self) -> String {
        match self {
            OpError::Conflict { .. } => "conflict".into(),
            OpError::NotFound { .. } => "not_found".into(),
            OpError::Timeout { .. } => "timeout".into(),
            OpError::Failed { class, .. } => class.clone(),
        }
    }
}
