//! Where a large MPMC ring keeps its slots: fixed-size pages attached to
//! the ring's page table while they hold (or are about to hold) items, and
//! recycled through a free list once every item on them has been read.
//!
//! The ring itself (`ring.rs`) is unchanged: Vyukov's bounded MPMC queue
//! over `capacity` logical slots, with positions, laps and per-slot stamps.
//! Only where logical slot `idx` lives changes: on page `idx / B` of the
//! table, at `idx % B` (`B` a power of two, at least 2). With a flat buffer
//! the positions sweep all `capacity` slots, so after one lap the whole
//! buffer is resident and every lap walks through it, however few items
//! the queue holds. With pages, the receiver that reads the last slot of a
//! page *retires* the page once every slot on it has been read (and the
//! senders are not about to reuse it), which puts it on a LIFO free list;
//! a sender that claims a position on a page with no page attached takes
//! the most recently retired one (still in cache) or allocates. So memory
//! follows the most items ever held (pages are never returned to the
//! allocator before the ring drops), and the working set follows the items
//! held now.
//!
//! # Why stale page pointers are harmless
//!
//! A thread may load a table entry, be preempted, and use the page long
//! after it was retired and attached elsewhere. Pages are never freed while
//! the ring lives (type-stable memory), so such a read is of valid memory;
//! and what it reads cannot mislead it:
//!
//! - **Stamps are absolute** (the full position, not relative to the slot):
//!   logical slot `i`'s stamps are `i` or `i + 1` modulo `one_lap`, and
//!   another page's slot at the same offset serves a logical slot at least
//!   `B >= 2` away, so `stamp` recognises a stamp left by another use of
//!   the page and looks the page up again. A stamp of *this* logical slot
//!   read from a page retired since is an older value of that slot's stamp;
//!   the claim protocol already tolerates stale stamps (it re-checks the
//!   position counter before concluding "full" or "empty").
//! - **A logical page with no page attached reads as free for one lap**:
//!   the one after the lap its last page was retired from (or the first),
//!   recorded in `free_lap` before the table entry is cleared. A page is
//!   retired only after every slot on it was read for its lap, so every
//!   position on it in the next lap is free; a position a lap further on is
//!   not (its slot may still be claimed by a sender of the lap before,
//!   which is how the ring stays bounded when it is full), and the recorded
//!   lap makes it read as such. `free_lap` only grows: a retirement attempt
//!   that fails may record its lap late, after later retirements of the
//!   same logical page committed theirs, and must not undo them.
//! - **Writers validate after claiming.** A sender decides from stamps that
//!   `pos` is free and claims it (its CAS of `tail`); only then does it look
//!   up the page it writes to ([`Pages::slot_for_write`]), attaching one if
//!   there is none. A receiver reads only a position whose stamp said
//!   "published", which pins the page: a page with an unread item is never
//!   retired.
//!
//! # Retiring a page against a sender claiming on it
//!
//! The one race: a receiver retiring page `P` of logical page `v` after lap
//! `L`, while a sender claims a position of `v` in lap `L + 1` (the stamps
//! on `P` already say "free" for it). The retirement lives in the table
//! entry itself: `P` (attached), `P` *tagged* (a receiver is retiring it;
//! still attached; the tag is the pointer's low bit), or null (retired).
//! At most one retirement attempt per page is in progress at any time: a
//! receiver takes the page's `retiring` flag before it tags the entry and
//! gives it back when its attempt ends, whatever the outcome, so a tagged
//! entry is always the tag of the one attempt in progress on that page.
//! Both sides use a
//! Dekker-style handshake on the entry and `tail`, made of sequentially
//! consistent accesses only (`SeqCst`: one total order, so of two threads
//! that each write one location and then read the other, at least one
//! reads the other's write):
//!
//! - Receiver: CAS the entry `P` → `P` tagged; load `tail`. If `tail` has
//!   reached `v`'s first position in lap `L + 1`, a sender may hold a
//!   claim there: undo (tagged → `P`). Otherwise commit: CAS tagged → null
//!   (which fails if a sender cancelled) and put `P` on the free list.
//! - Sender, after its claim CAS of `tail`: load the entry. `P`: write to
//!   `P`. Tagged: cancel (CAS tagged → `P`) and look again. Null: attach a
//!   page and write there.
//!
//! If the sender's load does not see the tag, the receiver's load sees the
//! sender's `tail`, and it undoes; if the sender sees the tag it cancels
//! before the commit, or sees null after it and writes elsewhere. Either
//! way nobody writes to a retired page, and nobody ever waits for another
//! thread. A receiver preempted after its handshake, while senders cancel
//! its tag and the page serves later laps, cannot commit another receiver's
//! retirement of the same page: none can begin before its own attempt ends
//! (a receiver that finds the flag taken leaves the page attached, as when
//! `tail` is near), so when it resumes the entry holds its own tag (then
//! the handshake it ran still stands) or not (and its commit fails). A
//! sender's cancel is harmless whatever it cancels. Until 2026-12-04 each
//! attempt drew an 11-bit sequence number for its tag instead of taking a
//! flag; a review built the interleaving that defeats it with pause hooks
//! (the sequence repeats after 2 048 attempts, a few thousand items on
//! two-slot pages): the preempted receiver's commit met a later attempt's
//! identical tag before that attempt's own check of `tail`, and detached a
//! page a sender was writing to. A first version
//! kept the state in the page and let a sender that saw a committed
//! retirement clear the entry itself; that CAS could
//! meet the same page attached again to the same logical page (retired,
//! freed, popped and attached by another sender of the same lap) and
//! detach it with an item on it.
//!
//! On x86 a `SeqCst` CAS is the same `lock cmpxchg` as a relaxed one and a
//! `SeqCst` load a plain load, so the handshake costs a send nothing (a
//! first version used the crate's asymmetric barrier pair instead: a
//! compiler fence per send, but a `membarrier` per retirement, which cost a
//! receiver microseconds every page, and on `BusySpin` / `SpinYield` rings
//! an `mfence` per send). Under loom, which treats `SeqCst` accesses as
//! `AcqRel`, both sides also run `fence(SeqCst)` between their write and
//! their read, which loom does model (the two forms are equivalent in the
//! C++ memory model). The receiver retires only when `tail` is at least a
//! page away from `v`'s next lap (a ring that stays nearly full keeps its
//! pages), so undoing is rare.
//!
//! # The free list
//!
//! A Treiber stack of pages. Pushing needs no ABA protection. Popping takes
//! the whole stack with one swap (so no thread can pop a node out from
//! under another), keeps the top page and puts the rest back; a sender that
//! finds the stack empty meanwhile allocates, but only while the pages
//! allocated stay within `SPARE_PAGES` (16) of the most ever attached at
//! once; past that it looks again (see [`Pages::attach`]). So the pages
//! allocated never exceed those the most items ever held needed, plus 16.
//! (The bound makes an attach at it wait, in the rare case the free list
//! is empty then, for a page on its way there: a popper between its swap
//! and its put-back, a sender between its pop and its attach CAS (or the
//! push after losing it), a receiver between its commit and its push, or
//! a sender whose attachment is not yet counted in the peak. None of them
//! waits on anything, so there is no cycle; but this is the one place
//! where a `try_send` may wait for another thread, a time slice if that
//! thread is preempted. The retirement handshake above never waits.)

