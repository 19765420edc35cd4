//! The one slot allocation both rings use, and panic-safe bulk dropping.

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::builder::{assert_capacity, assert_layout};
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// A cell holding a value or nothing; which one is tracked by the ring that
/// owns it.
pub(crate) type Cell<T> = UnsafeCell<MaybeUninit<T>>;

/// A fixed array of `len` slots of type `S`, in one allocation. Frees the
/// memory on drop without dropping any *item*: slots are cells the owning
/// ring reads and writes, and the ring drops the items it knows are there.
///
/// Stored as a raw pointer rather than a `Box<[S]>` so that no `Box`
/// uniqueness is asserted while both handles access slots concurrently
/// through shared references (Miri's aliasing models treat `Box` like
/// `&mut`).
pub struct Buffer<S> {
    /// Start of `len` slots in memory from the global allocator with the
    /// layout of `[S; len]` (a `Box<[S]>` leaked with `Box::leak`, or
    /// `zeroed`'s allocation), or, if `line_aligned`, that layout aligned to
    /// a cache line (`zeroed_line_aligned`); freed with it only in `Drop`.
    ptr: NonNull<S>,
    len: usize,
    /// Whether `ptr` came from `zeroed_line_aligned` (its layout is then
    /// line-aligned: `Buffer::layout`).
    line_aligned: bool,
}

impl<S> core::fmt::Debug for Buffer<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Buffer").field("len", &self.len).finish_non_exhaustive()
    }
}

impl<S> Buffer<S> {
    /// Allocates `len` slots, initialising slot `i` with `init(i)`. Only
    /// under loom, whose atomics and cells are tracked objects that must be
    /// constructed; otherwise the rings use [`Buffer::zeroed`] or
    /// [`Buffer::uninit_cells`].
    ///
    /// # Panics
    ///
    /// If `len` is 0 or `len` slots would overflow the maximum allocation.
    #[cfg(loom)]
    pub(crate) fn from_fn(len: usize, init: impl FnMut(usize) -> S) -> Self {
        assert_capacity(len);
        assert_layout::<S>(len);
        let boxed: Box<[S]> = (0..len).map(init).collect();
        Self::from_box(boxed)
    }

    /// Allocates `len` slots of all-zero bytes, without writing them. The
    /// allocator hands a large zeroed block out as fresh pages the kernel
    /// backs on first touch, so this costs the same for any `len`, and the
    /// ring's memory grows with the slots it actually uses.
    ///
    /// # Safety
    ///
    /// The all-zero bit pattern is a valid `S`.
    ///
    /// # Panics
    ///
    /// If `len` is 0 or `len` slots would overflow the maximum allocation.
    #[cfg(not(loom))]
    pub(crate) unsafe fn zeroed(len: usize) -> Self {
        // SAFETY: the caller's contract.
        unsafe { Self::zeroed_in(len, false) }
    }

    /// As [`Buffer::zeroed`], the slots starting at a multiple of
    /// [`LINE`] bytes (so that slots of a line's size are each one
    /// line).
    ///
    /// # Safety
    ///
    /// As [`Buffer::zeroed`].
    ///
    /// # Panics
    ///
    /// As [`Buffer::zeroed`].
    #[cfg(not(loom))]
    pub(crate) unsafe fn zeroed_line_aligned(len: usize) -> Self {
        // SAFETY: the caller's contract.
        unsafe { Self::zeroed_in(len, true) }
    }

    /// The layout of the memory behind `len` slots.
    fn layout(len: usize, line_aligned: bool) -> std::alloc::Layout {
        let layout = std::alloc::Layout::array::<S>(len).expect("checked by assert_layout");
        if line_aligned {
            layout.align_to(LINE).expect("a cache line is a power of two under isize::MAX")
        } else {
            layout
        }
    }

