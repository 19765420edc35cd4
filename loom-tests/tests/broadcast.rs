//! Models of the broadcast ring (`ringflow::broadcast`): a Block sender
//! woken by its slowest receiver, a Block sender woken because the receiver
//! it waits on is dropped, the Lossy overwrite racing a receiver's `clone`
//! (loom tracks every access to the slot's `UnsafeCell`, so a clone of a
//! value being overwritten is a reported race), and a receiver cloned while
//! the Lossy sender evicts.
//!
//! Every model runs on both slot layouts (plain: receivers learn what is
//! published from `tail`; stamped: from a stamp in each slot).
//!
//! Shaped like `mpmc_wake.rs` (see `common::yield_times`): the waiter runs on
//! the model's main thread, the notifier is a spawned thread that yields
//! twice before it acts, and spawned threads hand their handles back through
//! `join` unless dropping one is the point of the model.
#![cfg(loom)]

mod common;

use common::{model_covers, model_parks, yield_times};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringflow::broadcast::TryRecvError;
use ringflow::{Builder, WaitStrategy};

/// A model's name with the slot layout it ran on: every model runs once on
/// each (`Builder::__broadcast_stamps`; `broadcast/mod.rs`, "Two slot
/// layouts"), whatever its payload's size would choose.
fn layout(name: &str, stamps: bool) -> String {
    format!("{name} ({})", if stamps { "stamped slots" } else { "plain slots" })
}

/// Model B1: Block, `Park`, capacity 1, two receivers. Item 0 is queued and
/// the fast receiver has read it; the slow one has not, so the model
/// thread's `send(1)` waits. A spawned thread lets the slow receiver read
/// item 0, and its notify must wake the sender. Both receivers then get 1.
#[test]
fn blocked_send_woken_by_slowest_receiver() {
    for stamps in [false, true] {
        model_parks(&layout("broadcast_blocked_send_woken_by_slowest_receiver", stamps), 4, move || {
            let (mut tx, mut fast) =
                Builder::new(1).wait_strategy(WaitStrategy::Park).__broadcast_stamps(stamps).broadcast::<u32>();
            let mut slow = fast.clone();
            tx.try_send(0).unwrap();
            assert_eq!(fast.try_recv(), Ok(0));
            let reader = thread::spawn(move || {
                yield_times(2);
                assert_eq!(slow.try_recv(), Ok(0));
                slow
            });
            tx.send(1).unwrap();
            let mut slow = reader.join().unwrap();
            assert_eq!(slow.try_recv(), Ok(1));
            assert_eq!(fast.try_recv(), Ok(1));
            tx.stats().parks
        });
    }
}

/// Model B2: as B1, but the spawned thread drops the slow receiver instead
/// of reading: a dropped receiver releases its hold at once and wakes the
/// sender waiting on it. The fast receiver (still alive, so this is not the
/// last-receiver disconnection path) gets 1.
#[test]
fn blocked_send_woken_by_receiver_drop() {
    for stamps in [false, true] {
        model_parks(&layout("broadcast_blocked_send_woken_by_receiver_drop", stamps), 4, move || {
            let (mut tx, mut fast) =
                Builder::new(1).wait_strategy(WaitStrategy::Park).__broadcast_stamps(stamps).broadcast::<u32>();
            let slow = fast.clone();
            tx.try_send(0).unwrap();
            assert_eq!(fast.try_recv(), Ok(0));
            let dropper = thread::spawn(move || {
                yield_times(2);
                drop(slow);
            });
            tx.send(1).unwrap();
            dropper.join().unwrap();
            assert_eq!(fast.try_recv(), Ok(1));
            tx.stats().parks
        });
    }
}

