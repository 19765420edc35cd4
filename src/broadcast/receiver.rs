//! The receiving half of the broadcast ring.

use crossbeam_utils::CachePadded;

use super::{
    ahead, busy, idle, ready, Cursor, CursorRef, Policy, RecvError, RecvTimeoutError, Shared, Slots, TryRecvError,
};
use crate::buffer::wrap_add;
use crate::sync::{barrier, Arc, Ordering};
use crate::wait::{Blocking, WaitOn};
use crate::Stats;
#[cfg(doc)]
use crate::WaitStrategy;

/// A receiver of a broadcast ring: its own cursor over the items, so every
/// receiver sees every item (as a clone). `Clone` (the clone starts at the
/// same position); receiving methods take `&mut self`. `Send` and `Sync`
/// when `T: Send + Sync`.
///
/// ```compile_fail
/// fn assert_send<S: Send>(_: &S) {}
/// // `Cell` is `Send` but not `Sync`: receivers on two threads could clone
/// // one `Cell` at the same time, so the receiver is not `Send`.
/// let (_tx, rx) = ringflow::broadcast::channel::<std::cell::Cell<u8>>(1);
/// assert_send(&rx);
/// ```
// Aligned to 128 bytes for the reason given on `spsc::Producer`.
#[repr(align(128))]
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// This receiver's published position (see `Cursor`).
    cursor: CursorRef,
    /// The next position to read. Equal to the cursor's position except
    /// after an eviction (Lossy), which moves only the cursor; the next
    /// receive notices and reports `Lagged`.
    pos: usize,
    /// Slot index of `pos`: always `< capacity`.
    idx: usize,
    /// Plain layout: the sender's `tail` as this receiver last loaded it;
    /// every position before it is published (its value written, and
    /// visible after the `Acquire` load). Stale means lower, never ahead of
    /// the real `tail`; after an eviction (Lossy) `pos` may be past it.
    /// Unused with stamps.
    seen_tail: usize,
    /// `Some` on `Park` channels: `recv` may sleep on `recv_waiters`.
    park: Option<barrier::Kind>,
    /// `Some` on `Park` Block channels: notify a sender blocked on room
    /// after each receive (a Lossy sender never sleeps).
    notify_sender: Option<barrier::Kind>,
    /// `true` on a Block ring with the plain layout (both fixed when the
    /// ring is built): `try_recv` then takes a path that does not look at
    /// the layout or the policy again for each item.
    plain_block: bool,
    received: u64,
    lagged: u64,
    missed: u64,
}

// SAFETY: receivers clone values of `T` through `&T` while other receivers
// (on other threads) do the same, and a receiver may hold the last handle
// and drop the ring's items: `T: Send + Sync`. Everything shared is atomics,
// a mutex and slots serialised by the publication (stamp or `tail`) /
// cursor protocol.
unsafe impl<T: Send + Sync> Send for Receiver<T> {}
// SAFETY: `&Receiver` only loads atomics (queries) and registers clones;
// receiving needs `&mut self`.
unsafe impl<T: Send + Sync> Sync for Receiver<T> {}

/// One receiver's counters, from [`Receiver::stats`]. Under the receiver's
/// own calls they are exact; `lag` is a snapshot of a moving sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Items this receiver has received.
    pub received: u64,
    /// `Lagged` errors it got (Lossy only).
    pub lagged: u64,
    /// Items it missed in total (the sum of its `Lagged(n)`). Per
    /// receiver, `received + missed + lag` = items sent after its starting
    /// position (a clone starts where the receiver it was cloned from was,
    /// so its backlog counts in its `lag`).
    pub missed: u64,
    /// Its backlog now: items sent that it has not received and not yet
    /// been told it missed ([`Receiver::lag`]).
    pub lag: usize,
    /// Times it went to sleep (parked) waiting for an item (`Park`).
    pub parks: u64,
}

impl<T> Receiver<T> {
    /// The learned spin budget of this receiver's blocking waits (tests).
    #[cfg(test)]
    pub(crate) fn spin_learned(&self) -> u32 {
        self.cursor.sleepers.spin_learned()
    }

    pub(super) fn new(
        shared: Arc<Shared<T>>,
        cursor: CursorRef,
        pos: usize,
        idx: usize,
        park: Option<barrier::Kind>,
    ) -> Self {
        let notify_sender = if shared.policy == Policy::Block { park } else { None };
        let plain_block = shared.policy == Policy::Block && matches!(shared.slots, Slots::Plain(_));
        Receiver {
            shared,
            cursor,
            pos,
            idx,
            seen_tail: pos,
            park,
            notify_sender,
            plain_block,
            received: 0,
            lagged: 0,
            missed: 0,
        }
    }

