//! The multi-producer multi-consumer ring: [`Sender`] and [`Receiver`].
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded MPMC queue (1024cores.net, "Bounded MPMC queue"):
//! every slot carries a sequence *stamp*, and the `head` (next position to
//! read) and `tail` (next position to write) counters each live in their own
//! [`CachePadded`](crossbeam_utils::CachePadded) line. A producer at position `p` may claim the slot only
//! when its stamp equals `p` (empty for this lap), which it does with a
//! compare-and-swap of `tail` from `p` to the next position; it then writes
//! the value and stores the stamp `p + 1` (full) with `Release`. A consumer
//! at position `p` claims a slot whose stamp is `p + 1` with a CAS of `head`,
//! moves the value out and stores the stamp of the same slot one lap later
//! (empty for the next lap), again with `Release`. The stamp's
//! Release/Acquire pair hands each value over, so the counters themselves
//! need only relaxed CASes.
//!
//! Exact capacity without division uses the *lap* encoding of crossbeam's
//! `ArrayQueue`: a position is `lap * one_lap + index` with `index <
//! capacity` and `one_lap` the next power of two above the capacity, so the
//! index is a mask away and moving past the last index jumps to the next lap.
//! All arithmetic wraps, and comparisons use wrapping signed differences, so
//! positions stay correct across `usize` overflow.
//!
//! Where a claim starts: each handle keeps a *hint*, the position after its
//! own last claim, and a claim looks first at the slot of that position and
//! compare-exchanges the counter from it, instead of loading the counter
//! first. The hint is only a guess: the compare-exchange succeeds only if the
//! counter is at that very position, a slot whose stamp is ahead of it
//! sends the claim to a fresh load of the counter, and so does a failed
//! compare-exchange (its current value), so a stale hint (clones moved the
//! ring on meanwhile, by any number of laps) costs a retry and nothing
//! else. What it saves is the load of the counter right after this
//! thread's own compare-exchange of it, which waited for that locked
//! instruction before the stamp could be read: on one thread, a `u64` send
//! plus receive ran in 12 ns instead of 20 on the Intel Xeon VM of
//! 2026-12-07 (`docs/measurements.md`, "the MPMC claim hint"). On a paged
//! ring a stale position's stamp lookup reads the logical slot's current
//! page or recorded free lap, as a stale stamp load does (`pages.rs`, "Why
//! stale page pointers are harmless"): a stamp of that slot at the
//! position's lap or a later one. Every operation stores the hint, so it lives in a padded
//! cell of its own, allocated with the handle (creating or cloning a
//! handle allocates 128 bytes on x86_64; the operations allocate nothing).
//!
//! # Progress
//!
//! The ring is lock-free, not wait-free: a CAS that loses to another thread
//! retries (after that thread *completed* a claim). The `try_*` calls never
//! wait for another thread to *finish* its operation: a slot a preempted
//! sender has claimed but not yet written reads as empty to `try_recv`, and a
//! slot a receiver has claimed but not yet read out reads as occupied to
//! `try_send` (crossbeam's queues spin in that case, crossbeam issue #997).
//! Hence `try_recv` may return `Empty` while [`Receiver::len`] is non-zero.
//!
//! A lost CAS is followed by an exponential backoff of spin hints. The
//! calls that may wait (`send`, `recv`, their timed and async forms,
//! `force_send`) on `SpinYield` and `Park` channels go one step further:
//! after losing nine races in a row they yield the thread before each retry
//! (the `try_*` calls and `BusySpin` channels only spin). With more
//! threads than cores, the spinning losers otherwise hold the CPU that the
//! other side of the ring needs.

//!
//! # Files
//!
//! - `ring.rs`: the ring itself — slots, positions, the one claim routine
//!   (`claim_with`), publish / take, the congestion probes, `len`, and
//!   dropping what is left;
//! - `sender.rs`: [`Sender`] (sends, batches, `force_send`, the test hook
//!   `__claim_send`);
//! - `receiver.rs`: [`Receiver`] (receives, batches, iterators, the test
//!   hook `__claim_recv`).

pub(crate) mod pages;
mod receiver;
mod ring;
mod sender;

#[cfg(feature = "__test-hooks")]
pub use receiver::PendingRecv;
pub use receiver::{IntoIter, Iter, Receiver, TryIter};
#[cfg(feature = "__test-hooks")]
pub use sender::PendingSend;
pub use sender::Sender;

use crate::builder::Builder;
use crate::sync::Arc;
#[cfg(doc)]
use crate::WaitStrategy;
use ring::Shared;

/// Creates an MPMC ring holding exactly `capacity` items, with the default
/// [`WaitStrategy::Park`]. Use [`Builder`] for other strategies.
///
/// # Panics
///
/// If `capacity` is 0, larger than `usize::MAX / 4`, or if `capacity`
/// slots (one `usize` stamp plus one `T` each) would not fit in one
/// allocation (`isize::MAX` bytes). A large ring allocates its slots page
/// by page as they fill and at once only a page table (two words per
/// page); if the allocator cannot provide that, the process aborts, as a
/// `Vec`'s allocation does.
///
/// # Examples
///
/// ```
/// let (tx, rx) = ringflow::mpmc::channel::<u32>(8);
/// let tx2 = tx.clone();
/// let a = std::thread::spawn(move || tx.send(1).unwrap());
/// let b = std::thread::spawn(move || tx2.send(2).unwrap());
/// a.join().unwrap();
/// b.join().unwrap();
/// let mut got = [rx.recv().unwrap(), rx.recv().unwrap()];
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    Builder::new(capacity).mpmc()
}

impl Builder {
    /// Builds a multi-producer multi-consumer ring.
    ///
    /// # Panics
    ///
    /// If the capacity is larger than `usize::MAX / 4` or the slots would
    /// not fit in one allocation.
    pub fn mpmc<T>(self) -> (Sender<T>, Receiver<T>) {
        let shared = Arc::new(Shared::new(&self));
        let park = self.park_barrier();
        let marks = self.flow_marks();
        (Sender::new(shared.clone(), park, marks), Receiver::new(shared, park, marks))
    }
}

#[cfg(feature = "futures")]
pub use crate::future::mpmc_adapters::{RecvStream, SendSink};
pub use crate::future::mpmc_futures::{RecvFuture, SendFuture};

handle_debug!(Sender, Receiver);
