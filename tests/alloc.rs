//! The hot paths of flat rings do not allocate: the README's "Wait
//! strategies" (`BusySpin` is real-time safe; no `try_*` call enters the
//! kernel except through the allocator of a ring whose storage grows) and
//! "Capacity is a bound" (only rings whose items take more than 256 KiB keep
//! them in segments or pages that come and go) say that once a small ring is
//! built, moving items through it touches the heap no more. Each test builds
//! its channels, warms them up with the very calls it then counts, and
//! counts every allocator call the test's own thread makes over several laps
//! of the ring: each must be zero, for every wait strategy.
//!
//! The counting allocator below wraps `System` and counts per thread, and
//! only while the thread has armed it ([`heap_calls_in`]), so the test
//! harness, other tests running in parallel and the set-up of each test do
//! not show. Its thread-locals have `const` initialisers and no destructor,
//! so reaching them from inside the allocator never allocates itself. With
//! `RINGFLOW_ALLOC_BACKTRACE=1` in the environment every counted allocator
//! call also prints a backtrace to stderr (run with `--nocapture`), which
//! shows where a regression allocates.
//!
//! The last test records what a `Park` channel allocates when a thread
//! really parks and when a task registers its waker; the README promises
//! nothing there, so it prints the figures and asserts nothing about them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures::task::noop_waker_ref;
use ringflow::broadcast::{self, TryRecvError as BroadcastTryRecvError};
use ringflow::{mpmc, spsc, Builder, TryRecvError, TrySendError, WaitStrategy};

const STRATEGIES: [WaitStrategy; 3] = [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park];

/// Capacity of the item-by-item tests: small, so that the counted laps wrap
/// the ring many times.
const SMALL: usize = 64;

/// Capacity of the batch tests.
const BATCH: usize = 1024;

/// Laps of the ring inside each counted region.
const LAPS: usize = 8;

// ---------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------

/// `System`, counting the calls the current thread makes while armed.
struct Counting;

thread_local! {
    /// Whether this thread's allocator calls are counted now.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// `alloc`, `alloc_zeroed` and `realloc` calls counted on this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// `dealloc` calls counted on this thread.
    static DEALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Whether a counted call prints a backtrace (`RINGFLOW_ALLOC_BACKTRACE`).
    static TRACE: Cell<bool> = const { Cell::new(false) };
}

/// Counts one call in `counter` if this thread is armed. `try_with`: the
/// allocator also runs while thread-locals are being torn down.
fn note(counter: &'static std::thread::LocalKey<Cell<u64>>, what: &str, size: usize) {
    if !ARMED.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let _ = counter.try_with(|c| c.set(c.get() + 1));
    if TRACE.try_with(Cell::get).unwrap_or(false) {
        // Disarmed while the backtrace is taken and printed (both allocate).
        let _ = ARMED.try_with(|a| a.set(false));
        eprintln!("counted {what} of {size} bytes at:\n{}", std::backtrace::Backtrace::force_capture());
        let _ = ARMED.try_with(|a| a.set(true));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping
// touches only `const`-initialised thread-locals without destructors, which
// never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCATIONS, "alloc", layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCATIONS, "alloc_zeroed", layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCATIONS, "realloc", new_size);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&DEALLOCATIONS, "dealloc", layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocator calls the current thread made while running `f`: allocations
/// (`alloc`, `alloc_zeroed`, `realloc`) and deallocations. Disarms on unwind
/// too, so that a failing assertion inside `f` reports normally.
fn heap_calls_in(f: impl FnOnce()) -> (u64, u64) {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            ARMED.with(|a| a.set(false));
        }
    }
    static TRACE_ON: OnceLock<bool> = OnceLock::new();
    let trace = *TRACE_ON.get_or_init(|| std::env::var_os("RINGFLOW_ALLOC_BACKTRACE").is_some_and(|v| v != "0"));
    TRACE.with(|t| t.set(trace));
    let before = (ALLOCATIONS.with(Cell::get), DEALLOCATIONS.with(Cell::get));
    {
        let _disarm = Disarm;
        ARMED.with(|a| a.set(true));
        f();
    }
    (ALLOCATIONS.with(Cell::get) - before.0, DEALLOCATIONS.with(Cell::get) - before.1)
}

