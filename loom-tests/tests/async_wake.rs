//! Wake-up models of the async path (`send_async` / `recv_async`): a task's
//! waker sleeps in the same registry as a parked thread (`wait.rs`,
//! "Tasks"), so these models check the waker half of the one eventcount:
//! register-then-publish races, cancellation during a wake-up, and threads
//! and tasks waiting on one registry.
//!
//! A task is `loom::future::block_on` (its waker unparks the blocked
//! thread; a future that is never woken leaves it blocked, and loom reports
//! the deadlock) or a future polled by hand with a mock waker. Same shape as
//! `spsc_wake.rs` / `mpmc_wake.rs` (see `common::yield_times`): the waiter
//! runs on the model's main thread, a notifier is a spawned thread that
//! yields twice before it acts and hands its handle back through `join`
//! (a dropped handle wakes everyone, which would hide a lost wake-up).
//! `model_parks` asserts that some execution really registered a task or
//! parked a thread (`Stats::parks` counts both).
//!
//! SPSC rings here have exact buffers (`__segment_slots(capacity)`), so that their few
//! items wrap; see `spsc_fifo.rs` for why, and for the models of the default slack.
#![cfg(loom)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use common::mpmc::out_of_order_publications;
use common::{model_parks, yield_times};
use loom::future::block_on;
use loom::thread;
use ringflow::{Builder, TryRecvError, WaitStrategy};

/// A mock waker that does nothing: the task it stands for is cancelled
/// before it would be polled again.
struct Noop;

impl Wake for Noop {
    fn wake(self: StdArc<Self>) {}
}

fn noop() -> Waker {
    Waker::from(StdArc::new(Noop))
}

fn poll_once<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

/// Model AW1 (register-then-publish): a task waits in `recv_async` on an
/// empty SPSC `Park` ring; a spawned producer's one `try_send` must wake it.
/// The task registers its waker, runs the heavy barrier and re-checks; the
/// producer publishes, runs the light barrier and loads the count — every
/// order of the two must end with the task woken or not sleeping.
#[test]
fn spsc_recv_async_woken_by_send() {
    model_parks("async_spsc_recv_async_woken_by_send", 4, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).__segment_slots(1).spsc::<u32>();
        let producer = thread::spawn(move || {
            yield_times(2);
            tx.try_send(7).unwrap();
            tx
        });
        assert_eq!(block_on(rx.recv_async()), Ok(7));
        let _tx = producer.join().unwrap();
        rx.stats().parks
    });
}

/// Model AW2: the send side on MPMC — a task in `send_async` on a full
/// capacity-1 ring, woken by one `try_recv` on another thread.
#[test]
fn mpmc_send_async_woken_by_recv() {
    model_parks("async_mpmc_send_async_woken_by_recv", 4, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        tx.try_send(0).unwrap();
        let receiver = thread::spawn(move || {
            yield_times(2);
            assert_eq!(rx.try_recv(), Ok(0));
            rx
        });
        block_on(tx.send_async(1)).unwrap();
        let rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        rx.stats().parks
    });
}

