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
//! 2. heavy barrier ([`barrier::heavy`]), unless the ring proves it
//!    unnecessary (the MPMC ring: [`Settled`]; when it cannot, a re-check
//!    that already finds the condition ends the wait without the barrier);
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
//! 2. one load of `count` (`SeqCst`, for [`Settled`]; on x86 a plain
//!    load); only if it is non-zero, lock the mutex,
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
//!
//! # Tasks: a sleeper is a thread or a waker
//!
//! An async waiter (`future.rs`) sleeps in the same registry: its
//! [`Waker`] is stored under the mutex, keyed by a registration ticket,
//! and counted in the same `count` (W1, in the critical section that stores
//! it); then the task runs the heavy barrier (W2) and re-checks (W3); then
//! it returns `Pending` instead of waiting on the `Condvar` (W4). The
//! notifier is not changed at all: its `count` load sees threads and tasks
//! alike, and `wake` hands tokens to sleeping threads first, then takes
//! wakers out of the registry (oldest first, each off `count`) and wakes
//! them after releasing the mutex. The Dekker argument above is the same
//! (the task's store is the `count` increment, its load the re-check); the
//! mutex window argument is simpler, because the waker is stored *before*
//! the barrier: a notifier that sees the count finds the entry. A woken
//! task is off the registry ("my entry is gone" = "I was woken"); a task
//! dropped after that passes the wake-up on (one more `wake(1)` under the
//! mutex), which is lossless for the reason `wake_all` is. So one
//! publication wakes whichever kind waits, and a channel on which no task
//! ever waited runs exactly the code it ran before.
//!
//! # Paced registries: the fence pair on demand
//!
//! The asymmetric pair makes notifying free and registering dear: a
//! `membarrier` costs 0.5 µs when the other CPUs run no thread of the
//! process, but 11–15 µs (p50, 2-vCPU EPYC VM) when they do, e.g. while the
//! producer of a paced stream spins towards its next item. Where waiters
//! register for nearly every item — items (or room) 50 µs or more apart —
//! that is most of what waiting costs: `cargo bench --bench latency --
//! --quick --only paced` measured a thread receiving one item every 100 µs
//! at 37–47 % of its core against crossbeam-channel's 13–15 %, and `perf`
//! put 40 % of an async consumer's CPU time at that pace (a scratch
//! program) in the `membarrier` IPI. So a
//! registry switches between two barrier pairs: the `membarrier` pair while
//! its waits are brisk, the fence pair (`fence(SeqCst)` on both sides, ~5 ns
//! per notify) while they are paced — [`FENCE_AFTER_PACED`] thread waits
//! in a row that slept, lasted [`PACED_WAIT_NS`] or more, and found their
//! side at most [`PACED_MAX_MOVED`] items further than the previous one
//! (a fast stream that now and then stalls moves thousands, and must not
//! put every notify on a fence).
//!
//! Tasks' waits teach it too: an async operation that returned `Pending`
//! after registering (its re-check found nothing) has slept, and its wait
//! is timed from then to its completion (a clock read only on the way to
//! sleep). A task that spun before registering counts by the threads'
//! rule; time spent spinning, or in registrations whose re-check found the
//! item, is not a sleep, so a ping-pong whose tasks catch their answers
//! spinning never counts as paced. (An earlier rule, measured on
//! 2026-12-02 and not kept, whose code is gone, took the async ping-pong
//! out of its spinning equilibrium: p50 5.7–21.5 µs in 11 of 11 runs
//! against about 0.3 µs; `docs/measurements.md`, "Async", has the
//! measurements of this one.) A task that did not spin (its peer runs on
//! its thread, or it streams) counts a sleep of any length as paced if its
//! side moved at most [`TASK_PACED_MAX_MOVED`] items since the previous
//! one: a task stream over a small ring sleeps every few items, a few
//! hundred ns each, and paid a `membarrier` every time (`future.rs`,
//! "Which barrier pair a task's registry takes"). A task wait that ended
//! without sleeping counts neither way.
//!
//! The mode lives in the top bits of `count`, so the notifier still reads
//! one word: [`NOTIFY_FENCES`] (N) and [`WAITERS_FENCE`] (W), and a third,
//! [`HOME`] (H), for the home threads of the next section.
//!
//! - Notifier: after its light barrier it loads `count` as before; if the
//!   value is 0, done. If N is set, `fence(SeqCst)` and load `count` again;
//!   wake if the count under the bits is not 0.
//! - Waiter: W1 is a `fetch_add(SeqCst)` whose read tells the mode; if W is
//!   set, W2 is `fence(SeqCst)`, otherwise the heavy barrier.
//! - On (a thread, after [`FENCE_AFTER_PACED`] paced waits in a row): set
//!   N (only the thread whose `fetch_or` set it goes on), run the heavy
//!   barrier, set W with `Release`.
//! - Off (a thread, after [`UNFENCE_AFTER_BRISK`] brisk waits in a row:
//!   waits that ended without sleeping, or were not paced; or a notifier,
//!   after [`UNFENCE_AFTER_UNHEARD`] fenced notifications in a row that
//!   found nobody registered, which is how a side that stopped waiting
//!   altogether is seen): clear N and W in one read-modify-write, and only
//!   when W is set.
//!
//! Why no wake-up is lost (every write to `count` is a read-modify-write, so
//! a value read includes every registration earlier in its modification
//! order):
//!
//! - A waiter that read no W ran the heavy barrier: the argument above,
//!   whatever the notifier did.
//! - A waiter that read W and a notifier that read N both ran
//!   `fence(SeqCst)`: the same Dekker argument with fences.
//! - A waiter that read W and a notifier that read no N. Either that value
//!   comes before the N that the waiter's W belongs to (set before it by
//!   the same switch, with no clearing in between): then the notifier's
//!   load came before the switch's `membarrier` made it run a full barrier
//!   (a load after that barrier would see N), so its publication, earlier
//!   in program order, happens before the barrier returns, before W is set
//!   with `Release`, which the waiter's `Acquire` read synchronises with:
//!   its re-check sees the publication. Or that value comes after a
//!   clearing of N and W that came after the waiter's registration in the
//!   modification order (its read saw W, and a clearing removes W): then
//!   the value includes the registration, the notifier sees a count and
//!   wakes it.
//!
//! Nothing here depends on which thread switches: a clearing is a
//! compare-exchange on the whole word that requires W (so it comes after
//! the switch that set it) and keeps the count (so a clearing after a
//! registration keeps the registration, the last case), whoever runs it;
//! the only other writes that remove N, a failed switch's undo (on, or
//! off a home, below), happen while W is clear, before any W.
//!
//! # Home threads: no fence where both sides run on one thread
//!
//! A task stream over a small ring whose two tasks share a thread (a
//! current-thread runtime, or tokio's LIFO slot on a multi-thread one)
//! sleeps every few items, so its registries take the fence pair, and then
//! every notification pays `fence(SeqCst)`: 39 % of the samples of a 1p1c
//! SPSC task stream at capacity 16 on one thread (`docs/measurements.md`,
//! "home threads"). Between two tasks of one thread that fence orders
//! nothing: a registration and a publication made on one thread are in its
//! program order. So a registry on the fence pair may have a *home*: the
//! thread [`Sleepers::home`] names while the third bit, [`HOME`] (H), is
//! set.
//!
//! - Notifier: a value with N and H (loaded with `Acquire`) and `home`
//!   naming the calling thread: no fence; the count is that value's.
//!   Otherwise as above. With nobody registered (a *quiet home*: every
//!   notification but about one per ring-full of a stream between two
//!   tasks on one thread) that is nothing to do: a small function returns
//!   before the general path ([`Sleepers::notify_nonzero`]), and the
//!   notification does not count towards switching the registry back (it
//!   paid no fence; see there). Through the general path, the SPSC stream
//!   at capacity 16 ran about 10 % slower (`docs/measurements.md`, "quiet
//!   homes").
//! - Waiter: if W1 read H and `home` names another thread, it ends the
//!   home (below), whose heavy barrier is also its W2. If it read W (with
//!   H naming the caller, or without H), `fence(SeqCst)`. Otherwise the
//!   heavy barrier. (A waiter of a pool on the MPMC ring whose [`Settled`]
//!   check holds runs no barrier at all and leaves a home in place: that
//!   argument rests on the notifier's first `SeqCst` load of `count`,
//!   which every notifier makes, at home or not.)
//! - On (a task of a side with one handle registering, with the mutex
//!   held, whose W1 read the fence pair without H, the [`HOME_AFTER`]-th
//!   such registration in a row made on the thread that last woke a task
//!   here): store its [`thread_token`] in `home`, then set H by a
//!   compare-exchange from the fence pair (`AcqRel`). `home` is written
//!   only so: under the mutex, while H is clear, by the thread it names.
//!   A pool's tasks register from whichever worker runs them, and each
//!   registration away would end the home.
//! - Off (a waiter away from home, after its registration): clear H and W
//!   in one compare-exchange that requires H, run the heavy barrier, then,
//!   if that compare-exchange was its own, set W with `Release` (the second
//!   half of the switch on; if the barrier fails, clear N instead).
//!   [`fence_pair_off`](Sleepers::fence_pair_off) clears H with the
//!   others.
//!
//! Thread tokens are unique in the process (a counter, not an address that a
//! later thread may reuse), so a `home` naming the caller was stored by the
//! caller; and the `Acquire` load that saw H makes the read of `home` return
//! the setting thread's value or a later one, not the caller's own from an
//! earlier home.
//!
//! Why no wake-up is lost, for a notifier T that skipped its fence on a
//! value c (with H, `home` = T), and a waiter X whose W1 read v:
//!
//! - X ran the heavy barrier (v without W, or with H naming another
//!   thread): the `membarrier` argument, whatever T did.
//! - X = T: the registration and the publication are in T's program order,
//!   and each side's later load sees the other's earlier store.
//! - X ≠ T ran `fence(SeqCst)`. If v comes before c in the modification
//!   order, c includes X's registration, and T wakes X. If after: v has W
//!   and either no H or H naming X, so c's H was cleared between them (only
//!   an off-switch or `fence_pair_off` clears H, and `home` changes only
//!   while H is clear); both clear W, so W was set again after the
//!   clearing, by a thread that ran the heavy barrier in between (the
//!   off-switch itself, or a later switch on). T's load of c read a value
//!   from before the clearing, so it ran before that barrier's point on T's
//!   CPU (after it, the load would see the clearing); T's publication,
//!   earlier in its program order, happens before the barrier returns,
//!   before W is set with `Release`, which X's W1 (`Acquire`, reading a
//!   later value of the same read-modify-write chain) synchronises with: X's
//!   re-check sees the publication.
//!
//! Notifiers elsewhere fence on every value with N, and waiters that fence
//! pair with them as on the fence pair.
//!
//! loom does not check the switches: under loom the pair is `fence(SeqCst)`
//! on both sides and a registry never switches (so it never has a home),
//! and like the `membarrier` pair itself, the arguments rest on what
//! `membarrier` guarantees, which loom cannot model. Tests: the unit tests
//! below (the mode bits, the streaks, wake-ups of a thread and a task on
//! the fence pair, a home taken and left, one `membarrier` to leave it and
//! its failure), two stress tests of the race a home opens (a waiter away
//! against notifications at home, a waiter at home against notifications
//! from away: 20 000 rounds in `cargo test`, 10^6 in CI, where a waiter
//! away that only fenced lost 47–3 402 wake-ups per 10^6 rounds and
//! notifiers that skipped the fence wherever they ran lost 374–1 824),
//! `tests/flow.rs`'s paced / brisk stretches (threads on both rings, and a
//! task receiving from a thread), which also checks that registries did
//! switch (with the notifier's fenced path removed it hangs), and a smoke
//! test in `tests/async.rs`, a task stream whose receiver leaves the home
//! thread.

use core::task::Waker;

use crate::buffer::{each_catching_panics, lap_distance};
use crate::{RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
use std::collections::VecDeque;

use crate::sync::AtomicU32;
#[cfg(doc)]
use crate::sync::TASK_PACED_MAX_MOVED;
use crate::sync::TASK_SPIN_PROBE_EVERY;
use crate::sync::{
    barrier, fence, spin_hint, yield_now, AtomicBool, AtomicU64, AtomicUsize, Condvar, Instant, Mutex, MutexGuard,
    Ordering,
};
#[cfg(not(loom))]
use crate::sync::{
    current_cpu, move_elsewhere, thread_token, thread_token_if_drawn, Move, PARK_SPIN_OFF_NS, SPIN_CLOCK_EVERY,
    YIELD_RAN_ANOTHER_NS,
};
#[cfg(not(loom))]
use crate::sync::{FENCE_AFTER_PACED, PACED_MAX_MOVED, PACED_WAIT_NS, UNFENCE_AFTER_BRISK, UNFENCE_AFTER_UNHEARD};
#[cfg(not(loom))]
use crate::sync::{HOME_AFTER, SHARED_TOKEN};
use crate::sync::{NO_CPU, SHARED_CORE_PROBE_EVERY, SPIN_STEPS, YIELD_STEPS};
use crate::sync::{PARK_INLINE_SPINS, PARK_SPIN_INITIAL_NS, PARK_SPIN_MAX_NS, SHORT_WAIT_RETRIES};
#[cfg(not(loom))]
use crate::sync::{
    TASK_APART_AFTER, TASK_APART_PROBE_EVERY, TASK_AWAY_OFF_AFTER, TASK_AWAY_PROBE_EVERY, TASK_AWAY_SPIN_NS,
};
use crate::sync::{TASK_BRIDGE_NS, TASK_GATHER_NS, TASK_GATHER_SLOT_NS, TASK_SPIN_MAX_NS, TASK_SPIN_ON_NS};

/// Turns moving threads off (or back on) for every `Park` channel of the
/// process, also those built with
/// [`Builder::move_threads(true)`](crate::Builder::move_threads), the
/// default: for a program whose threads' affinity masks something else
/// owns, with channels it does not build itself (inside another crate). On
/// at start; a `sched_setaffinity` call that fails turns it off.
///
/// # Examples
///
/// ```
/// ringflow::set_move_threads(false);
/// let (tx, rx) = ringflow::mpmc::channel::<u32>(1);
/// tx.send(1).unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn set_move_threads(on: bool) {
    crate::sync::set_moves(on);
}

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
/// primitives: `loop { try the operation; waiter.pause(..)? }`, then
/// [`Waiter::done`] once the operation succeeded.
///
/// # The adaptive `Park` policy
///
/// A `Park` wait goes through three phases: spin (one spin-loop hint per
/// retry), yield (up to `YIELD_STEPS` `yield_now` calls), park (sleep on the
/// registry until notified). How long it spins is learned per registry —
/// per channel and direction: waiting senders, waiting receivers — from how
/// the recent waits there ended, in [`Sleepers::learn`]:
///
/// - the first `PARK_INLINE_SPINS` retries spin without looking at a clock
///   (the short waits of a ping-pong or a busy stream end here, and pay no
///   clock read); after that the wait reads the clock every
///   `SPIN_CLOCK_EVERY` retries and spins on while the registry's *spin
///   budget* lasts;
/// - a wait that ended while spinning after `t` keeps the budget at least
///   `2t` (and lets it decay by 1/8 towards that): gaps that spinning
///   bridges keep being bridged;
/// - a wait that had to yield or park but ended within `PARK_SPIN_MAX_NS`
///   sets the budget to 1.5× its length: spinning that long would have
///   caught it (an item every 10 µs ends up caught while spinning);
/// - a wait longer than that shrinks the budget by a quarter: an idle or
///   slow channel settles into parking within a few waits, spinning only
///   the inline retries (an item every 100 µs or 1 ms costs a few µs of CPU
///   per item);
/// - a wait in which a `yield_now` ran another thread (took
///   `YIELD_RAN_ANOTHER_NS` or more) halves the budget: another thread was waiting for this core — likely
///   the very peer this thread waits for (both on one core, or threads
///   outnumbering cores) — so spinning only delays it;
/// - a budget below `PARK_SPIN_OFF_NS` turns spinning off: a wait that
///   begins then skips the clocked spin and, where one thread waits on
///   each side (SPSC, a broadcast receiver), what is left of its inline
///   retries too, and yields at once (it still reads the clock, so how it
///   ends is learned: a gap a spin would have bridged turns spinning back
///   on). Both threads pinned to one core, `targets`' one-core rows: the
///   inline retries alone had cost ~2 µs per wait there. Where several
///   threads wait on a side (MPMC) the inline retries stay (see
///   [`Waiter::begin`]).
///
/// Bounds: a wait never spins longer than `PARK_SPIN_MAX_NS` (50 µs) past
/// its inline retries, then yields at most `YIELD_STEPS` times, then parks.
/// CPU cost: at most that spin per wait; while the waits are longer than
/// the cap, only the inline retries and the yields. The budget is a plain
/// atomic word written only at the end of a wait that read the clock, on a
/// line that only waiters write and notifiers read; the notification
/// protocol (and so its proof) is untouched: the policy only decides *when*
/// to enter [`Sleepers::sleep`].
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    /// Retries so far (the spin phase's steps).
    step: u32,
    /// The spin phase goes on inline while `step < spin_limit`; for `Park`
    /// the out-of-line check moves the limit on while the budget lasts.
    spin_limit: u32,
    /// Whether this call has been counted in its `waits` counter yet.
    counted: bool,
    /// Whether this call has gone to sleep at least once (see
    /// [`Sleepers::pass_baton`]).
    slept: bool,
    /// `yield_now` calls made in this wait (`YIELD_STEPS` without any when
    /// a shared-core probe's evidence sends the wait to sleep at once where
    /// moving is off, see [`Waiter::leave_shared_core`]).
    yields: u32,
    /// `Park`: a `yield_now` in this wait took long (another thread ran).
    #[cfg_attr(loom, allow(dead_code))]
    contended: bool,
    /// `Park`: the peer last began a wait on this thread's CPU
    /// ([`Waiter::begin`]): this wait reads no clock and is learned as
    /// contended.
    #[cfg_attr(loom, allow(dead_code))]
    shared_core: bool,
    /// `Park`: this shared-core wait is the registry's probe: it times its
    /// first yield ([`Waiter::begin`]).
    #[cfg_attr(loom, allow(dead_code))]
    probe: bool,
    /// Several threads may wait on this side and on the other (the MPMC
    /// ring): a low spin budget then leaves the inline retries on
    /// ([`Waiter::begin`]).
    several: bool,
    /// `Park`: when the clocked part of the spin began (`None`: the wait
    /// ended within the inline retries), and the budget it ran to.
    #[cfg_attr(loom, allow(dead_code))]
    clock: Option<(Instant, u32)>,
    /// The wait goes on from a [`short_wait`]: only a plain SPSC `send` or
    /// `recv` comes here, and the send ran its refill gap before its short
    /// wait (`spsc::Producer::send_waiting`), so this wait's first pause
    /// does not run [`Blocking::first_pause`] again.
    after_short: bool,
}

/// What [`Waiter::pause`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Try the operation again.
    Retry,
    /// The deadline has passed; give up (after the attempt just made).
    TimedOut,
}

/// How a `Park` wait ended, for [`Sleepers::learn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(loom, allow(dead_code))]
pub(crate) enum Ended {
    /// While spinning.
    Spinning,
    /// After yielding or parking, with no sign of a busy core.
    Waiting,
    /// A yield handed the core to another thread for a while.
    Contended,
}

impl Waiter {
    #[inline]
    pub(crate) fn new(strategy: WaitStrategy, deadline: Option<Instant>) -> Self {
        let spin_limit = if strategy == WaitStrategy::Park { PARK_INLINE_SPINS } else { SPIN_STEPS };
        Waiter {
            strategy,
            deadline,
            step: 0,
            spin_limit,
            counted: false,
            slept: false,
            yields: 0,
            contended: false,
            shared_core: false,
            probe: false,
            several: false,
            clock: None,
            after_short: false,
        }
    }

    /// The waiter of a call whose [`short_wait`] ran out: its retries were
    /// this wait's first spin steps (so the strategy's spin phase is not
    /// lengthened) and it counted the wait; the wait begins here.
    #[inline]
    fn after_short_wait(
        strategy: WaitStrategy,
        deadline: Option<Instant>,
        sleepers: &Sleepers,
        peer: Option<&Sleepers>,
    ) -> Self {
        let mut waiter = Waiter::new(strategy, deadline);
        waiter.counted = true;
        waiter.after_short = true;
        waiter.step = SHORT_WAIT_RETRIES;
        waiter.begin(sleepers, peer);
        waiter
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
        peer: Option<&Sleepers>,
        waits: Option<&AtomicU64>,
        barrier: Option<barrier::Kind>,
        ready: impl Fn() -> bool,
    ) -> Pause {
        self.pause_settled(sleepers, peer, waits, barrier, None, ready)
    }

    /// [`pause`](Waiter::pause) for a wait whose ring can prove a sleep
    /// safe without the heavy barrier ([`Settle`]; the MPMC ring).
    #[inline(always)]
    pub(crate) fn pause_settled(
        &mut self,
        sleepers: &Sleepers,
        peer: Option<&Sleepers>,
        waits: Option<&AtomicU64>,
        barrier: Option<barrier::Kind>,
        settle: Option<Settle<'_>>,
        ready: impl Fn() -> bool,
    ) -> Pause {
        // The spin step is inline in the caller's retry loop, so a busy wait
        // re-reads the other side's position every few instructions; the
        // deadline check, the counting, the clock, yielding and parking are
        // out of line.
        if (self.deadline.is_some() || !self.counted) && self.check_in(sleepers, peer, waits) == Pause::TimedOut {
            return Pause::TimedOut;
        }
        match self.strategy {
            WaitStrategy::BusySpin => spin_hint(),
            _ if self.step < self.spin_limit => {
                // One hint per retry: the peer's publication is noticed
                // within one iteration, which keeps the latency of a short
                // wait close to `BusySpin`'s.
                spin_hint();
                self.step += 1;
            }
            _ => return self.past_spin_limit(sleepers, barrier, settle, ready),
        }
        Pause::Retry
    }

