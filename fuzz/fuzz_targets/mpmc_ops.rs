//! Random single-threaded op sequences on the MPMC ring (cloned and dropped
//! handles, `force_send`), checked step by step against a `VecDeque` model
//! with drop counting. The interpreter is shared with the stable replay test
//! `tests/fuzz_replay.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_ops/mod.rs"]
mod ops;

fuzz_target!(|data: &[u8]| ops::run_mpmc(data));
