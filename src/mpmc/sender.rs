//! [`Sender`]: the sending half of the MPMC ring.

use core::mem::MaybeUninit;
use std::collections::VecDeque;
use std::time::Instant;

use super::ring::{Blocked, ClaimHint, Claimant, Forced, Shared};
use crate::flow::{wait_until_clear, Congestion, Marks};
#[cfg(doc)]
use crate::mpmc::Receiver;
use crate::sync::{barrier, Arc, AtomicUsize, Ordering};
use crate::wait::{send_after_try, Settle, Side, WaitOn, Waiter};
use crate::{SendError, SendTimeoutError, TrySendError, WaitStrategy};

/// The sending half of an MPMC ring: `Clone`, `Send` and `Sync` when
/// `T: Send`, with every method on `&self`.
///
/// Creating a handle (the channel, or `clone`) allocates a cache-padded cell
/// of its own for its claim hint, 128 bytes on x86_64 (the module docs,
/// "Where a claim starts"); its operations allocate nothing.
///
/// ```compile_fail
/// fn assert_send<S: Send>(_: &S) {}
/// let (tx, _rx) = ringflow::mpmc::channel::<std::rc::Rc<u8>>(1);
/// assert_send(&tx);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    /// `Some` on `Park` channels: notify sleeping receivers after each send.
    park: Option<barrier::Kind>,
    /// `Some` when watermarks are configured.
    marks: Option<Marks>,
    /// With watermarks: a position before which every publication, by any
    /// sender, certainly leaves the length below `high` (see
    /// `below_high_proven`); the ring's first position while nothing is
    /// proven. Any value ever stored stays a true statement (`head` only
    /// moves on), so threads sharing this handle may overwrite each other.
    clear_until: AtomicUsize,
    /// Where this handle's next claim of `tail` looks first.
    hint: ClaimHint,
}

// SAFETY: values of `T` move between threads through the ring (hence
// `T: Send`); all shared state is atomics plus slots whose access is
// serialised by the stamp protocol. No `&T` is ever handed out, so `T: Sync`
// is not needed for sharing a handle.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Sender<T> {}

impl<T> Sender<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, park: Option<barrier::Kind>, marks: Option<Marks>) -> Self {
        // No proof yet: the word at the current tail proves nothing
        // (`Shared::proves`).
        let clear_until = AtomicUsize::new(shared.tail.load(Ordering::Relaxed));
        Sender { shared, park, marks, clear_until, hint: ClaimHint::new() }
    }
}

