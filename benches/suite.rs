//! Issue 18, "capacity is a bound, not an allocation": the evidence,
//! measured (never asserted), in three sections.
//!
//! `cargo bench --bench suite [-- --quick] [--rounds N] [--pairs N] [--items N] [--work-ns N]
//! [--messages N] [--cap1-messages N] [--capacity N] [FILTER]`
//!
//! 1. **Capacity 10^6, construct and drop** (`capacity` rows): a channel of
//!    10^6 `[u64; 4]` items (32 bytes each), for ringflow SPSC and MPMC and,
//!    for context, kanal, crossbeam-channel, flume and std `sync_channel`.
//!    Each round runs every implementation in a *fresh process* (this binary
//!    re-run with `--capacity-probe NAME`), so that one implementation's
//!    freed memory, and the thresholds glibc's `malloc` moves when a large
//!    block is freed, cannot flatter the next. In that process, first the
//!    memory: live bytes requested from the allocator (a counting
//!    `#[global_allocator]` around `std::alloc::System`) and resident memory
//!    (`/proc/self/statm` field 2 × page size), before construction, after
//!    it, and after 1 000 send / receive pairs with the channel still alive
//!    (the growth is reported); the first construction in the process is
//!    timed on its own ("cold"). Then `--pairs` (default 201) construct +
//!    drop pairs, each timed with `Instant`; the median of those is the
//!    round's value. Goals: construct + drop ≤ 10 µs, memory after 1 000
//!    sends and receives ≤ 1 MiB (both columns are shown and judged).
//! 2. **Capacity 10^6 with a consumer that keeps up** (`keep-up` rows):
//!    ringflow SPSC and MPMC (one sender, one receiver), blocking `send` /
//!    `recv` with the default wait strategy (`Park`), producer pinned to one
//!    core and consumer to the other, a fresh channel per run (construction
//!    and drop outside the timed span), `--items` items (default 2^22) of
//!    `()`, `u64` and `[u64; 4]`. "A consumer that keeps up" is made so on
//!    purpose: the producer does `--work-ns` (default 30) of busy work per
//!    item, so the consumer is the faster side (the judged rows); the same
//!    transfers free-running (no work: whichever side is slower) are shown
//!    for context. Each row shows the mean queue length the consumer saw
//!    (sampled every 1 024 items), so a reader can check the consumer did
//!    keep up. Per round, the rate at capacity 10^6 over the rate at
//!    capacity 1 024 of the same regime, implementation and payload; median
//!    and min–max across rounds. Goal ≥ 0.9×.
//! 3. **The kanal channel suite** (`suite` rows; the scenario definitions of
//!    github.com/fereidani/rust-channel-benchmarks, re-implemented here):
//!    `MESSAGES` = 10^6 messages, `THREADS` = 4, payloads empty `()`,
//!    `usize` and "big" `[usize; 4]`; `seq` (one thread sends all, then
//!    receives all), `spsc` (one sender thread, one receiver thread), `mpsc`
//!    (4 sender threads with `MESSAGES / 4` each, one receiver), `mpmc` (4
//!    senders, 4 receivers, `MESSAGES / 4` each); at capacity 1
//!    (`bounded1_*`) and capacity `MESSAGES` (`bounded_*`; `seq` only
//!    there). Capacity-1 rows move `--cap1-messages` (default
//!    `MESSAGES / 5`) instead of `MESSAGES`: std `sync_channel` and flume
//!    park on nearly every hand-over there, a few tens of thousands of
//!    messages a second on a 2-vCPU VM, so `MESSAGES` would take half a
//!    minute a run; every implementation of a row moves the same count and
//!    rates are per message. `--capacity N` runs the `bounded_*` cases at
//!    capacity `N` instead (named `bounded{N}_*`, `seq` left out), for
//!    every implementation alike: with `--capacity 1024` the ringflow MPMC
//!    ring is small and flat, which separates what capacity 10^6 costs it
//!    from what the thread count costs it. As in the suite, the timed span is the whole scenario: channel
//!    construction, spawning and joining the threads, and the drop; threads
//!    are *not* pinned, so 4 + 4 threads on a 2-vCPU machine are
//!    oversubscribed. Capacity 0 (rendezvous) and unbounded are left out:
//!    ringflow has neither. Every implementation with its defaults and its
//!    blocking calls: ringflow MPMC (`Park`), ringflow SPSC (`seq` and
//!    `spsc` only), kanal, crossbeam-channel, flume, std `sync_channel`
//!    (not `mpmc`: its receiver is single). Senders (and receivers) are
//!    cloned handles, one per thread. Per round, ringflow's rate over the
//!    best peer's rate in that round (best of kanal / crossbeam / flume /
//!    std); for `seq` and `spsc` also the better ringflow variant of the
//!    round over it. A placement probe (a bare cache line's round trip
//!    between cores 0 and 1) runs before every round of this section and
//!    after the last, and the headline ratio is also given over the rounds
//!    that stayed close together and over those that stayed far apart.
//!
//! Every section runs its configurations once per round, rounds
//! interleaved and the order rotated each round (`support::Rounds`; the
//! throughput sections discard a smaller warm-up round first), so every
//! ratio is taken *within* a round. A `FILTER` keeps the configurations
//! whose name contains it (case-insensitive; names start with the section:
//! `capacity ...`, `keep-up ...`, `suite bounded1_spsc(usize) kanal`);
//! a ratio whose inputs were filtered out is not shown.
//!
//! The sections run in the order 2, 3, 1 (the files list them 1, 2, 3):
//! section 1's probes fault in some 15 GB of fresh pages a round
//! (crossbeam-channel and std touch all 38 MiB of every channel they
//! build), and on the development VM the two-thread transfers run after
//! them were up to 3x slower, for minutes (three times out of three). The
//! VM also falls into such slow spells on its own (its two vCPUs are not
//! always neighbours): the per-round ratios are the numbers to read, and
//! the min-max of the rates shows when a spell hit some rounds.
//!
//! Results go to `target/ringflow/` through `support/output.rs`:
//! `suite-rounds.csv` (every run), `suite-summary.csv` and `suite.json`.
//! All scenarios share one set of value columns (rate, construct times,
//! memory, and for the suite the cores kept busy: process CPU time over
//! wall time, and the process's minor page faults per 1 000 messages,
//! from `getrusage`); a column a scenario does not measure is empty. The
//! suite section prints the faults as a table only if some case paid any
//! (a median of at least 0.05 per 1 000 messages), otherwise one line: a
//! run pays for the fresh pages it touches, and whether memory freed by an
//! earlier run comes back fresh depends on glibc's thresholds and on what
//! ran before in the process, not only on the queue. The summary's
//! `ratio_to_floor` columns hold each scenario's per-round ratio: for
//! `keep-up` capacity 10^6 over capacity 1 024, for `suite` ringflow over
//! the round's best peer (the derived `best peer` and `best ringflow` rows
//! carry those per-round maxima).
//!
//! Defaults: 7 rounds, 201 construct + drop pairs, 2^22 items, `MESSAGES`
//! = 10^6 (2 × 10^5 at capacity 1): about 7 minutes on 2 vCPUs, most of it
//! the capacity-1 rows of std and flume. `--quick` (CI): 2 rounds, 21
//! pairs, 2^20 items, 10^5 messages (2 × 10^4 at capacity 1): about 10 s.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use core_affinity::CoreId;
use ringflow::WaitStrategy::Park;
use support::*;

