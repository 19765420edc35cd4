//! Broadcast (fan-out) throughput: 1 sender x 1, 2, 4 receivers, `u64` and a
//! 64-byte `Clone` payload, items *delivered* per second (the sum over
//! receivers of the items each one received, over the wall time from the
//! first send until every receiver has finished).
//!
//! Implementations, each a complete fan-out (every receiver gets every item,
//! except tokio's, which is lossy only and counts what it delivered):
//!
//! - ringflow broadcast, Block, `Park` (the default) — the subject;
//! - ringflow broadcast, Block, `BusySpin` — against disruptor-rs (spinning);
//! - ringflow N SPSC rings (`Park`), one per receiver, the sender cloning
//!   into each — the fan-out `examples/fanout.rs` used before the broadcast
//!   ring existed;
//! - `tokio::sync::broadcast` (lossy; receivers in `blocking_recv`);
//! - `bus` (blocks on the slowest reader);
//! - disruptor-rs (`build_single_producer`, `BusySpin`, one event handler per
//!   receiver, each cloning the event as the others do).
//!
//! Method (DESIGN.md "Benchmark method"): interleaved rounds (at least 7),
//! the order of the implementations rotated every round; each ratio is
//! taken within a round, then the median and the min–max across rounds are
//! printed. The machine has 2 vCPUs here: 1 x 2 is already three threads, so
//! every multi-receiver row is oversubscribed; the spinning rows (ringflow
//! `BusySpin`, disruptor) run only at 1 x 1 and 1 x 2, where a spinning
//! thread can at least get a core back within a time slice.
//!
//! The placement probe printed at the end (a bare cache line's round trip
//! between the two cores, before and after) says whether the vCPUs were
//! close together or far apart during the run.
//!
//! Where the threads ran: every thread (the sender and each receiver, except
//! disruptor-rs's handler threads, which it starts itself) notes its CPU
//! every 16 384 items, and each run is classed by each thread's most
//! frequent CPU: the sender alone on its vCPU, or sharing it with a
//! receiver. Unpinned, the scheduler picks one per run, and the fan-out
//! rows differ between the two (at 1 x 2, the receivers taking turns on one
//! vCPU, or the sender and one receiver taking turns on one while the other
//! receiver has the other vCPU); below each table, each row's ratio to its
//! ringflow reference over the rounds in which both runs had the same
//! placement, and over those of them whose placement probes (taken before
//! every round and after the last) read close together and far apart.
//!
//! Items per run: 2 000 000 for the ringflow broadcast (`Park`), N SPSC
//! rings and bus rows, so that a run lasts longer than a scheduler time
//! slice (runs of 200 000 items took 2–5 ms, and with three or more threads
//! on two vCPUs where the scheduler put them decided a row more than the
//! code did); 200 000 for tokio's broadcast (2–6 M items/s here) and for the
//! spinning rows from 1 x 2 on (0.3 M items/s), which at 2 000 000 would take
//! most of the run's time. `--items N` sets the first number and the second
//! to a tenth of it.
//!
//! `cargo bench --bench broadcast [-- --quick] [--rounds N] [--items N]
//! [--receivers 1|2|4] [--no-spin]` (`--quick`: 7 rounds of 20 000 items
//! (2 000 for the slow rows), a few seconds; `--receivers`: only the
//! scenarios with that many receivers; `--no-spin`: without the two
//! spinning rows, which at 1 x 2 on two vCPUs move about one ring-full per
//! scheduler time slice, 0.3 M items/s, so that long runs of the others stay
//! short; `--pin 0,1,1`: the sender on
//! core 0, receivers on the cores after it, cycling (disruptor-rs's
//! handler threads too, through its `pin_at_core`); `--only NAME`: the rows
//! whose name contains NAME, and the ringflow row they are compared with;
//! `--work NS`: the sender does about NS ns of busy work before each send,
//! every implementation alike, meant to let the receivers keep up so that
//! each item crosses alone (the near-empty regime; the bench does not
//! measure the fill); without it the rows run free-running); `--capacity
//! N`: every ring holds N items instead of 1 024 (disruptor-rs's, which
//! must be a power of two, the next one up). A small capacity makes the
//! sender wait for the slowest receiver every few items, where how each
//! implementation waits decides the row: before 2026-12-04 ringflow's 1 × 2
//! at capacity 16 ran at 2.3–3.3 µs per item, a receiver spinning through
//! the turn of the other receiver sharing its vCPU (`docs/measurements.md`).

