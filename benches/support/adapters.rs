//! One adapter per queue implementation: how to build it (`Queue`, written
//! once per implementation), then how to send one item and receive one for
//! SPSC use (`Spsc`: one sender, one receiver — the MPMC queues too) and for
//! MPMC use (`Mpmc`: groups of producers and consumers); plus the batch rows
//! through each crate's own chunk API.
//!
//! Each implementation is used the way it is meant to be: ringflow with its
//! channel's wait strategy (blocking `send` / `recv`) or with `try_*` and a
//! spin on a `BusySpin` channel; rtrb and crossbeam `ArrayQueue`, which have
//! no blocking calls, with try + spin (SPSC) or try + backoff (MPMC); the
//! blocking channels (crossbeam-channel, std `sync_channel`, flume, kanal)
//! with their blocking calls. A try-based loop looks at the stop flag while
//! it waits; a blocking call is released by its peer dropping its handle.
//!
//! Every adapter's `send` / `recv` is `#[inline(always)]`, so that each
//! implementation's call sits in the timing loop as it would in a user's
//! loop, whatever LLVM decides about this extra layer: with `#[inline]`, it
//! inlined the try + spin adapters but left ringflow's blocking ones as a
//! call per item (seen with `perf record`). Free-running, vCPUs close, the
//! blocking rows against their own try rows: 0.60–0.77× that way; 0.39–0.46×
//! with these adapters inlined and ringflow's `send` / `recv` still
//! `#[inline]` (LLVM then kept those out of line); 0.88–1.14× with both
//! inlined, as now.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use core_affinity::CoreId;
use crossbeam_utils::CachePadded;
use ringflow::spsc::{Packed, Stamped};
use ringflow::{Builder, TryRecvError, TrySendError, WaitStrategy};

use super::harness::{run_workers, worker, Snooze, Spin, Stop, Stopped, Work};

/// Batch size of the batch rows.
pub const BATCH: usize = 64;

/// An item of `8 * N` bytes; element 0 carries the sequence number.
pub trait Payload: Copy + Send + 'static {
    const BYTES: usize;
    fn make(seq: u64) -> Self;
    fn seq(&self) -> u64;
}

impl<const N: usize> Payload for [u64; N] {
    const BYTES: usize = 8 * N;
    #[inline(always)]
    fn make(seq: u64) -> Self {
        [seq; N]
    }
    #[inline(always)]
    fn seq(&self) -> u64 {
        self[0]
    }
}

// ---------------------------------------------------------------------------
// The retry loops every try-based adapter shares.
// ---------------------------------------------------------------------------

/// Offers `value` to `push` until it is taken, calling `wait` after each
/// refusal (`push` hands a refused value back as `Err`).
#[inline(always)]
pub fn push_until<V>(
    mut value: V,
    mut push: impl FnMut(V) -> Result<(), V>,
    mut wait: impl FnMut() -> Result<(), Stopped>,
) -> Result<(), Stopped> {
    loop {
        match push(value) {
            Ok(()) => return Ok(()),
            Err(v) => value = v,
        }
        wait()?;
    }
}

/// Calls `pop` until it yields a value, calling `wait` after each miss.
#[inline(always)]
pub fn pop_until<V>(
    mut pop: impl FnMut() -> Option<V>,
    mut wait: impl FnMut() -> Result<(), Stopped>,
) -> Result<V, Stopped> {
    loop {
        if let Some(v) = pop() {
            return Ok(v);
        }
        wait()?;
    }
}

/// ringflow's `try_send` as a retry step: `Full` hands the value back.
#[inline(always)]
fn ringflow_try_send<V>(r: Result<(), TrySendError<V>>) -> Result<(), V> {
    match r {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(v)) => Err(v),
        Err(TrySendError::Disconnected(_)) => panic!("receiver gone"),
    }
}

// ---------------------------------------------------------------------------
// The traits: how to build a channel, then how to use it.
// ---------------------------------------------------------------------------

