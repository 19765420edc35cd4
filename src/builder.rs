//! [`Builder`]: capacity and wait strategy, then `.spsc()`, `.mpmc()`,
//! `.broadcast()` or `.broadcast_lossy()`.

use crate::flow::Marks;
use crate::sync::barrier;
use crate::WaitStrategy;

/// Configures a channel, then builds it with [`spsc`](Builder::spsc),
/// [`mpmc`](Builder::mpmc), [`broadcast`](Builder::broadcast) or
/// [`broadcast_lossy`](Builder::broadcast_lossy).
///
/// # Examples
///
/// ```
/// use ringflow::{Builder, WaitStrategy};
///
/// let (mut tx, mut rx) = Builder::new(1000)
///     .wait_strategy(WaitStrategy::SpinYield)
///     .spsc::<String>();
/// assert_eq!(tx.capacity(), 1000); // exactly what was asked for
/// tx.send("hello".to_string()).unwrap();
/// assert_eq!(rx.recv().unwrap(), "hello");
/// ```
#[derive(Clone)]
#[must_use = "a `Builder` does nothing until `spsc`, `mpmc`, `broadcast` or `broadcast_lossy` builds a channel, and each setter returns the changed builder"]
pub struct Builder {
    pub(crate) capacity: usize,
    pub(crate) strategy: WaitStrategy,
    /// First position of both counters; 0 except in wrap-around tests.
    pub(crate) start: usize,
    /// `(low, high)` congestion watermarks, if configured.
    pub(crate) watermarks: Option<(usize, usize)>,
    /// SPSC segment length chosen by a test (`__segment_slots`), instead of
    /// the policy by item size; `None` except in tests.
    pub(crate) segment_slots: Option<usize>,
    /// Broadcast slot layout chosen by a test (`__broadcast_stamps`),
    /// instead of the policy by item size; `None` except in tests.
    pub(crate) broadcast_stamps: Option<bool>,
    /// `Park`: whether a wait may move its thread to another CPU of its
    /// affinity mask ([`Builder::move_threads`]).
    pub(crate) move_threads: bool,
}

/// What a user configured: the capacity, the wait strategy, the watermarks
/// and `move_threads`. The test hooks' settings (`__start_position`,
/// `__segment_slots`, `__broadcast_stamps`) show only when a test set them.
impl core::fmt::Debug for Builder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Builder");
        d.field("capacity", &self.capacity)
            .field("wait_strategy", &self.strategy)
            .field("watermarks", &self.watermarks)
            .field("move_threads", &self.move_threads);
        if self.start != 0 {
            d.field("start_position", &self.start);
        }
        if let Some(slots) = self.segment_slots {
            d.field("segment_slots", &slots);
        }
        if let Some(stamps) = self.broadcast_stamps {
            d.field("broadcast_stamps", &stamps);
        }
        d.finish()
    }
}

impl Builder {
    /// Starts configuring a channel that holds exactly `capacity` items.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0. (A capacity whose buffer would not fit in one
    /// allocation, `isize::MAX` bytes, panics later, in
    /// [`spsc`](Builder::spsc) / [`mpmc`](Builder::mpmc) / `broadcast`,
    /// where the item type is known. One that fits but that the allocator
    /// cannot provide aborts the process there, as a `Vec`'s allocation
    /// does.)
    pub fn new(capacity: usize) -> Self {
        assert_capacity(capacity);
        Builder {
            capacity,
            strategy: WaitStrategy::default(),
            start: 0,
            watermarks: None,
            segment_slots: None,
            broadcast_stamps: None,
            move_threads: true,
        }
    }