/// Allocations (`alloc`, `alloc_zeroed`, `realloc`) the current thread made
/// while running `f`.
fn allocations_in(f: impl FnOnce()) -> u64 {
    heap_calls_in(f).0
}

/// Runs `f` counted and asserts that it neither allocated nor freed.
#[track_caller]
fn assert_no_heap(what: &str, strategy: WaitStrategy, f: impl FnOnce()) {
    let (allocs, frees) = heap_calls_in(f);
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "{what} on a {strategy:?} channel: {allocs} allocations and {frees} deallocations \
         (RINGFLOW_ALLOC_BACKTRACE=1 and --nocapture show where)"
    );
}

/// Polls `f` once with a waker that does nothing; it must be ready.
fn ready<F: Future + Unpin>(mut f: F) -> F::Output {
    match Pin::new(&mut f).poll(&mut Context::from_waker(noop_waker_ref())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future was not ready on its first poll"),
    }
}

/// Polls `f` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(noop_waker_ref()))
}

// ---------------------------------------------------------------------------
// The counter itself
// ---------------------------------------------------------------------------

/// The counter sees an allocation made in the counted closure, and only
/// those of the counting thread: otherwise every zero below proves nothing.
#[test]
fn the_counter_sees_allocations_of_its_own_thread_only() {
    assert_eq!(allocations_in(|| drop(std::hint::black_box(Vec::<u64>::with_capacity(1)))), 1);
    assert_eq!(heap_calls_in(|| drop(std::hint::black_box(Box::new(1u64)))), (1, 1));
    let mut v = Vec::<u64>::with_capacity(1);
    assert_eq!(allocations_in(|| v.extend([1, 2, 3])), 1); // a realloc
    assert_eq!(heap_calls_in(|| {}), (0, 0));
    let other = thread::spawn(|| thread::sleep(Duration::from_millis(20)));
    // What the other thread allocates while this one is armed is not counted.
    assert_eq!(allocations_in(|| thread::sleep(Duration::from_millis(50))), 0);
    other.join().unwrap();
}

// ---------------------------------------------------------------------------
// SPSC
// ---------------------------------------------------------------------------

/// Fills an empty ring with `try_send` from `base` on, then sees `Full`:
/// the same calls on the SPSC handles (`&mut`) and the MPMC ones (`&`).
macro_rules! fill_to_full {
    ($tx:expr, $base:expr) => {
        for i in 0..SMALL as u64 {
            assert_eq!($tx.try_send($base + i), Ok(()));
        }
        assert_eq!($tx.try_send(0), Err(TrySendError::Full(0)));
        assert!($tx.is_full());
    };
}

/// The timed forms, `try_iter`, `iter` and `wait_until_clear`: the same
/// calls on the SPSC handles (`&mut`) and the MPMC ones (`&`).
macro_rules! timed_forms_and_iterators {
    ($tx:expr, $rx:expr, $far:expr) => {
        for i in 0..SMALL as u64 / 2 {
            assert_eq!($tx.send_timeout(i, Duration::from_secs(3600)), Ok(()));
            assert_eq!($tx.send_deadline(i, $far), Ok(()));
        }
        for i in 0..SMALL as u64 / 2 {
            assert_eq!($rx.recv_timeout(Duration::from_secs(3600)), Ok(i));
            assert_eq!($rx.recv_deadline($far), Ok(i));
        }
        for i in 0..SMALL as u64 {
            $tx.send(i).unwrap();
        }
        assert_eq!($rx.try_iter().count(), SMALL);
        for i in 0..SMALL as u64 {
            $tx.send(i).unwrap();
        }
        assert_eq!($rx.iter().take(SMALL).sum::<u64>(), (0..SMALL as u64).sum());
        let _ = $tx.wait_until_clear(None);
    };
}