mod support;
// The ring capacity of this run (`--capacity N`, 1 024 by default).
use support::capacity as cap;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ringflow::{Builder, WaitStrategy};

/// What the rings carry: `u64`, or 64 bytes with a non-trivial `Clone`.
trait Payload: Clone + Send + Sync + 'static {
    const NAME: &'static str;
    fn make(i: u64) -> Self;
    fn key(&self) -> u64;
}

impl Payload for u64 {
    const NAME: &'static str = "u64";
    fn make(i: u64) -> Self {
        i
    }
    fn key(&self) -> u64 {
        *self
    }
}

#[derive(Clone)]
struct P64([u64; 8]);

impl Payload for P64 {
    const NAME: &'static str = "64 B";
    fn make(i: u64) -> Self {
        P64([i; 8])
    }
    fn key(&self) -> u64 {
        self.0[7]
    }
}

/// One run: wall time, items delivered over all receivers, and where the
/// threads ran ([`Placed`]).
type Run = (Duration, u64, Placed);

/// Where a run's threads ran, from the CPU each one was on most often (one
/// `sched_getcpu` every [`SAMPLE_EVERY`] items it handled). With more
/// threads than vCPUs the scheduler's choice decides the fan-out rows (see
/// `print_placements`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placed {
    /// The sender had its vCPU to itself; the receivers shared the others.
    SenderAlone,
    /// The sender shared its vCPU with at least one receiver.
    SenderShared,
    /// Not sampled (disruptor-rs runs its handlers on threads of its own),
    /// or a thread handled no item.
    Unknown,
}

/// Items between two CPU samples of a thread.
const SAMPLE_EVERY: u64 = 1 << 14;

/// How often a thread was seen on each CPU (the first 64).
#[derive(Clone, Copy)]
struct Cpus([u32; 64]);

impl Cpus {
    fn new() -> Self {
        Cpus([0; 64])
    }

    /// Counts the CPU this thread is on when `i` is a multiple of
    /// `SAMPLE_EVERY`.
    #[inline(always)]
    fn tick(&mut self, i: u64) {
        if i % SAMPLE_EVERY == 0 {
            // SAFETY: `sched_getcpu` has no preconditions.
            let cpu = unsafe { libc::sched_getcpu() };
            if let Some(n) = usize::try_from(cpu).ok().and_then(|c| self.0.get_mut(c)) {
                *n += 1;
            }
        }
    }

    /// The CPU this thread was seen on most often.
    fn most(&self) -> Option<usize> {
        let (cpu, &n) = self.0.iter().enumerate().max_by_key(|&(_, n)| *n)?;
        (n > 0).then_some(cpu)
    }
}

/// The class of a run whose sender was mostly on `sender` and whose
/// receivers were mostly on `receivers`.
fn placement_of(sender: &Cpus, receivers: &[Cpus]) -> Placed {
    match sender.most() {
        Some(s) if receivers.iter().any(|r| r.most() == Some(s)) => Placed::SenderShared,
        Some(_) if receivers.iter().all(|r| r.most().is_some()) => Placed::SenderAlone,
        _ => Placed::Unknown,
    }
}

/// Receives until `next` says the channel is done; returns how many, and
/// the CPUs this thread was seen on.
fn drain<P: Payload>(mut next: impl FnMut() -> Option<P>) -> (u64, Cpus) {
    let (mut got, mut cpus) = (0, Cpus::new());
    while let Some(v) = next() {
        cpus.tick(got);
        black_box(v.key());
        got += 1;
    }
    (got, cpus)
}