/// How to build one implementation's channel of `T` (written once per
/// implementation, whichever way it is then used).
pub trait Queue<T>: Copy + Send + 'static {
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx);
}

/// A queue used by one sender and one receiver. `Err(Stopped)`: the stop
/// flag was seen while waiting, or the other side is gone.
pub trait Spsc<T: Send + 'static>: Queue<T> {
    fn send(tx: &mut <Self as Queue<T>>::Tx, value: T, stop: &Stop) -> Result<(), Stopped>;
    fn recv(rx: &mut <Self as Queue<T>>::Rx, stop: &Stop) -> Result<T, Stopped>;
    /// Items queued as the receiver sees them, where the queue can tell
    /// (for the regime rows' fill level); `None` where it cannot.
    fn len(_rx: &<Self as Queue<T>>::Rx) -> Option<usize> {
        None
    }
}

/// A queue shared by several producers and consumers (cloned handles).
/// `recv` returns `Ok(None)` once every producer is done and the queue is
/// empty.
pub trait Mpmc: Queue<u64, Tx: Clone, Rx: Clone> {
    fn send(tx: &Self::Tx, value: u64, stop: &Stop) -> Result<(), Stopped>;
    fn recv(rx: &Self::Rx, producers_done: &AtomicUsize, producers: usize, stop: &Stop)
        -> Result<Option<u64>, Stopped>;
    /// Items queued as a receiver sees them, where the queue can tell (for
    /// the rows' fill level, as [`Spsc::len`]); `None` where it cannot.
    fn len(_rx: &Self::Rx) -> Option<usize> {
        None
    }
}

/// `Queue<T>` for every `T`: the handle types and `|q, capacity| expr`,
/// which builds a channel from the adapter value `q`.
macro_rules! queue {
    ($ty:ty, $tx:ty, $rx:ty, |$q:ident, $capacity:ident| $make:expr) => {
        impl<T: Send + 'static> Queue<T> for $ty {
            type Tx = $tx;
            type Rx = $rx;
            fn channel(self, $capacity: usize) -> (Self::Tx, Self::Rx) {
                let $q = self;
                $make
            }
        }
    };
}

/// A blocking queue as an SPSC adapter: `send` / `recv` wait as the queue
/// does and fail only on disconnection, which is also how a stopped peer
/// releases them (it drops its handle).
macro_rules! blocking_spsc {
    ($ty:ty $(, len: |$rx:ident| $len:expr)?) => {
        impl<T: Send + 'static> Spsc<T> for $ty {
            #[inline(always)]
            fn send(tx: &mut <Self as Queue<T>>::Tx, value: T, _: &Stop) -> Result<(), Stopped> {
                tx.send(value).map_err(|_| Stopped)
            }
            #[inline(always)]
            fn recv(rx: &mut <Self as Queue<T>>::Rx, _: &Stop) -> Result<T, Stopped> {
                rx.recv().map_err(|_| Stopped)
            }
            $(
                fn len($rx: &<Self as Queue<T>>::Rx) -> Option<usize> {
                    Some($len)
                }
            )?
        }
    };
}

/// A blocking queue as an MPMC adapter: the disconnection that ends `recv`
/// (the last producer dropping its handle) tells consumers every producer
/// is done.
macro_rules! blocking_mpmc {
    ($ty:ty $(, len: |$rx:ident| $len:expr)?) => {
        impl Mpmc for $ty {
            #[inline(always)]
            fn send(tx: &Self::Tx, value: u64, _: &Stop) -> Result<(), Stopped> {
                tx.send(value).map_err(|_| Stopped)
            }
            #[inline(always)]
            fn recv(rx: &Self::Rx, _: &AtomicUsize, _: usize, _: &Stop) -> Result<Option<u64>, Stopped> {
                Ok(rx.recv().ok())
            }
            $(
                fn len($rx: &Self::Rx) -> Option<usize> {
                    Some($len)
                }
            )?
        }
    };
}

// ---------------------------------------------------------------------------
// ringflow.
// ---------------------------------------------------------------------------

