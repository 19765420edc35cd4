//! The broadcast (fan-out) ring: one [`Sender`], any number of
//! [`Receiver`]s, and every receiver sees every item.
//!
//! ```
//! let (mut tx, mut rx1) = ringflow::broadcast::channel::<u64>(64);
//! let mut rx2 = rx1.clone(); // a second receiver at the same position
//! tx.send(7).unwrap();
//! assert_eq!(rx1.recv(), Ok(7));
//! assert_eq!(rx2.recv(), Ok(7)); // each receiver gets its own clone
//! ```
//!
//! Two policies decide what a full ring does:
//!
//! - **Block** ([`channel`], [`Builder::broadcast`]): a send waits (or
//!   `try_send` fails `Full`, handing the value back) while the slowest live
//!   receiver is `capacity` items behind. Backpressure: no receiver ever
//!   misses an item. A receiver that is alive but never polled therefore
//!   holds the ring — that is the point of backpressure, and its lag shows in
//!   [`Receiver::stats`] and [`Sender::slowest_lag`]; drop it (which releases
//!   its hold at once) or use `Lossy` if that is not what you want.
//! - **Lossy** ([`Builder::broadcast_lossy`]): a send never waits for a slow
//!   receiver. A receiver that fell more than `capacity` items behind gets
//!   [`TryRecvError::Lagged(n)`](TryRecvError::Lagged) once (`n` = the items
//!   it missed) and then continues from the oldest item still held, so for
//!   every receiver `received + missed = sent` holds exactly.
//!
//! There is one sender (its sending methods take `&mut self`; for several
//! producers, put an [`mpmc`](crate::mpmc) ring in front of it). Receivers
//! join with [`Receiver::clone`] (same position as the original) or
//! [`Sender::subscribe`] (only items sent from then on), and leave by being
//! dropped. Both sides also wait asynchronously:
//! [`Sender::send_async`] and [`Receiver::recv_async`] (futures
//! [`SendFuture`] and [`RecvFuture`]), mixed freely with blocking calls.
//!
//! # Algorithm
//!
//! A single-producer ring of `capacity` slots with one *cursor per receiver*,
//! the fan-out shape of the LMAX Disruptor (Thompson et al., "Disruptor:
//! High performance alternative to bounded queues for exchanging data
//! between concurrent threads", 2011): the sender may reuse the slot of
//! position `t - capacity` only once every receiver is past it.
//!
//! - **Publication**: the sender writes the value, then publishes
//!   position `p` with `Release`; a receiver at `p` learns it with an
//!   `Acquire` load before it clones. *How* depends on the slot layout
//!   (see "Two slot layouts" below): through `tail` (`p + 1` once `p` is
//!   published), which a receiver keeps in its own field and loads again
//!   only when it has read everything up to it; or through a *stamp* beside
//!   the value (as in Vyukov's bounded queue, see [`mpmc`](crate::mpmc)):
//!   `2(p + 1)` once the value of position `p` is published there, a
//!   smaller stamp (an older lap) meaning "not sent yet", a larger one (a
//!   later lap) "overwritten" (Lossy only).
//! - **Cursors**: each receiver publishes its position in its own
//!   [`CachePadded`] word (`2p` when idle at `p`, `2p + 1` while cloning the
//!   item at `p`, Lossy only), stored with `Release` after each clone.
//! - **The sender caches the minimum** receiver position (a lower bound)
//!   and rescans the cursors only when that cached bound says the ring is
//!   full, as the SPSC ring caches `head` (Rigtorp's cached index): while
//!   receivers keep up, a send touches only the slot and the sender's own
//!   line.
//! - **Registry**: the cursors live in a `Mutex<Vec<_>>` that only joining
//!   and leaving receivers write; the sender keeps a private snapshot and
//!   takes the mutex only on its first rescan after membership changed (a
//!   `generation` counter tells it). Sends and receives themselves are
//!   lock-free; a receiver that is preempted while joining or leaving can
//!   delay the sender's next rescan, nothing else.
//!
//! ## A send (Block)
//!
//! 1. If `tail - cached_min < capacity`, there is room: go to 3.
//! 2. Rescan: for each live cursor, load it (`Acquire`: the receiver's
//!    clones of older items happen-before our overwrite); the smallest is
//!    the new `cached_min`. Still full: `try_send` returns `Full`, `send`
//!    waits (see below).
//! 3. Swap the new value into the slot, store its stamp (`Release`; stamped
//!    layout), store `tail` (`Release`: the publication of the plain
//!    layout, and for `len` and subscriptions in both), wake sleeping
//!    receivers (`Park` only), and finally drop the value the slot held a
//!    lap ago (every receiver has cloned it; dropping it last means a
//!    panicking `Drop` cannot leave the ring half-updated).
//!
//! ## A receive
//!
//! Plain layout: if the receiver's position is below the `tail` it loaded
//! last, the item is published; otherwise load `tail` again. Stamped
//! layout: load the stamp of the slot at the receiver's position. Not
//! published: `Empty` (or `Disconnected`, if the sender is gone and a
//! second look still finds nothing). Published: clone the value, store the
//! cursor `2(p + 1)` with `Release`, and on `Park` Block channels notify a
//! waiting sender.
//!
//! ## Two slot layouts
//!
//! The layout is chosen when the ring is built, by the item's size. A send
//! branches on it once (always the same way, so the branch is predicted);
//! a receiver of a Block ring on the plain layout decides once, when it is
//! made, and takes a receive path that looks at neither the layout nor the
//! policy (`Receiver::plain_block`); other receivers branch on both per
//! item.
//!
//! - **Plain** (items of at most 8 bytes: integers, `Arc`, `Box`,
//!   references): the slots are the values alone, and receivers learn what
//!   is published from `tail`. A stamp would double the bytes of such an
//!   item; without it, a cache line carries twice the items, and a
//!   receiver that is behind reads `tail` once per batch.
//! - **Stamped** (larger items): a stamp beside each value, so that a
//!   receiver that keeps up learns of an item from the line the item is in:
//!   one line moves per hand-over, not `tail`'s line plus the item's
//!   (`tail`'s line is then written by the sender on every send and read by
//!   the receivers between them). For an item of 64 bytes the stamp adds an
//!   eighth.
//!
//! Measured with `cargo bench --bench broadcast`, free-running
//! (`docs/measurements.md`, Broadcast; medians of alternated runs;
//! near-empty, with 30 ns of work per item on the sender, both ran at the
//! work's ceiling): with `u64` items the
//! plain layout delivered 1.5–1.7 times the items of the stamped one at
//! 1 × 1, 1.0–1.1 times at 1 × 2 and about 1.05 times at 1 × 4; with 64-byte
//! items the stamped layout delivered 1.15–1.45 times the plain one at
//! 1 × 1. Both layouts give the same guarantees, by the same cursor
//! protocol; only the publication differs.
//!
//! ## Lossy: overwriting without cloning a dying value
//!
//! A stamp checked before and after a clone (a seqlock) is only enough for
//! values that can be copied blindly: a `Clone` of a `String` that the sender
//! is freeing at the same moment reads freed memory before the second check
//! can reject it. So the sender never touches a slot while a receiver
//! clones it, and it waits for *in-flight clones only* (bounded by one
//! `clone` of one item), never for a receiver that is merely behind:
//!
//! - A receiver at `p` that finds the stamp published moves its cursor from
//!   idle to *busy* with a compare-and-swap `2p → 2p + 1`, clones, then
//!   stores `2(p + 1)`.
//! - The sender, about to overwrite position `q = t - capacity` while its
//!   cached minimum says a receiver may still be at or before `q`, visits
//!   every live cursor: one past `q` is left alone; one idle at or before `q`
//!   is *evicted* with a CAS to `2(q + 1)` (the oldest position still held
//!   after this send); one busy at `q` is waited for (spin, then yield; never
//!   park: the receiver is running its `clone`).
//! - The two CASes on the receiver's cursor decide every race: if the
//!   eviction comes first, the receiver's CAS fails, it reads the evicted
//!   position from its cursor and reports `Lagged(n)` without touching the
//!   slot; if the receiver's comes first, the eviction fails and the sender
//!   waits until the receiver's `Release` store after its clone, which its
//!   `Acquire` load then sees, so the clone happens-before the overwrite.
//!   A receiver that finds a later lap's stamp (stamped layout) was evicted
//!   before the overwrite (the sender evicts, then writes, then publishes
//!   the stamp with `Release`), so its cursor already holds the position to
//!   resume from. On the plain layout nothing in the slot says "overwritten":
//!   the CAS alone decides, and it suffices, because the sender evicts every
//!   cursor at or behind a position before it overwrites that position's
//!   slot (its cached minimum is a lower bound of every cursor).
//!
//! This is the same guarantee as tokio's per-slot `RwLock`, with one
//! uncontended CAS on the receiver's own line per receive instead of a lock
//! shared by every receiver of the slot. The loom model
//! `loom-tests/tests/broadcast.rs` checks it (a lossy overwrite racing a
//! clone, with loom tracking every access to the slot's cell).
//!
//! ## Joining while the sender rescans
//!
//! A cloned receiver starts at the original's position, which the sender
//! may not have seen yet. The clone registers (bumping `generation` with
//! `Release`) and only then reads the original's cursor with a
//! read-modify-write (and adopts an eviction it finds there). Either the
//! sender's visit of the original comes first in that cursor's modification
//! order — then the clone sees what the sender saw or later, so its own
//! position is no lower than the one the sender used — or the clone's RMW
//! comes first, and then the sender's visit synchronises with it (directly
//! or through the original's later `Release` stores), so the sender's
//! closing load of `generation` sees the registration and it scans again.
//! [`Sender::subscribe`] needs none of this: it cannot run during a send.
//!
//! ## Blocking
//!
//! The sleeper protocol of the other rings (`wait.rs`): on `Park` channels
//! a blocked sender sleeps on the channel's `send_waiters` with a re-check
//! that scans the registry, and every receive on a Block channel notifies
//! it after publishing its cursor. A receiver that leaves wakes the sender
//! (`wake_all`), so a send blocked on it goes on at once; the last one to
//! leave wakes it too (the send then fails, handing the value back).
//!
//! Each receiver sleeps on a registry of its *own* (in its cursor), and a
//! send notifies every live receiver's registry: the light barrier, then
//! one load of `generation` (refreshing the sender's snapshot if a receiver
//! joined: its registration precedes its sleeper registration, so the
//! barrier pair makes a joiner that could miss the item visible here), then
//! one load of each registry's sleeper count — a line only that receiver
//! writes, and only when it sleeps. One shared registry for all receivers
//! is not enough: `wait.rs` hands out wake-up *tokens* that any sleeper of
//! the registry may use, which is right when sleepers are interchangeable
//! (any MPMC receiver can take any item) but not here, where each receiver
//! waits for its own position. A receiver that went to sleep just after a
//! send took the token meant for a receiver whose item that send had
//! published, found nothing for itself and slept again, and the other one
//! slept on while the sender waited for it: both sides asleep
//! (`tests/broadcast.rs`, `one_sender_four_receivers::park`, hung so before
//! this design). The sender's drop wakes every receiver's registry.
//!
//! # Guarantees
//!
//! - Every item is dropped exactly once: by the send that reuses its slot,
//!   or by the last handle's drop (also if one of the drops panics).
//!   Receivers get clones; a panicking `Clone` leaves the receiver where it
//!   was (the item is not received and not lost).
//! - Each receiver sees the items in send order; a send happens-before every
//!   receive of that item.
//! - When the sender is gone, each receiver first gets what it has not read,
//!   then `Disconnected`; threads blocked in `recv` wake up. While no
//!   receiver is alive, sends fail with the value handed back
//!   ([`Sender::is_disconnected`]); a later [`Sender::subscribe`] makes the
//!   channel live again.
//! - `try_*` calls never wait, but for one case: a lossy `try_send` (and so
//!   a lossy `send`) waits for an in-flight `clone` of the slot it
//!   overwrites, as long as that clone runs (spinning, and yielding the
//!   thread unless the channel is `BusySpin`), as `force_send` does on the
//!   MPMC ring for an in-flight read. So a `T::clone` must not wait for
//!   anything the sending thread holds while it sends (a review built a
//!   deadlock from a `clone` that takes a lock the sender held around its
//!   send).
//! - `T: Send + Sync` for the handles to be `Send`: receivers on different
//!   threads clone the same value at the same time through `&T` (tokio's
//!   broadcast channel missed this bound, RUSTSEC-2025-0023).
//!
//! # Costs
//!
//! One clone per receiver per item (the item itself stays in the ring until
//! its slot is reused). Memory: `capacity` slots of `size_of::<T>()` bytes
//! (plain layout) or of the item and a `usize` stamp, padded to `T`'s
//! alignment (stamped), plus a cache line or two per receiver. A Block
//! receive is a load (of the stamp, or of `tail` when the receiver has read
//! everything it last saw), a clone and a store on the receiver's own line;
//! a Lossy receive adds one CAS there. A send writes the slot and `tail`;
//! it reads every cursor only when its cached minimum says the ring is
//! full, and on a Lossy ring that keeps a receiver permanently behind, it
//! visits every cursor on each send.
//! Congestion watermarks are not supported on this ring
//! ([`Builder::broadcast`] panics if they are set).

