//! Helpers shared by the loom model files (each `tests/*.rs` is its own
//! crate and pulls this in with `mod common;`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

/// The SPSC layout the SPSC model files build their rings with: the default,
/// or the stamped one with this crate's feature `stamped`.
#[cfg(not(feature = "stamped"))]
pub type SpscLayout = ringflow::spsc::Packed;
#[cfg(feature = "stamped")]
pub type SpscLayout = ringflow::spsc::Stamped;

/// Runs `f` under loom with preemption bound `default_bound`, unless
/// `LOOM_MAX_PREEMPTIONS` is set, which wins (so a deeper or shallower run
/// is one environment variable away). Prints the number of executions
/// explored and the wall time, visible with `-- --nocapture`, and returns the
/// number of executions.
pub fn model<F>(name: &str, default_bound: usize, f: F) -> usize
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
    let executions = executions.load(StdOrdering::Relaxed);
    println!("loom model {name}: {executions} executions, preemption bound {bound:?}, {:.2?}", start.elapsed());
    executions
}

/// [`model`] for a wake-up model: `f` returns the channel's
/// `Stats::parks` at the end of the execution, and at least one explored
/// execution must have parked a thread. This keeps a wake-up model from
/// silently losing its teeth (a change to the loom backoff limits or to the
/// model's shape that stops any thread from reaching `Condvar::wait` would
/// otherwise leave a model that passes without testing the protocol).
pub fn model_parks<F>(name: &str, default_bound: usize, f: F)
where
    F: Fn() -> u64 + Sync + Send + 'static,
{
    let parked = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = parked.clone();
    let executions = model(name, default_bound, move || {
        if f() > 0 {
            counter.fetch_add(1, StdOrdering::Relaxed);
        }
    });
    let parked = parked.load(StdOrdering::Relaxed);
    println!("loom model {name}: {parked} of {executions} executions parked a thread");
    assert!(
        parked > 0,
        "{name}: no explored execution parked a thread; the model no longer reaches the sleeper protocol"
    );
}

/// [`model`] with a coverage check: `f` returns whether this execution
/// reached the interleaving the model exists for (an eviction happened, the
/// congestion flag was raised, ...), and at least one explored execution
/// must have. Prints how many did. The generic form of [`model_parks`], for
/// models whose point is not parking.
pub fn model_covers<F>(name: &str, default_bound: usize, what: &str, f: F)
where
    F: Fn() -> bool + Sync + Send + 'static,
{
    model_covers_all(name, default_bound, [what], move || [f()]);
}

/// [`model_covers`] for a model with several things to reach: `f` returns,
/// for each of `whats`, whether this execution reached it, and each must be
/// reached by at least one explored execution.
pub fn model_covers_all<const N: usize, F>(name: &str, default_bound: usize, whats: [&str; N], f: F)
where
    F: Fn() -> [bool; N] + Sync + Send + 'static,
{
    let reached: std::sync::Arc<[StdAtomicUsize; N]> =
        std::sync::Arc::new(std::array::from_fn(|_| StdAtomicUsize::new(0)));
    let counters = reached.clone();
    let executions = model(name, default_bound, move || {
        for (hit, counter) in f().into_iter().zip(counters.iter()) {
            if hit {
                counter.fetch_add(1, StdOrdering::Relaxed);
            }
        }
    });
    for (what, reached) in whats.iter().zip(reached.iter()) {
        let reached = reached.load(StdOrdering::Relaxed);
        println!("loom model {name}: {reached} of {executions} executions {what}");
        assert!(reached > 0, "{name}: no explored execution {what}; the model no longer reaches what it tests");
    }
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

/// `n` loom yields, used by a notifying thread (a sender, a receiver, a
/// dropping handle) *before* it acts, so that the waiting thread can get all
/// the way into its parking path first.
///
/// Why this is needed, and why it is placed exactly so (loom 0.7.3,
/// `rt/execution.rs` and `rt/atomic.rs`):
///
/// - A yield makes the thread non-runnable until another thread has taken a
///   step. Under `--cfg loom` a `Park` waiter yields twice in its backoff
///   before it parks (`SPIN_LIMIT = 0`, `YIELD_LIMIT = 1`), so each of those
///   yields hands a step to the notifier; without steps to spare, the
///   notifier has already published by the time the waiter re-checks, and
///   the race the protocol exists for is never reached. Two yields in the
///   notifier absorb them at no preemption cost.
/// - After a thread yields, loom no longer lets its loads return a store that
///   the thread had already observed before the yield when a newer one
///   exists (`is_seen_before_yield`: this is how loom makes spin loops
///   terminate). Creating an atomic counts as observing it. So a notifier
///   that built the channel and then yielded can never read a stale sleeper
///   count, and the lost wake-up of a missing barrier becomes invisible.
///   The notifier must therefore be a *spawned* thread that has not touched
///   the channel's sleeper count before it yields.
///
/// (Both facts were found by seeding bugs: with the notifier on the thread
/// that built the channel, removing the waiter's `fence(SeqCst)` went
/// unnoticed; see `loom-tests/README.md`.)
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

/// MPMC try-loops with bounded patience (see the module docs).
pub mod mpmc;
