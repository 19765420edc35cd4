//! Async send and receive (`send_async` / `recv_async`, and with feature
//! `futures` the `Stream` / `Sink` adapters): every call on both rings and
//! every wait strategy, under a plain executor (`futures::executor`) and
//! under a multi-thread tokio runtime; cancellation at every point, leaks,
//! disconnection, and the known bugs of peers (stale waker after a
//! successful try, a changed waker, a growing waiter list, blocking and
//! async senders mixed on a full channel).
//!
//! Under Miri the tokio tests are compiled out (`cfg(not(miri))`) and the
//! counts shrink; the hand-polled tests, which decide every interleaving
//! themselves, run in full.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::SpscInLayout;
use futures::executor::block_on;
use ringflow::{broadcast, mpmc, Builder, RecvError, SendError, TryRecvError, WaitStrategy};

const STRATEGIES: [WaitStrategy; 3] = [WaitStrategy::Park, WaitStrategy::SpinYield, WaitStrategy::BusySpin];

/// Items per stress run (smaller under Miri).
const N: u64 = if cfg!(miri) { 40 } else { 20_000 };

/// A waker that counts its wake-ups.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn woken(c: &Counter) -> usize {
    c.0.load(Ordering::SeqCst)
}

fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

/// A payload that counts its drops.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn park_spsc<T>(cap: usize) -> (common::Tx<T>, common::Rx<T>) {
    Builder::new(cap).wait_strategy(WaitStrategy::Park).spsc_t()
}

fn park_mpmc<T>(cap: usize) -> (mpmc::Sender<T>, mpmc::Receiver<T>) {
    Builder::new(cap).wait_strategy(WaitStrategy::Park).mpmc()
}

// ---------------------------------------------------------------- bounds

#[test]
fn futures_are_send_when_t_is_send() {
    fn assert_send<S: Send>(_: &S) {}
    fn assert_unpin<S: Unpin>(_: &S) {}
    let (mut tx, mut rx) = common::spsc_channel::<String>(1);
    let (mtx, mrx) = mpmc::channel::<String>(1);
    {
        let f = tx.send_async(String::new());
        assert_send(&f);
        assert_unpin(&f);
    }
    {
        let f = rx.recv_async();
        assert_send(&f);
        assert_unpin(&f);
    }
    let (f, g) = (mtx.send_async(String::new()), mrx.recv_async());
    assert_send(&f);
    assert_send(&g);
    // `Debug` without `T: Debug`.
    struct Opaque;
    let (otx, _orx) = mpmc::channel::<Opaque>(1);
    let f = otx.send_async(Opaque);
    assert!(format!("{f:?}").starts_with("SendFuture"));
}

// ------------------------------------------------- every call, every strategy

#[test]
fn spsc_async_both_sides_every_strategy() {
    for s in STRATEGIES {
        let (mut tx, mut rx) = Builder::new(8).wait_strategy(s).spsc_t::<u64>();
        let producer = thread::spawn(move || {
            block_on(async {
                for i in 0..N {
                    tx.send_async(i).await.unwrap();
                }
            })
        });
        block_on(async {
            for i in 0..N {
                assert_eq!(rx.recv_async().await, Ok(i), "{s:?}: strict FIFO");
            }
            producer.join().unwrap();
            assert_eq!(rx.recv_async().await, Err(RecvError));
        });
    }
}

#[test]
fn spsc_async_mixed_with_blocking_every_strategy() {
    for s in STRATEGIES {
        // Blocking producer, async consumer; then async producer, blocking consumer.
        let (mut tx, mut rx) = Builder::new(4).wait_strategy(s).spsc_t::<u64>();
        let p = thread::spawn(move || (0..N).for_each(|i| tx.send(i).unwrap()));
        block_on(async {
            for i in 0..N {
                assert_eq!(rx.recv_async().await, Ok(i));
            }
        });
        p.join().unwrap();
        let (mut tx, mut rx) = Builder::new(4).wait_strategy(s).spsc_t::<u64>();
        let c = thread::spawn(move || (0..N).map(|_| rx.recv().unwrap()).sum::<u64>());
        block_on(async {
            for i in 0..N {
                tx.send_async(i).await.unwrap();
            }
        });
        assert_eq!(c.join().unwrap(), N * (N - 1) / 2);
    }
}

#[test]
fn mpmc_async_both_sides_every_strategy() {
    for s in STRATEGIES {
        let (tx, rx) = Builder::new(4).wait_strategy(s).mpmc::<u64>();
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    block_on(async {
                        for i in 0..N / 2 {
                            tx.send_async(p * N + i).await.unwrap();
                        }
                    })
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    block_on(async {
                        let mut got = Vec::new();
                        while let Ok(v) = rx.recv_async().await {
                            got.push(v);
                        }
                        got
                    })
                })
            })
            .collect();
        drop(rx);
        producers.into_iter().for_each(|p| p.join().unwrap());
        let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
        all.sort_unstable();
        let want: Vec<u64> = (0..2).flat_map(|p| (0..N / 2).map(move |i| p * N + i)).collect();
        assert_eq!(all, want, "{s:?}: exactly once");
    }
}

#[test]
fn errors_hand_values_back() {
    let (mut tx, rx) = common::spsc_channel::<u32>(1);
    drop(rx);
    assert_eq!(block_on(tx.send_async(5)), Err(SendError(5)));
    let (tx, rx) = mpmc::channel::<u32>(1);
    drop(rx);
    assert_eq!(block_on(tx.send_async(6)), Err(SendError(6)));
    let (tx, mut rx) = common::spsc_channel::<u32>(2);
    let mut tx = tx;
    tx.try_send(1).unwrap();
    drop(tx);
    assert_eq!(block_on(rx.recv_async()), Ok(1), "drained before Disconnected");
    assert_eq!(block_on(rx.recv_async()), Err(RecvError));
}

// ------------------------------------------------------------ disconnection

/// `f` is pending at its first poll; `act` (another handle's drop) wakes it
/// exactly once, and its next poll resolves to `expected`.
fn pending_until_woken_by<F>(mut f: F, act: impl FnOnce(), expected: F::Output)
where
    F: Future + Unpin,
    F::Output: PartialEq + std::fmt::Debug,
{
    let (c, w) = counting();
    assert!(poll(&mut f, &w).is_pending());
    act();
    assert_eq!(woken(&c), 1);
    assert_eq!(poll(&mut f, &w), Poll::Ready(expected));
}

#[test]
fn disconnection_wakes_pending_futures() {
    // SPSC receive.
    let (tx, mut rx) = park_spsc::<u32>(1);
    pending_until_woken_by(rx.recv_async(), || drop(tx), Err(RecvError));
    // SPSC send.
    let (mut tx, rx) = park_spsc::<u32>(1);
    tx.try_send(0).unwrap();
    pending_until_woken_by(tx.send_async(1), || drop(rx), Err(SendError(1)));
    // MPMC: two pending receivers and a blocked thread, last sender drops.
    let (tx, rx) = park_mpmc::<u32>(1);
    let tx2 = tx.clone();
    let (c1, w1) = counting();
    let (c2, w2) = counting();
    let mut f1 = rx.recv_async();
    let mut f2 = rx.recv_async();
    assert!(poll(&mut f1, &w1).is_pending());
    assert!(poll(&mut f2, &w2).is_pending());
    let rx3 = rx.clone();
    let t = thread::spawn(move || rx3.recv());
    drop(tx);
    assert_eq!(woken(&c1) + woken(&c2), 0, "a sender is still alive");
    drop(tx2);
    assert_eq!((woken(&c1), woken(&c2)), (1, 1));
    assert_eq!(poll(&mut f1, &w1), Poll::Ready(Err(RecvError)));
    assert_eq!(poll(&mut f2, &w2), Poll::Ready(Err(RecvError)));
    assert_eq!(t.join().unwrap(), Err(RecvError));
    // MPMC send side.
    let (tx, rx) = park_mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    pending_until_woken_by(tx.send_async(1), || drop(rx), Err(SendError(1)));
}

// ------------------------------------------------------------ cancellation

/// `f` is pending at its first poll and `act` wakes it once; then `f` is
/// dropped without being polled again.
fn woken_then_dropped<F: Future + Unpin>(mut f: F, act: impl FnOnce()) {
    let (c, w) = counting();
    assert!(poll(&mut f, &w).is_pending());
    act();
    assert_eq!(woken(&c), 1);
    drop(f);
}

