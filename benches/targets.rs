//! The throughput targets of the performance issue, measured the way they
//! are stated: every configuration once per round, rounds interleaved (the
//! order rotates each round), each ratio taken *within* a round, then the
//! median across rounds, with the spread. This VM's vCPUs move and SPSC
//! throughput between two cores is bimodal here, so a single run of one
//! configuration says little; a ratio of two runs made seconds apart says
//! more, and the median of seven such ratios more again.
//!
//! `cargo bench --bench targets [-- --quick] [--rounds N] [--items N] [FILTER]`
//!
//! A `FILTER` keeps the rows whose name contains it (e.g. `SPSC`,
//! `watermarks`, `2P2C`); targets with a row filtered out are skipped.
//!
//! Rows use the adapters of `support/` (the same code the criterion groups
//! in `throughput.rs` time). Also measured: the cost of the congestion
//! signal — the same blocking transfer with and without watermarks
//! (low 256, high 768 of 1024), nobody reacting to the signal.
//!
//! Results go to `target/ringflow/` through the results model the latency
//! bench uses (`support/output.rs`): `targets-rounds.csv` (every run),
//! `targets-summary.csv` and `targets.json` (machine banner, settings, the
//! median and spread of each row).

mod support;

use std::time::Duration;

use core_affinity::CoreId;
use ringflow::WaitStrategy::{self, BusySpin, Park};
use support::*;

const CAP: usize = 1024;
const MARKS: Option<(usize, usize)> = Some((256, 768));

/// One configuration: a name and how to run it for `items` items.
struct Row {
    name: String,
    /// Items per run relative to the default (one-core rows move fewer).
    scale: f64,
    run: Box<dyn Fn(u64, (CoreId, CoreId)) -> Duration>,
}

fn row(name: &str, scale: f64, run: impl Fn(u64, (CoreId, CoreId)) -> Duration + 'static) -> Row {
    Row { name: name.to_string(), scale, run: Box::new(run) }
}

fn spsc<Q: Spsc<[u64; 1]>>(name: &str, q: Q) -> Row {
    row(name, 1.0, move |n, c| spsc_transfer::<[u64; 1], Q>(q, CAP, n, c))
}

fn spsc_one_core<Q: Spsc<[u64; 1]>>(name: &str, q: Q) -> Row {
    row(name, 0.25, move |n, c| spsc_transfer::<[u64; 1], Q>(q, CAP, n, (c.0, c.0)))
}

fn mpmc<Q: Mpmc>(name: &str, q: Q, p: usize, c: usize) -> Row {
    row(name, 1.0, move |n, cores| mpmc_transfer(q, p, c, n, cores))
}

fn strategy_name(s: WaitStrategy) -> String {
    format!("{s:?}")
}

fn rows() -> Vec<Row> {
    let mut r = vec![
        spsc("SPSC ringflow try+spin", RingflowTry),
        spsc("SPSC rtrb try+spin", Rtrb),
        row("SPSC batch64 ringflow chunks", 4.0, batch_ringflow_chunks),
        row("SPSC batch64 rtrb chunks", 4.0, batch_rtrb_chunks),
    ];
    for s in [BusySpin, Park] {
        r.push(spsc(&format!("SPSC ringflow {}", strategy_name(s)), RingflowBlocking(s, None)));
    }
    r.push(spsc("SPSC crossbeam-channel", CrossbeamChannel));
    r.push(spsc_one_core("SPSC one core ringflow Park", RingflowBlocking(Park, None)));
    r.push(spsc_one_core("SPSC one core kanal", Kanal));
    r.push(spsc_one_core("SPSC one core crossbeam-channel", CrossbeamChannel));
    for (p, c) in [(1, 1), (2, 2)] {
        r.push(mpmc(&format!("MPMC {p}P{c}C ringflow try+backoff"), RingflowMpmcTry, p, c));
        r.push(mpmc(&format!("MPMC {p}P{c}C ArrayQueue try+backoff"), ArrayQueueBackoff, p, c));
    }
    r.push(mpmc("MPMC 4P4C ringflow Park", RingflowMpmc(Park, None), 4, 4));
    r.push(mpmc("MPMC 4P4C crossbeam-channel", CrossbeamChannel, 4, 4));
    for s in [BusySpin, Park] {
        let n = strategy_name(s);
        r.push(spsc(&format!("SPSC ringflow {n} + watermarks"), RingflowBlocking(s, MARKS)));
        r.push(mpmc(&format!("MPMC 1P1C ringflow {n}"), RingflowMpmc(s, None), 1, 1));
        r.push(mpmc(&format!("MPMC 1P1C ringflow {n} + watermarks"), RingflowMpmc(s, MARKS), 1, 1));
    }
    r
}

