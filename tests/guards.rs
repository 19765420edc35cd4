//! Every guard type of the crate, leaked (`mem::forget`) and dropped at every
//! point of its life: a leak may delay the release of slots, never expose a
//! value that was moved out or dropped; a drop at any point leaves each item
//! either received once or still queued, and dropped exactly once in the end.
//!
//! Guards covered: the SPSC `ReadChunkIntoIter`, `ReadChunk`,
//! `WriteChunkUninit` (and the publishing guard inside `fill_from_iter`,
//! through a panicking iterator), `ReadChunk::release` with a panicking
//! `Drop`, and the MPMC test-hook guards `PendingSend` / `PendingRecv`
//! (dropped at every point only: leaking them is excluded by the `unsafe`
//! contract of `__claim_send` / `__claim_recv`).
//!
//! All of them run under Miri (`scripts/check.sh miri`), which turns a read of
//! a moved-out slot into a reported error even where the counts would not.
//! The SPSC guards run on the default layout here, and on the stamped one
//! with feature `__test-spsc-stamped` (`scripts/check.sh spsc-stamped`; the
//! stamped guards under Miri: `stamped_chunk_guards_*` in `tests/spsc.rs`).

mod common;

// SAFETY (every `unsafe { .. }` around a `__claim_send` / `__claim_recv` test
// hook in this file): the guard it returns is finished or dropped, never leaked.
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{PanicOnce, Tracker};
use ringflow::TryRecvError;

/// The reproduction from the soundness review: a leaked chunk iterator must
/// not let the consumer receive a value it already moved out.
#[test]
fn leaked_read_chunk_iterator_never_exposes_a_moved_out_value() {
    let t = Tracker::new(2);
    let (mut tx, mut rx) = common::spsc_channel(4);
    tx.send(t.item(0)).unwrap();
    tx.send(t.item(1)).unwrap();
    let mut it = rx.read_chunk(2).into_iter();
    drop(it.next());
    mem::forget(it);
    t.assert_dropped_once([0]);
    let next = rx.try_recv().expect("item 1 is still queued");
    assert_eq!(next.id(), 1, "the consumer must not see item 0 again");
    drop(next);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    drop((tx, rx));
    t.assert_dropped_once([0, 1]);
    assert_eq!(t.total(), 2);
}

/// A consumer that polls only the batch forms after leaking an iterator
/// that took every queued item: the first poll that finds the ring empty
/// publishes the position the iterator reached, so a producer waiting for
/// room is not left waiting (found by a review: only `try_recv` and `peek`
/// published it, and `read_chunk` / `recv_into` pollers stalled the
/// producer for good).
#[test]
fn leaked_iterator_then_batch_polls_free_the_room() {
    let (mut tx, mut rx) = common::spsc_channel::<u32>(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut it = rx.read_chunk(2).into_iter();
    assert_eq!((it.next(), it.next()), (Some(1), Some(2)));
    mem::forget(it);
    assert!(tx.try_send(3).is_err(), "the leaked iterator's position is not published yet");
    assert!(rx.read_chunk(8).is_empty());
    assert_eq!(tx.try_send(3), Ok(()), "the empty batch poll published it");
    let mut out = [0u32; 4];
    assert_eq!(rx.recv_into(&mut out), 1);
    assert_eq!(out[0], 3);
    assert!(rx.read_chunk(8).into_iter().next().is_none());
    drop((tx, rx));
}

/// Leak the iterator after `k` of `n` items, for every `k`, then let the
/// handles drop with the rest still queued (the ring's own drop must start
/// after the items the iterator took, though their slots were never
/// published free), or keep using the ring first.
#[test]
fn read_chunk_iterator_leaked_at_every_point() {
    let n = 5;
    for keep_using in [false, true] {
        for k in 0..=n {
            let t = Tracker::new(n + 1);
            let (mut tx, mut rx) = common::spsc_channel(n);
            for id in 0..n {
                tx.send(t.item(id)).unwrap();
            }
            let mut it = rx.read_chunk(n).into_iter();
            for id in 0..k {
                assert_eq!(it.next().map(|v| v.id()), Some(id));
            }
            mem::forget(it);
            t.assert_dropped_once(0..k);
            t.assert_not_dropped(k..n);
            if keep_using {
                // The producer may not see the freed slots yet (release is
                // delayed), but the consumer goes on from item k, and its
                // next operation publishes every slot taken so far.
                for id in k..n {
                    assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(id), "k = {k}");
                }
                assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
                tx.send(t.item(n)).unwrap();
                assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(n));
                assert_eq!(tx.len(), 0, "every slot is free again");
            }
            drop((tx, rx));
            t.assert_dropped_once(0..n);
            assert_eq!(t.total(), if keep_using { n + 1 } else { n }, "k = {k}");
        }
    }
}

/// Drop (not leak) the iterator after `k` items: the taken slots are freed,
/// the rest stay queued, nothing is dropped twice.
#[test]
fn read_chunk_iterator_dropped_at_every_point() {
    let n = 4;
    for k in 0..=n {
        let t = Tracker::new(n);
        let (mut tx, mut rx) = common::spsc_channel(n);
        for id in 0..n {
            tx.send(t.item(id)).unwrap();
        }
        let mut it = rx.read_chunk(n).into_iter();
        let taken: Vec<_> = (0..k).map(|_| it.next().unwrap()).collect();
        drop(it);
        assert_eq!(tx.len(), n - k, "k = {k}: the taken slots are free");
        drop(taken);
        t.assert_dropped_once(0..k);
        drop((tx, rx));
        t.assert_dropped_once(0..n);
    }
}

