//! The operation interpreter shared by the cargo-fuzz targets (`fuzz/`,
//! included there with `#[path]`) and the stable replay test
//! (`tests/fuzz_replay.rs`).
//!
//! An input is raw bytes, decoded by hand (no `arbitrary` dependency, so the
//! stable side needs nothing extra); every byte string is a valid input. It
//! is a series of *sessions*; each builds one channel and runs
//! single-threaded operations on it, comparing every result with a
//! `VecDeque` model:
//!
//! ```text
//! session := cap cfg extra op*     (ends when every handle is dropped or the
//!                                   input runs out; missing bytes read as 0)
//! cap:   capacity = 1 + b % 17
//! cfg:   strategy = b % 3 (BusySpin, SpinYield, Park); start position
//!        = (b / 3) % 4 -> 0, near usize::MAX, near isize::MAX, a few laps
//!        below usize::MAX; bit 7: which side the end of the session drops
//!        first
//! extra: b % 3 == 0 -> no watermarks, else low = (b / 3) % cap and
//!        high = low + 1 + (b / 7) % (cap - low); bit 7 (SPSC only): a
//!        `Copy` payload, which enables `send_slice` / `recv_into`;
//!        broadcast: no watermarks, bit 7 picks Lossy (else Block)
//! op:    low 6 bits pick the operation (`SPSC_OPS` / `MPMC_OPS` /
//!        `BROADCAST_OPS`), bit 6 keeps a received value for a while instead
//!        of dropping it, bit 7 picks a variant; some ops read argument
//!        bytes, and MPMC / broadcast ops read a handle index when a side
//!        has more than one handle
//! ```
//!
//! Every SPSC session runs twice from the same bytes: on the default slot
//! layout, then on the stamped one (`Builder::spsc_stamped`; always flat,
//! its chunks read and written a slot at a time: see `FuzzLayout`).
//!
//! Payloads are [`Val`]s: each carries a unique id and a heap-allocated tag
//! derived from it (so a double drop is a double free that ASan reports, and
//! a value read from a stale or uninitialised slot fails the tag check), and
//! records its drop in a per-session [`Tracker`]. After every operation the
//! number of drops must equal the number of values created minus those the
//! model says are alive (queued in the ring or held by the interpreter); a
//! second drop of one id panics at once; when a session ends every id must
//! have been dropped exactly once.
//!
//! The model encodes the documented contract: exact capacity, strict FIFO,
//! `Full` / `Empty` / `Disconnected` exactly when the model says, values
//! handed back in errors, `force_send` evicting exactly the oldest, batch
//! calls moving exactly `min(asked, room)` items, `len()` exact (one thread,
//! so never stale), `is_disconnected()` exactly when the other side has no
//! live handle, queued items dropped only when the last handle of the
//! channel goes, and the congestion flag following its hysteresis (at or
//! above `high` after a send: `Congested`; at or below `low` after a
//! receive: `Clear`), checked through `stats()` after every step without
//! querying (a `congestion()` query applies transitions itself and would
//! hide a missed one).
//!
//! The broadcast model keeps one `VecDeque` per live receiver (the items it
//! will still get, at most `capacity`) and a pending `Lagged` count. Block:
//! a send is `Full` exactly when the slowest live receiver holds `capacity`
//! items. Lossy: a send always succeeds (with a receiver alive), and a
//! receiver that held `capacity` items loses its oldest; its next receive
//! must return `Lagged(n)` with the exact `n`, then continue from the oldest
//! item still held, so `received + missed + lag` = items sent since it
//! joined. A clone starts at its original's position (pending `Lagged`
//! included), a subscriber at the sender's. Its payload, [`BVal`], makes
//! every `Clone` a tracked instance of its own: a receive must make exactly
//! one fresh clone, the ring must own exactly the originals of the last
//! `capacity` items sent (dropped by the send that reuses their slot, or
//! with the last handle), and every original and clone must be dropped
//! exactly once. After every step: each receiver's `len`, `is_empty`,
//! `is_full`, `lag`, `missed`, `stats()`, `is_disconnected`, `capacity`,
//! `policy`, and the sender's `len` / `slowest_lag` (the slowest live
//! receiver's queue), `receiver_count`, `is_disconnected`, `stats()`.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringflow::broadcast::{self, Policy};
use ringflow::{
    mpmc, spsc, Builder, Congestion, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySendError, WaitStrategy,
};

/// Mixed into every tag so that a zeroed or stale value does not pass.
const TAG: usize = 0x5A5A_C3C3_0F0F_9696;

/// Most values the interpreter keeps out of the ring at once.
const MAX_HELD: usize = 8;

/// Most live handles per side (MPMC).
const MAX_HANDLES: usize = 4;

// ---------------------------------------------------------------------------
// Input decoding
// ---------------------------------------------------------------------------

