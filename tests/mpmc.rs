//! Integration tests of the MPMC ring (`ringflow::mpmc`): every public call
//! and error variant of `Sender` / `Receiver`, exact capacities, wrap-around
//! over many laps and across `usize::MAX`, `force_send` (single-threaded and
//! under contention), the no-spin guarantee of `try_send` / `try_recv`
//! (deterministically, through the hidden `__claim_send` / `__claim_recv`
//! hooks), disconnection through clones in every drop order, blocking and
//! wake-ups for every wait strategy, timeouts and deadlines, drop accounting
//! (including evicted items and a panicking `Drop`), zero-sized items,
//! capacity panics, and exactly-once / per-producer-FIFO stress runs with
//! more threads than cores.
//!
//! Blocking tests make the blocked state real by having the acting thread
//! sleep before it acts, and assert only on outcomes, never on timings (the
//! one timing assertion allowed is "a timeout waited at least as long as
//! asked"). A [`Watchdog`] turns a lost wake-up or a spin on a stalled peer
//! (a hang) into an abort. Iteration counts shrink under Miri through
//! [`scaled`].

#[macro_use]
mod common;

// SAFETY (every `unsafe { .. }` around a `__claim_send` / `__claim_recv` test
// hook in this file): the guard it returns is finished or dropped, never leaked.
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{scaled, Opaque, PanicOnce, Rng, Seen, Tracked, Tracker, Watchdog, Zst};
use ringflow::mpmc::{self, Receiver, Sender};
use ringflow::{
    Builder, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError, WaitStrategy,
};

const STRATEGIES: [WaitStrategy; 3] = [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park];

/// How long the acting thread sleeps before it acts, so that the other
/// thread is really blocked (spun out, yielded out, parked) by then.
const ACT_AFTER: Duration = Duration::from_millis(50);

/// The capacities every single-threaded semantic test runs with: the
/// smallest ones, an odd one, a large one and one just above a power of two
/// (whose lap is twice its size).
const CAPACITIES: [usize; 5] = [1, 2, 3, 1000, 1025];

/// [`CAPACITIES`], or under Miri (where every atomic access is slow) the
/// small ones plus an odd one; `large_capacities_once` then covers 1000 and
/// 1025 with a single pass each.
fn capacities() -> &'static [usize] {
    if cfg!(miri) {
        &[1, 2, 3, 9]
    } else {
        &CAPACITIES
    }
}

fn chan<T>(capacity: usize, strategy: WaitStrategy) -> (Sender<T>, Receiver<T>) {
    Builder::new(capacity).wait_strategy(strategy).mpmc()
}

/// A deadline that has already passed.
fn past() -> Instant {
    let now = Instant::now();
    now.checked_sub(Duration::from_millis(10)).unwrap_or(now)
}

/// The lap size the ring uses for `capacity` (positions per lap), so that
/// tests can place their start positions relative to lap boundaries.
fn one_lap(capacity: usize) -> usize {
    (capacity + 1).next_power_of_two()
}

/// Spins (yielding) until `flag` is set by another thread.
fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        thread::yield_now();
    }
}

// ---------------------------------------------------------------------------
// Basic calls, introspection and every error variant
// ---------------------------------------------------------------------------

#[test]
fn new_channel_introspection_on_every_handle() {
    let (tx, rx) = mpmc::channel::<u32>(5);
    let (tx2, rx2) = (tx.clone(), rx.clone());
    assert_eq!(tx.wait_strategy(), WaitStrategy::Park, "the default strategy is Park");
    assert_eq!(rx.wait_strategy(), WaitStrategy::Park);
    for (len, cap, empty, full, disconnected) in [
        (tx.len(), tx.capacity(), tx.is_empty(), tx.is_full(), tx.is_disconnected()),
        (rx.len(), rx.capacity(), rx.is_empty(), rx.is_full(), rx.is_disconnected()),
        (tx2.len(), tx2.capacity(), tx2.is_empty(), tx2.is_full(), tx2.is_disconnected()),
        (rx2.len(), rx2.capacity(), rx2.is_empty(), rx2.is_full(), rx2.is_disconnected()),
    ] {
        assert_eq!((len, cap, empty, full, disconnected), (0, 5, true, false, false));
    }
    for i in 0..5 {
        tx.try_send(i).unwrap();
        for h in [tx.len(), rx.len(), tx2.len(), rx2.len()] {
            assert_eq!(h, i as usize + 1);
        }
        assert!(!tx.is_empty() && !rx.is_empty() && !tx2.is_empty() && !rx2.is_empty());
    }
    assert!(tx.is_full() && rx.is_full() && tx2.is_full() && rx2.is_full());
    assert_eq!(rx2.try_recv(), Ok(0));
    assert!(!tx.is_full() && !rx.is_full());
    assert_eq!(tx.len(), 4);
}

#[test]
fn wait_strategy_is_reported_by_every_handle_and_clone() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<u8>(3, strategy);
        assert_eq!(tx.wait_strategy(), strategy);
        assert_eq!(rx.wait_strategy(), strategy);
        assert_eq!(tx.clone().wait_strategy(), strategy);
        assert_eq!(rx.clone().wait_strategy(), strategy);
    }
}

#[test]
fn try_send_and_try_recv_every_outcome() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<String>(2, strategy);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.try_send("a".into()), Ok(()));
        assert_eq!(tx.try_send("b".into()), Ok(()));

        let err = tx.try_send("c".into()).unwrap_err();
        assert!(err.is_full());
        assert!(!err.is_disconnected());
        assert!(matches!(&err, TrySendError::Full(s) if s == "c"));
        assert_eq!(err.into_inner(), "c", "Full hands the value back");
        assert_eq!(tx.len(), 2, "a failed send enqueues nothing");

        assert_eq!(rx.try_recv().as_deref(), Ok("a"));
        assert_eq!(tx.try_send("d".into()), Ok(()));
        assert_eq!(rx.try_recv().as_deref(), Ok("b"));
        assert_eq!(rx.try_recv().as_deref(), Ok("d"));
        let err = rx.try_recv().unwrap_err();
        assert_eq!(err, TryRecvError::Empty);
        assert!(err.is_empty() && !err.is_disconnected());

        // Receivers gone: the value comes back, even though there is room.
        drop(rx);
        assert!(tx.is_disconnected());
        assert!(tx.is_empty());
        let err = tx.try_send("e".into()).unwrap_err();
        assert!(err.is_disconnected());
        assert!(!err.is_full());
        assert!(matches!(&err, TrySendError::Disconnected(s) if s == "e"));
        assert_eq!(err.into_inner(), "e");

        // Senders gone: drain, then Disconnected.
        let (tx, rx) = chan::<u32>(2, strategy);
        tx.try_send(1).unwrap();
        drop(tx);
        assert!(rx.is_disconnected());
        assert_eq!(rx.try_recv(), Ok(1));
        let err = rx.try_recv().unwrap_err();
        assert_eq!(err, TryRecvError::Disconnected);
        assert!(err.is_disconnected() && !err.is_empty());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "stays disconnected");
    }
}

#[test]
fn send_and_recv_forms_without_waiting() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<String>(4, strategy);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(tx.send("a".into()), Ok(()));
        assert_eq!(tx.send_timeout("b".into(), Duration::from_secs(60)), Ok(()));
        assert_eq!(tx.send_deadline("c".into(), far), Ok(()));
        assert_eq!(tx.force_send("d".into()), Ok(None));
        assert_eq!(rx.recv().as_deref(), Ok("a"));
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)).as_deref(), Ok("b"));
        assert_eq!(rx.recv_deadline(far).as_deref(), Ok("c"));
        assert_eq!(rx.recv_timeout(Duration::MAX).as_deref(), Ok("d"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn every_send_form_hands_the_value_back_once_receivers_are_gone_even_with_room() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<String>(4, strategy);
        let rx2 = rx.clone();
        tx.send("queued".into()).unwrap();
        drop(rx);
        assert!(!tx.is_disconnected(), "one receiver is still alive");
        drop(rx2);
        assert!(tx.is_disconnected());
        assert!(tx.clone().is_disconnected(), "a clone sees it too");
        assert!(tx.len() < tx.capacity(), "there is room");

        let err = tx.try_send("try".into()).unwrap_err();
        assert!(matches!(&err, TrySendError::Disconnected(s) if s == "try"));

        let err = tx.send("send".into()).unwrap_err();
        assert_eq!(err.0, "send");
        assert_eq!(err.into_inner(), "send");

        let err = tx.send_timeout("timeout".into(), Duration::from_secs(60)).unwrap_err();
        assert!(err.is_disconnected() && !err.is_timeout());
        assert_eq!(err.into_inner(), "timeout");

        let err = tx.send_timeout("max".into(), Duration::MAX).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "max"));

        let err = tx.send_deadline("future".into(), Instant::now() + Duration::from_secs(60)).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "future"));

        let err = tx.send_deadline("past".into(), past()).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "past"), "disconnection wins over timeout");

        let err = tx.force_send("force".into()).unwrap_err();
        assert_eq!(err, SendError("force".to_string()));
    }
}

#[test]
fn every_recv_form_drains_then_reports_disconnection() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<u32>(8, strategy);
        let tx2 = tx.clone();
        for i in 0..6 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert!(!rx.is_disconnected(), "one sender is still alive");
        drop(tx2);
        assert!(rx.is_disconnected(), "disconnected as soon as the senders are gone, items or not");
        assert_eq!(rx.len(), 6);
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(2));
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(60)), Ok(3));
        assert_eq!(rx.recv_deadline(past()), Ok(4));
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(5));
        assert!(rx.is_empty());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv(), Err(RecvError));
        let err = rx.recv_timeout(Duration::from_secs(60)).unwrap_err();
        assert_eq!(err, RecvTimeoutError::Disconnected);
        assert!(err.is_disconnected() && !err.is_timeout());
        assert_eq!(rx.recv_timeout(Duration::MAX), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(60)), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.recv_deadline(past()), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.iter().count(), 0);
        assert_eq!(rx.try_iter().count(), 0);
    }
}

