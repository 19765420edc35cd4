//! Tail latency of ringflow's rings against their peers and the hardware floor.
//!
//! `cargo bench --bench latency [-- OPTIONS] [FILTER]`
//!
//! Two scenarios, every thread pinned to a core (the core ids are read once,
//! at start-up, before anything is pinned: a pinned thread's children inherit
//! its mask):
//!
//! * **Round trip**: a pinger thread sends a sequence number through queue A,
//!   a ponger thread echoes it back through queue B. Each round trip is timed
//!   with two `Instant::now` calls and recorded in an HDR histogram. The
//!   **floor** is the same exchange through two bare cache-padded atomics
//!   (store, then spin until the value changes): what the two cores cost with
//!   no queue at all, measured in the same run so that ratios to it are
//!   computed within a round.
//! * **Paced one-way under bursts**: a producer sends at a fixed rate plus a
//!   burst every few milliseconds (the peak-shaving case). Each item carries
//!   the `Instant` at which it was *meant* to be sent; the consumer records
//!   `now - intended`. A producer stalled by a full queue or a descheduled
//!   thread therefore shows up as latency instead of silently stretching the
//!   schedule (no coordinated omission). The table also shows how late the
//!   producer itself was when it got to each send (`late` columns): when that
//!   is close to the latency, the time was lost before the queue (a
//!   descheduled producer, or backpressure from a full queue).
//!
//! Implementations: ringflow's SPSC ring and its MPMC ring (one sender, one
//! receiver here), each with every wait strategy and its blocking `send` /
//! `recv`, so the channel's wait strategy decides how it waits; the blocking
//! peers (crossbeam-channel, std `sync_channel`, flume, kanal, all bounded)
//! with their blocking `send` / `recv`; rtrb, crossbeam `ArrayQueue` and the
//! floor with try + spin.
//!
//! After one discarded warm-up round, every implementation runs once per
//! round, in an order rotated each round. The tables show, per percentile,
//! the median across rounds, the per-round ratio to the floor (median of
//! ratios) and the spread (min–max across rounds).
//!
//! Options (unknown `--flags`, such as the `--bench` that cargo passes, are
//! ignored; a bare word is a case-insensitive filter on implementation names,
//! and the floor always runs in the round trip):
//!
//! | option | meaning |
//! |---|---|
//! | `--quick` | 3 rounds, few samples: finishes in well under a minute |
//! | `--rounds N` | rounds (default 7) |
//! | `--samples N` | round trips per run (default 100 000; 10 000 quick; fewer on one core) |
//! | `--paced-ms N` | length of one paced run in ms (default 1000; 200 quick) |
//! | `--period-us N`, `--burst N`, `--burst-every-ms N` | paced schedule: one item every N µs (default 10) plus a burst of N items (default 256) every N ms (default 10) |
//! | `--cores A,B` | the two cores (default: the first two available) |
//! | `--one-core` | every thread on core A: oversubscribed, spinning collapses |
//! | `--only rt` / `--only paced` | run one scenario |
//! | `--list` | print the implementation names and exit |
//!
//! Nothing can hang forever: spinning loops look at a stop flag every 1024
//! attempts, every run has a time budget (small on one core, where a spinning
//! implementation makes each hop wait for the scheduler), and a watchdog stops
//! a run that overruns it. A run cut short is reported as such, with the
//! samples it got. A run whose threads do not stop even then (a lost wake-up
//! in a blocking queue) is reported as HUNG, its threads are left behind and
//! the bench exits non-zero at the end.
//!
//! Outputs, under `$CARGO_TARGET_DIR/ringflow/` (default `target/ringflow/`;
//! `latency-one-core*` in `--one-core` mode): `latency-rounds.csv` (every run),
//! `latency-summary.csv`, `latency.json` (banner, configuration and summary)
//! and one HdrHistogram-style SVG plot per scenario (`latency-roundtrip.svg`,
//! `latency-paced.svg`: latency by percentile, median across rounds).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use core_affinity::CoreId;
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use ringflow::{Builder, WaitStrategy};

// ---------------------------------------------------------------------------
// Stopping: a shared flag, a spin helper that watches it, and a watchdog.
// ---------------------------------------------------------------------------

/// The other side is gone or the run was stopped; the caller winds down.
#[derive(Debug)]
struct Stopped;

/// Stop flag of one run. Set by the timing thread when it ends (normally or
/// early), by a worker that panics, and by the watchdog when the run overruns.
#[derive(Clone)]
struct Stop(Arc<CachePadded<AtomicBool>>);

impl Stop {
    fn new() -> Self {
        Stop(Arc::new(CachePadded::new(AtomicBool::new(false))))
    }
    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Busy-wait step for try-based loops: a spin-loop hint per attempt, and a
/// look at the stop flag every 1024 attempts (so the flag's cache line is
/// not touched on the fast path).
struct Spin<'a> {
    stop: &'a Stop,
    n: u32,
}

impl<'a> Spin<'a> {
    #[inline(always)]
    fn new(stop: &'a Stop) -> Self {
        Spin { stop, n: 0 }
    }

    #[inline(always)]
    fn spin(&mut self) -> Result<(), Stopped> {
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 && self.stop.is_set() {
            return Err(Stopped);
        }
        std::hint::spin_loop();
        Ok(())
    }
}

/// Dropped when a worker's closure ends, however it ends: reports to the
/// watchdog and, if the worker is panicking, stops its peer.
struct ExitGuard {
    stop: Stop,
    done: mpsc::Sender<()>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.stop.set();
        }
        let _ = self.done.send(());
    }
}

fn spawn_pinned<R: Send + 'static>(
    name: &str,
    core: CoreId,
    stop: &Stop,
    done: &mpsc::Sender<()>,
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<R> {
    let guard = ExitGuard { stop: stop.clone(), done: done.clone() };
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _guard = guard;
            assert!(core_affinity::set_for_current(core), "could not pin thread to core {}", core.id);
            f()
        })
        .expect("spawn a bench thread")
}

/// Set when a run's threads could not be stopped; the bench exits non-zero.
static HUNG: AtomicBool = AtomicBool::new(false);

