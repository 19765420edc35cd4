//! Wake-up models of the MPMC ring on `Park` channels: a blocked `send`
//! woken by a receive, a blocked `recv` woken by a send, and two sleepers on
//! one registry woken by two operations (the wake-up *tokens* of `wait.rs`:
//! one per sleep, and a token may be used by a different sleeper than the
//! one it was meant for).
//!
//! Same shape as `spsc_wake.rs` (see `common::yield_times`): the waiter runs
//! on the model's main thread, a notifier is a spawned thread that yields
//! twice before it acts, and every spawned thread hands its channel handle
//! back through `join` instead of dropping it — the last handle of a side
//! calls `wake_everyone` when it drops, which would rescue a lost
//! notification and hide the bug the model is looking for. Each model
//! asserts that some explored execution really parked (`model_parks`).
#![cfg(loom)]

mod common;

use common::mpmc::out_of_order_publications;
use common::{model_parks, yield_times};
use loom::thread;
use ringflow::{Builder, TryRecvError, WaitStrategy};

/// Model W1: capacity 1, full. The model thread's `send(1)` must wait for
/// room; a spawned receiver's one `try_recv` makes room, and its notify
/// must wake the sender.
#[test]
fn blocked_send_woken_by_recv() {
    model_parks("mpmc_blocked_send_woken_by_recv", 4, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        tx.try_send(0).unwrap();
        let receiver = thread::spawn(move || {
            yield_times(2);
            assert_eq!(rx.try_recv(), Ok(0));
            rx
        });
        tx.send(1).unwrap();
        let rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        rx.stats().parks
    });
}

/// Model W2: capacity 1, empty. The model thread's `recv` waits; a spawned
/// sender's one `try_send` must wake it.
#[test]
fn blocked_recv_woken_by_send() {
    model_parks("mpmc_blocked_recv_woken_by_send", 4, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        let sender = thread::spawn(move || {
            yield_times(2);
            tx.try_send(7).unwrap();
            tx
        });
        assert_eq!(rx.recv(), Ok(7));
        let _tx = sender.join().unwrap();
        rx.stats().parks
    });
}

/// Model W3: two receivers blocked in `recv` on an empty capacity-2 ring
/// (the model thread and a spawned one), and a spawned sender that makes
/// two `try_send`s. Each send's notify hands out at most one token, so the
/// two sends must wake both receivers between them — and a receiver whose
/// token was used by the other (tokens are interchangeable) must still not
/// be left asleep with an item in the ring. Each receiver gets one value.
#[test]
fn two_blocked_recvs_woken_by_two_sends() {
    model_parks("mpmc_two_blocked_recvs_woken_by_two_sends", 3, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        let rx1 = rx.clone();
        let other = thread::spawn(move || {
            let v = rx1.recv().unwrap();
            (v, rx1)
        });
        let sender = thread::spawn(move || {
            yield_times(2);
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            tx
        });
        let mine = rx.recv().unwrap();
        let (theirs, _rx1) = other.join().unwrap();
        let _tx = sender.join().unwrap();
        let mut got = [mine, theirs];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        rx.stats().parks
    });
}

/// Model W4: two senders blocked in `send` on a full capacity-1 ring (the
/// model thread and a spawned one), and a spawned receiver that makes room
/// twice (`try_recv`, retrying while a woken sender has not refilled the
/// slot yet). Both sends must complete; the receiver gets the first item
/// and one of the two blocked values, and the other is left in the ring.
#[test]
fn two_blocked_sends_woken_by_two_recvs() {
    model_parks("mpmc_two_blocked_sends_woken_by_two_recvs", 3, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        tx.try_send(0).unwrap();
        let tx1 = tx.clone();
        let other = thread::spawn(move || {
            tx1.send(2).unwrap();
            tx1
        });
        let receiver = thread::spawn(move || {
            yield_times(2);
            let mut got = Vec::new();
            while got.len() < 2 {
                match rx.try_recv() {
                    Ok(v) => got.push(v),
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Disconnected) => panic!("both senders are alive"),
                }
            }
            (got, rx)
        });
        tx.send(1).unwrap();
        let _tx1 = other.join().unwrap();
        let (mut got, rx) = receiver.join().unwrap();
        assert_eq!(got[0], 0, "FIFO: the queued item first");
        got.push(rx.try_recv().expect("the last value is queued"));
        got[1..].sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        rx.stats().parks
    });
}

/// Model W5 (soundness review, defect 3): two receivers parked, and two
/// publications out of order. A spawned driver claims position `p` and
/// holds it unwritten (the test hook stands in for a sender preempted
/// mid-write), publishes `p + 1` with a plain `try_send`, then writes `p`.
/// The token of `p + 1` may wake a receiver that finds `p` unready and
/// sleeps again; the token of `p` then wakes one receiver, which takes `p`.
/// Without the baton (`Sleepers::pass_baton`: a woken receiver that
/// succeeds wakes one more sleeper if the next item is ready) the other
/// receiver sleeps on with `p + 1` queued, and loom reports the deadlock.
#[test]
fn out_of_order_publications_wake_both_receivers() {
    model_parks("mpmc_out_of_order_publications_wake_both_receivers", 3, || {
        out_of_order_publications(|rx| rx.recv().unwrap())
    });
}

/// Model W6: the mirror of W5 for senders. A full capacity-2 ring, two
/// senders parked; a spawned driver claims the oldest item (position `h`,
/// the test hook stands in for a receiver preempted mid-read), frees
/// `h + 1` with a plain `try_recv`, then finishes reading `h`. The token
/// of `h + 1` may wake a sender that finds the slot at the tail (`h`'s)
/// still being read; the token of `h` wakes one sender, and the baton must
/// wake the other for the slot `h + 1` freed.
#[test]
fn out_of_order_frees_wake_both_senders() {
    model_parks("mpmc_out_of_order_frees_wake_both_senders", 3, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let tx1 = tx.clone();
        let other = thread::spawn(move || {
            tx1.send(3).unwrap();
            tx1
        });
        let driver = thread::spawn(move || {
            // SAFETY: the guard is finished below, never leaked.
            let reading = unsafe { rx.__claim_recv() }.expect("item 0 is queued");
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(reading.finish(), 0);
            rx
        });
        tx.send(2).unwrap();
        let _tx1 = other.join().unwrap();
        let rx = driver.join().unwrap();
        let mut got = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [2, 3]);
        rx.stats().parks
    });
}
