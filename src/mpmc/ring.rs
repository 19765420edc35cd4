//! The ring of the MPMC queue: slots with stamps, the two positions, and
//! the operations both handles build on (see the module docs of `mpmc` for
//! the algorithm).

use crossbeam_utils::CachePadded;

use super::pages::Pages;
use crate::buffer::{drop_each, lap_distance, Buffer, StampedSlot};
use crate::builder::Builder;
use crate::flow::Control;
use crate::sync::{spin_hint, yield_now, AtomicBool, AtomicUsize, Ordering, REFILL_GAP_BYTES, TAKE_AHEAD_BYTES};
use crate::wait::{Progress, Settled, Side};
use crate::WaitStrategy;

/// One slot. Its stamp, for the position `p` it serves in the current
/// lap: `p` when empty and claimable by the sender at `p`; `p + 1` once the
/// value written at `p` is published; `p + one_lap` once the receiver at
/// `p` has moved the value out (which is "empty" for the next lap). The
/// value is initialised exactly while the stamp says full (or a receiver
/// holds the claim on it). Its base (the stamp it starts with) is
/// `origin + index`.
pub(super) type Slot<T> = StampedSlot<T>;

pub(super) struct Shared<T> {
    /// Next position to read. Moved only by a successful CAS (a receiver's
    /// claim, or `force_send` evicting the oldest item).
    pub(super) head: CachePadded<AtomicUsize>,
    /// Next position to write. Moved only by a successful CAS (a sender's
    /// claim) or by the `force_send` that owns the eviction of the slot at
    /// `tail`. `tail - head` (in positions) never exceeds `capacity`.
    pub(super) tail: CachePadded<AtomicUsize>,
    /// Read-mostly state: handle counts and sleepers.
    pub(super) cold: CachePadded<Cold>,
    /// Where the slots live: one buffer, or pages (`pages.rs`).
    slots: Storage<T>,
    pub(super) capacity: usize,
    /// `(capacity + 1).next_power_of_two()`; a position's low bits below
    /// `one_lap` are its slot index.
    pub(super) one_lap: usize,
    /// `one_lap - 1` (a position's index is `pos & lap_mask`) and
    /// `one_lap - capacity` (the positions a lap skips after its last
    /// index): kept, not derived, on the hot path.
    lap_mask: usize,
    lap_gap: usize,
    /// The first position (a multiple of `one_lap`): slot `i` starts out
    /// serving `origin + i`, which is its stamp before anything happened
    /// (its base, see `StampedSlot`).
    origin: usize,
    /// How many positions ahead of the one it takes a receiver asks for a
    /// published slot's line for writing (`line_to_own`); 0 for none: a
    /// paged ring, a ring too small (see [`take_ahead`]), or a CPU without
    /// a write prefetch. At most `capacity / 4`.
    take_ahead: usize,
}

pub(super) struct Cold {
    /// Live `Sender` handles. When it reaches 0 it stays 0 (no handle is left
    /// to clone), and every send that happened before is visible to a
    /// receiver that loads 0 with `Acquire` (the decrements form a release
    /// sequence).
    pub(super) senders: AtomicUsize,
    /// Live `Receiver` handles.
    pub(super) receivers: AtomicUsize,
    /// Wait strategy, sleepers, congestion flag and counters.
    pub(super) ctl: Control,
}

/// The waiters' settled check (see [`Settled`] for the argument). Every
/// move of `head` and `tail` is `SeqCst` (the compare-exchanges of
/// `claim_with`; a `force_send` eviction's `head` compare-exchange and
/// `tail` store),
/// and the notification after a publication or a take loads the registry's
/// count with `SeqCst` (`Sleepers::notify_n_after_barrier`).
impl<T> Settled for Shared<T> {
    fn settled(&self, side: Side) -> bool {
        match side {
            // Empty, and no sender has claimed the next position: every
            // claim of it or later comes after this load.
            Side::Receive => {
                let head = self.head.load(Ordering::Relaxed);
                self.tail.load(Ordering::SeqCst) == head
            }
            // Full, and no receiver has claimed the oldest position: every
            // claim that makes room comes after this load.
            Side::Send => {
                let tail = self.tail.load(Ordering::Relaxed);
                self.len_between(self.head.load(Ordering::SeqCst), tail) >= self.capacity
            }
        }
    }
}

/// The slots of `T` in `bytes` as a distance along a ring of `capacity`
/// slots ([`crate::sync::slots_in`]). The refill gap and the take-ahead are
/// both sized this way.
fn slots_in<T>(bytes: usize, capacity: usize) -> usize {
    crate::sync::slots_in(bytes, core::mem::size_of::<Slot<T>>(), capacity)
}

/// How many positions past `tail` a blocked sender of a ring of `capacity`
/// slots of `T` waits to see free before it refills
/// (`Sender::let_receivers_ahead`): the slots in `REFILL_GAP_BYTES` (see
/// [`slots_in`]); on a small ring none, where it would hold a sender back
/// for a good part of the ring.
fn refill_gap<T>(capacity: usize) -> usize {
    slots_in::<T>(REFILL_GAP_BYTES, capacity)
}

