//! Async send and receive on every ring (SPSC, MPMC, broadcast): the
//! futures returned by `send_async` / `recv_async`, and (feature `futures`)
//! the `Stream` and `Sink` adapters.
//!
//! # How a task waits
//!
//! A task waits in the *same* sleeper registry as a blocked thread
//! ([`Sleepers`]): a sleeper is a parked thread or a
//! registered [`Waker`](core::task::Waker), both counted in the registry's `count`, so one
//! publication wakes whichever kind waits, under the one eventcount protocol
//! of `wait.rs`. A poll that finds no room (no item):
//!
//! 1. registers the task's waker (a new entry, counted in `count`), or, if
//!    its entry from an earlier poll is still there, only replaces the waker
//!    when it would not wake the same task — repeated polls never add
//!    entries, and the waker of the latest poll is the one woken;
//! 2. after a *new* registration runs the heavy barrier and re-checks the
//!    condition with fresh loads; if it now holds, it tries again at once
//!    (staying registered), otherwise it returns `Pending`.
//!
//! A notifier is unchanged: light barrier, one load of `count`, and only if
//! it is non-zero the mutex, where it hands a token to a sleeping thread or
//! takes one waker out of the registry (and off `count`) and wakes it after
//! releasing the mutex. So a channel on which no task ever waited pays
//! exactly what it paid before: the notifier never looks at the wakers
//! while `count` is 0. "My entry is gone" means "a notifier woke me".
//!
//! # Spinning before registering
//!
//! Registering costs the heavy barrier: on Linux a `membarrier` system
//! call, which interrupts every CPU running a thread of the process (9.2 µs
//! on the 2-vCPU EPYC VM with the other vCPU busy), and the wake-up then
//! goes through the executor (a parked worker took about 4 µs to run
//! again there; 20–25 µs on a later Zen 5 VM once it had idled 100 µs).
//! For an exchange where every item answers the previous one (a
//! ping-pong) that made an async round trip cost 17 µs. So on `Park`
//! channels a task may spin first, as a blocked thread does: at the first
//! pause of an operation, if its side of the channel moved at most 16
//! items since a task last began a wait on the same registry (a ping-pong
//! moves one; a ring of capacity 1 to 16 fills or empties every few), and,
//! on an MPMC channel, it is its side's only handle (a pool of receivers
//! that find the ring empty would all hold workers for one item), it
//! retries (spin-loop hint, fresh re-check) for at most the registry's
//! learned task budget — at most 10 µs (30 µs to bridge a wake-up, at
//! most once between two catches, below), during which its worker runs
//! nothing else — and only then registers. After a batch it does not
//! spin: there spinning would keep the two tasks on two workers with every
//! item crossing between their cores one at a time (measured far apart:
//! half the throughput of registering at once when every wait spun).
//! Those streaming waits register at once, or gather first (below), unless
//! the task is apart from its peer ("Tasks apart") or away from its
//! registry's home ("Away from home").
//!
//! Nor does a task spin (or gather) when the last task woken on its
//! registry was woken from the thread it now runs on: its peer ran on this
//! thread and is queued behind it (a current-thread runtime; a tokio
//! worker, which runs a task it woke next, in its LIFO slot), so nothing
//! can arrive before it returns `Pending`. Each registry remembers the
//! thread of the notifier that last woke a task there; a thread is told
//! apart by a number unique in the process, kept in a thread-local
//! (`sync::thread_token`; no system call). Nor when that notifier's thread
//! was then on the CPU this task's thread runs on now (a `sched_getcpu`
//! through the vDSO, at the wake-up and at this decision): the peer's
//! thread shares the CPU, and a spin holds the CPU the answer needs. On a
//! 2-vCPU Intel VM an async ping-pong (`block_on` on the main thread, the
//! echo task on a worker: three threads on two vCPUs) whose two busy
//! threads the kernel had put on one vCPU part of the time ran at 2–29 µs
//! per round trip (p50) while its tasks spun there, 1.7–1.8 µs without,
//! against 0.4–0.8 µs on two vCPUs, and the process's CPU per round trip
//! fell from 4.2–31 µs to 2.7–7.8 µs (`docs/measurements.md`, "the async
//! ping-pong misses here").
//!
//! The budget learns from how each spin ended: one caught while spinning
//! keeps the budget at least four times the gap it bridged (and spinning
//! on); one that spun its budget out halves it — spinning that catches
//! nothing held the worker for nothing, whether the peer is idle, slow, or
//! waiting for the very CPU the task holds (more busy threads than cores)
//! — unless it missed a wake-up ("Tasks apart"). Three misses from the cap
//! turn spinning off; then one wait in 16 spins the cap anyway as a probe,
//! and a probe that catches turns it back on (so a ping-pong whose two
//! sides both fell back to registering finds its way back). The policy
//! only decides *when* a task registers; the registration, barrier and
//! re-check above are unchanged, and under loom (no clock) tasks register
//! at once.
//!
//! # Tasks apart
//!
//! Registering pays off when the executor then runs the woken task where
//! its peer woke it (tokio's LIFO slot; a current-thread runtime with both
//! tasks): from then on the two take turns on one thread, each item in that
//! thread's cache. Where it never can — one task per thread
//! (thread-per-core runtimes, a current-thread runtime on each of two
//! threads), or a peer that is a thread — each sleep costs a wake-up of a
//! parked thread, 20–25 µs on the 2-vCPU Zen 5 VM once it has idled a
//! while, and the two sides fall into a cycle: each waits while the other
//! is waking, spins its budget (at most 10 µs) out, misses, halves the
//! budget and sleeps, until spinning is off on both and every ring-full
//! costs two wake-ups. On a capacity-16 ring between two current-thread
//! runtimes that ran at 0.4–4 M items/s, against 20–33 M for the MPMC
//! ring, which happened not to fall in (`docs/measurements.md`,
//! 2026-12-05 "two tasks on two threads"). Two rules break it:
//!
//! - **Bridging a wake-up.** An operation that spun out, slept, was woken
//!   from another thread than the one it ends on, and ended within 60 µs
//!   of its spin's start (`TASK_BRIDGE_WITHIN_NS`) missed a peer that was
//!   waking up, not an idle one: the next wait's budget is 30 µs
//!   (`TASK_BRIDGE_NS`) instead of half. Spinning through one wake-up is
//!   enough: the peer is then running, and answers within the usual budget
//!   again (the next catch brings the budget back under 10 µs). At most
//!   one bridge between two catches: a bridge that misses, or a shorter
//!   spin after it that misses a wake-up again, halves the budget as any
//!   miss (items 35–55 µs apart otherwise bridged every other wait, the
//!   task spinning 40–60 % of its thread and still sleeping on most
//!   items). A task woken on the thread it ends on (its executor ran it
//!   where its peer woke it) did not miss a wake-up: the rule does not
//!   apply.
//! - **Apart.** A side's task whose last four sleeps (`TASK_APART_AFTER`)
//!   each ended on another thread than the one that woke it is *apart*: its
//!   executor does not bring it to its peer, so registering after a batch
//!   brings nothing either, and its streaming waits spin as a short one
//!   does while spinning is on (while it is off they gather as before,
//!   and may be its probes). One streaming wait in 1 024
//!   (`TASK_APART_PROBE_EVERY`) registers anyway, as a probe: if it sleeps,
//!   an executor that can bring the two tasks together does so, the sleep
//!   ends on the waking thread, and the task is no longer apart. A probe
//!   whose re-check finds the item (the peer is streaming on another
//!   worker) learns nothing, so a task on a multi-threaded executor that
//!   became apart may stay so while both sides stream; it needs four
//!   sleeps in a row to end away from the waking thread, which tokio's
//!   LIFO slot makes rare (measured on a 2-worker runtime: 0–3 of a run's
//!   28 registries became apart at capacity 16, each came back, none at
//!   1 024).
//!
//! Both are per registry, learned by the side's only handle (an MPMC
//! handle shared by several tasks through an `Arc` counts as one handle:
//! its counters may then lose counts, which changes nothing but the
//! policy), and, as the rest of the task policy, not under loom.
//!
//! # Away from home
//!
//! A registry on the fence pair may have a home thread (`wait.rs`, "Home
//! threads"): its notifications there skip the fence, and a task that
//! registers on another thread ends the home with a `membarrier`. On a
//! multi-thread runtime whose two tasks share a worker, the other worker
//! now and then takes one of them (tokio runs a woken task from its LIFO
//! slot at most three times in a row, then from its run queue, where an
//! idle worker steals it). That task's next wait begins away from the
//! home, next to an idle thread, while its peer streams on the home: a
//! 1p1c SPSC task stream at capacity 16 on a 2-worker runtime ended a
//! home about once per 50 ring-fulls, and each `membarrier` took about
//! 9 µs with the other vCPU busy (`docs/measurements.md`, "away from
//! home"). So such a wait, by the side's only handle, first spins up to
//! `TASK_AWAY_SPIN_NS` (5 µs) re-checking its ring, and registers only if
//! that misses. The away spin takes the place of the spin phase's
//! decision, after a batch too: a miss registers without a budget spin or
//! a gather, its sleep is timed as a spinning wait's is (not counted as
//! paced however short), and it teaches no task budget. After
//! `TASK_AWAY_OFF_AFTER` (2) misses in a row a registry's away waits skip
//! the away spin and take that decision as any wait does, but for every
//! `TASK_AWAY_PROBE_EVERY`-th (16), which spins again. A catch leaves the
//! home where it is, so a task the other worker took may stay there while
//! both sides stream; at capacity 64 the 1p1c SPSC row of
//! `benches/async.rs` ran apart (under 30 % of the samples on one worker)
//! in 6 of 9 runs against 4 of 9 before, at 21–113 M items/s against
//! 23–34 (`docs/measurements.md`, "away from home").
//!
//! # Gathering before registering
//!
//! A streaming side — a receive or a send after a batch — registers at
//! once (unless it is apart from its peer, above), and its registration
//! is often futile: the peer is running on the other worker and publishes
//! while the heavy barrier runs, so the re-check finds the item and the
//! task goes on without sleeping. It paid a
//! `membarrier` (which also interrupts the peer's CPU) to learn that, and
//! it then takes the items one cache line at a time as they cross, finds
//! the ring empty (full) again, and registers again. So a registration
//! whose re-check finds the item turns *gathering* on for its registry: the
//! next streaming wait there first waits without looking at the ring
//! (spin-loop hints and the clock only, so the peer's lines stay with the
//! peer) for `TASK_GATHER_NS` (3 µs), or 25 ns per slot of a smaller ring
//! (it cannot gather more than its capacity), then looks once; it goes on
//! if the peer published (or made room) meanwhile, and otherwise turns
//! gathering off and registers as before. A peer that stopped costs one
//! gather; one that streams costs a short wait instead of a system call,
//! and the items cross in batches. As with spinning, only a side's sole
//! handle gathers (an MPMC side with several handles registers at once),
//! nothing gathers under loom, and the policy only decides *when* a task
//! registers.
//!
//! # Which barrier pair a task's registry takes
//!
//! A registry switches to the fence pair when its waits sleep every few
//! items (`wait.rs`, "Paced registries"). A task's sleep (it returned
//! `Pending` after registering) counts by the threads' rule if the task
//! spun first (a long sleep, at most 16 items on; an apart task's
//! streaming wait that spun too), and otherwise — its peer on its thread,
//! or a streaming wait that did not spin — however short it was, if its
//! side moved at most `TASK_PACED_MAX_MOVED` (256) items since the
//! previous sleep: such a task registers every few hundred items at most,
//! and on the `membarrier` pair each registration cost 0.5–15 µs, where a
//! fenced notification costs nanoseconds. (Counting the spinning waits'
//! short sleeps too put the async ping-pong out of its spinning
//! equilibrium.) A task wait that ended without sleeping teaches nothing;
//! a side that stops sleeping is switched back by its notifier
//! (`UNFENCE_AFTER_UNHEARD`).
//!
//! # Cancellation
//!
//! - A receive takes a value out of the ring only inside the `poll` that
//!   returns it: a dropped `recv_async` future took nothing.
//! - A dropped future removes its entry (the registry's mutex, held by
//!   nobody across a wait, so dropping never blocks). If the entry was
//!   already gone, the future had consumed a wake-up without using it, and
//!   it hands that wake-up to another sleeper (thread or task), so the
//!   publication it was meant for still reaches a waiter.
//! - A completed operation removes its entry too, so no stale waker is left
//!   behind to swallow a later wake-up; an MPMC operation that had
//!   registered and then succeeded passes the baton as a woken thread does
//!   (`Sleepers::pass_baton`).
//! - A dropped `send_async` future did not send, and its value is dropped
//!   with it (as with tokio's `Sender::send`).
//! - A leaked (`mem::forget`) pending future never exposes a value. On an
//!   SPSC ring (and a broadcast receiver) the next registration retires
//!   its entry. On an MPMC ring, where several futures may wait on one
//!   registry, its entry stays until a wake-up takes it, oldest first: it
//!   absorbs that one wake-up, and a waiter registered after it is woken
//!   by the next publication instead.
//! - A waker that panics when woken: the panic comes out of the call that
//!   woke it (a send, a receive, a handle's drop), and every other waiter
//!   that call was waking is woken all the same. A receive that wakes a
//!   waiting sender has already taken its item, which that unwinding then
//!   drops.
//! - Wakers are woken after every lock of the waking call is released: a
//!   wake-up may drop the last reference to its task, and with it a
//!   future that owns a handle of the same channel.
//!
//! # Wait strategies
//!
//! On [`WaitStrategy::Park`] channels (the default) tasks wait as described
//! above. On `BusySpin` and `SpinYield` channels nobody ever sleeps and no
//! call notifies (that is what makes them free of system calls), so a
//! pending task does what a waiting thread does there: it gives the worker
//! back and comes straight back (it wakes its own waker and returns
//! `Pending`, as `tokio::task::yield_now` does). No wake-up can be lost
//! because none is needed, and the notifying side pays nothing — not even
//! a load — whether or not a task ever waited. The price is the strategy's
//! own: a task waiting on such a channel keeps its worker busy.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::sync::{spin_hint, Ordering};
#[cfg(not(loom))]
use crate::sync::{spin_until, Instant, PACED_MAX_MOVED, TASK_BRIDGE_WITHIN_NS, TASK_PACED_MAX_MOVED};
#[cfg(not(loom))]
use crate::wait::lasted_paced;
use crate::wait::{drive, Blocking, Registration, WaitOn, Waits};
#[cfg(not(loom))]
use crate::wait::{Sleepers, TaskEnd};
#[cfg(doc)]
use crate::WaitStrategy;
use crate::{broadcast, mpmc, spsc, RecvError, SendError};

