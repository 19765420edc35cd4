//! Flow control shared by both rings: the congestion signal (low/high
//! watermarks with hysteresis), the sleeper registries, and the slow-path
//! counters behind `stats()`.
//!
//! # Congestion: why it cannot get stuck
//!
//! One `congested` flag per channel. Senders *raise* it when they observe
//! the length at `high` or above; receivers *lower* it when they observe it
//! at `low` or below; a `congestion()` query does either. The dangerous race
//! is a sender raising from a stale length while the receiver drains:
//!
//! 1. the receiver drains the queue below `low`, loads the flag, sees
//!    `Clear` and does nothing;
//! 2. a sender that read the length before the drain sets `Congested`;
//! 3. the queue is now empty and flagged congested, and nobody will receive
//!    again to clear it.
//!
//! It is closed with the same asymmetric Dekker pattern as the sleeper
//! protocol (`wait.rs`):
//!
//! - **receiver**, after an item it removes (a store of its position) that
//!   may have taken the length to `low` (below): light barrier, then load
//!   the flag; if `Congested`, re-read the length
//!   and lower the flag if it is at `low` or below;
//! - **raiser**, on the rare Clear→Congested transition: CAS the flag, heavy
//!   barrier, then re-read the length with fresh loads and lower the flag
//!   again itself if it is at `low` or below.
//!
//! For any removal racing with a raise, the two barriers are ordered: either
//! the receiver's load sees `Congested` (and it checks the length, which is
//! what it just made small), or the raiser's re-read sees the removal (and it
//! undoes its own raise). Every later removal comes after the receiver's
//! barrier, so it sees the flag as well. Hence a queue drained to `low` or
//! below is never left `Congested` by a stale raise. The opposite mistake — a
//! receiver lowering from a stale, too-small length — only makes the flag
//! `Clear` early, and the next send re-raises it.
//!
//! Both sides first ask a cheap *probe* that can only err towards "maybe"
//! before they load the other side's position: the SPSC handles use their
//! cached copy of it (a bound in the safe direction: the cached `head`
//! overstates the length, the cached `tail` understates it), the MPMC ring
//! loads one slot stamp (`Shared::may_be_at_high` / `may_be_at_low` in
//! `mpmc/ring.rs`), and a handle keeps what a probe proved for the
//! operations that follow (`clear_until` / `full_until` in
//! `mpmc/sender.rs` / `receiver.rs`: a later position is still below
//! `high`, still above `low`). A probe that says "maybe" is confirmed from
//! fresh loads, so the argument above is unchanged: the probe only skips
//! loads whose result is already known. The SPSC consumer goes one step
//! further and skips the whole receiver step (barrier and flag) while its
//! cached length is above `low`: the cached length is a lower bound of the
//! real one, so such a removal did not drain the ring to `low`, and the
//! removal that does will see a cached length at `low` or below and run the
//! step.
//!
//! The costs: nothing when no watermarks are configured (the handle's
//! `Option` is `None`; the SPSC handles compare against a sentinel instead);
//! with watermarks:
//!
//! - SPSC send: one compare of its cached length with `high`; only when
//!   that reaches `high`, the flag load and, while `Clear`, a refresh of
//!   the consumer position (out of line).
//! - SPSC receive: one compare of its cached length with `low`; only when
//!   at or below, the compiler fence (with `membarrier`), the flag load and,
//!   while `Congested`, a refresh of the producer position.
//! - MPMC send: the flag load and, while `Clear`, a compare with the
//!   handle's kept proof, and when that runs out one stamp of a slot the
//!   sender will itself write `capacity - high + 1` sends later (two when
//!   it proves a new stretch).
//! - MPMC receive: with `membarrier` (Park channels), the light barrier
//!   and the flag load, and while `Congested` the kept proof or a stamp;
//!   with the fence pair (channels that never park), the proof or the stamp
//!   first, and the fence and the flag only when neither proves the length
//!   above `low`.
//!
//! The light barrier is a compiler fence on `Park` channels (whose raise
//! pays `membarrier`) but a real `fence(SeqCst)` on `BusySpin` / `SpinYield`
//! channels: those promise that no `try_*` call and no `congestion()` query
//! enters the kernel, so their raise uses `fence(SeqCst)` as its heavy side
//! and the receiver must match it. If a heavy barrier ever fails
//! (`barrier::heavy` returns `false`), the raise is undone rather than left
//! unprotected: a missed `Congested` is repaired by the next send at `high`.
//!
//! The shared positions are loaded only when a probe says the length may
//! have crossed a watermark; transitions pay more (a CAS, and the heavy
//! barrier for a raise). What that costs is measured, not asserted here:
//! the `targets` bench's "watermarks cost" rows (`cargo bench --bench
//! targets -- watermarks`) report the same transfer with and without
//! watermarks as a per-round ratio, per ring and strategy.