    /// Whether `seen_tail` says the item at `pos` is published.
    #[inline(always)]
    fn seen_published(&self) -> bool {
        published_before(self.pos, self.seen_tail)
    }

    /// Stamped layout: `try_recv` found `stamp` in its slot instead of its
    /// position's: `Empty` or `Disconnected` if the item is not published,
    /// `Lagged` if it was overwritten; `Ok` if a second look (after the
    /// sender left) finds it published after all.
    #[cold]
    #[inline(never)]
    fn not_ready(&mut self, mut stamp: usize) -> Result<(), TryRecvError> {
        let shared = &*self.shared;
        let want = ready(self.pos);
        if ahead(stamp, want) < 0 {
            unless_sender_gone(shared, || {
                if let Slots::Stamped(slots) = &shared.slots {
                    // SAFETY: `idx < capacity` (the field's invariant).
                    stamp = unsafe { Shared::stamp(slots, shared.start, self.idx, Ordering::Acquire) };
                }
                ahead(stamp, want) >= 0
            })?;
        }
        if stamp != want {
            // A later lap: overwritten, so the sender evicted us first.
            return Err(self.lagged());
        }
        Ok(())
    }

    /// Plain layout: `try_recv` found nothing published at `pos` after
    /// loading `tail`: `Empty`, or `Disconnected` if the sender is gone and a
    /// last look still finds nothing; `Ok` if that last look finds the item.
    #[cold]
    #[inline(never)]
    fn nothing_published(&mut self) -> Result<(), TryRecvError> {
        let shared = &*self.shared;
        unless_sender_gone(shared, || {
            self.seen_tail = shared.tail.load(Ordering::Acquire);
            published_before(self.pos, self.seen_tail)
        })
    }

    /// The slot index `n` positions after ours.
    fn idx_after(&self, n: usize) -> usize {
        let cap = self.shared.capacity;
        wrap_add(self.idx, n % cap, cap)
    }

    /// Adopts the position an eviction left in our cursor: the items in
    /// between were overwritten.
    #[cold]
    #[inline(never)]
    fn lagged(&mut self) -> TryRecvError {
        // Reached after our CAS of the cursor failed: only an eviction
        // writes our cursor besides us, so it holds the position to resume
        // from (a value read on one location; nothing else is read from
        // the sender here).
        let state = self.cursor.state.load(Ordering::Acquire);
        let mut n = ahead(state, idle(self.pos));
        debug_assert!(n > 0 && state & 1 == 0, "overwritten without an eviction");
        if n <= 0 {
            // Unreachable (the sender evicts before it overwrites); should
            // it happen, skip to the oldest item held rather than report
            // `Lagged(0)` forever.
            let tail = self.shared.tail.load(Ordering::Acquire);
            n = (super::behind(tail, idle(self.pos)).saturating_sub(self.shared.capacity)).max(1) as isize;
        }
        let n = n as usize;
        self.idx = self.idx_after(n);
        self.pos = self.pos.wrapping_add(n);
        self.lagged += 1;
        self.missed += n as u64;
        TryRecvError::Lagged(n as u64)
    }

    /// How many items this receiver has not received yet and can still get
    /// (at most the capacity). Reads the sender's position once: it may be
    /// stale.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::broadcast::channel::<u8>(4);
    /// let mut other = rx.clone();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// rx.try_recv().unwrap();
    /// assert_eq!((rx.len(), other.len()), (1, 2)); // each its own backlog
    /// ```
    pub fn len(&self) -> usize {
        let tail = self.shared.tail.load(Ordering::Acquire);
        // An eviction may have moved the cursor past `pos`.
        let state = self.cursor.state.load(Ordering::Relaxed);
        let from = if ahead(state, idle(self.pos)) > 0 { state } else { idle(self.pos) };
        super::behind(tail, from).min(self.shared.capacity)
    }

    /// How far behind the sender this receiver is: items sent that it has
    /// neither received nor been told it missed. On a Lossy ring it may
    /// exceed the capacity; the next receive then reports `Lagged`.
    pub fn lag(&self) -> usize {
        super::behind(self.shared.tail.load(Ordering::Acquire), idle(self.pos))
    }

