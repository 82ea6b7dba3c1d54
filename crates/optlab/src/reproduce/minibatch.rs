//! `minibatch`: the batch size trades the noise floor against the cost per iteration.
//!
//! The lecture's logistic regression (m = 200, n = 10, μ = 1), x₀ = 0, the same constant step α
//! for every method: SGD with batches of b = 1, 10, 50, 100 samples drawn uniformly with
//! replacement (so the gradient's variance is Var₁/b) and GD (b = m), all for the same number
//! of iterations K.
//!
//! Numbers checked:
//!
//! - **noise floor** of a method: the mean over seeds and over the logged iterations
//!   k ≥ K/2 (the stationary regime) of f(x_k) − f*. Claim: strictly decreasing in b, down to GD.
//! - **epochs to ε**: the first logged epoch (per-sample gradients / m) at which the mean over
//!   seeds of f(x_k) − f* is ≤ ε, with ε = 2 × the noise floor of b = 1 (reachable by every
//!   method). Claim: it does not decrease when b grows — a larger batch buys a lower floor, not
//!   more progress per gradient evaluation.
//! - **iterations to ε**: the same, counted in iterations. Claim: within a factor 2 of each other
//!   for all batch sizes — per iteration the methods progress alike (a larger batch is at most a
//!   little faster, being less noisy), so the epochs grow because an iteration costs b samples.

use std::path::Path;

use serde_json::json;

use super::{
    Check, Figure, Image, Output, Progress, ReproError, Size, convergence, mean_from, write_csv,
};
use crate::experiment::Common;
use crate::oracle::BatchSize;
use crate::plot::{self, ConvergenceOptions};
use crate::problem::ProblemSpec;
use crate::problem::logistic::LogisticSpec;
use crate::record::{Band, XAxis};
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "minibatch",
    title: "Mini-batch SGD: the noise floor falls with the batch size, the cost per epoch does not",
    claim: "With a constant step, mini-batches of b samples divide the variance of the stochastic \
            gradient by b, so the noise floor reached (per iteration) falls as b grows, down to \
            GD's exact convergence; measured in epochs (gradient evaluations / m), a larger batch \
            does not reach a given accuracy any sooner.",
    run,
};

/// The common constant step (< 1/(2μ) and < 1/L).
const ALPHA: f64 = 0.01;
const BATCHES: [usize; 4] = [1, 10, 50, 100];