/// Waits for both workers of a run: up to `limit` for them to finish, then
/// sets the stop flag and waits a few seconds more. Returns `None` (and
/// leaves the threads behind) if they still have not finished. A worker's
/// panic — a failed count or value assertion — is re-raised here.
fn supervise<A, B>(
    a: JoinHandle<A>,
    b: JoinHandle<B>,
    done: mpsc::Receiver<()>,
    stop: &Stop,
    limit: Duration,
) -> Option<(A, B)> {
    let deadline = Instant::now() + limit;
    let mut finished = 0;
    let mut stopped_at = None;
    while finished < 2 {
        let now = Instant::now();
        let until = match stopped_at {
            None => deadline,
            Some(t) => t + Duration::from_secs(5),
        };
        if now >= until {
            if stopped_at.is_none() {
                eprintln!("  watchdog: run over its {limit:?} limit, stopping it");
                stop.set();
                stopped_at = Some(now);
                continue;
            }
            HUNG.store(true, Ordering::Relaxed);
            eprintln!("  watchdog: threads did not stop within 5 s of the stop flag: HUNG, leaving them behind");
            return None;
        }
        match done.recv_timeout(until - now) {
            Ok(()) => finished += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let ra = a.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    let rb = b.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    Some((ra, rb))
}

// ---------------------------------------------------------------------------
// The queues under test, behind one small trait.
// ---------------------------------------------------------------------------

/// One queue implementation: how to build a channel and how to send / receive
/// one item the way that implementation is meant to be used.
trait Queue<T: Send + 'static>: 'static {
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn channel(&self, capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &mut Self::Tx, value: T, stop: &Stop) -> Result<(), Stopped>;
    fn recv(rx: &mut Self::Rx, stop: &Stop) -> Result<T, Stopped>;
}

/// ringflow SPSC with a wait strategy; blocking `send` / `recv`.
struct RingflowSpsc(WaitStrategy);

impl<T: Send + 'static> Queue<T> for RingflowSpsc {
    type Tx = ringflow::spsc::Producer<T>;
    type Rx = ringflow::spsc::Consumer<T>;
    fn channel(&self, capacity: usize) -> (Self::Tx, Self::Rx) {
        Builder::new(capacity).wait_strategy(self.0).spsc()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T, _: &Stop) -> Result<(), Stopped> {
        tx.send(value).map_err(|_| Stopped)
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, _: &Stop) -> Result<T, Stopped> {
        rx.recv().map_err(|_| Stopped)
    }
}

/// ringflow MPMC (used here with one sender and one receiver) with a wait
/// strategy; blocking `send` / `recv`.
struct RingflowMpmc(WaitStrategy);

impl<T: Send + 'static> Queue<T> for RingflowMpmc {
    type Tx = ringflow::mpmc::Sender<T>;
    type Rx = ringflow::mpmc::Receiver<T>;
    fn channel(&self, capacity: usize) -> (Self::Tx, Self::Rx) {
        Builder::new(capacity).wait_strategy(self.0).mpmc()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T, _: &Stop) -> Result<(), Stopped> {
        tx.send(value).map_err(|_| Stopped)
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, _: &Stop) -> Result<T, Stopped> {
        rx.recv().map_err(|_| Stopped)
    }
}

/// rtrb, try + spin.
struct Rtrb;

impl<T: Send + 'static> Queue<T> for Rtrb {
    type Tx = rtrb::Producer<T>;
    type Rx = rtrb::Consumer<T>;
    fn channel(&self, capacity: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(capacity)
    }
    #[inline]
    fn send(tx: &mut Self::Tx, mut value: T, stop: &Stop) -> Result<(), Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            match tx.push(value) {
                Ok(()) => return Ok(()),
                Err(rtrb::PushError::Full(back)) => value = back,
            }
            spin.spin()?;
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            if let Ok(v) = rx.pop() {
                return Ok(v);
            }
            spin.spin()?;
        }
    }
}

/// crossbeam `ArrayQueue` (a bounded MPMC queue), try + spin.
struct ArrayQueue;

impl<T: Send + 'static> Queue<T> for ArrayQueue {
    type Tx = Arc<crossbeam_queue::ArrayQueue<T>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<T>>;
    fn channel(&self, capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(capacity));
        (q.clone(), q)
    }
    #[inline]
    fn send(tx: &mut Self::Tx, mut value: T, stop: &Stop) -> Result<(), Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            match tx.push(value) {
                Ok(()) => return Ok(()),
                Err(back) => value = back,
            }
            spin.spin()?;
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            if let Some(v) = rx.pop() {
                return Ok(v);
            }
            spin.spin()?;
        }
    }
}

/// Blocking channels: `send` / `recv` return an error only on disconnection,
/// which is how a stopped peer releases them.
macro_rules! blocking_queue {
    ($ty:ident, $tx:ty, $rx:ty, $make:expr) => {
        struct $ty;
        impl<T: Send + 'static> Queue<T> for $ty {
            type Tx = $tx;
            type Rx = $rx;
            fn channel(&self, capacity: usize) -> (Self::Tx, Self::Rx) {
                $make(capacity)
            }
            #[inline]
            fn send(tx: &mut Self::Tx, value: T, _: &Stop) -> Result<(), Stopped> {
                tx.send(value).map_err(|_| Stopped)
            }
            #[inline]
            fn recv(rx: &mut Self::Rx, _: &Stop) -> Result<T, Stopped> {
                rx.recv().map_err(|_| Stopped)
            }
        }
    };
}

blocking_queue!(
    CrossbeamChannel,
    crossbeam_channel::Sender<T>,
    crossbeam_channel::Receiver<T>,
    crossbeam_channel::bounded
);
blocking_queue!(StdSync, mpsc::SyncSender<T>, mpsc::Receiver<T>, mpsc::sync_channel);
blocking_queue!(Flume, flume::Sender<T>, flume::Receiver<T>, flume::bounded);
blocking_queue!(Kanal, kanal::Sender<T>, kanal::Receiver<T>, kanal::bounded);

/// The floor: a one-word mailbox per direction, a bare cache-padded atomic.
/// `send` stores the value, `recv` spins until the value differs from the
/// last one seen. Only valid for a ping-pong of distinct, non-zero values
/// (there is no room for a second message in flight), so it runs in the
/// round trip only.
struct Floor;

struct FloorRx {
    cell: Arc<CachePadded<AtomicU64>>,
    last: u64,
}

impl Queue<u64> for Floor {
    type Tx = Arc<CachePadded<AtomicU64>>;
    type Rx = FloorRx;
    fn channel(&self, _capacity: usize) -> (Self::Tx, Self::Rx) {
        let cell = Arc::new(CachePadded::new(AtomicU64::new(0)));
        (cell.clone(), FloorRx { cell, last: 0 })
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: u64, _: &Stop) -> Result<(), Stopped> {
        tx.store(value, Ordering::Release);
        Ok(())
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, stop: &Stop) -> Result<u64, Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            let v = rx.cell.load(Ordering::Acquire);
            if v != rx.last {
                rx.last = v;
                return Ok(v);
            }
            spin.spin()?;
        }
    }
}