/// Inside `impl<T> Handle<T>` of either broadcast handle: `is_empty`,
/// `is_full`, `capacity`, `policy` and `wait_strategy`, from the handle's
/// own `len()` and its `shared` state (written once for both handles).
macro_rules! broadcast_introspection {
    () => {
        /// `true` if [`len`](Self::len) is 0.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// `true` if [`len`](Self::len) equals the capacity.
        pub fn is_full(&self) -> bool {
            self.len() == self.shared.capacity
        }

        /// The number of items the ring holds, exactly as requested.
        pub fn capacity(&self) -> usize {
            self.shared.capacity
        }

        /// The channel's policy (Block or Lossy).
        pub fn policy(&self) -> Policy {
            self.shared.policy
        }

        /// The channel's wait strategy.
        pub fn wait_strategy(&self) -> $crate::WaitStrategy {
            self.shared.cold.ctl.strategy
        }
    };
}

mod error;
mod receiver;
mod sender;

pub use error::{RecvError, RecvTimeoutError, TryRecvError};
pub use receiver::{Receiver, ReceiverStats};
pub use sender::Sender;

#[cfg(feature = "futures")]
pub use crate::future::broadcast_adapters::{RecvStream, SendSink};
pub use crate::future::broadcast_futures::{RecvFuture, SendFuture};