impl<T> Sender<T> {
    /// Sends `value` if there is room, without waiting.
    ///
    /// Never waits for another thread: if the slot at the tail is still being
    /// read by a (possibly preempted) receiver, this reports `Full`. A CAS
    /// lost to another sender is retried (lock-free, not wait-free). Never
    /// enters the kernel on `BusySpin` / `SpinYield` channels, but through
    /// the allocator on a paged ring (slots of more than 256 KiB in all)
    /// when it attaches a new page; on `Park` it may wake a parked receiver.
    /// On a paged ring at its page bound, attaching a page may wait for a
    /// page on its way to the free list from another thread (see the
    /// README's "No waiting in `try_*`").
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if there is no room; [`TrySendError::Disconnected`]
    /// if every receiver is gone (even if there is room). The value is handed
    /// back either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::TrySendError;
    /// let (tx, rx) = ringflow::mpmc::channel(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    /// ```
    #[inline]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.send_once(value, Claimant::Try)
    }

    /// One attempt of a call that may wait (`send` and its other forms):
    /// [`try_send`](Sender::try_send), except that a claim that keeps losing
    /// to other senders may yield the thread ([`Claimant::Waiting`]).
    #[inline(always)]
    fn try_send_waiting(&self, value: T) -> Result<(), TrySendError<T>> {
        self.send_once(value, Claimant::Waiting)
    }

    /// The refill gap of a blocked send: once per wait of a thread, after
    /// its first pause if that wait spins (not on a core it shares with a
    /// receiver, where the spin would only keep the receiver off it), spin
    /// (at most `REFILL_GAP_SPINS` hints) until the slot `refill_gap`
    /// positions past `tail` is free, that is until the receivers have
    /// moved `REFILL_GAP_BYTES` of slots (six cache lines) past the oldest
    /// item.
    ///
    /// Why: a sender waiting on a full ring otherwise re-reads, at every
    /// retry, the stamp of the very slot the receivers are emptying, and
    /// then refills the line they are still reading. Each such read pulls
    /// that line to the sender's core and each write of the receivers
    /// pulls it back, several times per line, while the receivers are what
    /// the ring waits for. Waiting for a gap first keeps the two sides on
    /// different lines, so each line crosses once each way: the "temporal
    /// slipping" of FastForward (Giacomoni, Moseley and Vachharajani,
    /// PPoPP 2008), which keeps a producer and a consumer a few lines apart
    /// for the same reason. The gap reaches two lines past the ones the
    /// receivers own ahead of them (`Shared::line_to_own`), so that the
    /// line a waiting sender polls is not one of those either. Nothing is
    /// claimed or changed: a send still claims the first free position,
    /// `try_send` is untouched, and a wait whose receivers do not make the
    /// gap in time (slow, or stopped after freeing fewer slots) goes on as
    /// before after the bounded spin, so the gap delays a blocked send by
    /// at most ~1.4 µs and never holds it back for good. Tasks do not wait
    /// for it (their waits register instead of spinning); nor do rings too
    /// small for a gap (`Shared::refill_gap`). Measured:
    /// `docs/measurements.md`, 2026-12-05 "the refill gap".
    ///
    /// The wait looks at that stamp every `REFILL_GAP_LOOK_EVERY` (16)
    /// hints, as the SPSC producer's looks at `head`: each look takes the
    /// slot's line, which the receivers' take-ahead asks to own a few lines
    /// before they reach it. On the 2-vCPU Intel Xeon VM (`targets
    /// --rounds 5 MPMC`, two batches of six alternated runs a build, close
    /// together; `docs/measurements.md` 2026-12-08 00:0x), a look every 1 /
    /// 16 hints (and 32, one batch), batch medians in M items/s: `Park`
    /// 1P1C 90.9, 93.9 / 96.8, 98.8 (101.8), 8P8C 85.8, 89.4 / 90.2, 92.0
    /// (95.5); `BusySpin` 1P1C 86.7, 90.9 / 93.8, 95.2 (98.8). Those rows
    /// are free-running; near full (a scratch program, 30 ns of receiver
    /// work per item, three alternated runs of five) 1P1C `BusySpin`
    /// 17.0–17.5 → 18.2–20.2 M items/s, `Park` 17.3–18.0 → 18.2–20.6, 2P2C
    /// (four threads on two vCPUs) `BusySpin` 4.7–5.4 → 5.7–7.3, `Park`
    /// 17.4–17.8 → 17.8–19.6; a ring that never fills never waits here. 16
    /// for the reason the SPSC wait gives: a small ring's gap can appear
    /// within a few microseconds.
    #[inline(always)]
    fn let_receivers_ahead(&self) {
        #[cfg(not(loom))]
        {
            let shared = &*self.shared;
            let gap = shared.refill_gap();
            if gap == 0 {
                return;
            }
            let ahead = shared.forward(shared.tail.load(Ordering::Relaxed), gap);
            crate::sync::wait_for_gap(|| shared.free_for(ahead, Ordering::Relaxed));
        }
    }

    #[inline(always)]
    fn send_once(&self, value: T, claimant: Claimant) -> Result<(), TrySendError<T>> {
        let shared = &*self.shared;
        if shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        match shared.claim_send(self.hint.get(), claimant) {
            Ok(pos) => {
                // SAFETY: `pos` was just claimed by this thread.
                unsafe { shared.publish(pos, value) };
                self.hint.claimed(shared, pos);
                self.after_publish(pos, 1);
                Ok(())
            }
            Err(()) => Err(TrySendError::Full(value)),
        }
    }

    /// After publishing `n` items, the last at position `last`: wake a
    /// parked receiver (on `Park` channels) and raise the congestion flag if
    /// the length reached `high`. While `Clear`, that costs one stamp load
    /// (see [`Shared::may_be_at_high`]); the shared positions are loaded
    /// only when the probe says the length may be at `high`.
    #[inline(always)]
    fn after_publish(&self, last: usize, n: usize) {
        let shared = &*self.shared;
        if let Some(kind) = self.park {
            shared.cold.ctl.recv_waiters.notify_n(kind, n);
        }
        if let Some(marks) = self.marks {
            let ctl = &shared.cold.ctl;
            if !ctl.is_congested() && !self.below_high_proven(last, marks.high) && shared.len() >= marks.high {
                ctl.raise(marks, || shared.len());
            }
        }
    }

    /// Whether the length including the publication at `last` is certainly
    /// below `high`. The exact probe is [`Shared::may_be_at_high`]'s: slot
    /// `q = last + 1 - high` consumed (`head` past `q`). When it proves it,
    /// a second probe `high / 2` positions nearer the tail tries to prove
    /// it for the next `high / 2` publications too (by any sender: every
    /// position before `q' + high` is fewer than `high` slots after a
    /// consumed `q'`), and the proof is kept in `clear_until`, so while the
    /// queue stays shorter than half of `high` a sender loads a stamp on
    /// the receivers' side about twice per `high / 2` sends instead of once
    /// per send. Never says "below" wrongly: a stale stamp only fails to
    /// prove, and every proof stored stays true.
    #[inline(always)]
    fn below_high_proven(&self, last: usize, high: usize) -> bool {
        let shared = &*self.shared;
        if shared.proves(last, self.clear_until.load(Ordering::Relaxed), high) {
            return true;
        }
        if shared.may_be_at_high(last, high) {
            return false;
        }
        let near = shared.backward(last, high - 1 - high / 2);
        let proof = if shared.consumed(near) { near } else { shared.backward(last, high - 1) };
        self.clear_until.store(shared.forward(proof, high), Ordering::Relaxed);
        true
    }

    /// Sends as many items from the front of `items` as there is room for,
    /// with one claim (one CAS of the tail for the whole run of free slots),
    /// removes them from `items`, and returns how many were sent. Never
    /// waits; returns 0 if the ring is full or every receiver is gone.
    /// Items from one call are consecutive in the ring, in order.
    ///
    /// Takes a `VecDeque` so that removing the sent items from the front
    /// costs O(1) each: a retry loop over a large batch stays linear. (A
    /// `Vec` converts with `VecDeque::from` without copying.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// let (tx, rx) = ringflow::mpmc::channel::<u32>(3);
    /// let mut batch = VecDeque::from(vec![1, 2, 3, 4]);
    /// assert_eq!(tx.try_send_many(&mut batch), 3);
    /// assert_eq!(batch, [4]); // what did not fit is still yours
    /// let mut out = Vec::new();
    /// assert_eq!(rx.try_recv_many(&mut out, 10), Ok(3));
    /// assert_eq!(out, [1, 2, 3]);
    /// ```
    #[must_use = "the count says how many items left the batch"]
    pub fn try_send_many(&self, items: &mut VecDeque<T>) -> usize {
        let shared = &*self.shared;
        if items.is_empty() || shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let Ok((first, n)) = shared.claim(&shared.tail, self.hint.get(), 0, items.len(), Claimant::Try) else {
            return 0;
        };
        let (mut pos, mut last) = (first, first);
        for _ in 0..n {
            // `claim` took at most `items.len()` positions.
            let Some(value) = items.pop_front() else { unreachable!("claimed more positions than items") };
            // SAFETY: `claim` gave this thread the `n` consecutive positions
            // starting at `first`; each is published once.
            unsafe { shared.publish(pos, value) };
            last = pos;
            pos = shared.next(pos);
        }
        self.hint.claimed(shared, last);
        self.after_publish(last, n);
        n
    }

    /// Sends `value`, waiting for room as the channel's [`WaitStrategy`] says.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if every receiver is gone, before the
    /// call or while waiting.
    #[inline]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        send_after_try(self.try_send_waiting(value), |v| self.send_until(v, None, false))
    }

    timed_forms!(send, ;
        /// Sends `value`, waiting at most `timeout` for room. A timeout too large
        /// to add to the current time means no deadline.
        ///
        /// # Errors
        ///
        /// [`SendTimeoutError::Timeout`] if there was no room in time;
        /// [`SendTimeoutError::Disconnected`] if every receiver is gone. The
        /// value is handed back either way.
        ;
        /// Sends `value`, waiting for room until `deadline`. A deadline already
        /// past means exactly one attempt.
        ///
        /// # Errors
        ///
        /// As [`send_timeout`](Sender::send_timeout).
    );

    /// Sends `value`, overwriting the oldest queued item if the ring is full;
    /// the evicted item is handed back, never dropped silently.
    ///
    /// Returns `Ok(None)` if there was room, `Ok(Some(oldest))` if `oldest`
    /// was evicted to make room.
    ///
    /// **May wait**: if the oldest item is still being written by a sender
    /// or read out by a receiver that claimed it (a peer preempted mid-copy),
    /// this waits for that peer to finish. It waits with the channel's wait
    /// strategy but never parks (a `Park` channel spins, then yields): the
    /// peer is running or runnable, and finishing takes it a few instructions
    /// once it is scheduled.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringflow::mpmc::channel(2);
    /// assert_eq!(tx.force_send(1), Ok(None));
    /// assert_eq!(tx.force_send(2), Ok(None));
    /// assert_eq!(tx.force_send(3), Ok(Some(1))); // the oldest comes back
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2, 3]);
    /// ```
    pub fn force_send(&self, value: T) -> Result<Option<T>, SendError<T>> {
        let shared = &*self.shared;
        if shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return Err(SendError(value));
        }
        // Waiting for a peer mid-copy never parks (see the docs above).
        let strategy = match shared.cold.ctl.strategy {
            WaitStrategy::Park => WaitStrategy::SpinYield,
            other => other,
        };
        let mut waiter = Waiter::new(strategy, None);
        let mut value = Some(value);
        // The ordinary claim of `tail`; where the slot is not free, evict
        // the oldest item instead of reporting `Full`.
        // From a fresh load of `tail`, not the hint: the eviction below
        // relies on its first position being a value `tail` had.
        let start = shared.tail.load(Ordering::Relaxed);
        let claimed = shared.claim_with(&shared.tail, start, 0, 1, Claimant::Waiting, |tail, stamp| {
            let oldest = tail.wrapping_sub(shared.one_lap);
            if stamp == oldest.wrapping_add(1) {
                // The slot holds the published item of position `oldest`, so
                // the ring is full and that item is the oldest one, unless a
                // receiver has already claimed it. Claim it ourselves by
                // moving `head` past it: success means no receiver can reach
                // it, and no sender can claim `tail` either (its stamp is not
                // `tail`), so this thread owns the slot and is the only one
                // that may move `tail` past it.
                let next_head = shared.next(oldest);
                // SeqCst, as every move of `head` and `tail` (the waiters'
                // settled check, `wait::Settled`).
                if shared.head.compare_exchange(oldest, next_head, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    // `tail` is exactly `oldest + one_lap` here: it cannot be
                    // smaller (we read it) nor larger (that slot was full).
                    shared.tail.store(shared.next(tail), Ordering::SeqCst);
                    // loom's stand-in for the two `SeqCst` moves (see `claim_with`).
                    #[cfg(loom)]
                    crate::sync::fence(Ordering::SeqCst);
                    let (slot, base) = shared.held(tail);
                    let Some(v) = value.take() else { unreachable!("the value is placed once") };
                    // SAFETY: the head CAS made this thread the owner of the
                    // full slot; the Acquire load of its stamp (in
                    // `claim_with`) made the value visible. Swap the new
                    // value in and publish it at position `tail`.
                    let evicted = unsafe { slot.value.with_mut(|p| core::ptr::replace(p, MaybeUninit::new(v))) };
                    // SAFETY: the slot was full, so the replaced cell held an
                    // initialised value, now owned by us. Owned as a local
                    // from here on, so that a waker that panics in the
                    // notifications below cannot leak it (the unwinding drops
                    // it).
                    let evicted = unsafe { evicted.assume_init() };
                    slot.set_stamp(base, tail.wrapping_add(1), Ordering::Release);
                    shared.cold.ctl.count_eviction();
                    self.after_publish(tail, 1);
                    // The number of items did not change, but `tail` moved:
                    // a sender that parked while this eviction was between
                    // its `head` CAS and its `tail` store re-checked the
                    // evicted (full) slot, and the slot at the new `tail` may
                    // have been freed by a receiver meanwhile. Wake it so it
                    // looks again (found by a loom model: `mpmc_force.rs`,
                    // `blocked_send_woken_after_force_send_eviction`).
                    if let Some(kind) = self.park {
                        shared.cold.ctl.send_waiters.notify(kind);
                    }
                    return Blocked::Stop(Forced::Evicted(evicted));
                }
            }
            // The oldest slot is being read (a receiver claimed it) or is
            // still being written (its sender claimed it a lap ago), or our
            // `tail` is stale. Look again; if nothing moved, wait a little.
            let current = shared.tail.load(Ordering::Relaxed);
            if current != tail {
                return Blocked::Retry(current);
            }
            if shared.cold.receivers.load(Ordering::Relaxed) == 0 {
                return Blocked::Stop(Forced::Disconnected);
            }
            let _ = waiter.pause(&shared.cold.ctl.send_waiters, None, None, None, || true);
            Blocked::Retry(tail)
        });
        match (claimed, value) {
            (Ok((tail, _)), Some(value)) => {
                // SAFETY: `tail` was just claimed by this thread.
                unsafe { shared.publish(tail, value) };
                self.after_publish(tail, 1);
                Ok(None)
            }
            (Err(Forced::Evicted(oldest)), None) => Ok(Some(oldest)),
            (Err(Forced::Disconnected), Some(value)) => Err(SendError(value)),
            _ => unreachable!("the value is taken exactly when an item is evicted"),
        }
    }

    /// Waits until the channel is [`Congestion::Clear`] (or `deadline`
    /// passes, or every receiver is gone) and returns the state then.
    /// Returns at once without watermarks. Waits with the channel's
    /// strategy; on `Park` channels the receiver that clears the flag wakes
    /// it.
    pub fn wait_until_clear(&self, deadline: Option<Instant>) -> Congestion {
        let shared = &*self.shared;
        wait_until_clear(&shared.cold.ctl, self.park, deadline, || self.congestion(), || self.is_disconnected())
    }

    /// Test hook, not part of the public API (feature `__test-hooks`, for
    /// the crate's own tests): claims the next slot for `value` but does
    /// not publish it until the returned guard is finished or dropped, to
    /// test that no `try_*` call waits for a stalled sender.
    ///
    /// # Errors
    ///
    /// Hands the value back if the ring is full or disconnected.
    ///
    /// # Safety
    ///
    /// The returned guard must be finished or dropped, never leaked
    /// (`mem::forget`, a reference cycle): a leaked guard leaves a claimed
    /// slot that is never written, which the ring's drop would then drop
    /// as if it held a value, and which blocks the ring forever.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub unsafe fn __claim_send(&self, value: T) -> Result<PendingSend<'_, T>, T> {
        if self.shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return Err(value);
        }
        match self.shared.claim_send(super::ring::NO_HINT, Claimant::Try) {
            Ok(pos) => Ok(PendingSend { tx: self, pos, value: Some(value) }),
            Err(()) => Err(value),
        }
    }

    /// Test hook, not part of the public API (feature `__test-hooks`):
    /// `Some([pages allocated, retirements, retirements given up, free-list
    /// put-back retries, attach looks at the allocation bound])` if the
    /// ring keeps its slots on pages (`src/mpmc/pages.rs`), `None` if it is
    /// one flat buffer.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn __page_counts(&self) -> Option<[usize; 5]> {
        self.shared.page_counts()
    }

    /// Number of queued items. Reads each position once: it may be stale and
    /// may count items still being written or read, but never exceeds
    /// [`capacity`](Sender::capacity).
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    handle_introspection!(capacity: |this| this.shared.capacity, control: |this| &this.shared.cold.ctl, marks: |this| this.marks);

    /// `true` once every [`Receiver`] has been dropped. Once true it stays
    /// true.
    pub fn is_disconnected(&self) -> bool {
        self.shared.cold.receivers.load(Ordering::Acquire) == 0
    }
}