#[test]
fn clones_share_one_ring_and_each_item_goes_to_one_receiver() {
    let (tx, rx) = mpmc::channel::<u32>(4);
    let tx2 = tx.clone();
    let rx2 = rx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    tx.send(3).unwrap();
    assert_eq!(rx2.len(), 3);
    assert_eq!(rx2.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx2.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn handles_iterators_and_errors_implement_debug_without_t_debug() {
    let (tx, rx) = mpmc::channel::<Opaque>(1);
    tx.send(Opaque(1)).unwrap(); // `unwrap` needs `SendError<Opaque>: Debug`
    let text = format!("{tx:?} {rx:?} {:?} {:?}", rx.try_iter(), rx.iter());
    for word in ["Sender", "Receiver", "TryIter", "Iter", "capacity: 1", "len: 1"] {
        assert!(text.contains(word), "{word:?} missing from {text}");
    }
    let err = tx.try_send(Opaque(2)).unwrap_err();
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.into_inner().0, 2);
    let err = tx.send_timeout(Opaque(3), Duration::ZERO).unwrap_err();
    assert_eq!(format!("{err:?}"), "Timeout(..)");
    assert_eq!(err.into_inner().0, 3);
    let into = rx.into_iter();
    assert!(format!("{into:?}").contains("IntoIter"));
    drop(into);
    let err = tx.try_send(Opaque(4)).unwrap_err();
    assert_eq!(format!("{err:?}"), "Disconnected(..)");
    assert_eq!(err.into_inner().0, 4);
    let err = tx.force_send(Opaque(5)).err().unwrap();
    assert_eq!(format!("{err:?}"), "SendError(..)");
    assert_eq!(err.into_inner().0, 5);
}

#[test]
fn handles_are_send_sync_and_clone_for_send_payloads() {
    fn assert_send_sync_clone<X: Send + Sync + Clone>() {}
    fn assert_send_sync<X: Send + Sync>() {}
    fn assert_send<X: Send>() {}
    // `Cell` is `Send` but not `Sync`: `T: Send` alone must be enough.
    assert_send_sync_clone::<Sender<std::cell::Cell<u8>>>();
    assert_send_sync_clone::<Receiver<std::cell::Cell<u8>>>();
    assert_send_sync_clone::<Sender<Tracked>>();
    assert_send_sync_clone::<Receiver<Tracked>>();
    assert_send_sync_clone::<Sender<()>>();
    assert_send::<mpmc::IntoIter<std::cell::Cell<u8>>>();
    assert_send::<mpmc::Iter<'static, std::cell::Cell<u8>>>();
    assert_send::<mpmc::TryIter<'static, std::cell::Cell<u8>>>();
    assert_send_sync::<TrySendError<u8>>();
    assert_send_sync::<SendTimeoutError<u8>>();
    assert_send_sync::<SendError<u8>>();
    // And they really work from other threads through shared references.
    let (tx, rx) = mpmc::channel::<std::cell::Cell<u8>>(2);
    thread::scope(|s| {
        s.spawn(|| tx.send(std::cell::Cell::new(7)).unwrap());
    });
    thread::scope(|s| {
        let h = s.spawn(|| rx.recv().unwrap().get());
        assert_eq!(h.join().unwrap(), 7);
    });
}

// ---------------------------------------------------------------------------
// Iterators
// ---------------------------------------------------------------------------

#[test]
fn try_iter_takes_what_is_there_and_stops_without_waiting() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<u32>(4, strategy);
        assert_eq!(rx.try_iter().next(), None, "empty ring: ends at once with a sender alive");
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(rx.try_iter().next(), None);
        tx.send(3).unwrap();
        tx.send(4).unwrap();
        let mut it = rx.try_iter();
        assert_eq!(it.next(), Some(3));
        tx.send(5).unwrap();
        assert_eq!(it.collect::<Vec<_>>(), [4, 5], "the iterator sees items sent after it was made");
        tx.send(6).unwrap();
        drop(tx);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [6], "drains after disconnection, then ends");
        assert_eq!(rx.try_iter().next(), None);
    }
}

fn iter_waits_for_each_item_and_ends_at_disconnection(strategy: WaitStrategy) {
    let _w = Watchdog::new("iter");
    let n = scaled(1000, 30) as u64;
    let (tx, rx) = chan::<u64>(2, strategy);
    let t = thread::spawn(move || {
        for i in 1..=n {
            tx.send(i).unwrap();
        }
    });
    assert_eq!(rx.iter().sum::<u64>(), n * (n + 1) / 2);
    t.join().unwrap();
    assert_eq!(rx.iter().next(), None);
}

fn ref_into_iter_is_the_blocking_iterator(strategy: WaitStrategy) {
    let _w = Watchdog::new("&rx into_iter");
    let (tx, rx) = chan::<u32>(1, strategy);
    let t = thread::spawn(move || {
        for i in 0..10 {
            tx.send(i).unwrap();
        }
    });
    let mut got = Vec::new();
    for v in &rx {
        got.push(v);
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    t.join().unwrap();
}

fn owned_into_iter_waits_and_ends_at_disconnection(strategy: WaitStrategy) {
    let _w = Watchdog::new("owned into_iter");
    let (tx, rx) = chan::<u32>(3, strategy);
    let t = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        for i in 0..20 {
            tx.send(i).unwrap();
        }
    });
    let got: Vec<u32> = rx.into_iter().collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    t.join().unwrap();
}