/// Every item-by-item call of the SPSC ring, each over several laps, with
/// the `Full` and `Empty` outcomes of the `try_*` calls and the congestion
/// queries of a channel with watermarks.
fn spsc_item_calls(tx: &mut spsc::Producer<u64>, rx: &mut spsc::Consumer<u64>, laps: usize) {
    let far = Instant::now() + Duration::from_secs(3600);
    for lap in 0..laps {
        let base = (lap * SMALL) as u64;
        fill_to_full!(tx, base);
        let _ = (tx.congestion(), rx.congestion(), tx.stats(), tx.len());
        for i in 0..SMALL as u64 {
            assert_eq!(rx.peek(), Some(&(base + i)));
            assert_eq!(rx.try_recv(), Ok(base + i));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.peek(), None);
        for i in 0..SMALL as u64 {
            assert_eq!(tx.send(i), Ok(()));
            assert_eq!(rx.recv(), Ok(i));
        }
        timed_forms_and_iterators!(tx, rx, far);
    }
}

/// Every wait strategy, each without and with watermarks, for the item
/// tests.
fn item_builders() -> impl Iterator<Item = (WaitStrategy, Builder)> {
    STRATEGIES.into_iter().flat_map(|strategy| {
        [false, true].map(move |watermarks| {
            let b = Builder::new(SMALL).wait_strategy(strategy);
            (strategy, if watermarks { b.watermarks(SMALL / 4, SMALL / 2) } else { b })
        })
    })
}

/// SPSC `try_send`, `try_recv`, `send`, `recv`, `peek`, the timed forms,
/// `try_iter`, `iter`, `wait_until_clear` and the queries neither allocate
/// nor free once the channel is built, on every wait strategy, with and
/// without watermarks: the README calls `BusySpin` real-time safe and says a
/// flat ring's `try_*` calls never reach the allocator.
#[test]
fn spsc_item_calls_do_not_allocate() {
    for (strategy, b) in item_builders() {
        let (mut tx, mut rx) = b.spsc::<u64>();
        spsc_item_calls(&mut tx, &mut rx, 2);
        assert_no_heap("SPSC item calls", strategy, || spsc_item_calls(&mut tx, &mut rx, LAPS));
    }
}

/// Every SPSC batch call, each over several laps: `send_slice` /
/// `recv_into`, `send_iter`, `write_chunk_uninit` with `commit` /
/// `commit_all` / `fill_from_iter`, `read_chunk` with `as_slices` /
/// `release` / its iterator. Batches of 100 do not divide the capacity, so
/// chunks wrap across the end of the buffer (two slices).
fn spsc_batch_calls(tx: &mut spsc::Producer<u64>, rx: &mut spsc::Consumer<u64>, laps: usize) {
    const N: usize = 100;
    let items: [u64; N] = std::array::from_fn(|i| i as u64);
    let mut out = [0u64; N];
    for _ in 0..laps * BATCH / N {
        assert_eq!(tx.send_slice(&items), N);
        assert_eq!(rx.recv_into(&mut out), N);
        assert_eq!(out, items);

        let mut source = 0..N as u64;
        assert_eq!(tx.send_iter(&mut source), N);
        let chunk = rx.read_chunk(N);
        let (a, b) = chunk.as_slices();
        assert_eq!(a.len() + b.len(), N);
        chunk.release(N);

        let mut chunk = tx.write_chunk_uninit(N);
        assert_eq!(chunk.len(), N);
        let (a, b) = chunk.as_mut_slices();
        for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
            *slot = MaybeUninit::new(i as u64);
        }
        // SAFETY: the loop above initialised all `N` granted slots.
        unsafe { chunk.commit_all() };
        assert_eq!(rx.read_chunk(N).into_iter().sum::<u64>(), items.iter().sum());

        let mut chunk = tx.write_chunk_uninit(N);
        let (a, b) = chunk.as_mut_slices();
        for slot in a.iter_mut().chain(b.iter_mut()).take(N / 2) {
            *slot = MaybeUninit::new(7);
        }
        // SAFETY: the first `N / 2` granted slots were initialised above.
        unsafe { chunk.commit(N / 2) };
        assert_eq!(tx.write_chunk_uninit(N / 2).fill_from_iter(&mut (0..N as u64 / 2)), N / 2);
        assert_eq!(rx.read_chunk(N).into_iter().count(), N);
    }
    // Full and empty: the batch calls say so without allocating either.
    let mut big = 0..u64::MAX;
    assert_eq!(tx.send_iter(&mut big), BATCH);
    assert_eq!(tx.send_slice(&items), 0);
    assert!(tx.write_chunk_uninit(N).is_empty());
    rx.read_chunk(BATCH).release(BATCH);
    assert_eq!(rx.recv_into(&mut out), 0);
    assert!(rx.read_chunk(N).is_empty());
}