use crossbeam_utils::CachePadded;

use crate::buffer::each_catching_panics;
use crate::sync::{barrier, AtomicBool, AtomicU64, Ordering};
use crate::wait::{Pause, Progress, Sleepers, WaitOn, WaitStrategy, Waiter};

/// The congestion state of a channel configured with
/// [`Builder::watermarks`](crate::Builder::watermarks). Without watermarks
/// it is always `Clear`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Congestion {
    /// The length was last observed at or below the low watermark (or has
    /// not reached the high watermark since the channel was created).
    Clear,
    /// The length was last observed at or above the high watermark and has
    /// not been observed at or below the low watermark since.
    Congested,
}

/// Counters of the slow paths of one channel, from the `stats()` of an SPSC
/// or MPMC handle or a broadcast sender (a broadcast receiver's `stats()`
/// gives its own [`ReceiverStats`](crate::broadcast::ReceiverStats), and
/// `channel_stats()` these).
///
/// They are counted only where a thread already waits, parks, wakes another,
/// evicts or flips the congestion flag — never on a `try_*` call that simply
/// fails — so the fast paths do not pay for them. Under concurrency a
/// snapshot is approximate (the fields are read one by one), but each field
/// never decreases (they are 64-bit counters on every target).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Sends that found no room and had to wait: blocking calls (`send`,
    /// `send_timeout`, `send_deadline`) and `send_async` futures (each
    /// operation counts once, however often it is polled).
    pub send_waits: u64,
    /// Receives that found nothing and had to wait, blocking or async.
    pub recv_waits: u64,
    /// Times a thread went to sleep (parked) on this channel, or an async
    /// task registered its waker to wait (`send_async` / `recv_async` on a
    /// `Park` channel; repeated polls of one waiting future count once).
    pub parks: u64,
    /// Wake-ups delivered to sleeping threads and waiting tasks (one per
    /// `notify_one` or waker woken, one per sleeper for a broadcast).
    pub wakeups: u64,
    /// Items evicted (and handed back) by `force_send`.
    pub evictions: u64,
    /// Clear→Congested plus Congested→Clear transitions.
    pub congestion_transitions: u64,
}

/// Watermarks as a handle caches them, plus the barrier pair they use: the
/// process's pair on `Park` channels, the `Fence` pair (no system call) on
/// channels that never park, so that their `try_*` calls and `congestion()`
/// never enter the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marks {
    pub(crate) low: usize,
    pub(crate) high: usize,
    pub(crate) kind: barrier::Kind,
}

/// Channel-wide control block: wait strategy, sleepers, congestion flag and
/// counters.
///
/// Layout matters: `strategy` and `congested` sit with the ring's other
/// read-mostly words (read on every operation, written almost never), while
/// everything a *waiting* thread writes — a registry's mutex and counters,
/// the wait counters — gets its own cache line, so that a thread spinning in
/// `recv` does not keep invalidating the line the producer reads on every
/// `try_send`. (The round-trip rows of `cargo bench --bench latency -- --only
/// rt` are where a counter on the wrong line shows: the SPSC rows' p50 moves
/// well above the floor's.)
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) strategy: WaitStrategy,
    /// `true` while `Congested`. Written only on transitions (CAS).
    congested: AtomicBool,
    /// Threads blocked waiting for room.
    pub(crate) send_waiters: CachePadded<Sleepers>,
    /// Threads blocked waiting for an item.
    pub(crate) recv_waiters: CachePadded<Sleepers>,
    /// Threads blocked in `wait_until_clear`.
    pub(crate) clear_waiters: CachePadded<Sleepers>,
    /// Written by senders that wait.
    pub(crate) send_waits: CachePadded<AtomicU64>,
    /// Written by receivers that wait.
    pub(crate) recv_waits: CachePadded<AtomicU64>,
    /// Written on evictions and transitions only.
    rare: CachePadded<RareCounters>,
}

#[derive(Debug)]
struct RareCounters {
    evictions: AtomicU64,
    transitions: AtomicU64,
}