use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::buffer::{drop_each, Buffer, Cell, StampedSlot};
use crate::builder::Builder;
use crate::flow::Control;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::wait::Sleepers;

/// What a full broadcast ring does; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// The sender waits for the slowest receiver (backpressure).
    Block,
    /// The sender overwrites the oldest item; slow receivers get `Lagged`.
    Lossy,
}

/// Creates a Block broadcast ring holding exactly `capacity` items, with the
/// default [`WaitStrategy::Park`](crate::WaitStrategy::Park). Use
/// [`Builder::broadcast`] / [`Builder::broadcast_lossy`] for other
/// strategies or the Lossy policy.
///
/// # Panics
///
/// If `capacity` is 0, larger than `usize::MAX / 4`, or if `capacity`
/// slots would not fit in one allocation (`isize::MAX` bytes). The slots
/// are allocated at once (the memory is touched only as items arrive): if
/// the allocator cannot provide them, the process aborts, as a `Vec`'s
/// allocation does.
///
/// # Examples
///
/// ```
/// use ringflow::TrySendError;
/// let (mut tx, mut rx) = ringflow::broadcast::channel::<&str>(1);
/// tx.try_send("a").unwrap();
/// assert_eq!(tx.try_send("b"), Err(TrySendError::Full("b"))); // rx has not read "a"
/// assert_eq!(rx.try_recv(), Ok("a"));
/// tx.try_send("b").unwrap();
/// ```
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    Builder::new(capacity).broadcast()
}

