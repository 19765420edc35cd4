//! Running measurements: which cores, how to stop, pinned worker threads,
//! the throughput transfers built on them, and interleaved rounds.
//!
//! Nothing here may hang a bench: every busy-wait goes through [`Spin`] or
//! [`Snooze`], which look at a shared [`Stop`] flag, and a worker that
//! panics sets that flag on its way out, so its peers give up instead of
//! waiting for it forever.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use core_affinity::CoreId;
use crossbeam_utils::{Backoff, CachePadded};

use super::adapters::{Mpmc, Payload, Spsc};
use super::output::median;

// ---------------------------------------------------------------------------
// Cores.
// ---------------------------------------------------------------------------

/// The usable core ids, read once. Read them before anything is pinned: a
/// pinned thread's children inherit its mask (the benches' main threads are
/// never pinned).
pub fn available_cores() -> &'static [CoreId] {
    static IDS: OnceLock<Vec<CoreId>> = OnceLock::new();
    IDS.get_or_init(|| {
        let ids = core_affinity::get_core_ids().unwrap_or_default();
        assert!(!ids.is_empty(), "core_affinity found no usable core");
        ids
    })
}

/// The two cores a bench pins its two sides to: `spec` is `"A,B"` (or
/// `"A"`: both sides on core A); without one, the first two available.
pub fn pick_cores(spec: Option<&str>) -> (CoreId, CoreId) {
    let available = available_cores();
    let pick = |id: usize| -> CoreId {
        *available.iter().find(|c| c.id == id).unwrap_or_else(|| {
            panic!("core {id} is not available; available: {:?}", available.iter().map(|c| c.id).collect::<Vec<_>>())
        })
    };
    match spec {
        Some(v) => {
            let ids: Vec<usize> = v
                .split(',')
                .map(|x| x.trim().parse().unwrap_or_else(|_| panic!("cores A,B: bad core {x:?}")))
                .collect();
            match ids.as_slice() {
                [a, b] => (pick(*a), pick(*b)),
                [a] => (pick(*a), pick(*a)),
                _ => panic!("cores: two ids, e.g. 0,1"),
            }
        }
        None => (available[0], *available.get(1).unwrap_or(&available[0])),
    }
}

/// The two cores of the throughput benches (criterion owns their command
/// line): `RINGFLOW_BENCH_CORES=A,B`, else the first two available.
pub fn cores() -> (CoreId, CoreId) {
    static CORES: OnceLock<(CoreId, CoreId)> = OnceLock::new();
    *CORES.get_or_init(|| {
        let chosen = pick_cores(std::env::var("RINGFLOW_BENCH_CORES").ok().as_deref());
        eprintln!("bench: cores {} and {} (of {} available)", chosen.0.id, chosen.1.id, available_cores().len());
        chosen
    })
}

// ---------------------------------------------------------------------------
// Stopping.
// ---------------------------------------------------------------------------

/// The other side is gone or the run was stopped: the caller winds down.
#[derive(Debug)]
pub struct Stopped;

/// Stop flag of one run. Set by a worker that panics (see [`spawn_pinned`]),
/// and in the latency bench also by the timing thread when it ends and by
/// the watchdog when a run overruns.
#[derive(Clone)]
pub struct Stop(Arc<CachePadded<AtomicBool>>);