/// A cursor over the fuzz input: op bytes end the session when the input
/// runs out, argument bytes read as 0.
#[derive(Clone)]
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }

    fn arg(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    /// An index below `len` (0 without reading when `len <= 1`).
    fn pick(&mut self, len: usize) -> usize {
        if len <= 1 {
            0
        } else {
            self.arg() as usize % len
        }
    }

    fn is_done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Channel configuration decoded from a session header.
#[derive(Clone, Copy, Debug)]
struct Config {
    capacity: usize,
    strategy: WaitStrategy,
    start: usize,
    marks: Option<(usize, usize)>,
    /// Which side the end of the session drops first.
    drop_tx_first: bool,
    /// SPSC: use the `Copy` payload.
    plain: bool,
    /// Keep the items in small pieces (`Builder::__segment_slots`): SPSC
    /// segments starting at this many slots, so that a few items grow,
    /// shrink and hand over segments; MPMC pages of this many slots rounded
    /// up to a power of two (2 or 4), so that a few items attach, retire
    /// and recycle pages; `None`: the default policy (flat rings at these
    /// capacities). SPSC, at or above the capacity: a flat buffer of
    /// exactly that many slots.
    segment: Option<usize>,
    /// SPSC with the default policy (`segment` is `None`): a flat buffer of
    /// exactly `capacity` slots instead of the default slack beyond it
    /// (`__segment_slots(capacity)`), so that a few items wrap around the
    /// buffer and reuse its slots. Half of those sessions.
    exact_flat: bool,
    /// SPSC: the session runs on the stamped layout (not decoded: every
    /// SPSC session runs on both layouts, this one second). A stamped ring
    /// is flat whatever `segment` asks.
    stamped: bool,
}

impl Config {
    fn decode(input: &mut Input<'_>) -> Self {
        let capacity_arg = input.arg() as usize;
        let capacity = 1 + capacity_arg % 17;
        // The byte's upper part (unused by the capacity): segments of 1, 2
        // or 3 slots in three sessions of four.
        let segment = match (capacity_arg / 17) % 4 {
            0 => None,
            k => Some(k),
        };
        let exact_flat = segment.is_none() && (capacity_arg / 68) % 2 == 1;
        let cfg = input.arg();
        let extra = input.arg();
        let strategy = match cfg % 3 {
            0 => WaitStrategy::BusySpin,
            1 => WaitStrategy::SpinYield,
            _ => WaitStrategy::Park,
        };
        let offset = ((cfg >> 4) & 7) as usize;
        let start = match (cfg / 3) % 4 {
            0 => 0,
            1 => usize::MAX - offset,
            2 => (isize::MAX as usize) - offset,
            _ => usize::MAX - 3 * capacity - offset,
        };
        let m = (extra & 0x7f) as usize;
        let marks = match m % 3 {
            0 => None,
            _ => {
                let low = (m / 3) % capacity;
                let high = low + 1 + (m / 7) % (capacity - low);
                Some((low, high))
            }
        };
        Config {
            capacity,
            strategy,
            start,
            marks,
            drop_tx_first: cfg & 0x80 == 0,
            plain: extra & 0x80 != 0,
            segment,
            exact_flat,
            stamped: false,
        }
    }

    /// Whether the SPSC ring of this session keeps its items in segments:
    /// then a chunk may end at a segment boundary, before the room (or the
    /// queue) does.
    fn segmented(&self) -> bool {
        !self.stamped && self.segment.is_some_and(|slots| slots < self.capacity)
    }

    fn builder(&self) -> Builder {
        let mut b = Builder::new(self.capacity).wait_strategy(self.strategy).__start_position(self.start);
        if let Some(slots) = self.segment {
            b = b.__segment_slots(slots);
        }
        match self.marks {
            Some((low, high)) => b.watermarks(low, high),
            None => b,
        }
    }
}

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

/// Drop counts for the values of one session.
#[derive(Default)]
pub struct Tracker {
    drops: RefCell<Vec<u8>>,
    total: Cell<usize>,
    /// Calls of `Clone` (broadcast payloads only).
    clones: Cell<usize>,
}

impl Tracker {
    fn register(&self) -> usize {
        let mut drops = self.drops.borrow_mut();
        drops.push(0);
        drops.len() - 1
    }

    fn created(&self) -> usize {
        self.drops.borrow().len()
    }

    fn total_drops(&self) -> usize {
        self.total.get()
    }

    /// Records a drop of value `id`; panics on a second one (unless already
    /// panicking).
    fn record_drop(&self, id: usize) {
        let mut drops = self.drops.borrow_mut();
        drops[id] += 1;
        self.total.set(self.total.get() + 1);
        let n = drops[id];
        drop(drops);
        if n > 1 && !std::thread::panicking() {
            panic!("value {id} dropped {n} times (double drop)");
        }
    }

    fn drops_of(&self, id: usize) -> u8 {
        self.drops.borrow()[id]
    }

    /// Panics unless every value created was dropped exactly once.
    fn assert_all_dropped_once(&self) {
        for (id, &n) in self.drops.borrow().iter().enumerate() {
            assert_eq!(n, 1, "value {id} was dropped {n} times at the end of the session (leak if 0)");
        }
    }
}

/// What the interpreter needs from a payload type.
trait Payload: Sized {
    /// Drops are counted (false for `Copy` payloads, which have no drop).
    const TRACKED: bool;
    fn make(tracker: &Rc<Tracker>) -> Self;
    /// The id, after checking that the value is intact.
    fn check_id(&self) -> usize;
    /// `send_slice`, for `Copy` payloads; `None` if the type has none.
    fn send_slice<L: FuzzLayout>(_tx: &mut spsc::Producer<Self, L>, _items: &[Self]) -> Option<usize> {
        None
    }
    /// `recv_into` a buffer of `n` placeholders, for `Copy` payloads.
    fn recv_into<L: FuzzLayout>(_rx: &mut spsc::Consumer<Self, L>, _n: usize) -> Option<(usize, Vec<Self>)> {
        None
    }
}

/// The drop-counting payload: a unique id, a heap tag derived from it, and
/// a drop record.
pub struct Val {
    id: usize,
    tag: Box<usize>,
    tracker: Rc<Tracker>,
}

impl Payload for Val {
    const TRACKED: bool = true;

    fn make(tracker: &Rc<Tracker>) -> Self {
        let id = tracker.register();
        Val { id, tag: Box::new(id ^ TAG), tracker: tracker.clone() }
    }

    #[track_caller]
    fn check_id(&self) -> usize {
        assert_eq!(*self.tag, self.id ^ TAG, "value {} has a corrupt tag (stale or torn read?)", self.id);
        assert_eq!(self.tracker.drops.borrow()[self.id], 0, "value {} used after it was dropped", self.id);
        self.id
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.tracker.record_drop(self.id);
    }
}

/// Checks the size of a chunk granted where `want` is the smaller of the
/// request and the room (or queue): exactly `want` on a flat ring; on a
/// segmented one at most `want` (it ends where the segment does) and at
/// least one if `want` is. Returns the grant.
fn chunk_grant(segmented: bool, granted: usize, want: usize, what: &str, step: usize) -> usize {
    if segmented {
        assert!(granted <= want && (want == 0 || granted > 0), "step {step}: {what} granted {granted} of {want}");
    } else {
        assert_eq!(granted, want, "step {step}: {what} granted");
    }
    granted
}

/// A `Copy` payload (for `send_slice` / `recv_into`): an id and a check word.
#[derive(Clone, Copy)]
pub struct Plain {
    id: u32,
    check: u32,
}

impl Plain {
    /// What `recv_into` must leave alone past the items it returns.
    const PLACEHOLDER: Plain = Plain { id: u32::MAX, check: 0 };
}

impl Payload for Plain {
    const TRACKED: bool = false;

    fn make(tracker: &Rc<Tracker>) -> Self {
        let id = tracker.register() as u32;
        Plain { id, check: id ^ TAG as u32 }
    }

    #[track_caller]
    fn check_id(&self) -> usize {
        assert_eq!(self.check, self.id ^ TAG as u32, "value {} has a corrupt check word", self.id);
        self.id as usize
    }

    fn send_slice<L: FuzzLayout>(tx: &mut spsc::Producer<Self, L>, items: &[Self]) -> Option<usize> {
        Some(L::send_slice(tx, items))
    }

    fn recv_into<L: FuzzLayout>(rx: &mut spsc::Consumer<Self, L>, n: usize) -> Option<(usize, Vec<Self>)> {
        let mut out = vec![Plain::PLACEHOLDER; n];
        let got = L::recv_into(rx, &mut out);
        Some((got, out))
    }
}

/// What the SPSC interpreter does differently on each slot layout: the
/// slice copies (each layout has its own `send_slice` / `recv_into`), and
/// how a chunk's slots are written and read (the default layout's as
/// slices, whose split it checks; the stamped layout's one by one).
trait FuzzLayout: spsc::Layout {
    const STAMPED: bool;
    fn send_slice<P: Copy>(tx: &mut spsc::Producer<P, Self>, items: &[P]) -> usize;
    fn recv_into<P: Copy>(rx: &mut spsc::Consumer<P, Self>, out: &mut [P]) -> usize;
    /// Writes `vals` into the first granted slots of `chunk` (`granted` of
    /// them; the producer's slot index `tail_idx` in a flat buffer of
    /// `flat_len`, checked unless `segmented`).
    fn write<P>(chunk: &mut spsc::WriteChunkUninit<'_, P, Self>, vals: Vec<P>, at: ChunkAt, step: usize);
    /// The granted items of `chunk`, oldest first (`granted` of them, from
    /// slot index `head_idx`).
    fn read<'c, P>(chunk: &'c spsc::ReadChunk<'_, P, Self>, at: ChunkAt, step: usize) -> Vec<&'c P>;
}

/// Where a chunk lies: its length, its first slot index in a flat buffer of
/// `flat_len` slots, and whether the ring is segmented (then the index is
/// not checked).
#[derive(Clone, Copy)]
struct ChunkAt {
    granted: usize,
    idx: usize,
    flat_len: usize,
    segmented: bool,
}

impl FuzzLayout for spsc::Packed {
    const STAMPED: bool = false;

    fn send_slice<P: Copy>(tx: &mut spsc::Producer<P, Self>, items: &[P]) -> usize {
        tx.send_slice(items)
    }

    fn recv_into<P: Copy>(rx: &mut spsc::Consumer<P, Self>, out: &mut [P]) -> usize {
        rx.recv_into(out)
    }

    fn write<P>(chunk: &mut spsc::WriteChunkUninit<'_, P, Self>, vals: Vec<P>, at: ChunkAt, step: usize) {
        let (first, second) = chunk.as_mut_slices();
        if !at.segmented {
            assert_eq!(first.len(), at.granted.min(at.flat_len - at.idx), "step {step}: first slice");
        }
        assert_eq!(first.len() + second.len(), at.granted, "step {step}: slices cover the grant");
        for (slot, v) in first.iter_mut().chain(second.iter_mut()).zip(vals) {
            slot.write(v);
        }
    }

    fn read<'c, P>(chunk: &'c spsc::ReadChunk<'_, P, Self>, at: ChunkAt, step: usize) -> Vec<&'c P> {
        let (first, second) = chunk.as_slices();
        if !at.segmented {
            assert_eq!(first.len(), at.granted.min(at.flat_len - at.idx), "step {step}: first slice");
        }
        assert_eq!(first.len() + second.len(), at.granted, "step {step}: slices cover the grant");
        first.iter().chain(second).collect()
    }
}

impl FuzzLayout for spsc::Stamped {
    const STAMPED: bool = true;

    fn send_slice<P: Copy>(tx: &mut spsc::Producer<P, Self>, items: &[P]) -> usize {
        tx.send_slice(items)
    }

    fn recv_into<P: Copy>(rx: &mut spsc::Consumer<P, Self>, out: &mut [P]) -> usize {
        rx.recv_into(out)
    }

    fn write<P>(chunk: &mut spsc::WriteChunkUninit<'_, P, Self>, vals: Vec<P>, at: ChunkAt, step: usize) {
        assert!(chunk.get_mut(at.granted).is_none(), "step {step}: a slot past the grant");
        for (i, v) in vals.into_iter().enumerate() {
            chunk.get_mut(i).expect("within the grant").write(v);
        }
    }

    fn read<'c, P>(chunk: &'c spsc::ReadChunk<'_, P, Self>, at: ChunkAt, step: usize) -> Vec<&'c P> {
        assert!(chunk.get(at.granted).is_none(), "step {step}: an item past the grant");
        let items: Vec<&P> = chunk.iter().collect();
        assert_eq!(items.len(), at.granted, "step {step}: iter covers the grant");
        items
    }
}

/// Checks that `got` is the value with id `want`.
#[track_caller]
fn expect_id<P: Payload>(got: &P, want: usize, what: &str) {
    let id = got.check_id();
    assert_eq!(id, want, "{what}: got value {id}, the model expected {want}");
}

// ---------------------------------------------------------------------------
// State common to both interpreters
// ---------------------------------------------------------------------------

/// The model plus the values the interpreter holds outside the ring.
struct Model<P> {
    cfg: Config,
    tracker: Rc<Tracker>,
    queue: VecDeque<usize>,
    held: Vec<P>,
    /// Items ever enqueued / dequeued (SPSC slot indices derive from them).
    pushed: usize,
    popped: usize,
    congested: bool,
    transitions: u64,
    evictions: u64,
    step: usize,
}

impl<P: Payload> Model<P> {
    fn new(cfg: Config) -> Self {
        Model {
            cfg,
            tracker: Rc::new(Tracker::default()),
            queue: VecDeque::new(),
            held: Vec::new(),
            pushed: 0,
            popped: 0,
            congested: false,
            transitions: 0,
            evictions: 0,
            step: 0,
        }
    }

    fn make(&self) -> P {
        P::make(&self.tracker)
    }

    fn make_n(&self, n: usize) -> Vec<P> {
        (0..n).map(|_| self.make()).collect()
    }

    fn free(&self) -> usize {
        self.cfg.capacity - self.queue.len()
    }

    fn is_full(&self) -> bool {
        self.queue.len() == self.cfg.capacity
    }

    fn push(&mut self, id: usize) {
        assert!(self.queue.len() < self.cfg.capacity, "step {}: the model overflowed", self.step);
        self.queue.push_back(id);
        self.pushed += 1;
    }

    /// Pops the model's oldest id and checks `got` against it.
    #[track_caller]
    fn received(&mut self, got: &P, what: &str) {
        let want =
            self.queue.pop_front().unwrap_or_else(|| panic!("step {}: {what}: a value from an empty model", self.step));
        self.popped += 1;
        expect_id(got, want, what);
    }

    /// Keeps `v` out of the ring for a while if `keep`, else drops it.
    fn dispose(&mut self, v: P, keep: bool) {
        if keep && self.held.len() < MAX_HELD {
            self.held.push(v);
        }
    }

    fn drop_held(&mut self, which: u8) {
        if !self.held.is_empty() {
            let i = which as usize % self.held.len();
            drop(self.held.swap_remove(i));
        }
    }

    /// The congestion hysteresis after an operation: at or above `high`
    /// the flag is up, at or below `low` it is down, in between unchanged.
    /// (The length changes only through sends and receives, each of which
    /// applies the transition it calls for.)
    fn settle_congestion(&mut self) {
        let Some((low, high)) = self.cfg.marks else { return };
        let len = self.queue.len();
        let want = if len >= high {
            true
        } else if len <= low {
            false
        } else {
            self.congested
        };
        if want != self.congested {
            self.congested = want;
            self.transitions += 1;
        }
    }

    fn congestion(&self) -> Congestion {
        if self.congested {
            Congestion::Congested
        } else {
            Congestion::Clear
        }
    }

    /// Drops are exactly the values created minus the live ones.
    #[track_caller]
    fn check_drops(&self) {
        if !P::TRACKED {
            return;
        }
        let live = self.queue.len() + self.held.len();
        let expected = self.tracker.created() - live;
        assert_eq!(
            self.tracker.total_drops(),
            expected,
            "step {}: {} drops, expected {expected} ({} created, {} queued, {} held)",
            self.step,
            self.tracker.total_drops(),
            self.tracker.created(),
            self.queue.len(),
            self.held.len()
        );
    }

    #[track_caller]
    fn check_stats(&self, stats: ringflow::Stats, who: &str) {
        let step = self.step;
        assert_eq!(stats.evictions, self.evictions, "step {step}: {who}.stats().evictions");
        assert_eq!(stats.congestion_transitions, self.transitions, "step {step}: {who}.stats().congestion_transitions");
        assert_eq!(stats.parks, 0, "step {step}: {who}.stats().parks on one thread");
        assert_eq!(stats.wakeups, 0, "step {step}: {who}.stats().wakeups on one thread");
    }

    /// Ends the session: the ring and its handles are gone, so every value
    /// must have been dropped exactly once once the held ones go too.
    fn finish(mut self) {
        self.queue.clear(); // the last handle dropped these
        self.check_drops();
        self.held.clear();
        self.check_drops();
        if P::TRACKED {
            self.tracker.assert_all_dropped_once();
        }
    }
}

/// Expands `(op, weight)` pairs into a lookup table; the weights must add
/// up to `N` (checked at compile time).
const fn op_table<T: Copy, const N: usize>(weights: &[(T, usize)]) -> [T; N] {
    let mut table = [weights[0].0; N];
    let (mut i, mut at) = (0, 0);
    while i < weights.len() {
        let mut k = 0;
        while k < weights[i].1 {
            table[at] = weights[i].0;
            at += 1;
            k += 1;
        }
        i += 1;
    }
    assert!(at == N, "op weights must add up to the table size");
    table
}

/// Maps a one-try receive result onto `try_recv`'s.
fn timeout_to_try(e: RecvTimeoutError) -> TryRecvError {
    match e {
        RecvTimeoutError::Timeout => TryRecvError::Empty,
        RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
    }
}

// ---------------------------------------------------------------------------
// SPSC
// ---------------------------------------------------------------------------

/// SPSC operations, picked by `SPSC_OPS[op_byte & 63]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpscOp {
    /// `try_send` of a new value.
    TrySend,
    /// `try_recv`.
    TryRecv,
    /// `peek` (twice), checked against the model's front; removes nothing.
    Peek,
    /// `send_timeout(v, 0)`: one try.
    SendTimeoutZero,
    /// `recv_timeout(0)`: one try.
    RecvTimeoutZero,
    /// `send` (variant: `send_timeout(MAX)`) when it cannot block, else
    /// `send_deadline(now)`.
    Send,
    /// `recv` (variant: `recv_timeout(MAX)`) when it cannot block, else
    /// `recv_deadline(now)`.
    Recv,
    /// `try_iter().take(n)`.
    TryIter,
    /// Drop one of the values held outside the ring.
    DropHeld,
    /// Drop the producer.
    DropProducer,
    /// Drop the consumer.
    DropConsumer,
    /// `Debug` of both handles, `Display` of an error.
    Format,
    /// `congestion()` on either handle, compared with the model.
    Congestion,
    /// `Producer::wait_until_clear` (`None` when it cannot block, else a
    /// past deadline).
    WaitUntilClear,
    /// `write_chunk_uninit(n)`, write `k` of the granted slots, `commit(k)`
    /// (variant: `commit_all` after writing all).
    WriteChunk,
    /// `write_chunk_uninit(n).fill_from_iter(m values)`.
    FillFromIter,
    /// `send_iter(m values)`.
    SendIter,
    /// `read_chunk(n)`, `as_slices`, then `release(k)`, move `k` out with
    /// its iterator, or drop it.
    ReadChunk,
    /// `send_slice` (`Copy` payload sessions only).
    SendSlice,
    /// `recv_into` (`Copy` payload sessions only).
    RecvInto,
}

/// Each operation's share of the 64 op-byte values.
const SPSC_WEIGHTS: &[(SpscOp, usize)] = &[
    (SpscOp::TrySend, 12),
    (SpscOp::TryRecv, 10),
    (SpscOp::Peek, 4),
    (SpscOp::SendTimeoutZero, 3),
    (SpscOp::RecvTimeoutZero, 3),
    (SpscOp::Send, 3),
    (SpscOp::Recv, 3),
    (SpscOp::TryIter, 2),
    (SpscOp::DropHeld, 3),
    (SpscOp::DropProducer, 1),
    (SpscOp::DropConsumer, 1),
    (SpscOp::Format, 1),
    (SpscOp::Congestion, 3),
    (SpscOp::WaitUntilClear, 2),
    (SpscOp::WriteChunk, 3),
    (SpscOp::FillFromIter, 2),
    (SpscOp::SendIter, 2),
    (SpscOp::ReadChunk, 4),
    (SpscOp::SendSlice, 1),
    (SpscOp::RecvInto, 1),
];

/// Op byte (low 6 bits) to operation, in the order of `SPSC_WEIGHTS`.
const SPSC_OPS: [SpscOp; 64] = op_table(SPSC_WEIGHTS);

struct Spsc<P, L: spsc::Layout> {
    m: Model<P>,
    /// Slots of the ring's buffer when it is flat: exactly `capacity` with
    /// `exact_flat`, exactly `k` with `__segment_slots(k)` at or above the
    /// capacity, else the capacity plus a slack (items of up to 64 bytes).
    flat_len: usize,
    tx: Option<spsc::Producer<P, L>>,
    rx: Option<spsc::Consumer<P, L>>,
}

impl<P: Payload, L: FuzzLayout> Spsc<P, L> {
    fn new(cfg: Config) -> Self {
        let builder = if cfg.exact_flat { cfg.builder().__segment_slots(cfg.capacity) } else { cfg.builder() };
        let (tx, rx) = builder.spsc_with_layout::<P, L>();
        let flat_len = tx.__segment_len();
        // A stamped slot is the value and a word (`Stamped`'s docs).
        let slot =
            if L::STAMPED { (std::mem::size_of::<P>() + 8).next_multiple_of(8) } else { std::mem::size_of::<P>() };
        match cfg.segment {
            _ if cfg.exact_flat => assert_eq!(flat_len, cfg.capacity, "an exact flat buffer"),
            Some(k) if k >= cfg.capacity => assert_eq!(flat_len, k, "a flat buffer of the length asked for"),
            Some(_) if cfg.segmented() => {}
            _ if slot <= 64 => assert!(flat_len > cfg.capacity + 1, "a slack of two slots or more"),
            _ => assert_eq!(flat_len, cfg.capacity, "no slack for items of more than a line"),
        }
        Spsc { m: Model::new(cfg), flat_len, tx: Some(tx), rx: Some(rx) }
    }

    /// What a send that does not wait should do: `None` = succeed,
    /// `Some(true)` = disconnected, `Some(false)` = full.
    fn send_outcome(&self) -> Option<bool> {
        if self.rx.is_none() {
            Some(true)
        } else if self.m.is_full() {
            Some(false)
        } else {
            None
        }
    }

    /// `None` = a value; else `Some(disconnected)`.
    fn recv_outcome(&self) -> Option<bool> {
        if !self.m.queue.is_empty() {
            None
        } else {
            Some(self.tx.is_none())
        }
    }

    /// Free room a batch send can use: 0 once the consumer is gone.
    fn room(&self) -> usize {
        if self.rx.is_none() {
            0
        } else {
            self.m.free()
        }
    }

    fn step(&mut self, op: SpscOp, byte: u8, input: &mut Input<'_>) {
        let keep = byte & 0x40 != 0;
        let variant = byte & 0x80 != 0;
        let send_expect = self.send_outcome();
        let recv_expect = self.recv_outcome();
        let room = self.room();
        let flat_len = self.flat_len;
        let m = &mut self.m;
        let step = m.step;
        match op {
            SpscOp::TrySend | SpscOp::SendTimeoutZero => {
                let Some(tx) = self.tx.as_mut() else { return };
                let v = m.make();
                let id = v.check_id();
                let got = if op == SpscOp::TrySend {
                    tx.try_send(v)
                } else {
                    tx.send_timeout(v, Duration::ZERO).map_err(|e| match e {
                        SendTimeoutError::Timeout(v) => TrySendError::Full(v),
                        SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
                    })
                };
                match (got, send_expect) {
                    (Ok(()), None) => m.push(id),
                    (Err(TrySendError::Full(v)), Some(false)) => expect_id(&v, id, "Full hands back"),
                    (Err(TrySendError::Disconnected(v)), Some(true)) => expect_id(&v, id, "Disconnected hands back"),
                    (got, want) => panic!("step {step}: {op:?} returned {got:?}, the model expected {want:?}"),
                }
            }
            SpscOp::TryRecv | SpscOp::RecvTimeoutZero => {
                let Some(rx) = self.rx.as_mut() else { return };
                let got = if op == SpscOp::TryRecv {
                    rx.try_recv()
                } else {
                    rx.recv_timeout(Duration::ZERO).map_err(timeout_to_try)
                };
                match (got, recv_expect) {
                    (Ok(v), None) => {
                        m.received(&v, "try_recv");
                        m.dispose(v, keep);
                    }
                    (Err(TryRecvError::Empty), Some(false)) | (Err(TryRecvError::Disconnected), Some(true)) => {}
                    (got, want) => panic!(
                        "step {step}: {op:?} returned {:?}, the model expected {want:?} (None = a value)",
                        got.map(|v| v.check_id())
                    ),
                }
            }
            SpscOp::Peek => {
                let Some(rx) = self.rx.as_mut() else { return };
                let got = rx.peek().map(|v| v.check_id());
                assert_eq!(got, m.queue.front().copied(), "step {step}: peek");
                assert_eq!(rx.peek().map(|v| v.check_id()), got, "step {step}: second peek");
            }
            SpscOp::Send => {
                let Some(tx) = self.tx.as_mut() else { return };
                let v = m.make();
                let id = v.check_id();
                if send_expect == Some(false) {
                    // Full and connected: `send` would block forever, so
                    // take a deadline that has already passed (one try).
                    match tx.send_deadline(v, Instant::now()) {
                        Err(SendTimeoutError::Timeout(v)) => expect_id(&v, id, "send_deadline(now) Timeout"),
                        got => panic!("step {step}: send_deadline(now) on a full ring returned {got:?}"),
                    }
                    return;
                }
                let got = if variant {
                    tx.send_timeout(v, Duration::MAX).map_err(|e| match e {
                        SendTimeoutError::Disconnected(v) => SendError(v),
                        SendTimeoutError::Timeout(_) => panic!("step {step}: send_timeout(MAX) timed out"),
                    })
                } else {
                    tx.send(v)
                };
                match (got, send_expect) {
                    (Ok(()), None) => m.push(id),
                    (Err(SendError(v)), Some(true)) => expect_id(&v, id, "send SendError"),
                    (got, want) => panic!("step {step}: send returned {got:?}, the model expected {want:?}"),
                }
            }
            SpscOp::Recv => {
                let Some(rx) = self.rx.as_mut() else { return };
                if recv_expect == Some(false) {
                    match rx.recv_deadline(Instant::now()) {
                        Err(RecvTimeoutError::Timeout) => {}
                        got => panic!(
                            "step {step}: recv_deadline(now) on an empty ring returned {:?}",
                            got.map(|v| v.check_id())
                        ),
                    }
                    return;
                }
                let got = if variant {
                    rx.recv_timeout(Duration::MAX).map_err(|e| {
                        assert!(e.is_disconnected(), "step {step}: recv_timeout(MAX) timed out");
                        RecvError
                    })
                } else {
                    rx.recv()
                };
                match (got, recv_expect) {
                    (Ok(v), None) => {
                        m.received(&v, "recv");
                        m.dispose(v, keep);
                    }
                    (Err(RecvError), Some(true)) => {}
                    (got, want) => panic!(
                        "step {step}: recv returned {:?}, the model expected {want:?}",
                        got.map(|v| v.check_id())
                    ),
                }
            }
            SpscOp::TryIter => {
                let n = input.arg() as usize % 8;
                let Some(rx) = self.rx.as_mut() else { return };
                let got: Vec<P> = rx.try_iter().take(n).collect();
                assert_eq!(got.len(), n.min(m.queue.len()), "step {step}: try_iter().take({n}) length");
                for v in got {
                    m.received(&v, "try_iter");
                }
            }
            SpscOp::DropHeld => m.drop_held(input.arg()),
            SpscOp::DropProducer => self.tx = None,
            SpscOp::DropConsumer => self.rx = None,
            SpscOp::Format => {
                let mut s = String::new();
                if let Some(tx) = &self.tx {
                    s += &format!("{tx:?} {:?}", tx.stats());
                }
                if let Some(rx) = &self.rx {
                    s += &format!("{rx:?}");
                }
                s += &format!("{}", TrySendError::Full(()));
                assert!(!s.is_empty());
            }
            SpscOp::Congestion => {
                // Ask the producer, or (variant, or no producer) the consumer.
                let want = m.congestion();
                match (&self.tx, &self.rx) {
                    (Some(tx), rx) if !variant || rx.is_none() => {
                        assert_eq!(tx.congestion(), want, "step {step}: Producer::congestion")
                    }
                    (_, Some(rx)) => assert_eq!(rx.congestion(), want, "step {step}: Consumer::congestion"),
                    (_, None) => {}
                }
            }
            SpscOp::WaitUntilClear => {
                let Some(tx) = &self.tx else { return };
                let want = m.congestion();
                let cannot_block = want == Congestion::Clear || self.rx.is_none();
                let deadline = if cannot_block && variant { None } else { Some(Instant::now()) };
                assert_eq!(tx.wait_until_clear(deadline), want, "step {step}: wait_until_clear({deadline:?})");
            }
            SpscOp::WriteChunk => {
                let n = input.arg() as usize % (m.cfg.capacity + 3);
                let k_arg = input.arg() as usize;
                let Some(tx) = self.tx.as_mut() else { return };
                let mut chunk = tx.write_chunk_uninit(n);
                let granted = chunk_grant(m.cfg.segmented(), chunk.len(), n.min(room), "write_chunk_uninit", step);
                assert_eq!(chunk.is_empty(), granted == 0);
                let k = if variant { granted } else { k_arg % (granted + 1) };
                let vals = m.make_n(k);
                let ids: Vec<usize> = vals.iter().map(|v| v.check_id()).collect();
                let at = ChunkAt { granted, idx: m.pushed % flat_len, flat_len, segmented: m.cfg.segmented() };
                L::write(&mut chunk, vals, at, step);
                if variant {
                    // SAFETY: `k == granted` and every granted slot was written.
                    unsafe { chunk.commit_all() };
                } else {
                    // SAFETY: the first `k` slots, in slice order, were written.
                    unsafe { chunk.commit(k) };
                }
                for id in ids {
                    m.push(id);
                }
            }
            SpscOp::FillFromIter | SpscOp::SendIter => {
                let n = input.arg() as usize % (m.cfg.capacity + 3);
                let count = input.arg() as usize % 10;
                let Some(tx) = self.tx.as_mut() else { return };
                let vals = m.make_n(count);
                let ids: Vec<usize> = vals.iter().map(|v| v.check_id()).collect();
                let mut iter = vals.into_iter();
                let sent = if op == SpscOp::FillFromIter {
                    let chunk = tx.write_chunk_uninit(n);
                    let granted = chunk_grant(m.cfg.segmented(), chunk.len(), n.min(room), "write_chunk_uninit", step);
                    let sent = chunk.fill_from_iter(&mut iter);
                    assert_eq!(
                        sent,
                        granted.min(count),
                        "step {step}: {op:?} sent (n {n}, {count} offered, room {room})"
                    );
                    sent
                } else {
                    let sent = tx.send_iter(&mut iter);
                    assert_eq!(sent, room.min(count), "step {step}: {op:?} sent ({count} offered, room {room})");
                    sent
                };
                // What was not sent is still in the iterator, in order.
                let rest: Vec<P> = iter.collect();
                assert_eq!(rest.len(), count - sent, "step {step}: {op:?} pulled items it did not send");
                for (v, &id) in rest.iter().zip(&ids[sent..]) {
                    expect_id(v, id, "unsent item left in the iterator");
                }
                for &id in &ids[..sent] {
                    m.push(id);
                }
            }
            SpscOp::ReadChunk => {
                let n = input.arg() as usize % (m.cfg.capacity + 3);
                let k_arg = input.arg() as usize;
                let mode = k_arg % 3;
                let Some(rx) = self.rx.as_mut() else { return };
                let chunk = rx.read_chunk(n);
                let granted = chunk_grant(m.cfg.segmented(), chunk.len(), n.min(m.queue.len()), "read_chunk", step);
                assert_eq!(chunk.is_empty(), granted == 0);
                let at = ChunkAt { granted, idx: m.popped % flat_len, flat_len, segmented: m.cfg.segmented() };
                for (i, v) in L::read(&chunk, at, step).into_iter().enumerate() {
                    expect_id(v, m.queue[i], "read_chunk slice");
                }
                let k = (k_arg / 3) % (granted + 1);
                match mode {
                    0 => {
                        chunk.release(k);
                        for _ in 0..k {
                            m.queue.pop_front();
                            m.popped += 1;
                        }
                    }
                    1 => {
                        let mut it = chunk.into_iter();
                        assert_eq!(it.len(), granted, "step {step}: chunk iterator len");
                        let got: Vec<P> = it.by_ref().take(k).collect();
                        assert_eq!(it.size_hint(), (granted - k, Some(granted - k)));
                        drop(it);
                        for v in got {
                            m.received(&v, "read_chunk iterator");
                            m.dispose(v, keep);
                        }
                    }
                    // Let it go unused: the items stay queued.
                    _ => {
                        let _ = chunk;
                    }
                }
            }
            SpscOp::SendSlice => {
                let count = input.arg() as usize % 10;
                let Some(tx) = self.tx.as_mut() else { return };
                let vals = m.make_n(count);
                let Some(sent) = P::send_slice(tx, &vals) else { return };
                assert_eq!(sent, room.min(count), "step {step}: send_slice of {count} with room {room}");
                for v in &vals[..sent] {
                    m.push(v.check_id());
                }
            }
            SpscOp::RecvInto => {
                let n = input.arg() as usize % 10;
                let Some(rx) = self.rx.as_mut() else { return };
                let Some((got, out)) = P::recv_into(rx, n) else { return };
                assert_eq!(got, n.min(m.queue.len()), "step {step}: recv_into a buffer of {n}");
                for v in &out[..got] {
                    let want = m.queue.pop_front().unwrap();
                    m.popped += 1;
                    expect_id(v, want, "recv_into");
                }
            }
        }
    }

    /// Once the last handle is gone the ring has dropped what it held.
    fn settle(&mut self) {
        if self.tx.is_none() && self.rx.is_none() {
            self.m.queue.clear();
        } else {
            self.m.settle_congestion();
        }
    }

    /// Introspection on every live handle must match the model exactly.
    fn check(&self) {
        let m = &self.m;
        let (len, cap, step) = (m.queue.len(), m.cfg.capacity, m.step);
        if let Some(tx) = &self.tx {
            assert_eq!(tx.len(), len, "step {step}: Producer::len");
            assert_eq!(tx.is_empty(), len == 0, "step {step}: Producer::is_empty");
            assert_eq!(tx.is_full(), len == cap, "step {step}: Producer::is_full");
            assert_eq!(tx.capacity(), cap, "step {step}: Producer::capacity");
            assert_eq!(tx.is_disconnected(), self.rx.is_none(), "step {step}: Producer::is_disconnected");
            assert_eq!(tx.wait_strategy(), m.cfg.strategy);
            m.check_stats(tx.stats(), "Producer");
        }
        if let Some(rx) = &self.rx {
            assert_eq!(rx.len(), len, "step {step}: Consumer::len");
            assert_eq!(rx.is_empty(), len == 0, "step {step}: Consumer::is_empty");
            assert_eq!(rx.is_full(), len == cap, "step {step}: Consumer::is_full");
            assert_eq!(rx.capacity(), cap, "step {step}: Consumer::capacity");
            assert_eq!(rx.is_disconnected(), self.tx.is_none(), "step {step}: Consumer::is_disconnected");
            assert_eq!(rx.wait_strategy(), m.cfg.strategy);
            m.check_stats(rx.stats(), "Consumer");
        }
        m.check_drops();
    }

    fn finish(mut self) {
        // Drop the remaining handles in the order the header chose; the
        // queued values must survive the first and go with the last.
        if self.m.cfg.drop_tx_first {
            self.tx = None;
        } else {
            self.rx = None;
        }
        self.settle();
        self.check();
        self.tx = None;
        self.rx = None;
        self.m.finish();
    }

    /// Runs one session; returns when every handle is gone or the input
    /// runs out.
    fn run(cfg: Config, input: &mut Input<'_>) {
        let mut s = Spsc::<P, L>::new(cfg);
        s.check();
        while s.tx.is_some() || s.rx.is_some() {
            let Some(byte) = input.next() else { break };
            let op = SPSC_OPS[(byte & 63) as usize];
            s.step(op, byte, input);
            s.m.step += 1;
            s.settle();
            s.check();
        }
        s.finish();
    }
}

/// Runs `data` as SPSC sessions against the model; panics on any mismatch,
/// leak or double drop.
pub fn run_spsc(data: &[u8]) {
    let mut input = Input::new(data);
    loop {
        let cfg = Config::decode(&mut input);
        // Each session on both layouts, from the same bytes.
        let stamped_input = input.clone();
        let stamped = Config { stamped: true, ..cfg };
        let mut stamped_input = stamped_input;
        if cfg.plain {
            Spsc::<Plain, spsc::Packed>::run(cfg, &mut input);
            Spsc::<Plain, spsc::Stamped>::run(stamped, &mut stamped_input);
        } else {
            Spsc::<Val, spsc::Packed>::run(cfg, &mut input);
            Spsc::<Val, spsc::Stamped>::run(stamped, &mut stamped_input);
        }
        debug_assert_eq!(input.pos, stamped_input.pos, "both layouts read the same session");
        if input.is_done() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// MPMC
// ---------------------------------------------------------------------------

/// MPMC operations, picked by `MPMC_OPS[op_byte & 63]`. Operations on a
/// handle read its index from the next byte when that side has more than
/// one live handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpmcOp {
    /// `try_send` of a new value.
    TrySend,
    /// `force_send` of a new value.
    ForceSend,
    /// `try_recv`.
    TryRecv,
    /// `send_timeout(v, 0)`.
    SendTimeoutZero,
    /// `recv_timeout(0)`.
    RecvTimeoutZero,
    /// `send` (variant: `send_timeout(MAX)`) when it cannot block, else
    /// `send_deadline(now)`.
    Send,
    /// `recv` (variant: `recv_timeout(MAX)`) when it cannot block, else
    /// `recv_deadline(now)`.
    Recv,
    /// `try_iter().take(n)`.
    TryIter,
    /// `try_send_many` of m new values.
    TrySendMany,
    /// `try_recv_many(out, max)`, into an empty or a non-empty `out`.
    TryRecvMany,
    /// Clone a sender.
    CloneSender,
    /// Clone a receiver.
    CloneReceiver,
    /// Drop a sender.
    DropSender,
    /// Drop a receiver.
    DropReceiver,
    /// Drop one of the values held outside the ring.
    DropHeld,
    /// `Debug` of the handles, `Display` of an error.
    Format,
    /// `congestion()` on a sender (variant: a receiver).
    Congestion,
    /// `Sender::wait_until_clear` (`None` when it cannot block, else a past
    /// deadline).
    WaitUntilClear,
}

/// Each operation's share of the 64 op-byte values.
const MPMC_WEIGHTS: &[(MpmcOp, usize)] = &[
    (MpmcOp::TrySend, 10),
    (MpmcOp::ForceSend, 7),
    (MpmcOp::TryRecv, 10),
    (MpmcOp::SendTimeoutZero, 2),
    (MpmcOp::RecvTimeoutZero, 2),
    (MpmcOp::Send, 2),
    (MpmcOp::Recv, 2),
    (MpmcOp::TryIter, 2),
    (MpmcOp::TrySendMany, 4),
    (MpmcOp::TryRecvMany, 4),
    (MpmcOp::CloneSender, 3),
    (MpmcOp::CloneReceiver, 3),
    (MpmcOp::DropSender, 3),
    (MpmcOp::DropReceiver, 3),
    (MpmcOp::DropHeld, 2),
    (MpmcOp::Format, 1),
    (MpmcOp::Congestion, 2),
    (MpmcOp::WaitUntilClear, 2),
];

/// Op byte (low 6 bits) to operation, in the order of `MPMC_WEIGHTS`.
const MPMC_OPS: [MpmcOp; 64] = op_table(MPMC_WEIGHTS);

struct Mpmc {
    m: Model<Val>,
    txs: Vec<mpmc::Sender<Val>>,
    rxs: Vec<mpmc::Receiver<Val>>,
}

impl Mpmc {
    fn new(cfg: Config) -> Self {
        let (tx, rx) = cfg.builder().mpmc::<Val>();
        Mpmc { m: Model::new(cfg), txs: vec![tx], rxs: vec![rx] }
    }

    fn send_outcome(&self) -> Option<bool> {
        if self.rxs.is_empty() {
            Some(true)
        } else if self.m.is_full() {
            Some(false)
        } else {
            None
        }
    }

    fn recv_outcome(&self) -> Option<bool> {
        if !self.m.queue.is_empty() {
            None
        } else {
            Some(self.txs.is_empty())
        }
    }

    fn step(&mut self, op: MpmcOp, byte: u8, input: &mut Input<'_>) {
        let keep = byte & 0x40 != 0;
        let variant = byte & 0x80 != 0;
        let send_expect = self.send_outcome();
        let recv_expect = self.recv_outcome();
        let room = if self.rxs.is_empty() { 0 } else { self.m.free() };
        let uses_sender = matches!(
            op,
            MpmcOp::TrySend
                | MpmcOp::ForceSend
                | MpmcOp::SendTimeoutZero
                | MpmcOp::Send
                | MpmcOp::TrySendMany
                | MpmcOp::CloneSender
                | MpmcOp::DropSender
                | MpmcOp::WaitUntilClear
        ) || (op == MpmcOp::Congestion && !variant);
        let ti = if uses_sender { input.pick(self.txs.len()) } else { 0 };
        let ri = if uses_sender || op == MpmcOp::DropHeld { 0 } else { input.pick(self.rxs.len()) };
        let m = &mut self.m;
        let step = m.step;
        let tx = self.txs.get(ti);
        let rx = self.rxs.get(ri);
        match op {
            MpmcOp::TrySend | MpmcOp::SendTimeoutZero => {
                let Some(tx) = tx else { return };
                let v = m.make();
                let id = v.check_id();
                let got = if op == MpmcOp::TrySend {
                    tx.try_send(v)
                } else {
                    tx.send_timeout(v, Duration::ZERO).map_err(|e| match e {
                        SendTimeoutError::Timeout(v) => TrySendError::Full(v),
                        SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
                    })
                };
                match (got, send_expect) {
                    (Ok(()), None) => m.push(id),
                    (Err(TrySendError::Full(v)), Some(false)) => expect_id(&v, id, "Full hands back"),
                    (Err(TrySendError::Disconnected(v)), Some(true)) => expect_id(&v, id, "Disconnected hands back"),
                    (got, want) => panic!("step {step}: {op:?} returned {got:?}, the model expected {want:?}"),
                }
            }
            MpmcOp::ForceSend => {
                let Some(tx) = tx else { return };
                let v = m.make();
                let id = v.check_id();
                match (tx.force_send(v), send_expect) {
                    (Ok(None), None) => m.push(id),
                    (Ok(Some(old)), Some(false)) => {
                        m.received(&old, "force_send eviction");
                        m.push(id);
                        m.evictions += 1;
                        m.dispose(old, keep);
                    }
                    (Err(SendError(v)), Some(true)) => expect_id(&v, id, "force_send SendError hands back"),
                    (got, want) => panic!(
                        "step {step}: force_send returned {:?}, the model expected {want:?}",
                        got.map(|o| o.map(|v| v.check_id()))
                    ),
                }
            }
            MpmcOp::TryRecv | MpmcOp::RecvTimeoutZero => {
                let Some(rx) = rx else { return };
                let got = if op == MpmcOp::TryRecv {
                    rx.try_recv()
                } else {
                    rx.recv_timeout(Duration::ZERO).map_err(timeout_to_try)
                };
                match (got, recv_expect) {
                    (Ok(v), None) => {
                        m.received(&v, "try_recv");
                        m.dispose(v, keep);
                    }
                    (Err(TryRecvError::Empty), Some(false)) | (Err(TryRecvError::Disconnected), Some(true)) => {}
                    (got, want) => panic!(
                        "step {step}: {op:?} returned {:?}, the model expected {want:?} (None = a value)",
                        got.map(|v| v.check_id())
                    ),
                }
            }
            MpmcOp::Send => {
                let Some(tx) = tx else { return };
                let v = m.make();
                let id = v.check_id();
                if send_expect == Some(false) {
                    match tx.send_deadline(v, Instant::now()) {
                        Err(SendTimeoutError::Timeout(v)) => expect_id(&v, id, "send_deadline(now) Timeout"),
                        got => panic!("step {step}: send_deadline(now) on a full ring returned {got:?}"),
                    }
                    return;
                }
                let got = if variant {
                    tx.send_timeout(v, Duration::MAX).map_err(|e| match e {
                        SendTimeoutError::Disconnected(v) => SendError(v),
                        SendTimeoutError::Timeout(_) => panic!("step {step}: send_timeout(MAX) timed out"),
                    })
                } else {
                    tx.send(v)
                };
                match (got, send_expect) {
                    (Ok(()), None) => m.push(id),
                    (Err(SendError(v)), Some(true)) => expect_id(&v, id, "send SendError"),
                    (got, want) => panic!("step {step}: send returned {got:?}, the model expected {want:?}"),
                }
            }
            MpmcOp::Recv => {
                let Some(rx) = rx else { return };
                if recv_expect == Some(false) {
                    match rx.recv_deadline(Instant::now()) {
                        Err(RecvTimeoutError::Timeout) => {}
                        got => panic!(
                            "step {step}: recv_deadline(now) on an empty ring returned {:?}",
                            got.map(|v| v.check_id())
                        ),
                    }
                    return;
                }
                let got = if variant {
                    rx.recv_timeout(Duration::MAX).map_err(|e| {
                        assert!(e.is_disconnected(), "step {step}: recv_timeout(MAX) timed out");
                        RecvError
                    })
                } else {
                    rx.recv()
                };
                match (got, recv_expect) {
                    (Ok(v), None) => {
                        m.received(&v, "recv");
                        m.dispose(v, keep);
                    }
                    (Err(RecvError), Some(true)) => {}
                    (got, want) => panic!(
                        "step {step}: recv returned {:?}, the model expected {want:?}",
                        got.map(|v| v.check_id())
                    ),
                }
            }
            MpmcOp::TryIter => {
                let n = input.arg() as usize % 8;
                let Some(rx) = rx else { return };
                let got: Vec<Val> = rx.try_iter().take(n).collect();
                assert_eq!(got.len(), n.min(m.queue.len()), "step {step}: try_iter().take({n}) length");
                for v in got {
                    m.received(&v, "try_iter");
                }
            }
            MpmcOp::TrySendMany => {
                let count = input.arg() as usize % 10;
                let Some(tx) = tx else { return };
                let mut vals: std::collections::VecDeque<_> = m.make_n(count).into();
                let ids: Vec<usize> = vals.iter().map(|v| v.check_id()).collect();
                let sent = tx.try_send_many(&mut vals);
                assert_eq!(sent, room.min(count), "step {step}: try_send_many of {count} with room {room}");
                assert_eq!(vals.len(), count - sent, "step {step}: try_send_many left the wrong items");
                for (v, &id) in vals.iter().zip(&ids[sent..]) {
                    expect_id(v, id, "item try_send_many did not send");
                }
                for &id in &ids[..sent] {
                    m.push(id);
                }
            }
            MpmcOp::TryRecvMany => {
                let max = input.arg() as usize % 12;
                let Some(rx) = rx else { return };
                // A non-empty `out` must be appended to, not overwritten.
                let mut out = if variant { m.make_n(1) } else { Vec::new() };
                let before: Vec<usize> = out.iter().map(|v| v.check_id()).collect();
                let got = match (rx.try_recv_many(&mut out, max), recv_expect) {
                    (Ok(0), _) if max == 0 => 0,
                    (Ok(got), None) => got,
                    (Err(TryRecvError::Empty), Some(false)) | (Err(TryRecvError::Disconnected), Some(true)) => 0,
                    (got, want) => panic!(
                        "step {step}: try_recv_many(max {max}) returned {got:?}, the model expected {want:?} (None = values)"
                    ),
                };
                assert_eq!(got, max.min(m.queue.len()), "step {step}: try_recv_many(max {max})");
                assert_eq!(out.len(), before.len() + got, "step {step}: try_recv_many appended");
                for (v, &id) in out.iter().zip(&before) {
                    expect_id(v, id, "try_recv_many kept what was in `out`");
                }
                for v in out.drain(before.len()..) {
                    m.received(&v, "try_recv_many");
                    m.dispose(v, keep);
                }
            }
            MpmcOp::CloneSender => {
                if let Some(c) = tx.filter(|_| self.txs.len() < MAX_HANDLES).cloned() {
                    self.txs.push(c);
                }
            }
            MpmcOp::CloneReceiver => {
                if let Some(c) = rx.filter(|_| self.rxs.len() < MAX_HANDLES).cloned() {
                    self.rxs.push(c);
                }
            }
            MpmcOp::DropSender => {
                if ti < self.txs.len() {
                    drop(self.txs.swap_remove(ti));
                }
            }
            MpmcOp::DropReceiver => {
                if ri < self.rxs.len() {
                    drop(self.rxs.swap_remove(ri));
                }
            }
            MpmcOp::DropHeld => m.drop_held(input.arg()),
            MpmcOp::Format => {
                let mut s = String::new();
                if let Some(tx) = tx {
                    s += &format!("{tx:?} {:?}", tx.stats());
                }
                if let Some(rx) = rx {
                    s += &format!("{rx:?}");
                }
                s += &format!("{}", SendError(()));
                assert!(!s.is_empty());
            }
            MpmcOp::Congestion => {
                let want = m.congestion();
                if variant {
                    if let Some(rx) = rx {
                        assert_eq!(rx.congestion(), want, "step {step}: Receiver::congestion");
                    }
                } else if let Some(tx) = tx {
                    assert_eq!(tx.congestion(), want, "step {step}: Sender::congestion");
                }
            }
            MpmcOp::WaitUntilClear => {
                let Some(tx) = tx else { return };
                let want = m.congestion();
                let cannot_block = want == Congestion::Clear || self.rxs.is_empty();
                let deadline = if cannot_block && variant { None } else { Some(Instant::now()) };
                assert_eq!(tx.wait_until_clear(deadline), want, "step {step}: wait_until_clear({deadline:?})");
            }
        }
    }

    /// Once the last handle is gone the ring has dropped what it held.
    fn settle(&mut self) {
        if self.txs.is_empty() && self.rxs.is_empty() {
            self.m.queue.clear();
        } else {
            self.m.settle_congestion();
        }
    }

    fn check(&self) {
        let m = &self.m;
        let (len, cap, step) = (m.queue.len(), m.cfg.capacity, m.step);
        for (i, tx) in self.txs.iter().enumerate() {
            assert_eq!(tx.len(), len, "step {step}: Sender[{i}]::len");
            assert_eq!(tx.is_empty(), len == 0, "step {step}: Sender[{i}]::is_empty");
            assert_eq!(tx.is_full(), len == cap, "step {step}: Sender[{i}]::is_full");
            assert_eq!(tx.capacity(), cap, "step {step}: Sender[{i}]::capacity");
            assert_eq!(tx.is_disconnected(), self.rxs.is_empty(), "step {step}: Sender[{i}]::is_disconnected");
            assert_eq!(tx.wait_strategy(), m.cfg.strategy);
        }
        for (i, rx) in self.rxs.iter().enumerate() {
            assert_eq!(rx.len(), len, "step {step}: Receiver[{i}]::len");
            assert_eq!(rx.is_empty(), len == 0, "step {step}: Receiver[{i}]::is_empty");
            assert_eq!(rx.is_full(), len == cap, "step {step}: Receiver[{i}]::is_full");
            assert_eq!(rx.capacity(), cap, "step {step}: Receiver[{i}]::capacity");
            assert_eq!(rx.is_disconnected(), self.txs.is_empty(), "step {step}: Receiver[{i}]::is_disconnected");
            assert_eq!(rx.wait_strategy(), m.cfg.strategy);
        }
        if let Some(tx) = self.txs.first() {
            m.check_stats(tx.stats(), "Sender");
        } else if let Some(rx) = self.rxs.first() {
            m.check_stats(rx.stats(), "Receiver");
        }
        m.check_drops();
    }

    fn finish(mut self) {
        if self.m.cfg.drop_tx_first {
            self.txs.clear();
        } else {
            self.rxs.clear();
        }
        self.settle();
        self.check();
        self.txs.clear();
        self.rxs.clear();
        self.m.finish();
    }
}

/// Runs `data` as MPMC sessions against the model; panics on any mismatch,
/// leak or double drop.
pub fn run_mpmc(data: &[u8]) {
    let mut input = Input::new(data);
    loop {
        let mut s = Mpmc::new(Config::decode(&mut input));
        s.check();
        while !s.txs.is_empty() || !s.rxs.is_empty() {
            let Some(byte) = input.next() else { break };
            let op = MPMC_OPS[(byte & 63) as usize];
            s.step(op, byte, &mut input);
            s.m.step += 1;
            s.settle();
            s.check();
        }
        s.finish();
        if input.is_done() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Broadcast
// ---------------------------------------------------------------------------

/// Most live receivers at once (broadcast).
const MAX_RECEIVERS: usize = 6;

/// The broadcast payload. Every instance — the original a send moves into
/// the ring and each clone a receive makes of it — is a value of its own in
/// the [`Tracker`] (its `inst`), so every clone must be dropped exactly once
/// too; `item` is the instance id of the original, which the clones share.
/// `Clone` checks its source (a clone of a dropped or torn value fails the
/// tag or drop check) and counts itself; it has no other side effect.
pub struct BVal {
    item: usize,
    inst: usize,
    tag: Box<usize>,
    tracker: Rc<Tracker>,
}

impl BVal {
    fn make(tracker: &Rc<Tracker>) -> Self {
        let inst = tracker.register();
        BVal { item: inst, inst, tag: Box::new(inst ^ TAG), tracker: tracker.clone() }
    }

    /// The item id, after checking that this instance is intact.
    #[track_caller]
    fn check_item(&self) -> usize {
        assert_eq!(*self.tag, self.item ^ TAG, "item {} (instance {}) has a corrupt tag", self.item, self.inst);
        assert_eq!(
            self.tracker.drops_of(self.inst),
            0,
            "item {} (instance {}) used after it was dropped",
            self.item,
            self.inst
        );
        self.item
    }
}

impl Clone for BVal {
    fn clone(&self) -> Self {
        let item = self.check_item();
        let inst = self.tracker.register();
        self.tracker.clones.set(self.tracker.clones.get() + 1);
        BVal { item, inst, tag: Box::new(item ^ TAG), tracker: self.tracker.clone() }
    }
}

impl Drop for BVal {
    fn drop(&mut self) {
        self.tracker.record_drop(self.inst);
    }
}

/// Broadcast operations, picked by `BROADCAST_OPS[op_byte & 63]`. Operations
/// on a receiver read its index from the next byte when more than one is
/// alive. Op bytes 0..15 are sends and 16..31 receives (the replay test's
/// biased sequences rely on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastOp {
    /// `try_send` of a new value.
    TrySend,
    /// `send_timeout(v, 0)`: one try.
    SendTimeoutZero,
    /// `send` (variant: `send_timeout(MAX)`) when it cannot block, else
    /// `send_deadline(now)`.
    Send,
    /// `try_recv` on a receiver.
    TryRecv,
    /// `recv_timeout(0)` on a receiver: one try.
    RecvTimeoutZero,
    /// `recv` (variant: `recv_timeout(MAX)`) on a receiver when it cannot
    /// block, else `recv_deadline(now)`.
    Recv,
    /// Up to `n` `try_recv`s (variant: `recv_timeout(0)`) on one receiver,
    /// whatever they return.
    Drain,
    /// One `try_recv` on every live receiver.
    TryRecvEach,
    /// `Receiver::clone`: a new receiver at the same position (and with the
    /// same pending `Lagged`).
    CloneReceiver,
    /// `Sender::subscribe`: a new receiver at the sender's position.
    Subscribe,
    /// Drop a receiver.
    DropReceiver,
    /// Drop the sender.
    DropSender,
    /// Drop one of the values held outside the ring.
    DropHeld,
    /// `Debug` of the handles and stats, `Display` of the errors.
    Format,
    /// `n` `try_send`s in a row (up to two laps: Lossy overtakes receivers).
    SendBurst,
}

/// Each operation's share of the 64 op-byte values.
const BROADCAST_WEIGHTS: &[(BroadcastOp, usize)] = &[
    // 0..15: sends
    (BroadcastOp::TrySend, 8),
    (BroadcastOp::SendTimeoutZero, 4),
    (BroadcastOp::Send, 4),
    // 16..31: receives
    (BroadcastOp::TryRecv, 8),
    (BroadcastOp::RecvTimeoutZero, 3),
    (BroadcastOp::Recv, 3),
    (BroadcastOp::Drain, 2),
    // 32..63
    (BroadcastOp::TryRecvEach, 6),
    (BroadcastOp::CloneReceiver, 6),
    (BroadcastOp::Subscribe, 5),
    (BroadcastOp::DropReceiver, 6),
    (BroadcastOp::DropSender, 1),
    (BroadcastOp::DropHeld, 5),
    (BroadcastOp::Format, 1),
    (BroadcastOp::SendBurst, 2),
];

/// Op byte (low 6 bits) to operation, in the order of `BROADCAST_WEIGHTS`.
const BROADCAST_OPS: [BroadcastOp; 64] = op_table(BROADCAST_WEIGHTS);

/// How a send is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendHow {
    Try,
    TimeoutZero,
    /// `send` / `send_timeout(MAX)` (variant) when it cannot block, else
    /// `send_deadline(now)`.
    Blocking(bool),
}

/// How a receive is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecvHow {
    Try,
    TimeoutZero,
    /// `recv` / `recv_timeout(MAX)` (variant) when it cannot block, else
    /// `recv_deadline(now)`.
    Blocking(bool),
}

/// What a send must return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendWant {
    Sent,
    Full,
    Disconnected,
}

