//! Retries with backoff, a dead-letter queue, and an idempotent consumer.
//!
//! A dispatcher feeds jobs to a pool of workers through an MPMC ring. Jobs
//! fail deterministically-pseudo-randomly (a few are "poison" and always
//! fail). A failed job goes back to the dispatcher, which re-enqueues it
//! after an exponential backoff, up to `MAX_ATTEMPTS`; then the worker moves
//! it to a dead-letter queue instead. Delivery is at-least-once: the
//! dispatcher sometimes delivers a message twice (a lost ack, say), so the
//! workers dedupe by job id and attempt — one atomic claim per (id, attempt).
//!
//! Deadlock-freedom with bounded queues: workers never wait on the main
//! ring; the dispatcher never blocks on it either (`try_send`, and it keeps
//! draining the retry ring while the main ring is full), so a full ring can
//! always drain.
//!
//! The report asserts every job was done exactly once or dead-lettered, and
//! none was lost. `cargo run --release --example retry_dlq [-- --quick]`

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ringflow::{mpmc, TrySendError};

const WORKERS: usize = 3;
const MAX_ATTEMPTS: u32 = 4;
const BACKOFF: Duration = Duration::from_millis(1); // 1, 2, 4 ms between attempts
const WORK: Duration = Duration::from_micros(20);

#[derive(Clone, Copy, Debug)]
struct Msg {
    id: usize,
    attempt: u32, // 1-based
}

