//! [`Builder`]: capacity and wait strategy, then `.spsc()` or `.mpmc()`.

use crate::sync::barrier;
use crate::WaitStrategy;

/// Configures a channel, then builds it with [`spsc`](Builder::spsc) or
/// [`mpmc`](Builder::mpmc).
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
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) capacity: usize,
    pub(crate) strategy: WaitStrategy,
    /// First position of both counters; 0 except in wrap-around tests.
    pub(crate) start: usize,
}

impl Builder {
    /// Starts configuring a channel that holds exactly `capacity` items.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0. (A capacity whose buffer would not fit in memory
    /// panics later, in [`spsc`](Builder::spsc) / [`mpmc`](Builder::mpmc),
    /// where the item type is known.)
    pub fn new(capacity: usize) -> Self {
        assert_capacity(capacity);
        Builder { capacity, strategy: WaitStrategy::default(), start: 0 }
    }

    /// Chooses how blocking calls wait (default: [`WaitStrategy::Park`]).
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Test hook, not part of the public API: starts both position counters
    /// at `position` so that tests can cross `usize::MAX` quickly.
    #[doc(hidden)]
    pub fn __start_position(mut self, position: usize) -> Self {
        self.start = position;
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
