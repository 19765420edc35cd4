//! Integration tests of the SPSC ring (`ringflow::spsc`): every public call
//! and error variant, exact capacities, wrap-around and `usize` overflow of
//! the positions, zero-sized items, drop accounting (including a panicking
//! `Drop`), capacity panics, disconnection, blocking and wake-ups for every
//! wait strategy, timeouts and deadlines, and ordered two-thread transfers.
//!
//! Blocking tests make the blocked state real by having the other thread
//! sleep before it acts, and assert only on outcomes, never on timings (the
//! single timing assertion allowed is "a timeout waited at least as long as
//! asked"). A [`Watchdog`] turns a lost wake-up (a hang) into an abort.
//! Iteration counts shrink under Miri through [`scaled`].

#[macro_use]
mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use common::{scaled, Opaque, Rng, SpscInLayout, Tracked, Tracker, Watchdog, Zst};
use common::{Rx as Consumer, Tx as Producer};
use ringflow::{
    Builder, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError, WaitStrategy,
};

const STRATEGIES: [WaitStrategy; 3] = [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park];

/// How long the acting thread sleeps before it acts, so that the other
/// thread is really blocked (spun out, yielded out, parked) by then.
const ACT_AFTER: Duration = Duration::from_millis(50);

fn chan<T>(capacity: usize, strategy: WaitStrategy) -> (Producer<T>, Consumer<T>) {
    Builder::new(capacity).wait_strategy(strategy).spsc_t()
}

/// A deadline that has already passed.
fn past() -> Instant {
    let now = Instant::now();
    now.checked_sub(Duration::from_millis(10)).unwrap_or(now)
}

// ---------------------------------------------------------------------------
// Basic calls and every error variant
// ---------------------------------------------------------------------------

#[test]
fn try_send_and_try_recv_move_values_in_order() {
    for strategy in STRATEGIES {
        let (mut tx, mut rx) = chan::<u32>(4, strategy);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.try_send(10), Ok(()));
        assert_eq!(tx.try_send(11), Ok(()));
        assert_eq!(rx.try_recv(), Ok(10));
        assert_eq!(tx.try_send(12), Ok(()));
        assert_eq!(rx.try_recv(), Ok(11));
        assert_eq!(rx.try_recv(), Ok(12));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(!rx.is_disconnected());
        assert!(!tx.is_disconnected());
    }
}

#[test]
fn send_and_recv_without_waiting() {
    for strategy in STRATEGIES {
        let (mut tx, mut rx) = chan::<String>(2, strategy);
        assert_eq!(tx.send("a".into()), Ok(()));
        assert_eq!(tx.send("b".into()), Ok(()));
        assert_eq!(rx.recv().as_deref(), Ok("a"));
        assert_eq!(rx.recv().as_deref(), Ok("b"));
        assert_eq!(tx.send_timeout("c".into(), Duration::from_secs(10)), Ok(()));
        assert_eq!(tx.send_deadline("d".into(), Instant::now() + Duration::from_secs(10)), Ok(()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).as_deref(), Ok("c"));
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(10)).as_deref(), Ok("d"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn try_send_on_a_full_ring_hands_the_value_back() {
    let (mut tx, mut rx) = common::spsc_channel::<String>(2);
    tx.try_send("a".into()).unwrap();
    tx.try_send("b".into()).unwrap();
    let err = tx.try_send("c".to_string()).unwrap_err();
    assert!(err.is_full());
    assert!(!err.is_disconnected());
    assert!(matches!(&err, TrySendError::Full(s) if s == "c"));
    assert_eq!(err.into_inner(), "c");
    // The failed send enqueued nothing and the ring still works.
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.try_recv().unwrap(), "a");
    tx.try_send("d".into()).unwrap();
    assert_eq!(rx.try_recv().unwrap(), "b");
    assert_eq!(rx.try_recv().unwrap(), "d");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn sends_fail_with_the_value_once_the_consumer_is_gone_even_with_room() {
    for strategy in STRATEGIES {
        let (mut tx, rx) = chan::<String>(4, strategy);
        tx.send("queued".into()).unwrap();
        assert!(!tx.is_disconnected());
        drop(rx);
        assert!(tx.is_disconnected());
        assert!(tx.is_disconnected(), "stays disconnected");

        let err = tx.try_send("try".into()).unwrap_err();
        assert!(err.is_disconnected());
        assert!(!err.is_full());
        assert!(matches!(&err, TrySendError::Disconnected(s) if s == "try"));
        assert_eq!(err.into_inner(), "try");

        let err = tx.send("send".into()).unwrap_err();
        assert_eq!(err.0, "send");
        assert_eq!(err.into_inner(), "send");

        let err = tx.send_timeout("timeout".into(), Duration::from_secs(30)).unwrap_err();
        assert!(err.is_disconnected());
        assert!(!err.is_timeout());
        assert_eq!(err.into_inner(), "timeout");

        let err = tx.send_timeout("max".into(), Duration::MAX).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "max"));

        let err = tx.send_deadline("future".into(), Instant::now() + Duration::from_secs(30)).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "future"));

        let err = tx.send_deadline("past".into(), past()).unwrap_err();
        assert!(matches!(&err, SendTimeoutError::Disconnected(s) if s == "past"), "disconnection wins over timeout");
    }
}

#[test]
fn producer_drop_with_items_queued_lets_the_consumer_drain_them_first() {
    for strategy in STRATEGIES {
        // try_recv
        let (mut tx, mut rx) = chan::<u32>(4, strategy);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert!(!rx.is_disconnected());
        drop(tx);
        assert!(rx.is_disconnected(), "disconnected as soon as the producer is gone, items or not");
        assert_eq!(rx.len(), 4);
        for i in 0..4 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "stays disconnected");
        assert!(rx.is_empty());

        // recv
        let (mut tx, mut rx) = chan::<u32>(3, strategy);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        drop(tx);
        for i in 0..3 {
            assert_eq!(rx.recv(), Ok(i));
        }
        assert_eq!(rx.recv(), Err(RecvError));

        // recv_timeout (a long timeout must not be waited out)
        let (mut tx, mut rx) = chan::<u32>(3, strategy);
        for i in 0..2 {
            tx.send(i).unwrap();
        }
        drop(tx);
        for i in 0..2 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(i));
        }
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.recv_timeout(Duration::MAX), Err(RecvTimeoutError::Disconnected));

        // recv_deadline, including a past deadline: items first, then
        // Disconnected (not Timeout)
        let (mut tx, mut rx) = chan::<u32>(3, strategy);
        tx.send(5).unwrap();
        drop(tx);
        assert_eq!(rx.recv_deadline(past()), Ok(5));
        assert_eq!(rx.recv_deadline(past()), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(30)), Err(RecvTimeoutError::Disconnected));
    }
}

#[test]
fn disconnection_is_seen_from_both_sides() {
    let (tx, rx) = common::spsc_channel::<u8>(1);
    assert!(!tx.is_disconnected());
    assert!(!rx.is_disconnected());
    drop(tx);
    assert!(rx.is_disconnected());

    let (tx, rx) = common::spsc_channel::<u8>(1);
    drop(rx);
    assert!(tx.is_disconnected());
}

