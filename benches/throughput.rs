//! Throughput of ringflow's rings against their peers (criterion).
//!
//! `cargo bench --bench throughput [-- --quick] [FILTER]`
//!
//! Every benchmark moves items between pinned threads with `iter_custom`:
//! the threads are spawned and pinned, then meet at a barrier and a spinning
//! rendezvous, *before* the clock starts; the time reported is from the
//! first thread leaving the rendezvous to the last one finishing, so only
//! the transfer is timed. One criterion iteration is `ITEMS` items
//! (`Throughput::Elements`), so criterion reports items per second. Every
//! transfer is checked: the consumers see every item exactly once, in order
//! per producer.
//!
//! Groups (names are `<group>/<implementation>`, so a filter such as
//! `spsc_cap1024_8B` or `ringflow` selects rows):
//!
//! * `spsc_cap{1024,2}_{8,64,256}B`: one producer, one consumer on two
//!   cores; capacity 1024 (little contention) and 2 (every item contends);
//!   payloads `[u64; 1]`, `[u64; 8]`, `[u64; 32]`.
//! * `spsc_one_core_cap1024_8B`: both threads pinned to ONE core
//!   (oversubscribed: spinning collapses, the wait strategy decides).
//! * `spsc_batch64_cap1024_8B`: batches of 64 `u64` through the chunk APIs
//!   (ringflow's and rtrb's own), next to one-at-a-time references.
//! * `mpmc_{1p1c,2p2c,4p4c}_cap1024_8B`: the MPMC ring and the MPMC peers;
//!   4P4C puts 8 threads on 2 cores (oversubscribed here).
//!
//! ringflow rows: each wait strategy with blocking `send` / `recv`, plus
//! `try` + spin (SPSC) or `try` + backoff (MPMC) on a `BusySpin` channel.
//! Peers: rtrb (SPSC only) and crossbeam `ArrayQueue` with try + spin /
//! backoff; crossbeam-channel, flume and kanal bounded with blocking calls.
//!
//! The adapters and the pinned-worker harness live in `support/`, shared
//! with `targets.rs` (the same rows in interleaved rounds, as ratios) and
//! `latency.rs`.
//!
//! Cores: the first two available, read once before any thread is pinned;
//! override with `RINGFLOW_BENCH_CORES=A,B` (criterion owns the command line).

mod support;

use std::time::Duration;

use core_affinity::CoreId;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use ringflow::WaitStrategy;
use support::*;

/// Items per criterion iteration on two cores.
const ITEMS: u64 = 10_000;
/// Items per iteration where threads share a core (spinning peers manage
/// ~0.1 M items/s there).
const ITEMS_ONE_CORE: u64 = 2_000;

fn bench_spsc_impl<P: Payload, Q: Spsc<P>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    q: Q,
    capacity: usize,
    items: u64,
    cores: (CoreId, CoreId),
) {
    g.bench_function(BenchmarkId::from_parameter(name), |b| {
        b.iter_custom(|iters| spsc_transfer::<P, Q>(q, capacity, iters * items, cores));
    });
}

/// Every SPSC row, in the same group.
fn spsc_rows<P: Payload>(g: &mut BenchmarkGroup<'_, WallTime>, capacity: usize, items: u64, cores: (CoreId, CoreId)) {
    for s in [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park] {
        bench_spsc_impl::<P, _>(g, &format!("ringflow {s:?}"), RingflowBlocking(s, None), capacity, items, cores);
    }
    bench_spsc_impl::<P, _>(g, "ringflow try+spin", RingflowTry, capacity, items, cores);
    bench_spsc_impl::<P, _>(g, "rtrb try+spin", Rtrb, capacity, items, cores);
    bench_spsc_impl::<P, _>(g, "ArrayQueue try+spin", ArrayQueueSpin, capacity, items, cores);
    bench_spsc_impl::<P, _>(g, "crossbeam-channel", CrossbeamChannel, capacity, items, cores);
    bench_spsc_impl::<P, _>(g, "flume", Flume, capacity, items, cores);
    bench_spsc_impl::<P, _>(g, "kanal", Kanal, capacity, items, cores);
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>, items: u64) {
    g.throughput(Throughput::Elements(items));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
}

fn spsc(c: &mut Criterion) {
    let cores = cores();
    for capacity in [1024, 2] {
        fn group<P: Payload>(c: &mut Criterion, capacity: usize, cores: (CoreId, CoreId)) {
            let mut g = c.benchmark_group(format!("spsc_cap{capacity}_{}B", P::BYTES));
            configure(&mut g, ITEMS);
            spsc_rows::<P>(&mut g, capacity, ITEMS, cores);
            g.finish();
        }
        group::<[u64; 1]>(c, capacity, cores);
        group::<[u64; 8]>(c, capacity, cores);
        group::<[u64; 32]>(c, capacity, cores);
    }
}

