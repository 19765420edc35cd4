//! Congestion-signal models (`flow.rs`), on both rings: the flag can never
//! be left `Congested` on a queue that has been drained.
//!
//! The race (module docs of `flow.rs`): a sender reads the length, sees it
//! at `high` and raises the flag — but the length it read may be stale, and
//! the receiver may already have drained the queue and checked the flag
//! (seeing `Clear`, so doing nothing). The protocol closes it with a Dekker
//! pair: the raiser CASes the flag, runs the heavy barrier and re-reads the
//! length (lowering the flag itself if it is at `low` or below); the
//! receiver, after each removal, runs the light barrier and loads the flag
//! (lowering it if it is set and the length is at `low` or below). Under
//! loom both barriers are `fence(SeqCst)`.
//!
//! Every model here uses capacity 2 with watermarks `(0, 1)`: any send that
//! sees one item queued raises, and only an empty queue lowers, so every
//! send is a candidate for the stale raise and only the very last removal
//! (or the raiser's own re-check) can clear the flag at the end.
//!
//! # What is observed, and why not `congestion()`
//!
//! `congestion()` is a query that *applies* the transition the current
//! length calls for (`Control::observe` lowers a set flag when it sees the
//! queue at `low`), so asking it at the end would repair a stuck flag and
//! the model would pass on broken code. Instead the models read
//! `stats().congestion_transitions`: the flag starts `Clear`, it changes
//! only through a successful CAS (raise: `false → true`, lower:
//! `true → false`), and each successful CAS — and nothing else — adds one
//! to that counter. So after every thread is joined (which makes every
//! increment visible), the flag is `Congested` exactly when the count is
//! odd. `stats()` only loads counters. The final `congestion()` call comes
//! after that check, as a consistency check.
//!
//! SPSC rings here have exact buffers (`__segment_slots(capacity)`), so that their few
//! items wrap; see `spsc_fifo.rs` for why, and for the models of the default slack.
#![cfg(loom)]

mod common;

use common::model_covers;
use common::mpmc::{drain_with, send_with, Patience, BOUNDED};
use loom::thread;
use ringflow::{Builder, Congestion, Stats, TryRecvError, TrySendError, WaitStrategy};

/// The flag's state, read without touching it (see the module docs): odd
/// number of transitions from `Clear` means `Congested`. Valid once every
/// thread that could flip the flag has been joined.
fn flag_state(stats: Stats) -> Congestion {
    if stats.congestion_transitions % 2 == 1 {
        Congestion::Congested
    } else {
        Congestion::Clear
    }
}

/// Asserts the invariant on a drained channel and returns whether the flag
/// was raised at all in this execution (coverage).
fn assert_clear_when_drained(stats: Stats, query: impl FnOnce() -> Congestion) -> bool {
    assert_eq!(
        flag_state(stats),
        Congestion::Clear,
        "the queue is empty but the congestion flag is stuck Congested ({} transitions)",
        stats.congestion_transitions
    );
    assert_eq!(query(), Congestion::Clear);
    stats.congestion_transitions > 0
}

/// Model C1: SPSC, capacity 2, watermarks (0, 1). The producer sends two
/// items (each send may raise from its cached / freshly loaded view of the
/// consumer position) while the consumer receives both; afterwards the
/// queue is empty and the flag must be `Clear`.
#[test]
fn spsc_congestion_never_stuck() {
    model_covers("spsc_congestion_never_stuck", 4, "raised the flag", || {
        let (mut tx, mut rx) =
            Builder::new(2).watermarks(0, 1).wait_strategy(WaitStrategy::BusySpin).__segment_slots(2).spsc::<u32>();
        let producer = thread::spawn(move || {
            for i in 0..2 {
                let mut v = i;
                loop {
                    match tx.try_send(v) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            v = back;
                            thread::yield_now();
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("the consumer is alive"),
                    }
                }
            }
            tx
        });
        for i in 0..2 {
            loop {
                match rx.try_recv() {
                    Ok(v) => {
                        assert_eq!(v, i);
                        break;
                    }
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Disconnected) => panic!("the producer is alive"),
                }
            }
        }
        let tx = producer.join().unwrap();
        assert!(rx.is_empty());
        assert_clear_when_drained(rx.stats(), || tx.congestion())
    });
}

/// Model C2: the same on the MPMC ring — one sender, one receiver (the
/// receiver's removal is its `head` CAS, the raiser's fresh length re-reads
/// `head` and `tail`).
#[test]
fn mpmc_congestion_never_stuck() {
    model_covers("mpmc_congestion_never_stuck", 4, "raised the flag", || {
        let (tx, rx) = Builder::new(2).watermarks(0, 1).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        let producer = thread::spawn(move || {
            for i in 0..2 {
                send_with(&tx, i, Patience::Forever).unwrap();
            }
            tx
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            match rx.try_recv() {
                Ok(v) => got.push(v),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => panic!("the sender is alive"),
            }
        }
        assert_eq!(got, [0, 1]);
        let tx = producer.join().unwrap();
        assert!(rx.is_empty());
        assert_clear_when_drained(rx.stats(), || tx.congestion())
    });
}

/// Model C3: MPMC, one sender and two receivers — the removal that empties
/// the queue may be on either receiver, and the other receiver's check may
/// read a stale `head`. The sender sends two items (bounded patience, three
/// threads); a spawned receiver takes what it can with bounded patience; the
/// model thread drains until `Disconnected`. Then the flag must be `Clear`.
#[test]
fn mpmc_congestion_never_stuck_two_receivers() {
    model_covers("mpmc_congestion_never_stuck_two_receivers", 2, "raised the flag", || {
        let (tx, rx) = Builder::new(2).watermarks(0, 1).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        let rx1 = rx.clone();
        let producer = thread::spawn(move || {
            for i in 0..2 {
                if send_with(&tx, i, BOUNDED).is_err() {
                    break;
                }
            }
        });
        let other = thread::spawn(move || {
            let mut got = Vec::new();
            drain_with(&rx1, BOUNDED, &mut got);
            rx1
        });
        let mut got = Vec::new();
        assert!(drain_with(&rx, Patience::Forever, &mut got));
        let rx1 = other.join().unwrap();
        producer.join().unwrap();
        assert!(rx.is_empty());
        assert_clear_when_drained(rx.stats(), || rx1.congestion())
    });
}