#[test]
fn peek_shows_the_oldest_item_without_removing_it() {
    let (mut tx, mut rx) = common::spsc_channel::<String>(2);
    assert!(rx.peek().is_none());
    tx.send("x".into()).unwrap();
    tx.send("y".into()).unwrap();
    assert_eq!(rx.peek().map(String::as_str), Some("x"));
    assert_eq!(rx.peek().map(String::as_str), Some("x"), "peeking twice sees the same item");
    assert_eq!(rx.len(), 2);
    assert!(tx.is_full(), "peek does not make room");
    assert!(tx.try_send("z".into()).unwrap_err().is_full());
    assert_eq!(rx.try_recv().unwrap(), "x");
    assert_eq!(rx.peek().map(String::as_str), Some("y"));
    drop(tx);
    assert_eq!(rx.peek().map(String::as_str), Some("y"), "queued items stay visible after disconnection");
    assert_eq!(rx.recv().unwrap(), "y");
    assert!(rx.peek().is_none());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn peek_follows_the_ring_around_many_laps() {
    let (mut tx, mut rx) = common::spsc_channel::<u64>(3);
    for i in 0..scaled(1_000, 50) as u64 {
        tx.try_send(i).unwrap();
        assert_eq!(rx.peek(), Some(&i));
        assert_eq!(rx.try_recv(), Ok(i));
        assert_eq!(rx.peek(), None);
    }
}

#[test]
fn try_iter_takes_what_is_there_and_stops() {
    let (mut tx, mut rx) = common::spsc_channel::<u32>(8);
    assert_eq!(rx.try_iter().next(), None);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().take(2).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(rx.try_iter().next(), None, "stops at Empty without waiting");
    tx.send(5).unwrap();
    tx.send(6).unwrap();
    drop(tx);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [5, 6], "drains after disconnection");
    assert_eq!(rx.try_iter().next(), None);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

fn iter_waits_for_each_item_and_ends_at_disconnection(strategy: WaitStrategy) {
    let n = scaled(1_000, 30) as u32;
    let (mut tx, mut rx) = chan::<u32>(3, strategy);
    let producer = thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let watchdog = Watchdog::new("Consumer::iter");
    let got: Vec<u32> = rx.iter().inspect(|_| watchdog.tick()).collect();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    producer.join().unwrap();
    assert_eq!(rx.iter().next(), None, "a finished iterator stays finished");
}

fn mut_ref_into_iter_is_the_blocking_iterator(strategy: WaitStrategy) {
    let n = scaled(500, 20) as u32;
    let (mut tx, mut rx) = chan::<u32>(2, strategy);
    let producer = thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let watchdog = Watchdog::new("for v in &mut rx");
    let mut expected = 0;
    for v in &mut rx {
        watchdog.tick();
        assert_eq!(v, expected);
        expected += 1;
    }
    assert_eq!(expected, n);
    producer.join().unwrap();
    assert!(rx.is_disconnected());
}

fn owning_into_iter_waits_and_ends_at_disconnection(strategy: WaitStrategy) {
    let n = scaled(500, 20) as u32;
    let (mut tx, rx) = chan::<u32>(2, strategy);
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let watchdog = Watchdog::new("Consumer::into_iter");
    let got: Vec<u32> = rx.into_iter().inspect(|_| watchdog.tick()).collect();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    producer.join().unwrap();
}

for_each_strategy!(
    iter_waits_for_each_item_and_ends_at_disconnection,
    mut_ref_into_iter_is_the_blocking_iterator,
    owning_into_iter_waits_and_ends_at_disconnection,
);

#[test]
fn into_iter_drops_what_it_did_not_yield() {
    let t = Tracker::new(4);
    let (mut tx, rx) = common::spsc_channel::<Tracked>(4);
    for id in 0..4 {
        tx.send(t.item(id)).unwrap();
    }
    drop(tx);
    let mut it = rx.into_iter();
    assert_eq!(it.next().map(|v| v.id()), Some(0));
    t.assert_dropped_once([0]);
    t.assert_not_dropped(1..4);
    drop(it);
    t.assert_dropped_once(0..4);
}

#[test]
fn wait_strategy_is_reported_by_both_handles() {
    let (tx, rx) = common::spsc_channel::<u8>(1);
    assert_eq!(tx.wait_strategy(), WaitStrategy::Park, "channel() uses the default");
    assert_eq!(rx.wait_strategy(), WaitStrategy::Park);
    let (tx, rx) = Builder::new(1).spsc_t::<u8>();
    assert_eq!(tx.wait_strategy(), WaitStrategy::Park);
    assert_eq!(rx.wait_strategy(), WaitStrategy::Park);
    for strategy in STRATEGIES {
        let (tx, rx) = chan::<u8>(1, strategy);
        assert_eq!(tx.wait_strategy(), strategy);
        assert_eq!(rx.wait_strategy(), strategy);
    }
}

#[test]
fn introspection_through_shared_references_from_other_threads() {
    // `Producer` / `Consumer` are `Sync` for these payloads, so `&tx` / `&rx`
    // can be read from another thread while the owner keeps them.
    let (mut tx, mut rx) = common::spsc_channel::<u32>(3);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    thread::scope(|s| {
        let (tx, rx) = (&tx, &rx);
        s.spawn(move || {
            assert_eq!(tx.len(), 2);
            assert_eq!(rx.len(), 2);
            assert_eq!(tx.capacity(), 3);
            assert!(!rx.is_full() && !rx.is_empty());
            assert!(!tx.is_disconnected() && !rx.is_disconnected());
        });
    });
    assert_eq!(rx.recv(), Ok(1));
}

// ---------------------------------------------------------------------------
// Error types: helpers, into_inner, Display, Debug, Error, From
// ---------------------------------------------------------------------------

#[test]
fn error_helpers_and_into_inner() {
    let e = TrySendError::Full(1);
    assert!(e.is_full() && !e.is_disconnected());
    assert_eq!(e.into_inner(), 1);
    let e = TrySendError::Disconnected(2);
    assert!(!e.is_full() && e.is_disconnected());
    assert_eq!(e.into_inner(), 2);

    let e = SendTimeoutError::Timeout(3);
    assert!(e.is_timeout() && !e.is_disconnected());
    assert_eq!(e.into_inner(), 3);
    let e = SendTimeoutError::Disconnected(4);
    assert!(!e.is_timeout() && e.is_disconnected());
    assert_eq!(e.into_inner(), 4);

    let e = SendError(5);
    assert_eq!(e.0, 5);
    assert_eq!(e.into_inner(), 5);

    assert!(TryRecvError::Empty.is_empty() && !TryRecvError::Empty.is_disconnected());
    assert!(!TryRecvError::Disconnected.is_empty() && TryRecvError::Disconnected.is_disconnected());
    assert!(RecvTimeoutError::Timeout.is_timeout() && !RecvTimeoutError::Timeout.is_disconnected());
    assert!(!RecvTimeoutError::Disconnected.is_timeout() && RecvTimeoutError::Disconnected.is_disconnected());

    // Values without any trait impl come back too.
    assert_eq!(TrySendError::Full(Opaque(6)).into_inner().0, 6);
    assert_eq!(SendTimeoutError::Timeout(Opaque(7)).into_inner().0, 7);
    assert_eq!(SendError(Opaque(8)).into_inner().0, 8);
}

#[test]
fn error_display_messages_are_lowercase_and_say_what_happened() {
    let cases: [(String, &str); 10] = [
        (TrySendError::Full(Opaque(0)).to_string(), "full"),
        (TrySendError::Disconnected(Opaque(0)).to_string(), "disconnected"),
        (SendTimeoutError::Timeout(Opaque(0)).to_string(), "timed out"),
        (SendTimeoutError::Disconnected(Opaque(0)).to_string(), "disconnected"),
        (SendError(Opaque(0)).to_string(), "disconnected"),
        (TryRecvError::Empty.to_string(), "empty"),
        (TryRecvError::Disconnected.to_string(), "disconnected"),
        (RecvTimeoutError::Timeout.to_string(), "timed out"),
        (RecvTimeoutError::Disconnected.to_string(), "disconnected"),
        (RecvError.to_string(), "disconnected"),
    ];
    for (msg, keyword) in &cases {
        let first = msg.chars().next().expect("non-empty message");
        assert!(first.is_lowercase(), "message {msg:?} should start lowercase");
        assert!(!msg.ends_with('.'), "message {msg:?} should not end with a period");
        assert!(msg.contains(keyword), "message {msg:?} should mention {keyword:?}");
    }
    assert_ne!(cases[0].0, cases[1].0);
    assert_ne!(cases[2].0, cases[3].0);
    assert_ne!(cases[5].0, cases[6].0);
    assert_ne!(cases[7].0, cases[8].0);
    assert!(!cases[5].0.contains("disconnected"), "Empty is not a disconnection");
    assert!(!cases[0].0.contains("disconnected"), "Full is not a disconnection");
}

#[test]
fn error_debug_works_without_t_debug_and_names_the_variant() {
    let full = format!("{:?}", TrySendError::Full(Opaque(1)));
    let disc = format!("{:?}", TrySendError::Disconnected(Opaque(1)));
    assert!(full.contains("Full"), "{full}");
    assert!(disc.contains("Disconnected"), "{disc}");
    let timeout = format!("{:?}", SendTimeoutError::Timeout(Opaque(1)));
    let disc2 = format!("{:?}", SendTimeoutError::Disconnected(Opaque(1)));
    assert!(timeout.contains("Timeout"), "{timeout}");
    assert!(disc2.contains("Disconnected"), "{disc2}");
    assert!(format!("{:?}", SendError(Opaque(1))).contains("SendError"));
    assert!(format!("{:?}", TryRecvError::Empty).contains("Empty"));
    assert!(format!("{:?}", TryRecvError::Disconnected).contains("Disconnected"));
    assert!(format!("{:?}", RecvTimeoutError::Timeout).contains("Timeout"));
    assert!(format!("{:?}", RecvTimeoutError::Disconnected).contains("Disconnected"));
    assert!(format!("{:?}", RecvError).contains("RecvError"));

    // The everyday consequence: `unwrap()` on a send result compiles and
    // works for a payload without `Debug`.
    let (mut tx, mut rx) = common::spsc_channel::<Opaque>(1);
    tx.try_send(Opaque(1)).unwrap();
    tx.send_timeout(Opaque(2), Duration::ZERO).unwrap_err();
    assert_eq!(rx.recv().unwrap().0, 1);
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let (mut tx, _rx) = common::spsc_channel::<Opaque>(1);
        tx.try_send(Opaque(1)).unwrap();
        tx.try_send(Opaque(2)).unwrap(); // Full: panics with the Debug text
    }))
    .unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("Full"), "unwrap message was {text:?}");
}

