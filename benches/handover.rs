//! The SPSC hand-over design experiment (issue #11): does a ring whose
//! producer writes a sequence stamp *into each slot* beat the shared-index
//! ring that rtrb and ringflow's SPSC ring are today, and in which regimes?
//!
//! Prototype hand-overs, written here for the measurement only (they
//! are not the crate's rings: `Copy` items, no disconnection, no waiting),
//! next to the real ones:
//!
//! - **in-slot stamps**: slot = `{ stamp, value }`; the producer writes the
//!   value, then the stamp `p + 1` (Release); the consumer polls the stamp of
//!   its next slot (Acquire), so an item that crosses alone moves the one
//!   line that holds both. The consumer publishes its position in a line of
//!   its own, which the producer reads only when its cached copy says the
//!   ring is full (the shape of Concurrency Kit's `ck_pring`, of IFFQ
//!   (Maffione et al., 2019) and of crossbeam's `ArrayQueue` slots without
//!   their CAS). Variants: the position published after every item, or
//!   every 64 items (a lazy release; it makes `Full` inexact by up to 63
//!   slots, which the crate's contract does not allow as is, so it is
//!   measured only to see what lazy release is worth); and a third with
//!   the producer's position `tail` stored after each stamp as well, which
//!   the consumer does not read: what keeping a shared `tail` (for the
//!   length, the batch calls, disconnection) would cost on top of stamps;
//! - **line stamps**: one stamp word per 64-byte line, beside seven `u64`
//!   values (9.1 bytes an item instead of 16): the producer writes a value,
//!   then its line's stamp `p + 1` (Release); a consumer whose cached
//!   position runs out loads the stamp of the line it needs, and every
//!   position below that stamp is published (the producer publishes in
//!   order), so the stamp is a copy of `tail` kept in the line being read.
//!   An item that crosses alone moves one line, as with in-slot stamps,
//!   and a stream moves 8/7 lines per seven items instead of two (the
//!   line-granular layout of IFFQ-style designs, with the stamp in the
//!   line rather than a null value per slot, since items are generic);
//! - **separate stamps**: the same protocol with the stamps in an array of
//!   their own, so that values stay contiguous (what `as_slices` chunks
//!   need): a hand-over then moves a stamp line and a value line;
//! - **cached indices**: no stamps; the producer publishes its position
//!   `tail` in a line of its own after writing the value, and each side
//!   reads the other's position only when its cached copy runs out
//!   (Lamport's ring with the cached indices of Rigtorp's `SPSCQueue`, the
//!   design of rtrb and of ringflow's SPSC ring) with nothing else: no
//!   disconnection, no notification, a mask for the slot. The floor of
//!   that design: where ringflow or rtrb runs slower, their extra code
//!   costs it; where this runs no faster than rtrb, no trimming of the
//!   design reaches past rtrb;
//! - rtrb (`push`/`pop` + spin) and ringflow's SPSC ring (`try_send` /
//!   `try_recv` + spin on a `BusySpin` channel): a shared `tail` and `head`,
//!   each cached by the other side;
//! - ringflow's stamped SPSC ring (`Builder::spsc_stamped`, try + spin):
//!   the line stamps above, with the crate's `tail`, disconnection and
//!   waiting around them;
//! - rtrb and ringflow's try path with **temporal slipping** (FastForward,
//!   Giacomoni et al., 2008): the consumer's loop waits 16 or 64 spin hints
//!   more after each poll that finds the ring empty, so the producer keeps
//!   the shared lines between items; a policy of the caller's loop, which
//!   any ring's user can run, paid for in latency (an item may wait up to
//!   the slip before the consumer looks; not measured here);
//! - in the regimes with work, that work with no ring (`work alone (no
//!   ring): the bound`, as in `targets`): no hand-over moves items faster,
//!   so its ratio to rtrb is the most any design could lead rtrb by there.
//!
//! Regimes (as in `targets`): free-running; near-empty (the producer does
//! `W` ns of work per item, so every item crosses alone); near-full (the
//! consumer does it). Method: pinned threads on cores 0 and 1, capacity
//! 1024, `u64` items, interleaved rounds with the order rotated, the ratio
//! to rtrb taken per round, then the median and min–max over the rounds.
//! The placement probe (a bare cache line's round trip between the two
//! cores, before and after) says whether the vCPUs were close or far apart:
//! the stamps' gain depends on it.
//!
//! ```sh
//! cargo bench --bench handover [-- --quick] [--rounds N] [--items N] [--fixed-work] [--send-out-of-line]
//! ```
//!
//! `--send-out-of-line`: every producer's send (try + spin) is a call per
//! item instead of inlined into the loop, as a wrapper that is not inlined
//! or a trait object makes it. A few ns more per item on the producer's
//! side can decide which mode a free-running pair settles in
//! (`docs/measurements.md`, 2026-12-07 15:0x).
//!
//! The work per item is a mean, each item's drawn from half to one and a
//! half times it, unless `--fixed-work` (as in `targets`; the figures in
//! `docs/measurements.md` from before 2026-12-06 were taken with fixed work).