// An async operation is driven by the same driver as a blocking one
// (`wait::drive`, over the handle's `Blocking` impl: its attempt, its fresh
// re-check and its `WaitOn`); only the way it waits between attempts
// differs (`TaskWait` below instead of a thread's `Waiter`). From `WaitOn`
// it uses the registry, counter, barrier kind, and `baton`: several waiters
// may share the registry (MPMC), so an operation that registered and then
// succeeded passes the baton; on an SPSC registry (and a broadcast
// receiver's own registry, or the broadcast sender's) at most one operation
// can wait, its handle borrowed `&mut` for as long as the future lives, so a
// new registration retires any entry left by a leaked (`mem::forget`)
// future instead.

/// The waiting state an async operation keeps between polls: none until
/// its first pause. A future is built with only this `None` (one byte
/// written), and one whose first attempt succeeds never writes more: with
/// the whole state built for every `send_async` / `recv_async`, a stream of
/// ready operations on one thread ran about 5 ns per item slower than
/// `try_send` / `try_recv` with a yield on `Full` / `Empty`
/// (`docs/measurements.md`, 2026-12-06).
#[derive(Debug, Default)]
pub(crate) struct AsyncWait(Option<WaitState>);

/// An async operation's waiting state once it paused (see [`AsyncWait`]).
#[derive(Debug, Default)]
struct WaitState {
    /// The future's entry in the registry, if it registered and has not
    /// deregistered since. (The entry itself may be gone: woken.)
    key: Option<u64>,
    /// Registered at least once in this operation.
    registered: bool,
    /// `Park`: the spin phase of this operation (see [`TaskSpin`]).
    #[cfg(not(loom))]
    spin: TaskSpin,
    /// `Park`: whether this operation returned `Pending` after registering
    /// (it slept, as a thread's wait does), for the registry's choice of
    /// barrier pair when it ends (see `complete`).
    #[cfg(not(loom))]
    sleep: Sleep,
}

/// Whether an async operation slept, and how its sleep counts for the
/// registry's barrier pair (`WaitState::complete`).
#[cfg(not(loom))]
#[derive(Debug, Default, Clone, Copy)]
enum Sleep {
    /// It has not returned `Pending` after registering.
    #[default]
    Awake,
    /// It slept, and counts by its length from this instant (it spun first:
    /// [`TaskSpin::sleeps_pace`] is false). A clock read only on the way to
    /// sleep.
    Since(Instant),
    /// It slept, and counts however short (`sleeps_pace`).
    Untimed,
}

/// What a task's operation on a `Park` channel does before it registers
/// (module docs, "Spinning before registering" and "Gathering before
/// registering"), decided at its first pause and only if it is its side's
/// only handle. Nothing, if the last task woken on its registry was woken
/// from the thread it runs on ([`Sleepers::woken_here`]), or from a thread
/// then on the CPU it runs on ([`Sleepers::woken_on_this_cpu`]). A short spin
/// and nothing else, if the registry's home is another thread ("Away from
/// home"). Otherwise, if
/// its side moved at most `TASK_SPIN_MAX_MOVED` items since a task last
/// began a wait on the registry, or the task is apart from its peer
/// ([`Sleepers::streaming_spins`]; module docs, "Tasks apart"), it
/// retries with spin-loop hints and fresh re-checks for at most the
/// registry's learned task budget; the end of the operation teaches the
/// budget how the wait ended ([`Sleepers::learn_task`]). Any other
/// streaming wait (and an apart one while spinning is off) gathers once if
/// the registry has gathering on. Not under loom, which has no clock:
/// tasks register at once there.
#[cfg(not(loom))]
#[derive(Debug, Default)]
struct TaskSpin {
    /// It spins: when the spin phase began and the budget it runs to.
    /// (Kept small: every future carries this.)
    began: Option<(Instant, u32)>,
    /// The first pause of the operation has decided whether to spin.
    decided: bool,
    /// Decided not to spin, on a side with one handle: its peer last woke
    /// it from this thread or this CPU, or its side moved more than
    /// `TASK_SPIN_MAX_MOVED` items since the previous wait (and it does not
    /// spin there as an apart task does). A sleep of
    /// such a wait counts as paced for the registry's barrier pair however
    /// short it was, if its side moved at most `TASK_PACED_MAX_MOVED` items
    /// since the previous sleep there ([`WaitState::complete`]).
    sleeps_pace: bool,
}

/// Items a side may have moved since the previous task wait on its
/// registry for the next one to spin. A side that waits after every item
/// or every few is latency-bound (a ping-pong: one item each time) or
/// bound by a small ring (capacity 1 to 16), where catching the item (the
/// room) in place saves registering and being woken; its peer, if it runs
/// on another thread, answers within a few hundred ns. A side that moved
/// more between waits is streaming, and there spinning keeps the two tasks
/// on two workers, each item crossing between their cores, where
/// registering lets the executor run both on one worker (measured in
/// `benches/async.rs`, vCPUs far apart, capacity 1 024: 1p1c and 4p4c at
/// about half the throughput of registering at once when every wait spun).
/// Until 2026-12-04 only receives spun, after one item: small rings then
/// registered (or gathered) on every wait, 3.4 µs per item at capacity 1
/// on a 2-worker tokio runtime against kanal's 0.07 µs
/// (`docs/measurements.md`, "small rings").
#[cfg(not(loom))]
const TASK_SPIN_MAX_MOVED: usize = 16;

#[cfg(not(loom))]
impl TaskSpin {
    /// At the first pause, decides: gathers, or starts spinning; then
    /// spins (retrying `ready`) while the registry's budget lasts, counted
    /// from that first pause, reading the clock every `SPIN_CLOCK_EVERY`
    /// looks (so a spin with any budget looks that many times). `true` once
    /// `ready()` holds.
    #[inline(never)]
    fn spin(&mut self, side: &WaitOn<'_>, ready: impl Fn() -> bool) -> bool {
        let sleepers = side.sleepers;
        if !self.decided {
            self.decided = true;
            let Some(p) = side.progress.filter(|p| p.alone()) else { return false };
            let moved = sleepers.task_moved_since_last_wait(&p);
            // Its peer woke it from this thread (or CPU) last: the peer is
            // queued behind it here, and can answer only once it returns
            // `Pending` (or its thread is preempted).
            if sleepers.woken_here() || sleepers.woken_on_this_cpu() {
                self.sleeps_pace = true;
                return false;
            }
            // Away from the registry's home: registering would end it with
            // a `membarrier`; spin briefly first ("Away from home" in the
            // module docs).
            if sleepers.home_elsewhere() {
                let ns = sleepers.away_spin_for_wait();
                if ns > 0 {
                    let caught = spin_until(Instant::now(), ns, &ready);
                    sleepers.learn_away(caught);
                    return caught;
                }
            }
            let streaming = moved > TASK_SPIN_MAX_MOVED;
            // A streaming wait spins too while the task is apart from its
            // peer ("Tasks apart" in the module docs), if spinning is on
            // (or this is a spinning probe).
            let budget = if !streaming || sleepers.streaming_spins() { sleepers.task_spin_for_wait() } else { 0 };
            if budget > 0 {
                self.began = Some((Instant::now(), budget));
            } else if streaming {
                self.sleeps_pace = true;
                let gather = sleepers.task_gather_for_wait(p.capacity);
                if gather > 0 {
                    return Self::gather(sleepers, gather, ready);
                }
            }
        }
        let Some((began, budget)) = self.began else { return false };
        spin_until(began, budget, ready)
    }

