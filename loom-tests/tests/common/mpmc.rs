//! Try-loops for the MPMC models, with bounded *patience*.
//!
//! Why patience: when a thread yields, loom may schedule any other runnable
//! thread without counting a preemption, and it never forces the scheduler
//! to be fair. With three threads, two of which spin-wait (with yields) on
//! the third — e.g. a producer preempted between its claim and its publish,
//! a second producer seeing `Full` and the consumer seeing `Empty` — loom
//! explores the two waiters yielding to each other forever, and the
//! execution dies with "Model exceeded maximum number of branches". (With
//! two threads this cannot happen: a yield leaves only the other thread to
//! run. The SPSC models never needed this.)
//!
//! So in a model with three threads at most one thread waits
//! [`Patience::Forever`]; every other waiting thread gives up after a few
//! failed attempts and hands back what it could not send, and the model
//! thread drains whatever is left once the others are joined. The checks
//! (exactly once, per-producer order) then cover received, kept and
//! drained values together, so giving up never hides a loss or a duplicate.
//! `force_send`'s own wait for a peer mid-copy is unbounded, so a thread
//! calling it counts as the `Forever` one.

use loom::thread;
use ringflow::mpmc::{Receiver, Sender};
use ringflow::{TryRecvError, TrySendError};

/// How long a thread keeps retrying a `try_*` call that could not proceed.
#[derive(Clone, Copy, Debug)]
pub enum Patience {
    /// Retry until the call succeeds (or, for a receiver, `Disconnected`).
    Forever,
    /// Give up after this many failed attempts in a row (each followed by
    /// a yield).
    Attempts(usize),
}

/// The patience of the threads that must not wait forever: one attempt per
/// item, no yield. Every yield is a free context switch for loom, and with
/// two (one yield per item) the three-thread models grew 6–23× (e.g. one
/// producer and two consumers at capacity 1, 2 items, bound 2: 134 486
/// executions instead of 5 754) without reaching anything new: loom still
/// explores every point at which the other threads can run between the
/// attempt and the outcome, up to the preemption bound.
pub const BOUNDED: Patience = Patience::Attempts(1);

/// `try_send`s `v`, yielding after each `Full`, until it goes in (`Ok`) or
/// patience runs out (`Err(v)`, the same value back). Panics on
/// `Disconnected` (every model keeps a receiver alive while sending).
pub fn send_with<T>(tx: &Sender<T>, v: T, patience: Patience) -> Result<(), T> {
    let mut v = v;
    let mut failed = 0;
    loop {
        match tx.try_send(v) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                v = back;
                failed += 1;
                if let Patience::Attempts(n) = patience {
                    if failed >= n {
                        return Err(v);
                    }
                }
                thread::yield_now();
            }
            Err(TrySendError::Disconnected(_)) => panic!("a receiver is alive"),
        }
    }
}

/// `try_recv`s, yielding after each `Empty`, until a value arrives, every
/// sender is gone (`Err(Disconnected)`), or patience runs out
/// (`Err(Empty)`).
pub fn recv_with<T>(rx: &Receiver<T>, patience: Patience) -> Result<T, TryRecvError> {
    let mut failed = 0;
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(TryRecvError::Disconnected),
            Err(TryRecvError::Empty) => {
                failed += 1;
                if let Patience::Attempts(n) = patience {
                    if failed >= n {
                        return Err(TryRecvError::Empty);
                    }
                }
                thread::yield_now();
            }
        }
    }
}

/// Receives into `got` until `Disconnected` or patience runs out for one
/// item; returns whether it stopped because of disconnection.
pub fn drain_with<T>(rx: &Receiver<T>, patience: Patience, got: &mut Vec<T>) -> bool {
    loop {
        match recv_with(rx, patience) {
            Ok(v) => got.push(v),
            Err(TryRecvError::Disconnected) => return true,
            Err(TryRecvError::Empty) => return false,
        }
    }
}

/// The shape of the out-of-order wake-up models (W5 in `mpmc_wake.rs`, AW8
/// in `async_wake.rs`): two receivers wait on an empty MPMC `Park` ring of
/// capacity 2 (the model thread and a spawned one, each through `recv`, a
/// blocking or an async receive); a spawned driver claims position `p` and
/// holds it unwritten (the test hook stands for a sender preempted
/// mid-write), publishes `p + 1` with a plain `try_send`, then writes `p`.
/// Each receiver must get one of the two values. Returns the channel's
/// `Stats::parks` (for `model_parks`).
pub fn out_of_order_publications(recv: fn(&Receiver<u32>) -> u32) -> u64 {
    let (tx, rx) = ringflow::Builder::new(2).wait_strategy(ringflow::WaitStrategy::Park).mpmc::<u32>();
    let rx1 = rx.clone();
    let other = thread::spawn(move || {
        let v = recv(&rx1);
        (v, rx1)
    });
    let driver = thread::spawn(move || {
        // SAFETY: the guard is finished below, never leaked.
        let pending = unsafe { tx.__claim_send(0) }.expect("room at p");
        tx.try_send(1).unwrap();
        pending.finish();
        tx
    });
    let mine = recv(&rx);
    let (theirs, _rx1) = other.join().unwrap();
    let _tx = driver.join().unwrap();
    let mut got = [mine, theirs];
    got.sort_unstable();
    assert_eq!(got, [0, 1]);
    rx.stats().parks
}