    /// The deadline check, and counting the call once it really waits (a
    /// zero timeout makes one attempt, times out here, and is not counted);
    /// a wait that begins here also looks at the registry's budget
    /// ([`Waiter::begin`]).
    #[inline(never)]
    fn check_in(&mut self, sleepers: &Sleepers, peer: Option<&Sleepers>, waits: Option<&AtomicU64>) -> Pause {
        if let Some(deadline) = self.deadline {
            if Instant::now() >= deadline {
                return Pause::TimedOut;
            }
        }
        if !self.counted {
            self.counted = true;
            self.begin(sleepers, peer);
            if let Some(waits) = waits {
                waits.fetch_add(1, Ordering::Relaxed);
            }
        }
        Pause::Retry
    }

    /// The start of a wait (its first pause, or the driver taking over from
    /// [`short_wait`]) on a `Park` channel. The wait spins no more and goes
    /// on to yielding at once if spinning cannot pay:
    ///
    /// - a thread of the other side (`peer`: the other side's registry; on
    ///   an SPSC ring, and for a broadcast receiver the sender's, that is
    ///   the one thread it waits for) last began a wait on the CPU this
    ///   thread is on now, so it is most likely queued behind this thread;
    ///   the wait then reads no clock either (each read took 30 ns on the
    ///   EPYC VM, four per wait) and is learned as contended (which also
    ///   turns the short wait's retries off);
    /// - or, where one thread waits on each side (not `several`), the
    ///   registry has learned that spinning does not pay (a budget below
    ///   `PARK_SPIN_OFF_NS`: the peer shares this core, or waits here are
    ///   long).
    ///
    /// The first rule holds on the MPMC ring too: a receiver that drains
    /// the ring on the CPU where a sender began waiting for room (or the
    /// reverse) has that sender queued behind it, and every spin step only
    /// delays it. With a sender and a receiver sharing one core, yielding
    /// at once moved 1.18–1.30 times the items per second of spinning first
    /// (2026-12-02, AMD EPYC VM, pinned scratch runs of the two builds,
    /// medians of per-round ratios; `cargo bench --bench targets` "MPMC one
    /// core": 0.52–0.61× → 0.67–0.68× kanal; `docs/measurements.md`, "MPMC on
    /// one core").
    ///
    /// Where several threads may wait on a side (the MPMC ring), a low
    /// budget alone still leaves the inline retries on (only the clocked
    /// spin past them is off). There the budget falls for another reason:
    /// with more threads than cores, the waiters' own yields hand the core
    /// to each other and take `YIELD_RAN_ANOTHER_NS` or more. Skipping the
    /// inline retries then turned every wait into a chain of `yield_now`
    /// calls between waiters, each switching to another waiter: the kanal
    /// suite's capacity-1 `mpmc` cases (4 + 4 threads, 2 vCPUs) ran at
    /// 0.13–0.20× the best peer, and at 2.29–2.94× with the inline retries
    /// kept (`cargo bench --bench suite -- --rounds 3 "suite bounded1_mp"`,
    /// three alternated pairs, 2026-12-01): a waiter then catches the other
    /// side's next publication while it runs on the other core.
    ///
    /// A wait that begins on a shared core yields (to the peer it waits
    /// for). About one in `SHARED_CORE_PROBE_EVERY` such waits on this
    /// registry (the count is racy where several threads wait) is a probe:
    /// it times its first yield, and if that took `YIELD_RAN_ANOTHER_NS` or more
    /// (another thread ran: the sharing is real), the next wait here that
    /// begins on a shared core moves its thread to another CPU of the
    /// thread's affinity mask ([`move_elsewhere`]; the mask is kept). (The
    /// evidence matters: `waiter_cpu` goes stale when the other side stops
    /// waiting, and then a wait sees a shared core that is not; acting on
    /// that made the peer wake a sleeping thread in a first version, which
    /// cost a producer that never waits, sending an item every ~0.5 µs,
    /// 10–30 % of its rate. A yield with nothing else to run returned in
    /// ~0.4 µs on the 2-vCPU VM, one that ran a yielding peer in ~2.3 µs.)
    ///
    /// Yielding keeps both threads runnable on one CPU and switching every
    /// few hundred ns, and the scheduler did not move either to the idle
    /// CPU: the kanal suite's `bounded1_mpsc` (4 senders, 1 receiver,
    /// capacity 1, unpinned), once three senders had finished, ran its last
    /// sender and the receiver on one vCPU for half the run or more (1–3
    /// migrations in the whole run), the other vCPU idle; so did
    /// `bounded1_mpmc` (4 + 4) with its last pair. Sleeping at once instead
    /// (the previous version, and what a wait does when moving is off or
    /// refused) let the peer's wake-up place the thread, and Linux often
    /// put it back on the busy vCPU (in one run the last sender slept 1 320
    /// times and migrated once).
    ///
    /// The move is made so that it sticks: the new CPU is noted in
    /// `waiter_cpu` before the thread migrates and the other side's
    /// evidence is taken, else the other thread, beginning a wait on the
    /// old CPU while this one migrates, saw the old CPU, moved too and
    /// landed next to it again (both migrated ~940 times in one run); and
    /// both sides' spin budgets are set to spin again
    /// ([`Sleepers::spin_again`]), since the shared-core waits taught them
    /// that spinning does not pay, and a side that slept instead was woken
    /// next to the other. Costs: two clock reads per probe; per probe that
    /// saw the sharing, three system calls and a migration (unpinned; and
    /// once per thread a read of `/proc/thread-self/status`), one
    /// (`sched_getaffinity`, pinned to one CPU: no move), or that call, a
    /// sleep and a wake-up (moving off: [`Builder::move_threads`](crate::Builder::move_threads),
    /// [`set_move_threads`], a seccomp filter).
    ///
    /// It also records this thread's CPU in its own registry, for the peer.
    #[inline]
    fn begin(&mut self, sleepers: &Sleepers, peer: Option<&Sleepers>) {
        #[cfg(not(loom))]
        if self.strategy == WaitStrategy::Park {
            if let Some(peer) = peer {
                let mut cpu = current_cpu();
                self.shared_core = cpu != NO_CPU && peer.waiter_cpu.load(Ordering::Relaxed) == cpu;
                if self.shared_core && sleepers.take_shared_core_seen() {
                    cpu = self.leave_shared_core(sleepers, peer, cpu);
                }
                sleepers.note_cpu(cpu);
                if self.shared_core && self.yields == 0 {
                    self.probe = sleepers.shared_core_probe_due();
                }
            }
            if self.shared_core || (!self.several && peer.is_some() && !spinning_pays(sleepers.spin_budget())) {
                self.spin_limit = self.step;
            }
        }
        #[cfg(loom)]
        let _ = (sleepers, peer);
    }

    /// [`Waiter::begin`], on a shared core that a probe showed is really
    /// shared: moves this thread to another CPU, or where moving is off
    /// makes the wait sleep at once (no yields: the peer's wake-up may
    /// place the thread on another CPU); a pinned thread waits as before.
    /// Returns the CPU the thread is on now (`cpu` unless it moved). Out of
    /// line: it runs on one wait in `SHARED_CORE_PROBE_EVERY` or fewer.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn leave_shared_core(&mut self, sleepers: &Sleepers, peer: &Sleepers, cpu: u32) -> u32 {
        // The other side must not move too, which it would if it began a
        // wait here while this thread is migrating (this thread's CPU
        // noted as the old one, its own evidence not yet taken): both
        // would land on one CPU again. So the new CPU is noted first, and
        // the other side's evidence is taken (and given back if this
        // thread does not move).
        let peer_saw = peer.take_shared_core_seen();
        let moved = move_elsewhere(sleepers.moves && peer.moves, |there| sleepers.note_cpu(there));
        if peer_saw && moved != Move::Moved {
            peer.saw_shared_core(); // not this wait's to take
        }
        match moved {
            Move::Moved => {
                self.shared_core = false;
                // The waits on the shared core taught both sides that
                // spinning does not pay; on two CPUs it does, and a side
                // that went to sleep instead would be woken next to the
                // other.
                sleepers.spin_again();
                peer.spin_again();
                current_cpu()
            }
            Move::NotMoved => {
                self.yields = YIELD_STEPS;
                cpu
            }
            Move::Stay => cpu,
        }
    }

    /// Past the inline spin steps: for `Park`, spin on while the learned
    /// budget lasts (checking the clock every `SPIN_CLOCK_EVERY` retries);
    /// then yield (`SpinYield`: for good; `Park`: `YIELD_STEPS` times), then
    /// (`Park`) sleep on `sleepers`.
    #[inline(never)]
    fn past_spin_limit(
        &mut self,
        sleepers: &Sleepers,
        barrier: Option<barrier::Kind>,
        settle: Option<Settle<'_>>,
        ready: impl Fn() -> bool,
    ) -> Pause {
        let park = self.strategy == WaitStrategy::Park;
        // loom has no time (and a clock would make its executions differ):
        // under loom a `Park` wait is inline spins, yields, then parking.
        #[cfg(not(loom))]
        if park && self.yields == 0 && !self.slept && !self.shared_core {
            let now = Instant::now();
            let (started, budget) = *self.clock.get_or_insert_with(|| (now, sleepers.spin_budget()));
            // The clock is started even when spinning is off, so that how
            // this wait ends is learned (and can turn spinning back on).
            if spinning_pays(budget) && now.saturating_duration_since(started).as_nanos() < u128::from(budget) {
                self.spin_limit = self.step.saturating_add(SPIN_CLOCK_EVERY);
                spin_hint();
                self.step += 1;
                return Pause::Retry;
            }
        }
        if !park || self.yields < YIELD_STEPS {
            #[cfg(not(loom))]
            let before = (park && (!self.shared_core || self.probe)).then(Instant::now);
            yield_now();
            #[cfg(not(loom))]
            if let Some(took) = before.map(|t| t.elapsed().as_nanos()) {
                if self.probe {
                    self.probe = false;
                    if yield_ran_another_thread(took) {
                        sleepers.saw_shared_core();
                    }
                } else if yield_ran_another_thread(took) {
                    self.contended = true;
                }
            }
            self.yields = self.yields.saturating_add(1);
        } else {
            // A `Park` channel always carries its barrier kind.
            let kind = barrier.unwrap_or(barrier::Kind::Fence);
            self.slept = true;
            if sleepers.sleep(kind, self.deadline, settle, ready) {
                return Pause::TimedOut;
            }
        }
        Pause::Retry
    }

    /// Call once the operation this waiter waited for has succeeded: on
    /// `Park` channels, a wait that ran past its inline retries teaches the
    /// registry's spin budget how it ended (see the type's docs). Free for
    /// the other strategies and for short waits.
    #[inline]
    pub(crate) fn done(&self, sleepers: &Sleepers) {
        #[cfg(not(loom))]
        if self.shared_core {
            let budget = sleepers.spin_budget();
            sleepers.learn(budget, 0, Ended::Contended);
        } else if let Some((started, budget)) = self.clock {
            let waited = u32::try_from(started.elapsed().as_nanos()).unwrap_or(u32::MAX);
            let ended = if self.contended {
                Ended::Contended
            } else if self.yields == 0 && !self.slept {
                Ended::Spinning
            } else {
                Ended::Waiting
            };
            sleepers.learn(budget, waited, ended);
        }
        #[cfg(loom)]
        let _ = sleepers;
    }
}

impl WaitOn<'_> {
    /// Call once a wait here that slept (a thread parked, a task returned
    /// `Pending` after registering) has ended, on a `Park` channel (`park`:
    /// its barrier kind; a no-op elsewhere): tells the registry how it
    /// went, for its choice of barrier pair ("Paced registries"). One rule
    /// for threads ([`Waiter`]) and tasks (`future.rs`): a `long` sleep
    /// counts as paced if its side moved at most `max_moved` items since
    /// the previous one ([`Sleepers::learn_registered`]), any other as
    /// brisk.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn learn_sleep(&self, long: bool, max_moved: usize) {
        if let Some(kind) = self.park {
            self.sleepers.learn_registered(kind, long, self.progress.as_ref(), max_moved);
        }
    }

    /// Call once a thread's wait here that did not sleep has ended, on a
    /// `Park` channel (a no-op elsewhere): a brisk wait
    /// ([`Sleepers::learn_brisk`]). (A task's wait that did not sleep
    /// teaches nothing: `future.rs`, "Which barrier pair a task's registry
    /// takes".)
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn learn_no_sleep(&self) {
        if self.park.is_some() {
            self.sleepers.learn_brisk();
        }
    }
}

/// Where and how a blocking operation waits: its registry, its wait
/// counter, the channel's barrier kind (`Some` on `Park` channels) and
/// strategy, and whether several threads may wait on the registry (then a
/// woken thread that succeeds passes the baton, [`Sleepers::pass_baton`]).
pub(crate) struct WaitOn<'a> {
    pub(crate) sleepers: &'a Sleepers,
    pub(crate) waits: Option<&'a AtomicU64>,
    pub(crate) park: Option<barrier::Kind>,
    pub(crate) strategy: WaitStrategy,
    pub(crate) baton: bool,
    /// This side's position and handle count, for the task policies
    /// (`future.rs`: tasks may spin or gather before they register);
    /// `None` where neither applies (the broadcast ring).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) progress: Option<Progress<'a>>,
    /// `Park`: the other side's registry (that of the one thread this side
    /// waits for on an SPSC ring, and of a broadcast receiver's sender),
    /// for the shared-core check of [`Waiter::begin`]; with `baton` (several
    /// threads a side) only that check uses it.
    pub(crate) peer: Option<&'a Sleepers>,
    /// `Park` on the MPMC ring: how a waiter that has registered can prove,
    /// with one load, that it may sleep without the heavy barrier
    /// ([`Settle`]); `None` elsewhere.
    pub(crate) settle: Option<Settle<'a>>,
}

impl WaitOn<'_> {
    /// Whether a thread's wait here begins by spinning: always, but for a
    /// `Park` wait whose registry's learned spin budget says spinning does
    /// not pay (the waits there outlast any spin, or the other side shares
    /// this core; see [`Waiter::begin`]).
    #[inline(always)]
    pub(crate) fn spins_first(&self) -> bool {
        #[cfg(not(loom))]
        if self.strategy == WaitStrategy::Park && !spinning_pays(self.sleepers.spin_budget()) {
            return false;
        }
        true
    }
}

/// A ring whose other side claims positions with sequentially consistent
/// read-modify-writes of one counter (the MPMC ring: senders move `tail`,
/// receivers `head`, each by a `SeqCst` compare-exchange), and notifies
/// with a `SeqCst` load of the registry's count after it publishes.
///
/// For such a ring the waiter's half of the Dekker pair does not need the
/// heavy barrier when nothing of the other side is in flight: the
/// registration is a `SeqCst` read-modify-write of `count`, and
/// [`settled`](Settled::settled) then loads that counter with `SeqCst`. If
/// the load shows the other side has claimed nothing the waiter could use
/// (a receiver: `tail` equals the `head` it read; a sender: the ring holds
/// `capacity` items), every claim that could end the wait is a later
/// modification of the counter, hence after that load in the single total
/// order of `SeqCst` operations (a load reading a value earlier in the
/// modification order than a write comes before it), and so is the
/// claimant's notification load, which therefore reads the registration.
/// Otherwise (a claim is in flight, not yet published) the waiter runs the
/// heavy barrier as before, which pairs with the notifier's light barrier.
/// On x86 these orderings are the instructions the relaxed forms compile to
/// (`lock cmpxchg`, `lock xadd`, `mov`), so the notifier pays nothing more.
pub(crate) trait Settled {
    /// After a registration of a waiter of `side`: whether the other side's
    /// counter (a `SeqCst` load) shows no claim the waiter could use.
    fn settled(&self, side: Side) -> bool;
}

/// A [`Settled`] ring, the side that waits on it and that side's handle
/// count.
///
/// Used only while the side has several handles (a pool of threads or
/// tasks). A lone waiter keeps the heavy barrier: measured with the async
/// ping-pong (`cargo bench --bench async -- --ping`, MPMC, 2026-12-02), a
/// lone task whose registration was cheap really slept in some rounds and
/// waited for the executor to wake it (p50 up to 19–38 µs in a round,
/// against at most 0.3 µs with the barrier, during which the answer
/// arrives; see "Paced registries" above for the same effect).
#[derive(Clone, Copy)]
pub(crate) struct Settle<'a> {
    pub(crate) ring: &'a (dyn Settled + 'a),
    pub(crate) side: Side,
    pub(crate) handles: &'a AtomicUsize,
}

impl Settle<'_> {
    /// Whether a waiter that has registered may sleep without the heavy
    /// barrier (see [`Settled`]): its side has several handles, and the
    /// ring says so.
    fn holds(self) -> bool {
        if self.handles.load(Ordering::Relaxed) < 2 {
            return false;
        }
        // loom treats `SeqCst` loads and read-modify-writes as `AcqRel`, so
        // the single-total-order argument does not hold in its model; a
        // `SeqCst` fence between the registration and the load is the
        // stand-in it does model (as for the page retirement handshake).
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        self.ring.settled(self.side)
    }
}

/// The position a side of a ring moves (`head` or `tail`), how to count
/// items between two of its values, and the ring's capacity: what the task
/// policies of `future.rs` look at.
#[derive(Clone, Copy)]
pub(crate) struct Progress<'a> {
    pub(crate) pos: &'a AtomicUsize,
    /// `0` for a plain counter (one position per item); otherwise the MPMC
    /// ring's `one_lap`, whose positions are `lap + index` with
    /// `index < per_lap`.
    pub(crate) one_lap: usize,
    pub(crate) per_lap: usize,
    /// The ring's capacity (items): bounds how much a task's gather can
    /// wait for (`future.rs`).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) capacity: usize,
    /// The number of handles on this side, where there may be several (the
    /// MPMC senders and receivers): tasks spin or gather only while it is 1.
    pub(crate) handles: Option<&'a AtomicUsize>,
}

/// A side of a ring (of the MPMC ring, for [`Settle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Send,
    Receive,
}

impl<'a> Progress<'a> {
    /// A plain counter (one position per item) of a side with one handle.
    pub(crate) fn counter(pos: &'a AtomicUsize, capacity: usize) -> Self {
        Progress { pos, one_lap: 0, per_lap: 0, capacity, handles: None }
    }

    /// Whether this side has one handle (always, where it cannot have more).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn alone(&self) -> bool {
        self.handles.map_or(true, |h| h.load(Ordering::Relaxed) == 1)
    }

    /// Items from position `from` to position `to` (wrapping: a `from`
    /// after `to` gives a huge count).
    #[cfg_attr(loom, allow(dead_code))]
    fn moved(&self, from: usize, to: usize) -> usize {
        if self.one_lap == 0 {
            return to.wrapping_sub(from);
        }
        usize::try_from(lap_distance(from, to, self.one_lap, self.per_lap)).unwrap_or(usize::MAX)
    }
}

/// One operation of one ring (a send or a receive), as the one driver,
/// [`drive`], sees it. Every ring implements it for each of its blocking
/// directions; `send` / `recv` and their timeout forms are [`block`] with a
/// deadline, `send_async` / `recv_async` are `drive` with a task's way of
/// waiting (`future.rs`).
pub(crate) trait Blocking {
    /// What an attempt hands to the next one (a send's value; `()` for a
    /// receive).
    type Carry;
    /// The operation's success.
    type Output;
    /// Its failure for good (disconnection; a broadcast receiver's `Lagged`).
    type Error;
    /// One non-blocking attempt: `Ok` when finished (either way), `Err`
    /// with the carry to try again with.
    fn attempt(&mut self, carry: Self::Carry) -> Result<Result<Self::Output, Self::Error>, Self::Carry>;
    /// The sleeper protocol's re-check: could an attempt finish now (fresh
    /// loads of the shared state, never cached positions)?
    fn ready(&self) -> bool;
    /// Where and how to wait.
    fn wait_on(&self) -> WaitOn<'_>;
    /// Runs before each pause (e.g. a prefetch of the line the wait ends
    /// on). Nothing by default.
    #[inline(always)]
    fn while_waiting(&self) {}
    /// Runs once in a thread's wait (not a task's), after its first pause
    /// if the wait spins ([`Waits::spinning`]): the sends' refill gaps
    /// (`mpmc::Sender::let_receivers_ahead`, and for a timed SPSC send
    /// `spsc::Producer::let_consumer_ahead`; a plain SPSC send runs its gap
    /// before its short wait instead). Nothing by default.
    #[inline(always)]
    fn first_pause(&self) {}
}