impl Control {
    /// Where a sender of this channel waits: `send_waiters`, counted in
    /// `send_waits`. `park` is the handle's barrier kind (`Some` on `Park`
    /// channels); `baton` says whether several operations may wait on the
    /// registry (MPMC), so that one that succeeds after waiting passes the
    /// baton; the receivers' registry is the `peer`; `progress` is the
    /// sending side's, for the task policies.
    #[inline(always)]
    pub(crate) fn send_side<'a>(
        &'a self,
        park: Option<barrier::Kind>,
        baton: bool,
        progress: Option<Progress<'a>>,
    ) -> WaitOn<'a> {
        // The peer: the receiving threads' registry (one thread on an SPSC
        // ring); a broadcast sender's receivers wait on their own
        // registries, so this one's CPU stays unknown.
        self.side(&self.send_waiters, &self.send_waits, &self.recv_waiters, park, baton, progress)
    }

    /// Where a receiver waits: `sleepers` (the channel's `recv_waiters`, or
    /// a broadcast receiver's own registry), counted in `recv_waits`.
    #[inline(always)]
    pub(crate) fn recv_side<'a>(
        &'a self,
        sleepers: &'a Sleepers,
        park: Option<barrier::Kind>,
        baton: bool,
        progress: Option<Progress<'a>>,
    ) -> WaitOn<'a> {
        // The peer: the sending threads' registry (one thread on an SPSC
        // ring and for a broadcast receiver).
        self.side(sleepers, &self.recv_waits, &self.send_waiters, park, baton, progress)
    }

    /// One side's [`WaitOn`]; `other` is the other side's registry, its
    /// `peer`.
    #[inline(always)]
    fn side<'a>(
        &'a self,
        sleepers: &'a Sleepers,
        waits: &'a AtomicU64,
        other: &'a Sleepers,
        park: Option<barrier::Kind>,
        baton: bool,
        progress: Option<Progress<'a>>,
    ) -> WaitOn<'a> {
        WaitOn {
            sleepers,
            waits: Some(waits),
            park,
            strategy: self.strategy,
            baton,
            progress,
            peer: Some(other),
            settle: None,
        }
    }

    /// `move_threads`: [`Builder::move_threads`](crate::Builder::move_threads),
    /// kept by the two sides' registries.
    pub(crate) fn new(strategy: WaitStrategy, move_threads: bool) -> Self {
        Control {
            strategy,
            congested: AtomicBool::new(false),
            send_waiters: CachePadded::new(Sleepers::new().moving(move_threads)),
            recv_waiters: CachePadded::new(Sleepers::new().moving(move_threads)),
            clear_waiters: CachePadded::new(Sleepers::new()),
            send_waits: CachePadded::new(AtomicU64::new(0)),
            recv_waits: CachePadded::new(AtomicU64::new(0)),
            rare: CachePadded::new(RareCounters { evictions: AtomicU64::new(0), transitions: AtomicU64::new(0) }),
        }
    }

    /// The flag, as last seen by this thread.
    #[inline(always)]
    pub(crate) fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Relaxed)
    }

    /// Sender side: the length was observed at `high` or above while the
    /// flag looked `Clear`. `fresh_len` must re-read the shared positions.
    #[cold]
    #[inline(never)]
    pub(crate) fn raise(&self, marks: Marks, fresh_len: impl Fn() -> usize) {
        if self.congested.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            self.rare.transitions.fetch_add(1, Ordering::Relaxed);
            // Pairs with the receivers' light barrier (see the module docs).
            // If the barrier could not run, a receiver that drained the ring
            // may not have seen the flag and our re-read may not see the
            // drain: undo the raise. A missed `Congested` is repaired by the
            // next send that sees `high`; a stuck one would not be.
            if !barrier::heavy(marks.kind) || fresh_len() <= marks.low {
                self.lower();
            }
        }
    }

    /// Receiver side, after removing an item (its position store is done):
    /// the light barrier, then the flag; only if `Congested`, the ring's
    /// `at_or_below(low)`, which runs its cheap probe (a cached position or
    /// one stamp) and loads the shared positions only if the probe cannot
    /// rule the length out.
    ///
    /// The flag is loaded with `Acquire`, so that the length read after it
    /// is not older than the flag (a `Relaxed` load may be served after the
    /// length's loads on a weakly ordered CPU, and a flag just raised with
    /// a length from before the raise would lower it; x86 keeps loads in
    /// order, so there the two are the same instruction).
    #[inline(always)]
    pub(crate) fn after_remove(&self, marks: Marks, at_or_below: impl FnOnce(usize) -> bool) {
        barrier::light(marks.kind);
        if self.congested.load(Ordering::Acquire) && at_or_below(marks.low) {
            self.lower();
        }
    }

    /// Congested→Clear, waking `wait_until_clear` callers.
    #[cold]
    #[inline(never)]
    pub(crate) fn lower(&self) {
        if self.congested.compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            self.rare.transitions.fetch_add(1, Ordering::Relaxed);
            self.clear_waiters.wake_all();
        }
    }

    /// A query: applies whichever transition `len` calls for, then reports.
    ///
    /// The flag first (`Acquire`), then the length: a raise that the flag
    /// shows was made from a length read before ours, so ours is at least
    /// as recent. The other order lowered a flag that a send had raised
    /// between the two reads, from the length before that send, and the
    /// flag stayed `Clear` on a ring at `high` until the next operation
    /// (a review saw it in 4–15 of 300 000 rounds of one send against one
    /// query; `tests` below builds the interleaving).
    pub(crate) fn observe(&self, marks: Option<Marks>, fresh_len: impl Fn() -> usize) -> Congestion {
        let Some(marks) = marks else { return Congestion::Clear };
        let congested = self.congested.load(Ordering::Acquire);
        let len = fresh_len();
        if congested {
            if len <= marks.low {
                self.lower();
            }
        } else if len >= marks.high {
            self.raise(marks, &fresh_len);
        }
        if self.congested.load(Ordering::Acquire) {
            Congestion::Congested
        } else {
            Congestion::Clear
        }
    }

    #[cold]
    pub(crate) fn count_eviction(&self) {
        self.rare.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// Wakes every kind of sleeper; used when a side disconnects.
    #[cold]
    pub(crate) fn wake_everyone(&self) {
        // All three, even if a waker woken in one of them panics.
        let registries: [&Sleepers; 3] = [&self.send_waiters, &self.recv_waiters, &self.clear_waiters];
        each_catching_panics(registries, Sleepers::wake_all);
    }

    pub(crate) fn stats(&self) -> Stats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sleepers: [&Sleepers; 3] = [&self.send_waiters, &self.recv_waiters, &self.clear_waiters];
        Stats {
            send_waits: r(&self.send_waits),
            recv_waits: r(&self.recv_waits),
            parks: sleepers.iter().map(|s| s.parks()).sum(),
            wakeups: sleepers.iter().map(|s| s.wakeups()).sum(),
            evictions: r(&self.rare.evictions),
            congestion_transitions: r(&self.rare.transitions),
        }
    }
}

