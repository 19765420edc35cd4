//! Burst buffering: a bursty producer, a steady consumer, and a bounded queue
//! between them that absorbs the bursts (peak shaving). The same load runs
//! under the three answers to "the queue is full":
//!
//! - **block**: `send` on an SPSC ring waits for room (backpressure: the
//!   producer falls behind its schedule, so latency grows, nothing is lost);
//! - **shed**: `try_send` on an SPSC ring hands the item back and the
//!   producer drops it (load shedding: latency stays bounded);
//! - **overwrite**: `force_send` on an MPMC ring evicts the oldest queued
//!   item and hands it back (freshness over completeness).
//!
//! For each it prints the queue depth over time as a sparkline, latency
//! percentiles measured from the time each item was *meant* to be sent (so a
//! blocked producer's delay counts), and exact accounting, asserted:
//! produced = delivered + shed + evicted.
//!
//! `cargo run --release --example burst_buffer [-- --quick]`

use std::thread;
use std::time::{Duration, Instant};

use ringflow::{mpmc, spsc, Builder, TrySendError};

const CAPACITY: usize = 64;
const SPACING: Duration = Duration::from_micros(4); // within a burst: 250k items/s
const PERIOD: Duration = Duration::from_millis(10); // one burst every 10 ms
const SERVICE: Duration = Duration::from_micros(20); // the consumer: 50k items/s
const COLUMN: Duration = Duration::from_millis(1); // sparkline resolution
const COLUMNS: usize = 80; // the first 80 ms: eight bursts

#[derive(Clone, Copy, Debug, PartialEq)]
enum Policy {
    Block,
    Shed,
    Overwrite,
}

struct Item {
    id: u64,
    intended: Instant,
}

// The SPSC handles are boxed: each is padded to whole cache-line pairs (its
// fields are written on every operation), so it is much larger than an MPMC
// handle, which is a pointer and a few flags.
enum Tx {
    Spsc(Box<spsc::Producer<Item>>),
    Mpmc(mpmc::Sender<Item>),
}

enum Rx {
    Spsc(Box<spsc::Consumer<Item>>),
    Mpmc(mpmc::Receiver<Item>),
}

impl Rx {
    fn recv(&mut self) -> Option<Item> {
        match self {
            Rx::Spsc(rx) => rx.recv().ok(),
            Rx::Mpmc(rx) => rx.recv().ok(),
        }
    }
    fn len(&self) -> usize {
        match self {
            Rx::Spsc(rx) => rx.len(),
            Rx::Mpmc(rx) => rx.len(),
        }
    }
}

/// Sleeps, then spins, until `at`: `sleep` alone is too coarse for 4 µs.
fn wait_until(at: Instant) {
    let now = Instant::now();
    if at > now + Duration::from_micros(300) {
        thread::sleep(at - now - Duration::from_micros(200));
    }
    while Instant::now() < at {
        std::hint::spin_loop();
    }
}

/// Burst sizes: deterministic pseudo-random, 20..=260 items (xorshift).
fn burst_sizes(n: usize) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            20 + x % 241
        })
        .collect()
}

struct Report {
    produced: u64,
    delivered: u64,
    shed: u64,
    evicted: u64,
    latencies_us: Vec<u64>,
    depth: Vec<usize>, // max depth seen per column (receive time)
    waits: u64,
}

