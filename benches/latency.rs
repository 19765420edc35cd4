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
//!   computed within a round. Where the clock steps coarsely (the banner's
//!   `clock step`: 10 ns on the AMD Zen 4 VM of 2026-12-08, whose time stamp
//!   counter advances in steps of 26 cycles), every percentile is read
//!   between ticks, each sample spread over one step (`quantile_within_step`),
//!   so that a ratio to a floor of ~120 ns is not confined to 1.00, 1.08, 1.17.
//! * **Paced one-way under bursts**: a producer sends at a fixed rate plus a
//!   burst every few milliseconds (the peak-shaving case). Each item carries
//!   the `Instant` at which it was *meant* to be sent; the consumer records
//!   `now - intended`. A producer stalled by a full queue or a descheduled
//!   thread therefore shows up as latency instead of silently stretching the
//!   schedule (no coordinated omission). The table also shows how late the
//!   producer itself was when it got to each send (`late` columns): when that
//!   is close to the latency, the time was lost before the queue (a
//!   descheduled producer, or backpressure from a full queue). It runs at
//!   three paces — one item every 10 µs with the bursts (a busy stage), and
//!   one every 100 µs and every 1 ms without them (a quiet one) — and
//!   reports each side's **CPU time per second of wall time**
//!   (`CLOCK_THREAD_CPUTIME_ID` over the run): latency without its CPU cost
//!   is not evidence (a spin-forever wait shows 100 % at every pace). The
//!   producer's column includes its own pacing (it spins when the next send
//!   is under 200 µs away, sleeps otherwise), the same for every
//!   implementation. After the tables, the `Park` targets of the adaptive
//!   wait are checked as per-round ratios (median, min–max).
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
//! | `--period-us N`, `--burst N`, `--burst-every-ms N` | paced schedule: one item every N µs (default: 10, 100 and 1000, one scenario each) plus, at the fastest pace only, a burst of N items (default 256) every N ms (default 10) |
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
//! `latency-paced-10us.svg`, ...: latency by percentile, median across rounds).
//!
//! The queue adapters, the floor, the stop flag and spin helpers, pinned
//! threads with their watchdog, the rounds and the output files live in
//! `support/` (shared with `targets.rs` and `throughput.rs`); this file holds
//! the two scenarios, the summaries particular to latency (percentile
//! curves, the producer's own lateness), the tables and the command line.

mod support;

use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringflow::WaitStrategy;
use support::*;

// ---------------------------------------------------------------------------
// The implementations a run can measure.
// ---------------------------------------------------------------------------

/// One item of the paced scenario: a sequence number and the instant it
/// was meant to be sent at.
type Stamp = (u64, Instant);

/// A round-trip run: (configuration, samples, warm-up samples).
type RoundTripRun = Box<dyn Fn(&Config, usize, usize) -> Measured>;
/// A paced run with the given schedule.
type PacedRun = Box<dyn Fn(&Config, &PacedConfig) -> Measured>;

/// One implementation: its row name, and how it runs each scenario (the
/// adapters are in `support/adapters.rs`).
struct Impl {
    name: String,
    /// The floor: the round trip's reference, drawn dashed.
    floor: bool,
    round_trip: RoundTripRun,
    /// `None` for the floor: a one-word mailbox cannot hold a burst.
    paced: Option<PacedRun>,
}

fn queue<Q: Spsc<u64> + Spsc<Stamp>>(name: &str, q: Q) -> Impl {
    Impl {
        name: name.to_string(),
        floor: false,
        round_trip: Box::new(move |cfg, samples, warmup| round_trip(q, cfg, samples, warmup)),
        paced: Some(Box::new(move |cfg, paced| paced_run(q, cfg, paced))),
    }
}

