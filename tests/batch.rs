//! The batch API: SPSC chunks and slice/iterator conveniences, MPMC
//! try_send_many / try_recv_many.

mod common;

// SAFETY (every `unsafe { .. }` around a `__claim_send` / `__claim_recv` test
// hook in this file): the guard it returns is finished or dropped, never leaked.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::SpscInLayout;
use ringflow::{Builder, TryRecvError, WaitStrategy};

/// Records every drop by id, so double drops and leaks show.
#[derive(Debug)]
struct Tracked {
    id: u32,
    log: Rc<RefCell<Vec<u32>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.borrow_mut().push(self.id);
    }
}

#[test]
fn write_chunk_grants_at_most_free_slots_and_wraps() {
    let (mut tx, mut rx) = ringflow::spsc::channel::<u32>(5);
    // Move the positions so the next chunk wraps around the buffer end
    // (a flat ring's buffer is a few slots longer than its capacity).
    let len = tx.__segment_len();
    assert!(len >= 5);
    let mut moved = 0;
    while moved < len - 2 {
        let n = (len - 2 - moved).min(3);
        assert_eq!(tx.send_slice(&[0, 1, 2][..n]), n);
        assert_eq!(rx.recv_into(&mut [0; 3][..n]), n);
        moved += n;
    }

    let mut chunk = tx.write_chunk_uninit(10);
    assert_eq!(chunk.len(), 5, "grants only the free slots");
    let (first, second) = chunk.as_mut_slices();
    assert_eq!((first.len(), second.len()), (2, 3), "the chunk wraps after the buffer's last index");
    for (i, slot) in first.iter_mut().chain(second.iter_mut()).enumerate() {
        slot.write(100 + i as u32);
    }
    // SAFETY: all five granted slots were written above.
    unsafe { chunk.commit_all() };
    assert!(tx.is_full());
    assert_eq!(tx.write_chunk_uninit(1).len(), 0);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [100, 101, 102, 103, 104]);
}

#[test]
fn partial_commit_publishes_only_the_prefix() {
    let (mut tx, mut rx) = ringflow::spsc::channel::<u64>(4);
    let mut chunk = tx.write_chunk_uninit(4);
    let (first, _) = chunk.as_mut_slices();
    first[0].write(7);
    first[1].write(8);
    // SAFETY: the first two slots were written.
    unsafe { chunk.commit(2) };
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(7));
    assert_eq!(rx.try_recv(), Ok(8));
    assert!(rx.try_recv().is_err());
    // An uncommitted chunk publishes nothing.
    {
        let mut chunk = tx.write_chunk_uninit(1);
        chunk.as_mut_slices().0[0].write(9);
    }
    assert!(rx.try_recv().is_err());
}

#[test]
#[should_panic(expected = "exceeds")]
fn commit_more_than_granted_panics() {
    let (mut tx, _rx) = ringflow::spsc::channel::<u8>(2);
    let chunk = tx.write_chunk_uninit(1);
    // SAFETY: not reached past the assertion inside `commit`.
    unsafe { chunk.commit(2) };
}

#[test]
fn write_chunk_on_disconnected_channel_grants_nothing() {
    let (mut tx, rx) = ringflow::spsc::channel::<u8>(4);
    drop(rx);
    assert!(tx.write_chunk_uninit(3).is_empty());
    assert_eq!(tx.send_slice(&[1, 2]), 0);
    let mut it = vec![1u8].into_iter();
    assert_eq!(tx.send_iter(&mut it), 0);
    assert_eq!(it.next(), Some(1), "an item that was not sent stays in the iterator");
}

#[test]
fn send_iter_never_pulls_items_it_cannot_send() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (mut tx, mut rx) = Builder::new(3).wait_strategy(WaitStrategy::SpinYield).spsc_t::<Tracked>();
    let mut items = (0..5).map(|id| Tracked { id, log: log.clone() });
    assert_eq!(tx.send_iter(&mut items), 3);
    assert!(log.borrow().is_empty(), "nothing dropped while sending");
    assert_eq!(items.next().map(|t| t.id), Some(3), "the 4th item was never pulled");
    let got: Vec<u32> = rx.try_iter().map(|t| t.id).collect();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(tx.send_iter(&mut items), 1);
    drop(items);
    drop((tx, rx));
    let mut dropped = log.borrow().clone();
    dropped.sort_unstable();
    assert_eq!(dropped, [0, 1, 2, 3, 4], "each item dropped exactly once");
}

