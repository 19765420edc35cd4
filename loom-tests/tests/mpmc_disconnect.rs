//! Disconnection models of the MPMC ring on `Park` channels: the *last*
//! handle of one side drops (after a clone of it already did) while a
//! thread of the other side is blocked, and must wake it.
//!
//! Same shape as the wake-up models (see `common::yield_times`): the
//! blocked thread is the model's main thread; the dropping threads are
//! spawned and yield twice first. Payloads are `common::Item`s, so an item
//! dropped twice (ledger) or never (loom's `Arc` leak check) is reported.
#![cfg(loom)]

mod common;

use common::{model_parks, yield_times, Item, Ledger};
use loom::thread;
use ringflow::{Builder, RecvError, SendError, WaitStrategy};

/// Model D1: two senders; one sends an item and drops, the other drops
/// without sending. The model thread's blocked `recv` gets the item and
/// then `RecvError` — the last drop, whichever thread it is on, must wake
/// it (loom reports a deadlock otherwise).
#[test]
fn last_sender_drop_wakes_receiver() {
    model_parks("last_sender_drop_wakes_receiver", 3, || {
        let ledger = Ledger::new(1);
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<Item>();
        let tx1 = tx.clone();
        let item = ledger.item(0);
        let a = thread::spawn(move || {
            yield_times(2);
            assert!(tx.try_send(item).is_ok());
            drop(tx);
        });
        let b = thread::spawn(move || {
            yield_times(2);
            drop(tx1);
        });
        assert_eq!(rx.recv().map(|item| item.id), Ok(0));
        assert_eq!(rx.recv().map(|item| item.id), Err(RecvError));
        assert!(rx.is_disconnected());
        a.join().unwrap();
        b.join().unwrap();
        let parks = rx.stats().parks;
        drop(rx);
        ledger.assert_each_dropped_once();
        parks
    });
}

/// Model D1b: the smallest form — two senders drop without sending; the
/// blocked `recv` must return `RecvError`.
#[test]
fn last_sender_drop_wakes_receiver_empty() {
    model_parks("last_sender_drop_wakes_receiver_empty", 3, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        let tx1 = tx.clone();
        let a = thread::spawn(move || {
            yield_times(2);
            drop(tx);
        });
        let b = thread::spawn(move || {
            yield_times(2);
            drop(tx1);
        });
        assert_eq!(rx.recv(), Err(RecvError));
        a.join().unwrap();
        b.join().unwrap();
        rx.stats().parks
    });
}

/// Model D2: capacity 1, full; two receivers drop without receiving. The
/// model thread's blocked `send` must be woken by the last drop and return
/// `SendError` with its own value; the queued item is dropped exactly once,
/// by the last handle.
#[test]
fn last_receiver_drop_wakes_sender() {
    model_parks("last_receiver_drop_wakes_sender", 3, || {
        let ledger = Ledger::new(2);
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<Item>();
        assert!(tx.try_send(ledger.item(0)).is_ok());
        let rx1 = rx.clone();
        let a = thread::spawn(move || {
            yield_times(2);
            drop(rx);
        });
        let b = thread::spawn(move || {
            yield_times(2);
            drop(rx1);
        });
        match tx.send(ledger.item(1)) {
            Err(SendError(back)) => assert_eq!(back.id, 1, "the value is handed back"),
            Ok(()) => panic!("the ring stayed full, the send cannot succeed"),
        }
        assert!(tx.is_disconnected());
        a.join().unwrap();
        b.join().unwrap();
        let parks = tx.stats().parks;
        drop(tx);
        ledger.assert_each_dropped_once();
        parks
    });
}
