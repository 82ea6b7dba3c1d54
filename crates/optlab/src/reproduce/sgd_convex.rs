//! `sgd-convex`: SGD with iterate averaging on a convex, not strongly convex problem.
//!
//! The problem is unregularized logistic regression (μ = 0) on the lecture's synthetic data
//! (m = 200, n = 10, labels drawn from a logistic model, so the classes overlap): f is convex and
//! L-smooth but not strongly convex (its Hessian vanishes at infinity). The minimizer exists — the
//! problem module certifies that the data are not separable — and x*, f* come from Newton's
//! method. Start x₀ = 0, so R² = ‖x₀ − x*‖² = ‖x*‖².
//!
//! With σ² ≥ E‖∇f_i(x_t)‖² along the run, expanding ‖x_{t+1} − x*‖² and using convexity,
//! ⟨∇f(x_t), x_t − x*⟩ ≥ f(x_t) − f*, gives
//! 2α_t E[f(x_t) − f*] ≤ E‖x_t − x*‖² − E‖x_{t+1} − x*‖² + α_t²σ². Summing over t < k and
//! applying Jensen's inequality to the weighted average x̄_k = Σ_{t<k} α_t x_t / Σ_{t<k} α_t:
//!
//! ```text
//! E f(x̄_k) − f* ≤ (R² + σ² Σ_{t<k} α_t²) / (2 Σ_{t<k} α_t)
//! constant α (uniform average):  ≤ R²/(2αk) + ασ²/2
//! α_t = α₀/√(t+1):               ≤ (R² + σ²α₀²(1 + ln k)) / (4α₀(√(k+1) − 1)) = O(log k/√k)
//! ```
//!
//! (the classical analysis of the stochastic subgradient method, e.g. Nemirovski, Juditsky, Lan
//! & Shapiro, "Robust stochastic approximation approach to stochastic programming", SIAM J.
//! Optim. 19(4), 2009, §2.2). The last line uses Σ_{t<k} 1/(t+1) ≤ 1 + ln k and
//! Σ_{t<k} 1/√(t+1) ≥ 2(√(k+1) − 1); the check uses the exact sums (the first line), which are
//! smaller. σ² is estimated per method as the largest (1/m) Σᵢ ‖∇fᵢ(x_k)‖² over every logged
//! iterate of every seed.

use std::path::Path;

use serde_json::json;

use super::{
    Check, Figure, Image, Output, Progress, ReproError, Size, band, below_bound, convergence,
    dashed, last_mean, max_metric, write_csv,
};
use crate::experiment::Common;
use crate::optim::averaging::Averaging;
use crate::optim::wrap::Wrappers;
use crate::oracle::BatchSize;
use crate::plot::ConvergenceOptions;
use crate::problem::ProblemSpec;
use crate::problem::logistic::LogisticSpec;
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec, ScheduleArg};
use crate::schedule::ScheduleSpec;

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "sgd-convex",
    title: "SGD on a convex (not strongly convex) problem: averaged iterates",
    claim: "For a convex, L-smooth finite sum with E‖∇f_i(x_k)‖² ≤ σ², SGD with a constant step α \
            and the uniform average x̄_k satisfies E f(x̄_k) − f* ≤ ‖x₀ − x*‖²/(2αk) + ασ²/2; with \
            α_k = α₀/√(k+1) and the step-weighted average, E f(x̄_k) − f* = O(log k/√k).",
    run,
};

const CONST: &str = "SGD, constant α";
const DECR: &str = "SGD, α_k = α₀/√(k+1)";

