//! `optlab verify FILE`: replay reference traces (PyTorch) through optlab and compare.
//!
//! The file's format is recognised from its contents ([`Format::detect`]); each format has its
//! own replay function: optimizer traces (`optim_traces.json`, `muon_traces.json`,
//! `parity_traces.json` with closure-based and evaluation-mode cases), orthogonalization
//! references (`orthogonalize.json`) and learning-rate schedules (`schedules.json`,
//! `parity_schedules.json`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use optlab::linalg::reference::{self, OrthoFile, OrthoReport};
use optlab::verify::{self, ScheduleFile, TraceFile};
use serde_json::Value;

use super::Precision;

/// Arguments of `optlab verify`.
#[derive(clap::Args)]
pub struct Args {
    /// Reference file (JSON), e.g. ../shared/fixtures/optim_traces.json, parity_traces.json,
    /// orthogonalize.json, schedules.json or parity_schedules.json.
    pub file: PathBuf,
    /// Largest accepted relative error: for traces the max over steps of
    /// ‖x_k − x_k^ref‖∞ / ‖x_k^ref‖∞ (and the same for the losses and evaluation-mode
    /// parameters), for orthogonalizations ‖X − X_ref‖∞ / ‖X_ref‖∞ of each method, for schedules
    /// max_k |α_k − α_k^ref| / |α_k^ref| [default: 1e-9 for f64, 1e-4 for f32].
    #[arg(long)]
    pub tolerance: Option<f64>,
    /// Precision of the replay.
    #[arg(long, value_enum, default_value_t = Precision::F64)]
    pub precision: Precision,
}

/// The trace formats `optlab verify` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{problem, cases}`: optimizer runs on the deterministic trace problem
    /// (`optim_traces.json`, `muon_traces.json`).
    OptimTraces,
    /// `{kj, polar_express, cases}`: matrices with their Newton–Schulz 5, Polar Express 8 and
    /// exact polar factors (`orthogonalize.json`).
    Orthogonalize,
    /// `{doc, cases: {name: {spec, lrs, metrics?}}}`: learning rates of PyTorch's schedulers
    /// (`schedules.json`, `parity_schedules.json`).
    Schedules,
}

impl Format {
    /// Recognises a file's format from its JSON structure.
    pub fn detect(v: &Value) -> Option<Format> {
        if reference::looks_like_ortho(v) {
            Some(Format::Orthogonalize)
        } else if verify::looks_like_trace(v) {
            Some(Format::OptimTraces)
        } else if verify::looks_like_schedules(v) {
            Some(Format::Schedules)
        } else {
            None
        }
    }
}

/// Default tolerance for a precision.
fn default_tolerance(p: Precision) -> f64 {
    match p {
        Precision::F64 => 1e-9,
        Precision::F32 => 1e-4,
    }
}

/// Runs `optlab verify`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let tolerance = args
        .tolerance
        .unwrap_or_else(|| default_tolerance(args.precision));
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        bail!("--tolerance must be finite and ≥ 0, got {tolerance}");
    }
    let (passed, failed) = match Format::detect(&value) {
        Some(Format::OptimTraces) => optim_traces(&text, args.precision, tolerance)?,
        Some(Format::Orthogonalize) => orthogonalize(&text, args.precision, tolerance)?,
        Some(Format::Schedules) => schedules(&text, tolerance)?,
        None => bail!(
            "{}: unrecognised trace format (expected an object with `problem` and `cases`, \
             as in optim_traces.json, with `kj`, `polar_express` and `cases`, as in \
             orthogonalize.json, or with `cases` mapping names to `spec` and `lrs`, as in \
             schedules.json)",
            args.file.display()
        ),
    };
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!(
            "{failed} of {} cases exceed the tolerance {tolerance:e} or could not be replayed",
            passed + failed
        );
    }
    Ok(())
}