mod support;

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use core_affinity::CoreId;
use crossbeam_utils::CachePadded;
use support::*;

/// A `u64` item (the harness's payloads are `[u64; N]`).
type Item = [u64; 1];

const CAP: usize = 1024;

/// Where a prototype's consumer learns that a slot holds an item: the
/// prototypes' const parameter `L`, so that each compiles to code of its
/// own with no test of the layout per item.
mod layout {
    /// A stamp beside each value.
    pub const IN_SLOT: u8 = 0;
    /// The stamps in an array of their own.
    pub const SEPARATE: u8 = 1;
    /// No stamps: the producer's published position, `Ring::tail`.
    pub const INDICES: u8 = 2;
    /// A stamp beside each value, and the producer's position published
    /// as well (after the stamp), which the consumer does not read: what
    /// a ring that keeps its shared `tail` for everything else (length,
    /// batches, disconnection) would pay on top of the stamps.
    pub const IN_SLOT_AND_TAIL: u8 = 3;
}
use layout::{INDICES, IN_SLOT, IN_SLOT_AND_TAIL, SEPARATE};

/// Whether layout `L` keeps each stamp beside its value.
const fn in_slot(l: u8) -> bool {
    l == IN_SLOT || l == IN_SLOT_AND_TAIL
}

/// The prototypes' shared state: the layout `L` says which fields are used.
struct Ring<T, const L: u8> {
    /// The consumer's published position (positions below it are free).
    /// Written only by the consumer, read by the producer when its cached
    /// copy says full.
    head: CachePadded<AtomicUsize>,
    /// `INDICES` and `IN_SLOT_AND_TAIL`: the producer's published position
    /// (positions below it hold items). Written only by the producer, after the
    /// values below it (Release); read by the consumer when its cached copy
    /// says empty.
    tail: CachePadded<AtomicUsize>,
    /// In-slot layouts: `(stamp, value)` pairs (empty otherwise). Invariant:
    /// slot `i`'s value is initialised once its stamp is `p + 1` for a
    /// position `p` with `p % len == i`, until the consumer moves past `p`.
    slots: Box<[(AtomicUsize, UnsafeCell<MaybeUninit<T>>)]>,
    /// The other layouts: the values alone, contiguous (a `u64` takes 8
    /// bytes, as in rtrb's and ringflow's rings). Same invariant, with
    /// stamp `i` of `stamps` (separate layout) or `tail` past `p`.
    values: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Separate layout: the stamps, one per slot (empty otherwise).
    stamps: Box<[AtomicUsize]>,
    mask: usize,
}

// SAFETY: a value cell is written only by the producer before it publishes
// the slot's stamp, or `tail` past it (Release), and read only by the
// consumer after it has seen that stamp or `tail` (Acquire); the producer
// writes a slot again only after the consumer has published a position past
// it (Release / Acquire on `head`).
unsafe impl<T: Send, const L: u8> Sync for Ring<T, L> {}

impl<T, const L: u8> Ring<T, L> {
    fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two());
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots: (0..if in_slot(L) { capacity } else { 0 })
                .map(|_| (AtomicUsize::new(0), UnsafeCell::new(MaybeUninit::uninit())))
                .collect(),
            values: (0..if in_slot(L) { 0 } else { capacity })
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            stamps: (0..if L == SEPARATE { capacity } else { 0 }).map(|_| AtomicUsize::new(0)).collect(),
            mask: capacity - 1,
        }
    }

    #[inline(always)]
    fn stamp(&self, i: usize) -> &AtomicUsize {
        debug_assert!(L != INDICES, "the indices layout has no stamps");
        if L == SEPARATE {
            &self.stamps[i]
        } else {
            &self.slots[i].0
        }
    }

    #[inline(always)]
    fn value(&self, i: usize) -> &UnsafeCell<MaybeUninit<T>> {
        if in_slot(L) {
            &self.slots[i].1
        } else {
            &self.values[i]
        }
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }
}

