//! Try-path models of the MPMC ring (Vyukov stamps, lap-encoded positions):
//! exactly-once delivery and per-producer order with two producers or two
//! consumers, send happens-before recv for a non-atomic payload, and the
//! batch calls (`try_send_many` / `try_recv_many`).
//!
//! These use `BusySpin` channels, which never register sleepers, so the only
//! synchronisation under test is the claim CAS on `head`/`tail` and the
//! stamp Release/Acquire hand-over of `mpmc.rs`. Every slot value is a loom
//! `UnsafeCell`, so on top of the explicit assertions loom checks that no
//! two threads touch a slot without the previous owner's access
//! happening-before (a claim that skipped the stamp Acquire, or a stamp
//! store that was not Release, shows up as a causality violation).
//!
//! Values are `producer * 10 + sequence`, so a consumer can check
//! per-producer order without a side channel.
#![cfg(loom)]

mod common;

use std::collections::VecDeque;

use common::mpmc::{drain_with, send_with, Patience, BOUNDED};
use common::{model, model_covers};
use loom::cell::UnsafeCell;
use loom::thread;
use ringflow::mpmc::Sender;
use ringflow::{Builder, TryRecvError, TrySendError, WaitStrategy};

/// Sends `values` in order with bounded patience; after the first value
/// that does not go in, keeps it and every later one (so what was sent is
/// a prefix, and order is preserved). Returns what it kept.
fn send_prefix(tx: &Sender<u32>, values: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut kept = Vec::new();
    for v in values {
        if kept.is_empty() {
            match send_with(tx, v, BOUNDED) {
                Ok(()) => continue,
                Err(back) => assert_eq!(back, v, "Full must hand back the same value"),
            }
        }
        kept.push(v);
    }
    kept
}

