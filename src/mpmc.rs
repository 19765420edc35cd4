//! The multi-producer multi-consumer ring: [`Sender`] and [`Receiver`].
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded MPMC queue (1024cores.net, "Bounded MPMC queue"):
//! every slot carries a sequence *stamp*, and the `head` (next position to
//! read) and `tail` (next position to write) counters each live in their own
//! [`CachePadded`] line. A producer at position `p` may claim the slot only
//! when its stamp equals `p` (empty for this lap), which it does with a
//! compare-and-swap of `tail` from `p` to the next position; it then writes
//! the value and stores the stamp `p + 1` (full) with `Release`. A consumer
//! at position `p` claims a slot whose stamp is `p + 1` with a CAS of `head`,
//! moves the value out and stores the stamp of the same slot one lap later
//! (empty for the next lap), again with `Release`. The stamp's
//! Release/Acquire pair hands each value over, so the counters themselves
//! need only relaxed CASes.
//!
//! Exact capacity without division uses the *lap* encoding of crossbeam's
//! `ArrayQueue`: a position is `lap * one_lap + index` with `index <
//! capacity` and `one_lap` the next power of two above the capacity, so the
//! index is a mask away and moving past the last index jumps to the next lap.
//! All arithmetic wraps, and comparisons use wrapping signed differences, so
//! positions stay correct across `usize` overflow.
//!
//! # Progress
//!
//! The ring is lock-free, not wait-free: a CAS that loses to another thread
//! retries (after that thread *completed* a claim). The `try_*` calls never
//! wait for another thread to *finish* its operation: a slot a preempted
//! sender has claimed but not yet written reads as empty to `try_recv`, and a
//! slot a receiver has claimed but not yet read out reads as occupied to
//! `try_send` (crossbeam's queues spin in that case, crossbeam issue #997).
//! Hence `try_recv` may return `Empty` while [`Receiver::len`] is non-zero.

use core::mem::MaybeUninit;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::buffer::{drop_each, Buffer};
use crate::builder::Builder;
use crate::flow::{wait_until_clear, Congestion, Control, Marks};
use crate::sync::{barrier, spin_hint, Arc, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{deadline_after, Pause, Waiter};
use crate::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError, WaitStrategy};

/// Creates an MPMC ring holding exactly `capacity` items, with the default
/// [`WaitStrategy::Park`]. Use [`Builder`] for other strategies.
///
/// # Panics
///
/// If `capacity` is 0, larger than `usize::MAX / 4`, or too large to
/// allocate (one `usize` stamp plus one `T` per slot).
///
/// # Examples
///
/// ```
/// let (tx, rx) = ringflow::mpmc::channel::<u32>(8);
/// let tx2 = tx.clone();
/// let a = std::thread::spawn(move || tx.send(1).unwrap());
/// let b = std::thread::spawn(move || tx2.send(2).unwrap());
/// a.join().unwrap();
/// b.join().unwrap();
/// let mut got = [rx.recv().unwrap(), rx.recv().unwrap()];
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    Builder::new(capacity).mpmc()
}

impl Builder {
    /// Builds a multi-producer multi-consumer ring.
    ///
    /// # Panics
    ///
    /// If the capacity is larger than `usize::MAX / 4` or the slots would
    /// not fit in one allocation.
    pub fn mpmc<T>(self) -> (Sender<T>, Receiver<T>) {
        let shared = Arc::new(Shared::new(&self));
        let park = self.park_barrier();
        let marks = self.flow_marks();
        (Sender { shared: shared.clone(), park, marks }, Receiver { shared, park, marks })
    }
}