/// What a receive must return (a one-try timeout maps onto `Empty`).
#[derive(Debug, PartialEq, Eq)]
enum RecvWant<V> {
    Value(V),
    Lagged(u64),
    Empty,
    Disconnected,
}

impl<V> RecvWant<V> {
    fn map<W>(self, f: impl FnOnce(V) -> W) -> RecvWant<W> {
        match self {
            RecvWant::Value(v) => RecvWant::Value(f(v)),
            RecvWant::Lagged(n) => RecvWant::Lagged(n),
            RecvWant::Empty => RecvWant::Empty,
            RecvWant::Disconnected => RecvWant::Disconnected,
        }
    }
}

fn from_try(r: Result<BVal, broadcast::TryRecvError>) -> RecvWant<BVal> {
    match r {
        Ok(v) => RecvWant::Value(v),
        Err(broadcast::TryRecvError::Lagged(n)) => RecvWant::Lagged(n),
        Err(broadcast::TryRecvError::Empty) => RecvWant::Empty,
        Err(broadcast::TryRecvError::Disconnected) => RecvWant::Disconnected,
    }
}

fn from_timeout(r: Result<BVal, broadcast::RecvTimeoutError>) -> RecvWant<BVal> {
    match r {
        Ok(v) => RecvWant::Value(v),
        Err(broadcast::RecvTimeoutError::Lagged(n)) => RecvWant::Lagged(n),
        Err(broadcast::RecvTimeoutError::Timeout) => RecvWant::Empty,
        Err(broadcast::RecvTimeoutError::Disconnected) => RecvWant::Disconnected,
    }
}

