//! Wake-up models of the SPSC ring on `Park` channels: a blocked `send` is
//! woken by a receive, a blocked `recv` by a send, and both at once.
//!
//! Under `--cfg loom` the shim shrinks the backoff (`SPIN_LIMIT = 0`,
//! `YIELD_LIMIT = 1`: one spin-yield, one yield, then park), so a blocking
//! call reaches the sleeper protocol of `wait.rs` after three failed
//! attempts, and the heavy/light barrier pair is `fence(SeqCst)` on both
//! sides. A lost wake-up shows up as a loom "deadlock" (the sleeper waits on
//! its `Condvar` forever and no thread can run).
//!
//! Shape of every model here (see `common::yield_times` for the reasons):
//! the waiter runs on the model's main thread; the notifier is a spawned
//! thread that yields twice before it acts; and the notifier hands its
//! channel handle back through `join` instead of dropping it, because a
//! dropped handle calls `wake_all`, which would rescue a lost notification
//! and hide the bug the model is looking for.
//!
//! SPSC rings here have exact buffers (`__segment_slots(capacity)`), so that their few
//! items wrap; see `spsc_fifo.rs` for why, and for the models of the default slack.
#![cfg(loom)]

mod common;

use common::{model_parks, yield_times, SpscLayout};
use loom::thread;
use ringflow::{Builder, TryRecvError, WaitStrategy};

/// Model 4: capacity 1, full. The producer's `send(1)` must wait for room;
/// the consumer's one `try_recv` makes room and its notify must wake it.
#[test]
fn blocked_send_woken_by_recv() {
    model_parks("blocked_send_woken_by_recv", 4, || {
        let (mut tx, mut rx) =
            Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc_with_layout::<u32, SpscLayout>();
        tx.try_send(0).unwrap();
        let consumer = thread::spawn(move || {
            yield_times(2);
            assert_eq!(rx.try_recv(), Ok(0));
            rx
        });
        tx.send(1).unwrap();
        let mut rx = consumer.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        rx.stats().parks
    });
}

/// Model 5: a `recv` that has to wait twice, woken each time by a blocking
/// `send` (capacity 2, so the sends themselves never wait): the consumer
/// registers, sleeps, leaves the registry and registers again.
///
/// The producer handle is relayed to a second thread for the second send:
/// a thread that has already read the sleeper count cannot read a stale
/// one after a yield (see `common::yield_times`), so a fresh thread keeps
/// the second round as sharp as the first.
#[test]
fn blocked_recv_woken_by_send() {
    model_parks("blocked_recv_woken_by_send", 4, || {
        let (mut tx, mut rx) =
            Builder::new(2).wait_strategy(WaitStrategy::Park).__segment_slots(2).spsc_with_layout::<u32, SpscLayout>();
        let producer = thread::spawn(move || {
            yield_times(2);
            tx.send(0).unwrap();
            let relay = thread::spawn(move || {
                yield_times(2);
                tx.send(1).unwrap();
                tx
            });
            relay.join().unwrap()
        });
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.recv(), Ok(1));
        let tx = producer.join().unwrap();
        assert!(tx.is_empty());
        tx.stats().parks
    });
}

/// Model 9a: the notification protocol through the public API in its
/// smallest form — one `recv` on an empty capacity-1 `Park` channel, which
/// parks in the schedules where the producer is slow, and one `try_send`,
/// whose notify must wake it. Nothing else touches the channel.
#[test]
fn protocol_minimal_recv_parks() {
    model_parks("protocol_minimal_recv_parks", 4, || {
        let (mut tx, mut rx) =
            Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc_with_layout::<u32, SpscLayout>();
        let producer = thread::spawn(move || {
            yield_times(2);
            tx.try_send(7).unwrap();
            tx
        });
        assert_eq!(rx.recv(), Ok(7));
        let _tx = producer.join().unwrap();
        rx.stats().parks
    });
}

/// Model 10: ping-pong through capacity 1 — three items, blocking `send`
/// and blocking `recv`, so both registries see sleepers, each side's notify
/// races the other side's registration, and the ring wraps twice. No
/// explicit yields: each side's backoff yields are absorbed by the other
/// side's work, whichever schedule loom picks.
#[test]
fn ping_pong_both_sides_park() {
    model_parks("ping_pong_both_sides_park", 4, || {
        // One slot, no slack (`__segment_slots`), so that the ring wraps.
        let (mut tx, mut rx) =
            Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc_with_layout::<u32, SpscLayout>();
        let producer = thread::spawn(move || {
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            tx
        });
        for i in 0..3 {
            assert_eq!(rx.recv(), Ok(i));
        }
        let tx = producer.join().unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        rx.stats().parks
    });
}
