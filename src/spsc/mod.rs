//! The single-producer single-consumer ring: [`Producer`] and [`Consumer`].
//!
//! # Algorithm
//!
//! A classic Lamport ring with free-running positions: the producer owns
//! `tail` (items ever sent), the consumer owns `head` (items ever received),
//! each in its own [`CachePadded`] line, and the number of queued items is
//! `tail - head` in wrapping arithmetic, so the ring holds exactly
//! `capacity` items and positions stay correct across `usize` overflow.
//! Each side also keeps the slot *index* of its own position privately
//! (incremented and reset at the buffer's length), so no division or
//! power-of-two mask is needed and any capacity works.
//!
//! Each side keeps a private cached copy of the other side's position and
//! re-reads the shared one only when the cache says full (producer) or empty
//! (consumer). This is Erik Rigtorp's cached-index technique ("Optimizing a
//! ring buffer for throughput", used in his `SPSCQueue`): in steady state each
//! operation touches only its own cache line and the slot, and the other
//! side's line is read once per "lap" of the cache rather than per item.
//!
//! Hand-over of a value: the producer writes the slot, then stores `tail`
//! with `Release`; the consumer loads `tail` with `Acquire` before reading
//! the slot. Symmetrically the consumer's `Release` store of `head` after
//! moving a value out pairs with the producer's `Acquire` load before it
//! overwrites that slot. On `BusySpin` / `SpinYield` channels those are the
//! only orderings on the try paths: no SeqCst and no read-modify-write.
//! `Park` channels add the notification of `wait.rs` (a compiler fence and a
//! load while nobody sleeps). A receive well behind the producer also hints
//! the CPU to fetch a published line four lines ahead
//! (`Consumer::read_ahead`), and the batch calls hint the lines past what
//! they grant (`Consumer::read_ahead_past`, `Producer::write_ahead_past`):
//! hints, not accesses, so the protocol is as above.
//!
//! # Storage
//!
//! A small ring is one buffer of `capacity` slots, plus, for items of up
//! to a cache line, a *slack* of at least two lines' worth, so that a
//! producer refilling a full ring writes two lines behind the slot its
//! consumer reads next instead of into the line the consumer is reading
//! (which moved that line between the cores twice per item; see
//! `slack_slots` in `segment.rs`). A large one
//! keeps its items in a chain of smaller buffers (*segments*) that grows
//! when the queue does and shrinks after it drains, so that its memory and
//! working set follow what it holds, not its capacity; the capacity is
//! still exact, enforced by the positions. See `segment.rs`. Each handle
//! keeps the slot index of its position *within its current segment*.
//!
//! # Layouts
//!
//! The handles' second type parameter says how the slots are laid out.
//!
//! - [`Packed`], the default (`Producer<T>` is `Producer<T, Packed>`): the
//!   values alone, contiguous, as described above. The consumer learns
//!   what it may read from `tail`. An item that crosses an empty ring
//!   alone therefore moves two cache lines from the producer's core to the
//!   consumer's (`tail`'s, then the slot's), and the producer must win
//!   both back for its next item.
//! - [`Stamped`] ([`Builder::spsc_stamped`]): the slots in groups of a
//!   cache line, each group a stamp word and as many values as fit in the
//!   line beside it (seven `u64`, three `[u64; 2]`, one of 29 to 56 bytes;
//!   a larger item alone beside its stamp). The producer
//!   stores a group's stamp (`Release`, after the value) with one past the
//!   position it has just written there; it publishes in order, so every
//!   position below a stamp is published. A consumer whose cached `tail`
//!   says empty reads the stamp of the group that holds `head` instead of
//!   `tail` and takes every item below it: an item that crosses alone is
//!   one line's hand-over, and a stream is read with one stamp load per
//!   group. The producer still stores `tail` after its stamps, for the
//!   calls that read it (the length, the batch calls, disconnection), but
//!   nothing on the item path reads it, so near empty its line stays in
//!   the producer's cache. Sequence stamps with a consumer index the
//!   producer reads only when its cache says full are Concurrency Kit's
//!   `ck_pring` and the shape of crossbeam's `Slot { stamp, msg }` without
//!   the compare-and-swap (there is one producer); one stamp per line
//!   rather than per slot is the line-granular layout of IFFQ (Maffione et
//!   al., 2019), with the stamp in the line instead of a null value per
//!   slot (items are generic). The stamps are stored relative to the
//!   ring's first position, so the zeroed allocation is the "nothing yet"
//!   state of every group (`StampedGroup` in `src/buffer.rs`).
//!
//! Which wins depends on the regime, and no one layout wins every one
//! (`cargo bench --bench targets -- SPSC`, the `stamped` rows; a 2-vCPU
//! Intel Xeon VM whose cores pass a line in ~130 ns, 2026-12-07 22:0x,
//! three runs; `docs/measurements.md`): near empty, try + spin, the
//! stamped ring ran at 1.51–1.77× rtrb with the least producer work that
//! keeps the regime, where the packed one ran at 0.93–0.97×; free-running
//! at 0.86–1.04× rtrb (packed 0.84–0.97×), its blocking calls at
//! 1.22–1.52× its try + spin (1.09–1.26× in three runs on 2026-12-08
//! 00:2x, at 212–238 M items/s); near full at 1.34–1.40× (packed
//! 1.39–1.46×). When the producer's send is a call per item (`cargo bench
//! --bench handover -- --send-out-of-line`) a free-running packed ring
//! falls into the mode where every item crosses alone and runs at
//! 0.11–0.15× rtrb; the stamped one ran at 0.73–0.76× there. A group
//! costs a stamp word per line (64 bytes for seven `u64`: 9.1 bytes a slot
//! against 8; 21.3 for a `[u64; 2]`, 64 for a `[u64; 4]`, the item and a
//! word for items over 56 bytes), and the stamped ring's chunks
//! ([`Producer::write_chunk_uninit`], [`Consumer::read_chunk`]) are
//! written and read a slot at a time, with no slice views (its values are
//! not contiguous), and it has no segments (it is one flat buffer of its
//! capacity, zeroed, whose pages the kernel backs as the positions first
//! reach them). So: the stamped layout for a hop where items cross one at
//! a time to a consumer that keeps up (the normal state of a
//! well-provisioned low-latency stage), the default where the consumer
//! batches, for the chunk API's slices, and for large capacities that
//! should cost only what they hold. On machines whose cores pass lines
//! quickly the stamped ring's lead near empty is smaller (an in-slot stamp
//! prototype ran at 1.04–1.14× rtrb there on an AMD EPYC Zen 3 VM, `cargo
//! bench --bench handover`) or gone: on a Zen 4 VM whose vCPUs passed a
//! line in ~65 ns (2026-12-08, three `targets` runs) it ran near empty at
//! 0.96–0.98× rtrb, where every ring ran at 0.80–0.93× the work alone's
//! rate, and free-running at 0.80–0.85× (the packed ring 1.09–1.38×);
//! with the same VM's vCPUs far apart it led near empty by 1.10–1.24×.

#[cfg(not(loom))]
mod chunks;
mod layout;
mod segment;
#[cfg(not(loom))]
mod stamped;
#[cfg(not(loom))]
pub use chunks::{ReadChunk, ReadChunkIntoIter, WriteChunkUninit};
pub use layout::{Layout, Packed, Stamped};

use core::ptr::NonNull;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use self::layout::{cell_at, element_of, hint_ptr, Slot};
use self::segment::{Segment, Sizing};
use crate::buffer::{drop_each, wrap_add, Cell, LINE};
use crate::builder::{assert_layout, Builder};
use crate::flow::{wait_until_clear, Congestion, Control, Marks};
use crate::sync::{
    barrier, has_prefetch_write, prefetch_read, prefetch_write, Arc, AtomicBool, AtomicPtr, AtomicUsize, Ordering,
    SPSC_REFILL_GAP_BYTES,
};
#[cfg(not(loom))]
use crate::sync::{spin_until, RECV_SLIP_NS, SLIP_PAYS_ITEMS};
use crate::wait::{send_after_try, send_outcome, short_wait, Progress, WaitOn};
#[cfg(doc)]
use crate::WaitStrategy;
use crate::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

/// Creates a ring holding exactly `capacity` items, with the default
/// [`WaitStrategy::Park`]. Use [`Builder`] for other strategies.
///
/// The capacity is a bound, not an allocation: a ring whose items take more
/// than 256 KiB starts with a 64 KiB buffer and allocates more only while
/// the queue grows past what it holds (and gives it back after the queue
/// drains); see the module docs.
///
/// # Panics
///
/// If `capacity` is 0, or if `capacity` items of `T` would not fit in one
/// allocation.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ringflow::spsc::channel::<u64>(2);
/// tx.try_send(1).unwrap();
/// tx.try_send(2).unwrap();
/// assert!(tx.try_send(3).unwrap_err().is_full()); // 3 is handed back
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    Builder::new(capacity).spsc()
}

impl Builder {
    /// Builds a single-producer single-consumer ring.
    ///
    /// # Panics
    ///
    /// If `capacity` items of `T` would not fit in one allocation.
    pub fn spsc<T>(self) -> (Producer<T>, Consumer<T>) {
        self.spsc_with_layout()
    }

    /// Builds a single-producer single-consumer ring of the [`Stamped`]
    /// layout: a stamp word per cache line of items (seven `u64` to a
    /// line), in that line, so that an item crossing an empty ring moves one
    /// cache line between the cores instead of two.
    /// See the [module docs](crate::spsc#layouts) for when it pays. Its
    /// handles have every method of the default layout's but the chunks'
    /// slice views (`as_mut_slices`, `as_slices`): their chunks are written
    /// and read a slot at a time (`get_mut`, `fill_from_iter`, `get`,
    /// `iter`, the owning iterator).
    ///
    /// A stamped ring is always one flat buffer of `capacity` slots and a
    /// small slack, in whole groups, allocated zeroed: the kernel backs its pages as the
    /// positions first reach them, so its memory grows to the whole
    /// capacity only after the first lap (the default layout keeps large
    /// rings in segments that follow the queue: see the module docs).
    ///
    /// # Panics
    ///
    /// If `capacity` slots would not fit in one allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::{spsc, Builder};
    /// let (mut tx, mut rx): (spsc::Producer<u64, spsc::Stamped>, _) = Builder::new(64).spsc_stamped();
    /// tx.send(7).unwrap();
    /// assert_eq!(rx.recv(), Ok(7));
    /// ```
    pub fn spsc_stamped<T>(self) -> (Producer<T, Stamped>, Consumer<T, Stamped>) {
        self.spsc_with_layout()
    }

    /// Builds a single-producer single-consumer ring of layout `L`:
    /// [`spsc`](Builder::spsc) for [`Packed`],
    /// [`spsc_stamped`](Builder::spsc_stamped) for [`Stamped`]. For code
    /// generic over the layout.
    ///
    /// # Panics
    ///
    /// As the layout's own builder.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::{spsc, Builder};
    /// fn pair<L: spsc::Layout>() -> (spsc::Producer<u32, L>, spsc::Consumer<u32, L>) {
    ///     Builder::new(8).spsc_with_layout()
    /// }
    /// let (mut tx, mut rx) = pair::<spsc::Stamped>();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn spsc_with_layout<T, L: Layout>(self) -> (Producer<T, L>, Consumer<T, L>) {
        let stamped = <L::Slot<T> as Slot<T>>::STAMPED;
        // A capacity is a bound, but one the ring could reach: the segments
        // it may grow to (at most `capacity` slots each) must be allocatable.
        assert_layout::<L::Slot<T>>(self.capacity);
        // A stamped ring is flat: its consumer reads the stamp of the slot
        // at `head`, which a segment's end would move elsewhere.
        let sizing = if stamped {
            let slot = <L::Slot<T> as Slot<T>>::SLOT_BYTES;
            Sizing::flat(self.capacity, slot, <L::Slot<T> as Slot<T>>::PER, self.segment_slots)
        } else {
            Sizing::new::<T>(self.capacity, self.segment_slots)
        };
        let first = Segment::alloc(sizing.base);
        let shared = Arc::new(Shared::new(&self, first));
        // SAFETY: just allocated, and linked as the consumer's segment.
        let buffer = unsafe { first.as_ref() }.buffer.as_ptr();
        let seg_len = sizing.base;
        let capacity = self.capacity;
        let park = self.park_barrier();
        let marks = self.flow_marks();
        let plain = park.is_none() && marks.is_none();
        let producer = Producer {
            tail: self.start,
            tail_base: self.start,
            cached_head: self.start,
            // A flat ring's buffer is longer than its capacity (`segment.rs`).
            limit: self.start.wrapping_add(seg_len.min(capacity)),
            capacity,
            seg_len,
            segment: first,
            seg_start: self.start,
            origin: self.start,
            sizing,
            buffer,
            park,
            marks,
            check_at: marks.map_or(usize::MAX, |m| m.high),
            plain,
            shared: shared.clone(),
        };
        let consumer = Consumer {
            head: self.start,
            head_base: self.start,
            cached_tail: self.start,
            capacity,
            seg_len,
            segment: first,
            segmented: sizing.segmented,
            origin: self.start,
            buffer,
            park,
            marks,
            check_below: marks.map_or(0, |m| m.low + 1),
            plain,
            hint_waits: true,
            shared,
        };
        (producer, consumer)
    }
}