/// How an operation waits between its attempts: a thread with a [`Waiter`]
/// ([`block`]), or an async task registering its waker (`future.rs`).
pub(crate) trait Waits {
    /// After an attempt that could not finish: wait, or arrange to be woken,
    /// and say whether to attempt again now (`true`) or stop for now
    /// (`false`: the deadline passed, or the task returns `Pending`).
    /// `ready` is the operation's fresh re-check ([`Blocking::ready`]).
    fn pause(&mut self, on: &WaitOn<'_>, ready: impl Fn() -> bool) -> bool;
    /// The operation finished, successfully (`ok`) or for good: leave the
    /// registry and, after a success that waited, pass the baton where the
    /// registry is shared.
    fn finish(&mut self, on: &WaitOn<'_>, ok: bool, ready: impl Fn() -> bool);
    /// After the first pause: whether this is a thread's wait that is
    /// spinning (so [`Blocking::first_pause`] runs), not a task's, nor a
    /// thread's that yields or sleeps at once (its peer shares its core:
    /// spinning there only keeps the peer from running).
    fn spinning(&self) -> bool;
}

/// The driver of every ring and every form, blocking or async: attempt, and
/// between attempts wait as `waits` says, until the operation finishes
/// (`Ok`) or `waits` stops (`Err` with the carry: timed out, or pending).
#[inline(always)]
pub(crate) fn drive<B: Blocking, W: Waits>(
    op: &mut B,
    mut carry: B::Carry,
    waits: &mut W,
) -> Result<Result<B::Output, B::Error>, B::Carry> {
    let mut first = true;
    loop {
        match op.attempt(carry) {
            Ok(done) => {
                waits.finish(&op.wait_on(), done.is_ok(), || op.ready());
                return Ok(done);
            }
            Err(c) => carry = c,
        }
        op.while_waiting();
        if !waits.pause(&op.wait_on(), || op.ready()) {
            return Err(carry);
        }
        if first {
            first = false;
            if waits.spinning() {
                op.first_pause();
            }
        }
    }
}

/// The blocking form: [`drive`] with a thread's [`Waiter`], until the
/// operation finishes or `deadline` passes. `counted`: the call comes from
/// [`short_wait`], which counted the wait and made its first spin steps.
#[inline(always)]
pub(crate) fn block<B: Blocking>(
    op: &mut B,
    carry: B::Carry,
    deadline: Option<Instant>,
    counted: bool,
) -> Result<Result<B::Output, B::Error>, B::Carry> {
    let on = op.wait_on();
    let mut waiter = if counted {
        // Only SPSC handles make a short wait first (one thread a side).
        debug_assert!(!on.baton);
        Waiter::after_short_wait(on.strategy, deadline, on.sleepers, on.peer)
    } else {
        let mut waiter = Waiter::new(on.strategy, deadline);
        waiter.several = on.baton;
        waiter
    };
    drive(op, carry, &mut waiter)
}

/// The start of a plain blocking call's wait (SPSC `send` / `recv`, no
/// deadline), before the out-of-line driver: [`drive`] with a
/// [`ShortWait`], so one more attempt; if it fails too, the wait is counted
/// and the operation retried up to `SHORT_WAIT_RETRIES` times, one spin
/// hint before each. Returns the outcome, or the carry if the wait goes on:
/// the caller then enters its out-of-line waiting path ([`block`] with
/// `counted`), which waits as the strategy says from the start (a `Park`
/// wait spins on, then yields, then parks).
///
/// Why: when both sides run flat out they wait very often, for a few
/// nanoseconds each time (the ring empties or fills for an instant), and
/// setting up the driver and a [`Waiter`] for each such wait cost the
/// blocking calls up to half the throughput of a `try_*` loop
/// (`benches/targets.rs`, free-running SPSC rows, vCPUs far apart).
#[inline(always)]
pub(crate) fn short_wait<B: Blocking>(op: &mut B, carry: B::Carry) -> Result<Result<B::Output, B::Error>, B::Carry> {
    drive(op, carry, &mut ShortWait { left: SHORT_WAIT_RETRIES, counted: false })
}

/// [`short_wait`]'s way of waiting between attempts: the wait counted at
/// its first pause, then one spin hint per retry while retries are left.
/// Nothing to undo when it ends (it never registers).
struct ShortWait {
    left: u32,
    counted: bool,
}

impl Waits for ShortWait {
    /// Only SPSC handles wait here. The producer's refill gap runs before
    /// its short wait (`spsc::Producer::send_waiting`), and the waiter the
    /// call may go on to does not run it again
    /// ([`Waiter::after_short_wait`]).
    #[inline(always)]
    fn spinning(&self) -> bool {
        false
    }

    #[inline(always)]
    fn pause(&mut self, on: &WaitOn<'_>, _ready: impl Fn() -> bool) -> bool {
        if !self.counted {
            self.counted = true;
            if let Some(waits) = on.waits {
                // Not a read-modify-write: only SPSC handles come here, and
                // each side's counter has one writer (its handle), so a load
                // and a store count exactly; a locked increment per wait cost
                // the blocking calls measurably when they wait for nearly
                // every item (a producer kept waiting on a full ring).
                waits.store(waits.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
            }
            // Spinning is off here (see `Waiter::begin`): no retries either.
            if !on.spins_first() {
                self.left = 0;
            }
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        spin_hint();
        true
    }

    /// A short wait that ended is brisk by definition (a few spin hints):
    /// it counts towards switching its registry back from the fence pair
    /// ([`Sleepers::learn_brisk`]; two loads while the registry is on the
    /// `membarrier` pair). Without this, a side whose waits all ended here
    /// left its registry on the fence pair for good after a paced spell,
    /// and every notification of the other side paid a `fence(SeqCst)`
    /// (found by a review).
    #[inline(always)]
    fn finish(&mut self, on: &WaitOn<'_>, ok: bool, _ready: impl Fn() -> bool) {
        #[cfg(not(loom))]
        if ok && self.counted {
            on.learn_no_sleep();
        }
        #[cfg(loom)]
        let _ = (on, ok);
    }
}

/// A thread waits as its channel's strategy says; on success after a wait
/// it teaches the registry's spin budget ([`Waiter::done`]) and, where
/// several threads share the registry, passes the baton.
impl Waits for Waiter {
    /// Still in the spin phase after the first pause: `begin` ends it at
    /// once on a shared core (and where spinning does not pay for a lone
    /// waiter); `BusySpin` always spins.
    #[inline(always)]
    fn spinning(&self) -> bool {
        !self.after_short && (self.strategy == WaitStrategy::BusySpin || self.step < self.spin_limit)
    }

    #[inline]
    fn pause(&mut self, on: &WaitOn<'_>, ready: impl Fn() -> bool) -> bool {
        self.pause_settled(on.sleepers, on.peer, on.waits, on.park, on.settle, ready) == Pause::Retry
    }

    #[inline]
    fn finish(&mut self, on: &WaitOn<'_>, ok: bool, ready: impl Fn() -> bool) {
        if !ok {
            return;
        }
        self.done(on.sleepers);
        #[cfg(not(loom))]
        if self.slept {
            on.learn_sleep(lasted_paced(self.clock.map(|(started, _)| started)), PACED_MAX_MOVED);
        } else {
            on.learn_no_sleep();
        }
        if let (Some(kind), true, true) = (on.park, on.baton, self.slept()) {
            on.sleepers.pass_baton(kind, ready);
        }
    }
}

/// An operation through a mutable reference is the operation itself (the
/// owned async adapters and the SPSC futures hold `&mut` handles).
impl<B: Blocking + ?Sized> Blocking for &mut B {
    type Carry = B::Carry;
    type Output = B::Output;
    type Error = B::Error;

    #[inline(always)]
    fn attempt(&mut self, carry: B::Carry) -> Result<Result<B::Output, B::Error>, B::Carry> {
        (**self).attempt(carry)
    }

    fn ready(&self) -> bool {
        (**self).ready()
    }

    #[inline(always)]
    fn wait_on(&self) -> WaitOn<'_> {
        (**self).wait_on()
    }

    #[inline(always)]
    fn while_waiting(&self) {
        (**self).while_waiting()
    }

    #[inline(always)]
    fn first_pause(&self) {
        (**self).first_pause()
    }
}

/// A `try_send`'s result as a [`Blocking::attempt`] of a send: done on
/// success or disconnection, again (with the value) when full.
#[inline(always)]
pub(crate) fn send_attempt<T>(r: Result<(), TrySendError<T>>) -> Result<Result<(), T>, T> {
    match r {
        Ok(()) => Ok(Ok(())),
        Err(TrySendError::Disconnected(v)) => Ok(Err(v)),
        Err(TrySendError::Full(v)) => Err(v),
    }
}

/// A `try_recv`'s result as a [`Blocking::attempt`] of a receive.
#[inline(always)]
pub(crate) fn recv_attempt<T>(r: Result<T, TryRecvError>) -> Result<Result<T, RecvTimeoutError>, ()> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(TryRecvError::Disconnected) => Ok(Err(RecvTimeoutError::Disconnected)),
        Err(TryRecvError::Empty) => Err(()),
    }
}

/// A blocking `send` from its first attempt (the handle's `try_send`, kept
/// inline by the caller): done unless the ring was full, and then `slow`,
/// the handle's cold waiting path, with no deadline.
#[inline(always)]
pub(crate) fn send_after_try<T>(
    first: Result<(), TrySendError<T>>,
    slow: impl FnOnce(T) -> Result<(), SendTimeoutError<T>>,
) -> Result<(), SendError<T>> {
    match first {
        Ok(()) => Ok(()),
        Err(TrySendError::Disconnected(v)) => Err(SendError(v)),
        Err(TrySendError::Full(v)) => slow(v).map_err(|e| SendError(e.into_inner())),
    }
}

/// What a blocking send driven by [`block`] returns to its caller.
#[inline]
pub(crate) fn send_outcome<T>(r: Result<Result<(), T>, T>) -> Result<(), SendTimeoutError<T>> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(v)) => Err(SendTimeoutError::Disconnected(v)),
        Err(v) => Err(SendTimeoutError::Timeout(v)),
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
    /// Registered sleepers that hold no token yet: threads, plus tasks whose
    /// waker is in `state.wakers`. Incremented by a waiter at registration
    /// (W1); decremented by the notifier that hands it a token or takes its
    /// waker, or by the waiter itself if it leaves without one (its re-check
    /// passed, its deadline expired, the future completed or was dropped).
    /// Read by every notify on a `Park` channel: it stays in the notifier's
    /// cache while nobody sleeps.
    ///
    /// Its three top bits are the registry's barrier mode ("Paced
    /// registries" in the module docs): [`NOTIFY_FENCES`] (notifiers run
    /// `fence(SeqCst)` before they look at the count),
    /// [`WAITERS_FENCE`] (waiters may run `fence(SeqCst)` instead of the
    /// heavy barrier; only ever set while `NOTIFY_FENCES` is) and [`HOME`]
    /// (notifiers on the thread [`home`](Sleepers::home) names skip that
    /// fence; only ever set while the other two are). Every write is a
    /// read-modify-write, so a value read here includes every earlier
    /// registration of the modification order; the count is the value
    /// without the bits.
    count: AtomicUsize,
    /// Token bookkeeping; held by a waiter from its re-check until
    /// `Condvar::wait` releases it, and by a notifier while it hands out
    /// tokens.
    state: Mutex<Tokens>,
    cond: Condvar,
    /// Times a thread actually went to sleep here, or a task registered a
    /// new entry (stats only; 64-bit so that it never wraps, even on 32-bit
    /// targets). Written only with `state` locked.
    parks: AtomicU64,
    /// Tokens handed out and wakers woken (stats only). Written only with
    /// `state` locked.
    wakeups: AtomicU64,
    /// `Park`: how long (ns) a waiter spins past its inline retries before
    /// it yields; learned from how recent waits ended ([`Sleepers::learn`]),
    /// at most `PARK_SPIN_MAX_NS`. Written only at the end of a long wait.
    spin_budget: AtomicU32,
    /// `Park`: how long (ns) a task spins before it registers here;
    /// learned from how recent task waits ended ([`Sleepers::learn_task`]),
    /// at most `TASK_SPIN_MAX_NS`; below `TASK_SPIN_ON_NS` tasks spin only
    /// to probe. Written only at the end of a task wait that spun.
    task_spin_budget: AtomicU32,
    /// Task waits that found the spinning off, to spin every
    /// `TASK_SPIN_PROBE_EVERY`-th of them as a probe.
    task_probes: AtomicU32,
    /// The side's position when a task last began a wait here.
    task_last_pos: AtomicUsize,
    /// `Park`: the [`thread_token`] of the thread that last woke a task
    /// registered here (0: none yet). A task about to wait here on that
    /// same thread was woken by a peer that ran on its thread, so that peer
    /// can run again only once this task gives the thread back: it neither
    /// spins nor gathers ([`Sleepers::woken_here`]). Written by notifiers
    /// that wake a task, only when it changes.
    #[cfg_attr(loom, allow(dead_code))]
    task_woken_from: AtomicUsize,
    /// `Park`: the CPU the thread of [`task_woken_from`](Sleepers::task_woken_from)
    /// ran on when it woke that task ([`NO_CPU`]: none yet, or not known). A
    /// task about to wait here on another thread on that CPU waits behind
    /// a peer that shares its CPU: it neither spins nor gathers either
    /// ([`Sleepers::woken_on_this_cpu`]). Written with `task_woken_from`,
    /// only when it changes.
    #[cfg_attr(loom, allow(dead_code))]
    task_woken_cpu: AtomicU32,
    /// `Park`: sleeps in a row (up to `TASK_APART_AFTER`) of this side's
    /// sole-handle task that ended on another thread than the one that
    /// woke it; 0 after one that ended on the waking thread. At
    /// `TASK_APART_AFTER` the task is *apart* from its peer and its
    /// streaming waits spin (`future.rs`, "Tasks apart"). Written only when
    /// such a sleep ends (by the task, the side's only handle), only when
    /// it changes.
    #[cfg_attr(loom, allow(dead_code))]
    task_apart: AtomicU32,
    /// Streaming task waits begun here while apart, to register every
    /// `TASK_APART_PROBE_EVERY`-th of them as a probe. Written only by the
    /// side's only handle.
    #[cfg_attr(loom, allow(dead_code))]
    task_apart_waits: AtomicU32,
    /// `Park`: away spins (`future.rs`, "Away from home") that missed in a
    /// row, up to `TASK_AWAY_OFF_AFTER`; 0 after one that caught its item.
    /// Written only by the side's only handle, only when it changes.
    #[cfg_attr(loom, allow(dead_code))]
    task_away_misses: AtomicU32,
    /// Away waits begun while away spins are off, to spin on every
    /// `TASK_AWAY_PROBE_EVERY`-th. Written only by the side's only handle.
    #[cfg_attr(loom, allow(dead_code))]
    task_away_skips: AtomicU32,
    /// `Park`: the task budget was set to `TASK_BRIDGE_NS` by a missed
    /// wake-up and no task spin has caught its answer since: a further
    /// missed wake-up halves the budget instead ([`Sleepers::learn_task`]).
    /// Written only at the end of a task wait that spun, only when it
    /// changes.
    #[cfg_attr(loom, allow(dead_code))]
    task_bridged: AtomicBool,
    /// `Park`: the [`thread_token`] of the registry's home thread, whose
    /// notifications skip the fence while [`HOME`] is set ("Home threads"
    /// in the module docs). Written only with `state` locked and `HOME`
    /// clear, by the thread it names, just before that thread sets `HOME`
    /// (`Release`; if that compare-exchange fails, it stays written with
    /// `HOME` clear, which nobody reads); read after a load of `count`
    /// that saw `HOME` (`Acquire`).
    #[cfg_attr(loom, allow(dead_code))]
    home: AtomicUsize,
    /// `Park`: task registrations in a row here made on the thread that
    /// last woke a task here, while on the fence pair (towards
    /// `HOME_AFTER`). Written only with `state` locked.
    #[cfg_attr(loom, allow(dead_code))]
    home_streak: AtomicU32,
    /// `Park`: whether a streaming task wait (after a batch) here first
    /// waits for items (room) to gather before it registers
    /// ([`Sleepers::task_gather_for_wait`]). Turned on by a registration
    /// whose re-check found the item (futile: the peer was publishing),
    /// off by a gather that found nothing.
    task_gathers: AtomicBool,
    /// `Park`: the CPU on which a thread last began a wait here (`NO_CPU`
    /// if unknown), for the other side's shared-core check
    /// ([`Waiter::begin`]). Written only when it changes.
    waiter_cpu: AtomicU32,
    /// `Park`: waits that began here on a core shared with the other side
    /// ([`Sleepers::shared_core_probe_due`]). Written only by such waits.
    #[cfg_attr(loom, allow(dead_code))]
    shared_core_waits: AtomicU32,
    /// `Park`: a probe's yield here ran another thread, and no shared-core
    /// wait has acted on it since ([`Sleepers::take_shared_core_seen`]).
    #[cfg_attr(loom, allow(dead_code))]
    shared_core_seen: AtomicBool,
    /// `Park`: whether a wait here may move its thread to another CPU on
    /// the shared-core evidence ([`Waiter::begin`],
    /// [`Builder::move_threads`](crate::Builder::move_threads)). Set at
    /// construction, never written after.
    moves: bool,
    /// `Park`: paced waits in a row here ([`Sleepers::learn_registered`]),
    /// and brisk ones in a row while the registry is on the fence pair
    /// ([`Sleepers::learn_paced`], [`Sleepers::learn_brisk`]). Written only
    /// at the end of waits that change them.
    #[cfg_attr(loom, allow(dead_code))]
    paced_streak: AtomicU32,
    #[cfg_attr(loom, allow(dead_code))]
    brisk_streak: AtomicU32,
    /// `Park`: notifications in a row that ran the fence of the fence pair
    /// and found nobody registered ([`Sleepers::learn_heard`]). Written
    /// only by notifiers on the fence pair, by plain loads and stores: two
    /// notifiers racing may lose a count (a later switch) or a reset (an
    /// earlier one); the streak only decides when to switch, never whether
    /// a wake-up is sent.
    #[cfg_attr(loom, allow(dead_code))]
    unheard_streak: AtomicU32,
    /// The side's position when a wait that registered here last ended
    /// ([`Sleepers::learn_registered`]).
    #[cfg_attr(loom, allow(dead_code))]
    pace_pos: AtomicUsize,
}

/// [`Sleepers::count`]'s mode bit: notifiers run `fence(SeqCst)` before
/// looking at the count.
const NOTIFY_FENCES: usize = 1 << (usize::BITS - 1);
/// [`Sleepers::count`]'s mode bit: a waiter whose registration reads it may
/// run `fence(SeqCst)` instead of the heavy barrier.
const WAITERS_FENCE: usize = 1 << (usize::BITS - 2);
/// [`Sleepers::count`]'s mode bit: the registry has a home thread
/// ([`Sleepers::home`]), whose notifications skip the fence; a waiter
/// elsewhere runs the heavy barrier. Only ever set while both other bits
/// are ("Home threads" in the module docs).
const HOME: usize = 1 << (usize::BITS - 3);
/// The fence pair's two bits.
#[cfg_attr(loom, allow(dead_code))]
const FENCE_PAIR: usize = NOTIFY_FENCES | WAITERS_FENCE;
/// Every mode bit.
const MODE_BITS: usize = NOTIFY_FENCES | WAITERS_FENCE | HOME;

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
    /// Registered tasks (async waiters), oldest first. Invariant: every
    /// entry is counted in `count`; a notifier that wakes an entry removes
    /// it (and takes it off `count`) in the same critical section, so "my
    /// entry is gone" means "I was woken".
    wakers: Wakers,
    /// The next registration ticket (64 bits: never wraps in practice, so
    /// the tickets in `wakers` ascend).
    next_key: u64,
}

/// The registered tasks of a registry with their registration tickets,
/// oldest first: woken from the front, registered at the back, so the
/// tickets ascend and a future finds its own entry by binary search. A
/// deque that keeps its buffer: once it has held as many entries as wait
/// at once, registering and waking allocate nothing (a `BTreeMap`, used
/// before, allocated and freed a node for each registration of a lone
/// waiter). An entry removed from the middle (a future dropped while older
/// and newer ones wait) leaves a tombstone, dropped when it reaches an end
/// or when tombstones outnumber the live entries, so a removal costs
/// O(log n) amortised, as the map's did, not a shift of the entries after
/// it (a pool of 60 000 waiting futures dropped middle first took 110 ms
/// that way, against 4 ms with the map; found by a review).
#[derive(Debug, Default)]
struct Wakers {
    /// Tickets and wakers; `None` is a tombstone.
    queue: VecDeque<(u64, Option<Waker>)>,
    /// Tombstones in `queue`.
    dead: usize,
}

/// A registry whose wakers all left keeps a buffer of at most this many
/// entries (one that held a large pool gives the rest back).
const WAKERS_KEPT: usize = 64;

impl Wakers {
    /// Live entries.
    fn len(&self) -> usize {
        self.queue.len() - self.dead
    }

    /// Registers `waker` under ticket `key`, newer than every entry here.
    fn push(&mut self, key: u64, waker: Waker) {
        debug_assert!(self.queue.back().map_or(true, |&(k, _)| k < key));
        self.queue.push_back((key, Some(waker)));
    }

    /// The waker registered under ticket `key`, if its entry is still here.
    fn get_mut(&mut self, key: u64) -> Option<&mut Waker> {
        let at = self.find(key)?;
        self.queue[at].1.as_mut()
    }

    /// Removes and returns the entry of ticket `key`, if it is still here.
    fn remove(&mut self, key: u64) -> Option<Waker> {
        let at = self.find(key)?;
        let waker = self.queue[at].1.take()?;
        self.dead += 1;
        self.tidy();
        Some(waker)
    }

    /// Removes and returns the oldest entry.
    fn pop_oldest(&mut self) -> Option<Waker> {
        while let Some((_, slot)) = self.queue.pop_front() {
            match slot {
                Some(waker) => {
                    self.tidy();
                    return Some(waker);
                }
                None => self.dead -= 1,
            }
        }
        None
    }

    /// Drops the tombstones at both ends, and all of them once they
    /// outnumber the live entries; gives back a large buffer once empty.
    fn tidy(&mut self) {
        while let Some((_, None)) = self.queue.back() {
            self.queue.pop_back();
            self.dead -= 1;
        }
        while let Some((_, None)) = self.queue.front() {
            self.queue.pop_front();
            self.dead -= 1;
        }
        if self.dead > self.len() {
            self.queue.retain(|(_, w)| w.is_some());
            self.dead = 0;
        }
        if self.queue.is_empty() && self.queue.capacity() > WAKERS_KEPT {
            self.queue.shrink_to(WAKERS_KEPT);
        }
    }