    /// A streaming wait (after a batch) while gathering
    /// is on: waits `ns` without looking at the ring (so the peer's lines
    /// are not pulled across one at a time), then looks once. Finding
    /// nothing turns gathering off.
    #[cold]
    #[inline(never)]
    fn gather(sleepers: &Sleepers, ns: u32, ready: impl Fn() -> bool) -> bool {
        spin_until(Instant::now(), ns, || false);
        let found = ready();
        if !found {
            sleepers.learn_gather(false);
        }
        found
    }

    /// The operation ended (`registered`: after registering; `away`: it
    /// slept and was woken from another thread than the one it ends on):
    /// teach the registry's task budget, if it spun.
    #[inline(always)]
    fn learn(&self, sleepers: &Sleepers, registered: bool, away: bool) {
        if let Some((began, _)) = self.began {
            Self::learn_from(began, sleepers, registered, away);
        }
    }

    // Out of line, as `spin` (the clock read too): with both inlined into
    // every poll, the MPMC async rows ran about 6% slower
    // (`benches/async.rs`, vCPUs close together, 8 alternated runs: 1p1c
    // 76.7 / 4p4c 74.7 against 81.5 / 80.9 M items/s without the spin
    // phase; 80.8 / 79.4 with these two out of line).
    #[cold]
    #[inline(never)]
    fn learn_from(began: Instant, sleepers: &Sleepers, registered: bool, away: bool) {
        Self::learn_after(began.elapsed(), sleepers, registered, away);
    }

    /// [`learn_from`](TaskSpin::learn_from) once the operation's length
    /// since its spin began, `waited`, is known (tests give it directly).
    #[inline(always)]
    fn learn_after(waited: core::time::Duration, sleepers: &Sleepers, registered: bool, away: bool) {
        let waited = u32::try_from(waited.as_nanos()).unwrap_or(u32::MAX);
        let end = if !registered {
            TaskEnd::Caught
        } else if away && waited <= TASK_BRIDGE_WITHIN_NS {
            TaskEnd::MissedWakeUp
        } else {
            TaskEnd::Missed
        };
        sleepers.learn_task(waited, end);
    }
}

impl AsyncWait {
    /// After an attempt that found no room (no item): registers, and says
    /// whether to try again at once (`true`) or return `Pending`. The
    /// operation's state begins at its first pause, which also counts the
    /// wait in the channel's wait counter (once per operation).
    #[inline]
    fn pause(&mut self, side: &WaitOn<'_>, cx: &mut Context<'_>, ready: impl Fn() -> bool) -> bool {
        let state = match &mut self.0 {
            Some(state) => state,
            None => {
                if let Some(waits) = side.waits {
                    waits.fetch_add(1, Ordering::Relaxed);
                }
                self.0.insert(WaitState::default())
            }
        };
        state.pause(side, cx, ready)
    }

    /// The operation completed (or failed for good): see
    /// [`WaitState::complete`]; the state is gone afterwards (the stream /
    /// sink reuse it for their next operation).
    #[inline]
    fn complete(&mut self, side: &WaitOn<'_>, baton: impl Fn() -> bool) {
        if let Some(state) = &mut self.0 {
            state.complete(side, baton);
            self.0 = None;
        }
    }

    /// The future is dropped before completing: see [`WaitState::cancel`].
    #[inline(always)]
    fn cancel<B: Blocking>(&mut self, handle: &B) {
        if let Some(state) = &mut self.0 {
            state.cancel(handle);
        }
    }

    fn is_registered(&self) -> bool {
        self.0.as_ref().is_some_and(|state| state.key.is_some())
    }

    /// Nothing happened in this operation yet: it never paused, so it holds
    /// no registration, no count, no spin to learn from.
    #[inline(always)]
    fn is_fresh(&self) -> bool {
        self.0.is_none()
    }
}

impl WaitState {
    /// [`AsyncWait::pause`] once the operation's state exists.
    fn pause(&mut self, side: &WaitOn<'_>, cx: &mut Context<'_>, ready: impl Fn() -> bool) -> bool {
        let Some(kind) = side.park else {
            // BusySpin / SpinYield: nobody notifies; come back at once.
            // (One spin hint, which under loom is the yield that lets the
            // model schedule the peer this task waits for.)
            spin_hint();
            cx.waker().wake_by_ref();
            return false;
        };
        // Spin before the first registration, while the budget lasts.
        #[cfg(not(loom))]
        if !self.registered && self.spin.spin(side, &ready) {
            return true;
        }
        let alone = side.progress.is_some_and(|p| p.alone());
        match side.sleepers.register_waker(&mut self.key, cx.waker(), !side.baton, alone) {
            // Still registered since a poll whose barrier and re-check
            // cover every later publication.
            Registration::Kept => false,
            Registration::New { registered } => {
                self.registered = true;
                // W2: pairs with the notifier's light barrier (or, on a
                // registry on the fence pair, its fence).
                let Some(barrier) = side.sleepers.settled_or_barrier(kind, registered, side.settle, &ready) else {
                    // What it waits for is there: leave (passing on a
                    // wake-up that may have come meanwhile) and try again.
                    // A futile registration, as below.
                    side.sleepers.deregister_waker(&mut self.key, true);
                    #[cfg(not(loom))]
                    side.sleepers.learn_gather(true);
                    return true;
                };
                if !barrier {
                    // As a thread does: without the barrier a notifier may
                    // miss the entry, so do not wait on it. Leave (passing
                    // on a wake-up that may have come meanwhile) and retry
                    // after yielding to the executor.
                    side.sleepers.deregister_waker(&mut self.key, true);
                    cx.waker().wake_by_ref();
                    return false;
                }
                // W3: the re-check, with fresh loads.
                let found = ready();
                #[cfg(not(loom))]
                if found {
                    // Futile: the peer published while this task
                    // registered; let the next streaming wait gather.
                    side.sleepers.learn_gather(true);
                } else if let Sleep::Awake = self.sleep {
                    self.sleep = if self.spin.sleeps_pace { Sleep::Untimed } else { Sleep::Since(Instant::now()) };
                }
                found
            }
        }
    }

    /// The operation completed (or failed for good): leaves the registry
    /// without passing anything on. With `baton`, an MPMC operation that had
    /// registered passes the baton as a woken thread does.
    fn complete(&mut self, side: &WaitOn<'_>, baton: impl Fn() -> bool) {
        #[cfg(not(loom))]
        {
            let away = !matches!(self.sleep, Sleep::Awake) && Self::slept_away(side);
            self.spin.learn(side.sleepers, self.registered, away);
            // The registry's barrier pair ("Paced registries" in
            // `wait.rs`), from waits that slept. One that ended without
            // sleeping teaches nothing: a spin that caught its item, or a
            // re-check that found it, says nothing about what the next
            // registration costs. (A registry left on the fence pair by a
            // side that stopped sleeping goes back through its notifier,
            // after `UNFENCE_AFTER_UNHEARD` fenced notifications that found
            // nobody.)
            match self.sleep {
                Sleep::Awake => {}
                Sleep::Since(at) => side.learn_sleep(lasted_paced(Some(at)), PACED_MAX_MOVED),
                Sleep::Untimed => side.learn_sleep(true, TASK_PACED_MAX_MOVED),
            }
        }
        if self.key.is_some() {
            side.sleepers.deregister_waker(&mut self.key, false);
        }
        if self.registered && side.baton {
            if let Some(kind) = side.park {
                side.sleepers.pass_baton(kind, baton);
            }
        }
    }

    /// After a sleep: whether the task was woken from another thread than
    /// the one it runs on now (its executor did not bring it to the thread
    /// that woke it); a side's only handle counts that for
    /// [`Sleepers::apart`]. Out of line: it follows a sleep, and inlined
    /// into every poll it cost the one-worker stream at capacity 16 about
    /// 1 ns per item.
    #[cfg(not(loom))]
    #[inline(never)]
    fn slept_away(side: &WaitOn<'_>) -> bool {
        let away = !side.sleepers.woken_here();
        if side.progress.is_some_and(|p| p.alone()) {
            side.sleepers.learn_resumed(away);
        }
        away
    }

    /// The future is dropped before completing: leaves the registry and
    /// passes on a wake-up it consumed.
    ///
    /// The handle's `WaitOn` is built only if the future is registered: a
    /// future that never waited leaves without looking at the registry.
    #[inline(always)]
    fn cancel<B: Blocking>(&mut self, handle: &B) {
        if self.key.is_some() {
            handle.wait_on().sleepers.deregister_waker(&mut self.key, true);
        }
    }
}

/// An async operation's way of waiting between attempts, for
/// [`drive`]: its [`AsyncWait`] and the poll's context.
struct TaskWait<'w, 'c, 'x> {
    wait: &'w mut AsyncWait,
    cx: &'c mut Context<'x>,
}

impl Waits for TaskWait<'_, '_, '_> {
    /// A task registers instead of spinning through a refill gap.
    #[inline(always)]
    fn spinning(&self) -> bool {
        false
    }

    fn pause(&mut self, on: &WaitOn<'_>, ready: impl Fn() -> bool) -> bool {
        self.wait.pause(on, self.cx, ready)
    }

    fn finish(&mut self, on: &WaitOn<'_>, ok: bool, ready: impl Fn() -> bool) {
        // The baton only after a success, as for a thread.
        self.wait.complete(on, || ok && ready());
    }
}

