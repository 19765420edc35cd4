//! The SPSC ring's two slot layouts: [`Packed`] (the default) and
//! [`Stamped`]. See the [module docs](crate::spsc#layouts) for when each
//! pays.

use core::ptr::NonNull;

use crate::buffer::{group_slots, Buffer, Cell, StampedGroup, LINE};
use crate::sync::Ordering;

mod sealed {
    pub trait Sealed {}
}

/// How an SPSC ring lays out its slots: the type parameter `L` of
/// [`Producer`](super::Producer) and [`Consumer`](super::Consumer), either
/// [`Packed`] (the default) or [`Stamped`]. Sealed: the crate's two layouts
/// are the only ones.
pub trait Layout: sealed::Sealed + Sized + 'static {
    /// The slot type (crate-internal).
    #[doc(hidden)]
    type Slot<T>: Slot<T>;
}

/// The default layout: the values alone, contiguous (`size_of::<T>()` bytes
/// a slot). The consumer learns what it may read from the producer's
/// shared position (`tail`), which it loads when its cached copy says
/// empty. Fastest when items stream or the consumer batches, and the only
/// layout whose chunks hand out their slots as slices
/// ([`as_mut_slices`](super::WriteChunkUninit::as_mut_slices),
/// [`as_slices`](super::ReadChunk::as_slices)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packed {}

/// The slots in groups of one cache line: a stamp word and as many values
/// as fit in the line's other 56 bytes (seven `u64` or `f64`, fourteen
/// `u32`, three `[u64; 2]`, two 24-byte items, one item of 29 to 56
/// bytes; an item larger than that is alone beside its stamp, and a
/// zero-sized one 56 to a group). The memory a slot takes: 64 bytes over
/// the slots of a line (9.1 bytes a `u64`, 21.3 a `[u64; 2]`, 64 a
/// `[u64; 4]`), or the item and a word for larger ones (72 bytes a
/// `[u64; 8]`; a `u128`, aligned to 16, four in an 80-byte group whose
/// values start at byte 16). The producer stores a group's stamp with one past the
/// position it has just written there, and a consumer whose cached copy of
/// `tail` says empty reads the stamp of the group it needs instead of
/// `tail` and takes every item below it: when the ring is near empty
/// (every item crosses alone) an item of up to 56 bytes then moves one
/// cache line between the cores, not two.
/// Built with [`Builder::spsc_stamped`](crate::Builder::spsc_stamped); see
/// the [module docs](crate::spsc#layouts) for what it costs and where it
/// was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stamped {}

impl sealed::Sealed for Packed {}
impl sealed::Sealed for Stamped {}

impl Layout for Packed {
    type Slot<T> = Cell<T>;
}

impl Layout for Stamped {
    type Slot<T> = StampedGroup<T>;
}

/// What the ring needs of its buffer's element type (crate-internal; `pub`
/// only because [`Layout`] names it). An element holds [`PER`](Slot::PER)
/// slots: slot `idx` of a buffer is slot `idx % PER` of element
/// `idx / PER` ([`cell_at`], [`element_of`]).
#[doc(hidden)]
pub trait Slot<T>: Sized {
    /// Whether elements carry a stamp (`false`: [`publish`](Slot::publish)
    /// does nothing and [`published_end`](Slot::published_end) is never
    /// asked).
    const STAMPED: bool;
    /// Slots per element.
    const PER: usize;
    /// Bytes of buffer a slot takes (an element's size over `PER`, rounded
    /// up): the unit of the slack and refill-gap arithmetic.
    const SLOT_BYTES: usize;
    /// The read and write hints' geometry: slots per cache line and slots
    /// in `READ_AHEAD_BYTES` (`mod.rs`), or `None` for no hints.
    const HINT: Option<(usize, usize)>;
    /// A buffer of at least `slots` slots, all empty.
    fn alloc(slots: usize) -> Buffer<Self>;
    /// The value's cell of slot `k` of this element (`k < PER`).
    fn cell(&self, k: usize) -> &Cell<T>;
    /// Marks every position up to and including `pos`, whose slot is in
    /// this element, as published (after its value was written; `Release`,
    /// so a consumer that sees the stamp sees the value). `origin` is the
    /// ring's first position (the stamp encoding's zero).
    fn publish(&self, origin: usize, pos: usize);
    /// One past the last position published in this element (`Acquire`):
    /// every position below it is published.
    fn published_end(&self, origin: usize) -> usize;
}

