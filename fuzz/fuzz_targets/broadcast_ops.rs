//! Random single-threaded op sequences on the broadcast ring, Block and
//! Lossy (cloned, subscribed and dropped receivers, `Lagged`), checked step
//! by step against a model with one `VecDeque` per receiver and a payload
//! whose every clone is tracked and must be dropped exactly once. The
//! interpreter is shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_ops/mod.rs"]
mod ops;

fuzz_target!(|data: &[u8]| ops::run_broadcast(data));
