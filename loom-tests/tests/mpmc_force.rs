//! `force_send` racing receives on the MPMC ring: every value is either
//! received once or handed back once as evicted, never both, never lost.
//!
//! `force_send` evicts by claiming the oldest position itself (a CAS of
//! `head`, the same word a receiver CASes), so the race under test is a
//! receiver and an evicting sender both going for the oldest item: exactly
//! one of the two CASes may win. Payloads are `common::Item`s (drop-counted,
//! each holding a loom `Arc`), so an item moved out twice is seen as a double
//! drop and one never moved out as a leak.
#![cfg(loom)]

mod common;

use common::mpmc::{drain_with, send_with, Patience, BOUNDED};
use common::{model_covers, Item, Ledger};
use loom::thread;
use ringflow::{Builder, TryRecvError, WaitStrategy};

fn assert_increasing(ids: &[usize], what: &str) {
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{what} out of order: {ids:?}");
}

/// One sender `force_send`s items `0..items` into a ring of `capacity`
/// while the model thread `try_recv`s until `Disconnected`. Received and
/// evicted ids are each in send order, disjoint, and together every id;
/// every item is dropped exactly once; `stats().evictions` counts the
/// evictions. Returns whether this execution evicted (coverage).
fn force_send_vs_recv(capacity: usize, strategy: WaitStrategy, items: usize) -> bool {
    let ledger = Ledger::new(items);
    let (tx, rx) = Builder::new(capacity).wait_strategy(strategy).mpmc::<Item>();
    let to_send: Vec<Item> = (0..items).map(|i| ledger.item(i)).collect();
    let forcing = thread::spawn(move || {
        let mut evicted = Vec::new();
        for item in to_send {
            match tx.force_send(item) {
                Ok(None) => {}
                Ok(Some(old)) => evicted.push(old.id),
                Err(_) => panic!("the receiver is alive"),
            }
        }
        let evictions = tx.stats().evictions;
        (evicted, evictions)
    });
    let mut got = Vec::new();
    assert!(drain_with(&rx, Patience::Forever, &mut got));
    let received: Vec<usize> = got.iter().map(|item| item.id).collect();
    drop(got);
    let (evicted, evictions) = forcing.join().unwrap();
    assert_increasing(&received, "received");
    assert_increasing(&evicted, "evicted");
    let mut all: Vec<usize> = received.iter().chain(&evicted).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..items).collect::<Vec<_>>(),
        "each item received once or evicted once, never both: received {received:?}, evicted {evicted:?}"
    );
    assert_eq!(evictions, evicted.len() as u64);
    assert_eq!(rx.try_recv().map(|item| item.id), Err(TryRecvError::Disconnected));
    drop(rx);
    ledger.assert_each_dropped_once();
    !evicted.is_empty()
}

/// Model M3a: capacity 1, three `force_send`s against `try_recv`: each
/// send after the first either finds the slot free or evicts its occupant,
/// racing the receiver's claim of the same position.
#[test]
fn force_send_vs_recv_capacity_1() {
    model_covers("force_send_vs_recv_capacity_1", 4, "evicted an item", || {
        force_send_vs_recv(1, WaitStrategy::BusySpin, 3)
    });
}

/// Model M3b: capacity 2, four `force_send`s, on a `Park` channel: the
/// third and fourth evict when the receiver is slow; `force_send`'s wait for a
/// receiver that is mid-read of the oldest slot must not park (the model
/// would deadlock: nothing notifies that wait).
#[test]
fn force_send_vs_recv_capacity_2_park() {
    model_covers("force_send_vs_recv_capacity_2_park", 4, "evicted an item", || {
        force_send_vs_recv(2, WaitStrategy::Park, 4)
    });
}

/// Model M3c: capacity 1, a plain sender (item 0, bounded patience) and a
/// forcing sender (items 1 and 2) against a receiver (bounded patience,
/// then a final drain after both senders are joined). `force_send` may find
/// the oldest slot still being written by the plain sender (claimed, not
/// yet published) and must wait for it rather than evict a half-written
/// item. Every item exactly once across received, evicted and kept; the
/// forcing sender's items received in its order.
#[test]
fn force_send_two_senders_capacity_1() {
    model_covers("force_send_two_senders_capacity_1", 3, "evicted an item", || {
        let ledger = Ledger::new(3);
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::BusySpin).mpmc::<Item>();
        let tx0 = tx.clone();
        let first = ledger.item(0);
        let plain = thread::spawn(move || send_with(&tx0, first, BOUNDED).err().map(|item| item.id));
        let forced: Vec<Item> = (1..3).map(|i| ledger.item(i)).collect();
        let forcing = thread::spawn(move || {
            let mut evicted = Vec::new();
            for item in forced {
                if let Some(old) = tx.force_send(item).expect("the receiver is alive") {
                    evicted.push(old.id);
                }
            }
            evicted
        });
        let mut got = Vec::new();
        drain_with(&rx, BOUNDED, &mut got);
        let kept = plain.join().unwrap();
        let evicted = forcing.join().unwrap();
        assert!(drain_with(&rx, Patience::Forever, &mut got));
        let received: Vec<usize> = got.iter().map(|item| item.id).collect();
        drop(got);
        let forced_received: Vec<usize> = received.iter().copied().filter(|&id| id > 0).collect();
        assert_increasing(&forced_received, "the forcing sender's items");
        assert_increasing(&evicted, "evicted");
        let mut all: Vec<usize> = received.iter().chain(&evicted).chain(&kept).copied().collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2], "received {received:?}, evicted {evicted:?}, kept {kept:?}");
        drop(rx);
        ledger.assert_each_dropped_once();
        !evicted.is_empty()
    });
}

/// A sender blocked in `send` while a `force_send` eviction is in its window
/// (`head` moved, `tail` not yet) must be woken once there is room. Found by
/// the MPMC test helper: before the fix the eviction woke only receivers, so
/// with F = `force_send(2)`, R = one `try_recv` and S = `send(3)` on a full
/// capacity-2 ring, S could park for good with a free slot (loom:
/// `deadlock; threads = [(Id(0), Blocked), .., (Id(3), Blocked)]`).
#[test]
fn blocked_send_woken_after_force_send_eviction() {
    common::model("blocked_send_woken_after_force_send_eviction", 2, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let f_tx = tx.clone();
        let s_tx = tx.clone();
        drop(tx);
        let f = thread::spawn(move || {
            let evicted = f_tx.force_send(2).ok().unwrap();
            (f_tx, evicted)
        });
        let r = thread::spawn(move || {
            let got = rx.try_recv();
            (rx, got)
        });
        let s = thread::spawn(move || s_tx.send(3).is_ok());
        let (f_tx, evicted) = f.join().unwrap();
        let (rx, got) = r.join().unwrap();
        assert!(got.is_ok(), "the ring was full, so the receive finds an item");
        if evicted.is_none() {
            // R freed a slot before F, which then filled it without
            // evicting: the ring is full and S rightly waits for a receive.
            rx.try_recv().unwrap();
        }
        // Otherwise F evicted (no net change) and R removed one item: there
        // is room, and S must finish without any further receive.
        assert!(s.join().unwrap(), "the blocked send completes");
        drop((f_tx, rx));
    });
}
