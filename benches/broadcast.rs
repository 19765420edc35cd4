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
//! measure the fill); without it the rows run free-running).

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ringflow::{Builder, WaitStrategy};

const CAP: usize = 1024;

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

/// One run: (wall time, items delivered over all receivers).
type Run = (Duration, u64);

/// Spawns `receivers` threads running `body(i)` after a start barrier, runs
/// `send` on this thread, then joins them; times from the barrier to the
/// last join.
/// Receives until `next` says the channel is done; returns how many.
fn drain<P: Payload>(mut next: impl FnMut() -> Option<P>) -> u64 {
    let mut got = 0;
    while let Some(v) = next() {
        black_box(v.key());
        got += 1;
    }
    got
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

/// `--pin S,R...`: the sender's core, then the receivers' (receiver `i`
/// takes entry `i` of the receivers' list, cycling). Unset: not pinned.
static PIN: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();

fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(core) = core {
        assert!(core_affinity::set_for_current(core), "could not pin to core {}", core.id);
    }
}

fn fan<R: Send + 'static>(receivers: Vec<R>, body: fn(R) -> u64, send: impl FnOnce()) -> Run {
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
    send();
    let delivered = handles.into_iter().map(|h| h.join().unwrap()).sum();
    (start.elapsed(), delivered)
}

fn ringflow<P: Payload>(strategy: WaitStrategy, items: u64, n: usize) -> Run {
    let (mut tx, rx) = Builder::new(CAP).wait_strategy(strategy).broadcast::<P>();
    let rxs: Vec<_> = (0..n).map(|_| rx.clone()).collect();
    drop(rx);
    fan(
        rxs,
        |mut rx| drain(|| rx.recv().ok()),
        move || {
            for i in 0..items {
                work();
                tx.send(P::make(i)).unwrap();
            }
        },
    )
}

fn spsc_rings<P: Payload>(items: u64, n: usize) -> Run {
    let (mut txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| ringflow::spsc::channel::<P>(CAP)).unzip();
    fan(
        rxs,
        |mut rx| drain(|| rx.recv().ok()),
        move || {
            for i in 0..items {
                work();
                let v = P::make(i);
                for tx in &mut txs {
                    tx.send(v.clone()).unwrap();
                }
            }
        },
    )
}

fn tokio_broadcast<P: Payload>(items: u64, n: usize) -> Run {
    let (tx, rx) = tokio::sync::broadcast::channel::<P>(CAP);
    let rxs: Vec<_> = (0..n).map(|_| rx.resubscribe()).collect();
    drop(rx);
    fan(
        rxs,
        |mut rx| {
            use tokio::sync::broadcast::error::RecvError;
            let mut got = 0;
            loop {
                match rx.blocking_recv() {
                    Ok(v) => {
                        black_box(v.key());
                        got += 1;
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return got,
                }
            }
        },
        move || {
            for i in 0..items {
                work();
                let _ = tx.send(P::make(i));
            }
        },
    )
}

fn bus<P: Payload>(items: u64, n: usize) -> Run {
    let mut bus = bus::Bus::<P>::new(CAP);
    let rxs: Vec<_> = (0..n).map(|_| bus.add_rx()).collect();
    fan(
        rxs,
        |mut rx| {
            let mut got = 0;
            for v in rx.iter() {
                black_box(v.key());
                got += 1;
            }
            got
        },
        move || {
            for i in 0..items {
                work();
                bus.broadcast(P::make(i));
            }
        },
    )
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
    let builder =
        placed(build_single_producer(CAP, || P::make(0), BusySpin), 0).handle_events_with(handler(counts[0].clone()));
    let elapsed = if n == 1 {
        drive(builder.build(), items)
    } else {
        let mut b = placed(builder, 1).handle_events_with(handler(counts[1].clone()));
        for (i, c) in counts.iter().enumerate().skip(2) {
            b = placed(b, i).handle_events_with(handler(c.clone()));
        }
        drive(b.build(), items)
    };
    (elapsed, counts.iter().map(|c| c.load(Ordering::Relaxed)).sum())
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
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..impls.len()).collect();
        order.rotate_left(round % impls.len());
        for &k in &order {
            let sent = items_for(impls[k], n, items);
            let (t, delivered) = impls[k].run::<P>(sent, n);
            if impls[k] != Impl::Tokio {
                assert_eq!(delivered, sent * n as u64, "{} lost items", impls[k].name());
            }
            rates[k].push(delivered as f64 / t.as_secs_f64() / 1e6);
        }
    }
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
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("cargo bench --bench broadcast [-- --quick] [--rounds N] [--items N] [--receivers 1|2|4] [--no-spin] [--pin S,R,...] [--only NAME] [--work NS]");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    let rounds = value("--rounds").unwrap_or(7).max(1) as usize;
    let items = value("--items").unwrap_or(if quick { 20_000 } else { 2_000_000 });
    if let Some(list) = args.iter().position(|a| a == "--pin").and_then(|i| args.get(i + 1)) {
        let cores: Vec<_> =
            list.split(',').map(|c| core_affinity::CoreId { id: c.trim().parse().expect("--pin S,R,...") }).collect();
        assert!(cores.len() >= 2, "--pin needs the sender's core and at least one receiver's");
        PIN.set(cores).unwrap();
    }
    let work_ns = value("--work").filter(|&ns| ns > 0);
    if let Some(ns) = work_ns {
        WORK.set(support::busy_units_for(ns as f64)).unwrap();
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
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
    println!("broadcast fan-out throughput: {cpu}, {cores} cores available, capacity {CAP}, {pinning}, {regime}");
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