#[test]
fn send_iter_publishes_what_was_written_when_the_iterator_panics() {
    let (mut tx, mut rx) = common::spsc_channel::<u32>(8);
    let mut n = 0;
    let mut items = std::iter::from_fn(|| {
        n += 1;
        assert!(n < 4, "iterator failure");
        Some(n)
    });
    let r = catch_unwind(AssertUnwindSafe(|| tx.send_iter(&mut items)));
    assert!(r.is_err());
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn read_chunk_release_drops_exactly_the_released_items() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (mut tx, mut rx) = ringflow::spsc::channel::<Tracked>(4);
    for id in 0..4 {
        tx.try_send(Tracked { id, log: log.clone() }).unwrap();
    }
    let chunk = rx.read_chunk(3);
    let (a, b) = chunk.as_slices();
    assert_eq!(a.iter().chain(b).map(|t| t.id).collect::<Vec<_>>(), [0, 1, 2]);
    chunk.release(2);
    assert_eq!(*log.borrow(), [0, 1]);
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.peek().map(|t| t.id), Some(2));
    // Room appeared for the producer after the release.
    assert_eq!(tx.len(), 2);
    drop(rx);
    drop(tx);
    let mut dropped = log.borrow().clone();
    dropped.sort_unstable();
    assert_eq!(dropped, [0, 1, 2, 3]);
}

#[test]
fn read_chunk_iterator_frees_only_taken_items() {
    let (mut tx, mut rx) = ringflow::spsc::channel::<String>(6);
    for s in ["a", "b", "c", "d"] {
        tx.send(s.to_string()).unwrap();
    }
    let mut it = rx.read_chunk(4).into_iter();
    assert_eq!(it.len(), 4);
    assert_eq!(it.next().as_deref(), Some("a"));
    assert_eq!(it.next().as_deref(), Some("b"));
    drop(it);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["c", "d"]);
}

struct PanicOnDrop {
    id: u32,
    dropped: Arc<AtomicUsize>,
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
        if self.id == 1 {
            panic!("drop of item 1");
        }
    }
}

#[test]
fn release_with_a_panicking_drop_drops_the_rest_once_and_frees_all() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = ringflow::spsc::channel::<PanicOnDrop>(4);
    for id in 0..4 {
        tx.try_send(PanicOnDrop { id, dropped: dropped.clone() }).unwrap();
    }
    let r = catch_unwind(AssertUnwindSafe(|| rx.read_chunk(3).release(3)));
    assert!(r.is_err());
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "items 0, 1, 2 each dropped once");
    assert_eq!(rx.len(), 1, "all three slots were freed");
    assert_eq!(rx.try_recv().map(|p| p.id).ok(), Some(3));
    assert_eq!(dropped.load(Ordering::SeqCst), 4);
    drop((tx, rx));
    assert_eq!(dropped.load(Ordering::SeqCst), 4, "no double drop at teardown");
}

#[test]
fn batched_transfer_between_threads_is_fifo() {
    let total: u64 = if cfg!(miri) { 500 } else { 1_000_000 };
    for strategy in [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park] {
        let (mut tx, mut rx) = Builder::new(100).wait_strategy(strategy).spsc_t::<u64>();
        let producer = thread::spawn(move || {
            let mut next = 0u64;
            let mut buf = [0u64; 37];
            while next < total {
                let n = (total - next).min(buf.len() as u64) as usize;
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = next + i as u64;
                }
                let mut sent = 0;
                while sent < n {
                    let k = tx.send_slice(&buf[sent..n]);
                    if k == 0 {
                        thread::yield_now();
                    }
                    sent += k;
                }
                next += n as u64;
            }
        });
        let mut expected = 0u64;
        let mut out = [0u64; 64];
        while expected < total {
            let n = rx.recv_into(&mut out);
            if n == 0 {
                thread::yield_now();
            }
            for v in &out[..n] {
                assert_eq!(*v, expected, "{strategy:?}");
                expected += 1;
            }
        }
        producer.join().unwrap();
        assert!(rx.try_recv().is_err());
    }
}