#[test]
fn a_dropped_recv_future_took_nothing() {
    // Woken, then dropped before the poll that would take the item.
    let (mut tx, mut rx) = park_spsc::<u32>(2);
    woken_then_dropped(rx.recv_async(), || tx.try_send(1).unwrap());
    assert_eq!(rx.try_recv(), Ok(1), "the item stayed in the ring");

    let (tx, rx) = park_mpmc::<u32>(2);
    woken_then_dropped(rx.recv_async(), || tx.try_send(1).unwrap());
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn a_dropped_send_future_did_not_send_and_drops_its_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = park_spsc::<Tracked>(1);
    tx.try_send(Tracked(drops.clone())).ok().unwrap();
    let (_c, w) = counting();
    let mut f = tx.send_async(Tracked(drops.clone()));
    assert!(poll(&mut f, &w).is_pending());
    drop(f);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the unsent value is dropped with the future");
    assert_eq!(tx.len(), 1);
    drop(rx.try_recv().ok().unwrap());
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty), "nothing was sent");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn a_woken_future_dropped_passes_the_wakeup_on() {
    // Two tasks wait; the one woken for the only item is cancelled: the
    // other must be woken instead (it would sleep on with the item queued).
    let (tx, rx) = park_mpmc::<u32>(1);
    let (ca, wa) = counting();
    let (cb, wb) = counting();
    let mut a = rx.recv_async();
    let mut b = rx.recv_async();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    tx.try_send(9).unwrap();
    assert_eq!((woken(&ca), woken(&cb)), (1, 0), "one wake-up per item, oldest first");
    drop(a);
    assert_eq!(woken(&cb), 1, "the consumed wake-up was passed on");
    assert_eq!(poll(&mut b, &wb), Poll::Ready(Ok(9)));

    // Same for a parked thread as the other waiter.
    let (tx, rx) = park_mpmc::<u32>(1);
    let (ca, wa) = counting();
    let mut a = rx.recv_async();
    assert!(poll(&mut a, &wa).is_pending());
    let rx2 = rx.clone();
    let t = thread::spawn(move || rx2.recv());
    // Let the thread park (it needs no token if it sees the item first).
    while rx.stats().parks < 2 {
        thread::yield_now();
    }
    tx.try_send(3).unwrap(); // the thread is woken first (threads, then tasks)
    assert_eq!(t.join().unwrap(), Ok(3));
    drop(a);
    assert_eq!(woken(&ca), 0);
}

#[test]
fn a_stale_entry_never_swallows_a_wakeup() {
    // flume #88's cousin: a future that completes must not leave its waker
    // registered. A and C wait; the item wakes A (oldest); C, polled
    // anyway, takes it while still registered. A registers again; the next
    // item must wake A, not C's stale entry.
    let (tx, rx) = park_mpmc::<u32>(2);
    let (ca, wa) = counting();
    let (_cc, wc) = counting();
    let mut a = rx.recv_async();
    let mut c = rx.recv_async();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut c, &wc).is_pending());
    tx.try_send(1).unwrap();
    assert_eq!(woken(&ca), 1);
    assert_eq!(poll(&mut c, &wc), Poll::Ready(Ok(1)));
    drop(c);
    assert!(poll(&mut a, &wa).is_pending());
    tx.try_send(2).unwrap();
    assert_eq!(woken(&ca), 2, "the live future is woken");
    assert_eq!(poll(&mut a, &wa), Poll::Ready(Ok(2)));
}

#[test]
fn a_completed_future_kept_alive_holds_no_entry() {
    // As above, but the future that completed is *not* dropped: completion
    // itself must leave the registry (dropping would hide a leftover entry,
    // since a dropped future deregisters).
    let (tx, rx) = park_mpmc::<u32>(2);
    let (ca, wa) = counting();
    let (cc, wc) = counting();
    let mut a = rx.recv_async();
    let mut c = rx.recv_async();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut c, &wc).is_pending());
    tx.try_send(1).unwrap();
    assert_eq!(poll(&mut c, &wc), Poll::Ready(Ok(1)));
    assert!(poll(&mut a, &wa).is_pending());
    let before = (woken(&ca), woken(&cc));
    tx.try_send(2).unwrap();
    assert_eq!(woken(&ca), before.0 + 1, "the waiting future is woken");
    assert_eq!(woken(&cc), before.1, "the completed one is not");
    assert_eq!(poll(&mut a, &wa), Poll::Ready(Ok(2)));
    drop(c);
}

#[test]
fn the_latest_waker_is_the_one_woken() {
    let (mut tx, mut rx) = park_spsc::<u32>(1);
    let (c1, w1) = counting();
    let (c2, w2) = counting();
    let mut f = rx.recv_async();
    assert!(poll(&mut f, &w1).is_pending());
    assert!(poll(&mut f, &w2).is_pending());
    tx.try_send(1).unwrap();
    assert_eq!((woken(&c1), woken(&c2)), (0, 1));
    assert_eq!(poll(&mut f, &w2), Poll::Ready(Ok(1)));
}

#[test]
fn repeated_polls_do_not_grow_the_waiter_list() {
    let (tx, rx) = park_mpmc::<u32>(1);
    let mut f = rx.recv_async();
    let mut counters = Vec::new();
    for _ in 0..if cfg!(miri) { 50 } else { 1_000 } {
        let (c, w) = counting();
        assert!(poll(&mut f, &w).is_pending());
        counters.push(c);
    }
    assert_eq!(rx.stats().parks, 1, "one registration, however many polls");
    tx.try_send(1).unwrap();
    let total: usize = counters.iter().map(|c| woken(c)).sum();
    assert_eq!(total, 1);
    assert_eq!(woken(counters.last().unwrap()), 1);
    assert_eq!(rx.stats().wakeups, 1);
}

#[test]
fn dropping_a_future_never_blocks() {
    // Drop pending futures of both kinds while threads are parked on the
    // same registries: dropping takes the registry mutex only briefly.
    let (tx, rx) = park_mpmc::<u32>(1);
    tx.try_send(0).unwrap();
    let tx2 = tx.clone();
    let t = thread::spawn(move || tx2.send(1));
    while tx.stats().parks < 1 {
        thread::yield_now();
    }
    let (_c, w) = counting();
    let start = Instant::now();
    for _ in 0..100 {
        let mut f = tx.send_async(2);
        assert!(poll(&mut f, &w).is_pending());
        drop(f);
    }
    assert!(start.elapsed() < Duration::from_secs(if cfg!(miri) { 60 } else { 5 }));
    assert_eq!(rx.recv(), Ok(0));
    t.join().unwrap().unwrap();
    assert_eq!(rx.recv(), Ok(1));
}

// ------------------------------------------- leaks and drop at every point

#[test]
fn leaking_futures_is_safe() {
    // A leaked send future leaks its value, as any leak does, so the sends
    // here carry plain integers (Miri's leak check then sees that nothing
    // else leaks: every registration is freed with its channel).
    let drops = Arc::new(AtomicUsize::new(0));
    let (_c, w) = counting();
    // SPSC: a leaked pending receive, then a live one must still be woken
    // (on SPSC a new registration retires the leaked one: only one future
    // can exist per handle).
    let (mut tx, mut rx) = park_spsc::<Tracked>(1);
    let mut f = rx.recv_async();
    assert!(poll(&mut f, &w).is_pending());
    std::mem::forget(f);
    let (c2, w2) = counting();
    let mut g = rx.recv_async();
    assert!(poll(&mut g, &w2).is_pending());
    tx.try_send(Tracked(drops.clone())).ok().unwrap();
    assert_eq!(woken(&c2), 1, "the leaked entry did not swallow the wake-up");
    assert!(matches!(poll(&mut g, &w2), Poll::Ready(Ok(_))));
    drop(g);
    tx.try_send(Tracked(drops.clone())).ok().unwrap();
    drop((tx, rx));
    assert_eq!(drops.load(Ordering::SeqCst), 2, "received once, dropped with the ring once");
    // SPSC: a leaked pending send; the ring stays usable and a later
    // sender is woken.
    let (mut tx, mut rx) = park_spsc::<u32>(1);
    tx.try_send(0).unwrap();
    let mut s = tx.send_async(1);
    assert!(poll(&mut s, &w).is_pending());
    std::mem::forget(s);
    assert_eq!(rx.try_recv(), Ok(0));
    let (c3, w3) = counting();
    let mut s = tx.send_async(2);
    assert!(poll(&mut s, &w3).is_ready());
    drop(s);
    let mut s = tx.send_async(3);
    assert!(poll(&mut s, &w3).is_pending());
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(woken(&c3), 1);
    assert!(poll(&mut s, &w3).is_ready());
    drop(s);
    assert_eq!(rx.try_recv(), Ok(3), "the leaked future never sent");
    // MPMC: leaked futures of both kinds.
    let (mtx, mrx) = park_mpmc::<u32>(1);
    let mut f = mrx.recv_async();
    assert!(poll(&mut f, &w).is_pending());
    std::mem::forget(f);
    mtx.try_send(1).unwrap();
    let mut s = mtx.send_async(2);
    assert!(poll(&mut s, &w).is_pending());
    std::mem::forget(s);
    assert_eq!(mrx.try_recv(), Ok(1));
    assert_eq!(mrx.try_recv(), Err(TryRecvError::Empty));
}

/// What a scripted drop-at-every-point run does between polls.
#[derive(Clone, Copy, Debug)]
enum Event {
    Nothing,
    /// The other side makes the future's operation possible.
    Enable,
}

const SCRIPT: [Event; 5] = [Event::Nothing, Event::Nothing, Event::Enable, Event::Nothing, Event::Enable];

/// The receive half of a drop-at-every-point script: one `recv_async`
/// future per round on `$rx` (any ring), polled on the script's first `$k`
/// events with `$tx` sending on `Enable`; a round ends when its future
/// resolves (the next round starts a new one) or when the script ends (the
/// future is dropped, or leaked with `$leak`). Evaluates to (items sent,
/// items the futures returned).
macro_rules! recv_script {
    ($k:expr, $tx:ident, $rx:ident, $w:expr) => {
        recv_script!($k, $tx, $rx, $w, false)
    };
    ($k:expr, $tx:ident, $rx:ident, $w:expr, $leak:expr) => {{
        let (mut sent, mut got) = (0u32, Vec::new());
        let mut i = 0;
        'round: loop {
            let mut f = $rx.recv_async();
            while i < $k {
                let ready = poll(&mut f, $w);
                if let Event::Enable = SCRIPT[i] {
                    $tx.try_send(sent).unwrap();
                    sent += 1;
                }
                i += 1;
                if let Poll::Ready(v) = ready {
                    got.push(v.unwrap());
                    continue 'round;
                }
            }
            if $leak {
                std::mem::forget(f);
            }
            break;
        }
        (sent, got)
    }};
}

