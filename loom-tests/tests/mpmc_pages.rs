//! Models of the MPMC ring's paged storage (`src/mpmc/pages.rs`): a
//! receiver retiring a page while a sender claims a position on that
//! page's next lap (the handshake on the page state and `tail`), and a
//! sender attaching a page while another sender needs the same one.
//!
//! Capacity 4 on two-slot pages (`__segment_slots(2)`): positions 0..4 in
//! lap 0, pages 0 (slots 0, 1) and 1 (slots 2, 3); the next lap starts at 8
//! (`one_lap` is 8). `BusySpin` channels: under loom both sides of the
//! handshake are `fence(SeqCst)` (see `sync.rs`).
#![cfg(loom)]

mod common;

use common::mpmc::{send_with, Patience, BOUNDED};
use common::{model_covers, model_covers_all};
use loom::sync::Arc;
use loom::thread;
use ringflow::__test_hooks::FreeList;
use ringflow::mpmc::{Receiver, Sender};
use ringflow::{Builder, WaitStrategy};
use std::sync::atomic::{AtomicBool as StdAtomicBool, Ordering::SeqCst};

/// The ring of every model here: capacity 4 on two-slot pages.
fn paged_ring() -> (Sender<u32>, Receiver<u32>) {
    Builder::new(4).wait_strategy(WaitStrategy::BusySpin).__segment_slots(2).mpmc::<u32>()
}

/// [`paged_ring`] with 0 and 1 sent onto page 0.
fn ring_with_page_0_full() -> (Sender<u32>, Receiver<u32>) {
    let (tx, rx) = paged_ring();
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    (tx, rx)
}

/// A thread that receives 0 and 1 (already there: it never waits), and so
/// may retire page 0 after the second.
fn reader_of_page_0(rx: &Receiver<u32>) -> thread::JoinHandle<[u32; 2]> {
    let rx = rx.clone();
    thread::spawn(move || [rx.try_recv().unwrap(), rx.try_recv().unwrap()])
}

/// PG1: the model thread sends 0 and 1 (page 0) and a receiver thread reads
/// them, retiring page 0 after the second (the queue is short then), while
/// a sender thread sends 2, 3 (page 1) and then 4 and 5, which land on page
/// 0's next lap: either on page 0 still attached (retirement undone or not
/// yet begun) or on a page attached after it. Whatever the interleaving,
/// the model thread then reads 2..=5 in order and nothing else: a value
/// written to a page being retired would be lost (the position reads as
/// free, "empty"), or read twice.
#[test]
fn retire_races_a_claim_on_the_next_lap() {
    model_covers("PG1 retire vs next-lap claim", 2, "a retirement given up for a claim", || {
        let (tx, rx) = ring_with_page_0_full();
        let reader = reader_of_page_0(&rx);
        let tx2 = tx.clone();
        let writer = thread::spawn(move || (2..6).for_each(|v| send_with(&tx2, v, Patience::Forever).unwrap()));
        assert_eq!(reader.join().unwrap(), [0, 1]);
        writer.join().unwrap();
        let rest: Vec<u32> = rx.try_iter().collect();
        assert_eq!(rest, [2, 3, 4, 5], "every item once, in order");
        let [_, _, given_up, ..] = tx.__page_counts().unwrap();
        given_up > 0
    });
}

/// PG3: like PG1 with the sends split between two sender threads (2, 3
/// and 4), so that two senders of the same lap can claim on page 0's next
/// lap while it is being retired, attach a page to it at the same time, or
/// find the page retired, freed and attached again by the other (the case
/// a first version got wrong: a sender that saw a committed retirement
/// cleared the table entry itself and could detach the page attached
/// again, with the other sender's item on it). Four threads, so the
/// senders have bounded patience (`common::mpmc`): a value that does not
/// go in is kept. Every value received or kept exactly once, each sender's
/// in order.
#[test]
fn retire_races_two_senders_on_the_next_lap() {
    model_covers("PG3 retire vs two next-lap senders", 2, "page 0 retired while the senders ran", || {
        let (tx, rx) = ring_with_page_0_full();
        let reader = reader_of_page_0(&rx);
        let writers: Vec<_> = [2u32..4, 4..5]
            .into_iter()
            .map(|values| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let mut kept = Vec::new();
                    for v in values {
                        if !kept.is_empty() || send_with(&tx, v, BOUNDED).is_err() {
                            kept.push(v);
                        }
                    }
                    kept
                })
            })
            .collect();
        assert_eq!(reader.join().unwrap(), [0, 1]);
        let retired_meanwhile = tx.__page_counts().unwrap()[1] > 0;
        let kept: Vec<u32> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        let rest: Vec<u32> = rx.try_iter().collect();
        let mut all: Vec<u32> = rest.iter().chain(&kept).copied().collect();
        all.sort_unstable();
        assert_eq!(all, [2, 3, 4], "every item once: received {rest:?}, kept {kept:?}");
        if let (Some(a), Some(b)) = (rest.iter().position(|&x| x == 2), rest.iter().position(|&x| x == 3)) {
            assert!(a < b, "the first sender's order: {rest:?}");
        }
        retired_meanwhile
    });
}