fn several_iterating_receivers_split_the_stream(strategy: WaitStrategy) {
    let _w = Watchdog::new("several iter receivers");
    let n = scaled(2000, 40);
    let (tx, rx) = chan::<usize>(4, strategy);
    let seen = Seen::new(n);
    thread::scope(|s| {
        let a = rx.clone();
        let b = rx;
        let seen = &seen;
        let ha = s.spawn(move || a.iter().map(|v| seen.mark(v, "iter a")).count());
        let hb = s.spawn(move || (&b).into_iter().map(|v| seen.mark(v, "iter b")).count());
        for i in 0..n {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(ha.join().unwrap() + hb.join().unwrap(), n);
    });
    seen.assert_all();
}

for_each_strategy!(
    iter_waits_for_each_item_and_ends_at_disconnection,
    ref_into_iter_is_the_blocking_iterator,
    owned_into_iter_waits_and_ends_at_disconnection,
    several_iterating_receivers_split_the_stream,
);

#[test]
fn into_iter_drops_what_it_did_not_yield() {
    let t = Tracker::new(4);
    let (tx, rx) = mpmc::channel::<Tracked>(4);
    for id in 0..4 {
        tx.send(t.item(id)).unwrap();
    }
    drop(tx);
    let mut it = rx.into_iter();
    drop(it.next());
    t.assert_dropped_once([0]);
    drop(it);
    t.assert_dropped_once(0..4);
}

// ---------------------------------------------------------------------------
// Capacities, FIFO, wrap-around, positions across usize::MAX
// ---------------------------------------------------------------------------

/// Fills the ring to exactly `capacity` (one more is `Full` with the value
/// handed back), drains it in FIFO order, and does it again from a shifted
/// slot index so that later fills wrap around the end of the buffer.
fn fill_to_capacity_then_full_then_fifo(capacity: usize, start: Option<usize>, rounds: usize) {
    let mut b = Builder::new(capacity);
    if let Some(s) = start {
        b = b.__start_position(s);
    }
    let (tx, rx) = b.mpmc::<u64>();
    assert_eq!(tx.capacity(), capacity);
    assert_eq!(rx.capacity(), capacity);
    let mut next = 0u64;
    let mut expect = 0u64;
    for round in 0..rounds {
        let ctx = format!("cap {capacity} start {start:?} round {round}");
        for i in 0..capacity {
            assert!(!tx.is_full(), "{ctx}: full after {i}");
            assert_eq!(tx.try_send(next), Ok(()), "{ctx}: send {i}");
            next += 1;
            assert_eq!(rx.len(), i + 1, "{ctx}");
        }
        assert!(tx.is_full() && rx.is_full(), "{ctx}");
        assert_eq!(tx.len(), capacity, "{ctx}");
        assert_eq!(tx.try_send(u64::MAX), Err(TrySendError::Full(u64::MAX)), "{ctx}: capacity + 1 is Full");
        assert_eq!(tx.send_timeout(u64::MAX - 1, Duration::ZERO), Err(SendTimeoutError::Timeout(u64::MAX - 1)));
        assert_eq!(tx.send_deadline(u64::MAX - 2, past()), Err(SendTimeoutError::Timeout(u64::MAX - 2)));
        assert_eq!(tx.len(), capacity, "{ctx}: failed sends enqueue nothing");
        for i in 0..capacity {
            assert_eq!(rx.try_recv(), Ok(expect), "{ctx}");
            expect += 1;
            assert_eq!(tx.len(), capacity - i - 1, "{ctx}");
        }
        assert!(rx.is_empty() && tx.is_empty(), "{ctx}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{ctx}");
        // Shift the slot index the next round starts at.
        for _ in 0..=round {
            tx.try_send(next).unwrap();
            next += 1;
            assert_eq!(rx.try_recv(), Ok(expect), "{ctx}");
            expect += 1;
        }
    }
}

#[test]
fn exact_capacity_and_fifo_for_every_test_capacity() {
    for &capacity in capacities() {
        fill_to_capacity_then_full_then_fifo(capacity, None, 3);
    }
}

#[test]
fn large_capacities_once() {
    // The only large-capacity test that also runs under Miri: one fill and
    // drain each, the second one across `usize::MAX`. Under Miri only the
    // second (the two together took a sixth of this file's Miri time).
    if !cfg!(miri) {
        fill_to_capacity_then_full_then_fifo(1000, None, 1);
    }
    fill_to_capacity_then_full_then_fifo(1025, Some(usize::MAX - 1), 1);
}

#[test]
fn exact_capacity_and_fifo_for_more_sizes() {
    let sizes: &[usize] =
        if cfg!(miri) { &[4, 5, 7, 8, 9] } else { &[4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127] };
    for &capacity in sizes {
        fill_to_capacity_then_full_then_fifo(capacity, None, 3);
    }
}

#[test]
fn exact_capacity_and_fifo_when_started_near_usize_max() {
    for &capacity in capacities() {
        for k in [0, 1, capacity, one_lap(capacity) + 1] {
            fill_to_capacity_then_full_then_fifo(capacity, Some(usize::MAX - k), 3);
        }
    }
}

/// A handle starts each claim at the position after its own last one (its
/// hint) instead of loading the shared position. A hint left behind while
/// clones moved the ring on (by one item, by laps, to full and back) must
/// only cost a retry: exact `Full` / `Empty`, FIFO across the handles, and
/// the right `len()`, at a start position near `usize::MAX` too (the
/// staleness then spans the wrap of the positions).
#[test]
fn a_handle_whose_claim_hint_went_stale_still_claims_the_right_position() {
    for start in [None, Some(usize::MAX - 5)] {
        for capacity in [1, 2, 3, 8] {
            let ctx = format!("cap {capacity} start {start:?}");
            let mut b = Builder::new(capacity);
            if let Some(s) = start {
                b = b.__start_position(s);
            }
            let (a_tx, a_rx) = b.mpmc::<u64>();
            let (b_tx, b_rx) = (a_tx.clone(), a_rx.clone());
            let mut next = 0u64;
            let mut expect = 0u64;
            // Each pair of handles takes a turn, so that the other pair's
            // hints fall behind: by one item, then by three laps.
            for gap in [1, 3 * capacity + 1] {
                assert_eq!(a_tx.try_send(next), Ok(()), "{ctx}");
                next += 1;
                assert_eq!(a_rx.try_recv(), Ok(expect), "{ctx}");
                expect += 1;
                for _ in 0..gap {
                    assert_eq!(b_tx.try_send(next), Ok(()), "{ctx}");
                    next += 1;
                    assert_eq!(b_rx.try_recv(), Ok(expect), "{ctx}");
                    expect += 1;
                }
                // The stale handles: a receive finds the ring empty, a send
                // lands after the clones' items, and the stale receiver
                // takes it.
                assert_eq!(a_rx.try_recv(), Err(TryRecvError::Empty), "{ctx}: gap {gap}");
                assert_eq!(a_tx.try_send(next), Ok(()), "{ctx}: gap {gap}");
                next += 1;
                assert_eq!(a_rx.len(), 1, "{ctx}: gap {gap}");
                assert_eq!(a_rx.try_recv(), Ok(expect), "{ctx}: gap {gap}");
                expect += 1;
            }
            // A full ring, filled by the clone: the stale sender gets an
            // exact `Full`, and room as soon as the clone receiver frees a
            // slot.
            for _ in 0..capacity {
                assert_eq!(b_tx.try_send(next), Ok(()), "{ctx}");
                next += 1;
            }
            assert_eq!(a_tx.try_send(u64::MAX), Err(TrySendError::Full(u64::MAX)), "{ctx}");
            assert_eq!(b_rx.try_recv(), Ok(expect), "{ctx}");
            expect += 1;
            assert_eq!(a_tx.try_send(next), Ok(()), "{ctx}: one slot free");
            next += 1;
            let got: Vec<u64> = a_rx.try_iter().collect();
            assert_eq!(got, (expect..next).collect::<Vec<_>>(), "{ctx}: FIFO across the handles");
        }
    }
}

/// Runs random operations against a `VecDeque` model until `min_sends`
/// items were enqueued, alternating fill and drain phases so that the ring
/// runs full and empty again and again; checks every result and `len()`
/// after each step. Uses two senders and two receivers, picked at random.
fn model_run(capacity: usize, start: Option<usize>, min_sends: usize, seed: u64) {
    let strategy = STRATEGIES[(seed % 3) as usize];
    let mut b = Builder::new(capacity).wait_strategy(strategy);
    if let Some(s) = start {
        b = b.__start_position(s);
    }
    let (tx1, rx1) = b.mpmc::<u64>();
    let (tx2, rx2) = (tx1.clone(), rx1.clone());
    let mut model: VecDeque<u64> = VecDeque::new();
    let mut rng = Rng::new_mixed(seed);
    let mut next = 0u64;
    let mut sent = 0usize;
    let mut filling = true;
    let mut step = 0usize;
    while sent < min_sends {
        step += 1;
        let ctx = || format!("cap {capacity} start {start:?} seed {seed} step {step}");
        if model.len() == capacity {
            filling = false;
        } else if model.is_empty() {
            filling = true;
        } else if rng.below(2 * capacity.min(32)) == 0 {
            filling = !filling;
        }
        let send_op = rng.below(10) < if filling { 7 } else { 3 };
        let (tx, rx) = if rng.below(2) == 0 { (&tx1, &rx1) } else { (&tx2, &rx2) };
        if send_op {
            let v = next;
            next += 1;
            let room = model.len() < capacity;
            match rng.below(5) {
                0 => {
                    if room {
                        assert_eq!(tx.try_send(v), Ok(()), "{}", ctx());
                    } else {
                        assert_eq!(tx.try_send(v), Err(TrySendError::Full(v)), "{}", ctx());
                    }
                }
                1 => {
                    let evicted = if room { None } else { model.pop_front() };
                    assert_eq!(tx.force_send(v), Ok(evicted), "{}", ctx());
                }
                2 => {
                    if room {
                        assert_eq!(tx.send_timeout(v, Duration::ZERO), Ok(()), "{}", ctx());
                    } else {
                        assert_eq!(tx.send_timeout(v, Duration::ZERO), Err(SendTimeoutError::Timeout(v)), "{}", ctx());
                    }
                }
                3 => {
                    if room {
                        assert_eq!(tx.send_deadline(v, past()), Ok(()), "{}", ctx());
                    } else {
                        assert_eq!(tx.send_deadline(v, past()), Err(SendTimeoutError::Timeout(v)), "{}", ctx());
                    }
                }
                _ => {
                    if room {
                        assert_eq!(tx.send(v), Ok(()), "{}", ctx());
                    } else {
                        assert_eq!(tx.try_send(v), Err(TrySendError::Full(v)), "{}", ctx());
                    }
                }
            }
            if room || model.len() < capacity {
                model.push_back(v);
                sent += 1;
            }
        } else {
            let expected = model.pop_front();
            match rng.below(4) {
                0 => assert_eq!(rx.try_recv(), expected.ok_or(TryRecvError::Empty), "{}", ctx()),
                1 => {
                    assert_eq!(rx.recv_timeout(Duration::ZERO), expected.ok_or(RecvTimeoutError::Timeout), "{}", ctx())
                }
                2 => assert_eq!(rx.recv_deadline(past()), expected.ok_or(RecvTimeoutError::Timeout), "{}", ctx()),
                _ => match expected {
                    Some(e) => assert_eq!(rx.recv(), Ok(e), "{}", ctx()),
                    None => assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{}", ctx()),
                },
            }
        }
        for len in [tx1.len(), rx1.len(), tx2.len(), rx2.len()] {
            assert_eq!(len, model.len(), "len: {}", ctx());
        }
        assert_eq!(rx1.is_empty(), model.is_empty(), "{}", ctx());
        assert_eq!(tx2.is_full(), model.len() == capacity, "{}", ctx());
    }
    drop(tx1);
    drop(tx2);
    let rest: Vec<u64> = rx2.try_iter().collect();
    assert_eq!(rest, Vec::from(model), "final drain, cap {capacity} start {start:?} seed {seed}");
    assert_eq!(rx1.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn wrap_around_many_laps_every_test_capacity() {
    for (i, &capacity) in capacities().iter().enumerate() {
        // Laps of *positions*: each lap moves `capacity` items through.
        let laps = if capacity < 10 { scaled(20_000, 20) } else { scaled(40, 3) };
        model_run(capacity, None, laps * capacity, i as u64 + 1);
    }
}

#[test]
fn wrap_around_many_laps_small_odd_capacities() {
    for capacity in [5, 6, 7, 9] {
        model_run(capacity, None, scaled(20_000, 10) * capacity, capacity as u64 * 7);
    }
}

#[test]
fn batches_of_every_size_keep_fifo_across_laps() {
    for capacity in [1, 2, 3, 4, 5, 7] {
        let (tx, rx) = mpmc::channel::<usize>(capacity);
        let mut next = 0;
        let mut expect = 0;
        for batch in 1..=capacity {
            for _ in 0..scaled(50, 4) {
                for _ in 0..batch {
                    tx.try_send(next).unwrap();
                    next += 1;
                }
                assert_eq!(rx.len(), batch);
                for _ in 0..batch {
                    assert_eq!(rx.try_recv(), Ok(expect), "cap {capacity} batch {batch}");
                    expect += 1;
                }
            }
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn positions_cross_usize_max_random_ops() {
    for (i, &capacity) in capacities().iter().enumerate() {
        let lap = one_lap(capacity);
        let offsets: Vec<usize> =
            if cfg!(miri) { vec![0, 1, lap + 1] } else { vec![0, 1, 2, capacity, lap - 1, lap, lap + 1, 3 * lap + 5] };
        for (j, k) in offsets.into_iter().enumerate() {
            // The ring rounds the start down to a lap boundary, so the
            // overflow is at most `k / lap + 1` laps away; go a few past it.
            let min_sends = (k / lap + 3) * capacity;
            model_run(capacity, Some(usize::MAX - k), min_sends, (i * 31 + j) as u64);
        }
    }
}

#[test]
fn positions_at_usize_max_exact_steps() {
    // Capacity 3: lap 4, so `usize::MAX` rounds down to `usize::MAX - 3` and
    // the fourth position of the ring is already past the overflow.
    let (tx, rx) = Builder::new(3).__start_position(usize::MAX).mpmc::<u32>();
    for i in 0..3 {
        tx.try_send(i).unwrap();
        assert_eq!(tx.len(), i as usize + 1);
    }
    assert_eq!(tx.try_send(99), Err(TrySendError::Full(99)));
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.len(), 2);
    tx.try_send(3).unwrap(); // crosses the overflow
    assert_eq!(rx.len(), 3);
    assert!(rx.is_full());
    assert_eq!(tx.force_send(4), Ok(Some(1)));
    assert_eq!(rx.len(), 3);
    assert_eq!(tx.force_send(5), Ok(Some(2)));
    assert_eq!(tx.force_send(6), Ok(Some(3)));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4, 5, 6]);
    assert!(rx.is_empty());

    // Capacity 1: every send is a new lap.
    let (tx, rx) = Builder::new(1).__start_position(usize::MAX - 1).mpmc::<u32>();
    for i in 0..10 {
        assert_eq!(tx.len(), 0);
        tx.try_send(i).unwrap();
        assert_eq!(tx.len(), 1);
        assert_eq!(tx.try_send(100), Err(TrySendError::Full(100)));
        assert_eq!(rx.try_recv(), Ok(i));
    }
    for i in 0..10 {
        assert_eq!(tx.force_send(i), Ok(i.checked_sub(1)));
        assert_eq!(rx.len(), 1);
    }
    assert_eq!(rx.try_recv(), Ok(9));
}

fn transfer_across_usize_max(strategy: WaitStrategy) {
    let _w = Watchdog::new("transfer across usize::MAX");
    stress(Load {
        producers: 2,
        consumers: 2,
        per_producer: scaled(20_000, 40),
        capacity: 3,
        strategy,
        mode: Mode::Blocking,
        start: Some(usize::MAX - 7),
    });
}

for_each_strategy!(transfer_across_usize_max);

// ---------------------------------------------------------------------------
// force_send, single-threaded
// ---------------------------------------------------------------------------

#[test]
fn force_send_with_room_is_a_plain_send_and_when_full_evicts_the_oldest() {
    for capacity in [1, 2, 3, 7] {
        for strategy in STRATEGIES {
            let (tx, rx) = chan::<u32>(capacity, strategy);
            let cap = capacity as u32;
            for i in 0..cap {
                assert_eq!(tx.force_send(i), Ok(None), "cap {capacity}: room");
            }
            assert!(tx.is_full());
            for i in cap..3 * cap {
                assert_eq!(tx.force_send(i), Ok(Some(i - cap)), "cap {capacity}: evicts the oldest");
                assert_eq!(tx.len(), capacity, "cap {capacity}: stays full");
            }
            // Interleave with receives: the ring keeps FIFO order.
            assert_eq!(rx.try_recv(), Ok(2 * cap));
            assert_eq!(tx.force_send(100), Ok(None), "a receive made room");
            assert_eq!(tx.force_send(101), if capacity == 1 { Ok(Some(100)) } else { Ok(Some(2 * cap + 1)) });
            let rest: Vec<u32> = rx.try_iter().collect();
            let mut expected: Vec<u32> = (2 * cap + 2..3 * cap).collect();
            if capacity > 1 {
                expected.push(100);
            }
            expected.push(101);
            assert_eq!(rest, expected, "cap {capacity}");
        }
    }
}

#[test]
fn force_send_on_a_disconnected_channel_hands_the_value_back_full_or_not() {
    for strategy in STRATEGIES {
        // With room.
        let (tx, rx) = chan::<String>(2, strategy);
        drop(rx);
        assert_eq!(tx.force_send("a".into()), Err(SendError("a".to_string())));
        // Full.
        let (tx, rx) = chan::<String>(2, strategy);
        tx.send("x".into()).unwrap();
        tx.send("y".into()).unwrap();
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(tx.force_send("z".into()), Ok(Some("x".to_string())), "a receiver is still alive");
        drop(rx2);
        let err = tx.force_send("b".into()).unwrap_err();
        assert_eq!(err.into_inner(), "b");
        assert_eq!(tx.len(), 2, "nothing was evicted by the failed force_send");
    }
}

// ---------------------------------------------------------------------------
// The no-spin guarantee, deterministically through the hidden hooks
// ---------------------------------------------------------------------------

#[test]
fn try_recv_does_not_wait_for_a_stalled_sender() {
    let _w = Watchdog::new("try_recv vs stalled sender");
    for strategy in STRATEGIES {
        for capacity in [2, 3, 1025] {
            let (tx, rx) = chan::<u32>(capacity, strategy);
            let rx2 = rx.clone();
            let Ok(guard) = (unsafe { tx.__claim_send(1) }) else { panic!("no room to claim") };
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the claimed slot reads as empty");
            assert_eq!(rx.len(), 1, "len() counts the claimed slot");
            // A later slot published by another send does not help: the
            // oldest one is still unpublished, and nobody waits for it.
            tx.try_send(2).unwrap();
            assert_eq!(rx.len(), 2);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(rx.try_iter().count(), 0);
            assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
            assert_eq!(rx.recv_deadline(past()), Err(RecvTimeoutError::Timeout));
            guard.finish();
            assert_eq!(rx.try_recv(), Ok(1), "position order after publication");
            assert_eq!(rx2.try_recv(), Ok(2));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    }
}

#[test]
fn stalled_senders_publish_in_any_order_and_items_arrive_in_position_order() {
    let _w = Watchdog::new("stalled senders out of order");
    let (tx, rx) = mpmc::channel::<u32>(4);
    let tx2 = tx.clone();
    let g0 = unsafe { tx.__claim_send(0) }.ok().unwrap();
    let g1 = unsafe { tx2.__claim_send(1) }.ok().unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(rx.len(), 3);
    drop(g1); // dropping the guard publishes, like finish()
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "position 0 is still unpublished");
    g0.finish();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn claim_send_hook_hands_the_value_back_when_full_or_disconnected() {
    let (tx, rx) = mpmc::channel::<u32>(1);
    tx.send(1).unwrap();
    assert_eq!(unsafe { tx.__claim_send(2) }.err(), Some(2));
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(unsafe { rx.__claim_recv() }.is_none(), "nothing to claim");
    drop(rx);
    assert_eq!(unsafe { tx.__claim_send(3) }.err(), Some(3));
}

#[test]
fn try_send_does_not_wait_for_a_stalled_receiver() {
    let _w = Watchdog::new("try_send vs stalled receiver");
    // Under Miri a ring of 1025 filled three times took about 100 s of the
    // CI's Miri step; 33 is, like 1025, just above a power of two (its lap
    // rounds up to twice the capacity).
    let capacities: &[usize] = if cfg!(miri) { &[1, 2, 3, 33] } else { &[1, 2, 3, 1025] };
    for strategy in STRATEGIES {
        for &capacity in capacities {
            let (tx, rx) = chan::<usize>(capacity, strategy);
            let tx2 = tx.clone();
            for i in 0..capacity {
                tx.try_send(i).unwrap();
            }
            let guard = unsafe { rx.__claim_recv() }.expect("an item to claim");
            assert_eq!(tx.try_send(100), Err(TrySendError::Full(100)), "cap {capacity}: slot still being read");
            assert_eq!(tx2.try_send(101), Err(TrySendError::Full(101)));
            assert_eq!(tx.send_timeout(102, Duration::ZERO), Err(SendTimeoutError::Timeout(102)));
            assert_eq!(tx.send_deadline(103, past()), Err(SendTimeoutError::Timeout(103)));
            assert!(tx.len() <= capacity);
            // Other receivers are not held up by the stalled one either.
            for i in 1..capacity {
                assert_eq!(rx.try_recv(), Ok(i));
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(tx.try_send(104), Err(TrySendError::Full(104)), "the stalled slot is the next to write");
            assert_eq!(guard.finish(), 0);
            assert_eq!(tx.try_send(105), Ok(()));
            assert_eq!(rx.try_recv(), Ok(105));
        }
    }
}

#[test]
fn dropping_a_claim_recv_guard_drops_the_item_once_and_frees_the_slot() {
    let t = Tracker::new(3);
    let (tx, rx) = mpmc::channel::<Tracked>(2);
    tx.send(t.item(0)).unwrap();
    tx.send(t.item(1)).unwrap();
    let guard = unsafe { rx.__claim_recv() }.unwrap();
    t.assert_not_dropped([0]);
    drop(guard);
    t.assert_dropped_once([0]);
    assert!(tx.try_send(t.item(2)).is_ok(), "the slot is free again");
    let ids: Vec<usize> = rx.try_iter().map(|v| v.id()).collect();
    assert_eq!(ids, [1, 2]);
    t.assert_dropped_once(0..3);
}

#[test]
fn dropping_a_claim_send_guard_publishes_and_drops_nothing() {
    let t = Tracker::new(1);
    let (tx, rx) = mpmc::channel::<Tracked>(2);
    let guard = unsafe { tx.__claim_send(t.item(0)) }.ok().unwrap();
    drop(guard);
    t.assert_not_dropped([0]);
    assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(0));
    t.assert_dropped_once([0]);
}

fn recv_waits_for_a_stalled_sender_to_publish(strategy: WaitStrategy) {
    let _w = Watchdog::new("recv vs stalled sender");
    let (tx, rx) = chan::<u32>(2, strategy);
    let claimed = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let guard = unsafe { tx.__claim_send(7) }.ok().unwrap();
            claimed.store(true, Ordering::SeqCst);
            thread::sleep(ACT_AFTER);
            guard.finish();
        });
        wait_for(&claimed);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.recv(), Ok(7), "woken by the publication");
    });
}