    /// Items this receiver missed in total (Lossy), the sum of its
    /// `Lagged(n)` errors.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// This receiver's counters (see [`ReceiverStats`]).
    pub fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            received: self.received,
            lagged: self.lagged,
            missed: self.missed,
            lag: self.lag(),
            parks: self.cursor.sleepers.parks(),
        }
    }

    /// Counters of the channel's slow paths, shared by every handle. Its
    /// `parks` and `wakeups` count the sender's side; each receiver's parks
    /// are in its own [`stats`](Receiver::stats).
    pub fn channel_stats(&self) -> Stats {
        self.shared.cold.ctl.stats()
    }

    broadcast_introspection!();

    /// `true` once the sender is dropped (items may still be unread). Once
    /// true it stays true.
    pub fn is_disconnected(&self) -> bool {
        !self.shared.cold.sender_alive.load(Ordering::Acquire)
    }
}

impl<T: Clone> Receiver<T> {
    /// Receives a clone of the next item for this receiver, without
    /// waiting.
    ///
    /// Block: a load, the clone and a store on this receiver's own cache
    /// line; Lossy: plus one compare-and-swap there. Never enters the kernel
    /// on `BusySpin` / `SpinYield` channels; on a `Park` Block channel it may
    /// wake a parked sender.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing new has been sent;
    /// [`TryRecvError::Disconnected`] if this receiver has read everything
    /// and the sender is gone; [`TryRecvError::Lagged`]`(n)` (Lossy only) if
    /// `n` items were overwritten before it read them — the next call
    /// returns the oldest item still held.
    ///
    /// # Panics
    ///
    /// If `T::clone` panics; the receiver then stays where it was (the item
    /// is neither received nor lost).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::broadcast::TryRecvError;
    /// let (mut tx, mut rx) = ringflow::broadcast::channel(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5)); // what was sent comes first
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if self.plain_block {
            return self.try_recv_plain_block();
        }
        match &self.shared.slots {
            Slots::Stamped(slots) => {
                // Acquire: pairs with the sender's Release store of the
                // stamp, so the value written before it is visible to the
                // clone below.
                // SAFETY: `idx < capacity` (the field's invariant).
                let stamp = unsafe { Shared::stamp(slots, self.shared.start, self.idx, Ordering::Acquire) };
                if stamp != ready(self.pos) {
                    // Not published yet, or overwritten (out of line).
                    self.not_ready(stamp)?;
                }
            }
            Slots::Plain(_) => self.plain_ready()?,
        }
        let shared = &*self.shared;
        // SAFETY: `idx < capacity` (the field's invariant).
        let slot = unsafe { shared.cell(self.idx) };
        let value = match shared.policy {
            // The sender reuses this slot only after our cursor is past it.
            // SAFETY: the value of `pos` is published here, and visible
            // (its stamp, or `pos < seen_tail`, loaded with Acquire from
            // the sender's Release store after the value), and the sender
            // does not touch the slot again until it has seen our cursor
            // move past `pos` (Block), so the shared borrow for `clone` is
            // valid.
            Policy::Block => unsafe { slot.with(|p| (*p).assume_init_ref().clone()) },
            Policy::Lossy => {
                // Announce the clone: a sender that wants to overwrite `pos`
                // now waits for us instead of evicting us. If it evicted us
                // already (it does before it overwrites the slot of any
                // position our cursor is at or behind), the CAS fails and we
                // never touch the slot. Relaxed: the value's visibility
                // comes from the load that found `pos` published; the sender
                // orders its overwrite after our clone by the Acquire load
                // that sees our Release store below.
                if self
                    .cursor
                    .state
                    .compare_exchange(idle(self.pos), busy(self.pos), Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    return Err(self.lagged());
                }
                // Back to idle at `pos` if `clone` panics, so that the
                // sender is not left waiting for a clone that never ends.
                let guard = Unbusy { cursor: &self.cursor, state: idle(self.pos) };
                // SAFETY: published and visible (see Block); our CAS won
                // before any eviction, so the slot still holds the value of
                // `pos` (overwriting it would have evicted us first), and the
                // sender waits for our cursor to leave `busy(pos)` before it
                // overwrites the slot.
                let value = unsafe { slot.with(|p| (*p).assume_init_ref().clone()) };
                core::mem::forget(guard);
                value
            }
        };
        self.received_one();
        Ok(value)
    }

    /// [`try_recv`](Receiver::try_recv) on a Block ring with the plain
    /// layout (`plain_block`), the common case for small items: the same
    /// steps without a dispatch on the layout or the policy for each item
    /// (about 51 instructions per `u64` receive with them, 43 without, in
    /// a one-thread loop under callgrind; what a receive costs decides the
    /// rate where the receivers share a core).
    #[inline(always)]
    fn try_recv_plain_block(&mut self) -> Result<T, TryRecvError> {
        self.plain_ready()?;
        let Slots::Plain(cells) = &self.shared.slots else { unreachable!("plain_block on a stamped ring") };
        // SAFETY: `idx < capacity` (the field's invariant), the buffer's
        // length; the value of `pos` is published and visible (`pos <
        // seen_tail`, loaded with Acquire from the sender's Release store
        // after the value), and on a Block ring the sender does not touch
        // the slot again until it has seen our cursor move past `pos`, so
        // the shared borrow for `clone` is valid.
        let value = unsafe { cells.get(self.idx).with(|p| (*p).assume_init_ref().clone()) };
        self.received_one();
        Ok(value)
    }

    /// Plain layout: makes sure the item at `pos` is published, loading
    /// `tail` again only once everything seen so far is read.
    #[inline(always)]
    fn plain_ready(&mut self) -> Result<(), TryRecvError> {
        if !self.seen_published() {
            // Acquire: pairs with the sender's Release store of `tail`, so
            // the values it wrote before are visible to the clones that
            // follow.
            self.seen_tail = self.shared.tail.load(Ordering::Acquire);
            if !self.seen_published() {
                // Empty or disconnected (out of line).
                self.nothing_published()?;
            }
        }
        Ok(())
    }

    /// After the clone of the item at `pos`: moves on to the next
    /// position, publishes the cursor and wakes a sender waiting for room.
    #[inline(always)]
    fn received_one(&mut self) {
        let shared = &*self.shared;
        self.pos = self.pos.wrapping_add(1);
        self.idx = if self.idx + 1 == shared.capacity { 0 } else { self.idx + 1 };
        // Release: our clone happens-before the sender's reuse of the slot.
        self.cursor.state.store(idle(self.pos), Ordering::Release);
        self.received += 1;
        if let Some(kind) = self.notify_sender {
            shared.cold.ctl.send_waiters.notify(kind);
        }
    }

    /// Receives the next item, waiting for one as the channel's
    /// [`WaitStrategy`] says.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once this receiver has read everything
    /// and the sender is gone; [`RecvError::Lagged`] as for
    /// [`try_recv`](Receiver::try_recv).
    ///
    /// # Panics
    ///
    /// As [`try_recv`](Receiver::try_recv).
    // Always inline, as the SPSC ring's `recv` (see `spsc::Producer::send`):
    // out of line, every item paid a call and the saving of registers,
    // 48 instructions per receive (callgrind).
    #[inline(always)]
    pub fn recv(&mut self) -> Result<T, RecvError> {
        match self.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(RecvError::Disconnected),
            Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
            Err(TryRecvError::Empty) => {}
        }
        self.recv_until(None, false).map_err(RecvTimeoutError::untimed)
    }

    timed_forms!(recv, mut;
        /// Receives the next item, waiting at most `timeout`. A timeout too
        /// large to add to the current time means no deadline.
        ///
        /// # Errors
        ///
        /// [`RecvTimeoutError::Timeout`] if nothing arrived in time;
        /// [`RecvTimeoutError::Disconnected`] and [`RecvTimeoutError::Lagged`]
        /// as for [`recv`](Receiver::recv).
        ///
        /// # Panics
        ///
        /// As [`try_recv`](Receiver::try_recv).
        ;
        /// Receives the next item, waiting until `deadline`. A deadline already
        /// past means exactly one attempt.
        ///
        /// # Errors
        ///
        /// As [`recv_timeout`](Receiver::recv_timeout).
        ///
        /// # Panics
        ///
        /// As [`try_recv`](Receiver::try_recv).
    );
}