#[test]
fn handles_and_iterators_implement_debug_without_t_debug() {
    let (mut tx, mut rx) = common::spsc_channel::<Opaque>(3);
    tx.send(Opaque(1)).unwrap();
    let p = format!("{tx:?}");
    let c = format!("{rx:?}");
    assert!(p.contains("Producer") && p.contains('3'), "{p}");
    assert!(c.contains("Consumer") && c.contains('3'), "{c}");
    assert!(!format!("{:?}", rx.try_iter()).is_empty());
    assert!(!format!("{:?}", rx.iter()).is_empty());
    assert!(!format!("{:?}", rx.into_iter()).is_empty());
}

#[test]
fn errors_implement_std_error_and_convert() {
    fn boxed<E: std::error::Error + Send + Sync + 'static>(e: E) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(e)
    }
    // `T` needs neither `Debug` nor `Clone` for the `Error` impls.
    assert!(boxed(TrySendError::Full(Opaque(0))).to_string().contains("full"));
    assert!(boxed(SendTimeoutError::Timeout(Opaque(0))).to_string().contains("timed out"));
    assert!(boxed(SendError(Opaque(0))).to_string().contains("disconnected"));
    assert!(boxed(TryRecvError::Empty).to_string().contains("empty"));
    assert!(boxed(RecvTimeoutError::Timeout).to_string().contains("timed out"));
    assert!(boxed(RecvError).to_string().contains("disconnected"));

    // `?` into a boxed error works for every error type.
    fn pipeline(tx: &mut Producer<Opaque>, rx: &mut Consumer<Opaque>) -> Result<u32, Box<dyn std::error::Error>> {
        tx.try_send(Opaque(1))?;
        tx.send(Opaque(2))?;
        let a = rx.try_recv()?.0;
        let b = rx.recv()?.0;
        tx.send_timeout(Opaque(3), Duration::ZERO)?;
        let c = rx.recv_timeout(Duration::ZERO)?.0;
        Ok(a + b + c)
    }
    let (mut tx, mut rx) = common::spsc_channel(2);
    assert_eq!(pipeline(&mut tx, &mut rx).unwrap(), 6);

    assert_eq!(TrySendError::from(SendError(9)), TrySendError::Disconnected(9));
    assert_eq!(SendTimeoutError::from(SendError(9)), SendTimeoutError::Disconnected(9));
    assert_eq!(TryRecvError::from(RecvError), TryRecvError::Disconnected);
    assert_eq!(RecvTimeoutError::from(RecvError), RecvTimeoutError::Disconnected);
}

#[test]
fn handles_and_errors_are_send_and_sync_for_send_payloads() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<Producer<u8>>();
    assert_send::<Consumer<u8>>();
    assert_send::<Producer<String>>();
    assert_send::<Consumer<Box<dyn std::any::Any + Send>>>();
    // `Send` but not `Sync` payloads still give `Send` handles.
    assert_send::<Producer<Cell<u8>>>();
    assert_send::<Consumer<Cell<u8>>>();
    assert_sync::<Producer<u8>>();
    assert_sync::<Consumer<u8>>();
    assert_sync::<Consumer<String>>();
    assert_send::<TrySendError<String>>();
    assert_sync::<TrySendError<String>>();
    assert_send::<SendTimeoutError<String>>();
    assert_send::<SendError<String>>();
    assert_send::<TryRecvError>();
    assert_sync::<RecvTimeoutError>();
    assert_sync::<RecvError>();
    assert_send::<WaitStrategy>();
    assert_send::<Builder>();

    // And they really move between threads.
    let (mut tx, mut rx) = common::spsc_channel::<Cell<u8>>(1);
    let t = thread::spawn(move || tx.send(Cell::new(3)).is_ok());
    assert!(t.join().unwrap());
    let t = thread::spawn(move || rx.recv().map(Cell::into_inner));
    assert_eq!(t.join().unwrap(), Ok(3));
}

// ---------------------------------------------------------------------------
// Exact capacities: fill to capacity, Full on the next, FIFO
// ---------------------------------------------------------------------------

fn fill_to_capacity_then_full_then_fifo(capacity: usize) {
    let laps = if cfg!(miri) { 2 } else { 3 };
    let _watchdog = Watchdog::new("send_deadline / send_timeout on a full ring");
    let strategies: &[WaitStrategy] = if cfg!(miri) && capacity > 100 { &[WaitStrategy::Park] } else { &STRATEGIES };
    for &strategy in strategies {
        let (mut tx, mut rx) = chan::<usize>(capacity, strategy);
        assert_eq!(tx.capacity(), capacity, "exactly what was asked for");
        assert_eq!(rx.capacity(), capacity);
        for lap in 0..laps {
            let base = lap * capacity * 10;
            assert!(tx.is_empty() && rx.is_empty());
            for i in 0..capacity {
                assert_eq!(tx.len(), i);
                assert_eq!(rx.len(), i);
                assert!(!tx.is_full() && !rx.is_full());
                tx.try_send(base + i).unwrap();
                assert!(!tx.is_empty() && !rx.is_empty());
            }
            assert_eq!(tx.len(), capacity);
            assert_eq!(rx.len(), capacity);
            assert!(tx.is_full() && rx.is_full());
            assert!(matches!(tx.try_send(usize::MAX), Err(TrySendError::Full(usize::MAX))));
            assert!(matches!(tx.send_deadline(7, past()), Err(SendTimeoutError::Timeout(7))));
            assert!(matches!(tx.send_timeout(8, Duration::ZERO), Err(SendTimeoutError::Timeout(8))));
            assert_eq!(tx.len(), capacity, "failed sends enqueue nothing");
            for i in 0..capacity {
                assert_eq!(rx.peek(), Some(&(base + i)));
                assert_eq!(rx.try_recv(), Ok(base + i), "FIFO at {i} of lap {lap}");
                assert_eq!(rx.len(), capacity - i - 1);
                assert_eq!(tx.len(), capacity - i - 1);
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            // Shift the start slot by one so the next lap fills the ring
            // from a different index (and wraps the index mid-fill).
            tx.try_send(0xdead).unwrap();
            assert_eq!(rx.try_recv(), Ok(0xdead));
        }
    }
}

#[test]
fn capacity_1() {
    fill_to_capacity_then_full_then_fifo(1);
}

#[test]
fn capacity_2() {
    fill_to_capacity_then_full_then_fifo(2);
}

#[test]
fn capacity_3() {
    fill_to_capacity_then_full_then_fifo(3);
}

#[test]
fn capacity_1000() {
    fill_to_capacity_then_full_then_fifo(1000);
}

#[test]
fn capacity_1025_just_above_a_power_of_two() {
    fill_to_capacity_then_full_then_fifo(1025);
}

#[test]
fn capacity_is_exact_for_odd_and_power_of_two_sizes() {
    for cap in [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 100, 127, 128, 129] {
        let (mut tx, rx) = common::spsc_channel::<u8>(cap);
        assert_eq!(tx.capacity(), cap);
        assert_eq!(rx.capacity(), cap);
        let mut sent = 0;
        while tx.try_send(0).is_ok() {
            sent += 1;
            assert!(sent <= cap, "accepted more than {cap} items");
        }
        assert_eq!(sent, cap, "no wasted slot, no rounding");
        assert!(rx.is_full());
    }
}

// ---------------------------------------------------------------------------
// Wrap-around and usize overflow of the positions
// ---------------------------------------------------------------------------

/// Sends and receives batches of varying size so the fill level and the
/// slot index take every value, for at least `laps` laps of the ring.
fn wrap_around(capacity: usize, laps: usize, seed: u64) {
    let (mut tx, mut rx) = common::spsc_channel::<u64>(capacity);
    let mut rng = Rng::new(seed);
    let (mut sent, mut received) = (0u64, 0u64);
    let target = (laps * capacity) as u64;
    while received < target {
        let queued = (sent - received) as usize;
        let n = rng.below(capacity - queued + 1);
        for _ in 0..n {
            tx.try_send(sent).unwrap();
            sent += 1;
        }
        if sent - received == capacity as u64 {
            assert!(tx.try_send(u64::MAX).unwrap_err().is_full());
        }
        assert_eq!(rx.len(), (sent - received) as usize);
        let m = 1 + rng.below((sent - received) as usize + 1);
        for _ in 0..m {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(v, received);
                    received += 1;
                }
                Err(e) => {
                    assert_eq!(e, TryRecvError::Empty);
                    assert_eq!(sent, received);
                }
            }
        }
        assert_eq!(tx.len(), (sent - received) as usize);
    }
}

#[test]
fn wrap_around_100k_laps_capacity_3() {
    wrap_around(3, scaled(100_000, 300), 1);
}