fn send_waits_for_a_stalled_receiver_to_finish(strategy: WaitStrategy) {
    let _w = Watchdog::new("send vs stalled receiver");
    let (tx, rx) = chan::<u32>(2, strategy);
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    let claimed = AtomicBool::new(false);
    thread::scope(|s| {
        let h = s.spawn(|| {
            let guard = unsafe { rx.__claim_recv() }.unwrap();
            claimed.store(true, Ordering::SeqCst);
            thread::sleep(ACT_AFTER);
            guard.finish()
        });
        wait_for(&claimed);
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
        assert_eq!(tx.send(2), Ok(()), "woken when the read finished");
        assert_eq!(h.join().unwrap(), 0);
    });
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
}

fn force_send_waits_for_a_receiver_mid_read_of_the_oldest(strategy: WaitStrategy) {
    let _w = Watchdog::new("force_send vs stalled receiver");
    for capacity in [1, 3] {
        let (tx, rx) = chan::<u32>(capacity, strategy);
        for i in 0..capacity as u32 {
            tx.send(i).unwrap();
        }
        let claimed = AtomicBool::new(false);
        let finishing = AtomicBool::new(false);
        thread::scope(|s| {
            let h = s.spawn(|| {
                let guard = unsafe { rx.__claim_recv() }.unwrap();
                claimed.store(true, Ordering::SeqCst);
                thread::sleep(ACT_AFTER);
                finishing.store(true, Ordering::SeqCst);
                guard.finish()
            });
            wait_for(&claimed);
            // The slot to overwrite is the one being read: force_send must
            // wait for the read to finish, after which there is room.
            assert_eq!(tx.force_send(100), Ok(None), "cap {capacity}");
            assert!(finishing.load(Ordering::SeqCst), "cap {capacity}: force_send returned before the read finished");
            assert_eq!(h.join().unwrap(), 0, "cap {capacity}: the reader got the value it claimed");
        });
        let mut expected: Vec<u32> = (1..capacity as u32).collect();
        expected.push(100);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), expected, "cap {capacity}");
    }
}

fn force_send_waits_for_a_sender_mid_write_of_the_oldest(strategy: WaitStrategy) {
    let _w = Watchdog::new("force_send vs stalled sender");
    for capacity in [1, 3] {
        let (tx, rx) = chan::<u32>(capacity, strategy);
        let claimed = AtomicBool::new(false);
        let publishing = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                let guard = unsafe { tx.__claim_send(0) }.ok().unwrap();
                claimed.store(true, Ordering::SeqCst);
                thread::sleep(ACT_AFTER);
                publishing.store(true, Ordering::SeqCst);
                guard.finish();
            });
            wait_for(&claimed);
            for i in 1..capacity as u32 {
                tx.send(i).unwrap();
            }
            assert_eq!(tx.try_send(50), Err(TrySendError::Full(50)));
            // The oldest position is claimed but unpublished: evicting it
            // must wait for the write, then hand back what was written.
            assert_eq!(tx.force_send(100), Ok(Some(0)), "cap {capacity}");
            assert!(publishing.load(Ordering::SeqCst), "cap {capacity}: force_send returned before the write finished");
        });
        let mut expected: Vec<u32> = (1..capacity as u32).collect();
        expected.push(100);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), expected, "cap {capacity}");
    }
}

for_each_strategy!(
    recv_waits_for_a_stalled_sender_to_publish,
    send_waits_for_a_stalled_receiver_to_finish,
    force_send_waits_for_a_receiver_mid_read_of_the_oldest,
    force_send_waits_for_a_sender_mid_write_of_the_oldest,
);

// ---------------------------------------------------------------------------
// Timeouts and deadlines
// ---------------------------------------------------------------------------

fn timeouts_wait_at_least_as_asked_and_hand_the_value_back(strategy: WaitStrategy) {
    let _w = Watchdog::new("timeouts");
    let wait = Duration::from_millis(20);
    let (tx, rx) = chan::<String>(1, strategy);

    let t0 = Instant::now();
    assert_eq!(rx.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
    assert!(t0.elapsed() >= wait, "recv_timeout returned early");

    let t0 = Instant::now();
    let err = rx.recv_deadline(t0 + wait).unwrap_err();
    assert!(err.is_timeout() && !err.is_disconnected());
    assert!(Instant::now() >= t0 + wait, "recv_deadline returned early");

    tx.send("a".into()).unwrap();
    let t0 = Instant::now();
    let err = tx.send_timeout("b".into(), wait).unwrap_err();
    assert!(t0.elapsed() >= wait, "send_timeout returned early");
    assert!(err.is_timeout() && !err.is_disconnected());
    assert_eq!(err.into_inner(), "b", "the value comes back");

    let t0 = Instant::now();
    let err = tx.send_deadline("c".into(), t0 + wait).unwrap_err();
    assert!(Instant::now() >= t0 + wait, "send_deadline returned early");
    assert!(matches!(&err, SendTimeoutError::Timeout(s) if s == "c"));

    assert_eq!(rx.len(), 1, "timed-out sends enqueued nothing");
    assert_eq!(rx.try_recv().as_deref(), Ok("a"));
}

fn past_deadline_means_exactly_one_try(strategy: WaitStrategy) {
    let _w = Watchdog::new("past deadline");
    let (tx, rx) = chan::<u32>(1, strategy);
    // One try that succeeds...
    assert_eq!(tx.send_deadline(1, past()), Ok(()));
    // ...or fails at once (a hang here is caught by the watchdog).
    assert_eq!(tx.send_deadline(2, past()), Err(SendTimeoutError::Timeout(2)));
    assert_eq!(tx.send_timeout(3, Duration::ZERO), Err(SendTimeoutError::Timeout(3)));
    assert_eq!(rx.recv_deadline(past()), Ok(1));
    assert_eq!(rx.recv_deadline(past()), Err(RecvTimeoutError::Timeout));
    assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
    assert_eq!(tx.send_timeout(4, Duration::ZERO), Ok(()));
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(4));
}

fn duration_max_means_no_deadline(strategy: WaitStrategy) {
    let _w = Watchdog::new("Duration::MAX");
    let (tx, rx) = chan::<u32>(1, strategy);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(ACT_AFTER);
            tx.send(1).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1), "Duration::MAX must wait, not time out");
    });
    tx.send(2).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(ACT_AFTER);
            assert_eq!(rx.recv(), Ok(2));
        });
        assert_eq!(tx.send_timeout(3, Duration::MAX), Ok(()), "Duration::MAX must wait, not time out");
    });
    assert_eq!(rx.try_recv(), Ok(3));
}

fn a_timeout_wait_is_ended_by_the_other_side(strategy: WaitStrategy) {
    let _w = Watchdog::new("timeouts ended early");
    let long = Duration::from_secs(60);
    // recv_timeout woken by a send from a clone.
    let (tx, rx) = chan::<u32>(1, strategy);
    thread::scope(|s| {
        let tx2 = tx.clone();
        s.spawn(move || {
            thread::sleep(ACT_AFTER);
            tx2.send(5).unwrap();
        });
        assert_eq!(rx.recv_timeout(long), Ok(5));
    });
    // send_timeout woken by a receive from a clone.
    tx.send(1).unwrap();
    thread::scope(|s| {
        let rx2 = rx.clone();
        s.spawn(move || {
            thread::sleep(ACT_AFTER);
            assert_eq!(rx2.recv(), Ok(1));
        });
        assert_eq!(tx.send_deadline(2, Instant::now() + long), Ok(()));
    });
    // recv_timeout woken by the last sender's drop.
    assert_eq!(rx.try_recv(), Ok(2));
    thread::scope(|s| {
        s.spawn(move || {
            thread::sleep(ACT_AFTER);
            drop(tx);
        });
        assert_eq!(rx.recv_deadline(Instant::now() + long), Err(RecvTimeoutError::Disconnected));
    });
    // send_timeout woken by the last receiver's drop, value handed back.
    let (tx, rx) = chan::<String>(1, strategy);
    tx.send("full".into()).unwrap();
    thread::scope(|s| {
        s.spawn(move || {
            thread::sleep(ACT_AFTER);
            drop(rx);
        });
        let err = tx.send_timeout("back".into(), long).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "back"));
    });
}