fn label(b: Option<usize>) -> String {
    match b {
        Some(b) => format!("b = {b}"),
        None => "GD (b = m = 200)".into(),
    }
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let seeds = size.pick(50, 16);
    let iterations = size.pick(4_000, 2_000);
    let batches: Vec<Option<usize>> = BATCHES.iter().map(|&b| Some(b)).chain([None]).collect();
    let spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(seeds),
            steps: Some(iterations),
            log_points: Some(size.pick(300, 200)),
            ..Common::default()
        },
        problem: ProblemSpec::Logistic(LogisticSpec::default()),
        methods: batches
            .iter()
            .map(|&b| MethodSpec {
                name: Some(label(b)),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Number(ALPHA)),
                batch_size: b.map_or(BatchSize::Full, BatchSize::Samples),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let problem = spec.problem.build::<f64>()?;
    let c = problem.constants().clone();
    let out = runner::run(&spec, problem.as_ref(), progress)?;
    if !out.failures.is_empty() {
        return Err(ReproError::Figure {
            figure: FIGURE.name,
            message: format!(
                "{} run(s) failed: {:?}",
                out.failures.len(),
                out.failures[0]
            ),
        });
    }
    let rec = &out.records;
    let csv = write_csv(dir, "metrics", rec)?;
    let by_iter = plot::bands(rec, "subopt", XAxis::Iterations, false)?;
    let by_epoch = plot::bands(rec, "subopt", XAxis::Epochs, false)?;
    let half = iterations as f64 / 2.0;
    let floors: Vec<f64> = by_iter.iter().map(|b| mean_from(b, half)).collect();
    let eps = 2.0 * floors[0];
    let first_below = |b: &Band| {
        b.points
            .iter()
            .find(|p| p.stats.mean <= eps)
            .map_or(f64::INFINITY, |p| p.x)
    };
    let epochs_to: Vec<f64> = by_epoch.iter().map(first_below).collect();
    let iters_to: Vec<f64> = by_iter.iter().map(first_below).collect();

    let floors_decrease = floors.windows(2).all(|w| w[1] < w[0]);
    let e0 = by_iter[0].points.first().map_or(f64::NAN, |p| p.stats.mean);
    let epochs_grow = eps < e0
        && epochs_to.iter().all(|e| e.is_finite())
        && epochs_to.windows(2).all(|w| w[1] >= w[0]);
    let mut floor_numbers: Vec<(String, f64)> = batches
        .iter()
        .zip(&floors)
        .map(|(b, f)| (format!("floor, {}", label(*b)), *f))
        .collect();
    for (i, &b) in BATCHES.iter().enumerate().skip(1) {
        floor_numbers.push((
            format!("floor(b = 1) / floor(b = {b})"),
            floors[0] / floors[i],
        ));
    }
    let mut epoch_numbers: Vec<(String, f64)> = vec![("ε".into(), eps), ("f(x₀) − f*".into(), e0)];
    for (i, b) in batches.iter().enumerate() {
        epoch_numbers.push((format!("epochs to ε, {}", label(*b)), epochs_to[i]));
    }
    let mut iter_numbers: Vec<(String, f64)> = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        iter_numbers.push((format!("iterations to ε, {}", label(*b)), iters_to[i]));
    }
    let (lo, hi) = iters_to
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    iter_numbers.push(("largest / smallest".into(), hi / lo));
    let checks = vec![
        Check::new(
            "noise floor falls with the batch size",
            format!(
                "floor(b) = mean over seeds and logged k ≥ {} of f(x_k) − f*; floor(1) > floor(10) > floor(50) > floor(100) > floor(GD)",
                iterations / 2
            ),
            floor_numbers,
            floors_decrease,
        ),
        Check::new(
            "no gain per epoch from larger batches",
            "epochs (per-sample gradients / m) until the mean f(x_k) − f* first is ≤ ε = 2·floor(1): \
             non-decreasing in b (1 ≤ 10 ≤ 50 ≤ 100 ≤ GD), all finite, and ε < f(x₀) − f*",
            epoch_numbers,
            epochs_grow,
        ),
        Check::new(
            "comparable progress per iteration",
            "iterations until the mean f(x_k) − f* first is ≤ ε: within a factor 2 of each other for \
             all batch sizes (so the epochs to ε grow because an iteration costs b samples)",
            iter_numbers,
            hi.is_finite() && lo > 0.0 && hi <= 2.0 * lo,
        ),
    ];
    let title = |axis: &str| {
        format!(
            "logistic regression, μ = 1, α = {ALPHA}: mean and 10–90% over {seeds} seeds, against {axis}"
        )
    };
    let mut files = convergence(
        dir,
        "iterations",
        &by_iter,
        &ConvergenceOptions {
            title: title("iterations"),
            x_label: XAxis::Iterations.label().into(),
            y_label: "f(x_k) − f*".into(),
            log_x: true,
            ..Default::default()
        },
    )?;
    files.extend(convergence(
        dir,
        "epochs",
        &by_epoch,
        &ConvergenceOptions {
            title: title("epochs"),
            x_label: XAxis::Epochs.label().into(),
            y_label: "f(x_k) − f*".into(),
            log_x: true,
            ..Default::default()
        },
    )?);
    files.push(csv);
    let images = vec![
        Image {
            file: "iterations.png".into(),
            caption: "Against iterations: the larger the batch, the lower the floor".into(),
        },
        Image {
            file: "epochs.png".into(),
            caption:
                "Against epochs (gradient evaluations / m): the larger the batch, the later a \
                      given accuracy is reached"
                    .into(),
        },
    ];
    let settings = json!({
        "problem": spec.problem,
        "constants": { "L": c.l_smooth, "L_max": c.l_max, "mu": c.mu, "f_star": c.f_star },
        "seeds": format!("{} .. {}", spec.common.seed, spec.common.seed + seeds - 1),
        "iterations": iterations,
        "lr": ALPHA,
        "batch sizes": BATCHES,
        "sampling": "with replacement (GD: the full gradient)",
        "floor": format!("mean over seeds and over logged k ≥ {} of f(x_k) − f*", iterations / 2),
        "epsilon": "2 × floor(b = 1)",
        "log_points": spec.common.log_points,
        "precision": "f64",
    });
    Ok(Output {
        checks,
        settings,
        notes: Vec::new(),
        measured: Vec::new(),
        images,
        files,
    })
}