/// A ringflow channel's builder: `capacity`, the wait strategy and, if
/// `Some((low, high))`, watermarks.
fn ringflow_builder(capacity: usize, strategy: WaitStrategy, marks: Option<(usize, usize)>) -> Builder {
    let b = Builder::new(capacity).wait_strategy(strategy);
    match marks {
        Some((low, high)) => b.watermarks(low, high),
        None => b,
    }
}

/// ringflow SPSC, blocking `send` / `recv` with the given wait strategy and,
/// if `Some((low, high))`, watermarks.
#[derive(Clone, Copy)]
pub struct RingflowBlocking(pub WaitStrategy, pub Option<(usize, usize)>);

queue!(RingflowBlocking, ringflow::spsc::Producer<T>, ringflow::spsc::Consumer<T>, |q, capacity| {
    ringflow_builder(capacity, q.0, q.1).spsc()
});
blocking_spsc!(RingflowBlocking, len: |rx| rx.len());

/// ringflow MPMC, blocking `send` / `recv` with the given wait strategy (and
/// watermarks, as for [`RingflowBlocking`]): for SPSC use (one sender, one
/// receiver) and MPMC use.
#[derive(Clone, Copy)]
pub struct RingflowMpmc(pub WaitStrategy, pub Option<(usize, usize)>);

queue!(RingflowMpmc, ringflow::mpmc::Sender<T>, ringflow::mpmc::Receiver<T>, |q, capacity| {
    ringflow_builder(capacity, q.0, q.1).mpmc()
});
blocking_spsc!(RingflowMpmc);
blocking_mpmc!(RingflowMpmc, len: |rx| rx.len());

/// ringflow SPSC of the stamped layout (`Builder::spsc_stamped`), blocking
/// `send` / `recv` with the given wait strategy.
#[derive(Clone, Copy)]
pub struct RingflowStampedBlocking(pub WaitStrategy);

queue!(
    RingflowStampedBlocking,
    ringflow::spsc::Producer<T, Stamped>,
    ringflow::spsc::Consumer<T, Stamped>,
    |q, capacity| ringflow_builder(capacity, q.0, None).spsc_stamped()
);
blocking_spsc!(RingflowStampedBlocking, len: |rx| rx.len());

/// `Spsc` for a ringflow SPSC adapter whose handles are of layout `$layout`,
/// driven by `try_send` / `try_recv` + spin.
macro_rules! ringflow_try_spsc {
    ($ty:ty, $layout:ty) => {
        impl<T: Send + 'static> Spsc<T> for $ty {
            #[inline(always)]
            fn send(tx: &mut ringflow::spsc::Producer<T, $layout>, value: T, stop: &Stop) -> Result<(), Stopped> {
                let mut spin = Spin::new(stop);
                push_until(value, |v| ringflow_try_send(tx.try_send(v)), || spin.spin())
            }
            #[inline(always)]
            fn recv(rx: &mut ringflow::spsc::Consumer<T, $layout>, stop: &Stop) -> Result<T, Stopped> {
                let mut spin = Spin::new(stop);
                let pop = || match rx.try_recv() {
                    Ok(v) => Some(v),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => panic!("sender gone"),
                };
                pop_until(pop, || spin.spin())
            }
            fn len(rx: &ringflow::spsc::Consumer<T, $layout>) -> Option<usize> {
                Some(rx.len())
            }
        }
    };
}

/// ringflow SPSC, `try_send` / `try_recv` + spin on a `BusySpin` channel.
#[derive(Clone, Copy)]
pub struct RingflowTry;

queue!(RingflowTry, ringflow::spsc::Producer<T>, ringflow::spsc::Consumer<T>, |_q, capacity| {
    ringflow_builder(capacity, WaitStrategy::BusySpin, None).spsc()
});
ringflow_try_spsc!(RingflowTry, Packed);

/// [`RingflowTry`] on the stamped layout (`Builder::spsc_stamped`).
#[derive(Clone, Copy)]
pub struct RingflowStampedTry;