/// A leaked `ReadChunk` (neither released nor iterated) releases nothing.
/// (It has no `Drop` today, so forgetting it is dropping it; the test keeps
/// that true if a `Drop` is ever added.)
#[test]
#[allow(clippy::forget_non_drop)]
fn leaked_read_chunk_leaves_every_item_queued() {
    let t = Tracker::new(3);
    let (mut tx, mut rx) = common::spsc_channel(3);
    for id in 0..3 {
        tx.send(t.item(id)).unwrap();
    }
    let chunk = rx.read_chunk(2);
    assert_eq!(chunk.iter().count(), 2);
    mem::forget(chunk);
    assert_eq!(t.total(), 0);
    assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(0));
    drop((tx, rx));
    t.assert_dropped_once(0..3);
}

/// `release(n)` where the `Drop` of item `p` panics, for every `p`: every
/// released item is dropped once, the slots are freed, later items stay.
#[test]
fn read_chunk_release_with_a_panicking_drop_at_every_point() {
    let n = 4;
    for p in 0..n {
        let t = Tracker::new(n + 1);
        let (mut tx, mut rx) = common::spsc_channel(n + 1);
        for id in 0..=n {
            let item = if id == p { t.panicking_item(id) } else { t.item(id) };
            tx.send(item).unwrap();
        }
        let chunk = rx.read_chunk(n);
        let result = catch_unwind(AssertUnwindSafe(|| chunk.release(n)));
        assert!(result.is_err(), "p = {p}: the panic propagates");
        t.assert_dropped_once(0..n);
        assert_eq!(tx.len(), 1, "p = {p}: all {n} slots were freed");
        assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(n));
        drop((tx, rx));
        t.assert_dropped_once(0..=n);
    }
}

/// A leaked `WriteChunkUninit` publishes nothing, and whatever was written
/// into it is leaked, not dropped (documented); the ring stays usable.
/// (No `Drop` today either; as above. The payload owns no heap memory, so
/// the documented leak is not a leak Miri reports.)
#[test]
#[allow(clippy::forget_non_drop)]
fn leaked_write_chunk_publishes_nothing() {
    static DROPS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
    let item = |id| PanicOnce::new(&DROPS, id, false);
    let (mut tx, mut rx) = common::spsc_channel(2);
    let mut chunk = tx.write_chunk_uninit(2);
    chunk.get_mut(0).unwrap().write(item(0));
    mem::forget(chunk);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    tx.send(item(1)).unwrap();
    tx.send(item(2)).unwrap();
    drop(rx.try_recv());
    drop((tx, rx));
    let drops: Vec<usize> = DROPS.iter().map(|d| d.load(Ordering::SeqCst)).collect();
    assert_eq!(drops, [0, 1, 1], "an uncommitted value is leaked, never dropped; the others once");
}

/// `fill_from_iter` with an iterator that panics after `k` items, for every
/// `k`: the `k` items written are published (its internal guard), none lost.
#[test]
fn fill_from_iter_with_an_iterator_panicking_at_every_point() {
    let n = 4;
    for k in 0..=n {
        let t = Tracker::new(n);
        let (mut tx, mut rx) = common::spsc_channel(n);
        let mut next = 0;
        let mut iter = std::iter::from_fn(|| {
            if next == k {
                panic!("iterator panics after {k} items");
            }
            next += 1;
            Some(t.item(next - 1))
        });
        let result = catch_unwind(AssertUnwindSafe(|| tx.write_chunk_uninit(n).fill_from_iter(&mut iter)));
        if k < n {
            assert!(result.is_err());
        }
        assert_eq!(rx.len(), k, "k = {k}: the items written before the panic are published");
        for id in 0..k {
            assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(id));
        }
        drop((tx, rx));
        t.assert_dropped_once(0..k);
        assert_eq!(t.total(), k);
    }
}

/// The MPMC test-hook guards, dropped (not finished) and finished, at each
/// point relative to the other operations: a dropped `PendingSend` publishes
/// its value, a dropped `PendingRecv` drops its item and frees the slot.
#[test]
fn mpmc_pending_guards_dropped_or_finished() {
    for finish in [false, true] {
        let t = Tracker::new(4);
        let (tx, rx) = ringflow::mpmc::channel(2);
        let pending = unsafe { tx.__claim_send(t.item(0)) }.ok().expect("room");
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty), "claimed, not yet published");
        if finish {
            pending.finish();
        } else {
            drop(pending);
        }
        let claimed = unsafe { rx.__claim_recv() }.expect("item 0 is published");
        assert!(tx.try_send(t.item(1)).is_ok());
        assert!(tx.try_send(t.item(2)).is_err(), "the slot being read still counts");
        if finish {
            assert_eq!(claimed.finish().id(), 0);
        } else {
            drop(claimed);
        }
        t.assert_dropped_once([0]);
        assert!(tx.try_send(t.item(3)).is_ok(), "the slot was freed");
        drop((tx, rx));
        t.assert_dropped_once(0..4);
    }
}