/// PG2: two senders each send one value onto a page no page is attached
/// to yet (both attach, one wins, the other's page goes to the free list),
/// while the model thread receives both. Every value arrives once. Under
/// loom a ring allocates at most one page beyond the most ever attached
/// (`SPARE_PAGES`), so a sender that finds no page to take may also wait
/// at that bound until the other has attached.
#[test]
fn two_senders_attach_the_same_page() {
    let whats = ["both senders allocated a page", "a sender looked again at the allocation bound"];
    model_covers_all("PG2 attach race", 3, whats, || {
        let (tx, rx) = paged_ring();
        let senders: Vec<_> = (0..2)
            .map(|v| {
                let tx = tx.clone();
                thread::spawn(move || tx.try_send(v).unwrap())
            })
            .collect();
        senders.into_iter().for_each(|s| s.join().unwrap());
        let mut got: Vec<u32> = rx.try_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
        let [allocated, _, _, _, at_bound] = tx.__page_counts().unwrap();
        [allocated == 2, at_bound > 0]
    });
}

/// PG4: a retirement attempt that fails late must not undo a later one.
/// A receiver thread reads 0 and 1 and starts retiring page 0 after lap 0;
/// meanwhile the model thread sends 2..=5 (4 and 5 on page 0's lap 1,
/// cancelling that attempt if it is still on), reads them all, and so
/// retires page 0 after lap 1 itself (the queue is empty then). The
/// attempt of the receiver thread may then record its lap (1) after the
/// model thread's (2), and fail. A first version recorded it with a plain
/// store, so the logical page read as "full" in lap 2: `try_send(8)` below
/// failed with two items in a ring of four, and a blocking send waited
/// for ever (ThreadSanitizer's scheduling found it in `tests/pages.rs`).
#[test]
fn a_late_failed_retirement_keeps_the_later_free_lap() {
    model_covers("PG4 late failed retirement", 2, "a retirement given up while another committed", || {
        let (tx, rx) = ring_with_page_0_full();
        let reader = reader_of_page_0(&rx);
        // Let the reader claim both first (yielding is not a preemption, so
        // the bug needs just one: the reader's, inside its retirement).
        while !rx.is_empty() {
            thread::yield_now();
        }
        // 4 and 5 wait for the reader to free page 0's slots.
        (2..6).for_each(|v| send_with(&tx, v, Patience::Forever).unwrap());
        let got: Vec<u32> = rx.try_iter().collect();
        assert_eq!(got, [2, 3, 4, 5]);
        assert_eq!(reader.join().unwrap(), [0, 1]);
        // Two items in a ring of four, the second of them on page 0's lap 2.
        for v in 6..9 {
            tx.try_send(v).unwrap_or_else(|e| panic!("{v}: {e:?} with {} of 4 queued", rx.len()));
        }
        assert_eq!(rx.try_iter().collect::<Vec<u32>>(), [6, 7, 8]);
        let [_, retired, given_up, ..] = tx.__page_counts().unwrap();
        retired > 0 && given_up > 0
    });
}

/// One pop of [`free_list_pop_puts_the_rest_back_past_a_push`]: the page
/// (if the list was not empty or away) is held, then pushed back (dropped).
/// `held` (std atomics: bookkeeping outside the model) catches a page held
/// by two threads at once.
fn pop_and_push_back(list: &FreeList, held: &[StdAtomicBool; 3]) {
    if let Some(page) = list.pop() {
        let i = page.index();
        assert!(!held[i].swap(true, SeqCst), "page {i} popped while another thread held it");
        held[i].store(false, SeqCst);
    }
}

/// PG5: the free list alone (`__test_hooks::FreeList`, three pages; the
/// ring models above never reach its put-back retry). Two threads and the
/// model thread each pop a page and push it back. `pop` takes the whole
/// list with a swap, keeps the top and puts the rest back with a
/// compare-exchange; when a push came in between, it takes what was pushed,
/// links it in front of the rest and tries again. No page may be held by
/// two threads at once, and at the end every page is on the list once (a
/// pop may find the list away and get nothing).
#[test]
fn free_list_pop_puts_the_rest_back_past_a_push() {
    model_covers("PG5 free list", 2, "a put-back retried past a push", || {
        let list = Arc::new(FreeList::new(3));
        let held: Arc<[StdAtomicBool; 3]> = Arc::new(Default::default());
        let others: Vec<_> = (0..2)
            .map(|_| {
                let (list, held) = (list.clone(), held.clone());
                thread::spawn(move || pop_and_push_back(&list, &held))
            })
            .collect();
        pop_and_push_back(&list, &held);
        others.into_iter().for_each(|t| t.join().unwrap());
        let mut listed = list.listed();
        listed.sort_unstable();
        assert_eq!(listed, [0, 1, 2], "every page on the list once");
        list.put_back_retries() > 0
    });
}
