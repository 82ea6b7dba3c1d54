//! `stochastic-acceleration`: momentum and quasi-Newton steps do not improve SGD's O(1/k) rate,
//! only its constant; without noise, Nesterov's momentum does improve GD's linear rate.
//!
//! **Stochastic.** The lecture's logistic regression (m = 200, n = 10, μ = 1), x₀ = 0, one
//! sample per step (with replacement), steps α_k ∝ 1/k through the `StronglyConvex` schedule
//! α_k = (2k+1)/(2c(k+1)²) ≈ 1/(c(k+1)):
//!
//! ```text
//! SGD                          c = μ
//! SGD + heavy ball (β = 0.9)   c = μ/(1 − β)     (same effective step α_k/(1 − β))
//! SGD + Nesterov   (β = 0.9)   c = μ/(1 − β)
//! stochastic L-BFGS            c = μ, max_iter = 1, history_size = 10 (x ← x − α_k H_k g_k)
//! ```
//!
//! The rate is the least-squares slope of ln E[f(x_k) − f*] (mean over seeds) against ln k over
//! the logged k in [K/100, K]. Checks: SGD's, heavy ball's and Nesterov's slopes are within ±0.2
//! of −1 (momentum changes the constant only); L-BFGS's slope is not steeper than −1 − 0.2 (no
//! better rate). The constant is reported as K · E[f(x_K) − f*].
//!
//! L-BFGS is the catalog's (PyTorch's) method stepping on single-sample gradients: its curvature
//! pairs y = g_k − g_{k−1} are differences of gradients of *different* samples, which stay of the
//! size of the gradient noise σ while s = α_k d_k shrinks, so H₀ = sᵀy/yᵀy → 0 and the steps
//! vanish: it stalls (measured slope ≈ 0). A stochastic quasi-Newton method with consistent pairs
//! (Byrd et al. 2016, SQN: y from Hessian–vector products on a separate sample) is not in the
//! catalog; the figure shows what the catalog's L-BFGS does, and the check is the lecture's
//! claim that it does not beat O(1/k).
//!
//! **Deterministic contrast.** The lecture's logistic problem is too well conditioned near its
//! minimizer for acceleration to show (measured: GD reaches 1e-10 in about 70 steps even with
//! μ = 0.01), so the contrast uses the lab's ill-conditioned quadratic ½(x² + κy²), κ = 100, from
//! (2, 1): GD with α = 1/L against Nesterov's momentum (PyTorch's `nesterov = true`) with α = 1/L
//! and β = (√κ − 1)/(√κ + 1). The linear rate ρ is exp of the least-squares slope of
//! ln(f(x_k) − f*) against k while f(x_k) − f* ≥ 1e-10; Nesterov must contract at least twice as
//! fast: 1 − ρ_Nesterov ≥ 2 (1 − ρ_GD) (theory on f: 1 − (1 − 1/√κ)² against 1 − (1 − 1/κ)²).

use std::path::Path;

use serde_json::json;

use super::{
    Check, Figure, Image, Output, Progress, Quantity, ReproError, Size, convergence, write_csv,
};
use crate::experiment::Common;
use crate::oracle::BatchSize;
use crate::plot::{self, ConvergenceOptions};
use crate::problem::logistic::LogisticSpec;
use crate::problem::testfn::QuadraticSpec;
use crate::problem::{Constants, ProblemSpec};
use crate::record::{Band, XAxis};
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec, RunOutput, ScheduleArg};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "stochastic-acceleration",
    title: "Stochastic case: momentum and L-BFGS change the constant, not the O(1/k) rate",
    claim: "With single-sample gradients and steps α_k ∝ 1/k on a strongly convex problem, SGD, \
            SGD with heavy-ball or Nesterov momentum and a stochastic L-BFGS all converge as \
            E f(x_k) − f* = Θ(1/k): momentum and quasi-Newton steps improve only the constant. \
            With exact gradients, Nesterov's momentum does improve GD's linear rate \
            (1 − 1/√κ against 1 − 1/κ).",
    run,
};