impl Builder {
    /// Builds a Block broadcast ring: the sender waits for the slowest
    /// receiver (see [`broadcast`](crate::broadcast)).
    ///
    /// # Panics
    ///
    /// If watermarks were set (the broadcast ring has no congestion signal),
    /// or the capacity is larger than `usize::MAX / 4`, or the slots would
    /// not fit in one allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::{Builder, WaitStrategy};
    /// let (mut tx, mut rx) = Builder::new(16).wait_strategy(WaitStrategy::SpinYield).broadcast::<u32>();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn broadcast<T: Clone>(self) -> (Sender<T>, Receiver<T>) {
        build(self, Policy::Block)
    }

    /// Builds a Lossy broadcast ring: the sender never waits for a slow
    /// receiver; one that falls more than `capacity` behind gets
    /// [`TryRecvError::Lagged`] (see [`broadcast`](crate::broadcast)).
    ///
    /// # Panics
    ///
    /// As [`broadcast`](Builder::broadcast).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::broadcast::TryRecvError;
    /// let (mut tx, mut rx) = ringflow::Builder::new(2).broadcast_lossy::<u32>();
    /// for i in 0..5 {
    ///     tx.try_send(i).unwrap(); // never Full
    /// }
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3))); // 0, 1, 2 were overwritten
    /// assert_eq!(rx.try_recv(), Ok(3)); // then the oldest still held
    /// assert_eq!(rx.try_recv(), Ok(4));
    /// ```
    pub fn broadcast_lossy<T: Clone>(self) -> (Sender<T>, Receiver<T>) {
        build(self, Policy::Lossy)
    }
}

fn build<T>(b: Builder, policy: Policy) -> (Sender<T>, Receiver<T>) {
    assert!(b.watermarks.is_none(), "ringflow: the broadcast ring has no congestion watermarks (Builder::watermarks)");
    let shared = Arc::new(Shared::new(&b, policy));
    let park = b.park_barrier();
    let cursor = Arc::new(CachePadded::new(Cursor::new(idle(b.start))));
    shared.register(&cursor);
    let rx = Receiver::new(shared.clone(), cursor, b.start, 0, park);
    let tx = Sender::new(shared, b.start, park);
    (tx, rx)
}