fn from_recv(r: Result<BVal, broadcast::RecvError>) -> RecvWant<BVal> {
    match r {
        Ok(v) => RecvWant::Value(v),
        Err(broadcast::RecvError::Lagged(n)) => RecvWant::Lagged(n),
        Err(broadcast::RecvError::Disconnected) => RecvWant::Disconnected,
    }
}

/// One receiver's model: the items it will still receive, oldest first
/// (never more than `capacity`), and how many it missed that its next
/// receive must report as `Lagged` (Lossy).
#[derive(Clone, Debug, Default)]
struct RxModel {
    queue: VecDeque<usize>,
    pending: u64,
    received: u64,
    lagged: u64,
    missed: u64,
}

impl RxModel {
    /// What the next receive returns: a pending `Lagged` first, then the
    /// oldest item, then `Empty` or (sender gone) `Disconnected`.
    fn want(&self, sender_alive: bool) -> RecvWant<usize> {
        if self.pending > 0 {
            RecvWant::Lagged(self.pending)
        } else if let Some(&item) = self.queue.front() {
            RecvWant::Value(item)
        } else if sender_alive {
            RecvWant::Empty
        } else {
            RecvWant::Disconnected
        }
    }

    /// A clone: same position and pending `Lagged`, counters at 0.
    fn cloned(&self) -> Self {
        RxModel { queue: self.queue.clone(), pending: self.pending, ..RxModel::default() }
    }
}

