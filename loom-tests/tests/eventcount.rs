//! A standalone replica of the eventcount in `src/wait.rs`, model-checked on
//! its own, plus two broken variants that loom must reject (run in a child
//! process, see `common::expect_model_failure`).
//!
//! `wait.rs`'s types are `pub(crate)`, so this file re-states the protocol
//! with loom primitives. It replicates the part that makes wake-ups
//! lossless — register, barrier, re-check under the mutex; publish,
//! barrier, look for sleepers under the mutex — as it was before `wait.rs`
//! started handing out wake-up *tokens* (the notifier now takes a woken
//! sleeper off `count` itself, so later operations skip the mutex). The
//! tokens change who decrements `count`, not the Dekker/mutex argument
//! checked here; the token bookkeeping itself is checked through the real
//! code by the public-API models (`spsc_wake.rs`, and `mpmc_wake.rs`'s two
//! sleepers on one channel). The table maps the replica to the pre-token
//! steps:
//!
//! | `wait.rs` (`Sleepers`)                          | here (`EventCount`)          |
//! |-------------------------------------------------|------------------------------|
//! | W1 `count.fetch_add(1, Relaxed)`                | `sleep`: same                |
//! | W2 `barrier::heavy` (= `fence(SeqCst)` in loom) | `fence(SeqCst)`              |
//! | W3 lock, `if !ready()` → `Condvar::wait`        | same (`ready` reads the flag)|
//! | W4 `count.fetch_sub(1, Relaxed)`                | same                         |
//! | notifier: Release store of the position (spsc)  | `flag.store(true, Release)`  |
//! | N1 `barrier::light` (= `fence(SeqCst)` in loom) | `fence(SeqCst)`              |
//! | N2 `count.load(Relaxed) != 0` → lock, notify    | same                         |
//!
//! The caller's retry loop (`Waiter::pause` → `Sleepers::sleep` → retry the
//! operation) is the `while !flag.load(Acquire)` loop of `wait_until_set`.
//!
//! Outside loom the two barriers are an asymmetric pair (compiler fence /
//! `membarrier`), which loom cannot model; the `fence(SeqCst)` pair here is
//! the stand-in that `sync.rs` also uses under loom.
#![cfg(loom)]

mod common;

use common::{expect_model_failure, model_parks};
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// Which parts of the protocol to keep; the broken variants prove that the
/// model notices when one is missing.
#[derive(Clone, Copy)]
struct Variant {
    fences: bool,
    recheck: bool,
}

const CORRECT: Variant = Variant { fences: true, recheck: true };

struct EventCount {
    count: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
    variant: Variant,
}

impl EventCount {
    fn new(variant: Variant) -> Self {
        EventCount { count: AtomicUsize::new(0), lock: Mutex::new(()), cond: Condvar::new(), variant }
    }

    /// `Sleepers::sleep` with no deadline. Returns whether it waited on the
    /// condvar (for the coverage check of `model_parks`).
    fn sleep(&self, ready: impl Fn() -> bool) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed); // W1
        if self.variant.fences {
            fence(Ordering::SeqCst); // W2
        }
        let guard = self.lock.lock().unwrap(); // W3
        let waited = !self.variant.recheck || !ready();
        if waited {
            drop(self.cond.wait(guard).unwrap());
        } else {
            drop(guard);
        }
        self.count.fetch_sub(1, Ordering::Relaxed); // W4
        waited
    }

    /// `Sleepers::notify`, called after the Release store that publishes.
    fn notify(&self) {
        if self.variant.fences {
            fence(Ordering::SeqCst); // N1
        }
        if self.count.load(Ordering::Relaxed) != 0 {
            // N2 (`wake_one`)
            let _guard = self.lock.lock().unwrap();
            self.cond.notify_one();
        }
    }
}

/// One waiter, one notifier, one event. The waiter checks the flag, and
/// while it is not set goes through the sleeper protocol; the notifier sets
/// it and notifies. A lost wake-up leaves the waiter in `Condvar::wait`
/// forever: loom reports "deadlock". Returns how many times the waiter
/// waited on the condvar.
fn one_event(variant: Variant) -> u64 {
    let ec = Arc::new(EventCount::new(variant));
    let flag = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (ec, flag) = (ec.clone(), flag.clone());
        thread::spawn(move || {
            let mut waits = 0;
            while !flag.load(Ordering::Acquire) {
                waits += u64::from(ec.sleep(|| flag.load(Ordering::Acquire)));
            }
            waits
        })
    };
    flag.store(true, Ordering::Release);
    ec.notify();
    waiter.join().unwrap()
}

/// Two events in sequence on one eventcount (a counter instead of a flag):
/// the waiter must observe both, re-registering after the first wake-up.
/// Returns how many times the waiter waited on the condvar.
fn two_events(variant: Variant) -> u64 {
    let ec = Arc::new(EventCount::new(variant));
    let events = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (ec, events) = (ec.clone(), events.clone());
        thread::spawn(move || {
            let mut waits = 0;
            for want in 1..=2 {
                while events.load(Ordering::Acquire) < want {
                    waits += u64::from(ec.sleep(|| events.load(Ordering::Acquire) >= want));
                }
            }
            waits
        })
    };
    for n in 1..=2 {
        events.store(n, Ordering::Release);
        ec.notify();
    }
    waiter.join().unwrap()
}

/// Model 9b: the eventcount replica, one event.
#[test]
fn eventcount_replica_one_event() {
    model_parks("eventcount_replica_one_event", 4, || one_event(CORRECT));
}

/// Model 9c: the eventcount replica, two events (re-registration).
#[test]
fn eventcount_replica_two_events() {
    model_parks("eventcount_replica_two_events", 4, || two_events(CORRECT));
}

/// Negative control: without the two SeqCst fences the Dekker pair breaks —
/// the notifier can read `count == 0` while the waiter's re-check reads the
/// old flag — and loom must find the lost wake-up.
#[test]
fn eventcount_without_fences_loses_wakeup() {
    expect_model_failure("eventcount_without_fences_loses_wakeup", "deadlock", || {
        model_parks("eventcount_without_fences_loses_wakeup", 4, || one_event(Variant { fences: false, recheck: true }))
    });
}

/// Negative control: without the re-check under the mutex, a notifier that
/// ran entirely before the waiter registered (and so saw `count == 0`)
/// leaves the waiter asleep forever.
#[test]
fn eventcount_without_recheck_loses_wakeup() {
    expect_model_failure("eventcount_without_recheck_loses_wakeup", "deadlock", || {
        model_parks("eventcount_without_recheck_loses_wakeup", 4, || {
            one_event(Variant { fences: true, recheck: false })
        })
    });
}
