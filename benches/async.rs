//! Async throughput and latency against the async peers (issue #13).
//!
//! Rows, on a 2-worker tokio multi-thread runtime unless said otherwise, with `u64` items and
//! channels of capacity 1024 (ping-pong: capacity 1):
//!
//! - `1p1c`: one producer task, one consumer task; with the share of
//!   samples (every 256 items) in which the two ran on one worker. Two more
//!   1p1c regimes follow, where the placement is fixed instead of left to
//!   the executor: `1p1c one worker` (a current-thread runtime: both tasks
//!   on one thread) and `1p1c two threads` (a current-thread runtime on
//!   each of two pinned threads, one task each). See `Regime`;
//! - `4p4c`: four producer tasks, four consumer tasks (tokio's and
//!   thingbuf's `mpsc` have a single consumer and sit this one out); with
//!   the share of sampled items (every 256th each producer sends) that a
//!   consumer received on the thread that sent it: near 100 % the runtime
//!   keeps each item on one worker (its cache lines stay in one core), near
//!   0 % producers and consumers run on different workers and every item
//!   crosses between the cores;
//! - `ping-pong`: two tasks bouncing one item over two channels; the p50 of
//!   the round trip, and what it cost: the process's CPU time (both
//!   workers and the thread that runs the timing task, spinning or not) per
//!   round trip. A low p50 bought by spinning shows up there. With the
//!   share of sampled round trips (every 64th) in which the timing task's
//!   thread (the one that runs `block_on`) and the echo task's worker were
//!   on one CPU: three threads on two vCPUs, placed by the kernel, and
//!   where the two busy ones share a vCPU every answer waits for a
//!   context switch;
//! - `paced`: what an async stage fed by a blocking ingest thread sees when
//!   items come at a steady pace (one every 10 µs, 100 µs, 1 ms): a producer
//!   thread pinned to one core sends each item at its instant with the
//!   implementation's blocking send, a task on a current-thread runtime on a
//!   thread pinned to the other core receives it; one-way latency p50 / p99
//!   from the instant the item was *meant* to be sent, and the consumer
//!   thread's CPU time over the run's wall time (its cost of waiting).
//!
//! Implementations: ringflow (SPSC where the row allows it, and MPMC; both
//! `Park`, the default), tokio `mpsc`, async-channel, flume (async), kanal
//! (async), thingbuf (`mpsc`). Method (shared/DESIGN.md, "Benchmark
//! method"): every round runs every implementation back to back, in an
//! order rotated per round; ratios are taken within a round and reported as
//! the median over the rounds with their min–max.
//!
//! A placement probe (a bare cache line's round trip between the two
//! cores, before and after) is printed at the end: the VM's vCPUs are
//! sometimes close together, sometimes far apart. The throughput and
//! ping-pong rows also probe before every round and after the last, class
//! each round (close together, far apart, mixed) and give ringflow's ratios
//! over the close-together and the far-apart rounds too.
//!
//! ```sh
//! cargo bench --bench async              # 9 rounds
//! cargo bench --bench async -- --quick   # 7 rounds, fewer items
//! cargo bench --bench async -- --ping     # the ping-pong rows only
//! cargo bench --bench async -- --paced    # the paced rows only
//! cargo bench --bench async -- --throughput  # the throughput rows only
//! cargo bench --bench async -- --only kanal  # the rows of one implementation
//! cargo bench --bench async -- --capacity 16  # the throughput and paced rows at capacity 16
//! ```

mod support;
// The ring capacity of this run (`--capacity N`, 1 024 by default).
use support::capacity as cap;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringflow::{Builder, WaitStrategy};