struct Bcast {
    cfg: Config,
    policy: Policy,
    tracker: Rc<Tracker>,
    tx: Option<broadcast::Sender<BVal>>,
    rxs: Vec<(broadcast::Receiver<BVal>, RxModel)>,
    /// Instances the ring owns: the originals of the last `capacity` items
    /// sent, oldest first (a send drops the one its slot held a lap ago).
    ring: VecDeque<usize>,
    held: Vec<BVal>,
    /// Values received (= clones made).
    received: usize,
    step: usize,
}

impl Bcast {
    fn new(cfg: Config, policy: Policy) -> Self {
        // Both slot layouts (`broadcast/mod.rs`, "Two slot layouts"; the
        // payload's size alone would always choose stamps): the segment
        // byte, which the broadcast ring does not use, picks one per session.
        let stamps = matches!(cfg.segment, None | Some(2));
        let b = cfg.builder().__broadcast_stamps(stamps);
        let (tx, rx) = match policy {
            Policy::Lossy => b.broadcast_lossy::<BVal>(),
            _ => b.broadcast::<BVal>(),
        };
        Bcast {
            cfg,
            policy,
            tracker: Rc::new(Tracker::default()),
            tx: Some(tx),
            rxs: vec![(rx, RxModel::default())],
            ring: VecDeque::new(),
            held: Vec::new(),
            received: 0,
            step: 0,
        }
    }