/// Runs an async operation: the item (or `()` for a send), the failure for
/// good, or `Err` with the carry when it returns `Pending`.
///
/// An operation that has not paused yet (nothing registered, counted or
/// learned: [`AsyncWait::is_fresh`]) first makes one attempt here, inline;
/// if it finishes there is nothing to undo, so it returns at once. Only an
/// operation that must wait enters the driver, out of line
/// ([`drive_task`]). (Through the driver on every poll, a receive that
/// found its item cost about 110 instructions more than `try_recv`:
/// building the registry's `WaitOn`, resetting the wait state, and the
/// call; measured with callgrind, one producer and one consumer task on a
/// current-thread tokio runtime.)
#[inline(always)]
fn run<B: Blocking>(
    h: &mut B,
    carry: B::Carry,
    wait: &mut AsyncWait,
    cx: &mut Context<'_>,
) -> Result<Result<B::Output, B::Error>, B::Carry> {
    if !wait.is_fresh() {
        return drive_task(h, carry, wait, cx);
    }
    match h.attempt(carry) {
        Ok(done) => Ok(done),
        Err(carry) => drive_task(h, carry, wait, cx),
    }
}

/// [`run`] past its first attempt: the driver, with this task's way of
/// waiting.
#[inline(never)]
fn drive_task<B: Blocking>(
    h: &mut B,
    carry: B::Carry,
    wait: &mut AsyncWait,
    cx: &mut Context<'_>,
) -> Result<Result<B::Output, B::Error>, B::Carry> {
    drive(h, carry, &mut TaskWait { wait, cx })
}

/// Polls a receive: the item, the failure for good, or `Pending`.
#[inline(always)]
fn poll_recv<B>(h: &mut B, wait: &mut AsyncWait, cx: &mut Context<'_>) -> Poll<Result<B::Output, B::Error>>
where
    B: Blocking<Carry = ()>,
{
    match run(h, (), wait, cx) {
        Ok(done) => Poll::Ready(done),
        Err(()) => Poll::Pending,
    }
}

/// A receive's failure for good on the SPSC and MPMC rings: the sending
/// side is gone (there is no deadline in an async receive).
#[inline(always)]
fn disconnected(_: crate::RecvTimeoutError) -> RecvError {
    RecvError
}

/// Polls a send of `slot`'s value; `slot` is `None` afterwards once it
/// returns `Ready`.
#[inline(always)]
fn poll_send<B, T>(
    h: &mut B,
    slot: &mut Option<T>,
    wait: &mut AsyncWait,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<T>>>
where
    B: Blocking<Carry = T, Output = (), Error = T>,
{
    let Some(value) = slot.take() else { panic!("ringflow: send future polled after completion") };
    match run(h, value, wait, cx) {
        Ok(Ok(())) => Poll::Ready(Ok(())),
        Ok(Err(v)) => Poll::Ready(Err(SendError(v))),
        Err(v) => {
            *slot = Some(v);
            Poll::Pending
        }
    }
}

// The futures of each ring. `$mut_`: `mut` where the handle's operations
// take `&mut self` (SPSC, broadcast); `$($bound)*`: what the receive needs
// of `T` (broadcast receivers clone); `$err` and `$map`: the receive's
// error and how the driver's failure maps to it.
macro_rules! send_future {
    ($ring:ident, $tx:ident, $($mut_:ident)?) => {
        send_future!($ring, $tx [] [] [], $($mut_)?);
    };
    // With generic parameters besides `T` (the SPSC layout), each list with
    // its leading comma: as declared, as bounded in impls, as arguments.
    ($ring:ident, $tx:ident [$($decl:tt)*] [$($imp:tt)*] [$($arg:tt)*], $($mut_:ident)?) => {
        /// The future of
        #[doc = concat!("[`", stringify!($tx), "::send_async`](crate::", stringify!($ring), "::", stringify!($tx), "::send_async).")]
        ///
        /// Resolves to `Ok(())` once the value is in the ring, or to
        /// [`SendError`] with the value once the other side is gone.
        /// Dropping it before it resolves means the value was **not** sent;
        /// the value is dropped with the future (as with tokio's `send`).
        /// `Send` when the handle it borrows is: when `T: Send` (on a
        /// broadcast ring `T: Send + Sync`, as for its handles); `Unpin`
        /// always (the value is never pinned). Polling it again after it
        /// resolved panics.
        #[must_use = "futures do nothing unless polled"]
        pub struct SendFuture<'a, T $($decl)*> {
            pub(crate) tx: &'a $($mut_)? crate::$ring::$tx<T $($arg)*>,
            pub(crate) value: Option<T>,
            pub(crate) wait: AsyncWait,
        }

        // The value is never pinned (it is moved in and out by value), so
        // the future is `Unpin` whatever `T` is.
        impl<T $($imp)*> Unpin for SendFuture<'_, T $($arg)*> {}

        impl<T $($imp)*> Future for SendFuture<'_, T $($arg)*> {
            type Output = Result<(), SendError<T>>;

            #[inline]
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                poll_send(&mut this.tx, &mut this.value, &mut this.wait, cx)
            }
        }

        impl<T $($imp)*> Drop for SendFuture<'_, T $($arg)*> {
            fn drop(&mut self) {
                self.wait.cancel(&self.tx);
            }
        }

        impl<T $($imp)*> fmt::Debug for SendFuture<'_, T $($arg)*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("SendFuture")
                    .field("pending", &self.value.is_some())
                    .field("registered", &self.wait.is_registered())
                    .finish_non_exhaustive()
            }
        }
    };
}

macro_rules! recv_future {
    ($ring:ident, $rx:ident, [$($bound:tt)*], $err:ty, $map:expr, $errdoc:literal, $($mut_:ident)?) => {
        recv_future!($ring, $rx [] [] [], [$($bound)*], $err, $map, $errdoc, $($mut_)?);
    };
    // As `send_future!`'s generic form.
    ($ring:ident, $rx:ident [$($decl:tt)*] [$($imp:tt)*] [$($arg:tt)*], [$($bound:tt)*], $err:ty, $map:expr, $errdoc:literal, $($mut_:ident)?) => {
        /// The future of
        #[doc = concat!("[`", stringify!($rx), "::recv_async`](crate::", stringify!($ring), "::", stringify!($rx), "::recv_async).")]
        ///
        #[doc = $errdoc]
        /// **Cancel-safe**: an item leaves the ring only in the `poll` that
        /// returns it, so a future dropped before it resolved took nothing.
        /// `Send` when the handle it borrows is: when `T: Send` (on a
        /// broadcast ring `T: Send + Sync`, as for its handles); `Unpin`.
        #[must_use = "futures do nothing unless polled"]
        pub struct RecvFuture<'a, T: $($bound)* $($decl)*> {
            pub(crate) rx: &'a $($mut_)? crate::$ring::$rx<T $($arg)*>,
            pub(crate) wait: AsyncWait,
        }

        impl<T: $($bound)* $($imp)*> Unpin for RecvFuture<'_, T $($arg)*> {}

        impl<T: $($bound)* $($imp)*> Future for RecvFuture<'_, T $($arg)*> {
            type Output = Result<T, $err>;

            #[inline]
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                poll_recv(&mut this.rx, &mut this.wait, cx).map_err($map)
            }
        }

        impl<T: $($bound)* $($imp)*> Drop for RecvFuture<'_, T $($arg)*> {
            fn drop(&mut self) {
                self.wait.cancel(&self.rx);
            }
        }

        impl<T: $($bound)* $($imp)*> fmt::Debug for RecvFuture<'_, T $($arg)*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("RecvFuture").field("registered", &self.wait.is_registered()).finish_non_exhaustive()
            }
        }
    };
}

/// The SPSC futures (re-exported from [`crate::spsc`]).
pub(crate) mod spsc_futures {
    use super::*;
    send_future!(spsc, Producer [, L: spsc::Layout = spsc::Packed] [, L: spsc::Layout] [, L], mut);
    recv_future!(
        spsc,
        Consumer [, L: spsc::Layout = spsc::Packed] [, L: spsc::Layout] [, L],
        [],
        RecvError,
        disconnected,
        "Resolves to the next item, or to [`RecvError`] once the ring is empty and the producer is gone.",
        mut
    );
}

/// The MPMC futures (re-exported from [`crate::mpmc`]).
pub(crate) mod mpmc_futures {
    use super::*;
    send_future!(mpmc, Sender,);
    recv_future!(
        mpmc,
        Receiver,
        [],
        RecvError,
        disconnected,
        "Resolves to an item, or to [`RecvError`] once the ring is empty and every sender is gone.",
    );
}

/// The broadcast futures (re-exported from [`crate::broadcast`]).
pub(crate) mod broadcast_futures {
    use super::*;
    send_future!(broadcast, Sender, mut);
    recv_future!(broadcast, Receiver, [Clone], broadcast::RecvError, broadcast::RecvTimeoutError::untimed, "Resolves to this receiver's next item (a clone), or to [`RecvError::Disconnected`](crate::broadcast::RecvError::Disconnected) once it has seen every item and the sender is gone, or (Lossy channels) to [`RecvError::Lagged`](crate::broadcast::RecvError::Lagged) as `recv` does.", mut);
}

impl<T, L: spsc::Layout> spsc::Producer<T, L> {
    /// Sends `value`, waiting for room without blocking the thread: the
    /// returned future resolves once the value is in the ring.
    ///
    /// Works on any executor (only [`core::task::Waker`] is used) and may be
    /// mixed with blocking calls on the same channel. On a
    /// [`WaitStrategy::Park`] channel a pending task sleeps in the same
    /// registry as a parked thread and is woken by the next receive; on
    /// `BusySpin` / `SpinYield` channels it yields to its executor and
    /// retries (see the strategy's docs). A wait on a `Park` channel whose
    /// side moved at most 16 items since the previous one (a request /
    /// reply exchange, a small ring) first retries in place for a learned
    /// time of at most 10 µs, holding its worker, because registering costs
    /// a barrier and a wake-up through the executor; where spinning did not
    /// pay, or where the task's peer last woke it from the thread it runs
    /// on (it cannot answer before this task returns `Pending`), it
    /// registers at once. A streaming wait (after a batch) registers at
    /// once too, unless a registration on its side recently found the item
    /// already there: then it first waits up to 3 µs (25 ns per slot of a
    /// smaller ring), holding its worker, for items (room) to gather
    /// (module docs of `future.rs` in the source).
    ///
    /// Dropping the future before it resolves means the value was not sent;
    /// it is dropped with the future.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the consumer is gone, before the
    /// call or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = ringflow::spsc::channel::<u32>(1);
    /// tx.send_async(1).await.unwrap();
    /// let consumer = std::thread::spawn(move || rx.recv().unwrap() + rx.recv().unwrap());
    /// tx.send_async(2).await.unwrap(); // waits until the thread made room
    /// assert_eq!(consumer.join().unwrap(), 3);
    /// # });
    /// ```
    pub fn send_async(&mut self, value: T) -> spsc_futures::SendFuture<'_, T, L> {
        spsc_futures::SendFuture { tx: self, value: Some(value), wait: AsyncWait::default() }
    }
}