for_each_strategy!(
    timeouts_wait_at_least_as_asked_and_hand_the_value_back,
    past_deadline_means_exactly_one_try,
    duration_max_means_no_deadline,
    a_timeout_wait_is_ended_by_the_other_side,
);

// ---------------------------------------------------------------------------
// Blocking and wake-ups
// ---------------------------------------------------------------------------

fn blocked_send_woken_by_recv(strategy: WaitStrategy) {
    let _w = Watchdog::new("blocked send woken by recv");
    let (tx, rx) = chan::<u32>(1, strategy);
    tx.send(1).unwrap();
    thread::scope(|s| {
        let h = s.spawn(|| tx.send(2));
        thread::sleep(ACT_AFTER);
        assert_eq!(rx.clone().recv(), Ok(1));
        assert_eq!(h.join().unwrap(), Ok(()));
    });
    assert_eq!(rx.try_recv(), Ok(2));
}

fn blocked_recv_woken_by_send(strategy: WaitStrategy) {
    let _w = Watchdog::new("blocked recv woken by send");
    let (tx, rx) = chan::<u32>(1, strategy);
    thread::scope(|s| {
        let h = s.spawn(|| rx.recv());
        thread::sleep(ACT_AFTER);
        tx.clone().send(9).unwrap();
        assert_eq!(h.join().unwrap(), Ok(9));
    });
}

fn blocked_recv_woken_by_force_send(strategy: WaitStrategy) {
    let _w = Watchdog::new("blocked recv woken by force_send");
    let (tx, rx) = chan::<u32>(1, strategy);
    thread::scope(|s| {
        let h = s.spawn(|| rx.recv());
        thread::sleep(ACT_AFTER);
        assert_eq!(tx.force_send(9), Ok(None));
        assert_eq!(h.join().unwrap(), Ok(9));
    });
}

fn blocked_send_woken_only_by_the_last_receiver_drop(strategy: WaitStrategy) {
    let _w = Watchdog::new("blocked send woken by last receiver drop");
    let (tx, rx) = chan::<String>(1, strategy);
    let rx2 = rx.clone();
    tx.send("full".into()).unwrap();
    thread::scope(|s| {
        let h = s.spawn(|| tx.send("blocked".into()));
        thread::sleep(ACT_AFTER);
        drop(rx);
        thread::sleep(ACT_AFTER);
        assert!(!tx.is_disconnected());
        assert!(!h.is_finished(), "the sender gave up while a receiver was still alive");
        drop(rx2);
        assert_eq!(h.join().unwrap(), Err(SendError("blocked".to_string())));
    });
    assert!(tx.is_disconnected());
}

fn blocked_recv_woken_only_by_the_last_sender_drop(strategy: WaitStrategy) {
    let _w = Watchdog::new("blocked recv woken by last sender drop");
    let (tx, rx) = chan::<u32>(1, strategy);
    let tx2 = tx.clone();
    thread::scope(|s| {
        let h = s.spawn(|| rx.recv());
        thread::sleep(ACT_AFTER);
        drop(tx2);
        thread::sleep(ACT_AFTER);
        assert!(!rx.is_disconnected());
        assert!(!h.is_finished(), "the receiver gave up while a sender was still alive");
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(RecvError));
    });
}

fn many_blocked_receivers_are_all_woken_by_the_last_sender_drop(strategy: WaitStrategy) {
    let _w = Watchdog::new("many blocked receivers, last sender drop");
    let (tx, rx) = chan::<u32>(2, strategy);
    thread::scope(|s| {
        let hs: Vec<_> =
            (0..3)
                .map(|i| {
                    let rx = rx.clone();
                    s.spawn(move || {
                        if i == 0 {
                            rx.recv().map_err(|_| ())
                        } else {
                            rx.recv_timeout(Duration::MAX).map_err(|_| ())
                        }
                    })
                })
                .collect();
        thread::sleep(ACT_AFTER);
        drop(tx);
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(()));
        }
    });
}

fn many_blocked_senders_are_all_woken_by_the_last_receiver_drop(strategy: WaitStrategy) {
    let _w = Watchdog::new("many blocked senders, last receiver drop");
    let (tx, rx) = chan::<u32>(1, strategy);
    tx.send(0).unwrap();
    thread::scope(|s| {
        let hs: Vec<_> = (1..4)
            .map(|i| {
                let tx = tx.clone();
                s.spawn(move || {
                    if i == 1 {
                        tx.send(i).map_err(|e| e.0)
                    } else {
                        tx.send_timeout(i, Duration::MAX).map_err(|e| e.into_inner())
                    }
                })
            })
            .collect();
        thread::sleep(ACT_AFTER);
        drop(rx);
        for (i, h) in (1..4).zip(hs) {
            assert_eq!(h.join().unwrap(), Err(i), "each blocked sender gets its own value back");
        }
    });
}

fn many_blocked_receivers_each_woken_by_one_send(strategy: WaitStrategy) {
    let _w = Watchdog::new("many blocked receivers, one send each");
    let (tx, rx) = chan::<u32>(4, strategy);
    thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || rx.recv())
            })
            .collect();
        thread::sleep(ACT_AFTER);
        for i in 0..3 {
            tx.send(i).unwrap();
            thread::sleep(Duration::from_millis(5));
        }
        let mut got: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
    });
}

fn many_blocked_senders_each_woken_by_one_recv(strategy: WaitStrategy) {
    let _w = Watchdog::new("many blocked senders, one recv each");
    let (tx, rx) = chan::<u32>(1, strategy);
    tx.send(0).unwrap();
    thread::scope(|s| {
        let hs: Vec<_> = (1..4)
            .map(|i| {
                let tx = tx.clone();
                s.spawn(move || tx.send(i))
            })
            .collect();
        thread::sleep(ACT_AFTER);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(rx.recv().unwrap());
            thread::sleep(Duration::from_millis(5));
        }
        for h in hs {
            assert_eq!(h.join().unwrap(), Ok(()));
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3]);
    });
}

for_each_strategy!(
    blocked_send_woken_by_recv,
    blocked_recv_woken_by_send,
    blocked_recv_woken_by_force_send,
    blocked_send_woken_only_by_the_last_receiver_drop,
    blocked_recv_woken_only_by_the_last_sender_drop,
    many_blocked_receivers_are_all_woken_by_the_last_sender_drop,
    many_blocked_senders_are_all_woken_by_the_last_receiver_drop,
    many_blocked_receivers_each_woken_by_one_send,
    many_blocked_senders_each_woken_by_one_recv,
);

// ---------------------------------------------------------------------------
// Disconnection through clones, in every drop order
// ---------------------------------------------------------------------------

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn senders_dropped_in_any_order_disconnect_only_at_the_last() {
    for order in permutations(3) {
        for strategy in STRATEGIES {
            let (tx, rx) = chan::<u32>(8, strategy);
            let rx2 = rx.clone();
            let mut txs = [Some(tx.clone()), Some(tx.clone()), Some(tx)];
            for (i, t) in txs.iter().enumerate() {
                let t = t.as_ref().unwrap();
                t.send(2 * i as u32).unwrap();
                t.send(2 * i as u32 + 1).unwrap();
            }
            let mut expect = 0u32;
            for (k, &i) in order.iter().enumerate() {
                assert!(!rx.is_disconnected(), "{order:?}: before drop {k}");
                txs[i] = None;
                if k < 2 {
                    assert!(!rx.is_disconnected() && !rx2.is_disconnected(), "{order:?}: after drop {k}");
                    for r in [&rx, &rx2] {
                        assert_eq!(r.try_recv(), Ok(expect), "{order:?}");
                        expect += 1;
                    }
                }
            }
            assert!(rx.is_disconnected() && rx2.is_disconnected(), "{order:?}: after the last drop");
            assert!(rx.clone().is_disconnected());
            assert_eq!(rx2.recv(), Ok(4), "{order:?}: drains what is queued first");
            assert_eq!(rx.try_recv(), Ok(5), "{order:?}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            assert_eq!(rx2.recv(), Err(RecvError));
            assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Err(RecvTimeoutError::Disconnected));
        }
    }
}

#[test]
fn with_senders_alive_an_empty_ring_is_empty_not_disconnected() {
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<u32>(2, strategy);
        let tx2 = tx.clone();
        let tx3 = tx2.clone();
        drop(tx);
        drop(tx3);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
        assert_eq!(rx.recv_deadline(past()), Err(RecvTimeoutError::Timeout));
        tx2.send(1).unwrap();
        drop(tx2);
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Err(RecvError));
    }
}

#[test]
fn receivers_dropped_in_any_order_disconnect_only_at_the_last() {
    for order in permutations(3) {
        for strategy in STRATEGIES {
            let t = Tracker::new(8);
            let (tx, rx) = chan::<Tracked>(8, strategy);
            let mut rxs = [Some(rx.clone()), Some(rx.clone()), Some(rx)];
            tx.send(t.item(0)).unwrap();
            tx.send(t.item(1)).unwrap();
            for (k, &i) in order.iter().enumerate() {
                assert!(!tx.is_disconnected(), "{order:?}: before drop {k}");
                rxs[i] = None;
                if k < 2 {
                    assert!(!tx.is_disconnected(), "{order:?}: after drop {k}");
                    assert!(tx.try_send(t.item(2 + k)).is_ok(), "room and a receiver alive");
                }
            }
            assert!(tx.is_disconnected(), "{order:?}");
            assert!(tx.len() < tx.capacity(), "there is room");
            assert_eq!(
                tx.try_send(t.item(4)).map_err(|e| (e.is_disconnected(), e.into_inner().id())).err(),
                Some((true, 4))
            );
            assert_eq!(tx.send(t.item(5)).map_err(|e| e.0.id()).err(), Some(5));
            assert_eq!(tx.send_timeout(t.item(6), Duration::MAX).map_err(|e| e.into_inner().id()).err(), Some(6));
            assert_eq!(tx.force_send(t.item(7)).map(|_| ()).map_err(|e| e.0.id()).err(), Some(7));
            t.assert_dropped_once(4..8); // handed back, then dropped by us
            t.assert_not_dropped(0..4);
            drop(tx);
            t.assert_dropped_once(0..8);
        }
    }
}

#[test]
fn senders_and_receivers_dropped_in_every_interleaving() {
    // Handles 0, 1 are senders; 2, 3 receivers.
    for order in permutations(4) {
        let t = Tracker::new(64);
        let mut next_id = 0;
        let (tx, rx) = mpmc::channel::<Tracked>(3);
        let mut txs = [Some(tx.clone()), Some(tx)];
        let mut rxs = [Some(rx.clone()), Some(rx)];
        txs[0].as_ref().unwrap().send(t.item(next_id)).unwrap();
        next_id += 1;
        for &h in &order {
            if h < 2 {
                txs[h] = None;
            } else {
                rxs[h - 2] = None;
            }
            let senders = txs.iter().flatten().count();
            let receivers = rxs.iter().flatten().count();
            for s in txs.iter().flatten() {
                assert_eq!(s.is_disconnected(), receivers == 0, "{order:?}");
                let item = t.item(next_id);
                next_id += 1;
                match s.try_send(item) {
                    Ok(()) => assert!(receivers > 0, "{order:?}: sent on a disconnected channel"),
                    Err(TrySendError::Disconnected(v)) => {
                        assert_eq!(receivers, 0, "{order:?}");
                        drop(v);
                    }
                    Err(TrySendError::Full(v)) => {
                        assert!(receivers > 0, "{order:?}: Full instead of Disconnected");
                        drop(v);
                    }
                }
            }
            for r in rxs.iter().flatten() {
                assert_eq!(r.is_disconnected(), senders == 0, "{order:?}");
                if senders == 0 {
                    while r.try_recv().is_ok() {}
                    assert_eq!(r.try_recv().err(), Some(TryRecvError::Disconnected), "{order:?}");
                }
            }
        }
        t.assert_dropped_once(0..next_id);
        assert_eq!(t.total(), next_id, "{order:?}");
    }
}

