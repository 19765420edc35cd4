//! [`Receiver`]: the receiving half of the MPMC ring.

use super::ring::{ClaimHint, Claimant, Shared, NO_HINT};
use crate::flow::Marks;
use crate::sync::{barrier, Arc, AtomicUsize, Ordering};
#[cfg(not(loom))]
use crate::sync::{spin_until, RECV_SLIP_NS, SLIP_PAYS_ITEMS};
use crate::wait::{Settle, Side, WaitOn};
#[cfg(doc)]
use crate::{mpmc::Sender, WaitStrategy};
use crate::{RecvError, RecvTimeoutError, TryRecvError};
#[cfg(not(loom))]
use std::time::Instant;

/// The receiving half of an MPMC ring: `Clone`, `Send` and `Sync` when
/// `T: Send`, with every method on `&self`.
///
/// Creating a handle (the channel, or `clone`) allocates a cache-padded cell
/// of its own for its claim hint, 128 bytes on x86_64 (the module docs,
/// "Where a claim starts"); its operations allocate nothing.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// `Some` on `Park` channels: notify sleeping senders after each receive.
    park: Option<barrier::Kind>,
    /// `Some` when watermarks are configured.
    marks: Option<Marks>,
    /// With watermarks: a position before which every receive certainly
    /// leaves more than `low` items after it, counting from its own
    /// position (see `above_low_proven`); the ring's first position while
    /// nothing is proven. Any value ever stored stays true (`tail` only
    /// moves on), so threads sharing this handle may overwrite each other.
    full_until: AtomicUsize,
    /// Where this handle's next claim of `head` looks first.
    hint: ClaimHint,
}

// SAFETY: values of `T` move between threads through the ring (hence
// `T: Send`); all shared state is atomics plus slots whose access is
// serialised by the stamp protocol. No `&T` is ever handed out, so `T: Sync`
// is not needed for sharing a handle.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Receiver<T> {}

impl<T> Receiver<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, park: Option<barrier::Kind>, marks: Option<Marks>) -> Self {
        // No proof yet: the word at the current head proves nothing
        // (`Shared::proves`).
        let full_until = AtomicUsize::new(shared.head.load(Ordering::Relaxed));
        Receiver { shared, park, marks, full_until, hint: ClaimHint::new() }
    }
}