queue!(
    RingflowStampedTry,
    ringflow::spsc::Producer<T, Stamped>,
    ringflow::spsc::Consumer<T, Stamped>,
    |_q, capacity| ringflow_builder(capacity, WaitStrategy::BusySpin, None).spsc_stamped()
);
ringflow_try_spsc!(RingflowStampedTry, Stamped);

/// ringflow MPMC, `try_*` + backoff on a `BusySpin` channel.
#[derive(Clone, Copy)]
pub struct RingflowMpmcTry;

queue!(RingflowMpmcTry, ringflow::mpmc::Sender<T>, ringflow::mpmc::Receiver<T>, |_q, capacity| {
    ringflow_builder(capacity, WaitStrategy::BusySpin, None).mpmc()
});

impl Mpmc for RingflowMpmcTry {
    #[inline(always)]
    fn send(tx: &Self::Tx, value: u64, stop: &Stop) -> Result<(), Stopped> {
        let mut b = Snooze::new(stop);
        push_until(value, |v| ringflow_try_send(tx.try_send(v)), || b.snooze())
    }
    #[inline(always)]
    fn recv(rx: &Self::Rx, _: &AtomicUsize, _: usize, stop: &Stop) -> Result<Option<u64>, Stopped> {
        let mut b = Snooze::new(stop);
        loop {
            match rx.try_recv() {
                Ok(v) => return Ok(Some(v)),
                Err(TryRecvError::Disconnected) => return Ok(None),
                Err(TryRecvError::Empty) => b.snooze()?,
            }
        }
    }
    fn len(rx: &Self::Rx) -> Option<usize> {
        Some(rx.len())
    }
}

// ---------------------------------------------------------------------------
// The try-only peers: rtrb and crossbeam `ArrayQueue`.
// ---------------------------------------------------------------------------

/// rtrb, try + spin (SPSC only).
#[derive(Clone, Copy)]
pub struct Rtrb;

queue!(Rtrb, rtrb::Producer<T>, rtrb::Consumer<T>, |_q, capacity| rtrb::RingBuffer::new(capacity));

impl<T: Send + 'static> Spsc<T> for Rtrb {
    #[inline(always)]
    fn send(tx: &mut rtrb::Producer<T>, value: T, stop: &Stop) -> Result<(), Stopped> {
        let mut spin = Spin::new(stop);
        push_until(value, |v| tx.push(v).map_err(|rtrb::PushError::Full(v)| v), || spin.spin())
    }
    #[inline(always)]
    fn recv(rx: &mut rtrb::Consumer<T>, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        pop_until(|| rx.pop().ok(), || spin.spin())
    }
    fn len(rx: &rtrb::Consumer<T>) -> Option<usize> {
        Some(rx.slots())
    }
}

/// Both ends of an `ArrayQueue`: one shared queue.
type SharedArrayQueue<T> = Arc<crossbeam_queue::ArrayQueue<T>>;

fn array_queue<T>(capacity: usize) -> (SharedArrayQueue<T>, SharedArrayQueue<T>) {
    let q = Arc::new(crossbeam_queue::ArrayQueue::new(capacity));
    (q.clone(), q)
}

/// crossbeam `ArrayQueue` (a bounded MPMC queue) for SPSC use, try + spin.
#[derive(Clone, Copy)]
pub struct ArrayQueueSpin;

queue!(ArrayQueueSpin, SharedArrayQueue<T>, SharedArrayQueue<T>, |_q, capacity| array_queue(capacity));

impl<T: Send + 'static> Spsc<T> for ArrayQueueSpin {
    #[inline(always)]
    fn send(tx: &mut SharedArrayQueue<T>, value: T, stop: &Stop) -> Result<(), Stopped> {
        let mut spin = Spin::new(stop);
        push_until(value, |v| tx.push(v), || spin.spin())
    }
    #[inline(always)]
    fn recv(rx: &mut SharedArrayQueue<T>, stop: &Stop) -> Result<T, Stopped> {
        let mut spin = Spin::new(stop);
        pop_until(|| rx.pop(), || spin.spin())
    }
    fn len(rx: &SharedArrayQueue<T>) -> Option<usize> {
        Some(rx.len())
    }
}

