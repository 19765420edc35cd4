//! The SPSC ring's two slot layouts: [`Packed`] (the default) and
//! [`Stamped`]. See the [module docs](crate::spsc#layouts) for when each
//! pays.

use crate::buffer::{Buffer, Cell, StampedSlot};
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

/// A stamp word beside each value: a slot is the value and a `usize`,
/// padded to the larger of their alignments (16 bytes for a `u64` or a
/// `u8`, 40 for a `[u64; 4]`, 8 for a zero-sized item). The producer
/// stamps each slot it fills with the item's position, and a consumer
/// whose cached copy of `tail` says empty reads the stamp of the slot it
/// needs instead of `tail`: when the ring is near empty (every item crosses
/// alone) an item then moves one cache line between the cores, not two.
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
    type Slot<T> = StampedSlot<T>;
}

/// What the ring needs of a slot type (crate-internal; `pub` only because
/// [`Layout`] names it). `base` is the stamp encoding's origin for the slot
/// (the ring's start position plus the slot's index, so that all-zero
/// memory is the "nothing published" state of every lap: see
/// [`StampedSlot`]).
#[doc(hidden)]
pub trait Slot<T>: Sized {
    /// Whether slots carry a stamp (`false`: [`publish`](Slot::publish) does
    /// nothing and [`published`](Slot::published) is never asked).
    const STAMPED: bool;
    /// `len` empty slots.
    fn alloc(len: usize) -> Buffer<Self>;
    /// The value's cell.
    fn cell(&self) -> &Cell<T>;
    /// Marks the slot as holding the item at position `pos` (after its value
    /// was written; `Release`, so a consumer that sees the stamp sees the
    /// value).
    fn publish(&self, base: usize, pos: usize);
    /// Whether the slot holds the item at position `pos` (`Acquire`).
    fn published(&self, base: usize, pos: usize) -> bool;
}

impl<T> Slot<T> for Cell<T> {
    const STAMPED: bool = false;

    #[inline(always)]
    fn alloc(len: usize) -> Buffer<Self> {
        Buffer::uninit_cells(len)
    }

    #[inline(always)]
    fn cell(&self) -> &Cell<T> {
        self
    }

    #[inline(always)]
    fn publish(&self, _base: usize, _pos: usize) {}

    #[inline(always)]
    fn published(&self, _base: usize, _pos: usize) -> bool {
        false
    }
}

impl<T> Slot<T> for StampedSlot<T> {
    const STAMPED: bool = true;

    #[inline(always)]
    fn alloc(len: usize) -> Buffer<Self> {
        Buffer::stamped(len)
    }

    #[inline(always)]
    fn cell(&self) -> &Cell<T> {
        &self.value
    }

    /// The stamp of the item at `pos` is `pos + 1`. The positions that land
    /// in a slot are `base + k * len` for laps `k = 0, 1, ...`, so a stamp
    /// left from an earlier lap is `len` (or a multiple) less than the one
    /// a consumer waiting for `pos` looks for, and the all-zero stamp of a
    /// slot never written means `base`, which no position landing there
    /// stamps (it would be `base - 1`). Equal only after 2^64 positions.
    #[inline(always)]
    fn publish(&self, base: usize, pos: usize) {
        self.set_stamp(base, pos.wrapping_add(1), Ordering::Release);
    }

    #[inline(always)]
    fn published(&self, base: usize, pos: usize) -> bool {
        self.stamp(base, Ordering::Acquire) == pos.wrapping_add(1)
    }
}