impl<T> Receiver<T> {
    /// Receives the oldest available item, without waiting.
    ///
    /// Never waits for another thread: if the next slot was claimed by a
    /// sender that has not finished writing it (for example because it was
    /// preempted), this reports `Empty` even though [`len`](Receiver::len)
    /// counts that item. Never enters the kernel on `BusySpin` / `SpinYield`
    /// channels; on `Park` it may wake a parked sender.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing can be received now;
    /// [`TryRecvError::Disconnected`] if nothing is queued and every sender
    /// is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::TryRecvError;
    /// let (tx, rx) = ringflow::mpmc::channel(4);
    /// tx.send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.recv_once(Claimant::Try)
    }

    /// One attempt of a call that may wait (`recv` and its other forms):
    /// [`try_recv`](Receiver::try_recv), except that a claim that keeps
    /// losing to other receivers may yield the thread
    /// ([`Claimant::Waiting`]).
    #[inline(always)]
    fn try_recv_waiting(&self) -> Result<T, TryRecvError> {
        self.recv_once(Claimant::Waiting)
    }

    #[inline(always)]
    fn recv_once(&self, claimant: Claimant) -> Result<T, TryRecvError> {
        let shared = &*self.shared;
        let pos = match shared.claim_recv(self.hint.get(), claimant) {
            Ok(pos) => pos,
            Err(()) => {
                // Acquire: synchronises with every sender's final decrement,
                // so all their publications are visible below.
                if shared.cold.senders.load(Ordering::Acquire) != 0 {
                    return Err(TryRecvError::Empty);
                }
                // Every sender is gone, so no claim is in flight: one more
                // claim decides between an item and disconnection.
                match shared.claim_recv(NO_HINT, claimant) {
                    Ok(pos) => pos,
                    Err(()) => return Err(TryRecvError::Disconnected),
                }
            }
        };
        // SAFETY: `pos` was just claimed by this thread.
        let value = unsafe { shared.take(pos) };
        self.hint.claimed(shared, pos);
        self.after_take(pos, 1);
        Ok(value)
    }

    /// After freeing a slot: wake a parked sender (on `Park` channels) and
    /// lower the congestion flag if the length fell to `low`.
    /// While `Congested` that costs one stamp load (see
    /// [`Shared::may_be_at_low`]) before any load of the shared positions.
    #[inline(always)]
    fn after_take(&self, last: usize, n: usize) {
        let shared = &*self.shared;
        if let Some(kind) = self.park {
            shared.cold.ctl.send_waiters.notify_n(kind, n);
        }
        if let Some(marks) = self.marks {
            let ctl = &shared.cold.ctl;
            if marks.kind == barrier::Kind::Fence {
                // On the fence pair (channels that never park, and every
                // build without `membarrier`) the light barrier is a real
                // `fence(SeqCst)`: ask the probe first and skip the whole
                // receiver step when it proves this removal left more than
                // `low` items. That is safe because the removal that does
                // drain the ring to `low` finds position `last + 1 + low`
                // unpublished and runs the step (flow.rs, "Both sides first
                // ask a cheap probe"); loom's congestion models run this
                // order (loom always uses the fence pair).
                if !self.above_low_proven(last, marks.low) {
                    ctl.after_remove(marks, |low| shared.len() <= low);
                }
            } else {
                // With `membarrier` the light barrier is a compiler fence and
                // the flag a read-mostly word: cheaper than the stamp, which
                // sits on a line the senders are writing. Same decision.
                ctl.after_remove(marks, |low| !self.above_low_proven(last, low) && shared.len() <= low);
            }
        }
    }

    /// Whether the receive of `last` certainly left more than `low` items
    /// after it. The exact probe is [`Shared::may_be_at_low`]'s: position
    /// `last + 1 + low` published (`tail` past it). When it proves it, a
    /// second probe further ahead (half the room between `low` and the
    /// capacity) tries to prove it for the receives that follow too (a
    /// receive at `r` before `p - low` leaves `tail - (r + 1) > low` items
    /// after it once `p` is published), and the proof is kept in
    /// `full_until`. Never says "above" wrongly: a stale stamp only fails
    /// to prove, and every proof stored stays true.
    #[inline(always)]
    fn above_low_proven(&self, last: usize, low: usize) -> bool {
        let shared = &*self.shared;
        if shared.proves(last, self.full_until.load(Ordering::Relaxed), shared.capacity) {
            return true;
        }
        if shared.may_be_at_low(last, low) {
            return false;
        }
        let far = shared.forward(last, low + 1 + (shared.capacity - low - 1) / 2);
        let proof = if shared.published(far) { far } else { shared.forward(last, low + 1) };
        self.full_until.store(shared.backward(proof, low), Ordering::Relaxed);
        true
    }

    /// Moves up to `max` available items into `out` (appended, oldest
    /// first) with one claim (one CAS of the head for the whole run), and
    /// returns how many (at least 1). Never waits.
    ///
    /// `out` is grown before anything is claimed, by what the ring holds
    /// (at most `max`), never by `max` itself; an allocation failure
    /// therefore cannot strand claimed items, and a huge `max` costs
    /// nothing. `max == 0` returns `Ok(0)` and takes nothing.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Receiver::try_recv): [`TryRecvError::Empty`] if
    /// nothing can be received now, [`TryRecvError::Disconnected`] if
    /// nothing is queued and every sender is gone. As there, the two are
    /// told apart by claiming once more after seeing no senders, so an item
    /// sent just before the last sender dropped is received, not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::TryRecvError;
    /// let (tx, rx) = ringflow::mpmc::channel::<u32>(8);
    /// let mut out = Vec::new();
    /// assert_eq!(rx.try_recv_many(&mut out, 4), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv_many(&mut out, usize::MAX), Ok(1));
    /// assert_eq!(rx.try_recv_many(&mut out, 4), Err(TryRecvError::Disconnected));
    /// assert_eq!(out, [1]);
    /// ```
    pub fn try_recv_many(&self, out: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        let shared = &*self.shared;
        let max = max.min(shared.capacity);
        if max == 0 {
            return Ok(0);
        }
        // Room for what is there now (at least one), so that nothing can
        // allocate once positions are claimed; the claim takes no more than
        // that room.
        let want = shared.len().clamp(1, max);
        out.reserve(want);
        let room = (out.capacity() - out.len()).min(max);
        let (first, n) = match shared.claim(&shared.head, self.hint.get(), 1, room, Claimant::Try) {
            Ok(run) => run,
            Err(()) => {
                // Acquire: synchronises with every sender's final decrement,
                // so all their publications are visible below.
                if shared.cold.senders.load(Ordering::Acquire) != 0 {
                    return Err(TryRecvError::Empty);
                }
                // Every sender is gone, so no claim is in flight: one more
                // claim decides between items and disconnection.
                shared.claim(&shared.head, NO_HINT, 1, room, Claimant::Try).map_err(|()| TryRecvError::Disconnected)?
            }
        };
        let (mut pos, mut last) = (first, first);
        for _ in 0..n {
            // SAFETY: `claim` gave this thread the `n` consecutive published
            // positions starting at `first`; each is taken once. `push` does
            // not reallocate (reserved above), so nothing here can panic.
            out.push(unsafe { shared.take(pos) });
            last = pos;
            pos = shared.next(pos);
        }
        self.hint.claimed(shared, last);
        self.after_take(last, n);
        Ok(n)
    }

    /// Receives an item, waiting for one as the channel's [`WaitStrategy`]
    /// says.
    ///
    /// In a fast stream (this receiver's last wait ended with the next item
    /// already published, and one 0.6 µs look finds at least 8 queued), a
    /// wait that would spin first lets the senders run ahead for 0.6 µs
    /// before it looks again ("temporal slipping", as the SPSC
    /// [`Consumer::recv`](crate::spsc::Consumer::recv) does): the cores then
    /// trade the ring's lines once per several items instead of once per
    /// item, at the cost of up to about that 0.6 µs for some items of such a
    /// stream. Hand-overs (a ping-pong, a paced stream) and slower streams
    /// never slip; [`try_recv`](Receiver::try_recv) never waits.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the ring is empty and every sender is gone.
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        if let Ok(v) = self.try_recv_waiting() {
            return Ok(v);
        }
        self.recv_waiting().map_err(|_| RecvError)
    }

    /// The plain `recv`'s wait after a failed attempt: a slip first where
    /// it pays ([`slip`](Receiver::slip)), then the driver; afterwards it
    /// notes whether the wait ended in a stream (not on a ring too small
    /// for a slip to pay: no look at the next slot there).
    #[inline(never)]
    fn recv_waiting(&self) -> Result<T, RecvTimeoutError> {
        #[cfg(not(loom))]
        let slipped = self.slip();
        let received = self.recv_until(None, false);
        #[cfg(not(loom))]
        if received.is_ok() && self.slips_can_pay() {
            self.hint.set_stream(self.ended_in_a_stream(slipped));
        }
        received
    }

    /// Whether the ring can hold the [`SLIP_PAYS_ITEMS`] items a slip must
    /// let through to pay: on a smaller one the senders fill it and wait out
    /// the rest of the slip, so it never slips (the one gate of `slip` and
    /// of `recv_waiting`'s look after a wait).
    #[cfg(not(loom))]
    #[inline(always)]
    fn slips_can_pay(&self) -> bool {
        self.shared.capacity >= SLIP_PAYS_ITEMS
    }

    /// After a wait that received an item: whether it ended in a stream,
    /// the item after it already published (`claimed` moved the hint
    /// there). After a slip, only if the slip let at least
    /// [`SLIP_PAYS_ITEMS`] through: fewer, and the stream is slower than
    /// the hand-overs a slip saves, so the next wait does not slip (without
    /// this rule each slip would queue the few items that make the next
    /// wait look like a stream's again).
    #[cfg(not(loom))]
    fn ended_in_a_stream(&self, slipped: bool) -> bool {
        let shared = &*self.shared;
        if slipped {
            return shared.len() + 1 >= SLIP_PAYS_ITEMS;
        }
        let next = self.hint.get();
        next != NO_HINT && shared.published(next)
    }

    /// Temporal slipping (FastForward's term and idea: Giacomoni, Moseley
    /// and Vachharajani, PPoPP 2008; the SPSC consumer's `slip` does the
    /// same): when this receiver's last wait ended in a stream (the next
    /// item was already published), a plain `recv` that finds the ring empty
    /// spins for [`RECV_SLIP_NS`] before it waits. Waiting at once pulls the
    /// line the sender is filling back for every item, and the sender must
    /// win it back for its next store; slipping lets the sender store a run
    /// of items while it holds the line, which this receiver then takes one
    /// claim after another without waiting. Returns whether it slipped.
    ///
    /// Why the MPMC ring needs it: since receivers claim from their hint
    /// (`ClaimHint`) a receive is fast enough to catch a sender that works
    /// tens of ns per item, and the ring then hands items over one at a
    /// time, slower than before the hint. Measured on the Intel VM of
    /// 2026-12-07 (`docs/measurements.md`, 2026-12-07 12:1x; pinned 1P1C
    /// `Park`, capacity 1 024, `u64`, M items/s, without → with): the
    /// sender working 26 ns per item 17.0–17.5 → 20.9–22.6, 46 ns
    /// 10.1–10.6 → 13.6–15.0, 10 ns level (37–39); at 117 ns −8 % to +10 %
    /// over six pairs of runs, four of them 4–8 % lower (not explained);
    /// `cargo bench --bench suite -- keep-up` at capacity 1 024 `()` /
    /// `u64` / `[u64; 4]` 8.9–10.4 / 9.9–11.3 / 8.2–9.8 → 15.9–16.0 /
    /// 15.2 / 12.6.
    ///
    /// Only where the wait would spin anyway (`BusySpin`, `SpinYield`, a
    /// `Park` wait whose spin pays), on rings of at least `SLIP_PAYS_ITEMS`
    /// slots, never in a hand-over (the last wait ended with nothing behind
    /// its item: a ping-pong, a paced stream), nor in `try_recv`, the timed
    /// receives or the async one.
    #[cfg(not(loom))]
    #[inline(always)]
    fn slip(&self) -> bool {
        if !self.slips_can_pay() || !self.hint.stream() || !self.waiting().spins_first() {
            return false;
        }
        spin_until(Instant::now(), RECV_SLIP_NS, || false);
        true
    }

    timed_forms!(recv, ;
        /// Receives an item, waiting at most `timeout`. A timeout too large to
        /// add to the current time means no deadline.
        ///
        /// # Errors
        ///
        /// [`RecvTimeoutError::Timeout`] if nothing arrived in time;
        /// [`RecvTimeoutError::Disconnected`] once the ring is empty and every
        /// sender is gone.
        ;
        /// Receives an item, waiting until `deadline`. A deadline already past
        /// means exactly one attempt.
        ///
        /// # Errors
        ///
        /// As [`recv_timeout`](Receiver::recv_timeout).
    );

    /// An iterator over what can be received now, without waiting; it stops
    /// at the first `Empty` or `Disconnected`.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// A blocking iterator that ends once the ring is empty and every sender
    /// is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringflow::mpmc::channel(4);
    /// let t = std::thread::spawn(move || for i in 1..=10 { tx.send(i).unwrap(); });
    /// assert_eq!(rx.iter().sum::<i32>(), 55);
    /// t.join().unwrap();
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Test hook, not part of the public API (feature `__test-hooks`, for
    /// the crate's own tests): claims the oldest item but does not free its
    /// slot until the returned guard is finished or dropped, to test that
    /// no `try_*` call waits for a stalled receiver.
    ///
    /// # Safety
    ///
    /// The returned guard must be finished or dropped, never leaked: a
    /// leaked guard leaves a slot claimed forever, which makes
    /// `force_send` wait forever for it and leaks its value.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub unsafe fn __claim_recv(&self) -> Option<PendingRecv<'_, T>> {
        self.shared.claim_recv(NO_HINT, Claimant::Try).ok().map(|pos| PendingRecv { rx: self, pos, done: false })
    }

    /// Number of queued items. Reads each position once: it may be stale and
    /// may count items still being written or read, but never exceeds
    /// [`capacity`](Receiver::capacity).
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    handle_introspection!(capacity: |this| this.shared.capacity, control: |this| &this.shared.cold.ctl, marks: |this| this.marks);

    /// `true` once every [`Sender`] has been dropped (items may still be
    /// queued). Once true it stays true.
    pub fn is_disconnected(&self) -> bool {
        self.shared.cold.senders.load(Ordering::Acquire) == 0
    }
}

