//! `benches`: orderstore's load generator, peer baselines (etcd, PostgreSQL) and
//! micro-benchmarks.
//!
//! Not built yet: this crate is a placeholder in the workspace layout; the benchmark harness is
//! its own issue. Until then `orderctl demo` prints a first rough orders/s figure.