impl Stop {
    pub fn new() -> Self {
        Stop(Arc::new(CachePadded::new(AtomicBool::new(false))))
    }
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Busy-wait step for try-based loops: a spin-loop hint per attempt (or
/// [`set_spin_pauses`] of them), and a look at the stop flag every 1024
/// attempts (so the flag's cache line is not touched on the fast path).
pub struct Spin<'a> {
    stop: &'a Stop,
    n: u32,
    /// One hint per attempt whatever [`set_spin_pauses`] says (the
    /// placement probe, which must measure the same way in every run).
    single: bool,
}

impl<'a> Spin<'a> {
    #[inline(always)]
    pub fn new(stop: &'a Stop) -> Self {
        Spin { stop, n: 0, single: false }
    }
    /// A `Spin` of one hint per attempt, whatever [`set_spin_pauses`] says.
    #[inline(always)]
    pub fn single(stop: &'a Stop) -> Self {
        Spin { stop, n: 0, single: true }
    }
    #[inline(always)]
    pub fn spin(&mut self) -> Result<(), Stopped> {
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 && self.stop.is_set() {
            return Err(Stopped);
        }
        std::hint::spin_loop();
        let more = if self.single { 1 } else { SPIN_PAUSES.load(Ordering::Relaxed) };
        if more > 1 {
            for _ in 1..more {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }
}

/// Spin-loop hints per failed attempt in [`Spin`] (1 unless set).
static SPIN_PAUSES: AtomicU32 = AtomicU32::new(1);

/// Sets how many spin-loop hints a [`Spin`] runs per failed attempt, for the
/// whole process: the polling rate of every try + spin caller (ringflow's,
/// rtrb's, `ArrayQueue`'s alike). A full ring's producer that polls less
/// often takes its consumer's position line less often (`targets
/// --spin-pauses`).
#[allow(dead_code)] // not every bench sets it
pub fn set_spin_pauses(n: u32) {
    SPIN_PAUSES.store(n.max(1), Ordering::Relaxed);
}

/// `crossbeam_utils::Backoff` (spin, then yield) with the same stop check:
/// for groups that may outnumber the cores.
pub struct Snooze<'a> {
    stop: &'a Stop,
    backoff: Backoff,
    n: u32,
}

impl<'a> Snooze<'a> {
    #[inline(always)]
    pub fn new(stop: &'a Stop) -> Self {
        Snooze { stop, backoff: Backoff::new(), n: 0 }
    }
    #[inline(always)]
    pub fn snooze(&mut self) -> Result<(), Stopped> {
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 && self.stop.is_set() {
            return Err(Stopped);
        }
        self.backoff.snooze();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Pinned threads.
// ---------------------------------------------------------------------------

/// Dropped when a worker's closure ends, however it ends: if the worker is
/// panicking it stops its peers, and it tells a watchdog (if any) it is done.
struct ExitGuard {
    stop: Stop,
    done: Option<mpsc::Sender<()>>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.stop.set();
        }
        if let Some(done) = &self.done {
            let _ = done.send(());
        }
    }
}

/// Spawns `f` on a thread named `name` pinned to `core`. When it ends, a
/// panic sets `stop`, and `done` (the watchdog's channel, see [`supervise`])
/// hears of it.
pub fn spawn_pinned<R: Send + 'static>(
    name: &str,
    core: CoreId,
    stop: &Stop,
    done: Option<&mpsc::Sender<()>>,
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<R> {
    let guard = ExitGuard { stop: stop.clone(), done: done.cloned() };
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _guard = guard;
            assert!(core_affinity::set_for_current(core), "could not pin thread to core {}", core.id);
            f()
        })
        .expect("spawn a bench thread")
}

/// Set when a run's threads could not be stopped; see [`any_hung`].
static HUNG: AtomicBool = AtomicBool::new(false);

/// Whether [`supervise`] ever had to leave threads behind (the bench then
/// exits non-zero).
pub fn any_hung() -> bool {
    HUNG.load(Ordering::Relaxed)
}

