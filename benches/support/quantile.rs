//! Percentiles on a coarse clock: the step of the clock behind the samples
//! ([`step_of`]) and percentiles read between its ticks
//! ([`quantile_within_step`]).
//!
//! Pure functions of their inputs (no clock is read here), so that
//! `tests/bench_quantile.rs` checks them on made-up clocks; the latency
//! bench measures its clock and calls them.
//!
//! Why: on the AMD VMs the time stamp counter behind `Instant` advances 26
//! cycles (10 ns) at a time (Zen 4 VM, 2026-12-08), so every timed round
//! trip is a multiple of 10 ns, and a ring's p50 over a ~120 ns floor
//! could read only 1.00×, 1.08× or 1.17× of it, where #11's goal is 1.1×.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// A clock step below this is treated as a clock that resolves single
/// nanoseconds: percentiles are then the histogram's own.
pub const FINE_STEP_NS: f64 = 1.5;

/// The step of a clock, in ns, from the lengths of many timed intervals of
/// varied length (`intervals`: length in ns → how many). 1.0 if the clock
/// resolves nanoseconds.
///
/// Only lengths seen in at least 0.05 % of the intervals count. A fine
/// clock gives (nearly) every length of their range; a coarse one only the
/// lengths near a multiple of its step, each tick count showing as a run
/// of one or two consecutive nanoseconds (its conversion to ns rounds: 12
/// ticks of 10.015 ns read 120 or 121). If fewer than half the nanoseconds
/// of the range are seen, the step is the median distance between the
/// count-weighted centres of neighbouring runs; otherwise 1.
pub fn step_of(intervals: &BTreeMap<u64, u32>) -> f64 {
    let total: u64 = intervals.values().map(|&c| u64::from(c)).sum();
    let frequent: Vec<(u64, u32)> =
        intervals.iter().map(|(&v, &c)| (v, c)).filter(|&(_, c)| u64::from(c) * 2000 >= total).collect();
    let (Some(first), Some(last)) = (frequent.first(), frequent.last()) else {
        return 1.0;
    };
    // A fine clock fills its range (a missing value or two make runs too,
    // but most values are seen); a coarse one leaves most of it empty.
    let span = last.0 - first.0 + 1;
    if frequent.len() as u64 * 2 > span {
        return 1.0;
    }
    let mut centres: Vec<f64> = Vec::new();
    let mut i = 0;
    while i < frequent.len() {
        let (mut sum, mut n) = (0.0, 0.0);
        let mut j = i;
        while j < frequent.len() && (j == i || frequent[j].0 == frequent[j - 1].0 + 1) {
            sum += frequent[j].0 as f64 * f64::from(frequent[j].1);
            n += f64::from(frequent[j].1);
            j += 1;
        }
        centres.push(sum / n);
        i = j;
    }
    if centres.len() < 3 {
        return 1.0;
    }
    let mut gaps: Vec<f64> = centres.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    gaps[gaps.len() / 2].max(1.0)
}

/// The quantile `q` of `h`, read between the clock's ticks when the clock
/// steps coarsely (`step` ns, at least [`FINE_STEP_NS`]); the histogram's
/// own quantile otherwise.
///
/// A clock that moves in steps of `step` ns reports an interval of `d` ns
/// as `floor(d / step)` or `ceil(d / step)` steps, the latter with
/// probability `frac(d / step)` (the start falls anywhere within a tick),
/// so a sample stands for anything within half a step of its value. This
/// spreads each tick's count evenly over that width and reads the quantile
/// from the resulting cumulative curve (the grouped-data median). Values
/// that round to the same tick count (120 and 121 for 12 ticks of 10.015
/// ns) are one group. It reads a p50 closely; a narrow tail it reads a few
/// ns wide (the spreading widens it).
pub fn quantile_within_step(h: &Histogram<u64>, q: f64, step: f64) -> f64 {
    if step < FINE_STEP_NS {
        return h.value_at_quantile(q) as f64;
    }
    let rank = q * h.len() as f64;
    let mut below = 0u64;
    // Where `rank` falls in tick `t`'s `c` samples, spread over its step
    // (the fraction is at most 1 for every group but the last, which takes
    // whatever rounding leaves past the end).
    let within = |t: f64, below: u64, c: u64| (t - 0.5) * step + ((rank - below as f64) / c as f64).min(1.0) * step;
    // (tick, samples) of the group being summed, in ascending order.
    let mut group: Option<(f64, u64)> = None;
    for rec in h.iter_recorded() {
        let tick = (rec.value_iterated_to() as f64 / step).round();
        let n = rec.count_at_value();
        match &mut group {
            Some((t, c)) if *t == tick => *c += n,
            _ => {
                if let Some((t, c)) = group {
                    if (below + c) as f64 >= rank {
                        return within(t, below, c);
                    }
                    below += c;
                }
                group = Some((tick, n));
            }
        }
    }
    group.map_or(0.0, |(t, c)| within(t, below, c))
}