/// State shared by the two handles.
struct Shared<T, L: Layout> {
    /// Consumer position: the start position plus the number of items ever
    /// received, wrapping. Written only by the consumer (`Release`, after
    /// moving the value out); `tail - head <= capacity` at all times.
    head: CachePadded<AtomicUsize>,
    /// Producer position: the start position plus the number of items ever
    /// sent, wrapping. Written only by the producer (`Release`, after writing
    /// the slot). Slots for positions `head..tail` hold initialised values.
    tail: CachePadded<AtomicUsize>,
    /// Read-mostly state: written only on disconnection or by a sleeper.
    cold: CachePadded<Cold<T, L>>,
    capacity: usize,
}

struct Cold<T, L: Layout> {
    /// `false` once the producer is dropped; stored (`Release`) after its
    /// last `tail` store, so a consumer that sees `false` and then re-reads
    /// `tail` sees every item.
    producer_alive: AtomicBool,
    /// `false` once the consumer is dropped.
    consumer_alive: AtomicBool,
    /// Slot index of `head` and the segment it is in, written by the
    /// consumer when it drops so that the last handle can drop the queued
    /// items (and free the segments). Meaningful only once the consumer is
    /// gone.
    head_idx: AtomicUsize,
    head_segment: AtomicPtr<Segment<T, L>>,
    /// Wait strategy, sleepers, congestion flag and counters.
    ctl: Control,
}

impl<T, L: Layout> Shared<T, L> {
    /// The shared state of a ring whose items start in segment `first`.
    fn new(b: &Builder, first: NonNull<Segment<T, L>>) -> Self {
        Shared {
            head: CachePadded::new(AtomicUsize::new(b.start)),
            tail: CachePadded::new(AtomicUsize::new(b.start)),
            cold: CachePadded::new(Cold {
                producer_alive: AtomicBool::new(true),
                consumer_alive: AtomicBool::new(true),
                head_idx: AtomicUsize::new(0),
                head_segment: AtomicPtr::new(first.as_ptr()),
                ctl: Control::new(b.strategy, b.move_threads),
            }),
            capacity: b.capacity,
        }
    }
}

impl<T, L: Layout> Drop for Shared<T, L> {
    fn drop(&mut self) {
        // Both handles are gone (this is the last `Arc`), so nothing moves.
        // The queued items are `head..tail`, starting at slot `head_idx` of
        // the consumer's segment and running on through the segments that
        // follow it, each up to its `end` (the last one up to `tail`).
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        debug_assert!(tail.wrapping_sub(head) <= self.capacity);
        // Each segment with the slot its items start at and their number.
        // Freed by the guard's `Drop`, after the items (also on unwind).
        type Run<T, L> = (NonNull<Segment<T, L>>, usize, usize);
        struct Segments<T, L: Layout>(Vec<Run<T, L>>);
        impl<T, L: Layout> Drop for Segments<T, L> {
            fn drop(&mut self) {
                for &(segment, _, _) in &self.0 {
                    // SAFETY: each segment of the chain is listed once,
                    // came from `Segment::alloc`, and nothing uses it now.
                    unsafe { Segment::free(segment) };
                }
            }
        }
        let mut segments = Segments(Vec::new());
        let mut segment = NonNull::new(self.cold.head_segment.load(Ordering::Relaxed)).expect("always set");
        let (mut pos, mut idx) = (head, self.cold.head_idx.load(Ordering::Relaxed));
        loop {
            // SAFETY: every segment from the consumer's on is alive (only
            // the consumer frees segments, and only those it has left).
            let closed = unsafe { segment.as_ref() }.closed();
            let end = closed.map_or(tail, |(end, _)| end);
            segments.0.push((segment, idx, end.wrapping_sub(pos)));
            let Some((_, next)) = closed else { break };
            (segment, pos, idx) = (next, end, 0);
        }
        let total = tail.wrapping_sub(head);
        let (mut at, mut done_here) = (0, 0);
        drop_each(total, |_| {
            // The next item: skip segments whose items are all dropped.
            while done_here == segments.0[at].2 {
                (at, done_here) = (at + 1, 0);
            }
            let (segment, start, _) = segments.0[at];
            done_here += 1;
            // SAFETY: the segment is alive (freed only by the guard).
            let seg = unsafe { segment.as_ref() };
            let idx = wrap_add(start, done_here - 1, seg.slots);
            // SAFETY: `idx < slots`; the slot holds one of the items in
            // `head..tail` stored in this segment, initialised and
            // unreachable by anyone else (both handles are gone);
            // `drop_each` visits each item once.
            unsafe { cell_at::<T, L::Slot<T>>(seg.buffer.as_ptr(), idx).with_mut(|p| (*p).assume_init_drop()) };
        });
    }
}

/// The sending half of an SPSC ring. Methods that move values take
/// `&mut self`: there is exactly one producer, and the type system enforces
/// it (the handle is `Send` but not `Clone`).
///
/// `Producer<T>` is `Send` when `T: Send`, and never `Send` otherwise:
///
/// ```compile_fail
/// fn assert_send<S: Send>(_: &S) {}
/// let (tx, _rx) = ringflow::spsc::channel::<std::rc::Rc<u8>>(1);
/// assert_send(&tx);
/// ```
// Aligned to 128 bytes (two cache lines: adjacent-line prefetchers fetch
// lines in pairs): the handle's own fields are written on every operation,
// and without this they may share a line with the other side's handle,
// wherever the two are allocated (e.g. moved into two boxed thread
// closures, which the allocator places next to each other). Measured:
// `cargo bench --bench handover`, near-full rows.
#[repr(align(128))]
pub struct Producer<T, L: Layout = Packed> {
    /// Private copy of `shared.tail`; the producer is its only writer, so it
    /// is always exact.
    tail: usize,
    /// The position at slot 0 of the producer's segment in the current lap:
    /// `tail - tail_base` (wrapping) is `tail`'s slot index, always
    /// `< seg_len`. Moves on by `seg_len` when `tail` wraps to slot 0. (One
    /// field written per send, not two: with a separate slot index the
    /// free-running try + spin row ran at 428 M/s against 486, vCPUs close
    /// together, `cargo bench --bench targets`; the near-empty and near-full
    /// rows run at the work's ceiling there and did not move.) The
    /// subtraction is modulo 2^64, so
    /// only a segment of more than `usize::MAX / 2` slots, which only a
    /// zero-sized `T` can have, can see an index off by the wrap; it is
    /// still `< seg_len`, and every slot of a zero-sized `T` is the same
    /// empty place.
    tail_base: usize,
    /// Last value read from `shared.head`. `head` only grows, so this is a
    /// lower bound: the producer may think the ring fuller than it is, never
    /// emptier. Invariant: `tail - cached_head <= capacity`.
    cached_head: usize,
    /// The position up to which the producer may write without looking at
    /// `head` again: `tail` plus the free slots as last computed, the
    /// smaller of the ring's room (`cached_head + capacity`) and the room
    /// in its segment. Invariant: `limit - tail <= capacity`, and every slot
    /// of the producer's segment for `tail..limit` is free.
    limit: usize,
    capacity: usize,
    /// Length of the producer's segment (for a flat ring, `capacity` plus
    /// its slack: `segment.rs`).
    seg_len: usize,
    /// The producer's segment: the last of the chain, never freed while the
    /// producer is alive (the consumer frees only segments it has left,
    /// which are closed).
    segment: NonNull<Segment<T, L>>,
    /// The position stored at slot 0 of the producer's segment, or any later
    /// position up to `head` once the consumer is known to be in this
    /// segment: items in this segment are those at and after
    /// `max(head, seg_start)`.
    seg_start: usize,
    /// The ring's first position: the stamp encoding's origin
    /// ([`layout::Slot`]). Read only by the [`Stamped`] layout.
    origin: usize,
    sizing: Sizing,
    /// The segment's buffer, copied to save a pointer chase per operation.
    buffer: NonNull<L::Slot<T>>,
    /// `Some` on `Park` channels: notify sleeping consumers after each send.
    park: Option<barrier::Kind>,
    /// `Some` when watermarks are configured.
    marks: Option<Marks>,
    /// `marks.high`, or `usize::MAX` without watermarks: a send looks at the
    /// congestion flag only once the cached length (`tail - cached_head`)
    /// reaches it, so the common case is one compare of two fields of this
    /// handle, with or without watermarks.
    check_at: usize,
    /// Neither `park` nor `marks` (a copy of what they say, kept so that
    /// the common case is one branch): nothing runs after a store of `tail`
    /// (`publish_tail` returns at once). The two checks it skips, each a
    /// load and a branch never taken on such a channel, held a `BusySpin`
    /// try path's free-running streaming rounds at 233–270 M items/s,
    /// 277–311 without (2-vCPU Zen 3 VM; near-empty and near-full rows
    /// within their spread; `docs/measurements.md`, 2026-12-07). `Park` and
    /// watermark channels pay one branch more.
    plain: bool,
    shared: Arc<Shared<T, L>>,
}

/// The receiving half of an SPSC ring. Methods that move values take
/// `&mut self`; see [`Producer`].
///
/// `Consumer<T>` is `Send` when `T: Send`; it is `Sync` only when `T` is
/// also `Sync`, because [`peek`](Consumer::peek) hands out `&T`:
///
/// ```compile_fail
/// fn assert_sync<S: Sync>(_: &S) {}
/// let (_tx, rx) = ringflow::spsc::channel::<std::cell::Cell<u8>>(1);
/// assert_sync(&rx);
/// ```
// Aligned to 128 bytes for the reason given on `Producer`.
#[repr(align(128))]
pub struct Consumer<T, L: Layout = Packed> {
    /// Private copy of `shared.head`; always exact.
    head: usize,
    /// The position at slot 0 of the consumer's segment in the current lap:
    /// `head - head_base` is `head`'s slot index, always `< seg_len` (as
    /// `Producer::tail_base`).
    head_base: usize,
    /// Last value read from `shared.tail`, clamped to the `end` of the
    /// consumer's segment: what may be read without looking again.
    /// Invariant: `cached_tail - head <= seg_len` and every position in
    /// `head..cached_tail` is an initialised slot of the consumer's segment.
    cached_tail: usize,
    capacity: usize,
    /// Length of the consumer's segment.
    seg_len: usize,
    /// The segment the consumer reads: the first of the chain. The consumer
    /// frees it when it moves to the next.
    segment: NonNull<Segment<T, L>>,
    /// `false` for a flat ring (one segment, never closed): then `tail`
    /// needs no clamping.
    segmented: bool,
    /// As `Producer::origin`.
    origin: usize,
    /// The segment's buffer.
    buffer: NonNull<L::Slot<T>>,
    /// `Some` on `Park` channels: notify sleeping producers after each receive.
    park: Option<barrier::Kind>,
    /// `Some` when watermarks are configured.
    marks: Option<Marks>,
    /// `marks.low + 1`, or 0 without watermarks: a receive looks at the
    /// congestion flag only when the cached length (`cached_tail - head`, a
    /// lower bound of the length) is below it. A larger cached length
    /// proves this removal did not drain the ring to `low`, so there is
    /// nothing to lower (see `flow.rs`); the common case is one compare.
    check_below: usize,
    /// Neither `park` nor `marks`: nothing runs after a store of `head`
    /// (`store_head` returns at once; see `Producer::plain`).
    plain: bool,
    /// Whether a blocking receive's wait prefetches the slot its next item
    /// lands in ([`Consumer::prefetch_next`]): `true` while the waits end
    /// with the one item they waited for (a hand-over the consumer waits
    /// out, as in a ping-pong), `false` while they end with more behind it
    /// (a stream the consumer keeps up with); set when a plain `recv`'s
    /// wait ends. `false` also makes a plain `recv`'s next wait slip first
    /// ([`Consumer::slip`]); a slip that did not pay sets it `true`.
    hint_waits: bool,
    shared: Arc<Shared<T, L>>,
}

// SAFETY: the handles move `T` values between threads (so `T: Send` is
// required) and share only atomics and the slot array, whose accesses are
// synchronised by the head/tail protocol described in the module docs.
unsafe impl<T: Send, L: Layout> Send for Producer<T, L> {}
// SAFETY: as for `Producer`.
unsafe impl<T: Send, L: Layout> Send for Consumer<T, L> {}
// SAFETY: every method that touches a `T` or the handle's private fields
// needs `&mut self`. Through `&Producer` only these are callable: `len`,
// `capacity`, `is_empty`, `is_full`, `is_disconnected`, `wait_strategy` and
// `stats` (loads of atomics); `congestion()`, which may also CAS the
// channel's congestion flag, run a barrier and wake `wait_until_clear`
// callers; and `wait_until_clear`, which may park on the channel's sleeper
// registry (a `Mutex` / `Condvar` pair). All of that is shared state of the
// channel built for concurrent use (atomics, `Mutex`, `Condvar`), so sharing
// the handle between threads is sound.
unsafe impl<T: Send, L: Layout> Sync for Producer<T, L> {}
// SAFETY: through `&Consumer` only the introspection methods are callable
// (as for `Producer`: atomics, the congestion flag and its wake-ups).
// `peek` needs `&mut self` today, but the `&T` it hands out may be read
// while the `Consumer` is shared, so `T: Sync` is required as well; this
// keeps the bound right if a shared peek is ever added.
unsafe impl<T: Send + Sync, L: Layout> Sync for Consumer<T, L> {}

