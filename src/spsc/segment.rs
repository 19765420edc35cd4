//! Where the SPSC ring keeps its items: one buffer for small capacities, a
//! chain of buffers that grows and shrinks with the queue for large ones.
//!
//! A ring of capacity 10^6 that usually holds a handful of items should not
//! cost 10^6 slots of memory, nor sweep them: with one flat buffer the
//! positions walk through all of it, so every slot is touched once per lap
//! (the first lap page-faults the whole allocation in) although few hold
//! anything. So a large ring stores its items in a *segment*: a buffer
//! smaller than the capacity, used as a ring of its own. The capacity stays
//! exact: it is enforced by the positions (`tail - head <= capacity`), as in
//! the flat ring; a segment only limits how many of those items sit in *it*.
//!
//! - **Growth.** When the producer's segment is full but the ring has room,
//!   it *closes* the segment at its `tail` (`end = tail`, then `next`) and
//!   continues in a new segment twice as large (at most the capacity),
//!   starting at slot 0. Items before `end` stay where they are.
//! - **Shrinking.** When the producer finds the consumer inside its segment
//!   and the queue at most a quarter of it, it moves on to a smaller one the
//!   same way, so that after a burst the working set follows the queue back
//!   down.
//! - **Following.** The consumer never reads past the `end` of its segment:
//!   whenever it loads `tail` it clamps what it may read to `end` once the
//!   segment is closed, and when it has read everything up to `end` it
//!   moves to `next` and frees the segment it left. Only the consumer ever
//!   touches a closed segment, so no other synchronisation is needed.
//!
//! Memory is then proportional to the largest number of items held (the
//! segments alive are the consumer's, the producer's and those between,
//! each at most twice the items it was opened for), allocation happens only
//! when the queue grows past what its segment holds or shrinks well below
//! it, and a queue that stays short stays in one small segment: a flat ring
//! (with a consumer that keeps up, capacity 10^6 ran at 0.99–1.00× of
//! capacity 1 024 in `cargo bench --bench suite`, section 2; a queue that
//! stays near full was not measured at that capacity). This is the
//! growable-buffer design of the capacity issue; tokio's mpsc list and
//! crossbeam's list flavour chain fixed blocks instead, and a segment that
//! doubles keeps each batch of slots contiguous for the chunk API.
//!
//! The hand-over of a segment uses the same `Release` / `Acquire` pair as
//! the items: the producer stores `end` and `next` before publishing any
//! item of the new segment (its `tail` store), so a consumer that has seen
//! such an item has seen the segment closed.

use core::ptr::NonNull;

use super::layout::{Layout, Slot};
use crate::buffer::{Buffer, LINE};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

/// A buffer of slots and the link to the next one.
pub(super) struct Segment<T, L: Layout> {
    pub(super) buffer: Buffer<L::Slot<T>>,
    /// Slots in `buffer` (its elements times `Slot::PER`, or fewer: the
    /// length asked of `alloc`).
    pub(super) slots: usize,
    /// The position one past the last item stored here. Written once, by
    /// the producer, before `next` (which publishes it); meaningless while
    /// `next` is null.
    end: AtomicUsize,
    /// The segment that follows, or null while the producer still writes
    /// here. Stored once (`Release`) by the producer when it moves on.
    next: AtomicPtr<Segment<T, L>>,
}

impl<T, L: Layout> Segment<T, L> {
    /// A new open segment of `len` slots, owned by the caller until it is
    /// handed to [`Segment::free`] (or linked into the chain).
    pub(super) fn alloc(len: usize) -> NonNull<Segment<T, L>> {
        let segment = Box::new(Segment {
            buffer: <L::Slot<T> as Slot<T>>::alloc(len),
            slots: len,
            end: AtomicUsize::new(0),
            next: AtomicPtr::new(core::ptr::null_mut()),
        });
        NonNull::from(Box::leak(segment))
    }

    /// Frees a segment made by [`Segment::alloc`] (its items are the
    /// caller's business: it must have dropped or moved them out).
    ///
    /// # Safety
    ///
    /// `segment` came from `alloc`, is freed once, and nobody uses it after.
    pub(super) unsafe fn free(segment: NonNull<Segment<T, L>>) {
        // SAFETY: the caller's contract; `alloc` leaked a `Box`.
        drop(unsafe { Box::from_raw(segment.as_ptr()) });
    }