/// The implementations a run can measure.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Impl {
    Floor,
    RingflowSpsc(WaitStrategy),
    RingflowMpmc(WaitStrategy),
    Rtrb,
    ArrayQueue,
    CrossbeamChannel,
    StdSync,
    Flume,
    Kanal,
}

impl Impl {
    fn all() -> Vec<Impl> {
        vec![
            Impl::Floor,
            Impl::RingflowSpsc(WaitStrategy::BusySpin),
            Impl::RingflowSpsc(WaitStrategy::SpinYield),
            Impl::RingflowSpsc(WaitStrategy::Park),
            Impl::RingflowMpmc(WaitStrategy::BusySpin),
            Impl::RingflowMpmc(WaitStrategy::SpinYield),
            Impl::RingflowMpmc(WaitStrategy::Park),
            Impl::Rtrb,
            Impl::ArrayQueue,
            Impl::CrossbeamChannel,
            Impl::StdSync,
            Impl::Flume,
            Impl::Kanal,
        ]
    }

    fn name(self) -> String {
        match self {
            Impl::Floor => "floor (2 padded atomics, spin)".into(),
            Impl::RingflowSpsc(s) => format!("ringflow spsc {s:?}"),
            Impl::RingflowMpmc(s) => format!("ringflow mpmc {s:?}"),
            Impl::Rtrb => "rtrb (try + spin)".into(),
            Impl::ArrayQueue => "crossbeam ArrayQueue (try + spin)".into(),
            Impl::CrossbeamChannel => "crossbeam-channel bounded".into(),
            Impl::StdSync => "std sync_channel".into(),
            Impl::Flume => "flume bounded".into(),
            Impl::Kanal => "kanal bounded".into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Results of one run.
// ---------------------------------------------------------------------------

/// Quantiles in the tables (then `max`).
const QUANTILES: [(&str, f64); 5] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("p99.99", 0.9999)];
/// Column names: the quantiles plus max.
const COLUMNS: [&str; 6] = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];
/// The plot's x axis is log10(1 / (1 - p)); 20 points per decade up to 99.999 %.
const CURVE_STEPS: usize = 100;
const CURVE_X_MAX: f64 = 5.0;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// All samples taken.
    Complete,
    /// The run's time budget ran out first; the samples so far are kept.
    Budget,
    /// The watchdog stopped it (or a peer went away).
    Stopped,
    /// Its threads could not be stopped.
    Hung,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Budget => "budget",
            Outcome::Stopped => "stopped",
            Outcome::Hung => "hung",
        }
    }
}

#[derive(Clone, Debug)]
struct RunResult {
    outcome: Outcome,
    /// Samples recorded (warm-up excluded).
    count: u64,
    /// Samples the run was asked for.
    wanted: u64,
    /// p50, p90, p99, p99.9, p99.99, max (ns).
    values: [u64; 6],
    /// Value (ns) at x = i * CURVE_X_MAX / CURVE_STEPS, for the x the sample
    /// count resolves (10^x <= count).
    curve: Vec<u64>,
    /// Paced scenario only: how late the producer itself was at each send
    /// (p50, p99, max, ns): a stalled producer thread, or backpressure from
    /// a full queue making the next item late.
    producer_late: Option<[u64; 3]>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits; larger values saturate.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

impl RunResult {
    fn from_histogram(h: &Histogram<u64>, outcome: Outcome, wanted: u64) -> Self {
        let count = h.len();
        let mut values = [0; 6];
        let mut curve = Vec::new();
        if count > 0 {
            for (i, (_, q)) in QUANTILES.iter().enumerate() {
                values[i] = h.value_at_quantile(*q);
            }
            values[5] = h.max();
            for i in 0..=CURVE_STEPS {
                let x = i as f64 * CURVE_X_MAX / CURVE_STEPS as f64;
                if 10f64.powf(x) > count as f64 {
                    break;
                }
                curve.push(h.value_at_quantile(1.0 - 10f64.powf(-x)));
            }
        }
        RunResult { outcome, count, wanted, values, curve, producer_late: None }
    }

    fn hung(wanted: u64) -> Self {
        RunResult { outcome: Outcome::Hung, count: 0, wanted, values: [0; 6], curve: Vec::new(), producer_late: None }
    }
}

// ---------------------------------------------------------------------------
// Scenario 1: round trip.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Config {
    quick: bool,
    one_core: bool,
    rounds: usize,
    filter: Vec<String>,
    cores: (CoreId, CoreId),
    capacity: usize,
    rt_samples: usize,
    rt_warmup: usize,
    rt_budget: Duration,
    paced: PacedConfig,
    run_rt: bool,
    run_paced: bool,
}

fn run_round_trip(imp: Impl, cfg: &Config, samples: usize, warmup: usize) -> RunResult {
    match imp {
        Impl::Floor => round_trip(Floor, cfg, samples, warmup),
        Impl::RingflowSpsc(s) => round_trip(RingflowSpsc(s), cfg, samples, warmup),
        Impl::RingflowMpmc(s) => round_trip(RingflowMpmc(s), cfg, samples, warmup),
        Impl::Rtrb => round_trip(Rtrb, cfg, samples, warmup),
        Impl::ArrayQueue => round_trip(ArrayQueue, cfg, samples, warmup),
        Impl::CrossbeamChannel => round_trip(CrossbeamChannel, cfg, samples, warmup),
        Impl::StdSync => round_trip(StdSync, cfg, samples, warmup),
        Impl::Flume => round_trip(Flume, cfg, samples, warmup),
        Impl::Kanal => round_trip(Kanal, cfg, samples, warmup),
    }
}