// ---------------------------------------------------------------------------
// Memory: the counting allocator and resident memory.
// ---------------------------------------------------------------------------

/// `std::alloc::System` with a count of the bytes currently allocated.
struct Counting;

/// Bytes allocated and not yet freed, by every thread.
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> i64 {
    LIVE.load(Ordering::Relaxed) as i64
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// Resident memory of this process: `/proc/self/statm` field 2 (pages) ×
/// page size, read into a stack buffer (no allocation to disturb the
/// count). `None` where there is no such file.
fn resident_bytes() -> Option<i64> {
    let mut buf = [0u8; 256];
    let n = std::fs::File::open("/proc/self/statm").and_then(|mut f| f.read(&mut buf)).ok()?;
    let pages: u64 = std::str::from_utf8(&buf[..n]).ok()?.split_whitespace().nth(1)?.parse().ok()?;
    Some((pages * page_size()) as i64)
}

// ---------------------------------------------------------------------------
// Payloads.
// ---------------------------------------------------------------------------

/// A message: built from a sequence number (from 1 in the suite, from 0 in
/// the keep-up transfer), which it carries unless it is empty.
trait Msg: Send + 'static {
    fn make(i: u64) -> Self;
    fn value(&self) -> Option<u64>;
}

impl Msg for () {
    #[inline(always)]
    fn make(_: u64) -> Self {}
    #[inline(always)]
    fn value(&self) -> Option<u64> {
        None
    }
}

impl Msg for u64 {
    #[inline(always)]
    fn make(i: u64) -> Self {
        i
    }
    #[inline(always)]
    fn value(&self) -> Option<u64> {
        Some(*self)
    }
}

impl Msg for usize {
    #[inline(always)]
    fn make(i: u64) -> Self {
        i as usize
    }
    #[inline(always)]
    fn value(&self) -> Option<u64> {
        Some(*self as u64)
    }
}

impl Msg for [u64; 4] {
    #[inline(always)]
    fn make(i: u64) -> Self {
        [i; 4]
    }
    #[inline(always)]
    fn value(&self) -> Option<u64> {
        Some(self[0])
    }
}

impl Msg for [usize; 4] {
    #[inline(always)]
    fn make(i: u64) -> Self {
        [i as usize; 4]
    }
    #[inline(always)]
    fn value(&self) -> Option<u64> {
        Some(self[0] as u64)
    }
}

// ---------------------------------------------------------------------------
// Watchdog: no run may hang the bench.
// ---------------------------------------------------------------------------

/// The run in progress (name, start), for the watchdog.
static CURRENT: Mutex<Option<(String, Instant)>> = Mutex::new(None);
static WATCHDOG_LIMIT_S: AtomicU64 = AtomicU64::new(120);

/// Starts the watchdog once: a run that takes longer than the limit (a lost
/// wake-up) ends the process with status 3 and says which run it was.
fn watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        thread::Builder::new()
            .name("watchdog".into())
            .spawn(|| loop {
                thread::sleep(Duration::from_millis(500));
                let limit = Duration::from_secs(WATCHDOG_LIMIT_S.load(Ordering::Relaxed));
                if let Some((name, since)) = CURRENT.lock().unwrap().as_ref() {
                    if since.elapsed() > limit {
                        eprintln!("watchdog: {name} has run for more than {limit:?}: HUNG, exiting");
                        std::process::exit(3);
                    }
                }
            })
            .expect("spawn the watchdog");
    });
}

/// Runs `f` under the watchdog's eye.
fn watched<R>(name: &str, f: impl FnOnce() -> R) -> R {
    *CURRENT.lock().unwrap() = Some((name.to_string(), Instant::now()));
    let r = f();
    *CURRENT.lock().unwrap() = None;
    r
}

// ---------------------------------------------------------------------------
// The results model: one set of columns for every scenario.
// ---------------------------------------------------------------------------

const COLUMNS: &[&str] = &[
    "rate M per s",
    "construct drop us",
    "cold construct us",
    "alloc after construct B",
    "alloc after 1000 B",
    "resident after construct B",
    "resident after 1000 B",
    "mean fill",
    "cpu cores",
    "minor faults per 1000 msgs",
];
const RATE: usize = 0;
const CONSTRUCT: usize = 1;
const COLD: usize = 2;
const ALLOC_BUILT: usize = 3;
const ALLOC_AFTER: usize = 4;
const RSS_BUILT: usize = 5;
const RSS_AFTER: usize = 6;
const FILL: usize = 7;
const CPU: usize = 8;
const FAULTS: usize = 9;

const CAPACITY_METRICS: Metrics = Metrics { scenario: "capacity", unit: "value", columns: COLUMNS, column_units: &[] };
const KEEP_UP_METRICS: Metrics = Metrics { scenario: "keep-up", unit: "value", columns: COLUMNS, column_units: &[] };
const SUITE_METRICS: Metrics = Metrics { scenario: "suite", unit: "value", columns: COLUMNS, column_units: &[] };

fn values(set: &[(usize, f64)]) -> Vec<f64> {
    let mut v = vec![f64::NAN; COLUMNS.len()];
    for &(k, x) in set {
        v[k] = x;
    }
    v
}

fn run_record(m: &Metrics, name: &str, round: usize, position: usize, count: u64, values: Vec<f64>) -> Run {
    Run {
        scenario: m.scenario,
        implementation: name.to_string(),
        round: round + 1,
        position,
        outcome: Outcome::Complete,
        count,
        wanted: count,
        values,
    }
}

// ---------------------------------------------------------------------------
// Section 1: capacity 10^6, construct + drop, memory.
// ---------------------------------------------------------------------------

const BIG: usize = 1_000_000;

/// The implementations of section 1, by the names `--capacity-probe` takes.
const PROBED: [&str; 6] = ["ringflow spsc", "ringflow mpmc", "kanal", "crossbeam-channel", "flume", "std sync_channel"];

/// What one probe process measured.
struct Probe {
    alloc_built: i64,
    alloc_after: i64,
    rss_built: Option<i64>,
    rss_after: Option<i64>,
    cold_ns: u64,
    median_ns: u64,
}