/// One slot: a stamp and a cell.
struct Slot<T> {
    /// For the position `p` this slot serves in the current lap: `p` when
    /// empty and claimable by the sender at `p`; `p + 1` once the value
    /// written at `p` is published; `p + one_lap` once the receiver at `p`
    /// has moved the value out (which is "empty" for the next lap). The value
    /// is initialised exactly while the stamp says full (or a receiver holds
    /// the claim on it).
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Shared<T> {
    /// Next position to read. Moved only by a successful CAS (a receiver's
    /// claim, or `force_send` evicting the oldest item).
    head: CachePadded<AtomicUsize>,
    /// Next position to write. Moved only by a successful CAS (a sender's
    /// claim) or by the `force_send` that owns the eviction of the slot at
    /// `tail`. `tail - head` (in positions) never exceeds `capacity`.
    tail: CachePadded<AtomicUsize>,
    /// Read-mostly state: handle counts and sleepers.
    cold: CachePadded<Cold>,
    slots: Buffer<Slot<T>>,
    capacity: usize,
    /// `(capacity + 1).next_power_of_two()`; a position's low bits below
    /// `one_lap` are its slot index.
    one_lap: usize,
}

struct Cold {
    /// Live `Sender` handles. When it reaches 0 it stays 0 (no handle is left
    /// to clone), and every send that happened before is visible to a
    /// receiver that loads 0 with `Acquire` (the decrements form a release
    /// sequence).
    senders: AtomicUsize,
    /// Live `Receiver` handles.
    receivers: AtomicUsize,
    /// Wait strategy, sleepers, congestion flag and counters.
    ctl: Control,
}

/// Largest capacity: positions need at least two lap bits above the index
/// so that wrapping signed differences between a slot's stamp and a position
/// (at most one lap apart) are unambiguous.
const MAX_CAPACITY: usize = usize::MAX / 4;

impl<T> Shared<T> {
    fn new(b: &Builder) -> Self {
        let capacity = b.capacity;
        assert!(
            capacity <= MAX_CAPACITY,
            "ringflow: capacity {capacity} is too large for the MPMC ring (at most usize::MAX / 4)"
        );
        let one_lap = (capacity + 1).next_power_of_two();
        // Start on a lap boundary so that slot `i` serves position start + i.
        let start = b.start & !(one_lap - 1);
        let slots = Buffer::from_fn(capacity, |i| Slot {
            stamp: AtomicUsize::new(start.wrapping_add(i)),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        });
        Shared {
            head: CachePadded::new(AtomicUsize::new(start)),
            tail: CachePadded::new(AtomicUsize::new(start)),
            cold: CachePadded::new(Cold {
                senders: AtomicUsize::new(1),
                receivers: AtomicUsize::new(1),
                ctl: Control::new(b.strategy),
            }),
            slots,
            capacity,
            one_lap,
        }
    }

    /// The slot serving `pos`.
    #[inline(always)]
    fn slot(&self, pos: usize) -> &Slot<T> {
        let idx = pos & (self.one_lap - 1);
        // SAFETY: every position is built as `lap + index` with
        // `index < capacity` (see `next`), so the masked index is in bounds.
        unsafe { self.slots.get(idx) }
    }

