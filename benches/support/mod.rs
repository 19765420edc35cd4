//! What the throughput benches share: core selection, pinned worker
//! threads released together, and one adapter per queue implementation
//! (how to build it, send one item, receive one), for SPSC and MPMC.
//!
//! Used by `throughput.rs` (criterion groups) and `targets.rs` (interleaved
//! rounds against the performance targets); each uses a subset, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use core_affinity::CoreId;
use crossbeam_utils::{Backoff, CachePadded};
use ringflow::{Builder, TryRecvError, TrySendError, WaitStrategy};

/// Batch size of the batch group.
pub const BATCH: usize = 64;

// ---------------------------------------------------------------------------
// Cores and threads.
// ---------------------------------------------------------------------------

/// The two cores, read once, before any thread is pinned (a pinned thread's
/// children inherit its mask; criterion's main thread is never pinned).
pub fn cores() -> (CoreId, CoreId) {
    static CORES: OnceLock<(CoreId, CoreId)> = OnceLock::new();
    *CORES.get_or_init(|| {
        let ids = core_affinity::get_core_ids().unwrap_or_default();
        assert!(!ids.is_empty(), "core_affinity found no usable core");
        let pick = |id: usize| *ids.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("core {id} not available"));
        let chosen = match std::env::var("RINGFLOW_BENCH_CORES") {
            Ok(v) => {
                let v: Vec<usize> = v.split(',').map(|x| x.trim().parse().expect("RINGFLOW_BENCH_CORES=A,B")).collect();
                (pick(v[0]), pick(*v.get(1).unwrap_or(&v[0])))
            }
            Err(_) => (ids[0], *ids.get(1).unwrap_or(&ids[0])),
        };
        eprintln!("bench: cores {} and {} (of {} available)", chosen.0.id, chosen.1.id, ids.len());
        chosen
    })
}

/// Set when a worker panics, so that spinning peers give up instead of
/// waiting forever for it.
#[derive(Clone)]
pub struct Abort(Arc<CachePadded<AtomicBool>>);

impl Abort {
    #[inline(always)]
    pub fn check(&self) {
        if self.0.load(Ordering::Relaxed) {
            panic!("a peer thread panicked");
        }
    }
}

/// Busy-wait step: a spin hint, and a look at the abort flag every 1024 steps.
pub struct Spin<'a> {
    abort: &'a Abort,
    n: u32,
}

impl<'a> Spin<'a> {
    #[inline(always)]
    pub fn new(abort: &'a Abort) -> Self {
        Spin { abort, n: 0 }
    }
    #[inline(always)]
    pub fn spin(&mut self) {
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 {
            self.abort.check();
        }
        std::hint::spin_loop();
    }
}

/// `crossbeam_utils::Backoff` (spin, then yield) with the abort check.
pub struct Snooze<'a> {
    abort: &'a Abort,
    backoff: Backoff,
    n: u32,
}

impl<'a> Snooze<'a> {
    #[inline(always)]
    pub fn new(abort: &'a Abort) -> Self {
        Snooze { abort, backoff: Backoff::new(), n: 0 }
    }
    #[inline(always)]
    pub fn snooze(&mut self) {
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 {
            self.abort.check();
        }
        self.backoff.snooze();
    }
}

/// Offers `value` to `push` until it is taken, calling `wait` after each
/// refusal (`push` hands a refused value back as `Err`).
#[inline(always)]
pub fn push_until<V>(mut value: V, mut push: impl FnMut(V) -> Result<(), V>, mut wait: impl FnMut()) {
    loop {
        match push(value) {
            Ok(()) => return,
            Err(v) => value = v,
        }
        wait();
    }
}

/// Calls `pop` until it yields a value, calling `wait` after each miss.
#[inline(always)]
pub fn pop_until<V>(mut pop: impl FnMut() -> Option<V>, mut wait: impl FnMut()) -> V {
    loop {
        if let Some(v) = pop() {
            return v;
        }
        wait();
    }
}

pub type Work = Box<dyn FnOnce(&Abort) + Send>;