/// The cost of the congestion signal on one ring: the same blocking
/// transfer (`transfer(strategy, watermarks, items, cores)`) without and with
/// watermarks (low 256, high 768 of 1024), nobody reacting to the signal.
/// Stats are always on, so the "without" rows are also the fast path with
/// counters compiled in.
fn watermark_rows(
    c: &mut Criterion,
    group: &str,
    transfer: impl Fn(WaitStrategy, Option<(usize, usize)>, u64, (CoreId, CoreId)) -> Duration,
) {
    let cores = cores();
    let mut g = c.benchmark_group(group);
    configure(&mut g, ITEMS);
    for s in [WaitStrategy::BusySpin, WaitStrategy::Park] {
        for (label, marks) in [("no watermarks", None), ("watermarks 256/768", Some((256, 768)))] {
            let name = format!("ringflow {s:?} {label}");
            g.bench_function(BenchmarkId::from_parameter(&name), |b| {
                b.iter_custom(|iters| transfer(s, marks, iters * ITEMS, cores));
            });
        }
    }
    g.finish();
}

fn spsc_watermarks(c: &mut Criterion) {
    watermark_rows(c, "spsc_watermarks_cap1024_8B", |s, marks, items, cores| {
        spsc_transfer::<[u64; 1], _>(RingflowBlocking(s, marks), 1024, items, cores)
    });
}

fn spsc_one_core(c: &mut Criterion) {
    let (a, _) = cores();
    let mut g = c.benchmark_group("spsc_one_core_cap1024_8B");
    configure(&mut g, ITEMS_ONE_CORE);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    spsc_rows::<[u64; 1]>(&mut g, 1024, ITEMS_ONE_CORE, (a, a));
    g.finish();
}

fn spsc_batch(c: &mut Criterion) {
    let cores = cores();
    let mut g = c.benchmark_group("spsc_batch64_cap1024_8B");
    configure(&mut g, ITEMS);
    let rows: [(&str, BatchRun); 4] = [
        ("ringflow write_chunk_uninit+read_chunk", batch_ringflow_chunks),
        ("ringflow send_slice+recv_into", batch_ringflow_slices),
        ("rtrb write_chunk_uninit+read_chunk", batch_rtrb_chunks),
        ("ringflow mpmc try_send_many+try_recv_many", batch_ringflow_mpmc_many),
    ];
    for (name, f) in rows {
        g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter_custom(|iters| f(iters * ITEMS, cores)));
    }
    // One-at-a-time references in the same group, for the batch speed-up.
    bench_spsc_impl::<[u64; 1], _>(&mut g, "ringflow try+spin (one at a time)", RingflowTry, 1024, ITEMS, cores);
    bench_spsc_impl::<[u64; 1], _>(&mut g, "rtrb try+spin (one at a time)", Rtrb, 1024, ITEMS, cores);
    g.finish();
}

fn mpmc(c: &mut Criterion) {
    let cores = cores();
    for (producers, consumers) in [(1, 1), (2, 2), (4, 4)] {
        let mut g = c.benchmark_group(format!("mpmc_{producers}p{consumers}c_cap1024_8B"));
        configure(&mut g, ITEMS);
        if producers + consumers > 2 {
            g.sample_size(10);
        }
        fn row<Q: Mpmc>(
            g: &mut BenchmarkGroup<'_, WallTime>,
            name: &str,
            q: Q,
            pc: (usize, usize),
            cores: (CoreId, CoreId),
        ) {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| mpmc_transfer(q, pc.0, pc.1, iters * ITEMS, cores).0);
            });
        }
        let pc = (producers, consumers);
        for s in [WaitStrategy::BusySpin, WaitStrategy::SpinYield, WaitStrategy::Park] {
            row(&mut g, &format!("ringflow {s:?}"), RingflowMpmc(s, None), pc, cores);
        }
        row(&mut g, "ringflow try+backoff", RingflowMpmcTry, pc, cores);
        row(&mut g, "ArrayQueue try+backoff", ArrayQueueBackoff, pc, cores);
        row(&mut g, "crossbeam-channel", CrossbeamChannel, pc, cores);
        row(&mut g, "flume", Flume, pc, cores);
        row(&mut g, "kanal", Kanal, pc, cores);
        g.finish();
    }
}

/// The MPMC ring, 1P1C.
fn mpmc_watermarks(c: &mut Criterion) {
    watermark_rows(c, "mpmc_watermarks_cap1024_8B", |s, marks, items, cores| {
        mpmc_transfer(RingflowMpmc(s, marks), 1, 1, items, cores).0
    });
}

criterion_group!(benches, spsc, spsc_watermarks, spsc_one_core, spsc_batch, mpmc, mpmc_watermarks);
criterion_main!(benches);
