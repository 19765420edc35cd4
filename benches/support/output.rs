//! The results model both interleaved benches (`latency`, `targets`) share,
//! and how it is written: per-round CSV, summary CSV and JSON through serde
//! (`csv`, `serde_json`), percentile plots as SVG through plotters, and the
//! banner naming the machine and the date (chrono).
//!
//! The model follows the benchmark method: a [`Run`] is one implementation
//! measured once in one round; a [`Summary`] is, per value, the median
//! across rounds, the spread (min–max) and, where the scenario has a
//! reference (the latency floor), the median of the per-round ratios to it.

use std::error::Error;
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Where the benches write their files: `$CARGO_TARGET_DIR/ringflow/`,
/// default `target/ringflow/` in the package.
pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    target.join("ringflow")
}

// ---------------------------------------------------------------------------
// Statistics across rounds.
// ---------------------------------------------------------------------------

/// Median (NaN for no values).
pub fn median(values: &[f64]) -> f64 {
    Spread::of(values).median
}

/// Median and range of one value across rounds.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// NaN everywhere for no values.
    pub fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let Some((&min, &max)) = v.first().zip(v.last()) else {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        };
        let m = v.len() / 2;
        let median = if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 };
        Spread { median, min, max }
    }
}

// ---------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------

/// What one scenario measures: its name, the unit of its values and their
/// names, in the order every [`Run`] of it records them.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Metrics {
    #[serde(rename = "name")]
    pub scenario: &'static str,
    pub unit: &'static str,
    #[serde(skip)]
    pub columns: &'static [&'static str],
    /// Each column's unit where they differ (`targets`: a rate in
    /// `M items/s` beside a fill in items); empty when every column is in
    /// `unit`.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub column_units: &'static [&'static str],
}

impl Metrics {
    /// A value's CSV column name: `p99.9` in `ns` is `p99_9_ns`.
    fn csv_column(&self, column: &str, suffix: &str) -> String {
        let slug = |s: &str| s.to_lowercase().replace('/', "_per_").replace(['.', ' '], "_");
        format!("{}_{}", slug(column), slug(suffix))
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// All samples taken.
    Complete,
    /// The run's time budget ran out first; the samples so far are kept.
    Budget,
    /// The watchdog stopped it (or a peer went away).
    Stopped,
    /// Its threads could not be stopped.
    Hung,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Budget => "budget",
            Outcome::Stopped => "stopped",
            Outcome::Hung => "hung",
        }
    }
}

/// One implementation measured once in one round: a row of
/// `<bench>-rounds.csv`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Run {
    pub scenario: &'static str,
    pub implementation: String,
    /// 1-based.
    pub round: usize,
    /// Place in its round's (rotated) order, from 0.
    pub position: usize,
    pub outcome: Outcome,
    /// Samples (or items) it got, and how many it was asked for.
    pub count: u64,
    pub wanted: u64,
    /// One per column of the scenario's [`Metrics`], in its unit.
    pub values: Vec<f64>,
}

/// Named values, written to JSON as `{"p50": ..., "p90": ...}` in column
/// order (NaN as `null`).
#[derive(Clone, Debug)]
pub struct Columns {
    pub names: &'static [&'static str],
    pub values: Vec<f64>,
}

impl Serialize for Columns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for (name, value) in self.names.iter().zip(&self.values) {
            map.serialize_entry(name, &value.is_finite().then_some(*value))?;
        }
        map.end()
    }
}

/// One implementation across the rounds of one scenario.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub implementation: String,
    pub rounds_with_data: usize,
    /// E.g. `3x complete` or `2x complete, 1x budget`.
    pub outcomes: String,
    pub median_count: f64,
    pub wanted: u64,
    pub median: Columns,
    pub min: Columns,
    pub max: Columns,
    /// Median across rounds of (this / reference) within each round.
    pub ratio_to_floor: Option<Columns>,
}