/// Runs each worker on its own thread pinned to its core and returns the
/// time from the first worker starting to the last one finishing. Spawning,
/// pinning and the barrier happen before the clock starts; a spinning
/// rendezvous (with yields, for oversubscribed groups) then releases all
/// workers together. A worker's panic is re-raised.
pub fn run_workers(workers: Vec<(CoreId, Work)>) -> Duration {
    let n = workers.len();
    let barrier = Arc::new(Barrier::new(n));
    let arrived = Arc::new(CachePadded::new(AtomicUsize::new(0)));
    let abort = Abort(Arc::new(CachePadded::new(AtomicBool::new(false))));
    let handles: Vec<_> = workers
        .into_iter()
        .map(|(core, work)| {
            let (barrier, arrived, abort) = (barrier.clone(), arrived.clone(), abort.clone());
            thread::spawn(move || {
                struct OnPanic(Abort);
                impl Drop for OnPanic {
                    fn drop(&mut self) {
                        if thread::panicking() {
                            self.0 .0.store(true, Ordering::Relaxed);
                        }
                    }
                }
                let _guard = OnPanic(abort.clone());
                assert!(core_affinity::set_for_current(core), "could not pin to core {}", core.id);
                barrier.wait();
                arrived.fetch_add(1, Ordering::AcqRel);
                while arrived.load(Ordering::Acquire) < n {
                    thread::yield_now();
                }
                let start = Instant::now();
                work(&abort);
                (start, Instant::now())
            })
        })
        .collect();
    let mut span: Option<(Instant, Instant)> = None;
    let mut panic = None;
    for h in handles {
        match h.join() {
            Ok((s, e)) => span = Some(span.map_or((s, e), |(s0, e0)| (s0.min(s), e0.max(e)))),
            Err(p) => {
                panic.get_or_insert(p);
            }
        }
    }
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    let (s, e) = span.expect("at least one worker");
    e - s
}

// ---------------------------------------------------------------------------
// Payloads.
// ---------------------------------------------------------------------------

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
// SPSC: one implementation = how to build, send one, receive one.
// ---------------------------------------------------------------------------

pub trait Spsc<T: Send + 'static>: Copy + Send + 'static {
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &mut Self::Tx, value: T, abort: &Abort);
    fn recv(rx: &mut Self::Rx, abort: &Abort) -> T;
}

/// ringflow SPSC, blocking `send` / `recv` with the given wait strategy.
#[derive(Clone, Copy)]
pub struct RingflowBlocking(pub WaitStrategy, pub Option<(usize, usize)>);

impl<T: Send + 'static> Spsc<T> for RingflowBlocking {
    type Tx = ringflow::spsc::Producer<T>;
    type Rx = ringflow::spsc::Consumer<T>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        let b = Builder::new(capacity).wait_strategy(self.0);
        match self.1 {
            Some((low, high)) => b.watermarks(low, high).spsc(),
            None => b.spsc(),
        }
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T, _: &Abort) {
        assert!(tx.send(value).is_ok(), "consumer gone");
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, _: &Abort) -> T {
        rx.recv().expect("producer gone")
    }
}

/// ringflow SPSC, `try_send` / `try_recv` + spin on a `BusySpin` channel.
#[derive(Clone, Copy)]
pub struct RingflowTry;

impl<T: Send + 'static> Spsc<T> for RingflowTry {
    type Tx = ringflow::spsc::Producer<T>;
    type Rx = ringflow::spsc::Consumer<T>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        Builder::new(capacity).wait_strategy(WaitStrategy::BusySpin).spsc()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T, abort: &Abort) {
        let mut spin = Spin::new(abort);
        let push = |v| match tx.try_send(v) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(v)) => Err(v),
            Err(TrySendError::Disconnected(_)) => panic!("consumer gone"),
        };
        push_until(value, push, || spin.spin());
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, abort: &Abort) -> T {
        let mut spin = Spin::new(abort);
        let pop = || match rx.try_recv() {
            Ok(v) => Some(v),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => panic!("producer gone"),
        };
        pop_until(pop, || spin.spin())
    }
}

#[derive(Clone, Copy)]
pub struct Rtrb;

impl<T: Send + 'static> Spsc<T> for Rtrb {
    type Tx = rtrb::Producer<T>;
    type Rx = rtrb::Consumer<T>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(capacity)
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T, abort: &Abort) {
        let mut spin = Spin::new(abort);
        push_until(value, |v| tx.push(v).map_err(|rtrb::PushError::Full(v)| v), || spin.spin());
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, abort: &Abort) -> T {
        let mut spin = Spin::new(abort);
        pop_until(|| rx.pop().ok(), || spin.spin())
    }
}

#[derive(Clone, Copy)]
pub struct ArrayQueueSpin;