/// Largest capacity: stamps and cursors hold positions doubled (the low bit
/// of a cursor says "being read"), and wrapping signed differences between
/// them must be unambiguous.
const MAX_CAPACITY: usize = usize::MAX / 4;

/// A cursor idle at position `p` (it has read everything before `p`).
#[inline(always)]
pub(crate) fn idle(p: usize) -> usize {
    p.wrapping_mul(2)
}

/// A cursor cloning the item at position `p` (Lossy only).
#[inline(always)]
pub(crate) fn busy(p: usize) -> usize {
    idle(p) | 1
}

/// `(a - b) as isize` for two doubled values (stamps or cursor words, the
/// busy bit ignored), in positions: positive when `a` is ahead.
#[inline(always)]
pub(crate) fn ahead(a: usize, b: usize) -> isize {
    ((a & !1).wrapping_sub(b & !1) as isize) >> 1
}

/// How many positions the cursor word `state` is behind position `tail`.
#[inline(always)]
pub(crate) fn behind(tail: usize, state: usize) -> usize {
    idle(tail).wrapping_sub(state & !1) >> 1
}

/// The stamp of a slot holding the published item of position `p`
/// (stamped layout).
#[inline(always)]
pub(crate) fn ready(p: usize) -> usize {
    p.wrapping_add(1).wrapping_mul(2)
}

/// The slots, in one of two layouts (see "Two slot layouts" in the module
/// docs). In either, a slot's cell holds an initialised value exactly when
/// the slot has been written at least once (the ring drops a value only
/// when replacing it, or in `Shared::drop`).
pub(crate) enum Slots<T> {
    /// Cells only: receivers learn what is published from `tail`.
    Plain(Buffer<Cell<T>>),
    /// A stamp beside each value: `2(p + 1)` once the item of position `p`
    /// is published there (written only by the sender, with `Release`,
    /// after the value). It starts at `2s` for the slot's first position
    /// `s` ("not sent yet"), its base.
    Stamped(Buffer<StampedSlot<T>>),
}

/// Items up to this size get the plain layout; larger ones a stamp per slot.
const PLAIN_MAX_BYTES: usize = 8;

/// One receiver's published position, on its own cache line, and the
/// registry its `recv` sleeps on (on a line of its own: the sender loads
/// its count after every send on `Park` channels, the receiver writes
/// `state` after every receive).
#[derive(Debug)]
pub(crate) struct Cursor {
    /// `idle(p)` or (Lossy) `busy(p)` for the receiver's position `p`.
    /// Written by the receiver (`Release` after each clone; Lossy: a CAS
    /// idle → busy before it); on Lossy rings also by the sender, which may
    /// CAS an idle cursor at or before the position it overwrites forward to
    /// the oldest held position (an eviction). Only ever moves forward.
    pub(crate) state: AtomicUsize,
    /// `false` once the receiver is dropped: the sender ignores this cursor
    /// from then on, even in a stale snapshot.
    pub(crate) live: AtomicBool,
    /// Where this receiver sleeps when it waits for an item (`Park`). One
    /// registry per receiver, not one per channel: see "Blocking" in the
    /// module docs.
    pub(crate) sleepers: CachePadded<Sleepers>,
}

impl Cursor {
    pub(crate) fn new(state: usize) -> Self {
        Cursor {
            state: AtomicUsize::new(state),
            live: AtomicBool::new(true),
            sleepers: CachePadded::new(Sleepers::new()),
        }
    }
}

pub(crate) type CursorRef = Arc<CachePadded<Cursor>>;

pub(crate) struct Shared<T> {
    /// The next position the sender will write: the start position plus
    /// items ever sent. Written only by the sender (`Release`, after the
    /// value of the position before it); receivers load it (`Acquire`) to
    /// learn which positions are published, and keep what they loaded
    /// until they have read that far. Also read by `len`/lag queries and
    /// by `Shared::drop`.
    pub(crate) tail: CachePadded<AtomicUsize>,
    /// Read-mostly state: handle counts, the registry, sleepers.
    pub(crate) cold: CachePadded<Cold>,
    pub(crate) slots: Slots<T>,
    pub(crate) capacity: usize,
    pub(crate) policy: Policy,
    /// The first position (0 except in wrap-around tests); slot `i` first
    /// serves position `start + i`.
    pub(crate) start: usize,
}