/// In this (fresh) process: the memory of one channel of capacity 10^6,
/// then `pairs` timed construct + drop pairs. Printed as one line for the
/// parent.
fn probe<Q: Spsc<[u64; 4]>>(q: Q, pairs: usize) {
    let stop = Stop::new();
    let mut times: Vec<u64> = Vec::with_capacity(pairs);
    // Fault in the code (and any lazily set-up state) the measured calls
    // will run, on a small channel, so that the resident growth below is
    // the big channel's data rather than this binary's text pages.
    {
        let (mut tx, mut rx) = q.channel(16);
        for i in 0..1000u64 {
            Q::send(&mut tx, Msg::make(i), &stop).expect("send");
            std::hint::black_box(Q::recv(&mut rx, &stop).expect("recv"));
        }
        let _ = (resident_bytes(), Instant::now().elapsed());
    }
    let (live0, rss0) = (live_bytes(), resident_bytes());
    let t = Instant::now();
    let (mut tx, mut rx) = q.channel(BIG);
    let cold = t.elapsed().as_nanos() as u64;
    let (live1, rss1) = (live_bytes(), resident_bytes());
    for i in 0..1000u64 {
        Q::send(&mut tx, Msg::make(i), &stop).expect("send");
        let v = std::hint::black_box(Q::recv(&mut rx, &stop).expect("recv"));
        assert_eq!(v[0], i);
    }
    let (live2, rss2) = (live_bytes(), resident_bytes());
    drop((tx, rx));
    for _ in 0..pairs {
        let t = Instant::now();
        let ch = q.channel(BIG);
        drop(std::hint::black_box(ch));
        times.push(t.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    let diff = |a: Option<i64>, b: Option<i64>| a.zip(b).map_or("-".to_string(), |(a, b)| (b - a).to_string());
    println!(
        "probe {} {} {} {} {} {}",
        live1 - live0,
        live2 - live0,
        diff(rss0, rss1),
        diff(rss0, rss2),
        cold,
        times[times.len() / 2]
    );
}

fn probe_main(name: &str, pairs: usize) {
    match name {
        "ringflow spsc" => probe(RingflowBlocking(Park, None), pairs),
        "ringflow mpmc" => probe(RingflowMpmc(Park, None), pairs),
        "kanal" => probe(Kanal, pairs),
        "crossbeam-channel" => probe(CrossbeamChannel, pairs),
        "flume" => probe(Flume, pairs),
        "std sync_channel" => probe(StdSync, pairs),
        other => panic!("--capacity-probe: unknown implementation {other:?}"),
    }
}

/// Runs one probe process and reads its line.
fn run_probe(name: &str, pairs: usize) -> Probe {
    let exe = std::env::current_exe().expect("the bench's own path");
    let out = std::process::Command::new(exe)
        .args(["--capacity-probe", name, "--pairs", &pairs.to_string()])
        .output()
        .expect("run a probe process");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "probe {name} failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find(|l| l.starts_with("probe ")).unwrap_or_else(|| panic!("probe {name}: no result"));
    let f: Vec<&str> = line.split_whitespace().skip(1).collect();
    let int = |s: &str| s.parse::<i64>().ok();
    Probe {
        alloc_built: int(f[0]).expect("alloc"),
        alloc_after: int(f[1]).expect("alloc"),
        rss_built: int(f[2]),
        rss_after: int(f[3]),
        cold_ns: int(f[4]).expect("time") as u64,
        median_ns: int(f[5]).expect("time") as u64,
    }
}

// ---------------------------------------------------------------------------
// Section 2: capacity 10^6 vs 1 024 with a consumer that keeps up.
// ---------------------------------------------------------------------------

/// Moves `items` messages from a producer on `cores.0` to a consumer on
/// `cores.1` through a fresh channel of `capacity`, checking the order of
/// every non-empty message; the producer does `units` of [`busy`] work per
/// message (0: free-running). Construction happens before the clock starts,
/// and the handles come back out so that the drop happens after it stops.
/// Returns the time and the mean fill the consumer saw (`len` sampled every
/// 1024 messages).
fn keep_up<T: Msg, Q: Spsc<T>>(
    q: Q,
    len: fn(&<Q as Queue<T>>::Rx) -> usize,
    capacity: usize,
    items: u64,
    units: u32,
    cores: (CoreId, CoreId),
) -> (Duration, f64) {
    let (mut tx, mut rx) = q.channel(capacity);
    let back_tx = Arc::new(Mutex::new(None));
    let back_rx = Arc::new(Mutex::new(None));
    let fill = Arc::new(Mutex::new(f64::NAN));
    let (btx, brx, fill2) = (back_tx.clone(), back_rx.clone(), fill.clone());
    let producer: Work = worker(move |stop: &Stop| {
        for i in 0..items {
            busy(units);
            Q::send(&mut tx, T::make(i), stop)?;
        }
        *btx.lock().unwrap() = Some(tx);
        Ok(())
    });
    let consumer: Work = worker(move |stop: &Stop| {
        let (mut sum, mut samples) = (0usize, 0usize);
        for i in 0..items {
            let v = std::hint::black_box(Q::recv(&mut rx, stop)?);
            if let Some(x) = v.value() {
                assert_eq!(x, i, "lost, duplicated or reordered item");
            }
            if i % 1024 == 512 {
                sum += len(&rx);
                samples += 1;
            }
        }
        if samples > 0 {
            *fill2.lock().unwrap() = sum as f64 / samples as f64;
        }
        *brx.lock().unwrap() = Some(rx);
        Ok(())
    });
    let t = run_workers(vec![(cores.0, producer), (cores.1, consumer)]);
    drop((back_tx, back_rx));
    let fill = *fill.lock().unwrap();
    (t, fill)
}

/// The keep-up regimes: the judged one, where the producer works per
/// message so the consumer keeps up, and free-running for context.
const KEEPS_UP: &str = "consumer keeps up";
const FREE: &str = "free-running";

/// Runs `items` items on the two cores: the time and the mean fill.
type KeepUpRun = Box<dyn Fn(u64, (CoreId, CoreId)) -> (Duration, f64)>;

struct KeepUpRow {
    name: String,
    /// (regime, implementation, payload): the two capacities of one pair
    /// share it.
    pair: String,
    capacity: usize,
    run: KeepUpRun,
}

fn keep_up_rows_for<T: Msg>(payload: &str, units: u32, rows: &mut Vec<KeepUpRow>) {
    for (regime, units) in [(KEEPS_UP, units), (FREE, 0)] {
        for cap in [1024, BIG] {
            for imp in ["ringflow spsc", "ringflow mpmc"] {
                let run: KeepUpRun = if imp == "ringflow spsc" {
                    Box::new(move |n, c| keep_up::<T, _>(RingflowBlocking(Park, None), |rx| rx.len(), cap, n, units, c))
                } else {
                    Box::new(move |n, c| keep_up::<T, _>(RingflowMpmc(Park, None), |rx| rx.len(), cap, n, units, c))
                };
                rows.push(KeepUpRow {
                    name: format!("keep-up {regime} {imp} {payload} cap {cap}"),
                    pair: format!("{regime}, {imp} {payload}"),
                    capacity: cap,
                    run,
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Section 3: the kanal channel suite.
// ---------------------------------------------------------------------------

const THREADS: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Seq,
    Spsc,
    Mpsc,
    Mpmc,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Seq => "seq",
            Scenario::Spsc => "spsc",
            Scenario::Mpsc => "mpsc",
            Scenario::Mpmc => "mpmc",
        }
    }
}

/// The suite's check that a received message was built (and is used).
#[inline(always)]
fn test<T: Msg>(m: T) {
    if let Some(v) = std::hint::black_box(m).value() {
        assert!(v >= 1, "invalid value");
    }
}

/// `seq`, `spsc`: the two scenarios every queue can run.
fn single<T: Msg, Q: Spsc<T>>(q: Q, scenario: Scenario, capacity: usize, n: usize) -> Duration {
    let stop = &Stop::new();
    let t = Instant::now();
    let (mut tx, mut rx) = q.channel(capacity);
    match scenario {
        Scenario::Seq => {
            for i in 1..=n as u64 {
                Q::send(&mut tx, T::make(i), stop).expect("send");
            }
            for _ in 0..n {
                test(Q::recv(&mut rx, stop).expect("recv"));
            }
            drop((tx, rx));
        }
        Scenario::Spsc => thread::scope(|s| {
            s.spawn(move || {
                for i in 1..=n as u64 {
                    Q::send(&mut tx, T::make(i), stop).expect("send");
                }
            });
            s.spawn(move || {
                for _ in 0..n {
                    test(Q::recv(&mut rx, stop).expect("recv"));
                }
            });
        }),
        other => unreachable!("{other:?} needs cloned handles"),
    }
    t.elapsed()
}

/// `seq`, `spsc`, `mpsc`: queues whose senders can be cloned.
fn multi_sender<T: Msg, Q>(q: Q, scenario: Scenario, capacity: usize, n: usize) -> Duration
where
    Q: Spsc<T>,
    <Q as Queue<T>>::Tx: Clone,
{
    if scenario != Scenario::Mpsc {
        return single::<T, Q>(q, scenario, capacity, n);
    }
    let stop = &Stop::new();
    let t = Instant::now();
    let (tx, mut rx) = q.channel(capacity);
    thread::scope(|s| {
        for _ in 0..THREADS {
            let mut tx = tx.clone();
            s.spawn(move || {
                for i in 1..=(n / THREADS) as u64 {
                    Q::send(&mut tx, T::make(i), stop).expect("send");
                }
            });
        }
        drop(tx);
        s.spawn(move || {
            for _ in 0..n / THREADS * THREADS {
                test(Q::recv(&mut rx, stop).expect("recv"));
            }
        });
    });
    t.elapsed()
}

/// Every scenario: queues whose senders and receivers can be cloned.
fn multi<T: Msg, Q>(q: Q, scenario: Scenario, capacity: usize, n: usize) -> Duration
where
    Q: Spsc<T>,
    <Q as Queue<T>>::Tx: Clone,
    <Q as Queue<T>>::Rx: Clone,
{
    if scenario != Scenario::Mpmc {
        return multi_sender::<T, Q>(q, scenario, capacity, n);
    }
    let stop = &Stop::new();
    let t = Instant::now();
    let (tx, rx) = q.channel(capacity);
    thread::scope(|s| {
        for _ in 0..THREADS {
            let mut tx = tx.clone();
            s.spawn(move || {
                for i in 1..=(n / THREADS) as u64 {
                    Q::send(&mut tx, T::make(i), stop).expect("send");
                }
            });
        }
        for _ in 0..THREADS {
            let mut rx = rx.clone();
            s.spawn(move || {
                for _ in 0..n / THREADS {
                    test(Q::recv(&mut rx, stop).expect("recv"));
                }
            });
        }
        drop((tx, rx));
    });
    t.elapsed()
}

/// The suite's implementations: name, whether it is a peer (not ringflow),
/// the scenarios it runs, and how.
type SuiteRun = Rc<dyn Fn(Scenario, usize, usize) -> Duration>;

const ALL: &[Scenario] = &[Scenario::Seq, Scenario::Spsc, Scenario::Mpsc, Scenario::Mpmc];
const NO_MPMC: &[Scenario] = &[Scenario::Seq, Scenario::Spsc, Scenario::Mpsc];
const SEQ_SPSC: &[Scenario] = &[Scenario::Seq, Scenario::Spsc];

const RF_MPMC: &str = "ringflow mpmc";
const RF_SPSC: &str = "ringflow spsc";
const PEERS: [&str; 4] = ["kanal", "crossbeam-channel", "flume", "std sync_channel"];
/// The suite tables' implementation columns, in order, and their headings.
const SUITE_COLUMNS: [(&str, &str); 6] = [
    (RF_MPMC, "rf mpmc"),
    (RF_SPSC, "rf spsc"),
    ("kanal", "kanal"),
    ("crossbeam-channel", "crossbeam"),
    ("flume", "flume"),
    ("std sync_channel", "std"),
];

/// A suite table's line: the case (or heading) and one cell per
/// implementation column.
fn suite_line(first: &str, cell: impl Fn(&str, &str) -> String) -> String {
    let c: Vec<String> = SUITE_COLUMNS.iter().map(|&(imp, heading)| cell(imp, heading)).collect();
    format!("   {first:<24} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}", c[0], c[1], c[2], c[3], c[4], c[5])
}

fn suite_impls<T: Msg>() -> Vec<(&'static str, &'static [Scenario], SuiteRun)> {
    vec![
        (RF_MPMC, ALL, Rc::new(|s, c, n| multi::<T, _>(RingflowMpmc(Park, None), s, c, n))),
        (RF_SPSC, SEQ_SPSC, Rc::new(|s, c, n| single::<T, _>(RingflowBlocking(Park, None), s, c, n))),
        ("kanal", ALL, Rc::new(|s, c, n| multi::<T, _>(Kanal, s, c, n))),
        ("crossbeam-channel", ALL, Rc::new(|s, c, n| multi::<T, _>(CrossbeamChannel, s, c, n))),
        ("flume", ALL, Rc::new(|s, c, n| multi::<T, _>(Flume, s, c, n))),
        ("std sync_channel", NO_MPMC, Rc::new(|s, c, n| multi_sender::<T, _>(StdSync, s, c, n))),
    ]
}

/// One case of the suite (scenario, capacity, payload), e.g.
/// `bounded1_spsc(usize)`, and its implementations' configurations.
struct SuiteCase {
    name: String,
    /// Indices into the configuration list, with the implementation names.
    rows: Vec<(&'static str, usize)>,
}

struct SuiteRow {
    name: String,
    /// Capacity 1 (these rows move `--cap1-messages`).
    cap_one: bool,
    run: Box<dyn Fn(usize) -> Duration>,
}

/// `capacity`: of the rows that are not capacity 1; `None` for the
/// suite's own (`MESSAGES`), `Some(n)` from `--capacity N`, which names
/// those cases `bounded{n}_*` and leaves out `seq` (a channel that cannot
/// hold every message would never see its first receive).
fn suite_rows_for<T: Msg>(
    payload: &str,
    capacity: Option<usize>,
    cases: &mut Vec<SuiteCase>,
    rows: &mut Vec<SuiteRow>,
) {
    let impls = suite_impls::<T>();
    let shapes = [
        (Scenario::Seq, false),
        (Scenario::Spsc, true),
        (Scenario::Spsc, false),
        (Scenario::Mpsc, true),
        (Scenario::Mpsc, false),
        (Scenario::Mpmc, true),
        (Scenario::Mpmc, false),
    ];
    for (scenario, cap_one) in shapes {
        if scenario == Scenario::Seq && capacity.is_some() {
            continue;
        }
        let prefix = match (cap_one, capacity) {
            (true, _) => "bounded1".to_string(),
            (false, None) => "bounded".to_string(),
            (false, Some(c)) => format!("bounded{c}"),
        };
        let case_name = format!("{prefix}_{}({payload})", scenario.name());
        let mut case = SuiteCase { name: case_name.clone(), rows: Vec::new() };
        for (imp, scenarios, run) in &impls {
            if !scenarios.contains(&scenario) {
                continue;
            }
            let run = run.clone();
            case.rows.push((imp, rows.len()));
            rows.push(SuiteRow {
                name: format!("suite {case_name} {imp}"),
                cap_one,
                run: Box::new(move |n| run(scenario, if cap_one { 1 } else { capacity.unwrap_or(n) }, n)),
            });
        }
        cases.push(case);
    }
}

// ---------------------------------------------------------------------------
// Arguments and printing.
// ---------------------------------------------------------------------------

/// The commit the measured ringflow was built from, and whether `src/` had
/// uncommitted changes when the bench ran (read with `git`, at run time).
fn source_state() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        None => "unknown (no git)".into(),
        Some(head) => match git(&["status", "--porcelain", "--", "src"]).map(|s| s.lines().count()) {
            Some(0) => format!("commit {head}, src/ clean"),
            Some(n) => format!("commit {head} + uncommitted changes in {n} file(s) under src/"),
            None => format!("commit {head}"),
        },
    }
}

/// Minor page faults of this process so far (every thread).
fn minor_faults() -> u64 {
    // SAFETY: `getrusage` fills the `rusage` it is given, a valid exclusive
    // pointer; an all-zero `rusage` is a valid value to start from.
    let mut usage: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: as above; `RUSAGE_SELF` is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    u64::try_from(usage.ru_minflt).unwrap_or(0)
}

const VALUE_FLAGS: [&str; 8] =
    ["--rounds", "--messages", "--cap1-messages", "--capacity", "--items", "--pairs", "--work-ns", "--capacity-probe"];

fn fmt_bytes(b: f64) -> String {
    if b.is_nan() {
        return "-".into();
    }
    let a = b.abs();
    if a >= (1 << 20) as f64 {
        format!("{:.1} MiB", b / (1 << 20) as f64)
    } else if a >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn fmt_us(us: f64) -> String {
    if us.is_nan() {
        "-".into()
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn fmt_rate(r: f64) -> String {
    if r.is_nan() {
        "-".into()
    } else if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

fn fmt_ratio(s: &Spread) -> String {
    if s.median.is_nan() {
        "-".into()
    } else {
        format!("{:.2}x ({:.2}-{:.2})", s.median, s.min, s.max)
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "-",
    }
}

/// Per-round ratios `num[k] / den[k]` over the rounds both have.
fn ratios(num: &[f64], den: &[f64]) -> Vec<f64> {
    num.iter().zip(den).filter(|(a, b)| a.is_finite() && b.is_finite() && **b > 0.0).map(|(a, b)| a / b).collect()
}

// ---------------------------------------------------------------------------
// Main.
// ---------------------------------------------------------------------------

fn main() {
    check_args(
        "cargo bench --bench suite [-- --quick] [--rounds N] [--pairs N] [--items N] [--work-ns N] \
         [--messages N] [--cap1-messages N] [--capacity N] [FILTER]",
        &["--quick"],
        // `--capacity-probe NAME`: the bench's own child processes.
        &[
            "--rounds",
            "--pairs",
            "--items",
            "--work-ns",
            "--messages",
            "--cap1-messages",
            "--capacity",
            "--capacity-probe",
        ],
        true,
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--capacity-probe") {
        let name = args.get(i + 1).expect("--capacity-probe NAME");
        probe_main(name, arg_value(&args, "--pairs").unwrap_or(201) as usize);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = arg_value(&args, "--rounds").unwrap_or(if quick { 2 } else { 7 }) as usize;
    let pairs = arg_value(&args, "--pairs").unwrap_or(if quick { 21 } else { 201 }) as usize;
    let items = arg_value(&args, "--items").unwrap_or(if quick { 1 << 20 } else { 1 << 22 });
    let messages = arg_value(&args, "--messages").unwrap_or(if quick { 100_000 } else { 1_000_000 }) as usize;
    let cap1_messages = arg_value(&args, "--cap1-messages").map_or(messages / 5, |n| n as usize);
    let work_ns = arg_value(&args, "--work-ns").unwrap_or(30);
    let suite_capacity = arg_value(&args, "--capacity").map(|n| n as usize).filter(|&n| n != messages);
    assert!(suite_capacity.map_or(true, |n| n >= 2), "--capacity: at least 2 (capacity 1 has its own rows)");
    assert!(rounds >= 1 && pairs >= 1 && items >= 1000, "need a round, a pair and 1000 items");
    for (flag, n) in [("--messages", messages), ("--cap1-messages", cap1_messages)] {
        assert!(n >= 1000 && n % THREADS == 0, "{flag}: at least 1000, a multiple of {THREADS}");
    }
    let filter = args
        .iter()
        .enumerate()
        .find(|&(i, a)| {
            !a.starts_with("--") && !i.checked_sub(1).is_some_and(|j| VALUE_FLAGS.contains(&args[j].as_str()))
        })
        .map(|(_, f)| f.to_lowercase());
    let keep = |name: &str| filter.as_ref().map_or(true, |f| name.to_lowercase().contains(f.as_str()));
    if quick {
        WATCHDOG_LIMIT_S.store(60, Ordering::Relaxed);
    }
    watchdog();

    let cores = cores();
    let units = busy_units_for(work_ns as f64);
    let started = Instant::now();
    let mut banner = Facts::machine();
    banner.push(
        "pinning",
        format!(
            "keep-up: producer on core {}, consumer on core {}; capacity probes and the suite: not pinned",
            cores.0.id, cores.1.id
        ),
    );
    banner.push("allocator", "std::alloc::System (glibc malloc on Linux), counted".into());
    banner.push("ringflow source", source_state());
    let placement = Placement::probe(cores);
    banner.push(
        "placement probe",
        format!(
            "{:.0} ns: a bare cache line's round trip between cores {} and {} (about 55 close together, 390 far apart \
             on the development VM; probed again at the end)",
            placement.before(),
            cores.0.id,
            cores.1.id
        ),
    );
    println!("ringflow suite bench: issue 18, capacity is a bound{}", if quick { " (--quick)" } else { "" });
    banner.print();
    let settings = format!(
        "{rounds} interleaved rounds (order rotated); capacity: {pairs} construct+drop pairs per probe process, \
         capacity {BIG} of [u64; 4]; keep-up: {items} items per run, capacity {BIG} vs 1024, pinned, producer work \
         {work_ns} ns per item ({units} busy-loop units) where the consumer keeps up; suite: MESSAGES = {messages} \
         ({cap1_messages} at capacity 1), THREADS = {THREADS}, unpinned, timed span = construct + spawn + join + drop; \
         sections run in the order 2, 3, 1"
    );
    println!("  {:<16} {settings}", "settings");

    let mut all_runs: Vec<Run> = Vec::new();
    let mut scenarios: Vec<ScenarioReport> = Vec::new();

    // The sections run in the order 2, 3, 1 (their numbers are the issue's
    // targets): section 1's probes fault in some 15 GB of fresh pages a
    // round (crossbeam-channel and std touch all 38 MiB of every channel they
    // build), and on the development VM the two-thread transfers of sections
    // 2 and 3 ran up to 3x slower for minutes after that.

    // -----------------------------------------------------------------------
    // 2. Capacity 10^6 vs 1024 with a consumer that keeps up.
    // -----------------------------------------------------------------------
    let mut rows = Vec::new();
    keep_up_rows_for::<()>("()", units, &mut rows);
    keep_up_rows_for::<u64>("u64", units, &mut rows);
    keep_up_rows_for::<[u64; 4]>("[u64;4]", units, &mut rows);
    rows.retain(|r| keep(&r.name));
    if !rows.is_empty() {
        println!(
            "\n2. Capacity {BIG} vs 1024, consumer keeps up: ringflow blocking send/recv (Park), producer on core {}, \
             consumer on core {}",
            cores.0.id, cores.1.id
        );
        println!(
            "   method: {items} items per run, a fresh channel per run (built before and dropped after the timed \
             span), every configuration once per round after a warm-up round of {} items, {rounds} rounds; ratio = \
             rate at capacity {BIG} / rate at capacity 1024 of the same regime, implementation and payload in the \
             same round, median (min-max) across rounds. Regimes: '{KEEPS_UP}' (the producer does {work_ns} ns of \
             work per item, so the consumer is the faster side: the judged rows) and '{FREE}' (no work; whichever \
             side is slower, for context). 'fill' = mean queue length the consumer saw (sampled every 1024 items, \
             median across rounds).",
            items / 4
        );
        let mut runs: Vec<Vec<Run>> = rows.iter().map(|_| Vec::new()).collect();
        // A placement probe before every round and after the last, as in
        // section 3: these rows are pinned across the two vCPUs, and with
        // every item crossing alone their rates follow the distance between
        // them.
        let mut probes = RoundProbes::new(cores, rounds);
        let schedule = Rounds { rounds, rotate_by: 5, label: "keep-up".into() };
        schedule.run(
            rows.len(),
            |i| {
                watched(&rows[i].name, || (rows[i].run)((items / 4).max(1000), cores));
            },
            |i, round, position| {
                if position == 0 {
                    probes.before_round();
                }
                let (t, fill) = watched(&rows[i].name, || (rows[i].run)(items, cores));
                let rate = items as f64 / t.as_secs_f64() / 1e6;
                let v = values(&[(RATE, rate), (FILL, fill)]);
                runs[i].push(run_record(&KEEP_UP_METRICS, &rows[i].name, round, position, items, v));
            },
        );
        let (wheres, per_round, _) = probes.finish();
        println!("   {per_round}");
        println!(
            "\n   {:<50} {:>18} {:>6} {:>18} {:>8} {:>20}  {:<10}  {:<17}",
            "regime, implementation, payload",
            "cap 1024 M/s",
            "fill",
            "cap 1e6 M/s",
            "fill",
            "ratio 1e6/1024",
            ">=0.9",
            "close | far"
        );
        let rate_of = |i: usize| runs[i].iter().map(|r| r.values[RATE]).collect::<Vec<_>>();
        let fill_of = |i: Option<usize>| {
            i.map_or("-".to_string(), |i| {
                let f = median(&runs[i].iter().map(|r| r.values[FILL]).filter(|f| f.is_finite()).collect::<Vec<_>>());
                if f.is_nan() {
                    "-".to_string()
                } else {
                    format!("{f:.0}")
                }
            })
        };
        let mut summaries = Vec::new();
        let mut pairs_seen: Vec<&str> = Vec::new();
        for r in &rows {
            if !pairs_seen.contains(&r.pair.as_str()) {
                pairs_seen.push(&r.pair);
            }
        }
        for pair in pairs_seen {
            let small = rows.iter().position(|r| r.pair == pair && r.capacity == 1024);
            let big = rows.iter().position(|r| r.pair == pair && r.capacity == BIG);
            let show = |i: Option<usize>| {
                i.map_or("-".to_string(), |i| {
                    let s = Spread::of(&rate_of(i));
                    format!("{} ({}-{})", fmt_rate(s.median), fmt_rate(s.min), fmt_rate(s.max))
                })
            };
            let per_round_ratios = match (small, big) {
                (Some(s), Some(b)) => ratios(&rate_of(b), &rate_of(s)),
                _ => Vec::new(),
            };
            let ratio = Spread::of(&per_round_ratios);
            let judged = pair.starts_with(KEEPS_UP) && !ratio.median.is_nan();
            let by_place = format!(
                "{} | {}",
                Where::Close.median_of(&per_round_ratios, &wheres),
                Where::Far.median_of(&per_round_ratios, &wheres)
            );
            println!(
                "   {:<50} {:>18} {:>6} {:>18} {:>8} {:>20}  {:<10}  {:<17}",
                pair,
                show(small),
                fill_of(small),
                show(big),
                fill_of(big),
                fmt_ratio(&ratio),
                if judged { verdict(Some(ratio.median >= 0.9)) } else { "(context)" },
                by_place
            );
            if let Some(s) = small {
                summaries.push(Summary::of(&KEEP_UP_METRICS, &runs[s], None));
            }
            if let Some(b) = big {
                summaries.push(Summary::of(&KEEP_UP_METRICS, &runs[b], small.map(|s| runs[s].as_slice())));
            }
        }
        scenarios.push(ScenarioReport { metrics: KEEP_UP_METRICS, results: summaries });
        all_runs.extend(runs.into_iter().flatten());
    }

    // -----------------------------------------------------------------------
    // 3. The kanal channel suite.
    // -----------------------------------------------------------------------
    let (mut cases, mut rows) = (Vec::new(), Vec::new());
    suite_rows_for::<()>("empty", suite_capacity, &mut cases, &mut rows);
    suite_rows_for::<usize>("usize", suite_capacity, &mut cases, &mut rows);
    suite_rows_for::<[usize; 4]>("big", suite_capacity, &mut cases, &mut rows);
    let kept: Vec<bool> = rows.iter().map(|r| keep(&r.name)).collect();
    let order: Vec<usize> = (0..rows.len()).filter(|&i| kept[i]).collect();
    if !order.is_empty() {
        let oversubscribed = thread::available_parallelism().map_or(true, |n| n.get() < 2 * THREADS);
        println!(
            "\n3. The kanal channel suite (fereidani/rust-channel-benchmarks scenarios): MESSAGES = {messages}, \
             THREADS = {THREADS}, capacity 1 (bounded1_*) and {}",
            suite_capacity.map_or("MESSAGES (bounded_*)".to_string(), |c| format!(
                "{c} (bounded{c}_*, --capacity; the suite's is MESSAGES; seq left out: it needs room for every \
                 message)"
            ))
        );
        println!(
            "   method: timed span = construct the channel, spawn the threads, join them, drop (as the suite); \
             threads NOT pinned{}; each crate's defaults and blocking calls (ringflow: Park); every configuration \
             once per round after a warm-up round of a tenth of its messages ({} at capacity MESSAGES), order \
             rotated, {rounds} rounds; M msgs/s = messages / time, median across rounds; ratio = ringflow's (rf) \
             rate / the best peer's rate in the same round (best of kanal, crossbeam-channel, flume, std), median \
             (min-max) across rounds; 'best rf' = the better of rf mpmc and rf spsc in each round; 'close | far' = \
             the rightmost of those ratios (best rf where there is one) over the rounds whose placement probes both \
             read close together / far apart (how many rounds in brackets).",
            if oversubscribed {
                format!(
                    "; this machine has {} logical CPUs, so mpsc (5 threads) and mpmc (8 threads) are \
                     oversubscribed",
                    thread::available_parallelism().map_or(0, |n| n.get())
                )
            } else {
                String::new()
            },
            messages / 10
        );
        println!(
            "   capacity-1 rows move {cap1_messages} messages a run (--cap1-messages; the suite moves MESSAGES): at \
             capacity 1 the peers that park on most hand-overs (std, flume) ran at 30-100 k messages/s on the \
             2-vCPU development VM, where MESSAGES would take up to half a minute a run; every implementation of a \
             row moves the same count and rates are per message."
        );
        let n_of = |i: usize| if rows[i].cap_one { cap1_messages } else { messages };
        let mut runs: Vec<Vec<Run>> = rows.iter().map(|_| Vec::new()).collect();
        // A placement probe before every round and after the last, as in
        // `targets`: a round of this section takes most of a minute, and the
        // vCPUs move within minutes.
        let mut probes = RoundProbes::new(cores, rounds);
        let schedule = Rounds { rounds, rotate_by: 7, label: "suite".into() };
        schedule.run(
            order.len(),
            |j| {
                let i = order[j];
                watched(&rows[i].name, || (rows[i].run)(n_of(i) / 10 / THREADS * THREADS));
            },
            |j, round, position| {
                if position == 0 {
                    probes.before_round();
                }
                let i = order[j];
                let n = n_of(i);
                // The process's CPU time over the run (the other threads
                // of this process are idle meanwhile): cores kept busy.
                // Minor page faults over the run, per 1000 messages: fresh
                // pages the run touched (the allocator handing out memory it
                // had returned to the kernel, or never had).
                let cpu0 = cpu_time_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
                let faults0 = minor_faults();
                let t = watched(&rows[i].name, || (rows[i].run)(n));
                let faults = minor_faults().saturating_sub(faults0);
                let cpu = cpu_time_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu0;
                let busy = cpu as f64 / t.as_nanos() as f64;
                let rate = n as f64 / t.as_secs_f64() / 1e6;
                let faults = faults as f64 * 1000.0 / n as f64;
                runs[i].push(run_record(
                    &SUITE_METRICS,
                    &rows[i].name,
                    round,
                    position,
                    n as u64,
                    values(&[(RATE, rate), (CPU, busy), (FAULTS, faults)]),
                ));
            },
        );
        let (wheres, per_round, _) = probes.finish();
        println!("   {per_round}");
        let rate_of = |i: usize| runs[i].iter().map(|r| r.values[RATE]).collect::<Vec<_>>();
        let busy_of = |i: usize| runs[i].iter().map(|r| r.values[CPU]).collect::<Vec<_>>();
        let faults_of = |i: usize| runs[i].iter().map(|r| r.values[FAULTS]).collect::<Vec<_>>();
        // The second and third tables: cores kept busy and page faults per
        // case and implementation.
        let mut busy_lines = Vec::new();
        let mut fault_lines = Vec::new();
        let mut fault_worst: Vec<(f64, String)> = Vec::new();
        println!(
            "\n{}  {:<24} {:<24} {:<17} best peer (rounds)",
            suite_line("case (M msgs/s)", |_, heading| heading.to_string()),
            "rf mpmc / best peer",
            "best rf / best peer",
            "close | far",
        );
        let mut summaries = Vec::new();
        for case in &cases {
            let present: Vec<(&str, usize)> = case.rows.iter().copied().filter(|&(_, i)| kept[i]).collect();
            if present.is_empty() {
                continue;
            }
            let find = |imp: &str| present.iter().find(|(n, _)| *n == imp).map(|&(_, i)| i);
            let med = |imp: &str| find(imp).map_or(f64::NAN, |i| median(&rate_of(i)));
            let busy = |imp: &str| find(imp).map_or("-".to_string(), |i| format!("{:.2}", median(&busy_of(i))));
            busy_lines.push(suite_line(&case.name, |imp, _| busy(imp)));
            let faults = |imp: &str| find(imp).map(|i| median(&faults_of(i)));
            for &(imp, _) in &present {
                if let Some(f) = faults(imp).filter(|f| f.is_finite()) {
                    fault_worst.push((f, format!("{} {imp}", case.name)));
                }
            }
            fault_lines
                .push(suite_line(&case.name, |imp, _| faults(imp).map_or("-".to_string(), |f| format!("{f:.1}"))));
            // Per round: the best peer's rate (and who), the better ringflow variant.
            let peers: Vec<(&str, Vec<f64>)> = PEERS.iter().filter_map(|p| find(p).map(|i| (*p, rate_of(i)))).collect();
            let best_peer: Vec<(f64, &str)> = (0..rounds)
                .map(|k| {
                    peers.iter().map(|(p, r)| (r.get(k).copied().unwrap_or(f64::NAN), *p)).fold(
                        (f64::NAN, ""),
                        |best, x| if x.0.is_finite() && (best.0.is_nan() || x.0 > best.0) { x } else { best },
                    )
                })
                .collect();
            let best_rates: Vec<f64> = best_peer.iter().map(|b| b.0).collect();
            let mpmc_rates = find(RF_MPMC).map(rate_of);
            let spsc_rates = find(RF_SPSC).map(rate_of);
            let best_rf: Option<Vec<f64>> = match (&mpmc_rates, &spsc_rates) {
                (Some(a), Some(b)) => Some(a.iter().zip(b).map(|(x, y)| x.max(*y)).collect()),
                _ => None,
            };
            let ratio_of = |r: &Option<Vec<f64>>| {
                r.as_ref()
                    .filter(|_| !peers.is_empty())
                    .map_or(Spread::of(&[]), |r| Spread::of(&ratios(r, &best_rates)))
            };
            let mut winners: Vec<(&str, usize)> = Vec::new();
            for (_, p) in best_peer.iter().filter(|b| b.0.is_finite()) {
                match winners.iter_mut().find(|(n, _)| n == p) {
                    Some((_, c)) => *c += 1,
                    None => winners.push((p, 1)),
                }
            }
            winners.sort_by_key(|w| std::cmp::Reverse(w.1));
            let winners = winners.iter().map(|(p, c)| format!("{p} {c}")).collect::<Vec<_>>().join(", ");
            // The headline ratio (the better ringflow variant where there
            // are two) over the close-together and the far-apart rounds.
            let headline = best_rf.as_ref().or(mpmc_rates.as_ref()).filter(|_| !peers.is_empty());
            let headline = headline.map_or(Vec::new(), |r| ratios(r, &best_rates));
            println!(
                "{}  {:<24} {:<24} {:<17} {}",
                suite_line(&case.name, |imp, _| fmt_rate(med(imp))),
                fmt_ratio(&ratio_of(&mpmc_rates)),
                if best_rf.is_some() { fmt_ratio(&ratio_of(&best_rf)) } else { "-".into() },
                format!(
                    "{} | {}",
                    Where::Close.median_of(&headline, &wheres),
                    Where::Far.median_of(&headline, &wheres)
                ),
                if winners.is_empty() { "-".into() } else { winners },
            );

            // Summaries: every implementation, ringflow's with the per-round
            // ratio to the best peer, plus the derived best-peer and
            // best-ringflow rows.
            let derived = |label: &str, rates: &[f64]| -> Vec<Run> {
                rates
                    .iter()
                    .enumerate()
                    .map(|(k, &r)| {
                        run_record(
                            &SUITE_METRICS,
                            &format!("suite {} {label}", case.name),
                            k,
                            0,
                            n_of(present[0].1) as u64,
                            values(&[(RATE, r)]),
                        )
                    })
                    .collect()
            };
            let best_runs = (!peers.is_empty()).then(|| derived("best peer (derived)", &best_rates));
            for &(imp, i) in &present {
                let reference = if imp.starts_with("ringflow") { best_runs.as_deref() } else { None };
                summaries.push(Summary::of(&SUITE_METRICS, &runs[i], reference));
            }
            if let Some(b) = &best_runs {
                summaries.push(Summary::of(&SUITE_METRICS, b, None));
                if let Some(r) = &best_rf {
                    summaries.push(Summary::of(&SUITE_METRICS, &derived("best ringflow (derived)", r), Some(b)));
                }
            }
        }
        println!(
            "\n   CPU: cores kept busy during a run (the process's CPU time, every thread, over the run's wall time), \
             median across rounds; {} logical CPUs here.\n{}",
            thread::available_parallelism().map_or(0, |n| n.get()),
            suite_line("case (cores busy)", |_, heading| heading.to_string()),
        );
        busy_lines.iter().for_each(|l| println!("{l}"));
        // Page faults: one line unless some run paid them, then a table.
        let worst = fault_worst.into_iter().fold((0.0f64, String::new()), |w, x| if x.0 > w.0 { x } else { w });
        if worst.0 < 0.05 {
            println!(
                "\n   Page faults (minor, the whole process, per 1000 messages, median across rounds): none in any \
                 case (< 0.05): no run here paid for fresh pages."
            );
        } else {
            println!(
                "\n   Page faults: minor faults of the process during a run per 1000 messages, median across rounds \
                 (getrusage; most: {:.1}, {}). A run pays for the fresh pages it touches: memory the allocator had \
                 returned to the kernel, or never had.\n{}",
                worst.0,
                worst.1,
                suite_line("case (faults / 1000 msgs)", |_, heading| heading.to_string()),
            );
            fault_lines.iter().for_each(|l| println!("{l}"));
        }
        scenarios.push(ScenarioReport { metrics: SUITE_METRICS, results: summaries });
        all_runs.extend(runs.into_iter().flatten());
    }

    // -----------------------------------------------------------------------
    // 1. Construct + drop and memory at capacity 10^6.
    // -----------------------------------------------------------------------
    let probed: Vec<&str> = PROBED.iter().copied().filter(|n| keep(&format!("capacity {n}"))).collect();
    if !probed.is_empty() {
        println!(
            "\n1. Capacity {BIG} of [u64; 4] (32 B): construct + drop, and memory after 1000 send/recv pairs \
             (channel alive)"
        );
        println!(
            "   method: each round runs each implementation in a fresh process (order rotated); there: memory first \
             (allocator live bytes and /proc/self/statm resident, growth from before construction), the first \
             construction timed alone (cold), then the median of {pairs} construct+drop pairs each timed with \
             Instant; the table shows medians across {rounds} rounds (min-max of the round medians). Run last: \
             the probes of crossbeam-channel and std touch 38 MiB per construction (about 15 GB of fresh pages a \
             round), and on the development VM two-thread transfers ran up to 3x slower for minutes afterwards \
             (the VM also has such slow spells on its own)."
        );
        let mut runs: Vec<Vec<Run>> = probed.iter().map(|_| Vec::new()).collect();
        let schedule = Rounds { rounds, rotate_by: 1, label: "capacity".into() };
        schedule.run(
            probed.len(),
            |_| {},
            |i, round, position| {
                let p = watched(probed[i], || run_probe(probed[i], pairs));
                let opt = |v: Option<i64>| v.map_or(f64::NAN, |x| x as f64);
                runs[i].push(run_record(
                    &CAPACITY_METRICS,
                    probed[i],
                    round,
                    position,
                    pairs as u64,
                    values(&[
                        (CONSTRUCT, p.median_ns as f64 / 1e3),
                        (COLD, p.cold_ns as f64 / 1e3),
                        (ALLOC_BUILT, p.alloc_built as f64),
                        (ALLOC_AFTER, p.alloc_after as f64),
                        (RSS_BUILT, opt(p.rss_built)),
                        (RSS_AFTER, opt(p.rss_after)),
                    ]),
                ));
            },
        );
        println!(
            "\n   {:<18} {:>28} {:>10} {:>11} {:>11} {:>11} {:>11}  {:<7} {:<9} {:<7}",
            "implementation",
            "construct+drop (min-max)",
            "cold",
            "alloc built",
            "alloc 1000",
            "RSS built",
            "RSS 1000",
            "<=10us",
            "alloc<=1M",
            "RSS<=1M"
        );
        for (name, r) in probed.iter().zip(&runs) {
            let col =
                |k: usize| Spread::of(&r.iter().map(|x| x.values[k]).filter(|v| v.is_finite()).collect::<Vec<_>>());
            let t = col(CONSTRUCT);
            let (aa, ra) = (col(ALLOC_AFTER), col(RSS_AFTER));
            let mib = (1u64 << 20) as f64;
            let judge = |s: &Spread, goal: f64| (!s.median.is_nan()).then_some(s.median <= goal);
            println!(
                "   {:<18} {:>28} {:>10} {:>11} {:>11} {:>11} {:>11}  {:<7} {:<9} {:<7}",
                name,
                format!("{} ({}-{})", fmt_us(t.median), fmt_us(t.min), fmt_us(t.max)),
                fmt_us(col(COLD).median),
                fmt_bytes(col(ALLOC_BUILT).median),
                fmt_bytes(aa.median),
                fmt_bytes(col(RSS_BUILT).median),
                fmt_bytes(ra.median),
                verdict(judge(&t, 10.0)),
                verdict(judge(&aa, mib)),
                verdict(judge(&ra, mib)),
            );
        }
        println!(
            "   (memory columns: growth over the process's state before construction, median across rounds; \
             the 10 µs goal is judged on construct+drop, the 1 MiB goal on the '1000' columns)"
        );
        // Files list the sections in the order.
        scenarios.insert(
            0,
            ScenarioReport {
                metrics: CAPACITY_METRICS,
                results: runs.iter().map(|r| Summary::of(&CAPACITY_METRICS, r, None)).collect(),
            },
        );
        all_runs.splice(0..0, runs.into_iter().flatten());
    }

    if scenarios.is_empty() {
        panic!("no configuration matches {:?}", filter.unwrap_or_default());
    }
    let report = Report { banner, settings, quick, one_core: None, rounds, scenarios };
    println!();
    match write_results("suite", &report, &all_runs.iter().collect::<Vec<_>>()) {
        Ok(paths) => paths.iter().for_each(|p| println!("wrote {}", p.display())),
        Err(e) => eprintln!("could not write the results: {e}"),
    }
    println!("{}", placement.report());
    println!("total {:.0} s", started.elapsed().as_secs_f64());
}
