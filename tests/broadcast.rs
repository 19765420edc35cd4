//! Integration tests of the broadcast ring (`ringflow::broadcast`): every
//! call and error, Block never losing an item for any receiver, Lossy
//! accounting (received + missed = sent, per receiver), receivers joining and
//! leaving while the sender runs, 1 sender x 8 receivers with `Park` on a
//! 2-core machine, drop counting with panicking `Drop` and `Clone`, ZST, and
//! positions across `usize::MAX`.

#[macro_use]
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{scaled, Watchdog};
use ringflow::broadcast::{self, Policy, RecvError, RecvTimeoutError, TryRecvError};
use ringflow::{Builder, SendError, SendTimeoutError, TrySendError, WaitStrategy};

// ---------------------------------------------------------------------------
// A clonable payload that counts creations and drops
// ---------------------------------------------------------------------------

/// Counters shared by every [`Tok`] of one test.
#[derive(Default)]
struct Counts {
    /// Drops of the originals (the values that were sent), per id.
    originals: Vec<AtomicUsize>,
    /// Clones made and clones dropped.
    cloned: AtomicUsize,
    clone_drops: AtomicUsize,
    /// The next `clone` panics (once) if set.
    panic_next_clone: AtomicBool,
}

impl Counts {
    fn new(n: usize) -> Arc<Counts> {
        Arc::new(Counts { originals: (0..n).map(|_| AtomicUsize::new(0)).collect(), ..Counts::default() })
    }

    fn tok(self: &Arc<Self>, id: usize) -> Tok {
        Tok { id, counts: self.clone(), original: true, panic_on_drop: false }
    }

    fn panicking_tok(self: &Arc<Self>, id: usize) -> Tok {
        Tok { id, counts: self.clone(), original: true, panic_on_drop: true }
    }

    #[track_caller]
    fn assert_originals_dropped_once(&self) {
        for (id, n) in self.originals.iter().enumerate() {
            assert_eq!(n.load(Ordering::SeqCst), 1, "original {id} dropped {} times", n.load(Ordering::SeqCst));
        }
    }

    #[track_caller]
    fn assert_clones_balanced(&self) {
        assert_eq!(self.cloned.load(Ordering::SeqCst), self.clone_drops.load(Ordering::SeqCst), "clones leaked");
    }
}

/// A payload that records its drops (originals per id, clones in total).
/// Not `Debug`, not `PartialEq`: the API must not need them.
struct Tok {
    id: usize,
    counts: Arc<Counts>,
    original: bool,
    panic_on_drop: bool,
}

impl Clone for Tok {
    fn clone(&self) -> Self {
        if self.counts.panic_next_clone.swap(false, Ordering::SeqCst) {
            panic!("Tok({}) panics in clone, as the test asked", self.id);
        }
        self.counts.cloned.fetch_add(1, Ordering::SeqCst);
        Tok { id: self.id, counts: self.counts.clone(), original: false, panic_on_drop: false }
    }
}

impl Drop for Tok {
    fn drop(&mut self) {
        if self.original {
            let before = self.counts.originals[self.id].fetch_add(1, Ordering::SeqCst);
            if self.panic_on_drop && before == 0 {
                panic!("Tok({}) panics in drop, as the test asked", self.id);
            }
        } else {
            self.counts.clone_drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn build<T: Clone>(cap: usize, policy: Policy, s: WaitStrategy) -> (broadcast::Sender<T>, broadcast::Receiver<T>) {
    let b = Builder::new(cap).wait_strategy(s);
    match policy {
        Policy::Block => b.broadcast(),
        _ => b.broadcast_lossy(),
    }
}

// ---------------------------------------------------------------------------
// Every call and error, single-threaded
// ---------------------------------------------------------------------------

#[test]
fn block_try_send_full_hands_value_back_until_the_slowest_reads() {
    let (mut tx, mut rx) = broadcast::channel::<String>(2);
    let mut rx2 = rx.clone();
    assert_eq!(tx.capacity(), 2);
    assert_eq!(tx.policy(), Policy::Block);
    assert_eq!(rx.policy(), Policy::Block);
    assert_eq!(tx.wait_strategy(), WaitStrategy::Park);
    tx.try_send("a".into()).unwrap();
    tx.try_send("b".into()).unwrap();
    assert!(tx.is_full());
    match tx.try_send("c".into()) {
        Err(TrySendError::Full(v)) => assert_eq!(v, "c"),
        other => panic!("expected Full, got {other:?}"),
    }
    // One receiver reading is not enough: the other still holds the ring.
    assert_eq!(rx.try_recv().unwrap(), "a");
    assert!(tx.try_send("c".into()).unwrap_err().is_full());
    assert_eq!(tx.slowest_lag(), 2);
    assert_eq!(rx2.try_recv().unwrap(), "a");
    tx.try_send("c".into()).unwrap();
    assert_eq!(rx.try_recv().unwrap(), "b");
    assert_eq!(rx.try_recv().unwrap(), "c");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx2.try_recv().unwrap(), "b");
    assert_eq!(rx2.try_recv().unwrap(), "c");
    assert!(tx.is_empty());
}

#[test]
fn disconnection_both_ways() {
    let (mut tx, mut rx) = broadcast::channel::<u32>(4);
    assert!(!tx.is_disconnected());
    assert!(!rx.is_disconnected());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    assert!(rx.is_disconnected());
    // Drain first, then Disconnected, on every receive form.
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Err(RecvTimeoutError::Disconnected));
    assert_eq!(rx.recv_deadline(Instant::now()), Err(RecvTimeoutError::Disconnected));
    let mut clone = rx.clone();
    assert_eq!(clone.try_recv(), Err(TryRecvError::Disconnected));

    let (mut tx, rx) = broadcast::channel::<u32>(4);
    let rx2 = rx.clone();
    assert_eq!(tx.receiver_count(), 2);
    drop(rx);
    assert!(!tx.is_disconnected());
    drop(rx2);
    assert!(tx.is_disconnected());
    assert_eq!(tx.receiver_count(), 0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Disconnected(1)));
    assert_eq!(tx.send(2), Err(SendError(2)));
    assert_eq!(tx.send_timeout(3, Duration::from_secs(5)), Err(SendTimeoutError::Disconnected(3)));
    assert_eq!(tx.send_deadline(4, Instant::now()), Err(SendTimeoutError::Disconnected(4)));
    // A subscription makes the channel live again, from the newest item.
    let mut late = tx.subscribe();
    assert!(!tx.is_disconnected());
    tx.send(5).unwrap();
    assert_eq!(late.try_recv(), Ok(5));
}