/// The SPSC batch calls neither allocate nor free on a flat ring, on every
/// wait strategy (the batch API is the throughput path the README measures
/// against rtrb's chunks).
#[test]
fn spsc_batch_calls_do_not_allocate() {
    for strategy in STRATEGIES {
        let (mut tx, mut rx) = Builder::new(BATCH).wait_strategy(strategy).spsc::<u64>();
        spsc_batch_calls(&mut tx, &mut rx, 1);
        assert_no_heap("SPSC batch calls", strategy, || spsc_batch_calls(&mut tx, &mut rx, LAPS));
    }
}

/// The body of the SPSC and MPMC tests of futures ready on their first
/// poll: `send_async` / `recv_async` over several laps, on every strategy.
macro_rules! ready_futures_do_not_allocate {
    ($ring:ident, $what:literal) => {
        for strategy in STRATEGIES {
            #[allow(unused_mut)] // the MPMC handles need no `mut`
            let (mut tx, mut rx) = Builder::new(SMALL).wait_strategy(strategy).$ring::<u64>();
            #[allow(unused_mut)] // an `FnMut` on SPSC handles, an `Fn` on MPMC ones
            let mut run = |laps: usize| {
                for lap in 0..laps {
                    for i in 0..SMALL as u64 {
                        assert_eq!(ready(tx.send_async(lap as u64 + i)), Ok(()));
                    }
                    for i in 0..SMALL as u64 {
                        assert_eq!(ready(rx.recv_async()), Ok(lap as u64 + i));
                    }
                    for i in 0..SMALL as u64 {
                        assert_eq!(ready(tx.send_async(i)), Ok(()));
                        assert_eq!(ready(rx.recv_async()), Ok(i));
                    }
                }
            };
            run(2);
            assert_no_heap($what, strategy, || run(LAPS));
        }
    };
}

/// SPSC `send_async` / `recv_async` futures that complete on their first
/// poll (room, an item) neither allocate nor free: such a future never
/// registers a waker, so it costs what `try_send` / `try_recv` cost.
#[test]
fn spsc_async_ready_futures_do_not_allocate() {
    ready_futures_do_not_allocate!(spsc, "SPSC send_async / recv_async ready at once");
}

// ---------------------------------------------------------------------------
// MPMC
// ---------------------------------------------------------------------------

/// Every item-by-item call of the MPMC ring, each over several laps, with
/// `force_send` into a full ring (evicting) and into one with room, the
/// `Full` and `Empty` outcomes and the congestion queries.
fn mpmc_item_calls(tx: &mpmc::Sender<u64>, rx: &mpmc::Receiver<u64>, laps: usize) {
    let far = Instant::now() + Duration::from_secs(3600);
    for lap in 0..laps {
        let base = (lap * SMALL) as u64;
        fill_to_full!(tx, base);
        let _ = (tx.congestion(), rx.congestion(), rx.stats(), rx.len());
        assert_eq!(tx.force_send(1), Ok(Some(base)));
        assert_eq!(rx.try_recv(), Ok(base + 1));
        for i in 2..SMALL as u64 {
            assert_eq!(rx.try_recv(), Ok(base + i));
        }
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        for i in 0..SMALL as u64 {
            assert_eq!(tx.force_send(i), Ok(None));
            assert_eq!(rx.recv(), Ok(i));
            assert_eq!(tx.send(i), Ok(()));
            assert_eq!(rx.recv(), Ok(i));
        }
        timed_forms_and_iterators!(tx, rx, far);
    }
}