/// Bounces `warmup + samples` sequence numbers (1, 2, ...) through two
/// queues; the pinger times each round trip, both sides check every value.
fn round_trip<Q: Queue<u64>>(q: Q, cfg: &Config, samples: usize, warmup: usize) -> RunResult {
    let (mut ping_tx, mut ping_rx) = q.channel(cfg.capacity);
    let (mut pong_tx, mut pong_rx) = q.channel(cfg.capacity);
    let stop = Stop::new();
    let (done_tx, done_rx) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(2));
    let total = (warmup + samples) as u64;
    let warmup = warmup as u64;
    let budget = cfg.rt_budget;

    let ponger = {
        let (stop2, barrier) = (stop.clone(), barrier.clone());
        spawn_pinned("ponger", cfg.cores.1, &stop, &done_tx, move || {
            let stop = stop2;
            barrier.wait();
            for i in 1..=total {
                let Ok(v) = Q::recv(&mut ping_rx, &stop) else { return i - 1 };
                assert_eq!(v, i, "ponger: wrong value");
                if Q::send(&mut pong_tx, v, &stop).is_err() {
                    return i - 1;
                }
            }
            total
        })
    };
    let pinger = {
        let stop2 = stop.clone();
        spawn_pinned("pinger", cfg.cores.0, &stop, &done_tx, move || {
            let stop = stop2;
            let mut hist = new_histogram();
            barrier.wait();
            let begin = Instant::now();
            let mut outcome = Outcome::Complete;
            for i in 1..=total {
                if stop.is_set() {
                    outcome = Outcome::Stopped;
                    break;
                }
                let t0 = Instant::now();
                if t0 - begin > budget {
                    outcome = Outcome::Budget;
                    break;
                }
                if Q::send(&mut ping_tx, i, &stop).is_err() {
                    outcome = Outcome::Stopped;
                    break;
                }
                let Ok(v) = Q::recv(&mut pong_rx, &stop) else {
                    outcome = Outcome::Stopped;
                    break;
                };
                let dt = t0.elapsed();
                assert_eq!(v, i, "pinger: wrong value echoed");
                if i > warmup {
                    hist.saturating_record(dt.as_nanos() as u64);
                }
            }
            // Releases a ponger still spinning if we ended early; dropping our
            // handles (on return) releases a blocked one.
            stop.set();
            (hist, outcome)
        })
    };
    drop(done_tx);
    let limit = budget + Duration::from_secs(10);
    match supervise(pinger, ponger, done_rx, &stop, limit) {
        None => RunResult::hung(samples as u64),
        Some(((hist, outcome), echoed)) => {
            if outcome == Outcome::Complete {
                assert_eq!(hist.len(), samples as u64, "pinger recorded every sample");
                assert_eq!(echoed, total, "ponger echoed every value");
            }
            RunResult::from_histogram(&hist, outcome, samples as u64)
        }
    }
}

// ---------------------------------------------------------------------------
// Scenario 2: paced one-way under bursts.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct PacedConfig {
    /// Length of the schedule.
    duration: Duration,
    /// One item every `period`...
    period: Duration,
    /// ...plus `burst` items at once every `burst_every`.
    burst: usize,
    burst_every: Duration,
    /// Items intended before this offset are not recorded.
    warmup: Duration,
    /// A run is cut short after this long.
    budget: Duration,
}

impl PacedConfig {
    /// Intended send offsets (ns from the start), in order.
    fn schedule(&self) -> Vec<u64> {
        let end = self.duration.as_nanos() as u64;
        let period = self.period.as_nanos() as u64;
        let every = self.burst_every.as_nanos() as u64;
        let mut v: Vec<u64> = (0..end).step_by(period as usize).collect();
        let mut t = every;
        while t < end {
            v.extend(std::iter::repeat(t).take(self.burst));
            t += every;
        }
        v.sort_unstable();
        v
    }
}

/// One item of the paced scenario: a sequence number and the instant it
/// was meant to be sent at.
type Stamp = (u64, Instant);

fn run_paced(imp: Impl, cfg: &Config, paced: &PacedConfig) -> Option<RunResult> {
    Some(match imp {
        Impl::Floor => return None, // a one-word mailbox cannot hold a burst
        Impl::RingflowSpsc(s) => paced_run(RingflowSpsc(s), cfg, paced),
        Impl::RingflowMpmc(s) => paced_run(RingflowMpmc(s), cfg, paced),
        Impl::Rtrb => paced_run(Rtrb, cfg, paced),
        Impl::ArrayQueue => paced_run(ArrayQueue, cfg, paced),
        Impl::CrossbeamChannel => paced_run(CrossbeamChannel, cfg, paced),
        Impl::StdSync => paced_run(StdSync, cfg, paced),
        Impl::Flume => paced_run(Flume, cfg, paced),
        Impl::Kanal => paced_run(Kanal, cfg, paced),
    })
}

/// Waits until `t`: sleeps while it is far, then spins (two cores) or yields
/// (one core, where spinning would keep the consumer off the CPU). Returns
/// the first instant seen at or after `t`.
fn wait_until(t: Instant, one_core: bool) -> Instant {
    loop {
        let now = Instant::now();
        if now >= t {
            return now;
        }
        let left = t - now;
        if left > Duration::from_micros(200) {
            thread::sleep(left - Duration::from_micros(150));
        } else if one_core {
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

fn paced_run<Q: Queue<Stamp>>(q: Q, cfg: &Config, paced: &PacedConfig) -> RunResult {
    let schedule = paced.schedule();
    let n = schedule.len() as u64;
    let warmup_ns = paced.warmup.as_nanos() as u64;
    let skip = schedule.iter().take_while(|&&t| t < warmup_ns).count() as u64;
    let (mut tx, mut rx) = q.channel(cfg.capacity);
    let stop = Stop::new();
    let (done_tx, done_rx) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(2));
    let (one_core, budget) = (cfg.one_core, paced.budget);

    let consumer = {
        let (stop2, barrier) = (stop.clone(), barrier.clone());
        spawn_pinned("consumer", cfg.cores.1, &stop, &done_tx, move || {
            let stop = stop2;
            let mut hist = new_histogram();
            barrier.wait();
            let mut got = 0;
            while got < n {
                let Ok((seq, intended)) = Q::recv(&mut rx, &stop) else { break };
                let lat = Instant::now().saturating_duration_since(intended);
                assert_eq!(seq, got, "consumer: items out of order or lost");
                if seq >= skip {
                    hist.saturating_record(lat.as_nanos() as u64);
                }
                got += 1;
            }
            (hist, got)
        })
    };
    let producer = {
        let stop2 = stop.clone();
        spawn_pinned("producer", cfg.cores.0, &stop, &done_tx, move || {
            let stop = stop2;
            barrier.wait();
            // A little lead so both threads are past the barrier.
            let start = Instant::now() + Duration::from_micros(500);
            let mut outcome = Outcome::Complete;
            let mut sent = 0u64;
            let mut late = new_histogram();
            for (seq, &offset) in schedule.iter().enumerate() {
                let intended = start + Duration::from_nanos(offset);
                let now = wait_until(intended, one_core);
                if seq as u64 >= skip {
                    late.saturating_record((now - intended).as_nanos() as u64);
                }
                if stop.is_set() {
                    outcome = Outcome::Stopped;
                    break;
                }
                if seq % 64 == 0 && start.elapsed() > budget {
                    outcome = Outcome::Budget;
                    break;
                }
                if Q::send(&mut tx, (seq as u64, intended), &stop).is_err() {
                    outcome = Outcome::Stopped;
                    break;
                }
                sent += 1;
            }
            if outcome != Outcome::Complete {
                stop.set(); // a spinning consumer drains what was sent, then sees this
            }
            (outcome, sent, late)
        })
    };
    drop(done_tx);
    match supervise(producer, consumer, done_rx, &stop, budget + Duration::from_secs(10)) {
        None => RunResult::hung(n - skip),
        Some(((outcome, sent, late), (hist, got))) => {
            if outcome == Outcome::Complete {
                assert_eq!(sent, n, "producer sent every item");
                assert_eq!(got, n, "consumer received every item");
            }
            let mut r = RunResult::from_histogram(&hist, outcome, n - skip);
            if !late.is_empty() {
                r.producer_late = Some([late.value_at_quantile(0.5), late.value_at_quantile(0.99), late.max()]);
            }
            r
        }
    }
}

// ---------------------------------------------------------------------------
// Driving the rounds and summarising.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    RoundTrip,
    Paced,
}

impl Scenario {
    fn key(self) -> &'static str {
        match self {
            Scenario::RoundTrip => "roundtrip",
            Scenario::Paced => "paced",
        }
    }
}