handle_blocking!(send: &Sender<T>, attempt: try_send_waiting, first_pause: let_receivers_ahead);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Relaxed, as for `Arc`: the new handle is created from a live one.
        self.shared.cold.senders.fetch_add(1, Ordering::Relaxed);
        Sender::new(self.shared.clone(), self.park, self.marks)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let cold = &self.shared.cold;
        // AcqRel: Release publishes this sender's sends to a receiver that
        // sees 0; Acquire lets the last one see the others' (for symmetry
        // with Arc; not otherwise needed).
        if cold.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            cold.ctl.wake_everyone();
        }
    }
}

/// A claimed but unpublished send (test hook; see [`Sender::__claim_send`]).
#[cfg(feature = "__test-hooks")]
#[doc(hidden)]
pub struct PendingSend<'a, T> {
    tx: &'a Sender<T>,
    pos: usize,
    value: Option<T>,
}

#[cfg(feature = "__test-hooks")]
impl<T> PendingSend<'_, T> {
    /// Publishes the value.
    pub fn finish(self) {}
}

#[cfg(feature = "__test-hooks")]
impl<T> Drop for PendingSend<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            // SAFETY: `pos` was claimed by `__claim_send` and is published
            // exactly once, here (the guard is not leaked: `__claim_send`'s
            // contract).
            unsafe { self.tx.shared.publish(self.pos, value) };
            self.tx.after_publish(self.pos, 1);
        }
    }
}