/// The send half, on a full ring: one `send_async($make)` future per round
/// on `$tx`, `Enable` lets `$rx` take one item; the last future is dropped,
/// or leaked (with its value) with `$leak`. Evaluates to (values created,
/// items received).
macro_rules! send_script {
    ($k:expr, $tx:ident, $rx:ident, $make:expr, $w:expr) => {
        send_script!($k, $tx, $rx, $make, $w, false)
    };
    ($k:expr, $tx:ident, $rx:ident, $make:expr, $w:expr, $leak:expr) => {{
        let (mut created, mut received) = (0usize, 0usize);
        let mut i = 0;
        'round: loop {
            let mut f = $tx.send_async($make);
            created += 1;
            while i < $k {
                let ready = poll(&mut f, $w).is_ready();
                if let Event::Enable = SCRIPT[i] {
                    if $rx.try_recv().is_ok() {
                        received += 1;
                    }
                }
                i += 1;
                if ready {
                    continue 'round;
                }
            }
            if $leak {
                std::mem::forget(f);
            }
            break;
        }
        (created, received)
    }};
}

#[test]
fn recv_futures_dropped_at_every_point() {
    for k in 0..=SCRIPT.len() {
        // SPSC: poll k times (with the other side acting in between), drop,
        // then account for every item and check a new waiter is woken.
        let (mut tx, mut rx) = park_spsc::<u32>(4);
        let (_c, w) = counting();
        let (sent, mut got) = recv_script!(k, tx, rx, &w);
        got.extend(rx.try_iter());
        assert_eq!(got, (0..sent).collect::<Vec<_>>(), "k = {k}: nothing lost or duplicated");
        let (c2, w2) = counting();
        let mut g = rx.recv_async();
        assert!(poll(&mut g, &w2).is_pending());
        tx.try_send(99).unwrap();
        assert_eq!(woken(&c2), 1, "k = {k}: a later waiter is woken");
        drop(g);

        // MPMC, with a second future waiting throughout.
        let (mtx, mrx) = park_mpmc::<u32>(4);
        let (cb, wb) = counting();
        let mut other = mrx.recv_async();
        assert!(poll(&mut other, &wb).is_pending());
        let (sent, mut got) = recv_script!(k, mtx, mrx, &w);
        // Every item still queued must have reached a live waiter's waker.
        if !mrx.is_empty() {
            assert!(woken(&cb) >= 1, "k = {k}: a queued item and a sleeping waiter");
        }
        while let Poll::Ready(v) = poll(&mut other, &wb) {
            got.push(v.unwrap());
            other = mrx.recv_async();
        }
        got.sort_unstable();
        assert_eq!(got, (0..sent).collect::<Vec<_>>(), "k = {k}: nothing lost or duplicated");
    }
}

#[test]
fn send_futures_dropped_at_every_point() {
    for k in 0..=SCRIPT.len() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (_c, w) = counting();
        // SPSC, full ring: `Enable` makes room.
        let (mut tx, mut rx) = park_spsc::<Tracked>(1);
        tx.try_send(Tracked(drops.clone())).ok().unwrap();
        let (created, received) = send_script!(k, tx, rx, Tracked(drops.clone()), &w);
        let created = created + 1; // with the one that filled the ring
                                   // Sent = received + queued; the dropped future's value is dropped.
        let queued = rx.len();
        drop((tx, rx));
        assert_eq!(drops.load(Ordering::SeqCst), created, "k = {k}: every value dropped once");
        assert_eq!(received + queued, created - 1, "k = {k}: the dropped future did not send");

        // MPMC with a second sender waiting throughout.
        let drops = Arc::new(AtomicUsize::new(0));
        let (mtx, mrx) = park_mpmc::<Tracked>(1);
        mtx.try_send(Tracked(drops.clone())).ok().unwrap();
        let (cb, wb) = counting();
        let mut other = mtx.send_async(Tracked(drops.clone()));
        assert!(poll(&mut other, &wb).is_pending());
        send_script!(k, mtx, mrx, Tracked(drops.clone()), &w);
        if mtx.len() < mtx.capacity() {
            assert!(woken(&cb) >= 1, "k = {k}: room and a sleeping sender");
        }
        drop(other);
        drop((mtx, mrx));
    }
}

// ------------------------------------------------- pools of tasks (MPMC)

#[test]
fn pool_futures_dropped_or_leaked_at_every_point() {
    // As `recv_futures_dropped_at_every_point` / `send_...`, on sides with
    // several handles (a pool: the waiter and the scripted future on two
    // handles), and with leaks: dropped or leaked after any poll, nothing
    // is lost or duplicated, and a registered waiter on the other handle is
    // still woken for what is left.
    for leak in [false, true] {
        for k in 0..=SCRIPT.len() {
            let (mtx, mrx) = park_mpmc::<u32>(4);
            let mrx2 = mrx.clone();
            let (cb, wb) = counting();
            let (_c, w) = counting();
            let mut other = mrx2.recv_async();
            assert!(poll(&mut other, &wb).is_pending());
            assert!(poll(&mut other, &wb).is_pending(), "a repeated poll keeps waiting");
            let base = woken(&cb);
            let (sent, mut got) = recv_script!(k, mtx, mrx, &w, leak);
            if !mrx.is_empty() {
                assert!(woken(&cb) > base, "k = {k}, leak = {leak}: a queued item and a registered waiter");
            }
            while let Poll::Ready(v) = poll(&mut other, &wb) {
                got.push(v.unwrap());
                other = mrx2.recv_async();
            }
            got.extend(mrx.try_iter());
            got.sort_unstable();
            assert_eq!(got, (0..sent).collect::<Vec<_>>(), "k = {k}, leak = {leak}: nothing lost or duplicated");

            // Senders: a full ring, `Enable` makes room. Leaked send
            // futures carry plain integers (a leaked future leaks its value).
            if leak {
                pool_send_case(k, || 2u32, &w, true);
            } else {
                let drops = Arc::new(AtomicUsize::new(0));
                let created = pool_send_case(k, || Tracked(drops.clone()), &w, false);
                assert_eq!(drops.load(Ordering::SeqCst), created, "k = {k}: every value dropped once");
            }
        }
    }
}

/// The send half of `pool_futures_dropped_or_leaked_at_every_point`: a full
/// ring of capacity 1 with two senders, one future registered on one of
/// them throughout, the script on the other; returns how many values
/// `make` created (all dropped by the time it returns, unless leaked).
fn pool_send_case<T>(k: usize, make: impl Fn() -> T, w: &Waker, leak: bool) -> usize {
    let (mtx, mrx) = park_mpmc::<T>(1);
    let mtx2 = mtx.clone();
    assert!(mtx.try_send(make()).is_ok());
    let (cb, wb) = counting();
    let mut other = mtx2.send_async(make());
    assert!(poll(&mut other, &wb).is_pending());
    assert!(poll(&mut other, &wb).is_pending(), "a repeated poll keeps waiting");
    let base = woken(&cb);
    let created = 2 + send_script!(k, mtx, mrx, make(), w, leak).0;
    if mtx.len() < mtx.capacity() {
        assert!(woken(&cb) > base, "k = {k}, leak = {leak}: room and a registered sender");
    }
    created
}

// ------------------------------------- blocking + async senders on a full ring

#[test]
fn blocking_and_async_senders_on_a_full_ring_do_not_hang() {
    // thingbuf #83: blocking senders and async senders on a full channel
    // with a slow receiver.
    let per = if cfg!(miri) { 10 } else { 2_000 };
    let (tx, rx) = park_mpmc::<u64>(1);
    let mut joins = Vec::new();
    for p in 0..2u64 {
        let tx = tx.clone();
        joins.push(thread::spawn(move || (0..per).for_each(|i| tx.send(p * per + i).unwrap())));
    }
    for p in 2..4u64 {
        let tx = tx.clone();
        joins.push(thread::spawn(move || {
            block_on(async {
                for i in 0..per {
                    tx.send_async(p * per + i).await.unwrap();
                }
            })
        }));
    }
    drop(tx);
    let mut got = Vec::new();
    block_on(async {
        while let Ok(v) = rx.recv_async().await {
            got.push(v);
            if got.len() % 64 == 0 {
                thread::sleep(Duration::from_micros(50)); // slow receiver
            }
        }
    });
    joins.into_iter().for_each(|j| j.join().unwrap());
    got.sort_unstable();
    assert_eq!(got, (0..4 * per).collect::<Vec<_>>());
}

// ------------------------------------------------------------ broadcast

fn park_broadcast<T: Clone>(cap: usize) -> (broadcast::Sender<T>, broadcast::Receiver<T>) {
    Builder::new(cap).wait_strategy(WaitStrategy::Park).broadcast()
}