/// Model AW3 (cancel during wake): two tasks wait for the one item of an
/// MPMC `Park` ring. Task A (a spawned thread polling by hand) registers
/// and is then cancelled (dropped) at any point relative to the sender's
/// wake-up; task B (`block_on` on the main thread) must get the item. If
/// the notifier picked A and A's drop did not pass the wake-up on, B would
/// sleep with the item queued.
#[test]
fn cancelled_task_passes_its_wakeup_on() {
    model_parks("async_cancelled_task_passes_its_wakeup_on", 3, || {
        let (tx, rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        let rx_a = rx.clone();
        let tx_a = tx.clone();
        let a = thread::spawn(move || {
            let w = noop();
            let mut f = rx_a.recv_async();
            let first = poll_once(&mut f, &w);
            drop(f); // cancelled: `select!` took another branch
            if let Poll::Ready(v) = first {
                // A's one poll found the item: hand it on, so that B's
                // wait still ends (through this send's own notify).
                tx_a.try_send(v.unwrap()).unwrap();
            }
            (rx_a, tx_a)
        });
        let sender = thread::spawn(move || {
            yield_times(2);
            tx.try_send(1).unwrap();
            tx
        });
        assert_eq!(block_on(rx.recv_async()), Ok(1));
        let (rx_a, _tx_a) = a.join().unwrap();
        let _tx = sender.join().unwrap();
        assert_eq!(rx_a.try_recv(), Err(TryRecvError::Empty));
        rx.stats().parks
    });
}

/// Model AW4 (threads and tasks on one registry): a thread blocked in
/// `recv` and a task in `recv_async` on an empty MPMC `Park` ring of
/// capacity 2; a sender makes two `try_send`s (one wake-up each). Both
/// must get an item, whichever kind each wake-up reaches, including a
/// task woken for an item the thread then took (it must register again).
#[test]
fn thread_and_task_waiters_mixed() {
    model_parks("async_thread_and_task_waiters_mixed", 3, || {
        let (tx, rx) = Builder::new(2).wait_strategy(WaitStrategy::Park).mpmc::<u32>();
        let rx1 = rx.clone();
        let thread_waiter = thread::spawn(move || {
            let v = rx1.recv().unwrap();
            (v, rx1)
        });
        let sender = thread::spawn(move || {
            yield_times(2);
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            tx
        });
        let mine = block_on(rx.recv_async()).unwrap();
        let (theirs, _rx1) = thread_waiter.join().unwrap();
        let _tx = sender.join().unwrap();
        let mut got = [mine, theirs];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        rx.stats().parks
    });
}

/// Model AW8 (the task baton; W5 of `mpmc_wake.rs` with both receivers
/// tasks): two tasks in `recv_async` on an empty MPMC `Park` ring of
/// capacity 2; a driver claims position `p` and holds it unwritten (the
/// test hook stands for a sender preempted mid-write), publishes `p + 1`,
/// then writes `p`. The wake-up of `p + 1` may reach a task that finds
/// `p` unready and registers again; the wake-up of `p` then reaches one
/// task, which must pass the baton (`AsyncWait::complete`) to the other for
/// `p + 1`. In W5 and AW4 a thread is among the waiters, and threads are
/// handed their wake-ups before tasks, so no task ever needed the baton
/// there: a review took the task's `pass_baton` out and every model passed.
#[test]
fn two_tasks_pass_the_baton_on_out_of_order_publications() {
    model_parks("async_two_tasks_pass_the_baton", 2, || {
        out_of_order_publications(|rx| block_on(rx.recv_async()).unwrap())
    });
}

/// Model AW5: a task on a `BusySpin` channel. Nobody notifies there (the
/// notifier pays nothing), so a pending task must come back by itself (it
/// wakes its own waker); the model ends only if it does.
#[test]
fn busy_spin_task_needs_no_notification() {
    common::model("async_busy_spin_task_needs_no_notification", 4, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::BusySpin).__segment_slots(1).spsc::<u32>();
        let producer = thread::spawn(move || {
            yield_times(2);
            tx.try_send(5).unwrap();
            tx
        });
        assert_eq!(block_on(rx.recv_async()), Ok(5));
        let _tx = producer.join().unwrap();
    });
}

/// Model AW6: AW1 on the broadcast ring — a task in `recv_async` on an
/// empty Block `Park` ring waits in its receiver's own registry; the
/// sender's one `try_send` (which notifies every receiver's registry after
/// one light barrier) must wake it.
#[test]
fn broadcast_recv_async_woken_by_send() {
    model_parks("async_broadcast_recv_async_woken_by_send", 4, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).broadcast::<u32>();
        let sender = thread::spawn(move || {
            yield_times(2);
            tx.try_send(7).unwrap();
            tx
        });
        assert_eq!(block_on(rx.recv_async()), Ok(7));
        let _tx = sender.join().unwrap();
        rx.stats().parks
    });
}

/// Model AW7: the broadcast send side — a task in `send_async` on a full
/// capacity-1 Block `Park` ring, held by the one receiver; that receiver's
/// `try_recv` on another thread (which publishes its cursor and notifies
/// the sender's registry) must wake it.
#[test]
fn broadcast_send_async_woken_by_recv() {
    model_parks("async_broadcast_send_async_woken_by_recv", 4, || {
        let (mut tx, mut rx) = Builder::new(1).wait_strategy(WaitStrategy::Park).broadcast::<u32>();
        tx.try_send(0).unwrap();
        let receiver = thread::spawn(move || {
            yield_times(2);
            assert_eq!(rx.try_recv(), Ok(0));
            rx
        });
        block_on(tx.send_async(1)).unwrap();
        let mut rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        tx.stats().parks
    });
}