/// The constant step.
const ALPHA: f64 = 0.02;
/// α₀ of the decreasing step.
const ALPHA0: f64 = 0.5;

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let seeds = size.pick(50, 16);
    let iterations = size.pick(10_000, 2_000);
    let spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(seeds),
            steps: Some(iterations),
            log_points: Some(size.pick(400, 200)),
            ..Common::default()
        },
        grad_moment: true,
        problem: ProblemSpec::Logistic(LogisticSpec {
            mu: 0.0,
            ..Default::default()
        }),
        methods: vec![
            MethodSpec {
                name: Some(CONST.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Number(ALPHA)),
                batch_size: BatchSize::Samples(1),
                wrappers: Wrappers {
                    averaging: Averaging::Uniform,
                    ..Default::default()
                },
                ..Default::default()
            },
            MethodSpec {
                name: Some(DECR.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Number(ALPHA0)),
                schedule: Some(ScheduleArg::new(ScheduleSpec::InvSqrt)),
                batch_size: BatchSize::Samples(1),
                wrappers: Wrappers {
                    averaging: Averaging::StepWeighted,
                    ..Default::default()
                },
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let problem = spec.problem.build::<f64>()?;
    let c = problem.constants().clone();
    let (Some(f_star), Some(x_star)) = (c.f_star, c.x_star.clone()) else {
        return Err(ReproError::Figure {
            figure: FIGURE.name,
            message: "the unregularized logistic problem has no certified minimizer".into(),
        });
    };
    let r2: f64 = x_star.iter().map(|v| v * v).sum();
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
    let sigma2_const = max_metric(rec, CONST, "grad_moment")?;
    let sigma2_decr = max_metric(rec, DECR, "grad_moment")?;

    // Σ_{t<k} α_t and Σ_{t<k} α_t² of the decreasing step, for k = 0..=K
    let mut s1 = vec![0.0; iterations as usize + 1];
    let mut s2 = vec![0.0; iterations as usize + 1];
    for t in 0..iterations as usize {
        let a = ALPHA0 / ((t + 1) as f64).sqrt();
        s1[t + 1] = s1[t] + a;
        s2[t + 1] = s2[t] + a * a;
    }
    let const_bound = |k: f64| r2 / (2.0 * ALPHA * k) + ALPHA * sigma2_const / 2.0;
    let decr_bound = |k: f64| {
        let k = (k as usize).min(s1.len() - 1);
        (r2 + sigma2_decr * s2[k]) / (2.0 * s1[k])
    };
    let decr_closed = |k: f64| {
        (r2 + sigma2_decr * ALPHA0 * ALPHA0 * (1.0 + k.ln()))
            / (4.0 * ALPHA0 * ((k + 1.0).sqrt() - 1.0))
    };

    let cst_avg = band(
        rec,
        CONST,
        "subopt_avg",
        format!("α = {ALPHA}, uniform average"),
    )?;
    let dec_avg = band(
        rec,
        DECR,
        "subopt_avg",
        format!("α_k = {ALPHA0}/√(k+1), step-weighted average"),
    )?;
    let c_const = below_bound(&cst_avg, 1.0, const_bound);
    let c_decr = below_bound(&dec_avg, 1.0, decr_bound);
    let k_end = iterations as f64;

    let checks = vec![
        Check::new(
            "constant step: averaged iterate below R²/(2αk) + ασ²/2",
            format!(
                "mean over seeds of f(x̄_k) − f*, x̄_k = (1/k) Σ_{{t<k}} x_t, ≤ ‖x₀ − x*‖²/(2αk) + ασ²/2 at every logged k ≥ 1 (α = {ALPHA})"
            ),
            [
                ("max over k of mean / bound", c_const.worst_ratio),
                ("at k", c_const.worst_k),
                ("logged k compared", c_const.points as f64),
                ("R² = ‖x₀ − x*‖²", r2),
                ("σ² (max logged E‖∇f_i(x_k)‖²)", sigma2_const),
                ("mean f(x̄_K) − f*", last_mean(&cst_avg)),
                ("bound at K", const_bound(k_end)),
            ],
            c_const.holds,
        ),
        Check::new(
            "α₀/√(k+1): step-weighted average below its O(log k/√k) bound",
            format!(
                "mean over seeds of f(x̄_k) − f*, x̄_k = Σ_{{t<k}} α_t x_t / Σ_{{t<k}} α_t, ≤ (R² + σ² Σ_{{t<k}} α_t²)/(2 Σ_{{t<k}} α_t) ≤ (R² + σ²α₀²(1 + ln k))/(4α₀(√(k+1) − 1)) at every logged k ≥ 1 (α₀ = {ALPHA0})"
            ),
            [
                ("max over k of mean / bound", c_decr.worst_ratio),
                ("at k", c_decr.worst_k),
                ("logged k compared", c_decr.points as f64),
                ("σ² (max logged E‖∇f_i(x_k)‖²)", sigma2_decr),
                ("mean f(x̄_K) − f*", last_mean(&dec_avg)),
                ("bound at K (exact sums)", decr_bound(k_end)),
                ("bound at K (closed form)", decr_closed(k_end)),
            ],
            c_decr.holds,
        ),
    ];

    let ks = |b: &crate::record::Band| {
        b.points
            .iter()
            .map(|p| p.x)
            .filter(|&k| k >= 1.0)
            .collect::<Vec<f64>>()
    };
    let bands = vec![
        cst_avg.clone(),
        dashed(
            "bound R²/(2αk) + ασ²/2",
            ks(&cst_avg).into_iter().map(|k| (k, const_bound(k))),
        ),
        dec_avg.clone(),
        dashed(
            "bound (R² + σ²Σα_t²)/(2Σα_t)",
            ks(&dec_avg).into_iter().map(|k| (k, decr_bound(k))),
        ),
    ];
    let opts = ConvergenceOptions {
        title: format!(
            "unregularized logistic regression, m = 200, n = 10: averaged iterates, {seeds} seeds"
        ),
        x_label: "iteration k".into(),
        y_label: "f(average of x_0..x_{k−1}) − f*".into(),
        log_x: true,
        ..Default::default()
    };
    let mut files = convergence(dir, "convergence", &bands, &opts)?;
    // the last iterates (solid) against the averages (dashed)
    let mut last_bands = Vec::new();
    for (method, avg, name) in [
        (CONST, &cst_avg, format!("α = {ALPHA}")),
        (DECR, &dec_avg, format!("α_k = {ALPHA0}/√(k+1)")),
    ] {
        last_bands.push(band(
            rec,
            method,
            "subopt",
            format!("{name}, last iterate"),
        )?);
        let mut a = avg.clone();
        a.dashed = true;
        a.label = format!("{name}, average");
        last_bands.push(a);
    }
    files.extend(convergence(
        dir,
        "last_iterate",
        &last_bands,
        &ConvergenceOptions {
            title: "the same runs: last iterate x_k (solid) and average (dashed)".into(),
            x_label: "iteration k".into(),
            y_label: "f − f*".into(),
            log_x: true,
            ..Default::default()
        },
    )?);
    files.push(csv);
    let images = vec![
        Image {
            file: "convergence.png".into(),
            caption: "f(x̄_k) − f* of the averaged iterates: mean over seeds (line), 10–90% band, \
                      and the bounds (dashed, same colour); log–log"
                .into(),
        },
        Image {
            file: "last_iterate.png".into(),
            caption: "Last iterates against averages: the theorems are about the averages".into(),
        },
    ];
    let settings = json!({
        "problem": spec.problem,
        "constants": { "L": c.l_smooth, "L_max": c.l_max, "mu": 0.0, "f_star": f_star,
                       "R2 = ‖x0 − x*‖²": r2, "x_star": x_star },
        "seeds": format!("{} .. {}", spec.common.seed, spec.common.seed + seeds - 1),
        "iterations": iterations,
        "methods": [
            { "name": CONST, "optimizer": "SGD", "lr": ALPHA, "batch": 1, "replacement": true, "averaging": "uniform" },
            { "name": DECR, "optimizer": "SGD", "lr": ALPHA0, "schedule": { "kind": "InvSqrt" }, "batch": 1, "replacement": true, "averaging": "step_weighted" },
        ],
        "sigma2": {
            "estimate": "max over every logged iterate of every seed of (1/m) Σᵢ ‖∇fᵢ(x_k)‖², per method",
            "constant step": sigma2_const,
            "decreasing step": sigma2_decr,
        },
        "bound source": "Nemirovski, Juditsky, Lan & Shapiro, SIAM J. Optim. 19(4), 2009, §2.2 (averaged stochastic (sub)gradient method)",
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
