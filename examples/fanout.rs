//! Fan-out: one event stream to several independent consumers through one
//! broadcast ring (`ringflow::broadcast`), where one consumer is
//! deliberately slow. Each event is written once; every consumer has its own
//! cursor and clones what it reads. Run twice:
//!
//! 1. **Block** (`Builder::broadcast`): the sender waits for the slowest
//!    receiver, so the slow consumer holds the ring and every consumer is
//!    throttled to its pace — backpressure propagates through a fan-out, and
//!    nobody misses anything;
//! 2. **Lossy** (`Builder::broadcast_lossy`): the sender never waits; the
//!    fast consumers keep full speed, and the slow one is told exactly how
//!    many events it missed (`RecvError::Lagged(n)`), so that for every
//!    consumer received + missed = published.
//!
//! The slow consumer spins through its work, so the fast ones keep full
//! speed only with a core each (the producer, three fast consumers and the
//! slow one: five busy threads). On fewer cores they share CPU with the
//! slow one, fall behind in their turn and miss events too, each one
//! reported; the example prints which of the two it saw.
//!
//! `cargo run --release --example fanout [-- --quick]`

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ringflow::broadcast::{self, RecvError};
use ringflow::Builder;

const FAST: usize = 3;
const CAPACITY: usize = 256;
const SLOW_WORK: Duration = Duration::from_micros(10); // the slow consumer: <= 100k events/s
/// The producer offers a burst of `BURST` events every `PACE` (200k events/s
/// on average) and sleeps in between, leaving the cores to the consumers:
/// the fast ones keep up with that, the slow one cannot.
const BURST: u64 = 100;
const PACE: Duration = Duration::from_micros(500);

#[derive(Clone, Copy)]
struct Event {
    seq: u64,
    payload: u64,
}

fn payload(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Seen {
    received: u64,
    /// Sum of the `Lagged(n)` this consumer was told about.
    missed: u64,
    lagged_events: u64,
    checksum: u64,
    finished: Duration,
}

fn consume(mut rx: broadcast::Receiver<Event>, go: &Barrier, work: Duration) -> Seen {
    go.wait();
    let start = Instant::now();
    let mut seen = Seen { received: 0, missed: 0, lagged_events: 0, checksum: 0, finished: Duration::ZERO };
    let mut next = 0;
    loop {
        match rx.recv() {
            Ok(ev) => {
                assert_eq!(ev.seq, next, "in order, and every gap was reported as Lagged");
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
            Err(RecvError::Lagged(n)) => {
                seen.missed += n;
                seen.lagged_events += 1;
                next += n;
            }
            Err(RecvError::Disconnected) => break,
        }
    }
    let stats = rx.stats();
    assert_eq!((stats.received, stats.missed), (seen.received, seen.missed), "the receiver's own counters agree");
    seen.finished = start.elapsed();
    seen
}

/// Runs the fan-out; returns (producer time, blocking sends that waited,
/// per-consumer results).
fn run(events: u64, lossy: bool) -> (Duration, u64, Vec<Seen>) {
    let builder = Builder::new(CAPACITY);
    let (mut tx, rx) = if lossy { builder.broadcast_lossy::<Event>() } else { builder.broadcast::<Event>() };
    let go = Arc::new(Barrier::new(FAST + 2));
    let consumers: Vec<_> = (0..=FAST)
        .map(|c| {
            let rx = rx.clone(); // every receiver starts at the first event
            let work = if c == FAST { SLOW_WORK } else { Duration::ZERO };
            let go = go.clone();
            thread::spawn(move || consume(rx, &go, work))
        })
        .collect();
    drop(rx);
    go.wait();
    let start = Instant::now();
    for seq in 0..events {
        // Paced: burst `seq / BURST` is offered at `start + (seq / BURST) *
        // PACE` (or later, if a send before it waited).
        if seq % BURST == 0 {
            let due = start + PACE * (seq / BURST) as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        tx.send(Event { seq, payload: payload(seq) }).unwrap(); // Block: waits for the slowest receiver
    }
    let produced_in = start.elapsed();
    let waits = tx.stats().send_waits;
    drop(tx); // receivers drain what they have not read, then see the disconnection
    let seen = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    (produced_in, waits, seen)
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}k/s", n as f64 / d.as_secs_f64() / 1e3)
}

fn report(events: u64, lossy: bool, (produced_in, waits, seen): &(Duration, u64, Vec<Seen>)) {
    println!("  producer published {events} events in {produced_in:.2?} ({})", rate(events, *produced_in));
    println!("  consumer   received     missed   Lagged errors   done after   throughput");
    let expected_sum = (0..events).fold(0u64, |s, q| s.wrapping_add(payload(q)));
    for (c, s) in seen.iter().enumerate() {
        let name = if c == FAST { format!("slow-{c}") } else { format!("fast-{c}") };
        println!(
            "  {name:<8} {:>10} {:>10} {:>15} {:>12.2?} {:>12}",
            s.received,
            s.missed,
            s.lagged_events,
            s.finished,
            rate(s.received, s.finished)
        );
        assert_eq!(s.received + s.missed, events, "{name}: received + missed = published, exactly");
        if !lossy {
            assert_eq!((s.received, s.checksum), (events, expected_sum), "{name}: Block loses nothing");
        }
    }
    println!("  the producer's blocking sends waited {waits} times for the slowest receiver");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let events = if quick { 20_000 } else { 200_000 };
    println!(
        "fan-out of {events} events, offered in bursts of {BURST} every {PACE:?}, to {} consumers through one \
         broadcast ring of {CAPACITY}; consumer {FAST} is slow ({SLOW_WORK:?} per event), the others do no work\n",
        FAST + 1
    );

    println!("run 1: Block (Builder::broadcast): the sender waits for the slowest receiver");
    let blocked = run(events, false);
    report(events, false, &blocked);
    println!(
        "  => backpressure propagates: the slow consumer held the ring, so the producer and every consumer ran at \
         its pace; nobody missed an event\n"
    );

    println!("run 2: Lossy (Builder::broadcast_lossy): the sender never waits");
    let lossy = run(events, true);
    report(events, true, &lossy);
    let fast_before = blocked.2[..FAST].iter().map(|s| s.finished).max().unwrap();
    let fast_after = lossy.2[..FAST].iter().map(|s| s.finished).max().unwrap();
    let slow = &lossy.2[FAST];
    let fast_missed: u64 = lossy.2[..FAST].iter().map(|s| s.missed).sum();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let speedup = fast_before.as_secs_f64() / fast_after.as_secs_f64();
    if fast_missed == 0 {
        println!(
            "  => the fast consumers kept full speed and missed nothing: done in {fast_after:.2?} instead of \
             {fast_before:.2?} ({speedup:.1}x faster)"
        );
    } else {
        println!(
            "  => done in {fast_after:.2?} instead of {fast_before:.2?} ({speedup:.1}x faster), but the fast \
             consumers missed {fast_missed} events between them: {cpus} CPUs for {} busy threads (the slow \
             consumer spins through its work), so they shared CPU with it and fell behind too; each miss was \
             reported",
            FAST + 2
        );
    }
    println!(
        "     the slow one missed {} of {events} events ({:.1}%), reported in {} Lagged errors, each counted",
        slow.missed,
        slow.missed as f64 * 100.0 / events as f64,
        slow.lagged_events
    );
}