/// Waits for both workers of a run: up to `limit` for them to finish, then
/// sets the stop flag and waits five seconds more. Returns `None` (and
/// leaves the threads behind) if they still have not finished: a lost
/// wake-up in a blocking queue shows up here. A worker's panic — a failed
/// count or value assertion — is re-raised.
pub fn supervise<A, B>(
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

/// One side of a throughput transfer; `Err(Stopped)` means a peer failed.
/// Built with [`worker`].
pub type Work = Box<dyn FnOnce(&Stop) -> Result<(), Stopped> + Send>;

/// Boxes a worker's closure on a block of its own (128 bytes, aligned)
/// and runs it from its thread's stack. A boxed closure is run where it
/// lies, and the boxes of a producer and its consumer, allocated one after
/// the other, shared a 128-byte block whenever the handles they hold were
/// small: rtrb's two 24-byte handles, each written on every operation
/// (its cached positions), lay 64 bytes apart in one run of the SPSC rows,
/// while ringflow's handles are 128-byte aligned and never did. Every
/// implementation's handles are now apart alike.
pub fn worker<F>(f: F) -> Work
where
    F: FnOnce(&Stop) -> Result<(), Stopped> + Send + 'static,
{
    let padded = CachePadded::new(f);
    Box::new(move |stop: &Stop| {
        let f = CachePadded::into_inner(padded);
        f(stop)
    })
}

/// Runs each worker on its own thread pinned to its core and returns the
/// time from the first worker starting to the last one finishing. Spawning,
/// pinning and the barrier happen before the clock starts; a spinning
/// rendezvous (with yields, for oversubscribed groups) then releases all
/// workers together. A worker's panic is re-raised (in preference to the
/// `Stopped` its peers then return).
pub fn run_workers(workers: Vec<(CoreId, Work)>) -> Duration {
    let n = workers.len();
    let barrier = Arc::new(Barrier::new(n));
    let arrived = Arc::new(CachePadded::new(AtomicUsize::new(0)));
    let stop = Stop::new();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|(core, work)| {
            let (barrier, arrived, stop2) = (barrier.clone(), arrived.clone(), stop.clone());
            spawn_pinned("worker", core, &stop, None, move || {
                barrier.wait();
                arrived.fetch_add(1, Ordering::AcqRel);
                while arrived.load(Ordering::Acquire) < n {
                    thread::yield_now();
                }
                let start = Instant::now();
                let result = work(&stop2);
                (start, Instant::now(), result)
            })
        })
        .collect();
    let mut span: Option<(Instant, Instant)> = None;
    let (mut panic, mut stopped) = (None, false);
    for h in handles {
        match h.join() {
            Ok((s, e, result)) => {
                stopped |= result.is_err();
                span = Some(span.map_or((s, e), |(s0, e0)| (s0.min(s), e0.max(e))));
            }
            Err(p) => {
                panic.get_or_insert(p);
            }
        }
    }
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    assert!(!stopped, "a worker stopped early: its peer went away");
    let (s, e) = span.expect("at least one worker");
    e - s
}

// ---------------------------------------------------------------------------
// Where the two cores are.
// ---------------------------------------------------------------------------