impl Summary {
    /// `runs`: one implementation's runs, in round order. `reference`: the
    /// reference's runs of the same rounds, if this is not the reference.
    /// Runs that got no samples do not count towards the values.
    pub fn of(metrics: &Metrics, runs: &[Run], reference: Option<&[Run]>) -> Summary {
        let with_data: Vec<&Run> = runs.iter().filter(|r| r.count > 0).collect();
        let columns = |f: &dyn Fn(usize) -> f64| Columns {
            names: metrics.columns,
            values: (0..metrics.columns.len()).map(f).collect(),
        };
        let spread = |k: usize| Spread::of(&with_data.iter().map(|r| r.values[k]).collect::<Vec<_>>());
        let ratio = reference.map(|reference| {
            columns(&|k| {
                let per_round: Vec<f64> = runs
                    .iter()
                    .zip(reference)
                    .filter(|(a, b)| a.count > 0 && b.count > 0 && b.values[k] > 0.0)
                    .map(|(a, b)| a.values[k] / b.values[k])
                    .collect();
                median(&per_round)
            })
        });
        let mut outcomes: Vec<(Outcome, usize)> = Vec::new();
        for r in runs {
            match outcomes.iter_mut().find(|(o, _)| *o == r.outcome) {
                Some((_, n)) => *n += 1,
                None => outcomes.push((r.outcome, 1)),
            }
        }
        Summary {
            implementation: runs.first().map_or_else(String::new, |r| r.implementation.clone()),
            rounds_with_data: with_data.len(),
            outcomes: outcomes.iter().map(|(o, n)| format!("{n}x {}", o.label())).collect::<Vec<_>>().join(", "),
            median_count: median(&runs.iter().map(|r| r.count as f64).collect::<Vec<_>>()),
            wanted: runs.first().map_or(0, |r| r.wanted),
            median: columns(&|k| spread(k).median),
            min: columns(&|k| spread(k).min),
            max: columns(&|k| spread(k).max),
            ratio_to_floor: ratio,
        }
    }

    /// Whether every round completed with every sample it asked for.
    pub fn all_complete(&self) -> bool {
        self.outcomes == format!("{}x complete", self.rounds_with_data) && self.median_count >= self.wanted as f64
    }
}

/// Machine facts and settings, in the order they were added; JSON writes
/// them as one object in that order.
#[derive(Clone, Debug, Default)]
pub struct Facts(pub Vec<(&'static str, String)>);

impl Serialize for Facts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl Facts {
    /// What machine and toolchain the numbers come from, and when.
    pub fn machine() -> Facts {
        let cores = super::harness::available_cores();
        Facts(vec![
            ("cpu", cpu_model()),
            ("cores available", format!("{} {:?}", cores.len(), cores.iter().map(|c| c.id).collect::<Vec<_>>())),
            ("logical cpus", std::thread::available_parallelism().map_or("unknown".into(), |n| n.to_string())),
            ("kernel", read_trim("/proc/sys/kernel/osrelease")),
            ("clocksource", read_trim("/sys/devices/system/clocksource/clocksource0/current_clocksource")),
            ("rustc", command_output("rustc", &["-V"])),
            ("date", chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        ])
    }

    pub fn push(&mut self, key: &'static str, value: String) {
        self.0.push((key, value));
    }

    pub fn get(&self, key: &str) -> &str {
        self.0.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v.as_str())
    }

    /// `  key              value` lines, as the benches print them.
    pub fn print(&self) {
        for (k, v) in &self.0 {
            println!("  {k:<16} {v}");
        }
    }
}

/// The CPU as `/proc/cpuinfo` and sysfs describe it: the model name, and
/// the family / model / stepping and the first core's cache sizes after it.
/// A VM often shows only a vendor name ("AMD EPYC"), and two VMs of that
/// name have differed in microarchitecture (family 25 is Zen 3 / Zen 4,
/// family 26 Zen 5 on AMD), which moves the benches' ratios.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    };
    let Some(name) = field("model name") else { return "unknown CPU".into() };
    let mut details = Vec::new();
    if let (Some(f), Some(m), Some(s)) = (field("cpu family"), field("model"), field("stepping")) {
        details.push(format!("family {f}, model {m}, stepping {s}"));
    }
    let caches: Vec<String> = (0..8)
        .map_while(|i| {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok().map(|s| s.trim().to_string());
            let (level, kind, size) = (read("level")?, read("type").unwrap_or_default(), read("size")?);
            Some({
                let kind = match kind.as_str() {
                    "Data" => "d",
                    "Instruction" => "i",
                    _ => "",
                };
                format!("L{level}{kind} {size}")
            })
        })
        .collect();
    if !caches.is_empty() {
        details.push(caches.join(" "));
    }
    if details.is_empty() {
        name
    } else {
        format!("{name} ({})", details.join("; "))
    }
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}

/// One scenario's summaries.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScenarioReport {
    #[serde(flatten)]
    pub metrics: Metrics,
    pub results: Vec<Summary>,
}

/// Everything a bench's JSON holds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub banner: Facts,
    pub settings: String,
    pub quick: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_core: Option<bool>,
    pub rounds: usize,
    pub scenarios: Vec<ScenarioReport>,
}

