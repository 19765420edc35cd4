//! Try-path models of the SPSC ring: strict FIFO across wrap-around, and
//! send happens-before recv for a non-atomic payload.
//!
//! These use `BusySpin` channels, which never register sleepers or notify,
//! so the only synchronisation under test is the head/tail Release/Acquire
//! hand-over of `spsc.rs`. Every slot is a loom `UnsafeCell`, so on top of the
//! explicit assertions loom checks that the producer never writes a slot the
//! consumer may still read (and vice versa) — the wrap-around reuses slots.
#![cfg(loom)]

mod common;

use common::model;
use loom::cell::UnsafeCell;
use loom::thread;
use ringflow::{Builder, TryRecvError, TrySendError, WaitStrategy};

/// Producer thread pushes `0..items` with `try_send`, yielding on `Full`;
/// the model thread pops with `try_recv`, yielding on `Empty`, and checks
/// strict FIFO, then `Disconnected` once the producer is gone.
fn fifo(capacity: usize, start: usize, items: u32) {
    let (mut tx, mut rx) =
        Builder::new(capacity).wait_strategy(WaitStrategy::BusySpin).__start_position(start).spsc::<u32>();
    let producer = thread::spawn(move || {
        for i in 0..items {
            let mut v = i;
            loop {
                match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        assert_eq!(back, i, "Full must hand back the same value");
                        v = back;
                        thread::yield_now();
                    }
                    Err(TrySendError::Disconnected(_)) => panic!("consumer is alive"),
                }
            }
        }
    });
    let mut expected = 0;
    while expected < items {
        match rx.try_recv() {
            Ok(v) => {
                assert_eq!(v, expected, "strict FIFO");
                expected += 1;
            }
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(TryRecvError::Disconnected) => panic!("Disconnected before every item arrived"),
        }
    }
    producer.join().unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

/// Model 1a: capacity 1, three items — every send after the first reuses
/// slot 0 and has to wait for the consumer's `head` store.
#[test]
fn fifo_wrap_capacity_1() {
    model("fifo_wrap_capacity_1", 4, || fifo(1, 0, 3));
}

/// Model 1b: capacity 2, four items — two full laps of the ring.
#[test]
fn fifo_wrap_capacity_2() {
    model("fifo_wrap_capacity_2", 4, || fifo(2, 0, 4));
}

/// Model 1c: capacity 2, positions starting at `usize::MAX - 1`, three items:
/// `tail` and `head` overflow to 0 while items are in flight.
#[test]
fn fifo_wrap_across_usize_max() {
    model("fifo_wrap_across_usize_max", 4, || fifo(2, usize::MAX - 1, 3));
}

/// Model 8: send happens-before recv. The payload is a boxed loom
/// `UnsafeCell`, written (non-atomically, as far as loom is concerned) by the
/// producer before `try_send` and read by the consumer after `try_recv`. If
/// the tail store were not Release, or the consumer's load not Acquire, loom
/// would report a causality violation on the read. Two items through
/// capacity 1 also make the second write reuse the slot the consumer just
/// moved out of (head Release → producer Acquire).
#[test]
fn send_happens_before_recv() {
    model("send_happens_before_recv", 4, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::BusySpin).spsc::<Box<UnsafeCell<u64>>>();
        let producer = thread::spawn(move || {
            for i in 0..2u64 {
                let payload = Box::new(UnsafeCell::new(0));
                // SAFETY: the box is owned by this thread; nobody else can reach it yet.
                payload.with_mut(|p| unsafe { *p = 100 + i });
                let mut v = payload;
                loop {
                    match tx.try_send(v) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            v = back;
                            thread::yield_now();
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("consumer is alive"),
                    }
                }
            }
        });
        for i in 0..2u64 {
            let payload = loop {
                match rx.try_recv() {
                    Ok(p) => break p,
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Disconnected) => panic!("Disconnected before every item arrived"),
                }
            };
            // SAFETY: the consumer owns the box now; loom checks that the
            // producer's write happens-before this read.
            let v = payload.with(|p| unsafe { *p });
            assert_eq!(v, 100 + i);
        }
        producer.join().unwrap();
    });
}