pub struct ProtoTx<T, const L: u8> {
    ring: Arc<Ring<T, L>>,
    tail: usize,
    cached_head: usize,
}

/// `EVERY`: publish `head` every this many items (a power of two).
pub struct ProtoRx<T, const L: u8, const EVERY: usize> {
    ring: Arc<Ring<T, L>>,
    head: usize,
    /// `INDICES`: the producer's position as last read.
    cached_tail: usize,
}

impl<T: Copy, const L: u8> ProtoTx<T, L> {
    #[inline(always)]
    fn push(&mut self, value: T) -> Result<(), T> {
        let ring = &*self.ring;
        if self.tail.wrapping_sub(self.cached_head) == ring.capacity() {
            // Acquire: the consumer's reads of the slots it released are done.
            self.cached_head = ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) == ring.capacity() {
                return Err(value);
            }
        }
        let i = self.tail & ring.mask;
        // SAFETY: `tail - head < capacity`, so the consumer has moved past
        // the position this slot last held and does not read it again until
        // the stamp (or `tail`) below; the producer is the only writer.
        unsafe { (*ring.value(i).get()).write(value) };
        self.tail = self.tail.wrapping_add(1);
        if L != INDICES {
            ring.stamp(i).store(self.tail, Ordering::Release);
        }
        if L == INDICES || L == IN_SLOT_AND_TAIL {
            ring.tail.store(self.tail, Ordering::Release);
        }
        Ok(())
    }
}

impl<T: Copy, const L: u8, const EVERY: usize> ProtoRx<T, L, EVERY> {
    #[inline(always)]
    fn pop(&mut self) -> Option<T> {
        let ring = &*self.ring;
        let i = self.head & ring.mask;
        let next = self.head.wrapping_add(1);
        let ready = if L == INDICES {
            if self.head == self.cached_tail {
                // Acquire: the values below `tail` are written.
                self.cached_tail = ring.tail.load(Ordering::Acquire);
            }
            self.head != self.cached_tail
        } else {
            ring.stamp(i).load(Ordering::Acquire) == next
        };
        if !ready {
            if EVERY > 1 && ring.head.load(Ordering::Relaxed) != self.head {
                // Nothing to read: release what a lazy publication held back.
                ring.head.store(self.head, Ordering::Release);
            }
            return None;
        }
        // SAFETY: the stamp (or `tail`) says the value of position `head`
        // is written (and visible: Acquire), and the producer does not write
        // this slot again before we publish a position past it. `T: Copy`,
        // so reading leaves nothing to drop.
        let value = unsafe { (*ring.value(i).get()).assume_init_read() };
        self.head = next;
        if next & (EVERY - 1) == 0 {
            ring.head.store(next, Ordering::Release);
        }
        Some(value)
    }
}

/// A prototype: the layout `L` and how often the consumer publishes
/// (`EVERY` items).
#[derive(Clone, Copy)]
struct Proto<const L: u8, const EVERY: usize>;

impl<T: Copy + Send + 'static, const L: u8, const EVERY: usize> Queue<T> for Proto<L, EVERY> {
    type Tx = ProtoTx<T, L>;
    type Rx = ProtoRx<T, L, EVERY>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        const { assert!(EVERY.is_power_of_two(), "EVERY is a mask: a power of two") };
        let ring = Arc::new(Ring::new(capacity));
        (ProtoTx { ring: ring.clone(), tail: 0, cached_head: 0 }, ProtoRx { ring, head: 0, cached_tail: 0 })
    }
}

impl<T: Copy + Send + 'static, const L: u8, const EVERY: usize> Spsc<T> for Proto<L, EVERY> {
    #[inline(always)]
    fn send(tx: &mut ProtoTx<T, L>, mut value: T, stop: &Stop) -> Result<(), Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            match tx.push(value) {
                Ok(()) => return Ok(()),
                Err(v) => value = v,
            }
            spin.spin()?;
        }
    }
    #[inline(always)]
    fn recv(rx: &mut ProtoRx<T, L, EVERY>, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        loop {
            if let Some(v) = rx.pop() {
                return Ok(v);
            }
            spin.spin()?;
        }
    }
}