/// A target: `num / den` (or `num / max(dens)`) per round, against `goal`.
struct Target {
    what: &'static str,
    num: &'static str,
    dens: &'static [&'static str],
    goal: Option<f64>,
}

const TARGETS: &[Target] = &[
    Target {
        what: "SPSC try+spin vs rtrb",
        num: "SPSC ringflow try+spin",
        dens: &["SPSC rtrb try+spin"],
        goal: Some(1.3),
    },
    Target {
        what: "SPSC batch of 64 vs rtrb chunks",
        num: "SPSC batch64 ringflow chunks",
        dens: &["SPSC batch64 rtrb chunks"],
        goal: Some(1.2),
    },
    Target {
        what: "SPSC Park vs crossbeam-channel",
        num: "SPSC ringflow Park",
        dens: &["SPSC crossbeam-channel"],
        goal: Some(2.0),
    },
    Target {
        what: "SPSC Park vs own BusySpin",
        num: "SPSC ringflow Park",
        dens: &["SPSC ringflow BusySpin"],
        goal: Some(0.7),
    },
    Target {
        what: "one core Park vs best blocking peer",
        num: "SPSC one core ringflow Park",
        dens: &["SPSC one core kanal", "SPSC one core crossbeam-channel"],
        goal: Some(1.0),
    },
    Target {
        what: "MPMC 1P1C vs ArrayQueue",
        num: "MPMC 1P1C ringflow try+backoff",
        dens: &["MPMC 1P1C ArrayQueue try+backoff"],
        goal: Some(1.25),
    },
    Target {
        what: "MPMC 2P2C vs ArrayQueue",
        num: "MPMC 2P2C ringflow try+backoff",
        dens: &["MPMC 2P2C ArrayQueue try+backoff"],
        goal: Some(1.25),
    },
    Target {
        what: "MPMC 4P4C Park vs crossbeam-channel",
        num: "MPMC 4P4C ringflow Park",
        dens: &["MPMC 4P4C crossbeam-channel"],
        goal: Some(1.5),
    },
    Target {
        what: "watermarks cost, SPSC BusySpin",
        num: "SPSC ringflow BusySpin + watermarks",
        dens: &["SPSC ringflow BusySpin"],
        goal: None,
    },
    Target {
        what: "watermarks cost, SPSC Park",
        num: "SPSC ringflow Park + watermarks",
        dens: &["SPSC ringflow Park"],
        goal: None,
    },
    Target {
        what: "watermarks cost, MPMC BusySpin",
        num: "MPMC 1P1C ringflow BusySpin + watermarks",
        dens: &["MPMC 1P1C ringflow BusySpin"],
        goal: None,
    },
    Target {
        what: "watermarks cost, MPMC Park",
        num: "MPMC 1P1C ringflow Park + watermarks",
        dens: &["MPMC 1P1C ringflow Park"],
        goal: None,
    },
];

/// What every run records: its rate.
const METRICS: Metrics = Metrics { scenario: "throughput", unit: "M items/s", columns: &["rate"] };

fn arg_value(args: &[String], flag: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == flag)?;
    Some(args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{flag} takes a number")))
}