/// The body of `wait_until_clear` on both rings: waits (with the channel's
/// strategy) until `query` reports `Clear`, the other side is gone, or the
/// deadline passes; returns the state at that point.
pub(crate) fn wait_until_clear(
    ctl: &Control,
    park: Option<barrier::Kind>,
    deadline: Option<std::time::Instant>,
    query: impl Fn() -> Congestion,
    disconnected: impl Fn() -> bool,
) -> Congestion {
    let mut waiter = Waiter::new(ctl.strategy, deadline);
    loop {
        let state = query();
        if state == Congestion::Clear || disconnected() {
            return state;
        }
        let ready = || !ctl.congested.load(Ordering::Acquire) || disconnected();
        if waiter.pause(&ctl.clear_waiters, None, None, park, ready) == Pause::TimedOut {
            return query();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use core::cell::Cell;

    use super::{Congestion, Control, Marks};
    use crate::sync::barrier;
    use crate::WaitStrategy;

    /// A query whose length read is stale, with a send that raises the
    /// flag right after that read: the raise is the newest observation, so
    /// the flag must stay `Congested`. (The query read the length first and
    /// the flag second, then lowered it.)
    #[test]
    fn a_query_does_not_lower_a_flag_raised_after_its_length_read() {
        let ctl = Control::new(WaitStrategy::BusySpin, true);
        let marks = Marks { low: 0, high: 1, kind: barrier::Kind::Fence };
        let first = Cell::new(true);
        let stale_len_then_a_send = || {
            if first.replace(false) {
                // The send that fills the ring to `high`, between the
                // query's two reads.
                ctl.raise(marks, || 1);
                0
            } else {
                1
            }
        };
        assert_eq!(ctl.observe(Some(marks), stale_len_then_a_send), Congestion::Congested);
        assert!(ctl.is_congested());
        assert_eq!(ctl.rare.transitions.load(core::sync::atomic::Ordering::Relaxed), 1, "raised once, never lowered");
    }
}
