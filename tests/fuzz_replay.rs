//! Stable replay of the fuzz targets' operation interpreter (`fuzz_ops`,
//! shared with `fuzz/` through `#[path]`): a few thousand deterministic
//! pseudo-random op sequences per ring (SPSC, MPMC, broadcast), plus every saved seed, checked step
//! by step against a `VecDeque` model with drop counting. Runs in
//! `cargo test` on stable, so CI exercises the fuzz model without nightly.

mod common;
mod fuzz_ops;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::Rng;

/// Sequences per ring (native / Miri, where the longest are also cut short).
const SEQUENCES: usize = if cfg!(miri) { 12 } else { 4000 };

/// Saved inputs, replayed on every run: minimized fuzz crashes (none so far
/// that still fail) and hand-written corners. A session header is three
/// bytes (capacity, config, extra); see `fuzz_ops` for the format.
const SPSC_SEEDS: &[(&str, &[u8])] = &[
    ("empty input", &[]),
    // capacity 1, positions start at usize::MAX: send/recv laps across the overflow
    ("cap 1 wraps usize::MAX", &[0, 3, 0, 0, 12, 0, 12, 0, 12, 0, 12]),
    // capacity 2: fill, Full, drop the consumer, send sees Disconnected, Format
    ("drop consumer while full", &[1, 0, 0, 0, 0, 0, 44, 0, 45]),
    // capacity 4, watermarks (1, 3), Copy payload: send_slice / recv_into move the flag
    ("Copy payload with watermarks", &[3, 0, 156, 62, 5, 46, 63, 3, 46, 62, 9, 63, 9, 46]),
];

const MPMC_SEEDS: &[(&str, &[u8])] = &[
    ("empty input", &[]),
    // capacity 2: force_send past full twice, then drain
    ("force_send eviction", &[1, 0, 0, 10, 10, 10, 10, 17, 17, 17]),
    // clone a receiver, drop both, then try_send and force_send are Disconnected
    ("last receiver goes", &[2, 1, 0, 48, 54, 0, 54, 0, 10]),
    // capacity 4, watermarks (1, 3): batches move the flag both ways
    ("batches with watermarks", &[3, 0, 28, 37, 9, 60, 41, 3, 60, 37, 2, 62, 41, 11, 190]),
];

/// Broadcast sessions: the header's `extra` byte with bit 7 set (128)
/// picks Lossy. Op bytes: 0 `try_send`, 16 `try_recv` (then a receiver
/// index when more than one is alive), 40 clone a receiver, 46 `subscribe`,
/// 51 drop a receiver, 55 drop the sender, 62 a burst of `n % (2 cap + 2)`
/// `try_send`s (see `BROADCAST_WEIGHTS` in `fuzz_ops`).
const BROADCAST_SEEDS: &[(&str, &[u8])] = &[
    ("empty input", &[]),
    // Block, capacity 1, start at usize::MAX: send, Full, receive, send again
    ("Block cap 1 wraps usize::MAX", &[0, 3, 0, 0, 0, 16, 0, 16, 0]),
    // Block, capacity 2: a clone that reads nothing holds the ring (Full)
    // until it is dropped
    ("Block slow clone holds the ring", &[1, 0, 0, 40, 0, 0, 16, 0, 16, 0, 0, 51, 1, 0, 16, 0]),
    // Lossy, capacity 2: six sends overtake both receivers by 4, a
    // subscriber joins, one more send; each old receiver gets Lagged(5) and
    // then the 2 held items, the subscriber only the last one
    ("Lossy burst then Lagged", &[1, 0, 128, 40, 0, 62, 5, 46, 0, 16, 0, 16, 0, 16, 2, 16, 1, 16, 1, 16, 0]),
    // Lossy, capacity 3, start at isize::MAX: 7 sends, the sender goes;
    // each receiver gets Lagged(4), the 3 held items, then Disconnected
    ("Lossy sender dropped", &[2, 6, 128, 40, 62, 7, 55, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 1, 16, 1]),
];

/// The bytes of sequence `i`: from a few ops to a few hundred. A quarter of
/// the sequences bias op bytes towards sends (low 6 bits 0..15: sends in
/// both op tables) and a quarter towards receives (16..31), so full and
/// empty rings are both reached often.
fn sequence(i: usize) -> Vec<u8> {
    let mut rng = Rng::new_mixed(i as u64);
    let longest = if cfg!(miri) { 96 } else { 512 };
    let len = match i % 4 {
        0 => 3 + (rng.next() % 16) as usize,
        1 | 2 => 3 + (rng.next() % 128) as usize,
        _ => 3 + (rng.next() % longest) as usize,
    };
    let bias = (i / 4) % 4;
    (0..len)
        .map(|_| {
            let b = rng.next() as u8;
            match bias {
                0 if b & 0x20 != 0 => b & !0x30,
                1 if b & 0x20 != 0 => (b & !0x20) | 0x10,
                _ => b,
            }
        })
        .collect()
}

fn run_seeds(name: &str, run: impl Fn(&[u8]), seeds: &[(&str, &[u8])]) {
    for (seed, bytes) in seeds {
        if catch_unwind(AssertUnwindSafe(|| run(bytes))).is_err() {
            panic!("{name}: saved seed {seed:?} failed: {bytes:?}");
        }
    }
}

fn run_all(name: &str, run: fn(&[u8]), seeds: &[(&str, &[u8])]) {
    run_seeds(name, run, seeds);
    for i in 0..SEQUENCES {
        let bytes = sequence(i);
        if catch_unwind(AssertUnwindSafe(|| run(&bytes))).is_err() {
            panic!("{name}: sequence {i} failed; replay with fuzz_ops::{name}(&{bytes:?})");
        }
    }
}

#[test]
fn spsc_replay() {
    run_all("run_spsc", fuzz_ops::run_spsc, SPSC_SEEDS);
}

#[test]
fn mpmc_replay() {
    run_all("run_mpmc", fuzz_ops::run_mpmc, MPMC_SEEDS);
}

#[test]
fn broadcast_replay() {
    run_all("run_broadcast", fuzz_ops::run_broadcast, BROADCAST_SEEDS);
}

/// Regression inputs: `Producer::send_iter` used to send fewer items than
/// the ring had room for, because it sized the batch from the producer's
/// stale cached head (`free_slots(1)`); found by this interpreter and by
/// `cargo fuzz run spsc_ops`. The model now requires `min(room, offered)`.
const SEND_ITER_STOPS_EARLY: &[(&str, &[u8])] = &[
    // Hand-minimized: capacity 2, `try_send`, `try_recv`, then `send_iter`
    // offering 2 items to the now empty ring sends 1.
    ("hand-minimized", &[1, 0, 0, 0, 12, 56, 0, 2]),
    // Found by `cargo fuzz run spsc_ops` with the strict check (about 19k
    // execs from an empty corpus), `cargo fuzz tmin`: capacity 8, Park,
    // start at usize::MAX - 1, watermarks (3, 5); `send_timeout(0)`,
    // `recv_timeout(MAX)`, then `send_iter` of 9 items sends 7 into an empty
    // ring with room for 8.
    ("cargo fuzz tmin", &[58, 17, 82, 28, 165, 249, 19, 49]),
];

#[test]
fn send_iter_fills_the_ring_regression() {
    run_seeds("run_spsc", fuzz_ops::run_spsc, SEND_ITER_STOPS_EARLY);
}