/// MPMC `try_send`, `try_recv`, `send`, `recv`, `force_send`, the timed
/// forms, `try_iter`, `iter`, `wait_until_clear` and the queries neither
/// allocate nor free once the channel is built, on every wait strategy, with
/// and without watermarks, also through a second pair of cloned handles.
#[test]
fn mpmc_item_calls_do_not_allocate() {
    for (strategy, b) in item_builders() {
        let (tx, rx) = b.mpmc::<u64>();
        let (tx2, rx2) = (tx.clone(), rx.clone());
        mpmc_item_calls(&tx, &rx, 2);
        mpmc_item_calls(&tx2, &rx2, 2);
        assert_no_heap("MPMC item calls", strategy, || {
            mpmc_item_calls(&tx, &rx, LAPS);
            mpmc_item_calls(&tx2, &rx2, LAPS);
        });
    }
}

/// `try_send_many` from a `VecDeque` and `try_recv_many` into a `Vec`, both
/// refilled in place (their capacity reserved before the count starts), over
/// several laps, with the `Full` and `Empty` outcomes.
fn mpmc_batch_calls(
    tx: &mpmc::Sender<u64>,
    rx: &mpmc::Receiver<u64>,
    batch: &mut VecDeque<u64>,
    out: &mut Vec<u64>,
    laps: usize,
) {
    const N: usize = 100;
    for _ in 0..laps * BATCH / N {
        batch.extend(0..N as u64);
        assert_eq!(tx.try_send_many(batch), N);
        assert!(batch.is_empty());
        out.clear();
        assert_eq!(rx.try_recv_many(out, N), Ok(N));
        assert_eq!(out.iter().sum::<u64>(), (0..N as u64).sum());
    }
    batch.extend(0..N as u64);
    while tx.try_send_many(batch) > 0 {
        batch.extend(0..(N - batch.len()) as u64);
    }
    batch.clear();
    loop {
        out.clear();
        match rx.try_recv_many(out, N) {
            Ok(_) => {}
            Err(e) => break assert_eq!(e, TryRecvError::Empty),
        }
    }
}

/// MPMC `try_send_many` / `try_recv_many` neither allocate nor free on a
/// flat ring, on every wait strategy, when the caller's collections have
/// room (`try_recv_many` grows `out` only by what the ring holds).
#[test]
fn mpmc_batch_calls_do_not_allocate() {
    for strategy in STRATEGIES {
        let (tx, rx) = Builder::new(BATCH).wait_strategy(strategy).mpmc::<u64>();
        let mut batch = VecDeque::with_capacity(2 * BATCH);
        let mut out = Vec::with_capacity(2 * BATCH);
        mpmc_batch_calls(&tx, &rx, &mut batch, &mut out, 1);
        assert_no_heap("MPMC batch calls", strategy, || mpmc_batch_calls(&tx, &rx, &mut batch, &mut out, LAPS));
    }
}

/// MPMC `send_async` / `recv_async` futures that complete on their first
/// poll neither allocate nor free.
#[test]
fn mpmc_async_ready_futures_do_not_allocate() {
    ready_futures_do_not_allocate!(mpmc, "MPMC send_async / recv_async ready at once");
}

// ---------------------------------------------------------------------------
// Broadcast
// ---------------------------------------------------------------------------