/// Every implementation, in table order (which also fixes each one's
/// colour in the plots).
fn implementations() -> Vec<Impl> {
    use WaitStrategy::{BusySpin, Park, SpinYield};
    let mut all = vec![Impl {
        name: "floor (2 padded atomics, spin)".into(),
        floor: true,
        round_trip: Box::new(|cfg, samples, warmup| round_trip(Floor, cfg, samples, warmup)),
        paced: None,
    }];
    for s in [BusySpin, SpinYield, Park] {
        all.push(queue(&format!("ringflow spsc {s:?}"), RingflowBlocking(s, None)));
    }
    // The stamped layout (`Builder::spsc_stamped`): one line per hand-over.
    for s in [BusySpin, Park] {
        all.push(queue(&format!("ringflow spsc stamped {s:?}"), RingflowStampedBlocking(s)));
    }
    // The MPMC ring with one sender and one receiver.
    for s in [BusySpin, SpinYield, Park] {
        all.push(queue(&format!("ringflow mpmc {s:?}"), RingflowMpmc(s, None)));
    }
    all.push(queue("rtrb (try + spin)", Rtrb));
    all.push(queue("crossbeam ArrayQueue (try + spin)", ArrayQueueSpin));
    all.push(queue("crossbeam-channel bounded", CrossbeamChannel));
    all.push(queue("std sync_channel", StdSync));
    all.push(queue("flume bounded", Flume));
    all.push(queue("kanal bounded", Kanal));
    all
}

// ---------------------------------------------------------------------------
// Results of one run.
// ---------------------------------------------------------------------------

/// Quantiles in the tables (then `max`).
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];
/// Column names: the quantiles plus max.
const COLUMNS: [&str; 6] = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];
/// The plot's x axis is log10(1 / (1 - p)); 20 points per decade up to 99.999 %.
const CURVE_STEPS: usize = 100;
const CURVE_X_MAX: f64 = PLOT_X_MAX;

/// What one run measured, before it is placed in its round.
struct Measured {
    outcome: Outcome,
    /// Samples recorded (warm-up excluded).
    count: u64,
    /// Samples the run was asked for.
    wanted: u64,
    /// p50, p90, p99, p99.9, p99.99, max (ns).
    values: Vec<f64>,
    detail: Detail,
}

/// What only the latency bench keeps of a run.
#[derive(Default)]
struct Detail {
    /// Value (ns) at x = i * CURVE_X_MAX / CURVE_STEPS, for the x the sample
    /// count resolves (10^x <= count).
    curve: Vec<u64>,
    /// Paced scenario only: how late the producer itself was at each send
    /// (p50, p99, max, ns): a stalled producer thread, or backpressure from
    /// a full queue making the next item late.
    producer_late: Option<[u64; 3]>,
    /// Paced scenario only: CPU time per second of wall time of the
    /// consumer and of the producer (1.0 = a whole core).
    cpu: Option<[f64; 2]>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits; larger values saturate.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

impl Measured {
    fn from_histogram(h: &Histogram<u64>, outcome: Outcome, wanted: u64) -> Self {
        let count = h.len();
        let mut values = vec![0.0; COLUMNS.len()];
        let mut curve = Vec::new();
        if count > 0 {
            let step = clock_step_ns();
            for (v, q) in values.iter_mut().zip(QUANTILES) {
                *v = quantile_within_step(h, q, step);
            }
            values[5] = h.max() as f64;
            for i in 0..=CURVE_STEPS {
                let x = i as f64 * CURVE_X_MAX / CURVE_STEPS as f64;
                if 10f64.powf(x) > count as f64 {
                    break;
                }
                curve.push(h.value_at_quantile(1.0 - 10f64.powf(-x)));
            }
        }
        Measured { outcome, count, wanted, values, detail: Detail { curve, producer_late: None, cpu: None } }
    }