handle_blocking!(recv: &Receiver<T>, attempt: try_recv_waiting);

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.cold.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver::new(self.shared.clone(), self.park, self.marks)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let cold = &self.shared.cold;
        if cold.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            cold.ctl.wake_everyone();
        }
    }
}

/// A claimed but unfinished receive (test hook; see [`Receiver::__claim_recv`]).
#[cfg(feature = "__test-hooks")]
#[doc(hidden)]
pub struct PendingRecv<'a, T> {
    rx: &'a Receiver<T>,
    pos: usize,
    done: bool,
}

#[cfg(feature = "__test-hooks")]
impl<T> PendingRecv<'_, T> {
    /// Moves the value out and frees the slot.
    pub fn finish(mut self) -> T {
        self.done = true;
        // SAFETY: `pos` was claimed by `__claim_recv`; `done` makes `Drop`
        // skip the second take.
        let value = unsafe { self.rx.shared.take(self.pos) };
        self.rx.after_take(self.pos, 1);
        value
    }
}

#[cfg(feature = "__test-hooks")]
impl<T> Drop for PendingRecv<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: as in `finish`, taken exactly once.
            drop(unsafe { self.rx.shared.take(self.pos) });
            self.rx.after_take(self.pos, 1);
        }
    }
}

receiver_iterators!(Receiver);