impl<T, L: Layout> Producer<T, L> {
    /// Sends `value` if there is room, without waiting.
    ///
    /// Never enters the kernel on `BusySpin` / `SpinYield` channels, but
    /// through the allocator on a segmented ring (items of more than 256 KiB
    /// in all), when it opens a segment; on a `Park` channel it may wake a
    /// parked consumer (one system call, only when one is parked).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the ring holds `capacity` items;
    /// [`TrySendError::Disconnected`] if the consumer is gone (even if there
    /// is room). Either way the value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::TrySendError;
    /// let (mut tx, rx) = ringflow::spsc::channel(1);
    /// assert_eq!(tx.try_send('a'), Ok(()));
    /// assert_eq!(tx.try_send('b'), Err(TrySendError::Full('b')));
    /// drop(rx);
    /// assert_eq!(tx.try_send('c'), Err(TrySendError::Disconnected('c')));
    /// ```
    // Always inline, as `try_recv` is: `send` is this call plus a branch to
    // the out-of-line wait, and with `#[inline]` LLVM kept this one out of
    // line inside `send` in some callers' loops, a call per item on the
    // blocking path (`objdump` of the latency bench: 23 calls, two of them
    // in its threads' loops; the suite bench 75; none since). In
    // `targets` a few instructions more here had the same effect and cost
    // the blocking rows a fifth (`docs/measurements.md`, 2026-12-06 15:3x).
    #[inline(always)]
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        let shared = &*self.shared;
        // Carries no data, so Relaxed: it only has to be eventually seen.
        if !shared.cold.consumer_alive.load(Ordering::Relaxed) {
            return Err(TrySendError::Disconnected(value));
        }
        if self.free_slots(1) == 0 {
            return Err(TrySendError::Full(value));
        }
        let idx = self.tail_idx();
        // SAFETY: `tail_idx() < seg_len`.
        let element = unsafe { self.slot(idx) };
        // SAFETY: `tail` is before `limit`, so the slot is free: no value
        // lives there and the consumer does not read it until we publish it
        // below (its group's stamp, then `tail`).
        unsafe { element.cell(idx % <L::Slot<T> as Slot<T>>::PER).with_mut(|p| (*p).write(value)) };
        // One item: its element is at hand, so the stamp is stored there
        // rather than found again from `tail` by `stamp` (a second division
        // by the slots per group, and reloads of the position after the
        // value's store: 72 instructions a send of a `u64` then, 61 now,
        // callgrind, 2026-12-08).
        if <L::Slot<T> as Slot<T>>::STAMPED {
            element.publish(self.origin, self.tail);
        }
        self.publish_tail_after_stamps(1);
        Ok(())
    }

    /// The producer's side of [`Consumer::read_ahead_past`]: after granting
    /// `granted` slots, ask for the lines of the next [`READ_AHEAD_BYTES`] of
    /// free slots past them for writing (`prefetchw`, where the CPU has it),
    /// so that the next batch writes into lines already owned. Only free
    /// slots as the cached `head` shows, which the consumer does not read.
    /// (For one item at a time the same hint brought back the slow mode of
    /// #11; batches did not show it.) Measured on top of the consumer's hint
    /// (`targets`, 25 alternated runs): batches of 64 over rtrb's chunks
    /// 1.24× → 1.27× close together, 1.29× → 1.45× far apart; both hints
    /// against neither (20 runs): 1.19× → 1.22× close together, 1.15× →
    /// 1.52× far apart, per-run medians 1.16× → 1.26×.
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
    fn write_ahead_past(&self, granted: usize) {
        if !has_prefetch_write() {
            return;
        }
        let free = self.limit.wrapping_sub(self.tail);
        hint_lines_past::<T, L::Slot<T>>(
            self.buffer,
            self.tail_idx(),
            self.seg_len,
            granted,
            free,
            BATCH_WRITE_AHEAD_SPANS,
            prefetch_write,
        );
    }

    /// Free slots as far as the producer can tell (in its segment, all
    /// contiguous up to wrapping), refreshing its cached copy of `head` only
    /// if the cache shows fewer than `want`.
    #[inline(always)]
    fn free_slots(&mut self, want: usize) -> usize {
        let free = self.limit.wrapping_sub(self.tail);
        if free >= want {
            return free;
        }
        // Acquire pairs with the consumer's Release store of `head`, so its
        // reads of the slots we are about to overwrite have finished.
        self.cached_head = self.shared.head.load(Ordering::Acquire);
        if self.sizing.segmented {
            return self.segment_room();
        }
        self.limit = self.cached_head.wrapping_add(self.capacity);
        self.limit.wrapping_sub(self.tail)
    }

    /// `free_slots` of a segmented ring, after refreshing `cached_head`:
    /// the room in the producer's segment, after moving to a larger segment
    /// if it is full and the ring is not, or to a smaller one if the queue
    /// has shrunk to a quarter of it.
    #[cold]
    #[inline(never)]
    fn segment_room(&mut self) -> usize {
        let queued = self.tail.wrapping_sub(self.cached_head);
        let ring_free = self.capacity - queued;
        let mut here = self.tail.wrapping_sub(self.seg_start);
        if here >= queued {
            // The consumer is in this segment: every queued item is here.
            self.seg_start = self.cached_head;
            here = queued;
            if let Some(len) = self.sizing.shrunk(self.seg_len, queued) {
                self.open_segment(len);
                here = 0;
            }
        }
        if here == self.seg_len && ring_free > 0 {
            self.open_segment(self.sizing.grown(self.seg_len, ring_free));
            here = 0;
        }
        let free = ring_free.min(self.seg_len - here);
        self.limit = self.tail.wrapping_add(free);
        free
    }

    /// Closes the producer's segment at `tail` and continues in a new one of
    /// `len` slots (see `segment.rs`).
    fn open_segment(&mut self, len: usize) {
        let next = Segment::alloc(len);
        // SAFETY: the producer's segment is alive while the producer is (the
        // consumer frees only closed segments it has left, and this one is
        // closed only here); the producer no longer uses it after this call.
        unsafe { Segment::close(self.segment, self.tail, next) };
        self.segment = next;
        // SAFETY: `next` was just allocated and is linked into the chain.
        self.buffer = unsafe { next.as_ref() }.buffer.as_ptr();
        self.seg_len = len;
        self.tail_base = self.tail;
        self.seg_start = self.tail;
    }

    /// Publishes the next `n` slots, which the caller has initialised: one
    /// Release store of `tail` however large `n` is, then the notification
    /// and congestion check.
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
    fn publish_tail(&mut self, n: usize) {
        if <L::Slot<T> as Slot<T>>::STAMPED {
            self.stamp(n);
        }
        self.publish_tail_after_stamps(n);
    }

    /// `publish_tail` after the stamps: moves `tail` past the next `n`
    /// slots, which the caller has initialised (and stamped, in the
    /// [`Stamped`] layout), stores it, then the notification and congestion
    /// check. (It publishes, unlike the consumer's `advance_head`, which
    /// only moves the private position.)
    #[inline(always)]
    fn publish_tail_after_stamps(&mut self, n: usize) {
        debug_assert!(n <= self.limit.wrapping_sub(self.tail));
        self.tail = self.tail.wrapping_add(n);
        next_lap(self.tail, &mut self.tail_base, self.seg_len);
        let shared = &*self.shared;
        // Publish: the consumer's Acquire load of `tail` makes the writes
        // visible before it reads the slots.
        shared.tail.store(self.tail, Ordering::Release);
        if self.plain {
            return;
        }
        if let Some(kind) = self.park {
            shared.cold.ctl.recv_waiters.notify(kind);
        }
        if self.tail.wrapping_sub(self.cached_head) >= self.check_at {
            self.after_send_flow();
        }
    }

    /// [`Stamped`] layout: publishes the next `n` slots, which the caller
    /// has initialised, in their groups' stamps (a `Release` store after the
    /// values' writes: one for each group the slots end in, and one for the
    /// last slot), before `publish_tail` stores `tail`. A consumer that
    /// reads a stamp may read every slot below it; `tail` still covers every
    /// item for the calls that read it (the length, the batch calls,
    /// disconnection, the wait's re-check of the default layout).
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
    fn stamp(&self, n: usize) {
        let per = <L::Slot<T> as Slot<T>>::PER;
        let first = self.tail_idx();
        for k in 0..n {
            // `k < n <= seg_len`, as `wrap_add` needs.
            let idx = wrap_add(first, k, self.seg_len);
            if k + 1 == n || (idx + 1) % per == 0 || idx + 1 == self.seg_len {
                // SAFETY: `idx < seg_len`.
                unsafe { self.slot(idx) }.publish(self.origin, self.tail.wrapping_add(k));
            }
        }
    }

    /// Sends `value`, waiting for room as the channel's [`WaitStrategy`] says.
    ///
    /// May enter the kernel on `SpinYield` (yielding) and `Park` (parking,
    /// waking the consumer) channels; never on `BusySpin`.
    ///
    /// On a full ring of at least four times 512 bytes of slots (not a
    /// segmented one), a wait that spins first lets the consumer free 512
    /// bytes of slots, or one slot of a larger item (at most 64 spin
    /// hints: 0.6–1.4 µs on the machines measured) before it refills, so
    /// that the two threads do not trade one cache line per item; a
    /// consumer that frees less in that time only delays the send by it.
    /// [`try_send`](Producer::try_send) never waits.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the consumer is gone, whether before
    /// the call or while waiting.
    // Always inline, so that the try path sits in the caller's loop as
    // `try_send` does: with `#[inline]` LLVM kept `send` / `recv` out of
    // line in a loop that also did other work (the bench's adapters), and
    // free-running blocking ran at 0.60-0.77x of the try path against
    // 1.04-1.14x inlined (`cargo bench --bench targets`, vCPUs close).
    #[inline(always)]
    pub fn send(&mut self, value: T) -> Result<(), SendError<T>> {
        // Fast path inline; a wait starts with a short wait
        // (`wait::short_wait`) before the out-of-line driver.
        send_after_try(self.try_send(value), |v| self.send_waiting(v))
    }

    /// The plain `send`'s wait after a failed attempt: the short wait,
    /// then the driver. (SPSC only: measured in `benches/targets.rs`,
    /// free-running, blocking vs own `try_send`, vCPUs far apart: 0.56×
    /// without it, 0.98× with it; the MPMC rows were 4–11% slower with it,
    /// so the MPMC and broadcast handles go to the driver directly.)
    ///
    /// A call here, inlined in `recv_waiting`: free-running blocking vs own
    /// try, single-round `targets` runs alternated between builds and
    /// classified by the placement probe (medians, `BusySpin` / `Park`):
    /// both inlined, close together 0.58 / 0.57, far apart 0.99 / 0.96
    /// (and `send` + `recv` 83 instructions against the try path's 68);
    /// both calls, 0.81 / 0.79 close, 0.50 / 0.58 far; this way, 0.73 /
    /// 0.67 close, 1.04 / 1.09 far (22 and 6 runs), at the price of
    /// `send` + `recv` taking 83 instructions (callgrind, `BusySpin`; `Park`
    /// 94 against 80); send inlined and receive a call was the worst far
    /// apart (0.40 / 0.43). All of these were measured while `send` / `recv`
    /// themselves were `#[inline]`; since they are `#[inline(always)]` the
    /// same free-running rows read 0.89–1.14 close together and 0.90–1.00
    /// far apart (`docs/measurements.md`). Compared again on 2026-12-06 (a
    /// Zen 3 VM, eight alternated pairs of `targets --rounds 7 SPSC`): both
    /// calls, as now, free-running `BusySpin` / `Park` over own try 0.99–1.00
    /// / 0.95–0.99 close together (0.93–0.94 / 0.90–0.91 with
    /// `recv_waiting` inlined), far apart and near-empty within the spread.
    #[inline(never)]
    fn send_waiting(&mut self, value: T) -> Result<(), SendTimeoutError<T>> {
        // The ring was full: let the consumer get a gap ahead first, before
        // the short wait's first spin hint (9–22 ns on the machines
        // measured, paid once per run of slots by a free-running producer:
        // with the gap after it, the blocking rows lost about a tenth). A
        // ring too small for a gap skips the check.
        if self.refill_gap() != 0 && self.waiting().spins_first() {
            self.let_consumer_ahead();
        }
        let mut op = &mut *self;
        match short_wait(&mut op, value) {
            Ok(done) => send_outcome(Ok(done)),
            Err(value) => self.send_until(value, None, true),
        }
    }

    timed_forms!(send, mut;
        /// Sends `value`, waiting at most `timeout` for room. A timeout too large
        /// to add to the current time means no deadline.
        ///
        /// # Errors
        ///
        /// [`SendTimeoutError::Timeout`] if the ring stayed full;
        /// [`SendTimeoutError::Disconnected`] if the consumer is gone. Either way
        /// the value is handed back.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// let (mut tx, _rx) = ringflow::spsc::channel(1);
        /// tx.send(1).unwrap();
        /// let err = tx.send_timeout(2, Duration::from_millis(5)).unwrap_err();
        /// assert!(err.is_timeout());
        /// assert_eq!(err.into_inner(), 2);
        /// ```
        ;
        /// Sends `value`, waiting for room until `deadline`. A deadline already
        /// past means exactly one attempt.
        ///
        /// # Errors
        ///
        /// As [`send_timeout`](Producer::send_timeout).
    );

    /// Number of queued items. It may be stale by the time it returns (the
    /// consumer keeps receiving), but it never exceeds
    /// [`capacity`](Producer::capacity).
    pub fn len(&self) -> usize {
        let head = self.shared.head.load(Ordering::Acquire);
        self.tail.wrapping_sub(head).min(self.capacity)
    }

    handle_introspection!(capacity: |this| this.capacity, control: |this| &this.shared.cold.ctl, marks: |this| this.marks);

    /// `true` once the consumer has been dropped. Once true it stays true.
    pub fn is_disconnected(&self) -> bool {
        !self.shared.cold.consumer_alive.load(Ordering::Acquire)
    }

    /// Waits until the channel is [`Congestion::Clear`] (or `deadline`
    /// passes, or the consumer is gone) and returns the state then. Returns
    /// at once without watermarks. Waits with the channel's strategy; on
    /// `Park` channels the consumer that clears the flag wakes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::{Builder, Congestion};
    /// let (mut tx, mut rx) = Builder::new(4).watermarks(1, 3).spsc::<u8>();
    /// for i in 0..3 { tx.send(i).unwrap(); }
    /// assert_eq!(tx.congestion(), Congestion::Congested); // at `high`
    /// let t = std::thread::spawn(move || { while rx.recv().is_ok() {} });
    /// assert_eq!(tx.wait_until_clear(None), Congestion::Clear); // drained to `low`
    /// drop(tx);
    /// t.join().unwrap();
    /// ```
    pub fn wait_until_clear(&self, deadline: Option<Instant>) -> Congestion {
        let shared = &*self.shared;
        wait_until_clear(&shared.cold.ctl, self.park, deadline, || self.congestion(), || self.is_disconnected())
    }

    /// Test hook, not part of the public API (feature `__test-hooks`): the
    /// number of slots of the segment the producer writes to (for a flat
    /// ring, `capacity` plus a slack of a few slots: see `segment.rs`).
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn __segment_len(&self) -> usize {
        self.seg_len
    }

    /// After a send whose cached view of the length (an upper bound)
    /// reached `high`: raise the flag if the length really did. Refreshes
    /// `head` only while the flag is `Clear`.
    #[cold]
    #[inline(never)]
    fn after_send_flow(&mut self) {
        let Some(marks) = self.marks else { return };
        let ctl = &self.shared.cold.ctl;
        if ctl.is_congested() {
            return;
        }
        self.cached_head = self.shared.head.load(Ordering::Acquire);
        if self.tail.wrapping_sub(self.cached_head) >= marks.high {
            let shared = &*self.shared;
            let tail = self.tail;
            ctl.raise(marks, || tail.wrapping_sub(shared.head.load(Ordering::Acquire)));
        }
    }

    /// Slot index of `tail` in the producer's segment, `< seg_len`.
    #[inline(always)]
    fn tail_idx(&self) -> usize {
        self.tail.wrapping_sub(self.tail_base)
    }

    /// The cell for slot `idx` of the producer's segment.
    ///
    /// # Safety
    ///
    /// `idx < seg_len`.
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
    unsafe fn cell(&self, idx: usize) -> &Cell<T> {
        debug_assert!(idx < self.seg_len);
        // SAFETY: the caller's contract (`idx` is below the buffer's slots),
        // and the buffer outlives the handle's borrow.
        unsafe { cell_at::<T, L::Slot<T>>(self.buffer, idx) }
    }

    /// The element (a stamped group, or the cell itself) that holds slot
    /// `idx` of the producer's segment.
    ///
    /// # Safety
    ///
    /// `idx < seg_len`.
    #[inline(always)]
    unsafe fn slot(&self, idx: usize) -> &L::Slot<T> {
        debug_assert!(idx < self.seg_len);
        // SAFETY: the caller guarantees `idx < seg_len`, the buffer's slots;
        // the producer's segment lives as long as the producer.
        unsafe { element_of::<T, L::Slot<T>>(self.buffer, idx) }
    }
}