// ---------------------------------------------------------------------------
// Files.
// ---------------------------------------------------------------------------

/// Writes `<stem>-rounds.csv` (every run), `<stem>-summary.csv` (one row
/// per implementation and scenario) and `<stem>.json` (the report) into
/// [`out_dir`]; returns the paths written.
pub fn write_results(stem: &str, report: &Report, runs: &[&Run]) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let metrics_of = |scenario: &str| report.scenarios.iter().map(|s| &s.metrics).find(|m| m.scenario == scenario);

    // Rounds: the value columns are the first scenario's (both benches'
    // scenarios share one set of columns within a file).
    let rounds_path = dir.join(format!("{stem}-rounds.csv"));
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_path(&rounds_path)?;
    let mut header: Vec<String> =
        ["scenario", "implementation", "round", "position", "outcome", "count", "wanted"].map(String::from).into();
    if let Some(m) = runs.first().and_then(|r| metrics_of(r.scenario)) {
        header.extend(
            m.columns
                .iter()
                .enumerate()
                .map(|(i, c)| m.csv_column(c, m.column_units.get(i).copied().unwrap_or(m.unit))),
        );
    }
    csv.write_record(&header)?;
    for run in runs {
        csv.serialize(run)?;
    }
    csv.flush()?;

    // Summary: per value its median, min, max and ratio (empty when absent).
    let summary_path = dir.join(format!("{stem}-summary.csv"));
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_path(&summary_path)?;
    let mut header: Vec<String> =
        ["scenario", "implementation", "rounds_with_data", "outcomes", "median_count"].map(String::from).into();
    if let Some(m) = report.scenarios.first().map(|s| &s.metrics) {
        for kind in ["median", "min", "max", "ratio_to_floor"] {
            header.extend(m.columns.iter().map(|c| m.csv_column(c, kind)));
        }
    }
    csv.write_record(&header)?;
    for scenario in &report.scenarios {
        for s in &scenario.results {
            let finite = |v: &f64| v.is_finite().then_some(*v);
            let ratio = s
                .ratio_to_floor
                .as_ref()
                .map_or(vec![None; s.median.values.len()], |r| r.values.iter().map(finite).collect::<Vec<_>>());
            let values: Vec<Option<f64>> = [&s.median, &s.min, &s.max]
                .into_iter()
                .flat_map(|c| c.values.iter().map(finite))
                .chain(ratio)
                .collect();
            let row = (scenario.metrics.scenario, &s.implementation, s.rounds_with_data, &s.outcomes, s.median_count);
            csv.serialize((row, values))?;
        }
    }
    csv.flush()?;

    let json_path = dir.join(format!("{stem}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(report)? + "\n")?;
    Ok(vec![rounds_path, summary_path, json_path])
}

// ---------------------------------------------------------------------------
// Percentile plots.
// ---------------------------------------------------------------------------

/// The plots' x axis is log10(1 / (1 - p)); it ends at 5 (p = 99.999 %).
pub const PLOT_X_MAX: f64 = 5.0;

/// One line of a percentile plot: points (log10(1 / (1 - p)), ns).
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// Index into the palette: give an implementation the same index in
    /// every plot.
    pub color: usize,
    /// The floor is drawn dashed.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// Colours the curves take by index (the category-10 set, then darker ones).
const PALETTE: [RGBColor; 14] = [
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x39, 0x3b, 0x79),
    RGBColor(0x63, 0x79, 0x39),
    RGBColor(0x84, 0x3c, 0x39),
];

/// An x tick's label: the percentile p for x = log10(1 / (1 - p)), with as
/// many decimals as its nines need (0 → 0%, 0.301 → 50%, 3 → 99.9%).
fn percentile_label(x: f64) -> String {
    let decimals = (x.round() as usize).saturating_sub(2);
    format!("{:.*}%", decimals, 100.0 * (1.0 - 10f64.powf(-x)))
}

/// The plots' x axis: x = log10(1 / (1 - p)) from 0 to `.0`, linear in x,
/// with a tick and a grid line at each percentile readers look for (0 %,
/// 50 %, then one per nine), labelled as that percentile.
struct NinesAxis(f64);

impl Ranged for NinesAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, x: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + ((limit.1 - limit.0) as f64 * x / self.0).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return Vec::new(); // no light grid lines between the nines
        }
        let ticks = [0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0, 5.0];
        ticks.into_iter().filter(|&x| x <= self.0 + 1e-9).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.0
    }
}

