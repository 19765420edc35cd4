//! Helpers shared by the integration tests: drop-counting payloads, a
//! zero-sized drop counter, a payload without `Debug`, and scaling of
//! iteration counts under Miri.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Drop counters for [`Zst`], one per const index so that parallel tests
/// each use their own.
pub static ZST_DROPS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

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

/// A tiny deterministic PRNG (xorshift64*) for op sequences.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
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
/// stuck.
pub const WATCHDOG_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

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