#[test]
fn timeouts_and_deadlines() {
    let (mut tx, mut rx) = Builder::new(1).broadcast::<u32>();
    assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
    assert_eq!(rx.recv_deadline(Instant::now() - Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    tx.send(1).unwrap();
    let start = Instant::now();
    assert_eq!(tx.send_timeout(2, Duration::from_millis(20)), Err(SendTimeoutError::Timeout(2)));
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(tx.send_deadline(3, Instant::now()), Err(SendTimeoutError::Timeout(3)));
    // A timeout too large to add to now means no deadline.
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    tx.send_timeout(4, Duration::MAX).unwrap();
    assert_eq!(rx.recv_deadline(Instant::now()), Ok(4));
    assert!(tx.stats().send_waits >= 1);
    assert!(rx.channel_stats().recv_waits >= 1);
}

#[test]
fn subscribe_starts_at_the_newest_and_clone_at_the_same_position() {
    let (mut tx, mut rx) = broadcast::channel::<u32>(8);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    let mut clone = rx.clone();
    let mut sub = tx.subscribe();
    tx.send(3).unwrap();
    assert_eq!(clone.try_recv(), Ok(2));
    assert_eq!(clone.try_recv(), Ok(3));
    assert_eq!(sub.try_recv(), Ok(3));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(tx.receiver_count(), 3);
}

#[test]
fn len_is_each_receivers_own_backlog() {
    let (mut tx, mut rx) = broadcast::channel::<u32>(4);
    let mut other = rx.clone();
    assert!(rx.is_empty());
    for i in 0..4 {
        tx.send(i).unwrap();
    }
    assert!(rx.is_full());
    assert_eq!((rx.len(), rx.lag()), (4, 4));
    rx.try_recv().unwrap();
    rx.try_recv().unwrap();
    assert_eq!((rx.len(), other.len()), (2, 4));
    assert_eq!(tx.len(), 4);
    assert_eq!(tx.slowest_lag(), 4);
    while other.try_recv().is_ok() {}
    assert_eq!(tx.slowest_lag(), 2);
    let s = rx.stats();
    assert_eq!((s.received, s.lagged, s.missed, s.lag), (2, 0, 0, 2));
    // Debug prints no item (no `T: Debug` needed) and says what matters.
    let d = format!("{tx:?} {rx:?}");
    assert!(d.contains("capacity: 4") && d.contains("disconnected: false"), "{d}");
}

#[test]
fn lossy_slowest_lag_is_at_most_the_capacity_and_a_receivers_lag_counts_what_it_missed() {
    // A Lossy send moves a receiver it would overwrite to the oldest item
    // held, so the sender's view of the slowest receiver (its published
    // cursor) never exceeds the capacity; the receiver's own `lag` counts
    // from where it last read, missed items included, until `Lagged`.
    let (mut tx, mut rx) = Builder::new(2).broadcast_lossy::<u32>();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(tx.slowest_lag(), 2);
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.lag(), 5);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3)));
    assert_eq!(rx.lag(), 2);
    let stats = rx.stats();
    assert_eq!(stats.received + stats.missed + stats.lag as u64, 5);
}