#[test]
fn wrap_around_100k_laps_capacity_1() {
    wrap_around(1, scaled(100_000, 300), 2);
}

#[test]
fn wrap_around_100k_laps_capacity_2() {
    wrap_around(2, scaled(100_000, 300), 3);
}

#[test]
fn wrap_around_many_laps_capacity_7() {
    wrap_around(7, scaled(20_000, 60), 4);
}

/// Random single-step operations against a `VecDeque` model, starting the
/// positions at `start`; every observer is checked after every step.
fn model_from_position(capacity: usize, start: usize, ops: usize, seed: u64) {
    let (mut tx, mut rx) = Builder::new(capacity).__start_position(start).spsc_t::<u64>();
    let mut model = VecDeque::new();
    let mut rng = Rng::new(seed);
    let mut next = 0u64;
    for step in 0..ops {
        let ctx = || format!("capacity {capacity}, start usize::MAX - {}, step {step}", usize::MAX - start);
        assert_eq!(tx.len(), model.len(), "{}", ctx());
        assert_eq!(rx.len(), model.len(), "{}", ctx());
        assert_eq!(tx.is_full(), model.len() == capacity, "{}", ctx());
        assert_eq!(rx.is_full(), model.len() == capacity, "{}", ctx());
        assert_eq!(tx.is_empty(), model.is_empty(), "{}", ctx());
        assert_eq!(rx.is_empty(), model.is_empty(), "{}", ctx());
        assert_eq!(rx.peek().copied(), model.front().copied(), "{}", ctx());
        // Bias towards sending so the ring is often full.
        if rng.below(5) < 3 {
            match tx.try_send(next) {
                Ok(()) => {
                    assert!(model.len() < capacity, "accepted beyond capacity: {}", ctx());
                    model.push_back(next);
                }
                Err(TrySendError::Full(v)) => {
                    assert_eq!(v, next);
                    assert_eq!(model.len(), capacity, "Full below capacity: {}", ctx());
                }
                Err(TrySendError::Disconnected(_)) => panic!("disconnected: {}", ctx()),
            }
            next += 1;
        } else {
            match rx.try_recv() {
                Ok(v) => assert_eq!(Some(v), model.pop_front(), "{}", ctx()),
                Err(e) => {
                    assert_eq!(e, TryRecvError::Empty, "{}", ctx());
                    assert!(model.is_empty(), "Empty with items queued: {}", ctx());
                }
            }
        }
    }
}

#[test]
fn positions_cross_usize_max_random_ops() {
    let ops = scaled(2_000, 60);
    for capacity in [1, 2, 3, 7] {
        for k in [0, 1, 2, 3, 6, 7, 8, 50] {
            model_from_position(capacity, usize::MAX - k, ops, (capacity * 100 + k) as u64);
        }
    }
}

#[test]
fn positions_cross_usize_max_while_filling_and_draining() {
    // Start so that the fill crosses the overflow in its middle, at every
    // offset, and check every observer at every step.
    let capacities: &[usize] = if cfg!(miri) { &[1, 2, 3, 5, 17] } else { &[1, 2, 3, 5, 1025] };
    for &capacity in capacities {
        for k in 0..capacity.min(6) {
            let start = usize::MAX - k;
            let (mut tx, mut rx) = Builder::new(capacity).__start_position(start).spsc_t::<usize>();
            for lap in 0..2 {
                for i in 0..capacity {
                    assert_eq!(tx.len(), i, "start MAX-{k}, lap {lap}");
                    assert_eq!(rx.len(), i);
                    assert!(!tx.is_full());
                    tx.try_send(lap * capacity + i).unwrap();
                }
                assert_eq!(tx.len(), capacity);
                assert_eq!(rx.len(), capacity);
                assert!(tx.is_full() && rx.is_full());
                assert!(tx.try_send(0).unwrap_err().is_full());
                for i in 0..capacity {
                    assert_eq!(rx.try_recv(), Ok(lap * capacity + i), "start MAX-{k}, lap {lap}");
                    assert_eq!(tx.len(), capacity - 1 - i);
                    assert_eq!(rx.len(), capacity - 1 - i);
                }
                assert!(tx.is_empty() && rx.is_empty());
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            }
        }
    }
}

#[test]
fn positions_at_usize_max_exact_steps() {
    // Capacity 3 starting at MAX - 1: tail goes MAX-1 -> MAX -> 0 -> 1.
    let (mut tx, mut rx) = Builder::new(3).__start_position(usize::MAX - 1).spsc_t::<&str>();
    assert!(tx.is_empty() && rx.is_empty());
    tx.try_send("a").unwrap(); // tail = MAX
    assert_eq!((tx.len(), rx.len()), (1, 1));
    tx.try_send("b").unwrap(); // tail = 0 (overflowed)
    assert_eq!((tx.len(), rx.len()), (2, 2));
    assert!(!tx.is_full());
    tx.try_send("c").unwrap(); // tail = 1
    assert_eq!((tx.len(), rx.len()), (3, 3));
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(tx.try_send("d"), Err(TrySendError::Full("d")));
    assert_eq!(rx.try_recv(), Ok("a")); // head = MAX
    assert_eq!((tx.len(), rx.len()), (2, 2));
    tx.try_send("d").unwrap();
    assert_eq!(tx.try_send("e"), Err(TrySendError::Full("e")));
    assert_eq!(rx.try_recv(), Ok("b")); // head = 0
    assert_eq!(rx.try_recv(), Ok("c"));
    assert_eq!(rx.try_recv(), Ok("d"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(tx.is_empty() && rx.is_empty());
}

fn transfer_across_usize_max(strategy: WaitStrategy) {
    // The positions cross usize::MAX after 38 items; the rest is margin.
    let n = scaled(2_000, 100) as u64;
    let (mut tx, mut rx) = Builder::new(4).wait_strategy(strategy).__start_position(usize::MAX - 37).spsc_t::<u64>();
    let producer = thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
            assert!(tx.len() <= 4);
        }
    });
    let watchdog = Watchdog::new("transfer across usize::MAX");
    for i in 0..n {
        watchdog.tick();
        assert!(rx.len() <= 4);
        assert_eq!(rx.recv(), Ok(i));
    }
    assert_eq!(rx.recv(), Err(RecvError));
    producer.join().unwrap();
}

for_each_strategy!(transfer_across_usize_max);

// ---------------------------------------------------------------------------
// Zero-sized items
// ---------------------------------------------------------------------------

#[test]
fn zst_unit_items() {
    let (mut tx, mut rx) = common::spsc_channel::<()>(3);
    for lap in 0..scaled(1_000, 30) {
        for i in 0..3 {
            assert_eq!(tx.len(), i, "lap {lap}");
            tx.try_send(()).unwrap();
        }
        assert!(tx.is_full() && rx.is_full());
        assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
        assert_eq!(rx.peek(), Some(&()));
        for _ in 0..3 {
            assert_eq!(rx.try_recv(), Ok(()));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.peek(), None);
    }
    tx.send(()).unwrap();
    drop(tx);
    assert_eq!(rx.recv(), Ok(()));
    assert_eq!(rx.recv(), Err(RecvError));
}

#[test]
fn zst_huge_capacity_does_not_allocate_or_loop() {
    let cap = 1usize << 40;
    // The default layout's (a stamped ring allocates a stamp a slot).
    let (mut tx, mut rx) = ringflow::spsc::channel::<()>(cap);
    assert_eq!(tx.capacity(), cap);
    assert_eq!(rx.capacity(), cap);
    let n = scaled(10_000, 200);
    for _ in 0..n {
        tx.try_send(()).unwrap();
    }
    assert_eq!(tx.len(), n);
    assert_eq!(rx.len(), n);
    assert!(!tx.is_full() && !rx.is_full());
    for i in 0..n / 2 {
        assert_eq!(rx.try_recv(), Ok(()), "item {i}");
    }
    assert_eq!(rx.len(), n - n / 2);
    drop(rx);
    drop(tx); // must not walk 2^40 slots
}

#[test]
fn zst_capacity_usize_max() {
    // The default layout's (a stamped ring allocates a stamp a slot).
    let (mut tx, mut rx) = Builder::new(usize::MAX).__start_position(usize::MAX - 2).spsc::<()>();
    assert_eq!(tx.capacity(), usize::MAX);
    for i in 0..10 {
        assert_eq!(tx.len(), i);
        tx.try_send(()).unwrap();
    }
    assert!(!tx.is_full());
    assert_eq!(rx.len(), 10);
    for _ in 0..10 {
        assert_eq!(rx.try_recv(), Ok(()));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.is_empty());
}

