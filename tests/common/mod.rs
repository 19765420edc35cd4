//! Helpers shared by the integration tests (`spsc.rs`, `mpmc.rs`, `flow.rs`,
//! `fuzz_replay.rs`, `segments.rs`, `pages.rs`, ...): drop-counting payloads
//! (including one whose `Drop` panics once and which stays harmless if a
//! ring drops it twice), a zero-sized drop counter, a payload without
//! `Debug`, an exactly-once register, a small PRNG, a watchdog that turns a
//! hang into a failure, and scaling of iteration counts under Miri. Each test binary uses a subset.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// `normal` on a native run, `miri` under Miri (threads and loops are slow
/// there).
pub fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

/// A value that counts its drops in a shared counter (one counter for many
/// values; [`Tracker`] keeps one per id).
pub struct Counted(pub u64, pub Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

/// Per-id drop counters for [`Tracked`] values. Every tracker is independent,
/// so tests running in parallel do not see each other's drops.
#[derive(Clone)]
pub struct Tracker {
    counts: Arc<Vec<AtomicUsize>>,
}

impl Tracker {
    /// A tracker for ids `0..n`.
    pub fn new(n: usize) -> Self {
        Tracker { counts: Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect()) }
    }

    /// A value with id `id` that records its drop here.
    pub fn item(&self, id: usize) -> Tracked {
        assert!(id < self.counts.len());
        Tracked { id, counts: self.counts.clone(), panics: false }
    }

    /// Like [`item`](Tracker::item), but its `Drop` panics (after recording
    /// the drop).
    pub fn panicking_item(&self, id: usize) -> Tracked {
        assert!(id < self.counts.len());
        Tracked { id, counts: self.counts.clone(), panics: true }
    }

    /// How many times the value with id `id` was dropped.
    pub fn drops(&self, id: usize) -> usize {
        self.counts[id].load(Ordering::SeqCst)
    }

    /// Total drops over all ids.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Asserts that every id in `ids` was dropped exactly once.
    #[track_caller]
    pub fn assert_dropped_once(&self, ids: impl IntoIterator<Item = usize>) {
        for id in ids {
            assert_eq!(self.drops(id), 1, "item {id} dropped {} times, expected once", self.drops(id));
        }
    }

    /// Asserts that no id in `ids` was dropped.
    #[track_caller]
    pub fn assert_not_dropped(&self, ids: impl IntoIterator<Item = usize>) {
        for id in ids {
            assert_eq!(self.drops(id), 0, "item {id} dropped {} times, expected never", self.drops(id));
        }
    }
}

/// A payload that records its drop in a [`Tracker`]. Deliberately neither
/// `Debug`, `Clone` nor `Default`: the API must not need them.
pub struct Tracked {
    id: usize,
    counts: Arc<Vec<AtomicUsize>>,
    panics: bool,
}

impl Tracked {
    pub fn id(&self) -> usize {
        self.id
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counts[self.id].fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("Tracked({}) panics in drop, as the test asked", self.id);
        }
    }
}

/// A payload whose `Drop` records the drop in a `'static` counter array and,
/// if `panics` is set, panics the *first* time it is dropped. It owns nothing
/// (no `Arc`, no heap), so a buggy ring that drops it twice only bumps a
/// counter to 2 (which the test reports) instead of corrupting memory, and
/// the second drop does not panic (a panic while unwinding would abort the
/// whole test binary instead of failing one test).
pub struct PanicOnce {
    id: usize,
    panics: bool,
    counts: &'static [AtomicUsize],
}

impl PanicOnce {
    pub fn new(counts: &'static [AtomicUsize], id: usize, panics: bool) -> Self {
        assert!(id < counts.len());
        PanicOnce { id, panics, counts }
    }
}

impl Drop for PanicOnce {
    fn drop(&mut self) {
        let before = self.counts[self.id].fetch_add(1, Ordering::SeqCst);
        if self.panics && before == 0 {
            panic!("PanicOnce({}) panics in drop, as the test asked", self.id);
        }
    }
}

/// Drop counters for [`Zst`], one per const index so that parallel tests
/// each use their own.
pub static ZST_DROPS: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

/// A zero-sized type whose drops are counted in `ZST_DROPS[N]`. Use a
/// different `N` in every test.
pub struct Zst<const N: usize>;

impl<const N: usize> Zst<N> {
    pub fn drops() -> usize {
        ZST_DROPS[N].load(Ordering::SeqCst)
    }
}

impl<const N: usize> Drop for Zst<N> {
    fn drop(&mut self) {
        ZST_DROPS[N].fetch_add(1, Ordering::SeqCst);
    }
}

/// A payload with no trait implementations at all (not `Debug`, not
/// `PartialEq`, not `Clone`).
pub struct Opaque(pub u32);

/// Records which values `0..n` were seen, failing on a second sighting.
pub struct Seen {
    flags: Vec<AtomicBool>,
}

impl Seen {
    pub fn new(n: usize) -> Self {
        Seen { flags: (0..n).map(|_| AtomicBool::new(false)).collect() }
    }