/// The receivers' cursors, and the list the sender copies.
pub(crate) struct Registry {
    /// Every live receiver's cursor.
    pub(crate) cursors: Vec<CursorRef>,
    /// `cursors` as of the last change, built by the receiver that made it
    /// (a copy of the list per join or leave). The sender's snapshot is a
    /// clone of this `Arc`, so refreshing it allocates nothing on the
    /// sender's thread.
    pub(crate) published: Arc<Vec<CursorRef>>,
    /// Lists published before: kept until the sender has let go of them
    /// (the registry's reference is then the last), so that the sender's
    /// thread never drops a list's last reference (a free, and maybe a
    /// departed receiver's cursor). Trimmed by later changes.
    retired: Vec<Arc<Vec<CursorRef>>>,
}

impl Registry {
    fn new() -> Self {
        Registry { cursors: Vec::new(), published: Arc::new(Vec::new()), retired: Vec::new() }
    }

    /// After a change of `cursors`: publishes them, retires the list the
    /// sender may still hold, and returns the retired lists it has let go
    /// of, for the caller to drop once the mutex is released (a departed
    /// receiver's cursor may hold the waker of a leaked future).
    #[must_use]
    fn republish(&mut self) -> Vec<Arc<Vec<CursorRef>>> {
        let old = core::mem::replace(&mut self.published, Arc::new(self.cursors.clone()));
        self.retired.push(old);
        let mut released = Vec::new();
        let mut i = 0;
        while i < self.retired.len() {
            // Under the mutex the count only falls: the sender clones only
            // `published`, and only under the mutex.
            if Arc::strong_count(&self.retired[i]) == 1 {
                released.push(self.retired.swap_remove(i));
            } else {
                i += 1;
            }
        }
        released
    }
}

pub(crate) struct Cold {
    /// `false` once the sender is dropped; stored (`Release`) after its last
    /// store of `tail`, so a receiver that sees `false` and then reloads
    /// `tail` sees every item.
    pub(crate) sender_alive: AtomicBool,
    /// Live receivers; 0 makes sends fail (until a `subscribe`).
    pub(crate) receivers: AtomicUsize,
    /// Every live receiver's cursor. Written by joining / leaving receivers
    /// (and `subscribe`); read by the sender to refresh its snapshot, and by
    /// queries. No other lock is ever taken while it is held.
    pub(crate) registry: Mutex<Registry>,
    /// Bumped (`Release`, under the registry mutex) on every change of the
    /// registry; see "Joining while the sender rescans" in the module docs.
    pub(crate) generation: AtomicUsize,
    /// Wait strategy, sleepers and counters.
    pub(crate) ctl: Control,
}

impl<T> Shared<T> {
    fn new(b: &Builder, policy: Policy) -> Self {
        let capacity = b.capacity;
        assert!(
            capacity <= MAX_CAPACITY,
            "ringflow: capacity {capacity} is too large for the broadcast ring (at most usize::MAX / 4)"
        );
        let start = b.start;
        let by_size = core::mem::size_of::<T>() > PLAIN_MAX_BYTES;
        // Test-only: every payload on the layout its size would not get.
        #[cfg(feature = "__test-broadcast-flip")]
        let by_size = !by_size;
        let stamps = b.broadcast_stamps.unwrap_or(by_size);
        // Either way built in constant time and backed page by page as
        // positions reach it: uninitialised cells (receivers read only
        // slots the sender has written), or zeroed slots whose stamps are
        // relative to their base.
        let slots = if stamps {
            Slots::Stamped(Buffer::stamped(capacity))
        } else {
            Slots::Plain(Buffer::uninit_cells(capacity))
        };
        Shared {
            tail: CachePadded::new(AtomicUsize::new(start)),
            cold: CachePadded::new(Cold {
                sender_alive: AtomicBool::new(true),
                receivers: AtomicUsize::new(0),
                registry: Mutex::new(Registry::new()),
                generation: AtomicUsize::new(0),
                ctl: Control::new(b.strategy, b.move_threads),
            }),
            slots,
            capacity,
            policy,
            start,
        }
    }

    /// The value cell of slot `idx`.
    ///
    /// # Safety
    ///
    /// `idx < capacity` (every handle keeps the index of its position below
    /// capacity: it is reset to 0 when it reaches it).
    #[inline(always)]
    pub(crate) unsafe fn cell(&self, idx: usize) -> &Cell<T> {
        debug_assert!(idx < self.capacity);
        match &self.slots {
            // SAFETY: `idx < capacity`, the buffer's length (the caller's
            // contract).
            Slots::Plain(cells) => unsafe { cells.get(idx) },
            // SAFETY: as above.
            Slots::Stamped(slots) => unsafe { &slots.get(idx).value },
        }
    }