#[test]
fn zst_with_drop_counter_huge_capacity_drops_exactly_the_queued_items() {
    type Z = Zst<0>;
    // The default layout's (a stamped ring allocates a stamp a slot).
    let (mut tx, mut rx) = Builder::new(1 << 40).spsc::<Z>();
    for _ in 0..100 {
        tx.try_send(Zst).unwrap();
    }
    assert_eq!(Z::drops(), 0, "sending drops nothing");
    for _ in 0..30 {
        drop(rx.try_recv().unwrap());
    }
    assert_eq!(Z::drops(), 30);
    drop(tx);
    assert_eq!(Z::drops(), 30, "the consumer can still drain");
    assert!(rx.peek().is_some());
    assert_eq!(Z::drops(), 30, "peek drops nothing");
    drop(rx);
    assert_eq!(Z::drops(), 100, "the 70 queued items dropped exactly once");
}

#[test]
fn zst_with_drop_counter_consumer_dropped_first() {
    type Z = Zst<1>;
    let (mut tx, mut rx) = common::spsc_channel::<Z>(3);
    // Move the slot index, then leave 3 items straddling the buffer's end.
    tx.try_send(Zst).unwrap();
    tx.try_send(Zst).unwrap();
    drop(rx.try_recv().unwrap());
    drop(rx.try_recv().unwrap());
    assert_eq!(Z::drops(), 2);
    for _ in 0..3 {
        tx.try_send(Zst).unwrap();
    }
    let full = tx.try_send(Zst).unwrap_err();
    assert!(full.is_full());
    assert_eq!(Z::drops(), 2);
    drop(full);
    assert_eq!(Z::drops(), 3, "the handed-back value is dropped once, by its owner");
    drop(rx);
    assert_eq!(Z::drops(), 3, "the producer still holds the ring");
    let disc = tx.try_send(Zst).unwrap_err();
    assert!(disc.is_disconnected());
    drop(disc.into_inner());
    assert_eq!(Z::drops(), 4);
    drop(tx);
    assert_eq!(Z::drops(), 7);
}

// ---------------------------------------------------------------------------
// Drop accounting
// ---------------------------------------------------------------------------

/// Leaves items queued across the buffer's end (and, with `start`, across
/// `usize::MAX`), then drops both handles in the given order.
fn queued_items_dropped_exactly_once(consumer_first: bool, start: usize) {
    let t = Tracker::new(16);
    let (mut tx, mut rx) = Builder::new(5).__start_position(start).spsc_t::<Tracked>();
    for id in 0..3 {
        tx.try_send(t.item(id)).unwrap();
    }
    for id in 0..3 {
        let v = rx.try_recv().unwrap();
        assert_eq!(v.id(), id);
    }
    t.assert_dropped_once(0..3);
    for id in 3..8 {
        tx.try_send(t.item(id)).unwrap(); // slots 3, 4, 0, 1, 2
    }
    let full = tx.try_send(t.item(8)).unwrap_err();
    assert!(full.is_full());
    assert_eq!(t.drops(8), 0, "the handed-back value is alive");
    drop(full);
    assert_eq!(t.drops(8), 1);
    let v = rx.try_recv().unwrap();
    assert_eq!(v.id(), 3);
    drop(v);
    // Queued now: ids 4..8 in slots 4, 0, 1, 2 (slot 3 is empty), so the
    // ring must start dropping from the consumer's slot index, not slot 0.
    assert_eq!(rx.peek().map(Tracked::id), Some(4));
    t.assert_not_dropped(4..8);
    if consumer_first {
        drop(rx);
        t.assert_not_dropped(4..8);
        let disc = tx.try_send(t.item(9)).unwrap_err();
        assert!(disc.is_disconnected());
        drop(disc);
        assert_eq!(t.drops(9), 1);
        drop(tx);
        t.assert_dropped_once(0..10);
        assert_eq!(t.total(), 10);
    } else {
        drop(tx);
        t.assert_not_dropped(4..8);
        drop(rx);
        t.assert_dropped_once(0..9);
        assert_eq!(t.total(), 9);
    }
}

#[test]
fn queued_items_dropped_once_producer_dropped_first() {
    queued_items_dropped_exactly_once(false, 0);
}

#[test]
fn queued_items_dropped_once_consumer_dropped_first() {
    queued_items_dropped_exactly_once(true, 0);
}

#[test]
fn queued_items_dropped_once_across_usize_max() {
    for k in 0..6 {
        queued_items_dropped_exactly_once(false, usize::MAX - k);
        queued_items_dropped_exactly_once(true, usize::MAX - k);
    }
}

#[test]
fn full_ring_dropped_drops_every_item_once() {
    for cap in [1, 2, 3, 8] {
        for shift in 0..cap {
            let t = Tracker::new(cap + shift);
            let (mut tx, mut rx) = common::spsc_channel::<Tracked>(cap);
            for id in 0..shift {
                tx.send(t.item(id)).unwrap();
                drop(rx.recv().unwrap());
            }
            for id in shift..shift + cap {
                tx.send(t.item(id)).unwrap();
            }
            assert!(tx.is_full());
            drop(rx);
            drop(tx);
            t.assert_dropped_once(0..cap + shift);
        }
    }
}

#[test]
fn empty_ring_dropped_drops_nothing() {
    let t = Tracker::new(4);
    let (mut tx, mut rx) = common::spsc_channel::<Tracked>(4);
    for id in 0..4 {
        tx.send(t.item(id)).unwrap();
        let v = rx.recv().unwrap();
        assert_eq!(t.drops(id), 0, "received values belong to the caller");
        drop(v);
    }
    drop(tx);
    drop(rx);
    t.assert_dropped_once(0..4);
    assert_eq!(t.total(), 4);
}

#[test]
fn values_handed_back_in_errors_are_dropped_exactly_once() {
    let _watchdog = Watchdog::new("timeouts handing values back");
    for strategy in STRATEGIES {
        let t = Tracker::new(16);
        let (mut tx, rx) = chan::<Tracked>(1, strategy);
        tx.try_send(t.item(0)).unwrap();

        // Full: take the value back, then drop it.
        let v = tx.try_send(t.item(1)).unwrap_err().into_inner();
        assert_eq!(v.id(), 1);
        assert_eq!(t.drops(1), 0);
        drop(v);
        // Full: drop the error itself.
        drop(tx.try_send(t.item(2)).unwrap_err());
        // Timeout, from send_timeout and send_deadline.
        let e = tx.send_timeout(t.item(3), Duration::from_millis(1)).unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(t.drops(3), 0);
        assert_eq!(e.into_inner().id(), 3);
        let e = tx.send_deadline(t.item(4), past()).unwrap_err();
        assert!(e.is_timeout());
        drop(e);
        t.assert_dropped_once(1..5);
        t.assert_not_dropped([0]);

        drop(rx);
        t.assert_not_dropped([0]);
        // Disconnected, from every send flavour.
        let e = tx.try_send(t.item(5)).unwrap_err();
        assert!(e.is_disconnected());
        drop(e);
        let SendError(v) = tx.send(t.item(6)).unwrap_err();
        assert_eq!(v.id(), 6);
        assert_eq!(t.drops(6), 0);
        drop(v);
        let e = tx.send_timeout(t.item(7), Duration::from_secs(30)).unwrap_err();
        assert!(e.is_disconnected());
        drop(e);
        let e = tx.send_deadline(t.item(8), Instant::now() + Duration::from_secs(30)).unwrap_err();
        assert_eq!(e.into_inner().id(), 8);
        t.assert_dropped_once(1..9);
        t.assert_not_dropped([0]);

        drop(tx);
        t.assert_dropped_once(0..9);
        assert_eq!(t.total(), 9);
    }
}

/// Queues 5 items (straddling the buffer's end) of which the one at
/// `panic_at` panics in `Drop`, drops one handle, then the other inside
/// `catch_unwind`: the panic propagates and every item is dropped once.
fn panicking_drop(consumer_last: bool, panic_at: usize) {
    let t = Tracker::new(8);
    let (mut tx, mut rx) = common::spsc_channel::<Tracked>(5);
    for id in 0..2 {
        tx.send(t.item(id)).unwrap();
        drop(rx.recv().unwrap());
    }
    for id in 2..7 {
        let item = if id - 2 == panic_at { t.panicking_item(id) } else { t.item(id) };
        tx.send(item).unwrap();
    }
    assert!(tx.is_full());
    t.assert_not_dropped(2..7);
    let result = if consumer_last {
        drop(tx);
        catch_unwind(AssertUnwindSafe(move || drop(rx)))
    } else {
        drop(rx);
        catch_unwind(AssertUnwindSafe(move || drop(tx)))
    };
    assert!(result.is_err(), "the panic of an item's Drop propagates to the caller");
    t.assert_dropped_once(0..7);
    assert_eq!(t.total(), 7);
}

#[test]
fn panicking_drop_of_a_queued_item_consumer_dropped_last() {
    for panic_at in [0, 2, 4] {
        panicking_drop(true, panic_at);
    }
}

#[test]
fn panicking_drop_of_a_queued_item_producer_dropped_last() {
    for panic_at in [0, 2, 4] {
        panicking_drop(false, panic_at);
    }
}