    /// Chooses how blocking calls wait (default: [`WaitStrategy::Park`]).
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// `Park` channels: whether a blocked call may move its thread to
    /// another CPU that the thread's affinity mask allows (default: `true`;
    /// other strategies never move a thread).
    ///
    /// It does so only on evidence that the thread and the one it waits for
    /// take turns on one CPU: a wait that begins on the CPU where the other
    /// side last began one yields to it, and if about one such yield in 16
    /// ran another thread (it took 1 µs or more), the next such wait sets
    /// the thread's mask to one other CPU of the mask (the next one in CPU
    /// number order; Linux migrates the thread at once), then sets the mask
    /// it read back. Two threads that yield to each other stay runnable on
    /// one CPU, and Linux may leave them there for tens of milliseconds with
    /// another CPU idle: at capacity 1 that ran at a fifth to a third of the
    /// rate of two CPUs on the development VM (see the README's "Wait
    /// strategies"). A thread pinned to one CPU is never moved.
    ///
    /// Turn it off if something else must own the threads' masks: an
    /// affinity change made by another thread or process between the two
    /// `sched_setaffinity` calls (a few µs) is overwritten; the mask set
    /// back is the one `sched_getaffinity` returned, which leaves out CPUs
    /// offline at that moment (they do not come back with the CPU); and
    /// since Linux 6.2 the kernel keeps it as the thread's requested mask,
    /// so CPUs that its cpuset gains later are not added (as after any
    /// `sched_setaffinity` call). Off, such a wait goes to sleep at once
    /// instead (the peer's wake-up may place it on an idle CPU, or not).
    /// [`set_move_threads`](crate::set_move_threads) turns moving off for
    /// the whole process, channels built elsewhere included.
    ///
    /// A thread never moves under a seccomp filter (its
    /// `/proc/thread-self/status`, read once per thread, does not say
    /// `Seccomp: 0`): a filter may kill the process on a system call it does
    /// not allow, and nothing short of the call tells. After a
    /// `sched_setaffinity` call fails, no thread of the process moves again.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::Builder;
    /// // A thread pool whose masks a CPU manager owns: never touch them.
    /// let (tx, rx) = Builder::new(1).move_threads(false).mpmc::<u64>();
    /// tx.send(7).unwrap();
    /// assert_eq!(rx.recv(), Ok(7));
    /// ```
    pub fn move_threads(mut self, on: bool) -> Self {
        self.move_threads = on;
        self
    }

    /// Turns on the congestion signal: the channel becomes
    /// [`Congestion::Congested`](crate::Congestion::Congested) when an
    /// operation or query observes at least `high` items queued, and
    /// [`Clear`](crate::Congestion::Clear) again only when one observes at
    /// most `low` (hysteresis, like XON/XOFF). A producer can read it with
    /// `congestion()` or block on it with `wait_until_clear` to slow its
    /// upstream before the queue is full.
    ///
    /// Without watermarks the signal costs nothing and is always `Clear`.
    /// With them, each send loads a rarely written flag (and, near `high`,
    /// the consumer position), and each receive (on the SPSC ring: each one
    /// near `low`) runs a barrier and loads the flag. The barrier is a
    /// compiler fence on `Park` channels, whose Clear→Congested transition
    /// pays a `membarrier` system call; on `BusySpin` / `SpinYield`
    /// channels it is a `fence(SeqCst)`, so that no call on them ever enters
    /// the kernel.
    ///
    /// # Panics
    ///
    /// Unless `low < high <= capacity`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::{Builder, Congestion};
    /// let (tx, rx) = Builder::new(8).watermarks(2, 6).mpmc::<u32>();
    /// for i in 0..6 { tx.send(i).unwrap(); }
    /// assert_eq!(tx.congestion(), Congestion::Congested);
    /// for _ in 0..3 { rx.recv().unwrap(); }
    /// assert_eq!(tx.congestion(), Congestion::Congested); // 3 left: above `low`
    /// rx.recv().unwrap();
    /// assert_eq!(tx.congestion(), Congestion::Clear); // 2 left: at `low`
    /// ```
    pub fn watermarks(mut self, low: usize, high: usize) -> Self {
        assert!(
            low < high && high <= self.capacity,
            "ringflow: watermarks need low < high <= capacity (got low {low}, high {high}, capacity {})",
            self.capacity
        );
        self.watermarks = Some((low, high));
        self
    }