/// Moves a handle's lap base (`Producer::tail_base` /
/// `Consumer::head_base`) one lap on once its position, moved to `pos` by
/// at most `seg_len` from a slot index below `seg_len`, reached index
/// `seg_len`, so that `pos - base` is again the slot index.
#[inline(always)]
fn next_lap(pos: usize, base: &mut usize, seg_len: usize) {
    if pos.wrapping_sub(*base) >= seg_len {
        *base = base.wrapping_add(seg_len);
    }
}

handle_blocking!(send[L: Layout]: Producer<T, L>, attempt: try_send, first_pause: let_consumer_ahead);

impl<T, L: Layout> Drop for Producer<T, L> {
    fn drop(&mut self) {
        let cold = &self.shared.cold;
        // Release: a consumer that sees `false` sees every `tail` store.
        cold.producer_alive.store(false, Ordering::Release);
        cold.ctl.wake_everyone();
    }
}

/// How far ahead of `head` a receive asks for a published line, in bytes of
/// slots: four cache lines (see `Consumer::read_ahead`), as the MPMC
/// take-ahead (`sync::TAKE_AHEAD_BYTES`).
pub(super) const READ_AHEAD_BYTES: usize = 256;

/// How far past a batch's grant the consumer asks for published lines, in
/// spans of [`READ_AHEAD_BYTES`]: two, eight lines, the whole next batch of
/// 64 `u64` (see [`Consumer::read_ahead_past`]).
const BATCH_READ_AHEAD_SPANS: usize = 2;

/// How far past a batch's grant the producer asks for free lines for
/// writing, in spans of [`READ_AHEAD_BYTES`]: one (two moved nothing; see
/// [`Producer::write_ahead_past`]).
const BATCH_WRITE_AHEAD_SPANS: usize = 1;

/// The read and write hints' geometry for items of type `T`: slots per
/// cache line, and slots in [`READ_AHEAD_BYTES`]; `None` (no hints) for
/// zero-sized items and items larger than a line. Constant for each `T`.
#[inline(always)]
pub(super) const fn hint_geometry(size: usize) -> Option<(usize, usize)> {
    if size == 0 || size > LINE {
        None
    } else {
        Some((LINE / size, READ_AHEAD_BYTES / size))
    }
}

/// The slot whose line [`Consumer::read_ahead`] asks for, if any: with the
/// consumer at slot `idx` of a segment of `seg_len` slots and `queued` items
/// readable as its cached `tail` shows, the slot [`READ_AHEAD_BYTES`] ahead
/// (wrapping at the segment's end) when `idx` is a multiple of a line's
/// worth of slots and that slot and a line's worth after it are queued (so
/// every slot of its line is published or already read); `None` otherwise,
/// and always for zero-sized items and items larger than a line.
#[inline(always)]
fn read_ahead_slot(geometry: Option<(usize, usize)>, idx: usize, queued: usize, seg_len: usize) -> Option<usize> {
    let (per_line, ahead) = geometry?;
    // `queued <= seg_len` (the consumer's invariant), so `ahead < seg_len`
    // here, as `wrap_add` needs.
    (idx % per_line == 0 && queued >= ahead + per_line).then(|| wrap_add(idx, ahead, seg_len))
}

/// Offsets from a handle's slot whose lines a batch call hints, after it
/// was granted `granted` slots with `room` slots in all as its cached view
/// shows (queued items for the consumer, free slots for the producer): past
/// the granted slots, a line's worth apart, at most `spans` times
/// [`READ_AHEAD_BYTES`] on, each with a whole line's worth of slots from it
/// inside `room`, so that no hinted line reaches past `room` into slots the
/// other side may be working in (the buffer is not line-aligned: a hinted
/// line may begin before its offset, in the grant or just before the
/// handle's slot, a line this side works in anyway). Empty for zero-sized
/// items and items larger than a line.
#[inline(always)]
#[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
fn lines_past(
    geometry: Option<(usize, usize)>,
    granted: usize,
    room: usize,
    spans: usize,
) -> core::iter::StepBy<core::ops::Range<usize>> {
    let Some((per_line, ahead)) = geometry else {
        return (0..0).step_by(1);
    };
    let end = room.min(granted + spans * ahead);
    // Offsets `k` with `k + per_line <= end`.
    (granted..(end + 1).saturating_sub(per_line).max(granted)).step_by(per_line)
}

/// The batch calls' hints: `hint` ([`prefetch_read`] or [`prefetch_write`])
/// on the slot at each of [`lines_past`]'s offsets from slot `idx` of the
/// segment of `seg_len` slots at `buffer`, after `granted` slots out of
/// `room` (the queued items or the free slots the handle's cache shows),
/// `spans` times [`READ_AHEAD_BYTES`] on at most.
#[inline(always)]
#[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
fn hint_lines_past<T, S: Slot<T>>(
    buffer: NonNull<S>,
    idx: usize,
    seg_len: usize,
    granted: usize,
    room: usize,
    spans: usize,
    hint: fn(*const S),
) {
    for k in lines_past(S::HINT, granted, room, spans) {
        // `k < room <= seg_len`, as `wrap_add` needs.
        hint(hint_ptr::<T, S>(buffer, wrap_add(idx, k, seg_len)));
    }
}

impl<T, L: Layout> Consumer<T, L> {
    /// Makes sure the slot at `head` is readable: refreshes the cached tail
    /// if the cache says empty. `STREAM`: the caller is a blocking receive
    /// (see [`stamp_ready`](Consumer::stamp_ready)).
    #[inline(always)]
    fn ready<const STREAM: bool>(&mut self) -> Result<(), TryRecvError> {
        if self.head == self.cached_tail {
            if <L::Slot<T> as Slot<T>>::STAMPED {
                return self.stamp_ready::<STREAM>();
            }
            self.load_tail();
            if self.head == self.cached_tail {
                return self.empty_or_disconnected();
            }
        }
        Ok(())
    }

    /// [`Stamped`] layout, the cache saying empty: the slot at `head` is
    /// readable if its group's stamp is past `head` (the one hand-over
    /// line: `tail` is not read). Otherwise nothing is there: the producer
    /// stores the stamps before it stores `tail`, so an item whose send
    /// happened before this call has its stamp visible here.
    ///
    /// `STREAM` (a blocking receive, not `try_recv` or `peek`), groups of
    /// four items or more (items of up to 14 bytes): when the receive
    /// enters a group at its first slot and the stamp shows the whole group
    /// published, the producer is a group or more ahead, and the receive
    /// also loads `tail` to see how far (one item at a group's last slot,
    /// as in a ping-pong, is not a group ahead: no look). On a full ring the
    /// consumer then takes the items up to there without a stamp each, and
    /// [`read_ahead`](Consumer::read_ahead) asks for the lines ahead as on
    /// the default layout (the stamps alone show one group, too little for
    /// it): free-running, each group's line was otherwise a miss the
    /// consumer waited for. Near empty the group the consumer enters is
    /// seldom complete, so `tail` is seldom read. Measured on the 2-vCPU
    /// Intel Xeon VM (`targets`, three alternated runs, 2026-12-07 21:4x):
    /// free-running `BusySpin` 185 → 247 M items/s (over own try + spin
    /// 0.96× → 1.23×), `Park` 174 → 214 (0.93× → 1.06×); near empty the
    /// blocking rows 16.3–17.0 → 17.9–18.0; near full 17.5–18.0 → 17.0.
    /// Not in `try_recv`: there the same look cost the near-empty try +
    /// spin row a sixth (12.1 → 10.2 M items/s, 1.66× → 1.35× rtrb; a
    /// `try_recv` loop looks again at once, and enters complete groups
    /// more often than a blocking receive, which slips).
    ///
    /// Out from 2026-12-07 23:1x to 2026-12-08 00:2x, on paced runs with
    /// bursts in which its build showed items waiting in the ring for
    /// 0.6–1.6 ms at p99 in 5 of 36 rows against 1 of 36 without it;
    /// restored after 32 more alternated runs of each build
    /// (`latency -- --only paced`, the 10 µs rows of both strategies) put
    /// such rows at 1 of 64 with it and 3 of 64 without: the earlier count
    /// was the machine's noise. Four alternated `targets -- --rounds 7
    /// SPSC` runs then: free-running `BusySpin` 191 → 244 M items/s, `Park`
    /// 183 → 249 (over own try + spin 0.97× → 1.22×, 0.92× → 1.27×), other
    /// rows within their spread; the round trip unchanged (five runs).
    #[inline(always)]
    fn stamp_ready<const STREAM: bool>(&mut self) -> Result<(), TryRecvError> {
        if let Some(end) = self.stamped_end() {
            // Every position below the stamp is published: the items up to
            // it are readable without another look (those in the rest of
            // the group, and on a full ring any after it).
            self.cached_tail = end;
            let per = <L::Slot<T> as Slot<T>>::PER;
            let published = end.wrapping_sub(self.head);
            // A whole group ahead (the stamp shows no more than its group,
            // so `head` is at the group's first slot): not one item at a
            // group's last slot, as in a ping-pong.
            if STREAM && per >= 4 && published >= per {
                // Acquire pairs with the producer's Release store of `tail`
                // (after the stamps and values of every item below it).
                let tail = self.shared.tail.load(Ordering::Acquire);
                // `tail` may be behind the stamps (see `queued`).
                if Self::queued(self.head, tail, self.capacity) > published {
                    self.cached_tail = tail;
                }
            }
            return Ok(());
        }
        self.empty_or_disconnected()
    }

    /// [`Stamped`] layout: the stamp of the group that holds the slot at
    /// `head` (an `Acquire` load), if it is past `head`, i.e. the item at
    /// `head` is published. `end - head` is then at most the capacity: the
    /// producer stores a stamp only up to its `tail`, which is at most the
    /// capacity past any `head` the consumer has had.
    #[inline(always)]
    fn stamped_end(&self) -> Option<usize> {
        debug_assert!(!self.segmented, "a stamped ring is flat");
        let idx = self.head_idx();
        // SAFETY: `head_idx() < seg_len`.
        let end = unsafe { self.slot(idx) }.published_end(self.origin);
        // A signed distance: positions wrap, and a stamp from an earlier lap
        // (or the origin's, nothing published) is at or below `head`.
        ((end.wrapping_sub(self.head) as isize) > 0).then_some(end)
    }