struct Cfg {
    items: u64,
    /// Length of one paced run.
    paced: Duration,
    round_trips: usize,
    rounds: usize,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// Runs `producers` and `consumers` tasks; each producer sends `per` items
/// with `send`, each consumer receives until its channel closes. Returns
/// the wall time until every consumer is done and the number received.
///
/// Every [`SAMPLE_EVERY`]-th item a producer sends carries, in its top
/// bits, the number of the thread that sent it ([`thread_number`]); a
/// consumer that receives such an item counts whether it runs on that
/// thread. Returns the wall time, the number received and the share of
/// sampled items received on the thread that sent them.
macro_rules! mpmc_run {
    ($rt:expr, $producers:expr, $consumers:expr, $per:expr, $make:expr, |$tx:ident, $i:ident| $send:expr, |$rx:ident| $recv:expr) => {{
        let (tx, rx) = $make;
        let start = Instant::now();
        let (got, sampled, same) = $rt.block_on(async {
            let mut ps = Vec::new();
            for _ in 0..$producers {
                let $tx = tx.clone();
                ps.push(tokio::spawn(async move {
                    for k in 0..$per {
                        let $i = if k % SAMPLE_EVERY == 0 { k | thread_number() << THREAD_SHIFT } else { k };
                        $send;
                    }
                }));
            }
            drop(tx);
            let mut cs = Vec::new();
            for _ in 0..$consumers {
                let $rx = rx.clone();
                cs.push(tokio::spawn(async move {
                    let (mut n, mut sampled, mut same) = (0u64, 0u64, 0u64);
                    while let Some(v) = $recv {
                        let from = std::hint::black_box(v) >> THREAD_SHIFT;
                        if from != 0 {
                            sampled += 1;
                            same += u64::from(from == thread_number());
                        }
                        n += 1;
                    }
                    (n, sampled, same)
                }));
            }
            drop(rx);
            for p in ps {
                p.await.unwrap();
            }
            let (mut n, mut sampled, mut same) = (0, 0, 0);
            for c in cs {
                let (a, b, c) = c.await.unwrap();
                (n, sampled, same) = (n + a, sampled + b, same + c);
            }
            (n, sampled, same)
        });
        (start.elapsed(), got, same as f64 / sampled.max(1) as f64)
    }};
}

/// Where a sampled 4p4c item carries its sender's thread number.
const THREAD_SHIFT: u32 = 48;

/// A small number (from 1) that identifies the calling thread, for the
/// co-location samples of the 1p1c and 4p4c rows: assigned on first use, a
/// thread-local read after that, no system call. Fits below
/// `THREAD_SHIFT`'s bits so that a 4p4c item can carry it.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static NUMBER: u64 = 1 + NEXT.fetch_add(1, Ordering::Relaxed) % ((1 << (64 - THREAD_SHIFT)) - 1));
    NUMBER.with(|n| *n)
}

/// The 1p1c implementations.
const IMPLS_1P1C: [&str; 7] =
    ["ringflow spsc", "ringflow mpmc", "tokio mpsc", "async-channel", "flume", "kanal", "thingbuf"];

/// The 4p4c implementations: tokio's and thingbuf's `mpsc` have one
/// consumer (thingbuf's receiver keeps a single waker slot: four tasks
/// receiving at once lose wake-ups and hang), so they sit this one out.
const IMPLS_4P4C: [&str; 4] = ["ringflow mpmc", "async-channel", "flume", "kanal"];

/// One 4p4c-style measurement (items/s) of `name` with `p` producers and
/// `c` consumers on the 2-worker runtime.
fn throughput(rt: &tokio::runtime::Runtime, name: &str, p: u64, c: u64, items: u64) -> (f64, f64) {
    let per = items / p;
    let (t, n, same) = match name {
        "ringflow mpmc" => mpmc_run!(
            rt,
            p,
            c,
            per,
            Builder::new(cap()).wait_strategy(WaitStrategy::Park).mpmc::<u64>(),
            |tx, i| tx.send_async(i).await.unwrap(),
            |rx| rx.recv_async().await.ok()
        ),
        "async-channel" => {
            mpmc_run!(rt, p, c, per, async_channel::bounded::<u64>(cap()), |tx, i| tx.send(i).await.unwrap(), |rx| rx
                .recv()
                .await
                .ok())
        }
        "flume" => {
            mpmc_run!(rt, p, c, per, flume::bounded::<u64>(cap()), |tx, i| tx.send_async(i).await.unwrap(), |rx| rx
                .recv_async()
                .await
                .ok())
        }
        "kanal" => {
            mpmc_run!(rt, p, c, per, kanal::bounded_async::<u64>(cap()), |tx, i| tx.send(i).await.unwrap(), |rx| rx
                .recv()
                .await
                .ok())
        }
        _ => unreachable!("{name} has no multi-consumer row"),
    };
    assert_eq!(n, per * p, "{name}: every item received once");
    (n as f64 / t.as_secs_f64(), same)
}

// ---------------------------------------------------------------------------
// 1p1c in three regimes.
// ---------------------------------------------------------------------------

/// Where the two tasks of a 1p1c run execute. On a multi-thread runtime the
/// executor decides, and the rate depends mostly on its decision: two tasks
/// on one worker hand items over in the worker's cache (the producer fills
/// the ring, then the consumer drains it), two tasks on two workers move
/// every cache line of the ring between the cores. tokio puts a task woken
/// by another task on the waker's worker (its LIFO slot), so an
/// implementation whose consumer goes to sleep and is woken by the
/// producer's next send pulls the two tasks onto one worker, while one whose
/// consumer rarely sleeps leaves them where they started. The two
/// controlled regimes show each implementation in each placement; the
/// executor's row reports how often its two tasks shared a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Regime {
    /// The 2-worker multi-thread runtime (the target rows).
    Executor,
    /// A current-thread runtime: both tasks on one thread.
    OneWorker,
    /// Two current-thread runtimes on two pinned threads, one task each.
    TwoThreads,
}