    /// The stamp of slot `idx` of the stamped layout (the full value, its
    /// base added back).
    ///
    /// # Safety
    ///
    /// `idx < capacity`.
    #[inline(always)]
    pub(crate) unsafe fn stamp(slots: &Buffer<StampedSlot<T>>, start: usize, idx: usize, order: Ordering) -> usize {
        // SAFETY: the caller's contract.
        unsafe { slots.get(idx) }.stamp(idle(start.wrapping_add(idx)), order)
    }

    /// Writes `value` into slot `idx` for position `pos` and publishes it:
    /// its stamp (stamped layout), then `tail = pos + 1`, each with
    /// `Release`. Returns what the slot held before (initialised only if
    /// the slot had been written before). One branch on the layout.
    ///
    /// # Safety
    ///
    /// `idx < capacity`; only the sender calls it, once per position, and
    /// no receiver reads the slot until this publication (none is at or
    /// before `pos - capacity`).
    #[inline(always)]
    pub(crate) unsafe fn write(&self, idx: usize, pos: usize, value: T) -> MaybeUninit<T> {
        // SAFETY: the sender is the only writer, and no receiver reads the
        // slot until the publication below (the caller's contract).
        let swap = |cell: &Cell<T>| unsafe { cell.with_mut(|p| core::ptr::replace(p, MaybeUninit::new(value))) };
        let old = match &self.slots {
            // SAFETY: `idx < capacity`, the buffer's length (the caller's
            // contract).
            Slots::Plain(cells) => swap(unsafe { cells.get(idx) }),
            Slots::Stamped(slots) => {
                // SAFETY: as above.
                let slot = unsafe { slots.get(idx) };
                let old = swap(&slot.value);
                slot.set_stamp(idle(self.start.wrapping_add(idx)), ready(pos), Ordering::Release);
                // The slots are a zeroed buffer: see `Buffer::prefault_ahead`.
                slots.prefault_ahead(idx);
                old
            }
        };
        // Release: publishes the value of `pos` to every receiver that loads
        // this `tail` (or a later one) with Acquire (plain layout), and
        // orders it for `len`, subscriptions and `Shared::drop`.
        self.tail.store(pos.wrapping_add(1), Ordering::Release);
        old
    }

    /// Adds `cursor` to the registry and counts a live receiver.
    pub(crate) fn register(&self, cursor: &CursorRef) {
        let mut registry = lock(&self.cold.registry);
        registry.cursors.push(cursor.clone());
        let released = registry.republish();
        self.cold.receivers.fetch_add(1, Ordering::Relaxed);
        // Release: a sender that sees the new generation sees the push (it
        // also takes the mutex to copy the list, which orders it anyway).
        self.cold.generation.fetch_add(1, Ordering::Release);
        drop(registry);
        drop(released);
    }

    /// Removes `cursor` from the registry; returns the number of live
    /// receivers left.
    pub(crate) fn deregister(&self, cursor: &CursorRef) -> usize {
        let mut registry = lock(&self.cold.registry);
        if let Some(i) = registry.cursors.iter().position(|c| Arc::ptr_eq(c, cursor)) {
            registry.cursors.swap_remove(i);
        }
        let released = registry.republish();
        self.cold.generation.fetch_add(1, Ordering::Release);
        // AcqRel, as for `Arc`: the last receiver's drop sees the others'.
        let left = self.cold.receivers.fetch_sub(1, Ordering::AcqRel) - 1;
        drop(registry);
        drop(released);
        left
    }

    /// How far the slowest live receiver is behind `tail` (0 without
    /// receivers), from fresh loads under the registry mutex. The blocked
    /// sender's re-check, and the queries.
    pub(crate) fn slowest_behind(&self, tail: usize) -> usize {
        let registry = lock(&self.cold.registry);
        registry
            .cursors
            .iter()
            .filter(|c| c.live.load(Ordering::Acquire))
            .map(|c| behind(tail, c.state.load(Ordering::Acquire)))
            .max()
            .unwrap_or(0)
    }

    /// Whether a blocked (Block) sender about to write `tail` should retry:
    /// the slowest receiver is less than `capacity` behind, or none is left.
    pub(crate) fn send_may_proceed(&self, tail: usize) -> bool {
        self.cold.receivers.load(Ordering::Acquire) == 0 || self.slowest_behind(tail) < self.capacity
    }