    /// Test hook, not part of the public API (feature `__test-hooks`, for
    /// the crate's own tests): starts both position counters at `position`
    /// so that tests can cross `usize::MAX` quickly.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn __start_position(mut self, position: usize) -> Self {
        self.start = position;
        self
    }

    /// Test hook, not part of the public API (feature `__test-hooks`): an
    /// SPSC ring of capacity above `slots` keeps its items in segments
    /// starting at `slots` slots (at least 1), whatever the item size, so
    /// that tests and loom models reach segment growth, shrinking and
    /// hand-over with a few items. With `slots` at or above the capacity
    /// the ring is one flat buffer of exactly `slots` slots (by default a
    /// flat ring of items of up to 64 bytes has a slack of at least two
    /// cache lines beyond its capacity), so that models wrap around it with
    /// a few items.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn __segment_slots(mut self, slots: usize) -> Self {
        self.segment_slots = Some(slots);
        self
    }

    /// Test hook, not part of the public API (feature `__test-hooks`): a
    /// broadcast ring keeps a stamp in every slot (`true`) or publishes
    /// through `tail` alone (`false`), whatever the item size, so that
    /// tests and loom models run both layouts with any payload.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn __broadcast_stamps(mut self, stamps: bool) -> Self {
        self.broadcast_stamps = Some(stamps);
        self
    }

    /// The barrier kind a `Park` channel uses; `None` for strategies that
    /// never park (they skip notification entirely).
    pub(crate) fn park_barrier(&self) -> Option<barrier::Kind> {
        match self.strategy {
            WaitStrategy::Park => Some(barrier::kind()),
            WaitStrategy::BusySpin | WaitStrategy::SpinYield => None,
        }
    }
}

impl Builder {
    /// The watermarks as handles cache them, with the barrier pair the
    /// congestion protocol uses: the process's pair (decided once) on `Park`
    /// channels, the fence pair on the others.
    pub(crate) fn flow_marks(&self) -> Option<Marks> {
        // A channel that never parks must never enter the kernel, so its
        // congestion protocol uses the fence pair, not `membarrier`.
        let kind = self.park_barrier().unwrap_or(barrier::Kind::Fence);
        self.watermarks.map(|(low, high)| Marks { low, high, kind })
    }
}

/// Panics with the documented message for a zero capacity.
pub(crate) fn assert_capacity(capacity: usize) {
    assert!(capacity > 0, "ringflow: capacity must be at least 1 (got 0)");
}

/// Panics with a clear message if `capacity` slots of `Slot` cannot be
/// allocated as one array (the byte size overflows `isize`).
pub(crate) fn assert_layout<Slot>(capacity: usize) {
    if std::alloc::Layout::array::<Slot>(capacity).is_err() {
        panic!(
            "ringflow: capacity {capacity} is too large: {capacity} slots of {} bytes overflow the maximum allocation size",
            core::mem::size_of::<Slot>()
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Builder;
    use crate::WaitStrategy;

    /// `Debug` shows what a user set; a test hook's setting only once set.
    #[test]
    fn debug_shows_the_settings_and_test_hooks_only_when_set() {
        let b = Builder::new(3).wait_strategy(WaitStrategy::BusySpin).watermarks(1, 2);
        assert_eq!(
            format!("{b:?}"),
            "Builder { capacity: 3, wait_strategy: BusySpin, watermarks: Some((1, 2)), move_threads: true }"
        );
        let mut hooked = Builder::new(3);
        hooked.start = 8;
        hooked.segment_slots = Some(2);
        assert_eq!(
            format!("{hooked:?}"),
            "Builder { capacity: 3, wait_strategy: Park, watermarks: None, move_threads: true, start_position: 8, \
             segment_slots: 2 }"
        );
    }
}