impl<T, L: spsc::Layout> spsc::Consumer<T, L> {
    /// Receives the oldest item, waiting for one without blocking the
    /// thread.
    ///
    /// Cancel-safe: the item leaves the ring only in the `poll` that returns
    /// it, so dropping the future (a `select!` branch that lost, a timeout)
    /// never loses an item. Works on any executor and may be mixed with
    /// blocking calls; see [`Producer::send_async`](crate::spsc::Producer::send_async)
    /// for how each wait strategy waits.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the ring is empty and the producer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = ringflow::spsc::channel::<u32>(4);
    /// let producer = std::thread::spawn(move || tx.send(7).unwrap());
    /// assert_eq!(rx.recv_async().await, Ok(7));
    /// producer.join().unwrap(); // the producer is gone
    /// assert!(rx.recv_async().await.is_err());
    /// # });
    /// ```
    pub fn recv_async(&mut self) -> spsc_futures::RecvFuture<'_, T, L> {
        spsc_futures::RecvFuture { rx: self, wait: AsyncWait::default() }
    }
}

impl<T> mpmc::Sender<T> {
    /// Sends `value`, waiting for room without blocking the thread.
    ///
    /// As [`spsc::Producer::send_async`]; any number of tasks and threads
    /// may wait on one channel, each woken task retries, and a task that
    /// was woken but dropped passes the wake-up on. On `SpinYield` / `Park`
    /// channels a poll that loses nine CAS races in a row to other senders
    /// yields the thread (`sched_yield`, never a sleep) before it retries,
    /// as the blocking `send` does (see the [`mpmc`] module's "Progress").
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = ringflow::mpmc::channel::<u32>(8);
    /// tx.send_async(1).await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(1));
    /// drop(rx);
    /// assert_eq!(tx.send_async(2).await.unwrap_err().into_inner(), 2);
    /// # });
    /// ```
    pub fn send_async(&self, value: T) -> mpmc_futures::SendFuture<'_, T> {
        mpmc_futures::SendFuture { tx: self, value: Some(value), wait: AsyncWait::default() }
    }
}

impl<T> mpmc::Receiver<T> {
    /// Receives an item, waiting for one without blocking the thread.
    ///
    /// Cancel-safe, as [`spsc::Consumer::recv_async`]. Under contention
    /// from other receivers, a poll may yield the thread as
    /// [`send_async`](mpmc::Sender::send_async) describes.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the ring is empty and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = ringflow::mpmc::channel::<u32>(8);
    /// let t = std::thread::spawn(move || for i in 0..3 { tx.send(i).unwrap(); });
    /// let mut sum = 0;
    /// while let Ok(v) = rx.recv_async().await {
    ///     sum += v;
    /// }
    /// assert_eq!(sum, 3);
    /// t.join().unwrap();
    /// # });
    /// ```
    pub fn recv_async(&self) -> mpmc_futures::RecvFuture<'_, T> {
        mpmc_futures::RecvFuture { rx: self, wait: AsyncWait::default() }
    }
}

impl<T> broadcast::Sender<T> {
    /// Sends `value` to every receiver, waiting for room without blocking
    /// the thread: on a Block channel the returned future resolves once the
    /// slowest live receiver left room; on a Lossy channel it resolves at
    /// once (the oldest item is overwritten instead).
    ///
    /// As [`spsc::Producer::send_async`]: any executor, mixed freely with
    /// blocking calls, the value dropped with a future dropped before it
    /// resolved. Broadcast tasks neither spin nor gather before they
    /// register.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if no receiver is alive, before the call
    /// or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = ringflow::broadcast::channel::<u32>(1);
    /// let mut rx2 = rx.clone();
    /// tx.send_async(1).await.unwrap();
    /// let t = std::thread::spawn(move || (rx.recv().unwrap(), rx.recv().unwrap()));
    /// assert_eq!(rx2.recv_async().await, Ok(1));
    /// tx.send_async(2).await.unwrap(); // waits until both receivers read 1
    /// assert_eq!(rx2.recv_async().await, Ok(2));
    /// assert_eq!(t.join().unwrap(), (1, 2));
    /// # });
    /// ```
    pub fn send_async(&mut self, value: T) -> broadcast_futures::SendFuture<'_, T> {
        broadcast_futures::SendFuture { tx: self, value: Some(value), wait: AsyncWait::default() }
    }
}

impl<T: Clone> broadcast::Receiver<T> {
    /// Receives this receiver's next item (a clone; every receiver gets
    /// every item), waiting for one without blocking the thread.
    ///
    /// Cancel-safe: the item is taken (this receiver's position moves) only
    /// in the `poll` that returns it, so dropping the future never skips an
    /// item. Any executor, mixed freely with blocking calls; see
    /// [`Sender::send_async`](broadcast::Sender::send_async).
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`](broadcast::RecvError::Disconnected) once
    /// this receiver has seen every item and the sender is gone;
    /// [`RecvError::Lagged`](broadcast::RecvError::Lagged) on a Lossy channel
    /// whose sender overwrote items this receiver had not read (once; the
    /// next receive returns the oldest item still held).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (mut tx, mut rx) = ringflow::broadcast::channel::<String>(4);
    /// let t = std::thread::spawn(move || tx.send("hello".to_string()).unwrap());
    /// assert_eq!(rx.recv_async().await.as_deref(), Ok("hello"));
    /// t.join().unwrap(); // the sender is gone
    /// assert_eq!(rx.recv_async().await, Err(ringflow::broadcast::RecvError::Disconnected));
    /// # });
    /// ```
    pub fn recv_async(&mut self) -> broadcast_futures::RecvFuture<'_, T> {
        broadcast_futures::RecvFuture { rx: self, wait: AsyncWait::default() }
    }
}

/// `Stream` and `Sink` adapters (feature `futures`).
///
/// Each adapter *owns* its handle and keeps the waiting state (the task's
/// entry in the registry) between polls, which `Stream::poll_next` and
/// `Sink::poll_ready` need and a handle does not carry: SPSC handles take
/// `&mut self` anyway, and MPMC handles are shared by `&self` and cloned,
/// so per-poll state inside them would need a lock. This is the shape the
/// ecosystem uses for such handles (tokio-stream's `ReceiverStream`,
/// tokio-util's `PollSender`, flume's `into_stream` / `into_sink`); clone an
/// MPMC handle first to keep one, or take the handle back with `into_inner`.
#[cfg(feature = "futures")]
mod adapters {
    use super::*;
    use crate::TrySendError;
    use futures_core::stream::{FusedStream, Stream};
    use futures_sink::Sink;

    // `$by`: how the owned handle is driven — `&` for MPMC handles, whose
    // operations (`Blocking`) are implemented on `&Sender` / `&Receiver`;
    // nothing for SPSC handles, whose operations need `&mut`.
    // A `Sink` over a sender: the same on every ring.
    macro_rules! sink_for {
        ($ring:ident, $tx:ident, $($by:tt)?) => {
            sink_for!($ring, $tx [] [] [], $($by)?);
        };
        // As `send_future!`'s generic form.
        ($ring:ident, $tx:ident [$($decl:tt)*] [$($imp:tt)*] [$($arg:tt)*], $($by:tt)?) => {
            /// A [`Sink`] into a
            #[doc = concat!("[`", stringify!($tx), "`](crate::", stringify!($ring), "::", stringify!($tx), ").")]
            ///
            /// `start_send` puts the item into the ring at once if there is
            /// room; otherwise the sink holds it (one item) and `poll_ready`
            /// / `poll_flush` wait for room as `send_async` does. An item
            /// held when the sink is dropped is dropped with it (not sent);
            /// [`into_inner`](SendSink::into_inner) hands it back instead.
            /// `poll_close` flushes; the channel sees the sender go when the
            /// sink is dropped. Errors hand the item back ([`SendError`]).
            ///
            /// # Panics
            ///
            /// `start_send` panics if the sink still holds an item (one that
            /// found the ring full and has not gone in since): the [`Sink`]
            /// contract asks for a `poll_ready` that returned `Ready` first,
            /// and any of `poll_ready`, `poll_flush` and `poll_close`
            /// returning `Ready` means the sink holds nothing. A
            /// `start_send` while it holds nothing needs no `poll_ready`.
            #[must_use = "sinks do nothing unless polled"]
            pub struct SendSink<T $($decl)*> {
                tx: crate::$ring::$tx<T $($arg)*>,
                pending: Option<T>,
                wait: AsyncWait,
            }

            impl<T $($imp)*> Unpin for SendSink<T $($arg)*> {}

            impl<T $($imp)*> crate::$ring::$tx<T $($arg)*> {
                /// Turns the handle into a [`Sink`] (feature `futures`).
                pub fn into_sink(self) -> SendSink<T $($arg)*> {
                    SendSink { tx: self, pending: None, wait: AsyncWait::default() }
                }
            }

            impl<T $($imp)*> SendSink<T $($arg)*> {
                /// The handle, for introspection (`len`, `stats`, ...).
                pub fn get_ref(&self) -> &crate::$ring::$tx<T $($arg)*> {
                    &self.tx
                }

                /// Takes the handle back out of the sink, with the item
                /// the sink held if it had one (an item `start_send`
                /// accepted on a full ring and no `poll_ready` / `poll_flush`
                /// has sent yet): that item was *not* sent, and is handed
                /// back rather than dropped. A waiting registration is
                /// withdrawn first, as when the sink is dropped.
                ///
                /// # Examples
                ///
                /// ```
                /// # #![allow(unused_mut)]
                /// use futures::{task::noop_waker_ref, Sink};
                /// use std::{pin::Pin, task::Context};
                #[doc = concat!("let (tx, mut rx) = ringflow::", stringify!($ring), "::channel::<u32>(1);")]
                /// let mut sink = tx.into_sink();
                /// let mut cx = Context::from_waker(noop_waker_ref());
                /// Pin::new(&mut sink).start_send(1).unwrap(); // into the ring
                /// assert!(Pin::new(&mut sink).poll_ready(&mut cx).is_ready());
                /// Pin::new(&mut sink).start_send(2).unwrap(); // full: the sink holds it
                /// let (_tx, held) = sink.into_inner();
                /// assert_eq!(held, Some(2)); // not sent: handed back
                /// assert_eq!(rx.try_recv().ok(), Some(1));
                /// assert!(rx.try_recv().is_err());
                /// ```
                pub fn into_inner(self) -> (crate::$ring::$tx<T $($arg)*>, Option<T>) {
                    let mut this = core::mem::ManuallyDrop::new(self);
                    let this: &mut Self = &mut this;
                    this.wait.cancel(&$($by)? this.tx);
                    // SAFETY: `this` is never dropped (`ManuallyDrop`) or
                    // used again, so each field moved out here is owned
                    // once; `wait` is plain data with no `Drop`, and its
                    // registration was withdrawn above, so leaving it
                    // behind leaks nothing. (Had `cancel` panicked, the
                    // handle and the item would leak, which is safe.)
                    unsafe { (core::ptr::read(&this.tx), core::ptr::read(&this.pending)) }
                }

                fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
                    if self.pending.is_none() {
                        return Poll::Ready(Ok(()));
                    }
                    poll_send(&mut $($by)? self.tx, &mut self.pending, &mut self.wait, cx)
                }
            }

            impl<T $($imp)*> Sink<T> for SendSink<T $($arg)*> {
                type Error = SendError<T>;

                fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
                    self.get_mut().drive(cx)
                }

                fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), SendError<T>> {
                    let this = self.get_mut();
                    assert!(this.pending.is_none(), "ringflow: start_send without poll_ready returning Ready");
                    match this.tx.try_send(item) {
                        Ok(()) => Ok(()),
                        Err(TrySendError::Full(v)) => {
                            this.pending = Some(v);
                            Ok(())
                        }
                        Err(TrySendError::Disconnected(v)) => Err(SendError(v)),
                    }
                }

                fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
                    self.get_mut().drive(cx)
                }

                fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
                    self.get_mut().drive(cx)
                }
            }

            impl<T $($imp)*> Drop for SendSink<T $($arg)*> {
                fn drop(&mut self) {
                    self.wait.cancel(&$($by)? self.tx);
                }
            }

            impl<T $($imp)*> fmt::Debug for SendSink<T $($arg)*> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct("SendSink")
                        .field("tx", &self.tx)
                        .field("holding", &self.pending.is_some())
                        .field("registered", &self.wait.is_registered())
                        .finish()
                }
            }
        };
    }

    // A `Stream` over a receiver. `$item`: the item type, `$on_ok` how a
    // received value becomes one; `$on_err`: what a failure for good of the
    // receive becomes — `None` to end the stream (disconnection), or
    // `Some(item)` to yield it and go on (a broadcast receiver's `Lagged`).
    // `$($bound)*`: what receiving needs of `T`.
    macro_rules! stream_for {
        ($ring:ident, $rx:ident, [$($bound:tt)*], $item:ty, $on_ok:expr, $on_err:expr, $doc:literal, $($by:tt)?) => {
            stream_for!($ring, $rx [] [] [], [$($bound)*], $item, $on_ok, $on_err, $doc, $($by)?);
        };
        // As `send_future!`'s generic form.
        ($ring:ident, $rx:ident [$($decl:tt)*] [$($imp:tt)*] [$($arg:tt)*], [$($bound:tt)*], $item:ty, $on_ok:expr, $on_err:expr, $doc:literal, $($by:tt)?) => {
            /// A [`Stream`] of the items of a
            #[doc = concat!("[`", stringify!($rx), "`](crate::", stringify!($ring), "::", stringify!($rx), "),")]
            #[doc = $doc]
            /// Cancel-safe as `recv_async`: an item leaves the ring only in
            /// the `poll_next` that returns it. Dropping the stream drops the
            /// handle (and so may disconnect the channel).
            #[must_use = "streams do nothing unless polled"]
            pub struct RecvStream<T: $($bound)* $($decl)*> {
                rx: crate::$ring::$rx<T $($arg)*>,
                wait: AsyncWait,
                done: bool,
            }

            impl<T: $($bound)* $($imp)*> Unpin for RecvStream<T $($arg)*> {}

            impl<T: $($bound)* $($imp)*> crate::$ring::$rx<T $($arg)*> {
                /// Turns the handle into a [`Stream`] of its items (feature
                /// `futures`).
                pub fn into_stream(self) -> RecvStream<T $($arg)*> {
                    RecvStream { rx: self, wait: AsyncWait::default(), done: false }
                }
            }

            impl<T: $($bound)* $($imp)*> RecvStream<T $($arg)*> {
                /// The handle, for introspection (`len`, `stats`, ...).
                pub fn get_ref(&self) -> &crate::$ring::$rx<T $($arg)*> {
                    &self.rx
                }

                /// Takes the handle back out of the stream. Nothing is lost:
                /// the stream takes an item from the ring only in the
                /// `poll_next` that returns it, so every item not yet
                /// yielded is still there for the handle. A waiting
                /// registration is withdrawn first, as when the stream is
                /// dropped.
                ///
                /// # Examples
                ///
                /// ```
                /// # #![allow(unused_mut)]
                /// use futures::{executor::block_on, StreamExt};
                #[doc = concat!("let (mut tx, rx) = ringflow::", stringify!($ring), "::channel::<u32>(4);")]
                /// tx.try_send(1).unwrap();
                /// tx.try_send(2).unwrap();
                /// let mut stream = rx.into_stream();
                /// assert!(block_on(stream.next()).is_some()); // the first item
                /// let mut rx = stream.into_inner();
                /// assert_eq!(rx.try_recv().ok(), Some(2)); // the rest is still there
                /// ```
                pub fn into_inner(self) -> crate::$ring::$rx<T $($arg)*> {
                    let mut this = core::mem::ManuallyDrop::new(self);
                    let this: &mut Self = &mut this;
                    this.wait.cancel(&$($by)? this.rx);
                    // SAFETY: `this` is never dropped (`ManuallyDrop`) or
                    // used again, so the handle moved out here is owned
                    // once; the other fields are plain data with no `Drop`
                    // (the registration was withdrawn above).
                    unsafe { core::ptr::read(&this.rx) }
                }
            }

            impl<T: $($bound)* $($imp)*> Stream for RecvStream<T $($arg)*> {
                type Item = $item;

                fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<$item>> {
                    let this = self.get_mut();
                    if this.done {
                        return Poll::Ready(None);
                    }
                    match poll_recv(&mut $($by)? this.rx, &mut this.wait, cx) {
                        Poll::Ready(Ok(v)) => Poll::Ready(Some(($on_ok)(v))),
                        Poll::Ready(Err(e)) => {
                            let item: Option<$item> = ($on_err)(e);
                            this.done = item.is_none();
                            Poll::Ready(item)
                        }
                        Poll::Pending => Poll::Pending,
                    }
                }
            }

            impl<T: $($bound)* $($imp)*> FusedStream for RecvStream<T $($arg)*> {
                fn is_terminated(&self) -> bool {
                    self.done
                }
            }

            impl<T: $($bound)* $($imp)*> Drop for RecvStream<T $($arg)*> {
                fn drop(&mut self) {
                    self.wait.cancel(&$($by)? self.rx);
                }
            }

            impl<T: $($bound)* $($imp)*> fmt::Debug for RecvStream<T $($arg)*> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct("RecvStream")
                        .field("rx", &self.rx)
                        .field("registered", &self.wait.is_registered())
                        .field("done", &self.done)
                        .finish()
                }
            }
        };
    }

    /// SPSC adapters (re-exported from [`crate::spsc`]).
    pub(crate) mod spsc_adapters {
        use super::*;
        sink_for!(spsc, Producer [, L: spsc::Layout = spsc::Packed] [, L: spsc::Layout] [, L],);
        stream_for!(
            spsc,
            Consumer [, L: spsc::Layout = spsc::Packed] [, L: spsc::Layout] [, L],
            [],
            T,
            |v| v,
            |_| None,
            "ending (`None`) once the ring is empty and the producer is gone.",
        );
    }

    /// MPMC adapters (re-exported from [`crate::mpmc`]).
    pub(crate) mod mpmc_adapters {
        use super::*;
        sink_for!(mpmc, Sender, &);
        stream_for!(mpmc, Receiver, [], T, |v| v, |_| None, "ending (`None`) once the ring is empty and every sender is gone.", &);
    }

    /// Broadcast adapters (re-exported from [`crate::broadcast`]). The
    /// stream's items are `Result`s so that a Lossy receiver's `Lagged(n)`
    /// reaches the reader instead of being skipped.
    pub(crate) mod broadcast_adapters {
        use super::*;
        sink_for!(broadcast, Sender,);
        stream_for!(
            broadcast,
            Receiver,
            [Clone],
            Result<T, broadcast::RecvError>,
            Ok,
            |e: broadcast::RecvTimeoutError| match e.untimed() {
                broadcast::RecvError::Lagged(n) => Some(Err(broadcast::RecvError::Lagged(n))),
                broadcast::RecvError::Disconnected => None,
            },
            "yielding `Ok(item)` for each item and, on a Lossy channel, `Err(RecvError::Lagged(n))` once when this receiver missed `n` items (then the oldest item still held), and ending (`None`) once this receiver has seen every item and the sender is gone. Never `Err(RecvError::Disconnected)`.",
        );
    }
}