impl<T: Send + 'static> Spsc<T> for ArrayQueueSpin {
    type Tx = Arc<crossbeam_queue::ArrayQueue<T>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<T>>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(capacity));
        (q.clone(), q)
    }
    #[inline]
    fn send(tx: &mut Self::Tx, value: T, abort: &Abort) {
        let mut spin = Spin::new(abort);
        push_until(value, |v| tx.push(v), || spin.spin());
    }
    #[inline]
    fn recv(rx: &mut Self::Rx, abort: &Abort) -> T {
        let mut spin = Spin::new(abort);
        pop_until(|| rx.pop(), || spin.spin())
    }
}

macro_rules! blocking_spsc {
    ($ty:ident, $tx:ty, $rx:ty, $make:expr) => {
        #[derive(Clone, Copy)]
        pub struct $ty;
        impl<T: Send + 'static> Spsc<T> for $ty {
            type Tx = $tx;
            type Rx = $rx;
            fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
                $make(capacity)
            }
            #[inline]
            fn send(tx: &mut Self::Tx, value: T, _: &Abort) {
                assert!(tx.send(value).is_ok(), "receiver gone");
            }
            #[inline]
            fn recv(rx: &mut Self::Rx, _: &Abort) -> T {
                rx.recv().ok().expect("sender gone")
            }
        }
    };
}

blocking_spsc!(
    CrossbeamChannel,
    crossbeam_channel::Sender<T>,
    crossbeam_channel::Receiver<T>,
    crossbeam_channel::bounded
);
blocking_spsc!(Flume, flume::Sender<T>, flume::Receiver<T>, flume::bounded);
blocking_spsc!(Kanal, kanal::Sender<T>, kanal::Receiver<T>, kanal::bounded);

/// Moves `items` payloads from a producer on `cores.0` to a consumer on
/// `cores.1`, checking every sequence number; returns the transfer time.
pub fn spsc_transfer<P: Payload, Q: Spsc<P>>(q: Q, capacity: usize, items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (mut tx, mut rx) = q.channel(capacity);
    let producer: Work = Box::new(move |abort: &Abort| {
        for i in 0..items {
            Q::send(&mut tx, P::make(i), abort);
        }
    });
    let consumer: Work = Box::new(move |abort: &Abort| {
        for i in 0..items {
            let v = std::hint::black_box(Q::recv(&mut rx, abort));
            assert_eq!(v.seq(), i, "lost, duplicated or reordered item");
        }
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}

// ---------------------------------------------------------------------------
// MPMC: P producers, C consumers, items tagged with their producer.
// ---------------------------------------------------------------------------

/// An MPMC implementation. `recv` returns `None` once every producer is done
/// and the queue is empty.
pub trait Mpmc: Copy + Send + 'static {
    type Tx: Clone + Send + 'static;
    type Rx: Clone + Send + 'static;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, value: u64, abort: &Abort);
    fn recv(rx: &Self::Rx, producers_done: &AtomicUsize, producers: usize, abort: &Abort) -> Option<u64>;
}

/// ringflow MPMC, blocking calls with the given wait strategy and, if
/// `Some((low, high))`, watermarks.
#[derive(Clone, Copy)]
pub struct RingflowMpmc(pub WaitStrategy, pub Option<(usize, usize)>);

impl Mpmc for RingflowMpmc {
    type Tx = ringflow::mpmc::Sender<u64>;
    type Rx = ringflow::mpmc::Receiver<u64>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        let b = Builder::new(capacity).wait_strategy(self.0);
        match self.1 {
            Some((low, high)) => b.watermarks(low, high).mpmc(),
            None => b.mpmc(),
        }
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64, _: &Abort) {
        assert!(tx.send(value).is_ok(), "receivers gone");
    }
    #[inline]
    fn recv(rx: &Self::Rx, _: &AtomicUsize, _: usize, _: &Abort) -> Option<u64> {
        rx.recv().ok()
    }
}

/// ringflow MPMC, `try_*` + backoff on a `BusySpin` channel.
#[derive(Clone, Copy)]
pub struct RingflowMpmcTry;

impl Mpmc for RingflowMpmcTry {
    type Tx = ringflow::mpmc::Sender<u64>;
    type Rx = ringflow::mpmc::Receiver<u64>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        Builder::new(capacity).wait_strategy(WaitStrategy::BusySpin).mpmc()
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64, abort: &Abort) {
        let mut b = Snooze::new(abort);
        let push = |v| match tx.try_send(v) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(v)) => Err(v),
            Err(TrySendError::Disconnected(_)) => panic!("receivers gone"),
        };
        push_until(value, push, || b.snooze());
    }
    #[inline]
    fn recv(rx: &Self::Rx, _: &AtomicUsize, _: usize, abort: &Abort) -> Option<u64> {
        let mut b = Snooze::new(abort);
        loop {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => b.snooze(),
            }
        }
    }
}