#[test]
fn lossy_lagged_then_oldest_held() {
    let (mut tx, mut rx) = Builder::new(3).broadcast_lossy::<u32>();
    let mut fast = rx.clone();
    assert_eq!(tx.policy(), Policy::Lossy);
    for i in 0..3 {
        tx.try_send(i).unwrap();
        assert_eq!(fast.try_recv(), Ok(i));
    }
    for i in 3..10 {
        tx.try_send(i).unwrap(); // never Full
        assert_eq!(fast.try_recv(), Ok(i)); // a receiver that keeps up loses nothing
    }
    assert_eq!(rx.lag(), 10);
    assert_eq!(rx.len(), 3);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(7)));
    assert_eq!(rx.try_recv(), Ok(7));
    tx.send(10).unwrap();
    tx.send(11).unwrap();
    tx.send(12).unwrap();
    // Overtaken again while it held a position: recv reports it too.
    // (8 and 9 were overwritten by 11 and 12.)
    assert_eq!(rx.recv(), Err(RecvError::Lagged(2)));
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Ok(10));
    let s = rx.stats();
    assert_eq!((s.received, s.lagged, s.missed), (2, 2, 9));
    assert_eq!(rx.missed(), 9);
    assert_eq!(s.received + s.missed + s.lag as u64, 13);
    for i in 13..17 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Err(RecvTimeoutError::Lagged(3)));
    drop(tx);
    let rest: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(rest, [14, 15, 16]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn lossy_clone_inherits_a_pending_lag() {
    let (mut tx, mut rx) = Builder::new(2).broadcast_lossy::<u32>();
    let _keeps_up = tx.subscribe();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    let mut twin = rx.clone();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3)));
    assert_eq!(twin.try_recv(), Err(TryRecvError::Lagged(3)));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(twin.try_recv(), Ok(3));
}

/// The two slot layouts (`broadcast/mod.rs`, "Two slot layouts": chosen by
/// item size; the test hook forces either) are invisible to the caller: the
/// same script of sends and receives, Block and Lossy, small and large
/// items, gives the same results on both, across several laps.
#[test]
fn both_slot_layouts_give_the_same_results() {
    fn script<T: Clone + PartialEq + std::fmt::Debug>(stamps: bool, policy: Policy, make: fn(u64) -> T) -> Vec<String> {
        let b = Builder::new(3).__broadcast_stamps(stamps);
        let (mut tx, mut rx) = if policy == Policy::Block { b.broadcast::<T>() } else { b.broadcast_lossy::<T>() };
        let mut slow = rx.clone();
        let mut log = Vec::new();
        for i in 0..20 {
            log.push(format!("send {i}: {:?}", tx.try_send(make(i)).map_err(|e| e.is_full())));
            log.push(format!("rx: {:?}", rx.try_recv()));
            if i % 4 == 3 {
                log.push(format!("slow: {:?} {:?}", slow.try_recv(), slow.try_recv()));
            }
        }
        let late = tx.subscribe();
        log.push(format!("lens {} {} {}", rx.len(), slow.len(), late.len()));
        drop(tx);
        while let Some(r) = match slow.try_recv() {
            Err(TryRecvError::Disconnected) => None,
            r => Some(r),
        } {
            log.push(format!("drain: {r:?}"));
        }
        log.push(format!("stats {:?} {:?}", slow.stats(), rx.try_recv()));
        log
    }
    for policy in [Policy::Block, Policy::Lossy] {
        assert_eq!(script(false, policy, |i| i as u32), script(true, policy, |i| i as u32), "{policy:?} u32");
        assert_eq!(
            script(false, policy, |i| format!("item {i}")),
            script(true, policy, |i| format!("item {i}")),
            "{policy:?} String"
        );
    }
    // The scripts do exercise what they compare: a Full, a Lagged, a drain.
    let block = script(true, Policy::Block, |i| i);
    assert!(block.iter().any(|l| l.contains("Err(true)")), "{block:?}");
    let lossy = script(false, Policy::Lossy, |i| i);
    assert!(lossy.iter().any(|l| l.contains("Lagged")), "{lossy:?}");
    assert!(lossy.iter().any(|l| l.starts_with("drain: Ok")), "{lossy:?}");
}

#[test]
fn error_vocabulary() {
    assert!(TryRecvError::Empty.is_empty());
    assert!(TryRecvError::Disconnected.is_disconnected());
    assert_eq!(TryRecvError::Lagged(3).lagged(), Some(3));
    assert_eq!(TryRecvError::Empty.lagged(), None);
    assert!(RecvError::Disconnected.is_disconnected());
    assert_eq!(RecvError::Lagged(2).lagged(), Some(2));
    assert!(RecvTimeoutError::Timeout.is_timeout());
    assert!(RecvTimeoutError::Disconnected.is_disconnected());
    assert_eq!(RecvTimeoutError::Lagged(1).lagged(), Some(1));
    assert_eq!(TryRecvError::from(RecvError::Lagged(4)), TryRecvError::Lagged(4));
    assert_eq!(RecvTimeoutError::from(RecvError::Disconnected), RecvTimeoutError::Disconnected);
    for e in [
        TryRecvError::Empty.to_string(),
        TryRecvError::Disconnected.to_string(),
        TryRecvError::Lagged(5).to_string(),
        RecvError::Lagged(5).to_string(),
        RecvTimeoutError::Timeout.to_string(),
    ] {
        assert!(!e.is_empty());
    }
    assert!(TryRecvError::Lagged(5).to_string().contains('5'));
    let _: &dyn std::error::Error = &RecvTimeoutError::Lagged(1);
}