// ---------------------------------------------------------------------------
// Capacity panics
// ---------------------------------------------------------------------------

#[test]
#[should_panic(expected = "capacity")]
fn capacity_0_panics_in_channel() {
    let _ = common::spsc_channel::<u8>(0);
}

#[test]
#[should_panic(expected = "capacity")]
fn capacity_0_panics_in_builder() {
    let _ = Builder::new(0);
}

#[test]
#[should_panic(expected = "capacity")]
fn capacity_0_panics_for_zst() {
    let _ = Builder::new(0).wait_strategy(WaitStrategy::BusySpin).spsc_t::<()>();
}

#[test]
#[should_panic(expected = "capacity")]
fn capacity_whose_buffer_overflows_panics() {
    let _ = Builder::new(usize::MAX / 2).spsc_t::<u64>();
}

#[test]
#[should_panic(expected = "capacity")]
fn capacity_whose_buffer_overflows_panics_in_channel() {
    let _ = common::spsc_channel::<[u8; 4096]>(usize::MAX / 4096 + 1);
}

#[test]
#[should_panic(expected = "capacity")]
fn capacity_just_over_the_allocation_limit_panics() {
    // One element more than fits in `isize::MAX` bytes.
    let _ = Builder::new(isize::MAX as usize / 8 + 1).spsc_t::<u64>();
}

// ---------------------------------------------------------------------------
// Blocking calls woken by the other side (every wait strategy)
// ---------------------------------------------------------------------------

fn blocked_send_woken_by_recv(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    tx.send(1).unwrap();
    let consumer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        let first = rx.recv().unwrap();
        let second = rx.recv().unwrap();
        (first, second, rx)
    });
    let watchdog = Watchdog::new("send on a full ring, consumer receives");
    assert_eq!(tx.send(2), Ok(()), "send waits for room, then succeeds");
    drop(watchdog);
    let (first, second, rx) = consumer.join().unwrap();
    assert_eq!((first, second), (1, 2));
    assert!(rx.is_empty());
    assert!(!tx.is_disconnected());
}

fn blocked_send_timeout_woken_by_recv(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    tx.send(1).unwrap();
    let consumer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        let first = rx.recv().unwrap();
        let second = rx.recv().unwrap();
        (first, second)
    });
    let _watchdog = Watchdog::new("send_timeout on a full ring, consumer receives");
    assert_eq!(tx.send_timeout(2, Duration::from_secs(30)), Ok(()));
    assert_eq!(consumer.join().unwrap(), (1, 2));
}

fn blocked_send_woken_by_consumer_drop(strategy: WaitStrategy) {
    let t = Tracker::new(2);
    let (mut tx, rx) = chan::<Tracked>(1, strategy);
    tx.send(t.item(0)).unwrap();
    let dropper = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        drop(rx);
    });
    let watchdog = Watchdog::new("send on a full ring, consumer drops");
    let SendError(v) = tx.send(t.item(1)).unwrap_err();
    drop(watchdog);
    assert_eq!(v.id(), 1, "the value is handed back");
    assert!(tx.is_disconnected());
    dropper.join().unwrap();
    t.assert_not_dropped([0, 1]);
    drop(v);
    drop(tx);
    t.assert_dropped_once([0, 1]);
}

fn blocked_send_timeout_woken_by_consumer_drop(strategy: WaitStrategy) {
    let (mut tx, rx) = chan::<String>(1, strategy);
    tx.send("queued".into()).unwrap();
    let dropper = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        drop(rx);
    });
    let _watchdog = Watchdog::new("send_timeout on a full ring, consumer drops");
    let err = tx.send_timeout("blocked".into(), Duration::from_secs(30)).unwrap_err();
    assert!(err.is_disconnected(), "woken by the drop, not by the timeout");
    assert_eq!(err.into_inner(), "blocked");
    dropper.join().unwrap();
}

fn blocked_recv_woken_by_send(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        tx.send(7).unwrap();
        tx // keep the producer alive: the wake-up must come from the send
    });
    let watchdog = Watchdog::new("recv on an empty ring, producer sends");
    assert_eq!(rx.recv(), Ok(7));
    drop(watchdog);
    let tx = producer.join().unwrap();
    assert!(!rx.is_disconnected());
    drop(tx);
    assert_eq!(rx.recv(), Err(RecvError));
}

fn blocked_recv_timeout_woken_by_send(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        tx.send(8).unwrap();
        tx
    });
    let _watchdog = Watchdog::new("recv_timeout on an empty ring, producer sends");
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(8));
    let _tx = producer.join().unwrap();
}

fn blocked_recv_woken_by_producer_drop(strategy: WaitStrategy) {
    let (tx, mut rx) = chan::<u32>(1, strategy);
    let dropper = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        drop(tx);
    });
    let watchdog = Watchdog::new("recv on an empty ring, producer drops");
    assert_eq!(rx.recv(), Err(RecvError));
    drop(watchdog);
    dropper.join().unwrap();
    assert!(rx.is_disconnected());
}

fn blocked_recv_woken_by_send_then_producer_drop(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(2, strategy);
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        // dropped here, right after the sends
    });
    let _watchdog = Watchdog::new("recv, producer sends then drops");
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    producer.join().unwrap();
}

fn blocked_recv_timeout_woken_by_producer_drop(strategy: WaitStrategy) {
    let (tx, mut rx) = chan::<u32>(1, strategy);
    let dropper = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        drop(tx);
    });
    let _watchdog = Watchdog::new("recv_timeout on an empty ring, producer drops");
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Err(RecvTimeoutError::Disconnected));
    dropper.join().unwrap();
}

fn blocked_recv_deadline_woken_by_send(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        tx.send(9).unwrap();
        tx
    });
    let _watchdog = Watchdog::new("recv_deadline on an empty ring, producer sends");
    assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(30)), Ok(9));
    let _tx = producer.join().unwrap();
}

fn blocked_send_deadline_woken_by_recv(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    tx.send(1).unwrap();
    let consumer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        (rx.recv().unwrap(), rx.recv().unwrap())
    });
    let _watchdog = Watchdog::new("send_deadline on a full ring, consumer receives");
    assert_eq!(tx.send_deadline(2, Instant::now() + Duration::from_secs(30)), Ok(()));
    assert_eq!(consumer.join().unwrap(), (1, 2));
}

for_each_strategy!(
    blocked_send_woken_by_recv,
    blocked_send_timeout_woken_by_recv,
    blocked_send_deadline_woken_by_recv,
    blocked_send_woken_by_consumer_drop,
    blocked_send_timeout_woken_by_consumer_drop,
    blocked_recv_woken_by_send,
    blocked_recv_timeout_woken_by_send,
    blocked_recv_deadline_woken_by_send,
    blocked_recv_woken_by_producer_drop,
    blocked_recv_woken_by_send_then_producer_drop,
    blocked_recv_timeout_woken_by_producer_drop,
);

// ---------------------------------------------------------------------------
// Timeouts and deadlines
// ---------------------------------------------------------------------------