/// The placement probe: the median round trip (ns) of one bare cache line
/// bounced between threads pinned to `cores` (eleven batches of 2 000 round
/// trips). On a VM the two vCPUs may sit close together or far apart, and
/// that changes every cross-core figure (on the 2-vCPU EPYC VM: about 55 ns
/// or about 390 ns, changing every few minutes), so benches print it next
/// to their results ([`Placement`]): ratios are only comparable between
/// runs with similar probes.
pub fn line_round_trip_ns(cores: (CoreId, CoreId)) -> f64 {
    const TRIPS: u64 = 2_000;
    let mut batches: Vec<f64> = (0..11)
        .map(|_| {
            let line = Arc::new(CachePadded::new(AtomicU64::new(0)));
            let (a, b) = (line.clone(), line);
            // The first side writes odd values, the other even ones; each
            // waits for the other's answer.
            let ping: Work = worker(move |stop: &Stop| {
                for i in 0..TRIPS {
                    a.store(2 * i + 1, Ordering::Release);
                    let mut spin = Spin::single(stop);
                    while a.load(Ordering::Acquire) != 2 * i + 2 {
                        spin.spin()?;
                    }
                }
                Ok(())
            });
            let pong: Work = worker(move |stop: &Stop| {
                for i in 0..TRIPS {
                    let mut spin = Spin::single(stop);
                    while b.load(Ordering::Acquire) != 2 * i + 1 {
                        spin.spin()?;
                    }
                    b.store(2 * i + 2, Ordering::Release);
                }
                Ok(())
            });
            run_workers(vec![(cores.0, ping), (cores.1, pong)]).as_nanos() as f64 / TRIPS as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

/// CPU time used so far, in ns, by `clock`: `libc::CLOCK_THREAD_CPUTIME_ID`
/// (the calling thread) or `libc::CLOCK_PROCESS_CPUTIME_ID` (the process).
pub fn cpu_time_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` writes one `timespec` through the valid,
    // exclusive pointer it is given; `clock` is one of the ids it knows.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time the calling thread has used, in ns.
pub fn thread_cpu_ns() -> u64 {
    cpu_time_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The calling thread's CPU time per wall time since `(cpu0, wall0)`
/// (`cpu0` from [`thread_cpu_ns`]).
pub fn cpu_share(cpu0: u64, wall0: Instant) -> f64 {
    (thread_cpu_ns() - cpu0) as f64 / wall0.elapsed().as_nanos().max(1) as f64
}

/// Waits until `t`, as a paced producer does before each item: sleeps while
/// it is far, then spins (two cores) or yields (one core, where spinning
/// would keep the consumer off the CPU). Returns the first instant seen at
/// or after `t`.
pub fn wait_until(t: Instant, one_core: bool) -> Instant {
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

/// A run's placement probe: taken when the run starts, taken again and
/// reported with it when the run ends (the placement can change within a
/// run).
pub struct Placement {
    cores: (CoreId, CoreId),
    before: f64,
}

impl Placement {
    /// Probes `cores` now.
    pub fn probe(cores: (CoreId, CoreId)) -> Self {
        Placement { cores, before: line_round_trip_ns(cores) }
    }

    /// The probe taken at the start (ns).
    pub fn before(&self) -> f64 {
        self.before
    }

    /// Probes again and says both: one line for the bench's output.
    pub fn report(&self) -> String {
        self.report_after(line_round_trip_ns(self.cores))
    }

    /// The same line with a probe the caller took at the end (`after`, ns).
    pub fn report_after(&self, after: f64) -> String {
        format!(
            "placement probe (bare cache-line round trip between cores {} and {}): {:.0} ns before, {after:.0} ns after",
            self.cores.0.id, self.cores.1.id, self.before
        )
    }
}

/// Where a round ran, from the placement probes taken before and after it:
/// close together (both under `CLOSE_NS`), far apart (both over
/// `FAR_NS`), or neither (the vCPUs moved during the round, or an unusual
/// value). On the 2-vCPU VM the probe reads ~47–70 ns or ~350–440 ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    Close,
    Far,
    Mixed,
}

/// Probes under this many ns: close together.
pub const CLOSE_NS: f64 = 150.0;
/// Probes over this many ns: far apart.
pub const FAR_NS: f64 = 250.0;

impl Where {
    /// The class of a round whose probes read `before` and `after` ns.
    pub fn of(before: f64, after: f64) -> Where {
        if before < CLOSE_NS && after < CLOSE_NS {
            Where::Close
        } else if before > FAR_NS && after > FAR_NS {
            Where::Far
        } else {
            Where::Mixed
        }
    }

    /// One letter per round for the output: `c`, `f` or `m`.
    pub fn letter(self) -> char {
        match self {
            Where::Close => 'c',
            Where::Far => 'f',
            Where::Mixed => 'm',
        }
    }

    /// Each round's class, from the probes taken before every round and
    /// after the last (`rounds + 1` of them), and the output line that
    /// says so.
    pub fn per_round(probes: &[f64]) -> (Vec<Where>, String) {
        let wheres: Vec<Where> = probes.windows(2).map(|w| Where::of(w[0], w[1])).collect();
        let line = format!(
            "placement per round (c: close together, both probes < {CLOSE_NS:.0} ns; f: far apart, both > \
             {FAR_NS:.0} ns; m: mixed): {} (probes {})",
            wheres.iter().map(|w| w.letter()).collect::<String>(),
            probes.iter().map(|p| format!("{p:.0}")).collect::<Vec<_>>().join(" ")
        );
        (wheres, line)
    }

    /// The median of the per-round `ratios` over the rounds of this class,
    /// with how many: `1.23x (4)`, or `-` when there were none.
    pub fn median_of(self, ratios: &[f64], wheres: &[Where]) -> String {
        let v: Vec<f64> = ratios.iter().zip(wheres).filter(|(_, c)| **c == self).map(|(r, _)| *r).collect();
        if v.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}x ({})", median(&v), v.len())
        }
    }
}

/// The placement probes of a series of interleaved rounds: one before
/// every round ([`before_round`](RoundProbes::before_round)) and one after
/// the last ([`finish`](RoundProbes::finish)), so that each round can be
/// classed ([`Where::per_round`]).
pub struct RoundProbes {
    cores: (CoreId, CoreId),
    probes: Vec<f64>,
}

impl RoundProbes {
    pub fn new(cores: (CoreId, CoreId), rounds: usize) -> Self {
        RoundProbes { cores, probes: Vec::with_capacity(rounds + 1) }
    }

    /// Probes before a round.
    pub fn before_round(&mut self) {
        self.probes.push(line_round_trip_ns(self.cores));
    }

    /// Probes after the last round: each round's class, the line that
    /// prints them, and that last probe (ns; the run's "after").
    pub fn finish(mut self) -> (Vec<Where>, String, f64) {
        let after = line_round_trip_ns(self.cores);
        self.probes.push(after);
        let (wheres, line) = Where::per_round(&self.probes);
        (wheres, line, after)
    }
}

// ---------------------------------------------------------------------------
// Throughput transfers.
// ---------------------------------------------------------------------------

/// Moves `items` payloads from a producer on `cores.0` to a consumer on
/// `cores.1`, checking every sequence number; returns the transfer time.
pub fn spsc_transfer<P: Payload, Q: Spsc<P>>(q: Q, capacity: usize, items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (mut tx, mut rx) = q.channel(capacity);
    let producer: Work = worker(move |stop: &Stop| {
        for i in 0..items {
            Q::send(&mut tx, P::make(i), stop)?;
        }
        Ok(())
    });
    let consumer: Work = worker(move |stop: &Stop| {
        for i in 0..items {
            let v = std::hint::black_box(Q::recv(&mut rx, stop)?);
            assert_eq!(v.seq(), i, "lost, duplicated or reordered item");
        }
        Ok(())
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}

/// Per-item work, in iterations of [`busy`]'s loop, on each side of an SPSC
/// transfer: what puts the transfer in a regime on purpose. Each item's work
/// varies around that mean (see [`ItemWork`]) unless `fixed`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SideWork {
    pub producer: u32,
    pub consumer: u32,
    pub fixed: bool,
}

/// The work of one side, item by item: `mean` units on average, each item's
/// drawn uniformly from `mean / 2 ..= mean / 2 + mean` (a xorshift, a few
/// instructions per item), or exactly `mean` when `fixed`.
///
/// Why it varies: with exactly the same work before every item the two
/// threads lock into one phase of their hand-over, and which phase depends
/// on the code of the loop around the queue, not on the queue. Measured
/// (2026-12-06, a 2-vCPU AMD EPYC Zen 3 VM, vCPUs close together; `targets`
/// near-empty, 30 ns of producer work): the same ringflow and rtrb code,
/// in two builds of this bench that differed only in an untaken branch in
/// the producer's loop, gave ringflow try + spin over rtrb 0.86× and 0.99×
/// (medians of 7 and 8 alternated runs), and the first build 0.97× a few
/// minutes later; with the work varied, 0.98× in both windows
/// (`docs/measurements.md`). Real stages' work varies from item to item too.
#[derive(Clone, Copy, Debug)]
pub struct ItemWork {
    mean: u32,
    state: u32,
    fixed: bool,
}

impl ItemWork {
    /// How a bench's settings line names the work (`--fixed-work` or not).
    pub fn describe(fixed: bool) -> &'static str {
        if fixed {
            "every item's work exactly the mean"
        } else {
            "each item's work drawn from 0.5-1.5x the mean"
        }
    }

    pub fn new(mean: u32, seed: u32, fixed: bool) -> Self {
        ItemWork { mean, state: seed | 1, fixed }
    }
    /// The next item's units.
    #[inline(always)]
    pub fn next_units(&mut self) -> u32 {
        if self.fixed || self.mean == 0 {
            return self.mean;
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        self.mean / 2 + x % (self.mean + 1)
    }
}

/// `units` iterations of a loop the optimiser cannot remove: a fixed amount
/// of work per item. No work at all (the free-running rows) costs a compare,
/// not a call: those rows used to pay an out-of-line call per item on each
/// side, on every implementation alike.
#[inline(always)]
pub fn busy(units: u32) {
    if units > 0 {
        busy_loop(units);
    }
}

#[inline(never)]
fn busy_loop(units: u32) {
    for i in 0..units {
        std::hint::black_box(i);
    }
}

/// How many [`busy`] units take about `ns` nanoseconds on this machine
/// (median of 21 timings of a long loop).
pub fn busy_units_for(ns: f64) -> u32 {
    let units = 100_000u32;
    let mut per_unit: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            busy(units);
            t.elapsed().as_nanos() as f64 / f64::from(units)
        })
        .collect();
    per_unit.sort_by(f64::total_cmp);
    (ns / per_unit[10]).round().max(1.0) as u32
}

/// The queue's length as an SPSC consumer saw it, sampled after every
/// 1024th item it received: the mean, and the median sample (NaN where the
/// queue cannot tell its length). The mean says where a run spent its items
/// (a hiccup that fills the ring for a while moves it); the median is the
/// typical fill, which such a hiccup does not move.
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    pub mean: f64,
    pub median: f64,
}

impl Fill {
    fn of(mut samples: Vec<usize>) -> Fill {
        if samples.is_empty() {
            return Fill { mean: f64::NAN, median: f64::NAN };
        }
        samples.sort_unstable();
        let mean = samples.iter().sum::<usize>() as f64 / samples.len() as f64;
        Fill { mean, median: samples[samples.len() / 2] as f64 }
    }
}

/// An SPSC transfer in a chosen regime: `work` per item on each side (the
/// side that works is the slower one, so with producer work the consumer
/// keeps up and every item crosses alone — near-empty; with consumer work
/// the queue fills and the consumer takes what has piled up — near-full;
/// with none, free-running, whatever the two cores settle into). Returns
/// the time and the fill the consumer saw ([`Fill`]).
pub fn spsc_transfer_regime<P: Payload, Q: Spsc<P>>(
    q: Q,
    capacity: usize,
    items: u64,
    cores: (CoreId, CoreId),
    work: SideWork,
) -> (Duration, Fill) {
    let (mut tx, mut rx) = q.channel(capacity);
    let fill = Arc::new(Mutex::new(Vec::new()));
    let fill2 = fill.clone();
    // Room for every sample, allocated before the clock starts.
    let mut samples: Vec<usize> = Vec::with_capacity((items / 1024 + 1) as usize);
    let producer: Work = worker(move |stop: &Stop| {
        let mut w = ItemWork::new(work.producer, 0x9e37_79b9, work.fixed);
        for i in 0..items {
            busy(w.next_units());
            Q::send(&mut tx, P::make(i), stop)?;
        }
        Ok(())
    });
    let consumer: Work = worker(move |stop: &Stop| {
        let mut w = ItemWork::new(work.consumer, 0x85eb_ca6b, work.fixed);
        for i in 0..items {
            let v = std::hint::black_box(Q::recv(&mut rx, stop)?);
            assert_eq!(v.seq(), i, "lost, duplicated or reordered item");
            busy(w.next_units());
            if i % 1024 == 512 {
                if let Some(n) = Q::len(&rx) {
                    samples.push(n);
                }
            }
        }
        *fill2.lock().unwrap() = samples;
        Ok(())
    });
    let t = run_workers(vec![(cores.0, producer), (cores.1, consumer)]);
    let samples = std::mem::take(&mut *fill.lock().unwrap());
    (t, Fill::of(samples))
}

/// Each side's loop of [`spsc_transfer_regime`] with its work per item and
/// no ring between them: the producer makes each item and does its work,
/// the consumer does its work per item, on the same pinned cores, started
/// together; the time is the slower side's. No SPSC ring can move items
/// faster in that regime than its busier side's work alone, so this is the
/// bound of any ring there (an upper bound: the other core is idle once
/// its side is done, where with a ring it would be polling).
pub fn spsc_work_alone<P: Payload>(items: u64, cores: (CoreId, CoreId), work: SideWork) -> Duration {
    let side = move |units: u32, seed: u32| -> Work {
        worker(move |_: &Stop| {
            let mut w = ItemWork::new(units, seed, work.fixed);
            for i in 0..items {
                busy(w.next_units());
                std::hint::black_box(P::make(i));
            }
            Ok(())
        })
    };
    // The seeds of `spsc_transfer_regime`'s two sides: the same draws.
    run_workers(vec![(cores.0, side(work.producer, 0x9e37_79b9)), (cores.1, side(work.consumer, 0x85eb_ca6b))])
}

/// P producers, C consumers: producer `p` sends `(p << 40) | seq` for its
/// share of `items`; consumers check per-producer order and the total
/// count. Producers alternate between the two cores, consumers take the
/// other one. Returns the time and the mean fill the consumers saw (each
/// samples the queue's length every 1 024 items it receives, where the
/// queue can tell; NaN where it cannot), which says whether the run was
/// near empty (receivers waiting for items) or near full (senders waiting
/// for room): the MPMC ring hands over at different speeds in the two
/// (`docs/measurements.md`, 2026-12-04).
pub fn mpmc_transfer<Q: Mpmc>(
    q: Q,
    producers: usize,
    consumers: usize,
    items: u64,
    cores: (CoreId, CoreId),
) -> (Duration, f64) {
    let (tx, rx) = q.channel(1024);
    let done = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicU64::new(0));
    // The consumers' fill samples: their sum and their number.
    let fill = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let core = |i: usize| if i % 2 == 0 { cores.0 } else { cores.1 };
    let mut workers: Vec<(CoreId, Work)> = Vec::new();
    for p in 0..producers {
        let share = items / producers as u64 + u64::from((p as u64) < items % producers as u64);
        let (tx, done) = (tx.clone(), done.clone());
        workers.push((
            core(p),
            worker(move |stop: &Stop| {
                for seq in 0..share {
                    Q::send(&tx, (p as u64) << 40 | seq, stop)?;
                }
                drop(tx); // disconnects the channel once every producer is done
                done.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }),
        ));
    }
    for c in 0..consumers {
        let (rx, done, received, fill) = (rx.clone(), done.clone(), received.clone(), fill.clone());
        workers.push((
            core(c + 1),
            worker(move |stop: &Stop| {
                let mut next = vec![0u64; producers];
                let mut count = 0u64;
                let (mut sum, mut samples) = (0u64, 0u64);
                while let Some(v) = Q::recv(&rx, &done, producers, stop)? {
                    let (p, seq) = ((v >> 40) as usize, v & ((1 << 40) - 1));
                    assert!(seq >= next[p], "producer {p}: item {seq} after {}", next[p]);
                    next[p] = seq + 1;
                    count += 1;
                    if count % 1024 == 512 {
                        if let Some(n) = Q::len(&rx) {
                            sum += n as u64;
                            samples += 1;
                        }
                    }
                }
                received.fetch_add(count, Ordering::Relaxed);
                fill.0.fetch_add(sum, Ordering::Relaxed);
                fill.1.fetch_add(samples, Ordering::Relaxed);
                Ok(())
            }),
        ));
    }
    drop((tx, rx));
    let elapsed = run_workers(workers);
    assert_eq!(received.load(Ordering::Relaxed), items, "every item received exactly once");
    let (sum, samples) = (fill.0.load(Ordering::Relaxed), fill.1.load(Ordering::Relaxed));
    let mean = if samples > 0 { sum as f64 / samples as f64 } else { f64::NAN };
    (elapsed, mean)
}

// ---------------------------------------------------------------------------
// Interleaved rounds.
// ---------------------------------------------------------------------------

/// The benchmark method's rounds: after one discarded warm-up round, every
/// configuration runs once per round, so that ratios can be taken within a
/// round (all configurations back to back) and their median across rounds
/// reported. The order rotates by `rotate_by` places each round (or the next
/// step coprime with the number of configurations, so that a filtered run of
/// a few rows does not repeat one order every round), so no configuration
/// always runs first; the cyclic order stays, so each runs after the same
/// neighbour.
pub struct Rounds {
    /// Measured rounds (the warm-up round comes on top).
    pub rounds: usize,
    /// How far the order moves each round.
    pub rotate_by: usize,
    /// Names the progress lines on stderr.
    pub label: String,
}

impl Rounds {
    /// Calls `warm_up(i)` for every configuration `i` in `0..n`, then
    /// `measure(i, round, position)` for every configuration in every
    /// round, in the rotated order (`position` is its place in that round).
    pub fn run(&self, n: usize, mut warm_up: impl FnMut(usize), mut measure: impl FnMut(usize, usize, usize)) {
        if n == 0 {
            return;
        }
        // A step sharing a factor with `n` would visit only some orders.
        let gcd = |mut a: usize, mut b: usize| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        // Some step at most `n` past `rotate_by` is 1 modulo `n`.
        let step = (self.rotate_by..).find(|&k| gcd(k % n, n) == 1).expect("a step coprime with n");
        eprintln!("[{}] warm-up round", self.label);
        (0..n).for_each(&mut warm_up);
        let start = Instant::now();
        for round in 0..self.rounds {
            let t = Instant::now();
            for position in 0..n {
                measure((position + round * step) % n, round, position);
            }
            eprintln!(
                "[{}] round {}/{} done in {:.1?} ({:.0} s so far)",
                self.label,
                round + 1,
                self.rounds,
                t.elapsed(),
                start.elapsed().as_secs_f64()
            );
        }
    }
}

/// The number after `flag` on the command line `args`, if the flag is
/// there; panics if what follows it is not a number.
pub fn arg_value(args: &[String], flag: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == flag)?;
    Some(args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{flag} takes a number")))
}

/// The ring capacity of this run: `N` if the command line says
/// `--capacity N` (at least 1; anything else panics), 1 024 otherwise. Read
/// from the process's arguments once, at the first call.
pub fn capacity() -> usize {
    static CAPACITY: OnceLock<usize> = OnceLock::new();
    *CAPACITY.get_or_init(|| {
        let args: Vec<String> = std::env::args().collect();
        let n = arg_value(&args, "--capacity").unwrap_or(1024);
        assert!(n >= 1, "--capacity must be at least 1");
        usize::try_from(n).expect("--capacity fits in usize")
    })
}

/// Checks the command line before anything runs: `--help` / `-h` prints
/// `usage` and exits; an option that is not in `flags` (options alone) or
/// `valued` (options followed by a value, which must be there), or a bare
/// word where the bench takes no filter (`filters` false), prints what was
/// wrong and `usage` and exits with status 2. (A typo such as `--quik` once
/// started a full run of a bench instead.) `--bench`, which `cargo bench`
/// passes to every bench, is always accepted.
pub fn check_args(usage: &str, flags: &[&str], valued: &[&str], filters: bool) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{usage}");
        std::process::exit(0);
    }
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let wrong = if valued.contains(&a) {
            i += 1;
            // (`cargo bench` appends `--bench`: no value is an option.)
            (i >= args.len() || args[i].starts_with("--")).then(|| format!("{a} needs a value"))
        } else if a == "--bench" || flags.contains(&a) {
            None
        } else if a.starts_with('-') {
            Some(format!("unknown option {a}"))
        } else if !filters {
            Some(format!("unexpected argument {a} (this bench takes no filter)"))
        } else {
            None
        };
        if let Some(wrong) = wrong {
            eprintln!("{wrong}\nusage: {usage}");
            std::process::exit(2);
        }
        i += 1;
    }
}
