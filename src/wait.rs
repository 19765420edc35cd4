//! Wait strategies and the sleeper registry that parks and wakes threads.
//!
//! # The notification protocol (an eventcount)
//!
//! Each channel has two [`Sleepers`] registries: threads waiting for room
//! (blocked senders) and threads waiting for items (blocked receivers). A
//! registry is a count of registered sleepers plus a `Mutex<()>`/`Condvar`
//! pair used only by threads that actually sleep.
//!
//! **Waiter** (slow path, in [`Sleepers::sleep`]):
//! 1. `count += 1` (register);
//! 2. heavy barrier ([`barrier::heavy`]);
//! 3. lock the mutex and re-check the condition (room / item /
//!    disconnection) by reading the *shared* positions; if it now holds,
//!    `count -= 1` and return;
//! 4. otherwise `Condvar::wait` (which releases the mutex atomically) until
//!    a notifier hands it a wake-up token, then return; the caller retries
//!    its operation.
//!
//! **Notifier** (fast path, in [`Sleepers::notify`]): after publishing its
//! position with a Release store,
//! 1. light barrier ([`barrier::light`]);
//! 2. one Relaxed load of `count`; only if it is non-zero, lock the mutex,
//!    hand a token to a sleeper that has none (taking it off `count` right
//!    away, so later operations skip the mutex until someone else
//!    registers) and `notify_one`.
//!
//! **Why no wake-up is lost.** Waiter steps 1–3 and the notifier's publish
//! plus steps 1–2 are the two halves of a Dekker pattern: each thread
//! stores, runs a barrier, then loads what the other stored. The light/heavy
//! pair is as strong as `fence(SeqCst)` on both sides, and with SeqCst
//! fences one of the two fences comes first in the single total order: if
//! the waiter's comes first, the notifier's load of `count` sees the
//! registration and it goes on to take the mutex; if the notifier's comes
//! first, the waiter's re-check sees the published position and it does not
//! sleep. The remaining window — the notifier sees `count > 0` while the
//! waiter is between its registration and `Condvar::wait` — is closed by the
//! mutex: the waiter holds it from the re-check until `wait` releases it,
//! and the notifier holds it while it looks for a sleeper to hand a token,
//! so either the notifier runs first (finds nobody waiting, hands out
//! nothing, and the waiter's re-check then sees the data through the
//! mutex's happens-before) or the waiter is already waiting and gets the
//! token. A token is only ever taken by a thread that then retries its
//! operation, so every publication that found a sleeper leads to a retry.
//!
//! Disconnection is rarer and not on a fast path: the dropping handle stores
//! its flag and then always takes the mutex and hands a token to every
//! sleeper (`notify_all`), which the same mutex argument makes lossless
//! without any barrier.
//!
//! A channel whose strategy is not [`WaitStrategy::Park`] never registers a
//! sleeper and never calls `notify` at all, so it pays nothing for the
//! protocol; a `Park` channel pays a compiler fence and one load of a rarely
//! written word per operation while nobody sleeps.

use crate::sync::{barrier, spin_hint, yield_now, AtomicU64, AtomicUsize, Condvar, Instant, Mutex, Ordering};
use crate::sync::{SPIN_STEPS, YIELD_STEPS};