    /// Producer: closes `this` segment at position `end` and links `next`.
    ///
    /// Takes a pointer, not `&self`: once `next` is stored the consumer may
    /// follow it and free `this` before this function returns, so no
    /// reference to the whole segment may be live across that store (a
    /// `&Segment` argument would be, and would cover the non-atomic
    /// `buffer` field). Only references to the two atomic fields are made,
    /// each for the duration of its own store.
    ///
    /// # Safety
    ///
    /// `this` is the producer's open segment, alive until `next` is stored,
    /// and the caller does not use it after this call.
    pub(super) unsafe fn close(this: NonNull<Segment<T, L>>, end: usize, next: NonNull<Segment<T, L>>) {
        let this = this.as_ptr();
        // SAFETY: the segment is alive and open (caller's contract); only
        // the producer writes `end`, and no consumer reads it before `next`.
        unsafe { &(*this).end }.store(end, Ordering::Relaxed);
        // SAFETY: as above; after this store the segment may be freed, and
        // nothing below touches it.
        // Release: a consumer that loads `next` (Acquire) sees `end`.
        unsafe { &(*this).next }.store(next.as_ptr(), Ordering::Release);
    }

    /// Consumer: `Some((end, next))` once the producer has moved on.
    pub(super) fn closed(&self) -> Option<(usize, NonNull<Segment<T, L>>)> {
        let next = NonNull::new(self.next.load(Ordering::Acquire))?;
        Some((self.end.load(Ordering::Relaxed), next))
    }
}

/// How a ring stores its items: the segment length it starts with, and
/// whether it may chain segments at all.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizing {
    /// Length of the first and the smallest segment.
    pub(super) base: usize,
    /// `false`: one buffer (the flat ring), of `capacity` slots plus
    /// [`slack_slots`] for items of non-zero size.
    pub(super) segmented: bool,
}

/// Bytes between the slot a producer writes into a full flat ring and the
/// slot its consumer reads next (see [`slack_slots`]): two cache lines, as
/// adjacent-line prefetchers fetch lines in pairs.
const SLACK_BYTES: usize = 128;

/// Slots a flat ring of `capacity` items of `size` bytes has beyond its
/// capacity.
///
/// With exactly `capacity` slots, the slot a producer fills when the ring is
/// full is the one its consumer has just emptied. For items smaller than a
/// line that is the line the consumer reads next: near full every item
/// moved that line between the two cores twice. With `slack` more slots the
/// producer writes `slack` slots behind the consumer instead (positions
/// still count exactly `capacity` items), at least [`SLACK_BYTES`] away
/// from whatever the consumer reads next.
///
/// Only items of up to a line get a slack (at most 128 bytes plus two
/// slots, and at most 7 slots more for the rounding below; up to 192
/// bytes for `u64`s, 336 for 24-byte items): an item of a line or more shares at
/// most its edge lines with its neighbours, and a slack of two such items
/// could cost more memory than the ring's items themselves.
///
/// For items whose size is a multiple of 8 bytes the slack is rounded up so
/// that the buffer is a whole number of lines: a slot then sits at the same
/// offset in its line on every lap, so a batch touches the same number of
/// lines on every lap as on the first (the buffer itself is not
/// line-aligned). Other sizes would need up to 63 more slots for it.
fn slack_slots(capacity: usize, size: usize) -> usize {
    if size == 0 || size > LINE {
        return 0;
    }
    let least = SLACK_BYTES.div_ceil(size) + 1;
    if size % 8 != 0 {
        return least;
    }
    // Slots per whole number of lines: `per * size` is a multiple of
    // `LINE`, `per` being `LINE` over the largest power of two dividing
    // `size` (8 to 64 here, as `size` is a multiple of 8 and at most
    // `LINE`; so `per` is 1 to 8).
    let per = LINE >> size.trailing_zeros();
    let total = capacity + least;
    least + (per - total % per) % per
}

/// Below this many bytes of items a ring is one flat buffer.
const FLAT_MAX_BYTES: usize = 256 * 1024;
/// Bytes of the first (and smallest) segment of a larger ring.
const BASE_BYTES: usize = 64 * 1024;