/// A task of a 1p1c run, boxed so that every regime runs the same future.
type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Every this many items, the producer records the thread it runs on and
/// the consumer looks whether it runs on the same one.
const SAMPLE_EVERY: u64 = 256;

/// The co-location samples of one run: every `every`-th item the producer
/// notes where it runs (`at`: its thread, or its CPU) and the consumer
/// looks whether it runs at the same place.
struct Colocation {
    /// Where a thread runs now: [`thread_number`] or [`cpu_now`].
    at: fn() -> u64,
    every: u64,
    /// Where the producer ran at its last sample.
    producer: AtomicU64,
    /// Consumer samples taken, and those at the producer's place.
    samples: AtomicU64,
    same: AtomicU64,
}

impl Colocation {
    /// Samples on which thread the two sides run, every [`SAMPLE_EVERY`] items.
    fn threads() -> Self {
        Self::new(thread_number, SAMPLE_EVERY)
    }

    /// Samples on which CPU the two sides run, every `every` items.
    fn cpus(every: u64) -> Self {
        Self::new(cpu_now, every)
    }

    fn new(at: fn() -> u64, every: u64) -> Self {
        Colocation {
            at,
            every,
            producer: AtomicU64::new(u64::MAX),
            samples: AtomicU64::new(0),
            same: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    fn producer_at(&self, i: u64) {
        if i % self.every == 0 {
            self.producer.store((self.at)(), Ordering::Relaxed);
        }
    }

    /// Counts into `local` (samples, same), added to the totals at the end.
    #[inline(always)]
    fn consumer_at(&self, n: u64, local: &mut (u64, u64)) {
        if n % self.every == 0 {
            local.0 += 1;
            local.1 += u64::from(self.producer.load(Ordering::Relaxed) == (self.at)());
        }
    }

    fn add(&self, local: (u64, u64)) {
        self.samples.fetch_add(local.0, Ordering::Relaxed);
        self.same.fetch_add(local.1, Ordering::Relaxed);
    }

    /// The fraction of the consumer's samples taken at the producer's place.
    fn fraction(&self) -> f64 {
        self.same.load(Ordering::Relaxed) as f64 / self.samples.load(Ordering::Relaxed).max(1) as f64
    }
}

/// The producer and consumer tasks of a 1p1c run of `name` over `items`:
/// the producer sends `0..items` and drops its sender, the consumer
/// receives until the channel closes and returns how many it got.
fn pair(name: &str, items: u64, col: &Arc<Colocation>) -> (Task<()>, Task<u64>) {
    macro_rules! pair {
        ($make:expr, |$tx:ident, $i:ident| $send:expr, |$rx:ident| $recv:expr) => {{
            #[allow(unused_mut)]
            let (mut $tx, mut $rx) = $make;
            let (pc, cc) = (col.clone(), col.clone());
            let prod: Task<()> = Box::pin(async move {
                for $i in 0..items {
                    $send;
                    pc.producer_at($i);
                }
            });
            let cons: Task<u64> = Box::pin(async move {
                let (mut n, mut local) = (0u64, (0u64, 0u64));
                while let Some(v) = $recv {
                    std::hint::black_box(v);
                    cc.consumer_at(n, &mut local);
                    n += 1;
                }
                cc.add(local);
                n
            });
            (prod, cons)
        }};
    }
    let park = || Builder::new(cap()).wait_strategy(WaitStrategy::Park);
    match name {
        "ringflow spsc" => {
            pair!(park().spsc::<u64>(), |tx, i| tx.send_async(i).await.unwrap(), |rx| rx.recv_async().await.ok())
        }
        "ringflow mpmc" => {
            pair!(park().mpmc::<u64>(), |tx, i| tx.send_async(i).await.unwrap(), |rx| rx.recv_async().await.ok())
        }
        "tokio mpsc" => {
            pair!(tokio::sync::mpsc::channel::<u64>(cap()), |tx, i| tx.send(i).await.unwrap(), |rx| rx.recv().await)
        }
        "async-channel" => {
            pair!(async_channel::bounded::<u64>(cap()), |tx, i| tx.send(i).await.unwrap(), |rx| rx.recv().await.ok())
        }
        "flume" => {
            pair!(flume::bounded::<u64>(cap()), |tx, i| tx.send_async(i).await.unwrap(), |rx| rx
                .recv_async()
                .await
                .ok())
        }
        "kanal" => {
            pair!(kanal::bounded_async::<u64>(cap()), |tx, i| tx.send(i).await.unwrap(), |rx| rx.recv().await.ok())
        }
        "thingbuf" => {
            pair!(thingbuf::mpsc::channel::<u64>(cap()), |tx, i| tx.send(i).await.unwrap(), |rx| rx.recv().await)
        }
        _ => unreachable!("unknown implementation {name}"),
    }
}

/// The runtimes the 1p1c regimes run on, built once.
struct Runtimes {
    /// 2 workers (the target rows, and 4p4c).
    multi: tokio::runtime::Runtime,
    /// One thread (`Regime::OneWorker`).
    one: tokio::runtime::Runtime,
    /// One per pinned thread (`Regime::TwoThreads`).
    pinned: (Arc<tokio::runtime::Runtime>, Arc<tokio::runtime::Runtime>),
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

/// One 1p1c measurement: items/s, and the fraction of co-location samples
/// on one thread.
fn run_1p1c(rts: &Runtimes, regime: Regime, name: &str, items: u64) -> (f64, f64) {
    let col = Arc::new(Colocation::threads());
    let (prod, cons) = pair(name, items, &col);
    let both_on = |rt: &tokio::runtime::Runtime, prod: Task<()>, cons: Task<u64>| {
        let start = Instant::now();
        let n = rt.block_on(async {
            let p = tokio::spawn(prod);
            let c = tokio::spawn(cons);
            p.await.unwrap();
            c.await.unwrap()
        });
        (start.elapsed(), n)
    };
    let (t, n) = match regime {
        Regime::Executor => both_on(&rts.multi, prod, cons),
        Regime::OneWorker => both_on(&rts.one, prod, cons),
        Regime::TwoThreads => {
            let (ra, rb) = rts.pinned.clone();
            let got = Arc::new(AtomicU64::new(0));
            let got2 = got.clone();
            let cores = support::cores();
            let t = support::run_workers(vec![
                (
                    cores.0,
                    Box::new(move |_: &support::Stop| {
                        ra.block_on(prod);
                        Ok(())
                    }),
                ),
                (
                    cores.1,
                    Box::new(move |_: &support::Stop| {
                        got2.store(rb.block_on(cons), Ordering::Relaxed);
                        Ok(())
                    }),
                ),
            ]);
            (t, got.load(Ordering::Relaxed))
        }
    };
    assert_eq!(n, items, "{name}: every item received once");
    (n as f64 / t.as_secs_f64(), col.fraction())
}

/// The ping-pong and paced implementations (each has a blocking send for
/// the paced rows' producer thread, and one consumer).
const PING_IMPLS: [&str; 6] = ["ringflow spsc", "ringflow mpmc", "tokio mpsc", "async-channel", "flume", "kanal"];

/// CPU time the whole process has used, in ns.
fn process_cpu_ns() -> f64 {
    support::cpu_time_ns(libc::CLOCK_PROCESS_CPUTIME_ID) as f64
}

/// The p50 round trip (ns) of one item bounced between two tasks; the
/// process's CPU time per round trip (ns) over the run; and the share of
/// sampled round trips in which the two tasks' threads were on one CPU.
fn ping_pong(rt: &tokio::runtime::Runtime, name: &str, n: usize) -> ((f64, f64), f64) {
    let cpu0 = process_cpu_ns();
    let (p50, one_cpu) = ping_pong_p50(rt, name, n);
    ((p50, (process_cpu_ns() - cpu0) / n as f64), one_cpu)
}

/// Every this many round trips, the echo task notes its CPU before it
/// answers, and the timing task, once it has the answer, looks whether it
/// runs on the same one ([`Colocation::cpus`]).
const PING_SAMPLE_EVERY: u64 = 64;

/// The CPU the calling thread runs on (`sched_getcpu`; `u64::MAX` if
/// unknown).
fn cpu_now() -> u64 {
    // SAFETY: no arguments; it only reads the calling thread's CPU.
    let cpu = unsafe { libc::sched_getcpu() };
    u64::try_from(cpu).unwrap_or(u64::MAX)
}

/// The p50 round trip (ns), and the share of sampled round trips in which
/// the timing task and the echo task ran on one CPU: the main thread (which
/// runs the timing task in `block_on`) and the echo task's worker are
/// three threads on two vCPUs with the idle worker, and where the two busy
/// ones share a vCPU every answer waits for a context switch.
fn ping_pong_p50(rt: &tokio::runtime::Runtime, name: &str, n: usize) -> (f64, f64) {
    macro_rules! pp {
        ($a:expr, $b:expr, |$s:ident, $v:ident| $send:expr, |$r:ident| $recv:expr) => {{
            let ((mut a_tx, mut a_rx), (mut b_tx, mut b_rx)) = ($a, $b);
            let col = Arc::new(Colocation::cpus(PING_SAMPLE_EVERY));
            let echo_col = col.clone();
            rt.block_on(async move {
                let echo = tokio::spawn(async move {
                    for i in 0..n as u64 {
                        let $v = {
                            let $r = &mut a_rx;
                            $recv
                        };
                        echo_col.producer_at(i);
                        let $s = &mut b_tx;
                        $send;
                    }
                });
                let mut rtts = Vec::with_capacity(n);
                let mut local = (0, 0);
                for i in 0..n {
                    let t = Instant::now();
                    {
                        let $s = &mut a_tx;
                        let $v = i as u64;
                        $send;
                    }
                    let v = {
                        let $r = &mut b_rx;
                        $recv
                    };
                    std::hint::black_box(v);
                    rtts.push(t.elapsed().as_nanos() as f64);
                    col.consumer_at(i as u64, &mut local);
                }
                echo.await.unwrap();
                col.add(local);
                rtts.sort_by(f64::total_cmp);
                (rtts[n / 2], col.fraction())
            })
        }};
    }
    let park = || Builder::new(1).wait_strategy(WaitStrategy::Park);
    match name {
        "ringflow spsc" => {
            pp!(park().spsc::<u64>(), park().spsc::<u64>(), |s, v| s.send_async(v).await.unwrap(), |r| r
                .recv_async()
                .await
                .unwrap())
        }
        "ringflow mpmc" => {
            pp!(park().mpmc::<u64>(), park().mpmc::<u64>(), |s, v| s.send_async(v).await.unwrap(), |r| r
                .recv_async()
                .await
                .unwrap())
        }
        "tokio mpsc" => pp!(
            tokio::sync::mpsc::channel::<u64>(1),
            tokio::sync::mpsc::channel::<u64>(1),
            |s, v| s.send(v).await.unwrap(),
            |r| r.recv().await.unwrap()
        ),
        "async-channel" => pp!(
            async_channel::bounded::<u64>(1),
            async_channel::bounded::<u64>(1),
            |s, v| s.send(v).await.unwrap(),
            |r| r.recv().await.unwrap()
        ),
        "flume" => {
            pp!(flume::bounded::<u64>(1), flume::bounded::<u64>(1), |s, v| s.send_async(v).await.unwrap(), |r| r
                .recv_async()
                .await
                .unwrap())
        }
        "kanal" => {
            pp!(kanal::bounded_async::<u64>(1), kanal::bounded_async::<u64>(1), |s, v| s.send(v).await.unwrap(), |r| r
                .recv()
                .await
                .unwrap())
        }
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------
// Paced: a blocking ingest thread feeding an async stage.
// ---------------------------------------------------------------------------

/// An item of the paced rows: its sequence number and the instant it was
/// meant to be sent.
type Stamped = (u64, Instant);

/// What one paced run measured.
struct PacedRun {
    /// One-way latency (ns) at the 50th and 99th percentile, counted from
    /// the instant each item was *meant* to be sent.
    p50: f64,
    p99: f64,
    /// CPU time of the consumer's thread over the run's wall time: what
    /// waiting for items cost the async stage.
    consumer_cpu: f64,
}

/// One paced run of `name`: a producer thread pinned to the first core sends
/// one item every `period` with the implementation's blocking send (it
/// spins until each item's instant, so it is never late by more than a
/// clock read); a task on a current-thread runtime, on a thread pinned to
/// the second core, receives them with the async receive. The first tenth
/// of the items is not recorded (the waits' policies learn the pace).
fn paced(name: &str, period: Duration, items: u64) -> PacedRun {
    macro_rules! run {
        ($make:expr, |$tx:ident, $v:ident| $send:expr, |$rx:ident| $recv:expr) => {{
            let (mut tx, rx) = $make;
            let send = move |$v: Stamped| {
                let $tx = &mut tx;
                $send;
            };
            let name = name.to_owned();
            let consume = move || {
                #[allow(unused_mut)]
                let mut $rx = rx;
                current_thread().block_on(async move {
                    let skip = items / 10;
                    let mut lat = Vec::with_capacity((items - skip) as usize);
                    let (cpu0, wall0) = (support::thread_cpu_ns(), Instant::now());
                    for k in 0..items {
                        let (seq, intended): Stamped = $recv;
                        let now = Instant::now();
                        assert_eq!(seq, k, "{name}: items out of order or lost");
                        if k >= skip {
                            lat.push(now.saturating_duration_since(intended).as_nanos() as f64);
                        }
                    }
                    (lat, support::cpu_share(cpu0, wall0))
                })
            };
            paced_threads(period, items, send, consume)
        }};
    }
    match name {
        "ringflow spsc" => {
            run!(Builder::new(cap()).spsc::<Stamped>(), |tx, v| tx.send(v).unwrap(), |rx| rx
                .recv_async()
                .await
                .unwrap())
        }
        "ringflow mpmc" => {
            run!(Builder::new(cap()).mpmc::<Stamped>(), |tx, v| tx.send(v).unwrap(), |rx| rx
                .recv_async()
                .await
                .unwrap())
        }
        "tokio mpsc" => {
            run!(tokio::sync::mpsc::channel::<Stamped>(cap()), |tx, v| tx.blocking_send(v).unwrap(), |rx| rx
                .recv()
                .await
                .unwrap())
        }
        "async-channel" => {
            run!(async_channel::bounded::<Stamped>(cap()), |tx, v| tx.send_blocking(v).unwrap(), |rx| rx
                .recv()
                .await
                .unwrap())
        }
        "flume" => {
            run!(flume::bounded::<Stamped>(cap()), |tx, v| tx.send(v).unwrap(), |rx| rx.recv_async().await.unwrap())
        }
        "kanal" => {
            let (tx, rx) = kanal::bounded_async::<Stamped>(cap());
            run!((tx.to_sync(), rx), |tx, v| tx.send(v).unwrap(), |rx| rx.recv().await.unwrap())
        }
        _ => unreachable!("unknown implementation {name}"),
    }
}

/// Runs the two sides of a paced run on the two pinned cores.
fn paced_threads<S, C>(period: Duration, items: u64, send: S, consume: C) -> PacedRun
where
    S: FnMut(Stamped) + Send + 'static,
    C: FnOnce() -> (Vec<f64>, f64) + Send + 'static,
{
    let cores = support::cores();
    let ready = Arc::new(std::sync::Barrier::new(2));
    let ready2 = ready.clone();
    let consumer = std::thread::spawn(move || {
        core_affinity::set_for_current(cores.1);
        ready2.wait();
        consume()
    });
    let producer = std::thread::spawn(move || {
        let mut send = send;
        core_affinity::set_for_current(cores.0);
        ready.wait();
        // A little lead, so that the consumer is waiting for the first item.
        let start = Instant::now() + Duration::from_micros(500);
        for k in 0..items {
            let intended = start + period * k as u32;
            support::wait_until(intended, false);
            send((k, intended));
        }
    });
    producer.join().unwrap();
    let (mut lat, consumer_cpu) = consumer.join().unwrap();
    lat.sort_by(f64::total_cmp);
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    PacedRun { p50: at(0.5), p99: at(0.99), consumer_cpu }
}

/// The paced rows: for each pace, every implementation once per round in
/// a rotated order; p50 and p99 one-way latency and the consumer thread's
/// CPU share, each reported with ringflow's per-round ratios.
fn paced_rows(cfg: &Cfg, only: &Option<String>) {
    let impls: Vec<&str> =
        PING_IMPLS.iter().copied().filter(|n| only.as_deref().map_or(true, |o| n.contains(o))).collect();
    if impls.is_empty() {
        return;
    }
    for period_us in [10u64, 100, 1000] {
        let period = Duration::from_micros(period_us);
        let items = (cfg.paced.as_nanos() / period.as_nanos()) as u64;
        let mut p50: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
        let mut p99: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
        for round in 0..cfg.rounds {
            for k in 0..impls.len() {
                let i = (k + round) % impls.len();
                let r = paced(impls[i], period, items);
                p50[i].push(r.p50);
                p99[i].push(r.p99);
                cpu[i].push(r.consumer_cpu);
            }
        }
        let what = format!(
            "paced {period_us} µs: a blocking producer thread (core 0) sends one item every {period_us} µs, \
             an async task on a current-thread runtime (core 1) receives; {items} items per run"
        );
        report(&format!("{what}; p50"), "µs one-way, from the intended send", &impls, &p50, 1e-3, false, &[]);
        report(&format!("paced {period_us} µs; p99"), "µs one-way", &impls, &p99, 1e-3, false, &[]);
        report(
            &format!("paced {period_us} µs; consumer CPU"),
            "% of the consumer thread's wall time on the CPU",
            &impls,
            &cpu,
            100.0,
            false,
            &[],
        );
    }
}

/// Per implementation, its values round by round.
type PerImpl<T> = Vec<Vec<T>>;

/// Runs `n` implementations once per round for `rounds` rounds, the order
/// rotated by one each round, with a placement probe before every round
/// and after the last. `run(i)` measures implementation `i` and returns two
/// values. Returns those values per implementation (in round order), each
/// round's placement class and the line that prints them.
fn probed_rounds<R: Clone>(
    rounds: usize,
    cores: (core_affinity::CoreId, core_affinity::CoreId),
    n: usize,
    mut run: impl FnMut(usize) -> R,
) -> (PerImpl<R>, Vec<support::Where>, String) {
    let mut results: PerImpl<R> = vec![Vec::new(); n];
    let mut probes = support::RoundProbes::new(cores, rounds);
    for round in 0..rounds {
        probes.before_round();
        for k in 0..n {
            let i = (k + round) % n;
            results[i].push(run(i));
        }
    }
    let (wheres, classes, _) = probes.finish();
    (results, wheres, classes)
}

/// Per implementation, its pairs of values split into two series.
fn split(results: PerImpl<(f64, f64)>) -> (PerImpl<f64>, PerImpl<f64>) {
    results.into_iter().map(|r| r.into_iter().unzip()).unzip()
}

/// Prints a per-round share (0–1) per implementation as a percentage:
/// median over rounds, min–max.
fn print_shares(what: &str, impls: &[&str], per_round: &[Vec<f64>]) {
    println!("  {what} (median over rounds, min–max):");
    for (name, v) in impls.iter().zip(per_round) {
        let (m, lo, hi) = summary(v.iter().map(|x| x * 100.0).collect());
        println!("{name:>14}: {m:5.0} %  ({lo:.0}–{hi:.0})");
    }
}

/// Median (of the middle two for an even count), min and max.
fn summary(v: Vec<f64>) -> (f64, f64, f64) {
    let s = support::Spread::of(&v);
    (s.median, s.min, s.max)
}

fn main() {
    support::check_args(
        "cargo bench --bench async [-- --quick] [--ping] [--paced] [--throughput] [--only NAME] [--capacity N]",
        &["--quick", "--ping", "--paced", "--throughput"],
        &["--only", "--capacity"],
        false,
    );
    let _ = cap(); // a bad `--capacity` fails here, before anything runs
    let quick = std::env::args().any(|a| a == "--quick");
    let cfg = if quick {
        Cfg { items: 200_000, paced: Duration::from_millis(100), round_trips: 2_000, rounds: 7 }
    } else {
        Cfg { items: 2_000_000, paced: Duration::from_millis(500), round_trips: 20_000, rounds: 9 }
    };
    let cpu = support::cpu_model();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# ringflow async bench: {cpu}, {cores} CPUs; tokio multi-thread runtime, 2 workers");
    // The VM's two vCPUs are sometimes close together, sometimes far apart;
    // the rows move with it (see the probe printed at the end).
    // A probe before every round of the throughput and ping-pong rows and
    // after the last classes each round (close together, far apart, mixed),
    // as in `targets`: the vCPUs move within minutes, and far apart some
    // rows collapse (docs/measurements.md, Async).
    let cores = support::cores();
    let placement = support::Placement::probe(cores);
    println!(
        "# {} rounds (order rotated per round); {} u64 items per throughput run, capacity {}; {} round trips (capacity 1)",
        cfg.rounds,
        cfg.items,
        cap(),
        cfg.round_trips
    );
    let rts = Runtimes {
        multi: rt(),
        one: current_thread(),
        pinned: (Arc::new(current_thread()), Arc::new(current_thread())),
    };

    let ping_only = std::env::args().any(|a| a == "--ping");
    // `--paced`: the paced rows only.
    let paced_only = std::env::args().any(|a| a == "--paced");
    // `--throughput`: the throughput rows only (no paced, no ping-pong rows).
    let throughput_only = std::env::args().any(|a| a == "--throughput");
    // `--only NAME`: the rows of the implementations whose name contains
    // NAME (for profiling one of them).
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    let chosen = |n: &&str| only.as_deref().map_or(true, |o| n.contains(o));
    let ping_impls: Vec<&str> = PING_IMPLS.iter().copied().filter(chosen).collect();
    let regimes = [
        (Regime::Executor, "1p1c", "2-worker runtime, the executor places the tasks"),
        (Regime::OneWorker, "1p1c one worker", "current-thread runtime: both tasks on one thread"),
        (Regime::TwoThreads, "1p1c two threads", "a current-thread runtime per pinned thread, one task each"),
    ];
    let impls: Vec<&str> = IMPLS_1P1C.iter().copied().filter(chosen).collect();
    for (regime, label, what) in regimes.into_iter().filter(|_| !ping_only && !paced_only && !impls.is_empty()) {
        let (results, wheres, classes) =
            probed_rounds(cfg.rounds, cores, impls.len(), |i| run_1p1c(&rts, regime, impls[i], cfg.items));
        let (per_round, together) = split(results);
        report(&format!("{label}: {what}"), "M items/s", &impls, &per_round, 1e-6, true, &wheres);
        println!("  {classes}");
        if regime == Regime::Executor {
            print_shares("share of samples with both tasks on one worker", &impls, &together);
        }
    }
    let impls: Vec<&str> = IMPLS_4P4C.iter().copied().filter(chosen).collect();
    if !ping_only && !paced_only && !impls.is_empty() {
        let (results, wheres, classes) =
            probed_rounds(cfg.rounds, cores, impls.len(), |i| throughput(&rts.multi, impls[i], 4, 4, cfg.items));
        let (per_round, local) = split(results);
        report("4p4c: 2-worker runtime", "M items/s", &impls, &per_round, 1e-6, true, &wheres);
        println!("  {classes}");
        let what = format!(
            "share of sampled items (every {SAMPLE_EVERY}th a producer sends) received on the thread that sent them"
        );
        print_shares(&what, &impls, &local);
    }

    if !ping_only && !throughput_only {
        paced_rows(&cfg, &only);
    }
    if ping_impls.is_empty() || paced_only || throughput_only {
        println!("\n{}", placement.report());
        return;
    }
    let (results, wheres, classes) =
        probed_rounds(cfg.rounds, cores, ping_impls.len(), |i| ping_pong(&rts.multi, ping_impls[i], cfg.round_trips));
    let (pairs, one_cpu): (PerImpl<(f64, f64)>, PerImpl<f64>) =
        results.into_iter().map(|r| r.into_iter().unzip()).unzip();
    let (per_round, cpu_per_round) = split(pairs);
    report("ping-pong p50", "µs round trip", &ping_impls, &per_round, 1e-3, false, &wheres);
    report("ping-pong CPU", "µs of process CPU time per round trip", &ping_impls, &cpu_per_round, 1e-3, false, &wheres);
    println!("  {classes}");
    let what =
        format!("share of sampled round trips (every {PING_SAMPLE_EVERY}th) with both tasks' threads on one CPU");
    print_shares(&what, &ping_impls, &one_cpu);
    println!("\n{}", placement.report());
}

/// Prints one row per implementation: the median (min–max) value, and the
/// per-round ratios of the two ringflow rows against tokio mpsc and the
/// best peer of that round (higher is better for throughput, lower for
/// latency; ratios are stated so that > 1 means ringflow is better), with
/// their medians over the close-together and the far-apart rounds when
/// `wheres` classes the rounds (empty: not classed).
fn report(
    label: &str,
    unit: &str,
    impls: &[&str],
    per_round: &[Vec<f64>],
    scale: f64,
    higher_better: bool,
    wheres: &[support::Where],
) {
    println!("\n## {label} ({unit}; median over rounds, min–max)");
    for (name, v) in impls.iter().zip(per_round) {
        let (m, lo, hi) = summary(v.iter().map(|x| x * scale).collect());
        println!("{name:>14}: {m:9.3}  ({lo:.3}–{hi:.3})");
    }
    let rounds = per_round[0].len();
    let peers: Vec<usize> = (0..impls.len()).filter(|&i| !impls[i].starts_with("ringflow")).collect();
    let tokio = impls.iter().position(|n| *n == "tokio mpsc");
    for (ri, name) in impls.iter().enumerate().filter(|(_, n)| n.starts_with("ringflow") && !peers.is_empty()) {
        let better = |ours: f64, theirs: f64| if higher_better { ours / theirs } else { theirs / ours };
        let by_class = |ratios: &[f64]| {
            if wheres.len() == ratios.len() {
                format!(
                    "; close rounds {}, far rounds {}",
                    support::Where::Close.median_of(ratios, wheres),
                    support::Where::Far.median_of(ratios, wheres)
                )
            } else {
                String::new()
            }
        };
        if let Some(t) = tokio {
            let ratios: Vec<f64> = (0..rounds).map(|k| better(per_round[ri][k], per_round[t][k])).collect();
            let r = summary(ratios.clone());
            println!("{name:>14} vs tokio mpsc: {:.2}x ({:.2}–{:.2}){}", r.0, r.1, r.2, by_class(&ratios));
        }
        let ratios: Vec<f64> = (0..rounds)
            .map(|k| {
                let best = peers.iter().map(|&p| per_round[p][k]).fold(
                    if higher_better { f64::MIN } else { f64::MAX },
                    |a, b| if higher_better { a.max(b) } else { a.min(b) },
                );
                better(per_round[ri][k], best)
            })
            .collect();
        let r = summary(ratios.clone());
        println!("{name:>14} vs best peer: {:.2}x ({:.2}–{:.2}){}", r.0, r.1, r.2, by_class(&ratios));
    }
}
