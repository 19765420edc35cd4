//! Random single-threaded op sequences on the SPSC ring, checked step by
//! step against a `VecDeque` model with drop counting. The interpreter is
//! shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_ops/mod.rs"]
mod ops;

fuzz_target!(|data: &[u8]| ops::run_spsc(data));