/// How many positions ahead of the one it takes a receiver of a flat ring
/// of `capacity` slots of `T` asks for a slot's line for writing
/// (`Shared::line_to_own`), on a CPU that has a write prefetch
/// (`prefetch`): the slots in `TAKE_AHEAD_BYTES` (see [`slots_in`]); on a
/// small ring none, where the line ahead would be close to the one the
/// senders are filling.
fn take_ahead<T>(capacity: usize, prefetch: bool) -> usize {
    if prefetch {
        slots_in::<T>(TAKE_AHEAD_BYTES, capacity)
    } else {
        0
    }
}

/// A handle's [`ClaimHint`] when it has none: the next claim loads the
/// counter. Never a position: its index bits
/// are all set, and an index is below `capacity < one_lap`.
///
/// Why handles keep a hint: a claim's first step was a load of the counter
/// it then compare-exchanges, and on the thread that moved it last (every
/// operation of a lone sender or receiver, a stream of operations on one
/// thread) that load waits for the thread's own previous `lock cmpxchg` of
/// the same line to complete before the slot's stamp can be loaded and the
/// next compare-exchange issued. Starting from the position after the
/// handle's last claim (a relaxed word of the handle's own, forwarded from
/// the store that wrote it) takes that load off the chain; the compare-exchange checks the guess
/// as it checked the load. Measured: `docs/measurements.md`, 2026-12-07 "the
/// MPMC claim hint".
pub(super) const NO_HINT: usize = usize::MAX;

/// A handle's claim hint (see [`NO_HINT`] for why): where its next claim
/// of `tail` (a sender's) or `head` (a receiver's) looks first, the
/// position after its last claim, or `NO_HINT` until it has claimed. A
/// guess the claim's compare-exchange checks, so threads sharing a handle
/// may overwrite each other's. Stored by every operation, so it lives in a
/// cache-padded cell of its own, allocated with the handle: in the handle
/// it would share a line with whatever the user placed next to the handle
/// (say the other side's handle, moved into a neighbouring boxed thread
/// closure), and each store would pull that line from the other core; the
/// handle itself stays read-only on the hot path.
///
/// The same cell keeps a receiver's `stream` flag: whether its last
/// blocking wait ended in a stream (see `Receiver::slip`). Relaxed, a
/// guess as the hint is.
pub(super) struct ClaimHint(Box<CachePadded<HintCell>>);

struct HintCell {
    pos: AtomicUsize,
    stream: AtomicBool,
}

impl ClaimHint {
    pub(super) fn new() -> Self {
        ClaimHint(Box::new(CachePadded::new(HintCell {
            pos: AtomicUsize::new(NO_HINT),
            stream: AtomicBool::new(false),
        })))
    }

    /// Where the handle's next claim looks first, or `NO_HINT`.
    #[inline(always)]
    pub(super) fn get(&self) -> usize {
        self.0.pos.load(Ordering::Relaxed)
    }

    /// After the handle claimed a run that ends at `last`: the position
    /// after it, where its next claim is likely to succeed.
    #[inline(always)]
    pub(super) fn claimed<T>(&self, shared: &Shared<T>, last: usize) {
        self.0.pos.store(shared.next(last), Ordering::Relaxed);
    }

    /// A receiver's: whether its last blocking wait ended in a stream.
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(always)]
    pub(super) fn stream(&self) -> bool {
        self.0.stream.load(Ordering::Relaxed)
    }

    #[cfg_attr(loom, allow(dead_code))]
    pub(super) fn set_stream(&self, stream: bool) {
        self.0.stream.store(stream, Ordering::Relaxed);
    }
}

/// Largest capacity: positions need at least two lap bits above the index
/// so that wrapping signed differences between a slot's stamp and a position
/// (at most one lap apart) are unambiguous.
pub(super) const MAX_CAPACITY: usize = usize::MAX / 4;

impl<T> Shared<T> {
    pub(super) fn new(b: &Builder) -> Self {
        let capacity = b.capacity;
        assert!(
            capacity <= MAX_CAPACITY,
            "ringflow: capacity {capacity} is too large for the MPMC ring (at most usize::MAX / 4)"
        );
        let one_lap = (capacity + 1).next_power_of_two();
        // Start on a lap boundary so that slot `i` serves position start + i.
        let start = b.start & !(one_lap - 1);
        // Every slot starts with stamp `start + i`, its base: built in
        // constant time, backed page by page as positions reach it. Or, for
        // a large ring, an empty page table.
        // The same limit either way: a capacity a flat ring could not hold.
        crate::builder::assert_layout::<Slot<T>>(capacity);
        let (slots, take_ahead) = match page_slots::<T>(capacity, b.segment_slots) {
            Some(page) => (Storage::Paged(Pages::new(capacity, one_lap, start, page)), 0),
            None => {
                let ahead = take_ahead::<T>(capacity, crate::sync::has_prefetch_write());
                (Storage::Flat(Buffer::stamped(capacity)), ahead)
            }
        };
        Shared {
            head: CachePadded::new(AtomicUsize::new(start)),
            tail: CachePadded::new(AtomicUsize::new(start)),
            cold: CachePadded::new(Cold {
                senders: AtomicUsize::new(1),
                receivers: AtomicUsize::new(1),
                ctl: Control::new(b.strategy, b.move_threads),
            }),
            slots,
            capacity,
            one_lap,
            lap_mask: one_lap - 1,
            lap_gap: one_lap - capacity,
            origin: start,
            take_ahead,
        }
    }