const SGD: &str = "SGD";
const HB: &str = "SGD + heavy ball (β = 0.9)";
const NAG: &str = "SGD + Nesterov (β = 0.9)";
const LBFGS: &str = "stochastic L-BFGS (history 10)";
const GD: &str = "GD, α = 1/L (deterministic)";
const NAG_DET: &str = "Nesterov, α = 1/L (deterministic)";

/// Momentum of the stochastic momentum methods.
const BETA: f64 = 0.9;
/// Allowed distance of a stochastic slope from −1.
const SLOPE_TOL: f64 = 0.2;
/// Condition number of the deterministic contrast's quadratic.
const KAPPA: f64 = 100.0;
/// The deterministic rates are fitted while f(x_k) − f* is at least this.
const DET_FLOOR: f64 = 1e-10;

fn figure_err(message: impl Into<String>) -> ReproError {
    ReproError::Figure {
        figure: FIGURE.name,
        message: message.into(),
    }
}

/// The `StronglyConvex` schedule with constant `c`: α_k = (2k+1)/(2c(k+1)²).
fn inverse_k(c: f64) -> Result<ScheduleArg, ReproError> {
    ScheduleArg::parse(json!({ "kind": "StronglyConvex", "mu": c })).map_err(figure_err)
}

fn hyper(v: serde_json::Value) -> crate::optim::registry::HyperMap {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Default::default(),
    }
}