    /// [`Buffer::zeroed`], line-aligned or not.
    ///
    /// # Safety
    ///
    /// As [`Buffer::zeroed`].
    #[cfg(not(loom))]
    unsafe fn zeroed_in(len: usize, line_aligned: bool) -> Self {
        assert_capacity(len);
        assert_layout::<S>(len);
        let layout = Self::layout(len, line_aligned);
        let ptr = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            // SAFETY: the layout has a non-zero size.
            let raw = unsafe { std::alloc::alloc_zeroed(layout) };
            NonNull::new(raw.cast::<S>()).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
        };
        // `Drop` frees it with `layout`, the one it was allocated with (or
        // leaves the dangling pointer for zero bytes); it holds `len` valid
        // values (the caller's guarantee).
        Buffer { ptr, len, line_aligned }
    }

    fn from_box(boxed: Box<[S]>) -> Self {
        let len = boxed.len();
        let ptr = NonNull::from(Box::leak(boxed)).cast::<S>();
        Buffer { ptr, len, line_aligned: false }
    }

    /// The slot at `idx`.
    ///
    /// # Safety
    ///
    /// `idx < len`.
    #[inline(always)]
    pub(crate) unsafe fn get(&self, idx: usize) -> &S {
        debug_assert!(idx < self.len);
        // SAFETY: the caller guarantees `idx < len`, and the allocation lives
        // as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(idx) }
    }

    /// The number of slots.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The pointer to slot 0, for handles that cache it.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> NonNull<S> {
        self.ptr
    }
}

/// A slot of the stamped rings (MPMC and broadcast): a stamp and a cell.
/// What a stamp value means is the ring's business; here it is stored
/// relative to the slot's *base*, its stamp before anything happened (the
/// ring passes it to every access), so that all-zero memory is the initial
/// state and a ring of any capacity is built without touching its slots
/// ([`Buffer::stamped`]).
pub struct StampedSlot<T> {
    /// The stamp minus the slot's base.
    raw_stamp: AtomicUsize,
    pub(crate) value: Cell<T>,
}

impl<T> core::fmt::Debug for StampedSlot<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StampedSlot").finish_non_exhaustive()
    }
}

impl<T> StampedSlot<T> {
    /// A slot whose stamp, relative to its base, is `raw`, with an empty
    /// cell (all-zero bytes are `with_raw_stamp(0)`, which is how the flat
    /// buffers start outside loom).
    pub(crate) fn with_raw_stamp(raw: usize) -> Self {
        StampedSlot { raw_stamp: AtomicUsize::new(raw), value: UnsafeCell::new(MaybeUninit::uninit()) }
    }

    /// The stamp of a slot whose base is `base`.
    #[inline(always)]
    pub(crate) fn stamp(&self, base: usize, order: Ordering) -> usize {
        self.raw_stamp.load(order).wrapping_add(base)
    }

    /// Stores the stamp of a slot whose base is `base`.
    #[inline(always)]
    pub(crate) fn set_stamp(&self, base: usize, stamp: usize, order: Ordering) {
        self.raw_stamp.store(stamp.wrapping_sub(base), order);
    }
}

/// The page size `prefault_ahead` assumes (the smallest common one; on a
/// system with larger pages it touches some pages more than once).
#[cfg(not(loom))]
const PAGE: usize = 4096;

impl<T> Buffer<StampedSlot<T>> {
    /// `len` slots, each at its base stamp, with empty cells: a zeroed
    /// allocation, whose first pages are write-touched (see
    /// [`prefault_ahead`](Buffer::prefault_ahead)); under loom, whose
    /// atomics and cells are tracked objects, constructed slot by slot.
    ///
    /// # Panics
    ///
    /// If `len` is 0 or `len` slots would overflow the maximum allocation.
    pub(crate) fn stamped(len: usize) -> Self {
        #[cfg(not(loom))]
        {
            // SAFETY: all-zero bytes are a valid `StampedSlot<T>`: an
            // `AtomicUsize` of 0 and a `MaybeUninit` cell, for which any
            // bytes are valid.
            let slots: Self = unsafe { Buffer::zeroed(len) };
            for idx in (0..len.min(2 * Self::SLOTS_PER_PAGE)).step_by(Self::SLOTS_PER_PAGE) {
                // SAFETY: `idx < len`.
                write_touch(&unsafe { slots.get(idx) }.raw_stamp);
            }
            slots
        }
        #[cfg(loom)]
        {
            Buffer::from_fn(len, |_| StampedSlot::with_raw_stamp(0))
        }
    }