#[test]
fn broadcast_futures_are_send_unpin_and_debug() {
    fn assert_send<S: Send>(_: &S) {}
    fn assert_unpin<S: Unpin>(_: &S) {}
    let (mut tx, mut rx) = broadcast::channel::<String>(1);
    {
        let f = tx.send_async(String::new());
        assert_send(&f);
        assert_unpin(&f);
        assert!(format!("{f:?}").starts_with("SendFuture"));
    }
    let g = rx.recv_async();
    assert_send(&g);
    assert_unpin(&g);
    assert!(format!("{g:?}").starts_with("RecvFuture"));
}

/// Every receiver gets every item, in order, with tasks and threads on
/// both sides, on every strategy (Block: the sender waits for the slowest).
#[test]
fn broadcast_async_every_receiver_gets_every_item_every_strategy() {
    // Fewer items than the other rings' runs: on `BusySpin` / `SpinYield`
    // three spinning threads share two cores here.
    let n = N / 10;
    for s in STRATEGIES {
        let (mut tx, rx) = Builder::new(16).wait_strategy(s).broadcast::<u64>();
        let receivers: Vec<_> = (0..2)
            .map(|k| {
                let mut rx = rx.clone();
                thread::spawn(move || {
                    let got: Vec<u64> = if k == 0 {
                        block_on(async {
                            let mut got = Vec::new();
                            while let Ok(v) = rx.recv_async().await {
                                got.push(v);
                            }
                            got
                        })
                    } else {
                        std::iter::from_fn(|| rx.recv().ok()).collect()
                    };
                    got
                })
            })
            .collect();
        drop(rx);
        block_on(async {
            for i in 0..n {
                tx.send_async(i).await.unwrap();
            }
        });
        drop(tx);
        for r in receivers {
            assert_eq!(r.join().unwrap(), (0..n).collect::<Vec<_>>(), "{s:?}");
        }
    }
}

#[test]
fn broadcast_disconnection_wakes_pending_futures() {
    // A pending receive, woken by the sender's drop, ends with Disconnected.
    let (tx, mut rx) = park_broadcast::<u32>(1);
    pending_until_woken_by(rx.recv_async(), || drop(tx), Err(broadcast::RecvError::Disconnected));
    // A pending send (Block, full), woken by the last receiver's drop.
    let (mut tx, rx) = park_broadcast::<u32>(1);
    tx.try_send(0).unwrap();
    pending_until_woken_by(tx.send_async(1), || drop(rx), Err(SendError(1)));
}

#[test]
fn broadcast_send_future_waits_for_the_slowest_receiver() {
    let (mut tx, mut fast) = park_broadcast::<u32>(1);
    let mut slow = fast.clone();
    tx.try_send(0).unwrap();
    assert_eq!(fast.try_recv(), Ok(0));
    let (c, w) = counting();
    let mut f = tx.send_async(1);
    assert!(poll(&mut f, &w).is_pending(), "the slow receiver holds the ring");
    assert_eq!(woken(&c), 0);
    assert_eq!(slow.try_recv(), Ok(0));
    assert_eq!(woken(&c), 1, "the slowest receiver's read wakes the sender");
    assert_eq!(poll(&mut f, &w), Poll::Ready(Ok(())));
    assert_eq!((fast.try_recv(), slow.try_recv()), (Ok(1), Ok(1)));
}

#[test]
fn broadcast_recv_future_reports_lagged_once_then_continues() {
    let (mut tx, mut rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).broadcast_lossy::<u32>();
    for i in 0..5 {
        tx.try_send(i).unwrap();
    }
    let (_c, w) = counting();
    let mut f = rx.recv_async();
    assert_eq!(poll(&mut f, &w), Poll::Ready(Err(broadcast::RecvError::Lagged(3))));
    drop(f);
    assert_eq!(block_on(rx.recv_async()), Ok(3));
    assert_eq!(block_on(rx.recv_async()), Ok(4));
    // Lossy: a send future never waits.
    let mut s = tx.send_async(5);
    assert_eq!(poll(&mut s, &w), Poll::Ready(Ok(())));
}

#[test]
fn broadcast_dropped_futures_take_nothing_and_send_nothing() {
    // A woken receive dropped before the poll that would take the item.
    let (mut tx, mut rx) = park_broadcast::<u32>(2);
    woken_then_dropped(rx.recv_async(), || tx.try_send(1).unwrap());
    assert_eq!(rx.try_recv(), Ok(1), "the item is still this receiver's next");
    // A pending send dropped: its value is dropped, nothing was sent.
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = park_broadcast::<TrackedClone>(1);
    tx.try_send(TrackedClone(drops.clone())).ok().unwrap();
    let (_c, w) = counting();
    let mut f = tx.send_async(TrackedClone(drops.clone()));
    assert!(poll(&mut f, &w).is_pending());
    drop(f);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the unsent value is dropped with the future");
    drop(rx.try_recv().ok().unwrap());
    assert!(rx.try_recv().is_err(), "nothing was sent");
}

/// A clonable payload that counts its drops (clones included).
#[derive(Clone)]
struct TrackedClone(Arc<AtomicUsize>);

impl Drop for TrackedClone {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn broadcast_leaked_futures_are_safe() {
    // A leaked pending receive: the receiver keeps working, and a new
    // future on it is woken (its registration retires the leaked entry).
    let (mut tx, mut rx) = park_broadcast::<u32>(1);
    let (_c, w) = counting();
    let mut f = rx.recv_async();
    assert!(poll(&mut f, &w).is_pending());
    std::mem::forget(f);
    let (c2, w2) = counting();
    let mut g = rx.recv_async();
    assert!(poll(&mut g, &w2).is_pending());
    tx.try_send(1).unwrap();
    assert_eq!(woken(&c2), 1, "the leaked entry did not swallow the wake-up");
    assert_eq!(poll(&mut g, &w2), Poll::Ready(Ok(1)));
    drop(g);
    // A leaked pending send (full ring): it never sent, the ring stays
    // usable, and a later send future is woken.
    tx.try_send(2).unwrap();
    let mut s = tx.send_async(3);
    assert!(poll(&mut s, &w).is_pending());
    std::mem::forget(s);
    let (c3, w3) = counting();
    let mut s = tx.send_async(4);
    assert!(poll(&mut s, &w3).is_pending());
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(woken(&c3), 1);
    assert_eq!(poll(&mut s, &w3), Poll::Ready(Ok(())));
    drop(s);
    assert_eq!(rx.try_recv(), Ok(4), "the leaked future never sent");
}

#[test]
fn broadcast_futures_dropped_at_every_point() {
    for k in 0..=SCRIPT.len() {
        // Receive: poll k times with the sender acting in between, drop,
        // then every item sent is still this receiver's to read, in order.
        let (mut tx, mut rx) = park_broadcast::<u32>(4);
        let (_c, w) = counting();
        let (sent, mut got) = recv_script!(k, tx, rx, &w);
        while let Ok(v) = rx.try_recv() {
            got.push(v);
        }
        assert_eq!(got, (0..sent).collect::<Vec<_>>(), "k = {k}: nothing lost or duplicated");
        let (c2, w2) = counting();
        let mut g = rx.recv_async();
        assert!(poll(&mut g, &w2).is_pending());
        tx.try_send(99).unwrap();
        assert_eq!(woken(&c2), 1, "k = {k}: a later waiter is woken");
        drop(g);

        // Send on a full Block ring: `Enable` lets the receiver read.
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, mut rx) = park_broadcast::<TrackedClone>(1);
        tx.try_send(TrackedClone(drops.clone())).ok().unwrap();
        let (created, received) = send_script!(k, tx, rx, TrackedClone(drops.clone()), &w);
        let created = created + 1; // with the one that filled the ring
        let queued = rx.len();
        // The receiver's clones are dropped as read; the ring's copies when
        // the channel goes.
        drop((tx, rx));
        assert_eq!(received + queued, created - 1, "k = {k}: the dropped future did not send");
        assert_eq!(drops.load(Ordering::SeqCst), created + received, "k = {k}: every value dropped once");
    }
}

// ------------------------------------------------------- tokio runtime

