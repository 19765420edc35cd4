//! Pushes items through an SPSC ring between two threads and prints the
//! throughput of each wait strategy next to rtrb's. A quick look only: the
//! threads are not pinned; `cargo bench --bench targets` measures the
//! performance targets properly (pinned, interleaved, ratios per round).
//!
//! `cargo run --release --example throughput [-- --quick]`

use std::time::Instant;

use ringflow::{Builder, WaitStrategy};

fn ringflow_run(strategy: WaitStrategy, items: u64, cap: usize) -> f64 {
    let (mut tx, mut rx) = Builder::new(cap).wait_strategy(strategy).spsc::<u64>();
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        for i in 0..items {
            tx.send(i).unwrap();
        }
    });
    let mut sum = 0u64;
    for _ in 0..items {
        sum = sum.wrapping_add(rx.recv().unwrap());
    }
    producer.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sum, items * (items - 1) / 2);
    items as f64 / secs / 1e6
}

fn rtrb_run(items: u64, cap: usize) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(cap);
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        for i in 0..items {
            let mut v = i;
            loop {
                match tx.push(v) {
                    Ok(()) => break,
                    Err(rtrb::PushError::Full(back)) => {
                        v = back;
                        std::hint::spin_loop();
                    }
                }
            }
        }
    });
    let mut sum = 0u64;
    let mut got = 0;
    while got < items {
        match rx.pop() {
            Ok(v) => {
                sum = sum.wrapping_add(v);
                got += 1;
            }
            Err(_) => std::hint::spin_loop(),
        }
    }
    producer.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sum, items * (items - 1) / 2);
    items as f64 / secs / 1e6
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (items, rounds) = if quick { (1_000_000, 3) } else { (10_000_000, 7) };
    let cap = 1024;
    let names = ["ringflow BusySpin", "ringflow SpinYield", "ringflow Park", "rtrb (spin)"];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        // Interleaved: every implementation once per round.
        let r = [
            ringflow_run(WaitStrategy::BusySpin, items, cap),
            ringflow_run(WaitStrategy::SpinYield, items, cap),
            ringflow_run(WaitStrategy::Park, items, cap),
            rtrb_run(items, cap),
        ];
        ratios.push(r[0] / r[3]);
        for (i, x) in r.iter().enumerate() {
            results[i].push(*x);
        }
    }
    println!("SPSC u64, capacity {cap}, {items} items per run, {rounds} interleaved rounds (median M items/s):");
    for (name, r) in names.iter().zip(results.iter_mut()) {
        let lo = r.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = r.iter().cloned().fold(0.0, f64::max);
        println!("  {name:<20} {:>8.1}   (min {lo:.1}, max {hi:.1})", median(r));
    }
    println!("  ringflow BusySpin / rtrb, median of per-round ratios: {:.2}x", median(&mut ratios));
}