    /// Slots per page (at least 1): one write-touch every this many slots
    /// covers every page.
    #[cfg(not(loom))]
    const SLOTS_PER_PAGE: usize = {
        let n = PAGE / core::mem::size_of::<StampedSlot<T>>();
        if n == 0 {
            1
        } else {
            n
        }
    };

    /// For the writer of a [`stamped`](Buffer::stamped) buffer, after it
    /// has written slot `idx`. The slots start as untouched zero pages. If
    /// the first access to such a page is a *read* of a stamp (a reader
    /// looking at the slot it waits for), the kernel maps the shared zero
    /// page, and the writer's store a moment later faults again to replace
    /// it (copy on write, which in a multi-threaded process may also flush
    /// the other cores' TLBs). Measured on the 2-vCPU AMD EPYC VM with the
    /// MPMC ring, 10^6 slots of `[u64; 4]`, 10^6 items, one sender and one
    /// receiver thread: about 4 page faults per page and 8 M items/s without
    /// this, 1 fault per page and 38–40 M items/s with it. So the writer
    /// writes to the pages ahead first: each time it writes the first slot
    /// of a page's worth, it touches, with a write that changes nothing
    /// (`write_touch`), the stamp two pages' worth of slots ahead, so that
    /// stamps are read only on pages already backed by a write. It does so
    /// on every lap, not only the first (after which every page is
    /// backed): a build that touched on the first lap only measured the
    /// MPMC 2P2C try + backoff row at 0.73× and 0.82× of this one (two A/B
    /// runs of 6 pairs, `targets`, vCPUs close together), which is not
    /// understood (one locked write per page's worth of slots should not
    /// matter), so the measured behaviour stays. Per write: one test; per
    /// page's worth of slots: one `lock cmpxchg`.
    #[inline(always)]
    pub(crate) fn prefault_ahead(&self, idx: usize) {
        #[cfg(not(loom))]
        {
            let ahead = idx + 2 * Self::SLOTS_PER_PAGE;
            if idx % Self::SLOTS_PER_PAGE == 0 && ahead < self.len {
                // SAFETY: `ahead < len`.
                write_touch(&unsafe { self.get(ahead) }.raw_stamp);
            }
        }
        #[cfg(loom)]
        let _ = idx;
    }
}

/// An access to `stamp` that the CPU performs as a write and that changes
/// nothing: a compare-exchange of 0 with 0 (on x86 `lock cmpxchg` writes the
/// line whether or not it compares equal). Not `fetch_add(0)`: compilers
/// turn an idempotent read-modify-write into a plain load.
#[cfg(not(loom))]
#[inline(always)]
fn write_touch(stamp: &AtomicUsize) {
    let _ = stamp.compare_exchange(0, 0, Ordering::Relaxed, Ordering::Relaxed);
}

/// Bytes of a cache line: the alignment of [`Buffer::zeroed_line_aligned`],
/// the unit a stamped group is sized in, and the SPSC ring's slack and
/// hints' (`spsc/segment.rs`, `hint_geometry` in `spsc/mod.rs`).
pub(crate) const LINE: usize = 64;

/// The bytes of a group's line after its stamp word, where the values go.
const GROUP_VALUE_BYTES: usize = LINE - core::mem::size_of::<usize>();

/// Slots per [`StampedGroup<T>`]: as many `T` as its values take, which
/// for items of up to 28 bytes is the line after the stamp (seven `u64`,
/// three `[u64; 2]`, two 24-byte items), then one (an item of 29 to 56
/// bytes alone in the line, a larger one beside its stamp);
/// [`GROUP_VALUE_BYTES`] for a zero-sized item. Under loom at most
/// [`LOOM_GROUP`], the cells it builds.
pub(crate) const fn group_slots<T>() -> usize {
    let size = core::mem::size_of::<T>();
    let per = match core::mem::size_of::<GroupValues<T>>().checked_div(size) {
        Some(per) => per,
        None => GROUP_VALUE_BYTES, // zero-sized
    };
    #[cfg(loom)]
    let per = if per > LOOM_GROUP { LOOM_GROUP } else { per };
    per
}

/// Under loom a group is an array of tracked cells, at most this many
/// (8-byte items fill seven in a line outside loom too; the models' `u32`
/// items, fourteen to a line outside loom, run in groups of seven there).
#[cfg(loom)]
const LOOM_GROUP: usize = 7;