#[cfg(not(miri))]
mod tokio_rt {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
    }

    #[test]
    fn exactly_once_4_async_producers_4_async_consumers() {
        for s in STRATEGIES {
            rt().block_on(async {
                let (tx, rx) = Builder::new(16).wait_strategy(s).mpmc::<u64>();
                let mut producers = Vec::new();
                for p in 0..4u64 {
                    let tx = tx.clone();
                    producers.push(tokio::spawn(async move {
                        for i in 0..N / 4 {
                            tx.send_async(p << 32 | i).await.unwrap();
                        }
                    }));
                }
                drop(tx);
                let mut consumers = Vec::new();
                for _ in 0..4 {
                    let rx = rx.clone();
                    consumers.push(tokio::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = rx.recv_async().await {
                            got.push(v);
                        }
                        got
                    }));
                }
                drop(rx);
                for p in producers {
                    p.await.unwrap();
                }
                let mut per_producer = vec![Vec::new(); 4];
                for c in consumers {
                    let got = c.await.unwrap();
                    // Per-producer order within one consumer.
                    for w in got.windows(2) {
                        if w[0] >> 32 == w[1] >> 32 {
                            assert!(w[0] < w[1], "{s:?}: per-producer FIFO");
                        }
                    }
                    for v in got {
                        per_producer[(v >> 32) as usize].push(v & 0xffff_ffff);
                    }
                }
                for mut v in per_producer {
                    v.sort_unstable();
                    assert_eq!(v, (0..N / 4).collect::<Vec<_>>(), "{s:?}: exactly once");
                }
            });
        }
    }

    #[test]
    fn exactly_once_threads_and_tasks_mixed() {
        let rt = rt();
        let (tx, rx) = park_mpmc::<u64>(8);
        let per = N / 4;
        let mut threads = Vec::new();
        for p in 0..2u64 {
            let tx = tx.clone();
            threads.push(thread::spawn(move || {
                (0..per).for_each(|i| tx.send(p * per + i).unwrap());
                Vec::new()
            }));
        }
        for _ in 0..2 {
            let rx = rx.clone();
            threads.push(thread::spawn(move || rx.iter().collect::<Vec<_>>()));
        }
        let mut tasks = Vec::new();
        for p in 2..4u64 {
            let tx = tx.clone();
            tasks.push(rt.spawn(async move {
                for i in 0..per {
                    tx.send_async(p * per + i).await.unwrap();
                }
                Vec::new()
            }));
        }
        for _ in 0..2 {
            let rx = rx.clone();
            tasks.push(rt.spawn(async move {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv_async().await {
                    got.push(v);
                }
                got
            }));
        }
        drop((tx, rx));
        let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        for t in tasks {
            all.extend(rt.block_on(t).unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..4 * per).collect::<Vec<_>>());
    }

    #[test]
    fn select_cancellation_in_a_loop_loses_nothing() {
        rt().block_on(async {
            // SPSC: strict order; MPMC: exactly once. The receive loses a
            // race against a timer or a yield over and over. The producer
            // also pauses for a millisecond now and then, longer than a
            // receiving task spins before it registers, so that some
            // receives are sure to be pending when the yield wins (without
            // the pauses a producer on the other worker could keep every
            // receive ready at its first poll, and the check below failed
            // once in a CI run under load).
            let (mut tx, mut rx) = park_spsc::<u64>(4);
            let p = tokio::spawn(async move {
                for i in 0..N / 4 {
                    tx.send_async(i).await.unwrap();
                    if i % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                    if i % 1_000 == 999 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            });
            let mut next = 0;
            let mut cancelled = 0u64;
            loop {
                tokio::select! {
                    r = rx.recv_async() => match r {
                        Ok(v) => { assert_eq!(v, next); next += 1; }
                        Err(RecvError) => break,
                    },
                    _ = tokio::task::yield_now() => cancelled += 1,
                }
            }
            p.await.unwrap();
            assert_eq!(next, N / 4);
            assert!(cancelled > 0, "the select never cancelled a receive");

            let (tx, rx) = park_mpmc::<u64>(4);
            let p = tokio::spawn(async move {
                for i in 0..N / 4 {
                    tx.send_async(i).await.unwrap();
                }
            });
            let mut got = Vec::new();
            loop {
                tokio::select! {
                    r = rx.recv_async() => match r {
                        Ok(v) => got.push(v),
                        Err(RecvError) => break,
                    },
                    _ = tokio::time::sleep(Duration::from_micros(10)) => {}
                }
            }
            p.await.unwrap();
            got.sort_unstable();
            assert_eq!(got, (0..N / 4).collect::<Vec<_>>());
        });
    }

    #[test]
    fn cancelled_sends_in_a_loop_are_not_sent() {
        rt().block_on(async {
            let (tx, rx) = park_mpmc::<u64>(2);
            let consumer = tokio::spawn(async move {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv_async().await {
                    got.push(v);
                    if got.len() % 16 == 0 {
                        tokio::time::sleep(Duration::from_micros(50)).await;
                    }
                }
                got
            });
            let mut sent = Vec::new();
            for i in 0..N / 8 {
                tokio::select! {
                    r = tx.send_async(i) => { r.unwrap(); sent.push(i); }
                    _ = tokio::task::yield_now() => {}
                }
            }
            drop(tx);
            assert_eq!(consumer.await.unwrap(), sent, "exactly the completed sends, in order");
        });
    }

    #[test]
    fn mixed_senders_full_ring_slow_receiver_under_tokio() {
        let rt = rt();
        let (tx, rx) = park_mpmc::<u64>(1);
        let per = 2_000u64;
        let blocking: Vec<_> = (0..2u64)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || (0..per).for_each(|i| tx.send(p * per + i).unwrap()))
            })
            .collect();
        let tasks: Vec<_> = (2..4u64)
            .map(|p| {
                let tx = tx.clone();
                rt.spawn(async move {
                    for i in 0..per {
                        tx.send_async(p * per + i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let got = rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(60), async move {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv_async().await {
                    got.push(v);
                    if got.len() % 128 == 0 {
                        tokio::time::sleep(Duration::from_micros(100)).await;
                    }
                }
                got
            })
            .await
            .expect("hung: a sender was never woken")
        });
        blocking.into_iter().for_each(|j| j.join().unwrap());
        for t in tasks {
            rt.block_on(t).unwrap();
        }
        assert_eq!(got.len() as u64, 4 * per);
    }
    /// Moves a receiving side between threads in the middle of a stream
    /// ("Home threads" in `wait.rs`). Two tasks streaming over a small ring
    /// on one thread (a current-thread runtime) give its registries that
    /// thread as their home; then the receiver goes on from other threads
    /// (blocking receives on a thread, then a task under
    /// `futures::executor::block_on` on a third) while the sender stays
    /// home, pausing now and then so that the receiver registers. Those
    /// registrations come from away, and must end the home rather than miss
    /// a wake-up: every item arrives, in order, and the whole run stays
    /// within the watchdog of `returns`. A smoke test: in a stream the next
    /// item's notification would cover a lost wake-up but the last one's.
    /// How the home ends depends on the timing: with counters in a debug
    /// build, a registration away ended it in 3–5 of 6 runs for SPSC and in
    /// none for MPMC (brisk waits took the registry off the fence pair
    /// first). The race itself is stress-tested in `src/wait.rs`
    /// (`stress_a_waiter_away_from_home_against_notifications_at_home` and
    /// its mirror), the switch by
    /// `a_registry_takes_a_home_thread_and_a_waiter_elsewhere_ends_it`.
    macro_rules! leave_home {
        ($ring:literal, $channel:expr) => {
            returns($ring, || {
                const ITEMS: u64 = 300_000;
                // Each phase's last item (exclusive): at home, on a thread, in a task.
                const HOME: u64 = 100_000;
                const THREAD: u64 = 200_000;
                #[allow(unused_mut)]
                let (mut tx, mut rx) = $channel;
                let (hand, handed) = std::sync::mpsc::channel();
                let home = thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    rt.block_on(async move {
                        let producer = tokio::spawn(async move {
                            for i in 0..ITEMS {
                                // Away from home, pauses longer than a
                                // receiver spins, so that it registers:
                                // first at once (while the registry has its
                                // home; sending item `HOME + 16` on a ring
                                // of 16 means the receiver took item `HOME`,
                                // away), then now and then.
                                if i == HOME + 16 {
                                    thread::sleep(Duration::from_millis(5));
                                } else if i > HOME && i % 1_000 == 0 {
                                    thread::sleep(Duration::from_micros(300));
                                }
                                tx.send_async(i).await.unwrap();
                            }
                        });
                        let consumer = tokio::spawn(async move {
                            for i in 0..HOME {
                                assert_eq!(rx.recv_async().await, Ok(i));
                            }
                            rx
                        });
                        hand.send(consumer.await.unwrap()).unwrap();
                        producer.await.unwrap();
                    });
                });
                #[allow(unused_mut)]
                let mut rx = handed.recv().unwrap();
                for i in HOME..THREAD {
                    assert_eq!(rx.recv(), Ok(i));
                }
                thread::spawn(move || {
                    block_on(async move {
                        for i in THREAD..ITEMS {
                            assert_eq!(rx.recv_async().await, Ok(i));
                        }
                        assert_eq!(rx.recv_async().await, Err(RecvError), "the sender is gone");
                    })
                })
                .join()
                .unwrap();
                home.join().unwrap();
            })
        };
    }

    #[test]
    fn a_stream_whose_receiver_leaves_the_home_thread_loses_nothing() {
        leave_home!("spsc", park_spsc::<u64>(16));
        leave_home!("mpmc", park_mpmc::<u64>(16));
    }
}

// ----------------------------------------------------- Stream and Sink

#[cfg(feature = "futures")]
mod stream_sink {
    use super::*;
    use futures::{Sink, SinkExt, Stream, StreamExt};

    #[test]
    #[should_panic(expected = "start_send without poll_ready")]
    fn start_send_while_holding_an_item_panics() {
        // The `Sink` contract: `poll_ready` must return `Ready` before each
        // `start_send`. A full ring makes the sink hold the first item.
        let (tx, _rx) = park_mpmc::<u32>(1);
        tx.try_send(0).unwrap();
        let mut sink = tx.into_sink();
        Pin::new(&mut sink).start_send(1).unwrap();
        let _ = Pin::new(&mut sink).start_send(2);
    }

    #[test]
    fn stream_and_sink_both_rings() {
        let (tx, rx) = park_spsc::<u64>(4);
        let mut sink = tx.into_sink();
        let p = thread::spawn(move || {
            block_on(async {
                for i in 0..N {
                    sink.send(i).await.unwrap();
                }
            })
        });
        let got: Vec<u64> = block_on(rx.into_stream().collect());
        p.join().unwrap();
        assert_eq!(got, (0..N).collect::<Vec<_>>());

        let (tx, rx) = park_mpmc::<u64>(4);
        let t = thread::spawn(move || {
            block_on(async {
                let mut sink = tx.into_sink();
                let mut src = futures::stream::iter((0..N).map(Ok));
                sink.send_all(&mut src).await.unwrap();
                sink.close().await.unwrap();
            })
        });
        let got: Vec<u64> = block_on(rx.into_stream().collect());
        t.join().unwrap();
        assert_eq!(got, (0..N).collect::<Vec<_>>());
    }