    /// Where the entry of ticket `key` is (live or a tombstone).
    fn find(&self, key: u64) -> Option<usize> {
        self.queue.binary_search_by_key(&key, |&(k, _)| k).ok()
    }
}

/// What [`Sleepers::register_waker`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Registration {
    /// A new entry (the future was not registered, or a notifier has
    /// woken and removed its entry since): counted in `count`, so the
    /// caller must run the waiter's barrier
    /// ([`Sleepers::waiter_barrier`], given `registered`: what its increment
    /// of `count` read) and re-check before it returns `Pending`.
    New {
        /// `count` as the registration read it, mode bits included.
        registered: usize,
    },
    /// The future's entry was still there (nobody woke it since it
    /// registered); only its waker was replaced if it changed. The barrier
    /// and re-check made at registration still cover it.
    Kept,
}

impl Sleepers {
    /// This registry with [`Sleepers::moves`] set to `on` (`true` in a new
    /// one).
    pub(crate) fn moving(mut self, on: bool) -> Self {
        self.moves = on;
        self
    }

    pub(crate) fn new() -> Self {
        Sleepers {
            count: AtomicUsize::new(0),
            state: Mutex::new(Tokens { unnotified: 0, tokens: 0, wakers: Wakers::default(), next_key: 0 }),
            cond: Condvar::new(),
            parks: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            spin_budget: AtomicU32::new(PARK_SPIN_INITIAL_NS),
            task_spin_budget: AtomicU32::new(TASK_SPIN_MAX_NS),
            task_probes: AtomicU32::new(0),
            task_last_pos: AtomicUsize::new(0),
            task_gathers: AtomicBool::new(false),
            task_woken_from: AtomicUsize::new(0),
            task_woken_cpu: AtomicU32::new(NO_CPU),
            task_apart: AtomicU32::new(0),
            task_apart_waits: AtomicU32::new(0),
            task_away_misses: AtomicU32::new(0),
            task_away_skips: AtomicU32::new(0),
            task_bridged: AtomicBool::new(false),
            home: AtomicUsize::new(0),
            home_streak: AtomicU32::new(0),
            waiter_cpu: AtomicU32::new(NO_CPU),
            shared_core_waits: AtomicU32::new(0),
            shared_core_seen: AtomicBool::new(false),
            moves: true,
            paced_streak: AtomicU32::new(0),
            brisk_streak: AtomicU32::new(0),
            unheard_streak: AtomicU32::new(0),
            pace_pos: AtomicUsize::new(0),
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
        self.notify_n_after_barrier(n);
    }

    /// [`notify_n`](Sleepers::notify_n) for a caller that has already run
    /// the light barrier after its publication: a notifier of several
    /// registries (the broadcast sender, one per receiver) runs it once for
    /// all of them, not once per registry (on the fence pair each is a
    /// `fence(SeqCst)`).
    #[inline(always)]
    pub(crate) fn notify_n_after_barrier(&self, n: usize) {
        // The same code as before the fence pair existed (one load, one
        // call with one argument): a longer inline path here took LLVM over
        // its threshold for inlining the SPSC `try_send` into `send`, and
        // the free-running blocking rows of `targets` fell by a quarter.
        // (With `notify_nonzero`'s check here as well and `try_send` made
        // `#[inline(always)]`, they fell by a fifth close together.
        // `try_send` is `#[inline(always)]` since 2026-12-06, with this path
        // as it is: the blocking rows kept their rate, measured then.)
        if self.may_have_sleepers() {
            self.notify_nonzero(if n == 1 { 1 } else { usize::MAX });
        }
    }

    /// A notification whose first load read anything but 0: returns at
    /// once on a quiet home ([`quiet_home`](Sleepers::quiet_home)), else
    /// the general path. Small and not `#[cold]`: the quiet home costs a
    /// call and three loads (the count, `home`, the thread's token).
    ///
    /// A quiet home does not count as an unheard notification: it paid no
    /// fence, and counting it switched a registry back whenever its peer,
    /// taken by another worker, caught its items by spinning there ("Away
    /// from home" in `future.rs`); each registration after that ran
    /// `membarrier` until the registry took the fence pair again
    /// (`docs/measurements.md`, "quiet homes": twice the time per item, a
    /// 1p1c stream at capacity 16 on a 2-worker runtime). So
    /// a home whose peer stopped sleeping stays, and its notifications pay
    /// this call. (No home under loom.)
    #[inline(never)]
    fn notify_nonzero(&self, max: usize) {
        // A fresh load (a later load serves the Dekker argument as well).
        // Acquire: a value with `HOME` synchronises with its setting, so
        // `home` reads the thread that set it, or a later one.
        let count = self.count.load(Ordering::Acquire);
        #[cfg(not(loom))]
        if self.quiet_home(count) {
            return;
        }
        self.notify_slow(count, max);
    }

    /// The load a notification begins with (as
    /// [`notify_n_after_barrier`](Sleepers::notify_n_after_barrier) does):
    /// `false` only if nobody waits here (as of a load after the caller's
    /// light barrier), so there is nothing to notify.
    #[inline(always)]
    pub(crate) fn may_have_sleepers(&self) -> bool {
        // `SeqCst`: the notification load of `Settled`'s argument (on x86
        // the same `mov` as a relaxed load).
        self.count.load(Ordering::SeqCst) != 0
    }

    /// The notifier's path once its loads of `count` read anything but 0,
    /// the second (`count`, `Acquire`) no quiet home: on a registry on the
    /// fence pair `fence(SeqCst)` and another load (the load the argument
    /// is about); then wake up to `max` sleepers if the count (without the
    /// mode bits) says any are there.
    #[cold]
    #[inline(never)]
    #[cfg_attr(loom, allow(clippy::collapsible_if))] // `learn_heard` is not built under loom
    fn notify_slow(&self, mut count: usize, max: usize) {
        if count & NOTIFY_FENCES != 0 {
            if !self.at_home(count) {
                fence(Ordering::SeqCst);
                count = self.count.load(Ordering::Relaxed);
            }
            #[cfg(not(loom))]
            self.learn_heard(count & !MODE_BITS != 0);
        }
        if count & !MODE_BITS != 0 {
            self.wake_locked(lock(&self.state), max);
        }
    }

    /// Whether `count` (loaded with `Acquire` or stronger) has nobody
    /// registered and names the calling thread as the home
    /// ([`at_home`](Sleepers::at_home)): a notification with nothing to do,
    /// not even a fence ("Home threads" in the module docs).
    #[cfg(not(loom))]
    #[inline(always)]
    fn quiet_home(&self, count: usize) -> bool {
        count & !MODE_BITS == 0 && self.at_home(count)
    }

    /// Whether `count` (a value loaded with `Acquire` or stronger) names
    /// the calling thread as this registry's home ("Home threads" in the
    /// module docs). A thread that has drawn no token is nobody's home (no
    /// token is 0), so the check never draws one.
    #[inline]
    fn at_home(&self, count: usize) -> bool {
        #[cfg(not(loom))]
        {
            count & HOME != 0 && self.home.load(Ordering::Relaxed) == thread_token_if_drawn()
        }
        #[cfg(loom)]
        {
            let _ = count;
            false
        }
    }

    /// The waiter's barrier (W2) after a registration whose read of
    /// `count` returned `registered` (the value before its increment):
    /// `fence(SeqCst)` if that value carries [`WAITERS_FENCE`] (every
    /// notifier then fences before it loads the count) and, if it carries
    /// [`HOME`], the caller is on the home thread; the heavy barrier of
    /// `kind` otherwise (a waiter away from home also ends the home, with
    /// [`leave_home`](Sleepers::leave_home)). `false` if the heavy barrier
    /// failed (see [`barrier::heavy`]).
    pub(crate) fn waiter_barrier(&self, kind: barrier::Kind, registered: usize) -> bool {
        if registered & HOME != 0 && !self.at_home(registered) {
            // A home exists only on the fence pair, which only a process on
            // the `membarrier` pair takes (never under loom).
            debug_assert_eq!(kind, barrier::Kind::Membarrier);
            #[cfg(not(loom))]
            return self.leave_home();
            #[cfg(loom)]
            unreachable!("no registry has a home under loom")
        } else if registered & WAITERS_FENCE != 0 {
            fence(Ordering::SeqCst);
            true
        } else {
            barrier::heavy(kind)
        }
    }

    /// W2 of a waiter on a ring that may prove it [`Settle`]d: no barrier
    /// when it is (`Some(true)`); when it is not, `None` if `ready` (fresh
    /// loads) already finds what the waiter waits for, so that it does not
    /// sleep and needs no barrier; otherwise [`waiter_barrier`]'s result.
    ///
    /// [`waiter_barrier`]: Sleepers::waiter_barrier
    pub(crate) fn settled_or_barrier(
        &self,
        kind: barrier::Kind,
        registered: usize,
        settle: Option<Settle<'_>>,
        ready: impl Fn() -> bool,
    ) -> Option<bool> {
        if let Some(settle) = settle {
            if settle.holds() {
                return Some(true);
            }
            if ready() {
                return None;
            }
        }
        Some(self.waiter_barrier(kind, registered))
    }

    /// The end of a thread's wait that slept here and lasted `long` (at
    /// least `PACED_WAIT_NS`): paced if its side (`progress`; `None`, the
    /// broadcast ring: never paced) also moved at most `PACED_MAX_MOVED`
    /// items since the previous such wait ended, brisk otherwise.
    #[cfg(not(loom))]
    #[cold]
    pub(crate) fn learn_registered(
        &self,
        kind: barrier::Kind,
        long: bool,
        progress: Option<&Progress<'_>>,
        max_moved: usize,
    ) {
        let few = progress.is_some_and(|p| {
            let now = p.pos.load(Ordering::Relaxed);
            // A load and a store, not a swap: racy as the other streaks,
            // and a locked instruction less per registered wait.
            let before = self.pace_pos.load(Ordering::Relaxed);
            self.pace_pos.store(now, Ordering::Relaxed);
            p.moved(before, now) <= max_moved
        });
        if long && few {
            self.learn_paced(kind);
        } else {
            self.learn_brisk();
        }
    }

    /// A paced wait ([`learn_registered`](Sleepers::learn_registered)): after
    /// `FENCE_AFTER_PACED` of them in a row on the `membarrier` pair,
    /// switch this registry to the fence pair ("Paced registries" in the
    /// module docs). The caller's channel uses `kind`.
    #[cfg(not(loom))]
    #[cold]
    pub(crate) fn learn_paced(&self, kind: barrier::Kind) {
        if self.brisk_streak.load(Ordering::Relaxed) != 0 {
            self.brisk_streak.store(0, Ordering::Relaxed);
        }
        // The streak stops at `FENCE_AFTER_PACED`, and a registry on the
        // fence pair (or switching) is left alone: a stream of paced waits
        // (a task on a small ring sleeps every few items) then costs two
        // loads a wait, where a store and the switch's `fetch_or` (a locked
        // compare-exchange loop) on every wait took 4 % of a one-worker
        // stream's samples at capacity 1.
        let streak = self.paced_streak.load(Ordering::Relaxed);
        if streak < FENCE_AFTER_PACED {
            self.paced_streak.store(streak + 1, Ordering::Relaxed);
        }
        if streak + 1 >= FENCE_AFTER_PACED
            && kind == barrier::Kind::Membarrier
            && self.count.load(Ordering::Relaxed) & NOTIFY_FENCES == 0
        {
            self.fence_pair_on();
        }
    }

    /// A brisk wait here (it ended without sleeping, or was not paced): on
    /// the fence pair, after `UNFENCE_AFTER_BRISK` of them in a row, switch
    /// back to the `membarrier` pair. Runs at the end of every `Park` wait
    /// that did not sleep: two loads (the paced streak, `count`) while the
    /// registry is on the `membarrier` pair and no paced wait is pending.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn learn_brisk(&self) {
        if self.paced_streak.load(Ordering::Relaxed) != 0 || self.count.load(Ordering::Relaxed) & WAITERS_FENCE != 0 {
            self.learn_brisk_slow();
        }
    }

    #[cfg(not(loom))]
    #[cold]
    fn learn_brisk_slow(&self) {
        if self.paced_streak.load(Ordering::Relaxed) != 0 {
            self.paced_streak.store(0, Ordering::Relaxed);
        }
        if self.count.load(Ordering::Relaxed) & WAITERS_FENCE == 0 {
            return;
        }
        self.step_towards_off(&self.brisk_streak, UNFENCE_AFTER_BRISK);
    }

    /// One more in `streak` (brisk waits, or unheard notifications): at
    /// `after`, start it again and switch back to the `membarrier` pair.
    #[cfg(not(loom))]
    fn step_towards_off(&self, streak: &AtomicU32, after: u32) {
        let n = streak.load(Ordering::Relaxed).saturating_add(1);
        if n >= after {
            streak.store(0, Ordering::Relaxed);
            self.fence_pair_off();
        } else {
            streak.store(n, Ordering::Relaxed);
        }
    }

    /// A notification on the fence pair ran its fence (or, at the
    /// registry's home, skipped it) and found a sleeper (`heard`) or
    /// nobody: after `UNFENCE_AFTER_UNHEARD` unheard ones in a
    /// row, switch back to the `membarrier` pair. (One at a quiet home,
    /// [`Sleepers::quiet_home`], does not come here: it paid no fence.) The
    /// waiters' streaks
    /// cannot see a side that stopped waiting altogether (it ends no wait,
    /// brisk or paced), and every notification would pay the fence for as
    /// long as it polls: a producer whose consumer polled with `try_recv`
    /// after a paced spell ran at 0.13-0.16x a fresh channel's rate (SPSC;
    /// MPMC 0.47-0.79x). Clearing the bits is the same switch whichever
    /// thread makes it ("Paced registries" in the module docs).
    #[cfg(not(loom))]
    #[inline]
    fn learn_heard(&self, heard: bool) {
        if !heard {
            self.step_towards_off(&self.unheard_streak, UNFENCE_AFTER_UNHEARD);
        } else if self.unheard_streak.load(Ordering::Relaxed) != 0 {
            self.unheard_streak.store(0, Ordering::Relaxed);
        }
    }

    /// Switches to the fence pair: [`NOTIFY_FENCES`] first, then the heavy
    /// barrier (every notifier that did not see the bit has published
    /// before it), then [`WAITERS_FENCE`] with `Release`. Only the thread
    /// whose `fetch_or` set `NOTIFY_FENCES` goes on, and no one clears
    /// that bit before `WAITERS_FENCE` is set, so the two steps are one
    /// thread's, with its barrier between them.
    #[cfg(not(loom))]
    fn fence_pair_on(&self) {
        if self.count.fetch_or(NOTIFY_FENCES, Ordering::Relaxed) & NOTIFY_FENCES != 0 {
            return; // on the fence pair already, or another thread is switching
        }
        self.unheard_streak.store(0, Ordering::Relaxed);
        if barrier::heavy(barrier::Kind::Membarrier) {
            self.count.fetch_or(WAITERS_FENCE, Ordering::Release);
            #[cfg(feature = "__test-hooks")]
            barrier::probe::count_fence_pair_switch();
        } else {
            self.count.fetch_and(!NOTIFY_FENCES, Ordering::Relaxed);
        }
    }

    /// Switches back to the `membarrier` pair: every mode bit (a home's
    /// too) cleared in one read-modify-write, and only from the complete
    /// fence pair (a switch on in progress is left to finish).
    ///
    /// A compare-exchange loop rather than `fetch_update`, which nightly
    /// Rust deprecates in favour of `try_update` (not in the MSRV).
    #[cfg(not(loom))]
    fn fence_pair_off(&self) {
        let mut c = self.count.load(Ordering::Relaxed);
        while c & WAITERS_FENCE != 0 {
            match self.count.compare_exchange_weak(c, c & !MODE_BITS, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => c = now,
            }
        }
    }

    /// The barrier (W2) of a waiter away from this registry's home, which
    /// also ends the home ("Home threads" in the module docs): clears
    /// [`HOME`] and [`WAITERS_FENCE`] in one read-modify-write (if the home
    /// is still there), runs the heavy barrier (the waiter's own, after its
    /// registration; and the switch's: every notification that skipped its
    /// fence on a value with `HOME` has published before it), then, if it
    /// cleared them, sets `WAITERS_FENCE` again with `Release`: the second
    /// half of a switch to the fence pair, as in
    /// [`fence_pair_on`](Sleepers::fence_pair_on). Nobody else changes the
    /// mode bits while `NOTIFY_FENCES` is set without `WAITERS_FENCE`, so
    /// the thread whose compare-exchange cleared them finishes the switch.
    /// If the barrier fails, clears `NOTIFY_FENCES` too (the `membarrier`
    /// pair), as a failed switch on does. Returns what the barrier
    /// returned. (One `membarrier` for both: a wait that ran its own and
    /// then the switch's paid two, and a task stream on a 2-worker runtime
    /// whose tasks now and then ran on the other worker spent 16 % of its
    /// samples in the IPIs.)
    #[cfg(not(loom))]
    #[cold]
    fn leave_home(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        let cleared = loop {
            if c & HOME == 0 {
                break false; // ended by another waiter, or by `fence_pair_off`
            }
            match self.count.compare_exchange_weak(c, c & !(HOME | WAITERS_FENCE), Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break true,
                Err(now) => c = now,
            }
        };
        let ok = barrier::heavy(barrier::Kind::Membarrier);
        if cleared {
            if ok {
                self.count.fetch_or(WAITERS_FENCE, Ordering::Release);
            } else {
                self.count.fetch_and(!NOTIFY_FENCES, Ordering::Relaxed);
            }
        }
        ok
    }

    /// A task registration on this thread, with `state` locked, that read
    /// `registered` from `count`, of a side that is `alone` (one handle):
    /// counts towards [`HOME_AFTER`] while the registry is on the fence
    /// pair and the last task woken here was woken from this thread, and at
    /// `HOME_AFTER` makes this thread the home ("Home threads" in the
    /// module docs): [`home`](Sleepers::home) first, then [`HOME`] with
    /// `Release`, by a compare-exchange that requires the complete fence
    /// pair and no home. Not for a pool of handles: its tasks register from
    /// whichever worker runs them, and each registration away from a home
    /// ends it and costs a heavy barrier.
    #[cfg(not(loom))]
    fn learn_home(&self, registered: usize, alone: bool) {
        let here = thread_token();
        if !alone || registered & MODE_BITS != FENCE_PAIR || here == SHARED_TOKEN || !self.woken_here() {
            if self.home_streak.load(Ordering::Relaxed) != 0 {
                self.home_streak.store(0, Ordering::Relaxed);
            }
            return;
        }
        let streak = self.home_streak.load(Ordering::Relaxed) + 1;
        if streak < HOME_AFTER {
            self.home_streak.store(streak, Ordering::Relaxed);
            return;
        }
        self.home_streak.store(0, Ordering::Relaxed);
        self.home.store(here, Ordering::Relaxed);
        let mut c = self.count.load(Ordering::Relaxed);
        while c & MODE_BITS == FENCE_PAIR {
            // AcqRel: `Release` publishes `home`; `Acquire` continues what
            // this thread knows from the last setting of `WAITERS_FENCE`.
            match self.count.compare_exchange_weak(c, c | HOME, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => c = now,
            }
        }
    }

