//! Fan-out: one event stream copied to several independent consumers, one
//! SPSC ring each, where one consumer is deliberately slow. Run twice:
//!
//! 1. blocking `send` on every ring: the slow consumer's ring fills, the
//!    producer blocks on it, and so every consumer is throttled to the slow
//!    one's pace — backpressure propagates through a fan-out;
//! 2. `try_send` on the slow consumer's ring only (shedding there): the
//!    other consumers keep full speed, and the slow one's gaps are counted.
//!
//! `cargo run --release --example fanout [-- --quick]`

use std::thread;
use std::time::{Duration, Instant};

use ringflow::{spsc, TrySendError};

const FAST: usize = 3;
const CAPACITY: usize = 256;
const SLOW_WORK: Duration = Duration::from_micros(10); // the slow consumer: <= 100k events/s

#[derive(Clone, Copy)]
struct Event {
    seq: u64,
    payload: u64,
}

struct Seen {
    received: u64,
    gaps: u64, // events missing between consecutive sequence numbers
    checksum: u64,
    finished: Duration,
}

fn consume(mut rx: spsc::Consumer<Event>, events: u64, start: Instant, work: Duration) -> Seen {
    let mut seen = Seen { received: 0, gaps: 0, checksum: 0, finished: Duration::ZERO };
    let mut next = 0;
    while let Ok(ev) = rx.recv() {
        assert!(ev.seq >= next, "out of order");
        seen.gaps += ev.seq - next;
        next = ev.seq + 1;
        seen.received += 1;
        seen.checksum = seen.checksum.wrapping_add(ev.payload);
        if !work.is_zero() {
            let until = Instant::now() + work;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    }
    seen.gaps += events - next; // shed after the last one received
    seen.finished = start.elapsed();
    seen
}

/// Runs the fan-out; returns (producer time, shed count, slow ring send
/// waits, per-consumer results).
fn run(events: u64, shed_slow: bool) -> (Duration, u64, u64, Vec<Seen>) {
    let start = Instant::now();
    let mut txs = vec![];
    let mut consumers = vec![];
    for c in 0..=FAST {
        let (tx, rx) = spsc::channel::<Event>(CAPACITY);
        let work = if c == FAST { SLOW_WORK } else { Duration::ZERO };
        txs.push(tx);
        consumers.push(thread::spawn(move || consume(rx, events, start, work)));
    }
    let mut shed = 0;
    for seq in 0..events {
        let ev = Event { seq, payload: seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) };
        for (c, tx) in txs.iter_mut().enumerate() {
            if shed_slow && c == FAST {
                match tx.try_send(ev) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => shed += 1, // the slow one misses this event
                    Err(TrySendError::Disconnected(_)) => unreachable!(),
                }
            } else {
                tx.send(ev).unwrap(); // waits while this consumer's ring is full
            }
        }
    }
    let produced_in = start.elapsed();
    let slow_waits = txs[FAST].stats().send_waits;
    drop(txs); // consumers drain what is queued, then see the disconnection
    let seen = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    (produced_in, shed, slow_waits, seen)
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}k/s", n as f64 / d.as_secs_f64() / 1e3)
}

fn report(events: u64, (produced_in, shed, slow_waits, seen): &(Duration, u64, u64, Vec<Seen>)) {
    println!("  producer published {events} events in {produced_in:.2?} ({})", rate(events, *produced_in));
    println!("  consumer   received   missed   done after   throughput");
    let expected_sum = (0..events).fold(0u64, |s, q| s.wrapping_add(q.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    for (c, s) in seen.iter().enumerate() {
        let name = if c == FAST { format!("slow-{c}") } else { format!("fast-{c}") };
        println!(
            "  {name:<8} {:>10} {:>8} {:>12.2?} {:>12}",
            s.received,
            s.gaps,
            s.finished,
            rate(s.received, s.finished)
        );
        assert_eq!(s.received + s.gaps, events, "{name}: received + missed = published");
        if c != FAST {
            assert_eq!((s.received, s.checksum), (events, expected_sum), "{name}: a fast consumer got every event");
        }
    }
    assert_eq!(seen[FAST].gaps, *shed, "what the slow one missed is exactly what was shed");
    println!("  slow ring: {slow_waits} blocking sends waited for room; {shed} events shed");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let events = if quick { 20_000 } else { 200_000 };
    println!(
        "fan-out of {events} events to {} consumers (one SPSC ring of {CAPACITY} each); consumer {FAST} is slow \
         ({SLOW_WORK:?} per event), the others do no work\n",
        FAST + 1
    );

    println!("run 1: blocking send on every ring");
    let blocked = run(events, false);
    report(events, &blocked);
    println!(
        "  => backpressure propagates: the slow consumer's full ring blocked the producer, so every consumer \
         was held to the slow one's pace\n"
    );
    assert_eq!(blocked.1, 0);

    println!("run 2: try_send (shedding) on the slow consumer's ring only");
    let shedding = run(events, true);
    report(events, &shedding);
    let fast_before = blocked.3[..FAST].iter().map(|s| s.finished).max().unwrap();
    let fast_after = shedding.3[..FAST].iter().map(|s| s.finished).max().unwrap();
    println!(
        "  => the fast consumers kept full speed: done in {fast_after:.2?} instead of {fast_before:.2?} \
         ({:.1}x faster); the slow one missed {} of {events} events ({:.1}%), each one counted",
        fast_before.as_secs_f64() / fast_after.as_secs_f64(),
        shedding.1,
        shedding.1 as f64 * 100.0 / events as f64
    );
}