    /// [`Stamped`] layout: whether the item at `head` is published.
    #[inline(always)]
    fn stamped_item(&self) -> bool {
        self.stamped_end().is_some()
    }

    #[cold]
    fn empty_or_disconnected(&mut self) -> Result<(), TryRecvError> {
        self.publish_leaked_head();
        let shared = &*self.shared;
        if shared.cold.producer_alive.load(Ordering::Acquire) {
            return Err(TryRecvError::Empty);
        }
        // The producer is gone; it stored `tail` for the last time before
        // clearing the flag (Release/Acquire), so this re-read sees every
        // item it sent, including one published after our first read.
        self.load_tail();
        if self.head == self.cached_tail {
            Err(TryRecvError::Disconnected)
        } else {
            Ok(())
        }
    }

    /// Receives the oldest item if there is one, without waiting.
    ///
    /// Never enters the kernel on `BusySpin` / `SpinYield` channels, but
    /// through the allocator on a segmented ring, when it leaves a segment
    /// (and frees it); on a `Park` channel it may wake a parked producer.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is queued;
    /// [`TryRecvError::Disconnected`] if nothing is queued and the producer
    /// is gone (items sent before it dropped are received first).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::TryRecvError;
    /// let (mut tx, mut rx) = ringflow::spsc::channel(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7)); // drained first...
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected)); // ...then disconnected
    /// ```
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.receive::<false>()
    }

    /// `try_recv`, and the first attempt of a blocking receive (`STREAM`:
    /// see [`stamp_ready`](Consumer::stamp_ready)).
    #[inline(always)]
    fn receive<const STREAM: bool>(&mut self) -> Result<T, TryRecvError> {
        self.ready::<STREAM>()?;
        // SAFETY: `head_idx() < seg_len` and `head != cached_tail`, so the slot
        // is in `head..tail` and initialised; the producer does not touch it
        // until we publish a `head` past it. Reading moves the value out; the
        // slot is then treated as uninitialised.
        let value = unsafe { self.cell(self.head_idx()).with(|p| (*p).assume_init_read()) };
        self.read_ahead();
        self.publish_head(1);
        Ok(value)
    }

    /// Once per line's worth of slots (at slot indices that are multiples
    /// of it: the buffer is not line-aligned, so this is a cadence, not a
    /// line's first slot), while the consumer's cached `tail` shows at least
    /// [`READ_AHEAD_BYTES`] and one more line of items queued from `head`
    /// on: ask for the slot that far ahead, so that its line's transfer from
    /// the producer's core overlaps the receives before it instead of
    /// stalling the receive that reaches it. A hint only (no load in the
    /// language's sense); for items of up to a line.
    ///
    /// Only that far behind the producer: the line asked for is then one the
    /// producer has finished with (every slot of it published or already
    /// read, and the slack keeps a full ring's producer behind `head`), so
    /// the hint never takes a line from under the producer's stores. A consumer
    /// that has caught up reads at its plain speed, slower than a producer
    /// that does not wait, so the queue grows back past the gate instead of
    /// the two threads trading the line being filled item by item.
    ///
    /// Measured free-running (2-vCPU Zen 3 VM, `targets`, rounds with the
    /// vCPUs close together; `docs/measurements.md`, 2026-12-06 21:1x).
    /// Without it the ring sits full and try + spin runs at 0.83–0.87× rtrb
    /// (medians over the close rounds of seven batches of 8–16 alternated
    /// runs). With it most rounds fall in one of two modes: the queue
    /// settles at 100–300 items and the round runs at 240–270 M items/s
    /// (1.3–1.4× rtrb), or a hiccup fills the ring and a producer that polls
    /// it keeps it full, and the round runs at 139–146 M items/s in most
    /// batches against ~167 without the hint (not the hint's traffic: a
    /// build that skips it on a more than half full ring ran there as
    /// slowly; the cause was not found). Batch medians 0.93–1.17× rtrb;
    /// `BusySpin` 0.80–0.85× → 0.91–1.26×, `Park` 0.77–0.81× → 0.80–1.04×
    /// (their `send` leaves a full ring a gap before it refills). Near-empty
    /// and near-full rows and the round trip stayed within their spread, and
    /// so did the paced rows' latency and CPU (one item at a time never
    /// queues the 40 items the hint waits for). The same
    /// hint on the producer's side (`prefetchw` ahead of `tail`) brought
    /// back the slow mode of #11 (fill under 100, ~130 M items/s) and is
    /// not used.
    #[inline(always)]
    fn read_ahead(&self) {
        let queued = self.cached_tail.wrapping_sub(self.head);
        let geometry = <L::Slot<T> as Slot<T>>::HINT;
        if let Some(slot) = read_ahead_slot(geometry, self.head_idx(), queued, self.seg_len) {
            prefetch_read(hint_ptr::<T, L::Slot<T>>(self.buffer, slot));
        }
    }

    /// A batch's [`read_ahead`](Consumer::read_ahead): after granting
    /// `granted` items, hint the lines of the next two spans of
    /// [`READ_AHEAD_BYTES`] of queued slots past them
    /// ([`BATCH_READ_AHEAD_SPANS`]: eight hints for `u64`, a whole next
    /// batch of 64), so that the next batch's lines are on their way while
    /// this one is read. Measured on the 2-vCPU Zen 3 VM with one span
    /// (`targets`, batches of 64 over rtrb's chunks, this hint alone, two
    /// sets of 30 and 25 alternated runs; `docs/measurements.md`,
    /// 2026-12-06 21:1x): 1.20–1.21× → 1.24–1.26× close together,
    /// 1.18–1.23× → 1.29–1.40× far apart; with the producer's hint too, see
    /// [`Producer::write_ahead_past`]. Two spans instead of one, on the
    /// 2-vCPU Intel Xeon VM (2026-12-07 21:2x, four alternated runs a
    /// build, close together): ringflow's chunks 705 → 872 M items/s
    /// (medians), 1.15× → 1.50× rtrb's; the producer's hint at two spans
    /// as well moved nothing more (1.17× alone, 1.48× with both).
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
    fn read_ahead_past(&self, granted: usize) {
        let queued = self.cached_tail.wrapping_sub(self.head);
        hint_lines_past::<T, L::Slot<T>>(
            self.buffer,
            self.head_idx(),
            self.seg_len,
            granted,
            queued,
            BATCH_READ_AHEAD_SPANS,
            prefetch_read,
        );
    }

    /// On finding the ring empty: a leaked read guard may have moved the
    /// private position past items without storing it. Publish it before
    /// reporting "nothing", so that a producer waiting for room is never
    /// left waiting on a consumer that waits for items, whichever call the
    /// consumer polls with (`try_recv`, `peek`, the batch forms). (A load of
    /// our own line, on the empty path only.)
    #[cold]
    fn publish_leaked_head(&mut self) {
        if self.shared.head.load(Ordering::Relaxed) != self.head {
            self.store_head();
        }
    }

    /// Items readable as far as the consumer can tell, refreshing its cached
    /// copy of `tail` only if the cache shows fewer than `want`.
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))] // used by the batch API, not built under loom
    fn available(&mut self, want: usize) -> usize {
        let available = self.cached_tail.wrapping_sub(self.head);
        if available >= want {
            return available;
        }
        self.load_tail();
        let available = self.cached_tail.wrapping_sub(self.head);
        if available == 0 {
            self.publish_leaked_head();
        }
        available
    }

    /// Refreshes `cached_tail` from `shared.tail`; on a segmented ring,
    /// clamped to the end of the consumer's segment, moving to the next
    /// segment first if this one is done.
    #[inline(always)]
    fn load_tail(&mut self) {
        // Acquire pairs with the producer's Release store of `tail`.
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.set_cached_tail(tail);
    }

    /// The items from `head` to `tail` (a value of the shared `tail`). On
    /// the [`Stamped`] layout the consumer may have taken items by their
    /// stamps that `tail` does not show yet (the producer stores each stamp
    /// before `tail`), so `tail` may be behind `head` (by at most the
    /// capacity): then `tail` shows nothing queued, not `tail - head`
    /// wrapped around. The default layout's consumer reads only what `tail`
    /// showed, so its `tail` is never behind.
    #[inline(always)]
    fn queued(head: usize, tail: usize, capacity: usize) -> usize {
        let n = tail.wrapping_sub(head);
        if <L::Slot<T> as Slot<T>>::STAMPED && n > capacity {
            0
        } else {
            n
        }
    }

    /// Takes `tail`, just loaded with `Acquire`, as the cached one (not
    /// behind `head`: see [`queued`](Consumer::queued)); on a segmented
    /// ring clamped to the consumer's segment (`follow_segments`).
    #[inline(always)]
    fn set_cached_tail(&mut self, tail: usize) {
        self.cached_tail = self.head.wrapping_add(Self::queued(self.head, tail, self.capacity));
        if self.segmented {
            self.follow_segments();
        }
    }

    /// The consumer's side of `segment.rs`, after loading `tail`: clamp what
    /// may be read to the end of a closed segment; at that end, move to the
    /// next segment and free the one left.
    #[cold]
    #[inline(never)]
    fn follow_segments(&mut self) {
        loop {
            // SAFETY: the consumer's segment is alive until the consumer
            // frees it below.
            let Some((end, next)) = (unsafe { self.segment.as_ref() }).closed() else {
                // Open: every position in `head..tail` is in this segment.
                return;
            };
            // `tail` was loaded before `next`, so it may be before `end`
            // (the producer closed the segment since) but every item up to
            // it is here; past `end` nothing is.
            if self.head != end {
                if self.cached_tail.wrapping_sub(self.head) > end.wrapping_sub(self.head) {
                    self.cached_tail = end;
                }
                return;
            }
            // Every item stored here has been moved out (the consumer's
            // position, private or published, is at `end`), and the producer
            // never comes back to a closed segment: free it and go on.
            let left = core::mem::replace(&mut self.segment, next);
            // SAFETY: `next` is linked into the chain, alive until the
            // consumer leaves it.
            let seg = unsafe { next.as_ref() };
            self.buffer = seg.buffer.as_ptr();
            self.seg_len = seg.slots;
            // `head` is at `end`, slot 0 of `next`.
            self.head_base = self.head;
            // SAFETY: `left` came from `Segment::alloc`; nobody else uses a
            // closed segment, and the consumer has just moved past it.
            unsafe { Segment::free(left) };
        }
    }

    /// Moves `head` past the next `n` slots, whose values the caller has
    /// moved out or dropped, and publishes it with one Release store.
    #[inline(always)]
    fn publish_head(&mut self, n: usize) {
        self.advance_head(n);
        self.store_head();
    }

    /// Moves the consumer's *private* position past the next `n` slots,
    /// without publishing it. A guard that hands out values one by one
    /// advances this as it goes (before anything could leak it), so that a
    /// value moved out is never reachable again, and publishes once with
    /// [`store_head`](Consumer::store_head) when it is dropped. If the guard
    /// is leaked, the slots are released late (by the next `store_head`),
    /// never read twice.
    #[inline(always)]
    fn advance_head(&mut self, n: usize) {
        debug_assert!(n <= self.cached_tail.wrapping_sub(self.head));
        self.head = self.head.wrapping_add(n);
        next_lap(self.head, &mut self.head_base, self.seg_len);
    }

    /// Publishes the private position: one Release store of `head`, then
    /// the notification and congestion check.
    #[inline(always)]
    fn store_head(&mut self) {
        let shared = &*self.shared;
        // Publish: pairs with the producer's Acquire load of `head`.
        shared.head.store(self.head, Ordering::Release);
        if self.plain {
            return;
        }
        if let Some(kind) = self.park {
            shared.cold.ctl.send_waiters.notify(kind);
        }
        if self.cached_tail.wrapping_sub(self.head) < self.check_below {
            self.after_remove_flow();
        }
    }

    /// After a removal that may have drained the ring to `low` (its cached
    /// length is there): the receiver's side of the congestion protocol.
    /// Refreshes the cached `tail` if the flag is set, so the next removals
    /// skip this again unless the ring really is that short.
    // Out of line: inlined into every receive (behind the branch on
    // `check_below`), its code held the stamped layout's free-running
    // try + spin at 0.58–0.65× rtrb where the same build without the
    // stamped clamp in `set_cached_tail` ran at 0.77–0.88× (the clamp is
    // never executed there); out of line, 0.70–0.73×, and the watermark
    // rows unchanged (`docs/measurements.md`, 2026-12-07 06:1x–).
    #[inline(never)]
    fn after_remove_flow(&mut self) {
        let Some(marks) = self.marks else { return };
        let shared = &*self.shared;
        let (head, capacity) = (self.head, self.capacity);
        let mut fresh = None;
        shared.cold.ctl.after_remove(marks, |low| {
            // Acquire pairs with the producer's Release store of `tail`.
            let tail = shared.tail.load(Ordering::Acquire);
            fresh = Some(tail);
            // The length, not what is readable in the consumer's segment.
            Self::queued(head, tail, capacity) <= low
        });
        if let Some(tail) = fresh {
            self.set_cached_tail(tail);
        }
    }

    /// A reference to the oldest item, without removing it.
    ///
    /// Returns `None` if nothing is queued. The producer never overwrites a
    /// slot before the consumer has moved past it, so the reference stays
    /// valid for as long as it borrows the consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::spsc::channel(2);
    /// assert_eq!(rx.peek(), None);
    /// tx.send(String::from("x")).unwrap();
    /// assert_eq!(rx.peek().map(String::as_str), Some("x"));
    /// assert_eq!(rx.try_recv().unwrap(), "x"); // still there until received
    /// ```
    pub fn peek(&mut self) -> Option<&T> {
        self.ready::<false>().ok()?;
        // SAFETY: as in `try_recv`, the slot holds an initialised value that
        // the producer will not touch while `head` stays put, and `head` can
        // only move through `&mut self`, which the returned borrow holds.
        Some(unsafe { self.cell(self.head_idx()).with(|p| (*p).assume_init_ref()) })
    }

    /// Receives the oldest item, waiting for one as the channel's
    /// [`WaitStrategy`] says.
    ///
    /// In a fast stream (its waits end with several items queued, and one
    /// 0.6 µs look finds at least 8), a wait that would spin first lets the
    /// producer run ahead for 0.6 µs before it looks again ("temporal
    /// slipping"): the two cores then trade the ring's cache lines once
    /// per several items instead of once per item, which near empty
    /// raised the blocking rate 1.5–1.8× on a VM whose cores take ~130 ns
    /// to pass a line, at the cost of up to about that 0.6 µs for some items of
    /// such a stream. Hand-overs (each wait ends with its one item: a
    /// ping-pong, a paced stream) and slower streams never slip (on a
    /// [`Stamped`] ring, a wait ends as a stream's when the slot after the
    /// item it waited for is already stamped);
    /// [`try_recv`](Consumer::try_recv) never waits.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the ring is empty and the producer is gone.
    // Always inline: see `Producer::send`.
    #[inline(always)]
    pub fn recv(&mut self) -> Result<T, RecvError> {
        // Fast path inline; the waiting loop stays out of line and cold.
        if let Ok(v) = self.receive::<true>() {
            return Ok(v);
        }
        self.recv_waiting().map_err(|_| RecvError)
    }

    /// The plain `recv`'s wait after a failed attempt: the short wait,
    /// then the driver. A call, as `Producer::send_waiting` is (see there):
    /// inlined into the caller's loop, the waiting code slowed the receive
    /// that finds its item, which is what a free-running consumer runs
    /// (`docs/measurements.md`, 2026-12-06).
    #[inline(never)]
    fn recv_waiting(&mut self) -> Result<T, RecvTimeoutError> {
        #[cfg(not(loom))]
        let slipped = self.slip();
        let mut op = &mut *self;
        let received = match short_wait(&mut op, ()) {
            Ok(done) => done,
            Err(()) => self.recv_until(None, true),
        };
        // A stamped consumer took the item by its stamp; after a slip it
        // looks at `tail` once, as the default layout's wait did, so that the
        // stop rule below counts what the slip let through and the receives
        // after it take those items without a stamp each.
        #[cfg(not(loom))]
        if slipped && <L::Slot<T> as Slot<T>>::STAMPED {
            self.load_tail();
        }
        // Nothing more visible behind the item waited for: the next wait is
        // a hand-over too, and prefetches (see `hint_waits`). A stamped
        // consumer, which took the item by its stamp, looks at the next
        // slot's stamp instead of its cached `tail`.
        self.hint_waits = self.cached_tail == self.head && !(<L::Slot<T> as Slot<T>>::STAMPED && self.stamped_item());
        // A slip that found too few items did not pay: the stream is slower
        // than a slip's worth of hand-overs, so the next wait does not slip.
        #[cfg(not(loom))]
        if slipped && self.cached_tail.wrapping_sub(self.head) + 1 < SLIP_PAYS_ITEMS {
            self.hint_waits = true;
        }
        received
    }

    timed_forms!(recv, mut;
        /// Receives the oldest item, waiting at most `timeout`. A timeout too
        /// large to add to the current time means no deadline.
        ///
        /// # Errors
        ///
        /// [`RecvTimeoutError::Timeout`] if nothing arrived in time;
        /// [`RecvTimeoutError::Disconnected`] once the ring is empty and the
        /// producer is gone.
        ///
        /// # Examples
        ///
        /// ```
        /// use ringflow::RecvTimeoutError;
        /// use std::time::Duration;
        /// let (_tx, mut rx) = ringflow::spsc::channel::<u8>(1);
        /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
        /// ```
        ;
        /// Receives the oldest item, waiting until `deadline`. A deadline already
        /// past means exactly one attempt.
        ///
        /// # Errors
        ///
        /// As [`recv_timeout`](Consumer::recv_timeout).
    );

    /// An iterator that receives what is queued now, without waiting, and
    /// stops at the first `Empty` or `Disconnected`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::spsc::channel(8);
    /// for i in 0..3 { tx.send(i).unwrap(); }
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn try_iter(&mut self) -> TryIter<'_, T, L> {
        TryIter { rx: self }
    }

    /// A blocking iterator: waits for each item and ends once the ring is
    /// empty and the producer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::spsc::channel(2);
    /// let t = std::thread::spawn(move || for i in 0..10 { tx.send(i).unwrap(); });
    /// assert_eq!(rx.iter().sum::<i32>(), 45);
    /// t.join().unwrap();
    /// ```
    pub fn iter(&mut self) -> Iter<'_, T, L> {
        Iter { rx: self }
    }

    /// Number of queued items. It may be stale by the time it returns (the
    /// producer keeps sending), but it never exceeds
    /// [`capacity`](Consumer::capacity).
    pub fn len(&self) -> usize {
        let tail = self.shared.tail.load(Ordering::Acquire);
        Self::queued(self.head, tail, self.capacity).min(self.capacity)
    }

    handle_introspection!(capacity: |this| this.capacity, control: |this| &this.shared.cold.ctl, marks: |this| this.marks);

    /// `true` once the producer has been dropped (items may still be queued).
    pub fn is_disconnected(&self) -> bool {
        !self.shared.cold.producer_alive.load(Ordering::Acquire)
    }

    /// Slot index of `head` in the consumer's segment, `< seg_len`.
    #[inline(always)]
    fn head_idx(&self) -> usize {
        self.head.wrapping_sub(self.head_base)
    }

    /// The cell for slot `idx` of the consumer's segment.
    ///
    /// # Safety
    ///
    /// `idx < seg_len`.
    #[inline(always)]
    unsafe fn cell(&self, idx: usize) -> &Cell<T> {
        debug_assert!(idx < self.seg_len);
        // SAFETY: the caller's contract (`idx` is below the buffer's slots),
        // and the buffer outlives the handle's borrow.
        unsafe { cell_at::<T, L::Slot<T>>(self.buffer, idx) }
    }

    /// The element (a stamped group, or the cell itself) that holds slot
    /// `idx` of the consumer's segment.
    ///
    /// # Safety
    ///
    /// `idx < seg_len`.
    #[inline(always)]
    unsafe fn slot(&self, idx: usize) -> &L::Slot<T> {
        debug_assert!(idx < self.seg_len);
        // SAFETY: the caller guarantees `idx < seg_len`, the buffer's slots;
        // the consumer's segment lives until the consumer frees it, moving on.
        unsafe { element_of::<T, L::Slot<T>>(self.buffer, idx) }
    }
}