/// Values per line in the line-stamp prototype: a 64-byte line holds its
/// stamp word and seven `u64` values.
const PER_LINE: usize = 7;

/// One line of the line-stamp prototype.
#[repr(C, align(64))]
struct Line {
    /// One past the position of the last item published in this line
    /// (Release, after its value): every position below it is published,
    /// since the producer publishes in order. A stamp left from an earlier
    /// lap is below any position this line holds now.
    stamp: AtomicUsize,
    /// Invariant: a value is initialised from the stamp store that covers
    /// its position until the consumer publishes a `head` past it.
    values: [UnsafeCell<MaybeUninit<u64>>; PER_LINE],
}

/// **line stamps**: one stamp word per cache line instead of per slot
/// (seven `u64` values and the line's stamp in 64 bytes: 9.1 bytes an
/// item). The producer writes a value, then its line's stamp; a consumer
/// whose cached position runs out reads the stamp of the line it needs,
/// so an item that crosses alone moves one line (as with in-slot stamps),
/// and a ring that streams moves about as many lines per item as
/// contiguous values (8/7). The stamp read is a copy of `tail` that lives
/// in the line being read: the consumer never reads a separate `tail`.
/// Position `p` is slot `p mod (7 × lines)`, tracked by each side as a
/// (line, offset) pair.
struct LineRing {
    /// As [`Ring::head`].
    head: CachePadded<AtomicUsize>,
    lines: Box<[Line]>,
    capacity: usize,
}

// SAFETY: a value is written only by the producer before the stamp store
// that covers it (Release), read only by the consumer after loading such a
// stamp (Acquire); the producer writes a slot again only after the consumer
// has published a `head` past its position (Release / Acquire).
unsafe impl Sync for LineRing {}

impl LineRing {
    fn new(capacity: usize) -> Self {
        let lines = capacity.div_ceil(PER_LINE);
        LineRing {
            head: CachePadded::new(AtomicUsize::new(0)),
            lines: (0..lines)
                .map(|_| Line {
                    stamp: AtomicUsize::new(0),
                    values: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
                })
                .collect(),
            capacity,
        }
    }
}

/// A (line, offset) slot cursor.
#[derive(Clone, Copy)]
struct Cursor {
    line: usize,
    off: usize,
}

impl Cursor {
    #[inline(always)]
    fn advance(&mut self, lines: usize) {
        self.off += 1;
        if self.off == PER_LINE {
            self.off = 0;
            self.line += 1;
            if self.line == lines {
                self.line = 0;
            }
        }
    }
}

pub struct LineTx {
    ring: Arc<LineRing>,
    tail: usize,
    cached_head: usize,
    at: Cursor,
}

pub struct LineRx {
    ring: Arc<LineRing>,
    head: usize,
    /// One past the last position known published (a stamp, as last read).
    cached_tail: usize,
    at: Cursor,
}

impl LineTx {
    #[inline(always)]
    fn push(&mut self, value: u64) -> Result<(), u64> {
        let ring = &*self.ring;
        if self.tail.wrapping_sub(self.cached_head) == ring.capacity {
            // Acquire: the consumer's reads of the slots it released are done.
            self.cached_head = ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) == ring.capacity {
                return Err(value);
            }
        }
        let line = &ring.lines[self.at.line];
        // SAFETY: `tail - head < capacity <= slots`, so the consumer has
        // published a `head` past the position this slot last held and does
        // not read it again before the stamp store below covers `tail`.
        unsafe { (*line.values[self.at.off].get()).write(value) };
        self.tail = self.tail.wrapping_add(1);
        line.stamp.store(self.tail, Ordering::Release);
        self.at.advance(ring.lines.len());
        Ok(())
    }
}

impl LineRx {
    #[inline(always)]
    fn pop(&mut self) -> Option<u64> {
        let ring = &*self.ring;
        let line = &ring.lines[self.at.line];
        if self.head == self.cached_tail {
            // Acquire: the values below the stamp are written.
            let stamp = line.stamp.load(Ordering::Acquire);
            if (stamp.wrapping_sub(self.head) as isize) <= 0 {
                return None;
            }
            self.cached_tail = stamp;
        }
        // SAFETY: a stamp above `head` covers its position (the value is
        // written and visible: Acquire), and the producer does not write
        // this slot again before we publish a `head` past it.
        let value = unsafe { (*line.values[self.at.off].get()).assume_init_read() };
        self.head = self.head.wrapping_add(1);
        self.at.advance(ring.lines.len());
        ring.head.store(self.head, Ordering::Release);
        Some(value)
    }
}