/// crossbeam `ArrayQueue` for MPMC use, push / pop + backoff. It has no
/// disconnection, so consumers stop when every producer has finished and a
/// pop still fails.
#[derive(Clone, Copy)]
pub struct ArrayQueueBackoff;

queue!(ArrayQueueBackoff, SharedArrayQueue<T>, SharedArrayQueue<T>, |_q, capacity| array_queue(capacity));

impl Mpmc for ArrayQueueBackoff {
    #[inline(always)]
    fn send(tx: &Self::Tx, value: u64, stop: &Stop) -> Result<(), Stopped> {
        let mut b = Snooze::new(stop);
        push_until(value, |v| tx.push(v), || b.snooze())
    }
    #[inline(always)]
    fn recv(rx: &Self::Rx, done: &AtomicUsize, producers: usize, stop: &Stop) -> Result<Option<u64>, Stopped> {
        let mut b = Snooze::new(stop);
        loop {
            if let Some(v) = rx.pop() {
                return Ok(Some(v));
            }
            if done.load(Ordering::Acquire) == producers {
                // Every push happened before `done` was bumped: one more pop
                // decides.
                return Ok(rx.pop());
            }
            b.snooze()?;
        }
    }
    fn len(rx: &Self::Rx) -> Option<usize> {
        Some(rx.len())
    }
}

// ---------------------------------------------------------------------------
// The blocking peers: one type each, for SPSC and (where the receiver can be
// cloned) MPMC use.
// ---------------------------------------------------------------------------

/// crossbeam-channel, bounded.
#[derive(Clone, Copy)]
pub struct CrossbeamChannel;

queue!(CrossbeamChannel, crossbeam_channel::Sender<T>, crossbeam_channel::Receiver<T>, |_q, capacity| {
    crossbeam_channel::bounded(capacity)
});
blocking_spsc!(CrossbeamChannel, len: |rx| rx.len());
blocking_mpmc!(CrossbeamChannel, len: |rx| rx.len());

/// std `sync_channel` (bounded; its receiver is not `Clone`: SPSC use only).
#[derive(Clone, Copy)]
pub struct StdSync;

queue!(StdSync, mpsc::SyncSender<T>, mpsc::Receiver<T>, |_q, capacity| mpsc::sync_channel(capacity));
blocking_spsc!(StdSync);

/// flume, bounded.
#[derive(Clone, Copy)]
pub struct Flume;

queue!(Flume, flume::Sender<T>, flume::Receiver<T>, |_q, capacity| flume::bounded(capacity));
blocking_spsc!(Flume);
blocking_mpmc!(Flume, len: |rx| rx.len());

/// kanal, bounded.
#[derive(Clone, Copy)]
pub struct Kanal;

queue!(Kanal, kanal::Sender<T>, kanal::Receiver<T>, |_q, capacity| kanal::bounded(capacity));
blocking_spsc!(Kanal, len: |rx| rx.len());
blocking_mpmc!(Kanal, len: |rx| rx.len());

// ---------------------------------------------------------------------------
// The floor.
// ---------------------------------------------------------------------------

/// The floor: a one-word mailbox per direction, a bare cache-padded atomic.
/// `send` stores the value, `recv` spins until the value differs from the
/// last one seen: what two cores cost to hand a word over with no queue at
/// all. Only valid for a ping-pong of distinct, non-zero values (there is
/// no room for a second message in flight), so only the latency bench's
/// round trip uses it.
#[derive(Clone, Copy)]
pub struct Floor;

pub struct FloorRx {
    cell: Arc<CachePadded<AtomicU64>>,
    last: u64,
}