#[cfg(feature = "futures")]
pub(crate) use adapters::{broadcast_adapters, mpmc_adapters, spsc_adapters};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{AsyncWait, Sleep, TaskEnd, TaskSpin, WaitState, TASK_SPIN_MAX_MOVED};
    use crate::sync::{Instant, TASK_BRIDGE_NS, TASK_BRIDGE_WITHIN_NS, TASK_GATHER_NS, TASK_GATHER_SLOT_NS};
    use crate::sync::{TASK_APART_AFTER, TASK_APART_PROBE_EVERY, TASK_SPIN_MAX_NS, TASK_SPIN_ON_NS};
    use crate::sync::{TASK_AWAY_OFF_AFTER, TASK_AWAY_PROBE_EVERY, TASK_AWAY_SPIN_NS};
    use core::task::Context;
    use std::cell::Cell;
    use std::time::Duration;

    /// How an operation that spun ends teaches the budget: a miss that
    /// slept, was woken from another thread and ended soon after the spin
    /// began missed a wake-up (the bridge); later, or woken on its own
    /// thread, it halves; a catch keeps it on.
    #[test]
    fn a_spin_that_missed_a_wake_up_bridges_the_next_one() {
        let (tx, _rx) = crate::spsc::channel::<u32>(16);
        let sleepers = tx.waiting().sleepers;
        let after = Duration::from_micros;
        let soon = u64::from(TASK_BRIDGE_WITHIN_NS / 2_000); // half the window, in µs
        let late = u64::from(TASK_BRIDGE_WITHIN_NS / 1_000) + 100;
        assert_eq!(sleepers.task_spin_learned(), TASK_SPIN_MAX_NS);
        TaskSpin::learn_after(after(soon), sleepers, true, true);
        assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS, "missed a wake-up");
        TaskSpin::learn_after(after(1), sleepers, false, false);
        assert_eq!(sleepers.task_spin_learned(), TASK_SPIN_MAX_NS, "a catch: back under the cap");
        for (began, away, what) in [(late, true, "too late"), (soon, false, "woken on its thread")] {
            let before = sleepers.task_spin_learned();
            TaskSpin::learn_after(after(began), sleepers, true, away);
            assert_eq!(sleepers.task_spin_learned(), before / 2, "{what}: halved");
        }
    }

    /// A future writes no waiting state until it waits: none while its
    /// operation completes at the first poll, some once it registered, and
    /// none again once it completed, so that the stream and sink, which
    /// keep one `AsyncWait` for all their operations, count each wait of
    /// each operation (`Stats::recv_waits`).
    #[test]
    fn a_future_has_waiting_state_only_while_it_waits() {
        use core::future::Future;
        use core::pin::Pin;
        use core::task::Poll;
        let (tx, rx) = crate::mpmc::channel::<u32>(1);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut ready = tx.send_async(1);
        assert!(ready.wait.0.is_none());
        assert_eq!(Pin::new(&mut ready).poll(&mut cx), Poll::Ready(Ok(())));
        assert!(ready.wait.0.is_none(), "completed at its first poll: no state written");
        drop(ready);
        let mut waiting = tx.send_async(2);
        assert!(Pin::new(&mut waiting).poll(&mut cx).is_pending(), "the ring is full");
        assert!(waiting.wait.0.is_some() && waiting.wait.is_registered());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(Pin::new(&mut waiting).poll(&mut cx), Poll::Ready(Ok(())));
        assert!(waiting.wait.0.is_none(), "completed: its state is gone");
        drop(waiting);
        // One `AsyncWait` for two operations that each wait once (what the
        // stream does): each wait is counted.
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(1);
        let mut wait = AsyncWait::default();
        for i in 0..2 {
            assert!(super::poll_recv(&mut rx, &mut wait, &mut cx).is_pending(), "empty");
            assert!(!wait.is_fresh());
            tx.try_send(i).unwrap();
            assert_eq!(super::poll_recv(&mut rx, &mut wait, &mut cx), Poll::Ready(Ok(i)));
            assert!(wait.is_fresh(), "the next operation starts fresh");
            assert_eq!(rx.stats().recv_waits, u64::from(i) + 1);
        }
    }

    /// `n` items through `tx` and `rx`, as a side moves between two task
    /// waits.
    fn pass(tx: &mut crate::spsc::Producer<u32>, rx: &mut crate::spsc::Consumer<u32>, n: u32) {
        for i in 0..n {
            tx.try_send(i).unwrap();
            assert_eq!(rx.try_recv(), Ok(i));
        }
    }

    /// More than `TASK_SPIN_MAX_MOVED` items: a wait after them streams.
    const A_BATCH: u32 = TASK_SPIN_MAX_MOVED as u32 + 1;

    /// Gathering: off on a new channel; a registration whose re-check finds
    /// the condition (futile) turns it on; the next streaming wait then
    /// waits `TASK_GATHER_NS` (its ring holds more than enough for that)
    /// without looking, looks once, and, finding nothing, turns gathering
    /// off and registers (its re-check is the second look).
    #[test]
    fn a_futile_registration_turns_gathering_on_and_an_empty_gather_off() {
        let capacity = 1_000;
        assert!(capacity as u32 * TASK_GATHER_SLOT_NS >= TASK_GATHER_NS);
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(capacity);
        let fill = |tx: &mut crate::spsc::Producer<u32>| while tx.try_send(0).is_ok() {};
        fill(&mut tx); // full, a batch on: the send side would wait, and not spin
        assert_eq!(tx.waiting().sleepers.task_gather_for_wait(capacity), 0, "off on a new channel");
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        // The send registers at once (gathering is off); the re-check
        // finds room: futile, so it retries at once and gathering is on.
        let mut wait = AsyncWait::default();
        assert!(wait.pause(&tx.waiting(), &mut cx, || true));
        assert_eq!(tx.waiting().sleepers.task_gather_for_wait(capacity), TASK_GATHER_NS);
        wait.cancel(&tx);
        // Another batch, and the next wait gathers: one look after
        // TASK_GATHER_NS, nothing there, so gathering goes off and it
        // registers (second look: the re-check) and returns Pending.
        for _ in 0..A_BATCH {
            rx.try_recv().unwrap();
        }
        fill(&mut tx);
        let looks = Cell::new(0);
        let began = Instant::now();
        let mut wait = AsyncWait::default();
        let again = wait.pause(&tx.waiting(), &mut cx, || {
            looks.set(looks.get() + 1);
            assert!(looks.get() > 1 || began.elapsed().as_nanos() >= u128::from(TASK_GATHER_NS), "looked early");
            false
        });
        assert!(!again);
        assert_eq!(looks.get(), 2);
        assert!(wait.is_registered());
        assert_eq!(tx.waiting().sleepers.task_gather_for_wait(capacity), 0, "an empty gather turns it off");
        wait.cancel(&tx);
    }

    /// With gathering on, a streaming receive and a streaming send (each
    /// after a batch) gather and go on without registering when the peer
    /// published (made room) meanwhile; a wait after a few items spins
    /// instead; one of two MPMC receivers (senders) does neither.
    #[test]
    fn who_gathers() {
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(64);
        for side in [rx.waiting(), tx.waiting()] {
            side.sleepers.learn_gather(true);
        }
        pass(&mut tx, &mut rx, A_BATCH);
        for side in [rx.waiting(), tx.waiting()] {
            let mut spin = TaskSpin::default();
            let looks = Cell::new(0);
            assert!(spin.spin(&side, || {
                looks.set(looks.get() + 1);
                true
            }));
            assert_eq!(looks.get(), 1, "a gather looks once");
            assert!(spin.began.is_none(), "a gather is not a spin");
        }
        // After a few items a wait spins, gathering or not.
        pass(&mut tx, &mut rx, 5);
        for side in [rx.waiting(), tx.waiting()] {
            let mut spin = TaskSpin::default();
            assert!(spin.spin(&side, || true));
            assert!(spin.began.is_some());
        }
        // One of two MPMC receivers (or senders) registers at once.
        let (mtx, mrx) = crate::mpmc::channel::<u32>(4);
        let (mtx2, mrx2) = (mtx.clone(), mrx.clone());
        mrx.waiting().sleepers.learn_gather(true);
        mtx.waiting().sleepers.learn_gather(true);
        for side in [mrx.waiting(), mtx.waiting()] {
            let mut spin = TaskSpin::default();
            assert!(!spin.spin(&side, || panic!("one of two handles must not gather")));
        }
        drop((mtx2, mrx2));
        for _ in 0..A_BATCH {
            mtx.try_send(0).unwrap();
            mrx.try_recv().unwrap();
        }
        let mut spin = TaskSpin::default();
        assert!(spin.spin(&mtx.waiting(), || true), "a sole sender gathers");
        assert!(spin.began.is_none());
    }

    /// The gate of the spin phase: a wait (a receive or a send) after its
    /// side moved at most `TASK_SPIN_MAX_MOVED` items since the previous
    /// task wait spins (and ends the spin as soon as `ready` says so); one
    /// that waits after a batch does not (with gathering off it registers
    /// at once).
    #[test]
    fn only_a_wait_after_a_few_items_spins() {
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(64);
        for side in [rx.waiting(), tx.waiting()] {
            // The first wait (nothing moved yet) spins its budget, then
            // gives up.
            let mut spin = TaskSpin::default();
            assert!(!spin.spin(&side, || false));
            assert!(spin.began.is_some());
        }
        // After a batch: no spin, not even one look at `ready`.
        pass(&mut tx, &mut rx, A_BATCH);
        for side in [rx.waiting(), tx.waiting()] {
            let mut spin = TaskSpin::default();
            assert!(!spin.spin(&side, || panic!("a wait after a batch must not spin")));
            assert!(spin.began.is_none());
        }
        // After as many items as may still spin: it spins, and stops at
        // the third look.
        pass(&mut tx, &mut rx, TASK_SPIN_MAX_MOVED as u32);
        for side in [rx.waiting(), tx.waiting()] {
            let mut spin = TaskSpin::default();
            let looks = Cell::new(0);
            assert!(spin.spin(&side, || {
                looks.set(looks.get() + 1);
                looks.get() == 3
            }));
            assert_eq!(looks.get(), 3);
        }
    }

    /// A task apart from its peer spins after a batch too (it would
    /// register at once otherwise), but for one wait in
    /// `TASK_APART_PROBE_EVERY`, which registers as before.
    #[test]
    fn a_task_apart_spins_after_a_batch_but_for_its_probes() {
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(64);
        for _ in 0..TASK_APART_AFTER {
            rx.waiting().sleepers.learn_resumed(true);
        }
        // Three waits short of the end of a round of `TASK_APART_PROBE_EVERY`
        // (a thousand rounds of batches take half a minute under Miri).
        rx.waiting().sleepers.set_apart_waits(TASK_APART_PROBE_EVERY - 3);
        let mut spun = Vec::new();
        for _ in 0..6 {
            pass(&mut tx, &mut rx, A_BATCH);
            let mut spin = TaskSpin::default();
            // A spin finds the item at its first look; a probe never looks.
            let found = spin.spin(&rx.waiting(), || true);
            assert_eq!(found, spin.began.is_some(), "a probe does not spin");
            spun.push(found);
        }
        assert_eq!(spun, [true, true, false, true, true, true], "the round's last wait is its probe");
        // The sender's side is not apart: its streaming wait does not spin.
        pass(&mut tx, &mut rx, A_BATCH);
        let mut spin = TaskSpin::default();
        assert!(!spin.spin(&tx.waiting(), || panic!("a wait after a batch must not spin")));
    }

    /// A task wait that begins away from its registry's home spins first
    /// even with the task budget learned down to nothing, catching its
    /// item without registering (which would end the home), and teaches
    /// no task budget; a miss spins `TASK_AWAY_SPIN_NS`, and two in a row
    /// turn the away spin off. No away spin with the home on this thread,
    /// for a task its peer woke from this thread, or on a side with
    /// several handles.
    #[test]
    fn a_task_away_from_home_spins_before_registering() {
        let (_tx, rx) = crate::spsc::channel::<u32>(16);
        let sleepers = rx.waiting().sleepers;
        for _ in 0..3 {
            sleepers.learn_task(TASK_SPIN_MAX_NS, TaskEnd::Missed);
        }
        assert_eq!(sleepers.task_spin_for_wait(), 0, "spinning learned off");
        let no_spin = || panic!("this wait must not spin");
        assert!(!TaskSpin::default().spin(&rx.waiting(), no_spin), "no home");
        sleepers.pretend_home_on(crate::sync::thread_token());
        assert!(!TaskSpin::default().spin(&rx.waiting(), no_spin), "the home is here");

        let elsewhere = std::thread::spawn(crate::sync::thread_token).join().unwrap();
        sleepers.pretend_home_on(elsewhere);
        assert!(sleepers.home_elsewhere());
        let looks = Cell::new(0);
        let mut spin = TaskSpin::default();
        assert!(spin.spin(&rx.waiting(), || {
            looks.set(looks.get() + 1);
            looks.get() == 3
        }));
        assert_eq!((looks.get(), spin.began), (3, None), "caught at the third look, no task budget to teach");
        assert!(sleepers.home_elsewhere(), "the home stays");
        for miss in 1..=TASK_AWAY_OFF_AFTER {
            let began = Instant::now();
            assert!(!TaskSpin::default().spin(&rx.waiting(), || false), "a miss registers");
            assert!(began.elapsed().as_nanos() >= u128::from(TASK_AWAY_SPIN_NS), "miss {miss} spun its time");
        }
        assert!(!TaskSpin::default().spin(&rx.waiting(), no_spin), "off after two misses");

        // The peer woke it from this thread: it does not spin, away or not.
        let (_tx, rx) = crate::spsc::channel::<u32>(16);
        rx.waiting().sleepers.pretend_home_on(elsewhere);
        rx.waiting().sleepers.pretend_woken_here();
        assert!(!TaskSpin::default().spin(&rx.waiting(), no_spin), "woken here");

        // A pool: no home spin (nor any task spin).
        let (_tx, rx) = crate::mpmc::channel::<u32>(16);
        let _other = rx.clone();
        rx.waiting().sleepers.pretend_home_on(elsewhere);
        assert!(!TaskSpin::default().spin(&rx.waiting(), no_spin), "several handles");
    }

    /// Away spins that miss `TASK_AWAY_OFF_AFTER` times in a row stop, but
    /// for every `TASK_AWAY_PROBE_EVERY`-th away wait; a catch turns them
    /// on again.
    #[test]
    fn away_spins_stop_after_misses_but_for_probes() {
        let (_tx, rx) = crate::spsc::channel::<u32>(16);
        let sleepers = rx.waiting().sleepers;
        for _ in 0..TASK_AWAY_OFF_AFTER {
            assert_eq!(sleepers.away_spin_for_wait(), TASK_AWAY_SPIN_NS);
            sleepers.learn_away(false);
        }
        let spins: Vec<bool> =
            (0..2 * TASK_AWAY_PROBE_EVERY).map(|_| sleepers.away_spin_for_wait() == TASK_AWAY_SPIN_NS).collect();
        let probes: Vec<usize> = spins.iter().enumerate().filter(|(_, s)| **s).map(|(i, _)| i).collect();
        let every = TASK_AWAY_PROBE_EVERY as usize;
        assert_eq!(probes, [every - 1, 2 * every - 1], "one probe in {every}");
        sleepers.learn_away(true);
        assert_eq!(sleepers.away_spin_for_wait(), TASK_AWAY_SPIN_NS, "a catch turns them on");
        assert_eq!(sleepers.away_spin_for_wait(), TASK_AWAY_SPIN_NS);
    }

    /// While spinning is off, an apart task's streaming wait gathers (and
    /// its sleep counts as paced however short), as any streaming wait.
    #[test]
    fn an_apart_task_with_spinning_off_gathers() {
        let (mut tx, mut rx) = crate::spsc::channel::<u32>(64);
        let sleepers = rx.waiting().sleepers;
        for _ in 0..TASK_APART_AFTER {
            sleepers.learn_resumed(true);
        }
        for _ in 0..3 {
            sleepers.learn_task(TASK_SPIN_MAX_NS, TaskEnd::Missed);
        }
        sleepers.learn_gather(true);
        // Fewer waits than the spinning probes' period.
        for _ in 0..8 {
            pass(&mut tx, &mut rx, A_BATCH);
            let mut spin = TaskSpin::default();
            let looks = Cell::new(0);
            assert!(spin.spin(&rx.waiting(), || {
                looks.set(looks.get() + 1);
                true
            }));
            assert_eq!((looks.get(), spin.began.is_none(), spin.sleeps_pace), (1, true, true), "a gather");
        }
    }

    /// The end of an operation that spun, through `WaitState::complete`:
    /// one that slept and was woken from another thread (here: from no
    /// task's thread yet) soon after missed a wake-up, bridges the next
    /// spin and counts towards apart; one that registered without sleeping
    /// halves the budget and counts for nothing; one that slept and was
    /// woken on its thread halves it and ends apart.
    #[test]
    fn complete_teaches_the_bridge_and_apart_only_from_sleeps() {
        let (_tx, rx) = crate::spsc::channel::<u32>(16);
        let side = rx.waiting();
        let sleepers = side.sleepers;
        let end = |sleep: Sleep| {
            let mut wait = WaitState { registered: true, sleep, ..WaitState::default() };
            wait.spin.began = Some((Instant::now(), TASK_SPIN_MAX_NS));
            wait.complete(&side, || false);
        };
        // The budget's checks need `complete` to run well within
        // `TASK_BRIDGE_WITHIN_NS` of `began`: not under Miri, whose clock
        // counts interpreted steps (there it took over 60 µs).
        let timed = !cfg!(miri);
        end(Sleep::Untimed);
        if timed {
            assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS, "slept, woken away");
        }
        for _ in 1..TASK_APART_AFTER {
            end(Sleep::Awake);
        }
        assert!(!sleepers.apart(), "waits that did not sleep do not count");
        if timed {
            assert_eq!(sleepers.task_spin_learned(), TASK_BRIDGE_NS >> (TASK_APART_AFTER - 1));
        }
        for _ in 1..TASK_APART_AFTER {
            end(Sleep::Untimed);
        }
        assert!(sleepers.apart());
        sleepers.pretend_woken_here();
        let before = sleepers.task_spin_learned();
        end(Sleep::Untimed);
        assert!(!sleepers.apart(), "woken on its own thread");
        assert_eq!(sleepers.task_spin_learned(), before / 2);
    }

    /// A task wait that ended without sleeping (its spin caught the item,
    /// or its re-check found it) teaches the barrier pair nothing: a
    /// registry on the fence pair stays there through any number of them.
    /// (Counted as brisk, as a thread's are, eight of them switched a small
    /// ring's registry back to `membarrier` between its sleeps.)
    #[test]
    fn task_waits_that_did_not_sleep_leave_the_barrier_pair_alone() {
        use crate::sync::{barrier, FENCE_AFTER_PACED, UNFENCE_AFTER_BRISK};
        if barrier::kind() != barrier::Kind::Membarrier {
            return;
        }
        let (_tx, rx) = crate::spsc::channel::<u32>(16);
        let sleepers = rx.waiting().sleepers;
        for _ in 0..FENCE_AFTER_PACED {
            sleepers.learn_paced(barrier::Kind::Membarrier);
        }
        assert!(sleepers.on_fence_pair());
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        for _ in 0..4 * UNFENCE_AFTER_BRISK {
            let mut wait = AsyncWait::default();
            assert!(wait.pause(&rx.waiting(), &mut cx, || true), "caught at once");
            wait.complete(&rx.waiting(), || false);
        }
        assert!(sleepers.on_fence_pair(), "waits that did not sleep switched it back");
    }

    /// A pool of MPMC receivers that find the ring empty do not all spin:
    /// only a sole receiver does.
    #[test]
    fn an_mpmc_receive_spins_only_as_the_one_receiver() {
        let (tx, rx) = crate::mpmc::channel::<u32>(4);
        let other = rx.clone();
        let mut spin = TaskSpin::default();
        assert!(!spin.spin(&rx.waiting(), || panic!("one of two receivers must not spin")));
        assert!(spin.began.is_none());
        drop(other);
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        let mut spin = TaskSpin::default();
        assert!(spin.spin(&rx.waiting(), || true));
    }

    /// A task whose peer last woke it from another thread on the CPU it
    /// now runs on does not spin (its spin would hold the CPU the answer
    /// needs) and counts its sleep as paced, as one woken from its own
    /// thread; woken from another CPU, it spins. On a thread pinned for the
    /// test (skipped where pinning is refused; under Miri the CPU is never
    /// known).
    #[test]
    fn a_task_woken_from_its_own_cpu_does_not_spin() {
        std::thread::spawn(|| {
            if crate::sync::pin_to(0).is_err() || crate::sync::current_cpu() == crate::sync::NO_CPU {
                return;
            }
            let (_tx, rx) = crate::spsc::channel::<u32>(16);
            let sleepers = rx.waiting().sleepers;
            sleepers.pretend_woken_on(0);
            assert!(!sleepers.woken_here(), "another thread woke it");
            let looks = Cell::new(0);
            let mut spin = TaskSpin::default();
            assert!(!spin.spin(&rx.waiting(), || {
                looks.set(looks.get() + 1);
                true
            }));
            assert_eq!((looks.get(), spin.began.is_none(), spin.sleeps_pace), (0, true, true), "no spin, paced");
            sleepers.pretend_woken_on(1);
            let mut spin = TaskSpin::default();
            assert!(spin.spin(&rx.waiting(), || true), "woken from another CPU: it spins");
            assert!(spin.began.is_some());
        })
        .join()
        .unwrap();
    }

    /// Two tasks bouncing an item on one thread (a single-threaded
    /// executor): a task's spin could never end with its peer's answer,
    /// which comes only after the task returns `Pending`. Every wait after
    /// the registry's first wake-up was woken from this very thread, so it
    /// does not spin ([`Sleepers::woken_here`](crate::wait::Sleepers)), and
    /// the budget keeps what it had: at most the first wait a side spun and
    /// missed. (Before that check every spin missed here, and three misses
    /// turned spinning off, until a probe spun the cap again.)
    #[test]
    fn a_ping_pong_on_one_thread_does_not_spin() {
        let (mut a_tx, mut a_rx) = crate::spsc::channel::<u32>(1);
        let (mut b_tx, mut b_rx) = crate::spsc::channel::<u32>(1);
        let rounds = 40;
        futures::executor::block_on(async {
            let ping = async {
                for i in 0..rounds {
                    a_tx.send_async(i).await.unwrap();
                    assert_eq!(b_rx.recv_async().await, Ok(i));
                }
            };
            let echo = async {
                for _ in 0..rounds {
                    let v = a_rx.recv_async().await.unwrap();
                    b_tx.send_async(v).await.unwrap();
                }
            };
            futures::join!(ping, echo);
        });
        for budget in [a_rx.waiting().sleepers.task_spin_learned(), b_rx.waiting().sleepers.task_spin_learned()] {
            assert!(budget >= TASK_SPIN_ON_NS, "{budget} ns: spins missed");
        }
    }
}