/// Every send and receive call of a broadcast ring with two receivers, over
/// several laps: on Block rings `try_send` into a full ring; on Lossy rings
/// sends past a slow receiver and its `Lagged` report.
fn broadcast_calls(
    tx: &mut broadcast::Sender<u64>,
    rx: &mut broadcast::Receiver<u64>,
    rx2: &mut broadcast::Receiver<u64>,
    lossy: bool,
    laps: usize,
) {
    let far = Instant::now() + Duration::from_secs(3600);
    for lap in 0..laps {
        let base = (lap * SMALL) as u64;
        for i in 0..SMALL as u64 {
            assert_eq!(tx.try_send(base + i), Ok(()));
        }
        if !lossy {
            assert_eq!(tx.try_send(0), Err(TrySendError::Full(0)));
        }
        let _ = (tx.slowest_lag(), tx.len(), tx.stats(), rx.len(), rx.stats());
        for i in 0..SMALL as u64 {
            assert_eq!(rx.try_recv(), Ok(base + i));
            assert_eq!(rx2.recv(), Ok(base + i));
        }
        assert_eq!(rx.try_recv(), Err(BroadcastTryRecvError::Empty));
        for i in 0..SMALL as u64 {
            assert_eq!(tx.send(i), Ok(()));
            assert_eq!(tx.send_timeout(i, Duration::from_secs(3600)), Ok(()));
            assert_eq!(rx.recv_timeout(Duration::from_secs(3600)), Ok(i));
            assert_eq!(rx.recv_deadline(far), Ok(i));
            assert_eq!(rx2.try_recv(), Ok(i));
            assert_eq!(rx2.recv(), Ok(i));
        }
        if lossy {
            // `rx2` falls behind by a lap and a half and is told so.
            for i in 0..(SMALL + SMALL / 2) as u64 {
                assert_eq!(tx.send(i), Ok(()));
                assert_eq!(rx.recv(), Ok(i));
            }
            assert_eq!(rx2.try_recv(), Err(BroadcastTryRecvError::Lagged(SMALL as u64 / 2)));
            while rx2.try_recv().is_ok() {}
        }
    }
}

/// Broadcast `try_send`, `send`, `try_recv`, `recv` and the timed forms
/// neither allocate nor free once the channel and its receivers are built,
/// Block and Lossy, on every wait strategy (one thread sends and receives).
#[test]
fn broadcast_calls_do_not_allocate() {
    for strategy in STRATEGIES {
        for lossy in [false, true] {
            let b = Builder::new(SMALL).wait_strategy(strategy);
            let (mut tx, mut rx) = if lossy { b.broadcast_lossy::<u64>() } else { b.broadcast::<u64>() };
            let mut rx2 = rx.clone();
            broadcast_calls(&mut tx, &mut rx, &mut rx2, lossy, 2);
            assert_no_heap(if lossy { "Lossy broadcast calls" } else { "Block broadcast calls" }, strategy, || {
                broadcast_calls(&mut tx, &mut rx, &mut rx2, lossy, LAPS)
            });
        }
    }
}

/// After a receiver joins or leaves, the sender's next look at the
/// receivers (a rescan when its cached bound says full, an eviction, a
/// `Park` notification) takes the list the receiver published: the sends
/// neither allocate nor free, Block and Lossy, on every wait strategy.
/// (They used to copy the list: one allocation and one free on the
/// sender's thread, also on `BusySpin`.) The joining and leaving are not
/// counted: they happen on the receivers' side.
#[test]
fn broadcast_sends_after_a_receiver_joins_or_leaves_do_not_allocate() {
    // Two laps: every receiver in `rxs` takes every item.
    fn laps(tx: &mut broadcast::Sender<u64>, rxs: &mut [&mut broadcast::Receiver<u64>]) {
        for _ in 0..2 {
            for i in 0..SMALL as u64 {
                tx.try_send(i).unwrap();
            }
            for rx in rxs.iter_mut() {
                while rx.try_recv().is_ok() {}
            }
        }
    }
    for strategy in STRATEGIES {
        for lossy in [false, true] {
            let b = Builder::new(SMALL).wait_strategy(strategy);
            let (mut tx, mut rx) = if lossy { b.broadcast_lossy::<u64>() } else { b.broadcast::<u64>() };
            laps(&mut tx, &mut [&mut rx]);
            let what = if lossy {
                "Lossy sends after a change of receivers"
            } else {
                "Block sends after a change of receivers"
            };
            for _ in 0..3 {
                let mut joined = tx.subscribe();
                assert_no_heap(what, strategy, || laps(&mut tx, &mut [&mut rx, &mut joined]));
                drop(joined);
                assert_no_heap(what, strategy, || laps(&mut tx, &mut [&mut rx]));
                let mut cloned = rx.clone();
                assert_no_heap(what, strategy, || laps(&mut tx, &mut [&mut rx, &mut cloned]));
                drop(cloned);
                assert_no_heap(what, strategy, || laps(&mut tx, &mut [&mut rx]));
            }
        }
    }
}