handle_blocking!(recv[L: Layout]: Consumer<T, L>, attempt: try_recv, while_waiting: prefetch_next);

impl<T, L: Layout> Drop for Consumer<T, L> {
    fn drop(&mut self) {
        let cold = &self.shared.cold;
        // Tell the last handle where the queued items start: the position
        // and its slot index, both private values (a leaked read guard may
        // have moved them past items without storing `head`; Release, as
        // every store of `head`, since the producer may still read it). The Arc's own
        // Release/Acquire on drop orders these for whoever frees the ring.
        self.shared.head.store(self.head, Ordering::Release);
        cold.head_idx.store(self.head_idx(), Ordering::Relaxed);
        cold.head_segment.store(self.segment.as_ptr(), Ordering::Relaxed);
        cold.consumer_alive.store(false, Ordering::Release);
        cold.ctl.wake_everyone();
    }
}

receiver_iterators!(Consumer [, L: Layout = Packed] [, L: Layout] [, L], mut);

#[cfg(feature = "futures")]
pub use crate::future::spsc_adapters::{RecvStream, SendSink};
pub use crate::future::spsc_futures::{RecvFuture, SendFuture};

// Where each side waits, and its fresh re-check: one definition for the
// blocking driver (`Blocking`) and the async futures (`future.rs`). One
// operation at a time per SPSC side, so no baton.
impl<T, L: Layout> Producer<T, L> {
    #[inline(always)]
    pub(crate) fn waiting(&self) -> WaitOn<'_> {
        self.shared.cold.ctl.send_side(self.park, false, Some(Progress::counter(&self.shared.tail, self.capacity)))
    }

    /// Room for the next send, or the consumer gone (fresh loads).
    pub(crate) fn room_or_gone(&self) -> bool {
        let shared = &*self.shared;
        self.tail.wrapping_sub(shared.head.load(Ordering::Acquire)) < self.capacity
            || !shared.cold.consumer_alive.load(Ordering::Acquire)
    }

    /// The refill gap of a `send` that found the ring full: once per wait
    /// (a plain `send`'s at its start, a timed one's after its first pause)
    /// if that wait spins (not a `Park` wait whose learned budget says
    /// spinning does not pay: the consumer on this core, or waits longer
    /// than any spin), spin
    /// (at most `REFILL_GAP_SPINS` hints) until `refill_gap` slots are free
    /// (`SPSC_REFILL_GAP_BYTES`, eight cache lines), then go on.
    ///
    /// Why: a producer that refills a full ring as soon as one slot is free
    /// reloads `head` for every item, a line the consumer writes for every
    /// item, so that line crosses between the cores twice per item; and it
    /// writes a line or two behind the consumer's reads. Waiting for a gap
    /// first, the producer reloads `head` once and then writes a run of
    /// slots from its cached limit, and the two sides keep to different
    /// lines: the "temporal slipping" of FastForward (Giacomoni, Moseley
    /// and Vachharajani, PPoPP 2008), as the MPMC sender's
    /// `let_receivers_ahead`. Nothing is claimed or changed: the attempt
    /// after it still writes into the first free slot, `try_send` is
    /// untouched, and a consumer that does not free the gap in time (slow,
    /// or stopped after fewer items) only delays this send by the bounded
    /// spin. Measured: `docs/measurements.md`, 2026-12-05 "the SPSC refill
    /// gap".
    ///
    /// The wait looks at `head` every `REFILL_GAP_LOOK_EVERY` (16)
    /// hints, not at every one: each look takes the consumer's `head` line,
    /// and on x86 the consumer's next store of `head`, and every store
    /// behind it, waits for that line to come back. Looking at every hint
    /// (as before 2026-12-07) held a full ring's consumer near the rate of
    /// a `try_send` loop's. On the 2-vCPU Intel Xeon VM (`targets`,
    /// `docs/measurements.md` 2026-12-07 21:3x–21:4x), a look every 1 / 8 /
    /// 16 / 32 hints: near full (30 ns of consumer work) the blocking calls
    /// ran at 12.2 / 15.6 / 17.7 / 21.0 M items/s (`BusySpin`; over own
    /// try + spin 1.00× / 1.19× / 1.39× / 1.57×), free-running the default
    /// layout's `BusySpin` at 1.14× / 1.22× / 1.22× / 1.27× its try + spin;
    /// near empty (never full) unchanged. 16 keeps the last look within a
    /// quarter of the wait of the gap appearing, for small rings that a
    /// fast consumer drains in a few microseconds.
    #[inline(always)]
    fn let_consumer_ahead(&self) {
        #[cfg(not(loom))]
        {
            let gap = self.refill_gap();
            if gap == 0 {
                return;
            }
            let shared = &*self.shared;
            let want = self.capacity - gap;
            // Relaxed: this decides only how long to spin; the attempt after
            // it loads `head` again with Acquire before it writes.
            crate::sync::wait_for_gap(|| self.tail.wrapping_sub(shared.head.load(Ordering::Relaxed)) <= want);
        }
    }

    /// How many free slots a `send` that found the ring full waits for
    /// (bounded) before it refills ([`Producer::let_consumer_ahead`]): the
    /// slots in `SPSC_REFILL_GAP_BYTES` (see [`crate::sync::slots_in`]); 0
    /// on a segmented ring and on a ring too small for a gap. Derived, as
    /// the MPMC ring's is (the size is a constant, so this is a compare).
    #[inline(always)]
    fn refill_gap(&self) -> usize {
        if self.sizing.segmented {
            0
        } else {
            crate::sync::slots_in(SPSC_REFILL_GAP_BYTES, <L::Slot<T> as Slot<T>>::SLOT_BYTES, self.capacity)
        }
    }
}