/// Replays an optimizer trace file; returns `(passed, failed)`.
fn optim_traces(
    text: &str,
    precision: Precision,
    tolerance: f64,
) -> anyhow::Result<(usize, usize)> {
    let file = TraceFile::from_json(text)?;
    let reports = match precision {
        Precision::F32 => verify::replay::<f32>(&file),
        Precision::F64 => verify::replay::<f64>(&file),
    };
    println!(
        "{} cases, {} parameters, precision {}, tolerance {tolerance:e} (max over steps of ‖x − x_ref‖∞/‖x_ref‖∞)",
        file.cases.len(),
        file.problem.x0.len(),
        precision.name()
    );
    Ok(tally(reports, |rep| {
        let mut line = format!(
            "{:<28} {:<12} {:>3} steps  max rel err {:.3e} at step {:<3}  loss rel err {:.3e}{}",
            rep.name,
            rep.optimizer,
            rep.steps,
            rep.max_rel_err,
            rep.worst_step,
            rep.loss_rel_err,
            rep.details(),
        );
        if !rep.ignored_flags.is_empty() {
            line.push_str(&format!(
                "\n     note: PyTorch implementation flags without effect here were dropped: {}",
                rep.ignored_flags.join(", ")
            ));
        }
        (rep.passes(tolerance), line)
    }))
}

/// Prints one line per case — `ok` or `FAIL` and what `line` says of its report, or the error
/// that kept it from being replayed — and returns `(passed, failed)`.
fn tally<R, E: std::fmt::Display>(
    results: impl IntoIterator<Item = Result<R, E>>,
    line: impl Fn(&R) -> (bool, String),
) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for r in results {
        match r {
            Ok(rep) => {
                let (ok, text) = line(&rep);
                println!("{:<4} {text}", if ok { "ok" } else { "FAIL" });
                if ok {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
            Err(e) => {
                println!("FAIL {e}");
                failed += 1;
            }
        }
    }
    (passed, failed)
}

/// Replays a schedule file (base lr 1.0, metrics fed after each step); returns
/// `(passed, failed)`.
fn schedules(text: &str, tolerance: f64) -> anyhow::Result<(usize, usize)> {
    let file = ScheduleFile::from_json(text)?;
    println!(
        "{} schedules, base lr {}, tolerance {tolerance:e} (max over steps of |lr − lr_ref|/|lr_ref|)",
        file.cases.len(),
        verify::SCHEDULE_BASE_LR
    );
    Ok(tally(verify::replay_schedules(&file), |rep| {
        let line = format!(
            "{:<20} {:<28} {:>3} steps  max rel err {:.3e} at step {}",
            rep.name, rep.kind, rep.steps, rep.max_rel_err, rep.worst_step,
        );
        (rep.max_rel_err <= tolerance, line)
    }))
}

/// Replays an orthogonalization reference file; returns `(passed, failed)`.
///
/// A case passes when optlab's Newton–Schulz 5, Polar Express 8 and SVD polar factor are each
/// within the tolerance of the file's. The distances of Polar Express 8 and Newton–Schulz 5 to
/// the exact polar factor, and the singular values of the Newton–Schulz output, are printed for
/// information only (Newton–Schulz is not meant to reach the polar factor).
fn orthogonalize(
    text: &str,
    precision: Precision,
    tolerance: f64,
) -> anyhow::Result<(usize, usize)> {
    let file = OrthoFile::from_json(text)?;
    let reports = match precision {
        Precision::F32 => reference::replay::<f32>(&file)?,
        Precision::F64 => reference::replay::<f64>(&file)?,
    };
    println!(
        "{} cases, precision {}, tolerance {tolerance:e} (‖X − X_ref‖∞/‖X_ref‖∞ of Newton–Schulz 5, Polar Express 8 and the SVD polar factor)",
        reports.len(),
        precision.name()
    );
    let (mut passed, mut failed) = (0, 0);
    for (i, r) in reports.iter().enumerate() {
        let ok = ortho_passes(r, tolerance);
        println!("{:<4} case {i:<2} {r}", if ok { "ok" } else { "FAIL" });
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    Ok((passed, failed))
}

/// The three errors against the file's references within tolerance (NaN fails).
fn ortho_passes(r: &OrthoReport, tolerance: f64) -> bool {
    [r.newton_schulz5_err, r.polar_express8_err, r.polar_err]
        .iter()
        .all(|e| *e <= tolerance)
}
