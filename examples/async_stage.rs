//! An async service stage between two blocking threads.
//!
//! ```text
//!   ingest thread ──ringflow mpmc──▶ tokio task pool ──ringflow mpmc──▶ egress thread
//!   (blocking send)  (backpressure)   (recv_async / send_async)          (blocking recv)
//! ```
//!
//! The ingest thread produces requests faster than the pool can serve them,
//! so the first ring fills and its blocking `send` waits: backpressure
//! reaches the producer through the ring, with no unbounded buffer anywhere.
//! The tasks wait without blocking their worker threads (`recv_async` /
//! `send_async`), and the same channels serve blocking threads on the other
//! side. Run with `--quick` for a short run (CI does).
//!
//! ```sh
//! cargo run --release --example async_stage -- --quick
//! ```

use std::thread;
use std::time::{Duration, Instant};

use ringflow::{Builder, WaitStrategy};

/// A request: an id and how much (simulated) async work it needs.
struct Request {
    id: u64,
    work_us: u64,
}

/// A response: the id and which task served it.
struct Response {
    id: u64,
    task: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let requests: u64 = if quick { 4_000 } else { 100_000 };
    let tasks = 16;
    let capacity = 64;

    let (req_tx, req_rx) = Builder::new(capacity).wait_strategy(WaitStrategy::Park).mpmc::<Request>();
    let (resp_tx, resp_rx) = Builder::new(capacity).wait_strategy(WaitStrategy::Park).mpmc::<Response>();
    let start = Instant::now();

    // Ingest: a plain thread, as a socket reader or a file tailer would be.
    let ingest = thread::spawn(move || {
        let mut max_len = 0;
        for id in 0..requests {
            max_len = max_len.max(req_tx.len());
            // Blocks while the ring is full: the pool sets the pace.
            req_tx.send(Request { id, work_us: 20 + id % 5 * 20 }).expect("the pool is running");
        }
        (max_len, req_tx.stats())
    });

    // Egress: a plain thread that drains responses.
    let egress = thread::spawn(move || {
        let mut served = vec![0u64; tasks];
        let mut sum = 0u64;
        for r in resp_rx.iter() {
            served[r.task] += 1;
            sum += r.id;
        }
        (served, sum)
    });

    // The async stage: a 2-worker tokio runtime and a pool of tasks.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    rt.block_on(async {
        let mut pool = Vec::new();
        for task in 0..tasks {
            let (rx, tx) = (req_rx.clone(), resp_tx.clone());
            pool.push(tokio::spawn(async move {
                // Ends when the ingest thread is done and the ring is drained.
                while let Ok(req) = rx.recv_async().await {
                    tokio::time::sleep(Duration::from_micros(req.work_us)).await; // the async work
                    tx.send_async(Response { id: req.id, task }).await.expect("egress is running");
                }
            }));
        }
        drop((req_rx, resp_tx));
        for t in pool {
            t.await.unwrap();
        }
    });

    let (max_len, ingest_stats) = ingest.join().unwrap();
    let (served, sum) = egress.join().unwrap();
    let elapsed = start.elapsed();
    let total: u64 = served.iter().sum();
    assert_eq!(total, requests, "every request served exactly once");
    assert_eq!(sum, requests * (requests - 1) / 2);
    println!("async_stage: {requests} requests, {tasks} tasks on 2 tokio workers, rings of {capacity}");
    println!(
        "  served in {:.2?} ({:.0} req/s); per task min {} max {}",
        elapsed,
        requests as f64 / elapsed.as_secs_f64(),
        served.iter().min().unwrap(),
        served.iter().max().unwrap()
    );
    println!(
        "  backpressure: the request ring reached {max_len}/{capacity}; {} ingest sends had to wait; \
         {} sleeps on that ring (the ingest thread parking, idle tasks registering)",
        ingest_stats.send_waits, ingest_stats.parks
    );
}