    /// The stamp of the slot serving `pos`.
    #[inline(always)]
    pub(super) fn stamp(&self, pos: usize, order: Ordering) -> usize {
        match &self.slots {
            Storage::Flat(slots) => {
                let (slot, base) = self.flat_slot(slots, pos);
                slot.stamp(base, order)
            }
            Storage::Paged(pages) => pages.stamp(pos, order),
        }
    }

    /// Test hook: `[pages allocated, retirements, retirements given up,
    /// free-list put-back retries, attach looks at the allocation bound]` of
    /// a paged ring.
    #[cfg(feature = "__test-hooks")]
    pub(super) fn page_counts(&self) -> Option<[usize; 5]> {
        let Storage::Paged(pages) = &self.slots else { return None };
        Some(pages.counts.each_ref().map(|c| c.load(core::sync::atomic::Ordering::Relaxed)))
    }

    /// The slot serving `pos` and its base, for a thread that owns the item
    /// there (a receiver's claim, an eviction, the drop).
    #[inline(always)]
    pub(super) fn held(&self, pos: usize) -> (&Slot<T>, usize) {
        match &self.slots {
            Storage::Flat(slots) => self.flat_slot(slots, pos),
            Storage::Paged(pages) => (pages.slot_holding(pos), 0),
        }
    }