use core::alloc::Layout;
use core::ptr::NonNull;

use super::ring::Slot;
use crate::buffer::Buffer;
use crate::sync::{spin_hint, AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// Pages a ring may allocate beyond the most it has had attached at once:
/// room for the pages in flight between the free list and the table while
/// several threads attach and retire (see [`Pages::attach`]). One under
/// loom, so that its small models reach the wait at the bound (16 would
/// leave it out of every model: `loom-tests/tests/mpmc_pages.rs`, PG2).
const SPARE_PAGES: usize = if cfg!(loom) { 1 } else { 16 };

/// The low bits of a table entry that may tag a page being retired (bit 0;
/// pages are aligned to `TAG_MASK + 1`, see [`Page`]).
const TAG_MASK: usize = 4095;

/// `page` tagged: a retirement attempt is on (see the module docs).
fn tagged<T>(page: NonNull<Page<T>>) -> *mut Page<T> {
    // In bounds of the page's allocation (its alignment pads it to at least
    // `TAG_MASK + 1` bytes), never dereferenced tagged.
    page.as_ptr().cast::<u8>().wrapping_add(1).cast()
}

/// The page of a table entry, tagged or not.
fn untagged<T>(entry: *mut Page<T>) -> *mut Page<T> {
    entry.cast::<u8>().wrapping_sub(entry as usize & TAG_MASK).cast()
}

/// A test's callback at two points of a retirement attempt (feature
/// `__test-hooks`): `"tagged"` (the entry was tagged) and `"checked"` (the
/// handshake passed; the commit comes next), with the page's address. A
/// test stands for a preemption there by blocking in it.
#[cfg(all(feature = "__test-hooks", not(loom)))]
#[allow(clippy::type_complexity)]
pub(crate) static RETIREMENT_HOOK: std::sync::RwLock<
    Option<std::sync::Arc<dyn Fn(&'static str, usize) + Send + Sync>>,
> = std::sync::RwLock::new(None);

/// Calls [`RETIREMENT_HOOK`] (nothing without `__test-hooks`; retirement
/// is a cold path, once per page of items).
#[inline(always)]
fn retirement_hook<T>(_point: &'static str, _page: NonNull<Page<T>>) {
    #[cfg(all(feature = "__test-hooks", not(loom)))]
    {
        let hook = RETIREMENT_HOOK.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some(hook) = hook {
            hook(_point, _page.as_ptr() as usize);
        }
    }
}

/// Under loom only: `fence(SeqCst)` between the write and the read of each
/// side of the retirement handshake (see the module docs).
#[inline(always)]
fn loom_sc_fence() {
    #[cfg(loom)]
    crate::sync::fence(Ordering::SeqCst);
}

/// A page: one allocation of `B` slots followed by a [`PageHeader`],
/// aligned to `TAG_MASK + 1` so that a table entry can tag it. A
/// `NonNull<Page<T>>` points at slot 0, so that finding a slot from a table
/// entry is one load and an offset (a page used to hold its slots in a
/// second allocation, one more dependent load on every access). Its layout
/// depends on `B`, which only [`Pages`] knows: it allocates, addresses and
/// frees pages ([`Pages::slot`], [`Pages::header`]).
pub(super) struct Page<T> {
    _slots: core::marker::PhantomData<Slot<T>>,
}

/// The fields of a page besides its slots, after them.
struct PageHeader<T> {
    /// Set while a retirement attempt on this page is in progress: taken
    /// (a swap to `true` that read `false`) before the attempt tags the
    /// table entry, cleared when it ends. Invariant: a tagged entry of this
    /// page is the tag of the attempt holding the flag.
    retiring: AtomicBool,
    /// The next page on the free list; meaningful only while this page is
    /// on it (written before the push that publishes it).
    free_next: AtomicPtr<Page<T>>,
}

/// The page table, the free list and the page geometry.
pub(super) struct Pages<T> {
    /// Logical page `v` → the page attached to it (tagged while a receiver
    /// is retiring it), or null. Changes: null → page (an attachment), page
    /// → tagged (a retirement begins), tagged → page (undone or cancelled),
    /// tagged → null (committed).
    table: Buffer<AtomicPtr<Page<T>>>,
    /// Logical page `v` → the first position of the lap in which its slots
    /// are free while no page is attached, minus `origin + v * B` (so that
    /// zero is the first lap): raised (`fetch_max`, never lowered) by each
    /// retirement attempt before its store of null to `table[v]` (which
    /// publishes it), read after a load of null. Invariant: while
    /// `table[v]` is null it holds the lap recorded by the retirement that
    /// stored the null (every other attempt records that lap or an earlier
    /// one); a reader whose null is stale may see a later lap, which only
    /// makes it look again.
    free_lap: Buffer<AtomicUsize>,
    /// The ring's first position.
    origin: usize,
    /// Top of the free list (a Treiber stack through `Page::free_next`).
    free: AtomicPtr<Page<T>>,
    /// Pages allocated so far, attached now, and the most ever attached at
    /// once (the peak of `attached`). Invariant: `allocated` stays at most
    /// `peak + SPARE_PAGES` (see [`Pages::attach`]), so memory follows the
    /// most items the ring has held.
    allocated: AtomicUsize,
    attached: AtomicUsize,
    peak: AtomicUsize,
    /// A page's allocation (`B` slots, then the header, aligned to
    /// `TAG_MASK + 1`) and the header's offset in it.
    page_layout: Layout,
    header_at: usize,
    /// `log2(B)`.
    shift: u32,
    /// `B - 1` and `one_lap - 1`: a position's offset on its page and its
    /// slot index are masks of it (kept, not derived, on the hot path).
    page_mask: usize,
    idx_mask: usize,
    /// `capacity` (logical slots) and `one_lap`, as in `Shared`.
    capacity: usize,
    one_lap: usize,
    /// Pages allocated, retirements committed, retirements given up after
    /// the handshake (a sender's claim seen, or its cancel), put-back
    /// retries of `pop`, and looks again of an attach at the allocation
    /// bound, for the crate's tests (plain std counters, outside any loom
    /// model).
    #[cfg(feature = "__test-hooks")]
    pub(super) counts: [core::sync::atomic::AtomicUsize; 5],
}

impl<T> Pages<T> {
    /// An empty table for `capacity` slots on pages of `page_slots` (a power
    /// of two, at least 2): constant work beyond the table itself
    /// (`capacity / page_slots` pointers).
    pub(super) fn new(capacity: usize, one_lap: usize, origin: usize, page_slots: usize) -> Self {
        debug_assert!(page_slots.is_power_of_two() && page_slots >= 2);
        let n = capacity.div_ceil(page_slots);
        #[cfg(not(loom))]
        // SAFETY: all-zero bytes are a null `AtomicPtr` and an `AtomicUsize`
        // of 0. Zeroed, so that the table costs nothing until positions
        // reach its entries (like a flat ring's slots).
        let (table, free_lap) = unsafe { (Buffer::zeroed(n), Buffer::zeroed(n)) };
        #[cfg(loom)]
        let (table, free_lap) = (
            Buffer::from_fn(n, |_| AtomicPtr::new(core::ptr::null_mut())),
            Buffer::from_fn(n, |_| AtomicUsize::new(0)),
        );
        let (page_layout, header_at) = Layout::array::<Slot<T>>(page_slots)
            .and_then(|slots| slots.extend(Layout::new::<PageHeader<T>>()))
            .and_then(|(page, at)| Ok((page.align_to(TAG_MASK + 1)?.pad_to_align(), at)))
            .expect("ringflow: an MPMC page's layout overflows");
        Pages {
            table,
            free_lap,
            page_layout,
            header_at,
            origin,
            free: AtomicPtr::new(core::ptr::null_mut()),
            allocated: AtomicUsize::new(0),
            attached: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            shift: page_slots.trailing_zeros(),
            page_mask: page_slots - 1,
            idx_mask: one_lap - 1,
            capacity,
            one_lap,
            #[cfg(feature = "__test-hooks")]
            counts: Default::default(),
        }
    }

    /// Slots per page, `B`.
    #[inline(always)]
    fn page_slots(&self) -> usize {
        1 << self.shift
    }

    /// Slot `k` of `page`.
    ///
    /// # Safety
    ///
    /// `page` was allocated by this ring ([`alloc_page`](Pages::alloc_page);
    /// pages live as long as the ring) and `k < B`.
    #[inline(always)]
    unsafe fn slot(&self, page: NonNull<Page<T>>, k: usize) -> &Slot<T> {
        // SAFETY: the page's slots start at the page pointer; `k < B`
        // (caller), and they were initialised when the page was allocated.
        unsafe { &*page.as_ptr().cast::<Slot<T>>().add(k) }
    }

    /// The header of `page`.
    ///
    /// # Safety
    ///
    /// As for [`slot`](Pages::slot).
    #[inline(always)]
    unsafe fn header(&self, page: NonNull<Page<T>>) -> &PageHeader<T> {
        // SAFETY: initialised at allocation (and in bounds: see `header_ptr`).
        unsafe { &*self.header_ptr(page) }
    }

    /// Where the header of `page` is (`page` allocated by this ring).
    #[inline(always)]
    fn header_ptr(&self, page: NonNull<Page<T>>) -> *mut PageHeader<T> {
        // In bounds: `header_at` is the header's offset in `page_layout`.
        page.as_ptr().cast::<u8>().wrapping_add(self.header_at).cast()
    }

    /// A new page for logical page `v`, every slot on it free for the lap
    /// starting at `first` (the stamps [`attach`](Pages::attach) gives a
    /// recycled page), written once: no zeroing pass before that.
    fn alloc_page(&self, v: usize, first: usize) -> NonNull<Page<T>> {
        // SAFETY: the layout's size is not zero (`B >= 2` slots and a header).
        let page = unsafe { std::alloc::alloc(self.page_layout) };
        let Some(page) = NonNull::new(page.cast::<Page<T>>()) else { std::alloc::handle_alloc_error(self.page_layout) };
        let used = self.used(v);
        for k in 0..self.page_slots() {
            // Slots past `used` (the end of a last, partial page) serve no
            // position; written so that every slot is a constructed object.
            let stamp = if k < used { first.wrapping_add(k) } else { 0 };
            // SAFETY: slot `k < B` of the fresh allocation, written once
            // before anything reads it.
            unsafe { page.as_ptr().cast::<Slot<T>>().add(k).write(Slot::with_raw_stamp(stamp)) };
        }
        let header = PageHeader { retiring: AtomicBool::new(false), free_next: AtomicPtr::new(core::ptr::null_mut()) };
        // SAFETY: the header's place in the fresh allocation, written once.
        unsafe { self.header_ptr(page).write(header) };
        page
    }

    /// Frees `page` (its slots hold no items: the ring dropped them).
    ///
    /// # Safety
    ///
    /// `page` came from [`alloc_page`](Pages::alloc_page) and no thread
    /// uses it; called once per page.
    unsafe fn free_page(&self, page: NonNull<Page<T>>) {
        #[cfg(loom)]
        for k in 0..self.page_slots() {
            // SAFETY: constructed in `alloc_page`, dropped once (no item:
            // the cell is `MaybeUninit`).
            unsafe { core::ptr::drop_in_place(page.as_ptr().cast::<Slot<T>>().add(k)) };
        }
        // SAFETY: written in `alloc_page`, dropped once (a no-op outside
        // loom, whose atomics are tracked objects).
        unsafe { core::ptr::drop_in_place(self.header_ptr(page)) };
        // SAFETY: allocated with this layout (caller).
        unsafe { std::alloc::dealloc(page.as_ptr().cast(), self.page_layout) };
    }

    /// Logical page of `pos`, and the offset on it.
    #[inline(always)]
    fn locate(&self, pos: usize) -> (usize, usize) {
        let idx = pos & self.idx_mask;
        (idx >> self.shift, idx & self.page_mask)
    }

    /// Slots in use on logical page `v` (the last may be partial).
    #[inline(always)]
    fn used(&self, v: usize) -> usize {
        (self.capacity - (v << self.shift)).min(self.page_slots())
    }

    #[inline(always)]
    fn entry(&self, v: usize) -> &AtomicPtr<Page<T>> {
        // SAFETY: `v = idx >> shift` with `idx < capacity`, and the table
        // has `ceil(capacity / B)` entries.
        unsafe { self.table.get(v) }
    }

    /// `free_lap[v]`'s offset: the first position of page `v` in lap 0.
    #[inline(always)]
    fn first_lap_start(&self, v: usize) -> usize {
        self.origin.wrapping_add(v << self.shift)
    }

    /// The recorded first free position of page `v` (see `free_lap`).
    #[inline(always)]
    fn free_from(&self, v: usize) -> usize {
        // SAFETY: as in `entry`; `free_lap` has as many entries.
        unsafe { self.free_lap.get(v) }.load(Ordering::Relaxed).wrapping_add(self.first_lap_start(v))
    }

    /// The first position of `pos`'s lap on logical page `v`.
    #[inline(always)]
    fn page_start(&self, v: usize, pos: usize) -> usize {
        (pos & !(self.one_lap - 1)).wrapping_add(v << self.shift)
    }

    /// The stamp of the logical slot serving `pos` (see the module docs:
    /// with no page attached, the stamp of a free slot in the lap recorded
    /// in `free_lap`).
    #[inline(always)]
    pub(super) fn stamp(&self, pos: usize, order: Ordering) -> usize {
        let (v, k) = self.locate(pos);
        loop {
            let page = self.entry(v).load(Ordering::Acquire);
            let Some(page) = NonNull::new(untagged(page)) else {
                return self.free_from(v).wrapping_add(k);
            };
            // SAFETY: pages live as long as `self` (never freed before), and
            // `k < B`, the length of every page.
            let stamp = unsafe { self.slot(page, k) }.stamp(0, order);
            // This logical slot's stamps are `pos` or `pos + 1` modulo
            // `one_lap`; anything else was left by another use of the page.
            if stamp.wrapping_sub(pos) & self.idx_mask <= 1 {
                return stamp;
            }
            // Through `sync.rs`, which yields under loom (DESIGN.md: spin
            // loops must, or a model can spin on a stale load forever).
            spin_hint();
        }
    }

    /// Whether `pos` is the last slot in use on its page: the next index
    /// starts a page, or is `capacity` (the last page may be partial).
    #[inline(always)]
    fn is_page_end(&self, pos: usize) -> bool {
        let next = (pos & self.idx_mask) + 1;
        next & self.page_mask == 0 || next == self.capacity
    }

    /// The slot serving `pos` on its attached page, for a thread that owns
    /// the item there (a receiver that claimed a published position, the
    /// `force_send` evicting it, the ring's drop): a page holding an unread
    /// item is attached and stays so.
    #[inline(always)]
    pub(super) fn slot_holding(&self, pos: usize) -> &Slot<T> {
        let (v, k) = self.locate(pos);
        let page = untagged(self.entry(v).load(Ordering::Acquire));
        debug_assert!(!page.is_null(), "a page holding an item is attached");
        // SAFETY: attached (see above), so not null, and alive as long as
        // `self`; `k < B`.
        unsafe { self.slot(NonNull::new_unchecked(page), k) }
    }

    /// For the receiver that claimed `pos`: its slot (as
    /// [`slot_holding`](Pages::slot_holding)) and whether `pos` is the last
    /// slot in use on its page (then it calls
    /// [`maybe_retire`](Pages::maybe_retire) once it has freed the slot).
    #[inline(always)]
    pub(super) fn slot_to_take(&self, pos: usize) -> (&Slot<T>, bool) {
        (self.slot_holding(pos), self.is_page_end(pos))
    }

    /// The slot to write the item of `pos` to, for the sender that has just
    /// claimed `pos` (after its CAS of `tail`): the handshake of the module
    /// docs, attaching a page if none is.
    #[inline(always)]
    pub(super) fn slot_for_write(&self, pos: usize) -> &Slot<T> {
        let (v, k) = self.locate(pos);
        let entry = self.entry(v);
        loop {
            // The handshake (module docs): our claim CAS of `tail` and this
            // load are `SeqCst`, so either a retiring receiver sees our
            // `tail`, or we see its tag.
            loom_sc_fence();
            let current = entry.load(Ordering::SeqCst);
            let Some(page) = NonNull::new(untagged(current)) else {
                self.attach(v, pos);
                continue;
            };
            if current == page.as_ptr() {
                // SAFETY: attached to `v` (our lap's page: lap `pos` cannot
                // be retired before our item is read), alive as long as
                // `self`; `k < B`.
                return unsafe { self.slot(page, k) };
            }
            // Being retired: cancel (the receiver's commit then fails).
            let _ = entry.compare_exchange(current, page.as_ptr(), Ordering::SeqCst, Ordering::Relaxed);
            spin_hint();
        }
    }

    /// Attaches a page to logical page `v` for the lap of `pos`, unless one
    /// is attached meanwhile: every slot on it free for that lap.
    ///
    /// A page comes from the free list, or is allocated while the pages
    /// allocated stay within `SPARE_PAGES` of the most ever attached at
    /// once. Beyond that every page not attached is on the free list or on
    /// its way there (a popper putting the list back, a sender pushing a
    /// page it could not attach, a receiver between its commit and its
    /// push), so the sender looks again instead, spinning between looks.
    /// Without the bound, each sender that found the list away (taken by a
    /// popper for an instant) allocated a page that stayed once the race
    /// was over, and the pages grew with the traffic, not with the items
    /// held (a review measured 2 050 → 2 551 two-slot pages over 3 million
    /// items on a ring of 2 048 logical pages, 3 senders and 3 receivers).
    #[cold]
    fn attach(&self, v: usize, pos: usize) {
        let first = self.page_start(v, pos);
        // Popped or fresh: this thread owns it until the CAS below.
        let page = loop {
            if let Some(page) = self.pop() {
                for k in 0..self.used(v) {
                    // SAFETY: one of this ring's pages; `k < used(v) <= B`.
                    unsafe { self.slot(page, k) }.set_stamp(0, first.wrapping_add(k), Ordering::Relaxed);
                }
                break page;
            }
            let bound = self.peak.load(Ordering::Relaxed).saturating_add(SPARE_PAGES);
            if self.allocated.fetch_add(1, Ordering::Relaxed) < bound {
                self.count(0);
                break self.alloc_page(v, first);
            }
            self.allocated.fetch_sub(1, Ordering::Relaxed);
            self.count(4);
            if !self.entry(v).load(Ordering::Acquire).is_null() {
                return; // another sender attached one
            }
            // Spin only: this runs inside `try_send` too, which never
            // yields and, on `BusySpin` / `SpinYield` channels, never
            // enters the kernel but through the allocator.
            spin_hint();
        };
        // Release: a thread that finds the page in the table sees its stamps.
        let won =
            self.entry(v).compare_exchange(core::ptr::null_mut(), page.as_ptr(), Ordering::AcqRel, Ordering::Acquire);
        if won.is_err() {
            self.push(page, page);
        } else {
            let now = self.attached.fetch_add(1, Ordering::Relaxed) + 1;
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// After the receiver that read `pos` (the last slot of its page) has
    /// freed the slot: retires the page if every slot on it has been read
    /// and `tail` is not about to come back to it.
    #[cold]
    pub(super) fn maybe_retire(&self, pos: usize, tail: &AtomicUsize) {
        let (v, _) = self.locate(pos);
        let entry = self.entry(v);
        let current = entry.load(Ordering::Acquire);
        let Some(page) = NonNull::new(current) else { return };
        if untagged(current) != current {
            return; // another retirement attempt is on
        }
        let first = self.page_start(v, pos);
        for k in 0..self.used(v) {
            // Read for this lap: `first + k + one_lap`.
            let read = first.wrapping_add(k).wrapping_add(self.one_lap);
            // SAFETY: pages live as long as `self`; `k < used(v) <= B`.
            if unsafe { self.slot(page, k) }.stamp(0, Ordering::Acquire) != read {
                return;
            }
        }
        let next_lap = first.wrapping_add(self.one_lap);
        let near = |t: usize| t.wrapping_sub(next_lap) as isize >= -(self.page_slots() as isize);
        if near(tail.load(Ordering::Relaxed)) {
            return;
        }
        // SAFETY: one of this ring's pages.
        let retiring = &unsafe { self.header(page) }.retiring;
        if retiring.swap(true, Ordering::Acquire) {
            return; // another attempt on this page is still in progress
        }
        let committed = self.retire(page, v, next_lap, tail);
        // Release: the next attempt on this page begins after this one's
        // accesses to the entry and `free_lap`.
        retiring.store(false, Ordering::Release);
        if committed {
            self.count(1);
            self.attached.fetch_sub(1, Ordering::Relaxed);
            self.push(page, page);
        }
    }

    /// The handshake and commit of one retirement attempt of `page` from
    /// logical page `v` (the caller holds the page's `retiring` flag):
    /// whether it committed (the entry is null and the page is the
    /// caller's to push).
    fn retire(&self, page: NonNull<Page<T>>, v: usize, next_lap: usize, tail: &AtomicUsize) -> bool {
        let entry = self.entry(v);
        let mark = tagged(page);
        if entry.compare_exchange(page.as_ptr(), mark, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return false;
        }
        retirement_hook("tagged", page);
        loom_sc_fence();
        if tail.load(Ordering::SeqCst).wrapping_sub(next_lap) as isize >= 0 {
            // A sender may hold a claim on this page's next lap.
            let _ = entry.compare_exchange(mark, page.as_ptr(), Ordering::SeqCst, Ordering::Relaxed);
            self.count(2);
            return false;
        }
        // Raised, never lowered: this attempt may still fail (a sender
        // cancels it), and this thread may be preempted right here for any
        // number of laps. Without the `retiring` flag later retirements of
        // `v` could commit their own, later laps meanwhile, and a plain
        // store would then overwrite the lap of the retirement in force
        // with ours: the positions of `v`'s free lap would read as full,
        // with nothing to wake a sender (caught by ThreadSanitizer's
        // scheduling in `tests/pages.rs`; the PG4 loom model). The flag now
        // keeps this page on `v` until this attempt ends, so that cannot
        // happen; the maximum stays, as a second guard, free on this cold
        // path. The value is counted from `v`'s first position, so it only
        // grows (until 2^64 positions).
        retirement_hook("checked", page);
        // SAFETY: as in `entry`. Published by the commit below (Release).
        unsafe { self.free_lap.get(v) }.fetch_max(next_lap.wrapping_sub(self.first_lap_start(v)), Ordering::Relaxed);
        if entry.compare_exchange(mark, core::ptr::null_mut(), Ordering::SeqCst, Ordering::Relaxed).is_err() {
            self.count(2);
            return false; // a sender cancelled
        }
        true
    }

    /// Test counter `i` of `counts` (nothing without `__test-hooks`).
    #[inline(always)]
    fn count(&self, _i: usize) {
        #[cfg(feature = "__test-hooks")]
        self.counts[_i].fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }

    /// Pushes the chain `first ..= last` (linked through `free_next`) onto
    /// the free list.
    fn push(&self, first: NonNull<Page<T>>, last: NonNull<Page<T>>) {
        let mut top = self.free.load(Ordering::Relaxed);
        loop {
            // SAFETY: the chain is this thread's until the CAS publishes it.
            unsafe { self.header(last) }.free_next.store(top, Ordering::Relaxed);
            match self.free.compare_exchange_weak(top, first.as_ptr(), Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }

    /// Pops the most recently pushed page: takes the whole list (a swap,
    /// so no ABA), keeps the top and puts the rest back.
    fn pop(&self) -> Option<NonNull<Page<T>>> {
        let top = NonNull::new(self.free.swap(core::ptr::null_mut(), Ordering::Acquire))?;
        // SAFETY: the list taken is this thread's now.
        let mut rest = unsafe { self.header(top) }.free_next.load(Ordering::Relaxed);
        // Put the rest back. Usually nobody pushed meanwhile and one CAS
        // does it. Otherwise take what was pushed (a page or two, retired
        // meanwhile), put it in front of the rest and try again: the walk
        // to its end is over those pages only, never over the rest, which
        // may be long. (Walking the rest instead made the time the list
        // is away grow with its length, and every sender that attached a
        // page meanwhile found the list empty and allocated one: a review
        // measured 171 497 two-slot pages on a ring of 2 048 logical pages,
        // 3 senders and 3 receivers, still growing.)
        while let Some(chain) = NonNull::new(rest) {
            match self.free.compare_exchange(
                core::ptr::null_mut(),
                chain.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(_) => {
                    self.count(3);
                    let Some(pushed) = NonNull::new(self.free.swap(core::ptr::null_mut(), Ordering::Acquire)) else {
                        continue;
                    };
                    let mut last = pushed;
                    // SAFETY: the pages taken are this thread's; their
                    // chain ends with null.
                    while let Some(next) = NonNull::new(unsafe { self.header(last) }.free_next.load(Ordering::Relaxed))
                    {
                        last = next;
                    }
                    // SAFETY: as above.
                    unsafe { self.header(last) }.free_next.store(chain.as_ptr(), Ordering::Relaxed);
                    rest = pushed.as_ptr();
                }
            }
        }
        Some(top)
    }
}

/// The tests' look at the free list (the unit tests below, [`FreeList`]).
#[cfg(any(test, feature = "__test-hooks"))]
impl<T> Pages<T> {
    /// The pages on the free list, top first; at most `max` of them (more
    /// means a cycle: it panics). Only while no other thread uses the list.
    fn listed(&self, max: usize) -> Vec<NonNull<Page<T>>> {
        let mut listed = Vec::new();
        let mut next = self.free.load(Ordering::Acquire);
        while let Some(page) = NonNull::new(next) {
            listed.push(page);
            assert!(listed.len() <= max, "the free list has a cycle");
            // SAFETY: one of this ring's pages, on the list.
            next = unsafe { self.header(page) }.free_next.load(Ordering::Acquire);
        }
        listed
    }
}

/// Test hook (feature `__test-hooks`): the free list of a paged ring on its
/// own, holding `n` pages at first, for the loom model of `Pages::pop`
/// and `Pages::push` (`loom-tests/tests/mpmc_pages.rs`, PG5), which the
/// models of whole rings do not reach (a review counted 0 put-back retries
/// in 135 364 of their executions). Pages are named by their index in
/// `0..n`; a popped page goes back on the list when its [`PoppedPage`] is
/// dropped.
#[cfg(feature = "__test-hooks")]
pub struct FreeList {
    pages: Pages<u32>,
    /// The pages made, in index order.
    made: Vec<NonNull<Page<u32>>>,
}

// SAFETY: threads share a `FreeList` only through `pop` (a `PoppedPage` is
// not `Send`), `push` (its drop) and `listed`, which use atomics and pages
// the calling thread owns, as the ring's threads do (`Shared` is `Sync` on
// the same grounds); `made` is read-only after `new`.
#[cfg(feature = "__test-hooks")]
unsafe impl Sync for FreeList {}
// SAFETY: as above; the pages belong to the list, not to a thread.
#[cfg(feature = "__test-hooks")]
unsafe impl Send for FreeList {}

/// A page taken off a [`FreeList`]; pushed back when dropped. Leaked
/// (`mem::forget`), it stays off the list, and the list's drop still frees
/// it (the list frees every page it made).
#[cfg(feature = "__test-hooks")]
pub struct PoppedPage<'a> {
    page: NonNull<Page<u32>>,
    list: &'a FreeList,
}

#[cfg(feature = "__test-hooks")]
impl core::fmt::Debug for FreeList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FreeList").field("pages", &self.made.len()).finish_non_exhaustive()
    }
}

#[cfg(feature = "__test-hooks")]
impl core::fmt::Debug for PoppedPage<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoppedPage").field("index", &self.index()).finish()
    }
}

#[cfg(feature = "__test-hooks")]
impl FreeList {
    /// A free list holding `n` new pages (two slots each, of a ring of `2n`
    /// slots), pushed in index order (so page `n - 1` is on top).
    pub fn new(n: usize) -> FreeList {
        let slots = 2 * n.max(1);
        let pages = Pages::new(slots, (slots + 1).next_power_of_two(), 0, 2);
        let made: Vec<_> = (0..n).map(|v| pages.alloc_page(v, 2 * v)).collect();
        for &page in &made {
            pages.push(page, page);
        }
        FreeList { pages, made }
    }

    /// `Pages::pop`: the top page, or `None` when the list was empty or
    /// away (another pop had taken it for its put-back).
    pub fn pop(&self) -> Option<PoppedPage<'_>> {
        self.pages.pop().map(|page| PoppedPage { page, list: self })
    }

    /// The indices of the pages on the list, top first. Only while no
    /// other thread uses the list (a test's last look).
    pub fn listed(&self) -> Vec<usize> {
        self.pages.listed(self.made.len()).into_iter().map(|page| self.index(page)).collect()
    }

    /// Put-back retries so far: pops whose put-back found pages pushed
    /// meanwhile (a plain std counter, outside any loom model).
    pub fn put_back_retries(&self) -> usize {
        self.pages.counts[3].load(core::sync::atomic::Ordering::Relaxed)
    }

    fn index(&self, page: NonNull<Page<u32>>) -> usize {
        self.made.iter().position(|&p| p == page).expect("a page this list made")
    }
}