/// A group's values outside loom: the bytes of a line after the stamp, or
/// one `T` if that is larger. The cells are reached by offset
/// ([`StampedGroup::cell`]), [`group_slots`] of them. (Under loom only its
/// size is used, by [`group_slots`].)
#[cfg_attr(loom, allow(dead_code))]
#[repr(C)]
union GroupValues<T> {
    line: [MaybeUninit<u8>; GROUP_VALUE_BYTES],
    one: core::mem::ManuallyDrop<MaybeUninit<T>>,
}

/// A group of slots of the SPSC ring's stamped layout: one stamp word and
/// [`group_slots`] values. A group of items of up to 56 bytes (aligned to
/// at most 8) is 64 bytes, and the ring's buffer starts on a cache line
/// ([`Buffer::stamped_groups`]), so each such group is one line (seven
/// `u64` and their stamp, three `[u64; 2]`, two 24-byte items, one of 29
/// to 56 bytes); a larger item is alone beside its stamp, the groups then
/// packed as the per-slot stamps of the other rings are.
///
/// The stamp is one past the last position published in the group (the
/// producer stores it with `Release` after writing that value); the
/// producer publishes positions in order, so every position below a stamp
/// is published. It is stored relative to the ring's first position (its
/// *origin*, which every access passes), so that all-zero memory is the
/// initial state: "nothing from the origin on is published".
#[repr(C)]
pub struct StampedGroup<T> {
    /// One past the last position published here, minus the origin.
    raw_stamp: AtomicUsize,
    /// The cells, slot `k` at byte `k * size_of::<T>()` (outside loom).
    /// Invariant: the value of slot `k` is initialised from the stamp store
    /// that covers its position until the consumer releases that position.
    #[cfg(not(loom))]
    values: core::cell::UnsafeCell<MaybeUninit<GroupValues<T>>>,
    #[cfg(loom)]
    values: [Cell<T>; LOOM_GROUP],
}

impl<T> core::fmt::Debug for StampedGroup<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StampedGroup").finish_non_exhaustive()
    }
}

impl<T> StampedGroup<T> {
    /// A group with nothing published and empty cells (all-zero bytes are
    /// this, which is how the buffers start outside loom).
    #[cfg(any(loom, test))]
    pub(crate) fn empty() -> Self {
        StampedGroup {
            raw_stamp: AtomicUsize::new(0),
            #[cfg(not(loom))]
            values: core::cell::UnsafeCell::new(MaybeUninit::uninit()),
            #[cfg(loom)]
            values: core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
        }
    }

    /// The cell of slot `k` (`k < group_slots::<T>()`).
    #[inline(always)]
    pub(crate) fn cell(&self, k: usize) -> &Cell<T> {
        debug_assert!(k < group_slots::<T>());
        #[cfg(not(loom))]
        {
            // The union is at least a line's value bytes and one `T`, and
            // `group_slots` fits its `k` slots in whichever is larger: slot
            // `k` is inside `values`.
            let cell = self.values.get().cast::<Cell<T>>().wrapping_add(k);
            // SAFETY: `cell` is in bounds of `values` and aligned for `T`
            // (the union is, and `k * size_of::<T>()` keeps it so); a `Cell<T>`
            // (`UnsafeCell<MaybeUninit<T>>`, transparent) is valid for any
            // bytes; the bytes are inside an `UnsafeCell`, so a shared
            // reference to them may be written through the cell, and the
            // reference lives as long as `&self`.
            unsafe { &*cell }
        }
        #[cfg(loom)]
        {
            &self.values[k]
        }
    }

    /// One past the last position published in the group, for a ring whose
    /// origin is `origin`.
    #[inline(always)]
    pub(crate) fn stamp(&self, origin: usize, order: Ordering) -> usize {
        self.raw_stamp.load(order).wrapping_add(origin)
    }

    /// Stores the group's stamp, for a ring whose origin is `origin`.
    #[inline(always)]
    pub(crate) fn set_stamp(&self, origin: usize, stamp: usize, order: Ordering) {
        self.raw_stamp.store(stamp.wrapping_sub(origin), order);
    }
}