    /// Whether this registry is on the fence pair (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn on_fence_pair(&self) -> bool {
        self.count.load(Ordering::Relaxed) & FENCE_PAIR == FENCE_PAIR
    }

    /// The registry's home thread, if it has one (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn home_thread(&self) -> Option<usize> {
        (self.count.load(Ordering::Acquire) & HOME != 0).then(|| self.home.load(Ordering::Relaxed))
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

    /// Hands a token to up to `max` sleepers that hold none, and wakes them:
    /// sleeping threads first, then registered tasks, oldest first.
    #[cold]
    #[inline(never)]
    fn wake(&self, max: usize) {
        self.wake_locked(lock(&self.state), max);
    }

    /// [`wake`](Sleepers::wake) with the mutex already held (by `state`).
    /// Wakers are called after the mutex is released: a waker may run
    /// arbitrary code, including dropping the last reference to its task,
    /// whose future then deregisters here and takes this mutex.
    fn wake_locked(&self, mut state: MutexGuard<'_, Tokens>, max: usize) {
        let threads = state.unnotified.min(max);
        if threads > 0 {
            state.unnotified -= threads;
            state.tokens += threads;
            if threads == 1 {
                self.cond.notify_one();
            } else {
                self.cond.notify_all();
            }
        }
        // Registered threads that are not waiting yet will re-check under
        // this mutex after we release it, and see what we published.
        let tasks = state.wakers.len().min(max - threads);
        let woken = threads + tasks;
        if woken == 0 {
            return;
        }
        self.count.fetch_sub(woken, Ordering::Relaxed);
        add_under_mutex(&self.wakeups, woken as u64);
        #[cfg(not(loom))]
        if tasks > 0 {
            let here = thread_token();
            if self.task_woken_from.load(Ordering::Relaxed) != here {
                self.task_woken_from.store(here, Ordering::Relaxed);
            }
            let cpu = current_cpu();
            if self.task_woken_cpu.load(Ordering::Relaxed) != cpu {
                self.task_woken_cpu.store(cpu, Ordering::Relaxed);
            }
        }
        match tasks {
            0 => {}
            1 => {
                let waker = state.wakers.pop_oldest();
                drop(state);
                // Through the helper too: this may run in a drop during
                // unwinding (a future's pass-on), where a panic would abort.
                each_catching_panics(waker, Waker::wake);
            }
            _ => {
                let wakers: Vec<Waker> = (0..tasks).filter_map(|_| state.wakers.pop_oldest()).collect();
                drop(state);
                // Their entries are gone from the registry: a waker that
                // panics must not leave the others unwoken for good.
                each_catching_panics(wakers, Waker::wake);
            }
        }
    }

    /// Async waiter: registers `waker` under `key` (the future's entry, if
    /// it has one), or replaces the waker of a still-registered entry when
    /// it would not wake the same task (so the waker of the latest poll is
    /// the one woken; repeated polls never add entries).
    ///
    /// On [`Registration::New`] the caller runs its barrier
    /// ([`Sleepers::settled_or_barrier`], which may also end a home) and
    /// then re-checks its condition with fresh loads before returning
    /// `Pending` (the Dekker pair of the module docs: the entry is counted before the
    /// barrier). Unlike a thread, a task needs no mutex around its
    /// re-check: its waker is stored before the barrier, so a notifier that
    /// sees the count finds the entry, whenever the re-check runs.
    ///
    /// `exclusive`: at most one operation can wait here at a time (an SPSC
    /// side), so any other entry belongs to a future that was leaked
    /// (`mem::forget`) and is retired, rather than left to absorb a wake-up.
    /// `alone`: the waiting side has one handle; only then may this
    /// registration give the registry a home ([`Sleepers::learn_home`]).
    pub(crate) fn register_waker(
        &self,
        key: &mut Option<u64>,
        waker: &Waker,
        exclusive: bool,
        alone: bool,
    ) -> Registration {
        let mut state = lock(&self.state);
        if let Some(k) = *key {
            if let Some(current) = state.wakers.get_mut(k) {
                if current.will_wake(waker) {
                    return Registration::Kept;
                }
                let old = core::mem::replace(current, waker.clone());
                drop(state);
                // Dropped outside the mutex (it may be a task's last reference).
                drop(old);
                return Registration::Kept;
            }
        }
        // Cloned before anything leaves the registry: a `clone` that panics (user
        // code) leaves the registry as it was, and no retired waker is
        // dropped while the mutex is held (`stale`, declared after `state`,
        // would be dropped first by the unwinding).
        let waker = waker.clone();
        let stale = if exclusive && state.wakers.len() > 0 {
            let stale = core::mem::take(&mut state.wakers);
            self.count.fetch_sub(stale.len(), Ordering::Relaxed);
            Some(stale)
        } else {
            None
        };
        let k = state.next_key;
        state.next_key = k.wrapping_add(1);
        state.wakers.push(k, waker);
        // W1 for a task, inside the critical section that stored the waker.
        // `SeqCst` for `Settle` (see `Settled`); Acquire because reading
        // `WAITERS_FENCE` or `HOME` synchronises with its setting (and makes
        // the read of `home` in `waiter_barrier` current).
        let registered = self.count.fetch_add(1, Ordering::SeqCst);
        add_under_mutex(&self.parks, 1);
        #[cfg(not(loom))]
        self.learn_home(registered, alone);
        #[cfg(loom)]
        let _ = alone;
        drop(state);
        drop(stale);
        *key = Some(k);
        Registration::New { registered }
    }

    /// Async waiter leaving: removes the future's entry, if any. Returns
    /// `true` if the entry was already gone, i.e. a notifier woke this
    /// future after its last registration (the wake-up was consumed).
    ///
    /// With `pass_on` (a future dropped before completing), a consumed
    /// wake-up is handed to another sleeper (one token or one waker), so
    /// that a publication meant for the dropped future still reaches a
    /// waiter; lossless by the mutex argument of the module docs (a waiter
    /// that registers after this critical section re-checks after it, and
    /// sees what the notifier published before it woke us). Never waits for
    /// anything but the registry's mutex, which no code holds across a wait.
    pub(crate) fn deregister_waker(&self, key: &mut Option<u64>, pass_on: bool) -> bool {
        let Some(k) = key.take() else { return false };
        // Without a wake-up to pass on, an entry that is gone needs no
        // mutex to be left: while the entry is here it is counted in
        // `count`, and this thread's own increment (its registration)
        // precedes this load, which so reads it or a later value; every
        // later decrement removed an entry or a thread, so a count of 0
        // (under the mode bits) means this entry was removed (woken, or
        // retired by a newer registration on an SPSC side). The common
        // case of a woken task completing: one mutex round trip less per
        // wait.
        if !pass_on && self.count.load(Ordering::Relaxed) & !MODE_BITS == 0 {
            return true;
        }
        let mut state = lock(&self.state);
        if let Some(waker) = state.wakers.remove(k) {
            self.count.fetch_sub(1, Ordering::Relaxed);
            drop(state);
            drop(waker);
            return false;
        }
        if pass_on {
            self.wake_locked(state, 1);
        }
        true
    }

    /// Waiter side: registers, runs the heavy barrier, re-checks `ready`
    /// under the mutex and sleeps until it gets a token or `deadline`
    /// passes. Returns `true` if it returned because the deadline passed.
    /// The caller retries its operation either way.
    #[cold]
    pub(crate) fn sleep(
        &self,
        kind: barrier::Kind,
        deadline: Option<Instant>,
        settle: Option<Settle<'_>>,
        ready: impl Fn() -> bool,
    ) -> bool {
        // W1: register. The barrier below orders it; Acquire because reading
        // `WAITERS_FENCE` synchronises with its setting; `SeqCst` for
        // `settle` (see `Settled`).
        let registered = self.count.fetch_add(1, Ordering::SeqCst);
        // W2: pairs with the notifier's light barrier (or, on the fence
        // pair, its fence), unless `settle` proves it unnecessary.
        let Some(barrier) = self.settled_or_barrier(kind, registered, settle, &ready) else {
            // What it waits for is there: no sleep, so no barrier.
            self.count.fetch_sub(1, Ordering::Relaxed);
            return false;
        };
        if !barrier {
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
        add_under_mutex(&self.parks, 1);
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

    /// Counts a wait that began here on a core shared with the other side
    /// and says whether it is the probe (every `SHARED_CORE_PROBE_EVERY`-th;
    /// see [`Waiter::begin`]). A plain load and store: waiters racing may
    /// lose a count, which only moves the next probe.
    #[cfg_attr(loom, allow(dead_code))]
    fn shared_core_probe_due(&self) -> bool {
        let n = self.shared_core_waits.load(Ordering::Relaxed).wrapping_add(1);
        self.shared_core_waits.store(n, Ordering::Relaxed);
        n % SHARED_CORE_PROBE_EVERY == 0
    }

    /// A probe's yield ran another thread ([`Waiter::begin`]): the next wait
    /// here that begins on a shared core moves its thread (or sleeps at once).
    #[cfg_attr(loom, allow(dead_code))]
    fn saw_shared_core(&self) {
        self.shared_core_seen.store(true, Ordering::Relaxed);
    }

    /// Whether a probe saw the sharing since the last call that returned
    /// `true` (and clears it). A load, and a store only if it was set.
    #[cfg_attr(loom, allow(dead_code))]
    fn take_shared_core_seen(&self) -> bool {
        self.shared_core_seen.load(Ordering::Relaxed) && {
            self.shared_core_seen.store(false, Ordering::Relaxed);
            true
        }
    }

    /// Records the CPU a waiter here is on (see `waiter_cpu`).
    #[cfg_attr(loom, allow(dead_code))]
    fn note_cpu(&self, cpu: u32) {
        if self.waiter_cpu.load(Ordering::Relaxed) != cpu {
            self.waiter_cpu.store(cpu, Ordering::Relaxed);
        }
    }

    /// The current spin budget (ns) of waiters here.
    #[cfg_attr(loom, allow(dead_code))]
    fn spin_budget(&self) -> u32 {
        self.spin_budget.load(Ordering::Relaxed)
    }

    /// Raises the spin budget to `PARK_SPIN_INITIAL_NS` if it is lower: the
    /// thread waiting here and the one it waits for no longer share a CPU
    /// ([`Waiter::begin`] moved one of them).
    #[cfg_attr(loom, allow(dead_code))]
    fn spin_again(&self) {
        if self.spin_budget() < PARK_SPIN_INITIAL_NS {
            self.spin_budget.store(PARK_SPIN_INITIAL_NS, Ordering::Relaxed);
        }
    }

    /// The learning step of the adaptive `Park` policy (see [`Waiter`]): a
    /// wait that started spinning with `budget` and ran `waited` ns past its
    /// inline retries ended as `ended`. Racy by design when several threads
    /// wait on one registry (the last writer wins): the budget is a hint,
    /// bounded on both sides, never a correctness input.
    #[cfg_attr(loom, allow(dead_code))]
    fn learn(&self, budget: u32, waited: u32, ended: Ended) {
        let next = next_budget(budget, waited, ended);
        if next != budget {
            self.spin_budget.store(next, Ordering::Relaxed);
        }
    }

    /// Items this side moved since a task last began a wait here (`now`:
    /// the side's position, read from `progress`), and records `now`.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn task_moved_since_last_wait(&self, progress: &Progress<'_>) -> usize {
        let now = progress.pos.load(Ordering::Relaxed);
        // A load and a store, not a swap: only a side's sole handle asks.
        let before = self.task_last_pos.load(Ordering::Relaxed);
        self.task_last_pos.store(now, Ordering::Relaxed);
        progress.moved(before, now)
    }

    /// How long (ns) a task that begins a wait here now spins:
    /// the learned budget while spinning is on; while it is off, the cap on
    /// every `TASK_SPIN_PROBE_EVERY`-th such wait (a probe: the conditions
    /// that turned it off may be gone; each call counts one wait) and 0 on
    /// the others.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn task_spin_for_wait(&self) -> u32 {
        let budget = self.task_spin_budget.load(Ordering::Relaxed);
        if budget >= TASK_SPIN_ON_NS {
            budget
        } else if self.task_probes.fetch_add(1, Ordering::Relaxed) % TASK_SPIN_PROBE_EVERY == TASK_SPIN_PROBE_EVERY - 1
        {
            TASK_SPIN_MAX_NS
        } else {
            0
        }
    }

    /// Whether the last task woken here was woken from the calling thread
    /// (see [`Sleepers::task_woken_from`]): a task waiting here now runs
    /// on the thread its peer ran on, and spinning or gathering would only
    /// hold that thread from the peer. Exact but for [`SHARED_TOKEN`]
    /// (threads started after a 32-bit process ran out of numbers, see
    /// [`thread_token`]), which such threads share.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn woken_here(&self) -> bool {
        self.task_woken_from.load(Ordering::Relaxed) == thread_token()
    }

    /// Whether the last task woken here was woken from a thread then on
    /// the CPU the calling thread runs on now (see
    /// [`Sleepers::task_woken_cpu`]): its peer shares this CPU, and
    /// spinning would hold the CPU the answer needs. A hint: either thread
    /// may have moved since (then the wait spins or not one time wrongly).
    /// One `sched_getcpu` (through the vDSO) per call.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn woken_on_this_cpu(&self) -> bool {
        let cpu = self.task_woken_cpu.load(Ordering::Relaxed);
        cpu != NO_CPU && cpu == current_cpu()
    }

    /// Whether this registry has a home ("Home threads" in the module docs)
    /// and it is not the calling thread: a task registering here now would
    /// end it with a `membarrier` (`future.rs`, "Away from home"). A hint
    /// (relaxed loads): a stale answer changes only whether the task spins
    /// first.
    #[cfg(not(loom))]
    pub(crate) fn home_elsewhere(&self) -> bool {
        let count = self.count.load(Ordering::Relaxed);
        count & HOME != 0 && !self.at_home(count)
    }

    /// How long (ns) a task wait that begins away from the home spins
    /// before registering: `TASK_AWAY_SPIN_NS`, or 0 after
    /// `TASK_AWAY_OFF_AFTER` such spins in a row missed, but for every
    /// `TASK_AWAY_PROBE_EVERY`-th wait then. Called by the side's only
    /// handle.
    #[cfg(not(loom))]
    pub(crate) fn away_spin_for_wait(&self) -> u32 {
        if self.task_away_misses.load(Ordering::Relaxed) < TASK_AWAY_OFF_AFTER
            || count_to_nth(&self.task_away_skips, TASK_AWAY_PROBE_EVERY)
        {
            TASK_AWAY_SPIN_NS
        } else {
            0
        }
    }

    /// An away spin ended: `caught` its item (its answer), or missed.
    #[cfg(not(loom))]
    pub(crate) fn learn_away(&self, caught: bool) {
        step_streak(&self.task_away_misses, !caught, TASK_AWAY_OFF_AFTER);
    }

    /// How long (ns) a streaming task wait that begins here lets items
    /// gather first, on a ring of `capacity` items: while gathering is on,
    /// `TASK_GATHER_SLOT_NS` per slot up to `TASK_GATHER_NS` (a ring can
    /// gather at most `capacity` items, however long the wait); 0 while off.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn task_gather_for_wait(&self, capacity: usize) -> u32 {
        if self.task_gathers.load(Ordering::Relaxed) {
            u32::try_from(capacity)
                .map_or(TASK_GATHER_NS, |c| c.saturating_mul(TASK_GATHER_SLOT_NS).min(TASK_GATHER_NS))
        } else {
            0
        }
    }

    /// Turns gathering on (a task's registration found its item at the
    /// re-check) or off (a gather found nothing). Stores only on a change,
    /// so a steady state costs one load.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn learn_gather(&self, on: bool) {
        if self.task_gathers.load(Ordering::Relaxed) != on {
            self.task_gathers.store(on, Ordering::Relaxed);
        }
    }

    /// The learned spin budget of threads waiting here (tests).
    #[cfg(test)]
    pub(crate) fn spin_learned(&self) -> u32 {
        self.spin_budget()
    }

    /// The learned task budget itself (tests).
    #[cfg(test)]
    pub(crate) fn task_spin_learned(&self) -> u32 {
        self.task_spin_budget.load(Ordering::Relaxed)
    }

    /// The learning step of a task's spin phase (`future.rs`): an
    /// operation that spun ended `waited` ns after its spin began, how
    /// [`TaskEnd`] says. See [`next_task_budget`]. Racy by design, as
    /// [`learn`](Sleepers::learn): it updates the budget as it is now,
    /// whoever else learned meanwhile.
    ///
    /// One bridge between two catches: a missed wake-up after a bridge with
    /// no catch since (the bridge itself missed, or a shorter spin after
    /// it) counts as an ordinary miss. Items paced 35–55 µs apart otherwise
    /// bridged every other wait, a task spinning 37–58 % of its thread and
    /// still sleeping on most items (a review's scratch test, 2026-12-05).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn learn_task(&self, waited: u32, end: TaskEnd) {
        let bridged = self.task_bridged.load(Ordering::Relaxed);
        let end = if end == TaskEnd::MissedWakeUp && bridged { TaskEnd::Missed } else { end };
        match end {
            TaskEnd::Caught if bridged => self.task_bridged.store(false, Ordering::Relaxed),
            TaskEnd::MissedWakeUp => self.task_bridged.store(true, Ordering::Relaxed),
            _ => {}
        }
        let budget = self.task_spin_budget.load(Ordering::Relaxed);
        let next = next_task_budget(budget, waited, end);
        if next != budget {
            self.task_spin_budget.store(next, Ordering::Relaxed);
        }
    }

    /// A sleep of this side's sole-handle task ended (`future.rs`): counts
    /// it for [`apart`](Sleepers::apart) — in a row if it ended on another
    /// thread than the one whose notification woke it (`away`), back to 0
    /// if on that thread.
    #[cfg(not(loom))]
    pub(crate) fn learn_resumed(&self, away: bool) {
        step_streak(&self.task_apart, away, TASK_APART_AFTER);
    }

    /// Whether this side's task is apart from its peer: its last
    /// `TASK_APART_AFTER` sleeps each ended on another thread than the one
    /// that woke it, so its executor does not run it next to its peer.
    #[cfg(not(loom))]
    pub(crate) fn apart(&self) -> bool {
        self.task_apart.load(Ordering::Relaxed) >= TASK_APART_AFTER
    }

    /// Whether a streaming task wait that begins here spins (`true`: the
    /// task is [`apart`](Sleepers::apart) and this is not one of the
    /// probes, every `TASK_APART_PROBE_EVERY`-th such wait, which register
    /// as before).
    #[cfg(not(loom))]
    pub(crate) fn streaming_spins(&self) -> bool {
        self.apart() && !count_to_nth(&self.task_apart_waits, TASK_APART_PROBE_EVERY)
    }

    /// Records the calling thread as the one that last woke a task here
    /// (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn pretend_woken_here(&self) {
        self.task_woken_from.store(thread_token(), Ordering::Relaxed);
    }

    /// Records `cpu` as the CPU of the thread that last woke a task here,
    /// and that thread as another than the caller (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn pretend_woken_on(&self, cpu: u32) {
        self.task_woken_from.store(0, Ordering::Relaxed);
        self.task_woken_cpu.store(cpu, Ordering::Relaxed);
    }

    /// Gives the registry the fence pair and a home on `thread`, a token
    /// another thread drew (tests: a task on the calling thread is then
    /// away from home). No task may register here afterwards on a process
    /// without `membarrier` (the away registration's barrier needs it).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn pretend_home_on(&self, thread: usize) {
        self.home.store(thread, Ordering::Relaxed);
        self.count.fetch_or(MODE_BITS, Ordering::Release);
    }

    /// Sets the count of streaming waits begun here while apart (tests: to
    /// come to a probe without running a thousand waits).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_apart_waits(&self, n: u32) {
        self.task_apart_waits.store(n, Ordering::Relaxed);
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

/// The budget after a wait that started with `budget` and ran `waited` ns
/// past its inline retries (the rules in [`Waiter`]'s docs). Never above
/// `PARK_SPIN_MAX_NS`.
#[cfg_attr(loom, allow(dead_code))]
fn next_budget(budget: u32, waited: u32, ended: Ended) -> u32 {
    match ended {
        Ended::Spinning => (budget - budget / 8).max(waited.saturating_mul(2)),
        // Halved, not zeroed: a yield can also be slow because the
        // hypervisor took the vCPU away, which says nothing about the peer;
        // real sharing of a core repeats and drives the budget down fast.
        Ended::Contended => budget / 2,
        Ended::Waiting if waited <= PARK_SPIN_MAX_NS => waited.saturating_add(waited / 2),
        // By a quarter, not to zero: one stall of the peer (preempted, a
        // page fault) should not cost the next hundred items a wake-up each.
        Ended::Waiting => budget - budget / 4,
    }
    .min(PARK_SPIN_MAX_NS)
}

/// Whether a `yield_now` of a `Park` wait that took `took` ns ran another
/// thread on this core ([`YIELD_RAN_ANOTHER_NS`]): a shared-core probe's
/// then saw the sharing, any other timed yield makes the wait contended.
#[cfg(not(loom))]
#[inline]
fn yield_ran_another_thread(took: u128) -> bool {
    took >= u128::from(YIELD_RAN_ANOTHER_NS)
}

/// A streak kept by a side's only handle: one more (up to `cap`) if
/// `up`, else 0. A load and a store, not a read-modify-write (one writer),
/// and no store when the value stays.
#[cfg(not(loom))]
fn step_streak(streak: &AtomicU32, up: bool, cap: u32) {
    let now = streak.load(Ordering::Relaxed);
    let next = if up { (now + 1).min(cap) } else { 0 };
    if next != now {
        streak.store(next, Ordering::Relaxed);
    }
}

/// Counts one more on `counter`, kept by a side's only handle (a load and
/// a store, as [`step_streak`]), and says whether this is an `every`-th:
/// the probes of a policy that is off, or on, but for one in `every`.
#[cfg(not(loom))]
fn count_to_nth(counter: &AtomicU32, every: u32) -> bool {
    let n = counter.load(Ordering::Relaxed).wrapping_add(1);
    counter.store(n, Ordering::Relaxed);
    n % every == 0
}

/// Whether a sleep that began at `since` (if known) has lasted long
/// enough to count as paced ([`PACED_WAIT_NS`]).
#[cfg(not(loom))]
pub(crate) fn lasted_paced(since: Option<Instant>) -> bool {
    since.is_some_and(|at| at.elapsed().as_nanos() >= u128::from(PACED_WAIT_NS))
}

/// Whether a `Park` spin budget is worth spinning on: below
/// `PARK_SPIN_OFF_NS` a wait goes straight to yielding (see [`Waiter`]).
#[cfg(not(loom))]
#[inline]
fn spinning_pays(budget: u32) -> bool {
    budget >= PARK_SPIN_OFF_NS
}

/// How a task operation that spun ended, for its registry's budget
/// ([`next_task_budget`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(loom, allow(dead_code))]
pub(crate) enum TaskEnd {
    /// Its spin caught the item (room).
    Caught,
    /// It spun its budget out and registered; then it slept and was woken
    /// from another thread, and ended within `TASK_BRIDGE_WITHIN_NS` of
    /// the spin's start: the answer came soon after the spin gave up, from
    /// a peer that runs elsewhere — one that had been parked, whose
    /// wake-up the spin did not outlast.
    MissedWakeUp,
    /// Any other operation that spun and registered.
    Missed,
}