    /// The slot serving `pos` in a flat ring, and its base (its initial
    /// stamp, `origin + index`).
    #[inline(always)]
    fn flat_slot<'a>(&self, slots: &'a Buffer<Slot<T>>, pos: usize) -> (&'a Slot<T>, usize) {
        let idx = pos & self.lap_mask;
        // SAFETY: every position is built as `lap + index` with
        // `index < capacity` (see `next`), so the masked index is in bounds.
        (unsafe { slots.get(idx) }, self.origin.wrapping_add(idx))
    }

    /// The position after `pos`: the next index, or index 0 of the next lap.
    #[inline(always)]
    pub(super) fn next(&self, pos: usize) -> usize {
        // `pos + 1`, unless its index would be `capacity` (past the lap's
        // last index): then index 0 of the next lap, `lap_gap` further on.
        let next = pos.wrapping_add(1);
        if next & self.lap_mask < self.capacity {
            next
        } else {
            next.wrapping_add(self.lap_gap)
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
    ///
    /// The first look is at `hint` (a handle's guess, see [`NO_HINT`]) if
    /// it has one, else at a fresh load of `counter`.
    #[inline(always)]
    pub(super) fn claim(
        &self,
        counter: &AtomicUsize,
        hint: usize,
        offset: usize,
        max: usize,
        claimant: Claimant,
    ) -> Result<(usize, usize), ()> {
        let start = Self::start(counter, hint);
        self.claim_with(counter, start, offset, max, claimant, |pos, _stamp| {
            // Not ready. Full / empty, unless our `pos` was stale.
            let current = counter.load(Ordering::Relaxed);
            if current == pos {
                Blocked::Stop(())
            } else {
                Blocked::Retry(current)
            }
        })
    }

    /// Where a claim of `counter` first looks: the handle's `hint`, or
    /// `counter` itself if the handle has none.
    #[inline(always)]
    fn start(counter: &AtomicUsize, hint: usize) -> usize {
        if hint == NO_HINT {
            counter.load(Ordering::Relaxed)
        } else {
            hint
        }
    }

    /// [`claim`](Shared::claim) with the caller deciding what happens when
    /// the position at `counter` is not ready: `blocked(pos, stamp)` returns
    /// [`Blocked::Retry`] with the position to look at next, or
    /// [`Blocked::Stop`] to give up with its value. `claim` stops ("full" /
    /// "empty") unless `counter` moved; `force_send` evicts the oldest item
    /// there instead (crossbeam's `ArrayQueue` shares `push_or_else` between
    /// `push` and `force_push` the same way). One claim routine for every
    /// caller. `claimant` says how a lost CAS race is backed off
    /// ([`contention_backoff`]). The first look is at `start`, a position
    /// `counter` has reached (a load of it, or a handle's hint): a stale
    /// one only costs a retry, as every outcome but a won CAS at `pos`
    /// either moves `pos` to a later value of `counter` or (`blocked`)
    /// confirms against it.
    #[inline(always)]
    pub(super) fn claim_with<E>(
        &self,
        counter: &AtomicUsize,
        start: usize,
        offset: usize,
        max: usize,
        claimant: Claimant,
        mut blocked: impl FnMut(usize, usize) -> Blocked<E>,
    ) -> Result<(usize, usize), E> {
        let mut pos = start;
        let mut contention = 0u32;
        loop {
            // Acquire pairs with the Release store of the stamp by the
            // previous owner of the slot (the receiver that emptied it, or
            // the sender that filled it), so its access to the value is done
            // and visible before ours.
            let stamp = self.stamp(pos, Ordering::Acquire);
            let ahead = stamp.wrapping_sub(pos.wrapping_add(offset)) as isize;
            if ahead == 0 {
                let mut end = self.next(pos);
                let mut n = 1;
                while n < max && self.stamp(end, Ordering::Acquire) == end.wrapping_add(offset) {
                    end = self.next(end);
                    n += 1;
                }
                // SeqCst: a claim is the "publication" half of the waiters'
                // settled check (`wait::Settled`: a waiter that registered
                // and then sees no claim in flight sleeps without the heavy
                // barrier), and on `tail` of a paged ring one half of the
                // page retirement handshake (`pages.rs`). On x86 it is the
                // same instruction as a relaxed CAS.
                let claimed = counter.compare_exchange_weak(pos, end, Ordering::SeqCst, Ordering::Relaxed);
                match claimed {
                    Ok(_) => {
                        // loom treats `SeqCst` read-modify-writes as
                        // `AcqRel`; a `SeqCst` fence after the claim is the
                        // stand-in it models (see `Settled`).
                        #[cfg(loom)]
                        crate::sync::fence(Ordering::SeqCst);
                        return Ok((pos, n));
                    }
                    Err(current) => {
                        // Another thread claimed first (it completed its
                        // claim; we are not waiting for it): back off a
                        // little and retry at the new position.
                        pos = current;
                        contention_backoff(&mut contention, claimant.may_yield(self.cold.ctl.strategy));
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
    pub(super) fn forward(&self, pos: usize, k: usize) -> usize {
        debug_assert!(k <= self.capacity);
        // As `next` does for 1: past the lap's last index the position
        // skips the `lap_gap` positions that have no slot (`lap start +
        // one_lap + (index + k - capacity)` is `pos + k + lap_gap`).
        let ahead = pos.wrapping_add(k);
        if (pos & self.lap_mask) + k < self.capacity {
            ahead
        } else {
            ahead.wrapping_add(self.lap_gap)
        }
    }

    /// The position `k` places before `pos` (`k <= capacity`).
    #[inline(always)]
    pub(super) fn backward(&self, pos: usize, k: usize) -> usize {
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
    pub(super) fn may_be_at_high(&self, last: usize, high: usize) -> bool {
        !self.consumed(self.backward(last, high - 1))
    }

    /// Whether the receiver at `q` has certainly moved its value out (the
    /// stamp says `q + one_lap` or later), so `head` is past `q`. A stale
    /// load can only say "not known".
    #[inline(always)]
    pub(super) fn consumed(&self, q: usize) -> bool {
        (self.stamp(q, Ordering::Relaxed).wrapping_sub(q) as isize) >= self.one_lap as isize
    }

    /// Whether the slot serving position `p` is certainly free for it (its
    /// stamp says `p`, or later: `p` published or taken since). A stale
    /// load can only say "not known".
    #[inline(always)]
    pub(super) fn free_for(&self, p: usize, order: Ordering) -> bool {
        self.stamp(p, order).wrapping_sub(p) as isize >= 0
    }

    /// This ring's refill gap (see [`refill_gap`]).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(always)]
    pub(super) fn refill_gap(&self) -> usize {
        refill_gap::<T>(self.capacity)
    }

    /// Whether position `p` has certainly been published (the stamp says
    /// `p + 1` or later), so `tail` is past `p`. A stale load can only say
    /// "not known".
    #[inline(always)]
    pub(super) fn published(&self, p: usize) -> bool {
        self.stamp(p, Ordering::Relaxed).wrapping_sub(p.wrapping_add(1)) as isize >= 0
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
    pub(super) fn may_be_at_low(&self, last: usize, low: usize) -> bool {
        !self.published(self.forward(last, low + 1))
    }

    /// Claims the position at `tail` for writing (see [`Shared::claim`]),
    /// looking first at `hint`.
    #[inline]
    pub(super) fn claim_send(&self, hint: usize, claimant: Claimant) -> Result<usize, ()> {
        self.claim(&self.tail, hint, 0, 1, claimant).map(|(pos, _)| pos)
    }

    /// Writes `value` at the claimed position `pos` and publishes it.
    ///
    /// # Safety
    ///
    /// `pos` was returned by `claim_send` (or is owned by `force_send`) and
    /// not yet published.
    #[inline(always)]
    pub(super) unsafe fn publish(&self, pos: usize, value: T) {
        // One branch on the storage per call, each arm straight through.
        match &self.slots {
            Storage::Flat(slots) => {
                let (slot, base) = self.flat_slot(slots, pos);
                // SAFETY: as this function's.
                unsafe { Self::fill(slot, base, pos, value) };
                // The slots are a zeroed buffer: see `Buffer::prefault_ahead`.
                slots.prefault_ahead(pos & self.lap_mask);
            }
            // SAFETY: as this function's.
            Storage::Paged(pages) => unsafe { Self::fill(pages.slot_for_write(pos), 0, pos, value) },
        }
    }

    /// Writes `value` into `slot` (base `base`), which serves the claimed
    /// position `pos`, and publishes it.
    ///
    /// # Safety
    ///
    /// As for [`publish`](Shared::publish); `slot` serves `pos`.
    #[inline(always)]
    unsafe fn fill(slot: &Slot<T>, base: usize, pos: usize, value: T) {
        // SAFETY: the claim gives this thread exclusive access to the slot
        // until the stamp store below; the slot is empty (its stamp was `pos`).
        unsafe { slot.value.with_mut(|p| (*p).write(value)) };
        slot.set_stamp(base, pos.wrapping_add(1), Ordering::Release);
    }

    /// Claims the position at `head` for reading (see [`Shared::claim`]),
    /// looking first at `hint`.
    #[inline]
    pub(super) fn claim_recv(&self, hint: usize, claimant: Claimant) -> Result<usize, ()> {
        self.claim(&self.head, hint, 1, 1, claimant).map(|(pos, _)| pos)
    }

    /// Moves the value out of the claimed position `pos` and frees the slot
    /// for the next lap.
    ///
    /// # Safety
    ///
    /// `pos` was returned by `claim_recv` and not yet taken.
    #[inline(always)]
    pub(super) unsafe fn take(&self, pos: usize) -> T {
        // One branch on the storage per call, each arm straight through.
        match &self.slots {
            Storage::Flat(slots) => {
                if let Some(q) = self.line_to_own(pos) {
                    crate::sync::prefetch_write(self.flat_slot(slots, q).0);
                }
                let (slot, base) = self.flat_slot(slots, pos);
                // SAFETY: as this function's.
                unsafe { self.empty(slot, base, pos) }
            }
            Storage::Paged(pages) => {
                let (slot, page_end) = pages.slot_to_take(pos);
                // SAFETY: as this function's.
                let value = unsafe { self.empty(slot, 0, pos) };
                if page_end {
                    pages.maybe_retire(pos, &self.tail);
                }
                value
            }
        }
    }

    /// For a receiver taking `pos` from a flat ring: the position
    /// `take_ahead` places on, if its item is already published, whose line
    /// the receiver then fetches for writing (`prefetch_write`); `None` when
    /// the ring has no take-ahead, or that item is not published yet.
    ///
    /// Why: a receiver reads a slot (its line comes over shared from the
    /// sender's core) and then writes the slot's stamp, which takes a
    /// second transaction to invalidate the sender's copy. Far apart each
    /// costs hundreds of nanoseconds. Fetched for writing a few lines early,
    /// the line arrives owned, in one transaction, before it is needed. Only
    /// a published slot's line: one the senders are still filling would be
    /// taken from them mid-write (without the check, a near-empty ring far
    /// apart ran about three times slower). And the senders' refill gap
    /// (`REFILL_GAP_BYTES`) reaches past these lines, so that a blocked
    /// sender does not poll a line the receivers have just taken over.
    /// Measured: `docs/measurements.md`, 2026-12-05 "the take-ahead".
    #[inline(always)]
    pub(super) fn line_to_own(&self, pos: usize) -> Option<usize> {
        if self.take_ahead == 0 {
            return None;
        }
        let q = self.forward(pos, self.take_ahead);
        self.published(q).then_some(q)
    }

    /// Moves the value out of `slot` (base `base`), which serves the claimed
    /// position `pos`, and frees it for the next lap.
    ///
    /// # Safety
    ///
    /// As for [`take`](Shared::take); `slot` serves `pos`.
    #[inline(always)]
    unsafe fn empty(&self, slot: &Slot<T>, base: usize, pos: usize) -> T {
        // SAFETY: the claim gives this thread exclusive access to the full
        // slot until the stamp store below; the value is initialised (the
        // stamp said `pos + 1`, published with Release and seen with Acquire).
        let value = unsafe { slot.value.with(|p| (*p).assume_init_read()) };
        slot.set_stamp(base, pos.wrapping_add(self.one_lap), Ordering::Release);
        value
    }

    /// `head` as the progress of the receiving side, for the task policies
    /// (which spin and gather only while there is one receiver).
    pub(super) fn recv_progress(&self) -> Progress<'_> {
        let handles = Some(&self.cold.receivers);
        Progress { pos: &self.head, one_lap: self.one_lap, per_lap: self.capacity, capacity: self.capacity, handles }
    }

    /// `tail` as the progress of the sending side, for the task gather
    /// policy (which gathers only while there is one sender).
    pub(super) fn send_progress(&self) -> Progress<'_> {
        let handles = Some(&self.cold.senders);
        Progress { pos: &self.tail, one_lap: self.one_lap, per_lap: self.capacity, capacity: self.capacity, handles }
    }

    /// Whether a handle's watermark proof word (`Sender::clear_until`,
    /// `Receiver::full_until`) still proves something for the operation at
    /// `last`: it is ahead of `last` by at least one position and at most
    /// `max`, as every proof stored is when it is stored. A word left behind
    /// by more than half the `usize` range (a handle idle for that long, a
    /// 32-bit target after 2^31 positions) would read as ahead by any
    /// amount, and was once taken as proof (the congestion flag could then
    /// stay raised on an empty ring, with `wait_until_clear` asleep).
    #[inline(always)]
    pub(super) fn proves(&self, last: usize, word: usize, max: usize) -> bool {
        let d = lap_distance(last, word, self.one_lap, self.capacity);
        d > 0 && d <= max as i128
    }

    /// Puts an empty flat ring at position `far` (a lap start), the state
    /// it would reach after `far - origin` positions of traffic (unit tests
    /// of positions more than half the `usize` range apart).
    #[cfg(all(test, not(loom)))]
    pub(super) fn jump_empty_to(&self, far: usize) {
        assert_eq!(far & self.lap_mask, 0);
        let Storage::Flat(slots) = &self.slots else { panic!("a flat ring") };
        for idx in 0..self.capacity {
            let (slot, base) = self.flat_slot(slots, far.wrapping_add(idx));
            slot.set_stamp(base, far.wrapping_add(idx), Ordering::Relaxed);
        }
        self.head.store(far, Ordering::SeqCst);
        self.tail.store(far, Ordering::SeqCst);
    }

    /// Number of items between `head` and `tail`, clamped to `0..=capacity`.
    pub(super) fn len_between(&self, head: usize, tail: usize) -> usize {
        lap_distance(head, tail, self.one_lap, self.capacity).clamp(0, self.capacity as i128) as usize
    }

    pub(super) fn len(&self) -> usize {
        // Each position read once. Reading `head` first can only overcount
        // (tail moves on meanwhile), and the clamp caps that at capacity.
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        self.len_between(head, tail)
    }

    /// Whether a blocked sender should retry: the slot at `tail` is free (or
    /// `tail` moved on), or every receiver is gone.
    pub(super) fn send_may_proceed(&self) -> bool {
        self.free_for(self.tail.load(Ordering::Relaxed), Ordering::Acquire)
            || self.cold.receivers.load(Ordering::Acquire) == 0
    }

    /// Whether a blocked receiver should retry: the slot at `head` is
    /// published (or `head` moved on), or every sender is gone.
    pub(super) fn recv_may_proceed(&self) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let stamp = self.stamp(head, Ordering::Acquire);
        stamp.wrapping_sub(head.wrapping_add(1)) as isize >= 0 || self.cold.senders.load(Ordering::Acquire) == 0
    }
}

/// Where a ring's slots live.
enum Storage<T> {
    /// One buffer of `capacity` slots, stamps relative to each slot's base.
    Flat(Buffer<Slot<T>>),
    /// Pages attached as positions reach them and recycled once read.
    Paged(Pages<T>),
}

/// Below this many bytes of slots a ring is one flat buffer.
const FLAT_MAX_BYTES: usize = 256 * 1024;
/// Bytes of slots per page of a larger ring.
const PAGE_BYTES: usize = 64 * 1024;

/// The page length (slots) for a ring of `capacity` slots of `T`, or `None`
/// for a flat ring; `test` is the length a test asked for
/// (`Builder::__segment_slots`), rounded up to a power of two, at least 2.
///
/// With the test-only feature `__test-pages`, every ring without a test length
/// that has more than two slots uses pages of two slots, so that the whole
/// MPMC test suite runs on pages (`scripts/check.sh pages`); the loom
/// models' rings of one or two slots stay flat.
fn page_slots<T>(capacity: usize, test: Option<usize>) -> Option<usize> {
    #[cfg(feature = "__test-pages")]
    let test = test.or(Some(2));
    let page = match test {
        Some(n) => n.max(2).checked_next_power_of_two()?,
        None => {
            let size = core::mem::size_of::<Slot<T>>();
            if capacity.saturating_mul(size) <= FLAT_MAX_BYTES {
                return None;
            }
            let fit = (PAGE_BYTES / size).max(2);
            1 << (usize::BITS - 1 - fit.leading_zeros())
        }
    };
    (page < capacity).then_some(page)
}

/// What [`Shared::claim_with`] does at a position that is not ready.
pub(super) enum Blocked<E> {
    /// Look at this position next.
    Retry(usize),
    /// Give up with this.
    Stop(E),
}

/// How a `force_send` ended without an ordinary claim.
pub(super) enum Forced<T> {
    /// It evicted (and replaced) this oldest item.
    Evicted(T),
    /// Every receiver is gone.
    Disconnected,
}

/// The cap of [`contention_backoff`], as a power of two. Under loom, where
/// each spin hint is a yield the model explores, and under Miri, where a
/// weak CAS fails spuriously 80% of the time by default and each spin hint
/// is a thread switch (cap 128 made `tests/mpmc.rs` run past its watchdog
/// there), it stays at 16, what both were written against.
#[cfg(not(any(loom, miri)))]
const BACKOFF_CAP_LOG2: u32 = 7;
#[cfg(any(loom, miri))]
const BACKOFF_CAP_LOG2: u32 = 4;

/// Exponential backoff after losing a CAS race: 1, 2, 4, … spin hints,
/// capped at 128. The winner has already completed its claim, so this is
/// contention management, not waiting for a peer.
///
/// The cap is what matters when the two cores are far apart (a cache
/// line's round trip ~390 ns on the 2-vCPU EPYC VM, against ~55 ns when
/// they are close): each lost race moved the line to the other core, and
/// retrying soon moves it back. Measured with `targets` (single-round runs
/// alternated between builds, classified by the placement probe), far
/// apart, MPMC 2P2C `Park` vs kanal: cap 16 → median 0.66×, 0.64×, 0.68×
/// (three series of 6–15 runs); cap 128 → 1.25×, 1.15×, 1.07×; cap 64
/// 0.88×; cap 512 1.26× / 1.19× but 4P4C lower with the cores close.
/// Close together, cap 128 measured within noise of cap 16 on every MPMC
/// row. A second series (6-round runs alternated, read per placement class):
/// far apart, 2P2C `Park` vs kanal per run, cap 128 1.11–1.43×, cap 512
/// 1.04–1.36×; 4P4C 1.15–1.39× and 1.08–1.35×; close together all caps
/// from 64 to 512 within each other's spread. No cap clearly better than
/// 128.
///
/// With `may_yield` (see [`Claimant`]), a claim that has lost
/// `YIELD_AFTER_LOST` races in a row (the backoff has been at its cap
/// twice, some 400 spin hints) yields the thread before each further try
/// instead of spinning. Losing that often means other claimants are
/// running and succeeding; when there are more threads than cores, the
/// spinning took the CPU from a thread on the other side of the ring. In
/// the kanal suite's scenarios (`cargo bench --bench suite`, capacity
/// 10^6, 4 senders and 1 or 4 receivers, unpinned, 2 vCPUs) `perf` put two
/// thirds of the samples in the senders' `try_send`, 45% of those on the
/// lost CAS and 28% in this backoff's spin loop, with the receiver
/// starved; see `docs/measurements.md` ("Capacity 1, 2026-12-01" and
/// after) for the effect.
#[inline(always)]
pub(super) fn contention_backoff(step: &mut u32, may_yield: bool) {
    if may_yield && *step >= YIELD_AFTER_LOST {
        yield_now();
    } else {
        for _ in 0..(1u32 << (*step).min(BACKOFF_CAP_LOG2)) {
            spin_hint();
        }
    }
    *step += 1;
}

/// Lost CAS races in a row after which a [`Claimant::Waiting`] claim on a
/// channel that may yield yields instead of spinning.
const YIELD_AFTER_LOST: u32 = BACKOFF_CAP_LOG2 + 2;

/// Who claims, which decides what a claim that keeps losing CAS races does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Claimant {
    /// A `try_*` call (and the batch forms): spins between retries, never
    /// enters the kernel (DESIGN.md's guarantee for `BusySpin` /
    /// `SpinYield` channels, kept here for every strategy).
    Try,
    /// A call that may wait (the blocking and async forms, `force_send`):
    /// on `SpinYield` and `Park` channels, which yield when they wait, it
    /// also yields after `YIELD_AFTER_LOST` lost races; on `BusySpin`
    /// channels it spins like [`Claimant::Try`].
    Waiting,
}

impl Claimant {
    #[inline(always)]
    fn may_yield(self, strategy: WaitStrategy) -> bool {
        self == Claimant::Waiting && strategy != WaitStrategy::BusySpin
    }
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
            let (slot, _) = self.held(this);
            debug_assert_eq!(self.stamp(this, Ordering::Relaxed), this.wrapping_add(1));
            // SAFETY: the slot serving `this` in `head..tail` is full and no
            // handle remains to reach it; `drop_each` visits each once.
            unsafe { slot.value.with_mut(|p| (*p).assume_init_drop()) };
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Claimant, Shared, NO_HINT};
    use crate::{Builder, WaitStrategy};

    /// `next` (the hot path's step of one) walks every index of a lap in
    /// order and then index 0 of the next lap, as the index and lap of each
    /// position and `forward(pos, 1)` (any distance) say, across the wrap of
    /// the position counter too.
    #[test]
    fn next_steps_through_the_lap_encoding() {
        for capacity in [1, 2, 3, 5, 8, 1023, 1024, 1025] {
            for start in [0, usize::MAX / 2 + 7, usize::MAX - 3 * 2048] {
                let shared = Shared::<u8>::new(&Builder::new(capacity).__start_position(start));
                let (one_lap, mut pos) = (shared.one_lap, shared.origin);
                for step in 0..3 * capacity + 2 {
                    assert_eq!(pos & (one_lap - 1), step % capacity, "capacity {capacity}, step {step}");
                    assert_eq!(pos & !(one_lap - 1), shared.origin.wrapping_add((step / capacity) * one_lap));
                    let next = shared.next(pos);
                    assert_eq!(next, shared.forward(pos, 1), "capacity {capacity}, step {step}");
                    pos = next;
                }
            }
        }
    }

    /// The refill gap is six cache lines of slots, at least one slot, and
    /// none on a ring of fewer than four gaps' worth of slots.
    #[test]
    fn the_refill_gap_is_six_lines_of_slots_on_rings_big_enough() {
        // A `u64` slot is 16 bytes (stamp and value): 24 slots in 384 bytes.
        assert_eq!(super::refill_gap::<u64>(1024), 24);
        assert_eq!(super::refill_gap::<u64>(96), 24);
        assert_eq!(super::refill_gap::<u64>(95), 0, "fewer than four gaps");
        assert_eq!(super::refill_gap::<()>(1024), 48, "a stamp alone is 8 bytes");
        assert_eq!(super::refill_gap::<[u8; 512]>(4), 1, "a slot larger than the gap: one slot");
        assert_eq!(super::refill_gap::<[u8; 512]>(3), 0);
        let shared = Shared::<u64>::new(&Builder::new(1024));
        assert_eq!(shared.refill_gap(), 24, "what the ring keeps");
    }

    /// The take-ahead is four cache lines of slots, at least one slot; none
    /// on a ring of fewer than four take-aheads' worth of slots, nor on a
    /// CPU without a write prefetch. The refill gap reaches two lines past
    /// it.
    #[test]
    fn the_take_ahead_is_four_lines_of_slots_on_rings_big_enough() {
        // A `u64` slot is 16 bytes: 16 slots in 256 bytes.
        assert_eq!(super::take_ahead::<u64>(1024, true), 16);
        assert_eq!(super::take_ahead::<u64>(64, true), 16);
        assert_eq!(super::take_ahead::<u64>(63, true), 0, "fewer than four take-aheads");
        assert_eq!(super::take_ahead::<u64>(1024, false), 0, "no write prefetch");
        assert_eq!(super::take_ahead::<()>(1024, true), 32, "a stamp alone is 8 bytes");
        assert_eq!(super::take_ahead::<[u8; 512]>(4, true), 1, "a slot larger than the take-ahead: one slot");
        assert_eq!(super::take_ahead::<[u8; 512]>(3, true), 0);
        assert_eq!(super::refill_gap::<u64>(1024), 16 + 8);
        assert_eq!(super::refill_gap::<()>(1024), 32 + 16);
        let flat = Shared::<u64>::new(&Builder::new(1024));
        if matches!(flat.slots, super::Storage::Flat(_)) {
            let expected = if crate::sync::has_prefetch_write() { 16 } else { 0 };
            assert_eq!(flat.take_ahead, expected, "what a flat ring keeps");
        }
        let paged = Shared::<u64>::new(&Builder::new(super::FLAT_MAX_BYTES));
        assert!(matches!(paged.slots, super::Storage::Paged(_)));
        assert_eq!(paged.take_ahead, 0, "a paged ring has none");
    }

    /// A receiver taking `pos` asks for the line `take_ahead` positions on
    /// only once the item there is published, across the end of a lap too,
    /// and the items still come out in order.
    #[test]
    fn a_receiver_owns_the_line_ahead_only_once_its_item_is_published() {
        let mut shared = Shared::<u64>::new(&Builder::new(64));
        // What a CPU with a write prefetch gets (Miri's has none).
        shared.take_ahead = 16;
        let send = |shared: &Shared<u64>, v: u64| {
            let pos = shared.claim_send(NO_HINT, Claimant::Try).expect("room");
            // SAFETY: `pos` was just claimed.
            unsafe { shared.publish(pos, v) };
        };
        let recv = |shared: &Shared<u64>| {
            let pos = shared.claim_recv(NO_HINT, Claimant::Try).expect("an item");
            // SAFETY: `pos` was just claimed.
            (pos, unsafe { shared.take(pos) })
        };
        let first = shared.head.load(super::Ordering::Relaxed);
        for v in 0..16 {
            send(&shared, v);
        }
        assert_eq!(shared.line_to_own(first), None, "the item 16 on is not sent yet");
        send(&shared, 16);
        assert_eq!(shared.line_to_own(first), Some(shared.forward(first, 16)));
        // Fill the ring, take 50 items: the position 16 on from the 51st is
        // index 2 of the next lap, whose slot is free but not refilled.
        for v in 17..64 {
            send(&shared, v);
        }
        for v in 0..50 {
            assert_eq!(recv(&shared), (shared.forward(first, v as usize), v));
        }
        let pos = shared.head.load(super::Ordering::Relaxed);
        let ahead = shared.forward(pos, 16);
        assert_eq!(ahead & shared.lap_mask, 2, "across the end of the lap");
        assert_eq!(shared.line_to_own(pos), None, "the next lap's item is not sent yet");
        for v in 64..67 {
            send(&shared, v);
        }
        assert_eq!(shared.line_to_own(pos), Some(ahead));
        for v in 50..67 {
            assert_eq!(recv(&shared).1, v);
        }
        // Without a take-ahead, never.
        shared.take_ahead = 0;
        assert_eq!(shared.line_to_own(shared.head.load(super::Ordering::Relaxed)), None);
    }

    /// DESIGN.md: a `try_*` call never enters the kernel, so a `Try` claim
    /// never yields, whatever the strategy; a call that may wait yields
    /// under contention only on strategies that yield when they wait.
    #[test]
    fn only_waiting_claims_off_busy_spin_may_yield() {
        for strategy in [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park] {
            assert!(!Claimant::Try.may_yield(strategy), "{strategy:?}");
            assert_eq!(Claimant::Waiting.may_yield(strategy), strategy != WaitStrategy::BusySpin, "{strategy:?}");
        }
    }
}
