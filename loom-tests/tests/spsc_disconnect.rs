//! Disconnection models of the SPSC ring: a handle drops while the other
//! side is sending / receiving / blocked, with items in flight.
//!
//! Payloads are `common::Item`s: each records its drops in a ledger of loom
//! atomics, and holds a loom `Arc`, so loom's leak check catches an item
//! that is never dropped and the ledger catches one dropped twice. The
//! channel's shared state is itself a loom `Arc`, so a leaked ring is
//! reported too.
//!
//! SPSC rings here have exact buffers (`__segment_slots(capacity)`), so that their few
//! items wrap; see `spsc_fifo.rs` for why, and for the models of the default slack.
#![cfg(loom)]

mod common;

use common::{model, model_parks, yield_times, Item, Ledger, SpscLayout};
use loom::thread;
use ringflow::{Builder, RecvError, SendError, TryRecvError, TrySendError, WaitStrategy};

/// Model 2: the producer sends three items through capacity 2 and drops
/// while the consumer is receiving. The consumer must get every value, in
/// order, and only then `Disconnected`; every item is dropped once.
#[test]
fn producer_drop_while_receiving() {
    model("producer_drop_while_receiving", 4, || {
        let ledger = Ledger::new(3);
        let (mut tx, mut rx) = Builder::new(2)
            .wait_strategy(WaitStrategy::SpinYield)
            .__segment_slots(2)
            .spsc_with_layout::<Item, SpscLayout>();
        let items: Vec<Item> = (0..3).map(|i| ledger.item(i)).collect();
        let producer = thread::spawn(move || {
            for item in items {
                // `send` on a SpinYield channel: its waiting loop yields to
                // loom while the ring is full.
                assert!(tx.send(item).is_ok(), "consumer is alive");
            }
            drop(tx);
        });
        let mut got = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(item) => got.push(item.id),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        assert_eq!(got, [0, 1, 2], "every value, in order, before Disconnected");
        assert!(rx.is_disconnected());
        producer.join().unwrap();
        drop(rx);
        ledger.assert_each_dropped_once();
    });
}

/// Model 3: the consumer takes at most one item and drops while the producer
/// is sending four through capacity 2. Every value the producer gets back
/// must be the one it tried to send (`Disconnected(v)` hands it back), once
/// it sees `Disconnected` it keeps seeing it, and every item — received,
/// handed back, or still queued when the last handle drops — is dropped
/// exactly once. Capacity 2 makes the consumer's slot index matter: after
/// one receive the queued items sit in slots 1 and 0 (wrapped), which the
/// last handle must find through the `head_idx` the consumer left behind.
#[test]
fn consumer_drop_while_sending() {
    model("consumer_drop_while_sending", 4, || {
        let ledger = Ledger::new(4);
        let (mut tx, mut rx) = Builder::new(2)
            .wait_strategy(WaitStrategy::SpinYield)
            .__segment_slots(2)
            .spsc_with_layout::<Item, SpscLayout>();
        let items: Vec<Item> = (0..4).map(|i| ledger.item(i)).collect();
        let producer = thread::spawn(move || {
            let mut disconnected = false;
            for item in items {
                let id = item.id;
                let mut v = item;
                loop {
                    match tx.try_send(v) {
                        Ok(()) => {
                            assert!(!disconnected, "a send succeeded after Disconnected");
                            break;
                        }
                        Err(TrySendError::Full(back)) => {
                            assert_eq!(back.id, id);
                            v = back;
                            thread::yield_now();
                        }
                        Err(TrySendError::Disconnected(back)) => {
                            assert_eq!(back.id, id, "Disconnected hands back the value that was sent");
                            disconnected = true;
                            drop(back);
                            break;
                        }
                    }
                }
            }
            assert!(disconnected, "capacity 2 and at most one receive: the fourth send cannot succeed");
            assert!(tx.is_disconnected());
        });
        if let Ok(item) = rx.try_recv() {
            assert_eq!(item.id, 0, "FIFO");
        }
        drop(rx);
        producer.join().unwrap();
        ledger.assert_each_dropped_once();
    });
}

/// Model 6: a `recv` blocked on an empty `Park` channel is woken by the
/// producer dropping, after the producer has sent one item: the consumer
/// gets the item, then `RecvError` — never a hang (loom reports a deadlock if
/// the wake-up is lost). The consumer is the main thread and the producer a
/// spawned thread that yields first, so the consumer can be parked when
/// each of the producer's actions lands (see `common::yield_times`).
#[test]
fn blocked_recv_woken_by_producer_drop() {
    model_parks("blocked_recv_woken_by_producer_drop", 4, || {
        let ledger = Ledger::new(1);
        let (mut tx, mut rx) =
            Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc_with_layout::<Item, SpscLayout>();
        let item = ledger.item(0);
        let producer = thread::spawn(move || {
            yield_times(2);
            assert!(tx.try_send(item).is_ok());
            yield_times(2);
            drop(tx);
        });
        assert_eq!(rx.recv().map(|item| item.id), Ok(0));
        assert_eq!(rx.recv().map(|item| item.id), Err(RecvError));
        producer.join().unwrap();
        let parks = rx.stats().parks;
        drop(rx);
        ledger.assert_each_dropped_once();
        parks
    });
}

/// Model 6b: the smallest form — the producer drops without sending; the
/// blocked `recv` must return `RecvError`.
#[test]
fn blocked_recv_woken_by_producer_drop_empty() {
    model_parks("blocked_recv_woken_by_producer_drop_empty", 4, || {
        let (tx, mut rx) =
            Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc_with_layout::<u32, SpscLayout>();
        let producer = thread::spawn(move || {
            yield_times(2);
            drop(tx);
        });
        assert_eq!(rx.recv(), Err(RecvError));
        producer.join().unwrap();
        rx.stats().parks
    });
}

/// Model 7: a `send` blocked on a full capacity-1 `Park` channel is woken by
/// the consumer dropping without receiving: it returns `SendError` with the
/// very value it was given; the queued item is dropped by the last handle.
#[test]
fn blocked_send_woken_by_consumer_drop() {
    model_parks("blocked_send_woken_by_consumer_drop", 4, || {
        let ledger = Ledger::new(2);
        let (mut tx, rx) =
            Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc_with_layout::<Item, SpscLayout>();
        assert!(tx.try_send(ledger.item(0)).is_ok());
        let consumer = thread::spawn(move || {
            yield_times(2);
            drop(rx);
        });
        match tx.send(ledger.item(1)) {
            Err(SendError(back)) => assert_eq!(back.id, 1, "the value is handed back"),
            Ok(()) => panic!("the ring stayed full, the send cannot succeed"),
        }
        consumer.join().unwrap();
        let parks = tx.stats().parks;
        drop(tx);
        ledger.assert_each_dropped_once();
        parks
    });
}