#[test]
fn batch_positions_cross_usize_max() {
    let (mut tx, mut rx) = Builder::new(7).__start_position(usize::MAX - 10).spsc_t::<u32>();
    let mut next = 0;
    let mut expected = 0;
    for _ in 0..20 {
        let batch: Vec<u32> = (next..next + 5).collect();
        let sent = tx.send_slice(&batch);
        next += sent as u32;
        let mut out = [0; 4];
        let got = rx.recv_into(&mut out);
        for v in &out[..got] {
            assert_eq!(*v, expected);
            expected += 1;
        }
        assert!(rx.len() <= 7);
    }
    assert!(expected > 50);
}

#[test]
fn mpmc_try_send_many_and_try_recv_many() {
    let (tx, rx) = ringflow::mpmc::channel::<u32>(5);
    let mut items: VecDeque<u32> = (0..8).collect();
    assert_eq!(tx.try_send_many(&mut items), 5);
    assert_eq!(items, [5, 6, 7]);
    assert_eq!(tx.try_send_many(&mut items), 0, "full");
    let mut out = Vec::new();
    assert_eq!(rx.try_recv_many(&mut out, 2), Ok(2));
    assert_eq!(out, [0, 1]);
    assert_eq!(tx.try_send_many(&mut items), 2);
    assert_eq!(items, [7]);
    assert_eq!(rx.try_recv_many(&mut out, usize::MAX), Ok(5));
    assert_eq!(out, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(rx.try_recv_many(&mut out, 3), Err(TryRecvError::Empty));
    assert_eq!(rx.try_recv_many(&mut out, 0), Ok(0), "max 0 takes nothing");
    tx.send(9).unwrap();
    assert_eq!(rx.try_recv_many(&mut out, 0), Ok(0), "max 0 takes nothing, even with an item");
    let tx2 = tx.clone();
    drop(tx2);
    assert_eq!(rx.try_recv_many(&mut out, 3), Ok(1), "one sender left");
    assert_eq!(out, [0, 1, 2, 3, 4, 5, 6, 9]);
    drop(rx);
    assert_eq!(tx.try_send_many(&mut items), 0, "disconnected");
    assert_eq!(items, [7], "the value is still the caller's");
}

#[test]
fn mpmc_batch_stops_at_a_slot_still_being_written() {
    let (tx, rx) = ringflow::mpmc::channel::<u32>(8);
    tx.send(1).unwrap();
    let pending = unsafe { tx.__claim_send(2) }.unwrap();
    tx.send(3).unwrap();
    let mut out = Vec::new();
    assert_eq!(rx.try_recv_many(&mut out, 8), Ok(1), "stops before the unpublished slot");
    assert_eq!(rx.try_recv_many(&mut out, 8), Err(TryRecvError::Empty), "does not wait for it either");
    pending.finish();
    assert_eq!(rx.try_recv_many(&mut out, 8), Ok(2));
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn mpmc_batches_under_contention_deliver_each_value_once_in_producer_order() {
    let producers: u64 = 3;
    let per: u64 = if cfg!(miri) { 100 } else { 100_000 };
    let (tx, rx) = Builder::new(16).wait_strategy(WaitStrategy::SpinYield).mpmc::<u64>();
    let mut handles = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        handles.push(thread::spawn(move || {
            let mut next = 0;
            let mut batch = VecDeque::new();
            while next < per || !batch.is_empty() {
                while batch.len() < 10 && next < per {
                    batch.push_back(p << 32 | next);
                    next += 1;
                }
                if tx.try_send_many(&mut batch) == 0 {
                    thread::yield_now();
                }
            }
        }));
    }
    drop(tx);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut out = Vec::new();
                let mut last = vec![None::<u64>; producers as usize];
                loop {
                    out.clear();
                    match rx.try_recv_many(&mut out, 7) {
                        Ok(_) => {}
                        Err(TryRecvError::Empty) => {
                            thread::yield_now();
                            continue;
                        }
                        Err(TryRecvError::Disconnected) => break,
                    }
                    for &v in &out {
                        let (p, k) = ((v >> 32) as usize, v & 0xffff_ffff);
                        assert!(last[p].map_or(true, |l| k > l), "per-producer order");
                        last[p] = Some(k);
                        seen.push(v);
                    }
                }
                seen
            })
        })
        .collect();
    drop(rx);
    for h in handles {
        h.join().unwrap();
    }
    let mut all: Vec<u64> = consumers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    let expected: Vec<u64> = (0..producers).flat_map(|p| (0..per).map(move |k| p << 32 | k)).collect();
    assert_eq!(all, expected, "every value exactly once");
}