// ---------------------------------------------------------------------------
// Drop accounting
// ---------------------------------------------------------------------------

fn queued_items_dropped_exactly_once(capacity: usize, queued: usize, receivers_last: bool, start: Option<usize>) {
    let t = Tracker::new(capacity * 4);
    let mut b = Builder::new(capacity);
    if let Some(s) = start {
        b = b.__start_position(s);
    }
    let (tx, rx) = b.mpmc::<Tracked>();
    let (tx2, rx2) = (tx.clone(), rx.clone());
    // Move the positions along first so the queued items wrap.
    let mut id = 0;
    for _ in 0..capacity + capacity / 2 {
        tx.send(t.item(id)).unwrap();
        id += 1;
        drop(rx.try_recv().unwrap());
    }
    let first_queued = id;
    for _ in 0..queued {
        tx2.send(t.item(id)).unwrap();
        id += 1;
    }
    t.assert_dropped_once(0..first_queued);
    t.assert_not_dropped(first_queued..id);
    if receivers_last {
        drop(tx);
        drop(tx2);
        drop(rx);
        t.assert_not_dropped(first_queued..id);
        drop(rx2);
    } else {
        drop(rx2);
        drop(rx);
        drop(tx2);
        t.assert_not_dropped(first_queued..id);
        drop(tx);
    }
    t.assert_dropped_once(0..id);
    assert_eq!(t.total(), id);
}

#[test]
fn queued_items_dropped_once_when_the_last_handle_drops() {
    for capacity in [1, 2, 3, 7] {
        for queued in 0..=capacity {
            for receivers_last in [false, true] {
                queued_items_dropped_exactly_once(capacity, queued, receivers_last, None);
                queued_items_dropped_exactly_once(capacity, queued, receivers_last, Some(usize::MAX - capacity));
            }
        }
    }
    if !cfg!(miri) {
        queued_items_dropped_exactly_once(1025, 1025, true, None);
        queued_items_dropped_exactly_once(1025, 1000, false, Some(usize::MAX - 1));
    }
}

#[test]
fn received_and_handed_back_values_are_dropped_by_their_owner_only() {
    let t = Tracker::new(10);
    let (tx, rx) = mpmc::channel::<Tracked>(1);
    tx.send(t.item(0)).unwrap();
    let full = tx.try_send(t.item(1)).err().unwrap();
    let timeout = tx.send_timeout(t.item(2), Duration::from_millis(1)).err().unwrap();
    let deadline = tx.send_deadline(t.item(3), past()).err().unwrap();
    t.assert_not_dropped(0..4);
    drop(full);
    drop(timeout);
    drop(deadline);
    t.assert_dropped_once(1..4);
    let got = rx.recv().ok().unwrap();
    t.assert_not_dropped([0]);
    drop(got);
    t.assert_dropped_once([0]);
    drop(rx);
    let disconnected = tx.send(t.item(4)).err().unwrap();
    let forced = tx.force_send(t.item(5)).err().unwrap();
    t.assert_not_dropped(4..6);
    drop((disconnected, forced));
    t.assert_dropped_once(0..6);
    drop(tx);
    assert_eq!(t.total(), 6);
}

#[test]
fn evicted_items_are_handed_to_the_caller_and_dropped_once_by_it() {
    for capacity in [1, 2, 3] {
        let n = capacity * 5;
        let t = Tracker::new(n);
        let (tx, rx) = mpmc::channel::<Tracked>(capacity);
        let mut evicted = Vec::new();
        for id in 0..n {
            if let Some(old) = tx.force_send(t.item(id)).ok().unwrap() {
                evicted.push(old);
            }
        }
        assert_eq!(evicted.iter().map(|v| v.id()).collect::<Vec<_>>(), (0..n - capacity).collect::<Vec<_>>());
        t.assert_not_dropped(0..n);
        drop(evicted);
        t.assert_dropped_once(0..n - capacity);
        t.assert_not_dropped(n - capacity..n);
        drop(rx);
        drop(tx);
        t.assert_dropped_once(0..n);
    }
}

/// Queues five `PanicOnce` items (ids 0..5) in a ring of capacity 8 whose
/// positions have already moved, makes the one at `panic_at` panic in its
/// `Drop`, drops the last handle inside `catch_unwind`, and checks that the
/// panic propagated and that every item was dropped exactly once.
fn panicking_drop_of_a_queued_item(counts: &'static [AtomicUsize], panic_at: usize, receivers_last: bool) {
    for c in counts {
        c.store(0, Ordering::SeqCst);
    }
    let (tx, rx) = mpmc::channel::<PanicOnce>(8);
    // Move the positions so the queued items wrap around the buffer end.
    for _ in 0..6 {
        tx.send(PanicOnce::new(counts, 7, false)).ok().unwrap();
        drop(rx.recv().ok().unwrap());
    }
    counts[7].store(0, Ordering::SeqCst);
    for id in 0..5 {
        tx.send(PanicOnce::new(counts, id, id == panic_at)).ok().unwrap();
    }
    type DropHandle = Box<dyn FnOnce()>;
    let (first, last): (DropHandle, DropHandle) = if receivers_last {
        (Box::new(move || drop(tx)), Box::new(move || drop(rx)))
    } else {
        (Box::new(move || drop(rx)), Box::new(move || drop(tx)))
    };
    first();
    let result = catch_unwind(AssertUnwindSafe(last));
    assert!(result.is_err(), "the panic of an item's Drop propagates to whoever dropped the last handle");
    let drops: Vec<usize> = counts[..5].iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(drops, [1, 1, 1, 1, 1], "panic_at {panic_at}: drops per queued item (ids 0..5)");
}

#[test]
fn panicking_drop_of_the_newest_queued_item() {
    static COUNTS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];
    for receivers_last in [false, true] {
        panicking_drop_of_a_queued_item(&COUNTS, 4, receivers_last);
    }
}

#[test]
fn panicking_drop_of_an_older_queued_item_drops_each_item_once() {
    static COUNTS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];
    for panic_at in [0, 1, 3] {
        for receivers_last in [false, true] {
            panicking_drop_of_a_queued_item(&COUNTS, panic_at, receivers_last);
        }
    }
}

// ---------------------------------------------------------------------------
// Zero-sized items
// ---------------------------------------------------------------------------

#[test]
fn zst_unit_items() {
    // (1025 took 27 s of wall time under Miri, run alone with its start-up;
    // 65 is, like it, just above a power of two.)
    let capacities: &[usize] = if cfg!(miri) { &[1, 3, 65] } else { &[1, 3, 1025] };
    for &capacity in capacities {
        let (tx, rx) = mpmc::channel::<()>(capacity);
        for _ in 0..capacity {
            assert_eq!(tx.try_send(()), Ok(()));
        }
        assert_eq!(tx.len(), capacity);
        assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
        assert_eq!(tx.send_timeout((), Duration::ZERO), Err(SendTimeoutError::Timeout(())));
        assert_eq!(tx.force_send(()), Ok(Some(())));
        assert_eq!(tx.len(), capacity);
        for _ in 0..capacity {
            assert_eq!(rx.try_recv(), Ok(()));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.force_send(()), Ok(None));
        drop(tx);
        assert_eq!(rx.recv(), Ok(()));
        assert_eq!(rx.recv(), Err(RecvError));
    }
}

#[test]
fn zst_wrap_and_usize_max() {
    let (tx, rx) = Builder::new(3).__start_position(usize::MAX - 5).mpmc::<()>();
    for _ in 0..scaled(10_000, 50) {
        tx.try_send(()).unwrap();
        tx.try_send(()).unwrap();
        assert_eq!(rx.len(), 2);
        rx.try_recv().unwrap();
        rx.try_recv().unwrap();
        assert!(rx.is_empty());
    }
}

#[test]
fn zst_with_drop_counter_force_send_and_leftovers() {
    type Z = Zst<0>;
    let (tx, rx) = mpmc::channel::<Z>(4);
    let mut created = 0;
    for _ in 0..4 {
        tx.send(Z {}).ok().unwrap();
        created += 1;
    }
    assert_eq!(Z::drops(), 0);
    for i in 0..3 {
        let evicted = tx.force_send(Z {}).ok().unwrap();
        created += 1;
        assert!(evicted.is_some());
        assert_eq!(Z::drops(), i, "the ring does not drop what it evicts");
        drop(evicted);
        assert_eq!(Z::drops(), i + 1, "the caller drops it");
    }
    assert_eq!(Z::drops(), 3);
    drop(rx.recv().ok().unwrap());
    assert_eq!(Z::drops(), 4);
    let back = tx.try_send(Z {});
    created += 1;
    assert!(back.is_ok());
    drop(tx);
    assert_eq!(Z::drops(), 4);
    drop(rx);
    assert_eq!(Z::drops(), created, "the 4 left in the ring are dropped once");
}

#[test]
fn zst_huge_capacity() {
    let capacity = scaled(1 << 20, 1 << 6);
    let (tx, rx) = mpmc::channel::<()>(capacity);
    assert_eq!(tx.capacity(), capacity);
    for _ in 0..100.min(capacity) {
        tx.try_send(()).unwrap();
    }
    assert_eq!(rx.len(), 100.min(capacity));
}

