//! `sgd-strongly-convex`: SGD on the lecture's μ-strongly convex logistic regression.
//!
//! ```text
//! f(x) = (μ/2)‖x‖² + (1/m) Σᵢ log(1 + exp(−yᵢ⟨aᵢ, x⟩)),   m = 200, n = 10, μ = 1
//! ```
//!
//! Three methods from x₀ = 0: GD with α = 1/L; SGD (one sample, with replacement) with a
//! constant α < 1/(2μ); SGD with α_k = (2k+1)/(2μ(k+1)²). With σ² ≥ E‖∇f_i(x_k)‖² along the
//! run, the descent lemma and the PL inequality ‖∇f‖² ≥ 2μ(f − f*) give
//! e_{k+1} ≤ (1 − 2α_kμ) e_k + Lα_k²σ²/2 for e_k = E f(x_k) − f*, hence the lecture's bounds:
//!
//! ```text
//! constant α < 1/(2μ):          e_k ≤ (1 − 2αμ)^k e_0 + Lσ²α/(4μ)
//! α_k = (2k+1)/(2μ(k+1)²):      e_k ≤ Lσ²/(2μ²k)            (k ≥ 1; (k+1)²e_{k+1} ≤ k²e_k + Lσ²/(2μ²))
//! GD, α = 1/L:                  f(x_k) − f* ≤ (1 − μ/L)^k (f(x_0) − f*)
//! ```
//!
//! σ² is estimated per method: the largest value, over every logged iterate of every seed, of
//! the full average (1/m) Σᵢ ‖∇fᵢ(x_k)‖² (the runner's `grad_moment` column). The log is dense
//! at the start (log-spaced: every iterate up to k = 49 at the full size), where the second moment is
//! largest.

use std::path::Path;

use serde_json::json;

use super::{
    Check, Figure, Image, Output, Progress, ReproError, Size, band, below_bound, convergence,
    dashed, last_mean, max_metric, mean_from, write_csv,
};
use crate::experiment::Common;
use crate::oracle::BatchSize;
use crate::plot::ConvergenceOptions;
use crate::problem::ProblemSpec;
use crate::problem::logistic::LogisticSpec;
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec, ScheduleArg};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "sgd-strongly-convex",
    title: "SGD on a strongly convex problem: noise floor vs O(1/k)",
    claim: "On a μ-strongly convex, L-smooth finite sum, SGD with a constant step α < 1/(2μ) \
            converges linearly, but only down to a noise floor: E f(x_k) − f* ≤ (1−2αμ)^k (f(x₀)−f*) \
            + Lσ²α/(4μ). The decreasing step α_k = (2k+1)/(2μ(k+1)²) removes the floor: \
            E f(x_k) − f* ≤ Lσ²/(2μ²k).",
    run,
};

const GD: &str = "GD, α = 1/L";
const CONST: &str = "SGD, constant α";
const DECR: &str = "SGD, α_k = (2k+1)/(2μ(k+1)²)";