/// Least-squares slope of `y` against `x` over the pairs given; `(slope, points)`.
fn ls_slope(xy: impl IntoIterator<Item = (f64, f64)>) -> (f64, usize) {
    let v: Vec<(f64, f64)> = xy
        .into_iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let n = v.len() as f64;
    if v.len() < 2 {
        return (f64::NAN, v.len());
    }
    let (mx, my) = (
        v.iter().map(|p| p.0).sum::<f64>() / n,
        v.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = v.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = v.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    (sxy / sxx, v.len())
}

/// Runs `spec`; its output and the problem's constants (an error if a run failed).
fn run_checked(
    spec: &ExperimentSpec,
    progress: Progress<'_>,
) -> Result<(RunOutput, Constants), ReproError> {
    let problem = spec.problem.build::<f64>()?;
    let out = runner::run(spec, problem.as_ref(), progress)?;
    if let Some(f) = out.failures.first() {
        return Err(figure_err(format!(
            "{} run(s) failed: {f:?}",
            out.failures.len()
        )));
    }
    Ok((out, problem.constants().clone()))
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let seeds = size.pick(50, 16);
    let iterations = size.pick(20_000u64, 4_000);
    let mu = LogisticSpec::default().mu;
    let stochastic = |name: &str, optimizer: &str, c: f64, h: serde_json::Value| {
        Ok::<_, ReproError>(MethodSpec {
            name: Some(name.into()),
            optimizer: optimizer.into(),
            hyper: hyper(h),
            schedule: Some(inverse_k(c)?),
            batch_size: BatchSize::Samples(1),
            ..Default::default()
        })
    };
    let spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(seeds),
            steps: Some(iterations),
            log_points: Some(size.pick(200, 120)),
            ..Common::default()
        },
        problem: ProblemSpec::Logistic(LogisticSpec::default()),
        methods: vec![
            stochastic(SGD, "SGD", mu, json!({}))?,
            stochastic(HB, "SGD", mu / (1.0 - BETA), json!({ "momentum": BETA }))?,
            stochastic(
                NAG,
                "SGD",
                mu / (1.0 - BETA),
                json!({ "momentum": BETA, "nesterov": true }),
            )?,
            stochastic(
                LBFGS,
                "LBFGS",
                mu,
                json!({ "max_iter": 1, "history_size": 10, "tolerance_grad": 0.0,
                        "tolerance_change": 0.0 }),
            )?,
        ],
        ..Default::default()
    };
    let (out, c_sto) = run_checked(&spec, progress)?;

    // deterministic contrast
    let det_problem = ProblemSpec::Quadratic(QuadraticSpec {
        kappa: KAPPA,
        ..QuadraticSpec::default()
    });
    let det_c = det_problem.build::<f64>()?.constants().clone();
    let (l, mu_det) = match (det_c.l_smooth, det_c.mu) {
        (Some(l), Some(mu)) => (l, mu),
        _ => return Err(figure_err("L or μ of the quadratic unknown")),
    };
    let kappa = l / mu_det;
    let beta_det = (kappa.sqrt() - 1.0) / (kappa.sqrt() + 1.0);
    let det_iterations = size.pick(1500u64, 1000);
    let det_spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(1),
            steps: Some(det_iterations),
            log_every: Some(1),
            ..Common::default()
        },
        problem: det_problem,
        methods: vec![
            MethodSpec {
                name: Some(GD.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Expr("1/L".into())),
                ..Default::default()
            },
            MethodSpec {
                name: Some(NAG_DET.into()),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Expr("1/L".into())),
                hyper: hyper(json!({ "momentum": beta_det, "nesterov": true })),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let (det, _) = run_checked(&det_spec, progress)?;

    let rec = &out.records;
    let bands = plot::bands(rec, "subopt", XAxis::Iterations, false)?;
    let (from, to) = (iterations as f64 / 100.0, iterations as f64);
    let mut checks = Vec::new();
    let mut measured = Vec::new();
    let mut slopes = Vec::new();
    let mut notes = Vec::new();
    for b in &bands {
        let (slope, points) = ls_slope(
            b.points
                .iter()
                .filter(|p| p.x >= from && p.x <= to && p.stats.mean > 0.0)
                .map(|p| (p.x.ln(), p.stats.mean.ln())),
        );
        let end = b.points.last().map_or(f64::NAN, |p| p.stats.mean);
        slopes.push((b.label.clone(), slope, points, end));
        measured.push(Quantity {
            name: format!("{}: K · E[f(x_K) − f*] (the constant)", b.label),
            value: to * end,
        });
    }
    for (label, slope, points, end) in &slopes {
        let numbers = [
            ("slope".to_string(), *slope),
            ("logged k fitted".to_string(), *points as f64),
            ("E[f(x_K) − f*] at K".to_string(), *end),
        ];
        let fit = format!(
            "least-squares slope of ln E[f(x_k) − f*] against ln k over the {points} logged k in [{from}, {to}]"
        );
        checks.push(if label == LBFGS {
            Check::new(
                format!("{label}: no better than 1/k"),
                format!("{fit} is ≥ −1 − {SLOPE_TOL} (no faster rate than O(1/k))"),
                numbers,
                *slope >= -1.0 - SLOPE_TOL,
            )
        } else {
            Check::new(
                format!("{label}: rate 1/k"),
                format!("{fit} is within ±{SLOPE_TOL} of −1"),
                numbers,
                (slope + 1.0).abs() <= SLOPE_TOL,
            )
        });
    }
    if let Some((_, slope, _, end)) = slopes.iter().find(|s| s.0 == LBFGS) {
        notes.push(format!(
            "Stochastic L-BFGS (the catalog's L-BFGS, PyTorch's algorithm, max_iter = 1, no line \
             search, one sample per step) stalls: measured slope {slope:.3}, E[f(x_K) − f*] = \
             {end:.3e}. Its curvature pairs y = g_k − g_(k−1) are differences of gradients of \
             different samples: y stays of the size of the gradient noise while s = α_k d_k \
             shrinks, so H₀ = sᵀy/yᵀy → 0 and the steps vanish. A stochastic quasi-Newton \
             method with consistent curvature pairs (Byrd et al. 2016, SQN) is not in the \
             catalog; the check is the lecture's claim that quasi-Newton steps do not beat \
             O(1/k)."
        ));
    }

    let det_bands = plot::bands(&det.records, "subopt", XAxis::Iterations, false)?;
    let rate = |b: &Band| {
        let (slope, points) = ls_slope(
            b.points
                .iter()
                .take_while(|p| p.stats.mean >= DET_FLOOR)
                .filter(|p| p.x >= 1.0)
                .map(|p| (p.x, p.stats.mean.ln())),
        );
        (slope.exp(), points)
    };
    let (rho_gd, n_gd) = det_bands.first().map(rate).unwrap_or((f64::NAN, 0));
    let (rho_nag, n_nag) = det_bands.get(1).map(rate).unwrap_or((f64::NAN, 0));
    checks.push(Check::new(
        "deterministic: Nesterov improves the rate",
        format!(
            "with full gradients on ½(x² + κy²) (κ = L/μ = {KAPPA}), Nesterov's fitted per-iteration factor ρ (exp of the slope of ln(f(x_k) − f*) against k while f(x_k) − f* ≥ {DET_FLOOR:e}) satisfies 1 − ρ_Nesterov ≥ 2 (1 − ρ_GD)"
        ),
        [
            ("κ", kappa),
            ("ρ_GD (fitted)", rho_gd),
            ("(1 − 1/κ)² (GD theory)", (1.0 - 1.0 / kappa).powi(2)),
            ("ρ_Nesterov (fitted)", rho_nag),
            ("(1 − 1/√κ)² (Nesterov theory)", (1.0 - 1.0 / kappa.sqrt()).powi(2)),
            ("(1 − ρ_Nesterov) / (1 − ρ_GD)", (1.0 - rho_nag) / (1.0 - rho_gd)),
            ("iterations fitted, GD", n_gd as f64),
            ("iterations fitted, Nesterov", n_nag as f64),
        ],
        n_gd >= 2 && n_nag >= 2 && (1.0 - rho_nag) >= 2.0 * (1.0 - rho_gd),
    ));

    let mut all = rec.clone();
    all.rows.extend(det.records.rows.iter().cloned());
    let csv = write_csv(dir, "metrics", &all)?;
    let mut with_ref = bands.clone();
    if let Some(first) = bands.first()
        && let Some(p) = first.points.iter().find(|p| p.x >= from)
    {
        let c0 = p.stats.mean * p.x;
        with_ref.push(super::dashed(
            "C/k (reference slope −1)",
            [(from, c0 / from), (to, c0 / to)],
        ));
    }
    let mut files = convergence(
        dir,
        "stochastic",
        &with_ref,
        &ConvergenceOptions {
            title: format!(
                "logistic regression, μ = {mu}, one sample per step, α_k ∝ 1/k: mean and 10–90% over {seeds} seeds"
            ),
            x_label: "iteration k".into(),
            y_label: "f(x_k) − f*".into(),
            log_x: true,
            ..Default::default()
        },
    )?;
    files.extend(convergence(
        dir,
        "deterministic",
        &det_bands,
        &ConvergenceOptions {
            title: format!("full gradients on ½(x² + κy²), κ = {kappa}: GD vs Nesterov"),
            x_label: "iteration k".into(),
            y_label: "f(x_k) − f*".into(),
            ..Default::default()
        },
    )?);
    files.push(csv);
    let images = vec![
        Image {
            file: "stochastic.png".into(),
            caption: "Single-sample gradients, α_k ∝ 1/k (log–log): every method falls like 1/k \
                      (dashed: slope −1); they differ by a constant factor"
                .into(),
        },
        Image {
            file: "deterministic.png".into(),
            caption: "Exact gradients (log-linear): Nesterov's momentum contracts faster than GD \
                      per iteration"
                .into(),
        },
    ];
    let settings = json!({
        "stochastic": {
            "problem": spec.problem,
            "constants": { "L": c_sto.l_smooth, "L_max": c_sto.l_max, "mu": c_sto.mu, "f_star": c_sto.f_star },
            "iterations": iterations,
            "seeds": format!("{} .. {}", spec.common.seed, spec.common.seed + seeds - 1),
            "batch": 1,
            "replacement": true,
            "methods": spec.methods,
            "slope fit": format!("least squares of ln E[f(x_k) − f*] on ln k over logged k in [{from}, {to}]"),
        },
        "deterministic": {
            "problem": det_spec.problem,
            "L": l,
            "mu": mu_det,
            "kappa": kappa,
            "momentum": beta_det,
            "iterations": det_iterations,
            "methods": det_spec.methods,
        },
        "precision": "f64",
    });
    Ok(Output {
        checks,
        settings,
        notes,
        measured,
        images,
        files,
    })
}