// Where this side waits, and its fresh re-check: one definition for the
// blocking driver (`Blocking`) and the async futures (`future.rs`). Several
// operations may wait on one registry, so a waiter that succeeds passes the
// baton.
impl<T> Receiver<T> {
    #[inline(always)]
    pub(crate) fn waiting(&self) -> WaitOn<'_> {
        let ctl = &self.shared.cold.ctl;
        let mut on = ctl.recv_side(&ctl.recv_waiters, self.park, true, Some(self.shared.recv_progress()));
        on.settle = Some(Settle { ring: &*self.shared, side: Side::Receive, handles: &self.shared.cold.receivers });
        on
    }

    /// The slot at `head` published, or every sender gone (fresh loads).
    pub(crate) fn item_or_gone(&self) -> bool {
        self.shared.recv_may_proceed()
    }
}

#[cfg(feature = "__test-hooks")]
impl<T> core::fmt::Debug for PendingRecv<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingRecv").field("pos", &self.pos).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use crate::sync::SLIP_PAYS_ITEMS;
    use crate::{Builder, WaitStrategy};

    /// What a wait's end says about the next one: a stream when the item
    /// after the one received is already published, unless a slip preceded
    /// the wait and let fewer than `SLIP_PAYS_ITEMS` through.
    #[test]
    fn a_wait_ended_in_a_stream_when_the_next_item_was_published() {
        let (tx, rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        // A new handle has no hint: no stream, whatever is queued.
        tx.send(0).unwrap();
        assert!(!rx.ended_in_a_stream(false));
        assert_eq!(rx.try_recv(), Ok(0));
        // Nothing behind the item taken: a hand-over.
        assert!(!rx.ended_in_a_stream(false));
        tx.send(1).unwrap();
        assert!(rx.ended_in_a_stream(false), "the next item is published");
        // After a slip: the items queued behind the one received count.
        assert!(!rx.ended_in_a_stream(true), "one queued after a slip does not pay");
        for i in 2..SLIP_PAYS_ITEMS as u32 {
            tx.send(i).unwrap();
        }
        // `SLIP_PAYS_ITEMS - 1` queued: with the item received, the slip let
        // `SLIP_PAYS_ITEMS` through.
        assert!(rx.ended_in_a_stream(true));
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(!rx.ended_in_a_stream(true), "one fewer does not pay");
    }

    /// `recv` slips only after a wait that ended in a stream, and a slip
    /// that found too little ends the slipping.
    #[test]
    fn a_receiver_slips_only_after_a_stream_and_stops_when_it_does_not_pay() {
        let (tx, rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        assert!(!rx.slip(), "a new receiver does not slip");
        let late = |tx: crate::mpmc::Sender<u32>, v: u32| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send(v).unwrap();
            })
        };
        // A hand-over: the wait ends with its item alone.
        let t = late(tx.clone(), 7);
        assert_eq!(rx.recv(), Ok(7));
        t.join().unwrap();
        assert!(!rx.hint.stream(), "a hand-over is not a stream");
        // As if the last wait had ended in a stream: the next wait slips,
        // finds one item, and so the one after it does not slip.
        rx.hint.set_stream(true);
        let t = late(tx.clone(), 8);
        assert_eq!(rx.recv(), Ok(8));
        t.join().unwrap();
        assert!(!rx.hint.stream(), "a slip that found one item did not pay");
        assert!(!rx.slip());
        rx.hint.set_stream(true);
        assert!(rx.slip(), "a BusySpin wait slips after a stream");
        // A ring too small for a slip to pay never slips.
        let (_tx, small) = Builder::new(SLIP_PAYS_ITEMS - 1).wait_strategy(WaitStrategy::BusySpin).mpmc::<u32>();
        small.hint.set_stream(true);
        assert!(!small.slip(), "a ring of fewer than SLIP_PAYS_ITEMS slots does not slip");
    }
}