/// `--work NS`: busy work of about `NS` ns before each send (in units of
/// `support::busy`), meant to let the receivers keep up (the near-empty
/// regime; not verified by a fill measurement); unset: none (free-running).
static WORK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// The sender's per-item work (see `WORK`).
#[inline(always)]
fn work() {
    if let Some(&units) = WORK.get() {
        support::busy(units);
    }
}

/// The sender's loop of every sampled fan-out: for each of `items` items,
/// note the CPU (every [`SAMPLE_EVERY`]), do the `--work`, then `send(i)`;
/// returns the CPUs seen.
fn send_each(items: u64, mut send: impl FnMut(u64)) -> Cpus {
    let mut cpus = Cpus::new();
    for i in 0..items {
        cpus.tick(i);
        work();
        send(i);
    }
    cpus
}

/// `--pin S,R...`: the sender's core, then the receivers' (receiver `i`
/// takes entry `i` of the receivers' list, cycling). Unset: not pinned.
static PIN: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();

fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(core) = core {
        assert!(core_affinity::set_for_current(core), "could not pin to core {}", core.id);
    }
}

/// Spawns a thread per receiver running `body` after a start barrier, runs
/// `send` on this thread, then joins them; times from the barrier to the
/// last join, and classes the run by the CPUs `body` and `send` report.
fn fan<R: Send + 'static>(receivers: Vec<R>, body: fn(R) -> (u64, Cpus), send: impl FnOnce() -> Cpus) -> Run {
    let go = Arc::new(Barrier::new(receivers.len() + 1));
    let cores = PIN.get();
    pin(cores.map(|c| c[0]));
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let go = go.clone();
            let core = cores.map(|c| c[1 + i % (c.len() - 1)]);
            thread::spawn(move || {
                pin(core);
                go.wait();
                body(r)
            })
        })
        .collect();
    go.wait();
    let start = Instant::now();
    let sender = send();
    let (counts, cpus): (Vec<u64>, Vec<Cpus>) = handles.into_iter().map(|h| h.join().unwrap()).unzip();
    (start.elapsed(), counts.iter().sum(), placement_of(&sender, &cpus))
}

fn ringflow<P: Payload>(strategy: WaitStrategy, items: u64, n: usize) -> Run {
    let (mut tx, rx) = Builder::new(cap()).wait_strategy(strategy).broadcast::<P>();
    let rxs: Vec<_> = (0..n).map(|_| rx.clone()).collect();
    drop(rx);
    fan(rxs, |mut rx| drain(|| rx.recv().ok()), move || send_each(items, |i| tx.send(P::make(i)).unwrap()))
}

fn spsc_rings<P: Payload>(items: u64, n: usize) -> Run {
    let (mut txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| ringflow::spsc::channel::<P>(cap())).unzip();
    fan(
        rxs,
        |mut rx| drain(|| rx.recv().ok()),
        move || {
            send_each(items, |i| {
                let v = P::make(i);
                for tx in &mut txs {
                    tx.send(v.clone()).unwrap();
                }
            })
        },
    )
}

