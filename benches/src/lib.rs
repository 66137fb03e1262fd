//! `order-bench`: orderstore's load generator and the tool behind every performance claim.
//!
//! It drives a running orderstore cluster with order workloads and runs the *same* workload
//! against the systems a user would otherwise pick — a 3-member etcd cluster and a single
//! PostgreSQL — on the same machine in the same run, so every figure it reports is a ratio
//! (orderstore / peer) next to the absolute numbers. It owns the workload definitions, the
//! per-system drivers, the measurement loops (closed and open loop, warm-up excluded, HDR
//! histograms) and the reports (Markdown, JSON, SVG). It does not start clusters: `run.sh`
//! installs, starts and tears down the peers and the orderstore playground, then calls
//! `order-bench run` with their endpoints.
//!
//! Criterion micro-benchmarks of server hot paths live in `benches/hot_paths.rs`.
//!
//! # Layout
//! - `cli`: [`Cli`] / [`RunArgs`], the command line (durations, system lists, `--quick`).
//! - `bench_run`: [`run`], the orchestration: per workload, per system: connect, preload,
//!   measure, collect.
//! - `system`: [`System`], the systems under test.
//! - `driver`: [`Driver`], one system's client behind the three operations (place, read,
//!   transition); `orderstore_driver`, `etcd_driver`, `postgres_driver` implement them.
//! - `workload`: [`Workload`] and [`OpKind`], what a workload sends.
//! - `purchase_load`: the purchase workloads `flash-sale` and `saga-throughput` (orderstore
//!   only: setup of SKUs and accounts, buyers, stock readers, settling, final accounting);
//!   `purchase_stats`: their pure half ([`PurchaseParams`], [`PurchaseTally`], [`SaleOutcome`]
//!   with the oversell computation, [`PurchaseFigures`] and the [`BriefCheck`]s).
//! - `order_draft`: [`OrderDraft`] / [`OrderGenerator`], random ~300-byte orders and their JSON
//!   document for the peers.
//! - `key_chooser`: [`KeyChooser`] (uniform or [`Zipfian`], in `zipfian`) over preloaded keys.
//! - `load_loop`: [`LoadPlan`] / [`LoopMode`] and the closed- and open-loop drivers of one
//!   measured phase, with the progress line.
//! - `latency_stats`: [`LatencyStats`] (HDR histogram + counts) and its [`Summary`].
//! - `report`: [`Report`], Markdown and JSON with ratios; `svg_plot`: [`render_svg`].
//! - `error`: [`BenchError`] (aborts a run) and [`OpError`] (one failed operation, counted).

mod bench_run;
mod cli;
mod driver;
mod error;
mod etcd_driver;
mod key_chooser;
mod latency_stats;
mod load_loop;
mod order_draft;
mod orderstore_driver;
mod postgres_driver;
mod purchase_load;
mod purchase_stats;
mod report;
mod svg_plot;
mod system;
mod workload;
mod zipfian;

pub use bench_run::run;
pub use cli::{Cli, Command, ReadConsistency, RunArgs, parse_duration};
pub use driver::{Driver, DriverConfig};
pub use error::{BenchError, OpError};
pub use key_chooser::KeyChooser;
pub use latency_stats::{LatencyStats, Summary};
pub use load_loop::{LoadPlan, LoopMode};
pub use order_draft::{OrderDraft, OrderGenerator};
pub use purchase_stats::{
    BriefCheck, PurchaseEnd, PurchaseFigures, PurchaseParams, PurchaseTally, SaleOutcome,
    StockReadFigures, peak_in_window,
};
pub use report::{MachineInfo, Ratio, Report, RunMeta, SystemResult, WorkloadResult};
pub use svg_plot::render_svg;
pub use system::System;
pub use workload::{OpKind, Workload};
pub use zipfian::Zipfian;