    fn lossy(&self) -> bool {
        self.policy == Policy::Lossy
    }

    /// Block: Full exactly when the slowest live receiver holds `capacity`
    /// items; no receiver: Disconnected (checked first).
    fn send_want(&self) -> SendWant {
        if self.rxs.is_empty() {
            SendWant::Disconnected
        } else if !self.lossy() && self.rxs.iter().any(|(_, r)| r.queue.len() == self.cfg.capacity) {
            SendWant::Full
        } else {
            SendWant::Sent
        }
    }

    /// A successful send of `item`: every live receiver gets it; on a Lossy
    /// ring a receiver that already held `capacity` items loses its oldest.
    fn sent(&mut self, item: usize) {
        let cap = self.cfg.capacity;
        self.ring.push_back(item);
        if self.ring.len() > cap {
            self.ring.pop_front();
        }
        let (lossy, step) = (self.lossy(), self.step);
        for (_, r) in &mut self.rxs {
            r.queue.push_back(item);
            if r.queue.len() > cap {
                assert!(lossy, "step {step}: the Block model overflowed");
                r.queue.pop_front();
                r.pending += 1;
            }
        }
    }

    fn dispose(&mut self, v: BVal, keep: bool) {
        if keep && self.held.len() < MAX_HELD {
            self.held.push(v);
        }
    }

