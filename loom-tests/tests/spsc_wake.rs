//! Wake-up models of the SPSC ring on `Park` channels: a blocked `send` is
//! woken by a receive, a blocked `recv` by a send, and both at once.
//!
//! Under `--cfg loom` the shim shrinks the backoff (`SPIN_LIMIT = 0`,
//! `YIELD_LIMIT = 1`: one spin-yield, one yield, then park), so a blocking
//! call reaches the sleeper protocol of `wait.rs` after three failed
//! attempts, and the heavy/light barrier pair is `fence(SeqCst)` on both
//! sides. A lost wake-up shows up as a loom "deadlock" (the sleeper waits on
//! its `Condvar` forever and no thread can run).
#![cfg(loom)]

mod common;

use common::{model, yield_times};
use loom::thread;
use ringflow::{Builder, TryRecvError, WaitStrategy};

/// Model 4: capacity 1, full. The producer's `send(1)` must wait for room;
/// the consumer's one `try_recv` makes room and must wake it.
#[test]
fn blocked_send_woken_by_recv() {
    model("blocked_send_woken_by_recv", 3, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).spsc::<u32>();
        tx.try_send(0).unwrap();
        let producer = thread::spawn(move || {
            tx.send(1).unwrap();
        });
        // Let the producer get into its parking path first (cheaply).
        yield_times(3);
        assert_eq!(rx.try_recv(), Ok(0));
        producer.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

/// Model 5: a `recv` that has to wait twice. Capacity 2 so the producer's
/// sends never block: only the receivers' registry is exercised, and the
/// consumer registers, sleeps, leaves, and registers again.
#[test]
fn blocked_recv_woken_by_send() {
    model("blocked_recv_woken_by_send", 3, || {
        let (mut tx, mut rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).spsc::<u32>();
        let consumer = thread::spawn(move || {
            assert_eq!(rx.recv(), Ok(0));
            assert_eq!(rx.recv(), Ok(1));
        });
        yield_times(3);
        tx.send(0).unwrap();
        yield_times(3);
        tx.send(1).unwrap();
        consumer.join().unwrap();
    });
}

/// Model 9a: the notification protocol through the public API in its
/// smallest form — one `recv` on an empty capacity-1 `Park` channel, which
/// parks in the schedules where the producer is slow, and one `try_send`,
/// whose notify must wake it. Nothing else touches the channel.
#[test]
fn protocol_minimal_recv_parks() {
    model("protocol_minimal_recv_parks", 3, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).spsc::<u32>();
        let consumer = thread::spawn(move || {
            assert_eq!(rx.recv(), Ok(7));
        });
        yield_times(3);
        tx.try_send(7).unwrap();
        consumer.join().unwrap();
    });
}

/// Model 10: ping-pong through capacity 1 — three items, blocking `send`
/// and blocking `recv`, so both registries see sleepers, each side's notify
/// races the other side's registration, and the ring wraps twice.
#[test]
fn ping_pong_both_sides_park() {
    model("ping_pong_both_sides_park", 3, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).spsc::<u32>();
        let producer = thread::spawn(move || {
            for i in 0..3 {
                tx.send(i).unwrap();
            }
        });
        for i in 0..3 {
            assert_eq!(rx.recv(), Ok(i));
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}