impl<T, L: Layout> Consumer<T, L> {
    #[inline(always)]
    pub(crate) fn waiting(&self) -> WaitOn<'_> {
        let ctl = &self.shared.cold.ctl;
        ctl.recv_side(&ctl.recv_waiters, self.park, false, Some(Progress::counter(&self.shared.head, self.capacity)))
    }

    /// While waiting, ask for the line of the slot the next item will land
    /// in, so that its transfer overlaps the wait on `tail` instead of
    /// following it: without this an SPSC hand-over to a waiting consumer
    /// is two cache-line misses in a row (`tail`, then the slot). It shows
    /// in the SPSC rows' p50 / floor of `cargo bench --bench latency --
    /// --only rt` with the vCPUs far apart (1.00–1.02× with it, 1.13–1.19×
    /// without). A hint only: it reads nothing in the language's sense.
    ///
    /// Only while the waits are hand-overs (`hint_waits`): in
    /// a stream the consumer keeps up with, the slot's line is the one the
    /// producer is filling, and asking for it on every retry takes it from
    /// the producer again and again. Far apart, a near-empty stream (24 ns
    /// of producer work per item) ran at 69–87 ns per item with the hint on
    /// every wait, 26–38 without, as fast as `try_recv` in a loop
    /// (`docs/measurements.md`, 2026-12-05 13:2x).
    #[inline(always)]
    fn prefetch_next(&self) {
        if self.hint_waits {
            prefetch_read(hint_ptr::<T, L::Slot<T>>(self.buffer, self.head_idx()));
        }
    }

    /// Temporal slipping (the term and the idea are FastForward's:
    /// Giacomoni, Moseley and Vachharajani, PPoPP 2008): in a stream the
    /// consumer keeps up with (the last wait ended with more items behind
    /// the one it waited for: `!hint_waits`), a plain `recv` that finds the
    /// ring empty spins for [`RECV_SLIP_NS`] before it looks at `tail` again.
    /// Looking at once pulls the `tail` line and the slot line back from
    /// the producer for every item, and the producer must win both back for
    /// its next store; slipping lets it store several items while it holds
    /// them, and the consumer then takes them in one look. Returns whether
    /// it slipped: a slip after which fewer than [`SLIP_PAYS_ITEMS`] items
    /// are queued did not pay (the stream is slower than the hand-overs
    /// slipping saves), and `recv_waiting` then makes the next wait a
    /// hand-over (`hint_waits`), which does not slip; without that, each
    /// slip queued the few items that made the next wait a stream's again.
    ///
    /// Only where the wait would spin anyway (`BusySpin`, `SpinYield`, a
    /// `Park` wait whose spin pays: never with both sides on one core), and
    /// not in a hand-over (a ping-pong, a paced stream: each wait ends with
    /// its one item), whose latency it would add to. Not in `try_recv`
    /// (which does not wait), the timed receives or the async one. What it
    /// costs: in a stream fast enough to keep slipping an item may wait up
    /// to the slip longer before it is taken. Measured on the Intel VM of
    /// 2026-12-07 (a line's round trip 110–150 ns; `docs/measurements.md`,
    /// 2026-12-07): `cargo bench --bench targets -- "SPSC near-empty"`,
    /// three or six alternated runs a work level, blocking over
    /// crossbeam-channel 1.29–1.33× → 2.06–2.17× at 10 ns of producer work
    /// per item (1.74–2.06× in ten later runs), 1.73–1.83× → 3.07–3.83× at
    /// 30 ns (over own try + spin 0.89–0.94× → 1.39–1.84×); the
    /// free-running, near-full, one-core and batch rows, the round trip and
    /// the paced rows' consumer CPU within their spread (the slip spins
    /// only where the wait spun anyway).
    #[cfg(not(loom))]
    #[inline(always)]
    fn slip(&self) -> bool {
        if self.hint_waits || !self.waiting().spins_first() {
            return false;
        }
        spin_until(Instant::now(), RECV_SLIP_NS, || false);
        true
    }

    /// An item at `head`, or the producer gone (fresh loads).
    pub(crate) fn item_or_gone(&self) -> bool {
        let shared = &*self.shared;
        // The stamped layout's waits look at the slot's stamp, not `tail`
        // (the producer stores both before it checks for sleepers, so
        // either serves the wait's barrier protocol).
        let item = if <L::Slot<T> as Slot<T>>::STAMPED {
            self.cached_tail != self.head || self.stamped_item()
        } else {
            shared.tail.load(Ordering::Acquire) != self.head
        };
        item || !shared.cold.producer_alive.load(Ordering::Acquire)
    }
}