fn send_timeout_waits_at_least_the_timeout_and_hands_the_value_back(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<String>(1, strategy);
    tx.send("a".into()).unwrap();
    let timeout = Duration::from_millis(30);
    let _watchdog = Watchdog::new("send_timeout / send_deadline on a full ring");

    let start = Instant::now();
    let err = tx.send_timeout("b".into(), timeout).unwrap_err();
    assert!(start.elapsed() >= timeout, "returned after {:?}, asked for {timeout:?}", start.elapsed());
    assert!(err.is_timeout());
    assert_eq!(err.into_inner(), "b");

    let deadline = Instant::now() + timeout;
    let err = tx.send_deadline("c".into(), deadline).unwrap_err();
    assert!(Instant::now() >= deadline, "returned before the deadline");
    assert!(matches!(&err, SendTimeoutError::Timeout(s) if s == "c"));

    // Nothing was enqueued by the failed sends.
    assert_eq!(rx.try_recv().as_deref(), Ok("a"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

fn recv_timeout_waits_at_least_the_timeout(strategy: WaitStrategy) {
    let (tx, mut rx) = chan::<u32>(1, strategy);
    let timeout = Duration::from_millis(30);
    let _watchdog = Watchdog::new("recv_timeout / recv_deadline on an empty ring");

    let start = Instant::now();
    assert_eq!(rx.recv_timeout(timeout), Err(RecvTimeoutError::Timeout));
    assert!(start.elapsed() >= timeout, "returned after {:?}, asked for {timeout:?}", start.elapsed());

    let deadline = Instant::now() + timeout;
    assert_eq!(rx.recv_deadline(deadline), Err(RecvTimeoutError::Timeout));
    assert!(Instant::now() >= deadline, "returned before the deadline");
    assert!(!rx.is_disconnected());
    drop(tx);
}

fn past_deadline_means_exactly_one_try(strategy: WaitStrategy) {
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    let _watchdog = Watchdog::new("past deadlines");
    assert_eq!(tx.send_deadline(1, past()), Ok(()), "room: the single try succeeds");
    assert_eq!(tx.send_deadline(2, past()), Err(SendTimeoutError::Timeout(2)), "full: Timeout");
    assert_eq!(rx.recv_deadline(past()), Ok(1), "an item: the single try succeeds");
    assert_eq!(rx.recv_deadline(past()), Err(RecvTimeoutError::Timeout), "empty: Timeout");

    // A deadline of exactly "now" and a zero timeout behave the same.
    assert_eq!(tx.send_deadline(3, Instant::now()), Ok(()));
    assert_eq!(tx.send_deadline(4, Instant::now()), Err(SendTimeoutError::Timeout(4)));
    assert_eq!(rx.recv_deadline(Instant::now()), Ok(3));
    assert_eq!(rx.recv_deadline(Instant::now()), Err(RecvTimeoutError::Timeout));
    assert_eq!(tx.send_timeout(5, Duration::ZERO), Ok(()));
    assert_eq!(tx.send_timeout(6, Duration::ZERO), Err(SendTimeoutError::Timeout(6)));
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(5));
    assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
}

fn duration_max_timeout_means_no_deadline(strategy: WaitStrategy) {
    // Succeeds at once when it can.
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    assert_eq!(tx.send_timeout(0, Duration::MAX), Ok(()));
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(0));

    // send_timeout(MAX) on a full ring waits until the consumer acts later.
    tx.send(1).unwrap();
    let consumer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        let first = rx.recv().unwrap();
        let second = rx.recv().unwrap();
        (first, second, rx)
    });
    let watchdog = Watchdog::new("send_timeout(Duration::MAX)");
    assert_eq!(tx.send_timeout(2, Duration::MAX), Ok(()));
    drop(watchdog);
    let (first, second, mut rx) = consumer.join().unwrap();
    assert_eq!((first, second), (1, 2));

    // recv_timeout(MAX) on an empty ring waits until the producer acts later.
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        tx.send(3).unwrap();
        tx
    });
    let watchdog = Watchdog::new("recv_timeout(Duration::MAX)");
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(3));
    drop(watchdog);
    let _tx = producer.join().unwrap();
}

fn far_future_deadline_waits_for_the_other_side(strategy: WaitStrategy) {
    let far = Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600);
    let (mut tx, mut rx) = chan::<u32>(1, strategy);
    let producer = thread::spawn(move || {
        thread::sleep(ACT_AFTER);
        tx.send(1).unwrap();
        tx
    });
    let _watchdog = Watchdog::new("recv_deadline(far future)");
    assert_eq!(rx.recv_deadline(far), Ok(1));
    let _tx = producer.join().unwrap();
}

for_each_strategy!(
    send_timeout_waits_at_least_the_timeout_and_hands_the_value_back,
    recv_timeout_waits_at_least_the_timeout,
    past_deadline_means_exactly_one_try,
    duration_max_timeout_means_no_deadline,
    far_future_deadline_waits_for_the_other_side,
);

// ---------------------------------------------------------------------------
// Ordered two-thread transfers
// ---------------------------------------------------------------------------

fn ordered_transfer(strategy: WaitStrategy, capacity: usize, n: u64) {
    let (mut tx, mut rx) = chan::<u64>(capacity, strategy);
    let producer = thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let watchdog = Watchdog::new("ordered transfer");
    let mut expected = 0u64;
    while let Ok(v) = rx.recv() {
        watchdog.tick();
        assert_eq!(v, expected, "strict FIFO, every value once");
        expected += 1;
    }
    assert_eq!(expected, n, "every value arrived");
    producer.join().unwrap();
}

fn ordered_transfer_1m(strategy: WaitStrategy) {
    ordered_transfer(strategy, scaled(64, 4), scaled(1_000_000, 300) as u64);
}

fn ordered_transfer_capacity_1(strategy: WaitStrategy) {
    ordered_transfer(strategy, 1, scaled(20_000, 100) as u64);
}

/// Both sides mix every flavour of their API on the same stream.
fn ordered_transfer_mixed_api(strategy: WaitStrategy) {
    let n = scaled(20_000, 200) as u64;
    let (mut tx, mut rx) = chan::<u64>(5, strategy);
    let producer = thread::spawn(move || {
        for i in 0..n {
            match i % 4 {
                0 => tx.send(i).unwrap(),
                1 => {
                    let mut v = i;
                    loop {
                        match tx.try_send(v) {
                            Ok(()) => break,
                            Err(TrySendError::Full(back)) => {
                                v = back;
                                thread::yield_now();
                            }
                            Err(TrySendError::Disconnected(_)) => panic!("consumer gone"),
                        }
                    }
                }
                2 => {
                    let mut v = i;
                    loop {
                        match tx.send_timeout(v, Duration::from_micros(50)) {
                            Ok(()) => break,
                            Err(SendTimeoutError::Timeout(back)) => v = back,
                            Err(SendTimeoutError::Disconnected(_)) => panic!("consumer gone"),
                        }
                    }
                }
                _ => tx.send_deadline(i, Instant::now() + Duration::from_secs(30)).unwrap(),
            }
        }
    });
    let watchdog = Watchdog::new("mixed-API transfer");
    let mut expected = 0u64;
    while expected < n {
        watchdog.tick();
        let got = match expected % 5 {
            0 => rx.recv().ok(),
            1 => loop {
                match rx.try_recv() {
                    Ok(v) => break Some(v),
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Disconnected) => break None,
                }
            },
            2 => loop {
                match rx.recv_timeout(Duration::from_micros(50)) {
                    Ok(v) => break Some(v),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break None,
                }
            },
            3 => loop {
                if let Some(&v) = rx.peek() {
                    assert_eq!(rx.try_recv(), Ok(v), "try_recv returns what peek showed");
                    break Some(v);
                }
                thread::yield_now();
            },
            _ => rx.recv_deadline(Instant::now() + Duration::from_secs(30)).ok(),
        };
        assert_eq!(got, Some(expected));
        expected += 1;
    }
    assert_eq!(rx.recv(), Err(RecvError));
    producer.join().unwrap();
}

for_each_strategy!(ordered_transfer_1m, ordered_transfer_capacity_1, ordered_transfer_mixed_api);

fn heap_payloads_written_before_send_are_intact_after_recv(strategy: WaitStrategy) {
    type Payload = (Box<u64>, Vec<u32>, String);
    let n = scaled(5_000, 60) as u32;
    let (mut tx, mut rx) = chan::<Payload>(8, strategy);
    let producer = thread::spawn(move || {
        for i in 0..n {
            let v: Vec<u32> = (0..i % 17).map(|x| x.wrapping_mul(i)).collect();
            tx.send((Box::new(u64::from(i) * 3), v, format!("item-{i}"))).unwrap();
        }
    });
    let watchdog = Watchdog::new("heap payload transfer");
    for i in 0..n {
        watchdog.tick();
        let (b, v, s) = rx.recv().unwrap();
        assert_eq!(*b, u64::from(i) * 3);
        assert_eq!(v.len(), (i % 17) as usize);
        assert!(v.iter().enumerate().all(|(x, &y)| y == (x as u32).wrapping_mul(i)));
        assert_eq!(s, format!("item-{i}"));
    }
    assert_eq!(rx.recv(), Err(RecvError));
    producer.join().unwrap();
}

for_each_strategy!(heap_payloads_written_before_send_are_intact_after_recv);

#[test]
fn tracked_payloads_across_threads_are_each_dropped_once() {
    // Half the items are received, the rest stay queued when both handles
    // drop on different threads.
    for consumer_last in [false, true] {
        let t = Tracker::new(200);
        let (mut tx, mut rx) = common::spsc_channel::<Tracked>(128);
        let t2 = t.clone();
        let producer = thread::spawn(move || {
            for id in 0..200 {
                tx.send(t2.item(id)).unwrap();
                if id == 150 && !consumer_last {
                    return None;
                }
            }
            Some(tx)
        });
        for id in 0..72 {
            assert_eq!(rx.recv().unwrap().id(), id);
        }
        let tx = producer.join().unwrap();
        if consumer_last {
            drop(tx);
            drop(rx);
            t.assert_dropped_once(0..200);
        } else {
            assert!(tx.is_none());
            drop(rx);
            t.assert_dropped_once(0..151);
            t.assert_not_dropped(151..200);
        }
    }
}

// ---------------------------------------------------------------------------
// Regression: slot-index arithmetic on ZST rings longer than usize::MAX / 2
// (`idx + n` overflowed in debug builds; fixed by `buffer::wrap_add`)
// ---------------------------------------------------------------------------