    #[test]
    fn stream_and_sink_errors_and_fuse() {
        use futures::stream::FusedStream;
        let (tx, rx) = park_mpmc::<u32>(1);
        let mut stream = rx.into_stream();
        drop(tx);
        assert_eq!(block_on(stream.next()), None);
        assert!(stream.is_terminated());
        let (tx, rx) = park_mpmc::<u32>(1);
        let mut sink = tx.into_sink();
        drop(rx);
        assert_eq!(block_on(sink.send(4)), Err(SendError(4)));
    }

    /// A stream polled on the script's first `$k` events, `$tx` sending on
    /// `Enable`: (items sent, items the stream yielded, the stream).
    macro_rules! stream_script {
        ($k:expr, $tx:ident, $stream:expr, $w:expr) => {{
            let mut stream = $stream;
            let (mut got, mut sent) = (Vec::new(), 0u32);
            for ev in SCRIPT.iter().take($k) {
                if let Poll::Ready(Some(v)) = Pin::new(&mut stream).poll_next(&mut Context::from_waker($w)) {
                    got.push(v);
                }
                if let Event::Enable = ev {
                    $tx.try_send(sent).unwrap();
                    sent += 1;
                }
            }
            (sent, got, stream)
        }};
    }

    /// A sink fed `$make` whenever it is ready, on the script's first `$k`
    /// events, `$rx` taking one item on `Enable`: (values created, items
    /// taken, the sink).
    macro_rules! sink_script {
        ($k:expr, $sink:expr, $rx:ident, $make:expr, $w:expr) => {{
            let mut sink = $sink;
            let (mut created, mut taken) = (0usize, 0usize);
            for ev in SCRIPT.iter().take($k) {
                let mut cx = Context::from_waker($w);
                if let Poll::Ready(Ok(())) = Pin::new(&mut sink).poll_ready(&mut cx) {
                    created += 1;
                    Pin::new(&mut sink).start_send($make).ok().unwrap();
                }
                if let Event::Enable = ev {
                    if $rx.try_recv().is_ok() {
                        taken += 1;
                    }
                }
            }
            (created, taken, sink)
        }};
    }

    #[test]
    fn stream_and_sink_dropped_at_every_point() {
        for k in 0..=SCRIPT.len() {
            let (mut tx, rx) = park_spsc::<u32>(4);
            let (_c, w) = counting();
            let (sent, got, stream) = stream_script!(k, tx, rx.into_stream(), &w);
            drop(stream);
            assert!(got.len() as u32 <= sent);

            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = park_mpmc::<Tracked>(1);
            let (created, _, sink) = sink_script!(k, tx.into_sink(), rx, Tracked(drops.clone()), &w);
            drop(sink);
            drop(rx);
            assert_eq!(drops.load(Ordering::SeqCst), created, "k = {k}");
        }
    }

    /// `into_inner` after the script's first `$k` events, on every ring
    /// (`$make` builds a channel of `u32` items, capacity 2): a stream gives
    /// back a handle that still holds every item it did not yield (nothing
    /// lost or repeated), a sink gives back its handle and the item it held,
    /// not sent; either way the adapter's registration is withdrawn (its
    /// waker is not woken by what the other side does next), and the
    /// handle goes on working.
    macro_rules! into_inner_case {
        ($k:expr, $make:expr) => {{
            let (c, w) = counting();
            // The stream.
            #[allow(unused_mut)] // `&mut` for SPSC and broadcast handles
            let (mut tx, rx) = $make;
            let (sent, got, stream) = stream_script!($k, tx, rx.into_stream(), &w);
            #[allow(unused_mut)] // `&mut` for SPSC and broadcast handles
            let mut rx = stream.into_inner();
            let woken_before = woken(&c);
            tx.try_send(sent).unwrap();
            assert_eq!(woken(&c), woken_before, "k = {}: the stream's registration outlived it", $k);
            let rest: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
            let all: Vec<u32> = got.into_iter().map(|v| v.into()).chain(rest).collect();
            assert_eq!(all, (0..=sent).collect::<Vec<_>>(), "k = {}", $k);

            // The sink, fed 0, 1, 2, ... whenever it is ready.
            #[allow(unused_mut)] // `&mut` for SPSC and broadcast handles
            let (tx, mut rx) = $make;
            let next = std::cell::Cell::new(0u32);
            let (created, taken, sink) = sink_script!(
                $k,
                tx.into_sink(),
                rx,
                {
                    next.set(next.get() + 1);
                    next.get() - 1
                },
                &w
            );
            #[allow(unused_mut)] // `&mut` for SPSC and broadcast handles
            let (mut tx, held) = sink.into_inner();
            let woken_before = woken(&c);
            let rest: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
            assert_eq!(woken(&c), woken_before, "k = {}: the sink's registration outlived it", $k);
            let unsent = usize::from(held.is_some());
            assert_eq!(rest, (taken as u32..(created - unsent) as u32).collect::<Vec<_>>(), "k = {}", $k);
            if let Some(v) = held {
                assert_eq!(v as usize, created - 1, "k = {}: the held item is the last one", $k);
            }
            tx.try_send(99).unwrap();
            assert_eq!(rx.try_recv().ok(), Some(99));

            // A sink taken apart while registered (waiting for room to send
            // the item it holds).
            #[allow(unused_mut)] // `&mut` for SPSC and broadcast handles
            let (tx, mut rx) = $make;
            let mut sink = tx.into_sink();
            let mut cx = Context::from_waker(&w);
            for v in 0..3 {
                assert!(Pin::new(&mut sink).poll_ready(&mut cx).is_ready());
                Pin::new(&mut sink).start_send(v).unwrap(); // the third is held
            }
            assert!(Pin::new(&mut sink).poll_flush(&mut cx).is_pending());
            assert!(sink.get_ref().len() == 2);
            let (_tx, held) = sink.into_inner();
            assert_eq!(held, Some(2));
            let woken_before = woken(&c);
            assert_eq!(rx.try_recv().ok(), Some(0));
            assert_eq!(woken(&c), woken_before, "the sink's registration outlived it");
        }};
    }

    #[test]
    fn stream_and_sink_into_inner_at_every_point() {
        for k in 0..=SCRIPT.len() {
            into_inner_case!(k, park_spsc::<u32>(2));
            into_inner_case!(k, park_mpmc::<u32>(2));
            into_inner_case!(k, {
                let (tx, rx) = park_broadcast::<u32>(2);
                (tx, BroadcastValues(rx))
            });
        }
    }

    /// A broadcast receiver whose `try_recv` and stream yield plain values
    /// (these scripts never lag), for `into_inner_case!`.
    struct BroadcastValues(broadcast::Receiver<u32>);

    impl BroadcastValues {
        fn try_recv(&mut self) -> Result<u32, broadcast::TryRecvError> {
            self.0.try_recv()
        }
        fn into_stream(self) -> BroadcastValueStream {
            BroadcastValueStream(self.0.into_stream())
        }
    }

    struct BroadcastValueStream(broadcast::RecvStream<u32>);