/// The constant step (< 1/(2μ) = 0.5).
const ALPHA: f64 = 0.02;

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let seeds = size.pick(50, 16);
    let iterations = size.pick(10_000, 2_000);
    let gd_iterations = 8;
    let spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(seeds),
            steps: Some(iterations),
            log_points: Some(size.pick(400, 200)),
            ..Common::default()
        },
        grad_moment: true,
        problem: ProblemSpec::Logistic(LogisticSpec::default()),
        methods: vec![
            MethodSpec {
                name: Some(GD.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Expr("1/L".into())),
                iterations: Some(gd_iterations),
                ..Default::default()
            },
            MethodSpec {
                name: Some(CONST.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Number(ALPHA)),
                batch_size: BatchSize::Samples(1),
                ..Default::default()
            },
            MethodSpec {
                name: Some(DECR.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Expr("1/(2mu)".into())),
                schedule: Some(
                    ScheduleArg::parse(json!({ "kind": "StronglyConvex", "mu": "mu" })).map_err(
                        |message| ReproError::Figure {
                            figure: FIGURE.name,
                            message,
                        },
                    )?,
                ),
                batch_size: BatchSize::Samples(1),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let problem = spec.problem.build::<f64>()?;
    let c = problem.constants().clone();
    let missing = |what: &str| ReproError::Figure {
        figure: FIGURE.name,
        message: format!("the problem does not know {what}"),
    };
    let l = c.l_smooth.ok_or_else(|| missing("L"))?;
    let mu = c.mu.ok_or_else(|| missing("μ"))?;
    let f_star = c.f_star.ok_or_else(|| missing("f*"))?;
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

    let gd = band(rec, GD, "subopt", GD)?;
    let cst = band(rec, CONST, "subopt", format!("SGD, α = {ALPHA}"))?;
    let dec = band(rec, DECR, "subopt", DECR)?;
    let e0 = gd.points.first().map_or(f64::NAN, |p| p.stats.mean);
    let sigma2_const = max_metric(rec, CONST, "grad_moment")?;
    let sigma2_decr = max_metric(rec, DECR, "grad_moment")?;

    let gd_bound = |k: f64| (1.0 - mu / l).powf(k) * e0;
    let const_bound =
        |k: f64| (1.0 - 2.0 * ALPHA * mu).powf(k) * e0 + l * sigma2_const * ALPHA / (4.0 * mu);
    let decr_bound = |k: f64| l * sigma2_decr / (2.0 * mu * mu * k);
    let floor = l * sigma2_const * ALPHA / (4.0 * mu);

    let c_gd = below_bound(&gd, 1.0, gd_bound);
    let c_const = below_bound(&cst, 1.0, const_bound);
    let c_decr = below_bound(&dec, 1.0, decr_bound);
    let plateau = mean_from(&cst, iterations as f64 / 2.0);
    let decr_end = last_mean(&dec);

    let checks = vec![
        Check::new(
            "constant step below its bound",
            format!(
                "mean over seeds of f(x_k) − f* ≤ (1 − 2αμ)^k (f(x₀) − f*) + Lσ²α/(4μ) at every logged k ≥ 1 (α = {ALPHA})"
            ),
            [
                ("max over k of mean / bound", c_const.worst_ratio),
                ("at k", c_const.worst_k),
                ("logged k compared", c_const.points as f64),
                ("σ² (max logged E‖∇f_i(x_k)‖²)", sigma2_const),
                ("noise term Lσ²α/(4μ)", floor),
            ],
            c_const.holds,
        ),
        Check::new(
            "decreasing step below Lσ²/(2μ²k)",
            "mean over seeds of f(x_k) − f* ≤ Lσ²/(2μ²k) at every logged k ≥ 1",
            [
                ("max over k of mean / bound", c_decr.worst_ratio),
                ("at k", c_decr.worst_k),
                ("logged k compared", c_decr.points as f64),
                ("σ² (max logged E‖∇f_i(x_k)‖²)", sigma2_decr),
                ("bound at the last k", decr_bound(iterations as f64)),
            ],
            c_decr.holds,
        ),
        Check::new(
            "GD below (1 − μ/L)^k (f(x₀) − f*)",
            "f(x_k) − f* of GD with α = 1/L ≤ (1 − μ/L)^k (f(x₀) − f*) at every logged k ≥ 1",
            [
                ("max over k of value / bound", c_gd.worst_ratio),
                ("at k", c_gd.worst_k),
            ],
            c_gd.holds,
        ),
        Check::new(
            "constant step stalls above the decreasing step",
            format!(
                "plateau of the constant step (mean of f(x_k) − f* over logged k ≥ {}) > mean f(x_K) − f* of the decreasing step at K = {iterations}",
                iterations / 2
            ),
            [
                ("constant-step plateau", plateau),
                ("decreasing step at K", decr_end),
                ("ratio", plateau / decr_end),
            ],
            plateau > decr_end,
        ),
    ];

    let ks = |b: &crate::record::Band| b.points.iter().map(|p| p.x).collect::<Vec<f64>>();
    let bands = vec![
        gd.clone(),
        dashed(
            "bound (1 − μ/L)^k (f(x₀) − f*)",
            ks(&gd).into_iter().map(|k| (k, gd_bound(k))),
        ),
        cst.clone(),
        dashed(
            "bound (1 − 2αμ)^k (f(x₀) − f*) + Lσ²α/(4μ)",
            ks(&cst).into_iter().map(|k| (k, const_bound(k))),
        ),
        dec.clone(),
        dashed(
            "bound Lσ²/(2μ²k)",
            ks(&dec)
                .into_iter()
                .filter(|&k| k >= 1.0)
                .map(|k| (k, decr_bound(k))),
        ),
    ];
    let opts = ConvergenceOptions {
        title: format!(
            "logistic regression, m = 200, n = 10, μ = {mu}: mean and 10–90% over {seeds} seeds"
        ),
        x_label: "iteration k".into(),
        y_label: "f(x_k) − f*".into(),
        log_x: true,
        ..Default::default()
    };
    let mut files = convergence(dir, "convergence", &bands, &opts)?;
    files.push(csv);
    let images = vec![Image {
        file: "convergence.png".into(),
        caption: "f(x_k) − f* against k (log–log): mean over seeds (line), 10–90% band, and the \
                  theorems' bounds (dashed, same colour)"
            .into(),
    }];
    let settings = json!({
        "problem": spec.problem,
        "constants": { "L": l, "L_max": c.l_max, "mu": mu, "f_star": f_star, "f(x0) - f*": e0 },
        "seeds": format!("{} .. {}", spec.common.seed, spec.common.seed + seeds - 1),
        "iterations": iterations,
        "methods": [
            { "name": GD, "optimizer": "SGD", "lr": 1.0 / l, "batch": "full", "iterations": gd_iterations },
            { "name": format!("SGD, α = {ALPHA}"), "optimizer": "SGD", "lr": ALPHA, "batch": 1, "replacement": true },
            { "name": DECR, "optimizer": "SGD", "schedule": { "kind": "StronglyConvex", "mu": mu }, "batch": 1, "replacement": true },
        ],
        "sigma2": {
            "estimate": "max over every logged iterate of every seed of (1/m) Σᵢ ‖∇fᵢ(x_k)‖², per method",
            "constant step": sigma2_const,
            "decreasing step": sigma2_decr,
        },
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