    /// The position after `pos`: the next index, or index 0 of the next lap.
    #[inline(always)]
    fn next(&self, pos: usize) -> usize {
        let idx = pos & (self.one_lap - 1);
        if idx + 1 < self.capacity {
            pos.wrapping_add(1)
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The claim step of Vyukov's algorithm, shared by both sides. A
    /// position is *ready* for a sender when its slot's stamp is `pos`
    /// (`offset` 0: empty for this lap) and for a receiver when it is
    /// `pos + 1` (`offset` 1: published). Claims up to `max` consecutive
    /// ready positions starting at `counter` (`tail` or `head`) by moving
    /// `counter` past them with one CAS, and returns the first position and
    /// how many were claimed. `Err(())` means the first position is not ready
    /// and `counter` has not moved: full (for a sender: the slot still holds,
    /// or is handing over, the item of one lap ago) or empty (for a receiver:
    /// nothing written there yet, or a sender is mid-write).
    ///
    /// A claimed run stays ready until this thread uses it: a ready stamp
    /// only changes through the owner of the position, and owning it takes a
    /// CAS of `counter` past it, which ours just did.
    #[inline(always)]
    fn claim(&self, counter: &AtomicUsize, offset: usize, max: usize) -> Result<(usize, usize), ()> {
        self.claim_with(counter, offset, max, |pos, _stamp| {
            // Not ready. Full / empty, unless our `pos` was stale.
            let current = counter.load(Ordering::Relaxed);
            if current == pos {
                Blocked::Stop(())
            } else {
                Blocked::Retry(current)
            }
        })
    }

    /// [`claim`](Shared::claim) with the caller deciding what happens when
    /// the position at `counter` is not ready: `blocked(pos, stamp)` returns
    /// [`Blocked::Retry`] with the position to look at next, or
    /// [`Blocked::Stop`] to give up with its value. `claim` stops ("full" /
    /// "empty") unless `counter` moved; `force_send` evicts the oldest item
    /// there instead (crossbeam's `ArrayQueue` shares `push_or_else` between
    /// `push` and `force_push` the same way). One claim routine for every
    /// caller.
    #[inline(always)]
    fn claim_with<E>(
        &self,
        counter: &AtomicUsize,
        offset: usize,
        max: usize,
        mut blocked: impl FnMut(usize, usize) -> Blocked<E>,
    ) -> Result<(usize, usize), E> {
        let mut pos = counter.load(Ordering::Relaxed);
        let mut contention = 0u32;
        loop {
            // Acquire pairs with the Release store of the stamp by the
            // previous owner of the slot (the receiver that emptied it, or
            // the sender that filled it), so its access to the value is done
            // and visible before ours.
            let stamp = self.slot(pos).stamp.load(Ordering::Acquire);
            let ahead = stamp.wrapping_sub(pos.wrapping_add(offset)) as isize;
            if ahead == 0 {
                let mut end = self.next(pos);
                let mut n = 1;
                while n < max && self.slot(end).stamp.load(Ordering::Acquire) == end.wrapping_add(offset) {
                    end = self.next(end);
                    n += 1;
                }
                match counter.compare_exchange_weak(pos, end, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return Ok((pos, n)),
                    Err(current) => {
                        // Another thread claimed first (it completed its
                        // claim; we are not waiting for it): back off a
                        // little and retry at the new position.
                        pos = current;
                        contention_backoff(&mut contention);
                    }
                }
            } else if ahead < 0 {
                match blocked(pos, stamp) {
                    Blocked::Retry(next) => pos = next,
                    Blocked::Stop(e) => return Err(e),
                }
            } else {
                // Someone already used `pos`: it moved `counter` before
                // storing the stamp we saw, and the Acquire above makes that
                // visible to this load.
                pos = counter.load(Ordering::Relaxed);
            }
        }
    }

    /// The position `k` places after `pos` (`k <= capacity`), across the
    /// lap encoding.
    #[inline(always)]
    fn forward(&self, pos: usize, k: usize) -> usize {
        debug_assert!(k <= self.capacity);
        let mask = self.one_lap - 1;
        let i = (pos & mask) + k;
        if i < self.capacity {
            pos.wrapping_add(k)
        } else {
            (pos & !mask).wrapping_add(self.one_lap).wrapping_add(i - self.capacity)
        }
    }

    /// The position `k` places before `pos` (`k <= capacity`).
    #[inline(always)]
    fn backward(&self, pos: usize, k: usize) -> usize {
        debug_assert!(k <= self.capacity);
        let mask = self.one_lap - 1;
        let i = pos & mask;
        if i >= k {
            pos.wrapping_sub(k)
        } else {
            (pos & !mask).wrapping_sub(self.one_lap).wrapping_add(i + self.capacity - k)
        }
    }

    /// Congestion probe for a sender that has just published `last`: `false`
    /// when the length is certainly below `high`, `true` when it may not be.
    ///
    /// The length including `last` reaches `high` only if position
    /// `q = last + 1 - high` has not been consumed yet, and that shows in
    /// `q`'s stamp: `q` (being written) or `q + 1` (full, or being read)
    /// until a receiver frees the slot with `q + one_lap` (positions before
    /// the first lap start out that way). So instead of loading `head` —
    /// a line every receive writes — a sender loads one stamp of a slot it
    /// will itself write `capacity - high + 1` sends later. A stale value is
    /// an older stamp (`q`, `q + 1`, or one from the lap before, which is
    /// below `q`): compared as a signed distance, each of those says
    /// "maybe", and the caller then confirms with fresh loads of both
    /// positions. Only `q + one_lap` or later says "certainly below".
    #[inline(always)]
    fn may_be_at_high(&self, last: usize, high: usize) -> bool {
        let q = self.backward(last, high - 1);
        (self.slot(q).stamp.load(Ordering::Relaxed).wrapping_sub(q) as isize) < self.one_lap as isize
    }

    /// Congestion probe for a receiver that has just taken `last`: `false`
    /// when the length is certainly above `low`, `true` when it may not be.
    ///
    /// Counting from `last + 1`, the length exceeds `low` once position
    /// `p = last + 1 + low` is published, and then `p`'s stamp is `p + 1`
    /// or later. Anything else (`p`: not yet written; an older lap's stamp)
    /// means "maybe"; so does a stale load. Other receivers may have taken
    /// more meanwhile; they run their own probe.
    #[inline(always)]
    fn may_be_at_low(&self, last: usize, low: usize) -> bool {
        let p = self.forward(last, low + 1);
        self.slot(p).stamp.load(Ordering::Relaxed).wrapping_sub(p) as isize <= 0
    }

    /// Claims the position at `tail` for writing (see [`Shared::claim`]).
    #[inline]
    fn claim_send(&self) -> Result<usize, ()> {
        self.claim(&self.tail, 0, 1).map(|(pos, _)| pos)
    }

    /// Writes `value` at the claimed position `pos` and publishes it.
    ///
    /// # Safety
    ///
    /// `pos` was returned by `claim_send` (or is owned by `force_send`) and
    /// not yet published.
    #[inline(always)]
    unsafe fn publish(&self, pos: usize, value: T) {
        let slot = self.slot(pos);
        // SAFETY: the claim gives this thread exclusive access to the slot
        // until the stamp store below; the slot is empty (its stamp was `pos`).
        unsafe { slot.value.with_mut(|p| (*p).write(value)) };
        slot.stamp.store(pos.wrapping_add(1), Ordering::Release);
    }

    /// Claims the position at `head` for reading (see [`Shared::claim`]).
    #[inline]
    fn claim_recv(&self) -> Result<usize, ()> {
        self.claim(&self.head, 1, 1).map(|(pos, _)| pos)
    }

    /// Moves the value out of the claimed position `pos` and frees the slot
    /// for the next lap.
    ///
    /// # Safety
    ///
    /// `pos` was returned by `claim_recv` and not yet taken.
    #[inline(always)]
    unsafe fn take(&self, pos: usize) -> T {
        let slot = self.slot(pos);
        // SAFETY: the claim gives this thread exclusive access to the full
        // slot until the stamp store below; the value is initialised (the
        // stamp said `pos + 1`, published with Release and seen with Acquire).
        let value = unsafe { slot.value.with(|p| (*p).assume_init_read()) };
        slot.stamp.store(pos.wrapping_add(self.one_lap), Ordering::Release);
        value
    }

    /// Number of items between `head` and `tail`, clamped to `0..=capacity`.
    fn len_between(&self, head: usize, tail: usize) -> usize {
        let mask = self.one_lap - 1;
        let laps = ((tail & !mask).wrapping_sub(head & !mask) as isize) / self.one_lap as isize;
        let n = laps as i128 * self.capacity as i128 + (tail & mask) as i128 - (head & mask) as i128;
        n.clamp(0, self.capacity as i128) as usize
    }

    fn len(&self) -> usize {
        // Each position read once. Reading `head` first can only overcount
        // (tail moves on meanwhile), and the clamp caps that at capacity.
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        self.len_between(head, tail)
    }

    /// Whether a blocked sender should retry: the slot at `tail` is free (or
    /// `tail` moved on), or every receiver is gone.
    fn send_may_proceed(&self) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        let stamp = self.slot(tail).stamp.load(Ordering::Acquire);
        stamp.wrapping_sub(tail) as isize >= 0 || self.cold.receivers.load(Ordering::Acquire) == 0
    }

    /// Whether a blocked receiver should retry: the slot at `head` is
    /// published (or `head` moved on), or every sender is gone.
    fn recv_may_proceed(&self) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let stamp = self.slot(head).stamp.load(Ordering::Acquire);
        stamp.wrapping_sub(head.wrapping_add(1)) as isize >= 0 || self.cold.senders.load(Ordering::Acquire) == 0
    }
}

/// What [`Shared::claim_with`] does at a position that is not ready.
enum Blocked<E> {
    /// Look at this position next.
    Retry(usize),
    /// Give up with this.
    Stop(E),
}

/// How a `force_send` ended without an ordinary claim.
enum Forced<T> {
    /// It evicted (and replaced) this oldest item.
    Evicted(T),
    /// Every receiver is gone.
    Disconnected,
}

/// Exponential backoff after losing a CAS race: a few spin hints, capped.
/// The winner has already completed its claim, so this is contention
/// management, not waiting for a peer.
#[inline(always)]
fn contention_backoff(step: &mut u32) {
    for _ in 0..(1u32 << (*step).min(4)) {
        spin_hint();
    }
    *step += 1;
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Every handle is gone, so no claim is in flight: every position in
        // `head..tail` holds a published value.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let len = self.len_between(head, tail);
        let mut pos = head;
        drop_each(len, |_| {
            // Advance first: if this item's drop panics, `drop_each` carries
            // on with the next position, not this one again.
            let this = pos;
            pos = self.next(pos);
            let slot = self.slot(this);
            debug_assert_eq!(slot.stamp.load(Ordering::Relaxed), this.wrapping_add(1));
            // SAFETY: the slot serving `this` in `head..tail` is full and no
            // handle remains to reach it; `drop_each` visits each once.
            unsafe { slot.value.with_mut(|p| (*p).assume_init_drop()) };
        });
    }
}