/// Model body for M1: two producers send `counts[p]` values each
/// (`p * 10 + i`) through a ring of `capacity`, with bounded patience
/// (`common::mpmc`: three threads, so only one may wait forever); the model
/// thread receives until `Disconnected`. For each producer, what the
/// consumer got must be exactly the prefix the producer sent, in order, and
/// what it kept the rest: nothing lost, nothing duplicated, per-producer
/// FIFO.
fn two_producers_one_consumer(capacity: usize, counts: [u32; 2]) {
    let (tx, rx) = Builder::new(capacity).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
    let tx0 = tx.clone();
    let p0 = thread::spawn(move || send_prefix(&tx0, 0..counts[0]));
    let p1 = thread::spawn(move || send_prefix(&tx, 10..10 + counts[1]));
    let mut got = Vec::new();
    assert!(drain_with(&rx, Patience::Forever, &mut got));
    let kept = [p0.join().unwrap(), p1.join().unwrap()];
    for (p, kept) in kept.iter().enumerate() {
        let base = 10 * p as u32;
        let mut mine: Vec<u32> = got.iter().copied().filter(|v| v / 10 == p as u32).collect();
        mine.extend(kept);
        assert_eq!(
            mine,
            (base..base + counts[p]).collect::<Vec<_>>(),
            "producer {p}: received (in order) then kept must be exactly what it had; received {got:?}"
        );
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert!(rx.is_empty());
}

/// Model body for M2: one producer sends `0..items` (bounded patience,
/// keeping the rest if it gives up); two receivers take values: a spawned
/// one with bounded patience and the model thread until `Disconnected`.
/// Each receiver sees a strictly increasing subsequence of the producer's
/// order, and received plus kept is every value exactly once.
fn one_producer_two_consumers(capacity: usize, items: u32) {
    let (tx, rx) = Builder::new(capacity).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
    let rx1 = rx.clone();
    let producer = thread::spawn(move || send_prefix(&tx, 0..items));
    let other = thread::spawn(move || {
        let mut got = Vec::new();
        drain_with(&rx1, BOUNDED, &mut got);
        got
    });
    let mut mine = Vec::new();
    assert!(drain_with(&rx, Patience::Forever, &mut mine));
    let theirs = other.join().unwrap();
    let kept = producer.join().unwrap();
    for got in [&mine, &theirs] {
        assert!(got.windows(2).all(|w| w[0] < w[1]), "a receiver saw values out of the producer's order: {got:?}");
    }
    let mut all: Vec<u32> = mine.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    all.extend(&kept);
    assert_eq!(
        all,
        (0..items).collect::<Vec<_>>(),
        "received (by either) then kept must be every value exactly once: {mine:?} {theirs:?} kept {kept:?}"
    );
}

/// Model M1a: two producers, one consumer, capacity 1, two values each —
/// every claim of the single slot after the first needs the consumer's
/// stamp store, and the producers' tail CASes race.
#[test]
fn two_producers_capacity_1() {
    model("two_producers_capacity_1", 3, || two_producers_one_consumer(1, [2, 2]));
}

/// Model M1b: two producers, one consumer, capacity 2, two values each, so
/// the ring wraps to its next lap (one lap is 4 positions: the lap encoding
/// skips indices 2 and 3). Bound 2: at 3 it takes ~40 s.
#[test]
fn two_producers_capacity_2() {
    model("two_producers_capacity_2", 2, || two_producers_one_consumer(2, [2, 2]));
}

/// Model M2a: one producer, two consumers, capacity 1, three values: the
/// consumers' head CASes race, and a consumer that loses must not take the
/// value twice or skip one.
#[test]
fn two_consumers_capacity_1() {
    model("two_consumers_capacity_1", 3, || one_producer_two_consumers(1, 3));
}

/// Model M2b: one producer, two consumers, capacity 2, three values (the
/// third wraps to the next lap). Bound 2: at 3 it takes ~45 s.
#[test]
fn two_consumers_capacity_2() {
    model("two_consumers_capacity_2", 2, || one_producer_two_consumers(2, 3));
}

/// A payload the model can check for happens-before: a boxed loom
/// `UnsafeCell`, written by its sender before the send and read by whoever
/// ends up with it.
type Payload = Box<UnsafeCell<u64>>;

fn payload(v: u64) -> Payload {
    let p = Box::new(UnsafeCell::new(0));
    // SAFETY: the box is owned by this thread; nobody else can reach it yet.
    p.with_mut(|c| unsafe { *c = v });
    p
}

fn read(p: &Payload) -> u64 {
    // SAFETY: the caller owns the box; loom checks that the write in
    // `payload` (on the sending thread) happens-before this read.
    p.with(|c| unsafe { *c })
}

/// Model M7a: send happens-before recv through the MPMC ring. Two producers
/// each write a payload and send it (bounded patience) through capacity 1;
/// the model thread receives until `Disconnected` and reads what it gets.
/// The second claim of the slot must also see the consumer's move-out (its
/// stamp store), so the slot is reused race-free. Without the stamp's
/// Release/Acquire pair loom reports a causality violation on the payload
/// or the slot.
#[test]
fn send_happens_before_recv() {
    model("mpmc_send_happens_before_recv", 3, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::BusySpin).mpmc::<Payload>();
        let tx0 = tx.clone();
        let spawn_producer = |tx: Sender<Payload>, v: u64| {
            thread::spawn(move || send_with(&tx, payload(v), BOUNDED).err().map(|p| read(&p)))
        };
        let p0 = spawn_producer(tx0, 100);
        let p1 = spawn_producer(tx, 200);
        let mut got = Vec::new();
        assert!(drain_with(&rx, Patience::Forever, &mut got));
        let mut all: Vec<u64> = got.iter().map(read).collect();
        all.extend(p0.join().unwrap());
        all.extend(p1.join().unwrap());
        all.sort_unstable();
        assert_eq!(all, [100, 200]);
    });
}

/// Model M7b: happens-before through an eviction. One sender makes one
/// `try_send` of a payload into capacity 1 (keeping it if the ring is
/// full) while another `force_send`s; when the second finds the ring full it
/// evicts the first's payload and reads it — which needs the first sender's
/// write to happen-before that read (the stamp Acquire in `force_send`; the
/// two threads share nothing else). The model thread then reads whatever is
/// left. Each of the two payloads ends up exactly once: evicted, queued, or
/// kept by the sender that found the ring full. At least one explored
/// execution must have evicted.
#[test]
fn force_send_eviction_happens_before() {
    model_covers("force_send_eviction_happens_before", 4, "evicted a payload", || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::BusySpin).mpmc::<Payload>();
        let tx0 = tx.clone();
        let plain = thread::spawn(move || match tx0.try_send(payload(100)) {
            Ok(()) => None,
            Err(TrySendError::Full(back)) => Some(read(&back)),
            Err(TrySendError::Disconnected(_)) => panic!("the receiver is alive"),
        });
        let forcing = thread::spawn(move || {
            let evicted = tx.force_send(payload(200)).expect("the receiver is alive");
            (evicted.as_ref().map(read), tx)
        });
        let kept = plain.join().unwrap();
        let (evicted, tx) = forcing.join().unwrap();
        let mut left = Vec::new();
        while let Ok(p) = rx.try_recv() {
            left.push(read(&p));
        }
        assert_eq!(left.len(), 1, "capacity 1 and two sends that did not give up: one payload queued");
        if let Some(v) = evicted {
            assert_eq!(v, 100, "force_send hands back the oldest payload");
        }
        let mut all: Vec<u64> = left.into_iter().chain(evicted).chain(kept).collect();
        all.sort_unstable();
        assert_eq!(all, [100, 200], "each payload exactly once: queued, evicted or kept");
        assert_eq!(tx.stats().evictions, u64::from(evicted.is_some()));
        evicted.is_some()
    });
}