#[test]
fn zst_transfer_between_threads() {
    let _w = Watchdog::new("zst transfer");
    type Z = Zst<1>;
    let per = scaled(20_000, 50);
    let (tx, rx) = mpmc::channel::<Z>(2);
    let received = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..per {
                    if i % 2 == 0 {
                        tx.send(Z {}).ok().unwrap();
                    } else {
                        drop(tx.force_send(Z {}).ok().unwrap());
                    }
                }
            });
        }
        for _ in 0..2 {
            let rx = rx.clone();
            let received = &received;
            s.spawn(move || {
                for z in rx.iter() {
                    drop(z);
                    received.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        drop(tx);
        drop(rx);
    });
    assert!(received.load(Ordering::Relaxed) <= 2 * per);
    assert_eq!(Z::drops(), 2 * per, "every item dropped once: received or evicted");
}

// ---------------------------------------------------------------------------
// Capacity panics
// ---------------------------------------------------------------------------

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn capacity_0_panics_in_channel() {
    let _ = mpmc::channel::<u32>(0);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn capacity_0_panics_in_builder() {
    let _ = Builder::new(0).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
}

#[test]
#[should_panic(expected = "too large")]
fn capacity_above_usize_max_over_4_panics() {
    let _ = Builder::new(usize::MAX / 4 + 1).mpmc::<u8>();
}

#[test]
#[should_panic(expected = "too large")]
fn capacity_usize_max_panics_even_for_zsts() {
    let _ = mpmc::channel::<()>(usize::MAX);
}

#[test]
#[should_panic(expected = "too large")]
fn capacity_whose_buffer_overflows_panics() {
    let _ = mpmc::channel::<u64>(usize::MAX / 4);
}

// ---------------------------------------------------------------------------
// Stress: exactly-once, per-producer FIFO, threads outnumbering cores
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `send` / `recv` only.
    Blocking,
    /// Every send and receive form, chosen at random; timed-out and full
    /// sends retry with the value handed back.
    Mixed,
}

#[derive(Clone, Copy, Debug)]
struct Load {
    producers: usize,
    consumers: usize,
    per_producer: usize,
    capacity: usize,
    strategy: WaitStrategy,
    mode: Mode,
    start: Option<usize>,
}

/// Sends `producers * per_producer` distinct values and checks that every
/// one is received exactly once and that each consumer sees each producer's
/// values in the order they were sent.
fn stress(load: Load) {
    let Load { producers, consumers, per_producer: per, capacity, strategy, mode, start } = load;
    let mut b = Builder::new(capacity).wait_strategy(strategy);
    if let Some(s) = start {
        b = b.__start_position(s);
    }
    let (tx, rx) = b.mpmc::<usize>();
    let total = producers * per;
    let seen = Seen::new(total);
    let received = AtomicUsize::new(0);
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                let mut rng = Rng::new_mixed(p as u64 + 1);
                for seq in 0..per {
                    let v = p * per + seq;
                    match mode {
                        Mode::Blocking => tx.send(v).unwrap(),
                        Mode::Mixed => send_any_way(&tx, v, &mut rng),
                    }
                }
            });
        }
        for c in 0..consumers {
            let rx = rx.clone();
            let (seen, received) = (&seen, &received);
            s.spawn(move || {
                let mut last: Vec<Option<usize>> = vec![None; producers];
                let mut n = 0;
                let mut on_value = |v: usize| {
                    let (p, seq) = (v / per, v % per);
                    assert!(p < producers, "value {v} was never sent");
                    if let Some(prev) = last[p] {
                        assert!(seq > prev, "consumer {c}: producer {p}'s {seq} after {prev} ({load:?})");
                    }
                    last[p] = Some(seq);
                    seen.mark(v, "stress");
                    n += 1;
                };
                match mode {
                    Mode::Blocking => {
                        while let Ok(v) = rx.recv() {
                            on_value(v);
                        }
                    }
                    Mode::Mixed => {
                        let mut rng = Rng::new_mixed(1000 + c as u64);
                        recv_any_way(&rx, &mut rng, &mut on_value);
                    }
                }
                received.fetch_add(n, Ordering::Relaxed);
            });
        }
        drop(tx);
        drop(rx);
    });
    assert_eq!(received.load(Ordering::Relaxed), total, "{load:?}");
    seen.assert_all();
}

/// Sends `v` with a randomly chosen send form, retrying with the value each
/// failed attempt hands back (which must be `v` itself).
fn send_any_way(tx: &Sender<usize>, v: usize, rng: &mut Rng) {
    let mut v = v;
    let original = v;
    loop {
        let result = match rng.below(5) {
            0 => {
                tx.send(v).expect("disconnected while receivers are alive");
                Ok(())
            }
            1 => tx.try_send(v).map_err(|e| {
                assert!(e.is_full(), "disconnected while receivers are alive");
                e.into_inner()
            }),
            2 => tx.send_timeout(v, Duration::from_micros(rng.below(200) as u64)).map_err(|e| {
                assert!(e.is_timeout(), "disconnected while receivers are alive");
                e.into_inner()
            }),
            3 => tx.send_deadline(v, past()).map_err(|e| {
                assert!(e.is_timeout(), "disconnected while receivers are alive");
                e.into_inner()
            }),
            _ => {
                tx.send_timeout(v, Duration::MAX).expect("Duration::MAX timed out, or disconnected");
                Ok(())
            }
        };
        match result {
            Ok(()) => return,
            Err(back) => {
                assert_eq!(back, original, "a failed send handed back another value");
                v = back;
                thread::yield_now();
            }
        }
    }
}

/// Receives until disconnection with randomly chosen receive forms.
fn recv_any_way(rx: &Receiver<usize>, rng: &mut Rng, on_value: &mut impl FnMut(usize)) {
    loop {
        match rng.below(5) {
            0 => match rx.recv() {
                Ok(v) => on_value(v),
                Err(RecvError) => return,
            },
            1 => match rx.try_recv() {
                Ok(v) => on_value(v),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => return,
            },
            2 => match rx.recv_timeout(Duration::from_micros(rng.below(200) as u64)) {
                Ok(v) => on_value(v),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            },
            3 => {
                let mut any = false;
                for v in rx.try_iter().take(8) {
                    on_value(v);
                    any = true;
                }
                if !any {
                    match rx.recv_deadline(past()) {
                        Ok(v) => on_value(v),
                        Err(RecvTimeoutError::Timeout) => thread::yield_now(),
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
            _ => match rx.recv_timeout(Duration::MAX) {
                Ok(v) => on_value(v),
                Err(_) => return,
            },
        }
    }
}

#[test]
fn exactly_once_4_producers_4_consumers_1m_items() {
    let _w = Watchdog::new("4x4 1M");
    stress(Load {
        producers: 4,
        consumers: 4,
        per_producer: scaled(250_000, 50),
        capacity: 64,
        strategy: WaitStrategy::Park,
        mode: Mode::Blocking,
        start: None,
    });
}

/// Items per producer for a per-strategy stress test: fewer on `BusySpin`
/// (its spinning threads share two cores with the peers they wait for),
/// `under_miri` under Miri.
fn per_producer(strategy: WaitStrategy, busy_spin: usize, others: usize, under_miri: usize) -> usize {
    match strategy {
        WaitStrategy::BusySpin => scaled(busy_spin, under_miri),
        _ => scaled(others, under_miri),
    }
}

fn exactly_once_4x4(strategy: WaitStrategy) {
    let _w = Watchdog::new("4x4 per strategy");
    let per = per_producer(strategy, 10_000, 25_000, 20);
    stress(Load {
        producers: 4,
        consumers: 4,
        per_producer: per,
        capacity: 16,
        strategy,
        mode: Mode::Blocking,
        start: None,
    });
}

fn capacity_1_with_4_producers_4_consumers(strategy: WaitStrategy) {
    let _w = Watchdog::new("capacity 1, 4x4");
    let per = per_producer(strategy, 3_000, 10_000, 10);
    stress(Load {
        producers: 4,
        consumers: 4,
        per_producer: per,
        capacity: 1,
        strategy,
        mode: Mode::Blocking,
        start: None,
    });
}

fn mixed_operations_and_timeouts_never_lose_a_value(strategy: WaitStrategy) {
    let _w = Watchdog::new("mixed ops");
    // BusySpin waiters hold a core until the scheduler preempts them, and
    // the blocking forms spin out their timeouts: with more threads than
    // cores each hand-over can cost a time slice, so keep that run small.
    let (threads, per) = match strategy {
        WaitStrategy::BusySpin => (2, scaled(1_000, 15)),
        _ => (3, scaled(15_000, 15)),
    };
    stress(Load {
        producers: threads,
        consumers: threads,
        per_producer: per,
        capacity: 4,
        strategy,
        mode: Mode::Mixed,
        start: Some(usize::MAX - 100),
    });
}

/// A ring that never fills: the blocking calls only ever contend for the
/// claim, which on `SpinYield` / `Park` channels yields the thread after
/// nine lost races (`Claimant::Waiting`), the scenario of the kanal suite's
/// capacity-10^6 rows; 8 senders and 2 receivers on however many cores.
fn never_full_ring_contended_claims_lose_nothing(strategy: WaitStrategy) {
    let _w = Watchdog::new("never full, 8x2");
    let per = per_producer(strategy, 20_000, 100_000, 10);
    stress(Load {
        producers: 8,
        consumers: 2,
        per_producer: per,
        capacity: 8 * per,
        strategy,
        mode: Mode::Blocking,
        start: None,
    });
}

for_each_strategy!(
    exactly_once_4x4,
    capacity_1_with_4_producers_4_consumers,
    mixed_operations_and_timeouts_never_lose_a_value,
    never_full_ring_contended_claims_lose_nothing
);

#[test]
fn park_8_producers_8_consumers_more_threads_than_cores() {
    let _w = Watchdog::new("8x8 Park");
    stress(Load {
        producers: 8,
        consumers: 8,
        per_producer: scaled(25_000, 10),
        capacity: 8,
        strategy: WaitStrategy::Park,
        mode: Mode::Blocking,
        start: None,
    });
    stress(Load {
        producers: 8,
        consumers: 8,
        per_producer: scaled(5_000, 5),
        capacity: 1,
        strategy: WaitStrategy::Park,
        mode: Mode::Mixed,
        start: None,
    });
}

#[test]
fn payload_written_before_send_is_visible_after_recv() {
    let _w = Watchdog::new("payload visibility");
    let per = scaled(20_000, 20);
    let (tx, rx) = mpmc::channel::<Box<[usize; 8]>>(4);
    let count = AtomicUsize::new(0);
    thread::scope(|s| {
        for p in 0..2 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..per {
                    let v = p * per + i;
                    tx.send(Box::new([v; 8])).unwrap();
                }
            });
        }
        for _ in 0..2 {
            let rx = rx.clone();
            let count = &count;
            s.spawn(move || {
                for b in rx.iter() {
                    assert!(b.iter().all(|&x| x == b[0]), "torn payload {b:?}");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        drop(tx);
        drop(rx);
    });
    assert_eq!(count.load(Ordering::Relaxed), 2 * per);
}

#[test]
fn len_never_exceeds_capacity_under_load() {
    let _w = Watchdog::new("len bound");
    for capacity in [1, 3] {
        let per = scaled(20_000, 30);
        let (tx, rx) = mpmc::channel::<usize>(capacity);
        let done = AtomicBool::new(false);
        let samples = AtomicUsize::new(0);
        thread::scope(|s| {
            // The sampler holds a receiver only: a sender clone would keep
            // the consumers from ever seeing the disconnection.
            let probe = rx.clone();
            let (done, samples) = (&done, &samples);
            let sampler = s.spawn(move || loop {
                let len = probe.len();
                assert!(len <= capacity, "len() = {len} > capacity {capacity}");
                samples.fetch_add(1, Ordering::Relaxed);
                if done.load(Ordering::Relaxed) {
                    break;
                }
                // Spin without yielding: a sampler preempted between its two
                // position loads (while the others move on) is exactly what a
                // missing clamp shows up as; with a `yield_now` per sample
                // this test no longer caught an unclamped `len()`.
                if cfg!(miri) {
                    thread::yield_now();
                }
            });
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let tx = tx.clone();
                    s.spawn(move || {
                        for i in 0..per {
                            // One producer overwrites, exercising the
                            // eviction window where head and tail move apart.
                            if p == 0 {
                                tx.send(i).unwrap();
                            } else {
                                let _ = tx.force_send(i).unwrap();
                            }
                            let len = tx.len();
                            assert!(len <= capacity, "sender: len() = {len} > capacity {capacity}");
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    s.spawn(move || {
                        while rx.recv().is_ok() {
                            let len = rx.len();
                            assert!(len <= capacity, "receiver: len() = {len} > capacity {capacity}");
                        }
                    })
                })
                .collect();
            drop(tx);
            drop(rx);
            for h in producers {
                h.join().unwrap();
            }
            for h in consumers {
                h.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
            sampler.join().unwrap();
        });
        assert!(samples.load(Ordering::Relaxed) > 0);
    }
}

/// `force_senders` threads overwrite, `plain_senders` threads `send`,
/// `receivers` threads `recv` until disconnection. Every value must end up
/// exactly once in (delivered ∪ evicted), and each receiver must see each
/// producer's values in order.
fn force_send_contention(
    strategy: WaitStrategy,
    capacity: usize,
    force_senders: usize,
    plain_senders: usize,
    receivers: usize,
    per: usize,
) {
    let (tx, rx) = chan::<usize>(capacity, strategy);
    let producers = force_senders + plain_senders;
    let total = producers * per;
    let seen = Seen::new(total);
    let delivered = AtomicUsize::new(0);
    let evicted_count = AtomicUsize::new(0);
    let evicted_all = Mutex::new(Vec::new());
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            let (evicted_all, evicted_count) = (&evicted_all, &evicted_count);
            s.spawn(move || {
                let mut evicted = Vec::new();
                for seq in 0..per {
                    let v = p * per + seq;
                    if p < force_senders {
                        match tx.force_send(v) {
                            Ok(None) => {}
                            Ok(Some(old)) => evicted.push(old),
                            Err(_) => panic!("force_send failed with receivers alive"),
                        }
                    } else {
                        tx.send(v).unwrap();
                    }
                }
                evicted_count.fetch_add(evicted.len(), Ordering::Relaxed);
                evicted_all.lock().unwrap().extend(evicted);
            });
        }
        for c in 0..receivers {
            let rx = rx.clone();
            let (seen, delivered) = (&seen, &delivered);
            s.spawn(move || {
                let mut last: Vec<Option<usize>> = vec![None; producers];
                let mut n = 0;
                for v in rx.iter() {
                    let (p, seq) = (v / per, v % per);
                    if let Some(prev) = last[p] {
                        assert!(seq > prev, "receiver {c}: producer {p}'s {seq} after {prev}");
                    }
                    last[p] = Some(seq);
                    seen.mark(v, "delivered");
                    n += 1;
                }
                delivered.fetch_add(n, Ordering::Relaxed);
            });
        }
        drop(tx);
        drop(rx);
    });
    let evicted = evicted_all.into_inner().unwrap();
    assert_eq!(evicted.len(), evicted_count.load(Ordering::Relaxed));
    for &v in &evicted {
        seen.mark(v, "evicted (after delivered)");
    }
    assert_eq!(delivered.load(Ordering::Relaxed) + evicted.len(), total, "delivered + evicted == sent");
    seen.assert_all();
}

fn force_send_under_contention(strategy: WaitStrategy) {
    let _w = Watchdog::new("force_send contention");
    let per = per_producer(strategy, 10_000, 30_000, 20);
    force_send_contention(strategy, 4, 3, 0, 2, per);
    force_send_contention(strategy, 1, 2, 0, 2, per / 2);
    force_send_contention(strategy, 3, 2, 1, 2, per / 2);
}

fn force_send_with_tracked_items_and_receivers_leaving(strategy: WaitStrategy) {
    let _w = Watchdog::new("force_send tracked");
    let per = scaled(5_000, 20);
    let producers = 3;
    let t = Tracker::new(producers * per);
    let created = AtomicUsize::new(0);
    let (tx, rx) = chan::<Tracked>(3, strategy);
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            let (t, created) = (&t, &created);
            s.spawn(move || {
                for seq in 0..per {
                    let item = t.item(p * per + seq);
                    created.fetch_add(1, Ordering::Relaxed);
                    match tx.force_send(item) {
                        Ok(evicted) => drop(evicted),
                        Err(SendError(back)) => {
                            // Receivers left: the value comes back; stop.
                            drop(back);
                            return;
                        }
                    }
                }
            });
        }
        for c in 0..2 {
            let rx = rx.clone();
            s.spawn(move || {
                // Leave early: later sends must hand values back, and what
                // is left in the ring is dropped by the last handle.
                for _ in 0..per / (2 + c) {
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(v) => drop(v),
                        Err(_) => break,
                    }
                }
            });
        }
        drop(rx);
        drop(tx);
    });
    let created = created.load(Ordering::Relaxed);
    assert_eq!(t.total(), created, "every created item dropped once: delivered, evicted, handed back or left over");
    for id in 0..producers * per {
        assert!(t.drops(id) <= 1, "item {id} dropped {} times", t.drops(id));
    }
}