fn tokio_broadcast<P: Payload>(items: u64, n: usize) -> Run {
    let (tx, rx) = tokio::sync::broadcast::channel::<P>(cap());
    let rxs: Vec<_> = (0..n).map(|_| rx.resubscribe()).collect();
    drop(rx);
    fan(
        rxs,
        |mut rx| {
            use tokio::sync::broadcast::error::RecvError;
            let (mut got, mut cpus) = (0, Cpus::new());
            loop {
                match rx.blocking_recv() {
                    Ok(v) => {
                        cpus.tick(got);
                        black_box(v.key());
                        got += 1;
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return (got, cpus),
                }
            }
        },
        move || {
            send_each(items, |i| {
                let _ = tx.send(P::make(i));
            })
        },
    )
}

fn bus<P: Payload>(items: u64, n: usize) -> Run {
    let mut bus = bus::Bus::<P>::new(cap());
    let rxs: Vec<_> = (0..n).map(|_| bus.add_rx()).collect();
    fan(rxs, |mut rx| drain(|| rx.recv().ok()), move || send_each(items, |i| bus.broadcast(P::make(i))))
}

fn disruptor<P: Payload>(items: u64, n: usize) -> Run {
    use disruptor::{build_single_producer, BusySpin, ProcessorSettings, Producer};
    let counts: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let handler = |c: Arc<AtomicU64>| {
        let mut got = 0;
        move |e: &P, _seq: i64, end_of_batch: bool| {
            black_box(e.clone().key());
            got += 1;
            if end_of_batch {
                c.store(got, Ordering::Relaxed);
            }
        }
    };
    // Placed as `fan` places the others: the producer (this thread) on the
    // sender's core, handler `i` on the receivers' cores, cycling. Without
    // `--pin`, nothing is pinned (the handler threads inherit this thread's
    // mask, which `fan` pins only under `--pin`).
    let cores = PIN.get();
    pin(cores.map(|c| c[0]));
    fn placed<S: ProcessorSettings<E, W>, E, W>(s: S, i: usize) -> S {
        match PIN.get() {
            Some(c) => s.pin_at_core(c[1 + i % (c.len() - 1)].id),
            None => s,
        }
    }
    // Timed from after `build()` (which allocates the ring and starts the
    // handler threads), as `fan` times the others from after their
    // receivers are running, to the last event processed.
    fn drive<P: Payload>(mut p: impl Producer<P>, items: u64) -> Duration {
        let start = Instant::now();
        for i in 0..items {
            work();
            p.publish(|e| *e = P::make(i));
        }
        // Dropping the producer waits for every handler to process every event.
        drop(p);
        start.elapsed()
    }
    // The builder's type changes with the number of handlers (and so does
    // the producer's), hence one arm per shape.
    let builder = placed(build_single_producer(cap().next_power_of_two(), || P::make(0), BusySpin), 0)
        .handle_events_with(handler(counts[0].clone()));
    let elapsed = if n == 1 {
        drive(builder.build(), items)
    } else {
        let mut b = placed(builder, 1).handle_events_with(handler(counts[1].clone()));
        for (i, c) in counts.iter().enumerate().skip(2) {
            b = placed(b, i).handle_events_with(handler(c.clone()));
        }
        drive(b.build(), items)
    };
    (elapsed, counts.iter().map(|c| c.load(Ordering::Relaxed)).sum(), Placed::Unknown)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    Park,
    Spin,
    Spsc,
    Tokio,
    Bus,
    Disruptor,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Park => "ringflow broadcast, Park",
            Impl::Spin => "ringflow broadcast, BusySpin",
            Impl::Spsc => "ringflow N SPSC rings, Park",
            Impl::Tokio => "tokio::sync::broadcast (lossy)",
            Impl::Bus => "bus",
            Impl::Disruptor => "disruptor-rs, BusySpin",
        }
    }

    fn run<P: Payload>(self, items: u64, n: usize) -> Run {
        match self {
            Impl::Park => ringflow::<P>(WaitStrategy::Park, items, n),
            Impl::Spin => ringflow::<P>(WaitStrategy::BusySpin, items, n),
            Impl::Spsc => spsc_rings::<P>(items, n),
            Impl::Tokio => tokio_broadcast::<P>(items, n),
            Impl::Bus => bus::<P>(items, n),
            Impl::Disruptor => disruptor::<P>(items, n),
        }
    }

    /// The ringflow row each implementation is compared with.
    fn reference(self) -> Impl {
        match self {
            Impl::Disruptor => Impl::Spin,
            _ => Impl::Park,
        }
    }
}