/// How a blocking call (`send`, `recv`, their timeout forms, `force_send`)
/// waits, chosen once per channel with [`Builder::wait_strategy`](crate::Builder::wait_strategy).
///
/// `try_*` calls never wait, whatever the strategy.
///
/// | strategy | waits by | enters the kernel | use when |
/// |---|---|---|---|
/// | `BusySpin` | spin-loop hint only | never | each thread owns a core; lowest latency |
/// | `SpinYield` | spinning, then `yield_now` | `sched_yield` while waiting | cores are mostly free |
/// | `Park` (default) | brief spin, a few yields, then parking | when waiting long, and a `try_*`/`send`/`recv` may wake a parked peer | threads may outnumber cores |
///
/// # Examples
///
/// ```
/// use ringflow::{Builder, WaitStrategy};
///
/// assert_eq!(WaitStrategy::default(), WaitStrategy::Park);
/// let (mut tx, mut rx) = Builder::new(16).wait_strategy(WaitStrategy::BusySpin).spsc::<u32>();
/// tx.send(1).unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin with a CPU spin-loop hint until the operation can proceed. Never
    /// enters the kernel, so it is real-time safe, but it burns a core and
    /// collapses when threads outnumber cores (the spinning thread can hold
    /// the CPU that the peer it waits for needs).
    BusySpin,
    /// Retry after one spin-loop hint, a fixed number of times, then call
    /// `yield_now` between attempts. Gives the CPU away but never sleeps.
    SpinYield,
    /// Spin briefly, yield a few times, then park the thread until the other
    /// side notifies it. The only strategy that stays efficient when threads
    /// outnumber cores. Notification costs the other side a compiler fence
    /// and one load while nobody sleeps, and a system call when somebody does.
    #[default]
    Park,
}

/// Per-wait backoff state and deadline, driven by the blocking loops of both
/// primitives: `loop { try the operation; waiter.pause(..)? }`.
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    step: u32,
    /// Whether this call has been counted in its `waits` counter yet.
    counted: bool,
    /// Whether this call has gone to sleep at least once (see
    /// [`Sleepers::pass_baton`]).
    slept: bool,
}

/// What [`Waiter::pause`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Try the operation again.
    Retry,
    /// The deadline has passed; give up (after the attempt just made).
    TimedOut,
}

impl Waiter {
    #[inline]
    pub(crate) fn new(strategy: WaitStrategy, deadline: Option<Instant>) -> Self {
        Waiter { strategy, deadline, step: 0, counted: false, slept: false }
    }

    /// `true` if this call has slept on a [`Sleepers`] registry (it may
    /// have used a wake-up token meant for an item or slot it did not get).
    #[inline]
    pub(crate) fn slept(&self) -> bool {
        self.slept
    }

    /// Waits a little (spin, yield or park, as the strategy says) after a
    /// failed attempt. `ready` re-reads shared state and says whether the
    /// attempt could now succeed (or fail for good, e.g. disconnection); it
    /// is the re-check of the sleeper protocol and must not use cached
    /// positions.
    #[inline(always)]
    pub(crate) fn pause(
        &mut self,
        sleepers: &Sleepers,
        waits: Option<&AtomicU64>,
        barrier: Option<barrier::Kind>,
        ready: impl Fn() -> bool,
    ) -> Pause {
        // The spin step is inline in the caller's retry loop, so a busy wait
        // re-reads the other side's position every few instructions; the
        // deadline check, the counting, yielding and parking are out of line.
        if (self.deadline.is_some() || !self.counted) && self.check_in(waits) == Pause::TimedOut {
            return Pause::TimedOut;
        }
        match self.strategy {
            WaitStrategy::BusySpin => spin_hint(),
            _ if self.step < SPIN_STEPS => {
                // One hint per retry: the peer's publication is noticed
                // within one iteration, which keeps the latency of a short
                // wait close to `BusySpin`'s.
                spin_hint();
                self.step += 1;
            }
            _ => return self.yield_or_park(sleepers, barrier, ready),
        }
        Pause::Retry
    }

    /// The deadline check, and counting the call once it really waits (a
    /// zero timeout makes one attempt, times out here, and is not counted).
    #[inline(never)]
    fn check_in(&mut self, waits: Option<&AtomicU64>) -> Pause {
        if let Some(deadline) = self.deadline {
            if Instant::now() >= deadline {
                return Pause::TimedOut;
            }
        }
        if !self.counted {
            self.counted = true;
            if let Some(waits) = waits {
                waits.fetch_add(1, Ordering::Relaxed);
            }
        }
        Pause::Retry
    }