/// The line-stamp prototype (`u64` items).
#[derive(Clone, Copy)]
struct LineProto;

impl Queue<Item> for LineProto {
    type Tx = LineTx;
    type Rx = LineRx;
    fn channel(self, capacity: usize) -> (LineTx, LineRx) {
        let ring = Arc::new(LineRing::new(capacity));
        let at = Cursor { line: 0, off: 0 };
        (LineTx { ring: ring.clone(), tail: 0, cached_head: 0, at }, LineRx { ring, head: 0, cached_tail: 0, at })
    }
}

impl Spsc<Item> for LineProto {
    #[inline(always)]
    fn send(tx: &mut LineTx, value: Item, stop: &Stop) -> Result<(), Stopped> {
        let mut spin = Spin::new(stop);
        push_until(value[0], |v| tx.push(v), || spin.spin())
    }
    #[inline(always)]
    fn recv(rx: &mut LineRx, stop: &Stop) -> Result<Item, Stopped> {
        let mut spin = Spin::new(stop);
        pop_until(|| rx.pop().map(|v| [v]), || spin.spin())
    }
}

/// Temporal slipping (FastForward's name for it: Giacomoni, Moseley and
/// Vachharajani, PPoPP 2008): the consumer's loop waits `B` spin hints
/// after each poll that finds the ring empty, on top of the one every spin
/// loop here makes, so that it reads the shared lines less often and the
/// producer keeps them between items (the consumer then finds several
/// items per look). A policy of the consumer's loop around `try_*`, which
/// any ring's user can run: rtrb and ringflow both get it. It costs
/// latency: an item may wait up to the slip (`B` hints; `std::hint::spin_loop`
/// took 9.6 ns on the Intel Xeon VM of 2026-12-07) before the consumer
/// looks, which this throughput harness does not show.
#[derive(Clone, Copy)]
struct Slip<const B: u32, const RINGFLOW: bool>;

/// The consumer's wait after an empty poll: `B` hints, then the loop's own.
#[inline(always)]
fn slip<const B: u32>(spin: &mut Spin) -> Result<(), Stopped> {
    for _ in 0..B {
        std::hint::spin_loop();
    }
    spin.spin()
}

impl<T: Send + 'static, const B: u32> Queue<T> for Slip<B, false> {
    type Tx = rtrb::Producer<T>;
    type Rx = rtrb::Consumer<T>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        Rtrb.channel(capacity)
    }
}

impl<T: Send + 'static, const B: u32> Spsc<T> for Slip<B, false> {
    #[inline(always)]
    fn send(tx: &mut rtrb::Producer<T>, value: T, stop: &Stop) -> Result<(), Stopped> {
        <Rtrb as Spsc<T>>::send(tx, value, stop)
    }
    #[inline(always)]
    fn recv(rx: &mut rtrb::Consumer<T>, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        pop_until(|| rx.pop().ok(), || slip::<B>(&mut spin))
    }
    fn len(rx: &rtrb::Consumer<T>) -> Option<usize> {
        <Rtrb as Spsc<T>>::len(rx)
    }
}

impl<T: Send + 'static, const B: u32> Queue<T> for Slip<B, true> {
    type Tx = ringflow::spsc::Producer<T>;
    type Rx = ringflow::spsc::Consumer<T>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        RingflowTry.channel(capacity)
    }
}

impl<T: Send + 'static, const B: u32> Spsc<T> for Slip<B, true> {
    #[inline(always)]
    fn send(tx: &mut ringflow::spsc::Producer<T>, value: T, stop: &Stop) -> Result<(), Stopped> {
        <RingflowTry as Spsc<T>>::send(tx, value, stop)
    }
    #[inline(always)]
    fn recv(rx: &mut ringflow::spsc::Consumer<T>, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        // As `RingflowTry`'s loop: nothing yet is `Empty`; a producer gone
        // mid-run is a harness bug, not "nothing yet".
        let pop = || match rx.try_recv() {
            Ok(v) => Some(v),
            Err(ringflow::TryRecvError::Empty) => None,
            Err(ringflow::TryRecvError::Disconnected) => panic!("sender gone"),
        };
        pop_until(pop, || slip::<B>(&mut spin))
    }
    fn len(rx: &ringflow::spsc::Consumer<T>) -> Option<usize> {
        <RingflowTry as Spsc<T>>::len(rx)
    }
}