/// A ZST ring of capacity `usize::MAX` (accepted: its buffer is 0 bytes)
/// whose consumer slot index has been moved to `usize::MAX - 1` with the
/// O(1) batch calls, with `queued` items left in the ring. The default
/// layout's (a stamped ring has a stamp word a slot).
fn zst_ring_with_head_index_at_the_end(queued: usize) -> (ringflow::spsc::Producer<()>, ringflow::spsc::Consumer<()>) {
    let (mut tx, mut rx) = Builder::new(usize::MAX).wait_strategy(WaitStrategy::BusySpin).spsc::<()>();
    let chunk = tx.write_chunk_uninit(usize::MAX);
    assert_eq!(chunk.len(), usize::MAX);
    // SAFETY: `()` has no bytes, so every `MaybeUninit<()>` is initialised.
    unsafe { chunk.commit_all() };
    assert!(tx.is_full());
    let mut out = [(); usize::MAX - 1];
    // One batch of usize::MAX - 1 from slot 0: head slot index becomes
    // usize::MAX - 1 (no overflow on the way there).
    assert_eq!(rx.recv_into(&mut out), usize::MAX - 1);
    assert_eq!(rx.len(), 1);
    for _ in 1..queued {
        tx.try_send(()).unwrap();
    }
    assert_eq!(rx.len(), queued);
    (tx, rx)
}

#[test]
fn zst_capacity_above_half_usize_batch_across_the_buffer_end() {
    let (tx, mut rx) = zst_ring_with_head_index_at_the_end(4);
    let mut two = [(); 2];
    let got = catch_unwind(AssertUnwindSafe(|| rx.recv_into(&mut two)));
    let Ok(got) = got else {
        // The ring's state is inconsistent after the panic; do not run its
        // Drop (it would panic again, during unwinding, and abort).
        std::mem::forget((tx, rx));
        panic!("recv_into of 2 items from slot usize::MAX - 1 panicked (slot-index overflow)");
    };
    assert_eq!(got, 2);
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(()));
    assert_eq!(rx.try_recv(), Ok(()));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn zst_capacity_above_half_usize_drop_with_items_across_the_buffer_end() {
    let (tx, rx) = zst_ring_with_head_index_at_the_end(3);
    let dropped = catch_unwind(AssertUnwindSafe(move || {
        drop(tx);
        drop(rx);
    }));
    assert!(dropped.is_ok(), "dropping a ring with 3 queued ZSTs from slot usize::MAX - 1 panicked");
}

// ---------------------------------------------------------------------------
// The stamped layout, named explicitly (`Builder::spsc_stamped`): these run
// in every test run and under Miri; `scripts/check.sh spsc-stamped` runs the
// whole file (and the async, flow and batch files) on it as well.
// ---------------------------------------------------------------------------

#[test]
fn stamped_transfer_between_threads_is_fifo() {
    let n = scaled(200_000, 300) as u64;
    for strategy in [WaitStrategy::BusySpin, WaitStrategy::Park] {
        let _w = Watchdog::new("stamped FIFO transfer");
        let (mut tx, mut rx) = Builder::new(8).wait_strategy(strategy).spsc_stamped::<u64>();
        let producer = thread::spawn(move || {
            for i in 0..n {
                if i % 3 == 0 {
                    tx.send(i).unwrap();
                } else {
                    while let Err(e) = tx.try_send(i) {
                        assert!(e.is_full());
                        std::hint::spin_loop();
                    }
                }
            }
        });
        for i in 0..n {
            let v = if i % 2 == 0 { rx.recv().unwrap() } else { rx.iter().next().unwrap() };
            assert_eq!(v, i, "{strategy:?}");
        }
        producer.join().unwrap();
        assert_eq!(rx.recv(), Err(RecvError));
    }
}

#[test]
fn stamped_ring_drops_each_item_once_across_laps_and_at_the_end() {
    let t = Tracker::new(37);
    let (mut tx, mut rx) = Builder::new(3).spsc_stamped::<Tracked>();
    let mut next_in = 0;
    let mut next_out = 0;
    // Many laps of a 3-item ring (plus its slack), one receive behind.
    while next_in < 37 {
        tx.try_send(t.item(next_in)).unwrap();
        next_in += 1;
        if next_in - next_out == 3 {
            assert!(tx.is_full());
            assert_eq!(rx.peek().map(|v| v.id()), Some(next_out));
            assert_eq!(rx.try_recv().unwrap().id(), next_out);
            next_out += 1;
        }
    }
    t.assert_dropped_once(0..next_out);
    drop(tx);
    t.assert_not_dropped(next_out..37);
    drop(rx);
    t.assert_dropped_once(0..37);
}

#[test]
fn stamped_positions_cross_usize_max() {
    for start in [usize::MAX - 4, usize::MAX, 0] {
        let (mut tx, mut rx) = Builder::new(2).__start_position(start).__segment_slots(3).spsc_stamped::<u32>();
        for i in 0..20 {
            tx.try_send(2 * i).unwrap();
            tx.try_send(2 * i + 1).unwrap();
            assert!(tx.is_full());
            assert_eq!(rx.try_recv(), Ok(2 * i), "start {start}");
            assert_eq!(rx.try_recv(), Ok(2 * i + 1), "start {start}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a stale stamp is not an item (start {start})");
        }
    }
}

#[test]
fn stamped_batches_and_single_items_mix() {
    let (mut tx, mut rx) = Builder::new(5).spsc_stamped::<u32>();
    assert_eq!(tx.send_slice(&[1, 2, 3]), 3);
    assert_eq!(rx.try_recv(), Ok(1), "a batch's items carry their stamps");
    tx.try_send(4).unwrap();
    assert_eq!(tx.send_iter(&mut (5..100)), 2, "the room the call began with");
    let mut out = [0; 8];
    assert_eq!(rx.recv_into(&mut out), 5);
    assert_eq!(&out[..5], [2, 3, 4, 5, 6]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    for round in 0..10 {
        assert_eq!(tx.send_slice(&[round; 4]), 4);
        assert_eq!(rx.try_recv(), Ok(round));
        assert_eq!(rx.recv_into(&mut out), 3);
    }
    drop(tx);
    assert_eq!(rx.recv_into(&mut out), 0);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn stamped_send_iter_sends_what_it_wrote_when_the_iterator_panics() {
    let t = Tracker::new(8);
    let (mut tx, mut rx) = Builder::new(8).spsc_stamped::<Tracked>();
    let mut n = 0;
    let mut items = std::iter::from_fn(|| {
        assert!(n < 3, "iterator failure");
        n += 1;
        Some(t.item(n - 1))
    });
    assert!(catch_unwind(AssertUnwindSafe(|| tx.send_iter(&mut items))).is_err());
    t.assert_not_dropped(0..3);
    assert_eq!(rx.try_iter().map(|v| v.id()).collect::<Vec<_>>(), [0, 1, 2]);
    t.assert_dropped_once(0..3);
}

/// The chunk guards of the stamped layout under Miri too (`tests/guards.rs`
/// runs every guard on it with `__test-spsc-stamped`): the owning iterator
/// leaked or dropped after every number of items, a write chunk leaked
/// after a write, and `get` / `iter` / `get_mut`.
#[test]
#[allow(clippy::forget_non_drop)] // a leak test: it must stay one if a `Drop` is added
fn stamped_chunk_guards_leaked_and_dropped_at_every_point() {
    let n = 3;
    for leak in [false, true] {
        for k in 0..=n {
            let t = Tracker::new(n);
            let (mut tx, mut rx) = Builder::new(n).spsc_stamped::<Tracked>();
            let mut chunk = tx.write_chunk_uninit(n);
            for id in 0..n {
                chunk.get_mut(id).unwrap().write(t.item(id));
            }
            assert!(chunk.get_mut(n).is_none());
            // SAFETY: every granted slot was written above.
            unsafe { chunk.commit_all() };
            let chunk = rx.read_chunk(n);
            assert_eq!(chunk.iter().map(|v| v.id()).collect::<Vec<_>>(), [0, 1, 2]);
            assert_eq!(chunk.get(1).map(|v| v.id()), Some(1));
            let mut it = chunk.into_iter();
            for id in 0..k {
                assert_eq!(it.next().map(|v| v.id()), Some(id));
            }
            if leak {
                std::mem::forget(it);
            } else {
                drop(it);
                assert_eq!(tx.len(), n - k, "k = {k}: the taken slots are free");
            }
            t.assert_dropped_once(0..k);
            t.assert_not_dropped(k..n);
            for id in k..n {
                assert_eq!(rx.try_recv().map(|v| v.id()).ok(), Some(id), "k = {k}, leak {leak}");
            }
            drop((tx, rx));
            t.assert_dropped_once(0..n);
        }
    }
    // A leaked write chunk publishes nothing (its written value would be
    // leaked, not dropped: a `u64` here, so that Miri sees no leak).
    let (mut tx, mut rx) = Builder::new(2).spsc_stamped::<u64>();
    let mut chunk = tx.write_chunk_uninit(2);
    chunk.get_mut(0).unwrap().write(7);
    std::mem::forget(chunk);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(8).unwrap();
    assert_eq!(rx.try_recv(), Ok(8));
}