fn run(policy: Policy, bursts: usize) -> Report {
    let builder = Builder::new(CAPACITY);
    let (tx, mut rx) = match policy {
        Policy::Block | Policy::Shed => {
            let (tx, rx) = builder.spsc();
            (Tx::Spsc(Box::new(tx)), Rx::Spsc(Box::new(rx)))
        }
        Policy::Overwrite => {
            let (tx, rx) = builder.mpmc();
            (Tx::Mpmc(tx), Rx::Mpmc(rx))
        }
    };
    let sizes = burst_sizes(bursts);
    let start = Instant::now() + Duration::from_millis(5);
    let producer = thread::spawn(move || {
        let (mut tx, mut produced, mut shed, mut evicted) = (tx, 0u64, 0u64, 0u64);
        for (b, &size) in sizes.iter().enumerate() {
            for k in 0..size as u32 {
                let intended = start + PERIOD * b as u32 + SPACING * k;
                wait_until(intended);
                let item = Item { id: produced, intended };
                produced += 1;
                match &mut tx {
                    Tx::Spsc(tx) if policy == Policy::Block => tx.send(item).unwrap(),
                    Tx::Spsc(tx) => match tx.try_send(item) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_dropped)) => shed += 1,
                        Err(TrySendError::Disconnected(_)) => unreachable!(),
                    },
                    Tx::Mpmc(tx) => evicted += tx.force_send(item).unwrap().is_some() as u64,
                }
            }
        }
        (produced, shed, evicted)
    });
    let (mut delivered, mut last_id, mut latencies_us, mut depth) = (0u64, None, vec![], vec![0; COLUMNS]);
    while let Some(item) = rx.recv() {
        let now = Instant::now();
        latencies_us.push((now - item.intended).as_micros() as u64);
        assert!(last_id < Some(item.id), "FIFO: every policy delivers in order");
        last_id = Some(item.id);
        delivered += 1;
        let col = (now.saturating_duration_since(start).as_nanos() / COLUMN.as_nanos()) as usize;
        if let Some(d) = depth.get_mut(col) {
            *d = (*d).max(rx.len() + 1); // the backlog this item was part of
        }
        wait_until(now + SERVICE); // steady work per item
    }
    let waits = match &rx {
        Rx::Spsc(rx) => rx.stats().send_waits,
        Rx::Mpmc(rx) => rx.stats().send_waits,
    };
    let (produced, shed, evicted) = producer.join().unwrap();
    latencies_us.sort_unstable();
    Report { produced, delivered, shed, evicted, latencies_us, depth, waits }
}

fn sparkline(depth: &[usize]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    depth.iter().map(|&d| BARS[(d * (BARS.len() - 1) + CAPACITY / 2) / CAPACITY]).collect()
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let bursts = if quick { 40 } else { 300 };
    let avg = burst_sizes(bursts).iter().sum::<u64>() as f64 / bursts as f64;
    println!(
        "{bursts} bursts of 20..260 items (avg {avg:.0}), one every {PERIOD:?}, {SPACING:?} apart; consumer {SERVICE:?}/item; capacity {CAPACITY}"
    );
    println!(
        "offered load: {:.0} items/s average, {:.0} in a burst; the consumer serves {:.0}/s\n",
        avg / PERIOD.as_secs_f64(),
        1.0 / SPACING.as_secs_f64(),
        1.0 / SERVICE.as_secs_f64()
    );
    println!("policy     produced delivered   shed evicted  send_waits   p50 µs   p99 µs   max µs");
    let mut lines = vec![];
    for policy in [Policy::Block, Policy::Shed, Policy::Overwrite] {
        let r = run(policy, bursts);
        assert_eq!(r.produced, r.delivered + r.shed + r.evicted, "{policy:?}: an item went missing");
        match policy {
            Policy::Block => assert_eq!((r.shed, r.evicted), (0, 0)),
            Policy::Shed => assert_eq!(r.evicted, 0),
            Policy::Overwrite => assert_eq!(r.shed, 0),
        }
        let l = &r.latencies_us;
        println!(
            "{:<10} {:>8} {:>9} {:>6} {:>7} {:>11} {:>8} {:>8} {:>8}",
            format!("{policy:?}").to_lowercase(),
            r.produced,
            r.delivered,
            r.shed,
            r.evicted,
            r.waits,
            pct(l, 0.5),
            pct(l, 0.99),
            l.last().copied().unwrap_or(0)
        );
        lines.push(format!("{:<10} {}", format!("{policy:?}").to_lowercase(), sparkline(&r.depth)));
    }
    println!(
        "\nqueue depth over the first {COLUMNS} ms ({COLUMN:?} per column, max; ▁ = empty, █ = {CAPACITY} = full):"
    );
    for line in lines {
        println!("{line}");
    }
    println!("\naccounting checked for each policy: produced = delivered + shed + evicted");
}