fn main() {
    // `cargo bench` passes `--bench`; ignore what we do not know.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = arg_value(&args, "--rounds").unwrap_or(if quick { 3 } else { 7 }) as usize;
    let items = arg_value(&args, "--items").unwrap_or(if quick { 200_000 } else { 2_000_000 });
    assert!(rounds >= 1 && items >= 1000, "need at least one round and 1000 items");
    let filter = args.iter().enumerate().find(|&(i, a)| {
        !a.starts_with("--") && !matches!(i.checked_sub(1).map(|j| args[j].as_str()), Some("--rounds" | "--items"))
    });
    let cores = cores();
    let mut rows = rows();
    if let Some((_, f)) = filter {
        rows.retain(|r| r.name.contains(f.as_str()));
        assert!(!rows.is_empty(), "no configuration matches {f:?}");
    }
    let start = std::time::Instant::now();
    let settings = format!(
        "{rounds} interleaved rounds (order rotated), {items} items per run \
         (one-core rows 1/4, batch rows 4x), capacity {CAP}, threads pinned to cores {} and {}",
        cores.0.id, cores.1.id
    );
    println!("ringflow throughput targets: {settings}");
    // Warm-up: every row once, discarded. Then every row once per round,
    // the order moving three places a round.
    let mut runs: Vec<Vec<Run>> = rows.iter().map(|_| Vec::with_capacity(rounds)).collect();
    let schedule = Rounds { rounds, rotate_by: 3, label: "targets".into() };
    schedule.run(
        rows.len(),
        |i| {
            (rows[i].run)(((items as f64 * rows[i].scale) as u64 / 4).max(1000), cores);
        },
        |i, round, position| {
            let n = (items as f64 * rows[i].scale) as u64;
            let t = (rows[i].run)(n, cores);
            runs[i].push(Run {
                scenario: METRICS.scenario,
                implementation: rows[i].name.clone(),
                round: round + 1,
                position,
                outcome: Outcome::Complete,
                count: n,
                wanted: n,
                values: vec![n as f64 / t.as_secs_f64() / 1e6],
            });
        },
    );
    let rates: Vec<Vec<f64>> = runs.iter().map(|r| r.iter().map(|run| run.values[0]).collect()).collect();

    println!("\n  {:<44} {:>9} {:>19}", "configuration (M items/s)", "median", "min - max");
    for (r, v) in rows.iter().zip(&rates) {
        let s = Spread::of(v);
        println!("  {:<44} {:>9.1} {:>9.1} - {:<8.1}", r.name, s.median, s.min, s.max);
    }

    let index = |name: &str| rows.iter().position(|r| r.name == name);
    println!(
        "\n  {:<40} {:>8} {:>15} {:>8}  verdict",
        "ratio (per round, then median)", "median", "min - max", "target"
    );
    for t in TARGETS {
        let (Some(num), Some(dens)) = (index(t.num), t.dens.iter().map(|d| index(d)).collect::<Option<Vec<_>>>())
        else {
            continue;
        };
        let num = &rates[num];
        let dens: Vec<&Vec<f64>> = dens.into_iter().map(|d| &rates[d]).collect();
        let ratios: Vec<f64> = (0..rounds).map(|k| num[k] / dens.iter().map(|d| d[k]).fold(0.0, f64::max)).collect();
        let s = Spread::of(&ratios);
        let (goal, verdict) = match t.goal {
            Some(g) => (format!(">= {g:.2}"), if s.median >= g { "met" } else { "MISSED" }),
            None => ("-".to_string(), "(cost: 1.00 = free)"),
        };
        println!("  {:<40} {:>7.2}x {:>6.2} - {:<6.2} {:>8}  {verdict}", t.what, s.median, s.min, s.max, goal);
    }

    let mut banner = Facts::machine();
    banner.push("pinning", format!("cores {} and {}", cores.0.id, cores.1.id));
    let report = Report {
        banner,
        settings,
        quick,
        one_core: None,
        rounds,
        scenarios: vec![ScenarioReport {
            metrics: METRICS,
            results: runs.iter().map(|r| Summary::of(&METRICS, r, None)).collect(),
        }],
    };
    println!();
    match write_results("targets", &report, &runs.iter().flatten().collect::<Vec<_>>()) {
        Ok(paths) => paths.iter().for_each(|p| println!("wrote {}", p.display())),
        Err(e) => eprintln!("could not write the results: {e}"),
    }
    println!("total {:.0} s", start.elapsed().as_secs_f64());
}
