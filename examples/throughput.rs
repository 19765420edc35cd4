//! Interleaved throughput rounds: every configuration runs once per round,
//! the two threads pinned to two cores, and each ratio is taken within a
//! round before the median across rounds (this VM's vCPUs move, so absolute
//! numbers drift between rounds far more than configurations differ within
//! one).
//!
//! Rows: the SPSC ring with each wait strategy against rtrb (try + spin),
//! and — the cost of the congestion signal — SPSC and MPMC 1P1C with and
//! without watermarks (low 256, high 768 of 1024) while nobody reacts to the
//! signal, with how many times the signal flipped per run.
//!
//! `cargo run --release --example throughput [-- --quick]`

use std::time::Instant;

use ringflow::{Builder, Stats, WaitStrategy};

const CAP: usize = 1024;
const MARKS: (usize, usize) = (256, 768);

/// Pins the calling thread to the `i`-th of the cores read at start-up
/// (if there are any; otherwise runs unpinned).
fn pin(cores: &[core_affinity::CoreId], i: usize) {
    if let Some(&id) = cores.get(i % cores.len().max(1)) {
        core_affinity::set_for_current(id);
    }
}

/// Runs `produce` on a second thread (pinned to core 1) and `consume` here
/// (core 0); returns M items/s and whatever `consume` returns.
fn transfer<S: FnOnce() + Send + 'static, R>(
    cores: &[core_affinity::CoreId],
    items: u64,
    produce: S,
    consume: impl FnOnce() -> R,
) -> (f64, R) {
    let (a, b) = (cores.to_vec(), cores.to_vec());
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        pin(&b, 1);
        produce();
    });
    pin(&a, 0);
    let out = consume();
    producer.join().expect("producer panicked");
    (items as f64 / start.elapsed().as_secs_f64() / 1e6, out)
}

fn builder(strategy: WaitStrategy, marks: bool) -> Builder {
    let b = Builder::new(CAP).wait_strategy(strategy);
    if marks {
        b.watermarks(MARKS.0, MARKS.1)
    } else {
        b
    }
}

fn expected_sum(items: u64) -> u64 {
    items * (items - 1) / 2
}

fn spsc_run(cores: &[core_affinity::CoreId], strategy: WaitStrategy, marks: bool, items: u64) -> (f64, Stats) {
    let (mut tx, mut rx) = builder(strategy, marks).spsc::<u64>();
    let (rate, (sum, stats)) = transfer(
        cores,
        items,
        move || {
            for i in 0..items {
                tx.send(i).expect("consumer gone");
            }
        },
        || {
            let sum = (0..items).fold(0u64, |s, _| s.wrapping_add(rx.recv().expect("producer gone")));
            (sum, rx.stats())
        },
    );
    assert_eq!(sum, expected_sum(items));
    (rate, stats)
}

fn mpmc_run(cores: &[core_affinity::CoreId], strategy: WaitStrategy, marks: bool, items: u64) -> (f64, Stats) {
    let (tx, rx) = builder(strategy, marks).mpmc::<u64>();
    let (rate, (sum, stats)) = transfer(
        cores,
        items,
        move || {
            for i in 0..items {
                tx.send(i).expect("receivers gone");
            }
        },
        || {
            let sum = (0..items).fold(0u64, |s, _| s.wrapping_add(rx.recv().expect("senders gone")));
            (sum, rx.stats())
        },
    );
    assert_eq!(sum, expected_sum(items));
    (rate, stats)
}