/// Plain layout: whether position `pos` is before `tail` (published),
/// wrapping.
#[inline(always)]
fn published_before(pos: usize, tail: usize) -> bool {
    (tail.wrapping_sub(pos) as isize) > 0
}

/// A receive found its item unpublished: `Empty` while the sender lives;
/// once it is gone, `look_again` (a fresh load of the publication, stamp or
/// `tail`) decides between the item (`Ok`) and `Disconnected`. Acquire on
/// `sender_alive`: pairs with the sender's drop, which came after its last
/// publication, so that last look sees every item.
fn unless_sender_gone<T>(shared: &Shared<T>, look_again: impl FnOnce() -> bool) -> Result<(), TryRecvError> {
    if shared.cold.sender_alive.load(Ordering::Acquire) {
        Err(TryRecvError::Empty)
    } else if look_again() {
        Ok(())
    } else {
        Err(TryRecvError::Disconnected)
    }
}

/// Resets a Lossy cursor from busy to idle if a `clone` panics.
struct Unbusy<'a> {
    cursor: &'a Cursor,
    state: usize,
}

impl Drop for Unbusy<'_> {
    fn drop(&mut self) {
        self.cursor.state.store(self.state, Ordering::Release);
    }
}

impl<T> Clone for Receiver<T> {
    /// A new receiver at the same position: it will receive exactly what
    /// this one has not received yet (and, on a Lossy ring, the same
    /// `Lagged` if this one has been overtaken). Its counters start at 0.
    fn clone(&self) -> Self {
        let shared = &self.shared;
        let cursor = Arc::new(CachePadded::new(Cursor::new(idle(self.pos))));
        // Register first, then read our own cursor with a read-modify-write
        // (AcqRel): see "Joining while the sender rescans" in the module
        // docs for why this order keeps the sender's minimum a lower bound.
        shared.register(&cursor);
        let ours = self.cursor.state.fetch_add(0, Ordering::AcqRel);
        if ahead(ours, idle(self.pos)) > 0 {
            // We were evicted and have not noticed yet: the clone inherits
            // the eviction (its first receive reports the same `Lagged`),
            // unless the sender has evicted the new cursor even further.
            let mut now = cursor.state.load(Ordering::Relaxed);
            while ahead(ours, now) > 0 {
                match cursor.state.compare_exchange(now, ours & !1, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(actual) => now = actual,
                }
            }
        }
        Receiver::new(shared.clone(), cursor, self.pos, self.idx, self.park)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        // Leave the count first, then release the hold (on the sender's
        // snapshot too, however stale): a sender whose rescan sees this
        // cursor released (`Acquire`) then also sees the count without us,
        // so if we were the last receiver it reports `Disconnected` instead
        // of sending an item nobody will read (see `Sender::try_send`).
        let left = shared.deregister(&self.cursor);
        self.cursor.live.store(false, Ordering::Release);
        // Nothing waits on this receiver's own registry any more (its
        // futures borrow it), so a waker still there is a leaked future's:
        // wake it (which drops it) now, outside the registry's mutex. The
        // cursor itself may live on in a list the registry keeps for the
        // sender (`Registry::retired`) until a later join or leave; the
        // task behind such a waker (it may own another receiver, holding
        // the ring) must not.
        if self.park.is_some() {
            self.cursor.sleepers.wake_all();
        }
        if left == 0 {
            shared.cold.ctl.wake_everyone();
        } else if shared.policy == Policy::Block && self.park.is_some() {
            // The sender may be waiting on us: its re-check runs under the
            // sleepers' mutex, which `wake_all` takes, so no barrier needed.
            shared.cold.ctl.send_waiters.wake_all();
        }
    }
}

/// A blocking receive, for the driver in `wait.rs`: on this receiver's own
/// registry (the sender notifies each receiver's).
impl<T: Clone> Blocking for Receiver<T> {
    type Carry = ();
    type Output = T;
    type Error = RecvTimeoutError;

    #[inline(always)]
    fn attempt(&mut self, (): ()) -> Result<Result<T, RecvTimeoutError>, ()> {
        match self.try_recv() {
            Ok(v) => Ok(Ok(v)),
            Err(TryRecvError::Disconnected) => Ok(Err(RecvTimeoutError::Disconnected)),
            Err(TryRecvError::Lagged(n)) => Ok(Err(RecvTimeoutError::Lagged(n))),
            Err(TryRecvError::Empty) => Err(()),
        }
    }

    fn ready(&self) -> bool {
        // SAFETY: `idx < capacity` (the field's invariant).
        unsafe { self.shared.recv_may_proceed(self.idx, self.pos) }
    }

    #[inline(always)]
    fn wait_on(&self) -> WaitOn<'_> {
        let ctl = &self.shared.cold.ctl;
        ctl.recv_side(&self.cursor.sleepers, self.park, false, None)
    }
}

handle_debug!(Receiver);
