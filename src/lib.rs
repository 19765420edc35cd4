//! Bounded lock-free queues for the hops between pipeline stages.
//!
//! ringflow offers two primitives with one vocabulary (std /
//! crossbeam-channel naming):
//!
//! - [`spsc`]: a single-producer single-consumer ring (`Producer` /
//!   `Consumer`, methods on `&mut self`), in two slot layouts: the
//!   default one, and a stamped one (`Builder::spsc_stamped`) whose items
//!   cross an empty ring in one cache line (see [`spsc`]'s "Layouts");
//! - [`mpmc`]: a multi-producer multi-consumer ring (`Sender` / `Receiver`,
//!   `Clone`, methods on `&self`), with `force_send` to overwrite the oldest
//!   item;
//! - [`broadcast`]: a fan-out ring (one `Sender`, many `Receiver`s, each
//!   receiver sees every item) that blocks on the slowest receiver or, lossy,
//!   overwrites and reports `Lagged`.
//!
//! A full queue is an explicit decision, never a silent loss: block the
//! producer (`send`: backpressure), reject (`try_send`: load shedding, the
//! value comes back in the error) or overwrite the oldest (`force_send`:
//! freshness, the evicted value comes back to the caller).
//!
//! Each channel has a [`WaitStrategy`] deciding how blocking calls wait:
//! `BusySpin`, `SpinYield` or `Park` (the default).
//!
//! # Examples
//!
//! ```
//! use std::thread;
//!
//! let (mut tx, mut rx) = ringflow::spsc::channel::<u64>(1024);
//! let producer = thread::spawn(move || {
//!     for i in 0..10_000 {
//!         tx.send(i).unwrap(); // waits while the ring is full
//!     }
//! });
//! let mut expected = 0;
//! for v in rx.iter() {
//!     assert_eq!(v, expected); // strict FIFO
//!     expected += 1;
//! }
//! assert_eq!(expected, 10_000);
//! producer.join().unwrap();
//! ```
//!
//! Every ring (SPSC, MPMC, broadcast) also waits asynchronously
//! (`send_async` / `recv_async`, on any executor; blocking and async
//! callers may share a channel).
//!
//! # How the crate is laid out
//!
//! | module | what it holds |
//! |---|---|
//! | `builder` | [`Builder`]: capacity, wait strategy, watermarks, then `.spsc()` / `.mpmc()` / `.broadcast()` |
//! | [`spsc`] | the SPSC ring (`mod.rs`), its two slot layouts (`layout.rs`), its batch API (`chunks.rs`; the stamped layout's slice copies in `stamped.rs`) and where its items live (`segment.rs`: one buffer, or segments that grow and shrink with the queue) |
//! | [`mpmc`] | the MPMC ring: `ring.rs` (slots, positions, the one claim routine), `pages.rs` (a large ring's slots: pages attached as positions reach them, recycled once read), `sender.rs`, `receiver.rs` |
//! | [`broadcast`] | the fan-out ring: shared state and registry (`mod.rs`), `sender.rs`, `receiver.rs`, `error.rs` |
//! | `wait` | [`WaitStrategy`], the waiter (adaptive `Park`), the one driver of blocking and async operations, the sleeper registry of threads and wakers |
//! | `future` | the async futures and, with `futures`, the `Stream` / `Sink` adapters |
//! | `flow` | congestion watermarks ([`Congestion`]) and [`Stats`] |
//! | `handle` | what every handle shares, written once (introspection, `Debug`, iterators, the blocking and timed forms) |
//! | `buffer` | the slot allocations of the rings (uninitialised, or zeroed and backed on first touch); panic-safe bulk drop |
//! | `error` | the error types shared by the rings |
//! | `sync` | the only module choosing std or loom; the asymmetric barrier |
//!
//! # Feature flags
//!
//! - `futures` (off by default): the receivers' `into_stream()` returns a
//!   `RecvStream` implementing `futures_core::Stream`, and the senders'
//!   `into_sink()` a `SendSink` implementing `futures_sink::Sink`
//!   (`spsc::{RecvStream, SendSink}`, `mpmc::{RecvStream, SendSink}`,
//!   `broadcast::{RecvStream, SendSink}`; a broadcast stream yields
//!   `Result`s, so that `Lagged(n)` is never skipped). The async methods
//!   themselves need no feature.
//!
//! `__test-hooks` (off by default) exposes unsafe test-only hooks and
//! instrumentation (claim guards that stall a slot, a start position for
//! wrap-around tests, barrier counters) to the crate's own tests, loom models
//! and fuzz targets. It is not part of the public API, not covered by semver,
//! and must not be enabled by users. Nor must the other `__test-*` features
//! (`__test-pages`, `__test-broadcast-flip`, `__test-spsc-stamped`), which
//! change how rings are laid out for the crate's own test runs.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod handle;

pub mod broadcast;
mod buffer;
mod builder;
mod error;
mod flow;
mod future;
pub mod mpmc;
pub mod spsc;
mod sync;
mod wait;

pub use builder::Builder;
pub use error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use flow::{Congestion, Stats};
pub use wait::{set_move_threads, WaitStrategy};

/// Test-only instrumentation (feature `__test-hooks`): not for users, not
/// covered by semver, absent from the default crate.
#[cfg(feature = "__test-hooks")]
#[doc(hidden)]
pub mod __test_hooks {
    pub use crate::mpmc::pages::{FreeList, PoppedPage};
    #[cfg(loom)]
    pub use crate::sync::barrier::probe::set_light_barrier_off;
    pub use crate::sync::barrier::probe::{
        fail_next_heavy_barriers, fence_pair_switches, membarrier_calls_on_this_thread, park_channels_use_membarrier,
    };

    /// Sets (or with `None` clears) the callback every MPMC page retirement
    /// attempt makes at its points `"tagged"` and `"checked"`, with the
    /// page's address (`src/mpmc/pages.rs`): a test blocks in it to stand
    /// for a preemption there.
    #[cfg(not(loom))]
    #[allow(clippy::type_complexity)]
    pub fn set_retirement_hook(hook: Option<std::sync::Arc<dyn Fn(&'static str, usize) + Send + Sync>>) {
        *crate::mpmc::pages::RETIREMENT_HOOK.write().unwrap_or_else(std::sync::PoisonError::into_inner) = hook;
    }
}

/// The README's code blocks run as doc-tests, so the API tour stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
