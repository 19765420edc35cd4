//! The latency bench's percentiles on a coarse clock
//! (`benches/support/quantile.rs`, compiled here through `#[path]`): the
//! clock's step found from made-up interval lengths, and percentiles read
//! between ticks from samples quantised as such a clock quantises them.

#[path = "../benches/support/quantile.rs"]
mod quantile;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use quantile::{quantile_within_step, step_of};

mod common;
use common::Rng;

/// An interval of `d` ns as a clock of `step` ns reads it (rounded to
/// whole ns), started at a random phase of the clock's tick.
fn clock_reading(d: f64, step: f64, rng: &mut Rng) -> u64 {
    let phase = step * unit(rng);
    let ticks = ((phase + d) / step).floor() - (phase / step).floor();
    (ticks * step).round() as u64
}

/// Interval lengths as a clock of `step` ns reads them: true lengths
/// spread evenly over `lo..hi` ns.
fn read_by_clock(step: f64, lo: f64, hi: f64, n: usize, rng: &mut Rng) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let d = lo + (hi - lo) * unit(rng);
        *seen.entry(clock_reading(d, step, rng)).or_insert(0) += 1;
    }
    seen
}

/// A uniform draw in `[0, 1)`.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn step_of_a_fine_clock_is_one() {
    let mut rng = Rng::new(1);
    let seen = read_by_clock(1.0, 20.0, 280.0, 100_000, &mut rng);
    assert_eq!(step_of(&seen), 1.0);
    // A fine clock with a few lengths never seen is still fine.
    let mut holes = seen.clone();
    for v in [57, 90, 91, 150, 200] {
        holes.remove(&v);
    }
    assert_eq!(step_of(&holes), 1.0);
}

#[test]
fn step_of_a_coarse_clock_is_its_step() {
    let mut rng = Rng::new(2);
    // The Zen 4 VM's: 26 cycles of 2.596 GHz.
    for step in [10.015, 4.0, 25.0] {
        let seen = read_by_clock(step, 20.0, 280.0, 100_000, &mut rng);
        let found = step_of(&seen);
        assert!((found - step).abs() < 0.2, "step {step}: found {found}");
    }
}

#[test]
fn step_of_too_little_is_one() {
    assert_eq!(step_of(&BTreeMap::new()), 1.0);
    // Two tick counts only: no distance between runs to trust.
    let seen = BTreeMap::from([(20, 500), (30, 500)]);
    assert_eq!(step_of(&seen), 1.0);
}

/// Round trips drawn from a normal distribution (Box–Muller), read by a
/// clock of `step` ns with a random phase, into a histogram as the bench
/// records them; returns the histogram and the true sorted lengths.
fn quantised_normal(mean: f64, sd: f64, step: f64, n: usize, rng: &mut Rng) -> (Histogram<u64>, Vec<f64>) {
    let mut h = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3).unwrap();
    let mut truth = Vec::with_capacity(n);
    for _ in 0..n {
        let (u1, u2) = (unit(rng).max(1e-12), unit(rng));
        let d = mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        h.record(clock_reading(d, step, rng).max(1)).unwrap();
        truth.push(d);
    }
    truth.sort_by(f64::total_cmp);
    (h, truth)
}

#[test]
fn p50_is_read_between_ticks() {
    let mut rng = Rng::new(3);
    let step = 10.015;
    for (mean, sd) in [(125.0, 8.0), (133.0, 5.0), (121.0, 20.0), (146.0, 4.0)] {
        let (h, truth) = quantised_normal(mean, sd, step, 200_000, &mut rng);
        let true_p50 = truth[truth.len() / 2];
        let read = quantile_within_step(&h, 0.5, step);
        assert!((read - true_p50).abs() < 1.0, "mean {mean} sd {sd}: p50 {true_p50:.1}, read {read:.1}");
        // The raw histogram can only say a multiple of the step (±1 of
        // rounding): the reason for reading between ticks.
        let raw = h.value_at_quantile(0.5) as f64;
        assert!((raw / step - (raw / step).round()).abs() * step <= 1.0, "raw p50 {raw} is not on a tick");
    }
}

#[test]
fn tail_quantiles_stay_within_a_step() {
    let mut rng = Rng::new(4);
    let step = 10.015;
    let (h, truth) = quantised_normal(130.0, 10.0, step, 200_000, &mut rng);
    for q in [0.9, 0.99, 0.999] {
        let t = truth[(q * truth.len() as f64) as usize];
        let read = quantile_within_step(&h, q, step);
        assert!((read - t).abs() < step, "q {q}: true {t:.1}, read {read:.1}");
    }
    // Monotone in q.
    let qs: Vec<f64> = [0.1, 0.5, 0.9, 0.99, 0.9999, 1.0].iter().map(|&q| quantile_within_step(&h, q, step)).collect();
    assert!(qs.windows(2).all(|w| w[0] <= w[1]), "{qs:?}");
}

#[test]
fn a_fine_step_reads_the_histogram_itself() {
    let mut h = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3).unwrap();
    for v in [100, 101, 103, 107, 120, 140, 200] {
        h.record(v).unwrap();
    }
    for q in [0.0, 0.3, 0.5, 0.9, 1.0] {
        assert_eq!(quantile_within_step(&h, q, 1.0), h.value_at_quantile(q) as f64);
    }
}

#[test]
fn an_empty_histogram_reads_zero() {
    let h = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3).unwrap();
    assert_eq!(quantile_within_step(&h, 0.5, 10.0), 0.0);
}