/// crossbeam `ArrayQueue`, push / pop + backoff. It has no disconnection, so
/// consumers stop when every producer has finished and a pop still fails.
#[derive(Clone, Copy)]
pub struct ArrayQueueBackoff;

impl Mpmc for ArrayQueueBackoff {
    type Tx = Arc<crossbeam_queue::ArrayQueue<u64>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<u64>>;
    fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(capacity));
        (q.clone(), q)
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64, abort: &Abort) {
        let mut b = Snooze::new(abort);
        push_until(value, |v| tx.push(v), || b.snooze());
    }
    #[inline]
    fn recv(rx: &Self::Rx, done: &AtomicUsize, producers: usize, abort: &Abort) -> Option<u64> {
        let mut b = Snooze::new(abort);
        loop {
            if let Some(v) = rx.pop() {
                return Some(v);
            }
            if done.load(Ordering::Acquire) == producers {
                // Every push happened before `done` was bumped: one more pop
                // decides.
                return rx.pop();
            }
            b.snooze();
        }
    }
}

macro_rules! blocking_mpmc {
    ($ty:ident, $tx:ty, $rx:ty, $make:expr) => {
        #[derive(Clone, Copy)]
        pub struct $ty;
        impl Mpmc for $ty {
            type Tx = $tx;
            type Rx = $rx;
            fn channel(self, capacity: usize) -> (Self::Tx, Self::Rx) {
                $make(capacity)
            }
            #[inline]
            fn send(tx: &Self::Tx, value: u64, _: &Abort) {
                assert!(tx.send(value).is_ok(), "receivers gone");
            }
            #[inline]
            fn recv(rx: &Self::Rx, _: &AtomicUsize, _: usize, _: &Abort) -> Option<u64> {
                rx.recv().ok()
            }
        }
    };
}

blocking_mpmc!(
    CrossbeamChannelMpmc,
    crossbeam_channel::Sender<u64>,
    crossbeam_channel::Receiver<u64>,
    crossbeam_channel::bounded
);
blocking_mpmc!(FlumeMpmc, flume::Sender<u64>, flume::Receiver<u64>, flume::bounded);
blocking_mpmc!(KanalMpmc, kanal::Sender<u64>, kanal::Receiver<u64>, kanal::bounded);

/// Producer `p` sends `(p << 40) | seq` for its share of `items`; consumers
/// check per-producer order and count. Producers alternate between the two
/// cores, consumers take the other one.
pub fn mpmc_transfer<Q: Mpmc>(
    q: Q,
    producers: usize,
    consumers: usize,
    items: u64,
    cores: (CoreId, CoreId),
) -> Duration {
    let (tx, rx) = q.channel(1024);
    let done = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let core = |i: usize| if i % 2 == 0 { cores.0 } else { cores.1 };
    let mut workers: Vec<(CoreId, Work)> = Vec::new();
    for p in 0..producers {
        let share = items / producers as u64 + u64::from((p as u64) < items % producers as u64);
        let (tx, done) = (tx.clone(), done.clone());
        workers.push((
            core(p),
            Box::new(move |abort: &Abort| {
                for seq in 0..share {
                    Q::send(&tx, (p as u64) << 40 | seq, abort);
                }
                drop(tx); // disconnects the channel once every producer is done
                done.fetch_add(1, Ordering::AcqRel);
            }),
        ));
    }
    for c in 0..consumers {
        let (rx, done, received) = (rx.clone(), done.clone(), received.clone());
        workers.push((
            core(c + 1),
            Box::new(move |abort: &Abort| {
                let mut next = vec![0u64; producers];
                let mut count = 0u64;
                while let Some(v) = Q::recv(&rx, &done, producers, abort) {
                    let (p, seq) = ((v >> 40) as usize, v & ((1 << 40) - 1));
                    assert!(seq >= next[p], "producer {p}: item {seq} after {}", next[p]);
                    next[p] = seq + 1;
                    count += 1;
                }
                received.fetch_add(count, Ordering::Relaxed);
            }),
        ));
    }
    drop((tx, rx));
    let elapsed = run_workers(workers);
    assert_eq!(received.load(Ordering::Relaxed), items, "every item received exactly once");
    elapsed
}