#[test]
fn capacity_checks() {
    let zero = catch_unwind(|| Builder::new(0));
    assert!(zero.is_err());
    let err = catch_unwind(|| Builder::new(4).watermarks(1, 2).broadcast::<u8>()).unwrap_err();
    let msg = err.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| err.downcast_ref::<String>().cloned());
    assert!(msg.unwrap().contains("watermarks"));
    let huge = catch_unwind(|| Builder::new(usize::MAX / 2).broadcast::<u8>()).unwrap_err();
    let msg = huge.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("too large"), "{msg}");
}

#[test]
fn handles_are_send_and_sync_for_send_sync_payloads() {
    fn assert_send_sync<S: Send + Sync>(_: &S) {}
    let (tx, rx) = broadcast::channel::<String>(1);
    assert_send_sync(&tx);
    assert_send_sync(&rx);
}

#[test]
fn positions_wrap_across_usize_max() {
    for policy in [Policy::Block, Policy::Lossy] {
        for cap in [1, 2, 3] {
            let b = Builder::new(cap).__start_position(usize::MAX - 4);
            let (mut tx, mut rx) = match policy {
                Policy::Block => b.broadcast::<usize>(),
                _ => b.broadcast_lossy::<usize>(),
            };
            let mut late = rx.clone();
            for i in 0..40 {
                tx.try_send(i).unwrap();
                assert_eq!(rx.try_recv(), Ok(i));
                assert_eq!(rx.len(), 0);
                if policy == Policy::Block {
                    // `late` trails by up to `cap - 1` (Block: it holds the ring).
                    if i + 1 >= cap {
                        assert_eq!(late.try_recv(), Ok(i + 1 - cap));
                    }
                }
            }
            if policy == Policy::Block {
                for i in 41 - cap..40 {
                    assert_eq!(late.try_recv(), Ok(i));
                }
            } else {
                assert_eq!(late.try_recv(), Err(TryRecvError::Lagged(40 - cap as u64)));
                for i in 40 - cap..40 {
                    assert_eq!(late.try_recv(), Ok(i));
                }
            }
            assert_eq!(late.try_recv(), Err(TryRecvError::Empty));
        }
    }
}

// ---------------------------------------------------------------------------
// Drops: exactly once, panicking Drop and Clone, ZST
// ---------------------------------------------------------------------------

#[test]
fn every_item_dropped_exactly_once() {
    for policy in [Policy::Block, Policy::Lossy] {
        for cap in [1, 2, 3, 5] {
            for sent in [0, 1, cap - 1, cap, cap + 1, 3 * cap + 1] {
                let counts = Counts::new(sent);
                let (mut tx, mut rx) = build::<Tok>(cap, policy, WaitStrategy::SpinYield);
                let mut rx2 = rx.clone();
                for id in 0..sent {
                    // Block: keep rx2 current so that the ring never fills;
                    // rx stays behind (and gets Lagged on Lossy rings).
                    if policy == Policy::Block {
                        while rx.len() == cap {
                            drop(rx.try_recv().unwrap());
                        }
                    }
                    tx.try_send(counts.tok(id)).unwrap_or_else(|_| panic!("send {id}"));
                    drop(rx2.try_recv().unwrap());
                }
                drop(tx);
                drop(rx2);
                drop(rx); // the last handle drops what the ring holds
                counts.assert_originals_dropped_once();
                counts.assert_clones_balanced();
            }
        }
    }
}

#[test]
fn unread_items_dropped_when_the_channel_goes() {
    let counts = Counts::new(3);
    let (mut tx, rx) = broadcast::channel::<Tok>(4);
    for id in 0..3 {
        tx.send(counts.tok(id)).unwrap();
    }
    drop(rx);
    assert_eq!(counts.originals[0].load(Ordering::SeqCst), 0, "the sender still holds the ring");
    drop(tx);
    counts.assert_originals_dropped_once();
}

#[test]
fn panicking_drop_of_an_overwritten_item() {
    let counts = Counts::new(4);
    let (mut tx, mut rx) = Builder::new(1).broadcast_lossy::<Tok>();
    tx.send(counts.panicking_tok(0)).unwrap();
    // The send of 1 reuses item 0's slot; 0's Drop panics after 1 was sent.
    let r = catch_unwind(AssertUnwindSafe(|| tx.send(counts.tok(1))));
    assert!(r.is_err(), "the old item's Drop panic propagates");
    assert_eq!(counts.originals[0].load(Ordering::SeqCst), 1);
    let got = rx.try_recv();
    assert!(matches!(got, Err(TryRecvError::Lagged(1))), "item 0 was overwritten");
    assert_eq!(rx.try_recv().map(|t| t.id).ok(), Some(1));
    tx.send(counts.tok(2)).unwrap();
    tx.send(counts.tok(3)).unwrap();
    drop((tx, rx));
    counts.assert_originals_dropped_once();
    counts.assert_clones_balanced();
}