/// Per-job state: `attempts_started * 4 + phase`.
const WAITING: u32 = 0;
const RUNNING: u32 = 1;
const DONE: u32 = 2;
const DEAD: u32 = 3;

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Does attempt `attempt` of job `id` fail? 3% of jobs always fail; the
/// rest fail 30% of the time.
fn fails(id: usize, attempt: u32) -> bool {
    mix(id as u64) % 100 < 3 || mix((id as u64) << 8 | attempt as u64) % 100 < 30
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let jobs = if quick { 3_000 } else { 40_000 };
    let state: Arc<Vec<AtomicU32>> = Arc::new((0..jobs).map(|_| AtomicU32::new(0)).collect());
    let effects: Arc<Vec<AtomicU32>> = Arc::new((0..jobs).map(|_| AtomicU32::new(0)).collect());
    let finished = Arc::new(AtomicUsize::new(0));
    let skipped = Arc::new(AtomicU64::new(0));

    let (work_tx, work_rx) = mpmc::channel::<Msg>(64);
    let (retry_tx, retry_rx) = mpmc::channel::<Msg>(64);
    let (dlq_tx, dlq_rx) = mpmc::channel::<Msg>(16);
    let started = Instant::now();

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (rx, retry, dlq) = (work_rx.clone(), retry_tx.clone(), dlq_tx.clone());
            let (state, effects, finished, skipped) =
                (state.clone(), effects.clone(), finished.clone(), skipped.clone());
            thread::spawn(move || {
                for msg in rx.iter() {
                    let s = &state[msg.id];
                    // Claim (id, attempt) exactly once: a duplicate, or a stale
                    // copy of an attempt that already ran, fails this CAS.
                    let claim = s.compare_exchange(
                        (msg.attempt - 1) * 4 + WAITING,
                        msg.attempt * 4 + RUNNING,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    if claim.is_err() {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let until = Instant::now() + WORK;
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    if !fails(msg.id, msg.attempt) {
                        effects[msg.id].fetch_add(1, Ordering::Relaxed); // the side effect
                        s.store(msg.attempt * 4 + DONE, Ordering::Release);
                        finished.fetch_add(1, Ordering::AcqRel);
                    } else if msg.attempt == MAX_ATTEMPTS {
                        s.store(msg.attempt * 4 + DEAD, Ordering::Release);
                        dlq.send(msg).unwrap();
                        finished.fetch_add(1, Ordering::AcqRel);
                    } else {
                        s.store(msg.attempt * 4 + WAITING, Ordering::Release);
                        retry.send(Msg { attempt: msg.attempt + 1, ..msg }).unwrap();
                    }
                }
            })
        })
        .collect();
    drop((work_rx, retry_tx, dlq_tx));
    let dead_letters = thread::spawn(move || dlq_rx.iter().collect::<Vec<_>>());

    // The dispatcher: fresh jobs, due retries, and some duplicate deliveries.
    let (mut next_job, mut duplicates, mut retries) = (0usize, 0u64, 0u64);
    let mut delayed: BinaryHeap<Reverse<(Instant, usize, u32)>> = BinaryHeap::new();
    let mut outbox: Option<Msg> = None;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    while finished.load(Ordering::Acquire) < jobs {
        while let Ok(m) = retry_rx.try_recv() {
            retries += 1;
            let backoff = BACKOFF * 2u32.pow(m.attempt - 2);
            delayed.push(Reverse((Instant::now() + backoff, m.id, m.attempt)));
        }
        if outbox.is_none() {
            outbox = match delayed.peek() {
                Some(Reverse((due, ..))) if *due <= Instant::now() => {
                    let Reverse((_, id, attempt)) = delayed.pop().unwrap();
                    Some(Msg { id, attempt })
                }
                _ if next_job < jobs => {
                    next_job += 1;
                    Some(Msg { id: next_job - 1, attempt: 1 })
                }
                _ => None,
            };
        }
        match outbox.take().map(|m| (m, work_tx.try_send(m))) {
            Some((m, Ok(()))) => {
                rng = mix(rng);
                if rng % 100 < 5 && work_tx.try_send(m).is_ok() {
                    duplicates += 1; // at-least-once: delivered again
                }
            }
            Some((_, Err(TrySendError::Full(m)))) => {
                outbox = Some(m); // keep it; keep draining retries meanwhile
                thread::yield_now();
            }
            Some((_, Err(TrySendError::Disconnected(_)))) => unreachable!("workers outlive the dispatcher"),
            None => thread::sleep(Duration::from_micros(200)), // only backoffs pending
        }
    }
    let elapsed = started.elapsed();
    let stats = work_tx.stats();
    drop(work_tx); // workers drain what is left (duplicates only) and stop
    for w in workers {
        w.join().unwrap();
    }
    let dead = dead_letters.join().unwrap();

    // The ledger: every job done exactly once or dead-lettered; none lost.
    let mut by_attempts = [0usize; MAX_ATTEMPTS as usize + 1];
    let (mut done, mut dead_count) = (0, 0);
    for id in 0..jobs {
        let s = state[id].load(Ordering::Acquire);
        let (attempts, phase) = (s / 4, s % 4);
        match phase {
            DONE => {
                assert_eq!(effects[id].load(Ordering::Relaxed), 1, "job {id} done more than once");
                by_attempts[attempts as usize] += 1;
                done += 1;
            }
            DEAD => {
                assert_eq!(effects[id].load(Ordering::Relaxed), 0, "dead job {id} had an effect");
                assert_eq!(attempts, MAX_ATTEMPTS);
                dead_count += 1;
            }
            _ => panic!("job {id} lost: state {s:#x}"),
        }
    }
    let mut dead_ids: Vec<usize> = dead.iter().map(|m| m.id).collect();
    dead_ids.sort_unstable();
    dead_ids.dedup();
    assert_eq!(dead_ids.len(), dead.len(), "a job was dead-lettered twice");
    assert_eq!(dead.len(), dead_count);
    assert_eq!(done + dead_count, jobs);
    assert_eq!(skipped.load(Ordering::Relaxed), duplicates, "every duplicate was recognised and skipped");

    println!("{jobs} jobs, {WORKERS} workers, max {MAX_ATTEMPTS} attempts, backoff {BACKOFF:?} x2^n, in {elapsed:.2?}");
    for (a, n) in by_attempts.iter().enumerate().skip(1) {
        println!("  done on attempt {a}: {n:>6}");
    }
    println!("  dead-lettered:     {dead_count:>6}  (after {MAX_ATTEMPTS} failed attempts each)");
    println!("  retries enqueued:  {retries:>6}");
    println!(
        "  duplicate deliveries: {duplicates}, skipped by the idempotent workers: {}",
        skipped.load(Ordering::Relaxed)
    );
    println!(
        "  work ring: {} waits for room, {} for items, {} parks, {} wake-ups",
        stats.send_waits, stats.recv_waits, stats.parks, stats.wakeups
    );
    println!("check: {done} done exactly once + {dead_count} dead-lettered = {jobs} jobs, none lost");
}