/// Model M9a: `try_send_many` against `try_recv_many` through capacity 2,
/// one producer with a batch of four, one consumer taking up to two per
/// call. What a `try_send_many` does not send stays in the batch, in order;
/// the consumer gets every value once, in order; claims of a run (one CAS
/// for several positions) race with claims from the other side.
#[test]
fn batches_capacity_2() {
    model("batches_capacity_2", 4, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        let producer = thread::spawn(move || {
            let mut batch = VecDeque::from([0, 1, 2, 3]);
            let mut sent = 0;
            while !batch.is_empty() {
                let n = tx.try_send_many(&mut batch);
                sent += n as u32;
                assert_eq!(batch, (sent..4).collect::<Vec<_>>(), "the unsent suffix stays, in order");
                if n == 0 {
                    thread::yield_now();
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 4 {
            match rx.try_recv_many(&mut got, 2) {
                Ok(n) => assert!((1..=2).contains(&n)),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => panic!("the producer sends four values before it drops"),
            }
        }
        assert_eq!(got, [0, 1, 2, 3], "every value once, in order");
        producer.join().unwrap();
        assert_eq!(rx.try_recv_many(&mut got, 2), Err(TryRecvError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// Model M9b: two producers, each with a batch of two (`p * 10 + i`),
/// calling `try_send_many` until a call sends nothing (bounded patience:
/// three threads); the model
/// thread takes up to two per `try_recv_many` until `Disconnected`. Every
/// value exactly once (received or kept), per-producer order, and the items
/// of one `try_send_many` call that sent two are adjacent in what the
/// consumer received ("items from one call are consecutive in the ring").
#[test]
fn batches_two_producers_capacity_2() {
    model("batches_two_producers_capacity_2", 2, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        let tx0 = tx.clone();
        let spawn_producer = |tx: Sender<u32>, base: u32| {
            thread::spawn(move || {
                let mut batch = VecDeque::from([base, base + 1]);
                // Bounded patience: calls until one sends nothing.
                let mut runs = Vec::new(); // sizes of the successful calls
                while !batch.is_empty() {
                    match tx.try_send_many(&mut batch) {
                        0 => break,
                        n => runs.push(n),
                    }
                }
                (runs, batch)
            })
        };
        let p0 = spawn_producer(tx0, 0);
        let p1 = spawn_producer(tx, 10);
        let mut got = Vec::new();
        loop {
            match rx.try_recv_many(&mut got, 2) {
                Ok(_) => {}
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        for (base, producer) in [(0u32, p0), (10, p1)] {
            let (runs, kept) = producer.join().unwrap();
            let kept = Vec::from(kept);
            let mut mine: Vec<u32> = got.iter().copied().filter(|v| v / 10 == base / 10).collect();
            mine.extend(&kept);
            assert_eq!(mine, [base, base + 1], "producer {base}: received in order, then kept; got {got:?}");
            if runs == [2] {
                let at = got.iter().position(|&v| v == base).unwrap();
                assert_eq!(got[at + 1], base + 1, "one call's items are consecutive: {got:?}");
            }
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// Model M9c (soundness review, "also fix"): a sender publishes one item and
/// drops while the model thread polls `try_recv_many` until it reports
/// `Disconnected`. The item must be received: `try_recv_many` claims once
/// more after it sees no senders, as `try_recv` does. (Its old contract — 0
/// for "nothing", then `is_disconnected()` to tell why — lost the item when
/// the send and the drop fell between the two calls.)
#[test]
fn try_recv_many_never_reports_disconnected_over_a_queued_item() {
    model("try_recv_many_disconnected_after_last_send", 3, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        let sender = thread::spawn(move || {
            tx.try_send(7).unwrap();
        });
        let mut got = Vec::new();
        loop {
            match rx.try_recv_many(&mut got, 2) {
                Ok(n) => assert_eq!(n, 1),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        assert_eq!(got, [7], "the item sent before the last sender dropped");
        sender.join().unwrap();
    });
}