// ---------------------------------------------------------------------------
// SPSC batches of 64 u64 through the chunk APIs.
// ---------------------------------------------------------------------------

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

/// One batch-group row: moves `items` between the two cores, returns the time.
pub type BatchRun = fn(u64, (CoreId, CoreId)) -> Duration;

pub fn batch_ringflow_chunks(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (mut tx, mut rx) = Builder::new(1024).wait_strategy(WaitStrategy::BusySpin).spsc::<u64>();
    let producer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        while next < items {
            let mut chunk = tx.write_chunk_uninit(BATCH.min((items - next) as usize));
            if chunk.is_empty() {
                assert!(!tx.is_disconnected(), "consumer gone");
                spin.spin();
                continue;
            }
            let (a, b) = chunk.as_mut_slices();
            let n = fill(a, next);
            let n = n + fill(b, next + n as u64);
            // SAFETY: `fill` initialised every granted slot.
            unsafe { chunk.commit_all() };
            next += n as u64;
        }
    });
    let consumer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        while next < items {
            let chunk = rx.read_chunk(BATCH);
            if chunk.is_empty() {
                spin.spin();
                continue;
            }
            let (a, b) = chunk.as_slices();
            let n = check(a, next);
            let n = n + check(b, next + n);
            chunk.release(n as usize);
            next += n;
        }
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}

pub fn batch_ringflow_slices(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (mut tx, mut rx) = Builder::new(1024).wait_strategy(WaitStrategy::BusySpin).spsc::<u64>();
    let producer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        let mut buf = [0u64; BATCH];
        while next < items {
            let k = BATCH.min((items - next) as usize);
            for (i, slot) in buf[..k].iter_mut().enumerate() {
                *slot = next + i as u64;
            }
            let n = tx.send_slice(&buf[..k]);
            if n == 0 {
                assert!(!tx.is_disconnected(), "consumer gone");
                spin.spin();
            }
            next += n as u64;
        }
    });
    let consumer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        let mut buf = [0u64; BATCH];
        while next < items {
            let n = rx.recv_into(&mut buf);
            if n == 0 {
                spin.spin();
            }
            next += check(&buf[..n], next);
        }
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}

pub fn batch_rtrb_chunks(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(1024);
    let producer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        while next < items {
            // rtrb grants exactly `n` or fails: ask for what is free.
            let k = BATCH.min((items - next) as usize).min(tx.slots());
            if k == 0 {
                spin.spin();
                continue;
            }
            let mut chunk = tx.write_chunk_uninit(k).expect("k slots are free");
            let (a, b) = chunk.as_mut_slices();
            let n = fill(a, next);
            let n = n + fill(b, next + n as u64);
            // SAFETY: `fill` initialised every granted slot.
            unsafe { chunk.commit_all() };
            next += n as u64;
        }
    });
    let consumer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        while next < items {
            let k = BATCH.min(rx.slots());
            if k == 0 {
                spin.spin();
                continue;
            }
            let chunk = rx.read_chunk(k).expect("k items are queued");
            let (a, b) = chunk.as_slices();
            let n = check(a, next);
            let n = n + check(b, next + n);
            chunk.commit_all();
            next += n;
        }
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}

/// ringflow MPMC, 1P1C, `try_send_many` / `try_recv_many` in runs of 64.
pub fn batch_ringflow_mpmc_many(items: u64, cores: (CoreId, CoreId)) -> Duration {
    let (tx, rx) = Builder::new(1024).wait_strategy(WaitStrategy::BusySpin).mpmc::<u64>();
    let producer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        let mut buf = std::collections::VecDeque::with_capacity(BATCH);
        while next < items || !buf.is_empty() {
            while buf.len() < BATCH && next < items {
                buf.push_back(next);
                next += 1;
            }
            if tx.try_send_many(&mut buf) == 0 {
                assert!(!tx.is_disconnected(), "receiver gone");
                spin.spin();
            }
        }
    });
    let consumer: Work = Box::new(move |abort: &Abort| {
        let (mut next, mut spin) = (0u64, Spin::new(abort));
        let mut buf = Vec::with_capacity(BATCH);
        while next < items {
            buf.clear();
            if rx.try_recv_many(&mut buf, BATCH).is_err() {
                spin.spin();
            }
            next += check(&buf, next);
        }
    });
    run_workers(vec![(cores.0, producer), (cores.1, consumer)])
}
