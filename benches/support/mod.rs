//! What the benches share, one concern a file:
//!
//! * `adapters` — one adapter per queue implementation (how to build it,
//!   send one item, receive one), for SPSC and MPMC use, and the batch rows
//!   through each crate's chunk API;
//! * `harness` — cores and pinning, the stop flag and the spin helpers that
//!   watch it, pinned worker threads (timed for throughput, supervised by a
//!   watchdog for latency), the throughput transfers, interleaved rounds;
//! * `output` — the results model (runs, summaries across rounds, the
//!   machine banner) and its files: CSV, JSON, SVG percentile plots;
//! * `quantile` — a clock's step and percentiles read between its ticks
//!   (the latency bench; also compiled by `tests/bench_quantile.rs`).
//!
//! Each bench (`latency.rs`, `targets.rs`, `throughput.rs`, `suite.rs`,
//! `handover.rs`, and `broadcast.rs` and `async.rs` for the placement probe) declares
//! `mod support;` and uses a subset, hence the `dead_code` and
//! `unused_imports` allowances.
#![allow(dead_code)]

mod adapters;
mod harness;
mod output;
mod quantile;

#[allow(unused_imports)] // broadcast.rs and async.rs use only the harness and `cpu_model`
pub use adapters::*;
pub use harness::*;
#[allow(unused_imports)] // criterion writes throughput.rs's results
pub use output::*;
#[allow(unused_imports)] // only the latency bench reads percentiles
pub use quantile::*;