/// Every run of one implementation in one scenario.
struct Series {
    imp: Impl,
    runs: Vec<RunResult>,
    /// Position of the implementation within each round (rotation).
    positions: Vec<usize>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

struct Summary {
    imp: Impl,
    name: String,
    rounds_with_data: usize,
    outcomes: String,
    median_count: f64,
    wanted: u64,
    median: [f64; 6],
    min: [f64; 6],
    max: [f64; 6],
    /// Median across rounds of (this / floor) in the same round.
    ratio: Option<[f64; 6]>,
    /// Median across rounds of the producer's own lateness (p50, p99, max).
    producer_late: Option<[f64; 3]>,
    curve: Vec<(f64, f64)>,
}

fn summarise(series: &Series, floor: Option<&Series>) -> Summary {
    let ok: Vec<&RunResult> = series.runs.iter().filter(|r| r.count > 0).collect();
    let mut median_v = [f64::NAN; 6];
    let mut min_v = [f64::NAN; 6];
    let mut max_v = [f64::NAN; 6];
    for k in 0..6 {
        let mut col: Vec<f64> = ok.iter().map(|r| r.values[k] as f64).collect();
        median_v[k] = median(&mut col);
        min_v[k] = col.first().copied().unwrap_or(f64::NAN);
        max_v[k] = col.last().copied().unwrap_or(f64::NAN);
    }
    let ratio = floor.filter(|f| f.imp != series.imp).map(|f| {
        let mut r = [f64::NAN; 6];
        for (k, slot) in r.iter_mut().enumerate() {
            let mut col: Vec<f64> = series
                .runs
                .iter()
                .zip(&f.runs)
                .filter(|(a, b)| a.count > 0 && b.count > 0 && b.values[k] > 0)
                .map(|(a, b)| a.values[k] as f64 / b.values[k] as f64)
                .collect();
            *slot = median(&mut col);
        }
        r
    });
    let longest = ok.iter().map(|r| r.curve.len()).min().unwrap_or(0);
    let curve = (0..longest)
        .map(|i| {
            let mut col: Vec<f64> = ok.iter().map(|r| r.curve[i] as f64).collect();
            (i as f64 * CURVE_X_MAX / CURVE_STEPS as f64, median(&mut col))
        })
        .collect();
    let lates: Vec<[u64; 3]> = ok.iter().filter_map(|r| r.producer_late).collect();
    let producer_late = (!lates.is_empty()).then(|| {
        let mut m = [0.0; 3];
        for (k, slot) in m.iter_mut().enumerate() {
            *slot = median(&mut lates.iter().map(|l| l[k] as f64).collect::<Vec<_>>());
        }
        m
    });
    let mut counts: Vec<f64> = series.runs.iter().map(|r| r.count as f64).collect();
    let mut outcomes: Vec<(Outcome, usize)> = Vec::new();
    for r in &series.runs {
        match outcomes.iter_mut().find(|(o, _)| *o == r.outcome) {
            Some((_, n)) => *n += 1,
            None => outcomes.push((r.outcome, 1)),
        }
    }
    let outcomes = outcomes.iter().map(|(o, n)| format!("{n}x {}", o.label())).collect::<Vec<_>>().join(", ");
    Summary {
        imp: series.imp,
        name: series.imp.name(),
        rounds_with_data: ok.len(),
        outcomes,
        median_count: median(&mut counts),
        wanted: series.runs.first().map_or(0, |r| r.wanted),
        median: median_v,
        min: min_v,
        max: max_v,
        ratio,
        producer_late,
        curve,
    }
}

/// Nanoseconds, plain below 10 µs, then with a unit.
fn fmt_ns(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10_000.0 {
        format!("{v:.0}")
    } else if v < 1e6 {
        format!("{:.1}µs", v / 1e3)
    } else if v < 1e9 {
        format!("{:.1}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

/// `fmt_ns` with a unit on plain nanoseconds too.
fn fmt_ns_unit(v: f64) -> String {
    let s = fmt_ns(v);
    if v < 10_000.0 {
        s + " ns"
    } else {
        s
    }
}

/// An axis label for a power of ten of nanoseconds.
fn fmt_decade(ns: f64) -> String {
    match ns {
        v if v < 1e3 => format!("{v:.0} ns"),
        v if v < 1e6 => format!("{:.0} µs", v / 1e3),
        v if v < 1e9 => format!("{:.0} ms", v / 1e6),
        v => format!("{:.0} s", v / 1e9),
    }
}

fn fmt_ratio(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v >= 0.01 {
        format!("{v:.2}x")
    } else {
        // One core: a blocking queue can beat a spinning floor by 10^4.
        format!("{v:.1e}x")
    }
}

fn print_tables(title: &str, summaries: &[Summary], with_ratio: bool) {
    println!();
    println!("{title}");
    let w = summaries.iter().map(|s| s.name.chars().count()).max().unwrap_or(10).max(14);
    print!("  {:<w$}", "implementation");
    for c in COLUMNS {
        print!(" {c:>9}");
    }
    println!(" {:>9}  notes", "samples");
    for s in summaries {
        print!("  {:<w$}", s.name);
        for v in s.median {
            print!(" {:>9}", fmt_ns(v));
        }
        let mut notes = String::new();
        if s.outcomes != format!("{}x complete", s.rounds_with_data) || s.median_count < s.wanted as f64 {
            notes = format!("{} (wanted {} samples)", s.outcomes, s.wanted);
        }
        println!(" {:>9}  {notes}", format!("{:.0}", s.median_count));
    }
    println!();
    if with_ratio {
        println!(
            "  ratio to the floor of the same round (median of per-round ratios), and spread across rounds (min–max):"
        );
        print!("  {:<w$}", "implementation");
        for c in ["p50", "p99", "p99.9", "max"] {
            print!(" {:>11}", format!("{c}/floor"));
        }
    } else {
        println!("  spread across rounds (min–max), and how late the producer itself was (median across rounds):");
        print!("  {:<w$}", "implementation");
    }
    print!("   {:>17} {:>17} {:>17}", "p50 range", "p99.9 range", "max range");
    if !with_ratio {
        print!("   {:>9} {:>9} {:>9}", "late p50", "late p99", "late max");
    }
    println!();
    for s in summaries {
        print!("  {:<w$}", s.name);
        if with_ratio {
            for k in [0, 2, 3, 5] {
                print!(" {:>11}", s.ratio.map_or("-".into(), |r| fmt_ratio(r[k])));
            }
        }
        let spread = |k: usize| format!("{}–{}", fmt_ns(s.min[k]), fmt_ns(s.max[k]));
        print!("   {:>17} {:>17} {:>17}", spread(0), spread(3), spread(5));
        if let Some(late) = s.producer_late {
            print!("   {:>9} {:>9} {:>9}", fmt_ns(late[0]), fmt_ns(late[1]), fmt_ns(late[2]));
        }
        println!();
    }
}

// ---------------------------------------------------------------------------
// Output files: CSV, JSON, SVG — all written by hand.
// ---------------------------------------------------------------------------

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("ringflow")
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

fn json_obj(values: &[f64; 6]) -> String {
    let fields: Vec<String> =
        COLUMNS.iter().zip(values).map(|(c, v)| format!("{}: {}", json_str(c), json_num(*v))).collect();
    format!("{{{}}}", fields.join(", "))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// HdrHistogram-style latency-by-percentile plot: x = log10(1 / (1 - p)),
/// y = latency on a log scale, one polyline per implementation.
fn svg_plot(title: &str, subtitle: &str, summaries: &[Summary]) -> String {
    const W: f64 = 1260.0;
    const H: f64 = 620.0;
    let (left, right, top, bottom) = (80.0, W - 480.0, 70.0, H - 60.0);
    const PALETTE: [&str; 14] = [
        "#000000", "#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#bcbd22", "#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd",
        "#17becf", "#393b79", "#637939", "#843c39",
    ];
    let curves: Vec<&Summary> = summaries.iter().filter(|s| !s.curve.is_empty()).collect();
    let x_max = curves.iter().map(|s| s.curve.last().unwrap().0).fold(1.0, f64::max).ceil().min(CURVE_X_MAX);
    let ys = curves.iter().flat_map(|s| s.curve.iter().map(|p| p.1)).filter(|y| *y > 0.0);
    let (y_lo, y_hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (d_lo, mut d_hi) = if y_hi > 0.0 { (y_lo.log10().floor(), y_hi.log10().ceil()) } else { (1.0, 3.0) };
    if d_hi <= d_lo {
        d_hi = d_lo + 1.0;
    }
    let px = |x: f64| left + (right - left) * x / x_max;
    let py = |y: f64| bottom - (bottom - top) * (y.max(1.0).log10() - d_lo) / (d_hi - d_lo);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{left}" y="24" font-size="16" font-weight="bold">{}</text>"#, xml_escape(title));
    let _ = writeln!(s, r##"<text x="{left}" y="44" fill="#444">{}</text>"##, xml_escape(subtitle));
    // y grid: decades labelled, 2x and 5x light.
    let mut d = d_lo;
    while d <= d_hi {
        let base = 10f64.powf(d);
        let y = py(base);
        let _ = writeln!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#bbb"/>"##);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + 4.0,
            fmt_decade(base)
        );
        for m in [2.0, 5.0] {
            if d < d_hi {
                let y = py(base * m);
                let _ = writeln!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#eee"/>"##);
            }
        }
        d += 1.0;
    }
    // x ticks.
    for (x, label) in [
        (0.0, "0%"),
        (2f64.log10(), "50%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "99.999%"),
    ] {
        if x <= x_max + 1e-9 {
            let xp = px(x);
            let _ = writeln!(s, r##"<line x1="{xp:.1}" y1="{top}" x2="{xp:.1}" y2="{bottom}" stroke="#ddd"/>"##);
            let _ = writeln!(s, r#"<text x="{xp:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#, bottom + 18.0);
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        (left + right) / 2.0,
        bottom + 40.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">latency (log scale)</text>"#,
        (top + bottom) / 2.0
    );
    let _ = writeln!(
        s,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        right - left,
        bottom - top
    );
    // Series and legend.
    for (i, sum) in curves.iter().enumerate() {
        // One colour per implementation, the same in every plot.
        let color = PALETTE[Impl::all().iter().position(|&x| x == sum.imp).unwrap_or(i) % PALETTE.len()];
        let dash = if sum.imp == Impl::Floor { r#" stroke-dasharray="6,4""# } else { "" };
        let pts: Vec<String> = sum.curve.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
            pts.join(" ")
        );
        let ly = top + 10.0 + 20.0 * i as f64;
        let lx = right + 16.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"{dash}/>"#,
            lx + 24.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}: p50 {}, p99.9 {}</text>"#,
            lx + 30.0,
            ly + 4.0,
            xml_escape(&sum.name),
            fmt_ns_unit(sum.median[0]),
            fmt_ns_unit(sum.median[3])
        );
    }
    s.push_str("</svg>\n");
    s
}

// ---------------------------------------------------------------------------
// Banner: what machine and toolchain the numbers come from.
// ---------------------------------------------------------------------------

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let r = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", r / 3600, r / 60 % 60, r % 60)
}

/// Median cost of one `Instant::now()` in ns (every sample pays two).
fn instant_cost_ns() -> f64 {
    let mut v: Vec<f64> = (0..101)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(Instant::now());
            }
            t.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    median(&mut v)
}

// ---------------------------------------------------------------------------
// Command line and main.
// ---------------------------------------------------------------------------

const USAGE: &str = "cargo bench --bench latency -- [--quick] [--rounds N] [--samples N] [--paced-ms N] \
[--period-us N] [--burst N] [--burst-every-ms N] [--cores A,B] [--one-core] [--only rt|paced] [--list] [FILTER...]";

fn parse_args(available: &[CoreId]) -> Config {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| -> Option<String> {
        let i = args.iter().position(|a| a == name)?;
        Some(args.get(i + 1).unwrap_or_else(|| panic!("{name} needs a value; usage: {USAGE}")).clone())
    };
    let number = |name: &str| -> Option<usize> {
        value(name).map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
    };
    if flag("--help") || flag("-h") {
        println!("{USAGE}");
        std::process::exit(0);
    }
    if flag("--list") {
        Impl::all().iter().for_each(|i| println!("{}", i.name()));
        std::process::exit(0);
    }
    let quick = flag("--quick");
    let one_core = flag("--one-core");
    // Bare words are filters; skip the values of the options that take one.
    let takes_value =
        ["--cores", "--rounds", "--samples", "--paced-ms", "--period-us", "--burst", "--burst-every-ms", "--only"];
    let mut filter = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if takes_value.contains(&a.as_str()) {
            i += 1;
        } else if !a.starts_with('-') {
            filter.push(a.to_lowercase());
        }
        i += 1;
    }
    let pick = |id: usize| -> CoreId {
        *available.iter().find(|c| c.id == id).unwrap_or_else(|| {
            panic!("core {id} is not available; available: {:?}", available.iter().map(|c| c.id).collect::<Vec<_>>())
        })
    };
    let (a, b) = match value("--cores") {
        Some(v) => {
            let ids: Vec<usize> = v
                .split(',')
                .map(|x| x.trim().parse().unwrap_or_else(|_| panic!("--cores A,B: bad core {x}")))
                .collect();
            match ids.as_slice() {
                [a, b] => (pick(*a), pick(*b)),
                [a] => (pick(*a), pick(*a)),
                _ => panic!("--cores takes two ids, e.g. --cores 0,1"),
            }
        }
        None => (available[0], *available.get(1).unwrap_or(&available[0])),
    };
    if !one_core && a.id == b.id {
        eprintln!(
            "warning: both threads on core {} (only one core available or chosen): this is --one-core in effect",
            a.id
        );
    }
    let cores = if one_core { (a, a) } else { (a, b) };
    let rounds = number("--rounds").unwrap_or(if quick { 3 } else { 7 }).max(1);
    let rt_samples = number("--samples").unwrap_or(match (quick, one_core) {
        (false, false) => 100_000,
        (true, false) => 10_000,
        (false, true) => 2_000,
        (true, true) => 300,
    });
    let rt_warmup = (rt_samples / 10).clamp(10, 5_000);
    // On one core a spinning implementation makes each hop wait for the
    // scheduler (milliseconds): the budget caps what that can cost.
    let rt_budget = Duration::from_secs(match (quick, one_core) {
        (false, false) => 20,
        (true, false) => 3,
        (false, true) => 4,
        (true, true) => 1,
    });
    let paced_ms = number("--paced-ms").unwrap_or(if quick { 200 } else { 1000 }) as u64;
    let duration = Duration::from_millis(paced_ms.max(20));
    let paced = PacedConfig {
        duration,
        period: Duration::from_micros(number("--period-us").unwrap_or(10).max(1) as u64),
        burst: number("--burst").unwrap_or(256),
        burst_every: Duration::from_millis(number("--burst-every-ms").unwrap_or(10).max(1) as u64),
        warmup: (duration / 10).max(Duration::from_millis(10)),
        budget: duration * 3 + Duration::from_secs(1),
    };
    let only = value("--only");
    let (run_rt, run_paced) = match only.as_deref() {
        None => (true, true),
        Some("rt" | "roundtrip" | "round-trip") => (true, false),
        Some("paced") => (false, true),
        Some(o) => panic!("--only takes rt or paced, not {o}"),
    };
    Config {
        quick,
        one_core,
        rounds,
        filter,
        cores,
        capacity: 1024,
        rt_samples,
        rt_warmup,
        rt_budget,
        paced,
        run_rt,
        run_paced,
    }
}

fn selected(cfg: &Config, imp: Impl, scenario: Scenario) -> bool {
    if imp == Impl::Floor {
        // The floor always runs in the round trip (ratios need it); the
        // paced scenario has none.
        return scenario == Scenario::RoundTrip;
    }
    let name = imp.name().to_lowercase();
    cfg.filter.is_empty() || cfg.filter.iter().any(|f| name.contains(f.as_str()))
}

fn run_one(scenario: Scenario, imp: Impl, cfg: &Config, warm_up: bool) -> Option<RunResult> {
    match scenario {
        Scenario::RoundTrip => {
            let (samples, warmup) = if warm_up {
                ((cfg.rt_samples / 10).max(10), cfg.rt_warmup / 10)
            } else {
                (cfg.rt_samples, cfg.rt_warmup)
            };
            Some(run_round_trip(imp, cfg, samples, warmup))
        }
        Scenario::Paced => {
            let mut paced = cfg.paced.clone();
            if warm_up {
                paced.duration = (paced.duration / 4).max(Duration::from_millis(20));
                paced.warmup = Duration::ZERO;
            }
            run_paced(imp, cfg, &paced)
        }
    }
}

fn main() {
    // Read the core ids before anything is pinned (the main thread never is).
    let available = core_affinity::get_core_ids().unwrap_or_default();
    assert!(!available.is_empty(), "core_affinity found no usable core");
    let cfg = parse_args(&available);
    let started = Instant::now();

    let mode = if cfg.one_core {
        format!("ONE core: every thread pinned to core {} (oversubscribed)", cfg.cores.0.id)
    } else {
        format!("two cores: pinger/producer on core {}, ponger/consumer on core {}", cfg.cores.0.id, cfg.cores.1.id)
    };
    let banner = [
        ("cpu", cpu_model()),
        ("cores available", format!("{} {:?}", available.len(), available.iter().map(|c| c.id).collect::<Vec<_>>())),
        ("logical cpus", thread::available_parallelism().map_or("unknown".into(), |n| n.to_string())),
        ("kernel", read_trim("/proc/sys/kernel/osrelease")),
        ("clocksource", read_trim("/sys/devices/system/clocksource/clocksource0/current_clocksource")),
        ("rustc", command_line("rustc", &["-V"])),
        ("date", utc_now()),
        ("pinning", mode.clone()),
        ("Instant::now()", format!("{:.1} ns per call (two per sample, included in every number)", instant_cost_ns())),
    ];
    println!("ringflow latency bench{}", if cfg.quick { " (--quick)" } else { "" });
    for (k, v) in &banner {
        println!("  {k:<16} {v}");
    }
    let p = &cfg.paced;
    let settings = format!(
        "{} rounds (+1 warm-up round, discarded), order rotated each round; capacity {}; round trip: {} samples \
         (+{} warm-up) per run, budget {:?}; paced: 1 item / {:?} + burst of {} every {:?} for {:?} per run \
         (first {:?} not recorded)",
        cfg.rounds,
        cfg.capacity,
        cfg.rt_samples,
        cfg.rt_warmup,
        cfg.rt_budget,
        p.period,
        p.burst,
        p.burst_every,
        p.duration,
        p.warmup
    );
    println!("  {:<16} {settings}", "settings");
    if !cfg.filter.is_empty() {
        println!("  {:<16} {:?} (the floor always runs in the round trip)", "filter", cfg.filter);
    }

    let mut scenarios = Vec::new();
    if cfg.run_rt {
        scenarios.push(Scenario::RoundTrip);
    }
    if cfg.run_paced {
        scenarios.push(Scenario::Paced);
    }
    let mut all_series: Vec<(Scenario, Vec<Series>)> = Vec::new();
    for &scenario in &scenarios {
        let impls: Vec<Impl> = Impl::all().into_iter().filter(|&i| selected(&cfg, i, scenario)).collect();
        if impls.is_empty() {
            continue;
        }
        eprintln!("[{}] warm-up round", scenario.key());
        for &imp in &impls {
            let _ = run_one(scenario, imp, &cfg, true);
        }
        let mut series: Vec<Series> =
            impls.iter().map(|&imp| Series { imp, runs: Vec::new(), positions: Vec::new() }).collect();
        for round in 0..cfg.rounds {
            let t = Instant::now();
            for pos in 0..impls.len() {
                let idx = (pos + round) % impls.len();
                if let Some(r) = run_one(scenario, impls[idx], &cfg, false) {
                    series[idx].runs.push(r);
                    series[idx].positions.push(pos);
                }
            }
            eprintln!("[{}] round {}/{} done in {:.1?}", scenario.key(), round + 1, cfg.rounds, t.elapsed());
        }
        all_series.push((scenario, series));
    }

    // Tables.
    let mut summaries_by_scenario = Vec::new();
    for (scenario, series) in &all_series {
        let floor = series.iter().find(|s| s.imp == Impl::Floor);
        let summaries: Vec<Summary> = series.iter().map(|s| summarise(s, floor)).collect();
        let title = match scenario {
            Scenario::RoundTrip => {
                format!("Round trip (ping -> pong through two queues), ns, median of {} rounds — {}", cfg.rounds, mode)
            }
            Scenario::Paced => format!(
                "Paced one-way under bursts (now - intended send time), ns, median of {} rounds — {}",
                cfg.rounds, mode
            ),
        };
        print_tables(&title, &summaries, floor.is_some());
        summaries_by_scenario.push((*scenario, summaries));
    }

    // Files.
    let dir = out_dir();
    let stem = if cfg.one_core { "latency-one-core" } else { "latency" };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return;
    }
    let mut rounds_csv = String::from("scenario,implementation,round,position,outcome,count,wanted");
    for c in COLUMNS {
        let _ = write!(rounds_csv, ",{}_ns", c.replace('.', "_"));
    }
    rounds_csv.push('\n');
    for (scenario, series) in &all_series {
        for s in series {
            for (round, (r, pos)) in s.runs.iter().zip(&s.positions).enumerate() {
                let _ = write!(
                    rounds_csv,
                    "{},{},{},{},{},{},{}",
                    scenario.key(),
                    csv_field(&s.imp.name()),
                    round + 1,
                    pos,
                    r.outcome.label(),
                    r.count,
                    r.wanted
                );
                for v in r.values {
                    let _ = write!(rounds_csv, ",{v}");
                }
                rounds_csv.push('\n');
            }
        }
    }
    let mut summary_csv = String::from("scenario,implementation,rounds_with_data,outcomes,median_count");
    for kind in ["median", "min", "max", "ratio_to_floor"] {
        for c in COLUMNS {
            let _ = write!(summary_csv, ",{}_{kind}", c.replace('.', "_"));
        }
    }
    summary_csv.push('\n');
    let mut json = String::from("{\n  \"banner\": {\n");
    let fields: Vec<String> = banner.iter().map(|(k, v)| format!("    {}: {}", json_str(k), json_str(v))).collect();
    json.push_str(&fields.join(",\n"));
    let _ = write!(
        json,
        "\n  }},\n  \"settings\": {},\n  \"quick\": {},\n  \"one_core\": {},\n  \"rounds\": {},\n  \"scenarios\": [",
        json_str(&settings),
        cfg.quick,
        cfg.one_core,
        cfg.rounds
    );
    for (si, (scenario, summaries)) in summaries_by_scenario.iter().enumerate() {
        let _ = write!(
            json,
            "{}\n    {{\"name\": {}, \"unit\": \"ns\", \"results\": [",
            if si > 0 { "," } else { "" },
            json_str(scenario.key())
        );
        for (i, s) in summaries.iter().enumerate() {
            let _ = write!(
                summary_csv,
                "{},{},{},{},{}",
                scenario.key(),
                csv_field(&s.name),
                s.rounds_with_data,
                csv_field(&s.outcomes),
                s.median_count
            );
            let nan = [f64::NAN; 6];
            for arr in [&s.median, &s.min, &s.max, s.ratio.as_ref().unwrap_or(&nan)] {
                for v in arr {
                    let _ = write!(summary_csv, ",{}", if v.is_finite() { format!("{v:.3}") } else { String::new() });
                }
            }
            summary_csv.push('\n');
            let _ = write!(
                json,
                "{}\n      {{\"implementation\": {}, \"rounds_with_data\": {}, \"outcomes\": {}, \"median_count\": {}, \
                 \"median\": {}, \"min\": {}, \"max\": {}, \"ratio_to_floor\": {}}}",
                if i > 0 { "," } else { "" },
                json_str(&s.name),
                s.rounds_with_data,
                json_str(&s.outcomes),
                json_num(s.median_count),
                json_obj(&s.median),
                json_obj(&s.min),
                json_obj(&s.max),
                s.ratio.as_ref().map_or("null".into(), json_obj)
            );
        }
        json.push_str("\n    ]}");
    }
    json.push_str("\n  ]\n}\n");
    let mut written = vec![
        (dir.join(format!("{stem}-rounds.csv")), rounds_csv),
        (dir.join(format!("{stem}-summary.csv")), summary_csv),
        (dir.join(format!("{stem}.json")), json),
    ];
    for (scenario, summaries) in &summaries_by_scenario {
        let (title, file) = match scenario {
            Scenario::RoundTrip => ("Round trip latency by percentile", format!("{stem}-roundtrip.svg")),
            Scenario::Paced => ("Paced one-way latency under bursts, by percentile", format!("{stem}-paced.svg")),
        };
        let subtitle = format!("median of {} rounds; {}; {}; {}", cfg.rounds, banner[0].1, mode, banner[6].1);
        written.push((dir.join(file), svg_plot(title, &subtitle, summaries)));
    }
    println!();
    for (path, contents) in &written {
        match std::fs::write(path, contents) {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
    println!("total time {:.1?}", started.elapsed());
    if HUNG.load(Ordering::Relaxed) {
        eprintln!("error: at least one run hung (see above); its threads were left behind");
        std::process::exit(2);
    }
}