#[test]
fn panicking_drop_at_channel_drop_still_drops_the_rest() {
    let counts = Counts::new(3);
    let (mut tx, rx) = broadcast::channel::<Tok>(3);
    tx.send(counts.tok(0)).unwrap();
    tx.send(counts.panicking_tok(1)).unwrap();
    tx.send(counts.tok(2)).unwrap();
    drop(rx);
    let r = catch_unwind(AssertUnwindSafe(move || drop(tx)));
    assert!(r.is_err());
    counts.assert_originals_dropped_once();
}

#[test]
fn panicking_clone_leaves_the_receiver_in_place() {
    for policy in [Policy::Block, Policy::Lossy] {
        let counts = Counts::new(2);
        let (mut tx, mut rx) = build::<Tok>(1, policy, WaitStrategy::Park);
        tx.send(counts.tok(0)).unwrap();
        counts.panic_next_clone.store(true, Ordering::SeqCst);
        assert!(catch_unwind(AssertUnwindSafe(|| rx.try_recv().map(drop))).is_err());
        // Not received, not lost: the next try gets it; the sender, which a
        // Lossy busy cursor would otherwise stall, can go on.
        assert_eq!(rx.try_recv().map(|t| t.id).ok(), Some(0));
        tx.send(counts.tok(1)).unwrap();
        assert_eq!(rx.stats().received, 1);
        assert_eq!(rx.try_recv().map(|t| t.id).ok(), Some(1));
        drop((tx, rx));
        counts.assert_originals_dropped_once();
        counts.assert_clones_balanced();
    }
}

#[test]
fn every_item_dropped_exactly_once_across_a_revival() {
    // Every receiver leaves (sends then fail and hand their values back),
    // `subscribe` brings the channel back, clones come and go: each value
    // sent or handed back is dropped once, on both slot layouts.
    for policy in [Policy::Block, Policy::Lossy] {
        for stamps in [false, true] {
            let n = 40;
            let counts = Counts::new(n);
            let b = Builder::new(3).wait_strategy(WaitStrategy::BusySpin).__broadcast_stamps(stamps);
            let (mut tx, rx) = if policy == Policy::Lossy { b.broadcast_lossy::<Tok>() } else { b.broadcast::<Tok>() };
            let mut rx = Some(rx);
            let mut handed_back = Vec::new();
            for id in 0..n {
                if let Err(e) = tx.try_send(counts.tok(id)) {
                    handed_back.push(e.into_inner());
                }
                match id % 5 {
                    0 if id % 3 == 0 => rx = None,
                    0 if rx.is_none() => rx = Some(tx.subscribe()),
                    2 => {
                        if let Some(r) = rx.as_mut() {
                            let mut c = r.clone();
                            drop(c.try_recv());
                            rx = Some(c);
                        }
                    }
                    _ => {}
                }
            }
            assert!(!handed_back.is_empty(), "some sends found no receiver");
            drop((handed_back, rx, tx));
            counts.assert_originals_dropped_once();
            counts.assert_clones_balanced();
        }
    }
}

/// A `Clone` that panics on every fifth call, on any thread.
#[derive(Debug)]
struct Flaky(Vec<u64>, Arc<AtomicUsize>);

impl Clone for Flaky {
    fn clone(&self) -> Self {
        if self.1.fetch_add(1, Ordering::Relaxed) % 5 == 4 {
            panic!("Flaky panics in clone");
        }
        Flaky(self.0.clone(), self.1.clone())
    }
}

#[test]
fn lossy_panicking_clones_while_the_sender_overwrites() {
    // The receiver's clones panic now and then while the sender evicts it
    // and overwrites the slot it is reading: the sender never stalls on a
    // clone that panicked, no value is torn, and received + missed = sent.
    let _watchdog = Watchdog::new("lossy_panicking_clones_while_the_sender_overwrites");
    let items = scaled(20_000, 60) as u64;
    let clones = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::SpinYield).broadcast_lossy::<Flaky>();
    let reader = thread::spawn(move || {
        let (mut got, mut missed, mut panics) = (0u64, 0u64, 0u64);
        loop {
            match catch_unwind(AssertUnwindSafe(|| rx.try_recv())) {
                Ok(Ok(v)) => {
                    assert!(v.0.iter().all(|&x| x == v.0[0]), "torn: {:?}", v.0);
                    got += 1;
                }
                Ok(Err(TryRecvError::Lagged(n))) => missed += n,
                Ok(Err(TryRecvError::Empty)) => thread::yield_now(),
                Ok(Err(TryRecvError::Disconnected)) => return (got, missed, panics),
                Err(_) => panics += 1,
            }
        }
    });
    for i in 0..items {
        tx.send(Flaky(vec![i; 4], clones.clone())).unwrap();
    }
    drop(tx);
    let (got, missed, panics) = reader.join().unwrap();
    assert_eq!(got + missed, items, "received + missed = sent");
    // Every fifth clone panicked, so the panics happened if the clones did.
    assert!(got + panics < 5 || panics > 0, "{got} received, no clone panicked");
}