    fn send(&mut self, how: SendHow, keep: bool) {
        let want = self.send_want();
        let step = self.step;
        let Some(tx) = self.tx.as_mut() else { return };
        let v = BVal::make(&self.tracker);
        let item = v.item;
        let got = match how {
            SendHow::Try => tx.try_send(v),
            SendHow::TimeoutZero => tx.send_timeout(v, Duration::ZERO).map_err(|e| match e {
                SendTimeoutError::Timeout(v) => TrySendError::Full(v),
                SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
            }),
            SendHow::Blocking(_) if want == SendWant::Full => match tx.send_deadline(v, Instant::now()) {
                Err(SendTimeoutError::Timeout(v)) => Err(TrySendError::Full(v)),
                got => panic!("step {step}: send_deadline(now) on a full ring returned {got:?}"),
            },
            SendHow::Blocking(true) => tx.send_timeout(v, Duration::MAX).map_err(|e| match e {
                SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
                SendTimeoutError::Timeout(_) => panic!("step {step}: send_timeout(MAX) timed out"),
            }),
            SendHow::Blocking(false) => tx.send(v).map_err(|SendError(v)| TrySendError::Disconnected(v)),
        };
        match (got, want) {
            (Ok(()), SendWant::Sent) => self.sent(item),
            (Err(TrySendError::Full(v)), SendWant::Full) => {
                assert_eq!(v.check_item(), item, "step {step}: Full hands back");
                self.dispose(v, keep);
            }
            (Err(TrySendError::Disconnected(v)), SendWant::Disconnected) => {
                assert_eq!(v.check_item(), item, "step {step}: Disconnected hands back");
                self.dispose(v, keep);
            }
            (got, want) => panic!("step {step}: {how:?} send returned {got:?}, the model expected {want:?}"),
        }
    }

    fn recv(&mut self, ri: usize, how: RecvHow, keep: bool) {
        let step = self.step;
        let sender_alive = self.tx.is_some();
        let created = self.tracker.created();
        let Some((rx, r)) = self.rxs.get_mut(ri) else { return };
        let want = r.want(sender_alive);
        let got = match how {
            RecvHow::Try => from_try(rx.try_recv()),
            RecvHow::TimeoutZero => from_timeout(rx.recv_timeout(Duration::ZERO)),
            RecvHow::Blocking(_) if want == RecvWant::Empty => match rx.recv_deadline(Instant::now()) {
                Err(broadcast::RecvTimeoutError::Timeout) => RecvWant::Empty,
                got => panic!(
                    "step {step}: recv_deadline(now) with nothing to receive returned {:?}",
                    from_timeout(got).map(|v| v.check_item())
                ),
            },
            RecvHow::Blocking(true) => {
                let got = from_timeout(rx.recv_timeout(Duration::MAX));
                assert!(!matches!(got, RecvWant::Empty), "step {step}: recv_timeout(MAX) timed out");
                got
            }
            RecvHow::Blocking(false) => from_recv(rx.recv()),
        };
        let clones = self.tracker.created() - created;
        match (got, want) {
            (RecvWant::Value(v), RecvWant::Value(item)) => {
                assert_eq!(v.check_item(), item, "step {step}: receiver {ri}: {how:?} got the wrong item");
                assert_eq!(clones, 1, "step {step}: a receive must make exactly one clone");
                assert_eq!(v.inst, created, "step {step}: a receive must return a fresh clone");
                r.queue.pop_front();
                r.received += 1;
                self.received += 1;
                self.dispose(v, keep);
            }
            (RecvWant::Lagged(n), RecvWant::Lagged(m)) if n == m => {
                assert_eq!(clones, 0, "step {step}: Lagged cloned a value");
                r.lagged += 1;
                r.missed += n;
                r.pending = 0;
            }
            (RecvWant::Empty, RecvWant::Empty) | (RecvWant::Disconnected, RecvWant::Disconnected) => {
                assert_eq!(clones, 0, "step {step}: an empty receive cloned a value");
            }
            (got, want) => panic!(
                "step {step}: receiver {ri} ({:?}): {how:?} returned {:?}, the model expected {want:?}",
                self.policy,
                got.map(|v| v.check_item())
            ),
        }
    }