/// A run: its rate (M items/s) and the mean fill its consumer saw (NaN for
/// the prototypes, which cannot tell their length).
type Run = fn(u64, (CoreId, CoreId), SideWork) -> (f64, f64);

/// `--send-out-of-line`: every ring's producer sends through a call per
/// item ([`OutOfLine`]).
static SEND_OUT_OF_LINE: AtomicBool = AtomicBool::new(false);

/// `Q` with its producer's send (try + spin) called out of line: one call
/// per item, as a wrapper that is not inlined or a trait object makes it;
/// the consumer's loop is `Q`'s, inlined. A few ns more per item on the
/// producer's side can decide which mode a free-running pair settles in
/// (`docs/measurements.md`, 2026-12-07 15:0x).
#[derive(Clone, Copy)]
struct OutOfLine<Q>(Q);

impl<T: Send + 'static, Q: Queue<T>> Queue<T> for OutOfLine<Q> {
    type Tx = Q::Tx;
    type Rx = Q::Rx;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        self.0.channel(capacity)
    }
}

impl<T: Send + 'static, Q: Spsc<T>> Spsc<T> for OutOfLine<Q> {
    fn send(tx: &mut Q::Tx, value: T, stop: &Stop) -> Result<(), Stopped> {
        send_out_of_line::<T, Q>(tx, value, stop)
    }
    #[inline(always)]
    fn recv(rx: &mut Q::Rx, stop: &Stop) -> Result<T, Stopped> {
        Q::recv(rx, stop)
    }
    fn len(rx: &Q::Rx) -> Option<usize> {
        Q::len(rx)
    }
}

/// `Q::send`, never inlined into its caller's loop.
#[inline(never)]
fn send_out_of_line<T: Send + 'static, Q: Spsc<T>>(tx: &mut Q::Tx, value: T, stop: &Stop) -> Result<(), Stopped> {
    Q::send(tx, value, stop)
}

fn rate<Q: Spsc<Item>>(q: Q, items: u64, cores: (CoreId, CoreId), work: SideWork) -> (f64, f64) {
    let (t, fill) = if SEND_OUT_OF_LINE.load(Ordering::Relaxed) {
        spsc_transfer_regime::<Item, OutOfLine<Q>>(OutOfLine(q), CAP, items, cores, work)
    } else {
        spsc_transfer_regime::<Item, Q>(q, CAP, items, cores, work)
    };
    (items as f64 / t.as_secs_f64() / 1e6, fill.mean)
}

/// Each side's loop and work with no ring between them
/// ([`spsc_work_alone`]): no ring moves items faster in a regime with work,
/// so its ratio to rtrb is the most any hand-over could lead rtrb by there.
/// Not run free-running (no work: nothing bounds the rings there).
fn work_alone(items: u64, cores: (CoreId, CoreId), work: SideWork) -> (f64, f64) {
    if work.producer == 0 && work.consumer == 0 {
        return (f64::NAN, f64::NAN);
    }
    (items as f64 / spsc_work_alone::<Item>(items, cores, work).as_secs_f64() / 1e6, f64::NAN)
}

const IMPLS: [(&str, Run); 14] = [
    ("in-slot stamps", |n, c, w| rate(Proto::<IN_SLOT, 1>, n, c, w)),
    ("line stamps", |n, c, w| rate(LineProto, n, c, w)),
    ("in-slot stamps, tail published too", |n, c, w| rate(Proto::<IN_SLOT_AND_TAIL, 1>, n, c, w)),
    ("in-slot stamps, lazy head (64)", |n, c, w| rate(Proto::<IN_SLOT, 64>, n, c, w)),
    ("separate stamps", |n, c, w| rate(Proto::<SEPARATE, 1>, n, c, w)),
    ("cached indices (bare)", |n, c, w| rate(Proto::<INDICES, 1>, n, c, w)),
    ("rtrb", |n, c, w| rate(Rtrb, n, c, w)),
    ("ringflow SPSC try (today)", |n, c, w| rate(RingflowTry, n, c, w)),
    ("ringflow SPSC stamped try", |n, c, w| rate(RingflowStampedTry, n, c, w)),
    ("rtrb, slip 16 hints after empty", |n, c, w| rate(Slip::<16, false>, n, c, w)),
    ("rtrb, slip 64", |n, c, w| rate(Slip::<64, false>, n, c, w)),
    ("ringflow try, slip 16", |n, c, w| rate(Slip::<16, true>, n, c, w)),
    ("ringflow try, slip 64", |n, c, w| rate(Slip::<64, true>, n, c, w)),
    ("work alone (no ring): the bound", work_alone),
];
const RTRB: usize = 6;