    impl Stream for BroadcastValueStream {
        type Item = u32;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
            Pin::new(&mut self.0).poll_next(cx).map(|o| o.map(|r| r.expect("these scripts never lag")))
        }
    }

    impl BroadcastValueStream {
        fn into_inner(self) -> BroadcastValues {
            BroadcastValues(self.0.into_inner())
        }
    }

    #[test]
    fn broadcast_stream_and_sink() {
        // Block: every receiver's stream yields every item, then ends.
        let (tx, rx) = park_broadcast::<u64>(4);
        let other = rx.clone();
        let t = thread::spawn(move || block_on(other.into_stream().map(Result::unwrap).collect::<Vec<_>>()));
        let p = thread::spawn(move || {
            block_on(async {
                let mut sink = tx.into_sink();
                let mut src = futures::stream::iter((0..N / 10).map(Ok));
                sink.send_all(&mut src).await.unwrap();
                sink.close().await.unwrap();
            })
        });
        let got: Vec<u64> = block_on(rx.into_stream().map(Result::unwrap).collect());
        p.join().unwrap();
        assert_eq!(got, (0..N / 10).collect::<Vec<_>>());
        assert_eq!(t.join().unwrap(), (0..N / 10).collect::<Vec<_>>());
        // Lossy: `Lagged(n)` is an item (never skipped), then the stream
        // goes on and ends when the sender is gone.
        let (mut tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).broadcast_lossy::<u32>();
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        drop(tx);
        let items: Vec<_> = block_on(rx.into_stream().collect());
        assert_eq!(items, vec![Err(broadcast::RecvError::Lagged(3)), Ok(3), Ok(4)]);
        // A sink whose receivers are all gone hands the item back.
        let (tx, rx) = park_broadcast::<u32>(1);
        let mut sink = tx.into_sink();
        drop(rx);
        assert_eq!(block_on(sink.send(4)), Err(SendError(4)));
    }

    #[test]
    fn broadcast_stream_and_sink_dropped_at_every_point() {
        for k in 0..=SCRIPT.len() {
            // A stream dropped after k polls took exactly what it yielded.
            let (mut tx, rx) = park_broadcast::<u32>(4);
            let mut probe = rx.clone();
            let (_c, w) = counting();
            let (sent, got, stream) = stream_script!(k, tx, rx.into_stream(), &w);
            drop(stream);
            let got: Vec<u32> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, (0..got.len() as u32).collect::<Vec<_>>(), "k = {k}: in order");
            assert!(got.len() as u32 <= sent);
            // The other receiver still sees everything.
            let seen: Vec<u32> = std::iter::from_fn(|| probe.try_recv().ok()).collect();
            assert_eq!(seen, (0..sent).collect::<Vec<_>>(), "k = {k}");

            // A sink dropped after k steps: every value is dropped once
            // (sent ones with the ring or when read, the held one with it).
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, mut rx) = park_broadcast::<TrackedClone>(1);
            let (created, mut read, sink) = sink_script!(k, tx.into_sink(), rx, TrackedClone(drops.clone()), &w);
            drop(sink);
            while rx.try_recv().is_ok() {
                read += 1;
            }
            drop(rx);
            // Every value created is dropped once (with the ring, or held
            // by the dropped sink), and every clone read once.
            assert_eq!(drops.load(Ordering::SeqCst), created + read, "k = {k}");
        }
    }

    // The adapters own their handles, so leaking one leaks the channel,
    // which Miri's leak check reports; what this checks (no double drop,
    // the other handle still works) runs on stable.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn leaking_a_stream_or_sink_is_safe() {
        let (_c, w) = counting();
        let (tx, rx) = park_mpmc::<u32>(1);
        let mut stream = rx.into_stream();
        assert!(Pin::new(&mut stream).poll_next(&mut Context::from_waker(&w)).is_pending());
        std::mem::forget(stream);
        let mut sink = tx.clone().into_sink();
        tx.try_send(1).unwrap();
        Pin::new(&mut sink).start_send(2).unwrap();
        assert!(Pin::new(&mut sink).poll_flush(&mut Context::from_waker(&w)).is_pending());
        std::mem::forget(sink);
        drop(tx);
        // Broadcast: a leaked pending stream holds its receiver's place
        // (backpressure), and the other receiver and the sender go on.
        let (mut btx, brx) = park_broadcast::<u32>(2);
        let mut other = brx.clone();
        let mut stream = brx.into_stream();
        assert!(Pin::new(&mut stream).poll_next(&mut Context::from_waker(&w)).is_pending());
        std::mem::forget(stream);
        btx.try_send(1).unwrap();
        assert_eq!(other.try_recv(), Ok(1));
        // Broadcast: a leaked sink holding an item it could not send; the
        // receiver reads what was sent, and never the held item.
        let (btx, mut brx) = park_broadcast::<u32>(1);
        let mut sink = btx.into_sink();
        Pin::new(&mut sink).start_send(1).unwrap();
        Pin::new(&mut sink).start_send(2).unwrap(); // the ring is full: the sink holds it
        assert!(Pin::new(&mut sink).poll_flush(&mut Context::from_waker(&w)).is_pending());
        std::mem::forget(sink);
        assert_eq!(brx.try_recv(), Ok(1));
        assert!(brx.try_recv().is_err(), "the held item was never sent");
    }
}

// ------------------------------------------- wakers that panic or drop tasks

/// A waker whose `wake` panics (user code).
struct Panicky;

impl Wake for Panicky {
    fn wake(self: Arc<Self>) {
        panic!("a user's waker panics");
    }
}

/// Runs `f`, which must panic (with a `Panicky` waker's panic).
fn panics(f: impl FnOnce()) {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    assert!(caught.is_err(), "the user's waker panicked through the call");
}

#[test]
fn a_panicking_waker_costs_no_other_waiter_its_wakeup() {
    let panicky = Waker::from(Arc::new(Panicky));
    // MPMC, disconnection: two pending receives, the older one's waker
    // panics; the other is still woken (its entry was taken off the
    // registry with the first one's).
    let (tx, rx) = park_mpmc::<u32>(1);
    let (cb, wb) = counting();
    let (mut a, mut b) = (rx.recv_async(), rx.recv_async());
    assert!(poll(&mut a, &panicky).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    panics(move || drop(tx));
    assert_eq!(woken(&cb), 1, "woken on disconnection");
    assert_eq!(poll(&mut b, &wb), Poll::Ready(Err(RecvError)));
    drop((a, b));
    // MPMC, a batch of two wakes two receives.
    let (tx, rx) = park_mpmc::<u32>(4);
    let (cb, wb) = counting();
    let (mut a, mut b) = (rx.recv_async(), rx.recv_async());
    assert!(poll(&mut a, &panicky).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    let mut items: std::collections::VecDeque<u32> = (0..2).collect();
    panics(|| {
        let _ = tx.try_send_many(&mut items);
    });
    assert!(items.is_empty(), "both items were published before the wake-ups");
    assert_eq!(woken(&cb), 1, "woken for the second item");
    assert_eq!(poll(&mut b, &wb), Poll::Ready(Ok(0)));
    drop((a, b));
    // MPMC, disconnection wakes the senders' registry, then the receivers'
    // and the watermark waiters': a leaked pending send with the panicking
    // waker sits in the first, a thread in `wait_until_clear` in the last.
    let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).watermarks(0, 1).mpmc::<u32>();
    tx.try_send(0).unwrap();
    let mut s = tx.send_async(1);
    assert!(poll(&mut s, &panicky).is_pending());
    std::mem::forget(s);
    let parked = tx.stats().parks;
    let (done, returned) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    let t = thread::spawn(move || {
        let _ = tx2.wait_until_clear(None);
        let _ = done.send(());
    });
    while tx.stats().parks == parked {
        thread::yield_now();
    }
    panics(move || drop(rx));
    assert!(returned.recv_timeout(Duration::from_secs(10)).is_ok(), "the watermark waiter was woken");
    t.join().unwrap();
    drop(tx);
    // Broadcast: each receiver waits on its own registry; a send wakes
    // every one, and the sender's drop too.
    let (mut tx, mut r1) = park_broadcast::<u32>(4);
    let mut r2 = r1.clone();
    let (c2, w2) = counting();
    let mut f1 = r1.recv_async();
    let mut f2 = r2.recv_async();
    assert!(poll(&mut f1, &panicky).is_pending());
    assert!(poll(&mut f2, &w2).is_pending());
    // Which receiver the sender notifies first is its registry's order:
    // `r1` joined first.
    panics(|| {
        let _ = tx.try_send(7);
    });
    assert_eq!(woken(&c2), 1, "the other receiver is woken for the item");
    assert_eq!(poll(&mut f2, &w2), Poll::Ready(Ok(7)));
    drop((f1, f2));
    let (c2, w2) = counting();
    assert_eq!(r1.try_recv(), Ok(7));
    let mut f1 = r1.recv_async();
    let mut f2 = r2.recv_async();
    assert!(poll(&mut f1, &panicky).is_pending());
    assert!(poll(&mut f2, &w2).is_pending());
    panics(move || drop(tx));
    assert_eq!(woken(&c2), 1, "the other receiver learns that the sender is gone");
    assert_eq!(poll(&mut f2, &w2), Poll::Ready(Err(broadcast::RecvError::Disconnected)));
}

/// Several wakers that panic in one wake-up, and one woken by a drop
/// during unwinding: each wake runs on its own, the first panic goes on
/// (or, while the thread already unwinds, none), and the process lives.
/// Both aborted before (a review found it): the wakers after the first
/// panicking one were woken from a drop guard during the unwinding, and a
/// panic there aborts.
#[test]
fn several_panicking_wakers_and_one_woken_while_unwinding_do_not_abort() {
    let panicky = Waker::from(Arc::new(Panicky));
    // Disconnection wakes three pending receives, two of them panicking.
    let (tx, rx) = park_mpmc::<u32>(1);
    let (cc, wc) = counting();
    let (mut a, mut b, mut c) = (rx.recv_async(), rx.recv_async(), rx.recv_async());
    assert!(poll(&mut a, &panicky).is_pending());
    assert!(poll(&mut b, &panicky).is_pending());
    assert!(poll(&mut c, &wc).is_pending());
    panics(move || drop(tx));
    assert_eq!(woken(&cc), 1, "the third receive is woken past two panicking wakers");
    assert_eq!(poll(&mut c, &wc), Poll::Ready(Err(RecvError)));
    drop((a, b, c));
    // A woken receive dropped while its thread unwinds passes its wake-up
    // on to the next one, whose waker panics: swallowed, the original
    // panic goes on.
    let (tx, rx) = park_mpmc::<u32>(1);
    let (ca, wa) = counting();
    let (mut a, mut b) = (rx.recv_async(), rx.recv_async());
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &panicky).is_pending());
    tx.try_send(1).unwrap();
    assert_eq!(woken(&ca), 1, "the older receive is woken for the item");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _a = a;
        panic!("the caller's own panic");
    }));
    let payload = caught.expect_err("the caller's panic goes on");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the caller's own panic"));
    let (cb, wb) = counting();
    assert_eq!(poll(&mut b, &wb), Poll::Ready(Ok(1)), "the item is still there for the other receive");
    assert_eq!(woken(&cb), 0);
    drop(b);
}