    /// Marks `v` as seen; panics if it was seen before (delivered twice).
    #[track_caller]
    pub fn mark(&self, v: usize, what: &str) {
        assert!(v < self.flags.len(), "{what}: value {v} was never sent");
        assert!(!self.flags[v].swap(true, Ordering::Relaxed), "{what}: value {v} seen twice");
    }

    /// Asserts every value `0..n` was seen.
    #[track_caller]
    pub fn assert_all(&self) {
        let missing: Vec<usize> = self
            .flags
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.load(Ordering::Relaxed))
            .map(|(i, _)| i)
            .take(10)
            .collect();
        assert!(missing.is_empty(), "values never seen (first 10): {missing:?}");
    }
}

/// A tiny deterministic PRNG (xorshift64*) for op sequences.
pub struct Rng(u64);

impl Rng {
    /// Seeded with `seed` as it is (`| 1`: never the all-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// Seeded with `seed` spread over all bits first, for small consecutive
    /// seeds (a sequence index).
    pub fn new_mixed(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How long a [`Watchdog`] waits without progress before declaring a thread
/// stuck (generous: Miri runs the same tests, slowly).
pub const WATCHDOG_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Turns a hang into a failure: if it is neither dropped nor
/// [`tick`](Watchdog::tick)ed for [`WATCHDOG_LIMIT`], it prints what was
/// stuck (straight to stderr, past the test harness's capture) and aborts
/// the test process. Used around blocking calls that a lost wake-up would
/// leave blocked forever; long transfers tick it as they make progress, so a
/// slow (loaded) machine is not mistaken for a hang.
pub struct Watchdog {
    done: Option<std::sync::mpsc::Sender<()>>,
    ticks: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn new(what: &'static str) -> Self {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        let ticks = Arc::new(AtomicUsize::new(0));
        let seen = ticks.clone();
        let thread = std::thread::spawn(move || {
            let mut last = seen.load(Ordering::Relaxed);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG_LIMIT) {
                let now = seen.load(Ordering::Relaxed);
                if now == last {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "watchdog: `{what}` made no progress for {WATCHDOG_LIMIT:?} (lost wake-up?); aborting"
                    );
                    std::process::abort();
                }
                last = now;
            }
        });
        Watchdog { done: Some(done), ticks, thread: Some(thread) }
    }

    /// Records progress (cheap: one relaxed atomic add).
    pub fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serialises the `BusySpin` variants of the threaded tests. A `BusySpin`
/// waiter never gives its core away, so several such tests running at once
/// on a 2-core machine (the harness runs tests in parallel) make every
/// hand-off wait for a scheduler time slice. This keeps the suite fast; it
/// does not hide anything, since each test still runs two spinning threads.
pub fn busy_spin_exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Generates `mod $f { #[test] fn busy_spin; spin_yield; park }` calling
/// `$f(strategy)` (the `BusySpin` one under [`busy_spin_exclusive`]). Use
/// with `#[macro_use] mod common;`.
#[allow(unused_macros)] // flow.rs and fuzz_replay.rs do not use it
macro_rules! for_each_strategy {
    ($($f:ident),* $(,)?) => {
        $(
            mod $f {
                use ringflow::WaitStrategy;
                #[test]
                fn busy_spin() {
                    let _exclusive = super::common::busy_spin_exclusive();
                    super::$f(WaitStrategy::BusySpin)
                }
                #[test]
                fn spin_yield() {
                    super::$f(WaitStrategy::SpinYield)
                }
                #[test]
                fn park() {
                    super::$f(WaitStrategy::Park)
                }
            }
        )*
    };
}

/// The SPSC layout the SPSC tests build their rings with: the default
/// (`Packed`), or `Stamped` with the crate's test feature
/// `__test-spsc-stamped` (`scripts/check.sh spsc-stamped`).
#[cfg(not(feature = "__test-spsc-stamped"))]
pub type SpscLayout = ringflow::spsc::Packed;
#[cfg(feature = "__test-spsc-stamped")]
pub type SpscLayout = ringflow::spsc::Stamped;

/// An SPSC producer of the tests' layout.
pub type Tx<T> = ringflow::spsc::Producer<T, SpscLayout>;
/// An SPSC consumer of the tests' layout.
pub type Rx<T> = ringflow::spsc::Consumer<T, SpscLayout>;

/// `spsc::channel` in the tests' layout.
pub fn spsc_channel<T>(capacity: usize) -> (Tx<T>, Rx<T>) {
    ringflow::Builder::new(capacity).spsc_with_layout()
}

/// `Builder::spsc` in the tests' layout.
pub trait SpscInLayout {
    /// The ring, in [`SpscLayout`].
    fn spsc_t<T>(self) -> (Tx<T>, Rx<T>);
}

impl SpscInLayout for ringflow::Builder {
    fn spsc_t<T>(self) -> (Tx<T>, Rx<T>) {
        self.spsc_with_layout()
    }
}