    /// Whether a blocked receiver at position `pos` (slot `idx`) should
    /// retry: its item is published (or overwritten), or the sender is gone.
    ///
    /// # Safety
    ///
    /// `idx < capacity`.
    pub(crate) unsafe fn recv_may_proceed(&self, idx: usize, pos: usize) -> bool {
        let published = match &self.slots {
            Slots::Plain(_) => self.tail.load(Ordering::Acquire) != pos,
            Slots::Stamped(slots) => {
                // SAFETY: `idx < capacity` (the caller's contract).
                let stamp = unsafe { Self::stamp(slots, self.start, idx, Ordering::Acquire) };
                ahead(stamp, ready(pos)) >= 0
            }
        };
        published || !self.cold.sender_alive.load(Ordering::Acquire)
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Every handle is gone, so nothing moves: the slots written at least
        // once hold a value each. Positions start at slot 0, so those are
        // the first `min(sent, capacity)` slots.
        let sent = self.tail.load(Ordering::Relaxed).wrapping_sub(self.start);
        let written = sent.min(self.capacity);
        drop_each(written, |i| {
            // SAFETY: `i < written <= capacity`; slot `i` was written at
            // least once, so it holds an initialised value, which no handle
            // can reach any more; `drop_each` visits it once.
            unsafe { self.cell(i).with_mut(|p| (*p).assume_init_drop()) };
        });
    }
}

/// Locks, ignoring poisoning: nothing that can panic runs while the
/// registry mutex is held (a push may abort on allocation failure, which
/// does not unwind), so a poisoned registry is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> crate::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_across_usize_max() {
        let p = usize::MAX;
        assert_eq!(ahead(ready(p), ready(p)), 0);
        assert_eq!(ahead(ready(p.wrapping_add(3)), ready(p)), 3);
        assert_eq!(ahead(idle(p), ready(p)), -1);
        assert_eq!(ahead(idle(p), busy(p)), 0);
        assert_eq!(behind(p.wrapping_add(5), idle(p)), 5);
        assert_eq!(behind(p.wrapping_add(5), busy(p)), 5);
    }

    /// Two receivers of a capacity-1 ring pinned to one CPU, the sender to
    /// another: a receiver's next item needs the other receiver to take the
    /// one before (the sender waits for the slowest), and that receiver is
    /// queued behind it, so spinning only delays what it waits for. Its
    /// wait's yield runs the other receiver, which takes its item and
    /// yields straight back (~2.3 µs on the 2-vCPU EPYC VM, against ~0.4 µs
    /// for a yield with nothing else to run), and must be learned as
    /// contended: both receivers' budgets end with spinning off. With the
    /// 3 µs threshold of before, one receiver kept a 37–50 µs budget and
    /// the pair ran at ~47 µs per item (`docs/measurements.md`, 2026-12-04
    /// 19:5x–21:xx). That shows in a release build (`cargo test --release --lib
    /// broadcast`, run by CI): unoptimised, the other receiver's turn takes
    /// longer than 3 µs, and the old threshold saw it too. Skipped where the
    /// threads cannot be pinned to two CPUs.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn receivers_sharing_a_cpu_stop_spinning_through_each_others_turn() {
        use crate::sync::{pin_to, PARK_SPIN_OFF_NS};
        use rustix::thread::{sched_getaffinity, CpuSet};
        use std::thread;

        let Ok(mask) = sched_getaffinity(None) else { return };
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| mask.is_set(c)).take(2).collect();
        let [here, there] = cpus[..] else {
            eprintln!("fewer than two CPUs in the affinity mask: the shared-CPU receivers are not checked");
            return;
        };
        const ITEMS: u64 = 3_000;
        let (mut tx, rx) = channel::<u64>(1);
        let receivers: Vec<_> = [rx.clone(), rx]
            .into_iter()
            .map(|mut rx| {
                thread::spawn(move || {
                    let pinned = pin_to(here as u32).is_ok();
                    for i in 0..ITEMS {
                        assert_eq!(rx.recv(), Ok(i));
                    }
                    (pinned, rx)
                })
            })
            .collect();
        let sender = thread::spawn(move || {
            let pinned = pin_to(there as u32).is_ok();
            for i in 0..ITEMS {
                tx.send(i).unwrap();
            }
            (pinned, tx)
        });
        let (sent_pinned, _tx) = sender.join().unwrap();
        let mut budgets = Vec::new();
        let mut pinned = sent_pinned;
        for r in receivers {
            let (ok, rx) = r.join().unwrap();
            pinned &= ok;
            budgets.push(rx.spin_learned());
        }
        if !pinned {
            eprintln!("sched_setaffinity refused here: the shared-CPU receivers are not checked");
            return;
        }
        for b in &budgets {
            assert!(*b < PARK_SPIN_OFF_NS, "a receiver still spins through the other's turn: budgets {budgets:?} ns");
        }
    }
}