impl<T> Buffer<StampedGroup<T>> {
    /// `len` groups with nothing published: a zeroed allocation whose first
    /// two pages are write-touched (a reader's first look at a page not yet
    /// written maps the shared zero page, and the writer's store then
    /// faults again: see [`Buffer::prefault_ahead`]); under loom, whose
    /// atomics and cells are tracked objects, constructed group by group.
    ///
    /// # Panics
    ///
    /// If `len` is 0 or `len` groups would overflow the maximum allocation.
    pub(crate) fn stamped_groups(len: usize) -> Self {
        #[cfg(not(loom))]
        {
            // SAFETY: all-zero bytes are a valid `StampedGroup<T>`: an
            // `AtomicUsize` of 0 and `MaybeUninit` cells, for which any
            // bytes are valid.
            let groups: Self = unsafe { Buffer::zeroed_line_aligned(len) };
            let per_page = (PAGE / core::mem::size_of::<StampedGroup<T>>()).max(1);
            for idx in (0..len.min(2 * per_page)).step_by(per_page) {
                // SAFETY: `idx < len`.
                write_touch(&unsafe { groups.get(idx) }.raw_stamp);
            }
            groups
        }
        #[cfg(loom)]
        {
            Buffer::from_fn(len, |_| StampedGroup::empty())
        }
    }
}

impl<T> Buffer<Cell<T>> {
    /// Allocates `len` empty cells.
    ///
    /// # Panics
    ///
    /// If `len` is 0 or `len` slots would overflow the maximum allocation.
    pub(crate) fn uninit_cells(len: usize) -> Self {
        #[cfg(not(loom))]
        {
            assert_capacity(len);
            assert_layout::<Cell<T>>(len);
            let mut v: Vec<Cell<T>> = Vec::with_capacity(len);
            // SAFETY: `Cell<T>` is a `repr(transparent)` wrapper around
            // `MaybeUninit<T>`, for which uninitialised memory is a valid
            // value, and `len` elements were just reserved. This keeps
            // construction O(1) (no per-slot loop), which matters for huge
            // rings of zero-sized items.
            unsafe { v.set_len(len) };
            Self::from_box(v.into_boxed_slice())
        }
        #[cfg(loom)]
        {
            // loom's cells carry tracking state and must be constructed.
            Self::from_fn(len, |_| UnsafeCell::new(MaybeUninit::uninit()))
        }
    }
}

impl<S> Drop for Buffer<S> {
    fn drop(&mut self) {
        let slice = core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        let layout = Self::layout(self.len, self.line_aligned);
        // SAFETY: `ptr`/`len` are `len` valid slots in memory from the
        // global allocator with `layout`: a leaked `Box<[S]>` of exactly this
        // length (a boxed slice's layout is `Layout::array`), or `zeroed` /
        // `zeroed_line_aligned`'s allocation; or, for zero bytes, a dangling
        // pointer, which is not freed. Reclaimed only here, once. Dropping
        // the slots drops no items (cells are `MaybeUninit`).
        unsafe {
            core::ptr::drop_in_place(slice);
            if layout.size() != 0 {
                std::alloc::dealloc(self.ptr.as_ptr().cast::<u8>(), layout);
            }
        }
    }
}

/// Calls `drop_one(i)` for `i` in `0..count`, in order. If one call panics,
/// the remaining ones still run while the panic unwinds, and the panic then
/// goes on (a second panic among them aborts, as any panic during unwinding
/// does, and as `std` does for a slice's drops), so every item is dropped
/// exactly once and none twice: the range moves past an index before
/// `drop_one` sees it. Wake-ups, where any number of user calls may panic,
/// use [`each_catching_panics`] instead.
pub(crate) fn drop_each(count: usize, drop_one: impl FnMut(usize)) {
    struct Rest<F: FnMut(usize)>(core::ops::Range<usize>, F);
    impl<F: FnMut(usize)> Drop for Rest<F> {
        fn drop(&mut self) {
            // Empty unless a call below panicked.
            for i in self.0.by_ref() {
                (self.1)(i);
            }
        }
    }
    let mut rest = Rest(0..count, drop_one);
    for i in rest.0.by_ref() {
        (rest.1)(i);
    }
}