    /// Past the spin phase of `SpinYield` / `Park`: yield, then (`Park`)
    /// sleep on `sleepers`.
    #[inline(never)]
    fn yield_or_park(
        &mut self,
        sleepers: &Sleepers,
        barrier: Option<barrier::Kind>,
        ready: impl Fn() -> bool,
    ) -> Pause {
        if self.strategy == WaitStrategy::SpinYield || self.step < SPIN_STEPS + YIELD_STEPS {
            yield_now();
            self.step = (self.step + 1).min(SPIN_STEPS + YIELD_STEPS);
        } else {
            // A `Park` channel always carries its barrier kind.
            let kind = barrier.unwrap_or(barrier::Kind::Fence);
            self.slept = true;
            if sleepers.sleep(kind, self.deadline, ready) {
                return Pause::TimedOut;
            }
        }
        Pause::Retry
    }
}

/// Registry of threads sleeping on one condition of one channel (see the
/// module docs for the protocol).
///
/// Wake-ups are handed out as *tokens*: a notifier that finds a sleeper
/// without one gives it a token (and takes it off `count` at once), so while
/// a woken thread is still on its way out, further operations see
/// `count == 0` and skip the mutex entirely — one notification per sleep,
/// not one per operation.
#[derive(Debug)]
pub(crate) struct Sleepers {
    /// Registered sleepers that hold no token yet. Incremented by a waiter at
    /// registration (W1); decremented by the notifier that hands it a token,
    /// or by the waiter itself if it leaves without one (its re-check passed
    /// or its deadline expired). Read by every notify on a `Park` channel:
    /// it stays in the notifier's cache while nobody sleeps.
    count: AtomicUsize,
    /// Token bookkeeping; held by a waiter from its re-check until
    /// `Condvar::wait` releases it, and by a notifier while it hands out
    /// tokens.
    state: Mutex<Tokens>,
    cond: Condvar,
    /// Times a thread actually went to sleep here (stats only; 64-bit so
    /// that it never wraps, even on 32-bit targets).
    parks: AtomicU64,
    /// Tokens handed out: threads woken (stats only).
    wakeups: AtomicU64,
}

/// Invariant, under the mutex: `unnotified + tokens` equals the number of
/// threads inside `Condvar::wait` (or about to re-enter it). Sleepers are
/// interchangeable: a token may be used by a different sleeper than the one
/// it was meant for, and the count stays right.
#[derive(Debug, Default)]
struct Tokens {
    /// Sleeping threads not covered by a token.
    unnotified: usize,
    /// Tokens handed out and not yet used by a waking thread.
    tokens: usize,
}

impl Sleepers {
    pub(crate) fn new() -> Self {
        Sleepers {
            count: AtomicUsize::new(0),
            state: Mutex::new(Tokens::default()),
            cond: Condvar::new(),
            parks: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
        }
    }

    /// Notifier side: call after publishing (a Release store) on a `Park`
    /// channel. Costs the light barrier and one load while nobody sleeps.
    #[inline(always)]
    pub(crate) fn notify(&self, kind: barrier::Kind) {
        self.notify_n(kind, 1);
    }

    /// As [`notify`](Sleepers::notify) after publishing `n` items or slots
    /// at once: wakes one sleeper for one, every sleeper for more (each
    /// woken thread retries; those that find nothing sleep again).
    #[inline(always)]
    pub(crate) fn notify_n(&self, kind: barrier::Kind, n: usize) {
        barrier::light(kind);
        if self.count.load(Ordering::Relaxed) != 0 {
            self.wake(if n == 1 { 1 } else { usize::MAX });
        }
    }