fn rtrb_run(cores: &[core_affinity::CoreId], items: u64) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP);
    let (rate, sum) = transfer(
        cores,
        items,
        move || {
            for i in 0..items {
                let mut v = i;
                while let Err(rtrb::PushError::Full(back)) = tx.push(v) {
                    v = back;
                    std::hint::spin_loop();
                }
            }
        },
        || {
            let (mut sum, mut got) = (0u64, 0);
            while got < items {
                match rx.pop() {
                    Ok(v) => {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
            sum
        },
    );
    assert_eq!(sum, expected_sum(items));
    rate
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> (f64, f64) {
    (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max))
}

#[derive(Clone, Copy)]
enum Row {
    Spsc(WaitStrategy, bool),
    Mpmc(WaitStrategy, bool),
    Rtrb,
}

impl Row {
    fn name(self) -> String {
        let wm = |m: bool| if m { format!(" + watermarks {}/{}", MARKS.0, MARKS.1) } else { String::new() };
        match self {
            Row::Spsc(s, m) => format!("SPSC ringflow {s:?}{}", wm(m)),
            Row::Mpmc(s, m) => format!("MPMC 1P1C ringflow {s:?}{}", wm(m)),
            Row::Rtrb => "SPSC rtrb (try + spin)".to_string(),
        }
    }

    fn run(self, cores: &[core_affinity::CoreId], items: u64) -> (f64, u64) {
        match self {
            Row::Spsc(s, m) => {
                let (r, st) = spsc_run(cores, s, m, items);
                (r, st.congestion_transitions)
            }
            Row::Mpmc(s, m) => {
                let (r, st) = mpmc_run(cores, s, m, items);
                (r, st.congestion_transitions)
            }
            Row::Rtrb => (rtrb_run(cores, items), 0),
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (items, rounds) = if quick { (1_000_000, 3) } else { (10_000_000, 7) };
    // Read the core ids once, before anything is pinned (a pinned thread's
    // children inherit its mask).
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    use WaitStrategy::{BusySpin, Park, SpinYield};
    let rows = [
        Row::Spsc(BusySpin, false),
        Row::Spsc(SpinYield, false),
        Row::Spsc(Park, false),
        Row::Rtrb,
        Row::Spsc(BusySpin, true),
        Row::Spsc(Park, true),
        Row::Mpmc(BusySpin, false),
        Row::Mpmc(Park, false),
        Row::Mpmc(BusySpin, true),
        Row::Mpmc(Park, true),
    ];
    let mut rates = vec![Vec::new(); rows.len()];
    let mut flips = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        for (i, row) in rows.iter().enumerate() {
            let (r, t) = row.run(&cores, items);
            rates[i].push(r);
            flips[i].push(t as f64);
        }
    }
    let pinned = if cores.len() >= 2 { "threads pinned to the first two cores" } else { "unpinned" };
    println!("{items} u64 per run, capacity {CAP}, {rounds} interleaved rounds, {pinned}; M items/s:");
    println!("  {:<48} {:>8} {:>17} {:>12}", "configuration", "median", "min - max", "flips/run");
    for (i, row) in rows.iter().enumerate() {
        let (lo, hi) = spread(&rates[i]);
        let flips = if matches!(row, Row::Spsc(_, true) | Row::Mpmc(_, true)) {
            format!("{:.0}", median(&flips[i]))
        } else {
            "-".to_string()
        };
        println!("  {:<48} {:>8.1} {:>8.1} - {:<6.1} {:>12}", row.name(), median(&rates[i]), lo, hi, flips);
    }
    println!("per-round ratios, median (min - max):");
    let ratio = |label: &str, a: usize, b: usize| {
        let r: Vec<f64> = rates[a].iter().zip(&rates[b]).map(|(x, y)| x / y).collect();
        let (lo, hi) = spread(&r);
        println!("  {label:<48} {:>6.2}x ({lo:.2} - {hi:.2})", median(&r));
    };
    ratio("SPSC BusySpin / rtrb", 0, 3);
    ratio("SPSC Park / SPSC BusySpin", 2, 0);
    ratio("SPSC BusySpin, with / without watermarks", 4, 0);
    ratio("SPSC Park, with / without watermarks", 5, 2);
    ratio("MPMC BusySpin, with / without watermarks", 8, 6);
    ratio("MPMC Park, with / without watermarks", 9, 7);
}