/// Broadcast `send_async` / `recv_async` futures that complete on their
/// first poll neither allocate nor free.
#[test]
fn broadcast_async_ready_futures_do_not_allocate() {
    for strategy in STRATEGIES {
        let (mut tx, mut rx) = Builder::new(SMALL).wait_strategy(strategy).broadcast::<u64>();
        let mut rx2 = rx.clone();
        let mut run = |laps: usize| {
            for _ in 0..laps {
                for i in 0..SMALL as u64 {
                    assert_eq!(ready(tx.send_async(i)), Ok(()));
                }
                for i in 0..SMALL as u64 {
                    assert_eq!(ready(rx.recv_async()), Ok(i));
                    assert_eq!(ready(rx2.recv_async()), Ok(i));
                }
            }
        };
        run(2);
        assert_no_heap("broadcast send_async / recv_async ready at once", strategy, || run(LAPS));
    }
}

// ---------------------------------------------------------------------------
// Two threads
// ---------------------------------------------------------------------------

/// Items each side moves while counted in the two-thread tests.
const STREAM: u64 = 100_000;

/// Items moved before either side arms its counter.
const WARM_UP: u64 = 1_000;

/// A `BusySpin` producer and consumer on two threads, each counting its own
/// allocator calls over 100 000 items of `send` / `recv` that really wait
/// for each other (on the SPSC and the MPMC ring): both zero. This is the
/// README's "real-time safe" in the form it is used, a thread a side.
#[test]
fn busy_spin_threads_do_not_allocate_while_streaming() {
    // Both rings alike: `$ring` names the constructor.
    macro_rules! stream {
        ($ring:ident, $name:literal) => {
            #[allow(unused_mut)] // `send` / `recv` take `&mut` on SPSC handles only
            let (mut tx, mut rx) = Builder::new(SMALL).wait_strategy(WaitStrategy::BusySpin).$ring::<u64>();
            let (producer, consumer) = thread::scope(|s| {
                let producer = s.spawn(move || {
                    for i in 0..WARM_UP {
                        tx.send(i).unwrap();
                    }
                    heap_calls_in(|| {
                        for i in WARM_UP..WARM_UP + STREAM {
                            tx.send(i).unwrap();
                        }
                    })
                });
                let consumer = s.spawn(move || {
                    for i in 0..WARM_UP {
                        assert_eq!(rx.recv(), Ok(i));
                    }
                    heap_calls_in(|| {
                        for i in WARM_UP..WARM_UP + STREAM {
                            assert_eq!(rx.recv(), Ok(i));
                        }
                    })
                });
                (producer.join().unwrap(), consumer.join().unwrap())
            });
            assert_eq!(
                (producer, consumer),
                ((0, 0), (0, 0)),
                "{} BusySpin producer, consumer: (allocations, frees)",
                $name
            );
        };
    }
    stream!(spsc, "SPSC");
    stream!(mpmc, "MPMC");
}

// ---------------------------------------------------------------------------
// Park: parking and waker registration (a task's wait promised, the rest recorded)
// ---------------------------------------------------------------------------