/// The task budget after an operation that spun and ended `waited` ns
/// after its spin began.
///
/// - Caught: at least four times the gap it bridged and at least
///   `TASK_SPIN_ON_NS` (spinning stays on while it catches; a one-off long
///   gap decays by an eighth per wait), at most `TASK_SPIN_MAX_NS`.
/// - A missed wake-up: `TASK_BRIDGE_NS`, to outlast the next one. Two
///   tasks on two threads that each fall back to sleeping land every wait
///   in the other's wake-up (20–25 µs on the VM), which a spin of at most
///   `TASK_SPIN_MAX_NS` never outlasts: halving there turned spinning off
///   for good and every wait slept (`future.rs`, "Tasks apart").
/// - Any other miss: halved. Spinning that does not catch the answer held
///   the worker for nothing: the peer is slow, idle, or cannot run (it
///   waits for the CPU this task holds, as on a single-threaded executor or
///   with more busy threads than cores). Three misses from the cap turn
///   it off; probes ([`Sleepers::task_spin_for_wait`]) turn it back on.
///
/// Not the thread rule ([`next_budget`]): a task that registered paid the
/// heavy barrier and its executor's wake-up before it ran again, so how
/// long it waited says little about how long spinning would have needed
/// (measured far apart: waits of 22 µs where the spin, once both sides
/// spun, caught answers within 0.6 µs).
#[cfg_attr(loom, allow(dead_code))]
fn next_task_budget(budget: u32, waited: u32, end: TaskEnd) -> u32 {
    match end {
        TaskEnd::Caught => (budget - budget / 8).max(waited.saturating_mul(4)).clamp(TASK_SPIN_ON_NS, TASK_SPIN_MAX_NS),
        TaskEnd::MissedWakeUp => TASK_BRIDGE_NS,
        TaskEnd::Missed => budget / 2,
    }
}