impl ValueFormatter<f64> for NinesAxis {
    fn format_ext(&self, x: &f64) -> String {
        percentile_label(*x)
    }
}

/// A y tick's label: a power of ten of nanoseconds, in its unit.
fn decade_label(ns: f64) -> String {
    match ns {
        v if v < 1e3 => format!("{v:.0} ns"),
        v if v < 1e6 => format!("{:.0} µs", v / 1e3),
        v if v < 1e9 => format!("{:.0} ms", v / 1e6),
        v => format!("{:.0} s", v / 1e9),
    }
}

/// Writes an HdrHistogram-style latency-by-percentile plot to `path` (SVG):
/// x is log10(1 / (1 - p)), so each step right is one more nine (90 %,
/// 99 %, 99.9 %, ...); y is the latency on a log scale, decades labelled,
/// 2x and 5x lines light; one line per curve (dashed where asked); the
/// legend to the right of the plot, in curve order.
pub fn percentile_plot(path: &Path, title: &str, subtitle: &str, curves: &[Curve]) -> Result<(), Box<dyn Error>> {
    const SIZE: (u32, u32) = (1260, 620);
    let curves: Vec<&Curve> = curves.iter().filter(|c| !c.points.is_empty()).collect();

    // Axis ranges: x up to the last whole nine any curve reaches; y over
    // the decades that hold every point.
    let x_max = curves.iter().filter_map(|c| c.points.last()).map(|p| p.0).fold(1.0, f64::max).ceil().min(PLOT_X_MAX);
    let ys = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).filter(|y| *y > 0.0);
    let (y_lo, y_hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (d_lo, mut d_hi) = if y_hi > 0.0 { (y_lo.log10().floor(), y_hi.log10().ceil()) } else { (1.0, 3.0) };
    if d_hi <= d_lo {
        d_hi = d_lo + 1.0;
    }
    let decades: Vec<f64> = (d_lo as i32..=d_hi as i32).map(|d| 10f64.powi(d)).collect();
    let light: Vec<f64> = decades.iter().rev().skip(1).flat_map(|&b| [2.0 * b, 5.0 * b]).collect();

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    // Plotters takes a font's size as its line height and draws the glyphs at
    // size / 1.24 (the em): ask for 1.24 times the em wanted, in pixels.
    let font = |em: f64| ("sans-serif", em * 1.24).into_font();
    root.draw(&Text::new(title, (80, 10), font(16.0).style(FontStyle::Bold)))?;
    root.draw(&Text::new(subtitle, (80, 34), font(12.0).color(&RGBColor(0x44, 0x44, 0x44))))?;

    // The plot takes the left 790 px (its frame from x = 80 to 780, y = 70
    // to 560); the legend the rest.
    let (plot_area, legend_area) = root.split_horizontally(790);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin_top(70)
        .margin_right(10)
        .margin_left(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            NinesAxis(x_max),
            (decades[0]..decades[decades.len() - 1])
                .log_scale()
                .with_key_points(decades.clone())
                .with_light_points(light),
        )?;
    chart
        .configure_mesh()
        .bold_line_style(RGBColor(0xbb, 0xbb, 0xbb))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .label_style(font(12.0))
        .axis_desc_style(font(12.0))
        .y_label_formatter(&|y| decade_label(*y))
        .x_desc("percentile (log scale of 1/(1-p))")
        .y_desc("latency (log scale)")
        .draw()?;
    let frame = [(0.0, decades[0]), (x_max, decades[decades.len() - 1])];
    chart.draw_series(std::iter::once(Rectangle::new(frame, RGBColor(0x33, 0x33, 0x33))))?;

    for (i, c) in curves.iter().enumerate() {
        let style = PALETTE[c.color % PALETTE.len()].stroke_width(2);
        let points = c.points.iter().map(|&(x, y)| (x, y.max(1.0)));
        if c.dashed {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style))?;
        } else {
            chart.draw_series(LineSeries::new(points, style))?;
        }
        // Legend entry: a short line in the curve's style, then its label.
        let y = 80 + 20 * i as i32;
        let sample = vec![(16, y), (40, y)];
        let style = style.stroke_width(3);
        if c.dashed {
            legend_area.draw(&DashedPathElement::new(sample, 6, 4, style))?;
        } else {
            legend_area.draw(&PathElement::new(sample, style))?;
        }
        let text = font(12.0).into_text_style(&legend_area).pos(Pos::new(HPos::Left, VPos::Center));
        legend_area.draw(&Text::new(c.label.as_str(), (46, y), text))?;
    }
    root.present()?;
    Ok(())
}