fn senders_blocked_when_receivers_leave_get_their_values_back(strategy: WaitStrategy) {
    let _w = Watchdog::new("receivers leave under load");
    let per = scaled(5_000, 20);
    let producers = 4;
    let t = Tracker::new(producers * per);
    let created = AtomicUsize::new(0);
    let handed_back = AtomicUsize::new(0);
    let (tx, rx) = chan::<Tracked>(2, strategy);
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            let (t, created, handed_back) = (&t, &created, &handed_back);
            s.spawn(move || {
                for seq in 0..per {
                    created.fetch_add(1, Ordering::Relaxed);
                    if let Err(SendError(back)) = tx.send(t.item(p * per + seq)) {
                        assert_eq!(back.id(), p * per + seq);
                        handed_back.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
        for _ in 0..2 {
            let rx = rx.clone();
            s.spawn(move || {
                for _ in 0..per / 2 {
                    drop(rx.recv().ok().unwrap());
                }
            });
        }
        drop(rx);
        drop(tx);
    });
    let created = created.load(Ordering::Relaxed);
    assert!(handed_back.load(Ordering::Relaxed) <= producers);
    assert_eq!(t.total(), created);
    for id in 0..producers * per {
        assert!(t.drops(id) <= 1, "item {id} dropped {} times", t.drops(id));
    }
}

for_each_strategy!(
    force_send_under_contention,
    force_send_with_tracked_items_and_receivers_leaving,
    senders_blocked_when_receivers_leave_get_their_values_back,
);

/// Polls `cond` every millisecond until it holds; panics after 10 s.
#[track_caller]
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Soundness review, defect 3, deterministically (the loom models W5/W6 in
/// `loom-tests/tests/mpmc_wake.rs` explore every interleaving): two
/// receivers parked, position `p` claimed by a stalled sender, `p + 1`
/// published; its token wakes a receiver that finds `p` unready and parks
/// again; then `p` is published. Both receivers must get an item: before
/// the baton, one slept on with `p + 1` queued and timed out.
#[test]
#[cfg_attr(miri, ignore)] // waits on wall-clock progress of parked threads
fn out_of_order_publications_wake_both_parked_receivers() {
    let (tx, rx) = Builder::new(4).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
    let stalled = unsafe { tx.__claim_send(0) }.expect("room at p");
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_timeout(Duration::from_secs(5)))
        })
        .collect();
    wait_until("both receivers to park", || rx.stats().parks >= 2);
    tx.send(1).unwrap();
    wait_until("the woken receiver to park again", || rx.stats().parks >= 3);
    stalled.finish();
    let mut got: Vec<u32> =
        receivers.into_iter().map(|h| h.join().unwrap().expect("each parked receiver gets an item")).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1]);
}

/// The mirror for senders: a full ring, two senders parked, the oldest item
/// claimed by a stalled receiver, the next one received; its token wakes a
/// sender that finds the tail's slot still being read and parks again; then
/// the stalled read finishes. Both senders must get through.
#[test]
#[cfg_attr(miri, ignore)] // waits on wall-clock progress of parked threads
fn out_of_order_frees_wake_both_parked_senders() {
    let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    let stalled = unsafe { rx.__claim_recv() }.expect("item 0 is queued");
    let senders: Vec<_> = (2..4)
        .map(|v| {
            let tx = tx.clone();
            thread::spawn(move || tx.send_timeout(v, Duration::from_secs(5)).map_err(|e| e.into_inner()))
        })
        .collect();
    wait_until("both senders to park", || rx.stats().parks >= 2);
    assert_eq!(rx.try_recv(), Ok(1));
    wait_until("the woken sender to park again", || rx.stats().parks >= 3);
    assert_eq!(stalled.finish(), 0);
    for h in senders {
        assert_eq!(h.join().unwrap(), Ok(()), "each parked sender gets through");
    }
    let mut got = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
    got.sort_unstable();
    assert_eq!(got, [2, 3]);
}

/// The adaptive `Park` policy is bounded: a wait spins at most
/// `PARK_SPIN_MAX_NS` (50 µs) past its inline retries, yields a few times,
/// then parks, whatever the spin budget has learned. The sender sends each
/// item only once the receiver has parked for it (so every wait here is as
/// long as it takes to park, on a loaded machine too): if a wait could spin
/// or yield forever, `wait_until` times out. On both rings.
#[test]
#[cfg_attr(miri, ignore)] // waits on wall-clock progress of parked threads
fn park_waits_are_bounded_and_end_in_parking() {
    let gaps: u32 = 8;
    let (mut stx, mut srx) = ringflow::spsc::channel::<u32>(4);
    let sender = thread::spawn(move || {
        for i in 0..gaps {
            wait_until("the SPSC receiver to park", || stx.stats().parks > u64::from(i));
            stx.send(i).unwrap();
        }
        stx
    });
    for i in 0..gaps {
        assert_eq!(srx.recv(), Ok(i));
    }
    let _stx = sender.join().unwrap();
    let (tx, rx) = ringflow::mpmc::channel::<u32>(4);
    let sender = thread::spawn(move || {
        for i in 0..gaps {
            wait_until("the MPMC receiver to park", || tx.stats().parks > u64::from(i));
            tx.send(i).unwrap();
        }
        tx
    });
    for i in 0..gaps {
        assert_eq!(rx.recv(), Ok(i));
    }
    let _tx = sender.join().unwrap();
}

#[test]
fn blocking_iterators_are_fused() {
    // Once every sender is gone and the ring is drained, `recv` fails for
    // good (no sender can come back), so the blocking iterators promise
    // `None` forever after (`FusedIterator`).
    fn fused<I: std::iter::FusedIterator>(it: I) -> I {
        it
    }
    // The same steps on each ring's handles.
    macro_rules! check {
        ($channel:path, $v:expr) => {{
            #[allow(unused_mut)] // `&mut` for SPSC handles
            let (mut tx, mut rx) = $channel(2);
            tx.send($v).unwrap();
            drop(tx);
            let mut it = fused(rx.iter());
            assert_eq!((it.next(), it.next(), it.next()), (Some($v), None, None));
            let mut it = fused(rx.into_iter());
            assert_eq!((it.next(), it.next()), (None, None));
        }};
    }
    check!(ringflow::mpmc::channel::<u32>, 1);
    check!(ringflow::spsc::channel::<u32>, 2);
}

/// The mask of CPUs the calling thread may run on, as CPU numbers.
#[cfg(target_os = "linux")]
fn affinity() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain bits, valid zeroed; `sched_getaffinity`
    // writes at most `size_of::<cpu_set_t>()` bytes into it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set), 0);
        set
    };
    // SAFETY: `set` is initialised; `CPU_ISSET` only reads it.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// `Park` waits may move a thread to another CPU of its mask (when two
/// threads take turns on one CPU, as the last sender and receiver of this
/// shape did on two vCPUs), and must leave the mask as it was, on every
/// thread, with every item delivered once.
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)] // no `sched_getaffinity` under Miri (and no move)
#[test]
fn park_waits_leave_every_threads_affinity_mask_as_it_was() {
    let _w = Watchdog::new("capacity 1, 4x4, masks");
    let per = 50_000;
    for _ in 0..3 {
        let (tx, rx) = chan::<usize>(1, WaitStrategy::Park);
        let seen = Seen::new(4 * per);
        thread::scope(|s| {
            for p in 0..4 {
                let tx = tx.clone();
                s.spawn(move || {
                    let mask = affinity();
                    for i in 0..per {
                        tx.send(p * per + i).unwrap();
                    }
                    assert_eq!(affinity(), mask, "a sender's mask changed");
                });
            }
            for _ in 0..4 {
                let (rx, seen) = (rx.clone(), &seen);
                s.spawn(move || {
                    let mask = affinity();
                    while let Ok(v) = rx.recv() {
                        seen.mark(v, "item");
                    }
                    assert_eq!(affinity(), mask, "a receiver's mask changed");
                });
            }
            drop((tx, rx));
        });
        seen.assert_all();
    }
}