/// Items per run for `imp` with `n` receivers: `items`, or a tenth of it
/// for the rows that run at a few M items/s or less (see the module docs).
fn items_for(imp: Impl, n: usize, items: u64) -> u64 {
    let slow = imp == Impl::Tokio || (n >= 2 && matches!(imp, Impl::Spin | Impl::Disruptor));
    if slow {
        (items / 10).max(1)
    } else {
        items
    }
}

fn scenario<P: Payload>(n: usize, rounds: usize, items: u64, spin: bool, only: Option<&str>) {
    let mut impls = vec![Impl::Park, Impl::Spsc, Impl::Tokio, Impl::Bus];
    if n <= 2 && spin {
        impls.push(Impl::Spin);
        impls.push(Impl::Disruptor);
    }
    if let Some(only) = only {
        // Each row's reference stays, so that its ratio can be taken.
        impls.retain(|i| i.name().contains(only) || matches!(i, Impl::Park | Impl::Spin));
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
    let mut places: Vec<Vec<Placed>> = vec![Vec::new(); impls.len()];
    // A placement probe before every round and after the last classes each
    // round as close together, far apart or mixed (as `targets` does).
    let mut probes = support::RoundProbes::new(support::cores(), rounds);
    for round in 0..rounds {
        probes.before_round();
        let mut order: Vec<usize> = (0..impls.len()).collect();
        order.rotate_left(round % impls.len());
        for &k in &order {
            let sent = items_for(impls[k], n, items);
            let (t, delivered, placed) = impls[k].run::<P>(sent, n);
            places[k].push(placed);
            if impls[k] != Impl::Tokio {
                assert_eq!(delivered, sent * n as u64, "{} lost items", impls[k].name());
            }
            rates[k].push(delivered as f64 / t.as_secs_f64() / 1e6);
        }
    }
    let (wheres, classes, _) = probes.finish();
    println!("\n1 sender x {n} receiver(s), {} payload, {rounds} rounds:", P::NAME);
    println!("| implementation | items per run | M items delivered/s (median, min–max) | ringflow / this (median, min–max) |");
    println!("|---|---|---|---|");
    for (k, imp) in impls.iter().enumerate() {
        let r = support::Spread::of(&rates[k]);
        let reference = impls.iter().position(|&i| i == imp.reference()).unwrap();
        let ratio = if reference == k {
            "–".to_string()
        } else {
            let q: Vec<f64> = rates[reference].iter().zip(&rates[k]).map(|(a, b)| a / b).collect();
            let q = support::Spread::of(&q);
            format!("{:.2}x ({:.2}–{:.2}) vs {}", q.median, q.min, q.max, impls[reference].name())
        };
        println!(
            "| {} | {} | {:.2} ({:.2}–{:.2}) | {ratio} |",
            imp.name(),
            items_for(*imp, n, items),
            r.median,
            r.min,
            r.max
        );
    }
    println!("{classes}");
    print_placements(&impls, &rates, &places, &wheres);
}

/// Each row against its ringflow reference, by where the threads ran: the
/// rounds in which both runs had the sender alone on its vCPU, and those
/// in which both had it sharing one with a receiver (per-round ratios,
/// median and min–max, and how many rounds; then the medians over those of
/// them whose probes read close together and far apart, see `wheres`).
/// With three or more threads on two vCPUs these two placements move the
/// fan-out rows apart: the scheduler picks one per run, and a run's verdict
/// follows it.
fn print_placements(impls: &[Impl], rates: &[Vec<f64>], places: &[Vec<Placed>], wheres: &[support::Where]) {
    let class = |p: Placed| match p {
        Placed::SenderAlone => "sender alone",
        Placed::SenderShared => "sender sharing a vCPU",
        Placed::Unknown => "",
    };
    let mut lines = Vec::new();
    for (k, imp) in impls.iter().enumerate() {
        let reference = impls.iter().position(|&i| i == imp.reference()).unwrap();
        if reference == k {
            continue;
        }
        let mut cells = Vec::new();
        for want in [Placed::SenderAlone, Placed::SenderShared] {
            let same: Vec<usize> =
                (0..rates[k].len()).filter(|&r| places[k][r] == want && places[reference][r] == want).collect();
            let q: Vec<f64> = same.iter().map(|&r| rates[reference][r] / rates[k][r]).collect();
            if !q.is_empty() {
                let w: Vec<support::Where> = same.iter().map(|&r| wheres[r]).collect();
                let (close, far) = (support::Where::Close.median_of(&q, &w), support::Where::Far.median_of(&q, &w));
                let s = support::Spread::of(&q);
                cells.push(format!(
                    "{}: {:.2}x ({:.2}–{:.2}, {} rounds; close together {close}, far apart {far})",
                    class(want),
                    s.median,
                    s.min,
                    s.max,
                    q.len()
                ));
            }
        }
        if !cells.is_empty() {
            lines.push(format!("  {} / {}: {}", impls[reference].name(), imp.name(), cells.join("; ")));
        }
    }
    if !lines.is_empty() {
        println!("ratios over the rounds whose two runs had the same placement (each thread's most frequent vCPU):");
        for l in lines {
            println!("{l}");
        }
    }
}

fn main() {
    support::check_args(
        "cargo bench --bench broadcast [-- --quick] [--rounds N] [--items N] [--receivers 1|2|4] [--no-spin] \
         [--pin S,R,...] [--only NAME] [--work NS] [--capacity N]",
        &["--quick", "--no-spin"],
        &["--rounds", "--items", "--receivers", "--pin", "--only", "--work", "--capacity"],
        false,
    );
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| support::arg_value(&args, flag);
    let rounds = value("--rounds").unwrap_or(7).max(1) as usize;
    let items = value("--items").unwrap_or(if quick { 20_000 } else { 2_000_000 });
    if let Some(list) = args.iter().position(|a| a == "--pin").and_then(|i| args.get(i + 1)) {
        let cores: Vec<_> =
            list.split(',').map(|c| core_affinity::CoreId { id: c.trim().parse().expect("--pin S,R,...") }).collect();
        assert!(cores.len() >= 2, "--pin needs the sender's core and at least one receiver's");
        PIN.set(cores).unwrap();
    }
    let _ = cap(); // a bad `--capacity` fails here, before anything runs
    let work_ns = value("--work").filter(|&ns| ns > 0);
    if let Some(ns) = work_ns {
        WORK.set(support::busy_units_for(ns as f64)).unwrap();
    }
    let cpu = support::cpu_model();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let pinning = PIN.get().map_or("threads not pinned".to_string(), |c| {
        format!(
            "pinned: sender on core {}, receivers on {:?}",
            c[0].id,
            c[1..].iter().map(|c| c.id).collect::<Vec<_>>()
        )
    });
    let regime = work_ns.map_or("free-running (no work per item)".to_string(), |ns| {
        format!(
            "sender work ~{ns} ns before each send ({} units; meant for the near-empty regime)",
            WORK.get().unwrap()
        )
    });
    let capacity = match cap() {
        c if c.is_power_of_two() => c.to_string(),
        c => format!("{c} (disruptor-rs {})", c.next_power_of_two()),
    };
    println!("broadcast fan-out throughput: {cpu}, {cores} cores available, capacity {capacity}, {pinning}, {regime}");
    // The VM's two vCPUs are sometimes close together, sometimes far apart,
    // and the fan-out rows (oversubscribed from 1 x 2 on) move with it.
    let placement = support::Placement::probe(support::cores());
    let receivers = value("--receivers").map(|n| n as usize);
    let spin = !args.iter().any(|a| a == "--no-spin");
    let only_impl = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).map(String::as_str);
    for n in [1, 2, 4] {
        if receivers.is_some_and(|r| r != n) {
            continue;
        }
        scenario::<u64>(n, rounds, items, spin, only_impl);
        scenario::<P64>(n, rounds, items, spin, only_impl);
    }
    println!("\n{}", placement.report());
}