impl Queue<u64> for Floor {
    type Tx = Arc<CachePadded<AtomicU64>>;
    type Rx = FloorRx;
    fn channel(self, _capacity: usize) -> (Self::Tx, Self::Rx) {
        let cell = Arc::new(CachePadded::new(AtomicU64::new(0)));
        (cell.clone(), FloorRx { cell, last: 0 })
    }
}

impl Spsc<u64> for Floor {
    #[inline(always)]
    fn send(tx: &mut Self::Tx, value: u64, _: &Stop) -> Result<(), Stopped> {
        tx.store(value, Ordering::Release);
        Ok(())
    }
    #[inline(always)]
    fn recv(rx: &mut FloorRx, stop: &Stop) -> Result<u64, Stopped> {
        let mut spin = Spin::new(stop);
        let mut pop = || {
            let v = rx.cell.load(Ordering::Acquire);
            (v != rx.last).then(|| {
                rx.last = v;
                v
            })
        };
        pop_until(&mut pop, || spin.spin())
    }
}

// ---------------------------------------------------------------------------
// SPSC batches of 64 u64 through each crate's own batch API.
// ---------------------------------------------------------------------------

/// One batch row: moves `items` between the two cores, returns the time.
pub type BatchRun = fn(u64, (CoreId, CoreId)) -> Duration;

/// Writes sequence numbers `next..` into `slots`; returns how many.
#[inline(always)]
pub fn fill(slots: &mut [MaybeUninit<u64>], next: u64) -> usize {
    for (i, s) in slots.iter_mut().enumerate() {
        s.write(next + i as u64);
    }
    slots.len()
}

/// Checks that `items` are `next, next + 1, ...`; returns how many.
#[inline(always)]
pub fn check(items: &[u64], next: u64) -> u64 {
    for (i, v) in items.iter().enumerate() {
        assert_eq!(*v, next + i as u64, "lost, duplicated or reordered item");
    }
    items.len() as u64
}