/// Calls `f` on every item of `items`, in order, each call on its own: one
/// that panics does not keep the others from running, and any number may
/// panic. Afterwards the first panic goes on, unless this thread was
/// already unwinding when it got here (a handle or a future dropped during
/// a panic), where a second panic would abort: then the panics are dropped.
/// For wake-ups: a user's waker that panics (`Waker::wake` runs user code)
/// must not cost the other waiters theirs, nor the process its life. Any
/// state the calls share must be consistent between them (the wake-up paths
/// take their wakers out of the registry first).
pub(crate) fn each_catching_panics<I: IntoIterator>(items: I, mut f: impl FnMut(I::Item)) {
    let unwinding = std::thread::panicking();
    let mut first = None;
    for item in items {
        // AssertUnwindSafe: see above; the items are moved in, and `f` only
        // calls user code on them.
        if let Err(panic) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| f(item))) {
            first.get_or_insert(panic);
        }
    }
    if let (Some(panic), false) = (first, unwinding) {
        std::panic::resume_unwind(panic);
    }
}

/// `(idx + n) % len` for `idx < len` and `n <= len`, without division and
/// without overflow (a ring of zero-sized items may be longer than
/// `usize::MAX / 2`, where `idx + n` itself would overflow).
#[inline(always)]
pub(crate) fn wrap_add(idx: usize, n: usize, len: usize) -> usize {
    debug_assert!(idx < len && n <= len);
    let room = len - idx;
    if n < room {
        idx + n
    } else {
        n - room
    }
}

/// Signed items from position `from` to position `to` on a ring whose
/// positions are `lap + index`: laps of `one_lap` (a power of two) holding
/// `per_lap` indices (the MPMC ring: `one_lap` above its capacity, so that
/// stamps a lap apart never collide). Wrapping, for positions at most a
/// half `usize` range apart; `i128` because `per_lap` may be close to
/// `usize::MAX / 4` (zero-sized items).
#[inline(always)]
pub(crate) fn lap_distance(from: usize, to: usize, one_lap: usize, per_lap: usize) -> i128 {
    debug_assert!(one_lap.is_power_of_two());
    let mask = one_lap - 1;
    // The difference of two lap starts is a multiple of `one_lap`, so an
    // arithmetic shift divides it exactly, without the `idiv` a signed
    // division compiles to (on the watermark probes of every send and
    // receive).
    let laps = ((to & !mask).wrapping_sub(from & !mask) as isize) >> one_lap.trailing_zeros();
    laps as i128 * per_lap as i128 + (to & mask) as i128 - (from & mask) as i128
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::lap_distance;

    /// The position `k` places after `origin` (a lap start) on a ring of
    /// `per_lap` indices per lap of `one_lap` positions.
    fn step(origin: usize, k: usize, one_lap: usize, per_lap: usize) -> usize {
        origin.wrapping_add((k / per_lap) * one_lap).wrapping_add(k % per_lap)
    }

    /// `lap_distance` counts the places between two positions in either
    /// direction, within a lap or across many, and across the wrap of the
    /// position counter.
    #[test]
    fn lap_distance_counts_places_both_ways() {
        for (one_lap, per_lap) in [(2, 1), (4, 3), (8, 5), (8, 8), (1024, 1000), (1 << 20, (1 << 20) - 1)] {
            for origin in [0, usize::MAX / 2 + 1, (usize::MAX - 5 * one_lap + 1) & !(one_lap - 1)] {
                for a in [0, 1, per_lap - 1, per_lap, 3 * per_lap + per_lap / 2, 7 * per_lap - 1] {
                    for b in [0, 2, per_lap / 2, per_lap + 1, 2 * per_lap, 5 * per_lap + 3, 9 * per_lap] {
                        let (from, to) = (step(origin, a, one_lap, per_lap), step(origin, b, one_lap, per_lap));
                        let want = b as i128 - a as i128;
                        assert_eq!(
                            lap_distance(from, to, one_lap, per_lap),
                            want,
                            "lap {one_lap}, per lap {per_lap}, {a} -> {b}"
                        );
                        assert_eq!(lap_distance(to, from, one_lap, per_lap), -want);
                    }
                }
            }
        }
    }
}