/// Records (prints; run with `--nocapture`) what a `Park` channel's waits
/// cost the allocator: a thread that parks in `recv` and the sender that
/// wakes it, and a task whose `recv_async` registers its waker, is woken by
/// a `try_send` and then completes. Asserted: a task's wait allocates
/// nothing once its side's registry has held a waker (the README promises
/// it); the rest is recorded only.
#[test]
fn park_waits_record_their_allocations() {
    let mut lines = Vec::new();
    // A thread that parks, twice (the first park of a process may set up
    // the barrier), and the sender that wakes it.
    // Both rings alike: `$ring` names the constructor.
    macro_rules! parked_rounds {
        ($ring:ident, $name:literal) => {
            #[allow(unused_mut)] // `recv` / `send` take `&mut` on SPSC handles only
            let (mut tx, mut rx) = Builder::new(SMALL).wait_strategy(WaitStrategy::Park).$ring::<u64>();
            for round in 0..2 {
                let (receiver, sender) = thread::scope(|s| {
                    let receiver = s.spawn(|| {
                        let mut got = None;
                        let calls = heap_calls_in(|| got = Some(rx.recv()));
                        assert_eq!(got, Some(Ok(round)));
                        calls
                    });
                    thread::sleep(Duration::from_millis(100));
                    let sender = heap_calls_in(|| tx.send(round).unwrap());
                    (receiver.join().unwrap(), sender)
                });
                lines.push(format!(
                    "{} Park, round {round}: parked recv {receiver:?}, waking send {sender:?} (allocations, frees); parks {}",
                    $name,
                    rx.stats().parks
                ));
            }
        };
    }
    parked_rounds!(spsc, "SPSC");
    parked_rounds!(mpmc, "MPMC");

    // A task that registers its waker, is woken by a send and completes;
    // three rounds on one channel (the registry keeps its buffer once
    // emptied, so from the second round on nothing is allocated).
    macro_rules! task_rounds {
        ($ring:ident, $name:literal) => {
            #[allow(unused_mut)] // `recv_async` / `try_send` take `&mut` on SPSC handles only
            let (mut tx, mut rx) = Builder::new(SMALL).wait_strategy(WaitStrategy::Park).$ring::<u64>();
            for round in 0..3 {
                let mut fut = rx.recv_async();
                let register = heap_calls_in(|| assert!(poll_once(&mut fut).is_pending()));
                let wake = heap_calls_in(|| tx.try_send(round).unwrap());
                let complete = heap_calls_in(|| assert_eq!(poll_once(&mut fut), Poll::Ready(Ok(round))));
                drop(fut);
                lines.push(format!(
                    "{} Park recv_async, round {round}: register {register:?}, waking try_send {wake:?}, completing poll {complete:?}",
                    $name
                ));
                // Promised (README, "Allocation"): once a side's registry
                // has held a task's waker, a task's wait there allocates
                // nothing (the registry keeps its buffer).
                if round > 0 {
                    assert_eq!((register, wake, complete), ((0, 0), (0, 0), (0, 0)), "{} round {round}", $name);
                }
            }
        };
    }
    task_rounds!(spsc, "SPSC");
    task_rounds!(mpmc, "MPMC");
    // Two tasks woken by one send of two items (a multi-wake), and a
    // pending future dropped (deregistration).
    let (mtx, mrx) = Builder::new(SMALL).wait_strategy(WaitStrategy::Park).mpmc::<u64>();
    let mrx2 = mrx.clone();
    for round in 0..2 {
        let (mut a, mut b) = (mrx.recv_async(), mrx2.recv_async());
        let register = heap_calls_in(|| {
            assert!(poll_once(&mut a).is_pending());
            assert!(poll_once(&mut b).is_pending());
        });
        let mut batch = VecDeque::from([1, 2]);
        let wake = heap_calls_in(|| assert_eq!(mtx.try_send_many(&mut batch), 2));
        let _ = (poll_once(&mut a), poll_once(&mut b));
        let mut c = mrx.recv_async();
        assert!(poll_once(&mut c).is_pending());
        let deregister = heap_calls_in(|| drop(c));
        drop((a, b));
        lines.push(format!(
            "MPMC Park two tasks, round {round}: register both {register:?}, one try_send_many waking both {wake:?}, dropping a pending future {deregister:?}"
        ));
    }
    task_rounds!(broadcast, "broadcast");
    for line in lines {
        println!("{line}");
    }
}