impl Sizing {
    /// The default policy for a ring of `capacity` items of `T`, or the
    /// segment length a test asked for (`Builder::__segment_slots`; at or
    /// above `capacity`, the length of a flat ring).
    pub(super) fn new<T>(capacity: usize, test_base: Option<usize>) -> Sizing {
        if let Some(base) = test_base {
            // At or above the capacity: a flat ring of exactly `base` slots
            // (a slack of `base - capacity`).
            let base = base.max(1);
            return Sizing { base, segmented: base < capacity };
        }
        let size = core::mem::size_of::<T>();
        if size == 0 || capacity.saturating_mul(size) <= FLAT_MAX_BYTES {
            return Sizing { base: capacity + slack_slots(capacity, size), segmented: false };
        }
        Sizing { base: (BASE_BYTES / size).max(1), segmented: true }
    }

    /// A flat ring of `capacity` slots of `slot_bytes` bytes each and their
    /// slack, rounded up to a multiple of `per`, or of the length a test
    /// asked for if it is at least the capacity (the stamped layout, which
    /// never chains segments).
    pub(super) fn flat(capacity: usize, slot_bytes: usize, per: usize, test_base: Option<usize>) -> Sizing {
        let base = match test_base {
            Some(base) if base >= capacity => base,
            // Rounded up to whole elements of `per` slots (a stamped
            // ring's groups), so that every lap uses each group whole.
            _ => (capacity + slack_slots(capacity, slot_bytes)).next_multiple_of(per),
        };
        Sizing { base, segmented: false }
    }

    /// The length of the segment that follows a full one of `len` slots,
    /// when the ring has room for `ring_free` more items: twice `len`, but
    /// no more than that room (nor less than the base length), so that a
    /// ring filled to capacity holds about `capacity` slots, not up to
    /// twice that (a review measured 2 032 slots for a full ring of 1 024
    /// 4 KiB items: its last segment, 1 024 slots, held 16).
    pub(super) fn grown(&self, len: usize, ring_free: usize) -> usize {
        len.saturating_mul(2).min(ring_free.max(self.base))
    }

    /// If a segment of `len` slots holding `queued` items (the whole queue)
    /// should give way to a smaller one: its length.
    pub(super) fn shrunk(&self, len: usize, queued: usize) -> Option<usize> {
        if len <= self.base || queued > len / 4 {
            return None;
        }
        let target = queued.saturating_mul(4).max(self.base);
        (target <= len / 2).then_some(target)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_slack_keeps_a_full_producer_two_lines_away_and_the_buffer_whole_lines() {
        for size in [1, 2, 3, 4, 8, 12, 16, 24, 40, 56, 63, 64] {
            for capacity in [1, 2, 5, 7, 16, 100, 1000, 1024] {
                let slack = slack_slots(capacity, size);
                // The producer writes `slack` slots behind the consumer's
                // next slot: `slack - 1` whole slots lie between the two.
                assert!((slack - 1) * size >= SLACK_BYTES, "size {size}, capacity {capacity}: slack {slack}");
                let least = SLACK_BYTES.div_ceil(size) + 1;
                if size % 8 == 0 {
                    assert_eq!((capacity + slack) * size % LINE, 0, "size {size}, capacity {capacity}: slack {slack}");
                    assert!(slack < least + 8, "size {size}, capacity {capacity}: slack {slack}");
                } else {
                    assert_eq!(slack, least, "size {size}, capacity {capacity}");
                }
                // At most 128 bytes and two slots, and 7 slots more.
                assert!(slack * size < SLACK_BYTES + 9 * size, "size {size}: slack {slack}");
            }
        }
        // A line or more: no slack (it would cost whole items).
        for size in [65, 72, 100, 128, 4096, 256 * 1024] {
            assert_eq!(slack_slots(1, size), 0, "size {size}");
        }
        assert_eq!(slack_slots(1024, 0), 0);
        // A ring of 1 024 `u64`s: 17 slots at least, 24 to end on a line.
        assert_eq!(slack_slots(1024, 8), 24);
        let flat = Sizing::new::<u64>(1024, None);
        assert_eq!((flat.base, flat.segmented), (1048, false));
        // A test's length at or above the capacity: a flat ring of exactly it.
        let exact = Sizing::new::<u64>(1024, Some(1024));
        assert_eq!((exact.base, exact.segmented), (1024, false));
        let one_more = Sizing::new::<u64>(1024, Some(1025));
        assert_eq!((one_more.base, one_more.segmented), (1025, false));
        let pieces = Sizing::new::<u64>(1024, Some(4));
        assert_eq!((pieces.base, pieces.segmented), (4, true));
        let zst = Sizing::new::<()>(1024, None);
        assert_eq!((zst.base, zst.segmented), (1024, false));
    }
}