// Where this side waits, and its fresh re-check: one definition for the
// blocking driver (`Blocking`) and the async futures (`future.rs`). Several
// operations may wait on one registry, so a waiter that succeeds passes the
// baton.
impl<T> Sender<T> {
    #[inline(always)]
    pub(crate) fn waiting(&self) -> WaitOn<'_> {
        let mut on = self.shared.cold.ctl.send_side(self.park, true, Some(self.shared.send_progress()));
        on.settle = Some(Settle { ring: &*self.shared, side: Side::Send, handles: &self.shared.cold.senders });
        on
    }

    /// The slot at `tail` free, or every receiver gone (fresh loads).
    pub(crate) fn room_or_gone(&self) -> bool {
        self.shared.send_may_proceed()
    }
}

#[cfg(feature = "__test-hooks")]
impl<T> core::fmt::Debug for PendingSend<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingSend").field("pos", &self.pos).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use crate::{Builder, Congestion, WaitStrategy};

    /// `free_for`: a slot is free for a position once the item a lap
    /// before it has been taken, and stays so once that position is
    /// published; it is not while the item of the lap before is queued.
    #[test]
    fn free_for_follows_the_slot_of_a_position_a_lap_on() {
        use core::sync::atomic::Ordering::Relaxed;
        let (tx, rx) = Builder::new(4).mpmc::<u32>();
        let shared = &tx.shared;
        let start = shared.tail.load(Relaxed);
        let next_lap = shared.next(shared.forward(start, 3)); // index 0 of the next lap
        assert_eq!(next_lap, start.wrapping_add(shared.one_lap));
        assert!(shared.free_for(start, Relaxed), "empty ring: the first position is free");
        tx.try_send(1).unwrap();
        assert!(shared.free_for(start, Relaxed), "published since: `p + 1` is past `p`");
        assert!(!shared.free_for(next_lap, Relaxed), "the item of the lap before is queued");
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(shared.free_for(next_lap, Relaxed), "taken: free for the next lap");
    }

    /// The refill gap only delays a blocked send: a sender waiting on a
    /// full ring whose receiver frees one slot and then waits for that
    /// very send (far fewer than the gap's 24 slots) still completes.
    /// With the gap's spin unbounded it would wait for the gap for good,
    /// and this test would time out.
    #[test]
    fn a_blocked_send_does_not_wait_for_the_gap_for_good() {
        for strategy in [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park] {
            let (tx, rx) = Builder::new(128).wait_strategy(strategy).mpmc::<u64>();
            assert_eq!(tx.shared.refill_gap(), 24, "the ring has a gap");
            for i in 0..128 {
                tx.try_send(i).unwrap();
            }
            // Not a scoped thread: if the send never completed, the test
            // must fail, not wait for it.
            let sender = std::thread::spawn(move || tx.send(128).unwrap());
            // Let the sender begin its wait on the full ring (if it has not
            // yet, it finds the one free slot and sends at once).
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(rx.try_recv(), Ok(0), "{strategy:?}");
            let what = format!("{strategy:?}: the blocked send never completed");
            crate::sync::join_within(sender, Duration::from_secs(10), &what);
            let rest: Vec<u64> = rx.try_iter().collect();
            assert_eq!(rest, (1..=128).collect::<Vec<_>>(), "{strategy:?}");
        }
    }

    /// Positions more than half the `usize` range past where a handle's
    /// watermark proof word was stored (what 2^31 positions give on a
    /// 32-bit target): handles cloned at the start (their words at the
    /// origin) must not take those words as proof. They once did (found by
    /// a review): the flag stayed `Congested` on the drained ring and
    /// `wait_until_clear` slept until its deadline.
    #[test]
    fn watermark_proofs_left_half_a_range_behind_prove_nothing() {
        let mut builder = Builder::new(4).wait_strategy(WaitStrategy::Park).watermarks(1, 3);
        // A flat ring in every build (`jump_empty_to` rewrites a flat
        // ring's stamps): a test length of a page at least the capacity
        // keeps it flat, also under `__test-pages`.
        builder.segment_slots = Some(4);
        let (tx, rx) = builder.mpmc::<u32>();
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let one_lap = tx.shared.one_lap;
        tx.shared.jump_empty_to((1usize << (usize::BITS - 1)).wrapping_add(one_lap));
        for i in 0..4 {
            tx2.send(i).unwrap();
        }
        assert_eq!(tx.stats().congestion_transitions, 1, "the sends raised the flag");
        // Drained by this thread alone: a `wait_until_clear` running
        // beside it (as this test had it) lowers the flag too, from its own
        // query, and this thread's load of the counter need not see that
        // (Miri found such a run): only the receives may lower it here.
        while rx2.try_recv().is_ok() {}
        assert_eq!(rx2.stats().congestion_transitions, 2, "the receives lowered it");
        let start = Instant::now();
        assert_eq!(tx.wait_until_clear(Some(start + Duration::from_secs(10))), Congestion::Clear);
        assert!(start.elapsed() < Duration::from_secs(5), "wait_until_clear returned at once");
        assert_eq!(tx.congestion(), Congestion::Clear);
    }
}