    /// The baton of a woken waiter: call after a blocking operation that
    /// slept here (see [`Waiter::slept`]) has succeeded. If `ready` (fresh
    /// loads, as for [`sleep`](Sleepers::sleep)) says another waiter could
    /// proceed too, notify one more sleeper.
    ///
    /// Why it is needed (MPMC): tokens are handed out per publication, but
    /// a woken thread retries at the ring's *head* (or tail). With two
    /// publications out of order — position `p + 1` published while `p` is
    /// still being written by a preempted peer — the token for `p + 1`
    /// wakes a thread that finds `p` unready and sleeps again; the token
    /// for `p` then wakes one thread, which takes `p`, and without the
    /// baton `p + 1` would stay queued while the other sleeper sleeps on
    /// (loom: `mpmc_wake.rs`, `out_of_order_publications_wake_both_receivers`
    /// and its mirror for senders). The thread that takes `p` runs this and
    /// sees `p + 1` ready, so one more sleeper is woken.
    ///
    /// Why it is enough: a sleeper whose re-check ran after the publication
    /// of an item sees that item (the notify protocol); a sleeper whose
    /// re-check ran before it and that got no token is counted in `count`
    /// when this runs after the take (its registration and heavy barrier
    /// precede its re-check, our take precedes our light barrier: the
    /// Dekker pair of the module docs). A woken thread that fails again
    /// found the position at the head unready, and that position's own
    /// publication will notify.
    #[inline]
    pub(crate) fn pass_baton(&self, kind: barrier::Kind, ready: impl Fn() -> bool) {
        if ready() {
            self.notify(kind);
        }
    }

    /// Wakes every sleeper; used on disconnection. Always takes the mutex, so
    /// it needs no barrier (see the module docs).
    #[cold]
    pub(crate) fn wake_all(&self) {
        self.wake(usize::MAX);
    }

    /// Hands a token to up to `max` sleepers that hold none, and wakes them.
    #[cold]
    #[inline(never)]
    fn wake(&self, max: usize) {
        let mut state = lock(&self.state);
        let n = state.unnotified.min(max);
        if n == 0 {
            // Registered threads that are not waiting yet will re-check
            // under this mutex after we release it, and see what we published.
            return;
        }
        state.unnotified -= n;
        state.tokens += n;
        self.count.fetch_sub(n, Ordering::Relaxed);
        self.wakeups.fetch_add(n as u64, Ordering::Relaxed);
        if n == 1 {
            self.cond.notify_one();
        } else {
            self.cond.notify_all();
        }
    }

    /// Waiter side: registers, runs the heavy barrier, re-checks `ready`
    /// under the mutex and sleeps until it gets a token or `deadline`
    /// passes. Returns `true` if it returned because the deadline passed.
    /// The caller retries its operation either way.
    #[cold]
    pub(crate) fn sleep(&self, kind: barrier::Kind, deadline: Option<Instant>, ready: impl Fn() -> bool) -> bool {
        // W1: register. Relaxed is enough: the barrier below orders it.
        self.count.fetch_add(1, Ordering::Relaxed);
        // W2: pairs with the notifier's light barrier.
        if !barrier::heavy(kind) {
            // Without the barrier a notifier may not see the registration,
            // so sleeping could miss its wake-up. Do not sleep: unregister
            // and let the caller retry (it keeps waiting by yielding).
            self.count.fetch_sub(1, Ordering::Relaxed);
            yield_now();
            return false;
        }
        // W3: re-check under the mutex.
        let mut state = lock(&self.state);
        if ready() {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return true;
        }
        // W4: sleep until a token is available.
        state.unnotified += 1;
        self.parks.fetch_add(1, Ordering::Relaxed);
        loop {
            if state.tokens > 0 {
                // The notifier already took us off `count`.
                state.tokens -= 1;
                return false;
            }
            state = match deadline {
                None => self.cond.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        // Leave without a token: undo our own registration.
                        state.unnotified -= 1;
                        self.count.fetch_sub(1, Ordering::Relaxed);
                        return true;
                    }
                    self.cond.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Times a thread parked here.
    pub(crate) fn parks(&self) -> u64 {
        self.parks.load(Ordering::Relaxed)
    }

    /// Wake-ups delivered from here.
    pub(crate) fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }
}

/// Locks, ignoring poisoning: no code that can panic runs while it is held
/// (plain counter updates and the caller's `ready`, which only loads
/// atomics), so a poisoned state is still consistent.
fn lock<T>(m: &Mutex<T>) -> crate::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Converts a timeout into a deadline: one too large to add to `now` means
/// "no deadline" (wait forever), as DESIGN.md specifies.
#[inline]
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