#[cfg(feature = "__test-hooks")]
impl Drop for FreeList {
    fn drop(&mut self) {
        // Every page is on the list or was leaked off it (a `PoppedPage`
        // borrows the list, so none is held now): empty the list, so that
        // `Pages::drop` frees nothing of it (no page is attached), and
        // free each page made, once.
        self.pages.free.store(core::ptr::null_mut(), Ordering::Relaxed);
        for &page in &self.made {
            // SAFETY: made by `alloc_page`, in no table entry and no
            // longer on the list; `made` lists each page once.
            unsafe { self.pages.free_page(page) };
        }
    }
}

#[cfg(feature = "__test-hooks")]
impl PoppedPage<'_> {
    /// The page's index.
    pub fn index(&self) -> usize {
        self.list.index(self.page)
    }
}

#[cfg(feature = "__test-hooks")]
impl Drop for PoppedPage<'_> {
    fn drop(&mut self) {
        self.list.pages.push(self.page, self.page);
    }
}

impl<T> Drop for Pages<T> {
    /// Frees every page (the ring has dropped its items): those attached and
    /// those on the free list. No other page exists once no thread is in an
    /// operation.
    fn drop(&mut self) {
        let mut free = NonNull::new(self.free.load(Ordering::Relaxed));
        while let Some(page) = free {
            // SAFETY: made by `alloc_page`, on the free list only.
            free = NonNull::new(unsafe { self.header(page) }.free_next.load(Ordering::Relaxed));
            // SAFETY: as above; freed once.
            unsafe { self.free_page(page) };
        }
        for v in 0..self.table.len() {
            if let Some(page) = NonNull::new(untagged(self.entry(v).load(Ordering::Relaxed))) {
                // SAFETY: attached pages are not on the free list; freed once.
                unsafe { self.free_page(page) };
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Pages;
    use std::collections::HashSet;

    /// The free list under contention: threads pop a page and push it back
    /// (and now and then push it back late, after another pop), so pops
    /// meet pushes between their swap and their put-back. Every page must
    /// stay on the list exactly once: none lost, none twice, no cycle. (The
    /// loom models of paged rings never reach the put-back retry; this
    /// runs the real `pop` / `push` many times over.)
    #[test]
    fn the_free_list_keeps_every_page_once_under_contention() {
        let (pages_n, threads, rounds) = if cfg!(miri) { (4, 3, 200) } else { (8, 4, 200_000) };
        /// The threads below share only `push` and `pop`, which work on
        /// atomics and on pages a thread owns (as in the ring, whose
        /// `Shared` is `Sync` on the same grounds).
        struct Shared(Pages<u64>);
        // SAFETY: see above.
        unsafe impl Sync for Shared {}
        let shared = Shared(Pages::<u64>::new(2 * pages_n, 2 * pages_n, 0, 2));
        let pages = &shared.0;
        let mut made = HashSet::new();
        for v in 0..pages_n {
            let page = pages.alloc_page(v, 2 * v);
            made.insert(page.as_ptr() as usize);
            pages.push(page, page);
        }
        std::thread::scope(|s| {
            for t in 0..threads {
                let shared = &shared;
                s.spawn(move || {
                    let pages = &shared.0;
                    let mut held = Vec::new();
                    for r in 0..rounds {
                        if let Some(page) = pages.pop() {
                            held.push(page);
                        }
                        if held.len() > 1 || (r + t) % 3 == 0 {
                            for page in held.drain(..) {
                                pages.push(page, page);
                            }
                        }
                    }
                    for page in held {
                        pages.push(page, page);
                    }
                });
            }
        });
        let mut listed = HashSet::new();
        for page in pages.listed(pages_n) {
            assert!(listed.insert(page.as_ptr() as usize), "a page twice on the list (or a cycle)");
        }
        assert_eq!(listed, made, "every page on the list once");
    }

    /// The test hook's guard (`FreeList`, `PoppedPage`): dropped at every
    /// point it pushes its page back; leaked, its page stays off the list
    /// and is still freed with the list (Miri checks for leaks and double
    /// frees).
    #[cfg(feature = "__test-hooks")]
    #[test]
    fn a_popped_page_goes_back_when_dropped_and_a_leaked_one_is_freed_with_the_list() {
        let list = super::FreeList::new(3);
        assert_eq!(list.listed(), [2, 1, 0]);
        let top = list.pop().expect("three pages");
        assert_eq!(top.index(), 2);
        let next = list.pop().expect("two pages");
        assert_eq!(list.listed(), [0]);
        drop(top);
        assert_eq!(list.listed(), [2, 0]);
        core::mem::forget(next);
        assert_eq!(list.listed(), [2, 0]);
        drop(list.pop());
        assert_eq!(list.listed(), [2, 0]);
        assert_eq!(list.put_back_retries(), 0);
    }
}