handle_debug!([, L: Layout] Producer<T, L>);
handle_debug!([, L: Layout] Consumer<T, L>);

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::layout::Slot;
    use super::{Consumer, Producer};
    use crate::buffer::{group_slots, StampedGroup};
    use crate::sync::Ordering;
    use crate::{Builder, TryRecvError, WaitStrategy};

    /// The stamp encoding (`layout.rs`): a slot never written (all-zero
    /// stamp) holds no position that lands in it, a stamp from an earlier
    /// lap is not the current one, and a published stamp is seen, for slot
    /// bases anywhere in `usize` (the positions wrap).
    #[test]
    fn a_stamp_matches_only_the_position_it_was_published_for() {
        let len = 14; // slots in the ring: two groups
        for origin in [0, 1, usize::MAX / 2, usize::MAX - 3, usize::MAX] {
            let group = StampedGroup::<u64>::empty();
            let published = |pos: usize| (group.published_end(origin).wrapping_sub(pos) as isize) > 0;
            for lap in 0..3usize {
                // The group's seven slots on this lap: positions `first..first + 7`.
                let first = origin.wrapping_add(lap * len);
                for k in 0..group_slots::<u64>() {
                    let pos = first.wrapping_add(k);
                    assert!(!published(pos), "origin {origin}, lap {lap}, slot {k}: not yet");
                    group.publish(origin, pos);
                    for below in 0..=k {
                        assert!(
                            published(first.wrapping_add(below)),
                            "origin {origin}, lap {lap}: slot {below} of {k}"
                        );
                    }
                    assert!(!published(pos.wrapping_add(1)), "the next position is not there");
                    assert!(!published(pos.wrapping_add(len)), "nor the next lap's");
                }
            }
        }
    }

    /// A stamped blocking receive that enters a group at its first slot
    /// with the whole group stamped loads `tail` and takes what it shows
    /// without more stamps; `try_recv` keeps to the stamps, and so does a
    /// blocking receive that finds its group incomplete, one item at a
    /// group's last slot, or a `tail` behind the stamps.
    #[test]
    fn a_stamped_blocking_receive_looks_at_tail_past_a_whole_group() {
        let per = <StampedGroup<u64> as Slot<u64>>::PER;
        assert_eq!(per, 7);
        let (mut tx, mut rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).spsc_stamped::<u64>();
        for i in 0..20 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.cached_tail, 7, "try_recv: the group's stamp alone");
        for i in 1..7 {
            assert_eq!(rx.recv(), Ok(i), "inside the group: no look");
        }
        assert_eq!(rx.cached_tail, 7);
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(rx.cached_tail, 20, "a whole group: `tail` read");

        // An incomplete group: the stamps alone.
        let (mut tx, mut rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).spsc_stamped::<u64>();
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.cached_tail, 3);

        // One item at a group's last slot completes the group but is not a
        // group ahead: no look, though more is queued behind it.
        let (mut tx, mut rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).spsc_stamped::<u64>();
        for i in 0..6 {
            tx.try_send(i).unwrap();
        }
        for i in 0..6 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert_eq!(rx.cached_tail, 6);
        for i in 6..9 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.recv(), Ok(6));
        assert_eq!(rx.cached_tail, 7, "the stamp's end only");

        // `tail` behind the stamps (the producer stores it after them): the
        // stamps' end stands.
        let (mut tx, mut rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).spsc_stamped::<u64>();
        for i in 0..20 {
            tx.try_send(i).unwrap();
        }
        rx.shared.tail.store(2, Ordering::Relaxed);
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.cached_tail, 7);
        rx.shared.tail.store(20, Ordering::Relaxed);
        for i in 1..20 {
            assert_eq!(rx.recv(), Ok(i));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    /// A stamped consumer takes an item whose stamp it sees without looking
    /// at `tail` (the one-line hand-over); the default layout's needs `tail`.
    /// Shown by publishing an item and then moving the shared `tail` back,
    /// as a consumer that has not yet seen the producer's `tail` store
    /// would find it.
    #[test]
    fn a_stamped_receive_reads_the_stamp_not_tail() {
        let (mut tx, mut rx) = Builder::new(4).wait_strategy(WaitStrategy::BusySpin).spsc_stamped::<u64>();
        tx.try_send(5).unwrap();
        rx.shared.tail.store(0, Ordering::Relaxed);
        assert!(rx.item_or_gone(), "the wait's re-check reads the stamp too");
        assert_eq!(rx.try_recv(), Ok(5));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // `tail` is now behind `head`: every call that reads it sees an
        // empty ring, not `tail - head` wrapped around.
        assert_eq!(rx.len(), 0);
        assert!(rx.is_empty() && !rx.is_full());
        assert_eq!(rx.recv_into(&mut [0; 4]), 0);
        assert!(rx.read_chunk(4).is_empty());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        rx.shared.tail.store(1, Ordering::Relaxed);
        assert_eq!(rx.len(), 0);

        let (mut tx, mut rx) = Builder::new(4).wait_strategy(WaitStrategy::BusySpin).spsc::<u64>();
        tx.try_send(5).unwrap();
        rx.shared.tail.store(0, Ordering::Relaxed);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the default layout reads `tail`");
        rx.shared.tail.store(1, Ordering::Relaxed);
        assert_eq!(rx.try_recv(), Ok(5));
    }

    /// The memory a stamped group takes and the slots it holds (documented
    /// on `Stamped`): one line for items that fit beside the stamp, as many
    /// as fit; a larger item alone in whole lines.
    #[test]
    fn a_stamped_group_is_a_line_for_small_items() {
        use super::layout::Slot;
        fn geometry<T>() -> (usize, usize, usize, Option<(usize, usize)>) {
            (
                core::mem::size_of::<StampedGroup<T>>(),
                group_slots::<T>(),
                <StampedGroup<T> as Slot<T>>::SLOT_BYTES,
                <StampedGroup<T> as Slot<T>>::HINT,
            )
        }
        // (group bytes, slots, bytes a slot, hint geometry)
        assert_eq!(geometry::<u64>(), (64, 7, 10, Some((7, 28))));
        assert_eq!(geometry::<u32>(), (64, 14, 5, Some((14, 56))));
        assert_eq!(geometry::<u8>(), (64, 56, 2, Some((56, 224))));
        assert_eq!(geometry::<[u64; 2]>(), (64, 3, 22, Some((3, 12))));
        assert_eq!(geometry::<[u8; 24]>(), (64, 2, 32, Some((2, 8))));
        assert_eq!(geometry::<[u64; 4]>(), (64, 1, 64, Some((1, 4))));
        assert_eq!(geometry::<[u8; 56]>(), (64, 1, 64, Some((1, 4))));
        assert_eq!(geometry::<[u8; 57]>(), (72, 1, 72, None), "beside its stamp");
        assert_eq!(geometry::<[u64; 16]>(), (136, 1, 136, None));
        assert_eq!(geometry::<u128>(), (80, 4, 20, None), "16-aligned: values from byte 16");
        assert_eq!(geometry::<()>(), (64, 56, 2, Some((56, 224))));
        // The ring's groups start on a line, so a 64-byte group is one line.
        for slots in [1, 7, 8, 1000] {
            let groups = <StampedGroup<u64> as Slot<u64>>::alloc(slots);
            assert_eq!(groups.as_ptr().as_ptr() as usize % 64, 0);
            assert_eq!(groups.len(), slots.div_ceil(7));
        }
    }

    /// Rings of every group geometry (items of 1 to 64 bytes, 16-aligned
    /// ones; capacities below, at and past a group, not multiples of it)
    /// keep FIFO order and exact capacity across laps: filled to full, then
    /// drained in steps that end inside groups, the positions starting just
    /// below `usize::MAX` so that they wrap on the way.
    #[test]
    fn stamped_rings_of_every_group_size_keep_order_and_capacity() {
        fn check<T: Copy + PartialEq + core::fmt::Debug>(make: impl Fn(u64) -> T) {
            for capacity in [1, 2, 3, 7, 8, 15, 29, 57] {
                let (mut tx, mut rx) = Builder::new(capacity).__start_position(usize::MAX - 5).spsc_stamped::<T>();
                let (mut sent, mut got) = (0u64, 0u64);
                for step in [1usize, 2, 3, 5, 7, 13] {
                    while tx.try_send(make(sent)).is_ok() {
                        sent += 1;
                    }
                    assert_eq!((sent - got) as usize, capacity, "full at the capacity");
                    for _ in 0..step.min(capacity) {
                        assert_eq!(rx.try_recv(), Ok(make(got)), "capacity {capacity}");
                        got += 1;
                    }
                }
                while let Ok(v) = rx.try_recv() {
                    assert_eq!(v, make(got));
                    got += 1;
                }
                assert_eq!(got, sent);
            }
        }
        check::<u8>(|i| i as u8);
        check::<u32>(|i| i as u32);
        check::<u64>(|i| i);
        check::<[u64; 2]>(|i| [i, !i]);
        check::<[u8; 24]>(|i| [i as u8; 24]);
        check::<[u64; 4]>(|i| [i; 4]);
        check::<[u64; 8]>(|i| [i; 8]);
        check::<u128>(|i| (i as u128) << 64 | i as u128);
        check::<()>(|_| ());
    }

    /// Every slot of a group is its own `T`-sized, `T`-aligned cell inside
    /// the group, after the stamp: values written to each are read back.
    #[test]
    fn a_stamped_groups_cells_are_disjoint_and_inside_it() {
        fn check<T: Copy + PartialEq + core::fmt::Debug>(make: impl Fn(usize) -> T) {
            let group = StampedGroup::<T>::empty();
            let start = core::ptr::addr_of!(group) as usize;
            let n = group_slots::<T>();
            for k in 0..n {
                let at = group.cell(k).with(|p| p as usize);
                assert!(at >= start + 8, "slot {k} after the stamp");
                assert!(at + core::mem::size_of::<T>() <= start + core::mem::size_of::<StampedGroup<T>>());
                assert_eq!(at % core::mem::align_of::<T>(), 0);
                // SAFETY: the cell is the test's alone.
                group.cell(k).with_mut(|p| unsafe { (*p).write(make(k)) });
            }
            for k in 0..n {
                // SAFETY: written above.
                assert_eq!(group.cell(k).with(|p| unsafe { (*p).assume_init() }), make(k));
            }
        }
        check::<u64>(|k| k as u64 * 0x0101_0101_0101_0101);
        check::<u8>(|k| k as u8);
        check::<[u64; 2]>(|k| [k as u64, !(k as u64)]);
        check::<[u8; 24]>(|k| [k as u8; 24]);
        check::<[u64; 16]>(|k| [k as u64; 16]);
        check::<u128>(|k| (k as u128) << 64 | k as u128);
    }

    /// `rx.recv()` on an empty ring, with `send` run by another thread once
    /// the receive has begun to wait (its wait counter moved).
    fn recv_after_a_wait(
        rx: &mut Consumer<u32>,
        tx: &mut Producer<u32>,
        send: impl FnOnce(&mut Producer<u32>) + Send,
    ) -> u32 {
        let before = rx.stats().recv_waits;
        std::thread::scope(|s| {
            s.spawn(|| {
                while tx.stats().recv_waits == before {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(5));
                send(tx);
            });
            rx.recv().unwrap()
        })
    }

    /// A blocking receive whose wait ends with the one item it waited for
    /// keeps prefetching in its waits; one whose wait ends with more items
    /// behind it (a batch published at once) stops until a wait ends with
    /// one item again.
    #[test]
    fn the_wait_prefetches_only_while_waits_end_with_one_item() {
        let (mut tx, mut rx) = super::channel::<u32>(16);
        assert_eq!(recv_after_a_wait(&mut rx, &mut tx, |tx| tx.send(1).unwrap()), 1);
        assert!(rx.hint_waits, "a wait that ended with its one item");
        assert_eq!(recv_after_a_wait(&mut rx, &mut tx, |tx| assert_eq!(tx.send_slice(&[2, 3, 4]), 3)), 2);
        assert!(!rx.hint_waits, "a wait that ended with two more items behind");
        assert_eq!((rx.recv(), rx.recv()), (Ok(3), Ok(4)));
        assert!(!rx.hint_waits, "receives without a wait leave it");
        assert_eq!(recv_after_a_wait(&mut rx, &mut tx, |tx| tx.send(5).unwrap()), 5);
        assert!(rx.hint_waits, "a hand-over again");
    }

    /// A wait in a stream (the wait before it ended with items behind the
    /// one it waited for) slips first (`Consumer::slip`); a slip after
    /// which fewer than `SLIP_PAYS_ITEMS` items are queued makes the next
    /// wait a hand-over again (no slip), one after which that many are
    /// queued keeps the stream's. The items are sent only once the wait
    /// has begun (after its slip), so what a slip finds is what was sent.
    #[test]
    fn a_slip_that_finds_too_few_items_ends_the_slipping() {
        use crate::sync::SLIP_PAYS_ITEMS;
        let (mut tx, mut rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).spsc::<u32>();
        assert_eq!(recv_after_a_wait(&mut rx, &mut tx, |tx| assert_eq!(tx.send_slice(&[0, 1]), 2)), 0);
        assert_eq!(rx.recv(), Ok(1));
        assert!(!rx.hint_waits, "a stream: the next wait slips");
        let n = SLIP_PAYS_ITEMS as u32;
        let many: Vec<u32> = (0..n).collect();
        assert_eq!(recv_after_a_wait(&mut rx, &mut tx, |tx| assert_eq!(tx.send_slice(&many), many.len())), 0);
        assert!(!rx.hint_waits, "a slip that found SLIP_PAYS_ITEMS items: still a stream");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), (1..n).collect::<Vec<_>>());
        let few: Vec<u32> = (0..n - 1).collect();
        assert_eq!(recv_after_a_wait(&mut rx, &mut tx, |tx| assert_eq!(tx.send_slice(&few), few.len())), 0);
        assert!(rx.hint_waits, "a slip that found fewer: the next wait is a hand-over");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), (1..n - 1).collect::<Vec<_>>());
    }

    /// The same rules on the stamped layout, where a wait ends as a stream's
    /// when the slot after its item is already stamped, and a slip is
    /// followed by one load of `tail`. Driven on one thread, with the items
    /// queued before each wait (`recv_waiting` called directly, as `recv`
    /// does after a failed attempt): a stamped ring stamps a batch's slots
    /// one by one, so a wait racing a sender on another thread may end on
    /// the first stamp before the next is stored (under Miri it did), and
    /// what the test expects would depend on the schedule.
    #[test]
    fn a_stamped_slip_that_finds_too_few_items_ends_the_slipping() {
        use crate::sync::SLIP_PAYS_ITEMS;
        let (mut tx, mut rx) = Builder::new(64).wait_strategy(WaitStrategy::BusySpin).spsc_stamped::<u32>();
        assert!(rx.hint_waits, "a new ring's first wait is a hand-over's");
        assert_eq!(tx.send_slice(&[0, 1]), 2);
        assert_eq!(rx.recv_waiting(), Ok(0));
        assert!(!rx.hint_waits, "the next slot was stamped: a stream, the next wait slips");
        assert_eq!(rx.recv(), Ok(1));
        let n = SLIP_PAYS_ITEMS as u32;
        let many: Vec<u32> = (0..n).collect();
        assert_eq!(tx.send_slice(&many), many.len());
        assert_eq!(rx.recv_waiting(), Ok(0));
        assert!(!rx.hint_waits, "a slip that found SLIP_PAYS_ITEMS items: still a stream");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), (1..n).collect::<Vec<_>>());
        let few: Vec<u32> = (0..n - 1).collect();
        assert_eq!(tx.send_slice(&few), few.len());
        assert_eq!(rx.recv_waiting(), Ok(0));
        assert!(rx.hint_waits, "a slip that found fewer: the next wait is a hand-over");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), (1..n - 1).collect::<Vec<_>>());
        assert_eq!(tx.send_slice(&[0]), 1);
        assert_eq!(rx.recv_waiting(), Ok(0));
        assert!(rx.hint_waits, "one item and nothing behind it: a hand-over");
    }

    /// The producer's refill gap (`Producer::let_consumer_ahead`) is the
    /// slots in eight cache lines, on flat rings of at least four gaps; none
    /// on smaller or segmented rings.
    #[test]
    fn the_refill_gap_is_eight_lines_of_slots_on_flat_rings_big_enough() {
        fn gap<T>(capacity: usize) -> usize {
            super::channel::<T>(capacity).0.refill_gap()
        }
        assert_eq!(gap::<u64>(1024), 64);
        assert_eq!(gap::<u64>(256), 64);
        assert_eq!(gap::<u64>(255), 0, "fewer than four gaps");
        assert_eq!(gap::<u64>(1), 0);
        assert_eq!(gap::<[u8; 48]>(1024), 10);
        assert_eq!(gap::<[u8; 4096]>(4), 1, "a slot larger than the gap: one slot");
        assert_eq!(gap::<[u8; 4096]>(3), 0);
        let (segmented, _rx) = Builder::new(1024).__segment_slots(64).spsc::<u64>();
        assert!(segmented.sizing.segmented);
        assert_eq!(segmented.refill_gap(), 0, "a segmented ring");
    }

    /// The gap is a bounded spin: a send blocked on a full ring whose
    /// consumer frees one slot and then waits for that very send (far fewer
    /// than the gap's 64 slots) still completes, for every strategy and
    /// for both the plain and the timed send. With the gap's spin unbounded
    /// it would wait for the gap for good, and this test would time out.
    #[test]
    fn a_blocked_send_does_not_wait_for_the_gap_for_good() {
        for strategy in [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park] {
            for timed in [false, true] {
                let (mut tx, mut rx) = Builder::new(256).wait_strategy(strategy).spsc::<u64>();
                assert_eq!(tx.refill_gap(), 64, "the ring has a gap");
                for i in 0..256 {
                    tx.try_send(i).unwrap();
                }
                // Not a scoped thread: if the send never completed, the test
                // must fail, not wait for it.
                let sender = std::thread::spawn(move || {
                    if timed {
                        tx.send_timeout(256, Duration::from_secs(3600)).unwrap();
                    } else {
                        tx.send(256).unwrap();
                    }
                });
                // Let the sender begin its wait on the full ring (if it has
                // not yet, it finds the one free slot and sends at once).
                std::thread::sleep(Duration::from_millis(20));
                assert_eq!(rx.try_recv(), Ok(0), "{strategy:?}");
                let what = format!("{strategy:?}, timed {timed}: the blocked send never completed");
                crate::sync::join_within(sender, Duration::from_secs(10), &what);
                let rest: Vec<u64> = rx.try_iter().collect();
                assert_eq!(rest, (1..=256).collect::<Vec<_>>(), "{strategy:?}, timed {timed}");
            }
        }
    }

    /// The read-ahead hint's target: four lines on, at multiples of a
    /// line's worth of slots only, only with that slot and a line's worth
    /// after it queued, wrapping at the segment's end, never for zero-sized
    /// items or items over a line.
    #[test]
    fn read_ahead_targets_a_queued_line_four_lines_on() {
        use super::read_ahead_slot;
        // `u64`: 8 a line, 32 slots ahead, needing 40 queued.
        assert_eq!(read_ahead_slot(super::hint_geometry(core::mem::size_of::<u64>()), 0, 40, 1024), Some(32));
        assert_eq!(
            read_ahead_slot(super::hint_geometry(core::mem::size_of::<u64>()), 0, 39, 1024),
            None,
            "the line ahead not all queued"
        );
        assert_eq!(
            read_ahead_slot(super::hint_geometry(core::mem::size_of::<u64>()), 3, 1000, 1024),
            None,
            "not a multiple of a line's worth"
        );
        assert_eq!(
            read_ahead_slot(super::hint_geometry(core::mem::size_of::<u64>()), 1000, 40, 1024),
            Some(8),
            "wraps at the segment's end"
        );
        assert_eq!(read_ahead_slot(super::hint_geometry(core::mem::size_of::<u64>()), 992, 64, 1024), Some(0));
        // 16-byte items: 4 a line, 16 slots ahead, needing 20 queued.
        assert_eq!(read_ahead_slot(super::hint_geometry(core::mem::size_of::<[u64; 2]>()), 4, 20, 64), Some(20));
        assert_eq!(read_ahead_slot(super::hint_geometry(core::mem::size_of::<[u64; 2]>()), 2, 64, 64), None);
        // A line-sized item: every slot, 4 slots ahead.
        assert_eq!(read_ahead_slot(super::hint_geometry(core::mem::size_of::<[u8; 64]>()), 7, 5, 16), Some(11));
        assert_eq!(read_ahead_slot(super::hint_geometry(core::mem::size_of::<[u8; 64]>()), 14, 5, 16), Some(2));
        assert_eq!(
            read_ahead_slot(super::hint_geometry(core::mem::size_of::<[u8; 65]>()), 0, 16, 16),
            None,
            "over a line"
        );
        assert_eq!(
            read_ahead_slot(super::hint_geometry(core::mem::size_of::<()>()), 0, 1000, 1024),
            None,
            "zero-sized"
        );
    }

    /// The batch calls' hints: past the granted slots, a line's worth
    /// apart, at most [`READ_AHEAD_BYTES`](super::READ_AHEAD_BYTES) on a
    /// span (the producer's one, the consumer's two), each with a line's
    /// worth inside the room; none for zero-sized items or items over a
    /// line.
    #[test]
    fn batch_hints_reach_their_spans_past_the_grant() {
        use super::lines_past;
        let g = |size: usize| super::hint_geometry(size);
        let offsets = |granted, room| lines_past(g(8), granted, room, 1).collect::<Vec<_>>();
        assert_eq!(offsets(64, 1000), [64, 72, 80, 88]);
        assert_eq!(offsets(64, 90), [64, 72, 80]);
        assert_eq!(offsets(64, 87), [64, 72], "only whole lines' worth inside the room");
        assert_eq!(offsets(64, 71), [] as [usize; 0]);
        assert_eq!(offsets(64, 64), [] as [usize; 0], "nothing past the grant");
        assert_eq!(offsets(0, 8), [0]);
        assert_eq!(offsets(0, 0), [] as [usize; 0]);
        assert_eq!(lines_past(g(64), 3, 100, 1).collect::<Vec<_>>(), [3, 4, 5, 6]);
        assert_eq!(lines_past(g(65), 0, 100, 1).count(), 0, "over a line");
        assert_eq!(lines_past(g(0), 0, 100, 1).count(), 0, "zero-sized");
        // Two spans: eight lines past a grant of 64, as the room allows.
        let two = |granted, room| lines_past(g(8), granted, room, 2).collect::<Vec<_>>();
        assert_eq!(two(64, 1000), [64, 72, 80, 88, 96, 104, 112, 120]);
        assert_eq!(two(64, 100), [64, 72, 80, 88]);
        // 24-byte items: two slots a step, 20 slots (480 bytes) on.
        assert_eq!(lines_past(g(24), 0, 1000, 2).collect::<Vec<_>>(), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    }
}