    fn step(&mut self, op: BroadcastOp, byte: u8, input: &mut Input<'_>) {
        let keep = byte & 0x40 != 0;
        let variant = byte & 0x80 != 0;
        let uses_receiver = matches!(
            op,
            BroadcastOp::TryRecv
                | BroadcastOp::RecvTimeoutZero
                | BroadcastOp::Recv
                | BroadcastOp::Drain
                | BroadcastOp::CloneReceiver
                | BroadcastOp::DropReceiver
        );
        let ri = if uses_receiver { input.pick(self.rxs.len()) } else { 0 };
        let step = self.step;
        match op {
            BroadcastOp::TrySend => self.send(SendHow::Try, keep),
            BroadcastOp::SendTimeoutZero => self.send(SendHow::TimeoutZero, keep),
            BroadcastOp::Send => self.send(SendHow::Blocking(variant), keep),
            BroadcastOp::SendBurst => {
                let n = input.arg() as usize % (2 * self.cfg.capacity + 2);
                for _ in 0..n {
                    self.send(SendHow::Try, keep);
                }
            }
            BroadcastOp::TryRecv => self.recv(ri, RecvHow::Try, keep),
            BroadcastOp::RecvTimeoutZero => self.recv(ri, RecvHow::TimeoutZero, keep),
            BroadcastOp::Recv => self.recv(ri, RecvHow::Blocking(variant), keep),
            BroadcastOp::Drain => {
                let n = input.arg() as usize % (self.cfg.capacity + 3);
                let how = if variant { RecvHow::TimeoutZero } else { RecvHow::Try };
                for _ in 0..n {
                    self.recv(ri, how, keep);
                }
            }
            BroadcastOp::TryRecvEach => {
                for i in 0..self.rxs.len() {
                    self.recv(i, RecvHow::Try, keep);
                }
            }
            BroadcastOp::CloneReceiver => {
                if self.rxs.len() < MAX_RECEIVERS {
                    let created = self.tracker.created();
                    if let Some((rx, r)) = self.rxs.get(ri) {
                        let c = (rx.clone(), r.cloned());
                        self.rxs.push(c);
                    }
                    assert_eq!(self.tracker.created(), created, "step {step}: Receiver::clone cloned values");
                }
            }
            BroadcastOp::Subscribe => {
                if self.rxs.len() < MAX_RECEIVERS {
                    if let Some(tx) = &self.tx {
                        self.rxs.push((tx.subscribe(), RxModel::default()));
                    }
                }
            }
            BroadcastOp::DropReceiver => {
                if ri < self.rxs.len() {
                    drop(self.rxs.swap_remove(ri));
                }
            }
            BroadcastOp::DropSender => self.tx = None,
            BroadcastOp::DropHeld => {
                let which = input.arg() as usize;
                if !self.held.is_empty() {
                    let i = which % self.held.len();
                    drop(self.held.swap_remove(i));
                }
            }
            BroadcastOp::Format => {
                let mut s = String::new();
                if let Some(tx) = &self.tx {
                    s += &format!("{tx:?} {:?}", tx.stats());
                }
                if let Some((rx, _)) = self.rxs.get(ri) {
                    s += &format!("{rx:?} {:?} {:?}", rx.stats(), rx.channel_stats());
                }
                let lagged = format!(
                    "{} {} {}",
                    broadcast::TryRecvError::Lagged(3),
                    broadcast::RecvError::Lagged(3),
                    broadcast::RecvTimeoutError::Lagged(3)
                );
                assert_eq!(lagged.matches('3').count(), 3, "step {step}: Lagged(n) displays n: {lagged}");
                s += &format!(
                    "{} {} {} {}",
                    broadcast::TryRecvError::Empty,
                    broadcast::TryRecvError::Disconnected,
                    broadcast::RecvError::Disconnected,
                    broadcast::RecvTimeoutError::Timeout
                );
                assert!(!s.is_empty());
            }
        }
    }

    /// Once the last handle is gone the ring has dropped what it held.
    fn settle(&mut self) {
        if self.tx.is_none() && self.rxs.is_empty() {
            self.ring.clear();
        }
    }

    #[track_caller]
    fn check_channel_stats(&self, stats: ringflow::Stats, who: &str) {
        let step = self.step;
        assert_eq!(stats.evictions, 0, "step {step}: {who}.evictions (broadcast has no force_send)");
        assert_eq!(stats.congestion_transitions, 0, "step {step}: {who}.congestion_transitions");
        assert_eq!(stats.parks, 0, "step {step}: {who}.parks on one thread");
        assert_eq!(stats.wakeups, 0, "step {step}: {who}.wakeups on one thread");
    }

    fn check(&self) {
        let (cap, step, policy) = (self.cfg.capacity, self.step, self.policy);
        let slowest = self.rxs.iter().map(|(_, r)| r.queue.len()).max().unwrap_or(0);
        if let Some(tx) = &self.tx {
            assert_eq!(tx.slowest_lag(), slowest, "step {step}: Sender::slowest_lag");
            assert_eq!(tx.len(), slowest, "step {step}: Sender::len");
            assert_eq!(tx.is_empty(), slowest == 0, "step {step}: Sender::is_empty");
            assert_eq!(tx.is_full(), slowest == cap, "step {step}: Sender::is_full");
            assert_eq!(tx.capacity(), cap, "step {step}: Sender::capacity");
            assert_eq!(tx.policy(), policy, "step {step}: Sender::policy");
            assert_eq!(tx.wait_strategy(), self.cfg.strategy);
            assert_eq!(tx.receiver_count(), self.rxs.len(), "step {step}: Sender::receiver_count");
            assert_eq!(tx.is_disconnected(), self.rxs.is_empty(), "step {step}: Sender::is_disconnected");
            self.check_channel_stats(tx.stats(), "Sender::stats()");
        }
        for (i, (rx, r)) in self.rxs.iter().enumerate() {
            let len = r.queue.len();
            let lag = len + r.pending as usize;
            assert_eq!(rx.len(), len, "step {step}: Receiver[{i}]::len ({policy:?})");
            assert_eq!(rx.is_empty(), len == 0, "step {step}: Receiver[{i}]::is_empty");
            assert_eq!(rx.is_full(), len == cap, "step {step}: Receiver[{i}]::is_full");
            assert_eq!(rx.capacity(), cap, "step {step}: Receiver[{i}]::capacity");
            assert_eq!(rx.policy(), policy, "step {step}: Receiver[{i}]::policy");
            assert_eq!(rx.wait_strategy(), self.cfg.strategy);
            assert_eq!(rx.is_disconnected(), self.tx.is_none(), "step {step}: Receiver[{i}]::is_disconnected");
            assert_eq!(rx.lag(), lag, "step {step}: Receiver[{i}]::lag ({policy:?})");
            assert_eq!(rx.missed(), r.missed, "step {step}: Receiver[{i}]::missed");
            let st = rx.stats();
            assert_eq!(st.received, r.received, "step {step}: Receiver[{i}].stats().received");
            assert_eq!(st.lagged, r.lagged, "step {step}: Receiver[{i}].stats().lagged");
            assert_eq!(st.missed, r.missed, "step {step}: Receiver[{i}].stats().missed");
            assert_eq!(st.lag, lag, "step {step}: Receiver[{i}].stats().lag");
            assert_eq!(st.parks, 0, "step {step}: Receiver[{i}].stats().parks on one thread");
            if i == 0 {
                self.check_channel_stats(rx.channel_stats(), "Receiver::channel_stats()");
            }
        }
        self.check_drops();
    }

    /// Drops are exactly the instances created minus the live ones (the
    /// originals the ring owns, the values held outside it), and no live
    /// one is dropped; a receive makes exactly one clone.
    #[track_caller]
    fn check_drops(&self) {
        let step = self.step;
        let t = &self.tracker;
        let live = self.ring.len() + self.held.len();
        assert_eq!(
            t.total_drops(),
            t.created() - live,
            "step {step}: {} drops, expected {} ({} created, {} owned by the ring, {} held)",
            t.total_drops(),
            t.created() - live,
            t.created(),
            self.ring.len(),
            self.held.len()
        );
        for &inst in &self.ring {
            assert_eq!(t.drops_of(inst), 0, "step {step}: the ring dropped item {inst} while it still owns it");
        }
        for v in &self.held {
            v.check_item();
        }
        assert_eq!(t.clones.get(), self.received, "step {step}: clones made vs values received");
    }

    fn finish(mut self) {
        if self.cfg.drop_tx_first {
            self.tx = None;
        } else {
            self.rxs.clear();
        }
        self.settle();
        self.check();
        self.tx = None;
        self.rxs.clear();
        self.settle();
        self.check_drops();
        self.held.clear();
        self.check_drops();
        self.tracker.assert_all_dropped_once();
    }
}

/// Runs `data` as broadcast sessions against the model (one `VecDeque` per
/// receiver); panics on any mismatch, leak, double drop or stray clone. The
/// header's `extra` byte: bit 7 picks Lossy (else Block); watermarks are not
/// used (the broadcast ring has none).
pub fn run_broadcast(data: &[u8]) {
    let mut input = Input::new(data);
    loop {
        let mut cfg = Config::decode(&mut input);
        let policy = if cfg.plain { Policy::Lossy } else { Policy::Block };
        cfg.marks = None;
        let mut s = Bcast::new(cfg, policy);
        s.check();
        while s.tx.is_some() || !s.rxs.is_empty() {
            let Some(byte) = input.next() else { break };
            let op = BROADCAST_OPS[(byte & 63) as usize];
            s.step(op, byte, &mut input);
            s.step += 1;
            s.settle();
            s.check();
        }
        s.finish();
        if input.is_done() {
            return;
        }
    }
}