fn main() {
    check_args(
        "cargo bench --bench handover [-- --quick] [--rounds N] [--items N] [--fixed-work] [--send-out-of-line]",
        &["--quick", "--fixed-work", "--send-out-of-line"],
        &["--rounds", "--items"],
        false,
    );
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let fixed = args.iter().any(|a| a == "--fixed-work");
    let out_of_line = args.iter().any(|a| a == "--send-out-of-line");
    SEND_OUT_OF_LINE.store(out_of_line, Ordering::Relaxed);
    let rounds = arg_value(&args, "--rounds").map_or(if quick { 3 } else { 7 }, |n| n as usize);
    let items = arg_value(&args, "--items").unwrap_or(if quick { 200_000 } else { 2_000_000 });
    let cores = cores();
    let regimes: Vec<(String, SideWork)> = [
        ("free-running", 0.0, true),
        ("near-empty", 10.0, true),
        ("near-empty", 30.0, true),
        ("near-full", 10.0, false),
        ("near-full", 30.0, false),
    ]
    .iter()
    .map(|&(name, ns, producer)| {
        let units = if ns > 0.0 { busy_units_for(ns) } else { 0 };
        let work = if producer {
            SideWork { producer: units, consumer: 0, fixed }
        } else {
            SideWork { producer: 0, consumer: units, fixed }
        };
        let label = if ns > 0.0 {
            format!("{name}, {ns} ns/item on the {}", if producer { "producer" } else { "consumer" })
        } else {
            name.to_owned()
        };
        (label, work)
    })
    .collect();
    println!(
        "# SPSC hand-over experiment: cores {} and {}, capacity {CAP}, u64, {items} items per run, {rounds} rounds (order rotated), {}{}",
        cores.0.id,
        cores.1.id,
        ItemWork::describe(fixed),
        if out_of_line { ", the producer's send called out of line (a call per item)" } else { "" }
    );
    let placement = Placement::probe(cores);
    for (label, work) in &regimes {
        // rates[impl][round], and the mean fill of each run
        let mut rates = vec![vec![0.0; rounds]; IMPLS.len()];
        let mut fills = vec![vec![f64::NAN; rounds]; IMPLS.len()];
        Rounds { rounds, rotate_by: 1, label: label.clone() }.run(
            IMPLS.len(),
            |i| {
                (IMPLS[i].1)(items / 10, cores, *work);
            },
            |i, round, _| (rates[i][round], fills[i][round]) = (IMPLS[i].1)(items, cores, *work),
        );
        // The fill says which regime a row really ran in (a label is only
        // the work that was meant to produce it): near-empty about 0,
        // near-full about the capacity.
        println!(
            "\n## {label}\n| implementation | M items/s (median, min–max) | / rtrb per round (median, min–max) | mean fill (median) |\n|---|---|---|---|"
        );
        for (i, (name, _)) in IMPLS.iter().enumerate() {
            if rates[i].iter().all(|r| r.is_nan()) {
                continue; // the bound, free-running
            }
            let (m, lo, hi) = spread(rates[i].clone());
            let (r, rlo, rhi) = spread((0..rounds).map(|k| rates[i][k] / rates[RTRB][k]).collect());
            let fill = spread(fills[i].clone()).0;
            let fill = if fill.is_nan() { "–".to_owned() } else { format!("{fill:.0}") };
            println!("| {name} | {m:.1} ({lo:.1}–{hi:.1}) | {r:.2}x ({rlo:.2}–{rhi:.2}) | {fill} |");
        }
    }
    println!("\n{}", placement.report());
}

/// Median (of the middle two for an even count), min and max.
fn spread(v: Vec<f64>) -> (f64, f64, f64) {
    let s = Spread::of(&v);
    (s.median, s.min, s.max)
}
