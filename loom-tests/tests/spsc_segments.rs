//! Models of the SPSC ring's segmented storage (`src/spsc/segment.rs`):
//! the producer closes its segment (`end`, then `next` with Release) and
//! continues in a new one; the consumer clamps what it reads to `end`,
//! follows `next` and frees the segment it left. Segments of 1 slot
//! (`Builder::__segment_slots(1)`) make every few items a hand-over.
//!
//! Every slot is a loom `UnsafeCell`, and the payload of S1 is one too, so
//! besides the assertions loom checks that no slot is read before it is
//! written (or written while it may be read) across a hand-over.
#![cfg(loom)]

mod common;

use common::model;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringflow::{Builder, TryRecvError, TrySendError, WaitStrategy};

fn send_spin<T>(tx: &mut ringflow::spsc::Producer<T>, mut v: T) {
    loop {
        match tx.try_send(v) {
            Ok(()) => return,
            Err(TrySendError::Full(back)) => {
                v = back;
                thread::yield_now();
            }
            Err(TrySendError::Disconnected(_)) => panic!("consumer is alive"),
        }
    }
}

/// Model S1: capacity 3, segments from 1 slot, three items whose payload is
/// a non-atomic cell written before the send: item 0 in the first segment
/// (1 slot), items 1 and 2 in the second (2 slots). The consumer must read
/// each in order, through the hand-over, with the write visible.
#[test]
fn segment_hand_over_fifo() {
    model("segment_hand_over_fifo", 3, || {
        let (mut tx, mut rx) =
            Builder::new(3).wait_strategy(WaitStrategy::BusySpin).__segment_slots(1).spsc::<Box<UnsafeCell<u64>>>();
        let producer = thread::spawn(move || {
            for i in 0..3u64 {
                let payload = Box::new(UnsafeCell::new(0));
                // SAFETY: owned by this thread until sent.
                payload.with_mut(|p| unsafe { *p = 100 + i });
                send_spin(&mut tx, payload);
            }
        });
        let mut next = 0u64;
        while next < 3 {
            match rx.try_recv() {
                Ok(v) => {
                    // SAFETY: received, so owned by this thread.
                    let got = v.with(|p| unsafe { *p });
                    assert_eq!(got, 100 + next, "strict FIFO across segments");
                    next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => panic!("Disconnected before every item arrived"),
            }
        }
        producer.join().unwrap();
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
    });
}

/// Model S2: capacity 2, segments from 1 slot. The producer sends two items
/// (the second opens a segment) and drops; the consumer takes at most one
/// and drops, racing the producer. Each item is dropped exactly once, by
/// whoever ends up owning it: the consumer, or the last handle's walk over
/// the segments left.
#[test]
fn drop_across_segments_races_the_producer() {
    model("drop_across_segments_races_the_producer", 3, || {
        let drops = Arc::new(AtomicUsize::new(0));
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (mut tx, mut rx) =
            Builder::new(2).wait_strategy(WaitStrategy::BusySpin).__segment_slots(1).spsc::<Counted>();
        let d = drops.clone();
        let producer = thread::spawn(move || {
            for _ in 0..2 {
                // A value refused because the consumer is gone comes back
                // in the error and is dropped here: still exactly once.
                let mut v = Counted(d.clone());
                while let Err(TrySendError::Full(back)) = tx.try_send(v) {
                    v = back;
                    thread::yield_now();
                }
            }
        });
        // Take one item if it is there, twice at most.
        for _ in 0..2 {
            if let Ok(v) = rx.try_recv() {
                drop(v);
                break;
            }
            thread::yield_now();
        }
        drop(rx);
        producer.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 2, "every item dropped exactly once");
    });
}

/// Model S3: the consumer drains while the producer grows and then, with
/// the queue empty, keeps writing: capacity 4, segments from 1 slot, four
/// items through segments of 1, 2 and 4 slots, the consumer taking each as
/// it comes. The segment the consumer frees is never one the producer
/// still writes (loom would report the freed cell accessed, or the values
/// would come out wrong).
#[test]
fn consumer_frees_while_producer_writes() {
    model("consumer_frees_while_producer_writes", 2, || {
        let (mut tx, mut rx) = Builder::new(4).wait_strategy(WaitStrategy::BusySpin).__segment_slots(1).spsc::<u32>();
        let producer = thread::spawn(move || {
            for i in 0..4 {
                send_spin(&mut tx, i);
            }
        });
        let mut next = 0;
        while next < 4 {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => panic!("Disconnected early"),
            }
        }
        producer.join().unwrap();
    });
}