#[test]
fn zero_sized_items() {
    #[derive(Clone)]
    struct Unit;
    let (mut tx, mut rx) = Builder::new(1000).broadcast::<Unit>();
    let mut rx2 = rx.clone();
    for _ in 0..1000 {
        tx.try_send(Unit).unwrap();
    }
    assert_eq!(rx.len(), 1000);
    for _ in 0..1000 {
        rx.try_recv().unwrap();
        rx2.try_recv().unwrap();
    }
    assert!(rx.try_recv().is_err());

    // Drop counting with a ZST payload.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Z;
    impl Clone for Z {
        fn clone(&self) -> Self {
            Z
        }
    }
    impl Drop for Z {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (mut tx, mut rx) = Builder::new(3).broadcast_lossy::<Z>();
    for _ in 0..10 {
        tx.send(Z).unwrap();
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 7, "overwritten");
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Lagged(7)));
    drop(rx.try_recv().unwrap()); // a clone
    assert_eq!(DROPS.load(Ordering::SeqCst), 8);
    drop((tx, rx));
    assert_eq!(DROPS.load(Ordering::SeqCst), 11);
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

/// 1 sender x `receivers`, Block: every receiver gets every item, in order.
fn block_never_loses(strategy: WaitStrategy, receivers: usize, items: u64, cap: usize) {
    let dog = Arc::new(Watchdog::new("broadcast block_never_loses"));
    let (mut tx, rx) = Builder::new(cap).wait_strategy(strategy).broadcast::<u64>();
    let handles: Vec<_> = (0..receivers)
        .map(|_| {
            let mut rx = rx.clone();
            let dog = dog.clone();
            thread::spawn(move || {
                let mut next = 0;
                loop {
                    match rx.recv() {
                        Ok(v) => {
                            assert_eq!(v, next, "in order, nothing lost");
                            next += 1;
                            if next % 1024 == 0 {
                                dog.tick();
                            }
                        }
                        Err(RecvError::Disconnected) => break,
                        Err(e) => panic!("Block ring returned {e:?}"),
                    }
                }
                next
            })
        })
        .collect();
    drop(rx);
    for i in 0..items {
        tx.send(i).unwrap();
    }
    drop(tx);
    for h in handles {
        assert_eq!(h.join().unwrap(), items);
    }
}

fn one_sender_four_receivers(strategy: WaitStrategy) {
    // BusySpin with 5 spinning threads on 2 cores hands over once per time
    // slice; fewer items keep it short (it still oversubscribes).
    let items = if strategy == WaitStrategy::BusySpin { scaled(5_000, 50) } else { scaled(50_000, 200) };
    block_never_loses(strategy, 4, items as u64, 64);
}

fn one_sender_two_receivers_capacity_1(strategy: WaitStrategy) {
    let items = if strategy == WaitStrategy::BusySpin { scaled(2_000, 50) } else { scaled(20_000, 100) };
    block_never_loses(strategy, 2, items as u64, 1);
}

for_each_strategy!(one_sender_four_receivers, one_sender_two_receivers_capacity_1);

#[test]
fn one_sender_eight_receivers_park_on_two_cores() {
    block_never_loses(WaitStrategy::Park, 8, scaled(100_000, 100) as u64, 128);
}

/// Lossy: each receiver's values strictly increase and received + missed
/// = sent, exactly, with one slow receiver among fast ones.
fn lossy_accounting(strategy: WaitStrategy) {
    let items = scaled(100_000, 300) as u64;
    let (mut tx, rx) = Builder::new(16).wait_strategy(strategy).broadcast_lossy::<u64>();
    let handles: Vec<_> = (0..3)
        .map(|r| {
            let mut rx = rx.clone();
            thread::spawn(move || {
                let (mut received, mut missed, mut next) = (0u64, 0u64, 0u64);
                loop {
                    match rx.recv() {
                        Ok(v) => {
                            assert!(v >= next, "receiver {r}: {v} after {next}");
                            assert_eq!(v, next, "receiver {r}: a gap without Lagged");
                            next = v + 1;
                            received += 1;
                            if r == 0 && received % 64 == 0 {
                                thread::sleep(Duration::from_micros(50)); // the slow one
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            missed += n;
                            next += n;
                        }
                        Err(RecvError::Disconnected) => break,
                    }
                }
                let s = rx.stats();
                assert_eq!((s.received, s.missed), (received, missed));
                (received, missed)
            })
        })
        .collect();
    drop(rx);
    for i in 0..items {
        tx.send(i).unwrap();
    }
    drop(tx);
    for h in handles {
        let (received, missed) = h.join().unwrap();
        assert_eq!(received + missed, items, "received + missed = sent");
    }
}

for_each_strategy!(lossy_accounting);

/// Payloads that own heap memory, overwritten while receivers clone them:
/// a torn or freed value fails the check (and Miri / ASan would see it).
#[test]
fn lossy_clones_of_heap_values_are_never_torn() {
    let items = scaled(30_000, 150);
    let (mut tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::SpinYield).broadcast_lossy::<Vec<usize>>();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = rx.clone();
            thread::spawn(move || {
                let mut got = 0;
                loop {
                    match rx.recv() {
                        Ok(v) => {
                            assert_eq!(v.len(), 8);
                            assert!(v.iter().all(|&x| x == v[0]), "torn value {v:?}");
                            got += 1;
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Disconnected) => return got,
                    }
                }
            })
        })
        .collect();
    drop(rx);
    for i in 0..items {
        tx.send(vec![i; 8]).unwrap();
    }
    drop(tx);
    for h in handles {
        assert!(h.join().unwrap() > 0);
    }
}