#[test]
fn a_receive_whose_wakeup_panics_drops_the_item_it_took() {
    // Documented in `future.rs`: the receive has taken its item before it
    // notifies a waiting sender, so when that sender's waker panics the
    // item is dropped by the unwinding, once, and the slot is free.
    let panicky = Waker::from(Arc::new(Panicky));
    let taken = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = park_mpmc::<Tracked>(1);
    assert!(tx.try_send(Tracked(taken.clone())).is_ok());
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut s = tx.send_async(Tracked(waiting.clone()));
    assert!(poll(&mut s, &panicky).is_pending());
    panics(|| {
        let _ = rx.try_recv();
    });
    assert_eq!(taken.load(Ordering::SeqCst), 1, "the item taken was dropped once");
    assert_eq!(rx.len(), 0);
    drop(s); // the pending send did not send: its value goes with it
    assert_eq!(waiting.load(Ordering::SeqCst), 1);
}

#[test]
fn a_force_send_whose_wakeup_panics_drops_the_item_it_evicted() {
    // `force_send` owns the item it evicted while it notifies the waiting
    // senders: a waker that panics there must not leak it.
    let panicky = Waker::from(Arc::new(Panicky));
    let (evicted, waiting, forced) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (tx, rx) = park_mpmc::<Tracked>(1);
    assert!(tx.try_send(Tracked(evicted.clone())).is_ok());
    let mut s = tx.send_async(Tracked(waiting.clone()));
    assert!(poll(&mut s, &panicky).is_pending());
    panics(|| {
        let _ = tx.force_send(Tracked(forced.clone()));
    });
    assert_eq!(evicted.load(Ordering::SeqCst), 1, "the evicted item was dropped, once");
    assert_eq!(forced.load(Ordering::SeqCst), 0, "the forced item is in the ring");
    drop(s);
    assert_eq!(waiting.load(Ordering::SeqCst), 1);
    assert!(rx.try_recv().is_ok());
    assert_eq!(forced.load(Ordering::SeqCst), 1);
}

#[test]
fn a_broadcast_send_whose_wakeup_panics_drops_the_item_it_overwrote() {
    // The send has published its item, and owns the one it overwrote, when
    // it notifies the receivers: a receiver's waker that panics there must
    // not leak that item; the unwinding drops it, once.
    let panicky = Waker::from(Arc::new(Panicky));
    let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (mut tx, mut rx) = park_broadcast::<TrackedClone>(1);
    assert!(tx.try_send(TrackedClone(first.clone())).is_ok());
    drop(rx.try_recv().expect("item 0")); // a clone, dropped: 1
    let mut f = rx.recv_async();
    assert!(poll(&mut f, &panicky).is_pending());
    panics(|| {
        let _ = tx.try_send(TrackedClone(second.clone()));
    });
    assert_eq!(first.load(Ordering::SeqCst), 2, "the overwritten item 0 was dropped, once");
    assert_eq!(second.load(Ordering::SeqCst), 0, "item 1 is in the ring");
    drop(f);
    let (c, w) = counting();
    let mut f = rx.recv_async();
    assert!(matches!(poll(&mut f, &w), Poll::Ready(Ok(_))), "item 1 was published before the wake-up");
    drop(f);
    drop((tx, rx));
    assert_eq!(first.load(Ordering::SeqCst), 2);
    assert_eq!(second.load(Ordering::SeqCst), 2, "item 1: the clone received and the original");
    assert_eq!(woken(&c), 0);
}

#[test]
fn a_broadcast_senders_drop_wakes_waiting_receivers_past_a_panicking_send_waker() {
    // The sender's drop wakes its own registries (a leaked pending send
    // whose waker panics sits there) and then every receiver's: a receiver
    // waiting there still learns that the sender is gone.
    let panicky = Waker::from(Arc::new(Panicky));
    let (mut tx, rx) = park_broadcast::<u32>(1);
    let mut waiting = rx.clone();
    tx.try_send(0).unwrap();
    assert_eq!(waiting.try_recv(), Ok(0)); // `rx` has not read item 0: the ring is full
    let mut s = tx.send_async(1);
    assert!(poll(&mut s, &panicky).is_pending());
    std::mem::forget(s);
    let (c, w) = counting();
    let mut f = waiting.recv_async();
    assert!(poll(&mut f, &w).is_pending());
    panics(move || drop(tx));
    assert_eq!(woken(&c), 1, "the waiting receiver was woken");
    assert_eq!(poll(&mut f, &w), Poll::Ready(Err(broadcast::RecvError::Disconnected)));
    drop(rx);
}

/// A task of a minimal executor whose queue is gone: waking it drops the
/// waker, the last reference to the task, and with it the task's future.
struct Orphan(std::sync::Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>);

impl Wake for Orphan {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once as an orphan task's future (it must wait), leaving
/// the registered waker as the task's only reference.
fn orphan(fut: impl Future<Output = ()> + Send + 'static) {
    let task = Arc::new(Orphan(std::sync::Mutex::new(Some(Box::pin(fut)))));
    let waker = Waker::from(task.clone());
    let mut slot = task.0.lock().unwrap();
    let fut = slot.as_mut().unwrap();
    assert!(fut.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
}

/// Runs `f` on a thread and fails if it does not return within 10 s.
fn returns(what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let t = thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    assert!(finished.recv_timeout(Duration::from_secs(10)).is_ok(), "{what} hung");
    t.join().unwrap();
}

#[test]
fn a_wake_that_drops_the_task_owning_a_handle_does_not_hang() {
    // The woken waker drops its task's future, which owns a receiver of the
    // same channel, whose drop takes the channel's locks: the wake-up must
    // come after every lock of the waking call is released (the broadcast
    // sender's drop once woke its receivers under the registry mutex).
    returns("broadcast sender's drop", || {
        let (tx, rx) = park_broadcast::<u32>(2);
        orphan(async move {
            let mut rx = rx;
            let _ = rx.recv_async().await;
        });
        drop(tx);
    });
    returns("MPMC sender's drop", || {
        let (tx, rx) = park_mpmc::<u32>(2);
        orphan(async move {
            let _ = rx.recv_async().await;
        });
        drop(tx);
    });
    returns("SPSC producer's drop", || {
        let (tx, rx) = park_spsc::<u32>(2);
        orphan(async move {
            let mut rx = rx;
            let _ = rx.recv_async().await;
        });
        drop(tx);
    });
    returns("a broadcast send", || {
        let (mut tx, rx) = park_broadcast::<u32>(2);
        let keep = rx.clone();
        orphan(async move {
            let mut rx = rx;
            let _ = rx.recv_async().await;
        });
        tx.try_send(1).unwrap();
        drop(keep);
    });
}

#[test]
fn a_leaked_pool_future_costs_at_most_the_wakeup_it_absorbs() {
    // On an MPMC ring several futures may wait on one registry, so a
    // leaked pending future's entry is not retired by the next
    // registration (as it is on SPSC): it stays, oldest first, until a
    // publication's wake-up takes it. A live waiter registered after it is
    // then woken by the next publication.
    let (tx, rx) = park_mpmc::<u32>(4);
    let (_cl, wl) = counting();
    let mut leaked = rx.recv_async();
    assert!(poll(&mut leaked, &wl).is_pending());
    std::mem::forget(leaked);
    let (cg, wg) = counting();
    let mut g = rx.recv_async();
    assert!(poll(&mut g, &wg).is_pending());
    tx.try_send(1).unwrap(); // its wake-up goes to the leaked entry
    tx.try_send(2).unwrap();
    assert_eq!(woken(&cg), 1, "the next publication wakes the live waiter");
    assert_eq!(poll(&mut g, &wg), Poll::Ready(Ok(1)));
}

/// An async ping-pong between two threads that share one CPU (each runs
/// `block_on`; both pinned to the first CPU where the platform lets a
/// thread pin itself): a task woken from a thread on its own CPU does not
/// spin but registers at once and sleeps, counting the sleep as paced (its
/// channel side may switch to the fence pair). Every round trip must
/// complete, in order, on both rings; a lost wake-up hangs.
#[test]
fn a_ping_pong_between_two_threads_on_one_cpu_completes() {
    let rounds: u64 = if cfg!(miri) { 20 } else { 2_000 };
    let pin = || {
        if let Some(first) = core_affinity::get_core_ids().and_then(|ids| ids.into_iter().next()) {
            let _ = core_affinity::set_for_current(first);
        }
    };
    // The same exchange on either ring: `$make` builds one channel.
    macro_rules! ping_pong {
        ($what:expr, $make:expr) => {
            returns($what, move || {
                #[allow(unused_mut)]
                let ((mut a_tx, mut a_rx), (mut b_tx, mut b_rx)) = ($make, $make);
                let echo = thread::spawn(move || {
                    pin();
                    block_on(async {
                        for _ in 0..rounds {
                            let v = a_rx.recv_async().await.unwrap();
                            b_tx.send_async(v).await.unwrap();
                        }
                    })
                });
                pin();
                block_on(async {
                    for i in 0..rounds {
                        a_tx.send_async(i).await.unwrap();
                        assert_eq!(b_rx.recv_async().await, Ok(i));
                    }
                });
                echo.join().unwrap();
            })
        };
    }
    ping_pong!("SPSC ping-pong on one CPU", park_spsc::<u64>(1));
    ping_pong!("MPMC ping-pong on one CPU", park_mpmc::<u64>(1));
}