/// The sending half of an MPMC ring: `Clone`, `Send` and `Sync` when
/// `T: Send`, with every method on `&self`.
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
}

/// The receiving half of an MPMC ring: `Clone`, `Send` and `Sync` when
/// `T: Send`, with every method on `&self`.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// `Some` on `Park` channels: notify sleeping senders after each receive.
    park: Option<barrier::Kind>,
    /// `Some` when watermarks are configured.
    marks: Option<Marks>,
}

// SAFETY: values of `T` move between threads through the ring (hence
// `T: Send`); all shared state is atomics plus slots whose access is
// serialised by the stamp protocol. No `&T` is ever handed out, so `T: Sync`
// is not needed for sharing a handle.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Sender<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Receiver<T> {}

impl<T> Sender<T> {
    /// Sends `value` if there is room, without waiting.
    ///
    /// Never waits for another thread: if the slot at the tail is still being
    /// read by a (possibly preempted) receiver, this reports `Full`. A CAS
    /// lost to another sender is retried (lock-free, not wait-free). Never
    /// enters the kernel on `BusySpin` / `SpinYield` channels; on `Park` it
    /// may wake a parked receiver.
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
        let shared = &*self.shared;
        if shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        match shared.claim_send() {
            Ok(pos) => {
                // SAFETY: `pos` was just claimed by this thread.
                unsafe { shared.publish(pos, value) };
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
            if !ctl.is_congested() && shared.may_be_at_high(last, marks.high) && shared.len() >= marks.high {
                ctl.raise(marks, || shared.len());
            }
        }
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
    pub fn try_send_many(&self, items: &mut VecDeque<T>) -> usize {
        let shared = &*self.shared;
        if items.is_empty() || shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let Ok((first, n)) = shared.claim(&shared.tail, 0, items.len()) else { return 0 };
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
        let value = match self.try_send(value) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(v)) => return Err(SendError(v)),
            Err(TrySendError::Full(v)) => v,
        };
        match self.send_until(value, None) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Disconnected(v) | SendTimeoutError::Timeout(v)) => Err(SendError(v)),
        }
    }

    /// Sends `value`, waiting at most `timeout` for room. A timeout too large
    /// to add to the current time means no deadline.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] if there was no room in time;
    /// [`SendTimeoutError::Disconnected`] if every receiver is gone. The
    /// value is handed back either way.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, deadline_after(timeout))
    }

    /// Sends `value`, waiting for room until `deadline`. A deadline already
    /// past means exactly one attempt.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Sender::send_timeout).
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Some(deadline))
    }

    #[cold]
    #[inline(never)]
    fn send_until(&self, mut value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let shared = &*self.shared;
        let mut waiter = Waiter::new(shared.cold.ctl.strategy, deadline);
        loop {
            match self.try_send(value) {
                Ok(()) => {
                    waiter.done(&shared.cold.ctl.send_waiters);
                    if let (Some(kind), true) = (self.park, waiter.slept()) {
                        shared.cold.ctl.send_waiters.pass_baton(kind, || shared.send_may_proceed());
                    }
                    return Ok(());
                }
                Err(TrySendError::Disconnected(v)) => return Err(SendTimeoutError::Disconnected(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
            if waiter.pause(&shared.cold.ctl.send_waiters, Some(&shared.cold.ctl.send_waits), self.park, || {
                shared.send_may_proceed()
            }) == Pause::TimedOut
            {
                return Err(SendTimeoutError::Timeout(value));
            }
        }
    }

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
        let claimed = shared.claim_with(&shared.tail, 0, 1, |tail, stamp| {
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
                if shared.head.compare_exchange(oldest, next_head, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                    // `tail` is exactly `oldest + one_lap` here: it cannot be
                    // smaller (we read it) nor larger (that slot was full).
                    shared.tail.store(shared.next(tail), Ordering::Relaxed);
                    let slot = shared.slot(tail);
                    let Some(v) = value.take() else { unreachable!("the value is placed once") };
                    // SAFETY: the head CAS made this thread the owner of the
                    // full slot; the Acquire load of its stamp (in
                    // `claim_with`) made the value visible. Swap the new
                    // value in and publish it at position `tail`.
                    let evicted = unsafe { slot.value.with_mut(|p| core::ptr::replace(p, MaybeUninit::new(v))) };
                    slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
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
                    // SAFETY: the slot was full, so the replaced cell held an
                    // initialised value, now owned by us.
                    return Blocked::Stop(Forced::Evicted(unsafe { evicted.assume_init() }));
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
            let _ = waiter.pause(&shared.cold.ctl.send_waiters, None, None, || true);
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
        match self.shared.claim_send() {
            Ok(pos) => Ok(PendingSend { tx: self, pos, value: Some(value) }),
            Err(()) => Err(value),
        }
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
        let shared = &*self.shared;
        let pos = match shared.claim_recv() {
            Ok(pos) => pos,
            Err(()) => {
                // Acquire: synchronises with every sender's final decrement,
                // so all their publications are visible below.
                if shared.cold.senders.load(Ordering::Acquire) != 0 {
                    return Err(TryRecvError::Empty);
                }
                // Every sender is gone, so no claim is in flight: one more
                // claim decides between an item and disconnection.
                match shared.claim_recv() {
                    Ok(pos) => pos,
                    Err(()) => return Err(TryRecvError::Disconnected),
                }
            }
        };
        // SAFETY: `pos` was just claimed by this thread.
        let value = unsafe { shared.take(pos) };
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
                if shared.may_be_at_low(last, marks.low) {
                    ctl.after_remove(marks, |low| shared.len() <= low);
                }
            } else {
                // With `membarrier` the light barrier is a compiler fence and
                // the flag a read-mostly word: cheaper than the stamp, which
                // sits on a line the senders are writing. Same decision.
                ctl.after_remove(marks, |low| shared.may_be_at_low(last, low) && shared.len() <= low);
            }
        }
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
        let (first, n) = match shared.claim(&shared.head, 1, room) {
            Ok(run) => run,
            Err(()) => {
                // Acquire: synchronises with every sender's final decrement,
                // so all their publications are visible below.
                if shared.cold.senders.load(Ordering::Acquire) != 0 {
                    return Err(TryRecvError::Empty);
                }
                // Every sender is gone, so no claim is in flight: one more
                // claim decides between items and disconnection.
                shared.claim(&shared.head, 1, room).map_err(|()| TryRecvError::Disconnected)?
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
        self.after_take(last, n);
        Ok(n)
    }

    /// Receives an item, waiting for one as the channel's [`WaitStrategy`]
    /// says.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the ring is empty and every sender is gone.
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        if let Ok(v) = self.try_recv() {
            return Ok(v);
        }
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Receives an item, waiting at most `timeout`. A timeout too large to
    /// add to the current time means no deadline.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time;
    /// [`RecvTimeoutError::Disconnected`] once the ring is empty and every
    /// sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// Receives an item, waiting until `deadline`. A deadline already past
    /// means exactly one attempt.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Receiver::recv_timeout).
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    #[cold]
    #[inline(never)]
    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let shared = &*self.shared;
        let mut waiter = Waiter::new(shared.cold.ctl.strategy, deadline);
        loop {
            match self.try_recv() {
                Ok(v) => {
                    waiter.done(&shared.cold.ctl.recv_waiters);
                    if let (Some(kind), true) = (self.park, waiter.slept()) {
                        shared.cold.ctl.recv_waiters.pass_baton(kind, || shared.recv_may_proceed());
                    }
                    return Ok(v);
                }
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            if waiter.pause(&shared.cold.ctl.recv_waiters, Some(&shared.cold.ctl.recv_waits), self.park, || {
                shared.recv_may_proceed()
            }) == Pause::TimedOut
            {
                return Err(RecvTimeoutError::Timeout);
            }
        }
    }

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
        self.shared.claim_recv().ok().map(|pos| PendingRecv { rx: self, pos, done: false })
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

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Relaxed, as for `Arc`: the new handle is created from a live one.
        self.shared.cold.senders.fetch_add(1, Ordering::Relaxed);
        Sender { shared: self.shared.clone(), park: self.park, marks: self.marks }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.cold.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver { shared: self.shared.clone(), park: self.park, marks: self.marks }
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

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let cold = &self.shared.cold;
        if cold.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
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

#[cfg(feature = "futures")]
pub use crate::future::mpmc_adapters::{RecvStream, SendSink};
pub use crate::future::mpmc_futures::{RecvFuture, SendFuture};

// Async support (`future.rs`): the registry, barrier and fresh re-check each
// side waits with.
impl<T> Sender<T> {
    pub(crate) fn async_side(&self) -> crate::future::Side<'_> {
        let ctl = &self.shared.cold.ctl;
        crate::future::Side { sleepers: &ctl.send_waiters, park: self.park, waits: &ctl.send_waits, multi: true }
    }

    /// The slot at `tail` free, or every receiver gone (fresh loads).
    pub(crate) fn room_or_gone(&self) -> bool {
        self.shared.send_may_proceed()
    }
}

impl<T> Receiver<T> {
    pub(crate) fn async_side(&self) -> crate::future::Side<'_> {
        let ctl = &self.shared.cold.ctl;
        crate::future::Side { sleepers: &ctl.recv_waiters, park: self.park, waits: &ctl.recv_waits, multi: true }
    }

    /// The slot at `head` published, or every sender gone (fresh loads).
    pub(crate) fn item_or_gone(&self) -> bool {
        self.shared.recv_may_proceed()
    }
}

#[cfg(feature = "__test-hooks")]
impl<T> core::fmt::Debug for PendingSend<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingSend").field("pos", &self.pos).finish()
    }
}

#[cfg(feature = "__test-hooks")]
impl<T> core::fmt::Debug for PendingRecv<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingRecv").field("pos", &self.pos).finish()
    }
}

handle_debug!(Sender, Receiver);