/// `counter += n` for a statistics counter that is only written with the
/// registry's mutex held (`parks`, `wakeups`): a load and a store, not a
/// locked read-modify-write, since the mutex orders the writers; readers
/// (`stats()`) load it without the mutex.
#[inline]
fn add_under_mutex(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Locks, ignoring poisoning: no code that can panic runs while it is held
/// (plain counter updates and the caller's `ready`, which only loads
/// atomics), so a poisoned state is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Converts a timeout into a deadline: one too large to add to `now` means
/// "no deadline" (wait forever), as DESIGN.md specifies.
#[inline]
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{
        barrier, block, next_budget, next_task_budget, short_wait, Blocking, Ended, Progress, Registration, Sleepers,
        TaskEnd, WaitOn, WaitStrategy, Wakers, FENCE_AFTER_PACED, FENCE_PAIR, HOME_AFTER, MODE_BITS, NOTIFY_FENCES,
        PACED_MAX_MOVED, PACED_WAIT_NS, PARK_SPIN_INITIAL_NS, PARK_SPIN_MAX_NS, SHORT_WAIT_RETRIES, TASK_APART_AFTER,
        TASK_APART_PROBE_EVERY, TASK_BRIDGE_NS, TASK_GATHER_NS, TASK_GATHER_SLOT_NS, TASK_SPIN_MAX_NS, TASK_SPIN_ON_NS,
        TASK_SPIN_PROBE_EVERY, UNFENCE_AFTER_BRISK, UNFENCE_AFTER_UNHEARD, WAITERS_FENCE, WAKERS_KEPT,
    };
    use crate::sync::{AtomicU64, AtomicUsize, Ordering};

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An operation that fails `fails` times, then succeeds (or, with
    /// `gone`, fails for good), counting its waits in `waits`.
    struct Scripted {
        fails: u32,
        gone: bool,
        attempts: u32,
        sleepers: Sleepers,
        waits: AtomicU64,
        strategy: WaitStrategy,
        park: Option<barrier::Kind>,
    }

    impl Scripted {
        fn new(fails: u32, gone: bool) -> Self {
            Scripted {
                fails,
                gone,
                attempts: 0,
                sleepers: Sleepers::new(),
                waits: AtomicU64::new(0),
                strategy: WaitStrategy::BusySpin,
                park: None,
            }
        }
        fn waits(&self) -> u64 {
            self.waits.load(Ordering::Relaxed)
        }
    }

    impl Blocking for Scripted {
        type Carry = u8;
        type Output = u8;
        type Error = ();
        fn attempt(&mut self, carry: u8) -> Result<Result<u8, ()>, u8> {
            self.attempts += 1;
            if self.attempts <= self.fails {
                Err(carry)
            } else if self.gone {
                Ok(Err(()))
            } else {
                Ok(Ok(carry))
            }
        }
        fn ready(&self) -> bool {
            self.attempts >= self.fails
        }
        fn wait_on(&self) -> WaitOn<'_> {
            WaitOn {
                sleepers: &self.sleepers,
                waits: Some(&self.waits),
                park: self.park,
                strategy: self.strategy,
                baton: false,
                progress: None,
                peer: None,
                settle: None,
            }
        }
    }

    /// A registry on the fence pair (a paced spell switched it) goes back
    /// after `UNFENCE_AFTER_BRISK` brisk waits, also when every one of them
    /// ends within an SPSC short wait. Those once counted for nothing: the
    /// registry stayed on the fence pair, and every notification paid a
    /// `fence(SeqCst)` (an SPSC `Park` stream after a paced spell ran at
    /// 0.59× a fresh channel's rate; found by a review).
    #[test]
    fn brisk_short_waits_switch_a_registry_back_from_the_fence_pair() {
        let mut op = Scripted::new(0, false);
        op.strategy = WaitStrategy::Park;
        op.park = Some(barrier::Kind::Membarrier);
        op.sleepers.count.fetch_or(NOTIFY_FENCES | WAITERS_FENCE, Ordering::Relaxed);
        let fenced = |op: &Scripted| op.sleepers.count.load(Ordering::Relaxed) & MODE_BITS != 0;
        for i in 0..UNFENCE_AFTER_BRISK {
            assert!(fenced(&op), "still on the fence pair before brisk wait {i}");
            // The short wait's first attempt fails (a wait), its second succeeds.
            op.fails = op.attempts + 1;
            assert_eq!(short_wait(&mut op, 7), Ok(Ok(7)));
        }
        assert!(!fenced(&op), "back on the membarrier pair");
        assert_eq!(op.waits(), u64::from(UNFENCE_AFTER_BRISK));
    }

    /// A registry on the fence pair whose side stopped waiting: the
    /// notifier switches it back after `UNFENCE_AFTER_UNHEARD` fenced
    /// notifications in a row that found nobody registered; one that finds
    /// a sleeper (here a registered thread not yet asleep) starts the count
    /// again. No `membarrier` needed: the bits are set as a switch leaves
    /// them.
    #[test]
    fn unheard_notifications_switch_a_registry_back_from_the_fence_pair() {
        let sleepers = Sleepers::new();
        sleepers.count.fetch_or(NOTIFY_FENCES | WAITERS_FENCE, Ordering::Relaxed);
        for _ in 0..UNFENCE_AFTER_UNHEARD - 1 {
            sleepers.notify_n_after_barrier(1);
        }
        assert!(sleepers.on_fence_pair(), "one unheard notification short");
        sleepers.count.fetch_add(1, Ordering::Relaxed);
        sleepers.notify_n_after_barrier(1);
        sleepers.count.fetch_sub(1, Ordering::Relaxed);
        for _ in 0..UNFENCE_AFTER_UNHEARD - 1 {
            sleepers.notify_n_after_barrier(1);
        }
        assert!(sleepers.on_fence_pair(), "the heard notification broke the streak");
        sleepers.notify_n_after_barrier(1);
        assert!(!sleepers.on_fence_pair(), "back on the membarrier pair");
        assert_eq!(sleepers.count.load(Ordering::Relaxed), 0, "no mode bit left behind");
    }

    #[test]
    fn a_short_wait_that_ends_inline_counts_once() {
        // The caller's attempt failed; short_wait's first attempt fails too
        // (a wait: counted), the third succeeds.
        let mut op = Scripted::new(2, false);
        assert_eq!(short_wait(&mut op, 7), Ok(Ok(7)));
        assert_eq!((op.attempts, op.waits()), (3, 1));
    }

    #[test]
    fn an_attempt_that_finishes_at_once_is_not_a_wait() {
        // Succeeds, or fails for good (disconnection), on short_wait's
        // first attempt: nothing counted.
        let mut op = Scripted::new(0, false);
        assert_eq!(short_wait(&mut op, 7), Ok(Ok(7)));
        assert_eq!(op.waits(), 0);
        let mut gone = Scripted::new(0, true);
        assert_eq!(short_wait(&mut gone, 7), Ok(Err(())));
        assert_eq!(gone.waits(), 0);
    }

    #[test]
    fn a_longer_wait_goes_on_out_of_line_still_counted_once() {
        let fails = SHORT_WAIT_RETRIES + 5;
        let mut op = Scripted::new(fails, false);
        // The short wait gives up with the carry after its retries...
        assert_eq!(short_wait(&mut op, 7), Err(7));
        assert_eq!((op.attempts, op.waits()), (SHORT_WAIT_RETRIES + 1, 1));
        // ...and the out-of-line driver, told it is counted, does not count
        // again; without `counted` it would.
        assert_eq!(block(&mut op, 7, None, true), Ok(Ok(7)));
        assert_eq!((op.attempts, op.waits()), (fails + 1, 1));
        let mut fresh = Scripted::new(3, false);
        assert_eq!(block(&mut fresh, 7, None, false), Ok(Ok(7)));
        assert_eq!(fresh.waits(), 1);
    }

    #[test]
    fn a_stream_caught_while_spinning_keeps_its_budget() {
        // Items every 10 µs, caught 8 µs into the clocked spin each time.
        let mut b = PARK_SPIN_INITIAL_NS;
        for _ in 0..100 {
            b = next_budget(b, 8_000, Ended::Spinning);
        }
        assert_eq!(b, 16_000, "settles at twice the gap it bridges");
    }

    #[test]
    fn a_gap_just_missed_grows_the_budget_within_the_cap() {
        assert_eq!(next_budget(5_000, 12_000, Ended::Waiting), 18_000);
        assert_eq!(next_budget(5_000, PARK_SPIN_MAX_NS, Ended::Waiting), PARK_SPIN_MAX_NS, "capped");
        assert_eq!(next_budget(PARK_SPIN_MAX_NS, u32::MAX / 2, Ended::Spinning), PARK_SPIN_MAX_NS, "capped");
    }

    #[test]
    fn an_idle_channel_settles_into_parking() {
        // Waits of 1 ms: the budget decays to (almost) nothing.
        let mut b = PARK_SPIN_INITIAL_NS;
        let mut waits = 0;
        while b > 100 {
            b = next_budget(b, 1_000_000, Ended::Waiting);
            waits += 1;
        }
        assert!(waits <= 20, "{waits} waits to settle");
    }

    /// A yield that switched to a thread which yielded straight back (on
    /// the 2-vCPU EPYC VM 2.22 / 2.26 µs at p10 / p50, `yl` scratch
    /// program, `docs/measurements.md` 2026-12-04 19:5x–21:xx) ran
    /// another thread; one with nothing else to run (0.41 µs at p50, 0.51
    /// at p99.9) did not. The release-build test
    /// `receivers_sharing_a_cpu_stop_spinning_through_each_others_turn`
    /// (broadcast) shows what the first case costs when it is missed.
    #[test]
    fn a_yield_that_switched_threads_is_contended() {
        use super::yield_ran_another_thread;
        for took in [2_224, 2_263, 4_977] {
            assert!(yield_ran_another_thread(took), "{took} ns");
        }
        for took in [410, 511] {
            assert!(!yield_ran_another_thread(took), "{took} ns");
        }
    }

    #[test]
    fn a_shared_core_stops_the_spinning() {
        let mut b = PARK_SPIN_MAX_NS;
        for _ in 0..16 {
            b = next_budget(b, 5_000, Ended::Contended);
        }
        assert!(b < 10, "{b}");
    }

    /// A `Park` wait on a registry whose budget says spinning does not pay
    /// yields on its first pause, without a spin step, where one thread
    /// waits on each side (a `peer`, here on no known CPU); with a budget at
    /// the threshold it spins first. Where several may wait on each side
    /// (the MPMC ring) it keeps its inline retries whatever the budget.
    #[test]
    fn a_budget_below_the_threshold_skips_the_spin() {
        use super::{Pause, Waiter, PARK_SPIN_OFF_NS};
        for (budget, spins) in [(PARK_SPIN_OFF_NS - 1, false), (0, false), (PARK_SPIN_OFF_NS, true)] {
            let (sleepers, peer) = (Sleepers::new(), Sleepers::new());
            sleepers.spin_budget.store(budget, Ordering::Relaxed);
            let mut w = Waiter::new(WaitStrategy::Park, None);
            assert_eq!(w.pause(&sleepers, Some(&peer), None, None, || false), Pause::Retry);
            assert_eq!((w.step > 0, w.yields), (spins, u32::from(!spins)), "budget {budget}");
            // The wait is clocked either way, so how it ends is learned.
            w.done(&sleepers);
            assert_eq!(w.clock.is_some(), !spins, "budget {budget}");
            // Several waiters per side: the inline retries stay on.
            let mut w = Waiter::new(WaitStrategy::Park, None);
            w.several = true;
            assert_eq!(w.pause(&sleepers, Some(&peer), None, None, || false), Pause::Retry);
            assert_eq!((w.step, w.yields), (1, 0), "budget {budget}, several a side");
        }
        // The short wait makes no retries then (one attempt, counted)...
        for (budget, attempts) in [(0, 1), (PARK_SPIN_OFF_NS, SHORT_WAIT_RETRIES + 1)] {
            let mut op = Scripted::new(u32::MAX, false);
            op.strategy = WaitStrategy::Park;
            op.sleepers.spin_budget.store(budget, Ordering::Relaxed);
            assert_eq!(short_wait(&mut op, 7), Err(7));
            assert_eq!((op.attempts, op.waits()), (attempts, 1), "budget {budget}");
        }
        // ...and coming from the short wait, the driver looks at the budget too.
        for (budget, spins) in [(0, false), (PARK_SPIN_OFF_NS, true)] {
            let (sleepers, peer) = (Sleepers::new(), Sleepers::new());
            sleepers.spin_budget.store(budget, Ordering::Relaxed);
            let mut w = Waiter::after_short_wait(WaitStrategy::Park, None, &sleepers, Some(&peer));
            assert_eq!(w.pause(&sleepers, Some(&peer), None, None, || false), Pause::Retry);
            assert_eq!((w.step > SHORT_WAIT_RETRIES, w.yields), (spins, u32::from(!spins)), "budget {budget}");
        }
    }

    /// A `Park` wait whose peer (one thread, or on the MPMC ring any thread
    /// of the other side) last began waiting on this thread's CPU does not
    /// spin (it yields at once and counts as contended), and records its
    /// own CPU for the peer; a peer elsewhere leaves the spinning on.
    #[test]
    fn a_peer_on_this_cpu_turns_the_spin_off() {
        for several in [false, true] {
            peer_on_this_cpu(several);
        }
    }

    fn peer_on_this_cpu(several: bool) {
        use super::{current_cpu, Pause, Waiter, NO_CPU};
        let mut checked = false;
        for _ in 0..100 {
            let (me, peer) = (Sleepers::new(), Sleepers::new());
            let cpu = current_cpu();
            peer.note_cpu(cpu);
            let mut w = Waiter::new(WaitStrategy::Park, None);
            w.several = several;
            assert_eq!(w.pause(&me, Some(&peer), None, None, || false), Pause::Retry);
            if cpu == NO_CPU {
                // Not known here (not Linux, or Miri): spinning stays on.
                assert_eq!((w.step, w.yields, w.shared_core), (1, 0, false));
                checked = true;
                break;
            }
            if current_cpu() != cpu || me.waiter_cpu.load(Ordering::Relaxed) != cpu {
                continue; // the thread moved meanwhile; try again
            }
            assert_eq!((w.step, w.yields, w.shared_core, w.clock.is_some()), (0, 1, true, false), "several {several}");
            // Learned as contended: the budget halves.
            w.done(&me);
            assert_eq!(me.spin_budget(), PARK_SPIN_INITIAL_NS / 2);
            // A peer on another CPU: the wait spins.
            let elsewhere = Sleepers::new();
            elsewhere.note_cpu(cpu.wrapping_add(1));
            let mut w = Waiter::new(WaitStrategy::Park, None);
            w.several = several;
            assert_eq!(w.pause(&me, Some(&elsewhere), None, None, || false), Pause::Retry);
            assert_eq!((w.step, w.yields, w.shared_core), (1, 0, false), "several {several}");
            checked = true;
            break;
        }
        assert!(checked, "the thread never stayed on one CPU across a pause");
    }

    /// One wait in `SHARED_CORE_PROBE_EVERY` that begins on a core shared
    /// with the other side is a probe. A thread pinned to one CPU waits as
    /// before once a probe saw the sharing (no move, no sleep at once); an
    /// unpinned one moves (the next test).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_shared_core_wait_probes_every_so_often_and_a_pinned_one_stays_put() {
        use super::{current_cpu, Waiter, NO_CPU, SHARED_CORE_PROBE_EVERY};
        const N: usize = SHARED_CORE_PROBE_EVERY as usize;
        // (probe, yields) of each of N + 1 waits that begin on a shared
        // core, the sharing seen (`seen`) before the last; `None` if the
        // thread moved to another CPU meanwhile.
        fn waits(seen: bool) -> Option<Vec<(bool, u32)>> {
            let (me, peer) = (Sleepers::new(), Sleepers::new());
            let cpu = current_cpu();
            peer.note_cpu(cpu);
            let mut out = Vec::new();
            for i in 0..=N {
                if seen && i == N {
                    me.saw_shared_core();
                }
                let mut w = Waiter::new(WaitStrategy::Park, None);
                w.begin(&me, Some(&peer));
                if current_cpu() != cpu || !w.shared_core {
                    return None;
                }
                out.push((w.probe, w.yields));
            }
            Some(out)
        }
        if current_cpu() == NO_CPU {
            return; // not known here (not Linux, or Miri): no shared core is ever seen
        }
        let check = |seens: &[bool]| {
            for &seen in seens {
                let mut expected = vec![(false, 0); N + 1];
                expected[N - 1].0 = true; // the probe
                let got = (0..100).find_map(|_| waits(seen));
                let got = got.unwrap_or_else(|| panic!("the thread never stayed on one CPU for {N} waits"));
                assert_eq!(got, expected, "seen {seen}");
            }
        };
        check(&[false]);
        on_this_cpu_alone(move || check(&[false, true]));
    }

    /// Once a probe saw the sharing, the next wait that begins on a shared
    /// core moves the thread to another CPU of its affinity mask and keeps
    /// the mask; it notes the new CPU for the other side, takes the other
    /// side's evidence (so that it does not follow) and sets both sides'
    /// spin budgets to spin again. With moves turned off it sleeps at once.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_wait_after_a_probe_saw_the_sharing_moves_the_thread_and_keeps_its_mask() {
        use super::{current_cpu, Waiter, NO_CPU, PARK_SPIN_INITIAL_NS};
        use rustix::thread::sched_getaffinity;
        if current_cpu() == NO_CPU {
            return; // not known here (not Linux, or Miri): no shared core is ever seen
        }
        std::thread::spawn(|| {
            let mask = sched_getaffinity(None).expect("read the mask");
            if mask.count() < 2 {
                eprintln!("this thread may run on one CPU only: the move is not checked here");
                return;
            }
            let moved = (0..100).any(|_| {
                let (me, peer) = (Sleepers::new(), Sleepers::new());
                for s in [&me, &peer] {
                    s.spin_budget.store(0, Ordering::Relaxed);
                    s.saw_shared_core();
                }
                let cpu = current_cpu();
                peer.note_cpu(cpu);
                let mut w = Waiter::new(WaitStrategy::Park, None);
                w.begin(&me, Some(&peer));
                let noted = me.waiter_cpu.load(Ordering::Relaxed);
                assert_eq!(sched_getaffinity(None).expect("read the mask again"), mask, "the mask is kept");
                if w.shared_core {
                    return false; // the thread moved to another CPU before `begin` read its CPU
                }
                assert_eq!((w.yields, w.probe), (0, false), "no sleep at once, no probe");
                if noted == cpu && current_cpu() == cpu {
                    // Moved, and once the mask was set back the scheduler
                    // put the thread back at once (seen in CI while another
                    // build loaded the other CPU): nothing to check this time.
                    return false;
                }
                assert!(mask.is_set(noted as usize), "noted {noted}, was on {cpu}");
                assert!(!peer.take_shared_core_seen(), "the other side's evidence is taken");
                assert!(!me.take_shared_core_seen(), "this side's evidence is taken");
                for s in [&me, &peer] {
                    assert_eq!(s.spin_budget(), PARK_SPIN_INITIAL_NS);
                }
                true
            });
            assert!(moved, "no wait began on the CPU it had noted");
            // Moves turned off, for the channel (`Builder::move_threads`)
            // or for the process (`set_move_threads`): the wait sleeps at
            // once instead, the thread stays, and the other side keeps its
            // evidence.
            for global in [false, true] {
                waits_sleep_at_once_and_stay(global, global);
            }
        })
        .join()
        .unwrap();
    }

    /// A wait that begins on a shared core after a probe saw the sharing,
    /// on registries built with moves `moving`, and with moving turned off
    /// for the process if `global_off`, does not move: it sleeps at once
    /// (no yields, no probe), notes its own CPU, and leaves the other
    /// side's evidence. Tries up to 100 times for a wait the scheduler did
    /// not move meanwhile.
    #[cfg(target_os = "linux")]
    fn waits_sleep_at_once_and_stay(moving: bool, global_off: bool) {
        use super::{current_cpu, Waiter, YIELD_STEPS};
        let stayed = (0..100).any(|_| {
            let (me, peer) = (Sleepers::new().moving(moving), Sleepers::new().moving(moving));
            me.saw_shared_core();
            peer.saw_shared_core();
            let cpu = current_cpu();
            peer.note_cpu(cpu);
            let mut w = Waiter::new(WaitStrategy::Park, None);
            if global_off {
                crate::set_move_threads(false);
            }
            w.begin(&me, Some(&peer));
            crate::set_move_threads(true);
            if current_cpu() != cpu {
                return false; // the scheduler moved it
            }
            let case = format!("moving {moving}, global off {global_off}");
            assert_eq!((w.shared_core, w.yields, w.probe), (true, YIELD_STEPS, false), "{case}");
            assert_eq!(me.waiter_cpu.load(Ordering::Relaxed), cpu, "{case}");
            assert!(peer.take_shared_core_seen(), "the other side's evidence is kept: {case}");
            true
        });
        assert!(stayed, "the thread never stayed on one CPU across a wait");
    }

    /// A thread under a seccomp filter never moves (a filter may kill the
    /// process on `sched_setaffinity`): here a filter that allows every
    /// system call, installed on a thread of the test's own.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_under_a_seccomp_filter_never_moves() {
        use super::{current_cpu, NO_CPU};
        if current_cpu() == NO_CPU {
            return;
        }
        std::thread::spawn(|| {
            if rustix::thread::sched_getaffinity(None).expect("read the mask").count() < 2 {
                eprintln!("this thread may run on one CPU only: not checked here");
                return;
            }
            let allow = [libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            }];
            let prog = libc::sock_fprog { len: 1, filter: allow.as_ptr().cast_mut() };
            // SAFETY: `prctl` with these options reads only `prog` (and the
            // one instruction it points to), both alive across the call; the
            // filter (and no-new-privileges) binds this test thread alone,
            // which ends with the test.
            let installed = unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                    && libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog)
                        == 0
            };
            if !installed {
                eprintln!("could not install a seccomp filter here: not checked");
                return;
            }
            waits_sleep_at_once_and_stay(true, false);
        })
        .join()
        .unwrap();
    }

    /// A probe's yield that ran another thread (one spinning, pinned to the
    /// same CPU) marks the sharing seen.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_probes_yield_that_ran_another_thread_marks_the_sharing_seen() {
        use super::{current_cpu, Pause, Waiter, NO_CPU, SHARED_CORE_PROBE_EVERY};
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        if current_cpu() == NO_CPU {
            return;
        }
        on_this_cpu_alone(|| {
            let (stop, running) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
            let spinner = {
                let (stop, running) = (Arc::clone(&stop), Arc::clone(&running));
                let cpu = current_cpu();
                std::thread::spawn(move || {
                    pin_to(cpu).expect("pin the spinner where the test thread is pinned");
                    running.store(true, Ordering::Relaxed);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            };
            while !running.load(Ordering::Relaxed) {
                std::thread::yield_now(); // until the spinner runs on this CPU
            }
            let (me, peer) = (Sleepers::new(), Sleepers::new());
            peer.note_cpu(current_cpu());
            // A yield may return at once although the spinner is queued:
            // the scheduler runs it only once it is due (the spinner ran
            // while this thread waited for it, and under load that left it
            // ahead). So up to 50 probes, each a fresh wait; one whose
            // yield ran the spinner must mark the sharing seen.
            let mut seen = false;
            for _ in 0..50 {
                me.shared_core_waits.store(SHARED_CORE_PROBE_EVERY - 1, Ordering::Relaxed);
                let mut w = Waiter::new(WaitStrategy::Park, None);
                assert_eq!(w.pause(&me, Some(&peer), None, None, || false), Pause::Retry);
                assert_eq!((w.shared_core, w.probe, w.yields), (true, false, 1));
                if me.take_shared_core_seen() {
                    seen = true;
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            spinner.join().unwrap();
            assert!(seen, "no probe's yield ran the spinner");
            assert!(!me.take_shared_core_seen(), "taken once");
        });
    }

    #[cfg(target_os = "linux")]
    use crate::sync::pin_to;

    /// Runs `f` on a thread of its own pinned to the CPU it starts on (so
    /// the test harness's thread keeps its mask); skips it where
    /// `sched_setaffinity` is refused (a sandbox's seccomp policy).
    #[cfg(target_os = "linux")]
    fn on_this_cpu_alone(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || match pin_to(super::current_cpu()) {
            Ok(()) => f(),
            Err(e) => {
                assert_eq!(e, rustix::io::Errno::PERM, "pin the test thread");
                eprintln!("sched_setaffinity refused here: the pinned half is not checked");
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn task_budget_rules() {
        let (cap, on) = (TASK_SPIN_MAX_NS, TASK_SPIN_ON_NS);
        // Caught: at least four times the gap and at least `on`, at most the cap.
        assert_eq!(next_task_budget(on, 1_000, TaskEnd::Caught), 4_000);
        assert_eq!(next_task_budget(on, 10, TaskEnd::Caught), on, "stays on while it catches");
        assert_eq!(next_task_budget(cap, 100, TaskEnd::Caught), cap - cap / 8, "a one-off long gap decays");
        assert_eq!(next_task_budget(cap, u32::MAX / 2, TaskEnd::Caught), cap);
        // Not caught: halved; three misses from the cap turn it off.
        assert_eq!(next_task_budget(cap, cap, TaskEnd::Missed), cap / 2);
        let b = (0..3).fold(cap, |b, _| next_task_budget(b, cap, TaskEnd::Missed));
        assert!(b < on, "{b}");
        // A missed wake-up: the bridge, from any budget (also from off), for
        // one wait: the next catch brings it back under the cap.
        assert!(TASK_BRIDGE_NS > cap);
        for budget in [0, on, cap] {
            assert_eq!(next_task_budget(budget, 40_000, TaskEnd::MissedWakeUp), TASK_BRIDGE_NS);
        }
        assert_eq!(next_task_budget(TASK_BRIDGE_NS, 300, TaskEnd::Caught), cap);
    }

    /// One bridge between two catches: a second missed wake-up before a
    /// catch halves the budget; after a catch the next one bridges again.
    #[test]
    fn a_task_bridges_once_between_catches() {
        let sleepers = Sleepers::new();
        sleepers.learn_task(40_000, TaskEnd::MissedWakeUp);
        assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS);
        sleepers.learn_task(80_000, TaskEnd::MissedWakeUp); // the bridge missed too
        assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS / 2);
        sleepers.learn_task(50_000, TaskEnd::MissedWakeUp); // a shorter spin after it
        assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS / 4);
        sleepers.learn_task(500, TaskEnd::Caught);
        sleepers.learn_task(40_000, TaskEnd::MissedWakeUp);
        assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS, "a catch since: bridges again");
    }

    /// While spinning is off, every `TASK_SPIN_PROBE_EVERY`-th wait spins
    /// the cap as a probe; a probe that catches turns it back on.
    #[test]
    fn task_spinning_turns_off_and_probes_turn_it_back_on() {
        let sleepers = Sleepers::new();
        assert_eq!(sleepers.task_spin_for_wait(), TASK_SPIN_MAX_NS);
        for _ in 0..3 {
            sleepers.learn_task(TASK_SPIN_MAX_NS, TaskEnd::Missed);
        }
        let budgets: Vec<u32> = (0..2 * TASK_SPIN_PROBE_EVERY).map(|_| sleepers.task_spin_for_wait()).collect();
        let probes = budgets.iter().filter(|&&b| b == TASK_SPIN_MAX_NS).count();
        assert_eq!(probes, 2, "{budgets:?}");
        assert!(budgets.iter().all(|&b| b == 0 || b == TASK_SPIN_MAX_NS), "{budgets:?}");
        sleepers.learn_task(600, TaskEnd::Caught); // a probe caught its answer after 0.6 µs
        assert_eq!(sleepers.task_spin_learned(), TASK_SPIN_ON_NS.max(2_400));
        assert_eq!(sleepers.task_spin_for_wait(), TASK_SPIN_ON_NS.max(2_400), "on again");
        // Off again; a probe that misses a peer's wake-up turns it on at the bridge.
        for _ in 0..3 {
            sleepers.learn_task(TASK_SPIN_MAX_NS, TaskEnd::Missed);
        }
        assert_eq!(sleepers.task_spin_for_wait(), 0);
        sleepers.learn_task(45_000, TaskEnd::MissedWakeUp);
        assert_eq!(sleepers.task_spin_for_wait(), TASK_BRIDGE_NS);
    }

    /// `TASK_APART_AFTER` sleeps in a row that end away from the waking
    /// thread make a side's task apart; one that ends on it ends that.
    /// While apart, streaming waits spin but for one probe in
    /// `TASK_APART_PROBE_EVERY`.
    #[test]
    fn a_task_woken_away_from_its_thread_again_and_again_is_apart() {
        let sleepers = Sleepers::new();
        let streaming = |n: u32| (0..n).filter(|_| sleepers.streaming_spins()).count() as u32;
        for _ in 0..TASK_APART_AFTER - 1 {
            sleepers.learn_resumed(true);
        }
        assert!(!sleepers.apart());
        assert_eq!(streaming(8), 0, "streaming waits register (or gather)");
        sleepers.learn_resumed(false);
        for _ in 0..TASK_APART_AFTER - 1 {
            sleepers.learn_resumed(true);
        }
        assert!(!sleepers.apart(), "a sleep that ended on the waking thread starts the count again");
        sleepers.learn_resumed(true);
        assert!(sleepers.apart());
        assert_eq!(streaming(2 * TASK_APART_PROBE_EVERY), 2 * TASK_APART_PROBE_EVERY - 2, "two probes register");
        sleepers.learn_resumed(true);
        assert!(sleepers.apart(), "saturates");
        sleepers.learn_resumed(false);
        assert!(!sleepers.apart());
        assert_eq!(streaming(8), 0);
    }

    /// A receiving task whose sleeps a thread's sends end (its executor
    /// cannot run it on that thread) becomes apart; the same receiver's
    /// sleeps ended from its own thread (its producer a task of the same
    /// executor) end that. Not under Miri, whose clock (counting
    /// interpreted steps) lets a spin outlast the producer's pauses, so
    /// the receiver never sleeps there.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_receiver_woken_by_a_thread_is_apart_and_one_woken_on_its_thread_is_not() {
        let items = 3 * TASK_APART_AFTER;
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(16);
        let producer = std::thread::spawn(move || {
            for i in 0..items {
                // Far longer than any spin: every receive sleeps.
                std::thread::sleep(std::time::Duration::from_millis(2));
                tx.send(i).unwrap();
            }
            tx
        });
        futures::executor::block_on(async {
            for i in 0..items {
                assert_eq!(rx.recv_async().await, Ok(i));
            }
        });
        let mut tx = producer.join().unwrap();
        assert!(rx.waiting().sleepers.apart(), "woken from the producer's thread each time");
        futures::executor::block_on(futures::future::join(
            async {
                for i in 0..64 {
                    tx.send_async(i).await.unwrap();
                }
            },
            async {
                for i in 0..64 {
                    assert_eq!(rx.recv_async().await, Ok(i));
                }
            },
        ));
        assert!(!rx.waiting().sleepers.apart(), "woken on its own thread");
    }

    /// A producer task and a consumer task on one thread (one executor,
    /// no other worker), over rings too small to batch: `(n items, the two
    /// registries' task budgets after, whether each is on the fence pair)`.
    fn one_thread_stream(capacity: usize, n: u32) -> ([u32; 2], [bool; 2]) {
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(capacity);
        futures::executor::block_on(futures::future::join(
            async {
                for i in 0..n {
                    tx.send_async(i).await.unwrap();
                }
            },
            async {
                for i in 0..n {
                    assert_eq!(rx.recv_async().await, Ok(i));
                }
            },
        ));
        let (send, recv) = (tx.waiting(), rx.waiting());
        (
            [send.sleepers.task_spin_learned(), recv.sleepers.task_spin_learned()],
            [send.sleepers.on_fence_pair(), recv.sleepers.on_fence_pair()],
        )
    }

    /// A task woken from the thread it runs on does not spin: its peer is
    /// queued behind it on that thread. On one thread every spin would run
    /// its budget out and turn spinning off (three misses); with the check,
    /// only waits before the registry's first wake-up spin (at most one a
    /// side here), so both budgets stay on.
    #[test]
    fn a_task_whose_peer_runs_on_its_thread_does_not_spin() {
        // Under Miri 300 items (about 18 waits a side at capacity 16, where
        // three misses would turn spinning off): 2 000 made this the
        // longest test of CI's Miri run by far.
        let n = if cfg!(miri) { 300 } else { 2_000 };
        for capacity in [1, 4, 16] {
            let (budgets, _) = one_thread_stream(capacity, n);
            assert!(budgets.iter().all(|&b| b >= TASK_SPIN_ON_NS), "capacity {capacity}: {budgets:?}");
        }
    }

    /// Tasks that sleep every few items put their registries on the fence
    /// pair however short each sleep (`TASK_PACED_MAX_MOVED`): a stream
    /// over a small ring on one thread sleeps once per ring-full a side, a
    /// few hundred ns each, which by the threads' rule (`PACED_WAIT_NS`)
    /// never counted, and every one paid the heavy barrier.
    #[test]
    fn tasks_sleeping_every_few_items_take_the_fence_pair() {
        if barrier::kind() != barrier::Kind::Membarrier {
            return;
        }
        for capacity in [1, 16, 64] {
            let (_, fenced) = one_thread_stream(capacity, 4_000);
            assert_eq!(fenced, [true, true], "capacity {capacity}");
        }
    }

    /// A gather waits for what the ring can hold: `TASK_GATHER_SLOT_NS` a
    /// slot, at most `TASK_GATHER_NS`, and nothing while gathering is off.
    #[test]
    fn a_gather_is_bounded_by_the_capacity() {
        let sleepers = Sleepers::new();
        assert_eq!(sleepers.task_gather_for_wait(16), 0, "off in a new registry");
        sleepers.learn_gather(true);
        assert_eq!(sleepers.task_gather_for_wait(1), TASK_GATHER_SLOT_NS);
        assert_eq!(sleepers.task_gather_for_wait(16), 16 * TASK_GATHER_SLOT_NS);
        assert_eq!(sleepers.task_gather_for_wait(1 << 20), TASK_GATHER_NS);
        assert_eq!(sleepers.task_gather_for_wait(usize::MAX), TASK_GATHER_NS);
        const { assert!(16 * TASK_GATHER_SLOT_NS < TASK_GATHER_NS) };
    }

    /// The registry's task list: entries keep their order (oldest woken
    /// first) through removals from the middle, tombstones never outnumber
    /// live entries by more than the ends' share, and an emptied list gives
    /// back a large buffer.
    #[test]
    fn the_wakers_keep_their_order_and_their_tombstones_few() {
        let waker = futures::task::noop_waker();
        let mut wakers = Wakers::default();
        for k in 0..1_000 {
            wakers.push(k, waker.clone());
        }
        // Futures dropped from the middle, in an order that leaves older
        // and newer ones waiting around each.
        for k in (1..999).filter(|k| k % 3 != 0) {
            assert!(wakers.remove(k).is_some(), "{k}");
            assert!(wakers.remove(k).is_none(), "{k} twice");
            assert!(wakers.dead <= wakers.len() + 1, "{} tombstones, {} live", wakers.dead, wakers.len());
        }
        assert!(wakers.get_mut(5).is_none() && wakers.get_mut(6).is_some());
        let mut left = vec![];
        while let Some(&(k, _)) = wakers.queue.iter().find(|(_, w)| w.is_some()) {
            assert!(wakers.pop_oldest().is_some());
            left.push(k);
        }
        let expected: Vec<u64> = (0..1_000).filter(|k| *k == 0 || *k == 999 || k % 3 == 0).collect();
        assert_eq!(left, expected, "oldest first, none lost");
        assert_eq!((wakers.len(), wakers.dead), (0, 0));
        assert!(wakers.queue.capacity() <= WAKERS_KEPT, "{}", wakers.queue.capacity());
    }

    /// The CPU of the thread a task was last woken from is remembered per
    /// registry: a task about to wait on that CPU is told so, one on
    /// another CPU is not. Threads pinned for the test (skipped where
    /// pinning is refused or there is one CPU; under Miri the CPU is never
    /// known, so never the same).
    #[test]
    fn a_registry_remembers_the_cpu_its_task_was_woken_from() {
        let sleepers = Sleepers::new();
        // Runs `f` on a thread pinned to `cpu`; `None` if pinning is refused.
        let on = |cpu: u32, f: &(dyn Fn() -> bool + Sync)| -> Option<bool> {
            std::thread::scope(|s| s.spawn(|| crate::sync::pin_to(cpu).ok().map(|()| f())).join().unwrap())
        };
        assert_ne!(on(0, &|| sleepers.woken_on_this_cpu()), Some(true), "nobody woke a task yet");
        let mut key = None;
        let _ = sleepers.register_waker(&mut key, futures::task::noop_waker_ref(), true, true);
        let woke = on(0, &|| {
            sleepers.wake_all();
            true
        });
        if woke.is_none() {
            return; // pinning refused here
        }
        assert_eq!(on(0, &|| sleepers.woken_on_this_cpu()), Some(!cfg!(miri)), "a task on the waker's CPU");
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            assert_eq!(on(1, &|| sleepers.woken_on_this_cpu()), Some(false), "a task on another CPU");
        }
        assert!(!sleepers.woken_here(), "on the waker's CPU, not on its thread");
    }

    /// The thread a task was last woken from is remembered per registry.
    #[test]
    fn a_registry_remembers_which_thread_woke_its_task() {
        let sleepers = Sleepers::new();
        assert!(!sleepers.woken_here(), "nobody woke a task yet");
        let mut key = None;
        let _ = sleepers.register_waker(&mut key, futures::task::noop_waker_ref(), true, true);
        std::thread::scope(|s| {
            s.spawn(|| sleepers.wake_all());
        });
        assert!(!sleepers.woken_here(), "woken from another thread");
        let _ = sleepers.register_waker(&mut key, futures::task::noop_waker_ref(), true, true);
        sleepers.wake_all();
        assert!(sleepers.woken_here());
        // A wake-up that finds no task does not change it.
        std::thread::scope(|s| {
            s.spawn(|| sleepers.wake_all());
        });
        assert!(sleepers.woken_here());
    }

    /// "Home threads": on the fence pair, `HOME_AFTER` registrations in a
    /// row of a lone side's task, each on the thread that woke the last
    /// task, make that thread the home (not before, not for a pool, not off
    /// the fence pair); a notification there wakes the task; a
    /// registration from another thread runs the heavy barrier and ends
    /// the home, leaving the fence pair whole; `fence_pair_off` clears it
    /// with the rest.
    #[test]
    fn a_registry_takes_a_home_thread_and_a_waiter_elsewhere_ends_it() {
        use crate::sync::thread_token;
        use std::sync::Arc;
        use std::task::Waker;

        if barrier::kind() != barrier::Kind::Membarrier {
            return; // homes need membarrier (not under Miri)
        }
        let m = barrier::Kind::Membarrier;
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        // Registers the task (`alone` as given) and wakes it from this
        // thread; returns what the registration read.
        let round = |sleepers: &Sleepers, alone: bool| {
            let mut key = None;
            let Registration::New { registered } = sleepers.register_waker(&mut key, &waker, true, alone) else {
                panic!("a registration after a wake-up is new")
            };
            assert!(sleepers.waiter_barrier(m, registered));
            let before = woken.0.load(Ordering::Relaxed);
            sleepers.notify(m);
            assert_eq!(woken.0.load(Ordering::Relaxed), before + 1, "the task was woken");
            registered
        };

        // Off the fence pair: never a home.
        let sleepers = Sleepers::new();
        for _ in 0..2 * HOME_AFTER {
            round(&sleepers, true);
        }
        assert_eq!(sleepers.home_thread(), None, "only a registry on the fence pair has a home");

        let sleepers = Sleepers::new();
        for _ in 0..FENCE_AFTER_PACED {
            sleepers.learn_paced(m);
        }
        assert!(sleepers.on_fence_pair());
        // A pool's registrations never give it a home.
        for _ in 0..2 * HOME_AFTER {
            round(&sleepers, false);
        }
        assert_eq!(sleepers.home_thread(), None, "not for a pool");
        // The streak starts with the first lone registration (the task
        // was last woken here, by the pool's rounds); the `HOME_AFTER`-th
        // in a row makes this thread the home.
        for i in 1..HOME_AFTER {
            round(&sleepers, true);
            assert_eq!(sleepers.home_thread(), None, "not after {i} registrations");
        }
        round(&sleepers, true);
        assert_eq!(sleepers.home_thread(), Some(thread_token()));
        // At home: the registration reads the home, a notification here
        // still wakes the task (it runs no fence).
        let registered = round(&sleepers, true);
        assert_eq!(registered & MODE_BITS, MODE_BITS);
        assert!(sleepers.on_fence_pair());

        // A registration from another thread: the heavy barrier, and the
        // home ends; the fence pair stays.
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut key = None;
                let Registration::New { registered } = sleepers.register_waker(&mut key, &waker, true, true) else {
                    panic!("new")
                };
                assert_eq!(registered & MODE_BITS, MODE_BITS, "it read the home");
                assert!(sleepers.waiter_barrier(m, registered));
                assert!(!sleepers.deregister_waker(&mut key, false), "not woken");
            });
        });
        assert_eq!(sleepers.home_thread(), None, "a waiter elsewhere ended the home");
        assert!(sleepers.on_fence_pair(), "and left the fence pair whole");
        assert_eq!(sleepers.count.load(Ordering::Relaxed), FENCE_PAIR, "with nobody registered");

        // Registrations whose task was woken from another thread do not
        // count.
        for _ in 0..2 * HOME_AFTER {
            let mut key = None;
            let Registration::New { registered } = sleepers.register_waker(&mut key, &waker, true, true) else {
                panic!("new")
            };
            assert!(sleepers.waiter_barrier(m, registered));
            std::thread::scope(|s| {
                s.spawn(|| sleepers.notify(m));
            });
        }
        assert_eq!(sleepers.home_thread(), None, "its peer runs elsewhere");

        // A home again, then the registry leaves the fence pair: no home.
        for _ in 0..=HOME_AFTER {
            round(&sleepers, true);
        }
        assert_eq!(sleepers.home_thread(), Some(thread_token()));
        sleepers.fence_pair_off();
        assert_eq!(sleepers.count.load(Ordering::Relaxed), 0, "every mode bit cleared");
    }

    /// A notification on the home thread with nobody registered (a quiet
    /// home) returns before the general path and counts for nothing: more
    /// than `UNFENCE_AFTER_UNHEARD` of them leave the registry on the fence
    /// pair and at home, while the same number from another thread switch
    /// it back. A thread that has not drawn a token matches no home.
    #[test]
    fn quiet_notifications_at_home_are_not_unheard_ones() {
        use crate::sync::{thread_token, thread_token_if_drawn};

        if barrier::kind() != barrier::Kind::Membarrier {
            return; // homes need membarrier (not under Miri)
        }
        std::thread::spawn(|| {
            assert_eq!(thread_token_if_drawn(), 0, "a new thread has drawn no token");
            let mine = thread_token();
            assert_eq!(thread_token_if_drawn(), mine);
        })
        .join()
        .unwrap();

        let sleepers = Sleepers::new();
        take_home(&sleepers, &counting_waker());
        assert_eq!(sleepers.home_thread(), Some(thread_token()));
        assert_eq!(sleepers.count.load(Ordering::Relaxed), MODE_BITS, "at home, nobody registered");
        for _ in 0..2 * UNFENCE_AFTER_UNHEARD {
            sleepers.notify_n_after_barrier(1);
        }
        assert_eq!(sleepers.home_thread(), Some(thread_token()), "still at home");
        assert!(sleepers.on_fence_pair(), "still on the fence pair");
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..UNFENCE_AFTER_UNHEARD {
                    sleepers.notify_n_after_barrier(1);
                }
            });
        });
        assert!(!sleepers.on_fence_pair(), "unheard from away: back on the membarrier pair");
        assert_eq!(sleepers.count.load(Ordering::Relaxed), 0, "no mode bit left behind");
    }

    /// Once a waiter away ended the home, `home` still names the former
    /// home thread, but its notifications are no longer quiet: they fence
    /// (a waiter that then reads the fence pair without `HOME` only
    /// fences) and count as unheard through the general path. Written by
    /// a review: a quiet-home check that looked at `NOTIFY_FENCES` instead
    /// of `HOME` lost 22 wake-ups in 3 M rounds of a stress test, and
    /// nothing else caught it.
    #[test]
    fn a_former_home_notifies_through_the_general_path() {
        use crate::sync::thread_token;

        if barrier::kind() != barrier::Kind::Membarrier {
            return; // homes need membarrier (not under Miri)
        }
        let sleepers = Sleepers::new();
        let waker = counting_waker();
        take_home(&sleepers, &waker);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut key = None;
                let Registration::New { registered } = sleepers.register_waker(&mut key, &waker, true, false) else {
                    panic!("a first registration is new")
                };
                assert!(sleepers.waiter_barrier(barrier::Kind::Membarrier, registered));
                sleepers.deregister_waker(&mut key, false);
            });
        });
        assert_eq!(sleepers.home_thread(), None, "a waiter away ended the home");
        assert_eq!(sleepers.home.load(Ordering::Relaxed), thread_token(), "`home` names the former home");
        assert!(sleepers.on_fence_pair());
        assert!(!sleepers.quiet_home(sleepers.count.load(Ordering::Acquire)));
        for _ in 0..UNFENCE_AFTER_UNHEARD {
            sleepers.notify_n_after_barrier(1);
        }
        assert!(!sleepers.on_fence_pair(), "fenced and unheard: back on the membarrier pair");
    }

    /// Rounds of the home-thread stress tests below: `HOME_STRESS_ROUNDS`,
    /// or 20 000 (a second or so each; a review's mutations lost wake-ups
    /// at about 1 in 10^4 rounds, `docs/measurements.md`, "home threads").
    /// `None` where the process does not use `membarrier` (no homes).
    fn home_stress_rounds() -> Option<usize> {
        (barrier::kind() == barrier::Kind::Membarrier)
            .then(|| std::env::var("HOME_STRESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000))
    }

    /// A waker that counts its wake-ups (in a [`Count`] nobody reads).
    fn counting_waker() -> std::task::Waker {
        std::task::Waker::from(std::sync::Arc::new(Count(AtomicUsize::new(0))))
    }

    /// Gives `sleepers` the calling thread as its home: the fence pair,
    /// then task registrations each woken from here.
    fn take_home(sleepers: &Sleepers, waker: &std::task::Waker) {
        use crate::sync::thread_token;
        let m = barrier::Kind::Membarrier;
        for _ in 0..1_000 {
            if sleepers.home_thread() == Some(thread_token()) {
                return;
            }
            if !sleepers.on_fence_pair() {
                for _ in 0..FENCE_AFTER_PACED {
                    sleepers.learn_paced(m);
                }
            }
            let mut key = None;
            if let Registration::New { registered } = sleepers.register_waker(&mut key, waker, true, true) {
                assert!(sleepers.waiter_barrier(m, registered));
            }
            sleepers.notify(m);
            let _ = sleepers.deregister_waker(&mut key, false);
        }
        panic!("no home after 1 000 registrations");
    }

    /// Spins for a pseudo-random 0..`max` hints (xorshift on `rng`), so that
    /// the two sides of a stress round meet at varying offsets.
    fn jitter(rng: &mut u32, max: u32) {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 17;
        *rng ^= *rng << 5;
        for _ in 0..*rng % max {
            core::hint::spin_loop();
        }
    }

    /// One round's waiter of the stress tests: registers a task, runs its
    /// barrier, re-checks (`data` reached `round`), then, once `notified`
    /// says the round's notification is done, leaves; a re-check that
    /// missed the publication must have been woken. Counts into `tally`
    /// (missed, lost). `checked` (if any) is told when the re-check is done.
    #[allow(clippy::too_many_arguments)]
    fn stress_waiter(
        sleepers: &Sleepers,
        waker: &std::task::Waker,
        round: usize,
        data: &AtomicUsize,
        notified: &AtomicUsize,
        checked: Option<&AtomicUsize>,
        tally: &(AtomicUsize, AtomicUsize),
    ) {
        let mut key = None;
        let Registration::New { registered } = sleepers.register_waker(&mut key, waker, true, true) else {
            panic!("a new registration")
        };
        assert!(sleepers.waiter_barrier(barrier::Kind::Membarrier, registered));
        let seen = data.load(Ordering::Acquire) >= round;
        if let Some(checked) = checked {
            checked.store(round, Ordering::Release);
        }
        while notified.load(Ordering::Acquire) < round {
            core::hint::spin_loop();
        }
        let woken = sleepers.deregister_waker(&mut key, false);
        if !seen {
            tally.0.fetch_add(1, Ordering::Relaxed);
            if !woken {
                tally.1.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Fails if a stress test's `tally` (missed, lost) counts a lost wake-up.
    fn no_lost_wakeups(rounds: usize, tally: &(AtomicUsize, AtomicUsize)) {
        let (missed, lost) = (tally.0.load(Ordering::Relaxed), tally.1.load(Ordering::Relaxed));
        eprintln!("{rounds} rounds: {missed} re-checks missed the publication, {lost} of them not woken");
        assert_eq!(lost, 0, "{lost} lost wake-ups ({missed} re-checks missed the publication) in {rounds} rounds");
    }

    /// "Home threads", the race itself: each round, this thread (the home)
    /// publishes and notifies without a fence while a task on another
    /// thread registers, runs its barrier and re-checks. A re-check that
    /// missed the publication must find its entry woken. The home is taken
    /// again every round (the waiter away ends it). Written by a review: a
    /// waiter away that only fenced lost 14–336 wake-ups per 200 000–2 M
    /// rounds there; here 47–3 402 per 10^6 rounds (4 runs, the last in a
    /// release build), and 0–17 in 20 000 (debug).
    #[test]
    fn stress_a_waiter_away_from_home_against_notifications_at_home() {
        let Some(rounds) = home_stress_rounds() else { return };
        let sleepers = Sleepers::new();
        let (data, go, notified, checked) =
            (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let tally = (AtomicUsize::new(0), AtomicUsize::new(0));
        let (waker_home, waker_away) = (counting_waker(), counting_waker());
        std::thread::scope(|s| {
            s.spawn(|| {
                for r in 1..=rounds {
                    while go.load(Ordering::Acquire) < r {
                        core::hint::spin_loop();
                    }
                    stress_waiter(&sleepers, &waker_away, r, &data, &notified, Some(&checked), &tally);
                    checked.store(r + rounds + 1, Ordering::Release);
                }
            });
            let mut rng: u32 = 0x9e37_79b9;
            for r in 1..=rounds {
                take_home(&sleepers, &waker_home);
                go.store(r, Ordering::Release);
                jitter(&mut rng, 64);
                data.store(r, Ordering::Release);
                sleepers.notify(barrier::Kind::Membarrier);
                notified.store(r, Ordering::Release);
                while checked.load(Ordering::Acquire) != r + rounds + 1 {
                    core::hint::spin_loop();
                }
            }
        });
        no_lost_wakeups(rounds, &tally);
    }

    /// The other way round: the waiter is at home (it fences), the
    /// notifier away (it must fence). Written by a review: notifiers that
    /// skipped the fence whenever the registry had a home, wherever they
    /// ran, lost 336 wake-ups in 10^6 rounds there, and 374–1 824 here
    /// (release builds) once the waiter's start varied as well (without
    /// that, the notifier came last in nearly every round, and lost
    /// nothing).
    #[test]
    fn stress_a_waiter_at_home_against_notifications_from_away() {
        let Some(rounds) = home_stress_rounds() else { return };
        let sleepers = Sleepers::new();
        let (data, go, notified) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let tally = (AtomicUsize::new(0), AtomicUsize::new(0));
        let waker = counting_waker();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut rng: u32 = 0x1234_5679;
                for r in 1..=rounds {
                    while go.load(Ordering::Acquire) < r {
                        core::hint::spin_loop();
                    }
                    jitter(&mut rng, 64);
                    data.store(r, Ordering::Release);
                    sleepers.notify(barrier::Kind::Membarrier);
                    notified.store(r, Ordering::Release);
                }
            });
            let mut rng: u32 = 0x2545_f491;
            for r in 1..=rounds {
                take_home(&sleepers, &waker);
                go.store(r, Ordering::Release);
                jitter(&mut rng, 128);
                stress_waiter(&sleepers, &waker, r, &data, &notified, None, &tally);
            }
        });
        no_lost_wakeups(rounds, &tally);
    }

    /// A waiter away from home runs one `membarrier`, which also ends the
    /// home; if it fails, the registry goes back to the `membarrier` pair
    /// (the waiter then does not sleep: its barrier failed).
    #[cfg(feature = "__test-hooks")]
    #[test]
    fn a_waiter_away_from_home_pays_one_membarrier_and_survives_its_failure() {
        use crate::sync::barrier::probe::{fail_next_heavy_barriers, membarrier_calls_on_this_thread};

        if barrier::kind() != barrier::Kind::Membarrier {
            return;
        }
        let m = barrier::Kind::Membarrier;
        let waker = futures::task::noop_waker_ref();
        for fail in [false, true] {
            let sleepers = Sleepers::new();
            take_home(&sleepers, waker);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut key = None;
                    let Registration::New { registered } = sleepers.register_waker(&mut key, waker, true, true) else {
                        panic!("a new registration")
                    };
                    let before = membarrier_calls_on_this_thread();
                    fail_next_heavy_barriers(u64::from(fail));
                    let ok = sleepers.waiter_barrier(m, registered);
                    fail_next_heavy_barriers(0);
                    assert_eq!(membarrier_calls_on_this_thread() - before, 1, "one membarrier");
                    assert_eq!(ok, !fail);
                    let _ = sleepers.deregister_waker(&mut key, true);
                });
            });
            assert_eq!(sleepers.home_thread(), None);
            let mode = sleepers.count.load(Ordering::Relaxed) & MODE_BITS;
            assert_eq!(mode, if fail { 0 } else { FENCE_PAIR }, "failed: {fail}");
        }
    }

    /// "Paced registries": three paced waits in a row put a registry on
    /// the fence pair (only where the process uses `membarrier`), a brisk
    /// one in between starts the count again, and eight brisk waits in a
    /// row take it back.
    #[test]
    fn paced_waits_switch_a_registry_to_the_fence_pair_and_brisk_ones_back() {
        let sleepers = Sleepers::new();
        for _ in 0..5 {
            sleepers.learn_paced(barrier::Kind::Fence);
        }
        assert!(!sleepers.on_fence_pair(), "a channel on the fence pair anyway never switches");
        if barrier::kind() != barrier::Kind::Membarrier {
            return; // the rest needs membarrier (not under Miri)
        }
        let sleepers = Sleepers::new();
        let m = barrier::Kind::Membarrier;
        sleepers.learn_paced(m);
        sleepers.learn_paced(m);
        sleepers.learn_brisk();
        sleepers.learn_paced(m);
        sleepers.learn_paced(m);
        assert!(!sleepers.on_fence_pair(), "the brisk wait broke the streak");
        sleepers.learn_paced(m);
        assert!(sleepers.on_fence_pair());
        for _ in 0..UNFENCE_AFTER_BRISK - 1 {
            sleepers.learn_brisk();
        }
        sleepers.learn_paced(m);
        for _ in 0..UNFENCE_AFTER_BRISK - 1 {
            sleepers.learn_brisk();
        }
        assert!(sleepers.on_fence_pair(), "the paced wait broke the brisk streak");
        sleepers.learn_brisk();
        assert!(!sleepers.on_fence_pair());
        assert_eq!(sleepers.count.load(Ordering::Relaxed), 0, "no mode bit left behind");
    }

    /// Tasks teach a registry its barrier pair as threads do: receives that
    /// slept `PACED_WAIT_NS` or more, one item apart, switch it to the fence
    /// pair after `FENCE_AFTER_PACED` in a row, and receives that slept
    /// briefly switch it back after `UNFENCE_AFTER_BRISK`.
    #[test]
    fn tasks_paced_waits_switch_a_registry_to_the_fence_pair_and_brisk_ones_back() {
        use core::future::Future;
        use core::task::{Context, Poll};
        use std::time::Duration;
        if barrier::kind() != barrier::Kind::Membarrier {
            return;
        }
        /// One `recv_async` that registers (the ring is empty: `Pending`),
        /// then gets its item `gap` later; whether the registry is on the
        /// fence pair after it.
        fn receive(tx: &mut crate::spsc::Producer<u32>, rx: &mut crate::spsc::Consumer<u32>, gap: Duration) -> bool {
            let mut cx = Context::from_waker(futures::task::noop_waker_ref());
            {
                let mut fut = core::pin::pin!(rx.recv_async());
                assert!(fut.as_mut().poll(&mut cx).is_pending());
                std::thread::sleep(gap);
                tx.try_send(7).unwrap();
                assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
            }
            // As if woken from another thread on another CPU (a peer on
            // another worker): a wake-up from this thread, or from this
            // CPU, would make the next wait one that does not spin, whose
            // sleeps count however short
            // (`a_task_whose_peer_runs_on_its_thread_does_not_spin`,
            // `a_task_woken_from_its_own_cpu_does_not_spin`).
            rx.waiting().sleepers.pretend_woken_on(crate::sync::NO_CPU);
            rx.waiting().sleepers.on_fence_pair()
        }
        let paced = Duration::from_nanos(u64::from(PACED_WAIT_NS) + 10_000);
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(4);
        for _ in 0..FENCE_AFTER_PACED - 1 {
            assert!(!receive(&mut tx, &mut rx, paced));
        }
        assert!(receive(&mut tx, &mut rx, paced), "paced task waits switch the registry");
        for _ in 0..UNFENCE_AFTER_BRISK - 1 {
            assert!(receive(&mut tx, &mut rx, Duration::ZERO), "too few brisk waits to switch back");
        }
        // The next brisk wait switches it back. (A preemption on a busy
        // machine can stretch a wait past `PACED_WAIT_NS`, which makes it
        // paced and restarts the count: allow for a few.)
        let switched_back = (0..10 * UNFENCE_AFTER_BRISK).any(|_| !receive(&mut tx, &mut rx, Duration::ZERO));
        assert!(switched_back, "brisk task waits switch it back");
    }

    /// A long registered wait is paced only if its side moved few items
    /// since the previous one: a fast stream that stalls now and then must
    /// not put every notify of it on a fence.
    #[test]
    fn only_long_waits_a_few_items_apart_are_paced() {
        if barrier::kind() != barrier::Kind::Membarrier {
            return;
        }
        let m = barrier::Kind::Membarrier;
        let pos = AtomicUsize::new(0);
        let side = Progress::counter(&pos, 1);
        let sleepers = Sleepers::new();
        // A wait that slept, `long` or not, after its side moved `moved` items.
        let wait = |moved: usize, long: bool| {
            pos.fetch_add(moved, Ordering::Relaxed);
            sleepers.learn_registered(m, long, Some(&side), PACED_MAX_MOVED);
        };
        wait(0, true); // the first one sets the position
        (0..FENCE_AFTER_PACED).for_each(|_| wait(1_000, true));
        assert!(!sleepers.on_fence_pair(), "a thousand items per wait is a stream");
        (0..FENCE_AFTER_PACED - 1).for_each(|_| wait(1, true));
        wait(0, false);
        wait(1, true);
        assert!(!sleepers.on_fence_pair(), "a short wait broke the streak");
        (0..FENCE_AFTER_PACED - 1).for_each(|_| wait(1, true));
        assert!(sleepers.on_fence_pair(), "an item per long wait is paced");
        let unknown = Sleepers::new();
        for _ in 0..2 * FENCE_AFTER_PACED {
            unknown.learn_registered(m, true, None, PACED_MAX_MOVED);
        }
        assert!(!unknown.on_fence_pair(), "a side without a position never switches");
    }

    /// On the fence pair, a registration reads `WAITERS_FENCE` (so it
    /// runs a fence, not `membarrier`), the count under the bits is what
    /// it would be without them, and a notify wakes a sleeping thread and a
    /// registered task.
    #[test]
    fn a_registry_on_the_fence_pair_wakes_threads_and_tasks() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        use std::task::Waker;

        if barrier::kind() != barrier::Kind::Membarrier {
            return;
        }
        let kind = barrier::Kind::Membarrier;
        let sleepers = Arc::new(Sleepers::new());
        for _ in 0..FENCE_AFTER_PACED {
            sleepers.learn_paced(kind);
        }
        assert!(sleepers.on_fence_pair());
        sleepers.notify(kind); // nobody registered: nothing to wake
        assert_eq!(sleepers.wakeups(), 0);

        // A task.
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut key = None;
        let Registration::New { registered } = sleepers.register_waker(&mut key, &waker, true, true) else {
            panic!("a first registration is new")
        };
        assert_eq!(registered & MODE_BITS, FENCE_PAIR, "the registration read the fence pair");
        assert_eq!(registered & !MODE_BITS, 0);
        assert!(sleepers.waiter_barrier(kind, registered));
        assert_eq!(sleepers.count.load(Ordering::Relaxed) & !MODE_BITS, 1);
        sleepers.notify(kind);
        assert_eq!(woken.0.load(Ordering::Relaxed), 1, "the task was woken");
        assert_eq!(sleepers.count.load(Ordering::Relaxed), FENCE_PAIR, "and taken off the count");
        assert!(sleepers.deregister_waker(&mut key, false), "its entry is gone: it was woken");

        // A thread.
        let flag = Arc::new(AtomicBool::new(false));
        let (s2, f2) = (sleepers.clone(), flag.clone());
        let sleeper = std::thread::spawn(move || {
            while !f2.load(Ordering::Acquire) {
                s2.sleep(kind, None, None, || f2.load(Ordering::Acquire));
            }
        });
        while sleepers.count.load(Ordering::Relaxed) & !MODE_BITS == 0 {
            std::thread::yield_now();
        }
        flag.store(true, Ordering::Release);
        sleepers.notify(kind);
        sleeper.join().unwrap();
        assert_eq!(sleepers.count.load(Ordering::Relaxed), FENCE_PAIR, "every sleeper left the count");
        assert!(sleepers.on_fence_pair());
    }

    #[test]
    fn progress_counts_items_across_laps() {
        let pos = AtomicUsize::new(0);
        let plain = Progress::counter(&pos, 1);
        assert_eq!(plain.moved(5, 6), 1);
        assert_eq!(plain.moved(usize::MAX, 0), 1, "wraps");
        // MPMC positions: `lap + index`, 3 slots per lap of 4.
        let ring = Progress { pos: &pos, one_lap: 4, per_lap: 3, capacity: 3, handles: None };
        assert_eq!(ring.moved(1, 2), 1);
        assert_eq!(ring.moved(2, 4), 1, "last slot of a lap to the first of the next");
        assert_eq!(ring.moved(2, 8 + 1), 5);
        assert_eq!(ring.moved(usize::MAX - 3 + 2, 0), 1, "across the wrap of usize");
        assert!(ring.moved(4, 2) > 1_000, "backwards reads as many");
        // The registry remembers the position of the last task wait.
        let sleepers = Sleepers::new();
        pos.store(10, Ordering::Relaxed);
        let _ = sleepers.task_moved_since_last_wait(&plain);
        pos.store(11, Ordering::Relaxed);
        assert_eq!(sleepers.task_moved_since_last_wait(&plain), 1);
        assert_eq!(sleepers.task_moved_since_last_wait(&plain), 0);
    }
}
