//! The one slot allocation both rings use, and panic-safe bulk dropping.

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::builder::{assert_capacity, assert_layout};
use crate::sync::UnsafeCell;

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
pub(crate) struct Buffer<S> {
    /// Start of a `Box<[S]>` of length `len` (leaked with `Box::leak`, or
    /// allocated with its layout by `zeroed`), reclaimed only in `Drop`.
    ptr: NonNull<S>,
    len: usize,
}

impl<S> Buffer<S> {
    /// Allocates `len` slots, initialising slot `i` with `init(i)`.
    ///
    /// # Panics
    ///
    /// If `len` is 0 or `len` slots would overflow the maximum allocation.
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
    /// As [`Buffer::from_fn`].
    #[cfg(not(loom))]
    pub(crate) unsafe fn zeroed(len: usize) -> Self {
        assert_capacity(len);
        assert_layout::<S>(len);
        let layout = std::alloc::Layout::array::<S>(len).expect("checked by assert_layout");
        let ptr = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            // SAFETY: the layout has a non-zero size.
            let raw = unsafe { std::alloc::alloc_zeroed(layout) };
            NonNull::new(raw.cast::<S>()).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
        };
        // `Drop` frees it as a `Box<[S]>` of length `len`, which is exactly
        // what this is: memory from the global allocator with the layout of
        // `[S; len]` (or a dangling pointer for zero bytes), holding `len`
        // valid values (the caller's guarantee).
        Buffer { ptr, len }
    }

    fn from_box(boxed: Box<[S]>) -> Self {
        let len = boxed.len();
        let ptr = NonNull::from(Box::leak(boxed)).cast::<S>();
        Buffer { ptr, len }
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

    /// The pointer to slot 0, for handles that cache it.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> NonNull<S> {
        self.ptr
    }
}

impl<T> Buffer<Cell<T>> {
    /// Allocates `len` empty cells.
    ///
    /// # Panics
    ///
    /// As [`Buffer::from_fn`].
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
        // SAFETY: `ptr`/`len` came from `Box::leak` of a boxed slice of
        // exactly this length, or from `zeroed` with the same layout, and
        // are reclaimed only here, once. Dropping the
        // slots drops no items (cells are `MaybeUninit`).
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// Calls `drop_one(i)` for `i` in `0..count`, in order. If one call panics,
/// the remaining ones still run during unwinding (a second panic aborts, as
/// any panic during unwinding does), so every item is dropped exactly once
/// and none is dropped twice.
pub(crate) fn drop_each(count: usize, drop_one: impl FnMut(usize)) {
    struct Guard<F: FnMut(usize)> {
        next: usize,
        count: usize,
        drop_one: F,
    }
    impl<F: FnMut(usize)> Guard<F> {
        fn run(&mut self) {
            while self.next < self.count {
                let i = self.next;
                // Advance first: if this call panics, item `i` counts as done.
                self.next += 1;
                (self.drop_one)(i);
            }
        }
    }
    impl<F: FnMut(usize)> Drop for Guard<F> {
        fn drop(&mut self) {
            self.run();
        }
    }
    let mut guard = Guard { next: 0, count, drop_one };
    guard.run();
}

/// `(idx + n) % len` for `idx < len` and `n <= len`, without division and
/// without overflow (a ring of zero-sized items may be longer than
/// `usize::MAX / 2`, where `idx + n` itself would overflow).
#[inline(always)]
pub(crate) fn wrap_add(idx: usize, n: usize, len: usize) -> usize {
    debug_assert!(idx < len && n <= len);
    if n == 1 {
        // The single-item paths pass a constant 1, so after inlining this is
        // all that remains: one add, one compare (`idx + 1 <= len` cannot
        // overflow).
        let next = idx + 1;
        return if next == len { 0 } else { next };
    }
    let room = len - idx;
    if n < room {
        idx + n
    } else {
        n - room
    }
}