/// The two loops every batch row shares: the producer calls
/// `put(next, remaining)` until `items` items have gone (it returns how many
/// it moved, 0 when the queue had no room), the consumer calls `take(next)`
/// until they have all arrived (it checks what it took and returns how
/// many); each spins while its step moves nothing.
fn batch_transfer<Tx: Send + 'static, Rx: Send + 'static>(
    (mut tx, mut rx): (Tx, Rx),
    items: u64,
    cores: (CoreId, CoreId),
    mut put: impl FnMut(&mut Tx, u64, usize) -> usize + Send + 'static,
    mut take: impl FnMut(&mut Rx, u64) -> u64 + Send + 'static,
) -> Duration {
    let producer: Work = worker(move |stop: &Stop| {
        let (mut next, mut spin) = (0u64, Spin::new(stop));
        while next < items {
            match put(&mut tx, next, (items - next) as usize) {
                0 => spin.spin()?,
                n => next += n as u64,
            }
        }
        Ok(())
    });
    let consumer: Work = worker(move |stop: &Stop| {
        let (mut next, mut spin) = (0u64, Spin::new(stop));
        while next < items {
            match take(&mut rx, next) {
                0 => spin.spin()?,
                n => next += n,
            }
        }
        Ok(())
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}

fn busy_spin_spsc() -> (ringflow::spsc::Producer<u64>, ringflow::spsc::Consumer<u64>) {
    ringflow_builder(1024, WaitStrategy::BusySpin, None).spsc()
}

/// ringflow SPSC, `write_chunk_uninit` / `read_chunk` (granting what is
/// there, up to `BATCH`).
pub fn batch_ringflow_chunks(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let put = |tx: &mut ringflow::spsc::Producer<u64>, next, left: usize| {
        let mut chunk = tx.write_chunk_uninit(BATCH.min(left));
        if chunk.is_empty() {
            assert!(!tx.is_disconnected(), "consumer gone");
            return 0;
        }
        let (a, b) = chunk.as_mut_slices();
        let n = fill(a, next);
        let n = n + fill(b, next + n as u64);
        // SAFETY: `fill` initialised every granted slot.
        unsafe { chunk.commit_all() };
        n
    };
    let take = |rx: &mut ringflow::spsc::Consumer<u64>, next| {
        let chunk = rx.read_chunk(BATCH);
        if chunk.is_empty() {
            return 0;
        }
        let (a, b) = chunk.as_slices();
        let n = check(a, next);
        let n = n + check(b, next + n);
        chunk.release(n as usize);
        n
    };
    batch_transfer(busy_spin_spsc(), items, cores, put, take)
}

/// ringflow SPSC, `send_slice` / `recv_into` (copies through a local buffer).
pub fn batch_ringflow_slices(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let mut out = [0u64; BATCH];
    let put = move |tx: &mut ringflow::spsc::Producer<u64>, next, left: usize| {
        let k = BATCH.min(left);
        for (i, slot) in out[..k].iter_mut().enumerate() {
            *slot = next + i as u64;
        }
        let n = tx.send_slice(&out[..k]);
        assert!(n > 0 || !tx.is_disconnected(), "consumer gone");
        n
    };
    let mut buf = [0u64; BATCH];
    let take = move |rx: &mut ringflow::spsc::Consumer<u64>, next| {
        let n = rx.recv_into(&mut buf);
        check(&buf[..n], next)
    };
    batch_transfer(busy_spin_spsc(), items, cores, put, take)
}

/// rtrb, `write_chunk_uninit` / `read_chunk`. rtrb grants exactly `n` slots
/// or fails, so each side asks for what `slots()` says is there.
pub fn batch_rtrb_chunks(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let put = |tx: &mut rtrb::Producer<u64>, next, left: usize| {
        let k = BATCH.min(left).min(tx.slots());
        if k == 0 {
            return 0;
        }
        let mut chunk = tx.write_chunk_uninit(k).expect("k slots are free");
        let (a, b) = chunk.as_mut_slices();
        let n = fill(a, next);
        let n = n + fill(b, next + n as u64);
        // SAFETY: `fill` initialised every granted slot.
        unsafe { chunk.commit_all() };
        n
    };
    let take = |rx: &mut rtrb::Consumer<u64>, next| {
        let k = BATCH.min(rx.slots());
        if k == 0 {
            return 0;
        }
        let chunk = rx.read_chunk(k).expect("k items are queued");
        let (a, b) = chunk.as_slices();
        let n = check(a, next);
        let n = n + check(b, next + n);
        chunk.commit_all();
        n
    };
    batch_transfer(rtrb::RingBuffer::<u64>::new(1024), items, cores, put, take)
}

/// ringflow MPMC, 1P1C, `try_send_many` / `try_recv_many` in runs of 64.
/// The producer refills a `VecDeque` of the next sequence numbers up to
/// `BATCH` and offers it whole; what was not taken stays queued for the next
/// call, so `put` reports the items that left it.
pub fn batch_ringflow_mpmc_many(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (tx, rx) = ringflow_builder(1024, WaitStrategy::BusySpin, None).mpmc::<u64>();
    let mut pending = VecDeque::with_capacity(BATCH);
    let put = move |tx: &mut ringflow::mpmc::Sender<u64>, next, left: usize| {
        // `next` counts items sent; the deque holds the ones offered but not
        // yet taken, so the refill continues after them.
        let mut seq = next + pending.len() as u64;
        while pending.len() < BATCH && seq < next + left as u64 {
            pending.push_back(seq);
            seq += 1;
        }
        let n = tx.try_send_many(&mut pending);
        assert!(n > 0 || !tx.is_disconnected(), "receiver gone");
        n
    };
    let mut buf = Vec::with_capacity(BATCH);
    let take = move |rx: &mut ringflow::mpmc::Receiver<u64>, next| {
        buf.clear();
        // `Err` is `Empty` (or `Disconnected`, after the last item): nothing taken.
        let _ = rx.try_recv_many(&mut buf, BATCH);
        check(&buf, next)
    };
    batch_transfer((tx, rx), items, cores, put, take)
}