/// Receivers join (clone, subscribe) and leave while the sender runs on a
/// Block ring: every receiver sees a gap-free run of consecutive values, a
/// subscriber from no earlier than the sender's position when it joined, a
/// clone exactly from its original's position; leaving never stalls the
/// sender.
#[test]
fn receivers_join_and_leave_while_sending() {
    let dog = Watchdog::new("broadcast join/leave");
    let items = scaled(40_000, 200) as u64;
    let (tx, rx) = Builder::new(8).broadcast::<u64>();
    let tx = Arc::new(std::sync::Mutex::new(tx));
    let sent = Arc::new(AtomicUsize::new(0));

    // A consumer that reads a random-length run and then leaves.
    fn run(mut rx: broadcast::Receiver<u64>, first: Option<u64>, take: usize) -> u64 {
        let mut expect = first;
        let mut n = 0;
        while n < take {
            match rx.recv() {
                Ok(v) => {
                    if let Some(e) = expect {
                        assert_eq!(v, e, "gap-free, in order");
                    }
                    expect = Some(v + 1);
                    n += 1;
                }
                Err(RecvError::Disconnected) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        n as u64
    }

    let sender = {
        let (tx, sent) = (tx.clone(), sent.clone());
        thread::spawn(move || {
            for i in 0..items {
                // The mutex only shares `subscribe` with the main thread;
                // never hold it while waiting for room (the main thread
                // drains `base` and must be able to subscribe meanwhile).
                loop {
                    match tx.lock().unwrap().try_send(i) {
                        Ok(()) => break,
                        Err(TrySendError::Full(_)) => thread::yield_now(),
                        Err(e) => panic!("{e:?}"),
                    }
                }
                sent.store(i as usize + 1, Ordering::Relaxed);
            }
        })
    };
    let mut joiners = vec![];
    let mut rng = common::Rng::new(7);
    let mut base = rx;
    while sent.load(Ordering::Relaxed) < items as usize {
        dog.tick();
        let take = 1 + rng.below(500);
        match rng.below(3) {
            0 => {
                // A clone starts where `base` is.
                let at = base.try_recv().ok();
                let clone = base.clone();
                joiners.push(thread::spawn(move || run(clone, at.map(|v| v + 1), take)));
            }
            1 => {
                let (sub, from) = {
                    let tx = tx.lock().unwrap();
                    (tx.subscribe(), sent.load(Ordering::Relaxed) as u64)
                };
                joiners.push(thread::spawn(move || {
                    let mut sub = sub;
                    let first = sub.recv();
                    if let Ok(v) = first {
                        assert!(v >= from, "a subscriber saw {v}, sent before it joined ({from})");
                        1 + run(sub, Some(v + 1), take)
                    } else {
                        0
                    }
                }));
            }
            _ => {
                // Keep `base` moving so the ring does not stay full on it.
                for _ in 0..take {
                    if base.try_recv().is_err() {
                        break;
                    }
                }
            }
        }
        if joiners.len() > 6 {
            // Keep draining `base` while waiting: it holds the ring too.
            // (Once everything is sent, a joiner may be waiting for the
            // disconnection that comes after this loop.)
            let j = joiners.remove(0);
            while !j.is_finished() && sent.load(Ordering::Relaxed) < items as usize {
                while base.try_recv().is_ok() {}
                thread::yield_now();
            }
            if j.is_finished() {
                j.join().unwrap();
            } else {
                joiners.push(j);
            }
        }
        while base.try_recv().is_ok() {}
        thread::yield_now();
    }
    drop(base);
    sender.join().unwrap();
    drop(tx);
    for j in joiners {
        j.join().unwrap();
    }
}

#[test]
fn dropping_the_slow_receiver_wakes_the_blocked_sender() {
    for strategy in [WaitStrategy::Park, WaitStrategy::SpinYield] {
        let (mut tx, mut fast) = Builder::new(2).wait_strategy(strategy).broadcast::<u32>();
        let slow = fast.clone();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        assert_eq!(fast.try_recv(), Ok(0));
        let dropper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            drop(slow);
        });
        let start = Instant::now();
        tx.send_timeout(2, Duration::from_secs(60)).unwrap(); // blocked on `slow` until it drops
        assert!(start.elapsed() >= Duration::from_millis(20));
        dropper.join().unwrap();
        assert_eq!(fast.try_recv(), Ok(1));
        assert_eq!(fast.try_recv(), Ok(2));
    }
}

