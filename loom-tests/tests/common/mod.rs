//! Helpers shared by the loom model files (each `tests/*.rs` is its own
//! crate and pulls this in with `mod common;`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

/// Runs `f` under loom with preemption bound `default_bound`, unless
/// `LOOM_MAX_PREEMPTIONS` is set, which wins (so a deeper run is one
/// environment variable away). Prints the number of executions explored and
/// the wall time, visible with `-- --nocapture`.
pub fn model<F>(name: &str, default_bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(default_bound);
    }
    let bound = builder.preemption_bound;
    // A plain std counter: loom runs every execution on this OS thread, and
    // the counter is outside the model (it is not a loom object).
    let executions = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = executions.clone();
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: {} executions, preemption bound {:?}, {:.2?}",
        executions.load(StdOrdering::Relaxed),
        bound,
        start.elapsed()
    );
}

/// Per-item drop counters, one loom atomic per item id.
#[derive(Clone)]
pub struct Ledger {
    drops: Arc<Vec<AtomicUsize>>,
}

impl Ledger {
    pub fn new(items: usize) -> Ledger {
        Ledger { drops: Arc::new((0..items).map(|_| AtomicUsize::new(0)).collect()) }
    }

    /// Creates item `id`, which bumps its counter when dropped.
    pub fn item(&self, id: usize) -> Item {
        Item { id, ledger: self.clone() }
    }

    /// Asserts that every item was dropped exactly once. Call only after
    /// every thread that could hold an item has been joined and every
    /// channel handle is gone.
    pub fn assert_each_dropped_once(&self) {
        for (id, n) in self.drops.iter().enumerate() {
            assert_eq!(n.load(Ordering::Relaxed), 1, "item {id} dropped {} times", n.load(Ordering::Relaxed));
        }
    }
}

/// A payload that records its own drop in a [`Ledger`]. It also holds a
/// loom `Arc`, so an item that is never dropped is reported by loom's own
/// leak check ("Arc leaked") at the end of the execution.
pub struct Item {
    pub id: usize,
    ledger: Ledger,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, Ordering::Relaxed);
    }
}

/// `n` loom yields. loom treats a yield as "let the others run first", so a
/// few yields before an operation make the schedules in which the peer gets
/// far ahead (e.g. all the way into its parking path) cost no preemptions;
/// schedules where this thread goes first are still explored, through the
/// preemption budget.
pub fn yield_times(n: usize) {
    for _ in 0..n {
        loom::thread::yield_now();
    }
}

/// Runs `run` — a model that loom must reject — in a child process and
/// asserts that it failed with `expected` in its output.
///
/// A child process because a loom failure is not an ordinary panic: on a
/// deadlock loom panics inside its scheduler, panics again while unwinding
/// the model's threads, and the process aborts (SIGABRT), so
/// `#[should_panic]` cannot catch it. The test re-runs its own binary with
/// `--exact test_name` and an environment variable telling that run to
/// execute `run` directly.
pub fn expect_model_failure(test_name: &str, expected: &str, run: impl FnOnce()) {
    const CHILD: &str = "RINGFLOW_LOOM_EXPECT_FAILURE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        run();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("re-run the test binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "loom accepted a model that must fail ({test_name}); output:\n{text}");
    assert!(text.contains(expected), "{test_name} failed, but without {expected:?} in its output:\n{text}");
    let first = text.lines().find(|l| l.contains(expected)).unwrap_or_default();
    println!("{test_name}: loom rejected the broken model as expected: {first}");
}
