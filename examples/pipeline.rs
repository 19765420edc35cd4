//! A three-stage pipeline — parse → transform → sink — with one SPSC ring
//! per hop and each stage pinned to a core (when `core_affinity` can).
//! `transform` is the bottleneck, so the first hop fills up.
//!
//! Run twice: first the parser just `send`s and discovers a full ring (it
//! blocks at capacity), then with watermarks on the first hop: the parser
//! checks `congestion()` and, once `Congested`, stops reading its input
//! (`wait_until_clear`) until the hop has drained to the low watermark —
//! it slows its upstream early, so the hop never fills, and the queueing
//! part of the latency is bounded by `high` instead of the capacity.
//! Prints throughput, end-to-end latency percentiles and each hop's `stats()`.
//!
//! `cargo run --release --example pipeline [-- --quick]`

use std::thread;
use std::time::{Duration, Instant};

use ringflow::{Builder, Congestion, Stats};

const CAPACITY: usize = 4096;
const WATERMARKS: (usize, usize) = (512, 1024);
const TRANSFORM_WORK: Duration = Duration::from_micros(1);

struct Record {
    born: Instant, // when the parser read the line
    sensor: u32,
    value: f64,
}

fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Pins the current thread to `cores[stage % len]`; says what it did.
fn pin(cores: &[core_affinity::CoreId], stage: usize) -> String {
    match cores.get(stage % cores.len().max(1)) {
        Some(&core) if core_affinity::set_for_current(core) => format!("core {}", core.id),
        _ => "unpinned".to_string(),
    }
}

struct Outcome {
    elapsed: Duration,
    latencies_ns: Vec<u64>,
    hop1: Stats,
    hop2: Stats,
    max_depth: usize,
    throttled: (u64, Duration),
    placement: Vec<String>,
    checksum: f64,
}

fn run(records: u64, watermarks: bool, cores: &[core_affinity::CoreId]) -> Outcome {
    let mut hop1 = Builder::new(CAPACITY);
    if watermarks {
        hop1 = hop1.watermarks(WATERMARKS.0, WATERMARKS.1);
    }
    let (mut to_transform, mut from_parse) = hop1.spsc::<Record>();
    let (mut to_sink, mut from_transform) = Builder::new(CAPACITY).spsc::<Record>();
    let start = Instant::now();
    let cores_p = cores.to_vec();
    let parse = thread::spawn(move || {
        let placement = pin(&cores_p, 0);
        let (mut max_depth, mut episodes, mut throttled) = (0, 0u64, Duration::ZERO);
        let mut line = String::new();
        for id in 0..records {
            if watermarks && to_transform.congestion() == Congestion::Congested {
                // Slow the upstream early: stop reading input until the hop
                // has drained to the low watermark.
                let t0 = Instant::now();
                to_transform.wait_until_clear(None);
                episodes += 1;
                throttled += t0.elapsed();
            }
            // "Read" a line of input and parse it.
            line.clear();
            use std::fmt::Write;
            write!(line, "{},{},{}.{}", id, id % 16, id % 1000, id % 7).unwrap();
            let born = Instant::now();
            let mut fields = line.split(',');
            let _id: u64 = fields.next().unwrap().parse().unwrap();
            let sensor = fields.next().unwrap().parse().unwrap();
            let value = fields.next().unwrap().parse().unwrap();
            to_transform.send(Record { born, sensor, value }).unwrap();
            max_depth = max_depth.max(to_transform.len());
        }
        let stats = to_transform.stats();
        (placement, max_depth, (episodes, throttled), stats)
    });
    let cores_t = cores.to_vec();
    let transform = thread::spawn(move || {
        let placement = pin(&cores_t, 1);
        while let Ok(mut r) = from_parse.recv() {
            r.value = r.value * 1.8 + 32.0; // calibrate
            spin_for(TRANSFORM_WORK); // the expensive part: the bottleneck
            to_sink.send(r).unwrap();
        }
        (placement, from_parse.stats())
    });
    let cores_s = cores.to_vec();
    let sink = thread::spawn(move || {
        let placement = pin(&cores_s, 2);
        let mut latencies_ns = Vec::with_capacity(records as usize);
        let mut sums = [0.0f64; 16];
        while let Ok(r) = from_transform.recv() {
            sums[r.sensor as usize % 16] += r.value;
            latencies_ns.push(r.born.elapsed().as_nanos() as u64);
        }
        (placement, latencies_ns, sums.iter().sum::<f64>(), from_transform.stats())
    });
    let (p_place, max_depth, throttled, hop1) = parse.join().unwrap();
    let (t_place, _) = transform.join().unwrap();
    let (s_place, mut latencies_ns, checksum, hop2) = sink.join().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(latencies_ns.len() as u64, records, "every record reached the sink");
    latencies_ns.sort_unstable();
    let placement = vec![p_place, t_place, s_place];
    Outcome { elapsed, latencies_ns, hop1, hop2, max_depth, throttled, placement, checksum }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1e3
}

fn print_stats(name: &str, s: &Stats) {
    println!(
        "    {name}: send_waits {}, recv_waits {}, parks {}, wakeups {}, congestion_transitions {}",
        s.send_waits, s.recv_waits, s.parks, s.wakeups, s.congestion_transitions
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let records = if quick { 100_000 } else { 500_000 };
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    println!(
        "{records} records through parse -> transform ({TRANSFORM_WORK:?}/record) -> sink; hops: SPSC, capacity \
         {CAPACITY}, Park; {} cores available{}",
        cores.len(),
        if cores.len() < 3 { " (fewer than stages: some share a core)" } else { "" }
    );
    let mut results = vec![];
    for watermarks in [false, true] {
        let o = run(records, watermarks, &cores);
        let title = if watermarks {
            format!("with watermarks {WATERMARKS:?} on hop 1: parse throttles its input while Congested")
        } else {
            "no watermarks: parse blocks when hop 1 is full".to_string()
        };
        println!("\n{title}");
        println!("  stages on: parse {}, transform {}, sink {}", o.placement[0], o.placement[1], o.placement[2]);
        println!(
            "  throughput {:.2} M records/s; end-to-end latency p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
            records as f64 / o.elapsed.as_secs_f64() / 1e6,
            pct(&o.latencies_ns, 0.5),
            pct(&o.latencies_ns, 0.99),
            pct(&o.latencies_ns, 0.999),
            pct(&o.latencies_ns, 1.0)
        );
        println!("  hop 1 deepest seen by parse: {} of {CAPACITY}", o.max_depth);
        if watermarks {
            let (episodes, time) = o.throttled;
            println!("  parse paused its input {episodes} times, {time:.2?} in total");
            assert!(o.max_depth < CAPACITY, "throttled early, the hop never filled");
        }
        print_stats("hop 1 stats", &o.hop1);
        print_stats("hop 2 stats", &o.hop2);
        results.push(o);
    }
    assert_eq!(results[0].checksum, results[1].checksum, "both runs computed the same result");
    println!(
        "\nhop 1 with watermarks: {} sends blocked on a full ring (vs {} without); the producer slowed upstream \
         before the queue was full",
        results[1].hop1.send_waits, results[0].hop1.send_waits
    );
}