#[test]
fn last_receiver_drop_wakes_the_blocked_sender_with_its_value() {
    let (mut tx, rx) = Builder::new(1).broadcast::<u32>();
    tx.send(0).unwrap();
    let dropper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(rx);
    });
    assert_eq!(tx.send(1), Err(SendError(1)));
    dropper.join().unwrap();
}

#[test]
fn sender_drop_wakes_blocked_receivers() {
    let (tx, rx) = Builder::new(4).broadcast::<u32>();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let mut rx = rx.clone();
            thread::spawn(move || rx.recv())
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    drop(tx);
    for h in handles {
        assert_eq!(h.join().unwrap(), Err(RecvError::Disconnected));
    }
}

#[test]
fn a_never_polled_receiver_holds_the_ring_and_shows_its_lag() {
    let (mut tx, mut rx) = Builder::new(4).broadcast::<u32>();
    let idle = rx.clone();
    for i in 0..4 {
        tx.send(i).unwrap();
        rx.try_recv().unwrap();
    }
    assert!(tx.try_send(4).unwrap_err().is_full());
    assert_eq!(idle.lag(), 4);
    assert_eq!(tx.slowest_lag(), 4);
    drop(idle); // releases its hold at once
    tx.try_send(4).unwrap();
}

/// Send happens-before every receive: a value's heap contents written
/// before `send` are complete after `recv`, on every receiver thread.
#[test]
fn send_happens_before_each_receive() {
    let items = scaled(10_000, 100);
    let (mut tx, rx) = Builder::new(4).wait_strategy(WaitStrategy::SpinYield).broadcast::<Arc<Vec<u8>>>();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = rx.clone();
            thread::spawn(move || {
                let mut n = 0;
                while let Ok(v) = rx.recv() {
                    assert!(v.iter().all(|&b| b == (n % 251) as u8));
                    n += 1;
                }
                n
            })
        })
        .collect();
    drop(rx);
    for i in 0..items {
        tx.send(Arc::new(vec![(i % 251) as u8; 32])).unwrap();
    }
    drop(tx);
    for h in handles {
        assert_eq!(h.join().unwrap(), items);
    }
}

/// A departed receiver's leaked `recv_async` future must not keep its task
/// alive. Receiver `c` belongs to a waker (standing for a task that owns a
/// receiver) and never reads; `b` leaks a pending `recv_async` future with
/// that waker and then leaves. Once the registry kept the lists of
/// receivers for the sender (`1444a3f`), `b`'s cursor, and the waker in its
/// registry, lived on in such a list until the next join or leave, so `c`
/// kept holding the Block ring and a send timed out (found by a review:
/// `send_timeout` returned `Timeout`). Now a receiver that leaves wakes
/// (and so drops) what is left in its own registry.
#[test]
fn a_departed_receivers_leaked_future_does_not_keep_its_task_alive() {
    use std::future::Future;
    use std::sync::Mutex;
    use std::task::{Context, Wake, Waker};
    struct OwningWaker {
        rx: Mutex<Option<broadcast::Receiver<u64>>>,
        dropped: Arc<AtomicBool>,
    }
    impl Wake for OwningWaker {
        fn wake(self: Arc<Self>) {}
    }
    impl Drop for OwningWaker {
        fn drop(&mut self) {
            // Takes the registry's mutex: a deadlock if this ran under it.
            drop(self.rx.lock().unwrap().take());
            self.dropped.store(true, Ordering::SeqCst);
        }
    }
    let (mut tx, mut a) = Builder::new(1).wait_strategy(WaitStrategy::Park).broadcast::<u64>();
    let mut b = a.clone();
    let c = a.clone();
    let dropped = Arc::new(AtomicBool::new(false));
    let waker = Waker::from(Arc::new(OwningWaker { rx: Mutex::new(Some(c)), dropped: dropped.clone() }));
    tx.send(0).unwrap();
    assert_eq!(a.try_recv(), Ok(0));
    assert_eq!(b.try_recv(), Ok(0));
    {
        let mut fut = b.recv_async();
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending());
        std::mem::forget(fut); // leaked: its waker stays in `b`'s registry
    }
    drop(waker);
    // A rescan (the ring is full: `c` is at 0) takes a list holding `b`.
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    drop(b);
    assert!(dropped.load(Ordering::SeqCst), "the leaked future's waker went with its receiver");
    assert_eq!(tx.send_timeout(1, Duration::from_secs(5)), Ok(()), "`c` went with the waker that owned it");
    assert_eq!(a.try_recv(), Ok(1));
}
