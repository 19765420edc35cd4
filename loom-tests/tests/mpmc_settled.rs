//! The MPMC waiters' settled check (`wait::Settled` in `src/wait.rs`): a
//! waiter that has registered sleeps without the heavy barrier when one
//! load of the other side's counter shows no claim it could use (while its
//! side has several handles: each model keeps a clone of the waiting
//! handle).
//!
//! Under loom the light barrier normally is `fence(SeqCst)`, which alone
//! makes every sleep safe, so the ordinary wake-up models cannot tell a
//! right settled check from a wrong one. Here the light barrier is taken
//! away (a compiler fence only, as the production `membarrier` pair's light
//! side is) and every heavy barrier fails (a waiter whose check does not
//! hold then never sleeps: it yields and retries). So a thread sleeps only
//! on the settled check's word, and a wrong word loses a wake-up: loom
//! reports a deadlock. The check's `SeqCst` accesses are modelled by
//! `SeqCst` fences after each claim and before the check's load (loom
//! treats `SeqCst` accesses as `AcqRel`). Its own test binary, because the
//! switch is process-wide.
//!
//! Same shape as `mpmc_wake.rs`: the waiter runs on the model's main
//! thread, the notifier is spawned, yields twice, and hands its handle back
//! through `join` (a last handle's drop wakes everyone and would hide a lost
//! wake-up). Each model asserts that some explored execution parked.
#![cfg(loom)]

mod common;

use common::{model_parks, yield_times};
use loom::thread;
use ringflow::__test_hooks::{fail_next_heavy_barriers, set_light_barrier_off};
use ringflow::{Builder, WaitStrategy};

/// No light barrier, no heavy barrier: only a settled check lets a thread
/// sleep. On every thread of the model (the barrier probe is per thread).
fn only_settled_sleeps() {
    set_light_barrier_off(true);
    fail_next_heavy_barriers(u64::MAX);
}

/// Model ST1: a receiver blocked on an empty capacity-1 ring (settled:
/// `tail == head`), woken by a spawned sender's two sends (the second waits
/// for room while the receiver takes the first).
#[test]
fn settled_recv_woken_by_send() {
    model_parks("mpmc_settled_recv_woken_by_send", 3, || {
        only_settled_sleeps();
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        // The check applies while the waiting side has several handles.
        let _rx2 = rx.clone();
        let sender = thread::spawn(move || {
            only_settled_sleeps();
            yield_times(2);
            tx.send(7).unwrap();
            tx.send(8).unwrap();
            tx
        });
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(rx.recv(), Ok(8));
        let _tx = sender.join().unwrap();
        rx.stats().parks
    });
}

/// Model ST2: a sender blocked on a full capacity-1 ring (settled: the ring
/// holds `capacity` items), woken by a spawned receiver's receive.
#[test]
fn settled_send_woken_by_recv() {
    model_parks("mpmc_settled_send_woken_by_recv", 3, || {
        only_settled_sleeps();
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        tx.try_send(0).unwrap();
        let _tx2 = tx.clone();
        let receiver = thread::spawn(move || {
            only_settled_sleeps();
            yield_times(2);
            assert_eq!(rx.recv(), Ok(0));
            rx
        });
        tx.send(1).unwrap();
        let rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        tx.stats().parks
    });
}