/// A payload whose originals record their drops, so that the model can
/// check that every sent item is dropped exactly once (clones are counted
/// apart). Holds a loom `Arc`: a leaked item is reported by loom.
struct Item {
    id: usize,
    original: bool,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Clone for Item {
    fn clone(&self) -> Self {
        Item { id: self.id, original: false, drops: self.drops.clone() }
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        if self.original {
            self.drops[self.id].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A receiver's view of a Lossy run: ids received and items missed.
#[derive(Default, Debug)]
struct Seen {
    ids: Vec<usize>,
    missed: u64,
}

impl Seen {
    /// One `try_recv`; `false` on `Empty` / `Disconnected`.
    fn poll(&mut self, rx: &mut ringflow::broadcast::Receiver<Item>) -> Result<(), TryRecvError> {
        match rx.try_recv() {
            Ok(item) => {
                self.ids.push(item.id);
                Ok(())
            }
            Err(TryRecvError::Lagged(n)) => {
                self.missed += n;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// After `Disconnected`: ids strictly increasing, and received + missed
    /// = every item sent, exactly.
    fn check(&self, sent: usize) {
        assert!(self.ids.windows(2).all(|w| w[0] < w[1]), "out of order: {self:?}");
        assert_eq!(self.ids.len() as u64 + self.missed, sent as u64, "received + missed = sent: {self:?}");
    }
}

/// Model B3: Lossy, capacity 1, `BusySpin` (the sender never parks in
/// Lossy mode). The model thread sends items 0, 1, 2 — each send after the
/// first overwrites the only slot — while a spawned receiver polls. A clone
/// of a value the sender is replacing would be a concurrent read and write
/// of the slot's `UnsafeCell` (loom reports it), and a clone of a dropped
/// value would read a dropped item. Afterwards: per receiver, ids in order
/// and received + missed = 3; every item dropped exactly once. Coverage:
/// some execution must have reported `Lagged`.
#[test]
fn lossy_overwrite_racing_clone() {
    for stamps in [false, true] {
        model_covers(&layout("broadcast_lossy_overwrite_racing_clone", stamps), 4, "reported Lagged", move || {
            let drops = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
            let item = |id| Item { id, original: true, drops: drops.clone() };
            let (mut tx, mut rx) = Builder::new(1)
                .wait_strategy(WaitStrategy::BusySpin)
                .__broadcast_stamps(stamps)
                .broadcast_lossy::<Item>();
            let receiver = thread::spawn(move || {
                let mut seen = Seen::default();
                for _ in 0..3 {
                    let _ = seen.poll(&mut rx);
                }
                (seen, rx)
            });
            for id in 0..3 {
                tx.try_send(item(id)).unwrap_or_else(|_| panic!("a lossy send never fails with a receiver"));
            }
            let (mut seen, mut rx) = receiver.join().unwrap();
            drop(tx);
            while seen.poll(&mut rx) != Err(TryRecvError::Disconnected) {}
            seen.check(3);
            let lagged = seen.missed > 0;
            drop(rx);
            for (id, n) in drops.iter().enumerate() {
                assert_eq!(n.load(Ordering::Relaxed), 1, "item {id} dropped {} times", n.load(Ordering::Relaxed));
            }
            lagged
        });
    }
}

/// Model B4: Lossy, capacity 1: a receiver that has not read anything is
/// cloned on a spawned thread while the model thread sends 0, 1, 2 (each
/// send evicting whoever sits at the overwritten position). The clone must
/// start at the original's position (or inherit its eviction) and never be
/// missed by the sender's eviction scan (see "Joining while the sender
/// rescans" in `broadcast/mod.rs`): both receivers then account for every
/// item, and no clone races an overwrite.
#[test]
fn lossy_clone_while_evicting() {
    for stamps in [false, true] {
        model_covers(&layout("broadcast_lossy_clone_while_evicting", stamps), 4, "reported Lagged", move || {
            let drops = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
            let item = |id| Item { id, original: true, drops: drops.clone() };
            let (mut tx, rx) = Builder::new(1)
                .wait_strategy(WaitStrategy::BusySpin)
                .__broadcast_stamps(stamps)
                .broadcast_lossy::<Item>();
            let cloner = thread::spawn(move || {
                let mut twin = rx.clone();
                let mut seen = Seen::default();
                let _ = seen.poll(&mut twin);
                (rx, twin, seen)
            });
            for id in 0..3 {
                tx.try_send(item(id)).unwrap_or_else(|_| panic!("a lossy send never fails with a receiver"));
            }
            let (mut rx, mut twin, mut twin_seen) = cloner.join().unwrap();
            drop(tx);
            let mut seen = Seen::default();
            while seen.poll(&mut rx) != Err(TryRecvError::Disconnected) {}
            while twin_seen.poll(&mut twin) != Err(TryRecvError::Disconnected) {}
            seen.check(3);
            twin_seen.check(3);
            let lagged = seen.missed > 0 || twin_seen.missed > 0;
            drop((rx, twin));
            for (id, n) in drops.iter().enumerate() {
                assert_eq!(n.load(Ordering::Relaxed), 1, "item {id} dropped {} times", n.load(Ordering::Relaxed));
            }
            lagged
        });
    }
}

/// Model B5: Block, `Park`, capacity 1: the model thread's `recv` waits on
/// its own sleeper registry; a spawned sender's one `try_send` must wake
/// it — through the sender's snapshot of the registry, which it refreshes
/// after its light barrier (the receiver joined after the sender was built,
/// by `clone`, so a stale snapshot would miss it).
#[test]
fn blocked_recv_woken_by_send() {
    for stamps in [false, true] {
        model_parks(&layout("broadcast_blocked_recv_woken_by_send", stamps), 4, move || {
            let (mut tx, rx) =
                Builder::new(1).wait_strategy(WaitStrategy::Park).__broadcast_stamps(stamps).broadcast::<u32>();
            let mut twin = rx.clone();
            drop(rx);
            let sender = thread::spawn(move || {
                yield_times(2);
                tx.try_send(7).unwrap();
                tx
            });
            assert_eq!(twin.recv(), Ok(7));
            let _tx = sender.join().unwrap();
            twin.stats().parks
        });
    }
}