    fn hung(wanted: u64) -> Self {
        Measured {
            outcome: Outcome::Hung,
            count: 0,
            wanted,
            values: vec![0.0; COLUMNS.len()],
            detail: Detail::default(),
        }
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
    cores: (core_affinity::CoreId, core_affinity::CoreId),
    capacity: usize,
    rt_samples: usize,
    rt_warmup: usize,
    rt_budget: Duration,
    paced: PacedConfig,
    run_rt: bool,
    run_paced: bool,
}

/// Bounces `warmup + samples` sequence numbers (1, 2, ...) through two
/// queues; the pinger times each round trip, both sides check every value.
fn round_trip<Q: Spsc<u64>>(q: Q, cfg: &Config, samples: usize, warmup: usize) -> Measured {
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
        spawn_pinned("ponger", cfg.cores.1, &stop, Some(&done_tx), move || {
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
        spawn_pinned("pinger", cfg.cores.0, &stop, Some(&done_tx), move || {
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
        None => Measured::hung(samples as u64),
        Some(((hist, outcome), echoed)) => {
            if outcome == Outcome::Complete {
                assert_eq!(hist.len(), samples as u64, "pinger recorded every sample");
                assert_eq!(echoed, total, "ponger echoed every value");
            }
            Measured::from_histogram(&hist, outcome, samples as u64)
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
    /// One item every `period` (set per scenario from `periods`)...
    period: Duration,
    /// The paces, one paced scenario each (the first with the bursts).
    periods: Vec<Duration>,
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

fn paced_run<Q: Spsc<Stamp>>(q: Q, cfg: &Config, paced: &PacedConfig) -> Measured {
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
        spawn_pinned("consumer", cfg.cores.1, &stop, Some(&done_tx), move || {
            let stop = stop2;
            let mut hist = new_histogram();
            barrier.wait();
            let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
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
            (hist, got, cpu_share(cpu0, wall0))
        })
    };
    let producer = {
        let stop2 = stop.clone();
        spawn_pinned("producer", cfg.cores.0, &stop, Some(&done_tx), move || {
            let stop = stop2;
            barrier.wait();
            let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
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
            (outcome, sent, late, cpu_share(cpu0, wall0))
        })
    };
    drop(done_tx);
    match supervise(producer, consumer, done_rx, &stop, budget + Duration::from_secs(10)) {
        None => Measured::hung(n - skip),
        Some(((outcome, sent, late, producer_cpu), (hist, got, consumer_cpu))) => {
            if outcome == Outcome::Complete {
                assert_eq!(sent, n, "producer sent every item");
                assert_eq!(got, n, "consumer received every item");
            }
            let mut r = Measured::from_histogram(&hist, outcome, n - skip);
            if !late.is_empty() {
                r.detail.producer_late = Some([late.value_at_quantile(0.5), late.value_at_quantile(0.99), late.max()]);
            }
            r.detail.cpu = Some([consumer_cpu, producer_cpu]);
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
    /// One item every this many µs.
    Paced(u64),
}

impl Scenario {
    fn metrics(self) -> Metrics {
        let scenario: &'static str = match self {
            Scenario::RoundTrip => "roundtrip",
            // A handful per run of the bench: leaking the names is fine.
            Scenario::Paced(us) => Box::leak(format!("paced-{us}us").into_boxed_str()),
        };
        Metrics { scenario, unit: "ns", columns: &COLUMNS, column_units: &[] }
    }
}

/// Every run of one implementation in one scenario, in round order.
struct Series {
    /// Index into `implementations()`.
    imp: usize,
    runs: Vec<Run>,
    details: Vec<Detail>,
}

/// The shared summary plus what only latency shows: the median percentile
/// curve for the plot and the producer's own lateness.
struct LatencySummary {
    summary: Summary,
    imp: usize,
    /// Median across rounds of the producer's own lateness (p50, p99, max).
    producer_late: Option<[f64; 3]>,
    /// Median across rounds of the consumer's and the producer's CPU share.
    cpu: Option<[f64; 2]>,
    /// (x, median ns across rounds), for the x every round resolves.
    curve: Vec<(f64, f64)>,
}

fn summarise(metrics: &Metrics, series: &Series, floor: Option<&Series>) -> LatencySummary {
    let reference = floor.filter(|f| f.imp != series.imp).map(|f| f.runs.as_slice());
    let summary = Summary::of(metrics, &series.runs, reference);
    let ok: Vec<&Detail> =
        series.runs.iter().zip(&series.details).filter(|(r, _)| r.count > 0).map(|(_, d)| d).collect();
    let longest = ok.iter().map(|d| d.curve.len()).min().unwrap_or(0);
    let curve = (0..longest)
        .map(|i| {
            let col: Vec<f64> = ok.iter().map(|d| d.curve[i] as f64).collect();
            (i as f64 * CURVE_X_MAX / CURVE_STEPS as f64, median(&col))
        })
        .collect();
    let lates: Vec<[u64; 3]> = ok.iter().filter_map(|d| d.producer_late).collect();
    let producer_late = (!lates.is_empty()).then(|| {
        let mut m = [0.0; 3];
        for (k, slot) in m.iter_mut().enumerate() {
            *slot = median(&lates.iter().map(|l| l[k] as f64).collect::<Vec<_>>());
        }
        m
    });
    let cpus: Vec<[f64; 2]> = ok.iter().filter_map(|d| d.cpu).collect();
    let cpu = (!cpus.is_empty()).then(|| [0, 1].map(|k| median(&cpus.iter().map(|c| c[k]).collect::<Vec<_>>())));
    LatencySummary { summary, imp: series.imp, producer_late, cpu, curve }
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

fn print_tables(title: &str, summaries: &[LatencySummary], with_ratio: bool) {
    println!();
    println!("{title}");
    let name = |s: &LatencySummary| s.summary.implementation.clone();
    let w = summaries.iter().map(|s| name(s).chars().count()).max().unwrap_or(10).max(14);
    print!("  {:<w$}", "implementation");
    for c in COLUMNS {
        print!(" {c:>9}");
    }
    println!(" {:>9}  notes", "samples");
    for s in summaries {
        let sum = &s.summary;
        print!("  {:<w$}", name(s));
        for &v in &sum.median.values {
            print!(" {:>9}", fmt_ns(v));
        }
        let mut notes = String::new();
        if !sum.all_complete() {
            notes = format!("{} (wanted {} samples)", sum.outcomes, sum.wanted);
        }
        println!(" {:>9}  {notes}", format!("{:.0}", sum.median_count));
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
        println!(
            "  spread across rounds (min–max); how late the producer itself was, and each side's CPU time per \
             wall second (medians across rounds):"
        );
        print!("  {:<w$}", "implementation");
    }
    print!("   {:>17} {:>17} {:>17}", "p50 range", "p99.9 range", "max range");
    if !with_ratio {
        print!("   {:>9} {:>9} {:>9}   {:>9} {:>9}", "late p50", "late p99", "late max", "cons CPU", "prod CPU");
    }
    println!();
    for s in summaries {
        let sum = &s.summary;
        print!("  {:<w$}", name(s));
        if with_ratio {
            for k in [0, 2, 3, 5] {
                print!(" {:>11}", sum.ratio_to_floor.as_ref().map_or("-".into(), |r| fmt_ratio(r.values[k])));
            }
        }
        let spread = |k: usize| format!("{}–{}", fmt_ns(sum.min.values[k]), fmt_ns(sum.max.values[k]));
        print!("   {:>17} {:>17} {:>17}", spread(0), spread(3), spread(5));
        if let Some(late) = s.producer_late {
            print!("   {:>9} {:>9} {:>9}", fmt_ns(late[0]), fmt_ns(late[1]), fmt_ns(late[2]));
        }
        if let Some(cpu) = s.cpu {
            print!("   {:>9} {:>9}", format!("{:.1}%", cpu[0] * 100.0), format!("{:.1}%", cpu[1] * 100.0));
        }
        println!();
    }
}

/// The targets of the adaptive `Park` wait (issue: the default `Park`
/// strategy), as per-round ratios of the paced scenario's rows: at 10 µs,
/// `ringflow spsc Park` p50 ≤ 2× `ringflow spsc BusySpin`'s and ≤ kanal's,
/// p99 ≤ kanal's; at 1 ms, its consumer CPU ≤ 5 % of a core. Prints the
/// ratios for every pace (with a verdict where a target applies) and skips
/// a row whose implementations were filtered out.
fn print_park_targets(us: u64, series: &[Series], all: &[Impl]) {
    let find = |name: &str| series.iter().find(|s| all[s.imp].name == name);
    let per_round = |a: &Series, b: &Series, k: usize| -> Vec<f64> {
        a.runs
            .iter()
            .filter_map(|ra| {
                let rb = b.runs.iter().find(|rb| rb.round == ra.round)?;
                (ra.count > 0 && rb.count > 0 && rb.values[k] > 0.0).then(|| ra.values[k] / rb.values[k])
            })
            .collect()
    };
    let Some(park) = find("ringflow spsc Park") else { return };
    println!("  adaptive Park at 1 item / {us} µs (per-round ratios, median (min–max)):");
    let line = |what: &str, v: Vec<f64>, target: Option<f64>| {
        if v.is_empty() {
            return;
        }
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let m = median(&v);
        let verdict = match target {
            Some(t) if m <= t => format!("target <= {t:.2}: met"),
            Some(t) => format!("target <= {t:.2}: MISSED"),
            None => String::new(),
        };
        println!("    {what:<44} {:>7} ({:.2}–{:.2})   {verdict}", fmt_ratio(m), lo, hi);
    };
    let fast = us <= 10;
    if let Some(busy) = find("ringflow spsc BusySpin") {
        line("spsc Park p50 / spsc BusySpin p50", per_round(park, busy, 0), fast.then_some(2.0));
    }
    if let Some(kanal) = find("kanal bounded") {
        line("spsc Park p50 / kanal p50", per_round(park, kanal, 0), fast.then_some(1.0));
        line("spsc Park p99 / kanal p99", per_round(park, kanal, 2), fast.then_some(1.0));
    }
    let cpus: Vec<f64> = park.details.iter().filter_map(|d| d.cpu.map(|c| c[0])).collect();
    if !cpus.is_empty() {
        let m = median(&cpus) * 100.0;
        let verdict = match us {
            1000.. if m <= 5.0 => "target <= 5%: met",
            1000.. => "target <= 5%: MISSED",
            _ => "",
        };
        println!("    {:<44} {:>6.1}%   {verdict}", "spsc Park consumer CPU (median)", m);
    }
}

/// The step of the clock behind `Instant` in ns, measured once: 1.0 on a
/// clock that resolves nanoseconds, about 10 on the Zen 4 VM whose time
/// stamp counter advances every 10 ns.
///
/// Times 100 000 intervals of the regime rows' random busy work (85–255
/// units, [`ItemWork`]) and hands their lengths to [`step_of`]: on a fine
/// clock the intervals take (nearly) every value of their range, on a
/// coarse one only those near a multiple of its step.
fn clock_step_ns() -> f64 {
    static STEP: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *STEP.get_or_init(|| {
        let mut work = ItemWork::new(170, 0x9e37_79b9, false);
        let mut seen = std::collections::BTreeMap::<u64, u32>::new();
        for _ in 0..100_000 {
            let t = Instant::now();
            busy(work.next_units());
            *seen.entry(t.elapsed().as_nanos() as u64).or_default() += 1;
        }
        step_of(&seen)
    })
}

/// Median cost of one `Instant::now()` in ns (every sample pays two).
fn instant_cost_ns() -> f64 {
    let v: Vec<f64> = (0..101)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(Instant::now());
            }
            t.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    median(&v)
}

// ---------------------------------------------------------------------------
// Command line and main.
// ---------------------------------------------------------------------------

const USAGE: &str = "cargo bench --bench latency -- [--quick] [--rounds N] [--samples N] [--paced-ms N] \
[--period-us N] [--burst N] [--burst-every-ms N] [--cores A,B] [--one-core] [--only rt|paced] [--list] [FILTER...]";

fn parse_args(all: &[Impl]) -> Config {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| -> Option<String> {
        let i = args.iter().position(|a| a == name)?;
        Some(args.get(i + 1).unwrap_or_else(|| panic!("{name} needs a value; usage: {USAGE}")).clone())
    };
    let number = |name: &str| -> Option<usize> {
        value(name).map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
    };
    // Bare words are filters; skip the values of the options that take one.
    let takes_value =
        ["--cores", "--rounds", "--samples", "--paced-ms", "--period-us", "--burst", "--burst-every-ms", "--only"];
    support::check_args(USAGE, &["--quick", "--one-core", "--list"], &takes_value, true);
    if flag("--list") {
        all.iter().for_each(|i| println!("{}", i.name));
        std::process::exit(0);
    }
    let quick = flag("--quick");
    let one_core = flag("--one-core");
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
    let (a, b) = pick_cores(value("--cores").as_deref());
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
    let periods: Vec<Duration> = match number("--period-us") {
        Some(us) => vec![Duration::from_micros(us.max(1) as u64)],
        None => [10, 100, 1000].map(Duration::from_micros).to_vec(),
    };
    let paced = PacedConfig {
        duration,
        period: periods[0],
        periods,
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

fn selected(cfg: &Config, imp: &Impl, scenario: Scenario) -> bool {
    if imp.floor {
        // The floor always runs in the round trip (ratios need it); the
        // paced scenario has none.
        return scenario == Scenario::RoundTrip;
    }
    let name = imp.name.to_lowercase();
    cfg.filter.is_empty() || cfg.filter.iter().any(|f| name.contains(f.as_str()))
}

fn run_one(scenario: Scenario, imp: &Impl, cfg: &Config, warm_up: bool) -> Option<Measured> {
    match scenario {
        Scenario::RoundTrip => {
            let (samples, warmup) = if warm_up {
                ((cfg.rt_samples / 10).max(10), cfg.rt_warmup / 10)
            } else {
                (cfg.rt_samples, cfg.rt_warmup)
            };
            Some((imp.round_trip)(cfg, samples, warmup))
        }
        Scenario::Paced(us) => {
            let mut paced = cfg.paced.clone();
            paced.period = Duration::from_micros(us);
            if paced.period != cfg.paced.periods[0] {
                paced.burst = 0; // the quiet paces: no bursts
            }
            if warm_up {
                paced.duration = (paced.duration / 4).max(Duration::from_millis(20));
                paced.warmup = Duration::ZERO;
            }
            imp.paced.as_ref().map(|run| run(cfg, &paced))
        }
    }
}

fn main() {
    // Read the core ids before anything is pinned (the main thread never is).
    let all = implementations();
    let cfg = parse_args(&all);
    let started = Instant::now();

    let mode = if cfg.one_core {
        format!("ONE core: every thread pinned to core {} (oversubscribed)", cfg.cores.0.id)
    } else {
        format!("two cores: pinger/producer on core {}, ponger/consumer on core {}", cfg.cores.0.id, cfg.cores.1.id)
    };
    let mut banner = Facts::machine();
    banner.push("pinning", mode.clone());
    banner.push(
        "Instant::now()",
        format!("{:.1} ns per call (two per sample, included in every number)", instant_cost_ns()),
    );
    let step = clock_step_ns();
    banner.push(
        "clock step",
        if step < FINE_STEP_NS {
            format!("{step:.1} ns (percentiles as recorded)")
        } else {
            format!("{step:.1} ns (percentiles read between ticks: each sample spread over one step)")
        },
    );
    println!("ringflow latency bench{}", if cfg.quick { " (--quick)" } else { "" });
    banner.print();
    let p = &cfg.paced;
    let settings = format!(
        "{} rounds (+1 warm-up round, discarded), order rotated each round; capacity {}; round trip: {} samples \
         (+{} warm-up) per run, budget {:?}; paced: 1 item / {:?} (+ burst of {} every {:?} at the first pace) \
         for {:?} per run (first {:?} not recorded)",
        cfg.rounds,
        cfg.capacity,
        cfg.rt_samples,
        cfg.rt_warmup,
        cfg.rt_budget,
        p.periods,
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
        scenarios.extend(cfg.paced.periods.iter().map(|p| Scenario::Paced(p.as_micros() as u64)));
    }
    let mut all_series: Vec<(Scenario, Vec<Series>)> = Vec::new();
    for &scenario in &scenarios {
        let metrics = scenario.metrics();
        let chosen: Vec<usize> = (0..all.len()).filter(|&i| selected(&cfg, &all[i], scenario)).collect();
        let mut series: Vec<Series> =
            chosen.iter().map(|&imp| Series { imp, runs: Vec::new(), details: Vec::new() }).collect();
        let rounds = Rounds { rounds: cfg.rounds, rotate_by: 1, label: metrics.scenario.to_string() };
        rounds.run(
            chosen.len(),
            |k| {
                let _ = run_one(scenario, &all[chosen[k]], &cfg, true);
            },
            |k, round, position| {
                let imp = &all[chosen[k]];
                if let Some(m) = run_one(scenario, imp, &cfg, false) {
                    series[k].runs.push(Run {
                        scenario: metrics.scenario,
                        implementation: imp.name.clone(),
                        round: round + 1,
                        position,
                        outcome: m.outcome,
                        count: m.count,
                        wanted: m.wanted,
                        values: m.values,
                    });
                    series[k].details.push(m.detail);
                }
            },
        );
        if !series.is_empty() {
            all_series.push((scenario, series));
        }
    }

    // Tables.
    let mut summaries_by_scenario = Vec::new();
    for (scenario, series) in &all_series {
        let metrics = scenario.metrics();
        let floor = series.iter().find(|s| all[s.imp].floor);
        let summaries: Vec<LatencySummary> = series.iter().map(|s| summarise(&metrics, s, floor)).collect();
        let title = match scenario {
            Scenario::RoundTrip => {
                format!("Round trip (ping -> pong through two queues), ns, median of {} rounds — {}", cfg.rounds, mode)
            }
            Scenario::Paced(us) => format!(
                "Paced one-way, 1 item / {us} µs{} (now - intended send time), ns, median of {} rounds — {}",
                if Duration::from_micros(*us) == cfg.paced.periods[0] && cfg.paced.burst > 0 {
                    format!(" + bursts of {}", cfg.paced.burst)
                } else {
                    String::new()
                },
                cfg.rounds,
                mode
            ),
        };
        print_tables(&title, &summaries, floor.is_some());
        if let Scenario::Paced(us) = scenario {
            print_park_targets(*us, series, &all);
        }
        summaries_by_scenario.push((*scenario, summaries));
    }

    // Files: CSV and JSON through the shared model, one plot per scenario.
    let stem = if cfg.one_core { "latency-one-core" } else { "latency" };
    let report = Report {
        banner: banner.clone(),
        settings,
        quick: cfg.quick,
        one_core: Some(cfg.one_core),
        rounds: cfg.rounds,
        scenarios: summaries_by_scenario
            .iter()
            .map(|(scenario, summaries)| ScenarioReport {
                metrics: scenario.metrics(),
                results: summaries.iter().map(|s| s.summary.clone()).collect(),
            })
            .collect(),
    };
    let runs: Vec<&Run> = all_series.iter().flat_map(|(_, series)| series.iter().flat_map(|s| &s.runs)).collect();
    println!();
    match write_results(stem, &report, &runs) {
        Ok(paths) => paths.iter().for_each(|p| println!("wrote {}", p.display())),
        Err(e) => eprintln!("cannot write the results: {e}"),
    }
    for (scenario, summaries) in &summaries_by_scenario {
        let (title, file) = match scenario {
            Scenario::RoundTrip => ("Round trip latency by percentile", format!("{stem}-roundtrip.svg")),
            Scenario::Paced(us) => ("Paced one-way latency, by percentile", format!("{stem}-paced-{us}us.svg")),
        };
        let subtitle =
            format!("median of {} rounds; {}; {}; {}", cfg.rounds, banner.get("cpu"), mode, banner.get("date"));
        let curves: Vec<Curve> = summaries
            .iter()
            .map(|s| Curve {
                label: format!(
                    "{}: p50 {}, p99.9 {}",
                    s.summary.implementation,
                    fmt_ns_unit(s.summary.median.values[0]),
                    fmt_ns_unit(s.summary.median.values[3])
                ),
                color: s.imp,
                dashed: all[s.imp].floor,
                points: s.curve.clone(),
            })
            .collect();
        let path = out_dir().join(file);
        match percentile_plot(&path, title, &subtitle, &curves) {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
    println!("total time {:.1?}", started.elapsed());
    if any_hung() {
        eprintln!("error: at least one run hung (see above); its threads were left behind");
        std::process::exit(2);
    }
}