/// The element of a buffer at `base` that holds slot `idx`.
///
/// # Safety
///
/// `idx` is below the buffer's slots, and the buffer outlives `'a`.
#[inline(always)]
pub(crate) unsafe fn element_of<'a, T, S: Slot<T> + 'a>(base: NonNull<S>, idx: usize) -> &'a S {
    // SAFETY: the caller's contract: element `idx / PER` is in the buffer.
    unsafe { &*base.as_ptr().add(idx / S::PER) }
}

/// The cell of slot `idx` of a buffer at `base`.
///
/// # Safety
///
/// As [`element_of`].
#[inline(always)]
pub(crate) unsafe fn cell_at<'a, T: 'a, S: Slot<T> + 'a>(base: NonNull<S>, idx: usize) -> &'a Cell<T> {
    // SAFETY: the caller's contract.
    unsafe { element_of::<T, S>(base, idx) }.cell(idx % S::PER)
}

/// A hint's target for slot `idx`: the start of its element (a line of its
/// own for a stamped group whose hints are on, `HINT`).
#[inline(always)]
pub(crate) fn hint_ptr<T, S: Slot<T>>(base: NonNull<S>, idx: usize) -> *const S {
    base.as_ptr().wrapping_add(idx / S::PER)
}

impl<T> Slot<T> for Cell<T> {
    const STAMPED: bool = false;
    const PER: usize = 1;
    const SLOT_BYTES: usize = core::mem::size_of::<T>();
    const HINT: Option<(usize, usize)> = super::hint_geometry(core::mem::size_of::<T>());

    #[inline(always)]
    fn alloc(slots: usize) -> Buffer<Self> {
        Buffer::uninit_cells(slots)
    }

    #[inline(always)]
    fn cell(&self, _k: usize) -> &Cell<T> {
        self
    }

    #[inline(always)]
    fn publish(&self, _origin: usize, _pos: usize) {}

    #[inline(always)]
    fn published_end(&self, _origin: usize) -> usize {
        0
    }
}

impl<T> Slot<T> for StampedGroup<T> {
    const STAMPED: bool = true;
    const PER: usize = group_slots::<T>();
    const SLOT_BYTES: usize = core::mem::size_of::<Self>().div_ceil(Self::PER);
    /// A group that is one line is hinted a group at a time; larger ones
    /// not at all.
    const HINT: Option<(usize, usize)> = if core::mem::size_of::<Self>() == LINE {
        Some((Self::PER, super::READ_AHEAD_BYTES / LINE * Self::PER))
    } else {
        None
    };

    #[inline(always)]
    fn alloc(slots: usize) -> Buffer<Self> {
        Buffer::stamped_groups(slots.div_ceil(Self::PER))
    }

    #[inline(always)]
    fn cell(&self, k: usize) -> &Cell<T> {
        StampedGroup::cell(self, k)
    }

    /// The stamp is `pos + 1`. A stamp left from an earlier lap is below
    /// every position the group holds now, and the all-zero stamp of a
    /// group never written means the origin, below every position: a
    /// consumer waiting for `pos` takes it once the stamp is past `pos`
    /// (compared as a signed distance, so positions may wrap).
    #[inline(always)]
    fn publish(&self, origin: usize, pos: usize) {
        self.set_stamp(origin, pos.wrapping_add(1), Ordering::Release);
    }

    #[inline(always)]
    fn published_end(&self, origin: usize) -> usize {
        self.stamp(origin, Ordering::Acquire)
    }
}
